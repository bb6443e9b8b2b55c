/* SPDX-License-Identifier: MIT */
/* conn.c - the blocking connection to praxisd; see conn.h. */
#include "conn.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "protocol/err.h"
#include "term.h"

struct px_conn {
    int fd;
    int intr_fd;
    char *path;
    uint64_t next_seq;
    uint64_t frames; /* response frames received */
    uint8_t *buf;    /* the last frame body; the decoded response borrows it */
    size_t cap;
    struct px_api_response res;
};

const char *
px_conn_socket_path(const char *explicit_path)
{
    const char *env;

    if (explicit_path != NULL) {
        return explicit_path;
    }
    env = getenv(PX_CONN_SOCKET_ENV);
    if (env != NULL && env[0] != '\0') {
        return env;
    }
    return PX_CONN_DEFAULT_SOCKET;
}

static void
unreachable(const char *path, int err)
{
    char buf[PX_CLI_SHOW_MAX];

    px_cli_error("cannot reach praxisd at %s: %s (is it running? see make run)",
                 px_cli_show(path, buf, sizeof(buf)), strerror(err));
}

int
px_conn_open(const char *path, struct px_conn **out)
{
    struct sockaddr_un sa;
    struct px_conn *c;
    int fd;

    *out = NULL;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
        unreachable(path, path[0] == '\0' ? ENOENT : ENAMETOOLONG);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path));
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        unreachable(path, errno);
        return -1;
    }
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = errno;

        if (err == EINTR) {
            continue;
        }
        close(fd);
        unreachable(path, err);
        return -1;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL || (c->path = strdup(path)) == NULL) {
        free(c);
        close(fd);
        px_cli_error("out of memory");
        return -1;
    }
    c->fd = fd;
    c->intr_fd = -1;
    c->next_seq = 1;
    *out = c;
    return 0;
}

void
px_conn_close(struct px_conn *c)
{
    if (c == NULL) {
        return;
    }
    close(c->fd);
    free(c->buf);
    free(c->path);
    free(c);
}

void
px_conn_set_interrupt(struct px_conn *c, int fd)
{
    c->intr_fd = fd;
}

const char *
px_conn_path(const struct px_conn *c)
{
    return c->path;
}

int
px_conn_send(struct px_conn *c, struct px_api_request *req)
{
    uint8_t *frame;
    size_t len, off = 0;
    int rc;

    req->seq = c->next_seq++;
    if ((rc = px_api_request_encode(req, &frame, &len)) != 0) {
        px_cli_error("cannot encode a %s request: %s", px_api_op_name(req->op), px_strerror(rc));
        return -1;
    }
    while (off < len) {
        /* MSG_NOSIGNAL: a daemon that went away is an error to report, not SIGPIPE. */
        ssize_t n = send(c->fd, frame + off, len - off, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            px_cli_error("cannot send to praxisd: %s", strerror(errno));
            free(frame);
            return -1;
        }
        off += (size_t)n;
    }
    free(frame);
    return 0;
}

/*
 * Reads exactly n bytes. 0; PX_CONN_INTERRUPTED; or -1 with errno set (0 at end of
 * stream, with *got saying how many bytes came before it).
 */
static int
read_exact(struct px_conn *c, uint8_t *p, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t r;

        if (c->intr_fd >= 0) {
            struct pollfd fds[2] = {{c->fd, POLLIN, 0}, {c->intr_fd, POLLIN, 0}};

            if (poll(fds, 2, -1) < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return -1;
            }
            if (fds[1].revents != 0) {
                return PX_CONN_INTERRUPTED;
            }
            if (fds[0].revents == 0) {
                continue;
            }
        }
        r = read(c->fd, p + *got, n - *got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            errno = 0;
            return -1;
        }
        *got += (size_t)r;
    }
    return 0;
}

/* Reports a failed read_exact; at_start: nothing of the frame had been read. */
static void
read_failed(const struct px_conn *c, size_t got, bool at_start)
{
    if (errno != 0) {
        px_cli_error("cannot read from praxisd: %s", strerror(errno));
    } else if (at_start && got == 0 && c->frames > 0) {
        px_cli_error("praxisd closed the connection (stopped? see its log)");
    } else if (at_start && got == 0) {
        px_cli_error("praxisd closed the connection before answering (see its log)");
    } else {
        px_cli_error("praxisd closed the connection in the middle of a frame");
    }
}

int
px_conn_recv(struct px_conn *c, const struct px_api_response **res)
{
    uint8_t hdr[4];
    uint32_t len;
    size_t got;
    int rc;

    if ((rc = read_exact(c, hdr, sizeof(hdr), &got)) != 0) {
        if (rc == PX_CONN_INTERRUPTED) {
            return rc;
        }
        read_failed(c, got, true);
        return -1;
    }
    if ((rc = px_api_frame_len(hdr, &len)) != 0) {
        px_cli_error("praxisd sent a bad frame header: %s (%s)", px_strerror(rc), px_err_name(rc));
        return -1;
    }
    if (len > c->cap) {
        /* len <= PX_API_MAX_FRAME: checked by px_api_frame_len. */
        uint8_t *p = realloc(c->buf, len);

        if (p == NULL) {
            px_cli_error("out of memory");
            return -1;
        }
        c->buf = p;
        c->cap = len;
    }
    if ((rc = read_exact(c, c->buf, len, &got)) != 0) {
        if (rc == PX_CONN_INTERRUPTED) {
            return rc;
        }
        read_failed(c, got, false);
        return -1;
    }
    c->frames++;
    if ((rc = px_api_response_decode(c->buf, len, &c->res)) != 0) {
        if (rc == PX_EVERSION) {
            px_cli_error("praxisd speaks another version of the local API (this praxis speaks "
                         "version %d): use the praxis that came with it",
                         PX_API_VERSION);
        } else {
            px_cli_error("praxisd sent a response that does not decode: %s (%s)", px_strerror(rc),
                         px_err_name(rc));
        }
        return -1;
    }
    /* seq 0 is never ours: it is the daemon speaking about the connection itself. */
    if (c->res.seq == 0) {
        px_conn_print_error("praxisd refused the connection", &c->res);
        return -1;
    }
    if (c->res.seq >= c->next_seq) {
        px_cli_error("praxisd answered request %llu, which was never sent",
                     (unsigned long long)c->res.seq);
        return -1;
    }
    *res = &c->res;
    return 0;
}

int
px_conn_recv_seq(struct px_conn *c, uint64_t seq, const struct px_api_response **res)
{
    int rc = px_conn_recv(c, res);

    if (rc == 0 && (*res)->seq != seq) {
        px_cli_error("praxisd answered request %llu while request %llu was the one in flight",
                     (unsigned long long)(*res)->seq, (unsigned long long)seq);
        return -1;
    }
    return rc;
}

void
px_conn_print_error(const char *what, const struct px_api_response *res)
{
    char msg[PX_API_MAX_ERROR * 4 + 4];

    if (res->error.len > 0) {
        px_term_escape(res->error.p, res->error.len, msg, sizeof(msg));
    } else {
        snprintf(msg, sizeof(msg), "%s", px_strerror(res->code));
    }
    if (res->code == 0) {
        px_cli_error("%s: %s", what, msg);
    } else {
        px_cli_error("%s: %s (%s)", what, msg, px_err_name(res->code));
    }
}
