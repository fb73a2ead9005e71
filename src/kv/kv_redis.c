/*
 * kv_redis.c - the shared store on Redis (hiredis, blocking API).
 *
 * Data: every tuple key is one Redis string key named as Fedify's
 * RedisKvStore names it -- the prefix (default "fedify::"), then the parts
 * with each ':' written as "_:", joined by "::" -- and holding the value
 * bytes as they are (fedtrace writes JSON text, which Fedify's JsonCodec
 * reads), except for the values a batch marks compressible (only fedtrace
 * reads them: spans, logs): those of 512 bytes or more are kept as a zstd
 * frame when that saves an eighth.  So that a frame is never mistaken
 * for a value, any value that starts with the frame magic is kept as a
 * frame too; reads decompress every frame.  A TTL is the key's own PX
 * expiry.
 *
 * Index: Redis has no ordered scan of its keyspace, so two sorted sets,
 * named after the prefix but outside it (so that Fedify's own
 * `list()`, which SCANs "<prefix>*", never meets them), keep LIST cheap:
 *
 *   "fedtrace-index:<prefix>keys"    every key, as the member
 *                                    ft_kv__key_encode(tuple), all scores 0,
 *                                    so ZRANGEBYLEX walks tuple order and a
 *                                    tuple prefix is a lexicographic range;
 *   "fedtrace-index:<prefix>expiry"  the keys that carry a TTL, scored by
 *                                    their expiry (server time, ms).
 *
 * Every write is one Lua script that changes data and indexes together, so
 * a batch, a CAS or a sweep step is atomic and one round trip.  A key that
 * expires leaves its member behind until ft_kv_sweep removes it (the
 * expiry index says which); LIST skips members whose key is gone.
 *
 * Keys written by Fedify itself have no member.  Every full sweep
 * (ft_kv_sweep with max 0, which fedtrace serve runs periodically) goes on
 * with a rebuild of the index, 16,000 keys and 16,000 members at a time: a
 * resumable SCAN of "<prefix>*" indexes the string keys whose names parse
 * as Fedify keys, and a walk of the index drops members whose key is gone.
 * With reindex=1 the first handle of a process also does a whole pass when
 * it opens; reindex=0 turns the rebuild off.  LIST itself never scans.
 *
 * Round trips: get, set, delete, a batch, a CAS: one each; list: one per
 * 512 index members (more only when many of them have expired); sweep:
 * one per 1,024 expired members, plus the rebuild steps of a full sweep;
 * stats: one (two pipelined ZCARDs).
 *
 * Connection: one per handle, opened with AUTH, SELECT and the SCRIPT
 * LOADs in one pipeline.  When the connection turns out to be broken (the
 * server restarted, or closed it while idle), calls other than CAS are
 * sent once more on a fresh connection; if that fails too, or the server
 * does not answer within the timeout, the call fails with FT_BACKEND and
 * the connection is dropped.  Later calls reconnect at most once per
 * backoff period (100 ms doubling to 5 s) and fail at once in between, so
 * no call waits much longer than the connect and command timeouts.
 */
#include "core/config.h"
#include "fedtrace/span.h"
#include "kv/kv_int.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_PREFIX "fedify::"
#define INDEX_NS "fedtrace-index:"
#define DEFAULT_PORT 6379
#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define LIST_PAGE 512     /* index members fetched per step of the list script */
#define SWEEP_CHUNK 1024  /* expired members handled per sweep script call */
#define REINDEX_COUNT 1000      /* keys per SCAN step, members per prune step */
#define SWEEP_REBUILD_STEPS 16  /* of each, per full sweep */

/* ---- the scripts ---- */

/* The Redis key of an index member: drop the final terminator, escape ':',
 * turn terminators into "::" and 0x00 0xFF back into 0x00.  Every 0x00 of
 * an encoding starts a two-byte escape, so the patterns cannot misfire. */
#define LUA_DATAKEY                                                          \
    "local function datakey(prefix, m)\n"                                    \
    "  local s = string.sub(m, 1, -3)\n"                                     \
    "  s = string.gsub(s, ':', '_:')\n"                                      \
    "  s = string.gsub(s, '%z\\1', '::')\n"                                  \
    "  s = string.gsub(s, '%z\\255', '\\0')\n"                               \
    "  return prefix .. s\n"                                                 \
    "end\n"

/* fetch(prefix, ms, out): appends member, value for each member of ms
 * whose key still exists (one MGET); returns how many, and their bytes. */
#define LUA_FETCH                                                            \
    LUA_DATAKEY                                                              \
    "local function fetch(prefix, ms, out)\n"                                \
    "  local ks = {}\n"                                                      \
    "  for i = 1, #ms do ks[i] = datakey(prefix, ms[i]) end\n"               \
    "  local vs = redis.call('MGET', unpack(ks))\n"                          \
    "  local n, bytes = 0, 0\n"                                              \
    "  for i = 1, #ms do\n"                                                  \
    "    if vs[i] then\n"                                                    \
    "      out[#out + 1] = ms[i]\n"                                          \
    "      out[#out + 1] = vs[i]\n"                                          \
    "      n, bytes = n + 1, bytes + #vs[i]\n"                               \
    "    end\n"                                                              \
    "  end\n"                                                                \
    "  return n, bytes\n"                                                    \
    "end\n"

#define LUA_NOW                                                              \
    "local t = redis.call('TIME')\n"                                         \
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* SET with PX, or without (clearing the expiry member), or DEL. */
#define LUA_APPLY                                                            \
    "local function put(index, expiry, k, m, v, ttl, now)\n"                 \
    "  if ttl > 0 then\n"                                                    \
    "    redis.call('SET', k, v, 'PX', ttl)\n"                               \
    "    redis.call('ZADD', expiry, now + ttl, m)\n"                         \
    "  else\n"                                                               \
    "    redis.call('SET', k, v)\n"                                          \
    "    redis.call('ZREM', expiry, m)\n"                                    \
    "  end\n"                                                                \
    "  redis.call('ZADD', index, 0, m)\n"                                    \
    "end\n"                                                                  \
    "local function del(index, expiry, k, m)\n"                              \
    "  redis.call('DEL', k)\n"                                               \
    "  redis.call('ZREM', index, m)\n"                                       \
    "  redis.call('ZREM', expiry, m)\n"                                      \
    "end\n"

/* KEYS: index, expiry, then one data key per op.
 * ARGV: per op "s"|"d", member, value, ttl ms. */
static const char script_batch[] =
    LUA_NOW LUA_APPLY
    "for i = 3, #KEYS do\n"
    "  local a = (i - 3) * 4\n"
    "  if ARGV[a + 1] == 's' then\n"
    "    put(KEYS[1], KEYS[2], KEYS[i], ARGV[a + 2], ARGV[a + 3],\n"
    "        tonumber(ARGV[a + 4]), now)\n"
    "  else\n"
    "    del(KEYS[1], KEYS[2], KEYS[i], ARGV[a + 2])\n"
    "  end\n"
    "end\n"
    "return #KEYS - 2\n";

/* KEYS: data key, index, expiry.  ARGV: member, expect absent ("1"|"0"),
 * expected bytes, delete ("1"|"0"), new value, ttl ms.  1: swapped. */
static const char script_cas[] =
    LUA_NOW LUA_APPLY
    "local cur = redis.call('GET', KEYS[1])\n"
    "if ARGV[2] == '1' then\n"
    "  if cur then return 0 end\n"
    "elseif not cur or cur ~= ARGV[3] then\n"
    "  return 0\n"
    "end\n"
    "if ARGV[4] == '1' then\n"
    "  del(KEYS[2], KEYS[3], KEYS[1], ARGV[1])\n"
    "else\n"
    "  put(KEYS[2], KEYS[3], KEYS[1], ARGV[1], ARGV[5], tonumber(ARGV[6]), now)\n"
    "end\n"
    "return 1\n";

/* Several swaps, each decided on its own, in order.  KEYS: index, expiry,
 * then one data key per op.  ARGV: per op member, expect absent
 * ("1"|"0"), expected bytes, delete ("1"|"0"), new value, ttl ms.
 * Returns one 1 (swapped) or 0 per op. */
static const char script_cas_many[] =
    LUA_NOW LUA_APPLY
    "local out = {}\n"
    "for i = 3, #KEYS do\n"
    "  local a = (i - 3) * 6\n"
    "  local cur = redis.call('GET', KEYS[i])\n"
    "  local ok\n"
    "  if ARGV[a + 2] == '1' then ok = not cur else ok = cur and cur == ARGV[a + 3] end\n"
    "  if ok then\n"
    "    if ARGV[a + 4] == '1' then\n"
    "      del(KEYS[1], KEYS[2], KEYS[i], ARGV[a + 1])\n"
    "    else\n"
    "      put(KEYS[1], KEYS[2], KEYS[i], ARGV[a + 1], ARGV[a + 5], tonumber(ARGV[a + 6]), now)\n"
    "    end\n"
    "  end\n"
    "  out[#out + 1] = ok and 1 or 0\n"
    "end\n"
    "return out\n";

/* KEYS: index.  ARGV: prefix, min, max (ZRANGEBYLEX bounds), reverse
 * ("1"|"0"), wanted entries.  Walks members in order, skipping those whose
 * key is gone, until it has `wanted` entries, the range ends, or it has
 * looked at 4 pages or 8 MiB of values.  Returns {ended (1|0), last member
 * looked at ('' if none), member, value, member, value, ...}. */
static const char script_list[] =
    LUA_FETCH
    "local index, prefix, lo, hi = KEYS[1], ARGV[1], ARGV[2], ARGV[3]\n"
    "local rev, want = ARGV[4] == '1', tonumber(ARGV[5])\n"
    "local out = {0, ''}\n"
    "local found, seen, bytes = 0, 0, 0\n"
    "while found < want and seen < 4 * want and bytes < 8388608 do\n"
    "  local n = want - found\n"
    "  local ms\n"
    "  if rev then\n"
    "    ms = redis.call('ZREVRANGEBYLEX', index, hi, lo, 'LIMIT', 0, n)\n"
    "  else\n"
    "    ms = redis.call('ZRANGEBYLEX', index, lo, hi, 'LIMIT', 0, n)\n"
    "  end\n"
    "  if #ms == 0 then out[1] = 1 break end\n"
    "  local n_got, n_bytes = fetch(prefix, ms, out)\n"
    "  found, bytes = found + n_got, bytes + n_bytes\n"
    "  seen = seen + #ms\n"
    "  out[2] = ms[#ms]\n"
    "  if #ms < n then out[1] = 1 break end\n"
    "  if rev then hi = '(' .. ms[#ms] else lo = '(' .. ms[#ms] end\n"
    "end\n"
    "return out\n";

/* KEYS: index.  ARGV: prefix, cap, then the ZRANGEBYLEX bounds (min, max)
 * of each range.  For each range in turn: the number of its live entries
 * followed by member, value pairs; or -1 (and nothing) when the range holds
 * more than cap members, which the caller then lists on its own. */
static const char script_list_many[] =
    LUA_FETCH
    "local index, prefix, cap = KEYS[1], ARGV[1], tonumber(ARGV[2])\n"
    "local out = {}\n"
    "for r = 3, #ARGV, 2 do\n"
    "  local ms = redis.call('ZRANGEBYLEX', index, ARGV[r], ARGV[r + 1], 'LIMIT', 0, cap + 1)\n"
    "  local at = #out + 1\n"
    "  out[at] = 0\n"
    "  if #ms > cap then\n"
    "    out[at] = -1\n"
    "  elseif #ms > 0 then\n"
    "    out[at] = fetch(prefix, ms, out)\n"
    "  end\n"
    "end\n"
    "return out\n";

/* KEYS: index, expiry.  ARGV: prefix, max.  Looks at up to `max` members
 * whose expiry has passed: a key that is gone loses both members; a key
 * that someone rewrote (it lives on) gets its real expiry or none.
 * Returns {removed, looked at}. */
static const char script_sweep[] =
    LUA_DATAKEY LUA_NOW
    "local index, expiry, prefix = KEYS[1], KEYS[2], ARGV[1]\n"
    "local ms = redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0,\n"
    "                      tonumber(ARGV[2]))\n"
    "local removed = 0\n"
    "for i = 1, #ms do\n"
    "  local pttl = redis.call('PTTL', datakey(prefix, ms[i]))\n"
    "  if pttl == -2 then\n"
    "    redis.call('ZREM', index, ms[i])\n"
    "    redis.call('ZREM', expiry, ms[i])\n"
    "    removed = removed + 1\n"
    "  elseif pttl == -1 then\n"
    "    redis.call('ZREM', expiry, ms[i])\n"
    "  else\n"
    "    redis.call('ZADD', expiry, now + pttl + 1, ms[i])\n"
    "  end\n"
    "end\n"
    "return {removed, #ms}\n";

/* KEYS: index, expiry, then keys found by SCAN.  ARGV: their members.
 * Indexes the string keys that still exist.  Returns members added. */
static const char script_reindex[] =
    LUA_NOW
    "local added = 0\n"
    "for i = 3, #KEYS do\n"
    "  if redis.call('TYPE', KEYS[i]).ok == 'string' then\n"
    "    local pttl = redis.call('PTTL', KEYS[i])\n"
    "    if pttl ~= -2 then\n"
    "      added = added + redis.call('ZADD', KEYS[1], 0, ARGV[i - 2])\n"
    "      if pttl >= 0 then\n"
    "        redis.call('ZADD', KEYS[2], now + pttl + 1, ARGV[i - 2])\n"
    "      else\n"
    "        redis.call('ZREM', KEYS[2], ARGV[i - 2])\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return added\n";

/* KEYS: index, expiry.  ARGV: prefix, min bound, count.  Drops members
 * whose key is gone.  Returns {removed, looked at, last member}. */
static const char script_prune[] =
    LUA_DATAKEY
    "local ms = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], '+', 'LIMIT', 0,\n"
    "                      tonumber(ARGV[3]))\n"
    "local removed = 0\n"
    "for i = 1, #ms do\n"
    "  if redis.call('EXISTS', datakey(ARGV[1], ms[i])) == 0 then\n"
    "    redis.call('ZREM', KEYS[1], ms[i])\n"
    "    redis.call('ZREM', KEYS[2], ms[i])\n"
    "    removed = removed + 1\n"
    "  end\n"
    "end\n"
    "return {removed, #ms, ms[#ms] or ''}\n";

enum {
    SCRIPT_BATCH,
    SCRIPT_CAS,
    SCRIPT_LIST,
    SCRIPT_SWEEP,
    SCRIPT_REINDEX,
    SCRIPT_PRUNE,
    SCRIPT_CAS_MANY,
    SCRIPT_LIST_MANY,
    N_SCRIPTS
};

static const char *const scripts[N_SCRIPTS] = {
    script_batch, script_cas,     script_list,
    script_sweep, script_reindex, script_prune, script_cas_many,
    script_list_many,
};

/* ---- state ---- */

typedef struct rd_state {
    char *host;
    int port;
    int db;
    char *user;     /* NULL: none */
    char *password; /* NULL: no AUTH */
    char *prefix;
    size_t prefix_len;
    char *index_key, *expiry_key;
    size_t index_key_len, expiry_key_len;
    char where[300]; /* redis://HOST:PORT/DB, for messages */
    int64_t timeout_ms, connect_timeout_ms;

    redisContext *c;             /* NULL: not connected */
    char sha[N_SCRIPTS][48];     /* from SCRIPT LOAD at the first connect */
    int64_t next_attempt_ms;     /* monotonic; reconnect not before */
    int64_t backoff_ms;
    char last_error[FT_ERR_MSG_MAX];

    /* the index rebuild: resumed by every full sweep unless reindex=0;
     * with reindex=1 a whole pass at open too */
    bool rebuild;
    bool compress; /* compressible values as zstd frames (compress=1, the default) */
    char *scan_pattern;   /* "<prefix>*", glob characters escaped */
    char scan_cursor[32]; /* SCAN cursor; "0" starts a pass */
    char *prune_from;     /* "(member" to resume the prune walk; NULL: start */
    size_t prune_from_len;
} rd_state;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval tv_of(int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

/*
 * hiredis writes with write(2): a server that went away would raise
 * SIGPIPE and kill a program that has not ignored it.  Around each round
 * trip the signal is blocked for this thread, and one raised meanwhile is
 * consumed before the mask is restored.
 */
typedef struct pipe_guard {
    sigset_t old;
    bool was_pending, blocked;
} pipe_guard;

static bool sigpipe_pending(void)
{
    sigset_t pend;
    return sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE) == 1;
}

static void guard_begin(pipe_guard *g)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    g->was_pending = sigpipe_pending();
    g->blocked = pthread_sigmask(SIG_BLOCK, &set, &g->old) == 0;
}

static void guard_end(pipe_guard *g)
{
    if (!g->blocked)
        return;
    if (!g->was_pending && sigpipe_pending()) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- connection ---- */

static void drop_connection(rd_state *s)
{
    if (s->c != NULL) {
        redisFree(s->c);
        s->c = NULL;
    }
}

/* The message for a connection-level failure; drops the connection.  The
 * next call may reconnect at once (the server might be back already). */
static bool timed_out(const rd_state *s, int saved_errno)
{
    return s->c != NULL && s->c->err == REDIS_ERR_IO &&
           (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK);
}

static ft_code conn_failed(rd_state *s, int saved_errno, ft_err *err,
                           const char *what)
{
    int e = s->c ? s->c->err : 0;
    const char *msg = s->c ? s->c->errstr : "not connected";
    char buf[256];
    if (timed_out(s, saved_errno))
        snprintf(buf, sizeof buf, "no answer within %lld ms",
                 (long long)s->timeout_ms);
    else if (e == REDIS_ERR_EOF)
        snprintf(buf, sizeof buf, "the server closed the connection");
    else
        snprintf(buf, sizeof buf, "%s", msg[0] ? msg : "connection error");
    snprintf(s->last_error, sizeof s->last_error, "%s", buf);
    drop_connection(s);
    s->next_attempt_ms = 0;
    return ft_err_set(err, FT_BACKEND, e, "%s: %s: %s", s->where, what, buf);
}

/* An error reply as our code: OOM means the server is at maxmemory. */
static ft_code reply_error(const rd_state *s, const redisReply *r, ft_err *err,
                           const char *what)
{
    ft_code code = strncmp(r->str, "OOM", 3) == 0 ? FT_FULL : FT_BACKEND;
    return ft_err_set(err, code, 0, "%s: %s: %.*s", s->where, what,
                      (int)r->len, r->str);
}

static ft_code unexpected(const rd_state *s, ft_err *err, const char *what)
{
    return ft_err_set(err, FT_BACKEND, 0, "%s: %s: unexpected reply", s->where,
                      what);
}

/* Sends AUTH, SELECT and SCRIPT LOADs in one pipeline and checks the
 * replies.  On failure the connection is dropped. */
static ft_code handshake(rd_state *s, ft_err *err)
{
    int sent = 0;
    char dbbuf[16];
    if (s->password != NULL) {
        const char *argv[3] = {"AUTH", s->user ? s->user : s->password,
                               s->password};
        size_t lens[3] = {4, strlen(argv[1]), strlen(s->password)};
        redisAppendCommandArgv(s->c, s->user ? 3 : 2, argv, lens);
        sent++;
    }
    if (s->db != 0) {
        snprintf(dbbuf, sizeof dbbuf, "%d", s->db);
        const char *argv[2] = {"SELECT", dbbuf};
        size_t lens[2] = {6, strlen(dbbuf)};
        redisAppendCommandArgv(s->c, 2, argv, lens);
        sent++;
    }
    for (int i = 0; i < N_SCRIPTS; i++) {
        const char *argv[3] = {"SCRIPT", "LOAD", scripts[i]};
        size_t lens[3] = {6, 4, strlen(scripts[i])};
        redisAppendCommandArgv(s->c, 3, argv, lens);
    }
    ft_code rc = FT_OK;
    int total = sent + N_SCRIPTS;
    for (int i = 0; i < total; i++) {
        redisReply *r = NULL;
        if (redisGetReply(s->c, (void **)&r) != REDIS_OK)
            return conn_failed(s, errno, err, "connecting");
        if (rc == FT_OK && r->type == REDIS_REPLY_ERROR) {
            const char *what = i < sent ? (s->password != NULL && i == 0
                                               ? "AUTH"
                                               : "SELECT")
                                        : "SCRIPT LOAD";
            rc = reply_error(s, r, err, what);
            snprintf(s->last_error, sizeof s->last_error, "%s: %.*s", what,
                     (int)r->len, r->str);
        } else if (rc == FT_OK && i >= sent) {
            if (r->type != REDIS_REPLY_STRING || r->len >= sizeof s->sha[0])
                rc = unexpected(s, err, "SCRIPT LOAD");
            else
                memcpy(s->sha[i - sent], r->str, r->len + 1);
        }
        freeReplyObject(r);
    }
    if (rc != FT_OK)
        drop_connection(s);
    return rc;
}

/* Makes sure there is a connection, connecting if the backoff allows. */
static ft_code ensure_connected(rd_state *s, ft_err *err)
{
    if (s->c != NULL)
        return FT_OK;
    int64_t now = mono_ms();
    if (now < s->next_attempt_ms)
        return ft_err_set(err, FT_BACKEND, 0,
                          "%s: not connected (next attempt in %lld ms): %s",
                          s->where, (long long)(s->next_attempt_ms - now),
                          s->last_error);
    s->c = redisConnectWithTimeout(s->host, s->port, tv_of(s->connect_timeout_ms));
    ft_code rc;
    if (s->c == NULL) {
        snprintf(s->last_error, sizeof s->last_error, "out of memory");
        rc = ft_err_set(err, FT_BACKEND, 0, "%s: cannot connect: out of memory",
                        s->where);
    } else if (s->c->err) {
        snprintf(s->last_error, sizeof s->last_error, "%s", s->c->errstr);
        rc = ft_err_set(err, FT_BACKEND, s->c->err, "%s: cannot connect: %s",
                        s->where, s->c->errstr);
        drop_connection(s);
    } else {
        redisSetTimeout(s->c, tv_of(s->timeout_ms));
        redisEnableKeepAlive(s->c);
        pipe_guard g;
        guard_begin(&g);
        rc = handshake(s, err);
        guard_end(&g);
    }
    if (rc != FT_OK) {
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (s->backoff_ms > BACKOFF_MAX_MS)
            s->backoff_ms = BACKOFF_MAX_MS;
        s->next_attempt_ms = mono_ms() + s->backoff_ms;
        return rc;
    }
    s->backoff_ms = 0;
    s->next_attempt_ms = 0;
    return FT_OK;
}

/*
 * Sends n commands in one pipeline and reads n replies into out[] (the
 * caller frees them with free_replies).  `retry`: the call may be sent
 * again on a fresh connection when the old one turns out to be broken
 * (calls whose repetition is harmless).  Error replies are returned as
 * replies.
 */
typedef struct rd_cmd {
    int argc;
    const char **argv;
    const size_t *lens;
} rd_cmd;

static void free_replies(redisReply **r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (r[i] != NULL) {
            freeReplyObject(r[i]);
            r[i] = NULL;
        }
}

static ft_code roundtrip(rd_state *s, const rd_cmd *cmds, size_t n,
                         redisReply **out, bool retry, const char *what,
                         ft_err *err)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    for (int attempt = 0;; attempt++) {
        bool had_conn = s->c != NULL;
        ft_code rc = ensure_connected(s, err);
        if (rc != FT_OK)
            return rc;
        pipe_guard g;
        guard_begin(&g);
        bool ok = true;
        for (size_t i = 0; i < n && ok; i++)
            ok = redisAppendCommandArgv(s->c, cmds[i].argc, cmds[i].argv,
                                        cmds[i].lens) == REDIS_OK;
        for (size_t i = 0; i < n && ok; i++)
            ok = redisGetReply(s->c, (void **)&out[i]) == REDIS_OK && out[i] != NULL;
        int saved_errno = errno;
        guard_end(&g);
        if (ok)
            return FT_OK;
        free_replies(out, n);
        /* a broken connection (the server restarted, or closed it while
         * idle) is worth one more try; a slow server is not */
        bool again = retry && had_conn && attempt == 0 && !timed_out(s, saved_errno);
        rc = conn_failed(s, saved_errno, err, what);
        if (!again)
            return rc;
    }
}

/* ---- key names ---- */

static size_t datakey_len(const rd_state *s, ft_kv_key key)
{
    size_t n = s->prefix_len;
    for (size_t i = 0; i < key.n; i++) {
        n += key.parts[i].len + (i ? 2 : 0);
        for (size_t j = 0; j < key.parts[i].len; j++)
            if (key.parts[i].ptr[j] == ':')
                n++;
    }
    return n;
}

/* Fedify's serialisation: prefix, parts with ':' -> "_:", joined by "::". */
static void datakey_into(const rd_state *s, ft_kv_key key, char *dst)
{
    memcpy(dst, s->prefix, s->prefix_len);
    dst += s->prefix_len;
    for (size_t i = 0; i < key.n; i++) {
        if (i) {
            *dst++ = ':';
            *dst++ = ':';
        }
        for (size_t j = 0; j < key.parts[i].len; j++) {
            char ch = key.parts[i].ptr[j];
            if (ch == ':')
                *dst++ = '_';
            *dst++ = ch;
        }
    }
}

/*
 * The inverse, for keys found by SCAN.  In a run of ':' an escape can only
 * be the first colon and only after '_'; separators are pairs.  So an odd
 * run after '_' is one escape plus separators, an even run is separators
 * only, and an odd run elsewhere is not Fedify's.  Parts are slices of
 * `buf` (room for len bytes).  False when the name is not a key.
 */
static bool datakey_parse(const char *p, size_t len, char *buf, ft_str *parts,
                          size_t *n_parts)
{
    size_t np = 0, w = 0, start = 0;
    for (size_t i = 0; i < len;) {
        if (p[i] != ':') {
            buf[w++] = p[i++];
            continue;
        }
        size_t run = 0;
        while (i + run < len && p[i + run] == ':')
            run++;
        i += run;
        if (run % 2 == 1) {
            if (w == start || buf[w - 1] != '_')
                return false;
            buf[w - 1] = ':';
            run--;
        }
        for (size_t k = 0; k < run / 2; k++) {
            if (np == FT_KV_MAX_PARTS)
                return false;
            parts[np++] = (ft_str){buf + start, w - start};
            start = w;
        }
    }
    if (np == FT_KV_MAX_PARTS)
        return false;
    parts[np++] = (ft_str){buf + start, w - start};
    *n_parts = np;
    return true;
}

/* ---- URL ---- */

/* A malloc'd, percent-decoded copy of s[0..n); NULL when out of memory or
 * (with *bad set) malformed or holding %00. */
static char *pct_decode(const char *s, size_t n, bool *bad)
{
    char *out = ft_malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[w++] = s[i];
            continue;
        }
        int h = i + 2 < n ? ft_hex_value(s[i + 1]) : -1;
        int l = i + 2 < n ? ft_hex_value(s[i + 2]) : -1;
        if (h < 0 || l < 0 || h + l == 0) { /* %00 would cut the text */
            ft_free(out);
            *bad = true;
            return NULL;
        }
        out[w++] = (char)(h * 16 + l);
        i += 2;
    }
    out[w] = '\0';
    return out;
}

static void state_free(rd_state *s)
{
    if (s == NULL)
        return;
    drop_connection(s);
    ft_free(s->host);
    ft_free(s->user);
    if (s->password != NULL)
        memset(s->password, 0, strlen(s->password));
    ft_free(s->password);
    ft_free(s->prefix);
    ft_free(s->index_key);
    ft_free(s->expiry_key);
    ft_free(s->scan_pattern);
    ft_free(s->prune_from);
    ft_free(s);
}

/* *reindex: 1 (rebuild at open), 0 (never scan) or -1 (not given). */
static ft_code parse_url(const ft_kv_url *url, rd_state *s, int *reindex,
                         ft_err *err)
{
    static const char usage[] =
        "expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=...]";
    const char *r = url->rest;
    if (strncmp(r, "//", 2) != 0)
        return ft_err_set(err, FT_INVAL, 0, "%s", usage);
    r += 2;
    const char *auth_end = r + strcspn(r, "/");
    const char *at = NULL;
    for (const char *p = r; p < auth_end; p++)
        if (*p == '@')
            at = p;
    bool bad = false;
    if (at != NULL) {
        const char *colon = memchr(r, ':', (size_t)(at - r));
        if (colon == NULL)
            return ft_err_set(err, FT_INVAL, 0,
                              "the user part needs USER:PASSWORD or :PASSWORD; %s",
                              usage);
        if (colon > r && (s->user = pct_decode(r, (size_t)(colon - r), &bad)) == NULL)
            goto decode_failed;
        if ((s->password = pct_decode(colon + 1, (size_t)(at - colon - 1), &bad)) == NULL)
            goto decode_failed;
        r = at + 1;
    }
    const char *host_end;
    const char *port_at = NULL;
    if (*r == '[') {
        const char *close = memchr(r, ']', (size_t)(auth_end - r));
        if (close == NULL)
            return ft_err_set(err, FT_INVAL, 0, "unclosed '[' in the host; %s", usage);
        s->host = ft_strndup(r + 1, (size_t)(close - r - 1));
        host_end = close + 1;
        if (host_end < auth_end && *host_end == ':')
            port_at = host_end + 1;
        else if (host_end != auth_end)
            return ft_err_set(err, FT_INVAL, 0, "bad host; %s", usage);
    } else {
        const char *colon = memchr(r, ':', (size_t)(auth_end - r));
        host_end = colon ? colon : auth_end;
        s->host = host_end == r ? ft_strndup("127.0.0.1", 9)
                                : ft_strndup(r, (size_t)(host_end - r));
        if (colon != NULL)
            port_at = colon + 1;
    }
    if (s->host == NULL)
        goto nomem;
    if (s->host[0] == '\0')
        return ft_err_set(err, FT_INVAL, 0, "empty host; %s", usage);
    s->port = DEFAULT_PORT;
    if (port_at != NULL) {
        long port = 0;
        const char *p = port_at;
        for (; p < auth_end && *p >= '0' && *p <= '9' && port <= 65535; p++)
            port = port * 10 + (*p - '0');
        if (p != auth_end || p == port_at || port < 1 || port > 65535)
            return ft_err_set(err, FT_INVAL, 0, "bad port '%.*s'; %s",
                              (int)(auth_end - port_at), port_at, usage);
        s->port = (int)port;
    }
    s->db = 0;
    if (*auth_end == '/' && auth_end[1] != '\0') {
        long db = 0;
        const char *p = auth_end + 1;
        for (; *p >= '0' && *p <= '9' && db < 1000000; p++)
            db = db * 10 + (*p - '0');
        if (*p != '\0' || db >= 1000000)
            return ft_err_set(err, FT_INVAL, 0,
                              "the path '%s' is not a database number; %s",
                              auth_end, usage);
        s->db = (int)db;
    }

    s->timeout_ms = DEFAULT_TIMEOUT_MS;
    s->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    *reindex = -1;
    s->compress = true;
    const char *prefix = DEFAULT_PREFIX;
    size_t prefix_len = strlen(DEFAULT_PREFIX);
    for (size_t i = 0; i < url->n_params; i++) {
        const char *name = url->names[i], *value = url->values[i];
        if (strcmp(name, "caps") == 0)
            continue;
        if (strcmp(name, "prefix") == 0) {
            prefix = value;
            prefix_len = strlen(value);
        } else if (strcmp(name, "timeout") == 0 ||
                   strcmp(name, "connect_timeout") == 0) {
            int64_t ms;
            if (!ft_parse_duration_ms(value, &ms) || ms <= 0 || ms > 3600000)
                return ft_err_set(err, FT_INVAL, 0,
                                  "%s=%s is not a duration between 1ms and 1h "
                                  "(e.g. 500ms, 5s)",
                                  name, value);
            *(name[0] == 't' ? &s->timeout_ms : &s->connect_timeout_ms) = ms;
        } else if (strcmp(name, "reindex") == 0) {
            bool on;
            if (!ft_parse_bool(value[0] ? value : "1", &on))
                return ft_err_set(err, FT_INVAL, 0,
                                  "reindex=%s: expected 1 or 0", value);
            *reindex = on ? 1 : 0;
        } else if (strcmp(name, "compress") == 0) {
            if (!ft_parse_bool(value, &s->compress))
                return ft_err_set(err, FT_INVAL, 0, "compress=%s: expected 1 or 0", value);
        } else {
            return ft_err_set(err, FT_INVAL, 0,
                              "unknown parameter '%s' (redis knows prefix, "
                              "timeout, connect_timeout, reindex, compress, caps)",
                              name);
        }
    }
    if ((s->prefix = pct_decode(prefix, prefix_len, &bad)) == NULL)
        goto decode_failed;
    s->prefix_len = strlen(s->prefix);
    size_t ns = strlen(INDEX_NS);
    s->index_key_len = ns + s->prefix_len + 4;
    s->expiry_key_len = ns + s->prefix_len + 6;
    s->index_key = ft_malloc(s->index_key_len + 1);
    s->expiry_key = ft_malloc(s->expiry_key_len + 1);
    if (s->index_key == NULL || s->expiry_key == NULL)
        goto nomem;
    snprintf(s->index_key, s->index_key_len + 1, "%s%skeys", INDEX_NS, s->prefix);
    snprintf(s->expiry_key, s->expiry_key_len + 1, "%s%sexpiry", INDEX_NS, s->prefix);
    bool v6 = strchr(s->host, ':') != NULL;
    snprintf(s->where, sizeof s->where, "redis://%s%s%s:%d/%d", v6 ? "[" : "",
             s->host, v6 ? "]" : "", s->port, s->db);
    return FT_OK;
decode_failed:
    if (bad)
        return ft_err_set(err, FT_INVAL, 0, "bad %%-escape in the URL; %s", usage);
nomem:
    return ft_err_set(err, FT_NOMEM, 0, "out of memory opening redis");
}

/* Sends EVALSHA, and on NOSCRIPT (the server lost its script cache) the
 * script itself, as one more round trip. */
static ft_code eval(rd_state *s, int which, const char **argv, size_t *lens,
                    int argc, bool retry, const char *what, redisReply **out,
                    ft_err *err)
{
    argv[0] = "EVALSHA";
    lens[0] = 7;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            argv[0] = "EVAL";
            lens[0] = 4;
            argv[1] = scripts[which];
            lens[1] = strlen(scripts[which]);
        } else {
            argv[1] = s->sha[which];
            lens[1] = strlen(s->sha[which]);
        }
        rd_cmd cmd = {argc, argv, lens};
        ft_code rc = roundtrip(s, &cmd, 1, out, retry, what, err);
        if (rc != FT_OK)
            return rc;
        redisReply *r = *out;
        if (r->type != REDIS_REPLY_ERROR)
            return FT_OK;
        if (pass == 0 && strncmp(r->str, "NOSCRIPT", 8) == 0) {
            freeReplyObject(r);
            *out = NULL;
            continue;
        }
        rc = reply_error(s, r, err, what);
        freeReplyObject(r);
        *out = NULL;
        return rc;
    }
    return ft_err_set(err, FT_BACKEND, 0, "%s: %s: script not accepted", s->where,
                      what);
}

/* ---- reindex ---- */

/* Indexes (host, port, db, prefix) this process already rebuilt at open,
 * so that the server's many handles rebuild each once (past 16 different
 * ones, every handle opened with reindex=1 rebuilds). */
static pthread_mutex_t reindexed_lock = PTHREAD_MUTEX_INITIALIZER;
static char reindexed[16][320];
static size_t n_reindexed;

static bool reindex_claim(const rd_state *s)
{
    char id[320];
    snprintf(id, sizeof id, "%s %s", s->where, s->prefix);
    pthread_mutex_lock(&reindexed_lock);
    bool mine = true;
    for (size_t i = 0; i < n_reindexed && mine; i++)
        if (strcmp(reindexed[i], id) == 0)
            mine = false;
    if (mine && n_reindexed < sizeof reindexed / sizeof reindexed[0])
        snprintf(reindexed[n_reindexed++], sizeof reindexed[0], "%s", id);
    pthread_mutex_unlock(&reindexed_lock);
    return mine;
}

/* Indexes one SCAN page of key names: the names that parse as Fedify keys
 * go to the reindex script with their members. */
static ft_code reindex_page(rd_state *s, const redisReply *keys, ft_err *err)
{
    size_t n = keys->elements, cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += keys->element[i]->len * 3 + 2 * FT_KV_MAX_PARTS;
    const char **argv = ft_calloc(2 * n + 5, sizeof *argv);
    size_t *lens = ft_calloc(2 * n + 5, sizeof *lens);
    const char **members = ft_calloc(n + 1, sizeof *members);
    size_t *mlens = ft_calloc(n + 1, sizeof *mlens);
    char *buf = ft_malloc(cap);
    ft_code rc = FT_OK;
    if (argv == NULL || lens == NULL || members == NULL || mlens == NULL ||
        buf == NULL) {
        rc = ft_err_set(err, FT_NOMEM, 0, "out of memory rebuilding the index");
        goto out;
    }
    size_t nk = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING || k->len < s->prefix_len ||
            memcmp(k->str, s->prefix, s->prefix_len) != 0)
            continue;
        ft_str parts[FT_KV_MAX_PARTS];
        size_t np;
        if (!datakey_parse(k->str + s->prefix_len, k->len - s->prefix_len,
                           buf + w, parts, &np))
            continue;
        w += k->len - s->prefix_len;
        ft_kv_key key = {parts, np};
        size_t ml = ft_kv__key_encoded_len(key);
        ft_kv__key_encode_into(key, buf + w);
        argv[5 + nk] = k->str;
        lens[5 + nk] = k->len;
        members[nk] = buf + w;
        mlens[nk] = ml;
        w += ml;
        nk++;
    }
    if (nk == 0)
        goto out;
    for (size_t i = 0; i < nk; i++) {
        argv[5 + nk + i] = members[i];
        lens[5 + nk + i] = mlens[i];
    }
    char numkeys[24];
    snprintf(numkeys, sizeof numkeys, "%zu", nk + 2);
    argv[2] = numkeys;
    lens[2] = strlen(numkeys);
    argv[3] = s->index_key;
    lens[3] = s->index_key_len;
    argv[4] = s->expiry_key;
    lens[4] = s->expiry_key_len;
    redisReply *r;
    rc = eval(s, SCRIPT_REINDEX, argv, lens, (int)(5 + 2 * nk), true,
              "reindex", &r, err);
    if (rc == FT_OK)
        freeReplyObject(r);
out:
    ft_free(argv);
    ft_free(lens);
    ft_free(members);
    ft_free(mlens);
    ft_free(buf);
    return rc;
}

/* SCAN-MATCH pattern for "<prefix>*" with glob characters escaped. */
static char *scan_pattern(const rd_state *s)
{
    char *pat = ft_malloc(s->prefix_len * 2 + 2);
    if (pat == NULL)
        return NULL;
    size_t w = 0;
    for (size_t i = 0; i < s->prefix_len; i++) {
        char c = s->prefix[i];
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
            pat[w++] = '\\';
        pat[w++] = c;
    }
    pat[w++] = '*';
    pat[w] = '\0';
    return pat;
}

/* One SCAN step of "<prefix>*" from s->scan_cursor, indexing what it
 * finds; *done when the pass has come round to cursor 0. */
static ft_code discover_step(rd_state *s, bool *done, ft_err *err)
{
    char count[16];
    snprintf(count, sizeof count, "%d", REINDEX_COUNT);
    const char *argv[6] = {"SCAN", s->scan_cursor, "MATCH", s->scan_pattern,
                           "COUNT", count};
    size_t lens[6] = {4, strlen(s->scan_cursor), 5, strlen(s->scan_pattern), 5,
                      strlen(count)};
    rd_cmd cmd = {6, argv, lens};
    redisReply *r;
    ft_code rc = roundtrip(s, &cmd, 1, &r, true, "index rebuild: SCAN", err);
    if (rc != FT_OK)
        return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = reply_error(s, r, err, "index rebuild: SCAN");
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
               r->element[0]->type != REDIS_REPLY_STRING ||
               r->element[0]->len >= sizeof s->scan_cursor ||
               r->element[1]->type != REDIS_REPLY_ARRAY) {
        rc = unexpected(s, err, "index rebuild: SCAN");
    } else {
        rc = reindex_page(s, r->element[1], err);
        if (rc == FT_OK) {
            memcpy(s->scan_cursor, r->element[0]->str, r->element[0]->len + 1);
            *done = strcmp(s->scan_cursor, "0") == 0;
        }
    }
    freeReplyObject(r);
    return rc;
}

/* One step of the walk over the index from s->prune_from, dropping members
 * whose key is gone; *done at the end of the index. */
static ft_code prune_step(rd_state *s, bool *done, size_t *removed,
                          ft_err *err)
{
    char count[16];
    snprintf(count, sizeof count, "%d", REINDEX_COUNT);
    const char *from = s->prune_from ? s->prune_from : "-";
    const char *argv[8] = {NULL, NULL, "2", s->index_key, s->expiry_key,
                           s->prefix, from, count};
    size_t lens[8] = {0, 0, 1, s->index_key_len, s->expiry_key_len,
                      s->prefix_len, s->prune_from ? s->prune_from_len : 1,
                      strlen(count)};
    redisReply *r;
    ft_code rc = eval(s, SCRIPT_PRUNE, argv, lens, 8, true,
                      "index rebuild: prune", &r, err);
    if (rc != FT_OK)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->type != REDIS_REPLY_STRING) {
        rc = unexpected(s, err, "index rebuild: prune");
    } else {
        *removed += (size_t)r->element[0]->integer;
        *done = r->element[1]->integer < REINDEX_COUNT;
        char *next = NULL;
        if (!*done && (next = ft_malloc(r->element[2]->len + 1)) == NULL) {
            rc = ft_err_set(err, FT_NOMEM, 0, "out of memory rebuilding the index");
        } else {
            if (next != NULL) {
                next[0] = '(';
                memcpy(next + 1, r->element[2]->str, r->element[2]->len);
            }
            ft_free(s->prune_from);
            s->prune_from = next;
            s->prune_from_len = next ? r->element[2]->len + 1 : 0;
        }
    }
    freeReplyObject(r);
    return rc;
}

/* Runs up to `steps` discovery and prune steps (0: whole passes). */
static ft_code rebuild(rd_state *s, int steps, size_t *removed, ft_err *err)
{
    bool done = false;
    ft_code rc = FT_OK;
    for (int i = 0; rc == FT_OK && !done && (steps == 0 || i < steps); i++)
        rc = discover_step(s, &done, err);
    done = false;
    for (int i = 0; rc == FT_OK && !done && (steps == 0 || i < steps); i++)
        rc = prune_step(s, &done, removed, err);
    return rc;
}

/* ---- operations ---- */

static ft_code rd_open(const ft_kv_url *url, void **state, ft_err *err)
{
    rd_state *s = ft_calloc(1, sizeof *s);
    if (s == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory opening redis");
    int reindex = -1;
    ft_code rc = parse_url(url, s, &reindex, err);
    if (rc == FT_OK) {
        memcpy(s->scan_cursor, "0", 2);
        if ((s->scan_pattern = scan_pattern(s)) == NULL)
            rc = ft_err_set(err, FT_NOMEM, 0, "out of memory opening redis");
    }
    if (rc == FT_OK) {
        rc = ensure_connected(s, err);
        size_t dropped = 0;
        s->rebuild = reindex != 0;
        if (rc == FT_OK && reindex == 1 && reindex_claim(s))
            rc = rebuild(s, 0, &dropped, err);
    }
    if (rc != FT_OK) {
        /* the dispatcher puts the URL in front already */
        size_t wl = strlen(s->where);
        if (err != NULL && strncmp(err->msg, s->where, wl) == 0 &&
            strncmp(err->msg + wl, ": ", 2) == 0)
            memmove(err->msg, err->msg + wl + 2, strlen(err->msg + wl + 2) + 1);
        state_free(s);
        return rc;
    }
    *state = s;
    return FT_OK;
}

static void rd_close(void *state)
{
    state_free(state);
}

/* A value as read from Redis into the arena: a zstd frame (written for
 * a compressible op, or for any value that starts with the magic, so the
 * two cannot be confused) decompressed, anything else copied. */
static ft_code value_out(ft_arena *arena, const char *p, size_t n, ft_str *out, ft_err *err)
{
    ft_str v = {p, n};
    if (ft_kv__is_frame(v))
        return ft_kv__decompress(arena, v, out, err);
    const char *c = n ? ft_arena_memdup(arena, p, n) : "";
    if (c == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory reading a value");
    *out = (ft_str){c, n};
    return FT_OK;
}

static ft_code rd_get(void *state, ft_kv_key key, ft_arena *arena,
                      ft_str *value, ft_err *err)
{
    rd_state *s = state;
    size_t kl = datakey_len(s, key);
    char *k = ft_arena_alloc(arena, kl + 1);
    if (k == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory reading a value");
    datakey_into(s, key, k);
    const char *argv[2] = {"GET", k};
    size_t lens[2] = {3, kl};
    rd_cmd cmd = {2, argv, lens};
    redisReply *r;
    ft_code rc = roundtrip(s, &cmd, 1, &r, true, "GET", err);
    if (rc != FT_OK)
        return rc;
    if (r->type == REDIS_REPLY_NIL) {
        rc = FT_NOTFOUND;
    } else if (r->type == REDIS_REPLY_ERROR) {
        rc = reply_error(s, r, err, "GET");
    } else if (r->type != REDIS_REPLY_STRING) {
        rc = unexpected(s, err, "GET");
    } else {
        rc = value_out(arena, r->str, r->len, value, err);
    }
    freeReplyObject(r);
    return rc;
}

/* One MGET for all the keys. */
static ft_code rd_get_many(void *state, const ft_kv_key *keys, size_t n, ft_arena *arena,
                           ft_str *values, ft_code *found, ft_err *err)
{
    rd_state *s = state;
    const char **argv = ft_arena_alloc(arena, (n + 1) * sizeof *argv);
    size_t *lens = ft_arena_alloc(arena, (n + 1) * sizeof *lens);
    if (argv == NULL || lens == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory reading values");
    argv[0] = "MGET";
    lens[0] = 4;
    for (size_t i = 0; i < n; i++) {
        size_t kl = datakey_len(s, keys[i]);
        char *k = ft_arena_alloc(arena, kl + 1);
        if (k == NULL)
            return ft_err_set(err, FT_NOMEM, 0, "out of memory reading values");
        datakey_into(s, keys[i], k);
        argv[i + 1] = k;
        lens[i + 1] = kl;
    }
    rd_cmd cmd = {(int)(n + 1), argv, lens};
    redisReply *r;
    ft_code rc = roundtrip(s, &cmd, 1, &r, true, "MGET", err);
    if (rc != FT_OK)
        return rc;
    if (r->type == REDIS_REPLY_ERROR)
        rc = reply_error(s, r, err, "MGET");
    else if (r->type != REDIS_REPLY_ARRAY || r->elements != n)
        rc = unexpected(s, err, "MGET");
    for (size_t i = 0; i < n && rc == FT_OK; i++) {
        redisReply *e = r->element[i];
        values[i] = (ft_str){NULL, 0};
        found[i] = FT_NOTFOUND;
        if (e->type == REDIS_REPLY_NIL)
            continue;
        if (e->type != REDIS_REPLY_STRING) {
            rc = unexpected(s, err, "MGET");
            break;
        }
        if ((rc = value_out(arena, e->str, e->len, &values[i], err)) != FT_OK)
            break;
        found[i] = FT_OK;
    }
    freeReplyObject(r);
    return rc;
}

/* The arguments of a script over n data keys: EVALSHA, sha, numkeys, the
 * index and expiry keys, the n data keys, then per_op ARGV for each; one
 * buffer holds the data keys, members and numbers they point into. */
typedef struct script_args {
    char *buf;
    size_t w;
    const char **argv;
    size_t *lens;
    size_t argc, n, per_op;
    char numkeys[24];
} script_args;

static bool script_args_init(rd_state *s, script_args *a, size_t n, size_t per_op,
                             size_t key_bytes)
{
    memset(a, 0, sizeof *a);
    a->n = n;
    a->per_op = per_op;
    a->argc = 5 + n + per_op * n;
    a->buf = ft_malloc(key_bytes + 24 * n + 1);
    a->argv = ft_calloc(a->argc, sizeof *a->argv);
    a->lens = ft_calloc(a->argc, sizeof *a->lens);
    if (a->buf == NULL || a->argv == NULL || a->lens == NULL)
        return false;
    snprintf(a->numkeys, sizeof a->numkeys, "%zu", n + 2);
    a->argv[2] = a->numkeys;
    a->lens[2] = strlen(a->numkeys);
    a->argv[3] = s->index_key;
    a->lens[3] = s->index_key_len;
    a->argv[4] = s->expiry_key;
    a->lens[4] = s->expiry_key_len;
    return true;
}

/* Room a key takes in script_args' buffer: its data key and member. */
static size_t script_key_bytes(rd_state *s, ft_kv_key key)
{
    return datakey_len(s, key) + ft_kv__key_encoded_len(key);
}

/* ARGV slot k of op i. */
static void script_arg(script_args *a, size_t i, size_t k, const char *p, size_t len)
{
    a->argv[5 + a->n + a->per_op * i + k] = p;
    a->lens[5 + a->n + a->per_op * i + k] = len;
}

/* Data key i, and its index member as ARGV slot k of op i. */
static void script_key(rd_state *s, script_args *a, size_t i, ft_kv_key key, size_t k)
{
    size_t kl = datakey_len(s, key), ml = ft_kv__key_encoded_len(key);
    datakey_into(s, key, a->buf + a->w);
    a->argv[5 + i] = a->buf + a->w;
    a->lens[5 + i] = kl;
    a->w += kl;
    ft_kv__key_encode_into(key, a->buf + a->w);
    script_arg(a, i, k, a->buf + a->w, ml);
    a->w += ml;
}

/* A TTL (0 when none or not a put) as ARGV slot k of op i. */
static void script_ttl(script_args *a, size_t i, size_t k, int64_t ttl_ms)
{
    int tl = snprintf(a->buf + a->w, 24, "%lld", ttl_ms > 0 ? (long long)ttl_ms : 0LL);
    script_arg(a, i, k, a->buf + a->w, (size_t)tl);
    a->w += (size_t)tl + 1;
}

static void script_args_free(script_args *a)
{
    ft_free(a->buf);
    ft_free(a->argv);
    ft_free(a->lens);
}

static ft_code rd_batch(void *state, const ft_kv_op *ops, size_t n,
                        ft_err *err)
{
    rd_state *s = state;
    size_t cap = 0;
    for (size_t i = 0; i < n; i++)
        cap += script_key_bytes(s, ops[i].key);
    script_args a;
    ft_code rc = FT_OK;
    ft_arena *z = NULL; /* compressed values */
    if (!script_args_init(s, &a, n, 4, cap)) {
        rc = ft_err_set(err, FT_NOMEM, 0, "out of memory in batch");
        goto out;
    }
    for (size_t i = 0; i < n && rc == FT_OK; i++) {
        const ft_kv_op *op = &ops[i];
        bool set = op->type == FT_KV_SET;
        ft_str v = set ? op->value : (ft_str){"", 0};
        bool frame = set && ft_kv__is_frame(v);
        if (set && ((op->compressible && s->compress) || frame)) {
            if (z == NULL && (z = ft_arena_create(0)) == NULL)
                rc = ft_err_set(err, FT_NOMEM, 0, "out of memory in batch");
            else
                rc = ft_kv__compress(z, op->value, frame, &v, err);
        }
        script_arg(&a, i, 0, set ? "s" : "d", 1);
        script_key(s, &a, i, op->key, 1);
        script_arg(&a, i, 2, v.len ? v.ptr : "", v.len);
        script_ttl(&a, i, 3, set ? op->ttl_ms : 0);
    }
    if (rc != FT_OK)
        goto out;
    redisReply *r;
    /* SETs and DELs with relative TTLs: sending them again is harmless */
    rc = eval(s, SCRIPT_BATCH, a.argv, a.lens, (int)a.argc, true, "batch", &r, err);
    if (rc == FT_OK) {
        if (r->type != REDIS_REPLY_INTEGER)
            rc = unexpected(s, err, "batch");
        freeReplyObject(r);
    }
out:
    script_args_free(&a);
    ft_arena_destroy(z);
    return rc;
}

/* "[" / "(" + bytes, in the arena. */
static char *bound(ft_arena *a, char mark, ft_str b, size_t *len)
{
    char *p = ft_arena_alloc(a, b.len + 1);
    if (p == NULL)
        return NULL;
    p[0] = mark;
    if (b.len)
        memcpy(p + 1, b.ptr, b.len);
    *len = b.len + 1;
    return p;
}

/* The ZRANGEBYLEX bounds of the keys under a prefix (p, encoded): [p, p
 * with its last byte -- the terminator's 0x01 -- raised); everything for
 * the empty prefix.  *end: that raised copy (empty then). */
static bool prefix_range(ft_arena *a, ft_kv_key prefix, ft_str p, const char **lo,
                         size_t *lo_len, const char **hi, size_t *hi_len, ft_str *end)
{
    *lo = "-";
    *hi = "+";
    *lo_len = *hi_len = 1;
    *end = (ft_str){NULL, 0};
    if (prefix.n == 0)
        return true;
    char *e = ft_arena_memdup(a, p.ptr, p.len);
    if (e == NULL)
        return false;
    e[p.len - 1]++;
    *end = (ft_str){e, p.len};
    *lo = bound(a, '[', p, lo_len);
    *hi = bound(a, '(', *end, hi_len);
    return *lo != NULL && *hi != NULL;
}

static ft_code rd_list(void *state, ft_kv_key prefix,
                       const ft_kv_list_opts *opts, ft_arena *arena,
                       ft_kv_entry **out, size_t *n_out, ft_err *err)
{
    rd_state *s = state;
    ft_str p, c = {NULL, 0};
    ft_code rc = ft_kv__key_encode(prefix, arena, &p, err);
    if (rc == FT_OK && opts->start_after != NULL)
        rc = ft_kv__key_encode(*opts->start_after, arena, &c, err);
    if (rc != FT_OK)
        return rc;
    const char *lo, *hi;
    size_t lo_len, hi_len;
    ft_str p_end;
    if (!prefix_range(arena, prefix, p, &lo, &lo_len, &hi, &hi_len, &p_end))
        return ft_err_set(err, FT_NOMEM, 0, "out of memory listing keys");
    if (opts->start_after != NULL) {
        if (!opts->reverse && (prefix.n == 0 || ft_kv__bytes_cmp(c, p) >= 0))
            lo = bound(arena, '(', c, &lo_len);
        if (opts->reverse && (prefix.n == 0 || ft_kv__bytes_cmp(c, p_end) < 0))
            hi = bound(arena, '(', c, &hi_len);
    }
    if (lo == NULL || hi == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory listing keys");

    ft_kv_entries res = {0};
    for (;;) {
        size_t want = LIST_PAGE;
        if (opts->limit && opts->limit - res.n < want)
            want = opts->limit - res.n;
        char wbuf[24];
        snprintf(wbuf, sizeof wbuf, "%zu", want);
        const char *argv[9] = {NULL, NULL, "1", s->index_key, s->prefix, lo, hi,
                               opts->reverse ? "1" : "0", wbuf};
        size_t lens[9] = {0, 0, 1, s->index_key_len, s->prefix_len, lo_len,
                          hi_len, 1, strlen(wbuf)};
        redisReply *r;
        rc = eval(s, SCRIPT_LIST, argv, lens, 9, true, "list", &r, err);
        if (rc != FT_OK)
            return rc;
        bool ended = true;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
            r->elements % 2 != 0 || r->element[0]->type != REDIS_REPLY_INTEGER ||
            r->element[1]->type != REDIS_REPLY_STRING) {
            rc = unexpected(s, err, "list");
        } else {
            ended = r->element[0]->integer == 1;
            for (size_t i = 2; i + 1 < r->elements && rc == FT_OK; i += 2) {
                const redisReply *m = r->element[i], *v = r->element[i + 1];
                if (m->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
                    rc = unexpected(s, err, "list");
                    break;
                }
                ft_str val;
                if ((rc = value_out(arena, v->str, v->len, &val, err)) == FT_OK)
                    rc = ft_kv__entries_push_encoded(&res, arena, (ft_str){m->str, m->len},
                                                     val, err);
                if (rc == FT_CORRUPT)
                    ft_err_prefix(err, s->index_key);
            }
            const redisReply *last = r->element[1];
            if (rc == FT_OK && !ended && last->len > 0) {
                const char **edge = opts->reverse ? &hi : &lo;
                size_t *edge_len = opts->reverse ? &hi_len : &lo_len;
                *edge = bound(arena, '(', (ft_str){last->str, last->len}, edge_len);
                if (*edge == NULL)
                    rc = ft_err_set(err, FT_NOMEM, 0, "out of memory listing keys");
            } else if (last->len == 0) {
                ended = true;
            }
        }
        freeReplyObject(r);
        if (rc != FT_OK)
            return rc;
        if (ended || (opts->limit && res.n >= opts->limit))
            break;
    }
    *out = res.items;
    *n_out = res.n;
    return FT_OK;
}

/* Ranges per script call, and members per range in it. */
#define LIST_MANY_RANGES 256
#define LIST_MANY_CAP 256

static ft_code rd_list_many(void *state, const ft_kv_key *prefixes, size_t n, ft_arena *arena,
                            ft_kv_entry **out, size_t *counts, ft_err *err)
{
    rd_state *s = state;
    static const ft_kv_list_opts all = {false, NULL, 0};
    for (size_t first = 0; first < n; first += LIST_MANY_RANGES) {
        size_t m = n - first < LIST_MANY_RANGES ? n - first : LIST_MANY_RANGES;
        size_t argc = 6 + 2 * m;
        const char **argv = ft_arena_alloc(arena, argc * sizeof *argv);
        size_t *lens = ft_arena_alloc(arena, argc * sizeof *lens);
        if (argv == NULL || lens == NULL)
            return ft_err_set(err, FT_NOMEM, 0, "out of memory listing keys");
        char cap[24];
        snprintf(cap, sizeof cap, "%d", LIST_MANY_CAP);
        argv[2] = "1";
        lens[2] = 1;
        argv[3] = s->index_key;
        lens[3] = s->index_key_len;
        argv[4] = s->prefix;
        lens[4] = s->prefix_len;
        argv[5] = cap;
        lens[5] = strlen(cap);
        for (size_t i = 0; i < m; i++) {
            ft_str p, end;
            ft_code rc = ft_kv__key_encode(prefixes[first + i], arena, &p, err);
            if (rc != FT_OK)
                return rc;
            if (!prefix_range(arena, prefixes[first + i], p, &argv[6 + 2 * i], &lens[6 + 2 * i],
                              &argv[7 + 2 * i], &lens[7 + 2 * i], &end))
                return ft_err_set(err, FT_NOMEM, 0, "out of memory listing keys");
        }
        redisReply *r;
        ft_code rc = eval(s, SCRIPT_LIST_MANY, argv, lens, (int)argc, true, "list", &r, err);
        if (rc != FT_OK)
            return rc;
        size_t at = 0;
        bool bad = r->type != REDIS_REPLY_ARRAY;
        for (size_t i = 0; i < m && !bad && rc == FT_OK; i++) {
            if (at >= r->elements || r->element[at]->type != REDIS_REPLY_INTEGER) {
                bad = true;
                break;
            }
            long long cnt = r->element[at++]->integer;
            if (cnt < 0) { /* more than the cap: a list of its own */
                rc = rd_list(s, prefixes[first + i], &all, arena, &out[first + i],
                             &counts[first + i], err);
                continue;
            }
            if ((size_t)cnt > (r->elements - at) / 2) {
                bad = true;
                break;
            }
            ft_kv_entries res = {0};
            for (long long k = 0; k < cnt && rc == FT_OK; k++, at += 2) {
                const redisReply *mb = r->element[at], *v = r->element[at + 1];
                if (mb->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
                    bad = true;
                    break;
                }
                ft_str val;
                if ((rc = value_out(arena, v->str, v->len, &val, err)) == FT_OK)
                    rc = ft_kv__entries_push_encoded(&res, arena, (ft_str){mb->str, mb->len},
                                                     val, err);
                if (rc == FT_CORRUPT)
                    ft_err_prefix(err, s->index_key);
            }
            out[first + i] = res.items;
            counts[first + i] = res.n;
        }
        if (bad && rc == FT_OK)
            rc = unexpected(s, err, "list");
        freeReplyObject(r);
        if (rc != FT_OK)
            return rc;
    }
    return FT_OK;
}

/* A value a swap cannot take here: one that starts with the zstd magic
 * is kept as a frame of itself, so the bytes to compare would differ. */
static ft_code cas_refused(const ft_str *expected, const ft_str *value, ft_err *err)
{
    if ((expected && ft_kv__is_frame(*expected)) || (value && ft_kv__is_frame(*value)))
        return ft_err_set(err, FT_INVAL, 0,
                          "redis: compare-and-swap of a value that starts with the zstd "
                          "frame magic (28 B5 2F FD) is not supported");
    return FT_OK;
}

static ft_code rd_cas(void *state, ft_kv_key key, const ft_str *expected,
                      const ft_str *value, int64_t ttl_ms, ft_err *err)
{
    rd_state *s = state;
    ft_code refused = cas_refused(expected, value, err);
    if (refused != FT_OK)
        return refused;
    size_t kl = datakey_len(s, key), ml = ft_kv__key_encoded_len(key);
    char *buf = ft_malloc(kl + ml + 1);
    if (buf == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory in cas");
    datakey_into(s, key, buf);
    ft_kv__key_encode_into(key, buf + kl);
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld",
             value != NULL && ttl_ms > 0 ? (long long)ttl_ms : 0LL);
    const char *argv[12] = {
        NULL, NULL, "3", buf, s->index_key, s->expiry_key, buf + kl,
        expected == NULL ? "1" : "0",
        expected != NULL && expected->len ? expected->ptr : "",
        value == NULL ? "1" : "0",
        value != NULL && value->len ? value->ptr : "",
        ttl,
    };
    size_t lens[12] = {0, 0, 1, kl, s->index_key_len, s->expiry_key_len, ml, 1,
                       expected ? expected->len : 0, 1, value ? value->len : 0,
                       strlen(ttl)};
    redisReply *r;
    /* not retried: a swap whose reply was lost would be reported as a
     * conflict when sent again */
    ft_code rc = eval(s, SCRIPT_CAS, argv, lens, 12, false, "cas", &r, err);
    ft_free(buf);
    if (rc != FT_OK)
        return rc;
    if (r->type != REDIS_REPLY_INTEGER)
        rc = unexpected(s, err, "cas");
    else
        rc = r->integer == 1 ? FT_OK : FT_CONFLICT;
    freeReplyObject(r);
    return rc;
}

/* All the swaps in one script: one round trip (and, with appendfsync
 * always, one fsync) for the lot. */
static ft_code rd_cas_many(void *state, ft_kv_cas_op *ops, size_t n, ft_err *err)
{
    rd_state *s = state;
    for (size_t i = 0; i < n; i++) {
        ft_code refused = cas_refused(ops[i].expected, ops[i].value, err);
        if (refused != FT_OK)
            return refused;
    }
    size_t cap = 0;
    for (size_t i = 0; i < n; i++)
        cap += script_key_bytes(s, ops[i].key);
    script_args a;
    ft_code rc = FT_OK;
    if (!script_args_init(s, &a, n, 6, cap)) {
        rc = ft_err_set(err, FT_NOMEM, 0, "out of memory in cas");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const ft_kv_cas_op *op = &ops[i];
        script_key(s, &a, i, op->key, 0);
        script_arg(&a, i, 1, op->expected == NULL ? "1" : "0", 1);
        script_arg(&a, i, 2, op->expected != NULL && op->expected->len ? op->expected->ptr : "",
                   op->expected ? op->expected->len : 0);
        script_arg(&a, i, 3, op->value == NULL ? "1" : "0", 1);
        script_arg(&a, i, 4, op->value != NULL && op->value->len ? op->value->ptr : "",
                   op->value ? op->value->len : 0);
        script_ttl(&a, i, 5, op->value != NULL ? op->ttl_ms : 0);
    }
    redisReply *r;
    /* not retried: a swap whose reply was lost would be reported as a
     * conflict when sent again */
    rc = eval(s, SCRIPT_CAS_MANY, a.argv, a.lens, (int)a.argc, false, "cas", &r, err);
    if (rc == FT_OK) {
        if (r->type != REDIS_REPLY_ARRAY || r->elements != n)
            rc = unexpected(s, err, "cas");
        for (size_t i = 0; i < n && rc == FT_OK; i++) {
            if (r->element[i]->type != REDIS_REPLY_INTEGER) {
                rc = unexpected(s, err, "cas");
                break;
            }
            ops[i].result = r->element[i]->integer == 1 ? FT_OK : FT_CONFLICT;
        }
        freeReplyObject(r);
    }
out:
    script_args_free(&a);
    return rc;
}

static ft_code rd_sweep(void *state, size_t max, size_t *removed, ft_err *err)
{
    rd_state *s = state;
    size_t total = 0;
    for (;;) {
        size_t chunk = SWEEP_CHUNK;
        if (max && max - total < chunk)
            chunk = max - total;
        char cbuf[24];
        snprintf(cbuf, sizeof cbuf, "%zu", chunk);
        const char *argv[7] = {NULL, NULL, "2", s->index_key, s->expiry_key,
                               s->prefix, cbuf};
        size_t lens[7] = {0, 0, 1, s->index_key_len, s->expiry_key_len,
                          s->prefix_len, strlen(cbuf)};
        redisReply *r;
        ft_code rc = eval(s, SCRIPT_SWEEP, argv, lens, 7, true, "sweep", &r, err);
        if (rc != FT_OK) {
            *removed = total;
            return rc;
        }
        bool more = false;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_INTEGER ||
            r->element[1]->type != REDIS_REPLY_INTEGER) {
            rc = unexpected(s, err, "sweep");
        } else {
            total += (size_t)r->element[0]->integer;
            more = (size_t)r->element[1]->integer == chunk;
        }
        freeReplyObject(r);
        if (rc != FT_OK) {
            *removed = total;
            return rc;
        }
        if (!more || (max && total >= max))
            break;
    }
    /* a full sweep also goes on indexing keys written by others (Fedify)
     * and dropping members of keys deleted by others, a bounded step at a
     * time (not with reindex=0) */
    ft_code rc = FT_OK;
    if (max == 0 && s->rebuild)
        rc = rebuild(s, SWEEP_REBUILD_STEPS, &total, err);
    *removed = total;
    return rc;
}

static ft_code rd_stats(void *state, ft_kv_stats *st, ft_err *err)
{
    rd_state *s = state;
    const char *a1[2] = {"ZCARD", s->index_key};
    size_t l1[2] = {5, s->index_key_len};
    const char *a2[2] = {"ZCARD", s->expiry_key};
    size_t l2[2] = {5, s->expiry_key_len};
    rd_cmd cmds[2] = {{2, a1, l1}, {2, a2, l2}};
    redisReply *r[2];
    ft_code rc = roundtrip(s, cmds, 2, r, true, "ZCARD", err);
    if (rc != FT_OK)
        return rc;
    for (int i = 0; i < 2 && rc == FT_OK; i++) {
        if (r[i]->type == REDIS_REPLY_ERROR)
            rc = reply_error(s, r[i], err, "ZCARD");
        else if (r[i]->type != REDIS_REPLY_INTEGER)
            rc = unexpected(s, err, "ZCARD");
    }
    if (rc == FT_OK) {
        st->entries = (uint64_t)r[0]->integer;
        st->expiring = (uint64_t)r[1]->integer;
        st->pages_used = st->bytes_used = st->bytes_max = 0;
    }
    free_replies(r, 2);
    return rc;
}

const ft_kv_backend ft_kv__redis_backend = {
    .version = FT_KV_BACKEND_VERSION,
    .scheme = "redis",
    .caps = FT_KV_CAP_LIST | FT_KV_CAP_CAS,
    .open = rd_open,
    .close = rd_close,
    .get = rd_get,
    .batch = rd_batch,
    .list = rd_list,
    .cas = rd_cas,
    .cas_many = rd_cas_many,
    .get_many = rd_get_many,
    .list_many = rd_list_many,
    .sweep = rd_sweep,
    .stats = rd_stats,
};
