/*
 * test_services.c - inferred services on spans shaped like Mastodon's Ruby
 * instrumentation, GoToSocial's and Fedify's (old and new semantic
 * conventions), statement normalization, and RED metrics / map / slow
 * queries counted from real Fedify spans and read back, with retries and
 * several counting nodes on one store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedtrace/exporter.h"
#include "fedtrace/otlp.h"
#include "fedtrace/services.h"
#include "ft_test_util.h"
#include "ft_tmp.h"

#define FIXTURES FT_TEST_DATA "/fedify-2.3.6"

/* ---- spans built by hand ---- */

#define S(k, v) {FT_STR_LIT(k), {.type = FT_VAL_STRING, .u.s = FT_STR_LIT(v)}}

static ft_peer infer(ft_span_kind kind, const char *name, ft_attr *attrs, size_t n,
                     bool show_ip)
{
    ft_span sp = {.kind = kind, .name = ft_str_c(name), .attrs = {attrs, n}};
    ft_infer_opts o = {show_ip};
    ft_peer p;
    bool got = ft_infer_peer(&sp, &o, &p);
    assert_int_equal(got, p.kind != FT_PEER_NONE);
    return p;
}

static void expect_peer(ft_peer p, ft_peer_kind kind, const char *name)
{
    if (p.kind != kind || strcmp(p.name, name) != 0)
        fail_msg("peer %s \"%s\", want %s \"%s\"", ft_peer_kind_name(p.kind), p.name,
                 ft_peer_kind_name(kind), name);
}

static void test_mastodon_spans(void **state)
{
    (void)state;
    /* pg: "SELECT mastodon", db.system + db.name + net.peer.name */
    ft_attr pg[] = {S("db.system", "postgresql"), S("db.name", "mastodon_production"),
                    S("db.statement", "SELECT 1"), S("net.peer.name", "db.internal")};
    ft_peer p = infer(FT_SPAN_KIND_CLIENT, "SELECT mastodon", pg, 4, false);
    expect_peer(p, FT_PEER_DATABASE, "mastodon_production");
    assert_string_equal(p.system, "postgresql");
    /* redis: a cache named by its host */
    ft_attr redis[] = {S("db.system", "redis"), S("net.peer.name", "redis.internal"),
                       S("db.statement", "GET x")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "GET", redis, 3, false), FT_PEER_CACHE,
                "redis.internal");
    /* http.rb delivering to a remote inbox: the remote instance */
    ft_attr post[] = {S("http.method", "POST"), S("http.url", "https://Remote.Example/users/b/inbox"),
                      S("net.peer.name", "remote.example")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "HTTP POST", post, 3, false), FT_PEER_INSTANCE,
                "remote.example");
    /* a shared inbox, no host attribute: the URL's host */
    ft_attr shared[] = {S("http.method", "POST"), S("http.url", "https://x.example:8443/inbox?a=1")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "HTTP POST", shared, 2, false), FT_PEER_INSTANCE,
                "x.example");
    /* fetching an actor is plain HTTP */
    ft_attr get[] = {S("http.method", "GET"), S("http.url", "https://remote.example/users/b")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "HTTP GET", get, 2, false), FT_PEER_HTTP,
                "remote.example");
    /* Sidekiq: publish to a queue, process from it */
    ft_attr pub[] = {S("messaging.system", "sidekiq"), S("messaging.destination", "default")};
    expect_peer(infer(FT_SPAN_KIND_PRODUCER, "PushUpdateWorker publish", pub, 2, false),
                FT_PEER_QUEUE, "default");
    expect_peer(infer(FT_SPAN_KIND_CONSUMER, "PushUpdateWorker process", pub, 2, false),
                FT_PEER_QUEUE, "default");
    ft_attr pub_nodest[] = {S("messaging.system", "sidekiq")};
    expect_peer(infer(FT_SPAN_KIND_PRODUCER, "X publish", pub_nodest, 1, false), FT_PEER_QUEUE,
                "sidekiq");
    /* a server span calls nothing; an internal span without db attributes neither */
    ft_span srv = {.kind = FT_SPAN_KIND_SERVER, .name = FT_STR_LIT("GET /"), .attrs = {post, 3}};
    ft_peer none;
    assert_false(ft_infer_peer(&srv, NULL, &none));
    assert_int_equal(none.kind, FT_PEER_NONE);
}

static void test_gotosocial_and_new_conventions(void **state)
{
    (void)state;
    /* GoToSocial's bun spans: only db.system, kind left INTERNAL */
    ft_attr bun[] = {S("db.system", "postgres"), S("db.statement", "SELECT * FROM accounts")};
    ft_peer p = infer(FT_SPAN_KIND_INTERNAL, "SELECT", bun, 2, false);
    expect_peer(p, FT_PEER_DATABASE, "postgres");
    ft_attr sqlite[] = {S("db.system", "sqlite")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "query", sqlite, 1, false), FT_PEER_DATABASE, "sqlite");
    /* new names: db.system.name, db.namespace, server.address, url.full */
    ft_attr neu[] = {S("db.system.name", "postgresql"), S("db.namespace", "gts")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "SELECT gts", neu, 2, false), FT_PEER_DATABASE, "gts");
    ft_attr host_only[] = {S("db.system.name", "mysql"), S("server.address", "DB.example")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "q", host_only, 2, false), FT_PEER_DATABASE,
                "db.example");
    ft_attr url[] = {S("http.request.method", "POST"), S("url.full", "https://b.example/inbox")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "POST", url, 2, false), FT_PEER_INSTANCE, "b.example");
    ft_attr mq[] = {S("messaging.system", "rabbitmq"), S("messaging.destination.name", "jobs")};
    expect_peer(infer(FT_SPAN_KIND_PRODUCER, "send", mq, 2, false), FT_PEER_QUEUE, "jobs");
    ft_attr rpc[] = {S("rpc.service", "Greeter"), S("server.address", "g.internal")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "Greet", rpc, 2, false), FT_PEER_RPC, "Greeter");
    /* peer.service and service.peer.name win over everything */
    ft_attr named[] = {S("db.system", "postgresql"), S("db.name", "x"), S("peer.service", "billing-db")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "q", named, 3, false), FT_PEER_SERVICE, "billing-db");
    ft_attr named2[] = {S("url.full", "https://h.example/"), S("service.peer.name", "h")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "GET", named2, 2, false), FT_PEER_SERVICE, "h");
    /* IP literals are masked unless asked otherwise */
    ft_attr ip[] = {S("url.full", "http://10.1.2.3:3000/x")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "GET", ip, 1, false), FT_PEER_HTTP, "ip-address");
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "GET", ip, 1, true), FT_PEER_HTTP, "10.1.2.3");
    ft_attr ip6[] = {S("url.full", "http://[2001:db8::1]:80/inbox"), S("http.method", "POST")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "POST", ip6, 2, false), FT_PEER_INSTANCE, "ip-address");
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "POST", ip6, 2, true), FT_PEER_INSTANCE, "2001:db8::1");
    /* Fedify's delivery span: the inbox is only in its event */
    ft_attr ev_attrs[] = {S("activitypub.inbox.url", "https://C.example/users/c/inbox")};
    ft_event ev = {.name = FT_STR_LIT("activitypub.activity.sent"), .attrs = {ev_attrs, 1}};
    ft_attr fed_attrs[] = {S("activitypub.activity.id", "https://a.example/1")};
    ft_span send = {.kind = FT_SPAN_KIND_CLIENT, .name = FT_STR_LIT("activitypub.send_activity"),
                    .attrs = {fed_attrs, 1}, .events = &ev, .n_events = 1};
    ft_peer fp;
    assert_true(ft_infer_peer(&send, NULL, &fp));
    expect_peer(fp, FT_PEER_INSTANCE, "c.example");
}

static void norm(const char *in, const char *want)
{
    char out[256];
    ft_sql_normalize(in, strlen(in), out, sizeof out);
    if (strcmp(out, want) != 0)
        fail_msg("normalize(%s) = \"%s\", want \"%s\"", in, out, want);
}

static void test_statements(void **state)
{
    (void)state;
    norm("SELECT \"a\".* FROM \"a\" WHERE \"a\".\"id\" = 42 LIMIT 1",
         "SELECT \"a\".* FROM \"a\" WHERE \"a\".\"id\" = ? LIMIT ?");
    norm("select * from t where name = 'O''Brien' and x = E'a\\'b'",
         "select * from t where name = ? and x = ?");
    norm("SELECT  *\n FROM t WHERE id IN (1, 2, 3,4)", "SELECT * FROM t WHERE id IN (?)");
    norm("UPDATE t SET v = $1 WHERE id = $2", "UPDATE t SET v = ? WHERE id = ?");
    norm("SELECT t2.c1, x9 FROM t2", "SELECT t2.c1, x9 FROM t2"); /* digits in names stay */
    norm("GET feed:home:123", "GET feed:home:?");
    norm("SELECT \"2fa_codes\".* FROM `t1` WHERE x = 3", "SELECT \"2fa_codes\".* FROM `t1` WHERE x = ?");
    norm("SELECT 1.5e3, -7", "SELECT ?, -?");
    norm("SELECT 'unterminated", "SELECT ?");
    /* cut to fit, never inside a UTF-8 sequence */
    char small[8];
    ft_sql_normalize("SELECT é", strlen("SELECT é"), small, sizeof small);
    assert_string_equal(small, "SELECT"); /* and no space before what did not fit */
    ft_sql_normalize("x", 1, small, 1);
    assert_string_equal(small, "");
}

/* ---- counting real Fedify spans ---- */

static char *tmp_root;
static unsigned seq;

typedef struct node {
    ft_kv *kv;
    ft_metrics *m;
    ft_exporter *ex;
} node;

static void node_open(node *n, const char *url)
{
    ft_err err = {0};
    if (ft_kv_open(url, &n->kv, &err) != FT_OK)
        fail_msg("%s: %s", url, err.msg);
    assert_int_equal(ft_metrics_create(NULL, 0, &n->m, &err), FT_OK);
    ft_exporter_opts o = {.metrics = n->m};
    assert_int_equal(ft_exporter_create(n->kv, &o, &n->ex, &err), FT_OK);
}

static void node_close(node *n)
{
    ft_err err = {0};
    assert_int_equal(ft_metrics_flush(n->m, n->kv, NULL, 0, ft_now_ms(), &err), FT_OK);
    ft_exporter_destroy(n->ex);
    ft_metrics_destroy(n->m);
    ft_kv_close(n->kv);
}

/* Exports fixture i through node n (as a collector would). */
static size_t export_fixture(node *n, int i)
{
    char path[512];
    snprintf(path, sizeof path, FIXTURES "/%04d-traces.pb", i);
    size_t len;
    uint8_t *body = ft_test_read_file(path, &len);
    assert_non_null(body);
    ft_arena *a = ft_arena_create(0);
    ft_span_batch b;
    ft_err err = {0};
    assert_int_equal(ft_otlp_decode_traces_pb(body, len, a, &b, &err), FT_OK);
    if (ft_exporter_export_spans(n->ex, &b, NULL, &err) != FT_OK)
        fail_msg("export: %s", err.msg);
    size_t spans = b.n;
    ft_arena_destroy(a);
    free(body);
    return spans;
}

static json_t *query(ft_kv *kv, ft_services_what what, const char *service)
{
    /* the fixtures were captured on 2026-11-21: a window around them */
    ft_services_query q = {.since_ms = 1795219200000, .until_ms = 1795392000000,
                           .service = service, .limit = 100};
    ft_arena *a = ft_arena_create(0);
    ft_str js;
    ft_err err = {0};
    ft_code rc = ft_services_json(kv, what, &q, a, &js, &err);
    if (rc != FT_OK)
        fail_msg("services query %d: %s", (int)what, err.msg);
    json_t *j = json_loadb(js.ptr, js.len, 0, NULL);
    assert_non_null(j);
    ft_arena_destroy(a);
    return j;
}

static json_t *find(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        const char *v = json_string_value(json_object_get(o, key));
        if (v != NULL && strcmp(v, value) == 0)
            return o;
    }
    return NULL;
}

/* What the reference says: spans per service that count as its requests
 * (server and consumer spans), and its error spans among them. */
static void expected_red(json_t *ref, const char *svc, long long *req, long long *err,
                         long long *all)
{
    *req = *err = *all = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(ref, "spans"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "service")), svc) != 0)
            continue;
        (*all)++;
        const char *k = json_string_value(json_object_get(s, "kind"));
        if (strcmp(k, "SERVER") == 0 || strcmp(k, "CONSUMER") == 0) {
            (*req)++;
            *err += strcmp(json_string_value(json_object_get(s, "status")), "ERROR") == 0;
        }
    }
}

static void check_fedify_red(ft_kv *kv, json_t *ref)
{
    json_t *doc = query(kv, FT_Q_SERVICES, NULL);
    json_t *svcs = json_object_get(doc, "services");
    const char *names[] = {"fedify-a", "fedify-b"};
    for (int i = 0; i < 2; i++) {
        json_t *s = find(svcs, "name", names[i]);
        assert_non_null(s);
        long long req, err, all;
        expected_red(ref, names[i], &req, &err, &all);
        assert_true(req > 0);
        assert_string_equal(json_string_value(json_object_get(s, "kind")), "instrumented");
        if (json_integer_value(json_object_get(s, "requests")) != req ||
            json_integer_value(json_object_get(s, "errors")) != err)
            fail_msg("%s: %lld requests / %lld errors, want %lld / %lld", names[i],
                     (long long)json_integer_value(json_object_get(s, "requests")),
                     (long long)json_integer_value(json_object_get(s, "errors")), req, err);
        /* every span is in some operation of the service */
        json_t *detail = query(kv, FT_Q_SERVICE, names[i]);
        long long ops = 0;
        size_t k;
        json_t *o;
        json_array_foreach(json_object_get(detail, "operations"), k, o)
            ops += json_integer_value(json_object_get(o, "requests"));
        assert_int_equal(ops, all);
        json_decref(detail);
    }
    /* deliveries between the two servers go to 127.0.0.1: masked */
    json_t *ip = find(svcs, "name", "ip-address");
    assert_non_null(ip);
    assert_string_equal(json_string_value(json_object_get(ip, "kind")), "instance");
    json_decref(doc);
}

static void test_fedify_red_once(void **state)
{
    (void)state;
    json_t *ref = json_load_file(FIXTURES "/reference.json", 0, NULL);
    char url[600];
    snprintf(url, sizeof url, "lmdb:%s/s%u", tmp_root, ++seq);
    node n;
    node_open(&n, url);
    for (int i = 1; i <= 8; i++)
        export_fixture(&n, i);
    /* retries of every request: nothing is counted twice */
    for (int i = 1; i <= 8; i++)
        export_fixture(&n, i);
    node_close(&n);
    ft_kv *kv;
    assert_int_equal(ft_kv_open(url, &kv, NULL), FT_OK);
    check_fedify_red(kv, ref);
    ft_kv_close(kv);
    json_decref(ref);
}

/* One process, three exporters (a server's workers) sharing one counter
 * on one store: requests dealt across them, one retried through another,
 * are counted exactly once.  (Nodes on a shared store: integration_services.) */
static void test_workers_one_counter(void **state)
{
    (void)state;
    json_t *ref = json_load_file(FIXTURES "/reference.json", 0, NULL);
    char url[600];
    snprintf(url, sizeof url, "memory:services%u", ++seq);
    node n[3];
    node_open(&n[0], url);
    for (int i = 1; i < 3; i++) {
        ft_err err = {0};
        assert_int_equal(ft_kv_open(url, &n[i].kv, &err), FT_OK);
        n[i].m = n[0].m;
        ft_exporter_opts o = {.metrics = n[0].m};
        assert_int_equal(ft_exporter_create(n[i].kv, &o, &n[i].ex, &err), FT_OK);
    }
    size_t spans = 0;
    for (int i = 1; i <= 8; i++)
        spans += export_fixture(&n[i % 3], i);
    export_fixture(&n[1], 3); /* a retry through another worker */
    ft_kv *kv; /* open before the workers close: a memory store lives while used */
    assert_int_equal(ft_kv_open(url, &kv, NULL), FT_OK);
    for (int i = 2; i >= 1; i--) {
        ft_exporter_destroy(n[i].ex);
        ft_kv_close(n[i].kv);
    }
    node_close(&n[0]);
    check_fedify_red(kv, ref);
    /* the sum over the instrumented services' operations is every span once */
    json_t *doc = query(kv, FT_Q_SERVICES, NULL);
    json_t *svcs = json_object_get(doc, "services");
    long long total = 0;
    size_t i;
    json_t *s;
    json_array_foreach(svcs, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "kind")), "instrumented") != 0)
            continue;
        json_t *d = query(kv, FT_Q_SERVICE, json_string_value(json_object_get(s, "name")));
        size_t k;
        json_t *o;
        json_array_foreach(json_object_get(d, "operations"), k, o)
            total += json_integer_value(json_object_get(o, "requests"));
        json_decref(d);
    }
    assert_int_equal(total, (long long)spans);
    json_decref(doc);
    /* Fedify's producer/consumer pairs (outbox, inbox, fanout queues) are
     * edges of a service to itself */
    json_t *map = query(kv, FT_Q_MAP, NULL);
    json_t *e;
    bool self = false;
    json_array_foreach(json_object_get(map, "edges"), i, e)
    {
        self |= strcmp(json_string_value(json_object_get(e, "from")),
                       json_string_value(json_object_get(e, "to"))) == 0;
    }
    assert_true(self);
    json_decref(map);
    ft_kv_close(kv);
    json_decref(ref);
}

int main(void)
{
    tmp_root = ft_test_tmpdir("services");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mastodon_spans),
        cmocka_unit_test(test_gotosocial_and_new_conventions),
        cmocka_unit_test(test_statements),
        cmocka_unit_test(test_fedify_red_once),
        cmocka_unit_test(test_workers_one_counter),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ft_test_rmrf(tmp_root);
    return rc;
}
