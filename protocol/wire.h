/* SPDX-License-Identifier: MIT */
/*
 * wire.h - peer messages, carried inside box-stream once the secret handshake is done.
 *
 * The decrypted byte stream between two peers is a sequence of messages, each a 4-byte
 * big-endian length (1 to PX_WIRE_MAX_MSG) followed by one msgpack array whose first
 * element is the message type. Box-stream chunks (at most 4096 bytes) and messages are
 * independent: a message may span chunks and a chunk may end mid-message.
 *
 *   hello     [1, version, features, name]     first message each way, once
 *   announce  [2, [id, ...]]                   "I have these records" (push)
 *   want      [3, [id, ...]]                   "send me these"
 *   records   [4, [record, ...]]               signed records, each as a bin
 *   reconcile [5, negentropy message]          a negentropy v1 message, as a bin
 *   ping      [6, nonce]                       answered by pong with the same nonce
 *   pong      [7, nonce]
 *   bye       [8, code, reason]                the last message before closing
 *
 * Decoding is strict (the canonical profile: shortest forms, no floats, no ext, valid
 * UTF-8, no trailing bytes, exact arity per type), so every message has exactly one
 * encoding, and px_wire_encode of a decoded message gives back the same bytes. Decoding
 * borrows: ids, records and strings in a decoded struct point into the decoded buffer
 * (strings are not NUL-terminated). Encoding writes into caller memory. The record bytes
 * of a records message are not looked into here: the receiver checks each one in full.
 * Which message may come when is the peer manager's business (docs/protocol.md section 10.5).
 */
#ifndef PX_WIRE_H
#define PX_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define PX_WIRE_VERSION       1
#define PX_WIRE_MAX_MSG       (1u << 20)   /* a message body, length prefix excluded */
#define PX_WIRE_MAX_IDS       1024         /* ids in one announce or want */
#define PX_WIRE_MAX_RECORDS   256          /* records in one records message */
#define PX_WIRE_MAX_FEATURES  16           /* feature names in one hello */
#define PX_WIRE_MAX_FEATURE   32           /* bytes of one feature name */
#define PX_WIRE_MAX_NAME      64           /* bytes of a node name */
#define PX_WIRE_MAX_REASON    256          /* bytes of a bye reason */
#define PX_WIRE_MAX_RECONCILE (256u << 10) /* a negentropy message */
/* The largest hello body (every field at its cap): a receiver that has not yet had the
 * peer's hello may refuse any longer first frame before buffering it. */
#define PX_WIRE_MAX_HELLO 620

enum px_wire_type {
    PX_WIRE_HELLO = 1,
    PX_WIRE_ANNOUNCE = 2,
    PX_WIRE_WANT = 3,
    PX_WIRE_RECORDS = 4,
    PX_WIRE_RECONCILE = 5,
    PX_WIRE_PING = 6,
    PX_WIRE_PONG = 7,
    PX_WIRE_BYE = 8,
};

struct px_wire_msg {
    enum px_wire_type type;
    /* hello */
    uint32_t version;
    struct px_str features[PX_WIRE_MAX_FEATURES];
    uint32_t n_features;
    struct px_str name;
    /* announce, want: each id points at its PX_ID_BYTES bytes inside the buffer */
    const uint8_t *ids[PX_WIRE_MAX_IDS];
    uint32_t n_ids;
    /* records */
    const uint8_t *records[PX_WIRE_MAX_RECORDS];
    size_t record_lens[PX_WIRE_MAX_RECORDS];
    uint32_t n_records;
    /* reconcile */
    const uint8_t *neg;
    size_t neg_len;
    /* ping, pong */
    uint64_t nonce;
    /* bye */
    int32_t code; /* 0 or a PX_E* code */
    struct px_str reason;
};

/*
 * Reads a message header: 0 and *len, PX_EPROTO for a zero length, PX_ETOOBIG above
 * PX_WIRE_MAX_MSG. hdr must hold 4 bytes. *len is set in every case (for logging).
 */
int px_wire_frame_len(const uint8_t hdr[4], uint32_t *len);

/*
 * Decodes one message body (without its length prefix) into msg, which borrows p.
 * Returns 0, or the first failure found:
 *   - a walker error (px_mp_check with depth 2, size PX_WIRE_MAX_MSG, str/bin at most
 *     PX_WIRE_MAX_RECONCILE, counts at most PX_WIRE_MAX_IDS): PX_ETRUNC, PX_ETOOBIG,
 *     PX_ECOUNT, PX_EDEPTH, PX_ENONCANON, PX_EFLOAT, PX_EEXT, PX_EUTF8, PX_ETYPE;
 *     PX_ETRAILING for bytes after the message;
 *   - PX_EUNKNOWN: a well-formed array whose first element is a uint other than 1..8.
 *     Nothing else of it is read, so a caller may skip it if it chooses;
 *   - PX_ETYPE: not an array, a type that is not a uint, or an element of the wrong type;
 *   - PX_EVALUE: an empty array, a wrong arity for the type, an id that is not
 *     PX_ID_BYTES long, an empty feature name, a version above UINT32_MAX, a bye code
 *     outside int32_t;
 *   - PX_ETOOBIG: a count or size over its PX_WIRE_MAX_* cap or PX_RECORD_MAX.
 * version, code and the features are not judged here (any version, any code, repeated
 * features): that is the caller's business. On failure msg holds no message.
 */
int px_wire_decode(const uint8_t *p, size_t len, struct px_wire_msg *msg);

/*
 * Encodes msg with its 4-byte length prefix into out[0..cap); *len is the total. Only the
 * fields of msg->type are read; each id must point at PX_ID_BYTES bytes.
 * Returns 0, PX_EINVAL (an unknown type, a field or count over its cap, an empty feature,
 * a string that is not valid UTF-8, a NULL pointer with a non-zero length), PX_ETOOBIG
 * (does not fit in cap, or the body is over PX_WIRE_MAX_MSG). On failure out[0..cap) may
 * have been written to, but *len is not set. An encoded message always decodes.
 */
int px_wire_encode(const struct px_wire_msg *msg, uint8_t *out, size_t cap, size_t *len);

/* "hello", "announce", ... or "unknown". */
const char *px_wire_type_name(enum px_wire_type t);

#endif
