/* test_receiver.c - the OTLP/HTTP request outcome: content types, the
 * Fedify fixtures stored through an exporter, partial success, decode
 * errors (400), the arena cap (413), a failing store (503) and the error
 * responses themselves, in protobuf and in JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedtrace/exporter.h"
#include "fedtrace/otlp.h"
#include "ft_test_util.h"
#include "ft_tmp.h"
#include "http/receiver.h"

#define FIXTURES FT_TEST_DATA "/fedify-2.3.6"
#define N_FIXTURES 8

static const uint8_t TID[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
static const uint8_t SID[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
#define TID_HEX "5b8efff798038103d269b633813fc60c"
#define SID_HEX "eee19b7ec3c1b174"

static char *tmp_root;
static json_t *reference;

/* ---- a store and an exporter -------------------------------------------- */

typedef struct env {
    ft_kv *kv;
    ft_exporter *ex;
} env;

static void env_open(env *e, const char *url)
{
    ft_err err = {0};
    if (ft_kv_open(url, &e->kv, &err) != FT_OK)
        fail_msg("open %s: %s", url, err.msg);
    if (ft_exporter_create(e->kv, NULL, &e->ex, &err) != FT_OK)
        fail_msg("exporter on %s: %s", url, err.msg);
}

static void env_close(env *e)
{
    ft_exporter_destroy(e->ex);
    ft_kv_close(e->kv);
}

/* One request through ft_otlp_handle with a fresh arena (cap 0: none). */
static void handle(env *e, ft_signal sig, ft_content_type ct, const void *body,
                   size_t len, size_t cap, ft_otlp_result *res)
{
    ft_arena *a = ft_arena_create(cap);
    assert_non_null(a);
    ft_otlp_handle(e->ex, sig, ct, body, len, a, res);
    ft_arena_destroy(a);
    assert_true(ft_buf_ok(&res->body));
}

/* ---- reading responses -------------------------------------------------- */

typedef struct pbr {
    const uint8_t *p, *end;
} pbr;

static bool pbr_varint(pbr *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return false;
        uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* The next field: its number and wire type, and its varint value (wire
 * type 0) or its bytes (wire type 2); other wire types fail the test. */
static bool pbr_next(pbr *r, uint32_t *field, unsigned *wt, uint64_t *v, ft_str *s)
{
    if (r->p >= r->end)
        return false;
    uint64_t key;
    assert_true(pbr_varint(r, &key));
    *field = (uint32_t)(key >> 3);
    *wt = (unsigned)(key & 7);
    if (*wt == 0) {
        assert_true(pbr_varint(r, v));
    } else if (*wt == 2) {
        uint64_t n;
        assert_true(pbr_varint(r, &n));
        assert_true(n <= (uint64_t)(r->end - r->p));
        s->ptr = (const char *)r->p;
        s->len = (size_t)n;
        r->p += n;
    } else {
        fail_msg("unexpected wire type %u", *wt);
    }
    return true;
}

/* A google.rpc.Status: code and message, nothing else. */
static void pb_status(const ft_buf *body, int64_t *code, char *msg, size_t cap)
{
    pbr r = {(const uint8_t *)body->ptr, (const uint8_t *)body->ptr + body->len};
    uint32_t f;
    unsigned wt;
    uint64_t v = 0;
    ft_str s = {NULL, 0};
    bool seen_code = false, seen_msg = false;
    *code = -1;
    msg[0] = '\0';
    while (pbr_next(&r, &f, &wt, &v, &s)) {
        if (f == 1 && wt == 0) {
            *code = (int64_t)v;
            seen_code = true;
        } else if (f == 2 && wt == 2) {
            assert_true(s.len < cap);
            memcpy(msg, s.ptr, s.len);
            msg[s.len] = '\0';
            seen_msg = true;
        } else {
            fail_msg("google.rpc.Status with field %u/%u", f, wt);
        }
    }
    assert_true(seen_code);
    assert_true(seen_msg);
}

/* An Export*ServiceResponse: partial_success { rejected, error_message }. */
static void pb_partial(const ft_buf *body, uint64_t *rejected, char *msg, size_t cap)
{
    pbr r = {(const uint8_t *)body->ptr, (const uint8_t *)body->ptr + body->len};
    uint32_t f;
    unsigned wt;
    uint64_t v = 0;
    ft_str s = {NULL, 0};
    assert_true(pbr_next(&r, &f, &wt, &v, &s));
    assert_int_equal(f, 1);
    assert_int_equal(wt, 2);
    assert_false(pbr_next(&r, &f, &wt, &v, &s)); /* nothing after it */
    pbr in = {(const uint8_t *)s.ptr, (const uint8_t *)s.ptr + s.len};
    *rejected = 0;
    msg[0] = '\0';
    while (pbr_next(&in, &f, &wt, &v, &s)) {
        if (f == 1 && wt == 0) {
            *rejected = v;
        } else if (f == 2 && wt == 2) {
            assert_true(s.len < cap);
            memcpy(msg, s.ptr, s.len);
            msg[s.len] = '\0';
        } else {
            fail_msg("partial_success with field %u/%u", f, wt);
        }
    }
}

static json_t *json_body(const ft_buf *body)
{
    json_error_t je;
    json_t *j = json_loadb(body->ptr ? body->ptr : "", body->len, 0, &je);
    if (j == NULL)
        fail_msg("response is not JSON (%s): %.*s", je.text, (int)body->len,
                 body->ptr ? body->ptr : "");
    return j;
}

/* A JSON google.rpc.Status: {"code":N,"message":"..."} and nothing else. */
static void json_status(const ft_buf *body, int64_t *code, char *msg, size_t cap)
{
    json_t *j = json_body(body);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 2);
    json_t *c = json_object_get(j, "code");
    json_t *m = json_object_get(j, "message");
    assert_true(json_is_integer(c));
    assert_true(json_is_string(m));
    *code = json_integer_value(c);
    snprintf(msg, cap, "%s", json_string_value(m));
    json_decref(j);
}

static void status_of(const ft_otlp_result *res, int64_t *code, char *msg, size_t cap)
{
    if (res->ct == FT_CT_PROTOBUF)
        pb_status(&res->body, code, msg, cap);
    else
        json_status(&res->body, code, msg, cap);
}

static uint8_t *read_fixture(int i, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, FIXTURES "/%04d-traces.pb", i);
    uint8_t *data = ft_test_read_file(path, len);
    if (data == NULL)
        fail_msg("cannot read %s", path);
    return data;
}

/* ---- requests built by hand --------------------------------------------- */

/* Two spans under one resource and scope: one good, one whose trace id
 * has 15 bytes. */
static void traces_pb(ft_pbw *w)
{
    ft_pbw_reset(w);
    ft_pbw_begin(w, 1); /* ResourceSpans */
    ft_pbw_begin(w, 1); /* Resource */
    ft_pbw_begin(w, 1); /* KeyValue */
    ft_pbw_str(w, 1, "service.name");
    ft_pbw_begin(w, 2);
    ft_pbw_str(w, 1, "svc");
    ft_pbw_end(w);
    ft_pbw_end(w);
    ft_pbw_end(w);
    ft_pbw_begin(w, 2); /* ScopeSpans */
    ft_pbw_begin(w, 1);
    ft_pbw_str(w, 1, "scope");
    ft_pbw_end(w);
    ft_pbw_begin(w, 2); /* the good span */
    ft_pbw_bytes(w, 1, TID, 16);
    ft_pbw_bytes(w, 2, SID, 8);
    ft_pbw_str(w, 5, "good");
    ft_pbw_fixed64(w, 7, 1700000000000000000ull);
    ft_pbw_fixed64(w, 8, 1700000000001000000ull);
    ft_pbw_end(w);
    ft_pbw_begin(w, 2); /* a 15-byte trace id */
    ft_pbw_bytes(w, 1, TID, 15);
    ft_pbw_bytes(w, 2, SID, 8);
    ft_pbw_str(w, 5, "bad");
    ft_pbw_end(w);
    ft_pbw_end(w);
    ft_pbw_end(w);
    assert_int_equal(w->depth, 0);
}

static const char TRACES_JSON[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
    "\"value\":{\"stringValue\":\"svc\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":"
    "\"scope\"},\"spans\":["
    "{\"traceId\":\"" TID_HEX "\",\"spanId\":\"" SID_HEX "\",\"name\":\"good\","
    "\"startTimeUnixNano\":\"1700000000000000000\","
    "\"endTimeUnixNano\":\"1700000000001000000\"},"
    "{\"traceId\":\"5b8efff798038103d269b633813fc6\",\"spanId\":\"" SID_HEX "\","
    "\"name\":\"bad\"}]}]}]}";

/* Two log records: one with a trace context, one whose trace id has 15
 * bytes. */
static void logs_pb(ft_pbw *w)
{
    ft_pbw_reset(w);
    ft_pbw_begin(w, 1); /* ResourceLogs */
    ft_pbw_begin(w, 1);
    ft_pbw_end(w);
    ft_pbw_begin(w, 2); /* ScopeLogs */
    ft_pbw_begin(w, 1);
    ft_pbw_str(w, 1, "scope");
    ft_pbw_end(w);
    ft_pbw_begin(w, 2);
    ft_pbw_fixed64(w, 1, 1700000000000000000ull);
    ft_pbw_begin(w, 5);
    ft_pbw_str(w, 1, "hello");
    ft_pbw_end(w);
    ft_pbw_bytes(w, 9, TID, 16);
    ft_pbw_bytes(w, 10, SID, 8);
    ft_pbw_end(w);
    ft_pbw_begin(w, 2);
    ft_pbw_bytes(w, 9, TID, 15);
    ft_pbw_end(w);
    ft_pbw_end(w);
    ft_pbw_end(w);
    assert_int_equal(w->depth, 0);
}

static const char LOGS_JSON[] =
    "{\"resourceLogs\":[{\"resource\":{},\"scopeLogs\":[{\"scope\":{\"name\":"
    "\"scope\"},\"logRecords\":["
    "{\"timeUnixNano\":\"1700000000000000000\",\"body\":{\"stringValue\":\"hello\"},"
    "\"traceId\":\"" TID_HEX "\",\"spanId\":\"" SID_HEX "\"},"
    "{\"traceId\":\"5b8efff798038103d269b633813fc6\"}]}]}]}";

/* ---- content types ------------------------------------------------------ */

static void test_content_type_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        ft_content_type ct;
    } good[] = {
        {"application/x-protobuf", FT_CT_PROTOBUF},
        {"application/protobuf", FT_CT_PROTOBUF},
        {"Application/X-Protobuf", FT_CT_PROTOBUF},
        {"application/x-protobuf; proto=opentelemetry", FT_CT_PROTOBUF},
        {"application/json", FT_CT_JSON},
        {"APPLICATION/JSON", FT_CT_JSON},
        {"application/json; charset=utf-8", FT_CT_JSON},
        {"application/json;charset=UTF-8", FT_CT_JSON},
        {"application/json\t;charset=utf-8", FT_CT_JSON},
        {"  application/json", FT_CT_JSON},
        {"application/json ", FT_CT_JSON},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ft_content_type ct = (ft_content_type)99;
        if (!ft_content_type_parse(good[i].in, &ct))
            fail_msg("\"%s\" refused", good[i].in);
        assert_int_equal(ct, good[i].ct);
    }
    static const char *const bad[] = {
        "", " ", ";", "text/plain", "application/jsonx", "application/json-seq",
        "application/x-protobuf2", "application/x-protobu", "json", "protobuf",
        "application/", "application/grpc", "application/grpc+proto",
        "multipart/form-data", "text/json", "application/x-www-form-urlencoded",
        "application/xml",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ft_content_type ct = (ft_content_type)99;
        if (ft_content_type_parse(bad[i], &ct))
            fail_msg("\"%s\" accepted as %d", bad[i], (int)ct);
        assert_int_equal(ct, 99);
    }
    ft_content_type ct = (ft_content_type)99;
    assert_false(ft_content_type_parse(NULL, &ct));
    assert_int_equal(ct, 99);
}

/* ---- the fixtures ------------------------------------------------------- */

/* Activity events in the reference for the spans of one fixture. */
static size_t reference_activities(const uint8_t *body, size_t len)
{
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    assert_int_equal(ft_otlp_decode_traces_pb(body, len, a, &b, NULL), FT_OK);
    json_t *spans = json_object_get(reference, "spans");
    size_t n = 0;
    for (size_t i = 0; i < b.n; i++) {
        char sid[17];
        ft_hex_encode(b.spans[i].span_id, 8, sid);
        size_t k;
        json_t *rs;
        json_array_foreach(spans, k, rs) {
            if (strcmp(json_string_value(json_object_get(rs, "spanId")), sid) != 0)
                continue;
            size_t m;
            json_t *ev;
            json_array_foreach(json_object_get(rs, "events"), m, ev) {
                const char *name = json_string_value(ev);
                n += strcmp(name, "activitypub.activity.received") == 0 ||
                     strcmp(name, "activitypub.activity.sent") == 0;
            }
        }
    }
    ft_arena_destroy(a);
    return n;
}

static void test_fixtures(void **state)
{
    (void)state;
    env e;
    env_open(&e, "memory:");
    ft_otlp_result res;
    memset(&res, 0, sizeof res);
    size_t spans = 0, activities = 0;
    for (int i = 1; i <= N_FIXTURES; i++) {
        size_t len;
        uint8_t *body = read_fixture(i, &len);
        size_t want = reference_activities(body, len);
        handle(&e, FT_SIGNAL_TRACES, FT_CT_PROTOBUF, body, len, 64u << 20, &res);
        if (res.status != 200)
            fail_msg("fixture %d: %d: %s", i, res.status, res.err.msg);
        assert_int_equal(res.code, FT_OK);
        assert_int_equal(res.ct, FT_CT_PROTOBUF);
        assert_int_equal(res.body.len, 0); /* the empty response message */
        assert_int_equal(res.retry_after, 0);
        assert_int_equal(res.rejected, 0);
        assert_true(res.received > 0);
        assert_int_equal(res.stored.spans, res.received);
        if (res.stored.activities != want)
            fail_msg("fixture %d: %zu activities stored, the reference has %zu", i,
                     res.stored.activities, want);
        spans += res.received;
        activities += res.stored.activities;
        free(body);
    }
    assert_int_equal(spans, 250);
    assert_int_equal(activities, 12);

    /* what was stored is what Fedify shows: the reference's traces */
    ft_arena *a = ft_arena_create(0);
    ft_trace_summary *sum;
    size_t n;
    char *next;
    ft_recent_opts o = {.limit = 100, .cursor = NULL};
    assert_int_equal(ft_exporter_recent_traces(e.ex, &o, a, &sum, &n, &next, NULL), FT_OK);
    assert_int_equal(n, json_array_size(json_object_get(reference, "traces")));
    ft_arena_destroy(a);

    /* the same request again is harmless and answered the same */
    size_t len;
    uint8_t *body = read_fixture(3, &len);
    handle(&e, FT_SIGNAL_TRACES, FT_CT_PROTOBUF, body, len, 0, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body.len, 0);
    free(body);

    /* an empty request: 200, nothing stored; "{}" in JSON */
    handle(&e, FT_SIGNAL_TRACES, FT_CT_PROTOBUF, NULL, 0, 0, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body.len, 0);
    assert_int_equal(res.received, 0);
    handle(&e, FT_SIGNAL_LOGS, FT_CT_PROTOBUF, NULL, 0, 0, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body.len, 0);
    handle(&e, FT_SIGNAL_TRACES, FT_CT_JSON, "{}", 2, 0, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.ct, FT_CT_JSON);
    assert_int_equal(res.body.len, 2);
    assert_memory_equal(res.body.ptr, "{}", 2);
    handle(&e, FT_SIGNAL_LOGS, FT_CT_JSON, "{\"resourceLogs\":[]}", 19, 0, &res);
    assert_int_equal(res.status, 200);
    assert_memory_equal(res.body.ptr, "{}", 2);
    assert_int_equal(res.body.len, 2);

    ft_buf_free(&res.body);
    env_close(&e);
}

/* ---- partial success ---------------------------------------------------- */

static void expect_partial(const ft_otlp_result *res, ft_content_type ct,
                           const char *field, const char *msg)
{
    assert_int_equal(res->status, 200);
    assert_int_equal(res->code, FT_OK);
    assert_int_equal(res->ct, ct);
    assert_int_equal(res->retry_after, 0);
    assert_int_equal(res->received, 2);
    assert_int_equal(res->rejected, 1);
    if (ct == FT_CT_PROTOBUF) {
        /* byte for byte: 1 { 1: 1, 2: msg } */
        ft_pbw w;
        ft_pbw_init(&w);
        ft_pbw_begin(&w, 1);
        ft_pbw_varint(&w, 1, 1);
        ft_pbw_str(&w, 2, msg);
        ft_pbw_end(&w);
        assert_int_equal(res->body.len, w.len);
        assert_memory_equal(res->body.ptr, w.buf, w.len);
        ft_pbw_free(&w);
        /* and read back as a client would */
        uint64_t rejected;
        char got[600];
        pb_partial(&res->body, &rejected, got, sizeof got);
        assert_int_equal(rejected, 1);
        assert_string_equal(got, msg);
    } else {
        char want[800];
        snprintf(want, sizeof want,
                 "{\"partialSuccess\":{\"%s\":\"1\",\"errorMessage\":\"%s\"}}", field, msg);
        assert_int_equal(res->body.len, strlen(want));
        assert_memory_equal(res->body.ptr, want, strlen(want));
        json_t *j = json_body(&res->body);
        json_t *ps = json_object_get(j, "partialSuccess");
        assert_string_equal(json_string_value(json_object_get(ps, field)), "1");
        assert_string_equal(json_string_value(json_object_get(ps, "errorMessage")), msg);
        json_decref(j);
    }
}

static void test_partial_success(void **state)
{
    (void)state;
    env e;
    env_open(&e, "memory:");
    ft_otlp_result res;
    memset(&res, 0, sizeof res);
    static const char span_msg[] = "1 of 2 spans rejected: span trace_id is not 16 bytes";
    static const char log_msg[] =
        "1 of 2 log records rejected: log record trace_id is neither empty nor 16 bytes";

    ft_pbw w;
    ft_pbw_init(&w);
    traces_pb(&w);
    handle(&e, FT_SIGNAL_TRACES, FT_CT_PROTOBUF, w.buf, w.len, 0, &res);
    expect_partial(&res, FT_CT_PROTOBUF, NULL, span_msg);
    assert_int_equal(res.stored.spans, 1);

    handle(&e, FT_SIGNAL_TRACES, FT_CT_JSON, TRACES_JSON, sizeof TRACES_JSON - 1, 0, &res);
    if (res.status != 200)
        fail_msg("%d: %.*s", res.status, (int)res.body.len, res.body.ptr);
    expect_partial(&res, FT_CT_JSON, "rejectedSpans", span_msg);
    assert_int_equal(res.stored.spans, 1);

    logs_pb(&w);
    handle(&e, FT_SIGNAL_LOGS, FT_CT_PROTOBUF, w.buf, w.len, 0, &res);
    expect_partial(&res, FT_CT_PROTOBUF, NULL, log_msg);
    assert_int_equal(res.stored.logs, 1);

    handle(&e, FT_SIGNAL_LOGS, FT_CT_JSON, LOGS_JSON, sizeof LOGS_JSON - 1, 0, &res);
    if (res.status != 200)
        fail_msg("%d: %.*s", res.status, (int)res.body.len, res.body.ptr);
    expect_partial(&res, FT_CT_JSON, "rejectedLogRecords", log_msg);
    assert_int_equal(res.stored.logs, 1);

    /* the stored span and log can be read back */
    ft_arena *a = ft_arena_create(0);
    ft_str *out;
    size_t n;
    assert_int_equal(ft_exporter_spans(e.ex, TID_HEX, a, &out, &n, NULL), FT_OK);
    assert_int_equal(n, 1);
    assert_non_null(strstr(out[0].ptr, "\"good\""));
    assert_int_equal(ft_exporter_logs(e.ex, TID_HEX, a, &out, &n, NULL), FT_OK);
    assert_int_equal(n, 1);
    ft_arena_destroy(a);

    /* everything rejected: still 200 with partial success */
    ft_pbw_reset(&w);
    ft_pbw_begin(&w, 1);
    ft_pbw_begin(&w, 2);
    for (int i = 0; i < 3; i++) {
        ft_pbw_begin(&w, 2);
        ft_pbw_bytes(&w, 1, TID, 16);
        ft_pbw_bytes(&w, 2, SID, 7);
        ft_pbw_end(&w);
    }
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    handle(&e, FT_SIGNAL_TRACES, FT_CT_PROTOBUF, w.buf, w.len, 0, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.received, 3);
    assert_int_equal(res.rejected, 3);
    assert_int_equal(res.stored.spans, 0);
    uint64_t rejected;
    char got[600];
    pb_partial(&res.body, &rejected, got, sizeof got);
    assert_int_equal(rejected, 3);
    assert_string_equal(got, "3 of 3 spans rejected: span span_id is not 8 bytes");

    ft_pbw_free(&w);
    ft_buf_free(&res.body);
    env_close(&e);
}

/* ---- 400 ---------------------------------------------------------------- */

static void expect_error(const ft_otlp_result *res, ft_content_type ct, int status,
                         int64_t rpc_code, const char *part)
{
    if (res->status != status)
        fail_msg("status %d, expected %d: %s", res->status, status, res->err.msg);
    assert_int_equal(res->ct, ct);
    int64_t code;
    char msg[1024];
    status_of(res, &code, msg, sizeof msg);
    assert_int_equal(code, rpc_code);
    assert_true(msg[0] != '\0');
    if (part != NULL && strstr(msg, part) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", msg, part);
    assert_int_equal(res->retry_after, (status == 429 || status == 503) ? FT_RETRY_AFTER_S : 0);
}

static void test_bad_requests(void **state)
{
    (void)state;
    env e;
    env_open(&e, "memory:");
    ft_otlp_result res;
    memset(&res, 0, sizeof res);
    size_t len;
    uint8_t *body = read_fixture(1, &len);

    /* truncated protobuf, at several places */
    size_t cuts[] = {len - 1, len / 2, 3, 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        handle(&e, FT_SIGNAL_TRACES, FT_CT_PROTOBUF, body, cuts[i], 0, &res);
        expect_error(&res, FT_CT_PROTOBUF, 400, 3, "cannot decode the protobuf request");
        assert_int_equal(res.code, FT_DECODE);
        assert_int_equal(res.stored.spans, 0);
        assert_int_equal(res.stored.activities, 0);
    }
    handle(&e, FT_SIGNAL_LOGS, FT_CT_PROTOBUF, body, len / 2, 0, &res);
    expect_error(&res, FT_CT_PROTOBUF, 400, 3, "cannot decode the protobuf request");

    /* a protobuf body sent as JSON */
    handle(&e, FT_SIGNAL_TRACES, FT_CT_JSON, body, len, 0, &res);
    expect_error(&res, FT_CT_JSON, 400, 3, "cannot decode the JSON request");
    free(body);

    /* malformed JSON */
    static const char *const bad_json[] = {
        "", "{", "{\"resourceSpans\":[", "[]", "null", "{\"resourceSpans\":{}}",
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"kind\":true}]}]}]}",
        "{\"resourceSpans\":[]} trailing",
    };
    for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
        handle(&e, FT_SIGNAL_TRACES, FT_CT_JSON, bad_json[i], strlen(bad_json[i]), 0, &res);
        if (res.status != 400)
            fail_msg("\"%s\": status %d", bad_json[i], res.status);
        expect_error(&res, FT_CT_JSON, 400, 3, "cannot decode the JSON request");
        assert_int_equal(res.code, FT_DECODE);
    }
    handle(&e, FT_SIGNAL_LOGS, FT_CT_JSON, "{\"resourceLogs\":", 16, 0, &res);
    expect_error(&res, FT_CT_JSON, 400, 3, "cannot decode the JSON request");

    ft_buf_free(&res.body);
    env_close(&e);
}

/* ---- 413 ---------------------------------------------------------------- */

static void test_arena_cap(void **state)
{
    (void)state;
    env e;
    env_open(&e, "memory:");
    ft_otlp_result res;
    memset(&res, 0, sizeof res);
    size_t len;
    uint8_t *body = read_fixture(8, &len);
    handle(&e, FT_SIGNAL_TRACES, FT_CT_PROTOBUF, body, len, 256, &res);
    expect_error(&res, FT_CT_PROTOBUF, 413, 8, "send smaller batches");
    assert_int_equal(res.code, FT_NOMEM);
    assert_int_equal(res.stored.spans, 0);
    free(body);

    handle(&e, FT_SIGNAL_TRACES, FT_CT_JSON, TRACES_JSON, sizeof TRACES_JSON - 1, 64, &res);
    expect_error(&res, FT_CT_JSON, 413, 8, "send smaller batches");
    ft_pbw w;
    ft_pbw_init(&w);
    logs_pb(&w);
    handle(&e, FT_SIGNAL_LOGS, FT_CT_PROTOBUF, w.buf, w.len, 32, &res);
    expect_error(&res, FT_CT_PROTOBUF, 413, 8, NULL);
    handle(&e, FT_SIGNAL_LOGS, FT_CT_JSON, LOGS_JSON, sizeof LOGS_JSON - 1, 32, &res);
    expect_error(&res, FT_CT_JSON, 413, 8, NULL);
    ft_pbw_free(&w);

    ft_buf_free(&res.body);
    env_close(&e);
}

/* ---- 503 ---------------------------------------------------------------- */

/* An LMDB store with a tiny map fills up: 503 with Retry-After. */
static void test_store_full(void **state)
{
    (void)state;
    char url[700];
    snprintf(url, sizeof url, "lmdb:%s/full?mapsize=64K", tmp_root);
    env e;
    env_open(&e, url);
    ft_otlp_result res;
    memset(&res, 0, sizeof res);
    int failed_at = 0;
    for (int i = 1; i <= N_FIXTURES && failed_at == 0; i++) {
        size_t len;
        uint8_t *body = read_fixture(i, &len);
        handle(&e, FT_SIGNAL_TRACES, FT_CT_PROTOBUF, body, len, 0, &res);
        free(body);
        if (res.status == 200)
            continue;
        failed_at = i;
        expect_error(&res, FT_CT_PROTOBUF, 503, 14, "the store cannot take the data now");
        assert_int_equal(res.code, FT_FULL);
    }
    if (failed_at == 0)
        fail_msg("64 KiB of LMDB took all fixtures");

    /* JSON too, and logs: small requests may still fit in what an aborted
     * write left free, so send new traces until one does not */
    for (int sig = FT_SIGNAL_TRACES; sig <= FT_SIGNAL_LOGS; sig++) {
        int i;
        for (i = 0; i < 2000; i++) {
            char body[2048];
            if (sig == FT_SIGNAL_TRACES)
                snprintf(body, sizeof body,
                         "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
                         "{\"traceId\":\"%032x\",\"spanId\":\"%016x\","
                         "\"name\":\"%0600d\"}]}]}]}",
                         i + 1, i + 1, i);
            else
                snprintf(body, sizeof body,
                         "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":["
                         "{\"traceId\":\"%032x\",\"spanId\":\"%016x\","
                         "\"body\":{\"stringValue\":\"%0600d\"}}]}]}]}",
                         i + 1, i + 1, i);
            handle(&e, (ft_signal)sig, FT_CT_JSON, body, strlen(body), 0, &res);
            if (res.status != 200)
                break;
        }
        if (i == 2000)
            fail_msg("64 KiB of LMDB took 2000 requests");
        expect_error(&res, FT_CT_JSON, 503, 14, "the store cannot take the data now");
        assert_int_equal(res.code, FT_FULL);
        assert_int_equal(res.received, 1);
    }

    /* a result reused for a request that succeeds loses its Retry-After
     * (the server retries a FT_FULL request after evicting) */
    handle(&e, FT_SIGNAL_TRACES, FT_CT_PROTOBUF, NULL, 0, 0, &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.retry_after, 0);
    assert_int_equal(res.body.len, 0);

    ft_buf_free(&res.body);
    env_close(&e);
}

/* A memory store whose allocations fail: 503 as well. */
static void test_store_nomem(void **state)
{
    (void)state;
    env e;
    env_open(&e, "memory:");
    ft_pbw w;
    ft_pbw_init(&w);
    traces_pb(&w);
    ft_otlp_result res;
    memset(&res, 0, sizeof res);
    /* the decoder needs nothing beyond the arena's first block; the store
     * needs memory */
    ft_arena *a = ft_arena_create(0);
    ft_alloc_fail_after(0);
    ft_otlp_handle(e.ex, FT_SIGNAL_TRACES, FT_CT_PROTOBUF, w.buf, w.len, a, &res);
    ft_alloc_fail_after(-1);
    ft_arena_destroy(a);
    assert_int_equal(res.received, 2);
    assert_int_not_equal(res.code, FT_OK);
    /* the response body may have needed memory too: if it got it, it is a
     * proper 503 */
    assert_int_equal(res.status, 503);
    assert_int_equal(res.retry_after, FT_RETRY_AFTER_S);
    if (ft_buf_ok(&res.body))
        expect_error(&res, FT_CT_PROTOBUF, 503, 14, NULL);

    /* with memory back, the same request goes through */
    handle(&e, FT_SIGNAL_TRACES, FT_CT_PROTOBUF, w.buf, w.len, 0, &res);
    expect_partial(&res, FT_CT_PROTOBUF, NULL,
                   "1 of 2 spans rejected: span trace_id is not 16 bytes");

    ft_pbw_free(&w);
    ft_buf_free(&res.body);
    env_close(&e);
}

/* ---- ft_otlp_error ------------------------------------------------------ */

static void test_error_responses(void **state)
{
    (void)state;
    static const struct {
        int status;
        int64_t code;
        unsigned retry;
    } cases[] = {
        {400, 3, 0},  {415, 3, 0},  {404, 5, 0},  {405, 12, 0}, {413, 8, 0},
        {429, 8, FT_RETRY_AFTER_S}, {503, 14, FT_RETRY_AFTER_S}, {500, 13, 0},
    };
    ft_otlp_result res;
    memset(&res, 0, sizeof res);
    static const char msg[] = "bad \"thing\"\n\ttab \\ back é";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int ct = FT_CT_PROTOBUF; ct <= FT_CT_JSON; ct++) {
            ft_otlp_error(&res, (ft_content_type)ct, cases[i].status, msg);
            assert_int_equal(res.status, cases[i].status);
            assert_int_equal(res.ct, ct);
            assert_int_equal(res.retry_after, cases[i].retry);
            int64_t code;
            char got[200];
            status_of(&res, &code, got, sizeof got);
            assert_int_equal(code, cases[i].code);
            assert_string_equal(got, msg);
        }
    }
    /* exact bytes */
    ft_otlp_error(&res, FT_CT_PROTOBUF, 400, "no");
    assert_int_equal(res.body.len, 6);
    assert_memory_equal(res.body.ptr, "\x08\x03\x12\x02no", 6);
    ft_otlp_error(&res, FT_CT_JSON, 503, "full");
    assert_int_equal(res.body.len, strlen("{\"code\":14,\"message\":\"full\"}"));
    assert_memory_equal(res.body.ptr, "{\"code\":14,\"message\":\"full\"}", res.body.len);
    assert_int_equal(res.retry_after, FT_RETRY_AFTER_S);
    /* a later 400 on the same result drops the Retry-After */
    ft_otlp_error(&res, FT_CT_PROTOBUF, 400, "");
    assert_int_equal(res.retry_after, 0);
    assert_int_equal(res.body.len, 4);
    assert_memory_equal(res.body.ptr, "\x08\x03\x12\x00", 4);
    /* a long message is carried whole */
    char big[3000];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ft_otlp_error(&res, FT_CT_PROTOBUF, 400, big);
    int64_t code;
    char got[4000];
    pb_status(&res.body, &code, got, sizeof got);
    assert_string_equal(got, big);
    ft_buf_free(&res.body);
}

static int group_setup(void **state)
{
    (void)state;
    tmp_root = ft_test_tmpdir("receiver");
    json_error_t je;
    reference = json_load_file(FIXTURES "/reference.json", 0, &je);
    if (reference == NULL) {
        fprintf(stderr, "reference.json: %s\n", je.text);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    json_decref(reference);
    ft_test_rmrf(tmp_root);
    free(tmp_root);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_type_parse),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_partial_success),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_arena_cap),
        cmocka_unit_test(test_store_full),
        cmocka_unit_test(test_store_nomem),
        cmocka_unit_test(test_error_responses),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
