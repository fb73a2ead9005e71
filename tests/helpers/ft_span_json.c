/* ft_span_json.c - batches to OTLP/JSON, and deep comparison of batches. */
#include "ft_span_json.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- writing ------------------------------------------------------------- */

static const char *const KIND_NAMES[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
static const char *const CODE_NAMES[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                         "STATUS_CODE_ERROR"};
static const char *const SEVERITY_LEVELS[] = {"TRACE", "DEBUG", "INFO", "WARN",
                                              "ERROR", "FATAL"};

/* "key": with a comma unless first; the proto name when asked for. */
static void key(ft_buf *b, bool *first, unsigned opts, const char *camel,
                const char *snake)
{
    ft_json_key(b, first, (opts & FT_SJ_PROTO_NAMES) ? snake : camel);
}

static void put_u64(ft_buf *b, unsigned opts, uint64_t v)
{
    if ((opts & FT_SJ_INT_NUMBERS) && v <= INT64_MAX)
        ft_buf_printf(b, "%llu", (unsigned long long)v);
    else
        ft_json_u64_str(b, v);
}

static void put_id(ft_buf *b, unsigned opts, const uint8_t *id, size_t n)
{
    char hex[33];
    ft_hex_encode(id, n, hex);
    if (opts & FT_SJ_UPPER_HEX)
        for (char *p = hex; *p; p++)
            *p = (char)toupper((unsigned char)*p);
    ft_buf_printf(b, "\"%s\"", hex);
}

static void put_double(ft_buf *b, double d)
{
    if (isnan(d)) {
        ft_buf_puts(b, "\"NaN\"");
        return;
    }
    if (isinf(d)) {
        ft_buf_puts(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    size_t start = b->len;
    ft_json_double(b, d);
    /* keep it a JSON real, so that -0.0 stays negative */
    if (ft_buf_ok(b) && memchr(b->ptr + start, '.', b->len - start) == NULL &&
        memchr(b->ptr + start, 'e', b->len - start) == NULL)
        ft_buf_puts(b, ".0");
}

static void put_base64(ft_buf *b, ft_str s)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s.ptr;
    ft_buf_putc(b, '"');
    for (size_t i = 0; i < s.len; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16;
        if (i + 1 < s.len)
            x |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < s.len)
            x |= p[i + 2];
        char q[4] = {tbl[x >> 18 & 63], tbl[x >> 12 & 63],
                     i + 1 < s.len ? tbl[x >> 6 & 63] : '=',
                     i + 2 < s.len ? tbl[x & 63] : '='};
        ft_buf_put(b, q, 4);
    }
    ft_buf_putc(b, '"');
}

void ft_span_json_value(ft_buf *b, const ft_value *v, unsigned opts)
{
    bool first = true;
    ft_buf_putc(b, '{');
    switch (v->type) {
    case FT_VAL_EMPTY:
        break;
    case FT_VAL_STRING:
        key(b, &first, opts, "stringValue", "string_value");
        ft_json_str(b, v->u.s);
        break;
    case FT_VAL_BOOL:
        key(b, &first, opts, "boolValue", "bool_value");
        ft_buf_puts(b, v->u.b ? "true" : "false");
        break;
    case FT_VAL_INT:
        key(b, &first, opts, "intValue", "int_value");
        ft_buf_printf(b, (opts & FT_SJ_INT_NUMBERS) ? "%lld" : "\"%lld\"",
                      (long long)v->u.i);
        break;
    case FT_VAL_DOUBLE:
        key(b, &first, opts, "doubleValue", "double_value");
        put_double(b, v->u.d);
        break;
    case FT_VAL_BYTES:
        key(b, &first, opts, "bytesValue", "bytes_value");
        put_base64(b, v->u.s);
        break;
    case FT_VAL_ARRAY:
        key(b, &first, opts, "arrayValue", "array_value");
        ft_buf_puts(b, "{\"values\":[");
        for (size_t i = 0; i < v->u.array.n; i++) {
            if (i)
                ft_buf_putc(b, ',');
            ft_span_json_value(b, &v->u.array.items[i], opts);
        }
        ft_buf_puts(b, "]}");
        break;
    case FT_VAL_KVLIST:
        key(b, &first, opts, "kvlistValue", "kvlist_value");
        ft_buf_puts(b, "{\"values\":");
        ft_span_json_attrs(b, (ft_attrs){v->u.kvlist.items, v->u.kvlist.n},
                           opts & ~(unsigned)FT_SJ_LIB_ATTRS);
        ft_buf_putc(b, '}');
        break;
    }
    ft_buf_putc(b, '}');
}

void ft_span_json_attrs(ft_buf *b, ft_attrs attrs, unsigned opts)
{
    if (opts & FT_SJ_LIB_ATTRS) {
        ft_json_attrs(b, attrs);
        return;
    }
    ft_buf_putc(b, '[');
    for (size_t i = 0; i < attrs.n; i++) {
        ft_buf_puts(b, i ? ",{\"key\":" : "{\"key\":");
        ft_json_str(b, attrs.items[i].key);
        ft_buf_puts(b, ",\"value\":");
        ft_span_json_value(b, &attrs.items[i].value, opts);
        ft_buf_putc(b, '}');
    }
    ft_buf_putc(b, ']');
}

/* Fields at their default value are left out unless FT_SJ_ALL_FIELDS. */
#define ALL(opts) (((opts) & FT_SJ_ALL_FIELDS) != 0)

static void put_str_field(ft_buf *b, bool *first, unsigned opts,
                          const char *camel, const char *snake, ft_str s)
{
    if (s.len == 0 && !ALL(opts))
        return;
    key(b, first, opts, camel, snake);
    ft_json_str(b, s);
}

static void put_u64_field(ft_buf *b, bool *first, unsigned opts,
                          const char *camel, const char *snake, uint64_t v)
{
    if (v == 0 && !ALL(opts))
        return;
    key(b, first, opts, camel, snake);
    put_u64(b, opts, v);
}

static void put_u32_field(ft_buf *b, bool *first, unsigned opts,
                          const char *camel, const char *snake, uint32_t v)
{
    if (v == 0 && !ALL(opts))
        return;
    key(b, first, opts, camel, snake);
    ft_buf_printf(b, "%u", v);
}

static void put_attrs_field(ft_buf *b, bool *first, unsigned opts,
                            ft_attrs attrs, uint32_t dropped)
{
    if (attrs.n > 0 || ALL(opts)) {
        key(b, first, opts, "attributes", "attributes");
        ft_span_json_attrs(b, attrs, opts);
    }
    put_u32_field(b, first, opts, "droppedAttributesCount",
                  "dropped_attributes_count", dropped);
}

static void put_enum(ft_buf *b, unsigned opts, int v, const char *name)
{
    if ((opts & FT_SJ_ENUM_NAMES) && name != NULL)
        ft_json_cstr(b, name);
    else
        ft_buf_printf(b, "%d", v);
}

static void put_resource(ft_buf *b, bool *first, unsigned opts,
                         const ft_resource *r)
{
    key(b, first, opts, "resource", "resource");
    bool f = true;
    ft_buf_putc(b, '{');
    put_attrs_field(b, &f, opts, r->attrs, r->dropped_attrs);
    ft_buf_putc(b, '}');
    put_str_field(b, first, opts, "schemaUrl", "schema_url", r->schema_url);
}

static void put_scope(ft_buf *b, bool *first, unsigned opts, const ft_scope *s)
{
    key(b, first, opts, "scope", "scope");
    bool f = true;
    ft_buf_putc(b, '{');
    put_str_field(b, &f, opts, "name", "name", s->name);
    put_str_field(b, &f, opts, "version", "version", s->version);
    put_attrs_field(b, &f, opts, s->attrs, s->dropped_attrs);
    ft_buf_putc(b, '}');
    put_str_field(b, first, opts, "schemaUrl", "schema_url", s->schema_url);
}

static void put_span(ft_buf *b, const ft_span *s, unsigned opts)
{
    bool first = true;
    ft_buf_putc(b, '{');
    key(b, &first, opts, "traceId", "trace_id");
    put_id(b, opts, s->trace_id, 16);
    key(b, &first, opts, "spanId", "span_id");
    put_id(b, opts, s->span_id, 8);
    put_str_field(b, &first, opts, "traceState", "trace_state", s->trace_state);
    if (s->has_parent) {
        key(b, &first, opts, "parentSpanId", "parent_span_id");
        put_id(b, opts, s->parent_span_id, 8);
    } else if (ALL(opts)) {
        key(b, &first, opts, "parentSpanId", "parent_span_id");
        ft_buf_puts(b, "\"\"");
    }
    put_u32_field(b, &first, opts, "flags", "flags", s->flags);
    put_str_field(b, &first, opts, "name", "name", s->name);
    if (s->kind != 0 || ALL(opts)) {
        key(b, &first, opts, "kind", "kind");
        put_enum(b, opts, (int)s->kind,
                 (unsigned)s->kind < 6 ? KIND_NAMES[s->kind] : NULL);
    }
    put_u64_field(b, &first, opts, "startTimeUnixNano", "start_time_unix_nano",
                  s->start_ns);
    put_u64_field(b, &first, opts, "endTimeUnixNano", "end_time_unix_nano",
                  s->end_ns);
    put_attrs_field(b, &first, opts, s->attrs, s->dropped_attrs);
    if (s->n_events > 0 || ALL(opts)) {
        key(b, &first, opts, "events", "events");
        ft_buf_putc(b, '[');
        for (size_t i = 0; i < s->n_events; i++) {
            const ft_event *ev = &s->events[i];
            bool f = true;
            ft_buf_puts(b, i ? ",{" : "{");
            put_u64_field(b, &f, opts, "timeUnixNano", "time_unix_nano",
                          ev->time_ns);
            put_str_field(b, &f, opts, "name", "name", ev->name);
            put_attrs_field(b, &f, opts, ev->attrs, ev->dropped_attrs);
            ft_buf_putc(b, '}');
        }
        ft_buf_putc(b, ']');
    }
    put_u32_field(b, &first, opts, "droppedEventsCount", "dropped_events_count",
                  s->dropped_events);
    if (s->n_links > 0 || ALL(opts)) {
        key(b, &first, opts, "links", "links");
        ft_buf_putc(b, '[');
        for (size_t i = 0; i < s->n_links; i++) {
            const ft_link *l = &s->links[i];
            bool f = true;
            ft_buf_puts(b, i ? ",{" : "{");
            key(b, &f, opts, "traceId", "trace_id");
            put_id(b, opts, l->trace_id, 16);
            key(b, &f, opts, "spanId", "span_id");
            put_id(b, opts, l->span_id, 8);
            put_str_field(b, &f, opts, "traceState", "trace_state", l->trace_state);
            put_attrs_field(b, &f, opts, l->attrs, l->dropped_attrs);
            put_u32_field(b, &f, opts, "flags", "flags", l->flags);
            ft_buf_putc(b, '}');
        }
        ft_buf_putc(b, ']');
    }
    put_u32_field(b, &first, opts, "droppedLinksCount", "dropped_links_count",
                  s->dropped_links);
    if (s->status_code != 0 || s->status_message.len > 0 || ALL(opts)) {
        key(b, &first, opts, "status", "status");
        bool f = true;
        ft_buf_putc(b, '{');
        put_str_field(b, &f, opts, "message", "message", s->status_message);
        if (s->status_code != 0 || ALL(opts)) {
            key(b, &f, opts, "code", "code");
            put_enum(b, opts, (int)s->status_code,
                     (unsigned)s->status_code < 3 ? CODE_NAMES[s->status_code]
                                                  : NULL);
        }
        ft_buf_putc(b, '}');
    }
    ft_buf_putc(b, '}');
}

static void put_log(ft_buf *b, const ft_log *l, unsigned opts)
{
    bool first = true;
    ft_buf_putc(b, '{');
    put_u64_field(b, &first, opts, "timeUnixNano", "time_unix_nano", l->time_ns);
    put_u64_field(b, &first, opts, "observedTimeUnixNano",
                  "observed_time_unix_nano", l->observed_ns);
    if (l->severity_number != 0 || ALL(opts)) {
        char name[40];
        int sv = l->severity_number;
        if (sv >= 1 && sv <= 24) {
            int step = (sv - 1) % 4 + 1;
            if (step == 1)
                snprintf(name, sizeof name, "SEVERITY_NUMBER_%s",
                         SEVERITY_LEVELS[(sv - 1) / 4]);
            else
                snprintf(name, sizeof name, "SEVERITY_NUMBER_%s%d",
                         SEVERITY_LEVELS[(sv - 1) / 4], step);
        } else {
            snprintf(name, sizeof name, "SEVERITY_NUMBER_UNSPECIFIED");
        }
        key(b, &first, opts, "severityNumber", "severity_number");
        put_enum(b, opts, sv, sv >= 0 && sv <= 24 ? name : NULL);
    }
    put_str_field(b, &first, opts, "severityText", "severity_text",
                  l->severity_text);
    if (l->body.type != FT_VAL_EMPTY || ALL(opts)) {
        key(b, &first, opts, "body", "body");
        ft_span_json_value(b, &l->body, opts);
    }
    put_attrs_field(b, &first, opts, l->attrs, l->dropped_attrs);
    put_u32_field(b, &first, opts, "flags", "flags", l->flags);
    if (l->has_trace_id) {
        key(b, &first, opts, "traceId", "trace_id");
        put_id(b, opts, l->trace_id, 16);
    } else if (ALL(opts)) {
        key(b, &first, opts, "traceId", "trace_id");
        ft_buf_puts(b, "\"\"");
    }
    if (l->has_span_id) {
        key(b, &first, opts, "spanId", "span_id");
        put_id(b, opts, l->span_id, 8);
    } else if (ALL(opts)) {
        key(b, &first, opts, "spanId", "span_id");
        ft_buf_puts(b, "\"\"");
    }
    put_str_field(b, &first, opts, "eventName", "event_name", l->event_name);
    ft_buf_putc(b, '}');
}

/* The envelope, for either signal: items[i] of size sz, with its resource
 * and scope found by the accessors. */
typedef struct signal_names {
    const char *resource_x[2], *scope_x[2], *leaves[2];
} signal_names;

static void put_request(ft_buf *b, unsigned opts, const signal_names *nm,
                        const void *items, size_t n, size_t sz,
                        const ft_resource *(*res_of)(const void *),
                        const ft_scope *(*scope_of)(const void *),
                        void (*put_item)(ft_buf *, const void *, unsigned))
{
    int p = (opts & FT_SJ_PROTO_NAMES) ? 1 : 0;
    ft_buf_printf(b, "{\"%s\":[", nm->resource_x[p]);
    const ft_resource *res = NULL;
    const ft_scope *scope = NULL;
    for (size_t i = 0; i < n; i++) {
        const void *it = (const char *)items + i * sz;
        bool new_res = i == 0 || res_of(it) != res;
        if (i > 0 && (new_res || scope_of(it) != scope))
            ft_buf_puts(b, "]}"); /* close the leaves and the scope */
        if (new_res) {
            if (i > 0)
                ft_buf_puts(b, "]},"); /* close the scopes and the resource */
            res = res_of(it);
            bool first = true;
            ft_buf_putc(b, '{');
            put_resource(b, &first, opts, res);
            ft_buf_printf(b, ",\"%s\":[", nm->scope_x[p]);
        }
        if (new_res || scope_of(it) != scope) {
            if (!new_res)
                ft_buf_putc(b, ',');
            scope = scope_of(it);
            bool first = true;
            ft_buf_putc(b, '{');
            put_scope(b, &first, opts, scope);
            ft_buf_printf(b, ",\"%s\":[", nm->leaves[p]);
        } else {
            ft_buf_putc(b, ',');
        }
        put_item(b, it, opts);
    }
    if (n > 0)
        ft_buf_puts(b, "]}]}");
    ft_buf_puts(b, "]}");
}

static const ft_resource *span_res(const void *p)
{
    return ((const ft_span *)p)->resource;
}

static const ft_scope *span_scope(const void *p)
{
    return ((const ft_span *)p)->scope;
}

static void span_item(ft_buf *b, const void *p, unsigned opts)
{
    put_span(b, p, opts);
}

static const ft_resource *log_res(const void *p)
{
    return ((const ft_log *)p)->resource;
}

static const ft_scope *log_scope(const void *p)
{
    return ((const ft_log *)p)->scope;
}

static void log_item(ft_buf *b, const void *p, unsigned opts)
{
    put_log(b, p, opts);
}

void ft_span_json_traces(ft_buf *b, const ft_span_batch *batch, unsigned opts)
{
    static const signal_names nm = {{"resourceSpans", "resource_spans"},
                                    {"scopeSpans", "scope_spans"},
                                    {"spans", "spans"}};
    put_request(b, opts, &nm, batch->spans, batch->n, sizeof(ft_span),
                span_res, span_scope, span_item);
}

void ft_span_json_logs(ft_buf *b, const ft_log_batch *batch, unsigned opts)
{
    static const signal_names nm = {{"resourceLogs", "resource_logs"},
                                    {"scopeLogs", "scope_logs"},
                                    {"logRecords", "log_records"}};
    put_request(b, opts, &nm, batch->logs, batch->n, sizeof(ft_log), log_res,
                log_scope, log_item);
}

/* ---- comparing ------------------------------------------------------------- */

static bool differ(char *why, size_t n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static bool differ(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return false;
}

/* Prepends "context: " to why. */
static bool within(char *why, size_t n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static bool within(char *why, size_t n, const char *fmt, ...)
{
    char ctx[160], rest[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    snprintf(rest, sizeof rest, "%s", why);
    snprintf(why, n, "%s: %s", ctx, rest);
    return false;
}

static bool str_equal(ft_str a, ft_str b, const char *what, char *why, size_t n)
{
    if (a.ptr == NULL || b.ptr == NULL)
        return differ(why, n, "%s is NULL", what);
    if (!ft_str_eq(a, b))
        return differ(why, n, "%s: \"%.*s\" vs \"%.*s\"", what,
                      (int)(a.len > 60 ? 60 : a.len), a.ptr,
                      (int)(b.len > 60 ? 60 : b.len), b.ptr);
    return true;
}

static bool u64_equal(uint64_t a, uint64_t b, const char *what, char *why,
                      size_t n)
{
    if (a != b)
        return differ(why, n, "%s: %llu vs %llu", what, (unsigned long long)a,
                      (unsigned long long)b);
    return true;
}

static bool bytes_equal(const uint8_t *a, const uint8_t *b, size_t len,
                        const char *what, char *why, size_t n)
{
    if (memcmp(a, b, len) != 0) {
        char ha[33], hb[33];
        ft_hex_encode(a, len, ha);
        ft_hex_encode(b, len, hb);
        return differ(why, n, "%s: %s vs %s", what, ha, hb);
    }
    return true;
}

static bool attrs_equal(ft_attrs a, ft_attrs b, char *why, size_t n);

bool ft_span_json_value_equal(const ft_value *a, const ft_value *b, char *why,
                              size_t n)
{
    if (a->type != b->type)
        return differ(why, n, "type %d vs %d", (int)a->type, (int)b->type);
    switch (a->type) {
    case FT_VAL_EMPTY:
        return true;
    case FT_VAL_STRING:
    case FT_VAL_BYTES:
        return str_equal(a->u.s, b->u.s, "value", why, n);
    case FT_VAL_BOOL:
        return a->u.b == b->u.b ? true : differ(why, n, "bool differs");
    case FT_VAL_INT:
        return a->u.i == b->u.i ? true
                                : differ(why, n, "int %lld vs %lld",
                                         (long long)a->u.i, (long long)b->u.i);
    case FT_VAL_DOUBLE:
        if (isnan(a->u.d) && isnan(b->u.d))
            return true;
        if (a->u.d != b->u.d || signbit(a->u.d) != signbit(b->u.d))
            return differ(why, n, "double %.17g vs %.17g", a->u.d, b->u.d);
        return true;
    case FT_VAL_ARRAY:
        if (a->u.array.n != b->u.array.n)
            return differ(why, n, "array of %zu vs %zu", a->u.array.n,
                          b->u.array.n);
        for (size_t i = 0; i < a->u.array.n; i++)
            if (!ft_span_json_value_equal(&a->u.array.items[i],
                                          &b->u.array.items[i], why, n))
                return within(why, n, "[%zu]", i);
        return true;
    case FT_VAL_KVLIST:
        return attrs_equal((ft_attrs){a->u.kvlist.items, a->u.kvlist.n},
                           (ft_attrs){b->u.kvlist.items, b->u.kvlist.n}, why, n);
    }
    return differ(why, n, "unknown type %d", (int)a->type);
}

static bool attrs_equal(ft_attrs a, ft_attrs b, char *why, size_t n)
{
    if (a.n != b.n)
        return differ(why, n, "%zu vs %zu attributes", a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        if (!str_equal(a.items[i].key, b.items[i].key, "key", why, n) ||
            !ft_span_json_value_equal(&a.items[i].value, &b.items[i].value, why, n))
            return within(why, n, "attribute %zu (%.*s)", i,
                          (int)a.items[i].key.len, a.items[i].key.ptr);
    }
    return true;
}

static bool resource_equal(const ft_resource *a, const ft_resource *b,
                           char *why, size_t n)
{
    if (a == NULL || b == NULL)
        return differ(why, n, "NULL resource");
    if (!attrs_equal(a->attrs, b->attrs, why, n) ||
        !u64_equal(a->dropped_attrs, b->dropped_attrs, "dropped attributes", why, n) ||
        !str_equal(a->schema_url, b->schema_url, "schema url", why, n))
        return within(why, n, "resource");
    return true;
}

static bool scope_equal(const ft_scope *a, const ft_scope *b, char *why,
                        size_t n)
{
    if (a == NULL || b == NULL)
        return differ(why, n, "NULL scope");
    if (!str_equal(a->name, b->name, "name", why, n) ||
        !str_equal(a->version, b->version, "version", why, n) ||
        !attrs_equal(a->attrs, b->attrs, why, n) ||
        !u64_equal(a->dropped_attrs, b->dropped_attrs, "dropped attributes", why, n) ||
        !str_equal(a->schema_url, b->schema_url, "schema url", why, n))
        return within(why, n, "scope");
    return true;
}

/* Item i shares its resource (scope) with item i-1 in both batches or in
 * neither. */
static bool sharing_equal(const void *ra, const void *ra_prev, const void *rb,
                          const void *rb_prev, const char *what, char *why,
                          size_t n)
{
    if ((ra == ra_prev) != (rb == rb_prev))
        return differ(why, n, "%s shared with the previous item in one batch only",
                      what);
    return true;
}

static bool span_equal(const ft_span *a, const ft_span *b, char *why, size_t n)
{
    if (!bytes_equal(a->trace_id, b->trace_id, 16, "trace id", why, n) ||
        !bytes_equal(a->span_id, b->span_id, 8, "span id", why, n) ||
        !bytes_equal(a->parent_span_id, b->parent_span_id, 8, "parent span id", why, n) ||
        !u64_equal(a->has_parent, b->has_parent, "has_parent", why, n) ||
        !str_equal(a->trace_state, b->trace_state, "trace state", why, n) ||
        !u64_equal(a->flags, b->flags, "flags", why, n) ||
        !str_equal(a->name, b->name, "name", why, n) ||
        !u64_equal(a->kind, b->kind, "kind", why, n) ||
        !u64_equal(a->start_ns, b->start_ns, "start", why, n) ||
        !u64_equal(a->end_ns, b->end_ns, "end", why, n) ||
        !u64_equal(a->dropped_attrs, b->dropped_attrs, "dropped attributes", why, n) ||
        !u64_equal(a->n_events, b->n_events, "events", why, n) ||
        !u64_equal(a->dropped_events, b->dropped_events, "dropped events", why, n) ||
        !u64_equal(a->n_links, b->n_links, "links", why, n) ||
        !u64_equal(a->dropped_links, b->dropped_links, "dropped links", why, n) ||
        !u64_equal(a->status_code, b->status_code, "status code", why, n) ||
        !str_equal(a->status_message, b->status_message, "status message", why, n))
        return false;
    if (!attrs_equal(a->attrs, b->attrs, why, n))
        return within(why, n, "attributes");
    for (size_t i = 0; i < a->n_events; i++) {
        const ft_event *x = &a->events[i], *y = &b->events[i];
        if (!u64_equal(x->time_ns, y->time_ns, "time", why, n) ||
            !str_equal(x->name, y->name, "name", why, n) ||
            !attrs_equal(x->attrs, y->attrs, why, n) ||
            !u64_equal(x->dropped_attrs, y->dropped_attrs, "dropped attributes", why, n))
            return within(why, n, "event %zu", i);
    }
    for (size_t i = 0; i < a->n_links; i++) {
        const ft_link *x = &a->links[i], *y = &b->links[i];
        if (!bytes_equal(x->trace_id, y->trace_id, 16, "trace id", why, n) ||
            !bytes_equal(x->span_id, y->span_id, 8, "span id", why, n) ||
            !str_equal(x->trace_state, y->trace_state, "trace state", why, n) ||
            !attrs_equal(x->attrs, y->attrs, why, n) ||
            !u64_equal(x->dropped_attrs, y->dropped_attrs, "dropped attributes", why, n) ||
            !u64_equal(x->flags, y->flags, "flags", why, n))
            return within(why, n, "link %zu", i);
    }
    return resource_equal(a->resource, b->resource, why, n) &&
           scope_equal(a->scope, b->scope, why, n);
}

bool ft_span_json_spans_equal(const ft_span_batch *a, const ft_span_batch *b,
                              char *why, size_t n)
{
    if (a->n != b->n)
        return differ(why, n, "%zu vs %zu spans", a->n, b->n);
    if (a->rejected != b->rejected)
        return differ(why, n, "%zu vs %zu rejected", a->rejected, b->rejected);
    if (!str_equal(a->reject_reason, b->reject_reason, "reject reason", why, n))
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const ft_span *x = &a->spans[i], *y = &b->spans[i];
        if (!span_equal(x, y, why, n) ||
            (i > 0 && (!sharing_equal(x->resource, x[-1].resource, y->resource,
                                      y[-1].resource, "resource", why, n) ||
                       !sharing_equal(x->scope, x[-1].scope, y->scope,
                                      y[-1].scope, "scope", why, n))))
            return within(why, n, "span %zu (%.*s)", i, (int)x->name.len,
                          x->name.ptr);
    }
    return true;
}

static bool log_equal(const ft_log *a, const ft_log *b, char *why, size_t n)
{
    if (!u64_equal(a->time_ns, b->time_ns, "time", why, n) ||
        !u64_equal(a->observed_ns, b->observed_ns, "observed time", why, n) ||
        !u64_equal((uint64_t)(int64_t)a->severity_number,
                   (uint64_t)(int64_t)b->severity_number, "severity", why, n) ||
        !str_equal(a->severity_text, b->severity_text, "severity text", why, n) ||
        !u64_equal(a->dropped_attrs, b->dropped_attrs, "dropped attributes", why, n) ||
        !u64_equal(a->flags, b->flags, "flags", why, n) ||
        !bytes_equal(a->trace_id, b->trace_id, 16, "trace id", why, n) ||
        !bytes_equal(a->span_id, b->span_id, 8, "span id", why, n) ||
        !u64_equal(a->has_trace_id, b->has_trace_id, "has_trace_id", why, n) ||
        !u64_equal(a->has_span_id, b->has_span_id, "has_span_id", why, n) ||
        !str_equal(a->event_name, b->event_name, "event name", why, n))
        return false;
    if (!ft_span_json_value_equal(&a->body, &b->body, why, n))
        return within(why, n, "body");
    if (!attrs_equal(a->attrs, b->attrs, why, n))
        return within(why, n, "attributes");
    return resource_equal(a->resource, b->resource, why, n) &&
           scope_equal(a->scope, b->scope, why, n);
}

bool ft_span_json_logs_equal(const ft_log_batch *a, const ft_log_batch *b,
                             char *why, size_t n)
{
    if (a->n != b->n)
        return differ(why, n, "%zu vs %zu log records", a->n, b->n);
    if (a->rejected != b->rejected)
        return differ(why, n, "%zu vs %zu rejected", a->rejected, b->rejected);
    if (!str_equal(a->reject_reason, b->reject_reason, "reject reason", why, n))
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const ft_log *x = &a->logs[i], *y = &b->logs[i];
        if (!log_equal(x, y, why, n) ||
            (i > 0 && (!sharing_equal(x->resource, x[-1].resource, y->resource,
                                      y[-1].resource, "resource", why, n) ||
                       !sharing_equal(x->scope, x[-1].scope, y->scope,
                                      y[-1].scope, "scope", why, n))))
            return within(why, n, "log record %zu", i);
    }
    return true;
}
