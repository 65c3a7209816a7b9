/*
 * sns_signer.h — for unit tests that need SNS as it looks from outside: a
 * throwaway root CA, a signing certificate as SNS has one (CN and SAN
 * sns.amazonaws.com), a TLS certificate for 127.0.0.1 to serve it from, all
 * as PEM text, and SNS messages signed with the signing key (SignatureVersion
 * 2) through the project's own string-to-sign.
 *
 * Header-only (static functions), included by one test file at a time.
 */
#ifndef TWOWAYD_TEST_SNS_SIGNER_H
#define TWOWAYD_TEST_SNS_SIGNER_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "sns_message.h"

struct sns_signer {
        EVP_PKEY *ca_key, *signing_key, *tls_key;
        X509 *ca, *signing, *tls;
        char *ca_pem, *signing_pem, *tls_pem, *tls_key_pem;
};

static inline bool signer_add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
        bool ok = e && X509_add_ext(x, e, -1) == 1;

        X509_EXTENSION_free(e);
        return ok;
}

/* A certificate for key, valid from a day ago for a year, signed by
 * issuer/issuer_key (self-signed when issuer is NULL). */
static inline X509 *signer_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer,
                                EVP_PKEY *issuer_key, long serial)
{
        X509 *x = X509_new();
        X509_NAME *name;
        X509V3_CTX ctx;
        bool ok;

        if (!x)
                return NULL;
        name = X509_get_subject_name(x);
        ok = X509_set_version(x, 2) == 1 &&
             ASN1_INTEGER_set(X509_get_serialNumber(x), serial) == 1 &&
             X509_gmtime_adj(X509_getm_notBefore(x), -86400) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400) && X509_set_pubkey(x, key) == 1 &&
             X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                        0) == 1 &&
             X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
        ok = ok &&
             signer_add_ext(x, &ctx, NID_basic_constraints,
                            issuer ? "critical,CA:FALSE" : "critical,CA:TRUE") &&
             signer_add_ext(x, &ctx, NID_key_usage,
                            issuer ? "critical,digitalSignature,keyEncipherment"
                                   : "critical,keyCertSign,cRLSign") &&
             signer_add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             (!issuer || signer_add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always")) &&
             (!san || signer_add_ext(x, &ctx, NID_subject_alt_name, san)) &&
             X509_sign(x, issuer ? issuer_key : key, EVP_sha256()) > 0;
        if (!ok) {
                X509_free(x);
                return NULL;
        }
        return x;
}

static inline char *signer_pem(X509 *x, EVP_PKEY *key)
{
        BIO *b = BIO_new(BIO_s_mem());
        char *data = NULL, *copy = NULL;
        long n;

        if (!b)
                return NULL;
        if ((x ? PEM_write_bio_X509(b, x)
               : PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) == 1) {
                n = BIO_get_mem_data(b, &data);
                copy = strndup(data, (size_t)n);
        }
        BIO_free(b);
        return copy;
}

static inline int sns_signer_new(struct sns_signer *p)
{
        memset(p, 0, sizeof(*p));
        p->ca_key = EVP_RSA_gen(2048);
        p->signing_key = EVP_RSA_gen(2048);
        p->tls_key = EVP_RSA_gen(2048);
        if (!p->ca_key || !p->signing_key || !p->tls_key)
                return -1;
        p->ca = signer_cert(p->ca_key, "twowayd test root", NULL, NULL, NULL, 1);
        if (!p->ca)
                return -1;
        p->signing = signer_cert(p->signing_key, "sns.amazonaws.com", "DNS:sns.amazonaws.com",
                                 p->ca, p->ca_key, 2);
        p->tls = signer_cert(p->tls_key, "127.0.0.1", "IP:127.0.0.1,DNS:localhost", p->ca,
                             p->ca_key, 3);
        if (!p->signing || !p->tls)
                return -1;
        p->ca_pem = signer_pem(p->ca, NULL);
        p->signing_pem = signer_pem(p->signing, NULL);
        p->tls_pem = signer_pem(p->tls, NULL);
        p->tls_key_pem = signer_pem(NULL, p->tls_key);
        return p->ca_pem && p->signing_pem && p->tls_pem && p->tls_key_pem ? 0 : -1;
}

static inline void sns_signer_free(struct sns_signer *p)
{
        EVP_PKEY_free(p->ca_key);
        EVP_PKEY_free(p->signing_key);
        EVP_PKEY_free(p->tls_key);
        X509_free(p->ca);
        X509_free(p->signing);
        X509_free(p->tls);
        free(p->ca_pem);
        free(p->signing_pem);
        free(p->tls_pem);
        free(p->tls_key_pem);
        memset(p, 0, sizeof(*p));
}

/* Sign the SNS message o (every field but Signature set; SignatureVersion
 * "2") in place: o gets its Signature. 0 or -1. */
static inline int sns_signer_sign(const struct sns_signer *p, json_t *o)
{
        struct sns_message *m = NULL;
        char *text = json_dumps(o, JSON_COMPACT), *tbs = NULL;
        unsigned char sig[512], b64[1024];
        size_t sig_len = sizeof(sig), tbs_len = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        const char *reason = NULL;
        int r = -1;

        /* Parse wants some Signature: sign what it reads, then set the real one. */
        if (!text || !ctx || json_object_set_new(o, "Signature", json_string("QUJD")) < 0)
                goto out;
        free(text);
        text = json_dumps(o, JSON_COMPACT);
        if (!text || sns_message_parse(text, strlen(text), &m, &reason) < 0 ||
            sns_message_string_to_sign(m, &tbs, &tbs_len) < 0)
                goto out;
        if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, p->signing_key) != 1 ||
            EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)tbs, tbs_len) != 1 ||
            EVP_EncodeBlock(b64, sig, (int)sig_len) <= 0)
                goto out;
        r = json_object_set_new(o, "Signature", json_string((const char *)b64)) < 0 ? -1 : 0;
out:
        EVP_MD_CTX_free(ctx);
        sns_message_free(m);
        free(tbs);
        free(text);
        return r;
}

#endif
