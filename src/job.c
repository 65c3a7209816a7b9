/*
 * job.c — a job's life outside its steps: the one handle of its work in
 * flight and its cancellation, the end of a step (job_step_done(), which
 * hands the verdict to the driver the job's environment names, job.h THE
 * DRIVER), verdicts and their names.
 */
#include <stdarg.h>
#include <stdio.h>

#include "agent.h"
#include "agent_turn.h"
#include "aws.h"
#include "cluster.h"
#include "dedup.h"
#include "job.h"
#include "sms_send_queue.h"

static const char *const step_names[_JOB_STEP_MAX] = {
        [JOB_STEP_CLAIM] = "claim",
        [JOB_STEP_CONSENT_READ] = "consent_read",
        [JOB_STEP_CONSENT_WRITE] = "consent_write",
        [JOB_STEP_AGENT] = "agent",
        [JOB_STEP_END_SESSION] = "end_session",
        [JOB_STEP_SHAPE] = "shape",
        [JOB_STEP_SEND] = "send",
        [JOB_STEP_RECORD_OPT_OUT] = "record_opt_out",
};

static const char *const verdict_names[_JOB_VERDICT_MAX] = {
        [JOB_DONE] = "done",           [JOB_RETRY] = "retry",
        [JOB_DEAD] = "dead",           [JOB_SUPERSEDED] = "superseded",
        [JOB_CANCELLED] = "cancelled",
};

static const char *const cause_names[_JOB_CAUSE_MAX] = {
        [JOB_CAUSE_NONE] = "none",
        [JOB_CAUSE_CLAIM] = "claim",
        [JOB_CAUSE_CONSENT_READ] = "consent_read",
        [JOB_CAUSE_CONSENT_WRITE] = "consent_write",
        [JOB_CAUSE_CONSENT_CONFLICT] = "consent_conflict",
        [JOB_CAUSE_AGENT] = "agent",
        [JOB_CAUSE_AGENT_DEPENDENCY] = "agent_dependency",
        [JOB_CAUSE_SPOOL] = "spool",
        [JOB_CAUSE_NO_MEMORY] = "no_memory",
        [JOB_CAUSE_NO_SESSION] = "no_session",
        [JOB_CAUSE_UNSENDABLE] = "unsendable",
        [JOB_CAUSE_SEND_REFUSED] = "send_refused",
        [JOB_CAUSE_REPLY_UNKNOWN] = "reply_unknown",
        [JOB_CAUSE_MAX_AGE] = "max_age",
        [JOB_CAUSE_OPTED_OUT] = "opted_out",
        [JOB_CAUSE_SUPPRESSED] = "suppressed",
        [JOB_CAUSE_INTERNAL] = "internal",
        [JOB_CAUSE_LEASE_HELD] = "lease_held",
        [JOB_CAUSE_CLUSTER] = "cluster",
        [JOB_CAUSE_CLUSTER_ORDER] = "cluster_order",
        [JOB_CAUSE_HANDLED_ELSEWHERE] = "handled_elsewhere",
};

static const char *const reply_names[_JOB_REPLY_MAX] = {
        [JOB_REPLY_NONE] = "none",       [JOB_REPLY_ANSWER] = "answer",
        [JOB_REPLY_OPT_OUT] = "opt_out", [JOB_REPLY_OPT_IN] = "opt_in",
        [JOB_REPLY_HELP] = "help",       [JOB_REPLY_FALLBACK] = "fallback",
};

const char *job_step_to_string(enum job_step s)
{
        return string_table_name(step_names, ARRAY_SIZE(step_names), s);
}

const char *job_verdict_to_string(enum job_verdict_kind k)
{
        return string_table_name(verdict_names, ARRAY_SIZE(verdict_names), k);
}

const char *job_cause_to_string(enum job_cause c)
{
        return string_table_name(cause_names, ARRAY_SIZE(cause_names), c);
}

enum job_cause job_cause_from_string(const char *s)
{
        int i = string_table_index(cause_names, ARRAY_SIZE(cause_names), s);

        return i < 0 ? JOB_CAUSE_NONE : (enum job_cause)i;
}

const char *job_reply_to_string(enum job_reply r)
{
        return string_table_name(reply_names, ARRAY_SIZE(reply_names), r);
}

void job_free(struct job *j)
{
        if (!j)
                return;
        spool_row_free(j->row);
        free(j->answer);
        free(j->text);
        free(j->identity);
        free(j->message_id);
        free(j->invocation_id);
        free(j);
}

bool job_is_keyword(const struct job *j)
{
        return j->row->keyword_class != SPOOL_CLASS_OTHER;
}

bool job_cancel(struct job *j, enum job_cancel why)
{
        if (j->work.kind == JOB_WORK_NONE)
                return false;
        /* A shutdown outranks a supersede: the row then stays in progress and
         * is superseded again after the restart, when its opt-out is seen. */
        if (j->cancel == JOB_CANCEL_NONE || why == JOB_CANCEL_SHUTDOWN)
                j->cancel = why;
        switch (j->work.kind) {
        case JOB_WORK_AWS:
                aws_call_cancel(j->work.aws);
                break;
        case JOB_WORK_AGENT:
                agent_call_cancel(j->work.agent);
                break;
        case JOB_WORK_CLAIM:
                dedup_claim_cancel(j->work.claim);
                break;
        case JOB_WORK_WEBHOOK:
                agent_webhook_cancel(j->work.webhook);
                break;
        case JOB_WORK_SEND:
                sms_send_entry_cancel(j->work.send);
                break;
        case JOB_WORK_IMPORT:
                cluster_import_batch_cancel(j->work.import);
                break;
        case JOB_WORK_NONE:
                break;
        }
        return true;
}

void job_step_done(struct job *j, const struct job_verdict *v)
{
        j->work = (struct job_work){0};
        if (!j->env) {
                /* Orphaned: its driver is gone, this was its last callback. */
                job_free(j);
                return;
        }
        j->env->drive(j, v);
}

void job_done(struct job *j)
{
        job_step_done(j, &(struct job_verdict){.kind = JOB_DONE});
}

void job_verdict(struct job *j, enum job_verdict_kind kind, enum job_cause cause,
                 const char *detail_fmt, ...)
{
        struct job_verdict v = {.kind = kind, .cause = cause};
        va_list ap;

        if (detail_fmt) {
                va_start(ap, detail_fmt);
                (void)vsnprintf(v.detail, sizeof(v.detail), detail_fmt, ap);
                va_end(ap);
        }
        if (isempty(v.detail))
                (void)snprintf(v.detail, sizeof(v.detail), "%s", job_cause_to_string(cause));
        job_step_done(j, &v);
}
