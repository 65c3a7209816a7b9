/*
 * aws.c — the AWS call state machine.
 *
 *   start ──► WAIT_CREDS ──creds──► HTTP ──response──► done?
 *                 ▲                                      │ retryable and allowed
 *                 └────────────── BACKOFF (ev_timer) ◄───┘
 *
 * Each state owns exactly one pending operation (a credentials wait, an HTTP
 * transfer or the backoff timer); cancelling cancels that operation, whose
 * completion (always from the loop) then completes the call with
 * -ECANCELED. On client teardown, outstanding calls are completed at once and
 * "orphaned": the struct stays until its pending operation reports back (the
 * credentials provider and the HTTP client report every outstanding operation
 * when they are freed), then it is freed without further callbacks.
 */
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include <ev.h>

#include "aws.h"
#include "aws_creds.h"
#include "aws_names.h"
#include "common.h"
#include "http_client.h"
#include "jitter.h"
#include "log.h"
#include "sigv4.h"

#define CONTENT_TYPE_JSON_1_0    "application/x-amz-json-1.0"
#define CONTENT_TYPE_REST_JSON   "application/json"
#define CONTENT_TYPE_QUERY       "application/x-www-form-urlencoded; charset=utf-8"
#define CONTENT_TYPE_EVENTSTREAM "application/vnd.amazon.eventstream"

enum call_state {
        CALL_WAIT_CREDS,
        CALL_HTTP,
        CALL_BACKOFF,
};

struct owned_header {
        char *name;
        char *value;
};

struct aws_call {
        struct aws_client *client; /* NULL once orphaned */
        struct aws_call *prev, *next;

        enum aws_service service;
        char *operation;
        char *method;
        char *path; /* base path + request path, as on the wire */
        char *query;
        char *url;
        char *content_type;
        char *target; /* X-Amz-Target, JSON 1.0 only */
        char *body;
        size_t body_len;
        struct owned_header *headers;
        size_t n_headers;
        unsigned max_attempts;
        long timeout_ms;
        size_t max_response;
        aws_stream_cb on_data;
        bool fresh_connection;

        aws_call_cb cb;
        void *userdata;

        enum call_state state;
        struct aws_creds_wait *wait;
        struct http_transfer *xfer;
        ev_timer timer;
        bool cancelled;
        bool streamed;

        unsigned attempt; /* attempts started */
        unsigned last_cost;
        double attempt_started;
        struct aws_error error;
        struct aws_attempt history[AWS_CALL_MAX_ATTEMPTS];
};

struct aws_client {
        struct ev_loop *loop;
        struct http_client *http;
        struct aws_creds_provider *creds;
        char *region;
        aws_getenv_fn getenv_fn;
        void *getenv_userdata;
        struct aws_retry_config retry;
        struct aws_retry_quota quota;
        double (*random_fn)(void *userdata);
        void *random_userdata;
        int64_t (*clock_fn)(void *userdata);
        void *clock_userdata;
        uint64_t rng;
        long timeout_ms;
        size_t max_response;

        struct aws_endpoint endpoints[_AWS_SERVICE_MAX];
        bool resolved[_AWS_SERVICE_MAX];

        struct aws_call *calls;
        unsigned n_calls;
};

static void call_attempt(struct aws_call *call);

static double client_random(struct aws_client *c)
{
        if (c->random_fn)
                return c->random_fn(c->random_userdata);
        return jitter_next(&c->rng);
}

static int64_t client_clock(struct aws_client *c)
{
        if (c->clock_fn)
                return c->clock_fn(c->clock_userdata);
        return (int64_t)time(NULL);
}

static void call_free(struct aws_call *call)
{
        if (!call)
                return;
        free(call->operation);
        free(call->method);
        free(call->path);
        free(call->query);
        free(call->url);
        free(call->content_type);
        free(call->target);
        free(call->body);
        for (size_t i = 0; i < call->n_headers; i++) {
                free(call->headers[i].name);
                free(call->headers[i].value);
        }
        free(call->headers);
        free(call);
}

static void call_unlink(struct aws_call *call)
{
        struct aws_client *c = call->client;

        if (!c)
                return;
        if (call->prev)
                call->prev->next = call->next;
        else
                c->calls = call->next;
        if (call->next)
                call->next->prev = call->prev;
        call->prev = call->next = NULL;
        c->n_calls--;
}

static const char *request_id_of(const struct http_client_response *resp)
{
        const char *id;

        if (!resp)
                return NULL;
        id = http_response_header(resp, "x-amzn-RequestId");
        if (!id)
                id = http_response_header(resp, "x-amz-request-id");
        if (!id)
                id = http_response_header(resp, "x-amzn-request-id");
        return id;
}

/* Deliver the result and free the call. json may be NULL. */
static void call_complete(struct aws_call *call, int r, const struct http_client_response *resp,
                          json_t *json)
{
        const char *ct = resp ? http_response_header(resp, "Content-Type") : NULL;
        struct aws_result res = {
                .http_status = resp ? resp->status : 0,
                .request_id = call->error.request_id,
                .json = json,
                .raw = resp ? resp->body : NULL,
                .raw_len = resp ? resp->body_len : 0,
                .content_type = ct ? ct : "",
                .event_stream = ct && strncasecmp(ct, CONTENT_TYPE_EVENTSTREAM,
                                                  STRLEN(CONTENT_TYPE_EVENTSTREAM)) == 0,
                .attempts = call->attempt,
                .history = call->history,
                .error = &call->error,
                .http = resp,
        };

        if (call->client) {
                struct aws_client *c = call->client;
                call_unlink(call);
                if (r >= 0)
                        aws_retry_quota_release(&c->quota, call->last_cost);
                call->cb(call, r, &res, call->userdata);
        }
        call_free(call);
}

static void call_fail_local(struct aws_call *call, int r, const char *code, const char *msg)
{
        aws_error_from_local(r, code, msg, &call->error);
        call_complete(call, r, NULL, NULL);
}

static const char *local_code(int r)
{
        switch (r) {
        case -ETIMEDOUT:
                return "ClientTimeout";
        case -ECONNREFUSED:
        case -EHOSTUNREACH:
        case -ENETUNREACH:
                return "ConnectionError";
        case -ECONNRESET:
                return "ConnectionReset";
        case -ECONNABORTED:
                return "TlsHandshakeError";
        case -EKEYREJECTED:
                return "CertificateError";
        case -EPROTO:
                return "ProtocolError";
        case -EMSGSIZE:
                return "ResponseTooLarge";
        case -EBADMSG:
                return "InvalidResponse";
        case -ENOKEY:
        case -EACCES:
                return "NoCredentials";
        case -ECANCELED:
                return "Cancelled";
        default:
                return "ClientError";
        }
}

static void log_attempt(struct aws_call *call, const struct aws_attempt *a,
                        const struct aws_retry_decision *d)
{
        const struct aws_service_info *info = aws_service_get(call->service);
        char attempt[16], latency[32], status[16], delay[32], code_buf[32];
        const char *kind = aws_error_kind_to_string(a->kind);
        const char *code = aws_error_log_code(a->code, a->http_status, code_buf, sizeof(code_buf));
        int prio;

        (void)snprintf(attempt, sizeof(attempt), "%u", call->attempt);
        (void)snprintf(latency, sizeof(latency), "%.0f", a->latency_ms);
        (void)snprintf(status, sizeof(status), "%ld", a->http_status);
        (void)snprintf(delay, sizeof(delay), "%.0f", d ? d->delay_ms : 0.);

        if (a->kind == AWS_ERROR_NONE)
                prio = LOG_DEBUG;
        else if (d && d->verdict == AWS_RETRY_YES)
                prio = LOG_WARNING;
        else
                prio = LOG_INFO;

        if (a->kind == AWS_ERROR_NONE)
                log_emit(prio, 0, "aws.attempt",
                         LOG_FIELDS(LF("AWS_SERVICE", info->id),
                                    LF("AWS_OPERATION", call->operation), LF("ATTEMPT", attempt),
                                    LF("LATENCY_MS", latency), LF("HTTP_STATUS", status),
                                    LF("AWS_REQUEST_ID", isempty(call->error.request_id)
                                                                 ? NULL
                                                                 : call->error.request_id)),
                         "%s %s attempt %u: HTTP %ld in %s ms", info->id, call->operation,
                         call->attempt, a->http_status, latency);
        else
                log_emit(prio, call->error.local, "aws.attempt",
                         LOG_FIELDS(LF("AWS_SERVICE", info->id),
                                    LF("AWS_OPERATION", call->operation), LF("ATTEMPT", attempt),
                                    LF("LATENCY_MS", latency),
                                    LF("HTTP_STATUS", a->http_status ? status : NULL),
                                    LF("AWS_REQUEST_ID", isempty(call->error.request_id)
                                                                 ? NULL
                                                                 : call->error.request_id),
                                    LF("AWS_ERROR", code), LF("AWS_ERROR_KIND", kind),
                                    LF("RETRY_DELAY_MS",
                                       d && d->verdict == AWS_RETRY_YES ? delay : NULL)),
                         "%s %s attempt %u failed: %s (%s%s%s) in %s ms%s%s%s", info->id,
                         call->operation, call->attempt, code, kind,
                         isempty(call->error.message) ? "" : ": ", call->error.message, latency,
                         d && d->verdict == AWS_RETRY_YES ? ", will retry in " : ", ",
                         d && d->verdict == AWS_RETRY_YES
                                 ? delay
                                 : aws_retry_verdict_to_string(d ? d->verdict
                                                                 : AWS_RETRY_NOT_RETRYABLE),
                         d && d->verdict == AWS_RETRY_YES ? " ms" : "");
}

static void backoff_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct aws_call *call = w->data;

        if (call->cancelled) {
                call_fail_local(call, -ECANCELED, "Cancelled", NULL);
                return;
        }
        call_attempt(call);
}

/* Record the attempt's outcome in call->error (already filled), log it, and
 * retry or complete. */
static void attempt_finished(struct aws_call *call, int r, const struct http_client_response *resp,
                             json_t *json)
{
        struct aws_client *c = call->client;
        struct aws_attempt *a = &call->history[call->attempt - 1];
        struct aws_retry_decision d = {.verdict = AWS_RETRY_NOT_RETRYABLE};

        a->http_status = resp ? resp->status : 0;
        a->kind = call->error.kind;
        a->local = call->error.local;
        a->latency_ms = (ev_time() - call->attempt_started) * 1000.;
        (void)snprintf(a->code, sizeof(a->code), "%s", call->error.code);

        if (r >= 0) {
                log_attempt(call, a, NULL);
                call_complete(call, 0, resp, json);
                return;
        }

        if (!call->cancelled && !call->streamed) {
                struct aws_retry_config rc = c->retry;
                rc.max_attempts = call->max_attempts;
                aws_retry_decide(&rc, &c->quota, &call->error, call->attempt, client_random(c), &d);
        }
        if (d.verdict == AWS_RETRY_YES)
                a->delay_ms = d.delay_ms;
        log_attempt(call, a, &d);

        if (d.verdict != AWS_RETRY_YES) {
                call_complete(call, r, resp, NULL);
                return;
        }
        call->last_cost = d.cost;
        call->state = CALL_BACKOFF;
        ev_timer_set(&call->timer, d.delay_ms / 1000., 0.);
        ev_timer_start(c->loop, &call->timer);
}

static void http_done(struct http_transfer *t, int r, const struct http_client_response *resp,
                      void *userdata)
{
        struct aws_call *call = userdata;
        const char *ct;
        json_t *json = NULL;

        call->xfer = NULL;
        if (!call->client) {
                call_free(call); /* orphaned by aws_client_free() */
                return;
        }
        if (r == -ECANCELED && call->cancelled) {
                call_fail_local(call, -ECANCELED, "Cancelled", NULL);
                return;
        }

        if (r < 0) {
                aws_error_from_local(r, local_code(r), isempty(resp->error) ? NULL : resp->error,
                                     &call->error);
                if (resp->status > 0)
                        call->error.http_status = resp->status;
                attempt_finished(call, r, resp, NULL);
                return;
        }

        if (resp->status < 200 || resp->status >= 300) {
                aws_error_from_response(
                        resp->status, http_response_header(resp, "x-amzn-ErrorType"),
                        request_id_of(resp), resp->body, resp->body_len, &call->error);
                attempt_finished(call, -EREMOTEIO, resp, NULL);
                return;
        }

        /* 2xx */
        aws_error_clear(&call->error);
        call->error.http_status = resp->status;
        if (request_id_of(resp))
                (void)snprintf(call->error.request_id, sizeof(call->error.request_id), "%s",
                               request_id_of(resp));
        ct = http_response_header(resp, "Content-Type");
        if (aws_service_get(call->service)->protocol != AWS_PROTOCOL_QUERY && !call->on_data &&
            !(ct &&
              strncasecmp(ct, CONTENT_TYPE_EVENTSTREAM, STRLEN(CONTENT_TYPE_EVENTSTREAM)) == 0)) {
                if (resp->body_len == 0)
                        json = json_object();
                else {
                        json_error_t jerr;
                        json = json_loadb((const char *)resp->body, resp->body_len, 0, &jerr);
                        if (!json) {
                                char msg[256];
                                (void)snprintf(msg, sizeof(msg), "response is not JSON: %s",
                                               jerr.text);
                                aws_error_from_local(-EBADMSG, "InvalidResponse", msg,
                                                     &call->error);
                                call->error.http_status = resp->status;
                                if (request_id_of(resp))
                                        (void)snprintf(call->error.request_id,
                                                       sizeof(call->error.request_id), "%s",
                                                       request_id_of(resp));
                                attempt_finished(call, -EBADMSG, resp, NULL);
                                return;
                        }
                }
                if (!json) {
                        aws_error_from_local(-ENOMEM, "ClientError", NULL, &call->error);
                        attempt_finished(call, -ENOMEM, resp, NULL);
                        return;
                }
        }
        attempt_finished(call, 0, resp, json);
        json_decref(json);
}

static int stream_cb(struct http_transfer *t, const struct http_client_response *head,
                     const void *data, size_t len, void *userdata)
{
        struct aws_call *call = userdata;

        if (!call->client || call->cancelled)
                return -ECANCELED;
        call->streamed = true;
        return call->on_data(call, head, data, len, call->userdata);
}

static int header_line(char ***lines, size_t *n, const char *name, const char *value)
{
        char *s;

        if (asprintf(&s, "%s: %s", name, value) < 0)
                return -ENOMEM;
        (*lines)[(*n)++] = s;
        return 0;
}

/* Sign and send one attempt with the given credentials. */
static int attempt_send(struct aws_call *call, const struct aws_credentials *creds)
{
        struct aws_client *c = call->client;
        const struct aws_endpoint *ep = &c->endpoints[call->service];
        struct sigv4_header *sh = NULL;
        char **lines = NULL;
        size_t n_sh = 0, n_lines = 0, max = call->n_headers + 8;
        struct sigv4_result sig = {0};
        char amz_date[17];
        int r;

        sh = calloc(max, sizeof(*sh));
        lines = calloc(max, sizeof(*lines));
        if (!sh || !lines) {
                r = -ENOMEM;
                goto out;
        }

        sh[n_sh++] = (struct sigv4_header){"host", ep->authority};
        if (call->content_type)
                sh[n_sh++] = (struct sigv4_header){"content-type", call->content_type};
        if (call->target)
                sh[n_sh++] = (struct sigv4_header){"x-amz-target", call->target};
        for (size_t i = 0; i < call->n_headers; i++)
                sh[n_sh++] = (struct sigv4_header){call->headers[i].name, call->headers[i].value};

        r = sigv4_format_amz_date((long long)client_clock(c), amz_date);
        if (r < 0)
                goto out;
        r = sigv4_sign(
                &(struct sigv4_request){
                        .method = call->method,
                        .path = call->path,
                        .query = call->query,
                        .headers = sh,
                        .n_headers = n_sh,
                        .body = call->body,
                        .body_len = call->body_len,
                },
                &(struct sigv4_credentials){
                        .access_key_id = creds->access_key_id,
                        .secret_access_key = creds->secret_access_key,
                        .session_token = creds->session_token,
                },
                &(struct sigv4_params){
                        .region = c->region,
                        .service = ep->signing_name,
                        .amz_date = amz_date,
                },
                &sig);
        if (r < 0)
                goto out;

        /* The exact headers we signed, plus what the signer asks us to add. */
        r = header_line(&lines, &n_lines, "Host", ep->authority);
        if (r >= 0 && call->content_type)
                r = header_line(&lines, &n_lines, "Content-Type", call->content_type);
        if (r >= 0 && call->target)
                r = header_line(&lines, &n_lines, "X-Amz-Target", call->target);
        for (size_t i = 0; r >= 0 && i < call->n_headers; i++)
                r = header_line(&lines, &n_lines, call->headers[i].name, call->headers[i].value);
        for (size_t i = 0; r >= 0 && i < sig.n_add_headers; i++)
                r = header_line(&lines, &n_lines, sig.add_headers[i].name,
                                sig.add_headers[i].value);
        if (r >= 0)
                r = header_line(&lines, &n_lines, "Authorization", sig.authorization);
        if (r < 0)
                goto out;

        call->attempt++;
        call->attempt_started = ev_time();
        call->streamed = false;
        r = http_client_start(c->http,
                              &(struct http_client_req){
                                      .method = call->method,
                                      .url = call->url,
                                      .headers = (const char *const *)lines,
                                      .n_headers = n_lines,
                                      .body = call->body,
                                      .body_len = call->body_len,
                                      .timeout_ms = call->timeout_ms,
                                      .max_response = call->max_response,
                                      .on_data = call->on_data ? stream_cb : NULL,
                                      .fresh_connection = call->fresh_connection,
                              },
                              http_done, call, &call->xfer);
        if (r < 0)
                call->attempt--;
        else
                call->state = CALL_HTTP;
out:
        sigv4_result_done(&sig);
        for (size_t i = 0; i < n_lines; i++) {
                /* Lines carry the session token and the signature. */
                explicit_wipe(lines[i], strlen(lines[i]));
                free(lines[i]);
        }
        free(lines);
        free(sh);
        return r;
}

static void creds_cb(int r, const struct aws_credentials *creds, void *userdata)
{
        struct aws_call *call = userdata;

        call->wait = NULL;
        if (!call->client) {
                call_free(call);
                return;
        }
        if (call->cancelled || r == -ECANCELED) {
                call_fail_local(call, -ECANCELED, "Cancelled", NULL);
                return;
        }
        if (r < 0) {
                char msg[160];
                (void)snprintf(msg, sizeof(msg), "no AWS credentials: %s", strerror(-r));
                call_fail_local(call, r == -EACCES ? -EACCES : -ENOKEY, "NoCredentials", msg);
                return;
        }
        r = attempt_send(call, creds);
        if (r < 0)
                call_fail_local(call, r, local_code(r), NULL);
}

static void call_attempt(struct aws_call *call)
{
        int r;

        call->state = CALL_WAIT_CREDS;
        r = aws_creds_get(call->client->creds, creds_cb, call, &call->wait);
        if (r < 0)
                call_fail_local(call, r, local_code(r), NULL);
}

static int client_endpoint(struct aws_client *c, enum aws_service s,
                           const struct aws_endpoint **ret)
{
        int r;

        if (!c->resolved[s]) {
                r = aws_endpoint_resolve(s, c->region, c->getenv_fn, c->getenv_userdata,
                                         &c->endpoints[s]);
                if (r < 0)
                        return r;
                c->resolved[s] = true;
        }
        *ret = &c->endpoints[s];
        return 0;
}

const struct aws_endpoint *aws_client_endpoint(struct aws_client *c, enum aws_service s)
{
        const struct aws_endpoint *e;

        if (!c || !aws_service_get(s) || client_endpoint(c, s, &e) < 0)
                return NULL;
        return e;
}

static bool header_value_ok(const char *s)
{
        return s && !strpbrk(s, "\r\n");
}

static bool header_name_ok(const char *s)
{
        if (isempty(s))
                return false;
        for (; *s; s++)
                if (*s <= ' ' || *s == ':' || (unsigned char)*s >= 0x7f)
                        return false;
        return true;
}

int aws_call_start(struct aws_client *c, const struct aws_call_params *params, aws_call_cb cb,
                   void *userdata, struct aws_call **ret)
{
        const struct aws_service_info *info;
        const struct aws_endpoint *ep;
        struct aws_call *call;
        const char *path;
        int r;

        if (!c || !params || !cb)
                return -EINVAL;
        info = aws_service_get(params->service);
        if (!info || isempty(params->operation))
                return -EINVAL;
        if (params->body && params->raw_body)
                return -EINVAL;
        if (params->n_headers && !params->headers)
                return -EINVAL;
        for (size_t i = 0; i < params->n_headers; i++)
                if (!header_name_ok(params->headers[i].name) ||
                    !header_value_ok(params->headers[i].value))
                        return -EINVAL;
        if (params->content_type && !header_value_ok(params->content_type))
                return -EINVAL;
        if (!header_value_ok(params->operation))
                return -EINVAL;
        path = params->path ? params->path : "/";
        if (path[0] != '/' || strpbrk(path, "?# \r\n"))
                return -EINVAL;
        if (info->protocol != AWS_PROTOCOL_REST_JSON && params->path && !streq(params->path, "/"))
                return -EINVAL;
        r = client_endpoint(c, params->service, &ep);
        if (r < 0)
                return r;

        call = calloc(1, sizeof(*call));
        if (!call)
                return -ENOMEM;
        call->service = params->service;
        call->cb = cb;
        call->userdata = userdata;
        call->on_data = params->on_data;
        call->fresh_connection = params->fresh_connection;
        call->max_attempts = params->max_attempts ? params->max_attempts : c->retry.max_attempts;
        call->max_attempts = MAX(1u, MIN(call->max_attempts, (unsigned)AWS_CALL_MAX_ATTEMPTS));
        call->timeout_ms = params->timeout_ms > 0 ? params->timeout_ms : c->timeout_ms;
        call->max_response = params->max_response ? params->max_response : c->max_response;
        ev_timer_init(&call->timer, backoff_cb, 0., 0.);
        call->timer.data = call;

        r = -ENOMEM;
        call->operation = strdup(params->operation);
        call->method =
                strdup(info->protocol == AWS_PROTOCOL_REST_JSON && params->method ? params->method
                                                                                  : "POST");
        if (!call->operation || !call->method)
                goto fail;
        if (asprintf(&call->path, "%s%s", ep->base_path, path) < 0) {
                call->path = NULL;
                goto fail;
        }
        if (!isempty(params->query) && !(call->query = strdup(params->query)))
                goto fail;
        if (asprintf(&call->url, "%s://%s%s%s%s", ep->scheme, ep->authority, call->path,
                     call->query ? "?" : "", call->query ? call->query : "") < 0) {
                call->url = NULL;
                goto fail;
        }

        switch (info->protocol) {
        case AWS_PROTOCOL_JSON_1_0:
                call->content_type =
                        strdup(params->content_type ? params->content_type : CONTENT_TYPE_JSON_1_0);
                if (asprintf(&call->target, "%s.%s", info->target_prefix, params->operation) < 0)
                        call->target = NULL;
                if (!call->content_type || !call->target)
                        goto fail;
                break;
        case AWS_PROTOCOL_REST_JSON:
                call->content_type = strdup(params->content_type ? params->content_type
                                                                 : CONTENT_TYPE_REST_JSON);
                if (!call->content_type)
                        goto fail;
                break;
        case AWS_PROTOCOL_QUERY:
                call->content_type =
                        strdup(params->content_type ? params->content_type : CONTENT_TYPE_QUERY);
                if (!call->content_type)
                        goto fail;
                break;
        }

        if (params->body) {
                call->body = json_dumps(params->body, JSON_COMPACT | JSON_ENCODE_ANY);
                if (!call->body)
                        goto fail;
                call->body_len = strlen(call->body);
        } else if (params->raw_body) {
                call->body = malloc(params->raw_body_len + 1);
                if (!call->body)
                        goto fail;
                memcpy(call->body, params->raw_body, params->raw_body_len);
                call->body[params->raw_body_len] = '\0';
                call->body_len = params->raw_body_len;
        } else if (info->protocol == AWS_PROTOCOL_JSON_1_0) {
                call->body = strdup("{}");
                if (!call->body)
                        goto fail;
                call->body_len = 2;
        }

        if (params->n_headers) {
                call->headers = calloc(params->n_headers, sizeof(*call->headers));
                if (!call->headers)
                        goto fail;
                for (size_t i = 0; i < params->n_headers; i++) {
                        call->headers[i].name = strdup(params->headers[i].name);
                        call->headers[i].value = strdup(params->headers[i].value);
                        call->n_headers++;
                        if (!call->headers[i].name || !call->headers[i].value)
                                goto fail;
                }
        }

        call->client = c;
        call->state = CALL_WAIT_CREDS;
        r = aws_creds_get(c->creds, creds_cb, call, &call->wait);
        if (r < 0) {
                call->client = NULL;
                goto fail;
        }
        call->next = c->calls;
        if (c->calls)
                c->calls->prev = call;
        c->calls = call;
        c->n_calls++;
        if (ret)
                *ret = call;
        return 0;
fail:
        call_free(call);
        return r;
}

int aws_call_start_owned(struct aws_client *c, const struct aws_call_params *params, json_t *body,
                         aws_call_cb cb, void *state, void (*free_state)(void *),
                         struct aws_call **ret)
{
        struct aws_call_params p;
        int r = -ENOMEM;

        if (!params)
                r = -EINVAL;
        else if ((body || params->raw_body) && (state || !free_state)) {
                p = *params;
                p.body = body;
                r = aws_call_start(c, &p, cb, state, ret);
        }
        json_decref(body);
        if (r < 0 && free_state && state)
                free_state(state);
        return r;
}

void aws_call_cancel(struct aws_call *call)
{
        if (!call || !call->client || call->cancelled)
                return;
        call->cancelled = true;
        switch (call->state) {
        case CALL_WAIT_CREDS:
                if (call->wait)
                        aws_creds_wait_cancel(call->wait);
                break;
        case CALL_HTTP:
                if (call->xfer)
                        http_transfer_cancel(call->xfer);
                break;
        case CALL_BACKOFF:
                /* Complete from the loop, not from inside this call. */
                ev_timer_stop(call->client->loop, &call->timer);
                ev_timer_set(&call->timer, 0., 0.);
                ev_timer_start(call->client->loop, &call->timer);
                break;
        }
}

int aws_client_new(struct ev_loop *loop, const struct aws_client_options *opts,
                   struct aws_client **ret)
{
        struct aws_client *c;

        if (!loop || !opts || !opts->http || !opts->creds || !ret)
                return -EINVAL;
        if (!aws_region_is_valid(opts->region))
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->loop = loop;
        c->http = opts->http;
        c->creds = opts->creds;
        c->region = strdup(opts->region);
        if (!c->region) {
                free(c);
                return -ENOMEM;
        }
        c->getenv_fn = opts->getenv_fn ? opts->getenv_fn : aws_getenv_process;
        c->getenv_userdata = opts->getenv_userdata;
        aws_retry_config_default(&c->retry);
        if (opts->retry.max_attempts)
                c->retry.max_attempts = MIN(opts->retry.max_attempts, AWS_CALL_MAX_ATTEMPTS);
        if (opts->retry.base_ms)
                c->retry.base_ms = opts->retry.base_ms;
        if (opts->retry.throttle_base_ms)
                c->retry.throttle_base_ms = opts->retry.throttle_base_ms;
        if (opts->retry.cap_ms)
                c->retry.cap_ms = opts->retry.cap_ms;
        aws_retry_quota_init(&c->quota,
                             opts->retry_quota ? opts->retry_quota : AWS_RETRY_QUOTA_DEFAULT);
        c->random_fn = opts->random_fn;
        c->random_userdata = opts->random_userdata;
        c->clock_fn = opts->clock_fn;
        c->clock_userdata = opts->clock_userdata;
        c->rng = jitter_seed(c);
        c->timeout_ms = opts->timeout_ms;
        c->max_response = opts->max_response;
        *ret = c;
        return 0;
}

struct aws_client *aws_client_free(struct aws_client *c)
{
        if (!c)
                return NULL;
        while (c->calls) {
                struct aws_call *call = c->calls;
                struct aws_result res = {
                        .request_id = "",
                        .content_type = "",
                        .attempts = call->attempt,
                        .history = call->history,
                        .error = &call->error,
                };

                call_unlink(call);
                aws_error_from_local(-ECANCELED, "Cancelled", NULL, &call->error);
                call->client = NULL; /* orphaned: no more callbacks */
                call->cb(call, -ECANCELED, &res, call->userdata);
                switch (call->state) {
                case CALL_WAIT_CREDS:
                        if (call->wait)
                                aws_creds_wait_cancel(call->wait);
                        else
                                call_free(call);
                        break;
                case CALL_HTTP:
                        if (call->xfer)
                                http_transfer_cancel(call->xfer);
                        else
                                call_free(call);
                        break;
                case CALL_BACKOFF:
                        ev_timer_stop(c->loop, &call->timer);
                        call_free(call);
                        break;
                }
        }
        for (size_t i = 0; i < _AWS_SERVICE_MAX; i++)
                aws_endpoint_done(&c->endpoints[i]);
        free(c->region);
        free(c);
        return NULL;
}

struct http_client *aws_client_http(const struct aws_client *c)
{
        return c ? c->http : NULL;
}

char *aws_rest_path(const char *const *labels, size_t n)
{
        char *out = NULL;
        size_t len = 0;

        if (n == 0)
                return strdup("/");
        for (size_t i = 0; i < n; i++) {
                char *enc, *grown;
                size_t el;

                if (isempty(labels[i])) {
                        free(out);
                        return NULL;
                }
                enc = sigv4_uri_encode(labels[i], strlen(labels[i]), false);
                if (!enc) {
                        free(out);
                        return NULL;
                }
                el = strlen(enc);
                grown = realloc(out, len + 1 + el + 1);
                if (!grown) {
                        free(enc);
                        free(out);
                        return NULL;
                }
                out = grown;
                out[len] = '/';
                memcpy(out + len + 1, enc, el + 1);
                len += 1 + el;
                free(enc);
        }
        return out;
}
