/*
 * http/events.h - the live stream of new and changed traces.
 *
 * One thread per server polls the newest traces (through a callback, so
 * that it sees what every node sharing the store wrote) while anyone is
 * subscribed: every `interval_ms`, and at once (50 ms later, to gather a
 * burst) after ft_events_kick, which the OTLP handler calls when it stored
 * something.  A trace whose summary is new or differs from the last one
 * seen becomes an event with a sequence number; the last 512 events are
 * kept so that a client that reconnects with Last-Event-ID misses none of
 * them.  Readers block in ft_events_next until an event matches their
 * filter, a timeout passes or the hub stops.
 */
#ifndef FT_HTTP_EVENTS_H
#define FT_HTTP_EVENTS_H

#include "core/buf.h"
#include "fedtrace/exporter.h"

typedef struct ft_events ft_events;

/* Lists the newest traces (at most `limit`) into arena. */
typedef ft_code (*ft_events_poll_fn)(void *ctx, size_t limit, ft_arena *arena,
                                     ft_trace_summary **out, size_t *n,
                                     ft_err *err);

ft_code ft_events_create(ft_events_poll_fn poll, void *ctx, int64_t interval_ms,
                         ft_events **out, ft_err *err);
/* Wakes blocked readers, which return FT_CLOSED from now on.  NULL: no-op. */
void ft_events_close(ft_events *h);
/* Stops the thread and frees; readers must be gone (unsubscribed).
 * NULL: no-op. */
void ft_events_destroy(ft_events *h);
/* Something was stored here: poll soon. */
void ft_events_kick(ft_events *h);

/* Registers a reader; *seq gets where it starts (the newest event now,
 * or last_id when the client resumes and that event is still kept). */
void ft_events_subscribe(ft_events *h, const char *last_id, uint64_t *seq);
void ft_events_unsubscribe(ft_events *h);

/*
 * Waits for the first event after *seq that matches f (NULL: any) and
 * appends "id: N\nevent: trace\ndata: {summary}\n\n" to out, moving *seq
 * past it.  FT_OK: an event was written; FT_AGAIN: timeout_ms passed
 * without one; FT_CLOSED: the hub is stopping.
 */
ft_code ft_events_next(ft_events *h, uint64_t *seq, const ft_trace_filter *f,
                       int64_t timeout_ms, ft_buf *out);

/* Events emitted since start, and subscribers now (for /metrics). */
uint64_t ft_events_count(ft_events *h);
size_t ft_events_subscribers(ft_events *h);

#endif
