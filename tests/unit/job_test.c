/*
 * job_test.c — a job's life outside its steps (job.c): the end of a step goes
 * to the driver its environment names, with the work cleared and a detail
 * that is never empty; an orphaned job's last callback frees it without any
 * driver; job_cancel() reaches the work in flight and keeps the strongest
 * reason; the names stored in the spool read back as themselves.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "job_fixture.h"

/* The causes stored in the spool read back as themselves. */
static void test_cause_names(void **state)
{
        for (int c = 0; c < _JOB_CAUSE_MAX; c++) {
                assert_non_null(job_cause_to_string(c));
                assert_int_equal(job_cause_from_string(job_cause_to_string(c)), c);
        }
        assert_int_equal(job_cause_from_string(NULL), JOB_CAUSE_NONE);
        assert_int_equal(job_cause_from_string("agent: dependencyFailedException"), JOB_CAUSE_NONE);
        assert_null(job_cause_to_string(_JOB_CAUSE_MAX));
        for (int s = 0; s < _JOB_STEP_MAX; s++)
                assert_non_null(job_step_to_string(s));
        for (int k = 0; k < _JOB_VERDICT_MAX; k++)
                assert_non_null(job_verdict_to_string(k));
        for (int r = 0; r < _JOB_REPLY_MAX; r++)
                assert_non_null(job_reply_to_string(r));
        assert_string_equal(job_cause_to_string(JOB_CAUSE_AGENT_DEPENDENCY), "agent_dependency");
        assert_string_equal(job_reply_to_string(JOB_REPLY_FALLBACK), "fallback");
}

/* Every verdict reaches the driver the environment names, once, with the
 * work cleared; a verdict without a detail carries its cause's name. */
static void test_verdict_goes_to_driver(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);
        char long_detail[2 * JOB_DETAIL_MAX];

        j->step = JOB_STEP_AGENT;
        j->work.kind = JOB_WORK_AGENT; /* as a step leaves it; nothing is in flight */
        job_verdict(j, JOB_RETRY, JOB_CAUSE_AGENT_DEPENDENCY, NULL);
        assert_int_equal(f->n_verdicts, 1);
        assert_int_equal(f->steps[0], JOB_STEP_AGENT);
        assert_int_equal(f->verdicts[0].kind, JOB_RETRY);
        assert_int_equal(f->verdicts[0].cause, JOB_CAUSE_AGENT_DEPENDENCY);
        assert_string_equal(f->verdicts[0].detail, "agent_dependency");
        assert_int_equal(j->work.kind, JOB_WORK_NONE);

        job_verdict(j, JOB_DEAD, JOB_CAUSE_SEND_REFUSED, "reply: %s (%d)", "refused", 400);
        assert_int_equal(f->n_verdicts, 2);
        assert_string_equal(f->verdicts[1].detail, "reply: refused (400)");

        /* An empty detail is no detail. */
        job_verdict(j, JOB_DEAD, JOB_CAUSE_UNSENDABLE, "%s", "");
        assert_string_equal(f->verdicts[2].detail, "unsendable");

        /* A detail longer than the verdict holds is cut, not overrun. */
        memset(long_detail, 'x', sizeof(long_detail) - 1);
        long_detail[sizeof(long_detail) - 1] = '\0';
        job_verdict(j, JOB_RETRY, JOB_CAUSE_AGENT, "%s", long_detail);
        assert_int_equal(strlen(f->verdicts[3].detail), JOB_DETAIL_MAX - 1);

        job_done(j);
        assert_int_equal(f->n_verdicts, 5);
        assert_int_equal(f->verdicts[4].kind, JOB_DONE);
        assert_int_equal(f->verdicts[4].cause, JOB_CAUSE_NONE);
        job_free(j);
}

/* An orphaned job (its driver gone) is freed by its last callback, and no
 * driver hears of it. */
static void test_orphan_freed_by_last_callback(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);

        j->answer = strdup("an answer");
        j->text = strdup("a text");
        assert_non_null(j->answer);
        assert_non_null(j->text);
        j->env = NULL;
        job_verdict(j, JOB_CANCELLED, JOB_CAUSE_NONE, NULL); /* frees j (LeakSanitizer checks) */
        assert_int_equal(f->n_verdicts, 0);
}

/* job_cancel() reaches the work in flight, which answers CANCELLED whatever
 * its own result; a shutdown outranks any other reason, and the first other
 * reason stays. */
static void test_cancel(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;

        /* Nothing in flight: nothing will answer, nothing recorded. */
        assert_false(job_cancel(j, JOB_CANCEL_SUPERSEDE));
        assert_false(job_cancelled(j));

        /* A consent read on the wire, cancelled before it answers. */
        job_consent_read(j);
        assert_int_equal(j->work.kind, JOB_WORK_AWS);
        assert_true(job_cancel(j, JOB_CANCEL_SUPERSEDE));
        assert_true(job_cancel(j, JOB_CANCEL_LEASE_LOST));
        assert_int_equal(j->cancel, JOB_CANCEL_SUPERSEDE);
        assert_true(job_cancel(j, JOB_CANCEL_SHUTDOWN));
        assert_int_equal(j->cancel, JOB_CANCEL_SHUTDOWN);
        assert_true(job_cancel(j, JOB_CANCEL_STOP));
        assert_int_equal(j->cancel, JOB_CANCEL_SHUTDOWN);
        {
                struct job_fixture_wait w = {f, 0};

                assert_true(
                        run_loop_while_not(f->loop, job_fixture_has_verdict, &w, JOB_FIXTURE_WAIT));
        }
        v = &f->verdicts[0];
        assert_int_equal(f->n_verdicts, 1);
        assert_int_equal(v->kind, JOB_CANCELLED);
        assert_int_equal(j->work.kind, JOB_WORK_NONE);
        job_free(j);
}

static void test_is_keyword(void **state)
{
        struct job_fixture *f = *state;
        /* Three senders: a sender's rows are claimed one at a time. */
        struct job *a = job_fixture_job_of(
                f, job_fixture_store(f, "+14255550101", "hello", SPOOL_CLASS_OTHER, 0));
        struct job *b = job_fixture_job_of(
                f, job_fixture_store(f, "+14255550102", "STOP", SPOOL_CLASS_OPT_OUT, 0));
        struct job *c = job_fixture_job_of(
                f, job_fixture_store(f, "+14255550103", "HELP", SPOOL_CLASS_HELP, 0));

        assert_false(job_is_keyword(a));
        assert_true(job_is_keyword(b));
        assert_true(job_is_keyword(c));
        job_free(a);
        job_free(b);
        job_free(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cause_names),
                cmocka_unit_test_setup_teardown(test_verdict_goes_to_driver, job_fixture_setup,
                                                job_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_orphan_freed_by_last_callback,
                                                job_fixture_setup, job_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_cancel, job_fixture_setup,
                                                job_fixture_teardown),
                cmocka_unit_test_setup_teardown(test_is_keyword, job_fixture_setup,
                                                job_fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
