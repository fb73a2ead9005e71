/*
 * otlp_json.c - decoder for OTLP/JSON trace and log exports.
 *
 * jansson parses the body into a tree; we walk the tree into the span
 * model, copying every string into the request arena, and free the tree
 * before returning.  The mapping is the protobuf JSON mapping as OTLP
 * specifies it:
 *
 *   - field names are lowerCamelCase; the proto names (trace_id) are
 *     accepted too, as protobuf JSON parsers do;
 *   - trace and span ids are hex strings, either case (not base64);
 *   - 64-bit integers may be numbers or decimal strings, and every integer
 *     field takes either form (an integral real such as 1e3 is accepted);
 *   - enums are numbers, or their proto names ("SPAN_KIND_SERVER"); an
 *     unknown name reads like an unknown number, as the unspecified member;
 *   - doubleValue is a number, a numeric string, or "NaN", "Infinity",
 *     "-Infinity"; bytesValue is base64, standard or URL-safe, padding
 *     optional;
 *   - null is the same as an absent field; unknown fields are skipped.
 *
 * Like the protobuf decoder, a field given twice keeps its last value (for
 * a key repeated verbatim jansson keeps the last value; a field given under
 * both its names keeps the one that comes later), and of AnyValue's members
 * the last one given wins.  Wrong JSON types for known fields, integers out
 * of their field's range and bad base64 fail the whole request; items with
 * invalid ids are left out and counted (otlp_int.h), hex that is not hex
 * counting as an id of the wrong length.
 *
 * Arrays are sized exactly from the JSON arrays, and the leaf array (spans
 * or log records) from a count over the envelope before decoding.  Strings
 * are carved out of larger arena chunks so that short strings do not each
 * pay the arena's 16-byte alignment.
 */
#include "fedtrace/otlp.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp/otlp_int.h"

#define NO_STR FT_OTLP_NO_STR
#define NOIDX SIZE_MAX
#define MAX_FIELDS 16

/* Strings up to this size share pool chunks; longer ones get their own. */
#define POOL_SHARED_MAX 256
#define POOL_CHUNK_MIN 1024
#define POOL_CHUNK_MAX 16384

/* ---- message descriptions ------------------------------------------------ */

typedef struct jname {
    const char *json;  /* lowerCamelCase, as OTLP/JSON writes it */
    const char *proto; /* the proto field name, also accepted; NULL if equal */
    size_t json_len, proto_len;
} jname;

typedef struct jmsg {
    const char *name;
    const jname *fields;
    unsigned n;
} jmsg;

#define N1(j) {(j), NULL, sizeof(j) - 1, 0}
#define N2(j, p) {(j), (p), sizeof(j) - 1, sizeof(p) - 1}
#define MSG(var, msgname, ...)                                               \
    static const jname var##_F[] = {__VA_ARGS__};                            \
    _Static_assert(sizeof var##_F / sizeof var##_F[0] <= MAX_FIELDS,          \
                   "too many fields");                                       \
    static const jmsg var = {msgname, var##_F,                                \
                             sizeof var##_F / sizeof var##_F[0]}

/* The envelopes share their layout: request{0: resourceX},
 * resourceX{0: resource, 1: scopeX, 2: schemaUrl},
 * scopeX{0: scope, 1: leaves, 2: schemaUrl}. */
enum { RQ_RESOURCE_X };
enum { RX_RESOURCE, RX_SCOPE_X, RX_SCHEMA_URL };
enum { SX_SCOPE, SX_LEAVES, SX_SCHEMA_URL };
enum { RS_ATTRS, RS_DROPPED };
enum { SC_NAME, SC_VERSION, SC_ATTRS, SC_DROPPED };
enum {
    SP_TRACE_ID, SP_SPAN_ID, SP_TRACE_STATE, SP_PARENT, SP_NAME, SP_KIND,
    SP_START, SP_END, SP_ATTRS, SP_DROPPED_ATTRS, SP_EVENTS, SP_DROPPED_EVENTS,
    SP_LINKS, SP_DROPPED_LINKS, SP_STATUS, SP_FLAGS
};
enum { EV_TIME, EV_NAME, EV_ATTRS, EV_DROPPED };
enum { LK_TRACE_ID, LK_SPAN_ID, LK_TRACE_STATE, LK_ATTRS, LK_DROPPED, LK_FLAGS };
enum { ST_MESSAGE, ST_CODE };
enum {
    LG_TIME, LG_OBSERVED, LG_SEVERITY, LG_SEVERITY_TEXT, LG_BODY, LG_ATTRS,
    LG_DROPPED, LG_FLAGS, LG_TRACE_ID, LG_SPAN_ID, LG_EVENT_NAME
};
enum { KV_KEY, KV_VALUE };
enum { AV_STRING, AV_BOOL, AV_INT, AV_DOUBLE, AV_ARRAY, AV_KVLIST, AV_BYTES };
enum { VL_VALUES };

MSG(M_TRACE_REQ, "ExportTraceServiceRequest",
    [RQ_RESOURCE_X] = N2("resourceSpans", "resource_spans"));
MSG(M_LOGS_REQ, "ExportLogsServiceRequest",
    [RQ_RESOURCE_X] = N2("resourceLogs", "resource_logs"));
MSG(M_RESOURCE_SPANS, "ResourceSpans", [RX_RESOURCE] = N1("resource"),
    [RX_SCOPE_X] = N2("scopeSpans", "scope_spans"),
    [RX_SCHEMA_URL] = N2("schemaUrl", "schema_url"));
MSG(M_RESOURCE_LOGS, "ResourceLogs", [RX_RESOURCE] = N1("resource"),
    [RX_SCOPE_X] = N2("scopeLogs", "scope_logs"),
    [RX_SCHEMA_URL] = N2("schemaUrl", "schema_url"));
MSG(M_SCOPE_SPANS, "ScopeSpans", [SX_SCOPE] = N1("scope"),
    [SX_LEAVES] = N1("spans"), [SX_SCHEMA_URL] = N2("schemaUrl", "schema_url"));
MSG(M_SCOPE_LOGS, "ScopeLogs", [SX_SCOPE] = N1("scope"),
    [SX_LEAVES] = N2("logRecords", "log_records"),
    [SX_SCHEMA_URL] = N2("schemaUrl", "schema_url"));
MSG(M_RESOURCE, "Resource", [RS_ATTRS] = N1("attributes"),
    [RS_DROPPED] = N2("droppedAttributesCount", "dropped_attributes_count"));
MSG(M_SCOPE, "InstrumentationScope", [SC_NAME] = N1("name"),
    [SC_VERSION] = N1("version"), [SC_ATTRS] = N1("attributes"),
    [SC_DROPPED] = N2("droppedAttributesCount", "dropped_attributes_count"));
MSG(M_SPAN, "Span", [SP_TRACE_ID] = N2("traceId", "trace_id"),
    [SP_SPAN_ID] = N2("spanId", "span_id"),
    [SP_TRACE_STATE] = N2("traceState", "trace_state"),
    [SP_PARENT] = N2("parentSpanId", "parent_span_id"),
    [SP_NAME] = N1("name"), [SP_KIND] = N1("kind"),
    [SP_START] = N2("startTimeUnixNano", "start_time_unix_nano"),
    [SP_END] = N2("endTimeUnixNano", "end_time_unix_nano"),
    [SP_ATTRS] = N1("attributes"),
    [SP_DROPPED_ATTRS] = N2("droppedAttributesCount", "dropped_attributes_count"),
    [SP_EVENTS] = N1("events"),
    [SP_DROPPED_EVENTS] = N2("droppedEventsCount", "dropped_events_count"),
    [SP_LINKS] = N1("links"),
    [SP_DROPPED_LINKS] = N2("droppedLinksCount", "dropped_links_count"),
    [SP_STATUS] = N1("status"), [SP_FLAGS] = N1("flags"));
MSG(M_EVENT, "Span.Event", [EV_TIME] = N2("timeUnixNano", "time_unix_nano"),
    [EV_NAME] = N1("name"), [EV_ATTRS] = N1("attributes"),
    [EV_DROPPED] = N2("droppedAttributesCount", "dropped_attributes_count"));
MSG(M_LINK, "Span.Link", [LK_TRACE_ID] = N2("traceId", "trace_id"),
    [LK_SPAN_ID] = N2("spanId", "span_id"),
    [LK_TRACE_STATE] = N2("traceState", "trace_state"),
    [LK_ATTRS] = N1("attributes"),
    [LK_DROPPED] = N2("droppedAttributesCount", "dropped_attributes_count"),
    [LK_FLAGS] = N1("flags"));
MSG(M_STATUS, "Status", [ST_MESSAGE] = N1("message"), [ST_CODE] = N1("code"));
MSG(M_LOG, "LogRecord", [LG_TIME] = N2("timeUnixNano", "time_unix_nano"),
    [LG_OBSERVED] = N2("observedTimeUnixNano", "observed_time_unix_nano"),
    [LG_SEVERITY] = N2("severityNumber", "severity_number"),
    [LG_SEVERITY_TEXT] = N2("severityText", "severity_text"),
    [LG_BODY] = N1("body"), [LG_ATTRS] = N1("attributes"),
    [LG_DROPPED] = N2("droppedAttributesCount", "dropped_attributes_count"),
    [LG_FLAGS] = N1("flags"), [LG_TRACE_ID] = N2("traceId", "trace_id"),
    [LG_SPAN_ID] = N2("spanId", "span_id"),
    [LG_EVENT_NAME] = N2("eventName", "event_name"));
MSG(M_KEYVALUE, "KeyValue", [KV_KEY] = N1("key"), [KV_VALUE] = N1("value"));
MSG(M_ANYVALUE, "AnyValue", [AV_STRING] = N2("stringValue", "string_value"),
    [AV_BOOL] = N2("boolValue", "bool_value"),
    [AV_INT] = N2("intValue", "int_value"),
    [AV_DOUBLE] = N2("doubleValue", "double_value"),
    [AV_ARRAY] = N2("arrayValue", "array_value"),
    [AV_KVLIST] = N2("kvlistValue", "kvlist_value"),
    [AV_BYTES] = N2("bytesValue", "bytes_value"));
MSG(M_ARRAY, "ArrayValue", [VL_VALUES] = N1("values"));
MSG(M_KVLIST, "KeyValueList", [VL_VALUES] = N1("values"));

static const char *const SPAN_KIND_NAMES[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
static const char *const STATUS_CODE_NAMES[] = {
    "STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"};
static const char *const SEVERITY_NAMES[] = {
    "SEVERITY_NUMBER_UNSPECIFIED",
    "SEVERITY_NUMBER_TRACE", "SEVERITY_NUMBER_TRACE2",
    "SEVERITY_NUMBER_TRACE3", "SEVERITY_NUMBER_TRACE4",
    "SEVERITY_NUMBER_DEBUG", "SEVERITY_NUMBER_DEBUG2",
    "SEVERITY_NUMBER_DEBUG3", "SEVERITY_NUMBER_DEBUG4",
    "SEVERITY_NUMBER_INFO", "SEVERITY_NUMBER_INFO2",
    "SEVERITY_NUMBER_INFO3", "SEVERITY_NUMBER_INFO4",
    "SEVERITY_NUMBER_WARN", "SEVERITY_NUMBER_WARN2",
    "SEVERITY_NUMBER_WARN3", "SEVERITY_NUMBER_WARN4",
    "SEVERITY_NUMBER_ERROR", "SEVERITY_NUMBER_ERROR2",
    "SEVERITY_NUMBER_ERROR3", "SEVERITY_NUMBER_ERROR4",
    "SEVERITY_NUMBER_FATAL", "SEVERITY_NUMBER_FATAL2",
    "SEVERITY_NUMBER_FATAL3", "SEVERITY_NUMBER_FATAL4"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- decoder state, paths and errors -------------------------------------- */

typedef struct jdec {
    ft_arena *arena;
    ft_err *err;
    ft_otlp_rejects rej;
    /* the output array, sized by the count over the envelope */
    void *items;
    size_t n, cap;
    /* the string pool: the free tail of the current chunk */
    char *pool;
    size_t pool_left, pool_chunk;
} jdec;

/* Where a value sits in the document, as a chain on the C stack from the
 * value up to the root: resourceSpans[0].scopeSpans[1].spans[2].name.  Only
 * printed when something fails. */
typedef struct jpath {
    const struct jpath *up;
    const char *key; /* NULL: the root */
    size_t index;    /* NOIDX: not an array element */
} jpath;

/* The known fields of one JSON object, by field index. */
typedef struct jobj {
    jdec *d;
    const jmsg *m;
    const jpath *at; /* the object's own place */
    json_t *v[MAX_FIELDS];     /* NULL: absent (or null) */
    const char *k[MAX_FIELDS]; /* the key the value came under */
} jobj;

/* One field's value with what it takes to name it in an error. */
typedef struct jref {
    jdec *d;
    const jmsg *m;
    int f; /* -1: the message itself */
    jpath at;
    json_t *v;
} jref;

static void path_str(const jpath *p, char *buf, size_t n)
{
    enum { MAX_SHOWN = 48 };
    const jpath *chain[MAX_SHOWN];
    size_t depth = 0;
    bool elided = false;
    for (; p != NULL; p = p->up) {
        if (p->key == NULL && p->index == NOIDX)
            continue;
        if (depth < MAX_SHOWN)
            chain[depth++] = p;
        else
            elided = true;
    }
    size_t len = 0;
    buf[0] = '\0';
#define PUT(...)                                                             \
    do {                                                                     \
        if (len < n) {                                                       \
            int w_ = snprintf(buf + len, n - len, __VA_ARGS__);              \
            len += w_ > 0 ? (size_t)w_ : 0;                                  \
        }                                                                    \
    } while (0)
    if (depth == 0)
        PUT("the top level");
    if (elided)
        PUT("...");
    for (size_t i = depth; i-- > 0;) {
        if (chain[i]->key != NULL)
            PUT("%s%s", i + 1 == depth && !elided ? "" : ".", chain[i]->key);
        if (chain[i]->index != NOIDX)
            PUT("[%zu]", chain[i]->index);
    }
#undef PUT
}

#if defined(__GNUC__)
#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define PRINTF_LIKE(a, b)
#endif

/* FT_DECODE, naming r's message and field, and where it is. */
static ft_code ref_fail(const jref *r, const char *fmt, ...) PRINTF_LIKE(2, 3);
static ft_code ref_fail(const jref *r, const char *fmt, ...)
{
    char what[160], where[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    path_str(&r->at, where, sizeof where);
    return ft_err_set(r->d->err, FT_DECODE, 0, "OTLP JSON: %s%s%s: %s (at %s)",
                      r->m->name, r->f >= 0 ? "." : "",
                      r->f >= 0 ? r->m->fields[r->f].json : "", what, where);
}

static ft_code ref_nomem(const jref *r)
{
    char where[256];
    path_str(&r->at, where, sizeof where);
    return ft_err_set(r->d->err, FT_NOMEM, 0,
                      "OTLP JSON: arena exhausted decoding %s%s%s (at %s)",
                      r->m->name, r->f >= 0 ? "." : "",
                      r->f >= 0 ? r->m->fields[r->f].json : "", where);
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static ft_code type_fail(const jref *r, const char *expected)
{
    return ref_fail(r, "expected %s, got %s", expected, type_name(r->v));
}

static inline jref ref(const jobj *o, unsigned f)
{
    return (jref){o->d, o->m, (int)f, {o->at, o->k[f], NOIDX}, o->v[f]};
}

#define TRY(expr)                                                            \
    do {                                                                     \
        ft_code rc_ = (expr);                                                \
        if (rc_ != FT_OK)                                                    \
            return rc_;                                                      \
    } while (0)

/* ---- memory ------------------------------------------------------------------ */

static char *pool_alloc(jdec *d, size_t n)
{
    if (n <= d->pool_left) {
        char *p = d->pool;
        d->pool += n;
        d->pool_left -= n;
        return p;
    }
    if (n > POOL_SHARED_MAX)
        return ft_arena_alloc(d->arena, n);
    /* a new chunk, twice the last one up to the maximum; the old tail (at
     * most POOL_SHARED_MAX bytes) is abandoned */
    size_t chunk = d->pool_chunk == 0 ? POOL_CHUNK_MIN
                   : d->pool_chunk < POOL_CHUNK_MAX ? 2 * d->pool_chunk
                                                    : POOL_CHUNK_MAX;
    char *p = ft_arena_alloc(d->arena, chunk);
    if (p == NULL)
        return NULL;
    d->pool_chunk = chunk;
    d->pool = p + n;
    d->pool_left = chunk - n;
    return p;
}

/* n elements of size sz, uninitialised; NULL for n == 0 (and no error). */
static ft_code alloc_array(const jref *r, size_t n, size_t sz, void **out)
{
    *out = NULL;
    if (n == 0)
        return FT_OK;
    if (n > SIZE_MAX / sz || (*out = ft_arena_alloc(r->d->arena, n * sz)) == NULL)
        return ref_nomem(r);
    return FT_OK;
}

/* ---- objects ------------------------------------------------------------- */

static int match_field(const jmsg *m, const char *key, size_t klen)
{
    for (unsigned i = 0; i < m->n; i++) {
        const jname *f = &m->fields[i];
        if ((klen == f->json_len && memcmp(key, f->json, klen) == 0) ||
            (f->proto != NULL && klen == f->proto_len &&
             memcmp(key, f->proto, klen) == 0))
            return (int)i;
    }
    return -1;
}

/* Reads the known fields of the object j (message m, at `at`) into o; the
 * later of two keys for one field wins, nulls and unknown keys are
 * skipped.  Fails when j is not an object. */
static ft_code collect(jdec *d, const jmsg *m, json_t *j, const jpath *at,
                       jobj *o)
{
    o->d = d;
    o->m = m;
    o->at = at;
    memset(o->v, 0, m->n * sizeof o->v[0]);
    memset(o->k, 0, m->n * sizeof o->k[0]);
    if (!json_is_object(j)) {
        jref r = {d, m, -1, *at, j};
        return type_fail(&r, "an object");
    }
    for (void *it = json_object_iter(j); it != NULL;
         it = json_object_iter_next(j, it)) {
        json_t *v = json_object_iter_value(it);
        if (json_is_null(v))
            continue;
        const char *key = json_object_iter_key(it);
        int f = match_field(m, key, json_object_iter_key_len(it));
        if (f >= 0) {
            o->v[f] = v;
            o->k[f] = key;
        }
    }
    return FT_OK;
}

/* The array in field f (or NULL when absent). */
static ft_code array_field(const jobj *o, unsigned f, json_t **out)
{
    *out = o->v[f];
    if (*out != NULL && !json_is_array(*out)) {
        jref r = ref(o, f);
        return type_fail(&r, "an array");
    }
    return FT_OK;
}

/* ---- scalars --------------------------------------------------------------- */

static ft_code copy_str(const jref *r, ft_str *out)
{
    size_t n = json_string_length(r->v);
    if (n == 0) {
        *out = NO_STR;
        return FT_OK;
    }
    char *p = pool_alloc(r->d, n);
    if (p == NULL)
        return ref_nomem(r);
    memcpy(p, json_string_value(r->v), n);
    *out = (ft_str){p, n};
    return FT_OK;
}

static ft_code str_of(const jref *r, ft_str *out)
{
    if (!json_is_string(r->v))
        return type_fail(r, "a string");
    return copy_str(r, out);
}

/* A JSON number's syntax: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number_syntax(const char *s, size_t n)
{
    size_t i = 0, start;
#define DIGITS()                                                             \
    do {                                                                     \
        start = i;                                                           \
        while (i < n && s[i] >= '0' && s[i] <= '9')                          \
            i++;                                                             \
    } while (0)
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else {
        DIGITS();
        if (i == start || s[start] == '0')
            return false;
    }
    if (i < n && s[i] == '.') {
        i++;
        DIGITS();
        if (i == start)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        DIGITS();
        if (i == start)
            return false;
    }
#undef DIGITS
    return i == n;
}

/* An integer as read: its sign and magnitude, whatever the target type. */
typedef struct jint {
    bool neg;
    uint64_t mag;
} jint;

enum { INT_OK, INT_TYPE, INT_NOT_INT, INT_RANGE };

static int real_int(double x, jint *out)
{
    if (!isfinite(x) || x != floor(x))
        return INT_NOT_INT;
    double m = fabs(x);
    if (m >= 18446744073709551616.0) /* 2^64 */
        return INT_RANGE;
    *out = (jint){x < 0, (uint64_t)m};
    return INT_OK;
}

static int str_int(const char *s, size_t n, jint *out)
{
    size_t i = s[0] == '-' && n > 1;
    bool digits = i < n;
    for (size_t k = i; k < n && digits; k++)
        digits = s[k] >= '0' && s[k] <= '9';
    if (digits) {
        uint64_t v = 0;
        for (; i < n; i++) {
            unsigned dgt = (unsigned)(s[i] - '0');
            if (v > (UINT64_MAX - dgt) / 10)
                return INT_RANGE;
            v = v * 10 + dgt;
        }
        *out = (jint){s[0] == '-', v};
        return INT_OK;
    }
    /* "1e3", "5.0": numbers in other notations, if integral.  The syntax
     * check leaves only characters strtod reads, and jansson's strings are
     * NUL-terminated, so strtod stops exactly at n (in the C locale, which
     * the library never changes). */
    if (!number_syntax(s, n))
        return INT_NOT_INT;
    return real_int(strtod(s, NULL), out);
}

/* Reads an integer-valued JSON value: a number, or a string holding one. */
static int int_of(const json_t *v, jint *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        *out = (jint){i < 0, i < 0 ? 0 - (uint64_t)i : (uint64_t)i};
        return INT_OK;
    }
    if (json_is_real(v))
        return real_int(json_real_value(v), out);
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        return n == 0 ? INT_NOT_INT : str_int(json_string_value(v), n, out);
    }
    return INT_TYPE;
}

static ft_code int_fail(const jref *r, int rc, const char *type)
{
    if (rc == INT_TYPE)
        return type_fail(r, "an integer (a number or a decimal string)");
    if (rc == INT_NOT_INT)
        return ref_fail(r, "the %s is not an integer",
                        json_is_string(r->v) ? "string" : "number");
    return ref_fail(r, "value out of range for %s", type);
}

static ft_code u64_of(const jref *r, uint64_t max, const char *type,
                      uint64_t *out)
{
    jint x;
    int rc = int_of(r->v, &x);
    if (rc == INT_OK && ((x.neg && x.mag != 0) || x.mag > max))
        rc = INT_RANGE;
    if (rc != INT_OK)
        return int_fail(r, rc, type);
    *out = x.mag;
    return FT_OK;
}

static ft_code i64_of(const jref *r, int64_t max, const char *type,
                      int64_t *out)
{
    jint x;
    int rc = int_of(r->v, &x);
    if (rc == INT_OK && x.mag > (uint64_t)max + x.neg)
        rc = INT_RANGE;
    if (rc != INT_OK)
        return int_fail(r, rc, type);
    *out = !x.neg ? (int64_t)x.mag : x.mag == 0 ? 0 : -(int64_t)(x.mag - 1) - 1;
    return FT_OK;
}

/* An enum: a number (int32), or one of names[] (the value is the index).
 * A name we do not know reads as 0, the unspecified member, as unknown
 * numbers do. */
static ft_code enum_of(const jref *r, const char *const *names, size_t n,
                       int32_t *out)
{
    if (json_is_string(r->v)) {
        const char *s = json_string_value(r->v);
        size_t len = json_string_length(r->v);
        for (size_t i = 0; i < n; i++)
            if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
                *out = (int32_t)i;
                return FT_OK;
            }
        jint x;
        if (len == 0 || str_int(s, len, &x) != INT_OK) {
            *out = 0;
            return FT_OK;
        }
    } else if (!json_is_number(r->v)) {
        return type_fail(r, "an enum number or name");
    }
    int64_t v;
    TRY(i64_of(r, INT32_MAX, "an enum (int32)", &v));
    *out = (int32_t)v;
    return FT_OK;
}

static ft_code double_of(const jref *r, double *out)
{
    if (json_is_number(r->v)) {
        *out = json_number_value(r->v);
        return FT_OK;
    }
    if (!json_is_string(r->v))
        return type_fail(r, "a number or \"NaN\", \"Infinity\", \"-Infinity\"");
    const char *s = json_string_value(r->v);
    size_t n = json_string_length(r->v);
    if (n == 3 && memcmp(s, "NaN", 3) == 0)
        *out = NAN;
    else if (n == 8 && memcmp(s, "Infinity", 8) == 0)
        *out = INFINITY;
    else if (n == 9 && memcmp(s, "-Infinity", 9) == 0)
        *out = -INFINITY;
    else if (number_syntax(s, n)) {
        *out = strtod(s, NULL);
        if (isinf(*out))
            return ref_fail(r, "value out of range for a double");
    } else
        return ref_fail(r, "the string value is not a number");
    return FT_OK;
}

static int b64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* base64, standard or URL-safe, with or without the padding. */
static ft_code bytes_of(const jref *r, ft_str *out)
{
    if (!json_is_string(r->v))
        return type_fail(r, "a base64 string");
    const unsigned char *s = (const unsigned char *)json_string_value(r->v);
    size_t n = json_string_length(r->v), pad = 0;
    while (n > 0 && s[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if (n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0))
        return ref_fail(r, "invalid base64 (bad length or padding)");
    size_t len = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (len == 0) {
        *out = NO_STR;
        return FT_OK;
    }
    unsigned char *p = (unsigned char *)pool_alloc(r->d, len);
    if (p == NULL)
        return ref_nomem(r);
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_digit(s[i]);
        if (v < 0)
            return ref_fail(r, "invalid base64 (character %zu)", i);
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            p[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out = (ft_str){(const char *)p, o};
    return FT_OK;
}

/*
 * A hex id of n bytes into out.  *len is the id's length for the checks of
 * otlp_int.h: 0 when absent or empty, n when it decodes, FT_OTLP_BAD_ID
 * for anything else (out is then zero).
 */
static ft_code id_of(const jobj *o, unsigned f, uint8_t *out, size_t n,
                     size_t *len)
{
    *len = 0;
    if (o->v[f] == NULL)
        return FT_OK;
    jref r = ref(o, f);
    if (!json_is_string(r.v))
        return type_fail(&r, "a hex string");
    ft_str hex = {json_string_value(r.v), json_string_length(r.v)};
    if (hex.len == 0)
        return FT_OK;
    if (ft_hex_decode(hex, out, n)) {
        *len = n;
    } else {
        memset(out, 0, n);
        *len = FT_OTLP_BAD_ID;
    }
    return FT_OK;
}

/* Field getters: absent fields leave *out alone. */

static ft_code o_str(const jobj *o, unsigned f, ft_str *out)
{
    if (o->v[f] == NULL)
        return FT_OK;
    jref r = ref(o, f);
    return str_of(&r, out);
}

static ft_code o_u64(const jobj *o, unsigned f, uint64_t *out)
{
    if (o->v[f] == NULL)
        return FT_OK;
    jref r = ref(o, f);
    return u64_of(&r, UINT64_MAX, "uint64", out);
}

static ft_code o_u32(const jobj *o, unsigned f, uint32_t *out)
{
    if (o->v[f] == NULL)
        return FT_OK;
    jref r = ref(o, f);
    uint64_t v;
    TRY(u64_of(&r, UINT32_MAX, "uint32", &v));
    *out = (uint32_t)v;
    return FT_OK;
}

static ft_code o_enum(const jobj *o, unsigned f, const char *const *names,
                      size_t n, int32_t *out)
{
    if (o->v[f] == NULL)
        return FT_OK;
    jref r = ref(o, f);
    return enum_of(&r, names, n, out);
}

/* ---- common.proto -------------------------------------------------------- */

static ft_code decode_value(jdec *d, json_t *j, const jpath *at, ft_value *out,
                            int depth);

/* The KeyValue array in field f into out; `depth` as for decode_value. */
static ft_code decode_attrs(const jobj *o, unsigned f, ft_attrs *out, int depth)
{
    out->items = NULL;
    out->n = 0;
    json_t *a;
    TRY(array_field(o, f, &a));
    if (a == NULL)
        return FT_OK;
    jref r = ref(o, f);
    size_t n = json_array_size(a);
    TRY(alloc_array(&r, n, sizeof(ft_attr), (void **)&out->items));
    for (size_t i = 0; i < n; i++) {
        jpath at = {o->at, o->k[f], i};
        jobj kv;
        TRY(collect(o->d, &M_KEYVALUE, json_array_get(a, i), &at, &kv));
        ft_attr *dst = &out->items[i];
        dst->key = NO_STR;
        dst->value.type = FT_VAL_EMPTY;
        TRY(o_str(&kv, KV_KEY, &dst->key));
        if (kv.v[KV_VALUE] != NULL) {
            jpath vat = {&at, kv.k[KV_VALUE], NOIDX};
            TRY(decode_value(o->d, kv.v[KV_VALUE], &vat, &dst->value, depth));
        }
        out->n = i + 1;
    }
    return FT_OK;
}

/* ArrayValue or KeyValueList (member r) into out. */
static ft_code decode_list(const jref *r, bool kvlist, ft_value *out, int depth)
{
    jobj o;
    TRY(collect(r->d, kvlist ? &M_KVLIST : &M_ARRAY, r->v, &r->at, &o));
    if (kvlist) {
        ft_attrs attrs;
        TRY(decode_attrs(&o, VL_VALUES, &attrs, depth + 1));
        out->type = FT_VAL_KVLIST;
        out->u.kvlist.items = attrs.items;
        out->u.kvlist.n = attrs.n;
        return FT_OK;
    }
    json_t *a;
    TRY(array_field(&o, VL_VALUES, &a));
    size_t n = a != NULL ? json_array_size(a) : 0;
    ft_value *items = NULL;
    if (n > 0) {
        jref vr = ref(&o, VL_VALUES);
        TRY(alloc_array(&vr, n, sizeof(ft_value), (void **)&items));
    }
    for (size_t i = 0; i < n; i++) {
        jpath at = {o.at, o.k[VL_VALUES], i};
        TRY(decode_value(r->d, json_array_get(a, i), &at, &items[i], depth + 1));
    }
    out->type = FT_VAL_ARRAY;
    out->u.array.items = items;
    out->u.array.n = n;
    return FT_OK;
}

/* AnyValue; `depth` counts the AnyValues around this one.  A oneof: its
 * members are taken in document order, the last one given wins. */
static ft_code decode_value(jdec *d, json_t *j, const jpath *at, ft_value *out,
                            int depth)
{
    jref self = {d, &M_ANYVALUE, -1, *at, j};
    if (depth >= FT_OTLP_MAX_VALUE_DEPTH)
        return ref_fail(&self, "values nested deeper than %d levels",
                        FT_OTLP_MAX_VALUE_DEPTH);
    out->type = FT_VAL_EMPTY;
    if (!json_is_object(j))
        return type_fail(&self, "an object");
    for (void *it = json_object_iter(j); it != NULL;
         it = json_object_iter_next(j, it)) {
        json_t *v = json_object_iter_value(it);
        if (json_is_null(v))
            continue;
        const char *key = json_object_iter_key(it);
        int f = match_field(&M_ANYVALUE, key, json_object_iter_key_len(it));
        if (f < 0)
            continue;
        jref r = {d, &M_ANYVALUE, f, {at, key, NOIDX}, v};
        switch (f) {
        case AV_STRING:
            TRY(str_of(&r, &out->u.s));
            out->type = FT_VAL_STRING;
            break;
        case AV_BOOL:
            if (!json_is_boolean(v))
                return type_fail(&r, "true or false");
            out->type = FT_VAL_BOOL;
            out->u.b = json_is_true(v);
            break;
        case AV_INT:
            TRY(i64_of(&r, INT64_MAX, "int64", &out->u.i));
            out->type = FT_VAL_INT;
            break;
        case AV_DOUBLE:
            TRY(double_of(&r, &out->u.d));
            out->type = FT_VAL_DOUBLE;
            break;
        case AV_ARRAY:
        case AV_KVLIST:
            TRY(decode_list(&r, f == AV_KVLIST, out, depth));
            break;
        case AV_BYTES:
            TRY(bytes_of(&r, &out->u.s));
            out->type = FT_VAL_BYTES;
            break;
        default:
            break;
        }
    }
    return FT_OK;
}

/* ---- resource.proto, InstrumentationScope -------------------------------- */

static ft_code decode_resource(const jobj *parent, unsigned f, ft_resource *out)
{
    if (parent->v[f] == NULL)
        return FT_OK;
    jpath at = {parent->at, parent->k[f], NOIDX};
    jobj o;
    TRY(collect(parent->d, &M_RESOURCE, parent->v[f], &at, &o));
    TRY(decode_attrs(&o, RS_ATTRS, &out->attrs, 0));
    return o_u32(&o, RS_DROPPED, &out->dropped_attrs);
}

static ft_code decode_scope(const jobj *parent, unsigned f, ft_scope *out)
{
    if (parent->v[f] == NULL)
        return FT_OK;
    jpath at = {parent->at, parent->k[f], NOIDX};
    jobj o;
    TRY(collect(parent->d, &M_SCOPE, parent->v[f], &at, &o));
    TRY(o_str(&o, SC_NAME, &out->name));
    TRY(o_str(&o, SC_VERSION, &out->version));
    TRY(decode_attrs(&o, SC_ATTRS, &out->attrs, 0));
    return o_u32(&o, SC_DROPPED, &out->dropped_attrs);
}

/* ---- trace.proto --------------------------------------------------------- */

static ft_code decode_event(jdec *d, json_t *j, const jpath *at, ft_event *out)
{
    *out = (ft_event){.name = NO_STR};
    jobj o;
    TRY(collect(d, &M_EVENT, j, at, &o));
    TRY(o_u64(&o, EV_TIME, &out->time_ns));
    TRY(o_str(&o, EV_NAME, &out->name));
    TRY(decode_attrs(&o, EV_ATTRS, &out->attrs, 0));
    return o_u32(&o, EV_DROPPED, &out->dropped_attrs);
}

static ft_code decode_link(jdec *d, json_t *j, const jpath *at, ft_link *out)
{
    *out = (ft_link){.trace_state = NO_STR};
    jobj o;
    TRY(collect(d, &M_LINK, j, at, &o));
    /* A link's ids are kept only when they have the right size (id_of
     * zeroes them otherwise); a link to nowhere is not reason enough to
     * refuse the span that carries it. */
    size_t len;
    TRY(id_of(&o, LK_TRACE_ID, out->trace_id, sizeof out->trace_id, &len));
    TRY(id_of(&o, LK_SPAN_ID, out->span_id, sizeof out->span_id, &len));
    TRY(o_str(&o, LK_TRACE_STATE, &out->trace_state));
    TRY(decode_attrs(&o, LK_ATTRS, &out->attrs, 0));
    TRY(o_u32(&o, LK_DROPPED, &out->dropped_attrs));
    return o_u32(&o, LK_FLAGS, &out->flags);
}

/* An array field of objects, each decoded by fn into items[i] (size sz). */
static ft_code decode_items(const jobj *o, unsigned f, size_t sz, void **items,
                            size_t *n,
                            ft_code (*fn)(jdec *, json_t *, const jpath *, void *))
{
    *items = NULL;
    *n = 0;
    json_t *a;
    TRY(array_field(o, f, &a));
    if (a == NULL)
        return FT_OK;
    size_t count = json_array_size(a);
    jref r = ref(o, f);
    TRY(alloc_array(&r, count, sz, items));
    for (size_t i = 0; i < count; i++) {
        jpath at = {o->at, o->k[f], i};
        TRY(fn(o->d, json_array_get(a, i), &at, (char *)*items + i * sz));
        *n = i + 1;
    }
    return FT_OK;
}

static ft_code event_item(jdec *d, json_t *j, const jpath *at, void *out)
{
    return decode_event(d, j, at, out);
}

static ft_code link_item(jdec *d, json_t *j, const jpath *at, void *out)
{
    return decode_link(d, j, at, out);
}

static ft_code decode_status(const jobj *span, ft_span *out)
{
    if (span->v[SP_STATUS] == NULL)
        return FT_OK;
    jpath at = {span->at, span->k[SP_STATUS], NOIDX};
    jobj o;
    TRY(collect(span->d, &M_STATUS, span->v[SP_STATUS], &at, &o));
    TRY(o_str(&o, ST_MESSAGE, &out->status_message));
    int32_t code = 0;
    TRY(o_enum(&o, ST_CODE, STATUS_CODE_NAMES, COUNT(STATUS_CODE_NAMES), &code));
    out->status_code = ft__otlp_status_code((uint64_t)(int64_t)code);
    return FT_OK;
}

/*
 * Decodes one Span into the next free slot of the batch; the slot is kept
 * only when the ids are valid.  The whole span is decoded even when its ids
 * are already known to be bad, because errors anywhere in the request must
 * still fail it.
 */
static ft_code decode_span(jdec *d, json_t *j, const jpath *at,
                           const ft_resource *res, const ft_scope *scope)
{
    jobj o;
    TRY(collect(d, &M_SPAN, j, at, &o));
    if (d->n >= d->cap) { /* cannot happen: the count saw the same tree */
        jref r = {d, &M_SPAN, -1, *at, j};
        return ref_fail(&r, "internal count mismatch");
    }
    ft_span *s = (ft_span *)d->items + d->n;
    memset(s, 0, sizeof *s);
    s->trace_state = s->name = s->status_message = NO_STR;
    s->resource = res;
    s->scope = scope;

    size_t trace_len, span_len, parent_len;
    TRY(id_of(&o, SP_TRACE_ID, s->trace_id, sizeof s->trace_id, &trace_len));
    TRY(id_of(&o, SP_SPAN_ID, s->span_id, sizeof s->span_id, &span_len));
    TRY(o_str(&o, SP_TRACE_STATE, &s->trace_state));
    TRY(id_of(&o, SP_PARENT, s->parent_span_id, sizeof s->parent_span_id,
              &parent_len));
    TRY(o_str(&o, SP_NAME, &s->name));
    int32_t kind = 0;
    TRY(o_enum(&o, SP_KIND, SPAN_KIND_NAMES, COUNT(SPAN_KIND_NAMES), &kind));
    s->kind = ft__otlp_span_kind((uint64_t)(int64_t)kind);
    TRY(o_u64(&o, SP_START, &s->start_ns));
    TRY(o_u64(&o, SP_END, &s->end_ns));
    TRY(decode_attrs(&o, SP_ATTRS, &s->attrs, 0));
    TRY(o_u32(&o, SP_DROPPED_ATTRS, &s->dropped_attrs));
    TRY(decode_items(&o, SP_EVENTS, sizeof(ft_event), (void **)&s->events,
                     &s->n_events, event_item));
    TRY(o_u32(&o, SP_DROPPED_EVENTS, &s->dropped_events));
    TRY(decode_items(&o, SP_LINKS, sizeof(ft_link), (void **)&s->links,
                     &s->n_links, link_item));
    TRY(o_u32(&o, SP_DROPPED_LINKS, &s->dropped_links));
    TRY(decode_status(&o, s));
    TRY(o_u32(&o, SP_FLAGS, &s->flags));

    if (ft__otlp_span_ids_ok(s, trace_len, span_len, parent_len, &d->rej))
        d->n++;
    return FT_OK;
}

/* ---- logs.proto ---------------------------------------------------------- */

static ft_code decode_log(jdec *d, json_t *j, const jpath *at,
                          const ft_resource *res, const ft_scope *scope)
{
    jobj o;
    TRY(collect(d, &M_LOG, j, at, &o));
    if (d->n >= d->cap) {
        jref r = {d, &M_LOG, -1, *at, j};
        return ref_fail(&r, "internal count mismatch");
    }
    ft_log *l = (ft_log *)d->items + d->n;
    memset(l, 0, sizeof *l);
    l->severity_text = l->event_name = NO_STR;
    l->resource = res;
    l->scope = scope;

    TRY(o_u64(&o, LG_TIME, &l->time_ns));
    TRY(o_u64(&o, LG_OBSERVED, &l->observed_ns));
    TRY(o_enum(&o, LG_SEVERITY, SEVERITY_NAMES, COUNT(SEVERITY_NAMES),
               &l->severity_number));
    TRY(o_str(&o, LG_SEVERITY_TEXT, &l->severity_text));
    if (o.v[LG_BODY] != NULL) {
        jpath bat = {at, o.k[LG_BODY], NOIDX};
        TRY(decode_value(d, o.v[LG_BODY], &bat, &l->body, 0));
    }
    TRY(decode_attrs(&o, LG_ATTRS, &l->attrs, 0));
    TRY(o_u32(&o, LG_DROPPED, &l->dropped_attrs));
    TRY(o_u32(&o, LG_FLAGS, &l->flags));
    size_t trace_len, span_len;
    TRY(id_of(&o, LG_TRACE_ID, l->trace_id, sizeof l->trace_id, &trace_len));
    TRY(id_of(&o, LG_SPAN_ID, l->span_id, sizeof l->span_id, &span_len));
    TRY(o_str(&o, LG_EVENT_NAME, &l->event_name));

    if (ft__otlp_log_ids_ok(l, trace_len, span_len, &d->rej))
        d->n++;
    return FT_OK;
}

/* ---- the export envelope, shared by traces and logs ---------------------- */

typedef struct jsignal {
    const jmsg *req, *resource_x, *scope_x;
    size_t item_size; /* of the output array's elements */
    /* decodes the leaf j into d->items[d->n] */
    ft_code (*leaf)(jdec *d, json_t *j, const jpath *at,
                    const ft_resource *res, const ft_scope *scope);
} jsignal;

static const jsignal SIG_TRACES = {&M_TRACE_REQ, &M_RESOURCE_SPANS,
                                   &M_SCOPE_SPANS, sizeof(ft_span),
                                   decode_span};
static const jsignal SIG_LOGS = {&M_LOGS_REQ, &M_RESOURCE_LOGS, &M_SCOPE_LOGS,
                                 sizeof(ft_log), decode_log};

/* ScopeSpans / ScopeLogs */
static ft_code decode_scope_x(jdec *d, const jsignal *sig, json_t *j,
                              const jpath *at, const ft_resource *res)
{
    jobj o;
    TRY(collect(d, sig->scope_x, j, at, &o));
    ft_scope *scope = ft_arena_calloc(d->arena, sizeof *scope);
    if (scope == NULL) {
        jref r = {d, sig->scope_x, SX_SCOPE, *at, j};
        return ref_nomem(&r);
    }
    scope->name = scope->version = scope->schema_url = NO_STR;
    TRY(decode_scope(&o, SX_SCOPE, scope));
    TRY(o_str(&o, SX_SCHEMA_URL, &scope->schema_url));
    json_t *a;
    TRY(array_field(&o, SX_LEAVES, &a));
    for (size_t i = 0; a != NULL && i < json_array_size(a); i++) {
        jpath lat = {at, o.k[SX_LEAVES], i};
        TRY(sig->leaf(d, json_array_get(a, i), &lat, res, scope));
    }
    return FT_OK;
}

/* ResourceSpans / ResourceLogs */
static ft_code decode_resource_x(jdec *d, const jsignal *sig, json_t *j,
                                 const jpath *at)
{
    jobj o;
    TRY(collect(d, sig->resource_x, j, at, &o));
    ft_resource *res = ft_arena_calloc(d->arena, sizeof *res);
    if (res == NULL) {
        jref r = {d, sig->resource_x, RX_RESOURCE, *at, j};
        return ref_nomem(&r);
    }
    res->schema_url = NO_STR;
    TRY(decode_resource(&o, RX_RESOURCE, res));
    TRY(o_str(&o, RX_SCHEMA_URL, &res->schema_url));
    json_t *a;
    TRY(array_field(&o, RX_SCOPE_X, &a));
    for (size_t i = 0; a != NULL && i < json_array_size(a); i++) {
        jpath sat = {at, o.k[RX_SCOPE_X], i};
        TRY(decode_scope_x(d, sig, json_array_get(a, i), &sat, res));
    }
    return FT_OK;
}

/* Counts the leaves (spans or log records) of a request, following the
 * same fields the decode pass will.  Values of the wrong type are passed
 * over here; the decode pass reports them. */
static size_t count_leaves(const jobj *req, const jsignal *sig)
{
    jobj rx, sx;
    size_t total = 0;
    json_t *ra = req->v[RQ_RESOURCE_X];
    for (size_t i = 0; i < json_array_size(ra); i++) { /* 0 if no array */
        json_t *r = json_array_get(ra, i);
        if (!json_is_object(r))
            continue;
        collect(req->d, sig->resource_x, r, req->at, &rx);
        json_t *sa = rx.v[RX_SCOPE_X];
        for (size_t k = 0; k < json_array_size(sa); k++) { /* 0 if no array */
            json_t *s = json_array_get(sa, k);
            if (!json_is_object(s))
                continue;
            collect(req->d, sig->scope_x, s, req->at, &sx);
            if (json_is_array(sx.v[SX_LEAVES]))
                total += json_array_size(sx.v[SX_LEAVES]);
        }
    }
    return total;
}

static ft_code decode_request(jdec *d, const jsignal *sig, json_t *root)
{
    jpath top = {NULL, NULL, NOIDX};
    jobj o;
    TRY(collect(d, sig->req, root, &top, &o));
    size_t total = count_leaves(&o, sig);
    jref r = {d, sig->scope_x, SX_LEAVES, top, root};
    TRY(alloc_array(&r, total, sig->item_size, &d->items));
    d->cap = total;
    json_t *a;
    TRY(array_field(&o, RQ_RESOURCE_X, &a));
    for (size_t i = 0; a != NULL && i < json_array_size(a); i++) {
        jpath at = {&top, o.k[RQ_RESOURCE_X], i};
        TRY(decode_resource_x(d, sig, json_array_get(a, i), &at));
    }
    return FT_OK;
}

/*
 * Parses and decodes body[0..len) into *d.  After a failure *d is an empty
 * result, so that the caller can publish *d whatever the outcome.  The
 * jansson tree never outlives this function.
 */
/*
 * What jansson's tree of the body will take, estimated from one pass over
 * the bytes: an object costs a struct and a hash table (about 224 bytes on
 * 64-bit glibc), an array or a scalar a struct and a slot, a string its
 * bytes once more.  Bodies of nothing but empty objects come out near 70
 * times their size; OTLP as SDKs send it, 5 to 8 times.
 */
static size_t json_tree_estimate(const uint8_t *p, size_t len)
{
    size_t objects = 0, arrays = 0, values = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        objects += c == '{';
        arrays += c == '[';
        values += c == ',' || c == ':' || c == '"';
        in_str = c == '"';
    }
    return objects * 224 + arrays * 64 + values * 48 + len;
}

static ft_code decode_export(jdec *d, const jsignal *sig, const uint8_t *body,
                             size_t len, ft_arena *arena, ft_err *err)
{
    *d = (jdec){.arena = arena, .err = err, .rej = {0, NO_STR}};
    /* jansson allocates outside the arena: charge its tree to the
     * request's cap before parsing, so one request cannot take more */
    size_t tree = json_tree_estimate(body, body != NULL ? len : 0);
    if (tree > ft_arena_remaining(arena)) {
        *d = (jdec){.rej = {0, NO_STR}};
        return ft_err_set(err, FT_NOMEM, 0,
                          "OTLP JSON: parsing the request would take about %zu "
                          "bytes, more than a request may use",
                          tree);
    }
    json_error_t jerr;
    json_t *root = json_loadb(body != NULL ? (const char *)body : "", len,
                              JSON_ALLOW_NUL, &jerr);
    ft_code rc;
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            rc = ft_err_set(err, FT_NOMEM, 0,
                            "OTLP JSON: out of memory parsing the request");
        else
            rc = ft_err_set(err, FT_DECODE, 0,
                            "OTLP JSON: invalid JSON at line %d, column %d: %s",
                            jerr.line, jerr.column, jerr.text);
    } else {
        rc = decode_request(d, sig, root);
        json_decref(root);
    }
    if (rc != FT_OK)
        *d = (jdec){.rej = {0, NO_STR}};
    else if (d->n == 0)
        d->items = NULL;
    return rc;
}

static ft_code missing_argument(ft_err *err)
{
    return ft_err_set(err, FT_INVAL, 0, "OTLP JSON: missing argument");
}

ft_code ft_otlp_decode_traces_json(const uint8_t *body, size_t len,
                                   ft_arena *arena, ft_span_batch *batch,
                                   ft_err *err)
{
    if (batch == NULL || arena == NULL || (body == NULL && len != 0))
        return missing_argument(err);
    jdec d;
    ft_code rc = decode_export(&d, &SIG_TRACES, body, len, arena, err);
    *batch = (ft_span_batch){d.items, d.n, d.rej.n, d.rej.reason};
    return rc;
}

ft_code ft_otlp_decode_logs_json(const uint8_t *body, size_t len,
                                 ft_arena *arena, ft_log_batch *batch,
                                 ft_err *err)
{
    if (batch == NULL || arena == NULL || (body == NULL && len != 0))
        return missing_argument(err);
    jdec d;
    ft_code rc = decode_export(&d, &SIG_LOGS, body, len, arena, err);
    *batch = (ft_log_batch){d.items, d.n, d.rej.n, d.rej.reason};
    return rc;
}
