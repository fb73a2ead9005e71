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
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedtrace/exporter.h"
#include "fedtrace/otlp.h"
#include "core/buf.h"
#include "fedtrace/services.h"
#include "trace/trace_int.h"
#include "ft_node.h"
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

/* On a shared store the halves of calls wait for their other half in the
 * store: a server span with a parent and a client span to something that
 * may be instrumented; never a database or cache call. */
static void test_pair_halves(void **state)
{
    (void)state;
    ft_metrics *m;
    ft_infer_opts io = {false};
    assert_int_equal(ft_metrics_create(&io, 0, &m, NULL), FT_OK);
    ft_attr pg[] = {S("db.system", "postgresql"), S("db.name", "mastodon_production"),
                    S("db.statement", "SELECT 1")};
    ft_attr redis[] = {S("db.system", "redis"), S("net.peer.name", "redis.internal")};
    ft_attr http[] = {S("http.method", "POST"), S("http.url", "https://api.internal"),
                      S("http.target", "/v1/x"), S("net.peer.name", "api.internal")};
    ft_attr queue[] = {S("messaging.system", "sidekiq"), S("messaging.destination", "default")};
    ft_span sp[6] = {
        {.kind = FT_SPAN_KIND_CLIENT, .name = FT_STR_LIT("SELECT mastodon"), .attrs = {pg, 3}},
        {.kind = FT_SPAN_KIND_CLIENT, .name = FT_STR_LIT("GET"), .attrs = {redis, 2}},
        {.kind = FT_SPAN_KIND_CLIENT, .name = FT_STR_LIT("HTTP POST"), .attrs = {http, 4}},
        {.kind = FT_SPAN_KIND_PRODUCER, .name = FT_STR_LIT("Worker publish"), .attrs = {queue, 2}},
        {.kind = FT_SPAN_KIND_SERVER, .name = FT_STR_LIT("POST /v1/x"), .has_parent = true},
        {.kind = FT_SPAN_KIND_SERVER, .name = FT_STR_LIT("GET /"), .has_parent = false},
    };
    for (int i = 0; i < 6; i++) {
        memset(sp[i].trace_id, 0xab, 16);
        memset(sp[i].span_id, i + 1, 8);
        memset(sp[i].parent_span_id, 3, 8);
    }
    ft_span_batch b = {.spans = sp, .n = 6};
    ft_arena *a = ft_arena_create(0);
    ft_str prefix[] = {FT_STR_LIT("fedify"), FT_STR_LIT("traces")};
    ft_kv_op *ops;
    size_t n;
    assert_int_equal(ft__metrics_halves(m, prefix, 2, &b, a, &ops, &n, NULL), FT_OK);
    /* the producer's (client) half; the HTTP call and its server span came
     * together, so the batch itself counts that call */
    assert_int_equal(n, 1);
    assert_int_equal(ops[0].key.n, 6);
    assert_true(ft_str_eq_c(ops[0].key.parts[2], "_pair"));
    assert_true(ft_str_eq_c(ops[0].key.parts[4], "0404040404040404"));
    assert_true(ft_str_eq_c(ops[0].key.parts[5], "c"));
    /* the server span alone (another batch): its half waits in the store */
    ft_span_batch srv = {.spans = &sp[4], .n = 1};
    assert_int_equal(ft__metrics_halves(m, prefix, 2, &srv, a, &ops, &n, NULL), FT_OK);
    assert_int_equal(n, 1);
    assert_true(ft_str_eq_c(ops[0].key.parts[4], "0303030303030303"));
    assert_true(ft_str_eq_c(ops[0].key.parts[5], "s"));
    ft_arena_destroy(a);
    ft_metrics_destroy(m);
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
    /* http.rb delivering to a remote inbox, as opentelemetry-ruby-contrib
     * sends it: http.url is "scheme://host" alone, the path in
     * http.target: the remote instance */
    ft_attr post[] = {S("http.method", "POST"), S("http.url", "https://remote.example"),
                      S("http.target", "/users/bob/inbox"), S("net.peer.name", "remote.example")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "HTTP POST", post, 4, false), FT_PEER_INSTANCE,
                "remote.example");
    /* the same under the new conventions: url.full + url.path */
    ft_attr post_new[] = {S("http.request.method", "POST"), S("url.full", "https://remote.example"),
                          S("url.path", "/users/bob/inbox"), S("server.address", "remote.example")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "POST", post_new, 4, false), FT_PEER_INSTANCE,
                "remote.example");
    /* a shared inbox with a query in http.target */
    ft_attr post_shared[] = {S("http.method", "POST"), S("http.url", "https://r2.example"),
                             S("http.target", "/inbox?x=1"), S("net.peer.name", "r2.example")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "HTTP POST", post_shared, 4, false), FT_PEER_INSTANCE,
                "r2.example");
    /* the full URL form too */
    ft_attr post_full[] = {S("http.method", "POST"),
                           S("http.url", "https://Remote.Example/users/b/inbox"),
                           S("net.peer.name", "remote.example")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "HTTP POST", post_full, 3, false), FT_PEER_INSTANCE,
                "remote.example");
    /* a POST elsewhere is plain HTTP, even to a host named "inbox" */
    ft_attr post_api[] = {S("http.method", "POST"), S("http.url", "https://inbox"),
                          S("http.target", "/api/v1/statuses"), S("net.peer.name", "inbox")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "HTTP POST", post_api, 4, false), FT_PEER_HTTP,
                "inbox");
    /* a path whose last segment only ends in "inbox" is none */
    ft_attr sandbox[] = {S("http.method", "POST"), S("http.url", "https://s.example"),
                         S("http.target", "/api/sharedinbox"), S("net.peer.name", "s.example")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "HTTP POST", sandbox, 4, false), FT_PEER_HTTP,
                "s.example");
    /* a GET of an inbox is no delivery */
    ft_attr get_inbox[] = {S("http.method", "GET"), S("http.url", "https://remote.example"),
                           S("http.target", "/users/bob/inbox"), S("net.peer.name", "remote.example")};
    expect_peer(infer(FT_SPAN_KIND_CLIENT, "HTTP GET", get_inbox, 4, false), FT_PEER_HTTP,
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
    ft_span srv = {.kind = FT_SPAN_KIND_SERVER, .name = FT_STR_LIT("GET /"), .attrs = {post, 4}};
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

typedef ft_node node; /* ft_node.h */

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
    ft_node_open(&n, url);
    for (int i = 1; i <= 8; i++)
        export_fixture(&n, i);
    /* retries of every request: nothing is counted twice */
    for (int i = 1; i <= 8; i++)
        export_fixture(&n, i);
    ft_node_close(&n);
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
    ft_node_open(&n[0], url);
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
    ft_node_close(&n[0]);
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

/* ---- spans built as OTLP/JSON, exported through a node ---- */

/* A minute's start, in the fixtures' window (2026-11-22). */
#define BASE_MS 1795300020000LL

typedef struct hs {
    const char *service, *trace, *id, *parent, *name;
    int kind;             /* 1 internal .. 5 consumer */
    int64_t start_us, us; /* start from BASE_MS, duration */
    bool error;
    const char *attrs[5]; /* "key=value" */
} hs;

static void put_span(ft_buf *b, const hs *s)
{
    uint64_t st = (uint64_t)BASE_MS * 1000000u + (uint64_t)s->start_us * 1000u;
    uint64_t en = st + (uint64_t)s->us * 1000u;
    ft_buf_printf(b, "{\"traceId\":\"%s\",\"spanId\":\"%s\",", s->trace, s->id);
    if (s->parent)
        ft_buf_printf(b, "\"parentSpanId\":\"%s\",", s->parent);
    ft_buf_puts(b, "\"name\":");
    ft_json_cstr(b, s->name);
    ft_buf_printf(b, ",\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\","
                     "\"attributes\":[",
                  s->kind, (unsigned long long)st, (unsigned long long)en);
    for (int i = 0; i < 5 && s->attrs[i]; i++) {
        const char *eq = strchr(s->attrs[i], '=');
        ft_buf_puts(b, i ? ",{\"key\":" : "{\"key\":");
        ft_json_str(b, (ft_str){s->attrs[i], (size_t)(eq - s->attrs[i])});
        ft_buf_puts(b, ",\"value\":{\"stringValue\":");
        ft_json_cstr(b, eq + 1);
        ft_buf_puts(b, "}}");
    }
    ft_buf_printf(b, "],\"status\":{\"code\":%d}}", s->error ? 2 : 0);
}

/* Exports spans (grouped by consecutive service) as one request through n. */
static void export_spans(node *n, const hs *spans, size_t cnt)
{
    ft_buf b = {0};
    ft_buf_puts(&b, "{\"resourceSpans\":[");
    for (size_t i = 0; i < cnt;) {
        size_t j = i;
        while (j < cnt && strcmp(spans[j].service, spans[i].service) == 0)
            j++;
        ft_buf_puts(&b, i ? ",{" : "{");
        ft_buf_puts(&b, "\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
                        "{\"stringValue\":");
        ft_json_cstr(&b, spans[i].service);
        ft_buf_puts(&b, "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"t\"},\"spans\":[");
        for (size_t k = i; k < j; k++) {
            if (k > i)
                ft_buf_putc(&b, ',');
            put_span(&b, &spans[k]);
        }
        ft_buf_puts(&b, "]}]}");
        i = j;
    }
    ft_buf_puts(&b, "]}");
    assert_true(ft_buf_ok(&b));
    ft_arena *a = ft_arena_create(0);
    ft_span_batch batch;
    ft_err err = {0};
    if (ft_otlp_decode_traces_json((const uint8_t *)b.ptr, b.len, a, &batch, &err) != FT_OK)
        fail_msg("decode: %s", err.msg);
    assert_int_equal(batch.n, cnt);
    if (ft_exporter_export_spans(n->ex, &batch, NULL, &err) != FT_OK)
        fail_msg("export: %s", err.msg);
    ft_arena_destroy(a);
    ft_buf_free(&b);
}

/* A query over [BASE_MS, BASE_MS + seconds). */
static json_t *query_at(ft_kv *kv, ft_services_what what, const char *service, int seconds)
{
    ft_services_query q = {.since_ms = BASE_MS, .until_ms = BASE_MS + seconds * 1000LL,
                           .service = service, .limit = 100};
    ft_arena *a = ft_arena_create(0);
    ft_str js;
    ft_err err = {0};
    if (ft_services_json(kv, what, &q, a, &js, &err) != FT_OK)
        fail_msg("services query %d: %s", (int)what, err.msg);
    json_t *j = json_loadb(js.ptr, js.len, 0, NULL);
    assert_non_null(j);
    ft_arena_destroy(a);
    return j;
}

static json_t *find2(json_t *arr, const char *k1, const char *v1, const char *k2, const char *v2)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        const char *a = json_string_value(json_object_get(o, k1));
        const char *b = json_string_value(json_object_get(o, k2));
        if (a != NULL && b != NULL && strcmp(a, v1) == 0 && strcmp(b, v2) == 0)
            return o;
    }
    return NULL;
}

static long long inum(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static void expect_real(json_t *o, const char *k, double want)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_number(v) || fabs(json_number_value(v) - want) > 0.0005)
        fail_msg("%s = %f, want %f", k, json_number_value(v), want);
}

/* One edge from -> to of that kind with these calls and errors. */
static json_t *expect_edge(json_t *edges, const char *from, const char *to, const char *kind,
                           long long calls, long long errors)
{
    json_t *e = find2(edges, "from", from, "to", to);
    if (e == NULL)
        fail_msg("edge %s -> %s missing", from, to);
    assert_string_equal(json_string_value(json_object_get(e, "toKind")), kind);
    if (inum(e, "calls") != calls || inum(e, "errors") != errors)
        fail_msg("%s -> %s: %lld calls, %lld errors; want %lld, %lld", from, to,
                 inum(e, "calls"), inum(e, "errors"), calls, errors);
    return e;
}

/* A histogram of exactly these buckets (le < 0: null, the unbounded one). */
static void expect_hist(json_t *h, const double *le, const long long *count, size_t n)
{
    if (json_array_size(h) != n)
        fail_msg("histogram %s, want %zu buckets", json_dumps(h, JSON_COMPACT), n);
    for (size_t i = 0; i < n; i++) {
        json_t *b = json_array_get(h, i), *l = json_object_get(b, "le");
        bool ok = le[i] < 0 ? json_is_null(l)
                            : json_is_number(l) && fabs(json_number_value(l) - le[i]) < 1e-9;
        if (!ok || inum(b, "count") != count[i])
            fail_msg("histogram %s: bucket %zu, want le %g count %lld",
                     json_dumps(h, JSON_COMPACT), i, le[i], count[i]);
    }
}

#define TA "cccc0000000000000000000000000001"
#define TB "cccc0000000000000000000000000002"
#define TC "cccc0000000000000000000000000003"

/* A client span of "web" (an http.rb-shaped POST to api.internal) whose
 * child server span is in "api": on a local store the pair is matched in
 * memory (pair_local), in one batch or across two in either order, and the
 * edge web -> api replaces the one to the host the client named. */
static void test_map_edges_local(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "memory:edges%u", ++seq);
    node n;
    ft_node_open(&n, url);
#define CALL "http.method=POST", "http.url=https://api.internal", \
        "http.target=/v1/things", "net.peer.name=api.internal"
    const hs web[] = {
        {"web", TA, "a000000000000001", NULL, "GET /x", 2, 0, 10000, false, {0}},
        {"web", TA, "a000000000000002", "a000000000000001", "HTTP POST", 3, 1000, 5000, false, {CALL}},
        {"web", TB, "b000000000000001", NULL, "GET /x", 2, 20000, 10000, false, {0}},
        {"web", TB, "b000000000000002", "b000000000000001", "HTTP POST", 3, 21000, 5000, true, {CALL}},
        {"web", TC, "c000000000000001", NULL, "GET /x", 2, 40000, 10000, false, {0}},
        {"web", TC, "c000000000000002", "c000000000000001", "HTTP POST", 3, 41000, 5000, false, {CALL}},
    };
#undef CALL
    const hs api[] = {
        {"api", TA, "a000000000000003", "a000000000000002", "POST /v1/things", 2, 1500, 4000, false, {0}},
        {"api", TB, "b000000000000003", "b000000000000002", "POST /v1/things", 2, 21500, 4000, true, {0}},
        {"api", TC, "c000000000000003", "c000000000000002", "POST /v1/things", 2, 41500, 4000, false, {0}},
    };
    /* TA: both halves in one batch */
    const hs ta[] = {web[0], web[1], api[0]};
    export_spans(&n, ta, 3);
    /* TB: the client first, then the server */
    export_spans(&n, &web[2], 2);
    export_spans(&n, &api[1], 1);
    /* TC: the server first, then the client */
    export_spans(&n, &api[2], 1);
    export_spans(&n, &web[4], 2);
    /* retries of each batch: nothing twice */
    export_spans(&n, ta, 3);
    export_spans(&n, &web[2], 2);
    export_spans(&n, &api[2], 1);
    ft_kv *kv;
    assert_int_equal(ft_kv_open(url, &kv, NULL), FT_OK);
    ft_node_close(&n);
    json_t *map = query_at(kv, FT_Q_MAP, NULL, 60);
    json_t *edges = json_object_get(map, "edges");
    json_t *e = expect_edge(edges, "web", "api", "instrumented", 3, 1);
    expect_real(e, "p50", 5.0); /* the client spans' 5 ms */
    expect_real(e, "p99", 5.0);
    if (json_array_size(edges) != 1)
        fail_msg("edges: %s", json_dumps(edges, 0));
    /* the host the client named is no service of its own */
    json_t *nodes = json_object_get(map, "nodes");
    assert_int_equal(json_array_size(nodes), 2);
    assert_null(find(nodes, "name", "api.internal"));
    json_decref(map);
    /* RED: 3 requests each in 60 s; api's one error */
    json_t *doc = query_at(kv, FT_Q_SERVICES, NULL, 60);
    json_t *svcs = json_object_get(doc, "services");
    assert_int_equal(json_array_size(svcs), 2);
    json_t *w = find(svcs, "name", "web"), *a = find(svcs, "name", "api");
    assert_non_null(w);
    assert_non_null(a);
    assert_int_equal(inum(w, "requests"), 3);
    assert_int_equal(inum(w, "errors"), 0);
    expect_real(w, "rate", 0.05);
    expect_real(w, "p50", 10.0);
    assert_int_equal(inum(a, "requests"), 3);
    assert_int_equal(inum(a, "errors"), 1);
    expect_real(a, "rate", 0.05);
    expect_real(a, "errorRate", 0.3333);
    expect_real(a, "p99", 4.0);
    json_decref(doc);
    /* the callers of api, the callees of web */
    json_t *d = query_at(kv, FT_Q_SERVICE, "api", 60);
    assert_int_equal(json_array_size(json_object_get(d, "callers")), 1);
    expect_edge(json_object_get(d, "callers"), "web", "api", "instrumented", 3, 1);
    assert_int_equal(json_array_size(json_object_get(d, "callees")), 0);
    json_decref(d);
    ft_kv_close(kv);
}

/* The one-service answer: each operation's duration histogram (the
 * buckets that are not empty) and its per-minute buckets. */
static void test_operation_histograms(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "memory:hist%u", ++seq);
    node n;
    ft_node_open(&n, url);
    const hs spans[] = {
        /* minute 0: 50 us, 300 ms, 200 s */
        {"svc", TA, "d000000000000001", NULL, "GET /a", 2, 0, 50, false, {0}},
        {"svc", TA, "d000000000000002", NULL, "GET /a", 2, 1000, 300000, false, {0}},
        {"svc", TA, "d000000000000003", NULL, "GET /a", 2, 2000, 200000000, false, {0}},
        /* minute 1: 5 ms twice, one failed */
        {"svc", TB, "d000000000000004", NULL, "GET /a", 2, 61000000, 5000, false, {0}},
        {"svc", TB, "d000000000000005", NULL, "GET /a", 2, 62000000, 5000, true, {0}},
        /* another operation: a pg call, 2 ms */
        {"svc", TB, "d000000000000006", "d000000000000005", "SELECT app", 3, 62001000, 2000, false,
         {"db.system=postgresql", "db.name=app", "db.statement=SELECT 1"}},
    };
    export_spans(&n, spans, 6);
    ft_kv *kv;
    assert_int_equal(ft_kv_open(url, &kv, NULL), FT_OK);
    ft_node_close(&n);
    json_t *d = query_at(kv, FT_Q_SERVICE, "svc", 120);
    json_t *ops = json_object_get(d, "operations");
    assert_int_equal(json_array_size(ops), 2);
    json_t *op = find2(ops, "name", "GET /a", "spanKind", "server");
    assert_non_null(op);
    assert_int_equal(inum(op, "requests"), 5);
    assert_int_equal(inum(op, "errors"), 1);
    assert_true(json_is_true(json_object_get(op, "request")));
    /* 50 us <= 0.1 ms; 5 ms <= 6.4; 300 ms <= 409.6; 200 s past the last bound */
    expect_hist(json_object_get(op, "histogram"), (const double[]){0.1, 6.4, 409.6, -1},
                (const long long[]){1, 2, 1, 1}, 4);
    json_t *b = json_object_get(op, "buckets");
    assert_int_equal(json_array_size(b), 2);
    json_t *b0 = json_array_get(b, 0), *b1 = json_array_get(b, 1);
    assert_int_equal(inum(b0, "t"), BASE_MS);
    assert_int_equal(inum(b0, "requests"), 3);
    assert_int_equal(inum(b0, "errors"), 0);
    expect_real(b0, "p50", 307.2); /* in the 204.8-409.6 ms bucket, halfway */
    assert_int_equal(inum(b1, "t"), BASE_MS + 60000);
    assert_int_equal(inum(b1, "requests"), 2);
    assert_int_equal(inum(b1, "errors"), 1);
    expect_real(b1, "p50", 5.0);
    expect_real(b1, "p99", 5.0);
    /* the pg call: its own operation, one bucket */
    json_t *pg = find2(ops, "name", "SELECT app", "spanKind", "client");
    assert_non_null(pg);
    assert_true(json_is_false(json_object_get(pg, "request")));
    expect_hist(json_object_get(pg, "histogram"), (const double[]){3.2}, (const long long[]){1},
                1);
    assert_int_equal(json_array_size(json_object_get(pg, "buckets")), 1);
    assert_int_equal(inum(json_array_get(json_object_get(pg, "buckets"), 0), "t"),
                     BASE_MS + 60000);
    /* the service's buckets: its requests (server spans) only */
    b = json_object_get(d, "buckets");
    assert_int_equal(json_array_size(b), 2);
    assert_int_equal(inum(json_array_get(b, 1), "requests"), 2);
    json_decref(d);
    ft_kv_close(kv);
}

/* 5,000 remote instances, each delivered to by two nodes: the merged
 * table (a hash, not a list) has every series once with both counts. */
#define N_INST 5000

static void test_many_instances(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof url, "memory:many%u", ++seq);
    node n[2];
    ft_node_open(&n[0], url);
    ft_node_open(&n[1], url);
    hs *spans = calloc(N_INST, sizeof *spans);
    char(*tid)[33] = calloc(N_INST, 33), (*sid)[17] = calloc(N_INST, 17);
    char(*host)[64] = calloc(N_INST, 64), (*peer)[64] = calloc(N_INST, 64);
    assert_true(spans && tid && sid && host && peer);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < N_INST; i++) {
            snprintf(tid[i], 33, "%02x%030d", 0xe0 + k, i);
            snprintf(sid[i], 17, "%016x", 0x100000 + i);
            snprintf(host[i], 64, "http.url=https://i%d.example", i);
            snprintf(peer[i], 64, "net.peer.name=i%d.example", i);
            spans[i] = (hs){"mastodon/web", tid[i], sid[i], NULL, "HTTP POST", 3, i, 1000,
                            k == 1 && i % 7 == 0,
                            {"http.method=POST", host[i], "http.target=/inbox", peer[i]}};
        }
        export_spans(&n[k], spans, N_INST);
    }
    ft_kv *kv;
    assert_int_equal(ft_kv_open(url, &kv, NULL), FT_OK);
    ft_node_close(&n[0]);
    ft_node_close(&n[1]);
    json_t *doc = query_at(kv, FT_Q_SERVICES, NULL, 60);
    json_t *svcs = json_object_get(doc, "services");
    assert_int_equal(json_array_size(svcs), N_INST + 1);
    size_t i;
    json_t *s;
    long long seen = 0;
    json_array_foreach(svcs, i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        if (strcmp(name, "mastodon/web") == 0) {
            assert_int_equal(inum(s, "requests"), 2 * N_INST);
            continue;
        }
        int k = atoi(name + 1);
        assert_string_equal(json_string_value(json_object_get(s, "kind")), "instance");
        if (inum(s, "requests") != 2 || inum(s, "errors") != (k % 7 == 0))
            fail_msg("%s: %lld requests, %lld errors", name, inum(s, "requests"),
                     inum(s, "errors"));
        seen++;
    }
    assert_int_equal(seen, N_INST);
    json_decref(doc);
    json_t *map = query_at(kv, FT_Q_MAP, NULL, 60);
    json_t *edges = json_object_get(map, "edges");
    assert_int_equal(json_array_size(edges), N_INST);
    expect_edge(edges, "mastodon/web", "i4243.example", "instance", 2, 0);
    expect_edge(edges, "mastodon/web", "i4249.example", "instance", 2, 1);
    json_decref(map);
    ft_kv_close(kv);
    free(spans);
    free(tid);
    free(sid);
    free(host);
    free(peer);
}

int main(void)
{
    tmp_root = ft_test_tmpdir("services");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_halves),
        cmocka_unit_test(test_mastodon_spans),
        cmocka_unit_test(test_gotosocial_and_new_conventions),
        cmocka_unit_test(test_statements),
        cmocka_unit_test(test_fedify_red_once),
        cmocka_unit_test(test_workers_one_counter),
        cmocka_unit_test(test_map_edges_local),
        cmocka_unit_test(test_operation_histograms),
        cmocka_unit_test(test_many_instances),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ft_test_rmrf(tmp_root);
    return rc;
}
