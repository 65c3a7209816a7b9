/*
 * ctl_delivery.c — the delivery, redrive and dead-letter queue policies.
 */
#include <stdio.h>

#include "aws_names.h"
#include "common.h"
#include "ctl_delivery.h"

int ctl_dlq_name(const char *topic_arn, char buf[CTL_DLQ_NAME_MAX])
{
        struct aws_topic_arn t;
        int keep = (int)(CTL_DLQ_NAME_MAX - 1 - STRLEN(CTL_DLQ_SUFFIX));

        if (!topic_arn || aws_topic_arn_parse(topic_arn, &t) < 0)
                return -EINVAL;
        /* Topic names are [A-Za-z0-9_-] (and ".fifo"), queue names the same. */
        snprintf(buf, CTL_DLQ_NAME_MAX, "%.*s" CTL_DLQ_SUFFIX, keep, t.name);
        for (char *p = buf; *p; p++)
                if (*p == '.')
                        *p = '-';
        return 0;
}

json_t *ctl_dlq_attributes(void)
{
        char retention[16];

        snprintf(retention, sizeof(retention), "%d", CTL_DLQ_RETENTION);
        return json_pack("{s:s}", "MessageRetentionPeriod", retention);
}

static json_t *delivery_policy(void)
{
        return json_pack("{s:{s:i,s:i,s:i,s:i,s:i,s:i,s:s},s:{s:i}}", "healthyRetryPolicy",
                         "minDelayTarget", 10, "maxDelayTarget", 120, "numRetries", 32,
                         "numNoDelayRetries", 3, "numMinDelayRetries", 2, "numMaxDelayRetries", 15,
                         "backoffFunction", "exponential", "throttlePolicy", "maxReceivesPerSecond",
                         1000);
}

static char *dump(json_t *v)
{
        char *s = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

        json_decref(v);
        return s;
}

char *ctl_delivery_policy_text(void)
{
        return dump(delivery_policy());
}

char *ctl_redrive_policy_text(const char *queue_arn)
{
        return dump(json_pack("{s:s}", "deadLetterTargetArn", queue_arn));
}

/* Every member of want is in have with an equal value (objects recursively). */
static bool contains(json_t *have, json_t *want)
{
        const char *key;
        json_t *v;

        if (!json_is_object(want))
                return json_equal(have, want);
        if (!json_is_object(have))
                return false;
        json_object_foreach(want, key, v) {
                if (!contains(json_object_get(have, key), v))
                        return false;
        }
        return true;
}

static bool text_contains(const char *text, json_t *want)
{
        json_t *have = text ? json_loads(text, 0, NULL) : NULL;
        bool ok = have && want && contains(have, want);

        json_decref(have);
        json_decref(want);
        return ok;
}

bool ctl_delivery_policy_is_ours(const char *text)
{
        return text_contains(text, delivery_policy());
}

bool ctl_redrive_policy_is_ours(const char *text, const char *queue_arn)
{
        return text_contains(text, json_pack("{s:s}", "deadLetterTargetArn", queue_arn));
}

static json_t *dlq_statement(const char *queue_arn, const char *topic_arn)
{
        return json_pack("{s:s,s:s,s:{s:s},s:s,s:s,s:{s:{s:s}}}", "Sid", CTL_DLQ_SID, "Effect",
                         "Allow", "Principal", "Service", "sns.amazonaws.com", "Action",
                         "sqs:SendMessage", "Resource", queue_arn, "Condition", "ArnEquals",
                         "aws:SourceArn", topic_arn);
}

int ctl_dlq_policy_merge(const char *policy_text, const char *queue_arn, const char *topic_arn,
                         enum ctl_policy_outcome *ret_outcome, char **ret_policy)
{
        json_t *policy = NULL, *sts, *ours = NULL, *st;
        enum ctl_policy_outcome outcome = CTL_POLICY_ADDED;
        size_t i;
        int r = 0;

        if (!queue_arn || !topic_arn)
                return -EINVAL;
        ours = dlq_statement(queue_arn, topic_arn);
        if (!ours)
                return -ENOMEM;
        if (isempty(policy_text))
                policy = json_pack("{s:s,s:[]}", "Version", "2012-10-17", "Statement");
        else
                policy = json_loads(policy_text, 0, NULL);
        if (!policy) {
                r = isempty(policy_text) ? -ENOMEM : -EBADMSG;
                goto out;
        }
        sts = json_object_get(policy, "Statement");
        if (json_is_object(sts)) { /* a single statement may be written without the array */
                json_t *list = json_pack("[O]", sts);

                if (!list || json_object_set_new(policy, "Statement", list) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                sts = list;
        }
        if (!json_is_array(sts)) {
                r = -EBADMSG;
                goto out;
        }
        json_array_foreach(sts, i, st) {
                if (!streq_ptr(json_string_value(json_object_get(st, "Sid")), CTL_DLQ_SID))
                        continue;
                if (json_equal(st, ours)) {
                        outcome = CTL_POLICY_ALREADY;
                        goto out;
                }
                outcome = CTL_POLICY_UPDATED;
                r = json_array_set(sts, i, ours) < 0 ? -ENOMEM : 0;
                break;
        }
        if (r >= 0 && outcome == CTL_POLICY_ADDED)
                r = json_array_append(sts, ours) < 0 ? -ENOMEM : 0;
        if (r >= 0) {
                *ret_policy = json_dumps(policy, JSON_COMPACT | JSON_PRESERVE_ORDER);
                r = *ret_policy ? 0 : -ENOMEM;
        }
out:
        if (r >= 0) {
                *ret_outcome = outcome;
                if (outcome == CTL_POLICY_ALREADY)
                        *ret_policy = NULL;
        }
        json_decref(ours);
        json_decref(policy);
        return r;
}
