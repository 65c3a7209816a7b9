/*
 * fuzz_eventstream.c — the incremental event-stream decoder.
 *
 * Input: a control byte (bit 0: repair CRCs so mutations reach the header
 * parser; bits 1-3: the max_message bound), four bytes seeding the slice
 * sizes, then the stream. The stream is decoded twice, in one slice and in
 * slices cut at input-derived points; both runs must yield the same messages
 * and the same end state. Each message must be self-consistent.
 */
#include "common.h"
#include "eventstream.h"
#include "fuzz_common.h"
#include "fuzz_frames.h"

#define MAX_MSGS 512

static const size_t max_messages[8] = {0, 16, 17, 32, 64, 256, 4096, 65536};

struct run {
        uint32_t digest[MAX_MSGS];
        size_t n;
        int feed_error;
        int finish;
};

static uint32_t digest_message(const struct eventstream_message *m)
{
        uint32_t c = (uint32_t)crc32(0L, Z_NULL, 0);
        size_t hbytes = 0;

        FUZZ_CHECK(m->total_length >= EVENTSTREAM_MIN_MESSAGE);
        FUZZ_CHECK(m->n_headers <= EVENTSTREAM_MAX_HEADERS);
        FUZZ_CHECK((m->n_headers == 0) == (m->headers == NULL));
        FUZZ_CHECK((m->payload_len == 0) == (m->payload == NULL));
        for (size_t i = 0; i < m->n_headers; i++) {
                const struct eventstream_header *h = &m->headers[i];
                size_t vlen = 0;

                FUZZ_CHECK(h->name && h->name_len >= 1 && h->name_len <= 255);
                FUZZ_CHECK(h->type < _EVENTSTREAM_HEADER_TYPE_MAX);
                c = (uint32_t)crc32(c, (const Bytef *)h->name, (uInt)h->name_len);
                c = (uint32_t)crc32(c, (const Bytef *)&h->type, sizeof(h->type));
                switch (h->type) {
                case EVENTSTREAM_HEADER_BOOL_TRUE:
                case EVENTSTREAM_HEADER_BOOL_FALSE:
                        FUZZ_CHECK(h->value.boolean == (h->type == EVENTSTREAM_HEADER_BOOL_TRUE));
                        break;
                case EVENTSTREAM_HEADER_BYTE:
                        vlen = 1;
                        c = (uint32_t)crc32(c, (const Bytef *)&h->value.byte, 1);
                        break;
                case EVENTSTREAM_HEADER_INT16:
                        vlen = 2;
                        c = (uint32_t)crc32(c, (const Bytef *)&h->value.int16, 2);
                        break;
                case EVENTSTREAM_HEADER_INT32:
                        vlen = 4;
                        c = (uint32_t)crc32(c, (const Bytef *)&h->value.int32, 4);
                        break;
                case EVENTSTREAM_HEADER_INT64:
                case EVENTSTREAM_HEADER_TIMESTAMP:
                        vlen = 8;
                        c = (uint32_t)crc32(c, (const Bytef *)&h->value.int64, 8);
                        break;
                case EVENTSTREAM_HEADER_UUID:
                        vlen = 16;
                        c = (uint32_t)crc32(c, h->value.uuid, 16);
                        break;
                case EVENTSTREAM_HEADER_BYTES:
                case EVENTSTREAM_HEADER_STRING:
                        vlen = 2 + h->value.bytes.len;
                        FUZZ_CHECK((h->value.bytes.len == 0) == (h->value.bytes.data == NULL));
                        if (h->value.bytes.len)
                                c = (uint32_t)crc32(c, h->value.bytes.data,
                                                    (uInt)h->value.bytes.len);
                        break;
                default:
                        FUZZ_CHECK(!"unknown header type");
                }
                hbytes += 1 + h->name_len + 1 + vlen;
        }
        FUZZ_CHECK(m->total_length == EVENTSTREAM_MIN_MESSAGE + hbytes + m->payload_len);
        if (m->payload_len)
                c = (uint32_t)crc32(c, m->payload, (uInt)m->payload_len);
        return c;
}

static void decode(const uint8_t *p, size_t len, size_t max_message, struct fuzz_slicer *slicer,
                   struct run *run)
{
        struct eventstream_decoder *d = NULL;
        size_t off = 0;

        memset(run, 0, sizeof(*run));
        FUZZ_CHECK(eventstream_decoder_new(max_message, &d) == 0);
        while (off < len) {
                size_t slice = slicer ? fuzz_next_slice(slicer, len - off) : len - off;
                size_t used = 0;

                while (used < slice) {
                        struct eventstream_message m;
                        size_t consumed = (size_t)-1;
                        int r;

                        r = eventstream_decoder_feed(d, p + off + used, slice - used, &consumed,
                                                     &m);
                        if (r < 0) {
                                FUZZ_CHECK(r == -EBADMSG || r == -EMSGSIZE || r == -ENOMEM);
                                run->feed_error = r;
                                /* Sticky. */
                                FUZZ_CHECK(eventstream_decoder_feed(d, p, len, &consumed, &m) == r);
                                FUZZ_CHECK(eventstream_decoder_finish(d) == r);
                                goto done;
                        }
                        FUZZ_CHECK(consumed <= slice - used);
                        used += consumed;
                        if (r == 0) {
                                /* Inside a message: a stream that ended here is cut. */
                                FUZZ_CHECK(used == slice);
                                FUZZ_CHECK(eventstream_decoder_finish(d) == -EPIPE);
                                break;
                        }
                        FUZZ_CHECK(r == 1);
                        FUZZ_CHECK(eventstream_decoder_finish(d) == 0);
                        if (run->n < MAX_MSGS)
                                run->digest[run->n] = digest_message(&m);
                        run->n++;
                }
                off += slice;
        }
        run->finish = eventstream_decoder_finish(d);
        FUZZ_CHECK(run->finish == 0 || run->finish == -EPIPE);
done:
        eventstream_decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct run whole, sliced;
        struct fuzz_slicer slicer;
        size_t max_message;
        uint8_t *stream;
        size_t len;

        stream = fuzz_stream_input(data, size, &slicer, &len);
        if (!stream)
                return 0;
        max_message = max_messages[(data[0] >> 1) & 7];

        decode(stream, len, max_message, NULL, &whole);
        decode(stream, len, max_message, &slicer, &sliced);
        FUZZ_CHECK(whole.n == sliced.n);
        FUZZ_CHECK(memcmp(whole.digest, sliced.digest, MIN(whole.n, MAX_MSGS) * 4) == 0);
        FUZZ_CHECK(whole.feed_error == sliced.feed_error);
        FUZZ_CHECK(whole.finish == sliced.finish);
        free(stream);
        return 0;
}
