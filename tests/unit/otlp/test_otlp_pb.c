/* test_otlp_pb.c - the OTLP/protobuf decoder, on real Fedify exports and on
 * hand-built requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedtrace/otlp.h"
#include "ft_test_util.h"

#define FIXTURES FT_TEST_DATA "/fedify-2.3.6"
#define N_FIXTURES 8

/* ---- helpers ----------------------------------------------------------- */

static uint8_t *read_fixture(int i, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, FIXTURES "/%04d-traces.pb", i);
    uint8_t *data = ft_test_read_file(path, len);
    if (data == NULL)
        fail_msg("cannot read %s", path);
    return data;
}

static bool str_is(ft_str s, const char *c)
{
    return ft_str_eq_c(s, c);
}

static const ft_span *find_span(const ft_span_batch *b, const char *trace_hex,
                                const char *span_hex)
{
    for (size_t i = 0; i < b->n; i++) {
        char t[33], s[17];
        ft_hex_encode(b->spans[i].trace_id, 16, t);
        ft_hex_encode(b->spans[i].span_id, 8, s);
        if (strcmp(t, trace_hex) == 0 && (span_hex == NULL || strcmp(s, span_hex) == 0))
            return &b->spans[i];
    }
    return NULL;
}

static const ft_event *find_event(const ft_span *s, const char *name)
{
    for (size_t i = 0; i < s->n_events; i++)
        if (str_is(s->events[i].name, name))
            return &s->events[i];
    return NULL;
}

/* All eight fixtures decoded into one arena, their spans concatenated. */
typedef struct all_spans {
    ft_arena *arena;
    uint8_t *bodies[N_FIXTURES];
    ft_span_batch batch;
} all_spans;

static void load_all(all_spans *all)
{
    memset(all, 0, sizeof *all);
    all->arena = ft_arena_create(0);
    assert_non_null(all->arena);
    ft_span_batch parts[N_FIXTURES];
    size_t total = 0;
    for (int i = 0; i < N_FIXTURES; i++) {
        size_t len;
        all->bodies[i] = read_fixture(i + 1, &len);
        ft_err err = {0};
        ft_code rc = ft_otlp_decode_traces_pb(all->bodies[i], len, all->arena,
                                              &parts[i], &err);
        if (rc != FT_OK)
            fail_msg("fixture %d: %s: %s", i + 1, ft_code_name(rc), err.msg);
        assert_int_equal(parts[i].rejected, 0);
        total += parts[i].n;
    }
    all->batch.spans = ft_arena_alloc(all->arena, total * sizeof(ft_span));
    assert_non_null(all->batch.spans);
    for (int i = 0; i < N_FIXTURES; i++) {
        memcpy(all->batch.spans + all->batch.n, parts[i].spans,
               parts[i].n * sizeof(ft_span));
        all->batch.n += parts[i].n;
    }
}

static void free_all(all_spans *all)
{
    ft_arena_destroy(all->arena);
    for (int i = 0; i < N_FIXTURES; i++)
        free(all->bodies[i]);
}

/* ---- the Fedify fixtures ------------------------------------------------ */

static void test_fixtures_match_reference(void **state)
{
    (void)state;
    all_spans all;
    load_all(&all);
    const ft_span_batch *b = &all.batch;
    assert_int_equal(b->n, 250);

    /* 20 distinct trace ids */
    size_t distinct = 0;
    for (size_t i = 0; i < b->n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = memcmp(b->spans[i].trace_id, b->spans[j].trace_id, 16) == 0;
        distinct += !seen;
    }
    assert_int_equal(distinct, 20);

    json_error_t jerr;
    json_t *ref = json_load_file(FIXTURES "/reference.json", 0, &jerr);
    if (ref == NULL)
        fail_msg("reference.json: %s", jerr.text);
    json_t *spans = json_object_get(ref, "spans");
    assert_true(json_is_array(spans));
    assert_int_equal(json_array_size(spans), 250);

    size_t i;
    json_t *rs;
    json_array_foreach(spans, i, rs) {
        const char *tid = json_string_value(json_object_get(rs, "traceId"));
        const char *sid = json_string_value(json_object_get(rs, "spanId"));
        assert_non_null(tid);
        assert_non_null(sid);
        const ft_span *s = find_span(b, tid, sid);
        if (s == NULL)
            fail_msg("span %s/%s not decoded", tid, sid);

        const char *name = json_string_value(json_object_get(rs, "name"));
        assert_true(str_is(s->name, name));
        assert_string_equal(ft_span_kind_name(s->kind),
                            json_string_value(json_object_get(rs, "kind")));
        assert_string_equal(ft_status_code_name(s->status_code),
                            json_string_value(json_object_get(rs, "status")));

        const char *parent = json_string_value(json_object_get(rs, "parentSpanId"));
        if (parent == NULL || parent[0] == '\0') {
            assert_false(s->has_parent);
        } else {
            assert_true(s->has_parent);
            char p[17];
            ft_hex_encode(s->parent_span_id, 8, p);
            assert_string_equal(p, parent);
        }

        assert_non_null(s->resource);
        assert_non_null(s->scope);
        const ft_value *svc = ft_attrs_get(s->resource->attrs, "service.name");
        assert_non_null(svc);
        assert_int_equal(svc->type, FT_VAL_STRING);
        assert_true(str_is(svc->u.s, json_string_value(json_object_get(rs, "service"))));

        json_t *events = json_object_get(rs, "events");
        assert_int_equal(s->n_events, json_array_size(events));
        for (size_t e = 0; e < s->n_events; e++)
            assert_true(str_is(s->events[e].name,
                               json_string_value(json_array_get(events, e))));

        assert_true(s->start_ns > 0);
        assert_true(s->end_ns >= s->start_ns);
    }
    json_decref(ref);
    free_all(&all);
}

static void test_fixture_event_attributes(void **state)
{
    (void)state;
    all_spans all;
    load_all(&all);

    /* The verified delivery of trace 92f9...: an inbox span whose received
     * event carries a bool and the activity JSON. */
    const ft_event *ev = NULL;
    for (size_t i = 0; i < all.batch.n && ev == NULL; i++) {
        char t[33];
        ft_hex_encode(all.batch.spans[i].trace_id, 16, t);
        if (strcmp(t, "92f999891add13594d9e538b701c0e4e") == 0)
            ev = find_event(&all.batch.spans[i], "activitypub.activity.received");
    }
    assert_non_null(ev);
    assert_true(ev->time_ns > 0);
    const ft_value *v = ft_attrs_get(ev->attrs, "activitypub.activity.verified");
    assert_non_null(v);
    assert_int_equal(v->type, FT_VAL_BOOL);
    assert_true(v->u.b);
    v = ft_attrs_get(ev->attrs, "activitypub.activity.json");
    assert_non_null(v);
    assert_int_equal(v->type, FT_VAL_STRING);
    assert_true(v->u.s.len > 2 && v->u.s.ptr[0] == '{' &&
                v->u.s.ptr[v->u.s.len - 1] == '}');

    /* The unknown-key delivery of trace 1cdb...: key fetch status 404, an
     * INT, on the inbox span's received event. */
    const ft_span *s = find_span(&all.batch, "1cdb527281be79c7d8f2d68b2e7ddeee",
                                 "7e0c3513a2fe058b");
    assert_non_null(s);
    assert_int_equal(s->kind, FT_SPAN_KIND_PRODUCER);
    assert_int_equal(s->status_code, FT_STATUS_ERROR);
    ev = find_event(s, "activitypub.activity.received");
    assert_non_null(ev);
    v = ft_attrs_get(ev->attrs, "http_signatures.key_fetch_status");
    assert_non_null(v);
    assert_int_equal(v->type, FT_VAL_INT);
    assert_int_equal(v->u.i, 404);
    v = ft_attrs_get(ev->attrs, "activitypub.activity.verified");
    assert_non_null(v);
    assert_int_equal(v->type, FT_VAL_BOOL);
    assert_false(v->u.b);

    /* an array-valued span attribute, and the sampled flag */
    s = find_span(&all.batch, "92f999891add13594d9e538b701c0e4e", "72992d7624e03be3");
    assert_non_null(s);
    v = ft_attrs_get(s->attrs, "http.request.header.accept");
    assert_non_null(v);
    assert_int_equal(v->type, FT_VAL_ARRAY);
    assert_int_equal(v->u.array.n, 1);
    assert_int_equal(v->u.array.items[0].type, FT_VAL_STRING);
    assert_int_equal(s->flags & 0xff, 1);
    assert_true(str_is(s->scope->name, "@fedify/fedify"));
    free_all(&all);
}

/* Spans of one ResourceSpans share its resource; of one ScopeSpans, its scope. */
static void test_fixture_shared_pointers(void **state)
{
    (void)state;
    size_t len;
    uint8_t *body = read_fixture(1, &len);
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    assert_int_equal(ft_otlp_decode_traces_pb(body, len, a, &b, NULL), FT_OK);
    assert_true(b.n > 1);
    size_t resources = 0, scopes = 0;
    for (size_t i = 0; i < b.n; i++) {
        bool rseen = false, sseen = false;
        for (size_t j = 0; j < i; j++) {
            rseen |= b.spans[j].resource == b.spans[i].resource;
            sseen |= b.spans[j].scope == b.spans[i].scope;
        }
        resources += !rseen;
        scopes += !sseen;
    }
    /* one exporter: one resource, and a handful of scopes */
    assert_int_equal(resources, 1);
    assert_true(scopes >= 1 && scopes < b.n);
    ft_arena_destroy(a);
    free(body);
}

/* Every prefix of a real request either decodes or fails with FT_DECODE. */
static void check_prefixes(int fixture, size_t stride)
{
    size_t len;
    uint8_t *body = read_fixture(fixture, &len);
    ft_arena *a = ft_arena_create(0);
    size_t ok = 0, bad = 0;
    for (size_t n = 0;; n = n + stride < len ? n + stride : len) {
        /* a copy of exactly n bytes, so that ASan sees any over-read */
        uint8_t *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, body, n);
        ft_span_batch b;
        ft_err err = {0};
        ft_code rc = ft_otlp_decode_traces_pb(copy, n, a, &b, &err);
        if (rc == FT_OK) {
            ok++;
        } else {
            if (rc != FT_DECODE)
                fail_msg("prefix %zu: %s: %s", n, ft_code_name(rc), err.msg);
            assert_non_null(strstr(err.msg, "OTLP protobuf"));
            bad++;
        }
        free(copy);
        ft_arena_reset(a);
        if (n == len)
            break;
    }
    assert_true(ok >= 2); /* the empty prefix and the whole body */
    assert_true(bad > 0);
    ft_arena_destroy(a);
    free(body);
}

static void test_fixture_every_prefix(void **state)
{
    (void)state;
    check_prefixes(1, 1);
    check_prefixes(6, 1);
    check_prefixes(8, 1);
}

static void test_fixture_prefixes_sampled(void **state)
{
    (void)state;
    for (int i = 2; i <= 7; i++)
        check_prefixes(i, 37);
}

/*
 * Prefixes mostly fail at the outermost length, so they say little about
 * the inner messages.  Changing one byte at a time does reach them: every
 * position of a small real request, with a few masks, must decode or fail
 * with FT_DECODE (never crash, never read past the body).
 */
static void test_fixture_byte_mutations(void **state)
{
    (void)state;
    static const uint8_t masks[] = {0x01, 0x07, 0x80, 0xff};
    size_t len;
    uint8_t *body = read_fixture(6, &len);
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    ft_arena *a = ft_arena_create(0);
    size_t ok = 0, bad = 0, rejected = 0;
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(copy, body, len);
            copy[pos] ^= masks[m];
            ft_span_batch b;
            ft_err err = {0};
            ft_code rc = ft_otlp_decode_traces_pb(copy, len, a, &b, &err);
            if (rc == FT_OK) {
                ok++;
                rejected += b.rejected;
                for (size_t i = 0; i < b.n; i++) {
                    assert_non_null(b.spans[i].resource);
                    assert_non_null(b.spans[i].scope);
                }
            } else if (rc == FT_DECODE) {
                bad++;
            } else {
                fail_msg("byte %zu ^ 0x%02x: %s: %s", pos, masks[m],
                         ft_code_name(rc), err.msg);
            }
            ft_arena_reset(a);
        }
    }
    /* both outcomes happen, and some ids get broken without breaking the
     * framing */
    assert_true(ok > 0 && bad > 0 && rejected > 0);
    ft_arena_destroy(a);
    free(copy);
    free(body);
}

/* ---- hand-built requests ------------------------------------------------- */

static const uint8_t TID[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t SID[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
static const uint8_t PID[8] = {0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0x8d};
static const uint8_t ZERO[16];

/* Span with the given ids (len 0 = field absent) as ScopeSpans.spans. */
static void put_span(ft_pbw *w, const void *tid, size_t tl, const void *sid,
                     size_t sl, const void *pid, size_t pl, const char *name)
{
    ft_pbw_begin(w, 2);
    if (tl)
        ft_pbw_bytes(w, 1, tid, tl);
    if (sl)
        ft_pbw_bytes(w, 2, sid, sl);
    if (pl)
        ft_pbw_bytes(w, 4, pid, pl);
    ft_pbw_str(w, 5, name);
    ft_pbw_end(w);
}

/* request { resource_spans { resource { service.name } scope_spans {
 * scope { name } ...spans } } }: opens the request in w (initialised, and
 * emptied here); close it with end_req. */
static void begin_req(ft_pbw *w, const char *service)
{
    ft_pbw_reset(w);
    ft_pbw_begin(w, 1); /* ResourceSpans */
    ft_pbw_begin(w, 1); /* Resource */
    ft_pbw_begin(w, 1); /* KeyValue */
    ft_pbw_str(w, 1, "service.name");
    ft_pbw_begin(w, 2);
    ft_pbw_str(w, 1, service);
    ft_pbw_end(w);
    ft_pbw_end(w);
    ft_pbw_end(w);
    ft_pbw_begin(w, 2); /* ScopeSpans */
    ft_pbw_begin(w, 1);
    ft_pbw_str(w, 1, "test-scope");
    ft_pbw_end(w);
}

static void end_req(ft_pbw *w)
{
    ft_pbw_end(w); /* ScopeSpans */
    ft_pbw_end(w); /* ResourceSpans */
    assert_int_equal(w->depth, 0);
}

static ft_code decode(const ft_pbw *w, ft_arena *a, ft_span_batch *b, ft_err *err)
{
    return ft_otlp_decode_traces_pb(w->buf, w->len, a, b, err);
}

static void test_empty_request(void **state)
{
    (void)state;
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    assert_int_equal(ft_otlp_decode_traces_pb(NULL, 0, a, &b, NULL), FT_OK);
    assert_int_equal(b.n, 0);
    assert_int_equal(b.rejected, 0);
    ft_log_batch lb;
    assert_int_equal(ft_otlp_decode_logs_pb(NULL, 0, a, &lb, NULL), FT_OK);
    assert_int_equal(lb.n, 0);
    ft_arena_destroy(a);
}

static void test_invalid_ids_rejected(void **state)
{
    (void)state;
    ft_pbw w;
    ft_pbw_init(&w);
    begin_req(&w, "svc");
    put_span(&w, TID, 16, SID, 8, PID, 8, "good-child");
    put_span(&w, TID, 15, SID, 8, NULL, 0, "short-trace");
    put_span(&w, ZERO, 16, SID, 8, NULL, 0, "zero-trace");
    put_span(&w, NULL, 0, SID, 8, NULL, 0, "no-trace");
    put_span(&w, TID, 16, SID, 7, NULL, 0, "short-span");
    put_span(&w, TID, 16, ZERO, 8, NULL, 0, "zero-span");
    put_span(&w, TID, 16, NULL, 0, NULL, 0, "no-span");
    put_span(&w, TID, 16, SID, 8, PID, 5, "short-parent");
    put_span(&w, TID, 16, SID, 8, TID, 16, "long-parent");
    put_span(&w, TID, 16, SID, 8, ZERO, 8, "zero-parent");
    put_span(&w, TID, 16, SID, 8, NULL, 0, "root");
    /* an empty parent_span_id field, present but zero-length */
    ft_pbw_begin(&w, 2);
    ft_pbw_bytes(&w, 1, TID, 16);
    ft_pbw_bytes(&w, 2, SID, 8);
    ft_pbw_bytes(&w, 4, "", 0);
    ft_pbw_str(&w, 5, "empty-parent");
    ft_pbw_end(&w);
    end_req(&w);

    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    ft_err err = {0};
    assert_int_equal(decode(&w, a, &b, &err), FT_OK);
    assert_int_equal(b.n, 4);
    assert_int_equal(b.rejected, 8);
    assert_true(str_is(b.reject_reason, "span trace_id is not 16 bytes"));

    assert_true(str_is(b.spans[0].name, "good-child"));
    assert_true(b.spans[0].has_parent);
    assert_memory_equal(b.spans[0].parent_span_id, PID, 8);
    assert_memory_equal(b.spans[0].trace_id, TID, 16);
    assert_memory_equal(b.spans[0].span_id, SID, 8);
    const char *roots[] = {"zero-parent", "root", "empty-parent"};
    for (int i = 0; i < 3; i++) {
        assert_true(str_is(b.spans[i + 1].name, roots[i]));
        assert_false(b.spans[i + 1].has_parent);
        assert_memory_equal(b.spans[i + 1].parent_span_id, ZERO, 8);
    }
    /* the surviving spans share their resource and scope */
    assert_ptr_equal(b.spans[0].resource, b.spans[3].resource);
    assert_ptr_equal(b.spans[0].scope, b.spans[3].scope);
    assert_true(str_is(b.spans[0].scope->name, "test-scope"));

    /* the first reason wins, whatever it is */
    begin_req(&w, "svc");
    put_span(&w, TID, 16, ZERO, 8, NULL, 0, "zero-span");
    put_span(&w, TID, 15, SID, 8, NULL, 0, "short-trace");
    end_req(&w);
    ft_arena_reset(a);
    assert_int_equal(decode(&w, a, &b, &err), FT_OK);
    assert_int_equal(b.n, 0);
    assert_null(b.spans);
    assert_int_equal(b.rejected, 2);
    assert_true(str_is(b.reject_reason, "span span_id is all zero"));

    ft_arena_destroy(a);
    ft_pbw_free(&w);
}

/* Every field of a span, in an unusual order (resource and scope after the
 * spans), plus events, links and status. */
static void test_all_span_fields(void **state)
{
    (void)state;
    ft_pbw w;
    ft_pbw_init(&w);
    ft_pbw_begin(&w, 1); /* ResourceSpans */
    ft_pbw_begin(&w, 2); /* ScopeSpans */
    ft_pbw_begin(&w, 2); /* Span */
    ft_pbw_fixed32(&w, 16, 0x301);
    ft_pbw_begin(&w, 15); /* Status */
    ft_pbw_varint(&w, 3, 2);
    ft_pbw_str(&w, 2, "boom");
    ft_pbw_end(&w);
    ft_pbw_str(&w, 5, "op");
    ft_pbw_bytes(&w, 2, SID, 8);
    ft_pbw_bytes(&w, 1, TID, 16);
    ft_pbw_str(&w, 3, "vendor=1");
    ft_pbw_bytes(&w, 4, PID, 8);
    ft_pbw_varint(&w, 6, 3);
    ft_pbw_fixed64(&w, 7, 1700000000000000000ull);
    ft_pbw_fixed64(&w, 8, 1700000000123456789ull);
    ft_pbw_begin(&w, 9);
    ft_pbw_str(&w, 1, "a");
    ft_pbw_begin(&w, 2);
    ft_pbw_varint(&w, 3, 7);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_varint(&w, 10, 3);
    ft_pbw_begin(&w, 11); /* Event */
    ft_pbw_fixed64(&w, 1, 1700000000000000042ull);
    ft_pbw_str(&w, 2, "ev1");
    ft_pbw_begin(&w, 3);
    ft_pbw_str(&w, 1, "k");
    ft_pbw_begin(&w, 2);
    ft_pbw_str(&w, 1, "v");
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_varint(&w, 4, 1);
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 9); /* a second attribute after the event */
    ft_pbw_str(&w, 1, "b");
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 11);
    ft_pbw_str(&w, 2, "ev2");
    ft_pbw_end(&w);
    ft_pbw_varint(&w, 12, 4);
    ft_pbw_begin(&w, 13); /* Link */
    ft_pbw_bytes(&w, 1, TID, 16);
    ft_pbw_bytes(&w, 2, PID, 8);
    ft_pbw_str(&w, 3, "ts");
    ft_pbw_begin(&w, 4);
    ft_pbw_str(&w, 1, "lk");
    ft_pbw_end(&w);
    ft_pbw_varint(&w, 5, 2);
    ft_pbw_fixed32(&w, 6, 0x101);
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 13); /* a link with a short trace id: kept, id zeroed */
    ft_pbw_bytes(&w, 1, TID, 4);
    ft_pbw_end(&w);
    ft_pbw_varint(&w, 14, 5);
    ft_pbw_varint(&w, 6, 2); /* kind again: the last one wins */
    ft_pbw_end(&w);          /* Span */
    ft_pbw_str(&w, 3, "https://scope.schema");
    ft_pbw_begin(&w, 1); /* InstrumentationScope, after the span */
    ft_pbw_str(&w, 1, "lib");
    ft_pbw_str(&w, 2, "1.2.3");
    ft_pbw_begin(&w, 3);
    ft_pbw_str(&w, 1, "scope.attr");
    ft_pbw_end(&w);
    ft_pbw_varint(&w, 4, 9);
    ft_pbw_end(&w);
    ft_pbw_end(&w); /* ScopeSpans */
    ft_pbw_str(&w, 3, "https://resource.schema");
    ft_pbw_begin(&w, 1); /* Resource, after the scope spans */
    ft_pbw_begin(&w, 1);
    ft_pbw_str(&w, 1, "service.name");
    ft_pbw_begin(&w, 2);
    ft_pbw_str(&w, 1, "late");
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_varint(&w, 2, 11);
    ft_pbw_end(&w);
    ft_pbw_end(&w); /* ResourceSpans */

    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    ft_err err = {0};
    assert_int_equal(decode(&w, a, &b, &err), FT_OK);
    assert_int_equal(b.n, 1);
    const ft_span *s = &b.spans[0];
    assert_memory_equal(s->trace_id, TID, 16);
    assert_memory_equal(s->span_id, SID, 8);
    assert_memory_equal(s->parent_span_id, PID, 8);
    assert_true(s->has_parent);
    assert_true(str_is(s->trace_state, "vendor=1"));
    assert_int_equal(s->flags, 0x301);
    assert_true(str_is(s->name, "op"));
    assert_int_equal(s->kind, FT_SPAN_KIND_SERVER);
    assert_int_equal(s->start_ns, 1700000000000000000ull);
    assert_int_equal(s->end_ns, 1700000000123456789ull);
    assert_int_equal(s->attrs.n, 2);
    assert_true(str_is(s->attrs.items[0].key, "a"));
    assert_int_equal(s->attrs.items[0].value.type, FT_VAL_INT);
    assert_int_equal(s->attrs.items[0].value.u.i, 7);
    assert_true(str_is(s->attrs.items[1].key, "b"));
    assert_int_equal(s->attrs.items[1].value.type, FT_VAL_EMPTY);
    assert_int_equal(s->dropped_attrs, 3);
    assert_int_equal(s->n_events, 2);
    assert_int_equal(s->events[0].time_ns, 1700000000000000042ull);
    assert_true(str_is(s->events[0].name, "ev1"));
    assert_int_equal(s->events[0].attrs.n, 1);
    assert_true(str_is(s->events[0].attrs.items[0].value.u.s, "v"));
    assert_int_equal(s->events[0].dropped_attrs, 1);
    assert_true(str_is(s->events[1].name, "ev2"));
    assert_int_equal(s->events[1].attrs.n, 0);
    assert_int_equal(s->dropped_events, 4);
    assert_int_equal(s->n_links, 2);
    assert_memory_equal(s->links[0].trace_id, TID, 16);
    assert_memory_equal(s->links[0].span_id, PID, 8);
    assert_true(str_is(s->links[0].trace_state, "ts"));
    assert_int_equal(s->links[0].attrs.n, 1);
    assert_int_equal(s->links[0].dropped_attrs, 2);
    assert_int_equal(s->links[0].flags, 0x101);
    assert_memory_equal(s->links[1].trace_id, ZERO, 16);
    assert_int_equal(s->dropped_links, 5);
    assert_int_equal(s->status_code, FT_STATUS_ERROR);
    assert_true(str_is(s->status_message, "boom"));

    assert_true(str_is(s->scope->name, "lib"));
    assert_true(str_is(s->scope->version, "1.2.3"));
    assert_int_equal(s->scope->attrs.n, 1);
    assert_int_equal(s->scope->dropped_attrs, 9);
    assert_true(str_is(s->scope->schema_url, "https://scope.schema"));
    const ft_value *svc = ft_attrs_get(s->resource->attrs, "service.name");
    assert_non_null(svc);
    assert_true(str_is(svc->u.s, "late"));
    assert_int_equal(s->resource->dropped_attrs, 11);
    assert_true(str_is(s->resource->schema_url, "https://resource.schema"));

    /* zero-copy: strings point into the body */
    assert_true((const uint8_t *)s->name.ptr >= w.buf &&
                (const uint8_t *)s->name.ptr < w.buf + w.len);

    ft_arena_destroy(a);
    ft_pbw_free(&w);
}

/* Resource and scope pointers across several ResourceSpans/ScopeSpans. */
static void test_resource_scope_grouping(void **state)
{
    (void)state;
    ft_pbw w;
    ft_pbw_init(&w);
    for (int r = 0; r < 2; r++) {
        ft_pbw_begin(&w, 1);
        for (int sc = 0; sc < 2; sc++) {
            ft_pbw_begin(&w, 2);
            for (int k = 0; k < 3; k++)
                put_span(&w, TID, 16, SID, 8, NULL, 0, "s");
            ft_pbw_end(&w);
        }
        ft_pbw_end(&w);
    }
    ft_pbw_begin(&w, 1); /* a ResourceSpans with no spans at all */
    ft_pbw_end(&w);
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    assert_int_equal(decode(&w, a, &b, NULL), FT_OK);
    assert_int_equal(b.n, 12);
    for (size_t i = 0; i < 12; i++) {
        assert_non_null(b.spans[i].resource);
        assert_non_null(b.spans[i].scope);
        assert_int_equal(b.spans[i].resource->attrs.n, 0);
        assert_true(str_is(b.spans[i].scope->name, ""));
        /* absent strings are empty, never NULL */
        assert_non_null(b.spans[i].trace_state.ptr);
        assert_non_null(b.spans[i].status_message.ptr);
        assert_non_null(b.spans[i].scope->version.ptr);
        assert_non_null(b.spans[i].resource->schema_url.ptr);
        assert_true((b.spans[i].resource == b.spans[0].resource) == (i < 6));
        assert_true((b.spans[i].scope == b.spans[0].scope) == (i < 3));
        assert_true((b.spans[i].scope == b.spans[3].scope) == (i >= 3 && i < 6));
    }
    ft_arena_destroy(a);
    ft_pbw_free(&w);
}

/* Unknown fields of every wire type, at every level, are skipped. */
static void unknown_fields(ft_pbw *w)
{
    ft_pbw_varint(w, 900, 12345678901ull);
    ft_pbw_fixed64(w, 901, 1);
    ft_pbw_str(w, 902, "ignored");
    ft_pbw_fixed32(w, 903, 7);
    ft_pbw_begin(w, 904);
    ft_pbw_varint(w, 1, 1);
    ft_pbw_end(w);
}

static void test_unknown_fields_skipped(void **state)
{
    (void)state;
    ft_pbw w;
    ft_pbw_init(&w);
    unknown_fields(&w);
    ft_pbw_begin(&w, 1); /* ResourceSpans */
    unknown_fields(&w);
    ft_pbw_begin(&w, 1000); /* the deprecated instrumentation_library_spans */
    put_span(&w, TID, 16, SID, 8, NULL, 0, "old-style");
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 1); /* Resource */
    unknown_fields(&w);
    ft_pbw_begin(&w, 1);
    unknown_fields(&w);
    ft_pbw_str(&w, 1, "k");
    ft_pbw_begin(&w, 2);
    unknown_fields(&w);
    ft_pbw_str(&w, 1, "v");
    unknown_fields(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 2); /* ScopeSpans */
    unknown_fields(&w);
    ft_pbw_begin(&w, 1);
    unknown_fields(&w);
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 2); /* Span */
    unknown_fields(&w);
    ft_pbw_bytes(&w, 1, TID, 16);
    ft_pbw_bytes(&w, 2, SID, 8);
    ft_pbw_str(&w, 5, "name");
    ft_pbw_begin(&w, 11);
    unknown_fields(&w);
    ft_pbw_str(&w, 2, "event");
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 13);
    unknown_fields(&w);
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 15);
    unknown_fields(&w);
    ft_pbw_varint(&w, 3, 1);
    ft_pbw_end(&w);
    ft_pbw_varint(&w, 6, 99); /* an unknown kind */
    unknown_fields(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    unknown_fields(&w);

    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    ft_err err = {0};
    ft_code rc = decode(&w, a, &b, &err);
    if (rc != FT_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.rejected, 0);
    const ft_span *s = &b.spans[0];
    assert_true(str_is(s->name, "name"));
    assert_int_equal(s->kind, FT_SPAN_KIND_UNSPECIFIED);
    assert_int_equal(s->n_events, 1);
    assert_true(str_is(s->events[0].name, "event"));
    assert_int_equal(s->n_links, 1);
    assert_int_equal(s->status_code, FT_STATUS_OK);
    const ft_value *v = ft_attrs_get(s->resource->attrs, "k");
    assert_non_null(v);
    assert_int_equal(v->type, FT_VAL_STRING);
    assert_true(str_is(v->u.s, "v"));
    ft_arena_destroy(a);
    ft_pbw_free(&w);
}

/* Encodes key -> AnyValue as an attribute (field `field` of the parent). */
static void kv_begin(ft_pbw *w, uint32_t field, const char *key)
{
    ft_pbw_begin(w, field);
    ft_pbw_str(w, 1, key);
    ft_pbw_begin(w, 2);
}

static void kv_end(ft_pbw *w)
{
    ft_pbw_end(w);
    ft_pbw_end(w);
}

static void test_anyvalue_types(void **state)
{
    (void)state;
    ft_pbw w;
    ft_pbw_init(&w);
    begin_req(&w, "svc");
    ft_pbw_begin(&w, 2);
    ft_pbw_bytes(&w, 1, TID, 16);
    ft_pbw_bytes(&w, 2, SID, 8);
    kv_begin(&w, 9, "str");
    ft_pbw_str(&w, 1, "hello");
    kv_end(&w);
    kv_begin(&w, 9, "empty-str");
    ft_pbw_str(&w, 1, "");
    kv_end(&w);
    kv_begin(&w, 9, "bool");
    ft_pbw_varint(&w, 2, 1);
    kv_end(&w);
    kv_begin(&w, 9, "int");
    ft_pbw_varint(&w, 3, (uint64_t)INT64_C(-42));
    kv_end(&w);
    kv_begin(&w, 9, "int-max");
    ft_pbw_varint(&w, 3, (uint64_t)INT64_MAX);
    kv_end(&w);
    kv_begin(&w, 9, "double");
    ft_pbw_double(&w, 4, -2.5);
    kv_end(&w);
    kv_begin(&w, 9, "bytes");
    ft_pbw_bytes(&w, 7, "\x00\x01\xff", 3);
    kv_end(&w);
    kv_begin(&w, 9, "empty");
    kv_end(&w);
    kv_begin(&w, 9, "last-wins");
    ft_pbw_str(&w, 1, "first");
    ft_pbw_varint(&w, 3, 5);
    kv_end(&w);
    kv_begin(&w, 9, "array");
    ft_pbw_begin(&w, 5); /* ArrayValue */
    ft_pbw_begin(&w, 1);
    ft_pbw_str(&w, 1, "x");
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 1);
    ft_pbw_varint(&w, 3, 1);
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 1); /* an empty AnyValue inside */
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 1); /* a nested kvlist { inner: [true] } */
    ft_pbw_begin(&w, 6);
    kv_begin(&w, 1, "inner");
    ft_pbw_begin(&w, 5);
    ft_pbw_begin(&w, 1);
    ft_pbw_varint(&w, 2, 1);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    kv_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w); /* ArrayValue */
    kv_end(&w);
    kv_begin(&w, 9, "empty-array");
    ft_pbw_begin(&w, 5);
    ft_pbw_end(&w);
    kv_end(&w);
    kv_begin(&w, 9, "kvlist");
    ft_pbw_begin(&w, 6);
    kv_begin(&w, 1, "a");
    ft_pbw_double(&w, 4, 1.0);
    kv_end(&w);
    kv_begin(&w, 1, "b");
    ft_pbw_begin(&w, 6);
    ft_pbw_end(&w);
    kv_end(&w);
    ft_pbw_end(&w);
    kv_end(&w);
    ft_pbw_end(&w); /* Span */
    end_req(&w);

    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    ft_err err = {0};
    ft_code rc = decode(&w, a, &b, &err);
    if (rc != FT_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(b.n, 1);
    ft_attrs at = b.spans[0].attrs;
    assert_int_equal(at.n, 12);
    const ft_value *v;

    v = ft_attrs_get(at, "str");
    assert_int_equal(v->type, FT_VAL_STRING);
    assert_true(str_is(v->u.s, "hello"));
    v = ft_attrs_get(at, "empty-str");
    assert_int_equal(v->type, FT_VAL_STRING);
    assert_int_equal(v->u.s.len, 0);
    v = ft_attrs_get(at, "bool");
    assert_int_equal(v->type, FT_VAL_BOOL);
    assert_true(v->u.b);
    v = ft_attrs_get(at, "int");
    assert_int_equal(v->type, FT_VAL_INT);
    assert_true(v->u.i == -42);
    v = ft_attrs_get(at, "int-max");
    assert_true(v->u.i == INT64_MAX);
    v = ft_attrs_get(at, "double");
    assert_int_equal(v->type, FT_VAL_DOUBLE);
    assert_true(v->u.d == -2.5);
    v = ft_attrs_get(at, "bytes");
    assert_int_equal(v->type, FT_VAL_BYTES);
    assert_int_equal(v->u.s.len, 3);
    assert_memory_equal(v->u.s.ptr, "\x00\x01\xff", 3);
    v = ft_attrs_get(at, "empty");
    assert_int_equal(v->type, FT_VAL_EMPTY);
    v = ft_attrs_get(at, "last-wins");
    assert_int_equal(v->type, FT_VAL_INT);
    assert_int_equal(v->u.i, 5);

    v = ft_attrs_get(at, "array");
    assert_int_equal(v->type, FT_VAL_ARRAY);
    assert_int_equal(v->u.array.n, 4);
    const ft_value *it = v->u.array.items;
    assert_int_equal(it[0].type, FT_VAL_STRING);
    assert_true(str_is(it[0].u.s, "x"));
    assert_int_equal(it[1].type, FT_VAL_INT);
    assert_int_equal(it[2].type, FT_VAL_EMPTY);
    assert_int_equal(it[3].type, FT_VAL_KVLIST);
    assert_int_equal(it[3].u.kvlist.n, 1);
    const ft_attr *inner = &it[3].u.kvlist.items[0];
    assert_true(str_is(inner->key, "inner"));
    assert_int_equal(inner->value.type, FT_VAL_ARRAY);
    assert_int_equal(inner->value.u.array.n, 1);
    assert_int_equal(inner->value.u.array.items[0].type, FT_VAL_BOOL);
    assert_true(inner->value.u.array.items[0].u.b);

    v = ft_attrs_get(at, "empty-array");
    assert_int_equal(v->type, FT_VAL_ARRAY);
    assert_int_equal(v->u.array.n, 0);

    v = ft_attrs_get(at, "kvlist");
    assert_int_equal(v->type, FT_VAL_KVLIST);
    assert_int_equal(v->u.kvlist.n, 2);
    ft_attrs kl = {v->u.kvlist.items, v->u.kvlist.n};
    assert_int_equal(ft_attrs_get(kl, "a")->type, FT_VAL_DOUBLE);
    assert_true(ft_attrs_get(kl, "a")->u.d == 1.0);
    assert_int_equal(ft_attrs_get(kl, "b")->type, FT_VAL_KVLIST);
    assert_int_equal(ft_attrs_get(kl, "b")->u.kvlist.n, 0);

    ft_arena_destroy(a);
    ft_pbw_free(&w);
}

/* A span whose one attribute is `levels` AnyValues nested through arrays
 * (odd levels) and kvlists (even levels). */
static void build_nested(ft_pbw *w, int levels)
{
    begin_req(w, "svc");
    ft_pbw_begin(w, 2);
    ft_pbw_bytes(w, 1, TID, 16);
    ft_pbw_bytes(w, 2, SID, 8);
    kv_begin(w, 9, "deep");
    for (int i = 1; i < levels; i++) {
        if (i % 2) {
            ft_pbw_begin(w, 5);
            ft_pbw_begin(w, 1);
        } else {
            ft_pbw_begin(w, 6);
            kv_begin(w, 1, "k");
        }
    }
    ft_pbw_str(w, 1, "bottom");
    for (int i = levels - 1; i >= 1; i--) {
        if (i % 2) {
            ft_pbw_end(w);
            ft_pbw_end(w);
        } else {
            kv_end(w);
            ft_pbw_end(w);
        }
    }
    kv_end(w);
    ft_pbw_end(w);
    end_req(w);
}

static void test_nesting_limit(void **state)
{
    (void)state;
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    ft_err err = {0};
    ft_pbw w;
    ft_pbw_init(&w);

    build_nested(&w, 32);
    assert_int_equal(decode(&w, a, &b, &err), FT_OK);
    const ft_value *v = ft_attrs_get(b.spans[0].attrs, "deep");
    for (int i = 1; i < 32; i++)
        v = i % 2 ? &v->u.array.items[0] : &v->u.kvlist.items[0].value;
    assert_int_equal(v->type, FT_VAL_STRING);
    assert_true(str_is(v->u.s, "bottom"));
    ft_pbw_free(&w);

    build_nested(&w, 33);
    ft_arena_reset(a);
    assert_int_equal(decode(&w, a, &b, &err), FT_DECODE);
    assert_non_null(strstr(err.msg, "AnyValue"));
    assert_non_null(strstr(err.msg, "nested"));
    ft_pbw_free(&w);

    build_nested(&w, 200);
    ft_arena_reset(a);
    assert_int_equal(decode(&w, a, &b, &err), FT_DECODE);
    ft_pbw_free(&w);
    ft_arena_destroy(a);
}

/* Malformed wire data fails the whole request, naming the place. */
static void expect_decode_error(const ft_pbw *w, const char *needle)
{
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    ft_err err = {0};
    ft_code rc = decode(w, a, &b, &err);
    if (rc != FT_DECODE)
        fail_msg("expected FT_DECODE (%s), got %s", needle, ft_code_name(rc));
    assert_int_equal(err.code, FT_DECODE);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("message \"%s\" does not mention \"%s\"", err.msg, needle);
    ft_arena_destroy(a);
}

static void test_wire_errors(void **state)
{
    (void)state;
    ft_pbw w;
    ft_pbw_init(&w);

    /* truncated tag varint */
    ft_pbw_raw(&w, "\x8a", 1);
    expect_decode_error(&w, "truncated tag");

    /* a length past the end */
    ft_pbw_reset(&w);
    ft_pbw_tag(&w, 1, FT_PB_LEN);
    ft_pbw_raw_varint(&w, 100);
    ft_pbw_raw(&w, "abc", 3);
    expect_decode_error(&w, "ExportTraceServiceRequest.resource_spans");

    /* the same one level down */
    ft_pbw_reset(&w);
    ft_pbw_begin(&w, 1);
    ft_pbw_begin(&w, 2);
    ft_pbw_begin(&w, 2);
    ft_pbw_bytes(&w, 1, TID, 16);
    ft_pbw_tag(&w, 5, FT_PB_LEN);
    ft_pbw_raw_varint(&w, 50);
    ft_pbw_raw(&w, "op", 2);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    expect_decode_error(&w, "Span.name: length 50 past the end");

    /* a truncated varint value */
    ft_pbw_reset(&w);
    ft_pbw_begin(&w, 1);
    ft_pbw_begin(&w, 2);
    ft_pbw_begin(&w, 2);
    ft_pbw_tag(&w, 6, FT_PB_VARINT);
    ft_pbw_raw(&w, "\xff\xff", 2);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    expect_decode_error(&w, "Span.kind: truncated varint");

    /* a varint of 11 bytes */
    ft_pbw_reset(&w);
    ft_pbw_tag(&w, 7, FT_PB_VARINT);
    ft_pbw_raw(&w, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
    expect_decode_error(&w, "longer than 10 bytes");

    /* a 10-byte varint is fine (an unknown field here) */
    ft_pbw_reset(&w);
    ft_pbw_tag(&w, 7, FT_PB_VARINT);
    ft_pbw_raw(&w, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10);
    {
        ft_arena *a = ft_arena_create(0);
        ft_span_batch b;
        assert_int_equal(decode(&w, a, &b, NULL), FT_OK);
        ft_arena_destroy(a);
    }

    /* truncated fixed64 and fixed32 */
    ft_pbw_reset(&w);
    ft_pbw_tag(&w, 9, FT_PB_I64);
    ft_pbw_raw(&w, "1234567", 7);
    expect_decode_error(&w, "truncated fixed64");
    ft_pbw_reset(&w);
    ft_pbw_tag(&w, 9, FT_PB_I32);
    ft_pbw_raw(&w, "123", 3);
    expect_decode_error(&w, "truncated fixed32");

    /* group wire types, and the undefined ones */
    ft_pbw_reset(&w);
    ft_pbw_tag(&w, 9, FT_PB_SGROUP);
    ft_pbw_tag(&w, 9, FT_PB_EGROUP);
    expect_decode_error(&w, "group");
    ft_pbw_reset(&w);
    ft_pbw_tag(&w, 9, 6);
    expect_decode_error(&w, "invalid wire type");

    /* field number 0 */
    ft_pbw_reset(&w);
    ft_pbw_raw(&w, "\x00\x00", 2);
    expect_decode_error(&w, "invalid field number");

    /* wrong wire type for a known field, at several levels */
    ft_pbw_reset(&w);
    ft_pbw_varint(&w, 1, 5);
    expect_decode_error(&w, "ExportTraceServiceRequest.resource_spans: wrong wire type");

    begin_req(&w, "svc");
    ft_pbw_begin(&w, 2);
    ft_pbw_bytes(&w, 1, TID, 16);
    ft_pbw_varint(&w, 5, 1);
    ft_pbw_end(&w);
    end_req(&w);
    expect_decode_error(&w, "Span.name: wrong wire type varint (expected length-delimited)");

    begin_req(&w, "svc");
    ft_pbw_begin(&w, 2);
    ft_pbw_fixed64(&w, 7, 1);
    ft_pbw_varint(&w, 8, 1);
    ft_pbw_end(&w);
    end_req(&w);
    expect_decode_error(&w, "Span.end_time_unix_nano");

    begin_req(&w, "svc");
    ft_pbw_begin(&w, 2);
    ft_pbw_varint(&w, 16, 1); /* flags is fixed32 */
    ft_pbw_end(&w);
    end_req(&w);
    expect_decode_error(&w, "Span.flags");

    begin_req(&w, "svc");
    ft_pbw_begin(&w, 2);
    kv_begin(&w, 9, "k");
    ft_pbw_fixed64(&w, 2, 1); /* bool_value as fixed64 */
    kv_end(&w);
    ft_pbw_end(&w);
    end_req(&w);
    expect_decode_error(&w, "AnyValue.bool_value");

    begin_req(&w, "svc");
    ft_pbw_begin(&w, 2);
    ft_pbw_begin(&w, 11);
    ft_pbw_fixed32(&w, 3, 1); /* attributes as fixed32 */
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    end_req(&w);
    expect_decode_error(&w, "Span.Event.attributes");

    /* a wire error inside an otherwise rejected span still fails */
    begin_req(&w, "svc");
    ft_pbw_begin(&w, 2);
    ft_pbw_bytes(&w, 1, ZERO, 16);
    ft_pbw_begin(&w, 15);
    ft_pbw_str(&w, 3, "not-a-varint");
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    end_req(&w);
    expect_decode_error(&w, "Status.code");

    ft_pbw_free(&w);
}

/* Arena exhaustion is FT_NOMEM, at whatever point it happens. */
static void test_arena_exhaustion(void **state)
{
    (void)state;
    size_t len;
    uint8_t *body = read_fixture(2, &len);
    ft_span_batch b;
    ft_err err = {0};

    ft_arena *a = ft_arena_create(64);
    assert_int_equal(ft_otlp_decode_traces_pb(body, len, a, &b, &err), FT_NOMEM);
    assert_int_equal(err.code, FT_NOMEM);
    assert_non_null(strstr(err.msg, "arena"));
    ft_arena_destroy(a);

    /* find what it needs, then try every cap below that in steps */
    a = ft_arena_create(0);
    assert_int_equal(ft_otlp_decode_traces_pb(body, len, a, &b, NULL), FT_OK);
    size_t need = ft_arena_used(a);
    ft_arena_destroy(a);
    size_t nomem = 0;
    for (size_t cap = 16; cap < need + 64; cap += 16) {
        a = ft_arena_create(cap);
        ft_code rc = ft_otlp_decode_traces_pb(body, len, a, &b, &err);
        if (cap < need)
            assert_int_equal(rc, FT_NOMEM);
        else
            assert_int_equal(rc, FT_OK);
        nomem += rc == FT_NOMEM;
        ft_arena_destroy(a);
    }
    assert_true(nomem > 0);

    /* the allocator itself refusing, block by block */
    for (long k = 0; k < 8; k++) {
        a = ft_arena_create(0);
        assert_non_null(a);
        ft_alloc_fail_after(k);
        ft_code rc = ft_otlp_decode_traces_pb(body, len, a, &b, &err);
        ft_alloc_fail_after(-1);
        assert_true(rc == FT_OK || rc == FT_NOMEM);
        ft_arena_destroy(a);
    }
    free(body);
}

/* ---- logs ---------------------------------------------------------------- */

static void put_log(ft_pbw *w, const void *tid, size_t tl, const void *sid,
                    size_t sl, const char *body)
{
    ft_pbw_begin(w, 2);
    if (tl)
        ft_pbw_bytes(w, 9, tid, tl);
    if (sl)
        ft_pbw_bytes(w, 10, sid, sl);
    ft_pbw_begin(w, 5);
    ft_pbw_str(w, 1, body);
    ft_pbw_end(w);
    ft_pbw_end(w);
}

static void test_logs_decode(void **state)
{
    (void)state;
    ft_pbw w;
    ft_pbw_init(&w);
    ft_pbw_begin(&w, 1); /* ResourceLogs */
    ft_pbw_begin(&w, 1);
    kv_begin(&w, 1, "service.name");
    ft_pbw_str(&w, 1, "fedify-a");
    kv_end(&w);
    ft_pbw_end(&w);
    ft_pbw_str(&w, 3, "https://res.schema");
    ft_pbw_begin(&w, 2); /* ScopeLogs */
    ft_pbw_begin(&w, 1);
    ft_pbw_str(&w, 1, "fedify");
    ft_pbw_str(&w, 2, "2.3.6");
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 2); /* a full LogRecord */
    ft_pbw_fixed64(&w, 1, 1700000000000000001ull);
    ft_pbw_fixed64(&w, 11, 1700000000000000002ull);
    ft_pbw_varint(&w, 2, 17);
    ft_pbw_str(&w, 3, "ERROR");
    ft_pbw_begin(&w, 5);
    ft_pbw_begin(&w, 6);
    kv_begin(&w, 1, "msg");
    ft_pbw_str(&w, 1, "delivery failed");
    kv_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    kv_begin(&w, 6, "activitypub.activity.id");
    ft_pbw_str(&w, 1, "https://a.example/1");
    kv_end(&w);
    ft_pbw_varint(&w, 7, 2);
    ft_pbw_fixed32(&w, 8, 1);
    ft_pbw_bytes(&w, 9, TID, 16);
    ft_pbw_bytes(&w, 10, SID, 8);
    ft_pbw_str(&w, 12, "fedify.delivery.failed");
    unknown_fields(&w);
    ft_pbw_end(&w);
    put_log(&w, NULL, 0, NULL, 0, "no context");
    put_log(&w, ZERO, 16, ZERO, 8, "zero context");
    put_log(&w, TID, 15, NULL, 0, "bad trace");
    put_log(&w, TID, 16, SID, 3, "bad span");
    put_log(&w, TID, 16, NULL, 0, "trace only");
    ft_pbw_begin(&w, 2); /* a negative severity (sign-extended int32) */
    ft_pbw_varint(&w, 2, (uint64_t)INT64_C(-1));
    ft_pbw_end(&w);
    ft_pbw_end(&w); /* ScopeLogs */
    ft_pbw_end(&w); /* ResourceLogs */

    ft_arena *a = ft_arena_create(0);
    ft_log_batch b;
    ft_err err = {0};
    ft_code rc = ft_otlp_decode_logs_pb(w.buf, w.len, a, &b, &err);
    if (rc != FT_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(b.n, 5);
    assert_int_equal(b.rejected, 2);
    assert_true(str_is(b.reject_reason, "log record trace_id is neither empty nor 16 bytes"));

    const ft_log *l = &b.logs[0];
    assert_int_equal(l->time_ns, 1700000000000000001ull);
    assert_int_equal(l->observed_ns, 1700000000000000002ull);
    assert_int_equal(l->severity_number, 17);
    assert_true(str_is(l->severity_text, "ERROR"));
    assert_int_equal(l->body.type, FT_VAL_KVLIST);
    assert_int_equal(l->body.u.kvlist.n, 1);
    assert_true(str_is(l->body.u.kvlist.items[0].value.u.s, "delivery failed"));
    assert_int_equal(l->attrs.n, 1);
    assert_true(str_is(ft_attrs_get(l->attrs, "activitypub.activity.id")->u.s,
                       "https://a.example/1"));
    assert_int_equal(l->dropped_attrs, 2);
    assert_int_equal(l->flags, 1);
    assert_true(l->has_trace_id);
    assert_true(l->has_span_id);
    assert_memory_equal(l->trace_id, TID, 16);
    assert_memory_equal(l->span_id, SID, 8);
    assert_true(str_is(l->event_name, "fedify.delivery.failed"));
    assert_true(str_is(l->scope->name, "fedify"));
    assert_true(str_is(l->scope->version, "2.3.6"));
    assert_true(str_is(l->resource->schema_url, "https://res.schema"));
    assert_true(str_is(ft_attrs_get(l->resource->attrs, "service.name")->u.s, "fedify-a"));

    l = &b.logs[1];
    assert_true(str_is(l->body.u.s, "no context"));
    assert_false(l->has_trace_id);
    assert_false(l->has_span_id);
    assert_memory_equal(l->trace_id, ZERO, 16);
    l = &b.logs[2];
    assert_true(str_is(l->body.u.s, "zero context"));
    assert_false(l->has_trace_id);
    assert_false(l->has_span_id);
    l = &b.logs[3];
    assert_true(str_is(l->body.u.s, "trace only"));
    assert_true(l->has_trace_id);
    assert_false(l->has_span_id);
    l = &b.logs[4];
    assert_int_equal(l->severity_number, -1);
    assert_int_equal(l->body.type, FT_VAL_EMPTY);
    assert_true(str_is(l->event_name, ""));
    assert_non_null(l->event_name.ptr);
    assert_non_null(l->severity_text.ptr);
    for (size_t i = 0; i < b.n; i++) {
        assert_ptr_equal(b.logs[i].resource, b.logs[0].resource);
        assert_ptr_equal(b.logs[i].scope, b.logs[0].scope);
    }

    /* wire errors in logs are named too */
    ft_pbw_reset(&w);
    ft_pbw_begin(&w, 1);
    ft_pbw_begin(&w, 2);
    ft_pbw_begin(&w, 2);
    ft_pbw_varint(&w, 12, 3);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_arena_reset(a);
    assert_int_equal(ft_otlp_decode_logs_pb(w.buf, w.len, a, &b, &err), FT_DECODE);
    assert_non_null(strstr(err.msg, "LogRecord.event_name"));

    ft_pbw_reset(&w);
    ft_pbw_begin(&w, 1);
    ft_pbw_tag(&w, 2, FT_PB_LEN);
    ft_pbw_raw_varint(&w, 9);
    ft_pbw_end(&w);
    ft_arena_reset(a);
    assert_int_equal(ft_otlp_decode_logs_pb(w.buf, w.len, a, &b, &err), FT_DECODE);
    assert_non_null(strstr(err.msg, "ResourceLogs.scope_logs"));

    /* and the arena cap applies */
    ft_arena_destroy(a);
    a = ft_arena_create(32);
    ft_pbw_reset(&w);
    ft_pbw_begin(&w, 1);
    ft_pbw_begin(&w, 2);
    put_log(&w, TID, 16, SID, 8, "x");
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    assert_int_equal(ft_otlp_decode_logs_pb(w.buf, w.len, a, &b, &err), FT_NOMEM);

    ft_arena_destroy(a);
    ft_pbw_free(&w);
}

/* The trace decoder, fed a logs request (and vice versa), does not crash:
 * the field numbers overlap, so this is well-formed nonsense. */
static void test_cross_feeding(void **state)
{
    (void)state;
    size_t len;
    uint8_t *body = read_fixture(8, &len);
    ft_arena *a = ft_arena_create(0);
    ft_log_batch lb;
    ft_code rc = ft_otlp_decode_logs_pb(body, len, a, &lb, NULL);
    assert_true(rc == FT_OK || rc == FT_DECODE);
    ft_arena_destroy(a);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_match_reference),
        cmocka_unit_test(test_fixture_event_attributes),
        cmocka_unit_test(test_fixture_shared_pointers),
        cmocka_unit_test(test_fixture_every_prefix),
        cmocka_unit_test(test_fixture_prefixes_sampled),
        cmocka_unit_test(test_fixture_byte_mutations),
        cmocka_unit_test(test_empty_request),
        cmocka_unit_test(test_invalid_ids_rejected),
        cmocka_unit_test(test_all_span_fields),
        cmocka_unit_test(test_resource_scope_grouping),
        cmocka_unit_test(test_unknown_fields_skipped),
        cmocka_unit_test(test_anyvalue_types),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_wire_errors),
        cmocka_unit_test(test_arena_exhaustion),
        cmocka_unit_test(test_logs_decode),
        cmocka_unit_test(test_cross_feeding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
