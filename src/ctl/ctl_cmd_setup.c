/*
 * ctl_cmd_setup.c — twowayctl setup: wire a phone number's two-way messaging
 * to the SNS topic and the topic to the daemon, idempotently.
 *
 * Steps, each skipped with "already ..." when its state is already right:
 *   1. the number must be ACTIVE (else stop, CTL_EXIT_NOT_READY);
 *   2. the topic policy lets sms-voice.amazonaws.com publish (ctl_policy.h);
 *   3. UpdatePhoneNumber TwoWayEnabled + TwoWayChannelArn (+ TwoWayChannelRole);
 *   4. UpdatePhoneNumber SelfManagedOptOutsEnabled;
 *   5. Subscribe the endpoint, then wait until the daemon has confirmed it;
 *   6. the dead-letter queue exists, and its policy lets the topic send to it;
 *   7. the subscription's DeliveryPolicy and RedrivePolicy (ctl_delivery.h);
 *   8. with --cluster-table: the cluster table (ctl_cluster.h) exists with its
 *      layout, is ACTIVE, and has TTL enabled on expires_at. A table of that
 *      name with another layout is reported and left alone.
 * --cluster-table alone runs step 8 only.
 * With --dry-run only the reads run and the plan is printed.
 */
#include <stdarg.h>
#include <stdio.h>

#include <ev.h>

#include "aws_names.h"
#include "common.h"
#include "config.h"
#include "ctl.h"
#include "ctl_cluster.h"
#include "ctl_cmd.h"
#include "ctl_delivery.h"
#include "ctl_phone.h"
#include "ctl_policy.h"
#include "ctl_sns.h"
#include "ctl_sqs.h"

static const char usage[] =
        "usage: twowayctl setup --phone-number ID|+E164 --topic-arn ARN --endpoint URL\n"
        "                       [--role-arn ARN] [--cluster-table NAME] [--timeout SEC]\n"
        "                       [--dry-run] [-c FILE]\n"
        "       twowayctl setup --cluster-table NAME [--timeout SEC] [--dry-run] [-c FILE]\n"
        "\n"
        "Connect a phone number to twowayd, idempotently:\n"
        "  - the topic policy lets sms-voice.amazonaws.com publish (a statement with\n"
        "    Sid " CTL_POLICY_SID " is added; other statements are kept);\n"
        "  - two-way messaging is enabled on the number towards the topic\n"
        "    (--role-arn sets TwoWayChannelRole instead of relying on the policy);\n"
        "  - self-managed opt-outs are turned on (twowayd answers STOP/HELP);\n"
        "  - URL (https://host/sns) is subscribed to the topic, and setup waits up to\n"
        "    --timeout seconds (default 60) until the running daemon has confirmed it;\n"
        "  - delivery is made durable: the subscription's DeliveryPolicy retries for up\n"
        "    to ~54 minutes with backoff (SNS's default gives up after ~1 minute), and\n"
        "    its RedrivePolicy sends what SNS still cannot deliver to the SQS queue\n"
        "    TOPIC-NAME" CTL_DLQ_SUFFIX " (created, kept 14 days; see 'twowayctl doctor').\n"
        "A number that is not ACTIVE yet stops setup (exit 4); running setup again\n"
        "changes nothing. --dry-run prints the plan and changes nothing.\n"
        "Exit: 0 done, 1 failed, 2 usage, 3 config, 4 number not ACTIVE, 5 not confirmed\n"
        "(or the cluster table not ACTIVE) in time.\n";

static const struct ctl_opt opts[] = {
        {"phone-number", 0, true},  {"topic-arn", 0, true}, {"endpoint", 0, true},
        {"role-arn", 0, true},      {"timeout", 0, true},   {"dry-run", 0, false},
        {"cluster-table", 0, true},
};

struct setup {
        struct ctl *ctl;
        const char *topic, *endpoint, *protocol, *role;
        bool dry_run;
        unsigned changes;
        char *subscription; /* the confirmed subscription's ARN; NULL in a dry run before it */
        char *queue_arn;    /* the dead-letter queue's; NULL in a dry run before it exists */
        unsigned timeout_s;
        bool not_active; /* the number is not ACTIVE yet */
};

_printf_(2, 3) static void step(const char *what, const char *fmt, ...)
{
        va_list ap;

        printf("%-22s ", what);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

static int do_policy(struct setup *s)
{
        _cleanup_free_ char *policy = NULL;
        char sid[CTL_POLICY_SID_MAX] = "";
        enum ctl_policy_outcome outcome;
        json_t *attrs = NULL;
        int r;

        r = ctl_sns_topic_attributes(s->ctl, s->topic, &attrs);
        if (r < 0)
                return r;
        r = ctl_policy_merge(json_string_value(json_object_get(attrs, "Policy")), s->topic,
                             &outcome, &policy, sid);
        json_decref(attrs);
        if (r == -EPERM) {
                ctl_errorf("the policy of %s denies sms-voice.amazonaws.com sns:Publish "
                           "(statement '%s'): remove that Deny first",
                           s->topic, sid);
                return r;
        }
        if (r < 0) {
                ctl_errorf("the policy of %s cannot be read as a policy (%s): fix it by hand",
                           s->topic, strerror(-r));
                return r;
        }
        if (outcome == CTL_POLICY_ALREADY) {
                step("topic policy:", "already allows sms-voice.amazonaws.com to publish%s%s%s",
                     *sid ? " (statement " : "", sid, *sid ? ")" : "");
                return 0;
        }
        s->changes++;
        if (s->dry_run) {
                step("topic policy:",
                     "would %s statement %s allowing sms-voice.amazonaws.com to publish",
                     outcome == CTL_POLICY_ADDED ? "add" : "update", CTL_POLICY_SID);
                return 0;
        }
        r = ctl_sns_set_policy(s->ctl, s->topic, policy);
        if (r < 0)
                return r;
        step("topic policy:", "%s statement %s: sms-voice.amazonaws.com may publish",
             outcome == CTL_POLICY_ADDED ? "added" : "updated", CTL_POLICY_SID);
        return 0;
}

static int do_two_way(struct setup *s, const json_t *pn)
{
        const char *id = ctl_phone_str(pn, "PhoneNumberId");
        json_t *fields;
        int r;

        if (ctl_phone_bool(pn, "TwoWayEnabled") &&
            streq(ctl_phone_str(pn, "TwoWayChannelArn"), s->topic) &&
            (!s->role || streq(ctl_phone_str(pn, "TwoWayChannelRole"), s->role))) {
                step("two-way messaging:", "already enabled towards %s", s->topic);
                return 0;
        }
        s->changes++;
        if (s->dry_run) {
                step("two-way messaging:", "would enable it towards %s%s%s", s->topic,
                     s->role ? " with role " : "", s->role ? s->role : "");
                return 0;
        }
        fields = json_pack("{s:b,s:s}", "TwoWayEnabled", true, "TwoWayChannelArn", s->topic);
        if (fields && s->role)
                json_object_set_new(fields, "TwoWayChannelRole", json_string(s->role));
        if (!fields)
                return -ENOMEM;
        r = ctl_phone_update(s->ctl, id, fields);
        json_decref(fields);
        if (r < 0)
                return r;
        step("two-way messaging:", "enabled towards %s", s->topic);
        return 0;
}

static int do_opt_outs(struct setup *s, const json_t *pn)
{
        json_t *fields;
        int r;

        if (ctl_phone_bool(pn, "SelfManagedOptOutsEnabled")) {
                step("self-managed opt-outs:", "already on");
                return 0;
        }
        s->changes++;
        if (s->dry_run) {
                step("self-managed opt-outs:", "would turn them on (twowayd answers STOP/HELP)");
                return 0;
        }
        fields = json_pack("{s:b}", "SelfManagedOptOutsEnabled", true);
        if (!fields)
                return -ENOMEM;
        r = ctl_phone_update(s->ctl, ctl_phone_str(pn, "PhoneNumberId"), fields);
        json_decref(fields);
        if (r < 0)
                return r;
        step("self-managed opt-outs:", "on (twowayd answers STOP/HELP)");
        return 0;
}

/* Poll ListSubscriptionsByTopic until the endpoint's subscription is confirmed. */
static int wait_confirmed(struct setup *s, unsigned timeout_s, char **ret_arn)
{
        ev_tstamp start = ev_time(), last_note = start;
        bool tty = isatty(STDERR_FILENO);

        fprintf(stderr,
                "twowayctl: waiting up to %us for the daemon to confirm the "
                "subscription%s",
                timeout_s, tty ? "" : "\n");
        for (;;) {
                json_t *sub = NULL;
                ev_tstamp elapsed;
                int r;

                r = ctl_sns_find_subscription(s->ctl, s->topic, s->endpoint, &sub);
                if (r < 0)
                        return r;
                if (sub && ctl_sns_subscription_confirmed(sub)) {
                        *ret_arn =
                                strdup(json_string_value(json_object_get(sub, "SubscriptionArn")));
                        json_decref(sub);
                        if (tty)
                                fputc('\n', stderr);
                        return *ret_arn ? 0 : -ENOMEM;
                }
                json_decref(sub);
                elapsed = ev_time() - start;
                if (elapsed >= timeout_s) {
                        if (tty)
                                fputc('\n', stderr);
                        return -ETIMEDOUT;
                }
                if (tty)
                        fprintf(stderr,
                                "\rtwowayctl: waiting up to %us for the daemon to "
                                "confirm the subscription... %.0fs",
                                timeout_s, elapsed);
                else if (ev_time() - last_note >= 10.) {
                        fprintf(stderr, "twowayctl: still pending after %.0fs\n", elapsed);
                        last_note = ev_time();
                }
                fflush(stderr);
                ctl_sleep(s->ctl, MIN(1., timeout_s - elapsed));
        }
}

static int do_subscription(struct setup *s, unsigned timeout_s)
{
        _cleanup_free_ char *arn = NULL;
        json_t *sub = NULL;
        bool pending;
        int r;

        r = ctl_sns_find_subscription(s->ctl, s->topic, s->endpoint, &sub);
        if (r < 0)
                return r;
        if (sub && ctl_sns_subscription_confirmed(sub)) {
                step("subscription:", "already confirmed: %s",
                     json_string_value(json_object_get(sub, "SubscriptionArn")));
                s->subscription =
                        strdup(json_string_value(json_object_get(sub, "SubscriptionArn")));
                json_decref(sub);
                return s->subscription ? 0 : -ENOMEM;
        }
        pending = sub != NULL;
        json_decref(sub);
        s->changes++;
        if (s->dry_run) {
                step("subscription:",
                     "would subscribe %s (protocol %s) and wait for the daemon "
                     "to confirm it",
                     s->endpoint, s->protocol);
                return 0;
        }
        /* Subscribing a pending endpoint again makes SNS send a new confirmation. */
        r = ctl_sns_subscribe(s->ctl, s->topic, s->protocol, s->endpoint, &arn);
        if (r < 0)
                return r;
        step("subscription:", "%s %s, confirmation requested",
             pending ? "re-subscribed" : "subscribed", s->endpoint);
        free(arn);
        arn = NULL;
        r = wait_confirmed(s, timeout_s, &arn);
        if (r == -ETIMEDOUT) {
                ctl_errorf("the subscription of %s is still pending after %us: check that "
                           "twowayd runs and is reachable from SNS at that URL, that %s is in "
                           "[sns] topic_arns and [sns] auto_confirm = yes ('twowayctl doctor "
                           "--endpoint %s' checks these), then run setup again",
                           s->endpoint, timeout_s, s->topic, s->endpoint);
                return r;
        }
        if (r < 0)
                return r;
        step("subscription:", "confirmed: %s", arn);
        s->subscription = TAKE_PTR(arn);
        return 0;
}

/* The queue SNS dead-letters to, with a policy that lets the topic send to it. */
static int do_dead_letter_queue(struct setup *s)
{
        char name[CTL_DLQ_NAME_MAX];
        _cleanup_free_ char *url = NULL, *policy = NULL;
        enum ctl_policy_outcome outcome;
        json_t *attrs = NULL;
        int r;

        r = ctl_dlq_name(s->topic, name);
        if (r < 0)
                return r;
        r = ctl_sqs_queue_url(s->ctl, name, &url);
        if (r < 0)
                return r;
        if (!url) {
                json_t *create;

                s->changes++;
                if (s->dry_run) {
                        step("dead-letter queue:",
                             "would create SQS queue %s (messages kept 14 days) with a policy "
                             "letting %s send to it",
                             name, s->topic);
                        return 0;
                }
                create = ctl_dlq_attributes();
                if (!create)
                        return -ENOMEM;
                r = ctl_sqs_create_queue(s->ctl, name, create, &url);
                json_decref(create);
                if (r < 0)
                        return r;
                step("dead-letter queue:", "created %s (messages kept 14 days)", url);
        } else {
                step("dead-letter queue:", "already exists: %s", url);
        }
        r = ctl_sqs_queue_attributes(s->ctl, url, &attrs);
        if (r < 0)
                return r;
        s->queue_arn = strdup(json_string_value(json_object_get(attrs, "QueueArn")) ?: "");
        r = s->queue_arn ? 0 : -ENOMEM;
        if (r >= 0 && !*s->queue_arn) {
                ctl_errorf("sqs GetQueueAttributes: no QueueArn for %s", url);
                r = -EBADMSG;
        }
        if (r >= 0)
                r = ctl_dlq_policy_merge(json_string_value(json_object_get(attrs, "Policy")),
                                         s->queue_arn, s->topic, &outcome, &policy);
        json_decref(attrs);
        if (r == -EBADMSG && *s->queue_arn) {
                ctl_errorf("the policy of %s cannot be read as a policy: fix it by hand", url);
                return r;
        }
        if (r < 0)
                return r;
        if (outcome == CTL_POLICY_ALREADY) {
                step("queue policy:", "already lets %s send to it (statement " CTL_DLQ_SID ")",
                     s->topic);
                return 0;
        }
        s->changes++;
        if (s->dry_run) {
                step("queue policy:", "would %s statement " CTL_DLQ_SID " letting %s send to it",
                     outcome == CTL_POLICY_ADDED ? "add" : "update", s->topic);
                return 0;
        }
        r = ctl_sqs_set_attribute(s->ctl, url, "Policy", policy);
        if (r < 0)
                return r;
        step("queue policy:", "%s statement " CTL_DLQ_SID ": %s may send to it",
             outcome == CTL_POLICY_ADDED ? "added" : "updated", s->topic);
        return 0;
}

/* The subscription's DeliveryPolicy and RedrivePolicy. */
static int do_delivery_policies(struct setup *s)
{
        _cleanup_free_ char *delivery = ctl_delivery_policy_text();
        _cleanup_free_ char *redrive = NULL;
        json_t *attrs = NULL;
        bool delivery_ok = false, redrive_ok = false;
        int r;

        if (!delivery)
                return -ENOMEM;
        if (!s->subscription || !s->queue_arn) { /* a dry run: neither exists yet */
                s->changes += 2;
                step("delivery policy:",
                     "would retry for up to %d minutes with backoff, at most "
                     "1000 deliveries/s",
                     CTL_DELIVERY_WINDOW_S / 60);
                step("dead letters:", "would send what SNS cannot deliver to the queue above");
                return 0;
        }
        redrive = ctl_redrive_policy_text(s->queue_arn);
        if (!redrive)
                return -ENOMEM;
        r = ctl_sns_subscription_attributes(s->ctl, s->subscription, &attrs);
        if (r < 0)
                return r;
        delivery_ok = ctl_delivery_policy_is_ours(
                json_string_value(json_object_get(attrs, "DeliveryPolicy")));
        redrive_ok = ctl_redrive_policy_is_ours(
                json_string_value(json_object_get(attrs, "RedrivePolicy")), s->queue_arn);
        json_decref(attrs);

        if (delivery_ok)
                step("delivery policy:", "already retries for up to %d minutes with backoff",
                     CTL_DELIVERY_WINDOW_S / 60);
        else {
                s->changes++;
                if (!s->dry_run) {
                        r = ctl_sns_set_subscription_attribute(s->ctl, s->subscription,
                                                               "DeliveryPolicy", delivery);
                        if (r < 0)
                                return r;
                }
                step("delivery policy:", "%s %s", s->dry_run ? "would set" : "set", delivery);
        }
        if (redrive_ok)
                step("dead letters:", "already go to %s", s->queue_arn);
        else {
                s->changes++;
                if (!s->dry_run) {
                        r = ctl_sns_set_subscription_attribute(s->ctl, s->subscription,
                                                               "RedrivePolicy", redrive);
                        if (r < 0)
                                return r;
                }
                step("dead letters:", "%s %s", s->dry_run ? "would send them to" : "go to",
                     s->queue_arn);
        }
        return 0;
}

/* Poll DescribeTable until the table and its index are ACTIVE. */
static int wait_table_active(struct setup *s, const char *table)
{
        ev_tstamp start = ev_time();

        for (;;) {
                json_t *t = NULL;
                bool active;
                int r = ctl_ddb_describe_table(s->ctl, table, &t);

                if (r < 0)
                        return r;
                active = streq(json_string_value(json_object_get(t, "TableStatus")) ?: "",
                               "ACTIVE") &&
                         streq(ctl_cluster_index_status(t), "ACTIVE");
                json_decref(t);
                if (active)
                        return 0;
                if (ev_time() - start >= s->timeout_s) {
                        ctl_errorf("the table %s is not ACTIVE after %us: run setup again to "
                                   "finish it",
                                   table, s->timeout_s);
                        return -ETIMEDOUT;
                }
                ctl_sleep(s->ctl, 1.);
        }
}

/* The table exists with the cluster layout (created if missing). 1 when it
 * does not exist yet in a dry run, 0 when it does, < 0 on failure. */
static int do_cluster_table(struct setup *s, const char *table)
{
        char why[CTL_CLUSTER_WHY_MAX];
        json_t *t = NULL;
        bool matches, active;
        int r;

        r = ctl_ddb_describe_table(s->ctl, table, &t);
        if (r == -ENOENT) {
                s->changes++;
                if (s->dry_run) {
                        step("cluster table:",
                             "would create %s: key pk (S, hash) + sk (S, range), index "
                             "%s (open_by, sk; all attributes), on-demand capacity",
                             table, CTL_CLUSTER_INDEX);
                        return 1;
                }
                r = ctl_cluster_create(s->ctl, table);
                if (r < 0)
                        return r;
                step("cluster table:",
                     "created %s: key pk (S, hash) + sk (S, range), index %s (open_by, sk; all "
                     "attributes), on-demand capacity",
                     table, CTL_CLUSTER_INDEX);
                return wait_table_active(s, table);
        }
        if (r < 0)
                return r;
        matches = ctl_cluster_layout_matches(t, why);
        active = streq(json_string_value(json_object_get(t, "TableStatus")) ?: "", "ACTIVE") &&
                 streq(ctl_cluster_index_status(t), "ACTIVE");
        json_decref(t);
        if (!matches) {
                ctl_errorf("the table %s exists but is not a cluster table: %s. It was left "
                           "alone: name another table with --cluster-table (and in [cluster] "
                           "table)",
                           table, why);
                return -EEXIST;
        }
        step("cluster table:", "already exists with the cluster layout: %s", table);
        if (active || s->dry_run)
                return 0;
        return wait_table_active(s, table);
}

/* Time to Live on expires_at. */
static int do_cluster_ttl(struct setup *s, const char *table, bool table_planned)
{
        char status[32] = "", attribute[256] = "";
        int r;

        if (table_planned) { /* a dry run: the table does not exist yet */
                s->changes++;
                step("cluster TTL:", "would enable Time to Live on %s", CTL_CLUSTER_TTL_ATTRIBUTE);
                return 0;
        }
        r = ctl_cluster_ttl(s->ctl, table, status, attribute);
        if (r < 0)
                return r;
        if (streq(status, "ENABLED") || streq(status, "ENABLING")) {
                if (!streq(attribute, CTL_CLUSTER_TTL_ATTRIBUTE)) {
                        ctl_errorf("Time to Live of %s is on %s, not %s: finished records would "
                                   "never expire. It was left alone: disable it (DynamoDB allows "
                                   "one change an hour) and run setup again",
                                   table, attribute, CTL_CLUSTER_TTL_ATTRIBUTE);
                        return -EEXIST;
                }
                step("cluster TTL:", "already %s on %s",
                     streq(status, "ENABLED") ? "enabled" : "being enabled", attribute);
                return 0;
        }
        if (!streq(status, "DISABLED")) {
                ctl_errorf("Time to Live of %s is %s: run setup again once DynamoDB has "
                           "finished (it can take up to an hour)",
                           table, *status ? status : "in an unknown state");
                return -EBUSY;
        }
        s->changes++;
        if (s->dry_run) {
                step("cluster TTL:", "would enable Time to Live on %s", CTL_CLUSTER_TTL_ATTRIBUTE);
                return 0;
        }
        r = ctl_cluster_enable_ttl(s->ctl, table);
        if (r < 0)
                return r;
        step("cluster TTL:", "enabled on %s (finished records expire)", CTL_CLUSTER_TTL_ATTRIBUTE);
        return 0;
}

static int do_cluster(struct setup *s, const char *table)
{
        int r = do_cluster_table(s, table);

        if (r < 0)
                return r;
        return do_cluster_ttl(s, table, r > 0);
}

/* Steps 1 to 7: 0, or < 0 on failure (printed), with s->not_active set when
 * the number is not ACTIVE yet. */
static int setup_number(struct setup *s, const char *which)
{
        const char *status;
        json_t *pn = NULL;
        int r;

        r = ctl_phone_find(s->ctl, which, &pn);
        if (r < 0)
                return r;
        status = ctl_phone_str(pn, "Status");
        step("phone number:", "%s (%s): %s, %s, %s", ctl_phone_str(pn, "PhoneNumber"),
             ctl_phone_str(pn, "PhoneNumberId"), status, ctl_phone_str(pn, "NumberType"),
             ctl_phone_str(pn, "MessageType"));
        if (!streq(status, "ACTIVE")) {
                ctl_errorf("%s is %s, not ACTIVE: two-way messaging can only be set up on an "
                           "active number. %s Check with 'twowayctl status' and run setup again "
                           "then.",
                           ctl_phone_str(pn, "PhoneNumber"),
                           *status ? status : "in an unknown state",
                           ctl_phone_provisioning_hint(ctl_phone_str(pn, "NumberType")));
                json_decref(pn);
                s->not_active = true;
                return -EBUSY;
        }
        r = do_policy(s);
        if (r >= 0)
                r = do_two_way(s, pn);
        if (r >= 0)
                r = do_opt_outs(s, pn);
        json_decref(pn);
        if (r >= 0)
                r = do_subscription(s, s->timeout_s);
        if (r >= 0)
                r = do_dead_letter_queue(s);
        if (r >= 0)
                r = do_delivery_policies(s);
        return r;
}

int ctl_cmd_setup(struct ctl *ctl, int argc, char **argv)
{
        struct ctl_cmdline cl;
        struct setup s = {.ctl = ctl};
        struct aws_topic_arn parsed;
        const char *which, *timeout_arg, *cluster;
        uint64_t timeout_s = 60;
        bool number;
        int r = 0, code;

        if (!ctl_cmd_begin(ctl, argc, argv, opts, ARRAY_SIZE(opts), 0, usage, CTL_NEEDS_CONFIG, &cl,
                           &code))
                return code;
        which = ctl_args_get(&cl.args, "phone-number");
        s.topic = ctl_args_get(&cl.args, "topic-arn");
        s.endpoint = ctl_args_get(&cl.args, "endpoint");
        s.role = ctl_args_get(&cl.args, "role-arn");
        s.dry_run = ctl_args_has(&cl.args, "dry-run");
        timeout_arg = ctl_args_get(&cl.args, "timeout");
        cluster = ctl_args_get(&cl.args, "cluster-table");
        /* --cluster-table alone sets up the table only. */
        number = !cluster || which || s.topic || s.endpoint || s.role;
        if (cluster && !ctl_cluster_table_name_valid(cluster))
                return ctl_cmd_usage_error(usage, "--cluster-table needs a DynamoDB table name "
                                                  "(3 to 255 of a-z, A-Z, 0-9, _ . -)");
        if (number && isempty(which))
                return ctl_cmd_usage_error(usage, "--phone-number is required (an id, ARN or "
                                                  "+E164 number)");
        if (number && (!s.topic || aws_topic_arn_parse(s.topic, &parsed) < 0))
                return ctl_cmd_usage_error(usage, "--topic-arn needs an SNS topic ARN "
                                                  "(arn:aws:sns:REGION:ACCOUNT:NAME)");
        s.protocol = ctl_url_scheme(s.endpoint);
        if (number && !s.protocol)
                return ctl_cmd_usage_error(usage, "--endpoint needs the daemon's public URL, "
                                                  "e.g. https://sms.example.com/sns");
        if (s.role && strncmp(s.role, "arn:", 4) != 0)
                return ctl_cmd_usage_error(usage, "--role-arn needs an IAM role ARN");
        if (timeout_arg && ctl_parse_uint(timeout_arg, 1, 3600, &timeout_s) < 0)
                return ctl_cmd_usage_error(usage, "--timeout needs 1 to 3600 seconds");
        s.timeout_s = (unsigned)timeout_s;
        if (ctl_aws(ctl) < 0)
                return CTL_EXIT_FAIL;
        if (number && !ctl_topic_configured(ctl->config, s.topic))
                ctl_errorf("warning: %s is not in [sns] topic_arns of %s: the daemon will "
                           "refuse its deliveries until it is added (and reloaded)",
                           s.topic, ctl->config_path);

        if (number)
                r = setup_number(&s, which);
        if (r >= 0 && cluster)
                r = do_cluster(&s, cluster);
        free(s.subscription);
        free(s.queue_arn);
        if (s.not_active)
                return CTL_EXIT_NOT_READY;
        if (r == -ETIMEDOUT)
                return CTL_EXIT_TIMEOUT;
        if (r < 0)
                return CTL_EXIT_FAIL;
        if (s.dry_run)
                printf("Dry run: %u change%s planned, nothing was changed.\n", s.changes,
                       s.changes == 1 ? "" : "s");
        else if (s.changes == 0 && number)
                printf("Nothing to change: %s already answers through twowayd%s.\n", which,
                       cluster ? " and the cluster table is ready" : "");
        else if (s.changes == 0)
                printf("Nothing to change: the cluster table %s is ready.\n", cluster);
        else
                printf("Setup complete.\n");
        return CTL_EXIT_OK;
}
