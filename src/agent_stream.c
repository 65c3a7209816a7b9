/*
 * agent_stream.c — InvokeAgent event-stream messages to an answer or an error (pure).
 *
 * Owns the eventstream decoder and the growing answer buffer (bounded by
 * max_answer). UTF-8 is checked once, on the joined answer, because a chunk
 * boundary may fall inside a multi-byte sequence.
 */
#include <stdio.h>
#include <strings.h>

#include <jansson.h>

#include "agent_stream.h"
#include "base64.h"
#include "common.h"
#include "eventstream.h"
#include "utf8.h"

struct agent_stream {
        struct eventstream_decoder *dec;
        int error; /* sticky negative errno */
        bool done; /* an exception or error message arrived */
        bool finished;

        char *answer; /* NUL-terminated, capacity answer_cap */
        size_t answer_len;
        size_t answer_cap;
        size_t max_answer;

        struct agent_reply reply; /* kind/source/code/message once done; events */

        agent_stream_event_fn event_fn;
        void *event_userdata;
};

static const struct {
        const char *code;
        enum agent_reply_kind kind;
        bool throttling;
} error_table[] = {
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
};

enum agent_reply_kind agent_stream_classify(const char *code, bool *ret_throttling)
{
        bool throttling = false;
        enum agent_reply_kind kind = AGENT_REPLY_PERMANENT;

        for (size_t i = 0; code && i < ARRAY_SIZE(error_table); i++)
                if (strcasecmp(code, error_table[i].code) == 0) {
                        kind = error_table[i].kind;
                        throttling = error_table[i].throttling;
                        break;
                }
        if (ret_throttling)
                *ret_throttling = throttling;
        return kind;
}

const char *agent_reply_kind_to_string(enum agent_reply_kind k)
{
        static const char *const names[_AGENT_REPLY_KIND_MAX] = {
                [AGENT_REPLY_ANSWER] = "answer",
                [AGENT_REPLY_RETRYABLE] = "retryable",
                [AGENT_REPLY_PERMANENT] = "permanent",
        };

        if ((unsigned)k >= _AGENT_REPLY_KIND_MAX)
                return "invalid";
        return names[k];
}

int agent_stream_new(size_t max_message, size_t max_answer, struct agent_stream **ret)
{
        struct agent_stream *s;
        int r;

        if (!ret)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = eventstream_decoder_new(max_message, &s->dec);
        if (r < 0) {
                free(s);
                return r;
        }
        s->max_answer = max_answer ? max_answer : AGENT_STREAM_MAX_ANSWER_DEF;
        *ret = s;
        return 0;
}

void agent_stream_on_event(struct agent_stream *s, agent_stream_event_fn fn, void *userdata)
{
        if (!s)
                return;
        s->event_fn = fn;
        s->event_userdata = userdata;
}

void agent_reply_done(struct agent_reply *r)
{
        if (!r)
                return;
        free(r->text);
        r->text = NULL;
        r->text_len = 0;
        json_decref(r->return_control);
        r->return_control = NULL;
        for (size_t i = 0; i < r->n_citations; i++)
                free(r->citations[i]);
        r->n_citations = 0;
}

struct agent_stream *agent_stream_free(struct agent_stream *s)
{
        if (!s)
                return NULL;
        eventstream_decoder_free(s->dec);
        free(s->answer);
        agent_reply_done(&s->reply);
        free(s);
        return NULL;
}

char *agent_reply_citations_text(const struct agent_reply *r)
{
        char *out = strdup("");

        for (size_t i = 0; out && r && i < r->n_citations; i++) {
                char *next;

                if (asprintf(&next, "%s [%zu] %s", out, i + 1, r->citations[i]) < 0)
                        next = NULL;
                free(out);
                out = next;
        }
        return out;
}

/* The URL of one cited source: webLocation.url, or the url of another
 * location type (Confluence, Salesforce, SharePoint); S3 URIs are not
 * links a texting customer can open. */
static const char *citation_url(json_t *ref)
{
        json_t *loc = json_object_get(ref, "location");
        const char *key;
        json_t *v;

        json_object_foreach(loc, key, v) {
                const char *url = json_string_value(json_object_get(v, "url"));

                if (url && (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0))
                        return url;
        }
        return NULL;
}

static int add_citations(struct agent_stream *s, json_t *attribution)
{
        struct agent_reply *rep = &s->reply;
        json_t *cit, *ref;
        size_t i, j;
        bool any = false;

        json_array_foreach(json_object_get(attribution, "citations"), i, cit) {
                json_array_foreach(json_object_get(cit, "retrievedReferences"), j, ref) {
                        const char *url = citation_url(ref);
                        bool seen = false;

                        if (!url)
                                continue;
                        any = true;
                        for (size_t k = 0; k < rep->n_citations; k++)
                                seen = seen || streq(rep->citations[k], url);
                        if (seen || rep->n_citations >= AGENT_STREAM_MAX_CITATIONS)
                                continue;
                        rep->citations[rep->n_citations] = strdup(url);
                        if (!rep->citations[rep->n_citations])
                                return -ENOMEM;
                        rep->n_citations++;
                }
        }
        if (any)
                rep->counts.attributions++;
        return 0;
}

static void copy_bounded(char *dst, size_t size, const void *src, size_t len)
{
        if (len >= size)
                len = size - 1;
        if (len)
                memcpy(dst, src, len);
        dst[len] = '\0';
}

static void copy_header_string(char *dst, size_t size, const struct eventstream_header *h)
{
        if (h && h->type == EVENTSTREAM_HEADER_STRING)
                copy_bounded(dst, size, h->value.bytes.data, h->value.bytes.len);
        else
                dst[0] = '\0';
}

static int append_answer(struct agent_stream *s, const unsigned char *p, size_t n)
{
        if (n > s->max_answer - s->answer_len)
                return -EMSGSIZE;
        if (s->answer_len + n + 1 > s->answer_cap) {
                size_t cap = MAX(s->answer_cap * 2, s->answer_len + n + 1);
                char *na;

                cap = MIN(cap, s->max_answer + 1);
                na = realloc(s->answer, cap);
                if (!na)
                        return -ENOMEM;
                s->answer = na;
                s->answer_cap = cap;
        }
        memcpy(s->answer + s->answer_len, p, n);
        s->answer_len += n;
        s->answer[s->answer_len] = '\0';
        return 0;
}

static int handle_chunk(struct agent_stream *s, const struct eventstream_message *m)
{
        json_t *root, *bytes;
        _cleanup_free_ unsigned char *raw = NULL;
        size_t raw_len;
        int r;

        if (m->payload_len == 0)
                return -EPROTO;
        root = json_loadb((const char *)m->payload, m->payload_len, 0, NULL);
        if (!root)
                return -EPROTO;
        r = add_citations(s, json_object_get(root, "attribution"));
        if (r < 0) {
                json_decref(root);
                return r;
        }
        bytes = json_object_get(root, "bytes");
        if (!json_is_string(bytes)) {
                /* A chunk may carry only attribution; no bytes means nothing to add. */
                r = (json_is_object(root) && !bytes) ? 0 : -EPROTO;
                json_decref(root);
                return r;
        }
        r = base64_decode(json_string_value(bytes), json_string_length(bytes), &raw, &raw_len);
        json_decref(root);
        if (r == -EILSEQ)
                return -EPROTO;
        if (r < 0)
                return r;
        return append_answer(s, raw, raw_len);
}

static void handle_exception(struct agent_stream *s, const struct eventstream_message *m)
{
        struct agent_reply *rep = &s->reply;
        json_t *root, *msg;

        rep->source = AGENT_ERROR_EXCEPTION;
        copy_header_string(rep->code, sizeof(rep->code),
                           eventstream_message_header(m, ":exception-type"));
        rep->message[0] = '\0';
        root = m->payload_len ? json_loadb((const char *)m->payload, m->payload_len, 0, NULL)
                              : NULL;
        msg = json_object_get(root, "message");
        if (!msg)
                msg = json_object_get(root, "Message");
        if (json_is_string(msg))
                copy_bounded(rep->message, sizeof(rep->message), json_string_value(msg),
                             json_string_length(msg));
        json_decref(root);
        rep->kind = agent_stream_classify(rep->code, &rep->throttling);
}

static void handle_error(struct agent_stream *s, const struct eventstream_message *m)
{
        struct agent_reply *rep = &s->reply;

        rep->source = AGENT_ERROR_ERROR;
        copy_header_string(rep->code, sizeof(rep->code),
                           eventstream_message_header(m, ":error-code"));
        copy_header_string(rep->message, sizeof(rep->message),
                           eventstream_message_header(m, ":error-message"));
        rep->kind = agent_stream_classify(rep->code, &rep->throttling);
}

/* The payload {"invocationId": ..., "invocationInputs": [...]} (both optional
 * in the model) is kept whole:
 * the caller hands the inputs to whoever answers them. */
static int handle_return_control(struct agent_stream *s, const struct eventstream_message *m)
{
        json_t *root = m->payload_len
                               ? json_loadb((const char *)m->payload, m->payload_len, 0, NULL)
                               : NULL;

        if (!json_is_object(root)) {
                json_decref(root);
                return -EPROTO;
        }
        json_decref(s->reply.return_control);
        s->reply.return_control = root;
        return 0;
}

/* SMS carries no files: only how many there were is kept. */
static void handle_files(struct agent_stream *s, const struct eventstream_message *m)
{
        json_t *root = m->payload_len
                               ? json_loadb((const char *)m->payload, m->payload_len, 0, NULL)
                               : NULL;

        s->reply.n_files += (unsigned)json_array_size(json_object_get(root, "files"));
        json_decref(root);
}

/* 0 to go on, 1 when the message ended the stream, < 0 on failure. */
static int handle_message(struct agent_stream *s, const struct eventstream_message *m)
{
        const struct eventstream_header *mt = eventstream_message_header(m, ":message-type");
        struct agent_stream_counts *c = &s->reply.counts;

        if (eventstream_header_string_is(mt, "event")) {
                const struct eventstream_header *et = eventstream_message_header(m, ":event-type");

                if (s->event_fn && et && et->type == EVENTSTREAM_HEADER_STRING) {
                        char name[64];

                        copy_header_string(name, sizeof(name), et);
                        s->event_fn(name, m->payload, m->payload_len, s->event_userdata);
                }
                if (eventstream_header_string_is(et, "chunk")) {
                        c->chunks++;
                        return handle_chunk(s, m);
                }
                if (eventstream_header_string_is(et, "trace"))
                        c->traces++;
                else if (eventstream_header_string_is(et, "returnControl")) {
                        c->return_controls++;
                        return handle_return_control(s, m);
                } else if (eventstream_header_string_is(et, "files")) {
                        c->files++;
                        handle_files(s, m);
                } else
                        c->unknown_events++;
                return 0;
        }
        if (eventstream_header_string_is(mt, "exception")) {
                handle_exception(s, m);
                return 1;
        }
        if (eventstream_header_string_is(mt, "error")) {
                handle_error(s, m);
                return 1;
        }
        return -EPROTO;
}

int agent_stream_feed(struct agent_stream *s, const void *data, size_t len)
{
        const uint8_t *p = data;

        if (!s || (len && !data))
                return -EINVAL;
        if (s->error)
                return s->error;
        if (s->done)
                return 1;

        while (len > 0) {
                struct eventstream_message m;
                size_t used;
                int r;

                r = eventstream_decoder_feed(s->dec, p, len, &used, &m);
                if (r < 0)
                        return (s->error = r);
                p += used;
                len -= used;
                if (r == 0)
                        break;
                r = handle_message(s, &m);
                if (r < 0)
                        return (s->error = r);
                if (r > 0) {
                        s->done = true;
                        return 1;
                }
        }
        return 0;
}

int agent_stream_finish(struct agent_stream *s, struct agent_reply *ret)
{
        struct agent_reply rep;
        int r;

        if (!s || !ret || s->finished)
                return -EINVAL;
        if (s->error)
                return s->error;

        rep = s->reply;
        if (s->done) {
                /* Bytes after the terminal message do not matter; what came
                 * before the error is not used either. */
                rep.text = NULL;
                rep.text_len = 0;
                rep.return_control = NULL;
                rep.n_citations = 0;
                s->finished = true;
                *ret = rep;
                return 0;
        }

        r = eventstream_decoder_finish(s->dec);
        if (r < 0)
                return r;
        if (!s->answer) {
                s->answer = strdup("");
                if (!s->answer)
                        return -ENOMEM;
        }
        if (!utf8_valid(s->answer, s->answer_len, false))
                return -EILSEQ;

        rep.kind = AGENT_REPLY_ANSWER;
        rep.source = AGENT_ERROR_NONE;
        rep.text = TAKE_PTR(s->answer);
        rep.text_len = s->answer_len;
        /* Ownership of the events' data moves to *ret. */
        s->reply.return_control = NULL;
        s->reply.n_citations = 0;
        s->answer_len = s->answer_cap = 0;
        s->finished = true;
        *ret = rep;
        return 0;
}
