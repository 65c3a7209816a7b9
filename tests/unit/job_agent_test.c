/*
 * job_agent_test.c — the agent steps (job_agent.c) driven one at a time
 * against a scripted Bedrock agent on 127.0.0.1 that answers in the event
 * stream: an answer, an empty one, failures before and after the answer began
 * to stream (the turn rule: at most once once the agent may have acted, the
 * call recorded in the spool before it is made), a turn already spent, a
 * returnControl with and without [agent] return_control_url, and the end of a
 * session.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "agent_turn.h"
#include "eventstream_frames.h"
#include "job_fixture.h"

#define AGENT_PATH "/agents/AGENT12345/agentAliases/ALIAS12345/sessions/p14255550123/text"
#define STREAM     "application/vnd.amazon.eventstream"

/* The agent's error answer: status, x-amzn-ErrorType and message. */
#define AGENT_ERROR(st, type, msg)                                                                 \
        ((struct scripted_reply){                                                                  \
                .status = (st),                                                                    \
                .content_type = "application/json",                                                \
                .headers = {{"X-Amzn-ErrorType", (type)}},                                         \
                .body = "{\"message\":\"" msg "\"}",                                               \
        })

static int setup(void **state)
{
        struct job_fixture *f;

        if (job_fixture_setup(state) < 0)
                return -1;
        f = *state;
        return agent_turns_new(f->loop, f->l.aws, &f->env.turns) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
        struct job_fixture *f = *state;

        f->env.turns = agent_turns_free(f->env.turns);
        return job_fixture_teardown(state);
}

/* An event stream reply of body b (kept by the caller until the step ends). */
static struct scripted_reply stream_reply(const struct bytes *b)
{
        return (struct scripted_reply){
                .status = 200,
                .content_type = STREAM,
                .body = (const char *)b->p,
                .body_len = b->n,
        };
}

static struct bytes answer_stream(const char *text)
{
        struct bytes b = {0};

        chunk_frame(&b, text, strlen(text));
        return b;
}

static struct job *agent_job(struct job_fixture *f)
{
        return job_fixture_job(f, "When are you open?", SPOOL_CLASS_OTHER);
}

static struct spool_row *row_now(struct job_fixture *f, const struct job *j)
{
        return job_fixture_row(f, j->row->id);
}

/* The answer becomes the reply; the call and the start of its stream are
 * recorded in the spool. */
static void test_answer(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = agent_job(f);
        struct bytes b = answer_stream("We are open 9 to 5.");
        const struct job_verdict *v;
        struct spool_row *row;
        json_t *req;

        job_fixture_script(f, (struct scripted_reply[]){stream_reply(&b)}, 1);
        v = job_fixture_run(f, j, job_agent);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(f->steps[0], JOB_STEP_AGENT);
        assert_int_equal(j->reply, JOB_REPLY_ANSWER);
        assert_string_equal(j->answer, "We are open 9 to 5.");

        assert_int_equal(scripted_server_count(&f->server), 1);
        assert_string_equal(f->server.requests[0].method, "POST");
        assert_string_equal(f->server.requests[0].path, AGENT_PATH);
        req = job_fixture_request_json(f, 0);
        assert_string_equal(json_string_value(json_object_get(req, "inputText")),
                            "When are you open?");
        json_decref(req);

        row = row_now(f, j);
        assert_int_equal(row->agent_calls, 1);
        assert_true(row->agent_streamed);
        spool_row_free(row);
        job_free(j);
        bytes_done(&b);
}

/* Nothing to say, or nothing SMS can carry: the fallback. */
static void test_empty_answer_falls_back(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = agent_job(f);
        struct bytes b = answer_stream(" \n ");
        const struct job_verdict *v;

        job_fixture_script(f, (struct scripted_reply[]){stream_reply(&b)}, 1);
        v = job_fixture_run(f, j, job_agent);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(j->reply, JOB_REPLY_FALLBACK);
        assert_null(j->answer);
        job_free(j);
        bytes_done(&b);
}

/* Refused before the agent saw it: retried (the dependency failure with a
 * cause of its own), and the call does not count against the turn. */
static void test_failure_before_the_stream(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = agent_job(f);
        const struct job_verdict *v;
        struct spool_row *row;

        job_fixture_script(f, &AGENT_ERROR(424, "DependencyFailedException", "the model is busy"),
                           1);
        v = job_fixture_run(f, j, job_agent);
        assert_int_equal(v->kind, JOB_RETRY);
        assert_int_equal(v->cause, JOB_CAUSE_AGENT_DEPENDENCY);
        assert_string_equal(v->detail, "agent: DependencyFailedException: the model is busy");
        row = row_now(f, j);
        assert_int_equal(row->agent_calls, 0);
        assert_false(row->agent_streamed);
        spool_row_free(row);

        job_fixture_script(f, &AGENT_ERROR(503, "ServiceUnavailableException", "try later"), 1);
        v = job_fixture_run(f, j, job_agent);
        assert_int_equal(v->kind, JOB_RETRY);
        assert_int_equal(v->cause, JOB_CAUSE_AGENT);

        /* A permanent refusal: the fallback at once. */
        job_fixture_script(f, &AGENT_ERROR(400, "ValidationException", "bad input"), 1);
        v = job_fixture_run(f, j, job_agent);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(j->reply, JOB_REPLY_FALLBACK);
        assert_int_equal(scripted_server_count(&f->server), 3);
        job_free(j);
}

/* The answer began to stream, then failed: the agent may have acted, so it
 * is not asked again: the fallback. */
static void test_failure_after_the_stream_began(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = agent_job(f);
        struct bytes b = answer_stream("We are op");
        const struct job_verdict *v;
        struct spool_row *row;

        exception_frame(&b, "throttlingException", "{\"message\":\"Rate exceeded\"}");
        job_fixture_script(f, (struct scripted_reply[]){stream_reply(&b)}, 1);
        v = job_fixture_run(f, j, job_agent);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(j->reply, JOB_REPLY_FALLBACK);
        row = row_now(f, j);
        assert_true(row->agent_streamed);
        assert_int_equal(row->agent_calls, 1);
        spool_row_free(row);
        job_free(j);
        bytes_done(&b);
}

/* A row as an earlier attempt left it: the spool's record of its agent
 * calls read back into the job, as a claim after a restart reads it. */
static void reread_row(struct job_fixture *f, struct job *j)
{
        int64_t id = j->row->id;

        spool_row_free(j->row);
        j->row = job_fixture_row(f, id);
}

/* A turn already spent is not called again. */
static void test_turn_spent(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = agent_job(f);
        const struct job_verdict *v;

        /* Two calls that may have reached the agent, without an answer. */
        assert_int_equal(spool_agent_calling(f->spool, j->row->id), 0);
        assert_int_equal(spool_agent_calling(f->spool, j->row->id), 0);
        reread_row(f, j);
        assert_int_equal(j->row->agent_calls, 2);
        v = job_fixture_run(f, j, job_agent);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(j->reply, JOB_REPLY_FALLBACK);
        assert_int_equal(scripted_server_count(&f->server), 0);
        job_free(j);

        /* An answer that began to stream before. */
        j = job_fixture_job_of(f, job_fixture_store(f, "+14255550111", "hi", SPOOL_CLASS_OTHER, 0));
        assert_int_equal(spool_agent_calling(f->spool, j->row->id), 0);
        assert_int_equal(spool_agent_streamed(f->spool, j->row->id), 0);
        reread_row(f, j);
        assert_true(j->row->agent_streamed);
        v = job_fixture_run(f, j, job_agent);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(j->reply, JOB_REPLY_FALLBACK);
        assert_int_equal(scripted_server_count(&f->server), 0);
        job_free(j);
}

static void return_control_frame(struct bytes *out)
{
        static const char rc[] = "{\"invocationId\":\"inv-1\",\"invocationInputs\":[{"
                                 "\"functionInvocationInput\":{\"actionGroup\":\"Booking\","
                                 "\"function\":\"book\",\"parameters\":[]}}]}";
        struct bytes h = {0};

        event_headers(&h, "returnControl");
        frame(out, &h, rc, strlen(rc));
        bytes_done(&h);
}

/* returnControl without [agent] return_control_url: nobody can run the
 * action; the fallback. */
static void test_return_control_unsupported(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = agent_job(f);
        struct bytes b = {0};
        const struct job_verdict *v;

        return_control_frame(&b);
        job_fixture_script(f, (struct scripted_reply[]){stream_reply(&b)}, 1);
        v = job_fixture_run(f, j, job_agent);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(j->reply, JOB_REPLY_FALLBACK);
        assert_int_equal(scripted_server_count(&f->server), 1);
        job_free(j);
        bytes_done(&b);
}

/* returnControl answered by the handler at return_control_url, whose
 * results go back to the agent in the same turn. */
static void test_return_control_answered(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = agent_job(f);
        struct bytes rc = {0}, answer = answer_stream("Booked for 3pm.");
        char url[128];
        const struct job_verdict *v;
        json_t *hook, *again;

        (void)snprintf(url, sizeof(url), "%s/hook", f->server.base_url);
        f->config.agent_return_control_url = url;
        return_control_frame(&rc);
        job_fixture_script(
                f,
                (struct scripted_reply[]){
                        stream_reply(&rc),
                        {.status = 200,
                         .content_type = "application/json",
                         .body = "{\"returnControlInvocationResults\":[{\"functionResult\":{"
                                 "\"actionGroup\":\"Booking\",\"function\":\"book\","
                                 "\"responseBody\":{\"TEXT\":{\"body\":\"booked\"}}}}]}"},
                        stream_reply(&answer),
                },
                3);
        v = job_fixture_run(f, j, job_agent);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(j->reply, JOB_REPLY_ANSWER);
        assert_string_equal(j->answer, "Booked for 3pm.");
        assert_int_equal(j->returns, 1);

        assert_int_equal(scripted_server_count(&f->server), 3);
        assert_string_equal(f->server.requests[1].path, "/hook");
        hook = job_fixture_request_json(f, 1);
        assert_string_equal(json_string_value(json_object_get(hook, "invocationId")), "inv-1");
        assert_string_equal(json_string_value(json_object_get(hook, "originationNumber")),
                            JOB_FIXTURE_SENDER);
        json_decref(hook);
        assert_string_equal(f->server.requests[2].path, AGENT_PATH);
        again = job_fixture_request_json(f, 2);
        assert_null(json_object_get(again, "inputText"));
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(again, "sessionState"), "invocationId")),
                            "inv-1");
        assert_true(json_is_array(json_object_get(json_object_get(again, "sessionState"),
                                                  "returnControlInvocationResults")));
        json_decref(again);
        job_free(j);
        bytes_done(&rc);
        bytes_done(&answer);
}

/* An opt-out ends the session; whatever the agent says, the step is DONE. */
static void test_end_session(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "STOP", SPOOL_CLASS_OPT_OUT);
        struct bytes b = answer_stream("Goodbye.");
        const struct job_verdict *v;
        json_t *req;

        job_fixture_script(f, (struct scripted_reply[]){stream_reply(&b)}, 1);
        v = job_fixture_run(f, j, job_end_session);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(f->steps[0], JOB_STEP_END_SESSION);
        assert_int_equal(j->reply, JOB_REPLY_NONE); /* the confirmation is the driver's */
        req = job_fixture_request_json(f, 0);
        assert_true(json_is_true(json_object_get(req, "endSession")));
        assert_null(json_object_get(req, "inputText")); /* STOP is not the agent's business */
        json_decref(req);

        job_fixture_script(f, &AGENT_ERROR(500, "InternalServerException", "oops"), 1);
        v = job_fixture_run(f, j, job_end_session);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(scripted_server_count(&f->server), 2);
        job_free(j);
        bytes_done(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_answer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_empty_answer_falls_back, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failure_before_the_stream, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failure_after_the_stream_began, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_turn_spent, setup, teardown),
                cmocka_unit_test_setup_teardown(test_return_control_unsupported, setup, teardown),
                cmocka_unit_test_setup_teardown(test_return_control_answered, setup, teardown),
                cmocka_unit_test_setup_teardown(test_end_session, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
