/*
 * eventstream.c — incremental application/vnd.amazon.eventstream decoder (pure).
 *
 * The decoder is a two-state machine: collect the 12-byte prelude, check it,
 * then collect the rest of the message into a buffer sized exactly to
 * total_length (bounded by max_message before anything is allocated), check
 * the message CRC and split headers and payload. CRCs are zlib's crc32().
 */
#include <zlib.h>

#include "common.h"
#include "eventstream.h"

enum decoder_state {
        STATE_PRELUDE,
        STATE_BODY,
};

struct eventstream_decoder {
        enum decoder_state state;
        int error; /* sticky negative errno, or 0 */
        size_t max_message;

        uint8_t *buf; /* the current message; capacity buf_size */
        size_t buf_size;
        size_t have; /* bytes of the current message received */
        uint32_t total;
        uint32_t headers_len;

        struct eventstream_header *headers;
        size_t headers_cap;
};

static uint32_t get_be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint16_t get_be16(const uint8_t *p)
{
        return (uint16_t)((unsigned)p[0] << 8 | (unsigned)p[1]);
}

static uint64_t get_be64(const uint8_t *p)
{
        return (uint64_t)get_be32(p) << 32 | (uint64_t)get_be32(p + 4);
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
        return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

int eventstream_decoder_new(size_t max_message, struct eventstream_decoder **ret)
{
        struct eventstream_decoder *d;

        if (!ret)
                return -EINVAL;
        if (max_message == 0)
                max_message = EVENTSTREAM_MAX_MESSAGE_DEF;
        if (max_message < EVENTSTREAM_MIN_MESSAGE || max_message > UINT32_MAX)
                return -EINVAL;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->max_message = max_message;
        d->buf_size = 256;
        d->buf = malloc(d->buf_size);
        if (!d->buf) {
                free(d);
                return -ENOMEM;
        }
        *ret = d;
        return 0;
}

struct eventstream_decoder *eventstream_decoder_free(struct eventstream_decoder *d)
{
        if (!d)
                return NULL;
        free(d->buf);
        free(d->headers);
        free(d);
        return NULL;
}

/* Value sizes of the fixed-width types; -1 for variable length, -2 for unknown. */
static int fixed_value_size(uint8_t type)
{
        switch (type) {
        case EVENTSTREAM_HEADER_BOOL_TRUE:
        case EVENTSTREAM_HEADER_BOOL_FALSE:
                return 0;
        case EVENTSTREAM_HEADER_BYTE:
                return 1;
        case EVENTSTREAM_HEADER_INT16:
                return 2;
        case EVENTSTREAM_HEADER_INT32:
                return 4;
        case EVENTSTREAM_HEADER_INT64:
        case EVENTSTREAM_HEADER_TIMESTAMP:
                return 8;
        case EVENTSTREAM_HEADER_UUID:
                return 16;
        case EVENTSTREAM_HEADER_BYTES:
        case EVENTSTREAM_HEADER_STRING:
                return -1;
        default:
                return -2;
        }
}

/*
 * Parse the header block p[0..len). With out == NULL only validate and count.
 * Otherwise fill out[0..max). Every read is checked against the end of the
 * block first. Returns 0 and the count in *ret_n, -EBADMSG for a malformed
 * block, -EMSGSIZE for more than max headers.
 */
UNITTEST int eventstream_parse_headers(const uint8_t *p, size_t len, struct eventstream_header *out,
                                       size_t max, size_t *ret_n)
{
        size_t pos = 0, n = 0;

        while (pos < len) {
                struct eventstream_header h = {0};
                size_t name_len, vlen;
                const uint8_t *v;
                uint8_t type;
                int fixed;

                name_len = p[pos++];
                if (name_len == 0 || len - pos < name_len + 1)
                        return -EBADMSG;
                h.name = (const char *)(p + pos);
                h.name_len = name_len;
                pos += name_len;
                type = p[pos++];
                fixed = fixed_value_size(type);
                if (fixed == -2)
                        return -EBADMSG;
                if (fixed == -1) {
                        if (len - pos < 2)
                                return -EBADMSG;
                        vlen = get_be16(p + pos);
                        pos += 2;
                } else
                        vlen = (size_t)fixed;
                if (len - pos < vlen)
                        return -EBADMSG;
                v = p + pos;
                pos += vlen;

                h.type = (enum eventstream_header_type)type;
                switch (h.type) {
                case EVENTSTREAM_HEADER_BOOL_TRUE:
                        h.value.boolean = true;
                        break;
                case EVENTSTREAM_HEADER_BOOL_FALSE:
                        h.value.boolean = false;
                        break;
                case EVENTSTREAM_HEADER_BYTE:
                        h.value.byte = (int8_t)v[0];
                        break;
                case EVENTSTREAM_HEADER_INT16:
                        h.value.int16 = (int16_t)get_be16(v);
                        break;
                case EVENTSTREAM_HEADER_INT32:
                        h.value.int32 = (int32_t)get_be32(v);
                        break;
                case EVENTSTREAM_HEADER_INT64:
                case EVENTSTREAM_HEADER_TIMESTAMP:
                        h.value.int64 = (int64_t)get_be64(v);
                        break;
                case EVENTSTREAM_HEADER_UUID:
                        memcpy(h.value.uuid, v, 16);
                        break;
                case EVENTSTREAM_HEADER_BYTES:
                case EVENTSTREAM_HEADER_STRING:
                        h.value.bytes.data = vlen ? v : NULL;
                        h.value.bytes.len = vlen;
                        break;
                default:
                        return -EBADMSG;
                }

                if (n >= max)
                        return -EMSGSIZE;
                if (out)
                        out[n] = h;
                n++;
        }
        *ret_n = n;
        return 0;
}

static int check_prelude(struct eventstream_decoder *d)
{
        uint32_t total = get_be32(d->buf), hlen = get_be32(d->buf + 4);

        if (crc32_of(d->buf, 8) != get_be32(d->buf + 8))
                return -EBADMSG;
        if (total < EVENTSTREAM_MIN_MESSAGE)
                return -EBADMSG;
        if (total > d->max_message)
                return -EMSGSIZE;
        if (hlen > total - EVENTSTREAM_MIN_MESSAGE)
                return -EBADMSG;

        if (total > d->buf_size) {
                uint8_t *nb = realloc(d->buf, total);

                if (!nb)
                        return -ENOMEM;
                d->buf = nb;
                d->buf_size = total;
        }
        d->total = total;
        d->headers_len = hlen;
        return 0;
}

static int finish_message(struct eventstream_decoder *d, struct eventstream_message *ret_msg)
{
        const uint8_t *hdr = d->buf + EVENTSTREAM_PRELUDE_LEN;
        size_t n, payload_len;
        int r;

        if (crc32_of(d->buf, d->total - 4) != get_be32(d->buf + d->total - 4))
                return -EBADMSG;

        r = eventstream_parse_headers(hdr, d->headers_len, NULL, EVENTSTREAM_MAX_HEADERS, &n);
        if (r < 0)
                return r;
        if (n > d->headers_cap) {
                struct eventstream_header *nh = reallocarray(d->headers, n, sizeof(*nh));

                if (!nh)
                        return -ENOMEM;
                d->headers = nh;
                d->headers_cap = n;
        }
        r = eventstream_parse_headers(hdr, d->headers_len, d->headers, n, &n);
        if (r < 0)
                return r;

        payload_len = d->total - d->headers_len - EVENTSTREAM_MIN_MESSAGE;
        *ret_msg = (struct eventstream_message){
                .headers = n ? d->headers : NULL,
                .n_headers = n,
                .payload = payload_len ? hdr + d->headers_len : NULL,
                .payload_len = payload_len,
                .total_length = d->total,
        };
        return 0;
}

int eventstream_decoder_feed(struct eventstream_decoder *d, const void *data, size_t len,
                             size_t *ret_consumed, struct eventstream_message *ret_msg)
{
        const uint8_t *p = data;
        size_t used = 0;
        int r;

        if (!d || !ret_consumed || !ret_msg || (len && !data))
                return -EINVAL;
        if (d->error)
                return d->error;

        while (used < len) {
                size_t want, take;

                want = (d->state == STATE_PRELUDE ? EVENTSTREAM_PRELUDE_LEN : d->total) - d->have;
                take = MIN(want, len - used);
                memcpy(d->buf + d->have, p + used, take);
                d->have += take;
                used += take;
                if (take < want)
                        break;

                if (d->state == STATE_PRELUDE) {
                        r = check_prelude(d);
                        if (r < 0)
                                return (d->error = r);
                        d->state = STATE_BODY;
                        continue;
                }

                /* A whole message is in the buffer. */
                r = finish_message(d, ret_msg);
                if (r < 0)
                        return (d->error = r);
                d->state = STATE_PRELUDE;
                d->have = 0;
                *ret_consumed = used;
                return 1;
        }
        *ret_consumed = used;
        return 0;
}

int eventstream_decoder_finish(const struct eventstream_decoder *d)
{
        if (!d)
                return -EINVAL;
        if (d->error)
                return d->error;
        return d->have > 0 ? -EPIPE : 0;
}

const struct eventstream_header *eventstream_message_header(const struct eventstream_message *m,
                                                            const char *name)
{
        size_t n;

        if (!m || !name)
                return NULL;
        n = strlen(name);
        for (size_t i = 0; i < m->n_headers; i++) {
                const struct eventstream_header *h = &m->headers[i];

                if (h->name_len == n && memcmp(h->name, name, n) == 0)
                        return h;
        }
        return NULL;
}

bool eventstream_header_string_is(const struct eventstream_header *h, const char *s)
{
        size_t n;

        if (!h || !s || h->type != EVENTSTREAM_HEADER_STRING)
                return false;
        n = strlen(s);
        return h->value.bytes.len == n && (n == 0 || memcmp(h->value.bytes.data, s, n) == 0);
}
