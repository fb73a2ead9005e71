/*
 * kv_postgres.c - the shared store on PostgreSQL (libpq, blocking API).
 *
 * Table: Fedify's PostgresKvStore layout, so that Fedify reads what
 * fedtrace writes and the other way round (default name "fedify_kv_v2",
 * ?table= to change it):
 *
 *   key     text[] PRIMARY KEY     the tuple, one element per part
 *   value   jsonb NOT NULL         the value (see "Values")
 *   created timestamptz            when the value was written
 *   ttl     interval               NULL: never expires
 *
 * A row is live while ttl IS NULL OR created + ttl > CURRENT_TIMESTAMP
 * (the server's clock); reads skip the others and ft_kv_sweep deletes them
 * in chunks.  Nothing else deletes expired rows (Fedify purges the whole
 * table on every write; fedtrace does not).
 *
 * Keys: a part that is valid UTF-8 without U+0000, U+0001, U+007F and
 * U+10FFFF is stored as it is (every key Fedify writes).  Otherwise those
 * characters and the bytes that are not UTF-8 are escaped:
 *
 *   0x00 -> 01 01     0x01 -> 01 02     0x7F -> 7F 01
 *   a stray byte b in 80..F4 -> 7F 02 HEX(b)
 *   U+10FFFF -> F4 8F BF BF 01     a byte b in F5..FF -> F4 8F BF BF 02 HEX(b)
 *
 * (HEX: two upper-case hex digits.)  The code of each character is
 * ordered like the character and no code is a prefix of another, so under
 * byte order ("C" collation) escaped parts sort as the raw bytes do; the
 * exception is an invalid sequence that starts with a lead byte C2..F4,
 * which sorts just above U+007F instead of among the characters sharing
 * its lead byte.
 *
 * Order: text[] compares element by element and a shorter array first, so
 * under byte order it is tuple order.  When the key column's collation is
 * not byte order (a database created with a libc or ICU locale other than
 * C/POSIX), fedtrace creates "<table>_key_c", an index on key COLLATE "C",
 * and its ordered statements compare key COLLATE "C".  A prefix P is the
 * range P <= key < P || {NULL}: array comparison puts a NULL element after
 * every string, so that bound is above every extension of P and below
 * every key whose first parts are greater.
 *
 * Values: bytes that are a JSON text jsonb accepts are stored as that JSON
 * (jsonb normalises spacing and number spelling, so a read returns the
 * same JSON value, perhaps not the same bytes).  Anything else -- text
 * that is not JSON, binary, JSON with \u0000, absurd numbers, deep nesting,
 * and JSON objects that themselves use the marker key -- is stored as
 * {"fedtrace:base64": "<base64 of the bytes>"} and read back byte for
 * byte.  CAS compares jsonb values, so JSON compares as JSON and wrapped
 * bytes compare exactly.  The values a batch marks compressible (spans,
 * logs: only fedtrace reads them) go in as zstd frames when that saves an
 * eighth (compress=0: as JSON), so wrapped; a value that starts with the
 * frame magic is always a frame, reads decompress every frame, and a CAS
 * of such a value is refused.
 *
 * Connection: one per handle; every statement is prepared once per
 * connection; a batch of several operations is one pipeline (one round
 * trip) and one implicit transaction, its rows written in key order (so
 * concurrent batches cannot deadlock on each other) and sent again, up to
 * three times, when PostgreSQL still rolls it back for a deadlock or a
 * serialization failure.  A call that loses the connection
 * fails with FT_BACKEND; the next call reconnects (PQreset), at most once
 * per backoff period (100 ms doubling to 5 s).
 */
#include "core/buf.h"
#include "core/config.h"
#include "kv/kv_int.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_TABLE "fedify_kv_v2"
#define MARKER "fedtrace:base64"
#define DEFAULT_CONNECT_TIMEOUT "10"
#define DEFAULT_STATEMENT_TIMEOUT_MS 30000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define SWEEP_CHUNK 4096
#define STATS_COUNT_CAP 100000
#define TABLE_NAME_MAX 56 /* room for "_key_c" within NAMEDATALEN - 1 */
#define JSON_MAX_DEPTH 512
#define JSON_MAX_NUMBER 1000 /* characters */
#define JSON_MAX_EXPONENT 999

/* type OIDs (pg_type.dat) */
#define OID_INT8 20
#define OID_TEXT 25
#define OID_JSONB 3802
#define OID_TEXT_ARRAY 1009

#define LIVE "(ttl IS NULL OR created + ttl > CURRENT_TIMESTAMP)"
#define EXPIRED "(ttl IS NOT NULL AND created + ttl <= CURRENT_TIMESTAMP)"
#define TTL_EXPR(n) "$" #n "::float8 * INTERVAL '1 millisecond'"

typedef struct pg_state {
    PGconn *conn;
    char *conninfo;
    char table[TABLE_NAME_MAX + 1];
    char qtable[TABLE_NAME_MAX + 3]; /* "table" */
    bool unlogged;
    bool compress; /* compressible values as zstd frames (compress=1, the default) */
    bool collate_c; /* ordered statements need key COLLATE "C" */
    int64_t statement_timeout_ms;
    bool ready;     /* connected and statements prepared */
    bool broken;    /* the session is in an unknown state: reset it */
    int64_t retry_at;
    int64_t backoff_ms;
    char last_error[256];
} pg_state;

/* ---- small helpers ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void put_be64(unsigned char *p, int64_t v)
{
    put_be32(p, (uint32_t)((uint64_t)v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static int64_t get_be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)get_be32(p) << 32 | get_be32(p + 4));
}

/* ---- key parts <-> text ---- */

static const char hex_digits[] = "0123456789ABCDEF";
static const unsigned char top_char[4] = {0xF4, 0x8F, 0xBF, 0xBF}; /* U+10FFFF */

/* Escapes one part (see the top of the file); writes to out when it is not
 * NULL and returns the length either way. */
static size_t part_escape(ft_str part, unsigned char *out)
{
    const unsigned char *p = (const unsigned char *)part.ptr;
    size_t n = part.len, w = 0;
#define PUT(b)                                                               \
    do {                                                                     \
        if (out)                                                             \
            out[w] = (unsigned char)(b);                                     \
        w++;                                                                 \
    } while (0)
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t l;
        if (c == 0x00 || c == 0x01) {
            PUT(0x01);
            PUT(c + 1);
            i++;
        } else if (c == 0x7F) {
            PUT(0x7F);
            PUT(0x01);
            i++;
        } else if (c < 0x80) {
            PUT(c);
            i++;
        } else if ((l = ft_utf8_len(p + i, n - i)) == 4 &&
                   memcmp(p + i, top_char, 4) == 0) {
            for (size_t j = 0; j < 4; j++)
                PUT(top_char[j]);
            PUT(0x01);
            i += 4;
        } else if (l > 0) {
            for (size_t j = 0; j < l; j++)
                PUT(p[i + j]);
            i += l;
        } else {
            if (c >= 0xF5)
                for (size_t j = 0; j < 4; j++)
                    PUT(top_char[j]);
            else
                PUT(0x7F);
            PUT(0x02);
            PUT(hex_digits[c >> 4]);
            PUT(hex_digits[c & 15]);
            i++;
        }
    }
#undef PUT
    return w;
}

static int hex_value(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return -1;
}

/* Undoes part_escape into out (room: n bytes); returns the length.  A
 * malformed escape (a key written by someone else) is kept literally. */
static size_t part_unescape(const unsigned char *p, size_t n, char *out)
{
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t esc = 0; /* length of the escape introducer at p[i] */
        if (c == 0x01 || c == 0x7F)
            esc = 1;
        else if (c == 0xF4 && n - i >= 4 && memcmp(p + i, top_char, 4) == 0)
            esc = 4;
        if (esc && i + esc < n) {
            unsigned k = p[i + esc];
            if (c == 0x01 && (k == 0x01 || k == 0x02)) {
                out[w++] = (char)(k - 1);
                i += 2;
                continue;
            }
            if (c != 0x01 && k == 0x01) {
                memcpy(out + w, p + i, esc);
                w += esc;
                i += esc + 1;
                continue;
            }
            if (c != 0x01 && k == 0x02 && i + esc + 2 < n) {
                int hi = hex_value(p[i + esc + 1]), lo = hex_value(p[i + esc + 2]);
                unsigned b = (unsigned)(hi * 16 + lo);
                if (hi >= 0 && lo >= 0 && b >= 0x80 &&
                    (esc == 1 ? b <= 0xF4 : b >= 0xF5)) {
                    out[w++] = (char)b;
                    i += esc + 3;
                    continue;
                }
            }
        }
        out[w++] = (char)c;
        i++;
    }
    return w;
}

/* A key as a binary text[] parameter (array_recv's format), optionally with
 * a NULL element appended (the upper bound of a prefix). */
static size_t key_param_len(ft_kv_key k, bool null_tail)
{
    size_t n = 12;
    if (k.n + null_tail > 0)
        n += 8;
    for (size_t i = 0; i < k.n; i++)
        n += 4 + part_escape(k.parts[i], NULL);
    return n + (null_tail ? 4 : 0);
}

static void key_param_write(ft_kv_key k, bool null_tail, unsigned char *d)
{
    size_t elems = k.n + (null_tail ? 1 : 0);
    put_be32(d, elems ? 1 : 0);  /* dimensions */
    put_be32(d + 4, null_tail);  /* has nulls */
    put_be32(d + 8, OID_TEXT);
    d += 12;
    if (elems) {
        put_be32(d, (uint32_t)elems);
        put_be32(d + 4, 1); /* lower bound */
        d += 8;
    }
    for (size_t i = 0; i < k.n; i++) {
        size_t l = part_escape(k.parts[i], d + 4);
        put_be32(d, (uint32_t)l);
        d += 4 + l;
    }
    if (null_tail)
        put_be32(d, 0xFFFFFFFFu);
}

/* A binary text[] result (array_send's format) into arena parts. */
static ft_code key_from_result(const unsigned char *p, size_t n,
                               ft_arena *arena, ft_kv_key *out, ft_err *err)
{
    if (n < 12)
        goto corrupt;
    uint32_t ndim = get_be32(p);
    if (ndim == 0) {
        *out = (ft_kv_key){NULL, 0};
        return FT_OK;
    }
    if (ndim != 1 || n < 20)
        goto corrupt;
    uint32_t count = get_be32(p + 12);
    if (count > n / 4)
        goto corrupt;
    ft_str *parts = ft_arena_alloc(arena, (count ? count : 1) * sizeof *parts);
    char *buf = ft_arena_alloc(arena, n);
    if (parts == NULL || buf == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory reading a key");
    size_t off = 20, w = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (n - off < 4)
            goto corrupt;
        uint32_t len = get_be32(p + off);
        off += 4;
        if (len == 0xFFFFFFFFu || len > n - off)
            goto corrupt;
        size_t l = part_unescape(p + off, len, buf + w);
        parts[i] = (ft_str){buf + w, l};
        w += l;
        off += len;
    }
    *out = (ft_kv_key){parts, count};
    return FT_OK;
corrupt:
    return ft_err_set(err, FT_CORRUPT, 0, "postgres: a stored key is not a text array");
}

/* ---- values <-> jsonb ---- */

/*
 * A validating JSON scanner: accepts exactly the JSON texts that jsonb
 * stores without complaint (RFC 8259, minus \u0000, numbers numeric cannot
 * hold and nesting deeper than JSON_MAX_DEPTH), and notes whether the top
 * level is an object with the marker key.
 */
typedef struct jscan {
    const unsigned char *p, *end;
    bool marker;
} jscan;

static void js_ws(jscan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static bool js_hex4(const unsigned char *p, const unsigned char *end,
                    unsigned *out)
{
    if (end - p < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        int d = hex_value(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
        if (d < 0)
            return false;
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return true;
}

/* A string at s->p (the opening quote).  With key != NULL, *key_is_marker
 * tells whether its decoded value is the marker. */
static bool js_string(jscan *s, bool *key_is_marker)
{
    static const char marker[] = MARKER;
    size_t mlen = sizeof marker - 1, k = 0;
    bool match = true;
    s->p++;
    while (s->p < s->end) {
        unsigned c = *s->p, cp;
        size_t l;
        if (c == '"') {
            s->p++;
            if (key_is_marker)
                *key_is_marker = match && k == mlen;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (s->end - s->p < 2)
                return false;
            unsigned e = s->p[1];
            if (e == 'u') {
                if (!js_hex4(s->p + 2, s->end, &cp) || cp == 0)
                    return false;
                s->p += 6;
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return false;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned low;
                    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
                        !js_hex4(s->p + 2, s->end, &low) || low < 0xDC00 ||
                        low > 0xDFFF)
                        return false;
                    s->p += 6;
                }
                /* the marker is ASCII: an escape matches only as ASCII */
                if (cp >= 0x80 || k >= mlen || (unsigned char)marker[k] != cp)
                    match = false;
                k++;
                continue;
            }
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *at = e != '\0' ? strchr(from, (int)e) : NULL;
            if (at == NULL)
                return false;
            char ch = to[at - from];
            if (k >= mlen || marker[k] != ch)
                match = false;
            k++;
            s->p += 2;
            continue;
        }
        if (c < 0x80) {
            if (k >= mlen || (unsigned char)marker[k] != c)
                match = false;
            k++;
            s->p++;
            continue;
        }
        if ((l = ft_utf8_len(s->p, (size_t)(s->end - s->p))) == 0)
            return false;
        match = false;
        k++;
        s->p += l;
    }
    return false;
}

static bool js_digits(jscan *s)
{
    const unsigned char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

static bool js_number(jscan *s)
{
    const unsigned char *start = s->p;
    if (*s->p == '-')
        s->p++;
    if (s->p >= s->end)
        return false;
    if (*s->p == '0')
        s->p++;
    else if (!js_digits(s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!js_digits(s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        const unsigned char *d = s->p;
        if (!js_digits(s))
            return false;
        long e = 0;
        for (; d < s->p; d++)
            if ((e = e * 10 + (*d - '0')) > JSON_MAX_EXPONENT)
                return false;
    }
    return s->p - start <= JSON_MAX_NUMBER;
}

static bool js_literal(jscan *s, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return false;
    s->p += n;
    return true;
}

static bool js_value(jscan *s, int depth)
{
    js_ws(s);
    if (s->p >= s->end)
        return false;
    switch (*s->p) {
    case '{':
    case '[': {
        bool obj = *s->p == '{';
        char close = obj ? '}' : ']';
        if (depth >= JSON_MAX_DEPTH)
            return false;
        s->p++;
        js_ws(s);
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return true;
        }
        for (;;) {
            if (obj) {
                js_ws(s);
                bool is_marker = false;
                if (s->p >= s->end || *s->p != '"' ||
                    !js_string(s, depth == 0 ? &is_marker : NULL))
                    return false;
                if (is_marker)
                    s->marker = true;
                js_ws(s);
                if (s->p >= s->end || *s->p != ':')
                    return false;
                s->p++;
            }
            if (!js_value(s, depth + 1))
                return false;
            js_ws(s);
            if (s->p < s->end && *s->p == ',') {
                s->p++;
                continue;
            }
            if (s->p < s->end && *s->p == close) {
                s->p++;
                return true;
            }
            return false;
        }
    }
    case '"':
        return js_string(s, NULL);
    case 't':
        return js_literal(s, "true");
    case 'f':
        return js_literal(s, "false");
    case 'n':
        return js_literal(s, "null");
    default:
        return js_number(s);
    }
}

/* True when v goes into jsonb as it is (see "Values" at the top). */
static bool value_is_json(ft_str v)
{
    jscan s = {(const unsigned char *)v.ptr, (const unsigned char *)v.ptr + v.len,
               false};
    if (v.len == 0 || !js_value(&s, 0))
        return false;
    js_ws(&s);
    return s.p == s.end && !s.marker;
}

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#define WRAP_HEAD "{\"" MARKER "\":\""
#define WRAP_TAIL "\"}"

/* The jsonb parameter for v (binary: version byte 1, then JSON text). */
static size_t value_param_len(ft_str v, bool json)
{
    if (json)
        return 1 + v.len;
    return 1 + strlen(WRAP_HEAD) + (v.len + 2) / 3 * 4 + strlen(WRAP_TAIL);
}

static void value_param_write(ft_str v, bool json, unsigned char *d)
{
    *d++ = 1;
    if (json) {
        if (v.len)
            memcpy(d, v.ptr, v.len);
        return;
    }
    memcpy(d, WRAP_HEAD, strlen(WRAP_HEAD));
    d += strlen(WRAP_HEAD);
    const unsigned char *p = (const unsigned char *)v.ptr;
    size_t i = 0;
    for (; i + 3 <= v.len; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *d++ = (unsigned char)b64_chars[x >> 18];
        *d++ = (unsigned char)b64_chars[(x >> 12) & 63];
        *d++ = (unsigned char)b64_chars[(x >> 6) & 63];
        *d++ = (unsigned char)b64_chars[x & 63];
    }
    if (i < v.len) {
        uint32_t x = (uint32_t)p[i] << 16;
        if (i + 1 < v.len)
            x |= (uint32_t)p[i + 1] << 8;
        *d++ = (unsigned char)b64_chars[x >> 18];
        *d++ = (unsigned char)b64_chars[(x >> 12) & 63];
        *d++ = i + 1 < v.len ? (unsigned char)b64_chars[(x >> 6) & 63] : '=';
        *d++ = '=';
    }
    memcpy(d, WRAP_TAIL, strlen(WRAP_TAIL));
}

static int b64_value(unsigned c)
{
    const char *q = c ? strchr(b64_chars, (int)c) : NULL;
    return q ? (int)(q - b64_chars) : -1;
}

/* Decodes base64 (with padding) into out; false when it is not that. */
static bool b64_decode(const unsigned char *p, size_t n, char *out,
                       size_t *out_len)
{
    if (n % 4 != 0)
        return false;
    size_t w = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            if (p[i + j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = b64_value(p[i + j])) < 0) {
                return false;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[w++] = (char)(x >> 16);
        if (pad < 2)
            out[w++] = (char)(x >> 8);
        if (pad < 1)
            out[w++] = (char)x;
    }
    *out_len = w;
    return true;
}

/* A binary jsonb result into arena bytes: unwrapped when it is the
 * marker object, else its JSON text. */
static ft_code value_from_result(const unsigned char *p, size_t n,
                                 ft_arena *arena, ft_str *out, ft_err *err)
{
    if (n < 1 || p[0] != 1)
        return ft_err_set(err, FT_CORRUPT, 0,
                          "postgres: a stored value is not jsonb version 1");
    p++;
    n--;
    /* jsonb prints a one-key object as {"key": "value"} */
    static const char head[] = "{\"" MARKER "\": \"";
    size_t hl = sizeof head - 1;
    if (n >= hl + 2 && memcmp(p, head, hl) == 0 && p[n - 2] == '"' &&
        p[n - 1] == '}') {
        char *buf = ft_arena_alloc(arena, n);
        size_t len;
        if (buf == NULL)
            return ft_err_set(err, FT_NOMEM, 0, "out of memory reading a value");
        if (b64_decode(p + hl, n - hl - 2, buf, &len)) {
            *out = (ft_str){buf, len};
            return ft_kv__is_frame(*out) ? ft_kv__decompress(arena, *out, out, err) : FT_OK;
        }
    }
    char *copy = ft_arena_memdup(arena, p, n);
    if (copy == NULL && n)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory reading a value");
    *out = (ft_str){copy ? copy : "", n};
    return FT_OK;
}

/* ---- statements ---- */

enum {
    ST_GET,
    ST_SET,
    ST_DEL,
    ST_LIST_FWD,
    ST_LIST_REV,
    ST_CAS_INSERT,
    ST_CAS_UPDATE,
    ST_CAS_DELETE,
    ST_CAS_ABSENT,
    ST_SWEEP,
    ST_STATS,
    ST_COUNT
};

static const char *const st_names[ST_COUNT] = {
    "fedtrace_get",        "fedtrace_set",        "fedtrace_del",
    "fedtrace_list_fwd",   "fedtrace_list_rev",   "fedtrace_cas_insert",
    "fedtrace_cas_update", "fedtrace_cas_delete", "fedtrace_cas_absent",
    "fedtrace_sweep",      "fedtrace_stats",
};

size_t ft_kv__postgres_list_sql(const char *qtable, bool collate_c,
                                bool reverse, char *buf, size_t cap);

/*
 * The list statement: $1 the prefix, $2 the cursor ('{}' forward or the
 * prefix's upper bound in reverse when there is none), $3 the limit (NULL:
 * none).  Exposed for the test that checks its plan.
 */
size_t ft_kv__postgres_list_sql(const char *qtable, bool collate_c,
                                bool reverse, char *buf, size_t cap)
{
    const char *k = collate_c ? "key COLLATE \"C\"" : "key";
    int n = snprintf(buf, cap,
                     "SELECT key, value FROM %s WHERE %s >= $1 AND %s < "
                     "array_append($1, NULL::text) AND %s %s $2 AND " LIVE
                     " ORDER BY %s%s LIMIT $3",
                     qtable, k, k, k, reverse ? "<" : ">", k,
                     reverse ? " DESC" : "");
    return n < 0 ? 0 : (size_t)n;
}

typedef struct stmt_def {
    int nparams;
    Oid types[4];
} stmt_def;

static const stmt_def st_defs[ST_COUNT] = {
    [ST_GET] = {1, {OID_TEXT_ARRAY}},
    [ST_SET] = {3, {OID_TEXT_ARRAY, OID_JSONB, OID_INT8}},
    [ST_DEL] = {1, {OID_TEXT_ARRAY}},
    [ST_LIST_FWD] = {3, {OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_INT8}},
    [ST_LIST_REV] = {3, {OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_INT8}},
    [ST_CAS_INSERT] = {3, {OID_TEXT_ARRAY, OID_JSONB, OID_INT8}},
    [ST_CAS_UPDATE] = {4, {OID_TEXT_ARRAY, OID_JSONB, OID_JSONB, OID_INT8}},
    [ST_CAS_DELETE] = {2, {OID_TEXT_ARRAY, OID_JSONB}},
    [ST_CAS_ABSENT] = {1, {OID_TEXT_ARRAY}},
    [ST_SWEEP] = {1, {OID_INT8}},
    [ST_STATS] = {0, {0}},
};

/* The SQL of statement i for this table, in buf. */
static void stmt_sql(const pg_state *st, int i, char *buf, size_t cap)
{
    const char *t = st->qtable;
    switch (i) {
    case ST_GET:
        snprintf(buf, cap, "SELECT value FROM %s WHERE key = $1 AND " LIVE, t);
        break;
    case ST_SET:
        snprintf(buf, cap,
                 "INSERT INTO %s (key, value, created, ttl) VALUES ($1, $2, "
                 "CURRENT_TIMESTAMP, " TTL_EXPR(3) ") ON CONFLICT (key) DO "
                 "UPDATE SET value = EXCLUDED.value, created = "
                 "EXCLUDED.created, ttl = EXCLUDED.ttl",
                 t);
        break;
    case ST_DEL:
        snprintf(buf, cap, "DELETE FROM %s WHERE key = $1", t);
        break;
    case ST_LIST_FWD:
    case ST_LIST_REV:
        ft_kv__postgres_list_sql(t, st->collate_c, i == ST_LIST_REV, buf, cap);
        break;
    case ST_CAS_INSERT:
        snprintf(buf, cap,
                 "INSERT INTO %s AS t (key, value, created, ttl) VALUES ($1, "
                 "$2, CURRENT_TIMESTAMP, " TTL_EXPR(3) ") ON CONFLICT (key) DO "
                 "UPDATE SET value = EXCLUDED.value, created = "
                 "EXCLUDED.created, ttl = EXCLUDED.ttl WHERE t.ttl IS NOT NULL "
                 "AND t.created + t.ttl <= CURRENT_TIMESTAMP",
                 t);
        break;
    case ST_CAS_UPDATE:
        snprintf(buf, cap,
                 "UPDATE %s SET value = $3, created = CURRENT_TIMESTAMP, ttl = "
                 TTL_EXPR(4) " WHERE key = $1 AND value = $2 AND " LIVE,
                 t);
        break;
    case ST_CAS_DELETE:
        snprintf(buf, cap,
                 "DELETE FROM %s WHERE key = $1 AND value = $2 AND " LIVE, t);
        break;
    case ST_CAS_ABSENT:
        snprintf(buf, cap, "SELECT 1 FROM %s WHERE key = $1 AND " LIVE, t);
        break;
    case ST_SWEEP:
        /* a TID scan over at most $1 expired rows; the condition is checked
         * again in case a row was rewritten meanwhile */
        snprintf(buf, cap,
                 "DELETE FROM %s WHERE ctid = ANY (ARRAY(SELECT ctid FROM %s "
                 "WHERE " EXPIRED " LIMIT $1)) AND " EXPIRED,
                 t, t);
        break;
    case ST_STATS:
        /* reltuples is -1 until the table is first vacuumed or analyzed;
         * then count, up to a cap */
        snprintf(buf, cap,
                 "SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::int8 "
                 "ELSE (SELECT count(*) FROM (SELECT 1 FROM %s LIMIT %d) s) "
                 "END, pg_total_relation_size(c.oid) FROM pg_class c WHERE "
                 "c.oid = '%s'::regclass",
                 t, STATS_COUNT_CAP, t);
        break;
    }
}

/* ---- errors ---- */

/* SQLSTATE as PostgreSQL packs it (six bits a character), the native code. */
static int sqlstate_code(const char *s)
{
    int v = 0;
    for (int i = 0; s != NULL && i < 5 && s[i]; i++)
        v |= ((s[i] - '0') & 0x3F) << (6 * i);
    return v;
}

/* libpq's message on one line: runs of newlines, tabs and spaces become
 * one space, none at the ends. */
static void trim_copy(char *dst, size_t cap, const char *src)
{
    size_t w = 0;
    bool space = false;
    for (const char *p = src ? src : ""; *p && w + 1 < cap; p++) {
        if (*p == '\n' || *p == '\t' || *p == ' ' || *p == '\r') {
            space = w > 0;
            continue;
        }
        if (space && w + 2 < cap)
            dst[w++] = ' ';
        space = false;
        dst[w++] = *p;
    }
    if (cap)
        dst[w < cap ? w : cap - 1] = '\0';
}

/* A failed call: lost connection -> FT_BACKEND and a reconnect next time;
 * otherwise the SQLSTATE decides. */
static ft_code pg_fail(pg_state *st, const PGresult *res, const char *what,
                       ft_err *err)
{
    char msg[400];
    if (st->conn == NULL || PQstatus(st->conn) != CONNECTION_OK) {
        trim_copy(msg, sizeof msg, st->conn ? PQerrorMessage(st->conn) : "");
        st->ready = false;
        st->retry_at = 0; /* reconnect at the next call */
        snprintf(st->last_error, sizeof st->last_error, "%.255s", msg);
        return ft_err_set(err, FT_BACKEND, 0,
                          "postgres %s: connection lost: %s", what,
                          msg[0] ? msg : "no details");
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary =
        res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    trim_copy(msg, sizeof msg,
              primary ? primary
                      : res ? PQresultErrorMessage(res) : PQerrorMessage(st->conn));
    ft_code code = FT_BACKEND;
    if (state != NULL) {
        if (strcmp(state, "53100") == 0)
            code = FT_FULL; /* disk_full */
        else if (strcmp(state, "54000") == 0 || strncmp(state, "22", 2) == 0)
            code = FT_INVAL; /* program_limit_exceeded, data exceptions */
        else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
                 strcmp(state, "55P03") == 0)
            code = FT_AGAIN; /* serialization, deadlock, lock not available */
    }
    return ft_err_set(err, code, sqlstate_code(state), "postgres %s: %s%s%s%s",
                      what, msg, state ? " (SQLSTATE " : "", state ? state : "",
                      state ? ")" : "");
}

/* ---- connection ---- */

/* Reads the results of a pipeline of n commands and its sync, then leaves
 * pipeline mode.  The first error wins. */
static ft_code pipeline_finish(pg_state *st, size_t n, const char *what,
                               ft_err *err)
{
    ft_code code = FT_OK;
    size_t seen = 0;
    bool last_null = false;
    for (;;) {
        PGresult *r = PQgetResult(st->conn);
        if (r == NULL) {
            if (PQstatus(st->conn) != CONNECTION_OK || last_null)
                break;
            last_null = true;
            continue;
        }
        last_null = false;
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        seen++;
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK &&
            s != PGRES_PIPELINE_ABORTED && code == FT_OK)
            code = pg_fail(st, r, what, err);
        PQclear(r);
    }
    if (code == FT_OK && (seen != n || PQstatus(st->conn) != CONNECTION_OK))
        code = pg_fail(st, NULL, what, err);
    if (PQexitPipelineMode(st->conn) != 1) {
        st->broken = true;
        st->ready = false;
        if (code == FT_OK)
            code = ft_err_set(err, FT_BACKEND, 0,
                              "postgres %s: cannot leave pipeline mode: %s",
                              what, PQerrorMessage(st->conn));
    }
    return code;
}

/* Per session: the statement timeout and every prepared statement, in one
 * round trip. */
static ft_code session_setup(pg_state *st, ft_err *err)
{
    char sql[1024], timeout[32];
    snprintf(timeout, sizeof timeout, "%lld", (long long)st->statement_timeout_ms);
    if (PQenterPipelineMode(st->conn) != 1)
        return pg_fail(st, NULL, "setup", err);
    const char *vals[1] = {timeout};
    bool sent = PQsendQueryParams(st->conn,
                                  "SELECT set_config('statement_timeout', $1, false)",
                                  1, NULL, vals, NULL, NULL, 0) == 1;
    size_t n = sent ? 1 : 0;
    for (int i = 0; i < ST_COUNT && sent; i++) {
        stmt_sql(st, i, sql, sizeof sql);
        sent = PQsendPrepare(st->conn, st_names[i], sql, st_defs[i].nparams,
                             st_defs[i].types) == 1;
        n += sent;
    }
    if (!sent || PQpipelineSync(st->conn) != 1) {
        ft_code code = pg_fail(st, NULL, "setup", err);
        st->broken = true;
        PQexitPipelineMode(st->conn);
        return code;
    }
    return pipeline_finish(st, n, "setup", err);
}

/* Runs one statement with text parameters and text results; NULL and an
 * error on failure. */
static PGresult *exec_text(pg_state *st, const char *sql, int n,
                           const char *const *vals, const char *what,
                           ft_code *code, ft_err *err)
{
    PGresult *r = PQexecParams(st->conn, sql, n, NULL, vals, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return r;
    *code = pg_fail(st, r, what, err);
    PQclear(r);
    return NULL;
}

/* Runs DDL under a transaction-scoped advisory lock on the table name, so
 * that handles opening at once do not race to create it. */
static ft_code locked_ddl(pg_state *st, const char *ddl, ft_err *err)
{
    ft_code code = FT_OK;
    const char *vals[1] = {st->table};
    PGresult *r = exec_text(st, "BEGIN", 0, NULL, "begin", &code, err);
    PQclear(r);
    if (r == NULL)
        return code;
    r = exec_text(st,
                  "SELECT pg_advisory_xact_lock(hashtext('fedtrace kv ' || $1))",
                  1, vals, "lock", &code, err);
    if (r != NULL) {
        PQclear(r);
        r = exec_text(st, ddl, 0, NULL, "creating the table", &code, err);
    }
    if (r != NULL) {
        PQclear(r);
        r = exec_text(st, "COMMIT", 0, NULL, "commit", &code, err);
        PQclear(r);
        return r ? FT_OK : code;
    }
    PQclear(PQexec(st->conn, "ROLLBACK"));
    return code;
}

/* First connection only: the table (created when missing, checked when
 * present), its collation, and the "C" index when one is needed. */
static ft_code table_setup(pg_state *st, ft_err *err)
{
    ft_code code = FT_OK;
    const char *vals[1] = {st->qtable};
    PGresult *r = exec_text(st, "SELECT to_regclass($1) IS NOT NULL", 1, vals,
                            "looking up the table", &code, err);
    if (r == NULL)
        return code;
    bool exists = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    char sql[1024];
    if (!exists) {
        /* Fedify's DDL (its table is UNLOGGED; fedtrace's is logged unless
         * ?unlogged=true, so that a crash loses nothing that was stored) */
        snprintf(sql, sizeof sql,
                 "CREATE %sTABLE IF NOT EXISTS %s (key text[] PRIMARY KEY, "
                 "value jsonb NOT NULL, created timestamp with time zone "
                 "DEFAULT CURRENT_TIMESTAMP, ttl interval)",
                 st->unlogged ? "UNLOGGED " : "", st->qtable);
        if ((code = locked_ddl(st, sql, err)) != FT_OK)
            return code;
    }
    r = exec_text(st,
                  "SELECT format_type(k.atttypid, k.atttypmod), "
                  "format_type(v.atttypid, v.atttypmod), coll.collname, "
                  "d.datlocprovider, d.datcollate "
                  "FROM pg_attribute k JOIN pg_collation coll ON coll.oid = "
                  "k.attcollation JOIN pg_attribute v ON v.attrelid = "
                  "k.attrelid AND v.attname = 'value', pg_database d "
                  "WHERE k.attrelid = $1::regclass AND k.attname = 'key' AND "
                  "d.datname = current_database()",
                  1, vals, "checking the table", &code, err);
    if (r == NULL)
        return code;
    if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), "text[]") != 0 ||
        strcmp(PQgetvalue(r, 0, 1), "jsonb") != 0) {
        PQclear(r);
        return ft_err_set(err, FT_INVAL, 0,
                          "postgres: table %s exists but has no key text[] and "
                          "value jsonb columns (not a Fedify key-value table)",
                          st->table);
    }
    const char *coll = PQgetvalue(r, 0, 2), *prov = PQgetvalue(r, 0, 3),
               *dcoll = PQgetvalue(r, 0, 4);
    bool bytewise = strcmp(coll, "C") == 0 || strcmp(coll, "POSIX") == 0 ||
                    (strcmp(coll, "default") == 0 && strcmp(prov, "c") == 0 &&
                     (strcmp(dcoll, "C") == 0 || strcmp(dcoll, "POSIX") == 0));
    PQclear(r);
    st->collate_c = !bytewise;
    if (bytewise)
        return FT_OK;
    r = exec_text(st,
                  "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a "
                  "ON a.attrelid = i.indrelid AND a.attname = 'key' JOIN "
                  "pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid "
                  "= ic.relam WHERE i.indrelid = $1::regclass AND am.amname = "
                  "'btree' AND i.indkey[0] = a.attnum AND i.indexprs IS NULL "
                  "AND i.indpred IS NULL AND i.indisvalid AND i.indcollation[0] "
                  "IN (SELECT oid FROM pg_collation WHERE collname IN ('C', "
                  "'POSIX') AND collnamespace = 'pg_catalog'::regnamespace))",
                  1, vals, "looking up the \"C\" index", &code, err);
    if (r == NULL)
        return code;
    bool has_index = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (has_index)
        return FT_OK;
    snprintf(sql, sizeof sql,
             "CREATE INDEX IF NOT EXISTS \"%s_key_c\" ON %s (key COLLATE \"C\")",
             st->table, st->qtable);
    return locked_ddl(st, sql, err);
}

/* Makes sure the session is usable: reconnects (bounded backoff) and
 * prepares the statements when needed. */
static ft_code pg_ready(pg_state *st, ft_err *err)
{
    if (st->ready && !st->broken && PQstatus(st->conn) == CONNECTION_OK)
        return FT_OK;
    int64_t now = mono_ms();
    if (now < st->retry_at)
        return ft_err_set(err, FT_BACKEND, 0,
                          "postgres: not connected (%s); next attempt in %lld ms",
                          st->last_error, (long long)(st->retry_at - now));
    st->ready = false;
    st->broken = false;
    PQreset(st->conn);
    ft_code code;
    if (PQstatus(st->conn) != CONNECTION_OK) {
        trim_copy(st->last_error, sizeof st->last_error, PQerrorMessage(st->conn));
        code = ft_err_set(err, FT_BACKEND, 0, "postgres: cannot reconnect: %s",
                          st->last_error);
    } else {
        code = session_setup(st, err);
        if (code != FT_OK)
            snprintf(st->last_error, sizeof st->last_error, "%.255s",
                     err ? err->msg : "setup failed");
    }
    if (code != FT_OK) {
        st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (st->backoff_ms > BACKOFF_MAX_MS)
            st->backoff_ms = BACKOFF_MAX_MS;
        st->retry_at = mono_ms() + st->backoff_ms;
        return code;
    }
    st->backoff_ms = 0;
    st->retry_at = 0;
    st->ready = true;
    return FT_OK;
}

/* ---- open / close ---- */

static bool table_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TABLE_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* fedtrace's own parameters; the others go to libpq. */
static bool own_param(const char *name)
{
    return strcmp(name, "caps") == 0 || strcmp(name, "table") == 0 ||
           strcmp(name, "statement_timeout") == 0 ||
           strcmp(name, "unlogged") == 0 || strcmp(name, "compress") == 0;
}

/* postgres://... with fedtrace's parameters removed and libpq defaults
 * added (connect_timeout, application_name, client_encoding=UTF8). */
static ft_code build_conninfo(const ft_kv_url *url, char **out, ft_err *err)
{
    if (strncmp(url->rest, "//", 2) != 0)
        return ft_err_set(err, FT_INVAL, 0,
                          "postgres: expected a URI such as "
                          "postgres://user@host:5432/dbname");
    size_t n = strlen("postgresql:") + strlen(url->rest) + 128;
    for (size_t i = 0; i < url->n_params; i++)
        n += strlen(url->names[i]) + strlen(url->values[i]) + 2;
    char *s = ft_malloc(n);
    if (s == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    size_t w = (size_t)snprintf(s, n, "postgresql:%s", url->rest);
    char sep = '?';
    bool has_timeout = false, has_app = false;
    for (size_t i = 0; i < url->n_params; i++) {
        const char *k = url->names[i], *v = url->values[i];
        if (own_param(k))
            continue;
        if (strcmp(k, "client_encoding") == 0) {
            if (strcasecmp(v, "UTF8") != 0 && strcasecmp(v, "UTF-8") != 0) {
                ft_free(s);
                return ft_err_set(err, FT_INVAL, 0,
                                  "postgres: client_encoding must be UTF8");
            }
            continue;
        }
        has_timeout |= strcmp(k, "connect_timeout") == 0;
        has_app |= strcmp(k, "application_name") == 0;
        w += (size_t)snprintf(s + w, n - w, "%c%s=%s", sep, k, v);
        sep = '&';
    }
    if (!has_timeout) {
        w += (size_t)snprintf(s + w, n - w, "%cconnect_timeout=" DEFAULT_CONNECT_TIMEOUT, sep);
        sep = '&';
    }
    if (!has_app) {
        w += (size_t)snprintf(s + w, n - w, "%capplication_name=fedtrace", sep);
        sep = '&';
    }
    snprintf(s + w, n - w, "%cclient_encoding=UTF8", sep);
    *out = s;
    return FT_OK;
}

static void pg_close(void *state)
{
    pg_state *st = state;
    if (st == NULL)
        return;
    PQfinish(st->conn);
    ft_free(st->conninfo);
    ft_free(st);
}

static ft_code pg_open(const ft_kv_url *url, void **state, ft_err *err)
{
    pg_state *st = ft_calloc(1, sizeof *st);
    if (st == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    ft_code code = FT_OK;
    const char *table = ft_kv__url_param(url, "table");
    const char *timeout = ft_kv__url_param(url, "statement_timeout");
    const char *unlogged = ft_kv__url_param(url, "unlogged");
    const char *compress = ft_kv__url_param(url, "compress");
    st->compress = true;
    if (table == NULL)
        table = DEFAULT_TABLE;
    st->statement_timeout_ms = DEFAULT_STATEMENT_TIMEOUT_MS;
    if (!table_name_ok(table)) {
        code = ft_err_set(err, FT_INVAL, 0,
                          "postgres: table=%s: expected letters, digits and _ "
                          "(at most %d)",
                          table, TABLE_NAME_MAX);
        goto fail;
    }
    if (timeout != NULL && !ft_parse_duration_ms(timeout, &st->statement_timeout_ms)) {
        code = ft_err_set(err, FT_INVAL, 0,
                          "postgres: statement_timeout=%s is not a duration "
                          "(e.g. 30s, 500ms; 0 for none)",
                          timeout);
        goto fail;
    }
    if (unlogged != NULL && !ft_parse_bool(unlogged, &st->unlogged)) {
        code = ft_err_set(err, FT_INVAL, 0,
                          "postgres: unlogged=%s: expected true or false", unlogged);
        goto fail;
    }
    if (compress != NULL && !ft_parse_bool(compress, &st->compress)) {
        code = ft_err_set(err, FT_INVAL, 0, "postgres: compress=%s: expected 1 or 0", compress);
        goto fail;
    }
    snprintf(st->table, sizeof st->table, "%s", table);
    snprintf(st->qtable, sizeof st->qtable, "\"%s\"", table);
    if ((code = build_conninfo(url, &st->conninfo, err)) != FT_OK)
        goto fail;
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(st->conninfo, &perr);
    if (opts == NULL) {
        char msg[300];
        trim_copy(msg, sizeof msg, perr ? perr : "out of memory");
        PQfreemem(perr);
        code = ft_err_set(err, FT_INVAL, 0, "postgres: %s", msg);
        goto fail;
    }
    PQconninfoFree(opts);
    st->conn = PQconnectdb(st->conninfo);
    if (st->conn == NULL) {
        code = ft_err_set(err, FT_NOMEM, 0, "postgres: out of memory connecting");
        goto fail;
    }
    if (PQstatus(st->conn) != CONNECTION_OK) {
        char msg[400];
        trim_copy(msg, sizeof msg, PQerrorMessage(st->conn));
        code = ft_err_set(err, FT_BACKEND, 0, "postgres: cannot connect: %s", msg);
        goto fail;
    }
    const char *enc = PQparameterStatus(st->conn, "server_encoding");
    if (enc == NULL || strcmp(enc, "UTF8") != 0) {
        code = ft_err_set(err, FT_UNSUPPORTED, 0,
                          "postgres: the database's encoding is %s; jsonb "
                          "needs UTF8",
                          enc ? enc : "unknown");
        goto fail;
    }
    if ((code = table_setup(st, err)) != FT_OK ||
        (code = session_setup(st, err)) != FT_OK)
        goto fail;
    st->ready = true;
    *state = st;
    return FT_OK;
fail:
    pg_close(st);
    return code;
}

/* ---- operations ---- */

/* Parameters of one call, in one allocation. */
typedef struct params {
    const char *vals[4];
    int lens[4];
} params;

static ft_code alloc_key(ft_arena *a, ft_kv_key k, bool null_tail,
                         const char **val, int *len, ft_err *err)
{
    size_t n = key_param_len(k, null_tail);
    unsigned char *d = ft_arena_alloc(a, n);
    if (d == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory building a key");
    key_param_write(k, null_tail, d);
    *val = (const char *)d;
    *len = (int)n;
    return FT_OK;
}

static ft_code alloc_value(ft_arena *a, ft_str v, const char **val, int *len,
                           ft_err *err)
{
    bool json = value_is_json(v);
    size_t n = value_param_len(v, json);
    if (n > 0x3FFFFFFF)
        return ft_err_set(err, FT_TOO_LARGE, 0,
                          "postgres: a value of %zu bytes is too large", v.len);
    unsigned char *d = ft_arena_alloc(a, n);
    if (d == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory building a value");
    value_param_write(v, json, d);
    *val = (const char *)d;
    *len = (int)n;
    return FT_OK;
}

static ft_code alloc_int8(ft_arena *a, int64_t v, bool null, const char **val,
                          int *len, ft_err *err)
{
    if (null) {
        *val = NULL;
        *len = 0;
        return FT_OK;
    }
    unsigned char *d = ft_arena_alloc(a, 8);
    if (d == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    put_be64(d, v);
    *val = (const char *)d;
    *len = 8;
    return FT_OK;
}

static PGresult *exec_stmt(pg_state *st, int id, const params *p)
{
    static const int binary[4] = {1, 1, 1, 1};
    return PQexecPrepared(st->conn, st_names[id], st_defs[id].nparams, p->vals,
                          p->lens, binary, 1);
}

/* Rows affected by a command (cmdTuples), or -1. */
static long affected(PGresult *r)
{
    const char *s = PQcmdTuples(r);
    return s && *s ? strtol(s, NULL, 10) : -1;
}

/* The start of a call: a live connection, and a scratch arena for the
 * parameters (the caller destroys it). */
static ft_code pg_begin(pg_state *st, ft_arena **a, ft_err *err)
{
    ft_code code = pg_ready(st, err);
    if (code != FT_OK)
        return code;
    *a = ft_arena_create(0);
    return *a ? FT_OK : ft_err_set(err, FT_NOMEM, 0, "out of memory");
}

static ft_code pg_get(void *state, ft_kv_key key, ft_arena *arena,
                      ft_str *value, ft_err *err)
{
    pg_state *st = state;
    ft_arena *a;
    ft_code code = pg_begin(st, &a, err);
    if (code != FT_OK)
        return code;
    params p = {0};
    if ((code = alloc_key(a, key, false, &p.vals[0], &p.lens[0], err)) != FT_OK) {
        ft_arena_destroy(a);
        return code;
    }
    PGresult *r = exec_stmt(st, ST_GET, &p);
    ft_arena_destroy(a);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        code = pg_fail(st, r, "get", err);
    else if (PQntuples(r) == 0)
        code = FT_NOTFOUND;
    else
        code = value_from_result((const unsigned char *)PQgetvalue(r, 0, 0),
                                 (size_t)PQgetlength(r, 0, 0), arena, value, err);
    PQclear(r);
    return code;
}

/* A value that starts with the zstd magic is always kept as a frame (so
 * that reads can decompress every frame), a compressible one when that
 * saves an eighth; either is then bytes, wrapped in the marker object. */
static ft_code op_params(const pg_state *st, ft_arena *a, const ft_kv_op *op, params *p,
                         ft_err *err)
{
    ft_code code = alloc_key(a, op->key, false, &p->vals[0], &p->lens[0], err);
    ft_str v = op->value;
    bool frame = op->type == FT_KV_SET && ft_kv__is_frame(v);
    if (code == FT_OK && ((op->type == FT_KV_SET && op->compressible && st->compress) || frame))
        code = ft_kv__compress(a, op->value, frame, &v, err);
    if (code == FT_OK && op->type == FT_KV_SET)
        code = alloc_value(a, v, &p->vals[1], &p->lens[1], err);
    if (code == FT_OK && op->type == FT_KV_SET)
        code = alloc_int8(a, op->ttl_ms, op->ttl_ms <= 0, &p->vals[2],
                          &p->lens[2], err);
    return code;
}

/* Tries of a batch rolled back by a deadlock or a serialization failure,
 * after the first (1, 2, 4 ms apart). */
#define PG_BATCH_RETRIES 3

typedef struct batch_op {
    const params *p;
    ft_kv_op_type type;
    size_t seq;
} batch_op;

static int batch_op_cmp(const void *x, const void *y)
{
    const batch_op *a = x, *b = y;
    size_t la = (size_t)a->p->lens[0], lb = (size_t)b->p->lens[0];
    int c = memcmp(a->p->vals[0], b->p->vals[0], la < lb ? la : lb);
    if (c == 0)
        c = la < lb ? -1 : la > lb;
    if (c == 0)
        c = a->seq < b->seq ? -1 : 1;
    return c;
}

/* One pipeline: the statements up to the sync are one implicit
 * transaction, committed at the sync or rolled back by any error. */
static ft_code pg_pipeline(pg_state *st, const batch_op *order, size_t n, ft_err *err)
{
    static const int binary[4] = {1, 1, 1, 1};
    if (PQenterPipelineMode(st->conn) != 1)
        return pg_fail(st, NULL, "batch", err);
    size_t sent = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        int id = order[i].type == FT_KV_SET ? ST_SET : ST_DEL;
        ok = PQsendQueryPrepared(st->conn, st_names[id], st_defs[id].nparams,
                                 order[i].p->vals, order[i].p->lens, binary, 1) == 1;
        sent += ok;
    }
    if (!ok || PQpipelineSync(st->conn) != 1) {
        ft_code code = pg_fail(st, NULL, "batch", err);
        st->broken = true;
        st->ready = false;
        PQexitPipelineMode(st->conn);
        return code;
    }
    return pipeline_finish(st, sent, "batch", err);
}

static ft_code pg_batch(void *state, const ft_kv_op *ops, size_t n, ft_err *err)
{
    pg_state *st = state;
    ft_arena *a;
    ft_code code = pg_begin(st, &a, err);
    if (code != FT_OK)
        return code;
    /* every parameter is built before anything is sent */
    params *ps = ft_arena_calloc(a, n * sizeof *ps);
    if (ps == NULL)
        code = ft_err_set(err, FT_NOMEM, 0, "out of memory");
    for (size_t i = 0; i < n && code == FT_OK; i++)
        code = op_params(st, a, &ops[i], &ps[i], err);
    if (code != FT_OK) {
        ft_arena_destroy(a);
        return code;
    }
    if (n == 1) {
        PGresult *r = exec_stmt(st, ops[0].type == FT_KV_SET ? ST_SET : ST_DEL, &ps[0]);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            code = pg_fail(st, r, ops[0].type == FT_KV_SET ? "set" : "delete", err);
        PQclear(r);
        ft_arena_destroy(a);
        return code;
    }
    /* Rows are locked in key order, the same order on every node, so two
     * batches writing overlapping keys wait for each other instead of
     * deadlocking; operations on one key keep their order. */
    batch_op *order = ft_arena_alloc(a, n * sizeof *order);
    if (order == NULL) {
        ft_arena_destroy(a);
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (batch_op){&ps[i], ops[i].type, i};
    qsort(order, n, sizeof *order, batch_op_cmp);
    /* A transaction chosen as a deadlock victim or failing serialization
     * was rolled back whole: sending it again is safe. */
    for (int attempt = 0;; attempt++) {
        code = pg_pipeline(st, order, n, err);
        if (code != FT_AGAIN || attempt == PG_BATCH_RETRIES)
            break;
        struct timespec pause = {0, (long)(1000000L << attempt)};
        nanosleep(&pause, NULL);
    }
    ft_arena_destroy(a);
    return code;
}

static ft_code pg_list(void *state, ft_kv_key prefix, const ft_kv_list_opts *opts,
                       ft_arena *arena, ft_kv_entry **out, size_t *n_out,
                       ft_err *err)
{
    pg_state *st = state;
    ft_arena *a;
    ft_code code = pg_begin(st, &a, err);
    if (code != FT_OK)
        return code;
    params p = {0};
    ft_kv_key none = {NULL, 0};
    code = alloc_key(a, prefix, false, &p.vals[0], &p.lens[0], err);
    if (code == FT_OK) {
        if (opts->start_after != NULL)
            code = alloc_key(a, *opts->start_after, false, &p.vals[1], &p.lens[1], err);
        else if (opts->reverse)
            code = alloc_key(a, prefix, true, &p.vals[1], &p.lens[1], err);
        else
            code = alloc_key(a, none, false, &p.vals[1], &p.lens[1], err);
    }
    if (code == FT_OK)
        code = alloc_int8(a, (int64_t)opts->limit, opts->limit == 0, &p.vals[2],
                          &p.lens[2], err);
    if (code != FT_OK) {
        ft_arena_destroy(a);
        return code;
    }
    PGresult *r = exec_stmt(st, opts->reverse ? ST_LIST_REV : ST_LIST_FWD, &p);
    ft_arena_destroy(a);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        code = pg_fail(st, r, "list", err);
        PQclear(r);
        return code;
    }
    size_t rows = (size_t)PQntuples(r);
    ft_kv_entry *items = ft_arena_alloc(arena, (rows ? rows : 1) * sizeof *items);
    if (items == NULL)
        code = ft_err_set(err, FT_NOMEM, 0, "out of memory listing keys");
    for (size_t i = 0; i < rows && code == FT_OK; i++) {
        code = key_from_result((const unsigned char *)PQgetvalue(r, (int)i, 0),
                               (size_t)PQgetlength(r, (int)i, 0), arena,
                               &items[i].key, err);
        if (code == FT_OK)
            code = value_from_result((const unsigned char *)PQgetvalue(r, (int)i, 1),
                                     (size_t)PQgetlength(r, (int)i, 1), arena,
                                     &items[i].value, err);
    }
    PQclear(r);
    if (code != FT_OK)
        return code;
    *out = items;
    *n_out = rows;
    return FT_OK;
}

static ft_code pg_cas(void *state, ft_kv_key key, const ft_str *expected,
                      const ft_str *value, int64_t ttl_ms, ft_err *err)
{
    pg_state *st = state;
    if ((expected && ft_kv__is_frame(*expected)) || (value && ft_kv__is_frame(*value)))
        return ft_err_set(err, FT_INVAL, 0,
                          "postgres: compare-and-swap of a value that starts with the zstd "
                          "frame magic (28 B5 2F FD) is not supported");
    ft_arena *a;
    ft_code code = pg_begin(st, &a, err);
    if (code != FT_OK)
        return code;
    params p = {0};
    int id;
    code = alloc_key(a, key, false, &p.vals[0], &p.lens[0], err);
    if (expected == NULL && value != NULL) {
        id = ST_CAS_INSERT; /* $1 key, $2 value, $3 ttl */
        if (code == FT_OK)
            code = alloc_value(a, *value, &p.vals[1], &p.lens[1], err);
        if (code == FT_OK)
            code = alloc_int8(a, ttl_ms, ttl_ms <= 0, &p.vals[2], &p.lens[2], err);
    } else if (expected == NULL) {
        id = ST_CAS_ABSENT; /* $1 key */
    } else if (value != NULL) {
        id = ST_CAS_UPDATE; /* $1 key, $2 expected, $3 value, $4 ttl */
        if (code == FT_OK)
            code = alloc_value(a, *expected, &p.vals[1], &p.lens[1], err);
        if (code == FT_OK)
            code = alloc_value(a, *value, &p.vals[2], &p.lens[2], err);
        if (code == FT_OK)
            code = alloc_int8(a, ttl_ms, ttl_ms <= 0, &p.vals[3], &p.lens[3], err);
    } else {
        id = ST_CAS_DELETE; /* $1 key, $2 expected */
        if (code == FT_OK)
            code = alloc_value(a, *expected, &p.vals[1], &p.lens[1], err);
    }
    if (code != FT_OK) {
        ft_arena_destroy(a);
        return code;
    }
    PGresult *r = exec_stmt(st, id, &p);
    ft_arena_destroy(a);
    ExecStatusType s = PQresultStatus(r);
    if (id == ST_CAS_ABSENT)
        code = s != PGRES_TUPLES_OK ? pg_fail(st, r, "cas", err)
               : PQntuples(r) == 0  ? FT_OK
                                    : FT_CONFLICT;
    else
        code = s != PGRES_COMMAND_OK ? pg_fail(st, r, "cas", err)
               : affected(r) == 1    ? FT_OK
                                     : FT_CONFLICT;
    PQclear(r);
    return code;
}

static ft_code pg_sweep(void *state, size_t max, size_t *removed, ft_err *err)
{
    pg_state *st = state;
    ft_code code = pg_ready(st, err);
    if (code != FT_OK)
        return code;
    size_t total = 0;
    for (;;) {
        size_t chunk = SWEEP_CHUNK;
        if (max != 0 && max - total < chunk)
            chunk = max - total;
        unsigned char lim[8];
        put_be64(lim, (int64_t)chunk);
        params p = {{(const char *)lim}, {8}};
        PGresult *r = exec_stmt(st, ST_SWEEP, &p);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            code = pg_fail(st, r, "sweep", err);
            PQclear(r);
            break;
        }
        long n = affected(r);
        PQclear(r);
        total += n > 0 ? (size_t)n : 0;
        if (n < (long)chunk || (max != 0 && total >= max))
            break;
    }
    *removed = total;
    return code;
}

static ft_code pg_stats(void *state, ft_kv_stats *stats, ft_err *err)
{
    pg_state *st = state;
    ft_code code = pg_ready(st, err);
    if (code != FT_OK)
        return code;
    params p = {0};
    PGresult *r = exec_stmt(st, ST_STATS, &p);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
        PQgetlength(r, 0, 0) != 8 || PQgetlength(r, 0, 1) != 8) {
        code = pg_fail(st, r, "stats", err);
    } else {
        int64_t entries = get_be64((const unsigned char *)PQgetvalue(r, 0, 0));
        int64_t bytes = get_be64((const unsigned char *)PQgetvalue(r, 0, 1));
        stats->entries = entries > 0 ? (uint64_t)entries : 0;
        stats->bytes_used = bytes > 0 ? (uint64_t)bytes : 0;
        stats->bytes_max = 0;
    }
    PQclear(r);
    return code;
}

const ft_kv_backend ft_kv__postgres_backend = {
    .version = FT_KV_BACKEND_VERSION,
    .scheme = "postgres",
    .caps = FT_KV_CAP_LIST | FT_KV_CAP_CAS,
    .open = pg_open,
    .close = pg_close,
    .get = pg_get,
    .batch = pg_batch,
    .list = pg_list,
    .cas = pg_cas,
    .sweep = pg_sweep,
    .stats = pg_stats,
};
