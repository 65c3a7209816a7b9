/*
 * sns_cert_test.c — the signing certificate checks (dates, the SNS names of
 * each partition, the chain to the trust store and its typed refusal), PEM
 * reading, trust stores and the certificate cache.
 *
 * Two sources of certificates: the real signing certificate of the SNS
 * deliveries in sns_vectors.h (its name and its date and trust refusals), and
 * a CA, an intermediate and leaves made when the tests start (test_pki.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common.h"
#include "sns_cert.h"
#include "sns_message.h"
#include "sns_vectors.h"
#include "test_pki.h"

/* ---- certificates ----------------------------------------------------------------------- */

static void expect_cert(X509 *leaf, STACK_OF(X509) * untrusted, X509_STORE *store, time_t now,
                        const char *region, int expected_r, const char *expected_reason)
{
        const char *reason = NULL;
        int r = sns_cert_check_chain(leaf, untrusted, store, now, region, &reason);

        if (r != expected_r || !streq_ptr(reason, expected_reason))
                fail_msg("cert check: got %d \"%s\", expected %d \"%s\"", r, reason ? reason : "-",
                         expected_r, expected_reason ? expected_reason : "-");
}

static void test_cert_good(void **state)
{
        X509_STORE *store = store_with(ca_cert);
        X509 *san = make_leaf("sns.amazonaws.com", "DNS:sns.amazonaws.com");
        X509 *cn_only = make_leaf("sns.amazonaws.com", NULL);

        expect_cert(san, NULL, store, T0, "us-east-1", 0, NULL);
        expect_cert(cn_only, NULL, store, T0, "us-east-1", 0, NULL);
        expect_cert(san, NULL, store, T0 + 300 * DAY, "eu-west-1", 0, NULL);
        /* Valid from notBefore on, up to just before notAfter (as OpenSSL counts). */
        expect_cert(san, NULL, store, T0 - DAY, "us-east-1", 0, NULL);
        expect_cert(san, NULL, store, T0 + 365 * DAY - 1, "us-east-1", 0, NULL);
        expect_cert(san, NULL, store, T0 + 365 * DAY, "us-east-1", -EKEYEXPIRED,
                    "certificate expired");

        X509_free(san);
        X509_free(cn_only);
        X509_STORE_free(store);
}

static void test_cert_names(void **state)
{
        static const struct {
                const char *san; /* NULL: CN only */
                const char *cn;
                const char *region;
                bool ok;
        } cases[] = {
                {"DNS:sns.amazonaws.com", "x", "us-east-1", true},
                {"DNS:sns-signing.ap-east-1.amazonaws.com", "x", "ap-east-1", true},
                {"DNS:sns-signing.ap-east-1.amazonaws.com", "x", "us-east-1", false},
                {"DNS:sns-signing.us-east-1.amazonaws.com", "x", "ap-east-1", false},
                {"DNS:sns.amazonaws.com.cn", "x", "cn-north-1", true},
                {"DNS:sns-cn-north-1.amazonaws.com.cn", "x", "cn-north-1", true},
                {"DNS:sns-cn-northwest-1.amazonaws.com.cn", "x", "cn-northwest-1", true},
                {"DNS:sns-signing.cn-north-1.amazonaws.com.cn", "x", "cn-north-1", true},
                {"DNS:sns.amazonaws.com", "x", "cn-north-1", false},
                {"DNS:sns.amazonaws.com.cn", "x", "us-east-1", false},
                {"DNS:sns-us-gov-west-1.amazonaws.com", "x", "us-gov-east-1", true},
                {"DNS:sns-us-gov-west-1.amazonaws.com", "x", "us-east-1", false},
                {"DNS:sns.amazonaws.com", "x", "us-gov-west-1", true},
                {"DNS:*.amazonaws.com", "x", "us-east-1", false},
                {"DNS:sns.amazonaws.com.evil.com", "x", "us-east-1", false},
                {"DNS:evil.com, DNS:sns.amazonaws.com", "x", "us-east-1", true},
                {"DNS:sns.us-east-1.amazonaws.com", "x", "us-east-1", false},
                {"DNS:s3.amazonaws.com", "sns.amazonaws.com", "us-east-1", false}, /* SAN wins */
                {"email:sns@amazonaws.com", "sns.amazonaws.com", "us-east-1", true},
                {NULL, "sns.amazonaws.com", "us-east-1", true},
                {NULL, "evil.sns.amazonaws.com", "us-east-1", false},
                {NULL, "SNS.AMAZONAWS.COM", "us-east-1", true},
        };
        X509_STORE *store = store_with(ca_cert);

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                X509 *x = make_leaf(cases[i].cn, cases[i].san);
                const char *reason = NULL;
                int r = sns_cert_check_name(x, cases[i].region, &reason);

                if (cases[i].ok ? r != 0 : r != -EKEYREJECTED)
                        fail_msg("case %zu (%s / %s): %d", i, cases[i].san ? cases[i].san : "-",
                                 cases[i].region, r);
                if (!cases[i].ok) {
                        assert_string_equal(reason,
                                            "certificate is not the SNS signing certificate");
                        expect_cert(x, NULL, store, T0, cases[i].region, -EKEYREJECTED,
                                    "certificate is not the SNS signing certificate");
                } else
                        expect_cert(x, NULL, store, T0, cases[i].region, 0, NULL);
                X509_free(x);
        }
        {
                X509 *x = make_leaf("sns.amazonaws.com", NULL);
                const char *reason = NULL;
                assert_int_equal(sns_cert_check_name(x, "not a region", &reason), -EINVAL);
                assert_int_equal(sns_cert_check_name(x, NULL, &reason), -EINVAL);
                X509_free(x);
        }
        X509_STORE_free(store);
}

static void test_cert_dates(void **state)
{
        X509_STORE *store = store_with(ca_cert);
        X509 *x = make_leaf("sns.amazonaws.com", "DNS:sns.amazonaws.com");
        X509 *expired = make_cert(leaf_key, "sns.amazonaws.com", "DNS:sns.amazonaws.com", ca_cert,
                                  ca_key, false, T0 - 100 * DAY, T0 - DAY);
        X509 *future = make_cert(leaf_key, "sns.amazonaws.com", "DNS:sns.amazonaws.com", ca_cert,
                                 ca_key, false, T0 + DAY, T0 + 100 * DAY);

        expect_cert(x, NULL, store, T0 + 365 * DAY + 1, "us-east-1", -EKEYEXPIRED,
                    "certificate expired");
        expect_cert(x, NULL, store, T0 - DAY - 1, "us-east-1", -EKEYEXPIRED,
                    "certificate not yet valid");
        expect_cert(expired, NULL, store, T0, "us-east-1", -EKEYEXPIRED, "certificate expired");
        expect_cert(future, NULL, store, T0, "us-east-1", -EKEYEXPIRED,
                    "certificate not yet valid");
        expect_cert(future, NULL, store, T0 + 2 * DAY, "us-east-1", 0, NULL);
        /* The issuer's own period counts too: the root ends at T0 + 3650 days. */
        {
                X509 *long_leaf = make_cert(leaf_key, "sns.amazonaws.com", NULL, ca_cert, ca_key,
                                            false, T0, T0 + 4000 * DAY);
                expect_cert(long_leaf, NULL, store, T0 + 3700 * DAY, "us-east-1", -ENOKEY,
                            "certificate not trusted");
                X509_free(long_leaf);
        }
        X509_free(x);
        X509_free(expired);
        X509_free(future);
        X509_STORE_free(store);
}

static void test_cert_trust(void **state)
{
        X509_STORE *store = store_with(ca_cert);
        X509_STORE *other_store = store_with(other_ca_cert);
        X509_STORE *empty = store_with(NULL);
        X509 *leaf = make_leaf("sns.amazonaws.com", "DNS:sns.amazonaws.com");
        X509 *self_signed = make_cert(leaf_key, "sns.amazonaws.com", "DNS:sns.amazonaws.com", NULL,
                                      NULL, false, T0 - DAY, T0 + DAY);
        /* Same issuer name as ca_cert, different key: a forged issuer. */
        X509 *forged = make_cert(leaf_key, "sns.amazonaws.com", "DNS:sns.amazonaws.com",
                                 other_ca_cert, other_key, false, T0 - DAY, T0 + DAY);
        X509 *via_inter = make_cert(leaf_key, "sns.amazonaws.com", "DNS:sns.amazonaws.com",
                                    inter_cert, inter_key, false, T0 - DAY, T0 + DAY);
        STACK_OF(X509) *chain = sk_X509_new_null();

        assert_non_null(chain);
        assert_true(sk_X509_push(chain, inter_cert) > 0);

        expect_cert(leaf, NULL, store, T0, "us-east-1", 0, NULL);
        expect_cert(leaf, NULL, other_store, T0, "us-east-1", -ENOKEY, "certificate not trusted");
        expect_cert(leaf, NULL, empty, T0, "us-east-1", -ENOKEY, "certificate not trusted");
        expect_cert(self_signed, NULL, store, T0, "us-east-1", -ENOKEY, "certificate not trusted");
        expect_cert(forged, NULL, store, T0, "us-east-1", -ENOKEY, "certificate not trusted");
        expect_cert(via_inter, NULL, store, T0, "us-east-1", -ENOKEY, "certificate not trusted");
        expect_cert(via_inter, chain, store, T0, "us-east-1", 0, NULL);
        expect_cert(via_inter, chain, other_store, T0, "us-east-1", -ENOKEY,
                    "certificate not trusted");
        /* An intermediate handed in as untrusted does not become an anchor. */
        expect_cert(via_inter, chain, empty, T0, "us-east-1", -ENOKEY, "certificate not trusted");

        sk_X509_free(chain);
        X509_free(leaf);
        X509_free(self_signed);
        X509_free(forged);
        X509_free(via_inter);
        X509_STORE_free(store);
        X509_STORE_free(other_store);
        X509_STORE_free(empty);
}

static void test_real_cert_checks(void **state)
{
        X509 *cert = load_real_cert();
        X509_STORE *empty = store_with(NULL);
        const char *reason = NULL;

        assert_int_equal(sns_cert_check_name(cert, "us-west-2", &reason), 0);
        assert_int_equal(sns_cert_check_name(cert, "ap-east-1", &reason), 0);
        assert_int_equal(sns_cert_check_name(cert, "cn-north-1", &reason), -EKEYREJECTED);
        /* Its intermediate is not at hand, so it cannot chain here. */
        expect_cert(cert, NULL, empty, REAL_CERT_VALID_AT, "us-west-2", -ENOKEY,
                    "certificate not trusted");
        expect_cert(cert, NULL, empty, (time_t)1795996800 /* 2026-11-24 */, "us-west-2",
                    -EKEYEXPIRED, "certificate expired");
        expect_cert(cert, NULL, empty, (time_t)1735689600 /* 2025-01-01 */, "us-west-2",
                    -EKEYEXPIRED, "certificate not yet valid");
        X509_free(cert);
        X509_STORE_free(empty);
}

static void test_cert_check_arguments(void **state)
{
        X509_STORE *store = store_with(ca_cert);
        X509 *leaf = make_leaf("sns.amazonaws.com", NULL);
        const char *reason = NULL;

        assert_int_equal(sns_cert_check_chain(NULL, NULL, store, T0, "us-east-1", &reason),
                         -EINVAL);
        assert_int_equal(sns_cert_check_chain(leaf, NULL, NULL, T0, "us-east-1", &reason), -EINVAL);
        assert_int_equal(sns_cert_check_chain(leaf, NULL, store, T0, NULL, &reason), -EINVAL);
        X509_free(leaf);
        X509_STORE_free(store);
}

static void test_cert_load_pem(void **state)
{
        _cleanup_free_ char *leaf_pem = NULL, *inter_pem = NULL, *two = NULL, *junk_before = NULL,
                            *junk_after = NULL, *spaced = NULL, *truncated = NULL, *many = NULL;
        _cleanup_free_ char *huge = malloc(SNS_CERT_PEM_MAX + 1);
        X509 *leaf = make_leaf("sns.amazonaws.com", NULL);
        X509 *cert = NULL;
        STACK_OF(X509) *chain = NULL;
        const char *reason = NULL;

        leaf_pem = cert_to_pem(leaf);
        inter_pem = cert_to_pem(inter_cert);
        assert_true(asprintf(&two, "%s%s", leaf_pem, inter_pem) > 0);
        assert_true(asprintf(&junk_before, "hello\n%s", leaf_pem) > 0);
        assert_true(asprintf(&junk_after, "%sgoodbye\n", leaf_pem) > 0);
        assert_true(asprintf(&spaced, "\n\n  %s\r\n\n", leaf_pem) > 0);
        truncated = strndup(leaf_pem, strlen(leaf_pem) / 2);
        assert_true(asprintf(&many, "%s%s%s%s%s%s%s%s%s", leaf_pem, leaf_pem, leaf_pem, leaf_pem,
                             leaf_pem, leaf_pem, leaf_pem, leaf_pem, leaf_pem) > 0);

        assert_int_equal(sns_cert_load_pem(two, strlen(two), &cert, &chain, &reason), 0);
        assert_int_equal(X509_cmp(cert, leaf), 0);
        assert_int_equal(sk_X509_num(chain), 1);
        assert_int_equal(X509_cmp(sk_X509_value(chain, 0), inter_cert), 0);
        X509_free(cert);
        sk_X509_pop_free(chain, X509_free);

        cert = NULL;
        assert_int_equal(sns_cert_load_pem(spaced, strlen(spaced), &cert, &chain, &reason), 0);
        assert_int_equal(sk_X509_num(chain), 0);
        X509_free(cert);
        sk_X509_pop_free(chain, X509_free);
        assert_int_equal(sns_cert_load_pem(two, strlen(two), &cert, NULL, &reason), 0);
        X509_free(cert);

        cert = NULL;
        assert_int_equal(sns_cert_load_pem(junk_before, strlen(junk_before), &cert, NULL, &reason),
                         -EBADMSG);
        assert_string_equal(reason, "bad certificate PEM");
        assert_int_equal(sns_cert_load_pem(junk_after, strlen(junk_after), &cert, NULL, &reason),
                         -EBADMSG);
        assert_string_equal(reason, "bad certificate PEM");
        assert_int_equal(sns_cert_load_pem(truncated, strlen(truncated), &cert, NULL, &reason),
                         -EBADMSG);
        assert_string_equal(reason, "bad certificate PEM");
        assert_int_equal(sns_cert_load_pem(" \n", 2, &cert, NULL, &reason), -EBADMSG);
        assert_string_equal(reason, "no certificate in PEM");
        assert_int_equal(sns_cert_load_pem(many, strlen(many), &cert, NULL, &reason), -EMSGSIZE);
        assert_string_equal(reason, "too many certificates in PEM");
        assert_non_null(huge);
        memset(huge, ' ', SNS_CERT_PEM_MAX + 1);
        assert_int_equal(sns_cert_load_pem(huge, SNS_CERT_PEM_MAX + 1, &cert, NULL, &reason),
                         -EMSGSIZE);
        assert_string_equal(reason, "certificate PEM too large");
        assert_int_equal(sns_cert_load_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END "
                                           "CERTIFICATE-----\n",
                                           58, &cert, NULL, &reason),
                         -EBADMSG);
        assert_null(cert);
        assert_int_equal(ERR_peek_error(), 0); /* no error left queued */
        X509_free(leaf);
}

static void test_trust_store(void **state)
{
        char path[] = "/tmp/sns_verify_test.XXXXXX";
        _cleanup_free_ char *ca_pem = cert_to_pem(ca_cert);
        X509_STORE *store = NULL;
        X509 *leaf = make_leaf("sns.amazonaws.com", NULL);
        int fd;

        assert_int_equal(sns_trust_store_new("/nonexistent/ca.pem", &store), -ENOENT);
        assert_null(store);

        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, ca_pem, strlen(ca_pem)), (ssize_t)strlen(ca_pem));
        close(fd);
        assert_int_equal(sns_trust_store_new(path, &store), 0);
        expect_cert(leaf, NULL, store, T0, "us-east-1", 0, NULL);
        X509_STORE_free(store);
        store = NULL;

        /* Not PEM at all. */
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "junk\n", 5), 5);
        close(fd);
        assert_int_equal(sns_trust_store_new(path, &store), -EINVAL);
        unlink(path);

        /* The system store: loads, and does not trust the test CA. */
        assert_int_equal(sns_trust_store_new(NULL, &store), 0);
        expect_cert(leaf, NULL, store, T0, "us-east-1", -ENOKEY, "certificate not trusted");
        X509_STORE_free(store);
        X509_free(leaf);
}

/* ---- TopicArn --------------------------------------------------------------------------- */

/* ---- certificate cache ---------------------------------------------------------------------- */

#define URL_A "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-a.pem"
#define URL_B "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-b.pem"
#define URL_C "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-c.pem"

static int cache_get(struct sns_cert_cache *c, const char *url, time_t now, X509 *expected)
{
        X509 *got = NULL;
        int r = sns_cert_cache_get(c, url, now, &got);

        if (r == SNS_CERT_CACHE_HIT) {
                assert_non_null(got);
                if (expected)
                        assert_ptr_equal(got, expected);
                X509_free(got);
        } else
                assert_null(got);
        return r;
}

static void test_cache_lru(void **state)
{
        _cleanup_sns_cert_cache_ struct sns_cert_cache *c = NULL;
        X509 *a = make_leaf("sns.amazonaws.com", NULL);
        X509 *b = make_leaf("sns.amazonaws.com", NULL);
        X509 *x = make_leaf("sns.amazonaws.com", NULL);

        assert_int_equal(sns_cert_cache_new(2, 2, 3600, 60, &c), 0);
        assert_int_equal(cache_get(c, URL_A, T0, NULL), SNS_CERT_CACHE_MISS);
        assert_int_equal(sns_cert_cache_put(c, URL_A, a, T0), 0);
        assert_int_equal(sns_cert_cache_put(c, URL_B, b, T0 + 1), 0);
        assert_int_equal(cache_get(c, URL_A, T0 + 2, a), SNS_CERT_CACHE_HIT); /* A now recent */
        assert_int_equal(sns_cert_cache_put(c, URL_C, x, T0 + 3), 0);         /* evicts B */
        assert_int_equal(cache_get(c, URL_B, T0 + 4, NULL), SNS_CERT_CACHE_MISS);
        assert_int_equal(cache_get(c, URL_A, T0 + 4, a), SNS_CERT_CACHE_HIT);
        assert_int_equal(cache_get(c, URL_C, T0 + 4, x), SNS_CERT_CACHE_HIT);

        /* Replacing an entry keeps one entry per URL: a second entry for A
         * would have evicted C, the least recently used. */
        assert_int_equal(cache_get(c, URL_A, T0 + 5, a), SNS_CERT_CACHE_HIT);
        assert_int_equal(sns_cert_cache_put(c, URL_A, b, T0 + 5), 0);
        assert_int_equal(cache_get(c, URL_A, T0 + 6, b), SNS_CERT_CACHE_HIT);
        assert_int_equal(cache_get(c, URL_C, T0 + 6, x), SNS_CERT_CACHE_HIT);

        /* The cache holds its own references. */
        X509_free(a);
        X509_free(b);
        X509_free(x);
        assert_int_equal(cache_get(c, URL_A, T0 + 7, NULL), SNS_CERT_CACHE_HIT);
        assert_int_equal(cache_get(c, URL_C, T0 + 7, NULL), SNS_CERT_CACHE_HIT);

        sns_cert_cache_clear(c);
        assert_int_equal(cache_get(c, URL_A, T0 + 8, NULL), SNS_CERT_CACHE_MISS);
        assert_int_equal(cache_get(c, URL_C, T0 + 8, NULL), SNS_CERT_CACHE_MISS);
}

static void test_cache_expiry(void **state)
{
        _cleanup_sns_cert_cache_ struct sns_cert_cache *c = NULL;
        X509 *a = make_leaf("sns.amazonaws.com", NULL);
        X509 *b = make_leaf("sns.amazonaws.com", NULL);
        X509 *short_lived = make_cert(leaf_key, "sns.amazonaws.com", NULL, ca_cert, ca_key, false,
                                      T0 - DAY, T0 + 30);

        assert_int_equal(sns_cert_cache_new(2, 1, 60, 10, &c), 0);
        assert_int_equal(sns_cert_cache_put(c, URL_A, a, T0), 0);
        assert_int_equal(cache_get(c, URL_A, T0 + 59, a), SNS_CERT_CACHE_HIT);
        assert_int_equal(cache_get(c, URL_A, T0 + 60, NULL), SNS_CERT_CACHE_MISS);

        /* notAfter comes before the ttl. */
        assert_int_equal(sns_cert_cache_put(c, URL_B, short_lived, T0), 0);
        assert_int_equal(cache_get(c, URL_B, T0 + 29, short_lived), SNS_CERT_CACHE_HIT);
        assert_int_equal(cache_get(c, URL_B, T0 + 31, NULL), SNS_CERT_CACHE_MISS);

        /* An expired entry is reused before the least recently used one. */
        assert_int_equal(sns_cert_cache_put(c, URL_A, a, T0), 0);              /* expires T0+60 */
        assert_int_equal(sns_cert_cache_put(c, URL_B, b, T0 + 50), 0);         /* expires T0+110 */
        assert_int_equal(cache_get(c, URL_A, T0 + 55, a), SNS_CERT_CACHE_HIT); /* B is LRU */
        assert_int_equal(sns_cert_cache_put(c, URL_C, a, T0 + 65), 0);
        assert_int_equal(cache_get(c, URL_B, T0 + 66, b), SNS_CERT_CACHE_HIT);
        assert_int_equal(cache_get(c, URL_C, T0 + 66, a), SNS_CERT_CACHE_HIT);

        X509_free(a);
        X509_free(b);
        X509_free(short_lived);
}

static void test_cache_negative(void **state)
{
        _cleanup_sns_cert_cache_ struct sns_cert_cache *c = NULL;
        _cleanup_sns_cert_cache_ struct sns_cert_cache *no_neg = NULL;
        X509 *a = make_leaf("sns.amazonaws.com", NULL);
        X509 *b = make_leaf("sns.amazonaws.com", NULL);
        char url[128];

        assert_int_equal(sns_cert_cache_new(2, 3, 3600, 10, &c), 0);
        assert_int_equal(sns_cert_cache_put_negative(c, URL_C, T0), 0);
        assert_int_equal(cache_get(c, URL_C, T0 + 9, NULL), SNS_CERT_CACHE_NEGATIVE);
        assert_int_equal(cache_get(c, URL_C, T0 + 10, NULL), SNS_CERT_CACHE_MISS);

        /* A flood of failing URLs never evicts a good certificate. */
        assert_int_equal(sns_cert_cache_put(c, URL_A, a, T0), 0);
        assert_int_equal(sns_cert_cache_put(c, URL_B, b, T0), 0);
        for (int i = 0; i < 100; i++) {
                (void)snprintf(url, sizeof(url),
                               "https://sns.us-east-1.amazonaws.com/"
                               "SimpleNotificationService-%04x.pem",
                               i);
                assert_int_equal(sns_cert_cache_put_negative(c, url, T0 + 1), 0);
        }
        assert_int_equal(cache_get(c, URL_A, T0 + 2, a), SNS_CERT_CACHE_HIT);
        assert_int_equal(cache_get(c, URL_B, T0 + 2, b), SNS_CERT_CACHE_HIT);
        /* The newest failures are the ones remembered, as many as the pool holds. */
        for (int i = 0; i < 100; i++) {
                (void)snprintf(url, sizeof(url),
                               "https://sns.us-east-1.amazonaws.com/"
                               "SimpleNotificationService-%04x.pem",
                               i);
                assert_int_equal(cache_get(c, url, T0 + 2, NULL),
                                 i >= 97 ? SNS_CERT_CACHE_NEGATIVE : SNS_CERT_CACHE_MISS);
        }

        /* Positive and negative entries replace each other. */
        assert_int_equal(sns_cert_cache_put_negative(c, URL_A, T0 + 3), 0);
        assert_int_equal(cache_get(c, URL_A, T0 + 4, NULL), SNS_CERT_CACHE_NEGATIVE);
        assert_int_equal(sns_cert_cache_put(c, URL_A, a, T0 + 5), 0);
        assert_int_equal(cache_get(c, URL_A, T0 + 6, a), SNS_CERT_CACHE_HIT);

        /* No negative pool: failures are not remembered. */
        assert_int_equal(sns_cert_cache_new(1, 0, 3600, 10, &no_neg), 0);
        assert_int_equal(sns_cert_cache_put_negative(no_neg, URL_A, T0), 0);
        assert_int_equal(cache_get(no_neg, URL_A, T0, NULL), SNS_CERT_CACHE_MISS);

        X509_free(a);
        X509_free(b);
}

static void test_cache_arguments(void **state)
{
        struct sns_cert_cache *c = NULL;
        X509 *a = make_leaf("sns.amazonaws.com", NULL);
        X509 *got = NULL;
        char *long_url = malloc(SNS_URL_MAX + 2);

        assert_int_equal(sns_cert_cache_new(0, 1, 1, 1, &c), -EINVAL);
        assert_int_equal(sns_cert_cache_new(SNS_CERT_CACHE_MAX + 1, 1, 1, 1, &c), -EINVAL);
        assert_int_equal(sns_cert_cache_new(1, SNS_CERT_CACHE_MAX + 1, 1, 1, &c), -EINVAL);
        assert_int_equal(sns_cert_cache_new(1, 1, 0, 1, &c), -EINVAL);
        assert_int_equal(sns_cert_cache_new(1, 1, 1, 0, &c), -EINVAL);
        assert_null(c);
        assert_int_equal(sns_cert_cache_new(1, 1, 1, 1, &c), 0);

        assert_non_null(long_url);
        memset(long_url, 'a', SNS_URL_MAX + 1);
        long_url[SNS_URL_MAX + 1] = '\0';
        assert_int_equal(sns_cert_cache_put(c, long_url, a, T0), -EINVAL);
        assert_int_equal(sns_cert_cache_put_negative(c, long_url, T0), -EINVAL);
        assert_int_equal(sns_cert_cache_put(c, URL_A, NULL, T0), -EINVAL);
        assert_int_equal(sns_cert_cache_get(c, NULL, T0, &got), -EINVAL);
        assert_int_equal(sns_cert_cache_get(NULL, URL_A, T0, &got), -EINVAL);
        assert_null(got);
        /* Nothing refused was stored. */
        assert_int_equal(cache_get(c, URL_A, T0, NULL), SNS_CERT_CACHE_MISS);
        assert_int_equal(cache_get(c, long_url, T0, NULL), SNS_CERT_CACHE_MISS);
        assert_null(sns_cert_cache_free(c));
        assert_null(sns_cert_cache_free(NULL));
        free(long_url);
        X509_free(a);
}

/* One rule for every URL the override governs: the whole host, any case. */
int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cert_good),
                cmocka_unit_test(test_cert_names),
                cmocka_unit_test(test_cert_dates),
                cmocka_unit_test(test_cert_trust),
                cmocka_unit_test(test_real_cert_checks),
                cmocka_unit_test(test_cert_check_arguments),
                cmocka_unit_test(test_cert_load_pem),
                cmocka_unit_test(test_trust_store),
                cmocka_unit_test(test_cache_lru),
                cmocka_unit_test(test_cache_expiry),
                cmocka_unit_test(test_cache_negative),
                cmocka_unit_test(test_cache_arguments),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
