/*
 * fedtrace/span.h - the span and log record model.
 *
 * The decoded form of OTLP traces and logs.  Every pointer in these structs
 * (strings, arrays) points into an arena owned by whoever produced the
 * batch (a decoder fills them from the request arena; strings may point
 * straight into the request body).  They stay valid as long as that arena
 * and that body do.  Nothing here is thread-safe or needs to be: a batch
 * belongs to the request that decoded it.
 */
#ifndef FEDTRACE_SPAN_H
#define FEDTRACE_SPAN_H

#include "fedtrace/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ft_value_type {
    FT_VAL_EMPTY = 0,
    FT_VAL_STRING,
    FT_VAL_BOOL,
    FT_VAL_INT,
    FT_VAL_DOUBLE,
    FT_VAL_BYTES,
    FT_VAL_ARRAY,
    FT_VAL_KVLIST,
} ft_value_type;

typedef struct ft_attr ft_attr;

/* OTLP AnyValue. */
typedef struct ft_value {
    ft_value_type type;
    union {
        ft_str s; /* STRING, BYTES (raw bytes) */
        bool b;
        int64_t i;
        double d;
        struct {
            struct ft_value *items;
            size_t n;
        } array;
        struct {
            ft_attr *items;
            size_t n;
        } kvlist;
    } u;
} ft_value;

/* OTLP KeyValue. */
struct ft_attr {
    ft_str key;
    ft_value value;
};

typedef struct ft_attrs {
    ft_attr *items;
    size_t n;
} ft_attrs;

/* Looks up a key; NULL when absent.  The last occurrence wins. */
const ft_value *ft_attrs_get(ft_attrs attrs, const char *key);

typedef enum ft_span_kind {
    FT_SPAN_KIND_UNSPECIFIED = 0,
    FT_SPAN_KIND_INTERNAL = 1,
    FT_SPAN_KIND_SERVER = 2,
    FT_SPAN_KIND_CLIENT = 3,
    FT_SPAN_KIND_PRODUCER = 4,
    FT_SPAN_KIND_CONSUMER = 5,
} ft_span_kind;

typedef enum ft_status_code {
    FT_STATUS_UNSET = 0,
    FT_STATUS_OK = 1,
    FT_STATUS_ERROR = 2,
} ft_status_code;

typedef struct ft_event {
    uint64_t time_ns;
    ft_str name;
    ft_attrs attrs;
    uint32_t dropped_attrs;
} ft_event;

typedef struct ft_link {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    ft_str trace_state;
    ft_attrs attrs;
    uint32_t dropped_attrs;
    uint32_t flags;
} ft_link;

/* Resource and instrumentation scope, shared by the spans under them. */
typedef struct ft_resource {
    ft_attrs attrs;
    uint32_t dropped_attrs;
    ft_str schema_url;
} ft_resource;

typedef struct ft_scope {
    ft_str name;
    ft_str version;
    ft_attrs attrs;
    uint32_t dropped_attrs;
    ft_str schema_url;
} ft_scope;

typedef struct ft_span {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8];
    bool has_parent; /* parent_span_id present and not all zero */
    ft_str trace_state;
    uint32_t flags;
    ft_str name;
    ft_span_kind kind;
    uint64_t start_ns;
    uint64_t end_ns;
    ft_attrs attrs;
    uint32_t dropped_attrs;
    ft_event *events;
    size_t n_events;
    uint32_t dropped_events;
    ft_link *links;
    size_t n_links;
    uint32_t dropped_links;
    ft_status_code status_code;
    ft_str status_message;
    const ft_resource *resource; /* never NULL in a decoded batch */
    const ft_scope *scope;       /* never NULL in a decoded batch */
} ft_span;

typedef struct ft_span_batch {
    ft_span *spans;
    size_t n;
    size_t rejected;     /* items the decoder refused (bad ids, ...) */
    ft_str reject_reason; /* the first refusal, for partial_success */
} ft_span_batch;

typedef struct ft_log {
    uint64_t time_ns;
    uint64_t observed_ns;
    int32_t severity_number;
    ft_str severity_text;
    ft_value body;
    ft_attrs attrs;
    uint32_t dropped_attrs;
    uint32_t flags;
    uint8_t trace_id[16];
    uint8_t span_id[8];
    bool has_trace_id; /* a 16-byte, non-zero trace id */
    bool has_span_id;
    ft_str event_name;
    const ft_resource *resource;
    const ft_scope *scope;
} ft_log;

typedef struct ft_log_batch {
    ft_log *logs;
    size_t n;
    size_t rejected;
    ft_str reject_reason;
} ft_log_batch;

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void ft_hex_encode(const uint8_t *in, size_t n, char *out);
/* Parses exactly 2n hex digits (either case); false on anything else. */
bool ft_hex_decode(ft_str hex, uint8_t *out, size_t n);
/* The value of one hex digit (either case), or -1. */
int ft_hex_value(char c);
/* True when all n bytes are zero. */
bool ft_bytes_zero(const uint8_t *p, size_t n);

/* "INTERNAL", "SERVER", ... ("UNSPECIFIED" for unknown values). */
const char *ft_span_kind_name(ft_span_kind kind);
/* "UNSET", "OK", "ERROR". */
const char *ft_status_code_name(ft_status_code code);

#ifdef __cplusplus
}
#endif
#endif
