/* Socket helpers shared by the bootstrap store, the launcher and tcp. */
#ifndef WEFT_SOCK_H
#define WEFT_SOCK_H

#include <stddef.h>
#include <sys/socket.h>
#include <weft/status.h>

#define WEFT_SOCK_ADDRSTRLEN 64

/* fcntl/setsockopt wrappers: 0 or -1 with errno set. */
int weft__sock_set_nonblock(int fd);
int weft__sock_set_nodelay(int fd);

/* "host:port" or "[v6addr]:port" -> sockaddr (numeric addresses first,
 * then names through getaddrinfo). WEFT_ERR_INVALID_ARG naming the text
 * when it cannot be parsed or resolved. */
weft_status_t weft__sock_parse(const char *text, struct sockaddr_storage *ss,
                               socklen_t *len_p);

/* "1.2.3.4:5" or "[::1]:5" (WEFT_SOCK_ADDRSTRLEN bytes are enough). */
void weft__sock_format(const struct sockaddr *sa, char *buf, size_t size);

/* A nonblocking, close-on-exec listening socket bound to sa (port 0 picks
 * one); the bound address is written back into *ss. */
weft_status_t weft__sock_listen(struct sockaddr_storage *ss, socklen_t *len_p,
                                int backlog, int *fd_p);

/* Connect with a deadline (absolute, weft__now() seconds); refused
 * connections are retried until the deadline, because the listener may
 * not be up yet. The returned fd is blocking-free (O_NONBLOCK) and
 * close-on-exec. */
weft_status_t weft__sock_connect(const struct sockaddr *sa, socklen_t len,
                                 double deadline, int *fd_p);

/* Write/read exactly len bytes on a nonblocking fd, polling until the
 * deadline. EOF -> WEFT_ERR_PEER_LOST; deadline -> WEFT_ERR_TIMED_OUT;
 * other errors -> WEFT_ERR_SYSTEM (errno kept). No log lines. */
weft_status_t weft__sock_write_all(int fd, const void *buf, size_t len,
                                   double deadline);
weft_status_t weft__sock_read_all(int fd, void *buf, size_t len,
                                  double deadline);

#endif /* WEFT_SOCK_H */
