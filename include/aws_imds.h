/*
 * aws_imds.h — the EC2 instance metadata service, IMDSv2: a session token
 * (PUT /latest/api/token, 6 hours) shared by every request, each GET carrying
 * it; a GET answered 401 gets a new token once; a token PUT answered
 * 403/404/405 falls back to IMDSv1 for that request, unless
 * AWS_EC2_METADATA_V1_DISABLED is true.
 *
 * Callback contract (as in aws.h): if aws_imds_get() returns an error, the
 * callback is never called; otherwise it is called exactly once, from the
 * loop, unless the request is cancelled (aws_imds_request_cancel(): no
 * callback at all).
 *
 * Ownership: the session borrows the loop and the HTTP client. The token is
 * a secret: wiped before it is freed, never logged. Free the session after
 * cancelling its requests (a cancelled request frees itself when its
 * transfer ends, without touching the session).
 */
#ifndef TWOWAYD_AWS_IMDS_H
#define TWOWAYD_AWS_IMDS_H

#include <stddef.h>

#include "aws_endpoint.h"

struct ev_loop;
struct http_client;
struct aws_imds;
struct aws_imds_request;

/* The IMDS base URL the environment selects (AWS_EC2_METADATA_SERVICE_ENDPOINT,
 * or the IPv4 or IPv6 default by AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE), or
 * -ENOENT when AWS_EC2_METADATA_DISABLED is true, -EINVAL for a bad URL. */
int aws_imds_endpoint(aws_getenv_fn getenv_fn, void *userdata, char **ret_url);

struct aws_imds_options {
        struct http_client *http; /* borrowed */
        aws_getenv_fn getenv_fn;  /* NULL: the process environment */
        void *getenv_userdata;
        long timeout_ms; /* connect; the whole request gets twice that */
};

int aws_imds_new(struct ev_loop *loop, const struct aws_imds_options *opts, struct aws_imds **ret);
struct aws_imds *aws_imds_free(struct aws_imds *s);

/* r == 0: the 200 body (not NUL-terminated; len bytes). r < 0: -EACCES
 * (401/403), -ENOENT (404), -EAGAIN (429, 5xx), -EIO (other statuses), the
 * transport's errno, -ENOMEM. */
typedef void (*aws_imds_cb)(int r, const char *body, size_t len, void *userdata);

/* GET base + path (path starts with "/latest/"). */
int aws_imds_get(struct aws_imds *s, const char *base, const char *path, aws_imds_cb cb,
                 void *userdata, struct aws_imds_request **ret);
void aws_imds_request_cancel(struct aws_imds_request *req);

/* The errno of an IMDS or container answer's status (see aws_imds_cb). */
int aws_imds_status_errno(long status);

#ifdef TWOWAYD_UNIT_TEST
/* A fake clock for the token's lifetime (otherwise the loop's), so that a
 * test reaches the token's expiry without waiting six hours. */
typedef double (*aws_imds_clock_fn)(void *userdata);
void aws_imds_test_clock(struct aws_imds *s, aws_imds_clock_fn now, void *userdata);
#endif

#endif
