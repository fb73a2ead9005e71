/*
 * serve.c - `fedtrace serve`: settings, signals, the maintenance loop.
 */
#include "app/app.h"
#include "app/server.h"
#include "core/config.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct serve_settings {
    char *config;
    char *store;
    char *otlp_listen;
    char *ui_listen;
    int64_t retention_ms;
    uint64_t disk_budget;
    uint64_t body_limit;
    uint64_t threads;
    uint64_t max_inflight;
    int64_t sweep_interval_ms;
    char *otlp_token;
    char *api_token;
    bool allow_unauthenticated;
    char *ui_user;
    char *ui_password;
    char *session_secret;
    int64_t session_ttl_ms;
    char *base_path;
    char *ui_tls_cert;
    char *ui_tls_key;
    bool show_ip_peers;
} serve_settings;

#define OPT(name, type, field, def, metavar, help) \
    {name, type, offsetof(serve_settings, field), def, metavar, help}

/* The one table behind flags, FEDTRACE_* variables, the config file and
 * --help; docs/configuration.md describes the same rows. */
static const ft_opt k_opts[] = {
    OPT("config", FT_OPT_STR, config, NULL, "FILE",
        "read settings from FILE (name = value lines)"),
    OPT("store", FT_OPT_STR, store, NULL, "URL",
        "store URL: lmdb:DIR, memory: (default lmdb: under $XDG_DATA_HOME/fedtrace "
        "or ~/.local/share/fedtrace)"),
    OPT("otlp-listen", FT_OPT_STR, otlp_listen, "127.0.0.1:4318", "HOST:PORT",
        "OTLP/HTTP receiver address, or off (port 0 picks a free port)"),
    OPT("ui-listen", FT_OPT_STR, ui_listen, "127.0.0.1:8080", "HOST:PORT",
        "dashboard, API, health and metrics address, or off (port 0 picks a free port)"),
    OPT("base-path", FT_OPT_STR, base_path, "/", "PATH",
        "serve the dashboard and API under PATH (behind a reverse proxy)"),
    OPT("ui-tls-cert", FT_OPT_STR, ui_tls_cert, NULL, "FILE",
        "serve the dashboard and API over HTTPS with this PEM certificate (chain)"),
    OPT("ui-tls-key", FT_OPT_STR, ui_tls_key, NULL, "FILE",
        "the PEM private key of --ui-tls-cert"),
    OPT("retention", FT_OPT_DURATION, retention_ms, "72h", "DURATION",
        "how long stored data lives (0 keeps it forever)"),
    OPT("disk-budget", FT_OPT_SIZE, disk_budget, "2GiB", "SIZE",
        "lmdb: bytes in use beyond which the oldest traces are evicted (0: none)"),
    OPT("body-limit", FT_OPT_SIZE, body_limit, "20MiB", "SIZE",
        "largest OTLP request body, after decompression (larger: 413)"),
    OPT("threads", FT_OPT_UINT, threads, "4", "N",
        "worker threads per listener"),
    OPT("max-inflight", FT_OPT_UINT, max_inflight, "64", "N",
        "OTLP requests received or stored at once before answering 429"),
    OPT("sweep-interval", FT_OPT_DURATION, sweep_interval_ms, "60s", "DURATION",
        "how often expired data is removed"),
    OPT("otlp-token", FT_OPT_STR, otlp_token, NULL, "TOKEN",
        "require \"Authorization: Bearer TOKEN\" on OTLP requests"),
    OPT("api-token", FT_OPT_STR, api_token, NULL, "TOKEN",
        "require \"Authorization: Bearer TOKEN\" on /api and /metrics; without "
        "--ui-password the dashboard's login page asks for this token"),
    OPT("show-ip-peers", FT_OPT_BOOL, show_ip_peers, "false", NULL,
        "name inferred services by IP-literal hosts instead of \"ip-address\""),
    OPT("ui-password", FT_OPT_STR, ui_password, NULL, "PASSWORD",
        "dashboard login with this password (better: FEDTRACE_UI_PASSWORD)"),
    OPT("ui-user", FT_OPT_STR, ui_user, NULL, "NAME",
        "with --ui-password: log in with this user name and the password"),
    OPT("session-secret", FT_OPT_STR, session_secret, NULL, "SECRET",
        "signs login sessions; nodes behind one address share it (default: random)"),
    OPT("session-ttl", FT_OPT_DURATION, session_ttl_ms, "12h", "DURATION",
        "how long a login lasts"),
    OPT("allow-unauthenticated", FT_OPT_BOOL, allow_unauthenticated, "false", NULL,
        "let the dashboard and API listen beyond loopback without a password or token"),
};
#define N_OPTS (sizeof k_opts / sizeof k_opts[0])

static void serve_usage(FILE *f)
{
    fprintf(f, "usage: fedtrace serve [OPTIONS]\n\n"
               "Receives OTLP/HTTP traces and logs, stores them, and serves the dashboard\n"
               "and the JSON API.\n"
               "Every option can also be set as a FEDTRACE_* environment variable or in\n"
               "the config file; flags win over the environment, which wins over the file.\n\n"
               "options:\n");
    ft_config_help(f, k_opts, N_OPTS);
    fprintf(f, "  %-28s this text\n", "-h, --help");
}

/* With a disk budget, an lmdb store's map must be larger than the budget,
 * or the map fills before eviction starts: size it from the budget unless
 * the URL says otherwise. */
static char *store_url_for(const serve_settings *st)
{
    const char *url = st->store;
    size_t n = strlen(url) + 64;
    char *out = malloc(n);
    if (out == NULL)
        return NULL;
    if (strncmp(url, "lmdb:", 5) != 0 || st->disk_budget == 0 ||
        strstr(url, "mapsize=") != NULL) {
        snprintf(out, n, "%s", url);
        return out;
    }
    uint64_t map = st->disk_budget * 2;
    if (map < (64u << 20))
        map = 64u << 20;
    snprintf(out, n, "%s%smapsize=%llu", url, strchr(url, '?') ? "&" : "?",
             (unsigned long long)map);
    return out;
}

int ft_serve_main(int argc, char **argv)
{
    serve_settings st = {0};
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int n_pos = 0;
    bool help = false;
    ft_err err = {0};
    if (pos == NULL)
        return 1;
    ft_code rc = ft_config_load(k_opts, N_OPTS, &st, argc, argv, pos, &n_pos, &help, &err);
    int status = 0;
    if (rc != FT_OK) {
        fprintf(stderr, "fedtrace serve: %s\n", err.msg);
        status = 2;
    } else if (help) {
        serve_usage(stdout);
    } else if (n_pos > 0) {
        fprintf(stderr, "fedtrace serve: unexpected argument '%s' (see --help)\n", pos[0]);
        status = 2;
    }
    free(pos);
    if (status != 0 || help) {
        ft_config_free(k_opts, N_OPTS, &st);
        return status;
    }
    if (st.store == NULL || *st.store == '\0') {
        free(st.store);
        st.store = ft_default_store();
    }
    char *url = st.store ? store_url_for(&st) : NULL;

    /* Signals are taken by this thread only: block them before any thread
     * starts so that every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    ft_server_opts so = {
        .store_url = url,
        .otlp_listen = st.otlp_listen,
        .ui_listen = st.ui_listen,
        .retention_ms = st.retention_ms,
        .body_limit = st.body_limit,
        .disk_budget = strncmp(st.store ? st.store : "", "lmdb:", 5) == 0 ? st.disk_budget : 0,
        .threads = st.threads,
        .max_inflight = st.max_inflight,
        .otlp_token = st.otlp_token,
        .api_token = st.api_token,
        .allow_open_ui = st.allow_unauthenticated,
        .base_path = st.base_path,
        .ui_user = st.ui_user,
        .ui_password = st.ui_password,
        .session_secret = st.session_secret,
        .session_ttl_ms = st.session_ttl_ms,
        .ui_tls_cert = st.ui_tls_cert,
        .show_ip_peers = st.show_ip_peers,
        .ui_tls_key = st.ui_tls_key,
        .out = stdout,
    };
    ft_server *srv = NULL;
    rc = url ? ft_server_start(&so, &srv, &err) : ft_err_set(&err, FT_NOMEM, 0, "out of memory");
    if (rc != FT_OK) {
        fprintf(stderr, "fedtrace serve: %s\n", err.msg);
        free(url);
        ft_config_free(k_opts, N_OPTS, &st);
        return 1;
    }
    ft_logf("serving (version %s); SIGTERM or SIGINT stops", FEDTRACE_VERSION);
    /* sweep, and index what others wrote, while the listeners already
     * serve */
    int64_t t0 = ft_now_ms();
    ft_server_maintain(srv, true);
    ft_logf("first maintenance round done in %.1f s", (double)(ft_now_ms() - t0) / 1000.0);

    struct timespec tick = {1, 0};
    int64_t since_sweep = 0;
    for (;;) {
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &tick);
        if (sig == SIGTERM || sig == SIGINT) {
            ft_logf("%s: not accepting new connections; finishing requests in progress",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
            break;
        }
        if (sig == SIGHUP)
            continue; /* no reload yet: settings apply at start */
        since_sweep += 1000;
        bool sweep = st.sweep_interval_ms > 0 && since_sweep >= st.sweep_interval_ms;
        if (sweep)
            since_sweep = 0;
        ft_server_maintain(srv, sweep);
    }
    ft_server_stop(srv);
    ft_logf("stopped; store closed");
    free(url);
    ft_config_free(k_opts, N_OPTS, &st);
    return 0;
}
