/*
 * sms_rate_test.c — the MPS table, DescribePhoneNumbers lookups, and the
 * adaptive rate on a made-up clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "common.h"
#include "sms_rate.h"

static void test_documented(void **state)
{
        static const struct {
                const char *type, *country;
                double mps;
        } rows[] = {
                {"TOLL_FREE", "US", 3},
                {"TEN_DLC", "US", 1},
                {"SHORT_CODE", "US", 100},
                {"SHORT_CODE", "CA", 100},
                {"LONG_CODE", "CA", 1},
                {"LONG_CODE", "GB", 10},
                {"LONG_CODE", "DE", 10},
                {"LONG_CODE", "US", 10},
                {"TOLL_FREE", "CA", 1},
                {"SHORT_CODE", "GB", 1},
                {"SIMULATOR", "US", 1},
                {"TEN_DLC", "CA", 1},
                {"", "US", 1},
                {"TOLL_FREE", "", 1},
                {NULL, NULL, 1},
                {"toll_free", "US", 1}, /* the service spells types in capitals */
        };

        for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
                assert_true(sms_rate_documented(rows[i].type, rows[i].country) == rows[i].mps);
}

static const char page[] =
        "{\"PhoneNumbers\":["
        "{\"PhoneNumberArn\":\"arn:aws:sms-voice:us-east-1:123456789012:phone-number/"
        "phone-aaa\",\"PhoneNumberId\":\"phone-aaa\",\"PhoneNumber\":\"+18005550199\","
        "\"NumberType\":\"TOLL_FREE\",\"IsoCountryCode\":\"US\"},"
        "{\"PhoneNumberId\":\"phone-bbb\",\"PhoneNumber\":\"+14255550100\","
        "\"NumberType\":\"TEN_DLC\",\"IsoCountryCode\":\"US\"},"
        "{\"PhoneNumberId\":\"phone-ccc\",\"PhoneNumber\":\"+447700900123\","
        "\"NumberType\":\"LONG_CODE\",\"IsoCountryCode\":\"GB\"},"
        "{\"PhoneNumberId\":\"phone-ddd\",\"PhoneNumber\":\"+15550001\","
        "\"NumberType\":\"SOMETHING_NEW_AND_LONGER\",\"IsoCountryCode\":\"USA\"}"
        "],\"NextToken\":\"x\"}";

static void test_from_phone_numbers(void **state)
{
        json_t *res = json_loads(page, 0, NULL);
        struct sms_rate_identity id;

        assert_non_null(res);
        assert_int_equal(sms_rate_from_phone_numbers(res, "+18005550199", &id), 0);
        assert_string_equal(id.identity, "+18005550199");
        assert_string_equal(id.number_type, "TOLL_FREE");
        assert_string_equal(id.iso_country, "US");
        assert_true(id.parts_per_second == 3);

        /* By id and by ARN too. */
        assert_int_equal(sms_rate_from_phone_numbers(res, "phone-bbb", &id), 0);
        assert_string_equal(id.number_type, "TEN_DLC");
        assert_true(id.parts_per_second == 1);
        assert_int_equal(sms_rate_from_phone_numbers(
                                 res,
                                 "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-aaa",
                                 &id),
                         0);
        assert_true(id.parts_per_second == 3);

        assert_int_equal(sms_rate_from_phone_numbers(res, "+447700900123", &id), 0);
        assert_true(id.parts_per_second == 10);

        /* Values that do not fit are not cut into something they are not. */
        assert_int_equal(sms_rate_from_phone_numbers(res, "+15550001", &id), 0);
        assert_string_equal(id.number_type, "");
        assert_string_equal(id.iso_country, "");
        assert_true(id.parts_per_second == SMS_RATE_CONSERVATIVE);

        assert_int_equal(sms_rate_from_phone_numbers(res, "+19999999999", &id), -ENOENT);
        assert_int_equal(sms_rate_from_phone_numbers(res, "", &id), -EINVAL);
        json_decref(res);

        res = json_loads("{\"Other\":[]}", 0, NULL);
        assert_int_equal(sms_rate_from_phone_numbers(res, "+18005550199", &id), -EBADMSG);
        json_decref(res);
}

static void test_adapt_decrease_and_recovery(void **state)
{
        struct sms_rate_adapt a;

        sms_rate_adapt_init(&a, 3, 100);
        assert_true(sms_rate_adapt_current(&a, 100) == 3);
        assert_true(sms_rate_adapt_current(&a, 1000) == 3);

        /* One throttle halves the rate; the throttles of sends already under way
         * within the next second are the same event. */
        assert_true(sms_rate_adapt_throttled(&a, 200));
        assert_true(sms_rate_adapt_current(&a, 200) == 1.5);
        assert_false(sms_rate_adapt_throttled(&a, 200.3));
        assert_false(sms_rate_adapt_throttled(&a, 200.9));
        assert_true(sms_rate_adapt_current(&a, 201) == 1.5);
        assert_int_equal(a.throttles, 3);

        /* Quiet for 10 s: no recovery yet; then 2 % of the ceiling a second. */
        assert_true(sms_rate_adapt_current(&a, 210) == 1.5);
        assert_true(fabs(sms_rate_adapt_current(&a, 215) - (1.5 + 5 * 0.06)) < 1e-9);
        assert_true(sms_rate_adapt_current(&a, 235) == 3);
        assert_true(sms_rate_adapt_current(&a, 10000) == 3);

        /* A later throttle halves what the rate is then. */
        assert_true(sms_rate_adapt_throttled(&a, 215));
        assert_true(fabs(sms_rate_adapt_current(&a, 215) - 0.9) < 1e-9);
}

static void test_adapt_floor(void **state)
{
        struct sms_rate_adapt a;

        sms_rate_adapt_init(&a, 1, 0);
        for (int i = 0; i < 20; i++)
                (void)sms_rate_adapt_throttled(&a, 2.0 * i);
        assert_true(sms_rate_adapt_current(&a, 40) == SMS_RATE_ADAPT_FLOOR);

        /* A ceiling below the floor is the floor. */
        sms_rate_adapt_init(&a, 0.05, 0);
        (void)sms_rate_adapt_throttled(&a, 5);
        assert_true(sms_rate_adapt_current(&a, 5) == 0.05);

        /* A ceiling of 0 or less is the conservative rate. */
        sms_rate_adapt_init(&a, 0, 0);
        assert_true(sms_rate_adapt_current(&a, 0) == SMS_RATE_CONSERVATIVE);
}

static void test_adapt_set_ceiling(void **state)
{
        struct sms_rate_adapt a;

        /* A reload does not undo a decrease... */
        sms_rate_adapt_init(&a, 100, 0);
        assert_true(sms_rate_adapt_throttled(&a, 10));
        sms_rate_adapt_set_ceiling(&a, 100, 12);
        assert_true(sms_rate_adapt_current(&a, 12) == 50);
        /* ... recovery goes on as before ... */
        assert_true(sms_rate_adapt_current(&a, 20) == 50);
        assert_true(fabs(sms_rate_adapt_current(&a, 25) - 60) < 1e-9);
        /* ... and a lower ceiling applies at once. */
        sms_rate_adapt_set_ceiling(&a, 3, 25);
        assert_true(sms_rate_adapt_current(&a, 25) == 3);
        /* Not lowered: a higher ceiling applies at once too. */
        sms_rate_adapt_set_ceiling(&a, 10, 30);
        assert_true(sms_rate_adapt_current(&a, 30) == 10);
        /* Lowered: a higher ceiling is recovered towards. */
        assert_true(sms_rate_adapt_throttled(&a, 40));
        sms_rate_adapt_set_ceiling(&a, 20, 41);
        assert_true(sms_rate_adapt_current(&a, 41) == 5);
        assert_true(fabs(sms_rate_adapt_current(&a, 55) - (5 + 5 * 0.4)) < 1e-9);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_documented),
                cmocka_unit_test(test_from_phone_numbers),
                cmocka_unit_test(test_adapt_decrease_and_recovery),
                cmocka_unit_test(test_adapt_floor),
                cmocka_unit_test(test_adapt_set_ceiling),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
