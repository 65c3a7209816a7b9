/*
 * agent_turn.c — the dispatcher's side of an agent turn (agent_turn.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include <ev.h>

#include "agent_turn.h"
#include "common.h"
#include "log.h"
#include "metrics.h"
#include "spool.h"

struct end_session {
        struct agent_turns *t; /* NULL: orphaned by agent_turns_free() */
        struct end_session *prev, *next;
        struct agent_call *call;
        char phone[LOG_PHONE_MAX];
        char inbound_message_id[SPOOL_ID_MAX + 1];
};

struct agent_turns {
        struct ev_loop *loop;
        struct aws_client *aws;
        struct end_session *ends;
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
        /* An exception ended the stream: one event of its own type. */
        if (!isempty(res->code) && res->streamed && res->error == -EREMOTEIO)
                (void)metrics_counter_inc(t->events, METRICS_LABELS(res->code));
}

void agent_turn_count_return_control(struct agent_turns *t, const char *outcome)
{
        if (t)
                (void)metrics_counter_inc(t->return_control, METRICS_LABELS(outcome));
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
        if (!t)
                return NULL;
        for (struct end_session *e = t->ends, *next; e; e = next) {
                next = e->next;
                e->t = NULL;
                e->prev = e->next = NULL;
                agent_call_cancel(e->call);
        }
        free(t);
        return NULL;
}

static void end_session_done(const struct agent_result *res, void *userdata)
{
        struct end_session *e = userdata;
        struct agent_turns *t = e->t;

        if (t) {
                if (e->prev)
                        e->prev->next = e->next;
                else
                        t->ends = e->next;
                if (e->next)
                        e->next->prev = e->prev;
                agent_turn_count_events(t, res);
                if (res->kind == AGENT_REPLY_ANSWER)
                        log_info("agent.session_ended",
                                 LOG_FIELDS(LF("INBOUND_MESSAGE_ID", e->inbound_message_id),
                                            LF("PHONE", e->phone)),
                                 "ended the agent session of %s", e->phone);
                else
                        log_warning("agent.end_session_failed",
                                    LOG_FIELDS(LF("INBOUND_MESSAGE_ID", e->inbound_message_id),
                                               LF("PHONE", e->phone), LF("AGENT_ERROR", res->code)),
                                    "cannot end the agent session of %s (%s), ignoring", e->phone,
                                    isempty(res->code) ? "error" : res->code);
        }
        free(e);
}

int agent_turn_end_session(struct agent_turns *t, const struct config *c,
                           const struct spool_row *row, const char *phone)
{
        struct agent_turn_request req;
        struct end_session *e;
        int r;

        if (!t)
                return -EINVAL;
        r = agent_turn_request_init(&req, c, row, (time_t)ev_now(t->loop));
        if (r < 0)
                return r;
        /* No text: the opt-out keyword is not the agent's business. */
        req.params.input_text = NULL;
        req.params.end_session = true;
        req.params.time_zone = NULL;
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        (void)snprintf(e->phone, sizeof(e->phone), "%s", phone);
        (void)snprintf(e->inbound_message_id, sizeof(e->inbound_message_id), "%s",
                       row->inbound_message_id ? row->inbound_message_id : "");
        r = agent_invoke(t->loop, t->aws, &req.params, end_session_done, e, &e->call);
        if (r < 0) {
                free(e);
                return r;
        }
        e->t = t;
        e->next = t->ends;
        if (t->ends)
                t->ends->prev = e;
        t->ends = e;
        return 0;
}
