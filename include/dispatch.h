/*
 * dispatch.h — the dispatcher: the job engine that turns each stored inbound
 * SMS into exactly one outcome.
 *
 * It walks the spool (oldest first, in each sender's order, see spool.h),
 * claims ready rows up to [dispatch] concurrency and drives each as a job
 * (job.h) through its steps (job_steps.h): the [dedup] claim, the consent
 * read and decision, the consent write, the agent, the shaping of the reply
 * and its sending through the send queue (sms_send_queue.h). Every step
 * returns a typed verdict to one driver, the dispatcher's, which it
 * registers in the jobs' environment (job.h, THE DRIVER: the job layer
 * never calls up into the dispatcher), and which alone decides what follows:
 * the next step, a retry (kept in the spool with backoff, so a restart
 * resumes it; past [dispatch] max_age the fallback reply when the agent was
 * the cause, dead otherwise), dead, or superseded.
 *
 * CONSENT FIRST. A consent keyword (classified when stored) is claimed as
 * soon as it is ready, whatever the sender's other messages are doing, and
 * outside the concurrency limit of other messages. When an opt-out is
 * claimed (or written), every earlier unfinished message of that sender that
 * is not a keyword is superseded: pending rows at once, in-flight jobs by
 * cancelling their work (an agent call, a reply waiting for its slot); a
 * reply already handed to SendTextMessage cannot be recalled and is recorded
 * as sent. Rows become 'superseded', never 'dead'.
 *
 * A reply waiting in the send queue holds no dispatch slot: the job stays
 * (its row in progress, so the sender's order holds) but other rows are
 * claimed meanwhile, up to DISPATCH_WAITING_MAX waiting replies per slot.
 *
 * The service owns the spool and the AWS client; the dispatcher borrows them
 * for its lifetime. The config is borrowed too: dispatch_set_config() hands
 * over a new one after a reload (the old one must stay valid until that call
 * returns; work in flight copies what outlives a step).
 *
 * Ownership: dispatch_new() returns a dispatcher owned by the caller,
 * released with dispatch_free(), which cancels work in flight (rows in
 * progress go back to pending at the next start).
 */
#ifndef TWOWAYD_DISPATCH_H
#define TWOWAYD_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "job.h"

struct ev_loop;
struct config;
struct spool;
struct aws_client;
struct dispatch;

#define DISPATCH_WAITING_MAX 16 /* replies waiting in the send queue, per concurrency slot */

typedef void (*dispatch_stopped_fn)(struct dispatch *d, void *userdata);

int dispatch_new(struct ev_loop *loop, const struct config *config, struct spool *spool,
                 struct aws_client *aws, struct dispatch **ret);
struct dispatch *dispatch_free(struct dispatch *d);

/* [cluster]: the claim becomes the sender's lease and the fenced claim of the
 * message record (cluster.h); cl (borrowed) must outlive the dispatcher. The
 * records of the rows the spool's recovery closed at start
 * (spool_recovered_dead()) are finished then. */
struct cluster;
void dispatch_set_cluster(struct dispatch *d, struct cluster *cl);

/* New rows were stored: look for ready work now rather than at the next tick. */
void dispatch_kick(struct dispatch *d);

/* A reloaded config (validated). */
void dispatch_set_config(struct dispatch *d, const struct config *config);

/* Stop claiming new rows; replies still waiting for their slot go back to
 * pending; call done (from the loop, once) when nothing is in flight any
 * more. The caller bounds how long it waits. */
void dispatch_stop(struct dispatch *d, dispatch_stopped_fn done, void *userdata);

/* --- pure helpers, exposed for tests ------------------------------------------------ */

/* The delay before attempt attempts + 1 of a row that failed attempts + 1
 * times so far: initial_ms doubled per earlier attempt, capped at max_ms,
 * then "equal jitter": half of it fixed, the other half scaled by r in
 * [0, 1). Never below 1 ms. */
int64_t dispatch_retry_delay_ms(unsigned initial_ms, unsigned max_ms, unsigned attempts, double r);

/* Whether a row received at received_at (ms) may still be attempted at
 * at_ms, given max_age_s. */
bool dispatch_within_max_age(int64_t received_at, int64_t at_ms, unsigned max_age_s);

/* What the driver does with verdict v of step, for a job whose row's last
 * retry had cause last_cause, after rounds consent rounds, with the retry
 * landing within max age (within_max_age). */
enum dispatch_action {
        DISPATCH_NEXT,        /* start the next step */
        DISPATCH_AGAIN,       /* run the consent read again now (lost compare-and-swap) */
        DISPATCH_RETRY_LATER, /* back to the spool with backoff */
        DISPATCH_FALLBACK,    /* send the fallback reply instead */
        DISPATCH_FINISH_DONE,
        DISPATCH_FINISH_DEAD,
        DISPATCH_FINISH_SUPERSEDED,
        DISPATCH_FINISH_PENDING, /* stopping: back to pending, due now */
        DISPATCH_DROP,           /* shutting down: leave the row in progress */
};

struct dispatch_decision_in {
        enum job_step step;
        const struct job_verdict *verdict;
        enum job_cancel cancel;
        enum job_cause last_cause; /* the row's retry_cause */
        unsigned rounds;           /* consent rounds so far, this one included */
        bool within_max_age;       /* the retry would land within max age */
        bool sent;                 /* the reply went out (a message id) */
};
enum dispatch_action dispatch_decide(const struct dispatch_decision_in *in);

/* The reason a row is closed dead with: the verdict's detail, or, when a step
 * could not format one (out of memory), its kind and cause. Never empty:
 * spool_dead() refuses an empty reason, and a close it refused would leave
 * the row in progress, tried again at every tick. Returns v->detail or buf. */
const char *dispatch_dead_reason(const struct job_verdict *v, char *buf, size_t size);

#endif
