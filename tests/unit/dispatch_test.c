/*
 * dispatch_test.c — the dispatcher's pure parts: retry delays, the max-age
 * rule, what the driver does with each verdict, and the reason a row is
 * closed dead with. (The steps are tested each in its own file, job_*_test.c;
 * the splitting of keyword lists in keyword_config_test.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common.h"
#include "dispatch.h"
#include "spool.h"

#include <dirent.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_retry_delay(void **state)
{
        /* Equal jitter: half fixed, half random. */
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 0, 0.), 500);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 0, 0.999999), 999);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 1, 0.), 1000);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 2, 0.5), 3000);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 5, 0.), 16000);
        /* Capped, however many attempts. */
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 6, 0.), 30000);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 6, 0.999999), 59999);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 1000000, 0.), 30000);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, UINT32_MAX, 0.), 30000);
        /* Monotone in attempts for a fixed r. */
        for (unsigned a = 0; a < 40; a++)
                assert_true(dispatch_retry_delay_ms(10, 3600000, a, 0.3) <=
                            dispatch_retry_delay_ms(10, 3600000, a + 1, 0.3));
        /* Out-of-range r counts as 0; never below 1 ms. */
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 0, -1.), 500);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 0, 1.), 500);
        assert_int_equal(dispatch_retry_delay_ms(0, 0, 0, 0.), 1);
        assert_int_equal(dispatch_retry_delay_ms(1, 1, 3, 0.), 1);
}

static void test_max_age(void **state)
{
        assert_true(dispatch_within_max_age(1000, 1000, 60));
        assert_true(dispatch_within_max_age(1000, 61000, 60));
        assert_false(dispatch_within_max_age(1000, 61001, 60));
        assert_true(dispatch_within_max_age(1795871109000, 1795871109000 + 604800000, 604800));
        assert_false(dispatch_within_max_age(1795871109000, 1795871109001 + 604800000, 604800));
}

/* What the driver does with a verdict: one row per case. */
static void test_verdict_handling(void **state)
{
        static const struct {
                enum job_step step;
                enum job_verdict_kind kind;
                enum job_cause cause;
                enum job_cancel cancel;
                enum job_cause last_cause;
                unsigned rounds;
                bool within_max_age;
                bool sent;
                enum dispatch_action want;
        } cases[] = {
                /* A step that did its work: the next one. */
                {JOB_STEP_CONSENT_READ, JOB_DONE, JOB_CAUSE_NONE, 0, 0, 0, true, false,
                 DISPATCH_NEXT},
                {JOB_STEP_SEND, JOB_DONE, JOB_CAUSE_NONE, 0, 0, 0, false, true, DISPATCH_NEXT},
                /* Dead and superseded are final, whatever the age. */
                {JOB_STEP_SEND, JOB_DEAD, JOB_CAUSE_REPLY_UNKNOWN, 0, 0, 0, true, false,
                 DISPATCH_FINISH_DEAD},
                {JOB_STEP_SEND, JOB_SUPERSEDED, JOB_CAUSE_SUPPRESSED, 0, 0, 0, true, false,
                 DISPATCH_FINISH_SUPERSEDED},
                /* Transient failures: later, within max age. */
                {JOB_STEP_CONSENT_READ, JOB_RETRY, JOB_CAUSE_CONSENT_READ, 0, 0, 0, true, false,
                 DISPATCH_RETRY_LATER},
                {JOB_STEP_AGENT, JOB_RETRY, JOB_CAUSE_AGENT, 0, 0, 0, true, false,
                 DISPATCH_RETRY_LATER},
                /* Past max age: the fallback when the agent was the cause, dead
                 * otherwise (consent unknown: nothing may be sent). */
                {JOB_STEP_AGENT, JOB_RETRY, JOB_CAUSE_AGENT, 0, 0, 0, false, false,
                 DISPATCH_FALLBACK},
                {JOB_STEP_CONSENT_READ, JOB_RETRY, JOB_CAUSE_CONSENT_READ, 0, 0, 0, false, false,
                 DISPATCH_FINISH_DEAD},
                {JOB_STEP_CLAIM, JOB_RETRY, JOB_CAUSE_CLAIM, 0, 0, 0, false, false,
                 DISPATCH_FINISH_DEAD},
                /* A lost compare-and-swap reads again at once, a few rounds. */
                {JOB_STEP_CONSENT_WRITE, JOB_RETRY, JOB_CAUSE_CONSENT_CONFLICT, 0, 0, 1, true,
                 false, DISPATCH_AGAIN},
                {JOB_STEP_CONSENT_WRITE, JOB_RETRY, JOB_CAUSE_CONSENT_CONFLICT, 0, 0, 4, true,
                 false, DISPATCH_AGAIN},
                {JOB_STEP_CONSENT_WRITE, JOB_RETRY, JOB_CAUSE_CONSENT_CONFLICT, 0, 0, 5, true,
                 false, DISPATCH_RETRY_LATER},
                /* A dependency failure is retried once, then the fallback. */
                {JOB_STEP_AGENT, JOB_RETRY, JOB_CAUSE_AGENT_DEPENDENCY, 0, JOB_CAUSE_NONE, 0, true,
                 false, DISPATCH_RETRY_LATER},
                {JOB_STEP_AGENT, JOB_RETRY, JOB_CAUSE_AGENT_DEPENDENCY, 0, JOB_CAUSE_AGENT, 0, true,
                 false, DISPATCH_RETRY_LATER},
                {JOB_STEP_AGENT, JOB_RETRY, JOB_CAUSE_AGENT_DEPENDENCY, 0,
                 JOB_CAUSE_AGENT_DEPENDENCY, 0, true, false, DISPATCH_FALLBACK},
                /* Cancelled to supersede: superseded, unless the reply went out. */
                {JOB_STEP_AGENT, JOB_CANCELLED, JOB_CAUSE_NONE, JOB_CANCEL_SUPERSEDE, 0, 0, true,
                 false, DISPATCH_FINISH_SUPERSEDED},
                {JOB_STEP_AGENT, JOB_DONE, JOB_CAUSE_NONE, JOB_CANCEL_SUPERSEDE, 0, 0, true, false,
                 DISPATCH_FINISH_SUPERSEDED},
                {JOB_STEP_AGENT, JOB_RETRY, JOB_CAUSE_AGENT, JOB_CANCEL_SUPERSEDE, 0, 0, false,
                 false, DISPATCH_FINISH_SUPERSEDED},
                {JOB_STEP_SEND, JOB_DONE, JOB_CAUSE_NONE, JOB_CANCEL_SUPERSEDE, 0, 0, true, true,
                 DISPATCH_FINISH_DONE},
                /* Stopping: a reply not sent goes back to pending. */
                {JOB_STEP_SEND, JOB_CANCELLED, JOB_CAUSE_NONE, JOB_CANCEL_STOP, 0, 0, true, false,
                 DISPATCH_FINISH_PENDING},
                {JOB_STEP_SEND, JOB_DONE, JOB_CAUSE_NONE, JOB_CANCEL_STOP, 0, 0, true, true,
                 DISPATCH_FINISH_DONE},
                /* Shutting down: the row stays in progress, whatever came back. */
                {JOB_STEP_SEND, JOB_DONE, JOB_CAUSE_NONE, JOB_CANCEL_SHUTDOWN, 0, 0, true, true,
                 DISPATCH_DROP},
                {JOB_STEP_AGENT, JOB_CANCELLED, JOB_CAUSE_NONE, JOB_CANCEL_SHUTDOWN, 0, 0, true,
                 false, DISPATCH_DROP},
                /* [cluster] Another instance has the sender, or had earlier
                 * messages of theirs: wait, past max age too, never the fallback. */
                {JOB_STEP_CLAIM, JOB_RETRY, JOB_CAUSE_LEASE_HELD, 0, 0, 0, true, false,
                 DISPATCH_RETRY_LATER},
                {JOB_STEP_CLAIM, JOB_RETRY, JOB_CAUSE_LEASE_HELD, 0, 0, 0, false, false,
                 DISPATCH_RETRY_LATER},
                {JOB_STEP_CLAIM, JOB_RETRY, JOB_CAUSE_CLUSTER_ORDER, 0, 0, 0, false, false,
                 DISPATCH_RETRY_LATER},
                {JOB_STEP_SEND, JOB_RETRY, JOB_CAUSE_LEASE_HELD, 0, 0, 0, false, false,
                 DISPATCH_RETRY_LATER},
                /* [cluster] The table unreachable: like the [dedup] claim. */
                {JOB_STEP_CLAIM, JOB_RETRY, JOB_CAUSE_CLUSTER, 0, 0, 0, true, false,
                 DISPATCH_RETRY_LATER},
                {JOB_STEP_CLAIM, JOB_RETRY, JOB_CAUSE_CLUSTER, 0, 0, 0, false, false,
                 DISPATCH_FINISH_DEAD},
                /* [cluster] The lease went elsewhere: back to pending, unless sent. */
                {JOB_STEP_AGENT, JOB_CANCELLED, JOB_CAUSE_NONE, JOB_CANCEL_LEASE_LOST, 0, 0, true,
                 false, DISPATCH_FINISH_PENDING},
                {JOB_STEP_SEND, JOB_DONE, JOB_CAUSE_NONE, JOB_CANCEL_LEASE_LOST, 0, 0, true, true,
                 DISPATCH_FINISH_DONE},
                /* Cancelled with no reason given: a failure like any other. */
                {JOB_STEP_AGENT, JOB_CANCELLED, JOB_CAUSE_NONE, 0, 0, 0, true, false,
                 DISPATCH_RETRY_LATER},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct job_verdict v = {.kind = cases[i].kind, .cause = cases[i].cause};
                struct dispatch_decision_in in = {
                        .step = cases[i].step,
                        .verdict = &v,
                        .cancel = cases[i].cancel,
                        .last_cause = cases[i].last_cause,
                        .rounds = cases[i].rounds,
                        .within_max_age = cases[i].within_max_age,
                        .sent = cases[i].sent,
                };
                enum dispatch_action got = dispatch_decide(&in);

                if (got != cases[i].want)
                        fail_msg("case %zu: action %d, want %d (enum dispatch_action)", i, (int)got,
                                 (int)cases[i].want);
        }
}

static void put_done(struct spool *s, int r, int64_t id, void *userdata)
{
        assert_int_equal(r, 0);
        *(int64_t *)userdata = id;
}

static enum spool_state row_state(struct spool *s, int64_t id, char *last_error, size_t size)
{
        struct spool_row *row = NULL;
        enum spool_state st;

        assert_int_equal(spool_get(s, id, &row), 0);
        st = row->state;
        (void)snprintf(last_error, size, "%s", row->last_error ? row->last_error : "");
        spool_row_free(row);
        return st;
}

/* A dead verdict without a detail (a step that could not format one) still
 * closes its row: spool_dead() refuses an empty reason, and a refused close
 * would leave the row in progress, tried again at every tick. */
static void test_dead_without_detail(void **state)
{
        char dir[] = "/tmp/dispatch-test-XXXXXX";
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct spool *s = NULL;
        struct job_verdict v = {.kind = JOB_DEAD, .cause = JOB_CAUSE_REPLY_UNKNOWN};
        char buf[JOB_DETAIL_MAX], last_error[JOB_DETAIL_MAX];
        const char *reason;
        int64_t id = 0;
        struct dirent *e;
        DIR *d;

        assert_non_null(loop);
        assert_non_null(mkdtemp(dir));
        assert_int_equal(spool_open(loop, &(struct spool_options){.dir = dir}, &s), 0);
        assert_int_equal(spool_put(s,
                                   &(struct spool_msg){
                                           .sns_message_id = "sns-1",
                                           .inbound_message_id = "inb-1",
                                           .origination_number = "+447700900001",
                                           .destination_number = "+447700900000",
                                           .body = "hello",
                                   },
                                   put_done, &id),
                         0);
        for (int i = 0; i < 100 && id == 0; i++)
                ev_run(loop, EVRUN_NOWAIT);
        assert_true(id > 0);
        assert_int_equal(spool_claim(s, id), 0);

        assert_int_equal(spool_dead(s, id, v.detail), -EINVAL);
        assert_int_equal(row_state(s, id, last_error, sizeof(last_error)), SPOOL_STATE_IN_PROGRESS);

        reason = dispatch_dead_reason(&v, buf, sizeof(buf));
        assert_string_equal(reason, "dead (reply_unknown) without a detail");
        assert_int_equal(spool_dead(s, id, reason), 0);
        assert_int_equal(row_state(s, id, last_error, sizeof(last_error)), SPOOL_STATE_DEAD);
        assert_string_equal(last_error, reason);

        /* A detail is the reason as it is. */
        (void)snprintf(v.detail, sizeof(v.detail), "SendTextMessage timed out");
        assert_ptr_equal(dispatch_dead_reason(&v, buf, sizeof(buf)), v.detail);
        for (int k = 0; k < _JOB_VERDICT_MAX; k++)
                for (int c = 0; c < _JOB_CAUSE_MAX; c++) {
                        struct job_verdict empty = {.kind = k, .cause = c};

                        assert_false(isempty(dispatch_dead_reason(&empty, buf, sizeof(buf))));
                }

        spool_free(s);
        ev_loop_destroy(loop);
        d = opendir(dir);
        while (d && (e = readdir(d)))
                if (e->d_name[0] != '.') {
                        char path[512];

                        (void)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                        unlink(path);
                }
        if (d)
                closedir(d);
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_retry_delay),
                cmocka_unit_test(test_max_age),
                cmocka_unit_test(test_verdict_handling),
                cmocka_unit_test(test_dead_without_detail),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
