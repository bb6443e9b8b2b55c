/* SPDX-License-Identifier: MIT */
/*
 * fuzz_api.c - the local API decoders (requests and responses).
 *
 * The first byte picks the decoder; the rest is a frame body. Property: whatever decodes
 * re-encodes, and the re-encoded frame decodes to a struct that encodes to the very same
 * bytes (a fixed point after one round), so the codec loses and invents nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
    fprintf(stderr, "fuzz_api: property broken: %s\n", what);
    abort();
}

static void
check_request(const uint8_t *p, size_t n)
{
    struct px_api_request *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    uint8_t *f1 = NULL, *f2 = NULL;
    size_t l1, l2;

    if (a == NULL || b == NULL) {
        abort();
    }
    if (px_api_request_decode(p, n, a) == 0) {
        if (px_api_request_encode(a, &f1, &l1) != 0) {
            fail("a decoded request does not encode");
        }
        if (px_api_request_decode(f1 + 4, l1 - 4, b) != 0) {
            fail("a re-encoded request does not decode");
        }
        if (px_api_request_encode(b, &f2, &l2) != 0 || l1 != l2 || memcmp(f1, f2, l1) != 0) {
            fail("request encoding is not a fixed point");
        }
    }
    free(f1);
    free(f2);
    free(a);
    free(b);
}

static void
check_response(const uint8_t *p, size_t n)
{
    struct px_api_response *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    uint8_t *f1 = NULL, *f2 = NULL;
    size_t l1, l2;

    if (a == NULL || b == NULL) {
        abort();
    }
    if (px_api_response_decode(p, n, a) == 0) {
        /* An import answer with all counts zero is written without them: compare after
         * one round, which is the fixed point. */
        if (px_api_response_encode(a, &f1, &l1) != 0) {
            fail("a decoded response does not encode");
        }
        if (px_api_response_decode(f1 + 4, l1 - 4, b) != 0) {
            fail("a re-encoded response does not decode");
        }
        if (px_api_response_encode(b, &f2, &l2) != 0 || l1 != l2 || memcmp(f1, f2, l1) != 0) {
            fail("response encoding is not a fixed point");
        }
    }
    free(f1);
    free(f2);
    free(a);
    free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > PX_API_MAX_FRAME) {
        return 0;
    }
    if (data[0] & 1) {
        check_response(data + 1, size - 1);
    } else {
        check_request(data + 1, size - 1);
    }
    return 0;
}
