/*
 * sms_send_queue.c — per-identity send queues: confirmations first, pacing in
 * message parts, the before-send check, SendTextMessage attempts and retries.
 *
 * Owns: the identities (a short list; each has its two class lists, its
 * pacing clock next_slot and one ev_timer that wakes it when its next entry
 * may go) and the entries (each a single allocation holding copies of its
 * request's strings).
 *
 * An entry is in exactly one place: in a class list of its identity (waiting
 * for its slot, for its backoff, or checked and waiting for the slot after
 * that), or out of the lists while being checked (CHECKING) or on the wire
 * (SENDING), or finished and waiting for its completion to be delivered from
 * the loop (DONE). identity_run() is the one place that takes entries out of
 * the lists; it never calls back into the owner except through before_send,
 * and it is never re-entered: whatever happens inside a callback only arms
 * the identity's timer.
 */
#include <math.h>
#include <stdio.h>

#include <ev.h>

#include "aws.h"
#include "common.h"
#include "jitter.h"
#include "sms_rate.h"
#include "sms_send_queue.h"

enum entry_state {
        ENTRY_WAITING,  /* in a class list */
        ENTRY_CHECKING, /* before_send running */
        ENTRY_SENDING,  /* an attempt on the wire */
        ENTRY_DONE,     /* completion pending */
};

struct identity;

struct sms_send_entry {
        struct sms_send_queue *q; /* NULL: the queue is gone (an attempt was on the wire) */
        struct identity *id;
        struct sms_send_entry *prev, *next;         /* in its class list */
        struct sms_send_entry *all_prev, *all_next; /* every entry of the queue */
        enum entry_state state;
        enum sms_send_class send_class;
        unsigned parts;
        unsigned attempts;
        unsigned throttles; /* attempts answered ThrottlingException: not failures of the reply */
        unsigned checks;
        double not_before; /* backoff: clock before which it may not go */
        double added;      /* clock when it was added */
        bool checked;      /* before_send said go */
        bool cancelled;
        struct aws_call *call;
        struct sms_send_ops ops;
        void *userdata;
        ev_timer complete; /* delivers the outcome from the loop */
        enum sms_send_outcome outcome;
        char *message_id;
        char error[SMS_SEND_ERROR_MAX];
        struct sms_send_text_params params; /* strings point into data[] */
        char data[];
};

struct class_list {
        struct sms_send_entry *head, *tail;
        size_t n;
        bool checking; /* one entry of this class is in before_send */
};

struct identity {
        struct identity *next;
        struct sms_send_queue *q;
        char *name;
        struct sms_rate_adapt adapt; /* the rate paced with: the ceiling, lowered on throttling */
        double next_slot;            /* clock at which the next send may start */
        double held_until;
        double backlog_warned; /* clock of the last backlog report */
        unsigned sending;      /* attempts on the wire */
        struct class_list cls[_SMS_SEND_CLASS_MAX];
        ev_timer wake;
};

struct sms_send_queue {
        struct ev_loop *loop;
        struct aws_client *aws;
        double default_rate;
        sms_send_rate_fn rate_fn;
        void *rate_userdata;
        const struct sms_send_observer *observer;
        void *observer_userdata;
        struct identity *ids;
        size_t n_ids;
        struct sms_send_entry *all;
        uint64_t rng;
#ifdef TWOWAYD_UNIT_TEST
        sms_send_clock_fn clock;
        sms_send_fake_fn fake_send;
        void *test_userdata;
#endif
};

static void identity_run(struct identity *id);

static double clock_now(const struct sms_send_queue *q)
{
#ifdef TWOWAYD_UNIT_TEST
        if (q->clock)
                return q->clock(q->test_userdata);
#endif
        return ev_now(q->loop);
}

static double random01(struct sms_send_queue *q)
{
        return jitter_next(&q->rng);
}

/* The rate the identity may send at: the rate source's, else the queue's
 * default. */
static double identity_ceiling(const struct identity *id)
{
        const struct sms_send_queue *q = id->q;
        double r = 0;

        if (q->rate_fn)
                r = q->rate_fn(id->name, q->rate_userdata);
        if (!(r > 0))
                r = q->default_rate;
        return r > 0 ? r : SMS_RATE_CONSERVATIVE;
}

/* The rate to pace with now: the ceiling, lowered after throttling
 * (sms_rate.h's adaptive rule). */
static double identity_rate(struct identity *id, double now)
{
        double ceiling = identity_ceiling(id);

        if (id->adapt.ceiling != ceiling)
                sms_rate_adapt_set_ceiling(&id->adapt, ceiling, now);
        return sms_rate_adapt_current(&id->adapt, now);
}

/* --- lists ------------------------------------------------------------------------- */

static void list_push_back(struct class_list *l, struct sms_send_entry *e)
{
        e->prev = l->tail;
        e->next = NULL;
        if (l->tail)
                l->tail->next = e;
        else
                l->head = e;
        l->tail = e;
        l->n++;
}

static void list_push_front(struct class_list *l, struct sms_send_entry *e)
{
        e->prev = NULL;
        e->next = l->head;
        if (l->head)
                l->head->prev = e;
        else
                l->tail = e;
        l->head = e;
        l->n++;
}

static void list_remove(struct class_list *l, struct sms_send_entry *e)
{
        if (e->prev)
                e->prev->next = e->next;
        else
                l->head = e->next;
        if (e->next)
                e->next->prev = e->prev;
        else
                l->tail = e->prev;
        e->prev = e->next = NULL;
        l->n--;
}

/* --- completion -------------------------------------------------------------------- */

static void entry_free(struct sms_send_entry *e)
{
        if (!e)
                return;
        if (e->q) {
                if (e->all_prev)
                        e->all_prev->all_next = e->all_next;
                else
                        e->q->all = e->all_next;
                if (e->all_next)
                        e->all_next->all_prev = e->all_prev;
        }
        free(e->message_id);
        free(e);
}

static void deliver(struct sms_send_entry *e)
{
        struct sms_send_result res = {
                .outcome = e->outcome,
                .message_id = e->message_id ? e->message_id : "",
                .error = e->error,
                .attempts = e->attempts,
        };

        e->ops.done(&res, e->userdata);
        entry_free(e);
}

static void complete_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        deliver(w->data);
}

/* Finish e (out of every list) with outcome; the owner hears of it from the
 * loop, never from inside the call that finished it. */
static void entry_finish(struct sms_send_entry *e, enum sms_send_outcome outcome)
{
        e->state = ENTRY_DONE;
        e->outcome = outcome;
        if (!e->q) {
                deliver(e);
                return;
        }
        ev_timer_set(&e->complete, 0., 0.);
        ev_timer_start(e->q->loop, &e->complete);
}

/* --- identities -------------------------------------------------------------------- */

static void wake_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        identity_run(w->data);
}

/* Run id again in delay seconds (0: on the next loop iteration), or sooner if
 * already armed sooner. */
static void identity_wake(struct identity *id, double delay)
{
        struct sms_send_queue *q = id->q;

        if (delay < 0)
                delay = 0;
        if (ev_is_active(&id->wake)) {
                if (ev_timer_remaining(q->loop, &id->wake) <= delay)
                        return;
                ev_timer_stop(q->loop, &id->wake);
        }
        ev_timer_set(&id->wake, delay, 0.);
        ev_timer_start(q->loop, &id->wake);
}

static struct identity *identity_find(const struct sms_send_queue *q, const char *name)
{
        for (struct identity *id = q->ids; id; id = id->next)
                if (streq(id->name, name))
                        return id;
        return NULL;
}

static bool identity_idle(const struct identity *id)
{
        for (int c = 0; c < _SMS_SEND_CLASS_MAX; c++)
                if (id->cls[c].n || id->cls[c].checking)
                        return false;
        return id->sending == 0;
}

static void identity_free(struct sms_send_queue *q, struct identity *id)
{
        ev_timer_stop(q->loop, &id->wake);
        free(id->name);
        free(id);
}

/* Identities with nothing waiting are dropped when the list is full, so a
 * flood of numbers cannot grow it without bound. */
static void identities_trim(struct sms_send_queue *q, double now)
{
        struct identity **pp = &q->ids;

        while (*pp) {
                struct identity *id = *pp;

                if (identity_idle(id) && id->next_slot <= now && id->held_until <= now) {
                        *pp = id->next;
                        identity_free(q, id);
                        q->n_ids--;
                } else
                        pp = &id->next;
        }
}

static int identity_get(struct sms_send_queue *q, const char *name, struct identity **ret)
{
        struct identity *id = identity_find(q, name);

        if (id) {
                *ret = id;
                return 0;
        }
        if (q->n_ids >= SMS_SEND_IDENTITIES_MAX)
                identities_trim(q, clock_now(q));
        if (q->n_ids >= SMS_SEND_IDENTITIES_MAX)
                return -ENOBUFS;
        id = calloc(1, sizeof(*id));
        if (!id)
                return -ENOMEM;
        id->name = strdup(name);
        if (!id->name) {
                free(id);
                return -ENOMEM;
        }
        id->q = q;
        sms_rate_adapt_init(&id->adapt, identity_ceiling(id), clock_now(q));
        id->backlog_warned = -INFINITY;
        ev_timer_init(&id->wake, wake_cb, 0., 0.);
        id->wake.data = id;
        id->next = q->ids;
        q->ids = id;
        q->n_ids++;
        *ret = id;
        return 0;
}

/* --- sending ----------------------------------------------------------------------- */

static void attempt_done(const struct sms_send_text_result *res, void *userdata);

static int start_attempt(struct sms_send_entry *e)
{
        struct sms_send_queue *q = e->q;

        e->attempts++;
        e->state = ENTRY_SENDING;
        e->id->sending++;
#ifdef TWOWAYD_UNIT_TEST
        if (q->fake_send)
                return q->fake_send(&e->params, e, q->test_userdata);
#endif
        return sms_send_text(q->aws, &e->params, attempt_done, e, &e->call);
}

/* The entry at the head of class c may go now: take its slot and send. */
static void entry_send(struct identity *id, struct sms_send_entry *e, double now)
{
        int r;

        list_remove(&id->cls[e->send_class], e);
        id->next_slot = MAX(now, id->next_slot) + (double)e->parts / identity_rate(id, now);
        if (e->attempts == 0 && id->q->observer && id->q->observer->waited)
                id->q->observer->waited(id->name, now - e->added, id->q->observer_userdata);
        r = start_attempt(e);
        if (r < 0) {
                id->sending--;
                /* Nothing went on the wire. */
                (void)snprintf(e->error, sizeof(e->error), "reply not sent: %s", strerror(-r));
                entry_finish(e, SMS_SEND_REFUSED);
        }
}

static void entry_check(struct identity *id, struct sms_send_entry *e)
{
        list_remove(&id->cls[e->send_class], e);
        id->cls[e->send_class].checking = true;
        e->state = ENTRY_CHECKING;
        e->ops.before_send(e, e->userdata);
}

/*
 * Serve identity id at the current clock: while its slot has come, take the
 * head of the first class (confirmations first) that may go — checked
 * entries are sent, unchecked ones are checked first — and arm the timer for
 * whatever must wait.
 */
static void identity_run(struct identity *id)
{
        struct sms_send_queue *q = id->q;
        double now = clock_now(q), wait = INFINITY;

        for (;;) {
                struct sms_send_entry *pick = NULL;

                if (now < id->held_until) {
                        wait = id->held_until - now;
                        break;
                }
                for (int c = 0; c < _SMS_SEND_CLASS_MAX && !pick; c++) {
                        struct sms_send_entry *h = id->cls[c].head;

                        if (!h)
                                continue;
                        if (h->not_before > now) {
                                wait = MIN(wait, h->not_before - now);
                                continue;
                        }
                        if (!h->checked && id->cls[c].checking)
                                continue; /* its predecessor is being checked */
                        pick = h;
                }
                if (!pick)
                        break;
                if (!pick->checked && pick->ops.before_send) {
                        /* Checked when its slot has come, so as late as possible. */
                        if (now < id->next_slot) {
                                wait = MIN(wait, id->next_slot - now);
                                break;
                        }
                        entry_check(id, pick);
                        continue;
                }
                if (now < id->next_slot) {
                        wait = MIN(wait, id->next_slot - now);
                        break;
                }
                entry_send(id, pick, now);
        }
        if (isfinite(wait))
                identity_wake(id, wait);
}

/* The service said the identity sends too fast: hold it for the backoff and
 * lower its rate (the throttles of sends already on the wire count once). */
static void identity_throttled(struct identity *id, double pause_s)
{
        struct sms_send_queue *q = id->q;
        double now = clock_now(q);
        bool lowered;

        (void)identity_rate(id, now); /* the ceiling as it is now */
        lowered = sms_rate_adapt_throttled(&id->adapt, now);
        if (q->observer && q->observer->throttled)
                q->observer->throttled(id->name, sms_rate_adapt_current(&id->adapt, now), lowered,
                                       q->observer_userdata);
        sms_send_queue_report_throttle(q, id->name, pause_s);
}

/* Seconds a reply added now would wait for its slot: the parts ahead of it
 * at the current rate, after the current slot and any hold. */
static double identity_expected_wait(struct identity *id, double now)
{
        double parts = 0, start = MAX(now, MAX(id->next_slot, id->held_until));

        for (int c = 0; c < _SMS_SEND_CLASS_MAX; c++)
                for (const struct sms_send_entry *e = id->cls[c].head; e; e = e->next)
                        parts += e->parts;
        return start - now + parts / identity_rate(id, now);
}

static void backlog_check(struct identity *id, double now)
{
        struct sms_send_queue *q = id->q;
        double wait;

        if (!q->observer || !q->observer->backlog ||
            now - id->backlog_warned < SMS_SEND_BACKLOG_REPORT_S)
                return;
        wait = identity_expected_wait(id, now);
        if (wait <= SMS_SEND_BACKLOG_WAIT_S)
                return;
        id->backlog_warned = now;
        q->observer->backlog(id->name, wait, sms_send_queue_depth(q, id->name),
                             q->observer_userdata);
}

static double backoff_s(struct sms_send_queue *q, enum aws_error_kind kind, unsigned attempts)
{
        struct aws_retry_config rc = {
                .max_attempts = SMS_SEND_ATTEMPTS_MAX,
                .base_ms = SMS_SEND_BACKOFF_BASE_MS,
                .throttle_base_ms = SMS_SEND_THROTTLE_BASE_MS,
                .cap_ms = SMS_SEND_BACKOFF_CAP_MS,
        };

        return fmax(aws_retry_backoff_ms(&rc, kind, attempts, random01(q)), 1.) / 1000.;
}

void sms_send_entry_proceed(struct sms_send_entry *e, enum sms_send_check verdict)
{
        struct identity *id;

        if (!e || e->state != ENTRY_CHECKING)
                return;
        id = e->id;
        if (!e->q) {
                entry_finish(e, SMS_SEND_CANCELLED);
                return;
        }
        id->cls[e->send_class].checking = false;
        e->checks++;
        if (verdict == SMS_SEND_RECHECK && e->checks >= SMS_SEND_ATTEMPTS_MAX)
                verdict = SMS_SEND_WITHDRAW;
        if (e->cancelled)
                entry_finish(e, SMS_SEND_CANCELLED);
        else if (verdict == SMS_SEND_WITHDRAW)
                entry_finish(e, SMS_SEND_WITHDRAWN);
        else {
                e->checked = verdict == SMS_SEND_GO;
                if (!e->checked)
                        e->not_before =
                                clock_now(e->q) + backoff_s(e->q, AWS_ERROR_TRANSIENT, e->checks);
                e->state = ENTRY_WAITING;
                list_push_front(&id->cls[e->send_class], e);
        }
        identity_wake(id, 0.);
}

/* A throttle says the identity is busy, not that this reply is bad: it does
 * not spend the reply's attempts (a burst would otherwise lose replies that
 * certainly were never sent), only a budget of its own, so that a number
 * throttled without end still ends its replies. */
static bool may_retry(struct sms_send_entry *e, const struct sms_send_text_result *res)
{
        if (res->error && res->error->kind == AWS_ERROR_THROTTLING)
                return ++e->throttles < SMS_SEND_THROTTLES_MAX;
        return e->attempts - e->throttles < SMS_SEND_ATTEMPTS_MAX;
}

static void attempt_done(const struct sms_send_text_result *res, void *userdata)
{
        struct sms_send_entry *e = userdata;
        struct sms_send_queue *q = e->q;
        struct identity *id = e->id;
        char buf[SMS_SEND_ERROR_MAX];

        e->call = NULL;
        if (!q) {
                /* The queue is gone: so is its owner's interest in details. */
                entry_finish(e, res->r >= 0 ? SMS_SEND_SENT : SMS_SEND_CANCELLED);
                return;
        }
        id->sending--;
        if (e->ops.attempted)
                e->ops.attempted(res, e->attempts, e->userdata);
        if (res->r >= 0) {
                e->message_id = strdup(res->message_id ? res->message_id : "");
                entry_finish(e, SMS_SEND_SENT);
                return;
        }
        if (res->error && !isempty(res->error->code))
                (void)snprintf(buf, sizeof(buf), "reply: %.127s%s%.300s", res->error->code,
                               isempty(res->error->message) ? "" : ": ", res->error->message);
        else
                (void)snprintf(buf, sizeof(buf), "reply: %s", strerror(res->r < 0 ? -res->r : EIO));
        (void)snprintf(e->error, sizeof(e->error), "%s", buf);

        switch (res->failure) {
        case SMS_SEND_TEXT_FAILURE_RETRY:
                if (e->cancelled) {
                        entry_finish(e, SMS_SEND_CANCELLED);
                        return;
                }
                if (may_retry(e, res)) {
                        enum aws_error_kind kind =
                                res->error ? res->error->kind : AWS_ERROR_TRANSIENT;
                        double s = backoff_s(q, kind, e->attempts);

                        e->not_before = clock_now(q) + s;
                        if (kind == AWS_ERROR_THROTTLING)
                                identity_throttled(id, s);
                        e->state = ENTRY_WAITING;
                        list_push_front(&id->cls[e->send_class], e);
                        identity_wake(id, 0.);
                        return;
                }
                entry_finish(e, SMS_SEND_REFUSED);
                return;
        case SMS_SEND_TEXT_FAILURE_OPTED_OUT:
                entry_finish(e, SMS_SEND_OPTED_OUT);
                return;
        case SMS_SEND_TEXT_FAILURE_UNKNOWN:
                entry_finish(e, SMS_SEND_UNKNOWN);
                return;
        case SMS_SEND_TEXT_FAILURE_PERMANENT:
        default:
                entry_finish(e, SMS_SEND_REFUSED);
                return;
        }
}

/* --- API --------------------------------------------------------------------------- */

int sms_send_queue_new(struct ev_loop *loop, struct aws_client *aws, double default_rate,
                       struct sms_send_queue **ret)
{
        struct sms_send_queue *q;

        if (!loop || !ret)
                return -EINVAL;
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->loop = loop;
        q->aws = aws;
        q->default_rate = default_rate > 0 ? default_rate : 1.;
        q->rng = jitter_seed(q);
        *ret = q;
        return 0;
}

struct sms_send_queue *sms_send_queue_free(struct sms_send_queue *q)
{
        if (!q)
                return NULL;
        while (q->ids) {
                struct identity *id = q->ids;

                for (int c = 0; c < _SMS_SEND_CLASS_MAX; c++)
                        while (id->cls[c].head) {
                                struct sms_send_entry *e = id->cls[c].head;

                                list_remove(&id->cls[c], e);
                                e->state = ENTRY_DONE;
                                e->outcome = SMS_SEND_CANCELLED;
                        }
                q->ids = id->next;
                identity_free(q, id);
        }
        /* Entries being checked or on the wire finish when their check or
         * call returns; completions not yet delivered are delivered now. */
        while (q->all) {
                struct sms_send_entry *e = q->all;

                q->all = e->all_next;
                e->all_prev = e->all_next = NULL;
                e->q = NULL;
                if (e->state == ENTRY_DONE) {
                        ev_timer_stop(q->loop, &e->complete);
                        deliver(e);
                } else if (e->call)
                        aws_call_cancel(e->call);
        }
        free(q);
        return NULL;
}

int sms_send_queue_add(struct sms_send_queue *q, const struct sms_send_request *req,
                       const struct sms_send_ops *ops, void *userdata, struct sms_send_entry **ret)
{
        const struct sms_send_text_params *p = req ? &req->params : NULL;
        const char *src[] = {
                p ? p->destination : NULL,
                p ? p->origination_identity : NULL,
                p ? p->body : NULL,
                p ? p->message_type : NULL,
                p ? p->configuration_set : NULL,
                p ? p->max_price : NULL,
                p ? p->inbound_message_id : NULL,
        };
        const char **dst[ARRAY_SIZE(src)];
        size_t len[ARRAY_SIZE(src)], total = 0;
        struct sms_send_entry *e;
        struct identity *id;
        char *w;
        int r;

        if (!q || !req || !ops || !ops->done || isempty(p->destination) ||
            isempty(p->origination_identity) || !p->body || req->parts == 0 ||
            req->send_class < 0 || req->send_class >= _SMS_SEND_CLASS_MAX)
                return -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(src); i++) {
                len[i] = src[i] ? strlen(src[i]) : 0;
                total += src[i] ? len[i] + 1 : 0;
        }
        r = identity_get(q, p->origination_identity, &id);
        if (r < 0)
                return r;
        e = calloc(1, sizeof(*e) + total);
        if (!e)
                return -ENOMEM;
        e->q = q;
        e->id = id;
        e->send_class = req->send_class;
        e->parts = req->parts;
        e->ops = *ops;
        e->userdata = userdata;
        e->params.time_to_live = p->time_to_live;
        ev_timer_init(&e->complete, complete_cb, 0., 0.);
        e->complete.data = e;
        dst[0] = &e->params.destination;
        dst[1] = &e->params.origination_identity;
        dst[2] = &e->params.body;
        dst[3] = &e->params.message_type;
        dst[4] = &e->params.configuration_set;
        dst[5] = &e->params.max_price;
        dst[6] = &e->params.inbound_message_id;
        w = e->data;
        for (size_t i = 0; i < ARRAY_SIZE(src); i++) {
                if (!src[i])
                        continue;
                memcpy(w, src[i], len[i] + 1);
                *dst[i] = w;
                w += len[i] + 1;
        }
        e->state = ENTRY_WAITING;
        e->added = clock_now(q);
        e->all_next = q->all;
        if (q->all)
                q->all->all_prev = e;
        q->all = e;
        list_push_back(&id->cls[e->send_class], e);
        backlog_check(id, e->added);
        identity_wake(id, 0.);
        if (ret)
                *ret = e;
        return 0;
}

void sms_send_entry_cancel(struct sms_send_entry *e)
{
        if (!e || e->cancelled || e->state == ENTRY_DONE)
                return;
        e->cancelled = true;
        if (e->state == ENTRY_WAITING) {
                list_remove(&e->id->cls[e->send_class], e);
                identity_wake(e->id, 0.);
                entry_finish(e, SMS_SEND_CANCELLED);
        } else if (e->state == ENTRY_SENDING && e->q)
                /* Not recalled: the attempt completes; it only will not be retried. */
                return;
        /* CHECKING: sms_send_entry_proceed() finishes it. */
}

void sms_send_queue_set_rate_source(struct sms_send_queue *q, sms_send_rate_fn fn, void *userdata)
{
        if (!q)
                return;
        q->rate_fn = fn;
        q->rate_userdata = userdata;
}

void sms_send_queue_set_observer(struct sms_send_queue *q, const struct sms_send_observer *o,
                                 void *userdata)
{
        if (!q)
                return;
        q->observer = o;
        q->observer_userdata = userdata;
}

void sms_send_queue_foreach(struct sms_send_queue *q, sms_send_identity_fn fn, void *userdata)
{
        double now;

        if (!q || !fn)
                return;
        now = clock_now(q);
        for (struct identity *id = q->ids; id; id = id->next)
                fn(
                        &(struct sms_send_identity_state){
                                .identity = id->name,
                                .depth = sms_send_queue_depth(q, id->name),
                                .rate = identity_rate(id, now),
                                .ceiling = identity_ceiling(id),
                                .throttles = id->adapt.throttles,
                                .expected_wait = identity_expected_wait(id, now),
                        },
                        userdata);
}

void sms_send_queue_set_default_rate(struct sms_send_queue *q, double parts_per_second)
{
        if (q && parts_per_second > 0)
                q->default_rate = parts_per_second;
}

void sms_send_queue_report_throttle(struct sms_send_queue *q, const char *identity, double pause_s)
{
        struct identity *id = q ? identity_find(q, identity) : NULL;

        if (!id || !(pause_s > 0))
                return;
        id->held_until = MAX(id->held_until, clock_now(q) + pause_s);
        identity_wake(id, pause_s);
}

size_t sms_send_queue_depth(const struct sms_send_queue *q, const char *identity)
{
        size_t n = 0;

        for (const struct identity *id = q ? q->ids : NULL; id; id = id->next)
                if (!identity || streq(id->name, identity))
                        for (int c = 0; c < _SMS_SEND_CLASS_MAX; c++)
                                n += id->cls[c].n;
        return n;
}

#ifdef TWOWAYD_UNIT_TEST
void sms_send_queue_test_hooks(struct sms_send_queue *q, sms_send_clock_fn clock,
                               sms_send_fake_fn send, void *userdata)
{
        q->clock = clock;
        q->fake_send = send;
        q->test_userdata = userdata;
}

void sms_send_queue_test_run(struct sms_send_queue *q)
{
        for (struct identity *id = q->ids; id; id = id->next) {
                ev_timer_stop(q->loop, &id->wake);
                identity_run(id);
        }
}

void sms_send_queue_test_complete(struct sms_send_entry *e, const struct sms_send_text_result *res)
{
        attempt_done(res, e);
}
#endif
