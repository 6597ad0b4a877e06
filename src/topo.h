/*
 * Topology: who this process is on the machine (node identity, NUMA node,
 * core) from hwloc, exchanged at start-up so every rank knows which ranks
 * share its node.
 */
#ifndef WEFT_TOPO_H
#define WEFT_TOPO_H

#include <stdint.h>
#include <stdio.h>
#include <weft/status.h>
#include "config.h"

#define WEFT_NODE_ID_MAX 128

/* One rank's record (part of the start-up exchange; fixed size). */
typedef struct weft__topo_rec {
    char node_id[WEFT_NODE_ID_MAX]; /* NUL-terminated */
    int32_t numa;                   /* NUMA node (logical index), -1 unknown */
    int32_t core;                   /* core it is bound to, -1 if not bound to one */
    int32_t pid;
} weft__topo_rec_t;

/* Fill this process's record (WEFT_NODE_ID, else hostname + boot id). */
weft_status_t weft__topo_local(const weft_config_t *cfg,
                               weft__topo_rec_t *rec);

/* The node identity alone (same rule). */
void weft__topo_node_id(const weft_config_t *cfg, char *buf, size_t size);

/* 1 when `nlocal` ranks on this node outnumber its online cores: waiting
 * ranks then yield rather than spin (progress), and node-local
 * collectives get larger buffers and measure their forms (shm). Every
 * rank of a node computes the same answer. */
int weft__topo_oversubscribed(int nlocal);

/* A few lines about this machine for weft-info: packages, NUMA nodes,
 * cores, PUs, caches, and this process's binding. */
void weft__topo_print_summary(FILE *out);

#endif /* WEFT_TOPO_H */
