/*
 * server.c - libmicrohttpd glue for `fedtrace serve`.
 *
 * OTLP listener: POST /v1/traces and /v1/logs.  The body is decompressed
 * as it arrives (bounded by the body limit), then handed to
 * ft_otlp_handle (src/http/receiver.c), which decides the response.
 * UI listener: see ui.c.
 */
#include "app/server_int.h"

#include "core/unpack.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- logging ---- */

void ft_logf(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s fedtrace: %s\n", ts, msg);
}


static ft_code worker_open(ft_server *s, worker **out, ft_err *err)
{
    worker *w = ft_calloc(1, sizeof *w);
    if (w == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    ft_exporter_opts eo = {.ttl_ms = s->o.retention_ms, .metrics = s->metrics};
    ft_code rc = ft_kv_open(s->store_url, &w->kv, err);
    if (rc == FT_OK)
        rc = ft_exporter_create(w->kv, &eo, &w->ex, err);
    if (rc != FT_OK) {
        ft_kv_close(w->kv);
        ft_free(w);
        return rc;
    }
    *out = w;
    return FT_OK;
}

static void worker_close(worker *w)
{
    if (w == NULL)
        return;
    ft_exporter_destroy(w->ex);
    ft_kv_close(w->kv);
    ft_free(w);
}

ft_code ft_srv_worker_get(ft_server *s, worker **out, ft_err *err)
{
    pthread_mutex_lock(&s->lock);
    worker *w = s->idle;
    if (w != NULL)
        s->idle = w->next;
    pthread_mutex_unlock(&s->lock);
    if (w != NULL) {
        *out = w;
        return FT_OK;
    }
    return worker_open(s, out, err);
}

void ft_srv_worker_put(ft_server *s, worker *w)
{
    pthread_mutex_lock(&s->lock);
    w->next = s->idle;
    s->idle = w;
    pthread_mutex_unlock(&s->lock);
}

/* Records a store outcome; logs the first failure and the recovery. */
void ft_srv_store_outcome(ft_server *s, ft_code rc, const ft_err *err)
{
    bool failing = rc != FT_OK;
    bool was = atomic_exchange(&s->store_failing, failing);
    if (failing && !was)
        ft_logf("store failing: %s (answering 503 until it recovers)", err->msg);
    else if (!failing && was)
        ft_logf("store recovered");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- responses ---- */

/* Every answer is data, never a page to run or frame: what it contains
 * came partly from remote servers. */
void ft_srv_headers(struct MHD_Response *r, const char *csp)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "Content-Security-Policy", csp);
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

void ft_srv_security_headers(struct MHD_Response *r)
{
    ft_srv_headers(r, "default-src 'none'; frame-ancestors 'none'");
}

enum MHD_Result ft_srv_respond(struct MHD_Connection *c, int status,
                               const char *ctype, const void *body, size_t len,
                               unsigned retry_after, const char *allow,
                               const char *www_authenticate)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    if (ctype != NULL)
        MHD_add_response_header(r, "Content-Type", ctype);
    ft_srv_security_headers(r);
    if (retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", retry_after);
        MHD_add_response_header(r, "Retry-After", ra);
    }
    if (allow != NULL)
        MHD_add_response_header(r, "Allow", allow);
    if (www_authenticate != NULL)
        MHD_add_response_header(r, "WWW-Authenticate", www_authenticate);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* True when no token is required, or the request carries it as a bearer
 * token.  The comparison takes the same time however close a guess is. */
bool ft_srv_bearer_ok(struct MHD_Connection *c, const char *token)
{
    if (token == NULL || *token == '\0')
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    const char *given = h + 7;
    while (*given == ' ')
        given++;
    return ft_ct_equal(given, strlen(given), token, strlen(token));
}

static const char *ct_name(ft_content_type ct)
{
    return ct == FT_CT_PROTOBUF ? "application/x-protobuf" : "application/json";
}

/* ---- OTLP listener ----
 *
 * A request that is refused on its headers (404, 405, 415, a declared
 * length over the limit) is still read to its end before the answer goes
 * out, discarding the body: answering early would make the server close a
 * connection with unread data, which resets it under the client before
 * the client has read the answer.
 */

typedef struct otlp_req {
    ft_signal sig;
    ft_content_type ct;
    ft_unpacker *unpack;
    size_t wire;
    ft_otlp_result res; /* res.status != 0: decided early (error) */
} otlp_req;

static enum MHD_Result otlp_reply(ft_server *s, struct MHD_Connection *c,
                                  otlp_req *q, const char *allow)
{
    ft_otlp_result *res = &q->res;
    atomic_fetch_add(&s->m.requests[q->sig][status_index(res->status)], 1);
    if (!ft_buf_ok(&res->body))
        return ft_srv_respond(c, 500, "text/plain", "out of memory", 13, 0, NULL, NULL);
    return ft_srv_respond(c, res->status, ct_name(res->ct), res->body.ptr ? res->body.ptr : "",
                   res->body.len, res->retry_after, allow,
                   res->status == 401 ? "Bearer realm=\"fedtrace otlp\"" : NULL);
}

static void otlp_store(ft_server *s, otlp_req *q)
{
    ft_otlp_result *res = &q->res;
    size_t len;
    const uint8_t *body = ft_unpacker_data(q->unpack, &len);
    atomic_fetch_add(&s->m.bytes_wire, q->wire);
    atomic_fetch_add(&s->m.bytes_decoded, len);
    atomic_fetch_add(&s->m.inflight, 1);
    worker *w = NULL;
    ft_err err = {0};
    ft_code rc = ft_srv_worker_get(s, &w, &err);
    if (rc != FT_OK) {
        atomic_fetch_sub(&s->m.inflight, 1);
        ft_srv_store_outcome(s, rc, &err);
        char msg[600];
        snprintf(msg, sizeof msg, "the store is not available: %s", err.msg);
        ft_otlp_error(res, q->ct, 503, msg);
        return;
    }
    /* decoded structures take a bounded multiple of the body */
    ft_arena *arena = ft_arena_create(len * 32 + (1u << 20));
    if (arena == NULL) {
        ft_otlp_error(res, q->ct, 503, "out of memory");
    } else {
        double t0 = now_s();
        ft_otlp_handle(w->ex, q->sig, q->ct, body, len, arena, res);
        if (res->code == FT_FULL && s->o.disk_budget) {
            /* the map is full before the budget said so: make room now */
            size_t ev = 0;
            ft_err e2;
            if (ft_exporter_evict_oldest(w->ex, 256, &ev, &e2) == FT_OK && ev) {
                atomic_fetch_add(&s->m.evicted_traces, ev);
                ft_arena_reset(arena);
                ft_otlp_handle(w->ex, q->sig, q->ct, body, len, arena, res);
            }
        }
        double dt = now_s() - t0;
        ft_arena_destroy(arena);
        if (res->status == 200 || res->status == 503) {
            size_t b = 0;
            while (b < N_BOUNDS && dt > k_latency_bounds[b])
                b++;
            atomic_fetch_add(&s->m.write_hist[b], 1);
            atomic_fetch_add(&s->m.write_sum_us, (uint64_t)(dt * 1e6));
            atomic_fetch_add(&s->m.write_count, 1);
            ft_srv_store_outcome(s, res->status == 503 ? res->code : FT_OK, &res->err);
        }
        if (res->status == 200) {
            bool tr = q->sig == FT_SIGNAL_TRACES;
            atomic_fetch_add(tr ? &s->m.spans_accepted : &s->m.logs_accepted,
                             res->received - res->rejected);
            atomic_fetch_add(tr ? &s->m.spans_rejected : &s->m.logs_rejected,
                             res->rejected);
            atomic_fetch_add(&s->m.activities, res->stored.activities);
            if (res->stored.activities || res->stored.spans)
                ft_srv_ui_stored(s);
        }
    }
    ft_srv_worker_put(s, w);
    atomic_fetch_sub(&s->m.inflight, 1);
}

static enum MHD_Result otlp_access(void *cls, struct MHD_Connection *c,
                                   const char *url, const char *method,
                                   const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls)
{
    (void)version;
    ft_server *s = cls;
    otlp_req *q = *con_cls;
    if (q == NULL) {
        q = ft_calloc(1, sizeof *q);
        if (q == NULL)
            return MHD_NO;
        *con_cls = q;
        int64_t active = atomic_fetch_add(&s->active, 1) + 1;
        const char *ctype = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        q->ct = FT_CT_JSON; /* the encoding of errors when it is unknown */
        bool known_ct = ft_content_type_parse(ctype, &q->ct);
        if (strcmp(url, "/v1/traces") == 0) {
            q->sig = FT_SIGNAL_TRACES;
        } else if (strcmp(url, "/v1/logs") == 0) {
            q->sig = FT_SIGNAL_LOGS;
        } else {
            ft_otlp_error(&q->res, q->ct, 404, "unknown path; OTLP/HTTP takes POST /v1/traces and /v1/logs");
            return MHD_YES;
        }
        if (strcmp(method, "POST") != 0) {
            ft_otlp_error(&q->res, q->ct, 405, "method not allowed; use POST");
            return MHD_YES;
        }
        if (!ft_srv_bearer_ok(c, s->o.otlp_token)) {
            ft_otlp_error(&q->res, q->ct, 401,
                          "this receiver needs \"Authorization: Bearer <token>\"");
            return MHD_YES;
        }
        if (!known_ct) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "unsupported Content-Type \"%.200s\"; use application/x-protobuf or application/json",
                     ctype ? ctype : "");
            ft_otlp_error(&q->res, q->ct, 415, msg);
            return MHD_YES;
        }
        /* every request being received holds its body in memory: beyond
         * max_inflight of them, refuse (and discard) instead of buffering */
        if (s->o.max_inflight && (uint64_t)active > s->o.max_inflight) {
            ft_otlp_error(&q->res, q->ct, 429,
                          "too many requests are being received and stored at once; retry later");
            return MHD_YES;
        }
        const char *cenc = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
        ft_encoding enc;
        if (!ft_encoding_parse(cenc, &enc)) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "unsupported Content-Encoding \"%.200s\"; use gzip, zstd, deflate or none",
                     cenc);
            ft_otlp_error(&q->res, q->ct, 415, msg);
            return MHD_YES;
        }
        const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (enc == FT_ENC_IDENTITY && clen != NULL &&
            strtoull(clen, NULL, 10) > s->o.body_limit) {
            char msg[200];
            snprintf(msg, sizeof msg, "request body is larger than the limit of %llu bytes",
                     (unsigned long long)s->o.body_limit);
            ft_otlp_error(&q->res, q->ct, 413, msg);
            return MHD_YES;
        }
        ft_err err;
        if (ft_unpacker_create(enc, s->o.body_limit, &q->unpack, &err) != FT_OK)
            return MHD_NO;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        q->wire += *upload_size;
        if (q->res.status == 0 && q->wire > s->o.body_limit) {
            char msg[200];
            snprintf(msg, sizeof msg, "request body is larger than the limit of %llu bytes",
                     (unsigned long long)s->o.body_limit);
            ft_otlp_error(&q->res, q->ct, 413, msg);
        }
        if (q->res.status == 0) {
            ft_err err;
            ft_code rc = ft_unpacker_feed(q->unpack, (const uint8_t *)upload, *upload_size, &err);
            if (rc != FT_OK)
                ft_otlp_error(&q->res, q->ct,
                              rc == FT_TOO_LARGE ? 413 : rc == FT_NOMEM ? 503 : 400,
                              err.msg);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (q->res.status == 0) {
        ft_err err;
        if (ft_unpacker_finish(q->unpack, &err) != FT_OK)
            ft_otlp_error(&q->res, q->ct, 400, err.msg);
        else
            otlp_store(s, q);
    }
    return otlp_reply(s, c, q, q->res.status == 405 ? "POST" : NULL);
}

static void otlp_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    ft_server *s = cls;
    (void)c;
    (void)toe;
    otlp_req *q = *con_cls;
    if (q == NULL)
        return;
    atomic_fetch_sub(&s->active, 1);
    ft_unpacker_destroy(q->unpack);
    ft_buf_free(&q->res.body);
    ft_free(q);
    *con_cls = NULL;
}

void ft_srv_metrics_text(ft_server *s, ft_buf *b)
{
    metrics *m = &s->m;
    static const char *const sig_names[] = {"traces", "logs"};
    ft_buf_puts(b, "# HELP fedtrace_otlp_requests_total OTLP/HTTP requests by signal and response status.\n"
                   "# TYPE fedtrace_otlp_requests_total counter\n");
    for (int g = 0; g < 2; g++)
        for (size_t i = 0; i <= N_STATUSES; i++) {
            uint64_t v = atomic_load(&m->requests[g][i]);
            if (i == N_STATUSES)
                ft_buf_printf(b, "fedtrace_otlp_requests_total{signal=\"%s\",status=\"other\"} %llu\n",
                              sig_names[g], (unsigned long long)v);
            else
                ft_buf_printf(b, "fedtrace_otlp_requests_total{signal=\"%s\",status=\"%d\"} %llu\n",
                              sig_names[g], k_statuses[i], (unsigned long long)v);
        }
    struct {
        const char *name, *help;
        atomic_uint_fast64_t *v;
        const char *type;
    } simple[] = {
        {"fedtrace_spans_accepted_total", "Spans stored.", &m->spans_accepted, "counter"},
        {"fedtrace_spans_rejected_total", "Spans refused (invalid ids), reported as partial success.", &m->spans_rejected, "counter"},
        {"fedtrace_logs_accepted_total", "Log records accepted.", &m->logs_accepted, "counter"},
        {"fedtrace_logs_rejected_total", "Log records refused.", &m->logs_rejected, "counter"},
        {"fedtrace_activities_total", "ActivityPub activity records stored.", &m->activities, "counter"},
        {"fedtrace_otlp_received_bytes_total", "OTLP request bytes as received.", &m->bytes_wire, "counter"},
        {"fedtrace_otlp_decoded_bytes_total", "OTLP request bytes after decompression.", &m->bytes_decoded, "counter"},
        {"fedtrace_evicted_traces_total", "Traces evicted to stay within the disk budget.", &m->evicted_traces, "counter"},
        {"fedtrace_swept_entries_total", "Expired store entries removed.", &m->swept_entries, "counter"},
        {"fedtrace_api_requests_total", "Requests to the UI listener.", &m->api_requests, "counter"},
        {"fedtrace_store_bytes", "Bytes the store takes: lmdb pages in use, the postgres table's size; 0 for redis.", &m->store_bytes, "gauge"},
        {"fedtrace_store_entries", "Entries in the store (postgres: an estimate).", &m->store_entries, "gauge"},
    };
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        ft_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", simple[i].name,
                      simple[i].help, simple[i].name, simple[i].type, simple[i].name,
                      (unsigned long long)atomic_load(simple[i].v));
    ft_buf_printf(b, "# HELP fedtrace_otlp_inflight_requests OTLP requests being decoded and stored now.\n"
                     "# TYPE fedtrace_otlp_inflight_requests gauge\n"
                     "fedtrace_otlp_inflight_requests %lld\n"
                     "# HELP fedtrace_otlp_active_requests OTLP requests being received, decoded or stored (the queue depth; --max-inflight bounds it).\n"
                     "# TYPE fedtrace_otlp_active_requests gauge\n"
                     "fedtrace_otlp_active_requests %lld\n",
                  (long long)atomic_load(&m->inflight), (long long)atomic_load(&s->active));
    if (s->events != NULL)
        ft_buf_printf(b, "# HELP fedtrace_event_streams Event streams (/api/events) open now.\n"
                         "# TYPE fedtrace_event_streams gauge\nfedtrace_event_streams %zu\n"
                         "# HELP fedtrace_events_total Trace events (new or changed traces) sent "
                         "to event streams.\n# TYPE fedtrace_events_total counter\n"
                         "fedtrace_events_total %llu\n",
                      ft_events_subscribers(s->events),
                      (unsigned long long)ft_events_count(s->events));
    ft_buf_puts(b, "# HELP fedtrace_store_write_seconds Time to decode and store one OTLP request.\n"
                   "# TYPE fedtrace_store_write_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i <= N_BOUNDS; i++) {
        cum += atomic_load(&m->write_hist[i]);
        if (i < N_BOUNDS)
            ft_buf_printf(b, "fedtrace_store_write_seconds_bucket{le=\"%g\"} %llu\n",
                          k_latency_bounds[i], (unsigned long long)cum);
        else
            ft_buf_printf(b, "fedtrace_store_write_seconds_bucket{le=\"+Inf\"} %llu\n",
                          (unsigned long long)cum);
    }
    ft_buf_printf(b, "fedtrace_store_write_seconds_sum %.6f\nfedtrace_store_write_seconds_count %llu\n",
                  (double)atomic_load(&m->write_sum_us) / 1e6,
                  (unsigned long long)atomic_load(&m->write_count));
    ft_buf_printf(b, "# HELP fedtrace_store_up Whether the last store operation succeeded.\n"
                     "# TYPE fedtrace_store_up gauge\nfedtrace_store_up %d\n",
                  atomic_load(&s->store_failing) ? 0 : 1);
    ft_buf_printf(b, "# HELP fedtrace_start_time_seconds Start time of the process.\n"
                     "# TYPE fedtrace_start_time_seconds gauge\nfedtrace_start_time_seconds %lld\n",
                  (long long)s->started);
}

/* ---- start and stop ---- */

/* Parses HOST:PORT ("[v6]:PORT" too) into a socket address. */
static ft_code parse_listen(const char *what, const char *spec,
                            struct sockaddr_storage *ss, socklen_t *sl,
                            ft_err *err)
{
    char host[256];
    const char *port;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof host)
            return ft_err_set(err, FT_INVAL, 0, "--%s-listen: \"%s\" is not [HOST]:PORT", what, spec);
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (colon == NULL || (size_t)(colon - spec) >= sizeof host)
            return ft_err_set(err, FT_INVAL, 0, "--%s-listen: \"%s\" is not HOST:PORT (or off)", what, spec);
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        port = colon + 1;
    }
    char *end;
    unsigned long p = strtoul(port, &end, 10);
    if (*port == '\0' || *end != '\0' || p > 65535)
        return ft_err_set(err, FT_INVAL, 0, "--%s-listen: bad port in \"%s\"", what, spec);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gr = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gr != 0 || res == NULL)
        return ft_err_set(err, FT_INVAL, 0, "--%s-listen: cannot resolve \"%s\": %s", what,
                          host, gai_strerror(gr));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return FT_OK;
}

/* A whole (small) file as a C string (malloc), for TLS keys. */
static char *read_pem(const char *what, const char *path, ft_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;
    if (f != NULL) {
        buf = ft_malloc(1 << 20);
        n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
        fclose(f);
    }
    if (buf != NULL)
        buf[n] = '\0';
    if (buf == NULL || n == 0 || strstr(buf, "-----BEGIN") == NULL) {
        ft_free(buf);
        ft_err_set(err, FT_INVAL, 0, "--%s \"%s\": not a readable PEM file", what, path);
        return NULL;
    }
    return buf;
}

static ft_code start_daemon(ft_server *s, const char *what, const char *spec,
                            bool per_connection, MHD_AccessHandlerCallback handler,
                            MHD_RequestCompletedCallback done,
                            struct MHD_Daemon **out, ft_err *err)
{
    *out = NULL;
    if (spec == NULL || *spec == '\0' || strcmp(spec, "off") == 0)
        return FT_OK;
    /* TLS on the UI listener: cookies then carry Secure */
    bool tls = per_connection && s->o.ui_tls_cert != NULL && *s->o.ui_tls_cert;
    if (per_connection && !tls && s->o.ui_tls_key != NULL && *s->o.ui_tls_key)
        return ft_err_set(err, FT_INVAL, 0, "--ui-tls-key needs --ui-tls-cert");
    char *cert = NULL, *key = NULL;
    if (tls) {
        if (s->o.ui_tls_key == NULL || *s->o.ui_tls_key == '\0')
            return ft_err_set(err, FT_INVAL, 0, "--ui-tls-cert needs --ui-tls-key");
        if ((cert = read_pem("ui-tls-cert", s->o.ui_tls_cert, err)) == NULL)
            return err->code;
        if ((key = read_pem("ui-tls-key", s->o.ui_tls_key, err)) == NULL) {
            ft_free(cert);
            return err->code;
        }
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    ft_code rc = parse_listen(what, spec, &ss, &sl, err);
    if (rc != FT_OK)
        return rc;
    /* OTLP: a pool of epoll threads; UI: a thread per connection, so that
     * an event stream can wait for news (ui.c) */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     (per_connection ? MHD_USE_THREAD_PER_CONNECTION : MHD_USE_EPOLL);
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls)
        flags |= MHD_USE_TLS;
    unsigned threads = per_connection ? 0 : s->o.threads ? (unsigned)s->o.threads : 2;
    struct MHD_OptionItem tls_opts[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
        {MHD_OPTION_END, 0, NULL},
    };
    *out = MHD_start_daemon(flags, 0, NULL, NULL, handler, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_THREAD_POOL_SIZE, threads,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)(per_connection ? 256 : 1024),
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(128 * 1024),
                            MHD_OPTION_NOTIFY_COMPLETED, done, s,
                            MHD_OPTION_ARRAY, tls_opts,
                            MHD_OPTION_END);
    if (key != NULL)
        memset(key, 0, strlen(key)); /* MHD keeps its own copy */
    ft_free(cert);
    ft_free(key);
    if (*out == NULL)
        return ft_err_set(err, FT_IO, 0, "cannot listen on %s for %s (address in use%s?)",
                          spec, what, tls ? ", or a key that does not fit the certificate" : "");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(*out, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = di ? di->port : 0;
    char host[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
    FILE *f = s->o.out ? s->o.out : stdout;
    const char *scheme = tls ? "https" : "http";
    if (ss.ss_family == AF_INET6)
        fprintf(f, "fedtrace: %s listening on %s://[%s]:%u\n", what, scheme, host, port);
    else
        fprintf(f, "fedtrace: %s listening on %s://%s:%u\n", what, scheme, host, port);
    fflush(f);
    return FT_OK;
}

static bool loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return false;
}

/* Traces hold what remote servers sent and what users did: without
 * authentication the UI may only listen on loopback, unless told so. */
static ft_code check_ui_exposure(const ft_server_opts *o, ft_err *err)
{
    const char *spec = o->ui_listen;
    if (spec == NULL || *spec == '\0' || strcmp(spec, "off") == 0 ||
        (o->api_token != NULL && *o->api_token) || (o->ui_password != NULL && *o->ui_password) ||
        o->allow_open_ui)
        return FT_OK;
    struct sockaddr_storage ss;
    socklen_t sl;
    ft_code rc = parse_listen("ui", spec, &ss, &sl, err);
    if (rc != FT_OK || loopback(&ss))
        return rc;
    return ft_err_set(err, FT_INVAL, 0,
                      "refusing to serve the dashboard and API on %s without authentication: "
                      "set --ui-password (and --ui-user) or --api-token, or "
                      "--allow-unauthenticated to accept that",
                      spec);
}


/* `memory:` alone would give every handle its own store: share one. */
static char *shared_url(const char *url)
{
    if (strcmp(url, "memory:") == 0 || strncmp(url, "memory:?", 8) == 0) {
        size_t n = strlen(url) + 32;
        char *u = ft_malloc(n);
        if (u != NULL)
            snprintf(u, n, "memory:fedtrace-serve%s", url + 7);
        return u;
    }
    return ft_strndup(url, strlen(url));
}

ft_code ft_server_start(const ft_server_opts *opts, ft_server **out,
                        ft_err *err)
{
    *out = NULL;
    ft_server *s = ft_calloc(1, sizeof *s);
    if (s == NULL)
        return ft_err_set(err, FT_NOMEM, 0, "out of memory");
    s->o = *opts;
    s->started = time(NULL);
    pthread_mutex_init(&s->lock, NULL);
    s->store_url = shared_url(opts->store_url);
    ft_code rc = s->store_url ? FT_OK : ft_err_set(err, FT_NOMEM, 0, "out of memory");
    ft_infer_opts io = {opts->show_ip_peers};
    if (rc == FT_OK)
        rc = ft_metrics_create(&io, opts->retention_ms, &s->metrics, err);
    /* the maintenance worker opens the store first: a bad URL fails here */
    if (rc == FT_OK)
        rc = worker_open(s, &s->maint, err);
    if (rc == FT_OK) {
        char ret[32] = "forever";
        if (opts->retention_ms > 0)
            snprintf(ret, sizeof ret, "%gh", (double)opts->retention_ms / 3600000.0);
        char shown[600];
        ft_kv_url_redact(opts->store_url, shown, sizeof shown);
        ft_logf("store %s opened (%s strategy, retention %s, disk budget %llu MiB)",
                shown,
                ft_exporter_strategy(s->maint->ex) == FT_STRATEGY_LIST ? "list" : "cas",
                ret, (unsigned long long)(opts->disk_budget >> 20));
        /* the first maintenance round (ft_server_maintain) is the caller's,
         * once listening: on a large shared store it may take seconds */
    }
    if (rc == FT_OK)
        rc = check_ui_exposure(opts, err);
    if (rc == FT_OK)
        rc = ft_srv_ui_init(s, err);
    if (rc == FT_OK)
        rc = start_daemon(s, "otlp", opts->otlp_listen, false, otlp_access, otlp_completed,
                          &s->otlp, err);
    if (rc == FT_OK)
        rc = start_daemon(s, "ui", opts->ui_listen, true, ft_srv_ui_access, ft_srv_ui_completed,
                          &s->ui, err);
    if (rc == FT_OK && s->otlp == NULL && s->ui == NULL)
        rc = ft_err_set(err, FT_INVAL, 0, "both listeners are off: nothing to serve");
    if (rc != FT_OK) {
        ft_server_stop(s);
        return rc;
    }
    *out = s;
    return FT_OK;
}

void ft_server_maintain(ft_server *s, bool sweep)
{
    worker *w = s->maint;
    ft_err err = {0};
    if (ft_metrics_flush(s->metrics, w->kv, NULL, 0, ft_now_ms(), &err) != FT_OK)
        ft_logf("writing this node's metrics failed: %s (kept for the next round)", err.msg);
    if (sweep) {
        size_t removed = 0;
        if (ft_kv_sweep(w->kv, 0, &removed, &err) == FT_OK) {
            atomic_fetch_add(&s->m.swept_entries, removed);
            if (removed)
                ft_logf("swept %zu expired entries", removed);
        } else {
            ft_logf("sweep failed: %s", err.msg);
        }
    }
    /* traces another writer (Fedify's own exporter) stored on a shared
     * store become visible in the recent list; it walks the summaries, so
     * only where another writer can exist (LMDB and memory are ours) */
    size_t adopted = 0;
    const char *scheme = ft_kv_scheme(w->kv);
    bool shared = strcmp(scheme, "redis") == 0 || strcmp(scheme, "postgres") == 0;
    if (sweep && shared && ft_exporter_adopt(w->ex, &adopted, &err) != FT_OK)
        ft_logf("indexing traces written by others failed: %s", err.msg);
    else if (adopted)
        ft_logf("indexed %zu traces written by another exporter", adopted);
    ft_kv_stats st;
    if (ft_kv_stats_get(w->kv, &st, &err) != FT_OK)
        return;
    atomic_store(&s->m.store_bytes, st.bytes_used);
    atomic_store(&s->m.store_entries, st.entries);
    if (!s->o.disk_budget || st.bytes_used <= s->o.disk_budget)
        return;
    /* over budget: evict oldest traces until 90% of the budget */
    uint64_t target = s->o.disk_budget / 10 * 9, before = st.bytes_used;
    size_t total = 0, step = 4;
    while (st.bytes_used > target) {
        size_t ev = 0;
        uint64_t was = st.bytes_used;
        if (ft_exporter_evict_oldest(w->ex, step, &ev, &err) != FT_OK) {
            ft_logf("eviction failed: %s", err.msg);
            break;
        }
        total += ev;
        if (ev == 0 || ft_kv_stats_get(w->kv, &st, &err) != FT_OK)
            break;
        /* next step from what a trace freed so far: no more than needed */
        uint64_t freed = was > st.bytes_used ? was - st.bytes_used : 0;
        uint64_t per_trace = freed / ev;
        uint64_t need = st.bytes_used > target ? st.bytes_used - target : 0;
        step = per_trace ? (size_t)(need / per_trace) + 1 : step * 2;
        if (step > 4096)
            step = 4096;
    }
    atomic_fetch_add(&s->m.evicted_traces, total);
    atomic_store(&s->m.store_bytes, st.bytes_used);
    atomic_store(&s->m.store_entries, st.entries);
    ft_logf("disk budget reached: evicted the %zu oldest traces (%llu -> %llu bytes in use)",
           total, (unsigned long long)before, (unsigned long long)st.bytes_used);
}

void ft_server_stop(ft_server *s)
{
    if (s == NULL)
        return;
    /* stop accepting first, on both; then let requests being handled end */
    MHD_socket fds[2] = {MHD_INVALID_SOCKET, MHD_INVALID_SOCKET};
    if (s->otlp != NULL)
        fds[0] = MHD_quiesce_daemon(s->otlp);
    if (s->ui != NULL)
        fds[1] = MHD_quiesce_daemon(s->ui);
    /* requests already begun are finished and answered (up to a bound):
     * stopping the daemon would close their connections unanswered */
    for (int i = 0; i < 3000 && atomic_load(&s->active) > 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&s->active) > 0)
        ft_logf("%lld requests still unanswered after 30 s; closing them",
                (long long)atomic_load(&s->active));
    ft_srv_ui_close(s); /* event streams end, so their connections can */
    if (s->otlp != NULL)
        MHD_stop_daemon(s->otlp);
    if (s->ui != NULL)
        MHD_stop_daemon(s->ui);
    ft_srv_ui_fini(s);
    if (s->maint != NULL && s->metrics != NULL) { /* what was counted last */
        ft_err err = {0};
        if (ft_metrics_flush(s->metrics, s->maint->kv, NULL, 0, ft_now_ms(), &err) != FT_OK)
            ft_logf("writing this node's metrics failed: %s", err.msg);
    }
    for (int i = 0; i < 2; i++)
        if (fds[i] != MHD_INVALID_SOCKET)
            close(fds[i]); /* quiesce hands the listening socket to us */
    while (s->idle != NULL) {
        worker *w = s->idle;
        s->idle = w->next;
        worker_close(w);
    }
    worker_close(s->maint);
    ft_metrics_destroy(s->metrics);
    pthread_mutex_destroy(&s->lock);
    ft_free(s->store_url);
    ft_free(s);
}
