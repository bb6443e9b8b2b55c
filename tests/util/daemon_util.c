/* SPDX-License-Identifier: MIT */
/* daemon_util.c - see daemon_util.h. */
#include "daemon_util.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "store.h"
#include "util/ports.h"

#define MAX_ARGS 64

extern char **environ;

int64_t
px_testd_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
pidfd_of(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);

    cr_assert_geq(fd, 0, "pidfd_open: %s", strerror(errno));
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

/* Waits until the pidfd is readable (the process exited), at most timeout_ms. */
static bool
wait_exit(int pidfd, int timeout_ms)
{
    int64_t deadline = px_testd_now_ms() + timeout_ms;

    for (;;) {
        struct pollfd p = {pidfd, POLLIN, 0};
        int64_t left = deadline - px_testd_now_ms();
        int n;

        if (left < 0) {
            left = 0;
        }
        n = poll(&p, 1, (int)left);
        if (n > 0) {
            return true;
        }
        if (n == 0) {
            return false;
        }
        if (errno != EINTR) {
            return false;
        }
    }
}

/* Reaps an exited (or killed) child: exit code, or 128 + signal. */
static int
reap(pid_t pid)
{
    int st;

    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return -2;
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

char *
px_testd_log(const struct px_testd *d)
{
    char *text = d->log != NULL ? (char *)px_test_read_file(d->log, NULL) : NULL;

    return text != NULL ? text : strdup("(no log)");
}

char *
px_testd_log_tail(const struct px_testd *d)
{
    char *log = px_testd_log(d);
    size_t n = strlen(log);

    if (n > 6000) {
        memmove(log, log + n - 6000, 6001);
    }
    return log;
}

/*
 * The daemons this process started and has not reaped. A test that fails an assertion while
 * nodes on its stack still run never stops them itself; Criterion then ends the test's
 * process with exit(), and this kills what is left, so that no praxisd outlives its test.
 */
#define MAX_LIVE 256

static pid_t live[MAX_LIVE];
static pid_t live_owner; /* the process that registered live_kill_all */

static void
live_kill_all(void)
{
    if (getpid() != live_owner) {
        return; /* a forked child that exited without exec: not its daemons */
    }
    for (size_t i = 0; i < MAX_LIVE; i++) {
        if (live[i] > 0) {
            kill(live[i], SIGKILL);
            while (waitpid(live[i], NULL, 0) < 0 && errno == EINTR) {
            }
            live[i] = 0;
        }
    }
}

static void
live_add(pid_t pid)
{
    static bool registered;

    if (!registered) {
        live_owner = getpid();
        cr_assert_eq(atexit(live_kill_all), 0);
        registered = true;
    }
    for (size_t i = 0; i < MAX_LIVE; i++) {
        if (live[i] == 0) {
            live[i] = pid;
            return;
        }
    }
    cr_assert_fail("more than %d praxisd running at once", MAX_LIVE);
}

static void
live_remove(pid_t pid)
{
    for (size_t i = 0; i < MAX_LIVE; i++) {
        if (live[i] == pid) {
            live[i] = 0;
        }
    }
}

void
px_testd_restart(struct px_testd *d)
{
    char *bin = px_test_bin("praxisd");
    char fdarg[16], line[16];
    int ready[2], logfd;
    int64_t deadline;
    size_t got = 0;
    pid_t pid;

    cr_assert_eq(d->pid, 0, "praxisd is already running");
    cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
    logfd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    cr_assert_geq(logfd, 0, "cannot open %s: %s", d->log, strerror(errno));
    pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);

        dup2(devnull, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        /* The ready pipe is the one descriptor praxisd inherits on purpose. */
        fcntl(ready[1], F_SETFD, 0);
        snprintf(fdarg, sizeof(fdarg), "%d", ready[1]);
        if (d->conf != NULL) {
            execl(bin, bin, "-c", d->conf, "--data-dir", d->dir, "--log-level", d->level,
                  "--listen", d->listen, "--ready-fd", fdarg, (char *)NULL);
        } else {
            execl(bin, bin, "--data-dir", d->dir, "--log-level", d->level, "--listen", d->listen,
                  "--ready-fd", fdarg, (char *)NULL);
        }
        _exit(127);
    }
    close(ready[1]);
    close(logfd);
    free(bin);
    d->pid = pid;
    d->pidfd = pidfd_of(pid);
    live_add(pid);
    /* Wait for "ready\n", or for the pipe to close because praxisd died. */
    deadline = px_testd_now_ms() + PX_TESTD_START_MS;
    while (got < 6) {
        struct pollfd p = {ready[0], POLLIN, 0};
        int64_t left = deadline - px_testd_now_ms();
        ssize_t n;

        if (left <= 0 || poll(&p, 1, (int)left) == 0) {
            char *log = px_testd_log(d);

            close(ready[0]);
            px_testd_kill9(d);
            cr_assert_fail("praxisd did not become ready in %d ms; its log:\n%s", PX_TESTD_START_MS,
                           log);
        }
        n = read(ready[0], line + got, sizeof(line) - 1 - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            char *log = px_testd_log(d);
            int st;

            close(ready[0]);
            wait_exit(d->pidfd, PX_TESTD_STOP_MS);
            st = reap(d->pid);
            live_remove(d->pid);
            close(d->pidfd);
            d->pid = 0;
            cr_assert_fail("praxisd exited (status %d) before it was ready; its log:\n%s", st, log);
        }
        got += (size_t)n;
    }
    close(ready[0]);
    line[got] = '\0';
    cr_assert_str_eq(line, "ready\n");
}

void
px_testd_start_opts(struct px_testd *d, const char *dir, const struct px_testd_options *opt)
{
    memset(d, 0, sizeof(*d));
    d->pidfd = -1;
    cr_assert(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", dir, strerror(errno));
    d->dir = strdup(dir);
    cr_assert(asprintf(&d->sock, "%s/praxis.sock", dir) > 0);
    if (opt != NULL && opt->log_path != NULL) {
        d->log = strdup(opt->log_path);
        cr_assert_not_null(d->log);
    } else {
        cr_assert(asprintf(&d->log, "%s/praxisd.log", dir) > 0);
    }
    cr_assert_lt(strlen(d->sock), 100, "socket path too long: %s", d->sock);
    d->listen = strdup(opt != NULL && opt->listen != NULL ? opt->listen : "");
    d->level = strdup(opt != NULL && opt->log_level != NULL ? opt->log_level : "info");
    cr_assert(d->dir != NULL && d->listen != NULL && d->level != NULL);
    if (opt != NULL && opt->config != NULL) {
        cr_assert(asprintf(&d->conf, "%s/praxisd.conf", dir) > 0);
        cr_assert_eq(px_test_write_file(d->conf, opt->config, strlen(opt->config)), 0,
                     "cannot write %s", d->conf);
    }
    px_testd_restart(d);
}

void
px_testd_start(struct px_testd *d, const char *dir)
{
    px_testd_start_opts(d, dir, NULL);
}

uint16_t
px_test_free_port(void)
{
    uint16_t port = px_ports_kernel();

    cr_assert_neq(port, 0, "no loopback port from the kernel: %s", strerror(errno));
    return port;
}

uint16_t
px_test_listen_port(void)
{
    static uint16_t given[64];
    static size_t n_given;
    uint16_t port =
        px_ports_below_ephemeral(given, &n_given, sizeof(given) / sizeof(given[0]), 200);

    return port != 0 ? port : px_test_free_port();
}

int
px_testd_stop(struct px_testd *d)
{
    int st;

    if (d->pid == 0) {
        return 0;
    }
    kill(d->pid, SIGTERM);
    if (!wait_exit(d->pidfd, PX_TESTD_STOP_MS)) {
        kill(d->pid, SIGKILL);
        reap(d->pid);
        st = -1;
    } else {
        st = reap(d->pid);
    }
    live_remove(d->pid);
    close(d->pidfd);
    d->pidfd = -1;
    d->pid = 0;
    return st;
}

void
px_testd_kill9(struct px_testd *d)
{
    if (d->pid == 0) {
        return;
    }
    kill(d->pid, SIGKILL);
    wait_exit(d->pidfd, PX_TESTD_STOP_MS);
    reap(d->pid);
    live_remove(d->pid);
    close(d->pidfd);
    d->pidfd = -1;
    d->pid = 0;
}

bool
px_testd_running(const struct px_testd *d)
{
    struct pollfd p = {d->pidfd, POLLIN, 0};

    if (d->pid == 0) {
        return false;
    }
    /* The pidfd becomes readable when the process exits. */
    return poll(&p, 1, 0) == 0;
}

uint64_t
px_testd_check_store(const struct px_testd *d)
{
    struct px_store *s = NULL;
    struct px_store_stats st;
    char *path, err[256] = "";
    int rc;

    cr_assert_eq(d->pid, 0, "praxisd still runs on %s", d->dir);
    cr_assert(asprintf(&path, "%s/store.db", d->dir) > 0);
    rc = px_store_open(path, &s, err, sizeof(err));
    cr_assert_eq(rc, 0, "cannot open %s (%d): %s", path, rc, err);
    cr_assert_eq(px_store_check(s), 0, "%s: PRAGMA integrity_check failed", path);
    cr_assert_eq(px_store_stats(s, &st), 0, "%s: cannot count its records", path);
    px_store_close(s);
    free(path);
    return st.records;
}

void
px_testd_free(struct px_testd *d)
{
    if (d->pid != 0) {
        px_testd_stop(d);
    }
    free(d->dir);
    free(d->sock);
    free(d->log);
    free(d->listen);
    free(d->conf);
    free(d->level);
    memset(d, 0, sizeof(*d));
}

void
px_testd_praxis(const struct px_testd *d, struct px_run *r, const void *in, size_t in_len, ...)
{
    char *argv[MAX_ARGS + 4];
    char *bin = px_test_bin("praxis");
    va_list ap;
    int n = 0;

    argv[n++] = bin;
    argv[n++] = "--socket";
    argv[n++] = d->sock;
    va_start(ap, in_len);
    for (char *a = va_arg(ap, char *); a != NULL; a = va_arg(ap, char *)) {
        cr_assert_lt(n, MAX_ARGS, "too many arguments");
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    cr_assert_eq(px_test_run(argv, in, in_len, NULL, PX_TESTD_RUN_MS, r), 0, "cannot run %s", bin);
    cr_assert_neq(r->status, -1, "praxis %s timed out", argv[3]);
    free(bin);
}

uint64_t
px_testd_records(const struct px_testd *d)
{
    struct px_run r;
    json_error_t jerr;
    json_t *o;
    uint64_t n;

    px_testd_praxis(d, &r, NULL, 0, "status", "--json", NULL);
    cr_assert_eq(r.status, 0, "status failed: %s", r.err);
    o = json_loads(r.out, 0, &jerr);
    cr_assert_not_null(o, "status --json is not JSON: %s", r.out);
    cr_assert(json_is_integer(json_object_get(o, "records")), "no records in %s", r.out);
    n = (uint64_t)json_integer_value(json_object_get(o, "records"));
    json_decref(o);
    px_run_free(&r);
    return n;
}

void
px_testd_poll_pause(void)
{
    struct timespec ts = {0, PX_TESTD_POLL_MS * 1000 * 1000};

    nanosleep(&ts, NULL);
}

bool
px_testd_log_has(const struct px_testd *d, const char *needle)
{
    char *log = px_testd_log(d);
    bool found = strstr(log, needle) != NULL;

    free(log);
    return found;
}

/*
 * Counts the lines of d's log that hold t1, and t2 and t3 where they are not NULL; when
 * first is not NULL, stops at the first such line and sets *first to a copy of it
 * (malloc'd; left NULL when there is none).
 */
static int
log_match(const struct px_testd *d, const char *t1, const char *t2, const char *t3, char **first)
{
    char *log = px_testd_log(d), *line, *save = NULL;
    int count = 0;

    for (line = strtok_r(log, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strstr(line, t1) == NULL || (t2 != NULL && strstr(line, t2) == NULL) ||
            (t3 != NULL && strstr(line, t3) == NULL)) {
            continue;
        }
        count++;
        if (first != NULL) {
            cr_assert_not_null(*first = strdup(line));
            break;
        }
    }
    free(log);
    return count;
}

int
px_testd_log_count(const struct px_testd *d, const char *t1, const char *t2, const char *t3)
{
    return log_match(d, t1, t2, t3, NULL);
}

char *
px_testd_log_line(const struct px_testd *d, const char *t1, const char *t2)
{
    char *line = NULL;

    log_match(d, t1, t2, NULL, &line);
    return line;
}

json_t *
px_testd_query_ids(const struct px_testd *d, const char *a1, const char *a2)
{
    struct px_run r;
    json_t *set = json_object();
    char *line, *save = NULL;

    cr_assert_not_null(set);
    px_testd_praxis(d, &r, NULL, 0, "query", "--json", "--limit", "0", a1, a2, NULL);
    cr_assert_eq(r.status, 0, "query --limit 0 %s %s on %s: %s", a1 != NULL ? a1 : "",
                 a1 != NULL && a2 != NULL ? a2 : "", d->dir, r.err);
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        const char *id;

        cr_assert_not_null(o, "query on %s: a line is not JSON: %s", d->dir, line);
        id = json_string_value(json_object_get(o, "id"));
        cr_assert(id != NULL && strlen(id) == 64, "query on %s: a line without an id: %s", d->dir,
                  line);
        json_object_set_new(set, id, json_true());
        json_decref(o);
    }
    px_run_free(&r);
    return set;
}

int
px_testd_count_peers(const struct px_testd *d, const char *key, const char *state)
{
    struct px_run r;
    int count = 0;
    char *line, *save = NULL;

    px_testd_praxis(d, &r, NULL, 0, "peers", "--json", NULL);
    cr_assert_eq(r.status, 0, "peers: %s", r.err);
    for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        const char *k, *s;

        cr_assert_not_null(o, "not JSON: %s", line);
        k = json_string_value(json_object_get(o, "public_key"));
        s = json_string_value(json_object_get(o, "state"));
        if ((key == NULL || (k != NULL && strcmp(k, key) == 0)) &&
            (state == NULL || (s != NULL && strcmp(s, state) == 0))) {
            count++;
        }
        json_decref(o);
    }
    px_run_free(&r);
    return count;
}

int
px_testd_connect(const struct px_testd *d)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert_geq(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, d->sock, strlen(d->sock));
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect %s: %s", d->sock,
                 strerror(errno));
    return fd;
}

/* Reads exactly n bytes by the deadline: 0, 1 at EOF before any byte, -1 otherwise. */
static int
read_full(int fd, uint8_t *p, size_t n, int64_t deadline)
{
    size_t got = 0;

    while (got < n) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int64_t left = deadline - px_testd_now_ms();
        ssize_t r;

        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
            return -1;
        }
        r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && errno == ECONNRESET && got == 0) {
            return 1;
        }
        if (r <= 0) {
            return r == 0 && got == 0 ? 1 : -1;
        }
        got += (size_t)r;
    }
    return 0;
}

int
px_testd_read_frame(int fd, size_t max, uint8_t **body, size_t *len, int timeout_ms)
{
    int64_t deadline = px_testd_now_ms() + timeout_ms;
    uint8_t hdr[4];
    uint32_t n;
    int rc;

    *body = NULL;
    *len = 0;
    if ((rc = read_full(fd, hdr, 4, deadline)) != 0) {
        return rc;
    }
    n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (n == 0 || n > max) {
        return -1;
    }
    *body = malloc(n);
    cr_assert_not_null(*body);
    if (read_full(fd, *body, n, deadline) != 0) {
        free(*body);
        *body = NULL;
        return -1;
    }
    *len = n;
    return 0;
}

/* ---- Children ---- */

void
px_child_spawn(struct px_child *c, char *const argv[], const char *err_path,
               char *const envp_extra[])
{
    int out[2], errfd;
    pid_t pid;

    memset(c, 0, sizeof(*c));
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    errfd = open(err_path != NULL ? err_path : "/dev/null",
                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    cr_assert_geq(errfd, 0);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);

        dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(errfd, 2);
        for (size_t i = 0; envp_extra != NULL && envp_extra[i] != NULL; i++) {
            putenv(envp_extra[i]);
        }
        execve(argv[0], argv, environ);
        _exit(127);
    }
    close(out[1]);
    close(errfd);
    c->pid = pid;
    c->pidfd = pidfd_of(pid);
    c->out = out[0];
    c->status = -2;
}

/* Reads what is available (one read) into the buffer. 1 data, 0 EOF, -1 error. */
static int
child_read(struct px_child *c)
{
    ssize_t n;

    if (c->cap - c->len < 4096) {
        size_t ncap = c->cap == 0 ? 65536 : c->cap * 2;
        char *p = realloc(c->buf, ncap + 1);

        cr_assert_not_null(p);
        c->buf = p;
        c->cap = ncap;
    }
    do {
        n = read(c->out, c->buf + c->len, c->cap - c->len);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        close(c->out);
        c->out = -1;
        c->buf[c->len] = '\0';
        return n == 0 ? 0 : -1;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return 1;
}

char *
px_child_read_line(struct px_child *c, int timeout_ms)
{
    int64_t deadline = px_testd_now_ms() + timeout_ms;

    for (;;) {
        char *nl = c->buf != NULL ? memchr(c->buf, '\n', c->len) : NULL;
        struct pollfd p;
        int64_t left;

        if (nl != NULL) {
            size_t n = (size_t)(nl - c->buf);
            char *line = strndup(c->buf, n);

            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            c->buf[c->len] = '\0';
            return line;
        }
        if (c->out < 0) {
            return NULL;
        }
        left = deadline - px_testd_now_ms();
        p = (struct pollfd){c->out, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            return NULL;
        }
        child_read(c);
    }
}

int
px_child_finish(struct px_child *cs, size_t n, int timeout_ms)
{
    int64_t deadline = px_testd_now_ms() + timeout_ms;
    int rc = 0;

    for (;;) {
        struct pollfd p[16];
        size_t idx[16], k = 0;
        int64_t left = deadline - px_testd_now_ms();

        cr_assert_leq(n, 16);
        for (size_t i = 0; i < n; i++) {
            if (cs[i].out >= 0) {
                p[k] = (struct pollfd){cs[i].out, POLLIN, 0};
                idx[k++] = i;
            }
        }
        if (k == 0) {
            break;
        }
        if (left <= 0 || poll(p, k, (int)left) <= 0) {
            rc = -1;
            break;
        }
        for (size_t j = 0; j < k; j++) {
            if (p[j].revents != 0) {
                child_read(&cs[idx[j]]);
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        int64_t left = deadline - px_testd_now_ms();

        if (cs[i].pid == 0) {
            continue;
        }
        if (cs[i].out >= 0) {
            close(cs[i].out);
            cs[i].out = -1;
        }
        if (!wait_exit(cs[i].pidfd, left > 0 ? (int)left : 0)) {
            kill(cs[i].pid, SIGKILL);
            reap(cs[i].pid);
            cs[i].status = -1;
            rc = -1;
        } else {
            cs[i].status = reap(cs[i].pid);
        }
        close(cs[i].pidfd);
        cs[i].pidfd = -1;
        cs[i].pid = 0;
    }
    return rc;
}

void
px_child_signal(struct px_child *c, int sig)
{
    if (c->pid != 0) {
        kill(c->pid, sig);
    }
}

void
px_child_free(struct px_child *c)
{
    if (c->pid != 0) {
        kill(c->pid, SIGKILL);
        px_child_finish(c, 1, PX_TESTD_STOP_MS);
    }
    /* 0 is never one of our pipes (stdin stays open), and a zeroed struct holds 0. */
    if (c->out > 0) {
        close(c->out);
    }
    free(c->buf);
    memset(c, 0, sizeof(*c));
    c->out = -1;
}
