/*
 * dispatch.c — the job engine: claiming rows, driving each job through its
 * steps on their verdicts, superseding a sender's messages when they opt
 * out, and finishing rows in the spool.
 *
 * CLAIMING. A tick (DISPATCH_TICK_S, and at once after dispatch_kick() or
 * when a job ends) claims ready consent keywords first (their own query and
 * their own allowance of [dispatch] concurrency), then other ready rows while
 * fewer than [dispatch] concurrency jobs are working (replies waiting in the
 * send queue do not count) and the send queue is not too long.
 *
 * DRIVING. job_step_done() is the only way back from a step; it hands the
 * verdict to job_drive(), registered in the jobs' environment (job.h, THE
 * DRIVER), which turns it into an action (dispatch_decide(), pure) and acts:
 *
 *   claim ─► consent read ─┬─ block / ignore ──────────────────────────► done
 *                          ├─ opt-out ─► consent write ─► end session ─┐
 *                          ├─ opt-in ──► consent write ───────────────┤
 *                          ├─ confirm / help ─────────────────────────┴─► shape ─► send ─► done
 *                          └─ agent ─► agent (turn rule) ─────────────┘           │
 *                                                        opted out at AWS ─► record ─► done
 *   RETRY: a lost compare-and-swap reads again at once (a few rounds); the
 *   rest go back to the spool with backoff (spool_retry_cause()), or past max
 *   age end the row: the fallback reply when the agent was the cause, dead
 *   otherwise. An agent dependency failure is retried once, then the
 *   fallback (the row's retry_cause remembers it across attempts).
 *
 * A spool transition that fails (disk trouble) leaves the job finishing and
 * the tick tries the transition again; the row stays in progress meanwhile,
 * so its sender waits.
 *
 * Teardown: dispatch_free() cancels each job's work and orphans the job
 * (job->env NULL); its step's callback then ends in job_step_done(), which
 * frees it without coming back here. The AWS client
 * outlives the dispatcher and completes every call.
 */
#include <stdio.h>
#include <time.h>

#include <ev.h>

#include "agent_turn.h"
#include "cluster.h"
#include "config.h"
#include "dedup.h"
#include "dispatch.h"
#include "jitter.h"
#include "job.h"
#include "job_steps.h"
#include "keyword.h"
#include "keyword_config.h"
#include "metrics.h"
#include "sms_rate.h"
#include "sms_rates.h"
#include "sms_send_queue.h"
#include "spool.h"

#define DISPATCH_TICK_S     0.25
#define DISPATCH_CAS_ROUNDS 5 /* read-decide-write rounds per attempt */
#define SUPERSEDED_REASON   "the sender opted out after this message: no reply"

enum job_finish {
        FINISH_NONE,
        FINISH_DONE,
        FINISH_SENT, /* spool_reply_sent_done() */
        FINISH_DEAD,
        FINISH_RETRY,
        FINISH_SUPERSEDED,
};

/* What a job counts against. */
enum job_slot {
        SLOT_ACTIVE,  /* working on a message that is not a keyword */
        SLOT_KEYWORD, /* working on a consent keyword */
        SLOT_WAITING, /* a reply in the send queue */
        _SLOT_MAX,
};

struct dispatch_job {
        struct job job; /* first: a struct job * is a struct dispatch_job * */
        enum job_slot slot;
        enum job_finish finish;
        int64_t finish_at;
        char finish_reason[JOB_DETAIL_MAX + 64];
        char finish_cause[32];
};

struct dispatch {
        struct job_env env;
        struct sms_rates *rates; /* the send queue's rates */
        struct job *jobs;
        unsigned n_jobs;
        unsigned slots[_SLOT_MAX];

        ev_timer tick;
        ev_timer kick;
        ev_timer stopped;
        bool stopping;
        dispatch_stopped_fn stopped_cb;
        void *stopped_userdata;
        uint64_t rng;
        const char *superseding; /* the sender, while supersede_earlier() runs */
};

static void dispatch_rows(struct dispatch *d);
static void job_next(struct job *j);

static struct dispatch *dispatch_of(struct job *j)
{
        return (struct dispatch *)j->env; /* env is the first member */
}

static struct dispatch_job *djob(struct job *j)
{
        return (struct dispatch_job *)j;
}

/* --- pure helpers ------------------------------------------------------------------ */

int64_t dispatch_retry_delay_ms(unsigned initial_ms, unsigned max_ms, unsigned attempts, double r)
{
        double d = initial_ms ? initial_ms : 1;

        for (unsigned i = 0; i < attempts && d < max_ms; i++)
                d *= 2;
        if (max_ms && d > max_ms)
                d = max_ms;
        if (!(r >= 0) || r >= 1)
                r = 0;
        d = d / 2 + d / 2 * r;
        return d < 1 ? 1 : (int64_t)d;
}

bool dispatch_within_max_age(int64_t received_at, int64_t at_ms, unsigned max_age_s)
{
        return at_ms <= received_at + (int64_t)max_age_s * 1000;
}

enum dispatch_action dispatch_decide(const struct dispatch_decision_in *in)
{
        const struct job_verdict *v = in->verdict;

        /* A cancel says what the outcome is, except that a reply that went out
         * (it was on the wire when the cancel came) is recorded as sent. */
        switch (in->cancel) {
        case JOB_CANCEL_SHUTDOWN:
                return DISPATCH_DROP;
        case JOB_CANCEL_SUPERSEDE:
                return in->sent ? DISPATCH_FINISH_DONE : DISPATCH_FINISH_SUPERSEDED;
        case JOB_CANCEL_STOP:
        case JOB_CANCEL_LEASE_LOST:
                return in->sent ? DISPATCH_FINISH_DONE : DISPATCH_FINISH_PENDING;
        case JOB_CANCEL_NONE:
                break;
        }
        switch (v->kind) {
        case JOB_DONE:
                return DISPATCH_NEXT;
        case JOB_DEAD:
                return DISPATCH_FINISH_DEAD;
        case JOB_SUPERSEDED:
                return DISPATCH_FINISH_SUPERSEDED;
        case JOB_CANCELLED:
                /* Nobody asked: treat as a failure worth another attempt. */
                return in->within_max_age ? DISPATCH_RETRY_LATER : DISPATCH_FINISH_DEAD;
        case JOB_RETRY:
        default:
                break;
        }
        if (v->cause == JOB_CAUSE_CONSENT_CONFLICT && in->rounds < DISPATCH_CAS_ROUNDS)
                return DISPATCH_AGAIN;
        /* Another instance has the sender (or had earlier messages of theirs):
         * waiting for it is no failure of this message, and it may not be
         * processed meanwhile, so neither max age nor the fallback applies. */
        if (v->cause == JOB_CAUSE_LEASE_HELD || v->cause == JOB_CAUSE_CLUSTER_ORDER)
                return DISPATCH_RETRY_LATER;
        /* AWS: retry a dependency failure at most once. */
        if (v->cause == JOB_CAUSE_AGENT_DEPENDENCY && in->last_cause == JOB_CAUSE_AGENT_DEPENDENCY)
                return DISPATCH_FALLBACK;
        if (!in->within_max_age)
                return in->step == JOB_STEP_AGENT ? DISPATCH_FALLBACK : DISPATCH_FINISH_DEAD;
        return DISPATCH_RETRY_LATER;
}

/* --- small helpers ----------------------------------------------------------------- */

static int64_t now_ms(struct dispatch *d)
{
        return (int64_t)(ev_now(d->env.loop) * 1000.);
}

static double random01(struct dispatch *d)
{
        return jitter_next(&d->rng);
}

static void count_outcome(struct dispatch *d, const char *outcome)
{
        (void)metrics_counter_inc(d->env.m.outcomes, METRICS_LABELS(outcome));
}

static void update_gauges(struct dispatch *d)
{
        (void)metrics_gauge_set(d->env.m.in_flight, METRICS_NO_LABELS, d->n_jobs);
        (void)metrics_gauge_set(d->env.m.send_waiting, METRICS_NO_LABELS, d->slots[SLOT_WAITING]);
}

static void register_metrics(struct dispatch *d)
{
        static const double latency_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
        struct job_metrics *m = &d->env.m;
        int r;

        r = metrics_counter_new("twowayd_pipeline_outcomes_total",
                                "Inbound messages finished by the pipeline, by outcome.",
                                METRICS_LABELS("outcome"), &m->outcomes);
        if (r >= 0)
                r = metrics_counter_new("twowayd_pipeline_blocked_total",
                                        "Conversational messages from opted-out numbers: no "
                                        "agent call, no reply.",
                                        METRICS_NO_LABELS, &m->blocked);
        if (r >= 0)
                r = metrics_counter_new("twowayd_replies_suppressed_total",
                                        "Replies dropped at the last check before "
                                        "SendTextMessage: the sender had opted out.",
                                        METRICS_NO_LABELS, &m->suppressed);
        if (r >= 0)
                r = metrics_counter_new("twowayd_pipeline_superseded_total",
                                        "Messages closed without a reply because their sender "
                                        "opted out afterwards.",
                                        METRICS_NO_LABELS, &m->superseded);
        if (r >= 0)
                r = metrics_histogram_new("twowayd_agent_call_seconds",
                                          "InvokeAgent call latency, by result.",
                                          METRICS_LABELS("result"), latency_bounds,
                                          ARRAY_SIZE(latency_bounds), &m->agent_latency);
        if (r >= 0)
                r = metrics_histogram_new("twowayd_sms_send_seconds",
                                          "SendTextMessage call latency, by result.",
                                          METRICS_LABELS("result"), latency_bounds,
                                          ARRAY_SIZE(latency_bounds), &m->sms_latency);
        if (r >= 0)
                r = metrics_gauge_new("twowayd_pipeline_in_flight",
                                      "Inbound messages being worked on now.", METRICS_NO_LABELS,
                                      &m->in_flight);
        if (r >= 0)
                r = metrics_gauge_new("twowayd_replies_waiting",
                                      "Replies waiting in the send queue for their slot.",
                                      METRICS_NO_LABELS, &m->send_waiting);
        if (r < 0)
                log_warning_errno(r, "pipeline.metrics_failed", LOG_NOFIELDS,
                                  "cannot register the pipeline metrics, ignoring: %m");
}

/* Build what depends on the config; on failure nothing changes. */
static int build_rules(const struct config *c, struct keyword_rules **ret_rules,
                       struct business_days_holidays *ret_holidays)
{
        struct keyword_rules *rules = NULL;
        struct business_days_holidays h = {0};
        int r;

        r = keyword_config_rules(c, &rules);
        if (r >= 0 && c->n_consent_holidays > 0)
                r = business_days_holidays_parse((const char *const *)c->consent_holidays,
                                                 c->n_consent_holidays, &h);
        if (r < 0) {
                keyword_rules_free(rules);
                return r;
        }
        *ret_rules = rules;
        *ret_holidays = h;
        return 0;
}

/* --- the job list and its slots ------------------------------------------------------ */

static enum job_slot slot_of(const struct job *j)
{
        if (j->step == JOB_STEP_SEND)
                return SLOT_WAITING;
        return job_is_keyword(j) ? SLOT_KEYWORD : SLOT_ACTIVE;
}

/* Enter step: keep the slot counts right, then start it. */
static void job_run(struct job *j, void (*step)(struct job *), enum job_step which)
{
        struct dispatch *d = dispatch_of(j);
        struct dispatch_job *dj = djob(j);
        enum job_slot slot;

        j->step = which;
        slot = slot_of(j);
        if (slot != dj->slot) {
                d->slots[dj->slot]--;
                d->slots[slot]++;
                dj->slot = slot;
                update_gauges(d);
                if (slot == SLOT_WAITING)
                        /* A dispatch slot is free while the reply waits. */
                        dispatch_kick(d);
        }
        step(j);
}

static void check_stopped(struct dispatch *d)
{
        if (d->stopping && d->stopped_cb && d->n_jobs == 0 && !ev_is_active(&d->stopped))
                ev_timer_start(d->env.loop, &d->stopped);
}

static void job_link(struct dispatch *d, struct job *j)
{
        j->next = d->jobs;
        if (d->jobs)
                d->jobs->prev = j;
        d->jobs = j;
        d->n_jobs++;
        djob(j)->slot = slot_of(j);
        d->slots[djob(j)->slot]++;
}

static void job_unlink(struct dispatch *d, struct job *j)
{
        if (j->prev)
                j->prev->next = j->next;
        else
                d->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        j->prev = j->next = NULL;
        d->n_jobs--;
        d->slots[djob(j)->slot]--;
}

static void job_end(struct job *j)
{
        struct dispatch *d = dispatch_of(j);

        job_unlink(d, j);
        job_free(j);
        update_gauges(d);
        check_stopped(d);
        /* A slot is free, and the sender's next message may be ready. */
        dispatch_kick(d);
}

/* --- finishing ---------------------------------------------------------------------- */

/* Apply the pending spool transition. 0: the job is over; -EAGAIN: the spool
 * failed and the tick will try again. */
static int job_apply_finish(struct job *j)
{
        struct dispatch *d = dispatch_of(j);
        struct dispatch_job *dj = djob(j);
        struct spool *s = d->env.spool;
        int64_t id = j->row->id;
        int r = 0;

        switch (dj->finish) {
        case FINISH_SENT:
                /* Both marks in one commit; apart only when the row is not as
                 * this job left it (twowayctl changed it meanwhile). */
                r = spool_reply_sent_done(s, id, j->message_id ? j->message_id : "");
                if (r != -ESTALE)
                        break;
                r = spool_reply_sent(s, id, j->message_id ? j->message_id : "");
                if (r < 0 && r != -ESTALE && r != -ENOENT)
                        break;
                if (r < 0)
                        log_warning_errno(r, "pipeline.reply_record_failed",
                                          LOG_FIELDS(JOB_FIELDS(j)),
                                          "cannot record the reply as sent, ignoring: %m");
                dj->finish = FINISH_DONE;
                /* FALLTHROUGH */
        case FINISH_DONE:
                r = spool_done(s, id);
                break;
        case FINISH_DEAD:
                r = spool_dead(s, id, dj->finish_reason);
                break;
        case FINISH_SUPERSEDED:
                r = spool_supersede(s, id, dj->finish_reason);
                break;
        case FINISH_RETRY:
                r = spool_retry_cause(s, id, dj->finish_at,
                                      isempty(dj->finish_cause) ? NULL : dj->finish_cause,
                                      dj->finish_reason);
                break;
        case FINISH_NONE:
                return 0;
        }
        if (r == -ESTALE || r == -ENOENT) {
                /* Changed or purged meanwhile (twowayctl): nothing left to do. */
                log_warning_errno(r, "pipeline.row_changed", LOG_FIELDS(JOB_FIELDS(j)),
                                  "row %s changed under the dispatcher, ignoring: %m", j->spool_id);
                return 0;
        }
        if (r < 0) {
                log_warning_errno(r, "pipeline.spool_failed", LOG_FIELDS(JOB_FIELDS(j)),
                                  "cannot update row %s in the spool, will retry: %m", j->spool_id);
                return -EAGAIN;
        }
        return 0;
}

/* [cluster]: the record of a row that ends is finished, claimed by this job
 * or not (then the lease is dropped), unless another instance ended it; a
 * row that goes back to pending only drops the lease, and its record stays
 * open, ours until a newer fence claims it. Rows superseded while they wait
 * have no job: supersede_earlier() finishes theirs. */
static void cluster_job_end(struct job *j, enum job_finish how, const char *reason)
{
        struct cluster *cl = j->env->cluster;
        const char *state = NULL;

        if (!cl)
                return;
        switch (how) {
        case FINISH_DONE:
        case FINISH_SENT:
                state = "done";
                break;
        case FINISH_DEAD:
                state = "dead";
                break;
        case FINISH_SUPERSEDED:
                state = "superseded";
                break;
        default:
                break;
        }
        if (state && isempty(j->handled_by))
                cluster_finish(cl, j->row, j->claimed ? j->fence : 0, j->leased ? j->fence : 0,
                               state,
                               how == FINISH_SENT ? "sent"
                               : isempty(reason)  ? state
                                                  : reason);
        else if (j->leased)
                cluster_lease_drop(cl, j->row->origination_number,
                                   cluster_lane_of(j->row->keyword_class), j->fence);
        j->claimed = j->leased = false;
}

static void job_finish(struct job *j, enum job_finish how, const char *reason)
{
        struct dispatch *d = dispatch_of(j);
        struct dispatch_job *dj = djob(j);

        cluster_job_end(j, how, reason);

        dj->finish = how;
        (void)snprintf(dj->finish_reason, sizeof(dj->finish_reason), "%s", reason ? reason : "");
        switch (how) {
        case FINISH_DONE:
        case FINISH_SENT:
                d->env.stats.done++;
                break;
        case FINISH_DEAD:
                d->env.stats.dead++;
                count_outcome(d, "dead");
                break;
        case FINISH_SUPERSEDED:
                d->env.stats.superseded++;
                count_outcome(d, "superseded");
                (void)metrics_counter_inc(d->env.m.superseded, METRICS_NO_LABELS);
                break;
        case FINISH_RETRY:
                d->env.stats.retried++;
                count_outcome(d, "retried");
                break;
        case FINISH_NONE:
                break;
        }
        if (job_apply_finish(j) == 0)
                job_end(j);
}

const char *dispatch_dead_reason(const struct job_verdict *v, char *buf, size_t size)
{
        if (!isempty(v->detail))
                return v->detail;
        (void)snprintf(buf, size, "%s (%s) without a detail", job_verdict_to_string(v->kind),
                       job_cause_to_string(v->cause));
        return buf;
}

static void job_dead(struct job *j, const char *reason)
{
        log_warning("pipeline.dead", LOG_FIELDS(JOB_FIELDS(j), LF("REASON", reason)),
                    "message %s given up: %s", j->spool_id, reason);
        job_finish(j, FINISH_DEAD, reason);
}

static void job_superseded(struct job *j, const struct job_verdict *v)
{
        const char *reason =
                isempty(v->detail) || v->kind != JOB_SUPERSEDED ? SUPERSEDED_REASON : v->detail;

        if (v->kind == JOB_SUPERSEDED && v->cause == JOB_CAUSE_SUPPRESSED) {
                struct dispatch *d = dispatch_of(j);

                d->env.stats.suppressed++;
                (void)metrics_counter_inc(d->env.m.suppressed, METRICS_NO_LABELS);
                log_notice(
                        "reply.suppressed",
                        LOG_FIELDS(JOB_FIELDS(j), LF("REPLY_KIND", job_reply_to_string(j->reply))),
                        "%s has opted out: the %s reply to message %s is not sent", j->phone,
                        job_reply_to_string(j->reply), j->spool_id);
        }
        log_info("pipeline.superseded", LOG_FIELDS(JOB_FIELDS(j), LF("REASON", reason)),
                 "message %s closed without a reply: %s", j->spool_id, reason);
        job_finish(j, FINISH_SUPERSEDED, reason);
}

static void job_retry_later(struct job *j, const struct job_verdict *v, int64_t at)
{
        struct dispatch_job *dj = djob(j);
        char ms[24];

        (void)snprintf(ms, sizeof(ms), "%lld", (long long)(at - now_ms(dispatch_of(j))));
        log_warning("pipeline.retry",
                    LOG_FIELDS(JOB_FIELDS(j), LF("ERROR", v->detail), LF("RETRY_IN_MS", ms),
                               LF("CAUSE", job_cause_to_string(v->cause))),
                    "message %s failed: %s, will retry in %s ms", j->spool_id, v->detail, ms);
        dj->finish_at = at;
        (void)snprintf(dj->finish_cause, sizeof(dj->finish_cause), "%s",
                       job_cause_to_string(v->cause));
        job_finish(j, FINISH_RETRY, v->detail);
}

static void job_past_max_age(struct job *j, const struct job_verdict *v)
{
        struct dispatch *d = dispatch_of(j);
        char buf[JOB_DETAIL_MAX + 64];

        /* An opt-out that could not be recorded is a compliance matter: say so
         * loudly, whatever the consent state would have been. */
        if ((j->step == JOB_STEP_CONSENT_READ || j->step == JOB_STEP_CONSENT_WRITE ||
             j->step == JOB_STEP_CLAIM) &&
            (j->row->keyword_class == SPOOL_CLASS_OPT_OUT ||
             keyword_classify(d->env.rules, j->row->body, true, NULL) == KEYWORD_OPT_OUT))
                log_error("consent.opt_out_not_recorded",
                          LOG_FIELDS(JOB_FIELDS(j), LF("ERROR", v->detail)),
                          "an opt-out from %s could not be recorded before the maximum age: %s",
                          j->phone, v->detail);
        (void)snprintf(buf, sizeof(buf), "max age exceeded: %s", v->detail);
        job_dead(j, buf);
}

/* --- superseding ------------------------------------------------------------------------ */

static bool row_before(const struct spool_row *a, const struct spool_row *b)
{
        return a->received_at < b->received_at ||
               (a->received_at == b->received_at && a->id < b->id);
}

/* [cluster]: a row superseded while it waited has its record finished too. */
static void record_superseded(int64_t received_at, const char *inbound_message_id, void *userdata)
{
        struct dispatch *d = userdata;

        cluster_finish(d->env.cluster,
                       &(struct spool_row){
                               .origination_number = d->superseding,
                               .received_at = received_at,
                               .inbound_message_id = inbound_message_id,
                               .keyword_class = SPOOL_CLASS_OTHER,
                       },
                       0, 0, "superseded", SUPERSEDED_REASON);
}

/*
 * The sender of opt_out has opted out (its opt-out is stored, or recorded):
 * close every earlier unfinished message of theirs that is not a keyword.
 * Pending rows are superseded in the spool at once; jobs have their work
 * cancelled and are superseded when it answers. A job between steps (none
 * is: steps start at once) or whose reply is on the wire is left to finish.
 */
static void supersede_earlier(struct dispatch *d, const struct job *opt_out)
{
        const struct spool_row *stop = opt_out->row;
        int r;

        d->superseding = stop->origination_number;
        r = spool_supersede_earlier(d->env.spool, stop->origination_number, stop->received_at,
                                    stop->id, SUPERSEDED_REASON,
                                    d->env.cluster ? record_superseded : NULL, d);
        d->superseding = NULL;
        if (r > 0) {
                char n[16];

                (void)snprintf(n, sizeof(n), "%d", r);
                d->env.stats.superseded += (uint64_t)r;
                (void)metrics_counter_add(d->env.m.superseded, METRICS_NO_LABELS, r);
                log_info("pipeline.superseded",
                         LOG_FIELDS(JOB_FIELDS(opt_out), LF("SUPERSEDED", n)),
                         "%s opted out: %s earlier waiting message(s) closed without a reply",
                         opt_out->phone, n);
        } else if (r < 0)
                log_warning_errno(r, "pipeline.spool_failed", LOG_FIELDS(JOB_FIELDS(opt_out)),
                                  "cannot supersede the earlier messages of %s, ignoring (each "
                                  "is checked again before its reply): %m",
                                  opt_out->phone);

        for (struct job *j = d->jobs; j; j = j->next)
                if (j != opt_out && !job_is_keyword(j) &&
                    streq(j->row->origination_number, stop->origination_number) &&
                    row_before(j->row, stop) && job_cancel(j, JOB_CANCEL_SUPERSEDE))
                        log_info("pipeline.superseding",
                                 LOG_FIELDS(JOB_FIELDS(j), LF("STEP", job_step_to_string(j->step))),
                                 "%s opted out: cancelling the work on message %s (%s)", j->phone,
                                 j->spool_id, job_step_to_string(j->step));
}

/* --- the driver --------------------------------------------------------------------------- */

static void job_reply(struct job *j, enum job_reply reply)
{
        j->reply = reply;
        job_run(j, job_shape, JOB_STEP_SHAPE);
}

static void job_fallback(struct job *j, const struct job_verdict *v)
{
        if (v && v->kind == JOB_RETRY)
                log_notice("pipeline.max_age", LOG_FIELDS(JOB_FIELDS(j), LF("ERROR", v->detail)),
                           "message %s cannot wait for the agent again (%s), sending the "
                           "fallback reply",
                           j->spool_id, v->detail);
        job_reply(j, JOB_REPLY_FALLBACK);
}

/* After the consent decision: what the action asks for. */
static void job_after_decision(struct job *j)
{
        switch (j->action) {
        case CONSENT_ACTION_AGENT:
                if (j->stale) {
                        log_notice("pipeline.max_age", LOG_FIELDS(JOB_FIELDS(j)),
                                   "message %s is older than the maximum age, sending the "
                                   "fallback reply instead of asking the agent",
                                   j->spool_id);
                        job_reply(j, JOB_REPLY_FALLBACK);
                } else
                        job_run(j, job_agent, JOB_STEP_AGENT);
                return;
        case CONSENT_ACTION_OPT_OUT:
        case CONSENT_ACTION_OPT_IN:
                job_run(j, job_consent_write, JOB_STEP_CONSENT_WRITE);
                return;
        case CONSENT_ACTION_CONFIRM_OPT_OUT:
                job_run(j, job_end_session, JOB_STEP_END_SESSION);
                return;
        case CONSENT_ACTION_CONFIRM_OPT_IN:
                job_reply(j, JOB_REPLY_OPT_IN);
                return;
        case CONSENT_ACTION_HELP:
                job_reply(j, JOB_REPLY_HELP);
                return;
        default:
                job_dead(j, "internal error: unknown consent action");
                return;
        }
}

/* A step ended with DONE: start the next one, or finish. */
static void job_next(struct job *j)
{
        if (j->complete) {
                job_finish(j, j->message_id ? FINISH_SENT : FINISH_DONE, NULL);
                return;
        }
        switch (j->step) {
        case JOB_STEP_CLAIM:
                job_run(j, job_consent_read, JOB_STEP_CONSENT_READ);
                return;
        case JOB_STEP_CONSENT_READ:
                job_after_decision(j);
                return;
        case JOB_STEP_CONSENT_WRITE:
                if (j->action == CONSENT_ACTION_OPT_OUT) {
                        /* Recorded: whatever of theirs is still running is
                         * superseded, and their agent session ends before the
                         * confirmation (the job holds the sender meanwhile, so
                         * no later message of theirs reaches the agent first). */
                        supersede_earlier(dispatch_of(j), j);
                        job_run(j, job_end_session, JOB_STEP_END_SESSION);
                } else
                        job_reply(j, JOB_REPLY_OPT_IN);
                return;
        case JOB_STEP_AGENT:
                job_run(j, job_shape, JOB_STEP_SHAPE);
                return;
        case JOB_STEP_END_SESSION:
                job_reply(j, JOB_REPLY_OPT_OUT);
                return;
        case JOB_STEP_SHAPE:
                job_run(j, job_send, JOB_STEP_SEND);
                return;
        case JOB_STEP_SEND:
                if (j->opted_out_aws) {
                        job_run(j, job_record_opt_out, JOB_STEP_RECORD_OPT_OUT);
                        return;
                }
                job_finish(j, FINISH_SENT, NULL);
                return;
        case JOB_STEP_RECORD_OPT_OUT:
        default:
                job_finish(j, FINISH_DONE, NULL);
                return;
        }
}

/* The driver (job.h, THE DRIVER): job_step_done() hands every verdict of a
 * job that is not orphaned here, its work already cleared. */
static void job_drive(struct job *j, const struct job_verdict *v)
{
        struct dispatch *d = dispatch_of(j);
        struct dispatch_decision_in in;
        char reason[JOB_DETAIL_MAX];
        int64_t at = 0;

        if (v->kind == JOB_RETRY && v->cause == JOB_CAUSE_LEASE_HELD && d->env.cluster)
                /* Ask again about when a renewal would come: lease_seconds/5, jittered. */
                at = now_ms(d) + (int64_t)(cluster_params(d->env.cluster)->lease_seconds * 200. *
                                           (0.5 + random01(d)));
        else if (v->kind == JOB_RETRY && v->cause == JOB_CAUSE_CLUSTER_ORDER)
                at = now_ms(d) + 1;
        else if (v->kind == JOB_RETRY)
                at = now_ms(d) + dispatch_retry_delay_ms(d->env.config->dispatch_retry_initial_ms,
                                                         d->env.config->dispatch_retry_max_ms,
                                                         j->row->attempts, random01(d));
        if (v->kind == JOB_RETRY && v->cause == JOB_CAUSE_CONSENT_CONFLICT)
                j->rounds++;
        in = (struct dispatch_decision_in){
                .step = j->step,
                .verdict = v,
                .cancel = j->cancel,
                .last_cause = job_cause_from_string(j->row->retry_cause),
                .rounds = j->rounds,
                .within_max_age = dispatch_within_max_age(j->row->received_at, at ? at : now_ms(d),
                                                          d->env.config->dispatch_max_age_s),
                .sent = j->message_id != NULL,
        };

        switch (dispatch_decide(&in)) {
        case DISPATCH_NEXT:
                job_next(j);
                return;
        case DISPATCH_AGAIN:
                job_run(j, job_consent_read, JOB_STEP_CONSENT_READ);
                return;
        case DISPATCH_RETRY_LATER:
                job_retry_later(j, v, at ? at : now_ms(d) + 1);
                return;
        case DISPATCH_FALLBACK:
                job_fallback(j, v);
                return;
        case DISPATCH_FINISH_DONE:
                job_finish(j, j->message_id ? FINISH_SENT : FINISH_DONE, NULL);
                return;
        case DISPATCH_FINISH_DEAD:
                if (v->kind == JOB_RETRY || v->kind == JOB_CANCELLED)
                        job_past_max_age(j, v);
                else {
                        if (v->cause == JOB_CAUSE_REPLY_UNKNOWN) {
                                d->env.stats.reply_unknown++;
                                count_outcome(d, "reply_unknown");
                                log_warning("pipeline.reply_unknown",
                                            LOG_FIELDS(JOB_FIELDS(j), LF("ERROR", v->detail)),
                                            "reply state unknown for message %s: it may have "
                                            "been sent, so it is not sent again",
                                            j->spool_id);
                        }
                        job_dead(j, dispatch_dead_reason(v, reason, sizeof(reason)));
                }
                return;
        case DISPATCH_FINISH_SUPERSEDED:
                job_superseded(j, v);
                return;
        case DISPATCH_FINISH_PENDING:
                (void)snprintf(djob(j)->finish_cause, sizeof(djob(j)->finish_cause), "%s",
                               job_cause_to_string(JOB_CAUSE_NONE));
                djob(j)->finish_at = now_ms(d);
                job_finish(j, FINISH_RETRY,
                           j->cancel == JOB_CANCEL_LEASE_LOST
                                   ? "the sender's lease went to another instance"
                                   : "stopped before the reply was sent");
                return;
        case DISPATCH_DROP:
        default:
                /* The row stays in progress; spool_open() puts it back at the next start. */
                job_unlink(d, j);
                job_free(j);
                update_gauges(d);
                check_stopped(d);
                return;
        }
}

/* --- claiming ------------------------------------------------------------------------------ */

static void job_start(struct dispatch *d, struct spool_row *row)
{
        struct dispatch_job *dj;
        struct job *j;
        char body[LOG_TEXT_MAX];

        dj = calloc(1, sizeof(*dj));
        if (!dj) {
                /* Put it back so it is not stuck in progress. */
                (void)spool_retry(d->env.spool, row->id, now_ms(d) + 1000, "out of memory");
                spool_row_free(row);
                return;
        }
        j = &dj->job;
        j->env = &d->env;
        j->row = row;
        (void)log_phone(j->phone, sizeof(j->phone), row->origination_number);
        (void)snprintf(j->spool_id, sizeof(j->spool_id), "%lld", (long long)row->id);
        (void)snprintf(j->attempt, sizeof(j->attempt), "%u", row->attempts + 1);
        j->step = JOB_STEP_CLAIM;
        job_link(d, j);
        d->env.stats.claimed++;
        update_gauges(d);

        log_info("pipeline.received",
                 LOG_FIELDS(JOB_FIELDS(j), LF("BODY", log_text(body, sizeof(body), row->body)),
                            LF("KEYWORD_CLASS", spool_class_to_string(row->keyword_class))),
                 "message %s from %s (attempt %s)", j->spool_id, j->phone, j->attempt);

        switch (row->reply_state) {
        case SPOOL_REPLY_SENT:
                log_info("pipeline.already_replied",
                         LOG_FIELDS(JOB_FIELDS(j), LF("SMS_MESSAGE_ID", row->reply_message_id)),
                         "message %s was already answered", j->spool_id);
                job_finish(j, FINISH_DONE, NULL);
                return;
        case SPOOL_REPLY_SENDING:
        case SPOOL_REPLY_UNKNOWN:
                d->env.stats.reply_unknown++;
                count_outcome(d, "reply_unknown");
                log_warning("pipeline.reply_unknown", LOG_FIELDS(JOB_FIELDS(j)),
                            "reply state unknown for message %s: the reply may have been sent "
                            "before a restart, so it is not sent again",
                            j->spool_id);
                job_dead(j, "reply state unknown: not sent again");
                return;
        default:
                break;
        }
        /* A stored opt-out supersedes its sender's earlier messages before it
         * is even processed: nothing of theirs may go out after it. */
        if (row->keyword_class == SPOOL_CLASS_OPT_OUT)
                supersede_earlier(d, j);
        j->stale = !dispatch_within_max_age(row->received_at, now_ms(d),
                                            d->env.config->dispatch_max_age_s);
        if (d->env.cluster)
                job_run(j, job_cluster_claim, JOB_STEP_CLAIM);
        else if (d->env.config->dedup_table)
                job_run(j, job_claim, JOB_STEP_CLAIM);
        else
                job_run(j, job_consent_read, JOB_STEP_CONSENT_READ);
}

/* Try again the spool transitions that failed. */
static void retry_finishes(struct dispatch *d)
{
        struct job *j = d->jobs, *next;

        for (; j; j = next) {
                next = j->next;
                if (djob(j)->finish != FINISH_NONE && job_apply_finish(j) == 0)
                        job_end(j);
        }
}

/* Claim and start up to max ready rows (keywords only, or any). */
static void claim_rows(struct dispatch *d, bool keywords, unsigned max)
{
        struct spool_row **rows = NULL;
        int n, r;

        if (max == 0)
                return;
        n = keywords ? spool_next_ready_keywords(d->env.spool, now_ms(d), MIN(max, SPOOL_ROWS_MAX),
                                                 &rows)
                     : spool_next_ready(d->env.spool, now_ms(d), MIN(max, SPOOL_ROWS_MAX), &rows);
        if (n < 0) {
                log_warning_errno(n, "pipeline.spool_failed", LOG_NOFIELDS,
                                  "cannot read ready messages from the spool, will retry: %m");
                return;
        }
        for (size_t i = 0; rows[i]; i++) {
                struct spool_row *row = rows[i];
                bool keyword = row->keyword_class != SPOOL_CLASS_OTHER;
                unsigned limit = d->env.config->dispatch_concurrency;

                if (d->stopping || d->slots[keyword ? SLOT_KEYWORD : SLOT_ACTIVE] >= limit) {
                        spool_row_free(row);
                        continue;
                }
                r = spool_claim(d->env.spool, row->id);
                if (r < 0) {
                        if (r != -EBUSY && r != -ESTALE && r != -ENOENT)
                                log_warning_errno(r, "pipeline.spool_failed", LOG_NOFIELDS,
                                                  "cannot claim message %lld, will retry: %m",
                                                  (long long)row->id);
                        spool_row_free(row);
                        continue;
                }
                job_start(d, row);
        }
        free(rows);
}

static void dispatch_rows(struct dispatch *d)
{
        unsigned limit = d->env.config->dispatch_concurrency;

        if (d->stopping)
                return;
        if (d->slots[SLOT_KEYWORD] < limit)
                claim_rows(d, true, limit - d->slots[SLOT_KEYWORD]);
        if (d->slots[SLOT_ACTIVE] < limit &&
            d->slots[SLOT_WAITING] < (uint64_t)limit * DISPATCH_WAITING_MAX)
                claim_rows(d, false, limit - d->slots[SLOT_ACTIVE]);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct dispatch *d = w->data;

        retry_finishes(d);
        dispatch_rows(d);
}

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        dispatch_rows(w->data);
}

static void stopped_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct dispatch *d = w->data;
        dispatch_stopped_fn cb = d->stopped_cb;

        if (!cb || d->n_jobs > 0)
                return;
        d->stopped_cb = NULL;
        cb(d, d->stopped_userdata);
}

/* --- API ------------------------------------------------------------------------------------ */

int dispatch_new(struct ev_loop *loop, const struct config *config, struct spool *spool,
                 struct aws_client *aws, struct dispatch **ret)
{
        struct dispatch *d;
        int r;

        if (!loop || !config || !spool || !aws || !ret)
                return -EINVAL;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->env.loop = loop;
        d->env.config = config;
        d->env.spool = spool;
        d->env.aws = aws;
        d->env.drive = job_drive;
        r = build_rules(config, &d->env.rules, &d->env.holidays);
        if (r < 0) {
                free(d);
                return log_error_errno(r, "pipeline.rules_failed", LOG_NOFIELDS,
                                       "cannot build the keyword rules: %m");
        }
        r = sms_send_queue_new(loop, aws, SMS_RATE_CONSERVATIVE, &d->env.sendq);
        if (r >= 0) {
                r = sms_rates_new(aws, d->env.sendq, config, &d->rates);
                if (r < 0)
                        d->env.sendq = sms_send_queue_free(d->env.sendq);
        }
        if (r < 0) {
                keyword_rules_free(d->env.rules);
                business_days_holidays_done(&d->env.holidays);
                free(d);
                return r;
        }
        d->rng = jitter_seed(d);
        register_metrics(d);
        r = agent_turns_new(loop, aws, &d->env.turns);
        if (r < 0) {
                sms_send_queue_free(d->env.sendq);
                keyword_rules_free(d->env.rules);
                business_days_holidays_done(&d->env.holidays);
                free(d);
                return r;
        }
        if (dedup_instance_name(config->spool_dir, d->env.instance, sizeof(d->env.instance)) < 0)
                (void)snprintf(d->env.instance, sizeof(d->env.instance), "pid-%d", (int)getpid());

        ev_timer_init(&d->tick, tick_cb, DISPATCH_TICK_S, DISPATCH_TICK_S);
        d->tick.data = d;
        ev_timer_start(loop, &d->tick);
        ev_timer_init(&d->kick, kick_cb, 0., 0.);
        d->kick.data = d;
        ev_timer_init(&d->stopped, stopped_cb, 0., 0.);
        d->stopped.data = d;
        /* Rows stored before a restart wait for no new message. */
        ev_timer_start(loop, &d->kick);
        log_info("pipeline.started",
                 LOG_FIELDS(LF("AGENT_ID", config->agent_id),
                            LF("CONSENT_TABLE", config->consent_table)),
                 "dispatcher started (concurrency %u)", config->dispatch_concurrency);
        *ret = d;
        return 0;
}

struct dispatch *dispatch_free(struct dispatch *d)
{
        if (!d)
                return NULL;
        ev_timer_stop(d->env.loop, &d->tick);
        ev_timer_stop(d->env.loop, &d->kick);
        ev_timer_stop(d->env.loop, &d->stopped);
        cluster_set_lease_lost(d->env.cluster, NULL, NULL);
        while (d->jobs) {
                struct job *j = d->jobs;

                job_unlink(d, j);
                /* Rows stay in progress; spool_open() puts them back at the next start. */
                if (job_cancel(j, JOB_CANCEL_SHUTDOWN))
                        j->env = NULL; /* its step's callback frees it */
                else
                        job_free(j);
        }
        sms_rates_free(d->rates);
        /* Completes the replies that were waiting (their jobs are orphaned). */
        sms_send_queue_free(d->env.sendq);
        agent_turns_free(d->env.turns);
        keyword_rules_free(d->env.rules);
        business_days_holidays_done(&d->env.holidays);
        free(d);
        return NULL;
}

/* A lease of this instance went elsewhere: whatever of that sender and lane
 * has not committed its reply stops and goes back to pending. */
static void lease_lost_cb(const char *sender, enum cluster_lane lane, void *userdata)
{
        struct dispatch *d = userdata;

        for (struct job *j = d->jobs; j; j = j->next) {
                if (!streq(j->row->origination_number, sender) ||
                    cluster_lane_of(j->row->keyword_class) != lane)
                        continue;
                j->leased = false; /* nothing left to drop */
                if (!j->send_committed)
                        (void)job_cancel(j, JOB_CANCEL_LEASE_LOST);
        }
}

/* [cluster]: the rows the spool's recovery closed at start (interrupted too
 * often) have no job, so their records are finished here, unclaimed, as a
 * row ended at start by its reply state has its record finished by its job:
 * no sweep may take one over and replay the crash on another instance. */
static void finish_recovered_dead(struct dispatch *d)
{
        const int64_t *ids;
        size_t n = spool_recovered_dead(d->env.spool, &ids);

        for (size_t i = 0; i < n; i++) {
                struct spool_row *row = NULL;

                if (spool_get(d->env.spool, ids[i], &row) < 0)
                        continue;
                /* Unless an operator tried it again meanwhile. */
                if (row->state == SPOOL_STATE_DEAD && row->inbound_message_id)
                        cluster_finish(d->env.cluster, row, 0, 0, "dead", row->last_error);
                spool_row_free(row);
        }
}

void dispatch_set_cluster(struct dispatch *d, struct cluster *cl)
{
        if (!d)
                return;
        d->env.cluster = cl;
        cluster_set_lease_lost(cl, lease_lost_cb, d);
        if (cl)
                finish_recovered_dead(d);
}

void dispatch_kick(struct dispatch *d)
{
        if (!d || d->stopping || ev_is_active(&d->kick))
                return;
        ev_timer_set(&d->kick, 0., 0.);
        ev_timer_start(d->env.loop, &d->kick);
}

void dispatch_set_config(struct dispatch *d, const struct config *config)
{
        struct keyword_rules *rules;
        struct business_days_holidays holidays;
        int r;

        if (!d || !config)
                return;
        r = build_rules(config, &rules, &holidays);
        if (r < 0)
                log_warning_errno(r, "pipeline.rules_failed", LOG_NOFIELDS,
                                  "cannot build the new keyword rules, keeping the old ones: %m");
        else {
                keyword_rules_free(d->env.rules);
                business_days_holidays_done(&d->env.holidays);
                d->env.rules = rules;
                d->env.holidays = holidays;
        }
        sms_rates_set_config(d->rates, config);
        cluster_set_limits(d->env.cluster, config->dispatch_max_age_s,
                           config->cluster_record_ttl_days);
        /* Jobs read the config at each step and copy what outlives a step. */
        d->env.config = config;
        dispatch_kick(d);
}

void dispatch_stop(struct dispatch *d, dispatch_stopped_fn done, void *userdata)
{
        if (!d)
                return;
        d->stopping = true;
        d->stopped_cb = done;
        d->stopped_userdata = userdata;
        ev_timer_stop(d->env.loop, &d->kick);
        /* Replies still waiting for their slot have sent nothing: give them back
         * now rather than hold the shutdown for the pacing. One whose 'sending'
         * is committed may go any moment: it is left to finish. */
        for (struct job *j = d->jobs; j; j = j->next)
                if (j->step == JOB_STEP_SEND && !j->send_committed)
                        (void)job_cancel(j, JOB_CANCEL_STOP);
        check_stopped(d);
}
