/*
 * test_pki.h — a throwaway PKI for the certificate tests, made when a test
 * group starts with OpenSSL's C API: RSA keys, a root CA, another root of the
 * same name, an intermediate, and leaf certificates on demand; and the real
 * signing certificate of the deliveries in sns_vectors.h. Include it after
 * cmocka.h in one test file each.
 */
#ifndef TWOWAYD_TEST_PKI_H
#define TWOWAYD_TEST_PKI_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common.h"
#include "sns_cert.h"
#include "sns_vectors.h"

/* Times: the generated certificates are valid from T0 - 1 day to T0 + 365 days. */
#define T0  ((time_t)1767225600) /* 2026-01-01T00:00:00Z */
#define DAY ((time_t)86400)

_unused_ static EVP_PKEY *ca_key, *inter_key, *leaf_key, *other_key;
_unused_ static X509 *ca_cert, *other_ca_cert, *inter_cert;
static long next_serial = 1;

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

        assert_non_null(e);
        assert_int_equal(X509_add_ext(x, e, -1), 1);
        X509_EXTENSION_free(e);
}

/* A certificate for key named cn (and san, an X509v3 subjectAltName value, when
 * not NULL), issued by issuer/issuer_key or self-signed when issuer is NULL,
 * naming its issuer's certificate at ca_issuers (Authority Information Access)
 * when not NULL. */
static X509 *make_cert_aia(EVP_PKEY *key, const char *cn, const char *san, const char *ca_issuers,
                           X509 *issuer, EVP_PKEY *issuer_key, bool ca, time_t not_before,
                           time_t not_after)
{
        X509 *x = X509_new();
        X509_NAME *name;
        X509V3_CTX ctx;

        assert_non_null(x);
        assert_int_equal(X509_set_version(x, 2), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), next_serial++), 1);
        assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), not_before));
        assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), not_after));
        assert_int_equal(X509_set_pubkey(x, key), 1);
        name = X509_get_subject_name(x);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                                    (const unsigned char *)"twowayd tests", -1, -1,
                                                    0),
                         1);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                    (const unsigned char *)cn, -1, -1, 0),
                         1);
        assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name), 1);

        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
        add_ext(x, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
        add_ext(x, &ctx, NID_key_usage,
                ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,keyEncipherment");
        add_ext(x, &ctx, NID_subject_key_identifier, "hash");
        if (issuer)
                add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
        if (san)
                add_ext(x, &ctx, NID_subject_alt_name, san);
        if (ca_issuers) {
                char aia[512];

                (void)snprintf(aia, sizeof(aia), "caIssuers;URI:%s", ca_issuers);
                add_ext(x, &ctx, NID_info_access, aia);
        }
        assert_true(X509_sign(x, issuer ? issuer_key : key, EVP_sha256()) > 0);
        return x;
}

_unused_ static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer,
                       EVP_PKEY *issuer_key, bool ca, time_t not_before, time_t not_after)
{
        return make_cert_aia(key, cn, san, NULL, issuer, issuer_key, ca, not_before, not_after);
}

_unused_ static X509 *make_leaf(const char *cn, const char *san)
{
        return make_cert(leaf_key, cn, san, ca_cert, ca_key, false, T0 - DAY, T0 + 365 * DAY);
}

_unused_ static X509_STORE *store_with(X509 *anchor)
{
        X509_STORE *s = X509_STORE_new();

        assert_non_null(s);
        if (anchor)
                assert_int_equal(X509_STORE_add_cert(s, anchor), 1);
        return s;
}

_unused_ static char *cert_to_pem(X509 *x)
{
        BIO *b = BIO_new(BIO_s_mem());
        char *data, *copy;
        long n;

        assert_non_null(b);
        assert_int_equal(PEM_write_bio_X509(b, x), 1);
        n = BIO_get_mem_data(b, &data);
        copy = strndup(data, (size_t)n);
        assert_non_null(copy);
        BIO_free(b);
        return copy;
}

_unused_ static int group_setup(void **state)
{
        ca_key = EVP_RSA_gen(2048);
        inter_key = EVP_RSA_gen(2048);
        leaf_key = EVP_RSA_gen(2048);
        other_key = EVP_RSA_gen(2048);
        if (!ca_key || !inter_key || !leaf_key || !other_key)
                return -1;
        ca_cert = make_cert(ca_key, "twowayd test root", NULL, NULL, NULL, true, T0 - 10 * DAY,
                            T0 + 3650 * DAY);
        other_ca_cert = make_cert(other_key, "twowayd test root", NULL, NULL, NULL, true,
                                  T0 - 10 * DAY, T0 + 3650 * DAY);
        inter_cert = make_cert(inter_key, "twowayd test intermediate", NULL, ca_cert, ca_key, true,
                               T0 - 10 * DAY, T0 + 3650 * DAY);
        return 0;
}

_unused_ static int group_teardown(void **state)
{
        X509_free(ca_cert);
        X509_free(other_ca_cert);
        X509_free(inter_cert);
        EVP_PKEY_free(ca_key);
        EVP_PKEY_free(inter_key);
        EVP_PKEY_free(leaf_key);
        EVP_PKEY_free(other_key);
        return 0;
}

/* The real signing certificate of the SNS deliveries (sns_vectors.h). */
_unused_ static X509 *load_real_cert(void)
{
        X509 *cert = NULL;
        const char *reason = NULL;

        assert_int_equal(
                sns_cert_load_pem(vec_cert_pem, strlen(vec_cert_pem), &cert, NULL, &reason), 0);
        assert_non_null(cert);
        return cert;
}

#endif
