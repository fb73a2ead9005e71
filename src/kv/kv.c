/* kv.c - the store dispatcher: URL parsing, capability masks, key checks. */
#include "kv/kv_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ft_kv {
    const ft_kv_backend *be;
    void *state;
    unsigned caps;
    char url[256]; /* for messages */
};

static const ft_kv_backend *const backends[] = {
    &ft_kv__memory_backend,
    &ft_kv__lmdb_backend,
    &ft_kv__redis_backend,
    &ft_kv__postgres_backend,
};

const char *ft_kv__url_param(const ft_kv_url *url, const char *name)
{
    for (size_t i = 0; i < url->n_params; i++)
        if (strcmp(url->names[i], name) == 0)
            return url->values[i];
    return NULL;
}

static void url_free(ft_kv_url *u)
{
    ft_free(u->scheme);
    ft_free(u->rest);
    for (size_t i = 0; i < u->n_params; i++) {
        ft_free(u->names[i]);
        ft_free(u->values[i]);
    }
    memset(u, 0, sizeof *u);
}

static ft_code url_parse(const char *s, ft_kv_url *u, ft_err *err)
{
    memset(u, 0, sizeof *u);
    const char *colon = strchr(s, ':');
    if (colon == NULL || colon == s)
        return ft_err_set(err, FT_INVAL, 0,
                          "store URL '%s' has no scheme (try memory: or "
                          "lmdb:PATH)",
                          s);
    const char *q = strchr(colon + 1, '?');
    const char *rest_end = q ? q : colon + 1 + strlen(colon + 1);
    u->scheme = ft_strndup(s, (size_t)(colon - s));
    u->rest = ft_strndup(colon + 1, (size_t)(rest_end - (colon + 1)));
    if (u->scheme == NULL || u->rest == NULL)
        goto nomem;
    while (q != NULL && *q != '\0') {
        const char *p = q + 1;
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        q = amp;
        if (end == p)
            continue;
        if (u->n_params == sizeof u->names / sizeof u->names[0]) {
            url_free(u);
            return ft_err_set(err, FT_INVAL, 0,
                              "store URL '%s' has too many parameters", s);
        }
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *name_end = eq ? eq : end;
        char *name = ft_strndup(p, (size_t)(name_end - p));
        char *value = eq ? ft_strndup(eq + 1, (size_t)(end - eq - 1))
                         : ft_strndup("", 0);
        if (name == NULL || value == NULL) {
            ft_free(name);
            ft_free(value);
            goto nomem;
        }
        u->names[u->n_params] = name;
        u->values[u->n_params++] = value;
    }
    return FT_OK;
nomem:
    url_free(u);
    return ft_err_set(err, FT_NOMEM, 0, "out of memory parsing store URL");
}

/* "list,cas" | "list" | "cas" | "none" -> mask */
static ft_code parse_caps(const char *s, unsigned *mask, ft_err *err)
{
    unsigned m = 0;
    const char *p = s;
    if (strcmp(s, "none") == 0 || *s == '\0') {
        *mask = 0;
        return FT_OK;
    }
    while (*p) {
        size_t n = strcspn(p, ",+");
        if (n == 4 && strncmp(p, "list", 4) == 0)
            m |= FT_KV_CAP_LIST;
        else if (n == 3 && strncmp(p, "cas", 3) == 0)
            m |= FT_KV_CAP_CAS;
        else
            return ft_err_set(err, FT_INVAL, 0,
                              "unknown capability '%.*s' in caps=%s "
                              "(known: list, cas, none)",
                              (int)n, p, s);
        p += n;
        if (*p)
            p++;
    }
    *mask = m;
    return FT_OK;
}

ft_code ft_kv_open(const char *url, ft_kv **out, ft_err *err)
{
    *out = NULL;
    if (url == NULL)
        return ft_err_set(err, FT_INVAL, 0, "no store URL given");
    ft_kv_url u;
    ft_code rc = url_parse(url, &u, err);
    if (rc != FT_OK)
        return rc;
    const ft_kv_backend *be = NULL;
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->scheme, u.scheme) == 0)
            be = backends[i];
    if (be == NULL) {
        ft_err_set(err, FT_UNSUPPORTED, 0,
                   "unknown store scheme '%s' in '%s' (this build has: "
                   "memory:, lmdb:PATH)",
                   u.scheme, url);
        url_free(&u);
        return FT_UNSUPPORTED;
    }
    if (be->version != FT_KV_BACKEND_VERSION) {
        url_free(&u);
        return ft_err_set(err, FT_UNSUPPORTED, 0,
                          "store backend '%s' has interface version %d, "
                          "expected %d",
                          be->scheme, be->version, FT_KV_BACKEND_VERSION);
    }
    unsigned mask = FT_KV_CAP_LIST | FT_KV_CAP_CAS;
    const char *caps = ft_kv__url_param(&u, "caps");
    if (caps != NULL && (rc = parse_caps(caps, &mask, err)) != FT_OK) {
        url_free(&u);
        return rc;
    }
    ft_kv *kv = ft_calloc(1, sizeof *kv);
    if (kv == NULL) {
        url_free(&u);
        return ft_err_set(err, FT_NOMEM, 0, "out of memory opening store");
    }
    kv->be = be;
    kv->caps = be->caps & mask;
    ft_kv_url_redact(url, kv->url, sizeof kv->url);
    rc = be->open(&u, &kv->state, err);
    url_free(&u);
    if (rc != FT_OK) {
        ft_err_prefix(err, kv->url);
        ft_free(kv);
        return rc;
    }
    *out = kv;
    return FT_OK;
}

void ft_kv_close(ft_kv *kv)
{
    if (kv == NULL)
        return;
    kv->be->close(kv->state);
    ft_free(kv);
}

unsigned ft_kv_caps(const ft_kv *kv)
{
    return kv->caps;
}

const char *ft_kv_scheme(const ft_kv *kv)
{
    return kv->be->scheme;
}

static ft_code check_key(const ft_kv *kv, ft_kv_key key, size_t min,
                         ft_err *err)
{
    if (key.n < min || key.n > FT_KV_MAX_PARTS)
        return ft_err_set(err, FT_INVAL, 0,
                          "%s: a key needs %zu to %d parts, got %zu",
                          kv->url, min, FT_KV_MAX_PARTS, key.n);
    if (key.n > 0 && key.parts == NULL)
        return ft_err_set(err, FT_INVAL, 0, "%s: key parts are NULL",
                          kv->url);
    return FT_OK;
}

static ft_code need_cap(const ft_kv *kv, unsigned cap, ft_err *err)
{
    if ((kv->caps & cap) == cap)
        return FT_OK;
    return ft_err_set(err, FT_UNSUPPORTED, 0,
                      "store %s does not support %s%s", kv->url,
                      cap == FT_KV_CAP_LIST ? "list (ordered prefix scan)"
                                            : "compare-and-swap",
                      (kv->be->caps & cap) ? " (masked off by caps=)" : "");
}

ft_code ft_kv_get(ft_kv *kv, ft_kv_key key, ft_arena *arena, ft_str *value,
                  ft_err *err)
{
    ft_code rc = check_key(kv, key, 1, err);
    if (rc != FT_OK)
        return rc;
    return kv->be->get(kv->state, key, arena, value, err);
}

ft_code ft_kv_batch(ft_kv *kv, const ft_kv_op *ops, size_t n, ft_err *err)
{
    for (size_t i = 0; i < n; i++) {
        ft_code rc = check_key(kv, ops[i].key, 1, err);
        if (rc != FT_OK)
            return rc;
        if (ops[i].type != FT_KV_SET && ops[i].type != FT_KV_DELETE)
            return ft_err_set(err, FT_INVAL, 0, "%s: unknown batch op %d",
                              kv->url, (int)ops[i].type);
    }
    if (n == 0)
        return FT_OK;
    return kv->be->batch(kv->state, ops, n, err);
}

ft_code ft_kv_set(ft_kv *kv, ft_kv_key key, ft_str value, int64_t ttl_ms,
                  ft_err *err)
{
    ft_kv_op op = {FT_KV_SET, key, value, ttl_ms, false};
    return ft_kv_batch(kv, &op, 1, err);
}

ft_code ft_kv_delete(ft_kv *kv, ft_kv_key key, ft_err *err)
{
    ft_kv_op op = {FT_KV_DELETE, key, {NULL, 0}, 0, false};
    return ft_kv_batch(kv, &op, 1, err);
}

ft_code ft_kv_list(ft_kv *kv, ft_kv_key prefix, const ft_kv_list_opts *opts,
                   ft_arena *arena, ft_kv_entry **out, size_t *n_out,
                   ft_err *err)
{
    *out = NULL;
    *n_out = 0;
    ft_code rc = need_cap(kv, FT_KV_CAP_LIST, err);
    if (rc == FT_OK)
        rc = check_key(kv, prefix, 0, err);
    static const ft_kv_list_opts defaults = {false, NULL, 0};
    if (opts == NULL)
        opts = &defaults;
    if (rc == FT_OK && opts->start_after != NULL)
        rc = check_key(kv, *opts->start_after, 0, err);
    if (rc != FT_OK)
        return rc;
    return kv->be->list(kv->state, prefix, opts, arena, out, n_out, err);
}

ft_code ft_kv_list_many(ft_kv *kv, const ft_kv_key *prefixes, size_t n, ft_arena *arena,
                        ft_kv_entry **out, size_t *counts, ft_err *err)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        counts[i] = 0;
    }
    ft_code rc = need_cap(kv, FT_KV_CAP_LIST, err);
    for (size_t i = 0; i < n && rc == FT_OK; i++)
        rc = check_key(kv, prefixes[i], 0, err);
    if (rc != FT_OK || n == 0)
        return rc;
    if (kv->be->list_many != NULL)
        return kv->be->list_many(kv->state, prefixes, n, arena, out, counts, err);
    static const ft_kv_list_opts all = {false, NULL, 0};
    for (size_t i = 0; i < n && rc == FT_OK; i++)
        rc = kv->be->list(kv->state, prefixes[i], &all, arena, &out[i], &counts[i], err);
    return rc;
}

ft_code ft_kv_cas(ft_kv *kv, ft_kv_key key, const ft_str *expected,
                  const ft_str *value, int64_t ttl_ms, ft_err *err)
{
    ft_code rc = need_cap(kv, FT_KV_CAP_CAS, err);
    if (rc == FT_OK)
        rc = check_key(kv, key, 1, err);
    if (rc != FT_OK)
        return rc;
    return kv->be->cas(kv->state, key, expected, value, ttl_ms, err);
}

ft_code ft_kv_get_many(ft_kv *kv, const ft_kv_key *keys, size_t n, ft_arena *arena,
                       ft_str *values, ft_code *found, ft_err *err)
{
    ft_code rc = FT_OK;
    for (size_t i = 0; i < n && rc == FT_OK; i++)
        rc = check_key(kv, keys[i], 1, err);
    if (rc != FT_OK || n == 0)
        return rc;
    if (kv->be->get_many != NULL)
        return kv->be->get_many(kv->state, keys, n, arena, values, found, err);
    for (size_t i = 0; i < n; i++) {
        rc = kv->be->get(kv->state, keys[i], arena, &values[i], err);
        if (rc != FT_OK && rc != FT_NOTFOUND)
            return rc;
        found[i] = rc;
        if (rc == FT_NOTFOUND)
            values[i] = (ft_str){NULL, 0};
    }
    return FT_OK;
}

ft_code ft_kv_cas_many(ft_kv *kv, ft_kv_cas_op *ops, size_t n, ft_err *err)
{
    ft_code rc = need_cap(kv, FT_KV_CAP_CAS, err);
    for (size_t i = 0; i < n && rc == FT_OK; i++)
        rc = check_key(kv, ops[i].key, 1, err);
    if (rc != FT_OK || n == 0)
        return rc;
    if (kv->be->cas_many != NULL)
        return kv->be->cas_many(kv->state, ops, n, err);
    for (size_t i = 0; i < n; i++) {
        rc = kv->be->cas(kv->state, ops[i].key, ops[i].expected, ops[i].value,
                         ops[i].ttl_ms, err);
        if (rc != FT_OK && rc != FT_CONFLICT)
            return rc;
        ops[i].result = rc;
    }
    return FT_OK;
}

ft_code ft_kv_sweep(ft_kv *kv, size_t max, size_t *removed, ft_err *err)
{
    if (removed != NULL)
        *removed = 0;
    if (kv->be->sweep == NULL)
        return FT_OK;
    size_t dummy;
    return kv->be->sweep(kv->state, max, removed ? removed : &dummy, err);
}

ft_code ft_kv_stats_get(ft_kv *kv, ft_kv_stats *st, ft_err *err)
{
    memset(st, 0, sizeof *st);
    if (kv->be->stats == NULL)
        return FT_OK;
    return kv->be->stats(kv->state, st, err);
}

/* ---- key encoding ---- */

size_t ft_kv__key_encoded_len(ft_kv_key key)
{
    size_t n = 0;
    for (size_t i = 0; i < key.n; i++) {
        n += key.parts[i].len + 2;
        for (size_t j = 0; j < key.parts[i].len; j++)
            if (key.parts[i].ptr[j] == '\0')
                n++;
    }
    return n;
}

void ft_kv__key_encode_into(ft_kv_key key, char *dst)
{
    for (size_t i = 0; i < key.n; i++) {
        const char *p = key.parts[i].ptr;
        for (size_t j = 0; j < key.parts[i].len; j++) {
            *dst++ = p[j];
            if (p[j] == '\0')
                *dst++ = (char)0xFF;
        }
        *dst++ = '\0';
        *dst++ = 0x01;
    }
}

ft_code ft_kv__key_encode(ft_kv_key key, ft_arena *arena, ft_str *out,
                          ft_err *err)
{
    size_t n = ft_kv__key_encoded_len(key);
    char *buf = arena ? ft_arena_alloc(arena, n) : ft_malloc(n);
    if (buf == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory encoding a key");
    ft_kv__key_encode_into(key, buf);
    *out = (ft_str){buf, n};
    return FT_OK;
}

ft_code ft_kv__key_decode(ft_str enc, ft_arena *arena, ft_kv_key *out,
                          ft_err *err)
{
    size_t parts = 0;
    for (size_t i = 0; i + 1 < enc.len; i++)
        if (enc.ptr[i] == '\0' && enc.ptr[i + 1] == 0x01) {
            parts++;
            i++;
        } else if (enc.ptr[i] == '\0') {
            i++;
        }
    if (parts == 0 || parts > FT_KV_MAX_PARTS)
        return ft_err_set(err, FT_CORRUPT, 0, "stored key is not a tuple");
    ft_str *ps = ft_arena_alloc(arena, parts * sizeof *ps);
    char *buf = ft_arena_alloc(arena, enc.len);
    if (ps == NULL || buf == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory decoding a key");
    size_t k = 0, start = 0, w = 0;
    for (size_t i = 0; i < enc.len; i++) {
        char c = enc.ptr[i];
        if (c != '\0') {
            buf[w++] = c;
            continue;
        }
        if (i + 1 >= enc.len)
            return ft_err_set(err, FT_CORRUPT, 0, "stored key is truncated");
        unsigned char next = (unsigned char)enc.ptr[++i];
        if (next == 0xFF) {
            buf[w++] = '\0';
        } else if (next == 0x01) {
            ps[k++] = (ft_str){buf + start, w - start};
            start = w;
        } else {
            return ft_err_set(err, FT_CORRUPT, 0, "stored key has a bad escape");
        }
    }
    if (k != parts || start != w)
        return ft_err_set(err, FT_CORRUPT, 0, "stored key is truncated");
    *out = (ft_kv_key){ps, parts};
    return FT_OK;
}

ft_code ft_kv__entries_push_encoded(ft_kv_entries *e, ft_arena *arena,
                                    ft_str enc_key, ft_str value, ft_err *err)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        ft_kv_entry *items = ft_arena_alloc(arena, cap * sizeof *items);
        if (items == NULL)
            return ft_err_set(err, FT_NOMEM, 0, "out of memory listing keys");
        if (e->n)
            memcpy(items, e->items, e->n * sizeof *items);
        e->items = items;
        e->cap = cap;
    }
    ft_kv_entry *ent = &e->items[e->n];
    ft_code rc = ft_kv__key_decode(enc_key, arena, &ent->key, err);
    if (rc != FT_OK)
        return rc;
    char *v = ft_arena_memdup(arena, value.ptr, value.len);
    if (v == NULL && value.len)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory listing values");
    ent->value = (ft_str){v ? v : "", value.len};
    e->n++;
    return FT_OK;
}

int ft_kv__bytes_cmp(ft_str a, ft_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0)
        return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

char *ft_kv_key_repr(ft_arena *arena, ft_kv_key key)
{
    size_t n = 3;
    for (size_t i = 0; i < key.n; i++)
        n += key.parts[i].len * 4 + 3;
    char *s = ft_arena_alloc(arena, n);
    if (s == NULL)
        return NULL;
    char *w = s;
    *w++ = '[';
    for (size_t i = 0; i < key.n; i++) {
        if (i)
            *w++ = ',';
        *w++ = '"';
        for (size_t j = 0; j < key.parts[i].len; j++) {
            unsigned char c = (unsigned char)key.parts[i].ptr[j];
            if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f)
                w += sprintf(w, "\\x%02x", c);
            else
                *w++ = (char)c;
        }
        *w++ = '"';
    }
    *w++ = ']';
    *w = '\0';
    return s;
}

void ft_kv_url_redact(const char *url, char *out, size_t cap)
{
    if (cap == 0)
        return;
    snprintf(out, cap, "%s", url);
    /* scheme://user:password@host */
    char *auth = strstr(out, "://");
    if (auth != NULL) {
        auth += 3;
        char *at = strchr(auth, '@');
        char *slash = strchr(auth, '/');
        char *colon = strchr(auth, ':');
        if (at != NULL && (slash == NULL || at < slash) && colon != NULL && colon < at) {
            size_t tail = strlen(at) + 1;
            if ((size_t)(colon + 1 - out) + 3 + tail <= cap) {
                memmove(colon + 4, at, tail);
                memcpy(colon + 1, "***", 3);
            }
        }
    }
    /* password=... in the query */
    for (char *p = strstr(out, "password="); p != NULL; p = strstr(p + 1, "password=")) {
        if (p != out && p[-1] != '?' && p[-1] != '&')
            continue;
        char *v = p + 9, *end = strchr(v, '&');
        size_t tail = end ? strlen(end) + 1 : 1;
        if ((size_t)(v - out) + 3 + tail <= cap) {
            memmove(v + 3, end ? end : v + strlen(v), tail);
            memcpy(v, "***", 3);
        }
    }
}
