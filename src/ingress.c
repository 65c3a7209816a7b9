/*
 * ingress.c — SNS deliveries: verified, stored, then acknowledged.
 *
 * A delivery lives from the POST until its reply. Its steps are all either
 * immediate or callbacks on the loop (certificate fetch, spool commit), so a
 * slow certificate host or a disk flush parks the HTTP connection, never the
 * loop. The reply is sent exactly once, by delivery_finish().
 *
 * With [http] verify_threads above 0, the CPU-bound steps run on a pool of
 * worker threads (work_pool.h has the pool's invariants), as a job of the
 * delivery's own, and the delivery carries on on the loop when the job is
 * done. Usually one job does everything, so a delivery crosses to a worker
 * and back once:
 *   PARSE   sns_message_parse() of a copy of the body (the server's buffer is
 *           the loop's); then, when the SigningCertURL is the one of the last
 *           delivery whose signature verified, sns_verify_signature() with
 *           that certificate's key (the job's signer, a reference of its own:
 *           the cache may evict the certificate meanwhile), and for a
 *           Notification inbound_sms_parse(). The headers, topic, URL rule
 *           and the certificate lookup or fetch follow on the loop, which
 *           alone calls sns_cert_fetch.h (the cache, the fetches, their
 *           waiters); the worker's signature check counts only when the
 *           loop's lookup finds that very certificate (the same X509, not
 *           only the same URL), so the checks and their order are those of
 *           the loop alone;
 *   VERIFY  otherwise (the first delivery, another certificate, one fetched
 *           or replaced meanwhile): a second job, sns_verify_signature() with
 *           the certificate the loop found, and inbound_sms_parse(); that
 *           certificate becomes the signer guessed for the next deliveries.
 * The replay window, the keyword class, the spool or cluster record and the
 * reply follow on the loop. A signer is built on the loop before the job
 * that uses it is submitted and never changed after, and only the loop
 * counts its references. While a job is in the pool the loop touches none of
 * the fields it reads or writes (body, msg, signer, the results); the loop
 * keeps req, the spool, the log, metrics and everything of the ingress. A
 * job's connection that goes away meanwhile (the server being freed) clears
 * req as before: a job still queued is taken back and the delivery freed at
 * once; a running one is dropped when it comes back, unanswered and
 * unstored, so SNS retries it. A full queue answers 503 with the refusal's
 * one log event. Nothing is acknowledged before it is stored, so a job
 * dropped on shutdown loses nothing that was acknowledged, and since every
 * result goes through the loop, a reply is still sent once, by
 * delivery_finish(). SIGHUP changes nothing a job uses (the trust store,
 * rules and keywords are the loop's; a reload empties the certificate cache,
 * so a job's signer no longer matches what the loop finds, and is dropped),
 * and the pool's size is fixed at start.
 */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <time.h>

#include <ev.h>
#include <microhttpd.h>
#include <openssl/x509.h>

#include "aws.h"
#include "aws_names.h"
#include "cluster.h"
#include "config.h"
#include "ddb.h"
#include "http_client.h"
#include "http_server.h"
#include "inbound_sms.h"
#include "ingress.h"
#include "keyword.h"
#include "keyword_config.h"
#include "log.h"
#include "metrics.h"
#include "sns_cert.h"
#include "sns_cert_fetch.h"
#include "sns_message.h"
#include "sns_verify.h"
#include "spool.h"
#include "work_pool.h"

#define CONFIRM_ATTEMPTS      4
#define CONFIRM_FIRST_DELAY_S 1.0
#define CONFIRM_TIMEOUT_MS    10000
#define CONFIRM_MAX_RESPONSE  (64 * 1024)
/* Subscription confirmations being fetched at once, and the MessageIds of
 * those done lately (a redelivered confirmation is not fetched again). */
#define CONFIRMS_PENDING_MAX 8
#define CONFIRMS_RECENT      32
/* Jobs waiting for a worker thread at most; beyond, 503 and SNS retries. At
 * 70 us of work each, a full queue is ~70 ms of one thread's work. */
#define VERIFY_QUEUE_MAX 1024
#define QUEUE_FULL       "too busy: verification queue full, try later"

#ifdef TWOWAYD_UNIT_TEST
/* The queue's bound for the next ingress_new(), and a call at the start of
 * every job on the worker thread (set before ingress_new()). */
size_t ingress_test_queue_max = VERIFY_QUEUE_MAX;
void (*ingress_test_job_started)(void);
#endif

/* A certificate that verified a delivery's signature, and the SigningCertURL
 * that named it: the worker of the next delivery naming that URL verifies
 * with its key while parsing. Immutable once built; refs on the loop only. */
struct signer {
        unsigned refs;  /* the ingress's and each job's */
        char *cert_url; /* as written in the delivery */
        X509 *cert;     /* a reference of ours: compared with what the cache finds */
        EVP_PKEY *pkey; /* a reference of ours, for the workers */
};

struct delivery {
        struct ingress *ing;
        struct http_request *req; /* NULL once the server gave up on it */
        struct sns_message *msg;
        ev_tstamp started;
        char client[64];
        char inbound_id[160];      /* for the log line once stored */
        char phone[LOG_PHONE_MAX]; /* masked sender */
        struct inbound_sms *sms;   /* [cluster]: while the record is being written */
        enum spool_class keyword_class;
        int64_t received_at;   /* [cluster]: the SNS Timestamp in ms; 0: the time of the put */
        struct aws_call *call; /* [cluster]: the record's PutItem */
        struct delivery *prev, *next; /* ing->deliveries */

        /* With worker threads: the job's fields (see the top of this file). */
        struct work_job job;
        bool in_pool;   /* submitted, done not yet called */
        bool verifying; /* the job is VERIFY (else PARSE) */
        void *body;     /* PARSE: a copy of the request body */
        size_t body_len;
        struct signer *signer; /* PARSE: the guess, may be NULL; VERIFY: the one found */
        int parse_r;           /* PARSE: sns_message_parse() */
        const char *parse_reason;
        bool sig_checked; /* sns_verify_signature() done, with signer's key */
        int sig_r;
        const char *sig_reason;
        bool sms_parsed; /* and for a Notification that verified: inbound_sms_parse() */
        int sms_r;       /* its result, the SMS in sms */
        const char *sms_reason;
};

/* One SubscribeURL confirmation, retried on its own timer. */
struct confirm {
        struct ingress *ing;
        char *url;
        char *topic_arn;
        char *message_id;
        unsigned attempt;
        ev_timer retry;
        struct http_transfer *transfer;
        struct confirm *next;
};

struct ingress {
        struct ev_loop *loop;
        const struct config *config;
        struct spool *spool;
        struct http_client *http;
        struct cluster *cluster; /* [cluster] table set: once the AWS client exists */
        ingress_stored_fn stored;
        void *stored_userdata;
        X509_STORE *trust;
        regex_t host_rule;
        bool has_host_rule;
        struct sns_cert_fetch *certs;   /* fetched once per URL, checked, cached */
        struct keyword_rules *keywords; /* the class stored with each message */
        struct confirm *confirms;
        unsigned n_confirms;
        char *confirmed[CONFIRMS_RECENT]; /* MessageIds, a ring */
        unsigned confirmed_next;
        struct delivery *deliveries;
        struct metrics_family *m_deliveries; /* {type, outcome} */
        struct metrics_family *m_refusals;   /* {reason} */
        struct metrics_family *m_ack;        /* seconds from request to answer */
        struct metrics_family *m_certs;      /* {result}: cache hit, miss, negative */
        struct work_pool *pool;              /* NULL: verify_threads=0, all on the loop */
        struct signer *signer;               /* of the last signature verified by a worker */
};

static struct signer *signer_unref(struct signer *s)
{
        if (s && --s->refs == 0) {
                free(s->cert_url);
                X509_free(s->cert);
                EVP_PKEY_free(s->pkey);
                free(s);
        }
        return NULL;
}

static struct signer *signer_ref(struct signer *s)
{
        if (s)
                s->refs++;
        return s;
}

/* One reference, or NULL (out of memory, or no usable key). */
static struct signer *signer_new(const char *cert_url, X509 *cert)
{
        struct signer *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->refs = 1;
        s->cert_url = strdup(cert_url);
        s->pkey = X509_get_pubkey(cert);
        if (!s->cert_url || !s->pkey || !X509_up_ref(cert))
                return signer_unref(s);
        s->cert = cert;
        return s;
}

static const char *delivery_type(const struct delivery *d)
{
        return d->msg ? sns_message_type_to_string(d->msg->type) : "unknown";
}

static void count_delivery(const struct delivery *d, const char *outcome)
{
        (void)metrics_counter_inc(d->ing->m_deliveries, METRICS_LABELS(delivery_type(d), outcome));
}

/* ---- replies ------------------------------------------------------------------ */

static void delivery_free(struct delivery *d)
{
        struct ingress *ing = d->ing;

        if (d->prev)
                d->prev->next = d->next;
        else
                ing->deliveries = d->next;
        if (d->next)
                d->next->prev = d->prev;
        sns_message_free(d->msg);
        inbound_sms_free(d->sms);
        free(d->body);
        signer_unref(d->signer);
        free(d);
}

static double delivery_ms(const struct delivery *d)
{
        return (ev_time() - d->started) * 1000.0;
}

/* The one exit of a delivery: answer (if the connection still waits) and free. */
static void delivery_finish(struct delivery *d, unsigned status, const char *text)
{
        (void)metrics_histogram_observe(d->ing->m_ack, METRICS_NO_LABELS, ev_time() - d->started);
        if (d->req) {
                http_request_set_cancel(d->req, NULL, NULL);
                http_request_reply(d->req, status, "text/plain; charset=utf-8", text, strlen(text));
        }
        delivery_free(d);
}

static void delivery_refuse(struct delivery *d, unsigned status, const char *reason)
{
        char code[8];
        char text[160];

        snprintf(code, sizeof(code), "%u", status);
        log_warning("sns.refused",
                    LOG_FIELDS(LF("REASON", reason), LF("CLIENT", d->client),
                               LF("HTTP_STATUS", code),
                               LF("SNS_MESSAGE_ID", d->msg ? d->msg->message_id : NULL),
                               LF("TOPIC_ARN", d->msg ? d->msg->topic_arn : NULL)),
                    "refused SNS delivery from %s with %u: %s", d->client, status, reason);
        snprintf(text, sizeof(text), "%s\n", reason);
        count_delivery(d, status >= 500 ? "unavailable" : "refused");
        (void)metrics_counter_inc(d->ing->m_refusals, METRICS_LABELS(reason));
        delivery_finish(d, status, text);
}

/* The HTTP server is going away with this request unanswered. */
static void delivery_cancel_cb(struct http_request *req, void *userdata)
{
        struct delivery *d = userdata;

        d->req = NULL;
        /* A job not started yet is taken back: nothing else refers to d. */
        if (d->in_pool && work_pool_cancel(d->ing->pool, &d->job))
                delivery_free(d);
}

/* ---- storing ----------------------------------------------------------------- */

static void stored_cb(struct spool *s, int r, int64_t id, void *userdata)
{
        struct delivery *d = userdata;
        struct ingress *ing = d->ing;
        char spool_id[24], ack_ms[24];

        snprintf(spool_id, sizeof(spool_id), "%lld", (long long)id);
        snprintf(ack_ms, sizeof(ack_ms), "%.1f", delivery_ms(d));
        if (r < 0) {
                log_error_errno(r, "sns.spool_failed",
                                LOG_FIELDS(LF("SNS_MESSAGE_ID", d->msg->message_id),
                                           LF("CLIENT", d->client)),
                                "cannot store SNS message %s, answering 503 so SNS retries: %m",
                                d->msg->message_id);
                count_delivery(d, "unavailable");
                delivery_finish(d, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot store message\n");
                return;
        }
        if (r == 1) {
                log_info("sns.duplicate",
                         LOG_FIELDS(LF("SNS_MESSAGE_ID", d->msg->message_id), LF("ACK_MS", ack_ms)),
                         "SNS message %s already stored, acknowledging the redelivery",
                         d->msg->message_id);
                count_delivery(d, "duplicate");
                delivery_finish(d, MHD_HTTP_OK, "duplicate\n");
                return;
        }
        /* One line per stored message: it is the hot path's only log line. */
        log_info("sns.stored",
                 LOG_FIELDS(LF("SNS_MESSAGE_ID", d->msg->message_id), LF("SPOOL_ID", spool_id),
                            LF("INBOUND_MESSAGE_ID", d->inbound_id[0] ? d->inbound_id : NULL),
                            LF("PHONE", d->phone[0] ? d->phone : NULL), LF("ACK_MS", ack_ms)),
                 "stored inbound SMS %s from %s as %s", d->msg->message_id, d->phone, spool_id);
        count_delivery(d, "stored");
        delivery_finish(d, MHD_HTTP_OK, "stored\n");
        if (ing->stored)
                ing->stored(ing->stored_userdata);
}

static void stored_dead_cb(struct spool *s, int r, int64_t id, void *userdata)
{
        struct delivery *d = userdata;

        if (r < 0) {
                stored_cb(s, r, id, userdata);
                return;
        }
        /* Recorded, never processed: a retry could not make the message usable. */
        count_delivery(d, r == 1 ? "duplicate" : "dead");
        delivery_finish(d, MHD_HTTP_OK, r == 1 ? "duplicate\n" : "stored as dead\n");
}

static enum spool_class spool_class_of(enum keyword_kind kind)
{
        switch (kind) {
        case KEYWORD_OPT_OUT:
                return SPOOL_CLASS_OPT_OUT;
        case KEYWORD_OPT_IN:
                return SPOOL_CLASS_OPT_IN;
        case KEYWORD_HELP:
                return SPOOL_CLASS_HELP;
        default:
                return SPOOL_CLASS_OTHER;
        }
}

static void put_in_spool(struct delivery *d)
{
        struct ingress *ing = d->ing;
        struct inbound_sms *sms = TAKE_PTR(d->sms);
        int r;

        r = spool_put(ing->spool,
                      &(struct spool_msg){
                              .sns_message_id = d->msg->message_id,
                              .inbound_message_id = sms->inbound_message_id,
                              .topic_arn = d->msg->topic_arn,
                              .origination_number = sms->origination_number,
                              .destination_number = sms->destination_number,
                              .body = sms->message_body,
                              .keyword = sms->message_keyword,
                              .raw = d->msg->message,
                              .received_at = d->received_at,
                              .keyword_class = d->keyword_class,
                      },
                      stored_cb, d);
        inbound_sms_free(sms); /* spool_put copied what it keeps */
        if (r < 0)
                stored_cb(ing->spool, r, 0, d);
}

/* [cluster]: the shared table could not take the record: nothing is stored,
 * and SNS retries the 503. */
static void cluster_unavailable(struct delivery *d, int r, const char *detail)
{
        log_warning_errno(r, "sns.cluster_unavailable",
                          LOG_FIELDS(LF("SNS_MESSAGE_ID", d->msg->message_id),
                                     LF("CLIENT", d->client), LF("ERROR", detail)),
                          "cannot write SNS message %s to the cluster table (%s), answering 503 "
                          "so SNS retries",
                          d->msg->message_id, detail);
        count_delivery(d, "unavailable");
        delivery_finish(d, MHD_HTTP_SERVICE_UNAVAILABLE, "cluster table unavailable\n");
}

static void record_written_cb(int r, const struct ddb_result *res, void *userdata)
{
        struct delivery *d = userdata;
        const struct aws_error *e = res->aws->error;
        char detail[256];

        d->call = NULL;
        /* Created, or already there (another instance or an earlier delivery
         * stored it): this instance's spool takes it too, and deduplicates. */
        if (r >= 0 || res->condition_failed) {
                put_in_spool(d);
                return;
        }
        if (e && !isempty(e->code))
                (void)snprintf(detail, sizeof(detail), "%.100s: %.140s", e->code, e->message);
        else
                (void)snprintf(detail, sizeof(detail), "%s", strerror(-r));
        cluster_unavailable(d, r, detail);
}

static void write_record(struct delivery *d)
{
        struct ingress *ing = d->ing;
        struct cluster_msg m;
        int r;

        if (!ing->cluster) {
                cluster_unavailable(d, -EAGAIN, "the AWS client is not ready yet");
                return;
        }
        /* The publish time: the same on every instance and every redelivery, so
         * the record's key and the sender's order are the same everywhere. */
        d->received_at = cluster_timestamp_ms(d->msg->timestamp, (int64_t)d->msg->timestamp_sec);
        m = (struct cluster_msg){
                .sender = d->sms->origination_number,
                .inbound_message_id = d->sms->inbound_message_id,
                .sns_message_id = d->msg->message_id,
                .destination = d->sms->destination_number,
                .topic_arn = d->msg->topic_arn,
                .raw = d->msg->message,
                .received_at = d->received_at,
                .keyword_class = d->keyword_class,
        };
        r = cluster_call(ing->cluster, "PutItem",
                         cluster_record_put_request(cluster_params(ing->cluster), &m,
                                                    (int64_t)(ev_now(ing->loop) * 1000.)),
                         record_written_cb, d, &d->call);
        if (r < 0)
                cluster_unavailable(d, r, strerror(-r));
}

static void handle_notification(struct delivery *d)
{
        struct ingress *ing = d->ing;
        struct inbound_sms *sms = NULL;
        const char *reason = NULL;
        enum keyword_kind kind;
        int r;

        if (d->sms_parsed) { /* by a worker thread */
                r = d->sms_r;
                reason = d->sms_reason;
                sms = TAKE_PTR(d->sms);
        } else {
                r = inbound_sms_parse(d->msg->message, d->msg->message_len, &sms, &reason);
        }
        if (r < 0) {
                struct spool_msg dead = {
                        .sns_message_id = d->msg->message_id,
                        .topic_arn = d->msg->topic_arn,
                        .raw = d->msg->message,
                };

                log_warning("sns.dead",
                            LOG_FIELDS(LF("SNS_MESSAGE_ID", d->msg->message_id),
                                       LF("REASON", reason ? reason : strerror(-r))),
                            "SNS message %s is signed but unusable (%s); recording it as dead",
                            d->msg->message_id, reason ? reason : strerror(-r));
                r = spool_put_dead(ing->spool, &dead, reason ? reason : strerror(-r),
                                   stored_dead_cb, d);
                if (r < 0)
                        stored_cb(ing->spool, r, 0, d);
                return;
        }

        snprintf(d->inbound_id, sizeof(d->inbound_id), "%s", sms->inbound_message_id);
        (void)log_phone(d->phone, sizeof(d->phone), sms->origination_number);
        /* Classified as for a sender who is not opted out ("YES" is then no
         * keyword): the dispatcher classifies again under the consent state. */
        kind = keyword_classify(ing->keywords, sms->message_body, false, NULL);
        d->keyword_class = spool_class_of(kind);
        d->sms = sms;
        if (ing->config->cluster_table) {
                write_record(d);
                return;
        }
        put_in_spool(d);
}

/* ---- subscriptions ------------------------------------------------------------- */

static void confirm_free(struct confirm *c)
{
        struct ingress *ing = c->ing;
        struct confirm **p;

        for (p = &ing->confirms; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        ing->n_confirms--;
                        break;
                }
        ev_timer_stop(ing->loop, &c->retry);
        free(c->message_id);
        free(c->url);
        free(c->topic_arn);
        free(c);
}

/* Remembered once confirmed, so that a redelivery is not fetched again (one
 * that failed is, when SNS sends it again). */
static void confirm_remember(struct confirm *c)
{
        struct ingress *ing = c->ing;

        free(ing->confirmed[ing->confirmed_next]);
        ing->confirmed[ing->confirmed_next] = TAKE_PTR(c->message_id);
        ing->confirmed_next = (ing->confirmed_next + 1) % CONFIRMS_RECENT;
}

/* A confirmation with this MessageId is being fetched or was lately. */
static bool confirm_known(const struct ingress *ing, const char *message_id)
{
        for (const struct confirm *c = ing->confirms; c; c = c->next)
                if (streq(c->message_id, message_id))
                        return true;
        for (size_t i = 0; i < CONFIRMS_RECENT; i++)
                if (streq_ptr(ing->confirmed[i], message_id))
                        return true;
        return false;
}

static void confirm_start(struct confirm *c);

static void confirm_done_cb(struct http_transfer *t, int r, const struct http_client_response *resp,
                            void *userdata)
{
        struct confirm *c = userdata;
        char attempt[8];
        char status[8];

        c->transfer = NULL;
        snprintf(attempt, sizeof(attempt), "%u", c->attempt);
        snprintf(status, sizeof(status), "%ld", r == 0 ? resp->status : 0L);
        if (r == 0 && resp->status == 200) {
                log_notice("sns.subscription_confirmed",
                           LOG_FIELDS(LF("TOPIC_ARN", c->topic_arn),
                                      LF("SNS_MESSAGE_ID", c->message_id), LF("ATTEMPT", attempt)),
                           "confirmed the subscription to %s", c->topic_arn);
                confirm_remember(c);
                confirm_free(c);
                return;
        }
        if (r == -ECANCELED || c->attempt >= CONFIRM_ATTEMPTS) {
                log_error("sns.subscription_confirm_failed",
                          LOG_FIELDS(LF("TOPIC_ARN", c->topic_arn), LF("HTTP_STATUS", status),
                                     LF("ATTEMPT", attempt)),
                          "could not confirm the subscription to %s (%s); SNS will send a new "
                          "confirmation request, or confirm it by hand",
                          c->topic_arn, r < 0 ? strerror(-r) : status);
                confirm_free(c);
                return;
        }
        log_warning("sns.subscription_confirm_retry",
                    LOG_FIELDS(LF("TOPIC_ARN", c->topic_arn), LF("HTTP_STATUS", status),
                               LF("ATTEMPT", attempt)),
                    "confirming the subscription to %s failed (%s), will retry", c->topic_arn,
                    r < 0 ? strerror(-r) : status);
        ev_timer_set(&c->retry, CONFIRM_FIRST_DELAY_S * pow(2, c->attempt - 1), 0.);
        ev_timer_start(c->ing->loop, &c->retry);
}

static void confirm_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        confirm_start(w->data);
}

static void confirm_start(struct confirm *c)
{
        int r;

        c->attempt++;
        r = http_client_start(c->ing->http,
                              &(struct http_client_req){
                                      .method = "GET",
                                      .url = c->url,
                                      .timeout_ms = CONFIRM_TIMEOUT_MS,
                                      .max_response = CONFIRM_MAX_RESPONSE,
                              },
                              confirm_done_cb, c, &c->transfer);
        if (r < 0) {
                log_error_errno(r, "sns.subscription_confirm_failed",
                                LOG_FIELDS(LF("TOPIC_ARN", c->topic_arn)),
                                "cannot confirm the subscription to %s: %m", c->topic_arn);
                confirm_free(c);
        }
}

static void handle_subscription(struct delivery *d)
{
        struct ingress *ing = d->ing;
        const char *reason = NULL;
        struct confirm *c;
        int r;

        if (!ing->config->sns_auto_confirm) {
                log_notice("sns.subscription_pending",
                           LOG_FIELDS(LF("TOPIC_ARN", d->msg->topic_arn)),
                           "subscription to %s awaits confirmation (auto_confirm = no): "
                           "visit its SubscribeURL or use ConfirmSubscription",
                           d->msg->topic_arn);
                count_delivery(d, "pending");
                delivery_finish(d, MHD_HTTP_OK, "not confirmed automatically\n");
                return;
        }
        r = sns_subscribe_url_check(d->msg->subscribe_url, d->msg->topic_arn,
                                    ing->has_host_rule ? &ing->host_rule : NULL, &reason);
        if (r < 0) {
                delivery_refuse(d, MHD_HTTP_FORBIDDEN, reason ? reason : "SubscribeURL refused");
                return;
        }
        if (confirm_known(ing, d->msg->message_id)) {
                log_info("sns.subscription_duplicate",
                         LOG_FIELDS(LF("TOPIC_ARN", d->msg->topic_arn),
                                    LF("SNS_MESSAGE_ID", d->msg->message_id)),
                         "confirmation %s of %s is already handled", d->msg->message_id,
                         d->msg->topic_arn);
                count_delivery(d, "duplicate");
                delivery_finish(d, MHD_HTTP_OK, "duplicate\n");
                return;
        }
        if (ing->n_confirms >= CONFIRMS_PENDING_MAX) {
                delivery_refuse(d, MHD_HTTP_SERVICE_UNAVAILABLE,
                                "too many subscription confirmations in progress");
                return;
        }
        c = calloc(1, sizeof(*c));
        if (!c || !(c->url = strdup(d->msg->subscribe_url)) ||
            !(c->topic_arn = strdup(d->msg->topic_arn)) ||
            !(c->message_id = strdup(d->msg->message_id))) {
                if (c) {
                        free(c->url);
                        free(c->topic_arn);
                        free(c);
                }
                delivery_finish(d, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
                return;
        }
        c->ing = ing;
        ev_timer_init(&c->retry, confirm_retry_cb, 0., 0.);
        c->retry.data = c;
        c->next = ing->confirms;
        ing->confirms = c;
        ing->n_confirms++;
        log_info("sns.subscription_confirming", LOG_FIELDS(LF("TOPIC_ARN", c->topic_arn)),
                 "confirming the subscription to %s", c->topic_arn);
        confirm_start(c);
        count_delivery(d, "confirming");
        delivery_finish(d, MHD_HTTP_OK, "confirming\n");
}

static void handle_unsubscribe(struct delivery *d)
{
        log_error("sns.unsubscribed",
                  LOG_FIELDS(LF("TOPIC_ARN", d->msg->topic_arn),
                             LF("SNS_MESSAGE_ID", d->msg->message_id)),
                  "this endpoint was UNSUBSCRIBED from %s: inbound SMS no longer reach "
                  "twowayd; subscribe it again (twowayctl setup) if that was not intended",
                  d->msg->topic_arn);
        count_delivery(d, "unsubscribed");
        delivery_finish(d, MHD_HTTP_OK, "noted\n");
}

/* ---- verification ----------------------------------------------------------------- */

/* Redeliveries are recognised as long as the spool (and the [dedup] table)
 * remember the message. A signed notification (or subscription confirmation)
 * older than that window could be a captured one replayed after its row was
 * pruned: refuse it (4xx, so SNS does not retry). The hour of margin keeps
 * clear of the prune itself. */
static bool message_too_old(const struct ingress *ing, const struct sns_message *m)
{
        const struct config *c = ing->config;
        int64_t window = (int64_t)c->spool_retention_days * 86400;

        if (c->dedup_table)
                window = MIN(window, (int64_t)c->dedup_ttl_days * 86400);
        if (c->cluster_table)
                window = MIN(window, (int64_t)c->cluster_record_ttl_days * 86400);
        return (int64_t)m->timestamp_sec < (int64_t)time(NULL) - (window - 3600);
}

static int delivery_submit(struct delivery *d);

/* The signature checked: the replay window, then the type's own handling. */
static void delivery_signed(struct delivery *d)
{
        /* A confirmation too: an old one replayed would make us fetch its URL. */
        if ((d->msg->type == SNS_TYPE_NOTIFICATION ||
             d->msg->type == SNS_TYPE_SUBSCRIPTION_CONFIRMATION) &&
            message_too_old(d->ing, d->msg)) {
                delivery_refuse(d, MHD_HTTP_FORBIDDEN,
                                "Timestamp older than the redelivery window (replay?)");
                return;
        }
        switch (d->msg->type) {
        case SNS_TYPE_NOTIFICATION:
                handle_notification(d);
                break;
        case SNS_TYPE_SUBSCRIPTION_CONFIRMATION:
                handle_subscription(d);
                break;
        case SNS_TYPE_UNSUBSCRIBE_CONFIRMATION:
                handle_unsubscribe(d);
                break;
        default:
                delivery_refuse(d, MHD_HTTP_BAD_REQUEST, "unknown Type");
        }
}

/* A worker checked the signature with d->signer's key, the certificate the
 * loop found for it: its verdict stands. A good one makes that signer the
 * guess for the next deliveries. */
static void delivery_signature_checked(struct delivery *d)
{
        struct ingress *ing = d->ing;

        if (d->sig_r < 0) {
                delivery_refuse(d, MHD_HTTP_FORBIDDEN,
                                d->sig_reason ? d->sig_reason : "bad signature");
                return;
        }
        if (ing->signer != d->signer) {
                signer_unref(ing->signer);
                ing->signer = signer_ref(d->signer);
        }
        delivery_signed(d);
}

/* The signing certificate is here (borrowed): the signature, on the loop or on
 * a worker thread. */
static void delivery_verified(struct delivery *d, X509 *cert)
{
        const char *reason = NULL;

        if (d->ing->pool) {
                /* Checked while parsing, with the key of this very certificate. */
                if (d->sig_checked && d->signer->cert == cert) {
                        delivery_signature_checked(d);
                        return;
                }
                /* The guess was another certificate: what was made of it goes. */
                d->sig_checked = d->sms_parsed = false;
                d->sms = inbound_sms_free(d->sms);
                signer_unref(d->signer);
                d->signer = signer_new(d->msg->signing_cert_url, cert);
                if (!d->signer) {
                        delivery_refuse(d, MHD_HTTP_FORBIDDEN, "signing key unusable");
                        return;
                }
                d->verifying = true;
                if (delivery_submit(d) < 0)
                        delivery_refuse(d, MHD_HTTP_SERVICE_UNAVAILABLE, QUEUE_FULL);
                return;
        }
        if (sns_verify_signature(d->msg, X509_get0_pubkey(cert), &reason) < 0) {
                delivery_refuse(d, MHD_HTTP_FORBIDDEN, reason ? reason : "bad signature");
                return;
        }
        delivery_signed(d);
}

/* The signing certificate a delivery waited for, or why there is none. */
static void cert_ready(int r, X509 *cert, const char *reason, void *userdata)
{
        struct delivery *d = userdata;

        if (!d->req) /* the server gave up on it meanwhile */
                delivery_free(d);
        else if (r < 0)
                /* A fetch that failed may succeed later (503: SNS retries); a
                 * certificate that fails its checks is not ours (403). */
                delivery_refuse(d,
                                r == -EKEYREJECTED || r == -EKEYEXPIRED || r == -ENOKEY ||
                                                r == -EBADMSG
                                        ? MHD_HTTP_FORBIDDEN
                                        : MHD_HTTP_SERVICE_UNAVAILABLE,
                                reason);
        else
                delivery_verified(d, cert);
}

/* ---- the request ------------------------------------------------------------------ */

static bool topic_allowed(const struct config *c, const char *arn)
{
        for (size_t i = 0; i < c->n_sns_topic_arns; i++)
                if (streq(c->sns_topic_arns[i], arn))
                        return true;
        return false;
}

/* The headers SNS sends must agree with the signed body. */
static const char *check_headers(struct http_request *req, const struct sns_message *m)
{
        const char *type = http_request_header(req, "x-amz-sns-message-type");
        const char *id = http_request_header(req, "x-amz-sns-message-id");
        const char *topic = http_request_header(req, "x-amz-sns-topic-arn");

        if (!streq(type, m->type_str))
                return "x-amz-sns-message-type does not match Type";
        if (id && !streq(id, m->message_id))
                return "x-amz-sns-message-id does not match MessageId";
        if (topic && !streq(topic, m->topic_arn))
                return "x-amz-sns-topic-arn does not match TopicArn";
        return NULL;
}

/* On a worker thread: the job's own fields only (its signer is read-only). */
static void delivery_work(struct work_job *job)
{
        struct delivery *d = (struct delivery *)((char *)job - offsetof(struct delivery, job));

#ifdef TWOWAYD_UNIT_TEST
        if (ingress_test_job_started)
                ingress_test_job_started();
#endif
        if (!d->verifying) {
                d->parse_r = sns_message_parse(d->body, d->body_len, &d->msg, &d->parse_reason);
                /* Another certificate than the guess: the loop asks for a VERIFY. */
                if (d->parse_r < 0 || !d->signer ||
                    !streq(d->msg->signing_cert_url, d->signer->cert_url))
                        return;
        }
        d->sig_r = sns_verify_signature(d->msg, d->signer->pkey, &d->sig_reason);
        d->sig_checked = true;
        if (d->sig_r < 0 || d->msg->type != SNS_TYPE_NOTIFICATION)
                return;
        d->sms_r = inbound_sms_parse(d->msg->message, d->msg->message_len, &d->sms, &d->sms_reason);
        d->sms_parsed = true;
}

static void delivery_parsed(struct delivery *d);

/* Back on the loop: carry on, unless the connection went away meanwhile. */
static void delivery_work_done(struct work_job *job)
{
        struct delivery *d = (struct delivery *)((char *)job - offsetof(struct delivery, job));

        d->in_pool = false;
        free(d->body);
        d->body = NULL;
        if (!d->req) { /* nothing stored, nothing answered: SNS retries it */
                delivery_free(d);
        } else if (!d->verifying) {
                if (d->parse_r < 0)
                        delivery_refuse(d, MHD_HTTP_BAD_REQUEST,
                                        d->parse_reason ? d->parse_reason : "invalid SNS message");
                else
                        delivery_parsed(d);
        } else {
                delivery_signature_checked(d);
        }
}

/* -EAGAIN when the queue is full. */
static int delivery_submit(struct delivery *d)
{
        int r;

        d->job = (struct work_job){.work = delivery_work, .done = delivery_work_done};
        r = work_pool_submit(d->ing->pool, &d->job);
        d->in_pool = r >= 0;
        return r;
}

/* The envelope parsed: the checks that need the request and the loop's state,
 * then the signing certificate. */
static void delivery_parsed(struct delivery *d)
{
        _cleanup_free_ char *key = NULL, *host = NULL;
        struct ingress *ing = d->ing;
        enum sns_cert_lookup lookup;
        struct aws_topic_arn topic;
        const char *reason = NULL;
        X509 *cert = NULL;
        int r;

        reason = check_headers(d->req, d->msg);
        if (reason) {
                delivery_refuse(d, MHD_HTTP_BAD_REQUEST, reason);
                return;
        }
        if (!topic_allowed(ing->config, d->msg->topic_arn)) {
                delivery_refuse(d, MHD_HTTP_FORBIDDEN, "topic not allowed");
                return;
        }
        if (aws_topic_arn_parse(d->msg->topic_arn, &topic) < 0) {
                delivery_refuse(d, MHD_HTTP_BAD_REQUEST, "invalid TopicArn");
                return;
        }
        /* The URL rule comes first: a URL that fails it is never fetched. */
        r = sns_cert_url_check(d->msg->signing_cert_url, d->msg->topic_arn,
                               ing->has_host_rule ? &ing->host_rule : NULL, &reason);
        if (r < 0) {
                delivery_refuse(d, MHD_HTTP_FORBIDDEN, reason ? reason : "SigningCertURL refused");
                return;
        }

        r = sns_cert_url_key(d->msg->signing_cert_url, &key, &host);
        if (r < 0) {
                delivery_refuse(d, r == -ENOMEM ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_FORBIDDEN,
                                "SigningCertURL refused");
                return;
        }
        r = sns_cert_fetch_get(ing->certs, key, host, topic.region, cert_ready, d, &cert, &lookup,
                               &reason);
        if (lookup != SNS_CERT_LOOKUP_NONE)
                (void)metrics_counter_inc(ing->m_certs,
                                          METRICS_LABELS(lookup == SNS_CERT_LOOKUP_HIT ? "hit"
                                                         : lookup == SNS_CERT_LOOKUP_NEGATIVE
                                                                 ? "negative"
                                                                 : "miss"));
        if (r == 0) {
                delivery_verified(d, cert);
                X509_free(cert);
        } else if (r == -ENOMEM && lookup == SNS_CERT_LOOKUP_MISS) {
                delivery_finish(d, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
        } else if (r < 0) {
                delivery_refuse(d, MHD_HTTP_SERVICE_UNAVAILABLE, reason);
        }
        /* 1: the delivery waits for cert_ready(). */
}

void ingress_handle(struct ingress *ing, struct http_request *req)
{
        const char *reason = NULL, *raw;
        struct delivery *d;
        const void *body;
        size_t len;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d) {
                http_request_reply(req, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                                   "out of memory\n", 14);
                return;
        }
        d->ing = ing;
        d->req = req;
        d->started = ev_time();
        snprintf(d->client, sizeof(d->client), "%s", http_request_client(req));
        d->next = ing->deliveries;
        if (ing->deliveries)
                ing->deliveries->prev = d;
        ing->deliveries = d;
        http_request_set_cancel(req, delivery_cancel_cb, d);

        raw = http_request_header(req, "x-amz-sns-rawdelivery");
        if (raw && strcasecmp(raw, "true") == 0) {
                delivery_refuse(d, MHD_HTTP_BAD_REQUEST,
                                "raw message delivery is not supported (it carries no signature)");
                return;
        }
        if (!http_request_header(req, "x-amz-sns-message-type")) {
                delivery_refuse(d, MHD_HTTP_BAD_REQUEST, "missing x-amz-sns-message-type header");
                return;
        }
        body = http_request_body(req, &len);
        if (ing->pool) {
                d->body = malloc(MAX(len, 1));
                if (!d->body) {
                        delivery_finish(d, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
                        return;
                }
                memcpy(d->body, body, len);
                d->body_len = len;
                d->signer = signer_ref(ing->signer);
                if (delivery_submit(d) < 0)
                        delivery_refuse(d, MHD_HTTP_SERVICE_UNAVAILABLE, QUEUE_FULL);
                return;
        }
        r = sns_message_parse(body, len, &d->msg, &reason);
        if (r < 0) {
                delivery_refuse(d, MHD_HTTP_BAD_REQUEST, reason ? reason : "invalid SNS message");
                return;
        }
        delivery_parsed(d);
}

/* ---- lifecycle --------------------------------------------------------------------- */

static int load_rules(const struct config *config, X509_STORE **ret_trust, regex_t *ret_rule,
                      bool *ret_has_rule)
{
        X509_STORE *trust = NULL;
        int r;

        r = sns_trust_store_new(config->aws_ca_bundle, &trust);
        if (r < 0)
                return log_error_errno(r, "sns.trust_store_failed",
                                       LOG_FIELDS(LF("CA_BUNDLE", config->aws_ca_bundle)),
                                       "cannot load the trust store: %m");
        *ret_has_rule = false;
        if (config->sns_signing_cert_host) {
                r = sns_host_regex_compile(config->sns_signing_cert_host, ret_rule);
                if (r < 0) {
                        X509_STORE_free(trust);
                        return log_error_errno(r, "sns.host_rule_failed", LOG_NOFIELDS,
                                               "cannot compile signing_cert_host: %m");
                }
                *ret_has_rule = true;
        }
        *ret_trust = trust;
        return 0;
}

static int register_metrics(struct ingress *ing)
{
        static const double ack_bounds[] = {0.001, 0.002, 0.005, 0.01, 0.025, 0.05,
                                            0.1,   0.25,  0.5,   1,    2.5,   5};
        int r;

        r = metrics_counter_new("twowayd_sns_deliveries_total",
                                "SNS deliveries by message type and outcome",
                                METRICS_LABELS("type", "outcome"), &ing->m_deliveries);
        if (r >= 0)
                r = metrics_counter_new("twowayd_sns_refusals_total",
                                        "SNS deliveries refused, by reason",
                                        METRICS_LABELS("reason"), &ing->m_refusals);
        if (r >= 0)
                r = metrics_histogram_new(
                        "twowayd_sns_ack_seconds", "Time from an SNS request to its answer",
                        METRICS_NO_LABELS, ack_bounds, ARRAY_SIZE(ack_bounds), &ing->m_ack);
        if (r >= 0)
                r = metrics_counter_new("twowayd_sns_cert_cache_total",
                                        "Signing certificate lookups by result",
                                        METRICS_LABELS("result"), &ing->m_certs);
        return r < 0 ? r : 0;
}

/* [http] verify_threads: "auto" is the online CPUs less the loop's, at least 1;
 * unset (a config built in code, as the fuzzers' is) is 0, on the loop. */
static int start_pool(struct ingress *ing, const struct config *config)
{
        const char *v = config->http_verify_threads;
        unsigned n = !v                 ? 0
                     : streq(v, "auto") ? work_pool_default_threads()
                                        : (unsigned)strtoul(v, NULL, 10);
        size_t queue_max = VERIFY_QUEUE_MAX;
        char threads[12];
        int r;

        if (n == 0)
                return 0;
#ifdef TWOWAYD_UNIT_TEST
        queue_max = ingress_test_queue_max;
#endif
        r = work_pool_new(ing->loop, n, queue_max, &ing->pool);
        if (r < 0)
                return log_error_errno(r, "sns.pool_failed", LOG_NOFIELDS,
                                       "cannot start %u verification threads: %m", n);
        snprintf(threads, sizeof(threads), "%u", n);
        log_debug("sns.pool_started", LOG_FIELDS(LF("THREADS", threads)),
                  "verifying SNS deliveries on %u worker threads", n);
        return 0;
}

int ingress_new(struct ev_loop *loop, const struct config *config, struct spool *spool,
                struct http_client *http, ingress_stored_fn stored, void *userdata,
                struct ingress **ret)
{
        struct ingress *ing = calloc(1, sizeof(*ing));
        int r;

        if (!ing)
                return -ENOMEM;
        ing->loop = loop;
        ing->config = config;
        ing->spool = spool;
        ing->http = http;
        ing->stored = stored;
        ing->stored_userdata = userdata;
        r = register_metrics(ing);
        if (r < 0)
                goto fail;
        r = load_rules(config, &ing->trust, &ing->host_rule, &ing->has_host_rule);
        if (r < 0)
                goto fail;
        r = sns_cert_fetch_new(
                &(struct sns_cert_fetch_options){
                        .http = http,
                        .trust = ing->trust,
                        .host_rule = ing->has_host_rule ? &ing->host_rule : NULL,
                },
                &ing->certs);
        if (r < 0)
                goto fail;
        r = keyword_config_rules(config, &ing->keywords);
        if (r < 0)
                goto fail;
        r = start_pool(ing, config);
        if (r < 0)
                goto fail;
        *ret = ing;
        return 0;
fail:
        ingress_free(ing);
        return r;
}

void ingress_get_pool_stats(struct ingress *ing, struct work_pool_stats *ret)
{
        work_pool_get_stats(ing ? ing->pool : NULL, ret);
}

void ingress_set_cluster(struct ingress *ing, struct cluster *cl)
{
        if (ing)
                ing->cluster = cl;
}

int ingress_set_config(struct ingress *ing, const struct config *config)
{
        struct keyword_rules *keywords = NULL;
        X509_STORE *trust = NULL;
        regex_t rule;
        bool has_rule;
        int r;

        r = keyword_config_rules(config, &keywords);
        if (r < 0)
                return r;
        r = load_rules(config, &trust, &rule, &has_rule);
        if (r < 0) {
                keyword_rules_free(keywords);
                return r;
        }
        keyword_rules_free(ing->keywords);
        ing->keywords = keywords;
        X509_STORE_free(ing->trust);
        if (ing->has_host_rule)
                regfree(&ing->host_rule);
        ing->trust = trust;
        ing->host_rule = rule;
        ing->has_host_rule = has_rule;
        ing->config = config;
        sns_cert_fetch_set_trust(ing->certs, ing->trust, has_rule ? &ing->host_rule : NULL);
        ing->signer = signer_unref(ing->signer);
        return 0;
}

struct ingress *ingress_free(struct ingress *ing)
{
        if (!ing)
                return NULL;
        while (ing->confirms)
                confirm_free(ing->confirms);
        /* The HTTP client is freed first (see ingress.h), which completes every
         * fetch: no waiter is left in the fetcher. */
        ing->certs = sns_cert_fetch_free(ing->certs);
        /* The workers joined before the deliveries their jobs belong to go. */
        ing->pool = work_pool_free(ing->pool);
        while (ing->deliveries)
                delivery_free(ing->deliveries);
        signer_unref(ing->signer);
        for (size_t i = 0; i < CONFIRMS_RECENT; i++)
                free(ing->confirmed[i]);
        keyword_rules_free(ing->keywords);
        X509_STORE_free(ing->trust);
        if (ing->has_host_rule)
                regfree(&ing->host_rule);
        free(ing);
        return NULL;
}
