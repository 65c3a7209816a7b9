/*
 * sms_rate.h — how fast an origination identity may send, in message parts
 * per second (MPS): the documented table, reading an identity's type and
 * country from DescribePhoneNumbers, and the adaptive rule that lowers the
 * rate after a ThrottlingException and lets it recover slowly.
 *
 * A pure module: no I/O, no logging; the clock is passed in (seconds, any
 * epoch).
 *
 * THE TABLE (AWS End User Messaging SMS, "Message Parts per Second (MPS)
 * limits"): an identity may send this many message parts per second; a
 * 3-segment message is 3 parts.
 *
 *   type        country   MPS
 *   SHORT_CODE  US, CA    100
 *   TOLL_FREE   US          3
 *   TEN_DLC     US          1  (the default; campaigns can be raised)
 *   LONG_CODE   CA          1
 *   LONG_CODE   elsewhere  10
 *   anything else           1  (not in the table: sender IDs, pools, short
 *                              codes and toll-free numbers outside the US
 *                              and Canada, SIMULATOR; the conservative rate)
 *
 * THE ADAPTIVE RULE (struct sms_rate_adapt). The rate starts at the ceiling
 * (the learned or configured MPS). A ThrottlingException halves it, not below
 * SMS_RATE_ADAPT_FLOOR or the ceiling if that is lower; the throttles of sends
 * that were already under way count once (those within
 * SMS_RATE_ADAPT_SAME_EVENT_S of the last decrease). After
 * SMS_RATE_ADAPT_QUIET_S without a throttle the rate grows back by
 * SMS_RATE_ADAPT_RECOVERY of the ceiling per second, up to the ceiling: from
 * half to full takes 10 + 25 s. This is the multiplicative-decrease,
 * additive-increase rule of TCP congestion control, slowed down for a
 * limit that is fixed per identity.
 *
 * Ownership: every struct here is a plain value.
 */
#ifndef TWOWAYD_SMS_RATE_H
#define TWOWAYD_SMS_RATE_H

#include <stdbool.h>

#include <jansson.h>

#define SMS_RATE_CONSERVATIVE 1.0 /* parts per second when nothing better is known */

#define SMS_RATE_TYPE_MAX     16 /* "SHORT_CODE" ... plus the NUL */
#define SMS_RATE_COUNTRY_MAX  3  /* ISO 3166-1 alpha-2 plus the NUL */
#define SMS_RATE_IDENTITY_MAX 257

/* The documented MPS of a number type ("TOLL_FREE", ...) in a country ("US",
 * ...); SMS_RATE_CONSERVATIVE when the table has no entry. NULL or "" type or
 * country: no entry. */
double sms_rate_documented(const char *number_type, const char *iso_country);

/* What is known of one origination identity. */
struct sms_rate_identity {
        char identity[SMS_RATE_IDENTITY_MAX];        /* as configured or texted */
        char phone_number_id[SMS_RATE_IDENTITY_MAX]; /* "" when unknown */
        char arn[SMS_RATE_IDENTITY_MAX];             /* "" when unknown */
        char number_type[SMS_RATE_TYPE_MAX];         /* NumberType, "" when unknown */
        char iso_country[SMS_RATE_COUNTRY_MAX];
        double parts_per_second;
};

/* Find identity (an E.164 number, a PhoneNumberId or a PhoneNumberArn) among
 * the PhoneNumbers of one DescribePhoneNumbers result (the parsed JSON body)
 * and fill *ret with its type, country, id, ARN and documented rate. -ENOENT when it
 * is not on this page, -EBADMSG when result has no PhoneNumbers list,
 * -EINVAL for bad arguments. */
int sms_rate_from_phone_numbers(const json_t *result, const char *identity,
                                struct sms_rate_identity *ret);

/* --- the adaptive rule -------------------------------------------------------------- */

/* Whether name is this identity: its identity, id or ARN. */
bool sms_rate_identity_is(const struct sms_rate_identity *id, const char *name);

#define SMS_RATE_ADAPT_FLOOR        0.1 /* parts per second */
#define SMS_RATE_ADAPT_SAME_EVENT_S 1.0
#define SMS_RATE_ADAPT_QUIET_S      10.0
#define SMS_RATE_ADAPT_RECOVERY     0.02 /* of the ceiling, per second */

struct sms_rate_adapt {
        double ceiling;       /* parts per second, > 0 */
        double rate;          /* at last_change */
        double last_change;   /* when rate was last lowered (or the start) */
        double last_decrease; /* -inf-ish before the first throttle */
        unsigned throttles;   /* ThrottlingExceptions seen, all counted */
};

void sms_rate_adapt_init(struct sms_rate_adapt *a, double ceiling, double now);
/* A new ceiling (a SIGHUP, a new learned rate): taken at once, unless the
 * rate is lowered after throttling; then the lowered rate is kept (a reload
 * does not undo a decrease) and recovers towards the new ceiling. */
void sms_rate_adapt_set_ceiling(struct sms_rate_adapt *a, double ceiling, double now);
/* A ThrottlingException at now. Returns true when it lowered the rate, false
 * when it was counted as part of the last decrease. */
bool sms_rate_adapt_throttled(struct sms_rate_adapt *a, double now);
/* The rate to pace with at now (recovery included). */
double sms_rate_adapt_current(const struct sms_rate_adapt *a, double now);

#endif
