/*
 * bench_cpu.c: user code alone, the speed a workload's own instructions run
 * at.  No system call, no fault, a working set of 16 KiB (L1) by default:
 * what moves this figure is how the instructions execute (natively, or
 * translated by an emulator such as QEMU TCG), not the kernel or the MMU.
 *
 * The code has the shape of the user code real programs spend their time in
 * (an interpreter's dispatch loop, a compiler's walk over its tables): loads
 * and stores, integer and floating-point arithmetic and conversions,
 * data-dependent branches, an indirect jump per instruction (the switch's
 * table) and calls through function pointers.  Measured under this
 * project's QEMU TCG against natively (2026-12-02): a loop of integer
 * arithmetic alone ran x2.4 slower, this interpreter without its
 * floating-point instructions x6.5, with them x9.5; awk, python3 and gcc
 * themselves ran x12 to x16.  A bigger table (table_bytes) lowers the
 * emulator's ratio: natively the cache misses dominate.
 */
#define _GNU_SOURCE
#include "benches.h"

#include <stdint.h>
#include <sys/mman.h>

#define CPU_PROGRAM 64u         /* bytecode instructions per operation */
#define CPU_SEED 0x9e3779b97f4a7c15ull

enum { OP_LOAD, OP_ADD, OP_MUL, OP_XOR, OP_ROT, OP_BRANCH, OP_CALL, OP_FMUL, OP_FADD, OP_CONV, OP_STORE, OP_COUNT };

struct cpu_state {
    uint32_t *table;            /* table_bytes of it: a power of two */
    uint64_t mask;              /* its words less one */
    uint8_t program[CPU_PROGRAM];
    uint64_t acc;
    double real;
};

static __attribute__((noinline)) uint64_t f_mix(uint64_t x) { return x * 0x9e37u + 1; }
static __attribute__((noinline)) uint64_t f_fold(uint64_t x) { return x ^ (x >> 17); }
static __attribute__((noinline)) uint64_t f_step(uint64_t x) { return x + (x << 3) + 7; }
static __attribute__((noinline)) uint64_t f_swap(uint64_t x) { return (x >> 32) | (x << 32); }

static uint64_t (*const functions[4])(uint64_t) = { f_mix, f_fold, f_step, f_swap };

int cpu_user_setup(struct ctx *c)
{
    struct cpu_state *s = rb_state(c, sizeof *s);
    uint64_t x = CPU_SEED, words;

    if (s == NULL)
        return -1;
    words = (uint64_t)rb_param(c, "table_bytes") / sizeof *s->table;
    while (words & (words - 1))     /* down to a power of two */
        words &= words - 1;
    s->table = rb_map_anon(c, words * sizeof *s->table, 0);
    if (s->table == NULL)
        return -1;
    s->mask = words - 1;
    for (uint64_t i = 0; i < words; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s->table[i] = (uint32_t)x;
    }
    for (unsigned i = 0; i < CPU_PROGRAM; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s->program[i] = (uint8_t)(x % OP_COUNT);
    }
    s->acc = CPU_SEED;
    s->real = 1.0;
    return 0;
}

/* One operation: one pass of the 64-instruction program through the interpreter. */
void cpu_user_run(struct ctx *c, uint64_t n)
{
    struct cpu_state *s = c->priv;
    uint64_t a = s->acc;
    double d = s->real;

    for (uint64_t i = 0; i < n; i++) {
        uint64_t b = i;

        for (unsigned pc = 0; pc < CPU_PROGRAM; pc++) {
            switch (s->program[pc]) {
            case OP_LOAD:
                b = s->table[(a ^ b) & s->mask];
                break;
            case OP_ADD:
                a += b;
                break;
            case OP_MUL:
                a *= b | 1;
                break;
            case OP_XOR:
                a ^= b >> 3;
                break;
            case OP_ROT:
                a = (a >> 7) | (a << 57);
                break;
            case OP_BRANCH:
                if (a & 1)
                    pc++;
                break;
            case OP_CALL:
                a = functions[a & 3](a);
                break;
            case OP_FMUL:
                d = d * 0.999 + (double)(b & 0xffff);
                break;
            case OP_FADD:
                d += (double)(int64_t)(a >> 40) * 0.5;
                break;
            case OP_CONV:
                a ^= (uint64_t)(int64_t)d;
                break;
            default:
                s->table[b & s->mask] = (uint32_t)a;
                break;
            }
        }
        RB_BARRIER();
    }
    s->acc = a;
    s->real = d;
}

void cpu_teardown(struct ctx *c)
{
    struct cpu_state *s = c->priv;

    if (s != NULL && s->table != NULL)
        munmap(s->table, (s->mask + 1) * sizeof *s->table);
    rb_state_free(c);
}
