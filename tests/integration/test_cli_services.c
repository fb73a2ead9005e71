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
 * statements normalized.  Then show, on a request whose Sidekiq job runs
 * in a trace of its own linked to the enqueuing span: the services the
 * client and producer spans call, and the link from either side, in a
 * store that can list and in a CAS-only one.
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
static char tids[6][33];       /* the four requests' traces; 4, 5: test_show_links */

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

/* ---- show: peers and linked traces ---- */

/* Opens resourceSpans of service svc (Ruby), its first scope named scope_name. */
static void resource_begin(ft_buf *b, const char *svc, const char *scope_name)
{
    bool f = true, fs = true;
    ft_buf_puts(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    attr_s(b, &f, "service.name", svc);
    attr_s(b, &f, "service.version", "4.3.2");
    attr_s(b, &f, "telemetry.sdk.language", "ruby");
    ft_buf_puts(b, "]},\"scopeSpans\":[");
    scope(b, &fs, scope_name);
}

static void post_otlp(ft_serve_env *e, ft_buf *b)
{
    ft_buf_puts(b, "]}]}]}");
    assert_true(ft_buf_ok(b));
    static const char *const hdr[] = {"Content-Type: application/json", NULL};
    ft_http_resp r;
    assert_int_equal(ft_http_once(e->d.otlp_port, "POST", "/v1/traces", hdr, b->ptr, b->len, &r), 0);
    if (r.status != 200)
        fail_msg("OTLP/JSON: status %d: %s", r.status, r.body ? (char *)r.body : "");
    ft_http_resp_free(&r);
    ft_buf_free(b);
}

static void sidekiq_attrs(ft_buf *b, bool *fa, const char *operation)
{
    attr_s(b, fa, "messaging.system", "sidekiq");
    attr_s(b, fa, "messaging.destination", "default");
    attr_s(b, fa, "messaging.destination_kind", "queue");
    attr_s(b, fa, "messaging.operation", operation);
    attr_s(b, fa, "messaging.sidekiq.job_class", "PostDistributionWorker");
    attr_s(b, fa, "messaging.message_id", "9f1c2e4b7a0d3e5f6a7b8c9d");
}

/*
 * As Mastodon posts a status (to e): trace tids[4] of mastodon/web, the
 * request "POST /api/v1/statuses" with an INSERT on PostgreSQL and the
 * Sidekiq producer span "PostDistributionWorker publish" (its Redis LPUSH
 * under it); trace tids[5] of mastodon/sidekiq, the job's consumer span
 * "PostDistributionWorker process", not a child but linked to the publish
 * span, with a SELECT and a Redis call under it.  Two hours ago: outside
 * the window of the other tests.
 */
static void post_linked_traces(ft_serve_env *e, uint64_t t0)
{
    ft_buf b = {0};
    bool f = true, fa;
    resource_begin(&b, "mastodon/web", "OpenTelemetry::Instrumentation::Rack");
    span_begin(&b, &f, 4, 1, -1, "POST /api/v1/statuses", 2, t0, 60, false);
    fa = true;
    attr_s(&b, &fa, "http.method", "POST");
    attr_s(&b, &fa, "http.target", "/api/v1/statuses");
    attr_i(&b, &fa, "http.status_code", 200);
    span_end(&b);
    bool fs = false;
    scope(&b, &fs, "OpenTelemetry::Instrumentation::PG");
    f = true;
    span_begin(&b, &f, 4, 2, 1, "INSERT mastodon", 3, t0 + 5000000, 3, false);
    fa = true;
    attr_s(&b, &fa, "db.system", "postgresql");
    attr_s(&b, &fa, "db.name", "mastodon_production");
    attr_s(&b, &fa, "db.statement", "INSERT INTO \"statuses\" (\"text\") VALUES ('hello')");
    attr_s(&b, &fa, "net.peer.name", "db.internal");
    span_end(&b);
    scope(&b, &fs, "OpenTelemetry::Instrumentation::Sidekiq");
    f = true;
    span_begin(&b, &f, 4, 3, 1, "PostDistributionWorker publish", 4, t0 + 20000000, 2, false);
    fa = true;
    sidekiq_attrs(&b, &fa, "publish");
    span_end(&b);
    scope(&b, &fs, "OpenTelemetry::Instrumentation::Redis");
    f = true;
    span_begin(&b, &f, 4, 4, 3, "LPUSH", 3, t0 + 20500000, 1, false);
    fa = true;
    attr_s(&b, &fa, "db.system", "redis");
    attr_s(&b, &fa, "db.statement", "LPUSH queue:default ?");
    attr_s(&b, &fa, "net.peer.name", "redis.internal");
    span_end(&b);
    post_otlp(e, &b);

    f = true;
    resource_begin(&b, "mastodon/sidekiq", "OpenTelemetry::Instrumentation::Sidekiq");
    span_begin(&b, &f, 5, 1, -1, "PostDistributionWorker process", 5, t0 + 90000000, 40, false);
    fa = true;
    sidekiq_attrs(&b, &fa, "process");
    ft_buf_printf(&b, "],\"links\":[{\"traceId\":\"%s\",\"spanId\":\"5e04000000000003\","
                      "\"attributes\":[]}]}", tids[4]);
    fs = false;
    scope(&b, &fs, "OpenTelemetry::Instrumentation::PG");
    f = true;
    span_begin(&b, &f, 5, 2, 1, "SELECT mastodon", 3, t0 + 95000000, 4, false);
    fa = true;
    attr_s(&b, &fa, "db.system", "postgresql");
    attr_s(&b, &fa, "db.name", "mastodon_production");
    attr_s(&b, &fa, "db.statement", "SELECT \"statuses\".* FROM \"statuses\" WHERE \"id\" = 1");
    span_end(&b);
    scope(&b, &fs, "OpenTelemetry::Instrumentation::Redis");
    f = true;
    span_begin(&b, &f, 5, 3, 1, "SMEMBERS", 3, t0 + 110000000, 1, false);
    fa = true;
    attr_s(&b, &fa, "db.system", "redis");
    attr_s(&b, &fa, "net.peer.name", "redis.internal");
    span_end(&b);
    post_otlp(e, &b);
}

/* `fedtrace show ID [--json] --store STORE` that must succeed: its stdout. */
static char *show(const char *store, const char *id, bool json)
{
    const char *args[] = {"show", id, json ? "--json" : "--store", json ? "--store" : store,
                          json ? store : NULL, NULL};
    char *out, *err;
    int st = run_argv(args, &out, &err);
    if (st != 0)
        fail_msg("show %s%s --store %s: exit %d: %s", id, json ? " --json" : "", store, st, err);
    free(err);
    return out;
}

/* The spans of trace id in the API of e, once both traces are stored. */
static void wait_spans(ft_serve_env *e, const char *id, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "/api/traces/%s/spans", id);
    for (int tries = 0;; tries++) {
        json_t *j = ft_test_get_json(e->d.ui_port, path, 200);
        size_t got = json_array_size(j);
        json_decref(j);
        if (got == n)
            return;
        if (tries == 50)
            fail_msg("after 10 s, %zu spans of %s, want %zu", got, id, n);
        usleep(200 * 1000);
    }
}

/* The span of a JSON array with this spanId, or fail. */
static json_t *span_of(json_t *spans, const char *id)
{
    size_t i;
    json_t *sp;
    json_array_foreach(spans, i, sp) {
        if (strcmp(jstr(sp, "spanId"), id) == 0)
            return sp;
    }
    fail_msg("no span %s", id);
    return NULL;
}

static void assert_peer(json_t *spans, const char *id, const char *service, const char *kind,
                        const char *system)
{
    json_t *p = json_object_get(span_of(spans, id), "peer");
    if (strcmp(jstr(p, "service"), service) != 0 || strcmp(jstr(p, "kind"), kind) != 0 ||
        strcmp(jstr(p, "system"), system) != 0)
        fail_msg("span %s: peer %s, want %s (%s, %s)", id, json_dumps(p, JSON_COMPACT), service,
                 kind, system);
}

/*
 * show of the request and of the job, through the API and from the store:
 * --json is the API's documents (the links under "linked", as
 * api/traces/ID/linked answers), the same both ways; the text names the
 * service each client and producer span calls on its row, and the link
 * both ways, with the trace to follow; it fits 120 and 80 columns.
 */
static void test_show_links(void **state)
{
    (void)state;
    uint64_t t0 = now_ns() - 7200ull * 1000000000u;
    for (int i = 4; i < 6; i++)
        snprintf(tids[i], sizeof tids[i], "%016llx%08x%08x", (unsigned long long)(t0 / 1000),
                 (unsigned)getpid(), (unsigned)i);
    const char *web = tids[4], *job = tids[5];
    post_linked_traces(&env, t0);
    wait_spans(&env, web, 4);
    wait_spans(&env, job, 3);

    for (int t = 0; t < 2; t++) {
        const char *id = t == 0 ? web : job;
        char *o1 = show(api, id, true), *o2 = show(env.store, id, true);
        if (strcmp(o1, o2) != 0)
            fail_msg("show --json %s differs:\n API   %.800s\n store %.800s", id, o1, o2);
        json_t *got = doc_of("show --json", 0, o1, "");
        char path[128];
        json_t *part[4];
        static const char *const what[][2] = {
            {"/api/traces/", ""}, {"/api/traces/", "/spans"}, {"/api/logs/", ""},
            {"/api/traces/", "/linked"}};
        for (int k = 0; k < 4; k++) {
            snprintf(path, sizeof path, "%s%s%s", what[k][0], id, what[k][1]);
            part[k] = ft_test_get_json(env.d.ui_port, path, 200);
        }
        json_t *want = json_pack("{s:s, s:o, s:o, s:o, s:o}", "traceId", id, "activities", part[0],
                                 "spans", part[1], "logs", part[2], "linked", part[3]);
        if (!json_equal(got, want))
            fail_msg("show --json %s is not what the API answers:\n CLI %.1500s\n API %.1500s", id,
                     o1, json_dumps(want, JSON_COMPACT));
        json_t *linked = json_object_get(got, "linked");
        json_t *in = json_object_get(linked, "incoming"), *out = json_object_get(linked, "outgoing");
        json_t *l = json_array_get(t == 0 ? in : out, 0);
        assert_int_equal(json_array_size(in), t == 0 ? 1 : 0);
        assert_int_equal(json_array_size(out), t == 0 ? 0 : 1);
        if (t == 0) { /* the job links into the request */
            assert_string_equal(jstr(l, "traceId"), web);
            assert_string_equal(jstr(l, "spanId"), "5e04000000000003");
            assert_string_equal(jstr(l, "fromTraceId"), job);
            assert_string_equal(jstr(l, "fromSpanId"), "5e05000000000001");
        } else { /* and from the job to the request */
            assert_string_equal(jstr(l, "traceId"), web);
            assert_string_equal(jstr(l, "spanId"), "5e04000000000003");
            assert_string_equal(jstr(l, "fromSpanId"), "5e05000000000001");
        }
        assert_string_equal(jstr(l, "fromService"), "mastodon/sidekiq");
        assert_string_equal(jstr(l, "fromName"), "PostDistributionWorker process");
        /* the services the spans call */
        json_t *spans = json_object_get(got, "spans");
        if (t == 0) {
            assert_peer(spans, "5e04000000000002", "mastodon_production", "database", "postgresql");
            assert_peer(spans, "5e04000000000003", "default", "queue", "sidekiq");
            assert_peer(spans, "5e04000000000004", "redis.internal", "cache", "redis");
            assert_null(json_object_get(span_of(spans, "5e04000000000001"), "peer"));
        } else {
            assert_peer(spans, "5e05000000000002", "mastodon_production", "database", "postgresql");
            assert_peer(spans, "5e05000000000003", "redis.internal", "cache", "redis");
        }
        json_decref(want);
        json_decref(got);
        free(o1);
        free(o2);
    }

    /* the text, the same both ways, at two widths */
    static const char *const widths[] = {"120", "80"};
    char line[256];
    for (size_t w = 0; w < 2; w++) {
        setenv("COLUMNS", widths[w], 1);
        for (int t = 0; t < 2; t++) {
            const char *id = t == 0 ? web : job;
            char *o1 = show(api, id, false), *o2 = show(env.store, id, false);
            if (strcmp(o1, o2) != 0)
                fail_msg("show %s differs:\n API   %s\n store %s", id, o1, o2);
            assert_fits(o1, (size_t)atoi(widths[w]));
            assert_null(strchr(o1, '\033'));
            /* the system or kind too when there is room */
            const char *pg = w == 0 ? " \xe2\x86\x92 postgresql mastodon_production"
                                    : " \xe2\x86\x92 mastodon_";
            if (t == 0) {
                snprintf(line, sizeof line, "INSERT mastodon%s", pg);
                assert_line(o1, "mastodon/web", line);
                assert_line(o1, w == 0 ? "PostDistributionWorker publish \xe2\x86\x92 sidekiq "
                                         "default"
                                       : "PostDistributionWor\xe2\x80\xa6 \xe2\x86\x92 default",
                            NULL); /* the name cut, the queue whole */
                assert_line(o1, "LPUSH \xe2\x86\x92 redis redis.internal", NULL);
                assert_line(o1, "  linked traces: 0 outgoing, 1 incoming", NULL);
                snprintf(line, sizeof line, "    \xe2\x86\x90 %s span 5e05000000000001", job);
                assert_line(o1, line, NULL);
                if (w == 0)
                    assert_line(o1, "       mastodon/sidekiq \"PostDistributionWorker process\" "
                                    "links to \"PostDistributionWorker publish\" here", NULL);
                else /* wrapped */
                    assert_line(o1, "       \"PostDistributionWorker publish\" here", NULL);
            } else {
                /* a wider service column: at 80, both halves cut */
                assert_line(o1, "mastodon/sidekiq", w == 0 ? "SELECT mastodon \xe2\x86\x92 "
                                                             "postgresql mastodon_production"
                                                           : "SELECT masto\xe2\x80\xa6 \xe2\x86\x92 mastodon_");
                assert_line(o1, w == 0 ? "SMEMBERS \xe2\x86\x92 redis redis.internal"
                                       : "SMEMBERS \xe2\x86\x92 redis.internal", NULL);
                assert_line(o1, "  linked traces: 1 outgoing, 0 incoming", NULL);
                snprintf(line, sizeof line, "    \xe2\x86\x92 %s span 5e04000000000003", web);
                assert_line(o1, line, NULL);
                assert_line(o1, "       from mastodon/sidekiq \"PostDistributionWorker process\" here",
                            NULL);
            }
            assert_line(o1, "follow one with: fedtrace show TRACE_ID", NULL);
            free(o1);
            free(o2);
        }
    }
    setenv("COLUMNS", "100", 1);
}

/*
 * The same traces in a CAS-only store (?caps=cas): outgoing links are
 * still found (in the job's own spans), incoming ones cannot be, and show
 * from the store says so rather than printing nothing.  (Through the API
 * the CLI cannot tell: the API answers an empty "incoming" either way.)
 */
static void test_show_links_cas(void **state)
{
    (void)state;
    setenv("COLUMNS", "100", 1);
    ft_serve_env cas;
    ft_serve_env_start(&cas, "cli-links-cas", "?caps=cas", NULL);
    char cas_api[64];
    snprintf(cas_api, sizeof cas_api, "http://127.0.0.1:%d/", cas.d.ui_port);
    uint64_t t0 = now_ns() - 7200ull * 1000000000u;
    post_linked_traces(&cas, t0);
    wait_spans(&cas, tids[4], 4);
    wait_spans(&cas, tids[5], 3);

    char *out = show(cas.store, tids[4], false);
    assert_line(out, "  linked traces: 0 outgoing, incoming not known", NULL);
    assert_line(out, "incoming links need a store that can list keys: this one is CAS-only", NULL);
    assert_line(out, "INSERT mastodon \xe2\x86\x92 ", "mastodon_production");
    assert_fits(out, 100);
    free(out);
    /* --json: the API's shape on stdout (no links either way), the note on stderr */
    const char *args[] = {"show", tids[4], "--json", "--store", cas.store, NULL};
    char *err;
    assert_int_equal(run_argv(args, &out, &err), 0);
    json_t *j = doc_of("show --json (cas)", 0, out, err);
    json_t *lk = json_object_get(j, "linked");
    assert_int_equal(json_array_size(json_object_get(lk, "incoming")), 0);
    assert_int_equal(json_array_size(json_object_get(lk, "outgoing")), 0);
    assert_non_null(json_object_get(lk, "incoming"));
    assert_non_null(strstr(err, "incoming links not known: this store has no list capability"));
    json_decref(j);
    free(out);
    free(err);
    /* the job's link to the request: from the store and through the API */
    for (int via = 0; via < 2; via++) {
        out = show(via ? cas_api : cas.store, tids[5], false);
        char line[128];
        snprintf(line, sizeof line, "    \xe2\x86\x92 %s span 5e04000000000003", tids[4]);
        assert_line(out, line, NULL);
        assert_line(out, "from mastodon/sidekiq \"PostDistributionWorker process\" here", NULL);
        /* the server's answer says its store cannot find incoming links */
        assert_line(out, "  linked traces: 1 outgoing, incoming not known", NULL);
        free(out);
    }
    ft_serve_env_end(&cas);
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
        cmocka_unit_test(test_show_links),
        cmocka_unit_test(test_show_links_cas),
    };
    return cmocka_run_group_tests_name("cli_services", tests, setup, teardown) ? 1 : 0;
}
