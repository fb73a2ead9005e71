/*
 * cli_api.c - the CLI's client for a running server's JSON API (libcurl).
 */
#include "app/cli_api.h"

#include "app/app.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define API_BODY_MAX ((size_t)1 << 30) /* largest answer accepted */
#define API_ERROR_MAX ((size_t)64 << 10) /* kept of an error answer */
#define SSE_EVENT_MAX ((size_t)16 << 20) /* largest event or line */

struct ft_api {
    CURL *h; /* for plain GETs; kept for keep-alive */
    char *base;  /* with a trailing slash */
    char *shown; /* base without user info */
    char *auth;  /* "Authorization: Bearer ..." or NULL */
    char *ca_file; /* PEM certificates to trust, or NULL */
};

static unsigned n_open; /* curl_global_init once while any handle is open */

bool ft_api_is_url(const char *url)
{
    return url != NULL &&
           (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
}

/* url without "user:password@" (malloc'd). */
static char *without_userinfo(const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    size_t auth_len = strcspn(host, "/?#");
    const char *at = memchr(host, '@', auth_len);
    if (at == NULL)
        return strdup(url);
    size_t pre = (size_t)(host - url);
    size_t rest = strlen(at + 1);
    char *out = malloc(pre + rest + 1);
    if (out != NULL) {
        memcpy(out, url, pre);
        memcpy(out + pre, at + 1, rest + 1);
    }
    return out;
}

ft_code ft_api_open(const char *base, const char *token, const char *ca_file,
                    ft_api **out, ft_err *err)
{
    *out = NULL;
    if (!ft_api_is_url(base))
        return ft_err_set(err, FT_INVAL, 0, "%s: an API URL starts with http:// or https://",
                          base ? base : "(null)");
    if (token != NULL && (strpbrk(token, "\r\n") != NULL || *token == '\0'))
        return ft_err_set(err, FT_INVAL, 0, "the API token is empty or has a line break");
    if (n_open == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ft_err_set(err, FT_IO, 0, "cannot initialise libcurl");
    n_open++;
    ft_api *a = calloc(1, sizeof *a);
    if (a == NULL) {
        ft_api_close(a);
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    }
    size_t n = strlen(base);
    bool slash = n > 0 && base[n - 1] == '/';
    a->base = malloc(n + 2);
    if (a->base != NULL)
        snprintf(a->base, n + 2, "%s%s", base, slash ? "" : "/");
    a->shown = a->base ? without_userinfo(a->base) : NULL;
    if (token != NULL) {
        size_t tl = strlen(token) + sizeof "Authorization: Bearer ";
        a->auth = malloc(tl);
        if (a->auth != NULL)
            snprintf(a->auth, tl, "Authorization: Bearer %s", token);
    }
    a->h = curl_easy_init();
    if (ca_file != NULL)
        a->ca_file = strdup(ca_file);
    if (a->base == NULL || a->shown == NULL || (token != NULL && a->auth == NULL) ||
        a->h == NULL || (ca_file != NULL && a->ca_file == NULL)) {
        ft_api_close(a);
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    }
    *out = a;
    return FT_OK;
}

void ft_api_close(ft_api *a)
{
    if (n_open == 0)
        return;
    if (a != NULL) {
        if (a->h != NULL)
            curl_easy_cleanup(a->h);
        free(a->base);
        free(a->shown);
        free(a->ca_file);
        free(a->auth);
        free(a);
    }
    if (--n_open == 0)
        curl_global_cleanup();
}

const char *ft_api_shown(const ft_api *a)
{
    return a->shown;
}

/* s percent-encoded: everything but the unreserved characters. */
static void put_encoded(ft_buf *b, const char *str)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *s = (const unsigned char *)str; s != NULL && *s; s++) {
        if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
            (*s >= '0' && *s <= '9') || strchr("-._~", *s) != NULL) {
            ft_buf_putc(b, (char)*s);
        } else {
            char e[3] = {'%', hex[*s >> 4], hex[*s & 15]};
            ft_buf_put(b, e, 3);
        }
    }
}

void ft_api_query_add(ft_buf *q, const char *name, const char *value)
{
    if (q->len > 0)
        ft_buf_putc(q, '&');
    put_encoded(q, name);
    ft_buf_putc(q, '=');
    put_encoded(q, value);
}

void ft_api_path_add(ft_buf *path, const char *segment)
{
    put_encoded(path, segment);
}

/* ---- one answer ---- */

typedef struct reply {
    ft_buf *body;
    size_t max;
    bool too_large;
    long status;       /* of the last status line */
    bool headers_done; /* the blank line after a final (>= 200) status's headers */
    char *next_cursor; /* X-Next-Cursor */
    char *content_type;
    char *location;
} reply;

static void reply_clear_headers(reply *r)
{
    free(r->next_cursor);
    free(r->content_type);
    free(r->location);
    r->next_cursor = r->content_type = r->location = NULL;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n;
    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        reply_clear_headers(r);
        const char *sp = memchr(p, ' ', len);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return size * n;
    }
    if (len == 0) {
        if (r->status >= 200)
            r->headers_done = true;
        return size * n;
    }
    static const char *const names[] = {"x-next-cursor", "content-type", "location"};
    char **slots[] = {&r->next_cursor, &r->content_type, &r->location};
    for (size_t i = 0; i < 3; i++) {
        size_t nl = strlen(names[i]);
        if (len > nl && p[nl] == ':' && strncasecmp(p, names[i], nl) == 0) {
            const char *v = p + nl + 1;
            const char *end = p + len;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            free(*slots[i]);
            *slots[i] = strndup(v, (size_t)(end - v));
        }
    }
    return size * n;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n;
    if (r->body->len + len > r->max) {
        r->too_large = true;
        return 0;
    }
    ft_buf_put(r->body, p, len);
    return ft_buf_ok(r->body) ? len : 0;
}

/* The error of an answer that is not 200: the API's {"error": "..."}, or
 * the first line of a text answer, or where a redirect points. */
static ft_code http_error(ft_err *err, const char *url, long status,
                          const ft_buf *body, const reply *r)
{
    char what[300] = "";
    json_t *j = body->len ? json_loadb(body->ptr, body->len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(j, "error"));
    if (msg != NULL) {
        snprintf(what, sizeof what, "%s", msg);
    } else if (status >= 300 && status < 400 && r->location != NULL) {
        snprintf(what, sizeof what, "redirected to %s (give that URL as --store)", r->location);
    } else if (body->len > 0 && (r->content_type == NULL ||
                                 strncasecmp(r->content_type, "text/plain", 10) == 0)) {
        size_t l = 0;
        while (l < body->len && l < sizeof what && body->ptr[l] != '\n' && body->ptr[l] != '\r')
            l++;
        snprintf(what, sizeof what, "%.*s", (int)l, body->ptr);
    }
    json_decref(j);
    ft_code code = status == 429 || status >= 500 ? FT_AGAIN : FT_BACKEND;
    return ft_err_set(err, code, (int)status, "GET %s: %s%s(HTTP %ld)", url, what,
                      *what ? " " : "", status);
}

static void common_opts(CURL *h, const char *url, const char *ca_file,
                        struct curl_slist *headers, reply *r, char *ebuf)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (ca_file != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_USERAGENT, "fedtrace/" FEDTRACE_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    ebuf[0] = '\0';
}

static char *join_url(const ft_api *a, const char *path)
{
    size_t n = strlen(a->base) + strlen(path) + 1;
    char *url = malloc(n);
    if (url != NULL)
        snprintf(url, n, "%s%s", a->base, path);
    return url;
}

/* The transfer failed before an answer: say why, in curl's words. */
static ft_code transfer_error(ft_err *err, const char *url, CURLcode cc,
                              const char *ebuf, bool too_large)
{
    if (too_large)
        return ft_err_set(err, FT_TOO_LARGE, 0, "GET %s: the answer is larger than %zu MiB",
                          url, API_BODY_MAX >> 20);
    return ft_err_set(err, FT_IO, (int)cc, "GET %s: %s%s%s", url, curl_easy_strerror(cc),
                      *ebuf ? ": " : "", ebuf);
}

ft_code ft_api_get(ft_api *a, const char *path, ft_buf *body,
                   char **next_cursor, ft_err *err)
{
    if (next_cursor != NULL)
        *next_cursor = NULL;
    ft_buf_reset(body);
    char *url = join_url(a, path), *shown = join_url(&(ft_api){.base = a->shown}, path);
    struct curl_slist *headers = curl_slist_append(NULL, "Accept: application/json");
    struct curl_slist *h2 = headers && a->auth ? curl_slist_append(headers, a->auth) : headers;
    if (url == NULL || shown == NULL || h2 == NULL) {
        free(url);
        free(shown);
        curl_slist_free_all(headers);
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    }
    headers = h2;
    reply r = {.body = body, .max = API_BODY_MAX};
    char ebuf[CURL_ERROR_SIZE];
    curl_easy_reset(a->h);
    common_opts(a->h, url, a->ca_file, headers, &r, ebuf);
    curl_easy_setopt(a->h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(a->h, CURLOPT_TIMEOUT, 300L);
    CURLcode cc = curl_easy_perform(a->h);
    long status = 0;
    curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &status);
    ft_code rc = FT_OK;
    if (cc != CURLE_OK)
        rc = !ft_buf_ok(body) ? ft_err_set(err, FT_NOMEM, 0, "out of memory")
                              : transfer_error(err, shown, cc, ebuf, r.too_large);
    else if (status != 200)
        rc = http_error(err, shown, status, body, &r);
    if (rc == FT_OK && next_cursor != NULL) {
        *next_cursor = r.next_cursor;
        r.next_cursor = NULL;
    }
    reply_clear_headers(&r);
    curl_slist_free_all(headers);
    free(url);
    free(shown);
    return rc;
}

/* ---- the event stream ---- */

struct ft_api_stream {
    CURLM *m;
    CURL *h;
    struct curl_slist *headers;
    char *url, *shown;
    char ebuf[CURL_ERROR_SIZE];
    reply r;
    ft_buf errbody; /* the answer when it is not an event stream */
    bool started, finished;
    CURLcode result;
    /* the parser: bytes received, not yet parsed, are in[pos, len) */
    ft_buf in;
    size_t pos;
    bool bom_done, skip_lf, too_large;
    ft_buf data, type, id;     /* the event being read; id is kept */
    ft_buf ev_data, ev_type, ev_id; /* the event returned last */
    int64_t retry_ms;
};

bool ft_api_stream_connected(const ft_api_stream *s)
{
    return s->r.headers_done && s->r.status == 200 && s->r.content_type != NULL &&
           strncasecmp(s->r.content_type, "text/event-stream", 17) == 0;
}

static size_t on_stream_body(char *p, size_t size, size_t n, void *ud)
{
    ft_api_stream *s = ud;
    size_t len = size * n;
    ft_buf *dst = ft_api_stream_connected(s) ? &s->in : &s->errbody;
    size_t max = dst == &s->in ? 2 * SSE_EVENT_MAX : API_ERROR_MAX;
    if (dst->len - (dst == &s->in ? s->pos : 0) + len > max) {
        s->too_large = true;
        return 0;
    }
    ft_buf_put(dst, p, len);
    return ft_buf_ok(dst) ? len : 0;
}

ft_code ft_api_stream_open(ft_api *a, const char *path,
                           const char *last_event_id, ft_api_stream **out,
                           ft_err *err)
{
    *out = NULL;
    ft_api_stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    s->retry_ms = -1;
    s->url = join_url(a, path);
    s->shown = join_url(&(ft_api){.base = a->shown}, path);
    s->m = curl_multi_init();
    s->h = curl_easy_init();
    bool ok = s->url && s->shown && s->m && s->h;
    const char *lines[] = {"Accept: text/event-stream", "Cache-Control: no-cache", a->auth};
    for (size_t i = 0; ok && i < 3; i++) {
        if (lines[i] == NULL)
            continue;
        struct curl_slist *l = curl_slist_append(s->headers, lines[i]);
        ok = l != NULL;
        if (ok)
            s->headers = l;
    }
    if (ok && last_event_id != NULL && *last_event_id &&
        strpbrk(last_event_id, "\r\n") == NULL) {
        ft_buf b = {0};
        ft_buf_printf(&b, "Last-Event-ID: %s", last_event_id);
        struct curl_slist *l = ft_buf_ok(&b) ? curl_slist_append(s->headers, b.ptr) : NULL;
        ok = l != NULL;
        if (ok)
            s->headers = l;
        ft_buf_free(&b);
    }
    if (!ok) {
        ft_api_stream_close(s);
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    }
    s->r.body = &s->errbody;
    s->r.max = API_ERROR_MAX;
    common_opts(s->h, s->url, a->ca_file, s->headers, &s->r, s->ebuf);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_stream_body);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, s);
    /* the server sends a comment every 15 s: a minute of silence is a
     * dead connection */
    curl_easy_setopt(s->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(s->h, CURLOPT_LOW_SPEED_TIME, 60L);
    if (curl_multi_add_handle(s->m, s->h) != CURLM_OK) {
        ft_api_stream_close(s);
        return ft_err_set(err, FT_NOMEM, 0, "cannot start the event stream");
    }
    s->started = true;
    *out = s;
    return FT_OK;
}

void ft_api_stream_close(ft_api_stream *s)
{
    if (s == NULL)
        return;
    if (s->started)
        curl_multi_remove_handle(s->m, s->h);
    if (s->h != NULL)
        curl_easy_cleanup(s->h);
    if (s->m != NULL)
        curl_multi_cleanup(s->m);
    curl_slist_free_all(s->headers);
    reply_clear_headers(&s->r);
    free(s->url);
    free(s->shown);
    ft_buf *bufs[] = {&s->errbody, &s->in, &s->data, &s->type, &s->id,
                      &s->ev_data, &s->ev_type, &s->ev_id};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        ft_buf_free(bufs[i]);
    free(s);
}

const char *ft_api_stream_last_id(const ft_api_stream *s)
{
    return s->id.len ? s->id.ptr : "";
}

int64_t ft_api_stream_retry_ms(const ft_api_stream *s)
{
    return s->retry_ms;
}

/* b = the bytes p[0, n), NUL-terminated. */
static void set_cstr(ft_buf *b, const char *p, size_t n)
{
    ft_buf_reset(b);
    ft_buf_put(b, p, n);
    ft_buf_putc(b, '\0');
    if (ft_buf_ok(b))
        b->len--;
}

static bool field_is(const char *p, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(p, name, n) == 0;
}

/* The next complete event from s->in: 1 with *ev set, 0 when more bytes
 * are needed, -1 when an event or line is too large or memory ran out. */
static int parse_event(ft_api_stream *s, ft_sse_event *ev)
{
    for (;;) {
        if (s->in.ptr == NULL)
            return 0;
        const char *p = s->in.ptr + s->pos;
        size_t avail = s->in.len - s->pos;
        if (!s->bom_done) {
            if (avail < 3 && !s->finished && memcmp(p, "\xef\xbb\xbf", avail) == 0)
                return 0;
            if (avail >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
                s->pos += 3;
                p += 3;
                avail -= 3;
            }
            s->bom_done = true;
        }
        if (s->skip_lf && avail > 0) {
            s->skip_lf = false;
            if (*p == '\n') {
                s->pos++;
                p++;
                avail--;
            }
        }
        size_t ll = 0;
        while (ll < avail && p[ll] != '\n' && p[ll] != '\r')
            ll++;
        if (ll == avail) {
            /* no whole line: keep the rest at the front of the buffer */
            if (s->pos > 0) {
                memmove(s->in.ptr, p, avail);
                s->in.len = avail;
                s->pos = 0;
            }
            return avail > SSE_EVENT_MAX ? -1 : 0;
        }
        s->skip_lf = p[ll] == '\r';
        s->pos += ll + 1;
        if (ll == 0) { /* blank line: dispatch */
            if (s->data.len == 0) {
                ft_buf_reset(&s->type);
                continue;
            }
            s->data.len--; /* the last "\n" */
            set_cstr(&s->ev_data, s->data.ptr, s->data.len);
            if (s->type.len)
                set_cstr(&s->ev_type, s->type.ptr, s->type.len);
            else
                set_cstr(&s->ev_type, "message", 7);
            set_cstr(&s->ev_id, s->id.ptr ? s->id.ptr : "", s->id.len);
            ft_buf_reset(&s->data);
            ft_buf_reset(&s->type);
            if (!ft_buf_ok(&s->ev_data) || !ft_buf_ok(&s->ev_type) || !ft_buf_ok(&s->ev_id))
                return -1;
            *ev = (ft_sse_event){s->ev_type.ptr, s->ev_id.ptr, s->ev_data.ptr, s->ev_data.len};
            return 1;
        }
        if (p[0] == ':')
            continue; /* a comment: the keep-alive */
        const char *colon = memchr(p, ':', ll);
        size_t fl = colon ? (size_t)(colon - p) : ll;
        const char *v = colon ? colon + 1 : p + ll;
        if (v < p + ll && *v == ' ')
            v++;
        size_t vl = (size_t)(p + ll - v);
        if (field_is(p, fl, "event")) {
            set_cstr(&s->type, v, vl);
        } else if (field_is(p, fl, "data")) {
            ft_buf_put(&s->data, v, vl);
            ft_buf_putc(&s->data, '\n');
            if (s->data.len > SSE_EVENT_MAX || !ft_buf_ok(&s->data))
                return -1;
        } else if (field_is(p, fl, "id")) {
            if (memchr(v, '\0', vl) == NULL)
                set_cstr(&s->id, v, vl);
        } else if (field_is(p, fl, "retry")) {
            int64_t ms = 0;
            size_t i = 0;
            while (i < vl && v[i] >= '0' && v[i] <= '9' && ms < INT64_MAX / 10)
                ms = ms * 10 + (v[i++] - '0');
            if (vl > 0 && i == vl)
                s->retry_ms = ms;
        }
    }
}

/* Why the stream ended. */
static ft_code stream_end(ft_api_stream *s, ft_err *err)
{
    if (s->too_large)
        return ft_err_set(err, FT_TOO_LARGE, 0, "GET %s: an event is larger than %zu MiB",
                          s->shown, SSE_EVENT_MAX >> 20);
    if (!s->r.headers_done)
        return transfer_error(err, s->shown, s->result, s->ebuf, false);
    if (s->r.status != 200)
        return http_error(err, s->shown, s->r.status, &s->errbody, &s->r);
    if (!ft_api_stream_connected(s))
        return ft_err_set(err, FT_BACKEND, 200,
                          "GET %s: the answer is not an event stream (Content-Type %s); "
                          "is this the API of fedtrace serve?",
                          s->shown, s->r.content_type ? s->r.content_type : "missing");
    if (s->result != CURLE_OK)
        return ft_err_set(err, FT_IO, (int)s->result, "the event stream broke: %s%s%s",
                          curl_easy_strerror(s->result), *s->ebuf ? ": " : "", s->ebuf);
    return ft_err_set(err, FT_IO, 0, "the server closed the event stream");
}

ft_code ft_api_stream_next(ft_api_stream *s, int timeout_ms,
                           ft_sse_event *ev, ft_err *err)
{
    for (int round = 0;; round++) {
        if (ft_api_stream_connected(s)) {
            int r = parse_event(s, ev);
            if (r > 0)
                return FT_OK;
            if (r < 0) {
                s->too_large = true;
                return stream_end(s, err);
            }
        }
        if (s->finished)
            return stream_end(s, err);
        if (round == 2)
            return FT_AGAIN;
        int running = 0;
        if (round == 1)
            curl_multi_poll(s->m, NULL, 0, timeout_ms, NULL);
        if (curl_multi_perform(s->m, &running) != CURLM_OK)
            return ft_err_set(err, FT_IO, 0, "GET %s: the transfer failed", s->shown);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(s->m, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE) {
                s->finished = true;
                s->result = msg->data.result;
            }
        }
    }
}
