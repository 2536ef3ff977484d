/*
 * harness.h: the types every part of ringbench-bench shares.
 *
 * One table of benchmarks (catalog.c), one timing driver (driver.c).  A
 * benchmark only provides its operation and the untimed steps around it; it
 * never prints and never exits: it reports a failure with rb_fail() or
 * rb_fail_errno(), which record the first message in the context and return
 * -1, and the driver turns that into an error record (see PROTOCOL.md).
 */
#ifndef RINGBENCH_HARNESS_H
#define RINGBENCH_HARNESS_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RB_FORMAT 1
#define RB_VERSION "1.0"
#define RB_PROG "ringbench-bench"
#define RB_TIMER "CLOCK_MONOTONIC"

#define RB_MAX_PARAMS 4
#define RB_PAGE 4096u
#define RB_KIB 1024ull
#define RB_MIB (1024ull * 1024ull)
#define RB_GIB (1024ull * 1024ull * 1024ull)
#define RB_ERR_LEN 512
#define RB_REASON_LEN 256

struct ctx;

/* An integer parameter; --param KEY=VALUE must lie in [min, max] and be a
 * multiple of `multiple`.  Only name, default and description are listed. */
struct param {
    const char *name;
    int64_t def;
    const char *description;
    int64_t min, max, multiple;
};

/* One entry of the table; the shape is fixed by PROTOCOL.md. */
struct bench {
    const char *name, *family, *mechanism, *unit, *description;
    const struct param *params;            /* terminated by {NULL}; may be NULL */
    uint64_t max_batch;                    /* 0: unlimited */
    int  (*supported)(struct ctx *, char *reason, size_t len); /* 1 yes, 0 no */
    int  (*setup)(struct ctx *);           /* once per process, untimed */
    int  (*prepare)(struct ctx *, uint64_t n); /* before each batch, untimed, may be NULL */
    void (*run)(struct ctx *, uint64_t n); /* n operations: the only timed code */
    void (*finish)(struct ctx *, uint64_t n);  /* after each batch, untimed, may be NULL */
    void (*teardown)(struct ctx *);        /* once, untimed; removes every file made */
};

/* What a benchmark sees.  The driver fills everything but priv, which setup
 * owns and teardown frees.  setup may change max_batch (it starts as the
 * table's value) when a parameter bounds the memory a batch needs.
 * teardown must release whatever setup or a prepare left behind, even after
 * a failure half-way, so it has to cope with partly built state. */
struct ctx {
    const struct bench *bench;
    int cpu;                        /* --cpu, or -1 when not pinned */
    const char *dir;                /* --dir */
    cpu_set_t allowed;              /* affinity before any pinning */
    int64_t param[RB_MAX_PARAMS];   /* values, in the order of bench->params */
    uint64_t max_batch;
    void *priv;
    int failed;                     /* set by rb_fail: run() reports through it */
    char err[RB_ERR_LEN];
};

/* catalog.c */
extern const struct bench rb_benches[];
extern const size_t rb_nbenches;
const struct bench *rb_find_bench(const char *name);

/* How much more of the run's sampling a benchmark's figure needs: the runner
 * multiplies its values per process and its number of processes by these
 * (both 1 for most benchmarks; `list` reports them as "sampling"). */
struct sampling { unsigned values, processes; };
struct sampling rb_sampling(const struct bench *b);

/* harness.c: errors, parameters, time, randomness, state, mappings */
int rb_fail(struct ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int rb_fail_errno(struct ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int rb_fail_code(struct ctx *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int64_t rb_param(const struct ctx *c, const char *name);
uint64_t rb_now_ns(void);
uint64_t rb_realtime_ns(void);
uint64_t rb_xorshift64(uint64_t *state);
uint64_t rb_mix64(uint64_t x);
const char *rb_arch(void);
int rb_supported_always(struct ctx *c, char *reason, size_t len);
int rb_need_x86_64(struct ctx *c, char *reason, size_t len);
int rb_setup_none(struct ctx *c);
void rb_teardown_none(struct ctx *c);
void *rb_state(struct ctx *c, size_t size);  /* calloc into c->priv */
void rb_state_free(struct ctx *c);
void *rb_map_anon(struct ctx *c, size_t len, int no_huge);

/* Keeps the compiler from deleting the work of a loop. */
extern volatile uint64_t rb_sink;
extern void *volatile rb_sink_ptr;
#define RB_BARRIER() __asm__ volatile("" ::: "memory")

/* files.c: files in --dir: without a name (gone when closed, even on SIGKILL),
 * or named, removed by teardown or on a fatal signal */
int rb_anon_file(struct ctx *c);
int rb_tmpfile(struct ctx *c, char *path, size_t len);
void rb_remove_file(char *path);
int rb_fill_file(struct ctx *c, int fd, uint64_t bytes, size_t chunk);
int rb_read_file(struct ctx *c, int fd, uint64_t bytes);
void rb_cleanup_on_signals(void);
void rb_forget_files(void);
int rb_check_dir(const char *dir, int need_write, char *msg, size_t len);

/* children.c: helper processes and CPU placement */
pid_t rb_spawn(struct ctx *c, int (*fn)(void *), void *arg);
void rb_reap(pid_t *pid);
int rb_pin(struct ctx *c, int cpu);
int rb_pin_quiet(int cpu);
int rb_home_cpu(const struct ctx *c);
int rb_other_cpu(const struct ctx *c, int not_this);
int rb_await_ready(struct ctx *c, int fd, const char *what);
void rb_send_ready(int fd, char status);

#endif
