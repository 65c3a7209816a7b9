/*
 * sms_rate.c — the MPS table, an identity's type and country from
 * DescribePhoneNumbers, and the adaptive rate (pure; the rule is in
 * sms_rate.h).
 */
#include <math.h>
#include <stdio.h>

#include "common.h"
#include "sms_rate.h"

static const struct {
        const char *type;
        const char *country; /* NULL: any country not listed before it */
        double parts_per_second;
} documented[] = {
        {"SHORT_CODE", "US", 100.}, {"SHORT_CODE", "CA", 100.}, {"TOLL_FREE", "US", 3.},
        {"TEN_DLC", "US", 1.},      {"LONG_CODE", "CA", 1.},    {"LONG_CODE", NULL, 10.},
};

double sms_rate_documented(const char *number_type, const char *iso_country)
{
        if (isempty(number_type) || isempty(iso_country))
                return SMS_RATE_CONSERVATIVE;
        for (size_t i = 0; i < ARRAY_SIZE(documented); i++)
                if (streq(documented[i].type, number_type) &&
                    (!documented[i].country || streq(documented[i].country, iso_country)))
                        return documented[i].parts_per_second;
        return SMS_RATE_CONSERVATIVE;
}

static const char *member(const json_t *o, const char *name)
{
        return json_string_value(json_object_get(o, name));
}

static void copy_fitting(char *dst, size_t size, const char *src)
{
        if (src && strlen(src) < size)
                (void)snprintf(dst, size, "%s", src);
}

bool sms_rate_identity_is(const struct sms_rate_identity *id, const char *name)
{
        return !isempty(name) && (streq(id->identity, name) || streq(id->phone_number_id, name) ||
                                  streq(id->arn, name));
}

int sms_rate_from_phone_numbers(const json_t *result, const char *identity,
                                struct sms_rate_identity *ret)
{
        const json_t *list, *pn;
        size_t i;

        if (!result || isempty(identity) || !ret || strlen(identity) >= SMS_RATE_IDENTITY_MAX)
                return -EINVAL;
        list = json_object_get(result, "PhoneNumbers");
        if (!json_is_array(list))
                return -EBADMSG;
        json_array_foreach(list, i, pn) {
                const char *type = member(pn, "NumberType"),
                           *country = member(pn, "IsoCountryCode");
                struct sms_rate_identity id = {0};

                if (!streq_ptr(member(pn, "PhoneNumber"), identity) &&
                    !streq_ptr(member(pn, "PhoneNumberId"), identity) &&
                    !streq_ptr(member(pn, "PhoneNumberArn"), identity))
                        continue;
                (void)snprintf(id.identity, sizeof(id.identity), "%s", identity);
                copy_fitting(id.phone_number_id, sizeof(id.phone_number_id),
                             member(pn, "PhoneNumberId"));
                copy_fitting(id.arn, sizeof(id.arn), member(pn, "PhoneNumberArn"));
                /* Values the table does not know stay out rather than cut short. */
                copy_fitting(id.number_type, sizeof(id.number_type), type);
                copy_fitting(id.iso_country, sizeof(id.iso_country), country);
                id.parts_per_second = sms_rate_documented(id.number_type, id.iso_country);
                *ret = id;
                return 0;
        }
        return -ENOENT;
}

/* --- the adaptive rule -------------------------------------------------------------- */

static double floor_of(const struct sms_rate_adapt *a)
{
        return fmin(a->ceiling, SMS_RATE_ADAPT_FLOOR);
}

void sms_rate_adapt_init(struct sms_rate_adapt *a, double ceiling, double now)
{
        *a = (struct sms_rate_adapt){
                .ceiling = ceiling > 0 ? ceiling : SMS_RATE_CONSERVATIVE,
                .last_change = now,
                .last_decrease = -INFINITY,
        };
        a->rate = a->ceiling;
}

double sms_rate_adapt_current(const struct sms_rate_adapt *a, double now)
{
        double quiet = now - a->last_change - SMS_RATE_ADAPT_QUIET_S;

        if (a->rate >= a->ceiling || quiet <= 0)
                return fmin(a->rate, a->ceiling);
        return fmin(a->ceiling, a->rate + quiet * SMS_RATE_ADAPT_RECOVERY * a->ceiling);
}

void sms_rate_adapt_set_ceiling(struct sms_rate_adapt *a, double ceiling, double now)
{
        double current = sms_rate_adapt_current(a, now);
        bool lowered = current < a->ceiling;

        a->ceiling = ceiling > 0 ? ceiling : SMS_RATE_CONSERVATIVE;
        /* Not lowered: the new ceiling at once. Lowered: recovery goes on from
         * where it is now, towards the new ceiling. */
        a->rate = lowered ? fmin(current, a->ceiling) : a->ceiling;
        if (now - a->last_change > SMS_RATE_ADAPT_QUIET_S)
                a->last_change = now - SMS_RATE_ADAPT_QUIET_S;
}

bool sms_rate_adapt_throttled(struct sms_rate_adapt *a, double now)
{
        a->throttles++;
        /* Sends already under way when the rate was lowered come back
         * throttled too: they are the same event. */
        if (now - a->last_decrease < SMS_RATE_ADAPT_SAME_EVENT_S)
                return false;
        a->rate = fmax(floor_of(a), sms_rate_adapt_current(a, now) / 2);
        a->last_change = now;
        a->last_decrease = now;
        return true;
}
