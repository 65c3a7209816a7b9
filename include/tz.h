/*
 * tz.h — IANA time zones through the C library's tz database reader.
 *
 * glibc reads the zone named by TZ from the system tz database (tzdata,
 * /usr/share/zoneinfo, or $TZDIR). It silently falls back to UTC for a name
 * it cannot find, so tz_check() looks the zone file up first: a name that is
 * not a TZif file of the database is refused, never turned into UTC behind
 * the operator's back.
 *
 * tz_localtime() sets TZ for the conversion and puts the previous value back
 * before it returns (one thread: nothing else runs meanwhile). The daemon's
 * own log timestamps are UTC and never depend on TZ.
 */
#ifndef TWOWAYD_TZ_H
#define TWOWAYD_TZ_H

#include <stddef.h>
#include <time.h>

#define TZ_NAME_MAX 64

/* 0 when name is a zone of the tz database ("UTC" always is); -EINVAL with a
 * reason in why otherwise. */
int tz_check(const char *name, char *why, size_t size);

/* t as local time in the zone name (checked first: -EINVAL when unknown). */
int tz_localtime(const char *name, time_t t, struct tm *ret);

#endif
