/*
 * sms_send_queue_test.c — the send queue on a fake clock with a fake
 * SendTextMessage: confirmations before answers, pacing in message parts per
 * identity, retries in place, the check before sending, cancel.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ev.h>

#include "aws_error.h"
#include "common.h"
#include "sms_send_queue.h"

#define MAX_SENT 128

struct sent {
        char body[64];
        char identity[32];
        double at;
        struct sms_send_entry *e;
};

struct fixture {
        struct ev_loop *loop;
        struct sms_send_queue *q;
        double now;
        struct sent sent[MAX_SENT];
        size_t n_sent;
        struct sms_send_entry *checking[MAX_SENT];
        size_t n_checking;
};

struct item {
        struct fixture *f;
        char body[64];
        bool done;
        enum sms_send_outcome outcome;
        unsigned attempts;
};

static double fake_clock(void *userdata)
{
        return ((struct fixture *)userdata)->now;
}

static int fake_send(const struct sms_send_text_params *p, struct sms_send_entry *e, void *userdata)
{
        struct fixture *f = userdata;
        struct sent *s;

        assert_true(f->n_sent < MAX_SENT);
        s = &f->sent[f->n_sent++];
        (void)snprintf(s->body, sizeof(s->body), "%s", p->body);
        (void)snprintf(s->identity, sizeof(s->identity), "%s", p->origination_identity);
        s->at = f->now;
        s->e = e;
        return 0;
}

static void item_done(const struct sms_send_result *res, void *userdata)
{
        struct item *it = userdata;

        assert_false(it->done);
        it->done = true;
        it->outcome = res->outcome;
        it->attempts = res->attempts;
}

static void item_check(struct sms_send_entry *e, void *userdata)
{
        struct item *it = userdata;

        it->f->checking[it->f->n_checking++] = e;
}

static const struct sms_send_ops plain_ops = {.done = item_done};
static const struct sms_send_ops checked_ops = {.before_send = item_check, .done = item_done};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->loop = ev_loop_new(EVFLAG_AUTO);
        assert_non_null(f->loop);
        assert_int_equal(sms_send_queue_new(f->loop, NULL, 1., &f->q), 0);
        sms_send_queue_test_hooks(f->q, fake_clock, fake_send, f);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        f->q = sms_send_queue_free(f->q);
        ev_run(f->loop, EVRUN_NOWAIT);
        ev_loop_destroy(f->loop);
        free(f);
        return 0;
}

/* Queue item it: what sms_send_queue_add() returns, its entry in *ret. */
static int try_add(struct fixture *f, struct item *it, const char *identity, const char *body,
                   enum sms_send_class cls, unsigned parts, const struct sms_send_ops *ops,
                   struct sms_send_entry **ret)
{
        *it = (struct item){.f = f};
        (void)snprintf(it->body, sizeof(it->body), "%s", body);
        return sms_send_queue_add(f->q,
                                  &(struct sms_send_request){
                                          .send_class = cls,
                                          .parts = parts,
                                          .params =
                                                  {
                                                          .destination = "+14255550100",
                                                          .origination_identity = identity,
                                                          .body = it->body,
                                                  },
                                  },
                                  ops, it, ret);
}

static void add(struct fixture *f, struct item *it, const char *identity, const char *body,
                enum sms_send_class cls, unsigned parts, const struct sms_send_ops *ops)
{
        assert_int_equal(try_add(f, it, identity, body, cls, parts, ops, NULL), 0);
}

/* Run the queue at time t, then deliver completions from the loop. */
static void run_at(struct fixture *f, double t)
{
        f->now = t;
        sms_send_queue_test_run(f->q);
        ev_run(f->loop, EVRUN_NOWAIT);
}

/* Run the queue at time t: n sends so far. */
static void run_expect(struct fixture *f, double t, size_t n)
{
        run_at(f, t);
        assert_int_equal(f->n_sent, n);
}

static void complete(struct fixture *f, size_t i, int r, enum sms_send_text_failure failure,
                     enum aws_error_kind kind)
{
        struct aws_error err = {.kind = kind};
        struct sms_send_text_result res = {
                .r = r,
                .message_id = r >= 0 ? "msg" : NULL,
                .failure = failure,
                .error = r < 0 ? &err : NULL,
                .reason = "",
                .request_id = "",
        };

        sms_send_queue_test_complete(f->sent[i].e, &res);
        ev_run(f->loop, EVRUN_NOWAIT);
}

static void assert_sent(struct fixture *f, size_t i, const char *body, double at)
{
        assert_true(i < f->n_sent);
        assert_string_equal(f->sent[i].body, body);
        assert_float_equal(f->sent[i].at, at, 1e-9);
}

/* The rate identity is paced at now, as sms_send_queue_foreach() shows it
 * (and /metrics, twowayd_sms_rate_parts_per_second). */
struct rate_probe {
        const char *identity;
        double rate;
        bool found;
};

static void probe_one(const struct sms_send_identity_state *st, void *userdata)
{
        struct rate_probe *p = userdata;

        if (streq(st->identity, p->identity)) {
                p->rate = st->rate;
                p->found = true;
        }
}

static double paced_rate(struct fixture *f, const char *identity)
{
        struct rate_probe p = {.identity = identity};

        sms_send_queue_foreach(f->q, probe_one, &p);
        assert_true(p.found);
        return p.rate;
}

/* A rate source that knows one identity. */
static double fast_number(const char *identity, void *userdata)
{
        (void)userdata;
        return streq(identity, "+18005550111") ? 10. : 0.;
}

/* Under a backlog of answers, a confirmation takes the next slot. */
static void test_confirmations_first(void **state)
{
        struct fixture *f = *state;
        struct item a[5], stop, start;

        for (int i = 0; i < 5; i++) {
                char body[24];

                (void)snprintf(body, sizeof(body), "answer %d", i);
                add(f, &a[i], "+18005550199", body, SMS_SEND_ANSWER, 1, &plain_ops);
        }
        run_expect(f, 0., 1);
        assert_sent(f, 0, "answer 0", 0.);
        add(f, &stop, "+18005550199", "stop confirmation", SMS_SEND_CONFIRMATION, 1, &plain_ops);
        add(f, &start, "+18005550199", "start confirmation", SMS_SEND_CONFIRMATION, 1, &plain_ops);
        run_expect(f, 0.5, 1); /* the slot is not there yet */
        run_at(f, 1.);
        run_at(f, 2.);
        run_at(f, 3.);
        run_expect(f, 4., 5);
        /* Both confirmations, in their order, before any other answer. */
        assert_sent(f, 1, "stop confirmation", 1.);
        assert_sent(f, 2, "start confirmation", 2.);
        assert_sent(f, 3, "answer 1", 3.);
        assert_sent(f, 4, "answer 2", 4.);
        for (size_t i = 0; i < f->n_sent; i++)
                complete(f, i, 0, SMS_SEND_TEXT_FAILURE_RETRY, AWS_ERROR_NONE);
        assert_true(stop.done);
        assert_int_equal(stop.outcome, SMS_SEND_SENT);
        assert_int_equal(stop.attempts, 1);
        assert_false(a[4].done);
        assert_int_equal(sms_send_queue_depth(f->q, "+18005550199"), 2);
        assert_int_equal(sms_send_queue_depth(f->q, NULL), 2);
        f->q = sms_send_queue_free(f->q);
        assert_int_equal(a[4].outcome, SMS_SEND_CANCELLED);
}

/* Pacing counts parts: a 3-part reply costs three slots. */
static void test_parts_pacing(void **state)
{
        struct fixture *f = *state;
        struct item long_reply, short_reply, other;

        sms_send_queue_set_default_rate(f->q, 2.);
        add(f, &long_reply, "+18005550199", "long", SMS_SEND_ANSWER, 3, &plain_ops);
        add(f, &short_reply, "+18005550199", "short", SMS_SEND_ANSWER, 1, &plain_ops);
        add(f, &other, "+18005550111", "other number", SMS_SEND_ANSWER, 1, &plain_ops);
        run_at(f, 10.);
        /* Each identity has its own pace. */
        assert_int_equal(f->n_sent, 2);
        run_expect(f, 11.4, 2);
        run_expect(f, 11.5, 3);
        assert_string_equal(f->sent[2].body, "short");
        for (size_t i = 0; i < f->n_sent; i++)
                complete(f, i, 0, SMS_SEND_TEXT_FAILURE_RETRY, AWS_ERROR_NONE);
}

/* The rate source's rate for the identities it knows, the default for the rest. */
static void test_rate_source(void **state)
{
        struct fixture *f = *state;
        struct item fast[2], slow[2];

        sms_send_queue_set_default_rate(f->q, 2.);
        sms_send_queue_set_rate_source(f->q, fast_number, NULL);
        for (int i = 0; i < 2; i++) {
                add(f, &fast[i], "+18005550111", "fast", SMS_SEND_ANSWER, 1, &plain_ops);
                add(f, &slow[i], "+18005550199", "slow", SMS_SEND_ANSWER, 1, &plain_ops);
        }
        assert_float_equal(paced_rate(f, "+18005550111"), 10., 1e-9);
        assert_float_equal(paced_rate(f, "+18005550199"), 2., 1e-9);
        run_expect(f, 10., 2);
        run_expect(f, 10.05, 2);
        run_expect(f, 10.15, 3);
        assert_string_equal(f->sent[2].identity, "+18005550111");
        run_expect(f, 10.4, 3);
        run_expect(f, 10.5, 4);
        assert_string_equal(f->sent[3].identity, "+18005550199");
        /* Without the source, the default again. */
        sms_send_queue_set_rate_source(f->q, NULL, NULL);
        assert_float_equal(paced_rate(f, "+18005550111"), 2., 1e-9);
        for (size_t i = 0; i < f->n_sent; i++)
                complete(f, i, 0, SMS_SEND_TEXT_FAILURE_RETRY, AWS_ERROR_NONE);
}

/* Whatever the mix of lengths and arrival times, the sends of an identity
 * that start within any one-second window, but the last of them, cost fewer
 * parts than its rate: each send's parts are paid for before the next. */
static void test_parts_rate_never_exceeded(void **state)
{
        struct fixture *f = *state;
        static struct item items[MAX_SENT];
        unsigned parts[MAX_SENT], seed = 1, added = 0;
        size_t completed = 0;
        const double rate = 3.;
        double t = 0.;

        sms_send_queue_set_default_rate(f->q, rate);
        while (f->n_sent < MAX_SENT) {
                seed = seed * 1103515245u + 12345u;
                t += (double)(seed >> 16 & 0x7fff) / 32768. * 0.4; /* bursts and gaps */
                if (added < MAX_SENT && (seed & 1)) {
                        parts[added] = 1 + (seed >> 8) % 3;
                        add(f, &items[added], "+18005550199", "x", SMS_SEND_ANSWER, parts[added],
                            &plain_ops);
                        added++;
                }
                run_at(f, t);
                while (completed < f->n_sent)
                        complete(f, completed++, 0, SMS_SEND_TEXT_FAILURE_RETRY, AWS_ERROR_NONE);
        }
        for (size_t i = 0; i < f->n_sent; i++) {
                unsigned n = 0, last = 0;

                if (i > 0)
                        assert_true(f->sent[i].at >= f->sent[i - 1].at);
                for (size_t k = i; k < f->n_sent && f->sent[k].at < f->sent[i].at + 1. - 1e-9;
                     k++) {
                        n += parts[k];
                        last = parts[k];
                }
                assert_true(n - last < rate + 1e-9);
        }
        assert_true(items[0].done);
}

/* A refused attempt is tried again in place (nothing overtakes it in its
 * class); throttling also holds the identity. */
static void test_retry_in_place_and_throttle(void **state)
{
        struct fixture *f = *state;
        struct item a, b, c;

        sms_send_queue_set_default_rate(f->q, 100.);
        add(f, &a, "+18005550199", "first", SMS_SEND_ANSWER, 1, &plain_ops);
        add(f, &b, "+18005550199", "second", SMS_SEND_ANSWER, 1, &plain_ops);
        run_expect(f, 0., 1);
        complete(f, 0, -EREMOTEIO, SMS_SEND_TEXT_FAILURE_RETRY, AWS_ERROR_THROTTLING);
        assert_false(a.done);
        /* The identity's rate is halved for a while (sms_rate.h). */
        assert_float_equal(paced_rate(f, "+18005550199"), 50., 1e-9);
        run_at(f, 0.); /* held: the throttling backoff is at least 1 ms */
        assert_int_equal(f->n_sent, 1);
        add(f, &c, "+18005550199", "confirmation", SMS_SEND_CONFIRMATION, 1, &plain_ops);
        run_expect(f, 0., 1);
        run_expect(f, 10., 2);
        run_expect(f, 10.01, 2); /* 50 parts a second now */
        run_at(f, 10.02);
        run_expect(f, 10.04, 4);
        assert_string_equal(f->sent[1].body, "confirmation");
        assert_string_equal(f->sent[2].body, "first");
        assert_string_equal(f->sent[3].body, "second");
        /* A failure after which it may have been sent is never retried. */
        complete(f, 2, -ETIMEDOUT, SMS_SEND_TEXT_FAILURE_UNKNOWN, AWS_ERROR_TRANSIENT);
        assert_true(a.done);
        assert_int_equal(a.outcome, SMS_SEND_UNKNOWN);
        assert_int_equal(a.attempts, 2);
        complete(f, 1, 0, SMS_SEND_TEXT_FAILURE_RETRY, AWS_ERROR_NONE);
        complete(f, 3, -EREMOTEIO, SMS_SEND_TEXT_FAILURE_OPTED_OUT, AWS_ERROR_PERMANENT);
        assert_int_equal(b.outcome, SMS_SEND_OPTED_OUT);
}

/* Attempt i of the one reply queued goes out by t and fails with an error of
 * this kind, one that may be retried. */
static void attempt_fails(struct fixture *f, unsigned i, double t, enum aws_error_kind kind)
{
        run_expect(f, t, i + 1);
        complete(f, i, -EREMOTEIO, SMS_SEND_TEXT_FAILURE_RETRY, kind);
}

/* One reply fails n times with errors of this kind, an attempt every so many
 * seconds: it is not done before the n-th, and refused after it. */
static void refused_after(struct fixture *f, enum aws_error_kind kind, unsigned n, double every)
{
        struct item a;

        add(f, &a, "+18005550199", "x", SMS_SEND_ANSWER, 1, &plain_ops);
        for (unsigned i = 0; i < n; i++) {
                assert_false(a.done);
                attempt_fails(f, i, every * i, kind);
        }
        assert_true(a.done);
        assert_int_equal(a.outcome, SMS_SEND_REFUSED);
        assert_int_equal(a.attempts, n);
}

/* Attempts are bounded. */
static void test_attempts_bounded(void **state)
{
        refused_after(*state, AWS_ERROR_TRANSIENT, SMS_SEND_ATTEMPTS_MAX, 10.);
}

/* A burst of throttling spends none of a reply's attempts: the reply that was
 * throttled twenty times and then failed five times more still goes out. */
static void test_throttles_spend_no_attempts(void **state)
{
        struct fixture *f = *state;
        struct item a;
        unsigned i;

        add(f, &a, "+18005550199", "x", SMS_SEND_ANSWER, 1, &plain_ops);
        for (i = 0; i < 20 + SMS_SEND_ATTEMPTS_MAX - 1; i++) {
                attempt_fails(f, i, 60. * i, i < 20 ? AWS_ERROR_THROTTLING : AWS_ERROR_TRANSIENT);
                assert_false(a.done);
        }
        run_expect(f, 60. * i, i + 1);
        complete(f, i, 0, SMS_SEND_TEXT_FAILURE_RETRY, AWS_ERROR_NONE);
        assert_true(a.done);
        assert_int_equal(a.outcome, SMS_SEND_SENT);
        assert_int_equal(a.attempts, 20 + SMS_SEND_ATTEMPTS_MAX);
}

/* A number throttled without end still ends its replies, after a budget of its own. */
static void test_throttles_bounded(void **state)
{
        refused_after(*state, AWS_ERROR_THROTTLING, SMS_SEND_THROTTLES_MAX, 60.);
}

/* The check runs when the slot has come; while an answer is being checked,
 * confirmations still go; a withdrawn answer sends nothing. */
static void test_check_before_send(void **state)
{
        struct fixture *f = *state;
        struct item a, b, c, d;

        add(f, &a, "+18005550199", "answer a", SMS_SEND_ANSWER, 1, &checked_ops);
        add(f, &b, "+18005550199", "answer b", SMS_SEND_ANSWER, 1, &checked_ops);
        run_at(f, 0.);
        assert_int_equal(f->n_checking, 1); /* b waits behind a's check */
        assert_int_equal(f->n_sent, 0);
        add(f, &c, "+18005550199", "confirmation", SMS_SEND_CONFIRMATION, 1, &plain_ops);
        run_expect(f, 0., 1);
        assert_string_equal(f->sent[0].body, "confirmation");
        sms_send_entry_proceed(f->checking[0], SMS_SEND_WITHDRAW);
        run_at(f, 1.);
        assert_true(a.done);
        assert_int_equal(a.outcome, SMS_SEND_WITHDRAWN);
        assert_int_equal(a.attempts, 0);
        assert_int_equal(f->n_checking, 2);
        /* The check itself failed: checked again later, then sent. */
        sms_send_entry_proceed(f->checking[1], SMS_SEND_RECHECK);
        run_at(f, 1.);
        assert_int_equal(f->n_checking, 2);
        run_at(f, 20.);
        assert_int_equal(f->n_checking, 3);
        sms_send_entry_proceed(f->checking[2], SMS_SEND_GO);
        run_expect(f, 20., 2);
        assert_string_equal(f->sent[1].body, "answer b");
        complete(f, 0, 0, SMS_SEND_TEXT_FAILURE_RETRY, AWS_ERROR_NONE);
        complete(f, 1, 0, SMS_SEND_TEXT_FAILURE_RETRY, AWS_ERROR_NONE);
        assert_int_equal(b.outcome, SMS_SEND_SENT);
        /* Checked again after a failed check: answers d waits for its own. */
        add(f, &d, "+18005550199", "answer d", SMS_SEND_ANSWER, 1, &checked_ops);
        run_at(f, 30.);
        assert_int_equal(f->n_checking, 4);
        f->q = sms_send_queue_free(f->q);
        /* Freed while being checked: finished when the check answers. */
        assert_false(d.done);
        sms_send_entry_proceed(f->checking[3], SMS_SEND_GO);
        assert_true(d.done);
        assert_int_equal(d.outcome, SMS_SEND_CANCELLED);
}

static struct sms_send_entry *last_entry;

static void capture_check(struct sms_send_entry *e, void *userdata)
{
        last_entry = e;
}

static void test_cancel(void **state)
{
        struct fixture *f = *state;
        struct sms_send_ops ops = {.before_send = capture_check, .done = item_done};
        struct item a, b, c;
        struct sms_send_entry *ea = NULL, *eb = NULL;

        assert_int_equal(try_add(f, &a, "id", "a", SMS_SEND_ANSWER, 1, &ops, &ea), 0);
        assert_int_equal(try_add(f, &b, "id", "b", SMS_SEND_ANSWER, 1, &plain_ops, &eb), 0);
        /* Never completed from inside the call that cancels. */
        sms_send_entry_cancel(eb);
        assert_false(b.done);
        ev_run(f->loop, EVRUN_NOWAIT);
        assert_true(b.done);
        assert_int_equal(b.outcome, SMS_SEND_CANCELLED);
        /* Being checked: finished when the check answers. */
        run_at(f, 0.);
        assert_ptr_equal(last_entry, ea);
        sms_send_entry_cancel(ea);
        sms_send_entry_proceed(ea, SMS_SEND_GO);
        ev_run(f->loop, EVRUN_NOWAIT);
        assert_int_equal(a.outcome, SMS_SEND_CANCELLED);
        assert_int_equal(f->n_sent, 0);
        /* On the wire: completes as it completes, and is not retried. */
        add(f, &c, "id", "c", SMS_SEND_ANSWER, 1, &plain_ops);
        run_expect(f, 5., 1);
        sms_send_entry_cancel(f->sent[0].e);
        complete(f, 0, -EREMOTEIO, SMS_SEND_TEXT_FAILURE_RETRY, AWS_ERROR_TRANSIENT);
        assert_int_equal(c.outcome, SMS_SEND_CANCELLED);
        assert_int_equal(c.attempts, 1);
}

/* Freeing the queue completes what waits, and nothing is sent after. */
static void test_free_completes_waiting(void **state)
{
        struct fixture *f = *state;
        struct item a, b;

        add(f, &a, "id", "a", SMS_SEND_ANSWER, 1, &plain_ops);
        add(f, &b, "id", "b", SMS_SEND_CONFIRMATION, 1, &plain_ops);
        f->q = sms_send_queue_free(f->q);
        assert_true(a.done);
        assert_true(b.done);
        assert_int_equal(a.outcome, SMS_SEND_CANCELLED);
        assert_int_equal(b.outcome, SMS_SEND_CANCELLED);
        assert_int_equal(f->n_sent, 0);
}

static void test_bad_requests(void **state)
{
        struct fixture *f = *state;
        struct item a;

        /* No parts; no origination identity. */
        assert_int_equal(try_add(f, &a, "id", "a", SMS_SEND_ANSWER, 0, &plain_ops, NULL), -EINVAL);
        assert_int_equal(try_add(f, &a, NULL, "a", SMS_SEND_ANSWER, 1, &plain_ops, NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_confirmations_first, setup, teardown),
                cmocka_unit_test_setup_teardown(test_parts_pacing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rate_source, setup, teardown),
                cmocka_unit_test_setup_teardown(test_parts_rate_never_exceeded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retry_in_place_and_throttle, setup, teardown),
                cmocka_unit_test_setup_teardown(test_attempts_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_throttles_spend_no_attempts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_throttles_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_check_before_send, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_completes_waiting, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
