/*
 * bench_memory.c: memory access that stresses address translation (a
 * dependent pointer chase, one hop per page, on 4 KiB and on 2 MiB pages)
 * and plain memory bandwidth (memcpy).
 */
#define _GNU_SOURCE
#include "benches.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE (2u << 20)
#define LINE 64u
#define CHASE_SEED 0x9e3779b97f4a7c15ull
#define HUGE_ENOUGH 0.9
#define COPY_BLOCK (1u << 20)
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

struct mem_state {
    char *map;                  /* what to munmap */
    size_t map_len;
    char *buf;                  /* chase: the 2 MiB aligned buffer */
    size_t size;
    void **pos;                 /* chase: where the chain continues */
    char *src, *dst;            /* copy */
    size_t off;
};

void mem_teardown(struct ctx *c)
{
    struct mem_state *s = c->priv;

    if (s == NULL)
        return;
    if (s->map != NULL)
        munmap(s->map, s->map_len);
    if (s->src != NULL)
        munmap(s->src, s->size);
    if (s->dst != NULL)
        munmap(s->dst, s->size);
    rb_state_free(c);
}

/* A cyclic permutation of the pages (Sattolo's algorithm, fixed seed); in
 * each page one 64-byte line, picked by a hash of the page number, holds
 * the address of the next page's line.  Writing it populates every page. */
static int chase_build(struct ctx *c, struct mem_state *s)
{
    size_t pages = s->size / RB_PAGE;
    uint32_t *next = malloc(pages * sizeof *next);
    uint64_t rng = CHASE_SEED;

    if (next == NULL)
        return rb_fail_errno(c, "cannot allocate the permutation");
    for (size_t i = 0; i < pages; i++)
        next[i] = (uint32_t)i;
    for (size_t i = pages - 1; i > 0; i--) {
        size_t j = (size_t)(rb_xorshift64(&rng) % i);
        uint32_t t = next[i];

        next[i] = next[j];
        next[j] = t;
    }
#define SLOT(p) ((void **)(s->buf + (size_t)(p) * RB_PAGE + (rb_mix64(p) % (RB_PAGE / LINE)) * LINE))
    for (size_t p = 0; p < pages; p++)
        *SLOT(p) = SLOT(next[p]);
    s->pos = SLOT(0);
#undef SLOT
    free(next);
    return 0;
}

int mem_chase_4k_setup(struct ctx *c)
{
    struct mem_state *s = rb_state(c, sizeof *s);

    if (s == NULL)
        return -1;
    s->size = (size_t)rb_param(c, "size_bytes");
    s->map_len = s->size;
    s->map = rb_map_anon(c, s->size, 1);
    if (s->map == NULL)
        return -1;
    s->buf = s->map;
    return chase_build(c, s);
}

void mem_chase_run(struct ctx *c, uint64_t n)
{
    struct mem_state *s = c->priv;
    void **p = s->pos;

    for (uint64_t i = 0; i < n; i++)
        p = (void **)*p;
    s->pos = p;
    rb_sink_ptr = p;
}

/* --- huge pages ---------------------------------------------------------- */

static long read_long(const char *path)
{
    FILE *f = fopen(path, "re");
    long v = -1;

    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

static int hugetlb_can_hold(size_t size)
{
    long free_pages = read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");

    return free_pages > 0 && (size_t)free_pages >= size / HUGE_PAGE;
}

/* The bracketed mode of transparent_hugepage/enabled, or "" if unknown. */
static void thp_mode(char *mode, size_t len)
{
    char line[128], *a, *b;
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");

    mode[0] = '\0';
    if (f == NULL)
        return;
    if (fgets(line, sizeof line, f) != NULL && (a = strchr(line, '[')) != NULL &&
        (b = strchr(a, ']')) != NULL)
        snprintf(mode, len, "%.*s", (int)(b - a - 1), a + 1);
    fclose(f);
}

int mem_chase_huge_supported(struct ctx *c, char *reason, size_t len)
{
    size_t size = (size_t)rb_param(c, "size_bytes");
    char mode[32];

    if (hugetlb_can_hold(size))
        return 1;
    thp_mode(mode, sizeof mode);
    if (strcmp(mode, "always") == 0 || strcmp(mode, "madvise") == 0)
        return 1;
    if (mode[0] == '\0')
        snprintf(reason, len, "no transparent huge pages in this kernel and fewer than "
                 "%zu free 2 MiB hugetlb pages", size / HUGE_PAGE);
    else
        snprintf(reason, len, "transparent huge pages are '%s' and fewer than %zu free "
                 "2 MiB hugetlb pages are reserved", mode, size / HUGE_PAGE);
    return 0;
}

/* AnonHugePages of /proc/self/smaps_rollup, in bytes, or -1. */
static long long anon_huge_bytes(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "re");
    char line[256];
    long long kb = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "AnonHugePages: %lld kB", &kb) == 1)
            break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* Transparent huge pages: a 2 MiB aligned region, MADV_HUGEPAGE, touched,
 * then checked; MADV_COLLAPSE is the second chance. */
static int map_thp(struct ctx *c, struct mem_state *s)
{
    long long before = anon_huge_bytes(), got;
    uintptr_t start;

    s->map_len = s->size + HUGE_PAGE;
    s->map = rb_map_anon(c, s->map_len, 0);
    if (s->map == NULL)
        return -1;
    start = ((uintptr_t)s->map + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    s->buf = (char *)start;
    if (madvise(s->buf, s->size, MADV_HUGEPAGE) != 0)
        return rb_fail_errno(c, "madvise(MADV_HUGEPAGE)");
    for (size_t off = 0; off < s->size; off += RB_PAGE)
        s->buf[off] = 1;
    got = anon_huge_bytes() - before;
    if (before >= 0 && got < (long long)(HUGE_ENOUGH * (double)s->size)) {
        madvise(s->buf, s->size, MADV_COLLAPSE);    /* Linux 6.1+, best effort */
        got = anon_huge_bytes() - before;
    }
    if (before < 0)
        return rb_fail(c, "cannot read AnonHugePages from /proc/self/smaps_rollup");
    if (got < (long long)(HUGE_ENOUGH * (double)s->size))
        return rb_fail(c, "only %lld of %zu MiB are backed by transparent huge pages "
                       "(AnonHugePages in /proc/self/smaps_rollup)",
                       got / (long long)RB_MIB, s->size / (size_t)RB_MIB);
    return 0;
}

int mem_chase_huge_setup(struct ctx *c)
{
    struct mem_state *s = rb_state(c, sizeof *s);

    if (s == NULL)
        return -1;
    s->size = (size_t)rb_param(c, "size_bytes");
    if (hugetlb_can_hold(s->size)) {
        void *p = mmap(NULL, s->size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);

        if (p != MAP_FAILED) {
            s->map = s->buf = p;
            s->map_len = s->size;
            return chase_build(c, s);
        }
    }
    if (map_thp(c, s) != 0)
        return -1;
    return chase_build(c, s);
}

/* --- memcpy -------------------------------------------------------------- */

int mem_copy_setup(struct ctx *c)
{
    struct mem_state *s = rb_state(c, sizeof *s);

    if (s == NULL)
        return -1;
    s->size = (size_t)rb_param(c, "size_bytes");
    s->src = rb_map_anon(c, s->size, 0);
    if (s->src == NULL)
        return -1;
    s->dst = rb_map_anon(c, s->size, 0);
    if (s->dst == NULL)
        return -1;
    memset(s->src, 0x5a, s->size);
    memset(s->dst, 0, s->size);
    return 0;
}

void mem_copy_run(struct ctx *c, uint64_t n)
{
    struct mem_state *s = c->priv;

    for (uint64_t i = 0; i < n; i++) {
        memcpy(s->dst + s->off, s->src + s->off, COPY_BLOCK);
        RB_BARRIER();
        s->off += COPY_BLOCK;
        if (s->off >= s->size)
            s->off = 0;
    }
}
