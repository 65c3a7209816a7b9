/*
 * eventstream_test.c — the event-stream decoder (eventstream.c) and the
 * InvokeAgent layer on top of it (agent_stream.c).
 *
 * Frames are built here with an independent little encoder whose CRCs come
 * from zlib; it is itself checked against the published vectors (the empty
 * message of aws-c-event-stream, and chunk and exception messages that
 * @smithy/eventstream-codec decodes byte-identically).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "agent_stream.h"
#include "common.h"
#include "eventstream.h"
#include "utf8.h"

/* ---- a growable byte buffer and an independent encoder ---------------------- */

struct bytes {
        uint8_t *p;
        size_t n, cap;
};

static void bytes_done(struct bytes *b)
{
        free(b->p);
        *b = (struct bytes){0};
}

static void put(struct bytes *b, const void *data, size_t n)
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

static void put_u8(struct bytes *b, uint8_t v)
{
        put(b, &v, 1);
}

static void put_be(struct bytes *b, uint64_t v, unsigned width)
{
        for (unsigned i = width; i > 0; i--)
                put_u8(b, (uint8_t)(v >> (8 * (i - 1))));
}

static void hdr_name(struct bytes *h, const char *name, uint8_t type)
{
        put_u8(h, (uint8_t)strlen(name));
        put(h, name, strlen(name));
        put_u8(h, type);
}

static void hdr_str(struct bytes *h, const char *name, const char *value)
{
        hdr_name(h, name, 7);
        put_be(h, strlen(value), 2);
        put(h, value, strlen(value));
}

static uint32_t zcrc(const uint8_t *p, size_t n)
{
        return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

/* Append one complete message to out. */
static void frame(struct bytes *out, const struct bytes *headers, const void *payload, size_t plen)
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

static struct bytes unhex(const char *hex)
{
        struct bytes b = {0};

        for (size_t i = 0; hex[i]; i += 2) {
                unsigned v;

                assert_int_equal(sscanf(hex + i, "%2x", &v), 1);
                put_u8(&b, (uint8_t)v);
        }
        return b;
}

static void event_headers(struct bytes *h, const char *event_type)
{
        hdr_str(h, ":event-type", event_type);
        hdr_str(h, ":content-type", "application/json");
        hdr_str(h, ":message-type", "event");
}

/* A chunk event carrying raw bytes (base64-encoded here with OpenSSL). */
static void chunk_frame(struct bytes *out, const void *raw, size_t n)
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

static void chunk_json_frame(struct bytes *out, const char *json)
{
        struct bytes h = {0};

        event_headers(&h, "chunk");
        frame(out, &h, json, strlen(json));
        bytes_done(&h);
}

static void exception_frame(struct bytes *out, const char *type, const char *json)
{
        struct bytes h = {0};

        hdr_str(&h, ":exception-type", type);
        hdr_str(&h, ":content-type", "application/json");
        hdr_str(&h, ":message-type", "exception");
        frame(out, &h, json, json ? strlen(json) : 0);
        bytes_done(&h);
}

static void error_frame(struct bytes *out, const char *code, const char *message)
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

static struct eventstream_decoder *decoder(size_t max)
{
        struct eventstream_decoder *d = NULL;

        assert_int_equal(eventstream_decoder_new(max, &d), 0);
        assert_non_null(d);
        return d;
}

/* Feed a whole buffer in one call sequence; expect exactly one message. */
static int feed_one(struct eventstream_decoder *d, const struct bytes *b,
                    struct eventstream_message *m)
{
        size_t used = 0;
        int r = eventstream_decoder_feed(d, b->p, b->n, &used, m);

        if (r == 1)
                assert_int_equal(used, b->n);
        return r;
}

static bool payload_is(const struct eventstream_message *m, const char *s)
{
        return m->payload_len == strlen(s) &&
               (m->payload_len == 0 || memcmp(m->payload, s, m->payload_len) == 0);
}

/* ---- framing: vectors ------------------------------------------------------- */

static void test_empty_message_vector(void **state)
{
        struct bytes v = unhex("000000100000000005c248eb7d98c8ff"), mine = {0};
        struct eventstream_decoder *d = decoder(0);
        struct eventstream_message m;

        frame(&mine, NULL, NULL, 0);
        assert_int_equal(mine.n, v.n);
        assert_memory_equal(mine.p, v.p, v.n);

        assert_int_equal(feed_one(d, &v, &m), 1);
        assert_int_equal(m.n_headers, 0);
        assert_int_equal(m.payload_len, 0);
        assert_null(m.payload);
        assert_int_equal(m.total_length, 16);
        assert_int_equal(eventstream_decoder_finish(d), 0);
        eventstream_decoder_free(d);
        bytes_done(&v);
        bytes_done(&mine);
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

static void test_chunk_vector(void **state)
{
        struct bytes v = unhex(chunk_vector), mine = {0};
        struct eventstream_decoder *d = decoder(0);
        struct eventstream_message m;
        const struct eventstream_header *h;

        chunk_json_frame(&mine, "{\"bytes\":\"SGVsbG8=\"}");
        assert_int_equal(mine.n, 111);
        assert_memory_equal(mine.p, v.p, v.n);

        assert_int_equal(feed_one(d, &v, &m), 1);
        assert_int_equal(m.n_headers, 3);
        h = eventstream_message_header(&m, ":event-type");
        assert_non_null(h);
        assert_int_equal(h->type, EVENTSTREAM_HEADER_STRING);
        assert_true(eventstream_header_string_is(h, "chunk"));
        assert_false(eventstream_header_string_is(h, "chun"));
        assert_false(eventstream_header_string_is(h, "chunks"));
        assert_true(eventstream_header_string_is(eventstream_message_header(&m, ":message-type"),
                                                 "event"));
        assert_null(eventstream_message_header(&m, ":exception-type"));
        assert_null(eventstream_message_header(&m, ":EVENT-TYPE"));
        assert_true(payload_is(&m, "{\"bytes\":\"SGVsbG8=\"}"));
        eventstream_decoder_free(d);
        bytes_done(&v);
        bytes_done(&mine);
}

/* ---- framing: every header type -------------------------------------------- */

static void test_every_header_type(void **state)
{
        static const uint8_t uuid[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                         0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
        struct bytes h = {0}, f = {0};
        struct eventstream_decoder *d = decoder(0);
        struct eventstream_message m;
        const struct eventstream_header *x;

        hdr_name(&h, "t", 0);
        hdr_name(&h, "f", 1);
        hdr_name(&h, "byte", 2);
        put_u8(&h, 0xfe); /* -2 */
        hdr_name(&h, "i16", 3);
        put_be(&h, 0x8001, 2); /* -32767 */
        hdr_name(&h, "i32", 4);
        put_be(&h, 0x7fffffff, 4);
        hdr_name(&h, "i64", 5);
        put_be(&h, UINT64_C(0xfffffffffffffffe), 8); /* -2 */
        hdr_name(&h, "bin", 6);
        put_be(&h, 3, 2);
        put(&h, "\x00\xff\x10", 3);
        hdr_name(&h, "empty", 6);
        put_be(&h, 0, 2);
        hdr_name(&h, "str", 7);
        put_be(&h, 5, 2);
        put(&h, "h\xc3\xa9llo", 5);
        hdr_name(&h, "ts", 8);
        put_be(&h, UINT64_C(1795871109000), 8);
        hdr_name(&h, "id", 9);
        put(&h, uuid, 16);
        frame(&f, &h, "payload", 7);

        assert_int_equal(feed_one(d, &f, &m), 1);
        assert_int_equal(m.n_headers, 11);
        assert_true(payload_is(&m, "payload"));

        x = eventstream_message_header(&m, "t");
        assert_int_equal(x->type, EVENTSTREAM_HEADER_BOOL_TRUE);
        assert_true(x->value.boolean);
        x = eventstream_message_header(&m, "f");
        assert_int_equal(x->type, EVENTSTREAM_HEADER_BOOL_FALSE);
        assert_false(x->value.boolean);
        x = eventstream_message_header(&m, "byte");
        assert_int_equal(x->type, EVENTSTREAM_HEADER_BYTE);
        assert_int_equal(x->value.byte, -2);
        x = eventstream_message_header(&m, "i16");
        assert_int_equal(x->type, EVENTSTREAM_HEADER_INT16);
        assert_int_equal(x->value.int16, -32767);
        x = eventstream_message_header(&m, "i32");
        assert_int_equal(x->type, EVENTSTREAM_HEADER_INT32);
        assert_int_equal(x->value.int32, INT32_MAX);
        x = eventstream_message_header(&m, "i64");
        assert_int_equal(x->type, EVENTSTREAM_HEADER_INT64);
        assert_true(x->value.int64 == -2);
        x = eventstream_message_header(&m, "bin");
        assert_int_equal(x->type, EVENTSTREAM_HEADER_BYTES);
        assert_int_equal(x->value.bytes.len, 3);
        assert_memory_equal(x->value.bytes.data, "\x00\xff\x10", 3);
        assert_false(eventstream_header_string_is(x, "\x00\xff\x10"));
        x = eventstream_message_header(&m, "empty");
        assert_int_equal(x->type, EVENTSTREAM_HEADER_BYTES);
        assert_int_equal(x->value.bytes.len, 0);
        x = eventstream_message_header(&m, "str");
        assert_int_equal(x->type, EVENTSTREAM_HEADER_STRING);
        assert_true(eventstream_header_string_is(x, "h\xc3\xa9ll"));
        x = eventstream_message_header(&m, "ts");
        assert_int_equal(x->type, EVENTSTREAM_HEADER_TIMESTAMP);
        assert_true(x->value.int64 == INT64_C(1795871109000));
        x = eventstream_message_header(&m, "id");
        assert_int_equal(x->type, EVENTSTREAM_HEADER_UUID);
        assert_memory_equal(x->value.uuid, uuid, 16);

        eventstream_decoder_free(d);
        bytes_done(&h);
        bytes_done(&f);
}

/* ---- framing: split feeding ------------------------------------------------- */

/* Three messages back to back: the chunk vector, one with every kind of size
 * field, and an empty one. */
static struct bytes three_messages(void)
{
        struct bytes all = unhex(chunk_vector), h = {0};

        hdr_str(&h, "k", "v");
        hdr_name(&h, "n", 4);
        put_be(&h, 42, 4);
        frame(&all, &h, "second", 6);
        frame(&all, NULL, NULL, 0);
        bytes_done(&h);
        return all;
}

static void check_three(struct eventstream_message *m, unsigned i)
{
        switch (i) {
        case 0:
                assert_int_equal(m->n_headers, 3);
                assert_true(payload_is(m, "{\"bytes\":\"SGVsbG8=\"}"));
                break;
        case 1:
                assert_int_equal(m->n_headers, 2);
                assert_true(eventstream_header_string_is(eventstream_message_header(m, "k"), "v"));
                assert_int_equal(eventstream_message_header(m, "n")->value.int32, 42);
                assert_true(payload_is(m, "second"));
                break;
        case 2:
                assert_int_equal(m->n_headers, 0);
                assert_int_equal(m->payload_len, 0);
                break;
        default:
                fail_msg("unexpected message %u", i);
        }
}

/* Feed one slice completely, checking every message that comes out. */
static void feed_slice(struct eventstream_decoder *d, const uint8_t *p, size_t n, unsigned *count)
{
        while (n > 0) {
                struct eventstream_message m;
                size_t used = SIZE_MAX;
                int r = eventstream_decoder_feed(d, p, n, &used, &m);

                assert_true(r == 0 || r == 1);
                assert_true(used <= n);
                if (r == 1)
                        check_three(&m, (*count)++);
                else
                        assert_int_equal(used, n);
                p += used;
                n -= used;
        }
}

static void test_split_at_every_offset(void **state)
{
        struct bytes all = three_messages();

        for (size_t cut = 0; cut <= all.n; cut++) {
                struct eventstream_decoder *d = decoder(0);
                unsigned count = 0;

                feed_slice(d, all.p, cut, &count);
                if (cut < all.n)
                        assert_int_equal(eventstream_decoder_finish(d),
                                         eventstream_decoder_pending(d) ? -EPIPE : 0);
                feed_slice(d, all.p + cut, all.n - cut, &count);
                assert_int_equal(count, 3);
                assert_int_equal(eventstream_decoder_finish(d), 0);
                assert_int_equal(eventstream_decoder_pending(d), 0);
                eventstream_decoder_free(d);
        }
        bytes_done(&all);
}

static void test_split_two_cuts_and_bytewise(void **state)
{
        struct bytes all = three_messages();
        struct eventstream_decoder *d;
        unsigned count;

        /* Two cuts at every pair of offsets inside the first two messages. */
        for (size_t a = 0; a < 140; a += 3)
                for (size_t b = a; b < all.n; b += 7) {
                        d = decoder(0);
                        count = 0;
                        feed_slice(d, all.p, a, &count);
                        feed_slice(d, all.p + a, b - a, &count);
                        feed_slice(d, all.p + b, all.n - b, &count);
                        assert_int_equal(count, 3);
                        assert_int_equal(eventstream_decoder_finish(d), 0);
                        eventstream_decoder_free(d);
                }

        /* One byte at a time. */
        d = decoder(0);
        count = 0;
        for (size_t i = 0; i < all.n; i++)
                feed_slice(d, all.p + i, 1, &count);
        assert_int_equal(count, 3);
        eventstream_decoder_free(d);
        bytes_done(&all);
}

static void test_feed_reports_consumed(void **state)
{
        struct bytes all = three_messages();
        struct eventstream_decoder *d = decoder(0);
        struct eventstream_message m;
        size_t used;

        assert_int_equal(eventstream_decoder_feed(d, all.p, all.n, &used, &m), 1);
        assert_int_equal(used, 111);
        assert_int_equal(eventstream_decoder_feed(d, all.p + 111, all.n - 111, &used, &m), 1);
        assert_true(payload_is(&m, "second"));
        assert_int_equal(eventstream_decoder_feed(d, NULL, 0, &used, &m), 0);
        assert_int_equal(used, 0);
        eventstream_decoder_free(d);
        bytes_done(&all);
}

/* ---- framing: errors --------------------------------------------------------- */

static void expect_error(const struct bytes *b, size_t max, int want)
{
        struct eventstream_decoder *d = decoder(max);
        struct eventstream_message m;
        size_t used = 12345;

        assert_int_equal(eventstream_decoder_feed(d, b->p, b->n, &used, &m), want);
        assert_int_equal(used, 12345); /* not written on failure */
        /* Sticky, and reported again at end of stream. */
        assert_int_equal(eventstream_decoder_feed(d, b->p, b->n, &used, &m), want);
        assert_int_equal(eventstream_decoder_finish(d), want);
        eventstream_decoder_free(d);
}

static void test_corrupt_prelude_crc(void **state)
{
        struct bytes v = unhex(chunk_vector);

        v.p[8] ^= 0x01;
        expect_error(&v, 0, -EBADMSG);
        v.p[8] ^= 0x01;
        v.p[3] ^= 0x10; /* total length changed, prelude CRC now wrong */
        expect_error(&v, 0, -EBADMSG);
        bytes_done(&v);
}

static void test_corrupt_message_crc(void **state)
{
        struct bytes v = unhex(chunk_vector);

        v.p[v.n - 1] ^= 0x80;
        expect_error(&v, 0, -EBADMSG);
        v.p[v.n - 1] ^= 0x80;
        v.p[100] ^= 0x04; /* a payload byte */
        expect_error(&v, 0, -EBADMSG);
        v.p[100] ^= 0x04;
        v.p[20] ^= 0x04; /* a header byte */
        expect_error(&v, 0, -EBADMSG);
        bytes_done(&v);
}

/* A prelude with a correct CRC over arbitrary lengths. */
static struct bytes prelude(uint32_t total, uint32_t hlen)
{
        struct bytes b = {0};

        put_be(&b, total, 4);
        put_be(&b, hlen, 4);
        put_be(&b, zcrc(b.p, 8), 4);
        return b;
}

static void test_bad_lengths(void **state)
{
        struct bytes b;

        for (uint32_t total = 0; total < 16; total++) {
                b = prelude(total, 0);
                expect_error(&b, 0, -EBADMSG);
                bytes_done(&b);
        }
        b = prelude(32, 17); /* headers would eat the CRC */
        expect_error(&b, 0, -EBADMSG);
        bytes_done(&b);
        b = prelude(UINT32_MAX, UINT32_MAX);
        expect_error(&b, 0, -EMSGSIZE);
        bytes_done(&b);
}

static void test_oversize(void **state)
{
        struct bytes b = {0}, p;
        struct eventstream_decoder *d;
        struct eventstream_message m;
        char payload[48] = {0};

        frame(&b, NULL, payload, 48); /* total 64 */
        d = decoder(64);
        assert_int_equal(feed_one(d, &b, &m), 1);
        assert_int_equal(m.payload_len, 48);
        eventstream_decoder_free(d);
        expect_error(&b, 63, -EMSGSIZE);
        bytes_done(&b);

        /* Default limit: 16 MiB is allowed, one byte more is not — decided from
         * the prelude alone, before anything of that size is allocated. */
        p = prelude(EVENTSTREAM_MAX_MESSAGE_DEF + 1, 0);
        expect_error(&p, 0, -EMSGSIZE);
        bytes_done(&p);
        p = prelude(EVENTSTREAM_MAX_MESSAGE_DEF, 0);
        d = decoder(0);
        {
                size_t used;

                assert_int_equal(eventstream_decoder_feed(d, p.p, p.n, &used, &m), 0);
                assert_int_equal(eventstream_decoder_finish(d), -EPIPE);
        }
        eventstream_decoder_free(d);
        bytes_done(&p);

        assert_int_equal(eventstream_decoder_new(15, &d), -EINVAL);
        assert_int_equal(eventstream_decoder_new(16, &d), 0);
        eventstream_decoder_free(d);
}

static void test_truncated(void **state)
{
        struct bytes v = unhex(chunk_vector);

        for (size_t n = 0; n <= v.n; n++) {
                struct eventstream_decoder *d = decoder(0);
                struct eventstream_message m;
                size_t used;
                int r = eventstream_decoder_feed(d, v.p, n, &used, &m);

                assert_int_equal(r, n == v.n ? 1 : 0);
                assert_int_equal(eventstream_decoder_finish(d), (n == 0 || n == v.n) ? 0 : -EPIPE);
                assert_int_equal(eventstream_decoder_pending(d), n == v.n ? 0 : n);
                eventstream_decoder_free(d);
        }
        bytes_done(&v);
}

/* A frame with a valid CRC around a malformed header block. */
static void expect_bad_headers(const void *hdr, size_t n, int want)
{
        struct bytes h = {0}, f = {0};

        put(&h, hdr, n);
        frame(&f, &h, "x", 1);
        expect_error(&f, 0, want);
        bytes_done(&h);
        bytes_done(&f);
}

static void test_malformed_headers(void **state)
{
        expect_bad_headers("\x00\x07\x00\x00", 4, -EBADMSG);      /* empty name */
        expect_bad_headers("\x01k\x0a", 3, -EBADMSG);             /* unknown type 10 */
        expect_bad_headers("\x01k\xff", 3, -EBADMSG);             /* unknown type 255 */
        expect_bad_headers("\x05k", 2, -EBADMSG);                 /* name past the block */
        expect_bad_headers("\x01k", 2, -EBADMSG);                 /* no type byte */
        expect_bad_headers("\x01k\x04\x00\x00\x01", 6, -EBADMSG); /* int32 cut short */
        expect_bad_headers("\x01k\x05\x00\x00\x00\x00\x00\x00\x00", 10, -EBADMSG); /* int64 */
        expect_bad_headers("\x01k\x09\x00\x00", 5, -EBADMSG);         /* uuid cut short */
        expect_bad_headers("\x01k\x07\x00", 4, -EBADMSG);             /* half a length */
        expect_bad_headers("\x01k\x07\x00\x05\x61\x62", 7, -EBADMSG); /* string past block */
        expect_bad_headers("\x01k\x06\xff\xff\x61", 6, -EBADMSG);     /* bytes past block */
        expect_bad_headers("\x01k\x00\x00", 4, -EBADMSG);             /* trailing junk */
}

static void test_parse_headers_direct(void **state)
{
        struct eventstream_header out[2];
        size_t n = 99;

        assert_int_equal(eventstream_parse_headers((const uint8_t *)"", 0, out, 2, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(eventstream_parse_headers((const uint8_t *)"\x01"
                                                                    "a\x00\x01"
                                                                    "b\x01",
                                                   6, out, 2, &n),
                         0);
        assert_int_equal(n, 2);
        assert_true(out[0].value.boolean);
        assert_false(out[1].value.boolean);
        assert_int_equal(out[1].name_len, 1);
        assert_memory_equal(out[1].name, "b", 1);
        assert_int_equal(eventstream_parse_headers((const uint8_t *)"\x01"
                                                                    "a\x00\x01"
                                                                    "b\x01",
                                                   6, out, 1, &n),
                         -EMSGSIZE);
}

static void test_too_many_headers(void **state)
{
        struct bytes h = {0}, f = {0};
        struct eventstream_decoder *d;
        struct eventstream_message m;

        for (unsigned i = 0; i < EVENTSTREAM_MAX_HEADERS; i++)
                hdr_name(&h, "b", 0);
        frame(&f, &h, NULL, 0);
        d = decoder(0);
        assert_int_equal(feed_one(d, &f, &m), 1);
        assert_int_equal(m.n_headers, EVENTSTREAM_MAX_HEADERS);
        eventstream_decoder_free(d);
        bytes_done(&f);

        hdr_name(&h, "b", 1);
        frame(&f, &h, NULL, 0);
        expect_error(&f, 0, -EMSGSIZE);
        bytes_done(&h);
        bytes_done(&f);
}

static void test_decoder_bad_args(void **state)
{
        struct eventstream_decoder *d = decoder(0);
        struct eventstream_message m;
        size_t used;

        assert_int_equal(eventstream_decoder_feed(d, NULL, 3, &used, &m), -EINVAL);
        assert_int_equal(eventstream_decoder_feed(NULL, "x", 1, &used, &m), -EINVAL);
        assert_int_equal(eventstream_decoder_new(0, NULL), -EINVAL);
        assert_null(eventstream_decoder_free(NULL));
        assert_null(eventstream_decoder_free(d));
}

/* ---- agent layer ------------------------------------------------------------- */

static struct agent_stream *agent(size_t max_answer)
{
        struct agent_stream *s = NULL;

        assert_int_equal(agent_stream_new(0, max_answer, &s), 0);
        return s;
}

/* Feed the whole buffer in slices of step bytes; return the last feed result. */
static int agent_feed(struct agent_stream *s, const struct bytes *b, size_t step)
{
        int r = 0;

        for (size_t i = 0; i < b->n; i += step) {
                r = agent_stream_feed(s, b->p + i, MIN(step, b->n - i));
                if (r != 0)
                        return r;
        }
        return r;
}

static void test_agent_chunk_vector(void **state)
{
        struct bytes v = unhex(chunk_vector);
        struct agent_stream *s = agent(0);
        struct agent_reply rep;

        assert_int_equal(agent_feed(s, &v, v.n), 0);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_ANSWER);
        assert_int_equal(rep.source, AGENT_ERROR_NONE);
        assert_string_equal(rep.text, "Hello");
        assert_int_equal(rep.text_len, 5);
        assert_int_equal(rep.counts.chunks, 1);
        assert_int_equal(agent_stream_finish(s, &rep), -EINVAL); /* once */
        agent_reply_done(&rep);
        agent_reply_done(&rep);
        agent_stream_free(s);
        bytes_done(&v);
}

static void test_agent_exception_vector(void **state)
{
        struct bytes v = unhex(exception_vector);
        struct agent_stream *s = agent(0);
        struct agent_reply rep;

        assert_int_equal(agent_feed(s, &v, 7), 1);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_RETRYABLE);
        assert_true(rep.throttling);
        assert_int_equal(rep.source, AGENT_ERROR_EXCEPTION);
        assert_string_equal(rep.code, "throttlingException");
        assert_string_equal(rep.message, "Rate exceeded");
        assert_null(rep.text);
        agent_stream_free(s);
        bytes_done(&v);
}

/* Several chunks, a UTF-8 character split between two of them, and the
 * other event types in between: counted, not part of the answer. */
static void test_agent_joins_chunks(void **state)
{
        struct bytes b = {0}, h = {0};
        struct agent_stream *s;
        struct agent_reply rep;

        chunk_frame(&b, "Caf\xc3", 4);
        event_headers(&h, "trace");
        frame(&b, &h, "{\"trace\":{}}", 12);
        bytes_done(&h);
        chunk_frame(&b, "\xa9 ", 2);
        event_headers(&h, "returnControl");
        frame(&b, &h, "{\"invocationId\":\"x\"}", 20);
        bytes_done(&h);
        event_headers(&h, "files");
        frame(&b, &h, "{\"files\":[]}", 12);
        bytes_done(&h);
        event_headers(&h, "somethingNew");
        frame(&b, &h, "{}", 2);
        bytes_done(&h);
        chunk_frame(&b, "ouvert \xf0\x9f\x98\x80 ok", 14);
        chunk_json_frame(&b, "{\"attribution\":{\"citations\":[]}}");
        chunk_frame(&b, "", 0);

        for (size_t step = 1; step <= b.n; step += (step < 40 ? 1 : 97)) {
                s = agent(0);
                assert_int_equal(agent_feed(s, &b, step), 0);
                assert_int_equal(agent_stream_finish(s, &rep), 0);
                assert_int_equal(rep.kind, AGENT_REPLY_ANSWER);
                assert_string_equal(rep.text, "Caf\xc3\xa9 ouvert \xf0\x9f\x98\x80 ok");
                assert_int_equal(rep.counts.chunks, 5);
                assert_int_equal(rep.counts.traces, 1);
                assert_int_equal(rep.counts.return_controls, 1);
                assert_int_equal(rep.counts.files, 1);
                assert_int_equal(rep.counts.unknown_events, 1);
                agent_reply_done(&rep);
                agent_stream_free(s);
        }
        bytes_done(&b);
}

/* Citations become links (web URLs, each once, at most three); returnControl
 * is kept for the caller; files are counted. */
static void test_agent_events(void **state)
{
        struct bytes b = {0}, h = {0};
        struct agent_stream *s = agent(0);
        struct agent_reply rep;
        char *links;
        static const char files[] = "{\"files\":[{\"name\":\"a.csv\"},{\"name\":\"b.png\"}]}";
        static const char rc[] =
                "{\"invocationId\":\"inv-1\",\"invocationInputs\":[{\"functionInvocationInput\":"
                "{\"actionGroup\":\"calendar\",\"function\":\"book\"}}]}";
        static const char cited[] =
                "{\"bytes\":\"SGk=\",\"attribution\":{\"citations\":[{\"retrievedReferences\":["
                "{\"location\":{\"type\":\"WEB\",\"webLocation\":{\"url\":\"https://ex.com/a\"}}},"
                "{\"location\":{\"type\":\"S3\",\"s3Location\":{\"uri\":\"s3://b/k\"}}},"
                "{\"location\":{\"type\":\"WEB\",\"webLocation\":{\"url\":\"https://ex.com/a\"}}},"
                "{\"location\":{\"type\":\"CONFLUENCE\",\"confluenceLocation\":"
                "{\"url\":\"https://wiki.ex.com/p\"}}},"
                "{\"location\":{\"type\":\"WEB\",\"webLocation\":{\"url\":\"https://ex.com/c\"}}},"
                "{\"location\":{\"type\":\"WEB\",\"webLocation\":{\"url\":\"https://ex.com/d\"}}}"
                "]}]}}";

        chunk_json_frame(&b, cited);
        event_headers(&h, "files");
        frame(&b, &h, files, strlen(files));
        bytes_done(&h);
        event_headers(&h, "returnControl");
        frame(&b, &h, rc, strlen(rc));
        bytes_done(&h);

        assert_int_equal(agent_feed(s, &b, 5), 0);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_string_equal(rep.text, "Hi");
        assert_int_equal(rep.counts.attributions, 1);
        assert_int_equal(rep.n_files, 2);
        assert_int_equal(rep.n_citations, 3);
        links = agent_reply_citations_text(&rep);
        assert_string_equal(links,
                            " [1] https://ex.com/a [2] https://wiki.ex.com/p [3] https://ex.com/c");
        free(links);
        assert_non_null(rep.return_control);
        assert_string_equal(json_string_value(json_object_get(rep.return_control, "invocationId")),
                            "inv-1");
        agent_reply_done(&rep);
        assert_null(rep.return_control);
        agent_stream_free(s);
        bytes_done(&b);

        /* A returnControl that is not a JSON object cannot be understood. */
        s = agent(0);
        event_headers(&h, "returnControl");
        frame(&b, &h, "[1]", 3);
        bytes_done(&h);
        assert_int_equal(agent_feed(s, &b, b.n), -EPROTO);
        agent_stream_free(s);
        bytes_done(&b);
}

static void test_agent_empty_stream(void **state)
{
        struct agent_stream *s = agent(0);
        struct agent_reply rep;

        assert_int_equal(agent_stream_feed(s, NULL, 0), 0);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_ANSWER);
        assert_string_equal(rep.text, "");
        assert_int_equal(rep.text_len, 0);
        agent_reply_done(&rep);
        agent_stream_free(s);
}

static void test_agent_exception_table(void **state)
{
        static const struct {
                const char *type;
                enum agent_reply_kind kind;
                bool throttling;
        } cases[] = {
                {"throttlingException", AGENT_REPLY_RETRYABLE, true},
                {"serviceQuotaExceededException", AGENT_REPLY_RETRYABLE, true},
                {"internalServerException", AGENT_REPLY_RETRYABLE, false},
                {"dependencyFailedException", AGENT_REPLY_RETRYABLE, false},
                {"badGatewayException", AGENT_REPLY_RETRYABLE, false},
                {"modelNotReadyException", AGENT_REPLY_RETRYABLE, false},
                {"validationException", AGENT_REPLY_PERMANENT, false},
                {"accessDeniedException", AGENT_REPLY_PERMANENT, false},
                {"resourceNotFoundException", AGENT_REPLY_PERMANENT, false},
                {"conflictException", AGENT_REPLY_PERMANENT, false},
                {"somethingBrandNewException", AGENT_REPLY_PERMANENT, false},
                {"", AGENT_REPLY_PERMANENT, false},
                {"ThrottlingException", AGENT_REPLY_RETRYABLE, true},
                {"throttlingExceptionX", AGENT_REPLY_PERMANENT, false},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct bytes b = {0};
                struct agent_stream *s = agent(0);
                struct agent_reply rep;
                bool thr = !cases[i].throttling;

                chunk_frame(&b, "partial", 7);
                exception_frame(&b, cases[i].type, "{\"message\":\"boom\",\"resourceName\":\"x\"}");
                assert_int_equal(agent_feed(s, &b, b.n), 1);
                assert_int_equal(agent_stream_finish(s, &rep), 0);
                assert_int_equal(rep.kind, cases[i].kind);
                assert_int_equal(rep.throttling, cases[i].throttling);
                assert_string_equal(rep.code, cases[i].type);
                assert_string_equal(rep.message, "boom");
                assert_null(rep.text); /* the partial answer is dropped */
                assert_int_equal(rep.counts.chunks, 1);
                assert_int_equal(agent_stream_classify(cases[i].type, &thr), cases[i].kind);
                assert_int_equal(thr, cases[i].throttling);
                agent_stream_free(s);
                bytes_done(&b);
        }
        assert_int_equal(agent_stream_classify(NULL, NULL), AGENT_REPLY_PERMANENT);
        assert_string_equal(agent_reply_kind_to_string(AGENT_REPLY_RETRYABLE), "retryable");
        assert_string_equal(agent_reply_kind_to_string(_AGENT_REPLY_KIND_MAX), "invalid");
}

static void test_agent_exception_odd_payloads(void **state)
{
        static const char *const payloads[] = {NULL, "not json", "{\"message\":42}", "[]"};

        for (size_t i = 0; i < ARRAY_SIZE(payloads); i++) {
                struct bytes b = {0};
                struct agent_stream *s = agent(0);
                struct agent_reply rep;

                exception_frame(&b, "validationException", payloads[i]);
                assert_int_equal(agent_feed(s, &b, b.n), 1);
                assert_int_equal(agent_stream_finish(s, &rep), 0);
                assert_int_equal(rep.kind, AGENT_REPLY_PERMANENT);
                assert_string_equal(rep.code, "validationException");
                assert_string_equal(rep.message, "");
                agent_stream_free(s);
                bytes_done(&b);
        }
}

static void test_agent_error_message(void **state)
{
        struct bytes b = {0};
        struct agent_stream *s = agent(0);
        struct agent_reply rep;
        char longmsg[2000];

        error_frame(&b, "InternalFailure", "something broke");
        assert_int_equal(agent_feed(s, &b, 3), 1);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_PERMANENT);
        assert_int_equal(rep.source, AGENT_ERROR_ERROR);
        assert_string_equal(rep.code, "InternalFailure");
        assert_string_equal(rep.message, "something broke");
        agent_stream_free(s);
        bytes_done(&b);

        /* Known codes classify the same way; a long message is truncated. */
        memset(longmsg, 'm', sizeof(longmsg) - 1);
        longmsg[sizeof(longmsg) - 1] = '\0';
        s = agent(0);
        error_frame(&b, "ThrottlingException", longmsg);
        assert_int_equal(agent_feed(s, &b, b.n), 1);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_RETRYABLE);
        assert_true(rep.throttling);
        assert_int_equal(strlen(rep.message), AGENT_ERROR_MESSAGE_MAX - 1);
        agent_stream_free(s);
        bytes_done(&b);

        /* No code or message headers at all. */
        s = agent(0);
        error_frame(&b, NULL, NULL);
        assert_int_equal(agent_feed(s, &b, b.n), 1);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_PERMANENT);
        assert_string_equal(rep.code, "");
        assert_string_equal(rep.message, "");
        agent_stream_free(s);
        bytes_done(&b);
}

static void test_agent_ignores_after_terminal(void **state)
{
        struct bytes b = {0};
        struct agent_stream *s = agent(0);
        struct agent_reply rep;

        exception_frame(&b, "internalServerException", "{\"message\":\"oops\"}");
        assert_int_equal(agent_feed(s, &b, b.n), 1);
        /* Garbage and a half message afterwards change nothing. */
        assert_int_equal(agent_stream_feed(s, "\xff\xff\xff\xff garbage", 12), 1);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_RETRYABLE);
        assert_false(rep.throttling);
        assert_string_equal(rep.message, "oops");
        agent_stream_free(s);
        bytes_done(&b);
}

static int agent_run(const struct bytes *b, size_t max_answer, struct agent_reply *rep)
{
        struct agent_stream *s = agent(max_answer);
        int r = agent_feed(s, b, b->n);

        if (r >= 0)
                r = agent_stream_finish(s, rep);
        agent_stream_free(s);
        return r;
}

static void test_agent_bad_answers(void **state)
{
        static const struct {
                const char *raw;
                size_t len;
        } bad_utf8[] = {
                {"\xff", 1},
                {"ok \xc0\xaf", 5},      /* overlong '/' */
                {"\xe0\x80\xaf", 3},     /* overlong, 3 bytes */
                {"\xed\xa0\x80", 3},     /* surrogate */
                {"\xf4\x90\x80\x80", 4}, /* above U+10FFFF */
                {"abc\xe2\x82", 5},      /* cut short at the end */
                {"a\0b", 3},             /* NUL */
                {"\x80", 1},             /* lone continuation */
        };
        struct agent_reply rep;

        for (size_t i = 0; i < ARRAY_SIZE(bad_utf8); i++) {
                struct bytes b = {0};

                chunk_frame(&b, bad_utf8[i].raw, bad_utf8[i].len);
                assert_int_equal(agent_run(&b, 0, &rep), -EILSEQ);
                assert_false(utf8_valid(bad_utf8[i].raw, bad_utf8[i].len, false));
                bytes_done(&b);
        }
        assert_true(utf8_valid("\xf4\x8f\xbf\xbf \xef\xbf\xbd \xc2\x80", 11, false));
}

static void test_agent_bad_chunks(void **state)
{
        static const char *const bad[] = {
                "not json",
                "{\"bytes\":42}",
                "{\"bytes\":\"SGVsbG8\"}",   /* no padding */
                "{\"bytes\":\"SGVsb G8=\"}", /* space inside */
                "{\"bytes\":\"A===\"}",      /* three pads */
                "{\"bytes\":\"SG=k\"}",      /* pad in the middle */
                "{\"bytes\":\"SGk=\\n\"}",   /* trailing newline */
                "{\"bytes\":\"SG-k\"}",      /* base64url alphabet */
                "[\"bytes\"]",
                "",
        };
        struct agent_reply rep;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct bytes b = {0};

                chunk_json_frame(&b, bad[i]);
                assert_int_equal(agent_run(&b, 0, &rep), -EPROTO);
                bytes_done(&b);
        }
}

static void test_agent_protocol_errors(void **state)
{
        struct bytes b = {0}, h = {0};
        struct agent_reply rep;

        /* No :message-type. */
        hdr_str(&h, ":event-type", "chunk");
        frame(&b, &h, "{}", 2);
        assert_int_equal(agent_run(&b, 0, &rep), -EPROTO);
        bytes_done(&b);
        bytes_done(&h);

        /* Unknown :message-type. */
        hdr_str(&h, ":message-type", "surprise");
        frame(&b, &h, "{}", 2);
        assert_int_equal(agent_run(&b, 0, &rep), -EPROTO);
        bytes_done(&b);
        bytes_done(&h);

        /* :message-type that is not a string. */
        hdr_name(&h, ":message-type", 0);
        frame(&b, &h, "{}", 2);
        assert_int_equal(agent_run(&b, 0, &rep), -EPROTO);
        bytes_done(&b);
        bytes_done(&h);
}

static void test_agent_framing_errors(void **state)
{
        struct bytes v = unhex(chunk_vector);
        struct agent_stream *s;
        struct agent_reply rep;

        /* Truncated body. */
        s = agent(0);
        assert_int_equal(agent_stream_feed(s, v.p, v.n - 1), 0);
        assert_int_equal(agent_stream_finish(s, &rep), -EPIPE);
        agent_stream_free(s);

        /* Bad CRC: sticky. */
        v.p[v.n - 2] ^= 1;
        s = agent(0);
        assert_int_equal(agent_stream_feed(s, v.p, v.n), -EBADMSG);
        assert_int_equal(agent_stream_feed(s, v.p, 1), -EBADMSG);
        assert_int_equal(agent_stream_finish(s, &rep), -EBADMSG);
        agent_stream_free(s);
        bytes_done(&v);

        /* Frame over the eventstream limit. */
        assert_int_equal(agent_stream_new(15, 0, &s), -EINVAL);
        assert_int_equal(agent_stream_new(64, 0, &s), 0);
        v = unhex(chunk_vector);
        assert_int_equal(agent_stream_feed(s, v.p, v.n), -EMSGSIZE);
        agent_stream_free(s);
        bytes_done(&v);
}

static void test_agent_answer_limit(void **state)
{
        struct bytes b = {0};
        struct agent_reply rep;

        chunk_frame(&b, "12345", 5);
        chunk_frame(&b, "67890", 5);
        assert_int_equal(agent_run(&b, 10, &rep), 0);
        assert_string_equal(rep.text, "1234567890");
        agent_reply_done(&rep);
        assert_int_equal(agent_run(&b, 9, &rep), -EMSGSIZE);
        bytes_done(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty_message_vector),
                cmocka_unit_test(test_chunk_vector),
                cmocka_unit_test(test_every_header_type),
                cmocka_unit_test(test_split_at_every_offset),
                cmocka_unit_test(test_split_two_cuts_and_bytewise),
                cmocka_unit_test(test_feed_reports_consumed),
                cmocka_unit_test(test_corrupt_prelude_crc),
                cmocka_unit_test(test_corrupt_message_crc),
                cmocka_unit_test(test_bad_lengths),
                cmocka_unit_test(test_oversize),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_malformed_headers),
                cmocka_unit_test(test_parse_headers_direct),
                cmocka_unit_test(test_too_many_headers),
                cmocka_unit_test(test_decoder_bad_args),
                cmocka_unit_test(test_agent_chunk_vector),
                cmocka_unit_test(test_agent_exception_vector),
                cmocka_unit_test(test_agent_joins_chunks),
                cmocka_unit_test(test_agent_events),
                cmocka_unit_test(test_agent_empty_stream),
                cmocka_unit_test(test_agent_exception_table),
                cmocka_unit_test(test_agent_exception_odd_payloads),
                cmocka_unit_test(test_agent_error_message),
                cmocka_unit_test(test_agent_ignores_after_terminal),
                cmocka_unit_test(test_agent_bad_answers),
                cmocka_unit_test(test_agent_bad_chunks),
                cmocka_unit_test(test_agent_protocol_errors),
                cmocka_unit_test(test_agent_framing_errors),
                cmocka_unit_test(test_agent_answer_limit),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
