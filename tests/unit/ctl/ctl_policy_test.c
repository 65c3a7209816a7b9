/*
 * ctl_policy_test.c — the topic policy statement that lets End User Messaging
 * publish, merged into whatever policy the topic has.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <jansson.h>

#include "common.h"
#include "ctl_policy.h"
#include "assert_json.h"
#include "policy_json.h"

#define TOPIC "arn:aws:sns:us-east-1:123456789012:twowayd-inbound"

static const char default_policy[] =
        "{\"Version\":\"2008-10-17\",\"Id\":\"__default_policy_ID\",\"Statement\":[{\"Sid\":"
        "\"__default_statement_ID\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},"
        "\"Action\":[\"SNS:GetTopicAttributes\",\"SNS:Publish\"],\"Resource\":\"" TOPIC "\","
        "\"Condition\":{\"StringEquals\":{\"AWS:SourceOwner\":\"123456789012\"}}}]}";

static const char ours[] =
        "{\"Sid\":\"TwowaydSmsVoicePublish\",\"Effect\":\"Allow\",\"Principal\":{\"Service\":"
        "\"sms-voice.amazonaws.com\"},\"Action\":\"sns:Publish\",\"Resource\":\"" TOPIC "\","
        "\"Condition\":{\"StringEquals\":{\"aws:SourceAccount\":\"123456789012\"}}}";

static void test_policy_statement(void **state)
{
        json_t *st = ctl_policy_statement(TOPIC);
        char *s = json_dumps(st, JSON_COMPACT);

        assert_string_equal(s, ours);
        free(s);
        json_decref(st);
        assert_null(ctl_policy_statement("arn:aws:sqs:us-east-1:123456789012:q"));
        assert_null(ctl_policy_statement(NULL));
}

static void test_policy_merge_adds_and_keeps(void **state)
{
        enum ctl_policy_outcome o;
        char sid[CTL_POLICY_SID_MAX];
        char *merged = NULL, *again = NULL;
        json_t *p;

        /* The default policy does not cover the service principal: ours is appended. */
        assert_int_equal(ctl_policy_merge(default_policy, TOPIC, &o, &merged, sid), 0);
        assert_int_equal(o, CTL_POLICY_ADDED);
        assert_string_equal(sid, CTL_POLICY_SID);
        p = json_loads(merged, 0, NULL);
        assert_int_equal(json_array_size(json_object_get(p, "Statement")), 2);
        assert_string_equal(statement_member(p, 0, "Sid"), "__default_statement_ID");
        assert_string_equal(json_string_value(json_object_get(p, "Id")), "__default_policy_ID");
        json_decref(p);

        /* Idempotent. */
        assert_int_equal(ctl_policy_merge(merged, TOPIC, &o, &again, sid), 0);
        assert_int_equal(o, CTL_POLICY_ALREADY);
        assert_null(again);
        assert_string_equal(sid, CTL_POLICY_SID);
        free(merged);

        /* No policy yet. */
        assert_int_equal(ctl_policy_merge(NULL, TOPIC, &o, &merged, sid), 0);
        assert_int_equal(o, CTL_POLICY_ADDED);
        p = json_loads(merged, 0, NULL);
        assert_json(p, "{\"Statement\":[{\"Action\":\"sns:Publish\",\"Condition\":{"
                       "\"StringEquals\":{\"aws:SourceAccount\":\"123456789012\"}},\"Effect\":"
                       "\"Allow\",\"Principal\":{\"Service\":\"sms-voice.amazonaws.com\"},"
                       "\"Resource\":\"" TOPIC "\",\"Sid\":\"TwowaydSmsVoicePublish\"}],"
                       "\"Version\":\"2012-10-17\"}");
        json_decref(p);
        free(merged);
}

static void test_policy_merge_cases(void **state)
{
        enum ctl_policy_outcome o;
        char sid[CTL_POLICY_SID_MAX];
        char *merged = NULL;
        json_t *p;

        /* Statement as a single object becomes an array, the other statement kept. */
        assert_int_equal(ctl_policy_merge("{\"Version\":\"2012-10-17\",\"Statement\":{\"Sid\":"
                                          "\"Other\",\"Effect\":\"Allow\",\"Principal\":{"
                                          "\"Service\":\"events.amazonaws.com\"},\"Action\":"
                                          "\"sns:Publish\",\"Resource\":\"*\"}}",
                                          TOPIC, &o, &merged, sid),
                         0);
        assert_int_equal(o, CTL_POLICY_ADDED);
        assert_int_equal(statement_count(merged), 2);
        free(merged);
        merged = NULL;

        /* Our Sid with other content is replaced in place. */
        assert_int_equal(
                ctl_policy_merge("{\"Statement\":[{\"Sid\":\"TwowaydSmsVoicePublish\","
                                 "\"Effect\":\"Allow\",\"Principal\":{\"Service\":"
                                 "\"sms-voice.amazonaws.com\"},\"Action\":\"sns:Publish\","
                                 "\"Resource\":\"arn:aws:sns:us-east-1:123456789012:old\"}"
                                 ",{\"Sid\":\"B\",\"Effect\":\"Allow\",\"Principal\":\"*\","
                                 "\"Action\":\"sns:Subscribe\",\"Resource\":\"*\"}]}",
                                 TOPIC, &o, &merged, sid),
                0);
        assert_int_equal(o, CTL_POLICY_UPDATED);
        p = json_loads(merged, 0, NULL);
        assert_int_equal(json_array_size(json_object_get(p, "Statement")), 2);
        assert_string_equal(statement_member(p, 0, "Resource"), TOPIC);
        json_decref(p);
        free(merged);
        merged = NULL;

        /* Another statement already allows it (array principal, wildcard action): left alone. */
        assert_int_equal(
                ctl_policy_merge("{\"Statement\":[{\"Sid\":\"Mine\",\"Effect\":\"Allow\","
                                 "\"Principal\":{\"Service\":[\"sns.amazonaws.com\","
                                 "\"sms-voice.amazonaws.com\"]},\"Action\":[\"SNS:*\"],"
                                 "\"Resource\":\"arn:aws:sns:us-east-1:123456789012:*\"}]}",
                                 TOPIC, &o, &merged, sid),
                0);
        assert_int_equal(o, CTL_POLICY_ALREADY);
        assert_string_equal(sid, "Mine");
        assert_null(merged);

        /* A Deny wins and is reported by its Sid. */
        assert_int_equal(ctl_policy_merge("{\"Statement\":[{\"Sid\":\"NoSms\",\"Effect\":"
                                          "\"Deny\",\"Principal\":\"*\",\"Action\":\"sns:Publish\","
                                          "\"Resource\":\"*\"}]}",
                                          TOPIC, &o, &merged, sid),
                         -EPERM);
        assert_string_equal(sid, "NoSms");

        /* Not a policy. */
        assert_int_equal(ctl_policy_merge("[1]", TOPIC, &o, &merged, sid), -EBADMSG);
        assert_int_equal(ctl_policy_merge("{bad", TOPIC, &o, &merged, sid), -EBADMSG);
        assert_int_equal(ctl_policy_merge("{\"Statement\":3}", TOPIC, &o, &merged, sid), -EBADMSG);
        assert_int_equal(ctl_policy_merge("{}", "not-an-arn", &o, &merged, sid), -EINVAL);
}

static void test_policy_allows(void **state)
{
        char sid[CTL_POLICY_SID_MAX];
        json_t *p = json_loads(default_policy, 0, NULL);

        /* "*" under a condition is not a grant to the service principal ... */
        assert_int_equal(ctl_policy_allows(p, TOPIC, sid), 0);
        json_decref(p);
        /* ... but an unconditional "*" is. */
        p = json_loads("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
                       "\"sns:publish\",\"Resource\":\"" TOPIC "\"}]}",
                       0, NULL);
        assert_int_equal(ctl_policy_allows(p, TOPIC, sid), 1);
        assert_string_equal(sid, "");
        /* Another topic's statement does not count. */
        assert_int_equal(ctl_policy_allows(p, "arn:aws:sns:us-east-1:123456789012:other", sid), 0);
        json_decref(p);
        assert_int_equal(ctl_policy_allows(NULL, TOPIC, sid), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_policy_statement),
                cmocka_unit_test(test_policy_merge_adds_and_keeps),
                cmocka_unit_test(test_policy_merge_cases),
                cmocka_unit_test(test_policy_allows),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
