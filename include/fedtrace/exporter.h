/*
 * fedtrace/exporter.h - turns spans and logs into stored traces.
 *
 * The C counterpart of Fedify's FedifySpanExporter.  From span events
 * "activitypub.activity.received" and "activitypub.activity.sent" it builds
 * TraceActivityRecords (the same JSON, field for field, that Fedify 2.3.6
 * stores), and it also stores every span and every log record that carries
 * a trace id, so that a trace can be read back whole.
 *
 * Storage strategy, chosen at creation from the store's capabilities:
 *
 *   LIST (preferred): one key per record, [prefix..., traceId, spanId] for
 *     the first activity event of a span and [prefix..., traceId, spanId,
 *     "N"] for the N-th further one; spans under [prefix..., "_spans",
 *     traceId, spanId]; logs under [prefix..., "_logs", traceId, time,
 *     hash]; a time-ordered index [prefix..., "_recent", ms, traceId].
 *     Every write is an idempotent set of a deterministic key, so retries
 *     and concurrent writers cannot double-count.
 *   CAS only: one JSON array per trace under [prefix..., traceId] (records),
 *     [prefix..., "_spans", traceId] and [prefix..., "_logs", traceId],
 *     appended by compare-and-swap with duplicates dropped, retried until it
 *     succeeds; the time index is an array per minute plus a directory of
 *     minutes.
 *   neither: ft_exporter_create fails with FT_UNSUPPORTED naming both.
 *
 * When the store has CAS, the exporter also keeps Fedify's trace summary
 * key [prefix..., "_summaries", traceId] exact (recomputed from the stored
 * records and written by CAS), so that Fedify's own getRecentTraces() over
 * the same store sees what fedtrace wrote.  fedtrace's own queries derive
 * summaries from the records and never depend on that key.
 *
 * Threading: an exporter wraps one ft_kv handle and is used by one thread
 * at a time.  Give each thread its own store handle and exporter; any
 * number of them (in any number of processes) may write the same traces
 * into one store at once.
 */
#ifndef FEDTRACE_EXPORTER_H
#define FEDTRACE_EXPORTER_H

#include "fedtrace/kv.h"
#include "fedtrace/span.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ft_exporter ft_exporter;

typedef enum ft_strategy {
    FT_STRATEGY_LIST = 1,
    FT_STRATEGY_CAS = 2,
} ft_strategy;

typedef struct ft_exporter_opts {
    /* Key prefix; NULL/0 means {"fedify", "traces"}.  Copied. */
    const char *const *key_prefix;
    size_t n_key_prefix;
    /* Time to live of everything written, in ms; <= 0 keeps forever. */
    int64_t ttl_ms;
    /* Counts RED metrics, map edges and statements of what is stored, and
     * names each span's inferred peer ("peer" in the stored span); NULL:
     * neither.  Borrowed; one may serve many exporters. */
    struct ft_metrics *metrics;
    /* Other processes count into this store too, so batches already
     * counted and client/server pairs are matched through the store (one
     * more round trip per batch) rather than in this process's memory.
     * Always so for Redis and PostgreSQL; set it for a local store another
     * process also counts into (fedtrace import next to fedtrace serve). */
    bool shared_counting;
} ft_exporter_opts;

/* kv is borrowed and must outlive the exporter.  opts may be NULL. */
ft_code ft_exporter_create(ft_kv *kv, const ft_exporter_opts *opts,
                           ft_exporter **out, ft_err *err);
void ft_exporter_destroy(ft_exporter *ex); /* NULL is a no-op */
ft_strategy ft_exporter_strategy(const ft_exporter *ex);

typedef struct ft_export_stats {
    size_t spans;      /* spans stored */
    size_t activities; /* activity records stored */
    size_t logs;       /* log records stored */
    size_t cas_retries;
} ft_export_stats;

/*
 * Stores a batch.  FT_OK means everything in it is stored (a retry of the
 * same batch is harmless).  On failure some of it may be stored; retrying
 * the whole batch is always correct.  stats may be NULL.
 */
ft_code ft_exporter_export_spans(ft_exporter *ex, const ft_span_batch *batch,
                                 ft_export_stats *stats, ft_err *err);
/* Log records without a trace id are counted but not stored. */
ft_code ft_exporter_export_logs(ft_exporter *ex, const ft_log_batch *batch,
                                ft_export_stats *stats, ft_err *err);

/*
 * Fedify's TraceSummary (trace_id .. activity_types), and what fedtrace
 * adds for lists and filters.  Directions, actors and hosts come from the
 * activity records; services and has_error from the trace's spans (LIST
 * strategy: a small index written with the spans; CAS: read from the spans
 * themselves).  A trace stored by Fedify's exporter alone has no spans, so
 * no services.
 */
typedef struct ft_trace_summary {
    char trace_id[33];
    char timestamp[25]; /* ISO 8601 of the first activity */
    size_t activity_count;
    ft_str *activity_types; /* JSON values (usually strings), in order */
    size_t n_activity_types;
    int64_t first_ms;   /* timestamp in ms since the epoch */
    unsigned directions; /* bit 1: inbound, bit 2: outbound */
    bool verification_failed; /* an inbound record has verified == false */
    bool has_error;           /* a span has status ERROR */
    ft_str *actors;           /* distinct actorId values (text) */
    size_t n_actors;
    ft_str *hosts;            /* distinct lower-case hosts of actorId, activityId, inboxUrl */
    size_t n_hosts;
    ft_str *services;         /* distinct service.name of its spans, sorted */
    size_t n_services;
} ft_trace_summary;

enum { FT_DIR_INBOUND = 1, FT_DIR_OUTBOUND = 2 };

/*
 * What a listed trace must have; every field set must match (AND).  Zero
 * fields match everything.  Strings are borrowed.
 */
typedef struct ft_trace_filter {
    /* An activity type: the full IRI, or its short name ("Follow" matches
     * "https://www.w3.org/ns/activitystreams#Follow" and "Follow"). */
    const char *activity_type;
    unsigned direction;       /* FT_DIR_*; 0: any */
    const char *actor;        /* substring of an actorId, case-insensitive */
    const char *host;         /* a host (exact, case-insensitive) in hosts */
    bool verification_failed; /* only traces with a failed verification */
    const char *service;      /* exact service.name */
    bool has_error;           /* only traces with an error span */
    int64_t since_ms;         /* first activity at or after; 0: unbounded */
    int64_t until_ms;         /* first activity before; 0: unbounded */
} ft_trace_filter;

/*
 * Sets one field of f from its name in the API's query string (and the
 * CLI's flags): type, direction (inbound|outbound), actor, host,
 * verification (failed), service, error (true|false|1|0), since, until.
 * Times are RFC 3339 ("2026-11-26T12:00:00Z", offsets allowed), ms since
 * the epoch, or a duration back from now ("15m", "2h", "7d").  value is
 * borrowed (strings point into it).  FT_INVAL with a message naming the
 * parameter for a bad value, FT_NOTFOUND for an unknown name.
 */
ft_code ft_trace_filter_set(ft_trace_filter *f, const char *name,
                            const char *value, ft_err *err);
/* Names ft_trace_filter_set accepts, NULL-terminated. */
extern const char *const ft_trace_filter_names[];

/* Whether s matches f (f NULL matches). */
bool ft_trace_filter_match(const ft_trace_filter *f, const ft_trace_summary *s);

/* Copies s and everything it points to into arena.  false: out of memory. */
bool ft_trace_summary_copy(ft_trace_summary *dst, const ft_trace_summary *s,
                           ft_arena *arena);

typedef struct ft_recent_opts {
    size_t limit;       /* 0: 20 */
    const char *cursor; /* from a previous page's next_cursor; NULL: newest */
    const ft_trace_filter *filter; /* NULL: every trace */
    /* With a filter: how many traces to examine at most before answering
     * with fewer than limit (and a cursor to go on from); 0: 5000. */
    size_t max_scan;
} ft_recent_opts;

/*
 * Traces with activities, newest first (by their first activity), that
 * match opts->filter.  Costs O(limit) reads through the time index without
 * a filter, O(examined) with one (bounded by max_scan; a time range bounds
 * the index walk itself).  *next_cursor is an arena string to pass for the
 * next page, or NULL when there is no more.  All results live in `arena`.
 */
ft_code ft_exporter_recent_traces(ft_exporter *ex, const ft_recent_opts *opts,
                                  ft_arena *arena, ft_trace_summary **out,
                                  size_t *n_out, char **next_cursor,
                                  ft_err *err);

/* The TraceActivityRecords of one trace, each as its stored JSON object
 * text.  trace_id: 32 hex digits.  Unknown trace: FT_OK, *n_out = 0. */
ft_code ft_exporter_activities(ft_exporter *ex, const char *trace_id,
                               ft_arena *arena, ft_str **out, size_t *n_out,
                               ft_err *err);

/* Every stored span of a trace, as OTLP-JSON span objects with their
 * resource and scope inlined, ordered by start time. */
ft_code ft_exporter_spans(ft_exporter *ex, const char *trace_id,
                          ft_arena *arena, ft_str **out, size_t *n_out,
                          ft_err *err);

/* Every stored log record of a trace, as OTLP-JSON log record objects,
 * ordered by time. */
ft_code ft_exporter_logs(ft_exporter *ex, const char *trace_id,
                         ft_arena *arena, ft_str **out, size_t *n_out,
                         ft_err *err);

/*
 * Deletes the traces that arrived first (by the minute their first batch
 * was stored), oldest first, at most max_traces of them: their records,
 * spans, logs, summary and index entries.  *evicted (may be NULL) gets the
 * count; 0 means nothing is left to evict.  A trace that is still being
 * written when it is evicted keeps only what arrives afterwards.  LIST
 * strategy on a local store (LMDB, memory) only: the arrival index is not
 * kept on Redis and PostgreSQL (FT_UNSUPPORTED otherwise).
 */
ft_code ft_exporter_evict_oldest(ft_exporter *ex, size_t max_traces,
                                 size_t *evicted, ft_err *err);

/*
 * Indexes traces that another writer stored, typically Fedify's own
 * FedifySpanExporter on the same store: it writes records and
 * [prefix..., "_summaries", traceId] but none of fedtrace's indexes.  For
 * each summary whose trace has no time-index entry, adds it (and, on a
 * local store, the arrival-index entry), so that the trace appears in
 * ft_exporter_recent_traces (and in eviction).  Goes on from where the last call stopped, a page of 2,048
 * summaries at a time with one ft_kv_get_many of their index entries, for
 * at most 2 s; at the end of the summaries the next call starts over.
 * Remembers nothing else.  *adopted (may be
 * NULL) gets the number of traces indexed now.  A no-op for the CAS
 * strategy: without LIST the summaries cannot be found.
 */
ft_code ft_exporter_adopt(ft_exporter *ex, size_t *adopted, ft_err *err);

/*
 * Traces linked with this one (span links, as Sidekiq jobs link to the
 * span that enqueued them): {"incoming": [{traceId, spanId, fromTraceId,
 * fromSpanId, fromService, fromName}], "outgoing": [{traceId, spanId,
 * fromSpanId, fromService, fromName}]}.  Incoming links are found for the
 * LIST strategy only.
 */
ft_code ft_exporter_linked_json(ft_exporter *ex, const char *trace_id, ft_arena *arena,
                                ft_str *out, ft_err *err);

/* Renders summaries as Fedify's JSON array of TraceSummary, each object
 * with fedtrace's fields added: "directions" (["inbound", "outbound"]),
 * "actors", "hosts", "services", "hasError", "verificationFailed". */
ft_code ft_trace_summaries_json(const ft_trace_summary *s, size_t n,
                                ft_arena *arena, ft_str *out, ft_err *err);
/* One summary as a JSON object, appended to b. */
struct ft_buf; /* src/core/buf.h */
void ft_trace_summary_json(struct ft_buf *b, const ft_trace_summary *s);

/*
 * A whole trace as an OTLP/JSON ExportTraceServiceRequest: its stored spans
 * (ft_exporter_spans) grouped back into resourceSpans / scopeSpans.  The
 * result can be sent to any OTLP/HTTP JSON receiver.
 */
ft_code ft_exporter_trace_otlp_json(ft_exporter *ex, const char *trace_id,
                                    ft_arena *arena, ft_str *out, size_t *n_spans,
                                    ft_err *err);

#ifdef __cplusplus
}
#endif
#endif
