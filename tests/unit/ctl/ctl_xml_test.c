/*
 * ctl_xml_test.c — SNS query-protocol answers read with libxml2: topic
 * attributes, one element's text (never an external entity), subscription pages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <jansson.h>

#include "common.h"
#include "ctl_sns.h"
#include "ctl_xml.h"
#include "assert_json.h"

#define TOPIC "arn:aws:sns:us-east-1:123456789012:twowayd-inbound"

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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_xml_attributes),
                cmocka_unit_test(test_xml_text),
                cmocka_unit_test(test_xml_subscriptions),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
