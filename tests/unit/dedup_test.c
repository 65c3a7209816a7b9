/*
 * dedup_test.c — the cross-instance claim against a scripted DynamoDB on
 * 127.0.0.1: the conditional PutItem that goes out, who processes the
 * message when the condition fails (us after a restart, or another
 * instance), the consistent read when DynamoDB returns no old item, and that
 * an undecided claim is never taken as ours.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ev.h>
#include <jansson.h>

#include "dedup.h"

#include "loopback_aws.h"

#define NOW        1767312000
#define ME         "0123456789abcdef0123456789abcdef:/var/lib/twowayd"
#define WAIT_LIMIT 10.0

#define CONDITION_FAILED                                                                           \
        "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","        \
        "\"message\":\"The conditional request failed\""

/* The item of a claim, as DynamoDB returns it. */
#define CLAIM_ITEM(id, holder)                                                                     \
        "{\"inbound_message_id\":{\"S\":\"" id "\"},\"claimed_by\":{\"S\":\"" holder "\"}}"

struct fixture {
        struct ev_loop *loop;
        struct scripted_server server;
        struct loopback_aws l;
        bool done;
        int r;
        enum dedup_outcome outcome;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f || loopback_aws_start(&f->loop, &f->server, LOOPBACK_ONE_ATTEMPT, &f->l) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        loopback_aws_stop(f->loop, &f->server, &f->l);
        free(f);
        return 0;
}

static void claim_done(int r, enum dedup_outcome outcome, void *userdata)
{
        struct fixture *f = userdata;

        assert_false(f->done); /* exactly once */
        f->done = true;
        f->r = r;
        f->outcome = outcome;
}

static void claim(struct fixture *f, const char *id)
{
        assert_int_equal(
                dedup_claim(f->l.aws, "twowayd-dedup", id, ME, NOW, 7, claim_done, f, NULL), 0);
        assert_false(f->done);
        assert_true(run_loop_until(f->loop, &f->done, WAIT_LIMIT));
}

/* A claim of id that the server answers with the n replies. */
static void claim_answered(struct fixture *f, const char *id, const struct scripted_reply *replies,
                           size_t n)
{
        f->done = false;
        scripted_server_script(&f->server, replies, n);
        claim(f, id);
}

static void assert_json_body(const struct recorded_request *rq, const char *expected)
{
        json_t *got = json_loads(rq->body, 0, NULL);
        json_t *want = json_loads(expected, 0, NULL);

        assert_non_null(got);
        assert_non_null(want);
        if (!json_equal(got, want))
                fail_msg("body %s\nwant %s", rq->body, expected);
        json_decref(got);
        json_decref(want);
}

static void test_first_claim_wins(void **state)
{
        struct fixture *f = *state;

        claim(f, "in-1");
        assert_int_equal(f->r, 0);
        assert_int_equal(f->outcome, DEDUP_CLAIMED);
        assert_int_equal(scripted_server_count(&f->server), 1);
        assert_string_equal(recorded_header(&f->server.requests[0], "X-Amz-Target"),
                            "DynamoDB_20120810.PutItem");
        /* Conditional on nobody having it; expires a week later (the TTL). */
        assert_json_body(
                &f->server.requests[0],
                "{\"TableName\":\"twowayd-dedup\",\"Item\":{"
                "\"inbound_message_id\":{\"S\":\"in-1\"},\"claimed_by\":{\"S\":\"" ME "\"},"
                "\"claimed_at\":{\"N\":\"1767312000\"},\"expires_at\":{\"N\":\"1767916800\"}},"
                "\"ConditionExpression\":\"attribute_not_exists(inbound_message_id)\","
                "\"ReturnValuesOnConditionCheckFailure\":\"ALL_OLD\"}");
}

static void test_claimed_by_another_instance(void **state)
{
        struct fixture *f = *state;

        claim_answered(
                f, "in-1",
                &(struct scripted_reply){
                        .status = 400,
                        .body = CONDITION_FAILED ",\"Item\":" CLAIM_ITEM("in-1", "other:/srv") "}",
                },
                1);
        assert_int_equal(f->r, 0);
        assert_int_equal(f->outcome, DEDUP_CLAIMED_ELSEWHERE);
        assert_int_equal(scripted_server_count(&f->server), 1);
}

static void test_own_claim_before_a_restart_goes_on(void **state)
{
        struct fixture *f = *state;

        claim_answered(f, "in-1",
                       &(struct scripted_reply){
                               .status = 400,
                               .body = CONDITION_FAILED ",\"Item\":" CLAIM_ITEM("in-1", ME) "}",
                       },
                       1);
        assert_int_equal(f->r, 0);
        assert_int_equal(f->outcome, DEDUP_CLAIMED);
}

static void test_no_old_item_reads_the_holder(void **state)
{
        struct fixture *f = *state;

        /* Ours, found by the read. */
        claim_answered(f, "in-1",
                       (const struct scripted_reply[]){
                               {.status = 400, .body = CONDITION_FAILED "}"},
                               {.status = 200, .body = "{\"Item\":" CLAIM_ITEM("in-1", ME) "}"},
                       },
                       2);
        assert_int_equal(f->r, 0);
        assert_int_equal(f->outcome, DEDUP_CLAIMED);
        assert_int_equal(scripted_server_count(&f->server), 2);
        assert_string_equal(recorded_header(&f->server.requests[1], "X-Amz-Target"),
                            "DynamoDB_20120810.GetItem");
        assert_json_body(&f->server.requests[1],
                         "{\"TableName\":\"twowayd-dedup\",\"Key\":{\"inbound_message_id\":{\"S\":"
                         "\"in-1\"}},\"ConsistentRead\":true}");

        /* Another's. */
        claim_answered(
                f, "in-2",
                (const struct scripted_reply[]){
                        {.status = 400, .body = CONDITION_FAILED "}"},
                        {.status = 200, .body = "{\"Item\":" CLAIM_ITEM("in-2", "other:/srv") "}"},
                },
                2);
        assert_int_equal(f->r, 0);
        assert_int_equal(f->outcome, DEDUP_CLAIMED_ELSEWHERE);

        /* Gone by the time of the read (expired): not ours to take. */
        claim_answered(f, "in-3",
                       (const struct scripted_reply[]){
                               {.status = 400, .body = CONDITION_FAILED "}"},
                               {.status = 200, .body = "{}"},
                       },
                       2);
        assert_int_equal(f->r, 0);
        assert_int_equal(f->outcome, DEDUP_CLAIMED_ELSEWHERE);
}

static void test_undecided_claims_are_errors(void **state)
{
        struct fixture *f = *state;

        /* The table is missing: an error, never a claim. */
        claim_answered(f, "in-1",
                       &(struct scripted_reply){
                               .status = 400,
                               .body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
                                       "ResourceNotFoundException\"}",
                       },
                       1);
        assert_int_equal(f->r, -EREMOTEIO);

        /* The read after a failed condition fails. */
        claim_answered(f, "in-2",
                       (const struct scripted_reply[]){
                               {.status = 400, .body = CONDITION_FAILED "}"},
                               {.status = 500, .body = ""},
                       },
                       2);
        assert_int_equal(f->r, -EREMOTEIO);
        assert_int_equal(f->outcome, DEDUP_CLAIMED_ELSEWHERE);
}

static void test_cancel(void **state)
{
        struct fixture *f = *state;
        struct dedup_claim *c = NULL;

        assert_int_equal(
                dedup_claim(f->l.aws, "twowayd-dedup", "in-1", ME, NOW, 7, claim_done, f, &c), 0);
        dedup_claim_cancel(c);
        assert_false(f->done);
        assert_true(run_loop_until(f->loop, &f->done, WAIT_LIMIT));
        assert_int_equal(f->r, -ECANCELED);
        assert_int_equal(f->outcome, DEDUP_CLAIMED_ELSEWHERE);
}

static void test_instance_name_names_the_spool(void **state)
{
        char a[300], b[300];

        (void)state;
        assert_int_equal(dedup_instance_name("/var/lib/twowayd", a, sizeof(a)), 0);
        assert_int_equal(dedup_instance_name("/var/lib/twowayd", b, sizeof(b)), 0);
        assert_string_equal(a, b); /* stable: a restart recognises its claims */
        assert_non_null(strstr(a, ":/var/lib/twowayd"));
        assert_int_equal(dedup_instance_name("/srv/other", b, sizeof(b)), 0);
        assert_string_not_equal(a, b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_first_claim_wins, setup, teardown),
                cmocka_unit_test_setup_teardown(test_claimed_by_another_instance, setup, teardown),
                cmocka_unit_test_setup_teardown(test_own_claim_before_a_restart_goes_on, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_no_old_item_reads_the_holder, setup, teardown),
                cmocka_unit_test_setup_teardown(test_undecided_claims_are_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
                cmocka_unit_test(test_instance_name_names_the_spool),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
