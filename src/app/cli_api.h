/*
 * app/cli_api.h - the CLI's client for a running server's JSON API.
 *
 * `fedtrace traces|show|tail --store http://HOST:PORT/BASE/` reads through
 * the API of `fedtrace serve`'s UI listener instead of a store.  Plain GETs
 * (api/traces, api/traces/<id>, ...) and the server-sent event stream
 * (api/events), over libcurl: http and https only, no redirects followed
 * (a redirect is reported with its target), "Authorization: Bearer TOKEN"
 * when a token is given.
 *
 * Errors: FT_IO when the server cannot be reached or the connection broke,
 * FT_AGAIN for 429 and 5xx answers (worth retrying), FT_BACKEND for other
 * HTTP errors (err->native holds the status; the message is the API's
 * JSON "error" text and "(HTTP 401)"), FT_TOO_LARGE for an answer beyond
 * 1 GiB, FT_NOMEM.  Messages name the URL without any user:password part.
 * Text in messages comes from the server: print it terminal-safe.
 *
 * Not thread-safe: one thread uses an ft_api and its streams.
 */
#ifndef FT_APP_CLI_API_H
#define FT_APP_CLI_API_H

#include "core/buf.h"
#include "fedtrace/common.h"

typedef struct ft_api ft_api;

/* Whether a --store value is an API URL (http:// or https://). */
bool ft_api_is_url(const char *url);

/*
 * base: the UI listener's URL, with or without a trailing slash
 * ("http://127.0.0.1:8080", "https://host/fedtrace/").  token: sent as
 * "Authorization: Bearer TOKEN", or NULL.  ca_file: PEM certificates to
 * trust for https (a self-signed server), or NULL for the system's.  All
 * are copied.
 */
ft_code ft_api_open(const char *base, const char *token, const char *ca_file,
                    ft_api **out, ft_err *err);
void ft_api_close(ft_api *a); /* NULL is a no-op */
/* The base URL as shown in messages (no user:password), with a trailing
 * slash.  Valid until ft_api_close. */
const char *ft_api_shown(const ft_api *a);

/* Appends "name=value" to a query string, both URL-encoded, with '&'
 * in front unless q is empty. */
void ft_api_query_add(ft_buf *q, const char *name, const char *value);
/* Appends one path segment, URL-encoded ('/' too: "mastodon%2Fweb"). */
void ft_api_path_add(ft_buf *path, const char *segment);

/*
 * GET base + path (relative: "api/traces?limit=20").  On 200 the body is
 * in *body (emptied first; not NUL-terminated beyond len) and, when
 * next_cursor is not NULL, *next_cursor is the X-Next-Cursor header's
 * value (malloc'd; the caller frees it) or NULL.  Any other status is an
 * error (see above); *body then holds the error answer.
 */
ft_code ft_api_get(ft_api *a, const char *path, ft_buf *body,
                   char **next_cursor, ft_err *err);

/* ---- the event stream (text/event-stream) ---------------------------- */

typedef struct ft_api_stream ft_api_stream;

/* One dispatched event.  Strings are NUL-terminated and valid until the
 * next call on the stream. */
typedef struct ft_sse_event {
    const char *type; /* the "event:" field; "message" when there was none */
    const char *id;   /* the last event id seen so far ("" if none) */
    const char *data; /* the "data:" lines joined by "\n" */
    size_t data_len;
} ft_sse_event;

/*
 * Starts GET base + path with "Accept: text/event-stream" and, when
 * last_event_id is neither NULL nor empty, "Last-Event-ID".  Does not wait:
 * the connection is made by ft_api_stream_next.
 */
ft_code ft_api_stream_open(ft_api *a, const char *path,
                           const char *last_event_id, ft_api_stream **out,
                           ft_err *err);

/*
 * Moves the transfer on for at most about timeout_ms and returns the next
 * event: FT_OK with *ev filled, FT_AGAIN when none is complete yet (call
 * again; ft_api_stream_connected may have become true), or an error when
 * the stream ended: the server closed it or failed to answer (FT_IO,
 * FT_AGAIN for 5xx), or refused it (FT_BACKEND with the HTTP status).
 * Events are parsed as the WHATWG event-stream format says: CRLF, LF or
 * CR line ends, ":" comments, a blank line dispatches, events without
 * data are dropped, "retry:" is remembered.
 */
ft_code ft_api_stream_next(ft_api_stream *s, int timeout_ms,
                           ft_sse_event *ev, ft_err *err);
/* True once the server answered 200 with Content-Type text/event-stream. */
bool ft_api_stream_connected(const ft_api_stream *s);
/* The stream's last event id ("" if none), for Last-Event-ID on a
 * reconnection; valid until the next call on s. */
const char *ft_api_stream_last_id(const ft_api_stream *s);
/* The reconnection time the server asked for with "retry:", or -1. */
int64_t ft_api_stream_retry_ms(const ft_api_stream *s);
void ft_api_stream_close(ft_api_stream *s); /* NULL is a no-op */

#endif
