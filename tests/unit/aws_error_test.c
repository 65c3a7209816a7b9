/*
 * aws_error_test.c — error shape parsing (awsJson1_0 __type with and without a
 * namespace, restJson x-amzn-ErrorType, Query XML, non-JSON bodies) and the
 * classification table (throttling / transient / permanent).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "aws_error.h"
#include "common.h"

static void test_normalize(void **state)
{
        static const struct {
                const char *in, *out;
        } cases[] = {
                {"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
                 "ConditionalCheckFailedException"},
                {"ValidationException", "ValidationException"},
                {"ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.service/",
                 "ThrottlingException"},
                {"aws.protocoltests#FooError:http://internal.amazon.com/x", "FooError"},
                {"a#b#C", "C"},
                {"  Spaced  ", "Spaced"},
                {"\r\n\tThrottling\r\n", "Throttling"},
                {"", ""},
        };
        char out[AWS_ERROR_CODE_MAX];

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                aws_error_normalize_code(cases[i].in, strlen(cases[i].in), out, sizeof(out));
                assert_string_equal(out, cases[i].out);
        }
        /* Truncation is bounded and terminated. */
        aws_error_normalize_code("abcdef", 6, out, 4);
        assert_string_equal(out, "abc");
}

static void test_parse_shapes(void **state)
{
        static const struct {
                long status;
                const char *header, *body;
                const char *code, *message;
                enum aws_error_kind kind;
        } cases[] = {
                /* DynamoDB, namespaced, lower-case message. */
                {400, NULL,
                 "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","
                 "\"message\":\"The conditional request failed\"}",
                 "ConditionalCheckFailedException", "The conditional request failed",
                 AWS_ERROR_PERMANENT},
                {400, NULL,
                 "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
                 "ProvisionedThroughputExceededException\",\"message\":\"slow down\"}",
                 "ProvisionedThroughputExceededException", "slow down", AWS_ERROR_THROTTLING},
                /* sms-voice, bare __type, capitalised Message. */
                {400, NULL,
                 "{\"__type\":\"ConflictException\",\"Message\":\"opted out\",\"Reason\":"
                 "\"DESTINATION_PHONE_NUMBER_OPTED_OUT\"}",
                 "ConflictException", "opted out", AWS_ERROR_PERMANENT},
                {400, NULL, "{\"__type\":\"com.amazonaws.pinpointsmsvoicev2#ThrottlingException\"}",
                 "ThrottlingException", "", AWS_ERROR_THROTTLING},
                {500, NULL,
                 "{\"__type\":\"com.amazonaws.pinpointsmsvoicev2#InternalServerException\","
                 "\"Message\":\"oops\"}",
                 "InternalServerException", "oops", AWS_ERROR_TRANSIENT},
                /* restJson: header wins, colon suffix stripped. */
                {429,
                 "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.service/",
                 "{\"message\":\"Rate exceeded\"}", "ThrottlingException", "Rate exceeded",
                 AWS_ERROR_THROTTLING},
                {403, "AccessDeniedException:http://internal", "{\"__type\":\"Other\"}",
                 "AccessDeniedException", "", AWS_ERROR_PERMANENT},
                {404, NULL, "{\"code\":\"ResourceNotFoundException\",\"message\":\"no agent\"}",
                 "ResourceNotFoundException", "no agent", AWS_ERROR_PERMANENT},
                /* Signature problems come back as 400/403 and are permanent. */
                {400, NULL,
                 "{\"__type\":\"com.amazon.coral.service#InvalidSignatureException\","
                 "\"message\":\"bad\"}",
                 "InvalidSignatureException", "bad", AWS_ERROR_PERMANENT},
                /* Query protocol (SNS) XML. */
                {400, NULL,
                 "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate "
                 "exceeded</Message></Error><RequestId>abc-1</RequestId></ErrorResponse>",
                 "Throttling", "Rate exceeded", AWS_ERROR_THROTTLING},
                /* As SNS sends it: a namespace, escaped text. */
                {400, NULL,
                 "<?xml version=\"1.0\"?>\n<ErrorResponse "
                 "xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\n  <Error>\n    "
                 "<Type>Sender</Type>\n    <Code>InvalidParameter</Code>\n    <Message>Invalid "
                 "parameter: Endpoint &amp; Protocol &lt;https&gt;</Message>\n  </Error>\n  "
                 "<RequestId>e1f0a6b2-0c1d-5a4e-9a7b-3c2d1e0f9a8b</RequestId>\n</ErrorResponse>\n",
                 "InvalidParameter", "Invalid parameter: Endpoint & Protocol <https>",
                 AWS_ERROR_PERMANENT},
                /* Not well-formed XML (a cut body): the status decides. */
                {503, NULL, "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate", "", "",
                 AWS_ERROR_TRANSIENT},
                /* An external entity is never loaded. */
                {400, NULL,
                 "<!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/hostname\">]><ErrorResponse><Error>"
                 "<Code>Invalid&x;</Code></Error></ErrorResponse>",
                 "Invalid", "", AWS_ERROR_PERMANENT},
                /* Not JSON: status decides. */
                {502, NULL, "<html>Bad Gateway</html>", "", "", AWS_ERROR_TRANSIENT},
                {503, NULL, "", "", "", AWS_ERROR_TRANSIENT},
                {504, NULL, "upstream timeout", "", "", AWS_ERROR_TRANSIENT},
                {501, NULL, "", "", "", AWS_ERROR_PERMANENT},
                {429, NULL, "", "", "", AWS_ERROR_THROTTLING},
                {400, NULL, "{not json", "", "", AWS_ERROR_PERMANENT},
                {400, NULL, "[1,2]", "", "", AWS_ERROR_PERMANENT},
                {400, NULL, "{\"__type\":42,\"message\":[]}", "", "", AWS_ERROR_PERMANENT},
                /* A 500 is transient whatever its code says. */
                {500, NULL, "{\"__type\":\"ValidationException\"}", "ValidationException", "",
                 AWS_ERROR_TRANSIENT},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct aws_error e;
                aws_error_from_response(cases[i].status, cases[i].header, "req-1", cases[i].body,
                                        strlen(cases[i].body), &e);
                if (!streq(e.code, cases[i].code) || !streq(e.message, cases[i].message) ||
                    e.kind != cases[i].kind)
                        fail_msg("case %zu: code '%s' message '%s' kind %s", i, e.code, e.message,
                                 aws_error_kind_to_string(e.kind));
                assert_int_equal(e.http_status, cases[i].status);
                assert_int_equal(e.local, 0);
                assert_string_equal(e.request_id, "req-1");
        }
}

static void test_request_id_from_xml(void **state)
{
        const char *body = "<ErrorResponse><Error><Code>InvalidParameter</Code></Error>"
                           "<RequestId>rid-9</RequestId></ErrorResponse>";
        struct aws_error e;

        aws_error_from_response(400, NULL, NULL, body, strlen(body), &e);
        assert_string_equal(e.code, "InvalidParameter");
        assert_string_equal(e.request_id, "rid-9");
        assert_int_equal(e.kind, AWS_ERROR_PERMANENT);
}

static void test_long_message_truncated(void **state)
{
        char body[2048];
        struct aws_error e;

        (void)snprintf(body, sizeof(body), "{\"__type\":\"X\",\"message\":\"%01500d\"}", 0);
        aws_error_from_response(400, NULL, NULL, body, strlen(body), &e);
        assert_int_equal(strlen(e.message), AWS_ERROR_MESSAGE_MAX - 1);
}

static void test_classify_codes(void **state)
{
        static const char *const throttling[] = {
                "ThrottlingException",
                "Throttling",
                "ThrottledException",
                "RequestThrottledException",
                "TooManyRequestsException",
                "ProvisionedThroughputExceededException",
                "TransactionInProgressException",
                "RequestLimitExceeded",
                "BandwidthLimitExceeded",
                "LimitExceededException",
                "RequestThrottled",
                "SlowDown",
                "EC2ThrottledException",
        };
        static const char *const transient[] = {
                "RequestTimeout",      "RequestTimeoutException", "PriorRequestNotComplete",
                "InternalServerError", "InternalServerException",
        };
        static const char *const permanent[] = {
                "ConditionalCheckFailedException",
                "ValidationException",
                "AccessDeniedException",
                "ResourceNotFoundException",
                "ConflictException",
                "ServiceQuotaExceededException",
                "UnrecognizedClientException",
                "ExpiredTokenException",
                "TransactionConflictException",
                "throttlingexception",
        };
        struct aws_error e;

        for (size_t i = 0; i < ARRAY_SIZE(throttling); i++) {
                aws_error_clear(&e);
                e.http_status = 400;
                (void)snprintf(e.code, sizeof(e.code), "%s", throttling[i]);
                assert_int_equal(aws_error_classify(&e), AWS_ERROR_THROTTLING);
        }
        for (size_t i = 0; i < ARRAY_SIZE(transient); i++) {
                aws_error_clear(&e);
                e.http_status = 400;
                (void)snprintf(e.code, sizeof(e.code), "%s", transient[i]);
                assert_int_equal(aws_error_classify(&e), AWS_ERROR_TRANSIENT);
        }
        for (size_t i = 0; i < ARRAY_SIZE(permanent); i++) {
                aws_error_clear(&e);
                e.http_status = 400;
                (void)snprintf(e.code, sizeof(e.code), "%s", permanent[i]);
                assert_int_equal(aws_error_classify(&e), AWS_ERROR_PERMANENT);
        }
}

static void test_classify_local(void **state)
{
        static const struct {
                int err;
                enum aws_error_kind kind;
                bool timeout;
        } cases[] = {
                {-ETIMEDOUT, AWS_ERROR_TRANSIENT, true},
                {-ECONNREFUSED, AWS_ERROR_TRANSIENT, false},
                {-ECONNRESET, AWS_ERROR_TRANSIENT, false}, /* dropped / truncated */
                {-EHOSTUNREACH, AWS_ERROR_TRANSIENT, false},
                {-ECONNABORTED, AWS_ERROR_TRANSIENT, false},
                {-EPROTO, AWS_ERROR_TRANSIENT, false},
                {-EMSGSIZE, AWS_ERROR_PERMANENT, false},
                {-EBADMSG, AWS_ERROR_PERMANENT, false},
                {-EKEYREJECTED, AWS_ERROR_PERMANENT, false},
                {-ENOKEY, AWS_ERROR_PERMANENT, false},
                {-ECANCELED, AWS_ERROR_PERMANENT, false},
                {-EINVAL, AWS_ERROR_PERMANENT, false},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct aws_error e;
                aws_error_from_local(cases[i].err, "X", NULL, &e);
                assert_int_equal(e.kind, cases[i].kind);
                assert_int_equal(e.timeout, cases[i].timeout);
                assert_int_equal(e.local, cases[i].err);
                assert_int_equal(e.http_status, 0);
                assert_string_equal(e.message, strerror(-cases[i].err));
        }
}

static void test_helpers(void **state)
{
        struct aws_error e;

        aws_error_from_response(200, NULL, NULL, "{}", 2, &e);
        assert_int_equal(e.kind, AWS_ERROR_NONE);
        assert_false(aws_error_retryable(&e));
        aws_error_from_response(400, NULL, NULL, "{\"__type\":\"a#SlowDown\"}", 23, &e);
        assert_true(aws_error_is(&e, "SlowDown"));
        assert_false(aws_error_is(&e, "Slow"));
        assert_true(aws_error_retryable(&e));
        assert_false(aws_error_is(NULL, "x"));
        assert_string_equal(aws_error_kind_to_string(AWS_ERROR_TRANSIENT), "transient");
        assert_string_equal(aws_error_kind_to_string(_AWS_ERROR_KIND_MAX), "unknown");
        /* NULL body is fine. */
        aws_error_from_response(503, NULL, NULL, NULL, 0, &e);
        assert_int_equal(e.kind, AWS_ERROR_TRANSIENT);
}

/* A 5xx without an error document keeps its empty code (a bare 502 is told
 * from a service's own error by it) but is logged by its status, never as
 * an empty name. */
static void test_log_code(void **state)
{
        struct aws_error e;
        char buf[32];

        aws_error_from_response(503, NULL, NULL, "", 0, &e);
        assert_string_equal(e.code, "");
        assert_string_equal(aws_error_log_code(e.code, e.http_status, buf, sizeof(buf)),
                            "HTTP 503");
        aws_error_from_response(502, NULL, NULL, "<html>Bad Gateway</html>", 24, &e);
        assert_string_equal(e.code, "");
        assert_string_equal(aws_error_log_code(e.code, e.http_status, buf, sizeof(buf)),
                            "HTTP 502");
        aws_error_from_response(500, NULL, NULL, "{\"__type\":\"InternalServerException\"}", 36,
                                &e);
        assert_string_equal(aws_error_log_code(e.code, e.http_status, buf, sizeof(buf)),
                            "InternalServerException");
        aws_error_from_local(-ECONNREFUSED, "ConnectionError", NULL, &e);
        assert_string_equal(aws_error_log_code(e.code, e.http_status, buf, sizeof(buf)),
                            "ConnectionError");
        assert_string_equal(aws_error_log_code("", 0, buf, sizeof(buf)), "");
        assert_string_equal(aws_error_log_code(NULL, 0, buf, sizeof(buf)), "");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_normalize),
                cmocka_unit_test(test_parse_shapes),
                cmocka_unit_test(test_request_id_from_xml),
                cmocka_unit_test(test_long_message_truncated),
                cmocka_unit_test(test_classify_codes),
                cmocka_unit_test(test_classify_local),
                cmocka_unit_test(test_helpers),
                cmocka_unit_test(test_log_code),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
