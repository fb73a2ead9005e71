/*
 * ft_http.h - an HTTP/1.1 client and a `fedtrace serve` launcher for tests
 * and benchmarks.
 *
 * The client speaks just enough HTTP/1.1 to drive the daemon: keep-alive
 * connections, Content-Length or chunked request bodies, responses framed
 * by Content-Length or chunked Transfer-Encoding (chunk extensions and
 * trailers are skipped) or without a body (HEAD, 204, 304).  Blocking, with
 * 60 s send and receive timeouts.
 *
 * Two ways to use it: by file descriptor (ft_http_connect, ft_http_request,
 * ft_http_once), each call with its own read buffer and a fresh response;
 * or with an ft_http_conn, which keeps its read buffer from one request to
 * the next and reuses the response's buffers, so that a client sending many
 * requests (bench/loadgen.c) allocates nothing per request once warm.
 *
 * The launcher starts the real binary (FT_BIN by default) with
 * --otlp-listen 127.0.0.1:0 --ui-listen 127.0.0.1:0 and reads the
 * "fedtrace: otlp listening on http://HOST:PORT" lines it prints.
 */
#ifndef FT_HTTP_H
#define FT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef struct ft_http_resp {
    int status;
    char reason[64]; /* the status line's reason phrase (cut to fit) */
    bool close;      /* the server closes the connection after this one
                        (HTTP/1.0 without keep-alive, or Connection: close) */
    char *head;      /* the header lines, NUL-terminated */
    uint8_t *body;   /* NUL byte past the end, not counted */
    size_t len;
    /* bytes allocated behind head and body, for reuse (ft_http_conn_request) */
    size_t head_cap, body_cap;
} ft_http_resp;

/* A connection to 127.0.0.1:port; -1 on failure. */
int ft_http_connect(int port);
void ft_http_close(int fd);

/*
 * Sends one request and reads its response into out (which need not be
 * initialised; free it with ft_http_resp_free after a success; after a
 * failure it is empty, and freeing it does no harm).
 * `headers` are full lines without CRLF ("Content-Type: application/json"),
 * NULL-terminated, or NULL; a "Host:" line among them replaces the default
 * "Host: 127.0.0.1".  chunk > 0 sends the body chunked in pieces of that
 * size.  Returns 0, or -1 when the connection failed (closed, timed out,
 * a malformed response).
 */
int ft_http_request(int fd, const char *method, const char *path,
                    const char *const *headers, const void *body, size_t len,
                    size_t chunk, ft_http_resp *out);

/* One request on a fresh connection (closed afterwards). */
int ft_http_once(int port, const char *method, const char *path,
                 const char *const *headers, const void *body, size_t len,
                 ft_http_resp *out);

/* A response header's value (malloc'd), or NULL. */
char *ft_http_header(const ft_http_resp *r, const char *name);
/* Frees the buffers and zeroes r (so that it can be used again). */
void ft_http_resp_free(ft_http_resp *r);

/* ---- connections with their own read buffer ---------------------------- */

/* Bytes read ahead per connection; also the longest status or header
 * line a response may have. */
#define FT_HTTP_RBUF 16384

typedef struct ft_http_conn {
    int fd;          /* -1 when closed */
    size_t off, len; /* unread bytes: buf[off, len) */
    char buf[FT_HTTP_RBUF];
    char err[512]; /* why the last call failed */
} ft_http_conn;

/*
 * Connects to addr (any family; TCP_NODELAY, 60 s timeouts).  Returns 0, or
 * -1 with c->fd == -1 and c->err saying why ("connect to 127.0.0.1:80:
 * Connection refused").
 */
int ft_http_conn_open(ft_http_conn *c, const struct sockaddr *addr,
                      socklen_t addrlen);
/* Closes the socket if open; c->fd becomes -1. */
void ft_http_conn_close(ft_http_conn *c);

/*
 * As ft_http_request, on c.  out must be zeroed ({0}) before its first
 * use; after that its buffers are reused from one call to the next, grown
 * as needed (free them with ft_http_resp_free at the end).  On -1, c->err
 * says what went wrong and the connection is unusable: close it.  When
 * out->close is set the server is closing it: close it too, and open a new
 * one for the next request.
 */
int ft_http_conn_request(ft_http_conn *c, const char *method,
                         const char *path, const char *const *headers,
                         const void *body, size_t len, size_t chunk,
                         ft_http_resp *out);

/* ---- the daemon ---------------------------------------------------------- */

typedef struct ft_daemon {
    pid_t pid;
    int otlp_port; /* 0 when off */
    int ui_port;   /* 0 when off */
    char *log;     /* path of its stderr */
} ft_daemon;

/*
 * Starts `fedtrace serve --store STORE` plus the extra arguments (a
 * NULL-terminated list, may be NULL); its stderr goes to log_path.
 * Listeners default to 127.0.0.1:0 unless extra sets them.  Waits up to
 * 20 s for the listening lines.  Returns 0, or -1 (and the daemon is gone).
 */
int ft_daemon_start(ft_daemon *d, const char *store, const char *log_path,
                    const char *const *extra);
/* Sends sig and waits for the exit; returns the wait status. */
int ft_daemon_stop(ft_daemon *d, int sig);

#endif
