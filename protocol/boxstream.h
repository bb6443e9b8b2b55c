/* SPDX-License-Identifier: MIT */
/*
 * boxstream.h - box-stream framing (pull-box-stream 1.0.x compatible), pure.
 *
 * After the secret handshake each direction is a box-stream under the key and starting
 * nonce the handshake gave (shs.h). A frame is a 34-byte header and a body:
 *
 *   header = secretbox(len_be16 || body_mac[16], nonce n)      2 + 16 + 16 MAC = 34 bytes
 *   body   = secretbox(plaintext, nonce n + 1) without its MAC  len bytes, 1..4096
 *
 * and the next frame uses n + 2. The stream ends with a goodbye: a header whose plaintext
 * is 18 zero bytes, sealed with the next header nonce. "+" is a big-endian increment of the
 * 24-byte nonce that wraps from all-0xff to zero (libsodium's sodium_increment is
 * little-endian and would not interoperate). docs/protocol.md section 9 has the details.
 *
 * The opener is stricter than the JS reference, which accepts any length up to 65535, a
 * zero-length frame, and bytes after the goodbye: here a length above
 * PX_BOXSTREAM_MAX_BODY is PX_ETOOBIG, a zero length (not a goodbye) is PX_EPROTO, and a
 * byte after the goodbye is PX_ETRAILING. Every failure is final: the opener refuses
 * everything after it, and the caller closes the connection.
 *
 * Sealer and opener are plain structs the caller embeds; they hold a key, so end them with
 * their _fini. Their fields are private to boxstream.c.
 */
#ifndef PX_BOXSTREAM_H
#define PX_BOXSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_BOXSTREAM_KEY_BYTES    32
#define PX_BOXSTREAM_NONCE_BYTES  24
#define PX_BOXSTREAM_MAC_BYTES    16
#define PX_BOXSTREAM_HEADER_BYTES 34   /* secretbox of 18 bytes: 2 + 16 + 16 */
#define PX_BOXSTREAM_MAX_BODY     4096 /* the most plaintext one frame carries */
#define PX_BOXSTREAM_MAX_FRAME    (PX_BOXSTREAM_HEADER_BYTES + PX_BOXSTREAM_MAX_BODY)

/* Static reasons an opener gives for its failure (px_boxstream_opener_why). */
#define PX_BOXSTREAM_WHY_HEADER   "box-stream header does not authenticate"
#define PX_BOXSTREAM_WHY_BODY     "box-stream body does not authenticate"
#define PX_BOXSTREAM_WHY_TOOBIG   "box-stream frame longer than 4096 bytes"
#define PX_BOXSTREAM_WHY_ZERO     "box-stream frame of length zero"
#define PX_BOXSTREAM_WHY_TRAILING "bytes after the box-stream goodbye"
#define PX_BOXSTREAM_WHY_EOF      "box-stream ended before its goodbye"

struct px_boxstream_sealer {
    uint8_t key[PX_BOXSTREAM_KEY_BYTES]; /* secret */
    uint8_t nonce[PX_BOXSTREAM_NONCE_BYTES];
    bool closed; /* the goodbye was sealed */
};

struct px_boxstream_opener {
    int step;
    int err;                             /* the error that failed the opener, or 0 */
    const char *why;                     /* static reason of that error, or NULL */
    bool feeding;                        /* px_boxstream_feed is in use */
    uint8_t key[PX_BOXSTREAM_KEY_BYTES]; /* secret */
    uint8_t nonce[PX_BOXSTREAM_NONCE_BYTES];
    size_t body_len;                          /* from the last header opened */
    uint8_t body_mac[PX_BOXSTREAM_MAC_BYTES]; /* from the last header opened */
    size_t have;                              /* px_boxstream_feed: bytes in buf */
    uint8_t buf[PX_BOXSTREAM_MAX_BODY];       /* px_boxstream_feed: a header or a body */
};

/* What one px_boxstream_feed call produced. */
enum px_boxstream_event {
    PX_BOXSTREAM_NEED_MORE = 0, /* every byte given was consumed; no frame completed */
    PX_BOXSTREAM_CHUNK,         /* a frame opened: its plaintext is in *chunk */
    PX_BOXSTREAM_GOODBYE,       /* the goodbye opened: the stream ended cleanly */
};

/* The bytes that px_boxstream_seal writes for len bytes of plaintext. */
#define PX_BOXSTREAM_FRAME_BYTES(len) (PX_BOXSTREAM_HEADER_BYTES + (len))

/* Starts a sealer (the sending side) with a key and starting nonce, both copied. */
void px_boxstream_sealer_init(struct px_boxstream_sealer *s,
                              const uint8_t key[PX_BOXSTREAM_KEY_BYTES],
                              const uint8_t nonce[PX_BOXSTREAM_NONCE_BYTES]);

/*
 * Seals in[0..len) as one frame into out[0..cap), sets *out_len = 34 + len. len must be
 * 1..PX_BOXSTREAM_MAX_BODY: a writer splits longer writes into 4096-byte pieces and sends
 * nothing for an empty write, as the reference does. in and out must not overlap.
 * 0; PX_EINVAL (len 0, or after the goodbye); PX_ETOOBIG (len > 4096 or cap too small).
 * On error nothing is written and the nonce does not move.
 */
int px_boxstream_seal(struct px_boxstream_sealer *s, const uint8_t *in, size_t len, uint8_t *out,
                      size_t cap, size_t *out_len);

/* Seals the goodbye into out; afterwards the sealer refuses to seal. 0 or PX_EINVAL. */
int px_boxstream_seal_goodbye(struct px_boxstream_sealer *s,
                              uint8_t out[PX_BOXSTREAM_HEADER_BYTES]);

/* Wipes the sealer's key. */
void px_boxstream_sealer_fini(struct px_boxstream_sealer *s);

/* Starts an opener (the receiving side) with a key and starting nonce, both copied. */
void px_boxstream_opener_init(struct px_boxstream_opener *o,
                              const uint8_t key[PX_BOXSTREAM_KEY_BYTES],
                              const uint8_t nonce[PX_BOXSTREAM_NONCE_BYTES]);

/*
 * Frame by frame, for a caller that buffers the stream itself. Opens a 34-byte header: on
 * 0, either *goodbye is true (the stream ended; the opener accepts nothing more) or
 * *body_len (1..4096) bytes of body follow, to be passed to px_boxstream_open_body.
 * PX_EPROTO (does not authenticate, or length zero), PX_ETOOBIG (length > 4096), PX_EINVAL
 * (out of turn: a body is due, the stream ended, or px_boxstream_feed holds bytes).
 */
int px_boxstream_open_header(struct px_boxstream_opener *o,
                             const uint8_t in[PX_BOXSTREAM_HEADER_BYTES], size_t *body_len,
                             bool *goodbye);

/*
 * Opens the body announced by the last header: in[0..len) with len == *body_len, plaintext
 * into out[0..len). out may equal in (in place) but must not overlap it otherwise.
 * 0, PX_EPROTO (does not authenticate), PX_EINVAL (out of turn or another length).
 */
int px_boxstream_open_body(struct px_boxstream_opener *o, const uint8_t *in, size_t len,
                           uint8_t *out);

/*
 * Incremental: consumes bytes of in[0..len) (as many as are there, or up to the end of the
 * frame that completes) and reports at most one event; *used says how many were consumed.
 * Call again with the rest after an event. On PX_BOXSTREAM_CHUNK, *chunk and *chunk_len
 * give the plaintext, borrowed from the opener until its next call. After the goodbye, any
 * further byte is PX_ETRAILING (a call with len 0 reports the goodbye again).
 * Errors as for the frame functions, plus PX_ETRAILING; every error is final.
 * Do not mix with px_boxstream_open_header/_body on one opener.
 */
int px_boxstream_feed(struct px_boxstream_opener *o, const uint8_t *in, size_t len, size_t *used,
                      enum px_boxstream_event *ev, const uint8_t **chunk, size_t *chunk_len);

/*
 * The input ended (the peer closed): 0 when the goodbye had arrived, PX_ETRUNC when the
 * stream stopped at or inside a frame before it, or the earlier error if there was one.
 * Afterwards the opener is finished either way.
 */
int px_boxstream_opener_end(struct px_boxstream_opener *o);

/* True once the goodbye has opened. */
bool px_boxstream_opener_done(const struct px_boxstream_opener *o);

/* The static reason of the opener's failure (one of PX_BOXSTREAM_WHY_*), or NULL. */
const char *px_boxstream_opener_why(const struct px_boxstream_opener *o);

/* Wipes the opener's key and buffered bytes. */
void px_boxstream_opener_fini(struct px_boxstream_opener *o);

/* Adds 1 to a 24-byte nonce read as a big-endian number, wrapping at 2^192. */
void px_boxstream_nonce_increment(uint8_t nonce[PX_BOXSTREAM_NONCE_BYTES]);

#endif
