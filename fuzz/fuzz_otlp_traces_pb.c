/* fuzz_otlp_traces_pb.c - the OTLP/protobuf trace decoder on arbitrary bytes.
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
    ft_span_batch b;
    ft_err err = {0};
    ft_code rc = ft_otlp_decode_traces_pb(data, size, arena, &b, &err);
    if (rc == FT_OK) {
        if (b.rejected > 0 && b.reject_reason.len == 0)
            abort();
        for (size_t i = 0; i < b.n; i++) {
            const ft_span *s = &b.spans[i];
            if (s->resource == NULL || s->scope == NULL ||
                ft_bytes_zero(s->trace_id, 16) || ft_bytes_zero(s->span_id, 8))
                abort();
            if (s->has_parent == ft_bytes_zero(s->parent_span_id, 8))
                abort();
            touch_str(s->name);
            touch_str(s->trace_state);
            touch_str(s->status_message);
            sink += ft_span_kind_name(s->kind)[0];
            sink += ft_status_code_name(s->status_code)[0];
            touch_attrs(s->attrs.items, s->attrs.n);
            for (size_t j = 0; j < s->n_events; j++) {
                touch_str(s->events[j].name);
                touch_attrs(s->events[j].attrs.items, s->events[j].attrs.n);
            }
            for (size_t j = 0; j < s->n_links; j++) {
                touch_str(s->links[j].trace_state);
                touch_attrs(s->links[j].attrs.items, s->links[j].attrs.n);
            }
            touch_attrs(s->resource->attrs.items, s->resource->attrs.n);
            touch_str(s->resource->schema_url);
            touch_str(s->scope->name);
            touch_str(s->scope->version);
            touch_str(s->scope->schema_url);
            touch_attrs(s->scope->attrs.items, s->scope->attrs.n);
        }
    } else if (rc != FT_DECODE && rc != FT_NOMEM) {
        abort();
    } else if (err.msg[0] == '\0') {
        abort(); /* failures always say why */
    }
    ft_arena_destroy(arena);
    return 0;
}
