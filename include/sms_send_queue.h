/*
 * sms_send_queue.h — replies waiting for SendTextMessage: one queue per
 * origination identity, consent confirmations first, paced in message parts.
 *
 * The dispatcher hands each shaped reply to this queue and forgets about
 * pacing and send retries: the queue decides when the reply goes, makes the
 * SendTextMessage attempts (sms_send_text.h: each attempt at most once on the wire)
 * and reports one outcome. A reply waiting here holds no dispatch slot.
 *
 * ORDER. Each origination identity has two classes of waiting replies, each
 * first in, first out: CONFIRMATION (STOP/START/HELP replies, which the law
 * wants out promptly) and ANSWER (the agent's answers and the fallback). At
 * every slot a waiting confirmation goes before any answer, so under any
 * backlog a confirmation leaves within one pacing slot.
 *
 * PACING. An identity may start a send when its clock has reached next_slot;
 * a send of n message parts (sms_text.h segments) moves next_slot to
 * max(now, next_slot) + n / rate, rate being the identity's parts per second.
 * So the identity never exceeds its rate in parts, averaged over any send.
 * The rate of an identity is the rate source's
 * (sms_send_queue_set_rate_source(): the rate learned from the account), else
 * the queue's default ([sms] max_per_second); a ThrottlingException lowers it and
 * it recovers slowly (sms_rate.h's adaptive rule), and holds the identity
 * for the backoff (sms_send_queue_report_throttle()).
 *
 * OBSERVING. An observer (sms_send_queue_set_observer()) hears how long each
 * reply waited for its slot, each throttle, and a backlog: when a reply is
 * added while the expected wait for a new one passes
 * SMS_SEND_BACKLOG_WAIT_S, at most once per SMS_SEND_BACKLOG_REPORT_S per
 * identity. sms_send_queue_foreach() shows each identity's state.
 *
 * BEFORE EACH SEND. When an entry's slot has come, and before its first
 * attempt, ops->before_send runs; the owner checks what it must (the spool's
 * reply state, whether the destination opted out meanwhile) and answers with
 * sms_send_entry_proceed(), at once or later. While one entry of a class is
 * being checked, the next of that class waits (order is kept); the other
 * class goes on. An entry that is not allowed to go completes as WITHDRAWN.
 *
 * RETRIES. A failure after which the message certainly was not sent
 * (sms_send_text_classify_failure() RETRY: throttling, 5xx, no connection) is tried
 * again at the head of its class after a backoff, at most
 * SMS_SEND_ATTEMPTS_MAX failed attempts; a throttling answer also holds the
 * whole identity for that backoff. Throttling answers are not counted among
 * those attempts (the number is busy, the reply is fine): they have a budget
 * of their own, SMS_SEND_THROTTLES_MAX per reply, about five minutes of
 * unbroken throttling at the capped backoff. A failure after which it may
 * have been sent is never retried (UNKNOWN).
 *
 * CANCEL. sms_send_entry_cancel() withdraws an entry that has not been
 * handed to SendTextMessage: it completes as CANCELLED (from the loop). An
 * attempt already on the wire cannot be recalled: it completes as it
 * completes, but is not tried again.
 *
 * Callback contract: if sms_send_queue_add() returns an error, no callback
 * is ever called. Otherwise ops->done is called exactly once, from the loop,
 * never inside sms_send_queue_add(); sms_send_queue_free() completes every
 * entry not on the wire with CANCELLED before it returns, and those on the
 * wire when their call returns (the AWS client completes every call).
 *
 * Ownership: the queue is owned by its creator and borrows the loop and the
 * AWS client (both outlive it). sms_send_queue_add() copies the request;
 * *ret (the entry) is owned by the queue and valid until ops->done returns.
 * The result passed to ops->done and ops->attempted is valid only during the
 * call. Loop thread only.
 */
#ifndef TWOWAYD_SMS_SEND_QUEUE_H
#define TWOWAYD_SMS_SEND_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "sms_send_text.h"

struct ev_loop;
struct aws_client;
struct sms_send_queue;
struct sms_send_entry;

#define SMS_SEND_ATTEMPTS_MAX     6  /* failed SendTextMessage attempts of one reply */
#define SMS_SEND_THROTTLES_MAX    64 /* throttled attempts of one reply, counted apart */
#define SMS_SEND_BACKOFF_BASE_MS  200
#define SMS_SEND_THROTTLE_BASE_MS 1000
#define SMS_SEND_BACKOFF_CAP_MS   5000
#define SMS_SEND_IDENTITIES_MAX   256u
#define SMS_SEND_ERROR_MAX        512
#define SMS_SEND_BACKLOG_WAIT_S   60.
#define SMS_SEND_BACKLOG_REPORT_S 60.

enum sms_send_class {
        SMS_SEND_CONFIRMATION, /* consent replies: before any answer */
        SMS_SEND_ANSWER,
        _SMS_SEND_CLASS_MAX,
};

enum sms_send_outcome {
        SMS_SEND_SENT,      /* message_id set */
        SMS_SEND_OPTED_OUT, /* the destination is on the AWS opt-out list: not sent */
        SMS_SEND_REFUSED,   /* certainly not sent, given up (permanent, or a budget spent) */
        SMS_SEND_UNKNOWN,   /* may have been sent: never tried again */
        SMS_SEND_WITHDRAWN, /* before_send said no: nothing sent */
        SMS_SEND_CANCELLED, /* cancelled before it went on the wire: nothing sent */
        _SMS_SEND_OUTCOME_MAX,
};

struct sms_send_result {
        enum sms_send_outcome outcome;
        const char *message_id; /* SENT: the MessageId ("" when none) */
        const char *error;      /* REFUSED, UNKNOWN, OPTED_OUT: what the last attempt said */
        unsigned attempts;      /* SendTextMessage attempts made, throttled ones included */
};

struct sms_send_ops {
        /* The slot has come: decide, then call sms_send_entry_proceed(). NULL: go. */
        void (*before_send)(struct sms_send_entry *e, void *userdata);
        /* Each attempt as it completes (logs, metrics); may be NULL. */
        void (*attempted)(const struct sms_send_text_result *res, unsigned attempt, void *userdata);
        /* The one outcome. */
        void (*done)(const struct sms_send_result *res, void *userdata);
};

struct sms_send_request {
        enum sms_send_class send_class;
        unsigned parts;                     /* message parts (segments), >= 1 */
        struct sms_send_text_params params; /* copied */
};

int sms_send_queue_new(struct ev_loop *loop, struct aws_client *aws, double default_rate,
                       struct sms_send_queue **ret);
struct sms_send_queue *sms_send_queue_free(struct sms_send_queue *q);

/* -EINVAL (missing member, parts 0), -ENOMEM, -ENOBUFS (too many identities). */
int sms_send_queue_add(struct sms_send_queue *q, const struct sms_send_request *req,
                       const struct sms_send_ops *ops, void *userdata, struct sms_send_entry **ret);
/* The answer to before_send. RECHECK: not now (the check itself failed, e.g.
 * the consent table could not be read): check again after a backoff, at most
 * SMS_SEND_ATTEMPTS_MAX checks, then WITHDRAWN. */
enum sms_send_check {
        SMS_SEND_GO,
        SMS_SEND_WITHDRAW,
        SMS_SEND_RECHECK,
};
void sms_send_entry_proceed(struct sms_send_entry *e, enum sms_send_check verdict);
/* Idempotent; see CANCEL. */
void sms_send_entry_cancel(struct sms_send_entry *e);

/* --- rate, per origination identity ------------------------------------------------ */

/* Parts per second for identities the rate source does not know ([sms] max_per_second). */
void sms_send_queue_set_default_rate(struct sms_send_queue *q, double parts_per_second);
/* The rate of an identity: > 0, or <= 0 for none (then the default). Called
 * whenever a rate is needed; fn must be cheap. */
typedef double (*sms_send_rate_fn)(const char *identity, void *userdata);
void sms_send_queue_set_rate_source(struct sms_send_queue *q, sms_send_rate_fn fn, void *userdata);

/* Every member may be NULL. Called from the loop, never inside
 * sms_send_queue_add() except backlog. */
struct sms_send_observer {
        /* A reply's first attempt starts after it waited this long for its slot. */
        void (*waited)(const char *identity, double seconds, void *userdata);
        /* A ThrottlingException; rate is the rate now, lowered or not. */
        void (*throttled)(const char *identity, double rate, bool lowered, void *userdata);
        /* A new reply would wait expected_wait seconds; depth replies are waiting. */
        void (*backlog)(const char *identity, double expected_wait, size_t depth, void *userdata);
};
/* o is borrowed (it outlives the queue or is replaced). */
void sms_send_queue_set_observer(struct sms_send_queue *q, const struct sms_send_observer *o,
                                 void *userdata);

struct sms_send_identity_state {
        const char *identity;
        size_t depth;         /* replies waiting */
        double rate;          /* parts per second paced with now */
        double ceiling;       /* the rate before any throttling */
        unsigned throttles;   /* ThrottlingExceptions so far */
        double expected_wait; /* seconds a reply added now would wait */
};
typedef void (*sms_send_identity_fn)(const struct sms_send_identity_state *st, void *userdata);
/* fn for each identity the queue knows (it must not change the queue). */
void sms_send_queue_foreach(struct sms_send_queue *q, sms_send_identity_fn fn, void *userdata);

/* The service throttled a send of identity: hold its sends for pause_s seconds. */
void sms_send_queue_report_throttle(struct sms_send_queue *q, const char *identity, double pause_s);
/* Replies waiting (not on the wire) for identity, or for all (identity NULL). */
size_t sms_send_queue_depth(const struct sms_send_queue *q, const char *identity);

#ifdef TWOWAYD_UNIT_TEST
/* A fake clock and a fake SendTextMessage: send() starts an attempt and
 * returns 0; the test completes it with sms_send_queue_test_complete(). With
 * a fake clock nothing runs by itself: sms_send_queue_test_run() serves every
 * identity at the clock's current time. */
typedef double (*sms_send_clock_fn)(void *userdata);
typedef int (*sms_send_fake_fn)(const struct sms_send_text_params *p, struct sms_send_entry *e,
                                void *userdata);
void sms_send_queue_test_hooks(struct sms_send_queue *q, sms_send_clock_fn clock,
                               sms_send_fake_fn send, void *userdata);
void sms_send_queue_test_run(struct sms_send_queue *q);
void sms_send_queue_test_complete(struct sms_send_entry *e, const struct sms_send_text_result *res);
#endif

#endif
