/*
 * sns_verify.h — authenticity of an SNS delivery: the SigningCertURL and
 * SubscribeURL rules, the signing certificate checks, the signature itself,
 * and a bounded cache of certificates by URL.
 *
 * Pure module: no network, no clock (the caller passes `now`), no logging. The
 * one exception is sns_trust_store_new(), which reads the CA files once at
 * start-up or reload. Crypto is OpenSSL's; URLs are parsed by libcurl's URL API
 * so that the URL checked is read the way libcurl will fetch it.
 *
 * The order the caller follows for each delivery:
 *   1. sns_message_parse() (sns_message.h), and check TopicArn against the
 *      configured topics;
 *   2. sns_cert_url_check(m->signing_cert_url, m->topic_arn, override);
 *   3. sns_cert_cache_get(); on a miss GET the URL exactly as given (libcurl,
 *      https only, peer and host verification on, no redirects, bounded body),
 *      then sns_cert_load_pem() and sns_cert_check_chain() with the region of
 *      the TopicArn; put the result in the cache (or a negative entry);
 *   4. sns_verify_signature(m, X509_get0_pubkey(cert));
 *   5. for a SubscriptionConfirmation, sns_subscribe_url_check() before any GET
 *      of SubscribeURL.
 *
 * Every refusal sets *reterr (when not NULL) to a short static reason such as
 * "URL scheme is not https" or "signature does not verify"; *reterr is left
 * alone on success. Error codes: -EINVAL bad arguments; -EBADMSG a URL or
 * TopicArn that breaks the rules, or a signature that does not verify;
 * -EKEYREJECTED a certificate or key that is refused; -EKEYEXPIRED a
 * certificate outside its validity period; -ENOMEM.
 *
 * Ownership: nothing passed in is kept, except what sns_cert_cache_put()
 * documents and the references sns_verify_signature() keeps. Loop thread
 * only (the certificate cache has no lock), but sns_verify_signature().
 */
#ifndef TWOWAYD_SNS_VERIFY_H
#define TWOWAYD_SNS_VERIFY_H

#include <regex.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "aws_names.h"
#include "common.h"
#include "sns_message.h"

#define SNS_CERT_PEM_MAX    (64 * 1024)
#define SNS_CERT_PEM_CERTS  8 /* at most this many certificates in one PEM */
#define SNS_CERT_CACHE_MAX  4096
#define SNS_SIGNING_KEY_MIN 2048 /* bits */

/* ---- TopicArn --------------------------------------------------------------- */

/* A topic ARN (aws_topic_arn_parse()) of a partition whose SNS signing
 * certificates we know: aws, aws-cn or aws-us-gov. -EBADMSG otherwise. */
int sns_topic_arn_parse(const char *arn, struct aws_topic_arn *ret);

/* The SNS endpoint host of the topic's region and partition:
 * sns.REGION.amazonaws.com, or sns.REGION.amazonaws.com.cn for aws-cn. Written
 * NUL-terminated to buf; -ENOBUFS when it does not fit, -EBADMSG for a bad
 * ARN. */
int sns_topic_arn_endpoint_host(const char *topic_arn, char *buf, size_t size);

/* ---- URL rules ------------------------------------------------------------------ */

/*
 * SigningCertURL: scheme https (literally "https://"), no userinfo, no port or
 * port 443, the host (compared in lower case) equal to the SNS endpoint host of
 * the TopicArn's own region and partition, path exactly
 * /SimpleNotificationService-<lower-case hex>.pem, no query, no fragment, no
 * byte outside printable ASCII, at most SNS_URL_MAX bytes.
 *
 * host_override, when not NULL, replaces the host rule (the TopicArn is then
 * not consulted, and any port is allowed): the lower-cased host must match the
 * whole regular expression (a match that covers only part of the host is
 * refused). Compile
 * it with sns_host_regex_compile() or regcomp(REG_EXTENDED) WITHOUT
 * REG_NOSUB: a pattern compiled with REG_NOSUB reports no match span, and every
 * URL is then refused.
 */
int sns_cert_url_check(const char *url, const char *topic_arn, const regex_t *host_override,
                       const char **reterr);

/* SubscribeURL: the same scheme, userinfo, port and host rules; any path and
 * query; no fragment. Check it before GETting it (the URL comes from the
 * message, so it is an SSRF vector until then). */
int sns_subscribe_url_check(const char *url, const char *topic_arn, const regex_t *host_override,
                            const char **reterr);

/* regcomp(pattern, REG_EXTENDED) for host_override. 0, -EINVAL for a bad
 * pattern, -ENOMEM. Release with regfree(). */
int sns_host_regex_compile(const char *pattern, regex_t *ret);

/* The one host rule of [sns] signing_cert_host, for every URL it governs (the
 * certificate, the SubscribeURL, the CA Issuers URL): true when rule matches
 * the whole of host, lower-cased (a match of part of it does not count). */
bool sns_host_rule_match(const regex_t *rule, const char *host);

/* The form of a SigningCertURL that passed sns_cert_url_check() under which it
 * is cached and fetched: the host lower-cased, a port of 443 dropped, the path
 * as it is ("https://SNS.us-east-1.amazonaws.com:443/x.pem" and
 * "https://sns.us-east-1.amazonaws.com/x.pem" are one certificate). Into
 * *ret_key (free()), and the host alone into *ret_host (free()) when not
 * NULL. -EBADMSG for a URL that cannot be read, -ENOMEM. */
int sns_cert_url_key(const char *url, char **ret_key, char **ret_host);

/* ---- signature ------------------------------------------------------------------- */

/* Checks m->signature over sns_message_string_to_sign(m) with pkey:
 * SHA1withRSA for SignatureVersion 1, SHA256withRSA for 2 (RSASSA-PKCS1-v1_5).
 * pkey must be an RSA key of at least SNS_SIGNING_KEY_MIN bits. 0 when the
 * signature is good; -EBADMSG "signature does not verify"; -EKEYREJECTED for an
 * unusable key. pkey is borrowed (e.g. X509_get0_pubkey(cert)); a verification
 * context set up for it is kept, with a reference to it, for the next
 * signatures by the same key (the last few keys). Safe from any thread: the
 * worker threads of ingress call it too (the kept contexts are under a lock). */
int sns_verify_signature(const struct sns_message *m, EVP_PKEY *pkey, const char **reterr);

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
 *     (may be NULL) as candidate intermediates ("certificate not trusted").
 * region is the TopicArn's region. All arguments are borrowed.
 */
int sns_cert_check_chain(X509 *cert, STACK_OF(X509) * untrusted, X509_STORE *trust, time_t now,
                         const char *region, const char **reterr);
/* The same without intermediates. */
int sns_cert_check(X509 *cert, X509_STORE *trust, time_t now, const char *region,
                   const char **reterr);

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

/* Number of entries, positive and negative (expired ones included until they
 * are looked up or evicted). */
size_t sns_cert_cache_size(const struct sns_cert_cache *c);
void sns_cert_cache_clear(struct sns_cert_cache *c);

#endif
