/*
 * app/server.h - `fedtrace serve`: the OTLP/HTTP and UI/API listeners.
 *
 * Two libmicrohttpd daemons (either may be off) on one store.  Each worker
 * thread borrows a store handle and an exporter from a pool while it
 * handles a request; the pool grows to the number of requests handled at
 * once.  A maintenance round (called periodically by the owner) sweeps
 * expired data and keeps an LMDB store within its disk budget.
 */
#ifndef FT_APP_SERVER_H
#define FT_APP_SERVER_H

#include "fedtrace/common.h"

#include <stdio.h>

typedef struct ft_server_opts {
    const char *store_url;
    const char *otlp_listen; /* HOST:PORT, or NULL/"off" */
    const char *ui_listen;   /* HOST:PORT, or NULL/"off" */
    int64_t retention_ms;    /* 0: keep forever */
    uint64_t body_limit;     /* bytes, after decompression */
    uint64_t disk_budget;    /* bytes of LMDB pages in use; 0: none */
    uint64_t threads;        /* per listener */
    uint64_t max_inflight;   /* requests stored at once before 429 */
    const char *otlp_token;  /* OTLP needs "Authorization: Bearer" this; NULL: none */
    const char *api_token;   /* /api and /metrics need it; NULL: none */
    bool allow_open_ui;      /* let the UI listen beyond loopback without auth */
    const char *base_path;   /* the UI under this path; NULL: "/" */
    const char *ui_user;     /* with ui_password: user name + password login */
    const char *ui_password; /* dashboard login; NULL: none */
    const char *session_secret; /* signs session cookies; NULL: random */
    int64_t session_ttl_ms;  /* 0: 12 h */
    bool show_ip_peers;      /* inferred services keep IP-literal hosts */
    const char *ui_tls_cert; /* PEM files: the UI listener speaks HTTPS */
    const char *ui_tls_key;
    FILE *out;               /* where the "listening on" lines go */
} ft_server_opts;

typedef struct ft_server ft_server;

/* Opens the store (and checks it), binds the listeners, prints
 * "fedtrace: otlp listening on http://HOST:PORT" and the ui line. */
ft_code ft_server_start(const ft_server_opts *opts, ft_server **out,
                        ft_err *err);

/* One round of upkeep: sweep expired entries (and, on a shared store,
 * index what other writers stored), evict beyond the budget, refresh the
 * store gauges.  Call every second or so, the first time with sweep once
 * ft_server_start has returned: start does not sweep, so that it listens
 * at once however large the store. */
void ft_server_maintain(ft_server *s, bool sweep);

/* Stops accepting connections; requests being handled finish and are
 * answered; then the store is closed.  NULL is a no-op. */
void ft_server_stop(ft_server *s);

/* The logger used by serve: one line to stderr, "fedtrace: ..." */
void ft_logf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
