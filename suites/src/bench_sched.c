/*
 * bench_sched.c: context switches (lmbench lat_ctx, perf bench sched pipe).
 *
 * Pipe ping-pong between two processes on one CPU or two, a futex
 * ping-pong between two threads, and sched_yield() against a second
 * process that yields on the same CPU.
 */
#define _GNU_SOURCE
#include "benches.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FUTEX_TIMEOUT_S 10

struct sched_state {
    pid_t child;
    int to_child, from_child;   /* pipes, parent's ends */
    /* futex ping-pong */
    pthread_t thread;
    int thread_started;
    int ping, pong, stop;
    int thread_err;
};

/* What a helper process needs: its CPU (-1: keep) and its pipe ends. */
struct helper {
    int cpu;
    int in, out;                /* the child's ends */
    int parent_in, parent_out;  /* the parent's ends, closed in the child */
};

static struct sched_state *sched_new(struct ctx *c)
{
    struct sched_state *s = rb_state(c, sizeof *s);

    if (s != NULL)
        s->to_child = s->from_child = -1;
    return s;
}

void sched_teardown(struct ctx *c)
{
    struct sched_state *s = c->priv;

    if (s == NULL)
        return;
    if (s->to_child >= 0)
        close(s->to_child);
    if (s->from_child >= 0)
        close(s->from_child);
    rb_reap(&s->child);
    if (s->thread_started) {
        __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
        __atomic_store_n(&s->ping, 1, __ATOMIC_RELEASE);
        syscall(SYS_futex, &s->ping, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        pthread_join(s->thread, NULL);
    }
    rb_state_free(c);
}

static int helper_start(struct helper *h)
{
    close(h->parent_in);
    close(h->parent_out);
    if (h->cpu >= 0 && rb_pin_quiet(h->cpu) != 0) {
        rb_send_ready(h->out, 'E');
        return -1;
    }
    rb_send_ready(h->out, 'R');
    return 0;
}

/* Echoes bytes until the parent closes its end. */
static int pipe_echo(void *arg)
{
    struct helper *h = arg;
    char b;

    if (helper_start(h) != 0)
        return -1;
    for (;;) {
        ssize_t r = read(h->in, &b, 1);

        if (r == 0)
            return 0;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (write(h->out, &b, 1) != 1)
            return -1;
    }
}

static int yield_forever(void *arg)
{
    if (helper_start(arg) != 0)
        return -1;
    for (;;)
        sched_yield();
    return 0;
}

/* Forks the helper on child_cpu with two pipes and waits until it runs. */
static int start_helper(struct ctx *c, int child_cpu, int (*fn)(void *))
{
    struct sched_state *s = sched_new(c);
    int down[2], up[2];
    struct helper h;

    if (s == NULL)
        return -1;
    if (pipe2(down, O_CLOEXEC) != 0)
        return rb_fail_errno(c, "pipe");
    if (pipe2(up, O_CLOEXEC) != 0) {
        close(down[0]);
        close(down[1]);
        return rb_fail_errno(c, "pipe");
    }
    s->to_child = down[1];
    s->from_child = up[0];
    h = (struct helper){ child_cpu, down[0], up[1], up[0], down[1] };
    s->child = rb_spawn(c, fn, &h);
    close(down[0]);
    close(up[1]);
    if (s->child <= 0)
        return -1;
    return rb_await_ready(c, s->from_child, "the helper process");
}

int sched_pipe_1cpu_setup(struct ctx *c)
{
    int cpu = rb_home_cpu(c);

    if (rb_pin(c, cpu) != 0)
        return -1;
    return start_helper(c, cpu, pipe_echo);
}

int sched_pipe_2cpu_supported(struct ctx *c, char *reason, size_t len)
{
    if (rb_other_cpu(c, rb_home_cpu(c)) < 0) {
        snprintf(reason, len, "needs 2 allowed CPUs, this process has %d",
                 CPU_COUNT(&c->allowed));
        return 0;
    }
    return 1;
}

int sched_pipe_2cpu_setup(struct ctx *c)
{
    int a = rb_home_cpu(c), b = rb_other_cpu(c, a);

    if (b < 0)
        return rb_fail(c, "needs 2 allowed CPUs");
    if (rb_pin(c, a) != 0)
        return -1;
    return start_helper(c, b, pipe_echo);
}

void sched_pipe_run(struct ctx *c, uint64_t n)
{
    struct sched_state *s = c->priv;
    char b = 'x';

    for (uint64_t i = 0; i < n; i++) {
        ssize_t r;

        if (write(s->to_child, &b, 1) != 1) {
            rb_fail_errno(c, "write to the echo process");
            return;
        }
        do
            r = read(s->from_child, &b, 1);
        while (r < 0 && errno == EINTR);
        if (r != 1) {
            if (r == 0)
                rb_fail(c, "the echo process exited");
            else
                rb_fail_errno(c, "read from the echo process");
            return;
        }
    }
}

int sched_yield_setup(struct ctx *c)
{
    int cpu = rb_home_cpu(c);

    if (rb_pin(c, cpu) != 0)
        return -1;
    return start_helper(c, cpu, yield_forever);
}

void sched_yield_run(struct ctx *c, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        if (sched_yield() != 0) {
            rb_fail_errno(c, "sched_yield");
            return;
        }
    }
}

/* --- futex ping-pong ----------------------------------------------------- */

static long futex(int *word, int op, int val, const struct timespec *timeout)
{
    return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

/* Waits until *word is non-zero, then clears it. */
static int futex_take(int *word, const struct timespec *timeout)
{
    while (__atomic_load_n(word, __ATOMIC_ACQUIRE) == 0) {
        if (futex(word, FUTEX_WAIT_PRIVATE, 0, timeout) != 0 && errno != EAGAIN &&
            errno != EINTR)
            return -1;
    }
    __atomic_store_n(word, 0, __ATOMIC_RELAXED);
    return 0;
}

static void futex_give(int *word)
{
    __atomic_store_n(word, 1, __ATOMIC_RELEASE);
    futex(word, FUTEX_WAKE_PRIVATE, 1, NULL);
}

static void *futex_partner(void *arg)
{
    struct sched_state *s = arg;

    for (;;) {
        if (futex_take(&s->ping, NULL) != 0) {
            s->thread_err = errno;
            return NULL;
        }
        if (__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE))
            return NULL;
        futex_give(&s->pong);
    }
}

int sched_futex_setup(struct ctx *c)
{
    struct sched_state *s = sched_new(c);
    int rc;

    if (s == NULL)
        return -1;
    rc = pthread_create(&s->thread, NULL, futex_partner, s);
    if (rc != 0)
        return rb_fail_code(c, rc, "pthread_create");
    s->thread_started = 1;
    return 0;
}

void sched_futex_run(struct ctx *c, uint64_t n)
{
    static const struct timespec timeout = { FUTEX_TIMEOUT_S, 0 };
    struct sched_state *s = c->priv;

    for (uint64_t i = 0; i < n; i++) {
        futex_give(&s->ping);
        if (futex_take(&s->pong, &timeout) != 0) {
            if (errno == ETIMEDOUT)
                rb_fail(c, "the futex partner thread did not answer within %d s%s",
                        FUTEX_TIMEOUT_S, s->thread_err ? " (it failed)" : "");
            else
                rb_fail_errno(c, "futex wait");
            return;
        }
    }
}
