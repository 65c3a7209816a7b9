/*
 * pipeline.h — turns each stored inbound SMS into exactly one outcome.
 *
 * The dispatcher walks the spool (oldest first, one message at a time per
 * sender, at most [dispatch] concurrency at once) and runs each row through
 * the steps: keyword rules and consent (DynamoDB), then the Bedrock agent,
 * then the SMS reply. Transient failures are retried with backoff, the state
 * kept in the spool, so a restart resumes where it was; a row older than
 * [dispatch] max_age becomes dead. Nothing blocks the loop.
 *
 * The service owns the spool and the AWS client; the pipeline borrows them for
 * its lifetime. The config is borrowed too: pipeline_set_config() hands over a
 * new one after a reload (the old one must stay valid until that call returns;
 * work in flight finishes with the values it started with only where it
 * copied them).
 *
 * Ownership: pipeline_new() returns a pipeline owned by the caller, released
 * with pipeline_free(), which cancels work in flight (rows in progress go back
 * to pending at the next start).
 */
#ifndef TWOWAYD_PIPELINE_H
#define TWOWAYD_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

struct ev_loop;
struct config;
struct spool;
struct aws_client;
struct pipeline;

typedef void (*pipeline_stopped_fn)(struct pipeline *p, void *userdata);

int pipeline_new(struct ev_loop *loop, const struct config *config, struct spool *spool,
                 struct aws_client *aws, struct pipeline **ret);
struct pipeline *pipeline_free(struct pipeline *p);

/* New rows were stored: look for ready work now rather than at the next tick. */
void pipeline_kick(struct pipeline *p);

/* A reloaded config (validated). */
void pipeline_set_config(struct pipeline *p, const struct config *config);

/* Stop claiming new rows; call done (from the loop, once) when nothing is in
 * flight any more. The caller bounds how long it waits. */
void pipeline_stop(struct pipeline *p, pipeline_stopped_fn done, void *userdata);

/* Rows being worked on now. */
unsigned pipeline_in_flight(const struct pipeline *p);

/* Counters since pipeline_new() (for tests and status lines; the same
 * outcomes are counted in the metrics registry). */
struct pipeline_stats {
        uint64_t claimed;        /* rows taken from the spool */
        uint64_t done;           /* rows finished as done */
        uint64_t dead;           /* rows finished as dead */
        uint64_t retried;        /* rows put back for a later attempt */
        uint64_t blocked;        /* conversational messages from opted-out numbers */
        uint64_t replies_sent;   /* SendTextMessage successes, of any kind */
        uint64_t fallbacks_sent; /* of which [agent] fallback_reply */
        uint64_t reply_unknown;  /* rows whose reply may or may not have been sent */
        uint64_t opt_outs;       /* opt-outs written (sms or aws) */
        uint64_t opt_ins;        /* opt-ins written */
};
void pipeline_get_stats(const struct pipeline *p, struct pipeline_stats *ret);

/* --- pure helpers, exposed for tests ------------------------------------------- */

/* The delay before attempt attempts + 1 of a row that failed attempts + 1
 * times so far: initial_ms doubled per earlier attempt, capped at max_ms,
 * then "equal jitter": half of it fixed, the other half scaled by r in
 * [0, 1). Never below 1 ms. */
int64_t pipeline_retry_delay_ms(unsigned initial_ms, unsigned max_ms, unsigned attempts, double r);

/* Whether a row received at received_at (ms) may still be attempted at
 * at_ms, given max_age_s. */
bool pipeline_within_max_age(int64_t received_at, int64_t at_ms, unsigned max_age_s);

/* Split a [consent] *_words value ("STOP, STOP ALL") at commas, trimming
 * blanks and dropping empty items, into a NULL-terminated array (*ret; free
 * with pipeline_words_free()). list NULL gives *ret NULL (the built-in list).
 * Returns the number of words, -ENOMEM. */
int pipeline_split_words(const char *list, char ***ret);
char **pipeline_words_free(char **words);

#endif
