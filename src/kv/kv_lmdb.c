/*
 * kv_lmdb.c - the embedded store on LMDB.
 *
 * Layout: two named databases in one environment (a directory).
 *   "data": encoded tuple key -> [expiry ms, 8 bytes little-endian, 0 = none]
 *           followed by the value bytes; when the expiry word's top bit is
 *           set the bytes are a zstd frame of the value (values of 512
 *           bytes or more are stored so when that saves an eighth: less
 *           to write and to fsync; stores written before keep working);
 *   "exp":  [expiry ms, 8 bytes big-endian] + encoded key -> empty, an index
 *           ordered by expiry so that the sweeper visits only what expired.
 * Reads treat an entry past its expiry as absent; ft_kv_sweep deletes
 * expired entries so that LMDB reuses their pages.
 *
 * LMDB forbids opening one environment twice in a process, so handles that
 * open the same directory share one MDB_env (refcounted, looked up by the
 * directory's device and inode).  MDB_NOTLS lets every thread run its own
 * read transactions.  Several processes may open the same directory; LMDB
 * serialises their write transactions through its lock file.
 *
 * Writes (batches and compare-and-swaps) are group-committed: values are
 * compressed by the caller's thread, then the caller queues its writes;
 * whoever finds no commit running takes the whole queue into one write
 * transaction, each caller's writes in a nested transaction (so a failing
 * one fails alone), and commits and syncs once for all of them.
 */
#include "core/config.h"
#include "kv/kv_int.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_MAPSIZE ((size_t)4 << 30)
#define SWEEP_CHUNK 4096

typedef struct lmdb_env {
    MDB_env *env;
    MDB_dbi data, exp;
    dev_t dev;
    ino_t ino;
    int refs;
    bool compress; /* store large values as zstd frames (?compress=0: no) */
    /* group commit: writes queue here; one thread at a time commits all
     * that queued while the previous commit ran */
    pthread_mutex_t gmu;
    pthread_cond_t gcv;
    struct wjob *queue, **queue_tail;
    bool committing;
    struct lmdb_env *next;
} lmdb_env;

static pthread_mutex_t envs_lock = PTHREAD_MUTEX_INITIALIZER;
static lmdb_env *envs;

static ft_code lmdb_fail(ft_err *err, int rc, const char *what)
{
    ft_code code = FT_BACKEND;
    if (rc == MDB_MAP_FULL)
        code = FT_FULL;
    else if (rc == ENOMEM)
        code = FT_NOMEM;
    else if (rc == MDB_CORRUPTED || rc == MDB_INVALID ||
             rc == MDB_VERSION_MISMATCH)
        code = FT_CORRUPT;
    else if (rc == EIO || rc == ENOSPC || rc == EACCES)
        code = FT_IO;
    return ft_err_set(err, code, rc, "lmdb %s: %s", what, mdb_strerror(rc));
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return errno;
            buf[i] = c;
        }
    }
    return 0;
}

static ft_code parse_size(const char *s, size_t *out, ft_err *err)
{
    uint64_t v;
    if (!ft_parse_size(s, &v) || v == 0 || v > SIZE_MAX)
        return ft_err_set(err, FT_INVAL, 0,
                          "mapsize=%s is not a size (e.g. 4G, 512MiB)", s);
    *out = (size_t)v;
    return FT_OK;
}

static ft_code env_open(const char *path, size_t mapsize, unsigned flags,
                        lmdb_env **out, ft_err *err)
{
    int rc = mkdir_p(path);
    if (rc != 0)
        return ft_err_set(err, FT_IO, rc, "cannot create directory %s: %s",
                          path, strerror(rc));
    struct stat st;
    if (stat(path, &st) != 0)
        return ft_err_set(err, FT_IO, errno, "cannot stat %s: %s", path,
                          strerror(errno));
    pthread_mutex_lock(&envs_lock);
    for (lmdb_env *e = envs; e != NULL; e = e->next)
        if (e->dev == st.st_dev && e->ino == st.st_ino) {
            e->refs++;
            pthread_mutex_unlock(&envs_lock);
            *out = e;
            return FT_OK;
        }
    ft_code code = FT_OK;
    lmdb_env *e = ft_calloc(1, sizeof *e);
    MDB_txn *txn = NULL;
    if (e == NULL) {
        code = ft_err_set(err, FT_NOMEM, 0, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&e->gmu, NULL);
    pthread_cond_init(&e->gcv, NULL);
    e->queue_tail = &e->queue;
    if ((rc = mdb_env_create(&e->env)) != 0) {
        code = lmdb_fail(err, rc, "env_create");
        goto fail;
    }
    mdb_env_set_maxdbs(e->env, 4);
    mdb_env_set_maxreaders(e->env, 256);
    if ((rc = mdb_env_set_mapsize(e->env, mapsize)) != 0 ||
        (rc = mdb_env_open(e->env, path, MDB_NOTLS | flags, 0644)) != 0) {
        code = lmdb_fail(err, rc, "open");
        goto fail;
    }
    if ((rc = mdb_txn_begin(e->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, "data", MDB_CREATE, &e->data)) != 0 ||
        (rc = mdb_dbi_open(txn, "exp", MDB_CREATE, &e->exp)) != 0 ||
        (rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        code = lmdb_fail(err, rc, "opening databases");
        goto fail;
    }
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->refs = 1;
    e->next = envs;
    envs = e;
    pthread_mutex_unlock(&envs_lock);
    *out = e;
    return FT_OK;
fail:
    pthread_mutex_unlock(&envs_lock);
    if (e != NULL && e->env != NULL)
        mdb_env_close(e->env);
    if (e != NULL) {
        pthread_mutex_destroy(&e->gmu);
        pthread_cond_destroy(&e->gcv);
    }
    ft_free(e);
    return code;
}

static ft_code lm_open(const ft_kv_url *url, void **state, ft_err *err)
{
    if (url->rest[0] == '\0')
        return ft_err_set(err, FT_INVAL, 0,
                          "lmdb: needs a directory, e.g. lmdb:/var/lib/fedtrace");
    size_t mapsize = DEFAULT_MAPSIZE;
    const char *ms = ft_kv__url_param(url, "mapsize");
    ft_code code;
    if (ms != NULL && (code = parse_size(ms, &mapsize, err)) != FT_OK)
        return code;
    unsigned flags = 0;
    const char *sync = ft_kv__url_param(url, "sync");
    if (sync == NULL || strcmp(sync, "full") == 0)
        flags = 0;
    else if (strcmp(sync, "meta") == 0)
        flags = MDB_NOMETASYNC;
    else if (strcmp(sync, "none") == 0)
        flags = MDB_NOSYNC;
    else
        return ft_err_set(err, FT_INVAL, 0,
                          "sync=%s: expected full, meta or none", sync);
    const char *cz = ft_kv__url_param(url, "compress");
    bool compress = true;
    if (cz != NULL && !ft_parse_bool(cz, &compress))
        return ft_err_set(err, FT_INVAL, 0, "compress=%s: expected 1 or 0", cz);
    lmdb_env *e = NULL;
    code = env_open(url->rest, mapsize, flags, &e, err);
    if (code != FT_OK)
        return code;
    if (e->refs == 1)
        e->compress = compress; /* the first opener of the directory decides */
    *state = e;
    return FT_OK;
}

static void lm_close(void *state)
{
    lmdb_env *e = state;
    pthread_mutex_lock(&envs_lock);
    bool last = --e->refs == 0;
    if (last)
        for (lmdb_env **pp = &envs; *pp; pp = &(*pp)->next)
            if (*pp == e) {
                *pp = e->next;
                break;
            }
    pthread_mutex_unlock(&envs_lock);
    if (last) {
        mdb_env_close(e->env);
        pthread_mutex_destroy(&e->gmu);
        pthread_cond_destroy(&e->gcv);
        ft_free(e);
    }
}

/* Begins a transaction, adopting a map size grown by another process. */
static int txn_begin(lmdb_env *e, unsigned flags, MDB_txn **txn)
{
    int rc = mdb_txn_begin(e->env, NULL, flags, txn);
    if (rc == MDB_MAP_RESIZED) {
        mdb_env_set_mapsize(e->env, 0);
        rc = mdb_txn_begin(e->env, NULL, flags, txn);
    }
    return rc;
}

#define ZFLAG ((uint64_t)1 << 63) /* in the expiry word: the value is zstd */

static uint64_t stored_word(const MDB_val *v)
{
    uint64_t x = 0;
    const unsigned char *p = v->mv_data;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | p[i];
    return x;
}

static int64_t stored_expiry(const MDB_val *v)
{
    return (int64_t)(stored_word(v) & ~ZFLAG);
}

/* The value of a data entry: in place, or decompressed into *buf (grown,
 * malloc'd, the caller's to free).  false: a frame that does not decode. */
static bool stored_value(const MDB_val *v, char **buf, size_t *cap, ft_str *out)
{
    const char *p = (const char *)v->mv_data + 8;
    size_t n = v->mv_size - 8;
    if (!(stored_word(v) & ZFLAG)) {
        *out = (ft_str){p, n};
        return true;
    }
    return ft_kv__decompress_into((ft_str){p, n}, buf, cap, out) == FT_OK;
}

static void put_le64(unsigned char *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((uint64_t)v >> (8 * i));
}

static void put_be64(unsigned char *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
}

static bool is_live(const MDB_val *v, int64_t now)
{
    if (v->mv_size < 8)
        return false;
    int64_t x = stored_expiry(v);
    return x == 0 || x > now;
}

/* The exp index key for (expiry, encoded key), in buf (room: 8 + klen). */
static MDB_val exp_key(unsigned char *buf, int64_t expiry, ft_str k)
{
    put_be64(buf, expiry);
    memcpy(buf + 8, k.ptr, k.len);
    return (MDB_val){8 + k.len, buf};
}

/* Removes the exp entry of the data entry `old`, if it had one. */
static int drop_exp(lmdb_env *e, MDB_txn *txn, ft_str k, const MDB_val *old,
                    unsigned char *scratch)
{
    int64_t x = stored_expiry(old);
    if (x == 0)
        return 0;
    MDB_val ek = exp_key(scratch, x, k);
    int rc = mdb_del(txn, e->exp, &ek, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A value ready to be stored: compressed (into an arena) when that pays,
 * else the caller's bytes.  Prepared before the write transaction begins,
 * so that writers do not compress while holding LMDB's writer lock. */
typedef struct stored {
    ft_str bytes;
    bool z;
} stored;

static ft_code prepare_value(lmdb_env *e, ft_arena *a, const ft_str *value,
                             stored *out, ft_err *err)
{
    *out = (stored){*value, false};
    if (!e->compress)
        return FT_OK;
    ft_code rc = ft_kv__compress(a, *value, false, &out->bytes, err);
    out->z = rc == FT_OK && out->bytes.ptr != value->ptr;
    return rc;
}

/* put (value not NULL) or delete one key inside a write transaction */
static int write_one(lmdb_env *e, MDB_txn *txn, ft_str k, const stored *value,
                     int64_t ttl_ms, int64_t now, unsigned char *scratch)
{
    MDB_val key = {k.len, (void *)(uintptr_t)k.ptr}, old;
    int rc = mdb_get(txn, e->data, &key, &old);
    if (rc == 0) {
        if (old.mv_size < 8)
            return MDB_CORRUPTED;
        if ((rc = drop_exp(e, txn, k, &old, scratch)) != 0)
            return rc;
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    if (value == NULL) {
        rc = mdb_del(txn, e->data, &key, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    int64_t expiry = ttl_ms > 0 ? now + ttl_ms : 0;
    MDB_val v = {8 + value->bytes.len, NULL};
    if ((rc = mdb_put(txn, e->data, &key, &v, MDB_RESERVE)) != 0)
        return rc;
    put_le64(v.mv_data, value->z ? (int64_t)((uint64_t)expiry | ZFLAG) : expiry);
    if (value->bytes.len)
        memcpy((unsigned char *)v.mv_data + 8, value->bytes.ptr, value->bytes.len);
    if (expiry != 0) {
        MDB_val ek = exp_key(scratch, expiry, k), empty = {0, NULL};
        rc = mdb_put(txn, e->exp, &ek, &empty, 0);
    }
    return rc;
}

/* Reads keys[0..n) in one read transaction. */
static ft_code lm_get_many(void *state, const ft_kv_key *keys, size_t n, ft_arena *arena,
                           ft_str *values, ft_code *found, ft_err *err)
{
    lmdb_env *e = state;
    MDB_txn *txn;
    int rc = txn_begin(e, MDB_RDONLY, &txn);
    if (rc != 0)
        return lmdb_fail(err, rc, "read txn");
    int64_t now = ft_now_ms();
    char *zbuf = NULL;
    size_t zcap = 0;
    ft_code code = FT_OK;
    for (size_t i = 0; i < n && code == FT_OK; i++) {
        ft_str k;
        if ((code = ft_kv__key_encode(keys[i], arena, &k, err)) != FT_OK)
            break;
        MDB_val mk = {k.len, (void *)(uintptr_t)k.ptr}, v;
        rc = mdb_get(txn, e->data, &mk, &v);
        values[i] = (ft_str){NULL, 0};
        found[i] = FT_NOTFOUND;
        if (rc == MDB_NOTFOUND || (rc == 0 && !is_live(&v, now)))
            continue;
        if (rc != 0) {
            code = lmdb_fail(err, rc, "get");
            break;
        }
        ft_str sv;
        if (!stored_value(&v, &zbuf, &zcap, &sv)) {
            code = ft_err_set(err, FT_CORRUPT, 0, "lmdb: a compressed value does not decode");
            break;
        }
        char *copy = sv.len ? ft_arena_memdup(arena, sv.ptr, sv.len) : "";
        if (copy == NULL) {
            code = ft_err_set(err, FT_NOMEM, 0, "out of memory reading a value");
            break;
        }
        values[i] = (ft_str){copy, sv.len};
        found[i] = FT_OK;
    }
    mdb_txn_abort(txn);
    ft_free(zbuf);
    return code;
}

static ft_code lm_get(void *state, ft_kv_key key, ft_arena *arena,
                      ft_str *value, ft_err *err)
{
    ft_code found;
    ft_code code = lm_get_many(state, &key, 1, arena, value, &found, err);
    return code == FT_OK ? found : code;
}

/* ---- writes: group commit ---- */

/* One write of a job: a put (value) or a delete (value NULL), after a
 * comparison when cas is set. */
typedef struct wop {
    ft_str key;
    const stored *value;
    int64_t ttl_ms;
    bool cas;
    const ft_str *expected; /* cas: NULL = must be absent */
    ft_code *result;        /* cas: FT_OK or FT_CONFLICT */
} wop;

/* One caller's writes, all or nothing. */
typedef struct wjob {
    wop *ops;
    size_t n;
    unsigned char *scratch; /* room for the longest key + 8 */
    int rc;                 /* LMDB's, 0 when committed; -1: corrupt value */
    bool done;
    struct wjob *next;
} wjob;

static int cas_one(lmdb_env *e, MDB_txn *txn, ft_str k, const ft_str *expected,
                   const stored *value, int64_t ttl_ms, int64_t now,
                   unsigned char *scratch, char **zbuf, size_t *zcap, bool *match);

static int apply_job(lmdb_env *e, MDB_txn *txn, wjob *j, int64_t now)
{
    char *zbuf = NULL;
    size_t zcap = 0;
    int rc = 0;
    for (size_t i = 0; i < j->n && rc == 0; i++) {
        wop *o = &j->ops[i];
        if (!o->cas) {
            rc = write_one(e, txn, o->key, o->value, o->ttl_ms, now, j->scratch);
            continue;
        }
        bool match = false;
        rc = cas_one(e, txn, o->key, o->expected, o->value, o->ttl_ms, now, j->scratch,
                     &zbuf, &zcap, &match);
        *o->result = match ? FT_OK : FT_CONFLICT;
    }
    ft_free(zbuf);
    return rc;
}

/* Commits the jobs of one group in one write transaction: each in a
 * nested transaction of its own when there are several (a job that fails
 * leaves the others alone), then one commit and one sync for all. */
static void commit_group(lmdb_env *e, wjob *group)
{
    MDB_txn *txn;
    int rc = txn_begin(e, 0, &txn);
    int64_t now = ft_now_ms();
    if (rc == 0 && group->next == NULL) {
        rc = apply_job(e, txn, group, now);
        rc = rc == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), rc);
        group->rc = rc;
        return;
    }
    bool any = false;
    for (wjob *j = group; j != NULL; j = j->next) {
        MDB_txn *child;
        j->rc = rc != 0 ? rc : mdb_txn_begin(e->env, txn, 0, &child);
        if (j->rc != 0)
            continue;
        j->rc = apply_job(e, child, j, now);
        j->rc = j->rc == 0 ? mdb_txn_commit(child) : (mdb_txn_abort(child), j->rc);
        any |= j->rc == 0;
    }
    if (rc != 0)
        return;
    rc = any ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), 0);
    for (wjob *j = group; j != NULL && rc != 0; j = j->next)
        if (j->rc == 0)
            j->rc = rc;
}

/* Queues a job and returns when it is committed or failed.  Whoever finds
 * no commit running commits everything queued, its own job among it;
 * jobs that arrive meanwhile wait for the next round.  Under concurrent
 * writers this turns many syncs into one. */
static int run_job(lmdb_env *e, wjob *j)
{
    pthread_mutex_lock(&e->gmu);
    *e->queue_tail = j;
    e->queue_tail = &j->next;
    while (!j->done) {
        if (e->committing) {
            pthread_cond_wait(&e->gcv, &e->gmu);
            continue;
        }
        wjob *group = e->queue;
        e->queue = NULL;
        e->queue_tail = &e->queue;
        e->committing = true;
        pthread_mutex_unlock(&e->gmu);
        commit_group(e, group);
        pthread_mutex_lock(&e->gmu);
        for (wjob *g = group; g != NULL;) {
            wjob *next = g->next; /* g may go once done is set */
            g->done = true;
            g = next;
        }
        e->committing = false;
        pthread_cond_broadcast(&e->gcv);
    }
    pthread_mutex_unlock(&e->gmu);
    return j->rc;
}

/* Encodes the keys and prepares the values of n writes into a job. */
static ft_code job_prepare(ft_arena *a, wjob *j, size_t n, ft_err *err)
{
    memset(j, 0, sizeof *j);
    j->n = n;
    j->ops = ft_arena_calloc(a, (n ? n : 1) * sizeof *j->ops);
    return j->ops ? FT_OK : ft_err_set(err, FT_NOMEM, 0, "out of memory in a write");
}

static ft_code job_op(lmdb_env *e, ft_arena *a, wop *o, ft_kv_key key,
                      const ft_str *value, size_t *maxk, ft_err *err)
{
    ft_code code = ft_kv__key_encode(key, a, &o->key, err);
    if (code != FT_OK)
        return code;
    if (o->key.len > 511)
        return ft_err_set(err, FT_INVAL, 0,
                          "lmdb: encoded key of %zu bytes exceeds the 503-byte "
                          "limit of LMDB keys",
                          o->key.len);
    if (o->key.len > *maxk)
        *maxk = o->key.len;
    if (value == NULL)
        return FT_OK;
    stored *sv = ft_arena_alloc(a, sizeof *sv);
    if (sv == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory in a write");
    o->value = sv;
    return prepare_value(e, a, value, sv, err);
}

static ft_code job_finish(ft_arena *a, wjob *j, size_t maxk, ft_err *err)
{
    j->scratch = ft_arena_alloc(a, maxk + 8);
    return j->scratch ? FT_OK : ft_err_set(err, FT_NOMEM, 0, "out of memory in a write");
}

static ft_code lm_batch(void *state, const ft_kv_op *ops, size_t n,
                        ft_err *err)
{
    lmdb_env *e = state;
    ft_arena *a = ft_arena_create(0);
    if (a == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory in batch");
    wjob j;
    size_t maxk = 0;
    ft_code code = job_prepare(a, &j, n, err);
    for (size_t i = 0; i < n && code == FT_OK; i++) {
        j.ops[i].ttl_ms = ops[i].ttl_ms;
        code = job_op(e, a, &j.ops[i], ops[i].key,
                      ops[i].type == FT_KV_SET ? &ops[i].value : NULL, &maxk, err);
    }
    if (code == FT_OK)
        code = job_finish(a, &j, maxk, err);
    if (code == FT_OK && n > 0) {
        int rc = run_job(e, &j);
        if (rc != 0)
            code = lmdb_fail(err, rc, "batch write");
    }
    ft_arena_destroy(a);
    return code;
}

static bool has_prefix(const MDB_val *k, ft_str p)
{
    return k->mv_size >= p.len && memcmp(k->mv_data, p.ptr, p.len) == 0;
}

static int val_cmp(const MDB_val *k, ft_str s)
{
    return ft_kv__bytes_cmp((ft_str){k->mv_data, k->mv_size}, s);
}

static ft_code lm_list(void *state, ft_kv_key prefix,
                       const ft_kv_list_opts *opts, ft_arena *arena,
                       ft_kv_entry **out, size_t *n_out, ft_err *err)
{
    lmdb_env *e = state;
    ft_str p, after = {NULL, 0};
    ft_code code = ft_kv__key_encode(prefix, arena, &p, err);
    if (code == FT_OK && opts->start_after != NULL)
        code = ft_kv__key_encode(*opts->start_after, arena, &after, err);
    if (code != FT_OK)
        return code;
    bool has_after = opts->start_after != NULL;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = txn_begin(e, MDB_RDONLY, &txn);
    if (rc != 0)
        return lmdb_fail(err, rc, "read txn");
    if ((rc = mdb_cursor_open(txn, e->data, &cur)) != 0) {
        mdb_txn_abort(txn);
        return lmdb_fail(err, rc, "cursor");
    }
    ft_kv_entries res = {0};
    char *zbuf = NULL; /* a decompressed value */
    size_t zcap = 0;
    int64_t now = ft_now_ms();
    MDB_val k, v;
    if (!opts->reverse) {
        /* first key >= max(prefix, after) */
        ft_str start = p;
        if (has_after && ft_kv__bytes_cmp(after, p) > 0)
            start = after;
        k = (MDB_val){start.len, (void *)(uintptr_t)start.ptr};
        rc = start.len ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)
                       : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    } else {
        /* last key below the bound: the prefix with its last byte (the
         * terminator 0x01) raised, or the cursor if that is lower; the end
         * of the database for the empty prefix */
        char *ub = NULL;
        if (p.len) {
            ub = ft_arena_memdup(arena, p.ptr, p.len);
            if (ub == NULL) {
                code = ft_err_set(err, FT_NOMEM, 0, "out of memory");
                goto done;
            }
            ub[p.len - 1]++;
        }
        ft_str bound = {ub, p.len};
        if (has_after && (bound.len == 0 || ft_kv__bytes_cmp(after, bound) < 0))
            bound = after;
        if (bound.len) {
            k = (MDB_val){bound.len, (void *)(uintptr_t)bound.ptr};
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
            if (rc == MDB_NOTFOUND)
                rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
            else if (rc == 0)
                rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
        } else {
            rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        }
        /* MDB_LAST may land on the bound itself or above it */
        while (rc == 0 && bound.len && val_cmp(&k, bound) >= 0)
            rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
    }
    MDB_cursor_op step = opts->reverse ? MDB_PREV : MDB_NEXT;
    for (; rc == 0 && has_prefix(&k, p) && code == FT_OK;
         rc = mdb_cursor_get(cur, &k, &v, step)) {
        if (!opts->reverse && has_after && val_cmp(&k, after) <= 0)
            continue;
        if (!is_live(&v, now))
            continue;
        ft_str sv;
        if (!stored_value(&v, &zbuf, &zcap, &sv)) {
            code = ft_err_set(err, FT_CORRUPT, 0, "lmdb: a compressed value does not decode");
            break;
        }
        code = ft_kv__entries_push_encoded(&res, arena, (ft_str){k.mv_data, k.mv_size}, sv, err);
        if (opts->limit && res.n == opts->limit)
            break;
    }
    if (code == FT_OK && rc != 0 && rc != MDB_NOTFOUND)
        code = lmdb_fail(err, rc, "list");
done:
    ft_free(zbuf);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (code != FT_OK)
        return code;
    *out = res.items;
    *n_out = res.n;
    return FT_OK;
}

/* Inside a write transaction: compare the live value of k with expected
 * (NULL: absent) and, when equal, write value (NULL: delete).  *match
 * tells which; the return is LMDB's error, or -1 for a compressed value
 * that does not decode. */
static int cas_one(lmdb_env *e, MDB_txn *txn, ft_str k, const ft_str *expected,
                   const stored *value, int64_t ttl_ms, int64_t now,
                   unsigned char *scratch, char **zbuf, size_t *zcap, bool *match)
{
    MDB_val mk = {k.len, (void *)(uintptr_t)k.ptr}, cur;
    int rc = mdb_get(txn, e->data, &mk, &cur);
    bool present = rc == 0 && is_live(&cur, now);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    ft_str cv = {"", 0};
    if (present && !stored_value(&cur, zbuf, zcap, &cv))
        return -1;
    *match = expected == NULL
                 ? !present
                 : present && cv.len == expected->len &&
                       (expected->len == 0 || memcmp(cv.ptr, expected->ptr, expected->len) == 0);
    return *match ? write_one(e, txn, k, value, ttl_ms, now, scratch) : 0;
}

/* Several compare-and-swaps in one write transaction: one commit (one
 * sync) for all of them, each applied in order or refused on its own. */
static ft_code lm_cas_many(void *state, ft_kv_cas_op *ops, size_t n, ft_err *err)
{
    lmdb_env *e = state;
    ft_arena *a = ft_arena_create(0);
    if (a == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory in cas");
    wjob j;
    size_t maxk = 0;
    ft_code code = job_prepare(a, &j, n, err);
    for (size_t i = 0; i < n && code == FT_OK; i++) {
        wop *o = &j.ops[i];
        o->ttl_ms = ops[i].ttl_ms;
        o->cas = true;
        o->expected = ops[i].expected;
        o->result = &ops[i].result;
        code = job_op(e, a, o, ops[i].key, ops[i].value, &maxk, err);
    }
    if (code == FT_OK)
        code = job_finish(a, &j, maxk, err);
    if (code == FT_OK && n > 0) {
        int rc = run_job(e, &j);
        if (rc == -1)
            code = ft_err_set(err, FT_CORRUPT, 0, "lmdb: a compressed value does not decode");
        else if (rc != 0)
            code = lmdb_fail(err, rc, "cas write");
    }
    ft_arena_destroy(a);
    return code;
}

static ft_code lm_cas(void *state, ft_kv_key key, const ft_str *expected,
                      const ft_str *value, int64_t ttl_ms, ft_err *err)
{
    ft_kv_cas_op op = {key, expected, value, ttl_ms, FT_OK};
    ft_code code = lm_cas_many(state, &op, 1, err);
    return code == FT_OK ? op.result : code;
}

static ft_code lm_sweep(void *state, size_t max, size_t *removed,
                        ft_err *err)
{
    lmdb_env *e = state;
    size_t total = 0;
    int64_t now = ft_now_ms();
    for (;;) {
        MDB_txn *txn;
        MDB_cursor *cur;
        int rc = txn_begin(e, 0, &txn);
        if (rc != 0)
            return lmdb_fail(err, rc, "sweep txn");
        if ((rc = mdb_cursor_open(txn, e->exp, &cur)) != 0) {
            mdb_txn_abort(txn);
            return lmdb_fail(err, rc, "sweep cursor");
        }
        size_t chunk = 0;
        MDB_val k, v;
        while ((max == 0 || total + chunk < max) && chunk < SWEEP_CHUNK &&
               (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
            if (k.mv_size < 8)
                break;
            const unsigned char *b = k.mv_data;
            int64_t x = 0;
            for (int i = 0; i < 8; i++)
                x = (x << 8) | b[i];
            if (x > now)
                break;
            MDB_val dk = {k.mv_size - 8, (unsigned char *)k.mv_data + 8}, dv;
            /* delete the data entry only if it still carries this expiry */
            rc = mdb_get(txn, e->data, &dk, &dv);
            if (rc == 0 && dv.mv_size >= 8 && stored_expiry(&dv) == x)
                rc = mdb_del(txn, e->data, &dk, NULL);
            else if (rc == MDB_NOTFOUND || rc == 0)
                rc = 0;
            if (rc == 0)
                rc = mdb_cursor_del(cur, 0);
            if (rc != 0)
                break;
            chunk++;
        }
        mdb_cursor_close(cur);
        if (rc != 0 && rc != MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            return lmdb_fail(err, rc, "sweep");
        }
        if ((rc = mdb_txn_commit(txn)) != 0)
            return lmdb_fail(err, rc, "sweep commit");
        total += chunk;
        if (chunk < SWEEP_CHUNK || (max != 0 && total >= max))
            break;
    }
    *removed = total;
    return FT_OK;
}

static ft_code lm_stats(void *state, ft_kv_stats *st, ft_err *err)
{
    lmdb_env *e = state;
    MDB_txn *txn;
    MDB_stat ds, es;
    int rc = txn_begin(e, MDB_RDONLY, &txn);
    if (rc != 0)
        return lmdb_fail(err, rc, "read txn");
    if ((rc = mdb_stat(txn, e->data, &ds)) == 0)
        rc = mdb_stat(txn, e->exp, &es);
    mdb_txn_abort(txn);
    if (rc != 0)
        return lmdb_fail(err, rc, "stat");
    st->entries = ds.ms_entries;
    st->expiring = es.ms_entries;
    st->pages_used = ds.ms_branch_pages + ds.ms_leaf_pages +
                     ds.ms_overflow_pages + es.ms_branch_pages +
                     es.ms_leaf_pages + es.ms_overflow_pages;
    st->bytes_used = st->pages_used * ds.ms_psize;
    MDB_envinfo info;
    if (mdb_env_info(e->env, &info) == 0)
        st->bytes_max = info.me_mapsize;
    return FT_OK;
}

const ft_kv_backend ft_kv__lmdb_backend = {
    .version = FT_KV_BACKEND_VERSION,
    .scheme = "lmdb",
    .caps = FT_KV_CAP_LIST | FT_KV_CAP_CAS,
    .open = lm_open,
    .close = lm_close,
    .get = lm_get,
    .batch = lm_batch,
    .get_many = lm_get_many,
    .list = lm_list,
    .cas = lm_cas,
    .cas_many = lm_cas_many,
    .sweep = lm_sweep,
    .stats = lm_stats,
};
