/*
 * sms_send_text_test.c — SendTextMessage bodies, the at-most-once failure
 * classification and error reasons.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "aws_error.h"
#include "common.h"
#include "sms_send_text.h"

#include "aws_error_cases.h"

static char *dump(const json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

        assert_non_null(s);
        return s;
}

static void test_body(void **state)
{
        json_t *b;
        char *s;

        b = sms_send_text_request_body(&(struct sms_send_text_params){
                .destination = "+14255550123",
                .origination_identity = "+18005550199",
                .body = "Hi there",
                .message_type = "TRANSACTIONAL",
                .configuration_set = "twowayd",
                .max_price = "0.05",
                .time_to_live = 3600,
                .inbound_message_id = "in-1",
        });
        s = dump(b);
        assert_string_equal(s, "{\"ConfigurationSetName\":\"twowayd\","
                               "\"Context\":{\"inboundMessageId\":\"in-1\"},"
                               "\"DestinationPhoneNumber\":\"+14255550123\",\"MaxPrice\":\"0.05\","
                               "\"MessageBody\":\"Hi there\",\"MessageType\":\"TRANSACTIONAL\","
                               "\"OriginationIdentity\":\"+18005550199\",\"TimeToLive\":3600}");
        free(s);
        json_decref(b);

        /* Unset options are left out. */
        b = sms_send_text_request_body(&(struct sms_send_text_params){
                .destination = "+14255550123",
                .origination_identity = "pool-abc",
                .body = "x",
                .configuration_set = "",
        });
        s = dump(b);
        assert_string_equal(s, "{\"DestinationPhoneNumber\":\"+14255550123\",\"MessageBody\":\"x\","
                               "\"OriginationIdentity\":\"pool-abc\"}");
        free(s);
        json_decref(b);

        assert_null(sms_send_text_request_body(NULL));
        assert_null(sms_send_text_request_body(
                &(struct sms_send_text_params){.destination = "+1", .body = "x"}));
        assert_null(sms_send_text_request_body(&(struct sms_send_text_params){
                .destination = "+1", .origination_identity = "+2", .body = ""}));
}

/* The service answered status with body, the code in it if any. */
static struct aws_error service_error(long status, const char *body)
{
        return answered_error(status, NULL, body);
}

static void test_classify(void **state)
{
        struct {
                struct aws_error e;
                const char *reason;
                enum sms_send_text_failure want;
        } cases[] = {
                {service_error(400, "{\"__type\":\"com.amazonaws.pinpointsmsvoicev2#"
                                    "ThrottlingException\",\"Message\":\"Rate exceeded\"}"),
                 NULL, SMS_SEND_TEXT_FAILURE_RETRY},
                {service_error(429, "{}"), NULL, SMS_SEND_TEXT_FAILURE_RETRY},
                {service_error(500, "{\"__type\":\"InternalServerException\"}"), NULL,
                 SMS_SEND_TEXT_FAILURE_RETRY},
                {service_error(503, ""), NULL, SMS_SEND_TEXT_FAILURE_RETRY},
                /* From something in between: it may have forwarded the request. */
                {service_error(502, "<html>bad gateway</html>"), NULL,
                 SMS_SEND_TEXT_FAILURE_UNKNOWN},
                {service_error(504, ""), NULL, SMS_SEND_TEXT_FAILURE_UNKNOWN},
                {service_error(400, "{\"__type\":\"ConflictException\"}"),
                 "DESTINATION_PHONE_NUMBER_OPTED_OUT", SMS_SEND_TEXT_FAILURE_OPTED_OUT},
                {service_error(400, "{\"__type\":\"ConflictException\"}"), "RESOURCE_NOT_ACTIVE",
                 SMS_SEND_TEXT_FAILURE_PERMANENT},
                {service_error(400, "{\"__type\":\"ValidationException\"}"), "OTHER",
                 SMS_SEND_TEXT_FAILURE_PERMANENT},
                {service_error(400, "{\"__type\":\"ServiceQuotaExceededException\"}"),
                 "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT", SMS_SEND_TEXT_FAILURE_PERMANENT},
                {service_error(403, "{\"__type\":\"AccessDeniedException\"}"), NULL,
                 SMS_SEND_TEXT_FAILURE_PERMANENT},
                /* Never left the machine. */
                {local_error(-ECONNREFUSED), NULL, SMS_SEND_TEXT_FAILURE_RETRY},
                {local_error(-EHOSTUNREACH), NULL, SMS_SEND_TEXT_FAILURE_RETRY},
                {local_error(-ECONNABORTED), NULL, SMS_SEND_TEXT_FAILURE_RETRY},
                {local_error(-ENOKEY), NULL, SMS_SEND_TEXT_FAILURE_RETRY},
                /* May have been sent. */
                {local_error(-ETIMEDOUT), NULL, SMS_SEND_TEXT_FAILURE_UNKNOWN},
                {local_error(-ECONNRESET), NULL, SMS_SEND_TEXT_FAILURE_UNKNOWN},
                {local_error(-EBADMSG), NULL, SMS_SEND_TEXT_FAILURE_UNKNOWN},
                {local_error(-ECANCELED), NULL, SMS_SEND_TEXT_FAILURE_UNKNOWN},
                {local_error(-EKEYREJECTED), NULL, SMS_SEND_TEXT_FAILURE_PERMANENT},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                enum sms_send_text_failure got =
                        sms_send_text_classify_failure(-EREMOTEIO, &cases[i].e, cases[i].reason);
                if (got != cases[i].want)
                        fail_msg("case %zu (%s/%ld): got %s, want %s", i, cases[i].e.code,
                                 cases[i].e.http_status, sms_send_text_failure_to_string(got),
                                 sms_send_text_failure_to_string(cases[i].want));
        }
        assert_int_equal(sms_send_text_classify_failure(-EIO, NULL, NULL),
                         SMS_SEND_TEXT_FAILURE_UNKNOWN);
        assert_string_equal(sms_send_text_failure_to_string(_SMS_SEND_TEXT_FAILURE_MAX), "invalid");
}

static void test_reason(void **state)
{
        static const char body[] =
                "{\"__type\":\"com.amazonaws.pinpointsmsvoicev2#ConflictException\","
                "\"Message\":\"opted out\",\"Reason\":"
                "\"DESTINATION_PHONE_NUMBER_OPTED_OUT\",\"ResourceType\":\"x\"}";
        char buf[SMS_SEND_TEXT_REASON_MAX], tiny[8];

        assert_int_equal(sms_send_text_error_reason(body, strlen(body), buf, sizeof(buf)),
                         strlen("DESTINATION_PHONE_NUMBER_OPTED_OUT"));
        assert_string_equal(buf, "DESTINATION_PHONE_NUMBER_OPTED_OUT");
        assert_int_equal(sms_send_text_error_reason(body, strlen(body), tiny, sizeof(tiny)), 7);
        assert_string_equal(tiny, "DESTINA");
        assert_int_equal(sms_send_text_error_reason("{}", 2, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "");
        assert_int_equal(sms_send_text_error_reason("<html>", 6, buf, sizeof(buf)), 0);
        assert_int_equal(sms_send_text_error_reason(NULL, 0, buf, sizeof(buf)), 0);
        assert_int_equal(sms_send_text_error_reason("{\"Reason\":7}", 12, buf, sizeof(buf)), 0);
}

/* SendTextMessage from an identity the account does not own: a permanent
 * refusal the log names as such. */
static void test_identity_unknown(void **state)
{
        static const char body[] =
                "{\"__type\":\"com.amazonaws.pinpointsmsvoicev2#ResourceNotFoundException\","
                "\"Message\":\"not found\",\"ResourceType\":\"phone-number\","
                "\"ResourceId\":\"+18005550100\"}";
        char reason[SMS_SEND_TEXT_REASON_MAX];
        struct aws_error e;

        aws_error_from_response(400, NULL, NULL, body, strlen(body), &e);
        assert_int_equal(sms_send_text_error_reason(body, strlen(body), reason, sizeof(reason)),
                         strlen("phone-number"));
        assert_true(sms_send_text_identity_unknown(&e, reason));
        assert_int_equal(sms_send_text_classify_failure(-EREMOTEIO, &e, reason),
                         SMS_SEND_TEXT_FAILURE_PERMANENT);
        assert_true(sms_send_text_identity_unknown(&e, "pool"));
        assert_true(sms_send_text_identity_unknown(&e, "sender-id"));
        /* A configuration set that does not exist is another matter. */
        assert_false(sms_send_text_identity_unknown(&e, "configuration-set"));
        assert_false(sms_send_text_identity_unknown(&e, NULL));
        aws_error_from_response(400, NULL, NULL, "{\"__type\":\"ValidationException\"}", 32, &e);
        assert_false(sms_send_text_identity_unknown(&e, "phone-number"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_body),
                cmocka_unit_test(test_classify),
                cmocka_unit_test(test_reason),
                cmocka_unit_test(test_identity_unknown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
