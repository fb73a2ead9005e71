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

static ft_code decode(const uint8_t *data, size_t size, ft_arena *arena,
                      size_t *n, ft_err *err)
{
    ft_log_batch b;
    ft_code rc = ft_otlp_decode_logs_json(data, size, arena, &b, err);
    if (rc == FT_OK)
        check_logs(&b);
    *n = b.n;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_json_run(decode, data, size);
    return 0;
}
