/*
 * bench_trap.c: instructions a hypervisor may intercept (kvm-unit-tests
 * x86/vmexit.c) and the two ways user space takes an exception: a signal
 * sent to itself, and a real #UD fault delivered as SIGILL.
 */
#define _GNU_SOURCE
#include "benches.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <ucontext.h>
#endif

struct trap_state {
    int sig;                    /* the signal whose action we replaced, or 0 */
    struct sigaction old;
};

static volatile uint64_t trap_count;

int trap_rdtscp_supported(struct ctx *c, char *reason, size_t len)
{
#if defined(__x86_64__)
    unsigned a, b, cx, d;

    (void)c;
    if (!__get_cpuid(0x80000001u, &a, &b, &cx, &d)) {
        snprintf(reason, len, "CPUID leaf 0x80000001 is not available");
        return 0;
    }
    if (!(d & (1u << 27))) {
        snprintf(reason, len, "the CPU does not report RDTSCP (CPUID 0x80000001 EDX bit 27)");
        return 0;
    }
    return 1;
#else
    return rb_need_x86_64(c, reason, len);
#endif
}

void trap_cpuid_run(struct ctx *c, uint64_t n)
{
#if defined(__x86_64__)
    uint32_t acc = 0;

    (void)c;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t a = 0, b, cx = 0, d;

        __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(cx), "=d"(d));
        acc += a ^ b ^ cx ^ d;
    }
    rb_sink = acc;
#else
    (void)c;
    (void)n;
#endif
}

void trap_rdtsc_run(struct ctx *c, uint64_t n)
{
#if defined(__x86_64__)
    uint32_t acc = 0;

    (void)c;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t lo, hi;

        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        acc += lo ^ hi;
    }
    rb_sink = acc;
#else
    (void)c;
    (void)n;
#endif
}

void trap_rdtscp_run(struct ctx *c, uint64_t n)
{
#if defined(__x86_64__)
    uint32_t acc = 0;

    (void)c;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t lo, hi, aux;

        __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
        acc += lo ^ hi ^ aux;
    }
    rb_sink = acc;
#else
    (void)c;
    (void)n;
#endif
}

static void count_signal(int sig)
{
    (void)sig;
    trap_count++;
}

#if defined(__x86_64__)
/* Steps over the ud2 (0f 0b) that raised SIGILL; any other SIGILL is real:
 * restore the default action so that it kills the process. */
static void skip_ud2(int sig, siginfo_t *si, void *uc_)
{
    ucontext_t *uc = uc_;
    const unsigned char *ip = (const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];

    (void)si;
    if (ip[0] == 0x0f && ip[1] == 0x0b) {
        uc->uc_mcontext.gregs[REG_RIP] += 2;
        trap_count++;
        return;
    }
    signal(sig, SIG_DFL);
}
#endif

static int install(struct ctx *c, int sig, struct sigaction *sa)
{
    struct trap_state *s = rb_state(c, sizeof *s);
    sigset_t set;

    if (s == NULL)
        return -1;
    sigemptyset(&sa->sa_mask);
    if (sigaction(sig, sa, &s->old) != 0)
        return rb_fail_errno(c, "sigaction(%s)", strsignal(sig));
    s->sig = sig;
    sigemptyset(&set);
    sigaddset(&set, sig);
    if (sigprocmask(SIG_UNBLOCK, &set, NULL) != 0)
        return rb_fail_errno(c, "sigprocmask");
    return 0;
}

int trap_signal_setup(struct ctx *c)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_signal;
    return install(c, SIGUSR1, &sa);
}

int trap_ud2_setup(struct ctx *c)
{
#if defined(__x86_64__)
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = skip_ud2;
    sa.sa_flags = SA_SIGINFO;
    return install(c, SIGILL, &sa);
#else
    return rb_fail(c, "needs x86-64");
#endif
}

void trap_teardown(struct ctx *c)
{
    struct trap_state *s = c->priv;

    if (s == NULL)
        return;
    if (s->sig != 0)
        sigaction(s->sig, &s->old, NULL);
    rb_state_free(c);
}

static void check_count(struct ctx *c, uint64_t before, uint64_t n, const char *what)
{
    uint64_t got = trap_count - before;

    if (got != n)
        rb_fail(c, "the %s handler ran %llu times for %llu operations", what,
                (unsigned long long)got, (unsigned long long)n);
}

void trap_signal_run(struct ctx *c, uint64_t n)
{
    uint64_t before = trap_count;

    for (uint64_t i = 0; i < n; i++) {
        if (raise(SIGUSR1) != 0) {
            rb_fail_errno(c, "raise(SIGUSR1)");
            return;
        }
    }
    check_count(c, before, n, "SIGUSR1");
}

void trap_ud2_run(struct ctx *c, uint64_t n)
{
#if defined(__x86_64__)
    uint64_t before = trap_count;

    for (uint64_t i = 0; i < n; i++)
        __asm__ volatile("ud2" ::: "memory");
    check_count(c, before, n, "SIGILL");
#else
    (void)c;
    (void)n;
#endif
}
