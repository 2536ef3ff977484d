/*
 * harness.c: what every benchmark uses: error reporting into the context,
 * parameter lookup, the clocks, a fixed-seed PRNG, private state, and anonymous
 * mappings.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>

volatile uint64_t rb_sink;
void *volatile rb_sink_ptr;

static int vfail(struct ctx *c, int err, const char *fmt, va_list ap)
{
    size_t n;

    if (c->failed)      /* keep the first message: it names the cause */
        return -1;
    c->failed = 1;
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    if (err != 0) {
        n = strlen(c->err);
        snprintf(c->err + n, sizeof c->err - n, ": %s", strerror(err));
    }
    return -1;
}

int rb_fail(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vfail(c, 0, fmt, ap);
    va_end(ap);
    return rc;
}

int rb_fail_errno(struct ctx *c, const char *fmt, ...)
{
    int err = errno;
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vfail(c, err ? err : EIO, fmt, ap);
    va_end(ap);
    return rc;
}

/* For APIs that return the error number (pthread_*). */
int rb_fail_code(struct ctx *c, int err, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vfail(c, err, fmt, ap);
    va_end(ap);
    return rc;
}

int64_t rb_param(const struct ctx *c, const char *name)
{
    const struct param *p = c->bench->params;

    for (size_t i = 0; p != NULL && p[i].name != NULL; i++)
        if (strcmp(p[i].name, name) == 0)
            return c->param[i];
    /* A benchmark asking for a parameter it does not declare is a bug in
     * the table, not a run-time condition. */
    fprintf(stderr, RB_PROG ": internal error: %s has no parameter %s\n",
            c->bench->name, name);
    abort();
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t rb_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t rb_realtime_ns(void) { return clock_ns(CLOCK_REALTIME); }

uint64_t rb_xorshift64(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* splitmix64's finalizer: a fixed hash of an index. */
uint64_t rb_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

const char *rb_arch(void)
{
#if defined(__x86_64__)
    return "x86_64";
#elif defined(__aarch64__)
    return "aarch64";
#else
    static struct utsname u;

    if (u.machine[0] == '\0' && uname(&u) != 0)
        return "unknown";
    return u.machine;
#endif
}

int rb_supported_always(struct ctx *c, char *reason, size_t len)
{
    (void)c;
    (void)reason;
    (void)len;
    return 1;
}

int rb_need_x86_64(struct ctx *c, char *reason, size_t len)
{
    (void)c;
#if defined(__x86_64__)
    (void)reason;
    (void)len;
    return 1;
#else
    snprintf(reason, len, "needs x86-64");
    return 0;
#endif
}

int rb_setup_none(struct ctx *c)
{
    (void)c;
    return 0;
}

void rb_teardown_none(struct ctx *c)
{
    (void)c;
}

void *rb_state(struct ctx *c, size_t size)
{
    c->priv = calloc(1, size);
    if (c->priv == NULL)
        rb_fail_errno(c, "cannot allocate %zu bytes", size);
    return c->priv;
}

void rb_state_free(struct ctx *c)
{
    free(c->priv);
    c->priv = NULL;
}

/* A private anonymous mapping; with no_huge, 4 KiB pages only. */
void *rb_map_anon(struct ctx *c, size_t len, int no_huge)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        rb_fail_errno(c, "mmap of %zu bytes", len);
        return NULL;
    }
    /* EINVAL: a kernel without transparent huge pages, 4 KiB anyway. */
    if (no_huge && madvise(p, len, MADV_NOHUGEPAGE) != 0 && errno != EINVAL) {
        rb_fail_errno(c, "madvise(MADV_NOHUGEPAGE)");
        munmap(p, len);
        return NULL;
    }
    return p;
}
