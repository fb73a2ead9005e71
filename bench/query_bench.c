/*
 * query_bench.c - ft_query_bench: how long the two queries a dashboard
 * makes take as the store grows: the newest traces (limit 100, Fedify's
 * getRecentTraces) and one trace's activity records (Fedify's
 * getActivitiesByTraceId).
 *
 *   ft_query_bench --store lmdb:DIR --traces N [--queries Q] [--seed S]
 *                  [--url http://HOST:PORT]
 *   ft_query_bench --store URL --traces N --fill-only [--first F]
 *                  [--epoch-ms MS] [--jobs J] [--seed S]
 *
 * It fills the store through the exporter itself (no HTTP: filling is not
 * what is measured) with N Fedify-shaped traces, each an inbound delivery:
 * a server span "POST /users/{identifier}/inbox" and its producer span
 * "activitypub.inbox" with an "activitypub.activity.received" event
 * carrying 1-3 KB of activity JSON, one trace per second of synthetic
 * time; a store that already holds N traces is not filled again.  Then it
 * runs each query Q times, in process (the exporter on its own store
 * handle) and, with --url, through a running `fedtrace serve` on that
 * store (GET /api/traces?limit=100 and /api/traces/{id} over one
 * keep-alive connection), and prints p50, p99 and max in microseconds.
 *
 * Output: a "result " line of key=value pairs per measurement, then one
 * line for people.
 *
 * For bench/queries_vs_fedify.sh, which grows one Redis from 10k to 1M
 * traces (none of these options changes what the defaults do):
 *   --fill-only    fill, then exit without measuring
 *   --first F      the store already holds traces 0 .. F-1 (of an earlier
 *                  run with the same --epoch-ms): add F .. N-1 only
 *   --epoch-ms MS  trace k starts at MS + k seconds (Unix time, ms); by
 *                  default the synthetic clock ends now, so trace k's time
 *                  depends on N
 *   --jobs J       fill with J threads, each with its own store connection
 *                  and exporter, batch b in thread b mod J (not for lmdb:,
 *                  which one process opens once); each thread draws from
 *                  its own PRNG stream, so span ids and activity sizes
 *                  differ from a one-thread fill
 */
#include "fedtrace/exporter.h"
#include "fedtrace/kv.h"
#include "fedtrace/span.h"
#include "ft_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static uint64_t rng_state;

static uint64_t rnd_from(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static uint64_t rnd(void)
{
    return rnd_from(&rng_state);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void trace_id_of(uint64_t k, uint8_t out[16])
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(k >> (56 - 8 * i));
        out[8 + i] = (uint8_t)((k * 0x9e3779b97f4a7c15ull) >> (56 - 8 * i));
    }
}

#define S(k, v) {FT_STR_LIT(k), {.type = FT_VAL_STRING, .u.s = FT_STR_LIT(v)}}

/* Exports traces [first, first + n) in one batch, drawing from the PRNG
 * stream *rs. */
static int fill_batch(ft_exporter *ex, uint64_t first, size_t n, int64_t base_ms, uint64_t *rs)
{
    static ft_attr res_attrs[] = {S("service.name", "fedify-a"),
                                  S("telemetry.sdk.language", "nodejs")};
    static ft_resource res = {.attrs = {res_attrs, 2}};
    static ft_scope scope = {.name = FT_STR_LIT("@fedify/fedify"), .version = FT_STR_LIT("2.3.6")};
    ft_span *spans = calloc(2 * n, sizeof *spans);
    ft_event *events = calloc(n, sizeof *events);
    ft_attr *ev_attrs = calloc(3 * n, sizeof *ev_attrs);
    char **json = calloc(n, sizeof *json);
    if (spans == NULL || events == NULL || ev_attrs == NULL || json == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = first + i;
        uint64_t t0 = (uint64_t)(base_ms + (int64_t)k * 1000) * 1000000u;
        size_t body = 1024 + (size_t)(rnd_from(rs) % 2048);
        json[i] = malloc(body + 256);
        int w = snprintf(json[i], body + 256,
                         "{\"@context\":\"https://www.w3.org/ns/activitystreams\",\"type\":"
                         "\"Create\",\"id\":\"https://remote%llu.example/activities/%llu\","
                         "\"actor\":\"https://remote%llu.example/users/u%llu\",\"object\":"
                         "{\"type\":\"Note\",\"content\":\"",
                         (unsigned long long)(k % 97), (unsigned long long)k,
                         (unsigned long long)(k % 97), (unsigned long long)(k % 1000));
        for (size_t j = 0; j < body; j++)
            json[i][w++] = (char)('a' + rnd_from(rs) % 26);
        w += snprintf(json[i] + w, 16, "\"}}");
        ft_span *srv = &spans[2 * i], *prod = &spans[2 * i + 1];
        trace_id_of(k, srv->trace_id);
        memcpy(prod->trace_id, srv->trace_id, 16);
        for (int b = 0; b < 8; b++) {
            srv->span_id[b] = (uint8_t)(rnd_from(rs) | 1);
            prod->span_id[b] = (uint8_t)(rnd_from(rs) | 1);
        }
        memcpy(prod->parent_span_id, srv->span_id, 8);
        prod->has_parent = true;
        srv->name = FT_STR_LIT("POST /users/{identifier}/inbox");
        srv->kind = FT_SPAN_KIND_SERVER;
        prod->name = FT_STR_LIT("activitypub.inbox");
        prod->kind = FT_SPAN_KIND_PRODUCER;
        srv->start_ns = t0;
        srv->end_ns = t0 + 20000000u;
        prod->start_ns = t0 + 1000000u;
        prod->end_ns = t0 + 15000000u;
        srv->resource = prod->resource = &res;
        srv->scope = prod->scope = &scope;
        ev_attrs[3 * i] = (ft_attr){FT_STR_LIT("activitypub.activity.json"),
                                    {.type = FT_VAL_STRING, .u.s = {json[i], (size_t)w}}};
        ev_attrs[3 * i + 1] = (ft_attr){FT_STR_LIT("activitypub.activity.verified"),
                                        {.type = FT_VAL_BOOL, .u.b = k % 17 != 0}};
        ev_attrs[3 * i + 2] = (ft_attr)S("activitypub.activity.type",
                                         "https://www.w3.org/ns/activitystreams#Create");
        events[i] = (ft_event){.time_ns = t0 + 2000000u,
                               .name = FT_STR_LIT("activitypub.activity.received"),
                               .attrs = {&ev_attrs[3 * i], 3}};
        prod->events = &events[i];
        prod->n_events = 1;
    }
    ft_span_batch b = {.spans = spans, .n = 2 * n};
    ft_err err = {0};
    int rc = ft_exporter_export_spans(ex, &b, NULL, &err) == FT_OK ? 0 : -1;
    if (rc != 0)
        fprintf(stderr, "ft_query_bench: filling: %s\n", err.msg);
    for (size_t i = 0; i < n; i++)
        free(json[i]);
    free(json);
    free(ev_attrs);
    free(events);
    free(spans);
    return rc;
}

/* --jobs: J threads, each with its own store connection and exporter;
 * thread j exports batches j, j + J, j + 2J, ... of traces [first, end) */
typedef struct fill_job {
    const char *store;
    uint64_t first, end;
    int64_t base_ms;
    size_t j, jobs;
    uint64_t rng;
    int rc;
} fill_job;

static void *fill_thread(void *arg)
{
    fill_job *f = arg;
    ft_kv *kv;
    ft_exporter *ex;
    ft_err err = {0};
    f->rc = -1;
    if (ft_kv_open(f->store, &kv, &err) != FT_OK) {
        fprintf(stderr, "ft_query_bench: fill thread %zu: %s\n", f->j, err.msg);
        return NULL;
    }
    if (ft_exporter_create(kv, NULL, &ex, &err) != FT_OK) {
        fprintf(stderr, "ft_query_bench: fill thread %zu: %s\n", f->j, err.msg);
        ft_kv_close(kv);
        return NULL;
    }
    f->rc = 0;
    for (uint64_t k = f->first + 1000 * f->j; k < f->end; k += 1000 * f->jobs) {
        if (fill_batch(ex, k, f->end - k < 1000 ? (size_t)(f->end - k) : 1000, f->base_ms,
                       &f->rng) != 0) {
            f->rc = -1;
            break;
        }
    }
    ft_exporter_destroy(ex);
    ft_kv_close(kv);
    return NULL;
}

static int fill_parallel(const char *store, uint64_t first, uint64_t end, int64_t base_ms,
                         size_t jobs)
{
    fill_job f[64];
    pthread_t t[64];
    size_t started = 0;
    int rc = 0;
    for (size_t j = 0; j < jobs; j++) {
        /* a stream of its own per thread, from the --seed stream */
        uint64_t r = rnd() ^ (0x9e3779b97f4a7c15ull * (j + 1));
        f[j] = (fill_job){.store = store, .first = first, .end = end, .base_ms = base_ms,
                          .j = j, .jobs = jobs, .rng = r ? r : 1};
        if (pthread_create(&t[j], NULL, fill_thread, &f[j]) != 0) {
            fprintf(stderr, "ft_query_bench: cannot start fill thread %zu\n", j);
            rc = -1;
            break;
        }
        started++;
    }
    for (size_t j = 0; j < started; j++) {
        pthread_join(t[j], NULL);
        if (f[j].rc != 0)
            rc = -1;
    }
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, size_t traces, double *us, size_t q)
{
    qsort(us, q, sizeof *us, cmp_double);
    double p50 = us[q / 2], p99 = us[(size_t)((double)q * 0.99)], max = us[q - 1];
    printf("result what=%s traces=%zu queries=%zu p50_us=%.1f p99_us=%.1f max_us=%.1f\n", what,
           traces, q, p50, p99, max);
    printf("  %-28s %8zu traces: p50 %8.1f us, p99 %8.1f us, max %8.1f us\n", what, traces,
           p50, p99, max);
}

int main(int argc, char **argv)
{
    const char *store = NULL, *url = NULL;
    size_t traces = 10000, queries = 1000, first = 0, jobs = 1;
    int64_t epoch_ms = -1;
    bool fill_only = false;
    rng_state = 0x2545f4914f6cdd1dull;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--store") == 0 && v)
            store = argv[++i];
        else if (strcmp(argv[i], "--traces") == 0 && v)
            traces = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--queries") == 0 && v)
            queries = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0 && v)
            rng_state = strtoull(argv[++i], NULL, 10) | 1;
        else if (strcmp(argv[i], "--url") == 0 && v)
            url = argv[++i];
        else if (strcmp(argv[i], "--fill-only") == 0)
            fill_only = true;
        else if (strcmp(argv[i], "--first") == 0 && v)
            first = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--epoch-ms") == 0 && v)
            epoch_ms = strtoll(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--jobs") == 0 && v)
            jobs = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: ft_query_bench --store URL --traces N [--queries Q] "
                            "[--seed S] [--url http://HOST:PORT]\n"
                            "       ft_query_bench --store URL --traces N --fill-only "
                            "[--first F] [--epoch-ms MS] [--jobs J] [--seed S]\n");
            return 2;
        }
    }
    if (store == NULL || traces == 0 || queries == 0) {
        fprintf(stderr, "ft_query_bench: --store and a positive --traces are required\n");
        return 2;
    }
    if (first >= traces || jobs == 0 || jobs > 64 || epoch_ms < -1) {
        fprintf(stderr, "ft_query_bench: --first must be below --traces, --jobs 1 to 64, "
                        "--epoch-ms not negative\n");
        return 2;
    }
    if (jobs > 1 && strncmp(store, "lmdb:", 5) == 0) {
        fprintf(stderr, "ft_query_bench: --jobs above 1 is not for lmdb: stores\n");
        return 2;
    }
    ft_kv *kv;
    ft_exporter *ex;
    ft_err err = {0};
    if (ft_kv_open(store, &kv, &err) != FT_OK || ft_exporter_create(kv, NULL, &ex, &err) != FT_OK) {
        fprintf(stderr, "ft_query_bench: %s\n", err.msg);
        return 1;
    }
    /* the synthetic clock ends now: the newest trace is a second old
     * (unless --epoch-ms fixes it) */
    int64_t base_ms =
        epoch_ms >= 0 ? epoch_ms : (int64_t)time(NULL) * 1000 - (int64_t)traces * 1000;
    uint8_t probe_id[16];
    char probe[33];
    trace_id_of(traces - 1, probe_id);
    ft_hex_encode(probe_id, 16, probe);
    ft_arena *a = ft_arena_create(0);
    ft_str *recs;
    size_t nrec = 0;
    if (ft_exporter_activities(ex, probe, a, &recs, &nrec, &err) != FT_OK || nrec == 0) {
        double t0 = now_us();
        if (jobs == 1) {
            for (size_t k = first; k < traces; k += 1000)
                if (fill_batch(ex, k, traces - k < 1000 ? traces - k : 1000, base_ms,
                               &rng_state) != 0)
                    return 1;
        } else if (fill_parallel(store, first, traces, base_ms, jobs) != 0) {
            return 1;
        }
        if (first == 0 && jobs == 1)
            fprintf(stderr, "ft_query_bench: filled %zu traces in %.1f s\n", traces,
                    (now_us() - t0) / 1e6);
        else
            fprintf(stderr,
                    "ft_query_bench: filled %zu traces in %.1f s (traces %zu to %zu, %zu "
                    "thread%s)\n",
                    traces - first, (now_us() - t0) / 1e6, first, traces - 1, jobs,
                    jobs == 1 ? "" : "s");
    }
    if (fill_only) {
        ft_arena_destroy(a);
        ft_exporter_destroy(ex);
        ft_kv_close(kv);
        return 0;
    }
    double *us = calloc(queries, sizeof *us);
    /* in process: the newest 100 */
    for (size_t i = 0; i < queries; i++) {
        ft_arena_reset(a);
        ft_trace_summary *s;
        size_t n;
        double t0 = now_us();
        ft_recent_opts o = {.limit = 100};
        if (ft_exporter_recent_traces(ex, &o, a, &s, &n, NULL, &err) != FT_OK || n == 0) {
            fprintf(stderr, "ft_query_bench: recent traces: %s (%zu)\n", err.msg, n);
            return 1;
        }
        us[i] = now_us() - t0;
    }
    report("recent100-inprocess", traces, us, queries);
    /* in process: one trace's records, a random one each time */
    for (size_t i = 0; i < queries; i++) {
        ft_arena_reset(a);
        uint8_t id[16];
        char hex[33];
        trace_id_of(rnd() % traces, id);
        ft_hex_encode(id, 16, hex);
        double t0 = now_us();
        if (ft_exporter_activities(ex, hex, a, &recs, &nrec, &err) != FT_OK || nrec != 1) {
            fprintf(stderr, "ft_query_bench: activities of %s: %s (%zu)\n", hex, err.msg, nrec);
            return 1;
        }
        us[i] = now_us() - t0;
    }
    report("activities-inprocess", traces, us, queries);
    if (url != NULL) {
        /* through the API of a running server on the same store */
        const char *hp = strstr(url, "://");
        int port = hp && strrchr(hp, ':') ? atoi(strrchr(hp, ':') + 1) : 0;
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
        ft_http_conn c;
        if (port <= 0 || ft_http_conn_open(&c, (struct sockaddr *)&sin, sizeof sin) != 0) {
            fprintf(stderr, "ft_query_bench: cannot connect to %s\n", url);
            return 1;
        }
        ft_http_resp r = {0};
        for (int pass = 0; pass < 2; pass++) {
            for (size_t i = 0; i < queries; i++) {
                char path[128];
                if (pass == 0) {
                    snprintf(path, sizeof path, "/api/traces?limit=100");
                } else {
                    uint8_t id[16];
                    char hex[33];
                    trace_id_of(rnd() % traces, id);
                    ft_hex_encode(id, 16, hex);
                    snprintf(path, sizeof path, "/api/traces/%s", hex);
                }
                double t0 = now_us();
                if (ft_http_conn_request(&c, "GET", path, NULL, NULL, 0, 0, &r) != 0 ||
                    r.status != 200) {
                    fprintf(stderr, "ft_query_bench: GET %s failed\n", path);
                    return 1;
                }
                us[i] = now_us() - t0;
            }
            report(pass == 0 ? "recent100-api" : "activities-api", traces, us, queries);
        }
        ft_http_resp_free(&r);
        ft_http_conn_close(&c);
    }
    free(us);
    ft_arena_destroy(a);
    ft_exporter_destroy(ex);
    ft_kv_close(kv);
    return 0;
}
