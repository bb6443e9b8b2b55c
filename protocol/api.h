/* SPDX-License-Identifier: MIT */
/*
 * api.h - the local API between praxisd and its clients: request and response frames.
 *
 * A frame is a 4-byte big-endian length followed by that many bytes of one msgpack map.
 * Every frame carries the API version ("v"); a frame of another version is refused with
 * PX_EVERSION. The client picks a sequence number ("seq") per request and the daemon
 * echoes it in every response frame of that request; a streamed answer (query, export)
 * is several response frames with "more" set on all but the last. docs/protocol.md has
 * every key.
 *
 * Decoding is strict (unknown keys, duplicate keys, wrong types and values over their
 * caps are errors) and borrows: string and byte slices in a decoded struct point into the
 * frame that was decoded and are valid only while it is. Encoding allocates the frame
 * (length prefix included) with malloc; the caller frees it.
 */
#ifndef PX_API_H
#define PX_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define PX_API_VERSION 3
/* The largest frame body either side accepts (the length prefix excluded). */
#define PX_API_MAX_FRAME (2u << 20)
/* Records in one import request or one response frame. */
#define PX_API_MAX_BATCH 256
/* Ids, authors and tags in one filter. */
#define PX_API_MAX_FILTER_ITEMS 64
/* A full-text query. */
#define PX_API_MAX_TEXT 512
/* Results one query may ask for. */
#define PX_API_MAX_LIMIT 100000
/* An error message in a response. */
#define PX_API_MAX_ERROR 512
/* Rows of the peer table in one response frame; a longer table takes several frames. */
#define PX_API_MAX_PEERS 64
/* Strings in a peer row. */
#define PX_API_MAX_PEER_NAME  64
#define PX_API_MAX_PEER_ADDR  300
#define PX_API_MAX_PEER_WORD  16 /* direction, state */
#define PX_API_MAX_PEER_ERROR 256

enum px_api_op {
    PX_API_PUBLISH = 1, /* sign and store a case or a retraction */
    PX_API_GET = 2,     /* one record by id or unique id prefix */
    PX_API_QUERY = 3,   /* records matching a filter, optionally followed live */
    PX_API_STATUS = 4,  /* the node's key, counts, store size, uptime */
    PX_API_EXPORT = 5,  /* every record, oldest first */
    PX_API_IMPORT = 6,  /* a batch of signed records to verify and store */
    PX_API_PEERS = 7,   /* the peer table: connections and configured peers */
    PX_API_OP_MAX = 7
};

struct px_api_filter {
    struct px_str ids[PX_API_MAX_FILTER_ITEMS]; /* hex id prefixes, 1..64 digits */
    uint32_t n_ids;
    struct px_str authors[PX_API_MAX_FILTER_ITEMS]; /* hex key prefixes, 1..64 digits */
    uint32_t n_authors;
    uint32_t practice;                           /* 0: any, else enum px_practice */
    struct px_str tags[PX_API_MAX_FILTER_ITEMS]; /* a case must carry all of them */
    uint32_t n_tags;
    struct px_str sector, region, language; /* len 0: any */
    struct px_str text;                     /* full-text query; len 0: none */
    uint64_t since, until;                  /* created, ms, inclusive; 0: unbounded */
    uint32_t limit;                         /* 0: no limit */
    bool follow;                            /* after the stored matches, stream new ones */
    bool history;                           /* include superseded versions */
};

struct px_api_request {
    uint64_t seq;
    enum px_api_op op;
    /* PUBLISH: the record type and its payload map, canonical (see record.h). */
    uint32_t type;
    const uint8_t *payload;
    size_t payload_len;
    /* GET */
    struct px_str id; /* hex prefix, 1..64 digits */
    bool history;     /* also every version in the correction chain */
    /* QUERY */
    struct px_api_filter filter;
    /* IMPORT */
    const uint8_t *records[PX_API_MAX_BATCH];
    size_t record_lens[PX_API_MAX_BATCH];
    uint32_t n_records;
};

struct px_api_rejected {
    uint32_t index; /* position in the import batch */
    int32_t code;   /* PX_E* */
};

struct px_api_node_status {
    uint8_t public_key[PX_SIGN_PUBLICKEYBYTES];
    uint64_t records, cases, retractions;
    uint64_t store_bytes;
    uint64_t uptime_ms;
    uint64_t peers;
    struct px_str version;
};

/* One row of the peer table (PEERS). */
struct px_api_peer {
    bool has_key; /* false: an incoming connection that has not proven a key yet */
    uint8_t public_key[PX_SIGN_PUBLICKEYBYTES];
    struct px_str name;      /* from the peer's hello; may be empty */
    struct px_str address;   /* host:port */
    struct px_str direction; /* "in" or "out" */
    struct px_str state;     /* "connecting", "handshake", "established", "closing", "idle" */
    uint64_t since_ms;       /* wall clock, ms since the epoch, of the last state change */
    uint64_t bytes_in, bytes_out;
    struct px_str last_error; /* may be empty */
    /* Replication with this peer (since this daemon started; kept after the link goes). */
    uint64_t last_sync_ms;     /* wall clock of the last completed reconciliation, 0: never */
    uint64_t records_sent;     /* records we sent it */
    uint64_t records_received; /* records it sent us that we stored */
    uint64_t duplicates;       /* records it sent us that we already held */
    uint64_t rejected;         /* records it sent us that failed the checks */
    uint64_t pending_wants;    /* ids asked from it and not received yet */
};

struct px_api_response {
    uint64_t seq;
    int32_t code;        /* 0 or PX_E* */
    struct px_str error; /* a message when code != 0 (may be empty) */
    bool more;           /* more frames follow for this seq */
    /* GET, QUERY, EXPORT: signed records */
    const uint8_t *records[PX_API_MAX_BATCH];
    size_t record_lens[PX_API_MAX_BATCH];
    uint32_t n_records;
    /* PUBLISH */
    bool has_id;
    uint8_t id[PX_ID_BYTES];
    /* IMPORT */
    uint32_t accepted, duplicates;
    struct px_api_rejected rejected[PX_API_MAX_BATCH];
    uint32_t n_rejected;
    /* STATUS */
    bool has_status;
    struct px_api_node_status status;
    /* PEERS: rows of the peer table (has_peers even when there are none) */
    bool has_peers;
    struct px_api_peer peers[PX_API_MAX_PEERS];
    uint32_t n_peers;
};

/* Reads a frame header: 0 and *len, or PX_ETOOBIG (over PX_API_MAX_FRAME) or PX_EPROTO
 * (a zero length). hdr must hold 4 bytes. */
int px_api_frame_len(const uint8_t hdr[4], uint32_t *len);

/*
 * Encode a request or a response as a whole frame (header included) into a malloc'd
 * buffer: *out and *len. Returns 0, PX_ENOMEM, or PX_ETOOBIG when the frame would exceed
 * PX_API_MAX_FRAME (nothing is allocated then).
 */
int px_api_request_encode(const struct px_api_request *req, uint8_t **out, size_t *len);
int px_api_response_encode(const struct px_api_response *res, uint8_t **out, size_t *len);

/*
 * Decode a frame body (without its 4-byte header). The struct is zeroed first; on error it
 * is left partly filled and must not be used. Returns 0, PX_EVERSION, PX_EUNKNOWN,
 * PX_EDUPKEY, PX_ETYPE, PX_ETOOBIG, PX_EMISSING, PX_EVALUE, PX_ENOMEM, or a walker error.
 */
int px_api_request_decode(const uint8_t *p, size_t len, struct px_api_request *req);
int px_api_response_decode(const uint8_t *p, size_t len, struct px_api_response *res);

/* "publish", "get", ... or "unknown". */
const char *px_api_op_name(enum px_api_op op);

#endif
