/*
 * ui.c - the UI listener of `fedtrace serve`: the dashboard (web/, built
 * into the binary), login and logout, the JSON API, the live event stream,
 * /healthz and /metrics.
 *
 * Everything lives under the base path (--base-path, "/" by default).
 * Access: /healthz, the login page and the static assets are open; the
 * dashboard's pages need a session when a password is set; the API and
 * /metrics need a session or the API token (--api-token), or nothing when
 * neither a password nor a token is set.
 *
 * The listener runs a thread per connection: an event-stream reader waits
 * in ft_events_next, which is simplest and cheap at dashboard scale.
 */
#include "app/server_int.h"
#include "app/web_assets.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COOKIE "fedtrace_session"
#define FORM_MAX 4096
#define SSE_KEEPALIVE_MS 15000

/* Pages may run the dashboard's own script and style, and nothing else. */
static const char k_page_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/* Per request: the form body of a POST. */
typedef struct ui_req {
    char body[FORM_MAX + 1];
    size_t len;
    bool too_big;
} ui_req;

/* ---- answers ---- */

enum MHD_Result ft_srv_json_error(struct MHD_Connection *c, int status,
                                  const char *message, unsigned retry_after)
{
    ft_buf b = {0};
    ft_buf_puts(&b, "{\"error\":");
    ft_json_cstr(&b, message);
    ft_buf_printf(&b, ",\"status\":%d}", status);
    enum MHD_Result r =
        ft_buf_ok(&b) ? ft_srv_respond(c, status, "application/json", b.ptr, b.len, retry_after,
                                       status == 405 ? "GET, HEAD" : NULL,
                                       status == 401 ? "Bearer realm=\"fedtrace api\"" : NULL)
                      : MHD_NO;
    ft_buf_free(&b);
    return r;
}

static enum MHD_Result json_ok(struct MHD_Connection *c, const char *p, size_t n,
                               const char *next_cursor, const char *disposition)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(n, (void *)(uintptr_t)p, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    ft_srv_security_headers(r);
    if (next_cursor != NULL)
        MHD_add_response_header(r, "X-Next-Cursor", next_cursor);
    if (disposition != NULL)
        MHD_add_response_header(r, "Content-Disposition", disposition);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* A JSON array of stored JSON texts. */
static enum MHD_Result json_texts(struct MHD_Connection *c, const ft_str *v, size_t n)
{
    ft_buf b = {0};
    ft_buf_putc(&b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            ft_buf_putc(&b, ',');
        ft_buf_put(&b, v[i].ptr, v[i].len);
    }
    ft_buf_putc(&b, ']');
    enum MHD_Result r = ft_buf_ok(&b) ? json_ok(c, b.ptr, b.len, NULL, NULL) : MHD_NO;
    ft_buf_free(&b);
    return r;
}

/* An HTML page or a redirect, with the page policy and optional cookie. */
static enum MHD_Result page(struct MHD_Connection *c, int status, const char *ctype,
                            const void *body, size_t len, const char *location,
                            const char *set_cookie, unsigned retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    if (ctype != NULL)
        MHD_add_response_header(r, "Content-Type", ctype);
    ft_srv_headers(r, k_page_csp);
    if (location != NULL)
        MHD_add_response_header(r, "Location", location);
    if (set_cookie != NULL)
        MHD_add_response_header(r, "Set-Cookie", set_cookie);
    if (retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", retry_after);
        MHD_add_response_header(r, "Retry-After", ra);
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result redirect(struct MHD_Connection *c, const char *to,
                                const char *set_cookie)
{
    return page(c, 303, "text/plain", "", 0, to, set_cookie, 0);
}

static void html_escape(ft_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': ft_buf_puts(b, "&lt;"); break;
        case '>': ft_buf_puts(b, "&gt;"); break;
        case '&': ft_buf_puts(b, "&amp;"); break;
        case '"': ft_buf_puts(b, "&quot;"); break;
        case '\'': ft_buf_puts(b, "&#39;"); break;
        default: ft_buf_putc(b, *s);
        }
    }
}

/* Copies an asset, replacing each {{NAME}} by its value (names[i] ->
 * values[i], values already safe HTML); unknown names stay as they are. */
static void render(ft_buf *b, const ft_web_asset *a, const char *const *names,
                   const char *const *values, size_t n)
{
    const char *p = (const char *)a->data, *end = p + a->len;
    while (p < end) {
        const char *open = ft_memfind(p, (size_t)(end - p), "{{", 2);
        if (open == NULL)
            break;
        ft_buf_put(b, p, (size_t)(open - p));
        const char *close = ft_memfind(open + 2, (size_t)(end - open - 2), "}}", 2);
        size_t i = 0;
        for (; close != NULL && i < n; i++)
            if (strlen(names[i]) == (size_t)(close - open - 2) &&
                memcmp(open + 2, names[i], (size_t)(close - open - 2)) == 0)
                break;
        if (close == NULL || i == n) {
            ft_buf_put(b, open, 2);
            p = open + 2;
            continue;
        }
        ft_buf_puts(b, values[i]);
        p = close + 2;
    }
    ft_buf_put(b, p, (size_t)(end - p));
}

static enum MHD_Result asset(ft_server *s, struct MHD_Connection *c, const char *name,
                             int status)
{
    const ft_web_asset *a = ft_web_asset_find(name);
    if (a == NULL)
        return ft_srv_json_error(c, 404, "not found", 0);
    if (strstr(a->ctype, "text/html") == NULL)
        return page(c, status, a->ctype, a->data, a->len, NULL, NULL, 0);
    ft_buf b = {0};
    const char *names[] = {"BASE"}, *values[] = {s->base};
    render(&b, a, names, values, 1);
    enum MHD_Result r = ft_buf_ok(&b) ? page(c, status, a->ctype, b.ptr, b.len, NULL, NULL, 0)
                                      : MHD_NO;
    ft_buf_free(&b);
    return r;
}

/* ---- sessions ---- */

static bool over_tls(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_PROTOCOL);
    if (ci != NULL && ci->protocol != 0)
        return true;
    /* behind a TLS-terminating proxy */
    const char *fp = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Proto");
    return fp != NULL && strcasecmp(fp, "https") == 0;
}

static bool session_ok(ft_server *s, struct MHD_Connection *c)
{
    if (ft_auth_mode_of(s->auth) == FT_AUTH_NONE)
        return false;
    const char *v = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
    return v != NULL && ft_auth_verify(s->auth, v, ft_now_ms());
}

static bool has_token(const ft_server *s)
{
    return s->o.api_token != NULL && *s->o.api_token;
}

/* The API: the token, a session, or nothing when neither is configured. */
static bool api_allowed(ft_server *s, struct MHD_Connection *c)
{
    if (has_token(s) && ft_srv_bearer_ok(c, s->o.api_token))
        return true;
    if (ft_auth_mode_of(s->auth) != FT_AUTH_NONE)
        return session_ok(s, c);
    return !has_token(s);
}

static bool pages_allowed(ft_server *s, struct MHD_Connection *c)
{
    return ft_auth_mode_of(s->auth) == FT_AUTH_NONE || session_ok(s, c);
}

/* The client's address, for counting failed logins. */
static void client_addr(struct MHD_Connection *c, char out[64])
{
    snprintf(out, 64, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, 64);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, 64);
}

/* A path inside the base to return to after login; the base otherwise. */
static const char *safe_next(ft_server *s, const char *next)
{
    if (next == NULL || strncmp(next, s->base, s->base_len) != 0 ||
        next[s->base_len] == '/' || next[s->base_len] == '\\' || strlen(next) > 1024)
        return s->base;
    for (const char *p = next; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("/_.-~?=&%+:,", *p) == NULL)
            return s->base;
    return next;
}

static enum MHD_Result login_page(ft_server *s, struct MHD_Connection *c, int status,
                                  const char *message, const char *next,
                                  unsigned retry_after)
{
    const ft_web_asset *a = ft_web_asset_find("login.html");
    if (a == NULL)
        return ft_srv_json_error(c, 500, "the login page is missing from this build", 0);
    ft_buf user = {0}, msg = {0}, nx = {0}, b = {0};
    if (ft_auth_mode_of(s->auth) == FT_AUTH_USER)
        ft_buf_puts(&user, "<label for=\"user\">User name</label>"
                           "<input id=\"user\" name=\"user\" autocomplete=\"username\" "
                           "autocapitalize=\"none\" spellcheck=\"false\" autofocus required>");
    if (message != NULL) {
        ft_buf_puts(&msg, "<p class=\"error\" role=\"alert\" data-testid=\"login-error\">");
        html_escape(&msg, message);
        ft_buf_puts(&msg, "</p>");
    }
    html_escape(&nx, safe_next(s, next));
    const char *names[] = {"BASE", "USER_FIELD", "MESSAGE", "NEXT", "PASSWORD_LABEL"};
    const char *values[] = {s->base, ft_buf_cstr(&user), ft_buf_cstr(&msg), ft_buf_cstr(&nx),
                            ft_auth_mode_of(s->auth) == FT_AUTH_TOKEN ? "API token" : "Password"};
    bool ok = values[1] && values[2] && values[3];
    if (ok)
        render(&b, a, names, values, 5);
    enum MHD_Result r = ok && ft_buf_ok(&b)
                            ? page(c, status, a->ctype, b.ptr, b.len, NULL, NULL, retry_after)
                            : MHD_NO;
    ft_buf_free(&user);
    ft_buf_free(&msg);
    ft_buf_free(&nx);
    ft_buf_free(&b);
    return r;
}

/* A cross-site POST (a form on another site) is refused: the browser
 * names the page's origin, which must be this host. */
static bool same_origin(struct MHD_Connection *c)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (origin == NULL || strcmp(origin, "null") == 0) {
        const char *site = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
        return site == NULL || strcmp(site, "same-origin") == 0 || strcmp(site, "none") == 0;
    }
    const char *o = strstr(origin, "://");
    return o != NULL && host != NULL && strcasecmp(o + 3, host) == 0;
}

static void cookie_header(ft_server *s, struct MHD_Connection *c, const char *value,
                          long long max_age, char *out, size_t cap)
{
    snprintf(out, cap, COOKIE "=%s; Path=%s; Max-Age=%lld; HttpOnly; SameSite=Strict%s", value,
             s->base, max_age, over_tls(c) ? "; Secure" : "");
}

static enum MHD_Result login_post(ft_server *s, struct MHD_Connection *c, ui_req *q)
{
    char user[256] = "", password[1024] = "", next[1100] = "";
    q->body[q->len] = '\0';
    ft_form_value(q->body, "user", user, sizeof user);
    ft_form_value(q->body, "password", password, sizeof password);
    ft_form_value(q->body, "next", next, sizeof next);
    if (!same_origin(c))
        return ft_srv_json_error(c, 403, "cross-site login refused", 0);
    if (q->too_big)
        return login_page(s, c, 413, "That form was too large.", next, 0);
    char addr[64];
    client_addr(c, addr);
    int64_t now = ft_now_ms();
    int64_t wait = ft_auth_wait_ms(s->auth, addr, now);
    if (wait > 0) {
        char m[128];
        unsigned secs = (unsigned)((wait + 999) / 1000);
        snprintf(m, sizeof m, "Too many failed attempts: try again in %u s.", secs);
        memset(password, 0, sizeof password);
        return login_page(s, c, 429, m, next, secs);
    }
    bool ok = ft_auth_check(s->auth, user, password);
    memset(password, 0, sizeof password);
    if (!ok) {
        ft_auth_failed(s->auth, addr, now);
        ft_logf("failed login from %s", addr);
        ft_auth_mode mode = ft_auth_mode_of(s->auth);
        const char *m = mode == FT_AUTH_USER    ? "Wrong user name or password."
                        : mode == FT_AUTH_TOKEN ? "Wrong API token."
                                                : "Wrong password.";
        return login_page(s, c, 401, m, next, 0);
    }
    ft_auth_succeeded(s->auth, addr);
    char value[FT_AUTH_COOKIE_MAX], hdr[FT_AUTH_COOKIE_MAX + 512];
    if (!ft_auth_issue(s->auth, now, value))
        return ft_srv_json_error(c, 500, "cannot create a session", 0);
    cookie_header(s, c, value, (long long)(ft_auth_session_ttl_ms(s->auth) / 1000), hdr,
                  sizeof hdr);
    return redirect(c, safe_next(s, next), hdr);
}

static enum MHD_Result logout_post(ft_server *s, struct MHD_Connection *c)
{
    if (!same_origin(c))
        return ft_srv_json_error(c, 403, "cross-site logout refused", 0);
    const char *v = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, COOKIE);
    if (v != NULL)
        ft_auth_revoke(s->auth, v, ft_now_ms());
    char hdr[512], to[300];
    cookie_header(s, c, "", 0, hdr, sizeof hdr);
    snprintf(to, sizeof to, "%slogin", s->base);
    return redirect(c, to, hdr);
}

/* ---- the API ---- */

/* Lower-cases a 32-hex-digit trace id in place; false when it is not one. */
static bool trace_id_ok(char *id, size_t n)
{
    if (n != 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)id[i]))
            return false;
        id[i] = (char)tolower((unsigned char)id[i]);
    }
    return true;
}

/* Filter parameters of the query string, copied into an arena. */
typedef struct query {
    ft_arena *arena;
    ft_trace_filter filter;
    const char *limit, *cursor;
    bool allow_paging;
    ft_err err;
    bool bad;
} query;

static enum MHD_Result query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    (void)kind;
    query *q = cls;
    if (q->bad)
        return MHD_NO;
    char *v = ft_arena_strndup(q->arena, value ? value : "", value ? strlen(value) : 0);
    if (v == NULL) {
        q->bad = true;
        ft_err_set(&q->err, FT_NOMEM, 0, "out of memory");
        return MHD_NO;
    }
    if (q->allow_paging && strcmp(key, "limit") == 0) {
        q->limit = v;
    } else if (q->allow_paging && strcmp(key, "cursor") == 0) {
        q->cursor = *v ? v : NULL;
    } else {
        ft_code rc = ft_trace_filter_set(&q->filter, key, v, &q->err);
        if (rc == FT_NOTFOUND)
            ft_err_set(&q->err, FT_INVAL, 0,
                       "unknown parameter \"%.64s\"; filters: type, direction, actor, host, "
                       "verification, service, error, since, until%s",
                       key, q->allow_paging ? "; paging: limit, cursor" : "");
        q->bad = rc != FT_OK;
    }
    return q->bad ? MHD_NO : MHD_YES;
}

static bool parse_query(struct MHD_Connection *c, query *q)
{
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_arg, q);
    return !q->bad;
}

static enum MHD_Result store_error(ft_server *s, struct MHD_Connection *c, ft_code rc,
                                   const ft_err *err)
{
    bool down = rc != FT_NOMEM && rc != FT_CORRUPT && rc != FT_INVAL;
    if (down)
        ft_srv_store_outcome(s, rc, err);
    if (rc == FT_INVAL)
        return ft_srv_json_error(c, 400, err->msg, 0);
    char msg[600];
    snprintf(msg, sizeof msg, "%s: %s", down ? "the store is not available" : "cannot read the trace",
             err->msg);
    return ft_srv_json_error(c, down ? 503 : 500, msg, down ? FT_RETRY_AFTER_S : 0);
}

static enum MHD_Result api_traces(ft_server *s, struct MHD_Connection *c, worker *w,
                                  ft_arena *a)
{
    query q = {.arena = a, .allow_paging = true};
    if (!parse_query(c, &q))
        return q.err.code == FT_NOMEM ? MHD_NO : ft_srv_json_error(c, 400, q.err.msg, 0);
    char *end = NULL;
    unsigned long limit = q.limit ? strtoul(q.limit, &end, 10) : 20;
    if (q.limit != NULL && (*q.limit == '\0' || *end != '\0' || limit == 0 || limit > 1000))
        return ft_srv_json_error(c, 400, "limit must be a whole number from 1 to 1000", 0);
    ft_recent_opts ro = {.limit = limit, .cursor = q.cursor, .filter = &q.filter};
    ft_trace_summary *sum;
    size_t n;
    char *next;
    ft_str json;
    ft_err err = {0};
    ft_code rc = ft_exporter_recent_traces(w->ex, &ro, a, &sum, &n, &next, &err);
    if (rc == FT_OK)
        rc = ft_trace_summaries_json(sum, n, a, &json, &err);
    if (rc != FT_OK)
        return store_error(s, c, rc, &err);
    return json_ok(c, json.ptr, json.len, next, NULL);
}

/* /api/traces/{id}, /api/traces/{id}/spans, /api/traces/{id}/otlp,
 * /api/logs/{id} */
static enum MHD_Result api_trace(ft_server *s, struct MHD_Connection *c, worker *w,
                                 ft_arena *a, const char *path)
{
    char id[64] = {0};
    const char *rest;
    enum { RECORDS, SPANS, OTLP, LINKED, LOGS } what;
    if (strncmp(path, "api/logs/", 9) == 0) {
        rest = path + 9;
        what = LOGS;
    } else {
        rest = path + 11; /* "api/traces/" */
        what = RECORDS;
    }
    size_t idl = strcspn(rest, "/");
    if (what == RECORDS && strcmp(rest + idl, "/spans") == 0)
        what = SPANS;
    else if (what == RECORDS && strcmp(rest + idl, "/otlp") == 0)
        what = OTLP;
    else if (what == RECORDS && strcmp(rest + idl, "/linked") == 0)
        what = LINKED;
    else if (rest[idl] != '\0')
        return ft_srv_json_error(c, 404, "no such API endpoint", 0);
    if (idl >= sizeof id || (memcpy(id, rest, idl), !trace_id_ok(id, idl)))
        return ft_srv_json_error(c, 400, "a trace id is 32 hexadecimal digits", 0);
    ft_str *v;
    size_t n;
    ft_err err = {0};
    ft_code rc;
    if (what == LINKED) {
        ft_str json;
        rc = ft_exporter_linked_json(w->ex, id, a, &json, &err);
        return rc == FT_OK ? json_ok(c, json.ptr, json.len, NULL, NULL) : store_error(s, c, rc, &err);
    }
    if (what == OTLP) {
        ft_str json;
        rc = ft_exporter_trace_otlp_json(w->ex, id, a, &json, &n, &err);
        if (rc != FT_OK)
            return store_error(s, c, rc, &err);
        if (n == 0)
            return ft_srv_json_error(c, 404, "no spans of this trace are stored", 0);
        char disp[160];
        snprintf(disp, sizeof disp, "attachment; filename=\"trace-%s.json\"", id);
        return json_ok(c, json.ptr, json.len, NULL, disp);
    }
    rc = what == RECORDS ? ft_exporter_activities(w->ex, id, a, &v, &n, &err)
         : what == SPANS ? ft_exporter_spans(w->ex, id, a, &v, &n, &err)
                         : ft_exporter_logs(w->ex, id, a, &v, &n, &err);
    if (rc != FT_OK)
        return store_error(s, c, rc, &err);
    return json_texts(c, v, n);
}

/* /api/services, /api/services/{name}, /api/map, /api/slow-queries */
static enum MHD_Result api_services(ft_server *s, struct MHD_Connection *c, worker *w,
                                    ft_arena *a, const char *path)
{
    ft_services_query q = {0};
    ft_services_what what;
    char *name = NULL;
    if (strcmp(path, "api/services") == 0) {
        what = FT_Q_SERVICES;
    } else if (strncmp(path, "api/services/", 13) == 0 && path[13] != '\0') {
        what = FT_Q_SERVICE;
        /* MHD has decoded %XX already; service names may hold '/' */
        name = ft_arena_strndup(a, path + 13, strlen(path + 13));
        q.service = name;
    } else if (strcmp(path, "api/map") == 0) {
        what = FT_Q_MAP;
    } else if (strcmp(path, "api/slow-queries") == 0) {
        what = FT_Q_SLOW_QUERIES;
        q.service = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "service");
        if (q.service != NULL && *q.service == '\0')
            q.service = NULL;
        const char *ls = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
        char *end = NULL;
        unsigned long limit = ls ? strtoul(ls, &end, 10) : 20;
        if (ls != NULL && (*ls == '\0' || *end != '\0' || limit == 0 || limit > 1000))
            return ft_srv_json_error(c, 400, "limit must be a whole number from 1 to 1000", 0);
        q.limit = limit;
    } else {
        return ft_srv_json_error(c, 404, "no such API endpoint", 0);
    }
    ft_trace_filter f = {0};
    ft_err err = {0};
    const char *since = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    const char *until = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "until");
    if ((since != NULL && ft_trace_filter_set(&f, "since", since, &err) != FT_OK) ||
        (until != NULL && ft_trace_filter_set(&f, "until", until, &err) != FT_OK))
        return ft_srv_json_error(c, 400, err.msg, 0);
    q.since_ms = f.since_ms;
    q.until_ms = f.until_ms;
    ft_str json;
    ft_code rc = ft_services_json(w->kv, what, &q, a, &json, &err);
    if (rc == FT_NOTFOUND)
        return ft_srv_json_error(c, 404, err.msg, 0);
    if (rc != FT_OK)
        return store_error(s, c, rc, &err);
    return json_ok(c, json.ptr, json.len, NULL, NULL);
}

/* The API routes that need the store. */
static enum MHD_Result api_store(ft_server *s, struct MHD_Connection *c, const char *path)
{
    worker *w;
    ft_err err = {0};
    ft_code rc = ft_srv_worker_get(s, &w, &err);
    if (rc != FT_OK) {
        ft_srv_store_outcome(s, rc, &err);
        char msg[600];
        snprintf(msg, sizeof msg, "the store is not available: %s", err.msg);
        return ft_srv_json_error(c, 503, msg, FT_RETRY_AFTER_S);
    }
    ft_arena *a = ft_arena_create(0);
    enum MHD_Result ret = MHD_NO;
    bool services = strncmp(path, "api/services", 12) == 0 || strcmp(path, "api/map") == 0 ||
                    strcmp(path, "api/slow-queries") == 0;
    if (a != NULL)
        ret = services                          ? api_services(s, c, w, a, path)
              : strcmp(path, "api/traces") == 0 ? api_traces(s, c, w, a)
                                                : api_trace(s, c, w, a, path);
    ft_arena_destroy(a);
    ft_srv_worker_put(s, w);
    return ret;
}

static enum MHD_Result api_session(ft_server *s, struct MHD_Connection *c)
{
    static const char *const modes[] = {"none", "password", "user", "token"};
    ft_buf b = {0};
    ft_buf_printf(&b, "{\"mode\":\"%s\",\"user\":", modes[ft_auth_mode_of(s->auth)]);
    const char *u = ft_auth_user(s->auth);
    if (u != NULL)
        ft_json_cstr(&b, u);
    else
        ft_buf_puts(&b, "null");
    ft_buf_putc(&b, '}');
    enum MHD_Result r = ft_buf_ok(&b) ? json_ok(c, b.ptr, b.len, NULL, NULL) : MHD_NO;
    ft_buf_free(&b);
    return r;
}

/* ---- the event stream ---- */

typedef struct sse {
    ft_server *s;
    ft_arena *arena; /* the filter's strings */
    ft_trace_filter filter;
    uint64_t seq;
    ft_buf out;
    size_t off;
    bool hello;
} sse;

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sse *x = cls;
    while (x->off == x->out.len) {
        ft_buf_reset(&x->out);
        x->off = 0;
        if (!x->hello) {
            /* sent at once, so that the client knows it is connected */
            ft_buf_puts(&x->out, "retry: 2000\n: connected\n\n");
            x->hello = true;
            break;
        }
        ft_code rc = ft_events_next(x->s->events, &x->seq, &x->filter, SSE_KEEPALIVE_MS, &x->out);
        if (rc == FT_CLOSED)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (rc == FT_AGAIN)
            ft_buf_puts(&x->out, ": keep-alive\n\n");
        if (!ft_buf_ok(&x->out))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = x->out.len - x->off < max ? x->out.len - x->off : max;
    memcpy(buf, x->out.ptr + x->off, n);
    x->off += n;
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    sse *x = cls;
    ft_events_unsubscribe(x->s->events);
    ft_buf_free(&x->out);
    ft_arena_destroy(x->arena);
    ft_free(x);
}

static enum MHD_Result api_events(ft_server *s, struct MHD_Connection *c)
{
    sse *x = ft_calloc(1, sizeof *x);
    if (x == NULL || (x->arena = ft_arena_create(0)) == NULL) {
        ft_free(x);
        return MHD_NO;
    }
    x->s = s;
    query q = {.arena = x->arena, .allow_paging = true}; /* limit, cursor: ignored */
    if (!parse_query(c, &q)) {
        ft_arena_destroy(x->arena);
        ft_free(x);
        return q.err.code == FT_NOMEM ? MHD_NO : ft_srv_json_error(c, 400, q.err.msg, 0);
    }
    x->filter = q.filter;
    ft_events_subscribe(s->events,
                        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID"),
                        &x->seq);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, x, sse_free);
    if (r == NULL) {
        sse_free(x);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    ft_srv_security_headers(r);
    MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* nginx: do not hold events */
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static ft_code events_poll(void *ctx, size_t limit, ft_arena *arena, ft_trace_summary **out,
                           size_t *n, ft_err *err)
{
    ft_server *s = ctx;
    worker *w;
    ft_code rc = ft_srv_worker_get(s, &w, err);
    if (rc != FT_OK)
        return rc;
    ft_recent_opts ro = {.limit = limit};
    char *next;
    rc = ft_exporter_recent_traces(w->ex, &ro, arena, out, n, &next, err);
    ft_srv_worker_put(s, w);
    return rc;
}

void ft_srv_ui_stored(ft_server *s)
{
    ft_events_kick(s->events);
}

/* ---- routing ---- */

static bool is_trace_page(const char *path)
{
    if (strncmp(path, "traces/", 7) != 0 || strlen(path + 7) != 32)
        return false;
    return strspn(path + 7, "0123456789abcdefABCDEF") == 32;
}

static enum MHD_Result route(ft_server *s, struct MHD_Connection *c, const char *url,
                             const char *method, ui_req *q)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    /* the base without its slash: send browsers to the real one */
    if (s->base_len > 1 && strlen(url) == s->base_len - 1 &&
        strncmp(url, s->base, s->base_len - 1) == 0)
        return redirect(c, s->base, NULL);
    if (strncmp(url, s->base, s->base_len) != 0)
        return ft_srv_json_error(c, 404, "not found", 0);
    const char *path = url + s->base_len; /* no leading '/' */

    if (strcmp(path, "healthz") == 0) {
        if (!get)
            return ft_srv_json_error(c, 405, "method not allowed; use GET", 0);
        bool down = atomic_load(&s->store_failing);
        const char *body = down ? "{\"status\":\"store failing\"}\n" : "{\"status\":\"ok\"}\n";
        return ft_srv_respond(c, down ? 503 : 200, "application/json", body, strlen(body),
                              down ? FT_RETRY_AFTER_S : 0, NULL, NULL);
    }
    if (strncmp(path, "assets/", 7) == 0) {
        if (!get)
            return ft_srv_json_error(c, 405, "method not allowed; use GET", 0);
        const char *name = path + 7;
        if (strchr(name, '/') != NULL || strstr(name, ".html") != NULL)
            return ft_srv_json_error(c, 404, "not found", 0);
        return asset(s, c, name, 200);
    }
    if (strcmp(path, "login") == 0) {
        if (ft_auth_mode_of(s->auth) == FT_AUTH_NONE)
            return redirect(c, s->base, NULL);
        if (post)
            return login_post(s, c, q);
        if (!get)
            return ft_srv_json_error(c, 405, "method not allowed; use GET or POST", 0);
        return login_page(s, c, 200, NULL,
                          MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "next"), 0);
    }
    if (strcmp(path, "logout") == 0) {
        if (!post)
            return ft_srv_json_error(c, 405, "method not allowed; use POST", 0);
        return logout_post(s, c);
    }
    bool api = strcmp(path, "metrics") == 0 || strcmp(path, "api") == 0 ||
               strncmp(path, "api/", 4) == 0;
    if (api) {
        if (!api_allowed(s, c))
            return ft_srv_json_error(c, 401,
                                     ft_auth_mode_of(s->auth) != FT_AUTH_NONE
                                         ? "log in, or send \"Authorization: Bearer <token>\""
                                         : "this API needs \"Authorization: Bearer <token>\"",
                                     0);
        if (!get)
            return ft_srv_json_error(c, 405, "method not allowed; use GET", 0);
        if (strcmp(path, "metrics") == 0) {
            ft_buf b = {0};
            ft_srv_metrics_text(s, &b);
            enum MHD_Result r = ft_buf_ok(&b) ? ft_srv_respond(c, 200, "text/plain; version=0.0.4",
                                                               b.ptr, b.len, 0, NULL, NULL)
                                              : MHD_NO;
            ft_buf_free(&b);
            return r;
        }
        if (strcmp(path, "api/session") == 0)
            return api_session(s, c);
        if (strcmp(path, "api/events") == 0)
            return api_events(s, c);
        if (strcmp(path, "api/traces") == 0 || strncmp(path, "api/traces/", 11) == 0 ||
            strncmp(path, "api/logs/", 9) == 0 || strcmp(path, "api/services") == 0 ||
            strncmp(path, "api/services/", 13) == 0 || strcmp(path, "api/map") == 0 ||
            strcmp(path, "api/slow-queries") == 0)
            return api_store(s, c, path);
        return ft_srv_json_error(c, 404, "no such API endpoint", 0);
    }
    if (*path == '\0' || is_trace_page(path) || strcmp(path, "services") == 0 ||
        (strncmp(path, "services/", 9) == 0 && path[9] != '\0') || strcmp(path, "map") == 0) {
        if (!get)
            return ft_srv_json_error(c, 405, "method not allowed; use GET", 0);
        if (!pages_allowed(s, c)) {
            ft_buf to = {0};
            ft_buf_printf(&to, "%slogin?next=", s->base);
            /* the path is checked again when used; escape what a URL needs */
            for (const char *p = url; *p; p++)
                ft_buf_printf(&to, isalnum((unsigned char)*p) || strchr("/_.-", *p) ? "%c" : "%%%02X",
                              (unsigned char)*p);
            const char *loc = ft_buf_cstr(&to);
            enum MHD_Result r = loc ? redirect(c, loc, NULL) : MHD_NO;
            ft_buf_free(&to);
            return r;
        }
        return asset(s, c, "index.html", 200);
    }
    return ft_srv_json_error(c, 404, "not found", 0);
}

enum MHD_Result ft_srv_ui_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)version;
    ft_server *s = cls;
    ui_req *q = *con_cls;
    if (q == NULL) {
        if ((q = ft_calloc(1, sizeof *q)) == NULL)
            return MHD_NO;
        *con_cls = q; /* headers seen; the body (a login form) follows */
        return MHD_YES;
    }
    if (*upload_size != 0) {
        size_t n = *upload_size;
        if (q->len + n > FORM_MAX)
            q->too_big = true;
        else
            memcpy(q->body + q->len, upload, n), q->len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&s->m.api_requests, 1);
    return route(s, c, url, method, q);
}

void ft_srv_ui_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    ui_req *q = *con_cls;
    if (q != NULL)
        memset(q->body, 0, q->len); /* it may hold a password */
    ft_free(q);
    *con_cls = NULL;
}

/* ---- life cycle ---- */

ft_code ft_srv_ui_init(ft_server *s, ft_err *err)
{
    const char *bp = s->o.base_path && *s->o.base_path ? s->o.base_path : "/";
    size_t n = strlen(bp);
    bool ok = bp[0] == '/' && n + 2 < sizeof s->base && strstr(bp, "//") == NULL &&
              strstr(bp, "/../") == NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)bp[i]) || strchr("/_.-~", bp[i]) != NULL;
    if (!ok)
        return ft_err_set(err, FT_INVAL, 0,
                          "--base-path \"%s\" must start with '/' and hold only letters, digits "
                          "and / _ . - ~",
                          bp);
    snprintf(s->base, sizeof s->base, "%s%s", bp, bp[n - 1] == '/' ? "" : "/");
    s->base_len = strlen(s->base);
    bool pw = s->o.ui_password != NULL && *s->o.ui_password;
    if (s->o.ui_user != NULL && *s->o.ui_user && !pw)
        return ft_err_set(err, FT_INVAL, 0, "--ui-user needs --ui-password");
    /* With only an API token, the login form takes the token: the pages
     * are never open while the API is closed. */
    ft_auth_opts ao = {.user = s->o.ui_user,
                       .password = pw ? s->o.ui_password : s->o.api_token,
                       .password_is_token = !pw,
                       .secret = s->o.session_secret,
                       .session_ttl_ms = s->o.session_ttl_ms};
    ft_code rc = ft_auth_create(&ao, &s->auth, err);
    if (rc == FT_OK)
        rc = ft_events_create(events_poll, s, 1000, &s->events, err);
    return rc;
}

void ft_srv_ui_close(ft_server *s)
{
    ft_events_close(s->events);
}

void ft_srv_ui_fini(ft_server *s)
{
    ft_events_destroy(s->events);
    s->events = NULL;
    ft_auth_destroy(s->auth);
    s->auth = NULL;
}
