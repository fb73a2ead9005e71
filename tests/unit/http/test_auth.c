/*
 * test_auth.c - SHA-256 / HMAC against published vectors, session cookies,
 * the failed-login slowdown, and the live event hub.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/sha256.h"
#include "fedtrace/span.h"
#include "http/auth.h"
#include "http/events.h"

static void hex_of(const uint8_t d[32], char out[65])
{
    ft_hex_encode(d, 32, out);
}

static void test_sha256_vectors(void **state)
{
    (void)state;
    uint8_t d[32];
    char h[65];
    ft_sha256("", 0, d);
    hex_of(d, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ft_sha256("abc", 3, d);
    hex_of(d, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ft_sha256(two, strlen(two), d);
    hex_of(d, h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* a million 'a's, fed in uneven pieces */
    ft_sha256_ctx c;
    ft_sha256_init(&c);
    char as[997];
    memset(as, 'a', sizeof as);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof as ? left : sizeof as;
        ft_sha256_update(&c, as, n);
        left -= n;
    }
    ft_sha256_final(&c, d);
    hex_of(d, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* RFC 4231 test cases 2 and 6 (a key longer than a block) */
    const char *msg = "what do ya want for nothing?";
    ft_hmac_sha256("Jefe", 4, msg, strlen(msg), d);
    hex_of(d, h);
    assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    uint8_t key[131];
    memset(key, 0xaa, sizeof key);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    ft_hmac_sha256(key, sizeof key, m6, strlen(m6), d);
    hex_of(d, h);
    assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static ft_auth *make(const char *user, const char *pw, const char *secret)
{
    ft_auth_opts o = {.user = user, .password = pw, .secret = secret, .session_ttl_ms = 3600 * 1000};
    ft_auth *a;
    assert_int_equal(ft_auth_create(&o, &a, NULL), FT_OK);
    return a;
}

static void test_credentials_and_cookies(void **state)
{
    (void)state;
    ft_auth *none = make(NULL, NULL, NULL);
    assert_int_equal(ft_auth_mode_of(none), FT_AUTH_NONE);
    ft_auth_destroy(none);

    ft_auth *a = make("alice", "pw", "s3cret");
    assert_int_equal(ft_auth_mode_of(a), FT_AUTH_USER);
    assert_string_equal(ft_auth_user(a), "alice");
    assert_true(ft_auth_check(a, "alice", "pw"));
    assert_false(ft_auth_check(a, "alice", "pW"));
    assert_false(ft_auth_check(a, "alice", "pw "));
    assert_false(ft_auth_check(a, "bob", "pw"));
    assert_false(ft_auth_check(a, NULL, NULL));
    ft_auth *p = make(NULL, "pw", "s3cret");
    assert_int_equal(ft_auth_mode_of(p), FT_AUTH_PASSWORD);
    assert_null(ft_auth_user(p));
    assert_true(ft_auth_check(p, "anyone", "pw"));
    /* token mode: the API token is the one secret; its cookies are its own */
    ft_auth_opts to = {.password = "tok", .password_is_token = true, .secret = "s3cret",
                       .session_ttl_ms = 3600 * 1000};
    ft_auth *tk;
    assert_int_equal(ft_auth_create(&to, &tk, NULL), FT_OK);
    assert_int_equal(ft_auth_mode_of(tk), FT_AUTH_TOKEN);
    assert_null(ft_auth_user(tk));
    assert_true(ft_auth_check(tk, NULL, "tok"));
    assert_false(ft_auth_check(tk, NULL, "to"));
    assert_false(ft_auth_check(tk, NULL, "pw"));

    int64_t now = 1795700000000;
    char c[FT_AUTH_COOKIE_MAX], c2[FT_AUTH_COOKIE_MAX];
    assert_true(ft_auth_issue(a, now, c));
    assert_true(ft_auth_issue(a, now, c2));
    assert_string_not_equal(c, c2); /* a fresh nonce each time */
    assert_true(ft_auth_verify(a, c, now));
    assert_true(ft_auth_verify(a, c, now + 3599 * 1000));
    assert_false(ft_auth_verify(a, c, now + 3600 * 1000)); /* expired */
    /* every single-character change is refused */
    for (size_t i = 0; c[i]; i++) {
        char t[FT_AUTH_COOKIE_MAX];
        strcpy(t, c);
        t[i] = t[i] == '1' ? '2' : '1';
        if (ft_auth_verify(a, t, now))
            fail_msg("cookie with character %zu changed still verifies", i);
    }
    assert_false(ft_auth_verify(a, "", now));
    assert_false(ft_auth_verify(a, NULL, now));
    assert_false(ft_auth_verify(a, "1.2.3", now));
    /* another configuration does not accept it: other password, user, secret */
    ft_auth *b1 = make("alice", "pw2", "s3cret"), *b2 = make("bob", "pw", "s3cret"),
            *b3 = make("alice", "pw", "other"), *same = make("alice", "pw", "s3cret");
    assert_false(ft_auth_verify(b1, c, now));
    assert_false(ft_auth_verify(b2, c, now));
    assert_false(ft_auth_verify(b3, c, now));
    assert_false(ft_auth_verify(p, c, now));
    assert_false(ft_auth_verify(tk, c, now));
    char ct[FT_AUTH_COOKIE_MAX];
    assert_true(ft_auth_issue(tk, now, ct));
    assert_true(ft_auth_verify(tk, ct, now));
    assert_false(ft_auth_verify(a, ct, now));
    ft_auth_destroy(tk);
    assert_true(ft_auth_verify(same, c, now)); /* a node sharing the secret */
    /* logout revokes this cookie only */
    ft_auth_revoke(a, c, now);
    assert_false(ft_auth_verify(a, c, now));
    assert_true(ft_auth_verify(a, c2, now));
    ft_auth_destroy(b1);
    ft_auth_destroy(b2);
    ft_auth_destroy(b3);
    ft_auth_destroy(same);
    ft_auth_destroy(p);

    /* without a secret: random per process, so two never agree */
    ft_auth *r1 = make(NULL, "pw", NULL), *r2 = make(NULL, "pw", NULL);
    assert_true(ft_auth_issue(r1, now, c));
    assert_true(ft_auth_verify(r1, c, now));
    assert_false(ft_auth_verify(r2, c, now));
    ft_auth_destroy(r1);
    ft_auth_destroy(r2);
    ft_auth_destroy(a);
}

static void test_failed_logins_slowed(void **state)
{
    (void)state;
    ft_auth *a = make(NULL, "pw", "x");
    int64_t t = 1000000;
    assert_int_equal(ft_auth_wait_ms(a, "10.0.0.1", t), 0);
    ft_auth_failed(a, "10.0.0.1", t);
    ft_auth_failed(a, "10.0.0.1", t);
    assert_int_equal(ft_auth_wait_ms(a, "10.0.0.1", t), 0); /* two are free */
    ft_auth_failed(a, "10.0.0.1", t);
    assert_int_equal(ft_auth_wait_ms(a, "10.0.0.1", t), 1000);
    assert_int_equal(ft_auth_wait_ms(a, "10.0.0.1", t + 400), 600);
    assert_int_equal(ft_auth_wait_ms(a, "10.0.0.2", t), 0); /* others are not slowed */
    ft_auth_failed(a, "10.0.0.1", t + 1000);
    assert_int_equal(ft_auth_wait_ms(a, "10.0.0.1", t + 1000), 2000);
    ft_auth_failed(a, "10.0.0.1", t + 3000);
    assert_int_equal(ft_auth_wait_ms(a, "10.0.0.1", t + 3000), 4000);
    for (int i = 0; i < 20; i++)
        ft_auth_failed(a, "10.0.0.1", t + 10000);
    assert_int_equal(ft_auth_wait_ms(a, "10.0.0.1", t + 10000), 5 * 60 * 1000); /* capped */
    ft_auth_succeeded(a, "10.0.0.1");
    assert_int_equal(ft_auth_wait_ms(a, "10.0.0.1", t + 10000), 0);
    /* many addresses: past 100 failures a minute, everyone waits */
    char addr[32];
    int64_t t2 = 600000000;
    for (int i = 0; i < 101; i++) {
        snprintf(addr, sizeof addr, "192.0.2.%d", i);
        ft_auth_failed(a, addr, t2);
    }
    assert_true(ft_auth_wait_ms(a, "198.51.100.7", t2) > 0);
    assert_int_equal(ft_auth_wait_ms(a, "198.51.100.7", t2 + 120000), 0);
    ft_auth_destroy(a);
}

/* ---- the event hub, fed by a poll function the test controls ---- */

typedef struct feed {
    pthread_mutex_t mu;
    ft_trace_summary s[4];
    size_t n;
    int polls;
} feed;

static ft_code feed_poll(void *ctx, size_t limit, ft_arena *arena, ft_trace_summary **out,
                         size_t *n, ft_err *err)
{
    (void)limit;
    (void)err;
    feed *f = ctx;
    pthread_mutex_lock(&f->mu);
    f->polls++;
    *out = ft_arena_alloc(arena, sizeof f->s);
    for (size_t i = 0; i < f->n; i++)
        ft_trace_summary_copy(&(*out)[i], &f->s[i], arena);
    *n = f->n;
    pthread_mutex_unlock(&f->mu);
    return FT_OK;
}

static ft_str k_svc_a[] = {FT_STR_LIT("a")}, k_svc_b[] = {FT_STR_LIT("b")};

/* Newest first, as ft_exporter_recent_traces lists them. */
static void feed_set(feed *f, size_t i, char id, size_t count, ft_str *svc)
{
    pthread_mutex_lock(&f->mu);
    ft_trace_summary *s = &f->s[i];
    memset(s, 0, sizeof *s);
    memset(s->trace_id, id, 32);
    strcpy(s->timestamp, "2026-11-26T12:00:00.000Z");
    s->activity_count = count;
    s->services = svc;
    s->n_services = 1;
    if (i + 1 > f->n)
        f->n = i + 1;
    pthread_mutex_unlock(&f->mu);
}

static void test_event_hub(void **state)
{
    (void)state;
    feed f = {.mu = PTHREAD_MUTEX_INITIALIZER};
    feed_set(&f, 0, '1', 1, k_svc_a);
    ft_events *h;
    assert_int_equal(ft_events_create(feed_poll, &f, 50, &h, NULL), FT_OK);
    uint64_t seq;
    ft_events_subscribe(h, NULL, &seq); /* learns trace 1: not news */
    assert_int_equal(seq, 0);
    ft_buf b = {0};
    assert_int_equal(ft_events_next(h, &seq, NULL, 200, &b), FT_AGAIN);
    assert_int_equal(b.len, 0);
    /* a new trace (b), and a change to trace 1 */
    feed_set(&f, 0, '2', 1, k_svc_b);
    feed_set(&f, 1, '1', 2, k_svc_a);
    ft_events_kick(h);
    assert_int_equal(ft_events_next(h, &seq, NULL, 5000, &b), FT_OK);
    assert_non_null(strstr(ft_buf_cstr(&b), "\"activityCount\":2")); /* oldest first */
    assert_non_null(strstr(b.ptr, "id: 1\nevent: trace\ndata: {\"traceId\":\"1111"));
    ft_buf_reset(&b);
    assert_int_equal(ft_events_next(h, &seq, NULL, 5000, &b), FT_OK);
    assert_non_null(strstr(ft_buf_cstr(&b), "\"traceId\":\"2222"));
    assert_int_equal(seq, 2);
    ft_buf_reset(&b);
    /* nothing changed: polls bring no events */
    assert_int_equal(ft_events_next(h, &seq, NULL, 300, &b), FT_AGAIN);
    /* a reader resuming from event 1 gets event 2 again; a filter skips */
    uint64_t s2;
    ft_events_subscribe(h, "1", &s2);
    assert_int_equal(s2, 1);
    assert_int_equal(ft_events_next(h, &s2, NULL, 1000, &b), FT_OK);
    assert_non_null(strstr(ft_buf_cstr(&b), "id: 2\n"));
    ft_buf_reset(&b);
    uint64_t s3;
    ft_events_subscribe(h, "0", &s3); /* from before event 1: all that is kept */
    assert_int_equal(s3, 0);
    ft_trace_filter only_b = {.service = "b"};
    assert_int_equal(ft_events_next(h, &s3, &only_b, 1000, &b), FT_OK);
    assert_non_null(strstr(ft_buf_cstr(&b), "\"traceId\":\"2222"));
    ft_buf_reset(&b);
    assert_int_equal(ft_events_count(h), 2);
    assert_int_equal(ft_events_subscribers(h), 3);
    /* close: waiting readers leave at once */
    ft_events_close(h);
    assert_int_equal(ft_events_next(h, &seq, NULL, 10000, &b), FT_CLOSED);
    ft_events_unsubscribe(h);
    ft_events_unsubscribe(h);
    ft_events_unsubscribe(h);
    ft_events_destroy(h);
    ft_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_credentials_and_cookies),
        cmocka_unit_test(test_failed_logins_slowed),
        cmocka_unit_test(test_event_hub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
