/*
 * ingest_inproc.c - ft_ingest_inproc: the exporter's cost per span without
 * HTTP, for profiling what the store path does.
 *
 *   ft_ingest_inproc --store URL --body FILE [--requests N] [--no-metrics]
 *
 * FILE is one ExportTraceServiceRequest body (`ft_loadgen --dump FILE`
 * writes the first body of a run).  Each of the N requests (default 200)
 * decodes it again (arena reset, as the receiver does) and, before it is
 * exported, gives every trace id new leading bytes so that each request
 * brings traces the store has not seen; then ft_exporter_export_spans
 * stores it, with RED counting as `fedtrace serve` does unless
 * --no-metrics.  One thread, one request at a time: no group commit.
 *
 * Output: a "result " line of key=value pairs (spans/s, user and system
 * CPU per span, bytes handed to write calls per span, seconds), then one
 * line for people.  `perf record -g
 * build/bench/ft_ingest_inproc ...` shows where the time goes.
 */
#include "fedtrace/exporter.h"
#include "fedtrace/otlp.h"
#include "fedtrace/services.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Bytes this process has handed to write(2) and its kin so far (the
 * "wchar" of /proc/self/io: LMDB's page writes, before the kernel's own
 * accounting), -1 when unknown. */
static long long written_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    long long v = -1;
    char line[128];
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "wchar: %lld", &v) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return v;
}

static int usage(void)
{
    fprintf(stderr, "usage: ft_ingest_inproc --store URL --body FILE [--requests N] "
                    "[--no-metrics]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *store = NULL, *path = NULL;
    long requests = 200;
    bool metrics = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
            store = argv[++i];
        else if (strcmp(argv[i], "--body") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc)
            requests = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--no-metrics") == 0)
            metrics = false;
        else
            return usage();
    }
    if (store == NULL || path == NULL || requests <= 0)
        return usage();
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 20, len = 0;
    uint8_t *body = malloc(cap);
    size_t got;
    while (body != NULL && (got = fread(body + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            uint8_t *grown = realloc(body, cap *= 2);
            if (grown == NULL)
                free(body);
            body = grown;
        }
    }
    fclose(f);
    if (body == NULL) {
        fprintf(stderr, "ft_ingest_inproc: out of memory\n");
        return 1;
    }
    ft_err err = {0};
    ft_kv *kv = NULL;
    ft_metrics *m = NULL;
    ft_exporter *ex = NULL;
    if (ft_kv_open(store, &kv, &err) != FT_OK ||
        (metrics && ft_metrics_create(NULL, 0, &m, &err) != FT_OK) ||
        ft_exporter_create(kv, &(ft_exporter_opts){.metrics = m}, &ex, &err) != FT_OK) {
        fprintf(stderr, "ft_ingest_inproc: %s\n", err.msg);
        return 1;
    }
    ft_arena *a = ft_arena_create(0);
    size_t spans = 0;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    long long w0 = written_bytes();
    double t0 = now_s();
    int status = 0;
    for (long i = 0; i < requests && status == 0; i++) {
        ft_arena_reset(a);
        ft_span_batch b;
        if (ft_otlp_decode_traces_pb(body, len, a, &b, &err) != FT_OK) {
            fprintf(stderr, "ft_ingest_inproc: %s: %s\n", path, err.msg);
            status = 1;
            break;
        }
        for (size_t k = 0; k < b.n; k++) {
            uint32_t x = (uint32_t)i + 1;
            for (int byte = 0; byte < 4; byte++)
                b.spans[k].trace_id[byte] ^= (uint8_t)(x >> (8 * byte));
        }
        if (ft_exporter_export_spans(ex, &b, NULL, &err) != FT_OK) {
            fprintf(stderr, "ft_ingest_inproc: export: %s\n", err.msg);
            status = 1;
        }
        spans += b.n;
    }
    double secs = now_s() - t0;
    getrusage(RUSAGE_SELF, &r1);
    double user = tv_s(r1.ru_utime) - tv_s(r0.ru_utime);
    double sys = tv_s(r1.ru_stime) - tv_s(r0.ru_stime);
    long long w1 = written_bytes();
    double wps = w0 >= 0 && w1 >= w0 ? (double)(w1 - w0) / (double)(spans ? spans : 1) : -1;
    if (status == 0 && spans > 0) {
        printf("result spans=%zu requests=%ld seconds=%.3f spans_per_s=%.0f "
               "user_us_per_span=%.2f sys_us_per_span=%.2f written_per_span=%.0f metrics=%d\n",
               spans, requests, secs, (double)spans / secs, user * 1e6 / (double)spans,
               sys * 1e6 / (double)spans, wps, metrics);
        printf("ft_ingest_inproc: %zu spans in %.2f s = %.0f spans/s; CPU per span "
               "%.1f µs user + %.1f µs system; %.0f bytes written per span\n",
               spans, secs, (double)spans / secs, user * 1e6 / (double)spans,
               sys * 1e6 / (double)spans, wps);
    }
    ft_exporter_destroy(ex);
    ft_metrics_destroy(m);
    ft_kv_close(kv);
    ft_arena_destroy(a);
    free(body);
    return status;
}
