/*
 * sns_verify.c — SigningCertURL/SubscribeURL rules and signature
 * verification. See sns_verify.h.
 */
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "aws_names.h"
#include "common.h"
#include "sns_message.h"
#include "sns_verify.h"
#include "text.h"

static bool is_lower(char c)
{
        return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool startswith(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

int sns_topic_arn_endpoint_host(const char *topic_arn, char *buf, size_t size)
{
        struct aws_topic_arn t;
        int r, n;

        if (!buf || size == 0)
                return -EINVAL;
        r = aws_topic_arn_parse(topic_arn, &t);
        if (r < 0)
                return r;
        n = snprintf(buf, size, "sns.%s.%s", t.region, aws_region_partition(t.region)->dns_suffix);
        if (n < 0 || (size_t)n >= size)
                return -ENOBUFS;
        return 0;
}

int sns_host_regex_compile(const char *pattern, regex_t *ret)
{
        int r;

        if (!pattern || !ret)
                return -EINVAL;
        r = regcomp(ret, pattern, REG_EXTENDED);
        if (r == REG_ESPACE)
                return -ENOMEM;
        if (r != 0)
                return -EINVAL;
        return 0;
}

bool sns_host_rule_match(const regex_t *rule, const char *host)
{
        char lhost[256];
        regmatch_t pm[1] = {{-1, -1}};
        size_t n;

        if (!rule || !host)
                return false;
        n = strlen(host);
        if (n == 0 || n >= sizeof(lhost))
                return false;
        for (size_t i = 0; i <= n; i++)
                lhost[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] - 'A' + 'a' : host[i]);
        return regexec(rule, lhost, 1, pm, 0) == 0 && pm[0].rm_so == 0 &&
               pm[0].rm_eo == (regoff_t)n;
}

/* ---- URL rules ------------------------------------------------------------------ */

static void curl_urlp(CURLU **u)
{
        curl_url_cleanup(*u);
}

static void curl_freep(char **s)
{
        curl_free(*s);
}
#define _cleanup_curl_free_ _cleanup_(curl_freep)

static bool cert_path_valid(const char *path)
{
        static const char prefix[] = "/SimpleNotificationService-";
        size_t n = strlen(path), i, hex = 0;

        if (!startswith(path, prefix))
                return false;
        for (i = STRLEN(prefix); i < n && (is_digit(path[i]) || (path[i] >= 'a' && path[i] <= 'f'));
             i++)
                hex++;
        return hex > 0 && streq(path + i, ".pem");
}

static int host_check(const char *host, const char *topic_arn, const regex_t *override,
                      const char **reterr)
{
        char expected[128];
        int r;

        if (override) {
                if (!sns_host_rule_match(override, host))
                        return text_fail(reterr, "URL host does not match signing_cert_host",
                                         -EBADMSG);
                return 0;
        }

        r = sns_topic_arn_endpoint_host(topic_arn, expected, sizeof(expected));
        if (r == -EINVAL)
                return text_fail(reterr, "invalid argument", r);
        if (r < 0)
                return text_fail(reterr, "invalid TopicArn", -EBADMSG);
        if (!streq(host, expected))
                return text_fail(reterr, "URL host is not the SNS endpoint of the topic's region",
                                 -EBADMSG);
        return 0;
}

static int url_check(const char *url, const char *topic_arn, const regex_t *override, bool cert,
                     const char **reterr)
{
        _cleanup_(curl_urlp) CURLU *u = NULL;
        _cleanup_curl_free_ char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
        char lhost[256];
        const char *authority, *authority_end;
        size_t n;
        CURLUcode rc;

        if (!url || (!topic_arn && !override))
                return text_fail(reterr, "invalid argument", -EINVAL);
        n = strnlen(url, SNS_URL_MAX + 1);
        if (n > SNS_URL_MAX)
                return text_fail(reterr, "URL too long", -EBADMSG);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)url[i];
                if (c <= 0x20 || c >= 0x7f || c == '\\')
                        return text_fail(reterr, "URL has invalid characters", -EBADMSG);
        }
        if (!startswith(url, "https://"))
                return text_fail(reterr, "URL scheme is not https", -EBADMSG);
        if (cert && strpbrk(url, "?#"))
                return text_fail(reterr, "URL has a query or fragment", -EBADMSG);
        if (!cert && strchr(url, '#'))
                return text_fail(reterr, "URL has a fragment", -EBADMSG);

        /* Belt and braces ahead of libcurl's own reading of the authority. */
        authority = url + STRLEN("https://");
        authority_end = authority + strcspn(authority, "/?#");
        /* libcurl reads "https:///host/" as host; the checks here would see nothing. */
        if (authority_end == authority)
                return text_fail(reterr, "URL has no host", -EBADMSG);
        if (memchr(authority, '@', (size_t)(authority_end - authority)))
                return text_fail(reterr, "URL has userinfo", -EBADMSG);
        if (memchr(authority, '%', (size_t)(authority_end - authority)))
                return text_fail(reterr, "URL host is percent-encoded", -EBADMSG);

        u = curl_url();
        if (!u)
                return text_fail(reterr, "out of memory", -ENOMEM);
        rc = curl_url_set(u, CURLUPART_URL, url, CURLU_PATH_AS_IS);
        if (rc == CURLUE_OUT_OF_MEMORY)
                return text_fail(reterr, "out of memory", -ENOMEM);
        if (rc != CURLUE_OK)
                return text_fail(reterr, "unparsable URL", -EBADMSG);

        if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || !streq(scheme, "https"))
                return text_fail(reterr, "URL scheme is not https", -EBADMSG);

        {
                _cleanup_curl_free_ char *user = NULL, *password = NULL, *options = NULL;
                if (curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER ||
                    curl_url_get(u, CURLUPART_PASSWORD, &password, 0) != CURLUE_NO_PASSWORD ||
                    curl_url_get(u, CURLUPART_OPTIONS, &options, 0) != CURLUE_NO_OPTIONS)
                        return text_fail(reterr, "URL has userinfo", -EBADMSG);
        }

        /* SNS serves on 443 only. An operator-supplied host rule replaces the
         * SNS host rule as a whole, and may name a host on another port. */
        rc = curl_url_get(u, CURLUPART_PORT, &port, 0);
        if (rc == CURLUE_OK ? !streq(port, "443") && !override : rc != CURLUE_NO_PORT)
                return text_fail(reterr, "URL has a port other than 443", -EBADMSG);

        if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
                return text_fail(reterr, "URL has no host", -EBADMSG);
        n = strlen(host);
        if (n == 0 || n >= sizeof(lhost))
                return text_fail(reterr, "URL host invalid", -EBADMSG);
        for (size_t i = 0; i <= n; i++) {
                char c = host[i];
                if (c >= 'A' && c <= 'Z')
                        c = (char)(c - 'A' + 'a');
                if (c && !is_lower(c) && !is_digit(c) && c != '-' && c != '.')
                        return text_fail(reterr, "URL host invalid", -EBADMSG);
                lhost[i] = c;
        }
        {
                int r = host_check(lhost, topic_arn, override, reterr);
                if (r < 0)
                        return r;
        }

        if (cert) {
                if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK ||
                    !cert_path_valid(path))
                        return text_fail(reterr, "URL path is not a SimpleNotificationService PEM",
                                         -EBADMSG);
        }
        return 0;
}

int sns_cert_url_check(const char *url, const char *topic_arn, const regex_t *host_override,
                       const char **reterr)
{
        return url_check(url, topic_arn, host_override, true, reterr);
}

int sns_subscribe_url_check(const char *url, const char *topic_arn, const regex_t *host_override,
                            const char **reterr)
{
        return url_check(url, topic_arn, host_override, false, reterr);
}

/* ---- signature ------------------------------------------------------------------- */

static void evp_md_ctx_freep(EVP_MD_CTX **c)
{
        EVP_MD_CTX_free(*c);
}

/* The digests, fetched from the provider once: OpenSSL 3 would otherwise look
 * the algorithm up by name on every delivery. The fetched objects live as
 * long as the process; pthread_once() because worker threads verify too. */
static EVP_MD *sha1, *sha256;
static pthread_once_t digests_once = PTHREAD_ONCE_INIT;

static void digests_fetch(void)
{
        sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *signature_digest(enum sns_signature_version v)
{
        (void)pthread_once(&digests_once, digests_fetch);
        switch (v) {
        case SNS_SIGNATURE_V1:
                return sha1;
        case SNS_SIGNATURE_V2:
                return sha256;
        default:
                return NULL;
        }
}

/* Verification contexts set up for a key and a digest, kept for the next
 * deliveries signed with the same certificate: EVP_DigestVerifyInit() looks
 * up the provider's algorithm and sets up the key each time (1.8 us here),
 * a copy of a ready context costs a tenth of that. Each entry holds a
 * reference to its key, so the address compared names that key and no other
 * for as long as the entry lives; the oldest entry gives way to a new key.
 * Worker threads verify too (work_pool.h): the entries are read and replaced
 * under verifiers_lock, held until the ready context is copied, so that no
 * entry is freed while another thread copies it. The copy then verifies
 * without the lock. */
#define VERIFIERS_MAX 4

struct verifier {
        EVP_PKEY *pkey; /* a reference of ours, or NULL */
        const EVP_MD *md;
        EVP_MD_CTX *ready; /* EVP_DigestVerifyInit() done, never used to verify */
};

static pthread_mutex_t verifiers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct verifier verifiers[VERIFIERS_MAX];
static unsigned verifier_next; /* the entry a new key replaces */

/* Under verifiers_lock. */
static const EVP_MD_CTX *verifier_get(EVP_PKEY *pkey, const EVP_MD *md)
{
        struct verifier *v;
        EVP_MD_CTX *ready;

        for (size_t i = 0; i < VERIFIERS_MAX; i++)
                if (verifiers[i].pkey == pkey && verifiers[i].md == md)
                        return verifiers[i].ready;
        ready = EVP_MD_CTX_new();
        if (!ready)
                return NULL;
        if (EVP_DigestVerifyInit(ready, NULL, md, NULL, pkey) != 1 || !EVP_PKEY_up_ref(pkey)) {
                EVP_MD_CTX_free(ready);
                return NULL;
        }
        v = &verifiers[verifier_next];
        verifier_next = (verifier_next + 1) % VERIFIERS_MAX;
        EVP_MD_CTX_free(v->ready);
        EVP_PKEY_free(v->pkey);
        *v = (struct verifier){.pkey = pkey, .md = md, .ready = ready};
        return ready;
}

int sns_verify_signature(const struct sns_message *m, EVP_PKEY *pkey, const char **reterr)
{
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = NULL;
        _cleanup_free_ char *tbs = NULL;
        const EVP_MD_CTX *ready;
        const EVP_MD *md;
        size_t tbs_len;
        int r;

        if (!m || !pkey || !m->signature || m->signature_len == 0)
                return text_fail(reterr, "invalid argument", -EINVAL);
        if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
                return text_fail(reterr, "signing key is not RSA", -EKEYREJECTED);
        if (EVP_PKEY_get_bits(pkey) < SNS_SIGNING_KEY_MIN)
                return text_fail(reterr, "signing key too small", -EKEYREJECTED);

        if (m->signature_version != SNS_SIGNATURE_V1 && m->signature_version != SNS_SIGNATURE_V2)
                return text_fail(reterr, "unknown SignatureVersion", -EBADMSG);
        md = signature_digest(m->signature_version);
        if (!md)
                return text_fail(reterr, "out of memory", -ENOMEM);

        r = sns_message_string_to_sign(m, &tbs, &tbs_len);
        if (r == -ENOMEM)
                return text_fail(reterr, "out of memory", r);
        if (r < 0)
                return text_fail(reterr, "invalid argument", r);

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return text_fail(reterr, "out of memory", -ENOMEM);
        pthread_mutex_lock(&verifiers_lock);
        ready = verifier_get(pkey, md);
        r = ready ? EVP_MD_CTX_copy_ex(ctx, ready) : 0;
        pthread_mutex_unlock(&verifiers_lock);
        if (!ready) {
                ERR_clear_error();
                return text_fail(reterr, "signing key unusable", -EKEYREJECTED);
        }
        if (r != 1) {
                ERR_clear_error();
                return text_fail(reterr, "out of memory", -ENOMEM);
        }
        r = EVP_DigestVerify(ctx, m->signature, m->signature_len, (const unsigned char *)tbs,
                             tbs_len);
        ERR_clear_error();
        if (r != 1)
                return text_fail(reterr, "signature does not verify", -EBADMSG);
        return 0;
}

int sns_cert_url_key(const char *url, char **ret_key, char **ret_host)
{
        _cleanup_(curl_urlp) CURLU *u = curl_url();
        _cleanup_curl_free_ char *host = NULL, *port = NULL, *path = NULL;
        _cleanup_free_ char *key = NULL, *lhost = NULL;
        CURLUcode rc;

        if (!u)
                return -ENOMEM;
        if (!url || curl_url_set(u, CURLUPART_URL, url, CURLU_PATH_AS_IS) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
                return -EBADMSG;
        rc = curl_url_get(u, CURLUPART_PORT, &port, 0);
        if (rc != CURLUE_OK && rc != CURLUE_NO_PORT)
                return -EBADMSG;
        lhost = strdup(host);
        if (!lhost)
                return -ENOMEM;
        for (char *c = lhost; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char)(*c - 'A' + 'a');
        if (asprintf(&key, "https://%s%s%s%s", lhost, port && !streq(port, "443") ? ":" : "",
                     port && !streq(port, "443") ? port : "", path) < 0)
                return -ENOMEM;
        *ret_key = TAKE_PTR(key);
        if (ret_host)
                *ret_host = TAKE_PTR(lhost);
        return 0;
}
