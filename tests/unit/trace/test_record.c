/*
 * test_record.c - Fedify's record rules on the cases the fixtures do not
 * show: missing or broken activity JSON, actor objects, attribute
 * precedence on outbound events, NUL bytes and invalid UTF-8, and the
 * activity JSON's shapes that its one-pass reading must get right
 * (escaped and repeated names, non-string types, text after the object).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "fedtrace/exporter.h"
#include "trace/trace_int.h"

static ft_attr str_attr(const char *k, ft_str v)
{
    ft_attr a = {ft_str_c(k), {FT_VAL_STRING, {.s = v}}};
    return a;
}

static ft_span base_span(ft_event *ev)
{
    ft_span sp;
    memset(&sp, 0, sizeof sp);
    sp.trace_id[0] = 1;
    sp.span_id[0] = 2;
    sp.events = ev;
    sp.n_events = 1;
    return sp;
}

/* The record for one event, parsed; NULL when there is none. */
static json_t *record_of(const char *event, ft_attr *attrs, size_t n)
{
    ft_event ev = {1795302980631941920ull, ft_str_c(event), {attrs, n}, 0};
    ft_span sp = base_span(&ev);
    ft_buf b = {0};
    bool made = ft__activity_record_json(&sp, &ev, &b);
    json_t *j = NULL;
    if (made) {
        json_error_t je;
        j = json_loadb(b.ptr, b.len, JSON_ALLOW_NUL, &je);
        if (j == NULL)
            fail_msg("record is not JSON: %s: %.*s", je.text, (int)b.len, b.ptr);
    }
    ft_buf_free(&b);
    return j;
}

static const char *s(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void test_inbound_needs_json(void **st)
{
    (void)st;
    ft_attr a[] = {str_attr("activitypub.activity.id", FT_STR_LIT("https://x/1"))};
    assert_null(record_of("activitypub.activity.received", a, 1));
    assert_null(record_of("activitypub.object.fetched", a, 1));
}

static void test_inbound_broken_json(void **st)
{
    (void)st;
    ft_attr a[] = {str_attr("activitypub.activity.json", FT_STR_LIT("{not json"))};
    json_t *r = record_of("activitypub.activity.received", a, 1);
    assert_non_null(r);
    assert_string_equal(s(r, "activityType"), "Unknown");
    assert_null(json_object_get(r, "activityId"));
    assert_null(json_object_get(r, "actorId"));
    assert_string_equal(s(r, "activityJson"), "{not json");
    assert_null(json_object_get(r, "signatureDetails"));
    assert_null(json_object_get(r, "verified"));
    assert_string_equal(s(r, "timestamp"), "2026-11-21T23:16:20.631Z");
    assert_null(json_object_get(r, "parentSpanId"));
    json_decref(r);
}

static void test_inbound_actor_object_and_signatures(void **st)
{
    (void)st;
    ft_attr a[] = {
        str_attr("activitypub.activity.json",
                 FT_STR_LIT("{\"type\":\"Announce\",\"id\":null,\"actor\":{\"id\":\"https://x/u\"}}")),
        str_attr("http_signatures.failure_reason", FT_STR_LIT("keyFetchError")),
        str_attr("http_signatures.key_fetch_error", FT_STR_LIT("TypeError")),
        str_attr("http_signatures.key_id", FT_STR_LIT("")),
    };
    json_t *r = record_of("activitypub.activity.received", a, 4);
    assert_string_equal(s(r, "activityType"), "Announce");
    assert_true(json_is_null(json_object_get(r, "activityId"))); /* as Fedify: id null stays null */
    assert_string_equal(s(r, "actorId"), "https://x/u");
    json_t *sd = json_object_get(r, "signatureDetails");
    assert_non_null(sd); /* a failure reason alone is enough */
    assert_true(json_is_false(json_object_get(sd, "httpSignaturesVerified")));
    assert_null(json_object_get(sd, "httpSignaturesKeyId")); /* empty is left out */
    assert_string_equal(s(sd, "httpSignaturesKeyFetchError"), "TypeError");
    json_decref(r);
}

static void test_outbound_precedence(void **st)
{
    (void)st;
    ft_attr a[] = {
        str_attr("activitypub.activity.json",
                 FT_STR_LIT("{\"type\":\"Create\",\"id\":\"https://json/id\",\"actor\":\"https://json/actor\"}")),
        str_attr("activitypub.activity.type", FT_STR_LIT("https://www.w3.org/ns/activitystreams#Create")),
        str_attr("activitypub.activity.id", FT_STR_LIT("https://attr/id")),
        str_attr("activitypub.actor.id", FT_STR_LIT("https://attr/actor")),
    };
    json_t *r = record_of("activitypub.activity.sent", a, 4);
    assert_string_equal(s(r, "direction"), "outbound");
    /* the attribute wins for type and actor, the JSON for the id */
    assert_string_equal(s(r, "activityType"), "https://www.w3.org/ns/activitystreams#Create");
    assert_string_equal(s(r, "activityId"), "https://json/id");
    assert_string_equal(s(r, "actorId"), "https://attr/actor");
    assert_non_null(s(r, "activityJson"));
    assert_null(json_object_get(r, "inboxUrl"));
    json_decref(r);
    /* no JSON and no type: Unknown, and no activityJson field at all */
    ft_attr b[] = {str_attr("activitypub.inbox.url", FT_STR_LIT("https://b/inbox"))};
    r = record_of("activitypub.activity.sent", b, 1);
    assert_string_equal(s(r, "activityType"), "Unknown");
    assert_null(json_object_get(r, "activityJson"));
    assert_string_equal(s(r, "inboxUrl"), "https://b/inbox");
    json_decref(r);
}

/* Remote servers choose these bytes: NUL and invalid UTF-8 must still give
 * valid JSON that the exporter can read back and count. */
static void test_hostile_bytes_roundtrip(void **st)
{
    (void)st;
    static const char js[] = "{\"type\":\"No\\u0000te\",\"content\":\"\x80\xff\",\"actor\":\"a\"}\0tail";
    ft_attr a[] = {str_attr("activitypub.activity.json", (ft_str){js, sizeof js - 1})};
    json_t *r = record_of("activitypub.activity.received", a, 1);
    assert_non_null(r);
    json_decref(r);
    ft_kv *kv;
    ft_exporter *ex;
    assert_int_equal(ft_kv_open("memory:", &kv, NULL), FT_OK);
    assert_int_equal(ft_exporter_create(kv, NULL, &ex, NULL), FT_OK);
    ft_event ev = {1795302980631941920ull, FT_STR_LIT("activitypub.activity.received"), {a, 1}, 0};
    ft_span sp = base_span(&ev);
    ft_span_batch batch = {&sp, 1, 0, {NULL, 0}};
    assert_int_equal(ft_exporter_export_spans(ex, &batch, NULL, NULL), FT_OK);
    ft_arena *ar = ft_arena_create(0);
    ft_trace_summary *sum;
    size_t n;
    assert_int_equal(ft_exporter_recent_traces(ex, NULL, ar, &sum, &n, NULL, NULL), FT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sum[0].activity_count, 1);
    ft_arena_destroy(ar);
    ft_exporter_destroy(ex);
    ft_kv_close(kv);
}

/* The activity JSON is read in one pass without a tree: the answers must
 * be JSON.parse's. */
static void test_activity_json_shapes(void **st)
{
    (void)st;
    static const struct {
        const char *json, *type, *id, *actor; /* NULL: member absent */
    } cases[] = {
        /* escaped names and values; a repeated name: the last wins */
        {"{\"t\\u0079pe\":\"Cre\\u0061te\",\"id\":\"https://a.example/1\",\"id\":\"https://a.example/2\"}",
         "Create", "https://a.example/2", NULL},
        /* actor as an object, after kilobytes of nested content */
        {"{\"object\":{\"content\":[{\"x\":[1,2,{\"y\":\"}\"}]}],\"id\":\"https://o\"},"
         "\"actor\":{\"type\":\"Person\",\"id\":\"https://a.example/u\"},\"type\":\"Like\"}",
         "Like", NULL, "https://a.example/u"},
        /* a number jansson cannot hold is still JSON */
        {"{\"n\":1e999,\"big\":123456789012345678901234567890,\"type\":\"Undo\"}", "Undo", NULL, NULL},
        /* text after the object: not JSON, nothing read */
        {"{\"type\":\"Create\"} {}", "Unknown", NULL, NULL},
        /* a lone surrogate: not JSON */
        {"{\"type\":\"Create\",\"x\":\"\\ud800\"}", "Unknown", NULL, NULL},
        /* type null: Unknown; actor neither string nor object with a string id */
        {"{\"type\":null,\"actor\":{\"id\":7}}", "Unknown", NULL, NULL},
        /* a non-ASCII escape, written back as JSON.stringify writes it */
        {"{\"type\":\"\\u00e9\\n\\ud83d\\ude00\"}", "\xc3\xa9\n\xf0\x9f\x98\x80", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ft_attr a[] = {str_attr("activitypub.activity.json", ft_str_c(cases[i].json))};
        json_t *r = record_of("activitypub.activity.received", a, 1);
        assert_non_null(r);
        assert_string_equal(s(r, "activityType"), cases[i].type);
        if (cases[i].id)
            assert_string_equal(s(r, "activityId"), cases[i].id);
        else
            assert_null(json_object_get(r, "activityId"));
        if (cases[i].actor)
            assert_string_equal(s(r, "actorId"), cases[i].actor);
        else
            assert_null(json_object_get(r, "actorId"));
        assert_string_equal(s(r, "activityJson"), cases[i].json);
        json_decref(r);
    }
    /* a type that is not a string stays JSON (compact); a null id is kept */
    ft_attr a[] = {str_attr("activitypub.activity.json",
                            FT_STR_LIT("{ \"type\" : [ \"Create\" , 2.5 ] , \"id\" : null }"))};
    ft_event ev = {1795302980631941920ull, ft_str_c("activitypub.activity.received"), {a, 1}, 0};
    ft_span sp = base_span(&ev);
    ft_buf b = {0};
    assert_true(ft__activity_record_json(&sp, &ev, &b));
    assert_non_null(ft_memfind(b.ptr, b.len, "\"activityType\":[\"Create\",2.5],\"activityId\":null,",
                               strlen("\"activityType\":[\"Create\",2.5],\"activityId\":null,")));
    ft_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inbound_needs_json),
        cmocka_unit_test(test_inbound_broken_json),
        cmocka_unit_test(test_inbound_actor_object_and_signatures),
        cmocka_unit_test(test_outbound_precedence),
        cmocka_unit_test(test_hostile_bytes_roundtrip),
        cmocka_unit_test(test_activity_json_shapes),
    };
    return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
