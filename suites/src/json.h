/*
 * json.h: a tiny writer for the one-object-per-line records of PROTOCOL.md.
 *
 * Build one object with the calls below, then json_emit() writes it as one
 * line to stdout and flushes.  Doubles are printed with %.17g; a NaN or an
 * infinity becomes null.  Strings are escaped (quotes, backslashes, control
 * characters) and bytes that are not valid UTF-8 become U+FFFD.
 */
#ifndef RINGBENCH_JSON_H
#define RINGBENCH_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 16

struct json {
    char *buf;
    size_t len, cap;
    int depth;
    int after_key;
    int oom;
    unsigned char first[JSON_MAX_DEPTH];
};

void json_init(struct json *j);
void json_free(struct json *j);
int json_emit(struct json *j);          /* 0, or -1 when stdout failed */

void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
void json_key(struct json *j, const char *key);

void json_str(struct json *j, const char *s);
void json_int(struct json *j, int64_t v);
void json_uint(struct json *j, uint64_t v);
void json_double(struct json *j, double v);
void json_bool(struct json *j, int v);
void json_null(struct json *j);

/* key + value in one call */
void json_kstr(struct json *j, const char *key, const char *s);
void json_kint(struct json *j, const char *key, int64_t v);
void json_kuint(struct json *j, const char *key, uint64_t v);
void json_kdouble(struct json *j, const char *key, double v);
void json_kbool(struct json *j, const char *key, int v);

#endif
