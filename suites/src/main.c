/*
 * main.c: the command line of ringbench-bench (PROTOCOL.md, "Commands").
 *
 *   ringbench-bench list [--dir D]
 *   ringbench-bench run NAME [--loops N] [--values V] [--warmups W]
 *                   [--min-time S] [--cpu C|auto] [--dir D] [--param KEY=VALUE]...
 *   ringbench-bench noop
 *   ringbench-bench version
 *   ringbench-bench probe
 *   ringbench-bench count [--dir D] [--timeout S] -- CMD [ARG]...
 *   ringbench-bench time [--dir D] [--timeout S] -- CMD [ARG]...
 *
 * Parsing is strict; every usage error is an `error` record, one stderr line
 * and exit code 2.  Only this file and the driver print or pick exit codes.
 */
#define _GNU_SOURCE
#include "count.h"
#include "driver.h"
#include "json.h"
#include "probe.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COUNT 1000000u

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage(const char *fmt, ...)
{
    char msg[RB_ERR_LEN];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rb_report_error(msg);
    return RB_EXIT_USAGE;
}

static int missing(const char *opt)
{
    return usage("%s: missing value", opt);
}

static int runtime_error(const char *msg)
{
    rb_report_error(msg);
    return RB_EXIT_RUNTIME;
}

/* Digits only: no sign, no space, no junk, at most max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

/* An optional '-' then digits, within int64_t. */
static int parse_i64(const char *s, int64_t *out)
{
    const char *d = *s == '-' ? s + 1 : s;
    long long v;
    char *end;

    if (*d < '0' || *d > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* A positive, finite decimal number of seconds. */
static int parse_seconds(const char *s, double *out)
{
    char *end;
    double v;

    if (!((*s >= '0' && *s <= '9') || *s == '.') || strpbrk(s, "xX") != NULL)
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || !(v > 0))
        return -1;
    *out = v;
    return 0;
}

/* Matches argv[*i] as `--name VALUE` or `--name=VALUE`: 1 with *val set,
 * 0 when it is another argument, -1 when the value is missing. */
static int option(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

static void format_cpus(const cpu_set_t *set, char *out, size_t len)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < CPU_SETSIZE && used < len; i++) {
        int j = i;

        if (!CPU_ISSET(i, set))
            continue;
        while (j + 1 < CPU_SETSIZE && CPU_ISSET(j + 1, set))
            j++;
        used += (size_t)snprintf(out + used, len - used, j > i ? "%s%d-%d" : "%s%d",
                                 used ? "," : "", i, j);
        i = j;
    }
}

static void default_params(struct ctx *c)
{
    const struct param *p = c->bench->params;

    for (size_t i = 0; p != NULL && p[i].name != NULL; i++) {
        if (i >= RB_MAX_PARAMS) {   /* a bug in the table, caught by `list` */
            fprintf(stderr, RB_PROG ": internal error: %s has more than %d parameters\n",
                    c->bench->name, RB_MAX_PARAMS);
            abort();
        }
        c->param[i] = p[i].def;
    }
}

/* KEY=VALUE for c->bench; 0, or the usage exit code. */
static int set_param(struct ctx *c, const char *arg)
{
    const struct param *p = c->bench->params;
    const char *eq = strchr(arg, '=');
    size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);
    int64_t v;

    if (eq == NULL)
        return usage("--param %s: expected KEY=VALUE", arg);
    for (size_t i = 0; p != NULL && p[i].name != NULL; i++) {
        if (strlen(p[i].name) != klen || strncmp(p[i].name, arg, klen) != 0)
            continue;
        if (parse_i64(eq + 1, &v) != 0)
            return usage("--param %s: '%s' is not an integer", arg, eq + 1);
        if (v < p[i].min || v > p[i].max)
            return usage("--param %s: %s must be between %lld and %lld", arg, p[i].name,
                         (long long)p[i].min, (long long)p[i].max);
        if (p[i].multiple > 1 && v % p[i].multiple != 0)
            return usage("--param %s: %s must be a multiple of %lld", arg, p[i].name,
                         (long long)p[i].multiple);
        c->param[i] = v;
        return 0;
    }
    return usage("--param %s: %s has no parameter '%.*s'", arg, c->bench->name,
                 (int)klen, arg);
}

static int cmd_run(int argc, char **argv)
{
    struct run_opts o = { .loops = 0, .values = 3, .warmups = 1, .min_time = 0.1 };
    char msg[RB_ERR_LEN], cpus[128];
    const char *name = NULL, *v;
    const char *params[argc + 1];   /* the --param arguments, checked once NAME is known */
    uint64_t cpu = 0;
    int have_cpu = 0, nparams = 0, m, rc;
    struct ctx c;

    memset(&c, 0, sizeof c);
    c.cpu = -1;
    c.dir = ".";
    if (sched_getaffinity(0, sizeof c.allowed, &c.allowed) != 0) {
        snprintf(msg, sizeof msg, "sched_getaffinity: %s", strerror(errno));
        return runtime_error(msg);
    }
    for (int i = 0; i < argc; i++) {
        if ((m = option(argc, argv, &i, "--loops", &v)) != 0) {
            if (m < 0)
                return missing("--loops");
            if (parse_u64(v, RB_MAX_LOOPS, &o.loops) != 0)
                return usage("--loops: '%s' is not an integer from 0 to 2^40", v);
        } else if ((m = option(argc, argv, &i, "--values", &v)) != 0) {
            if (m < 0)
                return missing("--values");
            if (parse_u64(v, MAX_COUNT, &o.values) != 0 || o.values == 0)
                return usage("--values: '%s' is not an integer from 1 to %u", v, MAX_COUNT);
        } else if ((m = option(argc, argv, &i, "--warmups", &v)) != 0) {
            if (m < 0)
                return missing("--warmups");
            if (parse_u64(v, MAX_COUNT, &o.warmups) != 0)
                return usage("--warmups: '%s' is not an integer from 0 to %u", v, MAX_COUNT);
        } else if ((m = option(argc, argv, &i, "--min-time", &v)) != 0) {
            if (m < 0)
                return missing("--min-time");
            if (parse_seconds(v, &o.min_time) != 0)
                return usage("--min-time: '%s' is not a positive number of seconds", v);
        } else if ((m = option(argc, argv, &i, "--cpu", &v)) != 0) {
            if (m < 0)
                return missing("--cpu");
            format_cpus(&c.allowed, cpus, sizeof cpus);
            if (strcmp(v, "auto") == 0) {
                /* The highest-numbered allowed CPU: on most hosts the one
                 * that takes the fewest interrupts and housekeeping. */
                for (int k = 0; k < CPU_SETSIZE; k++)
                    if (CPU_ISSET(k, &c.allowed))
                        cpu = (uint64_t)k;
            } else if (parse_u64(v, CPU_SETSIZE - 1, &cpu) != 0 ||
                       !CPU_ISSET((int)cpu, &c.allowed)) {
                return usage("--cpu: '%s' is not one of the allowed CPUs (%s) nor 'auto'", v,
                             cpus);
            }
            have_cpu = 1;
        } else if ((m = option(argc, argv, &i, "--dir", &v)) != 0) {
            if (m < 0 || *v == '\0')
                return missing("--dir");
            c.dir = v;
        } else if ((m = option(argc, argv, &i, "--param", &v)) != 0) {
            if (m < 0)
                return missing("--param");
            params[nparams++] = v;
        } else if (argv[i][0] == '-') {
            return usage("run: unknown option '%s'", argv[i]);
        } else if (name != NULL) {
            return usage("run: unexpected argument '%s'", argv[i]);
        } else {
            name = argv[i];
        }
    }
    if (name == NULL)
        return usage("run: missing benchmark name");
    c.bench = rb_find_bench(name);
    if (c.bench == NULL)
        return usage("unknown benchmark '%s'", name);
    c.cpu = have_cpu ? (int)cpu : -1;
    default_params(&c);
    for (int i = 0; i < nparams; i++)
        if ((rc = set_param(&c, params[i])) != 0)
            return rc;
    if (rb_check_dir(c.dir, 1, msg, sizeof msg) != 0)
        return runtime_error(msg);
    return rb_driver_run(&c, &o);
}

static int cmd_list(int argc, char **argv)
{
    const char *dir = ".", *v;
    char msg[RB_ERR_LEN];
    struct json j;
    int m;

    for (int i = 0; i < argc; i++) {
        if ((m = option(argc, argv, &i, "--dir", &v)) != 0) {
            if (m < 0 || *v == '\0')
                return missing("--dir");
            dir = v;
        } else {
            return usage("list: unexpected argument '%s'", argv[i]);
        }
    }
    if (rb_check_dir(dir, 0, msg, sizeof msg) != 0)
        return runtime_error(msg);
    rb_cleanup_on_signals();    /* in case a supported() makes a named file */

    json_init(&j);
    json_obj_begin(&j);
    json_kint(&j, "format", RB_FORMAT);
    json_kstr(&j, "version", RB_VERSION);
    json_kstr(&j, "arch", rb_arch());
    json_kstr(&j, "timer", RB_TIMER);
    json_key(&j, "benchmarks");
    json_arr_begin(&j);
    for (size_t i = 0; i < rb_nbenches; i++) {
        const struct bench *b = &rb_benches[i];
        char reason[RB_REASON_LEN] = "";
        struct ctx c;
        int ok;

        memset(&c, 0, sizeof c);
        c.bench = b;
        c.cpu = -1;
        c.dir = dir;
        c.max_batch = b->max_batch;
        if (sched_getaffinity(0, sizeof c.allowed, &c.allowed) != 0)
            CPU_ZERO(&c.allowed);
        default_params(&c);
        ok = b->supported(&c, reason, sizeof reason);

        json_obj_begin(&j);
        json_kstr(&j, "name", b->name);
        json_kstr(&j, "family", b->family);
        json_kstr(&j, "mechanism", b->mechanism);
        json_kstr(&j, "unit", b->unit);
        json_kstr(&j, "description", b->description);
        json_key(&j, "params");
        json_arr_begin(&j);
        for (size_t k = 0; b->params != NULL && b->params[k].name != NULL; k++) {
            json_obj_begin(&j);
            json_kstr(&j, "name", b->params[k].name);
            json_kint(&j, "default", b->params[k].def);
            json_kstr(&j, "description", b->params[k].description);
            json_obj_end(&j);
        }
        json_arr_end(&j);
        json_kbool(&j, "supported", ok);
        json_kstr(&j, "reason", ok ? "" : (reason[0] ? reason : "not supported on this host"));
        json_key(&j, "sampling");
        json_obj_begin(&j);
        json_kint(&j, "values", rb_sampling(b).values);
        json_kint(&j, "processes", rb_sampling(b).processes);
        json_obj_end(&j);
        json_obj_end(&j);
    }
    json_arr_end(&j);
    json_obj_end(&j);
    m = json_emit(&j);
    json_free(&j);
    if (m != 0) {
        rb_stderr_line(RB_PROG ": error: ", "cannot write to stdout");
        return RB_EXIT_RUNTIME;
    }
    return RB_EXIT_OK;
}

static int cmd_version(void)
{
    struct json j;
    int rc;

    json_init(&j);
    json_obj_begin(&j);
    json_kint(&j, "format", RB_FORMAT);
    json_kstr(&j, "version", RB_VERSION);
    json_kstr(&j, "arch", rb_arch());
    json_obj_end(&j);
    rc = json_emit(&j);
    json_free(&j);
    return rc == 0 ? RB_EXIT_OK : RB_EXIT_RUNTIME;
}

static int cmd_probe(void)
{
    struct json j;
    int rc;

    json_init(&j);
    rb_probe_json(&j);
    rc = json_emit(&j);
    json_free(&j);
    return rc == 0 ? RB_EXIT_OK : RB_EXIT_RUNTIME;
}

#define COUNT_TIMEOUT_S 600.0

/* count and time: [--dir D] [--timeout S] -- CMD [ARG]... */
static int cmd_command(int argc, char **argv, const char *name,
                       int (*fn)(const char *, double, char **, char *, size_t))
{
    const char *dir = ".", *v;
    double timeout_s = COUNT_TIMEOUT_S;
    char err[RB_ERR_LEN] = "";
    int i, m;

    for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if ((m = option(argc, argv, &i, "--dir", &v)) != 0) {
            if (m < 0)
                return missing("--dir");
            dir = v;
        } else if ((m = option(argc, argv, &i, "--timeout", &v)) != 0) {
            if (m < 0)
                return missing("--timeout");
            if (parse_seconds(v, &timeout_s) != 0 || timeout_s > 86400)
                return usage("--timeout %s: expected seconds, more than 0, at most 86400", v);
        } else {
            return usage("%s: unexpected argument '%s' (the command follows --)", name, argv[i]);
        }
    }
    if (i + 1 >= argc)
        return usage("%s: missing command: %s [--dir D] [--timeout S] -- CMD [ARG]...", name,
                     name);
    if (fn(dir, timeout_s, argv + i + 1, err, sizeof err) != 0)
        return runtime_error(err[0] ? err : "the command failed");
    return RB_EXIT_OK;
}

int main(int argc, char **argv)
{
    /* First, and before anything else: proc-exec times this path. */
    if (argc == 2 && strcmp(argv[1], "noop") == 0)
        return RB_EXIT_OK;
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2)
        return usage("missing command: list, run, count, time, noop, version or probe");
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 2, argv + 2);
    if (strcmp(argv[1], "list") == 0)
        return cmd_list(argc - 2, argv + 2);
    if (strcmp(argv[1], "count") == 0)
        return cmd_command(argc - 2, argv + 2, "count", rb_count);
    if (strcmp(argv[1], "time") == 0)
        return cmd_command(argc - 2, argv + 2, "time", rb_time);
    if (strcmp(argv[1], "version") == 0) {
        if (argc != 2)
            return usage("version: unexpected argument '%s'", argv[2]);
        return cmd_version();
    }
    if (strcmp(argv[1], "probe") == 0) {
        if (argc != 2)
            return usage("probe: unexpected argument '%s'", argv[2]);
        return cmd_probe();
    }
    if (strcmp(argv[1], "noop") == 0)
        return usage("noop: unexpected argument '%s'", argv[2]);
    return usage("unknown command '%s'", argv[1]);
}
