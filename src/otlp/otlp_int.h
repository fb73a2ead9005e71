/*
 * otlp_int.h - what the OTLP decoders share (private).
 *
 * The protobuf decoder (otlp_pb.c) and the JSON decoder (otlp_json.c) read
 * different encodings into the same span model, and must agree on what
 * they produce: absent strings are empty but never NULL, AnyValue nesting
 * is bounded, enum numbers outside the known range read as the
 * "unspecified" member, and items with invalid ids are left out and counted
 * with the same reasons.  The id checks take the lengths of the ids as
 * received (0 for absent or empty); a decoder that could not read an id at
 * all (JSON hex that is not hex) passes FT_OTLP_BAD_ID, which is wrong for
 * every field.
 */
#ifndef FT_OTLP_INT_H
#define FT_OTLP_INT_H

#include <string.h>

#include "fedtrace/span.h"

/* Deep enough for any real attribute value, shallow enough that a hostile
 * request cannot run the stack out through AnyValue recursion. */
#define FT_OTLP_MAX_VALUE_DEPTH 32

/* Absent strings are empty but never NULL, so that consumers may hand any
 * slice to memcpy or "%.*s" without a check. */
#define FT_OTLP_NO_STR ((ft_str){"", 0})

/* The length of an id that could not be decoded. */
#define FT_OTLP_BAD_ID SIZE_MAX

/* Items left out of a batch: how many, and why the first one was. */
typedef struct ft_otlp_rejects {
    size_t n;
    ft_str reason; /* a static string */
} ft_otlp_rejects;

static inline void ft__otlp_reject(ft_otlp_rejects *r, const char *reason)
{
    if (r->n++ == 0)
        r->reason = ft_str_c(reason);
}

/* Unknown kinds read as UNSPECIFIED, unknown codes as UNSET, so that the
 * enums stay in range and consumers can switch over the named values. */
static inline ft_span_kind ft__otlp_span_kind(uint64_t v)
{
    return v <= FT_SPAN_KIND_CONSUMER ? (ft_span_kind)v : FT_SPAN_KIND_UNSPECIFIED;
}

static inline ft_status_code ft__otlp_status_code(uint64_t v)
{
    return v <= FT_STATUS_ERROR ? (ft_status_code)v : FT_STATUS_UNSET;
}

/*
 * Decides whether span s is kept, from the lengths its ids had; s holds
 * the ids that had the right length.  A kept span gets has_parent (an
 * empty or all-zero parent makes a root span, with parent_span_id zeroed);
 * a refused one is counted in r.
 */
static inline bool ft__otlp_span_ids_ok(ft_span *s, size_t trace_len,
                                        size_t span_len, size_t parent_len,
                                        ft_otlp_rejects *r)
{
    const char *why = NULL;
    if (trace_len != sizeof s->trace_id)
        why = "span trace_id is not 16 bytes";
    else if (ft_bytes_zero(s->trace_id, sizeof s->trace_id))
        why = "span trace_id is all zero";
    else if (span_len != sizeof s->span_id)
        why = "span span_id is not 8 bytes";
    else if (ft_bytes_zero(s->span_id, sizeof s->span_id))
        why = "span span_id is all zero";
    else if (parent_len != 0 && parent_len != sizeof s->parent_span_id)
        why = "span parent_span_id is not 8 bytes";
    if (why != NULL) {
        ft__otlp_reject(r, why);
        return false;
    }
    s->has_parent = parent_len != 0 &&
                    !ft_bytes_zero(s->parent_span_id, sizeof s->parent_span_id);
    if (!s->has_parent)
        memset(s->parent_span_id, 0, sizeof s->parent_span_id);
    return true;
}

/*
 * The same for log record l.  Logs need no trace context, but ids of the
 * wrong size are garbage; absent ones are zeroed, and has_trace_id /
 * has_span_id say whether a non-zero id is there.
 */
static inline bool ft__otlp_log_ids_ok(ft_log *l, size_t trace_len,
                                       size_t span_len, ft_otlp_rejects *r)
{
    if (trace_len != 0 && trace_len != sizeof l->trace_id) {
        ft__otlp_reject(r, "log record trace_id is neither empty nor 16 bytes");
        return false;
    }
    if (span_len != 0 && span_len != sizeof l->span_id) {
        ft__otlp_reject(r, "log record span_id is neither empty nor 8 bytes");
        return false;
    }
    if (trace_len == 0)
        memset(l->trace_id, 0, sizeof l->trace_id);
    if (span_len == 0)
        memset(l->span_id, 0, sizeof l->span_id);
    l->has_trace_id = trace_len != 0 && !ft_bytes_zero(l->trace_id, sizeof l->trace_id);
    l->has_span_id = span_len != 0 && !ft_bytes_zero(l->span_id, sizeof l->span_id);
    return true;
}

#endif
