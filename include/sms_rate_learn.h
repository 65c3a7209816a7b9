/*
 * sms_rate_learn.h — learn the message parts per second of origination
 * identities from the account.
 *
 * DescribePhoneNumbers (sms-voice, JSON 1.0) is read page by page (100 a
 * page, at most SMS_RATE_LEARN_PAGES pages) until every identity asked
 * about is found; each found identity gets its type, country and documented
 * rate (sms_rate.h). PhoneNumberIds cannot name an E.164 number (its pattern
 * refuses '+'), so the numbers are listed, not looked up.
 *
 * An identity that is not a phone number of the account keeps
 * SMS_RATE_CONSERVATIVE and an empty type: a sender ID's or a pool's rate is
 * not in the documented table (sender IDs vary by country; a pool sends
 * through its members), so DescribeSenderIds and DescribePools would add
 * nothing to the rate.
 *
 * When DescribePhoneNumbers is refused or fails, every identity keeps
 * SMS_RATE_CONSERVATIVE and the result says why (denied: an
 * AccessDeniedException, the missing sms-voice:DescribePhoneNumbers
 * permission), so that the caller can log one warning.
 *
 * Callback contract as in aws.h: an error from sms_rate_learn() means the
 * callback is never called; otherwise it is called exactly once, from the
 * loop. The result and what it points to are valid only during the callback.
 */
#ifndef TWOWAYD_SMS_RATE_LEARN_H
#define TWOWAYD_SMS_RATE_LEARN_H

#include <stdbool.h>
#include <stddef.h>

#include "aws_error.h"
#include "sms_rate.h"

struct aws_client;
struct sms_rate_learn;

#define SMS_RATE_LEARN_PAGES      50
#define SMS_RATE_LEARN_IDENTITIES 64

struct sms_rate_learn_result {
        const struct sms_rate_identity *identities; /* in the order asked */
        size_t n_identities;
        unsigned found;       /* identities found among the account's numbers */
        bool denied;          /* DescribePhoneNumbers: AccessDeniedException */
        int error;            /* 0, or why the numbers could not be read */
        struct aws_error aws; /* the failed call's error (kind NONE otherwise) */
};

/* r: 0 when the numbers were read (some identities may still be unknown);
 * < 0 when they could not be (res->error, res->denied, res->aws), or
 * -ECANCELED. The rates are usable in both cases. */
typedef void (*sms_rate_learn_cb)(int r, const struct sms_rate_learn_result *res, void *userdata);

/* identities: 1..SMS_RATE_LEARN_IDENTITIES E.164 numbers, PhoneNumberIds or
 * ARNs (copied); or NULL and n 0 for every number of the account (each
 * result's identity is the E.164 number, with its id and ARN). -EINVAL,
 * -E2BIG, -ENOMEM, or the AWS core's start error. */
int sms_rate_learn(struct aws_client *aws, const char *const *identities, size_t n,
                   sms_rate_learn_cb cb, void *userdata, struct sms_rate_learn **ret);
/* Complete with -ECANCELED (later, from the loop). Valid until the callback. */
void sms_rate_learn_cancel(struct sms_rate_learn *l);

#endif
