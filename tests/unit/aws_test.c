/*
 * aws_test.c — the AWS request core against a scripted server on 127.0.0.1:
 * what goes on the wire for each protocol (and that its signature checks out
 * against the bytes that arrived), which answers are retried and after what
 * backoff, how errors reach the caller, cancellation, and who releases the
 * body and the caller's state when a call does not start. The clock that
 * dates the signatures and the retry jitter are the test's.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ev.h>
#include <jansson.h>
#include <stdlib.h>

#include "sigv4.h"

#include "loopback_aws.h"

#define KEY_ID     LOOPBACK_KEY_ID
#define KEY_SECRET LOOPBACK_KEY_SECRET
#define START_TIME 1767312000 /* 2026-01-02T00:00:00Z */
#define WAIT_LIMIT 10.0

struct fixture {
        struct ev_loop *loop;
        struct scripted_server server;
        struct loopback_aws l;
        struct aws_client *aws; /* l.aws */
        int64_t now;            /* the signing clock: one second further at every reading */
        bool retry_decided;     /* the jitter was drawn: a backoff starts */

        /* the one call's outcome */
        bool done;
        int r;
        unsigned attempts;
        struct aws_attempt history[AWS_CALL_MAX_ATTEMPTS];
        struct aws_error error;
        json_t *json;
        char raw[256];
        long http_status;
        char request_id[64];
        unsigned heard; /* count_done(): how many times the caller heard */
};

static int64_t fixture_clock(void *userdata)
{
        struct fixture *f = userdata;

        return f->now++;
}

/* Drawn just before a retry's backoff timer starts. */
static double full_jitter(void *userdata)
{
        struct fixture *f = userdata;

        f->retry_decided = true;
        return 1.0; /* the whole backoff ceiling, so that delays are exact */
}

/* Short delays on the fixture's clock and jitter, and the quota given. */
static struct aws_client_options client_options(struct fixture *f, unsigned retry_quota)
{
        return (struct aws_client_options){
                .retry = {.base_ms = 10, .throttle_base_ms = 40},
                .retry_quota = retry_quota,
                .random_fn = full_jitter,
                .random_userdata = f,
                .clock_fn = fixture_clock,
                .clock_userdata = f,
        };
}

static int client_setup(struct fixture *f, unsigned retry_quota)
{
        struct aws_client_options o = client_options(f, retry_quota);
        int r = loopback_aws_new(f->loop, &f->server, &o, &f->l);

        f->aws = f->l.aws;
        return r;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct aws_client_options o;

        if (!f)
                return -1;
        f->now = START_TIME;
        o = client_options(f, 0);
        if (loopback_aws_start(&f->loop, &f->server, &o, &f->l) < 0)
                return -1;
        f->aws = f->l.aws;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        loopback_aws_stop(f->loop, &f->server, &f->l);
        json_decref(f->json);
        free(f);
        return 0;
}

static void call_done(struct aws_call *call, int r, const struct aws_result *res, void *userdata)
{
        struct fixture *f = userdata;

        (void)call;
        f->done = true;
        f->r = r;
        f->attempts = res->attempts;
        memcpy(f->history, res->history, res->attempts * sizeof(*res->history));
        f->error = *res->error;
        json_decref(f->json);
        f->json = res->json ? json_incref(res->json) : NULL;
        f->http_status = res->http_status;
        snprintf(f->request_id, sizeof(f->request_id), "%s", res->request_id);
        snprintf(f->raw, sizeof(f->raw), "%.*s", (int)MIN(res->raw_len, sizeof(f->raw) - 1),
                 res->raw ? (const char *)res->raw : "");
}

static void run_call(struct fixture *f, const struct aws_call_params *p)
{
        assert_int_equal(aws_call_start(f->aws, p, call_done, f, NULL), 0);
        /* Never from inside aws_call_start(). */
        assert_false(f->done);
        assert_true(run_loop_until(f->loop, &f->done, WAIT_LIMIT));
}

/* Sign what arrived again, with the headers it says it signed, and compare:
 * a header changed or added after signing, or a body other than the one
 * signed, makes the two differ — as AWS would refuse the request. */
static void assert_signature_checks_out(const struct recorded_request *rq, const char *scope)
{
        const char *auth = recorded_header(rq, "Authorization");
        const char *date = recorded_header(rq, "X-Amz-Date");
        struct sigv4_header sh[RECORDED_HEADERS];
        size_t n = 0;
        char signed_list[512], want_scope[160];
        struct sigv4_result sig = {0};
        const char *p, *e;

        assert_non_null(auth);
        assert_non_null(date);
        snprintf(want_scope, sizeof(want_scope), "Credential=" KEY_ID "/%.8s/%s,", date ? date : "",
                 scope);
        if (!strstr(auth, want_scope))
                fail_msg("credential scope: %s\nwant %s", auth, want_scope);
        p = strstr(auth, "SignedHeaders=");
        assert_non_null(p);
        p += STRLEN("SignedHeaders=");
        e = strchr(p, ',');
        assert_non_null(e);
        snprintf(signed_list, sizeof(signed_list), "%.*s", (int)(e - p), p);
        /* Host, Content-Type and every x-amz-* header sent must be signed. */
        for (size_t i = 0; i < rq->n_headers; i++) {
                char lower[64], needle[80], haystack[520];
                size_t k;

                for (k = 0; rq->headers[i].name[k] && k < sizeof(lower) - 1; k++)
                        lower[k] = (char)tolower((unsigned char)rq->headers[i].name[k]);
                lower[k] = '\0';
                if (!streq(lower, "host") && !streq(lower, "content-type") &&
                    strncmp(lower, "x-amz-", 6) != 0)
                        continue;
                snprintf(needle, sizeof(needle), ";%s;", lower);
                snprintf(haystack, sizeof(haystack), ";%s;", signed_list);
                if (!strstr(haystack, needle))
                        fail_msg("%s sent but not signed (%s)", rq->headers[i].name, signed_list);
        }
        for (char *save = NULL, *name = strtok_r(signed_list, ";", &save); name;
             name = strtok_r(NULL, ";", &save)) {
                if (streq(name, "x-amz-date") || streq(name, "x-amz-security-token"))
                        continue; /* the signer adds these itself */
                assert_non_null(recorded_header(rq, name));
                sh[n++] = (struct sigv4_header){name, recorded_header(rq, name)};
        }
        {
                /* The service's signing name is the scope's second part. */
                const char *slash = strchr(scope, '/');
                char service[32];

                snprintf(service, sizeof(service), "%.*s",
                         (int)(strchr(slash + 1, '/') - slash - 1), slash + 1);
                assert_int_equal(sigv4_sign(
                                         &(struct sigv4_request){
                                                 .method = rq->method,
                                                 .path = rq->path,
                                                 .query = rq->query,
                                                 .headers = sh,
                                                 .n_headers = n,
                                                 .body = rq->body,
                                                 .body_len = rq->body_len,
                                         },
                                         &(struct sigv4_credentials){KEY_ID, KEY_SECRET, NULL},
                                         &(struct sigv4_params){
                                                 .region = "us-east-1",
                                                 .service = service,
                                                 .amz_date = date,
                                         },
                                         &sig),
                                 0);
        }
        if (!streq(sig.authorization, auth))
                fail_msg("signature does not check out\ngot  %s\nwant %s", auth, sig.authorization);
        sigv4_result_done(&sig);
}

/* ---- the wire ------------------------------------------------------------------------------ */

static void test_json_1_0_request_on_the_wire(void **state)
{
        struct fixture *f = *state;
        json_t *body = json_pack("{s:s,s:{s:{s:s}}}", "TableName", "consent", "Key", "pk", "S",
                                 "+14255550182");
        const struct recorded_request *rq;

        scripted_server_script(&f->server,
                               &(struct scripted_reply){
                                       .status = 200,
                                       .content_type = "application/x-amz-json-1.0",
                                       .headers = {{"x-amzn-RequestId", "REQ-1"}},
                                       .body = "{\"Item\":{\"pk\":{\"S\":\"+14255550182\"}}}",
                               },
                               1);
        run_call(f, &(struct aws_call_params){
                            .service = AWS_SERVICE_DYNAMODB,
                            .operation = "GetItem",
                            .body = body,
                    });
        json_decref(body);

        assert_int_equal(f->r, 0);
        assert_int_equal(f->attempts, 1);
        assert_int_equal(f->http_status, 200);
        assert_string_equal(f->request_id, "REQ-1");
        assert_non_null(f->json);
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(json_object_get(f->json, "Item"), "pk"), "S")),
                            "+14255550182");

        assert_int_equal(scripted_server_count(&f->server), 1);
        rq = &f->server.requests[0];
        assert_string_equal(rq->method, "POST");
        assert_string_equal(rq->path, "/");
        assert_string_equal(recorded_header(rq, "X-Amz-Target"), "DynamoDB_20120810.GetItem");
        assert_string_equal(recorded_header(rq, "Content-Type"), "application/x-amz-json-1.0");
        assert_string_equal(recorded_header(rq, "X-Amz-Date"), "20260102T000000Z");
        assert_string_equal(
                rq->body, "{\"TableName\":\"consent\",\"Key\":{\"pk\":{\"S\":\"+14255550182\"}}}");
        assert_signature_checks_out(rq, "us-east-1/dynamodb/aws4_request");
}

static void test_rest_json_path_labels_and_extra_headers(void **state)
{
        struct fixture *f = *state;
        static const char *const labels[] = {"agents",   "A1",         "agentAliases", "B2",
                                             "sessions", "+1 425:555", "text"};
        char *path = aws_rest_path(labels, ARRAY_SIZE(labels));
        json_t *body = json_pack("{s:s}", "inputText", "héllo");
        const struct recorded_request *rq;

        assert_non_null(path);
        assert_string_equal(path, "/agents/A1/agentAliases/B2/sessions/%2B1%20425%3A555/text");
        scripted_server_script(&f->server,
                               &(struct scripted_reply){
                                       .status = 200,
                                       .content_type = "application/vnd.amazon.eventstream",
                                       .body = "not json: raw bytes",
                               },
                               1);
        run_call(f, &(struct aws_call_params){
                            .service = AWS_SERVICE_BEDROCK_AGENT_RUNTIME,
                            .operation = "InvokeAgent",
                            .path = path,
                            .query = "a=1&b=x%20y",
                            .body = body,
                            .headers = (const struct aws_header[]){{"x-amz-source-arn",
                                                                    "arn:aws:sms-voice:1"}},
                            .n_headers = 1,
                    });
        free(path);
        json_decref(body);

        /* An event stream is handed over raw, not parsed as JSON. */
        assert_int_equal(f->r, 0);
        assert_null(f->json);
        assert_string_equal(f->raw, "not json: raw bytes");

        rq = &f->server.requests[0];
        assert_string_equal(rq->path, "/agents/A1/agentAliases/B2/sessions/%2B1%20425%3A555/text");
        assert_string_equal(rq->query, "a=1&b=x%20y");
        assert_string_equal(recorded_header(rq, "Content-Type"), "application/json");
        assert_null(recorded_header(rq, "X-Amz-Target"));
        assert_string_equal(recorded_header(rq, "x-amz-source-arn"), "arn:aws:sms-voice:1");
        assert_non_null(strstr(recorded_header(rq, "Authorization"), "x-amz-source-arn"));
        assert_string_equal(rq->body, "{\"inputText\":\"h\xc3\xa9llo\"}");
        assert_signature_checks_out(rq, "us-east-1/bedrock/aws4_request");
}

static void test_query_protocol_xml_answers(void **state)
{
        struct fixture *f = *state;
        static const char form[] = "Action=GetTopicAttributes&TopicArn=arn%3Aaws%3Asns%3At";
        static const char xml_error[] =
                "<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code>"
                "<Message>Topic does not exist</Message></Error>"
                "<RequestId>REQ-X</RequestId></ErrorResponse>";

        scripted_server_script(
                &f->server,
                (const struct scripted_reply[]){
                        {.status = 200,
                         .content_type = "text/xml",
                         .body = "<GetTopicAttributesResponse/>"},
                        {.status = 404, .content_type = "text/xml", .body = xml_error},
                },
                2);
        run_call(f, &(struct aws_call_params){
                            .service = AWS_SERVICE_SNS,
                            .operation = "GetTopicAttributes",
                            .raw_body = form,
                            .raw_body_len = STRLEN(form),
                    });
        assert_int_equal(f->r, 0);
        assert_null(f->json);
        assert_string_equal(f->raw, "<GetTopicAttributesResponse/>");
        assert_string_equal(f->server.requests[0].body, form);
        assert_string_equal(recorded_header(&f->server.requests[0], "Content-Type"),
                            "application/x-www-form-urlencoded; charset=utf-8");
        assert_signature_checks_out(&f->server.requests[0], "us-east-1/sns/aws4_request");

        f->done = false;
        run_call(f, &(struct aws_call_params){
                            .service = AWS_SERVICE_SNS,
                            .operation = "GetTopicAttributes",
                            .raw_body = form,
                            .raw_body_len = STRLEN(form),
                    });
        assert_int_equal(f->r, -EREMOTEIO);
        assert_string_equal(f->error.code, "NotFound");
        assert_string_equal(f->error.message, "Topic does not exist");
        assert_int_equal(f->error.kind, AWS_ERROR_PERMANENT);
        assert_int_equal(scripted_server_count(&f->server), 2);
}

/* ---- retries --------------------------------------------------------------------------------- */

static void test_transient_and_throttling_retried_with_growing_backoff(void **state)
{
        struct fixture *f = *state;

        scripted_server_script(
                &f->server,
                (const struct scripted_reply[]){
                        {.status = 500,
                         .content_type = "application/x-amz-json-1.0",
                         .body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
                                 "InternalServerError\"}"},
                        {.status = 400,
                         .content_type = "application/x-amz-json-1.0",
                         .body = "{\"__type\":\"com.amazon.coral.availability#"
                                 "ThrottlingException\","
                                 "\"message\":\"Rate exceeded\"}"},
                        {.status = 200, .content_type = "application/x-amz-json-1.0", .body = "{}"},
                },
                3);
        run_call(f, &(struct aws_call_params){.service = AWS_SERVICE_DYNAMODB,
                                              .operation = "PutItem"});

        assert_int_equal(f->r, 0);
        assert_int_equal(f->attempts, 3);
        assert_int_equal(scripted_server_count(&f->server), 3);
        assert_int_equal(f->history[0].kind, AWS_ERROR_TRANSIENT);
        assert_string_equal(f->history[0].code, "InternalServerError");
        assert_int_equal(f->history[1].kind, AWS_ERROR_THROTTLING);
        assert_string_equal(f->history[1].code, "ThrottlingException");
        assert_int_equal(f->history[2].kind, AWS_ERROR_NONE);
        /* Backoff: 10 ms after the 5xx; throttling waits from its own larger
         * base, doubled for the second attempt. */
        assert_float_equal(f->history[0].delay_ms, 10., 1e-9);
        assert_float_equal(f->history[1].delay_ms, 80., 1e-9);
        assert_float_equal(f->history[2].delay_ms, 0., 1e-9);
        /* Each attempt signed afresh, with the clock of its own moment. */
        for (size_t i = 0; i < 3; i++) {
                char want[17];
                assert_int_equal(sigv4_format_amz_date(START_TIME + (long long)i, want), 0);
                assert_string_equal(recorded_header(&f->server.requests[i], "X-Amz-Date"), want);
                assert_string_equal(f->server.requests[i].body, "{}");
                assert_signature_checks_out(&f->server.requests[i],
                                            "us-east-1/dynamodb/aws4_request");
        }
}

static void test_permanent_error_not_retried(void **state)
{
        struct fixture *f = *state;

        scripted_server_script(
                &f->server,
                &(struct scripted_reply){
                        .status = 400,
                        .content_type = "application/x-amz-json-1.0",
                        .headers = {{"x-amzn-RequestId", "REQ-V"}},
                        .body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
                                "ConditionalCheckFailedException\",\"message\":\"The conditional "
                                "request failed\"}",
                },
                1);
        run_call(f, &(struct aws_call_params){.service = AWS_SERVICE_DYNAMODB,
                                              .operation = "PutItem"});
        assert_int_equal(f->r, -EREMOTEIO);
        assert_int_equal(f->attempts, 1);
        assert_int_equal(scripted_server_count(&f->server), 1);
        assert_int_equal(f->http_status, 400);
        assert_int_equal(f->error.kind, AWS_ERROR_PERMANENT);
        assert_string_equal(f->error.code, "ConditionalCheckFailedException");
        assert_string_equal(f->error.message, "The conditional request failed");
        assert_string_equal(f->error.request_id, "REQ-V");
}

static void test_persistent_5xx_surfaces_after_max_attempts(void **state)
{
        struct fixture *f = *state;
        struct scripted_reply unavailable = {.status = 503, .body = "Service Unavailable"};

        f->server.fallback = unavailable;
        run_call(f, &(struct aws_call_params){.service = AWS_SERVICE_SMS_VOICE,
                                              .operation = "SendTextMessage",
                                              .max_attempts = 4});
        assert_int_equal(f->r, -EREMOTEIO);
        assert_int_equal(f->attempts, 4);
        assert_int_equal(scripted_server_count(&f->server), 4);
        assert_int_equal(f->error.kind, AWS_ERROR_TRANSIENT);
        assert_int_equal(f->http_status, 503);
        assert_string_equal(recorded_header(&f->server.requests[3], "X-Amz-Target"),
                            "PinpointSMSVoiceV2.SendTextMessage");
        /* 10, 20, 40 ms: the ceiling doubles with each attempt. */
        assert_float_equal(f->history[0].delay_ms, 10., 1e-9);
        assert_float_equal(f->history[1].delay_ms, 20., 1e-9);
        assert_float_equal(f->history[2].delay_ms, 40., 1e-9);
}

static void test_retry_quota_stops_retries(void **state)
{
        struct fixture *f = *state;

        /* A fresh client whose quota holds one retry (cost 5). */
        loopback_aws_free(&f->l);
        assert_int_equal(client_setup(f, AWS_RETRY_COST), 0);

        /* The retry spends the quota; the success that follows gives it back. */
        scripted_server_script(&f->server,
                               (const struct scripted_reply[]){{.status = 500, .body = ""},
                                                               {.status = 200, .body = "{}"}},
                               2);
        run_call(f, &(struct aws_call_params){.service = AWS_SERVICE_DYNAMODB,
                                              .operation = "GetItem"});
        assert_int_equal(f->r, 0);
        assert_int_equal(f->attempts, 2);

        /* So the next call may retry once, and no more. */
        f->server.fallback = (struct scripted_reply){.status = 500, .body = ""};
        f->done = false;
        run_call(f, &(struct aws_call_params){.service = AWS_SERVICE_DYNAMODB,
                                              .operation = "GetItem"});
        assert_int_equal(f->r, -EREMOTEIO);
        assert_int_equal(f->attempts, 2);
        assert_int_equal(scripted_server_count(&f->server), 4);
}

/* ---- failures the caller sees ------------------------------------------------------------------
 */

static void test_invalid_json_in_2xx_is_bad_message(void **state)
{
        struct fixture *f = *state;

        f->server.fallback = (struct scripted_reply){
                .status = 200,
                .content_type = "application/x-amz-json-1.0",
                .headers = {{"x-amzn-RequestId", "REQ-J"}},
                .body = "{\"Item\":",
        };
        run_call(f, &(struct aws_call_params){.service = AWS_SERVICE_DYNAMODB,
                                              .operation = "GetItem"});
        assert_int_equal(f->r, -EBADMSG);
        assert_string_equal(f->error.code, "InvalidResponse");
        assert_string_equal(f->error.request_id, "REQ-J");
        assert_non_null(strstr(f->error.message, "not JSON"));
}

static void test_dropped_connection_is_transient_and_retried(void **state)
{
        struct fixture *f = *state;

        scripted_server_script(
                &f->server, (const struct scripted_reply[]){{.close = true}, {.close = true}}, 2);
        run_call(f, &(struct aws_call_params){.service = AWS_SERVICE_DYNAMODB,
                                              .operation = "GetItem"});
        /* Two connections closed without an answer, then the default {}. */
        assert_int_equal(f->r, 0);
        assert_int_equal(f->attempts, 3);
        assert_int_equal(f->history[0].kind, AWS_ERROR_TRANSIENT);
        assert_int_equal(f->history[0].local, -ECONNRESET);
        assert_int_equal(f->history[0].http_status, 0);
}

static void test_refused_connection_after_retries(void **state)
{
        struct fixture *f = *state;

        /* Nothing listens on the port any more. */
        scripted_server_stop(&f->server);
        run_call(f, &(struct aws_call_params){.service = AWS_SERVICE_DYNAMODB,
                                              .operation = "GetItem"});
        assert_int_equal(f->r, -ECONNREFUSED);
        assert_int_equal(f->attempts, 3);
        assert_string_equal(f->error.code, "ConnectionError");
        assert_int_equal(f->http_status, 0);
}

/* ---- cancellation ------------------------------------------------------------------------------
 */

static void test_cancel_during_backoff(void **state)
{
        struct fixture *f = *state;
        struct aws_call *call = NULL;

        /* A long backoff: the throttling base of a fresh client. */
        loopback_aws_free(&f->l);
        assert_int_equal(
                loopback_aws_new(f->loop, &f->server,
                                 &(struct aws_client_options){
                                         .retry = {.throttle_base_ms = 60000, .cap_ms = 60000},
                                         .random_fn = full_jitter,
                                         .random_userdata = f,
                                 },
                                 &f->l),
                0);
        f->aws = f->l.aws;
        f->server.fallback = (struct scripted_reply){
                .status = 400,
                .body = "{\"__type\":\"ThrottlingException\"}",
        };
        assert_int_equal(aws_call_start(f->aws,
                                        &(struct aws_call_params){.service = AWS_SERVICE_DYNAMODB,
                                                                  .operation = "GetItem"},
                                        call_done, f, &call),
                         0);
        assert_true(run_loop_until(f->loop, &f->retry_decided, WAIT_LIMIT));
        assert_false(f->done);
        assert_int_equal(scripted_server_count(&f->server), 1);

        aws_call_cancel(call);
        aws_call_cancel(call); /* idempotent */
        assert_false(f->done); /* completed from the loop, not from here */
        assert_true(run_loop_until(f->loop, &f->done, WAIT_LIMIT));
        assert_int_equal(f->r, -ECANCELED);
        assert_int_equal(f->attempts, 1);
        assert_int_equal(scripted_server_count(&f->server), 1);
}

static void test_client_free_completes_outstanding_calls(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(aws_call_start(f->aws,
                                        &(struct aws_call_params){.service = AWS_SERVICE_DYNAMODB,
                                                                  .operation = "GetItem"},
                                        call_done, f, NULL),
                         0);
        f->aws = f->l.aws = aws_client_free(f->aws);
        assert_true(f->done);
        assert_int_equal(f->r, -ECANCELED);
        assert_string_equal(f->error.code, "Cancelled");
}

static void count_done(struct aws_call *call, int r, const struct aws_result *res, void *userdata)
{
        struct fixture *f = userdata;

        f->heard++;
        f->r = r;
}

/* A call cancelled while it waits for credentials, then its client freed
 * before the loop turned (a shutdown does just that): the caller hears once,
 * and the credential provider frees the wait once, after the client. */
static void test_cancel_then_client_free_while_waiting_for_credentials(void **state)
{
        struct fixture *f = *state;
        struct aws_call *call = NULL;

        assert_int_equal(aws_call_start(f->aws,
                                        &(struct aws_call_params){.service = AWS_SERVICE_DYNAMODB,
                                                                  .operation = "GetItem"},
                                        count_done, f, &call),
                         0);
        aws_call_cancel(call); /* the credentials are delivered from the loop: still waiting */
        f->aws = f->l.aws = aws_client_free(f->aws);
        assert_int_equal(f->heard, 1);
        assert_int_equal(f->r, -ECANCELED);
        f->l.creds = aws_creds_provider_free(f->l.creds);
        assert_int_equal(f->heard, 1);
        assert_int_equal(scripted_server_count(&f->server), 0);
}

/* ---- refused before anything is sent ------------------------------------------------------------
 */

static void test_bad_parameters_refused(void **state)
{
        struct fixture *f = *state;
        const struct aws_call_params bad[] = {
                {.service = AWS_SERVICE_DYNAMODB, .operation = ""},
                {.service = (enum aws_service)99, .operation = "GetItem"},
                {.service = AWS_SERVICE_DYNAMODB, .operation = "GetItem", .path = "/x"},
                {.service = AWS_SERVICE_BEDROCK_AGENT_RUNTIME, .operation = "I", .path = "/a?b"},
                {.service = AWS_SERVICE_BEDROCK_AGENT_RUNTIME, .operation = "I", .path = "a"},
                {.service = AWS_SERVICE_DYNAMODB,
                 .operation = "GetItem",
                 .headers = (const struct aws_header[]){{"x-a", "v\r\nInjected: 1"}},
                 .n_headers = 1},
                {.service = AWS_SERVICE_DYNAMODB,
                 .operation = "GetItem",
                 .headers = (const struct aws_header[]){{"bad name", "v"}},
                 .n_headers = 1},
                {.service = AWS_SERVICE_DYNAMODB, .operation = "Get\nItem"},
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                if (aws_call_start(f->aws, &bad[i], call_done, f, NULL) != -EINVAL)
                        fail_msg("parameters %zu accepted", i);
        ev_run(f->loop, EVRUN_NOWAIT);
        assert_false(f->done);
        assert_int_equal(scripted_server_count(&f->server), 0);

        /* A malformed endpoint override is refused too. */
        snprintf(f->l.endpoint, sizeof(f->l.endpoint), "not a url");
        assert_int_equal(aws_call_start(f->aws,
                                        &(struct aws_call_params){.service = AWS_SERVICE_SMS_VOICE,
                                                                  .operation = "SendTextMessage"},
                                        call_done, f, NULL),
                         -EINVAL);
}

static int freed;

static void count_free(void *p)
{
        freed++;
        free(p);
}

static void never(struct aws_call *call, int r, const struct aws_result *res, void *userdata)
{
        fail_msg("the callback of a call that did not start ran");
}

static const struct aws_call_params put = {
        .service = AWS_SERVICE_DYNAMODB,
        .operation = "PutItem",
};

/* Every failure to start releases the body and, with free_state, the state:
 * nothing leaks, nothing is freed twice (the sanitizer run checks both). */
static void test_start_owned_releases(void **state)
{
        json_t *body = json_object();

        /* A call that cannot start (no client): both go. */
        freed = 0;
        json_incref(body);
        assert_int_equal(aws_call_start_owned(NULL, &put, body, never, malloc(8), count_free, NULL),
                         -EINVAL);
        assert_int_equal(freed, 1);
        assert_int_equal(body->refcount, 1);

        /* No body (it could not be built): the state goes. */
        freed = 0;
        assert_int_equal(aws_call_start_owned(NULL, &put, NULL, never, malloc(8), count_free, NULL),
                         -ENOMEM);
        assert_int_equal(freed, 1);

        /* A Query-protocol form is the body itself: no JSON body is missing, so
         * the call goes on to aws_call_start() (which refuses no client). */
        freed = 0;
        assert_int_equal(aws_call_start_owned(NULL,
                                              &(struct aws_call_params){
                                                      .service = AWS_SERVICE_SNS,
                                                      .operation = "Publish",
                                                      .raw_body = "Action=Publish",
                                                      .raw_body_len = 14,
                                              },
                                              NULL, never, malloc(8), count_free, NULL),
                         -EINVAL);
        assert_int_equal(freed, 1);

        /* No state (its allocation failed): the body goes. */
        freed = 0;
        json_incref(body);
        assert_int_equal(aws_call_start_owned(NULL, &put, body, never, NULL, count_free, NULL),
                         -ENOMEM);
        assert_int_equal(freed, 0);
        assert_int_equal(body->refcount, 1);

        /* No params. */
        json_incref(body);
        assert_int_equal(aws_call_start_owned(NULL, NULL, body, never, malloc(8), count_free, NULL),
                         -EINVAL);
        assert_int_equal(freed, 1);
        assert_int_equal(body->refcount, 1);

        /* Without free_state the state stays the caller's. */
        freed = 0;
        json_incref(body);
        assert_int_equal(aws_call_start_owned(NULL, &put, body, never, &freed, NULL, NULL),
                         -EINVAL);
        assert_int_equal(freed, 0);
        assert_int_equal(body->refcount, 1);

        json_decref(body);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_json_1_0_request_on_the_wire, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rest_json_path_labels_and_extra_headers, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_query_protocol_xml_answers, setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_transient_and_throttling_retried_with_growing_backoff, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(test_permanent_error_not_retried, setup, teardown),
                cmocka_unit_test_setup_teardown(test_persistent_5xx_surfaces_after_max_attempts,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_retry_quota_stops_retries, setup, teardown),
                cmocka_unit_test_setup_teardown(test_invalid_json_in_2xx_is_bad_message, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_dropped_connection_is_transient_and_retried,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused_connection_after_retries, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_cancel_during_backoff, setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_cancel_then_client_free_while_waiting_for_credentials, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(test_client_free_completes_outstanding_calls, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_bad_parameters_refused, setup, teardown),
                cmocka_unit_test(test_start_owned_releases),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
