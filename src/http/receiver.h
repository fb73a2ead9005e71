/*
 * http/receiver.h - the OTLP/HTTP receiver's request logic, without HTTP.
 *
 * Given a decoded (already decompressed) request body, its signal and its
 * content type, ft_otlp_handle decodes it, stores it through an exporter
 * and produces the response the OTLP/HTTP specification asks for: status
 * code, body in the request's encoding (protobuf or JSON), Retry-After.
 * The HTTP server (src/app/server.c) only moves bytes; everything a test
 * or fuzzer needs to check about a request's outcome is decided here.
 *
 * Thread-safety: as the exporter's (one thread at a time per exporter).
 */
#ifndef FT_HTTP_RECEIVER_H
#define FT_HTTP_RECEIVER_H

#include "core/buf.h"
#include "fedtrace/exporter.h"

typedef enum ft_signal {
    FT_SIGNAL_TRACES,
    FT_SIGNAL_LOGS,
} ft_signal;

typedef enum ft_content_type {
    FT_CT_PROTOBUF,
    FT_CT_JSON,
} ft_content_type;

/* "application/x-protobuf" (or "application/protobuf") and
 * "application/json", parameters such as charset ignored, case-insensitive.
 * False for anything else. */
bool ft_content_type_parse(const char *value, ft_content_type *out);

/* The seconds a client is told to wait after a 429 or 503. */
#define FT_RETRY_AFTER_S 5

typedef struct ft_otlp_result {
    int status;               /* HTTP status code */
    ft_content_type ct;       /* of the response body */
    ft_buf body;              /* response body (caller frees with ft_buf_free) */
    unsigned retry_after;     /* seconds; 0: no Retry-After header */
    size_t received;          /* items in the request (accepted + rejected) */
    size_t rejected;          /* items the decoder refused */
    ft_export_stats stored;   /* what the exporter stored */
    ft_code code;             /* FT_OK, or what failed */
    ft_err err;               /* its message (for logs) */
} ft_otlp_result;

/*
 * Handles one request.  `arena` holds the decoded batch; its cap bounds
 * the memory a request may take (FT_NOMEM from the decoder becomes 413).
 * 200 only when everything accepted was stored.
 */
void ft_otlp_handle(ft_exporter *ex, ft_signal sig, ft_content_type ct,
                    const uint8_t *body, size_t len, ft_arena *arena,
                    ft_otlp_result *res);

/* Fills res with an error response: status, google.rpc.Status body (code,
 * message) in encoding ct, and Retry-After for 429/503. */
void ft_otlp_error(ft_otlp_result *res, ft_content_type ct, int status,
                   const char *message);

#endif
