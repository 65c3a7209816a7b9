/*
 * cluster_test.c — the runtime of cluster mode (cluster.c) on a real loop
 * against a scripted cluster table on 127.0.0.1: a message record finished
 * (conditioned on the claim's fence, or on nobody else having claimed it),
 * its lease dropped only once the finish is answered, the reply-sent mark;
 * their retries (throttled, 5xx, a dropped connection), the end of them, and
 * none for a condition that failed; records imported into the spool (once,
 * in batches, the cancelled batch); cluster_free() with calls and imports in
 * flight.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cluster_fixture.h"

#define ALICE        "+14255550123"
#define RECEIVED     1767225600123LL
#define RECORD_SK    "msg#1767225600123#in-1"
#define FINISH       "REMOVE #open_by"
#define RELEASE_COND CF_RELEASE_COND
#define CLAIMED_COND "#owner = :me AND #fence = :f"
#define UPDATE       "UpdateItem"

static int setup(void **state)
{
        return cf_setup(state, 15);
}

/* Alice's message in the spool (in-1, received at RECEIVED). */
static struct spool_row *stored_row(struct cluster_fixture *cf)
{
        return job_fixture_row(cf->f, job_fixture_store(cf->f, ALICE, "When are you open?",
                                                        SPOOL_CLASS_OTHER, RECEIVED));
}

/* Finished under the claim's fence; the lease dropped after the answer. */
static void test_finish_claimed(void **state)
{
        struct cluster_fixture *cf = *state;
        struct spool_row *row = stored_row(cf);
        json_t *req;

        assert_int_equal(cluster_lease_hold(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 7), 0);
        cluster_finish(cf->cl, row, 7, 7, "done", "answered");
        cf_wait_calls(cf, UPDATE, RELEASE_COND, NULL, 1);
        assert_int_equal(cf_count(cf, NULL, NULL, NULL), 2);
        assert_true(cf_call_has(cf, 0, FINISH));
        assert_true(cf_call_has(cf, 1, RELEASE_COND));

        req = cf_call_json(cf, UPDATE, FINISH, NULL, 0);
        cf_assert_write(req, "sender#" ALICE, RECORD_SK, CLAIMED_COND);
        assert_string_equal(cf_field(req, "UpdateExpression"),
                            "SET #state = :s, #outcome = :o, #exp = :ttl REMOVE #open_by");
        assert_string_equal(cf_field(req, ":me"), CF_ME);
        assert_string_equal(cf_field(req, ":f"), "7");
        assert_string_equal(cf_field(req, ":s"), "done");
        assert_string_equal(cf_field(req, ":o"), "answered");
        json_decref(req);
        cf_assert_release(cf, 0, ALICE, "conversation", "7");
        spool_row_free(row);
}

/* Not claimed by the row's job: closed only if open and claimed by no other
 * instance (one that did finishes it itself). */
static void test_finish_unclaimed(void **state)
{
        struct cluster_fixture *cf = *state;
        struct spool_row *row = stored_row(cf);
        json_t *req;

        cluster_finish(cf->cl, row, 0, 0, "superseded", NULL);
        cf_wait_calls(cf, UPDATE, FINISH, NULL, 1);
        req = cf_call_json(cf, UPDATE, FINISH, NULL, 0);
        cf_assert_write(req, "sender#" ALICE, RECORD_SK,
                        "#state = :open AND (attribute_not_exists(#owner) OR #owner = :me)");
        assert_string_equal(cf_field(req, ":s"), "superseded");
        assert_string_equal(cf_field(req, ":o"), "superseded");
        assert_string_equal(cf_field(req, ":f"), "");
        json_decref(req);
        spool_row_free(row);
}

/* Throttled, then a 5xx, then a dropped connection: the same write again
 * until it lands, and only then the lease goes. */
static void test_finish_retried(void **state)
{
        struct cluster_fixture *cf = *state;
        struct spool_row *row = stored_row(cf);
        json_t *first, *last;
        size_t n;

        cf_rule(cf, UPDATE, FINISH, NULL,
                (struct scripted_reply[]){DDB_THROTTLED, DDB_5XX, DDB_DROPPED, DDB_DROPPED,
                                          DDB_OK("{}")},
                5);
        assert_int_equal(cluster_lease_hold(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 3), 0);
        cluster_finish(cf->cl, row, 3, 3, "done", "answered");
        cf_wait_calls(cf, UPDATE, RELEASE_COND, NULL, 1);
        n = cf_count(cf, UPDATE, FINISH, NULL);
        assert_int_equal(n, 5);
        assert_true(cf_call_has(cf, n, RELEASE_COND)); /* after the last finish */
        first = cf_call_json(cf, UPDATE, FINISH, NULL, 0);
        last = cf_call_json(cf, UPDATE, FINISH, NULL, n - 1);
        assert_true(json_equal(first, last));
        json_decref(first);
        json_decref(last);
        spool_row_free(row);
}

/* Five failures, a second apart (throttling is not answered by a burst):
 * given up (the record stays open for a sweep), the lease dropped all the
 * same, nothing tried again. */
static void test_finish_given_up(void **state)
{
        struct cluster_fixture *cf = *state;
        struct spool_row *row = stored_row(cf);
        ev_tstamp started;

        cf_rule(cf, UPDATE, FINISH, NULL,
                (struct scripted_reply[]){DDB_THROTTLED, DDB_5XX, DDB_THROTTLED, DDB_5XX}, 4);
        assert_int_equal(cluster_lease_hold(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 3), 0);
        ev_now_update(cf->f->loop);
        started = ev_now(cf->f->loop);
        cluster_finish(cf->cl, row, 3, 3, "dead", "agent_failed");
        cf_wait_calls(cf, UPDATE, RELEASE_COND, NULL, 1);
        assert_int_equal(cf_count(cf, UPDATE, FINISH, NULL), 5);
        /* Four waits of 1 s between the five tries (the loop's clock: a lower
         * bound, which load cannot make fail). */
        ev_now_update(cf->f->loop);
        assert_true(ev_now(cf->f->loop) - started >= 4 * 0.95);
        assert_true(cf_call_has(cf, 5, RELEASE_COND));
        spool_row_free(row);
}

/* The condition failed (another instance claimed it under a newer fence):
 * final, not retried; the lease goes at once. */
static void test_finish_condition_failed(void **state)
{
        struct cluster_fixture *cf = *state;
        struct spool_row *row = stored_row(cf);

        cf_rule(cf, UPDATE, FINISH, NULL, &DDB_CONFLICT, 1);
        assert_int_equal(cluster_lease_hold(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 2), 0);
        cluster_finish(cf->cl, row, 2, 2, "done", "answered");
        cf_wait_calls(cf, UPDATE, RELEASE_COND, NULL, 1);
        assert_int_equal(cf_count(cf, UPDATE, FINISH, NULL), 1);
        spool_row_free(row);
}

/* The reply went out: its message id on the record, if the record exists. */
static void test_reply_sent(void **state)
{
        struct cluster_fixture *cf = *state;
        struct spool_row *row = stored_row(cf);
        json_t *req;

        cf_rule(cf, UPDATE, "reply_message_id", NULL,
                (struct scripted_reply[]){DDB_5XX, DDB_OK("{}")}, 2);
        cluster_reply_sent(cf->cl, row, "msg-0123");
        cf_wait_calls(cf, UPDATE, "reply_message_id", NULL, 2);
        req = cf_call_json(cf, UPDATE, "reply_message_id", NULL, 1);
        cf_assert_write(req, "sender#" ALICE, RECORD_SK, "attribute_exists(#sk)");
        assert_string_equal(cf_field(req, "UpdateExpression"), "SET #rs = :sent, #rid = :id");
        assert_string_equal(cf_field(req, ":sent"), "sent");
        assert_string_equal(cf_field(req, ":id"), "msg-0123");
        json_decref(req);
        spool_row_free(row);
}

struct import_result {
        int r;
        unsigned new_rows;
        bool done;
};

static void import_cb(int r, void *userdata)
{
        struct import_result *res = userdata;

        res->r = r;
        res->done = true;
}

static void batch_cb(int r, unsigned new_rows, void *userdata)
{
        struct import_result *res = userdata;

        res->r = r;
        res->new_rows = new_rows;
        res->done = true;
}

/* A record read from the table becomes a pending row, once. */
static void test_import(void **state)
{
        struct cluster_fixture *cf = *state;
        json_t *item = cf_record(cf, ALICE, "in-7", RECEIVED, "node-b:/srv");
        struct import_result res = {0};
        struct spool_row *row;

        assert_int_equal(cluster_import(cf->cl, item, import_cb, &res), 0);
        assert_true(run_loop_until(cf->f->loop, &res.done, CF_WAIT));
        assert_int_equal(res.r, 0);
        row = cf_row_of(cf, "in-7");
        assert_non_null(row);
        assert_int_equal(row->state, SPOOL_STATE_PENDING);
        assert_string_equal(row->origination_number, ALICE);
        assert_string_equal(row->destination_number, JOB_FIXTURE_NUMBER);
        assert_string_equal(row->body, "hello from in-7");
        assert_int_equal(row->received_at, RECEIVED);
        spool_row_free(row);

        res = (struct import_result){0};
        assert_int_equal(cluster_import(cf->cl, item, import_cb, &res), 0);
        assert_true(run_loop_until(cf->f->loop, &res.done, CF_WAIT));
        assert_int_equal(res.r, 1); /* already there */
        assert_int_equal(cf_rows(cf, SPOOL_STATE_PENDING), 1);

        /* A record without the message text cannot become a row. */
        assert_int_equal(json_object_del(item, "raw"), 0);
        assert_int_equal(cluster_import(cf->cl, item, import_cb, &res), -EINVAL);
        json_decref(item);
        assert_int_equal(cf_count(cf, NULL, NULL, NULL), 0); /* no table call */
}

/* A Query's page into the spool, but the record asked about; the count is
 * of rows new here. */
static void test_import_batch(void **state)
{
        struct cluster_fixture *cf = *state;
        json_t *items = json_pack("[o,o,o]", cf_record(cf, ALICE, "in-1", RECEIVED, "node-b"),
                                  cf_record(cf, ALICE, "in-2", RECEIVED + 1, "node-b"),
                                  cf_record(cf, ALICE, "in-3", RECEIVED + 2, "node-b"));
        const char *skip = ddb_item_get_s(json_array_get(items, 2), "sk");
        struct import_result res = {0};
        struct cluster_import_batch *b = NULL;
        struct spool_row *row;
        json_t *empty;

        assert_non_null(items);
        assert_int_equal(cluster_import(cf->cl, json_array_get(items, 0), import_cb, &res), 0);
        assert_true(run_loop_until(cf->f->loop, &res.done, CF_WAIT));

        res = (struct import_result){0};
        assert_int_equal(cluster_import_batch(cf->cl, items, skip, batch_cb, &res, &b), 0);
        assert_true(run_loop_until(cf->f->loop, &res.done, CF_WAIT));
        assert_int_equal(res.r, 0);
        assert_int_equal(res.new_rows, 1); /* in-2; in-1 was there, in-3 skipped */
        row = cf_row_of(cf, "in-2");
        assert_non_null(row);
        spool_row_free(row);
        assert_null(cf_row_of(cf, "in-3"));

        /* Nothing to store: no callback. */
        empty = json_array();
        assert_int_equal(cluster_import_batch(cf->cl, empty, NULL, batch_cb, &res, &b), 1);
        json_decref(empty);

        /* Cancelled: told so once the puts are in. */
        res = (struct import_result){0};
        assert_int_equal(cluster_import_batch(cf->cl, items, NULL, batch_cb, &res, &b), 0);
        cluster_import_batch_cancel(b);
        assert_true(run_loop_until(cf->f->loop, &res.done, CF_WAIT));
        assert_int_equal(res.r, -ECANCELED);
        json_decref(items);
}

/* The spool cannot store: the import says so. */
static void test_import_failed(void **state)
{
        struct cluster_fixture *cf = *state;
        json_t *item = cf_record(cf, ALICE, "in-8", RECEIVED, "node-b");
        struct import_result res = {0};

        spool_test_fail_commits(cf->f->spool, 1, -ENOSPC);
        assert_int_equal(cluster_import(cf->cl, item, import_cb, &res), 0);
        assert_true(run_loop_until(cf->f->loop, &res.done, CF_WAIT));
        assert_int_equal(res.r, -ENOSPC);
        assert_null(cf_row_of(cf, "in-8"));
        json_decref(item);
}

static void call_cb(int r, const struct ddb_result *res, void *userdata)
{
        struct import_result *out = userdata;

        out->r = r;
        out->new_rows = res && res->condition_failed;
        out->done = true;
}

/* A plain call: the request as built, its answer to the caller. */
static void test_call(void **state)
{
        struct cluster_fixture *cf = *state;
        struct import_result res = {0};
        json_t *req;

        cf_rule(cf, "GetItem", NULL, NULL, &DDB_CONFLICT, 1);
        assert_int_equal(cluster_call(cf->cl, "GetItem",
                                      cluster_record_get_request(cluster_params(cf->cl), ALICE,
                                                                 RECEIVED, "in-1"),
                                      call_cb, &res, NULL),
                         0);
        assert_true(run_loop_until(cf->f->loop, &res.done, CF_WAIT));
        assert_true(res.r < 0);
        assert_int_equal(res.new_rows, 1); /* the condition failure, as such */
        req = cf_call_json(cf, "GetItem", NULL, NULL, 0);
        assert_string_equal(cf_field(req, "TableName"), CF_TABLE);
        assert_string_equal(cf_field(req, "sk"), RECORD_SK);
        json_decref(req);
        assert_int_equal(cluster_call(NULL, "GetItem", json_object(), call_cb, &res, NULL),
                         -EINVAL);
}

/* Freed with a finish on the wire, a retry waiting and an import in the
 * spool's queue: the import still answers, nothing is left behind (the
 * sanitizer run checks the leaks). */
static void test_free_mid_call(void **state)
{
        struct cluster_fixture *cf = *state;
        struct spool_row *row = stored_row(cf);
        json_t *item = cf_record(cf, ALICE, "in-9", RECEIVED, "node-b");
        struct import_result res = {0};

        cf_rule(cf, UPDATE, "reply_message_id", NULL, &DDB_5XX, 1);
        cluster_reply_sent(cf->cl, row, "msg-1");
        cf_wait_calls(cf, UPDATE, "reply_message_id", NULL, 1); /* its retry waits */
        assert_int_equal(cluster_lease_hold(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 3), 0);
        cluster_finish(cf->cl, row, 3, 3, "done", "answered");
        assert_int_equal(cluster_import(cf->cl, item, import_cb, &res), 0);
        cf->cl = cluster_free(cf->cl);
        assert_true(run_loop_until(cf->f->loop, &res.done, CF_WAIT));
        assert_int_equal(res.r, 0);
        json_decref(item);
        spool_row_free(row);
}

/* What cluster_new() refuses. */
static void test_new_refuses(void **state)
{
        struct cluster_fixture *cf = *state;
        struct cluster_options o = {.loop = cf->f->loop,
                                    .aws = cf->f->l.aws,
                                    .spool = cf->f->spool,
                                    .table = CF_TABLE,
                                    .instance = CF_ME,
                                    .lease_seconds = 15};
        struct cluster *cl = NULL;

        o.lease_seconds = 0;
        assert_int_equal(cluster_new(&o, &cl), -EINVAL);
        o.lease_seconds = 15;
        o.table = "";
        assert_int_equal(cluster_new(&o, &cl), -EINVAL);
        o.table = CF_TABLE;
        o.instance = NULL;
        assert_int_equal(cluster_new(&o, &cl), -EINVAL);
        assert_null(cl);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_finish_claimed, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_finish_unclaimed, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_finish_retried, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_finish_given_up, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_finish_condition_failed, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_reply_sent, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_import, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_import_batch, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_import_failed, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_call, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_free_mid_call, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_new_refuses, setup, cf_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
