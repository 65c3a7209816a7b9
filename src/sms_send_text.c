/*
 * sms_send_text.c — one SendTextMessage attempt and its failure classification.
 */
#include <math.h>
#include <stdio.h>

#include <ev.h>

#include "aws.h"
#include "common.h"
#include "sms_send_text.h"

json_t *sms_send_text_request_body(const struct sms_send_text_params *p)
{
        json_t *o, *ctx;
        int r = 0;

        if (!p || isempty(p->destination) || isempty(p->origination_identity) || isempty(p->body))
                return NULL;
        o = json_object();
        if (!o)
                return NULL;
#define SET_STR(name, v)                                                                           \
        do {                                                                                       \
                if (r >= 0 && (v))                                                                 \
                        r = json_object_set_new(o, name, json_string(v));                          \
        } while (0)
        SET_STR("DestinationPhoneNumber", p->destination);
        SET_STR("OriginationIdentity", p->origination_identity);
        SET_STR("MessageBody", p->body);
        SET_STR("MessageType", isempty(p->message_type) ? NULL : p->message_type);
        SET_STR("ConfigurationSetName",
                isempty(p->configuration_set) ? NULL : p->configuration_set);
        SET_STR("MaxPrice", isempty(p->max_price) ? NULL : p->max_price);
#undef SET_STR
        if (r >= 0 && p->time_to_live > 0)
                r = json_object_set_new(o, "TimeToLive", json_integer(p->time_to_live));
        if (r >= 0 && !isempty(p->inbound_message_id)) {
                ctx = json_object();
                if (!ctx || json_object_set_new(ctx, SMS_SEND_TEXT_CONTEXT_INBOUND_ID,
                                                json_string(p->inbound_message_id)) < 0) {
                        json_decref(ctx);
                        r = -1;
                } else
                        r = json_object_set_new(o, "Context", ctx);
        }
        if (r < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

const char *sms_send_text_failure_to_string(enum sms_send_text_failure f)
{
        static const char *const names[_SMS_SEND_TEXT_FAILURE_MAX] = {
                [SMS_SEND_TEXT_FAILURE_RETRY] = "retry",
                [SMS_SEND_TEXT_FAILURE_OPTED_OUT] = "opted_out",
                [SMS_SEND_TEXT_FAILURE_PERMANENT] = "permanent",
                [SMS_SEND_TEXT_FAILURE_UNKNOWN] = "unknown",
        };

        if ((unsigned)f >= _SMS_SEND_TEXT_FAILURE_MAX)
                return "invalid";
        return names[f];
}

enum sms_send_text_failure sms_send_text_classify_failure(int r, const struct aws_error *err,
                                                          const char *reason)
{
        if (r >= 0)
                return SMS_SEND_TEXT_FAILURE_PERMANENT; /* not a failure; callers do not ask */
        if (!err)
                return SMS_SEND_TEXT_FAILURE_UNKNOWN;
        if (err->local < 0) {
                switch (err->local) {
                case -ECONNREFUSED:
                case -EHOSTUNREACH:
                case -ENETUNREACH:
                case -ECONNABORTED: /* TLS handshake failed: no request went out */
                case -ENOKEY:       /* no credentials: not even signed */
                case -EACCES:
                        return SMS_SEND_TEXT_FAILURE_RETRY;
                case -EKEYREJECTED: /* the peer is not who it should be: nothing sent */
                case -EINVAL:
                case -ENOMEM:
                        return SMS_SEND_TEXT_FAILURE_PERMANENT;
                default:
                        /* Timeouts, a connection lost, a 2xx we cannot read: the
                         * service may have accepted the message. */
                        return SMS_SEND_TEXT_FAILURE_UNKNOWN;
                }
        }
        if (aws_error_is(err, "ConflictException") && reason &&
            streq(reason, SMS_SEND_TEXT_REASON_OPTED_OUT))
                return SMS_SEND_TEXT_FAILURE_OPTED_OUT;
        if (err->kind == AWS_ERROR_THROTTLING)
                return SMS_SEND_TEXT_FAILURE_RETRY;
        /* The service answered that it failed (retryable by its model). A bare
         * 502/504 comes from something in between, which may have forwarded
         * the request: unknown. */
        if (aws_error_is(err, "InternalServerException") || aws_error_is(err, "InternalFailure") ||
            aws_error_is(err, "ServiceUnavailable") || err->http_status == 503)
                return SMS_SEND_TEXT_FAILURE_RETRY;
        if (err->http_status >= 500)
                return isempty(err->code) ? SMS_SEND_TEXT_FAILURE_UNKNOWN
                                          : SMS_SEND_TEXT_FAILURE_RETRY;
        return SMS_SEND_TEXT_FAILURE_PERMANENT;
}

bool sms_send_text_identity_unknown(const struct aws_error *err, const char *reason)
{
        return aws_error_is(err, "ResourceNotFoundException") && reason &&
               (streq(reason, "phone-number") || streq(reason, "pool") ||
                streq(reason, "sender-id"));
}

size_t sms_send_text_error_reason(const void *body, size_t len, char *buf, size_t size)
{
        json_t *doc;
        const char *s;
        int n;

        if (!buf || size == 0)
                return 0;
        buf[0] = '\0';
        if (!body || len == 0)
                return 0;
        doc = json_loadb(body, len, 0, NULL);
        s = json_string_value(json_object_get(doc, "Reason"));
        if (!s)
                s = json_string_value(json_object_get(doc, "reason"));
        /* ResourceNotFoundException has no Reason: the kind of resource is one. */
        if (!s)
                s = json_string_value(json_object_get(doc, "ResourceType"));
        n = s ? snprintf(buf, size, "%s", s) : 0;
        json_decref(doc);
        return n < 0 ? 0 : MIN((size_t)n, size - 1);
}

struct send_ctx {
        sms_send_text_cb cb;
        void *userdata;
        double started;
};

static void send_done(struct aws_call *call, int r, const struct aws_result *res, void *userdata)
{
        struct send_ctx *ctx = userdata;
        char reason[SMS_SEND_TEXT_REASON_MAX] = "";
        struct sms_send_text_result out = {
                .r = r,
                .message_id = "",
                .reason = reason,
                .http_status = res->http_status,
                .request_id = res->request_id ? res->request_id : "",
                .latency_ms = (ev_time() - ctx->started) * 1000.,
        };

        if (r >= 0) {
                const char *id = json_string_value(json_object_get(res->json, "MessageId"));
                out.message_id = id ? id : "";
        } else {
                out.error = res->error;
                (void)sms_send_text_error_reason(res->raw, res->raw_len, reason, sizeof(reason));
                out.failure = sms_send_text_classify_failure(r, res->error, reason);
        }
        ctx->cb(&out, ctx->userdata);
        free(ctx);
}

int sms_send_text(struct aws_client *aws, const struct sms_send_text_params *p, sms_send_text_cb cb,
                  void *userdata, struct aws_call **ret)
{
        struct send_ctx *ctx;
        json_t *body;

        if (!aws || !p || !cb)
                return -EINVAL;
        body = sms_send_text_request_body(p);
        if (!body)
                return isempty(p->destination) || isempty(p->origination_identity) ||
                                       isempty(p->body)
                               ? -EINVAL
                               : -ENOMEM;
        ctx = calloc(1, sizeof(*ctx));
        if (ctx)
                *ctx = (struct send_ctx){.cb = cb, .userdata = userdata, .started = ev_time()};
        return aws_call_start_owned(aws,
                                    &(struct aws_call_params){
                                            .service = AWS_SERVICE_SMS_VOICE,
                                            .operation = "SendTextMessage",
                                            .max_attempts = 1,
                                            .fresh_connection = true,
                                    },
                                    body, send_done, ctx, free, ret);
}
