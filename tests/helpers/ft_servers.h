/*
 * ft_servers.h - real Redis and PostgreSQL servers for tests.
 *
 * Each start function runs a throwaway server in a fresh temporary
 * directory on a free loopback port and fills `url` with the fedtrace store
 * URL for it.  When the server's binaries are missing, the test run is
 * skipped loudly (a "SKIPPED" line on stderr) unless CI=true, where it is a
 * failure: `failed` is set and the caller must fail.
 */
#ifndef FT_SERVERS_H
#define FT_SERVERS_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct ft_test_server {
    pid_t pid;      /* the server process (0: none) */
    int port;
    char dir[512];  /* its data directory, removed by stop */
    char url[600];  /* e.g. redis://127.0.0.1:PORT, postgres://... */
    bool failed;    /* could not start although required */
    /* set by the start function: starts the process again on the same
     * port and data directory (used by ft_test_server_restart) */
    int (*relaunch)(struct ft_test_server *s);
} ft_test_server;

/* 0: started.  1: not available here (skip).  -1: failed (failed set). */
int ft_test_redis_start(ft_test_server *s);
int ft_test_pg_start(ft_test_server *s);

/* Stops the server (SIGTERM, then SIGKILL after 10 s), waits for it and
 * removes its directory.  A zeroed or never-started server is a no-op. */
void ft_test_server_stop(ft_test_server *s);

/* Stops the server abruptly without removing its data (outage tests), and
 * starts it again on the same port and data. */
void ft_test_server_kill(ft_test_server *s);
int ft_test_server_restart(ft_test_server *s);

/* ---- for the start functions ---- */

/* True when CI=true: missing servers are failures. */
bool ft_test_ci(void);
/* A free TCP port on 127.0.0.1 (bound and released). */
int ft_test_free_port(void);
/* Waits until something accepts on 127.0.0.1:port; false after timeout. */
bool ft_test_wait_port(int port, int timeout_ms);
/* Finds an executable: $PATH, then each of the NULL-terminated dirs
 * (globs allowed, e.g. "/usr/lib/postgresql/ * /bin" without spaces);
 * writes the path to out.  False when not found. */
bool ft_test_find_bin(const char *name, const char *const *dirs, char *out,
                      size_t cap);
/* The "not available" outcome: prints SKIPPED (or, under CI, FAILED and
 * sets s->failed) with the reason; returns 1 or -1 accordingly. */
int ft_test_server_unavailable(ft_test_server *s, const char *what,
                               const char *why);

#endif
