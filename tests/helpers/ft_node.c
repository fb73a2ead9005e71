/*
 * ft_node.c - one collector node in process (see ft_node.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ft_node.h"

void ft_node_open(ft_node *n, const char *url)
{
    ft_err err = {0};
    if (ft_kv_open(url, &n->kv, &err) != FT_OK)
        fail_msg("%s: %s", url, err.msg);
    if (ft_metrics_create(NULL, 0, &n->m, &err) != FT_OK)
        fail_msg("metrics: %s", err.msg);
    ft_exporter_opts o = {.metrics = n->m};
    if (ft_exporter_create(n->kv, &o, &n->ex, &err) != FT_OK)
        fail_msg("exporter on %s: %s", url, err.msg);
}

void ft_node_close(ft_node *n)
{
    ft_err err = {0};
    if (ft_metrics_flush(n->m, n->kv, NULL, 0, ft_now_ms(), &err) != FT_OK)
        fail_msg("flush: %s", err.msg);
    ft_exporter_destroy(n->ex);
    ft_metrics_destroy(n->m);
    ft_kv_close(n->kv);
}
