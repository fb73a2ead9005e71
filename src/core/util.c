/* util.c - string slices, hex, the clock, enum names. */
#include "fedtrace/span.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

ft_str ft_str_c(const char *s)
{
    return (ft_str){s ? s : "", s ? strlen(s) : 0};
}

bool ft_str_eq(ft_str a, ft_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool ft_str_eq_c(ft_str a, const char *s)
{
    return ft_str_eq(a, ft_str_c(s));
}

static int64_t (*_Atomic clock_fn)(void);

void ft_clock_set(int64_t (*fn)(void))
{
    atomic_store(&clock_fn, fn);
}

int64_t ft_now_ms(void)
{
    int64_t (*fn)(void) = atomic_load(&clock_fn);
    if (fn != NULL)
        return fn();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ft_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int ft_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool ft_hex_decode(ft_str hex, uint8_t *out, size_t n)
{
    if (hex.len != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = ft_hex_value(hex.ptr[2 * i]), lo = ft_hex_value(hex.ptr[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

bool ft_bytes_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

const ft_value *ft_attrs_get(ft_attrs attrs, const char *key)
{
    ft_str k = ft_str_c(key);
    for (size_t i = attrs.n; i-- > 0;)
        if (ft_str_eq(attrs.items[i].key, k))
            return &attrs.items[i].value;
    return NULL;
}

const char *ft_span_kind_name(ft_span_kind kind)
{
    static const char *const names[] = {"UNSPECIFIED", "INTERNAL", "SERVER",
                                        "CLIENT", "PRODUCER", "CONSUMER"};
    if ((unsigned)kind < sizeof names / sizeof names[0])
        return names[kind];
    return "UNSPECIFIED";
}

const char *ft_status_code_name(ft_status_code code)
{
    switch (code) {
    case FT_STATUS_OK:
        return "OK";
    case FT_STATUS_ERROR:
        return "ERROR";
    case FT_STATUS_UNSET:
        break;
    }
    return "UNSET";
}

bool ft_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    /* walk the expected length whatever the input, so that timing says
     * nothing about how much of a guess was right */
    const volatile unsigned char *x = a, *y = b;
    unsigned diff = alen != blen;
    for (size_t i = 0; i < blen; i++)
        diff |= (unsigned)(i < alen ? x[i] : 0) ^ y[i];
    return diff == 0;
}

uint64_t ft_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

const char *ft_memfind(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0)
        return hay;
    for (const char *p = hay; m <= n && p <= hay + (n - m); p++) {
        p = memchr(p, needle[0], (size_t)(hay + (n - m) - p) + 1);
        if (p == NULL)
            return NULL;
        if (memcmp(p, needle, m) == 0)
            return p;
    }
    return NULL;
}
