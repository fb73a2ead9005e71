/*
 * fedtrace/otlp.h - OTLP decoding into the span model.
 *
 * ft_otlp_decode_traces_pb decodes an ExportTraceServiceRequest in protobuf
 * wire format; ft_otlp_decode_logs_pb an ExportLogsServiceRequest.
 *
 * Zero-copy: strings in the result point into `body`, arrays are allocated
 * in `arena`.  The result is valid while both live.  The body is never
 * written to.
 *
 * Malformed wire data (truncated varints, lengths past the end, wrong wire
 * types for known fields) fails the whole request with FT_DECODE and a
 * message naming the field.  Well-formed items with invalid content (a
 * trace id that is not 16 bytes or is all zero, a span id that is not 8
 * bytes or is all zero) are left out one by one and counted in
 * batch->rejected, with the first reason in batch->reject_reason.
 * Unknown fields are skipped.  FT_NOMEM when the arena refuses.
 *
 * ft_otlp_decode_traces_json and ft_otlp_decode_logs_json decode the same
 * requests in the OTLP/JSON encoding (docs/otlp.md has the mapping), with
 * the same contract except for what follows from JSON:
 *
 *   - Strings are copied into `arena` (JSON strings have escapes and the
 *     body is not NUL-terminated), so the result depends on the arena
 *     alone: the body may be freed as soon as the call returns.  The
 *     parser (jansson) builds a tree with malloc, outside the arena, and
 *     frees it before returning; it takes a few times the body's size, so
 *     the caller caps the body (FT_NOMEM if malloc fails).
 *   - Invalid JSON (including an empty body, and nesting past jansson's
 *     limit of 2048 levels) fails with FT_DECODE and jansson's line,
 *     column and reason; so do wrong JSON types for known fields, integers
 *     out of their field's range and invalid base64, with a message naming
 *     the field and where it is, e.g.
 *     `Span.kind: expected an enum number or name, got boolean (at
 *     resourceSpans[0].scopeSpans[0].spans[2].kind)`.
 *   - Ids are hex; one that is not hex counts as having the wrong length.
 *     An empty parentSpanId (and, in logs, an empty traceId or spanId) is
 *     absent.  null is the same as an absent field.
 *
 * For all four: the result is valid while the arena lives (and, for the
 * protobuf decoders, the body).  On failure *batch is empty and the arena
 * may hold partial allocations, released with the arena.  NULL arena or
 * batch, or a NULL body with len > 0, is FT_INVAL.
 *
 * Thread-safe: no shared state.
 */
#ifndef FEDTRACE_OTLP_H
#define FEDTRACE_OTLP_H

#include "fedtrace/span.h"

#ifdef __cplusplus
extern "C" {
#endif

ft_code ft_otlp_decode_traces_pb(const uint8_t *body, size_t len,
                                 ft_arena *arena, ft_span_batch *batch,
                                 ft_err *err);

ft_code ft_otlp_decode_logs_pb(const uint8_t *body, size_t len,
                               ft_arena *arena, ft_log_batch *batch,
                               ft_err *err);

ft_code ft_otlp_decode_traces_json(const uint8_t *body, size_t len,
                                   ft_arena *arena, ft_span_batch *batch,
                                   ft_err *err);

ft_code ft_otlp_decode_logs_json(const uint8_t *body, size_t len,
                                 ft_arena *arena, ft_log_batch *batch,
                                 ft_err *err);

#ifdef __cplusplus
}
#endif
#endif
