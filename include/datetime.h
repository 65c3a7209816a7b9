/*
 * datetime.h — the date and time texts twowayd reads, each parsed one way
 * (pure; UTC only, no time zone database).
 *
 *   date       YYYY-MM-DD, a real day of the proleptic Gregorian calendar,
 *              years 0001-9999 ("2026-02-29" is refused)
 *   timestamp  the date-time of AWS's API models (RFC 3339, UTC, "Z"):
 *              DATE "T" HH:MM:SS, an optional fraction of 1-9 digits
 *              (ignored), then "Z"; years from 1970; a leap second :60
 *              counts as the next second. With DATETIME_ZERO_OFFSET, also
 *              "z", "+00:00" and "+0000" for the UTC offset, as credential
 *              providers write Expiration (credential_process output is
 *              often Python's isoformat()).
 *
 * Nothing is allocated; outputs are written only on success.
 */
#ifndef TWOWAYD_DATETIME_H
#define TWOWAYD_DATETIME_H

#include <stdint.h>

#define DATETIME_SECONDS_PER_DAY 86400

/* Days since 1970-01-01 (negative before it) into *ret_day; -EINVAL for
 * anything but a date as above. */
int datetime_parse_date(const char *s, int64_t *ret_day);

enum datetime_flags {
        DATETIME_ZERO_OFFSET = 1 << 0,
};

/* Seconds since the epoch into *ret; -EINVAL for anything but a timestamp as
 * above. flags: DATETIME_ZERO_OFFSET or 0. */
int datetime_parse_timestamp(const char *s, unsigned flags, int64_t *ret);

#endif
