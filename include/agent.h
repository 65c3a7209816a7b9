/*
 * agent.h — one Amazon Bedrock Agents InvokeAgent call (aws-wire-notes §3).
 *
 *   POST /agents/{agentId}/agentAliases/{agentAliasId}/sessions/{sessionId}/text
 *   service bedrock-agent-runtime (signing name bedrock), REST-JSON body
 *   {"inputText": ..., "sessionState": {"sessionAttributes":
 *       {"originationNumber": ..., "destinationNumber": ...}}}
 *
 * The response event stream is decoded as it arrives (agent_stream.h). The
 * outcome is one of: the answer; a retryable failure (throttling, transient
 * HTTP errors, timeouts, dependency/internal in-stream exceptions, a broken
 * stream); a permanent one (validation, access, not found, an answer we cannot
 * use: too long, not UTF-8, not understood). timeout_ms bounds the whole call, the AWS core's own
 * retries included: when it expires the call is cancelled and reported as a retryable -ETIMEDOUT.
 *
 * Session ids: one conversation per customer number, so the agent keeps its
 * context across messages: "p" followed by the number's characters from
 * [0-9A-Za-z._-] ("+14255550123" -> "p14255550123"). No '+' or ':' ever goes
 * on the wire, so the path needs no double encoding.
 *
 * Callback contract as in aws.h: if agent_invoke() fails, the callback is never
 * called; otherwise exactly once, from the loop. agent_call_cancel() completes
 * it with error -ECANCELED; aws_client_free() completes outstanding calls
 * synchronously with -ECANCELED. struct agent_result and what it points to are
 * valid only during the callback.
 */
#ifndef TWOWAYD_AGENT_H
#define TWOWAYD_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "agent_stream.h"

struct ev_loop;
struct aws_client;
struct aws_error;
struct agent_call;

#define AGENT_SESSION_ID_MIN 2
#define AGENT_SESSION_ID_MAX 100 /* characters, without the NUL */

/* The session id for a customer number into buf (size >= AGENT_SESSION_ID_MAX + 1
 * suffices). Returns the length; -EINVAL when the number has no usable
 * character, -ENOBUFS when buf is too small. */
int agent_session_id(const char *e164, char *buf, size_t size);

/* The request body; NULL on OOM or input_text NULL. origination and destination
 * may be NULL (then left out). */
json_t *agent_request_body(const char *input_text, const char *origination,
                           const char *destination);

/* The wire path, each label encoded; malloc'd, NULL on OOM or an empty label. */
char *agent_request_path(const char *agent_id, const char *alias_id, const char *session_id);

/* Classify a failed call: r and err as delivered by aws.h. *ret_throttling
 * may be NULL. Throttling and transient errors, and modeled codes that
 * agent_stream_classify() calls retryable (DependencyFailedException,
 * ModelNotReadyException, ...), are retryable; so are -EBADMSG and -EPIPE
 * (a corrupt or truncated stream) and -ETIMEDOUT; other failures follow the
 * AWS core's classification (aws_error.h) or are permanent. */
enum agent_reply_kind agent_classify_failure(int r, const struct aws_error *err,
                                             bool *ret_throttling);

/* Classify an error of the event-stream decoder (agent_stream.h): a corrupt
 * or truncated stream (-EBADMSG, -EPIPE) and -ENOMEM are retryable; an answer
 * we cannot use (-EPROTO, -EILSEQ, -EMSGSIZE) is permanent. */
enum agent_reply_kind agent_classify_stream_error(int r);

struct agent_params {
        const char *agent_id;
        const char *alias_id;
        const char *session_id;
        const char *input_text;
        const char *origination; /* sessionAttributes.originationNumber */
        const char *destination; /* sessionAttributes.destinationNumber */
        long timeout_ms;         /* the whole call; 0: no bound beyond the AWS core's */
        size_t max_answer;       /* 0: AGENT_STREAM_MAX_ANSWER_DEF */
};

struct agent_result {
        enum agent_reply_kind kind;
        const char *text; /* ANSWER: the answer, valid UTF-8 (may be ""); else NULL */
        size_t text_len;
        int error;        /* 0 for ANSWER; else a negative errno: -EREMOTEIO (service
                           * error, in the stream or before it), -ETIMEDOUT, ... */
        bool throttling;  /* RETRYABLE: use the throttling backoff */
        const char *code; /* error code or in-stream exception type, or "" */
        const char *message;
        long http_status;
        const char *request_id; /* "" when none */
        unsigned attempts;
        double latency_ms;
};

typedef void (*agent_cb)(const struct agent_result *res, void *userdata);

int agent_invoke(struct ev_loop *loop, struct aws_client *aws, const struct agent_params *params,
                 agent_cb cb, void *userdata, struct agent_call **ret);
/* Idempotent; no effect once the callback has started. */
void agent_call_cancel(struct agent_call *call);

#endif
