/* Topology from hwloc: node identity, NUMA node and core of this rank. */
#include "build_config.h"
#include "topo.h"

#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errmsg.h"
#include "log.h"
#include "util.h"

void
weft__topo_node_id(const weft_config_t *cfg, char *buf, size_t size)
{
    char host[64] = "";
    char boot[40] = "";
    FILE *f;

    if (cfg->node_id != NULL && cfg->node_id[0] != '\0') {
        weft__strlcpy(buf, cfg->node_id, size);
        return;
    }
    if (gethostname(host, sizeof(host) - 1) != 0) {
        weft__strlcpy(host, "localhost", sizeof(host));
    }
    /* the boot id tells apart two machines (or containers of different
     * machines) that share a hostname */
    f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f != NULL) {
        if (fgets(boot, sizeof(boot), f) != NULL) {
            boot[strcspn(boot, "\n")] = '\0';
        }
        fclose(f);
    }
    snprintf(buf, size, "%s/%.8s", host, boot);
}

static int
topo_load(hwloc_topology_t *topo_p)
{
    if (hwloc_topology_init(topo_p) != 0) {
        return -1;
    }
    if (hwloc_topology_load(*topo_p) != 0) {
        hwloc_topology_destroy(*topo_p);
        return -1;
    }
    return 0;
}

weft_status_t
weft__topo_local(const weft_config_t *cfg, weft__topo_rec_t *rec)
{
    hwloc_topology_t topo;
    hwloc_bitmap_t set;
    hwloc_obj_t obj;

    memset(rec, 0, sizeof(*rec));
    weft__topo_node_id(cfg, rec->node_id, sizeof(rec->node_id));
    rec->numa = -1;
    rec->core = -1;
    rec->pid = (int32_t)getpid();

    if (topo_load(&topo) != 0) {
        weft__log_warn(WEFT_SUB_TOPO,
                       "hwloc could not load the topology: %m; no NUMA or "
                       "core information");
        return WEFT_OK;
    }
    set = hwloc_bitmap_alloc();
    if (set == NULL) {
        hwloc_topology_destroy(topo);
        return WEFT_ERR_NO_MEMORY;
    }
    if (hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) == 0 &&
        !hwloc_bitmap_iszero(set)) {
        /* a binding to one core (all of its PUs) names the core */
        obj = hwloc_get_obj_covering_cpuset(topo, set);
        if (obj != NULL && obj->type != HWLOC_OBJ_CORE &&
            obj->type != HWLOC_OBJ_PU) {
            obj = NULL; /* bound to more than one core */
        }
        if (obj != NULL) {
            if (obj->type == HWLOC_OBJ_PU) {
                obj = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE,
                                                     obj);
            }
            if (obj != NULL) {
                rec->core = (int32_t)obj->logical_index;
            }
        }
        obj = hwloc_get_next_obj_covering_cpuset_by_type(
            topo, set, HWLOC_OBJ_NUMANODE, NULL);
        if (obj != NULL &&
            hwloc_get_next_obj_covering_cpuset_by_type(
                topo, set, HWLOC_OBJ_NUMANODE, obj) == NULL) {
            rec->numa = (int32_t)obj->logical_index;
        } else if (hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE) == 1) {
            rec->numa = 0;
        }
    }
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(topo);
    weft__log_debug(WEFT_SUB_TOPO, "node %s, numa %d, core %d",
                    rec->node_id, rec->numa, rec->core);
    return WEFT_OK;
}

static void
topo_print_caches(FILE *out, hwloc_topology_t topo)
{
    static const hwloc_obj_type_t types[] = {HWLOC_OBJ_L1CACHE,
                                             HWLOC_OBJ_L2CACHE,
                                             HWLOC_OBJ_L3CACHE};

    fprintf(out, "  caches:");
    for (size_t i = 0; i < WEFT_ARRAY_SIZE(types); i++) {
        hwloc_obj_t c = hwloc_get_obj_by_type(topo, types[i], 0);

        if (c != NULL && c->attr != NULL) {
            fprintf(out, " L%u %llu KiB x%d", (unsigned)(i + 1),
                    (unsigned long long)c->attr->cache.size / 1024,
                    hwloc_get_nbobjs_by_type(topo, types[i]));
        }
    }
    fprintf(out, "\n");
}

int
weft__topo_oversubscribed(int nlocal)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    return ncpu > 0 && nlocal > ncpu;
}

void
weft__topo_print_summary(FILE *out)
{
    hwloc_topology_t topo;
    hwloc_bitmap_t set;
    char *text = NULL;
    weft_config_t empty;
    char node[WEFT_NODE_ID_MAX];

    memset(&empty, 0, sizeof(empty));
    weft__topo_node_id(&empty, node, sizeof(node));
    fprintf(out, "  node id: %s\n", node);
    if (topo_load(&topo) != 0) {
        fprintf(out, "  hwloc could not load the topology\n");
        return;
    }
    fprintf(out, "  packages %d, NUMA nodes %d, cores %d, PUs %d\n",
            hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE),
            hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE),
            hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE),
            hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU));
    topo_print_caches(out, topo);
    set = hwloc_bitmap_alloc();
    if (set != NULL &&
        hwloc_get_cpubind(topo, set, HWLOC_CPUBIND_PROCESS) == 0) {
        hwloc_bitmap_list_asprintf(&text, set);
        fprintf(out, "  this process may run on PUs %s\n", text ? text : "?");
        free(text);
    }
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(topo);
}
