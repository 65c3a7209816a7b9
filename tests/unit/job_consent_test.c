/*
 * job_consent_test.c — the steps that talk to DynamoDB (job_consent.c),
 * driven one at a time against a scripted DynamoDB on 127.0.0.1: the [dedup]
 * claim, the consent read and the decision it leads to, the consent write and
 * its lost compare-and-swap, and the recording of an opt-out found at AWS.
 * Each test reads the verdict the driver was handed, what the job now holds
 * and the requests that reached the table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "job_fixture.h"
#include "ddb_request.h"

#define OPTED_OUT_ITEM                                                                             \
        "{\"Item\":{\"phone_number\":{\"S\":\"" JOB_FIXTURE_SENDER "\"},"                          \
        "\"consent_status\":{\"S\":\"opted_out\"},\"version\":{\"N\":\"3\"},"                      \
        "\"last_inbound_message_id\":{\"S\":\"in-old\"}}}"
#define OPTED_IN_ITEM                                                                              \
        "{\"Item\":{\"phone_number\":{\"S\":\"" JOB_FIXTURE_SENDER "\"},"                          \
        "\"consent_status\":{\"S\":\"opted_in\"},\"version\":{\"N\":\"4\"}}}"

/* The request reads the sender's item, consistently, from the configured table. */
static void assert_consent_get(struct job_fixture *f, size_t i)
{
        json_t *req = job_fixture_request_json(f, i);

        assert_string_equal(job_fixture_target(f, i), "DynamoDB_20120810.GetItem");
        assert_string_equal(json_string_value(json_object_get(req, "TableName")),
                            "twowayd-consent");
        assert_true(json_is_true(json_object_get(req, "ConsistentRead")));
        assert_string_equal(ddb_request_key(req, "phone_number"), JOB_FIXTURE_SENDER);
        json_decref(req);
}

/* Request i is an UpdateItem that binds name, a value of DynamoDB type
 * type ("S", "N"), to want. */
static void assert_written(struct job_fixture *f, size_t i, const char *name, const char *type,
                           const char *want)
{
        json_t *req = job_fixture_request_json(f, i);
        const char *got = ddb_request_value(req, name, type);

        assert_string_equal(job_fixture_target(f, i), "DynamoDB_20120810.UpdateItem");
        if (!got)
                fail_msg("request %zu binds no %s", i, name);
        assert_string_equal(got, want);
        json_decref(req);
}

/* --- read and decide ------------------------------------------------------------------ */

static void test_read_no_record_asks_the_agent(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "When are you open?", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;

        job_fixture_script(f, &DDB_OK("{}"), 1);
        v = job_fixture_run(f, j, job_consent_read);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(f->steps[0], JOB_STEP_CONSENT_READ);
        assert_int_equal(j->action, CONSENT_ACTION_AGENT);
        assert_int_equal(j->kind, KEYWORD_NONE);
        assert_false(j->complete);
        assert_true(j->consent_read_at > 0);
        assert_int_equal(scripted_server_count(&f->server), 1);
        assert_consent_get(f, 0);
        job_free(j);
}

/* Fail closed: an opted-out sender's message reaches nobody. */
static void test_read_opted_out_blocks(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "When are you open?", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;

        job_fixture_script(f, &DDB_OK(OPTED_OUT_ITEM), 1);
        v = job_fixture_run(f, j, job_consent_read);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(j->action, CONSENT_ACTION_BLOCK);
        assert_true(j->complete); /* nothing else to do: no agent, no reply */
        assert_int_equal(f->env.stats.blocked, 1);
        assert_int_equal(j->rec.status, CONSENT_OPTED_OUT);
        job_free(j);
}

static void test_read_keywords(void **state)
{
        struct job_fixture *f = *state;
        struct job *stop = job_fixture_job(f, "stop", SPOOL_CLASS_OPT_OUT);
        struct job *again, *start;
        const struct job_verdict *v;

        job_fixture_script(f, &DDB_OK(OPTED_IN_ITEM), 1);
        v = job_fixture_run(f, stop, job_consent_read);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(stop->kind, KEYWORD_OPT_OUT);
        assert_string_equal(stop->word, "STOP");
        assert_int_equal(stop->action, CONSENT_ACTION_OPT_OUT);
        assert_false(stop->complete);
        spool_done(f->spool, stop->row->id);
        job_free(stop);

        /* A second STOP from an opted-out number: nothing changes, nothing is sent. */
        again = job_fixture_job(f, "STOP", SPOOL_CLASS_OPT_OUT);
        job_fixture_script(f, &DDB_OK(OPTED_OUT_ITEM), 1);
        v = job_fixture_run(f, again, job_consent_read);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(again->action, CONSENT_ACTION_IGNORE);
        assert_true(again->complete);
        assert_int_equal(f->env.stats.blocked, 0);
        spool_done(f->spool, again->row->id);
        job_free(again);

        start = job_fixture_job(f, "START", SPOOL_CLASS_OPT_IN);
        job_fixture_script(f, &DDB_OK(OPTED_OUT_ITEM), 1);
        v = job_fixture_run(f, start, job_consent_read);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(start->action, CONSENT_ACTION_OPT_IN);
        job_free(start);
}

/* Consent unknown: retried later, never decided without it. */
static void test_read_failure_retries(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;

        job_fixture_script(f, &DDB_NOT_FOUND, 1);
        v = job_fixture_run(f, j, job_consent_read);
        assert_int_equal(v->kind, JOB_RETRY);
        assert_int_equal(v->cause, JOB_CAUSE_CONSENT_READ);
        assert_string_equal(
                v->detail, "consent read: ResourceNotFoundException: Requested resource not found");
        assert_int_equal(j->action, CONSENT_ACTION_AGENT); /* zero: nothing decided */
        assert_false(j->complete);
        job_free(j);
}

/* --- write -------------------------------------------------------------------------------- */

static void test_write_opt_out(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "STOP", SPOOL_CLASS_OPT_OUT);
        const struct job_verdict *v;
        json_t *req;

        job_fixture_script(f, (struct scripted_reply[]){DDB_OK(OPTED_IN_ITEM), DDB_OK("{}")}, 2);
        v = job_fixture_run(f, j, job_consent_read);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(j->action, CONSENT_ACTION_OPT_OUT);

        v = job_fixture_run(f, j, job_consent_write);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(f->steps[1], JOB_STEP_CONSENT_WRITE);
        assert_int_equal(f->env.stats.opt_outs, 1);
        assert_int_equal(f->env.stats.opt_ins, 0);
        assert_int_equal(scripted_server_count(&f->server), 2);
        assert_written(f, 1, ":st", "S", "opted_out");
        /* Compare-and-swap on the version that was read. */
        assert_written(f, 1, ":ov", "N", "4");
        req = job_fixture_request_json(f, 1);
        assert_non_null(json_object_get(req, "ConditionExpression"));
        json_decref(req);
        job_free(j);
}

/* The record changed between read and write: read and decide again. */
static void test_write_lost_compare_and_swap(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "START", SPOOL_CLASS_OPT_IN);
        const struct job_verdict *v;

        job_fixture_script(f,
                           (struct scripted_reply[]){
                                   DDB_OK(OPTED_OUT_ITEM),
                                   DDB_CONFLICT,
                           },
                           2);
        v = job_fixture_run(f, j, job_consent_read);
        assert_int_equal(j->action, CONSENT_ACTION_OPT_IN);
        v = job_fixture_run(f, j, job_consent_write);
        assert_int_equal(v->kind, JOB_RETRY);
        assert_int_equal(v->cause, JOB_CAUSE_CONSENT_CONFLICT);
        assert_int_equal(f->env.stats.opt_ins, 0);
        assert_written(f, 1, ":st", "S", "opted_in");

        /* Any other failure is a failed write, retried later. */
        job_fixture_script(f, &DDB_NOT_FOUND, 1);
        v = job_fixture_run(f, j, job_consent_write);
        assert_int_equal(v->kind, JOB_RETRY);
        assert_int_equal(v->cause, JOB_CAUSE_CONSENT_WRITE);
        job_free(j);
}

/* --- an opt-out found at AWS ------------------------------------------------------------- */

static void test_record_opt_out(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;

        job_fixture_script(f, (struct scripted_reply[]){DDB_OK(OPTED_IN_ITEM), DDB_OK("{}")}, 2);
        v = job_fixture_run(f, j, job_record_opt_out);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(f->steps[0], JOB_STEP_RECORD_OPT_OUT);
        assert_int_equal(scripted_server_count(&f->server), 2);
        assert_consent_get(f, 0);
        assert_written(f, 1, ":st", "S", "opted_out");
        assert_written(f, 1, ":m", "S", "aws");
        assert_int_equal(f->env.stats.opt_outs, 1);
        job_free(j);
}

static void test_record_opt_out_already_recorded(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;

        job_fixture_script(f, &DDB_OK(OPTED_OUT_ITEM), 1);
        v = job_fixture_run(f, j, job_record_opt_out);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(scripted_server_count(&f->server), 1); /* no write */
        assert_int_equal(f->env.stats.opt_outs, 0);
        job_free(j);
}

/* A lost compare-and-swap reads again; failures are bounded, and the step
 * still ends DONE (the reply was refused at AWS: nothing more to send). */
static void test_record_opt_out_rounds(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;

        job_fixture_script(f,
                           (struct scripted_reply[]){
                                   DDB_OK(OPTED_IN_ITEM),
                                   DDB_CONFLICT,
                                   DDB_OK(OPTED_IN_ITEM),
                                   DDB_OK("{}"),
                           },
                           4);
        v = job_fixture_run(f, j, job_record_opt_out);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(scripted_server_count(&f->server), 4);
        assert_string_equal(job_fixture_target(f, 2), "DynamoDB_20120810.GetItem");
        assert_int_equal(f->env.stats.opt_outs, 1);
        job_free(j);

        /* Lost compare-and-swaps do not count against the rounds: the record
         * is being changed, not unreachable. */
        j = job_fixture_job_of(f, job_fixture_store(f, "+14255550112", "hi", SPOOL_CLASS_OTHER, 0));
        job_fixture_script(f,
                           (struct scripted_reply[]){
                                   DDB_OK(OPTED_IN_ITEM),
                                   DDB_CONFLICT,
                                   DDB_OK(OPTED_IN_ITEM),
                                   DDB_CONFLICT,
                                   DDB_OK(OPTED_IN_ITEM),
                                   DDB_CONFLICT,
                                   DDB_OK(OPTED_IN_ITEM),
                                   DDB_OK("{}"),
                           },
                           8);
        v = job_fixture_run(f, j, job_record_opt_out);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(scripted_server_count(&f->server), 4 + 8);
        assert_int_equal(f->env.stats.opt_outs, 2);
        job_free(j);

        /* The table unreachable: JOB_RECORD_ROUNDS reads, then given up. */
        j = job_fixture_job_of(f, job_fixture_store(f, "+14255550111", "hi", SPOOL_CLASS_OTHER, 0));
        job_fixture_script(f,
                           (struct scripted_reply[]){DDB_NOT_FOUND, DDB_NOT_FOUND, DDB_NOT_FOUND,
                                                     DDB_NOT_FOUND},
                           4);
        v = job_fixture_run(f, j, job_record_opt_out);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(scripted_server_count(&f->server), 4 + 8 + 3);
        assert_int_equal(f->env.stats.opt_outs, 2);
        job_free(j);
}

/* --- the [dedup] claim --------------------------------------------------------------------- */

static void test_dedup_claim(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;
        json_t *req;

        f->config.dedup_table = "twowayd-dedup";
        job_fixture_script(f, &DDB_OK("{}"), 1);
        v = job_fixture_run(f, j, job_claim);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(f->steps[0], JOB_STEP_CLAIM);
        assert_false(j->complete);
        assert_string_equal(job_fixture_target(f, 0), "DynamoDB_20120810.PutItem");
        req = job_fixture_request_json(f, 0);
        assert_string_equal(json_string_value(json_object_get(req, "TableName")), "twowayd-dedup");
        assert_string_equal(
                json_string_value(json_object_get(
                        json_object_get(json_object_get(req, "Item"), "inbound_message_id"), "S")),
                j->row->inbound_message_id);
        json_decref(req);
        job_free(j);
}

static void test_dedup_claimed_elsewhere(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;

        f->config.dedup_table = "twowayd-dedup";
        job_fixture_script(f,
                           &(struct scripted_reply){
                                   .status = 400,
                                   .content_type = DDB_JSON,
                                   .body = DDB_CONDITION_FAILED
                                   ",\"Item\":{\"inbound_message_id\":{\"S\":\"in-1\"},"
                                   "\"claimed_by\":{\"S\":\"other:/srv\"}}}",
                           },
                           1);
        v = job_fixture_run(f, j, job_claim);
        assert_int_equal(v->kind, JOB_DONE);
        assert_true(j->complete); /* another instance has it: the row ends here */
        job_free(j);

        /* Undecided: never processed meanwhile. */
        j = job_fixture_job_of(f, job_fixture_store(f, "+14255550111", "hi", SPOOL_CLASS_OTHER, 0));
        job_fixture_script(f, &DDB_NOT_FOUND, 1);
        v = job_fixture_run(f, j, job_claim);
        assert_int_equal(v->kind, JOB_RETRY);
        assert_int_equal(v->cause, JOB_CAUSE_CLAIM);
        assert_false(j->complete);
        job_free(j);
}

#define FIXTURE_TEST(t) cmocka_unit_test_setup_teardown(t, job_fixture_setup, job_fixture_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                FIXTURE_TEST(test_read_no_record_asks_the_agent),
                FIXTURE_TEST(test_read_opted_out_blocks),
                FIXTURE_TEST(test_read_keywords),
                FIXTURE_TEST(test_read_failure_retries),
                FIXTURE_TEST(test_write_opt_out),
                FIXTURE_TEST(test_write_lost_compare_and_swap),
                FIXTURE_TEST(test_record_opt_out),
                FIXTURE_TEST(test_record_opt_out_already_recorded),
                FIXTURE_TEST(test_record_opt_out_rounds),
                FIXTURE_TEST(test_dedup_claim),
                FIXTURE_TEST(test_dedup_claimed_elsewhere),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
