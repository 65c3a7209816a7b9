/*
 * sigv4.h — AWS Signature Version 4, header form, as a pure module.
 *
 * No I/O, no clock, no logging: the caller passes the request, the credentials
 * and the timestamp, and gets back the strings of every stage (so each can be
 * tested against the AWS suite) and the headers to add. Hashing and HMAC come
 * from OpenSSL.
 *
 * Paths: `path` is the path exactly as it goes on the wire (already
 * percent-encoded by sigv4_uri_encode() segment by segment, as REST services
 * want). Every service but S3 encodes the canonical path once more
 * ("double encoding") and normalizes it (drops empty and "." segments,
 * resolves ".."); params.s3_style turns both off: each segment is then only
 * decoded and encoded once, so that a malformed escape there is -EINVAL.
 * Query: the raw query string as sent (without '?'); it is decoded, re-encoded
 * and sorted for the canonical form. Only %XX is decoded: a '+' stays a literal
 * plus (send spaces as %20), and a malformed escape is -EINVAL.
 *
 * Headers: names are matched case-insensitively. Values are trimmed and inner
 * runs of blanks collapsed for the canonical form; a CR, LF or other control
 * character (tab aside) is -EINVAL rather than a folded line. The caller must
 * not pass the headers this module adds (x-amz-date, x-amz-security-token when
 * a session token is set, x-amz-content-sha256 when asked for) nor
 * Authorization: they are -EINVAL, because a duplicate would be sent twice.
 *
 * Ownership: all inputs are borrowed for the duration of the call; every
 * char * returned (or stored in struct sigv4_result) is malloc'd and owned by
 * the caller; sigv4_result_done() releases a result.
 */
#ifndef TWOWAYD_SIGV4_H
#define TWOWAYD_SIGV4_H

#include <stdbool.h>
#include <stddef.h>

struct sigv4_header {
        const char *name;
        const char *value;
};

struct sigv4_request {
        const char *method; /* "POST" */
        const char *path;   /* "/", "/agents/A1/agentAliases/B2/sessions/s-1/text" */
        const char *query;  /* NULL or "" for none */
        const struct sigv4_header *headers; /* all headers to sign, "host" included */
        size_t n_headers;
        const void *body; /* may be NULL when body_len is 0 */
        size_t body_len;
        const char *payload_hash; /* NULL: SHA-256 of body; else used as is ("UNSIGNED-PAYLOAD") */
};

struct sigv4_credentials {
        const char *access_key_id;
        const char *secret_access_key;
        const char *session_token; /* NULL for long-term keys */
};

struct sigv4_params {
        const char *region;      /* "us-east-1" */
        const char *service;     /* signing name: "dynamodb", "sms-voice", "bedrock", "sns" */
        const char *amz_date;    /* "20150830T123600Z", UTC */
        bool s3_style;           /* no double encoding, no path normalization */
        bool add_content_sha256; /* also sign and return x-amz-content-sha256 */
};

struct sigv4_result {
        char *canonical_request;
        char *string_to_sign;
        char *signature;     /* lower-case hex */
        char *authorization; /* value of the Authorization header */
        /* Headers the caller must add to the request exactly as returned (they
         * are part of the signature), in this order: "X-Amz-Date", then
         * "X-Amz-Security-Token" when a session token is set, then
         * "X-Amz-Content-SHA256" when asked for. */
        struct {
                char *name;
                char *value;
        } add_headers[3];
        size_t n_add_headers;
};

/* Sign a request. Returns 0 and fills *ret on success, -EINVAL on bad input
 * (missing host header, malformed date, ...), -E2BIG beyond 256 headers,
 * -ENOMEM, -EIO if OpenSSL fails.
 * *ret is left untouched on failure. */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *creds,
               const struct sigv4_params *params, struct sigv4_result *ret);
/* Frees (and wipes: the canonical request carries the session token) every
 * string of a result and zeroes it; safe on a zeroed or already done result. */
void sigv4_result_done(struct sigv4_result *r);

/* Percent-encode one path segment or query component the way SigV4 wants:
 * unreserved characters (A-Z a-z 0-9 - . _ ~) kept, everything else %XX with
 * upper-case hex; '/' is encoded too unless keep_slash. Returns malloc'd string
 * or NULL on OOM. */
char *sigv4_uri_encode(const char *s, size_t len, bool keep_slash);

/* Lower-case hex SHA-256 of data into out[65]. Returns 0, or -EIO if OpenSSL
 * fails (out is then an empty string). */
int sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/* Format a time_t as the x-amz-date value into out[17] ("YYYYMMDDTHHMMSSZ").
 * Returns 0, or -ERANGE outside the years 1970..9999. */
int sigv4_format_amz_date(long long epoch_seconds, char out[17]);

#endif
