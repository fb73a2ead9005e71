/* fuzz_receiver.c - an OTLP/HTTP request, start to response, on arbitrary
 * bytes.
 *
 * Input: one selector byte, then the body.  Bit 0 of the selector picks
 * the signal (traces, logs), bit 1 the content type (protobuf, JSON).  The
 * body goes through ft_otlp_handle with a capped arena and an exporter on
 * an in-memory store, and the response must be one the specification
 * allows, in the request's encoding, and consistent with the counts: 200
 * with an empty message (or "{}") when nothing was rejected, else a
 * partial_success carrying the rejected count; 400 with a google.rpc.Status
 * for malformed bodies; 413 when the arena cap was hit; Retry-After only
 * with 503.
 *
 * The store and exporter are created once and replaced every RUNS_PER_STORE
 * inputs, so that memory stays bounded and each run stays cheap.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/receiver.h"

#define ARENA_CAP ((size_t)4 << 20)
#define RUNS_PER_STORE 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ft_kv *kv;
static ft_exporter *ex;
static unsigned runs;

static void fresh_store(void)
{
    ft_exporter_destroy(ex);
    ft_kv_close(kv);
    ex = NULL;
    kv = NULL;
    if (ft_kv_open("memory:", &kv, NULL) != FT_OK ||
        ft_exporter_create(kv, NULL, &ex, NULL) != FT_OK)
        abort();
}

/* ---- reading the response ---- */

typedef struct rd {
    const uint8_t *p, *end;
} rd;

static uint64_t varint(rd *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            abort();
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    abort();
}

/* The next field of a message whose fields are all varints or strings;
 * false at the end. */
static int field(rd *r, uint64_t *v, rd *bytes)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key = varint(r);
    *v = UINT64_MAX;
    bytes->p = bytes->end = r->p;
    if ((key & 7) == 0) {
        *v = varint(r);
    } else if ((key & 7) == 2) {
        uint64_t n = varint(r);
        if (n > (uint64_t)(r->end - r->p))
            abort();
        bytes->p = r->p;
        bytes->end = r->p + n;
        r->p += n;
    } else {
        abort();
    }
    return (int)(key >> 3);
}

/* google.rpc.Status in protobuf: 1 code, 2 non-empty message. */
static void check_pb_status(const ft_buf *b, uint64_t want_code)
{
    rd r = {(const uint8_t *)b->ptr, (const uint8_t *)b->ptr + b->len}, s;
    uint64_t v = 0;
    int f, seen = 0;
    while ((f = field(&r, &v, &s)) != 0) {
        if (f == 1 && v == want_code)
            seen |= 1;
        else if (f == 2 && s.end > s.p)
            seen |= 2;
        else
            abort();
    }
    if (seen != 3)
        abort();
}

static void check_json_status(const ft_buf *b, json_int_t want_code)
{
    json_t *j = json_loadb(b->ptr, b->len, 0, NULL);
    if (!json_is_object(j) || json_object_size(j) != 2 ||
        json_integer_value(json_object_get(j, "code")) != want_code ||
        json_string_length(json_object_get(j, "message")) == 0)
        abort();
    json_decref(j);
}

static void check_partial(const ft_otlp_result *res, ft_signal sig)
{
    const ft_buf *b = &res->body;
    if (res->ct == FT_CT_PROTOBUF) {
        if (res->rejected == 0) {
            if (b->len != 0)
                abort();
            return;
        }
        rd r = {(const uint8_t *)b->ptr, (const uint8_t *)b->ptr + b->len}, ps, s;
        uint64_t v = 0, rejected = 0;
        if (field(&r, &v, &ps) != 1 || r.p != r.end)
            abort();
        int f, seen = 0;
        while ((f = field(&ps, &v, &s)) != 0) {
            if (f == 1 && v != UINT64_MAX) {
                rejected = v;
                seen |= 1;
            } else if (f == 2 && s.end > s.p) {
                seen |= 2;
            } else {
                abort();
            }
        }
        if (seen != 3 || rejected != res->rejected)
            abort();
        return;
    }
    if (res->rejected == 0) {
        if (b->len != 2 || memcmp(b->ptr, "{}", 2) != 0)
            abort();
        return;
    }
    json_t *j = json_loadb(b->ptr, b->len, 0, NULL);
    json_t *ps = json_object_get(j, "partialSuccess");
    const char *n = json_string_value(json_object_get(
        ps, sig == FT_SIGNAL_TRACES ? "rejectedSpans" : "rejectedLogRecords"));
    char want[32];
    snprintf(want, sizeof want, "%zu", res->rejected);
    if (json_object_size(j) != 1 || json_object_size(ps) != 2 || n == NULL ||
        strcmp(n, want) != 0 ||
        json_string_length(json_object_get(ps, "errorMessage")) == 0)
        abort();
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (ex == NULL || ++runs % RUNS_PER_STORE == 0)
        fresh_store();
    ft_signal sig = (data[0] & 1) ? FT_SIGNAL_LOGS : FT_SIGNAL_TRACES;
    ft_content_type ct = (data[0] & 2) ? FT_CT_JSON : FT_CT_PROTOBUF;
    data++;
    size--;

    ft_arena *arena = ft_arena_create(ARENA_CAP);
    if (arena == NULL)
        abort();
    ft_otlp_result res;
    memset(&res, 0, sizeof res);
    ft_otlp_handle(ex, sig, ct, size ? data : NULL, size, arena, &res);
    ft_arena_destroy(arena);

    if (!ft_buf_ok(&res.body) || res.ct != ct)
        abort();
    if (res.retry_after != (res.status == 503 ? FT_RETRY_AFTER_S : 0u))
        abort();
    if (res.rejected > res.received)
        abort();
    switch (res.status) {
    case 200:
        if (res.code != FT_OK)
            abort();
        if (sig == FT_SIGNAL_TRACES ? res.stored.spans != res.received - res.rejected
                                    : res.stored.logs > res.received - res.rejected)
            abort();
        check_partial(&res, sig);
        break;
    case 400:
    case 413:
        if (res.code != (res.status == 400 ? FT_DECODE : FT_NOMEM) || res.err.msg[0] == '\0')
            abort();
        if (ct == FT_CT_PROTOBUF)
            check_pb_status(&res.body, res.status == 400 ? 3 : 8);
        else
            check_json_status(&res.body, res.status == 400 ? 3 : 8);
        break;
    case 503:
        /* only a store failure; memory: fails only when out of memory */
        if (res.code == FT_OK)
            abort();
        break;
    default:
        abort();
    }
    ft_buf_free(&res.body);
    return 0;
}
