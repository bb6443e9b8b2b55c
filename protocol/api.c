/* SPDX-License-Identifier: MIT */
/*
 * api.c - local API frames; see api.h and docs/protocol.md.
 *
 * Untrusted frames pass the bounded walker before msgpack-c sees them, so msgpack-c's
 * up-front allocation for a container is bounded by the frame's size. The msgpack zone
 * lives only inside the decode call; what escapes are slices into the caller's frame,
 * which msgpack-c's C unpacker references rather than copies.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "buf.h"
#include "err.h"
#include "mp.h"

static const struct px_mp_limits api_limits = {
    .max_depth = 4,
    .max_size = PX_API_MAX_FRAME,
    .max_str = PX_RECORD_MAX,
    .max_count = PX_API_MAX_BATCH,
    .flags = PX_MP_NO_FLOAT | PX_MP_NO_EXT | PX_MP_UTF8,
};

const char *
px_api_op_name(enum px_api_op op)
{
    switch (op) {
    case PX_API_PUBLISH:
        return "publish";
    case PX_API_GET:
        return "get";
    case PX_API_QUERY:
        return "query";
    case PX_API_STATUS:
        return "status";
    case PX_API_EXPORT:
        return "export";
    case PX_API_IMPORT:
        return "import";
    case PX_API_PEERS:
        return "peers";
    }
    return "unknown";
}

int
px_api_frame_len(const uint8_t hdr[4], uint32_t *len)
{
    uint32_t n = px_load_be32(hdr);

    if (n == 0) {
        return PX_EPROTO;
    }
    if (n > PX_API_MAX_FRAME) {
        return PX_ETOOBIG;
    }
    *len = n;
    return 0;
}

/* ---- Encoding ---- */

struct enc {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc; /* the first error; later calls do nothing */
};

/* msgpack-c reports allocation failure through the write callback's return value. */
static int
enc_write(void *data, const char *buf, size_t len)
{
    struct enc *e = data;

    if (e->rc != 0) {
        return -1;
    }
    if (len > PX_API_MAX_FRAME + 4 - e->sb.size) {
        e->rc = PX_ETOOBIG;
        return -1;
    }
    if (msgpack_sbuffer_write(&e->sb, buf, len) != 0) {
        e->rc = PX_ENOMEM;
        return -1;
    }
    return 0;
}

static void
enc_init(struct enc *e)
{
    static const char hdr[4] = {0};

    msgpack_sbuffer_init(&e->sb);
    msgpack_packer_init(&e->pk, e, enc_write);
    e->rc = 0;
    enc_write(e, hdr, sizeof(hdr)); /* the length, patched by enc_finish */
}

static void
enc_key(struct enc *e, const char *key)
{
    size_t n = strlen(key);

    msgpack_pack_str(&e->pk, n);
    msgpack_pack_str_body(&e->pk, key, n);
}

static void
enc_str(struct enc *e, const char *key, struct px_str s)
{
    enc_key(e, key);
    msgpack_pack_str(&e->pk, s.len);
    msgpack_pack_str_body(&e->pk, s.p, s.len);
}

static void
enc_bin(struct enc *e, const char *key, const uint8_t *b, size_t len)
{
    if (key != NULL) {
        enc_key(e, key);
    }
    msgpack_pack_bin(&e->pk, len);
    msgpack_pack_bin_body(&e->pk, b, len);
}

static void
enc_uint(struct enc *e, const char *key, uint64_t v)
{
    enc_key(e, key);
    msgpack_pack_uint64(&e->pk, v);
}

static void
enc_bool(struct enc *e, const char *key, bool v)
{
    enc_key(e, key);
    if (v) {
        msgpack_pack_true(&e->pk);
    } else {
        msgpack_pack_false(&e->pk);
    }
}

static void
enc_str_list(struct enc *e, const char *key, const struct px_str *list, uint32_t n)
{
    enc_key(e, key);
    msgpack_pack_array(&e->pk, n);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_str(&e->pk, list[i].len);
        msgpack_pack_str_body(&e->pk, list[i].p, list[i].len);
    }
}

static void
enc_records(struct enc *e, const uint8_t *const *recs, const size_t *lens, uint32_t n)
{
    enc_key(e, "records");
    msgpack_pack_array(&e->pk, n);
    for (uint32_t i = 0; i < n; i++) {
        enc_bin(e, NULL, recs[i], lens[i]);
    }
}

static int
enc_finish(struct enc *e, uint8_t **out, size_t *len)
{
    if (e->rc != 0) {
        msgpack_sbuffer_destroy(&e->sb);
        return e->rc;
    }
    px_store_be32((uint8_t *)e->sb.data, (uint32_t)(e->sb.size - 4));
    *len = e->sb.size;
    *out = (uint8_t *)msgpack_sbuffer_release(&e->sb);
    return 0;
}

static uint32_t
filter_entries(const struct px_api_filter *f)
{
    return (f->n_ids > 0) + (f->n_authors > 0) + (f->practice != 0) + (f->n_tags > 0) +
           (f->sector.len > 0) + (f->region.len > 0) + (f->language.len > 0) + (f->text.len > 0) +
           (f->since != 0) + (f->until != 0) + (f->limit != 0) + (f->follow) + (f->history);
}

static void
enc_filter(struct enc *e, const struct px_api_filter *f)
{
    enc_key(e, "filter");
    msgpack_pack_map(&e->pk, filter_entries(f));
    if (f->n_ids > 0) {
        enc_str_list(e, "ids", f->ids, f->n_ids);
    }
    if (f->n_authors > 0) {
        enc_str_list(e, "authors", f->authors, f->n_authors);
    }
    if (f->practice != 0) {
        enc_uint(e, "practice", f->practice);
    }
    if (f->n_tags > 0) {
        enc_str_list(e, "tags", f->tags, f->n_tags);
    }
    if (f->sector.len > 0) {
        enc_str(e, "sector", f->sector);
    }
    if (f->region.len > 0) {
        enc_str(e, "region", f->region);
    }
    if (f->language.len > 0) {
        enc_str(e, "language", f->language);
    }
    if (f->text.len > 0) {
        enc_str(e, "text", f->text);
    }
    if (f->since != 0) {
        enc_uint(e, "since", f->since);
    }
    if (f->until != 0) {
        enc_uint(e, "until", f->until);
    }
    if (f->limit != 0) {
        enc_uint(e, "limit", f->limit);
    }
    if (f->follow) {
        enc_bool(e, "follow", true);
    }
    if (f->history) {
        enc_bool(e, "history", true);
    }
}

int
px_api_request_encode(const struct px_api_request *req, uint8_t **out, size_t *len)
{
    struct enc e;
    uint32_t n = 3;

    switch (req->op) {
    case PX_API_PUBLISH:
        n += 2;
        break;
    case PX_API_GET:
        n += 1 + req->history;
        break;
    case PX_API_QUERY:
    case PX_API_IMPORT:
        n += 1;
        break;
    case PX_API_STATUS:
    case PX_API_EXPORT:
    case PX_API_PEERS:
        break;
    default:
        return PX_EINVAL;
    }
    enc_init(&e);
    msgpack_pack_map(&e.pk, n);
    enc_uint(&e, "v", PX_API_VERSION);
    enc_uint(&e, "op", (uint64_t)req->op);
    enc_uint(&e, "seq", req->seq);
    switch (req->op) {
    case PX_API_PUBLISH:
        enc_uint(&e, "type", req->type);
        enc_bin(&e, "payload", req->payload, req->payload_len);
        break;
    case PX_API_GET:
        enc_str(&e, "id", req->id);
        if (req->history) {
            enc_bool(&e, "history", true);
        }
        break;
    case PX_API_QUERY:
        enc_filter(&e, &req->filter);
        break;
    case PX_API_IMPORT:
        enc_records(&e, req->records, req->record_lens, req->n_records);
        break;
    default:
        break;
    }
    return enc_finish(&e, out, len);
}

int
px_api_response_encode(const struct px_api_response *res, uint8_t **out, size_t *len)
{
    struct enc e;
    uint32_t n =
        3 + (res->error.len > 0) + res->more + (res->n_records > 0) + res->has_id + res->has_status;
    n += res->has_peers;
    bool import = res->accepted > 0 || res->duplicates > 0 || res->n_rejected > 0;

    n += import ? 3 : 0;
    enc_init(&e);
    msgpack_pack_map(&e.pk, n);
    enc_uint(&e, "v", PX_API_VERSION);
    enc_uint(&e, "seq", res->seq);
    enc_key(&e, "code");
    msgpack_pack_int64(&e.pk, res->code);
    if (res->error.len > 0) {
        struct px_str msg = res->error;

        if (msg.len > PX_API_MAX_ERROR) {
            msg.len = PX_API_MAX_ERROR; /* an error is one line: cut, but keep UTF-8 whole */
            while (msg.len > 0 && ((uint8_t)msg.p[msg.len] & 0xc0) == 0x80) {
                msg.len--;
            }
        }
        enc_str(&e, "error", msg);
    }
    if (res->more) {
        enc_bool(&e, "more", true);
    }
    if (res->n_records > 0) {
        enc_records(&e, res->records, res->record_lens, res->n_records);
    }
    if (res->has_id) {
        enc_bin(&e, "id", res->id, PX_ID_BYTES);
    }
    if (import) {
        enc_uint(&e, "accepted", res->accepted);
        enc_uint(&e, "duplicates", res->duplicates);
        enc_key(&e, "rejected");
        msgpack_pack_array(&e.pk, res->n_rejected);
        for (uint32_t i = 0; i < res->n_rejected; i++) {
            msgpack_pack_array(&e.pk, 2);
            msgpack_pack_uint32(&e.pk, res->rejected[i].index);
            msgpack_pack_int32(&e.pk, res->rejected[i].code);
        }
    }
    if (res->has_status) {
        const struct px_api_node_status *s = &res->status;

        enc_key(&e, "node");
        msgpack_pack_map(&e.pk, 8);
        enc_bin(&e, "public_key", s->public_key, sizeof(s->public_key));
        enc_uint(&e, "records", s->records);
        enc_uint(&e, "cases", s->cases);
        enc_uint(&e, "retractions", s->retractions);
        enc_uint(&e, "store_bytes", s->store_bytes);
        enc_uint(&e, "uptime_ms", s->uptime_ms);
        enc_uint(&e, "peers", s->peers);
        enc_str(&e, "version", s->version);
    }
    if (res->has_peers) {
        uint32_t np = res->n_peers > PX_API_MAX_PEERS ? PX_API_MAX_PEERS : res->n_peers;

        enc_key(&e, "peers");
        msgpack_pack_array(&e.pk, np);
        for (uint32_t i = 0; i < np; i++) {
            const struct px_api_peer *r = &res->peers[i];

            msgpack_pack_map(&e.pk, 15);
            enc_bin(&e, "public_key", r->public_key, r->has_key ? sizeof(r->public_key) : 0);
            enc_str(&e, "name", r->name);
            enc_str(&e, "address", r->address);
            enc_str(&e, "direction", r->direction);
            enc_str(&e, "state", r->state);
            enc_uint(&e, "since", r->since_ms);
            enc_uint(&e, "bytes_in", r->bytes_in);
            enc_uint(&e, "bytes_out", r->bytes_out);
            enc_str(&e, "last_error", r->last_error);
            enc_uint(&e, "last_sync", r->last_sync_ms);
            enc_uint(&e, "records_sent", r->records_sent);
            enc_uint(&e, "records_received", r->records_received);
            enc_uint(&e, "duplicates", r->duplicates);
            enc_uint(&e, "rejected", r->rejected);
            enc_uint(&e, "pending_wants", r->pending_wants);
        }
    }
    return enc_finish(&e, out, len);
}

/* ---- Decoding ---- */

static int
get_uint(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return PX_ETYPE;
    }
    *v = o->via.u64;
    return 0;
}

static int
get_u32(const msgpack_object *o, uint32_t *v)
{
    uint64_t x;
    int rc = get_uint(o, &x);

    if (rc != 0) {
        return rc;
    }
    if (x > UINT32_MAX) {
        return PX_EVALUE;
    }
    *v = (uint32_t)x;
    return 0;
}

static int
get_int32(const msgpack_object *o, int32_t *v)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > INT32_MAX) {
            return PX_EVALUE;
        }
        *v = (int32_t)o->via.u64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        if (o->via.i64 < INT32_MIN) {
            return PX_EVALUE;
        }
        *v = (int32_t)o->via.i64;
        return 0;
    }
    return PX_ETYPE;
}

static int
get_bool(const msgpack_object *o, bool *v)
{
    if (o->type != MSGPACK_OBJECT_BOOLEAN) {
        return PX_ETYPE;
    }
    *v = o->via.boolean;
    return 0;
}

static int
get_str(const msgpack_object *o, struct px_str *s, size_t max)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        return PX_ETYPE;
    }
    if (o->via.str.size > max) {
        return PX_ETOOBIG;
    }
    s->p = o->via.str.ptr;
    s->len = o->via.str.size;
    return 0;
}

static int
get_bin(const msgpack_object *o, const uint8_t **b, size_t *len, size_t max)
{
    if (o->type != MSGPACK_OBJECT_BIN) {
        return PX_ETYPE;
    }
    if (o->via.bin.size > max) {
        return PX_ETOOBIG;
    }
    *b = (const uint8_t *)o->via.bin.ptr;
    *len = o->via.bin.size;
    return 0;
}

static int
get_str_list(const msgpack_object *o, struct px_str *list, uint32_t max, size_t item_max,
             uint32_t *n)
{
    int rc;

    if (o->type != MSGPACK_OBJECT_ARRAY) {
        return PX_ETYPE;
    }
    if (o->via.array.size > max) {
        return PX_ETOOBIG;
    }
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        if ((rc = get_str(&o->via.array.ptr[i], &list[i], item_max)) != 0) {
            return rc;
        }
        if (list[i].len == 0) {
            return PX_EVALUE;
        }
    }
    *n = o->via.array.size;
    return 0;
}

static int
get_records(const msgpack_object *o, const uint8_t **recs, size_t *lens, uint32_t *n)
{
    int rc;

    if (o->type != MSGPACK_OBJECT_ARRAY) {
        return PX_ETYPE;
    }
    if (o->via.array.size > PX_API_MAX_BATCH) {
        return PX_ETOOBIG;
    }
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        if ((rc = get_bin(&o->via.array.ptr[i], &recs[i], &lens[i], PX_RECORD_MAX)) != 0) {
            return rc;
        }
    }
    *n = o->via.array.size;
    return 0;
}

/*
 * Looks a map key up in a table of names. Sets *idx, or returns PX_EUNKNOWN; marks it in
 * *seen and returns PX_EDUPKEY the second time.
 */
static int
find_key(const msgpack_object *k, const char *const *names, unsigned n, uint32_t *seen,
         unsigned *idx)
{
    if (k->type != MSGPACK_OBJECT_STR) {
        return PX_ETYPE;
    }
    for (unsigned i = 0; i < n; i++) {
        if (strlen(names[i]) == k->via.str.size &&
            memcmp(names[i], k->via.str.ptr, k->via.str.size) == 0) {
            if (*seen & (1u << i)) {
                return PX_EDUPKEY;
            }
            *seen |= 1u << i;
            *idx = i;
            return 0;
        }
    }
    return PX_EUNKNOWN;
}

/* Walks, then unpacks, one frame body. The caller destroys *u, whatever this returns. */
static int
unpack(const uint8_t *p, size_t len, msgpack_unpacked *u)
{
    size_t off = 0;
    int rc;

    msgpack_unpacked_init(u); /* first, so that the caller's destroy is always safe */
    if ((rc = px_mp_check_exact(p, len, &api_limits)) != 0) {
        return rc;
    }
    switch (msgpack_unpack_next(u, (const char *)p, len, &off)) {
    case MSGPACK_UNPACK_SUCCESS:
        break;
    case MSGPACK_UNPACK_NOMEM_ERROR:
        return PX_ENOMEM;
    default:
        return PX_EPROTO; /* the walker accepted it: this would be a msgpack-c disagreement */
    }
    if (u->data.type != MSGPACK_OBJECT_MAP) {
        return PX_ETYPE;
    }
    return 0;
}

enum filter_key {
    F_IDS,
    F_AUTHORS,
    F_PRACTICE,
    F_TAGS,
    F_SECTOR,
    F_REGION,
    F_LANGUAGE,
    F_TEXT,
    F_SINCE,
    F_UNTIL,
    F_LIMIT,
    F_FOLLOW,
    F_HISTORY,
    F_COUNT
};

static const char *const filter_keys[F_COUNT] = {
    "ids",  "authors", "practice", "tags",  "sector", "region",  "language",
    "text", "since",   "until",    "limit", "follow", "history",
};

static int
decode_filter(const msgpack_object *o, struct px_api_filter *f)
{
    uint32_t seen = 0;

    if (o->type != MSGPACK_OBJECT_MAP) {
        return PX_ETYPE;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *v = &o->via.map.ptr[i].val;
        unsigned k;
        int rc = find_key(&o->via.map.ptr[i].key, filter_keys, F_COUNT, &seen, &k);

        if (rc != 0) {
            return rc;
        }
        switch ((enum filter_key)k) {
        case F_IDS:
            rc = get_str_list(v, f->ids, PX_API_MAX_FILTER_ITEMS, 2 * PX_ID_BYTES, &f->n_ids);
            break;
        case F_AUTHORS:
            rc = get_str_list(v, f->authors, PX_API_MAX_FILTER_ITEMS, 2 * PX_SIGN_PUBLICKEYBYTES,
                              &f->n_authors);
            break;
        case F_PRACTICE:
            rc = get_u32(v, &f->practice);
            if (rc == 0 && f->practice != PX_PRACTICE_GOOD && f->practice != PX_PRACTICE_BAD) {
                rc = PX_EVALUE;
            }
            break;
        case F_TAGS:
            rc = get_str_list(v, f->tags, PX_API_MAX_FILTER_ITEMS, PX_CASE_MAX_TAG, &f->n_tags);
            break;
        case F_SECTOR:
            rc = get_str(v, &f->sector, PX_CASE_MAX_SECTOR);
            break;
        case F_REGION:
            rc = get_str(v, &f->region, PX_CASE_MAX_REGION);
            break;
        case F_LANGUAGE:
            rc = get_str(v, &f->language, PX_CASE_MAX_LANGUAGE);
            break;
        case F_TEXT:
            rc = get_str(v, &f->text, PX_API_MAX_TEXT);
            break;
        case F_SINCE:
            rc = get_uint(v, &f->since);
            break;
        case F_UNTIL:
            rc = get_uint(v, &f->until);
            break;
        case F_LIMIT:
            rc = get_u32(v, &f->limit);
            if (rc == 0 && f->limit > PX_API_MAX_LIMIT) {
                rc = PX_ETOOBIG;
            }
            break;
        case F_FOLLOW:
            rc = get_bool(v, &f->follow);
            break;
        case F_HISTORY:
            rc = get_bool(v, &f->history);
            break;
        case F_COUNT:
            break;
        }
        if (rc != 0) {
            return rc;
        }
    }
    return 0;
}

enum req_key { Q_V, Q_OP, Q_SEQ, Q_TYPE, Q_PAYLOAD, Q_ID, Q_HISTORY, Q_FILTER, Q_RECORDS, Q_COUNT };

static const char *const req_keys[Q_COUNT] = {
    "v", "op", "seq", "type", "payload", "id", "history", "filter", "records",
};

/* Which keys each operation requires, and which it allows beyond those. */
static const struct {
    uint32_t required, optional;
} req_shape[PX_API_OP_MAX + 1] = {
    [PX_API_PUBLISH] = {1u << Q_TYPE | 1u << Q_PAYLOAD, 0},
    [PX_API_GET] = {1u << Q_ID, 1u << Q_HISTORY},
    [PX_API_QUERY] = {1u << Q_FILTER, 0},
    [PX_API_STATUS] = {0, 0},
    [PX_API_EXPORT] = {0, 0},
    [PX_API_IMPORT] = {1u << Q_RECORDS, 0},
    [PX_API_PEERS] = {0, 0},
};

static int
decode_request(const msgpack_object *m, struct px_api_request *req)
{
    const uint32_t base = 1u << Q_V | 1u << Q_OP | 1u << Q_SEQ;
    uint32_t seen = 0, op = 0;
    uint64_t v = 0;
    int rc;

    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *o = &m->via.map.ptr[i].val;
        unsigned k;

        if ((rc = find_key(&m->via.map.ptr[i].key, req_keys, Q_COUNT, &seen, &k)) != 0) {
            return rc;
        }
        switch ((enum req_key)k) {
        case Q_V:
            rc = get_uint(o, &v);
            break;
        case Q_OP:
            rc = get_u32(o, &op);
            break;
        case Q_SEQ:
            rc = get_uint(o, &req->seq);
            break;
        case Q_TYPE:
            rc = get_u32(o, &req->type);
            break;
        case Q_PAYLOAD:
            rc = get_bin(o, &req->payload, &req->payload_len, PX_RECORD_MAX);
            break;
        case Q_ID:
            rc = get_str(o, &req->id, 2 * PX_ID_BYTES);
            if (rc == 0 && req->id.len == 0) {
                rc = PX_EVALUE;
            }
            break;
        case Q_HISTORY:
            rc = get_bool(o, &req->history);
            break;
        case Q_FILTER:
            rc = decode_filter(o, &req->filter);
            break;
        case Q_RECORDS:
            rc = get_records(o, req->records, req->record_lens, &req->n_records);
            break;
        case Q_COUNT:
            break;
        }
        if (rc != 0) {
            return rc;
        }
    }
    /* The version first: a client of another version gets PX_EVERSION, not a shape error. */
    if (!(seen & 1u << Q_V)) {
        return PX_EMISSING;
    }
    if (v != PX_API_VERSION) {
        return PX_EVERSION;
    }
    if ((seen & base) != base) {
        return PX_EMISSING;
    }
    if (op < 1 || op > PX_API_OP_MAX) {
        return PX_EVALUE;
    }
    req->op = (enum px_api_op)op;
    if ((seen & req_shape[op].required) != req_shape[op].required) {
        return PX_EMISSING;
    }
    if (seen & ~(base | req_shape[op].required | req_shape[op].optional)) {
        return PX_EUNKNOWN;
    }
    return 0;
}

int
px_api_request_decode(const uint8_t *p, size_t len, struct px_api_request *req)
{
    msgpack_unpacked u;
    int rc;

    memset(req, 0, sizeof(*req));
    rc = unpack(p, len, &u);
    if (rc == 0) {
        rc = decode_request(&u.data, req);
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

enum res_key {
    R_V,
    R_SEQ,
    R_CODE,
    R_ERROR,
    R_MORE,
    R_RECORDS,
    R_ID,
    R_ACCEPTED,
    R_DUPLICATES,
    R_REJECTED,
    R_NODE,
    R_PEERS,
    R_COUNT
};

static const char *const res_keys[R_COUNT] = {
    "v",  "seq",      "code",       "error",    "more", "records",
    "id", "accepted", "duplicates", "rejected", "node", "peers",
};

enum node_key {
    N_PK,
    N_RECORDS,
    N_CASES,
    N_RETRACTIONS,
    N_BYTES,
    N_UPTIME,
    N_PEERS,
    N_VERSION,
    N_COUNT
};

static const char *const node_keys[N_COUNT] = {
    "public_key", "records", "cases", "retractions", "store_bytes", "uptime_ms", "peers", "version",
};

static int
decode_node(const msgpack_object *o, struct px_api_node_status *s)
{
    uint32_t seen = 0;

    if (o->type != MSGPACK_OBJECT_MAP) {
        return PX_ETYPE;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *v = &o->via.map.ptr[i].val;
        const uint8_t *b;
        size_t blen;
        unsigned k;
        int rc = find_key(&o->via.map.ptr[i].key, node_keys, N_COUNT, &seen, &k);

        if (rc != 0) {
            return rc;
        }
        switch ((enum node_key)k) {
        case N_PK:
            rc = get_bin(v, &b, &blen, sizeof(s->public_key));
            if (rc == 0 && blen != sizeof(s->public_key)) {
                rc = PX_EVALUE;
            }
            if (rc == 0) {
                memcpy(s->public_key, b, blen);
            }
            break;
        case N_RECORDS:
            rc = get_uint(v, &s->records);
            break;
        case N_CASES:
            rc = get_uint(v, &s->cases);
            break;
        case N_RETRACTIONS:
            rc = get_uint(v, &s->retractions);
            break;
        case N_BYTES:
            rc = get_uint(v, &s->store_bytes);
            break;
        case N_UPTIME:
            rc = get_uint(v, &s->uptime_ms);
            break;
        case N_PEERS:
            rc = get_uint(v, &s->peers);
            break;
        case N_VERSION:
            rc = get_str(v, &s->version, 64);
            break;
        case N_COUNT:
            break;
        }
        if (rc != 0) {
            return rc;
        }
    }
    return seen == (1u << N_COUNT) - 1 ? 0 : PX_EMISSING;
}

enum peer_key {
    P_PK,
    P_NAME,
    P_ADDRESS,
    P_DIRECTION,
    P_STATE,
    P_SINCE,
    P_BYTES_IN,
    P_BYTES_OUT,
    P_LAST_ERROR,
    P_LAST_SYNC,
    P_SENT,
    P_RECEIVED,
    P_DUPLICATES,
    P_REJECTED,
    P_PENDING,
    P_COUNT
};

static const char *const peer_keys[P_COUNT] = {
    "public_key", "name",      "address",       "direction", "state",        "since",
    "bytes_in",   "bytes_out", "last_error",    "last_sync", "records_sent", "records_received",
    "duplicates", "rejected",  "pending_wants",
};

static int
decode_peer(const msgpack_object *o, struct px_api_peer *r)
{
    uint32_t seen = 0;

    if (o->type != MSGPACK_OBJECT_MAP) {
        return PX_ETYPE;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *v = &o->via.map.ptr[i].val;
        const uint8_t *b;
        size_t blen;
        unsigned k;
        int rc = find_key(&o->via.map.ptr[i].key, peer_keys, P_COUNT, &seen, &k);

        if (rc != 0) {
            return rc;
        }
        switch ((enum peer_key)k) {
        case P_PK:
            rc = get_bin(v, &b, &blen, sizeof(r->public_key));
            if (rc == 0 && blen != 0 && blen != sizeof(r->public_key)) {
                rc = PX_EVALUE;
            }
            if (rc == 0 && blen != 0) {
                memcpy(r->public_key, b, blen);
                r->has_key = true;
            }
            break;
        case P_NAME:
            rc = get_str(v, &r->name, PX_API_MAX_PEER_NAME);
            break;
        case P_ADDRESS:
            rc = get_str(v, &r->address, PX_API_MAX_PEER_ADDR);
            break;
        case P_DIRECTION:
            rc = get_str(v, &r->direction, PX_API_MAX_PEER_WORD);
            break;
        case P_STATE:
            rc = get_str(v, &r->state, PX_API_MAX_PEER_WORD);
            break;
        case P_SINCE:
            rc = get_uint(v, &r->since_ms);
            break;
        case P_BYTES_IN:
            rc = get_uint(v, &r->bytes_in);
            break;
        case P_BYTES_OUT:
            rc = get_uint(v, &r->bytes_out);
            break;
        case P_LAST_ERROR:
            rc = get_str(v, &r->last_error, PX_API_MAX_PEER_ERROR);
            break;
        case P_LAST_SYNC:
            rc = get_uint(v, &r->last_sync_ms);
            break;
        case P_SENT:
            rc = get_uint(v, &r->records_sent);
            break;
        case P_RECEIVED:
            rc = get_uint(v, &r->records_received);
            break;
        case P_DUPLICATES:
            rc = get_uint(v, &r->duplicates);
            break;
        case P_REJECTED:
            rc = get_uint(v, &r->rejected);
            break;
        case P_PENDING:
            rc = get_uint(v, &r->pending_wants);
            break;
        case P_COUNT:
            break;
        }
        if (rc != 0) {
            return rc;
        }
    }
    return seen == (1u << P_COUNT) - 1 ? 0 : PX_EMISSING;
}

static int
decode_peers(const msgpack_object *o, struct px_api_response *res)
{
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        return PX_ETYPE;
    }
    if (o->via.array.size > PX_API_MAX_PEERS) {
        return PX_ETOOBIG;
    }
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        int rc = decode_peer(&o->via.array.ptr[i], &res->peers[i]);

        if (rc != 0) {
            return rc;
        }
    }
    res->n_peers = o->via.array.size;
    res->has_peers = true;
    return 0;
}

static int
decode_rejected(const msgpack_object *o, struct px_api_response *res)
{
    if (o->type != MSGPACK_OBJECT_ARRAY) {
        return PX_ETYPE;
    }
    if (o->via.array.size > PX_API_MAX_BATCH) {
        return PX_ETOOBIG;
    }
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *pair = &o->via.array.ptr[i];
        int rc;

        if (pair->type != MSGPACK_OBJECT_ARRAY || pair->via.array.size != 2) {
            return PX_ETYPE;
        }
        if ((rc = get_u32(&pair->via.array.ptr[0], &res->rejected[i].index)) != 0 ||
            (rc = get_int32(&pair->via.array.ptr[1], &res->rejected[i].code)) != 0) {
            return rc;
        }
    }
    res->n_rejected = o->via.array.size;
    return 0;
}

static int
decode_response(const msgpack_object *m, struct px_api_response *res)
{
    const uint32_t base = 1u << R_V | 1u << R_SEQ | 1u << R_CODE;
    uint32_t seen = 0;
    uint64_t v = 0;
    int rc;

    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *o = &m->via.map.ptr[i].val;
        const uint8_t *b;
        size_t blen;
        unsigned k;

        if ((rc = find_key(&m->via.map.ptr[i].key, res_keys, R_COUNT, &seen, &k)) != 0) {
            return rc;
        }
        switch ((enum res_key)k) {
        case R_V:
            rc = get_uint(o, &v);
            break;
        case R_SEQ:
            rc = get_uint(o, &res->seq);
            break;
        case R_CODE:
            rc = get_int32(o, &res->code);
            if (rc == 0 && res->code > 0) {
                rc = PX_EVALUE;
            }
            break;
        case R_ERROR:
            rc = get_str(o, &res->error, PX_API_MAX_ERROR);
            break;
        case R_MORE:
            rc = get_bool(o, &res->more);
            break;
        case R_RECORDS:
            rc = get_records(o, res->records, res->record_lens, &res->n_records);
            break;
        case R_ID:
            rc = get_bin(o, &b, &blen, PX_ID_BYTES);
            if (rc == 0 && blen != PX_ID_BYTES) {
                rc = PX_EVALUE;
            }
            if (rc == 0) {
                memcpy(res->id, b, PX_ID_BYTES);
                res->has_id = true;
            }
            break;
        case R_ACCEPTED:
            rc = get_u32(o, &res->accepted);
            break;
        case R_DUPLICATES:
            rc = get_u32(o, &res->duplicates);
            break;
        case R_REJECTED:
            rc = decode_rejected(o, res);
            break;
        case R_NODE:
            rc = decode_node(o, &res->status);
            res->has_status = rc == 0;
            break;
        case R_PEERS:
            rc = decode_peers(o, res);
            break;
        case R_COUNT:
            break;
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (!(seen & 1u << R_V)) {
        return PX_EMISSING;
    }
    if (v != PX_API_VERSION) {
        return PX_EVERSION;
    }
    return (seen & base) == base ? 0 : PX_EMISSING;
}

int
px_api_response_decode(const uint8_t *p, size_t len, struct px_api_response *res)
{
    msgpack_unpacked u;
    int rc;

    memset(res, 0, sizeof(*res));
    rc = unpack(p, len, &u);
    if (rc == 0) {
        rc = decode_response(&u.data, res);
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}
