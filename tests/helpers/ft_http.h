/*
 * ft_http.h - an HTTP/1.1 client and a `fedtrace serve` launcher for tests
 * and benchmarks.
 *
 * The client speaks just enough HTTP/1.1 to drive the daemon: keep-alive
 * connections, Content-Length or chunked request bodies, responses with
 * Content-Length or chunked bodies.  Blocking, with a receive timeout.
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
#include <sys/types.h>

typedef struct ft_http_resp {
    int status;
    char *head;    /* the header lines, NUL-terminated */
    uint8_t *body; /* NUL byte past the end, not counted */
    size_t len;
} ft_http_resp;

/* A connection; -1 on failure. */
int ft_http_connect(int port);
void ft_http_close(int fd);

/*
 * Sends one request and reads its response.  `headers` are full lines
 * without CRLF ("Content-Type: application/json"), NULL-terminated, or
 * NULL.  chunk > 0 sends the body chunked in pieces of that size.
 * Returns 0, or -1 when the connection failed (closed, timed out).
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
void ft_http_resp_free(ft_http_resp *r);

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
