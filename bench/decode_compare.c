/*
 * decode_compare.c - fedtrace's zero-copy OTLP/protobuf reader against
 * protobuf-c, on the same request bodies.
 *
 *   decode_compare [--seconds S] [--reps N] [--check-only] FILE.pb...
 *
 * Every file is one ExportTraceServiceRequest body.  First both decoders
 * read every file and their results are compared field by field in the
 * ft_span model (ids, names, kinds, times, attributes, events, links,
 * status, resource, scope); any difference is printed and the program
 * exits 1 before timing anything.
 *
 * Then each contender decodes all files in turn, over and over, for at
 * least S seconds (default 2); N rounds (default 5) run every contender
 * once each, interleaved, and the median of a contender's N rates is
 * reported:
 *
 *   fedtrace          ft_otlp_decode_traces_pb, arena reset per request
 *   protobuf-c        generated unpack + free_unpacked (system malloc)
 *   protobuf-c+ft     unpack, then walk the result into an ft_span_batch
 *                     (what the receiver needs), then free
 *   memcpy            copying the bodies once: the ceiling
 *
 * Heap per request is measured in a separate, untimed pass: for fedtrace
 * the arena bytes a request uses, for protobuf-c the bytes asked of a
 * counting ProtobufCAllocator (plus the arena bytes of the conversion).
 *
 * Output on stdout: a comment line describing the input, then one
 * tab-separated line per contender under a header line (see print_row);
 * bench/decode_compare.sh turns it into a markdown table.  Progress and
 * the spread of the repetitions go to stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <protobuf-c/protobuf-c.h>

#include "fedtrace/otlp.h"
#include "trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
    pb_request;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans pb_resource_spans;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans pb_scope_spans;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event pb_event;
typedef Opentelemetry__Proto__Trace__V1__Span__Link pb_link;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_keyvalue;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_anyvalue;

#define pb_unpack opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack
#define pb_free opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked

/* As deep as fedtrace's decoder lets AnyValues nest. */
#define MAX_VALUE_DEPTH 32

/* ---- the request bodies -------------------------------------------------- */

typedef struct fixture {
    const char *path;
    char *raw; /* as read, for freeing */
    const uint8_t *data;
    size_t len;
    size_t spans; /* as decoded by fedtrace */
} fixture;

typedef struct bench {
    fixture *fx;
    size_t nfx;
    size_t total_bytes;
    size_t total_spans;
    ft_arena *arena;
    uint8_t *copy; /* memcpy target, as large as the largest body */
    size_t sink;   /* results folded in here so nothing is optimised away */
} bench;

/* ---- protobuf-c result -> ft_span_batch ---------------------------------- */

/*
 * The conversion a receiver built on protobuf-c would need: the same model
 * and the same refusals as ft_otlp_decode_traces_pb.  Strings are not
 * copied again: they point into the unpacked message, which must then live
 * as long as the batch (as the body must for fedtrace's reader).
 */
typedef struct conv {
    ft_arena *arena;
    size_t rejected;
    ft_str reject_reason;
} conv;

static ft_str cstr(const char *s)
{
    return (ft_str){s, strlen(s)};
}

static void *conv_array(conv *c, size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    if (n > SIZE_MAX / size)
        return NULL;
    return ft_arena_alloc(c->arena, n * size);
}

static bool conv_attrs(conv *c, pb_keyvalue *const *kv, size_t n,
                       ft_attrs *out, int depth);

static bool conv_value(conv *c, const pb_anyvalue *v, ft_value *out,
                       int depth)
{
    out->type = FT_VAL_EMPTY;
    if (v == NULL)
        return true;
    if (depth >= MAX_VALUE_DEPTH)
        return false;
    switch (v->value_case) {
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
        out->type = FT_VAL_STRING;
        out->u.s = cstr(v->string_value);
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
        out->type = FT_VAL_BOOL;
        out->u.b = v->bool_value != 0;
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
        out->type = FT_VAL_INT;
        out->u.i = v->int_value;
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
        out->type = FT_VAL_DOUBLE;
        out->u.d = v->double_value;
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
        out->type = FT_VAL_BYTES;
        out->u.s = (ft_str){(const char *)v->bytes_value.data,
                            v->bytes_value.len};
        if (out->u.s.ptr == NULL)
            out->u.s.ptr = "";
        break;
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE: {
        size_t n = v->array_value->n_values;
        ft_value *items = conv_array(c, n, sizeof *items);
        if (n != 0 && items == NULL)
            return false;
        for (size_t i = 0; i < n; i++)
            if (!conv_value(c, v->array_value->values[i], &items[i], depth + 1))
                return false;
        out->type = FT_VAL_ARRAY;
        out->u.array.items = items;
        out->u.array.n = n;
        break;
    }
    case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE: {
        ft_attrs attrs;
        if (!conv_attrs(c, v->kvlist_value->values, v->kvlist_value->n_values,
                        &attrs, depth + 1))
            return false;
        out->type = FT_VAL_KVLIST;
        out->u.kvlist.items = attrs.items;
        out->u.kvlist.n = attrs.n;
        break;
    }
    default:
        break;
    }
    return true;
}

static bool conv_attrs(conv *c, pb_keyvalue *const *kv, size_t n,
                       ft_attrs *out, int depth)
{
    out->n = n;
    out->items = conv_array(c, n, sizeof *out->items);
    if (n != 0 && out->items == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        out->items[i].key = cstr(kv[i]->key);
        if (!conv_value(c, kv[i]->value, &out->items[i].value, depth))
            return false;
    }
    return true;
}

static void reject(conv *c, const char *reason)
{
    if (c->rejected++ == 0)
        c->reject_reason = ft_str_c(reason);
}

/* Copies an id of exactly n bytes; false (and zeros) for any other size. */
static bool copy_id(uint8_t *dst, ProtobufCBinaryData src, size_t n)
{
    if (src.len != n) {
        memset(dst, 0, n);
        return false;
    }
    memcpy(dst, src.data, n);
    return true;
}

static bool conv_span(conv *c, const pb_span *p, ft_span *s)
{
    memset(s, 0, sizeof *s);
    s->trace_state = cstr(p->trace_state);
    s->flags = p->flags;
    s->name = cstr(p->name);
    s->kind = (unsigned)p->kind <= FT_SPAN_KIND_CONSUMER ? (ft_span_kind)p->kind
                                                         : FT_SPAN_KIND_UNSPECIFIED;
    s->start_ns = p->start_time_unix_nano;
    s->end_ns = p->end_time_unix_nano;
    if (!conv_attrs(c, p->attributes, p->n_attributes, &s->attrs, 0))
        return false;
    s->dropped_attrs = p->dropped_attributes_count;

    s->n_events = p->n_events;
    s->events = conv_array(c, p->n_events, sizeof *s->events);
    if (p->n_events != 0 && s->events == NULL)
        return false;
    for (size_t i = 0; i < p->n_events; i++) {
        const pb_event *pe = p->events[i];
        ft_event *e = &s->events[i];
        e->time_ns = pe->time_unix_nano;
        e->name = cstr(pe->name);
        e->dropped_attrs = pe->dropped_attributes_count;
        if (!conv_attrs(c, pe->attributes, pe->n_attributes, &e->attrs, 0))
            return false;
    }
    s->dropped_events = p->dropped_events_count;

    s->n_links = p->n_links;
    s->links = conv_array(c, p->n_links, sizeof *s->links);
    if (p->n_links != 0 && s->links == NULL)
        return false;
    for (size_t i = 0; i < p->n_links; i++) {
        const pb_link *pl = p->links[i];
        ft_link *l = &s->links[i];
        copy_id(l->trace_id, pl->trace_id, sizeof l->trace_id);
        copy_id(l->span_id, pl->span_id, sizeof l->span_id);
        l->trace_state = cstr(pl->trace_state);
        l->dropped_attrs = pl->dropped_attributes_count;
        l->flags = pl->flags;
        if (!conv_attrs(c, pl->attributes, pl->n_attributes, &l->attrs, 0))
            return false;
    }
    s->dropped_links = p->dropped_links_count;

    s->status_code = FT_STATUS_UNSET;
    s->status_message = FT_STR_LIT("");
    if (p->status != NULL) {
        unsigned code = (unsigned)p->status->code;
        s->status_code = code <= FT_STATUS_ERROR ? (ft_status_code)code
                                                 : FT_STATUS_UNSET;
        s->status_message = cstr(p->status->message);
    }
    return true;
}

/* The validity rules of ft_otlp_decode_traces_pb, in the same order. */
static bool span_ids(conv *c, const pb_span *p, ft_span *s)
{
    bool trace_ok = copy_id(s->trace_id, p->trace_id, sizeof s->trace_id);
    bool span_ok = copy_id(s->span_id, p->span_id, sizeof s->span_id);
    size_t parent_len = p->parent_span_id.len;
    if (!trace_ok)
        reject(c, "span trace_id is not 16 bytes");
    else if (ft_bytes_zero(s->trace_id, sizeof s->trace_id))
        reject(c, "span trace_id is all zero");
    else if (!span_ok)
        reject(c, "span span_id is not 8 bytes");
    else if (ft_bytes_zero(s->span_id, sizeof s->span_id))
        reject(c, "span span_id is all zero");
    else if (parent_len != 0 && parent_len != sizeof s->parent_span_id)
        reject(c, "span parent_span_id is not 8 bytes");
    else {
        if (parent_len != 0)
            copy_id(s->parent_span_id, p->parent_span_id, sizeof s->parent_span_id);
        s->has_parent = !ft_bytes_zero(s->parent_span_id, sizeof s->parent_span_id);
        return true;
    }
    return false;
}

static bool pb_to_batch(const pb_request *req, ft_arena *arena,
                        ft_span_batch *batch)
{
    conv c = {arena, 0, FT_STR_LIT("")};
    size_t total = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++)
        for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
            total += req->resource_spans[i]->scope_spans[j]->n_spans;
    ft_span *spans = conv_array(&c, total, sizeof *spans);
    if (total != 0 && spans == NULL)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const pb_resource_spans *rs = req->resource_spans[i];
        ft_resource *res = ft_arena_calloc(arena, sizeof *res);
        if (res == NULL)
            return false;
        res->schema_url = cstr(rs->schema_url);
        if (rs->resource != NULL) {
            res->dropped_attrs = rs->resource->dropped_attributes_count;
            if (!conv_attrs(&c, rs->resource->attributes,
                            rs->resource->n_attributes, &res->attrs, 0))
                return false;
        }
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const pb_scope_spans *ss = rs->scope_spans[j];
            ft_scope *scope = ft_arena_calloc(arena, sizeof *scope);
            if (scope == NULL)
                return false;
            scope->name = scope->version = FT_STR_LIT("");
            scope->schema_url = cstr(ss->schema_url);
            if (ss->scope != NULL) {
                scope->name = cstr(ss->scope->name);
                scope->version = cstr(ss->scope->version);
                scope->dropped_attrs = ss->scope->dropped_attributes_count;
                if (!conv_attrs(&c, ss->scope->attributes,
                                ss->scope->n_attributes, &scope->attrs, 0))
                    return false;
            }
            for (size_t k = 0; k < ss->n_spans; k++) {
                ft_span *s = &spans[n];
                if (!conv_span(&c, ss->spans[k], s))
                    return false;
                s->resource = res;
                s->scope = scope;
                if (span_ids(&c, ss->spans[k], s))
                    n++;
            }
        }
    }
    *batch = (ft_span_batch){n ? spans : NULL, n, c.rejected, c.reject_reason};
    return true;
}

/* ---- comparing two batches ----------------------------------------------- */

static bool value_eq(const ft_value *a, const ft_value *b);

static bool attrs_eq(ft_attrs a, ft_attrs b)
{
    if (a.n != b.n)
        return false;
    for (size_t i = 0; i < a.n; i++)
        if (!ft_str_eq(a.items[i].key, b.items[i].key) ||
            !value_eq(&a.items[i].value, &b.items[i].value))
            return false;
    return true;
}

static bool value_eq(const ft_value *a, const ft_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case FT_VAL_EMPTY:
        return true;
    case FT_VAL_STRING:
    case FT_VAL_BYTES:
        return ft_str_eq(a->u.s, b->u.s);
    case FT_VAL_BOOL:
        return a->u.b == b->u.b;
    case FT_VAL_INT:
        return a->u.i == b->u.i;
    case FT_VAL_DOUBLE:
        return memcmp(&a->u.d, &b->u.d, sizeof a->u.d) == 0;
    case FT_VAL_ARRAY:
        if (a->u.array.n != b->u.array.n)
            return false;
        for (size_t i = 0; i < a->u.array.n; i++)
            if (!value_eq(&a->u.array.items[i], &b->u.array.items[i]))
                return false;
        return true;
    case FT_VAL_KVLIST:
        return attrs_eq((ft_attrs){a->u.kvlist.items, a->u.kvlist.n},
                        (ft_attrs){b->u.kvlist.items, b->u.kvlist.n});
    }
    return false;
}

/* NULL when the spans agree, else the first field that differs. */
static const char *span_diff(const ft_span *a, const ft_span *b)
{
#define DIFF(cond, what)                                                     \
    do {                                                                     \
        if (!(cond))                                                         \
            return what;                                                     \
    } while (0)
    DIFF(memcmp(a->trace_id, b->trace_id, 16) == 0, "trace_id");
    DIFF(memcmp(a->span_id, b->span_id, 8) == 0, "span_id");
    DIFF(a->has_parent == b->has_parent &&
             memcmp(a->parent_span_id, b->parent_span_id, 8) == 0,
         "parent_span_id");
    DIFF(ft_str_eq(a->trace_state, b->trace_state), "trace_state");
    DIFF(a->flags == b->flags, "flags");
    DIFF(ft_str_eq(a->name, b->name), "name");
    DIFF(a->kind == b->kind, "kind");
    DIFF(a->start_ns == b->start_ns && a->end_ns == b->end_ns, "times");
    DIFF(a->attrs.n == b->attrs.n, "attribute count");
    DIFF(attrs_eq(a->attrs, b->attrs), "attributes");
    DIFF(a->dropped_attrs == b->dropped_attrs &&
             a->dropped_events == b->dropped_events &&
             a->dropped_links == b->dropped_links,
         "dropped counts");
    DIFF(a->n_events == b->n_events, "event count");
    for (size_t i = 0; i < a->n_events; i++) {
        const ft_event *x = &a->events[i], *y = &b->events[i];
        DIFF(x->time_ns == y->time_ns && ft_str_eq(x->name, y->name) &&
                 attrs_eq(x->attrs, y->attrs) && x->dropped_attrs == y->dropped_attrs,
             "events");
    }
    DIFF(a->n_links == b->n_links, "link count");
    for (size_t i = 0; i < a->n_links; i++) {
        const ft_link *x = &a->links[i], *y = &b->links[i];
        DIFF(memcmp(x->trace_id, y->trace_id, 16) == 0 &&
                 memcmp(x->span_id, y->span_id, 8) == 0 &&
                 ft_str_eq(x->trace_state, y->trace_state) &&
                 attrs_eq(x->attrs, y->attrs) &&
                 x->dropped_attrs == y->dropped_attrs && x->flags == y->flags,
             "links");
    }
    DIFF(a->status_code == b->status_code &&
             ft_str_eq(a->status_message, b->status_message),
         "status");
    DIFF(attrs_eq(a->resource->attrs, b->resource->attrs) &&
             a->resource->dropped_attrs == b->resource->dropped_attrs &&
             ft_str_eq(a->resource->schema_url, b->resource->schema_url),
         "resource");
    DIFF(ft_str_eq(a->scope->name, b->scope->name) &&
             ft_str_eq(a->scope->version, b->scope->version) &&
             attrs_eq(a->scope->attrs, b->scope->attrs) &&
             a->scope->dropped_attrs == b->scope->dropped_attrs &&
             ft_str_eq(a->scope->schema_url, b->scope->schema_url),
         "scope");
#undef DIFF
    return NULL;
}

/* Decodes every body with both decoders; false (after saying why) when
 * they disagree anywhere. */
static bool verify(bench *b)
{
    ft_arena *other = ft_arena_create(0);
    if (other == NULL) {
        fprintf(stderr, "decode_compare: out of memory\n");
        return false;
    }
    bool ok = true;
    b->total_spans = 0;
    for (size_t i = 0; i < b->nfx && ok; i++) {
        fixture *f = &b->fx[i];
        ft_err err = {0};
        ft_span_batch ours, theirs;
        ft_arena_reset(b->arena);
        ft_arena_reset(other);
        if (ft_otlp_decode_traces_pb(f->data, f->len, b->arena, &ours, &err) != FT_OK) {
            fprintf(stderr, "%s: fedtrace: %s\n", f->path, err.msg);
            ok = false;
            break;
        }
        pb_request *req = pb_unpack(NULL, f->len, f->data);
        if (req == NULL) {
            fprintf(stderr, "%s: protobuf-c refused the request\n", f->path);
            ok = false;
            break;
        }
        if (!pb_to_batch(req, other, &theirs)) {
            fprintf(stderr, "%s: conversion failed\n", f->path);
            ok = false;
        } else if (ours.n != theirs.n || ours.rejected != theirs.rejected) {
            fprintf(stderr,
                    "%s: fedtrace has %zu spans (%zu rejected), protobuf-c %zu (%zu rejected)\n",
                    f->path, ours.n, ours.rejected, theirs.n, theirs.rejected);
            ok = false;
        } else {
            for (size_t k = 0; k < ours.n && ok; k++) {
                const char *what = span_diff(&ours.spans[k], &theirs.spans[k]);
                if (what != NULL) {
                    fprintf(stderr, "%s: span %zu (%.*s): %s do not match\n", f->path, k,
                            (int)ours.spans[k].name.len, ours.spans[k].name.ptr, what);
                    ok = false;
                }
            }
        }
        f->spans = ours.n;
        b->total_spans += ours.n;
        pb_free(req, NULL);
    }
    ft_arena_reset(b->arena);
    ft_arena_destroy(other);
    if (ok && b->total_spans == 0) {
        fprintf(stderr, "decode_compare: the requests hold no spans\n");
        ok = false;
    }
    return ok;
}

/* ---- heap per request ---------------------------------------------------- */

typedef struct heap_use {
    size_t bytes, max_bytes, allocs; /* summed over all requests */
} heap_use;

typedef struct counting_alloc {
    size_t bytes, calls;
} counting_alloc;

static void *counting_malloc(void *data, size_t size)
{
    counting_alloc *c = data;
    c->bytes += size;
    c->calls++;
    return malloc(size);
}

static void counting_free(void *data, void *p)
{
    (void)data;
    free(p);
}

static void heap_add(heap_use *h, size_t bytes, size_t allocs)
{
    h->bytes += bytes;
    h->allocs += allocs;
    if (bytes > h->max_bytes)
        h->max_bytes = bytes;
}

/* One untimed pass: arena bytes for fedtrace; allocator bytes and calls for
 * protobuf-c, and those plus the conversion's arena bytes. */
static bool measure_heap(bench *b, heap_use *ft, heap_use *pbc,
                         heap_use *pbc_conv)
{
    *ft = *pbc = *pbc_conv = (heap_use){0, 0, 0};
    for (size_t i = 0; i < b->nfx; i++) {
        const fixture *f = &b->fx[i];
        ft_span_batch batch;
        ft_arena_reset(b->arena);
        if (ft_otlp_decode_traces_pb(f->data, f->len, b->arena, &batch, NULL) != FT_OK)
            return false;
        heap_add(ft, ft_arena_used(b->arena), 0);
        ft_arena_reset(b->arena);

        counting_alloc count = {0, 0};
        ProtobufCAllocator alloc = {counting_malloc, counting_free, &count};
        pb_request *req = pb_unpack(&alloc, f->len, f->data);
        if (req == NULL)
            return false;
        heap_add(pbc, count.bytes, count.calls);
        bool ok = pb_to_batch(req, b->arena, &batch);
        heap_add(pbc_conv, count.bytes + ft_arena_used(b->arena), count.calls);
        ft_arena_reset(b->arena);
        pb_free(req, &alloc);
        if (!ok)
            return false;
    }
    return true;
}

/* ---- timing -------------------------------------------------------------- */

/* One pass decodes every body once; false on any failure. */
typedef bool (*pass_fn)(bench *b);

static bool pass_fedtrace(bench *b)
{
    for (size_t i = 0; i < b->nfx; i++) {
        ft_span_batch batch;
        if (ft_otlp_decode_traces_pb(b->fx[i].data, b->fx[i].len, b->arena,
                                     &batch, NULL) != FT_OK)
            return false;
        b->sink += batch.n;
        ft_arena_reset(b->arena);
    }
    return true;
}

static bool pass_pbc(bench *b)
{
    for (size_t i = 0; i < b->nfx; i++) {
        pb_request *req = pb_unpack(NULL, b->fx[i].len, b->fx[i].data);
        if (req == NULL)
            return false;
        b->sink += req->n_resource_spans;
        pb_free(req, NULL);
    }
    return true;
}

static bool pass_pbc_convert(bench *b)
{
    for (size_t i = 0; i < b->nfx; i++) {
        pb_request *req = pb_unpack(NULL, b->fx[i].len, b->fx[i].data);
        if (req == NULL)
            return false;
        ft_span_batch batch;
        bool ok = pb_to_batch(req, b->arena, &batch);
        b->sink += batch.n;
        ft_arena_reset(b->arena);
        pb_free(req, NULL);
        if (!ok)
            return false;
    }
    return true;
}

static bool pass_memcpy(bench *b)
{
    for (size_t i = 0; i < b->nfx; i++) {
        memcpy(b->copy, b->fx[i].data, b->fx[i].len);
#if defined(__GNUC__)
        /* the copy is "used": the compiler may not drop it */
        __asm__ __volatile__("" : : "r"(b->copy) : "memory");
#endif
        b->sink += b->copy[b->fx[i].len - 1];
    }
    return true;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

typedef struct rate {
    double passes_per_s; /* median */
    double lo, hi;       /* slowest and fastest repetition */
} rate;

#define MAX_REPS 101

/* Passes per second of `pass`, run for at least `seconds`; 0 on failure. */
static double time_passes(bench *b, pass_fn pass, double seconds,
                          size_t *passes)
{
    size_t n = 0;
    double t0 = now_s(), t;
    do {
        if (!pass(b))
            return 0;
        n++;
        t = now_s() - t0;
    } while (t < seconds);
    *passes = n;
    return (double)n / t;
}

static rate summarise(double *r, int reps)
{
    qsort(r, (size_t)reps, sizeof r[0], cmp_double);
    rate out;
    out.passes_per_s = reps % 2 ? r[reps / 2] : (r[reps / 2 - 1] + r[reps / 2]) / 2;
    out.lo = r[0];
    out.hi = r[reps - 1];
    return out;
}

/* ---- main ---------------------------------------------------------------- */

static void print_row(const bench *b, const char *name, const rate *rt,
                      const heap_use *h, bool has_allocs)
{
    double n = (double)b->nfx;
    double spread = rt->passes_per_s > 0
                        ? 100.0 * (rt->hi - rt->lo) / rt->passes_per_s
                        : 0.0;
    printf("%s\t%.0f\t%.0f\t%.1f\t%.0f\t%.0f\t", name,
           rt->passes_per_s * (double)b->total_spans,
           rt->passes_per_s * (double)b->total_bytes / 1e6,
           1e6 / (rt->passes_per_s * n), spread,
           h ? (double)h->bytes / n : 0.0);
    if (h)
        printf("%zu\t", h->max_bytes);
    else
        printf("0\t");
    if (has_allocs)
        printf("%.1f\n", (double)h->allocs / n);
    else
        printf("-\n");
}

static void bench_free(bench *b)
{
    for (size_t k = 0; k < b->nfx; k++)
        ft_free(b->fx[k].raw);
    free(b->fx);
    free(b->copy);
    ft_arena_destroy(b->arena);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: decode_compare [--seconds S] [--reps N] [--check-only] FILE.pb...\n");
}

int main(int argc, char **argv)
{
    double seconds = 2.0;
    int reps = 5;
    bool check_only = false;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end != '\0' || !(seconds > 0 && seconds <= 3600)) {
                usage();
                return 2;
            }
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > MAX_REPS) {
                usage();
                return 2;
            }
            reps = (int)v;
        } else if (strcmp(argv[i], "--check-only") == 0) {
            check_only = true;
        } else {
            usage();
            return 2;
        }
    }
    if (i >= argc) {
        usage();
        return 2;
    }

    int rc = 1;
    bench b = {0};
    b.nfx = (size_t)(argc - i);
    b.fx = calloc(b.nfx, sizeof *b.fx);
    b.arena = ft_arena_create(0);
    if (b.fx == NULL || b.arena == NULL) {
        fprintf(stderr, "decode_compare: out of memory\n");
        goto out;
    }
    size_t largest = 1;
    for (size_t k = 0; k < b.nfx; k++) {
        ft_err err = {0};
        char *data;
        size_t len;
        if (ft_read_file(argv[i + (int)k], 0, &data, &len, &err) != FT_OK) {
            fprintf(stderr, "decode_compare: %s\n", err.msg);
            goto out;
        }
        if (len == 0) {
            fprintf(stderr, "decode_compare: %s is empty\n", argv[i + (int)k]);
            goto out;
        }
        b.fx[k] = (fixture){argv[i + (int)k], data, (const uint8_t *)data, len, 0};
        b.total_bytes += len;
        if (len > largest)
            largest = len;
    }
    b.copy = malloc(largest);
    if (b.copy == NULL) {
        fprintf(stderr, "decode_compare: out of memory\n");
        goto out;
    }

    if (!verify(&b))
        goto out;
    fprintf(stderr,
            "decode_compare: both decoders agree on %zu spans in %zu requests (%zu bytes)\n",
            b.total_spans, b.nfx, b.total_bytes);
    if (check_only) {
        rc = 0;
        goto out;
    }

    heap_use h_ft, h_pbc, h_conv;
    if (!measure_heap(&b, &h_ft, &h_pbc, &h_conv)) {
        fprintf(stderr, "decode_compare: decoding failed while counting the heap\n");
        goto out;
    }

    static const struct {
        const char *name;
        pass_fn pass;
    } runs[] = {
        {"fedtrace", pass_fedtrace},
        {"protobuf-c", pass_pbc},
        {"protobuf-c+ft", pass_pbc_convert},
        {"memcpy", pass_memcpy},
    };
    enum { NRUNS = sizeof runs / sizeof runs[0] };
    /* Repetitions are interleaved (each contender once per round) so that
     * whatever else the machine does spreads over all of them alike. */
    static double r[NRUNS][MAX_REPS];
    for (size_t k = 0; k < NRUNS; k++) {
        if (!runs[k].pass(&b)) { /* one warm-up pass each */
            fprintf(stderr, "decode_compare: %s failed\n", runs[k].name);
            goto out;
        }
    }
    for (int rep = 0; rep < reps; rep++) {
        for (size_t k = 0; k < NRUNS; k++) {
            size_t passes = 0;
            r[k][rep] = time_passes(&b, runs[k].pass, seconds, &passes);
            if (r[k][rep] <= 0) {
                fprintf(stderr, "decode_compare: %s failed while timing\n",
                        runs[k].name);
                goto out;
            }
            fprintf(stderr, "  round %d/%d  %-14s %8.0f requests/s (%zu passes)\n",
                    rep + 1, reps, runs[k].name, r[k][rep] * (double)b.nfx, passes);
        }
    }
    rate rt[NRUNS];
    for (size_t k = 0; k < NRUNS; k++)
        rt[k] = summarise(r[k], reps);

    printf("# %zu requests, %zu spans, %zu bytes; median of %d rounds of >= %g s per decoder\n",
           b.nfx, b.total_spans, b.total_bytes, reps, seconds);
    printf("decoder\tspans_per_s\tmb_per_s\tus_per_request\tspread_pct"
           "\theap_bytes_per_request\theap_bytes_max_request\tallocs_per_request\n");
    print_row(&b, "fedtrace", &rt[0], &h_ft, false);
    print_row(&b, "protobuf-c", &rt[1], &h_pbc, true);
    print_row(&b, "protobuf-c+ft", &rt[2], &h_conv, true);
    print_row(&b, "memcpy", &rt[3], NULL, false);
    fprintf(stderr, "(sink %zu)\n", b.sink);

    rc = 0;
out:
    bench_free(&b);
    return rc;
}
