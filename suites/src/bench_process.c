/*
 * bench_process.c: creating processes and threads (lmbench lat_proc).
 *
 * The children here exit at once (or exec a program that does), so they do
 * not set PR_SET_PDEATHSIG: that would add a system call to what is timed,
 * and none of them can outlive the parent by more than its own exit.
 */
#define _GNU_SOURCE
#include "benches.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

struct proc_state {
    char exe[PATH_MAX];
};

/* Waits for pid; 0 when it exited with status 0. */
static int wait_ok(struct ctx *c, pid_t pid, const char *what)
{
    int st;

    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return rb_fail_errno(c, "waitpid");
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFSIGNALED(st))
            return rb_fail(c, "the %s child was killed by signal %d", what, WTERMSIG(st));
        return rb_fail(c, "the %s child exited with status %d", what, WEXITSTATUS(st));
    }
    return 0;
}

void proc_fork_run(struct ctx *c, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        pid_t pid = fork();

        if (pid < 0) {
            rb_fail_errno(c, "fork");
            return;
        }
        if (pid == 0)
            _exit(0);
        if (wait_ok(c, pid, "fork") != 0)
            return;
    }
}

int proc_exec_setup(struct ctx *c)
{
    struct proc_state *s = rb_state(c, sizeof *s);
    ssize_t n;

    if (s == NULL)
        return -1;
    n = readlink("/proc/self/exe", s->exe, sizeof s->exe - 1);
    if (n < 0)
        return rb_fail_errno(c, "readlink /proc/self/exe");
    if ((size_t)n >= sizeof s->exe - 1)
        return rb_fail(c, "readlink /proc/self/exe: path too long");
    s->exe[n] = '\0';
    if (access(s->exe, X_OK) != 0)
        return rb_fail_errno(c, "%s", s->exe);
    return 0;
}

void proc_exec_run(struct ctx *c, uint64_t n)
{
    static char *const argv[] = { RB_PROG, "noop", NULL };
    static char *const envp[] = { NULL };
    struct proc_state *s = c->priv;

    for (uint64_t i = 0; i < n; i++) {
        pid_t pid = fork();

        if (pid < 0) {
            rb_fail_errno(c, "fork");
            return;
        }
        if (pid == 0) {
            execve(s->exe, argv, envp);
            _exit(127);
        }
        if (wait_ok(c, pid, "exec") != 0)
            return;
    }
}

void proc_teardown(struct ctx *c)
{
    rb_state_free(c);
}

static void *return_at_once(void *arg)
{
    return arg;
}

void proc_thread_run(struct ctx *c, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        pthread_t t;
        int rc = pthread_create(&t, NULL, return_at_once, NULL);

        if (rc != 0) {
            rb_fail_code(c, rc, "pthread_create");
            return;
        }
        rc = pthread_join(t, NULL);
        if (rc != 0) {
            rb_fail_code(c, rc, "pthread_join");
            return;
        }
    }
}
