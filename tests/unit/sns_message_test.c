/*
 * sns_message_test.c — the SNS envelope parser and the string to sign.
 *
 * The vec_* documents are real SNS deliveries (published as test data with the
 * AWS SDK for Java v2, sns-message-manager); their expected strings to sign
 * were computed separately and checked with `openssl dgst -verify` against the
 * real signing certificate, so they pin the exact byte layout SNS signs.
 * sns_verify_test.c verifies the same documents through this module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "sns_message.h"

/* ---- real SNS deliveries ------------------------------------------------------- */

#include "sns_vectors.h"

static const char vec_notification_no_subject_tbs[] =
        "Message\n"
        "This notification has no subject.\n"
        "MessageId\n"
        "c0e5a280-53c9-5a98-93bb-c0a560b3d192\n"
        "Timestamp\n"
        "2026-03-06T19:55:38.903Z\n"
        "TopicArn\n"
        "arn:aws:sns:us-west-2:131990247566:dongie-standard-topic\n"
        "Type\n"
        "Notification\n";

static const char vec_notification_v2_tbs[] =
        "Message\n"
        "This message uses signature version 2.\n"
        "MessageId\n"
        "9d2c5580-b61d-550c-8583-37a582870907\n"
        "Timestamp\n"
        "2026-03-06T20:00:26.893Z\n"
        "TopicArn\n"
        "arn:aws:sns:us-west-2:131990247566:dongie-standard-topic\n"
        "Type\n"
        "Notification\n";

static const char vec_notification_subject_tbs[] =
        "Message\n"
        "Hello! This message has a subject.\n"
        "MessageId\n"
        "26858270-545e-5848-82a2-e05566af3dcf\n"
        "Subject\n"
        "My message subject\n"
        "Timestamp\n"
        "2026-03-06T19:53:21.424Z\n"
        "TopicArn\n"
        "arn:aws:sns:us-west-2:131990247566:dongie-standard-topic\n"
        "Type\n"
        "Notification\n";

static const char vec_subscription_confirmation_tbs[] =
        "Message\n"
        "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:131990247566:dongie-"
        "standard-topic.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message.\n"
        "MessageId\n"
        "f3f2fc87-c426-4c2f-9044-b55890c0939c\n"
        "SubscribeURL\n"
        "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns"
        ":us-west-2:131990247566:dongie-standard-topic&Token=2336412f37fb687f5d51e6e2425929f5"
        "2e8e353134fe72d55ef8b330217d82da14007cbccefffd35b695feb8f0294d01fd9644f41e1ddfad2615"
        "19a2c0bac743ff375eeb64530147d2da57f3acc54739da14c8dbd48a9d58ce996eff0d498ea6b4b9f587"
        "20d8959b52b99b8de148081720d7da17434e376614a00c992e7823e4\n"
        "Timestamp\n"
        "2026-03-06T19:31:32.895Z\n"
        "Token\n"
        "2336412f37fb687f5d51e6e2425929f52e8e353134fe72d55ef8b330217d82da14007cbccefffd35b695"
        "feb8f0294d01fd9644f41e1ddfad261519a2c0bac743ff375eeb64530147d2da57f3acc54739da14c8db"
        "d48a9d58ce996eff0d498ea6b4b9f58720d8959b52b99b8de148081720d7da17434e376614a00c992e78"
        "23e4\n"
        "TopicArn\n"
        "arn:aws:sns:us-west-2:131990247566:dongie-standard-topic\n"
        "Type\n"
        "SubscriptionConfirmation\n";

static const char vec_unsubscribe_confirmation_tbs[] =
        "Message\n"
        "You have chosen to deactivate subscription arn:aws:sns:us-west-2:131990247566:dongie"
        "-standard-topic:b24e11a2-06bd-4e73-aa29-0ed2de3b41b5.\n"
        "To cancel this operation and restore the subscription, visit the SubscribeURL includ"
        "ed in this message.\n"
        "MessageId\n"
        "0b71e34e-42c3-486a-9e32-b1928ec994b5\n"
        "SubscribeURL\n"
        "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns"
        ":us-west-2:131990247566:dongie-standard-topic&Token=2336412f37fb687f5d51e6e2425929f5"
        "2e8e353134fd0284eae5672847af082a982c7dd18215a1485e04e559716f8b42054594757f42dee2d63c"
        "46fd3a0fa59b4d688de03db956f8bf9f8cb3167587a28b74c5d325e6a7594d24a43ac534de2dfca614ca"
        "89cebd490342c721c30a76ea03def13673437a6a3e450642580119d0\n"
        "Timestamp\n"
        "2026-03-06T20:02:25.038Z\n"
        "Token\n"
        "2336412f37fb687f5d51e6e2425929f52e8e353134fd0284eae5672847af082a982c7dd18215a1485e04"
        "e559716f8b42054594757f42dee2d63c46fd3a0fa59b4d688de03db956f8bf9f8cb3167587a28b74c5d3"
        "25e6a7594d24a43ac534de2dfca614ca89cebd490342c721c30a76ea03def13673437a6a3e4506425801"
        "19d0\n"
        "TopicArn\n"
        "arn:aws:sns:us-west-2:131990247566:dongie-standard-topic\n"
        "Type\n"
        "UnsubscribeConfirmation\n";

/* ---- helpers ------------------------------------------------------------------ */

static void expect_string_to_sign(const char *json, const char *expected)
{
        _cleanup_sns_message_ struct sns_message *m = NULL;
        _cleanup_free_ char *tbs = NULL;
        const char *reason = NULL;
        size_t len = 0;

        assert_int_equal(sns_message_parse(json, strlen(json), &m, &reason), 0);
        assert_null(reason);
        assert_int_equal(sns_message_string_to_sign(m, &tbs, &len), 0);
        assert_string_equal(tbs, expected);
        assert_int_equal(len, strlen(expected));
}

/* A valid Notification (or, with confirmation, SubscriptionConfirmation) as a
 * jansson object the tests then break one field at a time. */
static json_t *base_message(bool confirmation)
{
        json_t *o = json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Type",
                confirmation ? "SubscriptionConfirmation" : "Notification", "MessageId",
                "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn",
                "arn:aws:sns:us-east-1:123456789012:twowayd-inbound", "Message", "hello",
                "Timestamp", "2026-11-24T10:00:00.123Z", "SignatureVersion", "1", "Signature",
                "QUJD", "SigningCertURL",
                "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abc.pem");
        assert_non_null(o);
        if (confirmation) {
                assert_int_equal(json_object_set_new(o, "Token", json_string("2336412f37fb")), 0);
                assert_int_equal(json_object_set_new(o, "SubscribeURL",
                                                     json_string("https://sns.us-east-1."
                                                                 "amazonaws.com/"
                                                                 "?Action=ConfirmSubscription")),
                                 0);
        } else
                assert_int_equal(json_object_set_new(o, "UnsubscribeURL",
                                                     json_string("https://sns.us-east-1."
                                                                 "amazonaws.com/"
                                                                 "?Action=Unsubscribe")),
                                 0);
        return o;
}

/* Parses o (consumed); returns the result, *ret_reason the reason. */
static int parse_json(json_t *o, struct sns_message **ret, const char **ret_reason)
{
        _cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);
        int r;

        json_decref(o);
        assert_non_null(text);
        *ret_reason = NULL;
        r = sns_message_parse(text, strlen(text), ret, ret_reason);
        if (r >= 0)
                assert_null(*ret_reason);
        else
                assert_non_null(*ret_reason);
        return r;
}

static void expect_refused(json_t *o, int expected_r, const char *expected_reason)
{
        struct sns_message *m = NULL;
        const char *reason;
        int r = parse_json(o, &m, &reason);

        if (r != expected_r || !streq(reason, expected_reason))
                fail_msg("got %d \"%s\", expected %d \"%s\"", r, reason, expected_r,
                         expected_reason);
        assert_null(m);
}

/* The base message (a confirmation or not) with field set to the string
 * value is refused, with expected_r and expected_reason. */
static void expect_field_refused(bool confirmation, const char *field, const char *value,
                                 int expected_r, const char *expected_reason)
{
        json_t *o = base_message(confirmation);

        assert_int_equal(json_object_set_new(o, field, json_string(value)), 0);
        expect_refused(o, expected_r, expected_reason);
}

static void expect_raw_refused(const char *text, size_t len, int expected_r,
                               const char *expected_reason)
{
        struct sns_message *m = NULL;
        const char *reason = NULL;
        int r = sns_message_parse(text, len, &m, &reason);

        assert_non_null(reason);
        if (r != expected_r || !streq(reason, expected_reason))
                fail_msg("input \"%.60s\": got %d \"%s\", expected %d \"%s\"", text, r, reason,
                         expected_r, expected_reason);
        assert_null(m);
}

static char *repeat(char c, size_t n)
{
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

/* Parses a real delivery, which is accepted. */
static struct sns_message *parse_real(const char *delivery)
{
        struct sns_message *m = NULL;
        const char *reason = NULL;

        assert_int_equal(sns_message_parse(delivery, strlen(delivery), &m, &reason), 0);
        assert_null(reason);
        assert_non_null(m);
        return m;
}

/* ---- the real deliveries ---------------------------------------------------------- */

static void test_real_notification_no_subject(void **state)
{
        _cleanup_sns_message_ struct sns_message *m = parse_real(vec_notification_no_subject);

        assert_int_equal(m->type, SNS_TYPE_NOTIFICATION);
        assert_string_equal(m->type_str, "Notification");
        assert_string_equal(m->message_id, "c0e5a280-53c9-5a98-93bb-c0a560b3d192");
        assert_string_equal(m->topic_arn,
                            "arn:aws:sns:us-west-2:131990247566:dongie-standard-topic");
        assert_null(m->subject);
        assert_string_equal(m->message, "This notification has no subject.");
        assert_int_equal(m->message_len, strlen("This notification has no subject."));
        assert_string_equal(m->timestamp, "2026-03-06T19:55:38.903Z");
        assert_int_equal(m->timestamp_sec, 1772826938); /* date -ud 2026-03-06T19:55:38Z +%s */
        assert_int_equal(m->signature_version, SNS_SIGNATURE_V1);
        assert_int_equal(m->signature_len, 256);
        assert_int_equal(m->signature[0], 0x87);   /* "h5/2" */
        assert_int_equal(m->signature[255], 0x7e); /* "fg==" */
        assert_string_equal(m->signing_cert_url,
                            "https://sns.us-west-2.amazonaws.com/"
                            "SimpleNotificationService-7506a1e35b36ef5a444dd1a8e7cc3ed8.pem");
        assert_non_null(m->unsubscribe_url);
        assert_null(m->subscribe_url);
        assert_null(m->token);

        expect_string_to_sign(vec_notification_no_subject, vec_notification_no_subject_tbs);
}

static void test_real_notification_subject(void **state)
{
        _cleanup_sns_message_ struct sns_message *m = parse_real(vec_notification_subject);

        assert_string_equal(m->subject, "My message subject");
        expect_string_to_sign(vec_notification_subject, vec_notification_subject_tbs);
}

static void test_real_notification_v2(void **state)
{
        _cleanup_sns_message_ struct sns_message *m = parse_real(vec_notification_v2);

        assert_int_equal(m->signature_version, SNS_SIGNATURE_V2);
        expect_string_to_sign(vec_notification_v2, vec_notification_v2_tbs);
}

static void test_real_subscription_confirmation(void **state)
{
        _cleanup_sns_message_ struct sns_message *m = parse_real(vec_subscription_confirmation);

        assert_int_equal(m->type, SNS_TYPE_SUBSCRIPTION_CONFIRMATION);
        assert_non_null(strchr(m->message, '\n')); /* the JSON escape, decoded */
        assert_true(strncmp(m->token, "2336412f37fb687f", 16) == 0);
        assert_true(strncmp(m->subscribe_url,
                            "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&",
                            63) == 0);
        assert_null(m->unsubscribe_url);
        assert_null(m->subject);
        expect_string_to_sign(vec_subscription_confirmation, vec_subscription_confirmation_tbs);
}

static void test_real_unsubscribe_confirmation(void **state)
{
        _cleanup_sns_message_ struct sns_message *m = parse_real(vec_unsubscribe_confirmation);

        assert_int_equal(m->type, SNS_TYPE_UNSUBSCRIBE_CONFIRMATION);
        assert_int_equal(m->signature_version, SNS_SIGNATURE_V2);
        expect_string_to_sign(vec_unsubscribe_confirmation, vec_unsubscribe_confirmation_tbs);
}

/* ---- the string to sign, synthetic ------------------------------------------------ */

static void test_string_to_sign_notification(void **state)
{
        struct sns_message *m = NULL;
        _cleanup_free_ char *tbs = NULL;
        const char *reason;
        json_t *o = base_message(false);

        /* Keys that do not belong to a Notification are neither read nor signed. */
        json_object_set_new(o, "Token", json_string("not-signed"));
        json_object_set_new(o, "SubscribeURL", json_string("https://evil.example/"));
        json_object_set_new(o, "MessageAttributes",
                            json_pack("{s:{s:s,s:s}}", "a", "Type", "String", "Value", "b"));
        json_object_set_new(o, "Message", json_string("line one\nline two"));
        assert_int_equal(parse_json(o, &m, &reason), 0);
        assert_null(m->token);
        assert_null(m->subscribe_url);
        assert_int_equal(sns_message_string_to_sign(m, &tbs, NULL), 0);
        assert_string_equal(tbs, "Message\nline one\nline two\n"
                                 "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
                                 "Timestamp\n2026-11-24T10:00:00.123Z\n"
                                 "TopicArn\narn:aws:sns:us-east-1:123456789012:twowayd-inbound\n"
                                 "Type\nNotification\n");
        sns_message_free(m);
}

static void test_string_to_sign_notification_subject(void **state)
{
        struct sns_message *m = NULL;
        _cleanup_free_ char *tbs = NULL;
        const char *reason;
        json_t *o = base_message(false);

        json_object_set_new(o, "Subject", json_string("Re: hi"));
        assert_int_equal(parse_json(o, &m, &reason), 0);
        assert_int_equal(sns_message_string_to_sign(m, &tbs, NULL), 0);
        assert_string_equal(tbs, "Message\nhello\n"
                                 "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
                                 "Subject\nRe: hi\n"
                                 "Timestamp\n2026-11-24T10:00:00.123Z\n"
                                 "TopicArn\narn:aws:sns:us-east-1:123456789012:twowayd-inbound\n"
                                 "Type\nNotification\n");
        sns_message_free(m);
}

static void test_string_to_sign_subject_null(void **state)
{
        struct sns_message *m = NULL;
        _cleanup_free_ char *tbs = NULL;
        const char *reason;
        json_t *o = base_message(false);

        json_object_set_new(o, "Subject", json_null());
        assert_int_equal(parse_json(o, &m, &reason), 0);
        assert_null(m->subject);
        assert_int_equal(sns_message_string_to_sign(m, &tbs, NULL), 0);
        assert_null(strstr(tbs, "Subject"));
        sns_message_free(m);
}

static void test_string_to_sign_confirmations(void **state)
{
        static const struct {
                const char *type;
        } cases[] = {{"SubscriptionConfirmation"}, {"UnsubscribeConfirmation"}};

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct sns_message *m = NULL;
                _cleanup_free_ char *tbs = NULL, *expected = NULL;
                const char *reason;
                json_t *o = base_message(true);

                json_object_set_new(o, "Type", json_string(cases[i].type));
                /* Not part of a confirmation: ignored, not signed. */
                json_object_set_new(o, "Subject", json_string("ignored"));
                json_object_set_new(o, "UnsubscribeURL", json_string("https://x.example/"));
                assert_int_equal(parse_json(o, &m, &reason), 0);
                assert_null(m->subject);
                assert_null(m->unsubscribe_url);
                assert_int_equal(sns_message_string_to_sign(m, &tbs, NULL), 0);
                assert_true(
                        asprintf(&expected,
                                 "Message\nhello\n"
                                 "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
                                 "SubscribeURL\nhttps://sns.us-east-1.amazonaws.com/"
                                 "?Action=ConfirmSubscription\n"
                                 "Timestamp\n2026-11-24T10:00:00.123Z\n"
                                 "Token\n2336412f37fb\n"
                                 "TopicArn\narn:aws:sns:us-east-1:123456789012:twowayd-inbound\n"
                                 "Type\n%s\n",
                                 cases[i].type) > 0);
                assert_string_equal(tbs, expected);
                sns_message_free(m);
        }
}

static void test_string_to_sign_invalid(void **state)
{
        struct sns_message m = {0};
        char *tbs = NULL;

        assert_int_equal(sns_message_string_to_sign(NULL, &tbs, NULL), -EINVAL);
        assert_int_equal(sns_message_string_to_sign(&m, &tbs, NULL), -EINVAL);
        m.type = SNS_TYPE_SUBSCRIPTION_CONFIRMATION;
        m.message = m.message_id = m.timestamp = m.topic_arn = m.type_str = "x";
        assert_int_equal(sns_message_string_to_sign(&m, &tbs, NULL), -EINVAL); /* no Token */
        m.type = 99;
        assert_int_equal(sns_message_string_to_sign(&m, &tbs, NULL), -EINVAL);
        assert_null(tbs);
}

/* ---- refusals ------------------------------------------------------------------------ */

static const char *const notification_required[] = {
        "Type",      "MessageId",        "TopicArn",  "Message",
        "Timestamp", "SignatureVersion", "Signature", "SigningCertURL",
};
static const char *const confirmation_only[] = {"Token", "SubscribeURL"};

static void test_missing_fields(void **state)
{
        char reason[64];

        for (size_t i = 0; i < ARRAY_SIZE(notification_required); i++) {
                json_t *o = base_message(false);
                json_object_del(o, notification_required[i]);
                (void)snprintf(reason, sizeof(reason), "missing field %s",
                               notification_required[i]);
                expect_refused(o, -EBADMSG, reason);

                o = base_message(true);
                json_object_del(o, notification_required[i]);
                expect_refused(o, -EBADMSG, reason);
        }
        for (size_t i = 0; i < ARRAY_SIZE(confirmation_only); i++) {
                json_t *o = base_message(true);
                json_object_del(o, confirmation_only[i]);
                (void)snprintf(reason, sizeof(reason), "missing field %s", confirmation_only[i]);
                expect_refused(o, -EBADMSG, reason);
        }
}

static void test_optional_fields(void **state)
{
        struct sns_message *m = NULL;
        const char *reason;
        json_t *o = base_message(false);

        json_object_del(o, "UnsubscribeURL");
        json_object_set_new(o, "SequenceNumber", json_integer(7));
        json_object_set_new(o, "SignatureVersion", json_string("2"));
        assert_int_equal(parse_json(o, &m, &reason), 0);
        assert_null(m->unsubscribe_url);
        assert_null(m->subject);
        assert_int_equal(m->signature_version, SNS_SIGNATURE_V2);
        m = sns_message_free(m);
        assert_null(m);
}

static void test_wrong_types(void **state)
{
        static const char *const all[] = {
                "Type",      "MessageId",        "TopicArn",  "Message",        "Subject",
                "Timestamp", "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL",
        };
        char reason[64];

        for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
                json_t *values[] = {json_integer(5), json_true(), json_pack("[s]", "x"),
                                    json_pack("{s:s}", "x", "y"), json_null()};
                (void)snprintf(reason, sizeof(reason), "field %s is not a string", all[i]);
                for (size_t j = 0; j < ARRAY_SIZE(values); j++) {
                        json_t *o = base_message(false);
                        if (streq(all[i], "Subject") && json_is_null(values[j])) {
                                json_decref(values[j]); /* null Subject: absent, tested above */
                                json_decref(o);
                                continue;
                        }
                        json_object_set_new(o, all[i], values[j]);
                        expect_refused(o, -EBADMSG, reason);
                }
        }
        for (size_t i = 0; i < ARRAY_SIZE(confirmation_only); i++) {
                json_t *o = base_message(true);
                json_object_set_new(o, confirmation_only[i], json_integer(1));
                (void)snprintf(reason, sizeof(reason), "field %s is not a string",
                               confirmation_only[i]);
                expect_refused(o, -EBADMSG, reason);
        }
}

static void test_empty_fields(void **state)
{
        char reason[64];

        for (size_t i = 0; i < ARRAY_SIZE(notification_required); i++) {
                (void)snprintf(reason, sizeof(reason), "empty field %s", notification_required[i]);
                expect_field_refused(false, notification_required[i], "", -EBADMSG, reason);
        }
        expect_field_refused(false, "Subject", "", -EBADMSG, "empty field Subject");
        expect_field_refused(true, "Token", "", -EBADMSG, "empty field Token");
}

static void test_control_characters(void **state)
{
        static const char *const single_line[] = {
                "MessageId", "TopicArn", "Timestamp", "Signature", "SigningCertURL", "Subject",
        };
        char reason[64];

        for (size_t i = 0; i < ARRAY_SIZE(single_line); i++) {
                const char *values[] = {"a\nb", "a\rb", "a\tb",
                                        "a\x7f"
                                        "b",
                                        "\x01"};
                (void)snprintf(reason, sizeof(reason), "control character in field %s",
                               single_line[i]);
                for (size_t j = 0; j < ARRAY_SIZE(values); j++)
                        expect_field_refused(false, single_line[i], values[j], -EBADMSG, reason);
        }
        expect_field_refused(true, "Token", "abc\nTopicArn", -EBADMSG,
                             "control character in field Token");
        expect_field_refused(true, "SubscribeURL", "https://x/\n", -EBADMSG,
                             "control character in field SubscribeURL");
}

static void test_too_long(void **state)
{
        static const struct {
                const char *field;
                size_t max;
        } cases[] = {
                {"MessageId", SNS_MESSAGE_ID_MAX},    {"TopicArn", SNS_TOPIC_ARN_MAX},
                {"Subject", SNS_SUBJECT_MAX},         {"Message", SNS_MESSAGE_MAX},
                {"Timestamp", SNS_TIMESTAMP_MAX},     {"SigningCertURL", SNS_URL_MAX},
                {"Signature", SNS_SIGNATURE_B64_MAX}, {"UnsubscribeURL", SNS_URL_MAX},
        };
        char reason[64];

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *at_max = repeat('a', cases[i].max);
                _cleanup_free_ char *over = repeat('a', cases[i].max + 1);
                struct sns_message *m = NULL;
                const char *r;
                json_t *o = base_message(false);

                /* At the limit the length check passes (another check may fail). */
                json_object_set_new(o, cases[i].field, json_string(at_max));
                (void)snprintf(reason, sizeof(reason), "field %s too long", cases[i].field);
                if (parse_json(o, &m, &r) < 0)
                        assert_string_not_equal(r, reason);
                sns_message_free(m);

                expect_field_refused(false, cases[i].field, over, -EMSGSIZE, reason);
        }
        {
                _cleanup_free_ char *over = repeat('a', SNS_TOKEN_MAX + 1);
                expect_field_refused(true, "Token", over, -EMSGSIZE, "field Token too long");
        }
}

static void test_message_size_limits(void **state)
{
        _cleanup_free_ char *big = repeat(' ', SNS_BODY_MAX + 1);
        struct sns_message *m = NULL;
        const char *reason;
        _cleanup_free_ char *msg = repeat('m', SNS_MESSAGE_MAX);
        json_t *o = base_message(false);

        expect_raw_refused(big, SNS_BODY_MAX + 1, -EMSGSIZE, "message too large");

        /* The largest Message SNS can deliver is accepted. */
        json_object_set_new(o, "Message", json_string(msg));
        assert_int_equal(parse_json(o, &m, &reason), 0);
        assert_int_equal(m->message_len, SNS_MESSAGE_MAX);
        sns_message_free(m);
}

static void test_unknown_type(void **state)
{
        static const char *const types[] = {"notification", "Notification ", "Bogus",
                                            "SubscriptionConfirmation2"};

        for (size_t i = 0; i < ARRAY_SIZE(types); i++)
                expect_field_refused(false, "Type", types[i], -EOPNOTSUPP, "unknown Type");
}

static void test_unknown_signature_version(void **state)
{
        static const char *const versions[] = {"0", "3", "01", "1.0", " 1", "v1", "12"};

        for (size_t i = 0; i < ARRAY_SIZE(versions); i++)
                expect_field_refused(false, "SignatureVersion", versions[i], -EPROTONOSUPPORT,
                                     "unknown SignatureVersion");
}

static void test_bad_signature_base64(void **state)
{
        _cleanup_free_ char *too_big = repeat('A', SNS_SIGNATURE_B64_MAX); /* 1026 bytes */
        const char *bad[] = {"QUJ",  "QUJDR", "QU=D", "Q===",  "====", "QUJD====", "QR==",
                             "QUI>", "QUJ=",  "QU-_", "Q UJD", "=QUJ", too_big};

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                expect_field_refused(false, "Signature", bad[i], -EILSEQ, "bad base64 signature");
}

static void test_bad_timestamp(void **state)
{
        static const char *const bad[] = {
                "2026-11-24 10:00:00.123Z",     "2026-11-24T10:00:00.123",
                "2026-11-24T10:00:00.Z",        "2026-11-24T10:00:00.1234567890Z",
                "2026-13-24T10:00:00Z",         "2026-02-29T10:00:00Z",
                "2026-11-24T24:00:00Z",         "2026-11-24T10:00:00+00:00",
                "1969-12-31T23:59:59Z",         "yesterday",
                "2026-11-24T10:00:00.123Zjunk",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                expect_field_refused(false, "Timestamp", bad[i], -EBADMSG, "bad Timestamp");
}

static void test_invalid_json(void **state)
{
        static const struct {
                const char *text;
                const char *reason;
        } cases[] = {
                {"{", "invalid JSON"},
                {"{\"Type\":\"Notification\",}", "invalid JSON"},
                {"{\"Type\":\"Notification\"} x", "invalid JSON"},
                {"\"Notification\"", "invalid JSON"},
                {"null", "invalid JSON"},
                {"[]", "not a JSON object"},
                {"[{\"Type\":\"Notification\"}]", "not a JSON object"},
                {"{\"Type\":\"Notification\",\"Type\":\"Notification\"}", "duplicate key"},
                {"{\"Message\":\"a\",\"Message\":\"b\",\"Type\":\"Notification\"}",
                 "duplicate key"},
                {"{\"Type\":\"Notifica\\u0000tion\"}", "NUL character in JSON"},
                {"{\"Type\":\"Notification\",\"Message\":\"\xc3\x28\"}", "invalid UTF-8"},
                {"{\"Type\":\"Notification\",\"Message\":\"\\ud800\"}", "invalid JSON"},
                {"{}", "missing field Type"},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
                expect_raw_refused(cases[i].text, strlen(cases[i].text), -EBADMSG, cases[i].reason);
        expect_raw_refused("{\"Type\":\"x\"}\0", 13, -EBADMSG, "invalid JSON");
        expect_raw_refused("", 0, -EBADMSG, "empty body");
}

static void test_invalid_arguments(void **state)
{
        struct sns_message *m = NULL;
        const char *reason = NULL;

        assert_int_equal(sns_message_parse(NULL, 1, &m, &reason), -EINVAL);
        assert_string_equal(reason, "invalid argument");
        assert_int_equal(sns_message_parse("{}", 2, NULL, NULL), -EINVAL);
        assert_null(sns_message_free(NULL));
}

static void test_reason_untouched_on_success(void **state)
{
        _cleanup_sns_message_ struct sns_message *m = NULL;
        const char *reason = "sentinel";

        assert_int_equal(
                sns_message_parse(vec_notification_v2, strlen(vec_notification_v2), &m, &reason),
                0);
        assert_string_equal(reason, "sentinel");
}

static void test_type_names(void **state)
{
        assert_string_equal(sns_message_type_to_string(SNS_TYPE_NOTIFICATION), "Notification");
        assert_string_equal(sns_message_type_to_string(SNS_TYPE_SUBSCRIPTION_CONFIRMATION),
                            "SubscriptionConfirmation");
        assert_string_equal(sns_message_type_to_string(SNS_TYPE_UNSUBSCRIBE_CONFIRMATION),
                            "UnsubscribeConfirmation");
        assert_null(sns_message_type_to_string(0));
        assert_null(sns_message_type_to_string(42));
        assert_int_equal(sns_message_type_from_string("UnsubscribeConfirmation"),
                         SNS_TYPE_UNSUBSCRIBE_CONFIRMATION);
        assert_int_equal(sns_message_type_from_string("Notification"), SNS_TYPE_NOTIFICATION);
        assert_int_equal(sns_message_type_from_string("Other"), -EOPNOTSUPP);
        assert_int_equal(sns_message_type_from_string(NULL), -EINVAL);
}

/* ---- internals ------------------------------------------------------------------------ */

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_notification_no_subject),
                cmocka_unit_test(test_real_notification_subject),
                cmocka_unit_test(test_real_notification_v2),
                cmocka_unit_test(test_real_subscription_confirmation),
                cmocka_unit_test(test_real_unsubscribe_confirmation),
                cmocka_unit_test(test_string_to_sign_notification),
                cmocka_unit_test(test_string_to_sign_notification_subject),
                cmocka_unit_test(test_string_to_sign_subject_null),
                cmocka_unit_test(test_string_to_sign_confirmations),
                cmocka_unit_test(test_string_to_sign_invalid),
                cmocka_unit_test(test_missing_fields),
                cmocka_unit_test(test_optional_fields),
                cmocka_unit_test(test_wrong_types),
                cmocka_unit_test(test_empty_fields),
                cmocka_unit_test(test_control_characters),
                cmocka_unit_test(test_too_long),
                cmocka_unit_test(test_message_size_limits),
                cmocka_unit_test(test_unknown_type),
                cmocka_unit_test(test_unknown_signature_version),
                cmocka_unit_test(test_bad_signature_base64),
                cmocka_unit_test(test_bad_timestamp),
                cmocka_unit_test(test_invalid_json),
                cmocka_unit_test(test_invalid_arguments),
                cmocka_unit_test(test_reason_untouched_on_success),
                cmocka_unit_test(test_type_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
