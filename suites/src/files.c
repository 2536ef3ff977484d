/*
 * files.c: the files a benchmark makes in --dir.
 *
 * A benchmark that only needs the file's descriptor (io-*, fault-file: up to
 * 64 MiB each) gets one from rb_anon_file(): a file that never has a name
 * (O_TMPFILE), or, where the file system cannot do that, one that loses its
 * name right after it is created.  Its blocks go back to the file system when
 * the descriptor closes, however the process ends, SIGKILL included.
 *
 * A benchmark whose operation is a path lookup (syscall-open-close,
 * syscall-stat) needs a name: rb_tmpfile() creates it as
 * DIR/ringbench-<pid>-<bench>-XXXXXX and lists it in a small registry, so a
 * fatal signal (SIGINT, SIGTERM, SIGHUP) still removes it, and teardown
 * removes it with rb_remove_file().  Only SIGKILL (or a crash) leaves it,
 * 42 bytes, named after the process.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 8

static char registry[MAX_FILES][PATH_MAX];
static volatile sig_atomic_t registered[MAX_FILES];

static void on_fatal_signal(int sig)
{
    for (int i = 0; i < MAX_FILES; i++)
        if (registered[i])
            unlink(registry[i]);        /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

void rb_cleanup_on_signals(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&sa.sa_mask, sigs[i]);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

/* In a child: the files are the parent's, never remove them from here. */
void rb_forget_files(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    for (int i = 0; i < MAX_FILES; i++)
        registered[i] = 0;
}

/* 0 when dir is a directory (writable too with need_write), else -1 with a
 * message that names it. */
int rb_check_dir(const char *dir, int need_write, char *msg, size_t len)
{
    struct stat st;

    if (stat(dir, &st) != 0) {
        snprintf(msg, len, "directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(msg, len, "directory %s: not a directory", dir);
        return -1;
    }
    if (need_write && access(dir, W_OK | X_OK) != 0) {
        snprintf(msg, len, "directory %s is not writable: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Creates and opens (O_RDWR) a new file in --dir; path receives its name. */
int rb_tmpfile(struct ctx *c, char *path, size_t len)
{
    int slot = -1, fd;
    int n = snprintf(path, len, "%s/ringbench-%ld-%s-XXXXXX", c->dir,
                     (long)getpid(), c->bench->name);

    if (n < 0 || (size_t)n >= len || (size_t)n >= PATH_MAX) {
        path[0] = '\0';
        return rb_fail(c, "cannot create a file in %s: path too long", c->dir);
    }
    for (int i = 0; i < MAX_FILES; i++)
        if (!registered[i]) {
            slot = i;
            break;
        }
    if (slot < 0) {
        path[0] = '\0';
        return rb_fail(c, "too many temporary files");
    }
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        int err = errno;

        path[0] = '\0';
        return rb_fail_code(c, err, "cannot create a file in %s", c->dir);
    }
    memcpy(registry[slot], path, (size_t)n + 1);
    registered[slot] = 1;
    return fd;
}

/* Opens (O_RDWR) a new file in --dir that has no name: O_TMPFILE where the file
 * system supports it, else mkostemp() and unlink() at once (a SIGKILL in
 * between leaves an empty file).  Returns the descriptor, or -1 after rb_fail. */
int rb_anon_file(struct ctx *c)
{
    char path[PATH_MAX];
    int fd, n;

#ifdef O_TMPFILE
    fd = open(c->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    /* EOPNOTSUPP (the file system cannot), EISDIR or EINVAL (an older kernel):
     * fall back; any other error shows again below, with its message. */
#endif
    n = snprintf(path, sizeof path, "%s/ringbench-%ld-%s-XXXXXX", c->dir,
                 (long)getpid(), c->bench->name);
    if (n < 0 || (size_t)n >= sizeof path)
        return rb_fail(c, "cannot create a file in %s: path too long", c->dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return rb_fail_errno(c, "cannot create a file in %s", c->dir);
    if (unlink(path) != 0) {
        int err = errno;

        close(fd);
        return rb_fail_code(c, err, "cannot remove the name of a file in %s", c->dir);
    }
    return fd;
}

/* Removes a file made by rb_tmpfile and empties path; "" is a no-op. */
void rb_remove_file(char *path)
{
    if (path[0] == '\0')
        return;
    unlink(path);
    for (int i = 0; i < MAX_FILES; i++)
        if (registered[i] && strcmp(registry[i], path) == 0)
            registered[i] = 0;
    path[0] = '\0';
}

/* Writes `bytes` of a non-zero pattern from offset 0, `chunk` bytes (at
 * most 1 MiB) per write.  The size of the writes sets the size of the page
 * cache folios on file systems with large folios (ext4 since Linux 6.16). */
int rb_fill_file(struct ctx *c, int fd, uint64_t bytes, size_t chunk)
{
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    uint64_t off = 0;

    if (buf == NULL)
        return rb_fail_errno(c, "cannot allocate a write buffer");
    if (chunk == 0 || chunk > CHUNK)
        chunk = CHUNK;
    for (size_t i = 0; i < CHUNK; i++)
        buf[i] = (char)(0x41 + i % 23);
    while (off < bytes) {
        size_t n = bytes - off < chunk ? (size_t)(bytes - off) : chunk;
        ssize_t w = pwrite(fd, buf, n, (off_t)off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            free(buf);
            return rb_fail_errno(c, "cannot write a file in %s", c->dir);
        }
        off += (uint64_t)w;
    }
    free(buf);
    return 0;
}

/* Reads `bytes` from offset 0 once, which puts the file in the page cache. */
int rb_read_file(struct ctx *c, int fd, uint64_t bytes)
{
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    uint64_t off = 0;

    if (buf == NULL)
        return rb_fail_errno(c, "cannot allocate a read buffer");
    while (off < bytes) {
        size_t n = bytes - off < CHUNK ? (size_t)(bytes - off) : CHUNK;
        ssize_t r = pread(fd, buf, n, (off_t)off);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            if (r == 0)
                return rb_fail(c, "short read of a file in %s", c->dir);
            return rb_fail_errno(c, "cannot read a file in %s", c->dir);
        }
        off += (uint64_t)r;
    }
    free(buf);
    return 0;
}
