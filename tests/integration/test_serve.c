/*
 * test_serve.c - `fedtrace serve` as a client sees it.
 *
 * Each test starts the real binary on a temporary LMDB store and talks
 * HTTP to it: the fixtures round trip through the API, every OTLP status
 * code (with a gzip bomb and a truncated protobuf among the bad requests,
 * and the daemon still serving afterwards), 429 and 503 with Retry-After,
 * the disk budget, SIGTERM finishing a request in progress, and SIGKILL in
 * the middle of ingest losing nothing that was answered 200.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ft_http.h"
#include "ft_serve_env.h"
#include "ft_json_test.h"
#include "ft_test_util.h"
#include "ft_tmp.h"

#include <jansson.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define FIXTURES FT_FIXTURES
#define N_FIXTURES FT_N_FIXTURES

static const char *const k_pb[] = {"Content-Type: application/x-protobuf", NULL};

typedef ft_serve_env env;

/* A metric's value from /metrics (first sample whose line starts with name),
 * asked with the given headers (a token). */
static double metric_with(int ui_port, const char *const *headers, const char *name)
{
    ft_http_resp r;
    assert_int_equal(ft_http_once(ui_port, "GET", "/metrics", headers, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    double v = -1;
    size_t nl = strlen(name);
    for (const char *p = (const char *)r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, name, nl) == 0 && (p[nl] == ' ' || p[nl] == '{')) {
            const char *sp = strchr(p, ' ');
            v = sp ? atof(sp + 1) : -1;
            break;
        }
    }
    ft_http_resp_free(&r);
    return v;
}

static double metric(int ui_port, const char *name)
{
    return metric_with(ui_port, NULL, name);
}

/* ---- requests built by hand ---- */

/* One span per trace, n traces numbered from `first`, each span carrying
 * an attribute of attr_bytes bytes. */
static void build_spans(ft_pbw *w, unsigned first, unsigned n, size_t attr_bytes)
{
    char *big = malloc(attr_bytes + 1);
    assert_non_null(big);
    /* noise, so that the store cannot compress it away (LMDB values are
     * zstd-compressed): the sizes below are what reaches the disk */
    static const char sym[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t x = 2463534242u + first;
    for (size_t i = 0; i < attr_bytes; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big[i] = sym[x % 64];
    }
    big[attr_bytes] = '\0';
    ft_pbw_reset(w);
    ft_pbw_begin(w, 1); /* ResourceSpans */
    ft_pbw_begin(w, 1); /* Resource */
    ft_pbw_begin(w, 1); /* KeyValue */
    ft_pbw_str(w, 1, "service.name");
    ft_pbw_begin(w, 2);
    ft_pbw_str(w, 1, "integration");
    ft_pbw_end(w);
    ft_pbw_end(w);
    ft_pbw_end(w);
    ft_pbw_begin(w, 2); /* ScopeSpans */
    for (unsigned i = 0; i < n; i++) {
        uint8_t tid[16] = {0}, sid[8] = {0};
        unsigned k = first + i;
        tid[0] = 0xf7;
        memcpy(tid + 12, &k, sizeof k);
        sid[0] = 1;
        memcpy(sid + 4, &k, sizeof k);
        ft_pbw_begin(w, 2);
        ft_pbw_bytes(w, 1, tid, 16);
        ft_pbw_bytes(w, 2, sid, 8);
        ft_pbw_str(w, 5, "integration.span");
        ft_pbw_varint(w, 6, 2);
        ft_pbw_fixed64(w, 7, 1700000000000000000ull + k);
        ft_pbw_fixed64(w, 8, 1700000000001000000ull + k);
        if (attr_bytes) {
            ft_pbw_begin(w, 9);
            ft_pbw_str(w, 1, "payload");
            ft_pbw_begin(w, 2);
            ft_pbw_str(w, 1, big);
            ft_pbw_end(w);
            ft_pbw_end(w);
        }
        ft_pbw_end(w);
    }
    ft_pbw_end(w);
    ft_pbw_end(w);
    free(big);
}

static void trace_hex(unsigned k, char out[33])
{
    uint8_t tid[16] = {0};
    tid[0] = 0xf7;
    memcpy(tid + 12, &k, sizeof k);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", tid[i]);
}

static size_t spans_of(int ui_port, unsigned k)
{
    char tid[33], path[128];
    trace_hex(k, tid);
    snprintf(path, sizeof path, "/api/traces/%s/spans", tid);
    json_t *j = ft_test_get_json(ui_port, path, 200);
    size_t n = json_array_size(j);
    json_decref(j);
    return n;
}

static int post(int port, const void *body, size_t len, const char *const *headers,
                ft_http_resp *r)
{
    return ft_http_once(port, "POST", "/v1/traces", headers ? headers : k_pb, body, len, r);
}

static void expect_status(int port, const char *method, const char *path,
                          const char *const *headers, const void *body, size_t len,
                          int want)
{
    ft_http_resp r;
    assert_int_equal(ft_http_once(port, method, path, headers, body, len, &r), 0);
    if (r.status != want)
        fail_msg("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body);
    ft_http_resp_free(&r);
}

static void still_serving(env *e)
{
    uint8_t *b;
    size_t len;
    b = ft_fixture(1, &len);
    expect_status(e->d.otlp_port, "POST", "/v1/traces", k_pb, b, len, 200);
    free(b);
    expect_status(e->d.ui_port, "GET", "/healthz", NULL, NULL, 0, 200);
}

/* ---- the fixtures, end to end over HTTP ---- */

static void test_fixtures_through_http(void **state)
{
    (void)state;
    env e;
    ft_serve_env_start(&e, "serve-fixtures", "", NULL);
    /* all eight on one keep-alive connection, chunked as Fedify sends them */
    int fd = ft_http_connect(e.d.otlp_port);
    assert_true(fd >= 0);
    for (int i = 1; i <= N_FIXTURES; i++) {
        size_t len;
        uint8_t *b = ft_fixture(i, &len);
        ft_http_resp r;
        assert_int_equal(ft_http_request(fd, "POST", "/v1/traces", k_pb, b, len, 4096, &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.len, 0); /* the empty ExportTraceServiceResponse */
        char *ct = ft_http_header(&r, "Content-Type");
        assert_non_null(ct);
        assert_string_equal(ct, "application/x-protobuf");
        free(ct);
        ft_http_resp_free(&r);
        free(b);
    }
    ft_http_close(fd);

    json_error_t je;
    json_t *ref = json_load_file(FIXTURES "/reference.json", 0, &je);
    assert_non_null(ref);
    json_t *traces = ft_test_get_json(e.d.ui_port, "/api/traces?limit=100", 200);
    json_t *fedify_view = ft_test_fedify_summaries(traces);
    bool same = json_equal(fedify_view, json_object_get(ref, "traces"));
    json_decref(fedify_view);
    if (!same) {
        char *got = json_dumps(traces, JSON_INDENT(1));
        fail_msg("/api/traces differs from Fedify's getRecentTraces:\n%s", got);
    }
    const char *tid;
    json_t *want;
    json_object_foreach(json_object_get(ref, "activities"), tid, want) {
        char path[128];
        snprintf(path, sizeof path, "/api/traces/%s", tid);
        json_t *got = ft_test_get_json(e.d.ui_port, path, 200);
        if (!ft_test_json_same_elements(got, want))
            fail_msg("%s: records differ from Fedify's", path);
        json_decref(got);
    }
    /* every span of the fixtures is stored, per trace */
    size_t total = 0, n_traces = 0;
    json_t *spans = json_object_get(ref, "spans"), *sp;
    size_t i;
    json_t *seen = json_object();
    json_array_foreach(spans, i, sp) {
        const char *t = json_string_value(json_object_get(sp, "traceId"));
        assert_non_null(t);
        if (json_object_get(seen, t) != NULL)
            continue;
        json_object_set_new(seen, t, json_true());
        char path[128];
        snprintf(path, sizeof path, "/api/traces/%s/spans", t);
        json_t *got = ft_test_get_json(e.d.ui_port, path, 200);
        total += json_array_size(got);
        n_traces++;
        json_decref(got);
    }
    assert_int_equal(total, json_array_size(spans));
    assert_true(n_traces >= 20);
    json_decref(seen);
    assert_true(metric(e.d.ui_port, "fedtrace_spans_accepted_total") == (double)total);
    assert_true(metric(e.d.ui_port, "fedtrace_otlp_requests_total{signal=\"traces\",status=\"200\"}") == N_FIXTURES);

    /* the API's own errors */
    json_t *err = ft_test_get_json(e.d.ui_port, "/api/traces/nothex", 400);
    assert_non_null(json_object_get(err, "error"));
    json_decref(err);
    json_decref(ft_test_get_json(e.d.ui_port, "/api/traces?limit=0", 400));
    json_decref(ft_test_get_json(e.d.ui_port, "/api/nothing", 404));
    json_t *empty = ft_test_get_json(e.d.ui_port, "/api/traces/0123456789abcdef0123456789abcdef", 200);
    assert_int_equal(json_array_size(empty), 0);
    json_decref(empty);
    json_decref(traces);
    json_decref(ref);
    ft_serve_env_end(&e);
}

/* Paging: limit and the X-Next-Cursor header walk every trace once. */
static void test_paging(void **state)
{
    (void)state;
    env e;
    ft_serve_env_start(&e, "serve-paging", "", NULL);
    for (int i = 1; i <= N_FIXTURES; i++) {
        size_t len;
        uint8_t *b = ft_fixture(i, &len);
        expect_status(e.d.otlp_port, "POST", "/v1/traces", k_pb, b, len, 200);
        free(b);
    }
    json_t *all = ft_test_get_json(e.d.ui_port, "/api/traces?limit=1000", 200);
    size_t seen = 0;
    char cursor[128] = "";
    for (int page = 0; page < 100; page++) {
        char path[256];
        snprintf(path, sizeof path, "/api/traces?limit=3%s%s", *cursor ? "&cursor=" : "", cursor);
        ft_http_resp r;
        assert_int_equal(ft_http_once(e.d.ui_port, "GET", path, NULL, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        json_t *j = json_loadb((const char *)r.body, r.len, 0, NULL);
        for (size_t i = 0; i < json_array_size(j); i++)
            assert_true(json_equal(json_array_get(j, i), json_array_get(all, seen + i)));
        seen += json_array_size(j);
        json_decref(j);
        char *next = ft_http_header(&r, "X-Next-Cursor");
        ft_http_resp_free(&r);
        if (next == NULL)
            break;
        snprintf(cursor, sizeof cursor, "%s", next);
        free(next);
    }
    assert_int_equal(seen, json_array_size(all));
    json_decref(all);
    ft_serve_env_end(&e);
}

/* ---- status codes ---- */

static uint8_t *gzip_bytes(const uint8_t *in, size_t len, size_t repeat, size_t *out_len)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, len) * 2 + len / 100 * repeat + 65536, n = 0;
    uint8_t *out = malloc(cap);
    for (size_t r = 0; r < repeat; r++) {
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)len;
        do {
            if (cap - n < 65536) {
                cap *= 2;
                out = realloc(out, cap);
            }
            z.next_out = out + n;
            z.avail_out = (uInt)(cap - n);
            assert_true(deflate(&z, r + 1 == repeat ? Z_FINISH : Z_NO_FLUSH) != Z_STREAM_ERROR);
            n = cap - z.avail_out;
        } while (z.avail_in > 0 || (r + 1 == repeat && z.avail_out == 0));
    }
    int zr;
    do {
        z.next_out = out + n;
        z.avail_out = (uInt)(cap - n);
        zr = deflate(&z, Z_FINISH);
        n = cap - z.avail_out;
    } while (zr == Z_OK);
    deflateEnd(&z);
    *out_len = n;
    return out;
}

static void test_status_codes(void **state)
{
    (void)state;
    env e;
    const char *const extra[] = {"--body-limit", "1MiB", NULL};
    ft_serve_env_start(&e, "serve-status", "", extra);
    int port = e.d.otlp_port;
    size_t len;
    uint8_t *b = ft_fixture(2, &len);

    /* 405 with Allow, 404 */
    ft_http_resp r;
    assert_int_equal(ft_http_once(port, "GET", "/v1/traces", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 405);
    char *allow = ft_http_header(&r, "Allow");
    assert_non_null(allow);
    assert_string_equal(allow, "POST");
    free(allow);
    ft_http_resp_free(&r);
    expect_status(port, "POST", "/v1/metrics", k_pb, b, len, 404);

    /* 415: content type, content encoding */
    const char *const text[] = {"Content-Type: text/plain", NULL};
    expect_status(port, "POST", "/v1/traces", text, b, len, 415);
    expect_status(port, "POST", "/v1/traces", NULL, b, len, 415);
    const char *const br[] = {"Content-Type: application/x-protobuf", "Content-Encoding: br", NULL};
    expect_status(port, "POST", "/v1/traces", br, b, len, 415);

    /* 400: truncated protobuf, with a google.rpc.Status body */
    assert_int_equal(post(port, b, len - 7, NULL, &r), 0);
    assert_int_equal(r.status, 400);
    assert_true(r.len > 4);
    assert_int_equal(r.body[0], 0x08); /* field 1 (code), varint */
    assert_int_equal(r.body[1], 3);    /* INVALID_ARGUMENT */
    assert_int_equal(r.body[2], 0x12); /* field 2 (message) */
    ft_http_resp_free(&r);
    still_serving(&e);

    /* 400: malformed JSON, answered in JSON */
    const char *const js[] = {"Content-Type: application/json", NULL};
    assert_int_equal(post(port, "{\"resourceSpans\": [", 19, js, &r), 0);
    assert_int_equal(r.status, 400);
    json_t *st = json_loadb((const char *)r.body, r.len, 0, NULL);
    assert_non_null(st);
    assert_int_equal(json_integer_value(json_object_get(st, "code")), 3);
    assert_non_null(json_string_value(json_object_get(st, "message")));
    json_decref(st);
    ft_http_resp_free(&r);

    /* 200 JSON: "{}" */
    assert_int_equal(post(port, "{\"resourceSpans\":[]}", 20, js, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal((char *)r.body, "{}");
    ft_http_resp_free(&r);

    /* 413: declared too large; streamed (chunked) too large */
    size_t big_len = 2u << 20;
    uint8_t *big = calloc(1, big_len);
    expect_status(port, "POST", "/v1/traces", k_pb, big, big_len, 413);
    int fd = ft_http_connect(port);
    assert_int_equal(ft_http_request(fd, "POST", "/v1/traces", k_pb, big, big_len, 65536, &r), 0);
    assert_int_equal(r.status, 413);
    ft_http_resp_free(&r);
    ft_http_close(fd);
    still_serving(&e);

    /* 413: a gzip bomb (256 MiB of zeros in ~256 KiB) is cut off */
    size_t bomb_len;
    uint8_t *bomb = gzip_bytes(big, 1u << 20, 256, &bomb_len);
    assert_true(bomb_len < (1u << 20));
    const char *const gz[] = {"Content-Type: application/x-protobuf", "Content-Encoding: gzip", NULL};
    assert_int_equal(post(port, bomb, bomb_len, gz, &r), 0);
    assert_int_equal(r.status, 413);
    ft_http_resp_free(&r);
    free(bomb);
    still_serving(&e);

    /* 200: gzip, zstd, deflate bodies */
    size_t gl;
    uint8_t *g = gzip_bytes(b, len, 1, &gl);
    expect_status(port, "POST", "/v1/traces", gz, g, gl, 200);
    free(g);
    size_t zcap = ZSTD_compressBound(len);
    uint8_t *zb = malloc(zcap);
    size_t zl = ZSTD_compress(zb, zcap, b, len, 3);
    assert_false(ZSTD_isError(zl));
    const char *const zs[] = {"Content-Type: application/x-protobuf", "Content-Encoding: zstd", NULL};
    expect_status(port, "POST", "/v1/traces", zs, zb, zl, 200);
    /* a truncated zstd body is bad data */
    expect_status(port, "POST", "/v1/traces", zs, zb, zl / 2, 400);
    free(zb);
    uLongf dl = compressBound(len);
    uint8_t *db = malloc(dl);
    assert_int_equal(compress(db, &dl, b, len), Z_OK);
    const char *const df[] = {"Content-Type: application/x-protobuf", "Content-Encoding: deflate", NULL};
    expect_status(port, "POST", "/v1/traces", df, db, dl, 200);
    free(db);

    /* 200 with partial_success: one span with a 15-byte trace id */
    ft_pbw w;
    ft_pbw_init(&w);
    build_spans(&w, 1, 2, 0);
    /* corrupt the second span's trace id length: rebuild by hand */
    ft_pbw_reset(&w);
    ft_pbw_begin(&w, 1);
    ft_pbw_begin(&w, 2);
    ft_pbw_begin(&w, 2);
    ft_pbw_bytes(&w, 1, "0123456789abcdef", 16);
    ft_pbw_bytes(&w, 2, "01234567", 8);
    ft_pbw_str(&w, 5, "good");
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 2);
    ft_pbw_bytes(&w, 1, "0123456789abcde", 15);
    ft_pbw_bytes(&w, 2, "01234567", 8);
    ft_pbw_str(&w, 5, "bad");
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    assert_int_equal(post(port, w.buf, w.len, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    /* ExportTraceServiceResponse{1: ExportTracePartialSuccess{1: 1, 2: msg}} */
    assert_true(r.len > 6);
    assert_int_equal(r.body[0], 0x0a);
    assert_int_equal(r.body[2], 0x08);
    assert_int_equal(r.body[3], 1);
    assert_int_equal(r.body[4], 0x12);
    ft_http_resp_free(&r);
    ft_pbw_free(&w);
    assert_true(metric(e.d.ui_port, "fedtrace_spans_rejected_total") == 1);
    assert_true(metric(e.d.ui_port, "fedtrace_otlp_requests_total{signal=\"traces\",status=\"413\"}") == 3);

    /* logs: a record with a trace id comes back from /api/logs */
    ft_pbw_init(&w);
    ft_pbw_begin(&w, 1); /* ResourceLogs */
    ft_pbw_begin(&w, 2); /* ScopeLogs */
    ft_pbw_begin(&w, 2); /* LogRecord */
    ft_pbw_fixed64(&w, 1, 1700000000000000000ull);
    ft_pbw_varint(&w, 2, 9);
    ft_pbw_begin(&w, 5);
    ft_pbw_str(&w, 1, "delivery failed");
    ft_pbw_end(&w);
    ft_pbw_bytes(&w, 9, "0123456789abcdef", 16);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    assert_int_equal(ft_http_once(port, "POST", "/v1/logs", k_pb, w.buf, w.len, &r), 0);
    assert_int_equal(r.status, 200);
    ft_http_resp_free(&r);
    ft_pbw_free(&w);
    json_t *logs = ft_test_get_json(e.d.ui_port, "/api/logs/30313233343536373839616263646566", 200);
    assert_int_equal(json_array_size(logs), 1);
    json_decref(logs);

    /* the UI listener refuses writes */
    expect_status(e.d.ui_port, "POST", "/api/traces", k_pb, b, len, 405);
    still_serving(&e);
    free(big);
    free(b);
    ft_serve_env_end(&e);
}

/* ---- overload and a store that cannot take data ---- */

typedef struct bg_post {
    int port;
    const uint8_t *body;
    size_t len;
    int status;
} bg_post;

static void *bg_post_run(void *arg)
{
    bg_post *p = arg;
    ft_http_resp r;
    p->status = post(p->port, p->body, p->len, NULL, &r) == 0 ? r.status : -1;
    ft_http_resp_free(&r);
    return NULL;
}

/* Holds LMDB's writer lock from this process, so that the daemon's store
 * writes wait: a store that is slow, deterministically. */
static MDB_env *hold_writer(const char *dir, MDB_txn **txn)
{
    MDB_env *menv;
    assert_int_equal(mdb_env_create(&menv), 0);
    mdb_env_set_maxdbs(menv, 4);
    mdb_env_set_mapsize(menv, (size_t)4 << 30);
    int rc = mdb_env_open(menv, dir, MDB_NOTLS, 0644);
    if (rc != 0)
        fail_msg("mdb_env_open %s: %s", dir, mdb_strerror(rc));
    assert_int_equal(mdb_txn_begin(menv, NULL, 0, txn), 0);
    return menv;
}

static void wait_metric(int ui_port, const char *name, double want)
{
    for (int i = 0; i < 400; i++) {
        if (metric(ui_port, name) == want)
            return;
        usleep(25000);
    }
    fail_msg("%s never reached %g", name, want);
}

static void test_overload_and_sigterm(void **state)
{
    (void)state;
    env e;
    const char *const extra[] = {"--max-inflight", "1", "--disk-budget", "0", NULL};
    ft_serve_env_start(&e, "serve-overload", "", extra);
    size_t len;
    uint8_t *b = ft_fixture(3, &len);
    expect_status(e.d.otlp_port, "POST", "/v1/traces", k_pb, b, len, 200);

    char dir[700];
    snprintf(dir, sizeof dir, "%s/store", e.dir);
    MDB_txn *txn;
    MDB_env *menv = hold_writer(dir, &txn);
    bg_post p = {e.d.otlp_port, b, len, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_post_run, &p), 0);
    wait_metric(e.d.ui_port, "fedtrace_otlp_inflight_requests", 1);

    /* the one slot is taken: 429 with Retry-After */
    ft_http_resp r;
    assert_int_equal(post(e.d.otlp_port, b, len, NULL, &r), 0);
    assert_int_equal(r.status, 429);
    char *ra = ft_http_header(&r, "Retry-After");
    assert_non_null(ra);
    assert_true(atoi(ra) > 0);
    free(ra);
    ft_http_resp_free(&r);

    /* SIGTERM now: the request being stored must still be answered 200 */
    kill(e.d.pid, SIGTERM);
    usleep(300000);
    mdb_txn_abort(txn);
    mdb_env_close(menv);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(p.status, 200);
    int st = ft_daemon_stop(&e.d, 0); /* already signalled: just wait */
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    uint8_t *log = ft_test_read_file(e.log, NULL);
    assert_non_null(strstr((char *)log, "stopped; store closed"));
    free(log);
    free(b);
    ft_serve_env_end(&e);
}

static void test_store_full_503(void **state)
{
    (void)state;
    env e;
    const char *const extra[] = {"--disk-budget", "0", NULL};
    ft_serve_env_start(&e, "serve-full", "?mapsize=1MiB", extra);
    ft_pbw w;
    ft_pbw_init(&w);
    int got503 = 0;
    unsigned k;
    for (k = 0; k < 64 && !got503; k++) {
        build_spans(&w, k * 4, 4, 20000);
        ft_http_resp r;
        assert_int_equal(post(e.d.otlp_port, w.buf, w.len, NULL, &r), 0);
        if (r.status == 503) {
            char *ra = ft_http_header(&r, "Retry-After");
            assert_non_null(ra);
            free(ra);
            assert_int_equal(r.body[0], 0x08);
            assert_int_equal(r.body[1], 14); /* UNAVAILABLE */
            got503 = 1;
        } else {
            assert_int_equal(r.status, 200);
        }
        ft_http_resp_free(&r);
    }
    assert_true(got503);
    /* the daemon keeps serving: health says why, reads still work */
    expect_status(e.d.ui_port, "GET", "/healthz", NULL, NULL, 0, 503);
    assert_int_equal(spans_of(e.d.ui_port, 0), 1);
    assert_true(metric(e.d.ui_port, "fedtrace_store_up") == 0);
    ft_pbw_free(&w);
    ft_serve_env_end(&e);
}

/* ---- the disk budget ---- */

static void test_disk_budget(void **state)
{
    (void)state;
    env e;
    const char *const extra[] = {"--disk-budget", "2MiB", NULL};
    ft_serve_env_start(&e, "serve-budget", "", extra);
    ft_pbw w;
    ft_pbw_init(&w);
    const unsigned n = 120; /* 120 traces of ~64 KB: ~8 MB, four times the budget */
    for (unsigned k = 0; k < n; k++) {
        build_spans(&w, k, 1, 64000);
        ft_http_resp r;
        assert_int_equal(post(e.d.otlp_port, w.buf, w.len, NULL, &r), 0);
        assert_int_equal(r.status, 200);
        ft_http_resp_free(&r);
        if (k % 30 == 29)
            sleep(1); /* let maintenance rounds run during ingest */
    }
    ft_pbw_free(&w);
    double bytes = 0;
    for (int i = 0; i < 100; i++) {
        bytes = metric(e.d.ui_port, "fedtrace_store_bytes");
        if (bytes > 0 && bytes <= 2.0 * 1024 * 1024)
            break;
        usleep(100000);
    }
    if (!(bytes > 0 && bytes <= 2.0 * 1024 * 1024)) {
        uint8_t *log = ft_test_read_file(e.log, NULL);
        fail_msg("store bytes %g over the budget; log:\n%s", bytes, log ? (char *)log : "");
    }
    assert_true(metric(e.d.ui_port, "fedtrace_evicted_traces_total") > 0);
    assert_int_equal(spans_of(e.d.ui_port, 0), 0);     /* the oldest went */
    assert_int_equal(spans_of(e.d.ui_port, n - 1), 1); /* the newest stayed */
    ft_serve_env_end(&e);
}

/* ---- durability under SIGKILL ---- */

typedef struct writer {
    int port;
    unsigned next;
    unsigned acked[100000];
    size_t n_acked;
    volatile int stop;
} writer;

static void *writer_run(void *arg)
{
    writer *wr = arg;
    ft_pbw w;
    ft_pbw_init(&w);
    int fd = ft_http_connect(wr->port);
    while (!wr->stop && fd >= 0 && wr->n_acked < 100000) {
        unsigned k = wr->next;
        build_spans(&w, k, 1, 200);
        ft_http_resp r;
        if (ft_http_request(fd, "POST", "/v1/traces", k_pb, w.buf, w.len, 0, &r) != 0)
            break; /* the daemon died */
        if (r.status == 200)
            wr->acked[wr->n_acked++] = k;
        ft_http_resp_free(&r);
        wr->next++;
    }
    ft_http_close(fd);
    ft_pbw_free(&w);
    return NULL;
}

static void test_sigkill_loses_nothing_acknowledged(void **state)
{
    (void)state;
    env e;
    ft_serve_env_start(&e, "serve-kill", "", NULL);
    enum { N_WRITERS = 3 };
    writer *wr = calloc(N_WRITERS, sizeof *wr);
    pthread_t th[N_WRITERS];
    for (int i = 0; i < N_WRITERS; i++) {
        wr[i].port = e.d.otlp_port;
        wr[i].next = (unsigned)i * 1000000u;
        assert_int_equal(pthread_create(&th[i], NULL, writer_run, &wr[i]), 0);
    }
    /* kill while all writers are mid-stream */
    for (int i = 0; i < 200; i++) {
        size_t acked = 0;
        for (int j = 0; j < N_WRITERS; j++)
            acked += wr[j].n_acked;
        if (acked > 600)
            break;
        usleep(10000);
    }
    int st = ft_daemon_stop(&e.d, SIGKILL);
    assert_true(WIFSIGNALED(st));
    for (int i = 0; i < N_WRITERS; i++)
        pthread_join(th[i], NULL);
    ft_serve_env_restart(&e, NULL);
    size_t checked = 0;
    for (int i = 0; i < N_WRITERS; i++)
        for (size_t j = 0; j < wr[i].n_acked; j++) {
            if (spans_of(e.d.ui_port, wr[i].acked[j]) != 1)
                fail_msg("trace %u was answered 200 but is not stored", wr[i].acked[j]);
            checked++;
        }
    assert_true(checked > 100);
    printf("sigkill: %zu acknowledged traces all present after restart\n", checked);
    free(wr);
    ft_serve_env_end(&e);
}

/* ---- listeners ---- */

static void test_listeners_off_and_bad_flags(void **state)
{
    (void)state;
    env e;
    const char *const only_otlp[] = {"--ui-listen", "off", NULL};
    ft_serve_env_start(&e, "serve-off", "", only_otlp);
    assert_true(e.d.otlp_port > 0);
    assert_int_equal(e.d.ui_port, 0);
    size_t len;
    uint8_t *b = ft_fixture(1, &len);
    expect_status(e.d.otlp_port, "POST", "/v1/traces", k_pb, b, len, 200);
    free(b);
    int st = ft_daemon_stop(&e.d, SIGINT);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* both off, a bad duration, an unknown flag: refused at start */
    const char *const both_off[] = {"--ui-listen", "off", "--otlp-listen", "off", NULL};
    assert_int_equal(ft_daemon_start(&e.d, e.store, e.log, both_off), -1);
    const char *const bad[] = {"--retention", "forever", NULL};
    assert_int_equal(ft_daemon_start(&e.d, e.store, e.log, bad), -1);
    uint8_t *log = ft_test_read_file(e.log, NULL);
    assert_non_null(strstr((char *)log, "--retention: \"forever\" is not a duration"));
    assert_non_null(strstr((char *)log, "both listeners are off"));
    free(log);
    ft_serve_env_end(&e);
}

/* Bearer tokens: OTLP and the API each need their own when set; health
 * stays open; an API beyond loopback needs a token or an explicit flag. */
static void test_auth(void **state)
{
    (void)state;
    env e;
    const char *const extra[] = {"--otlp-token", "ingest-secret", "--api-token", "read-secret", NULL};
    ft_serve_env_start(&e, "serve-auth", "", extra);
    size_t len;
    uint8_t *b = ft_fixture(1, &len);
    ft_http_resp r;
    assert_int_equal(post(e.d.otlp_port, b, len, NULL, &r), 0);
    assert_int_equal(r.status, 401);
    char *wa = ft_http_header(&r, "WWW-Authenticate");
    assert_non_null(wa);
    assert_non_null(strstr(wa, "Bearer"));
    free(wa);
    assert_int_equal(r.body[0], 0x08);
    assert_int_equal(r.body[1], 16); /* UNAUTHENTICATED */
    ft_http_resp_free(&r);
    const char *const wrong[] = {"Content-Type: application/x-protobuf",
                                 "Authorization: Bearer ingest-secreT", NULL};
    expect_status(e.d.otlp_port, "POST", "/v1/traces", wrong, b, len, 401);
    const char *const other[] = {"Content-Type: application/x-protobuf",
                                 "Authorization: Bearer read-secret", NULL};
    expect_status(e.d.otlp_port, "POST", "/v1/traces", other, b, len, 401);
    const char *const right[] = {"Content-Type: application/x-protobuf",
                                 "Authorization: Bearer ingest-secret", NULL};
    expect_status(e.d.otlp_port, "POST", "/v1/traces", right, b, len, 200);
    free(b);

    expect_status(e.d.ui_port, "GET", "/api/traces", NULL, NULL, 0, 401);
    expect_status(e.d.ui_port, "GET", "/metrics", NULL, NULL, 0, 401);
    expect_status(e.d.ui_port, "GET", "/healthz", NULL, NULL, 0, 200);
    const char *const api[] = {"Authorization: Bearer read-secret", NULL};
    expect_status(e.d.ui_port, "GET", "/api/traces", api, NULL, 0, 200);
    /* answers are data: not sniffed, not framed, no scripts */
    assert_int_equal(ft_http_once(e.d.ui_port, "GET", "/api/traces", api, NULL, 0, &r), 0);
    char *csp = ft_http_header(&r, "Content-Security-Policy");
    char *nosniff = ft_http_header(&r, "X-Content-Type-Options");
    assert_non_null(csp);
    assert_non_null(strstr(csp, "frame-ancestors 'none'"));
    assert_non_null(strstr(csp, "default-src 'none'"));
    assert_non_null(nosniff);
    assert_string_equal(nosniff, "nosniff");
    free(csp);
    free(nosniff);
    ft_http_resp_free(&r);
    expect_status(e.d.ui_port, "GET", "/metrics", api, NULL, 0, 200);
    const char *const api_wrong[] = {"Authorization: Bearer ingest-secret", NULL};
    expect_status(e.d.ui_port, "GET", "/api/traces", api_wrong, NULL, 0, 401);
    assert_true(metric_with(e.d.ui_port, api, "fedtrace_otlp_requests_total{signal=\"traces\",status=\"401\"}") == 3);
    int st = ft_daemon_stop(&e.d, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* beyond loopback: refused without a token, accepted when told */
    const char *const open_ui[] = {"--ui-listen", "0.0.0.0:0", NULL};
    assert_int_equal(ft_daemon_start(&e.d, e.store, e.log, open_ui), -1);
    uint8_t *log = ft_test_read_file(e.log, NULL);
    assert_non_null(strstr((char *)log, "refusing to serve the dashboard and API on 0.0.0.0:0 without authentication"));
    free(log);
    const char *const allowed[] = {"--ui-listen", "0.0.0.0:0", "--allow-unauthenticated", NULL};
    assert_int_equal(ft_daemon_start(&e.d, e.store, e.log, allowed), 0);
    expect_status(e.d.ui_port, "GET", "/api/traces", NULL, NULL, 0, 200);
    const char *const tokened[] = {"--ui-listen", "0.0.0.0:0", "--api-token", "x", NULL};
    st = ft_daemon_stop(&e.d, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(ft_daemon_start(&e.d, e.store, e.log, tokened), 0);
    expect_status(e.d.ui_port, "GET", "/api/traces", NULL, NULL, 0, 401);
    ft_serve_env_end(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_through_http),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_status_codes),
        cmocka_unit_test(test_overload_and_sigterm),
        cmocka_unit_test(test_store_full_503),
        cmocka_unit_test(test_disk_budget),
        cmocka_unit_test(test_sigkill_loses_nothing_acknowledged),
        cmocka_unit_test(test_listeners_off_and_bad_flags),
        cmocka_unit_test(test_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
