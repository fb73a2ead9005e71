/* auth.c - login, session cookies, failed-login slowdown; see auth.h. */
#include "http/auth.h"

#include "core/sha256.h"
#include "fedtrace/span.h" /* ft_hex_encode */

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MAX_CLIENTS 512
#define MAX_REVOKED 1024
#define FREE_FAILURES 2          /* failures before waiting starts */
#define MAX_WAIT_MS (5 * 60 * 1000)
#define GLOBAL_PER_MINUTE 100

typedef struct client {
    char addr[64];
    unsigned failures;
    int64_t next_ms; /* no attempt before this */
    int64_t last_ms;
} client;

typedef struct revoked {
    char nonce[17];
    int64_t until_ms;
} revoked;

struct ft_auth {
    ft_auth_mode mode;
    char *user, *password;
    uint8_t key[32]; /* MAC key: secret + credentials */
    int64_t ttl_ms;
    pthread_mutex_t mu;
    client clients[MAX_CLIENTS];
    size_t n_clients;
    revoked revoked[MAX_REVOKED];
    size_t n_revoked;
    /* all clients together: failures in the current minute */
    int64_t global_minute;
    unsigned global_failures;
    client global;
};

static bool random_bytes(void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = getrandom(b, n, 0);
        if (r <= 0)
            return false;
        b += r;
        n -= (size_t)r;
    }
    return true;
}

ft_code ft_auth_create(const ft_auth_opts *o, ft_auth **out, ft_err *err)
{
    *out = NULL;
    ft_auth *a = ft_calloc(1, sizeof *a);
    if (a == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "auth: out of memory");
    pthread_mutex_init(&a->mu, NULL);
    bool pw = o != NULL && o->password != NULL && *o->password;
    bool user = pw && o->user != NULL && *o->user;
    a->mode = user                          ? FT_AUTH_USER
              : pw && o->password_is_token ? FT_AUTH_TOKEN
              : pw                          ? FT_AUTH_PASSWORD
                                            : FT_AUTH_NONE;
    a->user = strdup(user ? o->user : "");
    a->password = strdup(pw ? o->password : "");
    a->ttl_ms = o != NULL && o->session_ttl_ms > 0 ? o->session_ttl_ms : 12 * 3600 * 1000;
    uint8_t secret[32];
    size_t secret_len = 32;
    const uint8_t *sp = secret;
    if (o != NULL && o->secret != NULL && *o->secret) {
        sp = (const uint8_t *)o->secret;
        secret_len = strlen(o->secret);
    } else if (!random_bytes(secret, sizeof secret)) {
        ft_auth_destroy(a);
        return ft_err_set(err, FT_IO, 0, "auth: no random bytes for the session secret");
    }
    /* key = HMAC(secret, "fedtrace session\0" user "\0" password) */
    size_t ul = strlen(a->user), pl = strlen(a->password);
    size_t ml = 17 + ul + 1 + pl;
    char *m = malloc(ml);
    if (a->user == NULL || a->password == NULL || m == NULL) {
        free(m);
        ft_auth_destroy(a);
        return ft_err_set(err, FT_NOMEM, 0, "auth: out of memory");
    }
    memcpy(m, "fedtrace session", 17);
    memcpy(m + 17, a->user, ul);
    m[17 + ul] = '\0';
    memcpy(m + 18 + ul, a->password, pl);
    ft_hmac_sha256(sp, secret_len, m, ml, a->key);
    memset(m, 0, ml);
    free(m);
    memset(secret, 0, sizeof secret);
    *out = a;
    return FT_OK;
}

void ft_auth_destroy(ft_auth *a)
{
    if (a == NULL)
        return;
    if (a->password)
        memset(a->password, 0, strlen(a->password));
    free(a->user);
    free(a->password);
    pthread_mutex_destroy(&a->mu);
    memset(a->key, 0, sizeof a->key);
    ft_free(a);
}

ft_auth_mode ft_auth_mode_of(const ft_auth *a)
{
    return a ? a->mode : FT_AUTH_NONE;
}

const char *ft_auth_user(const ft_auth *a)
{
    return a && a->mode == FT_AUTH_USER ? a->user : NULL;
}

int64_t ft_auth_session_ttl_ms(const ft_auth *a)
{
    return a->ttl_ms;
}

bool ft_auth_check(const ft_auth *a, const char *user, const char *password)
{
    if (a->mode == FT_AUTH_NONE)
        return true;
    const char *p = password ? password : "";
    bool ok = ft_ct_equal(p, strlen(p), a->password, strlen(a->password));
    if (a->mode == FT_AUTH_USER) {
        const char *u = user ? user : "";
        /* both compared, always: no early exit that times the user name */
        ok &= ft_ct_equal(u, strlen(u), a->user, strlen(a->user));
    }
    return ok;
}

static void mac_hex(const ft_auth *a, const char *msg, size_t n, char out[65])
{
    uint8_t mac[32];
    ft_hmac_sha256(a->key, sizeof a->key, msg, n, mac);
    ft_hex_encode(mac, 32, out);
}

bool ft_auth_issue(ft_auth *a, int64_t now_ms, char out[FT_AUTH_COOKIE_MAX])
{
    uint8_t nonce[8];
    if (!random_bytes(nonce, sizeof nonce))
        return false;
    char nh[17];
    ft_hex_encode(nonce, 8, nh);
    int n = snprintf(out, FT_AUTH_COOKIE_MAX, "%lld.%s",
                     (long long)((now_ms + a->ttl_ms) / 1000), nh);
    char mac[65];
    mac_hex(a, out, (size_t)n, mac);
    snprintf(out + n, FT_AUTH_COOKIE_MAX - (size_t)n, ".%s", mac);
    return true;
}

/* Splits and checks the MAC and expiry; the nonce goes to nonce_out. */
static bool cookie_valid(const ft_auth *a, const char *v, int64_t now_ms,
                         char nonce_out[17])
{
    if (v == NULL)
        return false;
    size_t n = strlen(v);
    const char *dot2 = n > 65 ? v + n - 65 : NULL;
    if (dot2 == NULL || *dot2 != '.' || n >= FT_AUTH_COOKIE_MAX)
        return false;
    const char *dot1 = memchr(v, '.', (size_t)(dot2 - v));
    if (dot1 == NULL || dot2 - dot1 != 17 || dot1 == v)
        return false;
    char want[65];
    mac_hex(a, v, (size_t)(dot2 - v), want);
    if (!ft_ct_equal(dot2 + 1, 64, want, 64))
        return false;
    long long exp = strtoll(v, NULL, 10);
    if ((int64_t)exp * 1000 <= now_ms)
        return false;
    memcpy(nonce_out, dot1 + 1, 16);
    nonce_out[16] = '\0';
    return true;
}

bool ft_auth_verify(ft_auth *a, const char *value, int64_t now_ms)
{
    char nonce[17];
    if (!cookie_valid(a, value, now_ms, nonce))
        return false;
    bool ok = true;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->n_revoked && ok; i++)
        ok = strcmp(a->revoked[i].nonce, nonce) != 0 || a->revoked[i].until_ms <= now_ms;
    pthread_mutex_unlock(&a->mu);
    return ok;
}

void ft_auth_revoke(ft_auth *a, const char *value, int64_t now_ms)
{
    char nonce[17];
    if (!cookie_valid(a, value, now_ms, nonce))
        return;
    int64_t until = (int64_t)strtoll(value, NULL, 10) * 1000;
    pthread_mutex_lock(&a->mu);
    /* drop what has expired; when full, the entry closest to expiry goes */
    size_t w = 0;
    for (size_t i = 0; i < a->n_revoked; i++)
        if (a->revoked[i].until_ms > now_ms)
            a->revoked[w++] = a->revoked[i];
    a->n_revoked = w;
    size_t at = a->n_revoked;
    if (at == MAX_REVOKED) {
        at = 0;
        for (size_t i = 1; i < MAX_REVOKED; i++)
            if (a->revoked[i].until_ms < a->revoked[at].until_ms)
                at = i;
    } else {
        a->n_revoked++;
    }
    memcpy(a->revoked[at].nonce, nonce, 17);
    a->revoked[at].until_ms = until;
    pthread_mutex_unlock(&a->mu);
}

/* The table entry of a client; NULL when absent and !create.  A full
 * table gives up the entry idle longest. */
static client *client_of(ft_auth *a, const char *addr, bool create, int64_t now_ms)
{
    for (size_t i = 0; i < a->n_clients; i++)
        if (strcmp(a->clients[i].addr, addr) == 0)
            return &a->clients[i];
    if (!create)
        return NULL;
    client *c;
    if (a->n_clients < MAX_CLIENTS) {
        c = &a->clients[a->n_clients++];
    } else {
        c = &a->clients[0];
        for (size_t i = 1; i < MAX_CLIENTS; i++)
            if (a->clients[i].last_ms < c->last_ms)
                c = &a->clients[i];
    }
    memset(c, 0, sizeof *c);
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    c->last_ms = now_ms;
    return c;
}

static int64_t backoff_ms(unsigned failures)
{
    if (failures <= FREE_FAILURES)
        return 0;
    unsigned k = failures - FREE_FAILURES - 1;
    return k >= 9 ? MAX_WAIT_MS : (int64_t)1000 << k < MAX_WAIT_MS ? (int64_t)1000 << k : MAX_WAIT_MS;
}

int64_t ft_auth_wait_ms(ft_auth *a, const char *addr, int64_t now_ms)
{
    pthread_mutex_lock(&a->mu);
    int64_t wait = 0;
    client *c = client_of(a, addr, false, now_ms);
    if (c != NULL && c->next_ms > now_ms)
        wait = c->next_ms - now_ms;
    if (a->global.next_ms > now_ms && a->global.next_ms - now_ms > wait)
        wait = a->global.next_ms - now_ms;
    pthread_mutex_unlock(&a->mu);
    return wait;
}

void ft_auth_failed(ft_auth *a, const char *addr, int64_t now_ms)
{
    pthread_mutex_lock(&a->mu);
    client *c = client_of(a, addr, true, now_ms);
    c->failures++;
    c->last_ms = now_ms;
    c->next_ms = now_ms + backoff_ms(c->failures);
    if (now_ms / 60000 != a->global_minute) {
        a->global_minute = now_ms / 60000;
        a->global_failures = 0;
    }
    if (++a->global_failures > GLOBAL_PER_MINUTE) {
        a->global.failures++;
        a->global.next_ms = now_ms + backoff_ms(a->global.failures + FREE_FAILURES);
    } else {
        a->global.failures = 0;
    }
    pthread_mutex_unlock(&a->mu);
}

void ft_auth_succeeded(ft_auth *a, const char *addr)
{
    pthread_mutex_lock(&a->mu);
    client *c = client_of(a, addr, false, 0);
    if (c != NULL) {
        c->failures = 0;
        c->next_ms = 0;
    }
    pthread_mutex_unlock(&a->mu);
}

/* Decodes '+' and %XX in place. */
static void form_decode(char *s)
{
    char *w = s;
    for (char *p = s; *p; p++) {
        if (*p == '+') {
            *w++ = ' ';
        } else if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
}

bool ft_form_value(const char *body, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (cap > 0)
        out[0] = '\0';
    for (const char *p = body; p != NULL && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, nl) != 0 || p[nl] != '=')
            continue;
        const char *v = p + nl + 1;
        size_t n = strcspn(v, "&");
        if (cap == 0)
            return true;
        if (n >= cap)
            n = cap - 1;
        memcpy(out, v, n);
        out[n] = '\0';
        form_decode(out);
        return true;
    }
    return false;
}
