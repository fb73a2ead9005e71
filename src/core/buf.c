/* buf.c - growable buffer and JSON writing. */
#include "core/buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ft_buf_free(ft_buf *b)
{
    ft_free(b->ptr);
    *b = (ft_buf){0};
}

void ft_buf_reset(ft_buf *b)
{
    b->len = 0;
    b->failed = false;
}

bool ft_buf_ok(const ft_buf *b)
{
    return !b->failed;
}

static bool grow(ft_buf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->cap - b->len >= extra)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *p = ft_realloc(b->ptr, cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    b->ptr = p;
    b->cap = cap;
    return true;
}

void ft_buf_put(ft_buf *b, const void *p, size_t n)
{
    if (n == 0 || !grow(b, n))
        return;
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
}

void ft_buf_putc(ft_buf *b, char c)
{
    if (!grow(b, 1))
        return;
    b->ptr[b->len++] = c;
}

void ft_buf_puts(ft_buf *b, const char *s)
{
    ft_buf_put(b, s, strlen(s));
}

void ft_buf_printf(ft_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !grow(b, (size_t)n + 1))
        return;
    va_start(ap, fmt);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

ft_str ft_buf_str(const ft_buf *b)
{
    return (ft_str){b->ptr ? b->ptr : "", b->len};
}

const char *ft_buf_cstr(ft_buf *b)
{
    ft_buf_putc(b, '\0');
    if (!ft_buf_ok(b))
        return NULL;
    b->len--;
    return b->ptr;
}

size_t ft_utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t min, cp;
    if ((c & 0xE0) == 0xC0)
        len = 2, min = 0x80, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        len = 3, min = 0x800, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        len = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void ft_json_str(ft_buf *b, ft_str s)
{
    if (s.len == 0) { /* s.ptr may be NULL */
        ft_buf_put(b, "\"\"", 2);
        return;
    }
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t n = s.len, run = 0;
    if (!grow(b, n + 2))
        return;
    ft_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        /* eight plain bytes at a time: none below 0x20, none '"' or '\\',
         * none 0x80 or above (those go through the checks below) */
        while (n - i >= 8) {
            uint64_t x;
            memcpy(&x, p + i, 8);
            const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
            uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
            /* a byte's high bit in (v - n) & ~v: some byte of v is below
             * n (exact when no byte is; the bytes then go one by one) */
            uint64_t special = (x | ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) |
                                ((bs - ones) & ~bs)) &
                               highs;
            if (special != 0)
                break;
            i += 8;
            run += 8;
        }
        if (i >= n)
            break;
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            run++;
            continue;
        }
        size_t ulen = c >= 0x80 ? ft_utf8_len(p + i, n - i) : 0;
        if (ulen > 0) {
            i += ulen;
            run += ulen;
            continue;
        }
        ft_buf_put(b, p + i - run, run);
        run = 0;
        switch (c) {
        case '"': ft_buf_put(b, "\\\"", 2); break;
        case '\\': ft_buf_put(b, "\\\\", 2); break;
        case '\b': ft_buf_put(b, "\\b", 2); break;
        case '\f': ft_buf_put(b, "\\f", 2); break;
        case '\n': ft_buf_put(b, "\\n", 2); break;
        case '\r': ft_buf_put(b, "\\r", 2); break;
        case '\t': ft_buf_put(b, "\\t", 2); break;
        default:
            if (c < 0x20)
                ft_buf_printf(b, "\\u%04x", c);
            else
                ft_buf_put(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
        }
        i++;
    }
    ft_buf_put(b, p + n - run, run);
    ft_buf_putc(b, '"');
}

void ft_json_cstr(ft_buf *b, const char *s)
{
    ft_json_str(b, ft_str_c(s));
}

void ft_json_key(ft_buf *b, bool *first, const char *key)
{
    if (!*first)
        ft_buf_putc(b, ',');
    *first = false;
    ft_json_cstr(b, key);
    ft_buf_putc(b, ':');
}

void ft_buf_put_u64(ft_buf *b, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof tmp;
    do
        tmp[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    ft_buf_put(b, tmp + i, sizeof tmp - i);
}

void ft_buf_put_i64(ft_buf *b, int64_t v)
{
    if (v < 0) {
        ft_buf_putc(b, '-');
        ft_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        ft_buf_put_u64(b, (uint64_t)v);
    }
}

void ft_json_u64_str(ft_buf *b, uint64_t v)
{
    ft_buf_putc(b, '"');
    ft_buf_put_u64(b, v);
    ft_buf_putc(b, '"');
}

void ft_json_double(ft_buf *b, double d)
{
    if (!isfinite(d)) {
        ft_buf_puts(b, "null");
        return;
    }
    /* shortest representation that reads back as the same double */
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    ft_buf_puts(b, tmp);
}

void ft_json_anyvalue(ft_buf *b, const ft_value *v, int depth)
{
    if (depth > 64) {
        ft_buf_puts(b, "{}");
        return;
    }
    switch (v->type) {
    case FT_VAL_STRING:
        ft_buf_puts(b, "{\"stringValue\":");
        ft_json_str(b, v->u.s);
        break;
    case FT_VAL_BOOL:
        ft_buf_puts(b, v->u.b ? "{\"boolValue\":true" : "{\"boolValue\":false");
        break;
    case FT_VAL_INT:
        ft_buf_puts(b, "{\"intValue\":\"");
        ft_buf_put_i64(b, v->u.i);
        ft_buf_putc(b, '"');
        break;
    case FT_VAL_DOUBLE:
        ft_buf_puts(b, "{\"doubleValue\":");
        ft_json_double(b, v->u.d);
        break;
    case FT_VAL_BYTES: {
        static const char tbl[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        ft_buf_puts(b, "{\"bytesValue\":\"");
        const unsigned char *p = (const unsigned char *)v->u.s.ptr;
        size_t n = v->u.s.len;
        for (size_t i = 0; i < n; i += 3) {
            uint32_t x = (uint32_t)p[i] << 16;
            if (i + 1 < n)
                x |= (uint32_t)p[i + 1] << 8;
            if (i + 2 < n)
                x |= p[i + 2];
            char q[4] = {tbl[x >> 18 & 63], tbl[x >> 12 & 63],
                         i + 1 < n ? tbl[x >> 6 & 63] : '=',
                         i + 2 < n ? tbl[x & 63] : '='};
            ft_buf_put(b, q, 4);
        }
        ft_buf_putc(b, '"');
        break;
    }
    case FT_VAL_ARRAY:
        ft_buf_puts(b, "{\"arrayValue\":{\"values\":[");
        for (size_t i = 0; i < v->u.array.n; i++) {
            if (i)
                ft_buf_putc(b, ',');
            ft_json_anyvalue(b, &v->u.array.items[i], depth + 1);
        }
        ft_buf_puts(b, "]}");
        break;
    case FT_VAL_KVLIST:
        ft_buf_puts(b, "{\"kvlistValue\":{\"values\":");
        ft_json_attrs(b, (ft_attrs){v->u.kvlist.items, v->u.kvlist.n});
        ft_buf_putc(b, '}');
        break;
    case FT_VAL_EMPTY:
        ft_buf_putc(b, '{');
        break;
    }
    ft_buf_putc(b, '}');
}

void ft_json_attrs(ft_buf *b, ft_attrs attrs)
{
    ft_buf_putc(b, '[');
    for (size_t i = 0; i < attrs.n; i++) {
        if (i)
            ft_buf_putc(b, ',');
        ft_buf_puts(b, "{\"key\":");
        ft_json_str(b, attrs.items[i].key);
        ft_buf_puts(b, ",\"value\":");
        ft_json_anyvalue(b, &attrs.items[i].value, 0);
        ft_buf_putc(b, '}');
    }
    ft_buf_putc(b, ']');
}

void ft_iso8601_ms(uint64_t ns, char out[25])
{
    uint64_t ms = ns / 1000000u;
    time_t secs = (time_t)(ms / 1000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)tm.tm_mon + 1,
             (unsigned)tm.tm_mday, (unsigned)tm.tm_hour, (unsigned)tm.tm_min,
             (unsigned)tm.tm_sec, (unsigned)(ms % 1000u));
    memcpy(out, tmp, 24);
    out[24] = '\0';
}
