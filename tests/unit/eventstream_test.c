/*
 * eventstream_test.c — the event-stream decoder (eventstream.c); the
 * InvokeAgent layer on top of it is tested in agent_stream_test.c.
 *
 * Frames are built with an independent little encoder (eventstream_frames.h)
 * whose CRCs come from zlib; it is itself checked here against the published
 * vectors (the empty message of aws-c-event-stream, and chunk and exception
 * messages that @smithy/eventstream-codec decodes byte-identically).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "common.h"
#include "eventstream.h"

#include "eventstream_frames.h"

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

/* Where one of the messages ends: a stream may stop there, nowhere else. */
static bool message_boundary(const struct bytes *all, size_t at)
{
        size_t end = 0;

        while (end < at && end + 4 <= all->n)
                end += (size_t)all->p[end] << 24 | (size_t)all->p[end + 1] << 16 |
                       (size_t)all->p[end + 2] << 8 | all->p[end + 3];
        return end == at;
}

static void test_split_at_every_offset(void **state)
{
        struct bytes all = three_messages();
        unsigned boundaries = 0;

        for (size_t cut = 0; cut <= all.n; cut++) {
                struct eventstream_decoder *d = decoder(0);
                unsigned count = 0;

                feed_slice(d, all.p, cut, &count);
                /* Ended there, the stream is whole only between messages. */
                assert_int_equal(eventstream_decoder_finish(d),
                                 message_boundary(&all, cut) ? 0 : -EPIPE);
                boundaries += message_boundary(&all, cut);
                feed_slice(d, all.p + cut, all.n - cut, &count);
                assert_int_equal(count, 3);
                assert_int_equal(eventstream_decoder_finish(d), 0);
                eventstream_decoder_free(d);
        }
        assert_int_equal(boundaries, 4); /* the start and the end of each message */
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
                if (n < v.n) {
                        /* The n bytes were kept: the rest completes the message. */
                        assert_int_equal(eventstream_decoder_feed(d, v.p + n, v.n - n, &used, &m),
                                         1);
                        assert_int_equal(used, v.n - n);
                        assert_int_equal(eventstream_decoder_finish(d), 0);
                }
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
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
