/*
 * sns_verify_test.c — URL rules, signature verification, certificate checks
 * and the certificate cache.
 *
 * Two sources of keys and certificates:
 *   - the real SNS deliveries and their real signing certificate (published as
 *     test data with the AWS SDK for Java v2, sns-message-manager). The
 *     certificate chains to "Amazon RSA 2048 M01", which is not in this test's
 *     stores, and expired on 2026-10-14, so only its signatures, its name and
 *     the date and trust refusals are checked with it;
 *   - RSA keys, a CA, an intermediate and leaf certificates made when the tests
 *     start, with OpenSSL's C API, for everything else.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common.h"
#include "sns_message.h"
#include "sns_cert.h"
#include "sns_verify.h"

/* ---- real SNS deliveries and their signing certificate --------------------------- */

#include "sns_vectors.h"
#include "test_pki.h"

static const char vec_cert_pem[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIFxTCCBK2gAwIBAgIQBkyRNHAyygLkObkxH5ju+zANBgkqhkiG9w0BAQsFADA8\n"
        "MQswCQYDVQQGEwJVUzEPMA0GA1UEChMGQW1hem9uMRwwGgYDVQQDExNBbWF6b24g\n"
        "UlNBIDIwNDggTTAxMB4XDTI1MTExMDAwMDAwMFoXDTI2MTAxNDIzNTk1OVowHDEa\n"
        "MBgGA1UEAxMRc25zLmFtYXpvbmF3cy5jb20wggEiMA0GCSqGSIb3DQEBAQUAA4IB\n"
        "DwAwggEKAoIBAQChbVNQ+DEaT5WN+l+bg0iEeF666Z6LDFc1KJr4lNl0odcXQSsk\n"
        "KsZYCMVdp4I/Ikk9zWyckRTMkmQGYimpD+bTsMCP5C/sJIU0E9Y2OXjjl5Videkq\n"
        "qnRL9VdE5N41Rvks7S/5MpYcSmCsmaHfwcv82Gvx2zm9CrA5Xu7K2ZqhzRQPCRSP\n"
        "mHTHQr4ED63ujE+qTpPgQZ0TvgmcrAc08Z75Z7Zzs17aTNc3YhAtQx9WowN8uiHk\n"
        "kgc+ONNdtwKvWZNmnbmxMHYtYc291WCP1K1Nh4TV5XNyjIebzQKDrqTCN0ItAr1x\n"
        "e6Bl3BYS3SG9XHAy0q3ekITzQsKypcuaK6dTAgMBAAGjggLhMIIC3TAfBgNVHSME\n"
        "GDAWgBSBuA5jiokSGOX6OztQlZ/m5ZAThTAdBgNVHQ4EFgQUBQEUzzzuVJAKzAlR\n"
        "d0Q//W6HvZUwHAYDVR0RBBUwE4IRc25zLmFtYXpvbmF3cy5jb20wEwYDVR0gBAww\n"
        "CjAIBgZngQwBAgEwDgYDVR0PAQH/BAQDAgWgMBMGA1UdJQQMMAoGCCsGAQUFBwMB\n"
        "MDsGA1UdHwQ0MDIwMKAuoCyGKmh0dHA6Ly9jcmwucjJtMDEuYW1hem9udHJ1c3Qu\n"
        "Y29tL3IybTAxLmNybDB1BggrBgEFBQcBAQRpMGcwLQYIKwYBBQUHMAGGIWh0dHA6\n"
        "Ly9vY3NwLnIybTAxLmFtYXpvbnRydXN0LmNvbTA2BggrBgEFBQcwAoYqaHR0cDov\n"
        "L2NydC5yMm0wMS5hbWF6b250cnVzdC5jb20vcjJtMDEuY2VyMAwGA1UdEwEB/wQC\n"
        "MAAwggF/BgorBgEEAdZ5AgQCBIIBbwSCAWsBaQB3ANdtfRDRp/V3wsfpX9cAv/mC\n"
        "yTNaZeHQswFzF8DIxWl3AAABmnAb33MAAAQDAEgwRgIhANXAgMEZWU326cqxqwnf\n"
        "ntD0XcBjRbmvVMOp3hZ8boPXAiEAkI3NTMXcdLCChHak1ipOae7K7r3spMGUMk6Q\n"
        "cEUKqBEAdgDCMX5XRRmjRe5/ON6ykEHrx8IhWiK/f9W1rXaa2Q5SzQAAAZpwG9+u\n"
        "AAAEAwBHMEUCIQD+Qyok8NYaFuQkccW+XIMmxHxj6Yka2wjtg6UN/tbU5wIgcp4z\n"
        "8MyC/dUfeLRuHAt0owtVgEu7xXqrMBOYlbXrfC4AdgDLOPcViXyEoURfW8Hd+8lu\n"
        "8ppZzUcKaQWFsMsUwxRY5wAAAZpwG9+yAAAEAwBHMEUCIQCmu1jQUG9A2br7OqwM\n"
        "FvQXtBX10yIvvDa6a2Ov1Zgg6gIgKlqRvN6WhX0pSHAN2bKmjRwIUI3X9kjS/A/m\n"
        "DYULaV4wDQYJKoZIhvcNAQELBQADggEBAIbTQWQhqrG6SzwLq79tKCpI0aL0xlD+\n"
        "/jrGPxpwTlK7rtAArHiEVh/bsmwLYRlIxPBiU+NE/kqeT0lhJA6/e3X3KRmnpJ6u\n"
        "Z70PJGYwmZbSRsFom0vGFBMncX0qYx1iD0dooPeAkkSnM5j81rBh+FepV3HfF+tA\n"
        "9gaglWLsU7Z/A0fdn9D32UPreVHloOut5EyEinvXRUAWZco9CRloyEXJr7Mxq9MZ\n"
        "vYOK+5wuSPHnPij+fGlQsPxEgoTnCmU03PqNS49kL13jjEnYYdijqL+4rfHtuZbc\n"
        "4hlVoZfttwg8wD3m5brhQ+GkBBNYN8HFtdVy/BnFi+SPJqv6BgB3Y00=\n"
        "-----END CERTIFICATE-----\n";

/* 2026-03-06T20:00:00Z, when the real certificate was valid. */
#define REAL_CERT_VALID_AT ((time_t)1772827200)

static const char topic_us_east_1[] = "arn:aws:sns:us-east-1:123456789012:twowayd-inbound";
static const char good_cert_url[] =
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem";

/* ---- fixtures -------------------------------------------------------------------- */

static X509 *load_real_cert(void)
{
        X509 *cert = NULL;
        const char *reason = NULL;

        assert_int_equal(
                sns_cert_load_pem(vec_cert_pem, strlen(vec_cert_pem), &cert, NULL, &reason), 0);
        assert_non_null(cert);
        return cert;
}

static struct sns_message *parse_ok(const char *json)
{
        struct sns_message *m = NULL;
        const char *reason = NULL;
        int r = sns_message_parse(json, strlen(json), &m, &reason);

        if (r < 0)
                fail_msg("parse: %d %s", r, reason);
        return m;
}

/* Replaces the first occurrence of from with to in a copy of s. */
static char *replace(const char *s, const char *from, const char *to)
{
        const char *p = strstr(s, from);
        char *out = NULL;

        assert_non_null(p);
        assert_true(asprintf(&out, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from)) > 0);
        return out;
}

static void expect_verify(const char *json, EVP_PKEY *pkey, int expected_r,
                          const char *expected_reason)
{
        _cleanup_sns_message_ struct sns_message *m = parse_ok(json);
        const char *reason = NULL;
        int r = sns_verify_signature(m, pkey, &reason);

        if (r != expected_r)
                fail_msg("verify: got %d (%s), expected %d", r, reason ? reason : "-", expected_r);
        if (expected_reason)
                assert_string_equal(reason, expected_reason);
        else
                assert_null(reason);
}

/* A Notification signed with key and md, declaring SignatureVersion version. */
static char *signed_notification(EVP_PKEY *key, const EVP_MD *md, const char *version,
                                 const char *subject)
{
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Type", "Notification",
                              "MessageId", "5f1b9c2e-2c1a-4f5e-9d0b-3b1f6f0e8a11", "TopicArn",
                              topic_us_east_1, "Message",
                              "{\"originationNumber\":\"+14255550182\",\"messageBody\":\"hi\"}",
                              "Timestamp", "2026-01-01T00:00:00.000Z", "SignatureVersion", version,
                              "Signature", "QUJD", "SigningCertURL", good_cert_url);
        _cleanup_sns_message_ struct sns_message *m = NULL;
        _cleanup_free_ char *tbs = NULL, *text = NULL;
        unsigned char sig[1024], b64[2048];
        size_t sig_len = sizeof(sig), tbs_len;
        EVP_MD_CTX *ctx;
        char *out;

        assert_non_null(o);
        if (subject)
                assert_int_equal(json_object_set_new(o, "Subject", json_string(subject)), 0);
        text = json_dumps(o, JSON_COMPACT);
        assert_non_null(text);
        m = parse_ok(text);
        assert_int_equal(sns_message_string_to_sign(m, &tbs, &tbs_len), 0);

        ctx = EVP_MD_CTX_new();
        assert_non_null(ctx);
        assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, key), 1);
        assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)tbs, tbs_len),
                         1);
        EVP_MD_CTX_free(ctx);
        assert_true(EVP_EncodeBlock(b64, sig, (int)sig_len) > 0);

        assert_int_equal(json_object_set_new(o, "Signature", json_string((const char *)b64)), 0);
        out = json_dumps(o, JSON_COMPACT);
        assert_non_null(out);
        json_decref(o);
        return out;
}

/* ---- signatures: the real deliveries ---------------------------------------------- */

static void test_real_signatures_verify(void **state)
{
        X509 *cert = load_real_cert();
        const char *vectors[] = {vec_notification_no_subject, vec_notification_subject,
                                 vec_notification_v2, vec_subscription_confirmation,
                                 vec_unsubscribe_confirmation};

        for (size_t i = 0; i < ARRAY_SIZE(vectors); i++)
                expect_verify(vectors[i], X509_get0_pubkey(cert), 0, NULL);
        X509_free(cert);
}

static void test_real_signatures_tampered(void **state)
{
        X509 *cert = load_real_cert();
        EVP_PKEY *pk = X509_get0_pubkey(cert);
        static const struct {
                const char *const *json;
                const char *from, *to;
        } cases[] = {
                {NULL, "Hello!", "Hallo!"},                          /* Message */
                {NULL, "My message subject", "My message Subject"},  /* Subject */
                {NULL, "\"Subject\" : \"My message subject\",", ""}, /* Subject dropped */
                {NULL, "19:53:21.424Z", "19:53:21.425Z"},            /* Timestamp */
                {NULL, "dongie-standard-topic\",", "dongie-standard-topix\","}, /* TopicArn */
                {NULL, "26858270-545e", "26858270-545f"},                       /* MessageId */
                /* v1 signature presented as v2 */
                {NULL, "\"SignatureVersion\" : \"1\"", "\"SignatureVersion\" : \"2\""},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *t =
                        replace(vec_notification_subject, cases[i].from, cases[i].to);
                expect_verify(t, pk, -EBADMSG, "signature does not verify");
        }
        {
                /* v2 presented as v1, and a confirmation's Token and SubscribeURL. */
                _cleanup_free_ char *a =
                        replace(vec_notification_v2, "\"SignatureVersion\" : \"2\"",
                                "\"SignatureVersion\" : \"1\"");
                _cleanup_free_ char *b = replace(vec_subscription_confirmation,
                                                 "\"Token\" : \"2336", "\"Token\" : \"2337");
                _cleanup_free_ char *c = replace(vec_subscription_confirmation,
                                                 "\"SubscribeURL\" : \"https://sns.us-west-2",
                                                 "\"SubscribeURL\" : \"https://sns.us-west-1");
                _cleanup_free_ char *d = replace(vec_unsubscribe_confirmation,
                                                 "\"Type\" : \"UnsubscribeConfirmation\"",
                                                 "\"Type\" : \"SubscriptionConfirmation\"");
                expect_verify(a, pk, -EBADMSG, "signature does not verify");
                expect_verify(b, pk, -EBADMSG, "signature does not verify");
                expect_verify(c, pk, -EBADMSG, "signature does not verify");
                expect_verify(d, pk, -EBADMSG, "signature does not verify");
        }
        {
                /* Another message's signature. */
                _cleanup_free_ char *e =
                        replace(vec_notification_no_subject, "h5/2kLNyPKvMH+ipOA1kueaA1GLFlcKbO",
                                "h5/2kLNyPKvMH+ipOA1kueaA1GLFlcKbP");
                expect_verify(e, pk, -EBADMSG, "signature does not verify");
        }
        /* The right message, a key that did not sign it. */
        expect_verify(vec_notification_subject, leaf_key, -EBADMSG, "signature does not verify");
        X509_free(cert);
}

/* ---- signatures: generated keys ------------------------------------------------------- */

static void test_generated_signatures(void **state)
{
        _cleanup_free_ char *v1 = signed_notification(leaf_key, EVP_sha1(), "1", NULL);
        _cleanup_free_ char *v2 = signed_notification(leaf_key, EVP_sha256(), "2", "subj");
        _cleanup_free_ char *v1_as_v2 = signed_notification(leaf_key, EVP_sha1(), "2", NULL);
        _cleanup_free_ char *v2_as_v1 = signed_notification(leaf_key, EVP_sha256(), "1", NULL);
        _cleanup_free_ char *sha512 = signed_notification(leaf_key, EVP_sha512(), "2", NULL);
        _cleanup_free_ char *tampered =
                replace(v2, "\"messageBody\\\":\\\"hi\\\"", "\"messageBody\\\":\\\"ho\\\"");
        _cleanup_free_ char *no_subject = replace(v2, ",\"Subject\":\"subj\"", "");

        expect_verify(v1, leaf_key, 0, NULL);
        expect_verify(v2, leaf_key, 0, NULL);
        expect_verify(v1_as_v2, leaf_key, -EBADMSG, "signature does not verify");
        expect_verify(v2_as_v1, leaf_key, -EBADMSG, "signature does not verify");
        expect_verify(sha512, leaf_key, -EBADMSG, "signature does not verify");
        expect_verify(tampered, leaf_key, -EBADMSG, "signature does not verify");
        expect_verify(no_subject, leaf_key, -EBADMSG, "signature does not verify");
        /* Wrong key. */
        expect_verify(v1, other_key, -EBADMSG, "signature does not verify");
        expect_verify(v2, ca_key, -EBADMSG, "signature does not verify");
}

/* Each signature is checked with the key it is given, whatever keys came
 * before: more keys than the verifier keeps, in turn and again, and a key
 * freed by its owner while kept, with a new one made after it. */
static void test_signatures_with_many_keys(void **state)
{
        EVP_PKEY *keys[6] = {leaf_key, other_key, ca_key, inter_key};
        char *signed_by[ARRAY_SIZE(keys)] = {};

        keys[4] = EVP_RSA_gen(2048);
        assert_non_null(keys[4]);
        for (size_t i = 0; i < ARRAY_SIZE(keys) - 1; i++)
                signed_by[i] = signed_notification(keys[i], EVP_sha1(), "1", NULL);
        for (int round = 0; round < 2; round++)
                for (size_t i = 0; i < ARRAY_SIZE(keys) - 1; i++) {
                        expect_verify(signed_by[i], keys[i], 0, NULL);
                        expect_verify(signed_by[(i + 1) % 5], keys[i], -EBADMSG,
                                      "signature does not verify");
                }
        EVP_PKEY_free(keys[4]);
        keys[5] = EVP_RSA_gen(2048);
        assert_non_null(keys[5]);
        expect_verify(signed_by[4], keys[5], -EBADMSG, "signature does not verify");
        signed_by[5] = signed_notification(keys[5], EVP_sha1(), "1", NULL);
        expect_verify(signed_by[5], keys[5], 0, NULL);
        expect_verify(signed_by[5], leaf_key, -EBADMSG, "signature does not verify");
        EVP_PKEY_free(keys[5]);
        for (size_t i = 0; i < ARRAY_SIZE(signed_by); i++)
                free(signed_by[i]);
}

static void test_signature_key_checks(void **state)
{
        EVP_PKEY *small = EVP_RSA_gen(1024);
        EVP_PKEY *ec = EVP_EC_gen("P-256");
        _cleanup_free_ char *v2 = signed_notification(leaf_key, EVP_sha256(), "2", NULL);
        _cleanup_free_ char *small_signed = NULL;
        struct sns_message fake = {0};
        const char *reason = NULL;

        assert_non_null(small);
        assert_non_null(ec);
        small_signed = signed_notification(small, EVP_sha256(), "2", NULL);
        expect_verify(small_signed, small, -EKEYREJECTED, "signing key too small");
        expect_verify(v2, ec, -EKEYREJECTED, "signing key is not RSA");

        assert_int_equal(sns_verify_signature(NULL, leaf_key, &reason), -EINVAL);
        assert_int_equal(sns_verify_signature(&fake, leaf_key, &reason), -EINVAL);
        EVP_PKEY_free(small);
        EVP_PKEY_free(ec);
}

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
        const char *reason = NULL;

        expect_cert(san, NULL, store, T0, "us-east-1", 0, NULL);
        expect_cert(cn_only, NULL, store, T0, "us-east-1", 0, NULL);
        assert_int_equal(sns_cert_check(san, store, T0 + 300 * DAY, "eu-west-1", &reason), 0);
        assert_null(reason);
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

        assert_int_equal(sns_cert_check(NULL, store, T0, "us-east-1", &reason), -EINVAL);
        assert_int_equal(sns_cert_check(leaf, NULL, T0, "us-east-1", &reason), -EINVAL);
        assert_int_equal(sns_cert_check(leaf, store, T0, NULL, &reason), -EINVAL);
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

static void test_topic_arn(void **state)
{
        static const struct {
                const char *arn;
                const char *host; /* NULL: refused */
        } cases[] = {
                {"arn:aws:sns:us-east-1:123456789012:twowayd-inbound",
                 "sns.us-east-1.amazonaws.com"},
                {"arn:aws:sns:ap-southeast-7:123456789012:t.fifo",
                 "sns.ap-southeast-7.amazonaws.com"},
                {"arn:aws-cn:sns:cn-north-1:123456789012:t", "sns.cn-north-1.amazonaws.com.cn"},
                {"arn:aws-us-gov:sns:us-gov-west-1:123456789012:t",
                 "sns.us-gov-west-1.amazonaws.com"},
                {"arn:aws:sns:cn-north-1:123456789012:t", NULL},
                {"arn:aws-cn:sns:us-east-1:123456789012:t", NULL},
                {"arn:aws:sns:us-gov-west-1:123456789012:t", NULL},
                {"arn:aws-us-gov:sns:us-east-1:123456789012:t", NULL},
                {"arn:aws-iso:sns:us-iso-east-1:123456789012:t", NULL},
                {"arn:aws:sqs:us-east-1:123456789012:t", NULL},
                {"arn:aws:sns:us-east-1:12345678901:t", NULL},
                {"arn:aws:sns:us-east-1:1234567890123:t", NULL},
                {"arn:aws:sns:us-east-1:12345678901a:t", NULL},
                {"arn:aws:sns:us-east-1:123456789012:", NULL},
                {"arn:aws:sns:us-east-1:123456789012:a:b", NULL},
                {"arn:aws:sns:us-east-1:123456789012:a/b", NULL},
                {"arn:aws:sns:us-east-1:123456789012:.fifo", NULL},
                {"arn:aws:sns:US-EAST-1:123456789012:t", NULL},
                {"arn:aws:sns:us-east:123456789012:t", NULL},
                {"arn:aws:sns:evil.com/x-1:123456789012:t", NULL},
                {"arn:aws:sns::123456789012:t", NULL},
                {"arn:aws:sns:us-east-1:123456789012", NULL},
                {"aws:sns:us-east-1:123456789012:t", NULL},
                {"", NULL},
        };
        char host[128];
        struct aws_topic_arn t;

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                int r = sns_topic_arn_endpoint_host(cases[i].arn, host, sizeof(host));
                if (cases[i].host) {
                        if (r != 0)
                                fail_msg("%s refused: %d", cases[i].arn, r);
                        assert_string_equal(host, cases[i].host);
                } else if (r != -EBADMSG)
                        fail_msg("%s: %d", cases[i].arn, r);
        }
        assert_int_equal(sns_topic_arn_parse(topic_us_east_1, &t), 0);
        assert_string_equal(t.partition, "aws");
        assert_string_equal(t.region, "us-east-1");
        assert_string_equal(t.account, "123456789012");
        assert_string_equal(t.name, "twowayd-inbound");
        assert_int_equal(sns_topic_arn_endpoint_host(topic_us_east_1, host, 10), -ENOBUFS);
        assert_int_equal(sns_topic_arn_parse(NULL, &t), -EINVAL);
}

/* ---- URL rules ------------------------------------------------------------------------------ */

struct url_case {
        const char *url;
        const char *topic;
        const char *reason; /* NULL: accepted */
};

#define R_SCHEME   "URL scheme is not https"
#define R_HOST     "URL host is not the SNS endpoint of the topic's region"
#define R_USERINFO "URL has userinfo"
#define R_PORT     "URL has a port other than 443"
#define R_PATH     "URL path is not a SimpleNotificationService PEM"
#define R_QUERY    "URL has a query or fragment"
#define R_CHARS    "URL has invalid characters"
#define R_PERCENT  "URL host is percent-encoded"
#define R_TOPIC    "invalid TopicArn"
#define PEM        "/SimpleNotificationService-0123456789abcdef.pem"
#define GOV        "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t"
#define CN         "arn:aws-cn:sns:cn-north-1:123456789012:t"

static const struct url_case cert_url_cases[] = {
        {"https://sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, NULL},
        {"https://sns.us-east-1.amazonaws.com:443" PEM, topic_us_east_1, NULL},
        {"https://SNS.US-EAST-1.AMAZONAWS.COM" PEM, topic_us_east_1, NULL},
        {"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-7.pem", topic_us_east_1,
         NULL},
        {"https://sns.cn-north-1.amazonaws.com.cn" PEM, CN, NULL},
        {"https://sns.us-gov-west-1.amazonaws.com" PEM, GOV, NULL},
        /* scheme */
        {"http://sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_SCHEME},
        {"HTTPS://sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_SCHEME},
        {"ftp://sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_SCHEME},
        {"//sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_SCHEME},
        {"sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_SCHEME},
        {"https:/sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_SCHEME},
        /* host */
        {"https://sns.us-east-1.amazonaws.com.evil.com" PEM, topic_us_east_1, R_HOST},
        {"https://evil.com/sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_HOST},
        {"https://evil.com/sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem",
         topic_us_east_1, R_HOST},
        {"https://sns.s3.amazonaws.com" PEM, topic_us_east_1, R_HOST},
        {"https://sns.s3.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_HOST},
        {"https://sns-us-east-1.amazonaws.com" PEM, topic_us_east_1, R_HOST},
        {"https://sns.us-east-1.amazonaws.com." PEM, topic_us_east_1, R_HOST},
        {"https://evilsns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_HOST},
        {"https://x.sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_HOST},
        {"https://sns.us-west-2.amazonaws.com" PEM, topic_us_east_1, R_HOST},
        {"https://sns.us-east-1.amazonaws.com.cn" PEM, topic_us_east_1, R_HOST},
        {"https://sns.cn-north-1.amazonaws.com" PEM, CN, R_HOST},
        {"https://sns.amazonaws.com" PEM, topic_us_east_1, R_HOST},
        {"https://sns.us-east-1.amazonaws.com" PEM, GOV, R_HOST},
        {"https://127.0.0.1" PEM, topic_us_east_1, R_HOST},
        {"https://[::1]" PEM, topic_us_east_1, "URL host invalid"},
        /* userinfo */
        {"https://sns.us-east-1.amazonaws.com@evil.com" PEM, topic_us_east_1, R_USERINFO},
        {"https://user:pw@sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_USERINFO},
        {"https://@sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_USERINFO},
        {"https://sns.us-east-1.amazonaws.com:443@evil.com" PEM, topic_us_east_1, R_USERINFO},
        /* percent-encoding and odd characters */
        {"https://sns.us-east-1.amazonaws.com%2eevil.com" PEM, topic_us_east_1, R_PERCENT},
        {"https://sns%2eus-east-1.amazonaws.com" PEM, topic_us_east_1, R_PERCENT},
        {"https://sns.us-east-1.amazonaws.com%00.evil.com" PEM, topic_us_east_1, R_PERCENT},
        {"https://sns.us-east-1.amazonaws.com%2f.evil.com" PEM, topic_us_east_1, R_PERCENT},
        {"https://sns.us-east-1.amazonaws.com\\@evil.com" PEM, topic_us_east_1, R_CHARS},
        {"https://sns.us-east-1.amazonaws.com\\.evil.com" PEM, topic_us_east_1, R_CHARS},
        {" https://sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_CHARS},
        {"https://sns.us-east-1.amazonaws.com" PEM " ", topic_us_east_1, R_CHARS},
        {"https://sns.us-east-1.amazonaws.com\t" PEM, topic_us_east_1, R_CHARS},
        {"https://sns.us-east-1.amazonaws.com\xe3\x80\x82"
         "evil.com" PEM,
         topic_us_east_1, R_CHARS},
        {"https://sns.us-east-1.amazonaws.com;evil.com" PEM, topic_us_east_1, "unparsable URL"},
        /* port */
        {"https://sns.us-east-1.amazonaws.com:8443" PEM, topic_us_east_1, R_PORT},
        {"https://sns.us-east-1.amazonaws.com:80" PEM, topic_us_east_1, R_PORT},
        {"https://sns.us-east-1.amazonaws.com:444" PEM, topic_us_east_1, R_PORT},
        /* query, fragment */
        {"https://sns.us-east-1.amazonaws.com" PEM "?x=1", topic_us_east_1, R_QUERY},
        {"https://sns.us-east-1.amazonaws.com" PEM "?", topic_us_east_1, R_QUERY},
        {"https://sns.us-east-1.amazonaws.com" PEM "#f", topic_us_east_1, R_QUERY},
        {"https://evil.com?.sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_QUERY},
        {"https://evil.com#.sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, R_QUERY},
        /* path */
        {"https://sns.us-east-1.amazonaws.com", topic_us_east_1, R_PATH},
        {"https://sns.us-east-1.amazonaws.com/", topic_us_east_1, R_PATH},
        {"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-.pem", topic_us_east_1,
         R_PATH},
        {"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ABC.pem", topic_us_east_1,
         R_PATH},
        {"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abg.pem", topic_us_east_1,
         R_PATH},
        {"https://sns.us-east-1.amazonaws.com/x/SimpleNotificationService-ab.pem", topic_us_east_1,
         R_PATH},
        {"https://sns.us-east-1.amazonaws.com/x/../SimpleNotificationService-ab.pem",
         topic_us_east_1, R_PATH},
        {"https://sns.us-east-1.amazonaws.com//SimpleNotificationService-ab.pem", topic_us_east_1,
         R_PATH},
        {"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem/", topic_us_east_1,
         R_PATH},
        {"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pem.evil",
         topic_us_east_1, R_PATH},
        {"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.pemx", topic_us_east_1,
         R_PATH},
        {"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab%2epem", topic_us_east_1,
         R_PATH},
        {"https://sns.us-east-1.amazonaws.com/simplenotificationservice-ab.pem", topic_us_east_1,
         R_PATH},
        {"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ab.crt", topic_us_east_1,
         R_PATH},
        /* topic */
        {"https://sns.us-east-1.amazonaws.com" PEM, "arn:aws:sns:us-east-1:123:t", R_TOPIC},
        {"https://sns.cn-north-1.amazonaws.com" PEM, "arn:aws:sns:cn-north-1:123456789012:t",
         R_TOPIC},
        {"https://sns.us-iso-east-1.c2s.ic.gov" PEM, "arn:aws-iso:sns:us-iso-east-1:123456789012:t",
         R_TOPIC},
        {"https:///sns.us-east-1.amazonaws.com" PEM, topic_us_east_1, "URL has no host"},
};

static const struct url_case subscribe_url_cases[] = {
        {"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:"
         "us-east-1:123456789012:twowayd-inbound&Token=2336412f",
         topic_us_east_1, NULL},
        {"https://sns.us-east-1.amazonaws.com/", topic_us_east_1, NULL},
        {"https://sns.us-east-1.amazonaws.com:443/?a=b", topic_us_east_1, NULL},
        {"https://sns.us-east-1.amazonaws.com?a=b", topic_us_east_1, NULL},
        {"http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription", topic_us_east_1,
         R_SCHEME},
        {"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription#x", topic_us_east_1,
         "URL has a fragment"},
        {"https://169.254.169.254/latest/meta-data/", topic_us_east_1, R_HOST},
        {"https://sns.us-east-1.amazonaws.com.evil.com/?Action=ConfirmSubscription",
         topic_us_east_1, R_HOST},
        {"https://evil.com?@sns.us-east-1.amazonaws.com/", topic_us_east_1, R_HOST},
        {"https://sns.us-east-1.amazonaws.com@evil.com/", topic_us_east_1, R_USERINFO},
        {"https://sns.us-east-1.amazonaws.com:8080/", topic_us_east_1, R_PORT},
        {"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription", topic_us_east_1,
         R_HOST},
        {"https://sns%2eus-east-1.amazonaws.com/", topic_us_east_1, R_PERCENT},
        /* libcurl skips the extra slash and reads the host after it. */
        {"https:///sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription", topic_us_east_1,
         "URL has no host"},
        {"https:///user@sns.us-east-1.amazonaws.com/", topic_us_east_1, "URL has no host"},
};

static void run_url_cases(const struct url_case *cases, size_t n, bool cert)
{
        for (size_t i = 0; i < n; i++) {
                const char *reason = NULL;
                int r = cert ? sns_cert_url_check(cases[i].url, cases[i].topic, NULL, &reason)
                             : sns_subscribe_url_check(cases[i].url, cases[i].topic, NULL, &reason);

                if (!cases[i].reason) {
                        if (r != 0)
                                fail_msg("%s refused: %s", cases[i].url, reason);
                        assert_null(reason);
                } else if (r != -EBADMSG || !streq_ptr(reason, cases[i].reason))
                        fail_msg("%s: got %d \"%s\", expected \"%s\"", cases[i].url, r,
                                 reason ? reason : "-", cases[i].reason);
        }
}

static void test_cert_url_rules(void **state)
{
        run_url_cases(cert_url_cases, ARRAY_SIZE(cert_url_cases), true);
}

static void test_subscribe_url_rules(void **state)
{
        run_url_cases(subscribe_url_cases, ARRAY_SIZE(subscribe_url_cases), false);
}

static void test_url_limits(void **state)
{
        _cleanup_free_ char *long_url = NULL;
        const char *reason = NULL;
        size_t fill = SNS_URL_MAX - strlen("https://sns.us-east-1.amazonaws.com/?a=");
        char *pad = malloc(fill + 2);

        assert_non_null(pad);
        memset(pad, 'a', fill + 1);
        pad[fill] = '\0';
        assert_true(asprintf(&long_url, "https://sns.us-east-1.amazonaws.com/?a=%s", pad) > 0);
        assert_int_equal(strlen(long_url), SNS_URL_MAX);
        assert_int_equal(sns_subscribe_url_check(long_url, topic_us_east_1, NULL, &reason), 0);
        free(long_url);
        pad[fill] = 'a';
        pad[fill + 1] = '\0';
        assert_true(asprintf(&long_url, "https://sns.us-east-1.amazonaws.com/?a=%s", pad) > 0);
        assert_int_equal(sns_subscribe_url_check(long_url, topic_us_east_1, NULL, &reason),
                         -EBADMSG);
        assert_string_equal(reason, "URL too long");
        free(pad);

        assert_int_equal(sns_cert_url_check(NULL, topic_us_east_1, NULL, &reason), -EINVAL);
        assert_int_equal(sns_cert_url_check(good_cert_url, NULL, NULL, &reason), -EINVAL);
        reason = "sentinel";
        assert_int_equal(sns_cert_url_check(good_cert_url, topic_us_east_1, NULL, &reason), 0);
        assert_string_equal(reason, "sentinel");
        assert_int_equal(sns_cert_url_check(good_cert_url, topic_us_east_1, NULL, NULL), 0);
}

static void test_host_override(void **state)
{
        regex_t anchored, unanchored, nosub;
        const char *reason = NULL;

        assert_int_equal(sns_host_regex_compile("^sns\\.[a-z0-9-]+\\.amazonaws\\.com$", &anchored),
                         0);
        assert_int_equal(sns_host_regex_compile("sns\\.example\\.com", &unanchored), 0);
        assert_int_equal(regcomp(&nosub, "sns\\.example\\.com", REG_EXTENDED | REG_NOSUB), 0);
        {
                regex_t bad;
                assert_int_equal(sns_host_regex_compile("(", &bad), -EINVAL);
                assert_int_equal(sns_host_regex_compile(NULL, &bad), -EINVAL);
        }

        /* The override replaces the TopicArn host rule: any region, no topic needed. */
        assert_int_equal(sns_cert_url_check("https://sns.eu-west-1.amazonaws.com" PEM,
                                            topic_us_east_1, &anchored, &reason),
                         0);
        assert_int_equal(sns_cert_url_check("https://sns.eu-west-1.amazonaws.com" PEM, NULL,
                                            &anchored, &reason),
                         0);
        assert_int_equal(sns_cert_url_check("https://SNS.EU-WEST-1.AMAZONAWS.COM" PEM, NULL,
                                            &anchored, &reason),
                         0);
        assert_int_equal(sns_cert_url_check("https://sns.eu-west-1.amazonaws.com.evil.com" PEM,
                                            NULL, &anchored, &reason),
                         -EBADMSG);
        assert_string_equal(reason, "URL host does not match signing_cert_host");
        /* The override names the host as a whole, port included. */
        assert_int_equal(sns_cert_url_check("https://sns.eu-west-1.amazonaws.com:8443" PEM, NULL,
                                            &anchored, &reason),
                         0);
        assert_int_equal(sns_cert_url_check("https://sns.eu-west-1.amazonaws.com:8443" PEM,
                                            topic_us_east_1, NULL, &reason),
                         -EBADMSG);
        assert_string_equal(reason, "URL has a port other than 443");

        /* An unanchored pattern still has to match the whole host. */
        assert_int_equal(
                sns_cert_url_check("https://sns.example.com" PEM, NULL, &unanchored, &reason), 0);
        assert_int_equal(sns_cert_url_check("https://sns.example.com.evil.com" PEM, NULL,
                                            &unanchored, &reason),
                         -EBADMSG);
        assert_string_equal(reason, "URL host does not match signing_cert_host");
        assert_int_equal(
                sns_cert_url_check("https://evilsns.example.com" PEM, NULL, &unanchored, &reason),
                -EBADMSG);
        assert_int_equal(
                sns_subscribe_url_check("https://x.sns.example.com/", NULL, &unanchored, &reason),
                -EBADMSG);

        /* REG_NOSUB gives no match span: refused, never accepted blindly. */
        assert_int_equal(sns_cert_url_check("https://sns.example.com" PEM, NULL, &nosub, &reason),
                         -EBADMSG);
        assert_string_equal(reason, "URL host does not match signing_cert_host");

        /* The other rules still apply. */
        assert_int_equal(
                sns_cert_url_check("http://sns.example.com" PEM, NULL, &unanchored, &reason),
                -EBADMSG);
        assert_string_equal(reason, R_SCHEME);
        assert_int_equal(
                sns_cert_url_check("https://sns.example.com/x.pem", NULL, &unanchored, &reason),
                -EBADMSG);
        assert_string_equal(reason, R_PATH);
        assert_int_equal(
                sns_cert_url_check("https://u@sns.example.com" PEM, NULL, &unanchored, &reason),
                -EBADMSG);
        assert_string_equal(reason, R_USERINFO);

        regfree(&anchored);
        regfree(&unanchored);
        regfree(&nosub);
}

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
        assert_int_equal(sns_cert_cache_size(c), 2);
        assert_int_equal(cache_get(c, URL_B, T0 + 4, NULL), SNS_CERT_CACHE_MISS);
        assert_int_equal(cache_get(c, URL_A, T0 + 4, a), SNS_CERT_CACHE_HIT);
        assert_int_equal(cache_get(c, URL_C, T0 + 4, x), SNS_CERT_CACHE_HIT);

        /* Replacing an entry keeps one entry per URL. */
        assert_int_equal(sns_cert_cache_put(c, URL_A, b, T0 + 5), 0);
        assert_int_equal(cache_get(c, URL_A, T0 + 6, b), SNS_CERT_CACHE_HIT);
        assert_int_equal(sns_cert_cache_size(c), 2);

        /* The cache holds its own references. */
        X509_free(a);
        X509_free(b);
        X509_free(x);
        assert_int_equal(cache_get(c, URL_A, T0 + 7, NULL), SNS_CERT_CACHE_HIT);
        assert_int_equal(cache_get(c, URL_C, T0 + 7, NULL), SNS_CERT_CACHE_HIT);

        sns_cert_cache_clear(c);
        assert_int_equal(sns_cert_cache_size(c), 0);
        assert_int_equal(cache_get(c, URL_A, T0 + 8, NULL), SNS_CERT_CACHE_MISS);
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
        assert_int_equal(sns_cert_cache_size(c), 0); /* dropped on lookup */

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
        assert_int_equal(sns_cert_cache_size(c), 5);
        assert_int_equal(cache_get(c, URL_A, T0 + 2, a), SNS_CERT_CACHE_HIT);
        assert_int_equal(cache_get(c, URL_B, T0 + 2, b), SNS_CERT_CACHE_HIT);
        /* The newest failures are the ones remembered. */
        assert_int_equal(cache_get(c, url, T0 + 2, NULL), SNS_CERT_CACHE_NEGATIVE);
        assert_int_equal(cache_get(c,
                                   "https://sns.us-east-1.amazonaws.com/"
                                   "SimpleNotificationService-0000.pem",
                                   T0 + 2, NULL),
                         SNS_CERT_CACHE_MISS);

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
        assert_int_equal(sns_cert_cache_size(c), 0);
        assert_null(sns_cert_cache_free(c));
        assert_null(sns_cert_cache_free(NULL));
        free(long_url);
        X509_free(a);
}

/* One rule for every URL the override governs: the whole host, any case. */
static void test_host_rule_match(void **state)
{
        regex_t unanchored;

        assert_int_equal(sns_host_regex_compile("sns\\.example\\.com", &unanchored), 0);
        assert_true(sns_host_rule_match(&unanchored, "sns.example.com"));
        assert_true(sns_host_rule_match(&unanchored, "SNS.Example.COM"));
        /* An unanchored pattern still has to cover the whole host: the CA
         * Issuers check once accepted these. */
        assert_false(sns_host_rule_match(&unanchored, "evil-sns.example.com"));
        assert_false(sns_host_rule_match(&unanchored, "sns.example.com.evil.net"));
        assert_false(sns_host_rule_match(&unanchored, ""));
        assert_false(sns_host_rule_match(&unanchored, NULL));
        assert_false(sns_host_rule_match(NULL, "sns.example.com"));
        regfree(&unanchored);
}

static void test_cert_url_key(void **state)
{
        static const char *const same[] = {
                "https://sns.us-east-1.amazonaws.com" PEM,
                "https://SNS.US-EAST-1.AMAZONAWS.COM" PEM,
                "https://sns.us-east-1.amazonaws.com:443" PEM,
                "https://Sns.Us-East-1.AmazonAws.com:443" PEM,
        };
        char *key = NULL, *host = NULL;

        for (size_t i = 0; i < ARRAY_SIZE(same); i++) {
                assert_int_equal(sns_cert_url_key(same[i], &key, &host), 0);
                assert_string_equal(key, "https://sns.us-east-1.amazonaws.com" PEM);
                assert_string_equal(host, "sns.us-east-1.amazonaws.com");
                free(key);
                free(host);
        }
        /* Another port is another certificate; the path is kept as it is. */
        assert_int_equal(sns_cert_url_key("https://Sns.Example.com:8443" PEM, &key, NULL), 0);
        assert_string_equal(key, "https://sns.example.com:8443" PEM);
        free(key);
        assert_int_equal(sns_cert_url_key("not a url", &key, NULL), -EBADMSG);
        assert_int_equal(sns_cert_url_key(NULL, &key, NULL), -EBADMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_real_signatures_verify),
                cmocka_unit_test(test_real_signatures_tampered),
                cmocka_unit_test(test_generated_signatures),
                cmocka_unit_test(test_signatures_with_many_keys),
                cmocka_unit_test(test_signature_key_checks),
                cmocka_unit_test(test_cert_good),
                cmocka_unit_test(test_cert_names),
                cmocka_unit_test(test_cert_dates),
                cmocka_unit_test(test_cert_trust),
                cmocka_unit_test(test_real_cert_checks),
                cmocka_unit_test(test_cert_check_arguments),
                cmocka_unit_test(test_cert_load_pem),
                cmocka_unit_test(test_trust_store),
                cmocka_unit_test(test_topic_arn),
                cmocka_unit_test(test_cert_url_rules),
                cmocka_unit_test(test_subscribe_url_rules),
                cmocka_unit_test(test_url_limits),
                cmocka_unit_test(test_host_override),
                cmocka_unit_test(test_host_rule_match),
                cmocka_unit_test(test_cert_url_key),
                cmocka_unit_test(test_cache_lru),
                cmocka_unit_test(test_cache_expiry),
                cmocka_unit_test(test_cache_negative),
                cmocka_unit_test(test_cache_arguments),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
