/*
 * test_cli.c - `fedtrace traces|show|tail` against a running server's API
 * and against the store that server writes.
 *
 * One `fedtrace serve` on a temporary LMDB store receives the captured
 * Fedify requests over OTLP/HTTP.  The CLI, given the server's API URL or
 * the same store (LMDB takes readers beside the server), must print what
 * the API answers for the same questions: the lists (filtered, paged),
 * a trace's activities, spans and logs byte for byte.  tail, started
 * before a trace is posted, must print that trace's activities, from the
 * event stream and from the store; a token or a base path wrong or
 * missing, or nothing listening, ends in exit 1 with a message saying so.
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

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FIXTURES FT_FIXTURES
#define N_FIXTURES FT_N_FIXTURES

static char *tmp;
static ft_daemon d;
static char store[700]; /* the daemon's store, for the CLI too */
static char api[64];    /* its API URL */

static const char *const k_json[] = {"Content-Type: application/json", NULL};

/* ---- running the CLI ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sbuf_put(sbuf *b, const char *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}

typedef struct proc {
    pid_t pid;
    int out, err; /* -1 once at EOF */
    sbuf o, e;
} proc;

/* Starts FT_BIN with args (NULL-terminated); env: "NAME=VALUE" strings
 * set in the child (NULL-terminated, or NULL). */
static void spawn(proc *p, const char *const *env, const char *const *args)
{
    memset(p, 0, sizeof *p);
    int po[2], pe[2];
    assert_int_equal(pipe(po), 0);
    assert_int_equal(pipe(pe), 0);
    const char *argv[64];
    size_t n = 0;
    argv[n++] = FT_BIN;
    for (size_t i = 0; args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(po[1]);
        close(pe[0]);
        close(pe[1]);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)(uintptr_t)env[i]);
        execv(FT_BIN, (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    p->out = po[0];
    p->err = pe[0];
}

/* Reads what is there for up to ms; false when both pipes are at EOF. */
static bool pump(proc *p, int ms)
{
    struct pollfd f[2] = {{p->out, POLLIN, 0}, {p->err, POLLIN, 0}};
    if (p->out < 0 && p->err < 0)
        return false;
    if (poll(f, 2, ms) <= 0)
        return true;
    for (int i = 0; i < 2; i++) {
        if (f[i].fd < 0 || !(f[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char buf[4096];
        ssize_t r = read(f[i].fd, buf, sizeof buf);
        if (r > 0) {
            sbuf_put(i ? &p->e : &p->o, buf, (size_t)r);
        } else if (r == 0 || errno != EINTR) {
            close(f[i].fd);
            if (i)
                p->err = -1;
            else
                p->out = -1;
        }
    }
    return true;
}

/* Waits (up to 30 s) until the process's stderr holds text. */
static void wait_stderr(proc *p, const char *text)
{
    time_t end = time(NULL) + 30;
    while ((p->e.p == NULL || strstr(p->e.p, text) == NULL) && time(NULL) < end)
        if (!pump(p, 100))
            break;
    if (p->e.p == NULL || strstr(p->e.p, text) == NULL)
        fail_msg("no \"%s\" from the CLI; stderr: %s", text, p->e.p ? p->e.p : "");
}

/* Reads to the end (up to 120 s, then kills) and returns the exit status;
 * *out and *err (malloc'd, NUL-terminated) get what it printed. */
static int finish(proc *p, char **out, char **err)
{
    time_t end = time(NULL) + 120;
    while (pump(p, 200))
        if (time(NULL) > end) {
            kill(p->pid, SIGKILL);
            end = time(NULL) + 1000;
        }
    int st;
    while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
        ;
    sbuf_put(&p->o, "", 0);
    sbuf_put(&p->e, "", 0);
    *out = p->o.p;
    *err = p->e.p;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs the CLI to its end: exit status, stdout, stderr. */
static int run_env(const char *const *env, const char *const *args, char **out, char **err)
{
    proc p;
    spawn(&p, env, args);
    return finish(&p, out, err);
}

#define CLI(out, err, ...) run_env(NULL, (const char *const[]){__VA_ARGS__, NULL}, out, err)

/* Runs the CLI, which must succeed; returns its stdout parsed as JSON. */
static json_t *cli_json(const char *const *args)
{
    char *out, *err;
    int st = run_env(NULL, args, &out, &err);
    if (st != 0)
        fail_msg("fedtrace %s ...: exit %d: %s", args[0], st, err);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    if (j == NULL)
        fail_msg("fedtrace %s ...: not JSON (%s): %s", args[0], je.text, out);
    free(out);
    free(err);
    return j;
}

static void expect_equal(json_t *got, json_t *want, const char *what)
{
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT), *w = json_dumps(want, JSON_COMPACT);
        fail_msg("%s differs:\n got  %.600s\n want %.600s", what, g, w);
    }
}

/* ---- sending ---- */


static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A fresh trace id, different on every call. */
static void fresh_id(char out[33])
{
    static unsigned seq;
    snprintf(out, 33, "c11c%012llx%08x%08x", (unsigned long long)(now_ns() / 1000) & 0xffffffffffffull,
             (unsigned)getpid(), ++seq);
}

/* Posts one span of trace `tid` carrying one activity, stamped now:
 * received (inbound) or sent (outbound) by actor. */
static void post_activity(const char *tid, const char *span_id, const char *type, bool inbound,
                          const char *actor)
{
    uint64_t t = now_ns();
    char activity[512], escaped[1024], body[4096];
    snprintf(activity, sizeof activity,
             "{\"@context\":\"https://www.w3.org/ns/activitystreams\","
             "\"id\":\"https://cli.example/activities/%s/%s\",\"type\":\"%s\",\"actor\":\"%s\"}",
             tid, span_id, type, actor);
    size_t k = 0;
    for (const char *c = activity; *c; c++) {
        if (*c == '"')
            escaped[k++] = '\\';
        escaped[k++] = *c;
    }
    escaped[k] = '\0';
    snprintf(body, sizeof body,
             "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
             "\"value\":{\"stringValue\":\"cli-test\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":"
             "\"cli-test\"},\"spans\":[{\"traceId\":\"%s\",\"spanId\":\"%s\",\"name\":\"%s\","
             "\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\","
             "\"events\":[{\"timeUnixNano\":\"%llu\",\"name\":\"activitypub.activity.%s\","
             "\"attributes\":[{\"key\":\"activitypub.activity.json\",\"value\":{\"stringValue\":"
             "\"%s\"}}%s]}]}]}]}]}",
             tid, span_id, inbound ? "POST /inbox" : "activitypub.send_activity",
             inbound ? 2 : 3, (unsigned long long)t, (unsigned long long)(t + 2000000),
             (unsigned long long)(t + 1000000), inbound ? "received" : "sent", escaped,
             inbound ? ",{\"key\":\"activitypub.activity.verified\",\"value\":{\"boolValue\":true}}"
                     : ",{\"key\":\"activitypub.inbox.url\",\"value\":{\"stringValue\":"
                       "\"https://remote.example/inbox\"}}");
    ft_http_resp r;
    assert_int_equal(ft_http_once(d.otlp_port, "POST", "/v1/traces", k_json, body, strlen(body), &r), 0);
    if (r.status != 200)
        fail_msg("OTLP/JSON post: %d %s", r.status, r.body);
    ft_http_resp_free(&r);
}

/* ---- tests ---- */

/* The list: the same array from the API (through the CLI and directly)
 * and from the store. */
static void test_traces_same_everywhere(void **state)
{
    (void)state;
    json_t *via_api = cli_json((const char *const[]){"traces", "--json", "--limit", "100",
                                                     "--store", api, NULL});
    json_t *direct = ft_test_get_json(d.ui_port, "/api/traces?limit=100", 200);
    json_t *via_store = cli_json((const char *const[]){"traces", "--json", "--limit", "100",
                                                       "--store", store, NULL});
    expect_equal(via_api, direct, "traces --json from the API");
    expect_equal(via_store, direct, "traces --json from the store");
    assert_int_equal(json_array_size(direct), 11);
    assert_string_equal(json_string_value(json_object_get(json_array_get(direct, 0), "traceId")),
                        "1cdb527281be79c7d8f2d68b2e7ddeee");
    json_t *ref = json_load_file(FIXTURES "/reference.json", 0, NULL);
    json_t *fedify = ft_test_fedify_summaries(via_api);
    expect_equal(fedify, json_object_get(ref, "traces"), "Fedify's fields");
    json_decref(fedify);
    json_decref(ref);
    json_decref(via_api);
    json_decref(direct);
    json_decref(via_store);

    /* the table from the API: whole ids, marks */
    char *out, *err;
    assert_int_equal(CLI(&out, &err, "traces", "--store", api, "--limit", "100"), 0);
    assert_non_null(strstr(out, "TRACE"));
    assert_non_null(strstr(out, "1cdb527281be79c7d8f2d68b2e7ddeee  "));
    assert_non_null(strstr(out, "!X  Create"));
    assert_null(strstr(out, "more:"));
    free(out);
    free(err);
}

/* Filters narrow to exactly what the API answers for the same query, and
 * that answer is the traces the fixtures hold for it: every case names its
 * ids, newest first, so a CLI and an API that both returned nothing (or
 * everything) would fail.  Only type=Block is expected to be empty: the
 * fixtures have no Block. */
static void test_filters(void **state)
{
    (void)state;
    enum { MAX_IDS = 5 };
    static const struct {
        const char *query;
        const char *flags[5];
        size_t n; /* how many traces the API must answer */
        const char *ids[MAX_IDS];
    } cases[] = {
        {"type=Follow", {"--type", "Follow"}, 2,
         {"760f1095663c42e6d6954b8d2e82d33c", "92f999891add13594d9e538b701c0e4e"}},
        {"verification=failed", {"--verification-failed"}, 2,
         {"1cdb527281be79c7d8f2d68b2e7ddeee", "916f65ecf5c50fa90404a8c1d70e8e4d"}},
        {"type=Create&direction=outbound", {"--type", "Create", "--direction", "outbound"}, 1,
         {"727a8865156756426d0e44149c9129c9"}},
        {"service=fedify-b&type=Follow", {"--service", "fedify-b", "--type", "Follow"}, 1,
         {"760f1095663c42e6d6954b8d2e82d33c"}},
        /* the two inbound Creates whose signature failed: their spans
         * ended with an error */
        {"error=true&type=Create&direction=inbound",
         {"--error", "--type", "Create", "--direction", "inbound"}, 2,
         {"1cdb527281be79c7d8f2d68b2e7ddeee", "916f65ecf5c50fa90404a8c1d70e8e4d"}},
        /* part of an actor id, any case: .../users/alice */
        {"actor=ALICE", {"--actor", "ALICE"}, 4,
         {"727a8865156756426d0e44149c9129c9", "c5e21ddb2b9fcf05addeec871aad8f39",
          "4bbc31a69c43f9b6523cdd0b580d0d2c", "92f999891add13594d9e538b701c0e4e"}},
        {"host=127.0.0.1&since=2026-11-21T23%3A16%3A22Z", {"--host", "127.0.0.1", "--since",
                                                           "2026-11-21T23:16:22Z"},
         1, {"1cdb527281be79c7d8f2d68b2e7ddeee"}},
        {"type=Block", {"--type", "Block"}, 0, {NULL}},
    };
    json_t *all = ft_test_get_json(d.ui_port, "/api/traces?limit=100", 200);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[16] = {"traces", "--json", "--limit", "100", "--store", api};
        size_t n = 6;
        for (size_t k = 0; k < 5 && cases[i].flags[k]; k++)
            args[n++] = cases[i].flags[k];
        args[n] = NULL;
        json_t *via_api = cli_json(args);
        args[5] = store;
        json_t *via_store = cli_json(args);
        char path[256];
        snprintf(path, sizeof path, "/api/traces?limit=100&%s", cases[i].query);
        json_t *direct = ft_test_get_json(d.ui_port, path, 200);
        expect_equal(via_api, direct, cases[i].query);
        expect_equal(via_store, direct, cases[i].query);
        /* the concrete traces, in the API's order (newest first); a filter
         * that matches must also narrow */
        size_t got = json_array_size(direct);
        if (got != cases[i].n) {
            char *g = json_dumps(direct, JSON_COMPACT);
            fail_msg("%s: %zu traces, want %zu: %.600s", cases[i].query, got, cases[i].n, g);
        }
        if (cases[i].n > 0 && got >= json_array_size(all))
            fail_msg("%s: %zu traces of %zu: the filter narrows nothing", cases[i].query, got,
                     json_array_size(all));
        for (size_t k = 0; k < cases[i].n; k++) {
            const char *id = json_string_value(json_object_get(json_array_get(direct, k), "traceId"));
            if (id == NULL || strcmp(id, cases[i].ids[k]) != 0)
                fail_msg("%s: trace #%zu is %s, want %s", cases[i].query, k + 1, id ? id : "(none)",
                         cases[i].ids[k]);
        }
        json_decref(via_api);
        json_decref(via_store);
        json_decref(direct);
    }
    json_decref(all);
}

/* Pages through the API: the "more:" line's cursor is X-Next-Cursor. */
static void test_paging(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(CLI(&out, &err, "traces", "--store", api, "--limit", "4"), 0);
    char *more = strstr(out, "more: fedtrace traces --limit 4 --cursor ");
    assert_non_null(more);
    char cursor[128];
    assert_int_equal(sscanf(more, "more: fedtrace traces --limit 4 --cursor %127s", cursor), 1);
    ft_http_resp r;
    assert_int_equal(ft_http_once(d.ui_port, "GET", "/api/traces?limit=4", NULL, NULL, 0, &r), 0);
    char *hdr = ft_http_header(&r, "X-Next-Cursor");
    assert_non_null(hdr);
    assert_string_equal(hdr, cursor);
    free(hdr);
    ft_http_resp_free(&r);
    free(out);
    free(err);

    json_t *page2 = cli_json((const char *const[]){"traces", "--json", "--store", api, "--limit",
                                                   "4", "--cursor", cursor, NULL});
    char path[256];
    snprintf(path, sizeof path, "/api/traces?limit=4&cursor=%s", cursor);
    json_t *direct = ft_test_get_json(d.ui_port, path, 200);
    expect_equal(page2, direct, "the second page");
    assert_int_equal(json_array_size(page2), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(page2, 0), "traceId")),
                        "5d9f04e3a49002b797b8b6dd64c0c4af");
    json_decref(page2);
    json_decref(direct);
}

/* show --json: the API's three arrays, joined; the same from the store. */
static void test_show_same_everywhere(void **state)
{
    (void)state;
    /* a log record of one trace, so that logs are not just [] */
    const char *logs =
        "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
        "{\"stringValue\":\"fedify-a\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"cli-test\"},"
        "\"logRecords\":[{\"timeUnixNano\":\"1795302980700000000\",\"severityNumber\":13,"
        "\"severityText\":\"WARN\",\"body\":{\"stringValue\":\"cli test: delivery to bob is slow\"},"
        "\"traceId\":\"92f999891add13594d9e538b701c0e4e\",\"spanId\":\"f44dbc5f15495285\"}]}]}]}";
    ft_http_resp r;
    assert_int_equal(ft_http_once(d.otlp_port, "POST", "/v1/logs", k_json, logs, strlen(logs), &r), 0);
    assert_int_equal(r.status, 200);
    ft_http_resp_free(&r);

    static const char *const ids[] = {"92f999891add13594d9e538b701c0e4e",
                                      "1cdb527281be79c7d8f2d68b2e7ddeee",
                                      "760f1095663c42e6d6954b8d2e82d33c"};
    for (size_t i = 0; i < 3; i++) {
        json_t *via_api = cli_json((const char *const[]){"show", "--json", ids[i], "--store", api, NULL});
        json_t *via_store = cli_json((const char *const[]){"show", "--json", ids[i], "--store", store, NULL});
        char path[128];
        snprintf(path, sizeof path, "/api/traces/%s", ids[i]);
        json_t *acts = ft_test_get_json(d.ui_port, path, 200);
        snprintf(path, sizeof path, "/api/traces/%s/spans", ids[i]);
        json_t *spans = ft_test_get_json(d.ui_port, path, 200);
        snprintf(path, sizeof path, "/api/logs/%s", ids[i]);
        json_t *lg = ft_test_get_json(d.ui_port, path, 200);
        snprintf(path, sizeof path, "/api/traces/%s/linked", ids[i]);
        json_t *linked = ft_test_get_json(d.ui_port, path, 200);
        json_t *want = json_pack("{s:s, s:O, s:O, s:O, s:O}", "traceId", ids[i], "activities",
                                 acts, "spans", spans, "logs", lg, "linked", linked);
        expect_equal(via_api, want, "show --json from the API");
        expect_equal(via_store, want, "show --json from the store");
        assert_int_equal(json_object_size(via_api), 5);
        if (i == 0) {
            assert_int_equal(json_array_size(acts), 2);
            assert_int_equal(json_array_size(spans), 41);
            assert_int_equal(json_array_size(lg), 1);
            json_t *body = json_object_get(json_array_get(lg, 0), "body");
            assert_string_equal(json_string_value(json_object_get(body, "stringValue")),
                                "cli test: delivery to bob is slow");
        }
        json_decref(want);
        json_decref(acts);
        json_decref(spans);
        json_decref(lg);
        json_decref(linked);
        json_decref(via_api);
        json_decref(via_store);
    }

    /* the text: activities, the waterfall with services, the log record */
    char *out, *err;
    assert_int_equal(run_env((const char *const[]){"COLUMNS=100", "TZ=UTC", NULL},
                             (const char *const[]){"show", ids[0], "--store", api, NULL}, &out, &err),
                     0);
    assert_non_null(strstr(out, "trace 92f999891add13594d9e538b701c0e4e: 2 activities, 41 spans, 1 log record\n"));
    assert_non_null(strstr(out, "<- Follow  2026-11-21T23:16:20.631Z"));
    assert_non_null(strstr(out, "actor  http://127.0.0.1:18002/users/bob"));
    assert_non_null(strstr(out, "verified yes (http signatures no, ld signatures ok)"));
    assert_non_null(strstr(out, "  spans: 41 in "));
    assert_non_null(strstr(out, "  fedify-a   POST /users/{identifier}/inbox "));
    assert_non_null(strstr(out, "  logs: 1\n"));
    assert_non_null(strstr(out, "WARN   fedify-a  cli test: delivery to bob is slow\n"));
    free(out);
    free(err);
    /* a trace nobody stored */
    assert_int_equal(CLI(&out, &err, "show", "0123456789abcdef0123456789abcdef", "--store", api), 1);
    assert_non_null(strstr(err, "no trace 0123456789abcdef0123456789abcdef in http://127.0.0.1:"));
    free(out);
    free(err);
}

/* Nothing listening; a token wrong or missing; a wrong base path. */
static void test_errors(void **state)
{
    (void)state;
    /* a port nobody listens on */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    close(s);
    char dead[64];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    char *out, *err;
    const char *const cmds[][4] = {{"traces", NULL}, {"show", "92f999891add13594d9e538b701c0e4e", NULL},
                                   {"tail", "--timeout", "10s", NULL}};
    for (size_t i = 0; i < 3; i++) {
        const char *args[8] = {cmds[i][0], cmds[i][1], cmds[i][2], cmds[i][3]};
        size_t n = 0;
        while (args[n])
            n++;
        args[n++] = "--store";
        args[n++] = dead;
        args[n] = NULL;
        assert_int_equal(run_env(NULL, args, &out, &err), 1);
        if (strstr(err, dead) == NULL || strstr(err, "onnect") == NULL)
            fail_msg("%s: %s", cmds[i][0], err);
        assert_string_equal(out, "");
        free(out);
        free(err);
    }

    /* a server that wants a token, under a base path */
    ft_daemon locked;
    char lstore[700], log[700], url[80], wrong_base[80];
    snprintf(lstore, sizeof lstore, "lmdb:%s/locked", tmp);
    snprintf(log, sizeof log, "%s/locked.log", tmp);
    const char *const extra[] = {"--api-token", "s3cret", "--base-path", "/ft", NULL};
    if (ft_daemon_start(&locked, lstore, log, extra) != 0) {
        uint8_t *text = ft_test_read_file(log, NULL);
        fail_msg("fedtrace serve did not start:\n%s", text ? (char *)text : "");
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ft", locked.ui_port);
    snprintf(wrong_base, sizeof wrong_base, "http://127.0.0.1:%d/", locked.ui_port);

    assert_int_equal(CLI(&out, &err, "traces", "--store", url), 1);
    assert_non_null(strstr(err, "(HTTP 401)"));
    assert_non_null(strstr(err, "Bearer"));
    assert_non_null(strstr(err, "--api-token"));
    free(out);
    free(err);
    assert_int_equal(CLI(&out, &err, "traces", "--store", url, "--api-token", "wrong"), 1);
    assert_non_null(strstr(err, "/ft/api/traces?limit=20: "));
    assert_non_null(strstr(err, "(HTTP 401)"));
    free(out);
    free(err);
    assert_int_equal(CLI(&out, &err, "tail", "--store", url, "--api-token", "wrong", "--timeout", "10s"), 1);
    assert_non_null(strstr(err, "(HTTP 401)"));
    free(out);
    free(err);
    assert_int_equal(CLI(&out, &err, "traces", "--store", url, "--api-token", "s3cret"), 0);
    char want[160];
    snprintf(want, sizeof want, "no traces with activities in %s/\n", url);
    assert_string_equal(out, want);
    free(out);
    free(err);
    assert_int_equal(run_env((const char *const[]){"FEDTRACE_API_TOKEN=s3cret", NULL},
                             (const char *const[]){"traces", "--json", "--store", url, NULL}, &out, &err),
                     0);
    assert_string_equal(out, "[]\n");
    free(out);
    free(err);
    assert_int_equal(CLI(&out, &err, "traces", "--store", wrong_base, "--api-token", "s3cret"), 1);
    assert_non_null(strstr(err, "(HTTP 404)"));
    assert_non_null(strstr(err, "--base-path"));
    free(out);
    free(err);
    assert_int_equal(ft_daemon_stop(&locked, SIGTERM), 0);

    /* import needs a store */
    assert_int_equal(CLI(&out, &err, "import", "--store", api, FIXTURES "/0001-traces.pb"), 2);
    assert_non_null(strstr(err, "needs a store"));
    free(out);
    free(err);
}

/* tail from the event stream: a trace posted after it started, and only
 * the new activity of a trace that grows; filters apply to the stream. */
static void test_tail_api(void **state)
{
    (void)state;
    char tid[33], *out, *err;
    fresh_id(tid);
    proc p;
    spawn(&p, NULL, (const char *const[]){"tail", "--json", "--count", "1", "--timeout", "60s",
                                          "--store", api, NULL});
    wait_stderr(&p, "waiting for new activities");
    post_activity(tid, "00000000000000a1", "Follow", true, "https://cli.example/users/alice");
    assert_int_equal(finish(&p, &out, &err), 0);
    char path[128];
    snprintf(path, sizeof path, "/api/traces/%s", tid);
    json_t *want = ft_test_get_json(d.ui_port, path, 200);
    assert_int_equal(json_array_size(want), 1);
    json_t *got = json_loads(out, 0, NULL);
    if (got == NULL)
        fail_msg("tail --json: %s / %s", out, err);
    expect_equal(got, json_array_get(want, 0), "the record tail printed");
    assert_string_equal(json_string_value(json_object_get(got, "activityType")), "Follow");
    assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out)); /* one line */
    json_decref(got);
    json_decref(want);
    free(out);
    free(err);

    /* the same trace grows: only its new activity */
    spawn(&p, NULL, (const char *const[]){"tail", "--count", "1", "--timeout", "60s",
                                          "--store", api, NULL});
    wait_stderr(&p, "waiting for new activities");
    post_activity(tid, "00000000000000a2", "Accept", false, "https://cli.example/users/bob");
    assert_int_equal(finish(&p, &out, &err), 0);
    char line[200];
    snprintf(line, sizeof line, "  out  Accept        %s  https://cli.example/users/bob\n", tid);
    if (strstr(out, line) == NULL || strstr(out, "Follow") != NULL)
        fail_msg("tail printed: %s", out);
    free(out);
    free(err);

    /* --type Like: the Follow before it is not printed */
    char other[33], like[33];
    fresh_id(other);
    fresh_id(like);
    spawn(&p, NULL, (const char *const[]){"tail", "--type", "Like", "--count", "1", "--timeout",
                                          "60s", "--store", api, NULL});
    wait_stderr(&p, "waiting for new activities");
    post_activity(other, "00000000000000b1", "Follow", true, "https://cli.example/users/carol");
    post_activity(like, "00000000000000c1", "Like", true, "https://cli.example/users/carol");
    assert_int_equal(finish(&p, &out, &err), 0);
    if (strstr(out, like) == NULL || strstr(out, other) != NULL || strstr(out, "  in   Like  ") == NULL)
        fail_msg("tail --type Like printed: %s", out);
    free(out);
    free(err);
}

/* tail polling the store the server writes. */
static void test_tail_store(void **state)
{
    (void)state;
    char tid[33], *out, *err;
    fresh_id(tid);
    proc p;
    spawn(&p, NULL, (const char *const[]){"tail", "--json", "--count", "1", "--timeout", "60s",
                                          "--interval", "200ms", "--store", store, NULL});
    wait_stderr(&p, "waiting for new activities");
    post_activity(tid, "00000000000000d1", "Create", true, "https://cli.example/users/dave");
    assert_int_equal(finish(&p, &out, &err), 0);
    char path[128];
    snprintf(path, sizeof path, "/api/traces/%s", tid);
    json_t *want = ft_test_get_json(d.ui_port, path, 200);
    json_t *got = json_loads(out, 0, NULL);
    if (got == NULL)
        fail_msg("tail --json: %s / %s", out, err);
    expect_equal(got, json_array_get(want, 0), "the record tail printed");
    json_decref(got);
    json_decref(want);
    free(out);
    free(err);

    /* SIGINT ends it with status 0 */
    spawn(&p, NULL, (const char *const[]){"tail", "--store", store, NULL});
    wait_stderr(&p, "waiting for new activities");
    kill(p.pid, SIGINT);
    assert_int_equal(finish(&p, &out, &err), 0);
    free(out);
    free(err);
}

static int setup(void **state)
{
    (void)state;
    ft_post_fixtures(d.otlp_port);
    return 0;
}

int main(void)
{
    unsetenv("FEDTRACE_STORE");
    unsetenv("FEDTRACE_API_TOKEN");
    unsetenv("COLUMNS");
    setenv("TZ", "UTC", 1);
    setenv("LC_ALL", "C.UTF-8", 1);
    signal(SIGPIPE, SIG_IGN);
    tmp = ft_test_tmpdir("cli-int");
    snprintf(store, sizeof store, "lmdb:%s/store", tmp);
    char log[700];
    snprintf(log, sizeof log, "%s/serve.log", tmp);
    if (ft_daemon_start(&d, store, log, NULL) != 0) {
        uint8_t *text = ft_test_read_file(log, NULL);
        fprintf(stderr, "fedtrace serve did not start:\n%s\n", text ? (char *)text : "");
        return 1;
    }
    snprintf(api, sizeof api, "http://127.0.0.1:%d", d.ui_port);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traces_same_everywhere),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_show_same_everywhere),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_tail_api),
        cmocka_unit_test(test_tail_store),
    };
    int failed = cmocka_run_group_tests_name("cli", tests, setup, NULL);
    int st = ft_daemon_stop(&d, SIGTERM);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "fedtrace serve ended with status %d\n", st);
        failed++;
    }
    uint8_t *text = ft_test_read_file(log, NULL);
    if (text != NULL && (strstr((char *)text, "runtime error") || strstr((char *)text, "Sanitizer"))) {
        fprintf(stderr, "sanitizer report in the daemon's log:\n%s\n", (char *)text);
        failed++;
    }
    free(text);
    if (failed == 0)
        ft_test_rmrf(tmp);
    free(tmp);
    return failed ? 1 : 0;
}
