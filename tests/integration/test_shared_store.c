/*
 * test_shared_store.c - many fedtrace nodes on one Redis or PostgreSQL.
 *
 * Multi-node: three collector nodes (OTLP only) and one UI node (API only)
 * share a store.  The spans of every fixture trace are dealt out to the
 * three collectors and sent to all of them at once; the UI node must then
 * return every trace complete, with the activity counts and types that
 * Fedify's own exporter recorded (reference.json).  Run for the LIST and
 * the CAS-only strategy (?caps=cas), on Redis and on PostgreSQL.
 *
 * Outage: the store server is killed in the middle of ingest and started
 * again; meanwhile clients get 503 with Retry-After and retry; afterwards
 * every trace they sent is there, and nothing answered 200 is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fedtrace/otlp.h"
#include "ft_http.h"
#include "ft_json_test.h"
#include "ft_servers.h"
#include "ft_span_json.h"
#include "ft_test_util.h"
#include "ft_tmp.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIXTURES FT_TEST_DATA "/fedify-2.3.6"
#define N_FIXTURES 8
#define N_COLLECTORS 3

static ft_test_server redis, pg;
static int have_redis, have_pg;
static char *tmp;
static unsigned run_seq;

static const char *const k_json[] = {"Content-Type: application/json", NULL};

/* A store URL of its own for one run: a key prefix (Redis) or a table
 * (PostgreSQL) nobody else uses, plus the caps mask. */
static void run_url(char *out, size_t cap, const ft_test_server *s,
                    bool is_redis, const char *caps)
{
    unsigned n = ++run_seq;
    if (is_redis)
        snprintf(out, cap, "%s?prefix=run%u::%s%s", s->url, n, *caps ? "&" : "", caps);
    else
        snprintf(out, cap, "%s%stable=fedtrace_run%u%s%s", s->url,
                 strchr(s->url, '?') ? "&" : "?", n, *caps ? "&" : "", caps);
}

static void start_node(ft_daemon *d, const char *url, const char *role, unsigned i)
{
    char log[600];
    snprintf(log, sizeof log, "%s/%s%u.log", tmp, role, i);
    const char *const collector[] = {"--ui-listen", "off", NULL};
    const char *const ui[] = {"--otlp-listen", "off", NULL};
    if (ft_daemon_start(d, url, log, strcmp(role, "ui") == 0 ? ui : collector) != 0) {
        uint8_t *text = ft_test_read_file(log, NULL);
        fail_msg("%s node %u did not start:\n%s", role, i, text ? (char *)text : "");
    }
}

/* ---- dealing the fixtures out to the collectors ---- */

typedef struct sender {
    int port;
    ft_buf bodies[N_FIXTURES];
    pthread_barrier_t *go;
    int failures;
} sender;

static void *send_all(void *arg)
{
    sender *s = arg;
    pthread_barrier_wait(s->go);
    int fd = ft_http_connect(s->port);
    for (int i = 0; i < N_FIXTURES; i++) {
        ft_http_resp r;
        if (fd < 0 || ft_http_request(fd, "POST", "/v1/traces", k_json, s->bodies[i].ptr,
                                      s->bodies[i].len, 0, &r) != 0 ||
            r.status != 200) {
            fprintf(stderr, "collector :%d fixture %d: status %d %s\n", s->port, i + 1,
                    r.status, r.body ? (char *)r.body : "");
            s->failures++;
        }
        ft_http_resp_free(&r);
    }
    ft_http_close(fd);
    return NULL;
}

/* Spans of one trace go round the collectors in the order they come. */
static void deal(sender *senders)
{
    char seen[512][33];
    unsigned counts[512] = {0};
    size_t n_seen = 0;
    for (int f = 0; f < N_FIXTURES; f++) {
        char path[512];
        snprintf(path, sizeof path, FIXTURES "/%04d-traces.pb", f + 1);
        size_t len;
        uint8_t *body = ft_test_read_file(path, &len);
        ft_arena *a = ft_arena_create(0);
        ft_span_batch all;
        ft_err err = {0};
        assert_int_equal(ft_otlp_decode_traces_pb(body, len, a, &all, &err), FT_OK);
        ft_span *part[N_COLLECTORS];
        size_t n_part[N_COLLECTORS] = {0};
        for (int c = 0; c < N_COLLECTORS; c++)
            part[c] = calloc(all.n + 1, sizeof(ft_span));
        for (size_t i = 0; i < all.n; i++) {
            char tid[33];
            ft_hex_encode(all.spans[i].trace_id, 16, tid);
            size_t k = 0;
            while (k < n_seen && strcmp(seen[k], tid) != 0)
                k++;
            if (k == n_seen) {
                assert_true(n_seen < 512);
                memcpy(seen[n_seen++], tid, 33);
            }
            int c = (int)(counts[k]++ % N_COLLECTORS);
            part[c][n_part[c]++] = all.spans[i];
        }
        for (int c = 0; c < N_COLLECTORS; c++) {
            ft_span_batch b = {part[c], n_part[c], 0, {"", 0}};
            ft_span_json_traces(&senders[c].bodies[f], &b, 0);
            assert_true(ft_buf_ok(&senders[c].bodies[f]));
            free(part[c]);
        }
        ft_arena_destroy(a);
        free(body);
    }
}

static void run_multinode(const ft_test_server *s, bool is_redis, const char *caps)
{
    char url[800];
    run_url(url, sizeof url, s, is_redis, caps);
    ft_daemon collectors[N_COLLECTORS], ui;
    for (unsigned i = 0; i < N_COLLECTORS; i++)
        start_node(&collectors[i], url, "collector", i);
    start_node(&ui, url, "ui", 0);

    sender senders[N_COLLECTORS];
    memset(senders, 0, sizeof senders);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N_COLLECTORS);
    deal(senders);
    pthread_t th[N_COLLECTORS];
    for (int c = 0; c < N_COLLECTORS; c++) {
        senders[c].port = collectors[c].otlp_port;
        senders[c].go = &go;
        assert_int_equal(pthread_create(&th[c], NULL, send_all, &senders[c]), 0);
    }
    int failures = 0;
    for (int c = 0; c < N_COLLECTORS; c++) {
        pthread_join(th[c], NULL);
        failures += senders[c].failures;
        for (int f = 0; f < N_FIXTURES; f++)
            ft_buf_free(&senders[c].bodies[f]);
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(failures, 0);

    /* the UI node sees every trace whole */
    json_error_t je;
    json_t *ref = json_load_file(FIXTURES "/reference.json", 0, &je);
    assert_non_null(ref);
    json_t *traces = ft_test_get_json(ui.ui_port, "/api/traces?limit=1000", 200);
    json_t *fedify_view = ft_test_fedify_summaries(traces);
    bool same = json_equal(fedify_view, json_object_get(ref, "traces"));
    json_decref(fedify_view);
    if (!same) {
        char *got = json_dumps(traces, JSON_INDENT(1));
        fail_msg("%s: /api/traces differs from Fedify's:\n%s", url, got);
    }
    const char *tid;
    json_t *want;
    json_object_foreach(json_object_get(ref, "activities"), tid, want) {
        char path[128];
        snprintf(path, sizeof path, "/api/traces/%s", tid);
        json_t *got = ft_test_get_json(ui.ui_port, path, 200);
        if (!ft_test_json_same_elements(got, want))
            fail_msg("%s: %s differs from Fedify's records", url, path);
        json_decref(got);
    }
    size_t total = 0;
    json_t *seen = json_object(), *sp;
    size_t i;
    json_array_foreach(json_object_get(ref, "spans"), i, sp) {
        const char *t = json_string_value(json_object_get(sp, "traceId"));
        if (json_object_get(seen, t) != NULL)
            continue;
        json_object_set_new(seen, t, json_true());
        char path[128];
        snprintf(path, sizeof path, "/api/traces/%s/spans", t);
        json_t *got = ft_test_get_json(ui.ui_port, path, 200);
        total += json_array_size(got);
        json_decref(got);
    }
    assert_int_equal(total, json_array_size(json_object_get(ref, "spans")));
    json_decref(seen);
    json_decref(traces);
    json_decref(ref);
    for (unsigned n = 0; n < N_COLLECTORS; n++) {
        int st = ft_daemon_stop(&collectors[n], SIGTERM);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    int st = ft_daemon_stop(&ui, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void skip_without(int have)
{
    if (!have)
        skip();
}

static void test_redis_list(void **st) { (void)st; skip_without(have_redis); run_multinode(&redis, true, ""); }
static void test_redis_cas(void **st) { (void)st; skip_without(have_redis); run_multinode(&redis, true, "caps=cas"); }
static void test_pg_list(void **st) { (void)st; skip_without(have_pg); run_multinode(&pg, false, ""); }
static void test_pg_cas(void **st) { (void)st; skip_without(have_pg); run_multinode(&pg, false, "caps=cas"); }

/* ---- outage ---- */

typedef struct outage_writer {
    int port;
    unsigned first, next;
    volatile int stop;
    unsigned acked;  /* traces answered 200 (each retried until then) */
    unsigned n503;   /* 503 answers seen, each with Retry-After */
    unsigned other;  /* anything else: a failure */
} outage_writer;

static void one_span(ft_pbw *w, unsigned k)
{
    uint8_t tid[16] = {0xab}, sid[8] = {0x5e};
    memcpy(tid + 12, &k, sizeof k);
    memcpy(sid + 4, &k, sizeof k);
    ft_pbw_reset(w);
    ft_pbw_begin(w, 1);
    ft_pbw_begin(w, 2);
    ft_pbw_begin(w, 2);
    ft_pbw_bytes(w, 1, tid, 16);
    ft_pbw_bytes(w, 2, sid, 8);
    ft_pbw_str(w, 5, "outage.span");
    ft_pbw_fixed64(w, 7, 1700000000000000000ull + k);
    ft_pbw_fixed64(w, 8, 1700000000001000000ull + k);
    ft_pbw_end(w);
    ft_pbw_end(w);
    ft_pbw_end(w);
}

static void *outage_write(void *arg)
{
    outage_writer *o = arg;
    static const char *const pb[] = {"Content-Type: application/x-protobuf", NULL};
    ft_pbw w;
    ft_pbw_init(&w);
    for (o->next = o->first; !o->stop; o->next++) {
        one_span(&w, o->next);
        for (int attempt = 0; attempt < 400; attempt++) {
            ft_http_resp r;
            int rc = ft_http_once(o->port, "POST", "/v1/traces", pb, w.buf, w.len, &r);
            int status = rc == 0 ? r.status : -1;
            char *ra = rc == 0 ? ft_http_header(&r, "Retry-After") : NULL;
            ft_http_resp_free(&r);
            if (status == 200) {
                o->acked++;
                free(ra);
                break;
            }
            if (status == 503 && ra != NULL)
                o->n503++;
            else
                o->other++;
            free(ra);
            usleep(50000); /* a client would wait Retry-After; be quicker */
        }
    }
    ft_pbw_free(&w);
    return NULL;
}

static void run_outage(ft_test_server *s, bool is_redis)
{
    char url[800];
    run_url(url, sizeof url, s, is_redis, "");
    ft_daemon node;
    char log[600];
    snprintf(log, sizeof log, "%s/outage-%s.log", tmp, is_redis ? "redis" : "pg");
    const char *const args[] = {"--threads", "2", NULL};
    if (ft_daemon_start(&node, url, log, args) != 0)
        fail_msg("node did not start");
    outage_writer o = {node.otlp_port, 7000000, 0, 0, 0, 0, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, outage_write, &o), 0);
    while (o.acked < 50)
        usleep(10000);
    ft_test_server_kill(s);
    /* while the store is gone: 503s to writers, a JSON error from the API */
    usleep(1500000);
    ft_http_resp r;
    assert_int_equal(ft_http_once(node.ui_port, "GET", "/api/traces", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 503);
    json_t *e = json_loadb((const char *)r.body, r.len, 0, NULL);
    assert_non_null(json_string_value(json_object_get(e, "error")));
    json_decref(e);
    ft_http_resp_free(&r);
    assert_int_equal(ft_test_server_restart(s), 0);
    unsigned at_restart = o.acked;
    while (o.acked < at_restart + 50)
        usleep(10000);
    o.stop = 1;
    pthread_join(th, NULL);
    assert_true(o.n503 > 0);
    assert_int_equal(o.other, 0);
    /* every trace sent was retried until stored, and is there */
    for (unsigned k = o.first; k < o.next; k++) {
        uint8_t tid[16] = {0xab};
        memcpy(tid + 12, &k, sizeof k);
        char hex[33], path[128];
        ft_hex_encode(tid, 16, hex);
        snprintf(path, sizeof path, "/api/traces/%s/spans", hex);
        json_t *spans = ft_test_get_json(node.ui_port, path, 200);
        if (json_array_size(spans) != 1)
            fail_msg("trace %u (%s) was answered 200 but is missing", k, hex);
        json_decref(spans);
    }
    printf("outage (%s): %u traces stored, %u answers were 503 while the store was down\n",
           is_redis ? "redis" : "postgres", o.next - o.first, o.n503);
    uint8_t *text = ft_test_read_file(log, NULL);
    assert_non_null(strstr((char *)text, "store failing"));
    assert_non_null(strstr((char *)text, "store recovered"));
    free(text);
    int st = ft_daemon_stop(&node, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_redis_outage(void **st) { (void)st; skip_without(have_redis); run_outage(&redis, true); }
static void test_pg_outage(void **st) { (void)st; skip_without(have_pg); run_outage(&pg, false); }

int main(void)
{
    tmp = ft_test_tmpdir("shared-store");
    have_redis = ft_test_redis_start(&redis) == 0;
    have_pg = ft_test_pg_start(&pg) == 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_list),
        cmocka_unit_test(test_redis_cas),
        cmocka_unit_test(test_pg_list),
        cmocka_unit_test(test_pg_cas),
        cmocka_unit_test(test_redis_outage),
        cmocka_unit_test(test_pg_outage),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    ft_test_server_stop(&redis);
    ft_test_server_stop(&pg);
    ft_test_rmrf(tmp);
    free(tmp);
    return failed || redis.failed || pg.failed ? 1 : 0;
}
