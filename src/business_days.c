/*
 * business_days.c — business-day arithmetic in UTC (pure).
 *
 * Instants are broken down with gmtime_r() and built with timegm(); the
 * stepping itself works on whole days since the epoch (a POSIX day is always
 * 86,400 s), so it is exact and needs no loop over calendar days: whole weeks
 * are skipped arithmetically, then each holiday met on the way pushes the
 * deadline one more business day.
 */
#include <stdio.h>

#include "business_days.h"
#include "common.h"
#include "datetime.h"

#define SECONDS_PER_DAY 86400

static int64_t floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;

        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* 0 = Monday .. 6 = Sunday; 1970-01-01 was a Thursday. */
static int weekday_of(int64_t day)
{
        int64_t w = (day + 3) % 7;

        return (int)(w < 0 ? w + 7 : w);
}

static bool is_weekday(int64_t day)
{
        return weekday_of(day) < 5;
}

static int cmp_day(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

        return (x > y) - (x < y);
}

int business_days_holidays_parse(const char *const *dates, size_t n,
                                 struct business_days_holidays *ret)
{
        _cleanup_free_ int64_t *days = NULL;
        size_t u = 0;

        if (!ret || (n && !dates))
                return -EINVAL;
        if (n > 0) {
                days = calloc(n, sizeof(*days));
                if (!days)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                int r = datetime_parse_date(dates[i], &days[i]);

                if (r < 0)
                        return r;
        }
        if (n > 0) {
                qsort(days, n, sizeof(*days), cmp_day);
                for (size_t i = 0; i < n; i++)
                        if (u == 0 || days[u - 1] != days[i])
                                days[u++] = days[i];
        }
        *ret = (struct business_days_holidays){.days = TAKE_PTR(days), .n = u};
        return 0;
}

void business_days_holidays_done(struct business_days_holidays *h)
{
        if (!h)
                return;
        free(h->days);
        *h = (struct business_days_holidays){0};
}

/* The n-th weekday strictly after day, holidays ignored. */
static int64_t add_weekdays(int64_t day, uint64_t n)
{
        int wd;

        if (n == 0)
                return day;
        wd = weekday_of(day);
        if (wd > 4) {
                /* From a weekend, the weekdays after it are those after its Friday. */
                day -= wd - 4;
                wd = 4;
        }
        day += (int64_t)(n / 5) * 7;
        wd += (int)(n % 5);
        day += (int64_t)(n % 5);
        if (wd > 4)
                day += 2;
        return day;
}

/* Index of the first holiday after day. */
static size_t first_after(const struct business_days_holidays *h, int64_t day)
{
        size_t lo = 0, hi = h->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (h->days[mid] <= day)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

int business_days_add(time_t start_utc, unsigned n, const struct business_days_holidays *holidays,
                      time_t *ret_deadline)
{
        struct tm tm;
        int64_t day, tod, end;
        time_t deadline;

        if (!ret_deadline)
                return -EINVAL;
        if (n > BUSINESS_DAYS_MAX_N)
                return -ERANGE;
        if (!gmtime_r(&start_utc, &tm))
                return -EOVERFLOW;
        if (n == 0) {
                *ret_deadline = start_utc;
                return 0;
        }

        tod = (int64_t)tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
        day = floor_div((int64_t)start_utc, SECONDS_PER_DAY);
        end = add_weekdays(day, n);

        if (holidays && holidays->n) {
                size_t i = first_after(holidays, day);

                for (;;) {
                        uint64_t skipped = 0;

                        for (; i < holidays->n && holidays->days[i] <= end; i++)
                                if (is_weekday(holidays->days[i]))
                                        skipped++;
                        if (skipped == 0)
                                break;
                        end = add_weekdays(end, skipped);
                }
        }

        /* start broke down, so its day count is at most about 2^39 and n is
         * bounded: this cannot overflow int64; gmtime_r() checks the year. */
        deadline = (time_t)(end * SECONDS_PER_DAY + tod);
        if (!gmtime_r(&deadline, &tm))
                return -ERANGE;
        *ret_deadline = deadline;
        return 0;
}

int business_days_format_iso8601(time_t t, char *buf, size_t size)
{
        struct tm tm;
        int n;

        if (!buf)
                return -EINVAL;
        if (size < BUSINESS_DAYS_ISO8601_SIZE)
                return -ENOBUFS;
        if (!gmtime_r(&t, &tm))
                return -EOVERFLOW;
        if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
                return -EOVERFLOW;
        n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (n != BUSINESS_DAYS_ISO8601_SIZE - 1)
                return -EOVERFLOW;
        return n;
}
