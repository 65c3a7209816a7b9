/*
 * aws_creds.h — AWS credentials: the standard provider chain, refreshed in
 * the background. The shared files are read by aws_profile.h, the instance
 * metadata asked through aws_imds.h; the region is aws_region.h's.
 *
 * Chain, in order (the first source that is configured wins):
 *   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *      (+ AWS_SESSION_TOKEN);
 *   2. shared files for profile AWS_PROFILE (default "default"):
 *      AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials, sections
 *      [name]) and AWS_CONFIG_FILE (default ~/.aws/config, sections
 *      [profile name] and [default]); the credentials file wins;
 *   3. container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on
 *      http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or
 *      http to loopback / 169.254.170.2 / 169.254.170.23 / fd00:ec2::23), with
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
 *      AWS_CONTAINER_AUTHORIZATION_TOKEN as the Authorization header;
 *   4. EC2 IMDSv2 (token PUT, role GET, credentials GET) at
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT (default http://169.254.169.254),
 *      unless AWS_EC2_METADATA_DISABLED=true.
 *
 * Temporary credentials are refreshed in the background before they expire:
 * 5 minutes before, or at half their lifetime when that is shorter than 15
 * minutes. Requests asking for credentials get the current ones while they
 * are valid, even during a refresh; they wait only when there are none (or
 * they are about to expire) and never fail because a refresh is running. A
 * failed refresh keeps the old credentials until they expire, is retried, and
 * is logged once (not per request) until a refresh succeeds again.
 *
 * Callback contract (as in aws.h): if aws_creds_get() or
 * aws_creds_region_resolve() returns an error, the callback is never called;
 * otherwise it is called exactly once, from the loop, never inside the call.
 * aws_creds_wait_cancel() completes with -ECANCELED. Freeing the provider
 * completes outstanding requests with -ECANCELED before it returns.
 *
 * Ownership and secrets: struct aws_credentials owns its strings;
 * aws_credentials_done() wipes and frees them. The credentials passed to a
 * callback belong to the provider and are valid only during the callback —
 * sign with them right there, do not keep the pointer. Secrets are wiped
 * from every buffer we own before it is freed, and are never logged.
 *
 * The provider borrows the http_client; free the provider first.
 * Loop thread only.
 */
#ifndef TWOWAYD_AWS_CREDS_H
#define TWOWAYD_AWS_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws_endpoint.h"
#include "aws_region.h"

struct ev_loop;
struct http_client;
struct aws_creds_provider;
struct aws_creds_wait;

enum aws_creds_source {
        AWS_CREDS_SOURCE_NONE,
        AWS_CREDS_SOURCE_STATIC, /* given in the options */
        AWS_CREDS_SOURCE_ENV,
        AWS_CREDS_SOURCE_PROFILE,
        AWS_CREDS_SOURCE_CONTAINER,
        AWS_CREDS_SOURCE_IMDS,
        _AWS_CREDS_SOURCE_MAX,
};

struct aws_credentials {
        char *access_key_id;
        char *secret_access_key;
        char *session_token; /* NULL for long-term keys */
        int64_t expiration;  /* Unix seconds; 0: does not expire */
        enum aws_creds_source source;
};

void aws_credentials_done(struct aws_credentials *c);
int aws_credentials_copy(const struct aws_credentials *src, struct aws_credentials *ret);
const char *aws_creds_source_to_string(enum aws_creds_source s);

/* --- pure parts (exposed for tests and for a later "doctor") --------------- */

/* Parse an IMDS/container credentials document: AccessKeyId,
 * SecretAccessKey, Token, Expiration; "Code", when present, must be
 * "Success". require_session: Token and Expiration are mandatory (IMDS).
 * Returns 0, -EBADMSG (not a credentials document), -EACCES (Code is not
 * Success), -ENOMEM. */
int aws_creds_parse_document(const char *json, size_t len, bool require_session,
                             struct aws_credentials *ret);

/* The local head of the chain: environment, then shared files. Returns
 * AWS_CREDS_SOURCE_ENV or _PROFILE with *ret filled, or the remote source to
 * try next (_CONTAINER or _IMDS), or _NONE when none is configured (IMDS
 * disabled); a negative errno for a malformed file. */
int aws_creds_chain_local(aws_getenv_fn getenv_fn, void *userdata, struct aws_credentials *ret);

/* Container endpoint from the environment: URL and optional Authorization
 * value (malloc'd, caller frees). -ENOENT when not configured, -EINVAL when
 * the URL is not allowed, -EBADMSG for a token with CR/LF. */
int aws_creds_container_endpoint(aws_getenv_fn getenv_fn, void *userdata, char **ret_url,
                                 char **ret_authorization);

/* When to refresh credentials obtained at `obtained` that expire at
 * `expiration` (both Unix seconds). */
int64_t aws_creds_refresh_time(int64_t obtained, int64_t expiration);

/* --- the provider ------------------------------------------------------------ */

struct aws_creds_options {
        struct http_client *http; /* for container and IMDS; borrowed */
        aws_getenv_fn getenv_fn;  /* NULL: the process environment */
        void *getenv_userdata;
        const struct aws_credentials *static_creds; /* copied; NULL: use the chain */
        long remote_timeout_ms;                     /* container/IMDS per request; 0: 1000 */
};

int aws_creds_provider_new(struct ev_loop *loop, const struct aws_creds_options *opts,
                           struct aws_creds_provider **ret);
struct aws_creds_provider *aws_creds_provider_free(struct aws_creds_provider *p);

/* r == 0: creds valid for the duration of the callback. r < 0: -ENOKEY (no
 * source configured), -EACCES, -ETIMEDOUT, -ECONNREFUSED, ... from the source
 * that failed, or -ECANCELED. */
typedef void (*aws_creds_cb)(int r, const struct aws_credentials *creds, void *userdata);

int aws_creds_get(struct aws_creds_provider *p, aws_creds_cb cb, void *userdata,
                  struct aws_creds_wait **ret);
/* Idempotent: a wait already cancelled is left as it is. */
void aws_creds_wait_cancel(struct aws_creds_wait *w);

/* Start resolving now (e.g. at start-up) without waiting for a request. */
void aws_creds_prefetch(struct aws_creds_provider *p);

/* What supplied the current credentials, for status reports. */
enum aws_creds_source aws_creds_current_source(const struct aws_creds_provider *p);

/* The region (aws_region.h) from this provider's environment and instance
 * metadata session; a lookup still under way when the provider is freed
 * completes with -ECANCELED. */
int aws_creds_region_resolve(struct aws_creds_provider *p, const char *configured, aws_region_cb cb,
                             void *userdata);

#endif
