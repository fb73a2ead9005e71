/* fuzz_otlp_logs_pb.c - the OTLP/protobuf log decoder on arbitrary bytes.
 *
 * Decodes into a fresh capped arena and reads every byte the result points
 * at, so that a slice reaching past the input or an array shorter than its
 * count shows up under ASan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fedtrace/otlp.h"

#define ARENA_CAP ((size_t)64 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink;

static void touch_str(ft_str s)
{
    unsigned h = 0;
    for (size_t i = 0; i < s.len; i++)
        h = h * 31 + (unsigned char)s.ptr[i];
    sink += h;
}

static void touch_attrs(const ft_attr *items, size_t n);

static void touch_value(const ft_value *v)
{
    switch (v->type) {
    case FT_VAL_STRING:
    case FT_VAL_BYTES:
        touch_str(v->u.s);
        break;
    case FT_VAL_BOOL:
        sink += v->u.b;
        break;
    case FT_VAL_INT:
        sink += (unsigned)v->u.i;
        break;
    case FT_VAL_DOUBLE:
        sink += v->u.d > 0;
        break;
    case FT_VAL_ARRAY:
        for (size_t i = 0; i < v->u.array.n; i++)
            touch_value(&v->u.array.items[i]);
        break;
    case FT_VAL_KVLIST:
        touch_attrs(v->u.kvlist.items, v->u.kvlist.n);
        break;
    case FT_VAL_EMPTY:
        break;
    default:
        abort(); /* a type the decoder never produces */
    }
}

static void touch_attrs(const ft_attr *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        touch_str(items[i].key);
        touch_value(&items[i].value);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ft_arena *arena = ft_arena_create(ARENA_CAP);
    if (arena == NULL)
        return 0;
    ft_log_batch b;
    ft_err err = {0};
    ft_code rc = ft_otlp_decode_logs_pb(data, size, arena, &b, &err);
    if (rc == FT_OK) {
        if (b.rejected > 0 && b.reject_reason.len == 0)
            abort();
        for (size_t i = 0; i < b.n; i++) {
            const ft_log *l = &b.logs[i];
            if (l->resource == NULL || l->scope == NULL)
                abort();
            if (l->has_trace_id == ft_bytes_zero(l->trace_id, 16) ||
                l->has_span_id == ft_bytes_zero(l->span_id, 8))
                abort();
            sink += (unsigned)l->severity_number;
            touch_str(l->severity_text);
            touch_str(l->event_name);
            touch_value(&l->body);
            touch_attrs(l->attrs.items, l->attrs.n);
            touch_attrs(l->resource->attrs.items, l->resource->attrs.n);
            touch_str(l->resource->schema_url);
            touch_str(l->scope->name);
            touch_str(l->scope->version);
            touch_str(l->scope->schema_url);
            touch_attrs(l->scope->attrs.items, l->scope->attrs.n);
        }
    } else if (rc != FT_DECODE && rc != FT_NOMEM) {
        abort();
    } else if (err.msg[0] == '\0') {
        abort(); /* failures always say why */
    }
    ft_arena_destroy(arena);
    return 0;
}
