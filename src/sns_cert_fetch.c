/*
 * sns_cert_fetch.c — signing certificates fetched once per URL, checked,
 * cached; the deliveries that wait for one. See sns_cert_fetch.h.
 */
#include <strings.h>

#include <curl/curl.h>
#include <openssl/x509v3.h>

#include "common.h"
#include "log.h"
#include "sns_cert.h"
#include "sns_cert_fetch.h"
#include "sns_verify.h"

#define CACHE_ENTRIES  64
#define CACHE_NEGATIVE 256
#define CACHE_TTL_S    (24 * 3600)
#define NEGATIVE_TTL_S 30 /* a failed fetch is tried again at most this often per URL */

struct waiter {
        sns_cert_done_fn done;
        void *userdata;
        struct waiter *next;
};

/* One GET of a SigningCertURL (then perhaps of its issuer), shared by every
 * delivery that names it. */
struct fetch {
        struct sns_cert_fetch *owner;
        char *url;  /* the cache key: sns_cert_url_key() */
        char *host; /* lower-cased, for the per-host budget */
        char *region;
        struct waiter *waiters;
        X509 *leaf; /* while its issuer is being fetched */
        struct fetch *next;
};

struct sns_cert_fetch {
        struct sns_cert_fetch_options opts;
        struct sns_cert_cache *cache;
        struct fetch *fetches;
        unsigned n_fetches;
};

static time_t now(const struct sns_cert_fetch *f)
{
        return f->opts.now ? f->opts.now(f->opts.clock) : time(NULL);
}

static int http_get(void *transport, const char *url, http_done_cb done, void *userdata)
{
        return http_client_start(transport,
                                 &(struct http_client_req){
                                         .method = "GET",
                                         .url = url,
                                         .timeout_ms = SNS_CERT_FETCH_TIMEOUT_MS,
                                         .max_response = SNS_CERT_PEM_MAX,
                                 },
                                 done, userdata, NULL);
}

/* Out of the list of fetches under way: no lookup joins it any more. */
static void fetch_unlink(struct fetch *x)
{
        struct sns_cert_fetch *f = x->owner;

        for (struct fetch **p = &f->fetches; *p; p = &(*p)->next)
                if (*p == x) {
                        *p = x->next;
                        f->n_fetches--;
                        return;
                }
}

static void fetch_free(struct fetch *x)
{
        fetch_unlink(x);
        while (x->waiters) {
                struct waiter *w = x->waiters;

                x->waiters = w->next;
                free(w);
        }
        X509_free(x->leaf);
        free(x->url);
        free(x->host);
        free(x->region);
        free(x);
}

/* Hand the outcome to every waiter, and remember it. */
static void fetch_complete(struct fetch *x, int r, X509 *cert, const char *reason)
{
        struct sns_cert_fetch *f = x->owner;

        if (r < 0) {
                log_warning("sns.cert_failed",
                            LOG_FIELDS(LF("CERT_URL", x->url), LF("REASON", reason)),
                            "signing certificate %s refused: %s", x->url, reason);
                (void)sns_cert_cache_put_negative(f->cache, x->url, now(f));
        } else {
                log_info("sns.cert_fetched", LOG_FIELDS(LF("CERT_URL", x->url)),
                         "fetched and checked signing certificate %s", x->url);
                (void)sns_cert_cache_put(f->cache, x->url, cert, now(f));
        }
        /* A waiter's callback may look up a certificate again: it must not
         * join this fetch, which is over. */
        fetch_unlink(x);
        for (struct waiter *w = x->waiters; w; w = w->next)
                w->done(r, r < 0 ? NULL : cert, reason, w->userdata);
        fetch_free(x);
}

/* SNS serves the signing certificate alone; its issuer (an Amazon
 * intermediate) is named by the certificate's Authority Information Access
 * "CA Issuers" URL. Only hosts of Amazon's PKI (or, where the operator
 * replaced the SNS host rule, hosts matching it) are fetched. */
static char *issuer_url(const struct sns_cert_fetch *f, X509 *cert)
{
        AUTHORITY_INFO_ACCESS *aia = X509_get_ext_d2i(cert, NID_info_access, NULL, NULL);
        char *found = NULL;

        for (int i = 0; aia && i < sk_ACCESS_DESCRIPTION_num(aia) && !found; i++) {
                ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
                CURLU *u;
                char *scheme = NULL, *host = NULL;
                const char *url;
                size_t hl;

                if (OBJ_obj2nid(ad->method) != NID_ad_ca_issuers || ad->location->type != GEN_URI)
                        continue;
                url = (const char *)ASN1_STRING_get0_data(
                        ad->location->d.uniformResourceIdentifier);
                u = curl_url();
                if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
                    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
                    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
                    (streq(scheme, "http") || streq(scheme, "https"))) {
                        hl = strlen(host);
                        /* The same whole-host rule as for the certificate URL. */
                        if ((hl > 16 && strcasecmp(host + hl - 16, ".amazontrust.com") == 0) ||
                            (f->opts.host_rule && sns_host_rule_match(f->opts.host_rule, host)))
                                found = strdup(url);
                }
                curl_free(scheme);
                curl_free(host);
                curl_url_cleanup(u);
        }
        AUTHORITY_INFO_ACCESS_free(aia);
        return found;
}

static void issuer_fetched_cb(struct http_transfer *t, int r,
                              const struct http_client_response *resp, void *userdata)
{
        struct fetch *x = userdata;
        const char *reason = "certificate not trusted";
        STACK_OF(X509) *chain = NULL;
        X509 *issuer = NULL;

        /* Like the leaf: a fetch that failed may succeed later (SNS retries);
         * only a certificate that is wrong is refused for good. */
        if (r < 0 || resp->status != 200) {
                fetch_complete(x, r < 0 ? r : -EIO, NULL, "cannot fetch issuer certificate");
                return;
        }
        if (resp->body_len > 0) {
                const unsigned char *p = resp->body;

                /* CA Issuers URLs serve DER; accept PEM as well. */
                issuer = d2i_X509(NULL, &p, (long)resp->body_len);
                if (!issuer)
                        (void)sns_cert_load_pem(resp->body, resp->body_len, &issuer, NULL, &reason);
        }
        chain = sk_X509_new_null();
        if (issuer && chain && sk_X509_push(chain, issuer) > 0) {
                issuer = NULL; /* the stack owns it */
                r = sns_cert_check_chain(x->leaf, chain, x->owner->opts.trust, now(x->owner),
                                         x->region, &reason);
        } else {
                r = -EKEYREJECTED;
        }
        X509_free(issuer);
        sk_X509_pop_free(chain, X509_free);
        fetch_complete(x, r, r < 0 ? NULL : x->leaf, reason);
}

/* The leaf does not chain to the trust store by itself: fetch its issuer.
 * Returns 0 when a fetch was started (x completes later, and owns leaf),
 * else < 0. */
static int fetch_issuer(struct fetch *x, X509 *leaf)
{
        struct sns_cert_fetch *f = x->owner;
        _cleanup_free_ char *url = issuer_url(f, leaf);
        int r;

        if (!url)
                return -ENOENT;
        r = f->opts.get(f->opts.transport, url, issuer_fetched_cb, x);
        if (r < 0)
                return r;
        x->leaf = leaf;
        return 0;
}

static void cert_fetched_cb(struct http_transfer *t, int r, const struct http_client_response *resp,
                            void *userdata)
{
        struct fetch *x = userdata;
        struct sns_cert_fetch *f = x->owner;
        const char *reason = NULL;
        STACK_OF(X509) *chain = NULL;
        X509 *cert = NULL;

        if (r < 0) {
                fetch_complete(x, r, NULL, "cannot fetch signing certificate");
                return;
        }
        if (resp->status != 200) {
                fetch_complete(x, -EIO, NULL, "signing certificate URL did not answer 200");
                return;
        }
        r = sns_cert_load_pem(resp->body, resp->body_len, &cert, &chain, &reason);
        if (r < 0) {
                fetch_complete(x, r, NULL, reason);
                return;
        }
        r = sns_cert_check_chain(cert, chain, f->opts.trust, now(f), x->region, &reason);
        sk_X509_pop_free(chain, X509_free);
        if (r == -ENOKEY && fetch_issuer(x, cert) == 0)
                return; /* x now owns cert */
        fetch_complete(x, r, r < 0 ? NULL : cert, reason);
        X509_free(cert);
}

/* Whether one more fetch from host stays within the budget. */
static bool budget_left(const struct sns_cert_fetch *f, const char *host)
{
        unsigned same_host = 0;

        if (f->n_fetches >= SNS_CERT_FETCHES_MAX)
                return false;
        for (const struct fetch *x = f->fetches; x; x = x->next)
                same_host += streq(x->host, host);
        return same_host < SNS_CERT_FETCHES_PER_HOST_MAX;
}

/* The fetch of key under way, or a new one; NULL with *ret_reason set. */
static struct fetch *fetch_for(struct sns_cert_fetch *f, const char *key, const char *host,
                               const char *region, int *ret_r, const char **ret_reason)
{
        struct fetch *x;
        int r;

        for (x = f->fetches; x; x = x->next)
                if (streq(x->url, key))
                        return x;
        if (!budget_left(f, host)) {
                *ret_r = -EBUSY;
                *ret_reason = "too many certificate fetches in progress, try later";
                return NULL;
        }
        x = calloc(1, sizeof(*x));
        if (!x || !(x->url = strdup(key)) || !(x->host = strdup(host)) ||
            !(x->region = strdup(region))) {
                if (x) {
                        free(x->url);
                        free(x->host);
                        free(x);
                }
                *ret_r = -ENOMEM;
                *ret_reason = "out of memory";
                return NULL;
        }
        x->owner = f;
        r = f->opts.get(f->opts.transport, x->url, cert_fetched_cb, x);
        if (r < 0) {
                fetch_free(x);
                *ret_r = r;
                *ret_reason = "cannot fetch signing certificate";
                return NULL;
        }
        x->next = f->fetches;
        f->fetches = x;
        f->n_fetches++;
        return x;
}

int sns_cert_fetch_get(struct sns_cert_fetch *f, const char *key, const char *host,
                       const char *region, sns_cert_done_fn done, void *userdata, X509 **ret_cert,
                       enum sns_cert_lookup *ret_lookup, const char **ret_reason)
{
        struct waiter *w;
        struct fetch *x;
        int r;

        *ret_lookup = SNS_CERT_LOOKUP_NONE;
        *ret_reason = "invalid argument";
        if (!f || !key || !host || !region || !done || !ret_cert)
                return -EINVAL;
        r = sns_cert_cache_get(f->cache, key, now(f), ret_cert);
        if (r < 0) {
                *ret_reason = "certificate cache error";
                return r;
        }
        if (r == SNS_CERT_CACHE_HIT) {
                *ret_lookup = SNS_CERT_LOOKUP_HIT;
                return 0;
        }
        if (r == SNS_CERT_CACHE_NEGATIVE) {
                *ret_lookup = SNS_CERT_LOOKUP_NEGATIVE;
                *ret_reason = "signing certificate recently failed, try later";
                return -EAGAIN;
        }
        *ret_lookup = SNS_CERT_LOOKUP_MISS;
        w = calloc(1, sizeof(*w));
        if (!w) {
                *ret_reason = "out of memory";
                return -ENOMEM;
        }
        x = fetch_for(f, key, host, region, &r, ret_reason);
        if (!x) {
                free(w);
                return r;
        }
        w->done = done;
        w->userdata = userdata;
        w->next = x->waiters;
        x->waiters = w;
        return 1;
}

void sns_cert_fetch_set_trust(struct sns_cert_fetch *f, X509_STORE *trust, const regex_t *host_rule)
{
        f->opts.trust = trust;
        f->opts.host_rule = host_rule;
        sns_cert_cache_clear(f->cache);
}

int sns_cert_fetch_new(const struct sns_cert_fetch_options *opts, struct sns_cert_fetch **ret)
{
        struct sns_cert_fetch *f;
        int r;

        if (!opts || !opts->trust)
                return -EINVAL;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->opts = *opts;
        if (!f->opts.get) {
                f->opts.get = http_get;
                f->opts.transport = opts->http;
        }
        r = sns_cert_cache_new(CACHE_ENTRIES, CACHE_NEGATIVE, CACHE_TTL_S, NEGATIVE_TTL_S,
                               &f->cache);
        if (r < 0) {
                free(f);
                return r;
        }
        *ret = f;
        return 0;
}

struct sns_cert_fetch *sns_cert_fetch_free(struct sns_cert_fetch *f)
{
        if (!f)
                return NULL;
        while (f->fetches)
                fetch_free(f->fetches);
        sns_cert_cache_free(f->cache);
        free(f);
        return NULL;
}
