/*
 * ctl_cmd_doctor.c — twowayctl doctor: every condition twowayd depends on,
 * each reported ok / warn / FAIL with the fix. Exit 0 only when none fails.
 */
#include <stdarg.h>
#include <stdio.h>

#include "common.h"
#include "config.h"
#include "consent.h"
#include "ctl.h"
#include "ctl_cluster.h"
#include "ctl_cmd.h"
#include "ctl_delivery.h"
#include "ctl_phone.h"
#include "ctl_policy.h"
#include "ctl_sns.h"
#include "ctl_sqs.h"
#include "sms_rate.h"

static const char usage[] =
        "usage: twowayctl doctor [--phone-number ID|+E164] [--endpoint URL]\n"
        "                        [--healthz-url URL] [--cluster-table NAME] [--json]\n"
        "                        [-c FILE]\n"
        "\n"
        "Checks, each printed ok, warn or FAIL with the fix:\n"
        "  credentials    AWS credentials resolve (and from which source)\n"
        "  phone-number   the number is ACTIVE\n"
        "  message-type   the number's message type matches [sms] message_type\n"
        "                 (TRANSACTIONAL expected)\n"
        "  rate           the number's message parts per second, which twowayd learns\n"
        "                 (its documented MPS: US toll-free 3, US 10DLC 1, US and CA\n"
        "                 short codes 100, CA long codes 1, other long codes 10, else 1);\n"
        "                 a warning when [sms] max_per_second overrides it with more\n"
        "  two-way        two-way messaging is on and points at a topic in [sns] topic_arns\n"
        "  opt-outs       self-managed opt-outs are on\n"
        "  topic-policy   the topic policy lets sms-voice.amazonaws.com publish\n"
        "  subscription   a confirmed subscription for --endpoint (default: any http(s)\n"
        "                 subscription whose path is [http] path)\n"
        "  sns-retries    that subscription retries with twowayctl setup's DeliveryPolicy\n"
        "                 (backoff for up to ~54 minutes), not SNS's default (~1 minute)\n"
        "  dead-letter    its RedrivePolicy names an SQS queue that exists and whose\n"
        "                 policy lets the topic send to it\n"
        "  healthz        the daemon's /healthz answers 200 (default URL from [http] listen)\n"
        "  consent-table  the consent table exists with phone_number (S) as its hash key\n"
        "With a cluster table (--cluster-table NAME, else [cluster] table):\n"
        "  cluster-table  it exists, is ACTIVE, with key pk (S, hash) + sk (S, range) and\n"
        "                 the index " CTL_CLUSTER_INDEX " (open_by, sk; all attributes)\n"
        "  cluster-ttl    Time to Live is enabled on " CTL_CLUSTER_TTL_ATTRIBUTE "\n"
        "  cluster-access these credentials may GetItem, PutItem, UpdateItem and Query\n"
        "                 it and its index, as the daemon does (conditional writes that\n"
        "                 cannot succeed: nothing is written)\n"
        "  instances      the instances' heartbeats: live, or dead (older than [cluster]\n"
        "                 lease_seconds; a live instance takes over their messages)\n"
        "The numbers checked are --phone-number, or those whose two-way channel is in\n"
        "[sns] topic_arns. Exit: 0 when nothing fails, 1 otherwise.\n";

static const struct ctl_opt opts[] = {
        {"phone-number", 0, true},
        {"endpoint", 0, true},
        {"healthz-url", 0, true},
        {"cluster-table", 0, true},
};

enum check_status {
        CHECK_OK,
        CHECK_WARN,
        CHECK_FAIL,
};

struct doctor {
        struct ctl *ctl;
        json_t *checks;
        unsigned fails, warns;
        bool have_creds;
};

_printf_(5, 6) static void check(struct doctor *d, enum check_status st, const char *name,
                                 const char *fix, const char *fmt, ...)
{
        static const char *const labels[] = {"ok", "warn", "FAIL"};
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                msg = NULL;
        if (st == CHECK_FAIL)
                d->fails++;
        else if (st == CHECK_WARN)
                d->warns++;
        if (d->ctl->json) {
                json_array_append_new(d->checks,
                                      json_pack("{s:s,s:s,s:s,s:s?}", "check", name, "status",
                                                st == CHECK_OK     ? "ok"
                                                : st == CHECK_WARN ? "warn"
                                                                   : "fail",
                                                "message", msg ? msg : "", "fix",
                                                st == CHECK_OK ? NULL : fix));
                return;
        }
        printf("%-4s  %-13s  %s\n", labels[st], name, msg ? msg : "");
        if (st != CHECK_OK && fix)
                printf("%-4s  %-13s  fix: %s\n", "", "", fix);
        fflush(stdout);
}

static void check_credentials(struct doctor *d)
{
        enum aws_creds_source source = AWS_CREDS_SOURCE_NONE;
        int r = ctl_credentials(d->ctl, &source);

        d->have_creds = r >= 0;
        if (r >= 0)
                check(d, CHECK_OK, "credentials", NULL, "resolved from %s (region %s, from %s)",
                      aws_creds_source_to_string(source), d->ctl->region,
                      d->ctl->region_source ? d->ctl->region_source : "?");
        else
                check(d, CHECK_FAIL, "credentials",
                      "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or attach an "
                      "instance role (IMDSv2)",
                      "no AWS credentials: %s", strerror(-r));
}

/* DescribePhoneNumbers failed: the daemon cannot learn its rates either. */
static void rate_unknown(struct doctor *d)
{
        if (d->ctl->config->sms_max_per_second > 0)
                check(d, CHECK_WARN, "rate", "allow sms-voice:DescribePhoneNumbers",
                      "twowayd cannot read the numbers' types; [sms] max_per_second = %u "
                      "sets the rate",
                      d->ctl->config->sms_max_per_second);
        else
                check(d, CHECK_WARN, "rate", "allow sms-voice:DescribePhoneNumbers",
                      "twowayd cannot learn the numbers' message parts per second without "
                      "sms-voice:DescribePhoneNumbers and sends at 1 a second");
}

/* The numbers to look at: --phone-number, or those whose channel is one of ours. */
static json_t *numbers_to_check(struct doctor *d, const char *which)
{
        json_t *all = NULL, *out, *pn;
        size_t i;

        if (which) {
                int r = ctl_phone_find(d->ctl, which, &pn);

                if (r < 0) {
                        check(d, CHECK_FAIL, "phone-number", "see 'twowayctl status'",
                              "cannot find %s", which);
                        if (r != -ENOENT)
                                rate_unknown(d);
                        return NULL;
                }
                out = json_pack("[o]", pn);
                return out;
        }
        if (ctl_phone_list(d->ctl, &all) < 0) {
                check(d, CHECK_FAIL, "phone-number", "see the error above",
                      "cannot list the phone numbers");
                rate_unknown(d);
                return NULL;
        }
        out = json_array();
        json_array_foreach(all, i, pn)
                if (ctl_topic_configured(d->ctl->config, ctl_phone_str(pn, "TwoWayChannelArn")))
                        json_array_append(out, pn);
        if (json_array_size(out) == 0)
                check(d, CHECK_FAIL, "two-way",
                      "twowayctl setup --phone-number +E164 --topic-arn ARN --endpoint URL",
                      "no phone number (of %zu) sends its inbound SMS to a topic in [sns] "
                      "topic_arns",
                      json_array_size(all));
        json_decref(all);
        return out;
}

/* twowayd sends at most the number's documented message parts per second,
 * learned from DescribePhoneNumbers, unless [sms] max_per_second overrides it. */
static void check_rate(struct doctor *d, const json_t *pn)
{
        const struct config *c = d->ctl->config;
        const char *num = ctl_phone_str(pn, "PhoneNumber"), *type = ctl_phone_str(pn, "NumberType");
        const char *country = ctl_phone_str(pn, "IsoCountryCode");
        double mps = sms_rate_documented(type, country);
        _cleanup_free_ char *fix = NULL;

        if (c->sms_max_per_second == 0) {
                check(d, CHECK_OK, "rate", NULL,
                      "%s (%s %s) may send %g message parts a second: twowayd learns that and "
                      "paces its replies at it",
                      num, *type ? type : "type unknown", country, mps);
                return;
        }
        if (c->sms_max_per_second <= mps) {
                check(d, CHECK_OK, "rate", NULL,
                      "%s (%s %s) may send %g message parts a second; [sms] max_per_second = %u "
                      "overrides that",
                      num, *type ? type : "type unknown", country, mps, c->sms_max_per_second);
                return;
        }
        if (asprintf(&fix,
                     "remove [sms] max_per_second (the rate is then learned), or set it to %g",
                     mps) < 0)
                fix = NULL;
        check(d, CHECK_WARN, "rate", fix,
              "%s (%s %s) may send %g message parts a second, but [sms] max_per_second = %u: the "
              "excess is refused with ThrottlingException, slowing the replies down",
              num, *type ? type : "type unknown", country, mps, c->sms_max_per_second);
}

static void check_number(struct doctor *d, const json_t *pn)
{
        const struct config *c = d->ctl->config;
        const char *num = ctl_phone_str(pn, "PhoneNumber"), *status = ctl_phone_str(pn, "Status");
        const char *mt = ctl_phone_str(pn, "MessageType"), *channel;
        _cleanup_free_ char *fix = NULL;

        if (streq(status, "ACTIVE"))
                check(d, CHECK_OK, "phone-number", NULL, "%s (%s) is ACTIVE", num,
                      ctl_phone_str(pn, "PhoneNumberId"));
        else
                check(d, CHECK_FAIL, "phone-number",
                      ctl_phone_provisioning_hint(ctl_phone_str(pn, "NumberType")),
                      "%s is %s, not ACTIVE", num, *status ? status : "in an unknown state");

        if (!streq(mt, c->sms_message_type)) {
                if (asprintf(&fix, "set [sms] message_type = %s, or use a %s number", mt,
                             c->sms_message_type) < 0)
                        fix = NULL;
                check(d, CHECK_FAIL, "message-type", fix,
                      "%s is %s but replies are sent as %s ([sms] message_type): sends would "
                      "fail",
                      num, *mt ? mt : "of no message type", c->sms_message_type);
        } else if (!streq(mt, "TRANSACTIONAL"))
                check(d, CHECK_WARN, "message-type", "use a TRANSACTIONAL number for replies",
                      "%s is %s; conversational replies are normally TRANSACTIONAL", num, mt);
        else
                check(d, CHECK_OK, "message-type", NULL, "%s is TRANSACTIONAL", num);

        check_rate(d, pn);

        channel = ctl_phone_str(pn, "TwoWayChannelArn");
        free(fix);
        fix = NULL;
        if (asprintf(&fix, "twowayctl setup --phone-number %s --topic-arn %s --endpoint URL", num,
                     c->sns_topic_arns[0]) < 0)
                fix = NULL;
        if (!ctl_phone_bool(pn, "TwoWayEnabled"))
                check(d, CHECK_FAIL, "two-way", fix, "two-way messaging is off on %s", num);
        else if (!ctl_topic_configured(c, channel))
                check(d, CHECK_FAIL, "two-way", fix,
                      "two-way messaging of %s goes to %s, which is not in [sns] topic_arns", num,
                      *channel ? channel : "no channel");
        else
                check(d, CHECK_OK, "two-way", NULL, "%s sends inbound SMS to %s", num, channel);

        if (ctl_phone_bool(pn, "SelfManagedOptOutsEnabled"))
                check(d, CHECK_OK, "opt-outs", NULL, "self-managed opt-outs are on for %s", num);
        else
                check(d, CHECK_FAIL, "opt-outs", fix,
                      "self-managed opt-outs are off for %s: AWS answers STOP/HELP itself and "
                      "twowayd's consent table is bypassed",
                      num);
}

static void check_policy(struct doctor *d, const char *topic, const char *role)
{
        char sid[CTL_POLICY_SID_MAX] = "";
        _cleanup_free_ char *fix = NULL;
        json_t *attrs = NULL, *policy;
        int r;

        if (!isempty(role)) {
                check(d, CHECK_OK, "topic-policy", NULL,
                      "End User Messaging publishes to %s with role %s", topic, role);
                return;
        }
        if (asprintf(&fix,
                     "twowayctl setup --phone-number +E164 --topic-arn %s --endpoint URL "
                     "(adds statement %s)",
                     topic, CTL_POLICY_SID) < 0)
                fix = NULL;
        if (ctl_sns_topic_attributes(d->ctl, topic, &attrs) < 0) {
                check(d, CHECK_FAIL, "topic-policy", "see the error above",
                      "cannot read the attributes of %s", topic);
                return;
        }
        policy = json_loads(json_string_value(json_object_get(attrs, "Policy")) ?: "", 0, NULL);
        json_decref(attrs);
        r = policy ? ctl_policy_allows(policy, topic, sid) : 0;
        json_decref(policy);
        if (r > 0)
                check(d, CHECK_OK, "topic-policy", NULL,
                      "the policy of %s lets sms-voice.amazonaws.com publish (statement %s)", topic,
                      *sid ? sid : "without Sid");
        else if (r == -EPERM)
                check(d, CHECK_FAIL, "topic-policy", "remove that Deny statement",
                      "the policy of %s denies sms-voice.amazonaws.com sns:Publish (statement "
                      "%s)",
                      topic, sid);
        else
                check(d, CHECK_FAIL, "topic-policy", fix,
                      "the policy of %s does not let sms-voice.amazonaws.com publish", topic);
}

static bool path_matches(const char *url, const char *path)
{
        const char *host = strstr(url, "://"), *p;

        if (!host)
                return false;
        p = strchr(host + 3, '/');
        return p && streq(p, path);
}

/* Returns the ARN of the first confirmed subscription found (malloc'd), or NULL. */
static char *check_subscription(struct doctor *d, const char *topic, const char *endpoint)
{
        json_t *subs = NULL, *s;
        unsigned confirmed = 0, pending = 0;
        const char *first = NULL;
        char *first_arn = NULL;
        _cleanup_free_ char *fix = NULL;
        size_t i;

        if (ctl_sns_subscriptions(d->ctl, topic, &subs) < 0) {
                check(d, CHECK_FAIL, "subscription", "see the error above",
                      "cannot list the subscriptions of %s", topic);
                return NULL;
        }
        json_array_foreach(subs, i, s) {
                const char *p = ctl_phone_str(s, "Protocol"), *e = ctl_phone_str(s, "Endpoint");

                if (!streq(p, "http") && !streq(p, "https"))
                        continue;
                if (endpoint ? !streq(e, endpoint) : !path_matches(e, d->ctl->config->http_path))
                        continue;
                if (ctl_sns_subscription_confirmed(s)) {
                        confirmed++;
                        if (!first) {
                                first = e;
                                first_arn = strdup(ctl_phone_str(s, "SubscriptionArn"));
                        }
                } else
                        pending++;
        }
        if (asprintf(&fix, "twowayctl setup --phone-number +E164 --topic-arn %s --endpoint %s%s",
                     topic, endpoint ? endpoint : "https://HOST",
                     endpoint ? "" : d->ctl->config->http_path) < 0)
                fix = NULL;
        if (confirmed)
                check(d, CHECK_OK, "subscription", NULL, "%s is subscribed to %s and confirmed",
                      endpoint ? endpoint : first, topic);
        else if (pending)
                check(d, CHECK_FAIL, "subscription",
                      "make sure twowayd runs, is reachable from SNS at that URL and has [sns] "
                      "auto_confirm = yes; then run setup again",
                      "the subscription of %s to %s is pending confirmation",
                      endpoint ? endpoint : "the endpoint", topic);
        else if (endpoint)
                check(d, CHECK_FAIL, "subscription", fix, "%s is not subscribed to %s", endpoint,
                      topic);
        else
                check(d, CHECK_FAIL, "subscription", fix,
                      "no http(s) subscription of %s ends in %s ([http] path); pass --endpoint "
                      "URL to check a specific one",
                      topic, d->ctl->config->http_path);
        json_decref(subs);
        return first_arn;
}

/* The subscription's DeliveryPolicy and its dead-letter queue. */
static void check_delivery(struct doctor *d, const char *topic, const char *subscription)
{
        _cleanup_free_ char *fix = NULL, *url = NULL, *policy = NULL;
        const char *redrive, *queue_arn, *name;
        enum ctl_policy_outcome outcome;
        json_t *attrs = NULL, *qattrs = NULL, *rp = NULL;

        if (asprintf(&fix, "twowayctl setup --phone-number +E164 --topic-arn %s --endpoint URL",
                     topic) < 0)
                fix = NULL;
        if (ctl_sns_subscription_attributes(d->ctl, subscription, &attrs) < 0) {
                check(d, CHECK_FAIL, "sns-retries", "see the error above",
                      "cannot read the attributes of %s", subscription);
                return;
        }
        if (ctl_delivery_policy_is_ours(
                    json_string_value(json_object_get(attrs, "DeliveryPolicy"))))
                check(d, CHECK_OK, "sns-retries", NULL,
                      "SNS retries with backoff for up to %d minutes", CTL_DELIVERY_WINDOW_S / 60);
        else if (json_object_get(attrs, "DeliveryPolicy"))
                check(d, CHECK_WARN, "sns-retries", fix,
                      "the subscription has a DeliveryPolicy of its own: %s",
                      json_string_value(json_object_get(attrs, "DeliveryPolicy")));
        else
                check(d, CHECK_FAIL, "sns-retries", fix,
                      "no DeliveryPolicy: SNS gives up after 3 retries 20 s apart (about a "
                      "minute), so a restart can lose inbound SMS");

        redrive = json_string_value(json_object_get(attrs, "RedrivePolicy"));
        rp = redrive ? json_loads(redrive, 0, NULL) : NULL;
        queue_arn = json_string_value(json_object_get(rp, "deadLetterTargetArn"));
        name = queue_arn ? strrchr(queue_arn, ':') : NULL;
        if (!name) {
                check(d, CHECK_FAIL, "dead-letter", fix,
                      "no RedrivePolicy: what SNS cannot deliver is discarded");
                goto out;
        }
        if (ctl_sqs_queue_url(d->ctl, name + 1, &url) < 0 || !url) {
                check(d, CHECK_FAIL, "dead-letter", fix, "the dead-letter queue %s %s", queue_arn,
                      url ? "cannot be read" : "does not exist");
                goto out;
        }
        if (ctl_sqs_queue_attributes(d->ctl, url, &qattrs) < 0 ||
            ctl_dlq_policy_merge(json_string_value(json_object_get(qattrs, "Policy")), queue_arn,
                                 topic, &outcome, &policy) < 0 ||
            outcome != CTL_POLICY_ALREADY) {
                check(d, CHECK_FAIL, "dead-letter", fix,
                      "the policy of %s does not let %s send to it (statement " CTL_DLQ_SID
                      "): SNS would drop what it cannot deliver",
                      queue_arn, topic);
                goto out;
        }
        check(d, CHECK_OK, "dead-letter", NULL, "undeliverable messages go to %s (%s waiting)",
              queue_arn,
              json_string_value(json_object_get(qattrs, "ApproximateNumberOfMessages")) ?: "?");
out:
        json_decref(rp);
        json_decref(qattrs);
        json_decref(attrs);
}

static void check_healthz(struct doctor *d, const char *url_arg)
{
        _cleanup_free_ char *url =
                url_arg ? strdup(url_arg) : ctl_daemon_url(d->ctl->config, "/healthz");
        _cleanup_free_ char *body = NULL;
        long status = 0;
        int r;

        if (!url)
                return;
        r = ctl_http_get(d->ctl, url, 3000, &status, &body);
        if (r < 0)
                check(d, CHECK_FAIL, "healthz",
                      "start it (systemctl start twowayd; journalctl -u twowayd), or pass "
                      "--healthz-url",
                      "%s does not answer (%s): is twowayd running?", url, strerror(-r));
        else if (status == 200)
                check(d, CHECK_OK, "healthz", NULL, "%s answers 200", url);
        else
                check(d, CHECK_FAIL, "healthz",
                      "503 means stopping, or the spool cannot be written (disk, permissions): "
                      "see journalctl -u twowayd",
                      "%s answers %ld", url, status);
}

/* DescribeTable for the check called name: the "Table" (the caller's
 * reference), or NULL with the check failed (fix when the table does not
 * exist). */
static json_t *describe_table(struct doctor *d, const char *name, const char *what,
                              const char *table, const char *fix)
{
        json_t *t = NULL;
        int r = ctl_ddb_describe_table(d->ctl, table, &t);

        if (r == -ENOENT)
                check(d, CHECK_FAIL, name, fix, "the %s table %s does not exist (region %s)", what,
                      table, d->ctl->region);
        else if (r < 0)
                check(d, CHECK_FAIL, name, "see the error above", "cannot describe the %s table %s",
                      what, table);
        return r < 0 ? NULL : t;
}

static void check_table(struct doctor *d)
{
        const char *table = d->ctl->config->consent_table;
        _cleanup_free_ char *fix = NULL;
        bool hash_ok = false, range = false, type_ok = false;
        const char *status;
        json_t *t, *e;
        size_t i;

        if (asprintf(&fix,
                     "aws dynamodb create-table --table-name %s --attribute-definitions "
                     "AttributeName=phone_number,AttributeType=S --key-schema "
                     "AttributeName=phone_number,KeyType=HASH --billing-mode PAY_PER_REQUEST",
                     table) < 0)
                fix = NULL;
        t = describe_table(d, "consent-table", "consent", table, fix);
        if (!t)
                return;
        json_array_foreach(json_object_get(t, "KeySchema"), i, e) {
                const char *name = ctl_phone_str(e, "AttributeName"),
                           *kt = ctl_phone_str(e, "KeyType");

                if (streq(kt, "HASH") && streq(name, CONSENT_KEY))
                        hash_ok = true;
                if (streq(kt, "RANGE"))
                        range = true;
        }
        json_array_foreach(json_object_get(t, "AttributeDefinitions"), i, e)
                if (streq(ctl_phone_str(e, "AttributeName"), CONSENT_KEY) &&
                    streq(ctl_phone_str(e, "AttributeType"), "S"))
                        type_ok = true;
        status = ctl_phone_str(t, "TableStatus");
        if (!hash_ok || !type_ok || range)
                check(d, CHECK_FAIL, "consent-table", fix,
                      "the consent table %s must have phone_number (S) as its only key", table);
        else if (!streq(status, "ACTIVE"))
                check(d, CHECK_WARN, "consent-table", "wait until it is ACTIVE",
                      "the consent table %s is %s", table, status);
        else
                check(d, CHECK_OK, "consent-table", NULL,
                      "%s is ACTIVE with hash key phone_number (S)", table);
        json_decref(t);
}

/* The table's layout and status; true when the other cluster checks can run. */
static bool check_cluster_table(struct doctor *d, const char *table, const char *fix)
{
        char why[CTL_CLUSTER_WHY_MAX];
        const char *status, *index_status;
        json_t *t = describe_table(d, "cluster-table", "cluster", table, fix);

        if (!t)
                return false;
        status = ctl_phone_str(t, "TableStatus");
        index_status = ctl_cluster_index_status(t);
        if (!ctl_cluster_layout_matches(t, why)) {
                check(d, CHECK_FAIL, "cluster-table",
                      "name a table that twowayctl setup --cluster-table creates",
                      "%s is not a cluster table: %s", table, why);
                json_decref(t);
                return false;
        }
        if (!streq(status, "ACTIVE") || !streq(index_status, "ACTIVE"))
                check(d, CHECK_WARN, "cluster-table", "wait until it is ACTIVE",
                      "the cluster table %s is %s, its index %s %s", table, status,
                      CTL_CLUSTER_INDEX, index_status);
        else
                check(d, CHECK_OK, "cluster-table", NULL,
                      "%s is ACTIVE with key pk, sk and the index %s", table, CTL_CLUSTER_INDEX);
        json_decref(t);
        return true;
}

static void check_cluster_ttl(struct doctor *d, const char *table, const char *fix)
{
        char status[32], attribute[256];

        if (ctl_cluster_ttl(d->ctl, table, status, attribute) < 0) {
                check(d, CHECK_FAIL, "cluster-ttl", "see the error above",
                      "cannot read the Time to Live of %s", table);
                return;
        }
        if ((streq(status, "ENABLED") || streq(status, "ENABLING")) &&
            !streq(attribute, CTL_CLUSTER_TTL_ATTRIBUTE))
                check(d, CHECK_FAIL, "cluster-ttl",
                      "disable it, then run twowayctl setup --cluster-table (DynamoDB allows one "
                      "change an hour)",
                      "Time to Live of %s is on %s, not %s: finished records never expire", table,
                      attribute, CTL_CLUSTER_TTL_ATTRIBUTE);
        else if (streq(status, "ENABLED"))
                check(d, CHECK_OK, "cluster-ttl", NULL, "Time to Live is enabled on %s", attribute);
        else if (streq(status, "ENABLING"))
                check(d, CHECK_OK, "cluster-ttl", NULL,
                      "Time to Live is being enabled on %s (up to an hour)", attribute);
        else
                check(d, CHECK_FAIL, "cluster-ttl", fix,
                      "Time to Live of %s is %s: finished records never expire", table,
                      *status ? status : "unknown");
}

/* The harmless calls of ctl_cluster_probes: each allowed action answers as
 * expected; the first refused one fails the check. */
static void check_cluster_access(struct doctor *d, const char *table)
{
        for (size_t i = 0; i < ARRAY_SIZE(ctl_cluster_probes); i++) {
                const struct ctl_cluster_probe *p = &ctl_cluster_probes[i];
                struct ctl_reply rep;
                int r = ctl_ddb(d->ctl, p->operation, ctl_cluster_probe_request(table, p),
                                CTL_QUIET_ALL, &rep);
                bool allowed =
                        r >= 0 || (p->expect_condition_failed &&
                                   aws_error_is(&rep.error, "ConditionalCheckFailedException"));

                if (!allowed) {
                        char hint[512];

                        check(d, CHECK_FAIL, "cluster-access",
                              ctl_aws_hint(d->ctl, AWS_SERVICE_DYNAMODB, p->operation, r, &rep,
                                           hint, sizeof(hint)),
                              "dynamodb:%s on %s of %s: %s%s%s", p->operation, p->what, table,
                              rep.error.code[0] ? rep.error.code : strerror(-r),
                              rep.error.message[0] ? ": " : "", rep.error.message);
                        ctl_reply_done(&rep);
                        return;
                }
                ctl_reply_done(&rep);
        }
        check(d, CHECK_OK, "cluster-access", NULL,
              "GetItem, PutItem, UpdateItem and Query on %s and its index are allowed", table);
}

static void check_instances(struct doctor *d, const char *table, unsigned lease_seconds)
{
        _cleanup_free_ char *dead_names = NULL;
        json_t *instances = NULL, *inst;
        size_t i, live = 0, dead = 0;
        int r;

        r = ctl_cluster_instances_read(d->ctl, table, lease_seconds, &instances);
        if (r < 0) {
                check(d, CHECK_FAIL, "instances", "see the error above",
                      "cannot read the instances' heartbeats from %s", table);
                return;
        }
        json_array_foreach(instances, i, inst) {
                if (json_is_true(json_object_get(inst, "live"))) {
                        live++;
                        continue;
                }
                dead++;
                if (dead <= 5) {
                        char *s;

                        if (asprintf(&s, "%s%s%s", dead_names ? dead_names : "",
                                     dead_names ? ", " : "",
                                     json_string_value(json_object_get(inst, "name"))) < 0)
                                continue;
                        free(dead_names);
                        dead_names = s;
                }
        }
        if (live == 0)
                check(d, CHECK_WARN, "instances", "start twowayd with [cluster] table = this table",
                      "no live instance (%zu dead): no twowayd answers from this cluster", dead);
        else if (dead > 0)
                check(d, CHECK_WARN, "instances",
                      "a live instance takes over a dead one's messages; an instance retired "
                      "for good stays listed until its heartbeat item expires",
                      "%zu live, %zu dead (%s%s; no heartbeat for over %us)", live, dead,
                      dead_names ? dead_names : "", dead > 5 ? ", ..." : "", lease_seconds);
        else
                check(d, CHECK_OK, "instances", NULL, "%zu live instance%s", live,
                      live == 1 ? "" : "s");
        json_decref(instances);
}

static void check_cluster(struct doctor *d, const char *table, unsigned lease_seconds)
{
        _cleanup_free_ char *fix = NULL;

        if (asprintf(&fix, "twowayctl setup --cluster-table %s", table) < 0)
                fix = NULL;
        if (!check_cluster_table(d, table, fix))
                return;
        check_cluster_ttl(d, table, fix);
        check_cluster_access(d, table);
        check_instances(d, table, lease_seconds);
}

int ctl_cmd_doctor(struct ctl *ctl, int argc, char **argv)
{
        struct ctl_cmdline cl;
        struct doctor d = {.ctl = ctl};
        const char *endpoint, *cluster;
        json_t *numbers = NULL, *topics, *pn;
        size_t i;
        int code;

        if (!ctl_cmd_begin(ctl, argc, argv, opts, ARRAY_SIZE(opts), 0, usage, CTL_NEEDS_AWS, &cl,
                           &code))
                return code;
        endpoint = ctl_args_get(&cl.args, "endpoint");
        if (endpoint && !ctl_url_scheme(endpoint))
                return ctl_cmd_usage_error(usage, "--endpoint needs an http(s) URL");
        if (ctl_args_has(&cl.args, "cluster-table") &&
            !ctl_cluster_table_name_valid(ctl_args_get(&cl.args, "cluster-table")))
                return ctl_cmd_usage_error(usage, "--cluster-table needs a DynamoDB table name");
        d.checks = json_array();
        topics = json_object(); /* topic -> role ("" for none) */
        if (!d.checks || !topics)
                return CTL_EXIT_FAIL;

        check_credentials(&d);
        if (d.have_creds) {
                numbers = numbers_to_check(&d, ctl_args_get(&cl.args, "phone-number"));
                json_array_foreach(numbers, i, pn) {
                        const char *ch = ctl_phone_str(pn, "TwoWayChannelArn");

                        check_number(&d, pn);
                        if (ctl_topic_configured(ctl->config, ch))
                                json_object_set_new(
                                        topics, ch,
                                        json_string(ctl_phone_str(pn, "TwoWayChannelRole")));
                }
                if (json_object_size(topics) == 0)
                        for (size_t t = 0; t < ctl->config->n_sns_topic_arns; t++)
                                json_object_set_new(topics, ctl->config->sns_topic_arns[t],
                                                    json_string(""));
                {
                        const char *topic;
                        json_t *role;

                        json_object_foreach(topics, topic, role) {
                                _cleanup_free_ char *sub = NULL;

                                check_policy(&d, topic, json_string_value(role));
                                sub = check_subscription(&d, topic, endpoint);
                                if (sub)
                                        check_delivery(&d, topic, sub);
                        }
                }
        } else
                check(&d, CHECK_FAIL, "aws", "fix the credentials first",
                      "phone number, topic and table checks skipped: no credentials");
        check_healthz(&d, ctl_args_get(&cl.args, "healthz-url"));
        if (d.have_creds)
                check_table(&d);
        cluster = ctl_cluster_table(ctl_args_get(&cl.args, "cluster-table"), ctl->config);
        if (d.have_creds && cluster)
                check_cluster(&d, cluster, ctl->config->cluster_lease_seconds);

        if (ctl->json)
                (void)ctl_print_json(json_pack("{s:b,s:i,s:i,s:O}", "ok", d.fails == 0, "failed",
                                               (int)d.fails, "warnings", (int)d.warns, "checks",
                                               d.checks));
        else
                printf("%u failed, %u warning%s\n", d.fails, d.warns, d.warns == 1 ? "" : "s");
        json_decref(numbers);
        json_decref(topics);
        json_decref(d.checks);
        return d.fails ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}
