/*
 * agent_stream.h — the Bedrock Agents InvokeAgent response stream, decoded.
 *
 * A pure module: no I/O, no clock, no logging. It sits on eventstream.h and
 * turns the body of an HTTP 200 InvokeAgent response into either the agent's
 * answer text or a classified in-stream error (the ResponseStream union of the
 * bedrock-agent-runtime API model):
 *
 *   :message-type event      :event-type chunk: payload {"bytes": "<base64>",
 *                            "attribution": {"citations": [...]}}; the decoded
 *                            bytes of all chunks are joined in order into the
 *                            answer; the URLs of the cited sources (web, and
 *                            the url of other locations) are collected, each
 *                            once, at most AGENT_STREAM_MAX_CITATIONS.
 *                            returnControl: the payload (invocationId,
 *                            invocationInputs) is kept for the caller.
 *                            trace, files: counted; the caller may see each
 *                            event's payload through agent_stream_on_event().
 *                            any other event type: counted as unknown, ignored
 *                            (new union members must not break old daemons).
 *   :message-type exception  :exception-type names a modeled error; payload
 *                            {"message": "..."} (message optional).
 *   :message-type error      unmodeled error: :error-code, :error-message.
 *
 * Classification of exception types and error codes (ASCII case-insensitive,
 * so "ThrottlingException" and "throttlingException" are the same):
 *   retryable  throttlingException, internalServerException,
 *              dependencyFailedException, badGatewayException,
 *              serviceQuotaExceededException, modelNotReadyException;
 *   permanent  validationException, accessDeniedException,
 *              resourceNotFoundException, conflictException, and anything
 *              not listed.
 * throttlingException and serviceQuotaExceededException also set
 * .throttling, for the throttling backoff. AWS advises retrying
 * dependencyFailedException at most once; that budget is the caller's.
 *
 * The first exception or error message ends the stream: agent_stream_feed()
 * returns 1, later bytes are accepted and ignored, and the partial answer is
 * dropped (half an answer is never sent to a customer).
 *
 * Local failures are negative errnos, distinct so the caller can tell them apart:
 *   -EBADMSG   framing: CRC mismatch or malformed message (eventstream.h)
 *   -EMSGSIZE  a message above max_message, or the answer above max_answer
 *   -EPIPE     the stream ended inside a message (truncated body)
 *   -EPROTO    a well-framed message we cannot interpret: no or non-string
 *              :message-type, unknown :message-type, a chunk payload that is not
 *              JSON with a string "bytes", base64 that does not decode
 *   -EILSEQ    the joined answer is not valid UTF-8 or contains U+0000
 *   -ENOMEM
 * Errors from agent_stream_feed() are sticky.
 *
 * Ownership: struct agent_stream is owned by its creator (agent_stream_free()).
 * struct agent_reply owns .text, .return_control and .citations; release them
 * with agent_reply_done().
 */
#ifndef TWOWAYD_AGENT_STREAM_H
#define TWOWAYD_AGENT_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define AGENT_STREAM_MAX_ANSWER_DEF (1024u * 1024u)
#define AGENT_ERROR_CODE_MAX        128
#define AGENT_ERROR_MESSAGE_MAX     512

enum agent_reply_kind {
        AGENT_REPLY_ANSWER,    /* .text holds the answer (possibly empty) */
        AGENT_REPLY_RETRYABLE, /* in-stream error worth a new request, same session */
        AGENT_REPLY_PERMANENT, /* in-stream error that a retry will not fix */
        _AGENT_REPLY_KIND_MAX,
};

enum agent_error_source {
        AGENT_ERROR_NONE,
        AGENT_ERROR_EXCEPTION, /* :message-type exception */
        AGENT_ERROR_ERROR,     /* :message-type error */
        _AGENT_ERROR_SOURCE_MAX,
};

#define AGENT_STREAM_MAX_CITATIONS 3

struct agent_stream_counts {
        unsigned chunks;
        unsigned traces;
        unsigned return_controls;
        unsigned files;
        unsigned attributions; /* chunks that carried citations */
        unsigned unknown_events;
};

struct agent_reply {
        enum agent_reply_kind kind;
        char *text; /* ANSWER: NUL-terminated, valid UTF-8, owned; NULL otherwise */
        size_t text_len;
        enum agent_error_source source;
        bool throttling;                       /* RETRYABLE: use the throttling backoff */
        char code[AGENT_ERROR_CODE_MAX];       /* exception type or error code, or "" */
        char message[AGENT_ERROR_MESSAGE_MAX]; /* truncated to fit; may be "" */
        struct agent_stream_counts counts;
        json_t *return_control; /* ANSWER: the last returnControl payload, owned; or NULL */
        char *citations[AGENT_STREAM_MAX_CITATIONS]; /* ANSWER: cited URLs, owned */
        size_t n_citations;
        unsigned n_files; /* files announced by files events */
};

struct agent_stream;

/* max_message: eventstream bound (0 = default); max_answer: bound on the joined
 * decoded answer in bytes (0 = AGENT_STREAM_MAX_ANSWER_DEF). */
int agent_stream_new(size_t max_message, size_t max_answer, struct agent_stream **ret);

/* Every well-formed event message (its :event-type and payload) is shown to
 * fn before it is handled; the payload is valid only during the call. */
typedef void (*agent_stream_event_fn)(const char *event_type, const void *payload, size_t len,
                                      void *userdata);
void agent_stream_on_event(struct agent_stream *s, agent_stream_event_fn fn, void *userdata);

/* The citations of reply as " [1] URL [2] URL" (malloc'd; "" when none). */
char *agent_reply_citations_text(const struct agent_reply *r);
struct agent_stream *agent_stream_free(struct agent_stream *s);

/* Feed a slice of the response body. 0: keep reading; 1: an exception or error
 * message arrived, the outcome is known (reading further is pointless); < 0: a
 * local failure listed above. */
int agent_stream_feed(struct agent_stream *s, const void *data, size_t len);

/* At end of body: fills *ret (0), or returns a local failure listed above
 * (-EPIPE for a truncated stream, -EILSEQ for a bad answer, a sticky feed
 * error). The answer moves into *ret; call once. */
int agent_stream_finish(struct agent_stream *s, struct agent_reply *ret);

void agent_reply_done(struct agent_reply *r);

/* Classification used above, exposed for the pre-stream (HTTP error) path:
 * AGENT_REPLY_RETRYABLE or AGENT_REPLY_PERMANENT; *ret_throttling may be NULL. */
enum agent_reply_kind agent_stream_classify(const char *code, bool *ret_throttling);

const char *agent_reply_kind_to_string(enum agent_reply_kind k);

#endif
