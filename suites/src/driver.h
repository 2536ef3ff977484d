/*
 * driver.h: the one timing driver (driver.c) and the records it writes
 * (records.c), some of which the command line (main.c) writes too.
 */
#ifndef RINGBENCH_DRIVER_H
#define RINGBENCH_DRIVER_H

#include "harness.h"
#include "json.h"

/* Exit codes of PROTOCOL.md */
#define RB_EXIT_OK 0
#define RB_EXIT_RUNTIME 1
#define RB_EXIT_USAGE 2
#define RB_EXIT_UNSUPPORTED 3

#define RB_MAX_LOOPS (1ull << 40)

struct run_opts {
    uint64_t loops;         /* 0: calibrate */
    uint64_t values;
    uint64_t warmups;
    double min_time;
};

#define RB_MAX_STEPS 48

/* What calibration found; the calibration record shows it. */
struct calibration {
    uint64_t loops;
    int calibrated;
    struct { uint64_t loops; double elapsed_s; } steps[RB_MAX_STEPS];
    size_t nsteps;
    double timer_s, loop_s;
    double overhead_s;          /* per operation: timer_s * batches / loops + loop_s */
    double fraction;            /* overhead_s / raw */
    int subtracted;
};

/* Runs c->bench as PROTOCOL.md describes; returns the exit code. */
int rb_driver_run(struct ctx *c, const struct run_opts *o);

/* records.c: the `error` record on stdout and one line on stderr */
void rb_report_error(const char *msg);

/* records.c: the `unsupported` record and its stderr line */
void rb_report_unsupported(const char *name, const char *reason);

/* records.c: prefix + msg as one line on stderr, control characters escaped */
void rb_stderr_line(const char *prefix, const char *msg);

/* records.c: one record each; 0, or -1 (rb_fail) when stdout failed */
int rb_emit_start(struct ctx *c, struct json *j);
int rb_emit_calibration(struct ctx *c, struct json *j, const struct calibration *k,
                        double min_time);
int rb_emit_sample(struct ctx *c, struct json *j, const struct calibration *k,
                   const char *type, uint64_t index, double elapsed_s);
int rb_emit_end(struct ctx *c, struct json *j, int have_steal0, uint64_t steal0);

/* records.c: the six rusage members of PROTOCOL.md (minflt, majflt, nvcsw, nivcsw,
 * utime_s, stime_s) as keys of the object being written */
struct rusage;
void rb_json_rusage(struct json *j, const struct rusage *ru);

/* records.c: the `steal` column of /proc/stat's first line; 0 or -1 */
int rb_read_steal(uint64_t *steal);

#endif
