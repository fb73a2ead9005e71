/*
 * ft_node.h - one collector node in process, as `fedtrace serve` has it: a
 * store handle, RED metrics and an exporter counting into them (test
 * scaffolding).  Failures fail the running cmocka test.
 */
#ifndef FT_NODE_H
#define FT_NODE_H

#include "fedtrace/exporter.h"
#include "fedtrace/kv.h"
#include "fedtrace/services.h"

typedef struct ft_node {
    ft_kv *kv;
    ft_metrics *m;
    ft_exporter *ex;
} ft_node;

/* Opens the store at url with default inference and an exporter on it. */
void ft_node_open(ft_node *n, const char *url);
/* Writes the node's metrics to the store, then closes everything. */
void ft_node_close(ft_node *n);

#endif
