/*
 * sns_cert.c — SNS signing certificates: PEM reading, the trust store, the
 * checks, and the cache. See sns_cert.h.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "aws_names.h"
#include "common.h"
#include "sns_cert.h"
#include "sns_message.h"
#include "text.h"

/* ---- certificates ------------------------------------------------------------------ */

static void biop(BIO **b)
{
        BIO_free(*b);
}

static void x509p(X509 **x)
{
        X509_free(*x);
}

static void x509_stackp(STACK_OF(X509) * *s)
{
        sk_X509_pop_free(*s, X509_free);
}

static size_t skip_space(const char *p, size_t n)
{
        size_t i = 0;

        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
                i++;
        return i;
}

int sns_cert_load_pem(const void *pem, size_t len, X509 **ret_cert, STACK_OF(X509) * *ret_chain,
                      const char **reterr)
{
        static const char begin[] = "-----BEGIN CERTIFICATE-----";
        _cleanup_(x509p) X509 *leaf = NULL;
        _cleanup_(x509_stackp) STACK_OF(X509) *chain = NULL;
        const char *p = pem;
        size_t left = len, count = 0;

        if (!pem || !ret_cert)
                return text_fail(reterr, "invalid argument", -EINVAL);
        if (len > SNS_CERT_PEM_MAX)
                return text_fail(reterr, "certificate PEM too large", -EMSGSIZE);

        chain = sk_X509_new_null();
        if (!chain)
                return text_fail(reterr, "out of memory", -ENOMEM);

        for (;;) {
                _cleanup_(biop) BIO *b = NULL;
                size_t skip = skip_space(p, left);
                char *rest;
                long rest_len;
                X509 *x;

                p += skip;
                left -= skip;
                if (left == 0)
                        break;
                if (left < STRLEN(begin) || memcmp(p, begin, STRLEN(begin)) != 0)
                        return text_fail(reterr, "bad certificate PEM", -EBADMSG);
                if (count >= SNS_CERT_PEM_CERTS)
                        return text_fail(reterr, "too many certificates in PEM", -EMSGSIZE);

                /* One certificate from p on; the BIO then tells how far it read. */
                b = BIO_new_mem_buf(p, (int)left);
                if (!b)
                        return text_fail(reterr, "out of memory", -ENOMEM);
                x = PEM_read_bio_X509(b, NULL, NULL, NULL);
                if (!x) {
                        ERR_clear_error();
                        return text_fail(reterr, "bad certificate PEM", -EBADMSG);
                }
                if (!leaf)
                        leaf = x;
                else if (!sk_X509_push(chain, x)) {
                        X509_free(x);
                        return text_fail(reterr, "out of memory", -ENOMEM);
                }
                count++;

                rest_len = BIO_get_mem_data(b, &rest);
                if (rest_len < 0 || (size_t)rest_len > left)
                        return text_fail(reterr, "bad certificate PEM", -EBADMSG);
                p += left - (size_t)rest_len;
                left = (size_t)rest_len;
        }
        ERR_clear_error();
        if (!leaf)
                return text_fail(reterr, "no certificate in PEM", -EBADMSG);

        *ret_cert = TAKE_PTR(leaf);
        if (ret_chain)
                *ret_chain = TAKE_PTR(chain);
        return 0;
}

int sns_trust_store_new(const char *ca_bundle, X509_STORE **ret)
{
        X509_STORE *s;
        const char *file = ca_bundle;

        if (!ret)
                return -EINVAL;
        /* The default file is loaded eagerly when it exists, so that no lookup
         * touches the file system later, at verification time. */
        if (!file && access(X509_get_default_cert_file(), R_OK) == 0)
                file = X509_get_default_cert_file();
        if (file && access(file, R_OK) < 0)
                return negative_errno();

        s = X509_STORE_new();
        if (!s)
                return -ENOMEM;
        if (file ? X509_STORE_load_file(s, file) != 1 : X509_STORE_set_default_paths(s) != 1) {
                ERR_clear_error();
                X509_STORE_free(s);
                return -EINVAL;
        }
        *ret = s;
        return 0;
}

int sns_cert_check_name(X509 *cert, const char *region, const char **reterr)
{
        char names[3][96];
        size_t n = 0;
        const struct aws_partition *partition;
        const char *suffix;

        if (!cert || !region)
                return text_fail(reterr, "invalid argument", -EINVAL);
        partition = aws_region_partition(region);
        if (!partition || !partition->sns_signing_known)
                return text_fail(reterr, "invalid region", -EINVAL);

        suffix = partition->dns_suffix;
        (void)snprintf(names[n++], sizeof(names[0]), "sns.%s", suffix);
        (void)snprintf(names[n++], sizeof(names[0]), "sns-signing.%s.%s", region, suffix);
        if (streq(partition->id, "aws-cn"))
                (void)snprintf(names[n++], sizeof(names[0]), "sns-%s.%s", region, suffix);
        else if (streq(partition->id, "aws-us-gov"))
                (void)snprintf(names[n++], sizeof(names[0]), "sns-us-gov-west-1.%s", suffix);

        for (size_t i = 0; i < n; i++) {
                int r = X509_check_host(cert, names[i], 0, X509_CHECK_FLAG_NO_WILDCARDS, NULL);
                if (r == 1)
                        return 0;
        }
        ERR_clear_error();
        return text_fail(reterr, "certificate is not the SNS signing certificate", -EKEYREJECTED);
}

static void x509_store_ctxp(X509_STORE_CTX **c)
{
        X509_STORE_CTX_free(*c);
}

int sns_cert_check_chain(X509 *cert, STACK_OF(X509) * untrusted, X509_STORE *trust, time_t now,
                         const char *region, const char **reterr)
{
        _cleanup_(x509_store_ctxp) X509_STORE_CTX *ctx = NULL;
        int c, r;

        if (!cert || !trust || !region)
                return text_fail(reterr, "invalid argument", -EINVAL);

        /* As X509_verify_cert() counts: valid from notBefore, expired at
         * notAfter. X509_cmp_time() is -1 when the certificate's time is before
         * or at now, 1 when after, 0 when unreadable. */
        c = X509_cmp_time(X509_get0_notBefore(cert), &now);
        if (c == 0)
                return text_fail(reterr, "certificate has unreadable dates", -EKEYREJECTED);
        if (c > 0)
                return text_fail(reterr, "certificate not yet valid", -EKEYEXPIRED);
        c = X509_cmp_time(X509_get0_notAfter(cert), &now);
        if (c == 0)
                return text_fail(reterr, "certificate has unreadable dates", -EKEYREJECTED);
        if (c < 0)
                return text_fail(reterr, "certificate expired", -EKEYEXPIRED);

        r = sns_cert_check_name(cert, region, reterr);
        if (r < 0)
                return r;

        ctx = X509_STORE_CTX_new();
        if (!ctx)
                return text_fail(reterr, "out of memory", -ENOMEM);
        if (X509_STORE_CTX_init(ctx, trust, cert, untrusted) != 1) {
                ERR_clear_error();
                return text_fail(reterr, "out of memory", -ENOMEM);
        }
        X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), now);
        r = X509_verify_cert(ctx);
        ERR_clear_error();
        if (r != 1)
                return text_fail(reterr, "certificate not trusted", -ENOKEY);
        return 0;
}

/* ---- certificate cache ---------------------------------------------------------------- */

struct cache_entry {
        char *url;  /* NULL: free slot */
        X509 *cert; /* positive entries only */
        time_t expires;
        uint64_t used; /* LRU stamp */
};

struct cache_pool {
        struct cache_entry *e;
        size_t max;
};

struct sns_cert_cache {
        struct cache_pool pos, neg;
        unsigned ttl_s, negative_ttl_s;
        uint64_t tick;
};

static void entry_clear(struct cache_entry *e)
{
        free(e->url);
        X509_free(e->cert);
        *e = (struct cache_entry){0};
}

static struct cache_entry *pool_find(struct cache_pool *p, const char *url)
{
        for (size_t i = 0; i < p->max; i++)
                if (p->e[i].url && streq(p->e[i].url, url))
                        return &p->e[i];
        return NULL;
}

/* A free slot, else an expired entry, else the least recently used one. */
static struct cache_entry *pool_slot(struct cache_pool *p, time_t now)
{
        struct cache_entry *lru = NULL;

        for (size_t i = 0; i < p->max; i++)
                if (!p->e[i].url)
                        return &p->e[i];
        for (size_t i = 0; i < p->max; i++) {
                if (p->e[i].expires <= now)
                        return &p->e[i];
                if (!lru || p->e[i].used < lru->used)
                        lru = &p->e[i];
        }
        return lru;
}

int sns_cert_cache_new(size_t max_entries, size_t max_negative, unsigned ttl_s,
                       unsigned negative_ttl_s, struct sns_cert_cache **ret)
{
        _cleanup_(sns_cert_cache_freep) struct sns_cert_cache *c = NULL;

        if (!ret || max_entries == 0 || max_entries > SNS_CERT_CACHE_MAX ||
            max_negative > SNS_CERT_CACHE_MAX || ttl_s == 0 || negative_ttl_s == 0)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->pos.e = calloc(max_entries, sizeof(struct cache_entry));
        c->neg.e = calloc(max_negative ? max_negative : 1, sizeof(struct cache_entry));
        if (!c->pos.e || !c->neg.e)
                return -ENOMEM;
        c->pos.max = max_entries;
        c->neg.max = max_negative;
        c->ttl_s = ttl_s;
        c->negative_ttl_s = negative_ttl_s;
        *ret = TAKE_PTR(c);
        return 0;
}

void sns_cert_cache_clear(struct sns_cert_cache *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->pos.max; i++)
                entry_clear(&c->pos.e[i]);
        for (size_t i = 0; i < c->neg.max; i++)
                entry_clear(&c->neg.e[i]);
}

struct sns_cert_cache *sns_cert_cache_free(struct sns_cert_cache *c)
{
        if (!c)
                return NULL;
        if (c->pos.e && c->neg.e)
                sns_cert_cache_clear(c);
        free(c->pos.e);
        free(c->neg.e);
        free(c);
        return NULL;
}

int sns_cert_cache_get(struct sns_cert_cache *c, const char *url, time_t now, X509 **ret_cert)
{
        struct cache_entry *e;

        if (!c || !url || !ret_cert)
                return -EINVAL;

        e = pool_find(&c->pos, url);
        if (e) {
                if (e->expires <= now) {
                        entry_clear(e);
                        return SNS_CERT_CACHE_MISS;
                }
                if (X509_up_ref(e->cert) != 1)
                        return -ENOMEM;
                e->used = ++c->tick;
                *ret_cert = e->cert;
                return SNS_CERT_CACHE_HIT;
        }
        e = pool_find(&c->neg, url);
        if (e) {
                if (e->expires <= now) {
                        entry_clear(e);
                        return SNS_CERT_CACHE_MISS;
                }
                e->used = ++c->tick;
                return SNS_CERT_CACHE_NEGATIVE;
        }
        return SNS_CERT_CACHE_MISS;
}

static time_t cert_not_after(X509 *cert, time_t fallback)
{
        struct tm tm = {0};
        time_t t;

        if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
                return fallback;
        t = timegm(&tm);
        return t == (time_t)-1 ? fallback : t;
}

int sns_cert_cache_put(struct sns_cert_cache *c, const char *url, X509 *cert, time_t now)
{
        _cleanup_free_ char *copy = NULL;
        struct cache_entry *e;
        time_t expires;

        if (!c || !url || !cert || strnlen(url, SNS_URL_MAX + 1) > SNS_URL_MAX)
                return -EINVAL;
        copy = strdup(url);
        if (!copy)
                return -ENOMEM;
        if (X509_up_ref(cert) != 1)
                return -ENOMEM;

        e = pool_find(&c->neg, url);
        if (e)
                entry_clear(e);
        e = pool_find(&c->pos, url);
        if (!e)
                e = pool_slot(&c->pos, now);
        entry_clear(e);

        expires = now + (time_t)c->ttl_s;
        e->url = TAKE_PTR(copy);
        e->cert = cert;
        e->expires = MIN(expires, cert_not_after(cert, expires));
        e->used = ++c->tick;
        return 0;
}

int sns_cert_cache_put_negative(struct sns_cert_cache *c, const char *url, time_t now)
{
        _cleanup_free_ char *copy = NULL;
        struct cache_entry *e;

        if (!c || !url || strnlen(url, SNS_URL_MAX + 1) > SNS_URL_MAX)
                return -EINVAL;
        e = pool_find(&c->pos, url);
        if (e)
                entry_clear(e);
        if (c->neg.max == 0)
                return 0;
        copy = strdup(url);
        if (!copy)
                return -ENOMEM;

        e = pool_find(&c->neg, url);
        if (!e)
                e = pool_slot(&c->neg, now);
        entry_clear(e);
        e->url = TAKE_PTR(copy);
        e->expires = now + (time_t)c->negative_ttl_s;
        e->used = ++c->tick;
        return 0;
}
