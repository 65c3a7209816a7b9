/*
 * ingress.h — the SNS endpoint: verify each delivery, store it, then answer.
 *
 * For every POST to [http] path: refuse raw message delivery (it carries no
 * signature); parse the SNS envelope; check the topic against [sns]
 * topic_arns and the headers against the body; check SigningCertURL against
 * the host rule before anything is fetched; get the signing certificate from
 * the cache or fetch it (the connection waits, the loop does not; concurrent
 * deliveries naming one URL share one fetch); check the certificate and the
 * signature; then act on the type:
 *   Notification             parse the inbound SMS and store it in the spool
 *                            (a message that cannot be used is stored dead);
 *                            200 only after the commit, 503 if it failed;
 *   SubscriptionConfirmation with auto_confirm, GET SubscribeURL (same host
 *                            rule) with retries; 200 (also for a MessageId
 *                            being or lately confirmed, without a GET);
 *   UnsubscribeConfirmation  logged loudly, never re-subscribed; 200.
 * Refusals: 400 for malformed input, 403 for a topic or signature that is not
 * ours, 503 when a retry can succeed (certificate fetch failed, spool not
 * writable). SNS counts any 4xx as delivered and retries 5xx. Each refusal is
 * one log event ("sns.refused") with the reason and the client address.
 *
 * [http] verify_threads above 0: the envelope parse, the signature check and
 * the inbound SMS parse run on that many worker threads (work_pool.h), the
 * rest on the loop as before; over 1024 deliveries waiting for a thread get
 * 503 ("sns.refused"). 0: all on the loop.
 *
 * Fetches (certificates, their issuers, SubscribeURLs) go through an HTTP
 * client of their own, never the pipeline's: certificates through
 * sns_cert_fetch.h (on a budget of fetches per host: over it, 503); at most 8
 * confirmations pending (over it: 503), one per MessageId, and none for a
 * confirmation older than the redelivery window.
 *
 * Ownership: the ingress borrows the spool, the HTTP client and the config;
 * free the HTTP server (which cancels waiting requests), the spool and the
 * HTTP client before the ingress, since their callbacks may still reach it.
 */
#ifndef TWOWAYD_INGRESS_H
#define TWOWAYD_INGRESS_H

struct ev_loop;
struct config;
struct spool;
struct http_client;
struct http_request;
struct ingress;

typedef void (*ingress_stored_fn)(void *userdata);

/* stored is called after each commit that stored a new message (to wake the
 * dispatcher); it may be NULL. -EINVAL (bad signing_cert_host, unreadable CA
 * bundle), -ENOMEM. */
int ingress_new(struct ev_loop *loop, const struct config *config, struct spool *spool,
                struct http_client *http, ingress_stored_fn stored, void *userdata,
                struct ingress **ret);
struct ingress *ingress_free(struct ingress *ing);

/* A reloaded config: new topics, host rule and trust store. On error the old
 * settings stay and the error is returned. */
int ingress_set_config(struct ingress *ing, const struct config *config);

/* [cluster] table set: before a notification is stored, its record is written
 * to the cluster table (conditionally; one that exists is no error), so that
 * it is answered even if this instance never comes back; the table
 * unreachable: 503 (nothing stored) and one "sns.cluster_unavailable" event.
 * cl is borrowed; NULL (the AWS client is not ready yet) answers 503 too. */
struct cluster;
void ingress_set_cluster(struct ingress *ing, struct cluster *cl);

/* Handle one POST to the SNS path. Replies exactly once, now or later. */
void ingress_handle(struct ingress *ing, struct http_request *req);

/* The verification workers now ([http] verify_threads): jobs waiting for a
 * worker and workers busy; all zero when verification runs on the loop. */
struct work_pool_stats;
void ingress_get_pool_stats(struct ingress *ing, struct work_pool_stats *ret);

#endif
