/*
 * datetime.c — dates and RFC 3339 timestamps. See datetime.h.
 */
#include <string.h>
#include <time.h>

#include "common.h"
#include "datetime.h"

static bool is_digits(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

static int digits_value(const char *s, size_t n)
{
        int v = 0;

        for (size_t i = 0; i < n; i++)
                v = v * 10 + (s[i] - '0');
        return v;
}

static int64_t floor_div(int64_t a, int64_t b)
{
        return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The date in s[0..10), known to be DDDD-DD-DD's shape or not. */
static int parse_date_part(const char *s, int64_t *ret_day)
{
        struct tm tm = {0}, check;
        time_t t;
        int y, m, d;

        if (s[4] != '-' || s[7] != '-' || !is_digits(s, 4) || !is_digits(s + 5, 2) ||
            !is_digits(s + 8, 2))
                return -EINVAL;
        y = digits_value(s, 4);
        m = digits_value(s + 5, 2);
        d = digits_value(s + 8, 2);
        if (y < 1 || m < 1 || m > 12 || d < 1 || d > 31)
                return -EINVAL;

        tm.tm_year = y - 1900;
        tm.tm_mon = m - 1;
        tm.tm_mday = d;
        tm.tm_hour = 12; /* safely inside the day */
        t = timegm(&tm);
        /* timegm() normalises Feb 30 to Mar 2; a real date survives the round trip. */
        if (!gmtime_r(&t, &check) || check.tm_year != y - 1900 || check.tm_mon != m - 1 ||
            check.tm_mday != d)
                return -EINVAL;
        *ret_day = floor_div((int64_t)t, DATETIME_SECONDS_PER_DAY);
        return 0;
}

int datetime_parse_date(const char *s, int64_t *ret_day)
{
        if (!s || strlen(s) != 10)
                return -EINVAL;
        return parse_date_part(s, ret_day);
}

static bool utc_designator(const char *s, unsigned flags)
{
        if (streq(s, "Z"))
                return true;
        return (flags & DATETIME_ZERO_OFFSET) &&
               (streq(s, "z") || streq(s, "+00:00") || streq(s, "+0000"));
}

int datetime_parse_timestamp(const char *s, unsigned flags, int64_t *ret)
{
        int64_t day;
        int h, mi, sec;
        size_t i = 19;

        if (!s || strnlen(s, 20) < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
            !is_digits(s + 11, 2) || !is_digits(s + 14, 2) || !is_digits(s + 17, 2))
                return -EINVAL;
        if (parse_date_part(s, &day) < 0 || day < 0)
                return -EINVAL;
        h = digits_value(s + 11, 2);
        mi = digits_value(s + 14, 2);
        sec = digits_value(s + 17, 2);
        if (h > 23 || mi > 59 || sec > 60)
                return -EINVAL;
        if (s[i] == '.') {
                size_t start = ++i;
                while (s[i] >= '0' && s[i] <= '9')
                        i++;
                if (i == start || i - start > 9)
                        return -EINVAL;
        }
        if (!utc_designator(s + i, flags))
                return -EINVAL;
        *ret = day * DATETIME_SECONDS_PER_DAY + h * 3600 + mi * 60 + sec;
        return 0;
}
