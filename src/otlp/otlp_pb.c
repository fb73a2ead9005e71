/*
 * otlp_pb.c - zero-copy decoder for OTLP/protobuf trace and log exports.
 *
 * A hand-written reader of the protobuf wire format, specialised for the
 * handful of OTLP messages we need.  Strings and byte fields are slices of
 * the request body; arrays come from the request arena.
 *
 * Arrays are sized exactly: before decoding a message that has repeated
 * fields we scan it once at its own level (tags and lengths only, nested
 * messages are jumped over), count the occurrences, allocate, and then
 * decode.  The scan costs a fraction of the decode and keeps the arena free
 * of the slack that growing arrays would leave behind.  The scan and the
 * decode read fields with the same function, so the scan also checks the
 * framing and reports errors with the same names.
 *
 * Protobuf semantics we follow: fields may come in any order; a singular
 * field given twice keeps its last value (for embedded messages, too: we do
 * not merge them, which no OTLP exporter relies on); unknown fields of any
 * valid wire type are skipped; group wire types (3, 4) and the undefined
 * ones (6, 7) are errors, as is field number 0.
 */
#include "fedtrace/otlp.h"

#include <stdio.h>
#include <string.h>

#include "otlp/otlp_int.h"

#define MAX_VALUE_DEPTH FT_OTLP_MAX_VALUE_DEPTH
#define NO_STR FT_OTLP_NO_STR

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* ---- message descriptions, for error messages only ---------------------- */

typedef struct msgdesc {
    const char *name;
    const char *const *fields; /* indexed by field number; NULL = unknown */
    uint32_t nfields;
} msgdesc;

#define FIELDS(...) ((const char *const[]){__VA_ARGS__})
#define DESC(var, msgname, ...)                                              \
    static const msgdesc var = {                                             \
        msgname, FIELDS(__VA_ARGS__),                                        \
        sizeof(FIELDS(__VA_ARGS__)) / sizeof(const char *)}

DESC(D_TRACE_REQ, "ExportTraceServiceRequest", NULL, "resource_spans");
DESC(D_LOGS_REQ, "ExportLogsServiceRequest", NULL, "resource_logs");
DESC(D_RESOURCE_SPANS, "ResourceSpans", NULL, "resource", "scope_spans",
     "schema_url");
DESC(D_RESOURCE_LOGS, "ResourceLogs", NULL, "resource", "scope_logs",
     "schema_url");
DESC(D_SCOPE_SPANS, "ScopeSpans", NULL, "scope", "spans", "schema_url");
DESC(D_SCOPE_LOGS, "ScopeLogs", NULL, "scope", "log_records", "schema_url");
DESC(D_RESOURCE, "Resource", NULL, "attributes", "dropped_attributes_count");
DESC(D_SCOPE, "InstrumentationScope", NULL, "name", "version", "attributes",
     "dropped_attributes_count");
DESC(D_SPAN, "Span", NULL, "trace_id", "span_id", "trace_state",
     "parent_span_id", "name", "kind", "start_time_unix_nano",
     "end_time_unix_nano", "attributes", "dropped_attributes_count",
     "events", "dropped_events_count", "links", "dropped_links_count",
     "status", "flags");
DESC(D_EVENT, "Span.Event", NULL, "time_unix_nano", "name", "attributes",
     "dropped_attributes_count");
DESC(D_LINK, "Span.Link", NULL, "trace_id", "span_id", "trace_state",
     "attributes", "dropped_attributes_count", "flags");
DESC(D_STATUS, "Status", NULL, NULL, "message", "code");
DESC(D_LOG, "LogRecord", NULL, "time_unix_nano", "severity_number",
     "severity_text", NULL, "body", "attributes", "dropped_attributes_count",
     "flags", "trace_id", "span_id", "observed_time_unix_nano",
     "event_name");
DESC(D_KEYVALUE, "KeyValue", NULL, "key", "value");
DESC(D_ANYVALUE, "AnyValue", NULL, "string_value", "bool_value",
     "int_value", "double_value", "array_value", "kvlist_value",
     "bytes_value");
DESC(D_ARRAY, "ArrayValue", NULL, "values");
DESC(D_KVLIST, "KeyValueList", NULL, "values");

/* ---- decoder state and errors ------------------------------------------- */

typedef struct dec {
    const uint8_t *body; /* start of the request, for error offsets */
    ft_arena *arena;
    ft_err *err;
    ft_otlp_rejects rej;
    /* the output array, sized by the pre-walk */
    void *items;
    size_t n, cap;
} dec;

/* One field as read from the wire.  For LEN fields p/len is the payload;
 * for the others v holds the varint or the little-endian fixed value. */
typedef struct field {
    uint32_t num;
    unsigned wt;
    uint64_t v;
    const uint8_t *p;
    size_t len;
    const uint8_t *at; /* where the tag starts, for error offsets */
} field;

/* A message being read. */
typedef struct rd {
    const uint8_t *p, *end;
} rd;

static void field_name(const msgdesc *m, uint32_t num, char *buf, size_t n)
{
    if (num < m->nfields && m->fields[num] != NULL)
        snprintf(buf, n, "%s.%s", m->name, m->fields[num]);
    else
        snprintf(buf, n, "%s field %u", m->name, (unsigned)num);
}

static ft_code wire_err(dec *d, const msgdesc *m, uint32_t num,
                        const uint8_t *at, const char *what)
{
    char name[128];
    if (num == 0)
        snprintf(name, sizeof name, "%s", m->name);
    else
        field_name(m, num, name, sizeof name);
    return ft_err_set(d->err, FT_DECODE, 0,
                      "OTLP protobuf: %s: %s (at byte %zu)", name, what,
                      (size_t)(at - d->body));
}

static ft_code nomem(dec *d, const msgdesc *m, uint32_t num)
{
    char name[128];
    field_name(m, num, name, sizeof name);
    return ft_err_set(d->err, FT_NOMEM, 0,
                      "OTLP protobuf: arena exhausted decoding %s", name);
}

/* n elements of size sz, uninitialised; NULL for n == 0 (and no error). */
static ft_code alloc_array(dec *d, size_t n, size_t sz, void **out,
                           const msgdesc *m, uint32_t num)
{
    *out = NULL;
    if (n == 0)
        return FT_OK;
    if (n > SIZE_MAX / sz || (*out = ft_arena_alloc(d->arena, n * sz)) == NULL)
        return nomem(d, m, num);
    return FT_OK;
}

/* ---- the wire reader ----------------------------------------------------- */

enum { VARINT_OK, VARINT_TRUNCATED, VARINT_TOO_LONG };

static inline int read_varint(const uint8_t **pp, const uint8_t *end,
                              uint64_t *out)
{
    const uint8_t *p = *pp;
    /* Tags, lengths, enums and small counts are almost always one byte. */
    if (p < end && *p < 0x80) {
        *out = *p;
        *pp = p + 1;
        return VARINT_OK;
    }
    uint64_t v = 0;
    for (unsigned shift = 0; shift <= 63; shift += 7) {
        if (p >= end)
            return VARINT_TRUNCATED;
        uint8_t b = *p++;
        /* bits past 64 in the tenth byte are dropped, as protobuf does */
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            *pp = p;
            return VARINT_OK;
        }
    }
    return VARINT_TOO_LONG;
}

static inline uint64_t load_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/*
 * Reads the next field of r (r->p < r->end) into f, whatever its wire type,
 * and checks that it lies within the message.  Every framing error is found
 * here.
 */
static ft_code next_field(dec *d, const msgdesc *m, rd *r, field *f)
{
    const uint8_t *p = r->p;
    uint64_t tag;
    f->at = p;
    int rc = read_varint(&p, r->end, &tag);
    if (rc != VARINT_OK)
        return wire_err(d, m, 0, f->at,
                        rc == VARINT_TRUNCATED ? "truncated tag"
                                               : "tag varint longer than 10 bytes");
    if (tag > UINT32_MAX || (tag >> 3) == 0)
        return wire_err(d, m, 0, f->at, "invalid field number");
    f->num = (uint32_t)(tag >> 3);
    f->wt = (unsigned)(tag & 7);
    size_t left;
    switch (f->wt) {
    case WT_VARINT:
        rc = read_varint(&p, r->end, &f->v);
        if (rc != VARINT_OK)
            return wire_err(d, m, f->num, f->at,
                            rc == VARINT_TRUNCATED ? "truncated varint"
                                                   : "varint longer than 10 bytes");
        break;
    case WT_I64:
        if (r->end - p < 8)
            return wire_err(d, m, f->num, f->at, "truncated fixed64");
        f->v = load_le(p, 8);
        p += 8;
        break;
    case WT_I32:
        if (r->end - p < 4)
            return wire_err(d, m, f->num, f->at, "truncated fixed32");
        f->v = load_le(p, 4);
        p += 4;
        break;
    case WT_LEN: {
        uint64_t len;
        rc = read_varint(&p, r->end, &len);
        if (rc != VARINT_OK)
            return wire_err(d, m, f->num, f->at,
                            rc == VARINT_TRUNCATED ? "truncated length"
                                                   : "length varint longer than 10 bytes");
        left = (size_t)(r->end - p);
        if (len > left) {
            char what[96];
            snprintf(what, sizeof what,
                     "length %llu past the end of the message (%zu bytes left)",
                     (unsigned long long)len, left);
            return wire_err(d, m, f->num, f->at, what);
        }
        f->p = p;
        f->len = (size_t)len;
        p += len;
        break;
    }
    case 3:
    case 4:
        return wire_err(d, m, f->num, f->at, "group wire types are not supported");
    default:
        return wire_err(d, m, f->num, f->at, "invalid wire type");
    }
    r->p = p;
    return FT_OK;
}

/* A known field arrived with a wire type it cannot have. */
static ft_code want(dec *d, const msgdesc *m, const field *f, unsigned wt)
{
    if (f->wt == wt)
        return FT_OK;
    static const char *const wtname[8] = {"varint", "fixed64", "length-delimited",
                                          "group start", "group end", "fixed32",
                                          "6", "7"};
    char what[96];
    snprintf(what, sizeof what, "wrong wire type %s (expected %s)",
             wtname[f->wt & 7], wtname[wt & 7]);
    return wire_err(d, m, f->num, f->at, what);
}

static inline rd sub_rd(const field *f)
{
    return (rd){f->p, f->p + f->len};
}

static inline ft_str as_str(const field *f)
{
    return (ft_str){(const char *)f->p, f->len};
}

/*
 * Counts the LEN occurrences of fields num[0..k-1] in the message, checking
 * its framing on the way.  Occurrences with another wire type are not
 * counted: the decode pass rejects them before it needs a slot, so the
 * counts are upper bounds of what the decode pass stores.
 */
static ft_code count_fields(dec *d, const msgdesc *m, rd r,
                            const uint32_t *num, size_t *n, int k)
{
    for (int i = 0; i < k; i++)
        n[i] = 0;
    field f;
    while (r.p < r.end) {
        ft_code rc = next_field(d, m, &r, &f);
        if (rc != FT_OK)
            return rc;
        if (f.wt == WT_LEN)
            for (int i = 0; i < k; i++)
                n[i] += f.num == num[i];
    }
    return FT_OK;
}

static ft_code count_one(dec *d, const msgdesc *m, rd r, uint32_t num,
                         size_t *n)
{
    return count_fields(d, m, r, &num, n, 1);
}

#define TRY(expr)                                                            \
    do {                                                                     \
        ft_code rc_ = (expr);                                                \
        if (rc_ != FT_OK)                                                    \
            return rc_;                                                      \
    } while (0)

/* ---- common.proto -------------------------------------------------------- */

static ft_code decode_value(dec *d, rd r, ft_value *out, int depth);

/* An array of n attributes (counted beforehand) to be filled by add_attr. */
static ft_code alloc_attrs(dec *d, const msgdesc *m, uint32_t num, size_t n,
                           ft_attrs *out)
{
    out->n = 0;
    return alloc_array(d, n, sizeof(ft_attr), (void **)&out->items, m, num);
}

/* Decodes the KeyValue in f into the next slot of `attrs` (of size cap). */
static ft_code add_attr(dec *d, const msgdesc *m, const field *f,
                        ft_attrs *attrs, size_t cap, int depth)
{
    TRY(want(d, m, f, WT_LEN));
    if (attrs->n >= cap) /* cannot happen: the count saw the same bytes */
        return wire_err(d, m, f->num, f->at, "internal count mismatch");
    ft_attr *kv = &attrs->items[attrs->n++];
    kv->key = NO_STR;
    kv->value.type = FT_VAL_EMPTY;
    rd r = sub_rd(f);
    field g;
    while (r.p < r.end) {
        TRY(next_field(d, &D_KEYVALUE, &r, &g));
        switch (g.num) {
        case 1:
            TRY(want(d, &D_KEYVALUE, &g, WT_LEN));
            kv->key = as_str(&g);
            break;
        case 2:
            TRY(want(d, &D_KEYVALUE, &g, WT_LEN));
            TRY(decode_value(d, sub_rd(&g), &kv->value, depth));
            break;
        default:
            break;
        }
    }
    return FT_OK;
}

static ft_code decode_array(dec *d, rd r, ft_value *out, int depth)
{
    size_t n;
    TRY(count_one(d, &D_ARRAY, r, 1, &n));
    ft_value *items;
    TRY(alloc_array(d, n, sizeof(ft_value), (void **)&items, &D_ARRAY, 1));
    size_t i = 0;
    field f;
    while (r.p < r.end) {
        TRY(next_field(d, &D_ARRAY, &r, &f));
        if (f.num != 1)
            continue;
        TRY(want(d, &D_ARRAY, &f, WT_LEN));
        if (i >= n)
            return wire_err(d, &D_ARRAY, 1, f.at, "internal count mismatch");
        TRY(decode_value(d, sub_rd(&f), &items[i++], depth + 1));
    }
    out->type = FT_VAL_ARRAY;
    out->u.array.items = items;
    out->u.array.n = i;
    return FT_OK;
}

static ft_code decode_kvlist(dec *d, rd r, ft_value *out, int depth)
{
    size_t n;
    TRY(count_one(d, &D_KVLIST, r, 1, &n));
    ft_attrs attrs;
    TRY(alloc_attrs(d, &D_KVLIST, 1, n, &attrs));
    field f;
    while (r.p < r.end) {
        TRY(next_field(d, &D_KVLIST, &r, &f));
        if (f.num == 1)
            TRY(add_attr(d, &D_KVLIST, &f, &attrs, n, depth + 1));
    }
    out->type = FT_VAL_KVLIST;
    out->u.kvlist.items = attrs.items;
    out->u.kvlist.n = attrs.n;
    return FT_OK;
}

/* AnyValue; `depth` counts the AnyValues around this one. */
static ft_code decode_value(dec *d, rd r, ft_value *out, int depth)
{
    if (depth >= MAX_VALUE_DEPTH)
        return wire_err(d, &D_ANYVALUE, 0, r.p,
                        "values nested deeper than 32 levels");
    out->type = FT_VAL_EMPTY;
    field f;
    while (r.p < r.end) {
        TRY(next_field(d, &D_ANYVALUE, &r, &f));
        /* a oneof: the last member given wins */
        switch (f.num) {
        case 1:
            TRY(want(d, &D_ANYVALUE, &f, WT_LEN));
            out->type = FT_VAL_STRING;
            out->u.s = as_str(&f);
            break;
        case 2:
            TRY(want(d, &D_ANYVALUE, &f, WT_VARINT));
            out->type = FT_VAL_BOOL;
            out->u.b = f.v != 0;
            break;
        case 3:
            TRY(want(d, &D_ANYVALUE, &f, WT_VARINT));
            out->type = FT_VAL_INT;
            /* int64 travels as its two's complement in a varint */
            out->u.i = (int64_t)f.v;
            break;
        case 4:
            TRY(want(d, &D_ANYVALUE, &f, WT_I64));
            out->type = FT_VAL_DOUBLE;
            memcpy(&out->u.d, &f.v, sizeof out->u.d);
            break;
        case 5:
            TRY(want(d, &D_ANYVALUE, &f, WT_LEN));
            TRY(decode_array(d, sub_rd(&f), out, depth));
            break;
        case 6:
            TRY(want(d, &D_ANYVALUE, &f, WT_LEN));
            TRY(decode_kvlist(d, sub_rd(&f), out, depth));
            break;
        case 7:
            TRY(want(d, &D_ANYVALUE, &f, WT_LEN));
            out->type = FT_VAL_BYTES;
            out->u.s = as_str(&f);
            break;
        default:
            break;
        }
    }
    return FT_OK;
}

/* ---- resource.proto, InstrumentationScope -------------------------------- */

static ft_code decode_resource(dec *d, rd r, ft_resource *out)
{
    size_t n;
    TRY(count_one(d, &D_RESOURCE, r, 1, &n));
    TRY(alloc_attrs(d, &D_RESOURCE, 1, n, &out->attrs));
    out->dropped_attrs = 0;
    field f;
    while (r.p < r.end) {
        TRY(next_field(d, &D_RESOURCE, &r, &f));
        switch (f.num) {
        case 1:
            TRY(add_attr(d, &D_RESOURCE, &f, &out->attrs, n, 0));
            break;
        case 2:
            TRY(want(d, &D_RESOURCE, &f, WT_VARINT));
            out->dropped_attrs = (uint32_t)f.v;
            break;
        default:
            break;
        }
    }
    return FT_OK;
}

static ft_code decode_scope(dec *d, rd r, ft_scope *out)
{
    size_t n;
    TRY(count_one(d, &D_SCOPE, r, 3, &n));
    TRY(alloc_attrs(d, &D_SCOPE, 3, n, &out->attrs));
    out->name = out->version = NO_STR;
    out->dropped_attrs = 0;
    field f;
    while (r.p < r.end) {
        TRY(next_field(d, &D_SCOPE, &r, &f));
        switch (f.num) {
        case 1:
            TRY(want(d, &D_SCOPE, &f, WT_LEN));
            out->name = as_str(&f);
            break;
        case 2:
            TRY(want(d, &D_SCOPE, &f, WT_LEN));
            out->version = as_str(&f);
            break;
        case 3:
            TRY(add_attr(d, &D_SCOPE, &f, &out->attrs, n, 0));
            break;
        case 4:
            TRY(want(d, &D_SCOPE, &f, WT_VARINT));
            out->dropped_attrs = (uint32_t)f.v;
            break;
        default:
            break;
        }
    }
    return FT_OK;
}

/* ---- trace.proto --------------------------------------------------------- */

static ft_code decode_event(dec *d, rd r, ft_event *out)
{
    size_t n;
    TRY(count_one(d, &D_EVENT, r, 3, &n));
    TRY(alloc_attrs(d, &D_EVENT, 3, n, &out->attrs));
    out->time_ns = 0;
    out->name = NO_STR;
    out->dropped_attrs = 0;
    field f;
    while (r.p < r.end) {
        TRY(next_field(d, &D_EVENT, &r, &f));
        switch (f.num) {
        case 1:
            TRY(want(d, &D_EVENT, &f, WT_I64));
            out->time_ns = f.v;
            break;
        case 2:
            TRY(want(d, &D_EVENT, &f, WT_LEN));
            out->name = as_str(&f);
            break;
        case 3:
            TRY(add_attr(d, &D_EVENT, &f, &out->attrs, n, 0));
            break;
        case 4:
            TRY(want(d, &D_EVENT, &f, WT_VARINT));
            out->dropped_attrs = (uint32_t)f.v;
            break;
        default:
            break;
        }
    }
    return FT_OK;
}

static ft_code decode_link(dec *d, rd r, ft_link *out)
{
    size_t n;
    TRY(count_one(d, &D_LINK, r, 4, &n));
    TRY(alloc_attrs(d, &D_LINK, 4, n, &out->attrs));
    /* A link's ids are kept only when they have the right size; a link to
     * nowhere is not reason enough to refuse the span that carries it. */
    memset(out->trace_id, 0, sizeof out->trace_id);
    memset(out->span_id, 0, sizeof out->span_id);
    out->trace_state = NO_STR;
    out->dropped_attrs = 0;
    out->flags = 0;
    field f;
    while (r.p < r.end) {
        TRY(next_field(d, &D_LINK, &r, &f));
        switch (f.num) {
        case 1:
            TRY(want(d, &D_LINK, &f, WT_LEN));
            if (f.len == sizeof out->trace_id)
                memcpy(out->trace_id, f.p, f.len);
            else
                memset(out->trace_id, 0, sizeof out->trace_id);
            break;
        case 2:
            TRY(want(d, &D_LINK, &f, WT_LEN));
            if (f.len == sizeof out->span_id)
                memcpy(out->span_id, f.p, f.len);
            else
                memset(out->span_id, 0, sizeof out->span_id);
            break;
        case 3:
            TRY(want(d, &D_LINK, &f, WT_LEN));
            out->trace_state = as_str(&f);
            break;
        case 4:
            TRY(add_attr(d, &D_LINK, &f, &out->attrs, n, 0));
            break;
        case 5:
            TRY(want(d, &D_LINK, &f, WT_VARINT));
            out->dropped_attrs = (uint32_t)f.v;
            break;
        case 6:
            TRY(want(d, &D_LINK, &f, WT_I32));
            out->flags = (uint32_t)f.v;
            break;
        default:
            break;
        }
    }
    return FT_OK;
}

static ft_code decode_status(dec *d, rd r, ft_span *out)
{
    out->status_code = FT_STATUS_UNSET;
    out->status_message = NO_STR;
    field f;
    while (r.p < r.end) {
        TRY(next_field(d, &D_STATUS, &r, &f));
        switch (f.num) {
        case 2:
            TRY(want(d, &D_STATUS, &f, WT_LEN));
            out->status_message = as_str(&f);
            break;
        case 3:
            TRY(want(d, &D_STATUS, &f, WT_VARINT));
            out->status_code = ft__otlp_status_code(f.v);
            break;
        default:
            break;
        }
    }
    return FT_OK;
}

/*
 * Decodes one Span into the next free slot of the batch; the slot is kept
 * only when the ids are valid.  The whole span is decoded even when its ids
 * are already known to be bad, because wire errors anywhere in the request
 * must still fail it.
 */
static ft_code decode_span(dec *d, rd r, const ft_resource *res,
                           const ft_scope *scope, const uint8_t *at)
{
    if (d->n >= d->cap)
        return wire_err(d, &D_SCOPE_SPANS, 2, at, "internal count mismatch");
    ft_span *s = (ft_span *)d->items + d->n;
    memset(s, 0, sizeof *s);
    s->trace_state = s->name = s->status_message = NO_STR;
    s->resource = res;
    s->scope = scope;
    static const uint32_t rep[3] = {9, 11, 13};
    size_t n[3];
    TRY(count_fields(d, &D_SPAN, r, rep, n, 3));
    TRY(alloc_attrs(d, &D_SPAN, 9, n[0], &s->attrs));
    TRY(alloc_array(d, n[1], sizeof(ft_event), (void **)&s->events, &D_SPAN, 11));
    TRY(alloc_array(d, n[2], sizeof(ft_link), (void **)&s->links, &D_SPAN, 13));

    size_t trace_len = 0, span_len = 0, parent_len = 0;
    field f;
    while (r.p < r.end) {
        TRY(next_field(d, &D_SPAN, &r, &f));
        switch (f.num) {
        case 1:
            TRY(want(d, &D_SPAN, &f, WT_LEN));
            trace_len = f.len;
            if (f.len == sizeof s->trace_id)
                memcpy(s->trace_id, f.p, f.len);
            break;
        case 2:
            TRY(want(d, &D_SPAN, &f, WT_LEN));
            span_len = f.len;
            if (f.len == sizeof s->span_id)
                memcpy(s->span_id, f.p, f.len);
            break;
        case 3:
            TRY(want(d, &D_SPAN, &f, WT_LEN));
            s->trace_state = as_str(&f);
            break;
        case 4:
            TRY(want(d, &D_SPAN, &f, WT_LEN));
            parent_len = f.len;
            if (f.len == sizeof s->parent_span_id)
                memcpy(s->parent_span_id, f.p, f.len);
            break;
        case 5:
            TRY(want(d, &D_SPAN, &f, WT_LEN));
            s->name = as_str(&f);
            break;
        case 6:
            TRY(want(d, &D_SPAN, &f, WT_VARINT));
            s->kind = ft__otlp_span_kind(f.v);
            break;
        case 7:
            TRY(want(d, &D_SPAN, &f, WT_I64));
            s->start_ns = f.v;
            break;
        case 8:
            TRY(want(d, &D_SPAN, &f, WT_I64));
            s->end_ns = f.v;
            break;
        case 9:
            TRY(add_attr(d, &D_SPAN, &f, &s->attrs, n[0], 0));
            break;
        case 10:
            TRY(want(d, &D_SPAN, &f, WT_VARINT));
            s->dropped_attrs = (uint32_t)f.v;
            break;
        case 11:
            TRY(want(d, &D_SPAN, &f, WT_LEN));
            if (s->n_events >= n[1])
                return wire_err(d, &D_SPAN, 11, f.at, "internal count mismatch");
            TRY(decode_event(d, sub_rd(&f), &s->events[s->n_events++]));
            break;
        case 12:
            TRY(want(d, &D_SPAN, &f, WT_VARINT));
            s->dropped_events = (uint32_t)f.v;
            break;
        case 13:
            TRY(want(d, &D_SPAN, &f, WT_LEN));
            if (s->n_links >= n[2])
                return wire_err(d, &D_SPAN, 13, f.at, "internal count mismatch");
            TRY(decode_link(d, sub_rd(&f), &s->links[s->n_links++]));
            break;
        case 14:
            TRY(want(d, &D_SPAN, &f, WT_VARINT));
            s->dropped_links = (uint32_t)f.v;
            break;
        case 15:
            TRY(want(d, &D_SPAN, &f, WT_LEN));
            TRY(decode_status(d, sub_rd(&f), s));
            break;
        case 16:
            TRY(want(d, &D_SPAN, &f, WT_I32));
            s->flags = (uint32_t)f.v;
            break;
        default:
            break;
        }
    }

    if (ft__otlp_span_ids_ok(s, trace_len, span_len, parent_len, &d->rej))
        d->n++;
    return FT_OK;
}

/* ---- logs.proto ---------------------------------------------------------- */

static ft_code decode_log(dec *d, rd r, const ft_resource *res,
                          const ft_scope *scope, const uint8_t *at)
{
    if (d->n >= d->cap)
        return wire_err(d, &D_SCOPE_LOGS, 2, at, "internal count mismatch");
    ft_log *l = (ft_log *)d->items + d->n;
    memset(l, 0, sizeof *l);
    l->severity_text = l->event_name = NO_STR;
    l->resource = res;
    l->scope = scope;
    size_t n;
    TRY(count_one(d, &D_LOG, r, 6, &n));
    TRY(alloc_attrs(d, &D_LOG, 6, n, &l->attrs));

    size_t trace_len = 0, span_len = 0;
    field f;
    while (r.p < r.end) {
        TRY(next_field(d, &D_LOG, &r, &f));
        switch (f.num) {
        case 1:
            TRY(want(d, &D_LOG, &f, WT_I64));
            l->time_ns = f.v;
            break;
        case 2:
            TRY(want(d, &D_LOG, &f, WT_VARINT));
            /* an enum is an int32 on the wire (negatives sign-extended) */
            l->severity_number = (int32_t)(uint32_t)f.v;
            break;
        case 3:
            TRY(want(d, &D_LOG, &f, WT_LEN));
            l->severity_text = as_str(&f);
            break;
        case 5:
            TRY(want(d, &D_LOG, &f, WT_LEN));
            TRY(decode_value(d, sub_rd(&f), &l->body, 0));
            break;
        case 6:
            TRY(add_attr(d, &D_LOG, &f, &l->attrs, n, 0));
            break;
        case 7:
            TRY(want(d, &D_LOG, &f, WT_VARINT));
            l->dropped_attrs = (uint32_t)f.v;
            break;
        case 8:
            TRY(want(d, &D_LOG, &f, WT_I32));
            l->flags = (uint32_t)f.v;
            break;
        case 9:
            TRY(want(d, &D_LOG, &f, WT_LEN));
            trace_len = f.len;
            if (f.len == sizeof l->trace_id)
                memcpy(l->trace_id, f.p, f.len);
            break;
        case 10:
            TRY(want(d, &D_LOG, &f, WT_LEN));
            span_len = f.len;
            if (f.len == sizeof l->span_id)
                memcpy(l->span_id, f.p, f.len);
            break;
        case 11:
            TRY(want(d, &D_LOG, &f, WT_I64));
            l->observed_ns = f.v;
            break;
        case 12:
            TRY(want(d, &D_LOG, &f, WT_LEN));
            l->event_name = as_str(&f);
            break;
        default: /* 4 (the old `name`) is reserved */
            break;
        }
    }

    if (ft__otlp_log_ids_ok(l, trace_len, span_len, &d->rej))
        d->n++;
    return FT_OK;
}

/* ---- the export envelope, shared by traces and logs ---------------------- */

/*
 * Traces and logs wrap their leaf items alike:
 *   ExportXServiceRequest{1: ResourceX}
 *   ResourceX{1: Resource, 2: ScopeX, 3: schema_url}
 *   ScopeX{1: InstrumentationScope, 2: leaf item, 3: schema_url}
 * A signal names the messages (for errors) and says how to decode a leaf.
 */
typedef struct signal_desc {
    const msgdesc *req, *resource, *scope;
    size_t item_size; /* of the output array's elements */
    /* decodes the leaf in r (whose tag starts at `at`) into d->items[d->n] */
    ft_code (*leaf)(dec *d, rd r, const ft_resource *res,
                    const ft_scope *scope, const uint8_t *at);
} signal_desc;

static const signal_desc SIG_TRACES = {&D_TRACE_REQ, &D_RESOURCE_SPANS,
                                       &D_SCOPE_SPANS, sizeof(ft_span),
                                       decode_span};
static const signal_desc SIG_LOGS = {&D_LOGS_REQ, &D_RESOURCE_LOGS,
                                     &D_SCOPE_LOGS, sizeof(ft_log),
                                     decode_log};

/* ScopeSpans / ScopeLogs */
static ft_code decode_scope_x(dec *d, const signal_desc *sig, rd r,
                              const ft_resource *res)
{
    /* Allocated first so that leaves can point at it even when the scope
     * field comes after them on the wire. */
    ft_scope *scope = ft_arena_calloc(d->arena, sizeof *scope);
    if (scope == NULL)
        return nomem(d, sig->scope, 1);
    scope->name = scope->version = scope->schema_url = NO_STR;
    field f;
    while (r.p < r.end) {
        TRY(next_field(d, sig->scope, &r, &f));
        switch (f.num) {
        case 1:
            TRY(want(d, sig->scope, &f, WT_LEN));
            TRY(decode_scope(d, sub_rd(&f), scope));
            break;
        case 2:
            TRY(want(d, sig->scope, &f, WT_LEN));
            TRY(sig->leaf(d, sub_rd(&f), res, scope, f.at));
            break;
        case 3:
            TRY(want(d, sig->scope, &f, WT_LEN));
            scope->schema_url = as_str(&f);
            break;
        default:
            break;
        }
    }
    return FT_OK;
}

/* ResourceSpans / ResourceLogs */
static ft_code decode_resource_x(dec *d, const signal_desc *sig, rd r)
{
    ft_resource *res = ft_arena_calloc(d->arena, sizeof *res);
    if (res == NULL)
        return nomem(d, sig->resource, 1);
    res->schema_url = NO_STR;
    field f;
    while (r.p < r.end) {
        TRY(next_field(d, sig->resource, &r, &f));
        switch (f.num) {
        case 1:
            TRY(want(d, sig->resource, &f, WT_LEN));
            TRY(decode_resource(d, sub_rd(&f), res));
            break;
        case 2:
            TRY(want(d, sig->resource, &f, WT_LEN));
            TRY(decode_scope_x(d, sig, sub_rd(&f), res));
            break;
        case 3:
            TRY(want(d, sig->resource, &f, WT_LEN));
            res->schema_url = as_str(&f);
            break;
        default:
            break;
        }
    }
    return FT_OK;
}

/*
 * Counts the leaf items (spans or log records) of a request:
 * request.1 -> resource.2 -> scope.2.  Framing errors on the way are
 * reported here, named as the decode pass would name them.
 */
static ft_code count_leaves(dec *d, const signal_desc *sig, rd r,
                            size_t *total)
{
    size_t t = 0;
    field f, g;
    while (r.p < r.end) {
        TRY(next_field(d, sig->req, &r, &f));
        if (f.num != 1 || f.wt != WT_LEN)
            continue;
        rd rr = sub_rd(&f);
        while (rr.p < rr.end) {
            TRY(next_field(d, sig->resource, &rr, &g));
            if (g.num != 2 || g.wt != WT_LEN)
                continue;
            size_t n;
            TRY(count_one(d, sig->scope, sub_rd(&g), 2, &n));
            t += n;
        }
    }
    *total = t;
    return FT_OK;
}

/*
 * Decodes the leaves of the request in r into d->items[0..d->n) (NULL when
 * there are none), counting refusals in d->rej.
 */
static ft_code decode_request(dec *d, const signal_desc *sig, rd r)
{
    size_t total;
    TRY(count_leaves(d, sig, r, &total));
    TRY(alloc_array(d, total, sig->item_size, &d->items, sig->scope, 2));
    d->cap = total;

    field f;
    while (r.p < r.end) {
        TRY(next_field(d, sig->req, &r, &f));
        if (f.num == 1) {
            TRY(want(d, sig->req, &f, WT_LEN));
            TRY(decode_resource_x(d, sig, sub_rd(&f)));
        }
    }
    if (d->n == 0)
        d->items = NULL;
    return FT_OK;
}

/*
 * Decodes the export request body[0..len), whose arguments the caller has
 * checked, into *d.  An empty request is a valid, empty message; after a
 * failure *d is an empty result too, so that the caller can publish *d
 * whatever the outcome.
 */
static ft_code decode_export(dec *d, const signal_desc *sig,
                             const uint8_t *body, size_t len,
                             ft_arena *arena, ft_err *err)
{
    *d = (dec){.body = body, .arena = arena, .err = err, .rej = {0, NO_STR}};
    ft_code rc = len == 0 ? FT_OK : decode_request(d, sig, (rd){body, body + len});
    if (rc != FT_OK || len == 0)
        *d = (dec){.rej = {0, NO_STR}};
    return rc;
}

static ft_code missing_argument(ft_err *err)
{
    return ft_err_set(err, FT_INVAL, 0, "OTLP protobuf: missing argument");
}

ft_code ft_otlp_decode_traces_pb(const uint8_t *body, size_t len,
                                 ft_arena *arena, ft_span_batch *batch,
                                 ft_err *err)
{
    if (batch == NULL || arena == NULL || (body == NULL && len != 0))
        return missing_argument(err);
    dec d;
    ft_code rc = decode_export(&d, &SIG_TRACES, body, len, arena, err);
    *batch = (ft_span_batch){d.items, d.n, d.rej.n, d.rej.reason};
    return rc;
}

ft_code ft_otlp_decode_logs_pb(const uint8_t *body, size_t len,
                               ft_arena *arena, ft_log_batch *batch,
                               ft_err *err)
{
    if (batch == NULL || arena == NULL || (body == NULL && len != 0))
        return missing_argument(err);
    dec d;
    ft_code rc = decode_export(&d, &SIG_LOGS, body, len, arena, err);
    *batch = (ft_log_batch){d.items, d.n, d.rej.n, d.rej.reason};
    return rc;
}
