/*
 * agent.c — InvokeAgent: request building, the streamed answer, classification.
 */
#include <stdio.h>

#include <ev.h>

#include "agent.h"
#include "agent_stream.h"
#include "aws.h"
#include "common.h"
#include "log.h"
#include "tz.h"

struct agent_call {
        struct ev_loop *loop;
        struct aws_call *call; /* NULL once completed */
        struct agent_stream *stream;
        ev_timer deadline;
        int stream_error; /* the decoder's error that aborted the body, or 0 */
        bool streamed;    /* a byte of a 2xx body arrived */
        bool enable_trace;
        agent_stream_start_cb on_stream_start;
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

enum agent_turn_decision agent_turn_decide(unsigned calls, bool streamed)
{
        if (streamed)
                return AGENT_TURN_NO_AGAIN;
        if (calls >= AGENT_TURN_MAX_CALLS)
                return AGENT_TURN_SPENT;
        return AGENT_TURN_CALL;
}

static int set_str(json_t *obj, const char *key, const char *value)
{
        if (!value)
                return 0;
        return json_object_set_new(obj, key, json_string(value)) < 0 ? -ENOMEM : 0;
}

/* The date attributes: what "today" and "tomorrow at 2pm" mean for the
 * business, in its zone. Names are English and fixed (no locale). */
static int add_date_attributes(json_t *prompt, const char *zone, time_t now)
{
        static const char *const weekdays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                               "Thursday", "Friday", "Saturday"};
        char date[48], hm[32], iso[128];
        struct tm tm;
        long off;
        int r;

        r = tz_localtime(zone, now, &tm);
        if (r < 0)
                return r;
        off = tm.tm_gmtoff;
        (void)snprintf(date, sizeof(date), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday);
        (void)snprintf(hm, sizeof(hm), "%02d:%02d", tm.tm_hour, tm.tm_min);
        (void)snprintf(iso, sizeof(iso), "%sT%s:%02d%c%02ld:%02ld", date, hm, tm.tm_sec,
                       off < 0 ? '-' : '+', labs(off) / 3600, labs(off) % 3600 / 60);
        if (set_str(prompt, AGENT_ATTR_DATE, date) < 0 ||
            set_str(prompt, AGENT_ATTR_TIME, hm) < 0 ||
            set_str(prompt, AGENT_ATTR_DATE_TIME, iso) < 0 ||
            set_str(prompt, AGENT_ATTR_WEEKDAY, weekdays[tm.tm_wday % 7]) < 0 ||
            set_str(prompt, AGENT_ATTR_TIME_ZONE, zone) < 0)
                return -ENOMEM;
        return 0;
}

static int build_session_state(const struct agent_params *p, json_t *state)
{
        json_t *attrs = json_object(), *prompt = json_object();
        int r = -ENOMEM;

        if (!attrs || !prompt)
                goto out;
        /* Operator attributes first: twowayd's own names win a clash (the
         * config refuses one anyway). */
        for (size_t i = 0; i < p->n_attrs; i++)
                if (set_str(attrs, p->attrs[i].name, p->attrs[i].value) < 0 ||
                    set_str(prompt, p->attrs[i].name, p->attrs[i].value) < 0)
                        goto out;
        if (set_str(attrs, AGENT_ATTR_ORIGINATION, p->origination) < 0 ||
            set_str(attrs, AGENT_ATTR_DESTINATION, p->destination) < 0 ||
            set_str(attrs, AGENT_ATTR_INBOUND_MESSAGE_ID, p->inbound_message_id) < 0 ||
            set_str(prompt, AGENT_ATTR_INBOUND_MESSAGE_ID, p->inbound_message_id) < 0 ||
            set_str(prompt, AGENT_ATTR_TEXTED_NUMBER, p->destination) < 0)
                goto out;
        if (p->time_zone) {
                r = add_date_attributes(prompt, p->time_zone, p->now);
                if (r < 0)
                        goto out;
        }
        r = -ENOMEM;
        if (p->return_control_results && (json_object_set(state, "returnControlInvocationResults",
                                                          p->return_control_results) < 0 ||
                                          set_str(state, "invocationId", p->invocation_id) < 0))
                goto out;
        if (json_object_size(prompt) > 0 &&
            json_object_set(state, "promptSessionAttributes", prompt) < 0)
                goto out;
        if (json_object_set(state, "sessionAttributes", attrs) < 0)
                goto out;
        r = 0;
out:
        json_decref(attrs);
        json_decref(prompt);
        return r;
}

json_t *agent_request_body(const struct agent_params *p)
{
        json_t *body = NULL, *state = NULL;

        if (!p || (!p->input_text && !p->return_control_results && !p->end_session))
                return NULL;
        body = json_object();
        state = json_object();
        if (!body || !state || build_session_state(p, state) < 0 ||
            json_object_set(body, "sessionState", state) < 0 ||
            set_str(body, "inputText", p->input_text) < 0)
                goto fail;
        if (p->enable_trace && json_object_set_new(body, "enableTrace", json_true()) < 0)
                goto fail;
        if (p->end_session && json_object_set_new(body, "endSession", json_true()) < 0)
                goto fail;
        json_decref(state);
        return body;
fail:
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

static void call_free(void *p)
{
        struct agent_call *a = p;

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

        _cleanup_free_ char *citations = NULL;

        a->call = NULL;
        ev_timer_stop(a->loop, &a->deadline);
        out.streamed = a->streamed;
        out.citations = "";

        if (r >= 0) {
                rr = agent_stream_finish(a->stream, &reply);
                out.counts = reply.counts;
                if (rr < 0) {
                        out.error = rr;
                        out.kind = agent_classify_stream_error(rr);
                        out.code = rr == -EPIPE ? "TruncatedStream" : "InvalidStream";
                        out.message = strerror(-rr);
                } else if (reply.kind == AGENT_REPLY_ANSWER) {
                        out.kind = AGENT_REPLY_ANSWER;
                        out.text = reply.text ? reply.text : "";
                        out.text_len = reply.text ? reply.text_len : 0;
                        out.return_control = reply.return_control;
                        citations = agent_reply_citations_text(&reply);
                        out.citations = citations ? citations : "";
                        out.files = reply.n_files;
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
        } else if (a->timed_out || r == -ETIMEDOUT) {
                /* The deadline, or the one attempt's own timeout (they are the
                 * same length, so either may fire first): the same outcome. */
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
        int r;

        if (!a->streamed && len > 0) {
                a->streamed = true;
                if (a->on_stream_start)
                        a->on_stream_start(a, a->userdata);
        }
        r = agent_stream_feed(a->stream, data, len);

        /* 1: an exception ended the stream; the rest is read and ignored. */
        if (r < 0) {
                a->stream_error = r;
                return r;
        }
        return 0;
}

/* [agent] trace = yes: each trace event at debug level, as the agent sent it.
 * A trace quotes the customer's words, so under [log] redact = yes only the
 * kinds of trace it holds are logged, never its text. */
static void trace_event(const char *type, const void *payload, size_t len, void *userdata)
{
        char shown[2048];

        if (!streq(type, "trace"))
                return;
        if (log_get_redact()) {
                json_t *root = json_loadb(payload, len, 0, NULL);
                json_t *trace = json_object_get(root, "trace");
                const char *key;
                json_t *v;
                size_t n = 0;

                shown[0] = '\0';
                json_object_foreach(trace, key, v) {
                        int w = snprintf(shown + n, sizeof(shown) - n, "%s%s", n ? " " : "", key);

                        if (w < 0 || (size_t)w >= sizeof(shown) - n)
                                break;
                        n += (size_t)w;
                }
                json_decref(root);
                log_debug("agent.trace", LOG_FIELDS(LF("AGENT_TRACE", shown)),
                          "agent trace: %s (%zu bytes, redacted)", shown, len);
                return;
        }
        (void)snprintf(shown, sizeof(shown), "%.*s", (int)MIN(len, sizeof(shown) - 1),
                       (const char *)payload);
        log_debug("agent.trace", LOG_FIELDS(LF("AGENT_TRACE", shown)), "agent trace: %s", shown);
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
        int r;

        if (!loop || !aws || !params || !cb)
                return -EINVAL;
        path = agent_request_path(params->agent_id, params->alias_id, params->session_id);
        if (!path)
                return isempty(params->agent_id) || isempty(params->alias_id) ||
                                       isempty(params->session_id)
                               ? -EINVAL
                               : -ENOMEM;
        if (!params->input_text && !params->return_control_results && !params->end_session)
                return -EINVAL;
        if (params->time_zone) {
                char why[128];

                r = tz_check(params->time_zone, why, sizeof(why));
                if (r < 0)
                        return r;
        }
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->loop = loop;
        a->cb = cb;
        a->userdata = userdata;
        a->started = ev_time();
        a->on_stream_start = params->on_stream_start;
        a->enable_trace = params->enable_trace;
        r = agent_stream_new(0, params->max_answer, &a->stream);
        if (r < 0) {
                free(a);
                return r;
        }
        if (params->enable_trace)
                agent_stream_on_event(a->stream, trace_event, a);
        ev_timer_init(&a->deadline, deadline_cb, (double)params->timeout_ms / 1000., 0.);
        a->deadline.data = a;

        r = aws_call_start_owned(aws,
                                 &(struct aws_call_params){
                                         .service = AWS_SERVICE_BEDROCK_AGENT_RUNTIME,
                                         .operation = "InvokeAgent",
                                         .method = "POST",
                                         .path = path,
                                         .timeout_ms = params->timeout_ms,
                                         .on_data = stream_data,
                                         /* Never repeated behind the dispatcher's back:
                                          * it alone decides (agent_turn_decide()). */
                                         .max_attempts = 1,
                                         .fresh_connection = true,
                                 },
                                 agent_request_body(params), invoke_done, a, call_free, &a->call);
        if (r < 0)
                return r;
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
