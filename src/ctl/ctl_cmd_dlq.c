/*
 * ctl_cmd_dlq.c — twowayctl dlq ls|replay: the SNS deliveries that ended in
 * the subscription's dead-letter queue (ctl_delivery.h), one queue per topic
 * of [sns] topic_arns (or --topic-arn).
 *
 * A dead-lettered message is the notification SNS could not deliver, as SNS
 * signed it. ls shows them without consuming them: each batch is received
 * with a short visibility timeout and made visible again at once. replay
 * posts each to the daemon's SNS endpoint exactly as SNS would have (the
 * signed JSON, its x-amz-sns-* headers), so the daemon verifies it like any
 * delivery and stores it once: a message it already has is acknowledged as a
 * duplicate and not stored again. A message is deleted from the queue only
 * once the daemon has answered 200 (stored); anything else stays there, out
 * of sight for a minute, for a later replay.
 */
#include <stdio.h>

#include "common.h"
#include "config.h"
#include "ctl.h"
#include "ctl_cmd.h"
#include "ctl_delivery.h"
#include "ctl_sqs.h"
#include "ctl_table.h"
#include "http_client.h"
#include "log.h"

static const char usage[] =
        "usage: twowayctl dlq ls [--topic-arn ARN] [--limit N] [--json] [-c FILE]\n"
        "       twowayctl dlq replay [--topic-arn ARN] [--endpoint URL] [-c FILE]\n"
        "\n"
        "The SNS deliveries that ended in the dead-letter queue TOPIC-NAME" CTL_DLQ_SUFFIX "\n"
        "(made by 'twowayctl setup'), for each topic of [sns] topic_arns or --topic-arn:\n"
        "  ls      list them (--limit N, default 100), leaving them in the queue\n"
        "  replay  post each to the daemon's SNS endpoint (--endpoint URL, default from\n"
        "          [http] listen and path), which verifies and stores it like any\n"
        "          delivery (once: one it already has is not stored again); each one\n"
        "          stored is deleted from the queue, anything else stays there\n"
        "Exit: 0 done, 1 a call failed or a message could not be replayed.\n";

static const struct ctl_opt opts[] = {
        {"topic-arn", 0, true},
        {"limit", 0, true},
        {"endpoint", 0, true},
};

#define DLQ_BATCH           10 /* SQS's largest ReceiveMessage */
#define DLQ_LS_HIDE_S       30 /* while ls pages through; shown again right after */
#define DLQ_REPLAY_HIDE_S   60 /* a message that could not be replayed waits this long */
#define DLQ_REPLAY_MAX      100000
#define DLQ_POST_TIMEOUT_MS 15000 /* what SNS gives an HTTP endpoint */

/* One dead-lettered SNS message, parsed from the queue message's body. */
struct dead_letter {
        json_t *sns; /* the notification; owned */
        const char *type, *message_id, *topic_arn, *timestamp;
        char from[LOG_PHONE_MAX];
};

static int dead_letter_parse(const json_t *msg, struct dead_letter *ret)
{
        const char *body = json_string_value(json_object_get(msg, "Body"));
        json_t *inner = NULL;

        *ret = (struct dead_letter){0};
        ret->sns = body ? json_loads(body, 0, NULL) : NULL;
        ret->type = json_string_value(json_object_get(ret->sns, "Type"));
        ret->message_id = json_string_value(json_object_get(ret->sns, "MessageId"));
        ret->topic_arn = json_string_value(json_object_get(ret->sns, "TopicArn"));
        ret->timestamp = json_string_value(json_object_get(ret->sns, "Timestamp"));
        if (!ret->type || !ret->message_id || !ret->topic_arn) {
                json_decref(ret->sns);
                ret->sns = NULL;
                return -EBADMSG;
        }
        inner = json_loads(json_string_value(json_object_get(ret->sns, "Message")) ?: "", 0, NULL);
        log_phone(ret->from, sizeof(ret->from),
                  json_string_value(json_object_get(inner, "originationNumber")));
        json_decref(inner);
        return 0;
}

/* The queue of topic: 0 with *ret_url, NULL when there is none (said on stderr). */
static int queue_of(struct ctl *ctl, const char *topic, char **ret_url)
{
        char name[CTL_DLQ_NAME_MAX];
        int r;

        if (ctl_dlq_name(topic, name) < 0) {
                ctl_errorf("%s is not an SNS topic ARN", topic);
                return -EINVAL;
        }
        r = ctl_sqs_queue_url(ctl, name, ret_url);
        if (r >= 0 && !*ret_url)
                ctl_errorf("no dead-letter queue %s for %s ('twowayctl setup' creates it)", name,
                           topic);
        return r;
}

static int do_ls(struct ctl *ctl, const char *topic, const char *url, size_t limit,
                 struct ctl_table *table, json_t *list)
{
        json_t *seen = json_array();
        size_t i;
        json_t *m;
        int r = seen ? 0 : -ENOMEM;

        while (r >= 0 && json_array_size(seen) < limit) {
                json_t *batch = NULL;

                r = ctl_sqs_receive(ctl, url,
                                    (unsigned)MIN(DLQ_BATCH, limit - json_array_size(seen)),
                                    DLQ_LS_HIDE_S, &batch);
                if (r < 0 || json_array_size(batch) == 0) {
                        json_decref(batch);
                        break;
                }
                r = json_array_extend(seen, batch) < 0 ? -ENOMEM : 0;
                json_decref(batch);
        }
        json_array_foreach(seen, i, m) {
                struct dead_letter dl;
                const char *receipt = json_string_value(json_object_get(m, "ReceiptHandle"));

                if (dead_letter_parse(m, &dl) < 0) {
                        const char *id = json_string_value(json_object_get(m, "MessageId"));

                        ctl_errorf("queue message %s is not an SNS message", id ? id : "?");
                } else if (ctl->json)
                        json_array_append_new(
                                list,
                                json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s}", "topic", topic, "type",
                                          dl.type, "sns_message_id", dl.message_id, "from", dl.from,
                                          "timestamp", dl.timestamp, "queue_message_id",
                                          json_string_value(json_object_get(m, "MessageId"))
                                                  ?: ""));
                else
                        (void)ctl_table_add(table, (const char *const[]){dl.message_id,
                                                                         dl.timestamp ?: "-",
                                                                         dl.from, dl.type});
                json_decref(dl.sns);
                /* Visible again at once: ls consumes nothing. */
                if (receipt)
                        (void)ctl_sqs_set_visibility(ctl, url, receipt, 0);
        }
        json_decref(seen);
        return r;
}

struct replay_counts {
        unsigned stored, duplicate, kept;
};

/* Post one dead letter as SNS would; 0 when the daemon answered 200. */
static int replay_one(struct ctl *ctl, const char *endpoint, const json_t *m,
                      struct replay_counts *n)
{
        const char *body = json_string_value(json_object_get(m, "Body"));
        _cleanup_free_ char *h_type = NULL, *h_id = NULL, *h_topic = NULL, *answer = NULL;
        struct dead_letter dl;
        long status = 0;
        int r;

        if (dead_letter_parse(m, &dl) < 0) {
                ctl_errorf("queue message %s is not an SNS message: left in the queue",
                           json_string_value(json_object_get(m, "MessageId")) ?: "?");
                n->kept++;
                return -EBADMSG;
        }
        if (asprintf(&h_type, "x-amz-sns-message-type: %s", dl.type) < 0 ||
            asprintf(&h_id, "x-amz-sns-message-id: %s", dl.message_id) < 0 ||
            asprintf(&h_topic, "x-amz-sns-topic-arn: %s", dl.topic_arn) < 0) {
                json_decref(dl.sns);
                return -ENOMEM;
        }
        r = ctl_http_request(ctl,
                             &(struct http_client_req){
                                     .method = "POST",
                                     .url = endpoint,
                                     .headers =
                                             (const char *const[]){
                                                     "Content-Type: text/plain; charset=UTF-8",
                                                     h_type,
                                                     h_id,
                                                     h_topic,
                                             },
                                     .n_headers = 4,
                                     .body = body,
                                     .body_len = strlen(body),
                                     .timeout_ms = DLQ_POST_TIMEOUT_MS,
                                     .connect_timeout_ms = 3000,
                                     .max_response = 64 * 1024,
                             },
                             &status, &answer);
        if (r < 0 || status != 200) {
                if (r < 0)
                        ctl_errorf("%s: cannot reach %s: %s; left in the queue", dl.message_id,
                                   endpoint, strerror(-r));
                else
                        ctl_errorf("%s: the daemon answered %ld (%s); left in the queue",
                                   dl.message_id, status,
                                   answer ? strndupa(answer, strcspn(answer, "\n")) : "");
                n->kept++;
                json_decref(dl.sns);
                return r < 0 ? r : -EPROTO;
        }
        if (answer && strncmp(answer, "duplicate", 9) == 0) {
                n->duplicate++;
                printf("%s  already stored (from %s)\n", dl.message_id, dl.from);
        } else {
                n->stored++;
                printf("%s  stored (from %s)\n", dl.message_id, dl.from);
        }
        json_decref(dl.sns);
        return 0;
}

static int do_replay(struct ctl *ctl, const char *url, const char *endpoint,
                     struct replay_counts *n)
{
        unsigned seen = 0;
        int r = 0, failed = 0;

        while (seen < DLQ_REPLAY_MAX) {
                json_t *batch = NULL, *m;
                size_t i;

                r = ctl_sqs_receive(ctl, url, DLQ_BATCH, DLQ_REPLAY_HIDE_S, &batch);
                if (r < 0 || json_array_size(batch) == 0) {
                        json_decref(batch);
                        break;
                }
                json_array_foreach(batch, i, m) {
                        const char *receipt =
                                json_string_value(json_object_get(m, "ReceiptHandle"));

                        seen++;
                        if (replay_one(ctl, endpoint, m, n) < 0) {
                                failed = -EPROTO;
                                continue;
                        }
                        /* Stored (or already stored): only now may it leave the queue. */
                        r = receipt ? ctl_sqs_delete(ctl, url, receipt) : -EBADMSG;
                        if (r < 0)
                                break;
                }
                json_decref(batch);
                if (r < 0)
                        break;
        }
        return r < 0 ? r : failed;
}

int ctl_cmd_dlq(struct ctl *ctl, int argc, char **argv)
{
        struct ctl_cmdline cl;
        const char *verb, *topic_arg, *limit_arg, *endpoint_arg;
        _cleanup_free_ char *endpoint = NULL;
        struct ctl_table *table = NULL;
        struct replay_counts n = {0};
        json_t *list = NULL;
        uint64_t limit = 100;
        int r = 0, code;

        if (!ctl_cmd_begin(ctl, argc, argv, opts, ARRAY_SIZE(opts), 1, usage, CTL_NEEDS_CONFIG, &cl,
                           &code))
                return code;
        code = CTL_EXIT_OK;
        if (cl.args.n_pos != 1)
                return ctl_cmd_usage_error(usage, "dlq needs ls or replay");
        verb = cl.args.pos[0];
        topic_arg = ctl_args_get(&cl.args, "topic-arn");
        limit_arg = ctl_args_get(&cl.args, "limit");
        endpoint_arg = ctl_args_get(&cl.args, "endpoint");
        if (!streq(verb, "ls") && !streq(verb, "replay"))
                return ctl_cmd_usage_error(usage, "unknown dlq action '%s'", verb);
        if (limit_arg && (!streq(verb, "ls") || ctl_parse_uint(limit_arg, 1, 100000, &limit) < 0))
                return ctl_cmd_usage_error(usage, "--limit N (1-100000) goes with dlq ls");
        if (endpoint_arg && (!streq(verb, "replay") || !ctl_url_scheme(endpoint_arg)))
                return ctl_cmd_usage_error(usage, "--endpoint URL (http or https) goes with dlq "
                                                  "replay");
        if (topic_arg && !ctl_topic_configured(ctl->config, topic_arg))
                ctl_errorf("warning: %s is not in [sns] topic_arns of %s: the daemon will refuse "
                           "its messages",
                           topic_arg, ctl->config_path);
        if (ctl_aws(ctl) < 0)
                return CTL_EXIT_FAIL;
        endpoint = endpoint_arg ? strdup(endpoint_arg)
                                : ctl_daemon_url(ctl->config, ctl->config->http_path);
        list = json_array();
        table = ctl_table_new((const char *const[]){"SNS MESSAGE ID", "SENT", "FROM", "TYPE"}, 4);
        if (!endpoint || !list || !table) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t t = 0; r >= 0 && t < (topic_arg ? 1 : ctl->config->n_sns_topic_arns); t++) {
                const char *topic = topic_arg ? topic_arg : ctl->config->sns_topic_arns[t];
                _cleanup_free_ char *url = NULL;

                r = queue_of(ctl, topic, &url);
                if (r < 0 || !url)
                        continue;
                if (streq(verb, "ls"))
                        r = do_ls(ctl, topic, url, (size_t)limit, table, list);
                else {
                        r = do_replay(ctl, url, endpoint, &n);
                        /* A message that could not be replayed does not stop the others. */
                        if (r == -EPROTO)
                                r = 0;
                }
        }
        if (r < 0)
                goto out;
        if (streq(verb, "ls")) {
                if (ctl->json)
                        r = ctl_print_json(json_incref(list));
                else {
                        _cleanup_free_ char *text = ctl_table_format(table);

                        if (text)
                                fputs(text, stdout);
                        printf("%zu dead-lettered message%s\n", ctl_table_rows(table),
                               ctl_table_rows(table) == 1 ? "" : "s");
                }
        } else {
                printf("Replayed %u: %u stored, %u already stored; %u left in the queue.\n",
                       n.stored + n.duplicate, n.stored, n.duplicate, n.kept);
                code = n.kept ? CTL_EXIT_FAIL : CTL_EXIT_OK;
        }
out:
        json_decref(list);
        ctl_table_free(table);
        return r < 0 ? CTL_EXIT_FAIL : code;
}
