/*
 * app/server_int.h - what server.c (OTLP, store, life cycle) and ui.c (the
 * UI listener: dashboard, login, API, event stream) share.
 */
#ifndef FT_APP_SERVER_INT_H
#define FT_APP_SERVER_INT_H

#include "app/server.h"
#include "core/buf.h"
#include "fedtrace/exporter.h"
#include "fedtrace/kv.h"
#include "fedtrace/services.h"
#include "http/auth.h"
#include "http/events.h"
#include "http/receiver.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>


static const int k_statuses[] = {200, 400, 401, 404, 405, 413, 415, 429, 500, 503};
#define N_STATUSES (sizeof k_statuses / sizeof k_statuses[0])
static const double k_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                          0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define N_BOUNDS (sizeof k_latency_bounds / sizeof k_latency_bounds[0])

typedef struct metrics {
    atomic_uint_fast64_t requests[2][N_STATUSES + 1]; /* [signal][status] */
    atomic_uint_fast64_t spans_accepted, spans_rejected, logs_accepted,
        logs_rejected, activities, bytes_wire, bytes_decoded;
    atomic_uint_fast64_t write_hist[N_BOUNDS + 1];
    atomic_uint_fast64_t write_sum_us, write_count;
    atomic_int_fast64_t inflight;
    atomic_uint_fast64_t evicted_traces, swept_entries;
    atomic_uint_fast64_t store_bytes, store_entries;
    atomic_uint_fast64_t api_requests;
} metrics;

static inline size_t status_index(int status)
{
    for (size_t i = 0; i < N_STATUSES; i++)
        if (k_statuses[i] == status)
            return i;
    return N_STATUSES; /* other */
}
/* ---- the server ---- */

typedef struct worker {
    ft_kv *kv;
    ft_exporter *ex;
    struct worker *next;
} worker;

struct ft_server {
    ft_server_opts o;
    char *store_url;
    struct MHD_Daemon *otlp, *ui;
    pthread_mutex_t lock;
    worker *idle;
    worker *maint; /* the maintenance round's own */
    metrics m;
    atomic_bool store_failing;
    atomic_int_fast64_t active; /* OTLP requests begun and not yet answered */
    time_t started;
    /* the UI listener's (ui.c) */
    ft_auth *auth;
    ft_events *events;
    ft_metrics *metrics; /* RED, map, statements of what this node stores */
    char base[256]; /* --base-path with a trailing '/' */
    size_t base_len;
};

/* A store handle and exporter, borrowed for one request. */
ft_code ft_srv_worker_get(ft_server *s, worker **out, ft_err *err);
void ft_srv_worker_put(ft_server *s, worker *w);
/* Records a store outcome; logs the first failure and the recovery. */
void ft_srv_store_outcome(ft_server *s, ft_code rc, const ft_err *err);

/* The headers every answer carries, with this Content-Security-Policy;
 * ft_srv_security_headers: a policy that allows nothing (data answers). */
void ft_srv_headers(struct MHD_Response *r, const char *csp);
void ft_srv_security_headers(struct MHD_Response *r);
enum MHD_Result ft_srv_respond(struct MHD_Connection *c, int status,
                               const char *ctype, const void *body, size_t len,
                               unsigned retry_after, const char *allow,
                               const char *www_authenticate);
/* True when no token is required or the request carries it as a bearer
 * token (constant-time comparison). */
bool ft_srv_bearer_ok(struct MHD_Connection *c, const char *token);
/* {"error": message, "status": status} */
enum MHD_Result ft_srv_json_error(struct MHD_Connection *c, int status,
                                  const char *message, unsigned retry_after);
void ft_srv_metrics_text(ft_server *s, ft_buf *b);

/* The UI listener (ui.c). */
ft_code ft_srv_ui_init(ft_server *s, ft_err *err);
/* Ends event streams (before the listener stops); fini frees. */
void ft_srv_ui_close(ft_server *s);
void ft_srv_ui_fini(ft_server *s);
enum MHD_Result ft_srv_ui_access(void *cls, struct MHD_Connection *c,
                                 const char *url, const char *method,
                                 const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls);
void ft_srv_ui_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe);
/* Something was stored: live subscribers may have news. */
void ft_srv_ui_stored(ft_server *s);

#endif
