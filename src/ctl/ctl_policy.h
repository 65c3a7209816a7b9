/*
 * ctl_policy.h — the SNS topic policy statement that lets End User Messaging
 * publish inbound SMS to the topic (pure, jansson).
 *
 * The statement twowayctl adds has a fixed Sid (CTL_POLICY_SID):
 *   {"Sid":"TwowaydSmsVoicePublish","Effect":"Allow",
 *    "Principal":{"Service":"sms-voice.amazonaws.com"},"Action":"sns:Publish",
 *    "Resource":TOPIC,"Condition":{"StringEquals":{"aws:SourceAccount":ACCOUNT}}}
 * ACCOUNT is the topic's own account (from its ARN): the confused-deputy guard
 * AWS recommends for service principals.
 *
 * Merging never touches other statements. A policy that already lets
 * sms-voice.amazonaws.com publish to the topic through some other Allow
 * statement (one naming that service principal, or an unconditional grant to
 * "*") is left alone; a Deny of that is reported, since no Allow can override
 * it. Action and Resource wildcards are honoured; conditions are not
 * evaluated.
 */
#ifndef TWOWAYD_CTL_POLICY_H
#define TWOWAYD_CTL_POLICY_H

#include <jansson.h>

#define CTL_POLICY_SID       "TwowaydSmsVoicePublish"
#define CTL_POLICY_PRINCIPAL "sms-voice.amazonaws.com"
#define CTL_POLICY_SID_MAX   128

enum ctl_policy_outcome {
        CTL_POLICY_ALREADY, /* allowed already (sid says by which statement) */
        CTL_POLICY_ADDED,   /* our statement appended */
        CTL_POLICY_UPDATED, /* our Sid was there with other content: replaced */
};

/* The statement for topic_arn; new reference, NULL for a bad ARN or OOM. */
json_t *ctl_policy_statement(const char *topic_arn);

/* Whether policy lets sms-voice.amazonaws.com sns:Publish to topic_arn: 1 yes
 * (sid, when not NULL, gets the allowing statement's Sid, "" if it has none),
 * 0 no, -EPERM denied by a Deny statement (sid names it), -EINVAL for a policy
 * that is not a JSON object. */
int ctl_policy_allows(const json_t *policy, const char *topic_arn, char sid[CTL_POLICY_SID_MAX]);

/* Merge our statement into policy_text (NULL or "": no policy yet). On
 * success *ret_outcome says what happened and *ret_policy is the compact
 * policy to set (malloc'd; NULL for CTL_POLICY_ALREADY). sid as above.
 * -EBADMSG when policy_text is not a JSON object with a usable Statement,
 * -EPERM when a Deny statement blocks it, -EINVAL, -ENOMEM. */
int ctl_policy_merge(const char *policy_text, const char *topic_arn,
                     enum ctl_policy_outcome *ret_outcome, char **ret_policy,
                     char sid[CTL_POLICY_SID_MAX]);

#endif
