/*
 * test_cli.c - the fedtrace command as a user runs it: import the captured
 * Fedify requests into a fresh LMDB store, list, show, page, and refuse
 * bad input with a message.
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
    assert_true(json_equal(arr, json_object_get(ref, "traces")));
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
    json_decref(t);
    free(out);
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
    assert_non_null(strstr(out, "--store"));
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
    dir = ft_test_tmpdir("cli");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_list_show),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_serve_settings_documented),
    };
    int failed = cmocka_run_group_tests_name("cli", tests, NULL, NULL);
    ft_test_rmrf(dir);
    free(dir);
    return failed ? 1 : 0;
}
