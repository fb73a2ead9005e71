/*
 * kv_int.h - what a store backend implements (private to libfedtrace).
 *
 * A backend is a versioned table of functions plus the capabilities it
 * offers.  The dispatcher (kv.c) parses the URL, masks capabilities, checks
 * them before every call, validates keys, and fills missing optional slots
 * with defaults, so a backend never sees a call it did not announce.
 *
 * Keys reach backends as tuples.  Backends that keep keys as ordered bytes
 * (memory, lmdb) use ft_kv__key_encode, whose byte order equals tuple order
 * and whose prefixes are tuple prefixes.
 */
#ifndef FT_KV_INT_H
#define FT_KV_INT_H

#include "fedtrace/kv.h"

#define FT_KV_BACKEND_VERSION 1

/* A parsed store URL: scheme, the part after "scheme:" up to '?', and the
 * query parameters (caps= is consumed by the dispatcher). */
typedef struct ft_kv_url {
    char *scheme;
    char *rest;
    size_t n_params;
    char *names[16];
    char *values[16];
} ft_kv_url;

/* The value of parameter `name`, or NULL. */
const char *ft_kv__url_param(const ft_kv_url *url, const char *name);

typedef struct ft_kv_backend {
    int version; /* FT_KV_BACKEND_VERSION */
    const char *scheme;
    unsigned caps;

    ft_code (*open)(const ft_kv_url *url, void **state, ft_err *err);
    void (*close)(void *state);

    ft_code (*get)(void *state, ft_kv_key key, ft_arena *arena, ft_str *value,
                   ft_err *err);
    ft_code (*batch)(void *state, const ft_kv_op *ops, size_t n, ft_err *err);
    /* optional: default calls get for each key in turn */
    ft_code (*get_many)(void *state, const ft_kv_key *keys, size_t n, ft_arena *arena,
                        ft_str *values, ft_code *found, ft_err *err);
    /* LIST; opts never NULL. */
    ft_code (*list)(void *state, ft_kv_key prefix, const ft_kv_list_opts *opts,
                    ft_arena *arena, ft_kv_entry **out, size_t *n_out,
                    ft_err *err);
    /* LIST, optional: default calls list for each prefix in turn */
    ft_code (*list_many)(void *state, const ft_kv_key *prefixes, size_t n, ft_arena *arena,
                         ft_kv_entry **out, size_t *counts, ft_err *err);
    /* CAS */
    ft_code (*cas)(void *state, ft_kv_key key, const ft_str *expected,
                   const ft_str *value, int64_t ttl_ms, ft_err *err);
    /* CAS, optional: default calls cas for each op in turn */
    ft_code (*cas_many)(void *state, ft_kv_cas_op *ops, size_t n, ft_err *err);
    /* optional: default returns FT_OK, 0 removed */
    ft_code (*sweep)(void *state, size_t max, size_t *removed, ft_err *err);
    /* optional: default zeroes the stats */
    ft_code (*stats)(void *state, ft_kv_stats *st, ft_err *err);
} ft_kv_backend;

extern const ft_kv_backend ft_kv__memory_backend;
extern const ft_kv_backend ft_kv__lmdb_backend;
extern const ft_kv_backend ft_kv__redis_backend;
extern const ft_kv_backend ft_kv__postgres_backend;

/*
 * Ordered byte encoding of tuple keys: each part's bytes with 0x00 written
 * as 0x00 0xFF, then the terminator 0x00 0x01.  Returns an arena buffer (or
 * a malloc'd one with arena == NULL; the caller frees it).
 */
ft_code ft_kv__key_encode(ft_kv_key key, ft_arena *arena, ft_str *out,
                          ft_err *err);
size_t ft_kv__key_encoded_len(ft_kv_key key);
void ft_kv__key_encode_into(ft_kv_key key, char *dst); /* dst has room */
/* Decodes into arena parts; FT_CORRUPT when the bytes are not an encoding. */
ft_code ft_kv__key_decode(ft_str enc, ft_arena *arena, ft_kv_key *out,
                          ft_err *err);

/* A growable arena array of list results. */
typedef struct ft_kv_entries {
    ft_kv_entry *items;
    size_t n, cap;
} ft_kv_entries;

/* Appends an entry whose key is decoded from `enc_key` and whose value is
 * copied; both copies live in the arena. */
ft_code ft_kv__entries_push_encoded(ft_kv_entries *e, ft_arena *arena,
                                    ft_str enc_key, ft_str value, ft_err *err);

/* Compare two byte strings as memcmp with length tiebreak. */
int ft_kv__bytes_cmp(ft_str a, ft_str b);

/* ---- zstd frames for stored values (kv_zstd.c) ---- */

#define FT_KV_COMPRESS_MIN 512          /* smaller values are kept as they are */
#define FT_KV_FRAME_MAX ((size_t)1 << 30) /* a frame says its size; larger: corrupt */

/* Whether v starts with the zstd frame magic (28 B5 2F FD). */
bool ft_kv__is_frame(ft_str v);
/* *out = v as a level-1 frame in the arena when v has FT_KV_COMPRESS_MIN
 * bytes or more and the frame is at least an eighth smaller, else v
 * itself; with force, always the frame.  FT_NOMEM (and, forced, a zstd
 * failure) only. */
ft_code ft_kv__compress(ft_arena *a, ft_str v, bool force, ft_str *out, ft_err *err);
/* A frame's content into the arena (NUL after it, not counted);
 * FT_CORRUPT when it does not decode or says more than FT_KV_FRAME_MAX. */
ft_code ft_kv__decompress(ft_arena *a, ft_str frame, ft_str *out, ft_err *err);
/* The same into *buf (ft_realloc'd, the caller's to free): FT_OK,
 * FT_CORRUPT or FT_NOMEM, no message. */
ft_code ft_kv__decompress_into(ft_str frame, char **buf, size_t *cap, ft_str *out);

#endif
