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

/* Fedify's TraceSummary. */
typedef struct ft_trace_summary {
    char trace_id[33];
    char timestamp[25]; /* ISO 8601 of the first activity */
    size_t activity_count;
    ft_str *activity_types; /* JSON values (usually strings), in order */
    size_t n_activity_types;
} ft_trace_summary;

typedef struct ft_recent_opts {
    size_t limit;       /* 0: 20 */
    const char *cursor; /* from a previous page's next_cursor; NULL: newest */
} ft_recent_opts;

/*
 * Traces with activities, newest first (by their first activity).  Costs
 * O(limit) reads through the time index.  *next_cursor is an arena string
 * to pass for the next page, or NULL when there is no more.  All results
 * live in `arena`.
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
 * strategy only (FT_UNSUPPORTED otherwise).
 */
ft_code ft_exporter_evict_oldest(ft_exporter *ex, size_t max_traces,
                                 size_t *evicted, ft_err *err);

/*
 * Indexes traces that another writer stored, typically Fedify's own
 * FedifySpanExporter on the same store: it writes records and
 * [prefix..., "_summaries", traceId] but none of fedtrace's indexes.  For
 * each summary not seen before, adds the time-index and arrival-index
 * entries that make the trace appear in ft_exporter_recent_traces (and in
 * eviction).  Reads every summary key (O(summaries)); remembers what it
 * indexed, so that a later call writes only what is new.  *adopted (may be
 * NULL) gets the number of traces indexed now.  A no-op for the CAS
 * strategy: without LIST the summaries cannot be found.
 */
ft_code ft_exporter_adopt(ft_exporter *ex, size_t *adopted, ft_err *err);

/* Renders summaries as Fedify's JSON array of TraceSummary. */
ft_code ft_trace_summaries_json(const ft_trace_summary *s, size_t n,
                                ft_arena *arena, ft_str *out, ft_err *err);

#ifdef __cplusplus
}
#endif
#endif
