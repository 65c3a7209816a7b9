/*
 * ctl_test.c — twowayctl's pure parts: argument parsing, table formatting,
 * topic policy merging, SNS XML extraction, form encoding, the manual consent
 * history fields, the phone number views, the delivery, redrive and
 * dead-letter queue policies; and opening a spool without
 * recovery, as twowayctl does beside a running daemon.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include <ev.h>
#include <jansson.h>

#include "common.h"
#include "consent.h"
#include "ctl_args.h"
#include "ctl_consent.h"
#include "ctl_delivery.h"
#include "ctl_metrics.h"
#include "ctl_phone.h"
#include "ctl_policy.h"
#include "ctl_sns.h"
#include "ctl_table.h"
#include "ctl_xml.h"
#include "spool.h"

#define TOPIC "arn:aws:sns:us-east-1:123456789012:twowayd-inbound"

static void assert_json(const json_t *j, const char *expected)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

        assert_non_null(s);
        if (!streq(s, expected))
                fail_msg("got %s\nwant %s", s, expected);
        free(s);
}

/* ---- arguments --------------------------------------------------------------------- */

static const struct ctl_opt opts[] = {
        {"config", 'c', true},
        {"json", 0, false},
        {"note", 0, true},
        {"verbose", 'v', false},
};

static int parse(int argc, char **argv, size_t max_pos, bool stop, struct ctl_args *a, char *err)
{
        return ctl_args_parse(argc, argv, opts, ARRAY_SIZE(opts), max_pos, stop, a, err, 256);
}

static void test_args_forms(void **state)
{
        char *argv[] = {"get", "--note=a b", "-c", "x.conf", "+14255550123", "--json", "-v"};
        struct ctl_args a;
        char err[256] = "";

        assert_int_equal(parse(ARRAY_SIZE(argv), argv, 2, false, &a, err), 0);
        assert_int_equal(a.n_pos, 2);
        assert_string_equal(a.pos[0], "get");
        assert_string_equal(a.pos[1], "+14255550123");
        assert_string_equal(ctl_args_get(&a, "note"), "a b");
        assert_string_equal(ctl_args_get(&a, "config"), "x.conf");
        assert_true(ctl_args_has(&a, "json"));
        assert_true(ctl_args_has(&a, "verbose"));
        assert_null(ctl_args_get(&a, "undeclared"));

        char *glued[] = {"-cfile", "--note", "--", "--", "-x"};
        assert_int_equal(parse(ARRAY_SIZE(glued), glued, 2, false, &a, err), 0);
        assert_string_equal(ctl_args_get(&a, "config"), "file");
        /* A value may start with dashes; after "--" everything is positional. */
        assert_string_equal(ctl_args_get(&a, "note"), "--");
        assert_int_equal(a.n_pos, 1);
        assert_string_equal(a.pos[0], "-x");
}

static void test_args_errors(void **state)
{
        struct ctl_args a;
        char err[256];
        char *unknown[] = {"--bogus"};
        char *twice[] = {"--json", "--json"};
        char *missing[] = {"--note"};
        char *flag_value[] = {"--json=yes"};
        char *extra[] = {"a", "b"};
        char *short_unknown[] = {"-q"};

        assert_int_equal(parse(1, unknown, 0, false, &a, err), -EINVAL);
        assert_string_equal(err, "unknown option '--bogus'");
        assert_int_equal(parse(2, twice, 0, false, &a, err), -EINVAL);
        assert_string_equal(err, "option --json given twice");
        assert_int_equal(parse(1, missing, 0, false, &a, err), -EINVAL);
        assert_string_equal(err, "option --note needs a value");
        assert_int_equal(parse(1, flag_value, 0, false, &a, err), -EINVAL);
        assert_string_equal(err, "option --json takes no value");
        assert_int_equal(parse(2, extra, 1, false, &a, err), -EINVAL);
        assert_string_equal(err, "unexpected argument 'b'");
        assert_int_equal(parse(1, short_unknown, 0, false, &a, err), -EINVAL);
        assert_string_equal(err, "unknown option '-q'");
}

static void test_args_stop_at_command(void **state)
{
        char *argv[] = {"-c", "f", "--json", "consent", "get", "--note", "x"};
        struct ctl_args a;
        char err[256];

        assert_int_equal(parse(ARRAY_SIZE(argv), argv, 0, true, &a, err), 0);
        assert_int_equal(a.next, 3);
        assert_int_equal(a.n_pos, 0);
        assert_string_equal(ctl_args_get(&a, "config"), "f");
        assert_null(ctl_args_get(&a, "note"));
}

static void test_checks(void **state)
{
        uint64_t v = 0;

        assert_int_equal(ctl_parse_uint("60", 1, 3600, &v), 0);
        assert_int_equal(v, 60);
        assert_int_equal(ctl_parse_uint("0", 1, 3600, &v), -EINVAL);
        assert_int_equal(ctl_parse_uint("3601", 1, 3600, &v), -EINVAL);
        assert_int_equal(ctl_parse_uint("1x", 1, 3600, &v), -EINVAL);
        assert_int_equal(ctl_parse_uint("-1", 0, 3600, &v), -EINVAL);
        assert_int_equal(ctl_parse_uint("99999999999999999999999", 0, UINT64_MAX, &v), -EINVAL);
        assert_int_equal(ctl_parse_uint("", 0, 1, &v), -EINVAL);

        assert_string_equal(ctl_url_scheme("https://sms.example.com/sns"), "https");
        assert_string_equal(ctl_url_scheme("http://127.0.0.1:8080/sns"), "http");
        assert_null(ctl_url_scheme("ftp://x/"));
        assert_null(ctl_url_scheme("https:///sns"));
        assert_null(ctl_url_scheme("https://a b/"));
        assert_null(ctl_url_scheme(NULL));
}

/* ---- tables ----------------------------------------------------------------------------- */

static void test_table(void **state)
{
        static const char *const headers[] = {"ID", "NAME", "NOTE"};
        const char *r1[] = {"1", "Zoë", "x"};
        const char *r2[] = {"1234", "", "line\nbreak"};
        struct ctl_table *t = ctl_table_new(headers, 3);
        char *s;

        assert_non_null(t);
        assert_int_equal(ctl_table_add(t, r1), 0);
        assert_int_equal(ctl_table_add(t, r2), 0);
        assert_int_equal(ctl_table_rows(t), 2);
        s = ctl_table_format(t);
        assert_non_null(s);
        /* UTF-8 counts as characters; empty cells are "-"; no trailing blanks;
         * control characters cannot break a row. */
        assert_string_equal(s, "ID    NAME  NOTE\n"
                               "1     Zoë   x\n"
                               "1234  -     line?break\n");
        free(s);
        ctl_table_free(t);
        assert_int_equal(ctl_text_width("Zoë"), 3);
        assert_null(ctl_table_new(headers, 0));
        assert_null(ctl_table_free(NULL));
}

static void test_phone_views(void **state)
{
        json_t *numbers = json_loads(
                "[{\"PhoneNumber\":\"+18005550199\",\"PhoneNumberId\":\"phone-1\","
                "\"Status\":\"ACTIVE\",\"NumberType\":\"TOLL_FREE\",\"MessageType\":"
                "\"TRANSACTIONAL\",\"TwoWayEnabled\":true,\"TwoWayChannelArn\":\"" TOPIC "\","
                "\"SelfManagedOptOutsEnabled\":true},"
                "{\"PhoneNumber\":\"+12065550100\",\"PhoneNumberId\":\"phone-22\","
                "\"Status\":\"PENDING\",\"NumberType\":\"TEN_DLC\",\"MessageType\":"
                "\"PROMOTIONAL\",\"TwoWayEnabled\":false,\"SelfManagedOptOutsEnabled\":false}]",
                0, NULL);
        struct ctl_table *t = ctl_phone_table(numbers);
        json_t *j = ctl_phone_json(numbers);
        char *s = ctl_table_format(t);

        assert_non_null(s);
        assert_string_equal(
                s, "NUMBER        ID        STATUS   TYPE       MESSAGE        TWO-WAY  TWO-WAY "
                   "CHANNEL                                     SELF-MANAGED OPT-OUTS\n"
                   "+18005550199  phone-1   ACTIVE   TOLL_FREE  TRANSACTIONAL  yes      " TOPIC
                   "  yes\n"
                   "+12065550100  phone-22  PENDING  TEN_DLC    PROMOTIONAL    no       -     "
                   "                                              no\n");
        assert_json(
                json_array_get(j, 1),
                "{\"arn\":null,\"id\":\"phone-22\",\"iso_country_code\":null,\"message_type\":"
                "\"PROMOTIONAL\",\"phone_number\":\"+12065550100\",\"self_managed_opt_outs\":"
                "false,\"status\":\"PENDING\",\"two_way_channel_arn\":null,"
                "\"two_way_channel_role\":null,\"two_way_enabled\":false,\"type\":\"TEN_DLC\"}");
        assert_non_null(strstr(ctl_phone_provisioning_hint("TOLL_FREE"), "toll-free"));
        assert_non_null(strstr(ctl_phone_provisioning_hint("SIMULATOR"), "minutes"));
        free(s);
        ctl_table_free(t);
        json_decref(j);
        json_decref(numbers);
}

/* ---- policy ------------------------------------------------------------------------------ */

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
        assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(json_object_get(p, "Statement"), 0), "Sid")),
                            "__default_statement_ID");
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
        p = json_loads(merged, 0, NULL);
        assert_int_equal(json_array_size(json_object_get(p, "Statement")), 2);
        json_decref(p);
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
        assert_string_equal(
                json_string_value(json_object_get(
                        json_array_get(json_object_get(p, "Statement"), 0), "Resource")),
                TOPIC);
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

/* ---- XML ------------------------------------------------------------------------------------- */

static const char attrs_xml[] =
        "<?xml version=\"1.0\"?>\n"
        "<GetTopicAttributesResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\n"
        "  <GetTopicAttributesResult>\n"
        "    <Attributes>\n"
        "      <entry><key>Policy</key><value>{&quot;Version&quot;:&quot;2012-10-17&quot;,"
        "&quot;Statement&quot;:[]}</value></entry>\n"
        "      <entry><key>DisplayName</key><value></value></entry>\n"
        "      <entry><key>Owner</key><value>123456789012</value></entry>\n"
        "    </Attributes>\n"
        "  </GetTopicAttributesResult>\n"
        "  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\n"
        "</GetTopicAttributesResponse>\n";

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
        assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(json_object_get(p, "Statement"), 0), "Sid")),
                            "Ops");
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
        p = json_loads(moved, 0, NULL);
        assert_int_equal(json_array_size(json_object_get(p, "Statement")), 2);
        json_decref(p);
        assert_int_equal(ctl_dlq_policy_merge("[1]", queue, TOPIC, &outcome, &again), -EBADMSG);
        assert_int_equal(ctl_dlq_policy_merge("{", queue, TOPIC, &outcome, &again), -EBADMSG);
        free(merged);
        free(moved);
}

static void test_xml_attributes(void **state)
{
        json_t *a = NULL;

        assert_int_equal(ctl_xml_topic_attributes(attrs_xml, strlen(attrs_xml), &a), 0);
        assert_json(a, "{\"DisplayName\":\"\",\"Owner\":\"123456789012\",\"Policy\":"
                       "\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[]}\"}");
        json_decref(a);
        assert_int_equal(ctl_xml_topic_attributes("<a><b>", 6, &a), -EBADMSG);
        assert_int_equal(ctl_xml_topic_attributes("", 0, &a), -EBADMSG);
}

static void test_xml_text(void **state)
{
        static const char sub[] =
                "<SubscribeResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"
                "<SubscribeResult><SubscriptionArn>" TOPIC ":1a2b</SubscriptionArn>"
                "</SubscribeResult></SubscribeResponse>";
        static const char xxe[] =
                "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                "<PublishResponse><PublishResult><MessageId>a&x;b</MessageId></PublishResult>"
                "</PublishResponse>";
        char *s = NULL;

        assert_int_equal(ctl_xml_text(sub, strlen(sub), "SubscriptionArn", &s), 0);
        assert_string_equal(s, TOPIC ":1a2b");
        free(s);
        assert_int_equal(ctl_xml_text(sub, strlen(sub), "MessageId", &s), -ENOENT);
        /* External entities are never loaded. */
        assert_int_equal(ctl_xml_text(xxe, strlen(xxe), "MessageId", &s), 0);
        assert_null(strstr(s, "root:"));
        free(s);
}

static void test_xml_subscriptions(void **state)
{
        static const char page[] =
                "<ListSubscriptionsByTopicResponse xmlns=\"http://sns.amazonaws.com/doc/"
                "2010-03-31/\"><ListSubscriptionsByTopicResult><Subscriptions>"
                "<member><TopicArn>" TOPIC "</TopicArn><Protocol>https</Protocol>"
                "<SubscriptionArn>" TOPIC ":1</SubscriptionArn><Owner>123456789012</Owner>"
                "<Endpoint>https://a.example.com/sns</Endpoint></member>"
                "<member><TopicArn>" TOPIC "</TopicArn><Protocol>http</Protocol>"
                "<SubscriptionArn>PendingConfirmation</SubscriptionArn>"
                "<Endpoint>http://b.example.com/sns</Endpoint></member>"
                "</Subscriptions><NextToken>tok==</NextToken></ListSubscriptionsByTopicResult>"
                "</ListSubscriptionsByTopicResponse>";
        static const char last[] = "<R><Subscriptions/><NextToken></NextToken></R>";
        json_t *subs = NULL;
        char *next = NULL;

        assert_int_equal(ctl_xml_subscriptions(page, strlen(page), &subs, &next), 0);
        assert_int_equal(json_array_size(subs), 2);
        assert_string_equal(next, "tok==");
        assert_true(ctl_sns_subscription_confirmed(json_array_get(subs, 0)));
        assert_false(ctl_sns_subscription_confirmed(json_array_get(subs, 1)));
        assert_json(json_array_get(subs, 1),
                    "{\"Endpoint\":\"http://b.example.com/sns\",\"Protocol\":\"http\","
                    "\"SubscriptionArn\":\"PendingConfirmation\",\"TopicArn\":\"" TOPIC "\"}");
        json_decref(subs);
        free(next);
        assert_int_equal(ctl_xml_subscriptions(last, strlen(last), &subs, &next), 0);
        assert_int_equal(json_array_size(subs), 0);
        assert_null(next);
        json_decref(subs);
}

static void test_form_encode(void **state)
{
        const char *pairs[] = {"Action", "Publish", "TopicArn",
                               TOPIC,    "Message", "{\"a\":\"b c+d&e=f\"}"};
        char *s = ctl_form_encode(pairs, 3);

        assert_string_equal(s, "Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%"
                               "3A123456789012%3Atwowayd-inbound&Message=%7B%22a%22%3A%22b%20c%"
                               "2Bd%26e%3Df%22%7D");
        free(s);
        const char *bad[] = {"A", NULL};
        assert_null(ctl_form_encode(bad, 1));
        s = ctl_form_encode(NULL, 0);
        assert_string_equal(s, "");
        free(s);
}

/* ---- consent --------------------------------------------------------------------------------- */

static void test_metrics_send_queues(void **state)
{
        static const char text[] =
                "# HELP twowayd_sms_queue_depth Replies waiting\n"
                "# TYPE twowayd_sms_queue_depth gauge\n"
                "twowayd_sms_queue_depth{identity=\"+18005550199\"} 12\n"
                "twowayd_sms_rate_parts_per_second{identity=\"+18005550199\"} 1.5\n"
                "twowayd_sms_identity_info{identity=\"+18005550199\",type=\"TOLL_FREE\","
                "country=\"US\",source=\"learned\"} 1\n"
                "twowayd_sms_throttles_total{identity=\"+18005550199\"} 2\n"
                "twowayd_sms_queue_depth{identity=\"pool-\\\"x\\\"\"} 0\n"
                "twowayd_sms_queue_depth_other{identity=\"+1\"} 5\n"
                "twowayd_pipeline_in_flight 3\n"
                "twowayd_sms_queue_depth{identity=\"broken\n";
        json_t *q = ctl_metrics_send_queues(text);
        char *s;

        assert_non_null(q);
        s = json_dumps(q, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s,
                            "[{\"country\":\"US\",\"depth\":12.0,\"identity\":\"+18005550199\","
                            "\"rate\":1.5,\"source\":\"learned\",\"throttles\":2.0,\"type\":"
                            "\"TOLL_FREE\"},{\"country\":\"\",\"depth\":0.0,\"identity\":"
                            "\"pool-\\\"x\\\"\",\"rate\":null,\"source\":\"\",\"throttles\":null,"
                            "\"type\":\"\"}]");
        free(s);
        json_decref(q);
        q = ctl_metrics_send_queues("");
        assert_int_equal(json_array_size(q), 0);
        json_decref(q);
}

static void test_consent_plain(void **state)
{
        json_t *item = json_loads(
                "{\"phone_number\":{\"S\":\"+1\"},\"version\":{\"N\":\"3\"},\"f\":{\"N\":"
                "\"1.5\"},\"ok\":{\"BOOL\":true},\"n\":{\"NULL\":true},\"consent_history\":{\"L\":"
                "[{\"M\":{\"action\":{\"S\":\"opt_out\"}}}]},\"b\":{\"B\":\"AA==\"}}",
                0, NULL);
        json_t *plain = ctl_consent_plain_item(item);

        assert_json(plain, "{\"b\":{\"B\":\"AA==\"},\"consent_history\":[{\"action\":\"opt_out\"}"
                           "],\"f\":\"1.5\",\"n\":null,\"ok\":true,\"phone_number\":\"+1\","
                           "\"version\":3}");
        json_decref(plain);
        json_decref(item);
}

/* ---- spool without recovery -------------------------------------------------------------------
 */

static void put_cb(struct spool *s, int r, int64_t id, void *userdata)
{
        *(int64_t *)userdata = r == 0 ? id : -1;
}

static void test_spool_no_recover(void **state)
{
        char dir[] = "/tmp/ctl-test-XXXXXX";
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct spool *daemon = NULL, *ctl = NULL;
        struct spool_row *row = NULL;
        static const char *const files[] = {SPOOL_DB_NAME, SPOOL_DB_NAME "-wal",
                                            SPOOL_DB_NAME "-shm", SPOOL_LOCK_NAME};
        int64_t id = 0;
        char path[96];

        assert_non_null(mkdtemp(dir));
        assert_int_equal(spool_open(loop, &(struct spool_options){.dir = dir}, &daemon), 0);
        assert_int_equal(spool_put(daemon,
                                   &(struct spool_msg){
                                           .sns_message_id = "m1",
                                           .inbound_message_id = "i1",
                                           .origination_number = "+14255550123",
                                           .destination_number = "+18005550199",
                                           .body = "hi",
                                   },
                                   put_cb, &id),
                         0);
        while (id == 0)
                ev_run(loop, EVRUN_ONCE);
        assert_true(id > 0);
        assert_int_equal(spool_claim(daemon, id), 0);
        assert_int_equal(spool_reply_sending(daemon, id), 0);

        /* A second connection, as twowayctl's, leaves the daemon's work alone ... */
        assert_int_equal(
                spool_open(loop, &(struct spool_options){.dir = dir, .no_recover = true}, &ctl), 0);
        assert_int_equal(spool_get(ctl, id, &row), 0);
        assert_int_equal(row->state, SPOOL_STATE_IN_PROGRESS);
        assert_int_equal(row->reply_state, SPOOL_REPLY_SENDING);
        spool_row_free(row);
        ctl = spool_free(ctl);
        /* ... so the daemon can finish it. */
        assert_int_equal(spool_reply_sent(daemon, id, "msg-1"), 0);
        assert_int_equal(spool_done(daemon, id), 0);
        spool_free(daemon);
        ev_loop_destroy(loop);
        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                (void)snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
                (void)unlink(path);
        }
        assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_args_forms),
                cmocka_unit_test(test_args_errors),
                cmocka_unit_test(test_args_stop_at_command),
                cmocka_unit_test(test_checks),
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_phone_views),
                cmocka_unit_test(test_policy_statement),
                cmocka_unit_test(test_policy_merge_adds_and_keeps),
                cmocka_unit_test(test_policy_merge_cases),
                cmocka_unit_test(test_policy_allows),
                cmocka_unit_test(test_dlq_name),
                cmocka_unit_test(test_delivery_policies),
                cmocka_unit_test(test_dlq_policy_merge),
                cmocka_unit_test(test_xml_attributes),
                cmocka_unit_test(test_xml_text),
                cmocka_unit_test(test_xml_subscriptions),
                cmocka_unit_test(test_form_encode),
                cmocka_unit_test(test_metrics_send_queues),
                cmocka_unit_test(test_consent_plain),
                cmocka_unit_test(test_spool_no_recover),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
