/* Unit tests for datetime.c: RFC 3339 timestamps in UTC and calendar dates
 * (more dates in business_days_test.c, with the holiday lists). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common.h"
#include "datetime.h"

static void test_timestamps(void **state)
{
        static const struct {
                const char *s;
                int64_t t;
        } good[] = {
                {"1970-01-01T00:00:00Z", 0},
                {"2012-04-26T20:45:04.751Z", 1335473104},       /* SNS */
                {"2024-02-29T23:59:59.123456789Z", 1709251199}, /* nine digits of fraction */
                {"2026-11-24T16:00:00.5Z", 1795536000},
                {"2000-02-29T00:00:00Z", 951782400},
                {"2016-12-31T23:59:60Z", 1483228800}, /* a leap second */
        };
        static const char *const bad[] = {
                "2100-02-29T00:00:00Z",
                "2026-04-31T00:00:00Z",
                "2026-1-01T00:00:00Z",
                "2026-11-24T16:00:00",
                "2026-11-24T16:00:00+02:00",
                "2026-13-24T16:00:00Z",
                "2026-11-24 16:00:00Z",
                "2026-11-24T16:00:00.Z",
                "2026-11-24T24:00:00Z",
                "2026-11-24T16:60:00Z",
                "2026-11-24T16:00:61Z",
                "1969-12-31T23:59:59Z",
                "2026-11-24T16:00:00.1234567890Z",
                "2026-11-24T16:00:00Z ",
                "",
                "2026-11-24T1a:00:00Z",
        };
        int64_t t;

        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                t = -1;
                if (datetime_parse_timestamp(good[i].s, 0, &t) != 0 || t != good[i].t)
                        fail_msg("\"%s\"", good[i].s);
                t = -1;
                if (datetime_parse_timestamp(good[i].s, DATETIME_ZERO_OFFSET, &t) != 0 ||
                    t != good[i].t)
                        fail_msg("\"%s\" with DATETIME_ZERO_OFFSET", good[i].s);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                t = 42;
                if (datetime_parse_timestamp(bad[i], 0, &t) != -EINVAL ||
                    datetime_parse_timestamp(bad[i], DATETIME_ZERO_OFFSET, &t) != -EINVAL ||
                    t != 42)
                        fail_msg("\"%s\" accepted", bad[i]);
        }
        assert_int_equal(datetime_parse_timestamp(NULL, 0, &t), -EINVAL);
}

/* Credential providers' Expiration: a zero UTC offset written any way. */
static void test_zero_offset(void **state)
{
        static const char *const utc[] = {
                "2026-11-24T16:00:00+00:00",
                "2026-11-24T16:00:00+0000",
                "2026-11-24T16:00:00z",
                "2026-11-24T16:00:00.250000+00:00",
        };
        int64_t t;

        for (size_t i = 0; i < ARRAY_SIZE(utc); i++) {
                t = 42;
                if (datetime_parse_timestamp(utc[i], 0, &t) != -EINVAL || t != 42)
                        fail_msg("\"%s\" accepted without DATETIME_ZERO_OFFSET", utc[i]);
                if (datetime_parse_timestamp(utc[i], DATETIME_ZERO_OFFSET, &t) != 0 ||
                    t != 1795536000)
                        fail_msg("\"%s\" refused", utc[i]);
        }
        assert_int_equal(
                datetime_parse_timestamp("2026-11-24T16:00:00-00:00", DATETIME_ZERO_OFFSET, &t),
                -EINVAL);
}

static void test_dates(void **state)
{
        int64_t day = 7;

        assert_int_equal(datetime_parse_date("1970-01-02", &day), 0);
        assert_int_equal(day, 1);
        assert_int_equal(datetime_parse_date("2026-02-29", &day), -EINVAL);
        assert_int_equal(datetime_parse_date("2026-02-28T00:00:00Z", &day), -EINVAL);
        assert_int_equal(day, 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_timestamps),
                cmocka_unit_test(test_zero_offset),
                cmocka_unit_test(test_dates),
        };

        return cmocka_run_group_tests_name("datetime", tests, NULL, NULL);
}
