/*
 * test_exporter.c - the exporter against Fedify's own output, both storage
 * strategies, TTL, paging, and many writers at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fedtrace/exporter.h"
#include "ft_json_test.h"
#include "fedtrace/otlp.h"
#include "ft_test_util.h"
#include "ft_tmp.h"

#define FIXTURES FT_TEST_DATA "/fedify-2.3.6"

static int64_t fake_now;
static int64_t fake_clock(void)
{
    return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

static char *tmp_root;
static json_t *reference;
static unsigned seq;

/* A fresh store URL of the given kind: "memory", "lmdb"; caps may be "". */
static char *store_url(const char *kind, const char *caps)
{
    static char url[600];
    if (strcmp(kind, "memory") == 0)
        snprintf(url, sizeof url, "memory:ex%u%s", ++seq, caps);
    else
        snprintf(url, sizeof url, "lmdb:%s/s%u%s", tmp_root, ++seq, caps);
    return url;
}

typedef struct env {
    ft_kv *kv;
    ft_exporter *ex;
    ft_arena *arena;
} env;

static void env_open(env *e, const char *url, int64_t ttl_ms)
{
    ft_err err = {0};
    if (ft_kv_open(url, &e->kv, &err) != FT_OK)
        fail_msg("open %s: %s", url, err.msg);
    ft_exporter_opts o = {.ttl_ms = ttl_ms};
    if (ft_exporter_create(e->kv, &o, &e->ex, &err) != FT_OK)
        fail_msg("exporter on %s: %s", url, err.msg);
    e->arena = ft_arena_create(0);
}

static void env_close(env *e)
{
    ft_exporter_destroy(e->ex);
    ft_kv_close(e->kv);
    ft_arena_destroy(e->arena);
}

/* Decodes and exports every fixture request, as a collector would. */
static size_t export_fixtures(env *e)
{
    size_t spans = 0;
    for (int i = 1; i <= 8; i++) {
        char path[512];
        snprintf(path, sizeof path, FIXTURES "/%04d-traces.pb", i);
        size_t len;
        uint8_t *body = ft_test_read_file(path, &len);
        assert_non_null(body);
        ft_arena *a = ft_arena_create(0);
        ft_span_batch batch;
        ft_err err = {0};
        assert_int_equal(ft_otlp_decode_traces_pb(body, len, a, &batch, &err), FT_OK);
        assert_int_equal(batch.rejected, 0);
        ft_export_stats st = {0};
        if (ft_exporter_export_spans(e->ex, &batch, &st, &err) != FT_OK)
            fail_msg("export %s: %s", path, err.msg);
        assert_int_equal(st.spans, batch.n);
        spans += batch.n;
        ft_arena_destroy(a);
        free(body);
    }
    return spans;
}

static json_t *parse(ft_str s)
{
    json_error_t je;
    json_t *j = json_loadb(s.ptr, s.len, 0, &je);
    if (j == NULL)
        fail_msg("stored JSON does not parse: %s: %.*s", je.text, (int)s.len, s.ptr);
    return j;
}

/* The records of every reference trace equal ours, field by field. */
static void check_activities(env *e)
{
    json_t *acts = json_object_get(reference, "activities");
    const char *tid;
    json_t *want;
    size_t total = 0;
    json_object_foreach(acts, tid, want) {
        ft_str *got;
        size_t n;
        ft_err err = {0};
        assert_int_equal(ft_exporter_activities(e->ex, tid, e->arena, &got, &n, &err), FT_OK);
        if (n != json_array_size(want))
            fail_msg("trace %s: %zu records, reference has %zu", tid, n, json_array_size(want));
        for (size_t i = 0; i < n; i++) {
            json_t *g = parse(got[i]);
            bool matched = false;
            for (size_t j = 0; j < json_array_size(want) && !matched; j++)
                matched = json_equal(g, json_array_get(want, j));
            if (!matched) {
                char *s = json_dumps(g, JSON_INDENT(1));
                fail_msg("trace %s: record not in reference:\n%s", tid, s);
            }
            json_decref(g);
        }
        total += n;
    }
    assert_int_equal(total, 12);
    /* an unknown trace has no records */
    ft_str *got;
    size_t n;
    assert_int_equal(ft_exporter_activities(e->ex, "00000000000000000000000000000001",
                                            e->arena, &got, &n, NULL), FT_OK);
    assert_int_equal(n, 0);
}

/* Fedify's four fields of a summary (fedtrace adds more). */
static json_t *summary_to_json(const ft_trace_summary *s, ft_arena *a)
{
    ft_str js;
    assert_int_equal(ft_trace_summaries_json(s, 1, a, &js, NULL), FT_OK);
    json_t *arr = parse(js);
    json_t *fedify = ft_test_fedify_summaries(arr);
    json_t *o = json_incref(json_array_get(fedify, 0));
    json_decref(arr);
    json_decref(fedify);
    return o;
}

/* Recent traces equal reference.traces (Fedify's getRecentTraces), in the
 * same newest-first order. */
static void check_recent(env *e)
{
    ft_trace_summary *s;
    size_t n;
    char *next;
    ft_recent_opts o = {.limit = 100, .cursor = NULL};
    ft_err err = {0};
    assert_int_equal(ft_exporter_recent_traces(e->ex, &o, e->arena, &s, &n, &next, &err), FT_OK);
    json_t *want = json_object_get(reference, "traces");
    assert_int_equal(n, json_array_size(want));
    assert_null(next);
    for (size_t i = 0; i < n; i++) {
        json_t *g = summary_to_json(&s[i], e->arena);
        if (!json_equal(g, json_array_get(want, i))) {
            char *a = json_dumps(g, 0), *b = json_dumps(json_array_get(want, i), 0);
            fail_msg("summary %zu differs:\n ours %s\n ref  %s", i, a, b);
        }
        json_decref(g);
    }
}

/* Paging through with a small limit visits the same traces in order. */
static void check_paging(env *e)
{
    json_t *want = json_object_get(reference, "traces");
    const char *cursor = NULL;
    size_t seen = 0;
    for (int page = 0; page < 20; page++) {
        ft_trace_summary *s;
        size_t n;
        char *next;
        ft_recent_opts o = {.limit = 3, .cursor = cursor};
        ft_err err = {0};
        assert_int_equal(ft_exporter_recent_traces(e->ex, &o, e->arena, &s, &n, &next, &err), FT_OK);
        for (size_t i = 0; i < n; i++) {
            const char *tid = json_string_value(json_object_get(json_array_get(want, seen + i), "traceId"));
            assert_string_equal(s[i].trace_id, tid);
        }
        seen += n;
        if (next == NULL)
            break;
        cursor = next;
    }
    assert_int_equal(seen, json_array_size(want));
    ft_recent_opts bad = {.limit = 3, .cursor = "not-a-cursor"};
    ft_trace_summary *s;
    size_t n;
    ft_err err = {0};
    assert_int_equal(ft_exporter_recent_traces(e->ex, &bad, e->arena, &s, &n, NULL, &err), FT_INVAL);
    assert_non_null(strstr(err.msg, "cursor"));
}

/* Every captured span is stored and comes back by trace. */
static void check_spans(env *e)
{
    json_t *spans = json_object_get(reference, "spans");
    json_t *by_trace = json_object();
    size_t i;
    json_t *sp;
    json_array_foreach(spans, i, sp) {
        const char *tid = json_string_value(json_object_get(sp, "traceId"));
        json_int_t c = json_integer_value(json_object_get(by_trace, tid));
        json_object_set_new(by_trace, tid, json_integer(c + 1));
    }
    assert_int_equal(json_object_size(by_trace), 20);
    const char *tid;
    json_t *count;
    size_t total = 0;
    json_object_foreach(by_trace, tid, count) {
        ft_str *got;
        size_t n;
        ft_err err = {0};
        assert_int_equal(ft_exporter_spans(e->ex, tid, e->arena, &got, &n, &err), FT_OK);
        assert_int_equal(n, (size_t)json_integer_value(count));
        uint64_t prev = 0;
        for (size_t k = 0; k < n; k++) {
            json_t *g = parse(got[k]);
            assert_string_equal(json_string_value(json_object_get(g, "traceId")), tid);
            uint64_t start = strtoull(json_string_value(json_object_get(g, "startTimeUnixNano")), NULL, 10);
            assert_true(start >= prev);
            prev = start;
            /* the span's service is in its resource */
            json_t *attrs = json_object_get(json_object_get(g, "resource"), "attributes");
            bool svc = false;
            size_t j;
            json_t *kv;
            json_array_foreach(attrs, j, kv)
                svc |= strcmp(json_string_value(json_object_get(kv, "key")), "service.name") == 0;
            assert_true(svc);
            json_decref(g);
        }
        total += n;
    }
    assert_int_equal(total, 250);
    json_decref(by_trace);
}

static void run_reference(const char *url, ft_strategy want)
{
    env e;
    env_open(&e, url, 0);
    assert_int_equal(ft_exporter_strategy(e.ex), want);
    assert_int_equal(export_fixtures(&e), 250);
    check_activities(&e);
    check_recent(&e);
    check_paging(&e);
    check_spans(&e);
    /* a retried export changes nothing */
    export_fixtures(&e);
    check_activities(&e);
    check_recent(&e);
    check_spans(&e);
    /* Fedify's own summary key, when the store has CAS */
    if (ft_kv_caps(e.kv) & FT_KV_CAP_CAS) {
        json_t *want_t = json_object_get(reference, "traces");
        size_t i;
        json_t *t;
        json_array_foreach(want_t, i, t) {
            const char *tid = json_string_value(json_object_get(t, "traceId"));
            ft_str parts[] = {FT_STR_LIT("fedify"), FT_STR_LIT("traces"),
                              FT_STR_LIT("_summaries"), ft_str_c(tid)};
            ft_str v;
            assert_int_equal(ft_kv_get(e.kv, (ft_kv_key){parts, 4}, e.arena, &v, NULL), FT_OK);
            json_t *g = parse(v);
            assert_true(json_equal(g, t));
            json_decref(g);
        }
    }
    env_close(&e);
}

static void test_reference_memory_list(void **s) { (void)s; run_reference(store_url("memory", ""), FT_STRATEGY_LIST); }
static void test_reference_memory_cas(void **s) { (void)s; run_reference(store_url("memory", "?caps=cas"), FT_STRATEGY_CAS); }
static void test_reference_memory_list_only(void **s) { (void)s; run_reference(store_url("memory", "?caps=list"), FT_STRATEGY_LIST); }
static void test_reference_lmdb_list(void **s) { (void)s; run_reference(store_url("lmdb", ""), FT_STRATEGY_LIST); }
static void test_reference_lmdb_cas(void **s) { (void)s; run_reference(store_url("lmdb", "?caps=cas"), FT_STRATEGY_CAS); }
static void test_reference_lmdb_list_only(void **s) { (void)s; run_reference(store_url("lmdb", "?caps=list"), FT_STRATEGY_LIST); }

static void test_create_needs_capabilities(void **s)
{
    (void)s;
    ft_kv *kv;
    ft_exporter *ex = NULL;
    ft_err err = {0};
    assert_int_equal(ft_kv_open(store_url("memory", "?caps=none"), &kv, &err), FT_OK);
    assert_int_equal(ft_exporter_create(kv, NULL, &ex, &err), FT_UNSUPPORTED);
    assert_null(ex);
    assert_non_null(strstr(err.msg, "list"));
    assert_non_null(strstr(err.msg, "compare-and-swap"));
    ft_kv_close(kv);
}

/* ---- synthetic spans ---- */

static ft_attr *attrs3(ft_arena *a, const char *k1, const char *v1,
                       const char *k2, const char *v2, const char *k3,
                       const char *v3)
{
    ft_attr *at = ft_arena_calloc(a, 3 * sizeof *at);
    const char *ks[] = {k1, k2, k3}, *vs[] = {v1, v2, v3};
    for (int i = 0; i < 3; i++) {
        at[i].key = ft_str_c(ks[i]);
        at[i].value.type = FT_VAL_STRING;
        at[i].value.u.s = ft_str_c(vs[i]);
    }
    return at;
}

static const ft_resource the_resource = {{NULL, 0}, 0, {NULL, 0}};
static const ft_scope the_scope = {{"test", 4}, {NULL, 0}, {NULL, 0}, 0, {NULL, 0}};

/* A send_activity span with n_events "sent" events of the given type. */
static void mk_span(ft_arena *a, ft_span *sp, unsigned trace, unsigned span,
                    unsigned n_events, const char *type, uint64_t t_ns)
{
    memset(sp, 0, sizeof *sp);
    sp->trace_id[0] = 0xAB;
    sp->trace_id[15] = (uint8_t)trace;
    sp->trace_id[14] = (uint8_t)(trace >> 8);
    sp->span_id[0] = 0xCD;
    sp->span_id[6] = (uint8_t)(span >> 8);
    sp->span_id[7] = (uint8_t)span;
    sp->span_id[5] = (uint8_t)(span >> 16);
    sp->name = FT_STR_LIT("activitypub.send_activity");
    sp->kind = FT_SPAN_KIND_CLIENT;
    sp->start_ns = t_ns;
    sp->end_ns = t_ns + 1000000;
    sp->resource = &the_resource;
    sp->scope = &the_scope;
    sp->n_events = n_events;
    sp->events = ft_arena_calloc(a, (n_events ? n_events : 1) * sizeof *sp->events);
    for (unsigned i = 0; i < n_events; i++) {
        char *id = ft_arena_alloc(a, 64);
        snprintf(id, 64, "https://a.example/activities/%u-%u-%u", trace, span, i);
        sp->events[i].name = FT_STR_LIT("activitypub.activity.sent");
        sp->events[i].time_ns = t_ns + i * 1000000ull;
        sp->events[i].attrs = (ft_attrs){attrs3(a, "activitypub.activity.type", type,
                                                "activitypub.activity.id", id,
                                                "activitypub.inbox.url", "https://b.example/inbox"),
                                         3};
    }
}

static void trace_hex(unsigned trace, char out[33])
{
    uint8_t id[16] = {0xAB};
    id[15] = (uint8_t)trace;
    id[14] = (uint8_t)(trace >> 8);
    ft_hex_encode(id, 16, out);
}

static void run_two_events(const char *url)
{
    env e;
    env_open(&e, url, 0);
    ft_arena *a = ft_arena_create(0);
    ft_span sp;
    mk_span(a, &sp, 1, 1, 2, "Announce", 1795302980000000000ull);
    ft_span_batch b = {&sp, 1, 0, {NULL, 0}};
    ft_export_stats st = {0};
    assert_int_equal(ft_exporter_export_spans(e.ex, &b, &st, NULL), FT_OK);
    assert_int_equal(st.activities, 2);
    char tid[33];
    trace_hex(1, tid);
    ft_str *got;
    size_t n;
    assert_int_equal(ft_exporter_activities(e.ex, tid, e.arena, &got, &n, NULL), FT_OK);
    assert_int_equal(n, 2); /* the second event did not overwrite the first */
    assert_true(strstr(got[0].ptr, "/1-1-0") != NULL || strstr(got[1].ptr, "/1-1-0") != NULL);
    assert_true(strstr(got[0].ptr, "/1-1-1") != NULL || strstr(got[1].ptr, "/1-1-1") != NULL);
    ft_trace_summary *s;
    assert_int_equal(ft_exporter_recent_traces(e.ex, NULL, e.arena, &s, &n, NULL, NULL), FT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].activity_count, 2);
    assert_int_equal(s[0].n_activity_types, 1);
    ft_arena_destroy(a);
    env_close(&e);
}

static void test_two_events_one_span_list(void **s) { (void)s; run_two_events(store_url("lmdb", "")); }
static void test_two_events_one_span_cas(void **s) { (void)s; run_two_events(store_url("lmdb", "?caps=cas")); }

/* The time index has one entry per trace and batch, at the batch's
 * earliest activity of the trace; the trace is listed at its first. */
static void test_recent_one_entry_per_batch(void **st)
{
    (void)st;
    env e;
    env_open(&e, store_url("lmdb", ""), 0);
    ft_arena *a = ft_arena_create(0);
    const uint64_t t0 = 1795302980000000000ull;
    ft_span b1[2], b2[2];
    mk_span(a, &b1[0], 7, 1, 2, "Create", t0);                /* t0, t0 + 1 ms */
    mk_span(a, &b1[1], 7, 2, 1, "Like", t0 - 5000000000ull);   /* t0 - 5 s */
    mk_span(a, &b2[0], 7, 3, 1, "Undo", t0 - 20000000000ull);  /* t0 - 20 s */
    mk_span(a, &b2[1], 8, 1, 1, "Follow", t0 + 3000000000ull); /* t0 + 3 s */
    assert_int_equal(ft_exporter_export_spans(e.ex, &(ft_span_batch){b1, 2, 0, {NULL, 0}}, NULL, NULL),
                     FT_OK);
    assert_int_equal(ft_exporter_export_spans(e.ex, &(ft_span_batch){b2, 2, 0, {NULL, 0}}, NULL, NULL),
                     FT_OK);
    ft_str parts[3] = {FT_STR_LIT("fedify"), FT_STR_LIT("traces"), FT_STR_LIT("_recent")};
    ft_kv_entry *en;
    size_t n;
    assert_int_equal(ft_kv_list(e.kv, (ft_kv_key){parts, 3}, NULL, e.arena, &en, &n, NULL), FT_OK);
    assert_int_equal(n, 3);
    char t7[33], t8[33], ms[3][24];
    trace_hex(7, t7);
    trace_hex(8, t8);
    snprintf(ms[0], sizeof ms[0], "%015llu", (unsigned long long)((t0 - 20000000000ull) / 1000000));
    snprintf(ms[1], sizeof ms[1], "%015llu", (unsigned long long)((t0 - 5000000000ull) / 1000000));
    snprintf(ms[2], sizeof ms[2], "%015llu", (unsigned long long)((t0 + 3000000000ull) / 1000000));
    const char *tids[3] = {t7, t7, t8};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(en[i].key.n, 5);
        assert_true(ft_str_eq_c(en[i].key.parts[3], ms[i]));
        assert_true(ft_str_eq_c(en[i].key.parts[4], tids[i]));
    }
    ft_trace_summary *s;
    assert_int_equal(ft_exporter_recent_traces(e.ex, NULL, e.arena, &s, &n, NULL, NULL), FT_OK);
    assert_int_equal(n, 2);
    assert_string_equal(s[0].trace_id, t8);
    assert_string_equal(s[1].trace_id, t7);
    assert_int_equal(s[1].activity_count, 4);
    assert_int_equal(s[1].first_ms, (int64_t)((t0 - 20000000000ull) / 1000000));
    ft_arena_destroy(a);
    env_close(&e);
}

/* A batch's spans of one trace are stored together (one key on LIST); a
 * later batch of the same trace adds to them, and spans sent again in a
 * batch cut differently are listed once. */
static void run_grouped_spans(const char *url)
{
    env e;
    env_open(&e, url, 0);
    ft_arena *a = ft_arena_create(0);
    ft_span sp[5];
    for (unsigned i = 0; i < 5; i++)
        mk_span(a, &sp[i], 7, 10 + i, i == 2, "Create", 1795302980000000000ull + i * 1000);
    ft_span_batch first = {sp, 3, 0, {NULL, 0}}; /* spans 10, 11, 12 */
    assert_int_equal(ft_exporter_export_spans(e.ex, &first, NULL, NULL), FT_OK);
    ft_span_batch recut = {sp + 1, 4, 0, {NULL, 0}}; /* 11, 12 again, and 13, 14 */
    assert_int_equal(ft_exporter_export_spans(e.ex, &recut, NULL, NULL), FT_OK);
    char tid[33];
    trace_hex(7, tid);
    ft_str *got;
    size_t n;
    assert_int_equal(ft_exporter_spans(e.ex, tid, e.arena, &got, &n, NULL), FT_OK);
    assert_int_equal(n, 5);
    for (unsigned i = 0; i < 5; i++) {
        json_t *o = json_loadb(got[i].ptr, got[i].len, 0, NULL);
        char want[17];
        ft_hex_encode(sp[i].span_id, 8, want);
        assert_string_equal(json_string_value(json_object_get(o, "spanId")), want);
        json_decref(o);
    }
    if (ft_exporter_strategy(e.ex) == FT_STRATEGY_LIST) {
        /* two values under [P, "_spans", trace]: one per batch */
        ft_kv_entry *ents;
        ft_str parts[] = {FT_STR_LIT("fedify"), FT_STR_LIT("traces"), FT_STR_LIT("_spans"),
                          {tid, 32}};
        assert_int_equal(ft_kv_list(e.kv, (ft_kv_key){parts, 4}, NULL, e.arena, &ents, &n, NULL),
                         FT_OK);
        assert_int_equal(n, 2);
        assert_int_equal(ents[0].value.ptr[0], '[');
    }
    ft_trace_summary *s;
    assert_int_equal(ft_exporter_recent_traces(e.ex, NULL, e.arena, &s, &n, NULL, NULL), FT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].activity_count, 1);
    ft_arena_destroy(a);
    env_close(&e);
}

static void test_grouped_spans_list(void **s) { (void)s; run_grouped_spans(store_url("lmdb", "")); }
static void test_grouped_spans_cas(void **s) { (void)s; run_grouped_spans(store_url("lmdb", "?caps=cas")); }

/* Lists read the stored summary ([P, "_tsum", trace]); one that is
 * missing or does not parse is derived from the records instead, with the
 * same answer. */
static void test_stored_summary_fallback(void **st)
{
    (void)st;
    env e;
    env_open(&e, store_url("lmdb", ""), 0);
    ft_arena *a = ft_arena_create(0);
    ft_span sp[6];
    for (unsigned i = 0; i < 6; i++)
        mk_span(a, &sp[i], 20 + i % 3, 100 + i, 1 + i % 2, i % 2 ? "Follow" : "Create",
                1795302980000000000ull + (6 - i) * 1000000000ull);
    ft_span_batch b = {sp, 6, 0, {NULL, 0}};
    assert_int_equal(ft_exporter_export_spans(e.ex, &b, NULL, NULL), FT_OK);
    ft_str want, got;
    ft_trace_summary *s;
    size_t n;
    assert_int_equal(ft_exporter_recent_traces(e.ex, NULL, e.arena, &s, &n, NULL, NULL), FT_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ft_trace_summaries_json(s, n, e.arena, &want, NULL), FT_OK);
    ft_str parts[] = {FT_STR_LIT("fedify"), FT_STR_LIT("traces"), FT_STR_LIT("_tsum")};
    ft_kv_entry *ents;
    size_t ne;
    assert_int_equal(ft_kv_list(e.kv, (ft_kv_key){parts, 3}, NULL, e.arena, &ents, &ne, NULL),
                     FT_OK);
    assert_int_equal(ne, 3);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < ne; i++) {
            if (round == 0)
                assert_int_equal(ft_kv_set(e.kv, ents[i].key, FT_STR_LIT("{not json"), 0, NULL),
                                 FT_OK);
            else
                assert_int_equal(ft_kv_delete(e.kv, ents[i].key, NULL), FT_OK);
        }
        assert_int_equal(ft_exporter_recent_traces(e.ex, NULL, e.arena, &s, &n, NULL, NULL),
                         FT_OK);
        assert_int_equal(ft_trace_summaries_json(s, n, e.arena, &got, NULL), FT_OK);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.ptr, want.ptr, want.len);
    }
    ft_arena_destroy(a);
    env_close(&e);
}

/* ---- TTL ---- */

static void run_ttl(const char *url)
{
    fake_now = 1795302980000;
    ft_clock_set(fake_clock);
    env e;
    env_open(&e, url, 60000);
    ft_arena *a = ft_arena_create(0);
    enum { N = 400 };
    ft_span *spans = ft_arena_calloc(a, N * sizeof *spans);
    for (unsigned i = 0; i < N; i++)
        mk_span(a, &spans[i], i % 50, i, 1, "Create", 1795302980000000000ull + i * 1000000ull);
    ft_span_batch b = {spans, N, 0, {NULL, 0}};
    assert_int_equal(ft_exporter_export_spans(e.ex, &b, NULL, NULL), FT_OK);
    ft_kv_stats before, after;
    assert_int_equal(ft_kv_stats_get(e.kv, &before, NULL), FT_OK);
    ft_trace_summary *s;
    size_t n;
    assert_int_equal(ft_exporter_recent_traces(e.ex, &(ft_recent_opts){.limit = 100}, e.arena, &s, &n, NULL, NULL), FT_OK);
    assert_int_equal(n, 50);
    fake_now += 60000;
    assert_int_equal(ft_exporter_recent_traces(e.ex, &(ft_recent_opts){.limit = 100}, e.arena, &s, &n, NULL, NULL), FT_OK);
    assert_int_equal(n, 0);
    char tid[33];
    trace_hex(7, tid);
    ft_str *got;
    assert_int_equal(ft_exporter_activities(e.ex, tid, e.arena, &got, &n, NULL), FT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ft_exporter_spans(e.ex, tid, e.arena, &got, &n, NULL), FT_OK);
    assert_int_equal(n, 0);
    size_t removed;
    assert_int_equal(ft_kv_sweep(e.kv, 0, &removed, NULL), FT_OK);
    assert_true(removed >= before.entries - 1);
    assert_int_equal(ft_kv_stats_get(e.kv, &after, NULL), FT_OK);
    assert_int_equal(after.entries, 0);
    if (strncmp(url, "lmdb:", 5) == 0) {
        /* the pages that held them are free again */
        assert_true(before.pages_used > 10);
        assert_int_equal(after.pages_used, 0);
    }
    ft_arena_destroy(a);
    env_close(&e);
    ft_clock_set(NULL);
}

static void test_ttl_lmdb_list(void **s) { (void)s; run_ttl(store_url("lmdb", "")); }
static void test_ttl_lmdb_cas(void **s) { (void)s; run_ttl(store_url("lmdb", "?caps=cas")); }
static void test_ttl_memory(void **s) { (void)s; run_ttl(store_url("memory", "")); }

/* ---- logs ---- */

static void run_logs(const char *url)
{
    env e;
    env_open(&e, url, 0);
    ft_log logs[3];
    memset(logs, 0, sizeof logs);
    for (int i = 0; i < 3; i++) {
        logs[i].time_ns = 1795302980000000000ull - (uint64_t)i * 1000;
        logs[i].severity_number = 9;
        logs[i].body.type = FT_VAL_STRING;
        logs[i].body.u.s = ft_str_c(i == 0 ? "first" : i == 1 ? "<b>second</b>" : "no trace");
        logs[i].has_trace_id = i < 2;
        logs[i].trace_id[0] = 0xAB;
        logs[i].trace_id[15] = 9;
        logs[i].resource = &the_resource;
        logs[i].scope = &the_scope;
    }
    ft_log_batch b = {logs, 3, 0, {NULL, 0}};
    ft_export_stats st = {0};
    assert_int_equal(ft_exporter_export_logs(e.ex, &b, &st, NULL), FT_OK);
    assert_int_equal(ft_exporter_export_logs(e.ex, &b, &st, NULL), FT_OK); /* retry */
    char tid[33];
    trace_hex(9, tid);
    ft_str *got;
    size_t n;
    assert_int_equal(ft_exporter_logs(e.ex, tid, e.arena, &got, &n, NULL), FT_OK);
    assert_int_equal(n, 2);
    /* ordered by time: the second one is older */
    assert_non_null(strstr(got[0].ptr, "<b>second</b>"));
    assert_non_null(strstr(got[1].ptr, "first"));
    env_close(&e);
}

static void test_logs_list(void **s) { (void)s; run_logs(store_url("lmdb", "")); }
static void test_logs_cas(void **s) { (void)s; run_logs(store_url("lmdb", "?caps=cas")); }

/* ---- many writers ---- */

enum { WRITERS = 8, TRACES = 12, SPANS_PER = 3 };

/* Writer w: for every trace, SPANS_PER spans of its own with one activity
 * each, sent in small batches, and every batch sent twice (a retry). */
static int writer(const char *url, int w)
{
    ft_kv *kv;
    ft_exporter *ex;
    ft_err err = {0};
    if (ft_kv_open(url, &kv, &err) != FT_OK || ft_exporter_create(kv, NULL, &ex, &err) != FT_OK) {
        fprintf(stderr, "writer %d: %s\n", w, err.msg);
        return 1;
    }
    ft_arena *a = ft_arena_create(0);
    for (int t = 0; t < TRACES; t++) {
        ft_span spans[SPANS_PER];
        for (int k = 0; k < SPANS_PER; k++)
            mk_span(a, &spans[k], (unsigned)t, (unsigned)(w * 1000 + t * 10 + k), 1,
                    k == 0 ? "Create" : "Like",
                    1795302980000000000ull + (uint64_t)t * 1000000000ull + (uint64_t)(w * 10 + k) * 1000000ull);
        ft_span_batch b = {spans, SPANS_PER, 0, {NULL, 0}};
        for (int r = 0; r < 2; r++)
            if (ft_exporter_export_spans(ex, &b, NULL, &err) != FT_OK) {
                fprintf(stderr, "writer %d: %s\n", w, err.msg);
                return 1;
            }
    }
    ft_arena_destroy(a);
    ft_exporter_destroy(ex);
    ft_kv_close(kv);
    return 0;
}

static void run_concurrent(const char *caps)
{
    char url[600];
    snprintf(url, sizeof url, "%s", store_url("lmdb", caps));
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0)
            _exit(writer(url, w));
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    env e;
    env_open(&e, url, 0);
    ft_trace_summary *s;
    size_t n;
    assert_int_equal(ft_exporter_recent_traces(e.ex, &(ft_recent_opts){.limit = 100}, e.arena, &s, &n, NULL, NULL), FT_OK);
    assert_int_equal(n, TRACES);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s[i].activity_count, WRITERS * SPANS_PER);
        assert_int_equal(s[i].n_activity_types, 2);
        ft_str *got;
        size_t nr;
        assert_int_equal(ft_exporter_activities(e.ex, s[i].trace_id, e.arena, &got, &nr, NULL), FT_OK);
        assert_int_equal(nr, WRITERS * SPANS_PER);
        assert_int_equal(ft_exporter_spans(e.ex, s[i].trace_id, e.arena, &got, &nr, NULL), FT_OK);
        assert_int_equal(nr, WRITERS * SPANS_PER);
        /* Fedify's summary key is exact too */
        ft_str parts[] = {FT_STR_LIT("fedify"), FT_STR_LIT("traces"),
                          FT_STR_LIT("_summaries"), ft_str_c(s[i].trace_id)};
        ft_str v;
        assert_int_equal(ft_kv_get(e.kv, (ft_kv_key){parts, 4}, e.arena, &v, NULL), FT_OK);
        json_t *j = parse(v);
        assert_int_equal(json_integer_value(json_object_get(j, "activityCount")), WRITERS * SPANS_PER);
        json_decref(j);
    }
    env_close(&e);
}

static void test_concurrent_list(void **s) { (void)s; run_concurrent(""); }
static void test_concurrent_cas(void **s) { (void)s; run_concurrent("?caps=cas"); }

/* Eviction removes whole traces, oldest arrival first, and nothing else. */
static void export_fixture_at(env *e, int i, int64_t now_ms)
{
    __atomic_store_n(&fake_now, now_ms, __ATOMIC_SEQ_CST);
    char path[512];
    snprintf(path, sizeof path, FIXTURES "/%04d-traces.pb", i);
    size_t len;
    uint8_t *body = ft_test_read_file(path, &len);
    ft_arena *a = ft_arena_create(0);
    ft_span_batch batch;
    ft_err err = {0};
    assert_int_equal(ft_otlp_decode_traces_pb(body, len, a, &batch, &err), FT_OK);
    assert_int_equal(ft_exporter_export_spans(e->ex, &batch, NULL, &err), FT_OK);
    ft_arena_destroy(a);
    free(body);
}

static size_t count_of(env *e, const char *tid, int what)
{
    ft_str *v;
    size_t n;
    ft_err err = {0};
    ft_arena_reset(e->arena);
    ft_code rc = what == 0 ? ft_exporter_activities(e->ex, tid, e->arena, &v, &n, &err)
                           : ft_exporter_spans(e->ex, tid, e->arena, &v, &n, &err);
    assert_int_equal(rc, FT_OK);
    return n;
}

/* The trace ids of a fixture request (each span's). */
static size_t fixture_traces(int i, char ids[64][33])
{
    char path[512];
    snprintf(path, sizeof path, FIXTURES "/%04d-traces.pb", i);
    size_t len, n = 0;
    uint8_t *body = ft_test_read_file(path, &len);
    ft_arena *a = ft_arena_create(0);
    ft_span_batch batch;
    ft_err err = {0};
    assert_int_equal(ft_otlp_decode_traces_pb(body, len, a, &batch, &err), FT_OK);
    for (size_t s = 0; s < batch.n; s++) {
        char tid[33];
        ft_hex_encode(batch.spans[s].trace_id, 16, tid);
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup = dup || strcmp(ids[k], tid) == 0;
        if (!dup && n < 64)
            memcpy(ids[n++], tid, 33);
    }
    ft_arena_destroy(a);
    free(body);
    return n;
}

static void run_evict(const char *url)
{
    ft_clock_set(fake_clock);
    env e;
    env_open(&e, url, 0);
    /* request 1 arrives in minute 1, request 2 in minute 2, the rest later */
    export_fixture_at(&e, 1, 60000);
    export_fixture_at(&e, 2, 120000);
    for (int i = 3; i <= 8; i++)
        export_fixture_at(&e, i, 600000);
    char first[64][33], second[64][33];
    size_t n1 = fixture_traces(1, first), n2 = fixture_traces(2, second);
    assert_true(n1 > 0 && n2 > 0);
    /* only traces that arrive once in request 1 are sure to go first */
    ft_trace_summary *sum;
    size_t n_before, n_after, evicted = 0;
    char *next;
    ft_err err = {0};
    ft_recent_opts ro = {.limit = 1000, .cursor = NULL};
    assert_int_equal(ft_exporter_recent_traces(e.ex, &ro, e.arena, &sum, &n_before, &next, &err), FT_OK);

    assert_int_equal(ft_exporter_evict_oldest(e.ex, n1, &evicted, &err), FT_OK);
    assert_int_equal(evicted, n1);
    for (size_t i = 0; i < n1; i++) {
        assert_int_equal(count_of(&e, first[i], 0), 0);
        assert_int_equal(count_of(&e, first[i], 1), 0);
    }
    /* request 2's traces that were not also in request 1 are intact */
    size_t kept = 0;
    for (size_t i = 0; i < n2; i++) {
        bool also_first = false;
        for (size_t k = 0; k < n1; k++)
            also_first = also_first || strcmp(first[k], second[i]) == 0;
        if (!also_first) {
            assert_true(count_of(&e, second[i], 1) > 0);
            kept++;
        }
    }
    assert_true(kept > 0);
    ft_arena_reset(e.arena);
    assert_int_equal(ft_exporter_recent_traces(e.ex, &ro, e.arena, &sum, &n_after, &next, &err), FT_OK);
    assert_true(n_after <= n_before);
    for (size_t i = 0; i < n_after; i++)
        for (size_t k = 0; k < n1; k++)
            assert_string_not_equal(sum[i].trace_id, first[k]);

    /* evicting everything empties the store of traces; then 0 */
    size_t total = 0;
    do {
        assert_int_equal(ft_exporter_evict_oldest(e.ex, 7, &evicted, &err), FT_OK);
        total += evicted;
    } while (evicted > 0);
    assert_true(total > 0);
    ft_kv_key none = {NULL, 0};
    ft_kv_entry *ent;
    size_t n_ent;
    ft_arena_reset(e.arena);
    assert_int_equal(ft_kv_list(e.kv, none, NULL, e.arena, &ent, &n_ent, &err), FT_OK);
    assert_int_equal(n_ent, 0);
    env_close(&e);
    ft_clock_set(NULL);
}

static void test_evict_memory(void **s) { (void)s; run_evict(store_url("memory", "")); }
static void test_evict_lmdb(void **s) { (void)s; run_evict(store_url("lmdb", "")); }

static void test_evict_needs_list(void **s)
{
    (void)s;
    env e;
    env_open(&e, store_url("memory", "?caps=cas"), 0);
    ft_err err = {0};
    size_t ev = 9;
    assert_int_equal(ft_exporter_evict_oldest(e.ex, 1, &ev, &err), FT_UNSUPPORTED);
    assert_int_equal(ev, 0);
    env_close(&e);
}

/* Writes n Fedify summaries (trace ids from `first`), a second apart. */
static void put_summaries(ft_kv *kv, unsigned first, unsigned n)
{
    ft_err err = {0};
    for (unsigned i = first; i < first + n; i++) {
        char tid[33], text[256];
        snprintf(tid, sizeof tid, "%08x%024x", i * 2654435761u, i);
        snprintf(text, sizeof text,
                 "{\"traceId\":\"%s\",\"timestamp\":\"2026-11-2%uT%02u:%02u:%02u.000Z\","
                 "\"activityCount\":1,\"activityTypes\":[\"Follow\"]}",
                 tid, 1 + i / 86400 % 9, i / 3600 % 24, i / 60 % 60, i % 60);
        ft_kv_key k = {(ft_str[]){FT_STR_LIT("fedify"), FT_STR_LIT("traces"),
                                  FT_STR_LIT("_summaries"), ft_str_c(tid)}, 4};
        assert_int_equal(ft_kv_set(kv, k, ft_str_c(text), 0, &err), FT_OK);
    }
}

/* Adopting goes page by page (a few thousand summaries each), checks a
 * page's index entries at once and remembers nothing but where it is:
 * 5,000 summaries are indexed in one call, none again in the next, and
 * summaries written later are found by the call after. */
static void test_adopt_many(void **st)
{
    (void)st;
    env e;
    env_open(&e, store_url("memory", ""), 0);
    ft_err err = {0};
    put_summaries(e.kv, 0, 5000);
    size_t adopted = 0;
    assert_int_equal(ft_exporter_adopt(e.ex, &adopted, &err), FT_OK);
    assert_int_equal(adopted, 5000);
    assert_int_equal(ft_exporter_adopt(e.ex, &adopted, &err), FT_OK);
    assert_int_equal(adopted, 0);
    put_summaries(e.kv, 5000, 3);
    assert_int_equal(ft_exporter_adopt(e.ex, &adopted, &err), FT_OK);
    assert_int_equal(adopted, 3);
    /* one time-index entry per summary, at its timestamp; the newest is
     * summary 5002, the last written */
    ft_kv_entry *idx;
    size_t n;
    ft_kv_key rp = {(ft_str[]){FT_STR_LIT("fedify"), FT_STR_LIT("traces"), FT_STR_LIT("_recent")},
                    3};
    assert_int_equal(ft_kv_list(e.kv, rp, NULL, e.arena, &idx, &n, &err), FT_OK);
    assert_int_equal(n, 5003);
    char want[33];
    snprintf(want, sizeof want, "%08x%024x", 5002u * 2654435761u, 5002u);
    assert_true(ft_str_eq_c(idx[n - 1].key.parts[4], want));
    env_close(&e);
}

/* A store that Fedify's own exporter filled (records and _summaries, none
 * of fedtrace's indexes) shows its traces after ft_exporter_adopt. */
static void test_adopt_fedify_written(void **st)
{
    (void)st;
    env e;
    env_open(&e, store_url("memory", ""), 0);
    ft_err err = {0};
    const char *tid;
    json_t *recs;
    json_object_foreach(json_object_get(reference, "activities"), tid, recs) {
        size_t i;
        json_t *r;
        json_array_foreach(recs, i, r) {
            const char *sid = json_string_value(json_object_get(r, "spanId"));
            char *text = json_dumps(r, JSON_COMPACT);
            ft_kv_key k = {(ft_str[]){FT_STR_LIT("fedify"), FT_STR_LIT("traces"),
                                      ft_str_c(tid), ft_str_c(sid)}, 4};
            assert_int_equal(ft_kv_set(e.kv, k, ft_str_c(text), 0, &err), FT_OK);
            free(text);
        }
    }
    size_t i;
    json_t *sum;
    json_array_foreach(json_object_get(reference, "traces"), i, sum) {
        char *text = json_dumps(sum, JSON_COMPACT);
        const char *t = json_string_value(json_object_get(sum, "traceId"));
        ft_kv_key k = {(ft_str[]){FT_STR_LIT("fedify"), FT_STR_LIT("traces"),
                                  FT_STR_LIT("_summaries"), ft_str_c(t)}, 4};
        assert_int_equal(ft_kv_set(e.kv, k, ft_str_c(text), 0, &err), FT_OK);
        free(text);
    }
    ft_trace_summary *out;
    size_t n;
    char *next;
    ft_recent_opts ro = {.limit = 1000, .cursor = NULL};
    assert_int_equal(ft_exporter_recent_traces(e.ex, &ro, e.arena, &out, &n, &next, &err), FT_OK);
    assert_int_equal(n, 0); /* no index entries yet */
    size_t adopted = 0;
    assert_int_equal(ft_exporter_adopt(e.ex, &adopted, &err), FT_OK);
    assert_int_equal(adopted, json_array_size(json_object_get(reference, "traces")));
    assert_int_equal(ft_exporter_adopt(e.ex, &adopted, &err), FT_OK);
    assert_int_equal(adopted, 0); /* indexed already */
    ft_arena_reset(e.arena);
    assert_int_equal(ft_exporter_recent_traces(e.ex, &ro, e.arena, &out, &n, &next, &err), FT_OK);
    ft_str json;
    assert_int_equal(ft_trace_summaries_json(out, n, e.arena, &json, &err), FT_OK);
    json_t *all = json_loadb(json.ptr, json.len, 0, NULL);
    json_t *got = ft_test_fedify_summaries(all);
    assert_true(json_equal(got, json_object_get(reference, "traces")));
    /* no spans were stored: fedtrace knows no services of these traces */
    assert_int_equal(json_array_size(json_object_get(json_array_get(all, 0), "services")), 0);
    json_decref(got);
    json_decref(all);
    env_close(&e);
}

/* ---- fedtrace's summary fields and filters ---- */

static bool json_array_has_str(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

/* Every listed trace's directions, actors, verification, services and
 * errors agree with the reference's records and spans. */
static void check_summary_fields(env *e)
{
    ft_trace_summary *s;
    size_t n;
    ft_err err = {0};
    ft_recent_opts o = {.limit = 100};
    assert_int_equal(ft_exporter_recent_traces(e->ex, &o, e->arena, &s, &n, NULL, &err), FT_OK);
    assert_int_equal(n, 11);
    ft_str js;
    assert_int_equal(ft_trace_summaries_json(s, n, e->arena, &js, &err), FT_OK);
    json_t *got = parse(js);
    size_t failed = 0, errors = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *g = json_array_get(got, i);
        const char *tid = json_string_value(json_object_get(g, "traceId"));
        json_t *recs = json_object_get(json_object_get(reference, "activities"), tid);
        bool in = false, out = false, vfail = false;
        size_t k;
        json_t *r;
        json_array_foreach(recs, k, r)
        {
            const char *dir = json_string_value(json_object_get(r, "direction"));
            in |= strcmp(dir, "inbound") == 0;
            out |= strcmp(dir, "outbound") == 0;
            vfail |= strcmp(dir, "inbound") == 0 && json_is_false(json_object_get(r, "verified"));
            const char *actor = json_string_value(json_object_get(r, "actorId"));
            if (actor != NULL && !json_array_has_str(json_object_get(g, "actors"), actor))
                fail_msg("%s: actor %s missing", tid, actor);
        }
        json_t *dirs = json_object_get(g, "directions");
        assert_int_equal(json_array_has_str(dirs, "inbound"), in);
        assert_int_equal(json_array_has_str(dirs, "outbound"), out);
        assert_int_equal(json_is_true(json_object_get(g, "verificationFailed")), vfail);
        assert_true(json_array_has_str(json_object_get(g, "hosts"), "127.0.0.1"));
        /* services and errors: from the reference's spans of this trace */
        json_t *want_svc = json_array();
        bool err_span = false;
        json_array_foreach(json_object_get(reference, "spans"), k, r)
        {
            if (strcmp(json_string_value(json_object_get(r, "traceId")), tid) != 0)
                continue;
            const char *svc = json_string_value(json_object_get(r, "service"));
            if (!json_array_has_str(want_svc, svc))
                json_array_append_new(want_svc, json_string(svc));
            err_span |= strcmp(json_string_value(json_object_get(r, "status")), "ERROR") == 0;
        }
        if (!ft_test_json_same_elements(json_object_get(g, "services"), want_svc)) {
            char *a = json_dumps(json_object_get(g, "services"), 0), *b = json_dumps(want_svc, 0);
            fail_msg("%s: services %s, want %s", tid, a, b);
        }
        assert_int_equal(json_is_true(json_object_get(g, "hasError")), err_span);
        failed += vfail;
        errors += err_span;
        json_decref(want_svc);
    }
    /* the fixtures hold both kinds, or the checks above prove little */
    assert_true(failed > 0 && failed < n);
    assert_true(errors > 0);
    json_decref(got);
}

/* The trace ids a filter lists, paging `page` at a time, in order. */
static json_t *filtered_ids(env *e, const char *const *kv, size_t page, size_t max_scan)
{
    ft_trace_filter f = {0};
    ft_err err = {0};
    for (size_t i = 0; kv[i] != NULL; i += 2)
        if (ft_trace_filter_set(&f, kv[i], kv[i + 1], &err) != FT_OK)
            fail_msg("filter %s=%s: %s", kv[i], kv[i + 1], err.msg);
    json_t *ids = json_array();
    char *cursor = NULL;
    for (int rounds = 0; rounds < 100; rounds++) {
        ft_recent_opts o = {.limit = page, .cursor = cursor, .filter = &f, .max_scan = max_scan};
        ft_trace_summary *s;
        size_t n;
        char *next;
        assert_int_equal(ft_exporter_recent_traces(e->ex, &o, e->arena, &s, &n, &next, &err),
                         FT_OK);
        assert_true(n <= page);
        for (size_t i = 0; i < n; i++) {
            assert_true(ft_trace_filter_match(&f, &s[i]));
            json_array_append_new(ids, json_string(s[i].trace_id));
        }
        if (next == NULL)
            return ids;
        cursor = next;
    }
    fail_msg("paging did not end");
    return NULL;
}

/* The reference trace ids whose records satisfy pred, newest first. */
static json_t *reference_ids(bool (*pred)(json_t *recs))
{
    json_t *ids = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(reference, "traces"), i, t)
    {
        const char *tid = json_string_value(json_object_get(t, "traceId"));
        if (pred(json_object_get(json_object_get(reference, "activities"), tid)))
            json_array_append_new(ids, json_string(tid));
    }
    return ids;
}

static bool has_follow(json_t *recs)
{
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        const char *t = json_string_value(json_object_get(r, "activityType"));
        if (t != NULL && (strcmp(t, "Follow") == 0 || strstr(t, "#Follow") != NULL))
            return true;
    }
    return false;
}

static bool failed_verification(json_t *recs)
{
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "direction")), "inbound") == 0 &&
            json_is_false(json_object_get(r, "verified")))
            return true;
    }
    return false;
}

static bool outbound(json_t *recs)
{
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        if (strcmp(json_string_value(json_object_get(r, "direction")), "outbound") == 0)
            return true;
    }
    return false;
}

static bool any(json_t *recs)
{
    return json_array_size(recs) > 0;
}

/* Whether a span of the records' trace comes from service fedify-a. */
static bool from_fedify_a(json_t *recs)
{
    const char *tid = json_string_value(json_object_get(json_array_get(recs, 0), "traceId"));
    size_t i;
    json_t *sp;
    json_array_foreach(json_object_get(reference, "spans"), i, sp)
    {
        if (strcmp(json_string_value(json_object_get(sp, "traceId")), tid) == 0 &&
            strcmp(json_string_value(json_object_get(sp, "service")), "fedify-a") == 0)
            return true;
    }
    return false;
}

static void expect_ids(env *e, const char *const *kv, bool (*pred)(json_t *recs))
{
    json_t *want = reference_ids(pred);
    for (size_t page = 1; page <= 4; page += 3) {
        json_t *got = filtered_ids(e, kv, page, 0);
        if (!json_equal(got, want)) {
            char *a = json_dumps(got, 0), *b = json_dumps(want, 0);
            fail_msg("filter %s=%s, pages of %zu: got %s, want %s", kv[0], kv[1], page, a, b);
        }
        json_decref(got);
    }
    json_decref(want);
}

static void check_filters(env *e)
{
    expect_ids(e, (const char *const[]){"type", "Follow", NULL}, has_follow);
    expect_ids(e, (const char *const[]){"type", "https://www.w3.org/ns/activitystreams#Follow", NULL},
               has_follow);
    expect_ids(e, (const char *const[]){"verification", "failed", NULL}, failed_verification);
    expect_ids(e, (const char *const[]){"direction", "outbound", NULL}, outbound);
    expect_ids(e, (const char *const[]){"host", "127.0.0.1", NULL}, any);
    expect_ids(e, (const char *const[]){"service", "fedify-a", "since", "1", NULL}, from_fedify_a);
    /* nothing matches: an empty list, no cursor */
    json_t *none = filtered_ids(e, (const char *const[]){"service", "no-such", NULL}, 5, 0);
    assert_int_equal(json_array_size(none), 0);
    json_decref(none);
    /* a scan budget of one trace per call still reaches every match */
    json_t *want = reference_ids(failed_verification);
    json_t *got = filtered_ids(e, (const char *const[]){"verification", "failed", NULL}, 10, 1);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    /* a time range: [the second newest trace's first activity, newest's) */
    json_t *traces = json_object_get(reference, "traces");
    const char *t0 = json_string_value(json_object_get(json_array_get(traces, 0), "timestamp"));
    const char *t1 = json_string_value(json_object_get(json_array_get(traces, 1), "timestamp"));
    got = filtered_ids(e, (const char *const[]){"since", t1, "until", t0, NULL}, 10, 0);
    assert_int_equal(json_array_size(got), strcmp(t0, t1) != 0 ? 1 : 0);
    if (strcmp(t0, t1) != 0)
        assert_string_equal(json_string_value(json_array_get(got, 0)),
                            json_string_value(json_object_get(json_array_get(traces, 1), "traceId")));
    json_decref(got);
}

static void check_otlp_json(env *e)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(reference, "traces"), i, t)
    {
        const char *tid = json_string_value(json_object_get(t, "traceId"));
        ft_str js;
        size_t n;
        ft_err err = {0};
        assert_int_equal(ft_exporter_trace_otlp_json(e->ex, tid, e->arena, &js, &n, &err), FT_OK);
        json_t *doc = parse(js);
        /* every span once, under a resource with its service.name */
        size_t spans = 0, k;
        json_t *rs;
        json_array_foreach(json_object_get(doc, "resourceSpans"), k, rs)
        {
            assert_non_null(json_object_get(json_object_get(rs, "resource"), "attributes"));
            size_t m;
            json_t *ss;
            json_array_foreach(json_object_get(rs, "scopeSpans"), m, ss)
            {
                assert_non_null(json_object_get(json_object_get(ss, "scope"), "name"));
                json_t *sp;
                size_t q;
                json_array_foreach(json_object_get(ss, "spans"), q, sp)
                {
                    assert_null(json_object_get(sp, "resource"));
                    assert_string_equal(json_string_value(json_object_get(sp, "traceId")), tid);
                    spans++;
                }
            }
        }
        assert_int_equal(spans, n);
        ft_str *stored;
        size_t ns;
        assert_int_equal(ft_exporter_spans(e->ex, tid, e->arena, &stored, &ns, &err), FT_OK);
        assert_int_equal(ns, n);
        assert_true(n > 0);
        json_decref(doc);
    }
}

static void summaries_and_filters(const char *caps)
{
    env e;
    env_open(&e, store_url("lmdb", caps), 0);
    export_fixtures(&e);
    check_summary_fields(&e);
    check_filters(&e);
    check_otlp_json(&e);
    env_close(&e);
}

static void test_filters_list(void **state)
{
    (void)state;
    summaries_and_filters("");
}

static void test_filters_cas(void **state)
{
    (void)state;
    summaries_and_filters("?caps=cas");
}

/* Filter parameters: what parses, what is refused, and what matches. */
static void test_filter_parse(void **state)
{
    (void)state;
    ft_trace_filter f = {0};
    ft_err err = {0};
    assert_int_equal(ft_trace_filter_set(&f, "since", "2026-11-26T12:00:00Z", &err), FT_OK);
    assert_int_equal(f.since_ms, 1795694400000LL);
    assert_int_equal(ft_trace_filter_set(&f, "since", "2026-11-26T13:30:00.250+01:30", &err), FT_OK);
    assert_int_equal(f.since_ms, 1795694400250LL);
    assert_int_equal(ft_trace_filter_set(&f, "until", "1795694400000", &err), FT_OK);
    assert_int_equal(f.until_ms, 1795694400000LL);
    fake_now = 10 * 3600 * 1000;
    ft_clock_set(fake_clock);
    assert_int_equal(ft_trace_filter_set(&f, "since", "2h", &err), FT_OK);
    ft_clock_set(NULL);
    assert_int_equal(f.since_ms, 8 * 3600 * 1000);
    assert_int_equal(ft_trace_filter_set(&f, "since", "2026-11-26T12:00:00", &err), FT_INVAL);
    assert_non_null(strstr(err.msg, "since"));
    assert_int_equal(ft_trace_filter_set(&f, "until", "yesterday", &err), FT_INVAL);
    assert_int_equal(ft_trace_filter_set(&f, "direction", "sideways", &err), FT_INVAL);
    assert_int_equal(ft_trace_filter_set(&f, "verification", "ok", &err), FT_INVAL);
    assert_int_equal(ft_trace_filter_set(&f, "error", "maybe", &err), FT_INVAL);
    assert_int_equal(ft_trace_filter_set(&f, "colour", "red", &err), FT_NOTFOUND);
    for (size_t i = 0; ft_trace_filter_names[i] != NULL; i++)
        assert_int_not_equal(ft_trace_filter_set(&f, ft_trace_filter_names[i], "", &err),
                             FT_NOTFOUND);
    /* empty values mean "any" */
    ft_trace_filter empty = {0};
    assert_memory_equal(&f, &empty, sizeof f);

    ft_str types[] = {FT_STR_LIT("\"https://www.w3.org/ns/activitystreams#Undo\""),
                      FT_STR_LIT("\"Like\"")};
    ft_str actors[] = {FT_STR_LIT("https://Social.Example/users/Alice")};
    ft_str hosts[] = {FT_STR_LIT("social.example")};
    ft_str svcs[] = {FT_STR_LIT("mastodon/web")};
    ft_trace_summary s = {.first_ms = 1000, .directions = FT_DIR_INBOUND,
                          .activity_types = types, .n_activity_types = 2,
                          .actors = actors, .n_actors = 1, .hosts = hosts, .n_hosts = 1,
                          .services = svcs, .n_services = 1};
    assert_true(ft_trace_filter_match(NULL, &s));
    const char *const yes[][2] = {{"type", "undo"}, {"type", "Like"}, {"actor", "alice"},
                                  {"host", "SOCIAL.example"}, {"service", "mastodon/web"},
                                  {"direction", "inbound"}, {"since", "1000"}, {"until", "1001"}};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        ft_trace_filter g = {0};
        assert_int_equal(ft_trace_filter_set(&g, yes[i][0], yes[i][1], &err), FT_OK);
        if (!ft_trace_filter_match(&g, &s))
            fail_msg("%s=%s should match", yes[i][0], yes[i][1]);
    }
    const char *const no[][2] = {{"type", "Follow"}, {"type", "ndo"}, {"actor", "bob"},
                                 {"host", "example"}, {"service", "mastodon"},
                                 {"direction", "outbound"}, {"since", "1001"}, {"until", "1000"},
                                 {"error", "true"}, {"verification", "failed"}};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        ft_trace_filter g = {0};
        assert_int_equal(ft_trace_filter_set(&g, no[i][0], no[i][1], &err), FT_OK);
        if (ft_trace_filter_match(&g, &s))
            fail_msg("%s=%s should not match", no[i][0], no[i][1]);
    }
}

int main(void)
{
    json_error_t je;
    reference = json_load_file(FIXTURES "/reference.json", 0, &je);
    if (reference == NULL) {
        fprintf(stderr, "reference.json: %s\n", je.text);
        return 1;
    }
    tmp_root = ft_test_tmpdir("exporter");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_memory_list),
        cmocka_unit_test(test_reference_memory_cas),
        cmocka_unit_test(test_reference_memory_list_only),
        cmocka_unit_test(test_reference_lmdb_list),
        cmocka_unit_test(test_reference_lmdb_cas),
        cmocka_unit_test(test_reference_lmdb_list_only),
        cmocka_unit_test(test_create_needs_capabilities),
        cmocka_unit_test(test_two_events_one_span_list),
        cmocka_unit_test(test_recent_one_entry_per_batch),
        cmocka_unit_test(test_two_events_one_span_cas),
        cmocka_unit_test(test_grouped_spans_list),
        cmocka_unit_test(test_grouped_spans_cas),
        cmocka_unit_test(test_stored_summary_fallback),
        cmocka_unit_test(test_ttl_lmdb_list),
        cmocka_unit_test(test_ttl_lmdb_cas),
        cmocka_unit_test(test_ttl_memory),
        cmocka_unit_test(test_logs_list),
        cmocka_unit_test(test_logs_cas),
        cmocka_unit_test(test_concurrent_list),
        cmocka_unit_test(test_concurrent_cas),
        cmocka_unit_test(test_evict_memory),
        cmocka_unit_test(test_evict_lmdb),
        cmocka_unit_test(test_evict_needs_list),
        cmocka_unit_test(test_adopt_fedify_written), cmocka_unit_test(test_adopt_many),
        cmocka_unit_test(test_filters_list),
        cmocka_unit_test(test_filters_cas),
        cmocka_unit_test(test_filter_parse),
    };
    int failed = cmocka_run_group_tests_name("exporter", tests, NULL, NULL);
    ft_test_rmrf(tmp_root);
    free(tmp_root);
    json_decref(reference);
    return failed ? 1 : 0;
}
