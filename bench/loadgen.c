/*
 * loadgen.c - ft_loadgen, a load generator for fedtrace's OTLP/HTTP receiver.
 *
 * It builds Fedify-shaped traces from a seeded PRNG (so every run with the
 * same options sends the same bytes), encodes them as OTLP
 * ExportTraceServiceRequest protobuf bodies of --batch spans each, and sends
 * them as POST /v1/traces over --connections keep-alive HTTP/1.1
 * connections, one thread per connection, each request sent as soon as the
 * previous response has been read (a closed loop).  It reports spans per
 * second, requests per second and the request latency distribution.
 *
 * Bodies are encoded before the clock starts, into a pool per connection
 * (bounded by --pool-mb).  When a connection has sent its whole pool it
 * starts over, first rewriting the trace ids in each body (an XOR with a
 * key per pass) so that the server never sees the same trace twice, and
 * moving every timestamp forward by the time the pool spans, so that each
 * pass comes after the one before as time goes on in a real server.
 *
 * The traces mimic what Fedify 2.3.6 exports (see tests/data/fedify-2.3.6):
 *   - inbound deliveries: POST /users/{identifier}/inbox (SERVER) ->
 *     activitypub.inbox (PRODUCER, event activitypub.activity.received with
 *     1-3 KB of activity JSON and signature results) -> http_signatures.verify,
 *     activitypub.fetch_key, activitypub.parse_object, ...; then the queue's
 *     activitypub.inbox (CONSUMER) -> activitypub.dispatch_inbox_listener;
 *   - outbound sends: activitypub.fanout (PRODUCER) -> activitypub.outbox
 *     (CONSUMER) -> activitypub.send_activity (CLIENT, event
 *     activitypub.activity.sent) -> http_signatures.sign, and the LD / object
 *     integrity signing spans;
 *   - actor fetches: GET /users/{identifier} -> activitypub.dispatch_actor ->
 *     activitypub.dispatch_actor_key_pairs;
 *   - object lookups: activitypub.lookup_object with a fetched-object event
 *     and a tree of activitypub.parse_object spans.
 * About one span in twenty carries an activity event, as in the fixtures;
 * --activity-every 1 gives every span one (the worst case for a store of
 * activity records).
 *
 * --dump FILE writes the first body; --dump-dir DIR every body a
 * --requests run would send, so that another program (bench/fedify/
 * replay.mjs) can replay exactly the same spans.
 *
 * The protobuf writer (ft_pbw, tests/helpers/ft_test_util.h) and the
 * HTTP/1.1 client (ft_http_conn, tests/helpers/ft_http.h) are the tests'
 * helpers.
 *
 * Output: one machine-readable line starting with "result " (key=value
 * pairs), then one line for people.  Exit status 0 on success, 1 on any
 * error (connection failure, a response other than 200, a malformed
 * response), 2 on bad usage.
 */
#include "ft_http.h"
#include "ft_test_util.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* ---- small utilities ------------------------------------------------------ */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "ft_loadgen: out of memory\n");
        exit(1);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "ft_loadgen: out of memory\n");
        exit(1);
    }
    return p;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: a tiny, well-mixed PRNG; the state is one word. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static uint64_t rng_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
    return lo + rng_next(s) % (hi - lo + 1);
}

/* True with probability pct/100. */
static bool rng_pct(uint64_t *s, unsigned pct)
{
    return rng_next(s) % 100 < pct;
}

static uint64_t mix64(uint64_t x)
{
    return rng_next(&x);
}

/* ---- growable text buffer -------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_reserve(sbuf *b, size_t n)
{
    if (b->cap - b->len > n)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= n)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

static void sb_put(sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b,
                                                            const char *fmt,
                                                            ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    sb_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void sb_clear(sbuf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

/* ---- OTLP pieces ----------------------------------------------------------- */

/* Field numbers of opentelemetry/proto/trace/v1 and common/v1. */
enum {
    REQ_RESOURCE_SPANS = 1,
    RS_RESOURCE = 1,
    RS_SCOPE_SPANS = 2,
    RES_ATTRIBUTES = 1,
    SS_SCOPE = 1,
    SS_SPANS = 2,
    SCOPE_NAME = 1,
    SCOPE_VERSION = 2,
    SPAN_TRACE_ID = 1,
    SPAN_SPAN_ID = 2,
    SPAN_PARENT_SPAN_ID = 4,
    SPAN_NAME = 5,
    SPAN_KIND = 6,
    SPAN_START = 7,
    SPAN_END = 8,
    SPAN_ATTRIBUTES = 9,
    SPAN_EVENTS = 11,
    SPAN_STATUS = 15,
    SPAN_FLAGS = 16,
    EVENT_TIME = 1,
    EVENT_NAME = 2,
    EVENT_ATTRIBUTES = 3,
    STATUS_MESSAGE = 2,
    STATUS_CODE = 3,
    KV_KEY = 1,
    KV_VALUE = 2,
    AV_STRING = 1,
    AV_BOOL = 2,
    AV_INT = 3,
    AV_ARRAY = 5,
    ARR_VALUES = 1,
};

enum { KIND_INTERNAL = 1, KIND_SERVER, KIND_CLIENT, KIND_PRODUCER, KIND_CONSUMER };
enum { STATUS_UNSET = 0, STATUS_OK = 1, STATUS_ERROR = 2 };

/* W3C trace flags as the JS SDK sends them: sampled, plus "parent is
 * remote" bits (0x100 known, 0x200 remote) */
#define FLAGS_LOCAL 0x101u
#define FLAGS_REMOTE 0x301u

static void kv_strn(ft_pbw *b, uint32_t field, const char *key,
                    const char *v, size_t n)
{
    ft_pbw_begin(b, field);
    ft_pbw_str(b, KV_KEY, key);
    ft_pbw_begin(b, KV_VALUE);
    ft_pbw_bytes(b, AV_STRING, v, n);
    ft_pbw_end(b);
    ft_pbw_end(b);
}

static void kv_str(ft_pbw *b, uint32_t field, const char *key, const char *v)
{
    kv_strn(b, field, key, v, strlen(v));
}

/* A string array of one element (how Fedify records request headers on
 * server spans), or an empty array when v is NULL. */
static void kv_arr(ft_pbw *b, uint32_t field, const char *key, const char *v)
{
    ft_pbw_begin(b, field);
    ft_pbw_str(b, KV_KEY, key);
    ft_pbw_begin(b, KV_VALUE);
    ft_pbw_begin(b, AV_ARRAY);
    if (v != NULL) {
        ft_pbw_begin(b, ARR_VALUES);
        ft_pbw_str(b, AV_STRING, v);
        ft_pbw_end(b);
    }
    ft_pbw_end(b);
    ft_pbw_end(b);
    ft_pbw_end(b);
}

/* A key with a varint value: AnyValue field `av` (AV_INT, AV_BOOL). */
static void kv_varint(ft_pbw *b, uint32_t field, const char *key, uint32_t av,
                      uint64_t v)
{
    ft_pbw_begin(b, field);
    ft_pbw_str(b, KV_KEY, key);
    ft_pbw_begin(b, KV_VALUE);
    ft_pbw_varint(b, av, v);
    ft_pbw_end(b);
    ft_pbw_end(b);
}

static void kv_int(ft_pbw *b, uint32_t field, const char *key, int64_t v)
{
    kv_varint(b, field, key, AV_INT, (uint64_t)v);
}

static void kv_bool(ft_pbw *b, uint32_t field, const char *key, bool v)
{
    kv_varint(b, field, key, AV_BOOL, v ? 1 : 0);
}

/* ---- the trace generator --------------------------------------------------- */

enum { SCOPE_FEDIFY, SCOPE_VOCAB_TOOLS, SCOPE_VOCAB, N_SCOPES };

static const char *const scope_names[N_SCOPES] = {
    "@fedify/fedify", "@fedify/vocab-tools", "@fedify/vocab"};

typedef struct gspan {
    uint8_t *p; /* the Span message's fields (malloc'd) */
    size_t len;
    size_t tid_off; /* where its trace id starts */
    size_t time_off[8]; /* where its timestamps (fixed64) start */
    size_t ntime;
    int scope;
    bool activity_event;
} gspan;

typedef struct gen {
    uint64_t rng;
    char service[32]; /* fedify-a, fedify-b, ... */
    char origin[64];  /* https://a.example */
    uint64_t clock;   /* unix ns of the next trace's start */
    gspan *q;         /* spans of the current trace not yet taken */
    size_t qhead, qlen, qcap;
    ft_pbw span;      /* the span being written (span_open) */
    sbuf json, tmp, tmp2;
    uint8_t tid[16]; /* the current trace */
    /* --activity-every N: every Nth span (counting all spans generated)
     * that carries no activity event gets one; 0: off */
    uint64_t activity_every;
    uint64_t nspans;                  /* spans closed so far */
    uint64_t span_start, span_end;    /* of the span being written */
    sbuf xjson, xmid, xtail;          /* the added events' activity JSON */
} gen;

static const char *const peers[] = {
    "https://mastodon.example", "https://gts.example",
    "https://misskey.example",  "https://pleroma.example",
    "https://b.example",        "https://social.example",
};
#define N_PEERS (sizeof peers / sizeof peers[0])

static const char *const users[] = {"alice", "bob",  "carol", "dave",
                                    "erin",  "frank", "grace", "heidi"};
#define N_USERS (sizeof users / sizeof users[0])

static const char *const words[] = {
    "the",    "federated", "timeline", "is",      "quiet",  "today",
    "but",    "my",        "inbox",    "keeps",   "getting", "new",
    "boosts", "from",      "friends",  "across",  "several", "servers",
    "and",    "a",         "few",      "long",    "threads", "about",
    "tea",    "gardens",   "trains",   "weather", "music",  "code",
};
#define N_WORDS (sizeof words / sizeof words[0])

#define AS_NS "https://www.w3.org/ns/activitystreams#"

typedef struct act_kind {
    const char *type;
    unsigned weight;
} act_kind;

static const act_kind act_kinds[] = {
    {"Create", 34}, {"Like", 20}, {"Announce", 14}, {"Follow", 8},
    {"Accept", 8},  {"Undo", 6},  {"Update", 6},    {"Delete", 4},
};
#define N_ACT_KINDS (sizeof act_kinds / sizeof act_kinds[0])

static const char *pick_type(gen *g)
{
    unsigned total = 0;
    for (size_t i = 0; i < N_ACT_KINDS; i++)
        total += act_kinds[i].weight;
    unsigned r = (unsigned)(rng_next(&g->rng) % total);
    for (size_t i = 0; i < N_ACT_KINDS; i++) {
        if (r < act_kinds[i].weight)
            return act_kinds[i].type;
        r -= act_kinds[i].weight;
    }
    return act_kinds[0].type;
}

static void uuid(gen *g, char out[37])
{
    uint64_t a = rng_next(&g->rng), b = rng_next(&g->rng);
    snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16 & 0xffff), (unsigned)(a & 0xfff),
             (unsigned)(0x8000 | (b >> 48 & 0x3fff)),
             (unsigned long long)(b & 0xffffffffffffu));
}

/* n characters of the alphabet `set` */
static void rand_chars(gen *g, sbuf *b, const char *set, size_t n)
{
    size_t m = strlen(set);
    sb_reserve(b, n);
    for (size_t i = 0; i < n; i++)
        b->p[b->len++] = set[rng_next(&g->rng) % m];
    b->p[b->len] = '\0';
}

static const char B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char HEX[] = "0123456789abcdef";

static uint64_t new_span_id(gen *g)
{
    uint64_t id;
    do
        id = rng_next(&g->rng);
    while (id == 0);
    return id;
}

static void new_trace(gen *g)
{
    uint64_t a = rng_next(&g->rng), b = rng_next(&g->rng) | 1;
    for (int i = 0; i < 8; i++) {
        g->tid[i] = (uint8_t)(a >> (56 - 8 * i));
        g->tid[8 + i] = (uint8_t)(b >> (56 - 8 * i));
    }
}

static void span_id_bytes(uint64_t id, uint8_t out[8])
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(id >> (56 - 8 * i));
}

/* Starts a span of the current trace; add attributes and events to the
 * returned buffer, then call span_close (one span at a time).  parent 0
 * means a root span. */
/* A timestamp field, marked in the span's writer (the marks follow the
 * bytes when an enclosing message's length grows) so that passes can move
 * it (body_set_pass). */
static void time_field(ft_pbw *b, uint32_t field, uint64_t t)
{
    ft_pbw_fixed64(b, field, t);
    ft_pbw_mark(b, b->len - 8);
}

static ft_pbw *span_open(gen *g, int scope, uint64_t id, uint64_t parent,
                         const char *name, int kind, uint64_t start,
                         uint64_t end)
{
    if (g->qlen == g->qcap) {
        g->qcap = g->qcap ? g->qcap * 2 : 64;
        g->q = xrealloc(g->q, g->qcap * sizeof *g->q);
    }
    gspan *s = &g->q[g->qlen++];
    memset(s, 0, sizeof *s);
    s->scope = scope;
    g->span_start = start;
    g->span_end = end;
    ft_pbw *b = &g->span;
    ft_pbw_reset(b);
    uint8_t x[8];
    ft_pbw_bytes(b, SPAN_TRACE_ID, g->tid, 16);
    s->tid_off = b->len - 16;
    span_id_bytes(id, x);
    ft_pbw_bytes(b, SPAN_SPAN_ID, x, 8);
    if (parent != 0) {
        span_id_bytes(parent, x);
        ft_pbw_bytes(b, SPAN_PARENT_SPAN_ID, x, 8);
    }
    ft_pbw_str(b, SPAN_NAME, name);
    ft_pbw_varint(b, SPAN_KIND, (uint64_t)kind);
    time_field(b, SPAN_START, start);
    time_field(b, SPAN_END, end);
    return b;
}

static void added_activity_event(gen *g, ft_pbw *b);

/* Finishes the span span_open started and queues it.  With
 * --activity-every, first gives it an activity event if it is its turn and
 * it has none (mark_activity_event must come before span_close). */
static void span_close(gen *g, int status, const char *message,
                       uint32_t flags)
{
    ft_pbw *b = &g->span;
    gspan *cur = &g->q[g->qlen - 1];
    if (g->activity_every != 0 && !cur->activity_event &&
        g->nspans % g->activity_every == 0) {
        added_activity_event(g, b);
        cur->activity_event = true;
    }
    g->nspans++;
    ft_pbw_begin(b, SPAN_STATUS);
    if (message != NULL)
        ft_pbw_str(b, STATUS_MESSAGE, message);
    if (status != STATUS_UNSET)
        ft_pbw_varint(b, STATUS_CODE, (uint64_t)status);
    ft_pbw_end(b);
    ft_pbw_fixed32(b, SPAN_FLAGS, flags);
    gspan *s = &g->q[g->qlen - 1];
    s->p = xmalloc(b->len);
    memcpy(s->p, b->buf, b->len);
    s->len = b->len;
    if (b->nmark > sizeof s->time_off / sizeof s->time_off[0]) {
        fprintf(stderr, "ft_loadgen: a span with %zu timestamps\n", b->nmark);
        abort();
    }
    memcpy(s->time_off, b->mark, b->nmark * sizeof *b->mark);
    s->ntime = b->nmark;
}

/* The span being written carries an activity event (call before
 * span_close). */
static void mark_activity_event(gen *g)
{
    g->q[g->qlen - 1].activity_event = true;
}

/* Some words of text, about n bytes. */
static void lorem(gen *g, sbuf *b, size_t n)
{
    size_t start = b->len;
    bool first = true;
    while (b->len - start < n) {
        if (!first)
            sb_puts(b, " ");
        first = false;
        sb_puts(b, words[rng_next(&g->rng) % N_WORDS]);
    }
}

static void iso_time(uint64_t unix_ns, char out[32])
{
    time_t t = (time_t)(unix_ns / 1000000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void http_date(uint64_t unix_ns, char out[40])
{
    time_t t = (time_t)(unix_ns / 1000000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* JSON-LD term definitions as Mastodon-compatible servers inline them in
 * @context; activities carry a varying number of them. */
static const char *const ctx_terms[] = {
    "\"manuallyApprovesFollowers\":\"as:manuallyApprovesFollowers\"",
    "\"toot\":\"http://joinmastodon.org/ns#\"",
    "\"featured\":{\"@id\":\"toot:featured\",\"@type\":\"@id\"}",
    "\"featuredTags\":{\"@id\":\"toot:featuredTags\",\"@type\":\"@id\"}",
    "\"alsoKnownAs\":{\"@id\":\"as:alsoKnownAs\",\"@type\":\"@id\"}",
    "\"movedTo\":{\"@id\":\"as:movedTo\",\"@type\":\"@id\"}",
    "\"schema\":\"http://schema.org#\"",
    "\"PropertyValue\":\"schema:PropertyValue\"",
    "\"value\":\"schema:value\"",
    "\"discoverable\":\"toot:discoverable\"",
    "\"suspended\":\"toot:suspended\"",
    "\"memorial\":\"toot:memorial\"",
    "\"indexable\":\"toot:indexable\"",
    "\"sensitive\":\"as:sensitive\"",
    "\"Hashtag\":\"as:Hashtag\"",
    "\"Emoji\":\"toot:Emoji\"",
    "\"focalPoint\":{\"@container\":\"@list\",\"@id\":\"toot:focalPoint\"}",
    "\"blurhash\":\"toot:blurhash\"",
    "\"votersCount\":\"toot:votersCount\"",
    "\"misskey\":\"https://misskey-hub.net/ns#\"",
    "\"_misskey_quote\":\"misskey:_misskey_quote\"",
    "\"quoteUrl\":\"as:quoteUrl\"",
    "\"fedibird\":\"http://fedibird.com/ns#\"",
    "\"quoteUri\":\"fedibird:quoteUri\"",
    "\"Curve25519Key\":\"toot:Curve25519Key\"",
    "\"Device\":\"toot:Device\"",
    "\"publicKeyBase64\":\"toot:publicKeyBase64\"",
};
#define N_CTX_TERMS (sizeof ctx_terms / sizeof ctx_terms[0])

/* The JSON of an activity of `type` with id `id` by `actor` (a URL), into
 * j (mid and tail: scratch): 1 to 3 KB (a random target; Create and Update
 * reach it with the note's text, the others with @context terms as far as
 * those go). */
static void activity_json_into(gen *g, sbuf *j, sbuf *mid, sbuf *tail,
                               const char *type, const char *id,
                               const char *actor, const char *target_actor,
                               uint64_t when)
{
    char ts[32], u[37];
    iso_time(when, ts);
    size_t want = (size_t)rng_range(&g->rng, 1024, 3072);
    bool note = strcmp(type, "Create") == 0 || strcmp(type, "Update") == 0;

    /* after @context, up to the note's text (if any) */
    sb_clear(mid);
    sb_printf(mid, "\"id\":\"%s\",\"type\":\"%s\",\"actor\":\"%s\","
                   "\"published\":\"%s\",",
              id, type, actor, ts);
    uuid(g, u);
    if (note) {
        sb_printf(mid,
                  "\"to\":[\"https://www.w3.org/ns/activitystreams#Public\"],"
                  "\"cc\":[\"%s/followers\"],"
                  "\"object\":{\"id\":\"%s/notes/%s\",\"type\":\"Note\","
                  "\"attributedTo\":\"%s\",\"published\":\"%s\","
                  "\"content\":\"<p>",
                  actor, actor, u, actor, ts);
    } else if (strcmp(type, "Follow") == 0 || strcmp(type, "Delete") == 0 ||
               strcmp(type, "Announce") == 0) {
        sb_printf(mid, "\"object\":\"%s\",", target_actor);
        if (strcmp(type, "Announce") == 0)
            sb_puts(mid, "\"to\":[\"https://www.w3.org/ns/activitystreams"
                         "#Public\"],");
    } else {
        /* Accept, Like, Undo: an embedded object */
        const char *inner = strcmp(type, "Accept") == 0 ? "Follow" : "Like";
        sb_printf(mid,
                  "\"object\":{\"id\":\"%s/activities/%s\",\"type\":\"%s\","
                  "\"actor\":\"%s\",\"object\":\"%s\"},",
                  target_actor, u, inner, target_actor, actor);
    }

    /* the proofs */
    sb_clear(tail);
    if (note)
        sb_puts(tail, "</p>\"},");
    sb_printf(tail,
              "\"proof\":{\"type\":\"DataIntegrityProof\","
              "\"cryptosuite\":\"eddsa-jcs-2022\","
              "\"verificationMethod\":\"%s#multikey-2\","
              "\"proofPurpose\":\"assertionMethod\",\"created\":\"%s\","
              "\"proofValue\":\"z",
              actor, ts);
    rand_chars(g, tail,
               "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz",
               87);
    sb_printf(tail,
              "\"},\"signature\":{\"type\":\"RsaSignature2017\","
              "\"creator\":\"%s#main-key\",\"created\":\"%s\","
              "\"signatureValue\":\"",
              actor, ts);
    rand_chars(g, tail, B64, 342);
    sb_puts(tail, "==\"}}");

    /* @context: the usual URLs, then terms while they fit (a note gets a
     * random number of them and fills the rest with text) */
    sb_clear(j);
    sb_puts(j, "{\"@context\":[\"https://www.w3.org/ns/activitystreams\","
               "\"https://w3id.org/security/v1\","
               "\"https://w3id.org/security/data-integrity/v1\"");
    size_t max_terms = note ? (size_t)rng_range(&g->rng, 0, N_CTX_TERMS)
                            : N_CTX_TERMS;
    size_t n = 0, size = j->len + 2 + mid->len + tail->len + 2; /* ,{ } */
    while (n < max_terms && size + strlen(ctx_terms[n]) + 1 <= want)
        size += strlen(ctx_terms[n++]) + 1;
    for (size_t i = 0; i < n; i++) {
        sb_puts(j, i == 0 ? ",{" : ",");
        sb_puts(j, ctx_terms[i]);
    }
    if (n > 0)
        sb_puts(j, "}");
    sb_puts(j, "],");
    sb_put(j, mid->p, mid->len);
    if (note) {
        size_t used = j->len + tail->len;
        lorem(g, j, want > used + 16 ? want - used - 8 : 16);
    }
    sb_put(j, tail->p, tail->len);
}

/* The same into g->json (g->tmp and g->tmp2: scratch). */
static void activity_json(gen *g, const char *type, const char *id,
                          const char *actor, const char *target_actor,
                          uint64_t when)
{
    activity_json_into(g, &g->json, &g->tmp, &g->tmp2, type, id, actor,
                       target_actor, when);
}

/* --activity-every: an `activitypub.activity.received` event, as on the
 * inbox's PRODUCER span of a verified delivery (1-3 KB of activity JSON
 * from a remote actor to one of our users), in the middle of the span
 * being written.  Uses its own buffers: the trace generators may hold
 * g->json, g->tmp and g->tmp2 across span_close. */
static void added_activity_event(gen *g, ft_pbw *b)
{
    const char *peer = peers[rng_next(&g->rng) % N_PEERS];
    const char *sender = users[rng_next(&g->rng) % N_USERS];
    const char *recipient = users[rng_next(&g->rng) % N_USERS];
    const char *type = pick_type(g);
    char u[37], act_id[160], actor[128], key_id[160], target[128];
    uuid(g, u);
    snprintf(act_id, sizeof act_id, "%s/activities/%s", peer, u);
    snprintf(actor, sizeof actor, "%s/users/%s", peer, sender);
    snprintf(key_id, sizeof key_id, "%s#main-key", actor);
    snprintf(target, sizeof target, "%s/users/%s", g->origin, recipient);
    uint64_t when = g->span_end > g->span_start
                        ? g->span_start + (g->span_end - g->span_start) / 2
                        : g->span_start;
    activity_json_into(g, &g->xjson, &g->xmid, &g->xtail, type, act_id, actor,
                       target, when);
    ft_pbw_begin(b, SPAN_EVENTS);
    time_field(b, EVENT_TIME, when);
    ft_pbw_str(b, EVENT_NAME, "activitypub.activity.received");
    kv_strn(b, EVENT_ATTRIBUTES, "activitypub.activity.json", g->xjson.p,
            g->xjson.len);
    kv_bool(b, EVENT_ATTRIBUTES, "activitypub.activity.verified", true);
    kv_bool(b, EVENT_ATTRIBUTES, "ld_signatures.verified", false);
    kv_bool(b, EVENT_ATTRIBUTES, "http_signatures.verified", true);
    kv_str(b, EVENT_ATTRIBUTES, "http_signatures.key_id", key_id);
    ft_pbw_end(b);
}

/* The request headers of a signed POST to an inbox: attributes of the
 * server span (as one-element arrays) or of http_signatures.verify/sign
 * (as strings). */
static void signed_post_headers(gen *g, ft_pbw *b, bool arrays,
                                const char *url, const char *host,
                                size_t body_len, const char *key_id,
                                uint64_t when)
{
    char date[40], len[24];
    http_date(when, date);
    snprintf(len, sizeof len, "%zu", body_len);
    void (*put)(ft_pbw *, uint32_t, const char *, const char *) =
        arrays ? kv_arr : kv_str;
    kv_str(b, SPAN_ATTRIBUTES, "http.request.method", "POST");
    kv_str(b, SPAN_ATTRIBUTES, "url.full", url);
    put(b, SPAN_ATTRIBUTES, "http.request.header.accept", "*/*");
    put(b, SPAN_ATTRIBUTES, "http.request.header.accept-encoding",
        "gzip, deflate");
    put(b, SPAN_ATTRIBUTES, "http.request.header.connection", "keep-alive");
    put(b, SPAN_ATTRIBUTES, "http.request.header.content-length", len);
    put(b, SPAN_ATTRIBUTES, "http.request.header.content-type",
        "application/activity+json");
    sbuf *t = &g->tmp;
    sb_clear(t);
    sb_puts(t, "sha-256=:");
    rand_chars(g, t, B64, 43);
    sb_puts(t, "=:");
    put(b, SPAN_ATTRIBUTES, "http.request.header.content-digest", t->p);
    put(b, SPAN_ATTRIBUTES, "http.request.header.date", date);
    put(b, SPAN_ATTRIBUTES, "http.request.header.host", host);
    sb_clear(t);
    sb_puts(t, "sig1=:");
    rand_chars(g, t, B64, 682);
    sb_puts(t, "==:");
    put(b, SPAN_ATTRIBUTES, "http.request.header.signature", t->p);
    sb_clear(t);
    sb_printf(t,
              "sig1=(\"@method\" \"@target-uri\" \"@authority\" \"host\" "
              "\"date\" \"content-digest\");alg=\"rsa-v1_5-sha256\";"
              "keyid=\"%s\";created=%llu",
              key_id, (unsigned long long)(when / 1000000000u));
    put(b, SPAN_ATTRIBUTES, "http.request.header.signature-input", t->p);
    put(b, SPAN_ATTRIBUTES, "http.request.header.user-agent",
        "Fedify/2.3.6 (Node.js/22.23.3)");
}

static void parse_object_tree(gen *g, uint64_t parent, const char *object_id,
                              const char *object_type, uint64_t start,
                              int count)
{
    uint64_t p = parent;
    for (int i = 0; i < count; i++) {
        uint64_t id = new_span_id(g);
        uint64_t s = start + (uint64_t)i * 20000;
        ft_pbw *b = span_open(g, SCOPE_VOCAB_TOOLS, id, p,
                              "activitypub.parse_object", KIND_INTERNAL, s,
                              s + rng_range(&g->rng, 10000, 900000));
        if (rng_pct(&g->rng, 70)) {
            char full[96];
            snprintf(full, sizeof full, AS_NS "%s", object_type);
            kv_arr(b, SPAN_ATTRIBUTES, "activitypub.object.type", full);
        }
        kv_str(b, SPAN_ATTRIBUTES, "activitypub.object.id", object_id);
        span_close(g, STATUS_UNSET, NULL, FLAGS_LOCAL);
        if (rng_pct(&g->rng, 50))
            p = id; /* nest some of them, as Fedify's parser does */
    }
}

static void key_pairs_span(gen *g, uint64_t parent, const char *user,
                           uint64_t start)
{
    char actor[128];
    snprintf(actor, sizeof actor, "%s/users/%s", g->origin, user);
    /* one draw per statement: argument order is unspecified in C */
    uint64_t kp_id = new_span_id(g);
    uint64_t kp_end = start + rng_range(&g->rng, 10000, 600000);
    ft_pbw *b = span_open(g, SCOPE_FEDIFY, kp_id, parent,
                          "activitypub.dispatch_actor_key_pairs", KIND_SERVER,
                          start, kp_end);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.actor.id", actor);
    kv_str(b, SPAN_ATTRIBUTES, "fedify.actor.identifier", user);
    span_close(g, STATUS_UNSET, NULL, FLAGS_LOCAL);
}

/* An activity delivered to one of our inboxes by a remote server. */
static void trace_inbox(gen *g, uint64_t t0)
{
    const char *peer = peers[rng_next(&g->rng) % N_PEERS];
    const char *sender = users[rng_next(&g->rng) % N_USERS];
    const char *recipient = users[rng_next(&g->rng) % N_USERS];
    const char *type = pick_type(g);
    bool shared = rng_pct(&g->rng, 40);
    int failure = rng_pct(&g->rng, 4) ? (rng_pct(&g->rng, 50) ? 1 : 2) : 0;
    bool ld_verified = failure == 0 && rng_pct(&g->rng, 30);
    bool http_verified = failure == 0 && !ld_verified;
    bool key_cached = rng_pct(&g->rng, 60);
    char u[37], act_id[160], actor[128], key_id[160], inbox[160], full_type[96];
    char host[64];
    uuid(g, u);
    snprintf(act_id, sizeof act_id, "%s/activities/%s", peer, u);
    snprintf(actor, sizeof actor, "%s/users/%s", peer, sender);
    snprintf(key_id, sizeof key_id, "%s#main-key", actor);
    if (shared)
        snprintf(inbox, sizeof inbox, "%s/inbox", g->origin);
    else
        snprintf(inbox, sizeof inbox, "%s/users/%s/inbox", g->origin,
                 recipient);
    snprintf(full_type, sizeof full_type, AS_NS "%s", type);
    snprintf(host, sizeof host, "%s", g->origin + strlen("https://"));
    char target[128];
    snprintf(target, sizeof target, "%s/users/%s", g->origin, recipient);
    activity_json(g, type, act_id, actor, target, t0);

    uint64_t post = new_span_id(g), prod = new_span_id(g),
             verify = new_span_id(g), cons = new_span_id(g);
    uint64_t d_verify = rng_range(&g->rng, 2, 20) * 1000000u;
    uint64_t d_prod = d_verify + rng_range(&g->rng, 1, 10) * 1000000u;
    uint64_t d_post = d_prod + rng_range(&g->rng, 1, 3) * 1000000u;

    /* parse_object spans under the producer */
    parse_object_tree(g, prod, act_id, type, t0 + 1500000,
                      (int)rng_range(&g->rng, 3, 8));

    if (!key_cached) {
        ft_pbw *b = span_open(g, SCOPE_FEDIFY, new_span_id(g), verify,
                              "activitypub.fetch_key", KIND_CLIENT,
                              t0 + 2500000, t0 + 2500000 + d_verify / 2);
        kv_str(b, SPAN_ATTRIBUTES, "http.method", "GET");
        kv_str(b, SPAN_ATTRIBUTES, "url.full", key_id);
        kv_str(b, SPAN_ATTRIBUTES, "url.scheme", "https");
        kv_str(b, SPAN_ATTRIBUTES, "url.domain", peer + strlen("https://"));
        kv_str(b, SPAN_ATTRIBUTES, "url.path", actor + strlen(peer));
        kv_str(b, SPAN_ATTRIBUTES, "url.query", "");
        kv_str(b, SPAN_ATTRIBUTES, "url.fragment", "main-key");
        kv_bool(b, SPAN_ATTRIBUTES, "activitypub.actor.key.cached", false);
        span_close(g, failure == 2 ? STATUS_ERROR : STATUS_UNSET, NULL,
                   FLAGS_LOCAL);
    }

    ft_pbw *b = span_open(g, SCOPE_FEDIFY, verify, prod,
                          "http_signatures.verify", KIND_INTERNAL,
                          t0 + 2000000, t0 + 2000000 + d_verify);
    signed_post_headers(g, b, false, inbox, host, g->json.len, key_id, t0);
    kv_str(b, SPAN_ATTRIBUTES, "http_signatures.key_id", key_id);
    kv_str(b, SPAN_ATTRIBUTES, "http_signatures.algorithm", "rsa-v1_5-sha256");
    kv_bool(b, SPAN_ATTRIBUTES, "http_signatures.verified", http_verified);
    if (failure == 1)
        kv_str(b, SPAN_ATTRIBUTES, "http_signatures.failure_reason",
               "invalidSignature");
    if (failure == 2) {
        kv_str(b, SPAN_ATTRIBUTES, "http_signatures.failure_reason",
               "keyFetchError");
        kv_int(b, SPAN_ATTRIBUTES, "http_signatures.key_fetch_status", 404);
    }
    span_close(g, failure ? STATUS_ERROR : STATUS_UNSET, NULL, FLAGS_LOCAL);

    key_pairs_span(g, prod, recipient, t0 + 1000000);

    /* the producer span with the activity */
    b = span_open(g, SCOPE_FEDIFY, prod, post, "activitypub.inbox",
                  KIND_PRODUCER, t0 + 500000, t0 + 500000 + d_prod);
    kv_bool(b, SPAN_ATTRIBUTES, "activitypub.shared_inbox", shared);
    if (!shared)
        kv_str(b, SPAN_ATTRIBUTES, "fedify.inbox.recipient", recipient);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.id", act_id);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.type", full_type);
    if (failure == 0)
        kv_str(b, SPAN_ATTRIBUTES, "activitypub.actor.id", actor);
    ft_pbw_begin(b, SPAN_EVENTS);
    time_field(b, EVENT_TIME, t0 + 500000 + d_prod - 200000);
    ft_pbw_str(b, EVENT_NAME, "activitypub.activity.received");
    kv_strn(b, EVENT_ATTRIBUTES, "activitypub.activity.json", g->json.p,
            g->json.len);
    kv_bool(b, EVENT_ATTRIBUTES, "activitypub.activity.verified",
            failure == 0);
    kv_bool(b, EVENT_ATTRIBUTES, "ld_signatures.verified", ld_verified);
    kv_bool(b, EVENT_ATTRIBUTES, "http_signatures.verified", http_verified);
    kv_str(b, EVENT_ATTRIBUTES, "http_signatures.key_id",
           ld_verified ? "" : key_id);
    if (failure == 1)
        kv_str(b, EVENT_ATTRIBUTES, "http_signatures.failure_reason",
               "invalidSignature");
    if (failure == 2) {
        kv_str(b, EVENT_ATTRIBUTES, "http_signatures.failure_reason",
               "keyFetchError");
        kv_int(b, EVENT_ATTRIBUTES, "http_signatures.key_fetch_status", 404);
    }
    ft_pbw_end(b);
    mark_activity_event(g);
    if (failure)
        span_close(g, STATUS_ERROR,
                   "Failed to verify the request's HTTP Signatures.",
                   FLAGS_LOCAL);
    else
        span_close(g, STATUS_UNSET, NULL, FLAGS_LOCAL);

    /* the server span */
    b = span_open(g, SCOPE_FEDIFY, post, 0,
                  shared ? "POST /inbox" : "POST /users/{identifier}/inbox",
                  KIND_SERVER, t0, t0 + d_post);
    signed_post_headers(g, b, true, inbox, host, g->json.len, key_id, t0);
    kv_int(b, SPAN_ATTRIBUTES, "http.response.status_code",
           failure ? 401 : 202);
    kv_arr(b, SPAN_ATTRIBUTES, "http.response.header.content-type",
           "text/plain; charset=utf-8");
    span_close(g, STATUS_UNSET, NULL, FLAGS_LOCAL);

    if (failure)
        return;
    /* the queue consumer and the listener */
    uint64_t q0 = t0 + d_post + rng_range(&g->rng, 1, 50) * 100000u;
    uint64_t d_listen = rng_range(&g->rng, 1, 40) * 1000000u;
    char lname[80];
    snprintf(lname, sizeof lname, "activitypub.dispatch_inbox_listener %s",
             type);
    b = span_open(g, SCOPE_FEDIFY, new_span_id(g), cons, lname, KIND_INTERNAL,
                  q0 + 300000, q0 + 300000 + d_listen);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.type", full_type);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.id", act_id);
    span_close(g, STATUS_UNSET, NULL, FLAGS_LOCAL);
    b = span_open(g, SCOPE_FEDIFY, cons, prod, "activitypub.inbox",
                  KIND_CONSUMER, q0, q0 + 600000 + d_listen);
    kv_bool(b, SPAN_ATTRIBUTES, "activitypub.shared_inbox", shared);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.type", full_type);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.id", act_id);
    span_close(g, STATUS_UNSET, NULL, FLAGS_REMOTE);
}

/* One of our users sends an activity to 1-3 remote inboxes. */
static void trace_send(gen *g, uint64_t t0)
{
    const char *user = users[rng_next(&g->rng) % N_USERS];
    const char *type = pick_type(g);
    int n = (int)rng_range(&g->rng, 1, 3);
    char u[37], act_id[160], actor[128], full_type[96], key_id[160];
    uuid(g, u);
    snprintf(act_id, sizeof act_id, "%s/activities/%s", g->origin, u);
    snprintf(actor, sizeof actor, "%s/users/%s", g->origin, user);
    snprintf(full_type, sizeof full_type, AS_NS "%s", type);
    snprintf(key_id, sizeof key_id, "%s#main-key", actor);

    uint64_t fan = new_span_id(g);
    uint64_t d_fan = rng_range(&g->rng, 20, 70) * 1000000u;

    ft_pbw *b = span_open(g, SCOPE_FEDIFY, new_span_id(g), fan,
                          "object_integrity_proofs.sign", KIND_INTERNAL,
                          t0 + 1000000, t0 + 1000000 + d_fan / 3);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.object.type", full_type);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.object.id", act_id);
    kv_str(b, SPAN_ATTRIBUTES, "object_integrity_proofs.cryptosuite",
           "eddsa-jcs-2022");
    sbuf *t = &g->tmp;
    sb_clear(t);
    sb_printf(t, "%s#multikey-2", actor);
    kv_str(b, SPAN_ATTRIBUTES, "object_integrity_proofs.key_id", t->p);
    sb_clear(t);
    rand_chars(g, t, HEX, 128);
    kv_str(b, SPAN_ATTRIBUTES, "object_integrity_proofs.signature", t->p);
    span_close(g, STATUS_UNSET, NULL, FLAGS_LOCAL);

    b = span_open(g, SCOPE_FEDIFY, new_span_id(g), fan, "ld_signatures.sign",
                  KIND_INTERNAL, t0 + 1000000 + d_fan / 3,
                  t0 + 1000000 + 2 * d_fan / 3);
    kv_str(b, SPAN_ATTRIBUTES, "ld_signatures.key_id", key_id);
    kv_str(b, SPAN_ATTRIBUTES, "ld_signatures.type", "RsaSignature2017");
    sb_clear(t);
    rand_chars(g, t, HEX, 1024);
    kv_str(b, SPAN_ATTRIBUTES, "ld_signatures.signature", t->p);
    span_close(g, STATUS_UNSET, NULL, FLAGS_LOCAL);

    key_pairs_span(g, fan, user, t0 + 500000);

    b = span_open(g, SCOPE_FEDIFY, fan, 0, "activitypub.fanout",
                  KIND_PRODUCER, t0, t0 + d_fan);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.type", full_type);
    kv_arr(b, SPAN_ATTRIBUTES, "activitypub.activity.to", NULL);
    kv_arr(b, SPAN_ATTRIBUTES, "activitypub.activity.cc", NULL);
    kv_arr(b, SPAN_ATTRIBUTES, "activitypub.activity.bto", NULL);
    kv_arr(b, SPAN_ATTRIBUTES, "activitypub.activity.bcc", NULL);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.id", act_id);
    kv_str(b, SPAN_ATTRIBUTES, "fedify.actor.identifier", user);
    kv_int(b, SPAN_ATTRIBUTES, "activitypub.inboxes", n);
    span_close(g, STATUS_UNSET, NULL, FLAGS_LOCAL);

    uint64_t parent = fan;
    uint64_t t1 = t0 + d_fan + rng_range(&g->rng, 1, 30) * 100000u;
    if (n > 1) {
        uint64_t fc = new_span_id(g);
        b = span_open(g, SCOPE_FEDIFY, fc, fan, "activitypub.fanout",
                      KIND_CONSUMER, t1, t1 + rng_range(&g->rng, 5, 40) * 1000000u);
        kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.type", full_type);
        kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.id", act_id);
        span_close(g, STATUS_UNSET, NULL, FLAGS_REMOTE);
        parent = fc;
        t1 += 1000000;
    }
    for (int i = 0; i < n; i++) {
        const char *peer = peers[rng_next(&g->rng) % N_PEERS];
        const char *to = users[rng_next(&g->rng) % N_USERS];
        char inbox[160], host[64];
        snprintf(inbox, sizeof inbox, "%s/users/%s/inbox", peer, to);
        snprintf(host, sizeof host, "%s", peer + strlen("https://"));
        uint64_t out = new_span_id(g), send = new_span_id(g);
        uint64_t s0 = t1 + (uint64_t)i * 2000000u;
        uint64_t d_send = rng_range(&g->rng, 10, 250) * 1000000u;

        uint64_t sign_id = new_span_id(g);
        uint64_t sign_end = s0 + 500000 + rng_range(&g->rng, 2, 12) * 1000000u;
        b = span_open(g, SCOPE_FEDIFY, sign_id, send, "http_signatures.sign",
                      KIND_INTERNAL, s0 + 500000, sign_end);
        sb_clear(t);
        rand_chars(g, t, HEX, 64);
        kv_str(b, SPAN_ATTRIBUTES, "http_signatures.digest.sha-256", t->p);
        kv_str(b, SPAN_ATTRIBUTES, "http_signatures.algorithm",
               "rsa-v1_5-sha256");
        sb_clear(t);
        rand_chars(g, t, HEX, 1024);
        kv_str(b, SPAN_ATTRIBUTES, "http_signatures.signature", t->p);
        sb_clear(t);
        sb_printf(t, "%llu", (unsigned long long)(s0 / 1000000000u));
        kv_str(b, SPAN_ATTRIBUTES, "http_signatures.created", t->p);
        signed_post_headers(g, b, false, inbox, host,
                            (size_t)rng_range(&g->rng, 1024, 3072), key_id,
                            s0);
        kv_str(b, SPAN_ATTRIBUTES, "http_signatures.key_id", key_id);
        span_close(g, STATUS_UNSET, NULL, FLAGS_LOCAL);

        b = span_open(g, SCOPE_FEDIFY, send, out, "activitypub.send_activity",
                      KIND_CLIENT, s0 + 200000, s0 + 200000 + d_send);
        kv_bool(b, SPAN_ATTRIBUTES, "activitypub.shared_inbox", false);
        kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.id", act_id);
        kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.type", full_type);
        ft_pbw_begin(b, SPAN_EVENTS);
        time_field(b, EVENT_TIME, s0 + 200000 + d_send - 100000);
        ft_pbw_str(b, EVENT_NAME, "activitypub.activity.sent");
        kv_str(b, EVENT_ATTRIBUTES, "activitypub.inbox.url", inbox);
        kv_str(b, EVENT_ATTRIBUTES, "activitypub.activity.id", act_id);
        kv_str(b, EVENT_ATTRIBUTES, "activitypub.activity.type", full_type);
        kv_str(b, EVENT_ATTRIBUTES, "activitypub.actor.id", actor);
        ft_pbw_end(b);
        mark_activity_event(g);
        span_close(g, STATUS_UNSET, NULL, FLAGS_LOCAL);

        b = span_open(g, SCOPE_FEDIFY, out, parent, "activitypub.outbox",
                      KIND_CONSUMER, s0, s0 + 400000 + d_send);
        kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.type", full_type);
        kv_int(b, SPAN_ATTRIBUTES, "activitypub.activity.retries", 0);
        kv_str(b, SPAN_ATTRIBUTES, "activitypub.activity.id", act_id);
        span_close(g, STATUS_UNSET, NULL, FLAGS_REMOTE);
    }
}

/* A remote server fetches one of our actors. */
static void trace_actor(gen *g, uint64_t t0)
{
    bool missing = rng_pct(&g->rng, 3);
    const char *user = missing ? "mallory" : users[rng_next(&g->rng) % N_USERS];
    const char *peer = peers[rng_next(&g->rng) % N_PEERS];
    char actor[128], date[40], host[64];
    snprintf(actor, sizeof actor, "%s/users/%s", g->origin, user);
    snprintf(host, sizeof host, "%s", g->origin + strlen("https://"));
    http_date(t0, date);
    uint64_t get = new_span_id(g), disp = new_span_id(g);
    uint64_t d = rng_range(&g->rng, 1, 30) * 1000000u;

    ft_pbw *b;
    if (!missing)
        key_pairs_span(g, disp, user, t0 + 300000);
    b = span_open(g, SCOPE_FEDIFY, disp, get, "activitypub.dispatch_actor",
                  KIND_SERVER, t0 + 200000, t0 + d - 200000);
    kv_str(b, SPAN_ATTRIBUTES, "fedify.actor.identifier", user);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.actor.id", actor);
    if (!missing)
        kv_str(b, SPAN_ATTRIBUTES, "activitypub.actor.type", AS_NS "Person");
    span_close(g, missing ? STATUS_ERROR : STATUS_UNSET, NULL, FLAGS_LOCAL);

    b = span_open(g, SCOPE_FEDIFY, get, 0, "GET /users/{identifier}",
                  KIND_SERVER, t0, t0 + d);
    kv_str(b, SPAN_ATTRIBUTES, "http.request.method", "GET");
    kv_str(b, SPAN_ATTRIBUTES, "url.full", actor);
    kv_arr(b, SPAN_ATTRIBUTES, "http.request.header.accept",
           "application/activity+json, application/ld+json");
    kv_arr(b, SPAN_ATTRIBUTES, "http.request.header.accept-encoding",
           "gzip, deflate");
    kv_arr(b, SPAN_ATTRIBUTES, "http.request.header.connection", "keep-alive");
    kv_arr(b, SPAN_ATTRIBUTES, "http.request.header.date", date);
    kv_arr(b, SPAN_ATTRIBUTES, "http.request.header.host", host);
    sbuf *t = &g->tmp;
    sb_clear(t);
    sb_puts(t, "sig1=:");
    rand_chars(g, t, B64, 682);
    sb_puts(t, "==:");
    kv_arr(b, SPAN_ATTRIBUTES, "http.request.header.signature", t->p);
    sb_clear(t);
    sb_printf(t,
              "sig1=(\"@method\" \"@target-uri\" \"@authority\" \"host\" "
              "\"date\");alg=\"rsa-v1_5-sha256\";keyid=\"%s/users/%s#main-key\"",
              peer, users[rng_next(&g->rng) % N_USERS]);
    kv_arr(b, SPAN_ATTRIBUTES, "http.request.header.signature-input", t->p);
    kv_arr(b, SPAN_ATTRIBUTES, "http.request.header.user-agent",
           "Mastodon/4.3.0 (http.rb/5.2.0; +https://mastodon.example/)");
    kv_int(b, SPAN_ATTRIBUTES, "http.response.status_code", missing ? 404 : 200);
    kv_arr(b, SPAN_ATTRIBUTES, "http.response.header.content-type",
           missing ? "text/plain;charset=UTF-8" : "application/activity+json");
    kv_arr(b, SPAN_ATTRIBUTES, "http.response.header.vary", "Accept");
    span_close(g, STATUS_UNSET, NULL, FLAGS_LOCAL);
}

/* One of our users looks up a remote actor (parsing it and its keys). */
static void trace_lookup(gen *g, uint64_t t0)
{
    const char *peer = peers[rng_next(&g->rng) % N_PEERS];
    const char *user = users[rng_next(&g->rng) % N_USERS];
    char actor[128];
    snprintf(actor, sizeof actor, "%s/users/%s", peer, user);
    uint64_t look = new_span_id(g);
    uint64_t d = rng_range(&g->rng, 20, 200) * 1000000u;
    parse_object_tree(g, look, actor, "Person", t0 + d - 6000000,
                      (int)rng_range(&g->rng, 4, 10));
    sbuf *j = &g->json;
    sb_clear(j);
    sb_printf(j,
              "{\"@context\":[\"https://www.w3.org/ns/activitystreams\","
              "\"https://w3id.org/security/v1\"],\"id\":\"%s\","
              "\"type\":\"Person\",\"preferredUsername\":\"%s\","
              "\"inbox\":\"%s/inbox\",\"outbox\":\"%s/outbox\","
              "\"summary\":\"",
              actor, user, actor, actor);
    lorem(g, j, (size_t)rng_range(&g->rng, 40, 400));
    sb_printf(j,
              "\",\"publicKey\":{\"id\":\"%s#main-key\",\"owner\":\"%s\","
              "\"publicKeyPem\":\"-----BEGIN PUBLIC KEY-----\\n",
              actor, actor);
    rand_chars(g, j, B64, 392);
    sb_puts(j, "\\n-----END PUBLIC KEY-----\\n\"}}");
    ft_pbw *b = span_open(g, SCOPE_VOCAB, look, 0, "activitypub.lookup_object",
                          KIND_INTERNAL, t0, t0 + d);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.object.id", actor);
    kv_str(b, SPAN_ATTRIBUTES, "activitypub.object.type", AS_NS "Person");
    ft_pbw_begin(b, SPAN_EVENTS);
    time_field(b, EVENT_TIME, t0 + d - 7000000);
    ft_pbw_str(b, EVENT_NAME, "activitypub.object.fetched");
    kv_str(b, EVENT_ATTRIBUTES, "activitypub.object.type", AS_NS "Person");
    kv_strn(b, EVENT_ATTRIBUTES, "activitypub.object.json", j->p, j->len);
    ft_pbw_end(b);
    span_close(g, STATUS_UNSET, NULL, FLAGS_LOCAL);
}

static void gen_init(gen *g, uint64_t seed, unsigned index,
                     uint64_t activity_every)
{
    memset(g, 0, sizeof *g);
    g->activity_every = activity_every;
    g->rng = mix64(seed ^ mix64(index + 1));
    char letter[16];
    if (index < 26)
        snprintf(letter, sizeof letter, "%c", 'a' + index);
    else
        snprintf(letter, sizeof letter, "n%u", index);
    snprintf(g->service, sizeof g->service, "fedify-%s", letter);
    snprintf(g->origin, sizeof g->origin, "https://%s.example", letter);
    /* spans start at 2026-01-01T00:00:00Z (fixed, so that a seed always
     * gives the same bytes; fedtrace's retention counts from arrival) */
    g->clock = 1767225600ull * 1000000000u + (uint64_t)index * 7000000000u;
}

static void gen_free(gen *g)
{
    for (size_t i = g->qhead; i < g->qlen; i++)
        free(g->q[i].p);
    free(g->q);
    ft_pbw_free(&g->span);
    free(g->json.p);
    free(g->tmp.p);
    free(g->tmp2.p);
    free(g->xjson.p);
    free(g->xmid.p);
    free(g->xtail.p);
}

/* Generates the next trace into the queue (which must be empty). */
static void gen_trace(gen *g)
{
    g->qhead = g->qlen = 0;
    new_trace(g);
    uint64_t t0 = g->clock;
    g->clock += rng_range(&g->rng, 1, 40) * 1000000u;
    unsigned r = (unsigned)(rng_next(&g->rng) % 100);
    if (r < 20)
        trace_inbox(g, t0);
    else if (r < 27)
        trace_send(g, t0);
    else if (r < 72)
        trace_actor(g, t0);
    else
        trace_lookup(g, t0);
}

/* ---- request bodies --------------------------------------------------------- */

typedef struct body {
    uint8_t *p;
    size_t len;
    size_t *fix; /* offsets of the trace ids */
    size_t nfix;
    size_t *tfix; /* offsets of the timestamps */
    size_t ntfix;
    uint64_t period_ns; /* how far a pass moves the timestamps */
    size_t spans;
    size_t activity_events;
    uint64_t key[2]; /* XOR currently applied to the trace ids */
    uint64_t pass;   /* the pass that key (and the time shift) belongs to */
} body;

/* Encodes the next `n` spans as one ExportTraceServiceRequest. */
static void body_build(gen *g, size_t n, body *out)
{
    gspan *take = xmalloc(n * sizeof *take);
    for (size_t i = 0; i < n; i++) {
        if (g->qhead == g->qlen)
            gen_trace(g);
        take[i] = g->q[g->qhead++];
    }
    ft_pbw b;
    ft_pbw_init(&b);
    bool *is_time = NULL; /* per mark of b */
    ft_pbw_begin(&b, REQ_RESOURCE_SPANS);
    ft_pbw_begin(&b, RS_RESOURCE);
    kv_str(&b, RES_ATTRIBUTES, "service.name", g->service);
    kv_str(&b, RES_ATTRIBUTES, "telemetry.sdk.language", "nodejs");
    kv_str(&b, RES_ATTRIBUTES, "telemetry.sdk.name", "opentelemetry");
    kv_str(&b, RES_ATTRIBUTES, "telemetry.sdk.version", "2.12.1");
    ft_pbw_end(&b);
    size_t events = 0;
    for (int s = 0; s < N_SCOPES; s++) {
        bool any = false;
        for (size_t i = 0; i < n && !any; i++)
            any = take[i].scope == s;
        if (!any)
            continue;
        ft_pbw_begin(&b, RS_SCOPE_SPANS);
        ft_pbw_begin(&b, SS_SCOPE);
        ft_pbw_str(&b, SCOPE_NAME, scope_names[s]);
        ft_pbw_str(&b, SCOPE_VERSION, "2.3.6");
        ft_pbw_end(&b);
        for (size_t i = 0; i < n; i++) {
            if (take[i].scope != s)
                continue;
            ft_pbw_bytes(&b, SS_SPANS, take[i].p, take[i].len);
            size_t at = b.len - take[i].len;
            is_time = xrealloc(is_time, (b.nmark + 1 + take[i].ntime) * sizeof *is_time);
            is_time[ft_pbw_mark(&b, at + take[i].tid_off)] = false;
            for (size_t k = 0; k < take[i].ntime; k++)
                is_time[ft_pbw_mark(&b, at + take[i].time_off[k])] = true;
            events += take[i].activity_event;
        }
        ft_pbw_end(&b);
    }
    ft_pbw_end(&b);
    for (size_t i = 0; i < n; i++)
        free(take[i].p);
    free(take);
    memset(out, 0, sizeof *out);
    out->p = b.buf; /* the body keeps the writer's buffer */
    out->len = b.len;
    out->fix = xmalloc((b.nmark + 1) * sizeof *out->fix);
    out->tfix = xmalloc((b.nmark + 1) * sizeof *out->tfix);
    for (size_t i = 0; i < b.nmark; i++) {
        if (is_time[i])
            out->tfix[out->ntfix++] = b.mark[i];
        else
            out->fix[out->nfix++] = b.mark[i];
    }
    free(is_time);
    free(b.mark);
    out->spans = n;
    out->activity_events = events;
}

static void body_free(body *b)
{
    free(b->p);
    free(b->fix);
    free(b->tfix);
}

/* Gives the body's traces the ids of pass `pass` (pass 0: as generated).
 * Every body of every connection derives its XOR from (seed, connection,
 * pass) alone, so spans of one trace split across bodies stay together. */
static void body_set_pass(body *b, uint64_t seed, unsigned conn, uint64_t pass)
{
    if (b->pass == pass)
        return;
    uint64_t k0 = 0, k1 = 0;
    if (pass != 0) {
        uint64_t s = seed ^ mix64((uint64_t)conn << 32 ^ pass);
        k0 = rng_next(&s);
        k1 = rng_next(&s);
    }
    uint64_t x0 = k0 ^ b->key[0], x1 = k1 ^ b->key[1];
    for (size_t i = 0; i < b->nfix; i++) {
        uint8_t *id = b->p + b->fix[i];
        for (int j = 0; j < 8; j++) {
            id[j] ^= (uint8_t)(x0 >> (8 * j));
            id[8 + j] ^= (uint8_t)(x1 >> (8 * j));
        }
    }
    /* pass p's timestamps are pass 0's plus p periods (wrapping in 2^64 ns
     * both ways, so going back to an earlier pass restores them) */
    uint64_t shift = (pass - b->pass) * b->period_ns;
    for (size_t i = 0; i < b->ntfix; i++) {
        uint8_t *t = b->p + b->tfix[i];
        uint64_t v = 0;
        for (int j = 0; j < 8; j++)
            v |= (uint64_t)t[j] << (8 * j);
        v += shift;
        for (int j = 0; j < 8; j++)
            t[j] = (uint8_t)(v >> (8 * j));
    }
    b->key[0] = k0;
    b->key[1] = k1;
    b->pass = pass;
}

/* ---- the receiver --------------------------------------------------------- */

typedef struct target {
    char host[256]; /* as written in the URL, for the Host header */
    char port[16];
    char path[512];
    char host_header[300]; /* "Host: HOST:PORT" */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} target;

/* ---- the run ---------------------------------------------------------------- */

typedef struct options {
    target t;
    size_t batch;
    unsigned connections;
    uint64_t requests; /* total; 0 when --seconds is used */
    double seconds;
    uint64_t warmup; /* per connection */
    uint64_t seed;
    double pool_mb;
    uint64_t activity_every; /* 0: the mix as generated */
    const char *dump;
    const char *dump_dir;
} options;

static atomic_int g_failed;

typedef struct worker {
    const options *o;
    unsigned index;
    pthread_t thread;
    pthread_barrier_t *start;
    body *pool;
    size_t npool;
    uint64_t quota; /* measured requests to send, 0: until the deadline */
    /* results */
    uint64_t *lat; /* ns per measured request */
    size_t nlat, caplat;
    uint64_t requests, spans, bytes, activity_events, reconnects;
    uint64_t t_begin, t_end;
} worker;

static void build_pool(worker *w)
{
    const options *o = w->o;
    gen g;
    gen_init(&g, o->seed, w->index, o->activity_every);
    uint64_t first = g.clock;
    uint64_t want = o->requests ? w->quota + o->warmup : UINT64_MAX;
    double cap_bytes = o->pool_mb * 1048576.0 / o->connections;
    size_t cap = 0;
    double bytes = 0;
    while (w->npool < want && (w->npool < 2 || bytes < cap_bytes)) {
        if (w->npool == cap) {
            cap = cap ? cap * 2 : 64;
            w->pool = xrealloc(w->pool, cap * sizeof *w->pool);
        }
        body_build(&g, o->batch, &w->pool[w->npool]);
        bytes += (double)w->pool[w->npool].len;
        w->npool++;
    }
    /* a pass moves on by the time its traces took to start, plus a minute
     * for the spans of the last ones to end */
    for (size_t i = 0; i < w->npool; i++)
        w->pool[i].period_ns = g.clock - first + 60 * 1000000000ull;
    gen_free(&g);
}

static void fail(worker *w, uint64_t n, const char *what)
{
    fprintf(stderr, "ft_loadgen: connection %u, request %llu: %s\n", w->index,
            (unsigned long long)n, what);
    atomic_store(&g_failed, 1);
}

static int conn_open(ft_http_conn *c, const target *t)
{
    return ft_http_conn_open(c, (const struct sockaddr *)&t->addr, t->addrlen);
}

/* Sends request number n (counting warm-up ones) on the connection;
 * returns its latency in ns, or 0 after reporting an error. */
static uint64_t one_request(worker *w, ft_http_conn *c, ft_http_resp *r,
                            uint64_t n)
{
    const options *o = w->o;
    body *b = &w->pool[n % w->npool];
    body_set_pass(b, o->seed, w->index, n / w->npool);
    if (c->fd < 0) {
        if (conn_open(c, &o->t) != 0) {
            fail(w, n, c->err);
            return 0;
        }
        w->reconnects++;
    }
    const char *const headers[] = {o->t.host_header, "User-Agent: ft_loadgen",
                                   "Content-Type: application/x-protobuf",
                                   NULL};
    uint64_t t0 = now_ns();
    if (ft_http_conn_request(c, "POST", o->t.path, headers, b->p, b->len, 0,
                             r) != 0) {
        fail(w, n, c->err);
        return 0;
    }
    uint64_t dt = now_ns() - t0;
    if (r->status != 200) {
        char msg[512];
        snprintf(msg, sizeof msg, "HTTP %d %s%s%.256s", r->status, r->reason,
                 r->len ? ": " : "", (const char *)r->body);
        fail(w, n, msg);
        return 0;
    }
    if (r->close)
        ft_http_conn_close(c);
    return dt ? dt : 1;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    const options *o = w->o;
    ft_http_conn *c = xmalloc(sizeof *c);
    ft_http_resp r = {0}; /* its buffers serve every request */
    c->fd = -1;
    uint64_t n = 0;
    build_pool(w);
    if (conn_open(c, &o->t) != 0)
        fail(w, 0, c->err);
    for (; n < o->warmup && !atomic_load(&g_failed); n++)
        one_request(w, c, &r, n);
    w->reconnects = 0;
    pthread_barrier_wait(w->start);
    if (atomic_load(&g_failed)) {
        ft_http_conn_close(c);
        ft_http_resp_free(&r);
        free(c);
        return NULL;
    }
    w->t_begin = now_ns();
    uint64_t deadline = w->t_begin + (uint64_t)(o->seconds * 1e9);
    for (;;) {
        if (w->quota ? w->requests >= w->quota : now_ns() >= deadline)
            break;
        if (atomic_load(&g_failed))
            break;
        body *b = &w->pool[n % w->npool];
        uint64_t dt = one_request(w, c, &r, n);
        if (dt == 0)
            break;
        n++;
        if (w->nlat == w->caplat) {
            w->caplat = w->caplat ? w->caplat * 2 : 4096;
            w->lat = xrealloc(w->lat, w->caplat * sizeof *w->lat);
        }
        w->lat[w->nlat++] = dt;
        w->requests++;
        w->spans += b->spans;
        w->bytes += b->len;
        w->activity_events += b->activity_events;
    }
    w->t_end = now_ns();
    ft_http_conn_close(c);
    ft_http_resp_free(&r);
    free(c);
    return NULL;
}

static void workers_free(worker *ws, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        free(ws[i].lat);
        for (size_t j = 0; j < ws[i].npool; j++)
            body_free(&ws[i].pool[j]);
        free(ws[i].pool);
    }
    free(ws);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static double pct_ms(const uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1e6;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ft_loadgen --url http://HOST:PORT[/PATH] [options]\n"
            "\n"
            "Sends Fedify-shaped spans as OTLP/HTTP protobuf (POST /v1/traces\n"
            "unless PATH is given) over keep-alive connections and reports\n"
            "throughput and request latency.\n"
            "\n"
            "  --url URL          the receiver (required unless --dump)\n"
            "  --batch N          spans per request (default 64)\n"
            "  --connections C    connections, one thread each (default 2)\n"
            "  --requests R       measured requests in total, split over the\n"
            "                     connections (default 1000)\n"
            "  --seconds S        instead of --requests: send for S seconds\n"
            "  --warmup W         unmeasured requests per connection first\n"
            "                     (default 0)\n"
            "  --seed X           PRNG seed; same seed, same bytes (default 1)\n"
            "  --pool-mb M        memory for pre-encoded bodies (default 64);\n"
            "                     a connection that has sent its pool sends it\n"
            "                     again with new trace ids\n"
            "  --activity-every N give every Nth span generated an\n"
            "                     activitypub.activity.received event (1-3 KB\n"
            "                     of activity JSON) if it has no activity event\n"
            "                     (1: every span carries one; default: about 5%%\n"
            "                     of spans do, as in the fixtures)\n"
            "  --dump FILE        write the first body of connection 0 to FILE\n"
            "                     and exit (no --url needed)\n"
            "  --dump-dir DIR     write every body a --requests run with these\n"
            "                     options would send (warm-up ones included) to\n"
            "                     DIR/cCCC-rNNNNNNN.pb (connection C, its Nth\n"
            "                     request) and exit (no --url needed)\n"
            "  -h, --help         this text\n");
}

static int parse_url(const char *url, target *t)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0) {
        fprintf(stderr, "ft_loadgen: --url must start with http://\n");
        return -1;
    }
    p += 7;
    const char *host_end;
    const char *after;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (host_end == NULL)
            goto bad;
        snprintf(t->host, sizeof t->host, "%.*s", (int)(host_end - p - 1),
                 p + 1);
        after = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        snprintf(t->host, sizeof t->host, "%.*s", (int)(host_end - p), p);
        after = host_end;
    }
    if (t->host[0] == '\0')
        goto bad;
    if (*after == ':') {
        const char *port = after + 1;
        size_t n = strcspn(port, "/");
        if (n == 0 || n >= sizeof t->port)
            goto bad;
        snprintf(t->port, sizeof t->port, "%.*s", (int)n, port);
        after = port + n;
    } else {
        snprintf(t->port, sizeof t->port, "80");
    }
    snprintf(t->path, sizeof t->path, "%s", *after ? after : "/v1/traces");
    if (strcmp(t->path, "/") == 0)
        snprintf(t->path, sizeof t->path, "/v1/traces");

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int rc = getaddrinfo(t->host, t->port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "ft_loadgen: %s:%s: %s\n", t->host, t->port,
                gai_strerror(rc));
        return -1;
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    if (strchr(t->host, ':') != NULL) { /* IPv6 literal: bracket it again */
        size_t n = strlen(t->host);
        if (n + 2 >= sizeof t->host)
            goto bad;
        memmove(t->host + 1, t->host, n);
        t->host[0] = '[';
        t->host[n + 1] = ']';
        t->host[n + 2] = '\0';
    }
    snprintf(t->host_header, sizeof t->host_header, "Host: %s:%s", t->host,
             t->port);
    return 0;
bad:
    fprintf(stderr, "ft_loadgen: bad URL: %s\n", url);
    return -1;
}

static int parse_u64(const char *opt, const char *s, uint64_t min,
                     uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s ? s : "", &end, 0);
    if (s == NULL || errno != 0 || end == s || *end != '\0' || v < min ||
        v > max || s[0] == '-') {
        fprintf(stderr, "ft_loadgen: %s needs an integer in [%llu, %llu]\n",
                opt, (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_pos_double(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s ? s : "", &end);
    if (s == NULL || errno != 0 || end == s || *end != '\0' || !(v > 0) ||
        v > 1e6) {
        fprintf(stderr, "ft_loadgen: %s needs a positive number\n", opt);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    const char *url = NULL;
    uint64_t v;
    memset(o, 0, sizeof *o);
    o->batch = 64;
    o->connections = 2;
    o->requests = 1000;
    o->seed = 1;
    o->pool_mb = 64;
    bool seconds = false, requests = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--url") == 0 && val) {
            url = val;
        } else if (strcmp(a, "--batch") == 0) {
            if (parse_u64(a, val, 1, 1000000, &v) != 0)
                return -1;
            o->batch = (size_t)v;
        } else if (strcmp(a, "--connections") == 0) {
            if (parse_u64(a, val, 1, 1024, &v) != 0)
                return -1;
            o->connections = (unsigned)v;
        } else if (strcmp(a, "--requests") == 0) {
            if (parse_u64(a, val, 1, UINT64_MAX / 2, &o->requests) != 0)
                return -1;
            requests = true;
        } else if (strcmp(a, "--seconds") == 0) {
            if (parse_pos_double(a, val, &o->seconds) != 0)
                return -1;
            seconds = true;
        } else if (strcmp(a, "--warmup") == 0) {
            if (parse_u64(a, val, 0, UINT64_MAX / 2, &o->warmup) != 0)
                return -1;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_u64(a, val, 0, UINT64_MAX, &o->seed) != 0)
                return -1;
        } else if (strcmp(a, "--pool-mb") == 0) {
            if (parse_pos_double(a, val, &o->pool_mb) != 0)
                return -1;
        } else if (strcmp(a, "--activity-every") == 0) {
            if (parse_u64(a, val, 1, UINT64_MAX / 2, &o->activity_every) != 0)
                return -1;
        } else if (strcmp(a, "--dump") == 0 && val) {
            o->dump = val;
        } else if (strcmp(a, "--dump-dir") == 0 && val) {
            o->dump_dir = val;
        } else {
            fprintf(stderr, "ft_loadgen: unknown option or missing value: %s\n",
                    a);
            usage(stderr);
            return -1;
        }
        if (strcmp(a, "-h") != 0 && strcmp(a, "--help") != 0)
            i++;
    }
    if (seconds && requests) {
        fprintf(stderr, "ft_loadgen: give --requests or --seconds, not both\n");
        return -1;
    }
    if (seconds)
        o->requests = 0;
    if (o->dump != NULL && o->dump_dir != NULL) {
        fprintf(stderr, "ft_loadgen: give --dump or --dump-dir, not both\n");
        return -1;
    }
    if (o->dump != NULL)
        return 0;
    if (o->dump_dir != NULL && seconds) {
        fprintf(stderr, "ft_loadgen: --dump-dir needs --requests, not "
                        "--seconds\n");
        return -1;
    }
    if (o->dump_dir != NULL && o->requests < o->connections) {
        fprintf(stderr, "ft_loadgen: --requests must be at least "
                        "--connections\n");
        return -1;
    }
    if (o->dump_dir != NULL)
        return 0;
    if (url == NULL) {
        fprintf(stderr, "ft_loadgen: --url is required\n");
        usage(stderr);
        return -1;
    }
    if (o->requests != 0 && o->requests < o->connections) {
        fprintf(stderr, "ft_loadgen: --requests must be at least "
                        "--connections\n");
        return -1;
    }
    return parse_url(url, &o->t);
}

static int dump_body(const options *o)
{
    gen g;
    body b;
    gen_init(&g, o->seed, 0, o->activity_every);
    body_build(&g, o->batch, &b);
    gen_free(&g);
    FILE *f = fopen(o->dump, "wb");
    if (f == NULL || fwrite(b.p, 1, b.len, f) != b.len || fclose(f) != 0) {
        fprintf(stderr, "ft_loadgen: %s: %s\n", o->dump, strerror(errno));
        body_free(&b);
        return 1;
    }
    printf("ft_loadgen: wrote %zu spans (%zu with an activity event) in %zu "
           "bytes to %s\n",
           b.spans, b.activity_events, b.len, o->dump);
    body_free(&b);
    return 0;
}

/* Measured requests of connection i when `requests` are shared among
 * `connections` (as main does). */
static uint64_t quota_of(const options *o, unsigned i)
{
    return o->requests / o->connections +
           (i < o->requests % o->connections ? 1 : 0);
}

/* --dump-dir: the bodies each connection of a --requests run would send,
 * in order, warm-up included, with the trace ids of the pass they would be
 * sent in (one_request's choice), one file each. */
static int dump_dir(const options *o)
{
    if (mkdir(o->dump_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "ft_loadgen: %s: %s\n", o->dump_dir, strerror(errno));
        return 1;
    }
    uint64_t files = 0, spans = 0, events = 0, bytes = 0;
    size_t plen = strlen(o->dump_dir) + 32;
    char *path = xmalloc(plen);
    int rc = 0;
    for (unsigned i = 0; i < o->connections && rc == 0; i++) {
        worker w;
        memset(&w, 0, sizeof w);
        w.o = o;
        w.index = i;
        w.quota = quota_of(o, i);
        build_pool(&w);
        uint64_t total = o->warmup + w.quota;
        for (uint64_t n = 0; n < total; n++) {
            body *b = &w.pool[n % w.npool];
            body_set_pass(b, o->seed, i, n / w.npool);
            snprintf(path, plen, "%s/c%04u-r%07llu.pb", o->dump_dir, i,
                     (unsigned long long)n);
            FILE *f = fopen(path, "wb");
            if (f == NULL || fwrite(b->p, 1, b->len, f) != b->len ||
                fclose(f) != 0) {
                fprintf(stderr, "ft_loadgen: %s: %s\n", path, strerror(errno));
                rc = 1;
                break;
            }
            files++;
            spans += b->spans;
            events += b->activity_events;
            bytes += b->len;
        }
        for (size_t j = 0; j < w.npool; j++)
            body_free(&w.pool[j]);
        free(w.pool);
    }
    free(path);
    if (rc != 0)
        return rc;
    printf("dump requests=%llu spans=%llu activity_events=%llu bytes=%llu "
           "batch=%zu connections=%u seed=%llu activity_every=%llu\n",
           (unsigned long long)files, (unsigned long long)spans,
           (unsigned long long)events, (unsigned long long)bytes, o->batch,
           o->connections, (unsigned long long)o->seed,
           (unsigned long long)o->activity_every);
    printf("ft_loadgen: wrote %llu requests, %llu spans (%llu with an activity "
           "event) in %llu bytes to %s\n",
           (unsigned long long)files, (unsigned long long)spans,
           (unsigned long long)events, (unsigned long long)bytes, o->dump_dir);
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    if (o.dump != NULL)
        return dump_body(&o);
    if (o.dump_dir != NULL)
        return dump_dir(&o);

    worker *ws = calloc(o.connections, sizeof *ws);
    pthread_barrier_t start;
    if (ws == NULL ||
        pthread_barrier_init(&start, NULL, o.connections + 1) != 0) {
        fprintf(stderr, "ft_loadgen: out of memory\n");
        return 1;
    }
    for (unsigned i = 0; i < o.connections; i++) {
        ws[i].o = &o;
        ws[i].index = i;
        ws[i].start = &start;
        if (o.requests)
            ws[i].quota = quota_of(&o, i);
        int rc = pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]);
        if (rc != 0) {
            fprintf(stderr, "ft_loadgen: pthread_create: %s\n", strerror(rc));
            return 1;
        }
    }
    pthread_barrier_wait(&start);
    for (unsigned i = 0; i < o.connections; i++)
        pthread_join(ws[i].thread, NULL);
    pthread_barrier_destroy(&start);
    if (atomic_load(&g_failed)) {
        fprintf(stderr, "ft_loadgen: failed\n");
        workers_free(ws, o.connections);
        return 1;
    }

    uint64_t requests = 0, spans = 0, bytes = 0, events = 0, reconnects = 0;
    uint64_t begin = UINT64_MAX, end = 0;
    size_t nlat = 0;
    for (unsigned i = 0; i < o.connections; i++) {
        requests += ws[i].requests;
        spans += ws[i].spans;
        bytes += ws[i].bytes;
        events += ws[i].activity_events;
        reconnects += ws[i].reconnects;
        nlat += ws[i].nlat;
        if (ws[i].t_begin < begin)
            begin = ws[i].t_begin;
        if (ws[i].t_end > end)
            end = ws[i].t_end;
    }
    uint64_t *lat = xmalloc(nlat * sizeof *lat);
    size_t k = 0;
    size_t pool_bodies = 0;
    for (unsigned i = 0; i < o.connections; i++) {
        memcpy(lat + k, ws[i].lat, ws[i].nlat * sizeof *lat);
        k += ws[i].nlat;
        pool_bodies += ws[i].npool;
    }
    workers_free(ws, o.connections);
    qsort(lat, nlat, sizeof *lat, cmp_u64);
    double secs = (double)(end - begin) / 1e9;
    if (secs <= 0)
        secs = 1e-9;
    double p50 = pct_ms(lat, nlat, 50), p99 = pct_ms(lat, nlat, 99);
    double max = nlat ? (double)lat[nlat - 1] / 1e6 : 0;
    double mean = 0;
    for (size_t i = 0; i < nlat; i++)
        mean += (double)lat[i];
    mean = nlat ? mean / (double)nlat / 1e6 : 0;
    free(lat);

    /* CPU time of this whole process (encoding included), so that a
     * driver can tell how busy the machine was apart from the server */
    struct rusage ru;
    double cpu = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("result batch=%zu connections=%u requests=%llu spans=%llu "
           "seconds=%.3f spans_per_s=%.1f requests_per_s=%.1f p50_ms=%.3f "
           "p99_ms=%.3f max_ms=%.3f mean_ms=%.3f bytes_per_span=%.0f "
           "activity_event_share=%.4f reconnects=%llu pool_bodies=%zu "
           "seed=%llu cpu_s=%.3f\n",
           o.batch, o.connections, (unsigned long long)requests,
           (unsigned long long)spans, secs, (double)spans / secs,
           (double)requests / secs, p50, p99, max, mean,
           spans ? (double)bytes / (double)spans : 0,
           spans ? (double)events / (double)spans : 0,
           (unsigned long long)reconnects, pool_bodies,
           (unsigned long long)o.seed, cpu);
    printf("ft_loadgen: batch %zu, %u connection%s: %llu requests, %llu spans "
           "in %.2f s = %.0f spans/s, %.1f requests/s; latency p50 %.2f ms, "
           "p99 %.2f ms, max %.2f ms\n",
           o.batch, o.connections, o.connections == 1 ? "" : "s",
           (unsigned long long)requests, (unsigned long long)spans, secs,
           (double)spans / secs, (double)requests / secs, p50, p99, max);
    return 0;
}
