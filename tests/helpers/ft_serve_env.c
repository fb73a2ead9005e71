/* ft_serve_env.c - see ft_serve_env.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ft_serve_env.h"

#include "ft_test_util.h"
#include "ft_tmp.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

void ft_serve_env_start(ft_serve_env *e, const char *tag, const char *store_params,
                        const char *const *extra)
{
    e->dir = ft_test_tmpdir(tag);
    snprintf(e->store, sizeof e->store, "lmdb:%s/store%s", e->dir, store_params);
    snprintf(e->log, sizeof e->log, "%s/serve.log", e->dir);
    if (ft_daemon_start(&e->d, e->store, e->log, extra) != 0) {
        uint8_t *log = ft_test_read_file(e->log, NULL);
        fail_msg("fedtrace serve did not start:\n%s", log ? (char *)log : "(no log)");
    }
}

void ft_serve_env_restart(ft_serve_env *e, const char *const *extra)
{
    if (ft_daemon_start(&e->d, e->store, e->log, extra) != 0)
        fail_msg("fedtrace serve did not restart");
}

void ft_serve_env_end(ft_serve_env *e)
{
    if (e->d.pid > 0) {
        int st = ft_daemon_stop(&e->d, SIGTERM);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    ft_test_rmrf(e->dir);
    free(e->dir);
}

uint8_t *ft_fixture(int i, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, FT_FIXTURES "/%04d-traces.pb", i);
    uint8_t *b = ft_test_read_file(path, len);
    assert_non_null(b);
    return b;
}

void ft_post_fixtures(int otlp_port)
{
    static const char *const pb[] = {"Content-Type: application/x-protobuf", NULL};
    for (int i = 1; i <= FT_N_FIXTURES; i++) {
        size_t len;
        uint8_t *body = ft_fixture(i, &len);
        ft_http_resp r;
        assert_int_equal(ft_http_once(otlp_port, "POST", "/v1/traces", pb, body, len, &r), 0);
        if (r.status != 200)
            fail_msg("fixture %d: status %d: %s", i, r.status, r.body ? (char *)r.body : "");
        ft_http_resp_free(&r);
        free(body);
    }
}
