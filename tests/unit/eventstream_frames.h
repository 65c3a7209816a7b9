/*
 * eventstream_frames.h — for the unit tests of the event-stream decoder and of
 * the InvokeAgent layer on it: an independent little encoder whose CRCs come
 * from zlib (checked in eventstream_test.c against the published vectors: the
 * empty message of aws-c-event-stream, and chunk and exception messages that
 * @smithy/eventstream-codec decodes byte-identically), and those vectors.
 *
 * Header-only (static functions), included by one test file at a time.
 */
#ifndef TWOWAYD_TEST_EVENTSTREAM_FRAMES_H
#define TWOWAYD_TEST_EVENTSTREAM_FRAMES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "common.h"

/* ---- a growable byte buffer and an independent encoder ---------------------- */

struct bytes {
        uint8_t *p;
        size_t n, cap;
};

static inline void bytes_done(struct bytes *b)
{
        free(b->p);
        *b = (struct bytes){0};
}

static inline void put(struct bytes *b, const void *data, size_t n)
{
        if (b->n + n > b->cap) {
                b->cap = MAX(b->cap * 2, b->n + n + 64);
                b->p = realloc(b->p, b->cap);
                assert_non_null(b->p);
        }
        if (n)
                memcpy(b->p + b->n, data, n);
        b->n += n;
}

static inline void put_u8(struct bytes *b, uint8_t v)
{
        put(b, &v, 1);
}

static inline void put_be(struct bytes *b, uint64_t v, unsigned width)
{
        for (unsigned i = width; i > 0; i--)
                put_u8(b, (uint8_t)(v >> (8 * (i - 1))));
}

static inline void hdr_name(struct bytes *h, const char *name, uint8_t type)
{
        put_u8(h, (uint8_t)strlen(name));
        put(h, name, strlen(name));
        put_u8(h, type);
}

static inline void hdr_str(struct bytes *h, const char *name, const char *value)
{
        hdr_name(h, name, 7);
        put_be(h, strlen(value), 2);
        put(h, value, strlen(value));
}

static inline uint32_t zcrc(const uint8_t *p, size_t n)
{
        return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

/* Append one complete message to out. */
static inline void frame(struct bytes *out, const struct bytes *headers, const void *payload,
                         size_t plen)
{
        size_t start = out->n;
        size_t hlen = headers ? headers->n : 0;
        uint32_t total = (uint32_t)(16 + hlen + plen);

        put_be(out, total, 4);
        put_be(out, hlen, 4);
        put_be(out, zcrc(out->p + start, 8), 4);
        if (hlen)
                put(out, headers->p, hlen);
        put(out, payload, plen);
        put_be(out, zcrc(out->p + start, out->n - start), 4);
}

static inline struct bytes unhex(const char *hex)
{
        struct bytes b = {0};

        for (size_t i = 0; hex[i]; i += 2) {
                unsigned v;

                assert_int_equal(sscanf(hex + i, "%2x", &v), 1);
                put_u8(&b, (uint8_t)v);
        }
        return b;
}

static inline void event_headers(struct bytes *h, const char *event_type)
{
        hdr_str(h, ":event-type", event_type);
        hdr_str(h, ":content-type", "application/json");
        hdr_str(h, ":message-type", "event");
}

/* A chunk event carrying raw bytes (base64-encoded here with OpenSSL). */
static inline void chunk_frame(struct bytes *out, const void *raw, size_t n)
{
        struct bytes h = {0};
        char *b64 = malloc(4 * ((n + 2) / 3) + 1);
        char *json = NULL;
        int len;

        assert_non_null(b64);
        EVP_EncodeBlock((unsigned char *)b64, raw, (int)n);
        len = asprintf(&json, "{\"bytes\":\"%s\"}", b64);
        assert_true(len > 0);
        event_headers(&h, "chunk");
        frame(out, &h, json, (size_t)len);
        free(json);
        free(b64);
        bytes_done(&h);
}

static inline void chunk_json_frame(struct bytes *out, const char *json)
{
        struct bytes h = {0};

        event_headers(&h, "chunk");
        frame(out, &h, json, strlen(json));
        bytes_done(&h);
}

static inline void exception_frame(struct bytes *out, const char *type, const char *json)
{
        struct bytes h = {0};

        hdr_str(&h, ":exception-type", type);
        hdr_str(&h, ":content-type", "application/json");
        hdr_str(&h, ":message-type", "exception");
        frame(out, &h, json, json ? strlen(json) : 0);
        bytes_done(&h);
}

static inline void error_frame(struct bytes *out, const char *code, const char *message)
{
        struct bytes h = {0};

        hdr_str(&h, ":message-type", "error");
        if (code)
                hdr_str(&h, ":error-code", code);
        if (message)
                hdr_str(&h, ":error-message", message);
        frame(out, &h, NULL, 0);
        bytes_done(&h);
}

static const char chunk_vector[] =
        "0000006f0000004b9f4ea7ed0b3a6576656e742d747970650700056368756e6b0d3a636f6e74656e742d7479"
        "70650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b"
        "226279746573223a22534756736247383d227d0b6e5dde";
static const char exception_vector[] =
        "0000008c000000612b81d3340f3a657863657074696f6e2d747970650700137468726f74746c696e67457863"
        "657074696f6e0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573"
        "736167652d74797065070009657863657074696f6e7b226d657373616765223a22526174652065786365656465"
        "64"
        "227db95ad7de";

#endif
