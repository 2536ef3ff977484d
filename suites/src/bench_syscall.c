/*
 * bench_syscall.c: the cost of entering the kernel (lmbench lat_syscall).
 */
#define _GNU_SOURCE
#include "benches.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct sys_state {
    int fd;                     /* /dev/zero */
    char path[PATH_MAX];        /* the small file of open-close and stat */
};

static struct sys_state *sys_new(struct ctx *c)
{
    struct sys_state *s = rb_state(c, sizeof *s);

    if (s != NULL)
        s->fd = -1;
    return s;
}

int sys_setup_devzero(struct ctx *c)
{
    struct sys_state *s = sys_new(c);

    if (s == NULL)
        return -1;
    s->fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return rb_fail_errno(c, "open /dev/zero");
    return 0;
}

int sys_setup_file(struct ctx *c)
{
    static const char text[] = "ringbench: a small file for open and stat\n";
    struct sys_state *s = sys_new(c);
    int fd;

    if (s == NULL)
        return -1;
    fd = rb_tmpfile(c, s->path, sizeof s->path);
    if (fd < 0)
        return -1;
    if (write(fd, text, sizeof text - 1) != (ssize_t)(sizeof text - 1)) {
        rb_fail_errno(c, "cannot write a file in %s", c->dir);
        close(fd);
        return -1;
    }
    if (close(fd) != 0)
        return rb_fail_errno(c, "cannot write a file in %s", c->dir);
    return 0;
}

void sys_teardown(struct ctx *c)
{
    struct sys_state *s = c->priv;

    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    rb_remove_file(s->path);
    rb_state_free(c);
}

void sys_null_run(struct ctx *c, uint64_t n)
{
    (void)c;
    for (uint64_t i = 0; i < n; i++)
        syscall(SYS_getppid);
}

void sys_read_run(struct ctx *c, uint64_t n)
{
    struct sys_state *s = c->priv;
    char b;

    for (uint64_t i = 0; i < n; i++) {
        if (read(s->fd, &b, 1) != 1) {
            rb_fail_errno(c, "read /dev/zero");
            return;
        }
    }
}

void sys_clock_vdso_run(struct ctx *c, uint64_t n)
{
    struct timespec ts;

    for (uint64_t i = 0; i < n; i++) {
        if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
            rb_fail_errno(c, "clock_gettime");
            return;
        }
    }
    rb_sink = (uint64_t)ts.tv_nsec;
}

void sys_clock_kernel_run(struct ctx *c, uint64_t n)
{
    struct timespec ts;

    for (uint64_t i = 0; i < n; i++) {
        if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0) {
            rb_fail_errno(c, "clock_gettime system call");
            return;
        }
    }
    rb_sink = (uint64_t)ts.tv_nsec;
}

void sys_open_close_run(struct ctx *c, uint64_t n)
{
    struct sys_state *s = c->priv;

    for (uint64_t i = 0; i < n; i++) {
        int fd = open(s->path, O_RDONLY);

        if (fd < 0) {
            rb_fail_errno(c, "open %s", s->path);
            return;
        }
        if (close(fd) != 0) {
            rb_fail_errno(c, "close %s", s->path);
            return;
        }
    }
}

void sys_stat_run(struct ctx *c, uint64_t n)
{
    struct sys_state *s = c->priv;
    struct stat st;

    for (uint64_t i = 0; i < n; i++) {
        if (stat(s->path, &st) != 0) {
            rb_fail_errno(c, "stat %s", s->path);
            return;
        }
    }
}
