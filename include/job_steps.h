/*
 * job_steps.h — the steps of a job (job.h), one function each. The job's
 * driver (job.h, THE DRIVER: the dispatcher, dispatch.h) calls one at a
 * time; each ends, exactly once, with job_step_done() and a typed verdict —
 * synchronously when it has nothing to wait for, otherwise from the loop —
 * and keeps what it waits for in job->work, so that job_cancel() reaches it.
 *
 *   job_claim()          [dedup]: claim the inbound message id. DONE (and
 *                        job->complete when another instance has it), RETRY
 *                        CLAIM when the claim cannot be decided.
 *   job_cluster_claim()  [cluster]: the sender's lease of the message's lane
 *                        (joined when held here, else taken: the fence), for the conversation
 *                        lane the import of the sender's earlier open records
 *                        stored elsewhere, then the record claimed under the
 *                        fence. DONE (job->complete when another instance
 *                        finished it); RETRY LEASE_HELD, CLUSTER_ORDER or
 *                        CLUSTER (see job_cluster.c).
 *   job_consent_read()   GetItem (consistent), classify the body under the
 *                        state read (keyword.h), consent_decide() into
 *                        job->action. DONE; RETRY CONSENT_READ (fail closed).
 *   job_consent_write()  job->action OPT_OUT or OPT_IN, compare-and-swap.
 *                        DONE; RETRY CONSENT_CONFLICT (the record changed:
 *                        read and decide again) or CONSENT_WRITE.
 *   job_agent()          InvokeAgent, under the turn rule (agent.h, AGENT
 *                        TURNS), a returnControl answered through [agent]
 *                        return_control_url. DONE with job->reply ANSWER
 *                        (job->answer) or FALLBACK (a permanent failure, an
 *                        empty answer, a turn that may not be repeated);
 *                        RETRY AGENT or AGENT_DEPENDENCY; DEAD NO_SESSION.
 *   job_end_session()    an opt-out ends the sender's agent session, so a later
 *                        START begins a fresh conversation (bounded; always
 *                        DONE, a failure is logged).
 *   job_shape()          job->reply's text cut to [sms] max_segments into
 *                        job->text. DONE (job->complete when no text of that
 *                        kind is configured); DEAD UNSENDABLE.
 *   job_send()           hand job->text to the send queue (sms_send_queue.h):
 *                        consent replies as confirmations, the rest as
 *                        answers. Right before SendTextMessage the spool's
 *                        reply state goes to 'sending', and for an answer the
 *                        spool and the consent item are checked once more.
 *                        DONE (job->message_id, or job->opted_out_aws);
 *                        SUPERSEDED SUPPRESSED (the sender opted out); DEAD
 *                        SEND_REFUSED or REPLY_UNKNOWN; RETRY SPOOL.
 *   job_record_opt_out() the destination is on the AWS opt-out list: record
 *                        it (method "aws"). Always DONE (a failure is logged).
 */
#ifndef TWOWAYD_JOB_STEPS_H
#define TWOWAYD_JOB_STEPS_H

#include <stddef.h>

struct job;

void job_claim(struct job *j);
void job_cluster_claim(struct job *j);
void job_consent_read(struct job *j);
void job_consent_write(struct job *j);
void job_agent(struct job *j);
void job_end_session(struct job *j);
void job_shape(struct job *j);
void job_send(struct job *j);
void job_record_opt_out(struct job *j);

/* A failed AWS call as "what: Code: message" (or the errno) into buf. */
struct aws_error;
void job_format_aws_error(char *buf, size_t size, const char *what, int r,
                          const struct aws_error *e);

#endif
