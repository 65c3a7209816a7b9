/*
 * aws_xml_test.c — Query-protocol XML as SNS sends it: elements by local
 * name in document order, bounded and whole copies (never an external
 * entity), maps, lists of members, and what is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "aws_xml.h"
#include "common.h"
#include "ctl/assert_json.h"

#define TOPIC "arn:aws:sns:us-east-1:123456789012:twowayd-inbound"

static const char publish[] =
        "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\n"
        "  <PublishResult>\n"
        "    <MessageId>567910cd-659e-55d4-8ccb-5aaf14679dc0</MessageId>\n"
        "  </PublishResult>\n"
        "  <ResponseMetadata>\n"
        "    <RequestId>d74b8436-ae13-5ab4-a9ff-ce54dfea72a0</RequestId>\n"
        "  </ResponseMetadata>\n"
        "</PublishResponse>\n";

/* Reads text, which must be well-formed. */
static xmlDocPtr read_doc(const char *text)
{
        xmlDocPtr doc = NULL;

        assert_int_equal(aws_xml_read(text, strlen(text), &doc), 0);
        assert_non_null(doc);
        return doc;
}

/* The whole text of the first element called name in doc is want. */
static void assert_text(xmlDocPtr doc, const char *name, const char *want)
{
        char *s = NULL;

        assert_int_equal(aws_xml_text(doc, name, &s), 0);
        assert_string_equal(s, want);
        free(s);
}

static void test_first_by_local_name(void **state)
{
        static const char prefixed[] =
                "<a:R xmlns:a=\"urn:x\"><a:Entry><a:Key>one</a:Key></a:Entry>"
                "<a:Key>two</a:Key></a:R>";
        xmlDocPtr doc = NULL;
        char buf[64];

        doc = read_doc(publish);
        assert_int_equal(aws_xml_copy_text(doc, "MessageId", buf, sizeof(buf)), 36);
        assert_string_equal(buf, "567910cd-659e-55d4-8ccb-5aaf14679dc0");
        assert_int_equal(aws_xml_copy_text(doc, "RequestId", buf, sizeof(buf)), 36);
        assert_string_equal(buf, "d74b8436-ae13-5ab4-a9ff-ce54dfea72a0");
        assert_int_equal(aws_xml_copy_text(doc, "Code", buf, sizeof(buf)), -ENOENT);
        /* The root itself is found too: its text is all the text below it. */
        assert_true(aws_xml_copy_text(doc, "PublishResponse", buf, sizeof(buf)) > 0);
        assert_non_null(strstr(buf, "567910cd"));
        xmlFreeDoc(doc);

        /* Depth first: the nested Key comes before its parent's next sibling. */
        doc = read_doc(prefixed);
        assert_int_equal(aws_xml_copy_text(doc, "Key", buf, sizeof(buf)), 3);
        assert_string_equal(buf, "one");
        xmlFreeDoc(doc);
}

static void test_copy_is_bounded(void **state)
{
        xmlDocPtr doc = NULL;
        char buf[9];

        memset(buf, 'x', sizeof(buf));
        doc = read_doc(publish);
        assert_int_equal(aws_xml_copy_text(doc, "MessageId", buf, sizeof(buf)), 8);
        assert_string_equal(buf, "567910cd");
        xmlFreeDoc(doc);
}

static void test_whole_text(void **state)
{
        static const char sub[] =
                "<SubscribeResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">"
                "<SubscribeResult><SubscriptionArn>" TOPIC ":1a2b</SubscriptionArn>"
                "</SubscribeResult></SubscribeResponse>";
        static const char xxe[] =
                "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                "<PublishResponse><PublishResult><MessageId>a&x;b</MessageId></PublishResult>"
                "</PublishResponse>";
        xmlDocPtr doc = NULL;
        char *s = NULL;

        doc = read_doc(sub);
        assert_text(doc, "SubscriptionArn", TOPIC ":1a2b");
        assert_int_equal(aws_xml_text(doc, "MessageId", &s), -ENOENT);
        xmlFreeDoc(doc);

        /* External entities are never loaded. */
        doc = read_doc(xxe);
        assert_int_equal(aws_xml_text(doc, "MessageId", &s), 0);
        assert_null(strstr(s, "root:"));
        free(s);
        xmlFreeDoc(doc);
}

static void test_map(void **state)
{
        static const char attrs[] =
                "<?xml version=\"1.0\"?>\n"
                "<GetTopicAttributesResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\n"
                "  <GetTopicAttributesResult>\n"
                "    <Attributes>\n"
                "      <entry><key>Policy</key><value>{&quot;Version&quot;:&quot;2012-10-17&quot;,"
                "&quot;Statement&quot;:[]}</value></entry>\n"
                "      <entry><key>DisplayName</key><value></value></entry>\n"
                "      <entry><key>NoValue</key></entry>\n"
                "      <entry><key>Owner</key><value>123456789012</value></entry>\n"
                "    </Attributes>\n"
                "  </GetTopicAttributesResult>\n"
                "  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>\n"
                "</GetTopicAttributesResponse>\n";
        xmlDocPtr doc = NULL;
        json_t *a = NULL;

        doc = read_doc(attrs);
        assert_int_equal(aws_xml_map(doc, "Attributes", &a), 0);
        assert_json(a, "{\"DisplayName\":\"\",\"Owner\":\"123456789012\",\"Policy\":"
                       "\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[]}\"}");
        json_decref(a);
        /* Absent: an empty map. */
        assert_int_equal(aws_xml_map(doc, "Tags", &a), 0);
        assert_json(a, "{}");
        json_decref(a);
        xmlFreeDoc(doc);
}

static void test_members(void **state)
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
        static const char *const fields[] = {"SubscriptionArn", "Protocol", "Endpoint", "TopicArn"};
        xmlDocPtr doc = NULL;
        json_t *subs = NULL;

        doc = read_doc(page);
        assert_int_equal(aws_xml_members(doc, "Subscriptions", fields, ARRAY_SIZE(fields), &subs),
                         0);
        assert_int_equal(json_array_size(subs), 2);
        /* Only the fields asked for: no Owner. */
        assert_json(json_array_get(subs, 0),
                    "{\"Endpoint\":\"https://a.example.com/sns\",\"Protocol\":\"https\","
                    "\"SubscriptionArn\":\"" TOPIC ":1\",\"TopicArn\":\"" TOPIC "\"}");
        assert_json(json_array_get(subs, 1),
                    "{\"Endpoint\":\"http://b.example.com/sns\",\"Protocol\":\"http\","
                    "\"SubscriptionArn\":\"PendingConfirmation\",\"TopicArn\":\"" TOPIC "\"}");
        json_decref(subs);
        assert_text(doc, "NextToken", "tok==");
        xmlFreeDoc(doc);

        doc = read_doc(last);
        assert_int_equal(aws_xml_members(doc, "Subscriptions", fields, ARRAY_SIZE(fields), &subs),
                         0);
        assert_json(subs, "[]");
        json_decref(subs);
        assert_text(doc, "NextToken", "");
        xmlFreeDoc(doc);
}

static void test_refused(void **state)
{
        static const char *const bad[] = {
                "",
                "not xml",
                "<PublishResponse><MessageId>1</MessageId>", /* cut short */
                "<a><b></a></b>",
                "<html><body>Bad Gateway<br></body></html>",
        };
        xmlDocPtr doc = NULL;

        assert_int_equal(aws_xml_read(NULL, 0, &doc), -EINVAL);
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                if (aws_xml_read(bad[i], strlen(bad[i]), &doc) != -EBADMSG)
                        fail_msg("case %zu read", i);
        assert_null(doc);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_first_by_local_name),
                cmocka_unit_test(test_copy_is_bounded),
                cmocka_unit_test(test_whole_text),
                cmocka_unit_test(test_map),
                cmocka_unit_test(test_members),
                cmocka_unit_test(test_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
