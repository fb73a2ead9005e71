/* test_otlp_json.c - the OTLP/JSON decoder: equivalence with the protobuf
 * decoder on the Fedify fixtures, and hand-written requests.
 *
 * Hand-written JSON is spelled with single quotes (turned into double
 * quotes before decoding) to keep it readable; none of it needs a literal
 * apostrophe.  Bodies are decoded from an exact-size copy without a NUL
 * (so that ASan sees any over-read), which is freed before the result is
 * looked at (so that a string left pointing into the body shows up too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedtrace/otlp.h"
#include "ft_span_json.h"
#include "ft_test_util.h"

#define FIXTURES FT_TEST_DATA "/fedify-2.3.6"
#define N_FIXTURES 8

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"
#define PID "53995c3f42cd8a8d"
#define ZTID "00000000000000000000000000000000"
#define ZSID "0000000000000000"

static const uint8_t TID_B[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                  0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t SID_B[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
static const uint8_t PID_B[8] = {0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0x8d};
static const uint8_t ZERO[16];

/* A request with one resource (service.name = svc) and one scope
 * (test-scope) around the spans in between. */
#define REQ_BEGIN                                                            \
    "{'resourceSpans':[{'resource':{'attributes':[{'key':'service.name',"   \
    "'value':{'stringValue':'svc'}}]},'scopeSpans':[{'scope':{'name':"      \
    "'test-scope'},'spans':["
#define REQ_END "]}]}]}"
#define LOGS_BEGIN "{'resourceLogs':[{'scopeLogs':[{'logRecords':["
#define LOGS_END "]}]}]}"
/* A span with valid ids and the given extra fields ("" for none). */
#define SPAN(extra) "{'traceId':'" TID "','spanId':'" SID "'" extra "}"

/* ---- helpers ----------------------------------------------------------- */

static bool str_is(ft_str s, const char *c)
{
    return ft_str_eq_c(s, c);
}

/* q with ' turned into ", malloc'd to exactly its length (no NUL). */
static uint8_t *body_of(const char *q, size_t *len)
{
    *len = strlen(q);
    uint8_t *b = malloc(*len ? *len : 1);
    assert_non_null(b);
    for (size_t i = 0; i < *len; i++)
        b[i] = q[i] == '\'' ? '"' : (uint8_t)q[i];
    return b;
}

static ft_code dec_traces(const char *q, ft_arena *a, ft_span_batch *b,
                          ft_err *err)
{
    size_t len;
    uint8_t *body = body_of(q, &len);
    ft_code rc = ft_otlp_decode_traces_json(body, len, a, b, err);
    free(body);
    return rc;
}

static ft_code dec_logs(const char *q, ft_arena *a, ft_log_batch *b,
                        ft_err *err)
{
    size_t len;
    uint8_t *body = body_of(q, &len);
    ft_code rc = ft_otlp_decode_logs_json(body, len, a, b, err);
    free(body);
    return rc;
}

/* Decodes q, which must succeed, into a fresh batch in arena a. */
static ft_span_batch ok_traces(const char *q, ft_arena *a)
{
    ft_span_batch b;
    ft_err err = {0};
    ft_code rc = dec_traces(q, a, &b, &err);
    if (rc != FT_OK)
        fail_msg("%s: %s\n  in %s", ft_code_name(rc), err.msg, q);
    return b;
}

static void expect_error(const char *q, bool logs, const char *needle)
{
    ft_arena *a = ft_arena_create(0);
    ft_err err = {0};
    ft_code rc;
    size_t n;
    const void *items;
    if (logs) {
        ft_log_batch b;
        rc = dec_logs(q, a, &b, &err);
        n = b.n;
        items = b.logs;
    } else {
        ft_span_batch b;
        rc = dec_traces(q, a, &b, &err);
        n = b.n;
        items = b.spans;
    }
    if (rc != FT_DECODE)
        fail_msg("expected FT_DECODE (%s), got %s for %s", needle,
                 ft_code_name(rc), q);
    assert_int_equal(err.code, FT_DECODE);
    if (strncmp(err.msg, "OTLP JSON: ", 11) != 0 || strstr(err.msg, needle) == NULL)
        fail_msg("message \"%s\" does not mention \"%s\"", err.msg, needle);
    /* a failed decode publishes an empty batch */
    assert_int_equal(n, 0);
    assert_null(items);
    ft_arena_destroy(a);
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

/* Fixture i decoded with the protobuf decoder into arena a (the body is
 * returned in *body: the batch points into it). */
static ft_span_batch pb_fixture(int i, ft_arena *a, uint8_t **body)
{
    size_t len;
    *body = read_fixture(i, &len);
    ft_span_batch b;
    ft_err err = {0};
    if (ft_otlp_decode_traces_pb(*body, len, a, &b, &err) != FT_OK)
        fail_msg("fixture %d: %s", i, err.msg);
    return b;
}

/* Fixture i as OTLP/JSON (malloc'd, no NUL). */
static uint8_t *json_fixture(int i, unsigned opts, size_t *len)
{
    ft_arena *a = ft_arena_create(0);
    uint8_t *pb;
    ft_span_batch b = pb_fixture(i, a, &pb);
    ft_buf buf = {0};
    ft_span_json_traces(&buf, &b, opts);
    assert_true(ft_buf_ok(&buf));
    uint8_t *out = malloc(buf.len);
    assert_non_null(out);
    memcpy(out, buf.ptr, buf.len);
    *len = buf.len;
    ft_buf_free(&buf);
    ft_arena_destroy(a);
    free(pb);
    return out;
}

/* ---- equivalence with the protobuf decoder ------------------------------- */

/* Every fixture, decoded from protobuf, written as OTLP/JSON in several
 * spellings and decoded again, gives the same batch field by field. */
static void test_fixtures_equivalence(void **state)
{
    (void)state;
    static const unsigned variants[] = {
        0,
        FT_SJ_LIB_ATTRS,
        FT_SJ_INT_NUMBERS | FT_SJ_ENUM_NAMES,
        FT_SJ_PROTO_NAMES | FT_SJ_INT_NUMBERS | FT_SJ_ENUM_NAMES |
            FT_SJ_UPPER_HEX | FT_SJ_ALL_FIELDS,
    };
    size_t total = 0;
    for (int i = 1; i <= N_FIXTURES; i++) {
        ft_arena *pa = ft_arena_create(0);
        uint8_t *pb;
        ft_span_batch want = pb_fixture(i, pa, &pb);
        assert_int_equal(want.rejected, 0);
        total += want.n;
        for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
            ft_buf buf = {0};
            ft_span_json_traces(&buf, &want, variants[v]);
            assert_true(ft_buf_ok(&buf));
            uint8_t *body = malloc(buf.len);
            assert_non_null(body);
            memcpy(body, buf.ptr, buf.len);
            size_t len = buf.len;
            ft_buf_free(&buf);

            ft_arena *ja = ft_arena_create(0);
            ft_span_batch got;
            ft_err err = {0};
            ft_code rc = ft_otlp_decode_traces_json(body, len, ja, &got, &err);
            free(body); /* the result must not point into it */
            if (rc != FT_OK)
                fail_msg("fixture %d, variant %zu: %s", i, v, err.msg);
            char why[1024];
            if (!ft_span_json_spans_equal(&want, &got, why, sizeof why))
                fail_msg("fixture %d, variant %zu: %s", i, v, why);
            ft_arena_destroy(ja);
        }
        ft_arena_destroy(pa);
        free(pb);
    }
    assert_int_equal(total, 250);
}

/* The same for logs: a protobuf request built by hand with every field and
 * value type, several resources and scopes. */
static void kv_str(ft_pbw *w, uint32_t field, const char *k, const char *v)
{
    ft_pbw_begin(w, field);
    ft_pbw_str(w, 1, k);
    ft_pbw_begin(w, 2);
    ft_pbw_str(w, 1, v);
    ft_pbw_end(w);
    ft_pbw_end(w);
}

static void build_pb_logs(ft_pbw *w)
{
    for (int r = 0; r < 2; r++) {
        ft_pbw_begin(w, 1); /* ResourceLogs */
        ft_pbw_begin(w, 1);
        kv_str(w, 1, "service.name", r ? "fedify-b" : "fedify-a");
        ft_pbw_varint(w, 2, (uint64_t)r);
        ft_pbw_end(w);
        ft_pbw_str(w, 3, "https://res.schema");
        for (int s = 0; s < 2; s++) {
            ft_pbw_begin(w, 2); /* ScopeLogs */
            ft_pbw_begin(w, 1);
            ft_pbw_str(w, 1, s ? "fedify" : "");
            ft_pbw_str(w, 2, "2.3.6");
            kv_str(w, 3, "scope.k", "v");
            ft_pbw_end(w);
            for (int k = 0; k < 3; k++) {
                ft_pbw_begin(w, 2); /* LogRecord */
                ft_pbw_fixed64(w, 1, 1700000000000000001ull + (uint64_t)k);
                ft_pbw_fixed64(w, 11, 1700000000000000002ull);
                ft_pbw_varint(w, 2, (uint64_t)(k == 2 ? -3 : 9 + 4 * k));
                ft_pbw_str(w, 3, k ? "ERROR" : "");
                ft_pbw_begin(w, 5);
                switch (k) {
                case 0:
                    ft_pbw_str(w, 1, "line\nwith \"quotes\" and \xc3\xa9");
                    break;
                case 1:
                    ft_pbw_begin(w, 6);
                    kv_str(w, 1, "msg", "delivery failed");
                    ft_pbw_begin(w, 1);
                    ft_pbw_str(w, 1, "n");
                    ft_pbw_begin(w, 2);
                    ft_pbw_double(w, 4, NAN);
                    ft_pbw_end(w);
                    ft_pbw_end(w);
                    ft_pbw_end(w);
                    break;
                default:
                    ft_pbw_begin(w, 5);
                    ft_pbw_begin(w, 1);
                    ft_pbw_bytes(w, 7, "\x00\xff\x10", 3);
                    ft_pbw_end(w);
                    ft_pbw_begin(w, 1);
                    ft_pbw_varint(w, 3, (uint64_t)INT64_MIN);
                    ft_pbw_end(w);
                    ft_pbw_begin(w, 1);
                    ft_pbw_double(w, 4, -0.0);
                    ft_pbw_end(w);
                    ft_pbw_begin(w, 1);
                    ft_pbw_double(w, 4, -INFINITY);
                    ft_pbw_end(w);
                    ft_pbw_end(w);
                    break;
                }
                ft_pbw_end(w);
                kv_str(w, 6, "activitypub.activity.id", "https://a.example/1");
                ft_pbw_varint(w, 7, (uint64_t)k);
                ft_pbw_fixed32(w, 8, (uint32_t)k);
                if (k != 1) {
                    ft_pbw_bytes(w, 9, TID_B, 16);
                    ft_pbw_bytes(w, 10, k ? ZERO : SID_B, 8);
                }
                ft_pbw_str(w, 12, k == 0 ? "fedify.event" : "");
                ft_pbw_end(w);
            }
            ft_pbw_end(w);
        }
        ft_pbw_end(w);
    }
}

static void test_logs_equivalence(void **state)
{
    (void)state;
    ft_pbw w;
    ft_pbw_init(&w);
    build_pb_logs(&w);
    ft_arena *pa = ft_arena_create(0);
    ft_log_batch want;
    ft_err err = {0};
    assert_int_equal(ft_otlp_decode_logs_pb(w.buf, w.len, pa, &want, &err), FT_OK);
    assert_int_equal(want.n, 12);
    static const unsigned variants[] = {
        0, FT_SJ_INT_NUMBERS | FT_SJ_ENUM_NAMES,
        FT_SJ_PROTO_NAMES | FT_SJ_ENUM_NAMES | FT_SJ_UPPER_HEX | FT_SJ_ALL_FIELDS};
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        ft_buf buf = {0};
        ft_span_json_logs(&buf, &want, variants[v]);
        assert_true(ft_buf_ok(&buf));
        ft_arena *ja = ft_arena_create(0);
        ft_log_batch got;
        ft_code rc = ft_otlp_decode_logs_json((const uint8_t *)buf.ptr, buf.len,
                                              ja, &got, &err);
        if (rc != FT_OK)
            fail_msg("variant %zu: %s\n%.*s", v, err.msg, (int)buf.len, buf.ptr);
        ft_buf_free(&buf);
        char why[1024];
        if (!ft_span_json_logs_equal(&want, &got, why, sizeof why))
            fail_msg("variant %zu: %s", v, why);
        ft_arena_destroy(ja);
    }
    ft_arena_destroy(pa);
    ft_pbw_free(&w);
}

/* ---- hand-written requests ------------------------------------------------ */

static void test_empty_and_arguments(void **state)
{
    (void)state;
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    ft_log_batch lb;
    ft_err err = {0};
    assert_int_equal(ft_otlp_decode_traces_json((const uint8_t *)"{}", 2, a, &b, NULL),
                     FT_OK);
    assert_int_equal(b.n, 0);
    assert_null(b.spans);
    assert_int_equal(b.rejected, 0);
    assert_non_null(b.reject_reason.ptr);
    assert_int_equal(ft_otlp_decode_logs_json((const uint8_t *)"{}", 2, a, &lb, NULL),
                     FT_OK);
    assert_int_equal(lb.n, 0);
    /* a request with empty levels */
    b = ok_traces("{'resourceSpans':[{},{'scopeSpans':[]},{'scopeSpans':[{}]},"
                  "{'scopeSpans':[{'spans':[]}]}]}", a);
    assert_int_equal(b.n, 0);

    /* an empty body is not JSON (unlike protobuf, where it is a message) */
    assert_int_equal(ft_otlp_decode_traces_json(NULL, 0, a, &b, &err), FT_DECODE);
    assert_non_null(strstr(err.msg, "invalid JSON"));
    assert_int_equal(ft_otlp_decode_traces_json(NULL, 1, a, &b, &err), FT_INVAL);
    assert_int_equal(ft_otlp_decode_traces_json((const uint8_t *)"{}", 2, NULL, &b, &err),
                     FT_INVAL);
    assert_int_equal(ft_otlp_decode_logs_json((const uint8_t *)"{}", 2, a, NULL, &err),
                     FT_INVAL);
    ft_arena_destroy(a);
}

/* Every field of a span, in an unusual order (status first, resource and
 * scope after the spans), plus events, links and status. */
static void test_all_span_fields(void **state)
{
    (void)state;
    const char *q =
        "{'resourceSpans':[{'scopeSpans':[{'spans':[{"
        "'status':{'code':2,'message':'boom'},"
        "'flags':769,'name':'op','spanId':'" SID "','traceId':'" TID "',"
        "'traceState':'vendor=1','parentSpanId':'" PID "','kind':3,"
        "'startTimeUnixNano':'1700000000000000000',"
        "'endTimeUnixNano':'1700000000123456789',"
        "'attributes':[{'key':'a','value':{'intValue':'7'}},{'key':'b'}],"
        "'droppedAttributesCount':3,"
        "'events':[{'timeUnixNano':'1700000000000000042','name':'ev1',"
        "'attributes':[{'key':'k','value':{'stringValue':'v'}}],"
        "'droppedAttributesCount':1},{'name':'ev2'}],"
        "'droppedEventsCount':4,"
        "'links':[{'traceId':'" TID "','spanId':'" PID "','traceState':'ts',"
        "'attributes':[{'key':'lk','value':{}}],'droppedAttributesCount':2,"
        "'flags':257},{'traceId':'4bf92f35'}],"
        "'droppedLinksCount':5}],"
        "'schemaUrl':'https://scope.schema',"
        "'scope':{'name':'lib','version':'1.2.3','attributes':[{'key':"
        "'scope.attr','value':{'boolValue':false}}],'droppedAttributesCount':9}}],"
        "'schemaUrl':'https://resource.schema',"
        "'resource':{'attributes':[{'key':'service.name','value':{'stringValue':"
        "'late'}}],'droppedAttributesCount':11}}]}";
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b = ok_traces(q, a);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.rejected, 0);
    const ft_span *s = &b.spans[0];
    assert_memory_equal(s->trace_id, TID_B, 16);
    assert_memory_equal(s->span_id, SID_B, 8);
    assert_memory_equal(s->parent_span_id, PID_B, 8);
    assert_true(s->has_parent);
    assert_true(str_is(s->trace_state, "vendor=1"));
    assert_int_equal(s->flags, 0x301);
    assert_true(str_is(s->name, "op"));
    assert_int_equal(s->kind, FT_SPAN_KIND_CLIENT);
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
    assert_int_equal(s->events[1].time_ns, 0);
    assert_int_equal(s->events[1].attrs.n, 0);
    assert_null(s->events[1].attrs.items);
    assert_int_equal(s->dropped_events, 4);
    assert_int_equal(s->n_links, 2);
    assert_memory_equal(s->links[0].trace_id, TID_B, 16);
    assert_memory_equal(s->links[0].span_id, PID_B, 8);
    assert_true(str_is(s->links[0].trace_state, "ts"));
    assert_int_equal(s->links[0].attrs.n, 1);
    assert_int_equal(s->links[0].attrs.items[0].value.type, FT_VAL_EMPTY);
    assert_int_equal(s->links[0].dropped_attrs, 2);
    assert_int_equal(s->links[0].flags, 0x101);
    /* a link with a short trace id: kept, ids zero */
    assert_memory_equal(s->links[1].trace_id, ZERO, 16);
    assert_memory_equal(s->links[1].span_id, ZERO, 8);
    assert_non_null(s->links[1].trace_state.ptr);
    assert_int_equal(s->dropped_links, 5);
    assert_int_equal(s->status_code, FT_STATUS_ERROR);
    assert_true(str_is(s->status_message, "boom"));

    assert_true(str_is(s->scope->name, "lib"));
    assert_true(str_is(s->scope->version, "1.2.3"));
    assert_int_equal(s->scope->attrs.n, 1);
    assert_int_equal(s->scope->attrs.items[0].value.type, FT_VAL_BOOL);
    assert_false(s->scope->attrs.items[0].value.u.b);
    assert_int_equal(s->scope->dropped_attrs, 9);
    assert_true(str_is(s->scope->schema_url, "https://scope.schema"));
    const ft_value *svc = ft_attrs_get(s->resource->attrs, "service.name");
    assert_non_null(svc);
    assert_true(str_is(svc->u.s, "late"));
    assert_int_equal(s->resource->dropped_attrs, 11);
    assert_true(str_is(s->resource->schema_url, "https://resource.schema"));
    ft_arena_destroy(a);
}

/* The proto field names work as well as the JSON names, at every level. */
static void test_proto_field_names(void **state)
{
    (void)state;
    const char *q =
        "{'resource_spans':[{'resource':{'attributes':[],"
        "'dropped_attributes_count':1},'schema_url':'r',"
        "'scope_spans':[{'scope':{'name':'n','dropped_attributes_count':2},"
        "'schema_url':'s','spans':[{"
        "'trace_id':'" TID "','span_id':'" SID "','parent_span_id':'" PID "',"
        "'trace_state':'t','kind':'SPAN_KIND_CONSUMER',"
        "'start_time_unix_nano':5,'end_time_unix_nano':'6',"
        "'dropped_attributes_count':7,'dropped_events_count':8,"
        "'dropped_links_count':9,"
        "'attributes':[{'key':'s','value':{'string_value':'x'}},"
        "{'key':'b','value':{'bool_value':true}},"
        "{'key':'i','value':{'int_value':-1}},"
        "{'key':'d','value':{'double_value':0.5}},"
        "{'key':'y','value':{'bytes_value':'eQ=='}},"
        "{'key':'a','value':{'array_value':{'values':[{'int_value':'2'}]}}},"
        "{'key':'k','value':{'kvlist_value':{'values':[{'key':'z'}]}}}],"
        "'events':[{'time_unix_nano':'10','name':'e','dropped_attributes_count':1}],"
        "'links':[{'trace_id':'" TID "','span_id':'" PID "','trace_state':'lt',"
        "'dropped_attributes_count':3}]}]}]}]}";
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b = ok_traces(q, a);
    assert_int_equal(b.n, 1);
    const ft_span *s = &b.spans[0];
    assert_memory_equal(s->trace_id, TID_B, 16);
    assert_memory_equal(s->parent_span_id, PID_B, 8);
    assert_true(str_is(s->trace_state, "t"));
    assert_int_equal(s->kind, FT_SPAN_KIND_CONSUMER);
    assert_int_equal(s->start_ns, 5);
    assert_int_equal(s->end_ns, 6);
    assert_int_equal(s->dropped_attrs, 7);
    assert_int_equal(s->dropped_events, 8);
    assert_int_equal(s->dropped_links, 9);
    assert_int_equal(s->attrs.n, 7);
    static const ft_value_type types[] = {FT_VAL_STRING, FT_VAL_BOOL, FT_VAL_INT,
                                          FT_VAL_DOUBLE, FT_VAL_BYTES, FT_VAL_ARRAY,
                                          FT_VAL_KVLIST};
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(s->attrs.items[i].value.type, types[i]);
    assert_true(str_is(s->attrs.items[4].value.u.s, "y"));
    assert_int_equal(s->events[0].time_ns, 10);
    assert_int_equal(s->events[0].dropped_attrs, 1);
    assert_true(str_is(s->links[0].trace_state, "lt"));
    assert_int_equal(s->links[0].dropped_attrs, 3);
    assert_int_equal(s->resource->dropped_attrs, 1);
    assert_true(str_is(s->resource->schema_url, "r"));
    assert_int_equal(s->scope->dropped_attrs, 2);
    assert_true(str_is(s->scope->schema_url, "s"));
    ft_arena_destroy(a);
}

/* A field given twice keeps its last value; under both names, the later
 * key wins. */
static void test_repeated_fields(void **state)
{
    (void)state;
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b = ok_traces(REQ_BEGIN SPAN(",'name':'a','name':'b'") REQ_END, a);
    assert_true(str_is(b.spans[0].name, "b"));
    b = ok_traces(REQ_BEGIN "{'traceId':'zz','trace_id':'" TID "','spanId':'" SID "'}"
                  REQ_END, a);
    assert_int_equal(b.n, 1);
    b = ok_traces(REQ_BEGIN "{'trace_id':'" TID "','traceId':'zz','spanId':'" SID "'}"
                  REQ_END, a);
    assert_int_equal(b.n, 0);
    assert_int_equal(b.rejected, 1);
    /* AnyValue members: the last one given wins */
    b = ok_traces(REQ_BEGIN SPAN(",'attributes':[{'key':'k','value':"
                                 "{'stringValue':'first','intValue':'5'}},"
                                 "{'key':'j','value':{'arrayValue':{},"
                                 "'boolValue':true}}]") REQ_END, a);
    assert_int_equal(b.spans[0].attrs.items[0].value.type, FT_VAL_INT);
    assert_int_equal(b.spans[0].attrs.items[0].value.u.i, 5);
    assert_int_equal(b.spans[0].attrs.items[1].value.type, FT_VAL_BOOL);
    ft_arena_destroy(a);
}

static void test_invalid_ids_rejected(void **state)
{
    (void)state;
    const char *q = REQ_BEGIN
        "{'traceId':'" TID "','spanId':'" SID "','parentSpanId':'" PID "','name':'good-child'},"
        "{'traceId':'4bf92f3577b34da6a3ce929d0e0e47','spanId':'" SID "','name':'short-trace'},"
        "{'traceId':'" ZTID "','spanId':'" SID "','name':'zero-trace'},"
        "{'spanId':'" SID "','name':'no-trace'},"
        "{'traceId':'','spanId':'" SID "','name':'empty-trace'},"
        "{'traceId':'4bf92f3577b34da6a3ce929d0e0e473g','spanId':'" SID "','name':'non-hex-trace'},"
        "{'traceId':'S/kvNXezTaajzpKdDg5HNg==','spanId':'" SID "','name':'base64-trace'},"
        "{'traceId':'" TID "','spanId':'00f067aa0ba902','name':'short-span'},"
        "{'traceId':'" TID "','spanId':'" ZSID "','name':'zero-span'},"
        "{'traceId':'" TID "','name':'no-span'},"
        "{'traceId':'" TID "','spanId':'" SID "','parentSpanId':'53995c3f42','name':'short-parent'},"
        "{'traceId':'" TID "','spanId':'" SID "','parentSpanId':'" TID "','name':'long-parent'},"
        "{'traceId':'" TID "','spanId':'" SID "','parentSpanId':'53995c3f42cd8a8x','name':'non-hex-parent'},"
        "{'traceId':'" TID "','spanId':'" SID "','parentSpanId':'" ZSID "','name':'zero-parent'},"
        "{'traceId':'" TID "','spanId':'" SID "','name':'root'},"
        "{'traceId':'" TID "','spanId':'" SID "','parentSpanId':'','name':'empty-parent'},"
        "{'traceId':'" TID "','spanId':'" SID "','parentSpanId':null,'name':'null-parent'},"
        "{'traceId':'4BF92F3577B34DA6A3CE929D0E0E4736','spanId':'00F067AA0BA902B7',"
        "'parentSpanId':'53995C3F42CD8A8D','name':'upper-case'}"
        REQ_END;
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b = ok_traces(q, a);
    assert_int_equal(b.n, 6);
    assert_int_equal(b.rejected, 12);
    assert_true(str_is(b.reject_reason, "span trace_id is not 16 bytes"));

    assert_true(str_is(b.spans[0].name, "good-child"));
    assert_true(b.spans[0].has_parent);
    assert_memory_equal(b.spans[0].parent_span_id, PID_B, 8);
    assert_memory_equal(b.spans[0].trace_id, TID_B, 16);
    assert_memory_equal(b.spans[0].span_id, SID_B, 8);
    const char *roots[] = {"zero-parent", "root", "empty-parent", "null-parent"};
    for (int i = 0; i < 4; i++) {
        assert_true(str_is(b.spans[i + 1].name, roots[i]));
        assert_false(b.spans[i + 1].has_parent);
        assert_memory_equal(b.spans[i + 1].parent_span_id, ZERO, 8);
    }
    const ft_span *up = &b.spans[5];
    assert_true(str_is(up->name, "upper-case"));
    assert_memory_equal(up->trace_id, TID_B, 16);
    assert_memory_equal(up->span_id, SID_B, 8);
    assert_memory_equal(up->parent_span_id, PID_B, 8);
    assert_ptr_equal(b.spans[0].resource, b.spans[5].resource);
    assert_ptr_equal(b.spans[0].scope, b.spans[5].scope);

    /* the first reason wins, whatever it is */
    b = ok_traces(REQ_BEGIN
                  "{'traceId':'" TID "','spanId':'" ZSID "'},"
                  "{'traceId':'" TID "','spanId':'" SID "','parentSpanId':'00'},"
                  "{'traceId':'abc','spanId':'" SID "'}" REQ_END, a);
    assert_int_equal(b.n, 0);
    assert_null(b.spans);
    assert_int_equal(b.rejected, 3);
    assert_true(str_is(b.reject_reason, "span span_id is all zero"));
    b = ok_traces(REQ_BEGIN
                  "{'traceId':'" TID "','spanId':'" SID "','parentSpanId':'00'}"
                  REQ_END, a);
    assert_true(str_is(b.reject_reason, "span parent_span_id is not 8 bytes"));
    b = ok_traces(REQ_BEGIN "{'traceId':'" ZTID "','spanId':'" SID "'}" REQ_END, a);
    assert_true(str_is(b.reject_reason, "span trace_id is all zero"));
    b = ok_traces(REQ_BEGIN "{'traceId':'" TID "','spanId':'xyz'}" REQ_END, a);
    assert_true(str_is(b.reject_reason, "span span_id is not 8 bytes"));
    ft_arena_destroy(a);
}

/* Resource and scope pointers across several ResourceSpans/ScopeSpans. */
static void test_resource_scope_grouping(void **state)
{
    (void)state;
    char q[4096] = "{'resourceSpans':[";
    for (int r = 0; r < 2; r++) {
        strcat(q, r ? ",{'scopeSpans':[" : "{'scopeSpans':[");
        for (int sc = 0; sc < 2; sc++) {
            strcat(q, sc ? ",{'spans':[" : "{'spans':[");
            for (int k = 0; k < 3; k++)
                strcat(q, k ? "," SPAN(",'name':'s'") : SPAN(",'name':'s'"));
            strcat(q, "]}");
        }
        strcat(q, "]}");
    }
    strcat(q, ",{'resource':null}]}"); /* a ResourceSpans with no spans */
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b = ok_traces(q, a);
    assert_int_equal(b.n, 12);
    for (size_t i = 0; i < 12; i++) {
        assert_non_null(b.spans[i].resource);
        assert_non_null(b.spans[i].scope);
        assert_int_equal(b.spans[i].resource->attrs.n, 0);
        assert_true(str_is(b.spans[i].scope->name, ""));
        assert_non_null(b.spans[i].trace_state.ptr);
        assert_non_null(b.spans[i].status_message.ptr);
        assert_non_null(b.spans[i].scope->version.ptr);
        assert_non_null(b.spans[i].scope->schema_url.ptr);
        assert_non_null(b.spans[i].resource->schema_url.ptr);
        assert_true((b.spans[i].resource == b.spans[0].resource) == (i < 6));
        assert_true((b.spans[i].scope == b.spans[0].scope) == (i < 3));
        assert_true((b.spans[i].scope == b.spans[3].scope) == (i >= 3 && i < 6));
    }
    ft_arena_destroy(a);
}

/* Unknown keys at every level are skipped, whatever their value; null is
 * an absent field. */
static void test_unknown_fields_and_nulls(void **state)
{
    (void)state;
#define UNKNOWN "'x1':{'traceId':5,'spans':7},'x2':[1,[2],{}],'x3':'s','x4':null,'x5':true,"
    const char *q =
        "{" UNKNOWN "'resourceSpans':[{" UNKNOWN
        "'instrumentationLibrarySpans':[{'spans':[" SPAN("") "]}],"
        "'resource':{" UNKNOWN "'attributes':[{" UNKNOWN "'key':'k','value':{"
        UNKNOWN "'stringValue':'v'}}]},"
        "'scopeSpans':[{" UNKNOWN "'scope':{" UNKNOWN "'name':''},'spans':[{" UNKNOWN
        "'traceId':'" TID "','spanId':'" SID "','name':'name',"
        "'events':[{" UNKNOWN "'name':'event'}],'links':[{" UNKNOWN "'traceState':''}],"
        "'status':{" UNKNOWN "'code':'STATUS_CODE_OK'},'kind':99},"
        "{'traceId':'" TID "','spanId':'" SID "','name':null,'kind':null,"
        "'traceState':null,'parentSpanId':null,'startTimeUnixNano':null,"
        "'attributes':null,'droppedAttributesCount':null,'events':null,"
        "'links':null,'status':null,'flags':null}]}]},"
        "{'resource':null,'scopeSpans':null,'schemaUrl':null},"
        "{'scopeSpans':[{'scope':null,'spans':[{'traceId':'" TID "','spanId':'"
        SID "','attributes':[{'key':null,'value':null},{'key':'n','value':"
        "{'stringValue':null,'fooValue':1}}],'status':{'code':null,'message':null}}]}]}]}";
#undef UNKNOWN
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b = ok_traces(q, a);
    assert_int_equal(b.n, 3);
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

    s = &b.spans[1];
    assert_true(str_is(s->name, ""));
    assert_non_null(s->name.ptr);
    assert_false(s->has_parent);
    assert_int_equal(s->attrs.n, 0);
    assert_int_equal(s->n_events, 0);
    assert_int_equal(s->n_links, 0);
    assert_int_equal(s->status_code, FT_STATUS_UNSET);
    assert_int_equal(s->start_ns, 0);

    s = &b.spans[2];
    assert_true(str_is(s->scope->name, ""));
    assert_int_equal(s->attrs.n, 2);
    assert_true(str_is(s->attrs.items[0].key, ""));
    assert_non_null(s->attrs.items[0].key.ptr);
    assert_int_equal(s->attrs.items[0].value.type, FT_VAL_EMPTY);
    assert_int_equal(s->attrs.items[1].value.type, FT_VAL_EMPTY);
    assert_ptr_not_equal(b.spans[1].resource, b.spans[2].resource);

    /* a null list of resources is an empty request */
    b = ok_traces("{'resourceSpans':null}", a);
    assert_int_equal(b.n, 0);
    ft_arena_destroy(a);
}

/* 64-bit integers as strings, as numbers and as integral reals; every
 * integer field takes both forms. */
static void test_integer_forms(void **state)
{
    (void)state;
    const char *q = REQ_BEGIN
        SPAN(",'startTimeUnixNano':1700000000000000000,"
             "'endTimeUnixNano':'18446744073709551615',"
             "'droppedAttributesCount':'4294967295','flags':'1',"
             "'droppedEventsCount':2.0,'droppedLinksCount':'1e2',"
             "'events':[{'timeUnixNano':1.7e18},{'timeUnixNano':'007'}],"
             "'attributes':["
             "{'key':'s','value':{'intValue':'-42'}},"
             "{'key':'n','value':{'intValue':-42}},"
             "{'key':'max','value':{'intValue':'9223372036854775807'}},"
             "{'key':'min','value':{'intValue':'-9223372036854775808'}},"
             "{'key':'nmin','value':{'intValue':-9223372036854775808}},"
             "{'key':'real','value':{'intValue':5.0}},"
             "{'key':'exp','value':{'intValue':'-2E3'}},"
             "{'key':'zero','value':{'intValue':'-0'}}]")
        REQ_END;
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b = ok_traces(q, a);
    const ft_span *s = &b.spans[0];
    assert_int_equal(s->start_ns, 1700000000000000000ull);
    assert_true(s->end_ns == UINT64_MAX);
    assert_int_equal(s->dropped_attrs, UINT32_MAX);
    assert_int_equal(s->flags, 1);
    assert_int_equal(s->dropped_events, 2);
    assert_int_equal(s->dropped_links, 100);
    assert_int_equal(s->events[0].time_ns, 1700000000000000000ull);
    assert_int_equal(s->events[1].time_ns, 7);
    static const int64_t want[] = {-42, -42, INT64_MAX, INT64_MIN, INT64_MIN, 5,
                                   -2000, 0};
    assert_int_equal(s->attrs.n, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(s->attrs.items[i].value.type, FT_VAL_INT);
        if (s->attrs.items[i].value.u.i != want[i])
            fail_msg("attribute %zu: %lld", i, (long long)s->attrs.items[i].value.u.i);
    }
    ft_arena_destroy(a);

    /* values that do not fit their field, or are no integers at all */
    expect_error(REQ_BEGIN SPAN(",'startTimeUnixNano':'-1'") REQ_END, false,
                 "Span.startTimeUnixNano: value out of range for uint64");
    expect_error(REQ_BEGIN SPAN(",'startTimeUnixNano':-1") REQ_END, false,
                 "out of range for uint64");
    expect_error(REQ_BEGIN SPAN(",'endTimeUnixNano':'18446744073709551616'") REQ_END,
                 false, "Span.endTimeUnixNano: value out of range for uint64");
    expect_error(REQ_BEGIN SPAN(",'startTimeUnixNano':'12abc'") REQ_END, false,
                 "Span.startTimeUnixNano: the string is not an integer");
    expect_error(REQ_BEGIN SPAN(",'startTimeUnixNano':''") REQ_END, false,
                 "not an integer");
    expect_error(REQ_BEGIN SPAN(",'startTimeUnixNano':' 1'") REQ_END, false,
                 "not an integer");
    expect_error(REQ_BEGIN SPAN(",'startTimeUnixNano':1.5") REQ_END, false,
                 "the number is not an integer");
    expect_error(REQ_BEGIN SPAN(",'startTimeUnixNano':1e300") REQ_END, false,
                 "out of range");
    expect_error(REQ_BEGIN SPAN(",'startTimeUnixNano':true") REQ_END, false,
                 "Span.startTimeUnixNano: expected an integer (a number or a "
                 "decimal string), got boolean (at resourceSpans[0]."
                 "scopeSpans[0].spans[0].startTimeUnixNano)");
    expect_error(REQ_BEGIN SPAN(",'droppedAttributesCount':4294967296") REQ_END,
                 false, "Span.droppedAttributesCount: value out of range for uint32");
    expect_error(REQ_BEGIN SPAN(",'flags':-1") REQ_END, false,
                 "Span.flags: value out of range for uint32");
    expect_error(REQ_BEGIN SPAN(",'attributes':[{'key':'k','value':{'intValue':"
                                "'9223372036854775808'}}]") REQ_END,
                 false, "AnyValue.intValue: value out of range for int64");
    expect_error(REQ_BEGIN SPAN(",'attributes':[{'key':'k','value':{'intValue':"
                                "{}}}]") REQ_END,
                 false, "AnyValue.intValue: expected an integer");
    /* jansson itself refuses numbers past 64 bits */
    expect_error(REQ_BEGIN SPAN(",'startTimeUnixNano':18446744073709551615") REQ_END,
                 false, "invalid JSON at line 1");
}

static void test_anyvalue_types(void **state)
{
    (void)state;
    const char *q = REQ_BEGIN SPAN(",'attributes':["
        "{'key':'str','value':{'stringValue':'hello'}},"
        "{'key':'empty-str','value':{'stringValue':''}},"
        "{'key':'escapes','value':{'stringValue':'a\\\"b\\\\c\\n\\t\\u00e9\\ud83d\\ude00\\u0000z/\\/'}},"
        "{'key':'bool','value':{'boolValue':true}},"
        "{'key':'double','value':{'doubleValue':-2.5}},"
        "{'key':'double-int','value':{'doubleValue':3}},"
        "{'key':'double-str','value':{'doubleValue':'1e-3'}},"
        "{'key':'nan','value':{'doubleValue':'NaN'}},"
        "{'key':'inf','value':{'doubleValue':'Infinity'}},"
        "{'key':'-inf','value':{'doubleValue':'-Infinity'}},"
        "{'key':'neg-zero','value':{'doubleValue':-0.0}},"
        "{'key':'bytes','value':{'bytesValue':'AAH/'}},"
        "{'key':'bytes-url','value':{'bytesValue':'AAH_'}},"
        "{'key':'bytes-unpadded','value':{'bytesValue':'AAE'}},"
        "{'key':'bytes-padded','value':{'bytesValue':'AA=='}},"
        "{'key':'bytes-empty','value':{'bytesValue':''}},"
        "{'key':'empty','value':{}},"
        "{'key':'array','value':{'arrayValue':{'values':["
        "{'stringValue':'x'},{'intValue':1},{},"
        "{'kvlistValue':{'values':[{'key':'inner','value':{'arrayValue':"
        "{'values':[{'boolValue':true}]}}}]}}]}}},"
        "{'key':'empty-array','value':{'arrayValue':{}}},"
        "{'key':'empty-kvlist','value':{'kvlistValue':{'values':[]}}},"
        "{'key':'k\\u00e9y','value':{'kvlistValue':{'values':[{'key':'a','value':"
        "{'doubleValue':1.0}},{'key':'b','value':{'kvlistValue':{}}}]}}}]")
        REQ_END;
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b = ok_traces(q, a);
    ft_attrs at = b.spans[0].attrs;
    assert_int_equal(at.n, 21);
    const ft_value *v;

    v = ft_attrs_get(at, "str");
    assert_int_equal(v->type, FT_VAL_STRING);
    assert_true(str_is(v->u.s, "hello"));
    v = ft_attrs_get(at, "empty-str");
    assert_int_equal(v->type, FT_VAL_STRING);
    assert_int_equal(v->u.s.len, 0);
    assert_non_null(v->u.s.ptr);
    v = ft_attrs_get(at, "escapes");
    static const char esc[] = "a\"b\\c\n\t\xc3\xa9\xf0\x9f\x98\x80\0z//";
    assert_int_equal(v->u.s.len, sizeof esc - 1);
    assert_memory_equal(v->u.s.ptr, esc, sizeof esc - 1);
    v = ft_attrs_get(at, "bool");
    assert_int_equal(v->type, FT_VAL_BOOL);
    assert_true(v->u.b);
    v = ft_attrs_get(at, "double");
    assert_int_equal(v->type, FT_VAL_DOUBLE);
    assert_true(v->u.d == -2.5);
    assert_true(ft_attrs_get(at, "double-int")->u.d == 3.0);
    assert_true(ft_attrs_get(at, "double-str")->u.d == 1e-3);
    assert_true(isnan(ft_attrs_get(at, "nan")->u.d));
    assert_true(isinf(ft_attrs_get(at, "inf")->u.d) && ft_attrs_get(at, "inf")->u.d > 0);
    assert_true(isinf(ft_attrs_get(at, "-inf")->u.d) && ft_attrs_get(at, "-inf")->u.d < 0);
    v = ft_attrs_get(at, "neg-zero");
    assert_true(v->u.d == 0.0 && signbit(v->u.d));
    static const struct {
        const char *key, *bytes;
        size_t n;
    } bytes[] = {{"bytes", "\x00\x01\xff", 3},
                 {"bytes-url", "\x00\x01\xff", 3},
                 {"bytes-unpadded", "\x00\x01", 2},
                 {"bytes-padded", "\x00", 1},
                 {"bytes-empty", "", 0}};
    for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
        v = ft_attrs_get(at, bytes[i].key);
        assert_int_equal(v->type, FT_VAL_BYTES);
        assert_int_equal(v->u.s.len, bytes[i].n);
        assert_memory_equal(v->u.s.ptr, bytes[i].bytes, bytes[i].n);
    }
    assert_int_equal(ft_attrs_get(at, "empty")->type, FT_VAL_EMPTY);

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

    v = ft_attrs_get(at, "empty-array");
    assert_int_equal(v->type, FT_VAL_ARRAY);
    assert_int_equal(v->u.array.n, 0);
    v = ft_attrs_get(at, "empty-kvlist");
    assert_int_equal(v->type, FT_VAL_KVLIST);
    assert_int_equal(v->u.kvlist.n, 0);
    v = ft_attrs_get(at, "k\xc3\xa9y");
    assert_non_null(v);
    assert_int_equal(v->type, FT_VAL_KVLIST);
    ft_attrs kl = {v->u.kvlist.items, v->u.kvlist.n};
    assert_true(ft_attrs_get(kl, "a")->u.d == 1.0);
    assert_int_equal(ft_attrs_get(kl, "b")->type, FT_VAL_KVLIST);
    assert_int_equal(ft_attrs_get(kl, "b")->u.kvlist.n, 0);
    ft_arena_destroy(a);

    /* values of the wrong kind */
#define ATTR(val) REQ_BEGIN SPAN(",'attributes':[{'key':'k','value':" val "}]") REQ_END
    expect_error(ATTR("{'bytesValue':'A'}"), false,
                 "AnyValue.bytesValue: invalid base64");
    expect_error(ATTR("{'bytesValue':'AAA=='}"), false, "invalid base64");
    expect_error(ATTR("{'bytesValue':'A==='}"), false, "invalid base64");
    expect_error(ATTR("{'bytesValue':'AA=A'}"), false, "invalid base64");
    expect_error(ATTR("{'bytesValue':'AA AA'}"), false, "invalid base64");
    expect_error(ATTR("{'bytesValue':5}"), false,
                 "AnyValue.bytesValue: expected a base64 string, got number");
    expect_error(ATTR("{'doubleValue':'nan'}"), false,
                 "AnyValue.doubleValue: the string value is not a number");
    expect_error(ATTR("{'doubleValue':'1e999'}"), false, "out of range for a double");
    expect_error(ATTR("{'doubleValue':true}"), false, "AnyValue.doubleValue: expected a number");
    expect_error(ATTR("{'boolValue':'true'}"), false,
                 "AnyValue.boolValue: expected true or false, got string");
    expect_error(ATTR("{'stringValue':1}"), false,
                 "AnyValue.stringValue: expected a string, got number (at "
                 "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.stringValue)");
    expect_error(ATTR("'v'"), false, "AnyValue: expected an object, got string");
    expect_error(ATTR("{'arrayValue':[]}"), false, "ArrayValue: expected an object, got array");
    expect_error(ATTR("{'arrayValue':{'values':{}}}"), false,
                 "ArrayValue.values: expected an array, got object");
    expect_error(ATTR("{'arrayValue':{'values':[null]}}"), false,
                 "AnyValue: expected an object, got null (at resourceSpans[0]."
                 "scopeSpans[0].spans[0].attributes[0].value.arrayValue.values[0])");
    expect_error(ATTR("{'kvlistValue':{'values':[{'key':1}]}}"), false,
                 "KeyValue.key: expected a string, got number");
#undef ATTR
}

/* Enums as numbers or as their proto names. */
static void test_enums(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int kind;
    } kinds[] = {{"'SPAN_KIND_UNSPECIFIED'", 0}, {"'SPAN_KIND_INTERNAL'", 1},
                 {"'SPAN_KIND_SERVER'", 2},      {"'SPAN_KIND_CLIENT'", 3},
                 {"'SPAN_KIND_PRODUCER'", 4},    {"'SPAN_KIND_CONSUMER'", 5},
                 {"2", 2},                       {"'4'", 4},
                 {"99", 0},                      {"-1", 0},
                 {"'SPAN_KIND_BOGUS'", 0},       {"'server'", 0},
                 {"''", 0},                      {"3.0", 3}};
    ft_arena *a = ft_arena_create(0);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char q[1024];
        snprintf(q, sizeof q, REQ_BEGIN SPAN(",'kind':%s") REQ_END, kinds[i].json);
        ft_span_batch b = ok_traces(q, a);
        if ((int)b.spans[0].kind != kinds[i].kind)
            fail_msg("kind %s read as %d", kinds[i].json, (int)b.spans[0].kind);
    }
    static const struct {
        const char *json;
        int code;
    } codes[] = {{"'STATUS_CODE_UNSET'", 0}, {"'STATUS_CODE_OK'", 1},
                 {"'STATUS_CODE_ERROR'", 2}, {"1", 1}, {"7", 0}, {"'NOPE'", 0}};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char q[1024];
        snprintf(q, sizeof q, REQ_BEGIN SPAN(",'status':{'code':%s}") REQ_END,
                 codes[i].json);
        ft_span_batch b = ok_traces(q, a);
        if ((int)b.spans[0].status_code != codes[i].code)
            fail_msg("code %s read as %d", codes[i].json, (int)b.spans[0].status_code);
    }
    ft_arena_destroy(a);
    expect_error(REQ_BEGIN SPAN(",'kind':true") REQ_END, false,
                 "Span.kind: expected an enum number or name, got boolean (at "
                 "resourceSpans[0].scopeSpans[0].spans[0].kind)");
    expect_error(REQ_BEGIN SPAN(",'kind':2147483648") REQ_END, false,
                 "Span.kind: value out of range for an enum (int32)");
    expect_error(REQ_BEGIN SPAN(",'kind':2.5") REQ_END, false,
                 "Span.kind: the number is not an integer");
    expect_error(REQ_BEGIN SPAN(",'status':{'code':[]}") REQ_END, false,
                 "Status.code: expected an enum number or name, got array");
}

/* Strings are copied: the result outlives the body, escapes are resolved
 * and the strings live in the arena. */
static void test_strings_copied(void **state)
{
    (void)state;
    const char *q = REQ_BEGIN SPAN(",'name':'caf\\u00e9 \\\"bar\\\"'") REQ_END;
    size_t len;
    uint8_t *body = body_of(q, &len);
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    assert_int_equal(ft_otlp_decode_traces_json(body, len, a, &b, NULL), FT_OK);
    const ft_span *s = &b.spans[0];
    /* not a slice of the body */
    assert_false((const uint8_t *)s->name.ptr >= body &&
                 (const uint8_t *)s->name.ptr < body + len);
    memset(body, 'x', len);
    free(body);
    assert_true(str_is(s->name, "caf\xc3\xa9 \"bar\""));
    assert_true(str_is(s->scope->name, "test-scope"));
    assert_true(str_is(ft_attrs_get(s->resource->attrs, "service.name")->u.s, "svc"));
    ft_arena_destroy(a);
}

/* A span whose one attribute is `levels` AnyValues nested through arrays
 * (odd levels) and kvlists (even levels). */
static char *build_nested(int levels)
{
    ft_buf b = {0};
    ft_buf_puts(&b, REQ_BEGIN "{'traceId':'" TID "','spanId':'" SID "',"
                    "'attributes':[{'key':'deep','value':");
    for (int i = 1; i < levels; i++)
        ft_buf_puts(&b, i % 2 ? "{'arrayValue':{'values':["
                              : "{'kvlistValue':{'values':[{'key':'k','value':");
    ft_buf_puts(&b, "{'stringValue':'bottom'}");
    for (int i = levels - 1; i >= 1; i--)
        ft_buf_puts(&b, i % 2 ? "]}}" : "}]}}");
    ft_buf_puts(&b, "}]}" REQ_END);
    ft_buf_putc(&b, '\0');
    assert_true(ft_buf_ok(&b));
    return b.ptr; /* ft_buf memory: ft_free */
}

static void test_nesting_limit(void **state)
{
    (void)state;
    ft_arena *a = ft_arena_create(0);
    char *q = build_nested(32);
    ft_span_batch b = ok_traces(q, a);
    const ft_value *v = ft_attrs_get(b.spans[0].attrs, "deep");
    for (int i = 1; i < 32; i++)
        v = i % 2 ? &v->u.array.items[0] : &v->u.kvlist.items[0].value;
    assert_int_equal(v->type, FT_VAL_STRING);
    assert_true(str_is(v->u.s, "bottom"));
    ft_free(q);

    q = build_nested(33);
    expect_error(q, false, "AnyValue: values nested deeper than 32 levels");
    ft_free(q);
    q = build_nested(500);
    expect_error(q, false, "nested deeper than 32 levels");
    ft_free(q);
    ft_arena_destroy(a);

    /* past jansson's own limit (2048 levels), in an unknown field */
    ft_buf deep = {0};
    ft_buf_puts(&deep, "{'x':");
    for (int i = 0; i < 5000; i++)
        ft_buf_putc(&deep, '[');
    for (int i = 0; i < 5000; i++)
        ft_buf_putc(&deep, ']');
    ft_buf_puts(&deep, "}");
    ft_buf_putc(&deep, '\0');
    assert_true(ft_buf_ok(&deep));
    expect_error(deep.ptr, false, "maximum parsing depth");
    ft_buf_free(&deep);
}

/* Invalid JSON and wrong types fail the whole request, naming the place. */
static void test_json_errors(void **state)
{
    (void)state;
    expect_error("", false, "invalid JSON at line 1, column 0");
    expect_error("{", false, "invalid JSON at line 1");
    expect_error("{'resourceSpans':[]}\n  x", false, "invalid JSON at line 2, column 3");
    expect_error("{'resourceSpans':[]\n,}", false, "invalid JSON at line 2");
    expect_error("{'a':'\xff'}", false, "invalid JSON");
    expect_error("{'a\\u0000':1}", false, "invalid JSON");
    expect_error("{'a':01}", false, "invalid JSON");
    expect_error("[]", false,
                 "ExportTraceServiceRequest: expected an object, got array (at the top level)");
    expect_error("[]", true,
                 "ExportLogsServiceRequest: expected an object, got array (at the top level)");
    expect_error("{'resourceSpans':5}", false,
                 "ExportTraceServiceRequest.resourceSpans: expected an array, "
                 "got number (at resourceSpans)");
    expect_error("{'resource_spans':{}}", false,
                 "ExportTraceServiceRequest.resourceSpans: expected an array, "
                 "got object (at resource_spans)");
    expect_error("{'resourceSpans':[5]}", false,
                 "ResourceSpans: expected an object, got number (at resourceSpans[0])");
    expect_error("{'resourceSpans':[{},{'resource':[]}]}", false,
                 "Resource: expected an object, got array (at resourceSpans[1].resource)");
    expect_error("{'resourceSpans':[{'schemaUrl':1}]}", false,
                 "ResourceSpans.schemaUrl: expected a string, got number");
    expect_error("{'resourceSpans':[{'resource':{'attributes':{}}}]}", false,
                 "Resource.attributes: expected an array, got object");
    expect_error("{'resourceSpans':[{'resource':{'droppedAttributesCount':'x'}}]}",
                 false, "Resource.droppedAttributesCount: the string is not an integer");
    expect_error("{'resourceSpans':[{'scopeSpans':5}]}", false,
                 "ResourceSpans.scopeSpans: expected an array, got number");
    expect_error("{'resourceSpans':[{'scopeSpans':[{'spans':5}]}]}", false,
                 "ScopeSpans.spans: expected an array, got number (at "
                 "resourceSpans[0].scopeSpans[0].spans)");
    expect_error("{'resourceSpans':[{'scopeSpans':[{'scope':{'name':1}}]}]}", false,
                 "InstrumentationScope.name: expected a string, got number");
    expect_error("{'resourceSpans':[{'scopeSpans':[{'scope':{'version':[]}}]}]}", false,
                 "InstrumentationScope.version");
    expect_error(REQ_BEGIN SPAN("") ",7" REQ_END, false,
                 "Span: expected an object, got number (at "
                 "resourceSpans[0].scopeSpans[0].spans[1])");
    expect_error(REQ_BEGIN SPAN(",'name':5") REQ_END, false,
                 "Span.name: expected a string, got number (at "
                 "resourceSpans[0].scopeSpans[0].spans[0].name)");
    expect_error(REQ_BEGIN "{'traceId':5}" REQ_END, false,
                 "Span.traceId: expected a hex string, got number");
    expect_error(REQ_BEGIN "{'trace_id':true}" REQ_END, false,
                 "Span.traceId: expected a hex string, got boolean (at "
                 "resourceSpans[0].scopeSpans[0].spans[0].trace_id)");
    expect_error(REQ_BEGIN SPAN(",'parentSpanId':{}") REQ_END, false, "Span.parentSpanId");
    expect_error(REQ_BEGIN SPAN(",'traceState':1") REQ_END, false, "Span.traceState");
    expect_error(REQ_BEGIN SPAN(",'events':{}") REQ_END, false,
                 "Span.events: expected an array, got object");
    expect_error(REQ_BEGIN SPAN(",'events':[[]]") REQ_END, false,
                 "Span.Event: expected an object, got array (at "
                 "resourceSpans[0].scopeSpans[0].spans[0].events[0])");
    expect_error(REQ_BEGIN SPAN(",'events':[{'name':1}]") REQ_END, false,
                 "Span.Event.name");
    expect_error(REQ_BEGIN SPAN(",'events':[{'attributes':[5]}]") REQ_END, false,
                 "KeyValue: expected an object, got number (at resourceSpans[0]."
                 "scopeSpans[0].spans[0].events[0].attributes[0])");
    expect_error(REQ_BEGIN SPAN(",'links':[{'traceId':1}]") REQ_END, false,
                 "Span.Link.traceId: expected a hex string");
    expect_error(REQ_BEGIN SPAN(",'links':[{'flags':'x'}]") REQ_END, false,
                 "Span.Link.flags");
    expect_error(REQ_BEGIN SPAN(",'status':'ok'") REQ_END, false,
                 "Status: expected an object, got string");
    expect_error(REQ_BEGIN SPAN(",'status':{'message':false}") REQ_END, false,
                 "Status.message: expected a string, got boolean");
    expect_error(REQ_BEGIN SPAN(",'attributes':[{'key':'k','value':'v'}]") REQ_END,
                 false, "AnyValue: expected an object, got string (at "
                        "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value)");
    /* an error inside a span that is rejected anyway still fails */
    expect_error(REQ_BEGIN "{'traceId':'" ZTID "','status':{'code':true}}" REQ_END,
                 false, "Status.code");
    /* the logs envelope */
    expect_error("{'resourceLogs':[{'scopeLogs':[{'logRecords':{}}]}]}", true,
                 "ScopeLogs.logRecords: expected an array, got object (at "
                 "resourceLogs[0].scopeLogs[0].logRecords)");
    expect_error("{'resourceLogs':[{'scopeLogs':7}]}", true,
                 "ResourceLogs.scopeLogs: expected an array");
}

static void test_logs_decode(void **state)
{
    (void)state;
    const char *q =
        "{'resourceLogs':[{'resource':{'attributes':[{'key':'service.name',"
        "'value':{'stringValue':'fedify-a'}}]},'schemaUrl':'https://res.schema',"
        "'scopeLogs':[{'scope':{'name':'fedify','version':'2.3.6'},'logRecords':["
        "{'timeUnixNano':'1700000000000000001','observedTimeUnixNano':1700000000000000002,"
        "'severityNumber':'SEVERITY_NUMBER_ERROR','severityText':'ERROR',"
        "'body':{'kvlistValue':{'values':[{'key':'msg','value':{'stringValue':"
        "'delivery failed'}}]}},"
        "'attributes':[{'key':'activitypub.activity.id','value':{'stringValue':"
        "'https://a.example/1'}}],'droppedAttributesCount':2,'flags':1,"
        "'traceId':'" TID "','spanId':'" SID "','eventName':'fedify.delivery.failed',"
        "'unknown':{'x':1}},"
        "{'body':{'stringValue':'no context'}},"
        "{'body':{'stringValue':'zero context'},'traceId':'" ZTID "','spanId':'" ZSID "'},"
        "{'body':{'stringValue':'bad trace'},'traceId':'" SID "'},"
        "{'body':{'stringValue':'bad span'},'traceId':'" TID "','spanId':'abc'},"
        "{'body':{'stringValue':'non-hex trace'},'traceId':'4bf92f3577b34da6a3ce929d0e0e473z'},"
        "{'body':{'stringValue':'trace only'},'traceId':'" TID "','spanId':''},"
        "{'body':{'stringValue':'empty ids'},'trace_id':'','span_id':null},"
        "{'severityNumber':-1},"
        "{'severity_number':'SEVERITY_NUMBER_INFO4','severity_text':'I',"
        "'event_name':'e','time_unix_nano':'5','observed_time_unix_nano':6,"
        "'dropped_attributes_count':'7'},"
        "{'severityNumber':'SEVERITY_NUMBER_SOMETHING'}]}]}]}";
    ft_arena *a = ft_arena_create(0);
    ft_log_batch b;
    ft_err err = {0};
    ft_code rc = dec_logs(q, a, &b, &err);
    if (rc != FT_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(b.n, 8);
    assert_int_equal(b.rejected, 3);
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
    assert_memory_equal(l->trace_id, TID_B, 16);
    assert_memory_equal(l->span_id, SID_B, 8);
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
    assert_memory_equal(l->span_id, ZERO, 8);
    l = &b.logs[4];
    assert_true(str_is(l->body.u.s, "empty ids"));
    assert_false(l->has_trace_id);
    assert_false(l->has_span_id);
    l = &b.logs[5];
    assert_int_equal(l->severity_number, -1);
    assert_int_equal(l->body.type, FT_VAL_EMPTY);
    assert_true(str_is(l->event_name, ""));
    assert_non_null(l->event_name.ptr);
    assert_non_null(l->severity_text.ptr);
    l = &b.logs[6];
    assert_int_equal(l->severity_number, 12);
    assert_true(str_is(l->severity_text, "I"));
    assert_true(str_is(l->event_name, "e"));
    assert_int_equal(l->time_ns, 5);
    assert_int_equal(l->observed_ns, 6);
    assert_int_equal(l->dropped_attrs, 7);
    assert_int_equal(b.logs[7].severity_number, 0);
    for (size_t i = 0; i < b.n; i++) {
        assert_ptr_equal(b.logs[i].resource, b.logs[0].resource);
        assert_ptr_equal(b.logs[i].scope, b.logs[0].scope);
    }

    /* the second reason */
    ft_arena_reset(a);
    assert_int_equal(dec_logs(LOGS_BEGIN "{'spanId':'00'}" LOGS_END, a, &b, &err), FT_OK);
    assert_int_equal(b.rejected, 1);
    assert_true(str_is(b.reject_reason, "log record span_id is neither empty nor 8 bytes"));

    /* errors in logs are named too */
    expect_error(LOGS_BEGIN "{'eventName':3}" LOGS_END, true,
                 "LogRecord.eventName: expected a string, got number (at "
                 "resourceLogs[0].scopeLogs[0].logRecords[0].eventName)");
    expect_error(LOGS_BEGIN "{'severityNumber':2147483648}" LOGS_END, true,
                 "LogRecord.severityNumber: value out of range");
    expect_error(LOGS_BEGIN "{'severityNumber':{}}" LOGS_END, true,
                 "LogRecord.severityNumber: expected an enum number or name");
    expect_error(LOGS_BEGIN "{'body':'text'}" LOGS_END, true,
                 "AnyValue: expected an object, got string (at "
                 "resourceLogs[0].scopeLogs[0].logRecords[0].body)");
    expect_error(LOGS_BEGIN "{'spanId':7}" LOGS_END, true, "LogRecord.spanId");
    expect_error(LOGS_BEGIN "{'observedTimeUnixNano':'x'}" LOGS_END, true,
                 "LogRecord.observedTimeUnixNano");
    expect_error(LOGS_BEGIN "{'flags':[]}" LOGS_END, true, "LogRecord.flags");

    /* nesting through the body counts from the body */
    ft_buf nb = {0};
    ft_buf_puts(&nb, LOGS_BEGIN "{'body':");
    for (int i = 1; i < 33; i++)
        ft_buf_puts(&nb, "{'arrayValue':{'values':[");
    ft_buf_puts(&nb, "{}");
    for (int i = 1; i < 33; i++)
        ft_buf_puts(&nb, "]}}");
    ft_buf_puts(&nb, "}" LOGS_END);
    ft_buf_putc(&nb, '\0');
    assert_true(ft_buf_ok(&nb));
    expect_error(nb.ptr, true, "values nested deeper than 32 levels");
    ft_buf_free(&nb);

    ft_arena_destroy(a);
}

/* Arena exhaustion is FT_NOMEM, at whatever point it happens. */
static void test_arena_exhaustion(void **state)
{
    (void)state;
    size_t len;
    uint8_t *body = json_fixture(2, 0, &len);
    ft_span_batch b;
    ft_err err = {0};

    ft_arena *a = ft_arena_create(64);
    assert_int_equal(ft_otlp_decode_traces_json(body, len, a, &b, &err), FT_NOMEM);
    assert_int_equal(err.code, FT_NOMEM);
    /* the tree estimate refuses it before jansson parses anything */
    assert_non_null(strstr(err.msg, "more than a request may use"));
    assert_int_equal(b.n, 0);
    ft_arena_destroy(a);

    /* find what it needs, then try caps below and above that in steps */
    a = ft_arena_create(0);
    assert_int_equal(ft_otlp_decode_traces_json(body, len, a, &b, NULL), FT_OK);
    size_t need = ft_arena_used(a);
    ft_arena_destroy(a);
    /* the cap must cover both the decoded batch and (checked up front)
     * jansson's tree: below the threshold FT_NOMEM, from it on FT_OK */
    size_t nomem = 0, first_ok = 0;
    size_t top = need > len * 16 ? need * 2 : len * 32;
    for (size_t cap = 16; cap < top; cap += cap < 4096 ? 176 : cap / 16) {
        a = ft_arena_create(cap);
        ft_code rc = ft_otlp_decode_traces_json(body, len, a, &b, &err);
        if (rc == FT_OK) {
            if (first_ok == 0)
                first_ok = cap;
        } else {
            if (rc != FT_NOMEM || first_ok != 0)
                fail_msg("cap %zu (first success at %zu): %s", cap, first_ok,
                         ft_code_name(rc));
            assert_true(strstr(err.msg, "arena exhausted") != NULL ||
                        strstr(err.msg, "more than a request may use") != NULL);
            nomem++;
        }
        ft_arena_destroy(a);
    }
    assert_true(nomem > 0);
    assert_true(first_ok >= need);

    /* the allocator itself refusing, block by block (jansson's own
     * allocations do not go through it) */
    for (long k = 0; k < 8; k++) {
        a = ft_arena_create(0);
        assert_non_null(a);
        ft_alloc_fail_after(k);
        ft_code rc = ft_otlp_decode_traces_json(body, len, a, &b, &err);
        ft_alloc_fail_after(-1);
        assert_true(rc == FT_OK || rc == FT_NOMEM);
        ft_arena_destroy(a);
    }
    free(body);

    /* logs too */
    a = ft_arena_create(32);
    ft_log_batch lb;
    assert_int_equal(dec_logs(LOGS_BEGIN "{'body':{'stringValue':'x'}}" LOGS_END, a,
                              &lb, &err),
                     FT_NOMEM);
    ft_arena_destroy(a);
}

/* Every prefix of a real request fails with FT_DECODE (a JSON object is
 * not complete before its last byte), and changing one byte at a time
 * never does worse than FT_DECODE. */
static void test_fixture_prefixes_and_mutations(void **state)
{
    (void)state;
    size_t len;
    uint8_t *body = json_fixture(6, 0, &len);
    ft_arena *a = ft_arena_create(0);
    for (size_t n = 0; n < len; n += n < 512 ? 1 : 7) {
        uint8_t *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, body, n);
        ft_span_batch b;
        ft_err err = {0};
        ft_code rc = ft_otlp_decode_traces_json(copy, n, a, &b, &err);
        if (rc != FT_DECODE)
            fail_msg("prefix %zu: %s", n, ft_code_name(rc));
        assert_non_null(strstr(err.msg, "OTLP JSON: invalid JSON"));
        free(copy);
        ft_arena_reset(a);
    }

    static const uint8_t subst[] = {'"', '0', '{', 0x80};
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    size_t ok = 0, bad = 0, rejected = 0;
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t m = 0; m < sizeof subst; m++) {
            memcpy(copy, body, len);
            if (copy[pos] == subst[m])
                continue;
            copy[pos] = subst[m];
            ft_span_batch b;
            ft_err err = {0};
            ft_code rc = ft_otlp_decode_traces_json(copy, len, a, &b, &err);
            if (rc == FT_OK) {
                ok++;
                rejected += b.rejected;
                for (size_t i = 0; i < b.n; i++) {
                    assert_non_null(b.spans[i].resource);
                    assert_non_null(b.spans[i].scope);
                }
            } else if (rc == FT_DECODE) {
                assert_true(err.msg[0] != '\0');
                bad++;
            } else {
                fail_msg("byte %zu = 0x%02x: %s: %s", pos, subst[m],
                         ft_code_name(rc), err.msg);
            }
            ft_arena_reset(a);
        }
    }
    /* both outcomes happen, and some ids get broken without breaking the
     * syntax */
    assert_true(ok > 0 && bad > 0 && rejected > 0);
    free(copy);
    ft_arena_destroy(a);
    free(body);
}

/* Each decoder, fed the other's request, sees a request with nothing in it. */
static void test_cross_feeding(void **state)
{
    (void)state;
    size_t len;
    uint8_t *body = json_fixture(8, 0, &len);
    ft_arena *a = ft_arena_create(0);
    ft_log_batch lb;
    assert_int_equal(ft_otlp_decode_logs_json(body, len, a, &lb, NULL), FT_OK);
    assert_int_equal(lb.n, 0);
    ft_span_batch b;
    assert_int_equal(dec_traces(LOGS_BEGIN "{}" LOGS_END, a, &b, NULL), FT_OK);
    assert_int_equal(b.n, 0);
    ft_arena_destroy(a);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_equivalence),
        cmocka_unit_test(test_logs_equivalence),
        cmocka_unit_test(test_empty_and_arguments),
        cmocka_unit_test(test_all_span_fields),
        cmocka_unit_test(test_proto_field_names),
        cmocka_unit_test(test_repeated_fields),
        cmocka_unit_test(test_invalid_ids_rejected),
        cmocka_unit_test(test_resource_scope_grouping),
        cmocka_unit_test(test_unknown_fields_and_nulls),
        cmocka_unit_test(test_integer_forms),
        cmocka_unit_test(test_anyvalue_types),
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_strings_copied),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_logs_decode),
        cmocka_unit_test(test_arena_exhaustion),
        cmocka_unit_test(test_fixture_prefixes_and_mutations),
        cmocka_unit_test(test_cross_feeding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
