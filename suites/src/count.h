/*
 * count.h: counting the events of a command and its descendants (count.c).
 */
#ifndef RINGBENCH_COUNT_H
#define RINGBENCH_COUNT_H

#include <stddef.h>

/* Runs argv (argv[0] looked up in PATH) in dir, its standard streams on
 * /dev/null, under ptrace; writes one `count` record to stdout.  0, or -1
 * with err filled (the command did not start, did not finish within
 * timeout_s and was killed, or stdout failed). */
int rb_count(const char *dir, double timeout_s, char **argv, char *err, size_t len);

/* Runs argv as rb_count does but untraced, in a process group of its own,
 * and writes one `time` record: its wall time and the rusage of it and the
 * descendants it waited for.  A timeout, or the command's end, kills what is
 * left of its process group.  0, or -1 with err filled. */
int rb_time(const char *dir, double timeout_s, char **argv, char *err, size_t len);

#endif
