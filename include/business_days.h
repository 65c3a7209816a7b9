/*
 * business_days.h — business-day deadlines in UTC, and ISO-8601 timestamps.
 *
 * A pure module: no I/O, no clock (times are passed in), no logging, no
 * local time zone (gmtime_r()/timegm() only).
 *
 * THE RULE
 *
 * A business day is a UTC calendar day, Monday to Friday, that is not in the
 * holiday list. business_days_add(start, n) returns the instant on the n-th
 * business day strictly after start's UTC calendar date, at start's UTC time
 * of day. The day of the request itself never counts, whatever it is, so:
 *
 *   Mon 09:00 + 1 -> Tue 09:00          Fri 18:30 + 1 -> Mon 18:30
 *   Sat 10:00 + 1 -> Mon 10:00          Sun 23:59 + 1 -> Mon 23:59
 *   Fri 18:30 + 5 -> next Fri 18:30     Thu + 1 with Fri a holiday -> Mon
 *   n = 0 -> start itself
 *
 * i.e. a request made at a weekend or on a holiday starts counting from the
 * next business day, which is day 1 (a Saturday request + 1 is due Monday,
 * the same as a Friday one). Holidays that fall on a weekend change nothing
 * (no "observed" shifting: list the observed date itself).
 *
 * Holidays are "YYYY-MM-DD" UTC dates, parsed strictly (a real calendar date,
 * years 0001..9999).
 *
 * Ownership: struct business_days_holidays owns its sorted array; release it
 * with business_days_holidays_done(). A zero-initialised value is an empty list.
 */
#ifndef TWOWAYD_BUSINESS_DAYS_H
#define TWOWAYD_BUSINESS_DAYS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* "2026-11-24T13:05:09Z" plus the NUL. */
#define BUSINESS_DAYS_ISO8601_SIZE 21
/* Upper bound on n in business_days_add() (about 3,800 years). */
#define BUSINESS_DAYS_MAX_N 1000000u

struct business_days_holidays {
        int64_t *days; /* days since 1970-01-01, sorted, unique */
        size_t n;
};

/* Parse n dates into *ret (duplicates are merged). -EINVAL names no real
 * calendar date; -ENOMEM. On failure *ret is untouched. */
int business_days_holidays_parse(const char *const *dates, size_t n,
                                 struct business_days_holidays *ret);
void business_days_holidays_done(struct business_days_holidays *h);

/* See THE RULE. holidays may be NULL (none). -ERANGE when n exceeds
 * BUSINESS_DAYS_MAX_N or the result does not fit in time_t; -EOVERFLOW when
 * start cannot be broken down. */
int business_days_add(time_t start_utc, unsigned n, const struct business_days_holidays *holidays,
                      time_t *ret_deadline);

/* "YYYY-MM-DDTHH:MM:SSZ" into buf (size >= BUSINESS_DAYS_ISO8601_SIZE, else
 * -ENOBUFS). Returns the length (20). -EOVERFLOW outside years 0000..9999. */
int business_days_format_iso8601(time_t t, char *buf, size_t size);

#endif
