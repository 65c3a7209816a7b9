/*
 * job_consent.c — the steps that talk to DynamoDB: the [dedup] claim, the
 * consent read and decision, the consent write, and the recording of an
 * opt-out found at AWS. Each keeps its one call in job->work and ends with a
 * verdict (job_steps.h); what comes next is the dispatcher's business.
 */
#include <stdio.h>
#include <time.h>

#include <ev.h>

#include "aws.h"
#include "config.h"
#include "consent.h"
#include "dedup.h"
#include "job.h"
#include "job_steps.h"
#include "keyword.h"
#include "metrics.h"

#define JOB_RECORD_ROUNDS 3 /* read-write rounds to record an AWS-side opt-out */

void job_format_aws_error(char *buf, size_t size, const char *what, int r,
                          const struct aws_error *e)
{
        if (e && !isempty(e->code))
                (void)snprintf(buf, size, "%s: %.127s%s%.300s", what, e->code,
                               isempty(e->message) ? "" : ": ", e->message);
        else
                (void)snprintf(buf, size, "%s: %s", what, strerror(r < 0 ? -r : EIO));
}

static void count_outcome(struct job *j, const char *outcome)
{
        (void)metrics_counter_inc(j->env->m.outcomes, METRICS_LABELS(outcome));
}

/* --- claim --------------------------------------------------------------------------- */

static void claim_done(int r, enum dedup_outcome outcome, void *userdata)
{
        struct job *j = userdata;

        if (job_cancelled(j)) {
                job_verdict(j, JOB_CANCELLED, JOB_CAUSE_NONE, NULL);
                return;
        }
        if (r < 0) {
                /* Undecided: never process meanwhile, another instance may have it. */
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CLAIM, "dedup claim: %s", strerror(-r));
                return;
        }
        if (outcome == DEDUP_CLAIMED_ELSEWHERE) {
                count_outcome(j, "claimed_elsewhere");
                log_info("pipeline.claimed_elsewhere", LOG_FIELDS(JOB_FIELDS(j)),
                         "message %s is handled by another instance", j->spool_id);
                j->complete = true;
        }
        job_done(j);
}

void job_claim(struct job *j)
{
        struct job_env *env = j->env;
        int r;

        j->step = JOB_STEP_CLAIM;
        r = dedup_claim(env->aws, env->config->dedup_table, j->row->inbound_message_id,
                        env->instance, (int64_t)ev_now(env->loop), env->config->dedup_ttl_days,
                        claim_done, j, &j->work.claim);
        if (r < 0) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CLAIM, "dedup claim: %s", strerror(-r));
                return;
        }
        j->work.kind = JOB_WORK_CLAIM;
}

/* --- read and decide ------------------------------------------------------------------- */

static void log_decision(struct job *j, const struct consent_record *rec, const char *word)
{
        log_info("consent.decision",
                 LOG_FIELDS(JOB_FIELDS(j),
                            LF("CONSENT_STATUS", consent_status_to_string(rec->status)),
                            LF("KEYWORD_KIND", keyword_kind_to_string(j->kind)),
                            LF("KEYWORD", word), LF("ACTION", consent_action_to_string(j->action))),
                 "%s is %s; message is %s: %s", j->phone, consent_status_to_string(rec->status),
                 keyword_kind_to_string(j->kind), consent_action_to_string(j->action));
}

static void consent_read_done(int r, const struct consent_record *rec, const struct aws_error *err,
                              void *userdata)
{
        struct job *j = userdata;
        const char *word = NULL;
        char buf[JOB_DETAIL_MAX];
        bool opted_out;

        if (job_cancelled(j)) {
                job_verdict(j, JOB_CANCELLED, JOB_CAUSE_NONE, NULL);
                return;
        }
        if (r < 0) {
                /* Fail closed: without the consent state nothing is sent. */
                job_format_aws_error(buf, sizeof(buf), "consent read", r, err);
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CONSENT_READ, "%s", buf);
                return;
        }
        j->rec = *rec;
        j->consent_read_at = ev_now(j->env->loop);
        opted_out = consent_classify_opted_out(rec, j->row->inbound_message_id);
        j->kind = keyword_classify(j->env->rules, j->row->body, opted_out, &word);
        (void)snprintf(j->word, sizeof(j->word), "%s", word ? word : "");
        j->action = consent_decide(j->kind, rec, j->row->inbound_message_id);
        log_decision(j, rec, word);

        switch (j->action) {
        case CONSENT_ACTION_BLOCK:
                j->env->stats.blocked++;
                (void)metrics_counter_inc(j->env->m.blocked, METRICS_NO_LABELS);
                count_outcome(j, "blocked");
                log_info("pipeline.blocked", LOG_FIELDS(JOB_FIELDS(j)),
                         "%s has opted out: no agent call, no reply", j->phone);
                j->complete = true;
                break;
        case CONSENT_ACTION_IGNORE:
                count_outcome(j, "ignored");
                log_info("consent.already_opted_out",
                         LOG_FIELDS(JOB_FIELDS(j), LF("KEYWORD", word)),
                         "%s is already opted out: nothing changed, nothing sent", j->phone);
                j->complete = true;
                break;
        default:
                break;
        }
        job_done(j);
}

void job_consent_read(struct job *j)
{
        struct job_env *env = j->env;
        int r;

        j->step = JOB_STEP_CONSENT_READ;
        r = consent_get(env->aws, env->config->consent_table, j->row->origination_number,
                        consent_read_done, j, &j->work.aws);
        if (r < 0) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CONSENT_READ, "consent read: %s", strerror(-r));
                return;
        }
        j->work.kind = JOB_WORK_AWS;
}

/* --- write ------------------------------------------------------------------------------ */

static void consent_written(int r, const struct aws_error *err, void *userdata)
{
        struct job *j = userdata;
        char buf[JOB_DETAIL_MAX];

        if (job_cancelled(j)) {
                job_verdict(j, JOB_CANCELLED, JOB_CAUSE_NONE, NULL);
                return;
        }
        if (r == -ESTALE) {
                log_debug("consent.conflict", LOG_FIELDS(JOB_FIELDS(j)),
                          "consent of %s changed meanwhile, reading it again", j->phone);
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CONSENT_CONFLICT,
                            "consent: the record kept changing");
                return;
        }
        if (r < 0) {
                job_format_aws_error(buf, sizeof(buf), "consent write", r, err);
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CONSENT_WRITE, "%s", buf);
                return;
        }
        if (j->action == CONSENT_ACTION_OPT_OUT) {
                j->env->stats.opt_outs++;
                log_notice("consent.opted_out",
                           LOG_FIELDS(JOB_FIELDS(j), LF("KEYWORD", j->word), LF("METHOD", "sms")),
                           "%s opted out (%s)", j->phone, j->word);
        } else {
                j->env->stats.opt_ins++;
                log_notice("consent.opted_in",
                           LOG_FIELDS(JOB_FIELDS(j), LF("KEYWORD", j->word), LF("METHOD", "sms")),
                           "%s opted in (%s)", j->phone, j->word);
        }
        job_done(j);
}

static int start_write(struct job *j, enum consent_status to, const char *method,
                       consent_write_cb cb)
{
        struct job_env *env = j->env;
        int r;

        r = consent_write(env->aws, env->config->consent_table,
                          &(struct consent_change){
                                  .phone = j->row->origination_number,
                                  .to = to,
                                  .method = method,
                                  .inbound_message_id = j->row->inbound_message_id,
                                  .now = (time_t)ev_now(env->loop),
                                  .business_days = env->config->consent_business_days,
                                  .holidays = &env->holidays,
                          },
                          &j->rec, cb, j, &j->work.aws);
        if (r >= 0)
                j->work.kind = JOB_WORK_AWS;
        return r;
}

void job_consent_write(struct job *j)
{
        bool out = j->action == CONSENT_ACTION_OPT_OUT;
        int r;

        j->step = JOB_STEP_CONSENT_WRITE;
        r = start_write(j, out ? CONSENT_OPTED_OUT : CONSENT_OPTED_IN, CONSENT_METHOD_SMS,
                        consent_written);
        if (r < 0)
                job_verdict(j, JOB_RETRY, JOB_CAUSE_CONSENT_WRITE, "consent write: %s",
                            strerror(-r));
}

/* --- an opt-out found at AWS ------------------------------------------------------------ */

static void record_read(struct job *j);

static void record_failed(struct job *j, const char *error)
{
        log_error("consent.record_failed", LOG_FIELDS(JOB_FIELDS(j), LF("ERROR", error)),
                  "cannot record that %s opted out at AWS: %s", j->phone, error);
        job_done(j);
}

static void record_written(int r, const struct aws_error *err, void *userdata)
{
        struct job *j = userdata;
        char buf[JOB_DETAIL_MAX];

        if (job_cancelled(j)) {
                job_verdict(j, JOB_CANCELLED, JOB_CAUSE_NONE, NULL);
                return;
        }
        if (r < 0 && (r == -ESTALE || ++j->record_rounds < JOB_RECORD_ROUNDS)) {
                record_read(j);
                return;
        }
        if (r < 0) {
                job_format_aws_error(buf, sizeof(buf), "consent write", r, err);
                record_failed(j, buf);
                return;
        }
        j->env->stats.opt_outs++;
        log_notice("consent.opted_out", LOG_FIELDS(JOB_FIELDS(j), LF("METHOD", CONSENT_METHOD_AWS)),
                   "%s is on the AWS opt-out list: recorded as opted out", j->phone);
        job_done(j);
}

static void record_read_done(int r, const struct consent_record *rec, const struct aws_error *err,
                             void *userdata)
{
        struct job *j = userdata;
        char buf[JOB_DETAIL_MAX];

        if (job_cancelled(j)) {
                job_verdict(j, JOB_CANCELLED, JOB_CAUSE_NONE, NULL);
                return;
        }
        if (r < 0) {
                if (++j->record_rounds < JOB_RECORD_ROUNDS) {
                        record_read(j);
                        return;
                }
                job_format_aws_error(buf, sizeof(buf), "consent read", r, err);
                record_failed(j, buf);
                return;
        }
        if (rec->status == CONSENT_OPTED_OUT) {
                log_info("consent.already_opted_out", LOG_FIELDS(JOB_FIELDS(j)),
                         "%s is already recorded as opted out", j->phone);
                job_done(j);
                return;
        }
        j->rec = *rec;
        r = start_write(j, CONSENT_OPTED_OUT, CONSENT_METHOD_AWS, record_written);
        if (r < 0)
                record_failed(j, strerror(-r));
}

static void record_read(struct job *j)
{
        struct job_env *env = j->env;
        int r;

        r = consent_get(env->aws, env->config->consent_table, j->row->origination_number,
                        record_read_done, j, &j->work.aws);
        if (r < 0) {
                record_failed(j, strerror(-r));
                return;
        }
        j->work.kind = JOB_WORK_AWS;
}

void job_record_opt_out(struct job *j)
{
        j->step = JOB_STEP_RECORD_OPT_OUT;
        count_outcome(j, "opted_out_at_aws");
        record_read(j);
}
