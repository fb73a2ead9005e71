/* trace_int.h - record extraction and span/log JSON (private). */
#ifndef FT_TRACE_INT_H
#define FT_TRACE_INT_H

#include "core/buf.h"
#include "fedtrace/exporter.h" /* FT_DIR_INBOUND, FT_DIR_OUTBOUND */
#include "fedtrace/span.h"

/* FT_DIR_NONE, or one of the public FT_DIR_* bits. */
typedef int ft_direction;
enum { FT_DIR_NONE = 0 };

/* Which activity event this is, by name. */
ft_direction ft__activity_event_kind(const ft_event *ev);

/*
 * Writes the TraceActivityRecord JSON for activity event `ev` of `sp` into
 * out (appending), following Fedify 2.3.6's rules.  Returns false when the
 * event yields no record (an inbound event without activity JSON).  The
 * caller checks ft_buf_ok(out) for allocation failure.
 */
bool ft__activity_record_json(const ft_span *sp, const ft_event *ev,
                              ft_buf *out);

/* Fedify's four TraceSummary fields as an unclosed JSON object:
 * {"traceId":…,"timestamp":…,"activityCount":…,"activityTypes":[…] */
void ft__fedify_summary_fields(ft_buf *b, const ft_trace_summary *s);

#include "fedtrace/services.h"

/* Counts a batch that was stored (metrics.c), once even when retried.
 * shared: other processes write the store too (Redis, PostgreSQL): retries
 * and client/server pairs are matched through it; otherwise in memory. */
ft_code ft__metrics_count(ft_metrics *m, ft_kv *kv, const ft_str *prefix, size_t np,
                          const ft_span_batch *b, bool shared, ft_err *err);
/* For a shared store: the pair halves of a batch, to be written with it. */
ft_code ft__metrics_halves(ft_metrics *m, const ft_str *prefix, size_t np,
                           const ft_span_batch *b, ft_arena *a, ft_kv_op **out, size_t *n_out,
                           ft_err *err);
const ft_infer_opts *ft__metrics_infer(const ft_metrics *m);

/* OTLP-JSON span object (resource and scope inlined), with fedtrace's
 * "peer" (the inferred service it calls) when peer is not NULL/none. */
void ft__span_json(ft_buf *b, const ft_span *sp, const ft_peer *peer);
/* OTLP-JSON log record object (resource and scope inlined). */
void ft__log_json(ft_buf *b, const ft_log *lg);

#endif
