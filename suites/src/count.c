/*
 * count.c: `ringbench-bench count -- CMD ARG...`, the events a command and
 * all its descendants cause, and `ringbench-bench time -- CMD ARG...`, how
 * long it takes untraced (PROTOCOL.md, "`count`" and "`time`").
 *
 * The command runs under ptrace, following every fork, vfork, clone and
 * exec: each system call's entry and exit stop is counted, by number, and
 * the exits of the read and write families add their byte counts.  Its
 * rusage (faults, context switches, CPU times) is the kernel's, for the
 * command and the descendants it waited for.  Tracing stops the command
 * twice per system call: what it costs lands in the context switches and
 * the system time of this run, never in a timed one (the runner counts and
 * times in separate processes).  Only this machine's kernel sees the
 * command: nothing here depends on perf or on performance counters.
 */
#define _GNU_SOURCE
#include "count.h"
#include "driver.h"
#include "harness.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NR 1024             /* system call numbers counted one by one */
#define MAX_TASKS 4096          /* tasks traced at once */
#define OPTIONS (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | \
                 PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL)

struct task {
    pid_t tid;
    int in_syscall;             /* between an entry stop and its exit stop */
    int awaiting_stop;          /* announced by its parent; its first SIGSTOP is ours */
    long nr;                    /* the system call it is in */
};

struct counts {
    uint64_t by_nr[MAX_NR], other_nr, syscalls;
    uint64_t forks, threads, execs, fsyncs, bytes_read, bytes_written;
    size_t ntasks, tasks_max;
    struct task tasks[MAX_TASKS];
};

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
}

static struct task *find(struct counts *k, pid_t tid)
{
    for (size_t i = 0; i < k->ntasks; i++)
        if (k->tasks[i].tid == tid)
            return &k->tasks[i];
    return NULL;
}

static struct task *add(struct counts *k, pid_t tid, int awaiting_stop)
{
    struct task *t = find(k, tid);

    if (t != NULL)
        return t;
    if (k->ntasks == MAX_TASKS)
        return NULL;
    t = &k->tasks[k->ntasks++];
    memset(t, 0, sizeof *t);
    t->tid = tid;
    t->awaiting_stop = awaiting_stop;
    if (k->ntasks > k->tasks_max)
        k->tasks_max = k->ntasks;
    return t;
}

static void drop(struct counts *k, pid_t tid)
{
    struct task *t = find(k, tid);

    if (t != NULL)
        *t = k->tasks[--k->ntasks];
}

static int reads_bytes(long nr)
{
    switch (nr) {
    case SYS_read: case SYS_pread64: case SYS_readv: case SYS_preadv: case SYS_preadv2:
    case SYS_recvfrom: case SYS_recvmsg:
        return 1;
    default:
        return 0;
    }
}

static int writes_bytes(long nr)
{
    switch (nr) {
    case SYS_write: case SYS_pwrite64: case SYS_writev: case SYS_pwritev: case SYS_pwritev2:
    case SYS_sendto: case SYS_sendmsg: case SYS_sendfile:
        return 1;
    default:
        return 0;
    }
}

/* A system call stop: an entry counts the call, an exit its bytes. */
static void syscall_stop(struct counts *k, struct task *t)
{
    struct user_regs_struct r;

    if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) != 0)
        return;                 /* killed meanwhile: its exit follows */
    if (!t->in_syscall) {
        t->nr = (long)r.orig_rax;
        k->syscalls++;
        if (t->nr >= 0 && t->nr < MAX_NR)
            k->by_nr[t->nr]++;
        else
            k->other_nr++;
        if (t->nr == SYS_fsync || t->nr == SYS_fdatasync)
            k->fsyncs++;
        t->in_syscall = 1;
        return;
    }
    t->in_syscall = 0;
    if ((long long)r.rax <= 0)
        return;
    if (reads_bytes(t->nr))
        k->bytes_read += r.rax;
    else if (writes_bytes(t->nr))
        k->bytes_written += r.rax;
}

/* A fork, vfork, clone or exec event stop of t. */
static void event_stop(struct counts *k, struct task *t, int event)
{
    unsigned long msg = 0;

    if (event == PTRACE_EVENT_EXEC) {
        /* A thread that execs takes its leader's id (the one reporting), and is
         * inside execve until its exit stop; its own id is gone. */
        k->execs++;
        if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0, &msg) == 0 && (pid_t)msg != t->tid)
            drop(k, (pid_t)msg);
        t = find(k, t->tid);
        if (t != NULL) {
            t->in_syscall = 1;
            t->nr = SYS_execve;
        }
        return;
    }
    if (event == PTRACE_EVENT_CLONE)
        k->threads++;
    else
        k->forks++;
    if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0, &msg) == 0) {
        struct task *child = find(k, (pid_t)msg);

        if (child == NULL)
            (void)add(k, (pid_t)msg, 1);
        else if (child->awaiting_stop == 2) /* its stop came first: already resumed */
            child->awaiting_stop = 0;
    }
}

static void kill_all(struct counts *k)
{
    for (size_t i = 0; i < k->ntasks; i++)
        kill(k->tasks[i].tid, SIGKILL);
}

/* The command's side of the fork, for count and time alike: SIGPIPE at its
 * default (ignored in the harness; an ignored signal survives exec), its
 * streams on /dev/null, in dir.  0, or -1. */
static int command_setup(const char *dir)
{
    int fd = open("/dev/null", O_RDWR);

    signal(SIGPIPE, SIG_DFL);
    if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
        return -1;
    return chdir(dir);
}

/* SIGALRM after timeout_s sets timed_out and interrupts waitpid (no
 * SA_RESTART); 0 disarms.  Armed after the fork: a child inherits no timer. */
static void alarm_after(double timeout_s)
{
    struct sigaction sa;
    struct itimerval it;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = (time_t)timeout_s;
    it.it_value.tv_usec = (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6);
    setitimer(ITIMER_REAL, &it, NULL);
}

static void child(const char *dir, char **argv)
{
    if (command_setup(dir) != 0)
        _exit(126);
    if (ptrace(PTRACE_TRACEME, 0, 0, 0) != 0)
        _exit(125);
    raise(SIGSTOP);
    execvp(argv[0], argv);
    _exit(127);
}

/* Follows the tree until its first process exits and every task is gone. */
static int trace(struct counts *k, pid_t pid, int *status, char *err, size_t len)
{
    int st, top_done = 0;

    if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st)) {
        snprintf(err, len, "the command did not start under ptrace");
        return -1;
    }
    if (ptrace(PTRACE_SETOPTIONS, pid, 0, OPTIONS) != 0) {
        snprintf(err, len, "ptrace(PTRACE_SETOPTIONS): %s", strerror(errno));
        kill(pid, SIGKILL);
        return -1;
    }
    (void)add(k, pid, 0);
    ptrace(PTRACE_SYSCALL, pid, 0, 0);
    while (!top_done || k->ntasks > 0) {
        pid_t tid = waitpid(-1, &st, __WALL);
        struct task *t;
        int sig, event, inject = 0;

        if (tid < 0) {
            if (errno == EINTR && timed_out) {
                kill_all(k);
                kill(pid, SIGKILL);
                continue;
            }
            if (errno == EINTR)
                continue;
            break;              /* ECHILD: nothing left */
        }
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            drop(k, tid);
            if (tid == pid) {
                *status = st;
                top_done = 1;
            }
            continue;
        }
        if (!WIFSTOPPED(st))
            continue;
        sig = WSTOPSIG(st);
        event = st >> 16;
        t = find(k, tid);
        if (t == NULL) {        /* a new task whose parent's event is still to come */
            t = add(k, tid, 2);
            if (t == NULL) {
                snprintf(err, len, "more than %d tasks at once", MAX_TASKS);
                kill_all(k);
                kill(pid, SIGKILL);
                continue;
            }
            if (sig == SIGSTOP) {
                ptrace(PTRACE_SYSCALL, tid, 0, 0);
                continue;
            }
        }
        if (sig == (SIGTRAP | 0x80)) {
            syscall_stop(k, t);
        } else if (sig == SIGTRAP && event != 0) {
            event_stop(k, t, event);
        } else if (sig == SIGSTOP && t->awaiting_stop == 1) {
            t->awaiting_stop = 0;   /* the stop every new tracee starts with */
        } else {
            siginfo_t si;

            /* a group-stop has no siginfo: resume it without the signal */
            inject = ptrace(PTRACE_GETSIGINFO, tid, 0, &si) == 0 ? sig : 0;
        }
        ptrace(PTRACE_SYSCALL, tid, 0, inject);
    }
    return timed_out ? -1 : 0;
}

static void emit(struct json *j, const struct counts *k, int st, double wall_s)
{
    struct rusage ru;

    getrusage(RUSAGE_CHILDREN, &ru);
    json_obj_begin(j);
    json_kstr(j, "type", "count");
    json_kint(j, "exit_code", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    json_kint(j, "signal", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    json_kdouble(j, "wall_s", wall_s);
    json_kuint(j, "syscalls", k->syscalls);
    json_key(j, "by_number");
    json_arr_begin(j);
    for (int nr = 0; nr < MAX_NR; nr++) {
        if (k->by_nr[nr] == 0)
            continue;
        json_arr_begin(j);
        json_int(j, nr);
        json_uint(j, k->by_nr[nr]);
        json_arr_end(j);
    }
    json_arr_end(j);
    json_kuint(j, "other_numbers", k->other_nr);
    json_kuint(j, "forks", k->forks);
    json_kuint(j, "threads", k->threads);
    json_kuint(j, "execs", k->execs);
    json_kuint(j, "fsyncs", k->fsyncs);
    json_kuint(j, "bytes_read", k->bytes_read);
    json_kuint(j, "bytes_written", k->bytes_written);
    json_kuint(j, "tasks_max", k->tasks_max);
    rb_json_rusage(j, &ru);
    json_obj_end(j);
}

int rb_count(const char *dir, double timeout_s, char **argv, char *err, size_t len)
{
    struct counts *k = calloc(1, sizeof *k);
    uint64_t t0, t1;
    struct json j;
    int st = 0, rc;
    pid_t pid;

    if (k == NULL) {
        snprintf(err, len, "out of memory");
        return -1;
    }
    t0 = rb_now_ns();
    pid = fork();
    if (pid < 0) {
        snprintf(err, len, "fork: %s", strerror(errno));
        free(k);
        return -1;
    }
    if (pid == 0)
        child(dir, argv);
    alarm_after(timeout_s);
    rc = trace(k, pid, &st, err, len);
    alarm_after(0);
    t1 = rb_now_ns();
    if (rc != 0 && timed_out)
        snprintf(err, len, "the command (or a process it left running) did not finish "
                 "within %g s: killed", timeout_s);
    if (rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) >= 125 && k->execs == 0)
        snprintf(err, len, "%s: cannot run it (%s)", argv[0],
                 WEXITSTATUS(st) == 127 ? "not found or not executable"
                                        : "cannot set up its directory or ptrace");
    if (rc == 0 && err[0] == '\0') {
        json_init(&j);
        emit(&j, k, st, (double)(t1 - t0) * 1e-9);
        rc = json_emit(&j);
        json_free(&j);
        if (rc != 0)
            snprintf(err, len, "cannot write to stdout");
    } else {
        rc = -1;
    }
    free(k);
    return rc;
}

/* --- time: the same command, untraced ------------------------------------ */

/* The timed child: its own process group (so that a timeout kills the tree),
 * streams on /dev/null; an exec that fails writes its errno on report_fd. */
static void timed_child(const char *dir, char **argv, int report_fd)
{
    int e;

    setpgid(0, 0);
    if (command_setup(dir) != 0) {
        e = -1;
    } else {
        execvp(argv[0], argv);
        e = errno;
    }
    while (write(report_fd, &e, sizeof e) < 0 && errno == EINTR)
        ;
    _exit(127);
}

int rb_time(const char *dir, double timeout_s, char **argv, char *err, size_t len)
{
    uint64_t t0, t1;
    struct rusage ru;
    struct json j;
    int report[2], st = 0, e = 0, rc;
    ssize_t n;
    pid_t pid;

    if (pipe2(report, O_CLOEXEC) != 0) {
        snprintf(err, len, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(stdout);
    t0 = rb_now_ns();
    pid = fork();
    if (pid < 0) {
        snprintf(err, len, "fork: %s", strerror(errno));
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (pid == 0) {
        close(report[0]);
        timed_child(dir, argv, report[1]);
    }
    close(report[1]);
    setpgid(pid, pid);          /* as the child does: whichever runs first */
    alarm_after(timeout_s);
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            break;
        if (timed_out)
            kill(-pid, SIGKILL);
    }
    t1 = rb_now_ns();
    alarm_after(0);
    kill(-pid, SIGKILL);        /* what the command left running in its group */
    do
        n = read(report[0], &e, sizeof e);
    while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof e) {
        if (e < 0)
            snprintf(err, len, "%s: cannot set up its streams or its directory", argv[0]);
        else
            snprintf(err, len, "%s: cannot run it (%s)", argv[0], strerror(e));
        return -1;
    }
    if (timed_out) {
        snprintf(err, len, "the command did not finish within %g s: killed", timeout_s);
        return -1;
    }
    getrusage(RUSAGE_CHILDREN, &ru);
    json_init(&j);
    json_obj_begin(&j);
    json_kstr(&j, "type", "time");
    json_kint(&j, "exit_code", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    json_kint(&j, "signal", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    json_kdouble(&j, "wall_s", (double)(t1 - t0) * 1e-9);
    rb_json_rusage(&j, &ru);
    json_obj_end(&j);
    rc = json_emit(&j);
    json_free(&j);
    if (rc != 0)
        snprintf(err, len, "cannot write to stdout");
    return rc;
}
