/*
 * job_cluster_test.c — the claim step in cluster mode (job_cluster.c) driven
 * against a scripted cluster table on 127.0.0.1: the sender's lease taken
 * (its fence) or joined when held here, the order check that imports the
 * sender's earlier open records stored elsewhere, the fenced claim of the
 * message record, and each way the claim ends: claimed, held elsewhere,
 * finished elsewhere, claimed under a newer fence, a reply already begun,
 * the table unreachable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cluster.h"
#include "job_fixture.h"
#include "ddb_request.h"

#define UPDATE     "DynamoDB_20120810.UpdateItem"
#define QUERY      "DynamoDB_20120810.Query"
#define LEASE(n)   DDB_OK("{\"Attributes\":{\"fence\":{\"N\":\"" #n "\"}}}")
#define NO_EARLIER DDB_OK("{\"Items\":[],\"Count\":0}")
#define CLAIMED    DDB_OK("{\"Attributes\":{\"state\":{\"S\":\"open\"}}}")
/* The record's claim refused: another instance's record, in this state. */
#define RECORD_OF_OTHER(state)                                                                     \
        (struct scripted_reply)                                                                    \
        {                                                                                          \
                .status = 400, .content_type = DDB_JSON,                                           \
                .body = DDB_CONDITION_FAILED ",\"Item\":{\"state\":{\"S\":\"" state "\"},"         \
                                             "\"owner\":{\"S\":\"other:/srv\"}}}"                  \
        }
/* The record claimed, an earlier attempt's reply in this state. */
#define CLAIMED_REPLY(state) DDB_OK("{\"Attributes\":{\"reply_state\":{\"S\":\"" state "\"}}}")

static int setup(void **state)
{
        struct job_fixture *f;

        if (job_fixture_setup(state) < 0)
                return -1;
        f = *state;
        return cluster_new(&(struct cluster_options){.loop = f->loop,
                                                     .aws = f->l.aws,
                                                     .spool = f->spool,
                                                     .table = "twowayd-cluster",
                                                     .instance = f->env.instance,
                                                     .lease_seconds = 15,
                                                     .record_ttl_days = 7,
                                                     .max_age_s = 3600},
                           &f->env.cluster) < 0
                       ? -1
                       : 0;
}

static int teardown(void **state)
{
        struct job_fixture *f = *state;

        f->env.cluster = cluster_free(f->env.cluster);
        return job_fixture_teardown(state);
}

/* The i-th request: its target, on the cluster table, for key sk (prefix). */
static void assert_request(struct job_fixture *f, size_t i, const char *target, const char *sk)
{
        json_t *req = job_fixture_request_json(f, i);
        const char *got_sk = ddb_request_key(req, "sk");

        assert_string_equal(job_fixture_target(f, i), target);
        assert_string_equal(json_string_value(json_object_get(req, "TableName")),
                            "twowayd-cluster");
        if (sk) {
                assert_non_null(got_sk);
                if (strncmp(got_sk, sk, strlen(sk)) != 0)
                        fail_msg("request %zu is for %s, not %s", i, got_sk, sk);
        }
        json_decref(req);
}

/* The claim step on j, the cluster table answering with the n replies. */
static const struct job_verdict *claim_answered(struct job_fixture *f, struct job *j,
                                                const struct scripted_reply *replies, size_t n)
{
        job_fixture_script(f, replies, n);
        return job_fixture_run(f, j, job_cluster_claim);
}

/* A conversation: lease, order check, fenced claim. */
static void test_conversation_claimed(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "When are you open?", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;
        json_t *claim;

        v = claim_answered(f, j, (struct scripted_reply[]){LEASE(7), NO_EARLIER, CLAIMED}, 3);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(f->steps[0], JOB_STEP_CLAIM);
        assert_false(j->complete);
        assert_int_equal(j->fence, 7);
        assert_true(j->leased);
        assert_true(j->claimed);

        assert_int_equal(scripted_server_count(&f->server), 3);
        assert_request(f, 0, UPDATE, "lease#conversation");
        assert_request(f, 1, QUERY, NULL);
        assert_request(f, 2, UPDATE, "msg#");
        /* The claim carries the lease's fence. */
        claim = job_fixture_request_json(f, 2);
        assert_string_equal(ddb_request_value(claim, ":f", "N"), "7");
        json_decref(claim);
        job_free(j);
}

/* A consent keyword has a lane of its own and no order check. */
static void test_consent_lane(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "STOP", SPOOL_CLASS_OPT_OUT);
        const struct job_verdict *v;

        v = claim_answered(f, j, (struct scripted_reply[]){LEASE(3), CLAIMED}, 2);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(j->fence, 3);
        assert_int_equal(scripted_server_count(&f->server), 2);
        assert_request(f, 0, UPDATE, "lease#consent");
        assert_request(f, 1, UPDATE, "msg#");
        job_free(j);
}

/* A lease held here is joined, not taken again. */
static void test_lease_joined(void **state)
{
        struct job_fixture *f = *state;
        struct job *a = job_fixture_job(f, "first", SPOOL_CLASS_OTHER);
        struct job *b;
        const struct job_verdict *v;

        job_fixture_script(f, (struct scripted_reply[]){LEASE(9), NO_EARLIER, CLAIMED}, 3);
        assert_int_equal(job_fixture_run(f, a, job_cluster_claim)->kind, JOB_DONE);
        assert_int_equal(spool_done(f->spool, a->row->id), 0);

        b = job_fixture_job(f, "second", SPOOL_CLASS_OTHER);
        v = claim_answered(f, b, (struct scripted_reply[]){NO_EARLIER, CLAIMED}, 2);
        assert_int_equal(v->kind, JOB_DONE);
        assert_int_equal(b->fence, 9);
        assert_true(b->leased);
        assert_int_equal(scripted_server_count(&f->server), 3 + 2);
        assert_request(f, 3, QUERY, NULL);
        assert_request(f, 4, UPDATE, "msg#");
        job_free(a);
        job_free(b);
}

/* Another instance works on this sender: wait, never process meanwhile. */
static void test_lease_held_elsewhere(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;

        v = claim_answered(f, j, &DDB_CONFLICT, 1); /* the lease's condition failed */
        assert_int_equal(v->kind, JOB_RETRY);
        assert_int_equal(v->cause, JOB_CAUSE_LEASE_HELD);
        assert_false(j->leased);
        assert_false(j->claimed);
        assert_int_equal(scripted_server_count(&f->server), 1);
        job_free(j);
}

/* The record's claim failed: what the record says decides. */
static void test_record_judged(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;

        /* Finished by another instance: the row ends here, done. */
        v = claim_answered(
                f, j, (struct scripted_reply[]){LEASE(4), NO_EARLIER, RECORD_OF_OTHER("done")}, 3);
        assert_int_equal(v->kind, JOB_DONE);
        assert_true(j->complete);
        assert_false(j->claimed);
        assert_string_equal(j->handled_by, "other:/srv");
        job_free(j);

        /* Still open, claimed under a newer fence: wait. */
        j = job_fixture_job_of(f, job_fixture_store(f, "+14255550111", "hi", SPOOL_CLASS_OTHER, 0));
        v = claim_answered(
                f, j, (struct scripted_reply[]){LEASE(5), NO_EARLIER, RECORD_OF_OTHER("open")}, 3);
        assert_int_equal(v->kind, JOB_RETRY);
        assert_int_equal(v->cause, JOB_CAUSE_LEASE_HELD);
        assert_false(j->complete);
        job_free(j);
}

/* Claimed, but an earlier attempt had begun the reply: never again. */
static void test_reply_already_begun(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;

        v = claim_answered(
                f, j, (struct scripted_reply[]){LEASE(6), NO_EARLIER, CLAIMED_REPLY("sending")}, 3);
        assert_int_equal(v->kind, JOB_DEAD);
        assert_int_equal(v->cause, JOB_CAUSE_REPLY_UNKNOWN);
        assert_true(j->claimed);
        job_free(j);

        j = job_fixture_job_of(f, job_fixture_store(f, "+14255550111", "hi", SPOOL_CLASS_OTHER, 0));
        v = claim_answered(
                f, j, (struct scripted_reply[]){LEASE(6), NO_EARLIER, CLAIMED_REPLY("sent")}, 3);
        assert_int_equal(v->kind, JOB_DONE);
        assert_true(j->complete);
        job_free(j);
}

/* The sender's earlier record, open on another instance, is stored here
 * first; this message waits its turn. */
static void test_earlier_record_imported(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "second message", SPOOL_CLASS_OTHER);
        const struct cluster_msg earlier = {
                .sender = JOB_FIXTURE_SENDER,
                .inbound_message_id = "in-elsewhere",
                .sns_message_id = "sns-elsewhere",
                .destination = JOB_FIXTURE_NUMBER,
                .topic_arn = "arn:aws:sns:us-east-1:123456789012:t",
                .raw = "{\"originationNumber\":\"" JOB_FIXTURE_SENDER "\","
                       "\"destinationNumber\":\"" JOB_FIXTURE_NUMBER "\","
                       "\"messageKeyword\":\"KEYWORD_123456789012\","
                       "\"messageBody\":\"first message\","
                       "\"inboundMessageId\":\"in-elsewhere\"}",
                .received_at = j->row->received_at - 1000,
                .keyword_class = SPOOL_CLASS_OTHER,
        };
        json_t *put = cluster_record_put_request(cluster_params(f->env.cluster), &earlier, 1);
        json_t *answer;
        char *query_answer;
        const struct job_verdict *v;
        struct spool_counts counts;

        assert_non_null(put);
        answer = json_pack("{s:[O],s:i}", "Items", json_object_get(put, "Item"), "Count", 1);
        assert_non_null(answer);
        query_answer = json_dumps(answer, JSON_COMPACT);
        json_decref(answer);
        assert_non_null(query_answer);
        v = claim_answered(f, j, (struct scripted_reply[]){LEASE(2), DDB_OK(query_answer)}, 2);
        assert_int_equal(v->kind, JOB_RETRY);
        assert_int_equal(v->cause, JOB_CAUSE_CLUSTER_ORDER);
        assert_false(j->claimed);
        assert_int_equal(scripted_server_count(&f->server), 2);
        assert_int_equal(spool_counts(f->spool, &counts), 0);
        assert_int_equal(counts.by_state[SPOOL_STATE_PENDING], 1); /* the earlier one, stored */
        free(query_answer);
        json_decref(put);
        job_free(j);
}

/* The table could not be reached: retried like the [dedup] claim. */
static void test_table_unreachable(void **state)
{
        struct job_fixture *f = *state;
        struct job *j = job_fixture_job(f, "hello", SPOOL_CLASS_OTHER);
        const struct job_verdict *v;

        v = claim_answered(f, j, &DDB_NOT_FOUND, 1);
        assert_int_equal(v->kind, JOB_RETRY);
        assert_int_equal(v->cause, JOB_CAUSE_CLUSTER);
        assert_string_equal(
                v->detail,
                "cluster lease: ResourceNotFoundException: Requested resource not found");
        assert_false(j->leased);
        job_free(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_conversation_claimed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_consent_lane, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lease_joined, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lease_held_elsewhere, setup, teardown),
                cmocka_unit_test_setup_teardown(test_record_judged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reply_already_begun, setup, teardown),
                cmocka_unit_test_setup_teardown(test_earlier_record_imported, setup, teardown),
                cmocka_unit_test_setup_teardown(test_table_unreachable, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
