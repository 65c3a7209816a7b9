/*
 * ctl_cmd_status.c — twowayctl status: the account's phone numbers, and the
 * running daemon's send queues (read from its /metrics, what it exposes).
 */
#include <stdio.h>

#include "common.h"
#include "config.h"
#include "ctl.h"
#include "ctl_cmd.h"
#include "ctl_metrics.h"
#include "ctl_phone.h"
#include "ctl_table.h"

static const char usage[] =
        "usage: twowayctl status [--daemon-url URL] [--json] [-c FILE]\n"
        "\n"
        "The phone numbers of the account in the configured region (DescribePhoneNumbers):\n"
        "number, id, status, type, message type, two-way messaging and its channel,\n"
        "self-managed opt-outs. Then the running daemon's send queues, from its /metrics\n"
        "(--daemon-url, default [http] metrics_listen or listen): each origination\n"
        "identity's type, the message parts per second it is sent at and where that\n"
        "comes from (learned, override, default), the replies waiting and the\n"
        "throttles. --json prints\n"
        "{\"numbers\": [...], \"send_queues\": [...] or null when the daemon does not answer}.\n";

static const struct ctl_opt opts[] = {
        {"daemon-url", 0, true},
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

int ctl_cmd_status(struct ctl *ctl, int argc, char **argv)
{
        struct ctl_cmdline cl;
        json_t *numbers = NULL, *queues = NULL;
        int r, code;

        if (!ctl_cmd_begin(ctl, argc, argv, opts, ARRAY_SIZE(opts), 0, usage, CTL_NEEDS_AWS, &cl,
                           &code))
                return code;
        r = ctl_phone_list(ctl, &numbers);
        if (r < 0)
                return CTL_EXIT_FAIL;
        queues = send_queues(ctl, ctl_args_get(&cl.args, "daemon-url"));
        if (ctl->json)
                r = ctl_print_json(json_pack("{s:o,s:o}", "numbers", ctl_phone_json(numbers),
                                             "send_queues", queues ? queues : json_null()));
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
        if (!ctl->json)
                json_decref(queues);
        json_decref(numbers);
        if (r < 0) {
                ctl_errorf("%s", strerror(-r));
                return CTL_EXIT_FAIL;
        }
        return CTL_EXIT_OK;
}
