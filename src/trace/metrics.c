/*
 * metrics.c - RED metrics, service-map edges and slow queries, counted per
 * node and merged when read.  See include/fedtrace/services.h and
 * trace_int.h (ft__metrics_*).
 *
 * Per node, per minute: a table of series, each a duration histogram.
 *   "s"  service, its kind, operation (span name), span kind
 *   "e"  edge: from, to, the callee's kind
 *   "q"  statement: database, system, caller, normalized statement
 * A minute's table is written as one JSON document under
 * [prefix..., "_red", minute, node-part]: `node` is random per process and
 * `part` new whenever the table is created again after being dropped from
 * memory, so that a document always has one writer, which sets it whole.
 */
#include "fedtrace/services.h"

#include "core/buf.h"
#include "trace/trace_int.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NB 22                 /* buckets: 100 us * 2^i, i < 21, then overflow */
#define KEEP_MINUTES 3        /* tables kept in memory behind the newest */
#define MAX_STATEMENT 1024
#define MAX_SERIES 20000      /* per minute table; beyond it series merge */
#define PAIR_TTL_MS (3600 * 1000)
#define MINUTE_DIGITS 15

typedef struct hist {
    int64_t n, err, sum_us, max_us;
    int64_t min_us; /* of the positive observations; 0: none yet */
    int64_t b[NB];
    char trace[33]; /* the trace of the slowest one */
} hist;

typedef struct series {
    char *key; /* type \x1f a \x1f b \x1f c \x1f d */
    hist h;
    struct series *next;
} series;

typedef struct table {
    int64_t minute; /* ms of the minute's start */
    unsigned part;
    bool dirty;
    size_t n;
    series *buckets[512];
    struct table *next;
} table;

struct ft_metrics {
    pthread_mutex_t mu;
    char node[24];
    unsigned next_part;
    ft_infer_opts infer;
    int64_t ttl_ms;
    table *tables;
    struct local_state *local; /* pairs and retries on a local store */
};

/* ---- histograms ---- */

static int bucket_of(int64_t us)
{
    int64_t bound = 100;
    for (int i = 0; i < NB - 1; i++, bound *= 2)
        if (us <= bound)
            return i;
    return NB - 1;
}

static double bucket_hi(int i)
{
    return 100.0 * pow(2, i);
}

static void hist_add(hist *h, int64_t us, bool err, const char *trace, int sign)
{
    h->n += sign;
    h->err += err ? sign : 0;
    h->sum_us += sign * us;
    h->b[bucket_of(us)] += sign;
    if (sign > 0 && (h->min_us == 0 || us < h->min_us))
        h->min_us = us > 0 ? us : 1;
    if (sign > 0 && us >= h->max_us) {
        h->max_us = us;
        if (trace != NULL)
            memcpy(h->trace, trace, 33);
    }
}

static void hist_merge(hist *into, const hist *h)
{
    into->n += h->n;
    into->err += h->err;
    into->sum_us += h->sum_us;
    for (int i = 0; i < NB; i++)
        into->b[i] += h->b[i];
    if (h->min_us > 0 && (into->min_us == 0 || h->min_us < into->min_us))
        into->min_us = h->min_us;
    if (h->max_us >= into->max_us && h->n > 0) {
        into->max_us = h->max_us;
        memcpy(into->trace, h->trace, 33);
    }
}

/* The q-quantile in ms, interpolated inside its bucket, within [min, max]. */
static double hist_quantile(const hist *h, double q)
{
    if (h->n <= 0)
        return 0;
    double want = q * (double)h->n, cum = 0;
    for (int i = 0; i < NB; i++) {
        if (h->b[i] <= 0)
            continue;
        if (cum + (double)h->b[i] >= want) {
            double lo = i == 0 ? 0 : bucket_hi(i - 1);
            double hi = i == NB - 1 ? (double)h->max_us : bucket_hi(i);
            if (h->min_us > lo)
                lo = (double)h->min_us;
            if (h->max_us > 0 && hi > (double)h->max_us)
                hi = (double)h->max_us;
            double v = hi <= lo ? lo : lo + (hi - lo) * ((want - cum) / (double)h->b[i]);
            return v / 1000.0;
        }
        cum += (double)h->b[i];
    }
    return (double)h->max_us / 1000.0;
}

/* ---- tables ---- */

static series *table_get(table *t, const char *key)
{
    size_t slot = ft_fnv1a(FT_FNV_INIT, key, strlen(key)) % 512;
    for (series *s = t->buckets[slot]; s != NULL; s = s->next)
        if (strcmp(s->key, key) == 0)
            return s;
    series *s = calloc(1, sizeof *s);
    if (s == NULL || (s->key = strdup(key)) == NULL) {
        free(s);
        return NULL;
    }
    s->next = t->buckets[slot];
    t->buckets[slot] = s;
    t->n++;
    return s;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < 512; i++)
        for (series *s = t->buckets[i], *nx; s != NULL; s = nx) {
            nx = s->next;
            free(s->key);
            free(s);
        }
    free(t);
}

/* Joins the parts of a series key; '\x1f' never occurs in them (it is
 * replaced by a space). */
static void make_key(char *out, size_t cap, char type, const char *a, const char *b,
                     const char *c, const char *d)
{
    const char *parts[] = {a, b, c, d};
    size_t w = 0;
    out[w++] = type;
    for (int i = 0; i < 4; i++) {
        if (w + 1 < cap)
            out[w++] = '\x1f';
        for (const char *p = parts[i] ? parts[i] : ""; *p && w + 1 < cap; p++)
            out[w++] = *p == '\x1f' ? ' ' : *p;
    }
    out[w] = '\0';
}

/* ---- a local store (one process): pairs and retries in memory ---- */

#define LOCAL_PAIRS 65536
#define LOCAL_SEEN 65536

typedef struct local_half {
    char key[49]; /* traceId + clientSpanId */
    char *client, *server; /* half JSON (malloc), NULL until seen */
    struct local_half *next;
} local_half;

typedef struct local_state {
    local_half *slots[4096];
    size_t n;
    uint64_t seen[LOCAL_SEEN]; /* fingerprints counted, a ring */
    size_t seen_next;
} local_state;

static void local_clear_pairs(local_state *l)
{
    for (size_t i = 0; i < 4096; i++)
        for (local_half *h = l->slots[i], *nx; h != NULL; h = nx) {
            nx = h->next;
            free(h->client);
            free(h->server);
            free(h);
        }
    memset(l->slots, 0, sizeof l->slots);
    l->n = 0;
}

/* Whether fingerprint h was counted already; remembers it if not. */
static bool local_seen(local_state *l, uint64_t h)
{
    for (size_t i = 0; i < LOCAL_SEEN; i++) /* a linear scan of 512 KiB: cheap */
        if (l->seen[i] == h)
            return true;
    l->seen[l->seen_next] = h;
    l->seen_next = (l->seen_next + 1) % LOCAL_SEEN;
    return false;
}

/* ---- the per-node aggregator ---- */

ft_code ft_metrics_create(const ft_infer_opts *infer, int64_t ttl_ms, ft_metrics **out,
                           ft_err *err)
{
    ft_metrics *m = calloc(1, sizeof *m);
    uint8_t r[8];
    if (m == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        free(m);
        return ft_err_set(err, FT_IO, 0, "metrics: no random bytes for the node id");
    }
    ft_hex_encode(r, 8, m->node);
    if ((m->local = calloc(1, sizeof *m->local)) == NULL) {
        free(m);
        return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
    }
    pthread_mutex_init(&m->mu, NULL);
    if (infer != NULL)
        m->infer = *infer;
    m->ttl_ms = ttl_ms;
    *out = m;
    return FT_OK;
}

void ft_metrics_destroy(ft_metrics *m)
{
    if (m == NULL)
        return;
    for (table *t = m->tables, *nx; t != NULL; t = nx) {
        nx = t->next;
        table_free(t);
    }
    local_clear_pairs(m->local);
    free(m->local);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

const ft_infer_opts *ft__metrics_infer(const ft_metrics *m)
{
    return &m->infer;
}

static table *table_for(ft_metrics *m, int64_t minute)
{
    for (table *t = m->tables; t != NULL; t = t->next)
        if (t->minute == minute)
            return t;
    table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->minute = minute;
    t->part = m->next_part++;
    t->next = m->tables;
    m->tables = t;
    return t;
}

/* Adds one observation to series key in the minute of start_ns. */
static void add(ft_metrics *m, uint64_t start_ns, const char *key, int64_t us, bool err,
                const char *trace, int sign)
{
    int64_t minute = (int64_t)(start_ns / 1000000u) / 60000 * 60000;
    table *t = table_for(m, minute);
    if (t == NULL)
        return;
    char other[64];
    if (t->n >= MAX_SERIES) { /* bounded memory: the rest merge into one */
        snprintf(other, sizeof other, "%c\x1f(other)\x1f\x1f\x1f", key[0]);
        key = other;
    }
    series *s = table_get(t, key);
    if (s == NULL)
        return;
    hist_add(&s->h, us, err, trace, sign);
    t->dirty = true;
}

static const char *span_kind_name(ft_span_kind k)
{
    static const char *const n[] = {"unspecified", "internal", "server", "client", "producer",
                                    "consumer"};
    return (unsigned)k < 6 ? n[k] : "unspecified";
}

static const char *service_of(const ft_span *sp, char *buf, size_t cap)
{
    const ft_value *v = sp->resource ? ft_attrs_get(sp->resource->attrs, "service.name") : NULL;
    if (v == NULL || v->type != FT_VAL_STRING || v->u.s.len == 0)
        return "unknown_service";
    snprintf(buf, cap, "%.*s", (int)v->u.s.len, v->u.s.ptr);
    return buf;
}

static int64_t span_us(const ft_span *sp)
{
    return sp->end_ns > sp->start_ns ? (int64_t)((sp->end_ns - sp->start_ns) / 1000u) : 0;
}

static const ft_str *statement_of(const ft_span *sp)
{
    static const char *const keys[] = {"db.query.text", "db.statement", NULL};
    for (const char *const *k = keys; *k; k++) {
        const ft_value *v = ft_attrs_get(sp->attrs, *k);
        if (v != NULL && v->type == FT_VAL_STRING && v->u.s.len > 0)
            return &v->u.s;
    }
    return NULL;
}

/* Counts one span: its service's operation; the inferred service it
 * calls, the edge to it and its statement.  Lock held. */
static void count_span(ft_metrics *m, const ft_span *sp)
{
    char svc_buf[256], tid[33], key[2048];
    const char *svc = service_of(sp, svc_buf, sizeof svc_buf);
    ft_hex_encode(sp->trace_id, 16, tid);
    int64_t us = span_us(sp);
    bool err = sp->status_code == FT_STATUS_ERROR;
    char name[512];
    snprintf(name, sizeof name, "%.*s", (int)sp->name.len, sp->name.ptr);
    const char *kind = span_kind_name(sp->kind);
    make_key(key, sizeof key, 's', svc, "instrumented", name, kind);
    add(m, sp->start_ns, key, us, err, tid, 1);
    ft_peer p;
    if (!ft_infer_peer(sp, &m->infer, &p))
        return;
    const char *pk = ft_peer_kind_name(p.kind);
    make_key(key, sizeof key, 's', p.name, pk, name, kind);
    add(m, sp->start_ns, key, us, err, tid, 1);
    if (sp->kind == FT_SPAN_KIND_CONSUMER) /* the queue feeds this service */
        make_key(key, sizeof key, 'e', p.name, svc, "instrumented", "");
    else
        make_key(key, sizeof key, 'e', svc, p.name, pk, "");
    add(m, sp->start_ns, key, us, err, tid, 1);
    const ft_str *st = statement_of(sp);
    if (st != NULL && (p.kind == FT_PEER_DATABASE || p.kind == FT_PEER_CACHE)) {
        char norm[MAX_STATEMENT];
        ft_sql_normalize(st->ptr, st->len, norm, sizeof norm);
        make_key(key, sizeof key, 'q', p.name, p.system, svc, norm);
        add(m, sp->start_ns, key, us, err, tid, 1);
    }
}

/* The JSON of one half of a client->server pair: the service, and for the
 * client half its duration, error, start and the host it named. */
static bool half_json(ft_metrics *m, const ft_span *sp, bool client, ft_buf *v)
{
    char svc_buf[256];
    ft_buf_puts(v, "{\"service\":");
    ft_json_cstr(v, service_of(sp, svc_buf, sizeof svc_buf));
    if (client) {
        ft_peer p;
        bool has = ft_infer_peer(sp, &m->infer, &p) && p.kind != FT_PEER_DATABASE &&
                   p.kind != FT_PEER_CACHE && p.kind != FT_PEER_QUEUE;
        ft_buf_printf(v, ",\"us\":%lld,\"err\":%d,\"start\":\"%llu\"", (long long)span_us(sp),
                      sp->status_code == FT_STATUS_ERROR, (unsigned long long)sp->start_ns);
        if (has) {
            ft_buf_puts(v, ",\"peer\":");
            ft_json_cstr(v, p.name);
            ft_buf_printf(v, ",\"peerKind\":\"%s\",\"kind\":\"%s\",\"name\":",
                          ft_peer_kind_name(p.kind), span_kind_name(sp->kind));
            ft_json_str(v, sp->name);
        }
    }
    ft_buf_putc(v, '}');
    return ft_buf_ok(v);
}

/* Counts the edge of a completed pair: from the caller's service to the
 * callee's, replacing the edge to the host the caller named (counted when
 * the client span came).  Takes the lock. */
static void count_pair(ft_metrics *m, const char *client, size_t clen, const char *server,
                       size_t slen, const char *tid)
{
    json_t *cj = json_loadb(client, clen, 0, NULL);
    json_t *sj = json_loadb(server, slen, 0, NULL);
    const char *from = json_string_value(json_object_get(cj, "service"));
    const char *to = json_string_value(json_object_get(sj, "service"));
    const char *peer = json_string_value(json_object_get(cj, "peer"));
    const char *pk = json_string_value(json_object_get(cj, "peerKind"));
    int64_t us = (int64_t)json_integer_value(json_object_get(cj, "us"));
    bool er = json_integer_value(json_object_get(cj, "err")) != 0;
    const char *st = json_string_value(json_object_get(cj, "start"));
    uint64_t start = st ? strtoull(st, NULL, 10) : 0;
    if (from != NULL && to != NULL) {
        char key[1024];
        pthread_mutex_lock(&m->mu);
        make_key(key, sizeof key, 'e', from, to, "instrumented", "");
        add(m, start, key, us, er, tid, 1);
        if (peer != NULL && pk != NULL) {
            /* the callee is instrumented: the host it was known by is not
             * a service of its own */
            make_key(key, sizeof key, 'e', from, peer, pk, "");
            add(m, start, key, us, er, NULL, -1);
            const char *nm = json_string_value(json_object_get(cj, "name"));
            const char *sk = json_string_value(json_object_get(cj, "kind"));
            if (nm != NULL && sk != NULL) {
                make_key(key, sizeof key, 's', peer, pk, nm, sk);
                add(m, start, key, us, er, NULL, -1);
            }
        }
        pthread_mutex_unlock(&m->mu);
    }
    json_decref(cj);
    json_decref(sj);
}

/* ---- pairing client and server spans across batches and nodes ---- */

static bool calls_out(const ft_span *sp)
{
    return sp->kind == FT_SPAN_KIND_CLIENT || sp->kind == FT_SPAN_KIND_PRODUCER;
}

static bool served(const ft_span *sp)
{
    return (sp->kind == FT_SPAN_KIND_SERVER || sp->kind == FT_SPAN_KIND_CONSUMER) &&
           sp->has_parent;
}

/* Whether sp is one half of a call whose other half may come: a server or
 * consumer span with a parent, or a client or producer span (*client)
 * whose callee is not a database or a cache.  Those are never
 * instrumented servers, and Mastodon makes dozens of such calls per
 * request: their halves would wait in vain. */
static bool pairable(ft_metrics *m, const ft_span *sp, bool *client)
{
    *client = calls_out(sp);
    if (!*client)
        return served(sp);
    ft_peer p;
    return !(ft_infer_peer(sp, &m->infer, &p) &&
             (p.kind == FT_PEER_DATABASE || p.kind == FT_PEER_CACHE));
}

/* Local: each half waits in memory for the other (bounded: past 64k
 * waiting halves they are forgotten). */
static ft_code pair_local(ft_metrics *m, const ft_span_batch *b, ft_err *err)
{
    for (size_t i = 0; i < b->n; i++) {
        const ft_span *sp = &b->spans[i];
        bool c;
        if (!pairable(m, sp, &c))
            continue;
        char key[49], tid[33];
        ft_hex_encode(sp->trace_id, 16, tid);
        memcpy(key, tid, 32);
        ft_hex_encode(c ? sp->span_id : sp->parent_span_id, 8, key + 32);
        ft_buf v = {0};
        if (!half_json(m, sp, c, &v)) {
            ft_buf_free(&v);
            return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
        }
        char *text = strdup(ft_buf_cstr(&v));
        ft_buf_free(&v);
        if (text == NULL)
            return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
        pthread_mutex_lock(&m->mu);
        local_state *l = m->local;
        if (l->n >= LOCAL_PAIRS)
            local_clear_pairs(l);
        size_t slot = ft_fnv1a(FT_FNV_INIT, key, 48) % 4096;
        local_half **ph = &l->slots[slot];
        while (*ph != NULL && strcmp((*ph)->key, key) != 0)
            ph = &(*ph)->next;
        local_half *h = *ph;
        if (h == NULL && (h = calloc(1, sizeof *h)) != NULL) {
            memcpy(h->key, key, 49);
            *ph = h;
            l->n++;
        }
        if (h == NULL) {
            pthread_mutex_unlock(&m->mu);
            free(text);
            return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
        }
        char **mine = c ? &h->client : &h->server;
        if (*mine != NULL) { /* seen before: the same span again */
            free(text);
            pthread_mutex_unlock(&m->mu);
            continue;
        }
        *mine = text;
        char *client = NULL, *server = NULL;
        if (h->client != NULL && h->server != NULL) {
            client = h->client;
            server = h->server;
            *ph = h->next;
            free(h);
            l->n--;
        }
        pthread_mutex_unlock(&m->mu);
        if (client != NULL) {
            count_pair(m, client, strlen(client), server, strlen(server), tid);
            free(client);
            free(server);
        }
    }
    return FT_OK;
}

/* A half of a call within one batch, for matching the two there. */
typedef struct bhalf {
    uint8_t id[24]; /* trace id, client span id */
    bool client;
    size_t span;
} bhalf;

static int bhalf_cmp(const void *x, const void *y)
{
    const bhalf *a = x, *b = y;
    int c = memcmp(a->id, b->id, 24);
    if (c != 0)
        return c;
    if (a->client != b->client)
        return a->client ? -1 : 1;
    return a->span < b->span ? -1 : a->span > b->span;
}

/* The calls whose two halves came in batch b: their client spans'
 * indexes in client[] and servers' in server[] (arena arrays of *n);
 * mine[i] tells whether span i is one of them.  Those need no halves in
 * the store: the batch's own count (once per batch, by its fingerprint)
 * counts them. */
static bool pairs_in_batch(ft_metrics *m, const ft_span_batch *b, ft_arena *a, bool **mine,
                           size_t **client, size_t **server, size_t *n)
{
    bhalf *h = ft_arena_alloc(a, (b->n ? b->n : 1) * sizeof *h);
    *mine = ft_arena_calloc(a, (b->n ? b->n : 1) * sizeof **mine);
    *client = ft_arena_alloc(a, (b->n ? b->n : 1) * sizeof **client);
    *server = ft_arena_alloc(a, (b->n ? b->n : 1) * sizeof **server);
    *n = 0;
    if (h == NULL || *mine == NULL || *client == NULL || *server == NULL)
        return false;
    size_t nh = 0;
    for (size_t i = 0; i < b->n; i++) {
        const ft_span *sp = &b->spans[i];
        bool c;
        if (!pairable(m, sp, &c))
            continue;
        memcpy(h[nh].id, sp->trace_id, 16);
        memcpy(h[nh].id + 16, c ? sp->span_id : sp->parent_span_id, 8);
        h[nh].client = c;
        h[nh++].span = i;
    }
    qsort(h, nh, sizeof *h, bhalf_cmp);
    /* sorted: each call's client halves, then its server halves (a span
     * sent twice in the batch is there twice: all of them are the call's) */
    for (size_t g = 0, end; g < nh; g = end) {
        size_t srv = nh;
        for (end = g; end < nh && memcmp(h[end].id, h[g].id, 24) == 0; end++)
            if (!h[end].client && srv == nh)
                srv = end;
        if (!h[g].client || srv == nh)
            continue; /* one half only: it waits in the store */
        for (size_t k = g; k < end; k++)
            (*mine)[h[k].span] = true;
        (*client)[*n] = h[g].span;
        (*server)[(*n)++] = h[srv].span;
    }
    return true;
}

ft_code ft__metrics_halves(ft_metrics *m, const ft_str *prefix, size_t np,
                           const ft_span_batch *b, ft_arena *a, ft_kv_op **out, size_t *n_out,
                           ft_err *err)
{
    *out = NULL;
    *n_out = 0;
    ft_kv_op *ops = ft_arena_alloc(a, (b->n ? b->n : 1) * sizeof *ops);
    bool *mine;
    size_t *cl, *sv, n_in;
    if (ops == NULL || !pairs_in_batch(m, b, a, &mine, &cl, &sv, &n_in))
        return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        const ft_span *sp = &b->spans[i];
        bool c;
        if (mine[i] || !pairable(m, sp, &c))
            continue;
        char tid[33], sid[17];
        ft_hex_encode(sp->trace_id, 16, tid);
        ft_hex_encode(c ? sp->span_id : sp->parent_span_id, 8, sid);
        ft_buf v = {0};
        bool ok = half_json(m, sp, c, &v);
        char *val = ok ? ft_arena_strndup(a, v.ptr, v.len) : NULL;
        size_t vlen = v.len;
        ft_buf_free(&v);
        ft_str *parts = ft_arena_alloc(a, (np + 4) * sizeof *parts);
        if (parts == NULL || val == NULL)
            return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
        memcpy(parts, prefix, np * sizeof *parts);
        parts[np] = FT_STR_LIT("_pair");
        parts[np + 1] = (ft_str){ft_arena_strndup(a, tid, 32), 32};
        parts[np + 2] = (ft_str){ft_arena_strndup(a, sid, 16), 16};
        parts[np + 3] = c ? FT_STR_LIT("c") : FT_STR_LIT("s");
        ops[n++] = (ft_kv_op){FT_KV_SET, {parts, np + 4}, {val, vlen}, PAIR_TTL_MS, false};
    }
    *out = ops;
    *n_out = n;
    return FT_OK;
}

/* Shared: the halves were stored with the batch (ft__metrics_halves).
 * For every call of which the batch brought a half, both halves and the
 * "done" mark are read in one ft_kv_get_many; the calls complete and not
 * yet counted are claimed together by create-if-absent of their "done"
 * keys (one ft_kv_cas_many), on whichever node sees them first. */
static ft_code pair_shared(ft_metrics *m, ft_kv *kv, const ft_str *prefix, size_t np,
                           const ft_span_batch *b, ft_arena *a, ft_err *err)
{
    if (!(ft_kv_caps(kv) & FT_KV_CAP_CAS))
        return FT_OK; /* claiming needs CAS; other edges are still counted */
    /* calls complete in this batch: counted now (the batch is counted once) */
    bool *mine;
    size_t *cl, *sv, n_in;
    if (!pairs_in_batch(m, b, a, &mine, &cl, &sv, &n_in))
        return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
    for (size_t k = 0; k < n_in; k++) {
        ft_buf hc = {0}, hs = {0};
        bool ok = half_json(m, &b->spans[cl[k]], true, &hc) &&
                  half_json(m, &b->spans[sv[k]], false, &hs);
        char tid[33];
        ft_hex_encode(b->spans[cl[k]].trace_id, 16, tid);
        if (ok)
            count_pair(m, hc.ptr, hc.len, hs.ptr, hs.len, tid);
        ft_buf_free(&hc);
        ft_buf_free(&hs);
        if (!ok)
            return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
    }
    /* the others: (trace, client span) of each half, once each */
    char(*ids)[49] = ft_arena_alloc(a, (b->n ? b->n : 1) * sizeof *ids);
    if (ids == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
    size_t n_ids = 0;
    for (size_t i = 0; i < b->n; i++) {
        const ft_span *sp = &b->spans[i];
        bool c;
        if (mine[i] || !pairable(m, sp, &c))
            continue;
        char id[49];
        ft_hex_encode(sp->trace_id, 16, id);
        ft_hex_encode(c ? sp->span_id : sp->parent_span_id, 8, id + 32);
        bool seen = false;
        for (size_t k = 0; k < n_ids && !seen; k++)
            seen = memcmp(ids[k], id, 48) == 0;
        if (!seen)
            memcpy(ids[n_ids++], id, 49);
    }
    if (n_ids == 0)
        return FT_OK;
    static const char *const sides[3] = {"c", "s", "done"};
    ft_kv_key *keys = ft_arena_alloc(a, 3 * n_ids * sizeof *keys);
    ft_str *vals = ft_arena_alloc(a, 3 * n_ids * sizeof *vals);
    ft_code *found = ft_arena_alloc(a, 3 * n_ids * sizeof *found);
    ft_kv_cas_op *ops = ft_arena_alloc(a, n_ids * sizeof *ops);
    size_t *which = ft_arena_alloc(a, n_ids * sizeof *which);
    if (keys == NULL || vals == NULL || found == NULL || ops == NULL || which == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
    for (size_t i = 0; i < n_ids; i++)
        for (int k = 0; k < 3; k++) {
            ft_str *parts = ft_arena_alloc(a, (np + 4) * sizeof *parts);
            if (parts == NULL)
                return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
            memcpy(parts, prefix, np * sizeof *parts);
            parts[np] = FT_STR_LIT("_pair");
            parts[np + 1] = (ft_str){ids[i], 32};
            parts[np + 2] = (ft_str){ids[i] + 32, 16};
            parts[np + 3] = ft_str_c(sides[k]);
            keys[3 * i + (size_t)k] = (ft_kv_key){parts, np + 4};
        }
    ft_code rc = ft_kv_get_many(kv, keys, 3 * n_ids, a, vals, found, err);
    if (rc != FT_OK)
        return rc;
    static const ft_str one = FT_STR_LIT("1");
    size_t n_claims = 0;
    for (size_t i = 0; i < n_ids; i++)
        if (found[3 * i] == FT_OK && found[3 * i + 1] == FT_OK && found[3 * i + 2] == FT_NOTFOUND) {
            which[n_claims] = i;
            ops[n_claims++] = (ft_kv_cas_op){keys[3 * i + 2], NULL, &one, PAIR_TTL_MS, FT_OK};
        }
    if (n_claims == 0)
        return FT_OK;
    if ((rc = ft_kv_cas_many(kv, ops, n_claims, err)) != FT_OK)
        return rc;
    for (size_t c = 0; c < n_claims; c++) {
        if (ops[c].result != FT_OK)
            continue; /* another node counted it */
        size_t i = which[c];
        char tid[33];
        memcpy(tid, ids[i], 32);
        tid[32] = '\0';
        count_pair(m, vals[3 * i].ptr, vals[3 * i].len, vals[3 * i + 1].ptr, vals[3 * i + 1].len,
                   tid);
    }
    return FT_OK;
}

/* A batch's fingerprint: its spans' ids and times, in order. */
static uint64_t fingerprint(const ft_span_batch *b)
{
    uint64_t h = FT_FNV_INIT;
    for (size_t i = 0; i < b->n; i++) {
        const ft_span *sp = &b->spans[i];
        uint8_t buf[16 + 8 + 16];
        memcpy(buf, sp->trace_id, 16);
        memcpy(buf + 16, sp->span_id, 8);
        memcpy(buf + 24, &sp->start_ns, 8);
        memcpy(buf + 32, &sp->end_ns, 8);
        h = ft_fnv1a(h, buf, sizeof buf);
    }
    return h;
}

ft_code ft__metrics_count(ft_metrics *m, ft_kv *kv, const ft_str *prefix, size_t np,
                          const ft_span_batch *b, bool shared, ft_err *err)
{
    if (b->n == 0)
        return FT_OK;
    uint64_t h = fingerprint(b);
    if (!shared) {
        /* one process owns the store: retries can only come here */
        pthread_mutex_lock(&m->mu);
        bool seen = local_seen(m->local, h);
        if (!seen)
            for (size_t i = 0; i < b->n; i++)
                count_span(m, &b->spans[i]);
        pthread_mutex_unlock(&m->mu);
        return seen ? FT_OK : pair_local(m, b, err);
    }
    ft_arena *a = ft_arena_create(0);
    if (a == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
    ft_code rc = FT_OK;
    if (ft_kv_caps(kv) & FT_KV_CAP_CAS) {
        /* a retry of a batch already counted (here or on another node)
         * finds its fingerprint taken */
        char fp[17];
        uint8_t hb[8];
        for (int i = 0; i < 8; i++)
            hb[i] = (uint8_t)(h >> (56 - 8 * i));
        ft_hex_encode(hb, 8, fp);
        ft_str *parts = ft_arena_alloc(a, (np + 2) * sizeof *parts);
        if (parts == NULL) {
            ft_arena_destroy(a);
            return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
        }
        memcpy(parts, prefix, np * sizeof *parts);
        parts[np] = FT_STR_LIT("_counted");
        parts[np + 1] = (ft_str){fp, 16};
        ft_str one = FT_STR_LIT("1");
        rc = ft_kv_cas(kv, (ft_kv_key){parts, np + 2}, NULL, &one, PAIR_TTL_MS, err);
        if (rc == FT_CONFLICT) {
            ft_arena_destroy(a);
            return FT_OK;
        }
    }
    if (rc == FT_OK) {
        pthread_mutex_lock(&m->mu);
        for (size_t i = 0; i < b->n; i++)
            count_span(m, &b->spans[i]);
        pthread_mutex_unlock(&m->mu);
        rc = pair_shared(m, kv, prefix, np, b, a, err);
    }
    ft_arena_destroy(a);
    return rc;
}

/* ---- documents ---- */

static void hist_json(ft_buf *b, const hist *h)
{
    ft_buf_printf(b,
                  "\"n\":%lld,\"x\":%lld,\"s\":%lld,\"m\":%lld,\"lo\":%lld,\"tr\":\"%s\",\"h\":[",
                  (long long)h->n, (long long)h->err, (long long)h->sum_us,
                  (long long)h->max_us, (long long)h->min_us, h->trace);
    for (int i = 0; i < NB; i++)
        ft_buf_printf(b, i ? ",%lld" : "%lld", (long long)h->b[i]);
    ft_buf_putc(b, ']');
}

static void table_json(ft_buf *b, const table *t)
{
    ft_buf_printf(b, "{\"v\":1,\"minute\":%lld,\"series\":[", (long long)t->minute);
    bool first = true;
    for (size_t i = 0; i < 512; i++)
        for (const series *s = t->buckets[i]; s != NULL; s = s->next) {
            ft_buf_puts(b, first ? "{\"k\":" : ",{\"k\":");
            first = false;
            ft_json_cstr(b, s->key);
            ft_buf_putc(b, ',');
            hist_json(b, &s->h);
            ft_buf_putc(b, '}');
        }
    ft_buf_puts(b, "]}");
}

ft_code ft_metrics_flush(ft_metrics *m, ft_kv *kv, const char *const *pp, size_t np,
                         int64_t now_ms, ft_err *err)
{
    static const char *const def_prefix[] = {"fedify", "traces"};
    if (pp == NULL || np == 0) {
        pp = def_prefix;
        np = 2;
    }
    if (np > 8)
        return ft_err_set(err, FT_INVAL, 0, "metrics: key prefix has %zu parts, at most 8", np);
    ft_str prefix[8];
    for (size_t i = 0; i < np; i++)
        prefix[i] = ft_str_c(pp[i]);
    ft_code rc = FT_OK;
    pthread_mutex_lock(&m->mu);
    int64_t newest = now_ms / 60000 * 60000;
    for (table **pt = &m->tables; *pt != NULL;) {
        table *t = *pt;
        if (t->dirty) {
            ft_buf b = {0};
            table_json(&b, t);
            char minute[32], part[48];
            snprintf(minute, sizeof minute, "%0*lld", MINUTE_DIGITS, (long long)t->minute);
            snprintf(part, sizeof part, "%s-%u", m->node, t->part);
            ft_str parts[16];
            memcpy(parts, prefix, np * sizeof *parts);
            parts[np] = FT_STR_LIT("_red");
            parts[np + 1] = ft_str_c(minute);
            parts[np + 2] = ft_str_c(part);
            ft_str v = ft_buf_str(&b);
            rc = ft_buf_ok(&b) ? ft_kv_set(kv, (ft_kv_key){parts, np + 3}, v, m->ttl_ms, err)
                               : ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
            ft_buf_free(&b);
            if (rc != FT_OK)
                break; /* stays dirty: the next flush tries again */
            t->dirty = false;
        }
        if (!t->dirty && t->minute < newest - KEEP_MINUTES * 60000) {
            *pt = t->next;
            table_free(t);
            continue;
        }
        pt = &t->next;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- reading: every node's documents, merged ---- */

typedef struct merged {
    char *type, *a, *b, *c, *d; /* the key's parts (point into parts) */
    char *key;   /* the whole key, to find it again */
    char *parts; /* a copy of it cut at the separators */
    hist h;
    /* per minute, for the operations of one service (FT_Q_SERVICE) */
    int64_t *minutes;
    hist *per_minute;
    size_t n_minutes;
} merged;

/* An index of strings by hash, for the entries of an array: a slot holds
 * an entry's position + 1 (0: empty); open addressing, at most half full. */
typedef struct sindex {
    uint32_t *slot;
    size_t cap; /* a power of two, or 0 */
} sindex;

/* The key of entry i of array v. */
typedef const char *(*sindex_key)(const void *v, size_t i);

/* The slot of key: where it is (*found) or where it would go.  cap > 0. */
static size_t sindex_slot(const sindex *x, const char *key, sindex_key get, const void *v,
                          bool *found)
{
    size_t mask = x->cap - 1;
    for (size_t i = (size_t)ft_fnv1a(FT_FNV_INIT, key, strlen(key)) & mask;; i = (i + 1) & mask) {
        uint32_t e = x->slot[i];
        if (e == 0 || strcmp(get(v, e - 1), key) == 0) {
            *found = e != 0;
            return i;
        }
    }
}

/* Room for one more entry beside the n of v (indexed again when the
 * index grows). */
static bool sindex_reserve(sindex *x, size_t n, sindex_key get, const void *v)
{
    if (x->cap > 0 && (n + 1) * 2 <= x->cap)
        return true;
    if (n >= UINT32_MAX / 4)
        return false;
    size_t cap = x->cap ? x->cap * 2 : 128;
    while ((n + 1) * 2 > cap)
        cap *= 2;
    uint32_t *slot = calloc(cap, sizeof *slot);
    if (slot == NULL)
        return false;
    free(x->slot);
    x->slot = slot;
    x->cap = cap;
    for (size_t i = 0; i < n; i++) {
        bool found;
        x->slot[sindex_slot(x, get(v, i), get, v, &found)] = (uint32_t)(i + 1);
    }
    return true;
}

typedef struct mtable {
    merged *v;
    size_t n, cap;
    sindex idx; /* v by key */
    /* per minute, one service (FT_Q_SERVICE): all its spans, and its
     * server and consumer spans */
    int64_t *minutes;
    hist *all, *served;
    size_t n_minutes;
} mtable;

static const char *mt_key(const void *v, size_t i)
{
    return ((const mtable *)v)->v[i].key;
}

static merged *mt_get(mtable *t, const char *key)
{
    if (!sindex_reserve(&t->idx, t->n, mt_key, t))
        return NULL;
    bool found;
    size_t at = sindex_slot(&t->idx, key, mt_key, t, &found);
    if (found)
        return &t->v[t->idx.slot[at] - 1];
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        merged *v = realloc(t->v, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        t->v = v;
        t->cap = cap;
    }
    merged *e = &t->v[t->n];
    memset(e, 0, sizeof *e);
    if ((e->key = strdup(key)) == NULL)
        return NULL;
    if ((e->parts = strdup(key)) == NULL) {
        free(e->key);
        return NULL;
    }
    char *parts[5] = {0};
    char *p = e->parts;
    for (int i = 0; i < 5; i++) {
        parts[i] = p;
        char *sep = p ? strchr(p, '\x1f') : NULL;
        if (sep != NULL) {
            *sep = '\0';
            p = sep + 1;
        } else {
            p = NULL;
        }
    }
    e->type = parts[0];
    e->a = parts[1] ? parts[1] : (char *)"";
    e->b = parts[2] ? parts[2] : (char *)"";
    e->c = parts[3] ? parts[3] : (char *)"";
    e->d = parts[4] ? parts[4] : (char *)"";
    t->idx.slot[at] = (uint32_t)(t->n + 1);
    t->n++;
    return e;
}

/* The histogram of `minute` in a per-minute list, added (empty) when it is
 * not there yet; NULL: out of memory.  Documents come in minute order, so
 * the last one is the likely match. */
static hist *minute_of(int64_t **minutes, hist **hs, size_t *n, int64_t minute)
{
    for (size_t j = *n; j-- > 0;)
        if ((*minutes)[j] == minute)
            return &(*hs)[j];
    int64_t *mv = realloc(*minutes, (*n + 1) * sizeof *mv);
    if (mv == NULL)
        return NULL;
    *minutes = mv;
    hist *hv = realloc(*hs, (*n + 1) * sizeof *hv);
    if (hv == NULL)
        return NULL;
    *hs = hv;
    mv[*n] = minute;
    memset(&hv[*n], 0, sizeof *hv);
    return &hv[(*n)++];
}

static void mt_free(mtable *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].key);
        free(t->v[i].parts);
        free(t->v[i].minutes);
        free(t->v[i].per_minute);
    }
    free(t->v);
    free(t->idx.slot);
    free(t->minutes);
    free(t->all);
    free(t->served);
}

static bool hist_from_json(json_t *o, hist *h)
{
    memset(h, 0, sizeof *h);
    h->n = json_integer_value(json_object_get(o, "n"));
    h->err = json_integer_value(json_object_get(o, "x"));
    h->sum_us = json_integer_value(json_object_get(o, "s"));
    h->max_us = json_integer_value(json_object_get(o, "m"));
    h->min_us = json_integer_value(json_object_get(o, "lo"));
    const char *tr = json_string_value(json_object_get(o, "tr"));
    if (tr != NULL && strlen(tr) == 32)
        memcpy(h->trace, tr, 33);
    json_t *b = json_object_get(o, "h");
    if (json_array_size(b) != NB)
        return false;
    for (int i = 0; i < NB; i++)
        h->b[i] = json_integer_value(json_array_get(b, (size_t)i));
    return true;
}

/* Whether series e counts as a request of its service: server and
 * consumer spans of an instrumented service (when it has any), every
 * span of an inferred one. */
static bool is_request(const merged *e, bool service_serves)
{
    if (strcmp(e->b, "instrumented") != 0 || !service_serves)
        return true;
    return strcmp(e->d, "server") == 0 || strcmp(e->d, "consumer") == 0;
}

static void red_json(ft_buf *b, const hist *h, double seconds, bool with_rate)
{
    ft_buf_printf(b, "\"requests\":%lld,\"errors\":%lld,\"errorRate\":%.4f,",
                  (long long)h->n, (long long)h->err,
                  h->n > 0 ? (double)h->err / (double)h->n : 0.0);
    if (with_rate)
        ft_buf_printf(b, "\"rate\":%.4f,", seconds > 0 ? (double)h->n / seconds : 0.0);
    ft_buf_printf(b, "\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f,\"avg\":%.3f",
                  hist_quantile(h, 0.5), hist_quantile(h, 0.95), hist_quantile(h, 0.99),
                  h->n > 0 ? (double)h->sum_us / (double)h->n / 1000.0 : 0.0);
}

/* A duration histogram: each bucket that is not empty, by its upper bound
 * in ms ("le", null for the last, unbounded one) and its count. */
static void histogram_json(ft_buf *b, const hist *h)
{
    bool first = true;
    ft_buf_putc(b, '[');
    for (int i = 0; i < NB; i++) {
        if (h->b[i] <= 0)
            continue;
        ft_buf_puts(b, first ? "{\"le\":" : ",{\"le\":");
        first = false;
        if (i == NB - 1)
            ft_buf_puts(b, "null");
        else
            ft_buf_printf(b, "%.1f", bucket_hi(i) / 1000.0);
        ft_buf_printf(b, ",\"count\":%lld}", (long long)h->b[i]);
    }
    ft_buf_putc(b, ']');
}

/* One per-minute bucket: its start (ms), requests, errors, p50 and p99. */
static void minute_json(ft_buf *b, bool comma, int64_t minute, const hist *h)
{
    ft_buf_printf(b, "%s{\"t\":%lld,\"requests\":%lld,\"errors\":%lld,\"p50\":%.3f,"
                     "\"p99\":%.3f}",
                  comma ? "," : "", (long long)minute, (long long)h->n, (long long)h->err,
                  hist_quantile(h, 0.5), hist_quantile(h, 0.99));
}

/* When one name is seen as several kinds, the most specific wins: a host
 * that gets deliveries is an instance, even if it is also fetched from. */
static int kind_rank(const char *k)
{
    static const char *const order[] = {"http", "instance", "rpc", "queue", "cache",
                                        "database", "service", "instrumented"};
    for (int i = 0; i < 8; i++)
        if (strcmp(k, order[i]) == 0)
            return i;
    return -1;
}

typedef struct svc_sum {
    const char *name, *kind;
    hist h;
    size_t ops;
    bool serves; /* has server or consumer spans of its own */
} svc_sum;

static int svc_cmp(const void *x, const void *y)
{
    const svc_sum *a = x, *b = y;
    if (a->h.n != b->h.n)
        return a->h.n > b->h.n ? -1 : 1;
    return strcmp(a->name, b->name);
}

static const char *svc_key(const void *v, size_t i)
{
    return ((const svc_sum *)v)[i].name;
}

/* The services of the window with their RED totals (malloc'd array). */
static svc_sum *services_of(const mtable *t, size_t *n_out)
{
    svc_sum *v = calloc(t->n ? t->n : 1, sizeof *v);
    size_t *at = calloc(t->n ? t->n : 1, sizeof *at); /* series -> its service + 1 */
    sindex idx = {0};
    size_t n = 0;
    bool ok = v != NULL && at != NULL;
    for (size_t i = 0; ok && i < t->n; i++) {
        const merged *e = &t->v[i];
        if (e->type[0] != 's')
            continue;
        if (!(ok = sindex_reserve(&idx, n, svc_key, v)))
            break;
        bool found;
        size_t slot = sindex_slot(&idx, e->a, svc_key, v, &found);
        if (strcmp(e->b, "instrumented") == 0 &&
            (strcmp(e->d, "server") == 0 || strcmp(e->d, "consumer") == 0)) {
            if (!found) { /* known by the name, listed only with requests */
                v[n].name = e->a;
                v[n].kind = e->b;
                idx.slot[slot] = (uint32_t)(++n);
                found = true;
            }
            v[idx.slot[slot] - 1].serves = true;
        }
        if (e->h.n <= 0)
            continue;
        if (!found) {
            v[n].name = e->a;
            v[n].kind = e->b;
            idx.slot[slot] = (uint32_t)(++n);
        }
        size_t k = idx.slot[slot] - 1;
        at[i] = k + 1;
        if (v[k].ops > 0 && kind_rank(e->b) > kind_rank(v[k].kind))
            v[k].kind = e->b;
        else if (v[k].ops == 0)
            v[k].kind = e->b;
        v[k].ops++;
    }
    for (size_t i = 0; ok && i < t->n; i++)
        if (at[i] > 0 && is_request(&t->v[i], v[at[i] - 1].serves))
            hist_merge(&v[at[i] - 1].h, &t->v[i].h);
    /* drop the ones seen only without requests */
    size_t w = 0;
    for (size_t k = 0; ok && k < n; k++)
        if (v[k].ops > 0)
            v[w++] = v[k];
    free(idx.slot);
    free(at);
    if (!ok) {
        free(v);
        return NULL;
    }
    qsort(v, w, sizeof *v, svc_cmp);
    *n_out = w;
    return v;
}

typedef struct qrow {
    const merged *e;
    double p99;
} qrow;

static int qrow_cmp(const void *x, const void *y)
{
    const qrow *a = x, *b = y;
    if (a->p99 != b->p99)
        return a->p99 > b->p99 ? -1 : 1;
    return strcmp(a->e->d, b->e->d);
}

static void slow_queries_json(ft_buf *b, const mtable *t, const char *service, size_t limit)
{
    qrow *rows = calloc(t->n ? t->n : 1, sizeof *rows);
    size_t n = 0;
    for (size_t i = 0; rows != NULL && i < t->n; i++) {
        const merged *e = &t->v[i];
        if (e->type[0] != 'q' || e->h.n <= 0)
            continue;
        if (service != NULL && strcmp(e->a, service) != 0 && strcmp(e->c, service) != 0)
            continue;
        rows[n].e = e;
        rows[n].p99 = hist_quantile(&e->h, 0.99);
        n++;
    }
    if (rows != NULL)
        qsort(rows, n, sizeof *rows, qrow_cmp);
    ft_buf_puts(b, "[");
    for (size_t i = 0; i < n && i < limit; i++) {
        const merged *e = rows[i].e;
        ft_buf_puts(b, i ? ",{\"service\":" : "{\"service\":");
        ft_json_cstr(b, e->a);
        ft_buf_puts(b, ",\"system\":");
        ft_json_cstr(b, e->b);
        ft_buf_puts(b, ",\"caller\":");
        ft_json_cstr(b, e->c);
        ft_buf_puts(b, ",\"statement\":");
        ft_json_cstr(b, e->d);
        ft_buf_printf(b, ",\"count\":%lld,\"errors\":%lld,\"p50\":%.3f,\"p99\":%.3f,"
                         "\"max\":%.3f,\"avg\":%.3f,\"exampleTraceId\":\"%s\"}",
                      (long long)e->h.n, (long long)e->h.err, hist_quantile(&e->h, 0.5),
                      rows[i].p99, (double)e->h.max_us / 1000.0,
                      (double)e->h.sum_us / (double)e->h.n / 1000.0, e->h.trace);
    }
    ft_buf_puts(b, "]");
    free(rows);
}

static void edges_json(ft_buf *b, const mtable *t, const char *only_from, const char *only_to)
{
    bool first = true;
    ft_buf_putc(b, '[');
    for (size_t i = 0; i < t->n; i++) {
        const merged *e = &t->v[i];
        if (e->type[0] != 'e' || e->h.n <= 0)
            continue;
        if ((only_from && strcmp(e->a, only_from) != 0) || (only_to && strcmp(e->b, only_to) != 0))
            continue;
        ft_buf_puts(b, first ? "{\"from\":" : ",{\"from\":");
        first = false;
        ft_json_cstr(b, e->a);
        ft_buf_puts(b, ",\"to\":");
        ft_json_cstr(b, e->b);
        ft_buf_puts(b, ",\"toKind\":");
        ft_json_cstr(b, e->c);
        ft_buf_printf(b, ",\"calls\":%lld,\"errors\":%lld,\"p50\":%.3f,\"p99\":%.3f}",
                      (long long)e->h.n, (long long)e->h.err, hist_quantile(&e->h, 0.5),
                      hist_quantile(&e->h, 0.99));
    }
    ft_buf_putc(b, ']');
}

/* Reads and merges the documents of [since, until). */
static ft_code load_window(ft_kv *kv, const ft_str *prefix, size_t np, int64_t since,
                           int64_t until, const char *service, mtable *t, ft_err *err)
{
    ft_arena *a = ft_arena_create(0);
    if (a == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
    ft_str parts[16], after_parts[16];
    memcpy(parts, prefix, np * sizeof *parts);
    parts[np] = FT_STR_LIT("_red");
    char from[32];
    snprintf(from, sizeof from, "%0*lld", MINUTE_DIGITS, (long long)(since / 60000 * 60000));
    memcpy(after_parts, parts, (np + 1) * sizeof *parts);
    after_parts[np + 1] = ft_str_c(from); /* [.., minute] sorts before [.., minute, part] */
    ft_kv_key after = {after_parts, np + 2};
    ft_code rc = FT_OK;
    bool more = true;
    while (more && rc == FT_OK) {
        ft_kv_list_opts o = {false, &after, 256};
        ft_kv_entry *e;
        size_t n;
        if ((rc = ft_kv_list(kv, (ft_kv_key){parts, np + 1}, &o, a, &e, &n, err)) != FT_OK)
            break;
        more = n == 256;
        for (size_t i = 0; i < n; i++) {
            if (e[i].key.n != np + 3)
                continue;
            char mb[32];
            snprintf(mb, sizeof mb, "%.*s", (int)e[i].key.parts[np + 1].len,
                     e[i].key.parts[np + 1].ptr);
            int64_t minute = strtoll(mb, NULL, 10);
            if (minute >= until) {
                more = false;
                break;
            }
            json_t *doc = json_loadb(e[i].value.ptr, e[i].value.len, 0, NULL);
            size_t k;
            json_t *s;
            json_array_foreach(json_object_get(doc, "series"), k, s)
            {
                hist h;
                const char *key = json_string_value(json_object_get(s, "k"));
                if (key == NULL || !hist_from_json(s, &h))
                    continue;
                merged *m = mt_get(t, key);
                if (m == NULL) {
                    rc = ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
                    break;
                }
                hist_merge(&m->h, &h);
                /* one service's requests per minute */
                if (service != NULL && m->type[0] == 's' && strcmp(m->a, service) == 0) {
                    size_t j = 0;
                    while (j < t->n_minutes && t->minutes[j] != minute)
                        j++;
                    if (j == t->n_minutes) {
                        int64_t *mv = realloc(t->minutes, (j + 1) * sizeof *mv);
                        if (mv != NULL)
                            t->minutes = mv;
                        hist *av = realloc(t->all, (j + 1) * sizeof *av);
                        if (av != NULL)
                            t->all = av;
                        hist *sv = realloc(t->served, (j + 1) * sizeof *sv);
                        if (sv != NULL)
                            t->served = sv;
                        if (mv == NULL || av == NULL || sv == NULL) {
                            rc = ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
                            break;
                        }
                        t->minutes[j] = minute;
                        memset(&t->all[j], 0, sizeof *t->all);
                        memset(&t->served[j], 0, sizeof *t->served);
                        t->n_minutes++;
                    }
                    hist_merge(&t->all[j], &h);
                    if (strcmp(m->d, "server") == 0 || strcmp(m->d, "consumer") == 0)
                        hist_merge(&t->served[j], &h);
                    /* and the operation's */
                    hist *op = minute_of(&m->minutes, &m->per_minute, &m->n_minutes, minute);
                    if (op == NULL) {
                        rc = ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
                        break;
                    }
                    hist_merge(op, &h);
                }
            }
            json_decref(doc);
            after = e[i].key;
        }
    }
    ft_arena_destroy(a);
    return rc;
}

ft_code ft_services_json(ft_kv *kv, ft_services_what what, const ft_services_query *q,
                         ft_arena *arena, ft_str *out, ft_err *err)
{
    static const char *const def_prefix[] = {"fedify", "traces"};
    const char *const *pp = q && q->key_prefix && q->n_key_prefix ? q->key_prefix : def_prefix;
    size_t np = q && q->key_prefix && q->n_key_prefix ? q->n_key_prefix : 2;
    if (np > 8)
        return ft_err_set(err, FT_INVAL, 0, "metrics: key prefix has %zu parts, at most 8", np);
    ft_str prefix[8];
    for (size_t i = 0; i < np; i++)
        prefix[i] = ft_str_c(pp[i]);
    int64_t until = q && q->until_ms ? q->until_ms : ft_now_ms();
    int64_t since = q && q->since_ms ? q->since_ms : until - 3600 * 1000;
    if (since >= until)
        return ft_err_set(err, FT_INVAL, 0, "since must be before until");
    const char *service = q ? q->service : NULL;
    if (what == FT_Q_SERVICE && (service == NULL || *service == '\0'))
        return ft_err_set(err, FT_INVAL, 0, "which service?");
    mtable t = {0};
    ft_code rc = load_window(kv, prefix, np, since, until,
                             what == FT_Q_SERVICE ? service : NULL, &t, err);
    if (rc != FT_OK) {
        mt_free(&t);
        return rc;
    }
    double seconds = (double)(until - since) / 1000.0;
    ft_buf b = {0};
    size_t n_svc = 0;
    svc_sum *svcs = services_of(&t, &n_svc);
    if (svcs == NULL) {
        mt_free(&t);
        return ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
    }
    size_t limit = q && q->limit ? q->limit : 20;
    switch (what) {
    case FT_Q_SERVICES:
        ft_buf_printf(&b, "{\"since\":%lld,\"until\":%lld,\"services\":[", (long long)since,
                      (long long)until);
        for (size_t i = 0; i < n_svc; i++) {
            ft_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
            ft_json_cstr(&b, svcs[i].name);
            ft_buf_puts(&b, ",\"kind\":");
            ft_json_cstr(&b, svcs[i].kind);
            ft_buf_putc(&b, ',');
            red_json(&b, &svcs[i].h, seconds, true);
            ft_buf_printf(&b, ",\"operations\":%zu}", svcs[i].ops);
        }
        ft_buf_puts(&b, "]}");
        break;
    case FT_Q_SERVICE: {
        size_t k = 0;
        while (k < n_svc && strcmp(svcs[k].name, service) != 0)
            k++;
        if (k == n_svc) {
            rc = ft_err_set(err, FT_NOTFOUND, 0, "no data of service \"%.200s\" in this window",
                            service);
            break;
        }
        bool srv = svcs[k].serves;
        ft_buf_puts(&b, "{\"name\":");
        ft_json_cstr(&b, service);
        ft_buf_puts(&b, ",\"kind\":");
        ft_json_cstr(&b, svcs[k].kind);
        ft_buf_printf(&b, ",\"since\":%lld,\"until\":%lld,", (long long)since, (long long)until);
        red_json(&b, &svcs[k].h, seconds, true);
        ft_buf_puts(&b, ",\"operations\":[");
        bool first = true;
        for (int pass = 0; pass < 2; pass++) /* requests first, then the rest */
            for (size_t i = 0; i < t.n; i++) {
                const merged *e = &t.v[i];
                if (e->type[0] != 's' || e->h.n <= 0 || strcmp(e->a, service) != 0 ||
                    is_request(e, srv) != (pass == 0))
                    continue;
                ft_buf_puts(&b, first ? "{\"name\":" : ",{\"name\":");
                first = false;
                ft_json_cstr(&b, e->c);
                ft_buf_puts(&b, ",\"spanKind\":");
                ft_json_cstr(&b, e->d);
                ft_buf_printf(&b, ",\"request\":%s,", pass == 0 ? "true" : "false");
                red_json(&b, &e->h, seconds, false);
                ft_buf_puts(&b, ",\"histogram\":");
                histogram_json(&b, &e->h);
                ft_buf_puts(&b, ",\"buckets\":[");
                for (size_t j = 0; j < e->n_minutes; j++)
                    minute_json(&b, j > 0, e->minutes[j], &e->per_minute[j]);
                ft_buf_puts(&b, "]}");
            }
        ft_buf_puts(&b, "],\"buckets\":[");
        for (size_t i = 0; i < t.n_minutes; i++)
            minute_json(&b, i > 0, t.minutes[i], srv ? &t.served[i] : &t.all[i]);
        ft_buf_puts(&b, "],\"callers\":");
        edges_json(&b, &t, NULL, service);
        ft_buf_puts(&b, ",\"callees\":");
        edges_json(&b, &t, service, NULL);
        ft_buf_puts(&b, ",\"slowQueries\":");
        slow_queries_json(&b, &t, service, limit);
        ft_buf_putc(&b, '}');
        break;
    }
    case FT_Q_MAP:
        ft_buf_puts(&b, "{\"nodes\":[");
        for (size_t i = 0; i < n_svc; i++) {
            ft_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
            ft_json_cstr(&b, svcs[i].name);
            ft_buf_puts(&b, ",\"kind\":");
            ft_json_cstr(&b, svcs[i].kind);
            ft_buf_printf(&b, ",\"requests\":%lld,\"errors\":%lld}", (long long)svcs[i].h.n,
                          (long long)svcs[i].h.err);
        }
        ft_buf_puts(&b, "],\"edges\":");
        edges_json(&b, &t, NULL, NULL);
        ft_buf_printf(&b, ",\"since\":%lld,\"until\":%lld}", (long long)since, (long long)until);
        break;
    case FT_Q_SLOW_QUERIES:
        ft_buf_puts(&b, "{\"queries\":");
        slow_queries_json(&b, &t, service, limit);
        ft_buf_printf(&b, ",\"since\":%lld,\"until\":%lld}", (long long)since, (long long)until);
        break;
    }
    free(svcs);
    mt_free(&t);
    if (rc == FT_OK) {
        char *p = ft_buf_ok(&b) ? ft_arena_memdup(arena, b.ptr, b.len) : NULL;
        if (p == NULL)
            rc = ft_err_set(err, FT_NOMEM, 0, "metrics: out of memory");
        else
            *out = (ft_str){p, b.len};
    }
    ft_buf_free(&b);
    return rc;
}
