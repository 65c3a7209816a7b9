/*
 * aws_error.h — what went wrong with an AWS call, parsed and classified.
 *
 * A pure module: no I/O, no clock, no logging. It turns an error response
 * (HTTP status, the x-amzn-ErrorType header, the body) or a local transport
 * failure (a negative errno from http_client) into a struct aws_error, and
 * classifies it the way the AWS SDKs' "standard" retry mode does:
 *
 *   throttling  throttling error codes (ThrottlingException, SlowDown, ...) or
 *               HTTP 429 — retried with the throttling backoff base;
 *   transient   HTTP 500/502/503/504, RequestTimeout(Exception),
 *               PriorRequestNotComplete, InternalServerError/Exception, and
 *               local timeouts, connection failures and truncated responses;
 *   permanent   everything else: validation, access, not found,
 *               ConditionalCheckFailedException, bad responses, size limits.
 *
 * Error codes are normalised: "com.amazonaws.dynamodb.v20120810#Foo" and
 * "Foo:http://internal.amazon.com/..." both become "Foo".
 *
 * Ownership: struct aws_error is a plain value with fixed-size, always
 * NUL-terminated strings; copy it freely, nothing to free.
 */
#ifndef TWOWAYD_AWS_ERROR_H
#define TWOWAYD_AWS_ERROR_H

#include <stdbool.h>
#include <stddef.h>

enum aws_error_kind {
        AWS_ERROR_NONE = 0,
        AWS_ERROR_THROTTLING,
        AWS_ERROR_TRANSIENT,
        AWS_ERROR_PERMANENT,
        _AWS_ERROR_KIND_MAX,
};

#define AWS_ERROR_CODE_MAX    128
#define AWS_ERROR_MESSAGE_MAX 512
#define AWS_REQUEST_ID_MAX    128

struct aws_error {
        enum aws_error_kind kind;
        int local; /* negative errno of a local/transport failure; 0 if the service answered */
        long http_status;                    /* 0 when no response was received */
        bool timeout;                        /* a timeout: costs more retry quota */
        char code[AWS_ERROR_CODE_MAX];       /* "ConditionalCheckFailedException", or "" */
        char message[AWS_ERROR_MESSAGE_MAX]; /* service message or strerror, or "" */
        char request_id[AWS_REQUEST_ID_MAX]; /* x-amzn-RequestId / x-amz-request-id, or "" */
};

void aws_error_clear(struct aws_error *e);

/* Normalise an error code: drop everything from the first ':' and everything
 * up to the last '#'. Writes at most size-1 bytes plus NUL into out; returns
 * the length written. */
size_t aws_error_normalize_code(const char *raw, size_t len, char *out, size_t size);

/* Fill *ret from an error response. error_type_header (x-amzn-ErrorType) and
 * request_id may be NULL; body need not be JSON (an HTML page from a proxy
 * leaves the code empty and classifies by status). JSON bodies give the code
 * from "__type", "code" or "Code" and the message from "message", "Message" or
 * "errorMessage"; XML bodies (the Query protocol, SNS) from <Code>/<Message>,
 * read with libxml2 (aws_xml.h).
 * The header, when present, wins over the body. Always succeeds; *ret->kind is
 * set by aws_error_classify(). */
void aws_error_from_response(long status, const char *error_type_header, const char *request_id,
                             const void *body, size_t len, struct aws_error *ret);

/* Fill *ret for a local failure (err < 0, e.g. -ETIMEDOUT, -ECONNREFUSED,
 * -EMSGSIZE, -EBADMSG). code is a short name such as "RequestTimeout",
 * "ConnectionError", "ResponseTooLarge"; message may be NULL (strerror). */
void aws_error_from_local(int err, const char *code, const char *message, struct aws_error *ret);

/* Classify by code, status and local errno (see the table above). */
enum aws_error_kind aws_error_classify(const struct aws_error *e);

bool aws_error_code_is_throttling(const char *code);
bool aws_error_code_is_transient(const char *code);

/* e->code equals code (after normalisation of both sides is not needed: codes
 * in struct aws_error are already normalised). */
bool aws_error_is(const struct aws_error *e, const char *code);

const char *aws_error_kind_to_string(enum aws_error_kind k);
/* The error's name for a log line: code, or for a response without one (a
 * 5xx from the service or a proxy without an error document) "HTTP <status>",
 * so that no failure is logged nameless. The struct keeps its empty code:
 * callers tell a bare 502 from a service's own error by it. */
const char *aws_error_log_code(const char *code, long http_status, char *buf, size_t size);
bool aws_error_retryable(const struct aws_error *e);

#endif
