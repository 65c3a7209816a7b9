/*
 * agent_turn.c — the dispatcher's side of an agent turn (agent_turn.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include <ev.h>

#include "agent_turn.h"
#include "aws.h"
#include "common.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"
#include "spool.h"

#define WEBHOOK_MAX_RESPONSE (256u * 1024)

struct agent_webhook {
        struct http_transfer *transfer;
        agent_webhook_cb cb;
        void *userdata;
};

struct agent_turns {
        struct ev_loop *loop;
        struct aws_client *aws;
        struct metrics_family *events;
        struct metrics_family *return_control;
};

static time_t turn_now(time_t now)
{
#ifdef TWOWAYD_UNIT_TEST
        const char *fixed = getenv("TWOWAYD_TEST_NOW");
        char *end;
        long long v;

        if (!isempty(fixed)) {
                errno = 0;
                v = strtoll(fixed, &end, 10);
                if (errno == 0 && *end == '\0')
                        return (time_t)v;
        }
#endif
        return now;
}

int agent_turn_request_init(struct agent_turn_request *req, const struct config *c,
                            const struct spool_row *row, time_t now)
{
        size_t n = MIN(c->n_agent_attrs, ARRAY_SIZE(req->attrs));
        int r;

        r = agent_session_id(row->origination_number, req->session, sizeof(req->session));
        if (r < 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                req->attrs[i] =
                        (struct agent_attr){c->agent_attr_names[i], c->agent_attr_values[i]};
        req->params = (struct agent_params){
                .agent_id = c->agent_id,
                .alias_id = c->agent_alias_id,
                .session_id = req->session,
                .input_text = row->body,
                .origination = row->origination_number,
                .destination = row->destination_number,
                .inbound_message_id = row->inbound_message_id,
                .time_zone = c->agent_time_zone,
                .now = turn_now(now),
                .attrs = req->attrs,
                .n_attrs = n,
                .enable_trace = c->agent_trace,
                .timeout_ms = c->agent_timeout_ms,
        };
        return 0;
}

char *agent_turn_answer_text(const struct config *c, const struct agent_result *res)
{
        char *text;

        if (streq_ptr(c->agent_citations, "append") && !isempty(res->citations)) {
                if (asprintf(&text, "%s%s", res->text ? res->text : "", res->citations) < 0)
                        return NULL;
                return text;
        }
        return strdup(res->text ? res->text : "");
}

const char *agent_turn_action_group(const json_t *rc)
{
        json_t *first = json_array_get(json_object_get(rc, "invocationInputs"), 0);
        const char *g = json_string_value(
                json_object_get(json_object_get(first, "functionInvocationInput"), "actionGroup"));

        if (!g)
                g = json_string_value(json_object_get(json_object_get(first, "apiInvocationInput"),
                                                      "actionGroup"));
        return g ? g : "";
}

void agent_turn_count_events(struct agent_turns *t, const struct agent_result *res)
{
        const struct {
                const char *type;
                unsigned n;
        } by_type[] = {
                {"chunk", res->counts.chunks},
                {"attribution", res->counts.attributions},
                {"returnControl", res->counts.return_controls},
                {"files", res->counts.files},
                {"trace", res->counts.traces},
                {"unknown", res->counts.unknown_events},
        };

        if (!t)
                return;
        for (size_t i = 0; i < ARRAY_SIZE(by_type); i++)
                if (by_type[i].n)
                        (void)metrics_counter_add(t->events, METRICS_LABELS(by_type[i].type),
                                                  by_type[i].n);
        /* An exception ended the stream (its name is in the agent.failed
         * log; a label per name would let the far side grow the series). */
        if (res->streamed && res->error == -EREMOTEIO)
                (void)metrics_counter_inc(t->events, METRICS_LABELS("exception"));
}

void agent_turn_count_return_control(struct agent_turns *t, const char *outcome)
{
        if (t)
                (void)metrics_counter_inc(t->return_control, METRICS_LABELS(outcome));
}

int agent_turn_check_results(const json_t *results, char *why, size_t size)
{
        const json_t *m;
        size_t i;

        if (!json_is_array(results) || json_array_size(results) < 1 ||
            json_array_size(results) > 5) {
                (void)snprintf(why, size, "returnControlInvocationResults must be a list of 1-5");
                return -EINVAL;
        }
        json_array_foreach(results, i, m) {
                const json_t *r = json_object_get(m, "apiResult");

                if (!r)
                        r = json_object_get(m, "functionResult");
                if (json_object_size(m) != 1 || !json_is_object(r) ||
                    !json_is_string(json_object_get(r, "actionGroup"))) {
                        (void)snprintf(why, size,
                                       "result %zu must be one apiResult or functionResult with "
                                       "an actionGroup",
                                       i + 1);
                        return -EINVAL;
                }
        }
        return 0;
}

static void webhook_done(struct http_transfer *tr, int r, const struct http_client_response *resp,
                         void *userdata)
{
        struct agent_webhook *w = userdata;
        json_t *root = NULL, *results = NULL;
        char why[256] = "";

        if (r < 0)
                (void)snprintf(why, sizeof(why), "%s",
                               r == -ECANCELED         ? "cancelled"
                               : !isempty(resp->error) ? resp->error
                                                       : strerror(-r));
        else if (resp->status < 200 || resp->status > 299) {
                r = -EREMOTEIO;
                (void)snprintf(why, sizeof(why), "HTTP status %ld", resp->status);
        } else {
                root = resp->body ? json_loadb((const char *)resp->body, resp->body_len, 0, NULL)
                                  : NULL;
                results = json_object_get(root, "returnControlInvocationResults");
                if (!root) {
                        r = -EBADMSG;
                        (void)snprintf(why, sizeof(why), "the answer is not JSON");
                } else
                        r = agent_turn_check_results(results, why, sizeof(why));
        }
        w->cb(r, r < 0 ? NULL : results, why, w->userdata);
        json_decref(root);
        free(w);
}

int agent_turn_return_control(struct agent_turns *t, const struct config *c,
                              const struct spool_row *row, const json_t *rc, agent_webhook_cb cb,
                              void *userdata, struct agent_webhook **ret)
{
        static const char *const headers[] = {"Content-Type: application/json"};
        char session[AGENT_SESSION_ID_MAX + 1];
        _cleanup_free_ char *body = NULL;
        struct agent_webhook *w;
        json_t *o;
        int r;

        if (!t || !c->agent_return_control_url || !cb)
                return -EINVAL;
        if (agent_session_id(row->origination_number, session, sizeof(session)) < 0)
                return -EINVAL;
        o = json_pack("{s:O?,s:O?,s:s?,s:s,s:s?,s:s?}", "invocationId",
                      json_object_get(rc, "invocationId"), "invocationInputs",
                      json_object_get(rc, "invocationInputs"), "inboundMessageId",
                      row->inbound_message_id, "sessionId", session, "originationNumber",
                      row->origination_number, "destinationNumber", row->destination_number);
        body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!body)
                return -ENOMEM;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->cb = cb;
        w->userdata = userdata;
        r = http_client_start(aws_client_http(t->aws),
                              &(struct http_client_req){
                                      .method = "POST",
                                      .url = c->agent_return_control_url,
                                      .headers = headers,
                                      .n_headers = ARRAY_SIZE(headers),
                                      .body = body,
                                      .body_len = strlen(body),
                                      .timeout_ms = c->agent_timeout_ms,
                                      .max_response = WEBHOOK_MAX_RESPONSE,
                                      /* The action may run: never replayed by curl. */
                                      .fresh_connection = true,
                              },
                              webhook_done, w, &w->transfer);
        if (r < 0) {
                free(w);
                return r;
        }
        if (ret)
                *ret = w;
        return 0;
}

void agent_webhook_cancel(struct agent_webhook *w)
{
        if (w)
                http_transfer_cancel(w->transfer);
}

int agent_turns_new(struct ev_loop *loop, struct aws_client *aws, struct agent_turns **ret)
{
        struct agent_turns *t = calloc(1, sizeof(*t));
        int r;

        if (!t)
                return -ENOMEM;
        t->loop = loop;
        t->aws = aws;
        r = metrics_counter_new("twowayd_agent_events_total",
                                "InvokeAgent response stream events, by type (exceptions by "
                                "their name).",
                                METRICS_LABELS("type"), &t->events);
        if (r >= 0)
                r = metrics_counter_new("twowayd_agent_return_control_total",
                                        "returnControl events, by what twowayd did with them.",
                                        METRICS_LABELS("outcome"), &t->return_control);
        if (r < 0)
                log_warning_errno(r, "agent.metrics_failed", LOG_NOFIELDS,
                                  "cannot register the agent event metrics, ignoring: %m");
        *ret = t;
        return 0;
}

struct agent_turns *agent_turns_free(struct agent_turns *t)
{
        free(t);
        return NULL;
}

int agent_turn_end_session_request(struct agent_turn_request *req, const struct config *c,
                                   const struct spool_row *row)
{
        int r = agent_turn_request_init(req, c, row, 0);

        if (r < 0)
                return r;
        /* No text: the opt-out keyword is not the agent's business. */
        req->params.input_text = NULL;
        req->params.end_session = true;
        req->params.time_zone = NULL;
        req->params.enable_trace = false;
        req->params.timeout_ms = MIN(req->params.timeout_ms, AGENT_TURN_END_SESSION_TIMEOUT_MS);
        return 0;
}
