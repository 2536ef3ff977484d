/*
 * driver.c: the one timing driver, for every benchmark of the table.
 *
 * Like lmbench's benchmp and pyperf: measure what timing itself costs (a
 * clock_gettime pair, an empty loop), calibrate the number of operations
 * (doubling, then scaled to just above min_time) until one value lasts
 * min_time, then take the warmups and the values.  A value of N operations
 * is timed in batches of at most max_batch: prepare(batch), clock,
 * run(batch), clock, finish(batch).  When timing costs 1% or more of an
 * operation, it is subtracted from every value.
 * records.c writes what it finds, in the records of PROTOCOL.md.
 */
#define _GNU_SOURCE
#include "driver.h"

#include <stdlib.h>
#include <string.h>

#define TIMER_SAMPLES 1001
#define LOOP_ITERATIONS (1u << 20)
#define LOOP_REPEATS 11
#define SUBTRACT_THRESHOLD 0.01

/* The shape of every benchmark's loop, with no operation in it, called
 * through a pointer as run() is. */
static __attribute__((noinline)) void empty_run(struct ctx *c, uint64_t n)
{
    (void)c;
    for (uint64_t i = 0; i < n; i++)
        RB_BARRIER();
}

static void (*volatile empty_run_ptr)(struct ctx *, uint64_t) = empty_run;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* The median cost of one back-to-back clock_gettime pair. */
static double measure_timer_s(void)
{
    static double d[TIMER_SAMPLES];

    for (int i = 0; i < 100; i++)
        (void)rb_now_ns();
    for (int i = 0; i < TIMER_SAMPLES; i++) {
        uint64_t t0 = rb_now_ns();
        uint64_t t1 = rb_now_ns();

        d[i] = (double)(t1 - t0) * 1e-9;
    }
    return median(d, TIMER_SAMPLES);
}

/* The cost of one iteration of an empty loop. */
static double measure_loop_s(struct ctx *c)
{
    double v[LOOP_REPEATS];

    empty_run_ptr(c, LOOP_ITERATIONS);
    for (int r = 0; r < LOOP_REPEATS; r++) {
        uint64_t t0 = rb_now_ns();

        empty_run_ptr(c, LOOP_ITERATIONS);
        v[r] = (double)(rb_now_ns() - t0) * 1e-9 / LOOP_ITERATIONS;
    }
    return median(v, LOOP_REPEATS);
}

static uint64_t batches_of(const struct ctx *c, uint64_t loops)
{
    if (c->max_batch == 0)
        return 1;
    return (loops + c->max_batch - 1) / c->max_batch;
}

/* One value: `loops` operations in batches; elapsed is the timed part. */
static int measure(struct ctx *c, uint64_t loops, double *elapsed_s)
{
    const struct bench *b = c->bench;
    uint64_t done = 0, total_ns = 0;

    while (done < loops) {
        uint64_t n = loops - done, t0, t1;

        if (c->max_batch != 0 && n > c->max_batch)
            n = c->max_batch;
        if (b->prepare != NULL && b->prepare(c, n) != 0)
            return rb_fail(c, "%s: prepare failed", b->name);
        t0 = rb_now_ns();
        b->run(c, n);
        t1 = rb_now_ns();
        if (b->finish != NULL)
            b->finish(c, n);
        if (c->failed)
            return -1;
        total_ns += t1 - t0;
        done += n;
    }
    /* Below the clock's resolution: count it as 1 ns, never as free. */
    *elapsed_s = (double)(total_ns ? total_ns : 1) * 1e-9;
    return 0;
}

/* Fills k->loops and returns the per-operation time of the last step.
 *
 * The count doubles from 1 until a step lasts ESTIMATE_FRACTION of
 * min_time, long enough to estimate one operation's cost; the next step is
 * then scaled to last TARGET_MARGIN x min_time, and so on until a step lasts
 * min_time.  Pure doubling, as pyperf does, leaves the values anywhere
 * between 1 and 2 x min_time (about 1.45 on average over the suite): the
 * same figure at a third more of the run's time. */
#define ESTIMATE_FRACTION 0.125
#define TARGET_MARGIN 1.1

static uint64_t next_loops(uint64_t loops, double e, double min_time)
{
    double scaled;

    if (e < min_time * ESTIMATE_FRACTION)
        return loops >= RB_MAX_LOOPS / 2 ? RB_MAX_LOOPS : loops * 2;
    scaled = (double)loops * min_time * TARGET_MARGIN / e;
    if (scaled >= (double)RB_MAX_LOOPS)
        return RB_MAX_LOOPS;
    if (scaled <= (double)loops)
        return loops + 1;
    return (uint64_t)scaled + 1;
}

static int calibrate(struct ctx *c, struct calibration *k, double min_time, double *raw)
{
    uint64_t loops = 1;
    double e = 0;

    for (;;) {
        if (measure(c, loops, &e) != 0)
            return -1;
        if (k->nsteps < RB_MAX_STEPS) {
            k->steps[k->nsteps].loops = loops;
            k->steps[k->nsteps++].elapsed_s = e;
        }
        if (e >= min_time || loops >= RB_MAX_LOOPS)
            break;
        loops = next_loops(loops, e, min_time);
    }
    k->loops = loops;
    *raw = e / (double)loops;
    return 0;
}

static void set_overhead(const struct ctx *c, struct calibration *k, double raw)
{
    k->overhead_s = k->timer_s * (double)batches_of(c, k->loops) / (double)k->loops +
                    k->loop_s;
    k->fraction = k->overhead_s / raw;
    k->subtracted = k->fraction >= SUBTRACT_THRESHOLD;
}

static int measure_all(struct ctx *c, struct json *j, const struct run_opts *o)
{
    struct calibration k;
    double raw, e = 0, first = 0;
    uint64_t i0 = 0;

    memset(&k, 0, sizeof k);
    k.timer_s = measure_timer_s();
    k.loop_s = measure_loop_s(c);
    if (c->bench->setup(c) != 0)
        return rb_fail(c, "%s: setup failed", c->bench->name);
    if (o->loops == 0) {
        k.calibrated = 1;
        if (calibrate(c, &k, o->min_time, &raw) != 0)
            return -1;
    } else {
        /* No calibration: the first warmup (or value) gives `raw`; its
         * record follows the calibration record. */
        k.loops = o->loops;
        if (measure(c, k.loops, &first) != 0)
            return -1;
        raw = first / (double)k.loops;
        i0 = 1;
    }
    set_overhead(c, &k, raw);
    if (rb_emit_calibration(c, j, &k, o->min_time) != 0)
        return -1;
    for (uint64_t i = 0; i < o->warmups + o->values; i++) {
        int warm = i < o->warmups;

        if (i < i0)
            e = first;
        else if (measure(c, k.loops, &e) != 0)
            return -1;
        if (rb_emit_sample(c, j, &k, warm ? "warmup" : "value",
                           warm ? i : i - o->warmups, e) != 0)
            return -1;
    }
    return 0;
}

int rb_driver_run(struct ctx *c, const struct run_opts *o)
{
    const struct bench *b = c->bench;
    char reason[RB_REASON_LEN] = "";
    uint64_t steal0 = 0;
    int have_steal0, rc;
    struct json j;

    c->max_batch = b->max_batch;
    rb_cleanup_on_signals();
    if (!b->supported(c, reason, sizeof reason)) {
        rb_report_unsupported(b->name, reason);
        return RB_EXIT_UNSUPPORTED;
    }
    if (c->cpu >= 0 && rb_pin(c, c->cpu) != 0) {
        rb_report_error(c->err);
        return RB_EXIT_RUNTIME;
    }
    json_init(&j);
    have_steal0 = rb_read_steal(&steal0) == 0;
    if (rb_emit_start(c, &j) != 0) {
        rb_report_error(c->err);
        json_free(&j);
        return RB_EXIT_RUNTIME;
    }
    rc = measure_all(c, &j, o);
    b->teardown(c);
    if (rc == 0)
        rc = rb_emit_end(c, &j, have_steal0, steal0);
    json_free(&j);
    if (rc != 0) {
        rb_report_error(c->err[0] ? c->err : "unknown failure");
        return RB_EXIT_RUNTIME;
    }
    return RB_EXIT_OK;
}
