/*
 * sns_cert_fetch.h — the checked signing certificate of a SigningCertURL, from
 * the cache or fetched: one GET per URL however many deliveries wait for it,
 * then sns_cert_load_pem() and sns_cert_check_chain(); when the certificate
 * does not chain to the trust store by itself (-ENOKEY), one more GET of its
 * issuer, named by its Authority Information Access "CA Issuers" URL (SNS
 * serves the signing certificate alone). Each outcome goes into the cache, a
 * failure as a negative entry, so a flood of deliveries naming a failing URL
 * does not turn into a flood of GETs.
 *
 * Fetches have a budget: at most SNS_CERT_FETCHES_MAX at once, and
 * SNS_CERT_FETCHES_PER_HOST_MAX per host (unsigned POSTs naming fresh URLs
 * must not hold up each other beyond this).
 *
 * The transport is http_client (GET, bounded time and size) unless the
 * options name another (unit tests); the clock is time() unless they name
 * another.
 *
 * Threads: the loop's only. The cache, the fetches and their waiters have no
 * lock, and every callback runs on the loop; a worker thread (work_pool.h)
 * never calls in here, and gets of a certificate only a reference of its own
 * to its key (X509_get_pubkey()).
 *
 * Ownership: the fetcher borrows the HTTP client, the trust store and the
 * host rule; sns_cert_fetch_set_trust() replaces the last two. Free the HTTP
 * client first: it completes every fetch, so every waiter's callback has
 * run; sns_cert_fetch_free() then calls no callback.
 */
#ifndef TWOWAYD_SNS_CERT_FETCH_H
#define TWOWAYD_SNS_CERT_FETCH_H

#include <regex.h>
#include <stdbool.h>
#include <time.h>

#include <openssl/x509.h>

#include "http_client.h"

#define SNS_CERT_FETCHES_MAX          16
#define SNS_CERT_FETCHES_PER_HOST_MAX 4
#define SNS_CERT_FETCH_TIMEOUT_MS     5000

struct sns_cert_fetch;

/* Start a GET of url; done is called exactly once, later, unless this
 * returns < 0. */
typedef int (*sns_cert_get_fn)(void *transport, const char *url, http_done_cb done, void *userdata);

struct sns_cert_fetch_options {
        struct http_client *http; /* borrowed; the transport unless get is set (NULL:
                                   * every fetch fails to start) */
        sns_cert_get_fn get;      /* NULL: an http_client GET */
        void *transport;
        time_t (*now)(void *clock); /* NULL: time() */
        void *clock;
        X509_STORE *trust;        /* borrowed */
        const regex_t *host_rule; /* borrowed, or NULL: [sns] signing_cert_host */
};

/* What a lookup found in the cache (for metrics). */
enum sns_cert_lookup {
        SNS_CERT_LOOKUP_NONE, /* not looked up (bad arguments) */
        SNS_CERT_LOOKUP_HIT,
        SNS_CERT_LOOKUP_NEGATIVE,
        SNS_CERT_LOOKUP_MISS,
};

/* The outcome for one waiter: r == 0 with cert (borrowed for the callback's
 * duration), or r < 0 with a short static reason. -EKEYREJECTED,
 * -EKEYEXPIRED, -ENOKEY and -EBADMSG: the certificate is not SNS's (refuse for
 * good); any other error: it may succeed later (SNS retries). */
typedef void (*sns_cert_done_fn)(int r, X509 *cert, const char *reason, void *userdata);

int sns_cert_fetch_new(const struct sns_cert_fetch_options *opts, struct sns_cert_fetch **ret);
struct sns_cert_fetch *sns_cert_fetch_free(struct sns_cert_fetch *f);

/* New rules (a reload): the trust store and the host rule of the CA Issuers
 * URL. Certificates were checked against the old ones, so the cache is
 * emptied; fetches under way are checked against the new ones. */
void sns_cert_fetch_set_trust(struct sns_cert_fetch *f, X509_STORE *trust,
                              const regex_t *host_rule);

/*
 * The certificate of key (sns_cert_url_key() of a SigningCertURL that passed
 * sns_cert_url_check()), with host its lower-cased host, checked for region
 * (the TopicArn's). Returns:
 *   0       a cached certificate in *ret_cert (the caller X509_free()s it);
 *   1       a fetch started or joined: done runs later, exactly once;
 *   -EAGAIN a recent failure of this URL (negative entry): try later;
 *   -EBUSY  over the fetch budget: try later;
 *   < 0     another error (-EINVAL, -ENOMEM, the transport's).
 * *ret_reason is set for every error; *ret_lookup always.
 */
int sns_cert_fetch_get(struct sns_cert_fetch *f, const char *key, const char *host,
                       const char *region, sns_cert_done_fn done, void *userdata, X509 **ret_cert,
                       enum sns_cert_lookup *ret_lookup, const char **ret_reason);

#endif
