/* SPDX-License-Identifier: MIT */
/*
 * test_daemon_robust.c - a real praxisd under abuse: malformed and oversize frames written
 * straight to its socket, a kill -9 right after a publish was acknowledged, and a shutdown
 * with a client still following a query.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "protocol/api.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "store.h"
#include "util/daemon_util.h"

#define FRAME_MS 5000

static char *tmp;
static struct px_testd d;

static void
setup(void)
{
    char *dir;

    unsetenv("PRAXIS_SOCKET");
    tmp = px_test_tmpdir();
    cr_assert(asprintf(&dir, "%s/data", tmp) > 0);
    px_testd_start(&d, dir);
    free(dir);
}

static void
teardown(void)
{
    px_testd_free(&d);
    px_test_rmtree(tmp);
    free(tmp);
}

TestSuite(daemon_robust, .init = setup, .fini = teardown);

static void
send_all(int fd, const void *p, size_t n)
{
    cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Sends a frame: the 4-byte length header, then body. */
static void
send_frame(int fd, const void *body, uint32_t len)
{
    uint8_t hdr[4];

    px_store_be32(hdr, len);
    send_all(fd, hdr, 4);
    if (len > 0) {
        send_all(fd, body, len);
    }
}

/* Reads one response frame and decodes it into *res (which borrows *body). */
static void
expect_response(int fd, struct px_api_response *res, uint8_t **body)
{
    size_t len;
    int rc = px_testd_read_frame(fd, PX_API_MAX_FRAME, body, &len, FRAME_MS);

    cr_assert_eq(rc, 0, "no response frame (rc %d)", rc);
    cr_assert_eq(px_api_response_decode(*body, len, res), 0, "the response does not decode");
}

/* After an error frame, the daemon closes the connection: EOF within the deadline. */
static void
expect_closed(int fd)
{
    uint8_t *body;
    size_t len;

    cr_assert_eq(px_testd_read_frame(fd, PX_API_MAX_FRAME, &body, &len, FRAME_MS), 1,
                 "the connection is still open");
}

static void
expect_status_works(uint64_t records)
{
    cr_assert_eq(px_testd_records(&d), records);
}

static char *
publish_one(const char *title)
{
    struct px_run r;
    char *id;

    px_testd_praxis(&d, &r, NULL, 0, "publish", "--practice", "good", "--title", title, "--summary",
                    "s", NULL);
    cr_assert_eq(r.status, 0, "publish: %s", r.err);
    cr_assert(strncmp(r.out, "published ", 10) == 0);
    id = strndup(r.out + 10, 64);
    px_run_free(&r);
    return id;
}

Test(daemon_robust, malformed_frames_get_an_error_and_the_daemon_keeps_serving)
{
    static const uint8_t garbage[] = {0xc1, 0xc1, 0xc1, 0xc1, 0xc1};
    struct px_api_response *res = calloc(1, sizeof(*res));
    struct px_api_request *req = calloc(1, sizeof(*req));
    uint8_t *body, *frame, big[4] = {0xff, 0xff, 0xff, 0xff};
    size_t len;
    char *id = publish_one("Before the abuse");
    int fd;

    cr_assert_not_null(res);
    cr_assert_not_null(req);

    /* A whole frame that is not msgpack: an error answer, and the connection goes on. */
    fd = px_testd_connect(&d);
    send_frame(fd, garbage, sizeof(garbage));
    expect_response(fd, res, &body);
    cr_assert_lt(res->code, 0);
    cr_assert_eq(res->seq, 0);
    free(body);
    req->op = PX_API_STATUS;
    req->seq = 7;
    cr_assert_eq(px_api_request_encode(req, &frame, &len), 0);
    send_all(fd, frame, len);
    free(frame);
    expect_response(fd, res, &body);
    cr_assert_eq(res->code, 0);
    cr_assert_eq(res->seq, 7);
    cr_assert(res->has_status);
    cr_assert_eq(res->status.records, 1);
    free(body);

    /* A request of another API version: EVERSION. */
    {
        /* {"v": 99, "op": 4, "seq": 8} */
        static const uint8_t v99[] = {0x83, 0xa1, 'v', 0x63, 0xa2, 'o', 'p',
                                      0x04, 0xa3, 's', 'e',  'q',  0x08};

        send_frame(fd, v99, sizeof(v99));
        expect_response(fd, res, &body);
        cr_assert_eq(res->code, PX_EVERSION, "code %d", res->code);
        free(body);
    }

    /* A publish whose payload is not a case: refused, nothing stored. */
    memset(req, 0, sizeof(*req));
    req->op = PX_API_PUBLISH;
    req->seq = 9;
    req->type = PX_RECORD_CASE;
    req->payload = garbage;
    req->payload_len = sizeof(garbage);
    cr_assert_eq(px_api_request_encode(req, &frame, &len), 0);
    send_all(fd, frame, len);
    free(frame);
    expect_response(fd, res, &body);
    cr_assert_eq(res->seq, 9);
    cr_assert_lt(res->code, 0);
    cr_assert(!res->has_id);
    free(body);

    /* An unknown operation. */
    {
        /* {"v": PX_API_VERSION, "op": 99, "seq": 10} */
        static const uint8_t op99[] = {
            0x83, 0xa1, 'v', PX_API_VERSION, 0xa2, 'o', 'p', 0x63, 0xa3, 's', 'e', 'q', 0x0a};

        send_frame(fd, op99, sizeof(op99));
        expect_response(fd, res, &body);
        cr_assert_lt(res->code, 0);
        free(body);
    }

    /* An oversize length header: an error frame, then the daemon hangs up. */
    send_all(fd, big, 4);
    expect_response(fd, res, &body);
    cr_assert_eq(res->code, PX_ETOOBIG, "code %d", res->code);
    free(body);
    expect_closed(fd);
    close(fd);

    /* Just over the limit, and a zero length, on fresh connections. */
    fd = px_testd_connect(&d);
    px_store_be32(big, PX_API_MAX_FRAME + 1);
    send_all(fd, big, 4);
    expect_response(fd, res, &body);
    cr_assert_eq(res->code, PX_ETOOBIG);
    free(body);
    expect_closed(fd);
    close(fd);
    fd = px_testd_connect(&d);
    send_frame(fd, NULL, 0);
    expect_response(fd, res, &body);
    cr_assert_eq(res->code, PX_EPROTO);
    free(body);
    expect_closed(fd);
    close(fd);

    /* A frame cut short by a client that goes away. */
    fd = px_testd_connect(&d);
    px_store_be32(big, 1000);
    send_all(fd, big, 4);
    send_all(fd, garbage, sizeof(garbage));
    close(fd);

    /* Still serving, and the store is unchanged. */
    expect_status_works(1);
    {
        struct px_run r;

        px_testd_praxis(&d, &r, NULL, 0, "get", id, NULL);
        cr_assert_eq(r.status, 0, "%s", r.err);
        px_run_free(&r);
    }
    cr_assert_eq(px_testd_stop(&d), 0, "praxisd did not stop cleanly");
    free(id);
    free(res);
    free(req);
}

Test(daemon_robust, kill9_after_acknowledged_publish_loses_nothing)
{
    char *db_path, *ids[3], err[256];
    struct px_store *s;
    struct px_store_stats st;
    struct px_run r;

    ids[0] = publish_one("First");
    ids[1] = publish_one("Second");
    ids[2] = publish_one("Acknowledged just before the crash");
    /* praxis printed the id, so praxisd acknowledged it: now pull the plug. */
    px_testd_kill9(&d);

    /* The store opens, passes PRAGMA integrity_check and holds all three. */
    cr_assert(asprintf(&db_path, "%s/store.db", d.dir) > 0);
    cr_assert_eq(px_store_open(db_path, &s, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(px_store_check(s), 0, "integrity_check failed");
    cr_assert_eq(px_store_stats(s, &st), 0);
    cr_assert_eq(st.records, 3);
    px_store_close(s);

    /* And praxisd serves them after a restart. */
    px_testd_restart(&d);
    for (int i = 0; i < 3; i++) {
        px_testd_praxis(&d, &r, NULL, 0, "get", "--json", ids[i], NULL);
        cr_assert_eq(r.status, 0, "get %s after restart: %s", ids[i], r.err);
        cr_assert_not_null(strstr(r.out, ids[i]));
        px_run_free(&r);
        free(ids[i]);
    }
    expect_status_works(3);
    cr_assert_eq(px_testd_stop(&d), 0);
    cr_assert_eq(px_store_open(db_path, &s, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(px_store_check(s), 0);
    px_store_close(s);
    free(db_path);
}

Test(daemon_robust, shutdown_with_a_follower_connected)
{
    char *bin = px_test_bin("praxis"), *err_path, *err;
    char *argv[] = {bin, "--socket", d.sock, "query", "--follow", "--json", NULL};
    struct px_child f;
    char *id = publish_one("Seen by the follower"), *line;

    cr_assert(asprintf(&err_path, "%s/follow.err", tmp) > 0);
    px_child_spawn(&f, argv, err_path, NULL);
    line = px_child_read_line(&f, 10000);
    cr_assert_not_null(line);
    cr_assert_not_null(strstr(line, id));
    free(line);

    /* praxisd stops cleanly; the follower learns it and says so. */
    cr_assert_eq(px_testd_stop(&d), 0, "praxisd did not stop cleanly:\n%s", px_testd_log(&d));
    cr_assert_eq(px_child_finish(&f, 1, 10000), 0);
    cr_assert_eq(f.status, 1);
    err = (char *)px_test_read_file(err_path, NULL);
    cr_assert_not_null(err);
    cr_assert_not_null(strstr(err, "praxis: praxisd closed the connection"), "%s", err);
    free(err);
    px_child_free(&f);
    free(err_path);
    free(id);
    free(bin);
}
