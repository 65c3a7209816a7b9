/*
 * ctl.c — twowayctl's loop, AWS client and error reporting.
 */
#include <stdarg.h>
#include <stdio.h>

#include <ev.h>
#include <openssl/rand.h>

#include "aws.h"
#include "aws_creds.h"
#include "common.h"
#include "config.h"
#include "ctl.h"
#include "ddb.h"
#include "http_client.h"
#include "log.h"
#include "sms_send_text.h"

void ctl_verrorf(const char *fmt, va_list ap)
{
        fputs("twowayctl: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
}

void ctl_errorf(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        ctl_verrorf(fmt, ap);
        va_end(ap);
}

int ctl_list_pages(struct ctl *ctl, ctl_page_fn page, void *userdata, json_t **ret)
{
        json_t *all = json_array();
        _cleanup_free_ char *token = NULL;
        int r = 0;

        if (!all)
                return -ENOMEM;
        for (unsigned n = 0; n < CTL_PAGES_MAX; n++) {
                json_t *list = NULL;
                char *next = NULL;

                r = page(ctl, userdata, token, &list, &next);
                free(token);
                token = next;
                if (r >= 0 && list && json_array_extend(all, list) < 0)
                        r = -ENOMEM;
                json_decref(list);
                if (r < 0 || !token)
                        break;
        }
        if (r < 0) {
                json_decref(all);
                return r;
        }
        *ret = all;
        return 0;
}

int ctl_load_config(struct ctl *ctl)
{
        struct config_diag diag = {0};
        int r;

        r = config_load(ctl->config_path, &ctl->config, &diag);
        if (r < 0) {
                for (size_t i = 0; i < diag.n_lines; i++)
                        fprintf(stderr, "%s\n", diag.lines[i]);
                if (diag.n_lines == 0)
                        ctl_errorf("%s: %s", ctl->config_path, strerror(-r));
                ctl_errorf("cannot use the config %s (give another with -c FILE)",
                           ctl->config_path);
                config_diag_done(&diag);
                return CTL_EXIT_CONFIG;
        }
        config_diag_done(&diag);
        log_set_redact(ctl->config->log_redact);
        return 0;
}

int ctl_loop(struct ctl *ctl)
{
        int r;

        if (ctl->loop)
                return 0;
        ctl->loop = ev_loop_new(EVFLAG_AUTO);
        if (!ctl->loop) {
                ctl_errorf("cannot create an event loop");
                return -ENOMEM;
        }
        r = http_client_new(ctl->loop,
                            &(struct http_client_options){
                                    .ca_bundle = ctl->config ? ctl->config->aws_ca_bundle : NULL,
                                    .user_agent = "twowayctl/" TWOWAYD_VERSION,
                            },
                            &ctl->http);
        if (r < 0)
                ctl_errorf("cannot create the HTTP client: %s", strerror(-r));
        return r;
}

struct region_wait {
        bool done;
        int r;
        char *region;
        const char *source;
};

static void region_cb(int r, const char *region, const char *source, void *userdata)
{
        struct region_wait *w = userdata;

        w->r = r;
        if (r >= 0) {
                w->region = strdup(region);
                w->source = source;
                if (!w->region)
                        w->r = -ENOMEM;
        }
        w->done = true;
}

int ctl_aws(struct ctl *ctl)
{
        struct region_wait w = {0};
        int r;

        if (ctl->aws)
                return 0;
        r = ctl_loop(ctl);
        if (r < 0)
                return r;
        if (!ctl->creds) {
                r = aws_creds_provider_new(
                        ctl->loop, &(struct aws_creds_options){.http = ctl->http}, &ctl->creds);
                if (r < 0) {
                        ctl_errorf("cannot set up AWS credentials: %s", strerror(-r));
                        return r;
                }
        }
        r = aws_creds_region_resolve(ctl->creds, ctl->config->aws_region, region_cb, &w);
        if (r >= 0) {
                ctl_wait(ctl, &w.done);
                r = w.r;
        }
        if (r < 0) {
                ctl_errorf("cannot find the AWS region (%s): set [aws] region in %s, or "
                           "AWS_REGION",
                           strerror(-r), ctl->config_path);
                free(w.region);
                return r;
        }
        ctl->region = w.region;
        ctl->region_source = w.source;
        r = aws_client_new(ctl->loop,
                           &(struct aws_client_options){
                                   .http = ctl->http,
                                   .creds = ctl->creds,
                                   .region = ctl->region,
                           },
                           &ctl->aws);
        if (r < 0)
                ctl_errorf("cannot set up the AWS client: %s", strerror(-r));
        return r;
}

void ctl_done(struct ctl *ctl)
{
        ctl->aws = aws_client_free(ctl->aws);
        ctl->creds = aws_creds_provider_free(ctl->creds);
        ctl->http = http_client_free(ctl->http);
        if (ctl->loop)
                ev_loop_destroy(ctl->loop);
        ctl->loop = NULL;
        free(ctl->region);
        ctl->region = NULL;
        ctl->config = config_free(ctl->config);
}

void ctl_wait(struct ctl *ctl, const bool *done)
{
        while (!*done)
                ev_run(ctl->loop, EVRUN_ONCE);
}

static void sleep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        *(bool *)w->data = true;
}

void ctl_sleep(struct ctl *ctl, double seconds)
{
        bool done = false;
        ev_timer t;

        ev_timer_init(&t, sleep_cb, seconds, 0.);
        t.data = &done;
        ev_timer_start(ctl->loop, &t);
        ctl_wait(ctl, &done);
        ev_timer_stop(ctl->loop, &t);
}

void ctl_reply_done(struct ctl_reply *rep)
{
        if (!rep)
                return;
        json_decref(rep->json);
        json_decref(rep->item);
        free(rep->raw);
        *rep = (struct ctl_reply){0};
}

/* The one wait of a call: its callback fires from the loop, which runs until it has. */
struct call_wait {
        bool done;
        int r;
        struct ctl_reply *rep;
};

static void keep_result(struct call_wait *w, int r, const struct aws_result *res)
{
        w->r = r;
        w->rep->http_status = res->http_status;
        if (res->error)
                w->rep->error = *res->error;
        if (res->json)
                w->rep->json = json_incref(res->json);
        if (res->raw) {
                w->rep->raw = malloc(res->raw_len + 1);
                if (w->rep->raw) {
                        memcpy(w->rep->raw, res->raw, res->raw_len);
                        w->rep->raw[res->raw_len] = '\0';
                        w->rep->raw_len = res->raw_len;
                }
        }
        w->done = true;
}

static void call_cb(struct aws_call *call, int r, const struct aws_result *res, void *userdata)
{
        keep_result(userdata, r, res);
}

static void ddb_cb_fn(int r, const struct ddb_result *res, void *userdata)
{
        struct call_wait *w = userdata;

        if (res->item)
                w->rep->item = json_incref(res->item);
        w->rep->condition_failed = res->condition_failed;
        keep_result(w, r, res->aws);
}

/* Wait for a call that start_r says was started, then print its failure
 * unless quiet. */
static int finish(struct ctl *ctl, int start_r, struct call_wait *w, enum aws_service service,
                  const char *operation, const char *quiet)
{
        int r = start_r;

        if (r < 0)
                aws_error_from_local(r, "StartFailed", NULL, &w->rep->error);
        else {
                ctl_wait(ctl, &w->done);
                r = w->r;
        }
        if (r < 0 &&
            !(quiet && (streq(quiet, CTL_QUIET_ALL) || aws_error_is(&w->rep->error, quiet))))
                ctl_report_aws(ctl, service, operation, r, w->rep);
        return r;
}

int ctl_call(struct ctl *ctl, const struct aws_call_params *params, json_t *body, const char *quiet,
             struct ctl_reply *ret)
{
        struct call_wait w = {.rep = ret};

        *ret = (struct ctl_reply){0};
        return finish(ctl, aws_call_start_owned(ctl->aws, params, body, call_cb, &w, NULL, NULL),
                      &w, params->service, params->operation, quiet);
}

int ctl_call_json(struct ctl *ctl, enum aws_service service, const char *operation, json_t *body,
                  const char *quiet, struct ctl_reply *ret)
{
        return ctl_call(ctl, &(struct aws_call_params){.service = service, .operation = operation},
                        body, quiet, ret);
}

int ctl_ddb(struct ctl *ctl, const char *operation, json_t *body, const char *quiet,
            struct ctl_reply *ret)
{
        struct call_wait w = {.rep = ret};

        *ret = (struct ctl_reply){0};
        return finish(ctl, ddb_request(ctl->aws, operation, body, ddb_cb_fn, &w, NULL), &w,
                      AWS_SERVICE_DYNAMODB, operation, quiet);
}

int ctl_ddb_describe_table(struct ctl *ctl, const char *table, json_t **ret)
{
        struct ctl_reply rep;
        int r = ctl_ddb(ctl, "DescribeTable", json_pack("{s:s}", "TableName", table),
                        "ResourceNotFoundException", &rep);

        if (r < 0 && aws_error_is(&rep.error, "ResourceNotFoundException"))
                r = -ENOENT;
        else if (r >= 0) {
                *ret = json_incref(json_object_get(rep.json, "Table"));
                if (!*ret) {
                        ctl_errorf("dynamodb DescribeTable: no Table in the answer for %s", table);
                        r = -EBADMSG;
                }
        }
        ctl_reply_done(&rep);
        return r;
}

struct creds_wait {
        bool done;
        int r;
        enum aws_creds_source source;
};

static void creds_cb(int r, const struct aws_credentials *c, void *userdata)
{
        struct creds_wait *w = userdata;

        w->r = r;
        if (r >= 0)
                w->source = c->source;
        w->done = true;
}

int ctl_credentials(struct ctl *ctl, enum aws_creds_source *ret_source)
{
        struct creds_wait w = {0};
        int r;

        r = aws_creds_get(ctl->creds, creds_cb, &w, NULL);
        if (r < 0)
                return r;
        ctl_wait(ctl, &w.done);
        if (w.r >= 0)
                *ret_source = w.source;
        return w.r;
}

struct get_wait {
        bool done;
        int r;
        long status;
        char *body;
};

static void get_cb(struct http_transfer *t, int r, const struct http_client_response *resp,
                   void *userdata)
{
        struct get_wait *w = userdata;

        w->r = r;
        if (r >= 0) {
                w->status = resp->status;
                if (resp->body)
                        w->body = strndup((const char *)resp->body, resp->body_len);
        }
        w->done = true;
}

int ctl_http_request(struct ctl *ctl, const struct http_client_req *req, long *ret_status,
                     char **ret_body)
{
        struct get_wait w = {0};
        int r;

        r = http_client_start(ctl->http, req, get_cb, &w, NULL);
        if (r < 0)
                return r;
        ctl_wait(ctl, &w.done);
        if (w.r < 0)
                return w.r;
        *ret_status = w.status;
        if (ret_body)
                *ret_body = w.body;
        else
                free(w.body);
        return 0;
}

int ctl_http_get(struct ctl *ctl, const char *url, long timeout_ms, long *ret_status,
                 char **ret_body)
{
        return ctl_http_request(ctl,
                                &(struct http_client_req){
                                        .url = url,
                                        .timeout_ms = timeout_ms,
                                        .connect_timeout_ms = MIN(timeout_ms, 3000),
                                        .max_response = 64 * 1024,
                                },
                                ret_status, ret_body);
}

bool ctl_topic_configured(const struct config *c, const char *topic)
{
        for (size_t i = 0; topic && i < c->n_sns_topic_arns; i++)
                if (streq(c->sns_topic_arns[i], topic))
                        return true;
        return false;
}

char *ctl_daemon_url(const struct config *c, const char *path)
{
        const char *host = c->http_listen_host;
        char *url;

        if (isempty(host) || streq(host, "0.0.0.0"))
                host = "127.0.0.1";
        else if (streq(host, "::"))
                host = "::1";
        if (asprintf(&url, "%s://%s%s%s:%u%s", c->http_tls_cert ? "https" : "http",
                     strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
                     (unsigned)c->http_listen_port, path) < 0)
                return NULL;
        return url;
}

int ctl_uuid(char out[37])
{
        uint8_t b[16];

        if (RAND_bytes(b, sizeof(b)) != 1)
                return -EIO;
        b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
        b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
        (void)snprintf(out, 37,
                       "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                       b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                       b[13], b[14], b[15]);
        return 0;
}

const char *ctl_iam_prefix(enum aws_service s)
{
        switch (s) {
        case AWS_SERVICE_DYNAMODB:
                return "dynamodb";
        case AWS_SERVICE_SMS_VOICE:
                return "sms-voice";
        case AWS_SERVICE_BEDROCK_AGENT_RUNTIME:
                return "bedrock";
        case AWS_SERVICE_SNS:
                return "sns";
        case AWS_SERVICE_SQS:
                return "sqs";
        default:
                return "?";
        }
}

static bool code_in(const char *code, const char *const *list, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (streq(code, list[i]))
                        return true;
        return false;
}

const char *ctl_aws_hint(const struct ctl *ctl, enum aws_service service, const char *operation,
                         int r, const struct ctl_reply *rep, char *buf, size_t size)
{
        static const char *const denied[] = {"AccessDenied", "AccessDeniedException",
                                             "AuthorizationError", "UnauthorizedOperation"};
        static const char *const auth[] = {"InvalidClientTokenId",
                                           "UnrecognizedClientException",
                                           "SignatureDoesNotMatch",
                                           "IncompleteSignature",
                                           "ExpiredToken",
                                           "ExpiredTokenException",
                                           "InvalidSignatureException",
                                           "MissingAuthenticationToken",
                                           "InvalidAccessKeyId"};
        static const char *const missing[] = {"ResourceNotFoundException", "NotFound",
                                              "NotFoundException", "ResourceNotFound"};
        static const char *const invalid[] = {"ValidationException", "InvalidParameter",
                                              "InvalidParameterValue", "ValidationError",
                                              "SerializationException"};
        const struct aws_error *e = &rep->error;
        const char *source =
                ctl->creds ? aws_creds_source_to_string(aws_creds_current_source(ctl->creds))
                           : "none";
        const struct aws_endpoint *ep =
                ctl->aws ? aws_client_endpoint((struct aws_client *)ctl->aws, service) : NULL;

        if (r == -ENOKEY)
                return "No AWS credentials found: set AWS_ACCESS_KEY_ID and "
                       "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run on an instance with a role.";
        if (code_in(e->code, denied, ARRAY_SIZE(denied))) {
                (void)snprintf(buf, size,
                               "Allow %s:%s to these credentials (from %s) in their IAM policy.",
                               ctl_iam_prefix(service), operation, source);
                return buf;
        }
        if (code_in(e->code, auth, ARRAY_SIZE(auth))) {
                (void)snprintf(buf, size,
                               "The credentials (from %s) were refused: check or renew them.",
                               source);
                return buf;
        }
        if (code_in(e->code, missing, ARRAY_SIZE(missing))) {
                (void)snprintf(buf, size, "Check the name, id or ARN, and the region (%s).",
                               ctl->region ? ctl->region : "?");
                return buf;
        }
        if (code_in(e->code, invalid, ARRAY_SIZE(invalid)))
                return "Check the arguments (see --help).";
        if (streq(e->code, "ConflictException"))
                return "The resource's current state does not allow this; see the reason.";
        if (e->kind == AWS_ERROR_THROTTLING)
                return "AWS is throttling these calls: try again in a minute.";
        if (e->local == -EKEYREJECTED || r == -EKEYREJECTED)
                return "The endpoint's TLS certificate is not trusted: check [aws] ca_bundle.";
        if (e->local < 0 || (r < 0 && e->http_status == 0)) {
                (void)snprintf(buf, size, "Check network access to %s.",
                               ep ? ep->url : "the AWS endpoint");
                return buf;
        }
        if (e->kind == AWS_ERROR_TRANSIENT)
                return "AWS answered with a server error: try again.";
        return "See the message above.";
}

/* "Reason" of an sms-voice error body, when there is one. */
static const char *error_reason(const struct ctl_reply *rep, char *buf, size_t size)
{
        if (!rep->raw || rep->raw[0] != '{')
                return NULL;
        return sms_send_text_error_reason(rep->raw, rep->raw_len, buf, size) > 0 ? buf : NULL;
}

void ctl_report_aws(const struct ctl *ctl, enum aws_service service, const char *operation, int r,
                    const struct ctl_reply *rep)
{
        const struct aws_service_info *info = aws_service_get(service);
        const struct aws_error *e = &rep->error;
        char hint[512], reason[128];
        const char *why = error_reason(rep, reason, sizeof(reason));

        fprintf(stderr, "twowayctl: %s %s failed: ", info ? info->id : "?", operation);
        if (!isempty(e->code))
                fprintf(stderr, "%s", e->code);
        else
                fprintf(stderr, "%s", strerror(r < 0 ? -r : EIO));
        if (why)
                fprintf(stderr, " (%s)", why);
        if (!isempty(e->message) && !streq(e->message, strerror(r < 0 ? -r : EIO)))
                fprintf(stderr, ": %s", e->message);
        if (e->http_status)
                fprintf(stderr, " [HTTP %ld]", e->http_status);
        fprintf(stderr, ". %s\n",
                ctl_aws_hint(ctl, service, operation, r, rep, hint, sizeof(hint)));
}
