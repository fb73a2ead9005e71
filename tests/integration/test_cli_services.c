/*
 * test_cli_services.c - `fedtrace services|service|map|slow-queries`
 * against a running server's API and against the store that server writes.
 *
 * One `fedtrace serve` on a temporary LMDB store receives, over OTLP/JSON,
 * four requests of a Mastodon web process as its Ruby instrumentation
 * reports them: the Rack server span "GET /api/v1/timelines/home" of
 * service "mastodon/web", and under it PostgreSQL client spans ("SELECT
 * mastodon", db.name mastodon_production, statements with literals),
 * a Redis call and an http.rb delivery ("HTTP POST") to a remote inbox,
 * which fails once; the requests 30 s apart (over two minutes at least).
 * The server counts them and flushes its counts about once a second, a
 * document per minute; once the API shows them, the CLI must give the
 * same documents through the API (--store http://...) and from the store
 * (--store lmdb:..., read beside the running server), with the numbers
 * those spans make: the inferred services and their kinds, requests and
 * errors, the edges of the map (each once, the minutes merged), and the
 * statements normalized.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "fedtrace/services.h"
#include "ft_http.h"
#include "ft_json_test.h"
#include "ft_serve_env.h"
#include "ft_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static ft_serve_env env;
static char api[64];           /* the server's API, as --store */
static char since[32], until[32]; /* the window: ms since the epoch */
static char tids[4][33];       /* the four requests' traces */

/* The statements as the app sends them, and the first normalized. */
#define STMT_ACCOUNT \
    "SELECT \"accounts\".* FROM \"accounts\" WHERE \"accounts\".\"id\" = %d LIMIT 1"
#define NORM_ACCOUNT "SELECT \"accounts\".* FROM \"accounts\" WHERE \"accounts\".\"id\" = ? LIMIT ?"
#define STMT_STATUSES                                                                          \
    "SELECT \"statuses\".\"id\", \"statuses\".\"updated_at\" FROM \"statuses\"\n"              \
    "  WHERE \"statuses\".\"account_id\" IN (1, 2, 3) AND \"statuses\".\"visibility\" = 'public'" \
    " ORDER BY \"statuses\".\"id\" DESC LIMIT 20"

/* ---- the CLI ---- */

/*
 * Runs FT_BIN with the arguments (NULL-terminated), stdout and stderr to
 * files; returns the exit status and what it wrote (malloc'd).
 */
static int run_argv(const char *const *args, char **out, char **err)
{
    char op[700], ep[700];
    snprintf(op, sizeof op, "%s/cli.out", env.dir);
    snprintf(ep, sizeof ep, "%s/cli.err", env.dir);
    const char *argv[48];
    size_t n = 0;
    argv[n++] = FT_BIN;
    for (; *args != NULL && n < 47; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        close(o);
        close(e);
        execv(FT_BIN, (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    *out = (char *)ft_test_read_file(op, NULL);
    *err = (char *)ft_test_read_file(ep, NULL);
    assert_non_null(*out);
    assert_non_null(*err);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* `fedtrace ARGS... --store STORE --since S --until U` (args end with NULL). */
static int cli(const char *store, char **out, char **err, ...)
{
    const char *args[40];
    size_t n = 0;
    va_list ap;
    va_start(ap, err);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 32;)
        args[n++] = a;
    va_end(ap);
    args[n++] = "--store";
    args[n++] = store;
    args[n++] = "--since";
    args[n++] = since;
    args[n++] = "--until";
    args[n++] = until;
    args[n] = NULL;
    return run_argv(args, out, err);
}

/* The document printed by a --json command that must succeed. */
static json_t *doc_of(const char *what, int st, char *out, char *err)
{
    if (st != 0)
        fail_msg("%s: exit %d: %s", what, st, err);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    if (!json_is_object(j))
        fail_msg("%s: not a JSON object (%s): %.500s", what, je.text, out);
    return j;
}

/*
 * Runs `fedtrace CMD [ARG] --json` against the API and against the store;
 * both must print the same text, and that must be the document the API
 * itself answers at path (with the window added).  Returns it parsed.
 */
static json_t *same_doc(const char *cmd, const char *arg, const char *path)
{
    char *o1, *e1, *o2, *e2;
    int s1 = arg ? cli(api, &o1, &e1, cmd, arg, "--json", NULL)
                 : cli(api, &o1, &e1, cmd, "--json", NULL);
    int s2 = arg ? cli(env.store, &o2, &e2, cmd, arg, "--json", NULL)
                 : cli(env.store, &o2, &e2, cmd, "--json", NULL);
    json_t *via_api = doc_of(cmd, s1, o1, e1);
    json_t *via_store = doc_of(cmd, s2, o2, e2);
    if (strcmp(o1, o2) != 0)
        fail_msg("%s --json differs:\n API   %.800s\n store %.800s", cmd, o1, o2);
    char full[512];
    snprintf(full, sizeof full, "%s%ssince=%s&until=%s", path, strchr(path, '?') ? "&" : "?",
             since, until);
    json_t *direct = ft_test_get_json(env.d.ui_port, full, 200);
    if (!json_equal(direct, via_api)) {
        char *d = json_dumps(direct, JSON_COMPACT);
        fail_msg("%s --json is not what GET %s answers:\n CLI %.800s\n API %.800s", cmd, full,
                 o1, d);
    }
    json_decref(direct);
    json_decref(via_store);
    free(o1);
    free(e1);
    free(o2);
    free(e2);
    return via_api;
}

/* Text output: no line wider than width columns (UTF-8 counted by code
 * point; the CLI writes ASCII and the ellipsis). */
static void assert_fits(const char *out, size_t width)
{
    for (const char *line = out; *line;) {
        size_t n = strcspn(line, "\n"), cols = 0;
        for (size_t i = 0; i < n; i++)
            cols += ((unsigned char)line[i] & 0xc0) != 0x80;
        if (cols > width)
            fail_msg("%zu columns, more than %zu: %.*s", cols, width, (int)n, line);
        line += n + (line[n] == '\n');
    }
}

/* The line of out that contains all of a, b (b may be NULL), or fail. */
static void assert_line(const char *out, const char *a, const char *b)
{
    for (const char *line = out; *line;) {
        size_t n = strcspn(line, "\n");
        char buf[1024];
        snprintf(buf, sizeof buf, "%.*s", (int)(n < 1023 ? n : 1023), line);
        if (strstr(buf, a) != NULL && (b == NULL || strstr(buf, b) != NULL))
            return;
        line += n + (line[n] == '\n');
    }
    fail_msg("no line with \"%s\"%s%s%s in:\n%s", a, b ? " and \"" : "", b ? b : "", b ? "\"" : "",
             out);
}

/* ---- what Mastodon sends ---- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void attr_s(ft_buf *b, bool *first, const char *key, const char *val)
{
    ft_buf_puts(b, *first ? "{\"key\":" : ",{\"key\":");
    *first = false;
    ft_json_cstr(b, key);
    ft_buf_puts(b, ",\"value\":{\"stringValue\":");
    ft_json_cstr(b, val);
    ft_buf_puts(b, "}}");
}

static void attr_i(ft_buf *b, bool *first, const char *key, long long val)
{
    ft_buf_puts(b, *first ? "{\"key\":" : ",{\"key\":");
    *first = false;
    ft_json_cstr(b, key);
    ft_buf_printf(b, ",\"value\":{\"intValue\":\"%lld\"}}", val);
}

/* Opens a span (its attributes follow; span_end closes it).  kind: 2
 * server, 3 client; error: status ERROR with a message. */
static void span_begin(ft_buf *b, bool *first, int trace, int n, int parent, const char *name,
                       int kind, uint64_t start, double ms, bool error)
{
    ft_buf_puts(b, *first ? "{" : ",{");
    *first = false;
    ft_buf_printf(b, "\"traceId\":\"%s\",\"spanId\":\"5e%02d%012d\",", tids[trace], trace, n);
    if (parent >= 0)
        ft_buf_printf(b, "\"parentSpanId\":\"5e%02d%012d\",", trace, parent);
    ft_buf_puts(b, "\"name\":");
    ft_json_cstr(b, name);
    ft_buf_printf(b,
                  ",\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\","
                  "\"status\":{\"code\":%d%s},\"attributes\":[",
                  kind, (unsigned long long)start,
                  (unsigned long long)(start + (uint64_t)(ms * 1e6)), error ? 2 : 0,
                  error ? ",\"message\":\"HTTP::ConnectionError\"" : "");
}

static void span_end(ft_buf *b)
{
    ft_buf_puts(b, "]}");
}

static void scope(ft_buf *b, bool *first, const char *name)
{
    ft_buf_puts(b, *first ? "{\"scope\":{\"name\":" : "]},{\"scope\":{\"name\":");
    *first = false;
    ft_json_cstr(b, name);
    ft_buf_puts(b, ",\"version\":\"0.24.0\"},\"spans\":[");
}

/*
 * Request t (0..3) of mastodon/web: the server span; two account lookups
 * and a statuses query on PostgreSQL (request 2's second lookup takes
 * 45 ms, the others 2 ms); a Redis GET; the delivery to
 * https://remote.example/inbox, which fails in request 3.
 */
static void post_request(int t, uint64_t t0)
{
    ft_buf b = {0};
    bool f = true, fs = true, fa;
    ft_buf_puts(&b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    attr_s(&b, &f, "service.name", "mastodon/web");
    attr_s(&b, &f, "service.version", "4.3.2");
    attr_s(&b, &f, "telemetry.sdk.language", "ruby");
    attr_s(&b, &f, "telemetry.sdk.name", "opentelemetry");
    ft_buf_puts(&b, "]},\"scopeSpans\":[");

    scope(&b, &fs, "OpenTelemetry::Instrumentation::Rack");
    f = true;
    span_begin(&b, &f, t, 1, -1, "GET /api/v1/timelines/home", 2, t0, 80, false);
    fa = true;
    attr_s(&b, &fa, "http.method", "GET");
    attr_s(&b, &fa, "http.scheme", "https");
    attr_s(&b, &fa, "http.host", "mastodon.example");
    attr_s(&b, &fa, "http.target", "/api/v1/timelines/home?limit=20");
    attr_s(&b, &fa, "http.user_agent", "Tusky/25.2");
    attr_i(&b, &fa, "http.status_code", 200);
    span_end(&b);

    scope(&b, &fs, "OpenTelemetry::Instrumentation::PG");
    f = true;
    for (int k = 0; k < 3; k++) {
        char stmt[512];
        if (k < 2)
            snprintf(stmt, sizeof stmt, STMT_ACCOUNT, 100 + 2 * t + k);
        else
            snprintf(stmt, sizeof stmt, "%s", STMT_STATUSES);
        span_begin(&b, &f, t, 2 + k, 1, "SELECT mastodon", 3, t0 + (uint64_t)(2 + 6 * k) * 1000000,
                   t == 2 && k == 1 ? 45 : k == 2 ? 5 : 2, false);
        fa = true;
        attr_s(&b, &fa, "db.system", "postgresql");
        attr_s(&b, &fa, "db.name", "mastodon_production");
        attr_s(&b, &fa, "db.user", "mastodon");
        attr_s(&b, &fa, "db.operation", "SELECT");
        attr_s(&b, &fa, "db.statement", stmt);
        attr_s(&b, &fa, "net.peer.name", "db.internal");
        attr_i(&b, &fa, "net.peer.port", 5432);
        attr_s(&b, &fa, "net.transport", "ip_tcp");
        span_end(&b);
    }

    scope(&b, &fs, "OpenTelemetry::Instrumentation::Redis");
    f = true;
    span_begin(&b, &f, t, 5, 1, "GET", 3, t0 + 30000000, 0.4, false);
    fa = true;
    attr_s(&b, &fa, "db.system", "redis");
    attr_s(&b, &fa, "db.statement", "GET feed:home:109");
    attr_s(&b, &fa, "net.peer.name", "redis.internal");
    attr_i(&b, &fa, "net.peer.port", 6379);
    attr_i(&b, &fa, "db.redis.database_index", 0);
    span_end(&b);

    scope(&b, &fs, "OpenTelemetry::Instrumentation::HTTP");
    f = true;
    span_begin(&b, &f, t, 6, 1, "HTTP POST", 3, t0 + 40000000, 30, t == 3);
    fa = true;
    attr_s(&b, &fa, "http.method", "POST");
    attr_s(&b, &fa, "http.scheme", "https");
    attr_s(&b, &fa, "http.url", "https://remote.example/inbox");
    attr_s(&b, &fa, "net.peer.name", "remote.example");
    attr_i(&b, &fa, "net.peer.port", 443);
    attr_i(&b, &fa, "http.status_code", t == 3 ? 503 : 202);
    span_end(&b);
    ft_buf_puts(&b, "]}]}]}");
    assert_true(ft_buf_ok(&b));

    static const char *const hdr[] = {"Content-Type: application/json", NULL};
    ft_http_resp r;
    assert_int_equal(ft_http_once(env.d.otlp_port, "POST", "/v1/traces", hdr, b.ptr, b.len, &r), 0);
    if (r.status != 200)
        fail_msg("OTLP/JSON request %d: status %d: %s", t, r.status, r.body ? (char *)r.body : "");
    ft_http_resp_free(&r);
    ft_buf_free(&b);
}

/* A service of an api/services document, or NULL. */
static json_t *service_in(json_t *doc, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(doc, "services"), i, s) {
        const char *n = json_string_value(json_object_get(s, "name"));
        if (n != NULL && strcmp(n, name) == 0)
            return s;
    }
    return NULL;
}

static long long jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_number(v))
        fail_msg("no number \"%s\" in %s", k, json_dumps(o, JSON_COMPACT));
    return (long long)json_number_value(v);
}

static const char *jstr(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "";
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    ft_serve_env_start(&env, "cli-services", "", NULL);
    snprintf(api, sizeof api, "http://127.0.0.1:%d/", env.d.ui_port);
    uint64_t t = now_ns();
    long long minute = (long long)(t / 1000000000u / 60 * 60 * 1000);
    snprintf(since, sizeof since, "%lld", minute - 10 * 60000);
    snprintf(until, sizeof until, "%lld", minute + 20 * 60000);
    for (int i = 0; i < 4; i++)
        snprintf(tids[i], sizeof tids[i], "%016llx%08x%08x", (unsigned long long)(t / 1000),
                 (unsigned)getpid(), (unsigned)i);
    /* 30 s apart: over at least two minutes, whose counts must merge */
    for (int i = 0; i < 4; i++)
        post_request(i, t - (uint64_t)(4 - i) * 30000000000u);

    /* the server flushes what it counted about once a second */
    json_t *doc = NULL;
    bool there = false;
    for (int tries = 0; tries < 50 && !there; tries++) {
        if (tries)
            usleep(200 * 1000);
        char *out, *err;
        int st = cli(api, &out, &err, "services", "--json", NULL);
        json_decref(doc);
        doc = st == 0 ? json_loads(out, 0, NULL) : NULL;
        json_t *web = service_in(doc, "mastodon/web");
        json_t *pg = service_in(doc, "mastodon_production");
        json_t *redis = service_in(doc, "redis.internal");
        json_t *remote = service_in(doc, "remote.example");
        there = web && pg && redis && remote &&
                json_integer_value(json_object_get(web, "requests")) >= 4 &&
                json_integer_value(json_object_get(pg, "requests")) >= 12 &&
                json_integer_value(json_object_get(redis, "requests")) >= 4 &&
                json_integer_value(json_object_get(remote, "requests")) >= 4;
        if (!there && tries == 49)
            fail_msg("after 10 s fedtrace services --json shows: exit %d: %s %s", st, out, err);
        free(out);
        free(err);
    }
    json_decref(doc);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ft_serve_env_end(&env);
    return 0;
}

/* ---- tests ---- */

static void test_services(void **state)
{
    (void)state;
    json_t *doc = same_doc("services", NULL, "/api/services");
    assert_int_equal(json_array_size(json_object_get(doc, "services")), 4);
    static const struct {
        const char *name, *kind;
        long long requests, errors;
    } want[] = {
        {"mastodon_production", "database", 12, 0},
        {"mastodon/web", "instrumented", 4, 0},
        {"redis.internal", "cache", 4, 0},
        {"remote.example", "instance", 4, 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *s = service_in(doc, want[i].name);
        if (s == NULL)
            fail_msg("no service %s", want[i].name);
        assert_string_equal(jstr(s, "kind"), want[i].kind);
        if (jint(s, "requests") != want[i].requests || jint(s, "errors") != want[i].errors)
            fail_msg("%s: %lld requests, %lld errors; want %lld, %lld", want[i].name,
                     jint(s, "requests"), jint(s, "errors"), want[i].requests, want[i].errors);
    }
    /* most requests first */
    assert_string_equal(jstr(json_array_get(json_object_get(doc, "services"), 0), "name"),
                        "mastodon_production");
    json_t *remote = service_in(doc, "remote.example");
    assert_true(json_number_value(json_object_get(remote, "errorRate")) > 0.24 &&
                json_number_value(json_object_get(remote, "errorRate")) < 0.26);
    json_decref(doc);

    /* the table, through the API and from the store, at two widths */
    static const char *const widths[] = {"100", "60"};
    for (size_t w = 0; w < 2; w++) {
        setenv("COLUMNS", widths[w], 1);
        for (int from_store = 0; from_store < 2; from_store++) {
            char *out, *err;
            int st = cli(from_store ? env.store : api, &out, &err, "services", NULL);
            if (st != 0)
                fail_msg("services: exit %d: %s", st, err);
            assert_fits(out, (size_t)atoi(widths[w]));
            assert_line(out, "NAME", "KIND");
            assert_line(out, "ERR%", "P99");
            assert_line(out, "mastodon/web", "instrumented");
            assert_line(out, "mastodon_production", "database");
            assert_line(out, "redis.internal", "cache");
            assert_line(out, "remote.example", "25.0");
            assert_line(out, "4 services from ", NULL);
            assert_null(strchr(out, '\033')); /* no colours into a file */
            if (w == 0) {
                assert_line(out, "RATE/s", "P95");
                assert_line(out, "P50", NULL);
            }
            free(out);
            free(err);
        }
    }
    setenv("COLUMNS", "100", 1);
}

static void test_service(void **state)
{
    (void)state;
    /* a name with '/' goes through the API URL-encoded */
    json_t *doc = same_doc("service", "mastodon/web", "/api/services/mastodon%2Fweb");
    assert_string_equal(jstr(doc, "name"), "mastodon/web");
    assert_string_equal(jstr(doc, "kind"), "instrumented");
    assert_int_equal(jint(doc, "requests"), 4);
    assert_int_equal(jint(doc, "errors"), 0);
    size_t i;
    json_t *v;
    bool home = false;
    json_array_foreach(json_object_get(doc, "operations"), i, v) {
        if (strcmp(jstr(v, "name"), "GET /api/v1/timelines/home") == 0) {
            assert_false(home); /* once, merged */
            home = true;
            assert_string_equal(jstr(v, "spanKind"), "server");
            assert_int_equal(jint(v, "requests"), 4);
        }
    }
    assert_true(home);
    /* it calls the database, the cache and the remote instance */
    json_t *callees = json_object_get(doc, "callees");
    assert_int_equal(json_array_size(callees), 3);
    json_decref(doc);

    doc = same_doc("service", "mastodon_production", "/api/services/mastodon_production");
    assert_string_equal(jstr(doc, "kind"), "database");
    assert_int_equal(jint(doc, "requests"), 12);
    assert_int_equal(json_array_size(json_object_get(doc, "callers")), 1);
    assert_true(json_array_size(json_object_get(doc, "slowQueries")) >= 2);
    json_decref(doc);

    /* the text, both ways */
    for (int from_store = 0; from_store < 2; from_store++) {
        char *out, *err;
        int st = cli(from_store ? env.store : api, &out, &err, "service", "mastodon/web", NULL);
        if (st != 0)
            fail_msg("service: exit %d: %s", st, err);
        assert_fits(out, 100);
        assert_line(out, "mastodon/web", "instrumented");
        assert_line(out, "requests 4", "errors 0");
        assert_line(out, "operations", NULL);
        assert_line(out, "GET /api/v1/timelines/home", "server");
        assert_line(out, "calls (callees)", NULL);
        assert_line(out, "mastodon_production", "database");
        assert_line(out, "remote.example", "instance");
        assert_line(out, "slow queries", NULL);
        assert_line(out, "SELECT \"accounts\".* FROM \"accounts\"", NULL);
        free(out);
        free(err);

        st = cli(from_store ? env.store : api, &out, &err, "service", "remote.example", NULL);
        assert_int_equal(st, 0);
        assert_line(out, "remote.example", "instance");
        assert_line(out, "requests 4", "errors 1 (25.0%)");
        assert_line(out, "called by (callers)", NULL);
        assert_line(out, "mastodon/web", NULL);
        free(out);
        free(err);

        /* a service without spans in the window */
        st = cli(from_store ? env.store : api, &out, &err, "service", "mastodon/sidekiq", NULL);
        if (st != 1)
            fail_msg("service mastodon/sidekiq: exit %d, want 1: %s%s", st, out, err);
        assert_non_null(strstr(err, "no service 'mastodon/sidekiq' with spans from "));
        assert_string_equal(out, "");
        free(out);
        free(err);
    }
}

static void test_map(void **state)
{
    (void)state;
    json_t *doc = same_doc("map", NULL, "/api/map");
    static const struct {
        const char *to, *kind;
        long long calls, errors;
    } want[] = {
        {"mastodon_production", "database", 12, 0},
        {"redis.internal", "cache", 4, 0},
        {"remote.example", "instance", 4, 1},
    };
    json_t *edges = json_object_get(doc, "edges");
    assert_int_equal(json_array_size(edges), 3);
    for (size_t k = 0; k < 3; k++) {
        size_t i, hits = 0;
        json_t *e;
        json_array_foreach(edges, i, e) {
            if (strcmp(jstr(e, "from"), "mastodon/web") != 0 ||
                strcmp(jstr(e, "to"), want[k].to) != 0)
                continue;
            hits++;
            assert_string_equal(jstr(e, "toKind"), want[k].kind);
            if (jint(e, "calls") != want[k].calls || jint(e, "errors") != want[k].errors)
                fail_msg("mastodon/web -> %s: %lld calls, %lld errors; want %lld, %lld",
                         want[k].to, jint(e, "calls"), jint(e, "errors"), want[k].calls,
                         want[k].errors);
        }
        if (hits != 1)
            fail_msg("%zu edges mastodon/web -> %s, want 1", hits, want[k].to);
    }
    assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 4);
    json_decref(doc);

    for (int from_store = 0; from_store < 2; from_store++) {
        char *out, *err;
        int st = cli(from_store ? env.store : api, &out, &err, "map", NULL);
        if (st != 0)
            fail_msg("map: exit %d: %s", st, err);
        assert_fits(out, 100);
        assert_line(out, "FROM", "CALLS");
        assert_line(out, "mastodon/web -> mastodon_production (database)", "12");
        assert_line(out, "mastodon/web -> redis.internal (cache)", NULL);
        assert_line(out, "mastodon/web -> remote.example (instance)", NULL);
        assert_line(out, "3 edges between 4 services", NULL);
        free(out);
        free(err);
    }
}

static void test_slow_queries(void **state)
{
    (void)state;
    char norm_statuses[1024];
    ft_sql_normalize(STMT_STATUSES, strlen(STMT_STATUSES), norm_statuses, sizeof norm_statuses);
    assert_null(strstr(norm_statuses, "public"));
    assert_null(strstr(norm_statuses, "20"));

    json_t *doc = same_doc("slow-queries", NULL, "/api/slow-queries");
    json_t *qs = json_object_get(doc, "queries");
    bool account = false, statuses = false;
    size_t i;
    json_t *q;
    json_array_foreach(qs, i, q) {
        const char *stmt = jstr(q, "statement");
        if (strcmp(stmt, NORM_ACCOUNT) == 0) {
            assert_false(account);
            account = true;
            assert_int_equal(i, 0); /* the highest p99 */
            assert_int_equal(jint(q, "count"), 8);
            assert_string_equal(jstr(q, "service"), "mastodon_production");
            assert_string_equal(jstr(q, "system"), "postgresql");
            assert_string_equal(jstr(q, "caller"), "mastodon/web");
            assert_string_equal(jstr(q, "exampleTraceId"), tids[2]); /* the 45 ms one */
            double max = json_number_value(json_object_get(q, "max"));
            if (max < 44 || max > 46)
                fail_msg("max %.3f ms, want 45", max);
        } else if (strcmp(stmt, norm_statuses) == 0) {
            assert_false(statuses);
            statuses = true;
            assert_int_equal(jint(q, "count"), 4);
        }
        assert_null(strstr(stmt, "'public'"));
    }
    if (!account || !statuses)
        fail_msg("statements missing (%s%s) in %s", account ? "" : "accounts ",
                 statuses ? "" : "statuses", json_dumps(doc, JSON_COMPACT));
    json_decref(doc);

    /* by database, at most one */
    char *o1, *e1, *o2, *e2;
    int s1 = cli(api, &o1, &e1, "slow-queries", "--service", "mastodon_production", "--limit",
                 "1", "--json", NULL);
    int s2 = cli(env.store, &o2, &e2, "slow-queries", "--service", "mastodon_production",
                 "--limit", "1", "--json", NULL);
    json_t *a = doc_of("slow-queries --service", s1, o1, e1);
    assert_int_equal(s2, 0);
    assert_string_equal(o1, o2);
    assert_int_equal(json_array_size(json_object_get(a, "queries")), 1);
    assert_string_equal(jstr(json_array_get(json_object_get(a, "queries"), 0), "statement"),
                        NORM_ACCOUNT);
    char path[256];
    snprintf(path, sizeof path,
             "/api/slow-queries?service=mastodon_production&limit=1&since=%s&until=%s", since,
             until);
    json_t *direct = ft_test_get_json(env.d.ui_port, path, 200);
    assert_true(json_equal(a, direct));
    json_decref(direct);
    json_decref(a);
    free(o1);
    free(e1);
    free(o2);
    free(e2);

    /* the table: numbers, the example trace, the statement wrapped */
    static const char *const widths[] = {"100", "60"};
    for (size_t w = 0; w < 2; w++) {
        setenv("COLUMNS", widths[w], 1);
        for (int from_store = 0; from_store < 2; from_store++) {
            char *out, *err;
            int st = cli(from_store ? env.store : api, &out, &err, "slow-queries", NULL);
            if (st != 0)
                fail_msg("slow-queries: exit %d: %s", st, err);
            assert_fits(out, (size_t)atoi(widths[w]));
            assert_line(out, "COUNT", "MAX");
            if (w == 0) {
                assert_line(out, "    8  ", tids[2]);
                assert_line(out, tids[2], "  mastodon_production <- mastodon/web");
            } else { /* the trace under the statement */
                assert_line(out, "    8  ", "mastodon_production <- mastodon/web");
                assert_line(out, "  example trace ", tids[2]);
            }
            assert_line(out, "  SELECT \"accounts\".* FROM \"accounts\" WHERE", NULL);
            if (w == 0)
                assert_line(out, NORM_ACCOUNT, NULL);
            else
                assert_line(out, "  = ? LIMIT ?", NULL); /* wrapped at a space */
            free(out);
            free(err);
        }
    }
    setenv("COLUMNS", "100", 1);
}

/* Errors: a command that takes no name, a missing name, flags that belong
 * to other commands, a bad window. */
static void test_errors(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(cli(api, &out, &err, "service", NULL), 2);
    assert_non_null(strstr(err, "fedtrace service: name one service"));
    free(out);
    free(err);
    assert_int_equal(cli(api, &out, &err, "map", "extra", NULL), 2);
    assert_non_null(strstr(err, "fedtrace map: takes no arguments"));
    free(out);
    free(err);
    assert_int_equal(cli(api, &out, &err, "services", "--type", "Follow", NULL), 2);
    assert_non_null(strstr(err, "--type is not an option of services"));
    free(out);
    free(err);
    assert_int_equal(cli(api, &out, &err, "map", "--service", "x", NULL), 2);
    assert_non_null(strstr(err, "--service is not an option of map"));
    free(out);
    free(err);
    const char *const bad[] = {"services", "--since", "yesterday", "--store", api, NULL};
    assert_int_equal(run_argv(bad, &out, &err), 2);
    assert_non_null(strstr(err, "--since: "));
    free(out);
    free(err);
    /* until before since */
    const char *const rev[] = {"services", "--since", until, "--until", since,
                               "--store",  api,      NULL};
    assert_int_equal(run_argv(rev, &out, &err), 2);
    assert_non_null(strstr(err, "--since must be before --until"));
    free(out);
    free(err);
}

int main(void)
{
    unsetenv("FEDTRACE_STORE");
    unsetenv("FEDTRACE_API_TOKEN");
    unsetenv("NO_COLOR");
    setenv("COLUMNS", "100", 1);
    setenv("TZ", "UTC", 1);
    setenv("LC_ALL", "C.UTF-8", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_services),
        cmocka_unit_test(test_service),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_slow_queries),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("cli_services", tests, setup, teardown) ? 1 : 0;
}
