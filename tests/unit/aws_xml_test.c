/*
 * aws_xml_test.c — Query-protocol XML as SNS sends it: elements by local
 * name in document order, bounded copies, and what is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "aws_xml.h"
#include "common.h"

static const char publish[] =
        "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\n"
        "  <PublishResult>\n"
        "    <MessageId>567910cd-659e-55d4-8ccb-5aaf14679dc0</MessageId>\n"
        "  </PublishResult>\n"
        "  <ResponseMetadata>\n"
        "    <RequestId>d74b8436-ae13-5ab4-a9ff-ce54dfea72a0</RequestId>\n"
        "  </ResponseMetadata>\n"
        "</PublishResponse>\n";

static void test_first_by_local_name(void **state)
{
        static const char prefixed[] =
                "<a:R xmlns:a=\"urn:x\"><a:Entry><a:Key>one</a:Key></a:Entry>"
                "<a:Key>two</a:Key></a:R>";
        xmlDocPtr doc = NULL;
        char buf[64];

        assert_int_equal(aws_xml_read(publish, strlen(publish), &doc), 0);
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
        assert_int_equal(aws_xml_read(prefixed, strlen(prefixed), &doc), 0);
        assert_int_equal(aws_xml_copy_text(doc, "Key", buf, sizeof(buf)), 3);
        assert_string_equal(buf, "one");
        xmlFreeDoc(doc);
}

static void test_copy_is_bounded(void **state)
{
        xmlDocPtr doc = NULL;
        char buf[9];

        memset(buf, 'x', sizeof(buf));
        assert_int_equal(aws_xml_read(publish, strlen(publish), &doc), 0);
        assert_int_equal(aws_xml_copy_text(doc, "MessageId", buf, sizeof(buf)), 8);
        assert_string_equal(buf, "567910cd");
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
                cmocka_unit_test(test_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
