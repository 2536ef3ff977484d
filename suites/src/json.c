/*
 * json.c: the JSON line writer (see json.h).
 */
#define _GNU_SOURCE
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void json_init(struct json *j)
{
    memset(j, 0, sizeof *j);
}

void json_free(struct json *j)
{
    free(j->buf);
    json_init(j);
}

static void put(struct json *j, const char *s, size_t n)
{
    if (j->oom)
        return;
    if (j->len + n + 2 > j->cap) {
        size_t cap = j->cap ? j->cap : 1024;
        while (j->len + n + 2 > cap)
            cap *= 2;
        char *nb = realloc(j->buf, cap);
        if (nb == NULL) {
            j->oom = 1;
            return;
        }
        j->buf = nb;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
}

static void puts_(struct json *j, const char *s)
{
    put(j, s, strlen(s));
}

/* The comma before a value or a key, unless it follows a key. */
static void separate(struct json *j)
{
    if (j->after_key) {
        j->after_key = 0;
        return;
    }
    if (j->depth > 0) {
        if (!j->first[j->depth - 1])
            put(j, ",", 1);
        j->first[j->depth - 1] = 0;
    }
}

static void open_(struct json *j, const char *c)
{
    separate(j);
    put(j, c, 1);
    if (j->depth < JSON_MAX_DEPTH)
        j->first[j->depth] = 1;
    j->depth++;
}

static void close_(struct json *j, const char *c)
{
    if (j->depth > 0)
        j->depth--;
    put(j, c, 1);
}

void json_obj_begin(struct json *j) { open_(j, "{"); }
void json_obj_end(struct json *j) { close_(j, "}"); }
void json_arr_begin(struct json *j) { open_(j, "["); }
void json_arr_end(struct json *j) { close_(j, "]"); }

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static void put_string(struct json *j, const char *str)
{
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    char esc[8];

    put(j, "\"", 1);
    while (*s) {
        unsigned c = *s;
        size_t n;

        switch (c) {
        case '"': puts_(j, "\\\""); s++; continue;
        case '\\': puts_(j, "\\\\"); s++; continue;
        case '\b': puts_(j, "\\b"); s++; continue;
        case '\f': puts_(j, "\\f"); s++; continue;
        case '\n': puts_(j, "\\n"); s++; continue;
        case '\r': puts_(j, "\\r"); s++; continue;
        case '\t': puts_(j, "\\t"); s++; continue;
        default: break;
        }
        if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            puts_(j, esc);
            s++;
            continue;
        }
        n = utf8_len(s);
        if (n == 0) {
            puts_(j, "\\ufffd");
            s++;
            continue;
        }
        put(j, (const char *)s, n);
        s += n;
    }
    put(j, "\"", 1);
}

void json_key(struct json *j, const char *key)
{
    separate(j);
    put_string(j, key);
    put(j, ":", 1);
    j->after_key = 1;
}

void json_str(struct json *j, const char *s)
{
    separate(j);
    put_string(j, s);
}

void json_int(struct json *j, int64_t v)
{
    char b[32];

    separate(j);
    snprintf(b, sizeof b, "%" PRId64, v);
    puts_(j, b);
}

void json_uint(struct json *j, uint64_t v)
{
    char b[32];

    separate(j);
    snprintf(b, sizeof b, "%" PRIu64, v);
    puts_(j, b);
}

void json_double(struct json *j, double v)
{
    char b[40];

    separate(j);
    if (!isfinite(v)) {
        puts_(j, "null");
        return;
    }
    snprintf(b, sizeof b, "%.17g", v);
    puts_(j, b);
}

void json_bool(struct json *j, int v)
{
    separate(j);
    puts_(j, v ? "true" : "false");
}

void json_null(struct json *j)
{
    separate(j);
    puts_(j, "null");
}

void json_kstr(struct json *j, const char *k, const char *s) { json_key(j, k); json_str(j, s); }
void json_kint(struct json *j, const char *k, int64_t v) { json_key(j, k); json_int(j, v); }
void json_kuint(struct json *j, const char *k, uint64_t v) { json_key(j, k); json_uint(j, v); }
void json_kdouble(struct json *j, const char *k, double v) { json_key(j, k); json_double(j, v); }
void json_kbool(struct json *j, const char *k, int v) { json_key(j, k); json_bool(j, v); }

int json_emit(struct json *j)
{
    int rc = 0;

    if (j->oom) {
        fputs("{\"type\":\"error\",\"message\":\"out of memory writing JSON\"}\n", stdout);
        rc = -1;
    } else {
        put(j, "\n", 1);
        if (fwrite(j->buf, 1, j->len, stdout) != j->len)
            rc = -1;
    }
    if (fflush(stdout) != 0)
        rc = -1;
    j->len = 0;
    j->depth = 0;
    j->after_key = 0;
    j->oom = 0;
    return rc;
}
