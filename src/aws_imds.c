/*
 * aws_imds.c — IMDSv2 requests on the loop, one token for all. See
 * aws_imds.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <strings.h>

#include <ev.h>

#include "aws_imds.h"
#include "common.h"
#include "http_client.h"

#define IMDS_DEFAULT_ENDPOINT    "http://169.254.169.254"
#define IMDS_DEFAULT_ENDPOINT_V6 "http://[fd00:ec2::254]"
#define IMDS_TOKEN_TTL_S         21600
#define IMDS_MAX_RESPONSE        (64 * 1024)

struct aws_imds {
        struct ev_loop *loop;
        struct http_client *http;
        aws_getenv_fn getenv_fn;
        void *getenv_userdata;
        long timeout_ms;
        char *token;
        double token_expiry;
#ifdef TWOWAYD_UNIT_TEST
        aws_imds_clock_fn clock;
        void *clock_userdata;
#endif
};

struct aws_imds_request {
        struct aws_imds *s;
        char *base, *path;
        aws_imds_cb cb;
        void *userdata;
        struct http_transfer *xfer;
        bool put;           /* the transfer under way is the token PUT */
        bool token_retried; /* a 401 got a new token once */
        bool v1;            /* IMDSv1 fallback: no token */
        bool cancelled;
};

static bool env_true(const char *v)
{
        return v && (strcasecmp(v, "true") == 0 || streq(v, "1"));
}

int aws_imds_endpoint(aws_getenv_fn getenv_fn, void *userdata, char **ret_url)
{
        const char *ep = getenv_fn("AWS_EC2_METADATA_SERVICE_ENDPOINT", userdata);
        const char *mode = getenv_fn("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", userdata);
        struct aws_endpoint e;
        char *s;
        int r;

        if (env_true(getenv_fn("AWS_EC2_METADATA_DISABLED", userdata)))
                return -ENOENT;
        if (isempty(ep))
                ep = (mode && strcasecmp(mode, "IPv6") == 0) ? IMDS_DEFAULT_ENDPOINT_V6
                                                             : IMDS_DEFAULT_ENDPOINT;
        r = aws_endpoint_parse_url(ep, &e);
        if (r < 0)
                return r;
        s = TAKE_PTR(e.url); /* normalised, no trailing slash */
        aws_endpoint_done(&e);
        *ret_url = s;
        return 0;
}

int aws_imds_status_errno(long status)
{
        if (status == 401 || status == 403)
                return -EACCES;
        if (status == 404)
                return -ENOENT;
        if (status == 429 || status >= 500)
                return -EAGAIN;
        return -EIO;
}

/* The clock of the token's lifetime. */
static double imds_now(const struct aws_imds *s)
{
#ifdef TWOWAYD_UNIT_TEST
        if (s->clock)
                return s->clock(s->clock_userdata);
#endif
        return ev_now(s->loop);
}

static void request_free(struct aws_imds_request *req)
{
        free(req->base);
        free(req->path);
        free(req);
}

static void request_finish(struct aws_imds_request *req, int r, const char *body, size_t len)
{
        req->cb(r, body, len, req->userdata);
        request_free(req);
}

static void request_done(struct http_transfer *t, int r, const struct http_client_response *resp,
                         void *userdata);

/* The token PUT when there is no valid token (and IMDSv1 was not fallen back
 * to), else the GET. */
static int request_send(struct aws_imds_request *req)
{
        struct aws_imds *s = req->s;
        _cleanup_free_ char *url = NULL, *hdr = NULL;
        const char *headers[1];
        struct http_client_req hreq = {
                .connect_timeout_ms = s->timeout_ms,
                .timeout_ms = 2 * s->timeout_ms,
                .max_response = IMDS_MAX_RESPONSE,
                .headers = headers,
                .sensitive = true,
        };
        int r;

        req->put = !req->v1 && (!s->token || imds_now(s) >= s->token_expiry);
        if (req->put) {
                hreq.method = "PUT";
                r = asprintf(&url, "%s/latest/api/token", req->base);
                headers[hreq.n_headers++] = "X-aws-ec2-metadata-token-ttl-seconds: 21600";
        } else {
                hreq.method = "GET";
                r = asprintf(&url, "%s%s", req->base, req->path);
                if (r >= 0 && !req->v1 && s->token) {
                        if (asprintf(&hdr, "X-aws-ec2-metadata-token: %s", s->token) < 0) {
                                hdr = NULL;
                                return -ENOMEM;
                        }
                        headers[hreq.n_headers++] = hdr;
                }
        }
        if (r < 0) {
                url = NULL;
                return -ENOMEM;
        }
        hreq.url = url;
        r = http_client_start(s->http, &hreq, request_done, req, &req->xfer);
        if (hdr)
                explicit_wipe(hdr, strlen(hdr));
        return r;
}

/* A token PUT answered: keep the token, or fall back to IMDSv1, or fail. */
static int token_answered(struct aws_imds_request *req, const struct http_client_response *resp)
{
        struct aws_imds *s = req->s;
        const char *body = resp->body ? (const char *)resp->body : "";
        size_t n = resp->body_len;

        if (resp->status == 200 && n > 0) {
                while (n > 0 && isspace((unsigned char)body[n - 1]))
                        n--;
                erase_and_free(s->token);
                s->token = strndup(body, n);
                if (!s->token)
                        return -ENOMEM;
                s->token_expiry = imds_now(s) + IMDS_TOKEN_TTL_S - 60;
                return 0;
        }
        if ((resp->status == 403 || resp->status == 404 || resp->status == 405) &&
            !env_true(s->getenv_fn("AWS_EC2_METADATA_V1_DISABLED", s->getenv_userdata))) {
                req->v1 = true;
                return 0;
        }
        return aws_imds_status_errno(resp->status);
}

static void request_done(struct http_transfer *t, int r, const struct http_client_response *resp,
                         void *userdata)
{
        struct aws_imds_request *req = userdata;

        req->xfer = NULL;
        if (req->cancelled) {
                request_free(req);
                return;
        }
        if (r < 0) {
                request_finish(req, r, NULL, 0);
                return;
        }
        if (req->put) {
                r = token_answered(req, resp);
        } else if (resp->status == 401 && !req->token_retried && !req->v1) {
                /* The token expired or was revoked: get a new one, once. */
                req->token_retried = true;
                erase_and_free(req->s->token);
                req->s->token = NULL;
        } else {
                request_finish(req, resp->status == 200 ? 0 : aws_imds_status_errno(resp->status),
                               resp->body ? (const char *)resp->body : "", resp->body_len);
                return;
        }
        if (r >= 0)
                r = request_send(req);
        if (r < 0)
                request_finish(req, r, NULL, 0);
}

int aws_imds_get(struct aws_imds *s, const char *base, const char *path, aws_imds_cb cb,
                 void *userdata, struct aws_imds_request **ret)
{
        struct aws_imds_request *req;
        int r;

        if (!s || isempty(base) || isempty(path) || !cb)
                return -EINVAL;
        req = calloc(1, sizeof(*req));
        if (!req || !(req->base = strdup(base)) || !(req->path = strdup(path))) {
                if (req)
                        request_free(req);
                return -ENOMEM;
        }
        req->s = s;
        req->cb = cb;
        req->userdata = userdata;
        r = request_send(req);
        if (r < 0) {
                request_free(req);
                return r;
        }
        if (ret)
                *ret = req;
        return 0;
}

void aws_imds_request_cancel(struct aws_imds_request *req)
{
        if (!req || req->cancelled)
                return;
        req->cancelled = true;
        req->s = NULL;
        if (req->xfer)
                http_transfer_cancel(req->xfer); /* request_done() frees it */
        else
                request_free(req);
}

int aws_imds_new(struct ev_loop *loop, const struct aws_imds_options *opts, struct aws_imds **ret)
{
        struct aws_imds *s;

        if (!loop || !opts || !opts->http || !ret)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->loop = loop;
        s->http = opts->http;
        s->getenv_fn = opts->getenv_fn ? opts->getenv_fn : aws_getenv_process;
        s->getenv_userdata = opts->getenv_userdata;
        s->timeout_ms = opts->timeout_ms;
        *ret = s;
        return 0;
}

struct aws_imds *aws_imds_free(struct aws_imds *s)
{
        if (!s)
                return NULL;
        erase_and_free(s->token);
        free(s);
        return NULL;
}

#ifdef TWOWAYD_UNIT_TEST
void aws_imds_test_clock(struct aws_imds *s, aws_imds_clock_fn now, void *userdata)
{
        s->clock = now;
        s->clock_userdata = userdata;
}
#endif
