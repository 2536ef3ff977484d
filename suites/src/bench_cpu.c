/*
 * bench_cpu.c: user code alone, the speed a workload's own instructions run
 * at.  No system call, no fault, a working set of 16 KiB (L1): what moves
 * this figure is how the instructions execute (natively, or translated by
 * an emulator such as QEMU TCG), not the kernel or the MMU.
 *
 * The code has the shape of the user code real programs spend their time in
 * (an interpreter's dispatch loop, a compiler's walk over its tables):
 * loads and stores, integer arithmetic, data-dependent conditional branches,
 * an indirect jump per instruction (the switch's table) and calls through
 * function pointers.  A loop of arithmetic alone is an emulator's best case
 * (one translated block, chained to itself): under QEMU TCG it ran 2.4 times
 * slower than natively where awk, python3 and gcc ran 12 to 14 times slower.
 */
#define _GNU_SOURCE
#include "benches.h"

#include <stdint.h>

#define CPU_TABLE 4096u         /* 32-bit words: 16 KiB */
#define CPU_PROGRAM 64u         /* bytecode instructions per operation */
#define CPU_SEED 0x9e3779b97f4a7c15ull

enum { OP_LOAD, OP_ADD, OP_MUL, OP_XOR, OP_ROT, OP_BRANCH, OP_CALL, OP_STORE, OP_COUNT };

struct cpu_state {
    uint32_t table[CPU_TABLE];
    uint8_t program[CPU_PROGRAM];
    uint64_t acc;
};

static __attribute__((noinline)) uint64_t f_mix(uint64_t x) { return x * 0x9e37u + 1; }
static __attribute__((noinline)) uint64_t f_fold(uint64_t x) { return x ^ (x >> 17); }
static __attribute__((noinline)) uint64_t f_step(uint64_t x) { return x + (x << 3) + 7; }
static __attribute__((noinline)) uint64_t f_swap(uint64_t x) { return (x >> 32) | (x << 32); }

static uint64_t (*const functions[4])(uint64_t) = { f_mix, f_fold, f_step, f_swap };

int cpu_user_setup(struct ctx *c)
{
    struct cpu_state *s = rb_state(c, sizeof *s);
    uint64_t x = CPU_SEED;

    if (s == NULL)
        return -1;
    for (unsigned i = 0; i < CPU_TABLE; i++) {
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
    return 0;
}

/* One operation: one pass of the 64-instruction program through the interpreter. */
void cpu_user_run(struct ctx *c, uint64_t n)
{
    struct cpu_state *s = c->priv;
    uint64_t a = s->acc;

    for (uint64_t i = 0; i < n; i++) {
        uint64_t b = i;

        for (unsigned pc = 0; pc < CPU_PROGRAM; pc++) {
            switch (s->program[pc]) {
            case OP_LOAD:
                b = s->table[(a ^ b) & (CPU_TABLE - 1)];
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
            default:
                s->table[b & (CPU_TABLE - 1)] = (uint32_t)a;
                break;
            }
        }
        RB_BARRIER();
    }
    s->acc = a;
}

void cpu_teardown(struct ctx *c)
{
    rb_state_free(c);
}
