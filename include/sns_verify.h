/*
 * sns_verify.h — authenticity of an SNS delivery: the SigningCertURL and
 * SubscribeURL rules and the signature itself. The signing certificate's
 * checks and cache are sns_cert.h's, its fetch sns_cert_fetch.h's.
 *
 * Pure module: no network, no clock, no logging. URLs are parsed by libcurl's
 * URL API so that the URL checked is read the way libcurl will fetch it.
 *
 * The order the caller follows for each delivery:
 *   1. sns_message_parse() (sns_message.h), and check TopicArn against the
 *      configured topics;
 *   2. sns_cert_url_check(m->signing_cert_url, m->topic_arn, override);
 *   3. the checked signing certificate for sns_cert_url_key() of the URL, from
 *      sns_cert_fetch_get() (cache, or a GET exactly as given, then
 *      sns_cert_load_pem() and sns_cert_check_chain() with the region of the
 *      TopicArn);
 *   4. sns_verify_signature(m, X509_get0_pubkey(cert));
 *   5. for a SubscriptionConfirmation, sns_subscribe_url_check() before any GET
 *      of SubscribeURL.
 *
 * Every refusal sets *reterr (when not NULL) to a short static reason such as
 * "URL scheme is not https" or "signature does not verify"; *reterr is left
 * alone on success. Error codes: -EINVAL bad arguments; -EBADMSG a URL or
 * TopicArn that breaks the rules, or a signature that does not verify;
 * -EKEYREJECTED a key that is refused; -ENOMEM.
 *
 * Ownership: nothing passed in is kept, except the references
 * sns_verify_signature() keeps. sns_verify_signature() is safe from any
 * thread (the worker threads of ingress call it; the contexts it keeps are
 * under a lock); nothing else here keeps any state.
 */
#ifndef TWOWAYD_SNS_VERIFY_H
#define TWOWAYD_SNS_VERIFY_H

#include <regex.h>
#include <stddef.h>
#include <openssl/evp.h>

#include "aws_names.h"
#include "common.h"
#include "sns_message.h"

#define SNS_SIGNING_KEY_MIN 2048 /* bits */

/* ---- TopicArn --------------------------------------------------------------- */

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

#endif
