/*
 * eventstream.h — incremental decoder for application/vnd.amazon.eventstream.
 *
 * A pure module: no I/O, no clock, no logging. Bytes are fed in slices of any
 * size (a message may be split anywhere, several messages may share a slice)
 * and complete, verified messages come out one at a time.
 *
 * Wire format (all integers big-endian), as the AWS SDKs' event stream codecs
 * (aws-c-event-stream, @smithy/eventstream-codec) read it:
 *
 *   u32 total_length    whole message, these 4 bytes and the trailing CRC included
 *   u32 headers_length  bytes of the header block
 *   u32 prelude_crc     CRC-32 (zlib crc32(), IEEE) of the first 8 bytes
 *   headers             headers_length bytes
 *   payload             total_length - headers_length - 16 bytes
 *   u32 message_crc     CRC-32 of every byte before it
 *
 * Header entry: u8 name length (1..255), name, u8 type, value:
 *   0 true, 1 false (no value bytes), 2 byte (1), 3 int16 (2), 4 int32 (4),
 *   5 int64 (8), 6 byte array (u16 length + bytes), 7 string (u16 length +
 *   bytes), 8 timestamp (int64 ms since the epoch), 9 uuid (16 bytes).
 *
 * Checks, in this order, once the 12-byte prelude is in:
 *   prelude CRC mismatch                         -EBADMSG
 *   total_length < 16                            -EBADMSG
 *   total_length > max_message                   -EMSGSIZE (nothing allocated)
 *   headers_length > total_length - 16           -EBADMSG
 * and once the whole message is in:
 *   message CRC mismatch                         -EBADMSG
 *   a header that runs past the header block,
 *   an empty name, an unknown value type         -EBADMSG
 *   more than EVENTSTREAM_MAX_HEADERS headers    -EMSGSIZE
 *
 * Errors are sticky: once eventstream_decoder_feed() fails, every later call
 * returns the same error (a stream with a bad frame cannot be resynchronised,
 * so the caller aborts it). End of stream is checked with
 * eventstream_decoder_finish(): -EPIPE when a message was only partly received.
 *
 * Ownership: the decoder owns one buffer holding the current message. A
 * struct eventstream_message and everything it points to (header names,
 * string and byte-array values, the payload) borrow that buffer and stay
 * valid until the next eventstream_decoder_feed() or _free() on the same
 * decoder. Nothing in a message is NUL-terminated; use the lengths.
 */
#ifndef TWOWAYD_EVENTSTREAM_H
#define TWOWAYD_EVENTSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENTSTREAM_PRELUDE_LEN     12u
#define EVENTSTREAM_MIN_MESSAGE     16u
#define EVENTSTREAM_MAX_MESSAGE_DEF (16u * 1024u * 1024u)
#define EVENTSTREAM_MAX_HEADERS     1024u

enum eventstream_header_type {
        EVENTSTREAM_HEADER_BOOL_TRUE = 0,
        EVENTSTREAM_HEADER_BOOL_FALSE = 1,
        EVENTSTREAM_HEADER_BYTE = 2,
        EVENTSTREAM_HEADER_INT16 = 3,
        EVENTSTREAM_HEADER_INT32 = 4,
        EVENTSTREAM_HEADER_INT64 = 5,
        EVENTSTREAM_HEADER_BYTES = 6,
        EVENTSTREAM_HEADER_STRING = 7,
        EVENTSTREAM_HEADER_TIMESTAMP = 8,
        EVENTSTREAM_HEADER_UUID = 9,
        _EVENTSTREAM_HEADER_TYPE_MAX,
};

struct eventstream_header {
        const char *name; /* borrowed, not NUL-terminated */
        size_t name_len;
        enum eventstream_header_type type;
        union {
                bool boolean;     /* BOOL_TRUE, BOOL_FALSE */
                int8_t byte;      /* BYTE */
                int16_t int16;    /* INT16 */
                int32_t int32;    /* INT32 */
                int64_t int64;    /* INT64; TIMESTAMP: milliseconds since the epoch */
                uint8_t uuid[16]; /* UUID */
                struct {          /* BYTES, STRING (string bytes are not checked as UTF-8) */
                        const uint8_t *data; /* borrowed */
                        size_t len;
                } bytes;
        } value;
};

struct eventstream_message {
        const struct eventstream_header *headers; /* borrowed */
        size_t n_headers;
        const uint8_t *payload; /* borrowed; NULL when payload_len is 0 */
        size_t payload_len;
        uint32_t total_length;
};

struct eventstream_decoder;

/* max_message bounds total_length; 0 means EVENTSTREAM_MAX_MESSAGE_DEF. It must be
 * at least EVENTSTREAM_MIN_MESSAGE, else -EINVAL. -ENOMEM on allocation failure. */
int eventstream_decoder_new(size_t max_message, struct eventstream_decoder **ret);

/* Accepts NULL; returns NULL. Invalidates any message handed out. */
struct eventstream_decoder *eventstream_decoder_free(struct eventstream_decoder *d);

/*
 * Consume bytes from data[0..len) until one message is complete or the slice
 * is used up.
 *
 *   1  a message is complete: *ret_msg describes it and *ret_consumed says how
 *      many bytes of the slice were used; feed the rest (data + *ret_consumed)
 *      in a further call, which may yield the next message.
 *   0  the whole slice was consumed (*ret_consumed == len) without completing
 *      a message; *ret_msg is not written.
 *  <0  -EBADMSG, -EMSGSIZE (see above) or -ENOMEM; sticky.
 *
 * len may be 0 (data may then be NULL): returns 0.
 */
int eventstream_decoder_feed(struct eventstream_decoder *d, const void *data, size_t len,
                             size_t *ret_consumed, struct eventstream_message *ret_msg);

/* End of stream: 0 when the decoder stands between messages, -EPIPE when a
 * message was started but not completed (truncated stream), or the sticky
 * error of an earlier feed. */
int eventstream_decoder_finish(const struct eventstream_decoder *d);

/* The first header called name (exact, case-sensitive), or NULL. */
const struct eventstream_header *eventstream_message_header(const struct eventstream_message *m,
                                                            const char *name);

/* The header is a STRING whose value equals s exactly. */
bool eventstream_header_string_is(const struct eventstream_header *h, const char *s);

#ifdef TWOWAYD_UNIT_TEST
int eventstream_parse_headers(const uint8_t *p, size_t len, struct eventstream_header *out,
                              size_t max, size_t *ret_n);
#endif

#endif
