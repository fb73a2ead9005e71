/* ft_test_util.c - file and protobuf-writer helpers for the tests. */
#include "ft_test_util.h"

#include "fedtrace/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "ft_test_util: out of memory\n");
        abort();
    }
    return q;
}

uint8_t *ft_test_read_file(const char *path, size_t *len)
{
    char *data;
    size_t n;
    if (ft_read_file(path, 0, &data, &n, NULL) != FT_OK)
        return NULL;
    if (len != NULL)
        *len = n;
    return (uint8_t *)data;
}

bool ft_test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* ---- protobuf writer ---------------------------------------------------- */

void ft_pbw_init(ft_pbw *w)
{
    memset(w, 0, sizeof *w);
}

void ft_pbw_free(ft_pbw *w)
{
    free(w->buf);
    free(w->mark);
    memset(w, 0, sizeof *w);
}

void ft_pbw_reset(ft_pbw *w)
{
    w->len = 0;
    w->depth = 0;
    w->nmark = 0;
}

static void reserve(ft_pbw *w, size_t n)
{
    if (w->cap - w->len >= n)
        return;
    size_t cap = w->cap ? w->cap : 256;
    while (cap - w->len < n)
        cap *= 2;
    w->buf = xrealloc(w->buf, cap);
    w->cap = cap;
}

void ft_pbw_raw(ft_pbw *w, const void *data, size_t n)
{
    if (n == 0)
        return;
    reserve(w, n);
    memcpy(w->buf + w->len, data, n);
    w->len += n;
}

static size_t encode_varint(uint64_t v, uint8_t out[10])
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

void ft_pbw_raw_varint(ft_pbw *w, uint64_t v)
{
    uint8_t tmp[10];
    ft_pbw_raw(w, tmp, encode_varint(v, tmp));
}

void ft_pbw_tag(ft_pbw *w, uint32_t field, unsigned wire_type)
{
    ft_pbw_raw_varint(w, (uint64_t)field << 3 | (wire_type & 7));
}

void ft_pbw_varint(ft_pbw *w, uint32_t field, uint64_t v)
{
    ft_pbw_tag(w, field, FT_PB_VARINT);
    ft_pbw_raw_varint(w, v);
}

void ft_pbw_sint(ft_pbw *w, uint32_t field, int64_t v)
{
    uint64_t u = (uint64_t)v;
    ft_pbw_varint(w, field, (u << 1) ^ (v < 0 ? UINT64_MAX : 0));
}

void ft_pbw_fixed32(ft_pbw *w, uint32_t field, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    ft_pbw_tag(w, field, FT_PB_I32);
    ft_pbw_raw(w, b, 4);
}

void ft_pbw_fixed64(ft_pbw *w, uint32_t field, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    ft_pbw_tag(w, field, FT_PB_I64);
    ft_pbw_raw(w, b, 8);
}

void ft_pbw_double(ft_pbw *w, uint32_t field, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    ft_pbw_fixed64(w, field, u);
}

void ft_pbw_bytes(ft_pbw *w, uint32_t field, const void *data, size_t n)
{
    ft_pbw_tag(w, field, FT_PB_LEN);
    ft_pbw_raw_varint(w, n);
    ft_pbw_raw(w, data, n);
}

void ft_pbw_str(ft_pbw *w, uint32_t field, const char *s)
{
    ft_pbw_bytes(w, field, s, strlen(s));
}

void ft_pbw_begin(ft_pbw *w, uint32_t field)
{
    if (w->depth >= FT_PBW_MAX_DEPTH) {
        fprintf(stderr, "ft_pbw_begin: nesting deeper than %d\n",
                FT_PBW_MAX_DEPTH);
        abort();
    }
    ft_pbw_tag(w, field, FT_PB_LEN);
    ft_pbw_raw(w, "", 1); /* the length, while it fits in one byte */
    w->open[w->depth++] = w->len;
}

void ft_pbw_end(ft_pbw *w)
{
    if (w->depth == 0) {
        fprintf(stderr, "ft_pbw_end without ft_pbw_begin\n");
        abort();
    }
    size_t start = w->open[--w->depth];
    size_t body = w->len - start;
    uint8_t tmp[10];
    size_t n = encode_varint(body, tmp);
    if (n > 1) {
        /* the length needs more than its byte: shift the body to make room */
        size_t more = n - 1;
        reserve(w, more);
        memmove(w->buf + start + more, w->buf + start, body);
        w->len += more;
        for (size_t i = w->nmark; i > 0 && w->mark[i - 1] >= start; i--)
            w->mark[i - 1] += more;
    }
    memcpy(w->buf + start - 1, tmp, n);
}

size_t ft_pbw_mark(ft_pbw *w, size_t off)
{
    if (off > w->len || (w->nmark > 0 && off < w->mark[w->nmark - 1])) {
        fprintf(stderr, "ft_pbw_mark: offset %zu out of order\n", off);
        abort();
    }
    if (w->nmark == w->capmark) {
        w->capmark = w->capmark ? w->capmark * 2 : 16;
        w->mark = xrealloc(w->mark, w->capmark * sizeof *w->mark);
    }
    w->mark[w->nmark] = off;
    return w->nmark++;
}
