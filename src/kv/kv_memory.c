/*
 * kv_memory.c - the in-process reference store.
 *
 * A sorted array of (encoded key, value, expiry) under a mutex.  Inserting
 * is O(n) memmove; this backend exists for tests and as the reference the
 * conformance suite is written against, not for volume.  "memory:" is a
 * private store; "memory:NAME" is shared by every handle of this process
 * that opens the same NAME (refcounted), so threads can hold separate
 * handles onto one store.
 */
#include "kv/kv_int.h"

#include <pthread.h>
#include <string.h>

typedef struct mem_entry {
    ft_str key; /* encoded, owned */
    ft_str value;  /* owned */
    int64_t expires_ms; /* 0: never */
} mem_entry;

typedef struct mem_store {
    pthread_mutex_t lock;
    mem_entry *items;
    size_t n, cap;
    char *name; /* NULL for a private store */
    int refs;
    struct mem_store *next;
} mem_store;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static mem_store *registry;

static bool expired(const mem_entry *e, int64_t now)
{
    return e->expires_ms != 0 && e->expires_ms <= now;
}

/* index of the first entry with key >= k */
static size_t lower_bound(const mem_store *s, ft_str k)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ft_kv__bytes_cmp(s->items[mid].key, k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static mem_entry *find(mem_store *s, ft_str k)
{
    size_t i = lower_bound(s, k);
    if (i < s->n && ft_kv__bytes_cmp(s->items[i].key, k) == 0)
        return &s->items[i];
    return NULL;
}

static void entry_free(mem_entry *e)
{
    ft_free((void *)(uintptr_t)e->key.ptr);
    ft_free((void *)(uintptr_t)e->value.ptr);
}

static void store_free(mem_store *s)
{
    for (size_t i = 0; i < s->n; i++)
        entry_free(&s->items[i]);
    ft_free(s->items);
    ft_free(s->name);
    pthread_mutex_destroy(&s->lock);
    ft_free(s);
}

static ft_code mem_open(const ft_kv_url *url, void **state, ft_err *err)
{
    const char *name = url->rest;
    pthread_mutex_lock(&registry_lock);
    if (*name != '\0') {
        for (mem_store *s = registry; s != NULL; s = s->next)
            if (strcmp(s->name, name) == 0) {
                s->refs++;
                pthread_mutex_unlock(&registry_lock);
                *state = s;
                return FT_OK;
            }
    }
    mem_store *s = ft_calloc(1, sizeof *s);
    if (s == NULL || (*name && (s->name = ft_strndup(name, strlen(name))) == NULL)) {
        ft_free(s);
        pthread_mutex_unlock(&registry_lock);
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    }
    pthread_mutex_init(&s->lock, NULL);
    s->refs = 1;
    if (s->name != NULL) {
        s->next = registry;
        registry = s;
    }
    pthread_mutex_unlock(&registry_lock);
    *state = s;
    return FT_OK;
}

static void mem_close(void *state)
{
    mem_store *s = state;
    pthread_mutex_lock(&registry_lock);
    bool last = --s->refs == 0;
    if (last && s->name != NULL) {
        for (mem_store **pp = &registry; *pp; pp = &(*pp)->next)
            if (*pp == s) {
                *pp = s->next;
                break;
            }
    }
    pthread_mutex_unlock(&registry_lock);
    if (last)
        store_free(s);
}

static ft_code mem_get(void *state, ft_kv_key key, ft_arena *arena,
                       ft_str *value, ft_err *err)
{
    mem_store *s = state;
    ft_str k;
    ft_code rc = ft_kv__key_encode(key, arena, &k, err);
    if (rc != FT_OK)
        return rc;
    pthread_mutex_lock(&s->lock);
    mem_entry *e = find(s, k);
    if (e == NULL || expired(e, ft_now_ms())) {
        pthread_mutex_unlock(&s->lock);
        return FT_NOTFOUND;
    }
    char *v = ft_arena_memdup(arena, e->value.ptr, e->value.len);
    size_t len = e->value.len;
    pthread_mutex_unlock(&s->lock);
    if (v == NULL && len)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory reading a value");
    *value = (ft_str){v ? v : "", len};
    return FT_OK;
}

/* Reserves room for `extra` inserts so a batch cannot fail half-way. */
static bool reserve(mem_store *s, size_t extra)
{
    if (s->cap - s->n >= extra)
        return true;
    size_t cap = s->cap ? s->cap : 64;
    while (cap - s->n < extra)
        cap *= 2;
    mem_entry *items = ft_realloc(s->items, cap * sizeof *items);
    if (items == NULL)
        return false;
    s->items = items;
    s->cap = cap;
    return true;
}

static int64_t expiry(int64_t ttl_ms, int64_t now)
{
    return ttl_ms > 0 ? now + ttl_ms : 0;
}

/* Stores (key, value) taking ownership of both buffers; room reserved. */
static void put_owned(mem_store *s, ft_str k, ft_str v, int64_t exp)
{
    size_t i = lower_bound(s, k);
    if (i < s->n && ft_kv__bytes_cmp(s->items[i].key, k) == 0) {
        ft_free((void *)(uintptr_t)k.ptr);
        ft_free((void *)(uintptr_t)s->items[i].value.ptr);
        s->items[i].value = v;
        s->items[i].expires_ms = exp;
        return;
    }
    memmove(&s->items[i + 1], &s->items[i], (s->n - i) * sizeof *s->items);
    s->items[i] = (mem_entry){k, v, exp};
    s->n++;
}

static void remove_key(mem_store *s, ft_str k)
{
    size_t i = lower_bound(s, k);
    if (i < s->n && ft_kv__bytes_cmp(s->items[i].key, k) == 0) {
        entry_free(&s->items[i]);
        memmove(&s->items[i], &s->items[i + 1],
                (s->n - i - 1) * sizeof *s->items);
        s->n--;
    }
}

static ft_code mem_batch(void *state, const ft_kv_op *ops, size_t n,
                         ft_err *err)
{
    mem_store *s = state;
    /* Copy everything first so that applying cannot fail: all or nothing. */
    ft_str *keys = ft_calloc(n, sizeof *keys);
    ft_str *vals = ft_calloc(n, sizeof *vals);
    ft_code rc = FT_OK;
    if (keys == NULL || vals == NULL) {
        rc = ft_err_set(err, FT_NOMEM, 0, "out of memory in batch");
        goto out;
    }
    for (size_t i = 0; i < n && rc == FT_OK; i++) {
        rc = ft_kv__key_encode(ops[i].key, NULL, &keys[i], err);
        if (rc == FT_OK && ops[i].type == FT_KV_SET) {
            char *v = ft_malloc(ops[i].value.len);
            if (v == NULL)
                rc = ft_err_set(err, FT_NOMEM, 0, "out of memory in batch");
            else if (ops[i].value.len)
                memcpy(v, ops[i].value.ptr, ops[i].value.len);
            vals[i] = (ft_str){v, ops[i].value.len};
        }
    }
    if (rc != FT_OK)
        goto out;
    pthread_mutex_lock(&s->lock);
    if (!reserve(s, n)) {
        pthread_mutex_unlock(&s->lock);
        rc = ft_err_set(err, FT_NOMEM, 0, "out of memory in batch");
        goto out;
    }
    int64_t now = ft_now_ms();
    for (size_t i = 0; i < n; i++) {
        if (ops[i].type == FT_KV_SET) {
            put_owned(s, keys[i], vals[i], expiry(ops[i].ttl_ms, now));
            keys[i] = vals[i] = (ft_str){NULL, 0};
        } else {
            remove_key(s, keys[i]);
        }
    }
    pthread_mutex_unlock(&s->lock);
out:
    for (size_t i = 0; keys != NULL && i < n; i++) {
        ft_free((void *)(uintptr_t)keys[i].ptr);
        if (vals != NULL)
            ft_free((void *)(uintptr_t)vals[i].ptr);
    }
    ft_free(keys);
    ft_free(vals);
    return rc;
}

static ft_code mem_list(void *state, ft_kv_key prefix,
                        const ft_kv_list_opts *opts, ft_arena *arena,
                        ft_kv_entry **out, size_t *n_out, ft_err *err)
{
    mem_store *s = state;
    ft_str p, after = {NULL, 0};
    ft_code rc = ft_kv__key_encode(prefix, arena, &p, err);
    if (rc == FT_OK && opts->start_after != NULL)
        rc = ft_kv__key_encode(*opts->start_after, arena, &after, err);
    if (rc != FT_OK)
        return rc;
    ft_kv_entries res = {0};
    pthread_mutex_lock(&s->lock);
    int64_t now = ft_now_ms();
    size_t lo = lower_bound(s, p), hi = lo;
    while (hi < s->n && s->items[hi].key.len >= p.len &&
           memcmp(s->items[hi].key.ptr, p.ptr, p.len) == 0)
        hi++;
    for (size_t k = 0; k < hi - lo && rc == FT_OK; k++) {
        size_t i = opts->reverse ? hi - 1 - k : lo + k;
        const mem_entry *e = &s->items[i];
        if (expired(e, now))
            continue;
        if (opts->start_after != NULL) {
            int c = ft_kv__bytes_cmp(e->key, after);
            if (opts->reverse ? c >= 0 : c <= 0)
                continue;
        }
        rc = ft_kv__entries_push_encoded(&res, arena, e->key, e->value, err);
        if (opts->limit && res.n == opts->limit)
            break;
    }
    pthread_mutex_unlock(&s->lock);
    if (rc != FT_OK)
        return rc;
    *out = res.items;
    *n_out = res.n;
    return FT_OK;
}

static ft_code mem_cas(void *state, ft_kv_key key, const ft_str *expected,
                       const ft_str *value, int64_t ttl_ms, ft_err *err)
{
    mem_store *s = state;
    ft_str k;
    ft_code rc = ft_kv__key_encode(key, NULL, &k, err);
    if (rc != FT_OK)
        return rc;
    char *v = NULL;
    if (value != NULL && (v = ft_malloc(value->len)) == NULL) {
        ft_free((void *)(uintptr_t)k.ptr);
        return ft_err_set(err, FT_NOMEM, 0, "out of memory in cas");
    }
    if (v != NULL && value->len)
        memcpy(v, value->ptr, value->len);
    pthread_mutex_lock(&s->lock);
    int64_t now = ft_now_ms();
    mem_entry *e = find(s, k);
    bool present = e != NULL && !expired(e, now);
    bool match = expected == NULL ? !present
                                  : present && ft_str_eq(e->value, *expected);
    if (!match) {
        rc = FT_CONFLICT;
    } else if (value == NULL) {
        remove_key(s, k);
    } else if (!reserve(s, 1)) {
        rc = ft_err_set(err, FT_NOMEM, 0, "out of memory in cas");
    } else {
        put_owned(s, k, (ft_str){v, value->len}, expiry(ttl_ms, now));
        k.ptr = v = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    ft_free((void *)(uintptr_t)k.ptr);
    ft_free(v);
    return rc;
}

static ft_code mem_sweep(void *state, size_t max, size_t *removed,
                         ft_err *err)
{
    (void)err;
    mem_store *s = state;
    pthread_mutex_lock(&s->lock);
    int64_t now = ft_now_ms();
    size_t w = 0, count = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (expired(&s->items[i], now) && (max == 0 || count < max)) {
            entry_free(&s->items[i]);
            count++;
        } else {
            s->items[w++] = s->items[i];
        }
    }
    s->n = w;
    pthread_mutex_unlock(&s->lock);
    *removed = count;
    return FT_OK;
}

static ft_code mem_stats(void *state, ft_kv_stats *st, ft_err *err)
{
    (void)err;
    mem_store *s = state;
    pthread_mutex_lock(&s->lock);
    st->entries = s->n;
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].expires_ms != 0)
            st->expiring++;
    pthread_mutex_unlock(&s->lock);
    return FT_OK;
}

const ft_kv_backend ft_kv__memory_backend = {
    .version = FT_KV_BACKEND_VERSION,
    .scheme = "memory",
    .caps = FT_KV_CAP_LIST | FT_KV_CAP_CAS,
    .open = mem_open,
    .close = mem_close,
    .get = mem_get,
    .batch = mem_batch,
    .list = mem_list,
    .cas = mem_cas,
    .sweep = mem_sweep,
    .stats = mem_stats,
};
