/* fuzz_otlp_logs_json.c - the OTLP/JSON log decoder on arbitrary bytes.
 *
 * Decodes into a fresh capped arena and reads every byte the result points
 * at, so that a slice reaching past its string or an array shorter than its
 * count shows up under ASan.  A request that decodes is decoded again into
 * arenas capped just at and just below what it used: the first must
 * succeed the same way, the second must fail with FT_NOMEM. */
#include "fuzz_common.h"

static void check_logs(const ft_log_batch *b)
{
    if (b->rejected > 0 && b->reject_reason.len == 0)
        abort();
    if ((b->n == 0) != (b->logs == NULL))
        abort();
    for (size_t i = 0; i < b->n; i++) {
        const ft_log *l = &b->logs[i];
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
}

static ft_code decode_capped(const uint8_t *data, size_t size, size_t cap,
                             size_t *n)
{
    ft_arena *arena = ft_arena_create(cap);
    if (arena == NULL)
        abort();
    ft_log_batch b;
    ft_err err = {0};
    ft_code rc = ft_otlp_decode_logs_json(data, size, arena, &b, &err);
    if (rc == FT_OK)
        check_logs(&b);
    else
        check_failure(rc, &err);
    *n = b.n;
    ft_arena_destroy(arena);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ft_arena *arena = ft_arena_create(ARENA_CAP);
    if (arena == NULL)
        return 0;
    ft_log_batch b;
    ft_err err = {0};
    ft_code rc = ft_otlp_decode_logs_json(data, size, arena, &b, &err);
    if (rc == FT_OK) {
        check_logs(&b);
        size_t used = ft_arena_used(arena), n;
        if (used > 0) {
            /* at exactly what the batch used it decodes the same, unless
             * the up-front estimate of jansson's tree is the larger need */
            ft_code again = decode_capped(data, size, used, &n);
            if (again == FT_OK ? n != b.n : again != FT_NOMEM)
                abort();
            if (decode_capped(data, size, used / 2, &n) != FT_NOMEM)
                abort();
        }
    } else {
        check_failure(rc, &err);
        if (strncmp(err.msg, "OTLP JSON: ", 11) != 0)
            abort();
    }
    ft_arena_destroy(arena);
    return 0;
}
