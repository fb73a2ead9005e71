/*
 * ft_span_json.h - decoded batches back to OTLP/JSON, and deep comparison
 * of batches (test scaffolding).
 *
 * ft_span_json_traces / ft_span_json_logs append to b an
 * ExportTraceServiceRequest / ExportLogsServiceRequest in OTLP/JSON that
 * decodes to the same batch: consecutive items sharing a resource pointer
 * form one ResourceSpans (ResourceLogs), consecutive items sharing a scope
 * one ScopeSpans (ScopeLogs).  The options pick among the spellings that
 * OTLP/JSON allows, so that a decoder can be checked against all of them.
 * Strings must be valid UTF-8 to survive the trip (ft_json_str replaces
 * invalid sequences).  Check ft_buf_ok(b) afterwards.
 *
 * ft_span_json_spans_equal / ft_span_json_logs_equal compare two batches
 * field by field (strings by content, doubles by value with NaN equal to
 * NaN, resources and scopes by content, and which items share them); on a
 * difference they return false and describe the first one in why.
 */
#ifndef FT_SPAN_JSON_H
#define FT_SPAN_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "fedtrace/span.h"

enum {
    FT_SJ_PROTO_NAMES = 1 << 0, /* snake_case proto field names */
    FT_SJ_INT_NUMBERS = 1 << 1, /* 64-bit integers as JSON numbers */
    FT_SJ_ENUM_NAMES = 1 << 2,  /* kind, status code, severity as names */
    FT_SJ_UPPER_HEX = 1 << 3,   /* ids in upper-case hex */
    FT_SJ_ALL_FIELDS = 1 << 4,  /* default values too (0, "", [], {}) */
    FT_SJ_LIB_ATTRS = 1 << 5,   /* attributes by the library's ft_json_attrs
                                   (camelCase, no NaN/Infinity: only for
                                   batches of finite doubles) */
};

void ft_span_json_traces(ft_buf *b, const ft_span_batch *batch, unsigned opts);
void ft_span_json_logs(ft_buf *b, const ft_log_batch *batch, unsigned opts);

/* One AnyValue, or a KeyValue list, in OTLP/JSON. */
void ft_span_json_value(ft_buf *b, const ft_value *v, unsigned opts);
void ft_span_json_attrs(ft_buf *b, ft_attrs attrs, unsigned opts);

bool ft_span_json_value_equal(const ft_value *a, const ft_value *b, char *why,
                              size_t n);
bool ft_span_json_spans_equal(const ft_span_batch *a, const ft_span_batch *b,
                              char *why, size_t n);
bool ft_span_json_logs_equal(const ft_log_batch *a, const ft_log_batch *b,
                             char *why, size_t n);

#endif
