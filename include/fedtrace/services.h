/*
 * fedtrace/services.h - what the spans say about services: the services a
 * span calls without being instrumented (inferred from client, producer
 * and consumer spans), RED metrics per service and operation, the edges
 * of the service map, and the slowest database statements.
 *
 * Inference follows the precedence of the OpenTelemetry service-graph
 * rules and of Datadog's inferred services: peer.service (or its newer
 * name service.peer.name); a database by db.namespace / db.name, else its
 * peer host, else db.system; a queue by its messaging destination, else
 * messaging.system; rpc.service; then the peer host (server.address,
 * net.peer.name, the host of url.full / http.url).  Fediverse: a delivery
 * (activitypub.send_activity, or a client POST whose url.full, http.url,
 * url.path or http.target path ends in the segment "inbox") makes the
 * remote instance a service of its own kind.  Hosts that are IP literals
 * are shown as "ip-address" unless asked otherwise.
 *
 * Metrics are counted per node: each node adds the spans it stores to its
 * own per-minute document [prefix..., "_red", minute, node] (only that
 * node writes it), and a reader sums the documents of every node.  A
 * batch is counted once: its fingerprint is claimed in the store by a
 * create-if-absent before it is counted, so a retry (on any node) is not
 * counted again.
 */
#ifndef FEDTRACE_SERVICES_H
#define FEDTRACE_SERVICES_H

#include "fedtrace/kv.h"
#include "fedtrace/span.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ft_peer_kind {
    FT_PEER_NONE = 0,
    FT_PEER_DATABASE, /* "database" */
    FT_PEER_CACHE,    /* "cache": redis, memcached, valkey */
    FT_PEER_QUEUE,    /* "queue" */
    FT_PEER_RPC,      /* "rpc" */
    FT_PEER_HTTP,     /* "http": a host called over HTTP */
    FT_PEER_INSTANCE, /* "instance": a remote ActivityPub server */
    FT_PEER_SERVICE,  /* "service": named by peer.service */
} ft_peer_kind;

typedef struct ft_peer {
    ft_peer_kind kind;
    char name[256];  /* the inferred service's name */
    char system[64]; /* db.system / messaging.system, or "" */
} ft_peer;

/* "database", "cache", ...; "" for FT_PEER_NONE. */
const char *ft_peer_kind_name(ft_peer_kind k);

typedef struct ft_infer_opts {
    bool show_ip_hosts; /* keep IP-literal hosts as they are */
} ft_infer_opts;

/*
 * The service a span calls, for client and producer spans (and spans of
 * other kinds that carry database attributes), or the queue a consumer
 * span reads from.  false (out->kind == FT_PEER_NONE) when the span names
 * no peer.  opts may be NULL.
 */
bool ft_infer_peer(const ft_span *sp, const ft_infer_opts *opts, ft_peer *out);

/*
 * A database statement with its literals replaced by '?' (strings,
 * numbers, lists of them collapsed to one), whitespace squeezed; at most
 * cap - 1 bytes (cut at a character boundary).
 */
void ft_sql_normalize(const char *stmt, size_t len, char *out, size_t cap);

/* ---- counting: one aggregator per process, shared by its exporters ---- */

typedef struct ft_metrics ft_metrics;

/* ttl_ms: how long the per-minute documents live (<= 0: forever). */
ft_code ft_metrics_create(const ft_infer_opts *infer, int64_t ttl_ms, ft_metrics **out,
                          ft_err *err);
void ft_metrics_destroy(ft_metrics *m); /* NULL is a no-op; flush first */
/*
 * Writes the minutes this node counted since the last flush (each a set
 * of its own document), and forgets minutes older than a few; call every
 * second or so and before exit.  prefix: the exporter's key prefix (NULL,
 * 0: {"fedify", "traces"}).
 */
ft_code ft_metrics_flush(ft_metrics *m, ft_kv *kv, const char *const *prefix, size_t np,
                         int64_t now_ms, ft_err *err);

/* ---- reading what every node counted ---- */

typedef enum ft_services_what {
    FT_Q_SERVICES,      /* {"since","until","services":[...]} */
    FT_Q_SERVICE,       /* one service: operations (each with its duration
                           histogram and per-minute buckets), buckets,
                           callers, ... */
    FT_Q_MAP,           /* {"nodes":[...],"edges":[...]} */
    FT_Q_SLOW_QUERIES,  /* {"queries":[...]} */
} ft_services_what;

typedef struct ft_services_query {
    const char *const *key_prefix; /* NULL/0: {"fedify", "traces"} */
    size_t n_key_prefix;
    int64_t since_ms; /* 0: an hour before until */
    int64_t until_ms; /* 0: now */
    const char *service; /* FT_Q_SERVICE: which; FT_Q_SLOW_QUERIES: a filter */
    size_t limit;        /* FT_Q_SLOW_QUERIES: at most; 0: 20 */
} ft_services_query;

/*
 * The JSON documents of the API's /api/services, /api/services/{name},
 * /api/map and /api/slow-queries (docs/api.md), merged from every node's
 * per-minute counts in kv.  FT_NOTFOUND: FT_Q_SERVICE of a service without
 * data in the window.
 */
ft_code ft_services_json(ft_kv *kv, ft_services_what what, const ft_services_query *q,
                         ft_arena *arena, ft_str *out, ft_err *err);

#ifdef __cplusplus
}
#endif
#endif
