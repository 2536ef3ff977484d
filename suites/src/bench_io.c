/*
 * bench_io.c: file I/O through the page cache, and I/O that reaches the
 * (emulated) block device: a synchronous write and an O_DIRECT read.
 *
 * Their files have no name (rb_anon_file): nothing is left in --dir however
 * the process ends.  The O_DIRECT read switches the file's one descriptor to
 * O_DIRECT with fcntl(F_SETFL) once the file is written and synced, since a
 * file without a name cannot be opened a second time.
 */
#define _GNU_SOURCE
#include "benches.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#define IO_BLOCK 4096u
#define WRITE_SYNC_BYTES (1u << 20)
#define DIRECT_SEED 0x2545f4914f6cdd1dull
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

struct io_state {
    int fd;                     /* buffered */
    int dfd;                    /* the same file, switched to O_DIRECT (fd is then -1) */
    char *buf;                  /* IO_BLOCK bytes, 4 KiB aligned */
    uint64_t size, off, rng;
};

static struct io_state *io_new(struct ctx *c)
{
    struct io_state *s = rb_state(c, sizeof *s);
    int rc;

    if (s == NULL)
        return NULL;
    s->fd = s->dfd = -1;
    rc = posix_memalign((void **)&s->buf, IO_BLOCK, IO_BLOCK);
    if (rc != 0) {
        s->buf = NULL;
        rb_fail_code(c, rc, "posix_memalign");
        return NULL;
    }
    memset(s->buf, 0x5a, IO_BLOCK);
    return s;
}

void io_teardown(struct ctx *c)
{
    struct io_state *s = c->priv;

    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (s->dfd >= 0)
        close(s->dfd);
    free(s->buf);
    rb_state_free(c);
}

/* A file of `size` bytes in --dir. */
static struct io_state *io_file(struct ctx *c, uint64_t size)
{
    struct io_state *s = io_new(c);

    if (s == NULL)
        return NULL;
    s->size = size;
    s->fd = rb_anon_file(c);
    if (s->fd < 0 || rb_fill_file(c, s->fd, size, 0) != 0)
        return NULL;
    return s;
}

int io_pread_setup(struct ctx *c)
{
    struct io_state *s = io_file(c, (uint64_t)rb_param(c, "file_bytes"));

    if (s == NULL)
        return -1;
    return rb_read_file(c, s->fd, s->size);
}

void io_pread_run(struct ctx *c, uint64_t n)
{
    struct io_state *s = c->priv;

    for (uint64_t i = 0; i < n; i++) {
        if (pread(s->fd, s->buf, IO_BLOCK, (off_t)s->off) != IO_BLOCK) {
            rb_fail_errno(c, "pread of a file in %s", c->dir);
            return;
        }
        s->off += IO_BLOCK;
        if (s->off >= s->size)
            s->off = 0;
    }
}

int io_write_sync_setup(struct ctx *c)
{
    struct io_state *s = io_file(c, WRITE_SYNC_BYTES);

    if (s == NULL)
        return -1;
    if (fsync(s->fd) != 0)
        return rb_fail_errno(c, "fsync of a file in %s", c->dir);
    return 0;
}

void io_write_sync_run(struct ctx *c, uint64_t n)
{
    struct io_state *s = c->priv;

    for (uint64_t i = 0; i < n; i++) {
        if (pwrite(s->fd, s->buf, IO_BLOCK, (off_t)s->off) != IO_BLOCK) {
            rb_fail_errno(c, "pwrite of a file in %s", c->dir);
            return;
        }
        if (fdatasync(s->fd) != 0) {
            rb_fail_errno(c, "fdatasync of a file in %s", c->dir);
            return;
        }
        s->off += IO_BLOCK;
        if (s->off >= s->size)
            s->off = 0;
    }
}

/* Switches fd to O_DIRECT; 0, or -1 with errno (EINVAL: the file system
 * cannot do direct I/O). */
static int set_direct(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_DIRECT) == 0 ? 0 : -1;
}

/* O_DIRECT needs a file system that reaches a device: tmpfs and ramfs
 * either refuse it (EINVAL) or, since Linux 6.6, accept it and copy memory. */
int io_direct_supported(struct ctx *c, char *reason, size_t len)
{
    struct statfs fs;
    int fd, rc, err;

    if (statfs(c->dir, &fs) == 0 &&
        (fs.f_type == (__typeof__(fs.f_type))TMPFS_MAGIC ||
         fs.f_type == (__typeof__(fs.f_type))RAMFS_MAGIC)) {
        snprintf(reason, len, "O_DIRECT not supported by the file system of %s "
                 "(a RAM file system, no device behind it)", c->dir);
        return 0;
    }
    fd = rb_anon_file(c);
    if (fd < 0) {
        /* Not a question of support: setup will report the error. */
        c->failed = 0;
        c->err[0] = '\0';
        return 1;
    }
    rc = set_direct(fd);
    err = errno;
    close(fd);
    if (rc != 0 && err == EINVAL) {
        snprintf(reason, len, "O_DIRECT not supported by the file system of %s", c->dir);
        return 0;
    }
    return 1;
}

int io_direct_setup(struct ctx *c)
{
    struct io_state *s = io_file(c, (uint64_t)rb_param(c, "file_bytes"));

    if (s == NULL)
        return -1;
    if (fsync(s->fd) != 0)
        return rb_fail_errno(c, "fsync of a file in %s", c->dir);
    if (set_direct(s->fd) != 0)
        return rb_fail_errno(c, "O_DIRECT on a file in %s", c->dir);
    s->dfd = s->fd;
    s->fd = -1;
    s->rng = DIRECT_SEED;
    return 0;
}

void io_direct_run(struct ctx *c, uint64_t n)
{
    struct io_state *s = c->priv;
    uint64_t blocks = s->size / IO_BLOCK;

    for (uint64_t i = 0; i < n; i++) {
        off_t off = (off_t)(rb_xorshift64(&s->rng) % blocks * IO_BLOCK);

        if (pread(s->dfd, s->buf, IO_BLOCK, off) != IO_BLOCK) {
            rb_fail_errno(c, "O_DIRECT pread of a file in %s", c->dir);
            return;
        }
    }
}
