/*
 * bench_fault.c: page faults and protection changes, the MMU work that a
 * guest pays twice for under nested paging.
 *
 * Every fault operation touches one fresh page, so a batch needs fresh
 * memory: prepare() maps it, run() touches it, finish() unmaps it, and
 * max_batch (the batch_pages or batch_faults parameter) bounds the memory.
 * finish() also checks, untimed, that the batch took as many page faults
 * (getrusage minflt) as it made touches: a kernel that maps more than one
 * page per fault would otherwise be measured silently wrong.
 */
#define _GNU_SOURCE
#include "benches.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

struct fault_state {
    char *map;                  /* anon, cow, mprotect: the region */
    size_t map_len;
    pid_t child;                /* cow: holds the other reference */
    int fd;                     /* file: the file (no name), kept open for mmap */
    char **maps;                /* file: mappings of the whole file */
    size_t nmaps, maps_cap;
    uint64_t file_bytes, stride, per_map;
    int writable;               /* mprotect: the current protection */
    long minflt;                /* at the end of prepare() */
};

static struct fault_state *fault_new(struct ctx *c)
{
    struct fault_state *s = rb_state(c, sizeof *s);

    if (s != NULL)
        s->fd = -1;
    return s;
}

static void unmap_region(struct fault_state *s)
{
    if (s->map != NULL)
        munmap(s->map, s->map_len);
    s->map = NULL;
    s->map_len = 0;
}

static void unmap_files(struct fault_state *s)
{
    for (size_t i = 0; i < s->nmaps; i++)
        munmap(s->maps[i], s->file_bytes);
    s->nmaps = 0;
}

static long minflt_now(void)
{
    struct rusage ru;

    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : -1;
}

static int start_counting(struct ctx *c, struct fault_state *s)
{
    s->minflt = minflt_now();
    if (s->minflt < 0)
        return rb_fail_errno(c, "getrusage");
    return 0;
}

/* Whether the kernel counts page faults at all: getrusage's ru_minflt over the first
 * writes to a few fresh anonymous pages. gVisor's Sentry serves its workload's faults
 * without counting them (ru_minflt stays 0), so no touch could be shown to be a fault. */
int fault_counted_supported(struct ctx *c, char *reason, size_t len)
{
    enum { PAGES = 8 };
    long page = sysconf(_SC_PAGESIZE), before, after;
    char *p;

    (void)c;
    if (page <= 0)
        page = 4096;
    p = mmap(NULL, (size_t)page * PAGES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED)
        return 1; /* setup will fail with the reason */
    (void)madvise(p, (size_t)page * PAGES, MADV_NOHUGEPAGE);
    before = minflt_now();
    for (int i = 0; i < PAGES; i++)
        ((volatile char *)p)[(size_t)i * (size_t)page] = 1;
    after = minflt_now();
    munmap(p, (size_t)page * PAGES);
    if (before >= 0 && after == before) {
        snprintf(reason, len, "this kernel counts no page faults (getrusage's ru_minflt "
                 "stayed %ld over %d fresh pages, as gVisor's does): the touches cannot be "
                 "shown to be faults", after, PAGES);
        return 0;
    }
    return 1;
}

/* Each touch of the batch must have been a fault of its own (10% slack). */
static void check_faults(struct ctx *c, struct fault_state *s, uint64_t n)
{
    long now = minflt_now();
    uint64_t faults = now >= s->minflt ? (uint64_t)(now - s->minflt) : 0;

    if (faults * 10 < n * 9)
        rb_fail(c, "%llu touches took only %llu page faults: this kernel maps more per "
                "fault than the benchmark assumes%s", (unsigned long long)n,
                (unsigned long long)faults,
                s->fd >= 0 ? " (large page cache folios? raise stride_bytes)" : "");
}

void fault_teardown(struct ctx *c)
{
    struct fault_state *s = c->priv;

    if (s == NULL)
        return;
    rb_reap(&s->child);
    unmap_region(s);
    unmap_files(s);
    free(s->maps);
    if (s->fd >= 0)
        close(s->fd);
    rb_state_free(c);
}

/* --- fault-anon, fault-cow ----------------------------------------------- */

int fault_pages_setup(struct ctx *c)
{
    if (fault_new(c) == NULL)
        return -1;
    c->max_batch = (uint64_t)rb_param(c, "batch_pages");
    return 0;
}

static int map_pages(struct ctx *c, struct fault_state *s, uint64_t n)
{
    s->map_len = (size_t)n * RB_PAGE;
    s->map = rb_map_anon(c, s->map_len, 1);
    return s->map != NULL ? 0 : -1;
}

int fault_anon_prepare(struct ctx *c, uint64_t n)
{
    struct fault_state *s = c->priv;

    if (map_pages(c, s, n) != 0)
        return -1;
    return start_counting(c, s);
}

void fault_touch_run(struct ctx *c, uint64_t n)
{
    struct fault_state *s = c->priv;
    volatile char *p = s->map;

    for (uint64_t i = 0; i < n; i++)
        p[i * RB_PAGE] = 1;
}

void fault_unmap_finish(struct ctx *c, uint64_t n)
{
    struct fault_state *s = c->priv;

    check_faults(c, s, n);
    rb_reap(&s->child);
    unmap_region(s);
}

static int block_forever(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return 0;
}

/* Populated pages, then a child that shares them: each write is a COW. */
int fault_cow_prepare(struct ctx *c, uint64_t n)
{
    struct fault_state *s = c->priv;

    if (map_pages(c, s, n) != 0)
        return -1;
    for (uint64_t i = 0; i < n; i++)
        s->map[i * RB_PAGE] = 1;
    s->child = rb_spawn(c, block_forever, NULL);
    if (s->child <= 0)
        return -1;
    return start_counting(c, s);
}

/* --- fault-file ---------------------------------------------------------- */

int fault_file_setup(struct ctx *c)
{
    struct fault_state *s = fault_new(c);

    if (s == NULL)
        return -1;
    s->file_bytes = (uint64_t)rb_param(c, "file_bytes");
    s->stride = (uint64_t)rb_param(c, "stride_bytes");
    if (s->file_bytes < s->stride)
        return rb_fail(c, "file_bytes (%llu) is smaller than stride_bytes (%llu)",
                       (unsigned long long)s->file_bytes, (unsigned long long)s->stride);
    s->per_map = s->file_bytes / s->stride;
    c->max_batch = (uint64_t)rb_param(c, "batch_faults");
    s->fd = rb_anon_file(c);
    if (s->fd < 0)
        return -1;
    /* 4 KiB writes: 4 KiB page cache folios, so a read fault maps the
     * 64 KiB of fault-around, not a whole large folio. */
    if (rb_fill_file(c, s->fd, s->file_bytes, RB_PAGE) != 0)
        return -1;
    return rb_read_file(c, s->fd, s->file_bytes);
}

/* As many read-only private mappings of the whole file as n faults need. */
int fault_file_prepare(struct ctx *c, uint64_t n)
{
    struct fault_state *s = c->priv;
    size_t need = (size_t)((n + s->per_map - 1) / s->per_map);

    if (need > s->maps_cap) {
        char **m = realloc(s->maps, need * sizeof *m);

        if (m == NULL)
            return rb_fail_errno(c, "cannot allocate %zu mapping pointers", need);
        s->maps = m;
        s->maps_cap = need;
    }
    while (s->nmaps < need) {
        void *p = mmap(NULL, s->file_bytes, PROT_READ, MAP_PRIVATE, s->fd, 0);

        if (p == MAP_FAILED)
            return rb_fail_errno(c, "mmap of a %llu-byte file",
                                 (unsigned long long)s->file_bytes);
        s->maps[s->nmaps++] = p;
    }
    return start_counting(c, s);
}

void fault_file_run(struct ctx *c, uint64_t n)
{
    struct fault_state *s = c->priv;
    uint64_t left = n, sum = 0;

    for (size_t m = 0; left > 0; m++) {
        const volatile char *p = s->maps[m];
        uint64_t k = left < s->per_map ? left : s->per_map;

        for (uint64_t i = 0; i < k; i++)
            sum += (unsigned char)p[i * s->stride];
        left -= k;
    }
    rb_sink = sum;
}

void fault_file_finish(struct ctx *c, uint64_t n)
{
    struct fault_state *s = c->priv;

    check_faults(c, s, n);
    unmap_files(s);
}

/* --- fault-mprotect ------------------------------------------------------ */

int fault_mprotect_setup(struct ctx *c)
{
    struct fault_state *s = fault_new(c);
    uint64_t pages = (uint64_t)rb_param(c, "pages");

    if (s == NULL || map_pages(c, s, pages) != 0)
        return -1;
    for (uint64_t i = 0; i < pages; i++)
        s->map[i * RB_PAGE] = 1;
    s->writable = 1;
    return 0;
}

void fault_mprotect_run(struct ctx *c, uint64_t n)
{
    struct fault_state *s = c->priv;
    const volatile char *p = s->map;
    size_t pages = s->map_len / RB_PAGE;
    uint64_t sum = 0;

    for (uint64_t i = 0; i < n; i++) {
        int prot = s->writable ? PROT_READ : PROT_READ | PROT_WRITE;

        if (mprotect(s->map, s->map_len, prot) != 0) {
            rb_fail_errno(c, "mprotect");
            return;
        }
        s->writable = !s->writable;
        for (size_t k = 0; k < pages; k++)
            sum += (unsigned char)p[k * RB_PAGE];
    }
    rb_sink = sum;
}
