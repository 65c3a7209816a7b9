/*
 * inbound_sms_test.c — the inbound SMS JSON carried in an SNS Notification.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "aws_names.h"
#include "common.h"
#include "inbound_sms.h"

/* The example AWS documents. */
static const char doc_example[] =
        "{\"originationNumber\":\"+14255550182\",\"destinationNumber\":\"+12125550101\","
        "\"messageKeyword\":\"JOIN\",\"messageBody\":\"EXAMPLE\","
        "\"inboundMessageId\":\"cae173d2-66b9-564c-8309-21f858e9fb84\","
        "\"previousPublishedMessageId\":\"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}";

static json_t *base(void)
{
        json_t *o = json_loads(doc_example, 0, NULL);

        assert_non_null(o);
        return o;
}

/* The documented example with field set to the string value. */
static json_t *with_field(const char *field, const char *value)
{
        json_t *o = base();

        assert_int_equal(json_object_set_new(o, field, json_string(value)), 0);
        return o;
}

/* Parses o (consumed). */
static int parse_json(json_t *o, struct inbound_sms **ret, const char **ret_reason)
{
        _cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);
        int r;

        json_decref(o);
        assert_non_null(text);
        *ret_reason = NULL;
        r = inbound_sms_parse(text, strlen(text), ret, ret_reason);
        if (r >= 0)
                assert_null(*ret_reason);
        return r;
}

static void expect_refused(json_t *o, int expected_r, const char *expected_reason)
{
        struct inbound_sms *sms = NULL;
        const char *reason;
        int r = parse_json(o, &sms, &reason);

        if (r != expected_r || !streq_ptr(reason, expected_reason))
                fail_msg("got %d \"%s\", expected %d \"%s\"", r, reason ? reason : "-", expected_r,
                         expected_reason);
        assert_null(sms);
}

static void test_doc_example(void **state)
{
        _cleanup_inbound_sms_ struct inbound_sms *sms = NULL;
        const char *reason = NULL;

        assert_int_equal(inbound_sms_parse(doc_example, strlen(doc_example), &sms, &reason), 0);
        assert_null(reason);
        assert_string_equal(sms->origination_number, "+14255550182");
        assert_string_equal(sms->destination_number, "+12125550101");
        assert_false(sms->destination_is_short_code);
        assert_string_equal(sms->message_keyword, "JOIN");
        assert_string_equal(sms->message_body, "EXAMPLE");
        assert_int_equal(sms->message_body_len, 7);
        assert_string_equal(sms->inbound_message_id, "cae173d2-66b9-564c-8309-21f858e9fb84");
        assert_string_equal(sms->previous_published_message_id,
                            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
}

static void test_optional_fields(void **state)
{
        json_t *variants[3];

        for (size_t v = 0; v < ARRAY_SIZE(variants); v++) {
                struct inbound_sms *sms = NULL;
                const char *reason;
                json_t *o = base();

                if (v == 0) {
                        json_object_del(o, "messageKeyword");
                        json_object_del(o, "previousPublishedMessageId");
                } else if (v == 1) {
                        json_object_set_new(o, "messageKeyword", json_null());
                        json_object_set_new(o, "previousPublishedMessageId", json_null());
                } else {
                        json_object_set_new(o, "messageKeyword", json_string(""));
                        json_object_set_new(o, "previousPublishedMessageId", json_string(""));
                }
                json_object_set_new(o, "someFutureField", json_pack("{s:i}", "x", 1));
                assert_int_equal(parse_json(o, &sms, &reason), 0);
                assert_null(sms->message_keyword);
                assert_null(sms->previous_published_message_id);
                inbound_sms_free(sms);
        }
}

static void test_body_forms(void **state)
{
        static const char *const bodies[] = {
                "",                                          /* an empty SMS */
                "STOP",                                      /* keyword-only */
                "line one\nline two\ttab",                   /* control characters are text */
                "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", /* 2-, 3- and 4-byte UTF-8 */
        };

        for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
                struct inbound_sms *sms = NULL;
                const char *reason;
                json_t *o = with_field("messageBody", bodies[i]);
                assert_int_equal(parse_json(o, &sms, &reason), 0);
                assert_string_equal(sms->message_body, bodies[i]);
                assert_int_equal(sms->message_body_len, strlen(bodies[i]));
                inbound_sms_free(sms);
        }
}

static void test_body_limits(void **state)
{
        char ascii[INBOUND_SMS_BODY_MAX + 2];
        _cleanup_free_ char *wide = malloc(4 * (INBOUND_SMS_BODY_MAX + 1) + 1);
        struct inbound_sms *sms = NULL;
        const char *reason;
        json_t *o;

        memset(ascii, 'a', sizeof(ascii) - 1);
        ascii[INBOUND_SMS_BODY_MAX] = '\0';
        o = with_field("messageBody", ascii);
        assert_int_equal(parse_json(o, &sms, &reason), 0);
        sms = inbound_sms_free(sms);

        ascii[INBOUND_SMS_BODY_MAX] = 'a';
        ascii[INBOUND_SMS_BODY_MAX + 1] = '\0';
        o = with_field("messageBody", ascii);
        expect_refused(o, -EMSGSIZE, "messageBody too long");

        /* 1600 four-byte characters (6400 bytes) fit; one more does not. */
        assert_non_null(wide);
        for (size_t i = 0; i < INBOUND_SMS_BODY_MAX; i++)
                memcpy(wide + 4 * i, "\xf0\x9f\x98\x80", 4);
        wide[4 * INBOUND_SMS_BODY_MAX] = '\0';
        o = with_field("messageBody", wide);
        assert_int_equal(parse_json(o, &sms, &reason), 0);
        assert_int_equal(sms->message_body_len, 4 * INBOUND_SMS_BODY_MAX);
        sms = inbound_sms_free(sms);

        memcpy(wide + 4 * INBOUND_SMS_BODY_MAX, "\xc3\xa9", 3);
        o = with_field("messageBody", wide);
        expect_refused(o, -EMSGSIZE, "messageBody too long");
}

static void test_phone_numbers(void **state)
{
        static const struct {
                const char *s;
                bool e164, short_code;
        } cases[] = {
                {"+14255550182", true, false},
                {"+1", true, false},
                {"+123456789012345", true, false},
                {"+1234567890123456", false, false},
                {"+04255550182", false, false},
                {"+", false, false},
                {"14255550182", false, false},
                {"+1 425 555 0182", false, false},
                {"+1-425-555-0182", false, false},
                {"++14255550182", false, false},
                {"+1425555018a", false, false},
                {"", false, false},
                {"12345", false, true},
                {"123", false, true},
                {"12345678", false, true},
                {"12", false, false},
                {"01234", false, false},
                {"ACME", false, false},
                {"\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93", false, false}, /* fullwidth digits */
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                if (aws_e164_is_valid(cases[i].s) != cases[i].e164)
                        fail_msg("e164 \"%s\"", cases[i].s);
                if (inbound_sms_short_code_valid(cases[i].s) != cases[i].short_code &&
                    cases[i].s[0] != '+')
                        fail_msg("short code \"%s\"", cases[i].s);
        }
        assert_false(aws_e164_is_valid(NULL));
        assert_false(inbound_sms_short_code_valid(NULL));

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct inbound_sms *sms = NULL;
                const char *reason;
                json_t *o = with_field("originationNumber", cases[i].s);
                if (cases[i].e164) {
                        assert_int_equal(parse_json(o, &sms, &reason), 0);
                        sms = inbound_sms_free(sms);
                } else
                        expect_refused(o, -EBADMSG, "originationNumber is not E.164");

                o = with_field("destinationNumber", cases[i].s);
                if (cases[i].e164 || cases[i].short_code) {
                        assert_int_equal(parse_json(o, &sms, &reason), 0);
                        assert_int_equal(sms->destination_is_short_code, cases[i].short_code);
                        inbound_sms_free(sms);
                } else
                        expect_refused(o, -EBADMSG,
                                       "destinationNumber is not E.164 or a short code");
        }
}

static void test_missing_and_wrong_types(void **state)
{
        static const char *const required[] = {"originationNumber", "destinationNumber",
                                               "messageBody", "inboundMessageId"};
        static const char *const all[] = {"originationNumber", "destinationNumber",
                                          "messageBody",       "inboundMessageId",
                                          "messageKeyword",    "previousPublishedMessageId"};
        char reason[96];

        for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
                json_t *o = base();
                json_object_del(o, required[i]);
                (void)snprintf(reason, sizeof(reason), "missing field %s", required[i]);
                expect_refused(o, -EBADMSG, reason);

                o = base();
                json_object_set_new(o, required[i], json_null());
                (void)snprintf(reason, sizeof(reason), "field %s is not a string", required[i]);
                expect_refused(o, -EBADMSG, reason);
        }
        for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
                json_t *values[] = {json_integer(14255550182), json_false(), json_array(),
                                    json_object()};
                (void)snprintf(reason, sizeof(reason), "field %s is not a string", all[i]);
                for (size_t j = 0; j < ARRAY_SIZE(values); j++) {
                        json_t *o = base();
                        json_object_set_new(o, all[i], values[j]);
                        expect_refused(o, -EBADMSG, reason);
                }
        }
}

/* The ids and the keyword: empty (where required), at most so many bytes,
 * no control characters. */
static void test_ids(void **state)
{
        static const struct {
                const char *field;
                size_t max;
                const char *too_long, *control, *control_reason;
        } cases[] = {
                {"inboundMessageId", INBOUND_SMS_ID_MAX, "inboundMessageId too long", "abc\ndef",
                 "control character in inboundMessageId"},
                {"messageKeyword", INBOUND_SMS_KEYWORD_MAX, "messageKeyword too long", "JO\rIN",
                 "control character in messageKeyword"},
                {"previousPublishedMessageId", INBOUND_SMS_PREV_ID_MAX,
                 "previousPublishedMessageId too long", "a\x01",
                 "control character in previousPublishedMessageId"},
        };
        char id[INBOUND_SMS_PREV_ID_MAX + 2];

        expect_refused(with_field("inboundMessageId", ""), -EBADMSG, "empty inboundMessageId");
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct inbound_sms *sms = NULL;
                const char *reason;

                assert_true(cases[i].max + 1 < sizeof(id));
                memset(id, 'x', cases[i].max);
                id[cases[i].max] = '\0';
                assert_int_equal(parse_json(with_field(cases[i].field, id), &sms, &reason), 0);
                sms = inbound_sms_free(sms);
                id[cases[i].max] = 'x';
                id[cases[i].max + 1] = '\0';
                expect_refused(with_field(cases[i].field, id), -EMSGSIZE, cases[i].too_long);
                expect_refused(with_field(cases[i].field, cases[i].control), -EBADMSG,
                               cases[i].control_reason);
        }
}

static void test_invalid_json(void **state)
{
        static const struct {
                const char *text;
                const char *reason;
        } cases[] = {
                {"", "invalid JSON"},
                {"{", "invalid JSON"},
                {"EXAMPLE", "invalid JSON"},
                {"[]", "not a JSON object"},
                {"{\"messageBody\":\"a\",\"messageBody\":\"b\"}", "duplicate key"},
                {"{\"messageBody\":\"\xff\"}", "invalid UTF-8"},
                {"{\"messageBody\":\"\xed\xa0\x80\"}", "invalid UTF-8"}, /* encoded surrogate */
                {"{\"messageBody\":\"\\ud83d\"}", "invalid JSON"},       /* lone surrogate */
                {"{\"messageBody\":\"a\\u0000b\"}", "NUL character in JSON"},
                {"{} {}", "invalid JSON"},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct inbound_sms *sms = NULL;
                const char *reason = NULL;
                int r = inbound_sms_parse(cases[i].text, strlen(cases[i].text), &sms, &reason);
                if (r != -EBADMSG || !streq_ptr(reason, cases[i].reason))
                        fail_msg("\"%s\": got %d \"%s\", expected \"%s\"", cases[i].text, r,
                                 reason ? reason : "-", cases[i].reason);
                assert_null(sms);
        }
}

static void test_arguments_and_size(void **state)
{
        _cleanup_free_ char *big = malloc(INBOUND_SMS_JSON_MAX + 1);
        struct inbound_sms *sms = NULL;
        const char *reason = "sentinel";

        assert_non_null(big);
        memset(big, ' ', INBOUND_SMS_JSON_MAX + 1);
        assert_int_equal(inbound_sms_parse(big, INBOUND_SMS_JSON_MAX + 1, &sms, &reason),
                         -EMSGSIZE);
        assert_string_equal(reason, "inbound SMS too large");
        assert_int_equal(inbound_sms_parse(NULL, 0, &sms, NULL), -EINVAL);
        assert_int_equal(inbound_sms_parse("{}", 2, NULL, NULL), -EINVAL);
        assert_null(inbound_sms_free(NULL));

        reason = "sentinel";
        assert_int_equal(inbound_sms_parse(doc_example, strlen(doc_example), &sms, &reason), 0);
        assert_string_equal(reason, "sentinel");
        inbound_sms_free(sms);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_doc_example),
                cmocka_unit_test(test_optional_fields),
                cmocka_unit_test(test_body_forms),
                cmocka_unit_test(test_body_limits),
                cmocka_unit_test(test_phone_numbers),
                cmocka_unit_test(test_missing_and_wrong_types),
                cmocka_unit_test(test_ids),
                cmocka_unit_test(test_invalid_json),
                cmocka_unit_test(test_arguments_and_size),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
