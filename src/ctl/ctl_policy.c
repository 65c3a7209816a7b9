/*
 * ctl_policy.c — does a topic policy let sms-voice publish, and adding the
 * statement that does.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <strings.h>

#include "aws_names.h"
#include "common.h"
#include "ctl_policy.h"

json_t *ctl_policy_statement(const char *topic_arn)
{
        struct aws_topic_arn arn;

        if (!topic_arn || aws_topic_arn_parse(topic_arn, &arn) < 0)
                return NULL;
        return json_pack("{s:s,s:s,s:{s:s},s:s,s:s,s:{s:{s:s}}}", "Sid", CTL_POLICY_SID, "Effect",
                         "Allow", "Principal", "Service", CTL_POLICY_PRINCIPAL, "Action",
                         "sns:Publish", "Resource", topic_arn, "Condition", "StringEquals",
                         "aws:SourceAccount", arn.account);
}

typedef bool (*item_pred)(const char *item, const char *arg);

/* A policy element is one string or an array of strings. */
static bool any_item(const json_t *v, item_pred pred, const char *arg)
{
        size_t i;
        json_t *e;

        if (json_is_string(v))
                return pred(json_string_value(v), arg);
        json_array_foreach(v, i, e)
                if (json_is_string(e) && pred(json_string_value(e), arg))
                        return true;
        return false;
}

static bool is_star(const char *item, const char *arg)
{
        return streq(item, "*");
}

static bool is_service(const char *item, const char *arg)
{
        return strcasecmp(item, arg) == 0;
}

static bool action_matches(const char *item, const char *arg)
{
        return fnmatch(item, arg, FNM_CASEFOLD) == 0;
}

static bool resource_matches(const char *item, const char *arg)
{
        return fnmatch(item, arg, 0) == 0;
}

enum principal_match {
        PRINCIPAL_NO,
        PRINCIPAL_STAR,    /* "*" or {"AWS":"*"}: everyone */
        PRINCIPAL_SERVICE, /* {"Service":"sms-voice.amazonaws.com"} */
};

static enum principal_match principal_matches(const json_t *p)
{
        if (json_is_string(p))
                return is_star(json_string_value(p), NULL) ? PRINCIPAL_STAR : PRINCIPAL_NO;
        if (!json_is_object(p))
                return PRINCIPAL_NO;
        if (any_item(json_object_get(p, "Service"), is_service, CTL_POLICY_PRINCIPAL))
                return PRINCIPAL_SERVICE;
        return any_item(json_object_get(p, "AWS"), is_star, NULL) ? PRINCIPAL_STAR : PRINCIPAL_NO;
}

/* The statement speaks about sms-voice publishing to the topic. */
static enum principal_match statement_matches(const json_t *st, const char *topic_arn)
{
        if (!any_item(json_object_get(st, "Action"), action_matches, "sns:Publish") ||
            !any_item(json_object_get(st, "Resource"), resource_matches, topic_arn))
                return PRINCIPAL_NO;
        return principal_matches(json_object_get(st, "Principal"));
}

static void copy_sid(const json_t *st, char sid[CTL_POLICY_SID_MAX])
{
        const char *s = json_string_value(json_object_get(st, "Sid"));

        if (sid)
                (void)snprintf(sid, CTL_POLICY_SID_MAX, "%s", s ? s : "");
}

static json_t *statements(const json_t *policy)
{
        return json_object_get(policy, "Statement");
}

int ctl_policy_allows(const json_t *policy, const char *topic_arn, char sid[CTL_POLICY_SID_MAX])
{
        const json_t *sts, *st, *allow = NULL;
        size_t n, i;

        if (!json_is_object(policy) || isempty(topic_arn))
                return -EINVAL;
        sts = statements(policy);
        if (!sts)
                return 0;
        n = json_is_array(sts) ? json_array_size(sts) : 1;
        for (i = 0; i < n; i++) {
                const char *effect;

                enum principal_match m;

                st = json_is_array(sts) ? json_array_get(sts, i) : sts;
                m = json_is_object(st) ? statement_matches(st, topic_arn) : PRINCIPAL_NO;
                if (m == PRINCIPAL_NO)
                        continue;
                effect = json_string_value(json_object_get(st, "Effect"));
                if (effect && streq(effect, "Deny")) {
                        copy_sid(st, sid);
                        return -EPERM;
                }
                /* A grant to everyone counts only without conditions: AWS's default
                 * topic policy grants "*" under AWS:SourceOwner, which does not
                 * cover the sms-voice service principal. */
                if (effect && streq(effect, "Allow") && !allow &&
                    (m == PRINCIPAL_SERVICE || !json_object_get(st, "Condition")))
                        allow = st;
        }
        if (!allow)
                return 0;
        copy_sid(allow, sid);
        return 1;
}

int ctl_policy_merge(const char *policy_text, const char *topic_arn,
                     enum ctl_policy_outcome *ret_outcome, char **ret_policy,
                     char sid[CTL_POLICY_SID_MAX])
{
        json_t *policy = NULL, *ours = NULL, *sts;
        enum ctl_policy_outcome outcome;
        char *text = NULL;
        int r;

        if (!ret_outcome || !ret_policy)
                return -EINVAL;
        ours = ctl_policy_statement(topic_arn);
        if (!ours)
                return -EINVAL;

        if (isempty(policy_text))
                policy = json_pack("{s:s,s:[]}", "Version", "2012-10-17", "Statement");
        else
                policy = json_loads(policy_text, JSON_REJECT_DUPLICATES, NULL);
        if (!policy) {
                r = isempty(policy_text) ? -ENOMEM : -EBADMSG;
                goto out;
        }
        if (!json_is_object(policy)) {
                r = -EBADMSG;
                goto out;
        }
        sts = statements(policy);
        if (sts && !json_is_array(sts) && !json_is_object(sts)) {
                r = -EBADMSG;
                goto out;
        }

        /* Our own Sid first: it may need an update even if another statement allows. */
        {
                size_t n = json_is_array(sts) ? json_array_size(sts) : (sts ? 1 : 0);

                for (size_t i = 0; i < n; i++) {
                        json_t *st = json_is_array(sts) ? json_array_get(sts, i) : sts;
                        const char *s = json_string_value(json_object_get(st, "Sid"));

                        if (!s || !streq(s, CTL_POLICY_SID))
                                continue;
                        if (json_equal(st, ours)) {
                                r = ctl_policy_allows(policy, topic_arn, sid);
                                if (r < 0)
                                        goto out;
                                outcome = CTL_POLICY_ALREADY;
                                copy_sid(st, sid);
                                goto done;
                        }
                        if (json_is_array(sts))
                                r = json_array_set(sts, i, ours);
                        else
                                r = json_object_set(policy, "Statement", ours);
                        if (r < 0) {
                                r = -ENOMEM;
                                goto out;
                        }
                        outcome = CTL_POLICY_UPDATED;
                        goto check;
                }
        }

        r = ctl_policy_allows(policy, topic_arn, sid);
        if (r < 0)
                goto out;
        if (r > 0) {
                outcome = CTL_POLICY_ALREADY;
                goto done;
        }
        if (!sts) {
                sts = json_array();
                if (!sts || json_object_set_new(policy, "Statement", sts) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
        } else if (!json_is_array(sts)) {
                json_t *arr = json_pack("[O]", sts);

                if (!arr || json_object_set_new(policy, "Statement", arr) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                sts = arr;
        }
        if (json_array_append(sts, ours) < 0) {
                r = -ENOMEM;
                goto out;
        }
        outcome = CTL_POLICY_ADDED;
check:
        /* A Deny elsewhere still wins over what we wrote. */
        r = ctl_policy_allows(policy, topic_arn, sid);
        if (r < 0)
                goto out;
        copy_sid(ours, sid);
        text = json_dumps(policy, JSON_COMPACT);
        if (!text) {
                r = -ENOMEM;
                goto out;
        }
done:
        *ret_outcome = outcome;
        *ret_policy = text;
        r = 0;
out:
        json_decref(policy);
        json_decref(ours);
        return r;
}
