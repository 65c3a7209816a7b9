/* Unit tests for aws_names.c: regions of each partition, topic ARNs, E.164. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "aws_names.h"
#include "common.h"

static void test_regions_and_partitions(void **state)
{
        static const struct {
                const char *region, *partition, *dns_suffix;
                bool sns_signing_known;
        } good[] = {
                {"us-east-1", "aws", "amazonaws.com", true},
                {"ap-southeast-7", "aws", "amazonaws.com", true},
                {"il-central-1", "aws", "amazonaws.com", true},
                {"mx-central-1", "aws", "amazonaws.com", true},
                {"cn-north-1", "aws-cn", "amazonaws.com.cn", true},
                {"cn-northwest-1", "aws-cn", "amazonaws.com.cn", true},
                {"us-gov-west-1", "aws-us-gov", "amazonaws.com", true},
                {"us-iso-east-1", "aws-iso", "c2s.ic.gov", false},
                {"us-isob-east-1", "aws-iso-b", "sc2s.sgov.gov", false},
                {"eu-isoe-west-1", "aws-iso-e", "cloud.adc-e.uk", false},
                {"us-isof-south-1", "aws-iso-f", "csp.hci.ic.gov", false},
                {"eusc-de-east-1", "aws-eusc", "amazonaws.eu", false},
        };
        static const char *const bad[] = {
                NULL,
                "",
                "US-EAST-1",
                "us_east_1",
                "-us-east-1",
                "us-east-1-",
                "us-east-",
                "us--1",
                "us-east-x",
                "us east 1",
                "us-east-1.evil.com",
                "us-east-1/x",
                "zz-east-1", /* no partition has the prefix zz */
                "local",
                "cn-1",
                "us-east-1234567890123456789012345678901234567890123456789012345678",
        };

        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                const struct aws_partition *p = aws_region_partition(good[i].region);
                if (!p || !streq(p->id, good[i].partition) ||
                    !streq(p->dns_suffix, good[i].dns_suffix) ||
                    p->sns_signing_known != good[i].sns_signing_known ||
                    !aws_region_is_valid(good[i].region))
                        fail_msg("region \"%s\"", good[i].region);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                if (aws_region_partition(bad[i]) || aws_region_is_valid(bad[i]))
                        fail_msg("region \"%s\" accepted", bad[i] ? bad[i] : "(null)");
}

static void test_topic_arns(void **state)
{
        static const char *const good[] = {
                "arn:aws:sns:us-east-1:123456789012:twowayd-inbound",
                "arn:aws:sns:us-east-1:123456789012:t.fifo",
                "arn:aws-cn:sns:cn-north-1:123456789012:A_b-9",
                "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t",
        };
        static const char *const bad[] = {
                "",
                "arn:aws:sqs:us-east-1:123456789012:t",        /* not sns */
                "arn:aws:sns:cn-north-1:123456789012:t",       /* region of aws-cn */
                "arn:aws-cn:sns:us-east-1:123456789012:t",     /* region of aws */
                "arn:aws:sns:us-gov-west-1:123456789012:t",    /* region of aws-us-gov */
                "arn:aws-us-gov:sns:us-east-1:123456789012:t", /* region of aws */
                "arn:aws:sns:us-east-1:12345678901:t",         /* 11 digits */
                "arn:aws:sns:us-east-1:1234567890ab:t",        /* not digits */
                "arn:aws:sns:us-east-1:123456789012:",         /* no name */
                "arn:aws:sns:us-east-1:123456789012:.fifo",    /* empty name */
                "arn:aws:sns:us-east-1:123456789012:a b",      /* space */
                "arn:aws:sns:us-east-1:123456789012:a:b",      /* ':' */
                "arn:aws:sns:zz-east-1:123456789012:t",        /* no partition */
                "arn:aws:sns::123456789012:t",                 /* no region */
                "urn:aws:sns:us-east-1:123456789012:t",        /* not an ARN */
                /* Partitions whose SNS signing certificates are not known: their
                 * deliveries could not be verified. */
                "arn:aws-iso:sns:us-iso-east-1:123456789012:t",
                "arn:aws-iso-b:sns:us-isob-east-1:123456789012:t",
                "arn:aws-eusc:sns:eusc-de-east-1:123456789012:t",
        };
        struct aws_topic_arn t;
        char name[300];

        for (size_t i = 0; i < ARRAY_SIZE(good); i++)
                if (aws_topic_arn_parse(good[i], &t) != 0)
                        fail_msg("ARN \"%s\" refused", good[i]);
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                if (aws_topic_arn_parse(bad[i], &t) != -EBADMSG)
                        fail_msg("ARN \"%s\" accepted", bad[i]);

        assert_int_equal(
                aws_topic_arn_parse("arn:aws:sns:us-east-1:123456789012:twowayd-inbound", &t), 0);
        assert_string_equal(t.partition, "aws");
        assert_string_equal(t.region, "us-east-1");
        assert_string_equal(t.account, "123456789012");
        assert_string_equal(t.name, "twowayd-inbound");
        assert_int_equal(aws_topic_arn_parse("arn:aws-cn:sns:cn-north-1:123456789012:t.fifo", &t),
                         0);
        assert_string_equal(t.partition, "aws-cn");
        assert_string_equal(t.region, "cn-north-1");
        assert_string_equal(t.account, "123456789012");
        assert_string_equal(t.name, "t.fifo");

        /* 256 characters of name, not counting ".fifo", and no more. */
        memset(name, 'a', 256);
        memcpy(name + 256, ".fifo", sizeof(".fifo"));
        {
                char arn[400];
                snprintf(arn, sizeof(arn), "arn:aws:sns:us-east-1:123456789012:%s", name);
                assert_int_equal(aws_topic_arn_parse(arn, &t), 0);
                name[256] = 'a';
                name[257] = '\0';
                snprintf(arn, sizeof(arn), "arn:aws:sns:us-east-1:123456789012:%s", name);
                assert_int_equal(aws_topic_arn_parse(arn, &t), -EBADMSG);
        }
        assert_int_equal(aws_topic_arn_parse(NULL, &t), -EINVAL);
        assert_int_equal(aws_topic_arn_parse("arn:aws:sns:us-east-1:123456789012:t", NULL),
                         -EINVAL);
}

static void test_e164(void **state)
{
        static const struct {
                const char *s;
                bool valid;
        } cases[] = {
                {"+14255550123", true},
                {"+44", true},
                {"+1", true}, /* E.164 has country codes of one digit */
                {"+123456789012345", true},
                {"+1234567890123456", false}, /* 16 digits */
                {"14255550123", false},
                {"+04255550123", false},
                {"+", false},
                {"", false},
                {"++14255550123", false},
                {"+1425 555", false},
                {"+1-425-555-0123", false},
                {"+1425555012a", false},
                {"\xef\xbc\x91\xef\xbc\x92", false}, /* fullwidth digits */
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
                if (aws_e164_is_valid(cases[i].s) != cases[i].valid)
                        fail_msg("E.164 \"%s\"", cases[i].s);
        assert_false(aws_e164_is_valid(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_regions_and_partitions),
                cmocka_unit_test(test_topic_arns),
                cmocka_unit_test(test_e164),
        };

        return cmocka_run_group_tests_name("aws_names", tests, NULL, NULL);
}
