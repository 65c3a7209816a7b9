/*
 * job_agent.c — the agent steps: one agent turn for the message, and the end
 * of the sender's agent session when they opt out.
 *
 * A turn is at most once once the agent may have acted (agent.h, AGENT
 * TURNS): before each InvokeAgent, agent_turn_decide() is asked with the
 * row's agent_calls and agent_streamed and the call is recorded in the spool
 * (spool_agent_calling()); the start of an answer stream is recorded too
 * (spool_agent_streamed()). A turn that may not be repeated ends with the
 * fallback reply. A returnControl is answered through [agent]
 * return_control_url and the results go back to the agent in the same turn.
 *
 * The outcome is a verdict: an answer (or the fallback) becomes job->reply
 * and DONE; a retryable failure is a RETRY whose cause tells the dispatcher
 * whether it was the agent's dependency, which AWS says to retry at most once.
 */
#include <stdio.h>
#include <strings.h>

#include <ev.h>

#include "agent.h"
#include "agent_turn.h"
#include "config.h"
#include "job.h"
#include "job_steps.h"
#include "metrics.h"

#define JOB_RETURNS_MAX 3 /* returnControl rounds of one message */

static bool is_blank(const char *s)
{
        for (; s && *s; s++)
                if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
                        return false;
        return true;
}

/* End the turn with the fallback reply. */
static void fallback(struct job *j)
{
        j->reply = JOB_REPLY_FALLBACK;
        job_done(j);
}

/* The turn rule where a call cannot go on: the fallback, once, and why. */
static void agent_not_again(struct job *j, const char *why)
{
        log_notice("agent.not_repeated", LOG_FIELDS(JOB_FIELDS(j), LF("REASON", why)),
                   "not asking the agent again about message %s (%s), sending the fallback "
                   "reply",
                   j->spool_id, why);
        fallback(j);
}

static void agent_done(const struct agent_result *res, void *userdata);

static void agent_stream_started(struct agent_call *call, void *userdata)
{
        struct job *j = userdata;
        int r;

        if (job_cancelled(j))
                return;
        j->row->agent_streamed = true;
        r = spool_agent_streamed(j->env->spool, j->row->id);
        if (r < 0)
                log_warning_errno(r, "pipeline.spool_failed", LOG_FIELDS(JOB_FIELDS(j)),
                                  "cannot record that the agent began answering %s, ignoring: %m",
                                  j->spool_id);
}

/* --- return of control ------------------------------------------------------------------ */

/* The webhook's results go back to the agent in the same session: the same
 * turn, continued (not a repeat of it), so no agent_turn_decide() here. */
static void webhook_done(int r, json_t *results, const char *why, void *userdata)
{
        struct job *j = userdata;
        struct job_env *env;
        struct agent_turn_request req;
        int rr;

        if (job_cancelled(j)) {
                job_verdict(j, JOB_CANCELLED, JOB_CAUSE_NONE, NULL);
                return;
        }
        env = j->env;
        j->work = (struct job_work){0};
        if (r < 0) {
                agent_turn_count_return_control(env->turns, "failed");
                log_warning("agent.return_control_failed",
                            LOG_FIELDS(JOB_FIELDS(j), LF("REASON", why)),
                            "the return-of-control handler failed for message %s (%s), "
                            "sending the fallback reply",
                            j->spool_id, why);
                fallback(j);
                return;
        }
        agent_turn_count_return_control(env->turns, "answered");
        rr = agent_turn_request_init(&req, env->config, j->row, (time_t)ev_now(env->loop));
        if (rr >= 0) {
                req.params.input_text = NULL;
                req.params.return_control_results = results;
                req.params.invocation_id = j->invocation_id;
                rr = agent_invoke(env->loop, env->aws, &req.params, agent_done, j, &j->work.agent);
        }
        if (rr < 0) {
                log_warning_errno(rr, "agent.return_control_failed", LOG_FIELDS(JOB_FIELDS(j)),
                                  "cannot give the agent the results for message %s, sending "
                                  "the fallback reply: %m",
                                  j->spool_id);
                fallback(j);
                return;
        }
        j->work.kind = JOB_WORK_AGENT;
        log_info("agent.return_control_answered", LOG_FIELDS(JOB_FIELDS(j)),
                 "gave the agent the results of its action for %s", j->phone);
}

static void agent_return_control(struct job *j, const json_t *rc)
{
        struct job_env *env = j->env;
        const char *group = agent_turn_action_group(rc);
        int r;

        if (++j->returns > JOB_RETURNS_MAX) {
                agent_turn_count_return_control(env->turns, "too_many");
                agent_not_again(j, "the agent kept returning control");
                return;
        }
        free(j->invocation_id);
        j->invocation_id = strdup(json_string_value(json_object_get(rc, "invocationId")) ?: "");
        if (!j->invocation_id) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_NO_MEMORY, "agent: out of memory");
                return;
        }
        r = agent_turn_return_control(env->turns, env->config, j->row, rc, webhook_done, j,
                                      &j->work.webhook);
        if (r < 0) {
                agent_turn_count_return_control(env->turns, "failed");
                log_warning_errno(r, "agent.return_control_failed",
                                  LOG_FIELDS(JOB_FIELDS(j), LF("ACTION_GROUP", group)),
                                  "cannot call the return-of-control handler, sending the "
                                  "fallback reply: %m");
                fallback(j);
                return;
        }
        j->work.kind = JOB_WORK_WEBHOOK;
        log_info("agent.return_control", LOG_FIELDS(JOB_FIELDS(j), LF("ACTION_GROUP", group)),
                 "the agent returned control for action group %s: asking the handler", group);
}

/* --- the answer --------------------------------------------------------------------------- */

static void agent_answered(struct job *j, const struct agent_result *res, const char *latency)
{
        struct job_env *env = j->env;
        char length[24], files[16];

        (void)snprintf(length, sizeof(length), "%zu", res->text_len);
        log_info("agent.answered",
                 LOG_FIELDS(JOB_FIELDS(j), LF("LATENCY_MS", latency), LF("LENGTH", length),
                            LF("AWS_REQUEST_ID", res->request_id)),
                 "the agent answered %s in %s ms (%s bytes)", j->phone, latency, length);
        if (res->files) {
                (void)snprintf(files, sizeof(files), "%u", res->files);
                log_info("agent.files", LOG_FIELDS(JOB_FIELDS(j), LF("FILES", files)),
                         "the agent produced %s file(s); SMS carries none", files);
        }
        if (res->return_control && env->config->agent_return_control_url) {
                agent_return_control(j, res->return_control);
                return;
        }
        if (res->return_control) {
                /* The agent waits for an action only its developer can run; no
                 * answer will come from this turn. */
                const char *group = agent_turn_action_group(res->return_control);

                agent_turn_count_return_control(env->turns, "unsupported");
                log_warning("agent.return_control_unsupported",
                            LOG_FIELDS(JOB_FIELDS(j), LF("ACTION_GROUP", group)),
                            "the agent returned control for action group %s, which twowayd "
                            "cannot run: sending the fallback reply",
                            group);
                fallback(j);
                return;
        }
        if (is_blank(res->text)) {
                log_warning("agent.empty_answer", LOG_FIELDS(JOB_FIELDS(j)),
                            "the agent's answer is empty, sending the fallback reply");
                fallback(j);
                return;
        }
        free(j->answer);
        j->answer = agent_turn_answer_text(env->config, res);
        if (!j->answer) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_NO_MEMORY, "agent: out of memory");
                return;
        }
        j->reply = JOB_REPLY_ANSWER;
        job_done(j);
}

/* A failed call that never reached the agent (an error response) does not
 * count against the turn. */
static void agent_refused(struct job *j)
{
        int r = spool_agent_refused(j->env->spool, j->row->id);

        if (r < 0)
                log_warning_errno(r, "pipeline.spool_failed", LOG_FIELDS(JOB_FIELDS(j)),
                                  "cannot record the refused agent call of %s, ignoring: %m",
                                  j->spool_id);
        else if (j->row->agent_calls > 0)
                j->row->agent_calls--;
}

static void agent_done(const struct agent_result *res, void *userdata)
{
        struct job *j = userdata;
        struct job_env *env;
        char buf[JOB_DETAIL_MAX], latency[24];
        const char *kind = agent_reply_kind_to_string(res->kind);
        bool dependency, dependency_again;

        if (job_cancelled(j)) {
                job_verdict(j, JOB_CANCELLED, JOB_CAUSE_NONE, NULL);
                return;
        }
        env = j->env;
        (void)metrics_histogram_observe(env->m.agent_latency, METRICS_LABELS(kind),
                                        res->latency_ms / 1000.);
        agent_turn_count_events(env->turns, res);
        (void)snprintf(latency, sizeof(latency), "%.0f", res->latency_ms);
        if (res->kind == AGENT_REPLY_ANSWER) {
                agent_answered(j, res, latency);
                return;
        }

        (void)snprintf(buf, sizeof(buf), "agent: %s%s%s", isempty(res->code) ? "error" : res->code,
                       isempty(res->message) ? "" : ": ", res->message ? res->message : "");
        log_warning("agent.failed",
                    LOG_FIELDS(JOB_FIELDS(j), LF("LATENCY_MS", latency),
                               LF("AGENT_ERROR", res->code), LF("AGENT_ERROR_KIND", kind),
                               LF("AWS_REQUEST_ID", res->request_id)),
                    "the agent failed for %s (%s): %s", j->phone, kind, buf);
        if (res->streamed || j->row->agent_streamed) {
                /* The agent began answering: its actions may have run. */
                agent_not_again(j, "its answer stream had begun");
                return;
        }
        if (res->http_status >= 400)
                agent_refused(j);
        if (res->kind != AGENT_REPLY_RETRYABLE) {
                fallback(j);
                return;
        }
        /* A second dependency failure is the dispatcher's to end (the cause
         * kept in the spool); anything else may not go on once the turn is spent. */
        dependency = strcasecmp(res->code, "dependencyFailedException") == 0;
        dependency_again = dependency &&
                           job_cause_from_string(j->row->retry_cause) == JOB_CAUSE_AGENT_DEPENDENCY;
        if (!dependency_again && agent_turn_decide(j->row->agent_calls, false) != AGENT_TURN_CALL) {
                agent_not_again(j, "no answer after two calls");
                return;
        }
        job_verdict(j, JOB_RETRY, dependency ? JOB_CAUSE_AGENT_DEPENDENCY : JOB_CAUSE_AGENT, "%s",
                    buf);
}

void job_agent(struct job *j)
{
        struct job_env *env = j->env;
        const struct config *c = env->config;
        struct agent_turn_request req;
        char logged[AGENT_SESSION_ID_MAX + LOG_PHONE_MAX + 2];
        int r;

        j->step = JOB_STEP_AGENT;
        r = agent_turn_request_init(&req, c, j->row, (time_t)ev_now(env->loop));
        if (r < 0) {
                job_verdict(j, JOB_DEAD, JOB_CAUSE_NO_SESSION,
                            "the sender's number gives no agent session id");
                return;
        }
        /* At most once once the agent may have acted (agent.h, AGENT TURNS):
         * the call is recorded before it is made. */
        switch (agent_turn_decide(j->row->agent_calls, j->row->agent_streamed)) {
        case AGENT_TURN_NO_AGAIN:
                agent_not_again(j, "its answer stream had begun before");
                return;
        case AGENT_TURN_SPENT:
                agent_not_again(j, "no answer after two calls");
                return;
        case AGENT_TURN_CALL:
                break;
        }
        r = spool_agent_calling(env->spool, j->row->id);
        if (r < 0) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_SPOOL, "agent: cannot record the call: %s",
                            strerror(-r));
                return;
        }
        j->row->agent_calls++;
        req.params.on_stream_start = agent_stream_started;
        r = agent_invoke(env->loop, env->aws, &req.params, agent_done, j, &j->work.agent);
        if (r < 0) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_AGENT, "agent: %s", strerror(-r));
                return;
        }
        j->work.kind = JOB_WORK_AGENT;
        /* The session id is the number: mask it as the number is. */
        if (log_get_redact())
                (void)snprintf(logged, sizeof(logged), "p%s", j->phone);
        else
                (void)snprintf(logged, sizeof(logged), "%s", req.session);
        log_info("agent.invoked",
                 LOG_FIELDS(JOB_FIELDS(j), LF("AGENT_ID", c->agent_id),
                            LF("AGENT_ALIAS_ID", c->agent_alias_id), LF("SESSION_ID", logged)),
                 "asking agent %s for %s", c->agent_id, j->phone);
}

/* --- the end of a session ----------------------------------------------------------------- */

/* Bounded (agent_turn.h); whatever happens, the confirmation follows. */
static void end_session_done(const struct agent_result *res, void *userdata)
{
        struct job *j = userdata;

        if (job_cancelled(j)) {
                job_verdict(j, JOB_CANCELLED, JOB_CAUSE_NONE, NULL);
                return;
        }
        agent_turn_count_events(j->env->turns, res);
        if (res->kind == AGENT_REPLY_ANSWER)
                log_info("agent.session_ended", LOG_FIELDS(JOB_FIELDS(j)),
                         "ended the agent session of %s", j->phone);
        else
                log_warning("agent.end_session_failed",
                            LOG_FIELDS(JOB_FIELDS(j), LF("AGENT_ERROR", res->code)),
                            "cannot end the agent session of %s (%s), ignoring", j->phone,
                            isempty(res->code) ? "error" : res->code);
        job_done(j);
}

void job_end_session(struct job *j)
{
        struct job_env *env = j->env;
        struct agent_turn_request req;
        int r;

        j->step = JOB_STEP_END_SESSION;
        r = agent_turn_end_session_request(&req, env->config, j->row);
        if (r >= 0)
                r = agent_invoke(env->loop, env->aws, &req.params, end_session_done, j,
                                 &j->work.agent);
        if (r < 0) {
                log_warning_errno(r, "agent.end_session_failed", LOG_FIELDS(JOB_FIELDS(j)),
                                  "cannot end the agent session of %s, ignoring: %m", j->phone);
                job_done(j);
                return;
        }
        j->work.kind = JOB_WORK_AGENT;
}
