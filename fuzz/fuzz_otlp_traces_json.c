/* fuzz_otlp_traces_json.c - the OTLP/JSON trace decoder on arbitrary bytes.
 *
 * Decodes into a fresh capped arena and reads every byte the result points
 * at, so that a slice reaching past its string or an array shorter than its
 * count shows up under ASan.  A request that decodes is decoded again into
 * arenas capped just at and just below what it used: the first must
 * succeed the same way, the second must fail with FT_NOMEM (never crash,
 * never FT_DECODE), which exercises every allocation failure path. */
#include "fuzz_common.h"

static void check_spans(const ft_span_batch *b)
{
    if (b->rejected > 0 && b->reject_reason.len == 0)
        abort();
    if ((b->n == 0) != (b->spans == NULL))
        abort();
    for (size_t i = 0; i < b->n; i++) {
        const ft_span *s = &b->spans[i];
        if (s->resource == NULL || s->scope == NULL ||
            ft_bytes_zero(s->trace_id, 16) || ft_bytes_zero(s->span_id, 8))
            abort();
        if (s->has_parent == ft_bytes_zero(s->parent_span_id, 8))
            abort();
        if ((unsigned)s->kind > FT_SPAN_KIND_CONSUMER ||
            (unsigned)s->status_code > FT_STATUS_ERROR)
            abort();
        touch_str(s->name);
        touch_str(s->trace_state);
        touch_str(s->status_message);
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
}

static ft_code decode(const uint8_t *data, size_t size, ft_arena *arena,
                      size_t *n, ft_err *err)
{
    ft_span_batch b;
    ft_code rc = ft_otlp_decode_traces_json(data, size, arena, &b, err);
    if (rc == FT_OK)
        check_spans(&b);
    *n = b.n;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_json_run(decode, data, size);
    return 0;
}
