/*
 * ctl_delivery.h — what makes SNS delivery to twowayd durable (pure, jansson):
 * the subscription's DeliveryPolicy and RedrivePolicy, and the dead-letter
 * queue that setup creates with the queue policy SNS needs.
 *
 * DeliveryPolicy (HTTP/S): 32 retries with exponential backoff, 3 at once, 2
 * at 10 s, then growing to 120 s, the last 15 at 120 s: at most about 54
 * minutes (3,260 s counting every backoff retry at 120 s; SNS allows at most
 * 3,600 s for HTTP/S), against SNS's default of 3 retries 20 s apart. A
 * throttlePolicy of 1,000 deliveries/s per subscription, well under the
 * ~7,500 acknowledged deliveries/s of one daemon (docs/BENCHMARKS.md), so
 * that the backlog SNS retries after an outage arrives at a pace a
 * restarting daemon acknowledges at once.
 *
 * Dead letters: what SNS still cannot deliver goes to the SQS queue
 * "<topic name>-twowayd-dlq" (14 days' retention, SQS's longest), whose policy
 * has a statement with Sid CTL_DLQ_SID:
 *   {"Sid":"TwowaydSnsDeadLetter","Effect":"Allow",
 *    "Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage",
 *    "Resource":QUEUE_ARN,"Condition":{"ArnEquals":{"aws:SourceArn":TOPIC_ARN}}}
 * RedrivePolicy: {"deadLetterTargetArn":QUEUE_ARN}.
 */
#ifndef TWOWAYD_CTL_DELIVERY_H
#define TWOWAYD_CTL_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ctl_policy.h"

#define CTL_DLQ_SID           "TwowaydSnsDeadLetter"
#define CTL_DLQ_SUFFIX        "-twowayd-dlq"
#define CTL_DLQ_NAME_MAX      81      /* SQS: 80 characters */
#define CTL_DLQ_RETENTION     1209600 /* seconds: 14 days */
#define CTL_DELIVERY_WINDOW_S 3260    /* the policy's longest retry window */

/* The dead-letter queue's name for topic_arn: its name, cut so that the whole
 * fits in 80 characters, plus CTL_DLQ_SUFFIX. -EINVAL for a bad ARN. */
int ctl_dlq_name(const char *topic_arn, char buf[CTL_DLQ_NAME_MAX]);
/* The attributes setup creates the queue with ({"MessageRetentionPeriod":...}). */
json_t *ctl_dlq_attributes(void);

/* The DeliveryPolicy and RedrivePolicy to set, compact (malloc'd). */
char *ctl_delivery_policy_text(void);
char *ctl_redrive_policy_text(const char *queue_arn);
/* Whether an existing attribute value already says what ours says (SNS may
 * add members of its own; ours must all be there with our values). */
bool ctl_delivery_policy_is_ours(const char *text);
bool ctl_redrive_policy_is_ours(const char *text, const char *queue_arn);

/* Merge our statement into the queue's policy (NULL or "": none yet), like
 * ctl_policy_merge(): other statements are kept; *ret_policy is NULL for
 * CTL_POLICY_ALREADY. -EBADMSG for a policy that is not a JSON object with
 * a usable Statement, -EINVAL, -ENOMEM. */
int ctl_dlq_policy_merge(const char *policy_text, const char *queue_arn, const char *topic_arn,
                         enum ctl_policy_outcome *ret_outcome, char **ret_policy);

#endif
