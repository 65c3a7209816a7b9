/*
 * ctl_sqs.h — the SQS calls of twowayctl (JSON 1.0 protocol, X-Amz-Target
 * AmazonSQS.<Op>): the dead-letter queue of the SNS subscription.
 *
 * Ownership: returned JSON and strings belong to the caller. On an AWS
 * failure the functions print one line (ctl_report_aws()) and return < 0,
 * except where a "not found" answer is a result (ctl_sqs_queue_url()).
 */
#ifndef TWOWAYD_CTL_SQS_H
#define TWOWAYD_CTL_SQS_H

#include <jansson.h>

struct ctl;

/* The URL of queue name: 0 with *ret_url (malloc'd), or NULL when there is no
 * such queue (QueueDoesNotExist). */
int ctl_sqs_queue_url(struct ctl *ctl, const char *name, char **ret_url);
/* CreateQueue with attributes (a JSON object of strings, may be NULL):
 * idempotent while the attributes match the existing queue's. */
int ctl_sqs_create_queue(struct ctl *ctl, const char *name, const json_t *attributes,
                         char **ret_url);
/* Every attribute of the queue (GetQueueAttributes All): a JSON object of strings. */
int ctl_sqs_queue_attributes(struct ctl *ctl, const char *url, json_t **ret);
/* SetQueueAttributes with one attribute. */
int ctl_sqs_set_attribute(struct ctl *ctl, const char *url, const char *name, const char *value);

/* ReceiveMessage: up to max (1-10) messages, hidden from other receives for
 * visibility_s seconds; *ret is a JSON array (empty when none) of
 * {MessageId, ReceiptHandle, Body, ...}. */
int ctl_sqs_receive(struct ctl *ctl, const char *url, unsigned max, unsigned visibility_s,
                    json_t **ret);
int ctl_sqs_delete(struct ctl *ctl, const char *url, const char *receipt);
/* ChangeMessageVisibility: 0 makes a received message visible again at once. */
int ctl_sqs_set_visibility(struct ctl *ctl, const char *url, const char *receipt,
                           unsigned visibility_s);

#endif
