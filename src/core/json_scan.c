/* json_scan.c - a validating JSON scanner that builds no tree. */
#include "core/json_scan.h"

#include <string.h>

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The four hex digits at p; -1 when they are not. */
static long hex4(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit((unsigned char)p[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* A \u escape at p (the backslash), a surrogate pair taken whole; returns
 * the end and the code point, or NULL. */
static const char *unicode_escape(const char *p, const char *end, unsigned long *cp)
{
    long hi = hex4(p + 2, end);
    if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF))
        return NULL;
    p += 6;
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        long lo = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2, end) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return NULL;
        p += 6;
        *cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
    } else {
        *cp = (unsigned long)hi;
    }
    return p;
}

/* A string at p (its opening quote); returns the end after the closing
 * quote, or NULL. */
static const char *scan_string(const char *p, const char *end)
{
    p++;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (end - p < 2)
                return NULL;
            char e = p[1];
            if (e == 'u') {
                unsigned long cp;
                if ((p = unicode_escape(p, end, &cp)) == NULL)
                    return NULL;
                continue;
            }
            if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' &&
                e != 'r' && e != 't')
                return NULL;
            p += 2;
        } else if (c < 0x80) {
            p++;
        } else {
            size_t l = ft_utf8_len((const unsigned char *)p, (size_t)(end - p));
            if (l == 0)
                return NULL;
            p += l;
        }
    }
    return NULL;
}

static const char *digits(const char *p, const char *end)
{
    const char *start = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p > start ? p : NULL;
}

static const char *scan_number(const char *p, const char *end)
{
    if (*p == '-')
        p++;
    if (p >= end)
        return NULL;
    if (*p == '0')
        p++;
    else if (*p < '1' || *p > '9' || (p = digits(p, end)) == NULL)
        return NULL;
    if (p < end && *p == '.' && (p = digits(p + 1, end)) == NULL)
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        p = digits(p, end);
    }
    return p;
}

static const char *scan_literal(const char *p, const char *end, const char *lit, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

/* A scalar (string, number, literal) at p; its end, or NULL. */
static const char *scan_scalar(const char *p, const char *end)
{
    switch (*p) {
    case '"':
        return scan_string(p, end);
    case 't':
        return scan_literal(p, end, "true", 4);
    case 'f':
        return scan_literal(p, end, "false", 5);
    case 'n':
        return scan_literal(p, end, "null", 4);
    default:
        return (*p == '-' || (*p >= '0' && *p <= '9')) ? scan_number(p, end) : NULL;
    }
}

/* A member's key and colon at p; returns where its value starts, or NULL. */
static const char *member_key(const char *p, const char *end, ft_str *key)
{
    if (p >= end || *p != '"')
        return NULL;
    const char *k = p;
    if ((p = scan_string(p, end)) == NULL)
        return NULL;
    if (key != NULL)
        *key = (ft_str){k, (size_t)(p - k)};
    p = ws(p, end);
    if (p >= end || *p != ':')
        return NULL;
    return ws(p + 1, end);
}

/* ft_json_skip for a value `base` levels down in its document. */
static const char *skip_at(const char *p, const char *end, ft_str *value, size_t base)
{
    p = ws(p, end);
    const char *start = p;
    if (p < end && *p != '{' && *p != '[') { /* a scalar: no stack needed */
        if (base >= FT_JSON_MAX_DEPTH || (p = scan_scalar(p, end)) == NULL)
            return NULL;
        if (value != NULL)
            *value = (ft_str){start, (size_t)(p - start)};
        return ws(p, end);
    }
    /* containers open: one bit each, set for an object */
    unsigned char open[FT_JSON_MAX_DEPTH / 8] = {0};
    size_t depth = 0;
    for (;;) {
        if (p >= end)
            return NULL;
        if (*p == '{' || *p == '[') {
            bool obj = *p == '{';
            if (base + depth >= FT_JSON_MAX_DEPTH)
                return NULL;
            if (obj)
                open[depth / 8] |= (unsigned char)(1u << (depth % 8));
            else
                open[depth / 8] &= (unsigned char)~(1u << (depth % 8));
            depth++;
            p = ws(p + 1, end);
            if (p < end && *p == (obj ? '}' : ']')) {
                p++;
                depth--;
            } else {
                if (obj && (p = member_key(p, end, NULL)) == NULL)
                    return NULL;
                continue;
            }
        } else if (base + depth >= FT_JSON_MAX_DEPTH || (p = scan_scalar(p, end)) == NULL) {
            return NULL; /* a scalar is a level too, as jansson counts */
        }
        /* after a value: close containers, or go on to the next element */
        for (;;) {
            if (depth == 0) {
                if (value != NULL)
                    *value = (ft_str){start, (size_t)(p - start)};
                return ws(p, end);
            }
            bool obj = open[(depth - 1) / 8] >> ((depth - 1) % 8) & 1u;
            p = ws(p, end);
            if (p < end && *p == ',') {
                p = ws(p + 1, end);
                if (obj && (p = member_key(p, end, NULL)) == NULL)
                    return NULL;
                break;
            }
            if (p < end && *p == (obj ? '}' : ']')) {
                p++;
                depth--;
                continue;
            }
            return NULL;
        }
    }
}

const char *ft_json_skip(const char *p, const char *end, ft_str *value)
{
    return skip_at(p, end, value, 0);
}

bool ft_json_valid(ft_str text)
{
    const char *end = text.ptr + text.len;
    return text.len > 0 && ft_json_skip(text.ptr, end, NULL) == end;
}

bool ft_json_members(ft_str text, ft_json_iter *it)
{
    const char *end = text.ptr + text.len;
    const char *p = text.len ? ws(text.ptr, end) : end;
    *it = (ft_json_iter){p + 1, end, true, false, false};
    if (p >= end || *p != '{') {
        it->done = it->failed = true;
        return false;
    }
    return true;
}

bool ft_json_next(ft_json_iter *it, ft_str *key, ft_str *value)
{
    if (it->done)
        return false;
    const char *p = ws(it->p, it->end);
    if (p < it->end && *p == '}') {
        it->done = true;
        it->failed = ws(p + 1, it->end) != it->end;
        return false;
    }
    if (!it->first) {
        if (p >= it->end || *p != ',')
            goto bad;
        p = ws(p + 1, it->end);
    }
    it->first = false;
    if ((p = member_key(p, it->end, key)) == NULL ||
        (p = skip_at(p, it->end, value, 1)) == NULL)
        goto bad;
    it->p = p;
    return true;
bad:
    it->done = it->failed = true;
    return false;
}

bool ft_json_plain(ft_str value)
{
    return value.len >= 2 && memchr(value.ptr + 1, '\\', value.len - 2) == NULL;
}

bool ft_json_key_is(ft_str key, const char *name)
{
    size_t n = strlen(name);
    if (key.len < 2)
        return false;
    if (ft_json_plain(key))
        return key.len - 2 == n && memcmp(key.ptr + 1, name, n) == 0;
    ft_buf b = {0}; /* an escaped key: rare */
    bool eq = ft_json_unescape(key, &b) && ft_buf_ok(&b) && b.len == n &&
              (n == 0 || memcmp(b.ptr, name, n) == 0);
    ft_buf_free(&b);
    return eq;
}

bool ft_json_member(ft_str obj, const char *name, ft_str *value)
{
    ft_json_iter it;
    ft_str k, v;
    bool found = false;
    if (!ft_json_members(obj, &it))
        return false;
    while (ft_json_next(&it, &k, &v))
        if (ft_json_key_is(k, name)) {
            *value = v;
            found = true;
        }
    return found && !it.failed;
}

char ft_json_kind(ft_str value)
{
    if (value.len == 0)
        return '\0';
    char c = value.ptr[0];
    return c == '-' || (c >= '0' && c <= '9') ? '0' : c;
}

static void put_utf8(ft_buf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    ft_buf_put(b, u, n);
}

bool ft_json_unescape(ft_str value, ft_buf *out)
{
    if (ft_json_kind(value) != '"' || value.len < 2)
        return false;
    const char *p = value.ptr + 1, *end = value.ptr + value.len - 1;
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        if (bs == NULL) {
            ft_buf_put(out, p, (size_t)(end - p));
            break;
        }
        ft_buf_put(out, p, (size_t)(bs - p));
        if (end - bs < 2)
            return false;
        char e = bs[1];
        if (e == 'u') {
            unsigned long cp;
            if ((p = unicode_escape(bs, end, &cp)) == NULL)
                return false;
            put_utf8(out, cp);
            continue;
        }
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *at = e != '\0' ? strchr(from, e) : NULL;
        if (at == NULL)
            return false;
        ft_buf_putc(out, to[at - from]);
        p = bs + 2;
    }
    return true;
}
