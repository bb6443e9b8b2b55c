/* SPDX-License-Identifier: MIT */
/* bench_praxisd.c - a praxisd child process and a local API client; see bench_praxisd.h. */
#include "bench_praxisd.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "protocol/err.h"

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0) {
        fprintf(stderr, "praxis-bench: cannot remove %s\n", path);
    }
    return 0;
}

int
bench_workdir_make(char *dir, size_t cap)
{
    const char *tmp = getenv("TMPDIR");

    if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 60) {
        tmp = "/tmp"; /* the socket paths must fit in sun_path */
    }
    snprintf(dir, cap, "%s/praxis-bench.XXXXXX", tmp);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "praxis-bench: mkdtemp %s failed\n", dir);
        return -1;
    }
    return 0;
}

void
bench_workdir_done(const char *dir)
{
    if (getenv("PRAXIS_BENCH_KEEP") != NULL) {
        fprintf(stderr, "praxis-bench: PRAXIS_BENCH_KEEP is set: keeping %s\n", dir);
    } else {
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/* How long the daemon may take to start, to stop, and to answer any one read or write. */
#define START_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS  10000
#define IO_TIMEOUT_MS    120000
/* The descriptor number the ready pipe gets in the child. */
#define READY_FD 3

struct bench_praxisd {
    pid_t pid;
    char data[4096];
    char sock[4096];
    char store[4096];
    char log[4096];
    /* Copies of the option strings, for argv. */
    char config[4096];
    char listen[128];
    char level[16];
};

struct bench_conn {
    int fd;
    uint64_t seq;
    uint8_t *buf; /* received bytes: [start, start + len) are not consumed yet */
    size_t start, len, cap;
    struct px_api_response res;
};

/* Prints the end of the daemon's log, where its reason for failing is. */
static void
print_log(const struct bench_praxisd *d)
{
    char buf[4096];
    FILE *f = fopen(d->log, "r");
    size_t n;

    if (f == NULL) {
        return;
    }
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long)sizeof(buf) - 1) {
        fseek(f, -(long)(sizeof(buf) - 1), SEEK_END);
    } else {
        fseek(f, 0, SEEK_SET);
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    if (n > 0) {
        fprintf(stderr, "praxis-bench: praxisd's log (%s) ends with:\n%s", d->log, buf);
    }
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Waits up to timeout_ms for the child to exit; true when it did (*status set). */
static bool
wait_exit(pid_t pid, unsigned timeout_ms, int *status)
{
    for (unsigned waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, status, WNOHANG);

        if (r == pid || (r < 0 && errno != EINTR)) {
            return true;
        }
        if (waited >= timeout_ms) {
            return false;
        }
        sleep_ms(10);
    }
}

/* The child's side of the fork: only async-signal-safe calls until exec. */
static void
exec_child(const char *exe, char *const argv[], const char *log, int ready)
{
    int null = open("/dev/null", O_RDONLY);
    int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (null < 0 || out < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
        _exit(126);
    }
    if (ready == READY_FD) {
        /* dup2 onto itself would keep close-on-exec. */
        if (fcntl(ready, F_SETFD, 0) != 0) {
            _exit(126);
        }
    } else if (dup2(ready, READY_FD) < 0) {
        _exit(126);
    }
    execv(exe, argv);
    _exit(127);
}

struct bench_praxisd *
bench_praxisd_start(const char *exe, const char *dir)
{
    static const struct bench_praxisd_opts none = {NULL, NULL, NULL};

    return bench_praxisd_start_opts(exe, dir, &none);
}

struct bench_praxisd *
bench_praxisd_start_opts(const char *exe, const char *dir, const struct bench_praxisd_opts *opts)
{
    struct bench_praxisd *d = calloc(1, sizeof(*d));
    char ready_arg[16], line[16];
    char *argv[20];
    struct pollfd pfd;
    int fds[2] = {-1, -1}, argc = 0, status;
    ssize_t got = 0;

    if (d == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return NULL;
    }
    d->pid = -1;
    if ((size_t)snprintf(d->data, sizeof(d->data), "%s/data", dir) >= sizeof(d->data) ||
        (size_t)snprintf(d->sock, sizeof(d->sock), "%s/praxis.sock", dir) >=
            sizeof(((struct sockaddr_un *)NULL)->sun_path) ||
        (size_t)snprintf(d->store, sizeof(d->store), "%s/store.db", d->data) >= sizeof(d->store) ||
        (size_t)snprintf(d->log, sizeof(d->log), "%s/praxisd.log", dir) >= sizeof(d->log)) {
        fprintf(stderr, "praxis-bench: the temporary directory path is too long: %s\n", dir);
        goto fail;
    }
    if ((size_t)snprintf(d->config, sizeof(d->config), "%s",
                         opts->config != NULL ? opts->config : "") >= sizeof(d->config) ||
        (size_t)snprintf(d->listen, sizeof(d->listen), "%s",
                         opts->listen != NULL ? opts->listen : "") >= sizeof(d->listen) ||
        (size_t)snprintf(d->level, sizeof(d->level), "%s",
                         opts->log_level != NULL ? opts->log_level : "warn") >= sizeof(d->level)) {
        fprintf(stderr, "praxis-bench: a praxisd option is too long\n");
        goto fail;
    }
    if (access(exe, X_OK) != 0) {
        fprintf(stderr, "praxis-bench: %s: %s (build the praxisd target)\n", exe, strerror(errno));
        goto fail;
    }
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, "praxis-bench: pipe: %s\n", strerror(errno));
        goto fail;
    }
    snprintf(ready_arg, sizeof(ready_arg), "%d", READY_FD);
    argv[argc++] = (char *)"praxisd";
    argv[argc++] = (char *)"--data-dir";
    argv[argc++] = d->data;
    argv[argc++] = (char *)"--socket";
    argv[argc++] = d->sock;
    argv[argc++] = (char *)"--log-level";
    argv[argc++] = d->level;
    argv[argc++] = (char *)"--ready-fd";
    argv[argc++] = ready_arg;
    if (opts->config != NULL) {
        argv[argc++] = (char *)"--config";
        argv[argc++] = d->config;
    }
    /* Without a config file, no peer links: the bench measures one node, and must not
     * collide on the default port with another praxisd on the machine. */
    if (opts->listen != NULL || opts->config == NULL) {
        argv[argc++] = (char *)"--listen";
        argv[argc++] = d->listen;
    }
    argv[argc] = NULL;
    fflush(NULL);
    if ((d->pid = fork()) < 0) {
        fprintf(stderr, "praxis-bench: fork: %s\n", strerror(errno));
        goto fail;
    }
    if (d->pid == 0) {
        exec_child(exe, argv, d->log, fds[1]);
    }
    close(fds[1]);
    fds[1] = -1;
    pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
    while (got < 6) {
        int r = poll(&pfd, 1, START_TIMEOUT_MS);
        ssize_t n;

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            fprintf(stderr, "praxis-bench: praxisd was not ready within %d ms\n", START_TIMEOUT_MS);
            goto fail;
        }
        if ((n = read(fds[0], line + got, sizeof(line) - 1 - (size_t)got)) <= 0) {
            fprintf(stderr, "praxis-bench: praxisd exited before it was ready\n");
            goto fail;
        }
        got += n;
    }
    if (memcmp(line, "ready\n", 6) != 0) {
        fprintf(stderr, "praxis-bench: praxisd wrote something else than \"ready\"\n");
        goto fail;
    }
    close(fds[0]);
    return d;
fail:
    if (fds[0] >= 0) {
        close(fds[0]);
    }
    if (fds[1] >= 0) {
        close(fds[1]);
    }
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &status, 0);
        print_log(d);
    }
    free(d);
    return NULL;
}

int
bench_praxisd_pid(const struct bench_praxisd *d)
{
    return (int)d->pid;
}

const char *
bench_praxisd_store_path(const struct bench_praxisd *d)
{
    return d->store;
}

uint64_t
bench_praxisd_peak_rss(const struct bench_praxisd *d)
{
    char path[64], line[256];
    unsigned long long kib = 0;
    bool found = false;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)d->pid);
    if ((f = fopen(path, "r")) == NULL) {
        fprintf(stderr, "praxis-bench: %s: %s\n", path, strerror(errno));
        return 0;
    }
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        found = sscanf(line, "VmHWM: %llu kB", &kib) == 1;
    }
    fclose(f);
    if (!found) {
        fprintf(stderr, "praxis-bench: no VmHWM line in %s\n", path);
        return 0;
    }
    return (uint64_t)kib * 1024;
}

double
bench_praxisd_cpu_seconds(const struct bench_praxisd *d)
{
    char path[64], buf[1024], *p;
    unsigned long long utime, stime;
    long hz = sysconf(_SC_CLK_TCK);
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)d->pid);
    if ((f = fopen(path, "r")) == NULL) {
        fprintf(stderr, "praxis-bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: the fields start after the last ')'.
     * utime and stime are fields 14 and 15, the 12th and 13th after it. */
    if ((p = strrchr(buf, ')')) == NULL || hz <= 0 ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
            2) {
        fprintf(stderr, "praxis-bench: cannot parse %s\n", path);
        return -1;
    }
    return (double)(utime + stime) / (double)hz;
}

int
bench_praxisd_stop(struct bench_praxisd *d)
{
    int status = 0, rc = 0;

    if (d == NULL) {
        return 0;
    }
    if (kill(d->pid, SIGTERM) != 0) {
        fprintf(stderr, "praxis-bench: kill praxisd: %s\n", strerror(errno));
    }
    if (!wait_exit(d->pid, STOP_TIMEOUT_MS, &status)) {
        fprintf(stderr, "praxis-bench: praxisd did not stop within %d ms of SIGTERM; killing it\n",
                STOP_TIMEOUT_MS);
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &status, 0);
        rc = -1;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "praxis-bench: praxisd ended badly (status 0x%x)\n", (unsigned)status);
        rc = -1;
    }
    if (rc != 0) {
        print_log(d);
    }
    free(d);
    return rc;
}

/* ---- The client ---- */

struct bench_conn *
bench_conn_open(const struct bench_praxisd *d)
{
    struct bench_conn *c = calloc(1, sizeof(*c));
    struct sockaddr_un sa;

    if (c == NULL || (c->buf = malloc(1u << 16)) == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        free(c);
        return NULL;
    }
    c->cap = 1u << 16;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, d->sock, strlen(d->sock));
    if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "praxis-bench: connect %s: %s\n", d->sock, strerror(errno));
        if (c->fd >= 0) {
            close(c->fd);
        }
        free(c->buf);
        free(c);
        return NULL;
    }
    return c;
}

void
bench_conn_close(struct bench_conn *c)
{
    if (c == NULL) {
        return;
    }
    close(c->fd);
    free(c->buf);
    free(c);
}

/* Waits for the socket to become readable or writable; -1 on timeout or error. */
static int
wait_fd(int fd, short events)
{
    struct pollfd pfd = {.fd = fd, .events = events};

    for (;;) {
        int r = poll(&pfd, 1, IO_TIMEOUT_MS);

        if (r > 0) {
            return 0;
        }
        if (r == 0) {
            fprintf(stderr, "praxis-bench: no progress on the API socket for %d ms\n",
                    IO_TIMEOUT_MS);
            return -1;
        }
        if (errno != EINTR) {
            fprintf(stderr, "praxis-bench: poll: %s\n", strerror(errno));
            return -1;
        }
    }
}

int
bench_conn_send(struct bench_conn *c, struct px_api_request *req)
{
    uint8_t *frame;
    size_t len, off = 0;
    int rc;

    req->seq = ++c->seq;
    if ((rc = px_api_request_encode(req, &frame, &len)) != 0) {
        fprintf(stderr, "praxis-bench: encoding a %s request: %s\n", px_api_op_name(req->op),
                px_strerror(rc));
        return -1;
    }
    while (off < len) {
        ssize_t n = send(c->fd, frame + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(c->fd, POLLOUT) != 0) {
                break;
            }
        } else if (n < 0 && errno != EINTR) {
            fprintf(stderr, "praxis-bench: send to praxisd: %s\n", strerror(errno));
            break;
        }
    }
    free(frame);
    return off == len ? 0 : -1;
}

/* Makes sure want bytes are buffered from c->start on. */
static int
fill(struct bench_conn *c, size_t want)
{
    if (c->len == 0) {
        c->start = 0;
    }
    if (c->start + want > c->cap) {
        /* Move the unconsumed bytes to the front, and grow when a frame needs it. */
        memmove(c->buf, c->buf + c->start, c->len);
        c->start = 0;
        if (want > c->cap) {
            uint8_t *p = realloc(c->buf, want);

            if (p == NULL) {
                fprintf(stderr, "praxis-bench: out of memory\n");
                return -1;
            }
            c->buf = p;
            c->cap = want;
        }
    }
    while (c->len < want) {
        size_t at = c->start + c->len;
        ssize_t n = recv(c->fd, c->buf + at, c->cap - at, MSG_DONTWAIT);

        if (n > 0) {
            c->len += (size_t)n;
        } else if (n == 0) {
            fprintf(stderr, "praxis-bench: praxisd closed the connection\n");
            return -1;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait_fd(c->fd, POLLIN) != 0) {
                return -1;
            }
        } else if (errno != EINTR) {
            fprintf(stderr, "praxis-bench: recv from praxisd: %s\n", strerror(errno));
            return -1;
        }
    }
    return 0;
}

int
bench_conn_recv(struct bench_conn *c, const struct px_api_response **res)
{
    uint32_t len;
    int rc;

    if (fill(c, 4) != 0) {
        return -1;
    }
    if ((rc = px_api_frame_len(c->buf + c->start, &len)) != 0) {
        fprintf(stderr, "praxis-bench: bad frame header from praxisd: %s\n", px_strerror(rc));
        return -1;
    }
    if (fill(c, 4 + (size_t)len) != 0) {
        return -1;
    }
    if ((rc = px_api_response_decode(c->buf + c->start + 4, len, &c->res)) != 0) {
        fprintf(stderr, "praxis-bench: a response from praxisd does not decode: %s\n",
                px_strerror(rc));
        return -1;
    }
    c->start += 4 + (size_t)len;
    c->len -= 4 + (size_t)len;
    *res = &c->res;
    return 0;
}

int
bench_conn_fd(const struct bench_conn *c)
{
    return c->fd;
}

bool
bench_conn_has_frame(const struct bench_conn *c)
{
    uint32_t len;

    return c->len >= 4 && px_api_frame_len(c->buf + c->start, &len) == 0 &&
           c->len - 4 >= (size_t)len;
}

int
bench_conn_call(struct bench_conn *c, enum px_api_op op, const struct px_api_response **res)
{
    struct px_api_request *req = calloc(1, sizeof(*req));
    int rc = -1;

    if (req == NULL) {
        fprintf(stderr, "praxis-bench: out of memory\n");
        return -1;
    }
    req->op = op;
    if (bench_conn_send(c, req) != 0 || bench_conn_recv(c, res) != 0) {
        goto out;
    }
    if ((*res)->seq != req->seq || (*res)->code != 0) {
        fprintf(stderr, "praxis-bench: %s: seq %llu (sent %llu), code %s: %.*s\n",
                px_api_op_name(op), (unsigned long long)(*res)->seq, (unsigned long long)req->seq,
                px_err_name((*res)->code), (int)(*res)->error.len, (*res)->error.p);
        goto out;
    }
    rc = 0;
out:
    free(req);
    return rc;
}
