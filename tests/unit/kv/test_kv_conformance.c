/*
 * test_kv_conformance.c - the one suite every store backend passes.
 *
 * Runs every case against memory: and lmdb:, each with every capability
 * mask (none, list, cas, list+cas).  Cases for a capability the store lacks
 * check that the call is refused with FT_UNSUPPORTED and a message.  More
 * stores (a Redis or PostgreSQL started by an integration test) are added
 * with FT_TEST_STORE_URLS="url1 url2 ..."; each such URL gets the same
 * masks appended.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fedtrace/kv.h"
#include "ft_servers.h"
#include "ft_tmp.h"

static int64_t fake_now = 1700000000000;
static int64_t fake_clock(void)
{
    return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

typedef struct fixture {
    char url[512];
    ft_kv *kv;
    ft_arena *arena;
    unsigned caps;
} fixture;

#define K(...)                                                               \
    ((ft_kv_key){(const ft_str[]){__VA_ARGS__},                              \
                 sizeof((const ft_str[]){__VA_ARGS__}) / sizeof(ft_str)})
#define S(lit) FT_STR_LIT(lit)

static char *urls[64];
static size_t n_urls;
static char *tmpdirs[8];
static size_t n_tmpdirs;
static unsigned store_seq;

/* Each test gets a fresh, empty store: a new memory name, or a new lmdb
 * directory, or (for external URLs) whatever is there after deleting
 * every key of the previous test. */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    const char *base = *state;
    char fresh[512];
    const char *q = strchr(base, '?');
    size_t head = q ? (size_t)(q - base) : strlen(base);
    if (strncmp(base, "memory:", 7) == 0) {
        snprintf(fresh, sizeof fresh, "memory:conf%u%s", ++store_seq,
                 q ? q : "");
    } else if (strncmp(base, "lmdb:", 5) == 0) {
        snprintf(fresh, sizeof fresh, "%.*s/s%u%s", (int)head, base,
                 ++store_seq, q ? q : "");
    } else {
        snprintf(fresh, sizeof fresh, "%s", base);
        /* an external store: empty it through a handle without the mask */
        char plain[512];
        snprintf(plain, sizeof plain, "%s", base);
        char *caps = strstr(plain, "caps=");
        if (caps != NULL) {
            char *end = strchr(caps, '&');
            if (end != NULL)
                memmove(caps, end + 1, strlen(end + 1) + 1);
            else
                caps[-1] = '\0'; /* drop the '?' or '&' before it */
        }
        ft_kv *c;
        ft_err e0 = {0};
        if (ft_kv_open(plain, &c, &e0) != FT_OK)
            fail_msg("open %s: %s", plain, e0.msg);
        ft_arena *a = ft_arena_create(0);
        ft_kv_entry *ents;
        size_t ne;
        ft_kv_key all = {NULL, 0};
        if (ft_kv_list(c, all, NULL, a, &ents, &ne, &e0) != FT_OK)
            fail_msg("list %s: %s", plain, e0.msg);
        for (size_t i = 0; i < ne; i++)
            if (ft_kv_delete(c, ents[i].key, &e0) != FT_OK)
                fail_msg("delete: %s", e0.msg);
        ft_arena_destroy(a);
        ft_kv_close(c);
    }
    snprintf(f->url, sizeof f->url, "%s", fresh);
    ft_err err = {0};
    ft_code rc = ft_kv_open(f->url, &f->kv, &err);
    if (rc != FT_OK)
        fail_msg("open %s: %s", f->url, err.msg);
    f->arena = ft_arena_create(0);
    f->caps = ft_kv_caps(f->kv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ft_kv_close(f->kv);
    ft_arena_destroy(f->arena);
    free(f);
    return 0;
}

static void expect_kv(fixture *f, ft_kv_key k, const char *want,
                         size_t want_len)
{
    ft_str v;
    ft_err err = {0};
    ft_code rc = ft_kv_get(f->kv, k, f->arena, &v, &err);
    if (want == NULL) {
        assert_int_equal(rc, FT_NOTFOUND);
        return;
    }
    if (rc != FT_OK)
        fail_msg("%s: get: %s (%s)", f->url, ft_code_name(rc), err.msg);
    assert_int_equal(v.len, want_len);
    assert_memory_equal(v.ptr, want, want_len);
}

static void test_get_set_delete(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    expect_kv(f, K(S("a"), S("b")), NULL, 0);
    assert_int_equal(ft_kv_set(f->kv, K(S("a"), S("b")), S("one"), 0, &err), FT_OK);
    expect_kv(f, K(S("a"), S("b")), "one", 3);
    /* a tuple is not its concatenation */
    expect_kv(f, K(S("ab")), NULL, 0);
    expect_kv(f, K(S("a")), NULL, 0);
    assert_int_equal(ft_kv_set(f->kv, K(S("a"), S("b")), S("two!"), 0, &err), FT_OK);
    expect_kv(f, K(S("a"), S("b")), "two!", 4);
    assert_int_equal(ft_kv_delete(f->kv, K(S("a"), S("b")), &err), FT_OK);
    expect_kv(f, K(S("a"), S("b")), NULL, 0);
    /* deleting what is absent is fine */
    assert_int_equal(ft_kv_delete(f->kv, K(S("a"), S("b")), &err), FT_OK);
}

static void test_binary_keys_and_values(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    ft_str zero = {"x\0y", 3}, ff = {"\xff\x00\x01", 3}, empty = {"", 0};
    ft_str val = {"\0\xff\0", 3};
    assert_int_equal(ft_kv_set(f->kv, K(zero, empty), val, 0, &err), FT_OK);
    assert_int_equal(ft_kv_set(f->kv, K(ff), S("ff"), 0, &err), FT_OK);
    assert_int_equal(ft_kv_set(f->kv, K(empty), S(""), 0, &err), FT_OK);
    expect_kv(f, K(zero, empty), "\0\xff\0", 3);
    expect_kv(f, K(ff), "ff", 2);
    expect_kv(f, K(empty), "", 0);
    expect_kv(f, K(zero), NULL, 0);
    expect_kv(f, K(S("x")), NULL, 0);
}

static void test_bad_keys(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    ft_kv_key none = {NULL, 0};
    assert_int_equal(ft_kv_set(f->kv, none, S("v"), 0, &err), FT_INVAL);
    assert_true(strlen(err.msg) > 0);
    ft_str many[FT_KV_MAX_PARTS + 1];
    for (size_t i = 0; i < FT_KV_MAX_PARTS + 1; i++)
        many[i] = S("p");
    ft_kv_key too_long = {many, FT_KV_MAX_PARTS + 1};
    assert_int_equal(ft_kv_set(f->kv, too_long, S("v"), 0, &err), FT_INVAL);
    /* a batch with one bad op applies nothing */
    ft_kv_op ops[2] = {{FT_KV_SET, K(S("ok")), S("v"), 0, false},
                       {FT_KV_SET, none, S("v"), 0, false}};
    assert_int_equal(ft_kv_batch(f->kv, ops, 2, &err), FT_INVAL);
    expect_kv(f, K(S("ok")), NULL, 0);
}

static void test_batch(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    assert_int_equal(ft_kv_set(f->kv, K(S("t"), S("gone")), S("x"), 0, &err), FT_OK);
    ft_kv_op ops[] = {
        {FT_KV_SET, K(S("t"), S("1")), S("one"), 0, false},
        {FT_KV_SET, K(S("t"), S("2")), S("two"), 0, false},
        {FT_KV_DELETE, K(S("t"), S("gone")), {NULL, 0}, 0, false},
        {FT_KV_SET, K(S("t"), S("1")), S("uno"), 0, false}, /* later op wins */
    };
    assert_int_equal(ft_kv_batch(f->kv, ops, 4, &err), FT_OK);
    expect_kv(f, K(S("t"), S("1")), "uno", 3);
    expect_kv(f, K(S("t"), S("2")), "two", 3);
    expect_kv(f, K(S("t"), S("gone")), NULL, 0);
    assert_int_equal(ft_kv_batch(f->kv, ops, 0, &err), FT_OK);
}

static void test_large_value(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    size_t n = 3u << 20;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 31 + 7);
    assert_int_equal(ft_kv_set(f->kv, K(S("big")), (ft_str){big, n}, 0, &err), FT_OK);
    expect_kv(f, K(S("big")), big, n);
    free(big);
}

/*
 * Stores that expire on their own server's clock (Redis, PostgreSQL) cannot
 * follow the fake clock: for them the TTL cases use short real TTLs and
 * real waits, and check on either side of the expiry with a margin instead
 * of to the millisecond.
 */
static bool server_clock(const fixture *f)
{
    return strncmp(f->url, "memory:", 7) != 0 && strncmp(f->url, "lmdb:", 5) != 0;
}

/* TTL to write: the fake-clock value, or its real-time stand-in. */
static int64_t ttl_for(const fixture *f, int64_t fake_ms)
{
    if (!server_clock(f))
        return fake_ms;
    return fake_ms >= 100000 ? 2500 : fake_ms >= 1000 ? 600 : 150;
}

/* Lets ms of (fake or, scaled, real) time pass. */
static void pass_time(const fixture *f, int64_t fake_ms)
{
    if (!server_clock(f)) {
        fake_now += fake_ms;
        return;
    }
    /* just before an expiry: no wait; at or past it: past it with margin */
    int64_t real = fake_ms >= 100000 ? 2600 : fake_ms >= 50 ? 700 : 0;
    if (real > 0)
        usleep((useconds_t)real * 1000);
}

/* Values that compress well (what LMDB stores as zstd frames) and values
 * at the threshold come back byte for byte from get, list and cas, with
 * their TTLs. */
static void test_compressible_values(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    size_t sizes[] = {255, 256, 511, 512, 513, 4096, 200000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        char *v = malloc(n);
        for (size_t j = 0; j < n; j++)
            v[j] = "{\"key\":\"value\",}"[j % 16];
        char name[32];
        snprintf(name, sizeof name, "z%zu", n);
        assert_int_equal(ft_kv_set(f->kv, K(S("zc"), S(name)), (ft_str){v, n}, ttl_for(f, 100000), &err),
                         FT_OK);
        expect_kv(f, K(S("zc"), S(name)), v, n);
        /* cas against the stored (compressed) value, then its replacement */
        ft_str cur = {v, n}, next = {v, n - 1};
        if (ft_kv_caps(f->kv) & FT_KV_CAP_CAS) {
            assert_int_equal(ft_kv_cas(f->kv, K(S("zc"), S(name)), &cur, &next, 0, &err), FT_OK);
            assert_int_equal(ft_kv_cas(f->kv, K(S("zc"), S(name)), &cur, &next, 0, &err),
                             FT_CONFLICT);
        } else {
            assert_int_equal(ft_kv_set(f->kv, K(S("zc"), S(name)), next, 0, &err), FT_OK);
        }
        expect_kv(f, K(S("zc"), S(name)), v, n - 1);
        free(v);
    }
    ft_kv_entry *e;
    size_t ne;
    ft_arena *a = ft_arena_create(0);
    ft_kv_list_opts lo = {0};
    if (ft_kv_caps(f->kv) & FT_KV_CAP_LIST) {
        assert_int_equal(ft_kv_list(f->kv, K(S("zc")), &lo, a, &e, &ne, &err), FT_OK);
        assert_int_equal(ne, sizeof sizes / sizeof sizes[0]);
        for (size_t i = 0; i < ne; i++) {
            size_t n = strtoull(ft_arena_strndup(a, e[i].key.parts[1].ptr + 1, e[i].key.parts[1].len - 1), NULL, 10);
            assert_int_equal(e[i].value.len, n - 1);
            for (size_t j = 0; j < n - 1; j++)
                if (e[i].value.ptr[j] != "{\"key\":\"value\",}"[j % 16])
                    fail_msg("listed value %zu differs at %zu", n, j);
        }
    }
    ft_arena_destroy(a);
}

/* Ops marked compressible (Redis keeps them as zstd frames) and a value
 * that itself starts with the frame magic come back byte for byte from
 * get, get_many, list and list_many. */
static void test_compressible_ops(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    enum { N = 6 };
    static const char magic[] = "\x28\xb5\x2f\xfd not a frame";
    char *json = malloc(4096), *noise = malloc(700), *framey = malloc(900);
    assert_true(json && noise && framey);
    static const char unit[] = "[{\"name\":\"span\",\"kind\":2},";
    for (size_t j = 0; j < 4096; j++)
        json[j] = unit[j % (sizeof unit - 1)];
    uint32_t x = 2463534242u;
    for (size_t j = 0; j < 700; j++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        noise[j] = (char)x;
    }
    memset(framey, 'f', 900);
    memcpy(framey, "\x28\xb5\x2f\xfd", 4);
    const ft_str vals[N] = {{json, 4096}, {noise, 700}, {framey, 900},
                            {magic, sizeof magic - 1}, S("small value"), S("")};
    const bool comp[N] = {true, true, false, false, true, true};
    char names[N][4];
    ft_kv_op ops[N];
    ft_kv_key keys[N];
    ft_str parts[N][2];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        parts[i][0] = S("cops");
        parts[i][1] = ft_str_c(names[i]);
        keys[i] = (ft_kv_key){parts[i], 2};
        ops[i] = (ft_kv_op){FT_KV_SET, keys[i], vals[i], ttl_for(f, 100000), comp[i]};
    }
    assert_int_equal(ft_kv_batch(f->kv, ops, N, &err), FT_OK);
    for (int i = 0; i < N; i++)
        expect_kv(f, keys[i], vals[i].ptr, vals[i].len);
    ft_str got[N];
    ft_code found[N];
    assert_int_equal(ft_kv_get_many(f->kv, keys, N, f->arena, got, found, &err), FT_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(found[i], FT_OK);
        assert_int_equal(got[i].len, vals[i].len);
        if (vals[i].len)
            assert_memory_equal(got[i].ptr, vals[i].ptr, vals[i].len);
    }
    if (f->caps & FT_KV_CAP_LIST) {
        ft_kv_entry *e, *outs[1];
        size_t ne, counts[1];
        ft_kv_key pre = K(S("cops"));
        assert_int_equal(ft_kv_list(f->kv, pre, NULL, f->arena, &e, &ne, &err), FT_OK);
        assert_int_equal(ft_kv_list_many(f->kv, &pre, 1, f->arena, outs, counts, &err), FT_OK);
        assert_int_equal(ne, N);
        assert_int_equal(counts[0], N);
        for (size_t i = 0; i < ne; i++) {
            int at = e[i].key.parts[1].ptr[1] - '0';
            assert_int_equal(e[i].value.len, vals[at].len);
            assert_int_equal(outs[0][i].value.len, vals[at].len);
            if (vals[at].len) {
                assert_memory_equal(e[i].value.ptr, vals[at].ptr, vals[at].len);
                assert_memory_equal(outs[0][i].value.ptr, vals[at].ptr, vals[at].len);
            }
        }
    }
    /* a swap of a value with the magic: Redis and PostgreSQL refuse it
     * (the stored bytes would not compare); the others swap it as any */
    if (f->caps & FT_KV_CAP_CAS) {
        ft_str v = vals[3];
        ft_code want = strncmp(f->url, "redis:", 6) == 0 || strncmp(f->url, "postgres", 8) == 0
                           ? FT_INVAL
                           : FT_OK;
        assert_int_equal(ft_kv_cas(f->kv, K(S("cops"), S("m")), NULL, &v, 0, &err), want);
    }
    free(json);
    free(noise);
    free(framey);
}

static void test_ttl(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    fake_now = 1700000000000;
    assert_int_equal(ft_kv_set(f->kv, K(S("ttl"), S("short")), S("s"), ttl_for(f, 1000), &err), FT_OK);
    assert_int_equal(ft_kv_set(f->kv, K(S("ttl"), S("long")), S("l"), ttl_for(f, 100000), &err), FT_OK);
    assert_int_equal(ft_kv_set(f->kv, K(S("ttl"), S("none")), S("n"), 0, &err), FT_OK);
    /* overwriting without TTL removes the expiry */
    assert_int_equal(ft_kv_set(f->kv, K(S("ttl"), S("cleared")), S("c"), ttl_for(f, 1000), &err), FT_OK);
    assert_int_equal(ft_kv_set(f->kv, K(S("ttl"), S("cleared")), S("c"), 0, &err), FT_OK);
    expect_kv(f, K(S("ttl"), S("short")), "s", 1);
    if (!server_clock(f)) {
        pass_time(f, 999);
        expect_kv(f, K(S("ttl"), S("short")), "s", 1);
        pass_time(f, 1);
    } else {
        pass_time(f, 1000);
    }
    expect_kv(f, K(S("ttl"), S("short")), NULL, 0);
    expect_kv(f, K(S("ttl"), S("long")), "l", 1);
    expect_kv(f, K(S("ttl"), S("cleared")), "c", 1);
    if (f->caps & FT_KV_CAP_LIST) {
        ft_kv_entry *e;
        size_t n;
        assert_int_equal(ft_kv_list(f->kv, K(S("ttl")), NULL, f->arena, &e, &n, &err), FT_OK);
        assert_int_equal(n, 3); /* cleared, long, none */
    }
    if (f->caps & FT_KV_CAP_CAS) {
        /* an expired key counts as absent for CAS */
        assert_int_equal(ft_kv_cas(f->kv, K(S("ttl"), S("short")), NULL, &S("new"), 0, &err), FT_OK);
        expect_kv(f, K(S("ttl"), S("short")), "new", 3);
    }
    size_t removed = 0;
    assert_int_equal(ft_kv_sweep(f->kv, 0, &removed, &err), FT_OK);
    expect_kv(f, K(S("ttl"), S("long")), "l", 1);
    pass_time(f, 100000);
    expect_kv(f, K(S("ttl"), S("long")), NULL, 0);
    assert_int_equal(ft_kv_sweep(f->kv, 0, &removed, &err), FT_OK);
    expect_kv(f, K(S("ttl"), S("none")), "n", 1);
    ft_kv_stats st;
    assert_int_equal(ft_kv_stats_get(f->kv, &st, &err), FT_OK);
    if (strncmp(f->url, "memory:", 7) == 0 || strncmp(f->url, "lmdb:", 5) == 0) {
        /* the swept entries are really gone from the store */
        assert_int_equal(st.entries, (f->caps & FT_KV_CAP_CAS) ? 3 : 2);
        assert_int_equal(st.expiring, 0);
    }
    fake_now = 1700000000000;
}

static void list_all(fixture *f, ft_kv_key prefix, const ft_kv_list_opts *o,
                     ft_kv_entry **e, size_t *n)
{
    ft_err err = {0};
    ft_code rc = ft_kv_list(f->kv, prefix, o, f->arena, e, n, &err);
    if (rc != FT_OK)
        fail_msg("%s: list: %s", f->url, err.msg);
}

static void assert_key(ft_kv_key k, size_t n, const char *const *parts)
{
    assert_int_equal(k.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(k.parts[i].len, strlen(parts[i]));
        assert_memory_equal(k.parts[i].ptr, parts[i], k.parts[i].len);
    }
}

static void test_list(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    ft_kv_entry *e = NULL;
    size_t n = 0;
    if (!(f->caps & FT_KV_CAP_LIST)) {
        assert_int_equal(ft_kv_list(f->kv, K(S("p")), NULL, f->arena, &e, &n, &err), FT_UNSUPPORTED);
        assert_non_null(strstr(err.msg, "list"));
        return;
    }
    /* inserted out of order */
    const char *keys[][3] = {
        {"p", "b", NULL}, {"p", "a", "2"}, {"p", NULL, NULL}, {"p", "a", NULL},
        {"p", "a", "10"}, {"pa", NULL, NULL}, {"o", "z", NULL}, {"p", "c", NULL},
        {"q", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        ft_str parts[3];
        size_t np = 0;
        while (np < 3 && keys[i][np] != NULL) {
            parts[np] = ft_str_c(keys[i][np]);
            np++;
        }
        char val[8];
        snprintf(val, sizeof val, "v%zu", i);
        assert_int_equal(ft_kv_set(f->kv, (ft_kv_key){parts, np}, ft_str_c(val), 0, &err), FT_OK);
    }
    list_all(f, K(S("p")), NULL, &e, &n);
    assert_int_equal(n, 6);
    assert_key(e[0].key, 1, (const char *[]){"p"});
    assert_key(e[1].key, 2, (const char *[]){"p", "a"});
    assert_key(e[2].key, 3, (const char *[]){"p", "a", "10"});
    assert_key(e[3].key, 3, (const char *[]){"p", "a", "2"});
    assert_key(e[4].key, 2, (const char *[]){"p", "b"});
    assert_key(e[5].key, 2, (const char *[]){"p", "c"});
    assert_int_equal(e[4].value.len, 2);
    assert_memory_equal(e[4].value.ptr, "v0", 2);

    ft_kv_list_opts rev = {true, NULL, 0};
    list_all(f, K(S("p")), &rev, &e, &n);
    assert_int_equal(n, 6);
    assert_key(e[0].key, 2, (const char *[]){"p", "c"});
    assert_key(e[5].key, 1, (const char *[]){"p"});

    ft_kv_list_opts lim = {false, NULL, 2};
    list_all(f, K(S("p"), S("a")), &lim, &e, &n);
    assert_int_equal(n, 2);
    assert_key(e[1].key, 3, (const char *[]){"p", "a", "10"});

    /* cursor: forward after ["p","a","10"] */
    ft_kv_key after = K(S("p"), S("a"), S("10"));
    ft_kv_list_opts cur = {false, &after, 0};
    list_all(f, K(S("p")), &cur, &e, &n);
    assert_int_equal(n, 3);
    assert_key(e[0].key, 3, (const char *[]){"p", "a", "2"});
    /* reverse from ["p","b"] */
    ft_kv_key rafter = K(S("p"), S("b"));
    ft_kv_list_opts rcur = {true, &rafter, 2};
    list_all(f, K(S("p")), &rcur, &e, &n);
    assert_int_equal(n, 2);
    assert_key(e[0].key, 3, (const char *[]){"p", "a", "2"});
    assert_key(e[1].key, 3, (const char *[]){"p", "a", "10"});
    /* a cursor that is not itself a key, before and past the range */
    ft_kv_key mid = K(S("p"), S("aa"));
    ft_kv_list_opts mcur = {true, &mid, 0};
    list_all(f, K(S("p")), &mcur, &e, &n);
    assert_int_equal(n, 4);
    ft_kv_key past = K(S("zzz"));
    ft_kv_list_opts pcur = {true, &past, 1};
    list_all(f, K(S("p")), &pcur, &e, &n);
    assert_int_equal(n, 1);
    assert_key(e[0].key, 2, (const char *[]){"p", "c"});
    ft_kv_list_opts fpast = {false, &past, 0};
    list_all(f, K(S("p")), &fpast, &e, &n);
    assert_int_equal(n, 0);

    /* the empty prefix lists the whole store, both ways */
    ft_kv_key all = {NULL, 0};
    list_all(f, all, NULL, &e, &n);
    assert_int_equal(n, 9);
    assert_key(e[0].key, 2, (const char *[]){"o", "z"});
    assert_key(e[8].key, 1, (const char *[]){"q"});
    list_all(f, all, &rev, &e, &n);
    assert_int_equal(n, 9);
    assert_key(e[0].key, 1, (const char *[]){"q"});
    /* nothing under an absent prefix */
    list_all(f, K(S("nope")), &rev, &e, &n);
    assert_int_equal(n, 0);
}

/* Keys with bytes 0x00 and 0xFF sort and match as tuples. */
static void test_list_binary(void **state)
{
    fixture *f = *state;
    if (!(f->caps & FT_KV_CAP_LIST))
        return;
    ft_err err = {0};
    ft_str a0 = {"a\0", 2}, aff = {"a\xff", 2}, a = S("a");
    assert_int_equal(ft_kv_set(f->kv, K(a0), S("1"), 0, &err), FT_OK);
    assert_int_equal(ft_kv_set(f->kv, K(aff), S("2"), 0, &err), FT_OK);
    assert_int_equal(ft_kv_set(f->kv, K(a, S("x")), S("3"), 0, &err), FT_OK);
    assert_int_equal(ft_kv_set(f->kv, K(a), S("4"), 0, &err), FT_OK);
    ft_kv_entry *e;
    size_t n;
    list_all(f, K(a), NULL, &e, &n);
    assert_int_equal(n, 2); /* ["a"], ["a","x"]; not "a\0" nor "a\xff" */
    list_all(f, K(a0), NULL, &e, &n);
    assert_int_equal(n, 1);
    assert_true(ft_str_eq(e[0].key.parts[0], a0));
    ft_kv_list_opts rev = {true, NULL, 0};
    ft_kv_key all = {NULL, 0};
    list_all(f, all, &rev, &e, &n);
    assert_int_equal(n, 4);
    assert_true(ft_str_eq(e[0].key.parts[0], aff));
    assert_true(ft_str_eq(e[1].key.parts[0], a0));
    assert_int_equal(e[2].key.n, 2);
    assert_int_equal(e[3].key.n, 1);
}

/* Paging with limit + cursor visits exactly what one scan visits. */
static void test_list_paging(void **state)
{
    fixture *f = *state;
    if (!(f->caps & FT_KV_CAP_LIST))
        return;
    ft_err err = {0};
    enum { N = 257 };
    ft_kv_op ops[N];
    char names[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "%05d", (i * 7919) % N);
        ops[i] = (ft_kv_op){FT_KV_SET, {NULL, 2}, ft_str_c(names[i]), 0, false};
        ft_str *parts = ft_arena_alloc(f->arena, 2 * sizeof *parts);
        parts[0] = S("pg");
        parts[1] = ft_str_c(names[i]);
        ops[i].key.parts = parts;
    }
    assert_int_equal(ft_kv_batch(f->kv, ops, N, &err), FT_OK);
    for (int reverse = 0; reverse < 2; reverse++) {
        ft_kv_key cursor = {NULL, 0};
        int seen = 0;
        char last[8] = "";
        for (;;) {
            ft_kv_list_opts o = {reverse, seen ? &cursor : NULL, 10};
            ft_kv_entry *e;
            size_t n;
            list_all(f, K(S("pg")), &o, &e, &n);
            if (n == 0)
                break;
            for (size_t i = 0; i < n; i++) {
                char cur[8];
                snprintf(cur, sizeof cur, "%.*s", (int)e[i].key.parts[1].len,
                         e[i].key.parts[1].ptr);
                if (seen)
                    assert_true(reverse ? strcmp(cur, last) < 0
                                        : strcmp(cur, last) > 0);
                snprintf(last, sizeof last, "%s", cur);
                seen++;
            }
            cursor = e[n - 1].key;
        }
        assert_int_equal(seen, N);
    }
}

static void test_cas(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    ft_kv_key k = K(S("cas"), S("k"));
    if (!(f->caps & FT_KV_CAP_CAS)) {
        assert_int_equal(ft_kv_cas(f->kv, k, NULL, &S("v"), 0, &err), FT_UNSUPPORTED);
        assert_non_null(strstr(err.msg, "compare-and-swap"));
        return;
    }
    assert_int_equal(ft_kv_cas(f->kv, k, &S("x"), &S("v1"), 0, &err), FT_CONFLICT);
    expect_kv(f, k, NULL, 0);
    assert_int_equal(ft_kv_cas(f->kv, k, NULL, &S("v1"), 0, &err), FT_OK);
    assert_int_equal(ft_kv_cas(f->kv, k, NULL, &S("v2"), 0, &err), FT_CONFLICT);
    assert_int_equal(ft_kv_cas(f->kv, k, &S("v"), &S("v2"), 0, &err), FT_CONFLICT);
    assert_int_equal(ft_kv_cas(f->kv, k, &S("v1x"), &S("v2"), 0, &err), FT_CONFLICT);
    expect_kv(f, k, "v1", 2);
    assert_int_equal(ft_kv_cas(f->kv, k, &S("v1"), &S("v2"), 0, &err), FT_OK);
    expect_kv(f, k, "v2", 2);
    assert_int_equal(ft_kv_cas(f->kv, k, &S("v2"), NULL, 0, &err), FT_OK);
    expect_kv(f, k, NULL, 0);
    /* with TTL */
    fake_now = 1700000000000;
    assert_int_equal(ft_kv_cas(f->kv, k, NULL, &S("t"), ttl_for(f, 50), &err), FT_OK);
    pass_time(f, 50);
    expect_kv(f, k, NULL, 0);
    assert_int_equal(ft_kv_cas(f->kv, k, &S("t"), &S("u"), 0, &err), FT_CONFLICT);
    fake_now = 1700000000000;
}

/* Several gets in one call: present, absent, expired and large values
 * each answered in their place. */
static void test_get_many(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    char big[3000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = "value "[i % 6];
    assert_int_equal(ft_kv_set(f->kv, K(S("gm"), S("a")), S("one"), 0, &err), FT_OK);
    assert_int_equal(ft_kv_set(f->kv, K(S("gm"), S("b")), (ft_str){big, sizeof big}, 0, &err),
                     FT_OK);
    assert_int_equal(ft_kv_set(f->kv, K(S("gm"), S("e")), S(""), 0, &err), FT_OK);
    fake_now = 1700000000000;
    assert_int_equal(ft_kv_set(f->kv, K(S("gm"), S("x")), S("soon gone"), ttl_for(f, 50), &err),
                     FT_OK);
    pass_time(f, 50);
    ft_kv_key keys[] = {K(S("gm"), S("b")), K(S("gm"), S("missing")), K(S("gm"), S("a")),
                        K(S("gm"), S("x")), K(S("gm"), S("e")), K(S("gm"), S("a"))};
    ft_str v[6];
    ft_code found[6];
    assert_int_equal(ft_kv_get_many(f->kv, keys, 6, f->arena, v, found, &err), FT_OK);
    static const ft_code want[] = {FT_OK, FT_NOTFOUND, FT_OK, FT_NOTFOUND, FT_OK, FT_OK};
    for (int i = 0; i < 6; i++)
        if (found[i] != want[i])
            fail_msg("%s: key %d: %s, want %s", f->url, i, ft_code_name(found[i]),
                     ft_code_name(want[i]));
    assert_int_equal(v[0].len, sizeof big);
    assert_memory_equal(v[0].ptr, big, sizeof big);
    assert_int_equal(v[2].len, 3);
    assert_memory_equal(v[2].ptr, "one", 3);
    assert_int_equal(v[4].len, 0);
    assert_int_equal(v[5].len, 3);
    assert_int_equal(ft_kv_get_many(f->kv, NULL, 0, f->arena, NULL, NULL, &err), FT_OK);
    fake_now = 1700000000000;
}

/* Several prefixes listed in one call give what listing each gives: with
 * expired entries, a prefix that holds more than one script's share (300
 * entries), an empty one, one inside another, binary parts, and more
 * prefixes than one script takes (300). */
static void test_list_many(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    ft_kv_entry *outs[300];
    size_t counts[300];
    ft_kv_key one = K(S("lm"));
    if (!(f->caps & FT_KV_CAP_LIST)) {
        assert_int_equal(ft_kv_list_many(f->kv, &one, 1, f->arena, outs, counts, &err),
                         FT_UNSUPPORTED);
        return;
    }
    for (const char *x = "abc"; *x; x++)
        assert_int_equal(ft_kv_set(f->kv, K(S("lm"), S("t1"), ((ft_str){x, 1})), S("v1"), 0, &err),
                         FT_OK);
    assert_int_equal(ft_kv_set(f->kv, K(S("lm"), S("t2"), S("only")), S(""), 0, &err), FT_OK);
    for (int i = 0; i < 300; i++) {
        char k[8], v[16];
        snprintf(k, sizeof k, "%03d", i);
        snprintf(v, sizeof v, "value %d", i);
        assert_int_equal(ft_kv_set(f->kv, K(S("lm"), S("t3"), ft_str_c(k)), ft_str_c(v), 0, &err),
                         FT_OK);
    }
    assert_int_equal(ft_kv_set(f->kv, K(S("lm"), ((ft_str){"t\0\xff", 3}), S("z")), S("bin"), 0,
                               &err),
                     FT_OK);
    fake_now = 1700000000000;
    assert_int_equal(ft_kv_set(f->kv, K(S("lm"), S("t1"), S("gone")), S("x"), ttl_for(f, 50), &err),
                     FT_OK);
    pass_time(f, 50);
    const ft_kv_key groups[] = {K(S("lm"), S("t1")), K(S("lm"), S("t3")), K(S("lm"), S("none")),
                                K(S("lm"), S("t2")), K(S("lm"), ((ft_str){"t\0\xff", 3})),
                                K(S("lm"))};
    static const size_t want[] = {3, 300, 0, 1, 1, 305};
    ft_kv_key prefixes[300];
    for (size_t i = 0; i < 300; i++)
        prefixes[i] = groups[i % 6];
    for (size_t n = 6; n <= 300; n += 294) {
        assert_int_equal(ft_kv_list_many(f->kv, prefixes, n, f->arena, outs, counts, &err), FT_OK);
        for (size_t i = 0; i < n; i++) {
            ft_kv_entry *e;
            size_t m;
            list_all(f, prefixes[i], NULL, &e, &m);
            if (counts[i] != m || m != want[i % 6])
                fail_msg("%s: prefix %zu: %zu entries, listing gives %zu, want %zu", f->url, i,
                         counts[i], m, want[i % 6]);
            for (size_t k = 0; k < m; k++) {
                assert_int_equal(outs[i][k].key.n, e[k].key.n);
                for (size_t j = 0; j < e[k].key.n; j++)
                    assert_true(ft_str_eq(outs[i][k].key.parts[j], e[k].key.parts[j]));
                assert_true(ft_str_eq(outs[i][k].value, e[k].value));
            }
        }
    }
    assert_int_equal(ft_kv_list_many(f->kv, NULL, 0, f->arena, NULL, NULL, &err), FT_OK);
    fake_now = 1700000000000;
}

/* Several swaps in one call: each decided on its own, in order, and a
 * large compressible value swapped and compared like any other. */
static void test_cas_many(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    ft_kv_key a = K(S("cm"), S("a")), b = K(S("cm"), S("b")), c = K(S("cm"), S("c"));
    if (!(f->caps & FT_KV_CAP_CAS)) {
        ft_kv_cas_op op = {a, NULL, &S("v"), 0, FT_OK};
        assert_int_equal(ft_kv_cas_many(f->kv, &op, 1, &err), FT_UNSUPPORTED);
        return;
    }
    assert_int_equal(ft_kv_set(f->kv, b, S("old"), 0, &err), FT_OK);
    char big[4000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = "summary "[i % 8];
    ft_str bigs = {big, sizeof big};
    ft_kv_cas_op ops[] = {
        {a, NULL, &S("a1"), 0, FT_AGAIN},       /* absent: swapped */
        {b, &S("nope"), &S("b1"), 0, FT_AGAIN}, /* wrong value: refused */
        {a, &S("a1"), &bigs, 0, FT_AGAIN},      /* sees the first op's write */
        {c, NULL, &S("c1"), 0, FT_AGAIN},
        {c, &S("c1"), NULL, 0, FT_AGAIN},       /* delete */
        {b, &S("old"), &S("b2"), 0, FT_AGAIN},
    };
    assert_int_equal(ft_kv_cas_many(f->kv, ops, 6, &err), FT_OK);
    static const ft_code want[] = {FT_OK, FT_CONFLICT, FT_OK, FT_OK, FT_OK, FT_OK};
    for (size_t i = 0; i < 6; i++)
        if (ops[i].result != want[i])
            fail_msg("%s: op %zu: %s, want %s", f->url, i, ft_code_name(ops[i].result),
                     ft_code_name(want[i]));
    expect_kv(f, a, big, sizeof big);
    expect_kv(f, b, "b2", 2);
    expect_kv(f, c, NULL, 0);
    ft_kv_cas_op again = {a, &bigs, &S("a2"), 0, FT_AGAIN};
    assert_int_equal(ft_kv_cas_many(f->kv, &again, 1, &err), FT_OK);
    assert_int_equal(again.result, FT_OK);
    expect_kv(f, a, "a2", 2);
    assert_int_equal(ft_kv_cas_many(f->kv, NULL, 0, &err), FT_OK);
}

typedef struct counter_arg {
    const char *url;
    int rounds;
    int conflicts;
} counter_arg;

/* Each thread increments a counter through CAS on its own handle. */
static void *counter_thread(void *p)
{
    counter_arg *a = p;
    ft_kv *kv;
    ft_err err = {0};
    if (ft_kv_open(a->url, &kv, &err) != FT_OK)
        return "open failed";
    ft_arena *ar = ft_arena_create(0);
    ft_kv_key k = K(S("ctr"));
    for (int i = 0; i < a->rounds; i++) {
        for (;;) {
            ft_arena_reset(ar);
            ft_str cur;
            ft_code rc = ft_kv_get(kv, k, ar, &cur, &err);
            long v = 0;
            if (rc == FT_OK)
                v = strtol(ft_arena_strndup(ar, cur.ptr, cur.len), NULL, 10);
            else if (rc != FT_NOTFOUND)
                return "get failed";
            char buf[32];
            snprintf(buf, sizeof buf, "%ld", v + 1);
            rc = ft_kv_cas(kv, k, rc == FT_OK ? &cur : NULL, &(ft_str){buf, strlen(buf)}, 0, &err);
            if (rc == FT_OK)
                break;
            if (rc != FT_CONFLICT)
                return "cas failed";
            a->conflicts++;
        }
    }
    ft_arena_destroy(ar);
    ft_kv_close(kv);
    return NULL;
}

static void test_cas_concurrent(void **state)
{
    fixture *f = *state;
    if (!(f->caps & FT_KV_CAP_CAS))
        return;
    enum { T = 8, R = 100 };
    pthread_t th[T];
    counter_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (counter_arg){f->url, R, 0};
        pthread_create(&th[i], NULL, counter_thread, &args[i]);
    }
    for (int i = 0; i < T; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        if (ret != NULL)
            fail_msg("thread %d: %s", i, (char *)ret);
    }
    char want[16];
    snprintf(want, sizeof want, "%d", T * R);
    expect_kv(f, K(S("ctr")), want, strlen(want));
}

typedef struct batcher_arg {
    const char *url;
    int id;
    char failure[800];
} batcher_arg;

enum { BATCH_KEYS = 16, BATCH_ROUNDS = 60, BATCHERS = 4 };

/* Each thread writes the same keys in one batch, half the threads in
 * ascending and half in descending order. */
static void *batcher_thread(void *p)
{
    batcher_arg *a = p;
    ft_kv *kv;
    ft_err err = {0};
    if (ft_kv_open(a->url, &kv, &err) != FT_OK)
        return "open failed";
    void *ret = NULL;
    for (int r = 0; r < BATCH_ROUNDS && ret == NULL; r++) {
        char names[BATCH_KEYS][8], val[32];
        ft_str parts[BATCH_KEYS];
        ft_kv_op ops[BATCH_KEYS];
        int len = snprintf(val, sizeof val, "t%d-r%d", a->id, r);
        for (int i = 0; i < BATCH_KEYS; i++) {
            int k = a->id % 2 ? BATCH_KEYS - 1 - i : i;
            int nl = snprintf(names[i], sizeof names[i], "bk%02d", k);
            parts[i] = (ft_str){names[i], (size_t)nl};
            ops[i] = (ft_kv_op){FT_KV_SET, {&parts[i], 1}, {val, (size_t)len}, 0, false};
        }
        ft_code rc = ft_kv_batch(kv, ops, BATCH_KEYS, &err);
        if (rc != FT_OK) {
            snprintf(a->failure, sizeof a->failure, "batch: %s: %s", ft_code_name(rc),
                     err.msg);
            ret = a->failure;
        }
    }
    ft_kv_close(kv);
    return ret;
}

/* Batches over the same keys from several handles at once all succeed
 * (no deadlock between them) and each is all or nothing: afterwards every
 * key holds the value of one and the same batch. */
static void test_batch_concurrent(void **state)
{
    fixture *f = *state;
    pthread_t th[BATCHERS];
    batcher_arg args[BATCHERS];
    for (int i = 0; i < BATCHERS; i++) {
        args[i] = (batcher_arg){f->url, i, ""};
        pthread_create(&th[i], NULL, batcher_thread, &args[i]);
    }
    for (int i = 0; i < BATCHERS; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        if (ret != NULL)
            fail_msg("%s: thread %d: %s", f->url, i, (char *)ret);
    }
    ft_str first;
    ft_err err = {0};
    assert_int_equal(ft_kv_get(f->kv, K(S("bk00")), f->arena, &first, &err), FT_OK);
    for (int k = 1; k < BATCH_KEYS; k++) {
        char name[8];
        int nl = snprintf(name, sizeof name, "bk%02d", k);
        ft_str part = {name, (size_t)nl};
        expect_kv(f, (ft_kv_key){&part, 1}, first.ptr, first.len);
    }
}

/* Random operations applied to this store and to the memory reference
 * must leave both with the same listing. */
static void test_differential(void **state)
{
    fixture *f = *state;
    if (!(f->caps & FT_KV_CAP_LIST))
        return;
    ft_kv *ref;
    ft_err err = {0};
    assert_int_equal(ft_kv_open("memory:", &ref, &err), FT_OK);
    unsigned seed = 12345;
    for (int i = 0; i < 2000; i++) {
        seed = seed * 1103515245u + 12345u;
        char a[4], b[4], v[12];
        snprintf(a, sizeof a, "%c", 'a' + (seed >> 8) % 3);
        snprintf(b, sizeof b, "%u", (seed >> 12) % 40);
        snprintf(v, sizeof v, "%u", seed % 100000);
        ft_kv_key k = {(ft_str[]){ft_str_c(a), ft_str_c(b)}, 1 + (seed >> 20) % 2};
        ft_kv_op op = {(seed >> 24) % 4 == 0 ? FT_KV_DELETE : FT_KV_SET, k, ft_str_c(v), 0, false};
        assert_int_equal(ft_kv_batch(f->kv, &op, 1, &err), FT_OK);
        assert_int_equal(ft_kv_batch(ref, &op, 1, &err), FT_OK);
    }
    for (int reverse = 0; reverse < 2; reverse++) {
        ft_kv_list_opts o = {reverse, NULL, 0};
        ft_kv_entry *e1, *e2;
        size_t n1, n2;
        ft_kv_key all = {NULL, 0};
        list_all(f, all, &o, &e1, &n1);
        assert_int_equal(ft_kv_list(ref, all, &o, f->arena, &e2, &n2, &err), FT_OK);
        assert_int_equal(n1, n2);
        for (size_t i = 0; i < n1; i++) {
            assert_int_equal(e1[i].key.n, e2[i].key.n);
            for (size_t j = 0; j < e1[i].key.n; j++)
                assert_true(ft_str_eq(e1[i].key.parts[j], e2[i].key.parts[j]));
            assert_true(ft_str_eq(e1[i].value, e2[i].value));
        }
    }
    ft_kv_close(ref);
}

static void test_open_errors(void **state)
{
    (void)state;
    /* secrets never reach messages or logs */
    char shown[256];
    ft_kv_url_redact("redis://:s3cret@h:6379/0?prefix=x::", shown, sizeof shown);
    assert_string_equal(shown, "redis://:***@h:6379/0?prefix=x::");
    ft_kv_url_redact("postgres://u:pw@db/x?password=pw2&sslmode=require", shown, sizeof shown);
    assert_string_equal(shown, "postgres://u:***@db/x?password=***&sslmode=require");
    ft_kv_url_redact("postgres://u@db/x?password=pw2", shown, sizeof shown);
    assert_string_equal(shown, "postgres://u@db/x?password=***");
    ft_kv_url_redact("lmdb:/data/fed:trace@x", shown, sizeof shown);
    assert_string_equal(shown, "lmdb:/data/fed:trace@x");
    ft_kv *kv;
    ft_err err = {0};
    assert_int_equal(ft_kv_open("nosuch:x", &kv, &err), FT_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "nosuch"));
    assert_int_equal(ft_kv_open("no-scheme", &kv, &err), FT_INVAL);
    assert_int_equal(ft_kv_open("memory:?caps=bogus", &kv, &err), FT_INVAL);
    assert_non_null(strstr(err.msg, "bogus"));
    assert_int_equal(ft_kv_open("lmdb:", &kv, &err), FT_INVAL);
    assert_int_equal(ft_kv_open("lmdb:/proc/forbidden/x", &kv, &err), FT_IO);
    assert_non_null(strstr(err.msg, "/proc/forbidden"));
    assert_int_equal(ft_kv_open("memory:?caps=cas", &kv, &err), FT_OK);
    assert_int_equal(ft_kv_caps(kv), FT_KV_CAP_CAS);
    assert_string_equal(ft_kv_scheme(kv), "memory");
    ft_kv_close(kv);
}

typedef struct lmdb_writer {
    const char *url;
    size_t value_len; /* larger than the map: every batch fails */
    int ok, full, other;
} lmdb_writer;

static void *lmdb_writer_thread(void *p)
{
    lmdb_writer *w = p;
    ft_kv *kv;
    ft_err err = {0};
    if (ft_kv_open(w->url, &kv, &err) != FT_OK)
        return "open failed";
    char *v = calloc(1, w->value_len);
    for (int i = 0; i < 200; i++) {
        /* incompressible bytes, so that the size is what is stored */
        for (size_t k = 0; k < w->value_len; k++)
            v[k] = (char)((k * 2654435761u + (size_t)i * 40503u) >> 13);
        char name[32];
        int nl = snprintf(name, sizeof name, "w%zu-%d", w->value_len, i);
        ft_str part = {name, (size_t)nl};
        ft_kv_op op = {FT_KV_SET, {&part, 1}, {v, w->value_len}, 0, false};
        ft_code rc = ft_kv_batch(kv, &op, 1, &err);
        if (rc == FT_OK)
            w->ok++;
        else if (rc == FT_FULL)
            w->full++;
        else
            w->other++;
    }
    free(v);
    ft_kv_close(kv);
    return NULL;
}

/* LMDB commits the writes of concurrent callers together: one that cannot
 * fit fails alone, and the others in its group are committed. */
static void test_lmdb_group_commit_failure(void **state)
{
    (void)state;
    char *dir = ft_test_tmpdir("kvgroup");
    char url[600];
    snprintf(url, sizeof url, "lmdb:%s?mapsize=1M&compress=0", dir);
    lmdb_writer w[3] = {{url, 64, 0, 0, 0}, {url, 4 << 20, 0, 0, 0}, {url, 100, 0, 0, 0}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, lmdb_writer_thread, &w[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(w[0].ok, 200);
    assert_int_equal(w[2].ok, 200);
    assert_int_equal(w[1].full, 200);
    assert_int_equal(w[0].other + w[1].other + w[2].other, 0);
    ft_kv *kv;
    ft_err err = {0};
    assert_int_equal(ft_kv_open(url, &kv, &err), FT_OK);
    ft_arena *a = ft_arena_create(0);
    for (int i = 0; i < 200; i += 37) {
        char name[32];
        int nl = snprintf(name, sizeof name, "w64-%d", i);
        ft_str part = {name, (size_t)nl}, got;
        assert_int_equal(ft_kv_get(kv, (ft_kv_key){&part, 1}, a, &got, &err), FT_OK);
        assert_int_equal(got.len, 64);
    }
    ft_arena_destroy(a);
    ft_kv_close(kv);
    ft_test_rmrf(dir);
    free(dir);
}

/* Allocation failures anywhere return FT_NOMEM and leave the store as it
 * was; the suite's leak checker (ASan) sees nothing leaked. */
static void test_alloc_failures(void **state)
{
    fixture *f = *state;
    ft_err err = {0};
    for (long n = 0; n < 40; n++) {
        ft_kv_op ops[2] = {{FT_KV_SET, K(S("af"), S("1")), S("one"), 0, false},
                           {FT_KV_SET, K(S("af"), S("2")), S("two"), 0, false}};
        ft_alloc_fail_after(n);
        ft_code rc = ft_kv_batch(f->kv, ops, 2, &err);
        ft_alloc_fail_after(-1);
        if (rc == FT_OK) {
            expect_kv(f, K(S("af"), S("2")), "two", 3);
            break;
        }
        assert_int_equal(rc, FT_NOMEM);
        expect_kv(f, K(S("af"), S("1")), NULL, 0);
        expect_kv(f, K(S("af"), S("2")), NULL, 0);
    }
}

#define CASES(X)                                                             \
    X(test_get_set_delete) X(test_binary_keys_and_values) X(test_bad_keys)   \
    X(test_batch) X(test_large_value) X(test_compressible_values) X(test_ttl) \
    X(test_list)                                                             \
    X(test_compressible_ops) X(test_list_binary) X(test_list_paging) X(test_cas) X(test_cas_many) X(test_get_many) X(test_list_many)                      \
    X(test_cas_concurrent) X(test_batch_concurrent) X(test_differential) X(test_alloc_failures)

static int run_for(const char *url)
{
    char name[600];
    snprintf(name, sizeof name, "kv conformance: %s", url);
#define T(fn) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)(uintptr_t)url),
    const struct CMUnitTest tests[] = {CASES(T)};
#undef T
    return cmocka_run_group_tests_name(name, tests, NULL, NULL);
}

static void add_with_masks(const char *base)
{
    static const char *masks[] = {"", "caps=list", "caps=cas", "caps=none"};
    const char *sep = strchr(base, '?') ? "&" : "?";
    for (size_t i = 0; i < 4; i++) {
        size_t n = strlen(base) + 16;
        urls[n_urls] = malloc(n);
        snprintf(urls[n_urls++], n, "%s%s%s", base, *masks[i] ? sep : "", masks[i]);
    }
}

int main(void)
{
    ft_clock_set(fake_clock);
    add_with_masks("memory:");
    char *dir = ft_test_tmpdir("kvconf");
    tmpdirs[n_tmpdirs++] = dir;
    char lm[600];
    snprintf(lm, sizeof lm, "lmdb:%s", dir);
    add_with_masks(lm);
    /* real Redis and PostgreSQL servers, started for this run */
    ft_test_server redis = {0}, pg = {0};
    if (ft_test_redis_start(&redis) == 0)
        add_with_masks(redis.url);
    if (ft_test_pg_start(&pg) == 0)
        add_with_masks(pg.url);
    const char *extra = getenv("FT_TEST_STORE_URLS");
    if (extra != NULL) {
        char *copy = strdup(extra), *save = NULL;
        for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
            add_with_masks(t);
        free(copy);
    }
    int failed = 0;
    const struct CMUnitTest once[] = {cmocka_unit_test(test_open_errors),
                                      cmocka_unit_test(test_lmdb_group_commit_failure)};
    failed += cmocka_run_group_tests_name("kv open", once, NULL, NULL);
    for (size_t i = 0; i < n_urls; i++) {
        failed += run_for(urls[i]);
        free(urls[i]);
    }
    for (size_t i = 0; i < n_tmpdirs; i++) {
        ft_test_rmrf(tmpdirs[i]);
        free(tmpdirs[i]);
    }
    ft_test_server_stop(&redis);
    ft_test_server_stop(&pg);
    return failed || redis.failed || pg.failed ? 1 : 0;
}
