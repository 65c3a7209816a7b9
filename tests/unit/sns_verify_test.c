/*
 * sns_verify_test.c — URL rules and signature verification (the certificate
 * checks and cache are sns_cert_test.c's).
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

static const char topic_us_east_1[] = "arn:aws:sns:us-east-1:123456789012:twowayd-inbound";
static const char good_cert_url[] =
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem";

/* ---- fixtures -------------------------------------------------------------------- */

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

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                int r = sns_topic_arn_endpoint_host(cases[i].arn, host, sizeof(host));
                if (cases[i].host) {
                        if (r != 0)
                                fail_msg("%s refused: %d", cases[i].arn, r);
                        assert_string_equal(host, cases[i].host);
                } else if (r != -EBADMSG)
                        fail_msg("%s: %d", cases[i].arn, r);
        }
        assert_int_equal(sns_topic_arn_endpoint_host(topic_us_east_1, host, 10), -ENOBUFS);
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
                cmocka_unit_test(test_topic_arn),
                cmocka_unit_test(test_cert_url_rules),
                cmocka_unit_test(test_subscribe_url_rules),
                cmocka_unit_test(test_url_limits),
                cmocka_unit_test(test_host_override),
                cmocka_unit_test(test_host_rule_match),
                cmocka_unit_test(test_cert_url_key),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
