/*
 * ctl_cmd_status.c — twowayctl status: the account's phone numbers, the
 * running daemon's send queues (read from its /metrics, what it exposes), and
 * in cluster mode the instances' heartbeats in the cluster table.
 */
#include <stdio.h>

#include "business_days.h"
#include "common.h"
#include "config.h"
#include "ctl.h"
#include "ctl_cluster.h"
#include "ctl_cmd.h"
#include "ctl_metrics.h"
#include "ctl_phone.h"
#include "ctl_table.h"

static const char usage[] =
        "usage: twowayctl status [--daemon-url URL] [--cluster-table NAME] [--json]\n"
        "                        [-c FILE]\n"
        "\n"
        "The phone numbers of the account in the configured region (DescribePhoneNumbers):\n"
        "number, id, status, type, message type, two-way messaging and its channel,\n"
        "self-managed opt-outs. Then the running daemon's send queues, from its /metrics\n"
        "(--daemon-url, default [http] metrics_listen or listen): each origination\n"
        "identity's type, the message parts per second it is sent at and where that\n"
        "comes from (learned, override, default), the replies waiting and the\n"
        "throttles. With a cluster table (--cluster-table NAME, else [cluster] table),\n"
        "its instances: live or dead (no heartbeat for over [cluster] lease_seconds),\n"
        "last heartbeat, start, version. --json prints {\"numbers\": [...], \"send_queues\":\n"
        "[...] or null when the daemon does not answer, \"cluster\": {\"table\",\n"
        "\"instances\": [...]} or null without a cluster table}.\n";

static const struct ctl_opt opts[] = {
        {"daemon-url", 0, true},
        {"cluster-table", 0, true},
};

/* /metrics: on [http] metrics_listen when that is set (plain HTTP), else on
 * the SNS listener. */
static char *metrics_url(const struct config *c)
{
        const char *host = c->http_metrics_listen_host;
        char *url;

        if (!host)
                return ctl_daemon_url(c, "/metrics");
        if (isempty(host) || streq(host, "0.0.0.0"))
                host = "127.0.0.1";
        else if (streq(host, "::"))
                host = "::1";
        if (asprintf(&url, "http://%s%s%s:%u/metrics", strchr(host, ':') ? "[" : "", host,
                     strchr(host, ':') ? "]" : "", (unsigned)c->http_metrics_listen_port) < 0)
                return NULL;
        return url;
}

/* The send queues, or NULL when the daemon does not answer (a note on stderr). */
static json_t *send_queues(struct ctl *ctl, const char *base)
{
        _cleanup_free_ char *url = NULL, *body = NULL;
        long status = 0;
        int r;

        if (base ? asprintf(&url, "%s/metrics", base) < 0 : !(url = metrics_url(ctl->config)))
                return NULL;
        r = ctl_http_get(ctl, url, 5000, &status, &body);
        if (r < 0 || status != 200 || !body) {
                fprintf(stderr, "twowayctl: twowayd does not answer at %s (%s): no send queues\n",
                        url, r < 0 ? strerror(-r) : "not 200");
                return NULL;
        }
        return ctl_metrics_send_queues(body);
}

static int print_queues(const json_t *queues)
{
        static const char *const headers[] = {"IDENTITY", "TYPE",  "COUNTRY",  "RATE (PARTS/S)",
                                              "SOURCE",   "QUEUE", "THROTTLES"};
        struct ctl_table *t = ctl_table_new(headers, ARRAY_SIZE(headers));
        const json_t *q;
        size_t i;

        if (!t)
                return -ENOMEM;
        json_array_foreach(queues, i, q) {
                char rate[32] = "", depth[32] = "", throttles[32] = "";
                const json_t *v;
                const char *cells[7];

                if ((v = json_object_get(q, "rate")) && json_is_number(v))
                        (void)snprintf(rate, sizeof(rate), "%g", json_number_value(v));
                if ((v = json_object_get(q, "depth")) && json_is_number(v))
                        (void)snprintf(depth, sizeof(depth), "%.0f", json_number_value(v));
                if ((v = json_object_get(q, "throttles")) && json_is_number(v))
                        (void)snprintf(throttles, sizeof(throttles), "%.0f", json_number_value(v));
                else
                        (void)snprintf(throttles, sizeof(throttles), "0");
                cells[0] = json_string_value(json_object_get(q, "identity"));
                cells[1] = json_string_value(json_object_get(q, "type"));
                cells[2] = json_string_value(json_object_get(q, "country"));
                cells[3] = rate;
                cells[4] = json_string_value(json_object_get(q, "source"));
                cells[5] = depth;
                cells[6] = throttles;
                if (ctl_table_add(t, cells) < 0) {
                        ctl_table_free(t);
                        return -ENOMEM;
                }
        }
        return ctl_table_print_titled(t, "Send queues of the running daemon");
}

/* "4s ago", "3m 20s ago", "2h 5m ago", "3d 4h ago". */
static void age_text(json_int_t ms, char *buf, size_t size)
{
        long long s = ms < 0 ? 0 : (long long)(ms / 1000);

        if (s < 60)
                (void)snprintf(buf, size, "%llds ago", s);
        else if (s < 3600)
                (void)snprintf(buf, size, "%lldm %llds ago", s / 60, s % 60);
        else if (s < 86400)
                (void)snprintf(buf, size, "%lldh %lldm ago", s / 3600, s % 3600 / 60);
        else
                (void)snprintf(buf, size, "%lldd %lldh ago", s / 86400, s % 86400 / 3600);
}

static int print_instances(const char *table, const json_t *instances)
{
        static const char *const headers[] = {"INSTANCE", "STATE", "LAST HEARTBEAT", "STARTED",
                                              "VERSION"};
        struct ctl_table *t = ctl_table_new(headers, ARRAY_SIZE(headers));
        _cleanup_free_ char *title = NULL;
        const json_t *inst;
        size_t i;

        if (!t || asprintf(&title, "Instances in the cluster table %s", table) < 0) {
                ctl_table_free(t);
                return -ENOMEM;
        }
        json_array_foreach(instances, i, inst) {
                const json_t *beat = json_object_get(inst, "age_ms");
                const json_t *started = json_object_get(inst, "started_at");
                char age[48] = "", start[BUSINESS_DAYS_ISO8601_SIZE] = "";
                const char *cells[5];

                if (json_is_integer(beat))
                        age_text(json_integer_value(beat), age, sizeof(age));
                if (json_is_integer(started) &&
                    business_days_format_iso8601((time_t)(json_integer_value(started) / 1000),
                                                 start, sizeof(start)) < 0)
                        start[0] = '\0';
                cells[0] = json_string_value(json_object_get(inst, "name"));
                cells[1] = json_is_true(json_object_get(inst, "live")) ? "live" : "dead";
                cells[2] = age;
                cells[3] = start;
                cells[4] = json_string_value(json_object_get(inst, "version"));
                if (ctl_table_add(t, cells) < 0) {
                        ctl_table_free(t);
                        return -ENOMEM;
                }
        }
        if (json_array_size(instances) == 0) {
                ctl_table_free(t);
                printf("\n%s: no instance has written a heartbeat yet.\n", title);
                return 0;
        }
        return ctl_table_print_titled(t, title);
}

int ctl_cmd_status(struct ctl *ctl, int argc, char **argv)
{
        struct ctl_cmdline cl;
        json_t *numbers = NULL, *queues = NULL, *instances = NULL;
        const char *cluster;
        int r, code;

        if (!ctl_cmd_begin(ctl, argc, argv, opts, ARRAY_SIZE(opts), 0, usage, CTL_NEEDS_AWS, &cl,
                           &code))
                return code;
        cluster = ctl_cluster_table(ctl_args_get(&cl.args, "cluster-table"), ctl->config);
        if (cluster && !ctl_cluster_table_name_valid(cluster))
                return ctl_cmd_usage_error(usage, "--cluster-table needs a DynamoDB table name");
        r = ctl_phone_list(ctl, &numbers);
        if (r < 0)
                return CTL_EXIT_FAIL;
        queues = send_queues(ctl, ctl_args_get(&cl.args, "daemon-url"));
        if (cluster && ctl_cluster_instances_read(ctl, cluster, ctl->config->cluster_lease_seconds,
                                                  &instances) < 0) {
                json_decref(numbers);
                json_decref(queues);
                return CTL_EXIT_FAIL;
        }
        if (ctl->json)
                r = ctl_print_json(json_pack(
                        "{s:o,s:o,s:o}", "numbers", ctl_phone_json(numbers), "send_queues",
                        queues ? queues : json_null(), "cluster",
                        cluster ? json_pack("{s:s,s:O}", "table", cluster, "instances", instances)
                                : json_null()));
        else if (json_array_size(numbers) == 0) {
                printf("No phone numbers in this account (region %s).\n", ctl->region);
                r = 0;
        } else {
                struct ctl_table *t = ctl_phone_table(numbers);
                char *s = ctl_table_format(t);

                r = s ? 0 : -ENOMEM;
                if (s)
                        fputs(s, stdout);
                free(s);
                ctl_table_free(t);
        }
        if (r >= 0 && !ctl->json && json_array_size(queues) > 0)
                r = print_queues(queues);
        if (r >= 0 && !ctl->json && cluster)
                r = print_instances(cluster, instances);
        json_decref(instances);
        if (!ctl->json)
                json_decref(queues);
        json_decref(numbers);
        if (r < 0) {
                ctl_errorf("%s", strerror(-r));
                return CTL_EXIT_FAIL;
        }
        return CTL_EXIT_OK;
}
