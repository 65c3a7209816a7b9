/*
 * cluster_sweep_test.c — the heartbeat and the takeover sweep
 * (cluster_sweep.c) on a real loop against a scripted cluster table on
 * 127.0.0.1: the heartbeat item, READY after the first one, /healthz's state
 * while they fail; the sweep that moves the open records of a dead instance
 * (and of no live one) to this instance page by page through the open-by
 * index, one conditional write each, stores the ones it won and gives back
 * what it cannot store; failures on the way; this instance's own open
 * records stored by its first sweep. The heartbeat runs every
 * lease_seconds/3 and the sweep every lease_seconds/2: the tests take a
 * one-second lease and wait for the calls, never for time; the heartbeats
 * in the scripted answers are set from the loop's clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cluster_fixture.h"

#define ALICE     "+14255550123"
#define DEAD      "node-dead:/var/lib/twowayd"
#define LIVE      "node-live:/var/lib/twowayd"
#define RECEIVED  1767225600123LL
#define QUERY     "Query"
#define UPDATE    "UpdateItem"
#define INSTANCES "instance#"
#define OPEN_BY   "open-by"
#define NEXT_PAGE "ExclusiveStartKey"

static int setup(void **state)
{
        return cf_setup(state, 1);
}

static void ready_cb(void *userdata)
{
        ((struct cluster_fixture *)userdata)->ready++;
}

static bool is_ready(const void *arg)
{
        return ((const struct cluster_fixture *)arg)->ready > 0;
}

static bool is_healthy(const void *arg)
{
        return cluster_is_healthy(((const struct cluster_fixture *)arg)->cl);
}

static bool has_imported(const void *arg)
{
        return ((const struct cluster_fixture *)arg)->imported > 0;
}

static void start(struct cluster_fixture *cf)
{
        cluster_start(cf->cl, ready_cb, cf);
        assert_true(run_loop_while_not(cf->f->loop, is_ready, cf, CF_WAIT));
}

static int64_t now_ms(struct cluster_fixture *cf)
{
        return (int64_t)(ev_now(cf->f->loop) * 1000.);
}

/* The instances' heartbeat items as the Query answers them: name, then its
 * heartbeat_at, for each. */
static struct scripted_reply instances(struct cluster_fixture *cf, size_t n, ...)
{
        json_t *items = json_array();
        va_list ap;

        va_start(ap, n);
        for (size_t i = 0; i < n; i++) {
                const char *name = va_arg(ap, const char *);
                int64_t at = va_arg(ap, int64_t);
                char sk[128];

                (void)snprintf(sk, sizeof(sk), "instance#%s", name);
                assert_int_equal(
                        json_array_append_new(items,
                                              ddb_item_of("pk", ddb_av_s("cluster"), "sk",
                                                          ddb_av_s(sk), "instance", ddb_av_s(name),
                                                          "heartbeat_at", ddb_av_n_int(at), NULL)),
                        0);
        }
        va_end(ap);
        return cf_page(cf, items, false);
}

/* The open records of open_by whose inbound ids are given, Alice's, as one
 * open-by page. */
static struct scripted_reply records(struct cluster_fixture *cf, const char *open_by, bool more,
                                     size_t n, ...)
{
        json_t *items = json_array();
        va_list ap;

        va_start(ap, n);
        for (size_t i = 0; i < n; i++) {
                const char *id = va_arg(ap, const char *);

                assert_int_equal(
                        json_array_append_new(
                                items, cf_record(cf, ALICE, id, RECEIVED + (int64_t)i, open_by)),
                        0);
        }
        va_end(ap);
        return cf_page(cf, items, more);
}

/* Moves of a record's open_by sent from one instance to another. */
static size_t moves(struct cluster_fixture *cf, const char *from, const char *to)
{
        size_t n = 0, all = cf_count(cf, UPDATE, NULL, NULL);

        for (size_t i = 0; i < all; i++) {
                json_t *req = cf_call_json(cf, UPDATE, NULL, NULL, i);

                n += streq(cf_field(req, ":from"), from) && streq(cf_field(req, ":to"), to);
                json_decref(req);
        }
        return n;
}

static bool stored(struct cluster_fixture *cf, const char *inbound_id)
{
        struct spool_row *row = cf_row_of(cf, inbound_id);

        spool_row_free(row);
        return row != NULL;
}

static const char *item_s(const json_t *req, const char *name)
{
        const char *s = ddb_item_get_s(json_object_get(req, "Item"), name);

        return s ? s : "";
}

static long long item_n(const json_t *req, const char *name)
{
        long long n = -1;

        (void)ddb_item_get_n_int(json_object_get(req, "Item"), name, &n);
        return n;
}

/* Written at once, READY after it, then every third of the lease. */
static void test_heartbeat(void **state)
{
        struct cluster_fixture *cf = *state;
        json_t *first, *third;

        start(cf);
        assert_int_equal(cf->ready, 1);
        assert_true(cluster_is_healthy(cf->cl));
        cf_wait_calls(cf, "PutItem", NULL, NULL, 3);
        first = cf_call_json(cf, "PutItem", NULL, NULL, 0);
        third = cf_call_json(cf, "PutItem", NULL, NULL, 2);
        assert_string_equal(cf_field(first, "TableName"), CF_TABLE);
        assert_string_equal(item_s(first, "pk"), "cluster");
        assert_string_equal(item_s(first, "sk"), "instance#" CF_ME);
        assert_string_equal(item_s(first, "instance"), CF_ME);
        assert_string_equal(item_s(first, "version"), TWOWAYD_VERSION);
        assert_null(json_object_get(first, "ConditionExpression")); /* its own item */
        assert_true(item_n(third, "heartbeat_at") > item_n(first, "heartbeat_at"));
        assert_int_equal(item_n(third, "started_at"), item_n(first, "started_at"));
        json_decref(first);
        json_decref(third);
        assert_int_equal(cf->ready, 1); /* once */
}

/* Failing heartbeats: READY all the same, unhealthy until one is written. */
static void test_heartbeat_failing(void **state)
{
        struct cluster_fixture *cf = *state;

        cf_rule(cf, "PutItem", NULL, NULL,
                (struct scripted_reply[]){DDB_5XX, DDB_THROTTLED, DDB_DROPPED, DDB_DROPPED,
                                          DDB_OK("{}")},
                5);
        start(cf);
        assert_false(cluster_is_healthy(cf->cl));
        assert_true(run_loop_while_not(cf->f->loop, is_healthy, cf, CF_WAIT));
        assert_int_equal(cf_count(cf, "PutItem", NULL, NULL), 5);
        assert_int_equal(cf->ready, 1);
}

/* A dead instance's open records, two pages of them, move here one
 * conditional write each; the one another instance moved first is left to
 * it; a live instance's records are never read. */
static void test_takeover(void **state)
{
        struct cluster_fixture *cf = *state;
        int64_t now = now_ms(cf);
        size_t sweeps;
        json_t *req;

        /* The dead one's last heartbeat is a minute old; the live one's is
         * just written (its clock ahead of ours: the test cannot be late for
         * it); ours looks old too (failing heartbeats): never dead to us. */
        cf_rule(cf, QUERY, INSTANCES, NULL,
                (struct scripted_reply[]){
                        instances(cf, 3, CF_ME, now - 60000, LIVE, now + 60000, DEAD, now - 60000),
                        instances(cf, 2, CF_ME, now, LIVE, now + 60000)},
                2);
        cf_rule(cf, QUERY, "node-dead", NEXT_PAGE,
                (struct scripted_reply[]){records(cf, DEAD, false, 1, "in-3")}, 1);
        cf_rule(cf, QUERY, "node-dead", NULL,
                (struct scripted_reply[]){records(cf, DEAD, true, 2, "in-1", "in-2")}, 1);
        cf_rule(cf, UPDATE, "in-2", NULL, &DDB_CONFLICT, 1);
        start(cf);
        assert_true(run_loop_while_not(cf->f->loop, has_imported, cf, CF_WAIT));
        cf_wait_rows(cf, SPOOL_STATE_PENDING, 2);
        assert_true(stored(cf, "in-1"));
        assert_false(stored(cf, "in-2"));
        assert_true(stored(cf, "in-3"));

        /* The pages: the index, the dead one, the second after the first. */
        assert_int_equal(cf_count(cf, QUERY, "node-dead", NULL), 2);
        req = cf_call_json(cf, QUERY, "node-dead", NULL, 0);
        assert_string_equal(cf_field(req, "TableName"), CF_TABLE);
        assert_string_equal(cf_field(req, "IndexName"), OPEN_BY);
        assert_string_equal(cf_field(req, ":who"), DEAD);
        assert_null(json_object_get(req, NEXT_PAGE));
        json_decref(req);
        req = cf_call_json(cf, QUERY, "node-dead", NULL, 1);
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_object_get(req, NEXT_PAGE), "sk"), "S")),
                            "msg#1767225600124#in-2");
        json_decref(req);

        /* One conditional move per record, from the dead one to us. */
        assert_int_equal(cf_count(cf, UPDATE, NULL, NULL), 3);
        assert_int_equal(moves(cf, DEAD, CF_ME), 3);
        req = cf_call_json(cf, UPDATE, "in-1", NULL, 0);
        cf_assert_write(req, "sender#" ALICE, "msg#1767225600123#in-1", "#ob = :from");
        assert_string_equal(cf_field(req, "UpdateExpression"), "SET #ob = :to");
        json_decref(req);

        /* The next sweep finds nobody dead: nothing more is read or moved. */
        sweeps = cf_count(cf, QUERY, INSTANCES, NULL);
        cf_wait_calls(cf, QUERY, INSTANCES, NULL, sweeps + 1);
        assert_int_equal(cf_count(cf, QUERY, "node-live", NULL), 0);
        assert_int_equal(cf_count(cf, QUERY, "node-dead", NULL), 2);
        assert_int_equal(cf_count(cf, UPDATE, NULL, NULL), 3);
        assert_int_equal(cf->imported, 1);
}

/* Moved here but not storable (a record without its message text; the
 * spool failing): given back to the dead one, for the next sweep. */
static void test_gives_back(void **state)
{
        struct cluster_fixture *cf = *state;
        int64_t now = now_ms(cf);
        json_t *broken = cf_record(cf, ALICE, "in-1", RECEIVED, DEAD);
        json_t *page = json_array();
        json_t *req;

        assert_int_equal(json_object_del(broken, "raw"), 0);
        assert_int_equal(json_array_append_new(page, broken), 0);
        assert_int_equal(
                json_array_append_new(page, cf_record(cf, ALICE, "in-2", RECEIVED + 1, DEAD)), 0);
        cf_rule(cf, QUERY, INSTANCES, NULL,
                (struct scripted_reply[]){instances(cf, 1, DEAD, now - 60000), instances(cf, 0)},
                2);
        cf_rule(cf, QUERY, "node-dead", NULL, (struct scripted_reply[]){cf_page(cf, page, false)},
                1);
        spool_test_fail_commits(cf->f->spool, 1, -ENOSPC);
        start(cf);
        cf_wait_calls(cf, UPDATE, NULL, NULL, 4);
        assert_int_equal(moves(cf, DEAD, CF_ME), 2);
        assert_int_equal(moves(cf, CF_ME, DEAD), 2);
        req = cf_call_json(cf, UPDATE, "in-2", NULL, 1);
        cf_assert_write(req, "sender#" ALICE, "msg#1767225600124#in-2", "#ob = :from");
        assert_string_equal(cf_field(req, ":from"), CF_ME);
        assert_string_equal(cf_field(req, ":to"), DEAD);
        json_decref(req);
        assert_false(stored(cf, "in-1"));
        assert_false(stored(cf, "in-2"));
}

/* The instances unreadable, a page dropped, a move throttled: the next
 * sweep tries again. A move that fails (5xx) stores nothing and gives
 * nothing back: the record is still the dead one's. */
static void test_failures_on_the_way(void **state)
{
        struct cluster_fixture *cf = *state;
        int64_t now = now_ms(cf);

        cf_rule(cf, QUERY, INSTANCES, NULL,
                (struct scripted_reply[]){DDB_5XX, instances(cf, 1, DEAD, now - 60000)}, 2);
        cf_rule(cf, QUERY, "node-dead", NULL,
                (struct scripted_reply[]){DDB_DROPPED, DDB_DROPPED,
                                          records(cf, DEAD, false, 3, "in-1", "in-2", "in-3")},
                3);
        cf_rule(cf, UPDATE, "in-1", NULL, (struct scripted_reply[]){DDB_THROTTLED, DDB_OK("{}")},
                2);
        cf_rule(cf, UPDATE, "in-2", NULL, &DDB_5XX, 1);
        start(cf);
        cf_wait_rows(cf, SPOOL_STATE_PENDING, 2);
        cf_wait_calls(cf, UPDATE, "in-2", NULL, 2);
        assert_true(stored(cf, "in-1"));
        assert_false(stored(cf, "in-2"));
        assert_true(stored(cf, "in-3"));
        assert_true(cf_count(cf, UPDATE, "in-1", NULL) >= 2);
        assert_int_equal(moves(cf, CF_ME, DEAD), 0);
}

/* The first sweep stores this instance's own open records, every page,
 * without a write (the spool deduplicates); later sweeps leave them. */
static void test_own_records_first_sweep(void **state)
{
        struct cluster_fixture *cf = *state;
        json_t *there = cf_record(cf, ALICE, "in-2", RECEIVED + 1, CF_ME);
        struct spool_row *row;
        size_t sweeps;
        json_t *req;

        /* in-2 is in the spool already. */
        assert_int_equal(cluster_import(cf->cl, there, NULL, NULL), 0);
        cf_wait_rows(cf, SPOOL_STATE_PENDING, 1);
        json_decref(there);

        cf_rule(cf, QUERY, "node-a", NEXT_PAGE,
                (struct scripted_reply[]){records(cf, CF_ME, false, 1, "in-3")}, 1);
        cf_rule(cf, QUERY, "node-a", NULL,
                (struct scripted_reply[]){records(cf, CF_ME, true, 2, "in-1", "in-2")}, 1);
        start(cf);
        assert_true(run_loop_while_not(cf->f->loop, has_imported, cf, CF_WAIT));
        cf_wait_rows(cf, SPOOL_STATE_PENDING, 3);
        row = cf_row_of(cf, "in-3");
        assert_non_null(row);
        assert_string_equal(row->origination_number, ALICE);
        spool_row_free(row);
        req = cf_call_json(cf, QUERY, "node-a", NULL, 0);
        assert_string_equal(cf_field(req, "IndexName"), OPEN_BY);
        assert_string_equal(cf_field(req, ":who"), CF_ME);
        json_decref(req);

        sweeps = cf_count(cf, QUERY, INSTANCES, NULL);
        cf_wait_calls(cf, QUERY, INSTANCES, NULL, sweeps + 1);
        assert_int_equal(cf_count(cf, QUERY, "node-a", NULL), 2);
        assert_int_equal(cf_count(cf, UPDATE, NULL, NULL), 0);
        assert_int_equal(cf_rows(cf, SPOOL_STATE_PENDING), 3);
}

/* Own records unreadable at the first sweep: the next one reads them. */
static void test_own_records_retried(void **state)
{
        struct cluster_fixture *cf = *state;

        cf_rule(cf, QUERY, "node-a", NULL,
                (struct scripted_reply[]){DDB_5XX, records(cf, CF_ME, false, 1, "in-1")}, 2);
        start(cf);
        cf_wait_rows(cf, SPOOL_STATE_PENDING, 1);
        assert_int_equal(cf_count(cf, QUERY, "node-a", NULL), 2);
        assert_int_equal(cf_count(cf, UPDATE, NULL, NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_heartbeat, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_heartbeat_failing, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_takeover, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_gives_back, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_failures_on_the_way, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_own_records_first_sweep, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_own_records_retried, setup, cf_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
