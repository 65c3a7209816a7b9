/*
 * business_days_test.c — business-day deadlines and ISO-8601 formatting.
 *
 * Fixed cases spell out the documented rule (weekend starts, month and year
 * ends, holidays, leap days); a cross-check compares the arithmetic with a
 * naive day-by-day walk over three months of starts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <time.h>

#include "business_days.h"
#include "common.h"
#include "datetime.h"

/* "YYYY-MM-DDTHH:MM:SSZ" -> time_t, independently of the module. */
static time_t iso(const char *s)
{
        struct tm tm = {0};
        const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);

        assert_non_null(end);
        assert_int_equal(*end, '\0');
        return timegm(&tm);
}

static const char *fmt(time_t t, char buf[static BUSINESS_DAYS_ISO8601_SIZE])
{
        assert_int_equal(business_days_format_iso8601(t, buf, BUSINESS_DAYS_ISO8601_SIZE), 20);
        return buf;
}

static struct business_days_holidays holidays(const char *const *dates, size_t n)
{
        struct business_days_holidays h = {0};

        assert_int_equal(business_days_holidays_parse(dates, n, &h), 0);
        return h;
}

static const char *const us_late_2026[] = {
        "2026-11-26", /* Thanksgiving, Thursday */
        "2026-11-27", /* the Friday after */
        "2026-12-25", /* Christmas, Friday */
        "2027-01-01", /* New Year, Friday */
        "2026-11-28", /* a Saturday: changes nothing */
};

static const char *const week_off[] = {
        "2026-12-04", "2026-12-03", "2026-12-02", "2026-12-01", "2026-11-30", "2026-12-02",
};

static void test_table(void **state)
{
        struct business_days_holidays us = holidays(us_late_2026, ARRAY_SIZE(us_late_2026));
        struct business_days_holidays off = holidays(week_off, ARRAY_SIZE(week_off));
        const struct {
                const char *start;
                unsigned n;
                const struct business_days_holidays *h;
                const char *want;
        } cases[] = {
                /* Weekdays, no holidays. */
                {"2026-11-24T13:05:09Z", 0, NULL, "2026-11-24T13:05:09Z"},
                {"2026-11-24T13:05:09Z", 1, NULL, "2026-11-25T13:05:09Z"},
                {"2026-11-24T13:05:09Z", 3, NULL, "2026-11-27T13:05:09Z"},
                {"2026-11-24T13:05:09Z", 4, NULL, "2026-11-30T13:05:09Z"},
                {"2026-11-24T13:05:09Z", 5, NULL, "2026-12-01T13:05:09Z"},
                {"2026-11-24T13:05:09Z", 10, NULL, "2026-12-08T13:05:09Z"},
                {"2026-11-24T13:05:09Z", 260, NULL, "2027-11-23T13:05:09Z"},
                /* Friday evening. */
                {"2026-11-27T18:30:00Z", 1, NULL, "2026-11-30T18:30:00Z"},
                {"2026-11-27T18:30:00Z", 5, NULL, "2026-12-04T18:30:00Z"},
                {"2026-11-27T18:30:00Z", 6, NULL, "2026-12-07T18:30:00Z"},
                {"2026-11-27T23:59:59Z", 1, NULL, "2026-11-30T23:59:59Z"},
                /* Saturday and Sunday count from Monday, which is day 1. */
                {"2026-11-28T10:00:00Z", 0, NULL, "2026-11-28T10:00:00Z"},
                {"2026-11-28T10:00:00Z", 1, NULL, "2026-11-30T10:00:00Z"},
                {"2026-11-28T10:00:00Z", 2, NULL, "2026-12-01T10:00:00Z"},
                {"2026-11-28T10:00:00Z", 5, NULL, "2026-12-04T10:00:00Z"},
                {"2026-11-28T10:00:00Z", 6, NULL, "2026-12-07T10:00:00Z"},
                {"2026-11-29T00:00:00Z", 1, NULL, "2026-11-30T00:00:00Z"},
                {"2026-11-29T23:59:59Z", 1, NULL, "2026-11-30T23:59:59Z"},
                {"2026-11-29T23:59:59Z", 10, NULL, "2026-12-11T23:59:59Z"},
                /* Monday midnight. */
                {"2026-11-30T00:00:00Z", 1, NULL, "2026-12-01T00:00:00Z"},
                /* Month and year ends. */
                {"2026-01-30T08:00:00Z", 1, NULL, "2026-02-02T08:00:00Z"},
                {"2026-12-31T09:00:00Z", 1, NULL, "2027-01-01T09:00:00Z"},
                {"2026-12-31T09:00:00Z", 2, NULL, "2027-01-04T09:00:00Z"},
                {"2024-12-31T22:00:00Z", 1, NULL, "2025-01-01T22:00:00Z"},
                /* Leap day. */
                {"2028-02-25T12:00:00Z", 2, NULL, "2028-02-29T12:00:00Z"},
                {"2028-02-28T12:00:00Z", 1, NULL, "2028-02-29T12:00:00Z"},
                {"2028-02-28T12:00:00Z", 2, NULL, "2028-03-01T12:00:00Z"},
                /* Before the epoch (floor division of negative times). */
                {"1969-12-31T12:00:00Z", 1, NULL, "1970-01-01T12:00:00Z"},
                {"1969-12-31T23:59:59Z", 2, NULL, "1970-01-02T23:59:59Z"},
                {"1969-12-27T06:00:00Z", 1, NULL, "1969-12-29T06:00:00Z"},
                /* Holidays. */
                {"2026-11-25T15:00:00Z", 1, &us, "2026-11-30T15:00:00Z"},
                {"2026-11-24T15:00:00Z", 1, &us, "2026-11-25T15:00:00Z"},
                {"2026-11-24T15:00:00Z", 2, &us, "2026-11-30T15:00:00Z"},
                {"2026-11-24T15:00:00Z", 10, &us, "2026-12-10T15:00:00Z"},
                {"2026-11-26T15:00:00Z", 1, &us, "2026-11-30T15:00:00Z"}, /* on a holiday */
                {"2026-11-27T15:00:00Z", 1, &us, "2026-11-30T15:00:00Z"},
                {"2026-12-24T17:00:00Z", 1, &us, "2026-12-28T17:00:00Z"},
                {"2026-12-31T09:00:00Z", 1, &us, "2027-01-04T09:00:00Z"},
                {"2026-12-23T09:00:00Z", 7, &us, "2027-01-05T09:00:00Z"},
                {"2026-12-31T09:00:00Z", 0, &us, "2026-12-31T09:00:00Z"},
                /* A whole week off pushes into the next one. */
                {"2026-11-27T18:30:00Z", 1, &off, "2026-12-07T18:30:00Z"},
                {"2026-11-28T18:30:00Z", 2, &off, "2026-12-08T18:30:00Z"},
                {"2026-12-02T18:30:00Z", 1, &off, "2026-12-07T18:30:00Z"},
                /* Holidays before the start change nothing. */
                {"2027-02-01T10:00:00Z", 1, &us, "2027-02-02T10:00:00Z"},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                char buf[BUSINESS_DAYS_ISO8601_SIZE];
                time_t got = 0;

                assert_int_equal(
                        business_days_add(iso(cases[i].start), cases[i].n, cases[i].h, &got), 0);
                if (!streq(fmt(got, buf), cases[i].want))
                        fail_msg("case %zu: %s + %u = %s, want %s", i, cases[i].start, cases[i].n,
                                 buf, cases[i].want);
        }
        business_days_holidays_done(&us);
        business_days_holidays_done(&off);
}

/* The same rule, the slow way: step one calendar day at a time. */
static time_t naive_add(time_t start, unsigned n, const char *const *hol, size_t nhol)
{
        time_t t = start;

        while (n > 0) {
                struct tm tm;
                char ymd[16];
                bool holiday = false;

                t += 86400;
                assert_non_null(gmtime_r(&t, &tm));
                assert_int_equal(strftime(ymd, sizeof(ymd), "%Y-%m-%d", &tm), 10);
                for (size_t i = 0; i < nhol; i++)
                        holiday = holiday || streq(ymd, hol[i]);
                if (tm.tm_wday != 0 && tm.tm_wday != 6 && !holiday)
                        n--;
        }
        return t;
}

static void test_against_naive(void **state)
{
        struct business_days_holidays us = holidays(us_late_2026, ARRAY_SIZE(us_late_2026));
        time_t first = iso("2026-11-01T07:45:30Z");

        for (unsigned day = 0; day < 92; day++)
                for (unsigned n = 0; n <= 25; n++) {
                        time_t start = first + (time_t)day * 86400 + (time_t)(day * 997 % 86400);
                        time_t got = 0, got_plain = 0;

                        assert_int_equal(business_days_add(start, n, &us, &got), 0);
                        assert_true(got ==
                                    naive_add(start, n, us_late_2026, ARRAY_SIZE(us_late_2026)));
                        assert_int_equal(business_days_add(start, n, NULL, &got_plain), 0);
                        assert_true(got_plain == naive_add(start, n, NULL, 0));
                }
        business_days_holidays_done(&us);
}

static void test_parse_dates(void **state)
{
        static const char *const bad[] = {
                "2026-02-29",           "2026-13-01",  "2026-00-10", "2026-01-00", "2026-04-31",
                "2026-01-32",           "2026-1-01",   "2026-01-1",  "20260101",   "2026/01/01",
                "2026-01-01 ",          " 2026-01-01", "",           "0000-01-01", "abcd-ef-gh",
                "2026-01-01T00:00:00Z", "+026-01-01",  "2026-0a-01",
        };
        int64_t day = 12345;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct business_days_holidays h = {.days = NULL, .n = 77};

                if (datetime_parse_date(bad[i], &day) != -EINVAL)
                        fail_msg("accepted \"%s\"", bad[i]);
                assert_int_equal(business_days_holidays_parse(&bad[i], 1, &h), -EINVAL);
                assert_int_equal(h.n, 77); /* untouched */
        }
        assert_int_equal(day, 12345);
        assert_int_equal(datetime_parse_date(NULL, &day), -EINVAL);

        assert_int_equal(datetime_parse_date("1970-01-01", &day), 0);
        assert_int_equal(day, 0);
        assert_int_equal(datetime_parse_date("1969-12-31", &day), 0);
        assert_int_equal(day, -1);
        assert_int_equal(datetime_parse_date("2028-02-29", &day), 0);
        assert_int_equal(datetime_parse_date("2000-02-29", &day), 0);
        assert_int_equal(datetime_parse_date("1900-02-29", &day), -EINVAL);
        assert_int_equal(datetime_parse_date("2026-11-24", &day), 0);
        assert_int_equal(day, 20781);
        assert_int_equal(datetime_parse_date("9999-12-31", &day), 0);
        assert_int_equal(datetime_parse_date("0001-01-01", &day), 0);
}

static void test_holiday_list(void **state)
{
        struct business_days_holidays h = {0};

        assert_int_equal(business_days_holidays_parse(week_off, ARRAY_SIZE(week_off), &h), 0);
        assert_int_equal(h.n, 5); /* the duplicate merged */
        for (size_t i = 1; i < h.n; i++)
                assert_true(h.days[i - 1] < h.days[i]);
        business_days_holidays_done(&h);
        assert_null(h.days);
        assert_int_equal(h.n, 0);
        business_days_holidays_done(&h);
        business_days_holidays_done(NULL);

        assert_int_equal(business_days_holidays_parse(NULL, 0, &h), 0);
        assert_int_equal(h.n, 0);
        business_days_holidays_done(&h);
        assert_int_equal(business_days_holidays_parse(NULL, 1, &h), -EINVAL);
}

/* t's UTC date is a business day when one business day after the day
 * before lands on it. */
static bool lands_on(time_t t, const struct business_days_holidays *h)
{
        time_t got = 0;

        assert_int_equal(business_days_add(t - 86400, 1, h, &got), 0);
        return got == t;
}

static void test_which_days_count(void **state)
{
        struct business_days_holidays us = holidays(us_late_2026, ARRAY_SIZE(us_late_2026));

        assert_true(lands_on(iso("2026-11-24T00:00:00Z"), &us));   /* Tuesday */
        assert_true(lands_on(iso("2026-11-24T23:59:59Z"), NULL));  /* its last second */
        assert_false(lands_on(iso("2026-11-26T12:00:00Z"), &us));  /* Thanksgiving */
        assert_true(lands_on(iso("2026-11-26T12:00:00Z"), NULL));  /* a Thursday otherwise */
        assert_false(lands_on(iso("2026-11-28T12:00:00Z"), NULL)); /* Saturday */
        assert_false(lands_on(iso("2026-11-29T12:00:00Z"), NULL)); /* Sunday */
        assert_true(lands_on(iso("2026-11-30T00:00:00Z"), &us));   /* Monday */
        business_days_holidays_done(&us);
}

static void test_limits(void **state)
{
        time_t got = 42;

        assert_int_equal(
                business_days_add(iso("2026-11-24T00:00:00Z"), BUSINESS_DAYS_MAX_N + 1, NULL, &got),
                -ERANGE);
        assert_int_equal(got, 42);
        assert_int_equal(
                business_days_add(iso("2026-11-24T00:00:00Z"), BUSINESS_DAYS_MAX_N, NULL, &got), 0);
        /* 200,000 whole weeks later, a Tuesday again. */
        assert_true(got == iso("2026-11-24T00:00:00Z") + (time_t)200000 * 7 * 86400);
        assert_int_equal(business_days_add(INT64_MAX, 1, NULL, &got), -EOVERFLOW);
        assert_int_equal(business_days_add(0, 1, NULL, NULL), -EINVAL);
}

static void test_format(void **state)
{
        char buf[BUSINESS_DAYS_ISO8601_SIZE + 4];

        assert_string_equal(fmt(iso("2026-11-24T13:05:09Z"), buf), "2026-11-24T13:05:09Z");
        assert_string_equal(fmt(0, buf), "1970-01-01T00:00:00Z");
        assert_string_equal(fmt(-1, buf), "1969-12-31T23:59:59Z");
        assert_string_equal(fmt(1795871109, buf), "2026-11-28T13:05:09Z");
        assert_string_equal(fmt(951782400, buf), "2000-02-29T00:00:00Z");
        assert_string_equal(fmt(253402300799, buf), "9999-12-31T23:59:59Z");
        assert_int_equal(business_days_format_iso8601(253402300800, buf, sizeof(buf)), -EOVERFLOW);
        assert_int_equal(business_days_format_iso8601(INT64_MAX, buf, sizeof(buf)), -EOVERFLOW);
        assert_int_equal(business_days_format_iso8601(0, buf, BUSINESS_DAYS_ISO8601_SIZE - 1),
                         -ENOBUFS);
        assert_int_equal(business_days_format_iso8601(0, NULL, 64), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_against_naive),
                cmocka_unit_test(test_parse_dates),
                cmocka_unit_test(test_holiday_list),
                cmocka_unit_test(test_which_days_count),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_format),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
