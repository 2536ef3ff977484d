/*
 * bench_cpu.c: user code alone, the speed a workload's own instructions run
 * at.  No system call, no fault, a working set of 4 KiB (L1): what moves
 * this figure is how the instructions execute (natively, or translated by
 * an emulator such as QEMU TCG), not the kernel or the MMU.
 */
#define _GNU_SOURCE
#include "benches.h"

#include <stdint.h>

#define CPU_BUF 4096u
#define CPU_BLOCK 64u
#define FNV_PRIME 0x100000001b3ull
#define FNV_BASIS 0xcbf29ce484222325ull

struct cpu_state {
    unsigned char buf[CPU_BUF];
    uint64_t h;
    unsigned off;
};

int cpu_int_setup(struct ctx *c)
{
    struct cpu_state *s = rb_state(c, sizeof *s);
    uint64_t x = FNV_BASIS;

    if (s == NULL)
        return -1;
    for (unsigned i = 0; i < CPU_BUF; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s->buf[i] = (unsigned char)x;
    }
    s->h = FNV_BASIS;
    return 0;
}

/* One operation: FNV-1a over 64 bytes (a chain of dependent multiplies), a
 * data-dependent branch per byte, the next block of the buffer. */
void cpu_int_run(struct ctx *c, uint64_t n)
{
    struct cpu_state *s = c->priv;
    uint64_t h = s->h;
    unsigned off = s->off;

    for (uint64_t i = 0; i < n; i++) {
        const unsigned char *p = s->buf + off;

        for (unsigned k = 0; k < CPU_BLOCK; k++) {
            h = (h ^ p[k]) * FNV_PRIME;
            if (h & 0x100)
                h ^= h >> 29;
        }
        off = (off + CPU_BLOCK) & (CPU_BUF - 1);
        RB_BARRIER();
    }
    s->h = h;
    s->off = off;
}

void cpu_teardown(struct ctx *c)
{
    rb_state_free(c);
}
