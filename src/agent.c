/*
 * agent.c — InvokeAgent: request building, the streamed answer, classification.
 */
#include <stdio.h>

#include <ev.h>

#include "agent.h"
#include "agent_stream.h"
#include "aws.h"
#include "common.h"

struct agent_call {
        struct ev_loop *loop;
        struct aws_call *call; /* NULL once completed */
        struct agent_stream *stream;
        ev_timer deadline;
        int stream_error; /* the decoder's error that aborted the body, or 0 */
        bool timed_out;
        bool cancelled;
        double started;
        agent_cb cb;
        void *userdata;
};

static bool session_char_ok(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               c == '.' || c == '_' || c == '-';
}

int agent_session_id(const char *e164, char *buf, size_t size)
{
        size_t n = 0;

        if (isempty(e164) || !buf)
                return -EINVAL;
        if (size < 2)
                return -ENOBUFS;
        buf[n++] = 'p';
        for (const char *s = e164; *s; s++) {
                if (!session_char_ok(*s))
                        continue;
                if (n + 1 >= size || n >= AGENT_SESSION_ID_MAX)
                        return -ENOBUFS;
                buf[n++] = *s;
        }
        if (n < AGENT_SESSION_ID_MIN)
                return -EINVAL;
        buf[n] = '\0';
        return (int)n;
}

json_t *agent_request_body(const char *input_text, const char *origination, const char *destination)
{
        json_t *body, *state, *attrs;

        if (!input_text)
                return NULL;
        body = json_object();
        state = json_object();
        attrs = json_object();
        if (!body || !state || !attrs)
                goto fail;
        if (origination &&
            json_object_set_new(attrs, "originationNumber", json_string(origination)) < 0)
                goto fail;
        if (destination &&
            json_object_set_new(attrs, "destinationNumber", json_string(destination)) < 0)
                goto fail;
        if (json_object_set_new(state, "sessionAttributes", attrs) < 0) {
                attrs = NULL;
                goto fail;
        }
        attrs = NULL;
        if (json_object_set_new(body, "sessionState", state) < 0) {
                state = NULL;
                goto fail;
        }
        state = NULL;
        if (json_object_set_new(body, "inputText", json_string(input_text)) < 0)
                goto fail;
        return body;
fail:
        json_decref(attrs);
        json_decref(state);
        json_decref(body);
        return NULL;
}

char *agent_request_path(const char *agent_id, const char *alias_id, const char *session_id)
{
        const char *labels[] = {
                "agents", agent_id, "agentAliases", alias_id, "sessions", session_id, "text",
        };

        if (isempty(agent_id) || isempty(alias_id) || isempty(session_id))
                return NULL;
        return aws_rest_path(labels, ARRAY_SIZE(labels));
}

enum agent_reply_kind agent_classify_failure(int r, const struct aws_error *err,
                                             bool *ret_throttling)
{
        bool throttling = false;
        enum agent_reply_kind kind = AGENT_REPLY_PERMANENT;

        if (r >= 0)
                kind = AGENT_REPLY_ANSWER;
        else if (r == -EPIPE || r == -EBADMSG || r == -ETIMEDOUT || r == -ECANCELED)
                /* A truncated or corrupt stream, a timeout: the next request may do. */
                kind = AGENT_REPLY_RETRYABLE;
        else if (err && err->kind == AWS_ERROR_THROTTLING) {
                kind = AGENT_REPLY_RETRYABLE;
                throttling = true;
        } else if (err && err->kind == AWS_ERROR_TRANSIENT)
                kind = AGENT_REPLY_RETRYABLE;
        else if (err && !isempty(err->code) && err->local == 0)
                /* Modeled errors the standard rules call permanent but the
                 * service documents as worth a retry (424 dependency, model
                 * not ready). */
                kind = agent_stream_classify(err->code, &throttling);
        if (ret_throttling)
                *ret_throttling = kind == AGENT_REPLY_RETRYABLE && throttling;
        return kind;
}

enum agent_reply_kind agent_classify_stream_error(int r)
{
        switch (r) {
        case -EPIPE:
        case -EBADMSG:
        case -ENOMEM:
                return AGENT_REPLY_RETRYABLE;
        default:
                return AGENT_REPLY_PERMANENT;
        }
}

static void call_free(struct agent_call *a)
{
        agent_stream_free(a->stream);
        free(a);
}

static void invoke_done(struct aws_call *c, int r, const struct aws_result *res, void *userdata)
{
        struct agent_call *a = userdata;
        struct agent_reply reply = {0};
        struct agent_result out = {
                .code = "",
                .message = "",
                .http_status = res->http_status,
                .request_id = res->request_id ? res->request_id : "",
                .attempts = res->attempts,
                .latency_ms = (ev_time() - a->started) * 1000.,
        };
        int rr;

        a->call = NULL;
        ev_timer_stop(a->loop, &a->deadline);

        if (r >= 0) {
                rr = agent_stream_finish(a->stream, &reply);
                if (rr < 0) {
                        out.error = rr;
                        out.kind = agent_classify_stream_error(rr);
                        out.code = rr == -EPIPE ? "TruncatedStream" : "InvalidStream";
                        out.message = strerror(-rr);
                } else if (reply.kind == AGENT_REPLY_ANSWER) {
                        out.kind = AGENT_REPLY_ANSWER;
                        out.text = reply.text ? reply.text : "";
                        out.text_len = reply.text ? reply.text_len : 0;
                } else {
                        out.kind = reply.kind;
                        out.error = -EREMOTEIO;
                        out.throttling = reply.throttling;
                        out.code = reply.code;
                        out.message = reply.message;
                }
        } else if (a->stream_error < 0) {
                out.error = a->stream_error;
                out.kind = agent_classify_stream_error(a->stream_error);
                out.code = a->stream_error == -EPIPE ? "TruncatedStream" : "InvalidStream";
                out.message = strerror(-a->stream_error);
        } else if (a->timed_out) {
                out.error = -ETIMEDOUT;
                out.kind = AGENT_REPLY_RETRYABLE;
                out.code = "AgentTimeout";
                out.message = "the agent did not answer in time";
        } else {
                out.error = r;
                out.kind = agent_classify_failure(r, res->error, &out.throttling);
                if (res->error) {
                        out.code = res->error->code;
                        out.message = res->error->message;
                }
        }
        a->cb(&out, a->userdata);
        agent_reply_done(&reply);
        call_free(a);
}

static int stream_data(struct aws_call *c, const struct http_client_response *head,
                       const void *data, size_t len, void *userdata)
{
        struct agent_call *a = userdata;
        int r = agent_stream_feed(a->stream, data, len);

        /* 1: an exception ended the stream; the rest is read and ignored. */
        if (r < 0) {
                a->stream_error = r;
                return r;
        }
        return 0;
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct agent_call *a = w->data;

        if (!a->call)
                return;
        a->timed_out = true;
        aws_call_cancel(a->call);
}

int agent_invoke(struct ev_loop *loop, struct aws_client *aws, const struct agent_params *params,
                 agent_cb cb, void *userdata, struct agent_call **ret)
{
        _cleanup_free_ char *path = NULL;
        struct agent_call *a;
        json_t *body;
        int r;

        if (!loop || !aws || !params || !cb || !params->input_text)
                return -EINVAL;
        path = agent_request_path(params->agent_id, params->alias_id, params->session_id);
        if (!path)
                return isempty(params->agent_id) || isempty(params->alias_id) ||
                                       isempty(params->session_id)
                               ? -EINVAL
                               : -ENOMEM;
        body = agent_request_body(params->input_text, params->origination, params->destination);
        if (!body)
                return -ENOMEM;
        a = calloc(1, sizeof(*a));
        if (!a) {
                json_decref(body);
                return -ENOMEM;
        }
        a->loop = loop;
        a->cb = cb;
        a->userdata = userdata;
        a->started = ev_time();
        r = agent_stream_new(0, params->max_answer, &a->stream);
        if (r < 0) {
                json_decref(body);
                free(a);
                return r;
        }
        ev_timer_init(&a->deadline, deadline_cb, (double)params->timeout_ms / 1000., 0.);
        a->deadline.data = a;

        r = aws_call_start(aws,
                           &(struct aws_call_params){
                                   .service = AWS_SERVICE_BEDROCK_AGENT_RUNTIME,
                                   .operation = "InvokeAgent",
                                   .method = "POST",
                                   .path = path,
                                   .body = body,
                                   .timeout_ms = params->timeout_ms,
                                   .on_data = stream_data,
                           },
                           invoke_done, a, &a->call);
        json_decref(body);
        if (r < 0) {
                call_free(a);
                return r;
        }
        if (params->timeout_ms > 0)
                ev_timer_start(loop, &a->deadline);
        if (ret)
                *ret = a;
        return 0;
}

void agent_call_cancel(struct agent_call *a)
{
        if (!a || !a->call || a->cancelled)
                return;
        a->cancelled = true;
        aws_call_cancel(a->call);
}
