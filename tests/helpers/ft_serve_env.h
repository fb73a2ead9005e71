/*
 * ft_serve_env.h - one `fedtrace serve` on a fresh LMDB store in a temp
 * directory, for the integration tests, and the Fedify fixtures to send it.
 */
#ifndef FT_SERVE_ENV_H
#define FT_SERVE_ENV_H

#include "ft_http.h"

#include <stddef.h>
#include <stdint.h>

#define FT_FIXTURES FT_TEST_DATA "/fedify-2.3.6"
#define FT_N_FIXTURES 8

typedef struct ft_serve_env {
    char *dir;
    char store[600]; /* lmdb:DIR/store + params */
    char log[600];   /* the daemon's stderr */
    ft_daemon d;
} ft_serve_env;

/* Starts the daemon (store_params: "" or "?mapsize=..."; extra: flags,
 * NULL-terminated, or NULL); fails the test with its log if it does not. */
void ft_serve_env_start(ft_serve_env *e, const char *tag, const char *store_params,
                        const char *const *extra);
/* Starts it again on the same store. */
void ft_serve_env_restart(ft_serve_env *e, const char *const *extra);
/* SIGTERM (it must exit 0), then the directory goes. */
void ft_serve_env_end(ft_serve_env *e);

/* Fixture request i (1..FT_N_FIXTURES): an OTLP protobuf body (malloc). */
uint8_t *ft_fixture(int i, size_t *len);
/* POSTs every fixture to /v1/traces; each must get 200. */
void ft_post_fixtures(int otlp_port);

#endif
