/*
 * job_reply.c — the reply steps: shape the text of job->reply for SMS, then
 * hand it to the send queue and report how it ended.
 *
 * The last check before sending. The send queue calls reply_check() when the
 * reply's slot has come, right before its first SendTextMessage. For an
 * answer (not a consent reply) it checks once more that the sender has not
 * opted out since the answer was asked for: no opt-out stored after this
 * message in the spool (pending, in progress or done), and the consent item
 * not opted out (another instance, twowayctl or AWS's own list may have
 * recorded one). The consent item is read again unless this job's own
 * consistent read of it is younger than JOB_CONSENT_FRESH_S (an agent that
 * answered at once): a second read would narrow no window that the read, the
 * slot and the send themselves do not leave open. Only then is the spool's reply state set to
 * 'sending' (committed), after which the reply may go out at any moment and is never sent again
 * (spool.h, exactly-once replies).
 */
#include <stdio.h>

#include <ev.h>

#include "aws.h"
#include "cluster.h"
#include "config.h"
#include "consent.h"
#include "ddb.h"
#include "job.h"
#include "job_steps.h"
#include "metrics.h"
#include "sms_send_queue.h"
#include "sms_text.h"

#define JOB_CONSENT_FRESH_S 1.0

static bool is_blank(const char *s)
{
        for (; s && *s; s++)
                if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
                        return false;
        return true;
}

/* --- shape ------------------------------------------------------------------------------ */

static const char *reply_text(const struct job *j)
{
        const struct config *c = j->env->config;

        switch (j->reply) {
        case JOB_REPLY_ANSWER:
                return j->answer;
        case JOB_REPLY_OPT_OUT:
                return c->consent_opt_out_reply;
        case JOB_REPLY_OPT_IN:
                return c->consent_opt_in_reply;
        case JOB_REPLY_HELP:
                return c->consent_help_reply;
        case JOB_REPLY_FALLBACK:
        default:
                return c->agent_fallback_reply;
        }
}

void job_shape(struct job *j)
{
        const struct config *c = j->env->config;
        struct sms_text_info info = {0};
        const char *text = reply_text(j), *kind = job_reply_to_string(j->reply);
        char *shaped = NULL;
        int r;

        j->step = JOB_STEP_SHAPE;
        if (isempty(text)) {
                /* An operator who unset the text wants no reply of this kind. */
                log_info("pipeline.no_reply", LOG_FIELDS(JOB_FIELDS(j), LF("REPLY_KIND", kind)),
                         "no %s reply is configured: nothing sent", kind);
                j->complete = true;
                job_done(j);
                return;
        }
        r = sms_text_shape(text, c->sms_max_segments, &shaped, &info);
        if (r < 0 || is_blank(shaped)) {
                free(shaped);
                if (j->reply == JOB_REPLY_ANSWER) {
                        log_warning_errno(r, "pipeline.unusable_answer", LOG_FIELDS(JOB_FIELDS(j)),
                                          "the agent's answer cannot be sent as SMS, sending the "
                                          "fallback reply");
                        j->reply = JOB_REPLY_FALLBACK;
                        job_shape(j);
                } else
                        job_verdict(j, JOB_DEAD, JOB_CAUSE_UNSENDABLE,
                                    "the configured reply cannot be sent as SMS");
                return;
        }
        free(j->text);
        j->text = shaped;
        j->segments = info.segments;
        free(j->identity);
        j->identity = strdup(!isempty(c->sms_origination_identity) ? c->sms_origination_identity
                                                                   : j->row->destination_number);
        if (!j->identity) {
                job_verdict(j, JOB_RETRY, JOB_CAUSE_NO_MEMORY, "out of memory");
                return;
        }
        job_done(j);
}

/* --- the last check before sending ------------------------------------------------------- */

static bool is_confirmation(const struct job *j)
{
        return j->reply == JOB_REPLY_OPT_OUT || j->reply == JOB_REPLY_OPT_IN ||
               j->reply == JOB_REPLY_HELP;
}

static enum sms_send_check withdraw(struct job *j, enum job_cause cause, const char *detail)
{
        j->withdrawn = cause;
        (void)snprintf(j->withdrawn_detail, sizeof(j->withdrawn_detail), "%s", detail);
        return SMS_SEND_WITHDRAW;
}

/* Commit 'sending': from here on the reply is never sent twice. */
static enum sms_send_check commit_sending(struct job *j)
{
        char buf[JOB_DETAIL_MAX];
        int r;

        if (j->send_committed)
                return SMS_SEND_GO;
        r = spool_reply_sending(j->env->spool, j->row->id);
        if (r == -EALREADY)
                return withdraw(j, JOB_CAUSE_REPLY_UNKNOWN, "reply state unknown: not sent again");
        if (r < 0) {
                /* Not committed, so certainly not sent: check again a little later. */
                (void)snprintf(buf, sizeof(buf), "spool: %s", strerror(-r));
                j->withdrawn = JOB_CAUSE_SPOOL;
                (void)snprintf(j->withdrawn_detail, sizeof(j->withdrawn_detail), "%s", buf);
                return SMS_SEND_RECHECK;
        }
        j->send_committed = true;
        return SMS_SEND_GO;
}

/* --- [cluster]: the reply marker ---------------------------------------------------------- */

/* The marker could not be written: what the record says decides. */
static enum sms_send_check judge_marker(struct job *j, const json_t *item)
{
        const char *reply_state = ddb_item_get_s(item, "reply_state");
        const char *owner = ddb_item_get_s(item, "owner");
        long long fence = 0;

        (void)ddb_item_get_n_int(item, "owner_fence", &fence);
        if (reply_state && streq(reply_state, "sent")) {
                (void)snprintf(j->handled_by, sizeof(j->handled_by), "%s", owner ? owner : "");
                return withdraw(j, JOB_CAUSE_HANDLED_ELSEWHERE,
                                "the reply was already sent by another instance");
        }
        if (reply_state)
                return withdraw(j, JOB_CAUSE_REPLY_UNKNOWN,
                                "reply state unknown: another attempt began sending it");
        if (!owner || !streq(owner, j->env->instance) || fence != j->fence)
                return withdraw(j, JOB_CAUSE_LEASE_HELD,
                                "the message was claimed under a newer lease");
        j->withdrawn = JOB_CAUSE_CLUSTER;
        (void)snprintf(j->withdrawn_detail, sizeof(j->withdrawn_detail),
                       "the reply marker could not be written");
        return SMS_SEND_RECHECK;
}

static void marker_read_cb(int r, const struct ddb_result *res, void *userdata)
{
        struct job *j = userdata;
        struct sms_send_entry *e = j->work.send;

        if (job_cancelled(j)) {
                sms_send_entry_proceed(e, SMS_SEND_WITHDRAW);
                return;
        }
        if (r < 0 || !res->item) {
                j->withdrawn = JOB_CAUSE_CLUSTER;
                job_format_aws_error(j->withdrawn_detail, sizeof(j->withdrawn_detail),
                                     "cluster record read", r, res->aws->error);
                sms_send_entry_proceed(e, SMS_SEND_RECHECK);
                return;
        }
        sms_send_entry_proceed(e, judge_marker(j, res->item));
}

static void marker_cb(int r, const struct ddb_result *res, void *userdata)
{
        struct job *j = userdata;
        struct sms_send_entry *e = j->work.send;
        const struct spool_row *row = j->row;

        if (job_cancelled(j)) {
                sms_send_entry_proceed(e, SMS_SEND_WITHDRAW);
                return;
        }
        if (r >= 0) {
                j->marked = true;
                sms_send_entry_proceed(e, commit_sending(j));
                return;
        }
        if (!res->condition_failed) {
                /* Not written, so certainly not sent: check again a little later. */
                cluster_count_failure(j->env->cluster);
                j->withdrawn = JOB_CAUSE_CLUSTER;
                job_format_aws_error(j->withdrawn_detail, sizeof(j->withdrawn_detail),
                                     "reply marker", r, res->aws->error);
                sms_send_entry_proceed(e, SMS_SEND_RECHECK);
                return;
        }
        if (res->item) {
                sms_send_entry_proceed(e, judge_marker(j, res->item));
                return;
        }
        r = cluster_call(j->env->cluster, "GetItem",
                         cluster_record_get_request(cluster_params(j->env->cluster),
                                                    row->origination_number, row->received_at,
                                                    row->inbound_message_id),
                         marker_read_cb, j, NULL);
        if (r < 0) {
                j->withdrawn = JOB_CAUSE_CLUSTER;
                (void)snprintf(j->withdrawn_detail, sizeof(j->withdrawn_detail),
                               "cluster record read: %s", strerror(-r));
                sms_send_entry_proceed(e, SMS_SEND_RECHECK);
        }
}

/* The last step before 'sending': in cluster mode the marker on the record,
 * conditioned on this job's fence, so that no other instance ever sends this
 * reply (and this one never sends one that another began). */
static void go(struct job *j, struct sms_send_entry *e)
{
        const struct spool_row *row = j->row;
        int r;

        if (!j->env->cluster || j->marked || j->send_committed) {
                sms_send_entry_proceed(e, commit_sending(j));
                return;
        }
        r = cluster_call(j->env->cluster, "UpdateItem",
                         cluster_marker_request(cluster_params(j->env->cluster),
                                                row->origination_number, row->received_at,
                                                row->inbound_message_id, j->fence,
                                                (int64_t)(ev_now(j->env->loop) * 1000.)),
                         marker_cb, j, NULL);
        if (r < 0) {
                j->withdrawn = JOB_CAUSE_CLUSTER;
                (void)snprintf(j->withdrawn_detail, sizeof(j->withdrawn_detail), "reply marker: %s",
                               strerror(-r));
                sms_send_entry_proceed(e, SMS_SEND_RECHECK);
        }
}

static enum sms_send_check suppressed(struct job *j, const char *why)
{
        return withdraw(j, JOB_CAUSE_SUPPRESSED, why);
}

static void check_consent_done(int r, const struct consent_record *rec, const struct aws_error *err,
                               void *userdata)
{
        struct job *j = userdata;
        struct sms_send_entry *e = j->work.send;
        char buf[JOB_DETAIL_MAX];

        if (job_cancelled(j)) {
                sms_send_entry_proceed(e, SMS_SEND_WITHDRAW);
                return;
        }
        if (r < 0) {
                /* Fail closed: not without knowing the consent state. */
                job_format_aws_error(buf, sizeof(buf), "consent read", r, err);
                j->withdrawn = JOB_CAUSE_CONSENT_READ;
                (void)snprintf(j->withdrawn_detail, sizeof(j->withdrawn_detail), "%s", buf);
                sms_send_entry_proceed(e, SMS_SEND_RECHECK);
                return;
        }
        if (rec->status == CONSENT_OPTED_OUT) {
                sms_send_entry_proceed(e, suppressed(j, "the sender opted out: reply not sent"));
                return;
        }
        go(j, e);
}

static void reply_check(struct sms_send_entry *e, void *userdata)
{
        struct job *j = userdata;
        struct job_env *env = j->env;
        int r;

        if (job_cancelled(j)) {
                sms_send_entry_proceed(e, SMS_SEND_WITHDRAW);
                return;
        }
        if (is_confirmation(j)) {
                go(j, e);
                return;
        }
        if (j->send_committed) {
                sms_send_entry_proceed(e, SMS_SEND_GO);
                return;
        }
        r = spool_opt_out_after(env->spool, j->row->origination_number, j->row->received_at,
                                j->row->id);
        if (r > 0) {
                sms_send_entry_proceed(
                        e,
                        suppressed(j, "the sender opted out after this message: reply not sent"));
                return;
        }
        /* In a cluster an opt-out may come from another instance at any time:
         * the consent item is always read again. */
        if (r == 0 && !env->cluster &&
            ev_now(env->loop) - j->consent_read_at < JOB_CONSENT_FRESH_S) {
                go(j, e);
                return;
        }
        if (r == 0)
                r = consent_get(env->aws, env->config->consent_table, j->row->origination_number,
                                check_consent_done, j, NULL);
        if (r < 0) {
                j->withdrawn = JOB_CAUSE_SPOOL;
                (void)snprintf(j->withdrawn_detail, sizeof(j->withdrawn_detail),
                               "last check before sending: %s", strerror(-r));
                sms_send_entry_proceed(e, SMS_SEND_RECHECK);
        }
}

/* --- send --------------------------------------------------------------------------------- */

static void reply_attempted(const struct sms_send_text_result *res, unsigned attempt,
                            void *userdata)
{
        struct job *j = userdata;
        struct job_env *env = j->env;
        char buf[JOB_DETAIL_MAX], latency[24], segments[16], what[400];
        const char *kind = job_reply_to_string(j->reply), *failure;
        bool unknown;

        (void)snprintf(latency, sizeof(latency), "%.0f", res->latency_ms);
        (void)metrics_histogram_observe(env->m.sms_latency,
                                        METRICS_LABELS(res->r >= 0 ? "sent" : "failed"),
                                        res->latency_ms / 1000.);
        if (res->r >= 0) {
                (void)snprintf(segments, sizeof(segments), "%u", j->segments);
                env->stats.replies_sent++;
                if (j->reply == JOB_REPLY_FALLBACK)
                        env->stats.fallbacks_sent++;
                (void)metrics_counter_inc(env->m.outcomes, METRICS_LABELS(kind));
                log_info("sms.sent",
                         LOG_FIELDS(JOB_FIELDS(j), LF("SMS_MESSAGE_ID", res->message_id),
                                    LF("SEGMENTS", segments), LF("REPLY_KIND", kind),
                                    LF("LATENCY_MS", latency),
                                    LF("AWS_REQUEST_ID", res->request_id)),
                         "replied to %s (%s, %s segments, message %s)", j->phone, kind, segments,
                         res->message_id);
                return;
        }
        job_format_aws_error(buf, sizeof(buf), "reply", res->r, res->error);
        failure = sms_send_text_failure_to_string(res->failure);
        /* Not this message's fault but the configuration's: say what to fix. */
        unknown = sms_send_text_identity_unknown(res->error, res->reason);
        if (unknown)
                (void)snprintf(what, sizeof(what),
                               "refused: %s is not a phone number, pool or sender ID of this "
                               "account (set [sms] origination_identity to one, or to its full "
                               "ARN if it is shared)",
                               j->identity);
        else
                (void)snprintf(what, sizeof(what), "failed (%s)", failure);
        log_emit(unknown ? LOG_ERR : LOG_WARNING, 0, "sms.failed",
                 LOG_FIELDS(JOB_FIELDS(j), LF("ERROR", buf), LF("SMS_FAILURE", failure),
                            LF("REASON", isempty(res->reason) ? NULL : res->reason),
                            LF("ORIGINATION_IDENTITY", j->identity), LF("LATENCY_MS", latency),
                            LF("AWS_REQUEST_ID", res->request_id)),
                 "reply to %s %s: %s", j->phone, what, buf);
}

static void reply_sent(const struct sms_send_result *res, void *userdata)
{
        struct job *j = userdata;

        /* A reply that went out is recorded whatever else happened meanwhile. */
        if (res->outcome == SMS_SEND_SENT) {
                free(j->message_id);
                j->message_id = strdup(res->message_id);
                if (j->env)
                        cluster_reply_sent(j->env->cluster, j->row, res->message_id);
                job_done(j);
                return;
        }
        if (job_cancelled(j) || res->outcome == SMS_SEND_CANCELLED) {
                job_verdict(j, JOB_CANCELLED, JOB_CAUSE_NONE, NULL);
                return;
        }
        switch (res->outcome) {
        case SMS_SEND_OPTED_OUT:
                j->opted_out_aws = true;
                job_done(j);
                return;
        case SMS_SEND_UNKNOWN:
                job_verdict(j, JOB_DEAD, JOB_CAUSE_REPLY_UNKNOWN, "reply state unknown: %s",
                            res->error);
                return;
        case SMS_SEND_WITHDRAWN:
                switch (j->withdrawn) {
                case JOB_CAUSE_SUPPRESSED:
                        job_verdict(j, JOB_SUPERSEDED, JOB_CAUSE_SUPPRESSED, "%s",
                                    j->withdrawn_detail);
                        return;
                case JOB_CAUSE_REPLY_UNKNOWN:
                        job_verdict(j, JOB_DEAD, JOB_CAUSE_REPLY_UNKNOWN, "%s",
                                    j->withdrawn_detail);
                        return;
                case JOB_CAUSE_HANDLED_ELSEWHERE:
                        log_info("cluster.handled_elsewhere",
                                 LOG_FIELDS(JOB_FIELDS(j), LF("OWNER", j->handled_by)),
                                 "message %s was answered by instance %s", j->spool_id,
                                 j->handled_by);
                        j->complete = true;
                        job_done(j);
                        return;
                default:
                        /* The check kept failing; nothing was sent. */
                        job_verdict(j, JOB_RETRY,
                                    j->withdrawn == JOB_CAUSE_NONE ? JOB_CAUSE_SPOOL : j->withdrawn,
                                    "%s", j->withdrawn_detail);
                        return;
                }
        case SMS_SEND_REFUSED:
        default:
                job_verdict(j, JOB_DEAD, JOB_CAUSE_SEND_REFUSED, "%s",
                            isempty(res->error) ? "reply not sent" : res->error);
                return;
        }
}

void job_send(struct job *j)
{
        static const struct sms_send_ops ops = {
                .before_send = reply_check,
                .attempted = reply_attempted,
                .done = reply_sent,
        };
        struct job_env *env = j->env;
        const struct config *c = env->config;
        int r;

        j->step = JOB_STEP_SEND;
        j->withdrawn = JOB_CAUSE_NONE;
        r = sms_send_queue_add(
                env->sendq,
                &(struct sms_send_request){
                        .send_class = is_confirmation(j) ? SMS_SEND_CONFIRMATION : SMS_SEND_ANSWER,
                        .parts = j->segments ? j->segments : 1,
                        .params =
                                {
                                        .destination = j->row->origination_number,
                                        .origination_identity = j->identity,
                                        .body = j->text,
                                        .message_type = c->sms_message_type,
                                        .configuration_set = c->sms_configuration_set,
                                        .max_price = c->sms_max_price,
                                        .time_to_live = c->sms_time_to_live,
                                        .inbound_message_id = j->row->inbound_message_id,
                                },
                },
                &ops, j, &j->work.send);
        if (r < 0) {
                job_verdict(j, JOB_RETRY, r == -ENOMEM ? JOB_CAUSE_NO_MEMORY : JOB_CAUSE_INTERNAL,
                            "reply not queued: %s", strerror(-r));
                return;
        }
        j->work.kind = JOB_WORK_SEND;
}
