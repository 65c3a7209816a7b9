/*
 * pipeline.c — the dispatcher over the spool and the state machine of a row.
 *
 * DISPATCH. A tick (PIPELINE_TICK_S, and at once after pipeline_kick() or
 * when a row finishes) asks the spool for ready rows — oldest first, at most
 * one per sender, none for a sender with a row in progress — up to the free
 * slots of [dispatch] concurrency, claims each (pending -> in_progress) and
 * starts a job. Nothing here blocks but the spool's own short commits.
 *
 * A JOB (one row):
 *
 *   claim ──► reply_state sent? ─► done      sending/unknown? ─► dead, not resent
 *     │
 *     ▼
 *   CONSENT_READ (GetItem, consistent) ──fail──► retry (fail closed: nothing sent)
 *     │ classify the body under the state read (keyword.h), consent_decide()
 *     ├─ BLOCK / IGNORE ─────────────────────────────────────────────► done
 *     ├─ OPT_OUT / OPT_IN ─► CONSENT_WRITE (compare and swap) ─stale─► re-read
 *     │                          │ ok (an opt-out first ends the agent session)
 *     ├─ CONFIRM_* / HELP ───────┴──────────────────────► REPLY (config text)
 *     └─ AGENT ─► InvokeAgent ─answer─► REPLY (the answer, shaped)
 *                     │ retryable ─► retry (or the fallback past max age)
 *                     └ permanent ─► REPLY ([agent] fallback_reply)
 *         at most once (agent.h, AGENT TURNS): once an answer stream began,
 *         or after two calls without one, REPLY (the fallback), no new call;
 *         returnControl ─► [agent] return_control_url ─► InvokeAgent again
 *
 *   REPLY: REPLY_WAIT (the identity's token bucket) ─► spool_reply_sending()
 *          committed ─► REPLY_SEND (one SendTextMessage attempt) ─► sent:
 *          spool_reply_sent(MessageId), done. Refused for sure (throttling,
 *          service error): REPLY_BACKOFF, then again, a bounded number of
 *          times, in memory (the spool refuses a second 'sending'). May have
 *          been sent (timeout, connection lost): dead, never resent. The
 *          destination opted out at AWS: the opt-out is recorded (method
 *          "aws"), done.
 *
 * Retries go through the spool (spool_retry() with next_attempt_at), so a
 * restart resumes them; a retry that would land past [dispatch] max_age ends
 * the row instead: with the fallback reply when the agent was the problem
 * (consent is known then), dead otherwise.
 *
 * A spool transition that fails (disk trouble) leaves the job in FINISH and
 * the tick tries the transition again; the row stays in_progress meanwhile, so
 * its sender waits.
 *
 * Teardown: pipeline_free() orphans jobs with a call outstanding (job->p =
 * NULL) and cancels the call; the call's callback frees the job. The AWS
 * client outlives the pipeline and completes every call.
 */
#include <math.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include <ev.h>

#include "agent.h"
#include "agent_turn.h"
#include "aws.h"
#include "business_days.h"
#include "common.h"
#include "config.h"
#include "consent.h"
#include "dedup.h"
#include "keyword.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "reply.h"
#include "sms_text.h"
#include "spool.h"

#define PIPELINE_TICK_S           0.25
#define PIPELINE_CAS_ROUNDS       5 /* read-decide-write rounds per attempt */
#define PIPELINE_SEND_ATTEMPTS    6 /* SendTextMessage attempts of one reply */
#define PIPELINE_RECORD_ATTEMPTS  3 /* recording an AWS-side opt-out */
#define PIPELINE_SEND_BASE_MS     200
#define PIPELINE_SEND_THROTTLE_MS 1000
#define PIPELINE_SEND_CAP_MS      5000
#define PIPELINE_ERROR_MAX        512
#define PIPELINE_RETURNS_MAX      3 /* returnControl rounds of one message */

enum job_stage {
        JOB_CLAIM,
        JOB_CONSENT_READ,
        JOB_CONSENT_WRITE,
        JOB_AGENT,
        JOB_REPLY_WAIT,
        JOB_REPLY_SEND,
        JOB_REPLY_BACKOFF,
        JOB_OPTOUT_READ,
        JOB_OPTOUT_WRITE,
        JOB_FINISH,
};

/* What a reply is. */
enum reply_kind {
        REPLY_ANSWER,
        REPLY_OPT_OUT,
        REPLY_OPT_IN,
        REPLY_HELP,
        REPLY_FALLBACK,
        _REPLY_KIND_MAX,
};

static const char *const reply_kind_names[_REPLY_KIND_MAX] = {
        [REPLY_ANSWER] = "answer", [REPLY_OPT_OUT] = "opt_out",   [REPLY_OPT_IN] = "opt_in",
        [REPLY_HELP] = "help",     [REPLY_FALLBACK] = "fallback",
};

/* Where a failure happened, for the retry decision. */
enum job_step {
        STEP_CONSENT,
        STEP_AGENT,
        STEP_REPLY,
};

enum job_finish {
        FINISH_NONE,
        FINISH_DONE,
        FINISH_DEAD,
        FINISH_RETRY,
        FINISH_SENT, /* spool_reply_sent(), then done */
};

struct job {
        struct pipeline *p; /* NULL: orphaned by pipeline_free() */
        struct job *prev, *next;
        struct spool_row *row;
        enum job_stage stage;
        struct aws_call *call;
        struct agent_call *agent;
        struct agent_webhook *webhook; /* [agent] return_control_url in flight */
        unsigned returns;              /* returnControl rounds answered for this message */
        char *invocation_id;           /* of the returnControl being answered */
        struct dedup_claim *claim;
        ev_timer timer;
        char phone[LOG_PHONE_MAX]; /* masked sender, for logs */
        char spool_id[24];
        char attempt[16];

        struct consent_record rec;
        enum keyword_kind kind;
        char word[KEYWORD_ENTRY_MAX + 1];
        enum consent_action action;
        unsigned rounds;
        bool stale; /* past max age when claimed: no agent, the fallback instead */

        enum reply_kind reply;
        char *text; /* the shaped body */
        unsigned segments;
        char *identity;
        bool sending; /* spool_reply_sending() committed */
        unsigned send_attempts;
        unsigned record_attempts;

        enum job_finish finish;
        int64_t finish_at;
        char *finish_reason;
        char *message_id;
};

struct pipeline_metrics {
        struct metrics_family *outcomes;
        struct metrics_family *blocked;
        struct metrics_family *agent_latency;
        struct metrics_family *sms_latency;
        struct metrics_family *in_flight;
};

struct pipeline {
        struct ev_loop *loop;
        const struct config *config;
        struct spool *spool;
        struct aws_client *aws;
        struct keyword_rules *rules;
        struct business_days_holidays holidays;
        struct reply_limiter *limiter;
        struct agent_turns *turns;

        struct job *jobs;
        unsigned n_jobs;

        ev_timer tick;
        ev_timer kick;
        ev_timer stopped;
        bool stopping;
        pipeline_stopped_fn stopped_cb;
        void *stopped_userdata;

        char instance[320]; /* for [dedup] claims */
        uint64_t rng;
        struct pipeline_stats stats;
        struct pipeline_metrics m;
};

#define JOB_FIELDS(j)                                                                              \
        LF("INBOUND_MESSAGE_ID", (j)->row->inbound_message_id), LF("PHONE", (j)->phone),           \
                LF("SPOOL_ID", (j)->spool_id), LF("ATTEMPT", (j)->attempt)

static void job_consent_read(struct job *j);
static void job_reply(struct job *j, enum reply_kind kind, const char *answer);
static void job_reply_wait(struct job *j);
static void job_optout_read(struct job *j);
static void dispatch(struct pipeline *p);

/* --- pure helpers ------------------------------------------------------------------ */

int64_t pipeline_retry_delay_ms(unsigned initial_ms, unsigned max_ms, unsigned attempts, double r)
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

bool pipeline_within_max_age(int64_t received_at, int64_t at_ms, unsigned max_age_s)
{
        return at_ms <= received_at + (int64_t)max_age_s * 1000;
}

char **pipeline_words_free(char **words)
{
        if (!words)
                return NULL;
        for (char **w = words; *w; w++)
                free(*w);
        free(words);
        return NULL;
}

int pipeline_split_words(const char *list, char ***ret)
{
        char **words;
        size_t n = 0, max = 1;

        if (!ret)
                return -EINVAL;
        if (!list) {
                *ret = NULL;
                return 0;
        }
        for (const char *s = list; *s; s++)
                if (*s == ',')
                        max++;
        words = calloc(max + 1, sizeof(*words));
        if (!words)
                return -ENOMEM;
        for (const char *s = list;;) {
                const char *end = strchr(s, ',');
                const char *a = s, *b = end ? end : s + strlen(s);

                while (a < b && (*a == ' ' || *a == '\t'))
                        a++;
                while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
                        b--;
                if (b > a) {
                        words[n] = strndup(a, (size_t)(b - a));
                        if (!words[n]) {
                                pipeline_words_free(words);
                                return -ENOMEM;
                        }
                        n++;
                }
                if (!end)
                        break;
                s = end + 1;
        }
        *ret = words;
        return (int)n;
}

/* --- small helpers ----------------------------------------------------------------- */

static int64_t now_ms(struct pipeline *p)
{
        return (int64_t)(ev_now(p->loop) * 1000.);
}

static double random01(struct pipeline *p)
{
        uint64_t x = p->rng;

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        p->rng = x;
        return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static void count_outcome(struct pipeline *p, const char *outcome)
{
        (void)metrics_counter_inc(p->m.outcomes, METRICS_LABELS(outcome));
}

static void update_in_flight(struct pipeline *p)
{
        (void)metrics_gauge_set(p->m.in_flight, METRICS_NO_LABELS, p->n_jobs);
}

static void register_metrics(struct pipeline *p)
{
        static const double latency_bounds[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
        int r;

        r = metrics_counter_new("twowayd_pipeline_outcomes_total",
                                "Inbound messages finished by the pipeline, by outcome.",
                                METRICS_LABELS("outcome"), &p->m.outcomes);
        if (r >= 0)
                r = metrics_counter_new("twowayd_pipeline_blocked_total",
                                        "Conversational messages from opted-out numbers: no "
                                        "agent call, no reply.",
                                        METRICS_NO_LABELS, &p->m.blocked);
        if (r >= 0)
                r = metrics_histogram_new("twowayd_agent_call_seconds",
                                          "InvokeAgent call latency, by result.",
                                          METRICS_LABELS("result"), latency_bounds,
                                          ARRAY_SIZE(latency_bounds), &p->m.agent_latency);
        if (r >= 0)
                r = metrics_histogram_new("twowayd_sms_send_seconds",
                                          "SendTextMessage call latency, by result.",
                                          METRICS_LABELS("result"), latency_bounds,
                                          ARRAY_SIZE(latency_bounds), &p->m.sms_latency);
        if (r >= 0)
                r = metrics_gauge_new("twowayd_pipeline_in_flight",
                                      "Inbound messages being worked on now.", METRICS_NO_LABELS,
                                      &p->m.in_flight);
        if (r < 0)
                log_warning_errno(r, "pipeline.metrics_failed", LOG_NOFIELDS,
                                  "cannot register the pipeline metrics, ignoring: %m");
}

/* Build what depends on the config; on failure nothing changes. */
static int build_rules(const struct config *c, struct keyword_rules **ret_rules,
                       struct business_days_holidays *ret_holidays)
{
        char **out = NULL, **in = NULL, **help = NULL;
        struct keyword_rules *rules = NULL;
        struct business_days_holidays h = {0};
        int r;

        r = pipeline_split_words(c->consent_opt_out_words, &out);
        if (r >= 0)
                r = pipeline_split_words(c->consent_opt_in_words, &in);
        if (r >= 0)
                r = pipeline_split_words(c->consent_help_words, &help);
        if (r >= 0)
                r = keyword_rules_new(
                        &(struct keyword_config){
                                .opt_out = (const char *const *)out,
                                .opt_in = (const char *const *)in,
                                .help = (const char *const *)help,
                        },
                        &rules);
        if (r >= 0 && c->n_consent_holidays > 0)
                r = business_days_holidays_parse((const char *const *)c->consent_holidays,
                                                 c->n_consent_holidays, &h);
        pipeline_words_free(out);
        pipeline_words_free(in);
        pipeline_words_free(help);
        if (r < 0) {
                keyword_rules_free(rules);
                return r;
        }
        *ret_rules = rules;
        *ret_holidays = h;
        return 0;
}

/* --- jobs ---------------------------------------------------------------------------- */

static void job_free(struct job *j)
{
        if (!j)
                return;
        spool_row_free(j->row);
        free(j->text);
        free(j->identity);
        free(j->finish_reason);
        free(j->message_id);
        free(j->invocation_id);
        free(j);
}

static void check_stopped(struct pipeline *p)
{
        if (p->stopping && p->stopped_cb && p->n_jobs == 0 && !ev_is_active(&p->stopped))
                ev_timer_start(p->loop, &p->stopped);
}

static void job_unlink(struct job *j)
{
        struct pipeline *p = j->p;

        if (j->prev)
                j->prev->next = j->next;
        else
                p->jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        j->prev = j->next = NULL;
        p->n_jobs--;
}

static void job_end(struct job *j)
{
        struct pipeline *p = j->p;

        ev_timer_stop(p->loop, &j->timer);
        job_unlink(j);
        job_free(j);
        update_in_flight(p);
        check_stopped(p);
        /* A slot is free, and the sender's next message may be ready. */
        pipeline_kick(p);
}

/* Apply the pending spool transition. 0: the job is over; -EAGAIN: the spool
 * failed and the tick will try again. */
static int job_apply_finish(struct job *j)
{
        struct pipeline *p = j->p;
        int64_t id = j->row->id;
        int r = 0;

        switch (j->finish) {
        case FINISH_SENT:
                r = spool_reply_sent(p->spool, id, j->message_id ? j->message_id : "");
                if (r < 0 && r != -ESTALE && r != -ENOENT)
                        break;
                if (r < 0)
                        log_warning_errno(r, "pipeline.reply_record_failed",
                                          LOG_FIELDS(JOB_FIELDS(j)),
                                          "cannot record the reply as sent, ignoring: %m");
                j->finish = FINISH_DONE;
                /* FALLTHROUGH */
        case FINISH_DONE:
                r = spool_done(p->spool, id);
                break;
        case FINISH_DEAD:
                r = spool_dead(p->spool, id, j->finish_reason);
                break;
        case FINISH_RETRY:
                r = spool_retry(p->spool, id, j->finish_at, j->finish_reason);
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

static void job_finish(struct job *j, enum job_finish how)
{
        struct pipeline *p = j->p;

        j->finish = how;
        j->stage = JOB_FINISH;
        switch (how) {
        case FINISH_DONE:
        case FINISH_SENT:
                p->stats.done++;
                break;
        case FINISH_DEAD:
                p->stats.dead++;
                count_outcome(p, "dead");
                break;
        case FINISH_RETRY:
                p->stats.retried++;
                count_outcome(p, "retried");
                break;
        case FINISH_NONE:
                break;
        }
        if (job_apply_finish(j) == 0)
                job_end(j);
}

static void job_done(struct job *j)
{
        job_finish(j, FINISH_DONE);
}

static void job_dead(struct job *j, const char *reason)
{
        free(j->finish_reason);
        j->finish_reason = strdup(reason);
        if (!j->finish_reason)
                j->finish_reason = NULL; /* spool_dead() takes NULL as no reason */
        log_warning("pipeline.dead", LOG_FIELDS(JOB_FIELDS(j), LF("REASON", reason)),
                    "message %s given up: %s", j->spool_id, reason);
        job_finish(j, FINISH_DEAD);
}

/* A failure worth another attempt later: back to the spool, or past max age
 * the end of the row. */
static void job_retry(struct job *j, enum job_step step, const char *error)
{
        struct pipeline *p = j->p;
        const struct config *c = p->config;
        int64_t delay =
                pipeline_retry_delay_ms(c->dispatch_retry_initial_ms, c->dispatch_retry_max_ms,
                                        j->row->attempts, random01(p));
        int64_t at = now_ms(p) + delay;
        char buf[PIPELINE_ERROR_MAX + 64], ms[24];

        if (!pipeline_within_max_age(j->row->received_at, at, c->dispatch_max_age_s)) {
                if (step == STEP_AGENT) {
                        log_notice("pipeline.max_age",
                                   LOG_FIELDS(JOB_FIELDS(j), LF("ERROR", error)),
                                   "message %s is too old to wait for the agent again (%s), "
                                   "sending the fallback reply",
                                   j->spool_id, error);
                        job_reply(j, REPLY_FALLBACK, NULL);
                        return;
                }
                (void)snprintf(buf, sizeof(buf), "max age exceeded: %s", error);
                /* An opt-out that could not be recorded is a compliance matter:
                 * say so loudly, whatever the consent state would have been. */
                if (step == STEP_CONSENT &&
                    keyword_classify(p->rules, j->row->body, true, NULL) == KEYWORD_OPT_OUT)
                        log_error("consent.opt_out_not_recorded",
                                  LOG_FIELDS(JOB_FIELDS(j), LF("ERROR", error)),
                                  "an opt-out from %s could not be recorded before the maximum "
                                  "age: %s",
                                  j->phone, error);
                job_dead(j, buf);
                return;
        }
        (void)snprintf(ms, sizeof(ms), "%lld", (long long)delay);
        log_warning("pipeline.retry",
                    LOG_FIELDS(JOB_FIELDS(j), LF("ERROR", error), LF("RETRY_IN_MS", ms)),
                    "message %s failed: %s, will retry in %s ms", j->spool_id, error, ms);
        free(j->finish_reason);
        j->finish_reason = strdup(error);
        j->finish_at = at;
        job_finish(j, FINISH_RETRY);
}

static void format_aws_error(char *buf, size_t size, const char *what, int r,
                             const struct aws_error *e)
{
        if (e && !isempty(e->code))
                (void)snprintf(buf, size, "%s: %.127s%s%.300s", what, e->code,
                               isempty(e->message) ? "" : ": ", e->message);
        else
                (void)snprintf(buf, size, "%s: %s", what, strerror(r < 0 ? -r : EIO));
}

/* --- consent ------------------------------------------------------------------------- */

/* An opt-out ends the agent session before its confirmation goes out, so a
 * later START begins a fresh conversation: the job holds the sender meanwhile,
 * so no later message of theirs can reach the agent first. Bounded
 * (agent_turn.h); whatever happens, the confirmation follows. */
static void end_session_done(const struct agent_result *res, void *userdata)
{
        struct job *j = userdata;

        j->agent = NULL;
        if (!j->p) {
                job_free(j);
                return;
        }
        agent_turn_count_events(j->p->turns, res);
        if (res->kind == AGENT_REPLY_ANSWER)
                log_info("agent.session_ended", LOG_FIELDS(JOB_FIELDS(j)),
                         "ended the agent session of %s", j->phone);
        else
                log_warning("agent.end_session_failed",
                            LOG_FIELDS(JOB_FIELDS(j), LF("AGENT_ERROR", res->code)),
                            "cannot end the agent session of %s (%s), ignoring", j->phone,
                            isempty(res->code) ? "error" : res->code);
        job_reply(j, REPLY_OPT_OUT, NULL);
}

static void job_end_session(struct job *j)
{
        struct agent_turn_request req;
        int r;

        j->stage = JOB_AGENT;
        r = agent_turn_end_session_request(&req, j->p->config, j->row);
        if (r >= 0)
                r = agent_invoke(j->p->loop, j->p->aws, &req.params, end_session_done, j,
                                 &j->agent);
        if (r < 0) {
                log_warning_errno(r, "agent.end_session_failed", LOG_FIELDS(JOB_FIELDS(j)),
                                  "cannot end the agent session of %s, ignoring: %m", j->phone);
                job_reply(j, REPLY_OPT_OUT, NULL);
        }
}

static void consent_written(int r, const struct aws_error *err, void *userdata)
{
        struct job *j = userdata;
        char buf[PIPELINE_ERROR_MAX];
        bool out = j->action == CONSENT_ACTION_OPT_OUT;

        j->call = NULL;
        if (!j->p) {
                job_free(j);
                return;
        }
        if (r == -ESTALE) {
                if (++j->rounds < PIPELINE_CAS_ROUNDS) {
                        log_debug("consent.conflict", LOG_FIELDS(JOB_FIELDS(j)),
                                  "consent of %s changed meanwhile, reading it again", j->phone);
                        job_consent_read(j);
                        return;
                }
                job_retry(j, STEP_CONSENT, "consent: the record kept changing");
                return;
        }
        if (r < 0) {
                format_aws_error(buf, sizeof(buf), "consent write", r, err);
                job_retry(j, STEP_CONSENT, buf);
                return;
        }
        if (out) {
                j->p->stats.opt_outs++;
                log_notice("consent.opted_out",
                           LOG_FIELDS(JOB_FIELDS(j), LF("KEYWORD", j->word), LF("METHOD", "sms")),
                           "%s opted out (%s)", j->phone, j->word);
                job_end_session(j);
                return;
        } else {
                j->p->stats.opt_ins++;
                log_notice("consent.opted_in",
                           LOG_FIELDS(JOB_FIELDS(j), LF("KEYWORD", j->word), LF("METHOD", "sms")),
                           "%s opted in (%s)", j->phone, j->word);
        }
        job_reply(j, out ? REPLY_OPT_OUT : REPLY_OPT_IN, NULL);
}

static void job_consent_write(struct job *j, enum consent_status to)
{
        struct pipeline *p = j->p;
        char buf[PIPELINE_ERROR_MAX];
        int r;

        j->stage = JOB_CONSENT_WRITE;
        r = consent_write(p->aws, p->config->consent_table,
                          &(struct consent_change){
                                  .phone = j->row->origination_number,
                                  .to = to,
                                  .method = CONSENT_METHOD_SMS,
                                  .inbound_message_id = j->row->inbound_message_id,
                                  .now = (time_t)ev_now(p->loop),
                                  .business_days = p->config->consent_business_days,
                                  .holidays = &p->holidays,
                          },
                          &j->rec, consent_written, j, &j->call);
        if (r < 0) {
                (void)snprintf(buf, sizeof(buf), "consent write: %s", strerror(-r));
                job_retry(j, STEP_CONSENT, buf);
        }
}

static void job_agent(struct job *j);

static void consent_read_done(int r, const struct consent_record *rec, const struct aws_error *err,
                              void *userdata)
{
        struct job *j = userdata;
        struct pipeline *p = j->p;
        const char *word = NULL;
        char buf[PIPELINE_ERROR_MAX];
        bool opted_out;

        j->call = NULL;
        if (!p) {
                job_free(j);
                return;
        }
        if (r < 0) {
                /* Fail closed: without the consent state nothing is sent. */
                format_aws_error(buf, sizeof(buf), "consent read", r, err);
                job_retry(j, STEP_CONSENT, buf);
                return;
        }
        j->rec = *rec;
        opted_out = consent_classify_opted_out(rec, j->row->inbound_message_id);
        j->kind = keyword_classify(p->rules, j->row->body, opted_out, &word);
        (void)snprintf(j->word, sizeof(j->word), "%s", word ? word : "");
        j->action = consent_decide(j->kind, rec, j->row->inbound_message_id);

        log_info("consent.decision",
                 LOG_FIELDS(JOB_FIELDS(j),
                            LF("CONSENT_STATUS", consent_status_to_string(rec->status)),
                            LF("KEYWORD_KIND", keyword_kind_to_string(j->kind)),
                            LF("KEYWORD", word), LF("ACTION", consent_action_to_string(j->action))),
                 "%s is %s; message is %s: %s", j->phone, consent_status_to_string(rec->status),
                 keyword_kind_to_string(j->kind), consent_action_to_string(j->action));

        switch (j->action) {
        case CONSENT_ACTION_AGENT:
                if (j->stale) {
                        log_notice("pipeline.max_age", LOG_FIELDS(JOB_FIELDS(j)),
                                   "message %s is older than the maximum age, sending the "
                                   "fallback reply instead of asking the agent",
                                   j->spool_id);
                        job_reply(j, REPLY_FALLBACK, NULL);
                } else
                        job_agent(j);
                return;
        case CONSENT_ACTION_BLOCK:
                p->stats.blocked++;
                (void)metrics_counter_inc(p->m.blocked, METRICS_NO_LABELS);
                count_outcome(p, "blocked");
                log_info("pipeline.blocked", LOG_FIELDS(JOB_FIELDS(j)),
                         "%s has opted out: no agent call, no reply", j->phone);
                job_done(j);
                return;
        case CONSENT_ACTION_IGNORE:
                count_outcome(p, "ignored");
                log_info("consent.already_opted_out",
                         LOG_FIELDS(JOB_FIELDS(j), LF("KEYWORD", word)),
                         "%s is already opted out: nothing changed, nothing sent", j->phone);
                job_done(j);
                return;
        case CONSENT_ACTION_OPT_OUT:
                job_consent_write(j, CONSENT_OPTED_OUT);
                return;
        case CONSENT_ACTION_OPT_IN:
                job_consent_write(j, CONSENT_OPTED_IN);
                return;
        case CONSENT_ACTION_CONFIRM_OPT_OUT:
                job_end_session(j);
                return;
        case CONSENT_ACTION_CONFIRM_OPT_IN:
                job_reply(j, REPLY_OPT_IN, NULL);
                return;
        case CONSENT_ACTION_HELP:
                job_reply(j, REPLY_HELP, NULL);
                return;
        default:
                job_dead(j, "internal error: unknown consent action");
                return;
        }
}

static void job_consent_read(struct job *j)
{
        struct pipeline *p = j->p;
        char buf[PIPELINE_ERROR_MAX];
        int r;

        j->stage = JOB_CONSENT_READ;
        r = consent_get(p->aws, p->config->consent_table, j->row->origination_number,
                        consent_read_done, j, &j->call);
        if (r < 0) {
                (void)snprintf(buf, sizeof(buf), "consent read: %s", strerror(-r));
                job_retry(j, STEP_CONSENT, buf);
        }
}

/* --- agent ----------------------------------------------------------------------------- */

static bool is_blank(const char *s)
{
        for (; s && *s; s++)
                if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
                        return false;
        return true;
}

/* The agent turn rule (agent.h, AGENT TURNS) where a call cannot go on: the
 * fallback, once, and why. */
static void agent_not_again(struct job *j, const char *why)
{
        log_notice("agent.not_repeated", LOG_FIELDS(JOB_FIELDS(j), LF("REASON", why)),
                   "not asking the agent again about message %s (%s), sending the fallback "
                   "reply",
                   j->spool_id, why);
        job_reply(j, REPLY_FALLBACK, NULL);
}

static void agent_done(const struct agent_result *res, void *userdata);

/* The webhook's results go back to the agent in the same session: the same
 * turn, continued (not a repeat of it), so no agent_turn_decide() here. */
static void webhook_done(int r, json_t *results, const char *why, void *userdata)
{
        struct job *j = userdata;
        struct pipeline *p = j->p;
        struct agent_turn_request req;
        int rr;

        j->webhook = NULL;
        if (!p) {
                job_free(j);
                return;
        }
        if (r < 0) {
                agent_turn_count_return_control(p->turns, "failed");
                log_warning("agent.return_control_failed",
                            LOG_FIELDS(JOB_FIELDS(j), LF("REASON", why)),
                            "the return-of-control handler failed for message %s (%s), "
                            "sending the fallback reply",
                            j->spool_id, why);
                job_reply(j, REPLY_FALLBACK, NULL);
                return;
        }
        agent_turn_count_return_control(p->turns, "answered");
        rr = agent_turn_request_init(&req, p->config, j->row, (time_t)ev_now(p->loop));
        if (rr >= 0) {
                req.params.input_text = NULL;
                req.params.return_control_results = results;
                req.params.invocation_id = j->invocation_id;
                rr = agent_invoke(p->loop, p->aws, &req.params, agent_done, j, &j->agent);
        }
        if (rr < 0) {
                log_warning_errno(rr, "agent.return_control_failed", LOG_FIELDS(JOB_FIELDS(j)),
                                  "cannot give the agent the results for message %s, sending "
                                  "the fallback reply: %m",
                                  j->spool_id);
                job_reply(j, REPLY_FALLBACK, NULL);
                return;
        }
        log_info("agent.return_control_answered", LOG_FIELDS(JOB_FIELDS(j)),
                 "gave the agent the results of its action for %s", j->phone);
}

static void agent_return_control(struct job *j, const json_t *rc)
{
        struct pipeline *p = j->p;
        const char *group = agent_turn_action_group(rc);
        int r;

        if (++j->returns > PIPELINE_RETURNS_MAX) {
                agent_turn_count_return_control(p->turns, "too_many");
                agent_not_again(j, "the agent kept returning control");
                return;
        }
        free(j->invocation_id);
        j->invocation_id = strdup(json_string_value(json_object_get(rc, "invocationId")) ?: "");
        if (!j->invocation_id) {
                job_retry(j, STEP_AGENT, "agent: out of memory");
                return;
        }
        r = agent_turn_return_control(p->turns, p->config, j->row, rc, webhook_done, j,
                                      &j->webhook);
        if (r < 0) {
                agent_turn_count_return_control(p->turns, "failed");
                log_warning_errno(r, "agent.return_control_failed",
                                  LOG_FIELDS(JOB_FIELDS(j), LF("ACTION_GROUP", group)),
                                  "cannot call the return-of-control handler, sending the "
                                  "fallback reply: %m");
                job_reply(j, REPLY_FALLBACK, NULL);
                return;
        }
        log_info("agent.return_control", LOG_FIELDS(JOB_FIELDS(j), LF("ACTION_GROUP", group)),
                 "the agent returned control for action group %s: asking the handler", group);
}

static void agent_answered(struct job *j, const struct agent_result *res, const char *latency)
{
        struct pipeline *p = j->p;
        _cleanup_free_ char *text = NULL;
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
        if (res->return_control && p->config->agent_return_control_url) {
                agent_return_control(j, res->return_control);
                return;
        }
        if (res->return_control) {
                /* The agent waits for an action only its developer can run; no
                 * answer will come from this turn. */
                const char *group = agent_turn_action_group(res->return_control);

                agent_turn_count_return_control(p->turns, "unsupported");
                log_warning("agent.return_control_unsupported",
                            LOG_FIELDS(JOB_FIELDS(j), LF("ACTION_GROUP", group)),
                            "the agent returned control for action group %s, which twowayd "
                            "cannot run: sending the fallback reply",
                            group);
                job_reply(j, REPLY_FALLBACK, NULL);
                return;
        }
        if (is_blank(res->text)) {
                log_warning("agent.empty_answer", LOG_FIELDS(JOB_FIELDS(j)),
                            "the agent's answer is empty, sending the fallback reply");
                job_reply(j, REPLY_FALLBACK, NULL);
                return;
        }
        text = agent_turn_answer_text(p->config, res);
        if (!text) {
                job_retry(j, STEP_AGENT, "agent: out of memory");
                return;
        }
        job_reply(j, REPLY_ANSWER, text);
}

static void agent_done(const struct agent_result *res, void *userdata)
{
        struct job *j = userdata;
        struct pipeline *p = j->p;
        char buf[PIPELINE_ERROR_MAX], latency[24];
        const char *kind = agent_reply_kind_to_string(res->kind);
        int r;

        j->agent = NULL;
        if (!p) {
                job_free(j);
                return;
        }
        (void)metrics_histogram_observe(p->m.agent_latency, METRICS_LABELS(kind),
                                        res->latency_ms / 1000.);
        agent_turn_count_events(p->turns, res);
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
        if (res->http_status >= 400) {
                /* Refused with an error response: the call never reached the
                 * agent, so it does not count against the turn. */
                r = spool_agent_refused(p->spool, j->row->id);
                if (r < 0)
                        log_warning_errno(r, "pipeline.spool_failed", LOG_FIELDS(JOB_FIELDS(j)),
                                          "cannot record the refused agent call of %s, "
                                          "ignoring: %m",
                                          j->spool_id);
                else if (j->row->agent_calls > 0)
                        j->row->agent_calls--;
        }
        if (res->kind == AGENT_REPLY_RETRYABLE) {
                /* AWS: retry a dependency failure at most once. The spool keeps
                 * the last error, which is the budget across attempts. */
                if (strcasecmp(res->code, "dependencyFailedException") == 0 && j->row->last_error &&
                    strncasecmp(j->row->last_error, "agent: dependencyFailedException",
                                STRLEN("agent: dependencyFailedException")) == 0) {
                        job_reply(j, REPLY_FALLBACK, NULL);
                        return;
                }
                if (agent_turn_decide(j->row->agent_calls, false) != AGENT_TURN_CALL) {
                        agent_not_again(j, "no answer after two calls");
                        return;
                }
                job_retry(j, STEP_AGENT, buf);
                return;
        }
        job_reply(j, REPLY_FALLBACK, NULL);
}

static void agent_stream_started(struct agent_call *call, void *userdata)
{
        struct job *j = userdata;
        int r;

        if (!j->p)
                return;
        j->row->agent_streamed = true;
        r = spool_agent_streamed(j->p->spool, j->row->id);
        if (r < 0)
                log_warning_errno(r, "pipeline.spool_failed", LOG_FIELDS(JOB_FIELDS(j)),
                                  "cannot record that the agent began answering %s, ignoring: %m",
                                  j->spool_id);
}

static void job_agent(struct job *j)
{
        struct pipeline *p = j->p;
        const struct config *c = p->config;
        struct agent_turn_request req;
        char logged[AGENT_SESSION_ID_MAX + LOG_PHONE_MAX + 2];
        char buf[PIPELINE_ERROR_MAX];
        int r;

        j->stage = JOB_AGENT;
        r = agent_turn_request_init(&req, c, j->row, (time_t)ev_now(p->loop));
        if (r < 0) {
                job_dead(j, "the sender's number gives no agent session id");
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
        r = spool_agent_calling(p->spool, j->row->id);
        if (r < 0) {
                (void)snprintf(buf, sizeof(buf), "agent: cannot record the call: %s", strerror(-r));
                job_retry(j, STEP_AGENT, buf);
                return;
        }
        j->row->agent_calls++;
        req.params.on_stream_start = agent_stream_started;
        r = agent_invoke(p->loop, p->aws, &req.params, agent_done, j, &j->agent);
        if (r < 0) {
                (void)snprintf(buf, sizeof(buf), "agent: %s", strerror(-r));
                job_retry(j, STEP_AGENT, buf);
                return;
        }
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

/* --- reply ----------------------------------------------------------------------------- */

static void optout_written(int r, const struct aws_error *err, void *userdata)
{
        struct job *j = userdata;

        j->call = NULL;
        if (!j->p) {
                job_free(j);
                return;
        }
        if (r == -ESTALE || (r < 0 && ++j->record_attempts < PIPELINE_RECORD_ATTEMPTS)) {
                job_optout_read(j);
                return;
        }
        if (r < 0) {
                char buf[PIPELINE_ERROR_MAX];
                format_aws_error(buf, sizeof(buf), "consent write", r, err);
                log_error("consent.record_failed", LOG_FIELDS(JOB_FIELDS(j), LF("ERROR", buf)),
                          "cannot record that %s opted out at AWS: %s", j->phone, buf);
        } else {
                j->p->stats.opt_outs++;
                log_notice("consent.opted_out",
                           LOG_FIELDS(JOB_FIELDS(j), LF("METHOD", CONSENT_METHOD_AWS)),
                           "%s is on the AWS opt-out list: recorded as opted out", j->phone);
        }
        job_done(j);
}

static void optout_read_done(int r, const struct consent_record *rec, const struct aws_error *err,
                             void *userdata)
{
        struct job *j = userdata;
        struct pipeline *p = j->p;
        int rr;

        j->call = NULL;
        if (!p) {
                job_free(j);
                return;
        }
        if (r < 0) {
                if (++j->record_attempts < PIPELINE_RECORD_ATTEMPTS) {
                        job_optout_read(j);
                        return;
                }
                optout_written(r, err, j);
                return;
        }
        if (rec->status == CONSENT_OPTED_OUT) {
                log_info("consent.already_opted_out", LOG_FIELDS(JOB_FIELDS(j)),
                         "%s is already recorded as opted out", j->phone);
                job_done(j);
                return;
        }
        j->rec = *rec;
        j->stage = JOB_OPTOUT_WRITE;
        rr = consent_write(p->aws, p->config->consent_table,
                           &(struct consent_change){
                                   .phone = j->row->origination_number,
                                   .to = CONSENT_OPTED_OUT,
                                   .method = CONSENT_METHOD_AWS,
                                   .inbound_message_id = j->row->inbound_message_id,
                                   .now = (time_t)ev_now(p->loop),
                                   .business_days = p->config->consent_business_days,
                                   .holidays = &p->holidays,
                           },
                           &j->rec, optout_written, j, &j->call);
        if (rr < 0) {
                log_error_errno(rr, "consent.record_failed", LOG_FIELDS(JOB_FIELDS(j)),
                                "cannot record that %s opted out at AWS: %m", j->phone);
                job_done(j);
        }
}

static void job_optout_read(struct job *j)
{
        struct pipeline *p = j->p;
        int r;

        j->stage = JOB_OPTOUT_READ;
        r = consent_get(p->aws, p->config->consent_table, j->row->origination_number,
                        optout_read_done, j, &j->call);
        if (r < 0) {
                log_error_errno(r, "consent.record_failed", LOG_FIELDS(JOB_FIELDS(j)),
                                "cannot record that %s opted out at AWS: %m", j->phone);
                job_done(j);
        }
}

static void reply_backoff_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        job_reply_wait(w->data);
}

static void reply_done(const struct reply_result *res, void *userdata)
{
        struct job *j = userdata;
        struct pipeline *p = j->p;
        char buf[PIPELINE_ERROR_MAX], latency[24], segments[16];
        const char *kind = reply_kind_names[j->reply];

        j->call = NULL;
        if (!p) {
                job_free(j);
                return;
        }
        (void)snprintf(latency, sizeof(latency), "%.0f", res->latency_ms);
        (void)metrics_histogram_observe(p->m.sms_latency,
                                        METRICS_LABELS(res->r >= 0 ? "sent" : "failed"),
                                        res->latency_ms / 1000.);
        if (res->r >= 0) {
                (void)snprintf(segments, sizeof(segments), "%u", j->segments);
                p->stats.replies_sent++;
                if (j->reply == REPLY_FALLBACK)
                        p->stats.fallbacks_sent++;
                count_outcome(p, kind);
                log_info("sms.sent",
                         LOG_FIELDS(JOB_FIELDS(j), LF("SMS_MESSAGE_ID", res->message_id),
                                    LF("SEGMENTS", segments), LF("REPLY_KIND", kind),
                                    LF("LATENCY_MS", latency),
                                    LF("AWS_REQUEST_ID", res->request_id)),
                         "replied to %s (%s, %s segments, message %s)", j->phone, kind, segments,
                         res->message_id);
                free(j->message_id);
                j->message_id = strdup(res->message_id);
                job_finish(j, FINISH_SENT);
                return;
        }

        format_aws_error(buf, sizeof(buf), "reply", res->r, res->error);
        log_warning("sms.failed",
                    LOG_FIELDS(JOB_FIELDS(j), LF("ERROR", buf),
                               LF("SMS_FAILURE", reply_failure_to_string(res->failure)),
                               LF("REASON", isempty(res->reason) ? NULL : res->reason),
                               LF("LATENCY_MS", latency), LF("AWS_REQUEST_ID", res->request_id)),
                    "reply to %s failed (%s): %s", j->phone, reply_failure_to_string(res->failure),
                    buf);

        switch (res->failure) {
        case REPLY_FAILURE_RETRY:
                if (j->send_attempts < PIPELINE_SEND_ATTEMPTS) {
                        struct aws_retry_config rc = {
                                .max_attempts = PIPELINE_SEND_ATTEMPTS,
                                .base_ms = PIPELINE_SEND_BASE_MS,
                                .throttle_base_ms = PIPELINE_SEND_THROTTLE_MS,
                                .cap_ms = PIPELINE_SEND_CAP_MS,
                        };
                        double ms = aws_retry_backoff_ms(
                                &rc, res->error ? res->error->kind : AWS_ERROR_TRANSIENT,
                                j->send_attempts, random01(p));
                        j->stage = JOB_REPLY_BACKOFF;
                        ev_timer_init(&j->timer, reply_backoff_cb, fmax(ms, 1.) / 1000., 0.);
                        j->timer.data = j;
                        ev_timer_start(p->loop, &j->timer);
                        return;
                }
                job_dead(j, buf);
                return;
        case REPLY_FAILURE_OPTED_OUT:
                count_outcome(p, "opted_out_at_aws");
                job_optout_read(j);
                return;
        case REPLY_FAILURE_UNKNOWN: {
                char reason[PIPELINE_ERROR_MAX + 64];
                p->stats.reply_unknown++;
                count_outcome(p, "reply_unknown");
                (void)snprintf(reason, sizeof(reason), "reply state unknown: %s", buf);
                log_warning("pipeline.reply_unknown", LOG_FIELDS(JOB_FIELDS(j), LF("ERROR", buf)),
                            "reply state unknown for message %s: it may have been sent, so it "
                            "is not sent again",
                            j->spool_id);
                job_dead(j, reason);
                return;
        }
        case REPLY_FAILURE_PERMANENT:
        default:
                job_dead(j, buf);
                return;
        }
}

static void job_reply_send(struct job *j)
{
        struct pipeline *p = j->p;
        const struct config *c = p->config;
        char buf[PIPELINE_ERROR_MAX];
        int r;

        if (!j->sending) {
                r = spool_reply_sending(p->spool, j->row->id);
                if (r == -EALREADY) {
                        job_dead(j, "reply state unknown: not sent again");
                        return;
                }
                if (r < 0) {
                        /* Not committed, so certainly not sent: a plain retry. */
                        (void)snprintf(buf, sizeof(buf), "spool: %s", strerror(-r));
                        job_retry(j, STEP_REPLY, buf);
                        return;
                }
                j->sending = true;
        }
        j->send_attempts++;
        j->stage = JOB_REPLY_SEND;
        r = reply_send(p->aws,
                       &(struct reply_params){
                               .destination = j->row->origination_number,
                               .origination_identity = j->identity,
                               .body = j->text,
                               .message_type = c->sms_message_type,
                               .configuration_set = c->sms_configuration_set,
                               .max_price = c->sms_max_price,
                               .time_to_live = c->sms_time_to_live,
                               .inbound_message_id = j->row->inbound_message_id,
                       },
                       reply_done, j, &j->call);
        if (r < 0) {
                (void)snprintf(buf, sizeof(buf), "reply not sent: %s", strerror(-r));
                job_dead(j, buf);
        }
}

static void reply_wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        job_reply_send(w->data);
}

static void job_reply_wait(struct job *j)
{
        struct pipeline *p = j->p;
        double wait = reply_limiter_reserve(p->limiter, j->identity, p->config->sms_max_per_second,
                                            ev_now(p->loop));

        j->stage = JOB_REPLY_WAIT;
        if (wait <= 0.) {
                /* < 0: no bucket (out of memory): send unpaced rather than never. */
                job_reply_send(j);
                return;
        }
        ev_timer_init(&j->timer, reply_wait_cb, wait, 0.);
        j->timer.data = j;
        ev_timer_start(p->loop, &j->timer);
}

/* Shape and send a reply of kind; answer is the agent's text for REPLY_ANSWER. */
static void job_reply(struct job *j, enum reply_kind kind, const char *answer)
{
        struct pipeline *p = j->p;
        const struct config *c = p->config;
        struct sms_text_info info = {0};
        const char *text;
        char *shaped = NULL;
        int r;

        switch (kind) {
        case REPLY_ANSWER:
                text = answer;
                break;
        case REPLY_OPT_OUT:
                text = c->consent_opt_out_reply;
                break;
        case REPLY_OPT_IN:
                text = c->consent_opt_in_reply;
                break;
        case REPLY_HELP:
                text = c->consent_help_reply;
                break;
        case REPLY_FALLBACK:
        default:
                text = c->agent_fallback_reply;
                break;
        }
        j->reply = kind;
        if (isempty(text)) {
                /* An operator who unset the text wants no reply of this kind. */
                log_info("pipeline.no_reply",
                         LOG_FIELDS(JOB_FIELDS(j), LF("REPLY_KIND", reply_kind_names[kind])),
                         "no %s reply is configured: nothing sent", reply_kind_names[kind]);
                job_done(j);
                return;
        }
        r = sms_text_shape(text, c->sms_max_segments, &shaped, &info);
        if (r < 0 || is_blank(shaped)) {
                free(shaped);
                if (kind == REPLY_ANSWER) {
                        log_warning_errno(r, "pipeline.unusable_answer", LOG_FIELDS(JOB_FIELDS(j)),
                                          "the agent's answer cannot be sent as SMS, sending the "
                                          "fallback reply");
                        job_reply(j, REPLY_FALLBACK, NULL);
                } else
                        job_dead(j, "the configured reply cannot be sent as SMS");
                return;
        }
        free(j->text);
        j->text = shaped;
        j->segments = info.segments;
        free(j->identity);
        j->identity = strdup(!isempty(c->sms_origination_identity) ? c->sms_origination_identity
                                                                   : j->row->destination_number);
        if (!j->identity) {
                job_retry(j, STEP_REPLY, "out of memory");
                return;
        }
        job_reply_wait(j);
}

/* --- dispatch ------------------------------------------------------------------------- */

/* --- cross-instance claim ---------------------------------------------------------- */

static void claim_done(int r, enum dedup_outcome outcome, void *userdata)
{
        struct job *j = userdata;
        char buf[PIPELINE_ERROR_MAX];

        j->claim = NULL;
        if (!j->p) {
                job_free(j);
                return;
        }
        if (r < 0) {
                /* Undecided: never process meanwhile, another instance may have it. */
                (void)snprintf(buf, sizeof(buf), "dedup claim: %s", strerror(-r));
                job_retry(j, STEP_CONSENT, buf);
                return;
        }
        if (outcome == DEDUP_CLAIMED_ELSEWHERE) {
                count_outcome(j->p, "claimed_elsewhere");
                log_info("pipeline.claimed_elsewhere", LOG_FIELDS(JOB_FIELDS(j)),
                         "message %s is handled by another instance", j->spool_id);
                job_done(j);
                return;
        }
        job_consent_read(j);
}

static void job_claim(struct job *j)
{
        struct pipeline *p = j->p;
        char buf[PIPELINE_ERROR_MAX];
        int r;

        j->stage = JOB_CLAIM;
        r = dedup_claim(p->aws, p->config->dedup_table, j->row->inbound_message_id, p->instance,
                        now_ms(p) / 1000, p->config->dedup_ttl_days, claim_done, j, &j->claim);
        if (r < 0) {
                (void)snprintf(buf, sizeof(buf), "dedup claim: %s", strerror(-r));
                job_retry(j, STEP_CONSENT, buf);
        }
}

static void job_start(struct pipeline *p, struct spool_row *row)
{
        struct job *j;
        char body[LOG_TEXT_MAX];

        j = calloc(1, sizeof(*j));
        if (!j) {
                /* Leave it in progress? No: put it back so it is not stuck. */
                (void)spool_retry(p->spool, row->id, now_ms(p) + 1000, "out of memory");
                spool_row_free(row);
                return;
        }
        j->p = p;
        j->row = row;
        ev_timer_init(&j->timer, reply_wait_cb, 0., 0.);
        j->timer.data = j;
        (void)log_phone(j->phone, sizeof(j->phone), row->origination_number);
        (void)snprintf(j->spool_id, sizeof(j->spool_id), "%lld", (long long)row->id);
        (void)snprintf(j->attempt, sizeof(j->attempt), "%u", row->attempts + 1);
        j->next = p->jobs;
        if (p->jobs)
                p->jobs->prev = j;
        p->jobs = j;
        p->n_jobs++;
        p->stats.claimed++;
        update_in_flight(p);

        log_info("pipeline.received",
                 LOG_FIELDS(JOB_FIELDS(j), LF("BODY", log_text(body, sizeof(body), row->body))),
                 "message %s from %s (attempt %s)", j->spool_id, j->phone, j->attempt);

        switch (row->reply_state) {
        case SPOOL_REPLY_SENT:
                log_info("pipeline.already_replied",
                         LOG_FIELDS(JOB_FIELDS(j), LF("SMS_MESSAGE_ID", row->reply_message_id)),
                         "message %s was already answered", j->spool_id);
                job_done(j);
                return;
        case SPOOL_REPLY_SENDING:
        case SPOOL_REPLY_UNKNOWN:
                p->stats.reply_unknown++;
                count_outcome(p, "reply_unknown");
                log_warning("pipeline.reply_unknown", LOG_FIELDS(JOB_FIELDS(j)),
                            "reply state unknown for message %s: the reply may have been sent "
                            "before a restart, so it is not sent again",
                            j->spool_id);
                job_dead(j, "reply state unknown: not sent again");
                return;
        default:
                break;
        }
        j->stale = !pipeline_within_max_age(row->received_at, now_ms(p),
                                            p->config->dispatch_max_age_s);
        if (p->config->dedup_table)
                job_claim(j);
        else
                job_consent_read(j);
}

/* Try again the spool transitions that failed. */
static void retry_finishes(struct pipeline *p)
{
        struct job *j = p->jobs, *next;

        for (; j; j = next) {
                next = j->next;
                if (j->stage == JOB_FINISH && job_apply_finish(j) == 0)
                        job_end(j);
        }
}

static void dispatch(struct pipeline *p)
{
        struct spool_row **rows = NULL;
        unsigned limit = p->config->dispatch_concurrency;
        int n, r;

        if (p->stopping || p->n_jobs >= limit)
                return;
        n = spool_next_ready(p->spool, now_ms(p), MIN(limit - p->n_jobs, SPOOL_ROWS_MAX), &rows);
        if (n < 0) {
                log_warning_errno(n, "pipeline.spool_failed", LOG_NOFIELDS,
                                  "cannot read ready messages from the spool, will retry: %m");
                return;
        }
        for (size_t i = 0; rows[i]; i++) {
                struct spool_row *row = rows[i];

                if (p->stopping || p->n_jobs >= limit) {
                        spool_row_free(row);
                        continue;
                }
                r = spool_claim(p->spool, row->id);
                if (r < 0) {
                        if (r != -EBUSY && r != -ESTALE && r != -ENOENT)
                                log_warning_errno(r, "pipeline.spool_failed", LOG_NOFIELDS,
                                                  "cannot claim message %lld, will retry: %m",
                                                  (long long)row->id);
                        spool_row_free(row);
                        continue;
                }
                job_start(p, row);
        }
        free(rows);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct pipeline *p = w->data;

        retry_finishes(p);
        dispatch(p);
}

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct pipeline *p = w->data;

        dispatch(p);
}

static void stopped_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct pipeline *p = w->data;
        pipeline_stopped_fn cb = p->stopped_cb;

        if (!cb || p->n_jobs > 0)
                return;
        p->stopped_cb = NULL;
        cb(p, p->stopped_userdata);
}

/* --- API ------------------------------------------------------------------------------ */

int pipeline_new(struct ev_loop *loop, const struct config *config, struct spool *spool,
                 struct aws_client *aws, struct pipeline **ret)
{
        struct pipeline *p;
        int r;

        if (!loop || !config || !spool || !aws || !ret)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->loop = loop;
        p->config = config;
        p->spool = spool;
        p->aws = aws;
        r = build_rules(config, &p->rules, &p->holidays);
        if (r < 0) {
                free(p);
                return log_error_errno(r, "pipeline.rules_failed", LOG_NOFIELDS,
                                       "cannot build the keyword rules: %m");
        }
        r = reply_limiter_new(&p->limiter);
        if (r < 0) {
                keyword_rules_free(p->rules);
                business_days_holidays_done(&p->holidays);
                free(p);
                return r;
        }
        p->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)p;
        if (!p->rng)
                p->rng = 0x9e3779b97f4a7c15ULL;
        register_metrics(p);
        r = agent_turns_new(loop, aws, &p->turns);
        if (r < 0) {
                reply_limiter_free(p->limiter);
                keyword_rules_free(p->rules);
                business_days_holidays_done(&p->holidays);
                free(p);
                return r;
        }
        if (dedup_instance_name(config->spool_dir, p->instance, sizeof(p->instance)) < 0)
                (void)snprintf(p->instance, sizeof(p->instance), "pid-%d", (int)getpid());

        ev_timer_init(&p->tick, tick_cb, PIPELINE_TICK_S, PIPELINE_TICK_S);
        p->tick.data = p;
        ev_timer_start(loop, &p->tick);
        ev_timer_init(&p->kick, kick_cb, 0., 0.);
        p->kick.data = p;
        ev_timer_init(&p->stopped, stopped_cb, 0., 0.);
        p->stopped.data = p;
        /* Rows stored before a restart wait for no new message. */
        ev_timer_start(loop, &p->kick);
        log_info("pipeline.started",
                 LOG_FIELDS(LF("AGENT_ID", config->agent_id),
                            LF("CONSENT_TABLE", config->consent_table)),
                 "dispatcher started (concurrency %u)", config->dispatch_concurrency);
        *ret = p;
        return 0;
}

struct pipeline *pipeline_free(struct pipeline *p)
{
        if (!p)
                return NULL;
        ev_timer_stop(p->loop, &p->tick);
        ev_timer_stop(p->loop, &p->kick);
        ev_timer_stop(p->loop, &p->stopped);
        while (p->jobs) {
                struct job *j = p->jobs;

                job_unlink(j);
                ev_timer_stop(p->loop, &j->timer);
                /* Rows stay in progress; spool_open() puts them back at the next start. */
                if (j->call) {
                        j->p = NULL;
                        aws_call_cancel(j->call);
                } else if (j->claim) {
                        j->p = NULL;
                        dedup_claim_cancel(j->claim);
                } else if (j->agent) {
                        j->p = NULL;
                        agent_call_cancel(j->agent);
                } else if (j->webhook) {
                        j->p = NULL;
                        agent_webhook_cancel(j->webhook);
                } else
                        job_free(j);
        }
        agent_turns_free(p->turns);
        keyword_rules_free(p->rules);
        business_days_holidays_done(&p->holidays);
        reply_limiter_free(p->limiter);
        free(p);
        return NULL;
}

void pipeline_kick(struct pipeline *p)
{
        if (!p || p->stopping || ev_is_active(&p->kick))
                return;
        ev_timer_set(&p->kick, 0., 0.);
        ev_timer_start(p->loop, &p->kick);
}

void pipeline_set_config(struct pipeline *p, const struct config *config)
{
        struct keyword_rules *rules;
        struct business_days_holidays holidays;
        int r;

        if (!p || !config)
                return;
        r = build_rules(config, &rules, &holidays);
        if (r < 0)
                log_warning_errno(r, "pipeline.rules_failed", LOG_NOFIELDS,
                                  "cannot build the new keyword rules, keeping the old ones: %m");
        else {
                keyword_rules_free(p->rules);
                business_days_holidays_done(&p->holidays);
                p->rules = rules;
                p->holidays = holidays;
        }
        /* Jobs read the config at each step and copy what outlives a step. */
        p->config = config;
        pipeline_kick(p);
}

void pipeline_stop(struct pipeline *p, pipeline_stopped_fn done, void *userdata)
{
        struct job *j, *next;

        if (!p)
                return;
        p->stopping = true;
        p->stopped_cb = done;
        p->stopped_userdata = userdata;
        ev_timer_stop(p->loop, &p->kick);
        /* Replies still waiting for their send slot have sent nothing: give them
         * back now rather than hold the shutdown for the pacing. */
        for (j = p->jobs; j; j = next) {
                next = j->next;
                if (j->stage == JOB_REPLY_WAIT && !j->sending) {
                        ev_timer_stop(p->loop, &j->timer);
                        free(j->finish_reason);
                        j->finish_reason = strdup("stopped before the reply was sent");
                        j->finish_at = now_ms(p);
                        job_finish(j, FINISH_RETRY);
                }
        }
        check_stopped(p);
}

unsigned pipeline_in_flight(const struct pipeline *p)
{
        return p ? p->n_jobs : 0;
}

void pipeline_get_stats(const struct pipeline *p, struct pipeline_stats *ret)
{
        if (p && ret)
                *ret = p->stats;
}
