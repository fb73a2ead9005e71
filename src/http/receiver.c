/*
 * receiver.c - OTLP/HTTP request outcome: decode, store, respond.
 */
#include "http/receiver.h"

#include "fedtrace/otlp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

bool ft_content_type_parse(const char *value, ft_content_type *out)
{
    static const struct {
        const char *name;
        ft_content_type ct;
    } types[] = {{"application/x-protobuf", FT_CT_PROTOBUF},
                 {"application/protobuf", FT_CT_PROTOBUF},
                 {"application/json", FT_CT_JSON}};
    if (value == NULL)
        return false;
    while (*value == ' ')
        value++;
    size_t n = strcspn(value, "; \t");
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strlen(types[i].name) == n && strncasecmp(value, types[i].name, n) == 0) {
            *out = types[i].ct;
            return true;
        }
    }
    return false;
}

/* ---- protobuf output ---- */

static void pb_varint(ft_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            tmp[n] |= 0x80;
        n++;
    } while (v);
    ft_buf_put(b, tmp, n);
}

static void pb_string(ft_buf *b, unsigned field, const char *s, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    ft_buf_put(b, s, n);
}

/* google.rpc.Code for an HTTP status */
static int rpc_code(int status)
{
    switch (status) {
    case 400:
    case 415:
        return 3; /* INVALID_ARGUMENT */
    case 401:
        return 16; /* UNAUTHENTICATED */
    case 404:
        return 5; /* NOT_FOUND */
    case 405:
        return 12; /* UNIMPLEMENTED */
    case 413:
    case 429:
        return 8; /* RESOURCE_EXHAUSTED */
    case 503:
        return 14; /* UNAVAILABLE */
    default:
        return 13; /* INTERNAL */
    }
}

void ft_otlp_error(ft_otlp_result *res, ft_content_type ct, int status,
                   const char *message)
{
    res->status = status;
    res->ct = ct;
    res->retry_after = (status == 429 || status == 503) ? FT_RETRY_AFTER_S : 0;
    ft_buf_reset(&res->body);
    size_t mlen = strlen(message);
    if (ct == FT_CT_PROTOBUF) {
        /* google.rpc.Status: 1 code (int32), 2 message (string) */
        pb_varint(&res->body, 1 << 3 | 0);
        pb_varint(&res->body, (uint64_t)rpc_code(status));
        pb_string(&res->body, 2, message, mlen);
    } else {
        ft_buf_printf(&res->body, "{\"code\":%d,\"message\":", rpc_code(status));
        ft_json_str(&res->body, (ft_str){message, mlen});
        ft_buf_putc(&res->body, '}');
    }
}

/* ExportTrace/LogsServiceResponse: 1 partial_success { 1 rejected (int64),
 * 2 error_message }; empty when nothing was rejected. */
static void success(ft_otlp_result *res, ft_signal sig, ft_content_type ct,
                    ft_str reason)
{
    res->status = 200;
    res->ct = ct;
    ft_buf_reset(&res->body);
    if (ct == FT_CT_JSON && res->rejected == 0) {
        ft_buf_puts(&res->body, "{}");
        return;
    }
    if (res->rejected == 0)
        return; /* the empty protobuf message */
    char msg[400];
    int ml = snprintf(msg, sizeof msg, "%zu of %zu %s rejected: %.*s",
                      res->rejected, res->received,
                      sig == FT_SIGNAL_TRACES ? "spans" : "log records",
                      (int)(reason.len > 300 ? 300 : reason.len),
                      reason.ptr ? reason.ptr : "");
    if (ml < 0)
        ml = 0;
    if ((size_t)ml >= sizeof msg)
        ml = sizeof msg - 1;
    if (ct == FT_CT_PROTOBUF) {
        ft_buf inner = {0};
        pb_varint(&inner, 1 << 3 | 0);
        pb_varint(&inner, res->rejected);
        pb_string(&inner, 2, msg, (size_t)ml);
        if (!ft_buf_ok(&inner)) {
            res->body.failed = true;
        } else {
            pb_string(&res->body, 1, inner.ptr, inner.len);
        }
        ft_buf_free(&inner);
    } else {
        ft_buf_printf(&res->body, "{\"partialSuccess\":{\"%s\":\"%zu\",\"errorMessage\":",
                      sig == FT_SIGNAL_TRACES ? "rejectedSpans" : "rejectedLogRecords",
                      res->rejected);
        ft_json_str(&res->body, (ft_str){msg, (size_t)ml});
        ft_buf_puts(&res->body, "}}");
    }
}

/* The HTTP status for a failed store write: the store is the problem, not
 * the request, so the client should retry. */
static void store_failed(ft_otlp_result *res, ft_content_type ct)
{
    char msg[600];
    snprintf(msg, sizeof msg, "the store cannot take the data now: %s",
             res->err.msg);
    ft_otlp_error(res, ct, 503, msg);
}

void ft_otlp_handle(ft_exporter *ex, ft_signal sig, ft_content_type ct,
                    const uint8_t *body, size_t len, ft_arena *arena,
                    ft_otlp_result *res)
{
    res->code = FT_OK;
    res->retry_after = 0; /* res may be reused: a 503 must not stick to a 200 */
    res->received = res->rejected = 0;
    memset(&res->stored, 0, sizeof res->stored);
    ft_str reason = {NULL, 0};
    ft_code rc;
    ft_span_batch sb = {0};
    ft_log_batch lb = {0};
    if (sig == FT_SIGNAL_TRACES) {
        rc = ct == FT_CT_PROTOBUF
                 ? ft_otlp_decode_traces_pb(body, len, arena, &sb, &res->err)
                 : ft_otlp_decode_traces_json(body, len, arena, &sb, &res->err);
        res->received = sb.n + sb.rejected;
        res->rejected = sb.rejected;
        reason = sb.reject_reason;
    } else {
        rc = ct == FT_CT_PROTOBUF
                 ? ft_otlp_decode_logs_pb(body, len, arena, &lb, &res->err)
                 : ft_otlp_decode_logs_json(body, len, arena, &lb, &res->err);
        res->received = lb.n + lb.rejected;
        res->rejected = lb.rejected;
        reason = lb.reject_reason;
    }
    res->code = rc;
    if (rc == FT_NOMEM) {
        ft_otlp_error(res, ct, 413,
                      "the decoded request needs more memory than a request "
                      "may take; send smaller batches");
        return;
    }
    if (rc != FT_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "cannot decode the %s request: %s",
                 ct == FT_CT_PROTOBUF ? "protobuf" : "JSON", res->err.msg);
        ft_otlp_error(res, ct, 400, msg);
        return;
    }
    rc = sig == FT_SIGNAL_TRACES
             ? ft_exporter_export_spans(ex, &sb, &res->stored, &res->err)
             : ft_exporter_export_logs(ex, &lb, &res->stored, &res->err);
    res->code = rc;
    if (rc != FT_OK) {
        store_failed(res, ct);
        return;
    }
    success(res, sig, ct, reason);
}
