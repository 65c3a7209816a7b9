/*
 * aws.h — one AWS API call: build, sign, send, retry, classify, deliver.
 *
 * CALLBACK CONTRACT (for every start function in this module):
 *   - if aws_call_start() returns an error (< 0), the callback is never called;
 *   - otherwise it is called exactly once, from the loop, never synchronously
 *     inside aws_call_start();
 *   - aws_call_cancel() makes it complete with r == -ECANCELED (later, from
 *     the loop);
 *   - aws_client_free() completes every outstanding call with -ECANCELED
 *     before it returns (the one synchronous case: teardown).
 *
 * A call goes: wait for credentials (never failing because a refresh is in
 * progress) -> sign with SigV4 (sigv4.h) -> send on the shared http_client ->
 * classify the outcome (aws_error.h) -> on a throttling or transient error,
 * wait the standard-mode backoff on an ev_timer (aws_retry.h; never sleeps)
 * and go again with fresh credentials and a fresh signature -> callback.
 * Every attempt is logged as one structured event "aws.attempt" with
 * AWS_SERVICE, AWS_OPERATION, ATTEMPT, LATENCY_MS, HTTP_STATUS,
 * AWS_REQUEST_ID, AWS_ERROR, AWS_ERROR_KIND (and RETRY_DELAY_MS when a retry
 * follows): success at debug level, a failure that will be retried as a
 * warning, a final failure at info (the caller decides how bad it is).
 *
 * Protocols:
 *   JSON 1.0 (dynamodb, sms-voice): POST <base>/, Content-Type
 *     application/x-amz-json-1.0, X-Amz-Target <prefix>.<operation>;
 *   REST-JSON (bedrock-agent-runtime): params.method + params.path (the wire
 *     path, each label encoded — build it with aws_rest_path()), Content-Type
 *     application/json;
 *   Query (sns): POST <base>/ with params.raw_body as the form body; the XML
 *     response is delivered raw (no JSON) and XML errors are parsed.
 * Responses with Content-Type application/vnd.amazon.eventstream are not
 * parsed as JSON: the raw bytes are delivered (or streamed to on_data).
 *
 * Results: r == 0 for a 2xx response. Otherwise r < 0 and res->error says
 * what happened: -EREMOTEIO when the service answered with an error (see
 * error->code, e.g. "ConditionalCheckFailedException"), or a local errno
 * (-ETIMEDOUT, -ECONNREFUSED, -ECONNRESET for a truncated response,
 * -EMSGSIZE for a response over the size limit, -EBADMSG for a 2xx body that
 * is not valid JSON, -ENOKEY when no credentials could be found,
 * -ECANCELED). res is never NULL.
 *
 * Ownership: the client borrows the http_client and the credentials provider
 * (free the client first). Everything in struct aws_call_params is copied by
 * aws_call_start() (body serialised), so it may be freed when it returns.
 * *ret (struct aws_call) is owned by the client and valid until the callback
 * returns; do not use it afterwards. The struct aws_result passed to the
 * callback and everything it points to is valid only during the callback;
 * json_incref(res->json) to keep the parsed body.
 *
 * Loop thread only.
 */
#ifndef TWOWAYD_AWS_H
#define TWOWAYD_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "aws_endpoint.h"
#include "aws_error.h"
#include "aws_retry.h"

struct ev_loop;
struct http_client;
struct http_client_response;
struct aws_creds_provider;
struct aws_client;
struct aws_call;

#define AWS_CALL_MAX_ATTEMPTS 10

struct aws_client_options {
        struct http_client *http;         /* borrowed */
        struct aws_creds_provider *creds; /* borrowed */
        const char *region;               /* required */
        aws_getenv_fn getenv_fn;          /* endpoint overrides; NULL: the process environment */
        void *getenv_userdata;
        struct aws_retry_config retry;       /* zeroes: defaults (3 attempts, 100 ms / 1 s bases) */
        unsigned retry_quota;                /* 0: AWS_RETRY_QUOTA_DEFAULT */
        double (*random_fn)(void *userdata); /* [0, 1); NULL: an internal generator */
        void *random_userdata;
        int64_t (*clock_fn)(void *userdata); /* Unix seconds for X-Amz-Date; NULL: time() */
        void *clock_userdata;
        long timeout_ms;     /* per attempt; 0: the http_client default */
        size_t max_response; /* per attempt; 0: the http_client default */
};

struct aws_header {
        const char *name;
        const char *value;
};

/* Return 0 to continue, a negative errno to abort the call with it. */
typedef int (*aws_stream_cb)(struct aws_call *call, const struct http_client_response *head,
                             const void *data, size_t len, void *userdata);

struct aws_call_params {
        enum aws_service service;
        const char *operation; /* "PutItem", "SendTextMessage", "InvokeAgent" */
        const char *method;    /* REST: "POST" when NULL */
        const char *path;      /* REST: wire path, e.g. from aws_rest_path(); NULL: "/" */
        const char *query;     /* raw query string without '?', or NULL */
        const json_t *body;    /* serialised compactly; NULL: "{}" (JSON 1.0) / empty */
        const char *raw_body;  /* instead of body (Query protocol forms) */
        size_t raw_body_len;
        const char *content_type;         /* NULL: the protocol's default */
        const struct aws_header *headers; /* extra headers, signed (e.g. x-amz-source-arn) */
        size_t n_headers;
        unsigned max_attempts; /* 0: the client's; capped at AWS_CALL_MAX_ATTEMPTS */
        long timeout_ms;       /* per attempt; 0: the client's */
        size_t max_response;   /* 0: the client's */
        aws_stream_cb on_data; /* stream 2xx bodies instead of buffering them; no retry
                                * once any byte has been streamed */
        bool fresh_connection; /* every attempt on a new connection, so that libcurl
                                * cannot replay it silently (http_client.h); for
                                * calls that must not run twice, together with
                                * max_attempts = 1 */
};

/* One attempt, as logged. */
struct aws_attempt {
        long http_status;
        enum aws_error_kind kind;
        int local;
        double latency_ms;
        double delay_ms; /* backoff before the next attempt; 0 for the last */
        char code[AWS_ERROR_CODE_MAX];
};

struct aws_result {
        long http_status;       /* of the last attempt; 0 if no response */
        const char *request_id; /* "" when none */
        json_t *json;           /* parsed 2xx JSON body; NULL for raw/event-stream/Query */
        const uint8_t *raw;     /* the body as received (NUL-terminated), or NULL */
        size_t raw_len;
        const char *content_type; /* "" when none */
        bool event_stream;        /* application/vnd.amazon.eventstream */
        unsigned attempts;
        const struct aws_attempt *history;       /* attempts entries */
        const struct aws_error *error;           /* kind AWS_ERROR_NONE on success */
        const struct http_client_response *http; /* headers etc.; NULL if no response */
};

typedef void (*aws_call_cb)(struct aws_call *call, int r, const struct aws_result *res,
                            void *userdata);

int aws_client_new(struct ev_loop *loop, const struct aws_client_options *opts,
                   struct aws_client **ret);
/* Completes outstanding calls with -ECANCELED, then frees. NULL-safe. */
struct aws_client *aws_client_free(struct aws_client *c);

/* -EINVAL for bad parameters (unknown service, JSON 1.0 without operation,
 * malformed endpoint override, invalid region), -ENOMEM. */
int aws_call_start(struct aws_client *c, const struct aws_call_params *params, aws_call_cb cb,
                   void *userdata, struct aws_call **ret);
/* aws_call_start() for the usual caller, which builds a JSON body and
 * allocates its callback's state for this one call. The caller's reference
 * to body passes to the call (NULL: the body could not be built, -ENOMEM,
 * unless params->raw_body is the body, as in a Query-protocol form);
 * params->body is ignored. With free_state, state NULL means its allocation
 * failed (-ENOMEM), and a call that does not start releases state with it,
 * as the callback that would have done so never runs. */
int aws_call_start_owned(struct aws_client *c, const struct aws_call_params *params, json_t *body,
                         aws_call_cb cb, void *state, void (*free_state)(void *),
                         struct aws_call **ret);
/* Idempotent; no effect once the callback has started. */
void aws_call_cancel(struct aws_call *call);

/* The HTTP client the AWS calls share (borrowed), for other outbound requests
 * of the same loop that should obey the same limits. */
struct http_client *aws_client_http(const struct aws_client *c);
/* The endpoint a service resolves to for this client (for diagnostics):
 * borrowed, valid until the client is freed; NULL on error. */
const struct aws_endpoint *aws_client_endpoint(struct aws_client *c, enum aws_service s);

/* Join path labels into a wire path, each label percent-encoded with
 * sigv4_uri_encode(): {"agents","A1","sessions","s:1"} -> "/agents/A1/sessions/s%3A1".
 * Returns a malloc'd string or NULL on OOM/empty label. */
char *aws_rest_path(const char *const *labels, size_t n);

#endif
