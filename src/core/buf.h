/*
 * buf.h - a growable byte buffer and a JSON writer on top of it (private).
 *
 * The buffer grows through ft_realloc; after the first failed allocation it
 * is marked failed, further appends are no-ops and ft_buf_ok() is false, so
 * writers check once at the end instead of after every append.
 */
#ifndef FT_BUF_H
#define FT_BUF_H

#include "fedtrace/span.h"

typedef struct ft_buf {
    char *ptr;
    size_t len, cap;
    bool failed;
} ft_buf;

void ft_buf_free(ft_buf *b);
void ft_buf_reset(ft_buf *b); /* len = 0, keeps memory, clears failure */
bool ft_buf_ok(const ft_buf *b);
void ft_buf_put(ft_buf *b, const void *p, size_t n);
void ft_buf_putc(ft_buf *b, char c);
void ft_buf_puts(ft_buf *b, const char *s);
void ft_buf_printf(ft_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
ft_str ft_buf_str(const ft_buf *b);
/* Length of the valid UTF-8 sequence at p (1..4; none of the surrogates
 * or overlong forms), 0 when invalid or cut short by n. */
size_t ft_utf8_len(const unsigned char *p, size_t n);
/* The contents as a C string (a NUL after them, not counted); NULL when
 * out of memory. */
const char *ft_buf_cstr(ft_buf *b);

/* A JSON string literal with quotes.  Escapes as JSON.stringify does
 * (\" \\ \b \f \n \r \t, other controls as \u00XX); invalid UTF-8 becomes
 * U+FFFD so that the output is always valid JSON. */
/* decimal digits, no printf */
void ft_buf_put_u64(ft_buf *b, uint64_t v);
void ft_buf_put_i64(ft_buf *b, int64_t v);
void ft_json_str(ft_buf *b, ft_str s);
void ft_json_cstr(ft_buf *b, const char *s);
/* "key": with a leading comma unless *first; clears *first. */
void ft_json_key(ft_buf *b, bool *first, const char *key);
void ft_json_u64_str(ft_buf *b, uint64_t v); /* "123" (quoted, OTLP JSON) */
void ft_json_double(ft_buf *b, double d);    /* as JSON.stringify: NaN -> null */
/* OTLP JSON AnyValue / KeyValue list. */
void ft_json_anyvalue(ft_buf *b, const ft_value *v, int depth);
void ft_json_attrs(ft_buf *b, ft_attrs attrs);
/* ISO 8601 with milliseconds, UTC: 2026-11-21T23:16:20.631Z (24 chars +
 * NUL), from nanoseconds since the epoch, truncated to the millisecond. */
void ft_iso8601_ms(uint64_t ns, char out[25]);

#endif
