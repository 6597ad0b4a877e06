/*
 * weftrun --tag-output: each rank's stdout and stderr come through a pipe;
 * every line goes to weftrun's own stdout/stderr with "[R] " in front, in
 * one write, so lines of different ranks never mix. A line longer than
 * WEFTRUN_LINE_MAX is cut into pieces; an unfinished last line is ended
 * with a newline when its pipe closes.
 */
#include "build_config.h"
#include "weftrun.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"

#define WEFTRUN_READS_PER_EVENT 16 /* then let the other fds have a turn */

/* Writes all of iov to fd; gives up quietly on a broken output. */
static void
weftrun_output_writev(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t n = writev(fd, iov, cnt);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};

                poll(&pfd, 1, 1000);
                continue;
            }
            return; /* EPIPE and friends: nobody reads our output */
        }
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
}

static void
weftrun_line_write(const weftrun_rank_t *r, const weftrun_stream_t *s,
                   const char *line, size_t len)
{
    char prefix[24];
    int plen = snprintf(prefix, sizeof(prefix), "[%d] ", r->rank);
    struct iovec iov[3] = {
        {.iov_base = prefix, .iov_len = (size_t)plen},
        {.iov_base = (char *)line, .iov_len = len},
        {.iov_base = "\n", .iov_len = 1},
    };

    weftrun_output_writev(s->out_fd, iov, 3);
}

/* Writes the complete lines in s->buf and keeps the rest. */
static void
weftrun_stream_lines(const weftrun_rank_t *r, weftrun_stream_t *s)
{
    size_t start = 0;

    for (;;) {
        char *nl = memchr(s->buf + start, '\n', s->len - start);

        if (nl == NULL) {
            break;
        }
        weftrun_line_write(r, s, s->buf + start,
                           (size_t)(nl - (s->buf + start)));
        start = (size_t)(nl - s->buf) + 1;
    }
    if (start == 0 && s->len == WEFTRUN_LINE_MAX) {
        weftrun_line_write(r, s, s->buf, s->len); /* too long: cut here */
        start = s->len;
    }
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
}

void
weftrun_stream_open(weftrun_job_t *job, weftrun_rank_t *r, weftrun_stream_t *s,
                    int out_fd, int fd)
{
    struct epoll_event ev;

    s->fd = fd;
    s->out_fd = out_fd;
    s->len = 0;
    s->buf = malloc(WEFTRUN_LINE_MAX);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u64 = weftrun_stream_key(r, s);
    if (s->buf == NULL || fcntl(fd, F_SETFL, O_NONBLOCK) != 0 ||
        epoll_ctl(job->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        fprintf(stderr,
                "weftrun: warning: cannot follow the output of rank %d: %s\n",
                r->rank, s->buf == NULL ? "out of memory" : strerror(errno));
        close(fd);
        s->fd = -1;
        free(s->buf);
        s->buf = NULL;
    }
}

void
weftrun_stream_read(weftrun_job_t *job, weftrun_rank_t *r, weftrun_stream_t *s)
{
    for (int i = 0; s->fd >= 0 && i < WEFTRUN_READS_PER_EVENT; i++) {
        ssize_t n = read(s->fd, s->buf + s->len, WEFTRUN_LINE_MAX - s->len);

        if (n > 0) {
            s->len += (size_t)n;
            weftrun_stream_lines(r, s);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return;
        } else {
            weftrun_stream_close(job, r, s); /* EOF (or a broken pipe) */
        }
    }
}

void
weftrun_stream_close(weftrun_job_t *job, weftrun_rank_t *r, weftrun_stream_t *s)
{
    (void)job;
    if (s->fd >= 0) {
        if (s->len > 0) {
            weftrun_line_write(r, s, s->buf, s->len);
            s->len = 0;
        }
        close(s->fd); /* also leaves the epoll set */
        s->fd = -1;
    }
    free(s->buf);
    s->buf = NULL;
}

/* After the last rank exited: read what is left until every pipe is at
 * EOF or the deadline passes (a leftover process may hold a pipe). */
void
weftrun_output_drain(weftrun_job_t *job, double deadline)
{
    int n = job->opts.nranks;
    struct pollfd *pfd;

    if (!job->opts.tag_output) {
        return;
    }
    pfd = calloc((size_t)n * 2, sizeof(*pfd));
    if (pfd == NULL) {
        return;
    }
    for (;;) {
        int open_fds = 0;
        int ms;

        for (int r = 0; r < n; r++) {
            pfd[2 * r].fd = job->ranks[r].out.fd;
            pfd[2 * r + 1].fd = job->ranks[r].err.fd;
            pfd[2 * r].events = pfd[2 * r + 1].events = POLLIN;
            open_fds += (job->ranks[r].out.fd >= 0);
            open_fds += (job->ranks[r].err.fd >= 0);
        }
        ms = weft__ms_until(deadline, 1000);
        if (open_fds == 0 || ms == 0) {
            break;
        }
        if (poll(pfd, (nfds_t)n * 2, ms) < 0 && errno != EINTR) {
            break;
        }
        for (int r = 0; r < n; r++) {
            if (pfd[2 * r].revents != 0) {
                weftrun_stream_read(job, &job->ranks[r], &job->ranks[r].out);
            }
            if (pfd[2 * r + 1].revents != 0) {
                weftrun_stream_read(job, &job->ranks[r], &job->ranks[r].err);
            }
        }
    }
    free(pfd);
}
