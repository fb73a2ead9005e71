/* infer.c - inferred services and normalized statements; see services.h. */
#include "fedtrace/services.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *ft_peer_kind_name(ft_peer_kind k)
{
    static const char *const names[] = {"", "database", "cache", "queue", "rpc",
                                        "http", "instance", "service"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "";
}

/* A non-empty string attribute of the span, or NULL. */
static const ft_str *str_attr(const ft_span *sp, const char *key)
{
    const ft_value *v = ft_attrs_get(sp->attrs, key);
    return v != NULL && v->type == FT_VAL_STRING && v->u.s.len > 0 ? &v->u.s : NULL;
}

/* The first of several names (old and new conventions) that is set. */
static const ft_str *first_attr(const ft_span *sp, const char *const *keys)
{
    for (; *keys != NULL; keys++) {
        const ft_str *s = str_attr(sp, *keys);
        if (s != NULL)
            return s;
    }
    return NULL;
}

/* The name, with control bytes (NUL included) shown as '?': it comes
 * from anywhere and ends up in keys, JSON and terminals. */
static void set_name(ft_peer *p, ft_peer_kind kind, const char *s, size_t n)
{
    p->kind = kind;
    if (n >= sizeof p->name)
        n = sizeof p->name - 1;
    for (size_t i = 0; i < n; i++)
        p->name[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    p->name[n] = '\0';
}

/* The host of a URL (lower case, no port, no user info); 0 when none. */
static size_t url_host(const ft_str *url, char *out, size_t cap)
{
    const char *p = url->ptr, *end = url->ptr + url->len;
    const char *sch = NULL;
    for (const char *q = p; q + 2 < end; q++)
        if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
            sch = q + 3;
            break;
        }
    if (sch == NULL)
        return 0;
    const char *h = sch, *e = h;
    while (e < end && *e != '/' && *e != '?' && *e != '#')
        e++;
    for (const char *q = h; q < e; q++)
        if (*q == '@')
            h = q + 1;
    size_t n = 0;
    if (h < e && *h == '[') {
        for (h++; h < e && *h != ']' && n + 1 < cap; h++)
            out[n++] = (char)tolower((unsigned char)*h);
    } else {
        for (; h < e && *h != ':' && n + 1 < cap; h++)
            out[n++] = (char)tolower((unsigned char)*h);
    }
    out[n] = '\0';
    return n;
}

static bool is_ip_literal(const char *h)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

/* The peer's host: server.address, net.peer.name, the URL's host. */
static size_t peer_host(const ft_span *sp, char *out, size_t cap)
{
    static const char *const host_keys[] = {"server.address", "net.peer.name",
                                            "peer.hostname", NULL};
    static const char *const url_keys[] = {"url.full", "http.url", NULL};
    const ft_str *h = first_attr(sp, host_keys);
    if (h != NULL) {
        size_t n = h->len < cap ? h->len : cap - 1;
        for (size_t i = 0; i < n; i++)
            out[i] = (char)tolower((unsigned char)h->ptr[i]);
        out[n] = '\0';
        return n;
    }
    const ft_str *u = first_attr(sp, url_keys);
    return u != NULL ? url_host(u, out, cap) : 0;
}

static bool str_is(const ft_str *s, const char *c)
{
    return s != NULL && s->len == strlen(c) && strncasecmp(s->ptr, c, s->len) == 0;
}

/* Whether a URL or a path (with or without query) ends in an inbox:
 * .../inbox, .../users/x/inbox, a shared /inbox.  Of a full URL only the
 * path counts ("https://inbox.example" is no inbox). */
static bool inbox_path(const ft_str *u)
{
    const char *p = u->ptr, *end = u->ptr + u->len;
    for (const char *q = p; q + 2 < end; q++) {
        if (q[0] == '/' || q[0] == '?' || q[0] == '#')
            break; /* a path: no scheme */
        if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
            p = q + 3;
            while (p < end && *p != '/' && *p != '?' && *p != '#')
                p++; /* the authority */
            break;
        }
    }
    size_t n = 0;
    while (p + n < end && p[n] != '?' && p[n] != '#')
        n++;
    while (n > 0 && p[n - 1] == '/')
        n--;
    /* the last segment is "inbox" ("/sharedinbox" is not one) */
    return n >= 5 && strncasecmp(p + n - 5, "inbox", 5) == 0 && (n == 5 || p[n - 6] == '/');
}

/* An outbound ActivityPub delivery: Fedify's span, or a client POST to an
 * inbox.  Any of the URL attributes may carry the path: http.rb (Mastodon)
 * sets http.url / url.full to "scheme://host" alone and the path in
 * http.target (old conventions) or url.path (new). */
static bool is_delivery(const ft_span *sp)
{
    if (ft_str_eq_c(sp->name, "activitypub.send_activity"))
        return true;
    static const char *const method_keys[] = {"http.request.method", "http.method", NULL};
    static const char *const url_keys[] = {"url.full", "http.url", "url.path", "http.target",
                                           NULL};
    if (!str_is(first_attr(sp, method_keys), "POST"))
        return false;
    for (const char *const *k = url_keys; *k != NULL; k++) {
        const ft_str *u = str_attr(sp, *k);
        if (u != NULL && inbox_path(u))
            return true;
    }
    return false;
}

/* Fedify's send_activity span names its target only in its
 * "activitypub.activity.sent" event: the inbox URL's host. */
static size_t event_inbox_host(const ft_span *sp, char *out, size_t cap)
{
    for (size_t i = 0; i < sp->n_events; i++) {
        const ft_value *v = ft_attrs_get(sp->events[i].attrs, "activitypub.inbox.url");
        if (v != NULL && v->type == FT_VAL_STRING && v->u.s.len > 0) {
            size_t n = url_host(&v->u.s, out, cap);
            if (n > 0)
                return n;
        }
    }
    return 0;
}

bool ft_infer_peer(const ft_span *sp, const ft_infer_opts *opts, ft_peer *out)
{
    memset(out, 0, sizeof *out);
    static const char *const peer_keys[] = {"peer.service", "service.peer.name", NULL};
    static const char *const db_sys_keys[] = {"db.system", "db.system.name", NULL};
    static const char *const db_name_keys[] = {"db.namespace", "db.name", NULL};
    static const char *const mq_sys_keys[] = {"messaging.system", NULL};
    static const char *const mq_dest_keys[] = {"messaging.destination.name",
                                               "messaging.destination", NULL};
    const ft_str *db = first_attr(sp, db_sys_keys);
    const ft_str *mq = first_attr(sp, mq_sys_keys);
    bool calls = sp->kind == FT_SPAN_KIND_CLIENT || sp->kind == FT_SPAN_KIND_PRODUCER;
    bool consumes = sp->kind == FT_SPAN_KIND_CONSUMER && mq != NULL;
    /* database spans are calls whatever their kind (some instrumentations
     * leave it INTERNAL) */
    if (!calls && !consumes && db == NULL)
        return false;
    if (db != NULL) {
        snprintf(out->system, sizeof out->system, "%.*s", (int)db->len, db->ptr);
    } else if (mq != NULL) {
        snprintf(out->system, sizeof out->system, "%.*s", (int)mq->len, mq->ptr);
    }
    const ft_str *named = first_attr(sp, peer_keys);
    if (named != NULL && !consumes) {
        set_name(out, FT_PEER_SERVICE, named->ptr, named->len);
        return true;
    }
    char host[256];
    size_t hl;
    if (db != NULL) {
        bool cache = str_is(db, "redis") || str_is(db, "memcached") || str_is(db, "valkey");
        ft_peer_kind kind = cache ? FT_PEER_CACHE : FT_PEER_DATABASE;
        const ft_str *name = first_attr(sp, db_name_keys);
        if (name != NULL && !cache)
            set_name(out, kind, name->ptr, name->len);
        else if ((hl = peer_host(sp, host, sizeof host)) > 0)
            set_name(out, kind, host, hl);
        else
            set_name(out, kind, db->ptr, db->len);
    } else if (mq != NULL) {
        const ft_str *dest = first_attr(sp, mq_dest_keys);
        if (dest != NULL)
            set_name(out, FT_PEER_QUEUE, dest->ptr, dest->len);
        else
            set_name(out, FT_PEER_QUEUE, mq->ptr, mq->len);
    } else if (consumes) {
        return false;
    } else if ((named = str_attr(sp, "rpc.service")) != NULL) {
        set_name(out, FT_PEER_RPC, named->ptr, named->len);
    } else if ((hl = peer_host(sp, host, sizeof host)) > 0) {
        set_name(out, is_delivery(sp) ? FT_PEER_INSTANCE : FT_PEER_HTTP, host, hl);
    } else if ((hl = event_inbox_host(sp, host, sizeof host)) > 0) {
        set_name(out, FT_PEER_INSTANCE, host, hl);
    } else {
        return false;
    }
    if ((out->kind == FT_PEER_HTTP || out->kind == FT_PEER_INSTANCE ||
         out->kind == FT_PEER_DATABASE || out->kind == FT_PEER_CACHE) &&
        is_ip_literal(out->name) && !(opts != NULL && opts->show_ip_hosts))
        snprintf(out->name, sizeof out->name, "ip-address");
    return true;
}

/* ---- statements ---- */

static bool word_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

void ft_sql_normalize(const char *s, size_t len, char *out, size_t cap)
{
    size_t w = 0;
    bool space = false;
    /* '?' written last, to collapse "?, ?, ?" into one */
    size_t last_q = (size_t)-1;
    for (size_t i = 0; i < len && cap > 0;) {
        unsigned char c = (unsigned char)s[i];
        const char *lit_end = NULL;
        if (c == '\'' || (c == 'E' && i + 1 < len && s[i + 1] == '\'' &&
                          (i == 0 || !word_char((unsigned char)s[i - 1])))) {
            size_t j = c == 'E' ? i + 2 : i + 1;
            while (j < len) {
                if (s[j] == '\\' && j + 1 < len) {
                    j += 2;
                } else if (s[j] == '\'' && j + 1 < len && s[j + 1] == '\'') {
                    j += 2;
                } else if (s[j] == '\'') {
                    j++;
                    break;
                } else {
                    j++;
                }
            }
            lit_end = s + j;
        } else if (isdigit(c) && (i == 0 || !word_char((unsigned char)s[i - 1]))) {
            size_t j = i;
            while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '.'))
                j++;
            lit_end = s + j;
        } else if (c == '$' && i + 1 < len && isdigit((unsigned char)s[i + 1])) {
            size_t j = i + 1; /* a placeholder: $1 */
            while (j < len && isdigit((unsigned char)s[j]))
                j++;
            lit_end = s + j;
        }
        if (lit_end == NULL && (c == '"' || c == '`')) {
            /* a quoted identifier: kept as it is, digits and all */
            size_t j = i + 1;
            while (j < len && (unsigned char)s[j] != c)
                j++;
            size_t n = (j < len ? j + 1 : len) - i;
            if (space && w > 0 && w + 1 < cap)
                out[w++] = ' ';
            space = false;
            for (size_t k = 0; k < n && w + 1 < cap; k++) {
                unsigned char ch = (unsigned char)s[i + k];
                out[w++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
            }
            i += n;
            continue;
        }
        if (lit_end != NULL) {
            /* a literal: "?", unless it only continues a list of them */
            bool in_list = false;
            if (last_q != (size_t)-1) {
                in_list = true;
                for (size_t k = last_q + 1; k < w; k++)
                    if (out[k] != ',' && out[k] != ' ')
                        in_list = false;
            }
            if (in_list) {
                w = last_q + 1;
            } else {
                if (space && w > 0 && w + 1 < cap)
                    out[w++] = ' ';
                if (w + 1 < cap) {
                    last_q = w;
                    out[w++] = '?';
                }
            }
            space = false;
            i = (size_t)(lit_end - s);
            continue;
        }
        if (isspace(c) || c < 0x20 || c == 0x7f) { /* control bytes, NUL: space */
            space = true;
            i++;
            continue;
        }
        if (space && w > 0 && w + 1 < cap)
            out[w++] = ' ';
        space = false;
        /* copy one whole UTF-8 sequence or nothing; a byte that starts no
         * valid sequence goes alone */
        size_t n = c < 0x80 ? 1 : c >= 0xf8 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        if (i + n > len)
            n = 1;
        for (size_t k = 1; k < n; k++)
            if (((unsigned char)s[i + k] & 0xc0) != 0x80)
                n = 1;
        if (w + n >= cap)
            break;
        memcpy(out + w, s + i, n);
        w += n;
        i += n;
    }
    while (w > 0 && out[w - 1] == ' ') /* a space before what did not fit */
        w--;
    if (cap > 0)
        out[w < cap ? w : cap - 1] = '\0';
}
