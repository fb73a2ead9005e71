/* fuzz_otlp_logs_pb.c - the OTLP/protobuf log decoder on arbitrary bytes.
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
            touch_origin(l->resource, l->scope);
        }
    } else {
        check_failure(rc, &err);
    }
    ft_arena_destroy(arena);
    return 0;
}
