/*
 * sns_cert_fetch_test.c — signing certificates fetched once per URL for every
 * delivery that waits, their issuer fetched when the chain needs it, failures
 * remembered for a while, and the fetch budget; on a fake transport (the test
 * answers each GET) and a fake clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "common.h"
#include "sns_cert.h"
#include "sns_cert_fetch.h"
#include "test_pki.h"

#define URL_A  "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-a.pem"
#define URL_B  "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-b.pem"
#define HOST   "sns.us-east-1.amazonaws.com"
#define ISSUER "http://crt.r2m01.amazontrust.com/r2m01.cer"

/* The GETs the fetcher started and not yet answered. */
struct get {
        char url[256];
        http_done_cb done;
        void *userdata;
};

struct fake {
        struct get gets[32];
        size_t n_gets;
        int fail_start; /* < 0: the next start fails with it */
        time_t now;
};

static int fake_get(void *transport, const char *url, http_done_cb done, void *userdata)
{
        struct fake *t = transport;
        struct get *g;

        if (t->fail_start < 0)
                return t->fail_start;
        assert_true(t->n_gets < ARRAY_SIZE(t->gets));
        g = &t->gets[t->n_gets++];
        (void)snprintf(g->url, sizeof(g->url), "%s", url);
        g->done = done;
        g->userdata = userdata;
        return 0;
}

static time_t fake_now(void *clock)
{
        return ((struct fake *)clock)->now;
}

/* Answer the oldest GET: r < 0 a transport failure, else status and body. */
static void answer(struct fake *t, const char *url, int r, long status, const void *body,
                   size_t len)
{
        struct get g = t->gets[0];
        struct http_client_response resp = {
                .status = status,
                .body = body,
                .body_len = len,
                .error = "",
                .local_url = g.url,
        };

        assert_true(t->n_gets > 0);
        assert_string_equal(g.url, url);
        memmove(&t->gets[0], &t->gets[1], (t->n_gets - 1) * sizeof(t->gets[0]));
        t->n_gets--;
        g.done(NULL, r, &resp, g.userdata);
}

static void answer_pem(struct fake *t, const char *url, X509 *cert)
{
        char *pem = cert_to_pem(cert);

        answer(t, url, 0, 200, pem, strlen(pem));
        free(pem);
}

struct waiter {
        int calls;
        int r;
        char reason[128];
        X509 *cert; /* a reference of its own */
};

static void done(int r, X509 *cert, const char *reason, void *userdata)
{
        struct waiter *w = userdata;

        w->calls++;
        w->r = r;
        (void)snprintf(w->reason, sizeof(w->reason), "%s", reason ? reason : "");
        if (cert && X509_up_ref(cert) == 1)
                w->cert = cert;
}

static int get(struct sns_cert_fetch *f, const char *url, struct waiter *w, X509 **cert,
               enum sns_cert_lookup *lookup)
{
        const char *reason = NULL;

        return sns_cert_fetch_get(f, url, HOST, "us-east-1", done, w, cert, lookup, &reason);
}

struct fixture {
        struct fake t;
        X509_STORE *trust;
        struct sns_cert_fetch *f;
};

static int setup(void **state)
{
        struct fixture *fx = calloc(1, sizeof(*fx));

        assert_non_null(fx);
        fx->t.now = T0;
        fx->trust = store_with(ca_cert);
        assert_int_equal(sns_cert_fetch_new(
                                 &(struct sns_cert_fetch_options){
                                         .get = fake_get,
                                         .transport = &fx->t,
                                         .now = fake_now,
                                         .clock = &fx->t,
                                         .trust = fx->trust,
                                 },
                                 &fx->f),
                         0);
        *state = fx;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *fx = *state;

        sns_cert_fetch_free(fx->f);
        X509_STORE_free(fx->trust);
        free(fx);
        return 0;
}

/* Three deliveries naming one URL: one GET, three answers, then the cache. */
static void test_one_fetch_for_all_waiters(void **state)
{
        struct fixture *fx = *state;
        X509 *leaf = make_leaf("sns.amazonaws.com", NULL);
        struct waiter w[3] = {0};
        enum sns_cert_lookup lookup;
        X509 *cert = NULL;

        for (size_t i = 0; i < ARRAY_SIZE(w); i++) {
                assert_int_equal(get(fx->f, URL_A, &w[i], &cert, &lookup), 1);
                assert_int_equal(lookup, SNS_CERT_LOOKUP_MISS);
        }
        assert_int_equal(fx->t.n_gets, 1);
        answer_pem(&fx->t, URL_A, leaf);
        for (size_t i = 0; i < ARRAY_SIZE(w); i++) {
                assert_int_equal(w[i].calls, 1);
                assert_int_equal(w[i].r, 0);
                assert_int_equal(X509_cmp(w[i].cert, leaf), 0);
                X509_free(w[i].cert);
        }
        assert_int_equal(get(fx->f, URL_A, &w[0], &cert, &lookup), 0);
        assert_int_equal(lookup, SNS_CERT_LOOKUP_HIT);
        assert_int_equal(X509_cmp(cert, leaf), 0);
        assert_int_equal(fx->t.n_gets, 0);
        X509_free(cert);
        X509_free(leaf);
}

/* A leaf issued by an intermediate the trust store lacks: its CA Issuers URL
 * is fetched (DER), and the chain then checks. */
static void test_issuer_fetched(void **state)
{
        struct fixture *fx = *state;
        X509 *leaf = make_cert_aia(leaf_key, "sns.amazonaws.com", NULL, ISSUER, inter_cert,
                                   inter_key, false, T0 - DAY, T0 + 365 * DAY);
        unsigned char *der = NULL;
        int der_len = i2d_X509(inter_cert, &der);
        struct waiter w = {0};
        enum sns_cert_lookup lookup;
        X509 *cert = NULL;

        assert_true(der_len > 0);
        assert_int_equal(get(fx->f, URL_A, &w, &cert, &lookup), 1);
        answer_pem(&fx->t, URL_A, leaf);
        assert_int_equal(w.calls, 0);
        assert_int_equal(fx->t.n_gets, 1);
        answer(&fx->t, ISSUER, 0, 200, der, (size_t)der_len);
        assert_int_equal(w.calls, 1);
        assert_int_equal(w.r, 0);
        assert_int_equal(X509_cmp(w.cert, leaf), 0);
        X509_free(w.cert);
        OPENSSL_free(der);
        X509_free(leaf);
}

/* Without a CA Issuers URL (or one off Amazon's PKI) nothing more is fetched:
 * the certificate is not trusted, typed as such. */
static void test_untrusted(void **state)
{
        struct fixture *fx = *state;
        X509 *plain = make_cert(leaf_key, "sns.amazonaws.com", NULL, inter_cert, inter_key, false,
                                T0 - DAY, T0 + 365 * DAY);
        X509 *elsewhere =
                make_cert_aia(leaf_key, "sns.amazonaws.com", NULL, "http://example.com/issuer.cer",
                              inter_cert, inter_key, false, T0 - DAY, T0 + 365 * DAY);
        struct waiter w[2] = {0};
        enum sns_cert_lookup lookup;
        X509 *cert = NULL;

        assert_int_equal(get(fx->f, URL_A, &w[0], &cert, &lookup), 1);
        assert_int_equal(get(fx->f, URL_B, &w[1], &cert, &lookup), 1);
        answer_pem(&fx->t, URL_A, plain);
        answer_pem(&fx->t, URL_B, elsewhere);
        assert_int_equal(fx->t.n_gets, 0);
        for (size_t i = 0; i < ARRAY_SIZE(w); i++) {
                assert_int_equal(w[i].calls, 1);
                assert_int_equal(w[i].r, -ENOKEY);
                assert_string_equal(w[i].reason, "certificate not trusted");
        }
        X509_free(plain);
        X509_free(elsewhere);
}

/* A failed fetch is remembered for 30 s: no GET in between, then one again. */
static void test_failure_remembered(void **state)
{
        struct fixture *fx = *state;
        struct waiter w = {0};
        enum sns_cert_lookup lookup;
        X509 *cert = NULL;
        const char *reason = NULL;

        assert_int_equal(get(fx->f, URL_A, &w, &cert, &lookup), 1);
        answer(&fx->t, URL_A, -ETIMEDOUT, 0, NULL, 0);
        assert_int_equal(w.calls, 1);
        assert_int_equal(w.r, -ETIMEDOUT);
        assert_string_equal(w.reason, "cannot fetch signing certificate");

        fx->t.now += 29;
        assert_int_equal(sns_cert_fetch_get(fx->f, URL_A, HOST, "us-east-1", done, &w, &cert,
                                            &lookup, &reason),
                         -EAGAIN);
        assert_int_equal(lookup, SNS_CERT_LOOKUP_NEGATIVE);
        assert_string_equal(reason, "signing certificate recently failed, try later");
        assert_int_equal(fx->t.n_gets, 0);

        fx->t.now += 2;
        assert_int_equal(get(fx->f, URL_A, &w, &cert, &lookup), 1);
        assert_int_equal(lookup, SNS_CERT_LOOKUP_MISS);
        assert_int_equal(fx->t.n_gets, 1);
        answer(&fx->t, URL_A, 0, 404, "no", 2);
        assert_int_equal(w.calls, 2);
        assert_int_equal(w.r, -EIO);
}

/* At most four fetches per host at once; a fifth URL waits its turn (-EBUSY),
 * a URL already being fetched still joins. A start that fails is an error. */
static void test_budget(void **state)
{
        struct fixture *fx = *state;
        struct waiter w[6] = {0};
        enum sns_cert_lookup lookup;
        X509 *cert = NULL;
        const char *reason = NULL;
        char url[128];

        for (int i = 0; i < SNS_CERT_FETCHES_PER_HOST_MAX; i++) {
                (void)snprintf(url, sizeof(url),
                               "https://" HOST "/SimpleNotificationService-%d.pem", i);
                assert_int_equal(get(fx->f, url, &w[i], &cert, &lookup), 1);
        }
        assert_int_equal(sns_cert_fetch_get(fx->f, URL_A, HOST, "us-east-1", done, &w[4], &cert,
                                            &lookup, &reason),
                         -EBUSY);
        assert_string_equal(reason, "too many certificate fetches in progress, try later");
        assert_int_equal(get(fx->f, url, &w[5], &cert, &lookup), 1); /* joins */
        assert_int_equal(fx->t.n_gets, SNS_CERT_FETCHES_PER_HOST_MAX);
        for (int i = 0; i < SNS_CERT_FETCHES_PER_HOST_MAX; i++)
                answer(&fx->t, fx->t.gets[0].url, -ECONNREFUSED, 0, NULL, 0);
        assert_int_equal(w[3].calls, 1);
        assert_int_equal(w[5].calls, 1);
        assert_int_equal(w[4].calls, 0);

        fx->t.fail_start = -ENOMEM;
        assert_int_equal(sns_cert_fetch_get(fx->f, URL_B, HOST, "us-east-1", done, &w[4], &cert,
                                            &lookup, &reason),
                         -ENOMEM);
        assert_string_equal(reason, "cannot fetch signing certificate");
        assert_int_equal(w[4].calls, 0);
}

/* New trust: what was cached against the old store is looked up again. */
static void test_new_trust_empties_cache(void **state)
{
        struct fixture *fx = *state;
        X509 *leaf = make_leaf("sns.amazonaws.com", NULL);
        X509_STORE *other = store_with(other_ca_cert);
        struct waiter w = {0};
        enum sns_cert_lookup lookup;
        X509 *cert = NULL;

        assert_int_equal(get(fx->f, URL_A, &w, &cert, &lookup), 1);
        answer_pem(&fx->t, URL_A, leaf);
        X509_free(w.cert);
        sns_cert_fetch_set_trust(fx->f, other, NULL);
        assert_int_equal(get(fx->f, URL_A, &w, &cert, &lookup), 1);
        answer_pem(&fx->t, URL_A, leaf);
        assert_int_equal(w.calls, 2);
        assert_int_equal(w.r, -ENOKEY);
        sns_cert_fetch_set_trust(fx->f, fx->trust, NULL);
        X509_STORE_free(other);
        X509_free(leaf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_one_fetch_for_all_waiters, setup, teardown),
                cmocka_unit_test_setup_teardown(test_issuer_fetched, setup, teardown),
                cmocka_unit_test_setup_teardown(test_untrusted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failure_remembered, setup, teardown),
                cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
                cmocka_unit_test_setup_teardown(test_new_trust_empties_cache, setup, teardown),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
