/*
 * ingress_test.c — the SNS endpoint through its public API, on one libev
 * loop: deliveries POSTed over 127.0.0.1 to a real http_server whose handler
 * is ingress_handle(), the signing certificate served over HTTPS by a second
 * http_server with a throwaway CA (sns_signer.h), a real spool in a temporary
 * directory. What the sender of a delivery sees (status and reason), what is
 * in the spool when the 200 goes out, and what is fetched.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "common.h"
#include "config.h"
#include "http_client.h"
#include "http_server.h"
#include "ingress.h"
#include "spool.h"
#include "work_pool.h"

#include "http_answer.h"
#include "loop_wait.h"
#include "sns_signer.h"
#include "test_files.h"

#define WAIT_LIMIT 15.0
#define TOPIC      "arn:aws:sns:us-east-1:123456789012:twowayd-inbound"
#define CERT_PATH  "/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem"
#define SENDER     "+14255550182"
#define OUR_NUMBER "+18005550199"

struct fixture {
        struct ev_loop *loop;
        struct sns_signer pki;
        char dir[64];
        struct config *config;
        struct spool *spool;
        struct http_client *fetch_http; /* the ingress's own */
        struct http_client *sender;     /* plays SNS */
        struct http_server *endpoint;   /* our SNS endpoint */
        struct http_server *sns_host;   /* serves certificates and SubscribeURLs */
        struct ingress *ing;
        char endpoint_url[64];
        char sns_base[64]; /* https://127.0.0.1:port */
        unsigned cert_fetches, subscribe_gets, stored_calls;
        unsigned cert_status; /* what the certificate host answers; 200 by default */
        /* spool rows counted when the 200 went out, per reply */
        unsigned rows_at_reply;
};

extern size_t ingress_test_queue_max;
extern void (*ingress_test_job_started)(void);

static struct fixture *current;
/* [http] verify_threads of the run: every test runs with the worker threads
 * (the default) and again on the loop alone. */
static const char *verify_threads = "auto";

static unsigned spool_rows(struct fixture *f, enum spool_state state)
{
        struct spool_counts c;

        assert_int_equal(spool_counts(f->spool, &c), 0);
        return (unsigned)c.by_state[state];
}

static void endpoint_handler(struct http_request *req, void *userdata)
{
        struct fixture *f = userdata;

        ingress_handle(f->ing, req);
}

static void sns_host_handler(struct http_request *req, void *userdata)
{
        struct fixture *f = userdata;
        const char *path = http_request_path(req);

        if (streq(path, CERT_PATH)) {
                f->cert_fetches++;
                if (f->cert_status != 200)
                        (void)http_request_reply(req, f->cert_status, "text/plain", "no\n", 3);
                else
                        (void)http_request_reply(req, 200, "application/x-pem-file",
                                                 f->pki.signing_pem, strlen(f->pki.signing_pem));
                return;
        }
        if (streq(path, "/")) { /* SubscribeURL: ?Action=ConfirmSubscription&... */
                f->subscribe_gets++;
                (void)http_request_reply(req, 200, "text/xml", "<ConfirmSubscriptionResponse/>",
                                         30);
                return;
        }
        (void)http_request_reply(req, 404, "text/plain", "", 0);
}

static void stored_cb(void *userdata)
{
        struct fixture *f = userdata;

        f->stored_calls++;
}

static int listen_loopback(char *url, size_t size, const char *scheme)
{
        char host[64];
        int fd = -1, port;

        if (http_listen("127.0.0.1", 0, &fd) < 0)
                return -1;
        port = http_local_address(fd, host, sizeof(host));
        snprintf(url, size, "%s://127.0.0.1:%d", scheme, port);
        return fd;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct config_diag diag = {0};
        char path[128], ca[128], conf[1024];
        int fd;

        if (!f || sns_signer_new(&f->pki) < 0)
                return -1;
        f->cert_status = 200;
        f->loop = ev_loop_new(EVFLAG_AUTO);
        snprintf(f->dir, sizeof(f->dir), "/tmp/ingress-test-XXXXXX");
        if (!f->loop || !mkdtemp(f->dir))
                return -1;
        snprintf(ca, sizeof(ca), "%s/ca.pem", f->dir);
        if (write_file(ca, f->pki.ca_pem) < 0)
                return -1;

        fd = listen_loopback(f->sns_base, sizeof(f->sns_base), "https");
        if (fd < 0 || http_server_new(f->loop,
                                      &(struct http_server_options){
                                              .listen_fd = fd,
                                              .max_connections = 32,
                                              .timeout_s = 30,
                                              .max_body = 4096,
                                              .tls_cert_pem = f->pki.tls_pem,
                                              .tls_key_pem = f->pki.tls_key_pem,
                                      },
                                      sns_host_handler, f, &f->sns_host) < 0)
                return -1;

        snprintf(conf, sizeof(conf),
                 "[http]\nlisten = 127.0.0.1:0\npath = /sns\nverify_threads = %s\n"
                 "[sns]\ntopic_arns = " TOPIC "\nsigning_cert_host = ^127\\.0\\.0\\.1$\n"
                 "[aws]\nca_bundle = %s\n"
                 "[consent]\ntable = twowayd-consent\n"
                 "[agent]\nagent_id = AGENT12345\nagent_alias_id = ALIAS12345\n"
                 "[spool]\ndir = %s\n",
                 verify_threads, ca, f->dir);
        snprintf(path, sizeof(path), "%s/twowayd.conf", f->dir);
        if (write_file(path, conf) < 0 || config_load(path, &f->config, &diag) < 0) {
                config_diag_done(&diag);
                return -1;
        }
        config_diag_done(&diag);

        if (spool_open(f->loop, &(struct spool_options){.dir = f->dir}, &f->spool) < 0 ||
            http_client_new(f->loop, &(struct http_client_options){.ca_bundle = ca},
                            &f->fetch_http) < 0 ||
            http_client_new(f->loop, &(struct http_client_options){0}, &f->sender) < 0 ||
            ingress_new(f->loop, f->config, f->spool, f->fetch_http, stored_cb, f, &f->ing) < 0)
                return -1;

        fd = listen_loopback(f->endpoint_url, sizeof(f->endpoint_url), "http");
        if (fd < 0 || http_server_new(f->loop,
                                      &(struct http_server_options){
                                              .listen_fd = fd,
                                              .max_connections = 32,
                                              .timeout_s = 30,
                                              .max_body = 64 * 1024,
                                      },
                                      endpoint_handler, f, &f->endpoint) < 0)
                return -1;
        current = f;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        /* The order ingress.h asks for. */
        http_server_free(f->endpoint);
        http_client_free(f->sender);
        spool_free(f->spool);
        http_client_free(f->fetch_http);
        ingress_free(f->ing);
        http_server_free(f->sns_host);
        config_free(f->config);
        ev_loop_destroy(f->loop);
        sns_signer_free(&f->pki);
        (void)remove_tree(f->dir);
        free(f);
        return 0;
}

/* ---- deliveries -------------------------------------------------------------------------------
 */

static void now_iso(char *buf, size_t size, long seconds_ago)
{
        time_t t = time(NULL) - seconds_ago;
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* The inbound SMS SNS carries in Message. */
static char *sms_message(const char *inbound_id, const char *from, const char *text)
{
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "originationNumber", from,
                              "destinationNumber", OUR_NUMBER, "messageKeyword", "KEYWORD_1",
                              "messageBody", text, "inboundMessageId", inbound_id,
                              "previousPublishedMessageId", "prev-1");
        char *s = json_dumps(o, JSON_COMPACT);

        json_decref(o);
        assert_non_null(s);
        return s;
}

/* A Notification as SNS signs it, with our certificate host in SigningCertURL. */
static json_t *notification(struct fixture *f, const char *message_id, const char *message,
                            const char *topic, long age_s)
{
        char ts[32], cert_url[160];
        json_t *o;

        now_iso(ts, sizeof(ts), age_s);
        snprintf(cert_url, sizeof(cert_url), "%s" CERT_PATH, f->sns_base);
        o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "Type", "Notification", "MessageId",
                      message_id, "TopicArn", topic, "Message", message, "Timestamp", ts,
                      "SignatureVersion", "2", "SigningCertURL", cert_url, "UnsubscribeURL",
                      "https://127.0.0.1/?Action=Unsubscribe");
        assert_non_null(o);
        assert_int_equal(sns_signer_sign(&f->pki, o), 0);
        return o;
}

static void answer_cb(struct http_transfer *t, int r, const struct http_client_response *resp,
                      void *userdata)
{
        struct fixture *f = current;

        (void)t;
        answer_keep(userdata, r, resp);
        f->rows_at_reply = spool_rows(f, SPOOL_STATE_PENDING) + spool_rows(f, SPOOL_STATE_DEAD);
}

/* POST a delivery with the headers SNS sends (taken from the body unless
 * overridden); does not wait. */
static void deliver_start(struct fixture *f, const json_t *o, const char *extra_header,
                          struct answer *a)
{
        char type[64], id[96], topic[160], url[96];
        const char *headers[5];
        size_t n = 0;
        char *body = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

        assert_non_null(body);
        snprintf(type, sizeof(type), "x-amz-sns-message-type: %s",
                 json_string_value(json_object_get(o, "Type")));
        snprintf(id, sizeof(id), "x-amz-sns-message-id: %s",
                 json_string_value(json_object_get(o, "MessageId")));
        snprintf(topic, sizeof(topic), "x-amz-sns-topic-arn: %s",
                 json_string_value(json_object_get(o, "TopicArn")));
        headers[n++] = "Content-Type: text/plain; charset=UTF-8";
        headers[n++] = type;
        headers[n++] = id;
        headers[n++] = topic;
        if (extra_header)
                headers[n++] = extra_header;
        snprintf(url, sizeof(url), "%s/sns", f->endpoint_url);
        assert_int_equal(http_client_start(f->sender,
                                           &(struct http_client_req){
                                                   .method = "POST",
                                                   .url = url,
                                                   .headers = headers,
                                                   .n_headers = n,
                                                   .body = body,
                                                   .body_len = strlen(body),
                                           },
                                           answer_cb, a, NULL),
                         0);
        free(body);
}

static struct answer deliver(struct fixture *f, const json_t *o, const char *extra_header)
{
        struct answer a = {0};

        deliver_start(f, o, extra_header, &a);
        assert_true(run_loop_until(f->loop, &a.done, WAIT_LIMIT));
        return a;
}

static void deliver_raw(struct fixture *f, const char *body, const char *type, struct answer *a)
{
        char url[96], type_header[64];
        const char *headers[1] = {type_header};

        snprintf(url, sizeof(url), "%s/sns", f->endpoint_url);
        snprintf(type_header, sizeof(type_header), "x-amz-sns-message-type: %s", type);
        assert_int_equal(http_client_start(f->sender,
                                           &(struct http_client_req){
                                                   .method = "POST",
                                                   .url = url,
                                                   .headers = headers,
                                                   .n_headers = type ? 1 : 0,
                                                   .body = body,
                                                   .body_len = strlen(body),
                                           },
                                           answer_cb, a, NULL),
                         0);
        assert_true(run_loop_until(f->loop, &a->done, WAIT_LIMIT));
}

/* ---- tests -------------------------------------------------------------------------------------
 */

static void test_stored_before_acknowledged_and_stored_once(void **state)
{
        struct fixture *f = *state;
        char *sms = sms_message("in-1", SENDER, "Hello there");
        json_t *o = notification(f, "m-1", sms, TOPIC, 0);
        struct answer a = deliver(f, o, NULL), again;
        struct spool_row **rows = NULL;

        assert_int_equal(a.status, 200);
        /* The row was committed when the 200 went out. */
        assert_int_equal(f->rows_at_reply, 1);
        assert_int_equal(f->stored_calls, 1);
        assert_int_equal(f->cert_fetches, 1);
        assert_int_equal(spool_list(f->spool, SPOOL_STATE_PENDING, 0, 10, &rows), 1);
        assert_string_equal(rows[0]->sns_message_id, "m-1");
        assert_string_equal(rows[0]->inbound_message_id, "in-1");
        assert_string_equal(rows[0]->origination_number, SENDER);
        assert_string_equal(rows[0]->destination_number, OUR_NUMBER);
        assert_string_equal(rows[0]->body, "Hello there");
        assert_string_equal(rows[0]->topic_arn, TOPIC);
        spool_rows_free(rows);

        /* SNS redelivers: acknowledged again, stored once, nothing fetched. */
        again = deliver(f, o, NULL);
        assert_int_equal(again.status, 200);
        assert_int_equal(spool_rows(f, SPOOL_STATE_PENDING), 1);
        assert_int_equal(f->stored_calls, 1);
        assert_int_equal(f->cert_fetches, 1);
        json_decref(o);
        free(sms);

        /* A STOP is stored as an opt-out, so that it can jump the queue. */
        sms = sms_message("in-2", SENDER, "stop");
        o = notification(f, "m-2", sms, TOPIC, 0);
        a = deliver(f, o, NULL);
        assert_int_equal(a.status, 200);
        assert_int_equal(spool_list(f->spool, SPOOL_STATE_PENDING, 0, 10, &rows), 2);
        assert_string_equal(rows[1]->body, "stop");
        assert_int_equal(rows[1]->keyword_class, SPOOL_CLASS_OPT_OUT);
        assert_int_equal(rows[0]->keyword_class, SPOOL_CLASS_OTHER);
        spool_rows_free(rows);
        json_decref(o);
        free(sms);
}

static void test_concurrent_deliveries_share_one_certificate_fetch(void **state)
{
        struct fixture *f = *state;
        struct answer a[4] = {0};
        json_t *o[4];

        for (size_t i = 0; i < ARRAY_SIZE(o); i++) {
                char id[16], in[16], *sms;

                snprintf(id, sizeof(id), "m-%zu", i);
                snprintf(in, sizeof(in), "in-%zu", i);
                sms = sms_message(in, SENDER, "hi");
                o[i] = notification(f, id, sms, TOPIC, 0);
                free(sms);
                deliver_start(f, o[i], NULL, &a[i]);
        }
        for (size_t i = 0; i < ARRAY_SIZE(o); i++) {
                assert_true(run_loop_until(f->loop, &a[i].done, WAIT_LIMIT));
                assert_int_equal(a[i].status, 200);
                json_decref(o[i]);
        }
        assert_int_equal(f->cert_fetches, 1);
        assert_int_equal(spool_rows(f, SPOOL_STATE_PENDING), 4);
}

static void test_refusals_store_nothing(void **state)
{
        struct fixture *f = *state;
        char *sms = sms_message("in-1", SENDER, "Hello");
        json_t *foreign =
                notification(f, "m-1", sms, "arn:aws:sns:us-east-1:999999999999:other", 0);
        json_t *tampered = notification(f, "m-2", sms, TOPIC, 0);
        json_t *old = notification(f, "m-3", sms, TOPIC, 30L * 86400);
        json_t *elsewhere = notification(f, "m-4", sms, TOPIC, 0);
        struct answer a;

        /* A topic that is not ours: 403, and its certificate is never fetched. */
        a = deliver(f, foreign, NULL);
        assert_int_equal(a.status, 403);
        assert_string_equal(a.body, "topic not allowed\n");
        assert_int_equal(f->cert_fetches, 0);

        /* A certificate on a host that fails the rule is never fetched. */
        json_object_set_new(elsewhere, "SigningCertURL",
                            json_string("https://sns.example.com" CERT_PATH));
        a = deliver(f, elsewhere, NULL);
        assert_int_equal(a.status, 403);
        assert_int_equal(f->cert_fetches, 0);

        /* Changed after signing. */
        json_object_set_new(tampered, "Message", json_string("{\"messageBody\":\"evil\"}"));
        a = deliver(f, tampered, NULL);
        assert_int_equal(a.status, 403);
        assert_string_equal(a.body, "signature does not verify\n");

        /* Signed, but older than the redelivery window. */
        a = deliver(f, old, NULL);
        assert_int_equal(a.status, 403);
        assert_string_equal(a.body, "Timestamp older than the redelivery window (replay?)\n");

        /* Raw delivery carries no signature. */
        a = deliver(f, foreign, "x-amz-sns-rawdelivery: true");
        assert_int_equal(a.status, 400);

        assert_int_equal(spool_rows(f, SPOOL_STATE_PENDING), 0);
        assert_int_equal(spool_rows(f, SPOOL_STATE_DEAD), 0);
        assert_int_equal(f->stored_calls, 0);
        json_decref(foreign);
        json_decref(tampered);
        json_decref(old);
        json_decref(elsewhere);
        free(sms);
}

static void test_malformed_deliveries_get_400(void **state)
{
        struct fixture *f = *state;
        char *sms = sms_message("in-1", SENDER, "Hello");
        json_t *o = notification(f, "m-1", sms, TOPIC, 0);
        char *good = json_dumps(o, JSON_COMPACT);
        struct answer a[4] = {0};

        deliver_raw(f, "this is not json", "Notification", &a[0]);
        deliver_raw(f, "{\"Type\":\"Notification\"}", "Notification", &a[1]);
        deliver_raw(f, good, NULL, &a[2]);                       /* no type header */
        deliver_raw(f, good, "SubscriptionConfirmation", &a[3]); /* header disagrees */
        for (size_t i = 0; i < ARRAY_SIZE(a); i++)
                if (a[i].status != 400)
                        fail_msg("case %zu: %ld %s", i, a[i].status, a[i].body);
        assert_int_equal(spool_rows(f, SPOOL_STATE_PENDING), 0);
        assert_int_equal(f->cert_fetches, 0);
        free(good);
        json_decref(o);
        free(sms);
}

static void test_certificate_unavailable_gives_503(void **state)
{
        struct fixture *f = *state;
        char *sms = sms_message("in-1", SENDER, "Hello");
        json_t *o = notification(f, "m-1", sms, TOPIC, 0);
        struct answer a;

        f->cert_status = 500;
        a = deliver(f, o, NULL);
        assert_int_equal(a.status, 503); /* SNS retries a 5xx */
        assert_int_equal(f->cert_fetches, 1);
        assert_int_equal(spool_rows(f, SPOOL_STATE_PENDING), 0);
        json_decref(o);
        free(sms);
}

static void test_unusable_sms_is_acknowledged_and_stored_dead(void **state)
{
        struct fixture *f = *state;
        char *sms = sms_message("in-1", "not a number", "Hello");
        json_t *o = notification(f, "m-1", sms, TOPIC, 0);
        struct answer a = deliver(f, o, NULL);

        assert_int_equal(a.status, 200);
        assert_string_equal(a.body, "stored as dead\n");
        assert_int_equal(f->rows_at_reply, 1);
        assert_int_equal(spool_rows(f, SPOOL_STATE_DEAD), 1);
        assert_int_equal(spool_rows(f, SPOOL_STATE_PENDING), 0);
        json_decref(o);
        free(sms);
}

static bool subscribe_url_fetched(const void *arg)
{
        return ((const struct fixture *)arg)->subscribe_gets >= 1;
}

static void test_subscription_confirmed_once_unsubscribe_not_undone(void **state)
{
        struct fixture *f = *state;
        char ts[32], cert_url[160], subscribe[256];
        json_t *conf, *unsub;
        struct answer a;

        now_iso(ts, sizeof(ts), 0);
        snprintf(cert_url, sizeof(cert_url), "%s" CERT_PATH, f->sns_base);
        snprintf(subscribe, sizeof(subscribe),
                 "%s/?Action=ConfirmSubscription&TopicArn=" TOPIC "&Token=tok1", f->sns_base);
        conf = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "Type",
                         "SubscriptionConfirmation", "MessageId", "c-1", "Token", "tok1",
                         "TopicArn", TOPIC, "Message", "You have chosen to subscribe.",
                         "SubscribeURL", subscribe, "Timestamp", ts, "SignatureVersion", "2",
                         "SigningCertURL", cert_url);
        assert_int_equal(sns_signer_sign(&f->pki, conf), 0);

        a = deliver(f, conf, NULL);
        assert_int_equal(a.status, 200);
        /* The GET happens after the 200, from the loop. */
        assert_true(run_loop_while_not(f->loop, subscribe_url_fetched, f, WAIT_LIMIT));
        /* Redelivered: acknowledged, not fetched again. */
        a = deliver(f, conf, NULL);
        assert_int_equal(a.status, 200);
        assert_int_equal(f->subscribe_gets, 1);

        unsub = json_copy(conf);
        json_object_set_new(unsub, "Type", json_string("UnsubscribeConfirmation"));
        json_object_set_new(unsub, "MessageId", json_string("u-1"));
        assert_int_equal(sns_signer_sign(&f->pki, unsub), 0);
        a = deliver(f, unsub, NULL);
        assert_int_equal(a.status, 200);
        assert_int_equal(f->subscribe_gets, 1); /* never re-subscribed */
        assert_int_equal(spool_rows(f, SPOOL_STATE_PENDING), 0);
        json_decref(conf);
        json_decref(unsub);
}

/* A new signing key and certificate at the same URL, as when SNS rotates it. */
static void rotate_signing_certificate(struct sns_signer *p, EVP_PKEY **ret_old_key)
{
        EVP_PKEY *key = EVP_RSA_gen(2048);
        X509 *cert;

        assert_non_null(key);
        cert = signer_cert(key, "sns.amazonaws.com", "DNS:sns.amazonaws.com", p->ca, p->ca_key, 4);
        assert_non_null(cert);
        *ret_old_key = p->signing_key;
        p->signing_key = key;
        X509_free(p->signing);
        p->signing = cert;
        free(p->signing_pem);
        p->signing_pem = signer_pem(cert, NULL);
        assert_non_null(p->signing_pem);
}

static json_t *notification_signed_by(struct fixture *f, EVP_PKEY *key, const char *id,
                                      const char *in)
{
        EVP_PKEY *kept = f->pki.signing_key;
        char *sms = sms_message(in, SENDER, "Hello");
        json_t *o;

        f->pki.signing_key = key;
        o = notification(f, id, sms, TOPIC, 0);
        f->pki.signing_key = kept;
        free(sms);
        return o;
}

/* ---- a full verification queue ----------------------------------------------------------------
 */

/* The workers' jobs wait at a gate; the test counts those that reached it. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static unsigned at_gate;

static void job_at_gate(void)
{
        pthread_mutex_lock(&gate_lock);
        at_gate++;
        while (!gate_open)
                pthread_cond_wait(&gate_cond, &gate_lock);
        pthread_mutex_unlock(&gate_lock);
}

static unsigned jobs_at_gate(void)
{
        unsigned n;

        pthread_mutex_lock(&gate_lock);
        n = at_gate;
        pthread_mutex_unlock(&gate_lock);
        return n;
}

static void gate_release(void)
{
        pthread_mutex_lock(&gate_lock);
        gate_open = true;
        pthread_cond_broadcast(&gate_cond);
        pthread_mutex_unlock(&gate_lock);
}

static int setup_small_queue(void **state)
{
        gate_open = false;
        at_gate = 0;
        ingress_test_queue_max = 1;
        ingress_test_job_started = job_at_gate;
        return setup(state);
}

static int teardown_gated(void **state)
{
        gate_release(); /* before the pool joins its workers */
        ingress_test_job_started = NULL;
        ingress_test_queue_max = 1024;
        return teardown(state);
}

static int setup_gated(void **state)
{
        gate_open = false;
        at_gate = 0;
        ingress_test_job_started = job_at_gate;
        return setup(state);
}

static bool one_job_at_gate(const void *arg)
{
        (void)arg;
        return jobs_at_gate() >= 1;
}

/* The worker checks a signature, while it parses, with the key of the
 * certificate that verified the last delivery naming the same URL; that
 * verdict counts only if the loop then finds that very certificate. Here a
 * delivery signed with the old key is being parsed when the URL starts
 * serving a new certificate and a reload empties the cache: it is refused,
 * and one signed with the new key is stored. */
static void test_signature_counts_only_with_the_certificate_the_loop_finds(void **state)
{
        struct fixture *f = *state;
        EVP_PKEY *old_key = NULL;
        json_t *first = notification_signed_by(f, f->pki.signing_key, "m-1", "in-1");
        json_t *old = notification_signed_by(f, f->pki.signing_key, "m-2", "in-2");
        json_t *fresh;
        struct answer a = {0};

        gate_release();
        a = deliver(f, first, NULL);
        assert_int_equal(a.status, 200);
        assert_int_equal(f->cert_fetches, 1);
        pthread_mutex_lock(&gate_lock);
        gate_open = false;
        at_gate = 0;
        pthread_mutex_unlock(&gate_lock);

        memset(&a, 0, sizeof(a));
        deliver_start(f, old, NULL, &a);
        assert_true(run_loop_while_not(f->loop, one_job_at_gate, f, WAIT_LIMIT));
        rotate_signing_certificate(&f->pki, &old_key);
        assert_int_equal(ingress_set_config(f->ing, f->config), 0); /* SIGHUP */
        gate_release();
        assert_true(run_loop_until(f->loop, &a.done, WAIT_LIMIT));
        assert_int_equal(a.status, 403);
        assert_string_equal(a.body, "signature does not verify\n");
        assert_int_equal(f->cert_fetches, 2);

        fresh = notification_signed_by(f, f->pki.signing_key, "m-3", "in-3");
        a = deliver(f, fresh, NULL);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.body, "stored\n");
        a = deliver(f, old, NULL);
        assert_int_equal(a.status, 403);
        assert_int_equal(f->cert_fetches, 2);
        assert_int_equal(spool_rows(f, SPOOL_STATE_PENDING), 2);
        json_decref(first);
        json_decref(old);
        json_decref(fresh);
        EVP_PKEY_free(old_key);
}

static bool every_worker_at_gate(const void *arg)
{
        struct work_pool_stats st;

        ingress_get_pool_stats(((const struct fixture *)arg)->ing, &st);
        return jobs_at_gate() == st.threads;
}

static bool one_job_queued(const void *arg)
{
        struct work_pool_stats st;

        ingress_get_pool_stats(((const struct fixture *)arg)->ing, &st);
        return st.queued == 1;
}

/* Counts the lines of path holding both needles. */
static unsigned lines_with(const char *path, const char *a, const char *b)
{
        FILE *fp = fopen(path, "re");
        char line[4096];
        unsigned n = 0;

        assert_non_null(fp);
        while (fgets(line, sizeof(line), fp))
                n += strstr(line, a) && strstr(line, b);
        fclose(fp);
        return n;
}

/* Every worker busy and the queue full: the next delivery gets 503 with one
 * log event giving the reason, and nothing of it is stored; the queued and
 * running ones are stored once the workers get on, and SNS's redelivery of
 * the refused one is stored then. */
static void test_full_verification_queue_gets_503_then_redelivery_is_stored(void **state)
{
        struct fixture *f = *state;
        struct work_pool_stats st;
        struct answer warm = {0}, *busy, refused = {0}, retry = {0};
        json_t **o;
        char log_path[96];
        unsigned n_busy;
        int saved, fd;

        /* The certificate fetched and the signer known, so that each later
         * delivery is one job. */
        o = calloc(1, sizeof(*o));
        o[0] = notification_signed_by(f, f->pki.signing_key, "m-warm", "in-warm");
        gate_release();
        warm = deliver(f, o[0], NULL);
        assert_int_equal(warm.status, 200);
        json_decref(o[0]);
        free(o);
        pthread_mutex_lock(&gate_lock);
        gate_open = false;
        at_gate = 0;
        pthread_mutex_unlock(&gate_lock);

        ingress_get_pool_stats(f->ing, &st);
        assert_true(st.threads >= 1);
        assert_int_equal(st.queue_max, 1);
        n_busy = st.threads + 1; /* one per worker, and one in the queue */
        busy = calloc(n_busy, sizeof(*busy));
        o = calloc(n_busy + 1, sizeof(*o));
        assert_non_null(busy);
        assert_non_null(o);
        for (unsigned i = 0; i <= n_busy; i++) {
                char id[16], in[16];

                snprintf(id, sizeof(id), "m-%u", i);
                snprintf(in, sizeof(in), "in-%u", i);
                o[i] = notification_signed_by(f, f->pki.signing_key, id, in);
        }
        for (unsigned i = 0; i < st.threads; i++)
                deliver_start(f, o[i], NULL, &busy[i]);
        assert_true(run_loop_while_not(f->loop, every_worker_at_gate, f, WAIT_LIMIT));
        deliver_start(f, o[st.threads], NULL, &busy[st.threads]);
        assert_true(run_loop_while_not(f->loop, one_job_queued, f, WAIT_LIMIT));
        ingress_get_pool_stats(f->ing, &st);
        assert_int_equal(st.busy, st.threads);

        snprintf(log_path, sizeof(log_path), "%s/stderr.log", f->dir);
        fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        saved = dup(STDERR_FILENO);
        assert_true(saved >= 0);
        assert_true(dup2(fd, STDERR_FILENO) >= 0);
        deliver_start(f, o[n_busy], NULL, &refused);
        (void)run_loop_until(f->loop, &refused.done, WAIT_LIMIT);
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        close(fd);
        assert_true(refused.done);
        assert_int_equal(refused.status, 503); /* SNS retries a 5xx */
        assert_string_equal(refused.body, "too busy: verification queue full, try later\n");
        assert_int_equal(lines_with(log_path, "\"sns.refused\"", "verification queue full"), 1);
        assert_int_equal(lines_with(log_path, "\"sns.refused\"", ""), 1);
        assert_int_equal(f->rows_at_reply, 1); /* the warm-up's row alone */
        for (unsigned i = 0; i < n_busy; i++)
                assert_false(busy[i].done);

        gate_release();
        for (unsigned i = 0; i < n_busy; i++) {
                assert_true(run_loop_until(f->loop, &busy[i].done, WAIT_LIMIT));
                assert_int_equal(busy[i].status, 200);
        }
        assert_int_equal(spool_rows(f, SPOOL_STATE_PENDING), 1 + n_busy);

        /* SNS delivers the refused one again: stored now, once. */
        retry = deliver(f, o[n_busy], NULL);
        assert_int_equal(retry.status, 200);
        assert_string_equal(retry.body, "stored\n");
        assert_int_equal(spool_rows(f, SPOOL_STATE_PENDING), 2 + n_busy);
        assert_int_equal(f->cert_fetches, 1);
        for (unsigned i = 0; i <= n_busy; i++)
                json_decref(o[i]);
        free(o);
        free(busy);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_stored_before_acknowledged_and_stored_once,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_concurrent_deliveries_share_one_certificate_fetch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refusals_store_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_malformed_deliveries_get_400, setup, teardown),
                cmocka_unit_test_setup_teardown(test_certificate_unavailable_gives_503, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_unusable_sms_is_acknowledged_and_stored_dead,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_subscription_confirmed_once_unsubscribe_not_undone, setup, teardown),
        };
        const struct CMUnitTest pool_tests[] = {
                cmocka_unit_test_setup_teardown(
                        test_full_verification_queue_gets_503_then_redelivery_is_stored,
                        setup_small_queue, teardown_gated),
                cmocka_unit_test_setup_teardown(
                        test_signature_counts_only_with_the_certificate_the_loop_finds, setup_gated,
                        teardown_gated),
        };
        int failed;

        failed = cmocka_run_group_tests_name("ingress, verify_threads = auto", tests, NULL, NULL);
        failed +=
                cmocka_run_group_tests_name("ingress, worker threads held", pool_tests, NULL, NULL);
        verify_threads = "0";
        failed += cmocka_run_group_tests_name("ingress, verify_threads = 0", tests, NULL, NULL);
        return failed;
}
