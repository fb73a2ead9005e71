/*
 * lmdb_floor.c - ft_lmdb_floor: what storing fedtrace's bytes costs LMDB
 * itself, with nothing of fedtrace around it.
 *
 *   ft_lmdb_floor --from DIR --to DIR --spans N --requests R
 *                 [--order arrival|key] [--mapsize BYTES]
 *
 * --from is an LMDB store that `fedtrace serve` filled (its directory
 * after the daemon has stopped), N and R the spans and requests that went
 * into it.  The program reads every entry of the store's "data" database
 * (src/kv/kv_lmdb.c: the encoded key, and the stored value exactly as it
 * is on disk: the 8-byte expiry word, then the value bytes, a zstd frame
 * where fedtrace compressed them) into memory.  Then it creates a fresh
 * environment in --to (which must not hold one), with a "data" database,
 * LMDB's default flush (every commit synced, as fedtrace's default
 * sync=full) and fedtrace's default map size, and writes the entries in R
 * write transactions of entries / R consecutive entries each: one commit
 * per request.  Only that loop of mdb_put and mdb_txn_commit is timed.
 *
 * The order: "arrival" (the default) is the order the daemon last wrote
 * the keys in, as far as the store still tells it: every key stored with
 * a time to live (fedtrace serve's --retention, 72 h by default) has an
 * entry in the "exp" database keyed by its expiry in milliseconds, so
 * walking "exp" gives the keys by the time of their last write plus their
 * TTL (ties, within a millisecond, in key order).  Keys of one TTL come
 * in arrival order; keys with a shorter TTL, if any, come before them and
 * keys without one after them, in key order.  "key" writes everything in
 * key order, which is kinder to LMDB than any arrival order (each
 * transaction fills neighbouring pages), so its rate is higher still.  A
 * key that fedtrace wrote several times (a trace summary updated by later
 * spans) is written once here.
 *
 * What is not in the floor: the "exp" index entries fedtrace writes next
 * to every data entry, the reads before each write, the compression, the
 * extra commit fedtrace makes for a request whose traces carry activity
 * records (the trace summaries' compare-and-swap), and everything before
 * the store (HTTP, decoding, building the records).
 *
 * Output: one machine-readable line starting with "result " (key=value
 * pairs), then one line for people.  spans_per_s is entries_per_s times
 * N / entries: the rate at which the spans of the run would be stored if
 * storing their bytes were all there is to it.  Exit status 0 on
 * success, 1 on an LMDB or system error, 2 on bad usage.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DEFAULT_MAPSIZE ((size_t)4 << 30) /* fedtrace's default (kv_lmdb.c) */
#define ZFLAG ((uint64_t)1 << 63)         /* expiry word: a zstd frame follows */

typedef struct entry {
    size_t koff, klen; /* in the key arena */
    size_t voff, vlen; /* in the value arena */
    bool placed;       /* arrival order: already taken from "exp" */
} entry;

typedef struct arena {
    unsigned char *p;
    size_t len, cap;
} arena;

/* What ft_lmdb_floor read from the source store: the data entries in key
 * order, their bytes in two arenas, and the order to write them in. */
typedef struct source {
    arena keys, values;
    entry *ents;
    size_t n, n_exp, n_zstd;
    size_t *order; /* arrival order: indexes into ents; NULL: key order */
} source;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int lmdb_err(const char *what, int rc)
{
    fprintf(stderr, "ft_lmdb_floor: %s: %s\n", what, mdb_strerror(rc));
    return 1;
}

/* Appends n bytes; returns their offset, or SIZE_MAX when out of memory. */
static size_t arena_put(arena *a, const void *p, size_t n)
{
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : (size_t)1 << 20;
        while (cap < a->len + n)
            cap *= 2;
        unsigned char *q = realloc(a->p, cap);
        if (q == NULL)
            return SIZE_MAX;
        a->p = q;
        a->cap = cap;
    }
    size_t off = a->len;
    if (n)
        memcpy(a->p + off, p, n);
    a->len += n;
    return off;
}

/* The expiry word at the start of a stored value (little-endian). */
static uint64_t stored_word(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | p[i];
    return x;
}

/* LMDB's default key order: bytewise, a prefix before its extensions. */
static int key_cmp(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return (alen > blen) - (alen < blen);
}

/* The entry (in key order) with key k, or -1. */
static long find_key(const entry *v, size_t n, const unsigned char *keys,
                     const unsigned char *k, size_t klen)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(keys + v[mid].koff, v[mid].klen, k, klen);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static bool parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || v == 0)
        return false;
    unsigned long long mult = 1;
    if (*end == 'K' || *end == 'k')
        mult = 1ull << 10;
    else if (*end == 'M' || *end == 'm')
        mult = 1ull << 20;
    else if (*end == 'G' || *end == 'g')
        mult = 1ull << 30;
    else if (*end != '\0')
        return false;
    if (mult > 1 && end[1] != '\0')
        return false;
    if (v > SIZE_MAX / mult)
        return false;
    *out = (size_t)(v * mult);
    return true;
}

static bool parse_count(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || s[0] == '-')
        return false;
    *out = (size_t)v;
    return true;
}

static int usage(void)
{
    fprintf(stderr, "usage: ft_lmdb_floor --from DIR --to DIR --spans N --requests R\n"
                    "                     [--order arrival|key] [--mapsize BYTES]\n"
                    "  writes the data entries of the fedtrace LMDB store in DIR (--from)\n"
                    "  into a fresh LMDB environment (--to), one commit per request,\n"
                    "  and prints how fast\n");
    return 2;
}

/* Reads the source's data entries into src (key order) and, for arrival
 * order, the order of its exp database into src->order.  On failure src
 * holds what needs freeing. */
static int read_source(const char *dir, bool arrival, source *src)
{
    arena *ka = &src->keys, *va = &src->values;
    MDB_env *env;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_dbi data, exp;
    int rc;
    entry *v = NULL;
    size_t n = 0, cap = 0, *ord = NULL;
    if ((rc = mdb_env_create(&env)) != 0)
        return lmdb_err("env_create", rc);
    mdb_env_set_maxdbs(env, 4);
    if ((rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0644)) != 0) {
        fprintf(stderr, "ft_lmdb_floor: cannot open %s: %s\n", dir, mdb_strerror(rc));
        mdb_env_close(env);
        return 1;
    }
    int st = 1;
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
        lmdb_err("read txn", rc);
        txn = NULL;
        goto done;
    }
    if ((rc = mdb_dbi_open(txn, "data", 0, &data)) != 0 ||
        (rc = mdb_dbi_open(txn, "exp", 0, &exp)) != 0) {
        fprintf(stderr, "ft_lmdb_floor: %s is not a fedtrace store (no \"data\" and \"exp\" "
                        "databases): %s\n", dir, mdb_strerror(rc));
        goto done;
    }
    if ((rc = mdb_cursor_open(txn, data, &cur)) != 0) {
        lmdb_err("cursor", rc);
        goto done;
    }
    MDB_val k, d;
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            entry *w = realloc(v, cap * sizeof *v);
            if (w == NULL)
                goto nomem;
            v = w;
        }
        size_t ko = arena_put(ka, k.mv_data, k.mv_size);
        size_t vo = arena_put(va, d.mv_data, d.mv_size);
        if (ko == SIZE_MAX || vo == SIZE_MAX)
            goto nomem;
        if (d.mv_size >= 8 && (stored_word(d.mv_data) & ZFLAG))
            src->n_zstd++;
        v[n++] = (entry){ko, k.mv_size, vo, d.mv_size, false};
    }
    if (rc != MDB_NOTFOUND) {
        lmdb_err("reading data", rc);
        goto done;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    if (arrival && n > 0) {
        ord = malloc(n * sizeof *ord);
        if (ord == NULL)
            goto nomem;
        size_t m = 0;
        if ((rc = mdb_cursor_open(txn, exp, &cur)) != 0) {
            lmdb_err("cursor", rc);
            goto done;
        }
        for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
            if (k.mv_size < 8)
                continue;
            long i = find_key(v, n, ka->p, (const unsigned char *)k.mv_data + 8, k.mv_size - 8);
            if (i < 0 || v[i].placed)
                continue; /* an index entry without its data entry: nothing to write */
            v[i].placed = true;
            ord[m++] = (size_t)i;
        }
        if (rc != MDB_NOTFOUND) {
            lmdb_err("reading exp", rc);
            goto done;
        }
        src->n_exp = m;
        for (size_t i = 0; i < n; i++)
            if (!v[i].placed)
                ord[m++] = i; /* no TTL: after the others, in key order */
    }
    st = 0;
    goto done;
nomem:
    fprintf(stderr, "ft_lmdb_floor: out of memory reading %s\n", dir);
done:
    if (cur != NULL)
        mdb_cursor_close(cur);
    if (txn != NULL)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    src->ents = v;
    src->n = n;
    src->order = ord;
    return st;
}

/* Writes the entries into a fresh environment in dir, in `requests`
 * transactions, and prints the result. */
static int copy_floor(const source *src, const char *dir, size_t spans, size_t requests,
                      size_t mapsize, bool arrival)
{
    size_t n = src->n;
    if (requests > n)
        requests = n; /* at least one entry per transaction */
    size_t key_bytes = 0, value_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        key_bytes += src->ents[i].klen;
        value_bytes += src->ents[i].vlen;
    }
    /* the map must hold the copy: fedtrace's default unless that is small */
    if (mapsize < (key_bytes + value_bytes) * 3)
        mapsize = (key_bytes + value_bytes) * 3;

    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "ft_lmdb_floor: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char path[4096];
    struct stat st;
    if ((size_t)snprintf(path, sizeof path, "%s/data.mdb", dir) >= sizeof path) {
        fprintf(stderr, "ft_lmdb_floor: %s: path too long\n", dir);
        return 1;
    }
    if (stat(path, &st) == 0) {
        fprintf(stderr, "ft_lmdb_floor: %s already holds an LMDB environment; give a fresh "
                        "directory\n", dir);
        return 1;
    }
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc;
    if ((rc = mdb_env_create(&env)) != 0)
        return lmdb_err("env_create", rc);
    mdb_env_set_maxdbs(env, 4);
    /* flags as fedtrace serve's default (sync=full): MDB_NOTLS only */
    if ((rc = mdb_env_set_mapsize(env, mapsize)) != 0 ||
        (rc = mdb_env_open(env, dir, MDB_NOTLS, 0644)) != 0) {
        fprintf(stderr, "ft_lmdb_floor: cannot open %s: %s\n", dir, mdb_strerror(rc));
        mdb_env_close(env);
        return 1;
    }
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "data", MDB_CREATE, &dbi)) != 0 ||
        (rc = mdb_txn_commit(txn)) != 0) {
        mdb_env_close(env);
        return lmdb_err("creating the data database", rc);
    }

    /* the timed loop: `requests` transactions, the entries spread evenly */
    double t0 = now_s();
    size_t next = 0;
    for (size_t r = 0; r < requests; r++) {
        size_t end = (size_t)((unsigned long long)n * (r + 1) / requests);
        if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
            mdb_env_close(env);
            return lmdb_err("write txn", rc);
        }
        for (; next < end; next++) {
            const entry *e = &src->ents[src->order ? src->order[next] : next];
            MDB_val k = {e->klen, src->keys.p + e->koff};
            MDB_val d = {e->vlen, src->values.p + e->voff};
            if ((rc = mdb_put(txn, dbi, &k, &d, 0)) != 0) {
                mdb_txn_abort(txn);
                mdb_env_close(env);
                return lmdb_err("put", rc);
            }
        }
        if ((rc = mdb_txn_commit(txn)) != 0) {
            mdb_env_close(env);
            return lmdb_err("commit", rc);
        }
    }
    double secs = now_s() - t0;

    MDB_envinfo info;
    MDB_stat ms;
    double file_mb = 0;
    if (mdb_env_info(env, &info) == 0 && mdb_env_stat(env, &ms) == 0)
        file_mb = (double)(info.me_last_pgno + 1) * ms.ms_psize / 1e6;
    mdb_env_close(env);

    size_t bytes = key_bytes + value_bytes;
    double eps = secs > 0 ? (double)n / secs : 0;
    double bps = secs > 0 ? (double)bytes / secs : 0;
    double sps = eps * (double)spans / (double)n;
    const char *ord = arrival ? "arrival" : "key";
    printf("result order=%s entries=%zu requests=%zu entries_per_txn=%.1f spans=%zu "
           "key_bytes=%zu value_bytes=%zu bytes=%zu zstd_values=%zu exp_ordered=%zu "
           "seconds=%.3f entries_per_s=%.1f bytes_per_s=%.0f mb_written=%.2f "
           "spans_per_s=%.1f file_mb=%.2f\n",
           ord, n, requests, (double)n / (double)requests, spans, key_bytes, value_bytes,
           bytes, src->n_zstd, src->n_exp, secs, eps, bps, (double)bytes / 1e6, sps, file_mb);
    printf("ft_lmdb_floor: %zu entries (%.1f MB) in %zu commits, %s order: %.3f s = "
           "%.0f entries/s, %.1f MB/s, %.0f spans/s\n",
           n, (double)bytes / 1e6, requests, ord, secs, eps, bps / 1e6, sps);
    return 0;
}

int main(int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    size_t spans = 0, requests = 0, mapsize = DEFAULT_MAPSIZE;
    bool arrival = true;
    for (int i = 1; i < argc; i += 2) {
        const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (v == NULL)
            ok = false;
        else if (strcmp(opt, "--from") == 0)
            from = v;
        else if (strcmp(opt, "--to") == 0)
            to = v;
        else if (strcmp(opt, "--spans") == 0)
            ok = parse_count(v, &spans);
        else if (strcmp(opt, "--requests") == 0)
            ok = parse_count(v, &requests);
        else if (strcmp(opt, "--order") == 0 && strcmp(v, "arrival") == 0)
            arrival = true;
        else if (strcmp(opt, "--order") == 0 && strcmp(v, "key") == 0)
            arrival = false;
        else if (strcmp(opt, "--mapsize") == 0)
            ok = parse_size(v, &mapsize);
        else
            ok = false;
        if (!ok)
            return usage();
    }
    if (from == NULL || to == NULL || spans == 0 || requests == 0)
        return usage();

    source src = {0};
    int st = read_source(from, arrival, &src);
    if (st == 0 && src.n == 0) {
        fprintf(stderr, "ft_lmdb_floor: %s holds no data entries\n", from);
        st = 1;
    }
    if (st == 0)
        st = copy_floor(&src, to, spans, requests, mapsize, arrival);
    free(src.order);
    free(src.ents);
    free(src.keys.p);
    free(src.values.p);
    return st;
}
