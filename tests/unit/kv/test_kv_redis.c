/*
 * test_kv_redis.c - what the conformance suite cannot see on Redis: the key
 * and value layout Fedify's RedisKvStore reads, the index (LIST never
 * scans; sweep keeps it in step with TTLs and with keys Fedify wrote;
 * reindex=1 rebuilds it at open), round trips per call, outages and
 * reconnects, timeouts, AUTH and SELECT.
 *
 * Runs against a real redis-server started for the run (skipped loudly
 * when it is not installed, a failure under CI=true).  Raw checks go
 * through hiredis on a connection of the test's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fedtrace/kv.h"
#include "ft_servers.h"

#define K(...)                                                               \
    ((ft_kv_key){(const ft_str[]){__VA_ARGS__},                              \
                 sizeof((const ft_str[]){__VA_ARGS__}) / sizeof(ft_str)})
#define S(lit) FT_STR_LIT(lit)

static ft_test_server server;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- raw access ---- */

static redisContext *raw_connect(int port)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    if (c == NULL || c->err)
        fail_msg("raw connect to port %d: %s", port, c ? c->errstr : "no memory");
    return c;
}

/* Runs a command given as argv (binary-safe); the caller frees the reply. */
static redisReply *raw(redisContext *c, int argc, const char **argv,
                       const size_t *lens)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (r == NULL)
        fail_msg("raw command %s: %s", argv[0], c->errstr);
    return r;
}

static redisReply *raw1(redisContext *c, const char *cmd, const char *a)
{
    const char *argv[2] = {cmd, a};
    size_t lens[2] = {strlen(cmd), a ? strlen(a) : 0};
    return raw(c, a ? 2 : 1, argv, lens);
}

static void raw_ok(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL)
        fail_msg("raw %s: %s", fmt, c->errstr);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("raw %s: %s", fmt, r->str);
    freeReplyObject(r);
}

static long long raw_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        fail_msg("raw %s: not an integer (%s)", fmt,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "?");
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* The "calls=" of one command in INFO commandstats (0 when absent). */
static long long command_calls(redisContext *c, const char *name)
{
    redisReply *r = raw1(c, "INFO", "commandstats");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    char pat[64];
    snprintf(pat, sizeof pat, "cmdstat_%s:calls=", name);
    const char *p = strstr(r->str, pat);
    long long v = p ? atoll(p + strlen(pat)) : 0;
    freeReplyObject(r);
    return v;
}

static void flush_all(void)
{
    redisContext *c = raw_connect(server.port);
    raw_ok(c, "FLUSHALL");
    redisFree(c);
}

static ft_kv *open_ok(const char *url)
{
    ft_kv *kv = NULL;
    ft_err err = {0};
    if (ft_kv_open(url, &kv, &err) != FT_OK)
        fail_msg("open %s: %s", url, err.msg);
    return kv;
}

static ft_kv *open_default(void)
{
    return open_ok(server.url);
}

/* ---- layout ---- */

static void test_fedify_layout(void **state)
{
    (void)state;
    flush_all();
    ft_kv *kv = open_default();
    ft_err err = {0};
    const char *json = "{\"traceId\":\"abc\",\"spanId\":\"def\",\"activityType\":\"Follow\"}";
    assert_int_equal(ft_kv_set(kv, K(S("fedify"), S("traces"), S("abc"), S("def")),
                               ft_str_c(json), 0, &err), FT_OK);
    redisContext *c = raw_connect(server.port);
    /* Fedify's name for the key, and the JSON bytes as they were given */
    redisReply *r = raw1(c, "GET", "fedify::fedify::traces::abc::def");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, json);
    freeReplyObject(r);
    /* Fedify's list([...,"abc"]) is GET of the prefix key + SCAN prefix::* */
    r = redisCommand(c, "SCAN 0 MATCH %s COUNT 1000", "fedify::fedify::traces::abc::*");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[1]->elements, 1);
    assert_string_equal(r->element[1]->element[0]->str, "fedify::fedify::traces::abc::def");
    freeReplyObject(r);
    /* ':' in a part is written "_:"; parts joined by "::" */
    assert_int_equal(ft_kv_set(kv, K(S("urn:x"), S("a::b")), S("1"), 0, &err), FT_OK);
    r = raw1(c, "GET", "fedify::urn_:x::a_:_:b");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "1");
    freeReplyObject(r);
    /* the index keys live beside the prefix, not under it, so Fedify's own
     * SCAN of "fedify::*" only ever sees string keys */
    assert_int_equal(raw_int(c, "ZCARD fedtrace-index:fedify::keys"), 2);
    r = redisCommand(c, "SCAN 0 MATCH fedify::* COUNT 1000");
    for (size_t i = 0; i < r->element[1]->elements; i++) {
        redisReply *t = raw1(c, "TYPE", r->element[1]->element[i]->str);
        assert_string_equal(t->str, "string");
        freeReplyObject(t);
    }
    freeReplyObject(r);
    /* a TTL is the key's own expiry, in the expiry index too */
    assert_int_equal(ft_kv_set(kv, K(S("fedify"), S("traces"), S("abc"), S("ttl")),
                               S("{}"), 60000, &err), FT_OK);
    long long pttl = raw_int(c, "PTTL fedify::fedify::traces::abc::ttl");
    assert_true(pttl > 50000 && pttl <= 60000);
    assert_int_equal(raw_int(c, "ZCARD fedtrace-index:fedify::expiry"), 1);
    /* writing it again without TTL clears both */
    assert_int_equal(ft_kv_set(kv, K(S("fedify"), S("traces"), S("abc"), S("ttl")),
                               S("{}"), 0, &err), FT_OK);
    assert_int_equal(raw_int(c, "PTTL fedify::fedify::traces::abc::ttl"), -1);
    assert_int_equal(raw_int(c, "ZCARD fedtrace-index:fedify::expiry"), 0);

    /* the other way: a record written by Fedify is read by get */
    const char *fed = "{\"traceId\":\"t1\",\"direction\":\"inbound\"}";
    raw_ok(c, "SET %s %s", "fedify::fedify::traces::t1::s1", fed);
    ft_arena *a = ft_arena_create(0);
    ft_str v;
    assert_int_equal(ft_kv_get(kv, K(S("fedify"), S("traces"), S("t1"), S("s1")), a, &v, &err), FT_OK);
    assert_int_equal(v.len, strlen(fed));
    assert_memory_equal(v.ptr, fed, v.len);
    /* ... but listed only once a full sweep has indexed it */
    ft_kv_entry *e;
    size_t n;
    size_t removed;
    assert_int_equal(ft_kv_list(kv, K(S("fedify"), S("traces"), S("t1")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ft_kv_sweep(kv, 5, &removed, &err), FT_OK); /* partial: no */
    assert_int_equal(ft_kv_list(kv, K(S("fedify"), S("traces"), S("t1")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ft_kv_sweep(kv, 0, &removed, &err), FT_OK);
    assert_int_equal(ft_kv_list(kv, K(S("fedify"), S("traces"), S("t1")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 1);
    assert_true(ft_str_eq(e[0].value, ft_str_c(fed)));
    /* binary values are stored as they are */
    ft_str bin = {"\0\xff\x01{", 4};
    assert_int_equal(ft_kv_set(kv, K(S("bin")), bin, 0, &err), FT_OK);
    r = raw1(c, "GET", "fedify::bin");
    assert_int_equal(r->len, 4);
    assert_memory_equal(r->str, bin.ptr, 4);
    freeReplyObject(r);
    /* reindex=0: nothing scans, so what Fedify writes stays unlisted */
    ft_kv_close(kv);
    char url[700];
    snprintf(url, sizeof url, "%s?reindex=0", server.url);
    kv = open_ok(url);
    raw_ok(c, "SET %s %s", "fedify::fedify::traces::t2::s1", fed);
    raw_ok(c, "CONFIG RESETSTAT");
    assert_int_equal(ft_kv_sweep(kv, 0, &removed, &err), FT_OK);
    assert_int_equal(command_calls(c, "scan"), 0);
    assert_int_equal(ft_kv_list(kv, K(S("fedify"), S("traces"), S("t2")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 0);
    ft_arena_destroy(a);
    redisFree(c);
    ft_kv_close(kv);
}

/* A compressible op's value is kept as a zstd frame, smaller than the
 * value; an op without the mark keeps its JSON bytes for Fedify. */
static void test_compressible_frames(void **state)
{
    (void)state;
    flush_all();
    ft_kv *kv = open_default();
    ft_err err = {0};
    char *v = malloc(8192);
    assert_non_null(v);
    for (size_t j = 0; j < 8192; j++)
        v[j] = "{\"traceId\":\"0af7651916cd43dd\"},"[j % 31];
    ft_str parts[2][2] = {{S("z"), S("own")}, {S("z"), S("plain")}};
    ft_kv_op ops[2] = {{FT_KV_SET, {parts[0], 2}, {v, 8192}, 0, true},
                       {FT_KV_SET, {parts[1], 2}, {v, 8192}, 0, false}};
    assert_int_equal(ft_kv_batch(kv, ops, 2, &err), FT_OK);
    redisContext *c = raw_connect(server.port);
    redisReply *r = raw1(c, "GET", "fedify::z::own");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_true(r->len < 8192 / 8);
    assert_memory_equal(r->str, "\x28\xb5\x2f\xfd", 4);
    freeReplyObject(r);
    r = raw1(c, "GET", "fedify::z::plain");
    assert_int_equal(r->len, 8192);
    assert_memory_equal(r->str, v, 8192);
    freeReplyObject(r);
    ft_arena *a = ft_arena_create(0);
    ft_str got;
    assert_int_equal(ft_kv_get(kv, (ft_kv_key){parts[0], 2}, a, &got, &err), FT_OK);
    assert_int_equal(got.len, 8192);
    assert_memory_equal(got.ptr, v, 8192);
    /* a damaged frame is an error, not bytes */
    raw_ok(c, "SET fedify::z::own %b", "\x28\xb5\x2f\xfd\x01\x02", (size_t)6);
    assert_int_equal(ft_kv_get(kv, (ft_kv_key){parts[0], 2}, a, &got, &err), FT_CORRUPT);
    /* compress=0: the same op keeps its JSON bytes */
    char url[700];
    snprintf(url, sizeof url, "%s%scompress=0", server.url, strchr(server.url, '?') ? "&" : "?");
    ft_kv *plain = open_ok(url);
    assert_int_equal(ft_kv_batch(plain, ops, 1, &err), FT_OK);
    r = raw1(c, "GET", "fedify::z::own");
    assert_int_equal(r->len, 8192);
    assert_memory_equal(r->str, v, 8192);
    freeReplyObject(r);
    ft_kv *bad = NULL;
    assert_int_equal(ft_kv_open("redis://127.0.0.1:1?compress=maybe", &bad, &err), FT_INVAL);
    assert_null(bad);
    ft_kv_close(plain);
    ft_arena_destroy(a);
    redisFree(c);
    ft_kv_close(kv);
    free(v);
}

static void test_prefix_and_db(void **state)
{
    (void)state;
    flush_all();
    char url[700];
    snprintf(url, sizeof url, "%s/3?prefix=app%%3A%%3A", server.url);
    ft_kv *kv = open_ok(url);
    ft_err err = {0};
    assert_int_equal(ft_kv_set(kv, K(S("a"), S("b")), S("v"), 0, &err), FT_OK);
    redisContext *c = raw_connect(server.port);
    redisReply *r = raw1(c, "GET", "app::a::b");
    assert_int_equal(r->type, REDIS_REPLY_NIL); /* not in DB 0 */
    freeReplyObject(r);
    raw_ok(c, "SELECT 3");
    r = raw1(c, "GET", "app::a::b");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "v");
    freeReplyObject(r);
    assert_int_equal(raw_int(c, "ZCARD fedtrace-index:app::keys"), 1);
    /* a second deployment with another prefix in the same DB is separate */
    snprintf(url, sizeof url, "%s/3?prefix=other:", server.url);
    ft_kv *kv2 = open_ok(url);
    ft_arena *a = ft_arena_create(0);
    ft_kv_entry *e;
    size_t n;
    assert_int_equal(ft_kv_list(kv2, (ft_kv_key){NULL, 0}, NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ft_kv_list(kv, (ft_kv_key){NULL, 0}, NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 1);
    ft_arena_destroy(a);
    redisFree(c);
    ft_kv_close(kv2);
    ft_kv_close(kv);
}

static void test_url_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "redis:127.0.0.1",           "redis://127.0.0.1:0",
        "redis://127.0.0.1:99999",   "redis://127.0.0.1:12x",
        "redis://127.0.0.1/abc",     "redis://127.0.0.1?prefix=%zz",
        "redis://127.0.0.1?prefix=a%00",
        "redis://127.0.0.1?bogus=1", "redis://127.0.0.1?timeout=soon",
        "redis://user@127.0.0.1",    "redis://[::1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ft_kv *kv = NULL;
        ft_err err = {0};
        ft_code rc = ft_kv_open(bad[i], &kv, &err);
        if (rc != FT_INVAL)
            fail_msg("%s: %s (%s)", bad[i], ft_code_name(rc), err.msg);
        assert_non_null(strstr(err.msg, "redis"));
    }
    /* nothing listening: FT_BACKEND naming the URL */
    int port = ft_test_free_port();
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    ft_kv *kv = NULL;
    ft_err err = {0};
    assert_int_equal(ft_kv_open(url, &kv, &err), FT_BACKEND);
    assert_non_null(strstr(err.msg, url));
    assert_non_null(strstr(err.msg, "refused"));
}

static void test_auth(void **state)
{
    (void)state;
    flush_all();
    redisContext *c = raw_connect(server.port);
    raw_ok(c, "ACL SETUSER fred on >pw1 ~* &* +@all");
    raw_ok(c, "CONFIG SET requirepass s3cret");
    char url[700];
    ft_kv *kv = NULL;
    ft_err err = {0};
    /* no password: the server's NOAUTH message */
    assert_int_equal(ft_kv_open(server.url, &kv, &err), FT_BACKEND);
    assert_non_null(strstr(err.msg, "NOAUTH"));
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d", server.port);
    assert_int_equal(ft_kv_open(url, &kv, &err), FT_BACKEND);
    assert_non_null(strstr(err.msg, "WRONGPASS"));
    /* the backend's part of the message never shows the password */
    assert_null(strstr(err.msg + strlen(url), "wrong"));
    snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%d", server.port);
    kv = open_ok(url);
    assert_int_equal(ft_kv_set(kv, K(S("a")), S("1"), 0, &err), FT_OK);
    ft_kv_close(kv);
    snprintf(url, sizeof url, "redis://fred:pw1@127.0.0.1:%d/1", server.port);
    kv = open_ok(url);
    assert_int_equal(ft_kv_set(kv, K(S("a")), S("2"), 0, &err), FT_OK);
    ft_kv_close(kv);
    /* percent-escapes in the password */
    raw_ok(c, "AUTH s3cret");
    raw_ok(c, "CONFIG SET requirepass %s", "p@ss:w/rd");
    snprintf(url, sizeof url, "redis://:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d", server.port);
    kv = open_ok(url);
    ft_kv_close(kv);
    raw_ok(c, "AUTH %s", "p@ss:w/rd");
    raw_ok(c, "CONFIG SET requirepass %s", "");
    raw_ok(c, "ACL DELUSER fred");
    redisFree(c);
}

/* ---- the index ---- */

static void test_list_uses_no_scan(void **state)
{
    (void)state;
    flush_all();
    ft_kv *kv = open_default();
    ft_err err = {0};
    enum { N = 1500 };
    ft_kv_op *ops = calloc(N, sizeof *ops);
    ft_str *parts = calloc(2 * N, sizeof *parts);
    char (*names)[16] = calloc(N, sizeof *names);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "%05d", i);
        parts[2 * i] = S("l");
        parts[2 * i + 1] = ft_str_c(names[i]);
        ops[i] = (ft_kv_op){FT_KV_SET, {&parts[2 * i], 2}, ft_str_c(names[i]), 0, false};
    }
    assert_int_equal(ft_kv_batch(kv, ops, N, &err), FT_OK);
    redisContext *c = raw_connect(server.port);
    raw_ok(c, "CONFIG RESETSTAT");
    ft_arena *a = ft_arena_create(0);
    ft_kv_entry *e;
    size_t n;
    /* more than one page of the list script */
    assert_int_equal(ft_kv_list(kv, K(S("l")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, N);
    assert_true(ft_str_eq_c(e[N - 1].value, "01499"));
    ft_kv_list_opts o = {true, NULL, 700};
    assert_int_equal(ft_kv_list(kv, K(S("l")), &o, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 700);
    assert_true(ft_str_eq_c(e[0].value, "01499"));
    assert_true(ft_str_eq_c(e[699].value, "00800"));
    assert_int_equal(command_calls(c, "scan"), 0);
    assert_int_equal(command_calls(c, "keys"), 0);
    assert_true(command_calls(c, "zrangebylex") + command_calls(c, "zrevrangebylex") > 0);
    ft_arena_destroy(a);
    redisFree(c);
    ft_kv_close(kv);
    free(ops);
    free(parts);
    free(names);
}

static void test_ttl_index_and_sweep(void **state)
{
    (void)state;
    flush_all();
    ft_kv *kv = open_default();
    ft_err err = {0};
    /* 20 keys; the odd ones expire soon */
    char names[20][8];
    for (int i = 0; i < 20; i++) {
        snprintf(names[i], sizeof names[i], "%02d", i);
        assert_int_equal(ft_kv_set(kv, K(S("x"), ft_str_c(names[i])), ft_str_c(names[i]),
                                   i % 2 ? 200 : 0, &err), FT_OK);
    }
    ft_kv_stats st;
    assert_int_equal(ft_kv_stats_get(kv, &st, &err), FT_OK);
    assert_int_equal(st.entries, 20);
    assert_int_equal(st.expiring, 10);
    assert_int_equal(st.bytes_used, 0);
    assert_int_equal(st.bytes_max, 0);
    usleep(400 * 1000);
    ft_arena *a = ft_arena_create(0);
    ft_kv_entry *e;
    size_t n;
    /* expired members are skipped; limit and cursor still hold */
    assert_int_equal(ft_kv_list(kv, K(S("x")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++)
        assert_int_equal((e[i].value.ptr[1] - '0') % 2, 0);
    ft_kv_key after = K(S("x"), S("04"));
    ft_kv_list_opts o = {false, &after, 3};
    assert_int_equal(ft_kv_list(kv, K(S("x")), &o, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 3);
    assert_true(ft_str_eq_c(e[0].value, "06"));
    assert_true(ft_str_eq_c(e[2].value, "10"));
    ft_kv_list_opts r = {true, &after, 0};
    assert_int_equal(ft_kv_list(kv, K(S("x")), &r, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 2);
    assert_true(ft_str_eq_c(e[0].value, "02"));
    /* still indexed until swept */
    assert_int_equal(ft_kv_stats_get(kv, &st, &err), FT_OK);
    assert_int_equal(st.entries, 20);
    size_t removed = 0;
    assert_int_equal(ft_kv_sweep(kv, 4, &removed, &err), FT_OK);
    assert_int_equal(removed, 4);
    assert_int_equal(ft_kv_sweep(kv, 0, &removed, &err), FT_OK);
    assert_int_equal(removed, 6);
    assert_int_equal(ft_kv_stats_get(kv, &st, &err), FT_OK);
    assert_int_equal(st.entries, 10);
    assert_int_equal(st.expiring, 0);
    redisContext *c = raw_connect(server.port);
    assert_int_equal(raw_int(c, "ZCARD fedtrace-index:fedify::keys"), 10);
    /* a key someone else rewrote with a longer life (Fedify's SETEX) is kept
     * in the index with its real expiry */
    assert_int_equal(ft_kv_set(kv, K(S("y")), S("1"), 100, &err), FT_OK);
    raw_ok(c, "SETEX fedify::y 60 2");
    usleep(250 * 1000);
    assert_int_equal(ft_kv_sweep(kv, 0, &removed, &err), FT_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(raw_int(c, "ZCARD fedtrace-index:fedify::expiry"), 1);
    assert_int_equal(ft_kv_list(kv, K(S("y")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 1);
    ft_arena_destroy(a);
    redisFree(c);
    ft_kv_close(kv);
}

static void test_reindex(void **state)
{
    (void)state;
    flush_all();
    redisContext *c = raw_connect(server.port);
    /* what Fedify's RedisKvStore would have written, with ':' and '_' */
    raw_ok(c, "SET %s %s", "ri::fedify::traces::t1::s1", "{\"a\":1}");
    raw_ok(c, "SET %s %s", "ri::fedify::traces::t1::s2_", "{\"a\":2}");
    raw_ok(c, "SET %s %s", "ri::fedify::traces::t1::urn_:x_:_:y", "{\"a\":3}");
    raw_ok(c, "SET %s %s", "ri::fedify::traces::t1::_", "{\"a\":4}");
    raw_ok(c, "PSETEX %s 60000 %s", "ri::fedify::traces::t2::s", "{}");
    raw_ok(c, "SET %s %s", "ri::bad:name", "x");   /* not a tuple */
    raw_ok(c, "HSET %s f v", "ri::a::hash");        /* not a string */
    raw_ok(c, "SET %s %s", "elsewhere::a", "x");    /* not under the prefix */
    char url[700];
    snprintf(url, sizeof url, "%s?prefix=ri::", server.url);
    ft_kv *kv = open_ok(url);
    ft_err err = {0};
    ft_arena *a = ft_arena_create(0);
    ft_kv_entry *e;
    size_t n;
    assert_int_equal(ft_kv_list(kv, (ft_kv_key){NULL, 0}, NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 0);
    /* an index member whose key is gone is dropped by reindex */
    assert_int_equal(ft_kv_set(kv, K(S("gone")), S("x"), 0, &err), FT_OK);
    raw_ok(c, "DEL ri::gone");
    ft_kv_close(kv);
    snprintf(url, sizeof url, "%s?prefix=ri::&reindex=1", server.url);
    kv = open_ok(url);
    assert_int_equal(ft_kv_list(kv, K(S("fedify"), S("traces"), S("t1")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 4);
    assert_true(ft_str_eq_c(e[0].key.parts[3], "_"));
    assert_true(ft_str_eq_c(e[1].key.parts[3], "s1"));
    assert_true(ft_str_eq_c(e[2].key.parts[3], "s2_"));
    assert_true(ft_str_eq_c(e[3].key.parts[3], "urn:x::y"));
    assert_true(ft_str_eq_c(e[3].value, "{\"a\":3}"));
    ft_kv_stats st;
    assert_int_equal(ft_kv_stats_get(kv, &st, &err), FT_OK);
    assert_int_equal(st.entries, 5);
    assert_int_equal(st.expiring, 1);
    ft_kv_close(kv);

    /* while fedtrace runs: what Fedify writes is listed after the next full
     * sweep, and what it deletes is dropped from the index (the rebuild at
     * open ran once for this process already) */
    kv = open_ok(url);
    raw_ok(c, "SET %s %s", "ri::fedify::traces::t1::s3", "{\"a\":5}");
    raw_ok(c, "DEL %s", "ri::fedify::traces::t1::s1");
    assert_int_equal(ft_kv_list(kv, K(S("fedify"), S("traces"), S("t1")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 3);
    size_t removed = 0;
    assert_int_equal(ft_kv_sweep(kv, 0, &removed, &err), FT_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(ft_kv_list(kv, K(S("fedify"), S("traces"), S("t1")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 4);
    assert_true(ft_str_eq_c(e[2].key.parts[3], "s3"));
    assert_int_equal(ft_kv_stats_get(kv, &st, &err), FT_OK);
    assert_int_equal(st.entries, 5);
    ft_arena_destroy(a);
    redisFree(c);
    ft_kv_close(kv);
}

/* ---- round trips ---- */

/*
 * A TCP proxy between one store handle and the server that counts round
 * trips: client-to-server bursts that follow server-to-client data.
 */
typedef struct rt_proxy {
    int lfd, port, upstream;
    pthread_t th;
    int rts;
    int stop;
} rt_proxy;

static void pump(rt_proxy *p, int cfd, int sfd)
{
    bool server_spoke = true;
    char buf[65536];
    while (!__atomic_load_n(&p->stop, __ATOMIC_SEQ_CST)) {
        struct pollfd pf[2] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}};
        if (poll(pf, 2, 100) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(pf[i].fd, buf, sizeof buf);
            if (n <= 0)
                return;
            if (i == 0 && server_spoke) {
                __atomic_add_fetch(&p->rts, 1, __ATOMIC_SEQ_CST);
                server_spoke = false;
            }
            if (i == 1)
                server_spoke = true;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(pf[1 - i].fd, buf + off, (size_t)(n - off));
                if (w <= 0)
                    return;
                off += w;
            }
        }
    }
}

static void *proxy_main(void *arg)
{
    rt_proxy *p = arg;
    while (!__atomic_load_n(&p->stop, __ATOMIC_SEQ_CST)) {
        struct pollfd pf = {p->lfd, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        int cfd = accept(p->lfd, NULL, NULL);
        if (cfd < 0)
            continue;
        int sfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {0};
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)p->upstream);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(sfd, (struct sockaddr *)&sa, sizeof sa) == 0)
            pump(p, cfd, sfd);
        close(sfd);
        close(cfd);
    }
    return NULL;
}

static void proxy_start(rt_proxy *p, int upstream)
{
    memset(p, 0, sizeof *p);
    p->upstream = upstream;
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(p->lfd, 4), 0);
    getsockname(p->lfd, (struct sockaddr *)&sa, &sl);
    p->port = ntohs(sa.sin_port);
    pthread_create(&p->th, NULL, proxy_main, p);
}

static void proxy_stop(rt_proxy *p)
{
    __atomic_store_n(&p->stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(p->th, NULL);
    close(p->lfd);
}

static int rts(rt_proxy *p)
{
    return __atomic_load_n(&p->rts, __ATOMIC_SEQ_CST);
}

static void test_round_trips(void **state)
{
    (void)state;
    flush_all();
    rt_proxy p;
    proxy_start(&p, server.port);
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", p.port);
    ft_kv *kv = open_ok(url);
    assert_int_equal(rts(&p), 1); /* AUTH/SELECT/SCRIPT LOAD, pipelined */
    ft_err err = {0};
    enum { N = 300 };
    ft_kv_op ops[N];
    ft_str parts[N][3];
    char names[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "%03d", i);
        parts[i][0] = S("fedify");
        parts[i][1] = S("rt");
        parts[i][2] = ft_str_c(names[i]);
        ops[i] = (ft_kv_op){i % 10 == 9 ? FT_KV_DELETE : FT_KV_SET,
                            {parts[i], 3}, S("{\"v\":1}"), i % 2 ? 60000 : 0, false};
    }
    int before = rts(&p);
    assert_int_equal(ft_kv_batch(kv, ops, N, &err), FT_OK);
    assert_int_equal(rts(&p) - before, 1);
    ft_arena *a = ft_arena_create(0);
    ft_str v;
    before = rts(&p);
    assert_int_equal(ft_kv_get(kv, K(S("fedify"), S("rt"), S("000")), a, &v, &err), FT_OK);
    assert_int_equal(rts(&p) - before, 1);
    before = rts(&p);
    assert_int_equal(ft_kv_cas(kv, K(S("fedify"), S("rt"), S("000")), &v, &S("{}"), 0, &err), FT_OK);
    assert_int_equal(ft_kv_cas(kv, K(S("fedify"), S("rt"), S("000")), &v, &S("{}"), 0, &err), FT_CONFLICT);
    assert_int_equal(rts(&p) - before, 2);
    ft_kv_entry *e;
    size_t n;
    before = rts(&p);
    assert_int_equal(ft_kv_list(kv, K(S("fedify"), S("rt")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, N - N / 10);
    assert_int_equal(rts(&p) - before, 1);
    ft_kv_list_opts o = {true, NULL, 5};
    before = rts(&p);
    assert_int_equal(ft_kv_list(kv, K(S("fedify"), S("rt")), &o, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 5);
    assert_int_equal(rts(&p) - before, 1);
    ft_kv_stats st;
    size_t removed;
    before = rts(&p);
    assert_int_equal(ft_kv_stats_get(kv, &st, &err), FT_OK);
    assert_int_equal(ft_kv_sweep(kv, 100, &removed, &err), FT_OK);
    assert_int_equal(rts(&p) - before, 2);
    /* a full sweep adds a step of the index rebuild: a SCAN, the reindex
     * script for the keys it found, a step of the prune walk */
    before = rts(&p);
    assert_int_equal(ft_kv_sweep(kv, 0, &removed, &err), FT_OK);
    assert_int_equal(rts(&p) - before, 4);
    assert_int_equal(st.entries, N - N / 10);
    /* after SCRIPT FLUSH the script is sent again: two round trips once */
    redisContext *c = raw_connect(server.port);
    raw_ok(c, "SCRIPT FLUSH");
    redisFree(c);
    before = rts(&p);
    assert_int_equal(ft_kv_set(kv, K(S("k")), S("v"), 0, &err), FT_OK);
    assert_int_equal(rts(&p) - before, 2);
    before = rts(&p);
    assert_int_equal(ft_kv_set(kv, K(S("k")), S("v"), 0, &err), FT_OK);
    assert_int_equal(rts(&p) - before, 1);
    ft_arena_destroy(a);
    ft_kv_close(kv);
    proxy_stop(&p);
}

/* ---- outages ---- */

static void test_reconnect(void **state)
{
    (void)state;
    ft_test_server own = {0};
    if (ft_test_redis_start(&own) != 0)
        fail_msg("second redis-server did not start");
    ft_kv *kv = open_ok(own.url);
    ft_err err = {0};
    ft_arena *a = ft_arena_create(0);
    ft_str v;
    assert_int_equal(ft_kv_set(kv, K(S("a")), S("1"), 0, &err), FT_OK);
    ft_test_server_kill(&own);
    /* every call fails fast with FT_BACKEND while the server is away */
    for (int i = 0; i < 20; i++) {
        int64_t t0 = mono_ms();
        ft_code rc = i % 2 ? ft_kv_get(kv, K(S("a")), a, &v, &err)
                           : ft_kv_set(kv, K(S("a")), S("2"), 0, &err);
        assert_int_equal(rc, FT_BACKEND);
        assert_non_null(strstr(err.msg, own.url));
        assert_true(mono_ms() - t0 < 1000);
        usleep(20 * 1000);
    }
    ft_kv_entry *e;
    size_t n;
    assert_int_equal(ft_kv_list(kv, K(S("a")), NULL, a, &e, &n, &err), FT_BACKEND);
    assert_int_equal(ft_kv_cas(kv, K(S("a")), NULL, &S("x"), 0, &err), FT_BACKEND);
    assert_int_equal(ft_test_server_restart(&own), 0);
    /* within the backoff (at most 5 s) calls work again */
    int64_t t0 = mono_ms();
    ft_code rc;
    while ((rc = ft_kv_set(kv, K(S("a")), S("3"), 0, &err)) != FT_OK &&
           mono_ms() - t0 < 8000)
        usleep(50 * 1000);
    assert_int_equal(rc, FT_OK);
    assert_int_equal(ft_kv_get(kv, K(S("a")), a, &v, &err), FT_OK);
    assert_true(ft_str_eq_c(v, "3"));
    assert_int_equal(ft_kv_list(kv, K(S("a")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 1);
    /* a restart between two calls: the idempotent call is retried on a new
     * connection, so it does not fail at all */
    ft_test_server_kill(&own);
    assert_int_equal(ft_test_server_restart(&own), 0);
    assert_int_equal(ft_kv_get(kv, K(S("a")), a, &v, &err), FT_OK);
    assert_true(ft_str_eq_c(v, "3")); /* the test server keeps an fsync'd AOF */
    ft_arena_destroy(a);
    ft_kv_close(kv);
    ft_test_server_stop(&own);
}

static void test_timeout(void **state)
{
    (void)state;
    flush_all();
    char url[700];
    snprintf(url, sizeof url, "%s?timeout=200ms", server.url);
    ft_kv *kv = open_ok(url);
    redisContext *c = raw_connect(server.port);
    raw_ok(c, "CLIENT PAUSE 1000 ALL");
    ft_err err = {0};
    ft_arena *a = ft_arena_create(0);
    ft_str v;
    int64_t t0 = mono_ms();
    assert_int_equal(ft_kv_get(kv, K(S("a")), a, &v, &err), FT_BACKEND);
    int64_t took = mono_ms() - t0;
    assert_true(took >= 150 && took < 900);
    assert_non_null(strstr(err.msg, "no answer within 200 ms"));
    raw_ok(c, "CLIENT UNPAUSE");
    /* the next attempt waits out a short backoff, then works */
    ft_code rc;
    t0 = mono_ms();
    while ((rc = ft_kv_get(kv, K(S("a")), a, &v, &err)) == FT_BACKEND &&
           mono_ms() - t0 < 2000)
        usleep(20 * 1000);
    assert_int_equal(rc, FT_NOTFOUND);
    ft_arena_destroy(a);
    redisFree(c);
    ft_kv_close(kv);
}

/* ---- CAS under contention ---- */

typedef struct counter_arg {
    const char *url;
    int rounds;
    int conflicts;
    const char *failure;
} counter_arg;

static void *counter_thread(void *p)
{
    counter_arg *arg = p;
    ft_kv *kv;
    ft_err err = {0};
    if (ft_kv_open(arg->url, &kv, &err) != FT_OK) {
        arg->failure = "open failed";
        return NULL;
    }
    ft_arena *a = ft_arena_create(0);
    for (int i = 0; i < arg->rounds && arg->failure == NULL; i++) {
        for (;;) {
            ft_arena_reset(a);
            ft_str cur;
            ft_code rc = ft_kv_get(kv, K(S("ctr")), a, &cur, &err);
            long v = 0;
            if (rc == FT_OK)
                v = strtol(ft_arena_strndup(a, cur.ptr, cur.len), NULL, 10);
            else if (rc != FT_NOTFOUND) {
                arg->failure = "get failed";
                break;
            }
            char buf[32];
            snprintf(buf, sizeof buf, "%ld", v + 1);
            rc = ft_kv_cas(kv, K(S("ctr")), rc == FT_OK ? &cur : NULL,
                           &(ft_str){buf, strlen(buf)}, 0, &err);
            if (rc == FT_OK)
                break;
            if (rc != FT_CONFLICT) {
                arg->failure = "cas failed";
                break;
            }
            arg->conflicts++;
        }
    }
    ft_arena_destroy(a);
    ft_kv_close(kv);
    return NULL;
}

static void test_cas_contention(void **state)
{
    (void)state;
    flush_all();
    enum { T = 8, R = 250 };
    pthread_t th[T];
    counter_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (counter_arg){server.url, R, 0, NULL};
        pthread_create(&th[i], NULL, counter_thread, &args[i]);
    }
    int conflicts = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        if (args[i].failure != NULL)
            fail_msg("thread %d: %s", i, args[i].failure);
        conflicts += args[i].conflicts;
    }
    redisContext *c = raw_connect(server.port);
    redisReply *r = raw1(c, "GET", "fedify::ctr");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_int_equal(atoi(r->str), T * R);
    freeReplyObject(r);
    redisFree(c);
    print_message("%d increments, %d conflicts retried\n", T * R, conflicts);
}

int main(void)
{
    int rc = ft_test_redis_start(&server);
    if (rc != 0)
        return rc < 0 ? 1 : 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fedify_layout),
        cmocka_unit_test(test_compressible_frames),
        cmocka_unit_test(test_prefix_and_db),
        cmocka_unit_test(test_url_errors),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_list_uses_no_scan),
        cmocka_unit_test(test_ttl_index_and_sweep),
        cmocka_unit_test(test_reindex),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_reconnect),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_cas_contention),
    };
    int failed = cmocka_run_group_tests_name("kv redis", tests, NULL, NULL);
    ft_test_server_stop(&server);
    return failed ? 1 : 0;
}
