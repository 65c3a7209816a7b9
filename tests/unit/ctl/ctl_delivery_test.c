/*
 * ctl_delivery_test.c — durable delivery: the dead-letter queue's name, the
 * subscription's delivery and redrive policies, the queue policy SNS needs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <jansson.h>

#include "common.h"
#include "ctl_delivery.h"
#include "ctl_policy.h"
#include "policy_json.h"

#define TOPIC "arn:aws:sns:us-east-1:123456789012:twowayd-inbound"

static void test_dlq_name(void **state)
{
        char name[CTL_DLQ_NAME_MAX], long_topic[400];

        (void)state;
        assert_int_equal(ctl_dlq_name(TOPIC, name), 0);
        assert_string_equal(name, "twowayd-inbound-twowayd-dlq");
        /* SQS names are at most 80 characters: a long topic name is cut. */
        snprintf(long_topic, sizeof(long_topic), "arn:aws:sns:us-east-1:123456789012:%0200d", 7);
        assert_int_equal(ctl_dlq_name(long_topic, name), 0);
        assert_int_equal(strlen(name), 80);
        assert_string_equal(name + 80 - strlen(CTL_DLQ_SUFFIX), CTL_DLQ_SUFFIX);
        assert_int_equal(ctl_dlq_name("arn:aws:sns:us-east-1:123456789012:t.fifo", name), 0);
        assert_string_equal(name, "t-fifo-twowayd-dlq");
        assert_int_equal(ctl_dlq_name("arn:aws:sqs:us-east-1:123456789012:t", name), -EINVAL);
}

static void test_delivery_policies(void **state)
{
        _cleanup_free_ char *delivery = ctl_delivery_policy_text();
        _cleanup_free_ char *redrive = ctl_redrive_policy_text("arn:aws:sqs:us-east-1:1:q");

        (void)state;
        assert_non_null(delivery);
        assert_true(ctl_delivery_policy_is_ours(delivery));
        /* SNS may answer with members of its own added. */
        assert_true(ctl_delivery_policy_is_ours(
                "{\"healthyRetryPolicy\":{\"minDelayTarget\":10,\"maxDelayTarget\":120,"
                "\"numRetries\":32,\"numNoDelayRetries\":3,\"numMinDelayRetries\":2,"
                "\"numMaxDelayRetries\":15,\"backoffFunction\":\"exponential\"},"
                "\"sicklyRetryPolicy\":null,\"throttlePolicy\":{\"maxReceivesPerSecond\":1000},"
                "\"guaranteed\":false}"));
        assert_false(ctl_delivery_policy_is_ours(NULL));
        assert_false(ctl_delivery_policy_is_ours("not json"));
        assert_false(ctl_delivery_policy_is_ours(
                "{\"healthyRetryPolicy\":{\"numRetries\":3},\"throttlePolicy\":null}"));
        assert_string_equal(redrive, "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:1:q\"}");
        assert_true(ctl_redrive_policy_is_ours(redrive, "arn:aws:sqs:us-east-1:1:q"));
        assert_false(ctl_redrive_policy_is_ours(redrive, "arn:aws:sqs:us-east-1:1:other"));
}

static void test_dlq_policy_merge(void **state)
{
        static const char queue[] = "arn:aws:sqs:us-east-1:123456789012:q";
        static const char other[] = "{\"Version\":\"2012-10-17\",\"Statement\":{\"Sid\":\"Ops\","
                                    "\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},"
                                    "\"Action\":\"sqs:ReceiveMessage\",\"Resource\":\"*\"}}";
        enum ctl_policy_outcome outcome;
        char *merged = NULL, *again = NULL, *moved = NULL;
        json_t *p, *stmt;

        (void)state;
        /* None yet: a policy with our statement alone. */
        assert_int_equal(ctl_dlq_policy_merge(NULL, queue, TOPIC, &outcome, &merged), 0);
        assert_int_equal(outcome, CTL_POLICY_ADDED);
        free(merged);
        /* Another statement (written without the array) is kept, ours appended. */
        assert_int_equal(ctl_dlq_policy_merge(other, queue, TOPIC, &outcome, &merged), 0);
        assert_int_equal(outcome, CTL_POLICY_ADDED);
        p = json_loads(merged, 0, NULL);
        assert_int_equal(json_array_size(json_object_get(p, "Statement")), 2);
        assert_string_equal(statement_member(p, 0, "Sid"), "Ops");
        stmt = json_array_get(json_object_get(p, "Statement"), 1);
        assert_string_equal(json_string_value(json_object_get(stmt, "Sid")), CTL_DLQ_SID);
        assert_string_equal(json_string_value(json_object_get(stmt, "Action")), "sqs:SendMessage");
        assert_string_equal(json_string_value(json_object_get(stmt, "Resource")), queue);
        assert_string_equal(
                json_string_value(json_object_get(
                        json_object_get(json_object_get(stmt, "Condition"), "ArnEquals"),
                        "aws:SourceArn")),
                TOPIC);
        json_decref(p);
        /* Merged again: already there, nothing to set. */
        assert_int_equal(ctl_dlq_policy_merge(merged, queue, TOPIC, &outcome, &again), 0);
        assert_int_equal(outcome, CTL_POLICY_ALREADY);
        assert_null(again);
        /* For another topic our statement is replaced, not doubled. */
        assert_int_equal(ctl_dlq_policy_merge(merged, queue, "arn:aws:sns:us-east-1:123456789012:b",
                                              &outcome, &moved),
                         0);
        assert_int_equal(outcome, CTL_POLICY_UPDATED);
        assert_int_equal(statement_count(moved), 2);
        assert_int_equal(ctl_dlq_policy_merge("[1]", queue, TOPIC, &outcome, &again), -EBADMSG);
        assert_int_equal(ctl_dlq_policy_merge("{", queue, TOPIC, &outcome, &again), -EBADMSG);
        free(merged);
        free(moved);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dlq_name),
                cmocka_unit_test(test_delivery_policies),
                cmocka_unit_test(test_dlq_policy_merge),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
