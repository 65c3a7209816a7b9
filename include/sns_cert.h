/*
 * sns_cert.h — the SNS signing certificates: reading the PEM a SigningCertURL
 * serves, the trust store, the checks a signing certificate must pass, and a
 * bounded cache of checked certificates by URL. Fetching them is
 * sns_cert_fetch.h's.
 *
 * Pure module: no network, no clock (the caller passes `now`), no logging. The
 * one exception is sns_trust_store_new(), which reads the CA files once at
 * start-up or reload. Crypto is OpenSSL's.
 *
 * Every refusal sets *reterr (when not NULL) to a short static reason such as
 * "certificate expired"; *reterr is left alone on success. Error codes:
 * -EINVAL bad arguments; -EBADMSG a PEM that cannot be read; -EKEYREJECTED a
 * certificate that is refused; -EKEYEXPIRED a certificate outside its
 * validity period; -ENOKEY a certificate that does not chain to the trust
 * store (its issuer may be missing); -ENOMEM.
 *
 * Ownership: nothing passed in is kept, except what sns_cert_cache_put()
 * documents. Loop thread only (the cache has no lock).
 */
#ifndef TWOWAYD_SNS_CERT_H
#define TWOWAYD_SNS_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "common.h"

#define SNS_CERT_PEM_MAX   (64 * 1024)
#define SNS_CERT_PEM_CERTS 8 /* at most this many certificates in one PEM */
#define SNS_CERT_CACHE_MAX 4096

/* ---- certificates ------------------------------------------------------------------ */

/* Parses the body of the GET of SigningCertURL: one or more PEM certificates
 * and nothing else (leading and trailing whitespace aside), at most
 * SNS_CERT_PEM_MAX bytes and SNS_CERT_PEM_CERTS certificates. The first is the
 * signing certificate (*ret_cert, owned by the caller: X509_free()); the
 * others, if any, go to *ret_chain as untrusted intermediates (owned by the
 * caller: sk_X509_pop_free(chain, X509_free); always a stack, possibly
 * empty). ret_chain may be NULL to drop them. -EBADMSG,
 * -EMSGSIZE, -ENOMEM. */
int sns_cert_load_pem(const void *pem, size_t len, X509 **ret_cert, STACK_OF(X509) * *ret_chain,
                      const char **reterr);

/* A trust store from a PEM CA bundle file, or from OpenSSL's default paths (the
 * system store) when ca_bundle is NULL. The caller owns *ret
 * (X509_STORE_free()). -ENOENT/-EIO/-EINVAL when the bundle cannot be loaded.
 * Note: SNS serves only the signing certificate, not its intermediate (today
 * "Amazon RSA 2048 M01"), so unless the caller supplies the intermediate in
 * the untrusted chain, the store must hold it next to the root. */
int sns_trust_store_new(const char *ca_bundle, X509_STORE **ret);

/*
 * The signing certificate checks, in this order:
 *   - validity: notBefore <= now < notAfter, as OpenSSL counts ("certificate not yet valid",
 *     "certificate expired": -EKEYEXPIRED);
 *   - identity (sns_cert_check_name());
 *   - chain: X509_verify_cert() against trust at time `now`, with `untrusted`
 *     (may be NULL) as candidate intermediates: -ENOKEY "certificate not trusted",
 *     which fetching the issuer may mend (sns_cert_fetch.h).
 * region is the TopicArn's region. All arguments are borrowed.
 */
int sns_cert_check_chain(X509 *cert, STACK_OF(X509) * untrusted, X509_STORE *trust, time_t now,
                         const char *region, const char **reterr);

/*
 * The certificate names the SNS signing identity for region (DNS SAN, or the
 * subject CN when the certificate has no DNS SAN; no wildcards):
 *   any commercial region: sns.amazonaws.com or sns-signing.REGION.amazonaws.com
 *     (the latter is what opt-in regions use);
 *   cn-*:      sns.amazonaws.com.cn, sns-signing.REGION.amazonaws.com.cn or
 *              sns-REGION.amazonaws.com.cn (what SNS China uses today);
 *   us-gov-*:  sns.amazonaws.com, sns-signing.REGION.amazonaws.com or
 *              sns-us-gov-west-1.amazonaws.com (used by both GovCloud regions).
 * -EKEYREJECTED "certificate is not the SNS signing certificate".
 */
int sns_cert_check_name(X509 *cert, const char *region, const char **reterr);

/* ---- certificate cache ---------------------------------------------------------------- */

/*
 * A bounded LRU cache of checked signing certificates keyed by the exact
 * SigningCertURL string, plus negative entries for URLs whose fetch or checks
 * failed, so a flood of messages naming such a URL does not turn into a flood
 * of GETs. Positive and negative entries live in separate pools: negative
 * entries can only evict each other, never a good certificate.
 *
 * A positive entry expires at min(put time + ttl, the certificate's notAfter);
 * a negative one at put time + negative_ttl. Expired entries are dropped on
 * lookup. The cache owns one X509 reference per positive entry.
 */
struct sns_cert_cache;

enum {
        SNS_CERT_CACHE_MISS = 0,
        SNS_CERT_CACHE_HIT = 1,
        SNS_CERT_CACHE_NEGATIVE = 2,
};

/* max_entries 1..SNS_CERT_CACHE_MAX, max_negative 0..SNS_CERT_CACHE_MAX (0: no
 * negative caching), ttl_s and negative_ttl_s >= 1. -EINVAL, -ENOMEM. */
int sns_cert_cache_new(size_t max_entries, size_t max_negative, unsigned ttl_s,
                       unsigned negative_ttl_s, struct sns_cert_cache **ret);
struct sns_cert_cache *sns_cert_cache_free(struct sns_cert_cache *c);
static inline void sns_cert_cache_freep(struct sns_cert_cache **c)
{
        sns_cert_cache_free(*c);
}
#define _cleanup_sns_cert_cache_ _cleanup_(sns_cert_cache_freep)

/* SNS_CERT_CACHE_HIT with *ret_cert = a new reference the caller must
 * X509_free(); SNS_CERT_CACHE_NEGATIVE (a recent failure: do not fetch);
 * SNS_CERT_CACHE_MISS. ret_cert is written only on a hit. -EINVAL. */
int sns_cert_cache_get(struct sns_cert_cache *c, const char *url, time_t now, X509 **ret_cert);

/* Stores cert (the cache takes its own reference; the caller keeps theirs)
 * under url, replacing any entry for url, evicting the least recently used
 * positive entry when full. Only put certificates that passed
 * sns_cert_check_chain(). -EINVAL (also for a url longer than SNS_URL_MAX),
 * -ENOMEM. */
int sns_cert_cache_put(struct sns_cert_cache *c, const char *url, X509 *cert, time_t now);

/* Records a failure for url (replacing a positive entry for it), evicting the
 * least recently used negative entry when full. -EINVAL, -ENOMEM. */
int sns_cert_cache_put_negative(struct sns_cert_cache *c, const char *url, time_t now);

void sns_cert_cache_clear(struct sns_cert_cache *c);

#endif
