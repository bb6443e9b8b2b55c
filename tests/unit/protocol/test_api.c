/* SPDX-License-Identifier: MIT */
/* test_api.c - local API frames: round trips and strict decoding. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <msgpack.h>

#include "protocol/api.h"
#include "protocol/buf.h"
#include "protocol/err.h"

#define S(x) ((struct px_str){(x), (uint32_t)(sizeof(x) - 1)})

/* Encodes req, checks the header, decodes the body into out. The frame stays allocated
 * (out borrows it) and is returned for the caller to free. */
static uint8_t *
request_round_trip(const struct px_api_request *req, struct px_api_request *out)
{
    uint8_t *frame;
    size_t len;
    uint32_t body;

    cr_assert_eq(px_api_request_encode(req, &frame, &len), 0);
    cr_assert_eq(px_api_frame_len(frame, &body), 0);
    cr_assert_eq(body + 4, len);
    cr_assert_eq(px_api_request_decode(frame + 4, body, out), 0);
    return frame;
}

Test(api, publish_round_trip)
{
    static const uint8_t payload[] = {0x81, 0xa1, 'x', 0x01};
    struct px_api_request req, out;
    uint8_t *frame;

    memset(&req, 0, sizeof(req));
    req.op = PX_API_PUBLISH;
    req.seq = 77;
    req.type = PX_RECORD_CASE;
    req.payload = payload;
    req.payload_len = sizeof(payload);
    frame = request_round_trip(&req, &out);
    cr_assert_eq(out.op, PX_API_PUBLISH);
    cr_assert_eq(out.seq, 77);
    cr_assert_eq(out.type, PX_RECORD_CASE);
    cr_assert_eq(out.payload_len, sizeof(payload));
    cr_assert_arr_eq(out.payload, payload, sizeof(payload));
    free(frame);
}

Test(api, query_filter_round_trip)
{
    struct px_api_request req, out;
    uint8_t *frame;

    memset(&req, 0, sizeof(req));
    req.op = PX_API_QUERY;
    req.seq = 1;
    req.filter.ids[0] = S("ab12");
    req.filter.n_ids = 1;
    req.filter.authors[0] = S("ff");
    req.filter.authors[1] = S("0");
    req.filter.n_authors = 2;
    req.filter.practice = PX_PRACTICE_BAD;
    req.filter.tags[0] = S("water");
    req.filter.n_tags = 1;
    req.filter.sector = S("health");
    req.filter.region = S("KE-30");
    req.filter.language = S("sw");
    req.filter.text = S("hand pumps");
    req.filter.since = 1700000000000;
    req.filter.until = 1800000000000;
    req.filter.limit = 20;
    req.filter.follow = true;
    req.filter.history = true;
    frame = request_round_trip(&req, &out);
    cr_assert_eq(out.filter.n_ids, 1);
    cr_assert_eq(out.filter.ids[0].len, 4);
    cr_assert_eq(memcmp(out.filter.ids[0].p, "ab12", 4), 0);
    cr_assert_eq(out.filter.n_authors, 2);
    cr_assert_eq(out.filter.practice, PX_PRACTICE_BAD);
    cr_assert_eq(out.filter.n_tags, 1);
    cr_assert_eq(out.filter.sector.len, 6);
    cr_assert_eq(out.filter.region.len, 5);
    cr_assert_eq(out.filter.language.len, 2);
    cr_assert_eq(out.filter.text.len, 10);
    cr_assert_eq(out.filter.since, 1700000000000);
    cr_assert_eq(out.filter.until, 1800000000000);
    cr_assert_eq(out.filter.limit, 20);
    cr_assert(out.filter.follow);
    cr_assert(out.filter.history);
    free(frame);
}

Test(api, get_import_status_export_round_trip)
{
    static const uint8_t r1[] = {1, 2, 3}, r2[] = {4};
    struct px_api_request req, out;
    uint8_t *frame;

    memset(&req, 0, sizeof(req));
    req.op = PX_API_GET;
    req.id = S("deadbeef");
    req.history = true;
    frame = request_round_trip(&req, &out);
    cr_assert_eq(out.id.len, 8);
    cr_assert(out.history);
    free(frame);

    memset(&req, 0, sizeof(req));
    req.op = PX_API_IMPORT;
    req.records[0] = r1;
    req.record_lens[0] = sizeof(r1);
    req.records[1] = r2;
    req.record_lens[1] = sizeof(r2);
    req.n_records = 2;
    frame = request_round_trip(&req, &out);
    cr_assert_eq(out.n_records, 2);
    cr_assert_eq(out.record_lens[0], 3);
    cr_assert_eq(out.records[1][0], 4);
    free(frame);

    memset(&req, 0, sizeof(req));
    req.op = PX_API_STATUS;
    frame = request_round_trip(&req, &out);
    cr_assert_eq(out.op, PX_API_STATUS);
    free(frame);
    req.op = PX_API_EXPORT;
    frame = request_round_trip(&req, &out);
    cr_assert_eq(out.op, PX_API_EXPORT);
    free(frame);
}

Test(api, response_round_trip)
{
    static const uint8_t r1[] = {9, 9};
    struct px_api_response res, out;
    uint8_t *frame;
    size_t len;

    memset(&res, 0, sizeof(res));
    res.seq = 5;
    res.code = PX_EPERM;
    res.error = S("field \"x\": permission denied");
    res.more = true;
    res.records[0] = r1;
    res.record_lens[0] = sizeof(r1);
    res.n_records = 1;
    res.has_id = true;
    memset(res.id, 0xab, sizeof(res.id));
    res.accepted = 3;
    res.duplicates = 1;
    res.rejected[0].index = 2;
    res.rejected[0].code = PX_EBADSIG;
    res.n_rejected = 1;
    res.has_status = true;
    res.status.records = 10;
    res.status.cases = 9;
    res.status.retractions = 1;
    res.status.store_bytes = 4096;
    res.status.uptime_ms = 1000;
    res.status.version = S("0.1.0");
    memset(res.status.public_key, 0x11, sizeof(res.status.public_key));
    cr_assert_eq(px_api_response_encode(&res, &frame, &len), 0);
    cr_assert_eq(px_api_response_decode(frame + 4, len - 4, &out), 0);
    cr_assert_eq(out.seq, 5);
    cr_assert_eq(out.code, PX_EPERM);
    cr_assert_eq(out.error.len, res.error.len);
    cr_assert(out.more);
    cr_assert_eq(out.n_records, 1);
    cr_assert(out.has_id);
    cr_assert_eq(out.id[31], 0xab);
    cr_assert_eq(out.accepted, 3);
    cr_assert_eq(out.duplicates, 1);
    cr_assert_eq(out.n_rejected, 1);
    cr_assert_eq(out.rejected[0].code, PX_EBADSIG);
    cr_assert(out.has_status);
    cr_assert_eq(out.status.cases, 9);
    cr_assert_eq(out.status.public_key[0], 0x11);
    free(frame);
}

Test(api, peers_round_trip)
{
    struct px_api_response *res = calloc(1, sizeof(*res)), *out = calloc(1, sizeof(*out));
    const struct px_api_peer *a, *b;
    uint8_t *frame;
    size_t len;

    cr_assert(res != NULL && out != NULL);
    res->seq = 8;
    res->has_peers = true;
    res->n_peers = 2;
    res->more = true;
    /* An established peer with replication counters, each over 32 bits where it can be. */
    res->peers[0].has_key = true;
    memset(res->peers[0].public_key, 0x42, sizeof(res->peers[0].public_key));
    res->peers[0].name = S("node-b");
    res->peers[0].address = S("127.0.0.1:7000");
    res->peers[0].direction = S("out");
    res->peers[0].state = S("established");
    res->peers[0].since_ms = UINT64_C(1700000000000);
    res->peers[0].bytes_in = 1234;
    res->peers[0].bytes_out = 5678;
    res->peers[0].last_sync_ms = UINT64_C(1700000000999);
    res->peers[0].records_sent = UINT64_C(5000000000);
    res->peers[0].records_received = 17;
    res->peers[0].duplicates = 3;
    res->peers[0].rejected = 1;
    res->peers[0].pending_wants = 4096;
    /* An inbound connection before the handshake proved a key: every counter zero. */
    res->peers[1].direction = S("in");
    res->peers[1].state = S("handshake");
    res->peers[1].address = S("[::1]:7001");
    res->peers[1].last_error = S("connection refused");
    cr_assert_eq(px_api_response_encode(res, &frame, &len), 0);
    cr_assert_eq(px_api_response_decode(frame + 4, len - 4, out), 0);
    cr_assert_eq(out->seq, 8);
    cr_assert(out->has_peers);
    cr_assert(out->more);
    cr_assert_eq(out->n_peers, 2);
    a = &out->peers[0];
    b = &out->peers[1];
    cr_assert(a->has_key);
    cr_assert_eq(a->public_key[31], 0x42);
    cr_assert_eq(a->name.len, 6);
    cr_assert_eq(memcmp(a->name.p, "node-b", 6), 0);
    cr_assert_eq(a->state.len, 11);
    cr_assert_eq(a->since_ms, UINT64_C(1700000000000));
    cr_assert_eq(a->bytes_in, 1234);
    cr_assert_eq(a->bytes_out, 5678);
    cr_assert_eq(a->last_sync_ms, UINT64_C(1700000000999));
    cr_assert_eq(a->records_sent, UINT64_C(5000000000));
    cr_assert_eq(a->records_received, 17);
    cr_assert_eq(a->duplicates, 3);
    cr_assert_eq(a->rejected, 1);
    cr_assert_eq(a->pending_wants, 4096);
    cr_assert_eq(a->last_error.len, 0);
    cr_assert(!b->has_key);
    cr_assert_eq(b->last_sync_ms, 0);
    cr_assert_eq(b->records_sent, 0);
    cr_assert_eq(b->records_received, 0);
    cr_assert_eq(b->pending_wants, 0);
    cr_assert_eq(b->last_error.len, 18);
    free(frame);

    /* An empty table is still a table. */
    res->n_peers = 0;
    res->more = false;
    cr_assert_eq(px_api_response_encode(res, &frame, &len), 0);
    cr_assert_eq(px_api_response_decode(frame + 4, len - 4, out), 0);
    cr_assert(out->has_peers);
    cr_assert_eq(out->n_peers, 0);
    free(frame);
    free(res);
    free(out);
}

/* A version 2 peer row (without the replication keys) is refused, and so is an extra key. */
Test(api, peer_row_keys_are_exact)
{
    static const char *const v2_keys[] = {"name",  "address",  "direction", "state",
                                          "since", "bytes_in", "bytes_out", "last_error"};
    static const char *const v3_keys[] = {"last_sync",  "records_sent", "records_received",
                                          "duplicates", "rejected",     "pending_wants"};
    struct px_api_response *out = calloc(1, sizeof(*out));

    cr_assert_not_null(out);
    for (int variant = 0; variant < 3; variant++) {
        /* 0: v2 row; 1: the full v3 row; 2: v3 row plus an unknown key. */
        uint32_t n = 1 + 8 + (variant >= 1 ? 6 : 0) + (variant == 2);
        msgpack_sbuffer sb;
        msgpack_packer pk;
        int rc;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 4);
        msgpack_pack_str(&pk, 1);
        msgpack_pack_str_body(&pk, "v", 1);
        msgpack_pack_uint64(&pk, PX_API_VERSION);
        msgpack_pack_str(&pk, 3);
        msgpack_pack_str_body(&pk, "seq", 3);
        msgpack_pack_uint64(&pk, 1);
        msgpack_pack_str(&pk, 4);
        msgpack_pack_str_body(&pk, "code", 4);
        msgpack_pack_uint64(&pk, 0);
        msgpack_pack_str(&pk, 5);
        msgpack_pack_str_body(&pk, "peers", 5);
        msgpack_pack_array(&pk, 1);
        msgpack_pack_map(&pk, n);
        msgpack_pack_str(&pk, 10);
        msgpack_pack_str_body(&pk, "public_key", 10);
        msgpack_pack_bin(&pk, 0);
        for (size_t i = 0; i < 8; i++) {
            msgpack_pack_str(&pk, strlen(v2_keys[i]));
            msgpack_pack_str_body(&pk, v2_keys[i], strlen(v2_keys[i]));
            if (i == 4 || i == 5 || i == 6) {
                msgpack_pack_uint64(&pk, 1);
            } else {
                msgpack_pack_str(&pk, 0);
            }
        }
        for (size_t i = 0; variant >= 1 && i < 6; i++) {
            msgpack_pack_str(&pk, strlen(v3_keys[i]));
            msgpack_pack_str_body(&pk, v3_keys[i], strlen(v3_keys[i]));
            msgpack_pack_uint64(&pk, i + 1);
        }
        if (variant == 2) {
            msgpack_pack_str(&pk, 5);
            msgpack_pack_str_body(&pk, "extra", 5);
            msgpack_pack_uint64(&pk, 0);
        }
        rc = px_api_response_decode((const uint8_t *)sb.data, sb.size, out);
        msgpack_sbuffer_destroy(&sb);
        cr_assert_eq(rc,
                     variant == 0   ? PX_EMISSING
                     : variant == 1 ? 0
                                    : PX_EUNKNOWN,
                     "variant %d: %d", variant, rc);
        if (variant == 1) {
            cr_assert_eq(out->peers[0].last_sync_ms, 1);
            cr_assert_eq(out->peers[0].pending_wants, 6);
        }
    }
    free(out);
}

/* Packs a request map by hand, so that each test can break one thing. */
struct hand {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static void
hand_init(struct hand *h, uint32_t entries)
{
    msgpack_sbuffer_init(&h->sb);
    msgpack_packer_init(&h->pk, &h->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&h->pk, entries);
}

static void
hand_key(struct hand *h, const char *k)
{
    msgpack_pack_str(&h->pk, strlen(k));
    msgpack_pack_str_body(&h->pk, k, strlen(k));
}

static void
hand_uint(struct hand *h, const char *k, uint64_t v)
{
    hand_key(h, k);
    msgpack_pack_uint64(&h->pk, v);
}

static int
hand_decode(struct hand *h)
{
    struct px_api_request req;
    int rc = px_api_request_decode((const uint8_t *)h->sb.data, h->sb.size, &req);

    msgpack_sbuffer_destroy(&h->sb);
    return rc;
}

Test(api, strict_request_decoding)
{
    struct hand h;

    hand_init(&h, 3);
    hand_uint(&h, "v", PX_API_VERSION);
    hand_uint(&h, "op", PX_API_STATUS);
    hand_uint(&h, "seq", 1);
    cr_assert_eq(hand_decode(&h), 0);

    hand_init(&h, 3);
    hand_uint(&h, "v", PX_API_VERSION + 1);
    hand_uint(&h, "op", PX_API_STATUS);
    hand_uint(&h, "seq", 1);
    cr_assert_eq(hand_decode(&h), PX_EVERSION);

    hand_init(&h, 2);
    hand_uint(&h, "op", PX_API_STATUS);
    hand_uint(&h, "seq", 1);
    cr_assert_eq(hand_decode(&h), PX_EMISSING, "no version");

    hand_init(&h, 4);
    hand_uint(&h, "v", PX_API_VERSION);
    hand_uint(&h, "op", PX_API_STATUS);
    hand_uint(&h, "seq", 1);
    hand_uint(&h, "bogus", 1);
    cr_assert_eq(hand_decode(&h), PX_EUNKNOWN);

    hand_init(&h, 4);
    hand_uint(&h, "v", PX_API_VERSION);
    hand_uint(&h, "op", PX_API_STATUS);
    hand_uint(&h, "seq", 1);
    hand_uint(&h, "seq", 2);
    cr_assert_eq(hand_decode(&h), PX_EDUPKEY);

    hand_init(&h, 4);
    hand_uint(&h, "v", PX_API_VERSION);
    hand_uint(&h, "op", PX_API_STATUS);
    hand_uint(&h, "seq", 1);
    hand_uint(&h, "type", 1);
    cr_assert_eq(hand_decode(&h), PX_EUNKNOWN, "a key of another operation");

    hand_init(&h, 3);
    hand_uint(&h, "v", PX_API_VERSION);
    hand_uint(&h, "op", PX_API_PUBLISH);
    hand_uint(&h, "seq", 1);
    cr_assert_eq(hand_decode(&h), PX_EMISSING, "publish without payload");

    hand_init(&h, 3);
    hand_uint(&h, "v", PX_API_VERSION);
    hand_uint(&h, "op", 99);
    hand_uint(&h, "seq", 1);
    cr_assert_eq(hand_decode(&h), PX_EVALUE);

    hand_init(&h, 3);
    hand_uint(&h, "v", PX_API_VERSION);
    hand_key(&h, "op");
    msgpack_pack_str(&h.pk, 3);
    msgpack_pack_str_body(&h.pk, "get", 3);
    hand_uint(&h, "seq", 1);
    cr_assert_eq(hand_decode(&h), PX_ETYPE);

    hand_init(&h, 3);
    hand_uint(&h, "v", PX_API_VERSION);
    hand_key(&h, "op");
    msgpack_pack_double(&h.pk, 1.0);
    hand_uint(&h, "seq", 1);
    cr_assert_eq(hand_decode(&h), PX_EFLOAT);
}

Test(api, walker_runs_before_msgpack_c)
{
    /* A map header that claims 2^32-1 pairs in 5 bytes: over the count cap. */
    static const uint8_t bomb[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    /* Within the cap, but more pairs than bytes left: refused without allocating. */
    static const uint8_t liar[] = {0xde, 0x00, 0xff, 0xa1, 'v', 0x01};
    static const uint8_t not_map[] = {0x93, 1, 2, 3};
    static const uint8_t trailing[] = {0x80, 0x00};
    struct px_api_request req;
    struct px_api_response res;

    cr_assert_eq(px_api_request_decode(bomb, sizeof(bomb), &req), PX_ETOOBIG);
    cr_assert_eq(px_api_request_decode(liar, sizeof(liar), &req), PX_ECOUNT);
    cr_assert_eq(px_api_response_decode(liar, sizeof(liar), &res), PX_ECOUNT);
    cr_assert_eq(px_api_request_decode(not_map, sizeof(not_map), &req), PX_ETYPE);
    cr_assert_eq(px_api_request_decode(trailing, sizeof(trailing), &req), PX_ETRAILING);
    cr_assert_eq(px_api_request_decode(bomb, 0, &req), PX_ETRUNC);
}

Test(api, frame_header_limits)
{
    uint8_t hdr[4];
    uint32_t len;

    px_store_be32(hdr, 0);
    cr_assert_eq(px_api_frame_len(hdr, &len), PX_EPROTO);
    px_store_be32(hdr, PX_API_MAX_FRAME + 1);
    cr_assert_eq(px_api_frame_len(hdr, &len), PX_ETOOBIG);
    px_store_be32(hdr, PX_API_MAX_FRAME);
    cr_assert_eq(px_api_frame_len(hdr, &len), 0);
    cr_assert_eq(len, PX_API_MAX_FRAME);
}

Test(api, filter_caps)
{
    struct px_api_request req, out;
    uint8_t *frame;
    size_t len;
    uint32_t body;

    memset(&req, 0, sizeof(req));
    req.op = PX_API_QUERY;
    req.filter.limit = PX_API_MAX_LIMIT + 1;
    cr_assert_eq(px_api_request_encode(&req, &frame, &len), 0);
    cr_assert_eq(px_api_frame_len(frame, &body), 0);
    cr_assert_eq(px_api_request_decode(frame + 4, body, &out), PX_ETOOBIG);
    free(frame);

    memset(&req, 0, sizeof(req));
    req.op = PX_API_QUERY;
    req.filter.practice = 3;
    cr_assert_eq(px_api_request_encode(&req, &frame, &len), 0);
    cr_assert_eq(px_api_request_decode(frame + 4, len - 4, &out), PX_EVALUE);
    free(frame);
}

Test(api, encode_refuses_oversize_frames)
{
    static uint8_t big[PX_RECORD_MAX];
    struct px_api_response *res = calloc(1, sizeof(*res));
    uint8_t *frame = NULL;
    size_t len;

    cr_assert_not_null(res);
    for (int i = 0; i < 40; i++) {
        res->records[i] = big;
        res->record_lens[i] = sizeof(big);
    }
    res->n_records = 40; /* 2.5 MiB */
    cr_assert_eq(px_api_response_encode(res, &frame, &len), PX_ETOOBIG);
    cr_assert_null(frame);
    free(res);
}
