/*
 * ctl_sns.h — SNS management calls for twowayctl over the Query protocol
 * (POST form Action=...&Version=2010-03-31, XML answers read with aws_xml.h).
 *
 * Ownership: returned JSON and strings belong to the caller. On an AWS
 * failure the functions print one line (ctl_report_aws()) and return < 0.
 */
#ifndef TWOWAYD_CTL_SNS_H
#define TWOWAYD_CTL_SNS_H

#include <stddef.h>

#include <jansson.h>

struct ctl;

#define CTL_SNS_PENDING "PendingConfirmation"

/* Form-encode n (name, value) pairs: "Action=Publish&TopicArn=arn%3Aaws..."
 * (RFC 3986 unreserved characters kept, everything else %XX). Malloc'd, or
 * NULL on OOM or a NULL name/value. */
char *ctl_form_encode(const char *const *pairs, size_t n);

int ctl_sns_topic_attributes(struct ctl *ctl, const char *topic_arn, json_t **ret);
int ctl_sns_set_policy(struct ctl *ctl, const char *topic_arn, const char *policy);
/* GetSubscriptionAttributes: a JSON object of strings (DeliveryPolicy,
 * RedrivePolicy, ... when set). */
int ctl_sns_subscription_attributes(struct ctl *ctl, const char *subscription_arn, json_t **ret);
int ctl_sns_set_subscription_attribute(struct ctl *ctl, const char *subscription_arn,
                                       const char *name, const char *value);
/* Every subscription of the topic (all pages). */
int ctl_sns_subscriptions(struct ctl *ctl, const char *topic_arn, json_t **ret);
/* The subscription of topic_arn for endpoint (its protocol from the URL), or
 * NULL in *ret when there is none (a borrowed-free new reference otherwise). */
int ctl_sns_find_subscription(struct ctl *ctl, const char *topic_arn, const char *endpoint,
                              json_t **ret);
int ctl_sns_subscribe(struct ctl *ctl, const char *topic_arn, const char *protocol,
                      const char *endpoint, char **ret_arn);
int ctl_sns_publish(struct ctl *ctl, const char *topic_arn, const char *message,
                    char **ret_message_id);

/* A subscription object is confirmed: its SubscriptionArn is a real ARN. */
int ctl_sns_subscription_confirmed(const json_t *sub);

#endif
