/*
 * test_ui.c - the UI listener of a real `fedtrace serve`: the dashboard's
 * pages and their policy, login / logout with session cookies in both
 * login modes, slowed failed logins, the API's filters and errors, the
 * OTLP download, the base path, and the live event stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "ft_http.h"
#include "ft_serve_env.h"
#include "ft_json_test.h"
#include "ft_test_util.h"
#include "ft_tmp.h"

#define FIXTURES FT_FIXTURES


typedef ft_serve_env env;

/* One request; fails unless the status is `want`.  The caller frees r. */
static void req(int port, const char *method, const char *path, const char *const *headers,
                const char *body, int want, ft_http_resp *r)
{
    assert_int_equal(ft_http_once(port, method, path, headers, body, body ? strlen(body) : 0, r), 0);
    if (r->status != want)
        fail_msg("%s %s: status %d, want %d: %s", method, path, r->status, want,
                 r->body ? (char *)r->body : "");
}

static void expect(int port, const char *method, const char *path, const char *const *headers,
                   const char *body, int want)
{
    ft_http_resp r;
    req(port, method, path, headers, body, want, &r);
    ft_http_resp_free(&r);
}

static void expect_header(const ft_http_resp *r, const char *name, const char *part)
{
    char *v = ft_http_header(r, name);
    if (v == NULL || strstr(v, part) == NULL)
        fail_msg("%s: \"%s\", want it to contain \"%s\"", name, v ? v : "(absent)", part);
    free(v);
}

static const char *const k_form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};

/* Logs in; returns the "Cookie: ..." header line (malloc). */
static char *login(int port, const char *base, const char *form, const char *want_location)
{
    char path[128];
    snprintf(path, sizeof path, "%slogin", base);
    ft_http_resp r;
    req(port, "POST", path, k_form, form, 303, &r);
    expect_header(&r, "Location", want_location);
    char *sc = ft_http_header(&r, "Set-Cookie");
    assert_non_null(sc);
    assert_non_null(strstr(sc, "HttpOnly"));
    assert_non_null(strstr(sc, "SameSite=Strict"));
    char want_path[160];
    snprintf(want_path, sizeof want_path, "Path=%s;", base);
    assert_non_null(strstr(sc, want_path));
    assert_null(strstr(sc, "Secure")); /* plain HTTP */
    size_t n = strcspn(sc, ";");
    char *line = malloc(n + 16);
    snprintf(line, n + 16, "Cookie: %.*s", (int)n, sc);
    free(sc);
    ft_http_resp_free(&r);
    return line;
}

/* Username + password mode under a base path, with an API token too. */
static void test_login_user_mode(void **state)
{
    (void)state;
    env e;
    const char *const extra[] = {"--ui-user", "alice", "--ui-password", "correct horse",
                                 "--base-path", "/ft", "--api-token", "tok", NULL};
    ft_serve_env_start(&e, "ui-user", "", extra);
    ft_post_fixtures(e.d.otlp_port);
    int p = e.d.ui_port;
    ft_http_resp r;

    /* without credentials: pages go to the login page, the API says 401 */
    req(p, "GET", "/ft/", NULL, NULL, 303, &r);
    expect_header(&r, "Location", "/ft/login?next=/ft/");
    ft_http_resp_free(&r);
    req(p, "GET", "/ft/traces/1cdb527281be79c7d8f2d68b2e7ddeee", NULL, NULL, 303, &r);
    expect_header(&r, "Location", "/ft/login?next=/ft/traces/1cdb527281be79c7d8f2d68b2e7ddeee");
    ft_http_resp_free(&r);
    req(p, "GET", "/ft/api/traces", NULL, NULL, 401, &r);
    json_t *j = json_loads((char *)r.body, 0, NULL);
    assert_non_null(json_string_value(json_object_get(j, "error")));
    json_decref(j);
    ft_http_resp_free(&r);
    expect(p, "GET", "/ft/metrics", NULL, NULL, 401);
    expect(p, "GET", "/ft/api/events", NULL, NULL, 401);
    /* outside the base path there is nothing; the base without '/' redirects */
    expect(p, "GET", "/api/traces", NULL, NULL, 404);
    req(p, "GET", "/ft", NULL, NULL, 303, &r);
    expect_header(&r, "Location", "/ft/");
    ft_http_resp_free(&r);
    /* open: health, the login page, the assets */
    expect(p, "GET", "/ft/healthz", NULL, NULL, 200);
    req(p, "GET", "/ft/assets/app.js", NULL, NULL, 200, &r);
    expect_header(&r, "Content-Type", "javascript");
    ft_http_resp_free(&r);
    req(p, "GET", "/ft/login?next=/ft/traces/1cdb527281be79c7d8f2d68b2e7ddeee", NULL, NULL, 200,
        &r);
    expect_header(&r, "Content-Security-Policy", "script-src 'self'");
    expect_header(&r, "Content-Security-Policy", "frame-ancestors 'none'");
    expect_header(&r, "X-Content-Type-Options", "nosniff");
    assert_non_null(strstr((char *)r.body, "name=\"user\""));
    assert_non_null(strstr((char *)r.body, "action=\"/ft/login\""));
    assert_non_null(strstr((char *)r.body, "value=\"/ft/traces/1cdb527281be79c7d8f2d68b2e7ddeee\""));
    assert_null(strstr((char *)r.body, "{{"));
    ft_http_resp_free(&r);

    /* wrong password, wrong user: 401 and the page says so */
    req(p, "POST", "/ft/login", k_form, "user=alice&password=wrong&next=%2Fft%2F", 401, &r);
    assert_non_null(strstr((char *)r.body, "data-testid=\"login-error\""));
    ft_http_resp_free(&r);
    expect(p, "POST", "/ft/login", k_form, "user=bob&password=correct+horse", 401);

    /* right: a session cookie, and back to where the user was going */
    char *cookie = login(p, "/ft/",
                         "user=alice&password=correct+horse&next=%2Fft%2Ftraces%2F"
                         "1cdb527281be79c7d8f2d68b2e7ddeee",
                         "/ft/traces/1cdb527281be79c7d8f2d68b2e7ddeee");
    const char *const with[] = {cookie, NULL};
    req(p, "GET", "/ft/", with, NULL, 200, &r);
    expect_header(&r, "Content-Type", "text/html");
    expect_header(&r, "Content-Security-Policy", "default-src 'none'; script-src 'self'");
    assert_non_null(strstr((char *)r.body, "/ft/assets/app.js"));
    assert_null(strstr((char *)r.body, "{{BASE}}"));
    ft_http_resp_free(&r);
    req(p, "GET", "/ft/api/session", with, NULL, 200, &r);
    j = json_loads((char *)r.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "mode")), "user");
    assert_string_equal(json_string_value(json_object_get(j, "user")), "alice");
    json_decref(j);
    ft_http_resp_free(&r);
    req(p, "GET", "/ft/api/traces?limit=100", with, NULL, 200, &r);
    j = json_loads((char *)r.body, 0, NULL);
    assert_int_equal(json_array_size(j), 11);
    json_decref(j);
    ft_http_resp_free(&r);
    /* the token works alone; a tampered cookie does not */
    const char *const bearer[] = {"Authorization: Bearer tok", NULL};
    expect(p, "GET", "/ft/api/traces", bearer, NULL, 200);
    char *bad = strdup(cookie);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
    const char *const tampered[] = {bad, NULL};
    expect(p, "GET", "/ft/api/traces", tampered, NULL, 401);
    free(bad);
    /* another site's form cannot log in or out */
    const char *const cross[] = {"Content-Type: application/x-www-form-urlencoded",
                                 "Origin: http://evil.example", cookie, NULL};
    expect(p, "POST", "/ft/login", cross, "user=alice&password=correct+horse", 403);
    expect(p, "POST", "/ft/logout", cross, "", 403);
    expect(p, "GET", "/ft/api/traces", with, NULL, 200);
    /* next must stay inside the base path */
    char *c2 = login(p, "/ft/", "user=alice&password=correct+horse&next=%2F%2Fevil.example%2F",
                     "/ft/");
    free(c2);
    /* logout: the cookie is cleared and no longer accepted */
    const char *const out_hdrs[] = {cookie, "Origin: http://127.0.0.1", "Host: 127.0.0.1", NULL};
    req(p, "POST", "/ft/logout", out_hdrs, "", 303, &r);
    expect_header(&r, "Location", "/ft/login");
    expect_header(&r, "Set-Cookie", "Max-Age=0");
    ft_http_resp_free(&r);
    expect(p, "GET", "/ft/api/traces", with, NULL, 401);
    free(cookie);
    ft_serve_env_end(&e);
}

/* Password mode: no user name; repeated failures are slowed down. */
static void test_login_password_mode(void **state)
{
    (void)state;
    env e;
    const char *const extra[] = {"--ui-password", "pw", NULL};
    ft_serve_env_start(&e, "ui-password", "", extra);
    int p = e.d.ui_port;
    ft_http_resp r;
    req(p, "GET", "/login", NULL, NULL, 200, &r);
    assert_null(strstr((char *)r.body, "name=\"user\""));
    ft_http_resp_free(&r);
    char *cookie = login(p, "/", "password=pw", "/");
    const char *const with[] = {cookie, NULL};
    req(p, "GET", "/api/session", with, NULL, 200, &r);
    assert_non_null(strstr((char *)r.body, "\"mode\":\"password\""));
    ft_http_resp_free(&r);
    /* two failures are free; then each attempt must wait, even a right one */
    expect(p, "POST", "/login", k_form, "password=no1", 401);
    expect(p, "POST", "/login", k_form, "password=no2", 401);
    expect(p, "POST", "/login", k_form, "password=no3", 401);
    req(p, "POST", "/login", k_form, "password=pw", 429, &r);
    expect_header(&r, "Retry-After", "1");
    assert_non_null(strstr((char *)r.body, "data-testid=\"login-error\""));
    ft_http_resp_free(&r);
    /* after the wait, the right password works and clears the count */
    struct timespec ts = {1, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    char *c2 = login(p, "/", "password=pw", "/");
    free(c2);
    expect(p, "POST", "/login", k_form, "password=no4", 401);
    /* the existing session stayed valid throughout */
    expect(p, "GET", "/api/traces", with, NULL, 200);
    uint8_t *log = ft_test_read_file(e.log, NULL);
    assert_non_null(strstr((char *)log, "failed login from 127.0.0.1"));
    free(log);
    free(cookie);
    ft_serve_env_end(&e);
}

/* Token mode: only --api-token; the pages are closed too, and the login
 * form takes the token. */
static void test_login_token_mode(void **state)
{
    (void)state;
    env e;
    const char *const extra[] = {"--api-token", "tok en", NULL};
    ft_serve_env_start(&e, "ui-token", "", extra);
    ft_post_fixtures(e.d.otlp_port);
    int p = e.d.ui_port;
    ft_http_resp r;
    req(p, "GET", "/", NULL, NULL, 303, &r);
    expect_header(&r, "Location", "/login?next=/");
    ft_http_resp_free(&r);
    expect(p, "GET", "/services", NULL, NULL, 303);
    expect(p, "GET", "/api/traces", NULL, NULL, 401);
    req(p, "GET", "/login", NULL, NULL, 200, &r);
    assert_null(strstr((char *)r.body, "name=\"user\""));
    assert_non_null(strstr((char *)r.body, ">API token</label>"));
    ft_http_resp_free(&r);
    req(p, "POST", "/login", k_form, "password=tok", 401, &r);
    assert_non_null(strstr((char *)r.body, "Wrong API token."));
    ft_http_resp_free(&r);
    char *cookie = login(p, "/", "password=tok+en", "/");
    const char *const with[] = {cookie, NULL};
    expect(p, "GET", "/", with, NULL, 200);
    req(p, "GET", "/api/session", with, NULL, 200, &r);
    assert_non_null(strstr((char *)r.body, "\"mode\":\"token\""));
    ft_http_resp_free(&r);
    req(p, "GET", "/api/traces?limit=100", with, NULL, 200, &r);
    json_t *j = json_loads((char *)r.body, 0, NULL);
    assert_int_equal(json_array_size(j), 11);
    json_decref(j);
    ft_http_resp_free(&r);
    const char *const bearer[] = {"Authorization: Bearer tok en", NULL};
    expect(p, "GET", "/api/traces", bearer, NULL, 200);
    expect(p, "GET", "/", bearer, NULL, 303); /* pages take the session only */
    const char *const out_hdrs[] = {cookie, "Origin: http://127.0.0.1", "Host: 127.0.0.1", NULL};
    expect(p, "POST", "/logout", out_hdrs, "", 303);
    expect(p, "GET", "/api/traces", with, NULL, 401);
    expect(p, "GET", "/", with, NULL, 303);
    free(cookie);
    ft_serve_env_end(&e);
}

/* Filters and errors of /api/traces, and the OTLP download. */
static void test_api_filters(void **state)
{
    (void)state;
    env e;
    ft_serve_env_start(&e, "ui-api", "", NULL);
    ft_post_fixtures(e.d.otlp_port);
    int p = e.d.ui_port;
    json_t *ref = json_load_file(FIXTURES "/reference.json", 0, NULL);
    assert_non_null(ref);
    /* verification=failed lists exactly the traces with such a record */
    json_t *want = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(ref, "traces"), i, t)
    {
        const char *tid = json_string_value(json_object_get(t, "traceId"));
        size_t k;
        json_t *rec;
        bool failed = false;
        json_array_foreach(json_object_get(json_object_get(ref, "activities"), tid), k, rec)
            failed |= json_is_false(json_object_get(rec, "verified"));
        if (failed)
            json_array_append_new(want, json_string(tid));
    }
    assert_true(json_array_size(want) > 0);
    json_t *got = ft_test_get_json(p, "/api/traces?verification=failed&limit=100", 200);
    assert_int_equal(json_array_size(got), json_array_size(want));
    json_array_foreach(got, i, t)
    {
        assert_string_equal(json_string_value(json_object_get(t, "traceId")),
                            json_string_value(json_array_get(want, i)));
        assert_true(json_is_true(json_object_get(t, "verificationFailed")));
    }
    json_decref(got);
    /* paged one at a time with the same filter: the same traces */
    char path[256] = "/api/traces?verification=failed&limit=1";
    size_t seen = 0;
    for (;;) {
        ft_http_resp r;
        req(p, "GET", path, NULL, NULL, 200, &r);
        json_t *page = json_loads((char *)r.body, 0, NULL);
        if (json_array_size(page) == 1) {
            assert_string_equal(json_string_value(json_object_get(json_array_get(page, 0), "traceId")),
                                json_string_value(json_array_get(want, seen)));
            seen++;
        }
        json_decref(page);
        char *next = ft_http_header(&r, "X-Next-Cursor");
        ft_http_resp_free(&r);
        if (next == NULL)
            break;
        snprintf(path, sizeof path, "/api/traces?verification=failed&limit=1&cursor=%s", next);
        free(next);
    }
    assert_int_equal(seen, json_array_size(want));
    json_decref(want);
    /* errors: JSON with the status */
    const char *const bad[] = {"/api/traces?colour=red", "/api/traces?since=yesterday",
                               "/api/traces?direction=up", "/api/traces?limit=0",
                               "/api/traces?cursor=nope", "/api/traces/xyz"};
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *err = ft_test_get_json(p, bad[i], 400);
        assert_non_null(json_string_value(json_object_get(err, "error")));
        assert_int_equal(json_integer_value(json_object_get(err, "status")), 400);
        json_decref(err);
    }
    json_decref(ft_test_get_json(p, "/api/nothing", 404));
    /* the OTLP download: every span of the trace, as an attachment */
    const char *tid = json_string_value(json_object_get(json_array_get(json_object_get(ref, "traces"), 0), "traceId"));
    char dl[128], sp[128];
    snprintf(dl, sizeof dl, "/api/traces/%s/otlp", tid);
    snprintf(sp, sizeof sp, "/api/traces/%s/spans", tid);
    ft_http_resp r;
    req(p, "GET", dl, NULL, NULL, 200, &r);
    expect_header(&r, "Content-Disposition", "attachment");
    json_t *doc = json_loads((char *)r.body, 0, NULL);
    ft_http_resp_free(&r);
    json_t *spans = ft_test_get_json(p, sp, 200);
    size_t n = 0, k, m;
    json_t *rs, *ss;
    json_array_foreach(json_object_get(doc, "resourceSpans"), k, rs)
        json_array_foreach(json_object_get(rs, "scopeSpans"), m, ss)
            n += json_array_size(json_object_get(ss, "spans"));
    assert_int_equal(n, json_array_size(spans));
    assert_true(n > 0);
    json_decref(spans);
    /* and it can be sent back as OTLP/JSON: nothing new, nothing rejected */
    char *text = json_dumps(doc, JSON_COMPACT);
    const char *const js[] = {"Content-Type: application/json", NULL};
    req(e.d.otlp_port, "POST", "/v1/traces", js, text, 200, &r);
    assert_null(strstr((char *)r.body, "rejected"));
    ft_http_resp_free(&r);
    free(text);
    json_decref(doc);
    expect(p, "GET", "/api/traces/00000000000000000000000000000001/otlp", NULL, NULL, 404);
    json_decref(ref);
    ft_serve_env_end(&e);
}

/* Reads from fd until `needle` has arrived or ms pass; true if it did. */
static bool read_until(int fd, char *buf, size_t cap, size_t *len, const char *needle, int ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        buf[*len] = '\0';
        if (strstr(buf, needle) != NULL)
            return true;
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int left = ms - (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd pf = {fd, POLLIN, 0};
        if (left <= 0 || poll(&pf, 1, left) <= 0 || *len + 1 >= cap)
            return false;
        ssize_t r = read(fd, buf + *len, cap - 1 - *len);
        if (r <= 0)
            return false;
        *len += (size_t)r;
    }
}

/* A trace with one inbound Follow from `actor`, by service `svc`. */
static char *follow_trace(const char *tid, const char *svc, const char *actor)
{
    size_t cap = 2048;
    char *s = malloc(cap);
    int n = snprintf(
        s, cap,
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
        "{\"stringValue\":\"%s\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"t\"},\"spans\":[{"
        "\"traceId\":\"%s\",\"spanId\":\"0123456789abcdef\",\"name\":\"POST /inbox\",\"kind\":2,"
        "\"startTimeUnixNano\":\"1795700000000000000\",\"endTimeUnixNano\":\"1795700000100000000\","
        "\"events\":[{\"timeUnixNano\":\"1795700000050000000\",\"name\":"
        "\"activitypub.activity.received\",\"attributes\":[{\"key\":\"activitypub.activity.json\","
        "\"value\":{\"stringValue\":\"{\\\"type\\\":\\\"Follow\\\",\\\"id\\\":\\\"%s/f1\\\","
        "\\\"actor\\\":\\\"%s\\\"}\"}},{\"key\":\"activitypub.activity.verified\",\"value\":"
        "{\"boolValue\":true}}]}]}]}]}]}",
        svc, tid, actor, actor);
    assert_true(n > 0 && (size_t)n < cap);
    return s;
}

/* The event stream: new traces arrive as events, filtered by the query. */
static void test_event_stream(void **state)
{
    (void)state;
    env e;
    ft_serve_env_start(&e, "ui-events", "", NULL);
    ft_post_fixtures(e.d.otlp_port);
    int fd = ft_http_connect(e.d.ui_port);
    assert_true(fd >= 0);
    const char *rq = "GET /api/events?service=live&type=Follow HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Accept: text/event-stream\r\n\r\n";
    assert_int_equal(write(fd, rq, strlen(rq)), (ssize_t)strlen(rq));
    char buf[16384];
    size_t len = 0;
    assert_true(read_until(fd, buf, sizeof buf, &len, ": connected", 5000));
    assert_non_null(strstr(buf, "text/event-stream"));
    /* one trace the filter excludes, then one it includes */
    char *other = follow_trace("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "elsewhere", "https://a.example/u");
    char *mine = follow_trace("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "live", "https://b.example/u");
    const char *const js[] = {"Content-Type: application/json", NULL};
    expect(e.d.otlp_port, "POST", "/v1/traces", js, other, 200);
    expect(e.d.otlp_port, "POST", "/v1/traces", js, mine, 200);
    assert_true(read_until(fd, buf, sizeof buf, &len, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 10000));
    assert_null(strstr(buf, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    assert_null(strstr(buf, "1cdb527281be79c7d8f2d68b2e7ddeee")); /* stored before: not news */
    char *ev = strstr(buf, "event: trace\ndata: ");
    assert_non_null(ev);
    char *data = ev + strlen("event: trace\ndata: ");
    *strchr(data, '\n') = '\0';
    json_t *j = json_loads(data, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "traceId")),
                        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    assert_true(json_array_size(json_object_get(j, "services")) == 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "hosts"), 0)),
                        "b.example");
    json_decref(j);
    /* stopping the server ends the stream */
    ft_http_close(fd);
    free(other);
    free(mine);
    ft_serve_env_end(&e);
}

static size_t collect_headers(char *p, size_t size, size_t n, void *ud)
{
    ft_buf *b = ud;
    ft_buf_put(b, p, size * n);
    return size * n;
}

/* fedtrace's CLI on the API; returns the exit status, output in *out. */
static int cli(const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", FT_BIN, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    ft_buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        ft_buf_put(&b, chunk, n);
    int st = pclose(p);
    *out = strdup(ft_buf_cstr(&b));
    ft_buf_free(&b);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* HTTPS on the UI listener: the cookie carries Secure; the CLI trusts the
 * server's certificate only when told to. */
static void test_tls(void **state)
{
    (void)state;
    char *dir = ft_test_tmpdir("ui-tls");
    char cmd[2048], cert[600], key[600];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             key, cert);
    assert_int_equal(system(cmd), 0);
    env e;
    const char *const extra[] = {"--ui-tls-cert", cert, "--ui-tls-key", key, "--ui-password",
                                 "pw", "--api-token", "tok", NULL};
    ft_serve_env_start(&e, "ui-tls-serve", "", extra);
    ft_post_fixtures(e.d.otlp_port);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/login", e.d.ui_port);
    CURL *h = curl_easy_init();
    ft_buf hdr = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CAINFO, cert);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "password=pw");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect_headers);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_headers);
    ft_buf body = {0};
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    assert_int_equal(status, 303);
    const char *hs = ft_buf_cstr(&hdr);
    const char *sc = strstr(hs, "Set-Cookie: fedtrace_session=");
    assert_non_null(sc);
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)strcspn(sc, "\r\n"), sc);
    assert_non_null(strstr(line, "; Secure"));
    assert_non_null(strstr(line, "HttpOnly"));
    curl_easy_cleanup(h);
    ft_buf_free(&hdr);
    ft_buf_free(&body);
    /* the CLI over HTTPS: refused without the certificate, fine with it */
    char args[1024], *out;
    snprintf(args, sizeof args, "traces --json --store https://127.0.0.1:%d --api-token tok",
             e.d.ui_port);
    assert_int_equal(cli(args, &out), 1);
    assert_non_null(strstr(out, "certificate"));
    free(out);
    snprintf(args, sizeof args,
             "traces --json --limit 100 --store https://127.0.0.1:%d --api-token tok --ca-cert %s",
             e.d.ui_port, cert);
    assert_int_equal(cli(args, &out), 0);
    json_t *arr = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(arr), 11);
    json_decref(arr);
    free(out);
    ft_serve_env_end(&e);
    ft_test_rmrf(dir);
    free(dir);
    /* a key without a certificate, or files that are not PEM: refused */
    const char *const half[] = {"--ui-tls-key", "/nonexistent.pem", NULL};
    ft_daemon d;
    char *d2 = ft_test_tmpdir("ui-tls-bad");
    char store[700], logp[700];
    snprintf(store, sizeof store, "lmdb:%s/s", d2);
    snprintf(logp, sizeof logp, "%s/log", d2);
    assert_int_equal(ft_daemon_start(&d, store, logp, half), -1);
    const char *const notpem[] = {"--ui-tls-cert", logp, "--ui-tls-key", logp, NULL};
    assert_int_equal(ft_daemon_start(&d, store, logp, notpem), -1);
    uint8_t *l = ft_test_read_file(logp, NULL);
    assert_non_null(strstr((char *)l, "not a readable PEM file"));
    free(l);
    ft_test_rmrf(d2);
    free(d2);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_user_mode),
        cmocka_unit_test(test_login_password_mode),
        cmocka_unit_test(test_login_token_mode),
        cmocka_unit_test(test_api_filters),
        cmocka_unit_test(test_event_stream),
        cmocka_unit_test(test_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
