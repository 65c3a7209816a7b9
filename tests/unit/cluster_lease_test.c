/*
 * cluster_lease_test.c — this instance's sender leases (cluster_lease.c) on a
 * real loop against a scripted cluster table on 127.0.0.1: the renewal of a
 * held lease (conditioned on this instance holding it, unexpired; the fence
 * untouched), shared holders, the release by the last one with its fence, a
 * renewal that finds another holder (the lease is lost and its lane told),
 * and renewals that fail for other reasons (throttled, 5xx, a dropped
 * connection), which keep the lease. Renewals run every lease_seconds/3: the
 * tests take a one-second lease and wait for the renewals of another lease
 * rather than for time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cluster_fixture.h"

#define ALICE        "+14255550123"
#define BOB          "+14255550124"
#define RENEW_COND   "#h = :me AND #u >= :now"
#define RELEASE_COND CF_RELEASE_COND
#define UPDATE       "UpdateItem"

static int setup(void **state)
{
        return cf_setup(state, 1);
}

static void wait_renewals(struct cluster_fixture *cf, const char *sender, size_t n)
{
        cf_wait_calls(cf, UPDATE, RENEW_COND, sender, n);
}

static size_t renewals(struct cluster_fixture *cf, const char *sender)
{
        return cf_count(cf, UPDATE, RENEW_COND, sender);
}

static size_t releases(struct cluster_fixture *cf)
{
        return cf_count(cf, UPDATE, RELEASE_COND, NULL);
}

static bool lease_lost(const void *arg)
{
        return ((const struct cluster_fixture *)arg)->lost > 0;
}

static long long joined_fence(struct cluster_fixture *cf, const char *sender,
                              enum cluster_lane lane)
{
        long long fence = -1;

        if (cluster_lease_join(cf->cl, sender, lane, &fence) != 1)
                return -1;
        return fence;
}

/* Held: renewed, on this instance's condition, the fence kept; the last
 * drop releases it under its fence and the renewals stop. */
static void test_renewed_then_released(void **state)
{
        struct cluster_fixture *cf = *state;
        json_t *req;
        long long now, until;
        size_t n;

        assert_int_equal(cluster_lease_hold(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 7), 0);
        wait_renewals(cf, ALICE, 2);
        req = cf_call_json(cf, UPDATE, RENEW_COND, ALICE, 1);
        cf_assert_write(req, "sender#" ALICE, "lease#conversation", RENEW_COND);
        assert_string_equal(cf_field(req, ":me"), CF_ME);
        assert_string_equal(cf_field(req, "UpdateExpression"), "SET #u = :until, #e = :exp");
        now = atoll(cf_field(req, ":now"));
        until = atoll(cf_field(req, ":until"));
        assert_int_equal(until - now, 1000); /* lease_seconds on */
        json_decref(req);

        cluster_lease_drop(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 7);
        cf_assert_release(cf, 0, ALICE, "conversation", "7");
        assert_int_equal(joined_fence(cf, ALICE, CLUSTER_LANE_CONVERSATION), -1);

        /* Bob's lease as the clock: two of its renewals, none of Alice's. */
        n = renewals(cf, ALICE);
        assert_int_equal(cluster_lease_hold(cf->cl, BOB, CLUSTER_LANE_CONVERSATION, 1), 0);
        wait_renewals(cf, BOB, 2);
        assert_int_equal(renewals(cf, ALICE), n);
        assert_int_equal(releases(cf), 1);
}

/* Joined while held: the holders' fence; released only by the last drop. */
static void test_shared_by_jobs(void **state)
{
        struct cluster_fixture *cf = *state;

        assert_int_equal(joined_fence(cf, ALICE, CLUSTER_LANE_CONVERSATION), -1); /* not held */
        assert_int_equal(cluster_lease_hold(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 3), 0);
        assert_int_equal(joined_fence(cf, ALICE, CLUSTER_LANE_CONVERSATION), 3);
        assert_int_equal(joined_fence(cf, ALICE, CLUSTER_LANE_CONSENT), -1); /* another lane */
        cluster_lease_drop(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 3);
        /* One holder left: still held, still renewed. */
        assert_int_equal(joined_fence(cf, ALICE, CLUSTER_LANE_CONVERSATION), 3);
        cluster_lease_drop(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 3);
        wait_renewals(cf, ALICE, 2);
        assert_int_equal(releases(cf), 0);

        cluster_lease_drop(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 3);
        cf_assert_release(cf, 0, ALICE, "conversation", "3");
        assert_int_equal(joined_fence(cf, ALICE, CLUSTER_LANE_CONVERSATION), -1);
}

/* A drop under an old fence changes nothing; a new take's fence is the one
 * released; the lanes are separate leases. */
static void test_fences_and_lanes(void **state)
{
        struct cluster_fixture *cf = *state;

        assert_int_equal(cluster_lease_hold(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 4), 0);
        assert_int_equal(cluster_lease_hold(cf->cl, ALICE, CLUSTER_LANE_CONSENT, 9), 0);
        cluster_lease_drop(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 3);
        assert_int_equal(joined_fence(cf, ALICE, CLUSTER_LANE_CONVERSATION), 4);
        assert_int_equal(cluster_lease_hold(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 5), 0);
        for (int i = 0; i < 3; i++) /* the holds and the join */
                cluster_lease_drop(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 5);
        cf_assert_release(cf, 0, ALICE, "conversation", "5");

        /* The consent lease is still held and renewed on its own key. */
        assert_int_equal(joined_fence(cf, ALICE, CLUSTER_LANE_CONSENT), 9);
        cf_wait_calls(cf, UPDATE, RENEW_COND, "lease#consent", 2);
        cluster_lease_drop(cf->cl, ALICE, CLUSTER_LANE_CONSENT, 9);
        cluster_lease_drop(cf->cl, ALICE, CLUSTER_LANE_CONSENT, 9);
        cf_assert_release(cf, 1, ALICE, "consent", "9");
}

/* A renewal that finds another holder: the lease is lost, its lane told
 * once, nothing renewed or released for it again. */
static void test_lost_to_another_instance(void **state)
{
        struct cluster_fixture *cf = *state;

        cf_rule(cf, UPDATE, RENEW_COND, ALICE, &DDB_CONFLICT, 1);
        assert_int_equal(cluster_lease_hold(cf->cl, ALICE, CLUSTER_LANE_CONSENT, 2), 0);
        assert_true(run_loop_while_not(cf->f->loop, lease_lost, cf, CF_WAIT));
        assert_int_equal(cf->lost, 1);
        assert_string_equal(cf->lost_sender, ALICE);
        assert_int_equal(cf->lost_lane, CLUSTER_LANE_CONSENT);
        assert_int_equal(joined_fence(cf, ALICE, CLUSTER_LANE_CONSENT), -1);
        cluster_lease_drop(cf->cl, ALICE, CLUSTER_LANE_CONSENT, 2); /* the job ends: no-op */

        assert_int_equal(cluster_lease_hold(cf->cl, BOB, CLUSTER_LANE_CONSENT, 1), 0);
        wait_renewals(cf, BOB, 2);
        assert_int_equal(renewals(cf, ALICE), 1);
        assert_int_equal(releases(cf), 0);
        assert_int_equal(cf->lost, 1);
}

/* Throttled, a 5xx, a connection dropped mid-call: the lease is kept and
 * the next renewal tries again; the fence guards the record meanwhile. */
static void test_failed_renewals_keep_it(void **state)
{
        struct cluster_fixture *cf = *state;

        cf_rule(cf, UPDATE, RENEW_COND, ALICE,
                (struct scripted_reply[]){DDB_THROTTLED, DDB_5XX, DDB_DROPPED, DDB_DROPPED,
                                          DDB_OK("{\"Attributes\":{}}")},
                5);
        assert_int_equal(cluster_lease_hold(cf->cl, ALICE, CLUSTER_LANE_CONVERSATION, 6), 0);
        wait_renewals(cf, ALICE, 6);
        assert_int_equal(cf->lost, 0);
        assert_int_equal(joined_fence(cf, ALICE, CLUSTER_LANE_CONVERSATION), 6);
        assert_int_equal(releases(cf), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_renewed_then_released, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_shared_by_jobs, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_fences_and_lanes, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_lost_to_another_instance, setup, cf_teardown),
                cmocka_unit_test_setup_teardown(test_failed_renewals_keep_it, setup, cf_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
