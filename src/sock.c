/* Socket helpers shared by the bootstrap store, the launcher and tcp. */
#include "build_config.h"
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "errmsg.h"
#include "util.h"

int
weft__sock_set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0) {
        return -1;
    }
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int
weft__sock_set_nodelay(int fd)
{
    int one = 1;

    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

weft_status_t
weft__sock_parse(const char *text, struct sockaddr_storage *ss,
                 socklen_t *len_p)
{
    char host[256];
    const char *port_text;
    const char *colon;
    char *end;
    unsigned long port;
    struct addrinfo hints, *res = NULL;
    int rc;

    if (text == NULL || *text == '\0') {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "empty address: expected host:port");
    }
    if (text[0] == '[') {
        const char *close = strchr(text, ']');

        if (close == NULL || close[1] != ':' ||
            (size_t)(close - text - 1) >= sizeof(host)) {
            return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                               "bad address '%s': expected [v6addr]:port",
                               text);
        }
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port_text = close + 2;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL || (size_t)(colon - text) >= sizeof(host) ||
            colon == text) {
            return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                               "bad address '%s': expected host:port", text);
        }
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port_text = colon + 1;
    }
    errno = 0;
    port = strtoul(port_text, &end, 10);
    if (*port_text == '\0' || *end != '\0' || errno != 0 || port > 65535) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "bad port in address '%s'", text);
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port_text, &hints, &res);
    if (rc != 0 || res == NULL) {
        return weft__error(WEFT_ERR_INVALID_ARG, WEFT_SUB_BOOT,
                           "cannot resolve '%s': %s", host, gai_strerror(rc));
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len_p = res->ai_addrlen;
    freeaddrinfo(res);
    return WEFT_OK;
}

void
weft__sock_format(const struct sockaddr *sa, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(buf, size, "%s:%u", ip, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else {
        snprintf(buf, size, "(family %d)", sa->sa_family);
    }
}

weft_status_t
weft__sock_listen(struct sockaddr_storage *ss, socklen_t *len_p, int backlog,
                  int *fd_p)
{
    char text[WEFT_SOCK_ADDRSTRLEN];
    int one = 1;
    int fd;

    weft__sock_format((struct sockaddr *)ss, text, sizeof(text));
    fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT,
                           "socket for %s failed: %m", text);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)ss, *len_p) != 0) {
        weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT, "bind to %s failed: %m",
                    text);
        close(fd);
        return WEFT_ERR_SYSTEM;
    }
    if (listen(fd, backlog) != 0) {
        weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT, "listen on %s failed: %m",
                    text);
        close(fd);
        return WEFT_ERR_SYSTEM;
    }
    *len_p = sizeof(*ss);
    if (getsockname(fd, (struct sockaddr *)ss, len_p) != 0) {
        weft__error(WEFT_ERR_SYSTEM, WEFT_SUB_BOOT, "getsockname failed: %m");
        close(fd);
        return WEFT_ERR_SYSTEM;
    }
    *fd_p = fd;
    return WEFT_OK;
}

static weft_status_t
sock_wait(int fd, short events, double deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};

    for (;;) {
        int ms = weft__ms_until(deadline, 1000);
        int rc;

        if (ms == 0 && weft__now() >= deadline) {
            return WEFT_ERR_TIMED_OUT;
        }
        rc = poll(&pfd, 1, ms);
        if (rc > 0) {
            return WEFT_OK;
        }
        if (rc < 0 && errno != EINTR) {
            return WEFT_ERR_SYSTEM;
        }
    }
}

weft_status_t
weft__sock_connect(const struct sockaddr *sa, socklen_t len, double deadline,
                   int *fd_p)
{
    double backoff = 0.001;

    for (;;) {
        int fd = socket(sa->sa_family,
                        SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int err = 0;
        socklen_t err_len = sizeof(err);

        if (fd < 0) {
            return WEFT_ERR_SYSTEM;
        }
        if (connect(fd, sa, len) != 0) {
            if (errno != EINPROGRESS) {
                err = errno;
            } else if (sock_wait(fd, POLLOUT, deadline) != WEFT_OK) {
                close(fd);
                return WEFT_ERR_TIMED_OUT;
            } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) !=
                       0) {
                err = errno;
            }
        }
        if (err == 0) {
            weft__sock_set_nodelay(fd);
            *fd_p = fd;
            return WEFT_OK;
        }
        close(fd);
        /* refused (not listening yet) or a path down for a moment (a
         * link coming up, an address not resolved yet): again, until the
         * deadline */
        if (err != ECONNREFUSED && err != ECONNRESET && err != ETIMEDOUT &&
            err != EAGAIN && err != EHOSTUNREACH && err != ENETUNREACH) {
            errno = err;
            return WEFT_ERR_SYSTEM;
        }
        if (weft__now() + backoff >= deadline) {
            errno = err;
            return WEFT_ERR_TIMED_OUT;
        }
        usleep((useconds_t)(backoff * 1e6));
        if (backoff < 0.1) {
            backoff *= 2;
        }
    }
}

weft_status_t
weft__sock_write_all(int fd, const void *buf, size_t len, double deadline)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            weft_status_t st = sock_wait(fd, POLLOUT, deadline);
            if (st != WEFT_OK) {
                return st;
            }
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            return WEFT_ERR_PEER_LOST;
        } else {
            return WEFT_ERR_SYSTEM;
        }
    }
    return WEFT_OK;
}

weft_status_t
weft__sock_read_all(int fd, void *buf, size_t len, double deadline)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);

        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n == 0) {
            return WEFT_ERR_PEER_LOST;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            weft_status_t st = sock_wait(fd, POLLIN, deadline);
            if (st != WEFT_OK) {
                return st;
            }
        } else if (errno == EINTR) {
            continue;
        } else if (errno == ECONNRESET) {
            return WEFT_ERR_PEER_LOST;
        } else {
            return WEFT_ERR_SYSTEM;
        }
    }
    return WEFT_OK;
}
