/*
 * main.c - the fedtrace command.
 *
 *   fedtrace import FILE...      store OTLP/protobuf trace requests
 *   fedtrace traces              recent traces with activities
 *   fedtrace show TRACE_ID       one trace: activities and spans
 *   fedtrace sweep               remove expired data now
 *
 * Every subcommand takes --store URL (default: $FEDTRACE_STORE, else
 * lmdb:$XDG_DATA_HOME/fedtrace, else lmdb:~/.local/share/fedtrace).
 */
#include "app/app.h"
#include "fedtrace/exporter.h"
#include "fedtrace/otlp.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct cli {
    const char *store;
    bool json;
    size_t limit;
    const char *cursor;
    int64_t ttl_ms;
    int argc; /* positional arguments */
    char **argv;
} cli;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fedtrace COMMAND [OPTIONS] [ARGS]\n"
            "\n"
            "commands:\n"
            "  serve              receive OTLP/HTTP and serve the API (see\n"
            "                     fedtrace serve --help)\n"
            "  import FILE...     store OTLP/HTTP protobuf trace requests (the\n"
            "                     bodies of POST /v1/traces) from files\n"
            "  traces             list recent traces that carry activities\n"
            "  show TRACE_ID      show a trace's activities and span waterfall\n"
            "  sweep              remove expired data from the store now\n"
            "\n"
            "options:\n"
            "  --store URL        memory:, lmdb:DIR (default: $FEDTRACE_STORE or\n"
            "                     lmdb:$XDG_DATA_HOME/fedtrace); see docs/configuration.md\n"
            "  --limit N          traces: how many (default 20)\n"
            "  --cursor C         traces: continue after a previous page\n"
            "  --ttl SECONDS      import: expire the stored data after this long\n"
            "  --json             machine-readable output\n"
            "  -h, --help         this text\n"
            "  --version          print the version\n");
}

char *ft_default_store(void)
{
    const char *env = getenv("FEDTRACE_STORE");
    if (env != NULL && *env)
        return strdup(env);
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    char buf[4096];
    if (xdg != NULL && *xdg)
        snprintf(buf, sizeof buf, "lmdb:%s/fedtrace", xdg);
    else
        snprintf(buf, sizeof buf, "lmdb:%s/.local/share/fedtrace",
                 home && *home ? home : ".");
    return strdup(buf);
}

static int parse_args(int argc, char **argv, cli *c)
{
    c->argv = calloc((size_t)argc + 1, sizeof *c->argv);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            c->json = true;
        } else if (strcmp(a, "--store") == 0 || strcmp(a, "--limit") == 0 ||
                   strcmp(a, "--cursor") == 0 || strcmp(a, "--ttl") == 0) {
            if (val == NULL) {
                fprintf(stderr, "fedtrace: %s needs a value\n", a);
                return 2;
            }
            i++;
            if (strcmp(a, "--store") == 0) {
                c->store = val;
            } else if (strcmp(a, "--cursor") == 0) {
                c->cursor = val;
            } else {
                char *end;
                errno = 0;
                long long n = strtoll(val, &end, 10);
                if (errno || *end || n < 0) {
                    fprintf(stderr, "fedtrace: %s %s: not a number\n", a, val);
                    return 2;
                }
                if (strcmp(a, "--limit") == 0)
                    c->limit = (size_t)n;
                else
                    c->ttl_ms = n * 1000;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "fedtrace: unknown option %s (see fedtrace --help)\n", a);
            return 2;
        } else {
            c->argv[c->argc++] = argv[i];
        }
    }
    return 0;
}

typedef struct session {
    ft_kv *kv;
    ft_exporter *ex;
    ft_arena *arena;
} session;

static int open_session(const cli *c, session *s)
{
    ft_err err = {0};
    memset(s, 0, sizeof *s);
    if (ft_kv_open(c->store, &s->kv, &err) != FT_OK ||
        ft_exporter_create(s->kv, &(ft_exporter_opts){NULL, 0, c->ttl_ms}, &s->ex, &err) != FT_OK) {
        fprintf(stderr, "fedtrace: %s\n", err.msg);
        ft_kv_close(s->kv);
        return 1;
    }
    s->arena = ft_arena_create(0);
    return s->arena ? 0 : 1;
}

static void close_session(session *s)
{
    ft_exporter_destroy(s->ex);
    ft_kv_close(s->kv);
    ft_arena_destroy(s->arena);
}

static int cmd_import(const cli *c)
{
    if (c->argc < 2) {
        fprintf(stderr, "fedtrace import: name one or more OTLP protobuf files\n");
        return 2;
    }
    session s;
    if (open_session(c, &s) != 0)
        return 1;
    int rc = 0;
    ft_export_stats total = {0};
    size_t rejected = 0;
    for (int i = 1; i < c->argc; i++) {
        size_t len;
        char *body;
        ft_err err = {0};
        if (ft_read_file(c->argv[i], 0, &body, &len, &err) != FT_OK) {
            fprintf(stderr, "fedtrace: %s\n", err.msg);
            rc = 1;
            continue;
        }
        ft_arena_reset(s.arena);
        ft_span_batch batch;
        if (ft_otlp_decode_traces_pb((const uint8_t *)body, len, s.arena, &batch, &err) != FT_OK ||
            ft_exporter_export_spans(s.ex, &batch, &total, &err) != FT_OK) {
            fprintf(stderr, "fedtrace: %s: %s\n", c->argv[i], err.msg);
            rc = 1;
        } else if (batch.rejected) {
            fprintf(stderr, "fedtrace: %s: %zu spans rejected (%.*s)\n", c->argv[i],
                    batch.rejected, (int)batch.reject_reason.len, batch.reject_reason.ptr);
        }
        rejected += batch.rejected;
        ft_free(body);
    }
    if (c->json)
        printf("{\"spans\":%zu,\"activities\":%zu,\"rejected\":%zu}\n", total.spans,
               total.activities, rejected);
    else
        printf("stored %zu spans, %zu activities (%zu rejected) in %s\n", total.spans,
               total.activities, rejected, c->store);
    close_session(&s);
    return rc;
}

/* A JSON string value as plain text (for the table); "" if not a string. */
static const char *short_type(const char *t)
{
    const char *hash = strrchr(t, '#');
    return hash ? hash + 1 : t;
}

static int cmd_traces(const cli *c)
{
    session s;
    if (open_session(c, &s) != 0)
        return 1;
    ft_trace_summary *sum;
    size_t n;
    char *next;
    ft_err err = {0};
    ft_recent_opts o = {.limit = c->limit ? c->limit : 20, .cursor = c->cursor};
    int rc = 0;
    if (ft_exporter_recent_traces(s.ex, &o, s.arena, &sum, &n, &next, &err) != FT_OK) {
        fprintf(stderr, "fedtrace: %s\n", err.msg);
        rc = 1;
    } else if (c->json) {
        ft_str js;
        if (ft_trace_summaries_json(sum, n, s.arena, &js, &err) != FT_OK) {
            fprintf(stderr, "fedtrace: %s\n", err.msg);
            rc = 1;
        } else {
            printf("%.*s\n", (int)js.len, js.ptr);
        }
    } else if (n == 0) {
        printf("no traces with activities in %s\n"
               "(store captured OTLP/protobuf requests with: fedtrace import FILE.pb)\n",
               c->store);
    } else {
        printf("%-32s  %-24s  %5s  %s\n", "TRACE", "FIRST ACTIVITY", "COUNT", "TYPES");
        for (size_t i = 0; i < n; i++) {
            printf("%-32s  %-24s  %5zu  ", sum[i].trace_id, sum[i].timestamp,
                   sum[i].activity_count);
            for (size_t j = 0; j < sum[i].n_activity_types; j++) {
                json_t *t = json_loadb(sum[i].activity_types[j].ptr,
                                       sum[i].activity_types[j].len, JSON_DECODE_ANY, NULL);
                const char *ts = json_string_value(t);
                printf("%s%s", j ? ", " : "", ts ? short_type(ts) : "?");
                json_decref(t);
            }
            printf("\n");
        }
        if (next != NULL)
            printf("more: fedtrace traces --cursor %s\n", next);
    }
    close_session(&s);
    return rc;
}

/* Prints s as terminal-safe text: control characters become '?', so that
 * remote content cannot move the cursor or change colours. */
static void safe_print(const char *s)
{
    for (; s != NULL && *s; s++)
        putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

static int cmd_show(const cli *c)
{
    if (c->argc != 2) {
        fprintf(stderr, "fedtrace show: name one trace id (32 hex digits)\n");
        return 2;
    }
    const char *tid = c->argv[1];
    if (strlen(tid) != 32 || strspn(tid, "0123456789abcdef") != 32) {
        fprintf(stderr, "fedtrace show: '%s' is not a trace id (32 lower-case hex digits)\n", tid);
        return 2;
    }
    session s;
    if (open_session(c, &s) != 0)
        return 1;
    ft_str *acts, *spans;
    size_t na, ns;
    ft_err err = {0};
    if (ft_exporter_activities(s.ex, tid, s.arena, &acts, &na, &err) != FT_OK ||
        ft_exporter_spans(s.ex, tid, s.arena, &spans, &ns, &err) != FT_OK) {
        fprintf(stderr, "fedtrace: %s\n", err.msg);
        close_session(&s);
        return 1;
    }
    if (na == 0 && ns == 0) {
        fprintf(stderr, "fedtrace: no trace %s in %s\n", tid, c->store);
        close_session(&s);
        return 1;
    }
    if (c->json) {
        printf("{\"traceId\":\"%s\",\"activities\":[", tid);
        for (size_t i = 0; i < na; i++)
            printf("%s%.*s", i ? "," : "", (int)acts[i].len, acts[i].ptr);
        printf("],\"spans\":[");
        for (size_t i = 0; i < ns; i++)
            printf("%s%.*s", i ? "," : "", (int)spans[i].len, spans[i].ptr);
        printf("]}\n");
        close_session(&s);
        return 0;
    }
    printf("trace %s: %zu activities, %zu spans\n", tid, na, ns);
    for (size_t i = 0; i < na; i++) {
        json_t *r = json_loadb(acts[i].ptr, acts[i].len, JSON_ALLOW_NUL, NULL);
        bool in = strcmp(jstr(r, "direction"), "inbound") == 0;
        printf("\n  %s %s  %s\n", in ? "<-" : "->", short_type(jstr(r, "activityType")),
               jstr(r, "timestamp"));
        printf("     id     ");
        safe_print(jstr(r, "activityId"));
        printf("\n     actor  ");
        safe_print(jstr(r, "actorId"));
        if (!in) {
            printf("\n     inbox  ");
            safe_print(jstr(r, "inboxUrl"));
        }
        json_t *v = json_object_get(r, "verified");
        if (json_is_boolean(v))
            printf("\n     verified %s", json_is_true(v) ? "yes" : "NO");
        json_t *sd = json_object_get(r, "signatureDetails");
        if (sd != NULL) {
            printf(" (http signatures %s, ld signatures %s",
                   json_is_true(json_object_get(sd, "httpSignaturesVerified")) ? "ok" : "no",
                   json_is_true(json_object_get(sd, "ldSignaturesVerified")) ? "ok" : "no");
            if (*jstr(sd, "httpSignaturesFailureReason")) {
                printf("; failure ");
                safe_print(jstr(sd, "httpSignaturesFailureReason"));
            }
            json_t *st = json_object_get(sd, "httpSignaturesKeyFetchStatus");
            if (json_is_integer(st))
                printf(", key fetch HTTP %lld", (long long)json_integer_value(st));
            printf(")");
        }
        printf("\n     span   %s\n", jstr(r, "spanId"));
        json_decref(r);
    }
    /* a text waterfall: offset and width relative to the whole trace */
    uint64_t t0 = UINT64_MAX, t1 = 0;
    json_t **docs = calloc(ns ? ns : 1, sizeof *docs);
    for (size_t i = 0; i < ns; i++) {
        docs[i] = json_loadb(spans[i].ptr, spans[i].len, JSON_ALLOW_NUL, NULL);
        uint64_t a = strtoull(jstr(docs[i], "startTimeUnixNano"), NULL, 10);
        uint64_t b = strtoull(jstr(docs[i], "endTimeUnixNano"), NULL, 10);
        if (a < t0)
            t0 = a;
        if (b > t1)
            t1 = b;
    }
    /* depth of each span: how many of its ancestors are stored */
    int *depth = calloc(ns ? ns : 1, sizeof *depth);
    for (size_t i = 0; i < ns && depth != NULL; i++) {
        const char *parent = jstr(docs[i], "parentSpanId");
        for (int hops = 0; *parent && hops < 32; hops++) {
            size_t j = 0;
            while (j < ns && strcmp(jstr(docs[j], "spanId"), parent) != 0)
                j++;
            if (j == ns)
                break;
            depth[i]++;
            parent = jstr(docs[j], "parentSpanId");
        }
    }
    if (ns > 0) {
        printf("\n  spans (%.1f ms)\n", (double)(t1 - t0) / 1e6);
        double span = t1 > t0 ? (double)(t1 - t0) : 1.0;
        enum { W = 30 };
        for (size_t i = 0; i < ns; i++) {
            uint64_t a = strtoull(jstr(docs[i], "startTimeUnixNano"), NULL, 10);
            uint64_t b = strtoull(jstr(docs[i], "endTimeUnixNano"), NULL, 10);
            int from = (int)((double)(a - t0) / span * W);
            int to = (int)((double)(b - t0) / span * W);
            if (to <= from)
                to = from + 1;
            if (to > W)
                to = W;
            char bar[W + 1];
            for (int k = 0; k < W; k++)
                bar[k] = k >= from && k < to ? '=' : ' ';
            bar[W] = '\0';
            json_t *st = json_object_get(docs[i], "status");
            bool error = json_integer_value(json_object_get(st, "code")) == 2;
            printf("  |%s| %8.2f ms  %s %*s", bar, (double)(b - a) / 1e6,
                   error ? "!" : " ", depth ? 2 * (depth[i] > 12 ? 12 : depth[i]) : 0, "");
            safe_print(jstr(docs[i], "name"));
            printf("\n");
        }
    }
    for (size_t i = 0; i < ns; i++)
        json_decref(docs[i]);
    free(docs);
    free(depth);
    close_session(&s);
    return 0;
}

static int cmd_sweep(const cli *c)
{
    session s;
    if (open_session(c, &s) != 0)
        return 1;
    size_t removed;
    ft_err err = {0};
    int rc = 0;
    if (ft_kv_sweep(s.kv, 0, &removed, &err) != FT_OK) {
        fprintf(stderr, "fedtrace: %s\n", err.msg);
        rc = 1;
    } else {
        printf("removed %zu expired entries\n", removed);
    }
    close_session(&s);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("fedtrace %s\n", FEDTRACE_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "serve") == 0)
        return ft_serve_main(argc - 1, argv + 1);
    cli c = {0};
    int rc = parse_args(argc - 1, argv + 1, &c);
    char *store = NULL;
    if (rc == 0 && c.store == NULL)
        c.store = store = ft_default_store();
    const char *cmd = c.argc > 0 ? c.argv[0] : "";
    if (rc != 0)
        ;
    else if (strcmp(cmd, "import") == 0)
        rc = cmd_import(&c);
    else if (strcmp(cmd, "traces") == 0)
        rc = cmd_traces(&c);
    else if (strcmp(cmd, "show") == 0)
        rc = cmd_show(&c);
    else if (strcmp(cmd, "sweep") == 0)
        rc = cmd_sweep(&c);
    else {
        fprintf(stderr, "fedtrace: unknown command '%s' (see fedtrace --help)\n", cmd);
        rc = 2;
    }
    free(store);
    free(c.argv);
    return rc;
}
