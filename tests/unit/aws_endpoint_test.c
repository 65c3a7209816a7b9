/*
 * aws_endpoint_test.c — endpoint resolution: standard hosts per service and
 * partition, override precedence, malformed override URLs, region checks.
 * The environment is a table passed through the getenv callback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "aws_endpoint.h"
#include "aws_names.h"
#include "common.h"
#include "test_env.h"

static void test_standard_endpoints(void **state)
{
        static const struct {
                enum aws_service service;
                const char *region;
                const char *url;
                const char *signing;
        } cases[] = {
                {AWS_SERVICE_DYNAMODB, "us-east-1", "https://dynamodb.us-east-1.amazonaws.com",
                 "dynamodb"},
                {AWS_SERVICE_DYNAMODB, "eu-west-1", "https://dynamodb.eu-west-1.amazonaws.com",
                 "dynamodb"},
                {AWS_SERVICE_SMS_VOICE, "ap-southeast-2",
                 "https://sms-voice.ap-southeast-2.amazonaws.com", "sms-voice"},
                {AWS_SERVICE_BEDROCK_AGENT_RUNTIME, "us-west-2",
                 "https://bedrock-agent-runtime.us-west-2.amazonaws.com", "bedrock"},
                {AWS_SERVICE_SNS, "eu-central-1", "https://sns.eu-central-1.amazonaws.com", "sns"},
                {AWS_SERVICE_SQS, "eu-central-1", "https://sqs.eu-central-1.amazonaws.com", "sqs"},
                {AWS_SERVICE_DYNAMODB, "cn-north-1", "https://dynamodb.cn-north-1.amazonaws.com.cn",
                 "dynamodb"},
                {AWS_SERVICE_SNS, "cn-northwest-1", "https://sns.cn-northwest-1.amazonaws.com.cn",
                 "sns"},
                {AWS_SERVICE_SMS_VOICE, "us-gov-west-1",
                 "https://sms-voice.us-gov-west-1.amazonaws.com", "sms-voice"},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct aws_endpoint e;
                assert_int_equal(
                        aws_endpoint_resolve(cases[i].service, cases[i].region, env_get, NULL, &e),
                        0);
                assert_string_equal(e.url, cases[i].url);
                assert_string_equal(e.signing_name, cases[i].signing);
                assert_string_equal(e.scheme, "https");
                assert_int_equal(e.port, 443);
                assert_string_equal(e.authority, e.host);
                assert_string_equal(e.base_path, "");
                assert_false(e.overridden);
                aws_endpoint_done(&e);
        }
}

static void test_bad_regions(void **state)
{
        static const char *const bad[] = {
                NULL,          "",
                "US-EAST-1",   "us_east_1",
                "-us-east-1",  "us-east-1-",
                "us east 1",   "us-east-1.evil.com",
                "us-east-1/x", "a123456789012345678901234567890123456789012345678901234567890123",
        };
        struct aws_endpoint e;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(
                        aws_endpoint_resolve(AWS_SERVICE_DYNAMODB, bad[i], env_get, NULL, &e),
                        -EINVAL);
        assert_int_equal(aws_endpoint_resolve(_AWS_SERVICE_MAX, "us-east-1", env_get, NULL, &e),
                         -EINVAL);
        assert_true(aws_region_is_valid("us-east-1"));
        assert_true(aws_region_is_valid("cn-north-1"));
}

static void test_override_precedence(void **state)
{
        struct env both = {{"AWS_ENDPOINT_URL", "http://127.0.0.1:4000",
                            "AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000", NULL}};
        struct env global = {{"AWS_ENDPOINT_URL", "https://proxy.example:8443/aws/", NULL}};
        struct env ignore = {{"AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000",
                              "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", NULL}};
        struct env empty = {
                {"AWS_ENDPOINT_URL_DYNAMODB", "", "AWS_ENDPOINT_URL", "http://localhost:9", NULL}};
        struct env names = {{"AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2", "http://127.0.0.1:1",
                             "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME", "http://127.0.0.1:2",
                             "AWS_ENDPOINT_URL_SNS", "http://127.0.0.1:3", NULL}};
        struct aws_endpoint e;

        /* Service-specific beats global. */
        assert_int_equal(
                aws_endpoint_resolve(AWS_SERVICE_DYNAMODB, "us-east-1", env_get, &both, &e), 0);
        assert_string_equal(e.url, "http://127.0.0.1:8000");
        assert_string_equal(e.authority, "127.0.0.1:8000");
        assert_int_equal(e.port, 8000);
        assert_true(e.overridden);
        assert_string_equal(e.signing_name, "dynamodb");
        aws_endpoint_done(&e);

        /* Other services fall back to the global one. */
        assert_int_equal(aws_endpoint_resolve(AWS_SERVICE_SNS, "us-east-1", env_get, &both, &e), 0);
        assert_string_equal(e.url, "http://127.0.0.1:4000");
        aws_endpoint_done(&e);

        /* Base path kept, trailing slash dropped, default port not in authority. */
        assert_int_equal(aws_endpoint_resolve(AWS_SERVICE_BEDROCK_AGENT_RUNTIME, "us-east-1",
                                              env_get, &global, &e),
                         0);
        assert_string_equal(e.url, "https://proxy.example:8443/aws");
        assert_string_equal(e.base_path, "/aws");
        assert_string_equal(e.signing_name, "bedrock");
        aws_endpoint_done(&e);

        /* Overrides may be switched off. */
        assert_int_equal(
                aws_endpoint_resolve(AWS_SERVICE_DYNAMODB, "us-east-1", env_get, &ignore, &e), 0);
        assert_string_equal(e.url, "https://dynamodb.us-east-1.amazonaws.com");
        aws_endpoint_done(&e);

        /* An empty specific override does not hide the global one. */
        assert_int_equal(
                aws_endpoint_resolve(AWS_SERVICE_DYNAMODB, "us-east-1", env_get, &empty, &e), 0);
        assert_string_equal(e.url, "http://localhost:9");
        aws_endpoint_done(&e);

        /* The variable names of the other services. */
        assert_int_equal(aws_endpoint_resolve(AWS_SERVICE_SMS_VOICE, "x-1", env_get, &names, &e),
                         0);
        assert_string_equal(e.url, "http://127.0.0.1:1");
        aws_endpoint_done(&e);
        assert_int_equal(
                aws_endpoint_resolve(AWS_SERVICE_BEDROCK_AGENT_RUNTIME, "x-1", env_get, &names, &e),
                0);
        assert_string_equal(e.url, "http://127.0.0.1:2");
        aws_endpoint_done(&e);
        assert_int_equal(aws_endpoint_resolve(AWS_SERVICE_SNS, "x-1", env_get, &names, &e), 0);
        assert_string_equal(e.url, "http://127.0.0.1:3");
        aws_endpoint_done(&e);

        /* An override does not need a valid region. */
        assert_int_equal(aws_endpoint_resolve(AWS_SERVICE_DYNAMODB, NULL, env_get, &both, &e), 0);
        aws_endpoint_done(&e);
}

static void test_override_urls(void **state)
{
        static const struct {
                const char *url;
                int r;
                const char *norm, *authority;
                unsigned port;
        } cases[] = {
                {"http://127.0.0.1:8000", 0, "http://127.0.0.1:8000", "127.0.0.1:8000", 8000},
                {"HTTPS://Example.COM", 0, "https://Example.COM", "Example.COM", 443},
                {"http://localhost/", 0, "http://localhost", "localhost", 80},
                {"http://[::1]:9000/x/y/", 0, "http://[::1]:9000/x/y", "[::1]:9000", 9000},
                {"https://host:443", 0, "https://host", "host", 443},
                {"http://host:80/", 0, "http://host", "host", 80},
                {"ftp://host", -EINVAL, NULL, NULL, 0},
                {"host:8000", -EINVAL, NULL, NULL, 0},
                {"http://", -EINVAL, NULL, NULL, 0},
                {"http:///path", -EINVAL, NULL, NULL, 0},
                {"http://user:pw@host", -EINVAL, NULL, NULL, 0},
                {"http://host:0", -EINVAL, NULL, NULL, 0},
                {"http://host:65536", -EINVAL, NULL, NULL, 0},
                {"http://host:80x", -EINVAL, NULL, NULL, 0},
                {"http://host:", -EINVAL, NULL, NULL, 0},
                {"http://host?x=1", -EINVAL, NULL, NULL, 0},
                {"http://host/p?x=1", -EINVAL, NULL, NULL, 0},
                {"http://host/#frag", -EINVAL, NULL, NULL, 0},
                {"http://ho st", -EINVAL, NULL, NULL, 0},
                {"http://[::1", -EINVAL, NULL, NULL, 0},
                {"http://[]:80", -EINVAL, NULL, NULL, 0},
                {"http://host/a b", -EINVAL, NULL, NULL, 0},
                {"", -EINVAL, NULL, NULL, 0},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct aws_endpoint e = {0};
                int r = aws_endpoint_parse_url(cases[i].url, &e);
                if (r != cases[i].r)
                        fail_msg("%s: got %d, want %d", cases[i].url, r, cases[i].r);
                if (r == 0) {
                        assert_string_equal(e.url, cases[i].norm);
                        assert_string_equal(e.authority, cases[i].authority);
                        assert_int_equal(e.port, cases[i].port);
                        aws_endpoint_done(&e);
                }
        }

        /* A malformed override fails resolution rather than falling back. */
        {
                struct env bad = {{"AWS_ENDPOINT_URL_DYNAMODB", "localhost:8000", NULL}};
                struct aws_endpoint e;
                assert_int_equal(
                        aws_endpoint_resolve(AWS_SERVICE_DYNAMODB, "us-east-1", env_get, &bad, &e),
                        -EINVAL);
        }
}

static void test_service_table(void **state)
{
        /* The ids name the services in every aws.attempt log event. */
        assert_string_equal(aws_service_get(AWS_SERVICE_DYNAMODB)->id, "dynamodb");
        assert_string_equal(aws_service_get(AWS_SERVICE_SMS_VOICE)->id, "sms-voice");
        assert_string_equal(aws_service_get(AWS_SERVICE_BEDROCK_AGENT_RUNTIME)->id,
                            "bedrock-agent-runtime");
        assert_string_equal(aws_service_get(AWS_SERVICE_SNS)->id, "sns");
        assert_string_equal(aws_service_get(AWS_SERVICE_SQS)->id, "sqs");
        assert_string_equal(aws_service_get(AWS_SERVICE_DYNAMODB)->target_prefix,
                            "DynamoDB_20120810");
        assert_string_equal(aws_service_get(AWS_SERVICE_SMS_VOICE)->target_prefix,
                            "PinpointSMSVoiceV2");
        assert_int_equal(aws_service_get(AWS_SERVICE_BEDROCK_AGENT_RUNTIME)->protocol,
                         AWS_PROTOCOL_REST_JSON);
        assert_int_equal(aws_service_get(AWS_SERVICE_SNS)->protocol, AWS_PROTOCOL_QUERY);
        assert_null(aws_service_get(_AWS_SERVICE_MAX));
        assert_string_equal(aws_region_dns_suffix("cn-north-1"), "amazonaws.com.cn");
        assert_string_equal(aws_region_dns_suffix("us-east-1"), "amazonaws.com");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_standard_endpoints),  cmocka_unit_test(test_bad_regions),
                cmocka_unit_test(test_override_precedence), cmocka_unit_test(test_override_urls),
                cmocka_unit_test(test_service_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
