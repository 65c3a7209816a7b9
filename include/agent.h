/*
 * agent.h — one Amazon Bedrock Agents InvokeAgent call (the bedrock-agent-runtime
 * API model).
 *
 *   POST /agents/{agentId}/agentAliases/{agentAliasId}/sessions/{sessionId}/text
 *   service bedrock-agent-runtime (signing name bedrock), REST-JSON body
 *   {"inputText": ..., "enableTrace": true?, "endSession": true?,
 *    "sessionState": {"sessionAttributes": {...}, "promptSessionAttributes": {...},
 *                     "invocationId": ..., "returnControlInvocationResults": [...]}}
 *
 * What the agent receives (documented for action-group authors in README):
 *   sessionAttributes        originationNumber (the customer), destinationNumber
 *                            (the number texted), inboundMessageId, and the
 *                            operator's [agent] session_attributes;
 *   promptSessionAttributes  inboundMessageId, currentDate (YYYY-MM-DD),
 *                            currentTime (HH:MM, 24 h), currentDateTime (ISO 8601
 *                            with the UTC offset), weekday (English name),
 *                            timeZone (IANA name), textedNumber, and the
 *                            operator's attributes again.
 * inboundMessageId is the End User Messaging id of the inbound SMS: the same
 * on every InvokeAgent made for one message (a retry, a continuation after
 * return of control), so action groups can deduplicate on it.
 *
 * AGENT TURNS (at most once, or at least once where it is safe): twowayd
 * never asks the agent again about a message once an answer stream for it
 * has begun (its actions may have run); after a call that ended without any
 * response byte (a timeout, a lost connection) it asks at most once more. A
 * call the service refused with an error response (throttling, 5xx) never
 * reached the agent and does not count. agent_turn_decide() is that rule;
 * the dispatcher records calls and stream starts in the spool before acting,
 * so a restart follows it. The AWS core never retries an InvokeAgent by
 * itself (one attempt, fresh connection).
 *
 * The response event stream is decoded as it arrives (agent_stream.h). The
 * outcome is one of: the answer; a retryable failure (throttling, transient
 * HTTP errors, timeouts, dependency/internal in-stream exceptions, a broken
 * stream); a permanent one (validation, access, not found, an answer we cannot
 * use: too long, not UTF-8, not understood). timeout_ms bounds the whole call:
 * when it expires the call is cancelled and reported as a retryable -ETIMEDOUT.
 * struct agent_result.streamed tells the caller whether an answer stream had
 * begun, whatever the outcome.
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
#include <time.h>

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

/* Attribute names, part of the documented interface for action groups. */
#define AGENT_ATTR_ORIGINATION        "originationNumber"
#define AGENT_ATTR_DESTINATION        "destinationNumber"
#define AGENT_ATTR_INBOUND_MESSAGE_ID "inboundMessageId"
#define AGENT_ATTR_DATE               "currentDate"
#define AGENT_ATTR_TIME               "currentTime"
#define AGENT_ATTR_DATE_TIME          "currentDateTime"
#define AGENT_ATTR_WEEKDAY            "weekday"
#define AGENT_ATTR_TIME_ZONE          "timeZone"
#define AGENT_ATTR_TEXTED_NUMBER      "textedNumber"

/* At most this many InvokeAgent calls per message that may have reached the
 * agent without an answer stream (the first and one more). */
#define AGENT_TURN_MAX_CALLS 2

enum agent_turn_decision {
        AGENT_TURN_CALL,     /* ask the agent */
        AGENT_TURN_NO_AGAIN, /* an answer stream began before: never again */
        AGENT_TURN_SPENT,    /* AGENT_TURN_MAX_CALLS calls without a stream */
};

/* calls: InvokeAgent calls started for the message and not known to have been
 * refused by the service; streamed: an answer stream began. Pure. */
enum agent_turn_decision agent_turn_decide(unsigned calls, bool streamed);

/* One operator-defined attribute ([agent] session_attributes). */
struct agent_attr {
        const char *name;
        const char *value;
};

struct agent_params;

/* The request body for params; NULL on OOM, -EINVAL-worthy input (no
 * input_text and no return-control results), or an unknown time zone. */
json_t *agent_request_body(const struct agent_params *params);

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

struct agent_call;

/* Called once, from the loop, when the first byte of an answer stream (an
 * HTTP 200 event stream) arrives: from then on the agent may have acted. */
typedef void (*agent_stream_start_cb)(struct agent_call *call, void *userdata);

struct agent_params {
        const char *agent_id;
        const char *alias_id;
        const char *session_id;
        const char *input_text;         /* NULL: left out (end of session, results) */
        const char *origination;        /* originationNumber; NULL: left out */
        const char *destination;        /* destinationNumber and textedNumber */
        const char *inbound_message_id; /* inboundMessageId; NULL: left out */
        const char *time_zone;          /* IANA name for the date attributes; NULL: none */
        time_t now;                     /* the moment those attributes describe */
        const struct agent_attr *attrs; /* operator attributes, n_attrs of them */
        size_t n_attrs;
        bool enable_trace;
        bool end_session;
        const char *invocation_id;      /* return of control: the invocation answered */
        json_t *return_control_results; /* borrowed: returnControlInvocationResults */
        long timeout_ms;                /* the whole call; 0: no bound beyond the AWS core's */
        size_t max_answer;              /* 0: AGENT_STREAM_MAX_ANSWER_DEF */
        agent_stream_start_cb on_stream_start; /* NULL: not told */
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
        bool streamed;                     /* an answer stream began (the agent may have acted) */
        struct agent_stream_counts counts; /* events of the stream, by type */
        const char *citations;             /* ANSWER: " [1] url ..." to append, or "" */
        json_t *return_control;            /* ANSWER: the returnControl payload, or NULL */
        unsigned files;                    /* ANSWER: files the agent produced (not sent) */
};

typedef void (*agent_cb)(const struct agent_result *res, void *userdata);

int agent_invoke(struct ev_loop *loop, struct aws_client *aws, const struct agent_params *params,
                 agent_cb cb, void *userdata, struct agent_call **ret);
/* Idempotent; no effect once the callback has started. */
void agent_call_cancel(struct agent_call *call);

#endif
