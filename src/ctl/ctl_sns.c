/*
 * ctl_sns.c — SNS Query-protocol calls.
 */
#include <stdio.h>

#include "aws.h"
#include "aws_xml.h"
#include "common.h"
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_sns.h"
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

static int bad_answer(const char *action, int r)
{
        ctl_errorf("sns %s: unexpected answer (%s)", action, strerror(-r));
        return r;
}

/* One call: action plus n (name, value) pairs; Version is added. On success
 * the answer's XML document is in *ret_doc (xmlFreeDoc()) unless ret_doc is
 * NULL. A failure is reported. */
static int sns_call(struct ctl *ctl, const char *action, const char *const *pairs, size_t n,
                    xmlDocPtr *ret_doc)
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
                     NULL, NULL, &rep);
        if (r >= 0 && ret_doc) {
                r = rep.raw ? aws_xml_read(rep.raw, rep.raw_len, ret_doc) : -ENODATA;
                if (r < 0)
                        bad_answer(action, r);
        }
        ctl_reply_done(&rep);
        return r;
}

/* A call whose answer is <Attributes><entry><key/><value/></entry>...: the
 * same for a topic's and a subscription's. */
static int sns_attributes(struct ctl *ctl, const char *action, const char *const *pairs, size_t n,
                          json_t **ret)
{
        xmlDocPtr doc;
        int r = sns_call(ctl, action, pairs, n, &doc);

        if (r < 0)
                return r;
        r = aws_xml_map(doc, "Attributes", ret);
        xmlFreeDoc(doc);
        return r < 0 ? bad_answer(action, r) : 0;
}

/* A call whose answer is one element's text. */
static int sns_text(struct ctl *ctl, const char *action, const char *const *pairs, size_t n,
                    const char *element, char **ret)
{
        xmlDocPtr doc;
        int r = sns_call(ctl, action, pairs, n, &doc);

        if (r < 0)
                return r;
        r = aws_xml_text(doc, element, ret);
        xmlFreeDoc(doc);
        return r < 0 ? bad_answer(action, r) : 0;
}

int ctl_sns_topic_attributes(struct ctl *ctl, const char *topic_arn, json_t **ret)
{
        const char *pairs[] = {"TopicArn", topic_arn};

        return sns_attributes(ctl, "GetTopicAttributes", pairs, 1, ret);
}

int ctl_sns_set_policy(struct ctl *ctl, const char *topic_arn, const char *policy)
{
        const char *pairs[] = {"TopicArn", topic_arn,        "AttributeName",
                               "Policy",   "AttributeValue", policy};

        return sns_call(ctl, "SetTopicAttributes", pairs, 3, NULL);
}

int ctl_sns_subscription_attributes(struct ctl *ctl, const char *subscription_arn, json_t **ret)
{
        const char *pairs[] = {"SubscriptionArn", subscription_arn};

        return sns_attributes(ctl, "GetSubscriptionAttributes", pairs, 1, ret);
}

int ctl_sns_set_subscription_attribute(struct ctl *ctl, const char *subscription_arn,
                                       const char *name, const char *value)
{
        const char *pairs[] = {"SubscriptionArn", subscription_arn,
                               "AttributeName",   name,
                               "AttributeValue",  value};

        return sns_call(ctl, "SetSubscriptionAttributes", pairs, 3, NULL);
}

/* One page of ListSubscriptionsByTopic: its members, and the next page's
 * token (NULL on the last page). */
static int subscriptions_page(xmlDocPtr doc, json_t **ret, char **ret_token)
{
        static const char *const fields[] = {"SubscriptionArn", "Owner", "Protocol", "Endpoint",
                                             "TopicArn"};
        char *token = NULL;
        int r;

        r = aws_xml_text(doc, "NextToken", &token);
        if (r == -ENOENT || (r >= 0 && !*token)) {
                free(token);
                token = NULL;
                r = 0;
        }
        if (r >= 0)
                r = aws_xml_members(doc, "Subscriptions", fields, ARRAY_SIZE(fields), ret);
        if (r < 0) {
                free(token);
                return r;
        }
        *ret_token = token;
        return 0;
}

/* One page of ListSubscriptionsByTopic (ctl_page_fn; userdata: where the
 * topic's ARN is). */
static int subscriptions_call(struct ctl *ctl, void *userdata, const char *token, json_t **ret_list,
                              char **ret_next)
{
        const char *const *topic_arn = userdata;
        const char *pairs[] = {"TopicArn", *topic_arn, "NextToken", token};
        xmlDocPtr doc;
        int r;

        r = sns_call(ctl, "ListSubscriptionsByTopic", pairs, token ? 2 : 1, &doc);
        if (r < 0)
                return r;
        r = subscriptions_page(doc, ret_list, ret_next);
        xmlFreeDoc(doc);
        return r < 0 ? bad_answer("ListSubscriptionsByTopic", r) : 0;
}

int ctl_sns_subscriptions(struct ctl *ctl, const char *topic_arn, json_t **ret)
{
        return ctl_list_pages(ctl, subscriptions_call, &topic_arn, ret);
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

        return sns_text(ctl, "Subscribe", pairs, 4, "SubscriptionArn", ret_arn);
}

int ctl_sns_publish(struct ctl *ctl, const char *topic_arn, const char *message,
                    char **ret_message_id)
{
        const char *pairs[] = {"TopicArn", topic_arn, "Message", message};

        return sns_text(ctl, "Publish", pairs, 2, "MessageId", ret_message_id);
}

int ctl_sns_subscription_confirmed(const json_t *sub)
{
        const char *arn = json_string_value(json_object_get(sub, "SubscriptionArn"));

        return arn && strncmp(arn, "arn:", 4) == 0;
}
