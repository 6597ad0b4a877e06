/*
 * tcp: interfaces, listeners, the published address blob and the choice
 * of a peer's address. IPv4 only.
 */
#include "build_config.h"
#include "transports/tcp/tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errmsg.h"
#include "log.h"
#include "util.h"

static void
tcp_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t
tcp_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint32_t
tcp_iface_mask(unsigned prefix)
{
    return prefix == 0 ? 0 : htonl(0xffffffffu << (32 - prefix));
}

static unsigned
tcp_iface_prefix(const struct sockaddr *netmask)
{
    uint32_t m;

    if (netmask == NULL || netmask->sa_family != AF_INET) {
        return 32;
    }
    m = ntohl(((const struct sockaddr_in *)netmask)->sin_addr.s_addr);
    return (unsigned)__builtin_popcount(m);
}

static void
tcp_iface_format(const weft__tcp_addr_entry_t *e, char *buf, size_t size)
{
    char ip[INET_ADDRSTRLEN];
    struct in_addr in = {.s_addr = e->ip};

    inet_ntop(AF_INET, &in, ip, sizeof(ip));
    snprintf(buf, size, "%s:%u (%s)", ip, e->port, e->ifname);
}

/* One nonblocking listener on e->ip, port 0; e->port gets the port. */
static weft_status_t
tcp_iface_listen(weft_tl_t *tl, weft__tcp_addr_entry_t *e)
{
    weft__tcp_listener_t *lis = &tl->lis[tl->n_lis];
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    struct epoll_event ev;
    char text[64];
    int one = 1;
    int fd;

    sin.sin_addr.s_addr = e->ip;
    tcp_iface_format(e, text, sizeof(text));
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_TL,
                           "tcp: socket for %s failed: %m", text);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (tl->sockbuf > 0) { /* accepted sockets inherit them (and the
                              window scale they imply) */
        int size = tl->sockbuf > INT32_MAX ? INT32_MAX : (int)tl->sockbuf;

        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_TL,
                    "tcp: cannot listen on %s: %m", text);
        close(fd);
        return WEFT_ERR_SYSTEM;
    }
    e->port = ntohs(sin.sin_port);
    lis->kind = TCP_FD_LISTENER;
    lis->fd = fd;
    lis->addr = *e;
    ev.events = EPOLLIN;
    ev.data.ptr = lis;
    if (epoll_ctl(tl->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_TL,
                    "tcp: epoll_ctl for the listener on %s failed: %m", text);
        close(fd);
        return WEFT_ERR_SYSTEM;
    }
    tl->n_lis++;
    return WEFT_OK;
}

/* The interfaces to listen on: the names in `ifnames`, or every IPv4
 * interface that is up. */
static weft_status_t
tcp_iface_scan(weft_tl_t *tl, const weft__strlist_t *names,
               weft__tcp_addr_entry_t *out, unsigned *n_p)
{
    struct ifaddrs *ifa_list, *ifa;
    unsigned n = 0;

    if (getifaddrs(&ifa_list) != 0) {
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_TL,
                           "tcp: getifaddrs failed: %m");
    }
    for (ifa = ifa_list; ifa != NULL; ifa = ifa->ifa_next) {
        weft__tcp_addr_entry_t *e = &out[n];
        int dup = 0;

        if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET ||
            !(ifa->ifa_flags & IFF_UP)) {
            continue;
        }
        if (names->n > 0 && weft__strlist_find(names, ifa->ifa_name) < 0) {
            continue;
        }
        if (n == TCP_MAX_IFACES) {
            weft__log_debug(WEFT_SUB_TL,
                            "tcp: more than %d addresses, %s left out",
                            TCP_MAX_IFACES, ifa->ifa_name);
            continue;
        }
        memset(e, 0, sizeof(*e));
        e->ip = ((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr;
        for (unsigned i = 0; i < n; i++) {
            dup |= out[i].ip == e->ip;
        }
        if (dup) {
            continue;
        }
        e->prefix = (uint8_t)tcp_iface_prefix(ifa->ifa_netmask);
        e->flags = (ifa->ifa_flags & IFF_LOOPBACK) ? TCP_ADDR_F_LOOPBACK : 0;
        weft__strlcpy(e->ifname, ifa->ifa_name, sizeof(e->ifname));
        n++;
    }
    freeifaddrs(ifa_list);
    for (size_t i = 0; i < names->n; i++) {
        int found = 0;

        for (unsigned j = 0; j < n; j++) {
            found |= strcmp(out[j].ifname, names->items[i]) == 0;
        }
        if (!found) {
            return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_TL,
                               "WEFT_TCP_IFNAME: no interface '%s' that is "
                               "up with an IPv4 address",
                               names->items[i]);
        }
    }
    if (n == 0) {
        return weft__error(WEFT_ERR_UNSUPPORTED, WEFT_SUB_TL,
                           "tcp: no IPv4 interface is up");
    }
    *n_p = n;
    return WEFT_OK;
}

weft_status_t
weft__tcp_iface_open(weft_tl_t *tl, const char *ifnames)
{
    weft__tcp_addr_entry_t found[TCP_MAX_IFACES];
    weft__strlist_t names = {0, NULL};
    char line[512];
    size_t off = 0;
    unsigned n = 0;
    weft_status_t st;

    WEFT_CHECK(weft__strlist_split(ifnames ? ifnames : "", &names));
    st = tcp_iface_scan(tl, &names, found, &n);
    weft__strlist_free(&names);
    WEFT_CHECK(st);
    line[0] = '\0';
    for (unsigned i = 0; i < n; i++) {
        char text[64];

        st = tcp_iface_listen(tl, &found[i]);
        if (st != WEFT_OK) {
            weft__tcp_iface_close(tl);
            return st;
        }
        tcp_iface_format(&found[i], text, sizeof(text));
        off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s",
                                i ? ", " : "", text);
        if (off >= sizeof(line)) {
            off = sizeof(line) - 1;
        }
    }
    weft__log_info(WEFT_SUB_TL, "tcp: rank %d listening on %s", tl->rank, line);
    return WEFT_OK;
}

void
weft__tcp_iface_close(weft_tl_t *tl)
{
    for (unsigned i = 0; i < tl->n_lis; i++) {
        /* explicit: after a fork the epoll set would keep a shared fd */
        epoll_ctl(tl->epfd, EPOLL_CTL_DEL, tl->lis[i].fd, NULL);
        close(tl->lis[i].fd);
    }
    tl->n_lis = 0;
}

weft_status_t
weft__tcp_addr_pack(const weft_tl_t *tl, void *buf, size_t *len_p)
{
    size_t need = TCP_ADDR_HDR_LEN + (size_t)tl->n_lis * TCP_ADDR_ENTRY_LEN;
    uint8_t *p = buf;

    if (*len_p < need) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_TL,
                           "tcp: address needs %zu bytes, got %zu", need,
                           *len_p);
    }
    memset(p, 0, need);
    tcp_put32(p, TCP_ADDR_MAGIC);
    p[4] = TCP_ADDR_VERSION;
    p[5] = (uint8_t)tl->n_lis;
    tcp_put32(p + 8, (uint32_t)tl->eager_limit);
    tcp_put32(p + 12, (uint32_t)tl->chunk);
    for (unsigned i = 0; i < tl->n_lis; i++) {
        const weft__tcp_addr_entry_t *e = &tl->lis[i].addr;
        uint8_t *q = p + TCP_ADDR_HDR_LEN + i * TCP_ADDR_ENTRY_LEN;
        uint16_t port = htons(e->port);

        memcpy(q, &e->ip, 4);
        memcpy(q + 4, &port, 2);
        q[6] = e->prefix;
        q[7] = e->flags;
        memcpy(q + 8, e->ifname, strnlen(e->ifname, TCP_IFNAME_LEN));
    }
    *len_p = need;
    return WEFT_OK;
}

weft_status_t
weft__tcp_addr_unpack(const void *buf, size_t len, weft__tcp_addr_t *addr,
                      char *why, size_t why_len)
{
    const uint8_t *p = buf;
    weft__tcp_addr_t a;

    if (p == NULL || len < TCP_ADDR_HDR_LEN) {
        snprintf(why, why_len, "address of %zu bytes", len);
        return WEFT_ERR_PROTOCOL;
    }
    if (tcp_get32(p) != TCP_ADDR_MAGIC || p[4] != TCP_ADDR_VERSION) {
        snprintf(why, why_len, "not a tcp address (magic 0x%08x version %u)",
                 tcp_get32(p), p[4]);
        return WEFT_ERR_PROTOCOL;
    }
    memset(&a, 0, sizeof(a));
    a.n = p[5];
    a.eager_limit = tcp_get32(p + 8);
    a.max_data = tcp_get32(p + 12);
    if (a.n == 0 || a.n > TCP_MAX_IFACES ||
        len != TCP_ADDR_HDR_LEN + a.n * TCP_ADDR_ENTRY_LEN || a.max_data == 0) {
        snprintf(why, why_len,
                 "bad tcp address (%u entries in %zu bytes, max data %u)", a.n,
                 len, a.max_data);
        return WEFT_ERR_PROTOCOL;
    }
    for (unsigned i = 0; i < a.n; i++) {
        const uint8_t *q = p + TCP_ADDR_HDR_LEN + i * TCP_ADDR_ENTRY_LEN;
        weft__tcp_addr_entry_t *e = &a.e[i];
        uint16_t port;

        memcpy(&e->ip, q, 4);
        memcpy(&port, q + 4, 2);
        e->port = ntohs(port);
        e->prefix = q[6];
        e->flags = q[7];
        memcpy(e->ifname, q + 8, TCP_IFNAME_LEN);
        e->ifname[TCP_IFNAME_LEN] = '\0';
        for (char *c = e->ifname; *c; c++) {
            if (*c < 0x21 || *c > 0x7e) {
                *c = '?'; /* it goes into log lines */
            }
        }
        if (e->port == 0 || e->prefix > 32) {
            snprintf(why, why_len, "bad tcp address entry %u (port %u)", i,
                     e->port);
            return WEFT_ERR_PROTOCOL;
        }
    }
    *addr = a;
    return WEFT_OK;
}

int
weft__tcp_addr_choose(const weft_tl_t *tl, const weft__tcp_addr_t *addr,
                      int same_node)
{
    int first = -1;

    if (same_node) {
        for (unsigned i = 0; i < addr->n; i++) {
            if (addr->e[i].flags & TCP_ADDR_F_LOOPBACK) {
                return (int)i;
            }
        }
    }
    for (unsigned i = 0; i < addr->n; i++) {
        const weft__tcp_addr_entry_t *e = &addr->e[i];

        if (e->flags & TCP_ADDR_F_LOOPBACK) {
            continue;
        }
        if (first < 0) {
            first = (int)i;
        }
        for (unsigned j = 0; j < tl->n_lis; j++) {
            const weft__tcp_addr_entry_t *own = &tl->lis[j].addr;
            uint32_t mask = tcp_iface_mask(own->prefix);

            if (!(own->flags & TCP_ADDR_F_LOOPBACK) &&
                (own->ip & mask) == (e->ip & mask)) {
                return (int)i;
            }
        }
    }
    return first;
}
