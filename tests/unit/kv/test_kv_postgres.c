/*
 * test_kv_postgres.c - the PostgreSQL store beyond the conformance suite.
 *
 * Against a real server (tests/helpers/ft_pg.c): Fedify's table layout both
 * ways (rows read and written with raw libpq), the value and key
 * encodings, the plan of the list statement (an index range scan, on a
 * database that collates bytewise and on ones that do not), expiry purged
 * only by sweep, statement timeout, CAS under contention, batch atomicity,
 * and reconnecting after the server is killed and started again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fedtrace/kv.h"
#include "ft_servers.h"

/* kv_postgres.c: the SQL of its list statement */
size_t ft_kv__postgres_list_sql(const char *qtable, bool collate_c,
                                bool reverse, char *buf, size_t cap);

static ft_test_server pg;

#define K(...)                                                               \
    ((ft_kv_key){(const ft_str[]){__VA_ARGS__},                              \
                 sizeof((const ft_str[]){__VA_ARGS__}) / sizeof(ft_str)})
#define S(lit) FT_STR_LIT(lit)

static void url_for(char *out, size_t cap, const char *db, const char *params)
{
    snprintf(out, cap, "postgres://fedtrace@127.0.0.1:%d/%s%s%s", pg.port, db,
             *params ? "?" : "", params);
}

static ft_kv *open_kv(const char *db, const char *params)
{
    char url[600];
    url_for(url, sizeof url, db, params);
    ft_kv *kv = NULL;
    ft_err err = {0};
    if (ft_kv_open(url, &kv, &err) != FT_OK)
        fail_msg("open %s: %s", url, err.msg);
    return kv;
}

static PGconn *raw(const char *db)
{
    char ci[256];
    snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=fedtrace dbname=%s",
             pg.port, db);
    PGconn *c = PQconnectdb(ci);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("raw connect: %s", PQerrorMessage(c));
    return c;
}

/* Runs sql (no parameters); returns the result (tuples or command). */
static PGresult *q(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    return r;
}

/* The single value of a one-row, one-column query, into buf. */
static const char *q1(PGconn *c, const char *sql, char *buf, size_t cap)
{
    PGresult *r = q(c, sql);
    if (PQntuples(r) != 1)
        fail_msg("%s: %d rows", sql, PQntuples(r));
    snprintf(buf, cap, "%s", PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
    PQclear(r);
    return buf;
}

static void expect_kv_value(ft_kv *kv, ft_kv_key k, const char *want, size_t len)
{
    ft_arena *a = ft_arena_create(0);
    ft_str v;
    ft_err err = {0};
    ft_code rc = ft_kv_get(kv, k, a, &v, &err);
    if (want == NULL) {
        assert_int_equal(rc, FT_NOTFOUND);
    } else {
        if (rc != FT_OK)
            fail_msg("get: %s %s", ft_code_name(rc), err.msg);
        if (v.len != len || memcmp(v.ptr, want, len) != 0)
            fail_msg("got '%.*s', want '%.*s'", (int)v.len, v.ptr, (int)len, want);
    }
    ft_arena_destroy(a);
}

#define EXPECT(kv, k, lit) expect_kv_value(kv, k, lit, sizeof(lit) - 1)

static void set_ok(ft_kv *kv, ft_kv_key k, ft_str v, int64_t ttl)
{
    ft_err err = {0};
    ft_code rc = ft_kv_set(kv, k, v, ttl, &err);
    if (rc != FT_OK)
        fail_msg("set: %s", err.msg);
}

/* ---- Fedify's layout ---- */

static void test_fedify_layout(void **state)
{
    (void)state;
    ft_kv *kv = open_kv("postgres", "table=layout");
    PGconn *c = raw("postgres");
    char buf[512];

    /* the table is Fedify's: same columns, types, key, default */
    PGresult *r = q(c, "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
                       "a.attnotnull, pg_get_expr(d.adbin, d.adrelid) "
                       "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = "
                       "a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = "
                       "'layout'::regclass AND a.attnum > 0 ORDER BY a.attnum");
    static const char *const want[4][4] = {
        {"key", "text[]", "t", ""},
        {"value", "jsonb", "t", ""},
        {"created", "timestamp with time zone", "f", "CURRENT_TIMESTAMP"},
        {"ttl", "interval", "f", ""},
    };
    assert_int_equal(PQntuples(r), 4);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            assert_string_equal(PQgetvalue(r, i, j), want[i][j]);
    PQclear(r);
    assert_string_equal(q1(c, "SELECT pg_get_indexdef(conindid) FROM pg_constraint "
                              "WHERE conrelid = 'layout'::regclass AND contype = 'p'",
                           buf, sizeof buf),
                        "CREATE UNIQUE INDEX layout_pkey ON public.layout USING btree (key)");
    /* logged unless asked otherwise (a crash must not lose stored data) */
    assert_string_equal(q1(c, "SELECT relpersistence FROM pg_class WHERE oid = "
                              "'layout'::regclass", buf, sizeof buf), "p");

    /* fedtrace writes, raw SQL (as Fedify) reads */
    set_ok(kv, K(S("fedify"), S("traces"), S("t1"), S("s1")),
           S("{\"traceId\":\"t1\",\"n\":1}"), 60000);
    set_ok(kv, K(S("fedify"), S("traces"), S("t1"), S("s2")), S("[1,2]"), 0);
    r = q(c, "SELECT key::text, value::text, ttl::text, created <= now() FROM layout "
             "WHERE key = ARRAY['fedify','traces','t1','s1']");
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "{fedify,traces,t1,s1}");
    assert_string_equal(PQgetvalue(r, 0, 1), "{\"n\": 1, \"traceId\": \"t1\"}");
    assert_string_equal(PQgetvalue(r, 0, 2), "00:01:00");
    assert_string_equal(PQgetvalue(r, 0, 3), "t");
    PQclear(r);
    /* Fedify's get and list statements (1.10's list) find them */
    r = q(c, "SELECT value::text FROM layout WHERE key = '{fedify,traces,t1,s2}' "
             "AND (ttl IS NULL OR created + ttl > CURRENT_TIMESTAMP)");
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "[1, 2]");
    PQclear(r);
    r = q(c, "SELECT key FROM layout WHERE array_length(key, 1) >= 3 AND "
             "key[1:3] = '{fedify,traces,t1}'::text[] AND (ttl IS NULL OR "
             "created + ttl > CURRENT_TIMESTAMP) ORDER BY key");
    assert_int_equal(PQntuples(r), 2);
    PQclear(r);

    /* raw SQL writes as Fedify does (ISO durations, created defaulted),
     * fedtrace reads; an expired row is absent */
    PQclear(q(c, "INSERT INTO layout (key, value, ttl) VALUES "
                 "('{fedify,traces,t2,a}', '{\"x\": [1,2]}', 'PT1H'), "
                 "('{fedify,traces,t2,b}', '\"str\"', NULL)"));
    PQclear(q(c, "INSERT INTO layout (key, value, created, ttl) VALUES "
                 "('{fedify,traces,t2,c}', '1', now() - interval '2 hours', '1 hour')"));
    EXPECT(kv, K(S("fedify"), S("traces"), S("t2"), S("a")), "{\"x\": [1, 2]}");
    EXPECT(kv, K(S("fedify"), S("traces"), S("t2"), S("b")), "\"str\"");
    expect_kv_value(kv, K(S("fedify"), S("traces"), S("t2"), S("c")), NULL, 0);
    ft_arena *a = ft_arena_create(0);
    ft_kv_entry *e;
    size_t n;
    ft_err err = {0};
    assert_int_equal(ft_kv_list(kv, K(S("fedify"), S("traces"), S("t2")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(e[0].key.n, 4);
    assert_true(ft_str_eq(e[0].key.parts[3], S("a")));
    assert_true(ft_str_eq(e[1].value, S("\"str\"")));

    /* values that are not JSON are wrapped; so is JSON that uses the
     * marker key, and JSON jsonb cannot hold; all read back exactly */
    set_ok(kv, K(S("enc"), S("1")), S("one"), 0);
    set_ok(kv, K(S("enc"), S("2")), S("{\"fedtrace:base64\":\"b25l\"}"), 0);
    set_ok(kv, K(S("enc"), S("3")), S("{\"a\":\"\\u0000\"}"), 0);
    set_ok(kv, K(S("enc"), S("4")), S("{\"fedtrace\\u003abase64\":1}"), 0);
    set_ok(kv, K(S("enc"), S("5")), S("1e5000"), 0);
    set_ok(kv, K(S("enc"), S("6")), S(" {\"b\" :true, \"a\":null} "), 0);
    assert_string_equal(q1(c, "SELECT value::text FROM layout WHERE key = '{enc,1}'", buf, sizeof buf),
                        "{\"fedtrace:base64\": \"b25l\"}");
    assert_string_equal(q1(c, "SELECT value::text FROM layout WHERE key = '{enc,2}'", buf, sizeof buf),
                        "{\"fedtrace:base64\": \"eyJmZWR0cmFjZTpiYXNlNjQiOiJiMjVsIn0=\"}");
    assert_string_equal(q1(c, "SELECT value::text FROM layout WHERE key = '{enc,6}'", buf, sizeof buf),
                        "{\"a\": null, \"b\": true}");
    EXPECT(kv, K(S("enc"), S("1")), "one");
    EXPECT(kv, K(S("enc"), S("2")), "{\"fedtrace:base64\":\"b25l\"}");
    EXPECT(kv, K(S("enc"), S("3")), "{\"a\":\"\\u0000\"}");
    EXPECT(kv, K(S("enc"), S("4")), "{\"fedtrace\\u003abase64\":1}");
    EXPECT(kv, K(S("enc"), S("5")), "1e5000");
    EXPECT(kv, K(S("enc"), S("6")), "{\"a\": null, \"b\": true}");
    /* CAS compares JSON as JSON, whatever its spelling */
    assert_int_equal(ft_kv_cas(kv, K(S("enc"), S("6")), &S("{\"b\":true,\"a\":null}"),
                               &S("2"), 0, &err), FT_OK);
    assert_int_equal(ft_kv_cas(kv, K(S("enc"), S("1")), &S("one "), &S("x"), 0, &err),
                     FT_CONFLICT);

    /* key parts: plain text as it is, the rest escaped */
    ft_str k1 = {"a\0b", 3}, k2 = {"x\x01", 2}, k3 = {"\x7f", 1}, k4 = {"\xff", 1},
           k5 = S("\xc3\xa9"), k6 = {"\xf4\x8f\xbf\xbf", 4}, k7 = {"\x80", 1};
    set_ok(kv, K(S("esc"), k1, k2, k3, k4, k5, k6, k7), S("1"), 0);
    assert_string_equal(
        q1(c, "SELECT string_agg(encode(convert_to(p, 'UTF8'), 'hex'), ' ' ORDER BY i) "
              "FROM layout, unnest(key) WITH ORDINALITY u(p, i) WHERE key[1] = 'esc'",
           buf, sizeof buf),
        "657363 61010162 780102 7f01 f48fbfbf024646 c3a9 f48fbfbf01 7f023830");
    EXPECT(kv, K(S("esc"), k1, k2, k3, k4, k5, k6, k7), "1");
    ft_arena_reset(a);
    assert_int_equal(ft_kv_list(kv, K(S("esc")), NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 1);
    assert_int_equal(e[0].key.n, 8);
    assert_true(ft_str_eq(e[0].key.parts[1], k1));
    assert_true(ft_str_eq(e[0].key.parts[4], k4));
    assert_true(ft_str_eq(e[0].key.parts[6], k6));
    assert_true(ft_str_eq(e[0].key.parts[7], k7));
    ft_arena_destroy(a);
    PQfinish(c);
    ft_kv_close(kv);
}

/* A compressible op's value is kept as a zstd frame in the marker object
 * (base64), far smaller than the JSON; without the mark, and with
 * compress=0, the JSON is jsonb as Fedify's table has it. */
static void test_compressible_frames(void **state)
{
    (void)state;
    PGconn *c = raw("postgres");
    char buf[512];
    size_t n = 8192;
    char *v = malloc(n + 1);
    assert_non_null(v);
    /* a JSON array of one object repeated */
    size_t w = 0;
    v[w++] = '[';
    while (w + 40 < n)
        w += (size_t)sprintf(v + w, "%s{\"traceId\":\"0af7651916cd43dd\"}", w > 1 ? "," : "");
    v[w++] = ']';
    for (int plain = 0; plain < 2; plain++) {
        ft_kv *kv = open_kv("postgres", plain ? "table=zc0&compress=0" : "table=zc1");
        ft_str parts[2][2] = {{S("z"), S("own")}, {S("z"), S("fedify")}};
        ft_kv_op ops[2] = {{FT_KV_SET, {parts[0], 2}, {v, w}, 0, true},
                           {FT_KV_SET, {parts[1], 2}, {v, w}, 0, false}};
        ft_err err = {0};
        assert_int_equal(ft_kv_batch(kv, ops, 2, &err), FT_OK);
        /* a frame comes back byte for byte (jsonb prints JSON its own way) */
        if (!plain)
            expect_kv_value(kv, (ft_kv_key){parts[0], 2}, v, w);
        const char *tab = plain ? "zc0" : "zc1";
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT jsonb_typeof(value) || ' ' || octet_length(value::text) FROM %s "
                                  "WHERE key = '{z,own}'", tab);
        q1(c, sql, buf, sizeof buf);
        long len = strtol(strchr(buf, ' ') + 1, NULL, 10);
        if (plain) {
            assert_true(strncmp(buf, "array ", 6) == 0);
            assert_true(len >= (long)w);
        } else {
            assert_true(strncmp(buf, "object ", 7) == 0);
            assert_true(len < (long)w / 8);
            snprintf(sql, sizeof sql, "SELECT value ? 'fedtrace:base64' FROM %s WHERE key = '{z,own}'", tab);
            assert_string_equal(q1(c, sql, buf, sizeof buf), "t");
        }
        snprintf(sql, sizeof sql, "SELECT jsonb_typeof(value) FROM %s WHERE key = '{z,fedify}'", tab);
        assert_string_equal(q1(c, sql, buf, sizeof buf), "array");
        ft_kv_close(kv);
    }
    ft_kv *bad = NULL;
    ft_err err = {0};
    char url[600];
    url_for(url, sizeof url, "postgres", "compress=perhaps");
    assert_int_equal(ft_kv_open(url, &bad, &err), FT_INVAL);
    assert_null(bad);
    PQfinish(c);
    free(v);
}

static void test_open_options(void **state)
{
    (void)state;
    ft_kv *kv = NULL;
    ft_err err = {0};
    char url[600];
    url_for(url, sizeof url, "postgres", "table=bad-name");
    assert_int_equal(ft_kv_open(url, &kv, &err), FT_INVAL);
    assert_non_null(strstr(err.msg, "table="));
    url_for(url, sizeof url, "postgres", "statement_timeout=soon");
    assert_int_equal(ft_kv_open(url, &kv, &err), FT_INVAL);
    url_for(url, sizeof url, "postgres", "bogus=1");
    assert_int_equal(ft_kv_open(url, &kv, &err), FT_INVAL);
    assert_non_null(strstr(err.msg, "bogus"));
    assert_int_equal(ft_kv_open("postgres:fedtrace@localhost", &kv, &err), FT_INVAL);
    /* nobody listens: a prompt FT_BACKEND */
    int port = ft_test_free_port();
    snprintf(url, sizeof url, "postgres://fedtrace@127.0.0.1:%d/postgres", port);
    assert_int_equal(ft_kv_open(url, &kv, &err), FT_BACKEND);
    assert_non_null(strstr(err.msg, "connect"));
    /* a table that is not Fedify's */
    PGconn *c = raw("postgres");
    PQclear(q(c, "CREATE TABLE wrong (key text PRIMARY KEY, value text)"));
    url_for(url, sizeof url, "postgres", "table=wrong");
    assert_int_equal(ft_kv_open(url, &kv, &err), FT_INVAL);
    assert_non_null(strstr(err.msg, "Fedify"));
    /* unlogged=true: Fedify's own choice */
    kv = open_kv("postgres", "table=unlogged_t&unlogged=true&sslmode=disable");
    char buf[64];
    assert_string_equal(q1(c, "SELECT relpersistence FROM pg_class WHERE oid = "
                              "'unlogged_t'::regclass", buf, sizeof buf), "u");
    ft_kv_close(kv);

    /* statement_timeout: a statement stuck behind a lock is cancelled */
    kv = open_kv("postgres", "table=timeout_t&statement_timeout=200ms");
    set_ok(kv, K(S("k")), S("1"), 0);
    PQclear(q(c, "BEGIN"));
    PQclear(q(c, "LOCK TABLE timeout_t IN ACCESS EXCLUSIVE MODE"));
    ft_arena *a = ft_arena_create(0);
    ft_str v;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ft_code rc = ft_kv_get(kv, K(S("k")), a, &v, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(rc, FT_BACKEND);
    assert_non_null(strstr(err.msg, "statement timeout"));
    assert_true(t1.tv_sec - t0.tv_sec < 5);
    PQclear(q(c, "ROLLBACK"));
    EXPECT(kv, K(S("k")), "1");
    ft_arena_destroy(a);
    ft_kv_close(kv);
    PQfinish(c);
}

/* ---- the list statement uses an index ---- */

static void fill(ft_kv *kv, int traces, int spans)
{
    enum { B = 1000 };
    static char names[B][2][24];
    static ft_str parts[B][4];
    static ft_kv_op ops[B];
    int total = traces * spans, done = 0;
    while (done < total) {
        int n = total - done < B ? total - done : B;
        for (int i = 0; i < n; i++) {
            int x = done + i;
            snprintf(names[i][0], sizeof names[i][0], "trace%05d", x / spans);
            snprintf(names[i][1], sizeof names[i][1], "span%05d", x % spans);
            parts[i][0] = S("fedify");
            parts[i][1] = S("traces");
            parts[i][2] = ft_str_c(names[i][0]);
            parts[i][3] = ft_str_c(names[i][1]);
            ops[i] = (ft_kv_op){FT_KV_SET, {parts[i], 4}, S("{\"a\":1}"), 3600000, false};
        }
        ft_err err = {0};
        if (ft_kv_batch(kv, ops, (size_t)n, &err) != FT_OK)
            fail_msg("fill: %s", err.msg);
        done += n;
    }
}

/* EXPLAIN of the list statement, custom and generic plan, both ways. */
static void check_plans(PGconn *c, bool collate_c, const char *index)
{
    for (int generic = 0; generic < 2; generic++)
        for (int reverse = 0; reverse < 2; reverse++) {
            char sql[1024], plan[4096] = "";
            ft_kv__postgres_list_sql("\"plan_t\"", collate_c, reverse, sql, sizeof sql);
            char prep[1200];
            snprintf(prep, sizeof prep, "PREPARE l%d%d(text[], text[], int8) AS %s",
                     generic, reverse, sql);
            PQclear(q(c, prep));
            PQclear(q(c, generic ? "SET plan_cache_mode = force_generic_plan"
                                 : "SET plan_cache_mode = force_custom_plan"));
            char ex[300];
            snprintf(ex, sizeof ex,
                     "EXPLAIN (COSTS OFF) EXECUTE l%d%d('{fedify,traces,trace00123}', %s, 100)",
                     generic, reverse,
                     reverse ? "'{fedify,traces,trace00123,NULL}'" : "'{}'");
            PGresult *r = q(c, ex);
            for (int i = 0; i < PQntuples(r); i++) {
                strncat(plan, PQgetvalue(r, i, 0), sizeof plan - strlen(plan) - 2);
                strcat(plan, "\n");
            }
            PQclear(r);
            printf("-- %s plan, %s, %s:\n%s", generic ? "generic" : "custom",
                   reverse ? "reverse" : "forward",
                   collate_c ? "key COLLATE \"C\"" : "key", plan);
            if (strstr(plan, "Seq Scan") != NULL || strstr(plan, "Index") == NULL ||
                strstr(plan, index) == NULL)
                fail_msg("the list statement is not an index scan on %s:\n%s", index, plan);
        }
    PQclear(q(c, "RESET plan_cache_mode"));
}

static void list_index_on(const char *db, bool collate_c)
{
    ft_kv *kv = open_kv(db, "table=plan_t");
    fill(kv, 1000, 20);
    PGconn *c = raw(db);
    PQclear(q(c, "ANALYZE plan_t"));
    char buf[64];
    /* the "C" index exists exactly when the key column does not collate
     * bytewise */
    assert_string_equal(q1(c, "SELECT count(*) FROM pg_indexes WHERE tablename = 'plan_t'",
                           buf, sizeof buf),
                        collate_c ? "2" : "1");
    check_plans(c, collate_c, collate_c ? "plan_t_key_c" : "plan_t_pkey");
    /* and the answers are right */
    ft_arena *a = ft_arena_create(0);
    ft_kv_entry *e;
    size_t n;
    ft_err err = {0};
    ft_kv_list_opts rev = {true, NULL, 5};
    assert_int_equal(ft_kv_list(kv, K(S("fedify"), S("traces"), S("trace00123")), &rev, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 5);
    assert_true(ft_str_eq(e[0].key.parts[3], S("span00019")));
    ft_arena_destroy(a);
    PQfinish(c);
    ft_kv_close(kv);
}

static void test_list_index(void **state)
{
    (void)state;
    PGconn *c = raw("postgres");
    char buf[64];
    q1(c, "SELECT datcollate FROM pg_database WHERE datname = 'postgres'", buf, sizeof buf);
    bool c_default = strcmp(buf, "C") == 0 || strcmp(buf, "POSIX") == 0;
    PQclear(q(c, "CREATE DATABASE bytewise TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'"));
    PQfinish(c);
    list_index_on("postgres", !c_default);
    list_index_on("bytewise", false);
}

/* In a database that collates by ICU's rules, listing is still in byte
 * order ("B" < "_" < "a"; ICU says "_" < "a" < "B"). */
static void test_list_icu_order(void **state)
{
    (void)state;
    PGconn *c = raw("postgres");
    PGresult *r = PQexec(c, "CREATE DATABASE icu TEMPLATE template0 ENCODING 'UTF8' "
                            "LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    if (!ok) {
        printf("no ICU in this PostgreSQL: skipping the ICU order check\n");
        return;
    }
    ft_kv *kv = open_kv("icu", "table=icu_t");
    set_ok(kv, K(S("a")), S("1"), 0);
    set_ok(kv, K(S("B")), S("2"), 0);
    set_ok(kv, K(S("_")), S("3"), 0);
    set_ok(kv, K(S("a"), S("x")), S("4"), 0);
    set_ok(kv, K(S("\xc3\xa9")), S("5"), 0);
    ft_arena *a = ft_arena_create(0);
    ft_kv_entry *e;
    size_t n;
    ft_err err = {0};
    ft_kv_key all = {NULL, 0};
    assert_int_equal(ft_kv_list(kv, all, NULL, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 5);
    static const char *const order[] = {"B", "_", "a", "a", "\xc3\xa9"};
    for (size_t i = 0; i < n; i++)
        assert_true(ft_str_eq(e[i].key.parts[0], ft_str_c(order[i])));
    assert_int_equal(e[3].key.n, 2);
    ft_kv_key after = K(S("_"));
    ft_kv_list_opts o = {false, &after, 2};
    assert_int_equal(ft_kv_list(kv, all, &o, a, &e, &n, &err), FT_OK);
    assert_int_equal(n, 2);
    assert_true(ft_str_eq(e[0].key.parts[0], S("a")));
    ft_arena_destroy(a);
    ft_kv_close(kv);
}

/* ---- expiry ---- */

static void test_sweep(void **state)
{
    (void)state;
    ft_kv *kv = open_kv("postgres", "table=sweep_t");
    PGconn *c = raw("postgres");
    char buf[64], name[16];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "e%02d", i);
        set_ok(kv, K(S("x"), ft_str_c(name)), S("1"), 200);
    }
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "k%02d", i);
        set_ok(kv, K(S("x"), ft_str_c(name)), S("2"), 0);
    }
    usleep(500000);
    /* expired: invisible, but writes do not purge them */
    set_ok(kv, K(S("x"), S("late")), S("3"), 0);
    expect_kv_value(kv, K(S("x"), S("e00")), NULL, 0);
    assert_string_equal(q1(c, "SELECT count(*) FROM sweep_t", buf, sizeof buf), "61");
    ft_err err = {0};
    size_t removed = 0;
    assert_int_equal(ft_kv_sweep(kv, 7, &removed, &err), FT_OK);
    assert_int_equal(removed, 7);
    assert_string_equal(q1(c, "SELECT count(*) FROM sweep_t", buf, sizeof buf), "54");
    assert_int_equal(ft_kv_sweep(kv, 0, &removed, &err), FT_OK);
    assert_int_equal(removed, 43);
    assert_int_equal(ft_kv_sweep(kv, 0, &removed, &err), FT_OK);
    assert_int_equal(removed, 0);
    assert_string_equal(q1(c, "SELECT count(*) FROM sweep_t", buf, sizeof buf), "11");
    ft_kv_stats st;
    assert_int_equal(ft_kv_stats_get(kv, &st, &err), FT_OK);
    /* an estimate (reltuples), or a count while the table was never analyzed */
    assert_true(st.entries > 0 && st.entries <= 61);
    assert_true(st.bytes_used > 0);
    assert_int_equal(st.bytes_max, 0);
    PQfinish(c);
    ft_kv_close(kv);
}

/* ---- CAS under contention ---- */

typedef struct ctr_arg {
    int rounds, conflicts;
    const char *err;
} ctr_arg;

static void *ctr_thread(void *p)
{
    ctr_arg *a = p;
    char url[600];
    url_for(url, sizeof url, "postgres", "table=cas_t");
    ft_kv *kv;
    ft_err err = {0};
    if (ft_kv_open(url, &kv, &err) != FT_OK) {
        a->err = "open";
        return NULL;
    }
    ft_arena *ar = ft_arena_create(0);
    for (int i = 0; i < a->rounds && a->err == NULL; i++) {
        for (;;) {
            ft_arena_reset(ar);
            ft_str cur;
            ft_code rc = ft_kv_get(kv, K(S("ctr")), ar, &cur, &err);
            long n = 0;
            if (rc == FT_OK) {
                /* jsonb prints it as {"n": N} */
                char *s = ft_arena_strndup(ar, cur.ptr, cur.len);
                if (sscanf(s, "{\"n\": %ld}", &n) != 1) {
                    a->err = "bad counter value";
                    break;
                }
            } else if (rc != FT_NOTFOUND) {
                a->err = "get";
                break;
            }
            char next[64];
            snprintf(next, sizeof next, "{\"n\":%ld}", n + 1);
            rc = ft_kv_cas(kv, K(S("ctr")), rc == FT_OK ? &cur : NULL,
                           &(ft_str){next, strlen(next)}, 0, &err);
            if (rc == FT_OK)
                break;
            if (rc != FT_CONFLICT) {
                a->err = "cas";
                break;
            }
            a->conflicts++;
        }
    }
    ft_arena_destroy(ar);
    ft_kv_close(kv);
    return NULL;
}

static void test_cas_contention(void **state)
{
    (void)state;
    enum { T = 8, R = 150 };
    ft_kv *kv = open_kv("postgres", "table=cas_t");
    pthread_t th[T];
    ctr_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (ctr_arg){R, 0, NULL};
        pthread_create(&th[i], NULL, ctr_thread, &args[i]);
    }
    int conflicts = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        if (args[i].err)
            fail_msg("thread %d: %s", i, args[i].err);
        conflicts += args[i].conflicts;
    }
    char want[32];
    snprintf(want, sizeof want, "{\"n\": %d}", T * R);
    expect_kv_value(kv, K(S("ctr")), want, strlen(want));
    printf("cas: %d increments by %d threads, %d conflicts retried\n", T * R, T, conflicts);
    ft_kv_close(kv);
}

/* ---- batches ---- */

typedef struct pair_arg {
    volatile int stop;
    int checks, torn;
    const char *err;
} pair_arg;

static void *pair_reader(void *p)
{
    pair_arg *a = p;
    char url[600];
    url_for(url, sizeof url, "postgres", "table=batch_t");
    ft_kv *kv;
    ft_err err = {0};
    if (ft_kv_open(url, &kv, &err) != FT_OK) {
        a->err = "open";
        return NULL;
    }
    ft_arena *ar = ft_arena_create(0);
    while (!a->stop) {
        ft_arena_reset(ar);
        ft_kv_entry *e;
        size_t n;
        if (ft_kv_list(kv, K(S("pair")), NULL, ar, &e, &n, &err) != FT_OK) {
            a->err = "list";
            break;
        }
        if (n == 0)
            continue;
        a->checks++;
        if (n != 3 || !ft_str_eq(e[0].value, e[1].value) ||
            !ft_str_eq(e[1].value, e[2].value))
            a->torn++;
    }
    ft_arena_destroy(ar);
    ft_kv_close(kv);
    return NULL;
}

static void test_batch_atomic(void **state)
{
    (void)state;
    ft_kv *kv = open_kv("postgres", "table=batch_t");
    ft_err err = {0};
    /* a batch whose last op fails leaves nothing behind */
    size_t big = 12000;
    char *huge = malloc(big);
    unsigned seed = 7;
    for (size_t i = 0; i < big; i++) {
        seed = seed * 1103515245u + 12345u;
        huge[i] = (char)('a' + (seed >> 16) % 26);
    }
    ft_kv_op ops[3] = {
        {FT_KV_SET, K(S("b"), S("1")), S("1"), 0, false},
        {FT_KV_DELETE, K(S("b"), S("0")), {NULL, 0}, 0, false},
        {FT_KV_SET, K(S("b"), ((ft_str){huge, big})), S("3"), 0, false},
    };
    set_ok(kv, K(S("b"), S("0")), S("0"), 0);
    ft_code rc = ft_kv_batch(kv, ops, 3, &err);
    assert_int_not_equal(rc, FT_OK);
    printf("batch with an oversized key: %s: %s\n", ft_code_name(rc), err.msg);
    free(huge);
    expect_kv_value(kv, K(S("b"), S("1")), NULL, 0);
    EXPECT(kv, K(S("b"), S("0")), "0");
    /* the connection is fine afterwards */
    assert_int_equal(ft_kv_batch(kv, ops, 2, &err), FT_OK);
    EXPECT(kv, K(S("b"), S("1")), "1");

    /* readers never see half a batch */
    pair_arg pa = {0, 0, 0, NULL};
    pthread_t th;
    pthread_create(&th, NULL, pair_reader, &pa);
    for (int i = 0; i < 400; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        ft_str vs = ft_str_c(v);
        ft_kv_op pair[3] = {{FT_KV_SET, K(S("pair"), S("a")), vs, 0, false},
                            {FT_KV_SET, K(S("pair"), S("b")), vs, 0, false},
                            {FT_KV_SET, K(S("pair"), S("c")), vs, 0, false}};
        if (ft_kv_batch(kv, pair, 3, &err) != FT_OK)
            fail_msg("batch: %s", err.msg);
    }
    pa.stop = 1;
    pthread_join(th, NULL);
    if (pa.err)
        fail_msg("reader: %s", pa.err);
    printf("batch: %d consistent reads during 400 batches\n", pa.checks);
    assert_int_equal(pa.torn, 0);
    assert_true(pa.checks > 0);
    ft_kv_close(kv);
}

/* ---- outage ---- */

static void test_reconnect(void **state)
{
    (void)state;
    ft_kv *kv = open_kv("postgres", "table=outage_t");
    set_ok(kv, K(S("k")), S("before"), 0);
    ft_test_server_kill(&pg);
    ft_arena *a = ft_arena_create(0);
    ft_err err = {0};
    ft_str v;
    ft_code rc = FT_OK;
    /* the server's backends go away with it: soon every call fails */
    for (int i = 0; i < 100 && rc == FT_OK; i++) {
        rc = ft_kv_get(kv, K(S("k")), a, &v, &err);
        if (rc == FT_OK)
            usleep(50000);
    }
    assert_int_equal(rc, FT_BACKEND);
    printf("while down: %s\n", err.msg);
    for (int i = 0; i < 5; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(ft_kv_set(kv, K(S("k")), S("x"), 0, &err), FT_BACKEND);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_true(t1.tv_sec - t0.tv_sec < 3);
        usleep(100000);
    }
    printf("while down, later: %s\n", err.msg);
    assert_int_equal(ft_test_server_restart(&pg), 0);
    rc = FT_BACKEND;
    for (int i = 0; i < 200 && rc == FT_BACKEND; i++) {
        ft_arena_reset(a);
        rc = ft_kv_get(kv, K(S("k")), a, &v, &err);
        if (rc == FT_BACKEND)
            usleep(50000);
    }
    /* back, and the table is logged: what was stored is still there */
    if (rc != FT_OK)
        fail_msg("after restart: %s %s", ft_code_name(rc), err.msg);
    assert_true(ft_str_eq(v, S("before")));
    set_ok(kv, K(S("k")), S("after"), 0);
    EXPECT(kv, K(S("k")), "after");
    ft_arena_destroy(a);
    ft_kv_close(kv);
}

int main(void)
{
    int rc = ft_test_pg_start(&pg);
    if (rc != 0)
        return rc < 0 ? 1 : 0;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fedify_layout),
        cmocka_unit_test(test_compressible_frames),
        cmocka_unit_test(test_open_options),
        cmocka_unit_test(test_list_index),
        cmocka_unit_test(test_list_icu_order),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_cas_contention),
        cmocka_unit_test(test_batch_atomic),
        cmocka_unit_test(test_reconnect),
    };
    int failed = cmocka_run_group_tests_name("kv postgres", tests, NULL, NULL);
    ft_test_server_stop(&pg);
    return failed ? 1 : 0;
}
