/*
 * test_cli.c - the fedtrace command as a user runs it: import the captured
 * Fedify requests into a fresh LMDB store, list, filter, show, page, tail,
 * and refuse bad input with a message; hostile text stays harmless on a
 * terminal.  services, service, map and slow-queries on what import
 * counted.  (The same commands against a running server's API:
 * tests/integration/test_cli.c and test_cli_services.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "ft_json_test.h"
#include "ft_test_util.h"
#include "ft_tmp.h"

static char *dir;

/* Runs the binary with args; returns its stdout+stderr (malloc) and exit
 * status. */
static char *run(const char *args, int *status)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", FT_BIN, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0, r;
    char *out = malloc(cap);
    while ((r = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (n + 1 == cap)
            out = realloc(out, cap *= 2);
    }
    out[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

/* import names IP-literal hosts "ip-address" unless --show-ip-peers, as
 * serve does (the fixtures deliver to 127.0.0.1). */
static void test_import_ip_peers(void **state)
{
    (void)state;
    static const char *const flag[2] = {"", "--show-ip-peers"};
    static const char *const want[2] = {"\"name\":\"ip-address\"", "\"name\":\"127.0.0.1\""};
    for (int k = 0; k < 2; k++) {
        char args[2048];
        int st;
        snprintf(args, sizeof args, "import %s --store lmdb:%s/ip%d %s/fedify-2.3.6/*.pb", flag[k],
                 dir, k, FT_TEST_DATA);
        free(run(args, &st));
        assert_int_equal(st, 0);
        snprintf(args, sizeof args,
                 "services --json --store lmdb:%s/ip%d --since 2026-11-21T00:00:00Z "
                 "--until 2026-11-23T00:00:00Z",
                 dir, k);
        char *out = run(args, &st);
        assert_int_equal(st, 0);
        if (strstr(out, want[k]) == NULL || strstr(out, want[1 - k]) != NULL)
            fail_msg("import %s: want %s only in:\n%s", flag[k], want[k], out);
        free(out);
    }
}

static void test_import_list_show(void **state)
{
    (void)state;
    char args[2048];
    int st;
    snprintf(args, sizeof args, "import --store lmdb:%s/s1 %s/fedify-2.3.6/*.pb", dir, FT_TEST_DATA);
    char *out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "stored 250 spans, 12 activities"));
    free(out);

    snprintf(args, sizeof args, "traces --store lmdb:%s/s1 --json --limit 100", dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    json_t *arr = json_loads(out, 0, NULL);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 11);
    json_t *ref = json_load_file(FT_TEST_DATA "/fedify-2.3.6/reference.json", 0, NULL);
    json_t *fedify = ft_test_fedify_summaries(arr);
    assert_true(json_equal(fedify, json_object_get(ref, "traces")));
    json_decref(fedify);
    json_decref(ref);
    json_decref(arr);
    free(out);

    /* table with paging */
    snprintf(args, sizeof args, "traces --store lmdb:%s/s1 --limit 2", dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "1cdb527281be79c7d8f2d68b2e7ddeee"));
    char *more = strstr(out, "--cursor ");
    assert_non_null(more);
    char cursor[80];
    assert_int_equal(sscanf(more, "--cursor %79s", cursor), 1);
    free(out);
    snprintf(args, sizeof args, "traces --store lmdb:%s/s1 --limit 2 --cursor %s", dir, cursor);
    out = run(args, &st);
    assert_int_equal(st, 0);
    assert_null(strstr(out, "1cdb527281be79c7d8f2d68b2e7ddeee"));
    assert_non_null(strstr(out, "e8f5d3c583f64812c053ad5613ff8f64"));
    free(out);

    snprintf(args, sizeof args, "show --store lmdb:%s/s1 1cdb527281be79c7d8f2d68b2e7ddeee", dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "keyFetchError"));
    assert_non_null(strstr(out, "key fetch HTTP 404"));
    assert_non_null(strstr(out, "POST /users/{identifier}/inbox"));
    free(out);

    snprintf(args, sizeof args, "show --json --store lmdb:%s/s1 92f999891add13594d9e538b701c0e4e", dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    json_t *t = json_loads(out, 0, NULL);
    assert_non_null(t);
    assert_int_equal(json_array_size(json_object_get(t, "activities")), 2);
    assert_int_equal(json_array_size(json_object_get(t, "spans")), 41);
    assert_true(json_is_array(json_object_get(t, "logs")));
    assert_string_equal(json_string_value(json_object_get(t, "traceId")),
                        "92f999891add13594d9e538b701c0e4e");
    json_decref(t);
    free(out);

    /* an upper-case id is the same trace */
    snprintf(args, sizeof args, "show --json --store lmdb:%s/s1 92F999891ADD13594D9E538B701C0E4E", dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "\"traceId\":\"92f999891add13594d9e538b701c0e4e\""));
    free(out);
}

/* The trace ids of a --json list, sorted, joined by spaces. */
static char *ids_of(const char *json_text)
{
    json_t *arr = json_loads(json_text, 0, NULL);
    assert_true(json_is_array(arr));
    size_t n = json_array_size(arr);
    char *ids = calloc(n + 1, 33);
    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(arr, i), "traceId"));
        assert_non_null(id);
        assert_int_equal(strlen(id), 32);
        memcpy(ids + 33 * i, id, 32);
    }
    qsort(ids, n, 33, (int (*)(const void *, const void *))strcmp);
    for (size_t i = 0; i + 1 < n; i++)
        ids[33 * i + 32] = ' ';
    json_decref(arr);
    return ids;
}

/* Columns of a line of UTF-8 text (one per code point: the table is ASCII
 * but for the ellipsis). */
static size_t columns(const char *s, size_t n)
{
    size_t cols = 0;
    for (size_t i = 0; i < n; i++)
        cols += ((unsigned char)s[i] & 0xc0) != 0x80;
    return cols;
}

static void assert_fits(const char *out, size_t width)
{
    for (const char *line = out; *line;) {
        size_t n = strcspn(line, "\n");
        if (columns(line, n) > width)
            fail_msg("%zu columns, more than %zu: %.*s", columns(line, n), width, (int)n, line);
        line += n + (line[n] == '\n');
    }
}

static void test_filters_and_table(void **state)
{
    (void)state;
    char args[2048];
    int st;
    snprintf(args, sizeof args, "import --store lmdb:%s/f %s/fedify-2.3.6/*.pb", dir, FT_TEST_DATA);
    free(run(args, &st));
    assert_int_equal(st, 0);

    static const struct {
        const char *flags, *ids;
    } cases[] = {
        {"--type Follow", "760f1095663c42e6d6954b8d2e82d33c 92f999891add13594d9e538b701c0e4e"},
        {"--type https://www.w3.org/ns/activitystreams#Follow",
         "760f1095663c42e6d6954b8d2e82d33c 92f999891add13594d9e538b701c0e4e"},
        {"--verification-failed",
         "1cdb527281be79c7d8f2d68b2e7ddeee 916f65ecf5c50fa90404a8c1d70e8e4d"},
        {"--verification failed",
         "1cdb527281be79c7d8f2d68b2e7ddeee 916f65ecf5c50fa90404a8c1d70e8e4d"},
        {"--type Create --direction outbound", "727a8865156756426d0e44149c9129c9"},
        {"--type=Undo --direction=inbound", "051e8c9bc57d9ebbd788202fe06821e5"},
        {"--type Follow --service fedify-b", "760f1095663c42e6d6954b8d2e82d33c"},
        {"--until 2026-11-21T23:16:20.700Z", "760f1095663c42e6d6954b8d2e82d33c 92f999891add13594d9e538b701c0e4e"},
        {"--since 2026-11-21T23:16:22Z", "1cdb527281be79c7d8f2d68b2e7ddeee"},
        {"--actor MALLORY --type Create", ""},
        {"--type Block", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, "traces --store lmdb:%s/f --json --limit 100 %s", dir,
                 cases[i].flags);
        char *out = run(args, &st);
        if (st != 0)
            fail_msg("%s: exit %d: %s", cases[i].flags, st, out);
        char *ids = ids_of(out);
        if (strcmp(ids, cases[i].ids) != 0)
            fail_msg("%s: %s, want %s", cases[i].flags, ids, cases[i].ids);
        free(ids);
        free(out);
    }

    /* the table fits 80 columns, with whole trace ids and the marks */
    snprintf(args, sizeof args, "env COLUMNS=80 '%s' traces --store lmdb:%s/f --limit 100", FT_BIN, dir);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s 2>&1", args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char table[16384];
    size_t n = fread(table, 1, sizeof table - 1, p);
    table[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_fits(table, 80);
    assert_non_null(strstr(table, "TRACE"));
    const char *row = strstr(table, "1cdb527281be79c7d8f2d68b2e7ddeee  ");
    assert_non_null(row);
    size_t row_len = strcspn(row, "\n");
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)row_len, row);
    assert_non_null(strstr(line, "   1  !X  Create"));
    assert_non_null(strstr(table, "92f999891add13594d9e538b701c0e4e"));
    assert_non_null(strstr(table, "X a signature failed verification"));
    assert_null(strstr(table, "\033[")); /* no colours into a pipe */

    /* the next page keeps the filter */
    snprintf(args, sizeof args, "traces --store lmdb:%s/f --type Follow --limit 1", dir);
    char *out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "760f1095663c42e6d6954b8d2e82d33c"));
    char *more = strstr(out, "more: fedtrace traces --type Follow --limit 1 --cursor ");
    assert_non_null(more);
    char cursor[80];
    assert_int_equal(sscanf(more, "more: fedtrace traces --type Follow --limit 1 --cursor %79s", cursor), 1);
    free(out);
    snprintf(args, sizeof args, "traces --store lmdb:%s/f --type Follow --limit 1 --cursor %s", dir, cursor);
    out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "92f999891add13594d9e538b701c0e4e"));
    assert_null(strstr(out, "760f1095663c42e6d6954b8d2e82d33c"));
    free(out);

    snprintf(args, sizeof args, "traces --store lmdb:%s/f --type Block", dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "no traces with activities match the filter"));
    free(out);

    /* show: the waterfall with services, fitting the terminal */
    snprintf(args, sizeof args, "env COLUMNS=80 '%s' show --store lmdb:%s/f 92f999891add13594d9e538b701c0e4e 2>&1",
             FT_BIN, dir);
    p = popen(args, "r");
    assert_non_null(p);
    static char shown[1 << 16];
    n = fread(shown, 1, sizeof shown - 1, p);
    shown[n] = '\0';
    assert_int_equal(pclose(p), 0);
    /* the waterfall fits; activity ids and URLs are shown whole */
    assert_non_null(strstr(shown, "\n  spans: "));
    assert_fits(strstr(shown, "\n  spans: "), 80);
    assert_non_null(strstr(shown, "2 activities, 41 spans, 0 log records"));
    assert_non_null(strstr(shown, "spans: 41 in "));
    assert_non_null(strstr(shown, "  fedify-a   POST /users/{identifier}/inbox "));
    assert_non_null(strstr(shown, "<- Follow  2026-11-21T23:16:20.631Z"));
    assert_non_null(strstr(shown, "-> Accept  2026-11-21T23:16:20.911Z"));
    assert_non_null(strstr(shown, "inbox  http://127.0.0.1:18002/users/bob/inbox"));
}

/* tail on a store: --since prints what is there, oldest first; without
 * it only what comes later; --count and --timeout end it. */
static void test_tail_store(void **state)
{
    (void)state;
    char args[2048];
    int st;
    snprintf(args, sizeof args, "import --store lmdb:%s/t %s/fedify-2.3.6/*.pb", dir, FT_TEST_DATA);
    free(run(args, &st));
    assert_int_equal(st, 0);

    snprintf(args, sizeof args,
             "tail --store lmdb:%s/t --json --since 2026-01-01T00:00:00Z --count 12 --timeout 60s", dir);
    char *out = run(args, &st);
    assert_int_equal(st, 0);
    json_t *ref = json_load_file(FT_TEST_DATA "/fedify-2.3.6/reference.json", 0, NULL);
    size_t lines = 0;
    char prev[32] = "";
    for (char *line = out; *line;) {
        size_t n = strcspn(line, "\n");
        if (strncmp(line, "{", 1) == 0) {
            json_t *r = json_loadb(line, n, 0, NULL);
            assert_non_null(r);
            const char *tid = json_string_value(json_object_get(r, "traceId"));
            const char *ts = json_string_value(json_object_get(r, "timestamp"));
            assert_non_null(ts);
            assert_true(strcmp(prev, ts) <= 0); /* oldest first */
            snprintf(prev, sizeof prev, "%s", ts);
            /* exactly one of the records Fedify stored for that trace */
            json_t *want = json_object_get(json_object_get(ref, "activities"), tid);
            size_t i, hits = 0;
            json_t *w;
            json_array_foreach(want, i, w) hits += json_equal(w, r);
            assert_int_equal(hits, 1);
            json_decref(r);
            lines++;
        }
        line += n + (line[n] == '\n');
    }
    assert_int_equal(lines, 12);
    json_decref(ref);
    free(out);

    /* text lines: time, direction, type, trace, actor */
    snprintf(args, sizeof args,
             "tail --store lmdb:%s/t --since 2026-11-21T23:16:22Z --count 1 --timeout 60s", dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "  in   Create        1cdb527281be79c7d8f2d68b2e7ddeee  http://127.0.0.1:18002/users/bob\n"));
    free(out);

    /* from now: nothing new arrives; --timeout alone is a success, with
     * --count not reached a failure */
    snprintf(args, sizeof args, "tail --store lmdb:%s/t --interval 100ms --timeout 400ms", dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "waiting for new activities"));
    assert_null(strstr(out, "1cdb527281be79c7d8f2d68b2e7ddeee"));
    free(out);
    snprintf(args, sizeof args, "tail --store lmdb:%s/t --interval 100ms --timeout 400ms --count 1", dir);
    out = run(args, &st);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "timed out with 0 of 1 activities"));
    free(out);
}

/* A record whose actor, id and service carry terminal escapes, C1
 * controls and a bidi override: the text output shows '?' instead. */
static void test_terminal_safety(void **state)
{
    (void)state;
    ft_pbw w;
    ft_pbw_init(&w);
    ft_pbw_begin(&w, 1); /* ResourceSpans */
    ft_pbw_begin(&w, 1); /* Resource */
    ft_pbw_begin(&w, 1);
    ft_pbw_str(&w, 1, "service.name");
    ft_pbw_begin(&w, 2);
    ft_pbw_str(&w, 1, "evil\033]0;title\007svc");
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 2); /* ScopeSpans */
    ft_pbw_begin(&w, 2); /* Span */
    uint8_t tid[16], sid[8];
    memset(tid, 0xe5, sizeof tid);
    memset(sid, 0x5e, sizeof sid);
    ft_pbw_bytes(&w, 1, tid, 16);
    ft_pbw_bytes(&w, 2, sid, 8);
    ft_pbw_str(&w, 5, "POST /inbox\033[2J");
    ft_pbw_varint(&w, 6, 2);
    ft_pbw_fixed64(&w, 7, 1795302981000000000ull);
    ft_pbw_fixed64(&w, 8, 1795302981005000000ull);
    ft_pbw_begin(&w, 11); /* Event */
    ft_pbw_fixed64(&w, 1, 1795302981001000000ull);
    ft_pbw_str(&w, 2, "activitypub.activity.received");
    ft_pbw_begin(&w, 3);
    ft_pbw_str(&w, 1, "activitypub.activity.json");
    ft_pbw_begin(&w, 2);
    ft_pbw_str(&w, 1, "{\"id\":\"https://evil.example/\\u001b[31mred\",\"type\":\"Follow\","
                     "\"actor\":\"https://evil.example/\\u202eeman\\u009b6n\"}");
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    char path[600], args[2048];
    snprintf(path, sizeof path, "%s/evil.pb", dir);
    assert_true(ft_test_write_file(path, w.buf, w.len));
    ft_pbw_free(&w);
    int st;
    snprintf(args, sizeof args, "import --store lmdb:%s/e %s", dir, path);
    free(run(args, &st));
    assert_int_equal(st, 0);
    const char *const cmds[] = {"traces", "show e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5",
                                "tail --since 2020-01-01T00:00:00Z --count 1"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "%s --store lmdb:%s/e", cmds[i], dir);
        char *out = run(args, &st);
        assert_int_equal(st, 0);
        assert_null(strchr(out, '\033'));
        assert_null(strchr(out, '\007'));
        assert_null(strstr(out, "\xe2\x80\xae")); /* U+202E */
        assert_null(strstr(out, "\xc2\x9b"));     /* U+009B */
        if (i == 1) {
            assert_non_null(strstr(out, "id     https://evil.example/?[31mred"));
            assert_non_null(strstr(out, "actor  https://evil.example/?eman?6n"));
            assert_non_null(strstr(out, "evil?]0;title?svc"));
            assert_non_null(strstr(out, "POST /inbox?[2J"));
        }
        if (i == 2)
            assert_non_null(strstr(out, "https://evil.example/?eman?6n"));
        free(out);
    }
}

static void test_errors(void **state)
{
    (void)state;
    int st;
    char args[1024];
    char *out = run("bogus", &st);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "unknown command"));
    free(out);
    out = run("show --store memory: nothex", &st);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "not a trace id"));
    free(out);
    out = run("traces --store memory:?caps=none", &st);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "compare-and-swap"));
    free(out);
    out = run("traces --store nosuch:x", &st);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "unknown store scheme"));
    free(out);
    snprintf(args, sizeof args, "import --store lmdb:%s/s2 %s/fedify-2.3.6/README.md", dir, FT_TEST_DATA);
    out = run(args, &st);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "README.md"));
    free(out);
    out = run("--help", &st);
    assert_int_equal(st, 0);
    static const char *const flags[] = {"--store", "--api-token", "--type", "--direction",
                                        "--actor", "--host", "--service",
                                        "--verification-failed", "--error", "--since",
                                        "--until", "--count", "--timeout", "--interval",
                                        "tail", "FEDTRACE_API_TOKEN", "http://"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (strstr(out, flags[i]) == NULL)
            fail_msg("fedtrace --help does not mention %s", flags[i]);
    free(out);
    out = run("tail --help", &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "usage: fedtrace tail"));
    assert_non_null(strstr(out, "--count N"));
    assert_non_null(strstr(out, "--verification-failed"));
    free(out);
    out = run("help traces", &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "usage: fedtrace traces"));
    assert_non_null(strstr(out, "--cursor C"));
    free(out);
    out = run("show --help", &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "\"logs\""));
    free(out);

    /* options a command does not take, bad filter values, API URLs where
     * a store is needed */
    out = run("show --store memory: --type Follow 92f999891add13594d9e538b701c0e4e", &st);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "--type is not an option of show"));
    free(out);
    out = run("traces --store memory: --direction sideways", &st);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "--direction: "));
    assert_non_null(strstr(out, "sideways"));
    free(out);
    out = run("traces --store memory: --since yesterday", &st);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "--since: "));
    free(out);
    out = run("tail --store memory: --timeout soon", &st);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "--timeout soon: not a duration"));
    free(out);
    out = run("traces --store memory: --limit", &st);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "--limit needs a value"));
    free(out);
    out = run("import --store http://127.0.0.1:8080/ x.pb", &st);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "import: needs a store"));
    assert_non_null(strstr(out, "not a server's API URL"));
    free(out);
    out = run("sweep --store https://example.com/fedtrace/", &st);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "sweep: needs a store"));
    free(out);
    out = run("show --store memory: 92f999891add13594d9e538b701c0e4e", &st);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "no trace 92f999891add13594d9e538b701c0e4e in memory:"));
    free(out);
}

/* The window of the captured Fedify requests (2026-11-21 23:16). */
#define FIXTURE_WINDOW "--since 2026-11-21T23:00:00Z --until 2026-11-22T00:00:00Z"

/* Runs `env COLUMNS=cols fedtrace args`: stdout and stderr, exit status. */
static char *run_cols(int cols, const char *args, int *status)
{
    char with[4096];
    snprintf(with, sizeof with, "%s", args);
    char env[64];
    snprintf(env, sizeof env, "%d", cols);
    setenv("COLUMNS", env, 1);
    char *out = run(with, status);
    unsetenv("COLUMNS");
    return out;
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

/* import counts what it stores: services, service, map, slow-queries read
 * it back; a second import of the same requests counts nothing again. */
static void test_services_store(void **state)
{
    (void)state;
    char args[2048];
    int st;
    snprintf(args, sizeof args, "import --store lmdb:%s/m %s/fedify-2.3.6/*.pb", dir, FT_TEST_DATA);
    free(run(args, &st));
    assert_int_equal(st, 0);

    snprintf(args, sizeof args, "services --json --store lmdb:%s/m " FIXTURE_WINDOW, dir);
    char *first = run(args, &st);
    assert_int_equal(st, 0);
    json_t *doc = json_loads(first, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "since")), 1795302000000LL);
    assert_int_equal(json_integer_value(json_object_get(doc, "until")), 1795305600000LL);
    static const char *const apps[] = {"fedify-a", "fedify-b"};
    for (size_t i = 0; i < 2; i++) {
        json_t *s = service_in(doc, apps[i]);
        if (s == NULL)
            fail_msg("no service %s in %s", apps[i], first);
        assert_string_equal(json_string_value(json_object_get(s, "kind")), "instrumented");
        assert_true(json_integer_value(json_object_get(s, "requests")) > 0);
    }
    /* fedify-b answered a failed verification with an error span */
    assert_true(json_integer_value(json_object_get(service_in(doc, "fedify-b"), "errors")) > 0);
    json_decref(doc);

    snprintf(args, sizeof args, "import --store lmdb:%s/m %s/fedify-2.3.6/*.pb", dir, FT_TEST_DATA);
    free(run(args, &st));
    assert_int_equal(st, 0);
    snprintf(args, sizeof args, "services --json --store lmdb:%s/m " FIXTURE_WINDOW, dir);
    char *again = run(args, &st);
    assert_int_equal(st, 0);
    assert_string_equal(again, first);
    free(again);
    free(first);

    /* the table fits the terminal, dropping columns when narrow */
    static const int widths[] = {100, 80, 50};
    for (size_t w = 0; w < 3; w++) {
        snprintf(args, sizeof args, "services --store lmdb:%s/m " FIXTURE_WINDOW, dir);
        char *out = run_cols(widths[w], args, &st);
        assert_int_equal(st, 0);
        assert_fits(out, (size_t)widths[w]);
        assert_non_null(strstr(out, "NAME"));
        assert_non_null(strstr(out, "ERR%"));
        assert_non_null(strstr(out, "fedify-a  "));
        assert_non_null(strstr(out, "instrumented"));
        assert_true(strstr(out, "P95") != NULL || widths[w] < 80);
        assert_null(strstr(out, "\033["));
        free(out);
    }

    snprintf(args, sizeof args, "service fedify-b --store lmdb:%s/m " FIXTURE_WINDOW, dir);
    char *out = run_cols(80, args, &st);
    assert_int_equal(st, 0);
    assert_fits(out, 80);
    assert_non_null(
        strstr(out, "fedify-b  instrumented  from 2026-11-21 23:00 to 2026-11-22 00:00\n"));
    assert_non_null(strstr(out, "\n  requests "));
    assert_non_null(strstr(out, "\n  operations\n"));
    assert_non_null(strstr(out, "  POST /users/{identifier}/inbox "));
    assert_non_null(strstr(out, "calls (callees)"));
    free(out);
    snprintf(args, sizeof args, "service fedify-b --json --store lmdb:%s/m " FIXTURE_WINDOW, dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    doc = json_loads(out, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), "fedify-b");
    assert_true(json_array_size(json_object_get(doc, "operations")) > 0);
    json_decref(doc);
    free(out);

    snprintf(args, sizeof args, "service fedify-c --store lmdb:%s/m " FIXTURE_WINDOW, dir);
    out = run(args, &st);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "fedtrace service: no service 'fedify-c' with spans from "
                                "2026-11-21 23:00 to 2026-11-22 00:00 in lmdb:"));
    free(out);

    snprintf(args, sizeof args, "map --store lmdb:%s/m " FIXTURE_WINDOW, dir);
    out = run_cols(80, args, &st);
    assert_int_equal(st, 0);
    assert_fits(out, 80);
    assert_non_null(strstr(out, "FROM"));
    assert_non_null(strstr(out, "\nfedify-a -> "));
    assert_non_null(strstr(out, "\nfedify-b -> "));
    /* grouped: no fedify-a line after the first fedify-b line */
    assert_null(strstr(strstr(out, "\nfedify-b -> "), "\nfedify-a -> "));
    free(out);
    snprintf(args, sizeof args, "map --json --store lmdb:%s/m " FIXTURE_WINDOW, dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    doc = json_loads(out, 0, NULL);
    assert_true(json_array_size(json_object_get(doc, "edges")) > 0);
    assert_true(json_array_size(json_object_get(doc, "nodes")) >= 2);
    json_decref(doc);
    free(out);

    /* Fedify ran no database statements */
    snprintf(args, sizeof args, "slow-queries --store lmdb:%s/m " FIXTURE_WINDOW, dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "no database statements from 2026-11-21 23:00"));
    free(out);
    snprintf(args, sizeof args, "slow-queries --json --store lmdb:%s/m " FIXTURE_WINDOW, dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    doc = json_loads(out, 0, NULL);
    assert_true(json_is_array(json_object_get(doc, "queries")));
    assert_int_equal(json_array_size(json_object_get(doc, "queries")), 0);
    json_decref(doc);
    free(out);

    /* nothing in the default window (the last hour) */
    snprintf(args, sizeof args, "services --store lmdb:%s/m", dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "no services with spans from "));
    free(out);
}

/* A string attribute (KeyValue, field f of the enclosing message). */
static void pb_attr(ft_pbw *w, uint32_t f, const char *key, const char *val)
{
    ft_pbw_begin(w, f);
    ft_pbw_str(w, 1, key);
    ft_pbw_begin(w, 2);
    ft_pbw_str(w, 1, val);
    ft_pbw_end(w);
    ft_pbw_end(w);
}

/* A service, an operation, a database and a statement that carry terminal
 * escapes, a bidi override and C1 controls: every view shows '?'. */
static void test_services_terminal_safety(void **state)
{
    (void)state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull - 120000000000ull; /* 2 min ago */
    ft_pbw w;
    ft_pbw_init(&w);
    ft_pbw_begin(&w, 1); /* ResourceSpans */
    ft_pbw_begin(&w, 1); /* Resource */
    pb_attr(&w, 1, "service.name", "evil\033]0;title\007svc");
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 2); /* ScopeSpans */
    uint8_t tid[16], sid[8], pid[8];
    memset(tid, 0xd5, sizeof tid);
    memset(sid, 0x51, sizeof sid);
    memset(pid, 0x52, sizeof pid);
    ft_pbw_begin(&w, 2); /* the server span */
    ft_pbw_bytes(&w, 1, tid, 16);
    ft_pbw_bytes(&w, 2, sid, 8);
    ft_pbw_str(&w, 5, "GET /\033[2J\xc2\x9b" "6n");
    ft_pbw_varint(&w, 6, 2);
    ft_pbw_fixed64(&w, 7, now);
    ft_pbw_fixed64(&w, 8, now + 9000000);
    ft_pbw_end(&w);
    ft_pbw_begin(&w, 2); /* a database call under it */
    ft_pbw_bytes(&w, 1, tid, 16);
    ft_pbw_bytes(&w, 2, pid, 8);
    ft_pbw_bytes(&w, 4, sid, 8);
    ft_pbw_str(&w, 5, "SELECT");
    ft_pbw_varint(&w, 6, 3);
    ft_pbw_fixed64(&w, 7, now + 1000000);
    ft_pbw_fixed64(&w, 8, now + 3000000);
    pb_attr(&w, 9, "db.system", "postgresql");
    pb_attr(&w, 9, "db.name", "db\033[31m\xe2\x80\xaeprod");
    pb_attr(&w, 9, "db.statement", "SELECT \"\033[J\xe2\x80\xae\" FROM t WHERE a = 1");
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    char path[600], args[2048];
    snprintf(path, sizeof path, "%s/evil-svc.pb", dir);
    assert_true(ft_test_write_file(path, w.buf, w.len));
    ft_pbw_free(&w);
    int st;
    snprintf(args, sizeof args, "import --store lmdb:%s/es %s", dir, path);
    free(run(args, &st));
    assert_int_equal(st, 0);
    /* the names as the store has them */
    snprintf(args, sizeof args, "services --json --store lmdb:%s/es", dir);
    char *list = run(args, &st);
    assert_int_equal(st, 0);
    json_t *doc = json_loads(list, 0, NULL);
    json_t *arr = json_object_get(doc, "services");
    assert_int_equal(json_array_size(arr), 2);
    char svc_cmd[2][300];
    for (size_t i = 0; i < 2; i++) {
        const char *name = json_string_value(json_object_get(json_array_get(arr, i), "name"));
        assert_non_null(name);
        assert_null(strchr(name, '\''));
        snprintf(svc_cmd[i], sizeof svc_cmd[i], "service '%s'", name);
    }
    json_decref(doc);
    free(list);
    const char *const cmds[] = {"services", svc_cmd[0], "map", "slow-queries", svc_cmd[1]};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(args, sizeof args, "%s --store lmdb:%s/es", cmds[i], dir);
        char *out = run(args, &st);
        if (st != 0)
            fail_msg("%s: exit %d: %s", cmds[i], st, out);
        assert_null(strchr(out, '\033'));
        assert_null(strchr(out, '\007'));
        assert_null(strstr(out, "\xe2\x80\xae")); /* U+202E */
        assert_null(strstr(out, "\xc2\x9b"));     /* U+009B */
        if (i == 0 || i == 2)
            assert_non_null(strstr(out, "evil?]0;title?svc"));
        if ((i == 1 || i == 4) && strstr(out, "GET /?[2J?6n") == NULL &&
            strstr(out, "SELECT") == NULL)
            fail_msg("%s: %s", cmds[i], out);
        /* (the control character may have become a space on the way) */
        if (i == 3 && (strstr(out, "[J?\" FROM t WHERE a = ?") == NULL ||
                       strstr(out, "db?[31m?prod <- evil?]0;title?svc") == NULL))
            fail_msg("slow-queries: %s", out);
        if (i == 1 || i == 4)
            assert_non_null(strstr(out, "\n  operations\n"));
        free(out);
    }
    /* an unknown name goes to stderr harmlessly too */
    snprintf(args, sizeof args, "service 'no\033[2J\xe2\x80\xaesuch' --store lmdb:%s/es", dir);
    char *out = run(args, &st);
    assert_int_equal(st, 1);
    assert_null(strchr(out, '\033'));
    assert_null(strstr(out, "\xe2\x80\xae"));
    assert_non_null(strstr(out, "no service 'no?[2J?such'"));
    free(out);
}

static void test_services_errors(void **state)
{
    (void)state;
    int st;
    static const struct {
        const char *args;
        int status;
        const char *says;
    } cases[] = {
        {"service --store memory:", 2, "fedtrace service: name one service"},
        {"service a b --store memory:", 2, "fedtrace service: name one service"},
        {"services extra --store memory:", 2, "fedtrace services: takes no arguments"},
        {"map --limit 3 --store memory:", 2, "--limit is not an option of map"},
        {"services --type Follow --store memory:", 2, "--type is not an option of services"},
        {"service x --cursor c --store memory:", 2, "--cursor is not an option of service"},
        {"slow-queries --error --store memory:", 2, "--error is not an option of slow-queries"},
        {"slow-queries --limit many --store memory:", 2, "--limit many: not a number"},
        {"map --since soon --store memory:", 2, "--since: "},
        {"services --since 2026-11-26T12:00:00Z --until 2026-11-26T11:00:00Z --store memory:", 2,
         "--since must be before --until"},
        {"services --since 2099-01-01T00:00:00Z --store memory:", 2,
         "--since must be before --until (now)"},
        {"services --store memory:", 0, "no services with spans from "},
        {"map --store memory:", 0, "no calls between services from "},
        {"slow-queries --service mastodon_production --store memory:", 0,
         "no database statements of or by 'mastodon_production' from "},
        {"service mastodon/web --store memory:", 1, "no service 'mastodon/web' with spans from "},
        {"services --store nosuch:x", 1, "unknown store scheme"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = run(cases[i].args, &st);
        if (st != cases[i].status || strstr(out, cases[i].says) == NULL)
            fail_msg("%s: exit %d, want %d with \"%s\": %s", cases[i].args, st, cases[i].status,
                     cases[i].says, out);
        free(out);
    }

    /* help */
    char *out = run("--help", &st);
    assert_int_equal(st, 0);
    static const char *const words[] = {"  services ", "  service NAME ", "  map ",
                                        "  slow-queries ", "time window", "--until TIME"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(out, words[i]) == NULL)
            fail_msg("fedtrace --help does not mention \"%s\"", words[i]);
    free(out);
    static const struct {
        const char *args, *usage, *also;
    } helps[] = {
        {"services --help", "usage: fedtrace services [--since TIME]", "RATE/s"},
        {"help service", "usage: fedtrace service NAME", "the slowest statements"},
        {"map -h", "usage: fedtrace map", "FROM -> TO (kind)"},
        {"help slow-queries", "usage: fedtrace slow-queries [--service NAME] [--limit N]",
         "literals replaced by ?"},
    };
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        out = run(helps[i].args, &st);
        assert_int_equal(st, 0);
        if (strstr(out, helps[i].usage) == NULL || strstr(out, helps[i].also) == NULL ||
            strstr(out, "--store URL") == NULL || strstr(out, "--json") == NULL)
            fail_msg("%s: %s", helps[i].args, out);
        assert_fits(out, 80);
        free(out);
    }
}

/* Every setting that `serve --help` prints is documented, with its
 * environment variable, in docs/configuration.md: the docs stay true. */
/* ---- show: the services spans call, linked traces ---- */

/* Opens a Span (close it with ft_pbw_end): ids are one byte repeated;
 * parent 0: none. */
static void pb_span(ft_pbw *w, uint8_t trace, uint8_t id, uint8_t parent, const char *name,
                    int kind, int start_ms, int ms)
{
    uint8_t tid[16], sid[8], pid[8];
    memset(tid, trace, sizeof tid);
    memset(sid, id, sizeof sid);
    memset(pid, parent, sizeof pid);
    ft_pbw_begin(w, 2);
    ft_pbw_bytes(w, 1, tid, 16);
    ft_pbw_bytes(w, 2, sid, 8);
    if (parent)
        ft_pbw_bytes(w, 4, pid, 8);
    ft_pbw_str(w, 5, name);
    ft_pbw_varint(w, 6, (uint64_t)kind);
    ft_pbw_fixed64(w, 7, 1795302981000000000ull + (uint64_t)start_ms * 1000000u);
    ft_pbw_fixed64(w, 8, 1795302981000000000ull + (uint64_t)(start_ms + ms) * 1000000u);
}

static void pb_link(ft_pbw *w, uint8_t trace, uint8_t id)
{
    uint8_t tid[16], sid[8];
    memset(tid, trace, sizeof tid);
    memset(sid, id, sizeof sid);
    ft_pbw_begin(w, 13); /* Span.links */
    ft_pbw_bytes(w, 1, tid, 16);
    ft_pbw_bytes(w, 2, sid, 8);
    ft_pbw_end(w);
}

static void pb_resource(ft_pbw *w, const char *service)
{
    ft_pbw_begin(w, 1); /* ResourceSpans */
    ft_pbw_begin(w, 1); /* Resource */
    ft_pbw_begin(w, 1);
    ft_pbw_str(w, 1, "service.name");
    ft_pbw_begin(w, 2);
    ft_pbw_str(w, 1, service);
    ft_pbw_end(w);
    ft_pbw_end(w);
    ft_pbw_end(w);
    ft_pbw_begin(w, 2); /* ScopeSpans */
}

/*
 * A Mastodon request (trace a1...: mastodon/web) that queries PostgreSQL,
 * delivers to a remote inbox and enqueues a Sidekiq job; the job (trace
 * b2...: mastodon/sidekiq) runs in a trace of its own, its consumer span
 * linked to the publish span; a second job span, named with terminal
 * escapes, links to the request's root.  Into lmdb:DIR/NAME.
 */
static void import_linked(const char *name)
{
    ft_pbw w;
    ft_pbw_init(&w);
    pb_resource(&w, "mastodon/web");
    pb_span(&w, 0xa1, 0x01, 0, "POST /api/v1/statuses", 2, 0, 80);
    ft_pbw_end(&w);
    pb_span(&w, 0xa1, 0x02, 0x01, "INSERT mastodon", 3, 5, 3);
    pb_attr(&w, 9, "db.system", "postgresql");
    pb_attr(&w, 9, "db.name", "mastodon_production");
    pb_attr(&w, 9, "db.statement", "INSERT INTO statuses (text) VALUES ('hi')");
    ft_pbw_end(&w);
    pb_span(&w, 0xa1, 0x03, 0x01, "PostDistributionWorker publish", 4, 20, 2);
    pb_attr(&w, 9, "messaging.system", "sidekiq");
    pb_attr(&w, 9, "messaging.destination", "default");
    ft_pbw_end(&w);
    pb_span(&w, 0xa1, 0x04, 0x01, "HTTP POST", 3, 30, 40);
    pb_attr(&w, 9, "http.method", "POST");
    pb_attr(&w, 9, "http.url", "https://remote.example/inbox");
    pb_attr(&w, 9, "net.peer.name", "remote.example");
    ft_pbw_end(&w);
    ft_pbw_end(&w); /* ScopeSpans */
    ft_pbw_end(&w); /* ResourceSpans */
    pb_resource(&w, "mastodon/sidekiq");
    pb_span(&w, 0xb2, 0x01, 0, "PostDistributionWorker process", 5, 100, 30);
    pb_attr(&w, 9, "messaging.system", "sidekiq");
    pb_attr(&w, 9, "messaging.destination", "default");
    pb_link(&w, 0xa1, 0x03);
    ft_pbw_end(&w);
    pb_span(&w, 0xb2, 0x02, 0x01, "SELECT mastodon", 3, 105, 4);
    pb_attr(&w, 9, "db.system", "postgresql");
    pb_attr(&w, 9, "db.name", "mastodon_production");
    ft_pbw_end(&w);
    pb_span(&w, 0xb2, 0x03, 0, "evil\033[2Jjob\033]0;t\007", 5, 140, 1);
    pb_link(&w, 0xa1, 0x01);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    ft_pbw_end(&w);
    char path[600], args[2048];
    snprintf(path, sizeof path, "%s/linked.pb", dir);
    assert_true(ft_test_write_file(path, w.buf, w.len));
    ft_pbw_free(&w);
    int st;
    snprintf(args, sizeof args, "import --store 'lmdb:%s/%s' %s", dir, name, path);
    char *out = run(args, &st);
    if (st != 0)
        fail_msg("import: exit %d: %s", st, out);
    free(out);
}

#define TRACE_A "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define TRACE_B "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"

/* The line of out containing a (and b, unless NULL), or fail. */
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
    fail_msg("no line with \"%s\"%s%s in:\n%s", a, b ? " and " : "", b ? b : "", out);
}

/*
 * The waterfall names the service each client, producer and consumer span
 * calls (its system or kind too when there is room) and fits 80 and 120
 * columns; the linked traces are listed both ways with the id to follow,
 * fitting even 40 columns, their remote text terminal-safe; a CAS-only
 * store says that it cannot know the incoming ones.
 */
static void test_show_peers_links(void **state)
{
    (void)state;
    import_linked("l");
    import_linked("lc?caps=cas");
    char args[1024];
    int st;
    static const int widths[] = {120, 80, 40};
    for (size_t k = 0; k < 3; k++) {
        snprintf(args, sizeof args, "show %s --store lmdb:%s/l", TRACE_A, dir);
        char *out = run_cols(widths[k], args, &st);
        if (st != 0)
            fail_msg("show: exit %d: %s", st, out);
        assert_null(strchr(out, '\033'));
        assert_null(strchr(out, '\007'));
        const char *linked = strstr(out, "\n  linked traces: 0 outgoing, 2 incoming\n");
        if (linked == NULL)
            fail_msg("no linked traces in:\n%s", out);
        assert_fits(linked, (size_t)widths[k]); /* down to 40 columns */
        assert_line(linked, "    \xe2\x86\x90 " TRACE_B, NULL);
        assert_line(linked, "    follow one with: fedtrace show", NULL); /* wrapped at 40 */
        if (widths[k] >= 80) {
            assert_fits(out, (size_t)widths[k]);
            assert_line(linked, "    \xe2\x86\x90 " TRACE_B " span 0101010101010101", NULL);
            assert_line(linked, "    \xe2\x86\x90 " TRACE_B " span 0303030303030303", NULL);
            assert_line(linked, "mastodon/sidekiq \"evil?[2Jjob?]0;t?\" links to \"POST /api/v1/statuses\"",
                        NULL);
        }
        if (widths[k] == 120) {
            assert_line(out, "mastodon/web", "INSERT mastodon \xe2\x86\x92 postgresql mastodon_production");
            assert_line(out, "PostDistributionWorker publish \xe2\x86\x92 sidekiq default", NULL);
            assert_line(out, "HTTP POST \xe2\x86\x92 instance remote.example", NULL);
            assert_line(linked, "       mastodon/sidekiq \"PostDistributionWorker process\" links to "
                                "\"PostDistributionWorker publish\" here", NULL);
        } else if (widths[k] == 80) {
            assert_line(out, "INSERT mastodon \xe2\x86\x92 ", "mastodon_");
            assert_line(out, "HTTP POST \xe2\x86\x92 ", "remote.example");
        }
        free(out);

        snprintf(args, sizeof args, "show %s --store lmdb:%s/l", TRACE_B, dir);
        out = run_cols(widths[k], args, &st);
        assert_int_equal(st, 0);
        linked = strstr(out, "\n  linked traces: 2 outgoing, 0 incoming\n");
        if (linked == NULL)
            fail_msg("no linked traces in:\n%s", out);
        assert_fits(linked, (size_t)widths[k]);
        assert_null(strchr(out, '\033'));
        assert_line(linked, "    \xe2\x86\x92 " TRACE_A, NULL);
        if (widths[k] >= 80) {
            assert_fits(out, (size_t)widths[k]);
            assert_line(linked, "    \xe2\x86\x92 " TRACE_A " span 0303030303030303", NULL);
            assert_line(linked, "       from mastodon/sidekiq \"PostDistributionWorker process\" here",
                        NULL);
            assert_line(linked, "       from mastodon/sidekiq \"evil?[2Jjob?]0;t?\" here", NULL);
        }
        free(out);
    }

    /* CAS-only: the outgoing links still, a note instead of incoming ones */
    snprintf(args, sizeof args, "show %s --store 'lmdb:%s/lc?caps=cas'", TRACE_A, dir);
    char *out = run_cols(80, args, &st);
    assert_int_equal(st, 0);
    assert_fits(out, 80);
    assert_line(out, "  linked traces: 0 outgoing, incoming not known", NULL);
    assert_line(out, "    incoming links need a store that can list keys: this one is", NULL);
    assert_null(strstr(out, "follow one with"));
    free(out);
    snprintf(args, sizeof args, "show %s --store 'lmdb:%s/lc?caps=cas'", TRACE_B, dir);
    out = run_cols(80, args, &st);
    assert_int_equal(st, 0);
    assert_line(out, "  linked traces: 2 outgoing, incoming not known", NULL);
    assert_line(out, "    \xe2\x86\x92 " TRACE_A " span 0303030303030303", NULL);
    free(out);

    /* --json: "linked" as ft_exporter_linked_json gives it */
    snprintf(args, sizeof args, "show %s --json --store lmdb:%s/l", TRACE_A, dir);
    out = run(args, &st);
    assert_int_equal(st, 0);
    json_t *doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    json_t *in = json_object_get(json_object_get(doc, "linked"), "incoming");
    assert_int_equal(json_array_size(in), 2);
    assert_int_equal(json_array_size(json_object_get(json_object_get(doc, "linked"), "outgoing")), 0);
    size_t i;
    json_t *l;
    bool job = false;
    json_array_foreach(in, i, l) {
        if (strcmp(json_string_value(json_object_get(l, "fromSpanId")), "0101010101010101") == 0) {
            job = true;
            assert_string_equal(json_string_value(json_object_get(l, "fromTraceId")), TRACE_B);
            assert_string_equal(json_string_value(json_object_get(l, "spanId")), "0303030303030303");
            assert_string_equal(json_string_value(json_object_get(l, "fromName")),
                                "PostDistributionWorker process");
        }
    }
    assert_true(job);
    json_decref(doc);
    free(out);
}

static void test_serve_settings_documented(void **state)
{
    (void)state;
    int st;
    char *out = run("serve --help", &st);
    assert_int_equal(st, 0);
    uint8_t *doc = ft_test_read_file(FT_TEST_DATA "/../../docs/configuration.md", NULL);
    assert_non_null(doc);
    size_t n = 0;
    for (char *p = strstr(out, "\n  --"); p != NULL; p = strstr(p + 1, "\n  --")) {
        char flag[64], env[80];
        if (sscanf(p + 3, "%63[a-z-]", flag) != 1)
            continue;
        char *e = strstr(p, "[env ");
        assert_non_null(e);
        assert_int_equal(sscanf(e + 5, "%79[A-Z_]", env), 1);
        char want[160];
        snprintf(want, sizeof want, "| `%s ", flag);
        if (strstr((char *)doc, want) == NULL) {
            snprintf(want, sizeof want, "| `%s`", flag);
            if (strstr((char *)doc, want) == NULL)
                fail_msg("%s is not in docs/configuration.md", flag);
        }
        snprintf(want, sizeof want, "`%s`", env);
        if (strstr((char *)doc, want) == NULL)
            fail_msg("%s is not in docs/configuration.md", env);
        n++;
    }
    assert_true(n >= 10);
    free(doc);
    free(out);
    /* a bad value names the flag */
    out = run("serve --store memory: --body-limit lots", &st);
    assert_int_equal(st, 2);
    assert_non_null(strstr(out, "--body-limit"));
    free(out);
}

int main(void)
{
    /* what the output depends on: nothing from the caller's environment */
    unsetenv("FEDTRACE_STORE");
    unsetenv("FEDTRACE_API_TOKEN");
    unsetenv("COLUMNS");
    setenv("TZ", "UTC", 1);
    setenv("LC_ALL", "C.UTF-8", 1);
    dir = ft_test_tmpdir("cli");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_list_show),
        cmocka_unit_test(test_filters_and_table),
        cmocka_unit_test(test_tail_store),
        cmocka_unit_test(test_terminal_safety),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_services_store),
        cmocka_unit_test(test_services_terminal_safety),
        cmocka_unit_test(test_services_errors),
        cmocka_unit_test(test_serve_settings_documented),
        cmocka_unit_test(test_show_peers_links),
        cmocka_unit_test(test_import_ip_peers),
    };
    int failed = cmocka_run_group_tests_name("cli", tests, NULL, NULL);
    ft_test_rmrf(dir);
    free(dir);
    return failed ? 1 : 0;
}
