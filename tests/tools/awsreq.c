/*
 * awsreq — drive the AWS request core from the command line, for integration
 * tests against the local stand-in.
 *
 *   awsreq [OPTIONS] COMMAND ARGS... [-- COMMAND ARGS...]...
 *
 * Commands run one after the other; each prints one JSON line per call on
 * stdout: {"cmd","r","errno","status","attempts","error":{code,message,kind,
 * local},"request_id","condition_failed","creds_source","history":[...],
 * "body"|"body_len"}.
 *
 *   ddb-put TABLE ITEM_JSON [CONDITION]
 *   ddb-get TABLE KEY_JSON
 *   ddb-update TABLE KEY_JSON UPDATE_EXPR [VALUES_JSON] [CONDITION]
 *   sms-send TO BODY [ORIGINATION]
 *   agent AGENT_ID ALIAS_ID SESSION_ID TEXT
 *   raw SERVICE OPERATION JSON
 *   creds                      which source, key id prefix, expiry (no secrets)
 *   consent-cycles TABLE PHONE N   N opt-out/opt-in pairs through consent_set(),
 *                              one after the other; one line at the end with
 *                              "written" (changes written) and the last "r"
 *   rate-learn [ID...]         sms_rate_learn() for the identities (none: every
 *                              number of the account): one line with
 *                              "r", "found", "denied", "code" and "identities"
 *                              [{identity, type, country, parts_per_second}]
 *   parallel N COMMAND...      N copies at once
 *   repeat N INTERVAL_MS COMMAND...   N times, INTERVAL_MS apart (after each result)
 *
 * Options: --region R, --healthz PORT (serve GET /healthz on 127.0.0.1:PORT
 * while running; 0 picks a port; the first stdout line is then
 * {"healthz_port":N}), --max-attempts N, --base-ms N, --throttle-base-ms N,
 * --jitter X (fixed random value in [0,1]), --timeout-ms N, --max-response N,
 * --max-in-flight N, --log-level L.
 *
 * The process runs one libev loop; the exit status is 0 when every call
 * succeeded, 1 when any failed, 2 for usage errors.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <strings.h>

#include <ev.h>
#include <jansson.h>

#include "aws.h"
#include "aws_creds.h"
#include "common.h"
#include "consent.h"
#include "ddb.h"
#include "http_client.h"
#include "http_server.h"
#include "log.h"
#include "sms_rate_learn.h"

struct group;

struct tool {
        struct ev_loop *loop;
        struct http_client *http;
        struct aws_creds_provider *creds;
        struct aws_client *aws;
        struct http_server *healthz;
        char **argv; /* the command part */
        int argc;
        int pos; /* next command group */
        int failures;
        double jitter;
        bool fixed_jitter;
        struct aws_client_options copts;
        const char *region_arg;
        struct group *current;
};

/* A command group: one command, possibly run N times (parallel/repeat). */
struct group {
        struct tool *tool;
        char **args;
        int nargs;
        unsigned total, started, done;
        bool parallel;
        double interval_s;
        ev_timer timer;
};

struct one {
        struct group *g;
        const char *cmd;
};

static struct aws_client *o_aws(const struct one *o)
{
        return o->g->tool->aws;
}

static void run_next_group(struct tool *t);
static void group_start_one(struct group *g);

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static double fixed_random(void *userdata)
{
        return *(double *)userdata;
}

static json_t *history_json(const struct aws_result *res)
{
        json_t *a = json_array();

        for (unsigned i = 0; a && i < res->attempts && i < AWS_CALL_MAX_ATTEMPTS; i++) {
                const struct aws_attempt *h = &res->history[i];
                json_array_append_new(
                        a, json_pack("{s:I,s:s,s:s,s:f,s:f}", "status", (json_int_t)h->http_status,
                                     "code", h->code, "kind", aws_error_kind_to_string(h->kind),
                                     "latency_ms", h->latency_ms, "delay_ms", h->delay_ms));
        }
        return a;
}

static void print_line(json_t *o)
{
        char *s = json_dumps(o, JSON_COMPACT);

        if (s) {
                fputs(s, stdout);
                fputc('\n', stdout);
                fflush(stdout);
                free(s);
        }
        json_decref(o);
}

static void one_finished(struct one *o, int r)
{
        struct group *g = o->g;
        struct tool *t = g->tool;

        if (r < 0)
                t->failures++;
        free(o);
        g->done++;
        if (g->done == g->total) {
                ev_timer_stop(t->loop, &g->timer);
                t->current = NULL;
                free(g);
                run_next_group(t);
        } else if (!g->parallel) {
                ev_timer_set(&g->timer, g->interval_s, 0.);
                ev_timer_start(t->loop, &g->timer);
        }
}

static void report(struct one *o, int r, const struct aws_result *res, bool condition_failed)
{
        struct tool *t = o->g->tool;
        const struct aws_error *e = res->error;
        json_t *line = json_pack(
                "{s:s,s:i,s:s,s:I,s:i,s:{s:s,s:s,s:s,s:i},s:s,s:b,s:s}", "cmd", o->cmd, "r", r,
                "errno", r < 0 ? strerror(-r) : "", "status", (json_int_t)res->http_status,
                "attempts", (int)res->attempts, "error", "code", e->code, "message", e->message,
                "kind", aws_error_kind_to_string(e->kind), "local", e->local, "request_id",
                res->request_id ? res->request_id : "", "condition_failed", condition_failed,
                "creds_source", aws_creds_source_to_string(aws_creds_current_source(t->creds)));

        if (!line)
                return;
        json_object_set_new(line, "history", history_json(res));
        if (res->json)
                json_object_set(line, "body", res->json);
        else if (res->raw && !res->event_stream && r < 0 && res->raw_len < 4096)
                json_object_set_new(line, "body_text",
                                    json_stringn_nocheck((const char *)res->raw, res->raw_len));
        json_object_set_new(line, "body_len", json_integer((json_int_t)res->raw_len));
        json_object_set_new(line, "event_stream", json_boolean(res->event_stream));
        json_object_set_new(line, "content_type", json_string(res->content_type));
        print_line(line);
}

static void aws_cb(struct aws_call *call, int r, const struct aws_result *res, void *userdata)
{
        struct one *o = userdata;

        report(o, r, res, false);
        one_finished(o, r);
}

static void ddb_cb_fn(int r, const struct ddb_result *res, void *userdata)
{
        struct one *o = userdata;

        report(o, r, res->aws, res->condition_failed);
        one_finished(o, r);
}

static void creds_cb(int r, const struct aws_credentials *c, void *userdata)
{
        struct one *o = userdata;
        char prefix[5] = "";

        if (r >= 0)
                (void)snprintf(prefix, sizeof(prefix), "%s", c->access_key_id);
        print_line(json_pack("{s:s,s:i,s:s,s:s,s:s,s:I,s:b}", "cmd", "creds", "r", r, "errno",
                             r < 0 ? strerror(-r) : "", "source",
                             r >= 0 ? aws_creds_source_to_string(c->source) : "none",
                             "access_key_id_prefix", prefix, "expiration",
                             (json_int_t)(r >= 0 ? c->expiration : 0), "session",
                             r >= 0 && c->session_token != NULL));
        one_finished(o, r);
}

/* consent-cycles: opt-out, opt-in, ... through the consent module's own rule. */
struct cycles {
        struct one *o;
        const char *table, *phone;
        unsigned long total, done, written;
};

static int cycle_next(struct cycles *c);

static void cycle_done(int r, const char *operation, const struct aws_error *err, void *userdata)
{
        struct cycles *c = userdata;
        struct one *o = c->o;

        if (r > 0) {
                c->written++;
                r = 0;
        }
        if (r == 0 && ++c->done < c->total) {
                r = cycle_next(c);
                if (r >= 0)
                        return;
        }
        print_line(json_pack("{s:s,s:i,s:s,s:s,s:s,s:I,s:I}", "cmd", "consent-cycles", "r", r,
                             "errno", r < 0 ? strerror(-r) : "", "operation",
                             operation ? operation : "", "code", err ? err->code : "", "done",
                             (json_int_t)c->done, "written", (json_int_t)c->written));
        free(c);
        one_finished(o, r);
}

static int cycle_next(struct cycles *c)
{
        char id[64];

        (void)snprintf(id, sizeof(id), "cycle-%lu", c->done);
        return consent_set(o_aws(c->o), c->table,
                           &(struct consent_change){
                                   .phone = c->phone,
                                   .to = c->done % 2 ? CONSENT_OPTED_IN : CONSENT_OPTED_OUT,
                                   .method = CONSENT_METHOD_SMS,
                                   .inbound_message_id = id,
                                   .now = time(NULL),
                                   .business_days = 10,
                           },
                           cycle_done, c);
}

static int start_cycles(struct one *o, const char *table, const char *phone, const char *count)
{
        struct cycles *c;
        unsigned long n;
        int r;

        if (parse_uint(count, 1000000, &n) < 0 || n == 0)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (struct cycles){.o = o, .table = table, .phone = phone, .total = 2 * n};
        r = cycle_next(c);
        if (r < 0)
                free(c);
        return r;
}

static void rate_learned(int r, const struct sms_rate_learn_result *res, void *userdata)
{
        struct one *o = userdata;
        json_t *ids = json_array();

        for (size_t i = 0; ids && i < res->n_identities; i++) {
                const struct sms_rate_identity *id = &res->identities[i];

                json_array_append_new(ids,
                                      json_pack("{s:s,s:s,s:s,s:f}", "identity", id->identity,
                                                "type", id->number_type, "country", id->iso_country,
                                                "parts_per_second", id->parts_per_second));
        }
        print_line(json_pack("{s:s,s:i,s:s,s:i,s:b,s:s,s:o*}", "cmd", "rate-learn", "r", r, "errno",
                             r < 0 ? strerror(-r) : "", "found", (int)res->found, "denied",
                             res->denied, "code", res->aws.code, "identities", ids));
        one_finished(o, r);
}

static json_t *arg_json(const char *s)
{
        json_error_t err;
        json_t *j = json_loads(s, JSON_DECODE_ANY, &err);

        if (!j)
                fprintf(stderr, "awsreq: bad JSON '%s': %s\n", s, err.text);
        return j;
}

/* Start one call of the group's command. Returns < 0 on usage/start errors. */
/* The service whose id (aws_service_info) is id, or -EINVAL. */
static int service_of(const char *id)
{
        for (int s = 0; s < _AWS_SERVICE_MAX; s++)
                if (streq(aws_service_get((enum aws_service)s)->id, id))
                        return s;
        return -EINVAL;
}

static int start_command(struct one *o, char **a, int n)
{
        struct tool *t = o->g->tool;
        const char *cmd = a[0];
        json_t *j1 = NULL, *j2 = NULL, *body = NULL;
        int r = -EINVAL;

        o->cmd = cmd;
        if (streq(cmd, "ddb-put") && (n == 3 || n == 4)) {
                if ((j1 = arg_json(a[2])))
                        r = ddb_put_item(t->aws,
                                         &(struct ddb_put_params){
                                                 .table = a[1],
                                                 .item = j1,
                                                 .condition = n == 4 ? a[3] : NULL,
                                                 .return_old_on_condition_failure = n == 4,
                                         },
                                         ddb_cb_fn, o, NULL);
        } else if (streq(cmd, "ddb-get") && n == 3) {
                if ((j1 = arg_json(a[2])))
                        r = ddb_get_item(t->aws,
                                         &(struct ddb_get_params){
                                                 .table = a[1],
                                                 .key = j1,
                                                 .consistent_read = true,
                                         },
                                         ddb_cb_fn, o, NULL);
        } else if (streq(cmd, "ddb-update") && n >= 4 && n <= 6) {
                j1 = arg_json(a[2]);
                if (n >= 5)
                        j2 = arg_json(a[4]);
                if (j1 && (n < 5 || j2))
                        r = ddb_update_item(t->aws,
                                            &(struct ddb_update_params){
                                                    .table = a[1],
                                                    .key = j1,
                                                    .update = a[3],
                                                    .values = j2,
                                                    .condition = n == 6 ? a[5] : NULL,
                                                    .return_values = "ALL_NEW",
                                            },
                                            ddb_cb_fn, o, NULL);
        } else if (streq(cmd, "sms-send") && (n == 3 || n == 4)) {
                body = json_pack("{s:s,s:s}", "DestinationPhoneNumber", a[1], "MessageBody", a[2]);
                if (body && n == 4)
                        json_object_set_new(body, "OriginationIdentity", json_string(a[3]));
                if (body)
                        r = aws_call_start(t->aws,
                                           &(struct aws_call_params){
                                                   .service = AWS_SERVICE_SMS_VOICE,
                                                   .operation = "SendTextMessage",
                                                   .body = body,
                                           },
                                           aws_cb, o, NULL);
        } else if (streq(cmd, "agent") && n == 5) {
                const char *labels[] = {"agents",   a[1], "agentAliases", a[2],
                                        "sessions", a[3], "text"};
                _cleanup_free_ char *path = aws_rest_path(labels, ARRAY_SIZE(labels));
                body = json_pack("{s:s}", "inputText", a[4]);
                if (path && body)
                        r = aws_call_start(t->aws,
                                           &(struct aws_call_params){
                                                   .service = AWS_SERVICE_BEDROCK_AGENT_RUNTIME,
                                                   .operation = "InvokeAgent",
                                                   .path = path,
                                                   .body = body,
                                           },
                                           aws_cb, o, NULL);
        } else if (streq(cmd, "raw") && n == 4) {
                int s = service_of(a[1]);
                if (s >= 0 && (body = arg_json(a[3])))
                        r = aws_call_start(t->aws,
                                           &(struct aws_call_params){
                                                   .service = (enum aws_service)s,
                                                   .operation = a[2],
                                                   .body = body,
                                           },
                                           aws_cb, o, NULL);
        } else if (streq(cmd, "creds") && n == 1)
                r = aws_creds_get(t->creds, creds_cb, o, NULL);
        else if (streq(cmd, "consent-cycles") && n == 4)
                r = start_cycles(o, a[1], a[2], a[3]);
        else if (streq(cmd, "rate-learn"))
                r = sms_rate_learn(t->aws, n > 1 ? (const char *const *)a + 1 : NULL, (size_t)n - 1,
                                   rate_learned, o, NULL);
        else
                fprintf(stderr, "awsreq: bad command or arguments: %s\n", cmd);

        json_decref(j1);
        json_decref(j2);
        json_decref(body);
        return r;
}

static void group_start_one(struct group *g)
{
        struct one *o = calloc(1, sizeof(*o));
        int r;

        if (!o) {
                fprintf(stderr, "awsreq: out of memory\n");
                exit(EXIT_FAILURE);
        }
        o->g = g;
        g->started++;
        r = start_command(o, g->args, g->nargs);
        if (r < 0) {
                print_line(json_pack("{s:s,s:i,s:s}", "cmd", g->args[0], "r", r, "errno",
                                     strerror(-r)));
                /* Completes through the normal path, so counting stays right. */
                one_finished(o, r);
        }
}

static void group_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        group_start_one(w->data);
}

static void run_next_group(struct tool *t)
{
        struct group *g;
        int end, start = t->pos;
        unsigned long n = 1, interval = 0;
        bool parallel = false;

        if (start >= t->argc) {
                ev_break(t->loop, EVBREAK_ALL);
                return;
        }
        for (end = start; end < t->argc && !streq(t->argv[end], "--"); end++)
                ;
        t->pos = end < t->argc ? end + 1 : end;

        if (streq(t->argv[start], "parallel") && end - start >= 3 &&
            parse_uint(t->argv[start + 1], 100000, &n) >= 0) {
                parallel = true;
                start += 2;
        } else if (streq(t->argv[start], "repeat") && end - start >= 4 &&
                   parse_uint(t->argv[start + 1], 100000, &n) >= 0 &&
                   parse_uint(t->argv[start + 2], 3600000, &interval) >= 0)
                start += 3;
        if (n == 0) {
                run_next_group(t);
                return;
        }

        g = calloc(1, sizeof(*g));
        if (!g) {
                fprintf(stderr, "awsreq: out of memory\n");
                exit(EXIT_FAILURE);
        }
        g->tool = t;
        g->args = t->argv + start;
        g->nargs = end - start;
        g->total = (unsigned)n;
        g->parallel = parallel;
        g->interval_s = (double)interval / 1000.;
        ev_timer_init(&g->timer, group_timer_cb, 0., 0.);
        g->timer.data = g;
        t->current = g;
        if (parallel) {
                unsigned total = g->total;
                /* The group may finish inside the loop (start errors): count first. */
                for (unsigned i = 0; i < total && t->current == g; i++)
                        group_start_one(g);
        } else
                group_start_one(g);
}

static void healthz_handler(struct http_request *req, void *userdata)
{
        if (streq(http_request_method(req), "GET") && streq(http_request_path(req), "/healthz"))
                (void)http_request_reply(req, 200, "text/plain", "ok\n", 3);
        else
                (void)http_request_reply(req, 404, "text/plain", "not found\n", 10);
}

static void region_cb(int r, const char *region, const char *source, void *userdata)
{
        struct tool *t = userdata;

        if (r < 0) {
                fprintf(stderr, "awsreq: no region (%s); use --region or AWS_REGION\n",
                        strerror(-r));
                t->failures++;
                ev_break(t->loop, EVBREAK_ALL);
                return;
        }
        t->copts.region = region;
        r = aws_client_new(t->loop, &t->copts, &t->aws);
        if (r < 0) {
                fprintf(stderr, "awsreq: aws client: %s\n", strerror(-r));
                t->failures++;
                ev_break(t->loop, EVBREAK_ALL);
                return;
        }
        run_next_group(t);
}

static void usage(void)
{
        fputs("usage: awsreq [--region R] [--healthz PORT] [--max-attempts N] [--base-ms N]\n"
              "              [--throttle-base-ms N] [--jitter X] [--timeout-ms N]\n"
              "              [--max-response N] [--max-in-flight N] [--log-level L]\n"
              "              COMMAND ARGS... [-- COMMAND ARGS...]...\n"
              "commands: ddb-put, ddb-get, ddb-update, sms-send, agent, raw, creds, "
              "consent-cycles, rate-learn,\n"
              "          parallel N CMD..., repeat N INTERVAL_MS CMD...\n",
              stderr);
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
                {"region", required_argument, NULL, 'r'},
                {"healthz", required_argument, NULL, 'H'},
                {"max-attempts", required_argument, NULL, 'a'},
                {"base-ms", required_argument, NULL, 'b'},
                {"throttle-base-ms", required_argument, NULL, 'B'},
                {"jitter", required_argument, NULL, 'j'},
                {"timeout-ms", required_argument, NULL, 't'},
                {"max-response", required_argument, NULL, 'm'},
                {"max-in-flight", required_argument, NULL, 'f'},
                {"log-level", required_argument, NULL, 'l'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        struct tool t = {0};
        struct http_client_options hopts = {0};
        long healthz_port = -1;
        unsigned long v;
        int c, r, level = LOG_INFO;

        log_setup(LOG_TARGET_JSON);
        signal(SIGPIPE, SIG_IGN);

        while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) >= 0) {
                switch (c) {
                case 'r':
                        t.region_arg = optarg;
                        break;
                case 'H':
                        if (parse_uint(optarg, 65535, &v) < 0)
                                goto bad;
                        healthz_port = (long)v;
                        break;
                case 'a':
                        if (parse_uint(optarg, AWS_CALL_MAX_ATTEMPTS, &v) < 0 || v == 0)
                                goto bad;
                        t.copts.retry.max_attempts = (unsigned)v;
                        break;
                case 'b':
                        if (parse_uint(optarg, 600000, &v) < 0)
                                goto bad;
                        t.copts.retry.base_ms = (unsigned)v;
                        break;
                case 'B':
                        if (parse_uint(optarg, 600000, &v) < 0)
                                goto bad;
                        t.copts.retry.throttle_base_ms = (unsigned)v;
                        break;
                case 'j': {
                        char *end;
                        t.jitter = strtod(optarg, &end);
                        if (*end || !(t.jitter >= 0. && t.jitter <= 1.))
                                goto bad;
                        t.fixed_jitter = true;
                        break;
                }
                case 't':
                        if (parse_uint(optarg, 3600000, &v) < 0)
                                goto bad;
                        t.copts.timeout_ms = (long)v;
                        break;
                case 'm':
                        if (parse_uint(optarg, 1UL << 30, &v) < 0)
                                goto bad;
                        t.copts.max_response = v;
                        break;
                case 'f':
                        if (parse_uint(optarg, 10000, &v) < 0)
                                goto bad;
                        hopts.max_in_flight = (unsigned)v;
                        break;
                case 'l':
                        level = log_level_from_string(optarg);
                        if (level < 0)
                                goto bad;
                        break;
                case 'h':
                        usage();
                        return EXIT_SUCCESS;
                default:
                        goto bad;
                }
        }
        if (optind >= argc)
                goto bad;
        log_set_max_level(level);
        t.argv = argv + optind;
        t.argc = argc - optind;

        t.loop = ev_default_loop(0);
        r = http_client_new(t.loop, &hopts, &t.http);
        if (r < 0) {
                fprintf(stderr, "awsreq: http client: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        r = aws_creds_provider_new(t.loop, &(struct aws_creds_options){.http = t.http}, &t.creds);
        if (r < 0) {
                fprintf(stderr, "awsreq: credentials: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        t.copts.http = t.http;
        t.copts.creds = t.creds;
        if (t.fixed_jitter) {
                t.copts.random_fn = fixed_random;
                t.copts.random_userdata = &t.jitter;
        }

        if (healthz_port >= 0) {
                int fd;
                r = http_listen("127.0.0.1", (uint16_t)healthz_port, &fd);
                if (r >= 0)
                        r = http_server_new(t.loop,
                                            &(struct http_server_options){
                                                    .listen_fd = fd,
                                                    .max_connections = 64,
                                                    .max_per_ip = 64,
                                                    .timeout_s = 10,
                                                    .max_body = 1024,
                                            },
                                            healthz_handler, &t, &t.healthz);
                if (r < 0) {
                        fprintf(stderr, "awsreq: healthz listener: %s\n", strerror(-r));
                        return EXIT_FAILURE;
                }
                char host[64];

                print_line(json_pack("{s:i}", "healthz_port",
                                     http_local_address(fd, host, sizeof(host))));
        }

        r = aws_creds_region_resolve(t.creds, t.region_arg, region_cb, &t);
        if (r < 0) {
                fprintf(stderr, "awsreq: region: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        ev_run(t.loop, 0);

        t.aws = aws_client_free(t.aws);
        t.creds = aws_creds_provider_free(t.creds);
        t.http = http_client_free(t.http);
        t.healthz = http_server_free(t.healthz);
        ev_loop_destroy(t.loop);
        return t.failures ? EXIT_FAILURE : EXIT_SUCCESS;
bad:
        usage();
        return 2;
}
