/*
 * records.c: the JSON records of a run (PROTOCOL.md, "run: JSON lines"),
 * and the error and unsupported reports with their stderr line.
 */
#define _GNU_SOURCE
#include "driver.h"

#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

/* The `steal` column (the 8th) of the first line of /proc/stat. */
int rb_read_steal(uint64_t *steal)
{
    unsigned long long v[8];
    char line[512];
    FILE *f = fopen("/proc/stat", "re");
    int ok;

    if (f == NULL)
        return -1;
    ok = fgets(line, sizeof line, f) != NULL &&
         sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8;
    fclose(f);
    if (!ok)
        return -1;
    *steal = v[7];
    return 0;
}

void rb_stderr_line(const char *prefix, const char *msg)
{
    fputs(prefix, stderr);
    for (const unsigned char *p = (const unsigned char *)msg; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fprintf(stderr, "\\x%02x", *p);
        else
            fputc(*p, stderr);
    }
    fputc('\n', stderr);
    fflush(stderr);
}

void rb_report_error(const char *msg)
{
    struct json j;

    json_init(&j);
    json_obj_begin(&j);
    json_kstr(&j, "type", "error");
    json_kstr(&j, "message", msg);
    json_obj_end(&j);
    json_emit(&j);
    json_free(&j);
    rb_stderr_line(RB_PROG ": error: ", msg);
}

void rb_report_unsupported(const char *name, const char *reason)
{
    char prefix[128];
    struct json j;

    if (reason[0] == '\0')
        reason = "not supported on this host";
    json_init(&j);
    json_obj_begin(&j);
    json_kstr(&j, "type", "unsupported");
    json_kstr(&j, "bench", name);
    json_kstr(&j, "reason", reason);
    json_obj_end(&j);
    json_emit(&j);
    json_free(&j);
    snprintf(prefix, sizeof prefix, RB_PROG ": %s not supported: ", name);
    rb_stderr_line(prefix, reason);
}

static int emit(struct ctx *c, struct json *j)
{
    if (json_emit(j) != 0)
        return rb_fail(c, "cannot write to stdout");
    return 0;
}

int rb_emit_start(struct ctx *c, struct json *j)
{
    const struct param *p = c->bench->params;

    json_obj_begin(j);
    json_kstr(j, "type", "start");
    json_kint(j, "format", RB_FORMAT);
    json_kstr(j, "bench", c->bench->name);
    json_kint(j, "pid", (int64_t)getpid());
    json_kint(j, "cpu", c->cpu);
    json_kstr(j, "arch", rb_arch());
    json_key(j, "params");
    json_obj_begin(j);
    for (size_t i = 0; p != NULL && p[i].name != NULL; i++)
        json_kint(j, p[i].name, c->param[i]);
    json_obj_end(j);
    json_kuint(j, "realtime_ns", rb_realtime_ns());
    json_kuint(j, "monotonic_ns", rb_now_ns());
    json_obj_end(j);
    return emit(c, j);
}

int rb_emit_calibration(struct ctx *c, struct json *j, const struct calibration *k,
                        double min_time)
{
    json_obj_begin(j);
    json_kstr(j, "type", "calibration");
    json_kuint(j, "loops", k->loops);
    json_kbool(j, "calibrated", k->calibrated);
    json_kdouble(j, "min_time_s", min_time);
    json_key(j, "steps");
    json_arr_begin(j);
    for (size_t i = 0; i < k->nsteps; i++) {
        json_obj_begin(j);
        json_kuint(j, "loops", k->steps[i].loops);
        json_kdouble(j, "elapsed_s", k->steps[i].elapsed_s);
        json_obj_end(j);
    }
    json_arr_end(j);
    json_kdouble(j, "timer_s", k->timer_s);
    json_kdouble(j, "loop_s", k->loop_s);
    json_kdouble(j, "overhead_fraction", k->fraction);
    json_kbool(j, "subtracted", k->subtracted);
    json_kuint(j, "max_batch", c->max_batch);
    json_obj_end(j);
    return emit(c, j);
}

int rb_emit_sample(struct ctx *c, struct json *j, const struct calibration *k,
                   const char *type, uint64_t index, double elapsed_s)
{
    double value = elapsed_s / (double)k->loops;

    if (k->subtracted) {
        value -= k->overhead_s;
        /* Cheaper than the clock can resolve: keep it positive (pyperf
         * rejects zero) and visibly negligible. */
        if (value <= 0)
            value = 1e-15;
    }
    json_obj_begin(j);
    json_kstr(j, "type", type);
    json_kuint(j, "index", index);
    json_kuint(j, "loops", k->loops);
    json_kdouble(j, "elapsed_s", elapsed_s);
    json_kdouble(j, "value_s", value);
    json_obj_end(j);
    return emit(c, j);
}

void rb_json_rusage(struct json *j, const struct rusage *ru)
{
    json_kint(j, "minflt", ru->ru_minflt);
    json_kint(j, "majflt", ru->ru_majflt);
    json_kint(j, "nvcsw", ru->ru_nvcsw);
    json_kint(j, "nivcsw", ru->ru_nivcsw);
    json_kdouble(j, "utime_s", (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec * 1e-6);
    json_kdouble(j, "stime_s", (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec * 1e-6);
}

int rb_emit_end(struct ctx *c, struct json *j, int have_steal0, uint64_t steal0)
{
    struct rusage ru;
    uint64_t steal1;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return rb_fail_errno(c, "getrusage");
    json_obj_begin(j);
    json_kstr(j, "type", "end");
    json_kstr(j, "status", "ok");
    json_kuint(j, "realtime_ns", rb_realtime_ns());
    json_kuint(j, "monotonic_ns", rb_now_ns());
    json_key(j, "rusage");
    json_obj_begin(j);
    rb_json_rusage(j, &ru);
    json_obj_end(j);
    json_key(j, "steal_ticks");
    if (have_steal0 && rb_read_steal(&steal1) == 0 && steal1 >= steal0)
        json_uint(j, steal1 - steal0);
    else
        json_null(j);
    json_obj_end(j);
    return emit(c, j);
}
