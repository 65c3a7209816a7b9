/*
 * sms_rates.h — the message parts per second each origination identity is
 * paced at, learned from the account, and what the daemon says about it.
 *
 * THE RULE. [sms] max_per_second, when set, is the rate of every identity,
 * in message parts per second (an explicit override; nothing is learned then).
 * Otherwise the rates are
 * learned at start and on every reload: DescribePhoneNumbers lists the
 * account's numbers (sms_rate_learn.h) and each number — by its E.164 form,
 * its id or its ARN, as [sms] origination_identity names it — gets the
 * documented MPS of its type and country (sms_rate.h). An identity that is
 * not among them (a sender ID, a pool) gets 1 part a second, and so does
 * every identity until the numbers are read, or when they cannot be: then
 * one warning (sms.rate_unknown) names the missing
 * sms-voice:DescribePhoneNumbers permission. A ThrottlingException lowers an
 * identity's rate for a while and the reply goes back into the queue
 * (sms_send_queue.h).
 *
 * VISIBLE. /metrics, per identity: twowayd_sms_queue_depth,
 * twowayd_sms_rate_parts_per_second (now, throttling included),
 * twowayd_sms_slot_wait_seconds (a histogram of how long replies waited for
 * their slot), twowayd_sms_throttles_total, and twowayd_sms_identity_info
 * {identity, type, country, source} = 1 for the identities the queue knows.
 * Logs: sms.rate (info, one per identity learned), sms.rates_learned (info,
 * when learning is over, or at once with the override), sms.rate_unknown
 * (warning), sms.throttled (notice), sms.backlog (warning, at most once a
 * minute per identity, when a new reply would wait more than 60 s).
 *
 * Ownership: struct sms_rates borrows the AWS client and the send queue
 * (both outlive it) and copies what it needs from the config.
 */
#ifndef TWOWAYD_SMS_RATES_H
#define TWOWAYD_SMS_RATES_H

struct aws_client;
struct config;
struct sms_rates;
struct sms_send_queue;

/* Starts learning (unless max_per_second is set). -ENOMEM. */
int sms_rates_new(struct aws_client *aws, struct sms_send_queue *q, const struct config *c,
                  struct sms_rates **ret);
/* A reloaded config: apply the override, or learn again. */
void sms_rates_set_config(struct sms_rates *r, const struct config *c);
struct sms_rates *sms_rates_free(struct sms_rates *r);

#endif
