/* test_core.c - errors, arena, allocator hook, JSON writing, time, hex. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json_scan.h"
#include "fedtrace/common.h"

static void test_error_table(void **s)
{
    (void)s;
    assert_string_equal(ft_code_name(FT_NOTFOUND), "NOTFOUND");
    assert_string_equal(ft_code_message(FT_CONFLICT), "compare-and-swap did not match");
    assert_string_equal(ft_code_name((ft_code)999), "UNKNOWN");
    assert_int_equal(FT_CORRUPT, 12); /* numbers are ABI */
    ft_err e = {0};
    assert_int_equal(ft_err_set(&e, FT_IO, 5, "reading %s", "x.db"), FT_IO);
    assert_int_equal(e.native, 5);
    ft_err_prefix(&e, "lmdb:/tmp/a");
    assert_string_equal(e.msg, "lmdb:/tmp/a: reading x.db");
    assert_int_equal(ft_err_set(NULL, FT_INVAL, 0, "ignored"), FT_INVAL);
    char longmsg[2000];
    memset(longmsg, 'x', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    ft_err_set(&e, FT_INVAL, 0, "%s", longmsg);
    ft_err_prefix(&e, longmsg); /* truncates, never overflows */
    assert_true(strlen(e.msg) < FT_ERR_MSG_MAX);
}

static int cleanups[4];
static int n_cleanups;
static void record_cleanup(void *p)
{
    cleanups[n_cleanups++] = *(int *)p;
}

static void test_arena(void **s)
{
    (void)s;
    ft_arena *a = ft_arena_create(64 * 1024);
    char *p = ft_arena_alloc(a, 10);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 16, 0);
    /* large allocations get their own block */
    assert_non_null(ft_arena_alloc(a, 40000));
    /* the cap turns into NULL, not an abort */
    assert_null(ft_arena_alloc(a, 30000));
    assert_null(ft_arena_alloc(a, SIZE_MAX - 8));
    static int one = 1, two = 2;
    assert_true(ft_arena_cleanup(a, record_cleanup, &one));
    assert_true(ft_arena_cleanup(a, record_cleanup, &two));
    ft_arena_reset(a);
    assert_int_equal(n_cleanups, 2);
    assert_int_equal(cleanups[0], 2); /* reverse order */
    assert_int_equal(cleanups[1], 1);
    assert_int_equal(ft_arena_used(a), 0);
    assert_non_null(ft_arena_alloc(a, 60000)); /* room again after reset */
    char *d = ft_arena_strndup(a, "hello", 3);
    assert_string_equal(d, "hel");
    ft_arena_destroy(a);
}

static void test_alloc_hook(void **s)
{
    (void)s;
    unsigned long before = ft_alloc_failures();
    ft_alloc_fail_after(1);
    void *p = ft_malloc(8);
    assert_non_null(p);
    assert_null(ft_malloc(8));
    assert_null(ft_arena_create(0));
    ft_alloc_fail_after(-1);
    assert_true(ft_alloc_failures() >= before + 2);
    void *q = ft_malloc(8);
    assert_non_null(q);
    ft_free(p);
    ft_free(q);
}

static char *json_of(ft_str in)
{
    ft_buf b = {0};
    ft_json_str(&b, in);
    ft_buf_putc(&b, '\0');
    return b.ptr;
}

/* The escaping, one byte at a time: what ft_json_str must equal for
 * ASCII input, whatever its word-at-a-time path does. */
static void ascii_escaped(ft_buf *b, const unsigned char *p, size_t n)
{
    ft_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            ft_buf_putc(b, '\\');
            ft_buf_putc(b, (char)c);
        } else if (c >= 0x20) {
            ft_buf_putc(b, (char)c);
        } else {
            static const char *const named[] = {[8] = "\\b", [9] = "\\t", [10] = "\\n",
                                                [12] = "\\f", [13] = "\\r"};
            if (c < 14 && named[c] != NULL)
                ft_buf_puts(b, named[c]);
            else
                ft_buf_printf(b, "\\u%04x", c);
        }
    }
    ft_buf_putc(b, '"');
}

/* Every special byte at every offset of strings of every length up to 40
 * (so at each position of the 8-byte words), and random mixes. */
static void test_json_str_words(void **s)
{
    (void)s;
    static const unsigned char specials[] = {'"', '\\', 0x00, 0x01, 0x1f, '\n', 0x7f, ' ', '~'};
    unsigned char in[40];
    uint64_t rnd = 42;
    for (size_t len = 0; len <= sizeof in; len++)
        for (size_t at = 0; at < (len ? len : 1); at++)
            for (size_t k = 0; k < sizeof specials; k++) {
                for (size_t i = 0; i < len; i++) {
                    rnd = rnd * 6364136223846793005u + 1442695040888963407u;
                    in[i] = (unsigned char)('a' + (rnd >> 60));
                }
                if (len)
                    in[at] = specials[k];
                if (k == 0 && len > 2) /* and some random noise, all ASCII */
                    for (size_t i = 0; i < len; i += 3)
                        in[i] = (unsigned char)((rnd >> (i % 50)) & 0x7f);
                ft_buf got = {0}, want = {0};
                ft_json_str(&got, (ft_str){(const char *)in, len});
                ascii_escaped(&want, in, len);
                assert_true(ft_buf_ok(&got) && ft_buf_ok(&want));
                if (got.len != want.len)
                    fail_msg("len %zu at %zu: got %.*s want %.*s", len, at, (int)got.len, got.ptr, (int)want.len, want.ptr);
                assert_memory_equal(got.ptr, want.ptr, want.len);
                ft_buf_free(&got);
                ft_buf_free(&want);
            }
}

static void test_json_str(void **s)
{
    (void)s;
    char *j = json_of(FT_STR_LIT("a\"b\\c\n\t\x01</script>é"));
    assert_string_equal(j, "\"a\\\"b\\\\c\\n\\t\\u0001</script>é\"");
    ft_free(j);
    /* invalid UTF-8 (a lone continuation byte, a truncated sequence, an
     * encoded surrogate) becomes U+FFFD so the output always parses */
    ft_str bad = {"x\x80y\xe2\x82z\xed\xa0\x80", 9};
    j = json_of(bad);
    json_t *parsed = json_loads(j, JSON_DECODE_ANY, NULL);
    assert_non_null(parsed);
    assert_non_null(strstr(json_string_value(parsed), "\xEF\xBF\xBD"));
    json_decref(parsed);
    ft_free(j);
    ft_str nul = {"a\0b", 3};
    j = json_of(nul);
    assert_string_equal(j, "\"a\\u0000b\"");
    ft_free(j);
}

static void test_json_numbers(void **s)
{
    (void)s;
    ft_buf b = {0};
    ft_json_double(&b, 0.1);
    ft_buf_putc(&b, ' ');
    ft_json_double(&b, 404);
    ft_buf_putc(&b, ' ');
    ft_json_double(&b, 1.0 / 0.0);
    ft_buf_putc(&b, '\0');
    assert_string_equal(b.ptr, "0.1 404 null");
    ft_buf_free(&b);
}

static void test_iso8601_and_hex(void **s)
{
    (void)s;
    char ts[25];
    ft_iso8601_ms(1795302980631941920ull, ts);
    assert_string_equal(ts, "2026-11-21T23:16:20.631Z");
    ft_iso8601_ms(0, ts);
    assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
    uint8_t id[8];
    assert_true(ft_hex_decode(FT_STR_LIT("0aF9dd26539678ff"), id, 8));
    char hex[17];
    ft_hex_encode(id, 8, hex);
    assert_string_equal(hex, "0af9dd26539678ff");
    assert_false(ft_hex_decode(FT_STR_LIT("0af9dd26539678f"), id, 8));
    assert_false(ft_hex_decode(FT_STR_LIT("0af9dd26539678fg"), id, 8));
    assert_true(ft_bytes_zero((const uint8_t *)"\0\0", 2));
}

static void test_read_file(void **s)
{
    (void)s;
    char *data;
    size_t len;
    ft_err err = {0};
    assert_int_equal(ft_read_file(FT_TEST_DATA "/fedify-2.3.6/0001-traces.pb", 0, &data, &len, &err), FT_OK);
    assert_true(len > 1000);
    assert_int_equal(data[len], '\0');
    ft_free(data);
    assert_int_equal(ft_read_file(FT_TEST_DATA "/fedify-2.3.6/0001-traces.pb", 100, &data, &len, &err), FT_TOO_LARGE);
    assert_null(data);
    assert_non_null(strstr(err.msg, "0001-traces.pb"));
    assert_int_equal(ft_read_file(FT_TEST_DATA "/no-such-file", 0, &data, &len, &err), FT_IO);
    assert_non_null(strstr(err.msg, "no-such-file"));
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_true(ft_ct_equal("secret", 6, "secret", 6));
    assert_false(ft_ct_equal("secreT", 6, "secret", 6));
    assert_false(ft_ct_equal("secret-and-more", 15, "secret", 6));
    assert_false(ft_ct_equal("secre", 5, "secret", 6));
    assert_false(ft_ct_equal("", 0, "secret", 6));
    assert_true(ft_ct_equal("", 0, "", 0));
    assert_false(ft_ct_equal("a\0b", 3, "a\0c", 3));
}

/* The tree-less JSON scanner: members in order with their slices, names
 * compared decoded, the last of a repeated name, strings decoded, and
 * what is not JSON refused (the fuzzer compares it with jansson). */
static void test_json_scan(void **st)
{
    (void)st;
    ft_str doc = ft_str_c(" {\"a\" : [1, {\"b\":\"}\"}] ,\"\\u0063\":\"x\\ty\",\"a\":-0.5e+3 , \"n\":null} ");
    ft_json_iter it;
    ft_str k, v;
    assert_true(ft_json_members(doc, &it));
    assert_true(ft_json_next(&it, &k, &v));
    assert_true(ft_json_key_is(k, "a"));
    assert_int_equal(v.len, strlen("[1, {\"b\":\"}\"}]"));
    assert_memory_equal(v.ptr, "[1, {\"b\":\"}\"}]", v.len);
    assert_int_equal(ft_json_kind(v), '[');
    assert_true(ft_json_next(&it, &k, &v));
    assert_true(ft_json_key_is(k, "c")); /* \u0063 */
    assert_false(ft_json_key_is(k, "\\u0063"));
    assert_false(ft_json_plain(v));
    ft_buf b = {0};
    assert_true(ft_json_unescape(v, &b));
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.ptr, "x\ty", 3);
    assert_true(ft_json_next(&it, &k, &v));
    assert_int_equal(ft_json_kind(v), '0');
    assert_true(ft_json_next(&it, &k, &v));
    assert_int_equal(ft_json_kind(v), 'n');
    assert_false(ft_json_next(&it, &k, &v));
    assert_false(it.failed);
    assert_true(ft_json_member(doc, "a", &v)); /* the last "a" */
    assert_int_equal(v.len, 7);
    assert_memory_equal(v.ptr, "-0.5e+3", 7);
    assert_false(ft_json_member(doc, "zz", &v));

    ft_buf_reset(&b); /* a surrogate pair and \u0000 */
    assert_true(ft_json_unescape(ft_str_c("\"\\ud83d\\ude00\\u0000\\/\""), &b));
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.ptr, "\xf0\x9f\x98\x80\0/", 6);
    ft_buf_free(&b);
    assert_false(ft_json_unescape(ft_str_c("12"), &b));

    static const char *const bad[] = {
        "", " ", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "[1 2]", "01", "1.", "-",
        "1e", "+1", ".5", "tru", "nul", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"a\tb\"",
        "\"\xc3\"", "\"\xed\xa0\x80\"", "{} {}", "{'a':1}", "[\"a\":1]", "{1:2}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (ft_json_valid(ft_str_c(bad[i])))
            fail_msg("accepted as JSON: %s", bad[i]);
    static const char *const good[] = {
        "0", "-0", "1.5e-7", "1E+2", "123456789012345678901234567890", "\"\"", "\"\\u00e9\xc3\xa9\"",
        "[]", "{}", " [ { } , [ ] ] ", "true", "null", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!ft_json_valid(ft_str_c(good[i])))
            fail_msg("refused as JSON: %s", good[i]);
    /* a value at most FT_JSON_MAX_DEPTH deep, counting a scalar */
    size_t n = FT_JSON_MAX_DEPTH;
    char *deep = malloc(2 * n + 2);
    assert_non_null(deep);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    assert_true(ft_json_valid((ft_str){deep, 2 * n}));
    memset(deep, '[', n - 1);
    deep[n - 1] = '1';
    memset(deep + n, ']', n - 1);
    assert_true(ft_json_valid((ft_str){deep, 2 * n - 1}));
    memset(deep, '[', n);
    deep[n] = '1';
    memset(deep + n + 1, ']', n);
    assert_false(ft_json_valid((ft_str){deep, 2 * n + 1}));
    free(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_table),  cmocka_unit_test(test_arena),
        cmocka_unit_test(test_alloc_hook),   cmocka_unit_test(test_json_str),
        cmocka_unit_test(test_json_str_words),
        cmocka_unit_test(test_json_numbers), cmocka_unit_test(test_iso8601_and_hex),
        cmocka_unit_test(test_json_scan),
        cmocka_unit_test(test_read_file),    cmocka_unit_test(test_ct_equal),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
