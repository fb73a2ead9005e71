/*
 * test_cli.c - the fedtrace command as a user runs it: import the captured
 * Fedify requests into a fresh LMDB store, list, filter, show, page, tail,
 * and refuse bad input with a message; hostile text stays harmless on a
 * terminal.  (The same commands against a running server's API:
 * tests/integration/test_cli.c.)
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

/* Every setting that `serve --help` prints is documented, with its
 * environment variable, in docs/configuration.md: the docs stay true. */
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
        cmocka_unit_test(test_serve_settings_documented),
    };
    int failed = cmocka_run_group_tests_name("cli", tests, NULL, NULL);
    ft_test_rmrf(dir);
    free(dir);
    return failed ? 1 : 0;
}
