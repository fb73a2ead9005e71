/*
 * http/auth.h - the dashboard's login: credentials, signed session
 * cookies, and slowing down repeated failed logins.
 *
 * A session cookie is "EXPIRY.NONCE.MAC": EXPIRY in seconds since the
 * epoch, NONCE 16 random hex digits, MAC the HMAC-SHA256 (hex) of
 * "EXPIRY.NONCE" under a key derived from the server's secret and the
 * configured user name and password, so that changing the password ends
 * every session.  Nodes that share a secret (and the credentials) accept
 * each other's cookies.  Logout revokes the nonce on the node that
 * served it until the cookie expires.
 *
 * Failed logins are counted per client address: from the third one on,
 * the client must wait 1 s, 2 s, 4 s ... (at most 5 minutes) before the
 * next attempt is even checked; a success clears the count.  Across all
 * clients, more than 100 failures a minute slow everyone down the same
 * way, so that many addresses do not buy many guesses.
 *
 * Thread-safe.
 */
#ifndef FT_HTTP_AUTH_H
#define FT_HTTP_AUTH_H

#include "fedtrace/common.h"

typedef enum ft_auth_mode {
    FT_AUTH_NONE = 0,
    FT_AUTH_PASSWORD,  /* one password */
    FT_AUTH_USER,      /* a user name and a password */
    FT_AUTH_TOKEN,     /* the API token, typed into the login form */
} ft_auth_mode;

typedef struct ft_auth_opts {
    const char *user;      /* NULL/"": password mode (when password set) */
    const char *password;  /* NULL/"": no login (mode none) */
    bool password_is_token; /* no user: the password is the API token */
    const char *secret;    /* NULL/"": random, sessions end at restart */
    int64_t session_ttl_ms; /* 0: 12 hours */
} ft_auth_opts;

typedef struct ft_auth ft_auth;

enum { FT_AUTH_COOKIE_MAX = 128 };

ft_code ft_auth_create(const ft_auth_opts *opts, ft_auth **out, ft_err *err);
void ft_auth_destroy(ft_auth *a); /* NULL is a no-op */
ft_auth_mode ft_auth_mode_of(const ft_auth *a);
const char *ft_auth_user(const ft_auth *a); /* NULL unless FT_AUTH_USER */
int64_t ft_auth_session_ttl_ms(const ft_auth *a);

/* Whether user and password are the configured ones; without a user the
 * user is ignored.  Takes the same time however close a guess is. */
bool ft_auth_check(const ft_auth *a, const char *user, const char *password);

/* A new session cookie value, valid until now + ttl. */
bool ft_auth_issue(ft_auth *a, int64_t now_ms, char out[FT_AUTH_COOKIE_MAX]);
/* Whether value is a cookie this configuration issued, unexpired and not
 * revoked. */
bool ft_auth_verify(ft_auth *a, const char *value, int64_t now_ms);
/* Ends the session of a valid cookie value (logout). */
void ft_auth_revoke(ft_auth *a, const char *value, int64_t now_ms);

/* 0 when `client` may try to log in now, else the ms to wait. */
int64_t ft_auth_wait_ms(ft_auth *a, const char *client, int64_t now_ms);
void ft_auth_failed(ft_auth *a, const char *client, int64_t now_ms);
void ft_auth_succeeded(ft_auth *a, const char *client);

/* The value of field `name` in an application/x-www-form-urlencoded body
 * (NUL-terminated), decoded ('+' and %XX) into out, cut to cap - 1 bytes;
 * false when the field is absent (out is then ""). */
bool ft_form_value(const char *body, const char *name, char *out, size_t cap);

#endif
