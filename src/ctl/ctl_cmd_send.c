/*
 * ctl_cmd_send.c — twowayctl send (SendTextMessage) and simulate (an
 * inbound-shaped SNS Publish to the two-way topic).
 */
#include <stdio.h>

#include "aws_names.h"
#include "aws_rules.h"
#include "common.h"
#include "config.h"
#include "consent.h"
#include "ctl.h"
#include "ctl_cmd.h"
#include "ctl_sns.h"
#include "ddb.h"
#include "sms_send_text.h"

static const char send_usage[] =
        "usage: twowayctl send --to +E164 --body TEXT [--from ID] [--force] [--json] [-c FILE]\n"
        "\n"
        "Send one SMS with SendTextMessage, from --from or [sms] origination_identity,\n"
        "with [sms] message_type, configuration_set, max_price and time_to_live.\n"
        "The consent table is read first: a number that opted out is refused unless\n"
        "--force is given (and --force skips that read). The send is tried once.\n";

static const struct ctl_opt send_opts[] = {
        {"to", 0, true},
        {"body", 0, true},
        {"from", 0, true},
        {"force", 0, false},
};

struct read_wait {
        bool done;
        int r;
        struct consent_record rec;
        struct aws_error error;
};

static void read_done(int r, const struct consent_record *rec, const struct aws_error *err,
                      void *userdata)
{
        struct read_wait *w = userdata;

        w->r = r;
        if (rec)
                w->rec = *rec;
        if (err)
                w->error = *err;
        w->done = true;
}

/* 1 opted out, 0 not, < 0 could not tell (printed). The record is read by
 * consent_get(), as the daemon reads it before each send. */
static int opted_out(struct ctl *ctl, const char *phone)
{
        _cleanup_free_ struct read_wait *w = calloc(1, sizeof(*w));
        int r;

        if (!w)
                return -ENOMEM;
        r = consent_get(ctl->aws, ctl->config->consent_table, phone, read_done, w, NULL);
        if (r < 0) {
                ctl_errorf("cannot read the consent record: %s", strerror(-r));
                return r;
        }
        ctl_wait(ctl, &w->done);
        if (w->r == -EBADMSG) {
                ctl_errorf("the consent item of %s cannot be read (%s)", phone, strerror(-w->r));
                return w->r;
        }
        if (w->r < 0) {
                struct ctl_reply rep = {.error = w->error, .http_status = w->error.http_status};

                ctl_report_aws(ctl, AWS_SERVICE_DYNAMODB, "GetItem", w->r, &rep);
                return w->r;
        }
        return w->rec.status == CONSENT_OPTED_OUT;
}

int ctl_cmd_send(struct ctl *ctl, int argc, char **argv)
{
        struct ctl_cmdline cl;
        const char *to, *body, *from;
        const struct config *c;
        char why[256];
        struct ctl_reply rep;
        int r, code;

        if (!ctl_cmd_begin(ctl, argc, argv, send_opts, ARRAY_SIZE(send_opts), 0, send_usage,
                           CTL_NEEDS_AWS, &cl, &code))
                return code;
        c = ctl->config;
        to = ctl_args_get(&cl.args, "to");
        body = ctl_args_get(&cl.args, "body");
        from = ctl_args_get(&cl.args, "from") ?: c->sms_origination_identity;
        if (!aws_e164_is_valid(to))
                return ctl_cmd_usage_error(send_usage, "--to needs a number in E.164 form (+...)");
        if (isempty(body))
                return ctl_cmd_usage_error(send_usage, "--body needs the text to send");
        if (isempty(from))
                return ctl_cmd_usage_error(send_usage,
                                           "no origination: pass --from or set [sms] "
                                           "origination_identity in %s",
                                           ctl->config_path);

        /* The same rules as the daemon's config check: refuse here what AWS would. */
        if (aws_rule_check(AWS_RULE_SMS_DESTINATION, to, why, sizeof(why)) < 0)
                return ctl_cmd_usage_error(send_usage, "--to: %s", why);
        if (aws_rule_check(AWS_RULE_SMS_ORIGINATION_IDENTITY, from, why, sizeof(why)) < 0)
                return ctl_cmd_usage_error(send_usage, "--from: %s", why);
        if (aws_rule_check(AWS_RULE_SMS_MESSAGE_BODY, body, why, sizeof(why)) < 0)
                return ctl_cmd_usage_error(send_usage, "--body: %s", why);

        if (!ctl_args_has(&cl.args, "force")) {
                r = opted_out(ctl, to);
                if (r < 0)
                        return CTL_EXIT_FAIL;
                if (r > 0) {
                        ctl_errorf("%s has opted out: not sent (use --force only with new "
                                   "consent on record; 'twowayctl consent get %s' shows it)",
                                   to, to);
                        return CTL_EXIT_FAIL;
                }
        }

        /* The daemon's request; once, on a fresh connection, as the daemon
         * sends (sms_send_text.h): a send must not be repeated behind our back. */
        r = ctl_call(ctl,
                     &(struct aws_call_params){
                             .service = AWS_SERVICE_SMS_VOICE,
                             .operation = "SendTextMessage",
                             .max_attempts = 1,
                             .fresh_connection = true,
                     },
                     sms_send_text_request_body(&(struct sms_send_text_params){
                             .destination = to,
                             .origination_identity = from,
                             .body = body,
                             .message_type = c->sms_message_type,
                             .configuration_set = c->sms_configuration_set,
                             .max_price = c->sms_max_price,
                             .time_to_live = c->sms_time_to_live,
                     }),
                     NULL, &rep);
        if (r < 0) {
                ctl_reply_done(&rep);
                return CTL_EXIT_FAIL;
        }
        {
                const char *id = json_string_value(json_object_get(rep.json, "MessageId"));

                if (ctl->json)
                        (void)ctl_print_json(json_pack("{s:s,s:s,s:s}", "message_id", id ? id : "",
                                                       "to", to, "from", from));
                else
                        printf("Sent to %s from %s: message id %s\n", to, from, id ? id : "?");
        }
        ctl_reply_done(&rep);
        return CTL_EXIT_OK;
}

static const char simulate_usage[] =
        "usage: twowayctl simulate --from +E164 --body TEXT [--to +E164] [--topic-arn ARN]\n"
        "                          [--json] [-c FILE]\n"
        "\n"
        "Publish to the two-way SNS topic a message shaped like the one End User\n"
        "Messaging publishes for an inbound SMS, as 'aws sns publish' does in the AWS\n"
        "guide: the daemon receives it through its subscription and answers it like a\n"
        "real message (the reply goes to --from). --to defaults to [sms]\n"
        "origination_identity when that is a number; --topic-arn to the first of\n"
        "[sns] topic_arns.\n";

static const struct ctl_opt simulate_opts[] = {
        {"from", 0, true},
        {"body", 0, true},
        {"to", 0, true},
        {"topic-arn", 0, true},
};

int ctl_cmd_simulate(struct ctl *ctl, int argc, char **argv)
{
        struct ctl_cmdline cl;
        const char *from, *body, *to, *topic;
        char inbound_id[37];
        _cleanup_free_ char *message = NULL, *message_id = NULL;
        json_t *m;
        int r, code;

        if (!ctl_cmd_begin(ctl, argc, argv, simulate_opts, ARRAY_SIZE(simulate_opts), 0,
                           simulate_usage, CTL_NEEDS_CONFIG, &cl, &code))
                return code;
        from = ctl_args_get(&cl.args, "from");
        body = ctl_args_get(&cl.args, "body");
        to = ctl_args_get(&cl.args, "to") ?: ctl->config->sms_origination_identity;
        topic = ctl_args_get(&cl.args, "topic-arn") ?: ctl->config->sns_topic_arns[0];
        if (!aws_e164_is_valid(from))
                return ctl_cmd_usage_error(simulate_usage,
                                           "--from needs a number in E.164 form (+...)");
        if (!body)
                return ctl_cmd_usage_error(simulate_usage, "--body needs the message text");
        if (!aws_e164_is_valid(to))
                return ctl_cmd_usage_error(simulate_usage,
                                           "--to needs our number in E.164 form (or set [sms] "
                                           "origination_identity to it)");
        if (ctl_aws(ctl) < 0 || ctl_uuid(inbound_id) < 0)
                return CTL_EXIT_FAIL;

        /* The fields in the order End User Messaging writes them. */
        m = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "originationNumber", from, "destinationNumber",
                      to, "messageKeyword", "", "messageBody", body, "inboundMessageId", inbound_id,
                      "previousPublishedMessageId", "");
        message = m ? json_dumps(m, JSON_COMPACT) : NULL;
        json_decref(m);
        if (!message)
                return CTL_EXIT_FAIL;
        r = ctl_sns_publish(ctl, topic, message, &message_id);
        if (r < 0)
                return CTL_EXIT_FAIL;
        if (ctl->json)
                (void)ctl_print_json(json_pack("{s:s,s:s,s:s}", "message_id", message_id,
                                               "inbound_message_id", inbound_id, "topic_arn",
                                               topic));
        else
                printf("Published to %s: SNS message id %s, inbound message id %s\n", topic,
                       message_id, inbound_id);
        return CTL_EXIT_OK;
}
