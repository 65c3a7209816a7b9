/*
 * ctl_sns.c — SNS Query-protocol calls.
 */
#include <stdio.h>

#include "aws.h"
#include "common.h"
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_sns.h"
#include "ctl_xml.h"
#include "sigv4.h"

char *ctl_form_encode(const char *const *pairs, size_t n)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f;
        bool ok = true;

        if (!pairs && n)
                return NULL;
        f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        for (size_t i = 0; ok && i < n; i++) {
                _cleanup_free_ char *k = NULL, *v = NULL;

                if (!pairs[2 * i] || !pairs[2 * i + 1]) {
                        ok = false;
                        break;
                }
                k = sigv4_uri_encode(pairs[2 * i], strlen(pairs[2 * i]), false);
                v = sigv4_uri_encode(pairs[2 * i + 1], strlen(pairs[2 * i + 1]), false);
                if (!k || !v)
                        ok = false;
                else
                        (void)fprintf(f, "%s%s=%s", i ? "&" : "", k, v);
        }
        if (fclose(f) != 0)
                ok = false;
        if (!ok) {
                free(buf);
                return NULL;
        }
        return buf;
}

#define SNS_MAX_PAIRS 16

int ctl_sns_call(struct ctl *ctl, const char *action, const char *const *pairs, size_t n,
                 char **ret_xml, size_t *ret_len)
{
        const char *all[2 * (SNS_MAX_PAIRS + 2)];
        struct ctl_reply rep;
        _cleanup_free_ char *form = NULL;
        int r;

        if (n > SNS_MAX_PAIRS)
                return -E2BIG;
        all[0] = "Action";
        all[1] = action;
        for (size_t i = 0; i < 2 * n; i++)
                all[2 + i] = pairs[i];
        all[2 + 2 * n] = "Version";
        all[3 + 2 * n] = aws_service_get(AWS_SERVICE_SNS)->api_version;
        form = ctl_form_encode(all, n + 2);
        if (!form)
                return -ENOMEM;
        r = ctl_call(ctl,
                     &(struct aws_call_params){
                             .service = AWS_SERVICE_SNS,
                             .operation = action,
                             .raw_body = form,
                             .raw_body_len = strlen(form),
                     },
                     &rep);
        if (r < 0) {
                ctl_report_aws(ctl, AWS_SERVICE_SNS, action, r, &rep);
                ctl_reply_done(&rep);
                return r;
        }
        if (!rep.raw) {
                ctl_errorf("sns %s: empty answer", action);
                ctl_reply_done(&rep);
                return -EBADMSG;
        }
        *ret_xml = TAKE_PTR(rep.raw);
        if (ret_len)
                *ret_len = rep.raw_len;
        ctl_reply_done(&rep);
        return 0;
}

static int bad_answer(const char *action, int r)
{
        ctl_errorf("sns %s: unexpected answer (%s)", action, strerror(-r));
        return r;
}

int ctl_sns_topic_attributes(struct ctl *ctl, const char *topic_arn, json_t **ret)
{
        const char *pairs[] = {"TopicArn", topic_arn};
        _cleanup_free_ char *xml = NULL;
        size_t len;
        int r;

        r = ctl_sns_call(ctl, "GetTopicAttributes", pairs, 1, &xml, &len);
        if (r < 0)
                return r;
        r = ctl_xml_topic_attributes(xml, len, ret);
        return r < 0 ? bad_answer("GetTopicAttributes", r) : 0;
}

int ctl_sns_set_policy(struct ctl *ctl, const char *topic_arn, const char *policy)
{
        const char *pairs[] = {"TopicArn", topic_arn,        "AttributeName",
                               "Policy",   "AttributeValue", policy};
        _cleanup_free_ char *xml = NULL;

        return ctl_sns_call(ctl, "SetTopicAttributes", pairs, 3, &xml, NULL);
}

int ctl_sns_subscription_attributes(struct ctl *ctl, const char *subscription_arn, json_t **ret)
{
        const char *pairs[] = {"SubscriptionArn", subscription_arn};
        _cleanup_free_ char *xml = NULL;
        size_t len;
        int r;

        r = ctl_sns_call(ctl, "GetSubscriptionAttributes", pairs, 1, &xml, &len);
        if (r < 0)
                return r;
        /* The same <Attributes><entry><key/><value/></entry>... as a topic's. */
        r = ctl_xml_topic_attributes(xml, len, ret);
        return r < 0 ? bad_answer("GetSubscriptionAttributes", r) : 0;
}

int ctl_sns_set_subscription_attribute(struct ctl *ctl, const char *subscription_arn,
                                       const char *name, const char *value)
{
        const char *pairs[] = {"SubscriptionArn", subscription_arn,
                               "AttributeName",   name,
                               "AttributeValue",  value};
        _cleanup_free_ char *xml = NULL;

        return ctl_sns_call(ctl, "SetSubscriptionAttributes", pairs, 3, &xml, NULL);
}

int ctl_sns_subscriptions(struct ctl *ctl, const char *topic_arn, json_t **ret)
{
        json_t *all = json_array();
        _cleanup_free_ char *token = NULL;
        int r = 0;

        if (!all)
                return -ENOMEM;
        for (unsigned page = 0; page < 1000; page++) {
                const char *pairs[] = {"TopicArn", topic_arn, "NextToken", token};
                _cleanup_free_ char *xml = NULL;
                json_t *list = NULL;
                size_t len;

                r = ctl_sns_call(ctl, "ListSubscriptionsByTopic", pairs, token ? 2 : 1, &xml, &len);
                if (r < 0)
                        break;
                free(token);
                token = NULL;
                r = ctl_xml_subscriptions(xml, len, &list, &token);
                if (r < 0) {
                        r = bad_answer("ListSubscriptionsByTopic", r);
                        break;
                }
                r = json_array_extend(all, list) < 0 ? -ENOMEM : 0;
                json_decref(list);
                if (r < 0 || !token)
                        break;
        }
        if (r < 0) {
                json_decref(all);
                return r;
        }
        *ret = all;
        return 0;
}

int ctl_sns_find_subscription(struct ctl *ctl, const char *topic_arn, const char *endpoint,
                              json_t **ret)
{
        const char *protocol = ctl_url_scheme(endpoint);
        json_t *subs = NULL, *s, *found = NULL;
        size_t i;
        int r;

        r = ctl_sns_subscriptions(ctl, topic_arn, &subs);
        if (r < 0)
                return r;
        json_array_foreach(subs, i, s) {
                const char *p = json_string_value(json_object_get(s, "Protocol"));
                const char *e = json_string_value(json_object_get(s, "Endpoint"));

                if (p && e && protocol && streq(p, protocol) && streq(e, endpoint)) {
                        found = json_incref(s);
                        break;
                }
        }
        json_decref(subs);
        *ret = found;
        return 0;
}

int ctl_sns_subscribe(struct ctl *ctl, const char *topic_arn, const char *protocol,
                      const char *endpoint, char **ret_arn)
{
        const char *pairs[] = {"TopicArn",
                               topic_arn,
                               "Protocol",
                               protocol,
                               "Endpoint",
                               endpoint,
                               "ReturnSubscriptionArn",
                               "true"};
        _cleanup_free_ char *xml = NULL;
        size_t len;
        int r;

        r = ctl_sns_call(ctl, "Subscribe", pairs, 4, &xml, &len);
        if (r < 0)
                return r;
        r = ctl_xml_text(xml, len, "SubscriptionArn", ret_arn);
        return r < 0 ? bad_answer("Subscribe", r) : 0;
}

int ctl_sns_publish(struct ctl *ctl, const char *topic_arn, const char *message,
                    char **ret_message_id)
{
        const char *pairs[] = {"TopicArn", topic_arn, "Message", message};
        _cleanup_free_ char *xml = NULL;
        size_t len;
        int r;

        r = ctl_sns_call(ctl, "Publish", pairs, 2, &xml, &len);
        if (r < 0)
                return r;
        r = ctl_xml_text(xml, len, "MessageId", ret_message_id);
        return r < 0 ? bad_answer("Publish", r) : 0;
}

int ctl_sns_subscription_confirmed(const json_t *sub)
{
        const char *arn = json_string_value(json_object_get(sub, "SubscriptionArn"));

        return arn && strncmp(arn, "arn:", 4) == 0;
}
