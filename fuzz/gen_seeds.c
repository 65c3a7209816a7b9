/*
 * gen_seeds.c — writes the generated part of the fuzz seed corpora:
 *   <dir>/eventstream/gen-*   event-stream frames
 *   <dir>/agent_stream/gen-*  InvokeAgent response streams
 *   <dir>/http_request/gen-*  HTTP requests carrying SNS deliveries signed
 *                             with the key of fuzz_pki.h
 * Each seed starts with the control bytes its target expects (see the
 * targets' headers). Output is deterministic, so regenerating changes nothing
 * unless this file does. Usage: gen_seeds DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <zlib.h>

#include "fuzz_pki.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct buf {
        uint8_t *p;
        size_t n, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
        if (b->n + n > b->cap) {
                b->cap = (b->n + n) * 2 + 64;
                b->p = realloc(b->p, b->cap);
                if (!b->p)
                        abort();
        }
        memcpy(b->p + b->n, p, n);
        b->n += n;
}

static void put_u8(struct buf *b, uint8_t v)
{
        put(b, &v, 1);
}

static void put_be16(struct buf *b, uint16_t v)
{
        uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};

        put(b, x, 2);
}

static void put_be32(struct buf *b, uint32_t v)
{
        uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

        put(b, x, 4);
}

static void put_str(struct buf *b, const char *s)
{
        put(b, s, strlen(s));
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                abort();
        put(b, s, (size_t)n);
        free(s);
}

static uint32_t crc(const uint8_t *p, size_t n)
{
        return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

static const char *outdir;

static void write_seed(const char *target, const char *name, const struct buf *b)
{
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", outdir, target);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/%s/gen-%s", outdir, target, name);
        f = fopen(path, "we");
        if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
}

/* ---- event stream ------------------------------------------------------------------ */

/* Header block builders. */
static void h_string(struct buf *h, const char *name, const char *value)
{
        put_u8(h, (uint8_t)strlen(name));
        put_str(h, name);
        put_u8(h, 7);
        put_be16(h, (uint16_t)strlen(value));
        put_str(h, value);
}

static void frame(struct buf *out, const struct buf *headers, const void *payload, size_t plen)
{
        size_t start = out->n;
        uint32_t total = (uint32_t)(16 + headers->n + plen);

        put_be32(out, total);
        put_be32(out, (uint32_t)headers->n);
        put_be32(out, crc(out->p + start, 8));
        if (headers->n)
                put(out, headers->p, headers->n);
        if (plen)
                put(out, payload, plen);
        put_be32(out, crc(out->p + start, out->n - start));
}

static void seed_prefix(struct buf *b, uint8_t ctl, uint32_t slice_seed)
{
        b->n = 0;
        put_u8(b, ctl);
        put_be32(b, slice_seed);
}

static void gen_eventstream(void)
{
        struct buf b = {0}, h = {0};
        static const uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

        /* Every header type. */
        h.n = 0;
        put_u8(&h, 1), put_str(&h, "t"), put_u8(&h, 0);
        put_u8(&h, 1), put_str(&h, "f"), put_u8(&h, 1);
        put_u8(&h, 4), put_str(&h, "byte"), put_u8(&h, 2), put_u8(&h, 0xff);
        put_u8(&h, 5), put_str(&h, "int16"), put_u8(&h, 3), put_be16(&h, 0x8001);
        put_u8(&h, 5), put_str(&h, "int32"), put_u8(&h, 4), put_be32(&h, 0x80000001u);
        put_u8(&h, 5), put_str(&h, "int64"), put_u8(&h, 5), put_be32(&h, 1), put_be32(&h, 2);
        put_u8(&h, 5), put_str(&h, "bytes"), put_u8(&h, 6), put_be16(&h, 3),
                put_str(&h, "\x00\x01\x02");
        h_string(&h, ":event-type", "chunk");
        put_u8(&h, 2), put_str(&h, "ts"), put_u8(&h, 8), put_be32(&h, 0x00000189),
                put_be32(&h, 0x12345678);
        put_u8(&h, 4), put_str(&h, "uuid"), put_u8(&h, 9), put(&h, uuid, 16);
        put_u8(&h, 5), put_str(&h, "empty"), put_u8(&h, 7), put_be16(&h, 0);
        seed_prefix(&b, 0, 0x12345678);
        frame(&b, &h, "{\"payload\":true}", 16);
        write_seed("eventstream", "all-types", &b);

        /* Two messages, the second without headers or payload; repaired CRCs. */
        seed_prefix(&b, 1, 7);
        h.n = 0;
        h_string(&h, ":message-type", "event");
        frame(&b, &h, "abc", 3);
        h.n = 0;
        frame(&b, &h, NULL, 0);
        write_seed("eventstream", "two-messages", &b);

        /* A message cut short (end of stream inside it). */
        seed_prefix(&b, 0, 99);
        h.n = 0;
        h_string(&h, ":content-type", "application/json");
        frame(&b, &h, "{}", 2);
        b.n -= 3;
        write_seed("eventstream", "truncated", &b);

        /* A bad message CRC, and a small max_message. */
        seed_prefix(&b, 0, 3);
        h.n = 0;
        frame(&b, &h, "payload", 7);
        b.p[b.n - 1] ^= 1;
        write_seed("eventstream", "bad-crc", &b);
        seed_prefix(&b, 1 | (3 << 1), 5);
        frame(&b, &h, "0123456789abcdef0123456789abcdef0123456789abcdef", 48);
        write_seed("eventstream", "too-large", &b);
        free(b.p);
        free(h.p);
}

/* ---- InvokeAgent -------------------------------------------------------------------- */

static void chunk(struct buf *out, const char *text)
{
        struct buf h = {0}, p = {0};
        char b64[1024];
        int n = EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)text,
                                (int)strlen(text));

        h_string(&h, ":event-type", "chunk");
        h_string(&h, ":content-type", "application/json");
        h_string(&h, ":message-type", "event");
        putf(&p, "{\"bytes\":\"%.*s\",\"attribution\":{\"citations\":[]}}", n, b64);
        frame(out, &h, p.p, p.n);
        free(h.p);
        free(p.p);
}

static void event(struct buf *out, const char *type, const char *payload)
{
        struct buf h = {0};

        h_string(&h, ":event-type", type);
        h_string(&h, ":content-type", "application/json");
        h_string(&h, ":message-type", "event");
        frame(out, &h, payload, strlen(payload));
        free(h.p);
}

static void gen_agent_stream(void)
{
        struct buf b = {0}, h = {0};
        const char *msg;

        seed_prefix(&b, 0, 1);
        chunk(&b, "Hello! Your appointment is on Tuesday at 10:00.");
        write_seed("agent_stream", "one-chunk", &b);

        seed_prefix(&b, 0, 0xdeadbeef);
        event(&b, "trace", "{\"trace\":{\"orchestrationTrace\":{}}}");
        chunk(&b, "Caf\xc3");
        chunk(&b, "\xa9 ouvert \xf0\x9f\x98\x80 ");
        event(&b, "returnControl", "{}");
        event(&b, "files", "{}");
        event(&b, "somethingNew", "{}");
        chunk(&b, "");
        write_seed("agent_stream", "chunks-and-events", &b);

        seed_prefix(&b, 1 | (1 << 3), 2);
        chunk(&b, "A long answer that does not fit a small bound.");
        write_seed("agent_stream", "answer-too-long", &b);

        seed_prefix(&b, 0, 3);
        chunk(&b, "partial");
        h.n = 0;
        h_string(&h, ":exception-type", "throttlingException");
        h_string(&h, ":content-type", "application/json");
        h_string(&h, ":message-type", "exception");
        msg = "{\"message\":\"Rate exceeded\"}";
        frame(&b, &h, msg, strlen(msg));
        chunk(&b, "ignored");
        write_seed("agent_stream", "exception", &b);

        seed_prefix(&b, 0, 4);
        h.n = 0;
        h_string(&h, ":error-code", "InternalFailure");
        h_string(&h, ":error-message", "An internal error occurred");
        h_string(&h, ":message-type", "error");
        frame(&b, &h, NULL, 0);
        write_seed("agent_stream", "error", &b);

        seed_prefix(&b, 1, 5);
        h.n = 0;
        h_string(&h, ":message-type", "event");
        h_string(&h, ":event-type", "chunk");
        msg = "{\"bytes\":\"not base64!\"}";
        frame(&b, &h, msg, strlen(msg));
        write_seed("agent_stream", "bad-base64", &b);
        free(b.p);
        free(h.p);
}

/* ---- SNS deliveries ------------------------------------------------------------------ */

static EVP_PKEY *key;

static char *json_escape(const char *s)
{
        struct buf b = {0};

        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        putf(&b, "\\%c", *s);
                else if (*s == '\n')
                        put_str(&b, "\\n");
                else
                        put(&b, s, 1);
        }
        put_u8(&b, 0);
        return (char *)b.p;
}

/* An SNS envelope: kv are the signed fields in signing order (NULL-terminated
 * pairs), extra is appended unsigned JSON members (may be ""). */
static void envelope(struct buf *body, const char *const *kv, const char *version,
                     const char *cert_url, const char *extra)
{
        struct buf tbs = {0};
        unsigned char sig[512];
        char b64[1024];
        size_t siglen = sizeof(sig);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        for (size_t i = 0; kv[i]; i += 2)
                putf(&tbs, "%s\n%s\n", kv[i], kv[i + 1]);
        if (!ctx ||
            EVP_DigestSignInit(ctx, NULL, version[0] == '1' ? EVP_sha1() : EVP_sha256(), NULL,
                               key) != 1 ||
            EVP_DigestSign(ctx, sig, &siglen, tbs.p, tbs.n) != 1)
                abort();
        EVP_MD_CTX_free(ctx);
        EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);

        body->n = 0;
        put_str(body, "{\n");
        for (size_t i = 0; kv[i]; i += 2) {
                char *v = json_escape(kv[i + 1]);

                putf(body, "  \"%s\" : \"%s\",\n", kv[i], v);
                free(v);
        }
        putf(body,
             "  \"SignatureVersion\" : \"%s\",\n  \"Signature\" : \"%s\",\n"
             "  \"SigningCertURL\" : \"%s\"%s\n}\n",
             version, b64, cert_url, extra);
        free(tbs.p);
}

static void http_post(struct buf *out, const char *type, const char *message_id,
                      const struct buf *body, const char *extra_headers)
{
        putf(out,
             "POST /sns HTTP/1.1\r\nHost: twowayd.example.com\r\n"
             "x-amz-sns-message-type: %s\r\nx-amz-sns-message-id: %s\r\n"
             "x-amz-sns-topic-arn: arn:aws:sns:us-east-1:123456789012:twowayd-inbound\r\n"
             "Content-Type: text/plain; charset=UTF-8\r\nUser-Agent: Amazon Simple Notification "
             "Service Agent\r\n%sContent-Length: %zu\r\n\r\n",
             type, message_id, extra_headers, body->n);
        put(out, body->p, body->n);
}

#define TOPIC "arn:aws:sns:us-east-1:123456789012:twowayd-inbound"
#define CERT_URL                                                                                   \
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
#define SMS_JSON                                                                                   \
        "{\"originationNumber\":\"+14255550182\",\"destinationNumber\":\"+12125550101\","          \
        "\"messageKeyword\":\"JOIN\",\"messageBody\":\"STOP\","                                    \
        "\"inboundMessageId\":\"cae173d2-66b9-564c-8309-21f858e9fb84\","                           \
        "\"previousPublishedMessageId\":\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}"

static void gen_http(void)
{
        struct buf body = {0}, out = {0};
        const char *notification[] = {"Message",   SMS_JSON,
                                      "MessageId", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
                                      "Timestamp", "2026-03-06T19:55:38.903Z",
                                      "TopicArn",  TOPIC,
                                      "Type",      "Notification",
                                      NULL};
        const char *with_subject[] = {"Message",
                                      "{\"originationNumber\":\"+447700900123\","
                                      "\"destinationNumber\":\"12345\","
                                      "\"messageBody\":\"Hola \xc2\xbf"
                                      "ayuda?\",\"inboundMessageId\":\"m-2\"}",
                                      "MessageId",
                                      "5a1c2d3e-0000-4000-8000-000000000002",
                                      "Subject",
                                      "inbound",
                                      "Timestamp",
                                      "2026-03-06T20:00:26.893Z",
                                      "TopicArn",
                                      TOPIC,
                                      "Type",
                                      "Notification",
                                      NULL};
        const char *dead[] = {"Message",   "not the JSON of an inbound SMS",
                              "MessageId", "5a1c2d3e-0000-4000-8000-000000000003",
                              "Timestamp", "2026-03-06T20:01:00Z",
                              "TopicArn",  TOPIC,
                              "Type",      "Notification",
                              NULL};
        const char *confirm[] = {"Message",
                                 "You have chosen to subscribe to the topic " TOPIC
                                 ".\nTo confirm the subscription, visit the SubscribeURL "
                                 "included in this message.",
                                 "MessageId",
                                 "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
                                 "SubscribeURL",
                                 "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&"
                                 "TopicArn=" TOPIC "&Token=2336412f37",
                                 "Timestamp",
                                 "2026-03-06T19:31:32.895Z",
                                 "Token",
                                 "2336412f37",
                                 "TopicArn",
                                 TOPIC,
                                 "Type",
                                 "SubscriptionConfirmation",
                                 NULL};
        const char *unsub[] = {"Message",
                               "You have chosen to deactivate subscription " TOPIC ":b24e11a2.",
                               "MessageId",
                               "47138184-6831-46b8-8f7c-afc488602d7d",
                               "SubscribeURL",
                               "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&"
                               "TopicArn=" TOPIC "&Token=2336412f37",
                               "Timestamp",
                               "2026-03-06T20:02:25.038Z",
                               "Token",
                               "2336412f37",
                               "TopicArn",
                               TOPIC,
                               "Type",
                               "UnsubscribeConfirmation",
                               NULL};
        /* Signed deliveries, each a connection of its own. */
        const struct {
                const char *name;
                const char *type;
                const char *const *kv;
                const char *version;
        } deliveries[] = {
                {"notification-v2-subject", "Notification", with_subject, "2"},
                {"notification-dead", "Notification", dead, "2"},
                {"subscription-confirmation", "SubscriptionConfirmation", confirm, "1"},
                {"unsubscribe-confirmation", "UnsubscribeConfirmation", unsub, "2"},
        };
        /* Refusals before the envelope is read. */
        static const struct {
                const char *name;
                const char *request;
        } refusals[] = {
                {"get-and-404",
                 "GET /sns HTTP/1.1\r\nHost: x\r\n\r\nGET /other HTTP/1.1\r\nHost: x\r\n\r\n"},
                {"raw-delivery", "POST /sns HTTP/1.1\r\nHost: x\r\nx-amz-sns-rawdelivery: true\r\n"
                                 "Content-Length: 4\r\n\r\nSTOP"},
                {"too-large", "POST /sns HTTP/1.1\r\nHost: x\r\nx-amz-sns-message-type: "
                              "Notification\r\nContent-Length: 100000\r\n\r\n{}"},
        };
        static const uint8_t ctl[2] = {0, 1};

        envelope(&body, notification, "1", CERT_URL,
                 ",\n  \"UnsubscribeURL\" : \"https://sns.us-east-1.amazonaws.com/"
                 "?Action=Unsubscribe&SubscriptionArn=" TOPIC ":b24e11a2\"");
        out.n = 0;
        put(&out, &ctl[0], 1);
        http_post(&out, "Notification", notification[3], &body, "");
        write_seed("http_request", "notification-v1", &out);
        /* The same delivery twice on one connection: stored, then duplicate. */
        http_post(&out, "Notification", notification[3], &body, "Connection: close\r\n");
        write_seed("http_request", "notification-twice", &out);

        for (size_t i = 0; i < ARRAY_SIZE(deliveries); i++) {
                envelope(&body, deliveries[i].kv, deliveries[i].version, CERT_URL, "");
                out.n = 0;
                put(&out, &ctl[0], 1);
                http_post(&out, deliveries[i].type, deliveries[i].kv[3], &body, "");
                write_seed("http_request", deliveries[i].name, &out);
        }

        /* Unsigned message in "as if signed" mode, sent chunked. */
        out.n = 0;
        put(&out, &ctl[1], 1);
        body.n = 0;
        putf(&body,
             "{\"Type\":\"Notification\",\"MessageId\":\"m-7\",\"TopicArn\":\"%s\","
             "\"Message\":\"%s\",\"Timestamp\":\"2026-03-06T20:01:00.1Z\","
             "\"SignatureVersion\":\"2\",\"Signature\":\"AAAA\",\"SigningCertURL\":\"%s\"}",
             TOPIC,
             "{\\\"originationNumber\\\":\\\"+14255550100\\\",\\\"destinationNumber\\\":"
             "\\\"+12125550101\\\",\\\"messageBody\\\":\\\"help\\\","
             "\\\"inboundMessageId\\\":\\\"m-7\\\"}",
             CERT_URL);
        putf(&out,
             "POST /sns HTTP/1.1\r\nHost: x\r\nx-amz-sns-message-type: Notification\r\n"
             "Transfer-Encoding: chunked\r\n\r\n%zx\r\n",
             body.n / 2);
        put(&out, body.p, body.n / 2);
        putf(&out, "\r\n%zx\r\n", body.n - body.n / 2);
        put(&out, body.p + body.n / 2, body.n - body.n / 2);
        put_str(&out, "\r\n0\r\n\r\n");
        write_seed("http_request", "trusted-chunked", &out);

        for (size_t i = 0; i < ARRAY_SIZE(refusals); i++) {
                out.n = 0;
                put(&out, &ctl[0], 1);
                put_str(&out, refusals[i].request);
                write_seed("http_request", refusals[i].name, &out);
        }

        free(body.p);
        free(out.p);
}

int main(int argc, char **argv)
{
        BIO *bio;

        if (argc != 2) {
                fprintf(stderr, "usage: %s DIR\n", argv[0]);
                return 2;
        }
        outdir = argv[1];
        mkdir(outdir, 0755);
        bio = BIO_new_mem_buf(fuzz_signing_key_pem, -1);
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (!key)
                return 1;
        gen_eventstream();
        gen_agent_stream();
        gen_http();
        EVP_PKEY_free(key);
        return 0;
}
