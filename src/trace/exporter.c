/*
 * exporter.c - storing spans, logs and activity records; reading traces.
 *
 * See include/fedtrace/exporter.h for the key layout of both strategies.
 * The rule everywhere: a write is either a set of a key derived only from
 * the data (idempotent, commutative), or a compare-and-swap of a value
 * recomputed from what is stored.  Nothing reads, modifies and blindly
 * writes back.
 */
#include "fedtrace/exporter.h"

#include "core/buf.h"
#include "core/json_scan.h"
#include "trace/trace_int.h"

#include <ctype.h>
#include <stddef.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PREFIX 8
#define CAS_MAX_ATTEMPTS 10000
#define TS_DIGITS 15 /* zero-padded ms in index keys: sorts until year 33658 */

struct ft_exporter {
    ft_kv *kv;
    ft_strategy strategy;
    bool summaries; /* keep Fedify's _summaries key (needs CAS) */
    int64_t ttl_ms;
    size_t np;
    ft_str prefix[MAX_PREFIX];
    char *prefix_mem[MAX_PREFIX];
    ft_arena *arena; /* per call; reset at the start of each export */
    ft_metrics *metrics; /* borrowed; NULL: no metrics, no peers */
    bool shared;         /* other processes write the store (Redis, PostgreSQL) */
    bool remote;         /* each store call is a round trip (Redis, PostgreSQL) */
    /* where ft_exporter_adopt goes on: the last trace id of the summaries
     * it looked at ("": from the start) */
    char adopt_cursor[33];
};

/* ---- keys ---- */

/* prefix + up to 4 more parts, in the arena */
static ft_kv_key key_of(ft_exporter *ex, ft_arena *a, size_t n,
                        const ft_str *more)
{
    ft_str *parts = ft_arena_alloc(a, (ex->np + n) * sizeof *parts);
    if (parts == NULL)
        return (ft_kv_key){NULL, 0};
    memcpy(parts, ex->prefix, ex->np * sizeof *parts);
    if (n)
        memcpy(parts + ex->np, more, n * sizeof *parts);
    return (ft_kv_key){parts, ex->np + n};
}

#define KEY(ex, a, ...)                                                      \
    key_of((ex), (a), sizeof((ft_str[]){__VA_ARGS__}) / sizeof(ft_str),      \
           (ft_str[]){__VA_ARGS__})

static ft_str arena_str(ft_arena *a, const char *s, size_t n)
{
    char *p = ft_arena_strndup(a, s, n);
    return p ? (ft_str){p, n} : (ft_str){NULL, 0};
}

static ft_str buf_to_arena(ft_arena *a, ft_buf *b)
{
    if (!ft_buf_ok(b))
        return (ft_str){NULL, 0};
    return arena_str(a, b->ptr, b->len);
}

static ft_str arena_fmt_ts(ft_arena *a, int64_t ms)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%0*lld", TS_DIGITS, (long long)ms);
    return arena_str(a, buf, (size_t)n);
}

static ft_code nomem(ft_err *err)
{
    return ft_err_set(err, FT_NOMEM, 0, "exporter: out of memory");
}

/* ---- creation ---- */

ft_code ft_exporter_create(ft_kv *kv, const ft_exporter_opts *opts,
                           ft_exporter **out, ft_err *err)
{
    *out = NULL;
    unsigned caps = ft_kv_caps(kv);
    if (!(caps & (FT_KV_CAP_LIST | FT_KV_CAP_CAS)))
        return ft_err_set(err, FT_UNSUPPORTED, 0,
                          "the exporter needs a store with list (ordered "
                          "prefix scan) or compare-and-swap; this %s store "
                          "offers neither",
                          ft_kv_scheme(kv));
    static const char *const def_prefix[] = {"fedify", "traces"};
    const char *const *prefix = def_prefix;
    size_t np = 2;
    if (opts != NULL && opts->key_prefix != NULL && opts->n_key_prefix > 0) {
        prefix = opts->key_prefix;
        np = opts->n_key_prefix;
    }
    if (np > MAX_PREFIX)
        return ft_err_set(err, FT_INVAL, 0,
                          "exporter: key prefix has %zu parts, at most %d",
                          np, MAX_PREFIX);
    ft_exporter *ex = ft_calloc(1, sizeof *ex);
    if (ex == NULL)
        return nomem(err);
    ex->kv = kv;
    ex->strategy = (caps & FT_KV_CAP_LIST) ? FT_STRATEGY_LIST : FT_STRATEGY_CAS;
    ex->summaries = (caps & FT_KV_CAP_CAS) != 0;
    ex->ttl_ms = opts != NULL && opts->ttl_ms > 0 ? opts->ttl_ms : 0;
    ex->metrics = opts != NULL ? opts->metrics : NULL;
    ex->remote = strcmp(ft_kv_scheme(kv), "redis") == 0 || strcmp(ft_kv_scheme(kv), "postgres") == 0;
    ex->shared = ex->remote || (opts != NULL && opts->shared_counting);
    ex->np = np;
    ex->arena = ft_arena_create(0);
    bool ok = ex->arena != NULL;
    for (size_t i = 0; i < np && ok; i++) {
        size_t n = strlen(prefix[i]);
        ex->prefix_mem[i] = ft_strndup(prefix[i], n);
        ok = ex->prefix_mem[i] != NULL;
        ex->prefix[i] = (ft_str){ex->prefix_mem[i], n};
    }
    if (!ok) {
        ft_exporter_destroy(ex);
        return nomem(err);
    }
    *out = ex;
    return FT_OK;
}

void ft_exporter_destroy(ft_exporter *ex)
{
    if (ex == NULL)
        return;
    for (size_t i = 0; i < MAX_PREFIX; i++)
        ft_free(ex->prefix_mem[i]);
    ft_arena_destroy(ex->arena);
    ft_free(ex);
}

ft_strategy ft_exporter_strategy(const ft_exporter *ex)
{
    return ex->strategy;
}

/* ---- reading records back (both strategies) ---- */

/* Splits a stored JSON array into element texts (arena). */
static ft_code split_array(ft_str text, ft_arena *a, ft_str **out,
                           size_t *n_out, ft_err *err)
{
    json_error_t je;
    json_t *arr = json_loadb(text.ptr, text.len, JSON_ALLOW_NUL, &je);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return ft_err_set(err, FT_CORRUPT, 0,
                          "exporter: stored list is not a JSON array: %s",
                          je.text);
    }
    size_t n = json_array_size(arr);
    ft_str *items = ft_arena_alloc(a, (n ? n : 1) * sizeof *items);
    ft_code rc = items ? FT_OK : nomem(err);
    for (size_t i = 0; i < n && rc == FT_OK; i++) {
        char *s = json_dumps(json_array_get(arr, i), JSON_COMPACT | JSON_ENCODE_ANY);
        if (s == NULL) {
            rc = nomem(err);
            break;
        }
        items[i] = arena_str(a, s, strlen(s));
        free(s);
        if (items[i].ptr == NULL)
            rc = nomem(err);
    }
    json_decref(arr);
    if (rc == FT_OK) {
        *out = items;
        *n_out = n;
    }
    return rc;
}

/* Skips one JSON value at p (of at most end); NULL when malformed.  Only
 * as strict as finding its end needs. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            if (p >= end)
                return NULL;
            p++;
        } else if (c == '{' || c == '[') {
            depth++;
            p++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return p; /* the end of the enclosing object */
            depth--;
            p++;
        } else if (c == ',' && depth == 0) {
            return p;
        } else {
            p++;
        }
        if (depth == 0 && (c == '"' || c == '}' || c == ']')) {
            while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
                p++;
            return p;
        }
    }
    return depth == 0 ? p : NULL;
}

/* Splits a JSON array this exporter wrote (objects, no nesting surprises)
 * into element texts without parsing them; false when it is not of that
 * shape, and the caller parses it properly. */
static bool split_compact(ft_str text, ft_arena *a, ft_str **out, size_t *n_out)
{
    const char *p = text.ptr + 1, *end = text.ptr + text.len;
    size_t n = 0, cap = 16;
    ft_str *items = ft_arena_alloc(a, cap * sizeof *items);
    while (items != NULL && p < end && *p != ']') {
        if (*p != '{')
            return false;
        const char *q = skip_value(p, end);
        if (q == NULL || q >= end || (*q != ',' && *q != ']'))
            return false;
        if (n == cap) {
            ft_str *grown = ft_arena_alloc(a, 2 * cap * sizeof *grown);
            if (grown == NULL)
                return false;
            memcpy(grown, items, n * sizeof *items);
            items = grown;
            cap *= 2;
        }
        items[n++] = (ft_str){p, (size_t)(q - p)};
        p = *q == ',' ? q + 1 : q;
    }
    if (items == NULL || p + 1 != end || *p != ']')
        return false;
    *out = items;
    *n_out = n;
    return true;
}

/* The values of one trace from its listed entries (k: the prefix listed):
 * each value, and each span of a value that holds several (an array). */
static ft_code family_items(ft_kv_key k, bool split, const ft_kv_entry *e, size_t n,
                            ft_arena *a, ft_str **out, size_t *n_out, ft_err *err)
{
    ft_str *items = ft_arena_alloc(a, (n ? n : 1) * sizeof *items);
    if (items == NULL)
        return nomem(err);
    size_t w = 0, cap = n ? n : 1;
    for (size_t i = 0; i < n; i++) {
        if (e[i].key.n <= k.n)
            continue; /* an exact [.., trace] key is a CAS list */
        ft_str v = e[i].value;
        if (!split || v.len == 0 || v.ptr[0] != '[') {
            items[w++] = v;
            continue;
        }
        /* several spans written by one batch */
        ft_str *parts;
        size_t np;
        ft_code rc;
        if (!split_compact(v, a, &parts, &np) &&
            (rc = split_array(v, a, &parts, &np, err)) != FT_OK)
            return rc;
        if (w + np + (n - i - 1) > cap) {
            cap = 2 * (w + np + (n - i - 1));
            ft_str *grown = ft_arena_alloc(a, cap * sizeof *grown);
            if (grown == NULL)
                return nomem(err);
            memcpy(grown, items, w * sizeof *items);
            items = grown;
        }
        memcpy(items + w, parts, np * sizeof *parts);
        w += np;
    }
    *out = items;
    *n_out = w;
    return FT_OK;
}

/* The values stored under [prefix, family..., trace] (LIST) or in the one
 * array at that key (CAS), of n traces at once: out[i], counts[i] (one
 * ft_kv_list_many or ft_kv_get_many).  family may be empty (records). */
static ft_code load_families(ft_exporter *ex, const char *family, const char *const *ids,
                             size_t n, ft_arena *a, ft_str **out, size_t *counts, ft_err *err)
{
    ft_kv_key *keys = ft_arena_alloc(a, (n ? n : 1) * sizeof *keys);
    if (keys == NULL)
        return nomem(err);
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        counts[i] = 0;
        ft_str tid = arena_str(a, ids[i], strlen(ids[i]));
        keys[i] = family ? KEY(ex, a, ft_str_c(family), tid) : KEY(ex, a, tid);
        if (keys[i].parts == NULL || tid.ptr == NULL)
            return nomem(err);
    }
    ft_code rc;
    if (ex->strategy == FT_STRATEGY_CAS) {
        ft_str *vals = ft_arena_alloc(a, (n ? n : 1) * sizeof *vals);
        ft_code *got = ft_arena_alloc(a, (n ? n : 1) * sizeof *got);
        if (vals == NULL || got == NULL)
            return nomem(err);
        if ((rc = ft_kv_get_many(ex->kv, keys, n, a, vals, got, err)) != FT_OK)
            return rc;
        for (size_t i = 0; i < n && rc == FT_OK; i++)
            if (got[i] == FT_OK)
                rc = split_array(vals[i], a, &out[i], &counts[i], err);
        return rc;
    }
    ft_kv_entry **e = ft_arena_alloc(a, (n ? n : 1) * sizeof *e);
    size_t *ne = ft_arena_alloc(a, (n ? n : 1) * sizeof *ne);
    if (e == NULL || ne == NULL)
        return nomem(err);
    if ((rc = ft_kv_list_many(ex->kv, keys, n, a, e, ne, err)) != FT_OK)
        return rc;
    for (size_t i = 0; i < n && rc == FT_OK; i++)
        rc = family_items(keys[i], family != NULL, e[i], ne[i], a, &out[i], &counts[i], err);
    return rc;
}

static ft_code load_family(ft_exporter *ex, const char *family,
                           const char *trace_id, ft_arena *a, ft_str **out,
                           size_t *n_out, ft_err *err)
{
    return load_families(ex, family, &trace_id, 1, a, out, n_out, err);
}

ft_code ft_exporter_activities(ft_exporter *ex, const char *trace_id,
                               ft_arena *arena, ft_str **out, size_t *n_out,
                               ft_err *err)
{
    return load_family(ex, NULL, trace_id, arena, out, n_out, err);
}

/* Sorts JSON object texts by a numeric-string field (OTLP time). */
typedef struct keyed {
    uint64_t t;
    size_t i;
    ft_str s;
} keyed;

static int str_bytes_cmp(ft_str a, ft_str b)
{
    int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);
    return c ? c : a.len < b.len ? -1 : a.len > b.len;
}

/* By time, then by text: copies of one span end up side by side. */
static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    int c = str_bytes_cmp(x->s, y->s);
    return c ? c : x->i < y->i ? -1 : x->i > y->i;
}

static void sort_by_time(ft_str *items, size_t n, const char *field)
{
    keyed *k = ft_malloc((n ? n : 1) * sizeof *k);
    if (k == NULL)
        return; /* stays in key order */
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loadb(items[i].ptr, items[i].len, JSON_ALLOW_NUL, NULL);
        const char *s = json_string_value(json_object_get(o, field));
        k[i] = (keyed){s ? strtoull(s, NULL, 10) : 0, i, items[i]};
        json_decref(o);
    }
    qsort(k, n, sizeof *k, keyed_cmp);
    for (size_t i = 0; i < n; i++)
        items[i] = k[i].s;
    ft_free(k);
}

ft_code ft_exporter_spans(ft_exporter *ex, const char *trace_id,
                          ft_arena *arena, ft_str **out, size_t *n_out,
                          ft_err *err)
{
    ft_code rc = load_family(ex, "_spans", trace_id, arena, out, n_out, err);
    if (rc != FT_OK)
        return rc;
    sort_by_time(*out, *n_out, "startTimeUnixNano");
    /* A span sent again in a batch cut differently is stored twice, byte
     * for byte the same: show it once. */
    ft_str *v = *out;
    size_t w = 0;
    for (size_t i = 0; i < *n_out; i++)
        if (w == 0 || !ft_str_eq(v[w - 1], v[i]))
            v[w++] = v[i];
    *n_out = w;
    return FT_OK;
}

ft_code ft_exporter_logs(ft_exporter *ex, const char *trace_id,
                         ft_arena *arena, ft_str **out, size_t *n_out,
                         ft_err *err)
{
    ft_code rc = load_family(ex, "_logs", trace_id, arena, out, n_out, err);
    if (rc == FT_OK)
        sort_by_time(*out, *n_out, "timeUnixNano");
    return rc;
}

/* ---- summaries, derived from the records ---- */

typedef struct rec_view {
    const char *ts; /* ISO timestamp (arena) */
    char *type;     /* compact JSON of activityType (ft_malloc) */
    size_t order;
} rec_view;

static int rec_view_cmp(const void *a, const void *b)
{
    const rec_view *x = a, *y = b;
    int c = strcmp(x->ts, y->ts);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int64_t iso_to_ms(const char *s)
{
    struct tm tm = {0};
    unsigned ms = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3uZ", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

enum { MAX_DISTINCT = 32 }; /* actors, hosts, services listed per trace */

/* Adds text to a distinct list (arena array of MAX_DISTINCT). */
static bool distinct_add(ft_arena *a, ft_str **v, size_t *n, const char *p,
                         size_t len)
{
    if (p == NULL || len == 0)
        return true;
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].len == len && memcmp((*v)[i].ptr, p, len) == 0)
            return true;
    if (*n == MAX_DISTINCT)
        return true;
    if (*v == NULL && (*v = ft_arena_alloc(a, MAX_DISTINCT * sizeof **v)) == NULL)
        return false;
    ft_str t = arena_str(a, p, len);
    if (t.ptr == NULL)
        return false;
    (*v)[(*n)++] = t;
    return true;
}

/* The lower-case host of an http(s) URL (no port, no user info). */
static bool add_url_host(ft_arena *a, ft_trace_summary *s, const char *url)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (p == NULL)
        return true;
    p += 3;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n);
    if (at != NULL) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    char host[256];
    size_t w = 0;
    if (n > 0 && p[0] == '[') { /* IPv6 literal: keep the brackets' content */
        const char *close = memchr(p, ']', n);
        if (close == NULL)
            return true;
        for (const char *q = p + 1; q < close && w < sizeof host - 1; q++)
            host[w++] = (char)tolower((unsigned char)*q);
    } else {
        for (size_t i = 0; i < n && p[i] != ':' && w < sizeof host - 1; i++)
            host[w++] = (char)tolower((unsigned char)p[i]);
    }
    return distinct_add(a, &s->hosts, &s->n_hosts, host, w);
}

static int str_cmp(const void *x, const void *y)
{
    const ft_str *a = x, *b = y;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->ptr, b->ptr, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* service.name of a stored span's resource, and whether it is an error. */
static void span_service(json_t *span, const char **svc, bool *error)
{
    *svc = NULL;
    json_t *attrs = json_object_get(json_object_get(span, "resource"), "attributes");
    size_t i;
    json_t *kv;
    json_array_foreach(attrs, i, kv)
    {
        if (strcmp(json_string_value(json_object_get(kv, "key")) ?: "", "service.name") == 0)
            *svc = json_string_value(json_object_get(json_object_get(kv, "value"), "stringValue"));
    }
    *error = json_integer_value(json_object_get(json_object_get(span, "status"), "code")) == 2;
}

/* The services and errors of a trace from its listed facts
 * ([prefix..., "_tf", traceId, "s"|"e", service]). */
static ft_code services_from_facts(ft_exporter *ex, const ft_kv_entry *e, size_t n, ft_arena *a,
                                   ft_trace_summary *s, ft_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (e[i].key.n != ex->np + 4)
            continue;
        ft_str kind = e[i].key.parts[ex->np + 2], svc = e[i].key.parts[ex->np + 3];
        if (ft_str_eq_c(kind, "e"))
            s->has_error = true;
        if (!distinct_add(a, &s->services, &s->n_services, svc.ptr, svc.len))
            return nomem(err);
    }
    if (s->n_services > 1)
        qsort(s->services, s->n_services, sizeof *s->services, str_cmp);
    return FT_OK;
}

/* The services and errors of a trace: the LIST strategy keeps them under
 * [prefix..., "_tf", traceId, "s"|"e", service]; CAS reads the spans. */
static ft_code trace_services(ft_exporter *ex, const char *trace_id,
                              ft_arena *a, ft_trace_summary *s, ft_err *err)
{
    ft_code rc;
    if (ex->strategy == FT_STRATEGY_LIST) {
        ft_kv_key k = KEY(ex, a, FT_STR_LIT("_tf"), arena_str(a, trace_id, 32));
        ft_kv_entry *e;
        size_t n;
        if (k.parts == NULL)
            return nomem(err);
        if ((rc = ft_kv_list(ex->kv, k, NULL, a, &e, &n, err)) != FT_OK)
            return rc;
        return services_from_facts(ex, e, n, a, s, err);
    } else {
        ft_str *spans;
        size_t n;
        if ((rc = load_family(ex, "_spans", trace_id, a, &spans, &n, err)) != FT_OK)
            return rc;
        for (size_t i = 0; i < n; i++) {
            json_t *sp = json_loadb(spans[i].ptr, spans[i].len, JSON_ALLOW_NUL, NULL);
            const char *svc;
            bool error;
            span_service(sp, &svc, &error);
            s->has_error |= error;
            if (svc == NULL || *svc == '\0')
                svc = "unknown_service"; /* as push_facts names it */
            bool ok = distinct_add(a, &s->services, &s->n_services, svc, strlen(svc));
            json_decref(sp);
            if (!ok)
                return nomem(err);
        }
    }
    if (s->n_services > 1)
        qsort(s->services, s->n_services, sizeof *s->services, str_cmp);
    return FT_OK;
}


/* What a summary reads of one record: slices of the record's text (its
 * "activityJson", kilobytes, is skipped over, not read). */
typedef struct rec_brief {
    ft_str ts, type, direction, verified, actor, activity, inbox;
} rec_brief;

static bool read_record_brief(ft_str rec, rec_brief *r)
{
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        {"timestamp", offsetof(rec_brief, ts)},
        {"activityType", offsetof(rec_brief, type)},
        {"direction", offsetof(rec_brief, direction)},
        {"verified", offsetof(rec_brief, verified)},
        {"actorId", offsetof(rec_brief, actor)},
        {"activityId", offsetof(rec_brief, activity)},
        {"inboxUrl", offsetof(rec_brief, inbox)},
    };
    ft_json_iter it;
    ft_str k, v;
    memset(r, 0, sizeof *r);
    if (!ft_json_members(rec, &it))
        return false;
    while (ft_json_next(&it, &k, &v))
        for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
            if (ft_json_key_is(k, fields[i].name)) {
                *(ft_str *)((char *)r + fields[i].off) = v;
                break;
            }
    return !it.failed;
}

/* A string value as a C string in the arena (cut at a \u0000, as
 * jansson's string values are); NULL when v is not a string. */
static const char *arena_json_cstr(ft_arena *a, ft_str v, ft_buf *scratch, bool *nomem_out)
{
    if (ft_json_kind(v) != '"')
        return NULL;
    char *c;
    if (ft_json_plain(v)) {
        c = ft_arena_strndup(a, v.ptr + 1, v.len - 2);
    } else {
        ft_buf_reset(scratch);
        if (!ft_json_unescape(v, scratch))
            return NULL;
        c = ft_buf_ok(scratch) ? ft_arena_strndup(a, scratch->ptr, scratch->len) : NULL;
    }
    if (c == NULL)
        *nomem_out = true;
    return c;
}

/* The compact JSON of an activityType value, as jansson writes it (the
 * form stored summaries keep): a plain string is its own text. */
static char *type_text(ft_str v)
{
    if (ft_json_kind(v) == '"' && ft_json_plain(v)) {
        char *t = ft_malloc(v.len + 1);
        if (t != NULL) {
            memcpy(t, v.ptr, v.len);
            t[v.len] = '\0';
        }
        return t;
    }
    json_t *j = json_loadb(v.ptr, v.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    char *d = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (d == NULL) /* valid JSON jansson cannot hold: keep the text */
        d = ft_strndup(v.ptr, v.len);
    char *t = d != NULL ? ft_strndup(d, strlen(d)) : NULL;
    free(d);
    return t;
}

/* JSON strings of a stored array into the arena; false on a wrong shape. */
static bool strs_from_json(ft_arena *a, json_t *arr, bool values, ft_str **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!json_is_array(arr))
        return false;
    size_t m = json_array_size(arr);
    if (m == 0)
        return true;
    ft_str *v = ft_arena_alloc(a, m * sizeof *v);
    if (v == NULL)
        return false;
    for (size_t i = 0; i < m; i++) {
        json_t *x = json_array_get(arr, i);
        if (values) { /* activity types: any JSON value, kept as JSON text */
            char *t = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
            v[i] = t ? arena_str(a, t, strlen(t)) : (ft_str){NULL, 0};
            free(t);
        } else {
            if (!json_is_string(x))
                return false;
            v[i] = arena_str(a, json_string_value(x), json_string_length(x));
        }
        if (v[i].ptr == NULL)
            return false;
    }
    *out = v;
    *n = m;
    return true;
}

/* The summary kept at [P, "_tsum", traceId] (written with Fedify's
 * summary after records are stored): what lists need from the records
 * without reading them.  false when v does not read as one; the caller
 * then derives it from the records. */
static bool parse_stored_summary(ft_str v, const char *trace_id, ft_arena *a,
                                 ft_trace_summary *s)
{
    bool found = false;
    json_t *o = json_loadb(v.ptr, v.len, 0, NULL);
    const char *ts = json_string_value(json_object_get(o, "timestamp"));
    json_t *count = json_object_get(o, "activityCount");
    json_t *dirs = json_object_get(o, "directions");
    memset(s, 0, sizeof *s);
    bool ok = ts != NULL && strlen(ts) < sizeof s->timestamp && json_is_integer(count) &&
              json_integer_value(count) > 0 && json_is_array(dirs) &&
              strs_from_json(a, json_object_get(o, "activityTypes"), true, &s->activity_types,
                             &s->n_activity_types) &&
              strs_from_json(a, json_object_get(o, "actors"), false, &s->actors, &s->n_actors) &&
              strs_from_json(a, json_object_get(o, "hosts"), false, &s->hosts, &s->n_hosts);
    if (ok) {
        snprintf(s->trace_id, sizeof s->trace_id, "%s", trace_id);
        snprintf(s->timestamp, sizeof s->timestamp, "%s", ts);
        s->activity_count = (size_t)json_integer_value(count);
        s->first_ms = iso_to_ms(s->timestamp);
        s->verification_failed = json_is_true(json_object_get(o, "verificationFailed"));
        size_t i;
        json_t *d;
        json_array_foreach(dirs, i, d) {
            const char *t = json_string_value(d);
            s->directions |= t && strcmp(t, "inbound") == 0    ? FT_DIR_INBOUND
                             : t && strcmp(t, "outbound") == 0 ? FT_DIR_OUTBOUND
                                                               : 0;
        }
        found = s->first_ms >= 0;
    }
    if (!found)
        memset(s, 0, sizeof *s);
    json_decref(o);
    return found;
}

/* Computes the summary of `trace_id` from its n stored records recs (and,
 * when `full`, what fedtrace adds: services, errors).  found is false when
 * the trace has no records. */
static ft_code summarize_records(ft_exporter *ex, const char *trace_id, const ft_str *recs,
                                 size_t n, ft_arena *a, bool full, ft_trace_summary *s,
                                 bool *found, ft_err *err)
{
    ft_code rc = FT_OK;
    *found = false;
    if (n == 0)
        return FT_OK;
    ft_buf scratch = {0};
    rec_view *v = ft_calloc(n, sizeof *v);
    if (v == NULL) {
        rc = nomem(err);
        goto out;
    }
    memset(s, 0, sizeof *s);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        rec_brief r;
        bool oom = false;
        const char *ts;
        if (!read_record_brief(recs[i], &r) || r.type.len == 0 ||
            (ts = arena_json_cstr(a, r.ts, &scratch, &oom)) == NULL) {
            if (oom) {
                rc = nomem(err);
                goto out;
            }
            continue; /* not a record; ignore rather than fail the trace */
        }
        v[m].ts = ts;
        v[m].order = i;
        v[m].type = type_text(r.type);
        if (v[m].type == NULL) {
            rc = nomem(err);
            goto out;
        }
        m++;
        const char *dir = arena_json_cstr(a, r.direction, &scratch, &oom);
        bool in = dir != NULL && strcmp(dir, "inbound") == 0;
        s->directions |= in ? FT_DIR_INBOUND : dir != NULL && strcmp(dir, "outbound") == 0 ? FT_DIR_OUTBOUND : 0;
        if (in && r.verified.len == 5 && memcmp(r.verified.ptr, "false", 5) == 0)
            s->verification_failed = true;
        const char *actor = arena_json_cstr(a, r.actor, &scratch, &oom);
        if (oom || !distinct_add(a, &s->actors, &s->n_actors, actor, actor ? strlen(actor) : 0) ||
            !add_url_host(a, s, actor) ||
            !add_url_host(a, s, arena_json_cstr(a, r.activity, &scratch, &oom)) ||
            !add_url_host(a, s, arena_json_cstr(a, r.inbox, &scratch, &oom)) || oom) {
            rc = nomem(err);
            goto out;
        }
    }
    if (m == 0)
        goto out;
    qsort(v, m, sizeof *v, rec_view_cmp);
    snprintf(s->trace_id, sizeof s->trace_id, "%s", trace_id);
    snprintf(s->timestamp, sizeof s->timestamp, "%s", v[0].ts);
    s->activity_count = m;
    s->activity_types = ft_arena_alloc(a, m * sizeof *s->activity_types);
    if (s->activity_types == NULL) {
        rc = nomem(err);
        goto out;
    }
    for (size_t i = 0; i < m; i++) {
        bool dup = false;
        for (size_t j = 0; j < s->n_activity_types && !dup; j++)
            dup = ft_str_eq_c(s->activity_types[j], v[i].type);
        if (dup)
            continue;
        ft_str t = arena_str(a, v[i].type, strlen(v[i].type));
        if (t.ptr == NULL) {
            rc = nomem(err);
            goto out;
        }
        s->activity_types[s->n_activity_types++] = t;
    }
    s->first_ms = iso_to_ms(s->timestamp);
    if (full)
        rc = trace_services(ex, trace_id, a, s, err);
    *found = rc == FT_OK;
out:
    ft_buf_free(&scratch);
    for (size_t i = 0; v != NULL && i < n; i++)
        ft_free(v[i].type);
    ft_free(v);
    return rc;
}

/* The same, from the records as stored now. */
static ft_code summarize(ft_exporter *ex, const char *trace_id, ft_arena *a, bool full,
                         ft_trace_summary *s, bool *found, ft_err *err)
{
    ft_str *recs;
    size_t n;
    *found = false;
    ft_code rc = load_family(ex, NULL, trace_id, a, &recs, &n, err);
    if (rc != FT_OK)
        return rc;
    return summarize_records(ex, trace_id, recs, n, a, full, s, found, err);
}

/* Fedify's TraceSummary, exactly its four fields: the value of the
 * _summaries key that Fedify's getRecentTraces() reads. */
static void fedify_summary_json(ft_buf *b, const ft_trace_summary *s)
{
    ft__fedify_summary_fields(b, s);
    ft_buf_putc(b, '}');
}

/* ---- compare-and-swap helpers ---- */

static void backoff(unsigned attempt)
{
    unsigned us = attempt < 10 ? (1u << attempt) : 1000u;
    us += (unsigned)rand() % (us + 1); /* jitter; rand is good enough here */
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

/* Brings Fedify's summary keys of n traces in line with their stored
 * records: read each key, recompute from the records, then swap them all
 * in one ft_kv_cas_many (one transaction on LMDB).  A conflict means
 * someone else changed that summary in between: those traces start over. */
static ft_code update_summaries(ft_exporter *ex, const char *const *ids, size_t n,
                                ft_export_stats *st, ft_err *err)
{
    ft_arena *a = ft_arena_create(0);
    const char **todo = ft_calloc(n ? n : 1, sizeof *todo);
    ft_kv_cas_op *ops = ft_calloc(n ? 2 * n : 1, sizeof *ops);
    ft_code rc = a && todo && ops ? FT_OK : nomem(err);
    size_t left = n;
    if (rc == FT_OK)
        memcpy(todo, ids, n * sizeof *todo);
    for (unsigned attempt = 0; rc == FT_OK && left > 0; attempt++) {
        ft_arena_reset(a);
        size_t m = 0;
        /* Fedify's summary, and fedtrace's fuller one that lists read:
         * both keys of every trace read at once */
        ft_kv_key *keys = ft_arena_alloc(a, 2 * left * sizeof *keys);
        ft_str *vals = ft_arena_alloc(a, 2 * left * sizeof *vals);
        ft_code *got = ft_arena_alloc(a, 2 * left * sizeof *got);
        if (keys == NULL || vals == NULL || got == NULL) {
            rc = nomem(err);
            break;
        }
        for (size_t i = 0; i < left; i++) {
            ft_str tid = arena_str(a, todo[i], strlen(todo[i]));
            keys[2 * i] = KEY(ex, a, FT_STR_LIT("_summaries"), tid);
            keys[2 * i + 1] = KEY(ex, a, FT_STR_LIT("_tsum"), tid);
            if (keys[2 * i].parts == NULL || keys[2 * i + 1].parts == NULL) {
                rc = nomem(err);
                break;
            }
        }
        if (rc != FT_OK || (rc = ft_kv_get_many(ex->kv, keys, 2 * left, a, vals, got, err)) != FT_OK)
            break;
        /* the records of every trace, read at once (one script on Redis) */
        ft_str **recs = ft_arena_alloc(a, left * sizeof *recs);
        size_t *n_recs = ft_arena_alloc(a, left * sizeof *n_recs);
        if (recs == NULL || n_recs == NULL) {
            rc = nomem(err);
            break;
        }
        if ((rc = load_families(ex, NULL, todo, left, a, recs, n_recs, err)) != FT_OK)
            break;
        for (size_t i = 0; i < left && rc == FT_OK; i++) {
            ft_kv_key *k = &keys[2 * i];
            ft_str *cur = ft_arena_alloc(a, 4 * sizeof *cur);
            if (cur == NULL) {
                rc = nomem(err);
                break;
            }
            bool present[2] = {got[2 * i] == FT_OK, got[2 * i + 1] == FT_OK};
            cur[0] = vals[2 * i];
            cur[1] = vals[2 * i + 1];
            ft_trace_summary s;
            bool found;
            if ((rc = summarize_records(ex, todo[i], recs[i], n_recs[i], a, false, &s, &found,
                                        err)) != FT_OK)
                break;
            if (!found)
                continue; /* records expired meanwhile: nothing to summarize */
            ft_buf b = {0};
            fedify_summary_json(&b, &s);
            cur[2] = buf_to_arena(a, &b);
            ft_buf_reset(&b);
            ft_trace_summary_json(&b, &s);
            cur[3] = buf_to_arena(a, &b);
            ft_buf_free(&b);
            if (cur[2].ptr == NULL || cur[3].ptr == NULL) {
                rc = nomem(err);
                break;
            }
            if (present[0] && ft_str_eq(cur[0], cur[2]) && present[1] && ft_str_eq(cur[1], cur[3]))
                continue;
            todo[m / 2] = todo[i];
            for (int w = 0; w < 2; w++)
                ops[m++] = (ft_kv_cas_op){k[w], present[w] ? &cur[w] : NULL, &cur[2 + w],
                                          ex->ttl_ms, FT_OK};
        }
        if (rc != FT_OK || m == 0)
            break;
        if ((rc = ft_kv_cas_many(ex->kv, ops, m, err)) != FT_OK)
            break;
        left = 0;
        for (size_t i = 0; i < m; i += 2)
            if (ops[i].result == FT_CONFLICT || ops[i + 1].result == FT_CONFLICT)
                todo[left++] = todo[i / 2];
        if (left == 0)
            break;
        if (st)
            st->cas_retries += left;
        if (attempt + 1 >= CAS_MAX_ATTEMPTS) {
            rc = ft_err_set(err, FT_AGAIN, 0,
                            "exporter: summary of trace %s still contended "
                            "after %d attempts",
                            todo[0], CAS_MAX_ATTEMPTS);
            break;
        }
        backoff(attempt);
    }
    ft_free(ops);
    ft_free(todo);
    ft_arena_destroy(a);
    return rc;
}

/* Canonical text of a JSON value, for duplicate detection (malloc). */
static char *canonical(json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static int strptr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    ft_free(v);
}

/*
 * Appends the JSON texts `items` to the JSON array stored at k, skipping
 * those already in it (by canonical form), by compare-and-swap, retried
 * until it succeeds.  Existing bytes are kept as they are.
 */
static ft_code cas_append(ft_exporter *ex, ft_kv_key k, const ft_str *items,
                          size_t n, ft_export_stats *st, ft_err *err)
{
    /* canonical forms of the new items, deduplicated among themselves */
    char **mine = ft_calloc(n ? n : 1, sizeof *mine);
    if (mine == NULL)
        return nomem(err);
    ft_code rc = FT_OK;
    for (size_t i = 0; i < n && rc == FT_OK; i++) {
        json_t *j = json_loadb(items[i].ptr, items[i].len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        mine[i] = j ? canonical(j) : NULL;
        json_decref(j);
        if (mine[i] == NULL)
            rc = ft_err_set(err, FT_INVAL, 0, "exporter: item %zu is not JSON", i);
    }
    ft_arena *a = ft_arena_create(0);
    ft_buf b = {0};
    if (a == NULL && rc == FT_OK)
        rc = nomem(err);
    for (unsigned attempt = 0; rc == FT_OK; attempt++) {
        ft_arena_reset(a);
        ft_buf_reset(&b);
        ft_str cur;
        rc = ft_kv_get(ex->kv, k, a, &cur, err);
        if (rc != FT_OK && rc != FT_NOTFOUND)
            break;
        bool present = rc == FT_OK;
        rc = FT_OK;
        char **have = NULL;
        size_t nh = 0;
        if (present) {
            json_t *arr = json_loadb(cur.ptr, cur.len, JSON_ALLOW_NUL, NULL);
            if (!json_is_array(arr)) {
                json_decref(arr);
                rc = ft_err_set(err, FT_CORRUPT, 0,
                                "exporter: value at %s is not a JSON array",
                                ft_kv_key_repr(a, k));
                break;
            }
            nh = json_array_size(arr);
            have = ft_calloc(nh ? nh : 1, sizeof *have);
            for (size_t i = 0; have != NULL && i < nh; i++)
                if ((have[i] = canonical(json_array_get(arr, i))) == NULL)
                    have[i] = strdup("");
            json_decref(arr);
            if (have == NULL) {
                rc = nomem(err);
                break;
            }
            qsort(have, nh, sizeof *have, strptr_cmp);
        }
        /* the new array: old bytes, then what is not there yet */
        size_t added = 0;
        if (present) {
            size_t end = cur.len;
            while (end > 0 && cur.ptr[end - 1] != ']')
                end--;
            ft_buf_put(&b, cur.ptr, end ? end - 1 : 0);
            added = 0;
        } else {
            ft_buf_putc(&b, '[');
        }
        bool empty_before = !present || nh == 0;
        for (size_t i = 0; i < n; i++) {
            if (nh && bsearch(&mine[i], have, nh, sizeof *have, strptr_cmp))
                continue;
            bool dup = false;
            for (size_t j = 0; j < i && !dup; j++)
                dup = strcmp(mine[i], mine[j]) == 0;
            if (dup)
                continue;
            if (!empty_before || added)
                ft_buf_putc(&b, ',');
            ft_buf_put(&b, items[i].ptr, items[i].len);
            added++;
        }
        ft_buf_putc(&b, ']');
        free_strs(have, nh);
        if (added == 0)
            break; /* everything already stored: a retry or a duplicate */
        if (!ft_buf_ok(&b)) {
            rc = nomem(err);
            break;
        }
        ft_str next = ft_buf_str(&b);
        rc = ft_kv_cas(ex->kv, k, present ? &cur : NULL, &next, ex->ttl_ms, err);
        if (rc != FT_CONFLICT)
            break;
        rc = FT_OK;
        if (st)
            st->cas_retries++;
        if (attempt + 1 >= CAS_MAX_ATTEMPTS) {
            rc = ft_err_set(err, FT_AGAIN, 0,
                            "exporter: %s still contended after %d attempts",
                            ft_kv_key_repr(a, k), CAS_MAX_ATTEMPTS);
            break;
        }
        backoff(attempt);
    }
    ft_buf_free(&b);
    ft_arena_destroy(a);
    free_strs(mine, n);
    return rc;
}

/* ---- exporting ---- */

/* A growable arena array of JSON texts, and of kv ops. */
typedef struct texts {
    ft_str *v;
    size_t n, cap;
} texts;

static bool texts_push(ft_arena *a, texts *t, ft_str s)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        ft_str *v = ft_arena_alloc(a, cap * sizeof *v);
        if (v == NULL)
            return false;
        if (t->n)
            memcpy(v, t->v, t->n * sizeof *v);
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = s;
    return true;
}

typedef struct ops {
    ft_kv_op *v;
    size_t n, cap;
} ops;

static bool ops_push(ft_arena *a, ops *o, ft_kv_key k, ft_str val, int64_t ttl)
{
    if (k.parts == NULL || val.ptr == NULL)
        return false;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        ft_kv_op *v = ft_arena_alloc(a, cap * sizeof *v);
        if (v == NULL)
            return false;
        if (o->n)
            memcpy(v, o->v, o->n * sizeof *v);
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = (ft_kv_op){FT_KV_SET, k, val, ttl, false};
    return true;
}

/* The same for a value only fedtrace reads (spans, logs): the store may
 * keep it compressed. */
static bool ops_push_own(ft_arena *a, ops *o, ft_kv_key k, ft_str val, int64_t ttl)
{
    if (!ops_push(a, o, k, val, ttl))
        return false;
    o->v[o->n - 1].compressible = true;
    return true;
}

/* Per trace in a batch (CAS strategy groups by it; LIST only needs the set
 * of traces whose summary must be refreshed). */
typedef struct trace_acc {
    char id[33];
    char first_span[17]; /* LIST: names the key of the trace's spans */
    texts spans, logs, records;
    texts index; /* CAS strategy: [ms,"traceId"] entries */
    texts facts; /* LIST: "s"/"e" + service already written in this batch */
    bool has_recent; /* LIST: the time of the batch's earliest activity */
    int64_t recent_ms;
} trace_acc;

typedef struct accs {
    trace_acc *v;
    size_t n, cap;
} accs;

static trace_acc *acc_for(ft_arena *a, accs *t, const char *id)
{
    for (size_t i = t->n; i-- > 0;)
        if (strcmp(t->v[i].id, id) == 0)
            return &t->v[i];
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        trace_acc *v = ft_arena_calloc(a, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        if (t->n)
            memcpy(v, t->v, t->n * sizeof *v);
        t->v = v;
        t->cap = cap;
    }
    trace_acc *acc = &t->v[t->n++];
    memset(acc, 0, sizeof *acc);
    memcpy(acc->id, id, 33);
    return acc;
}


static int64_t event_ms(const ft_event *ev)
{
    return (int64_t)(ev->time_ns / 1000000u);
}

/* The minute buckets of the CAS-only time index, and its directory. */
static ft_code cas_index(ft_exporter *ex, ft_arena *a, trace_acc *acc,
                         ft_export_stats *st, ft_err *err)
{
    ft_code rc = FT_OK;
    for (size_t i = 0; i < acc->index.n && rc == FT_OK; i++) {
        /* one bucket per entry; entries of one trace rarely span minutes */
        long long ms = 0;
        sscanf(acc->index.v[i].ptr, "[%lld,", &ms);
        int64_t minute = ms / 60000;
        char mbuf[32];
        int mlen = snprintf(mbuf, sizeof mbuf, "%lld", (long long)minute);
        ft_kv_key bk = KEY(ex, a, FT_STR_LIT("_recent"), arena_str(a, mbuf, (size_t)mlen));
        if (bk.parts == NULL)
            return nomem(err);
        rc = cas_append(ex, bk, &acc->index.v[i], 1, st, err);
        if (rc == FT_OK) {
            ft_kv_key dk = KEY(ex, a, FT_STR_LIT("_recent_minutes"));
            ft_str m = arena_str(a, mbuf, (size_t)mlen);
            if (dk.parts == NULL || m.ptr == NULL)
                return nomem(err);
            rc = cas_append(ex, dk, &m, 1, st, err);
        }
    }
    return rc;
}

static ft_code flush_cas(ft_exporter *ex, ft_arena *a, accs *traces,
                         ft_export_stats *st, ft_err *err)
{
    for (size_t i = 0; i < traces->n; i++) {
        trace_acc *acc = &traces->v[i];
        ft_str tid = arena_str(a, acc->id, 32);
        ft_code rc = FT_OK;
        if (acc->spans.n) {
            ft_kv_key k = KEY(ex, a, FT_STR_LIT("_spans"), tid);
            rc = k.parts ? cas_append(ex, k, acc->spans.v, acc->spans.n, st, err)
                         : nomem(err);
        }
        if (rc == FT_OK && acc->logs.n) {
            ft_kv_key k = KEY(ex, a, FT_STR_LIT("_logs"), tid);
            rc = k.parts ? cas_append(ex, k, acc->logs.v, acc->logs.n, st, err)
                         : nomem(err);
        }
        if (rc == FT_OK && acc->records.n) {
            ft_kv_key k = KEY(ex, a, tid);
            rc = k.parts ? cas_append(ex, k, acc->records.v, acc->records.n, st, err)
                         : nomem(err);
            if (rc == FT_OK)
                rc = cas_index(ex, a, acc, st, err);
            if (rc == FT_OK) {
                const char *id = acc->id;
                rc = update_summaries(ex, &id, 1, st, err);
            }
        }
        if (rc != FT_OK)
            return rc;
    }
    return FT_OK;
}

/* What one export call collects before it writes: the ops of one atomic
 * batch (LIST), or per trace the lists to append (CAS). */
typedef struct job {
    ft_export_stats local, *st;
    ft_arena *a;
    ft_buf b; /* scratch for one JSON text */
    ops o;
    accs traces;
    bool list;
} job;

static void job_start(ft_exporter *ex, job *j, ft_export_stats *stats)
{
    memset(j, 0, sizeof *j);
    j->st = stats ? stats : &j->local;
    j->a = ex->arena;
    ft_arena_reset(j->a);
    j->list = ex->strategy == FT_STRATEGY_LIST;
}

/* Writes what the job collected, then refreshes Fedify's summaries of the
 * traces that got activities. */
static ft_code job_write(ft_exporter *ex, job *j, ft_err *err)
{
    if (!j->list)
        return flush_cas(ex, j->a, &j->traces, j->st, err);
    /* A trace's spans of this batch are one value (an array when more than
     * one), keyed by the first: a fraction of the keys, and compressed
     * together they take a fraction of the bytes. */
    for (size_t i = 0; i < j->traces.n; i++) {
        trace_acc *acc = &j->traces.v[i];
        if (acc->spans.n == 0)
            continue;
        ft_str v = acc->spans.v[0];
        if (acc->spans.n > 1) {
            size_t len = 1;
            for (size_t k = 0; k < acc->spans.n; k++)
                len += acc->spans.v[k].len + 1;
            char *p = ft_arena_alloc(j->a, len);
            if (p == NULL)
                return nomem(err);
            v = (ft_str){p, len};
            for (size_t k = 0; k < acc->spans.n; k++) {
                *p++ = k ? ',' : '[';
                memcpy(p, acc->spans.v[k].ptr, acc->spans.v[k].len);
                p += acc->spans.v[k].len;
            }
            *p = ']';
        }
        /* the time index: one entry per trace and batch, at its earliest
         * activity (a trace is listed at its first activity; entries of
         * later ones would only be skipped) */
        if (acc->has_recent &&
            !ops_push(j->a, &j->o,
                      KEY(ex, j->a, FT_STR_LIT("_recent"), arena_fmt_ts(j->a, acc->recent_ms),
                          arena_str(j->a, acc->id, 32)),
                      FT_STR_LIT(""), ex->ttl_ms))
            return nomem(err);
        if (!ops_push_own(j->a, &j->o,
                      KEY(ex, j->a, FT_STR_LIT("_spans"), arena_str(j->a, acc->id, 32),
                          arena_str(j->a, acc->first_span, 16)),
                      v, ex->ttl_ms))
            return nomem(err);
    }
    /* the arrival index that eviction walks, oldest first (local stores:
     * the disk budget is LMDB's) */
    ft_str minute = arena_fmt_ts(j->a, ft_now_ms() / 60000 * 60000);
    for (size_t i = 0; i < j->traces.n && !ex->remote; i++)
        if (!ops_push(j->a, &j->o,
                      KEY(ex, j->a, FT_STR_LIT("_age"), minute,
                          arena_str(j->a, j->traces.v[i].id, 32)),
                      FT_STR_LIT(""), ex->ttl_ms))
            return nomem(err);
    ft_code rc = ft_kv_batch(ex->kv, j->o.v, j->o.n, err);
    if (rc != FT_OK || !ex->summaries)
        return rc;
    const char **ids = ft_arena_alloc(j->a, (j->traces.n ? j->traces.n : 1) * sizeof *ids);
    if (ids == NULL)
        return nomem(err);
    size_t n = 0;
    for (size_t i = 0; i < j->traces.n; i++)
        if (j->traces.v[i].records.n)
            ids[n++] = j->traces.v[i].id;
    return update_summaries(ex, ids, n, j->st, err);
}

/* One fact key per service of the trace, and one per service with an
 * error span: what lists and filters show without reading spans.  Sets
 * only ever add, so concurrent writers agree. */
static bool push_fact(ft_exporter *ex, ft_arena *a, ops *o, trace_acc *acc,
                      ft_str tid, const char *kind, ft_str svc)
{
    for (size_t i = 0; i < acc->facts.n; i++)
        if (acc->facts.v[i].ptr[0] == kind[0] && acc->facts.v[i].len == svc.len + 1 &&
            memcmp(acc->facts.v[i].ptr + 1, svc.ptr, svc.len) == 0)
            return true;
    char *f = ft_arena_alloc(a, svc.len + 1);
    if (f == NULL)
        return false;
    f[0] = kind[0];
    memcpy(f + 1, svc.ptr, svc.len);
    return texts_push(a, &acc->facts, (ft_str){f, svc.len + 1}) &&
           ops_push(a, o, KEY(ex, a, FT_STR_LIT("_tf"), tid, ft_str_c(kind), svc),
                    FT_STR_LIT(""), ex->ttl_ms);
}

static bool push_facts(ft_exporter *ex, ft_arena *a, ops *o, trace_acc *acc,
                       ft_str tid, const ft_span *sp)
{
    const ft_value *v = sp->resource ? ft_attrs_get(sp->resource->attrs, "service.name") : NULL;
    ft_str svc = v && v->type == FT_VAL_STRING && v->u.s.len ? v->u.s : FT_STR_LIT("unknown_service");
    if (!push_fact(ex, a, o, acc, tid, "s", svc))
        return false;
    return sp->status_code != FT_STATUS_ERROR || push_fact(ex, a, o, acc, tid, "e", svc);
}

/* For each link of the span, an entry under the linked trace: [prefix...,
 * "_linked", linkedTraceId, traceId, spanId, N], so that the linked trace
 * finds who links to it (Sidekiq jobs link to the enqueuing span). */
static bool push_links(ft_exporter *ex, ft_arena *a, ops *o, ft_str tid, ft_str sid,
                       const ft_span *sp)
{
    for (size_t i = 0; i < sp->n_links; i++) {
        const ft_link *l = &sp->links[i];
        char lt[33], ls[17], n[16];
        ft_hex_encode(l->trace_id, 16, lt);
        ft_hex_encode(l->span_id, 8, ls);
        int nl = snprintf(n, sizeof n, "%zu", i);
        const ft_value *sv = sp->resource ? ft_attrs_get(sp->resource->attrs, "service.name") : NULL;
        ft_buf b = {0};
        ft_buf_printf(&b, "{\"spanId\":\"%s\",\"fromService\":", ls);
        ft_json_str(&b, sv && sv->type == FT_VAL_STRING ? sv->u.s : FT_STR_LIT("unknown_service"));
        ft_buf_puts(&b, ",\"fromName\":");
        ft_json_str(&b, sp->name);
        ft_buf_putc(&b, '}');
        ft_str v = buf_to_arena(a, &b);
        ft_buf_free(&b);
        if (!ops_push(a, o,
                      KEY(ex, a, FT_STR_LIT("_linked"), arena_str(a, lt, 32), tid, sid,
                          arena_str(a, n, (size_t)nl)),
                      v, ex->ttl_ms))
            return false;
    }
    return true;
}

ft_code ft_exporter_export_spans(ft_exporter *ex, const ft_span_batch *batch,
                                 ft_export_stats *stats, ft_err *err)
{
    job j;
    job_start(ex, &j, stats);
    ft_arena *a = j.a;
    ft_code rc = FT_OK;
    size_t n_records = 0;

    for (size_t i = 0; i < batch->n && rc == FT_OK; i++) {
        const ft_span *sp = &batch->spans[i];
        char tid[33], sid[17];
        ft_hex_encode(sp->trace_id, 16, tid);
        ft_hex_encode(sp->span_id, 8, sid);
        ft_str t = arena_str(a, tid, 32), s = arena_str(a, sid, 16);
        ft_buf_reset(&j.b);
        ft_peer peer;
        bool has_peer = ex->metrics != NULL && ft_infer_peer(sp, ft__metrics_infer(ex->metrics), &peer);
        ft__span_json(&j.b, sp, has_peer ? &peer : NULL);
        ft_str sj = buf_to_arena(a, &j.b);
        trace_acc *acc = acc_for(a, &j.traces, tid);
        if (acc == NULL || t.ptr == NULL || s.ptr == NULL || sj.ptr == NULL) {
            rc = nomem(err);
            break;
        }
        if (acc->spans.n == 0)
            memcpy(acc->first_span, sid, sizeof sid);
        bool ok = texts_push(a, &acc->spans, sj) &&
                  (!j.list || (push_facts(ex, a, &j.o, acc, t, sp) &&
                               push_links(ex, a, &j.o, t, s, sp)));
        unsigned ordinal = 0;
        for (size_t e = 0; e < sp->n_events && ok; e++) {
            const ft_event *ev = &sp->events[e];
            ft_buf_reset(&j.b);
            if (!ft__activity_record_json(sp, ev, &j.b))
                continue;
            ft_str rj = buf_to_arena(a, &j.b);
            char ord[16];
            int ol = snprintf(ord, sizeof ord, "%u", ordinal);
            if (j.list) {
                ft_kv_key rk = ordinal == 0
                                   ? KEY(ex, a, t, s)
                                   : KEY(ex, a, t, s, arena_str(a, ord, (size_t)ol));
                ok = ops_push(a, &j.o, rk, rj, ex->ttl_ms);
                if (!acc->has_recent || event_ms(ev) < acc->recent_ms) {
                    acc->has_recent = true;
                    acc->recent_ms = event_ms(ev);
                }
                if (ok && acc->records.n == 0)
                    ok = texts_push(a, &acc->records, rj); /* marks "has activities" */
            } else {
                ft_buf_reset(&j.b);
                ft_buf_printf(&j.b, "[%lld,\"%s\"]", (long long)event_ms(ev), tid);
                ft_str ij = buf_to_arena(a, &j.b);
                ok = rj.ptr && ij.ptr && texts_push(a, &acc->records, rj) &&
                     texts_push(a, &acc->index, ij);
            }
            ordinal++;
            n_records++;
        }
        if (!ok)
            rc = nomem(err);
    }
    ft_buf_free(&j.b);
    if (rc == FT_OK && ex->metrics != NULL && ex->shared && j.list) {
        /* the client/server halves go with the spans, in one write */
        ft_kv_op *h;
        size_t nh;
        rc = ft__metrics_halves(ex->metrics, ex->prefix, ex->np, batch, a, &h, &nh, err);
        for (size_t i = 0; i < nh && rc == FT_OK; i++)
            if (!ops_push(a, &j.o, h[i].key, h[i].value, h[i].ttl_ms))
                rc = nomem(err);
    }
    if (rc == FT_OK)
        rc = job_write(ex, &j, err);
    if (rc == FT_OK && ex->metrics != NULL)
        rc = ft__metrics_count(ex->metrics, ex->kv, ex->prefix, ex->np, batch, ex->shared, err);
    if (rc == FT_OK) {
        j.st->spans += batch->n;
        j.st->activities += n_records;
    }
    return rc;
}

ft_code ft_exporter_export_logs(ft_exporter *ex, const ft_log_batch *batch,
                                ft_export_stats *stats, ft_err *err)
{
    job j;
    job_start(ex, &j, stats);
    ft_arena *a = j.a;
    ft_code rc = FT_OK;
    size_t stored = 0;
    for (size_t i = 0; i < batch->n && rc == FT_OK; i++) {
        const ft_log *lg = &batch->logs[i];
        if (!lg->has_trace_id)
            continue;
        char tid[33];
        ft_hex_encode(lg->trace_id, 16, tid);
        ft_buf_reset(&j.b);
        ft__log_json(&j.b, lg);
        ft_str lj = buf_to_arena(a, &j.b);
        ft_str t = arena_str(a, tid, 32);
        bool ok = lj.ptr != NULL && t.ptr != NULL;
        if (ok && j.list) {
            char tb[24], hb[24];
            ok = acc_for(a, &j.traces, tid) != NULL; /* for the arrival index */
            int tl = snprintf(tb, sizeof tb, "%020llu",
                              (unsigned long long)(lg->time_ns ? lg->time_ns : lg->observed_ns));
            int hl = snprintf(hb, sizeof hb, "%016llx", (unsigned long long)ft_fnv1a(FT_FNV_INIT, lj.ptr, lj.len));
            ok = ok && ops_push_own(a, &j.o,
                          KEY(ex, a, FT_STR_LIT("_logs"), t, arena_str(a, tb, (size_t)tl),
                              arena_str(a, hb, (size_t)hl)),
                          lj, ex->ttl_ms);
        } else if (ok) {
            trace_acc *acc = acc_for(a, &j.traces, tid);
            ok = acc != NULL && texts_push(a, &acc->logs, lj);
        }
        if (!ok)
            rc = nomem(err);
        stored++;
    }
    ft_buf_free(&j.b);
    if (rc == FT_OK)
        rc = job_write(ex, &j, err);
    if (rc == FT_OK)
        j.st->logs += stored;
    return rc;
}

/* ---- eviction ---- */

/* Adds a delete of every key under `prefix` to o; when `recent` is set,
 * also of the time-index entries of the records found (their timestamps
 * give the index keys). */
static ft_code push_deletes(ft_exporter *ex, ft_arena *a, ops *o,
                            ft_kv_key prefix, ft_str tid, bool recent,
                            ft_err *err)
{
    ft_kv_entry *e;
    size_t n;
    ft_code rc = ft_kv_list(ex->kv, prefix, NULL, a, &e, &n, err);
    for (size_t i = 0; i < n && rc == FT_OK; i++) {
        if (!ops_push(a, o, e[i].key, FT_STR_LIT(""), 0))
            return nomem(err);
        o->v[o->n - 1].type = FT_KV_DELETE;
        if (!recent)
            continue;
        json_t *r = json_loadb(e[i].value.ptr, e[i].value.len, JSON_ALLOW_NUL, NULL);
        const char *ts = json_string_value(json_object_get(r, "timestamp"));
        int64_t ms = ts ? iso_to_ms(ts) : -1;
        json_decref(r);
        if (ms < 0)
            continue;
        if (!ops_push(a, o, KEY(ex, a, FT_STR_LIT("_recent"), arena_fmt_ts(a, ms), tid),
                      FT_STR_LIT(""), 0))
            return nomem(err);
        o->v[o->n - 1].type = FT_KV_DELETE;
    }
    return rc;
}

/* Deletes everything stored for one trace, in one atomic batch. */
static ft_code delete_trace(ft_exporter *ex, ft_arena *a, ft_str tid,
                            ft_err *err)
{
    ops o = {0};
    ft_kv_key rk = KEY(ex, a, tid), sk = KEY(ex, a, FT_STR_LIT("_spans"), tid),
              lk = KEY(ex, a, FT_STR_LIT("_logs"), tid),
              mk = KEY(ex, a, FT_STR_LIT("_summaries"), tid),
              fk = KEY(ex, a, FT_STR_LIT("_tf"), tid),
              tk = KEY(ex, a, FT_STR_LIT("_tsum"), tid);
    if (rk.parts == NULL || sk.parts == NULL || lk.parts == NULL || mk.parts == NULL ||
        fk.parts == NULL || tk.parts == NULL)
        return nomem(err);
    ft_code rc = push_deletes(ex, a, &o, rk, tid, true, err);
    if (rc == FT_OK)
        rc = push_deletes(ex, a, &o, fk, tid, false, err);
    if (rc == FT_OK)
        rc = push_deletes(ex, a, &o, sk, tid, false, err);
    if (rc == FT_OK)
        rc = push_deletes(ex, a, &o, lk, tid, false, err);
    if (rc == FT_OK && (!ops_push(a, &o, mk, FT_STR_LIT(""), 0) ||
                        !ops_push(a, &o, tk, FT_STR_LIT(""), 0)))
        rc = nomem(err);
    if (rc != FT_OK)
        return rc;
    o.v[o.n - 2].type = o.v[o.n - 1].type = FT_KV_DELETE;
    return ft_kv_batch(ex->kv, o.v, o.n, err);
}

ft_code ft_exporter_evict_oldest(ft_exporter *ex, size_t max_traces,
                                 size_t *evicted, ft_err *err)
{
    if (evicted)
        *evicted = 0;
    if (ex->strategy != FT_STRATEGY_LIST)
        return ft_err_set(err, FT_UNSUPPORTED, 0,
                          "exporter: eviction needs a store with list");
    if (ex->remote)
        return ft_err_set(err, FT_UNSUPPORTED, 0,
                          "exporter: eviction walks the arrival index, kept on local stores "
                          "only (Redis and PostgreSQL expire what they hold)");
    ft_arena *a = ex->arena;
    ft_arena_reset(a);
    ft_kv_key prefix = KEY(ex, a, FT_STR_LIT("_age"));
    if (prefix.parts == NULL)
        return nomem(err);
    ft_kv_list_opts lo = {false, NULL, max_traces ? max_traces : 1};
    ft_kv_entry *e;
    size_t n;
    ft_code rc = ft_kv_list(ex->kv, prefix, &lo, a, &e, &n, err);
    size_t done = 0;
    for (size_t i = 0; i < n && rc == FT_OK; i++) {
        if (e[i].key.n == ex->np + 3 && e[i].key.parts[ex->np + 2].len == 32) {
            rc = delete_trace(ex, a, e[i].key.parts[ex->np + 2], err);
            done++;
        }
        if (rc == FT_OK)
            rc = ft_kv_delete(ex->kv, e[i].key, err);
        if (rc == FT_NOTFOUND)
            rc = FT_OK;
    }
    if (evicted)
        *evicted = done;
    return rc;
}

/* ---- adopting what Fedify wrote ---- */

/* Summaries looked at per page, and the time a call may take. */
#define ADOPT_PAGE 2048
#define ADOPT_BUDGET_MS 2000

/* One page of summaries after ex->adopt_cursor: indexes those whose
 * trace has no time-index entry yet (one ft_kv_get_many for the page's
 * entries, one batch for what is missing).  *end: the listing is over. */
static ft_code adopt_page(ft_exporter *ex, ft_arena *a, size_t *done, bool *end, ft_err *err)
{
    ft_kv_key prefix = KEY(ex, a, FT_STR_LIT("_summaries"));
    ft_kv_key after = {NULL, 0};
    if (ex->adopt_cursor[0])
        after = KEY(ex, a, FT_STR_LIT("_summaries"), arena_str(a, ex->adopt_cursor, 32));
    if (prefix.parts == NULL || (ex->adopt_cursor[0] && after.parts == NULL))
        return nomem(err);
    ft_kv_list_opts lo = {false, after.parts ? &after : NULL, ADOPT_PAGE};
    ft_kv_entry *e;
    size_t n;
    ft_code rc = ft_kv_list(ex->kv, prefix, &lo, a, &e, &n, err);
    if (rc != FT_OK)
        return rc;
    *end = n < ADOPT_PAGE;
    ft_kv_key *rk = ft_arena_alloc(a, (n ? n : 1) * sizeof *rk);
    ft_str *tids = ft_arena_alloc(a, (n ? n : 1) * sizeof *tids);
    ft_str *vals = ft_arena_alloc(a, (n ? n : 1) * sizeof *vals);
    ft_code *got = ft_arena_alloc(a, (n ? n : 1) * sizeof *got);
    if (rk == NULL || tids == NULL || vals == NULL || got == NULL)
        return nomem(err);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].key.n != ex->np + 2 || e[i].key.parts[ex->np + 1].len != 32)
            continue;
        json_t *sj = json_loadb(e[i].value.ptr, e[i].value.len, JSON_ALLOW_NUL, NULL);
        const char *ts = json_string_value(json_object_get(sj, "timestamp"));
        int64_t ms = ts ? iso_to_ms(ts) : -1;
        json_decref(sj);
        if (ms < 0)
            continue;
        tids[m] = e[i].key.parts[ex->np + 1];
        rk[m] = KEY(ex, a, FT_STR_LIT("_recent"), arena_fmt_ts(a, ms), tids[m]);
        if (rk[m].parts == NULL)
            return nomem(err);
        m++;
    }
    if (n > 0) {
        ft_str last = e[n - 1].key.parts[e[n - 1].key.n - 1];
        if (last.len == 32)
            memcpy(ex->adopt_cursor, last.ptr, 32);
    }
    if (m == 0)
        return FT_OK;
    if ((rc = ft_kv_get_many(ex->kv, rk, m, a, vals, got, err)) != FT_OK)
        return rc;
    ops o = {0};
    ft_str minute = arena_fmt_ts(a, ft_now_ms() / 60000 * 60000);
    for (size_t i = 0; i < m; i++) {
        if (got[i] != FT_NOTFOUND)
            continue; /* indexed already: fedtrace wrote it, or an earlier pass */
        if (!ops_push(a, &o, rk[i], FT_STR_LIT(""), ex->ttl_ms) ||
            (!ex->remote && !ops_push(a, &o, KEY(ex, a, FT_STR_LIT("_age"), minute, tids[i]),
                                      FT_STR_LIT(""), ex->ttl_ms)))
            return nomem(err);
        (*done)++;
    }
    return o.n ? ft_kv_batch(ex->kv, o.v, o.n, err) : FT_OK;
}

ft_code ft_exporter_adopt(ft_exporter *ex, size_t *adopted, ft_err *err)
{
    if (adopted)
        *adopted = 0;
    if (ex->strategy != FT_STRATEGY_LIST)
        return FT_OK; /* without LIST the summaries cannot be found */
    int64_t t0 = ft_now_ms();
    size_t done = 0;
    ft_code rc = FT_OK;
    /* page after page from where the last call stopped, until the listing
     * ends (the next call starts over) or the time is up */
    for (bool end = false; rc == FT_OK && !end;) {
        ft_arena_reset(ex->arena);
        rc = adopt_page(ex, ex->arena, &done, &end, err);
        if (end)
            ex->adopt_cursor[0] = '\0';
        if (ft_now_ms() - t0 >= ADOPT_BUDGET_MS)
            break;
    }
    if (adopted)
        *adopted = done;
    return rc;
}

/* ---- recent traces ---- */

typedef struct idx_entry {
    int64_t ms;
    char tid[33];
} idx_entry;

/* newest first: ms descending, then trace id descending */
static int idx_cmp_desc(const void *a, const void *b)
{
    const idx_entry *x = a, *y = b;
    if (x->ms != y->ms)
        return x->ms > y->ms ? -1 : 1;
    return -strcmp(x->tid, y->tid);
}

static bool parse_cursor(const char *c, idx_entry *e)
{
    long long ms;
    char tid[33];
    if (c == NULL || sscanf(c, "%lld-%32[0-9a-f]", &ms, tid) != 2 ||
        strlen(tid) != 32 || ms < 0)
        return false;
    e->ms = ms;
    memcpy(e->tid, tid, 33);
    return true;
}

/* Feeds one index entry; appends its trace's summary when this entry is
 * the trace's first activity (a trace has one entry per activity) and the
 * trace matches the filter.  Stops (done) when the page is full, the scan
 * budget is spent or the index walk passed `since`. */
typedef struct collector {
    ft_exporter *ex;
    ft_arena *arena;
    const ft_trace_filter *filter;
    ft_trace_summary *out;
    size_t n, limit;
    size_t examined, max_scan;
    idx_entry last;    /* the last entry consumed: where a next page starts */
    bool more;         /* stopped early: a next page may exist */
    bool done;
    /* summaries met at a later activity than their first: the walk
     * reaches their first one further on */
    ft_trace_summary *held;
    size_t n_held, cap_held;
    /* the stored summaries of the index page being walked, read at once */
    const ft_kv_key *pre_keys;
    ft_str *pre_vals;
    ft_code *pre_found;
    size_t n_pre;
    /* on a remote store, their traces' service facts too (NULL: not read) */
    ft_kv_entry **pre_tf;
    size_t *pre_tf_n;
} collector;

static void hold(collector *c, const ft_trace_summary *s)
{
    if (c->n_held == c->cap_held) {
        size_t cap = c->cap_held ? 2 * c->cap_held : 32;
        ft_trace_summary *v = ft_arena_alloc(c->arena, cap * sizeof *v);
        if (v == NULL)
            return; /* then it is summarized again when its entry comes */
        if (c->n_held)
            memcpy(v, c->held, c->n_held * sizeof *v);
        c->held = v;
        c->cap_held = cap;
    }
    c->held[c->n_held++] = *s;
}

static ft_code collect(collector *c, const idx_entry *e, ft_err *err)
{
    if (c->n == c->limit || (c->max_scan && c->examined >= c->max_scan)) {
        c->more = true;
        c->done = true;
        return FT_OK;
    }
    if (c->filter != NULL && c->filter->since_ms && e->ms < c->filter->since_ms) {
        c->done = true; /* newest first: everything further is older */
        return FT_OK;
    }
    c->last = *e;
    if (c->filter != NULL && c->filter->until_ms && e->ms >= c->filter->until_ms)
        return FT_OK;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->out[i].trace_id, e->tid) == 0)
            return FT_OK;
    ft_trace_summary s;
    bool found = false;
    ft_code rc = FT_OK;
    for (size_t i = 0; i < c->n_held && !found; i++)
        if (strcmp(c->held[i].trace_id, e->tid) == 0 && c->held[i].first_ms == e->ms) {
            s = c->held[i];
            found = true;
        }
    for (size_t i = 0; i < c->n_pre && !found; i++) {
        const ft_str tid = c->pre_keys[i].parts[c->ex->np + 1];
        if (c->pre_found[i] != FT_OK || memcmp(tid.ptr, e->tid, 32) != 0)
            continue;
        c->pre_found[i] = FT_NOTFOUND; /* used */
        /* one that names a first activity later than this entry's is
         * stale (written before this record): derive it from the records */
        if (parse_stored_summary(c->pre_vals[i], e->tid, c->arena, &s) && s.first_ms <= e->ms) {
            c->examined++;
            rc = c->pre_tf != NULL
                     ? services_from_facts(c->ex, c->pre_tf[i], c->pre_tf_n[i], c->arena, &s, err)
                     : trace_services(c->ex, e->tid, c->arena, &s, err);
            if (rc != FT_OK)
                return rc;
            found = true;
            if (s.first_ms < e->ms)
                hold(c, &s);
        }
    }
    if (!found) {
        c->examined++;
        rc = summarize(c->ex, e->tid, c->arena, true, &s, &found, err);
        if (rc == FT_OK && found && s.first_ms < e->ms)
            hold(c, &s);
    }
    if (rc != FT_OK || !found || s.first_ms != e->ms || !ft_trace_filter_match(c->filter, &s))
        return rc;
    c->out[c->n++] = s;
    return FT_OK;
}

/* Reads the stored summaries of a page of index entries in one call (one
 * MGET on Redis instead of one GET per trace). */
static ft_code prefetch(ft_exporter *ex, collector *c, const ft_kv_entry *e, size_t n,
                        ft_err *err)
{
    c->n_pre = 0;
    if (!ex->summaries || n == 0)
        return FT_OK;
    ft_kv_key *keys = ft_arena_alloc(c->arena, n * sizeof *keys);
    c->pre_vals = ft_arena_alloc(c->arena, n * sizeof *c->pre_vals);
    c->pre_found = ft_arena_alloc(c->arena, n * sizeof *c->pre_found);
    if (keys == NULL || c->pre_vals == NULL || c->pre_found == NULL)
        return nomem(err);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (e[i].key.n != ex->np + 3 || e[i].key.parts[ex->np + 2].len != 32)
            continue;
        ft_str tid = e[i].key.parts[ex->np + 2];
        bool dup = false;
        for (size_t k = 0; k < m && !dup; k++)
            dup = memcmp(keys[k].parts[ex->np + 1].ptr, tid.ptr, 32) == 0;
        if (dup)
            continue;
        keys[m] = KEY(ex, c->arena, FT_STR_LIT("_tsum"), tid);
        if (keys[m].parts == NULL)
            return nomem(err);
        m++;
    }
    c->pre_keys = keys;
    c->pre_tf = NULL;
    ft_code rc = ft_kv_get_many(ex->kv, keys, m, c->arena, c->pre_vals, c->pre_found, err);
    if (rc == FT_OK)
        c->n_pre = m;
    if (rc != FT_OK || !ex->remote || ex->strategy != FT_STRATEGY_LIST || m == 0)
        return rc;
    /* a round trip per trace would cost more than reading a few facts too
     * many: the facts of every trace with a stored summary, at once */
    ft_kv_key *fk = ft_arena_alloc(c->arena, m * sizeof *fk);
    size_t *at = ft_arena_alloc(c->arena, m * sizeof *at);
    ft_kv_entry **fe = ft_arena_calloc(c->arena, m * sizeof *fe);
    size_t *fn = ft_arena_calloc(c->arena, m * sizeof *fn);
    if (fk == NULL || at == NULL || fe == NULL || fn == NULL)
        return nomem(err);
    size_t nf = 0;
    for (size_t i = 0; i < m; i++) {
        if (c->pre_found[i] != FT_OK)
            continue;
        fk[nf] = KEY(ex, c->arena, FT_STR_LIT("_tf"), keys[i].parts[ex->np + 1]);
        if (fk[nf].parts == NULL)
            return nomem(err);
        at[nf++] = i;
    }
    ft_kv_entry **le = ft_arena_alloc(c->arena, (nf ? nf : 1) * sizeof *le);
    size_t *ln = ft_arena_alloc(c->arena, (nf ? nf : 1) * sizeof *ln);
    if (le == NULL || ln == NULL)
        return nomem(err);
    if ((rc = ft_kv_list_many(ex->kv, fk, nf, c->arena, le, ln, err)) != FT_OK)
        return rc;
    for (size_t k = 0; k < nf; k++) {
        fe[at[k]] = le[k];
        fn[at[k]] = ln[k];
    }
    c->pre_tf = fe;
    c->pre_tf_n = fn;
    return FT_OK;
}

static ft_code recent_list(ft_exporter *ex, collector *c, const idx_entry *cur,
                           ft_err *err)
{
    ft_arena *a = c->arena;
    ft_kv_key prefix = KEY(ex, a, FT_STR_LIT("_recent"));
    ft_kv_key after = {NULL, 0};
    int64_t until = c->filter ? c->filter->until_ms : 0;
    if (cur != NULL && (until == 0 || cur->ms < until))
        after = KEY(ex, a, FT_STR_LIT("_recent"), arena_fmt_ts(a, cur->ms),
                    arena_str(a, cur->tid, 32));
    else if (until > 0) /* [.., ms] sorts before every [.., ms, traceId] */
        after = KEY(ex, a, FT_STR_LIT("_recent"), arena_fmt_ts(a, until));
    if (prefix.parts == NULL || ((cur != NULL || until > 0) && after.parts == NULL))
        return nomem(err);
    size_t page = c->limit * 2 + 8;
    if (page > 512)
        page = 512;
    for (;;) {
        ft_kv_list_opts o = {true, after.parts ? &after : NULL, page};
        ft_kv_entry *e;
        size_t n;
        ft_code rc = ft_kv_list(ex->kv, prefix, &o, a, &e, &n, err);
        if (rc != FT_OK)
            return rc;
        if ((rc = prefetch(ex, c, e, n, err)) != FT_OK)
            return rc;
        for (size_t i = 0; i < n && !c->done; i++) {
            if (e[i].key.n != ex->np + 3)
                continue;
            idx_entry ie;
            ft_str ts = e[i].key.parts[ex->np + 1], tid = e[i].key.parts[ex->np + 2];
            if (tid.len != 32 || ts.len == 0 || ts.len > 20)
                continue;
            char tsb[24];
            memcpy(tsb, ts.ptr, ts.len);
            tsb[ts.len] = '\0';
            ie.ms = strtoll(tsb, NULL, 10);
            memcpy(ie.tid, tid.ptr, 32);
            ie.tid[32] = '\0';
            if ((rc = collect(c, &ie, err)) != FT_OK)
                return rc;
        }
        if (c->done || n < page)
            return FT_OK;
        after = e[n - 1].key;
    }
}

static int minute_cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x > y ? -1 : x < y;
}

static ft_code recent_cas(ft_exporter *ex, collector *c, const idx_entry *cur,
                          ft_err *err)
{
    ft_arena *a = c->arena;
    ft_str *mins;
    size_t nm;
    ft_kv_key dk = KEY(ex, a, FT_STR_LIT("_recent_minutes"));
    ft_str v;
    if (dk.parts == NULL)
        return nomem(err);
    ft_code rc = ft_kv_get(ex->kv, dk, a, &v, err);
    if (rc == FT_NOTFOUND)
        return FT_OK;
    if (rc != FT_OK || (rc = split_array(v, a, &mins, &nm, err)) != FT_OK)
        return rc;
    int64_t *m = ft_arena_alloc(a, (nm ? nm : 1) * sizeof *m);
    if (m == NULL)
        return nomem(err);
    for (size_t i = 0; i < nm; i++)
        m[i] = strtoll(ft_arena_strndup(a, mins[i].ptr, mins[i].len), NULL, 10);
    qsort(m, nm, sizeof *m, minute_cmp_desc);
    for (size_t i = 0; i < nm && !c->done; i++) {
        if (cur != NULL && m[i] > cur->ms / 60000)
            continue;
        char mb[32];
        int ml = snprintf(mb, sizeof mb, "%lld", (long long)m[i]);
        ft_kv_key bk = KEY(ex, a, FT_STR_LIT("_recent"), arena_str(a, mb, (size_t)ml));
        ft_str bv, *items;
        size_t ni;
        rc = ft_kv_get(ex->kv, bk, a, &bv, err);
        if (rc == FT_NOTFOUND)
            continue; /* expired bucket */
        if (rc != FT_OK || (rc = split_array(bv, a, &items, &ni, err)) != FT_OK)
            return rc;
        idx_entry *es = ft_arena_alloc(a, (ni ? ni : 1) * sizeof *es);
        if (es == NULL)
            return nomem(err);
        size_t ne = 0;
        for (size_t j = 0; j < ni; j++) {
            long long ms;
            if (sscanf(ft_arena_strndup(a, items[j].ptr, items[j].len),
                       "[%lld,\"%32[0-9a-f]\"]", &ms, es[ne].tid) == 2 &&
                strlen(es[ne].tid) == 32) {
                es[ne].ms = ms;
                ne++;
            }
        }
        qsort(es, ne, sizeof *es, idx_cmp_desc);
        for (size_t j = 0; j < ne && !c->done; j++) {
            if (cur != NULL && idx_cmp_desc(&es[j], cur) <= 0)
                continue;
            if ((rc = collect(c, &es[j], err)) != FT_OK)
                return rc;
        }
    }
    return FT_OK;
}

static bool filter_empty(const ft_trace_filter *f)
{
    return f->activity_type == NULL && f->direction == 0 && f->actor == NULL &&
           f->host == NULL && !f->verification_failed && f->service == NULL &&
           !f->has_error && f->since_ms == 0 && f->until_ms == 0;
}

ft_code ft_exporter_recent_traces(ft_exporter *ex, const ft_recent_opts *opts,
                                  ft_arena *arena, ft_trace_summary **out,
                                  size_t *n_out, char **next_cursor,
                                  ft_err *err)
{
    *out = NULL;
    *n_out = 0;
    if (next_cursor)
        *next_cursor = NULL;
    size_t limit = opts && opts->limit ? opts->limit : 20;
    if (limit > 10000)
        limit = 10000;
    idx_entry cur;
    bool has_cur = false;
    if (opts != NULL && opts->cursor != NULL && *opts->cursor != '\0') {
        if (!parse_cursor(opts->cursor, &cur))
            return ft_err_set(err, FT_INVAL, 0,
                              "cursor '%s' is not one this server issued",
                              opts->cursor);
        has_cur = true;
    }
    collector c = {.ex = ex, .arena = arena, .limit = limit};
    c.filter = opts ? opts->filter : NULL;
    if (c.filter != NULL && filter_empty(c.filter))
        c.filter = NULL;
    if (c.filter != NULL)
        c.max_scan = opts->max_scan ? opts->max_scan : 5000;
    c.out = ft_arena_alloc(arena, limit * sizeof *c.out);
    if (c.out == NULL)
        return nomem(err);
    ft_code rc = ex->strategy == FT_STRATEGY_LIST
                     ? recent_list(ex, &c, has_cur ? &cur : NULL, err)
                     : recent_cas(ex, &c, has_cur ? &cur : NULL, err);
    if (rc != FT_OK)
        return rc;
    *out = c.out;
    *n_out = c.n;
    if (next_cursor != NULL && c.more) {
        char buf[64];
        snprintf(buf, sizeof buf, "%lld-%s", (long long)c.last.ms, c.last.tid);
        *next_cursor = ft_arena_strndup(arena, buf, strlen(buf));
    }
    return FT_OK;
}

/* ---- a trace as OTLP/JSON ---- */

ft_code ft_exporter_trace_otlp_json(ft_exporter *ex, const char *trace_id,
                                    ft_arena *arena, ft_str *out, size_t *n_spans,
                                    ft_err *err)
{
    ft_str *spans;
    size_t n;
    *n_spans = 0;
    ft_code rc = ft_exporter_spans(ex, trace_id, arena, &spans, &n, err);
    if (rc != FT_OK)
        return rc;
    /* resourceSpans[] of {resource, scopeSpans[] of {scope, spans[]}}, in
     * the order each resource and scope first appears */
    json_t *rss = json_array(), *root = json_object();
    if (rss == NULL || root == NULL || json_object_set_new(root, "resourceSpans", rss) != 0) {
        json_decref(root);
        return nomem(err);
    }
    for (size_t i = 0; i < n && rc == FT_OK; i++) {
        json_t *sp = json_loadb(spans[i].ptr, spans[i].len, JSON_ALLOW_NUL, NULL);
        if (sp == NULL) {
            rc = ft_err_set(err, FT_CORRUPT, 0, "exporter: a stored span of %s is not JSON",
                            trace_id);
            break;
        }
        json_t *res = json_incref(json_object_get(sp, "resource"));
        json_t *scope = json_incref(json_object_get(sp, "scope"));
        json_object_del(sp, "resource");
        json_object_del(sp, "scope");
        if (res == NULL)
            res = json_object();
        if (scope == NULL)
            scope = json_object();
        json_t *rs = NULL, *ss = NULL;
        size_t k;
        json_t *it;
        json_array_foreach(rss, k, it)
        {
            if (json_equal(json_object_get(it, "resource"), res)) {
                rs = it;
                break;
            }
        }
        if (rs == NULL) {
            rs = json_pack("{s:O,s:[]}", "resource", res, "scopeSpans");
            if (rs == NULL || json_array_append_new(rss, rs) != 0)
                rc = nomem(err);
        }
        if (rc == FT_OK) {
            json_t *sss = json_object_get(rs, "scopeSpans");
            json_array_foreach(sss, k, it)
            {
                if (json_equal(json_object_get(it, "scope"), scope)) {
                    ss = it;
                    break;
                }
            }
            if (ss == NULL) {
                ss = json_pack("{s:O,s:[]}", "scope", scope, "spans");
                if (ss == NULL || json_array_append_new(sss, ss) != 0)
                    rc = nomem(err);
            }
        }
        if (rc == FT_OK && json_array_append(json_object_get(ss, "spans"), sp) != 0)
            rc = nomem(err);
        json_decref(res);
        json_decref(scope);
        json_decref(sp);
    }
    char *text = rc == FT_OK ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (rc != FT_OK)
        return rc;
    char *p = text ? ft_arena_strndup(arena, text, strlen(text)) : NULL;
    size_t len = text ? strlen(text) : 0;
    free(text);
    if (p == NULL)
        return nomem(err);
    *out = (ft_str){p, len};
    *n_spans = n;
    return FT_OK;
}

/* ---- links between traces ---- */

ft_code ft_exporter_linked_json(ft_exporter *ex, const char *trace_id, ft_arena *arena,
                                ft_str *out, ft_err *err)
{
    ft_buf b = {0};
    ft_buf_puts(&b, "{\"incoming\":[");
    ft_code rc = FT_OK;
    if (ex->strategy == FT_STRATEGY_LIST) {
        ft_kv_key k = KEY(ex, arena, FT_STR_LIT("_linked"), arena_str(arena, trace_id, 32));
        ft_kv_entry *e;
        size_t n = 0;
        rc = k.parts ? ft_kv_list(ex->kv, k, NULL, arena, &e, &n, err) : nomem(err);
        size_t w = 0;
        for (size_t i = 0; rc == FT_OK && i < n; i++) {
            if (e[i].key.n != ex->np + 5)
                continue;
            json_t *v = json_loadb(e[i].value.ptr, e[i].value.len, 0, NULL);
            ft_buf_printf(&b, "%s{\"traceId\":\"%s\",\"spanId\":", w++ ? "," : "", trace_id);
            ft_json_cstr(&b, json_string_value(json_object_get(v, "spanId")));
            ft_buf_puts(&b, ",\"fromTraceId\":");
            ft_json_str(&b, e[i].key.parts[ex->np + 2]);
            ft_buf_puts(&b, ",\"fromSpanId\":");
            ft_json_str(&b, e[i].key.parts[ex->np + 3]);
            ft_buf_puts(&b, ",\"fromService\":");
            ft_json_cstr(&b, json_string_value(json_object_get(v, "fromService")));
            ft_buf_puts(&b, ",\"fromName\":");
            ft_json_cstr(&b, json_string_value(json_object_get(v, "fromName")));
            ft_buf_putc(&b, '}');
            json_decref(v);
        }
    }
    ft_buf_puts(&b, "],\"outgoing\":[");
    ft_str *spans;
    size_t ns = 0, w = 0;
    if (rc == FT_OK)
        rc = ft_exporter_spans(ex, trace_id, arena, &spans, &ns, err);
    for (size_t i = 0; rc == FT_OK && i < ns; i++) {
        json_t *sp = json_loadb(spans[i].ptr, spans[i].len, 0, NULL);
        const char *svc;
        bool error;
        span_service(sp, &svc, &error);
        size_t k;
        json_t *l;
        json_array_foreach(json_object_get(sp, "links"), k, l)
        {
            ft_buf_puts(&b, w++ ? ",{\"traceId\":" : "{\"traceId\":");
            ft_json_cstr(&b, json_string_value(json_object_get(l, "traceId")));
            ft_buf_puts(&b, ",\"spanId\":");
            ft_json_cstr(&b, json_string_value(json_object_get(l, "spanId")));
            ft_buf_puts(&b, ",\"fromSpanId\":");
            ft_json_cstr(&b, json_string_value(json_object_get(sp, "spanId")));
            ft_buf_puts(&b, ",\"fromService\":");
            ft_json_cstr(&b, svc ? svc : "unknown_service");
            ft_buf_puts(&b, ",\"fromName\":");
            ft_json_cstr(&b, json_string_value(json_object_get(sp, "name")));
            ft_buf_putc(&b, '}');
        }
        json_decref(sp);
    }
    /* incoming links are searched only where the store can list */
    ft_buf_printf(&b, "],\"incomingKnown\":%s}",
                  ex->strategy == FT_STRATEGY_LIST ? "true" : "false");
    if (rc == FT_OK) {
        char *p = ft_buf_ok(&b) ? ft_arena_memdup(arena, b.ptr, b.len) : NULL;
        if (p == NULL)
            rc = nomem(err);
        else
            *out = (ft_str){p, b.len};
    }
    ft_buf_free(&b);
    return rc;
}
