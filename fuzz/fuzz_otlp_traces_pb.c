/* fuzz_otlp_traces_pb.c - the OTLP/protobuf trace decoder on arbitrary bytes.
 *
 * Decodes into a fresh capped arena and reads every byte the result points
 * at, so that a slice reaching past the input or an array shorter than its
 * count shows up under ASan. */
#include "fuzz_common.h"

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
            touch_origin(s->resource, s->scope);
        }
    } else {
        check_failure(rc, &err);
    }
    ft_arena_destroy(arena);
    return 0;
}
