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

#ifdef __cplusplus
}
#endif
#endif
