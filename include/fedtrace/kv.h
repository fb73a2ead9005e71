/*
 * fedtrace/kv.h - the ordered key-value store interface.
 *
 * A key is a tuple of byte strings (like Fedify's KvKey); a value is an
 * opaque byte string (fedtrace stores JSON text).  Every store offers get,
 * set (with an optional time to live), delete and batches; two capabilities
 * are optional and announced by ft_kv_caps():
 *
 *   FT_KV_CAP_LIST  ordered prefix scan, forward or reverse, with a
 *                   start-after cursor and a limit;
 *   FT_KV_CAP_CAS   compare-and-swap on one key.
 *
 * Calling an operation whose capability is missing returns FT_UNSUPPORTED
 * with a message that names the store and the capability.
 *
 * Store URLs (see docs/configuration.md):
 *
 *   memory:                      in-process, for tests
 *   lmdb:PATH                    embedded; PATH is a directory
 *   ...?caps=list,cas            keep only these capabilities (also
 *                                "list", "cas", "none"); masks what the
 *                                backend has, never adds to it
 *   lmdb:PATH?mapsize=BYTES      LMDB map size (default 4 GiB)
 *
 * Ownership: keys and values passed in are borrowed for the call.  Keys and
 * values returned (get, list) are allocated in the caller's arena and stay
 * valid until that arena is reset or destroyed, on success and on failure.
 *
 * Threading: one ft_kv handle may be used by one thread at a time.  Several
 * handles (in one process or several) may open the same lmdb PATH at once;
 * each thread should have its own handle.
 */
#ifndef FEDTRACE_KV_H
#define FEDTRACE_KV_H

#include "fedtrace/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ft_kv ft_kv;

/* A tuple key: n parts, each a byte string.  n must be at least 1 for
 * get/set/delete/cas; a list prefix may have n == 0 (the whole store). */
typedef struct ft_kv_key {
    const ft_str *parts;
    size_t n;
} ft_kv_key;

#define FT_KV_MAX_PARTS 16

enum {
    FT_KV_CAP_LIST = 1u << 0,
    FT_KV_CAP_CAS = 1u << 1,
};

ft_code ft_kv_open(const char *url, ft_kv **out, ft_err *err);
void ft_kv_close(ft_kv *kv); /* NULL is a no-op */

unsigned ft_kv_caps(const ft_kv *kv);
/* "memory", "lmdb", ... */
const char *ft_kv_scheme(const ft_kv *kv);

/* FT_OK and *value set, or FT_NOTFOUND (also for expired entries). */
ft_code ft_kv_get(ft_kv *kv, ft_kv_key key, ft_arena *arena, ft_str *value,
                  ft_err *err);

/* ttl_ms <= 0: no expiry.  An existing entry's value and TTL are replaced. */
ft_code ft_kv_set(ft_kv *kv, ft_kv_key key, ft_str value, int64_t ttl_ms,
                  ft_err *err);

/* FT_OK whether or not the key existed. */
ft_code ft_kv_delete(ft_kv *kv, ft_kv_key key, ft_err *err);

typedef enum ft_kv_op_type { FT_KV_SET, FT_KV_DELETE } ft_kv_op_type;

typedef struct ft_kv_op {
    ft_kv_op_type type;
    ft_kv_key key;
    ft_str value;   /* FT_KV_SET only */
    int64_t ttl_ms; /* FT_KV_SET only; <= 0: none */
    /* FT_KV_SET only: the value is read back only through this interface
     * (no other program reads it), so the store may keep it compressed:
     * Redis then stores a zstd frame when that saves an eighth (LMDB
     * compresses every value anyway).  Reads return the bytes written.
     * Such a value is not for ft_kv_cas: the stored bytes differ. */
    bool compressible;
} ft_kv_op;

/* Applies ops in order.  Atomic (all or nothing, and invisible to readers
 * until complete) on memory and lmdb. */
ft_code ft_kv_batch(ft_kv *kv, const ft_kv_op *ops, size_t n, ft_err *err);

typedef struct ft_kv_entry {
    ft_kv_key key;
    ft_str value;
} ft_kv_entry;

typedef struct ft_kv_list_opts {
    bool reverse;                 /* descending key order */
    const ft_kv_key *start_after; /* exclusive cursor in scan order; NULL */
    size_t limit;                 /* 0: no limit */
} ft_kv_list_opts;

/*
 * FT_KV_CAP_LIST.  Entries whose key starts with `prefix` (the key equal to
 * the prefix included), in tuple order (parts compared bytewise, a shorter
 * tuple before its extensions), skipping expired entries.  opts may be NULL.
 * *out is an arena array of *n_out entries.
 */
ft_code ft_kv_list(ft_kv *kv, ft_kv_key prefix, const ft_kv_list_opts *opts,
                   ft_arena *arena, ft_kv_entry **out, size_t *n_out,
                   ft_err *err);

/*
 * FT_KV_CAP_LIST.  ft_kv_list of n prefixes at once, each whole, in
 * ascending order: out[i] (an arena array) and counts[i] for prefixes[i].
 * Redis lists them in one script (a prefix with more than 256 entries
 * in a call of its own); the others one after the other.
 */
ft_code ft_kv_list_many(ft_kv *kv, const ft_kv_key *prefixes, size_t n, ft_arena *arena,
                        ft_kv_entry **out, size_t *counts, ft_err *err);

/*
 * FT_KV_CAP_CAS.  Atomically: if the current value equals *expected (bytes)
 * -- or the key is absent (or expired) when expected is NULL -- store
 * *value (delete when value is NULL) and return FT_OK; otherwise change
 * nothing and return FT_CONFLICT.
 */
ft_code ft_kv_cas(ft_kv *kv, ft_kv_key key, const ft_str *expected,
                  const ft_str *value, int64_t ttl_ms, ft_err *err);

/*
 * ft_kv_get for n keys at once: values[i] and found[i] (FT_OK or
 * FT_NOTFOUND) for keys[i].  LMDB reads them in one transaction, Redis
 * with one MGET; the others one after the other.  Any other outcome fails
 * the call.
 */
ft_code ft_kv_get_many(ft_kv *kv, const ft_kv_key *keys, size_t n, ft_arena *arena,
                       ft_str *values, ft_code *found, ft_err *err);

typedef struct ft_kv_cas_op {
    ft_kv_key key;
    const ft_str *expected; /* NULL: the key must be absent */
    const ft_str *value;    /* NULL: delete */
    int64_t ttl_ms;
    ft_code result;         /* out: FT_OK (swapped) or FT_CONFLICT */
} ft_kv_cas_op;

/*
 * FT_KV_CAP_CAS.  ft_kv_cas for each op in order (a later op sees what an
 * earlier one wrote), each swapped or refused on its own, its outcome in
 * ops[i].result.  The call returns FT_OK when every op was decided; on an
 * error some ops may have been applied.  LMDB decides them all in one
 * transaction (one sync), Redis in one script (one round trip); memory and
 * PostgreSQL one after the other.
 */
ft_code ft_kv_cas_many(ft_kv *kv, ft_kv_cas_op *ops, size_t n, ft_err *err);

/*
 * Removes up to `max` expired entries (0: all) so that their space is
 * reused; *removed (may be NULL) gets the count.  Backends with native
 * expiry return FT_OK at once.  The library owns no threads: a program
 * calls this periodically (fedtrace serve does).
 */
ft_code ft_kv_sweep(ft_kv *kv, size_t max, size_t *removed, ft_err *err);

/* Statistics for tests and /metrics. */
typedef struct ft_kv_stats {
    uint64_t entries;     /* live + expired-but-unswept entries */
    uint64_t pages_used;  /* lmdb: pages in use (branch+leaf+overflow) */
    uint64_t expiring;    /* entries carrying a TTL */
    uint64_t bytes_used;  /* lmdb: pages in use times the page size */
    uint64_t bytes_max;   /* lmdb: the map size; 0 when unbounded/unknown */
} ft_kv_stats;

ft_code ft_kv_stats_get(ft_kv *kv, ft_kv_stats *st, ft_err *err);

/* Copies url to out (cap bytes) with secrets masked for logs and
 * messages: the password of "scheme://user:password@host" and the value of
 * a password= parameter become "***". */
void ft_kv_url_redact(const char *url, char *out, size_t cap);

/* Renders a key for messages, e.g. ["fedify","traces","ab12"].  Returns an
 * arena string (NULL when out of memory). */
char *ft_kv_key_repr(ft_arena *arena, ft_kv_key key);

#ifdef __cplusplus
}
#endif
#endif
