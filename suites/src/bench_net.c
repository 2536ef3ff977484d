/*
 * bench_net.c: request-response over the loopback network stack (lmbench
 * lat_tcp and lat_udp, netperf TCP_RR and UDP_RR).  The echo server is a
 * forked child on 127.0.0.1, on an ephemeral port.
 */
#define _GNU_SOURCE
#include "benches.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define REPLY_TIMEOUT_S 10

struct net_state {
    int fd;                     /* the client socket */
    pid_t child;
};

static struct net_state *net_new(struct ctx *c)
{
    struct net_state *s = rb_state(c, sizeof *s);

    if (s != NULL)
        s->fd = -1;
    return s;
}

void net_teardown(struct ctx *c)
{
    struct net_state *s = c->priv;

    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    rb_reap(&s->child);
    rb_state_free(c);
}

/* A socket bound to 127.0.0.1 on an ephemeral port, its address in *addr. */
static int loopback_socket(struct ctx *c, int type, struct sockaddr_in *addr)
{
    socklen_t len = sizeof *addr;
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return rb_fail_errno(c, "socket");
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr->sin_port = 0;
    if (bind(fd, (struct sockaddr *)addr, sizeof *addr) != 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
        rb_fail_errno(c, "bind to 127.0.0.1");
        close(fd);
        return -1;
    }
    return fd;
}

static int set_int_opt(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value);
}

static int set_timeout(struct ctx *c, int fd)
{
    struct timeval tv = { REPLY_TIMEOUT_S, 0 };

    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        return rb_fail_errno(c, "setsockopt(SO_RCVTIMEO)");
    return 0;
}

static int echo(int fd)
{
    char b;

    for (;;) {
        ssize_t r = recv(fd, &b, 1, 0);

        if (r == 0)
            return 0;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (send(fd, &b, 1, 0) != 1)
            return -1;
    }
}

static int tcp_server(void *arg)
{
    int ls = *(int *)arg;
    int fd = accept(ls, NULL, NULL);

    close(ls);
    if (fd < 0 || set_int_opt(fd, IPPROTO_TCP, TCP_NODELAY, 1) != 0)
        return -1;
    return echo(fd);
}

static int udp_server(void *arg)
{
    return echo(*(int *)arg);
}

/* One exchange, also used by setup to check that the server answers. */
static int round_trip(struct ctx *c, int fd)
{
    char b = 'x';
    ssize_t r;

    if (send(fd, &b, 1, 0) != 1)
        return rb_fail_errno(c, "send to the echo server");
    do
        r = recv(fd, &b, 1, 0);
    while (r < 0 && errno == EINTR);
    if (r == 1)
        return 0;
    if (r == 0)
        return rb_fail(c, "the echo server closed the connection");
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return rb_fail(c, "no reply from the echo server within %d s", REPLY_TIMEOUT_S);
    return rb_fail_errno(c, "recv from the echo server");
}

int net_tcp_setup(struct ctx *c)
{
    struct net_state *s = net_new(c);
    struct sockaddr_in addr;
    int ls;

    if (s == NULL)
        return -1;
    ls = loopback_socket(c, SOCK_STREAM, &addr);
    if (ls < 0)
        return -1;
    if (listen(ls, 1) != 0) {
        close(ls);
        return rb_fail_errno(c, "listen");
    }
    s->child = rb_spawn(c, tcp_server, &ls);
    close(ls);
    if (s->child <= 0)
        return -1;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return rb_fail_errno(c, "socket");
    if (connect(s->fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        return rb_fail_errno(c, "connect to 127.0.0.1:%d", ntohs(addr.sin_port));
    if (set_int_opt(s->fd, IPPROTO_TCP, TCP_NODELAY, 1) != 0)
        return rb_fail_errno(c, "setsockopt(TCP_NODELAY)");
    if (set_timeout(c, s->fd) != 0)
        return -1;
    return round_trip(c, s->fd);
}

int net_udp_setup(struct ctx *c)
{
    struct net_state *s = net_new(c);
    struct sockaddr_in srv_addr, cli_addr;
    int srv;

    if (s == NULL)
        return -1;
    srv = loopback_socket(c, SOCK_DGRAM, &srv_addr);
    if (srv < 0)
        return -1;
    s->fd = loopback_socket(c, SOCK_DGRAM, &cli_addr);
    if (s->fd < 0 ||
        connect(srv, (struct sockaddr *)&cli_addr, sizeof cli_addr) != 0 ||
        connect(s->fd, (struct sockaddr *)&srv_addr, sizeof srv_addr) != 0) {
        if (s->fd >= 0)
            rb_fail_errno(c, "connect on 127.0.0.1");
        close(srv);
        return -1;
    }
    s->child = rb_spawn(c, udp_server, &srv);
    close(srv);
    if (s->child <= 0)
        return -1;
    if (set_timeout(c, s->fd) != 0)
        return -1;
    return round_trip(c, s->fd);
}

void net_rr_run(struct ctx *c, uint64_t n)
{
    struct net_state *s = c->priv;

    for (uint64_t i = 0; i < n; i++)
        if (round_trip(c, s->fd) != 0)
            return;
}
