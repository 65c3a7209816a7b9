/*
 * job_reply_test.c — the reply steps (job_reply.c) driven one at a time: the
 * shaping of each kind of reply (nothing when none is configured, the
 * fallback for an answer SMS cannot carry, dead for a configured text it
 * cannot), then the send through a real send queue to a scripted
 * SendTextMessage on 127.0.0.1 with the last check before sending: the
 * spool's reply state committed to 'sending' first, an opt-out stored after
 * the message or read from the consent table suppressing an answer, a reply
 * whose state is already unknown never sent again, and how a refusal ends.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "job_fixture.h"

#define SEND_TARGET "PinpointSMSVoiceV2.SendTextMessage"
#define GET_TARGET  "DynamoDB_20120810.GetItem"
#define SENT(id)    DDB_OK("{\"MessageId\":\"" id "\"}")
#define OPTED_OUT_ITEM                                                                             \
        "{\"Item\":{\"phone_number\":{\"S\":\"" JOB_FIXTURE_SENDER "\"},"                          \
        "\"consent_status\":{\"S\":\"opted_out\"},\"version\":{\"N\":\"3\"}}}"

/* A job whose reply is ready to shape. */
static struct job *reply_job(struct job_fixture *f, enum job_reply reply, const char *answer)
{
        struct job *j = job_fixture_job(f, "When are you open?", SPOOL_CLASS_OTHER);

        j->reply = reply;
        if (answer) {
                j->answer = strdup(answer);
                assert_non_null(j->answer);
        }
        return j;
}

static enum spool_reply_state reply_state(struct job_fixture *f, const struct job *j)
{
        struct spool_row *row = job_fixture_row(f, j->row->id);
        enum spool_reply_state st = row->reply_state;

        spool_row_free(row);
        return st;
}

/* --- shape ---------------------------------------------------------------------------- */

static void test_shape_answer(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = reply_job(f, JOB_REPLY_ANSWER, "We are open 9 to 5.");
        const struct job_verdict *v;

        v = job_fixture_run(f, j, job_shape);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(f->steps[0], JOB_STEP_SHAPE);
        assert_string_equal(j->text, "We are open 9 to 5.");
        assert_int_equal(j->segments, 1);
        assert_string_equal(j->identity, JOB_FIXTURE_NUMBER); /* the number that was texted */
        assert_false(j->complete);
        job_free(j);

        /* A configured identity sends every reply. */
        f->config.sms_origination_identity = "+18005550100";
        j = job_fixture_job_of(f, job_fixture_store(f, "+14255550111", "hi", SPOOL_CLASS_OTHER, 0));
        j->reply = JOB_REPLY_HELP;
        v = job_fixture_run(f, j, job_shape);
        assert_int_equal(v->kind, JOB_DONE);
        assert_string_equal(j->text, f->config.consent_help_reply);
        assert_string_equal(j->identity, "+18005550100");
        job_free(j);
}

/* Cut to [sms] max_segments. */
static void test_shape_cuts_to_max_segments(void **state)
{
        struct job_fixture *f = *state;
        char answer[2000];
        struct job *j;
        const struct job_verdict *v;

        memset(answer, 'w', sizeof(answer) - 1);
        for (size_t i = 4; i < sizeof(answer) - 1; i += 5)
                answer[i] = ' ';
        answer[sizeof(answer) - 1] = '\0';
        f->config.sms_max_segments = 2;
        j = reply_job(f, JOB_REPLY_ANSWER, answer);
        v = job_fixture_run(f, j, job_shape);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(j->reply, JOB_REPLY_ANSWER);
        assert_int_equal(j->segments, 2);
        assert_true(strlen(j->text) < strlen(answer));
        assert_true(strlen(j->text) <= 2 * 153);
        job_free(j);
}

/* An operator who unset a text wants no reply of that kind. */
static void test_shape_nothing_configured(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = reply_job(f, JOB_REPLY_OPT_IN, NULL);
        const struct job_verdict *v;

        f->config.consent_opt_in_reply = NULL;
        v = job_fixture_run(f, j, job_shape);
        assert_int_equal(v->kind, JOB_DONE);
        assert_true(j->complete);
        assert_null(j->text);
        job_free(j);
}

/* An answer SMS cannot carry becomes the fallback; a configured text it
 * cannot carry is dead. */
static void test_shape_unsendable(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = reply_job(f, JOB_REPLY_ANSWER, " \t\r\n ");
        const struct job_verdict *v;

        v = job_fixture_run(f, j, job_shape);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(j->reply, JOB_REPLY_FALLBACK);
        assert_string_equal(j->text, f->config.agent_fallback_reply);
        job_free(j);

        f->config.agent_fallback_reply = "   ";
        j = job_fixture_job_of(f, job_fixture_store(f, "+14255550111", "hi", SPOOL_CLASS_OTHER, 0));
        j->reply = JOB_REPLY_FALLBACK;
        v = job_fixture_run(f, j, job_shape);
        assert_int_equal(v->kind, JOB_DEAD);
        assert_int_equal(v->cause, JOB_CAUSE_UNSENDABLE);
        job_free(j);
}

/* --- send ------------------------------------------------------------------------------ */

/* Shape, then send; returns the send's verdict. */
static const struct job_verdict *shape_and_send(struct job_fixture *f, struct job *j)
{
        assert_int_equal(job_fixture_run(f, j, job_shape)->kind, JOB_DONE);
        return job_fixture_run(f, j, job_send);
}

/* A confirmation goes without a consent check, 'sending' committed first. */
static void test_send_confirmation(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = reply_job(f, JOB_REPLY_OPT_OUT, NULL);
        const struct job_verdict *v;
        json_t *req;

        job_fixture_script(f, &SENT("msg-1"), 1);
        v = shape_and_send(f, j);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(f->steps[1], JOB_STEP_SEND);
        assert_string_equal(j->message_id, "msg-1");
        assert_true(j->send_committed);
        assert_int_equal(reply_state(f, j), SPOOL_REPLY_SENDING);
        assert_int_equal(f->env.stats.replies_sent, 1);
        assert_int_equal(f->env.stats.fallbacks_sent, 0);

        assert_int_equal(scripted_server_count(&f->server), 1);
        assert_string_equal(job_fixture_target(f, 0), SEND_TARGET);
        req = job_fixture_request_json(f, 0);
        assert_string_equal(json_string_value(json_object_get(req, "DestinationPhoneNumber")),
                            JOB_FIXTURE_SENDER);
        assert_string_equal(json_string_value(json_object_get(req, "OriginationIdentity")),
                            JOB_FIXTURE_NUMBER);
        assert_string_equal(json_string_value(json_object_get(req, "MessageBody")),
                            f->config.consent_opt_out_reply);
        assert_string_equal(json_string_value(json_object_get(req, "MessageType")),
                            "TRANSACTIONAL");
        json_decref(req);
        job_free(j);
}

/* An answer whose consent read is a moment old goes without reading again;
 * an older one reads the consent item first. */
static void test_send_answer_consent_check(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = reply_job(f, JOB_REPLY_FALLBACK, NULL);
        const struct job_verdict *v;

        ev_now_update(f->loop);
        j->consent_read_at = ev_now(f->loop);
        job_fixture_script(f, &SENT("msg-1"), 1);
        v = shape_and_send(f, j);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(scripted_server_count(&f->server), 1);
        assert_string_equal(job_fixture_target(f, 0), SEND_TARGET);
        assert_int_equal(f->env.stats.fallbacks_sent, 1);
        spool_done(f->spool, j->row->id);
        job_free(j);

        j = reply_job(f, JOB_REPLY_ANSWER, "We are open 9 to 5.");
        j->consent_read_at = 0;
        job_fixture_script(f, (struct scripted_reply[]){DDB_OK("{}"), SENT("msg-2")}, 2);
        v = shape_and_send(f, j);
        assert_int_equal(v->kind, JOB_DONE);
        assert_string_equal(j->message_id, "msg-2");
        assert_int_equal(scripted_server_count(&f->server), 1 + 2);
        assert_string_equal(job_fixture_target(f, 1), GET_TARGET);
        assert_string_equal(job_fixture_target(f, 2), SEND_TARGET);
        job_free(j);
}

/* The sender opted out meanwhile (the consent item says so): nothing sent,
 * nothing committed. */
static void test_send_suppressed_by_consent(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = reply_job(f, JOB_REPLY_ANSWER, "We are open 9 to 5.");
        const struct job_verdict *v;

        job_fixture_script(f, (struct scripted_reply[]){DDB_OK(OPTED_OUT_ITEM), SENT("msg-1")}, 2);
        v = shape_and_send(f, j);
        assert_int_equal(v->kind, JOB_SUPERSEDED);
        assert_int_equal(v->cause, JOB_CAUSE_SUPPRESSED);
        assert_null(j->message_id);
        assert_false(j->send_committed);
        assert_int_equal(reply_state(f, j), SPOOL_REPLY_NONE);
        assert_int_equal(scripted_server_count(&f->server), 1);
        assert_string_equal(job_fixture_target(f, 0), GET_TARGET);
        assert_int_equal(f->env.stats.replies_sent, 0);
        job_free(j);
}

/* An opt-out stored after the message suppresses its answer without asking
 * anyone; a confirmation still goes. */
static void test_send_suppressed_by_later_opt_out(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = reply_job(f, JOB_REPLY_ANSWER, "We are open 9 to 5.");
        const struct job_verdict *v;

        (void)job_fixture_store(f, JOB_FIXTURE_SENDER, "STOP", SPOOL_CLASS_OPT_OUT,
                                j->row->received_at + 1000);
        job_fixture_script(f, &SENT("msg-1"), 1);
        v = shape_and_send(f, j);
        assert_int_equal(v->kind, JOB_SUPERSEDED);
        assert_int_equal(v->cause, JOB_CAUSE_SUPPRESSED);
        assert_int_equal(scripted_server_count(&f->server), 0);
        assert_int_equal(reply_state(f, j), SPOOL_REPLY_NONE);

        j->reply = JOB_REPLY_HELP;
        v = shape_and_send(f, j);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(scripted_server_count(&f->server), 1);
        job_free(j);
}

/* A reply whose state is already past 'none' may have gone: never again. */
static void test_send_reply_state_unknown(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = reply_job(f, JOB_REPLY_OPT_IN, NULL);
        const struct job_verdict *v;

        assert_int_equal(spool_reply_sending(f->spool, j->row->id), 0);
        job_fixture_script(f, &SENT("msg-1"), 1);
        v = shape_and_send(f, j);
        assert_int_equal(v->kind, JOB_DEAD);
        assert_int_equal(v->cause, JOB_CAUSE_REPLY_UNKNOWN);
        assert_int_equal(scripted_server_count(&f->server), 0);
        job_free(j);
}

/* Refused for good, or the destination on the AWS opt-out list. */
static void test_send_refused(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = reply_job(f, JOB_REPLY_OPT_IN, NULL);
        const struct job_verdict *v;

        job_fixture_script(f,
                           &(struct scripted_reply){
                                   .status = 400,
                                   .content_type = DDB_JSON,
                                   .body = "{\"__type\":\"com.amazonaws.pinpointsmsvoicev2#"
                                           "ValidationException\",\"Message\":\"bad body\","
                                           "\"Reason\":\"OTHER\"}",
                           },
                           1);
        v = shape_and_send(f, j);
        assert_int_equal(v->kind, JOB_DEAD);
        assert_int_equal(v->cause, JOB_CAUSE_SEND_REFUSED);
        assert_int_equal(scripted_server_count(&f->server), 1); /* not retried */
        assert_int_equal(f->env.stats.replies_sent, 0);
        spool_done(f->spool, j->row->id);
        job_free(j);

        j = reply_job(f, JOB_REPLY_OPT_IN, NULL);
        job_fixture_script(f,
                           &(struct scripted_reply){
                                   .status = 400,
                                   .content_type = DDB_JSON,
                                   .body = "{\"__type\":\"com.amazonaws.pinpointsmsvoicev2#"
                                           "ConflictException\",\"Message\":\"opted out\","
                                           "\"Reason\":\"DESTINATION_PHONE_NUMBER_OPTED_OUT\","
                                           "\"ResourceType\":\"phone-number\"}",
                           },
                           1);
        v = shape_and_send(f, j);
        assert_int_equal(v->kind, JOB_DONE);
        assert_true(j->opted_out_aws); /* the driver records it next */
        assert_null(j->message_id);
        job_free(j);
}

/* Cancelled while waiting for its slot: CANCELLED, nothing sent. */
static void test_send_cancelled(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = reply_job(f, JOB_REPLY_OPT_IN, NULL);
        struct job_fixture_wait w;

        assert_int_equal(job_fixture_run(f, j, job_shape)->kind, JOB_DONE);
        job_fixture_script(f, &SENT("msg-1"), 1);
        w = (struct job_fixture_wait){f, f->n_verdicts};
        job_send(j);
        assert_int_equal(j->work.kind, JOB_WORK_SEND);
        assert_true(job_cancel(j, JOB_CANCEL_SUPERSEDE));
        assert_true(run_loop_while_not(f->loop, job_fixture_has_verdict, &w, JOB_FIXTURE_WAIT));
        assert_int_equal(f->verdicts[w.n].kind, JOB_CANCELLED);
        assert_int_equal(scripted_server_count(&f->server), 0);
        assert_int_equal(reply_state(f, j), SPOOL_REPLY_NONE);
        job_free(j);
}

#define FIXTURE_TEST(t) cmocka_unit_test_setup_teardown(t, job_fixture_setup, job_fixture_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                FIXTURE_TEST(test_shape_answer),
                FIXTURE_TEST(test_shape_cuts_to_max_segments),
                FIXTURE_TEST(test_shape_nothing_configured),
                FIXTURE_TEST(test_shape_unsendable),
                FIXTURE_TEST(test_send_confirmation),
                FIXTURE_TEST(test_send_answer_consent_check),
                FIXTURE_TEST(test_send_suppressed_by_consent),
                FIXTURE_TEST(test_send_suppressed_by_later_opt_out),
                FIXTURE_TEST(test_send_reply_state_unknown),
                FIXTURE_TEST(test_send_refused),
                FIXTURE_TEST(test_send_cancelled),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
