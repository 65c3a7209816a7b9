/*
 * job.h — one stored message being worked on: its state, the one handle of
 * the work it has in flight, and the typed verdicts its steps return.
 *
 * A job is driven by its driver, which owns it: the driver starts one step at
 * a time (job_steps.h) and each step answers exactly once with
 * job_step_done() and a verdict:
 *
 *   DONE        the step did its work; the driver picks the next step from
 *               what the job now holds (the consent action, the reply);
 *   RETRY       a transient failure, with a typed cause: the driver retries
 *               the step at once (a consent write that lost its
 *               compare-and-swap) or puts the row back for later with
 *               backoff, or past [dispatch] max_age ends it (the fallback
 *               reply when the agent was the cause, dead otherwise);
 *   DEAD        give up, with a typed cause; the row becomes dead;
 *   SUPERSEDED  the sender opted out: the row is closed without a reply;
 *   CANCELLED   the work was cancelled from outside (job_cancel()).
 *
 * THE HANDLE. While a step waits for something (a DynamoDB call, the agent,
 * the send queue) the job holds exactly one handle to it in job->work, and
 * job_cancel() cancels whatever that is; the step then answers CANCELLED and
 * the driver does what the cancel was for (supersede the row, or drop the job
 * at shutdown). The one test a step makes is job_cancelled() first thing in
 * each callback, to answer CANCELLED whatever the work's own result; whether
 * the job is orphaned (its driver gone) and what the cancel was for are
 * decided in one place, job_step_done() and the driver.
 *
 * THE DRIVER. The job layer (this header, job_steps.h and their sources)
 * depends on nothing above it: job_step_done() hands each verdict to the
 * driver that the job's environment names (job_env.drive), and the driver
 * alone decides what follows. In the daemon the driver is the dispatcher
 * (dispatch.h), which registers it when it builds the environment; a unit
 * test of a step registers one that records the verdict. Either way the job
 * layer never names the dispatcher, so the include and link graphs have no
 * circle.
 *
 * Ownership: struct job_env belongs to whoever drives the jobs (the
 * dispatcher) and outlives every job that is not orphaned; an orphaned job
 * (job->env NULL, its driver is gone) only waits for its last callback, and
 * job_step_done() then frees it without asking any driver. The row and every
 * string of the job are the job's own (job_free()).
 */
#ifndef TWOWAYD_JOB_H
#define TWOWAYD_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "business_days.h"
#include "common.h"
#include "consent.h"
#include "keyword.h"
#include "log.h"
#include "spool.h"

struct ev_loop;
struct config;
struct aws_client;
struct aws_call;
struct agent_call;
struct agent_turns;
struct agent_webhook;
struct dedup_claim;
struct cluster;
struct cluster_import_batch;
struct sms_send_entry;
struct sms_send_queue;
struct metrics_family;
struct job;
struct job_verdict;

#define JOB_DETAIL_MAX 512

enum job_step {
        JOB_STEP_CLAIM, /* the cross-instance claim ([dedup]; [cluster]: lease + fenced claim) */
        JOB_STEP_CONSENT_READ,   /* GetItem, then the keyword and consent decision */
        JOB_STEP_CONSENT_WRITE,  /* the opt-out or opt-in, compare-and-swap */
        JOB_STEP_AGENT,          /* InvokeAgent (and return of control) */
        JOB_STEP_END_SESSION,    /* an opt-out ends the agent session */
        JOB_STEP_SHAPE,          /* the reply's text, cut to SMS */
        JOB_STEP_SEND,           /* the send queue, then SendTextMessage */
        JOB_STEP_RECORD_OPT_OUT, /* the destination refused at AWS: record it */
        _JOB_STEP_MAX,
};

enum job_verdict_kind {
        JOB_DONE,
        JOB_RETRY,
        JOB_DEAD,
        JOB_SUPERSEDED,
        JOB_CANCELLED,
        _JOB_VERDICT_MAX,
};

/* Why a step did not end with DONE. The names are stored in the spool
 * (retry_cause) and read back: keep them stable. */
enum job_cause {
        JOB_CAUSE_NONE,
        JOB_CAUSE_CLAIM,            /* the [dedup] claim could not be decided */
        JOB_CAUSE_CONSENT_READ,     /* consent unknown: nothing may be sent (fail closed) */
        JOB_CAUSE_CONSENT_WRITE,    /* the change could not be written */
        JOB_CAUSE_CONSENT_CONFLICT, /* the record changed between read and write */
        JOB_CAUSE_AGENT,            /* a retryable agent failure */
        JOB_CAUSE_AGENT_DEPENDENCY, /* the agent's DependencyFailedException: retried once */
        JOB_CAUSE_SPOOL,            /* a spool write failed before anything was sent */
        JOB_CAUSE_NO_MEMORY,
        JOB_CAUSE_NO_SESSION,    /* the number gives no agent session id */
        JOB_CAUSE_UNSENDABLE,    /* the configured reply cannot be sent as SMS */
        JOB_CAUSE_SEND_REFUSED,  /* SendTextMessage refused it for good */
        JOB_CAUSE_REPLY_UNKNOWN, /* the reply may have been sent: never again */
        JOB_CAUSE_MAX_AGE,       /* past [dispatch] max_age */
        JOB_CAUSE_OPTED_OUT,     /* superseded: the sender opted out after this message */
        JOB_CAUSE_SUPPRESSED,    /* superseded at the last check before sending */
        JOB_CAUSE_INTERNAL,
        JOB_CAUSE_LEASE_HELD,        /* [cluster]: another instance holds the sender's lease */
        JOB_CAUSE_CLUSTER,           /* [cluster]: the table could not be reached */
        JOB_CAUSE_CLUSTER_ORDER,     /* [cluster]: earlier messages were imported: them first */
        JOB_CAUSE_HANDLED_ELSEWHERE, /* [cluster]: another instance answered it */
        _JOB_CAUSE_MAX,
};

struct job_verdict {
        enum job_verdict_kind kind;
        enum job_cause cause;
        char detail[JOB_DETAIL_MAX]; /* for logs and the spool's last_error */
};

/* What a reply is. */
enum job_reply {
        JOB_REPLY_NONE,
        JOB_REPLY_ANSWER,
        JOB_REPLY_OPT_OUT,
        JOB_REPLY_OPT_IN,
        JOB_REPLY_HELP,
        JOB_REPLY_FALLBACK,
        _JOB_REPLY_MAX,
};

/* The one piece of work a job has in flight. */
enum job_work_kind {
        JOB_WORK_NONE,
        JOB_WORK_AWS,     /* a DynamoDB call */
        JOB_WORK_AGENT,   /* InvokeAgent */
        JOB_WORK_CLAIM,   /* the [dedup] claim */
        JOB_WORK_WEBHOOK, /* [agent] return_control_url */
        JOB_WORK_SEND,    /* an entry of the send queue */
        JOB_WORK_IMPORT,  /* [cluster]: records being stored in the spool */
};

struct job_work {
        enum job_work_kind kind;
        union {
                struct aws_call *aws;
                struct agent_call *agent;
                struct dedup_claim *claim;
                struct agent_webhook *webhook;
                struct sms_send_entry *send;
                struct cluster_import_batch *import;
        };
};

/* Why job_cancel() was called, for the driver when CANCELLED comes back. */
enum job_cancel {
        JOB_CANCEL_NONE,
        JOB_CANCEL_SUPERSEDE,  /* an opt-out of the sender: close the row without a reply */
        JOB_CANCEL_STOP,       /* stopping: a reply not yet sent goes back to pending */
        JOB_CANCEL_SHUTDOWN,   /* the dispatcher is going: leave the row in progress */
        JOB_CANCEL_LEASE_LOST, /* [cluster]: the sender's lease went elsewhere: back to pending */
};

struct job_metrics {
        struct metrics_family *outcomes;
        struct metrics_family *blocked;
        struct metrics_family *suppressed;
        struct metrics_family *superseded;
        struct metrics_family *agent_latency;
        struct metrics_family *sms_latency;
        struct metrics_family *in_flight;
        struct metrics_family *send_waiting;
};

/* Counters of the job engine since its environment was built, read by the
 * tests of the steps (operators see the same events in /metrics): the steps
 * count what they did, the driver how rows ended. */
struct job_stats {
        uint64_t claimed;        /* rows taken from the spool */
        uint64_t done;           /* rows finished as done */
        uint64_t dead;           /* rows finished as dead */
        uint64_t superseded;     /* rows closed without a reply: the sender opted out */
        uint64_t retried;        /* rows put back for a later attempt */
        uint64_t blocked;        /* conversational messages from opted-out numbers */
        uint64_t replies_sent;   /* SendTextMessage successes, of any kind */
        uint64_t fallbacks_sent; /* of which [agent] fallback_reply */
        uint64_t suppressed;     /* replies dropped at the last check before sending */
        uint64_t reply_unknown;  /* rows whose reply may or may not have been sent */
        uint64_t opt_outs;       /* opt-outs written (sms or aws) */
        uint64_t opt_ins;        /* opt-ins written */
};

/* What a step's verdict goes to: the driver (see THE DRIVER above). Called
 * once per step, with the job's work already cleared; never for an orphaned
 * job. */
typedef void (*job_drive_fn)(struct job *j, const struct job_verdict *v);

/* What the steps borrow from their driver (the dispatcher). */
struct job_env {
        struct ev_loop *loop;
        const struct config *config;
        struct spool *spool;
        struct aws_client *aws;
        struct keyword_rules *rules;
        struct business_days_holidays holidays;
        struct sms_send_queue *sendq;
        struct agent_turns *turns;
        char instance[320];      /* for [dedup] claims */
        struct cluster *cluster; /* [cluster] table set: borrowed from the service, or NULL */
        job_drive_fn drive;      /* receives every verdict (never NULL) */
        struct job_stats stats;
        struct job_metrics m;
};

struct job {
        struct job_env *env; /* NULL: orphaned (its driver is gone) */
        struct job *prev, *next;
        struct spool_row *row;
        enum job_step step;
        struct job_work work;
        enum job_cancel cancel;
        bool waiting_to_send;      /* in the send queue: holds no dispatch slot */
        char phone[LOG_PHONE_MAX]; /* masked sender, for logs */
        char spool_id[24];
        char attempt[16];

        /* consent */
        struct consent_record rec;
        double consent_read_at; /* loop time of the last successful consent read */
        enum keyword_kind kind;
        char word[KEYWORD_ENTRY_MAX + 1];
        enum consent_action action;
        unsigned rounds;        /* consent read-decide-write rounds */
        bool stale;             /* past max age when claimed: the fallback, not the agent */
        unsigned record_rounds; /* recording an AWS-side opt-out */

        /* agent */
        unsigned returns;    /* returnControl rounds answered for this message */
        char *invocation_id; /* of the returnControl being answered */

        /* reply */
        enum job_reply reply;
        char *answer; /* the agent's text, for JOB_REPLY_ANSWER */
        char *text;   /* the shaped body */
        unsigned segments;
        char *identity;
        char *message_id;         /* SendTextMessage's MessageId */
        bool opted_out_aws;       /* the send was refused: on the AWS opt-out list */
        bool send_committed;      /* the spool says 'sending': the reply may go any moment */
        enum job_cause withdrawn; /* why the last check before sending said no */
        char withdrawn_detail[JOB_DETAIL_MAX];

        bool complete; /* nothing left to do after this step: the row is done */

        /* [cluster] */
        long long fence; /* of the sender's lease held for this job */
        bool leased;     /* the lease is held (dropped when the job ends) */
        bool claimed;    /* the record is ours under fence (finished when the job ends) */
        bool marked;     /* the reply marker is written */
        char handled_by[320];
        char order_after[320]; /* the order check's next page starts after this sk ("": none) */
        unsigned order_pages;  /* pages the order check read in this attempt */
};

#define JOB_FIELDS(j)                                                                              \
        LF("INBOUND_MESSAGE_ID", (j)->row->inbound_message_id), LF("PHONE", (j)->phone),           \
                LF("SPOOL_ID", (j)->spool_id), LF("ATTEMPT", (j)->attempt)

/* Frees the row, the strings and the job (allocated by its driver, with the
 * struct job at the start of whatever it allocated). */
void job_free(struct job *j);

/* Cancel the work in flight, for why; its step answers CANCELLED later. Returns
 * false when nothing was in flight (nothing will answer). */
bool job_cancel(struct job *j, enum job_cancel why);

/* Whether job_cancel() was called: the work's callback then answers
 * CANCELLED whatever the work's own result, and touches nothing else (the
 * driver may be gone). */
static inline bool job_cancelled(const struct job *j)
{
        return j->cancel != JOB_CANCEL_NONE;
}

/* Whether the job's message is a consent keyword (decided at ingest). */
bool job_is_keyword(const struct job *j);

/* The one way a step ends: clears job->work, then hands v to env->drive, or
 * frees an orphaned job (its last callback). */
void job_step_done(struct job *j, const struct job_verdict *v);

/* Shorthands for steps: end the step with a verdict. detail may be NULL. */
void job_done(struct job *j);
void job_verdict(struct job *j, enum job_verdict_kind kind, enum job_cause cause,
                 const char *detail_fmt, ...) _printf_(4, 5);

const char *job_step_to_string(enum job_step s);
const char *job_verdict_to_string(enum job_verdict_kind k);
const char *job_cause_to_string(enum job_cause c);
enum job_cause job_cause_from_string(const char *s); /* JOB_CAUSE_NONE if unknown */
const char *job_reply_to_string(enum job_reply r);

#endif
