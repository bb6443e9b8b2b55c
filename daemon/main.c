/* SPDX-License-Identifier: MIT */
/*
 * main.c - praxisd: arguments, configuration, the data directory, the identity, the
 * store and the local API on one libuv loop; signals; an orderly shutdown.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "common/identity.h"
#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "db.h"
#include "gossip.h"
#include "log.h"
#include "peer.h"
#include "protocol/buf.h"
#include "protocol/err.h"

#ifndef PX_VERSION
#define PX_VERSION "0.0.0"
#endif

/* Reader connections: queries run in parallel with each other and with the writer. */
#define READERS 2

struct app {
    struct px_daemon d;
    struct px_config *cfg;
    uv_signal_t sigint, sigterm;
    int lock_fd;
    bool stopping;
    uint8_t (*authors)[PX_SIGN_PUBLICKEYBYTES];
};

static void
usage(FILE *f)
{
    fprintf(f, "usage: praxisd [-c FILE] [--data-dir DIR] [--socket PATH] [--log-level LEVEL]\n"
               "               [--listen ADDR] [--check-config] [-h] [-V]\n"
               "\n"
               "  -c, --config FILE     read the configuration from FILE (see "
               "config/praxisd.conf)\n"
               "  -d, --data-dir DIR    keep the identity, store and socket in DIR\n"
               "  -s, --socket PATH     the local API socket (default DIR/praxis.sock)\n"
               "  -l, --log-level LEVEL debug, info, warn or error\n"
               "  -L, --listen ADDR     peer address to listen on (IPv4:PORT or [IPv6]:PORT);\n"
               "                        an empty ADDR listens nowhere (overrides network.listen)\n"
               "  -n, --check-config    check the configuration, print the result and exit\n"
               "      --ready-fd FD     write \"ready\\n\" to file descriptor FD once serving\n"
               "  -h, --help            this help\n"
               "  -V, --version         the version\n");
}

static int
compare_keys(const void *a, const void *b)
{
    return memcmp(a, b, PX_SIGN_PUBLICKEYBYTES);
}

static void
on_commit(void *arg, int64_t max_rowid)
{
    struct app *app = arg;

    if (max_rowid > app->d.max_rowid) {
        app->d.max_rowid = max_rowid;
    }
    if (app->d.ctl != NULL) {
        px_ctl_notify_commit(app->d.ctl, max_rowid);
    }
}

static void
on_signal_close(uv_handle_t *h)
{
    (void)h;
}

static void
db_closed(void *arg)
{
    struct app *app = arg;

    app->d.db = NULL;
    /* No store job is left to call back into replication. */
    px_gossip_free(app->d.gossip);
    app->d.gossip = NULL;
    uv_close((uv_handle_t *)&app->sigint, on_signal_close);
    uv_close((uv_handle_t *)&app->sigterm, on_signal_close);
}

static void
peers_closed(void *arg)
{
    struct app *app = arg;

    app->d.peers = NULL;
    px_gossip_stop(app->d.gossip);
    /* Writes already queued finish (and are acknowledged to nobody, but durable). */
    px_db_close(app->d.db, db_closed, app);
}

static void
ctl_closed(void *arg)
{
    struct app *app = arg;

    app->d.ctl = NULL;
    /* Every established peer gets a bye before its connection closes. */
    px_peer_close(app->d.peers, peers_closed, app);
}

static void
on_signal(uv_signal_t *h, int signum)
{
    struct app *app = h->data;

    if (app->stopping) {
        px_log_info("signal %d again: still shutting down", signum);
        return;
    }
    app->stopping = true;
    px_log_info("signal %d: shutting down", signum);
    px_ctl_close(app->d.ctl, ctl_closed, app);
}

/* Makes the data directory (0700) if needed and locks it against a second daemon. */
static void
prepare_data_dir(struct app *app, const char *dir)
{
    char path[PX_CONFIG_MAX_PATH + 32];
    struct stat st;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        px_fatal("cannot create the data directory %s", dir);
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        px_fatalx("the data directory %s is not a directory", dir);
    }
    snprintf(path, sizeof(path), "%s/praxisd.lock", dir);
    app->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (app->lock_fd < 0) {
        px_fatal("cannot open %s", path);
    }
    if (flock(app->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        px_fatalx("another praxisd is using the data directory %s", dir);
    }
}

static void
load_identity(struct app *app, const char *dir)
{
    char path[PX_CONFIG_MAX_PATH + 32];
    char hex[2 * PX_SIGN_PUBLICKEYBYTES + 1];
    int rc;

    snprintf(path, sizeof(path), "%s/identity", dir);
    rc = px_identity_load(path, &app->d.identity);
    if (rc == PX_ENOTFOUND) {
        if ((rc = px_identity_generate(&app->d.identity)) != 0 ||
            (rc = px_identity_save(path, &app->d.identity)) != 0) {
            px_fatalx("cannot create the identity %s: %s", path, px_strerror(rc));
        }
        px_hex_encode(app->d.identity.pk, PX_SIGN_PUBLICKEYBYTES, hex);
        px_log_info("created a new identity %s in %s", hex, path);
        return;
    }
    if (rc == PX_EPERM) {
        px_fatalx("the identity %s must be a regular file of ours that nobody else can read "
                  "or write: run chmod 600 %s",
                  path, path);
    }
    if (rc != 0) {
        px_fatalx("cannot load the identity %s: %s", path, px_strerror(rc));
    }
}

static void
config_fail(const struct px_config_error *err, const char *source, int code)
{
    char buf[512];

    fprintf(stderr, "praxisd: %s\n", px_config_error_format(err, source, buf, sizeof(buf)));
    exit(code);
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        /* clang-format off */
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"socket", required_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'l'},
        {"listen", required_argument, NULL, 'L'},
        {"check-config", no_argument, NULL, 'n'},
        {"ready-fd", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
        /* clang-format on */
    };
    struct app app;
    struct px_config_error cerr;
    struct px_ctl_options ctl_opt;
    const char *config_path = NULL, *data_dir = NULL, *socket_path = NULL, *level = NULL;
    const char *listen_addr = NULL;
    char sock[PX_CONFIG_MAX_PATH + 32], err[512], hex[2 * PX_SIGN_PUBLICKEYBYTES + 1];
    bool check_only = false;
    int ready_fd = -1;
    uv_loop_t loop;
    int opt, rc;

    memset(&app, 0, sizeof(app));
    while ((opt = getopt_long(argc, argv, "c:d:s:l:L:nhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'd':
            data_dir = optarg;
            break;
        case 's':
            socket_path = optarg;
            break;
        case 'l':
            level = optarg;
            break;
        case 'L':
            listen_addr = optarg;
            break;
        case 'n':
            check_only = true;
            break;
        case 'R': {
            char *end;
            long fd;

            errno = 0;
            fd = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || fd < 0 || fd > 65535) {
                fprintf(stderr, "praxisd: --ready-fd takes a file descriptor number\n");
                return 2;
            }
            ready_fd = (int)fd;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("praxisd %s\n", PX_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "praxisd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if ((app.cfg = calloc(1, sizeof(*app.cfg))) == NULL) {
        fprintf(stderr, "praxisd: out of memory\n");
        return 1;
    }
    px_config_defaults(app.cfg);
    memset(&cerr, 0, sizeof(cerr));
    if (config_path != NULL && px_config_load(config_path, app.cfg, &cerr) != 0) {
        config_fail(&cerr, config_path, 1);
    }
    if ((data_dir != NULL && px_config_set(app.cfg, "node.data_dir", data_dir, &cerr) != 0) ||
        (socket_path != NULL && px_config_set(app.cfg, "node.socket", socket_path, &cerr) != 0) ||
        (level != NULL && px_config_set(app.cfg, "node.log_level", level, &cerr) != 0) ||
        (listen_addr != NULL &&
         px_config_set(app.cfg, "network.listen", listen_addr, &cerr) != 0)) {
        config_fail(&cerr, "command line", 2);
    }
    if (px_config_validate(app.cfg, &cerr) != 0) {
        config_fail(&cerr, config_path != NULL ? config_path : "configuration", 1);
    }
    if (check_only) {
        printf("praxisd: %s: configuration OK\n", config_path != NULL ? config_path : "(defaults)");
        return 0;
    }
    px_log_init(app.cfg->log_level, STDERR_FILENO);
    signal(SIGPIPE, SIG_IGN);
    /* Nothing praxisd creates is for other users: the store, the socket, the identity. */
    umask(0077);
    if (px_crypto_init() != 0) {
        px_fatalx("cannot initialise libsodium");
    }
    prepare_data_dir(&app, app.cfg->data_dir);
    load_identity(&app, app.cfg->data_dir);

    app.d.version = PX_VERSION;
    app.d.started_ms = px_daemon_now_ms();
    app.d.policy.any_author = app.cfg->accept_any_author;
    if (!app.cfg->accept_any_author) {
        app.authors = calloc(app.cfg->n_authors > 0 ? app.cfg->n_authors : 1, sizeof(*app.authors));
        if (app.authors == NULL) {
            px_fatalx("out of memory");
        }
        memcpy(app.authors, app.cfg->authors, app.cfg->n_authors * sizeof(*app.authors));
        qsort(app.authors, app.cfg->n_authors, sizeof(*app.authors), compare_keys);
        app.d.policy.authors = (const uint8_t(*)[PX_SIGN_PUBLICKEYBYTES])app.authors;
        app.d.policy.n_authors = app.cfg->n_authors;
    }
    app.d.policy.max_skew_ms = (uint64_t)app.cfg->max_clock_skew_s * 1000;

    if ((rc = uv_loop_init(&loop)) != 0) {
        px_fatalx("uv_loop_init: %s", uv_strerror(rc));
    }
    app.d.loop = &loop;
    snprintf(sock, sizeof(sock), "%s/store.db", app.cfg->data_dir);
    if (px_db_open(&loop, sock, READERS, on_commit, &app, &app.d.db, err, sizeof(err)) != 0) {
        px_fatalx("%s", err);
    }
    app.d.max_rowid = px_db_max_rowid_at_open(app.d.db);
    if (px_config_socket_path(app.cfg, sock, sizeof(sock)) != 0) {
        px_fatalx("the socket path is too long");
    }
    ctl_opt.path = sock;
    ctl_opt.max_clients = app.cfg->max_clients;
    ctl_opt.max_queue = (size_t)app.cfg->max_client_queue;
    if (px_ctl_start(&app.d, &ctl_opt, &app.d.ctl, err, sizeof(err)) != 0) {
        px_fatalx("%s", err);
    }
    if ((rc = px_gossip_new(&app.d, app.cfg, &app.d.gossip)) != 0) {
        px_fatalx("cannot start replication: %s", px_strerror(rc));
    }
    if (px_peer_start(&app.d, app.cfg, &app.d.peers, err, sizeof(err)) != 0) {
        px_fatalx("%s", err);
    }
    uv_signal_init(&loop, &app.sigint);
    uv_signal_init(&loop, &app.sigterm);
    app.sigint.data = &app;
    app.sigterm.data = &app;
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);

    px_hex_encode(app.d.identity.pk, PX_SIGN_PUBLICKEYBYTES, hex);
    px_log_info("praxisd %s ready: node %s, data %s, socket %s", PX_VERSION, hex, app.cfg->data_dir,
                sock);
    /* Readiness for supervisors and tests: a line on a descriptor they passed us. */
    if (ready_fd >= 0) {
        if (write(ready_fd, "ready\n", 6) != 6) {
            px_log_warn("cannot write to --ready-fd %d", ready_fd);
        }
        close(ready_fd);
    }

    uv_run(&loop, UV_RUN_DEFAULT);
    if ((rc = uv_loop_close(&loop)) != 0) {
        px_log_error("the event loop still had handles at exit: %s", uv_strerror(rc));
    }
    px_identity_wipe(&app.d.identity);
    free(app.authors);
    free(app.cfg);
    close(app.lock_fd);
    px_log_info("stopped");
    return rc == 0 ? 0 : 1;
}
