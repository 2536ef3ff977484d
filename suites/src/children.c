/*
 * children.c: helper processes (echo servers, blockers) and CPU placement.
 *
 * A helper is forked by rb_spawn(): it asks the kernel to SIGKILL it when
 * the parent dies (PR_SET_PDEATHSIG) and checks that the parent did not die
 * before that, so no helper outlives a killed run.  teardown ends it with
 * rb_reap().  A helper that has to prepare itself (pin to a CPU, accept a
 * connection) reports with one byte, 'R' when ready, which the parent reads
 * with rb_await_ready(), waiting at most 10 s.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 10000

pid_t rb_spawn(struct ctx *c, int (*fn)(void *), void *arg)
{
    pid_t parent = getpid();
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        rb_fail_errno(c, "fork");
        return -1;
    }
    if (pid == 0) {
        rb_forget_files();
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(126);
        _exit(fn(arg) == 0 ? 0 : 1);
    }
    return pid;
}

/* Kills and waits for a helper; *pid <= 0 means there is none. */
void rb_reap(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGKILL);
    while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
        ;
    *pid = 0;
}

int rb_pin_quiet(int cpu)
{
    cpu_set_t set;

    if (cpu < 0 || cpu >= CPU_SETSIZE) {
        errno = EINVAL;
        return -1;
    }
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

int rb_pin(struct ctx *c, int cpu)
{
    if (rb_pin_quiet(cpu) != 0)
        return rb_fail_errno(c, "cannot pin to CPU %d", cpu);
    return 0;
}

/* The CPU of single-CPU benchmarks: --cpu, or the first allowed one. */
int rb_home_cpu(const struct ctx *c)
{
    if (c->cpu >= 0)
        return c->cpu;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &c->allowed))
            return i;
    return 0;
}

/* The first allowed CPU other than not_this, or -1. */
int rb_other_cpu(const struct ctx *c, int not_this)
{
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (i != not_this && CPU_ISSET(i, &c->allowed))
            return i;
    return -1;
}

void rb_send_ready(int fd, char status)
{
    while (write(fd, &status, 1) < 0 && errno == EINTR)
        ;
}

/* Reads the helper's ready byte from fd, waiting at most 10 s. */
int rb_await_ready(struct ctx *c, int fd, const char *what)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char b = 0;
    ssize_t r;
    int n;

    do
        n = poll(&p, 1, READY_TIMEOUT_MS);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return rb_fail_errno(c, "waiting for %s", what);
    if (n == 0)
        return rb_fail(c, "%s did not start within %d s", what, READY_TIMEOUT_MS / 1000);
    do
        r = read(fd, &b, 1);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return rb_fail_errno(c, "waiting for %s", what);
    if (r == 0 || b != 'R')
        return rb_fail(c, "%s failed to start", what);
    return 0;
}
