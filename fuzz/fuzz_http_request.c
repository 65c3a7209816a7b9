/*
 * fuzz_http_request.c — whole HTTP requests through the SNS ingress.
 *
 * The real path of a delivery: libmicrohttpd and http_server.c parse the
 * request from a socket, the handler routes POST /sns to ingress_handle(),
 * which parses the envelope, checks headers, topic and SigningCertURL, takes
 * the signing certificate from its cache, verifies the signature, parses the
 * inbound SMS and stores it in a real spool (SQLite in a temporary directory)
 * before the answer goes back on the socket.
 *
 * What is replaced (link-time --wrap, no source change):
 *   - sns_cert_cache_get: on a miss the harness puts its own leaf certificate
 *     in the ingress's cache under the requested URL, as if it had been
 *     fetched. The leaf is issued at start-up by a test CA that is the
 *     ingress's whole trust store ([aws] ca_bundle), for the fixed key in
 *     fuzz_pki.h, and is checked with sns_cert_check_chain() first. No network.
 *   - sns_verify_signature: the real check runs against that key; the seed
 *     deliveries are really signed with it. When bit 0 of the first input
 *     byte is set, a failed check is overridden ("as if signed"), so that
 *     mutated messages reach the inbound SMS parser and the spool too. The
 *     string to sign is built for every message either way.
 *   - http_client_start: fails (-ENETUNREACH); nothing is fetched or
 *     confirmed.
 *
 * Input: one control byte, then the bytes a client writes on the connection
 * (one or more pipelined requests, or garbage).
 * FUZZ_HTTP_DEBUG=1 in the environment prints each answer.
 * Checks: no 200 answer unless a signature was accepted; every answer is a
 * well-formed HTTP status line; nothing stays pending after the exchange.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include <ev.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common.h"
#include "config.h"
#include "fuzz_common.h"
#include "fuzz_pki.h"
#include "http_client.h"
#include "http_server.h"
#include "ingress.h"
#include "log.h"
#include "sns_cert.h"
#include "sns_message.h"
#include "sns_verify.h"
#include "spool.h"

#define FUZZ_TOPIC    "arn:aws:sns:us-east-1:123456789012:twowayd-inbound"
#define FUZZ_TOPIC_CN "arn:aws-cn:sns:cn-north-1:123456789012:inbound"
#define MAX_BODY      8192

static struct ev_loop *loop;
static struct spool *spool;
static struct ingress *ingress;
static struct http_server *server;
static struct config config;
static char *topics[] = {FUZZ_TOPIC, FUZZ_TOPIC_CN, NULL};
static char tmpdir[64], sock_path[128], ca_path[128];
static X509 *leaf;
static EVP_PKEY *leaf_key;

/* Per input. */
static bool trusted;
static bool verified;

/* ---- wrapped library functions --------------------------------------------------- */

int __real_sns_cert_cache_get(struct sns_cert_cache *c, const char *url, time_t now,
                              X509 **ret_cert);
int __wrap_sns_cert_cache_get(struct sns_cert_cache *c, const char *url, time_t now,
                              X509 **ret_cert);
int __real_sns_verify_signature(const struct sns_message *m, EVP_PKEY *pkey, const char **reterr);
int __wrap_sns_verify_signature(const struct sns_message *m, EVP_PKEY *pkey, const char **reterr);
int __wrap_http_client_start(struct http_client *c, const struct http_client_req *req,
                             http_done_cb cb, void *userdata, struct http_transfer **ret);

int __wrap_sns_cert_cache_get(struct sns_cert_cache *c, const char *url, time_t now,
                              X509 **ret_cert)
{
        int r;

        /* The URL rule ran before the cache is consulted. */
        FUZZ_CHECK(url && strncmp(url, "https://", 8) == 0);
        r = __real_sns_cert_cache_get(c, url, now, ret_cert);
        if (r == SNS_CERT_CACHE_MISS) {
                FUZZ_CHECK(sns_cert_cache_put(c, url, leaf, now) == 0);
                r = __real_sns_cert_cache_get(c, url, now, ret_cert);
                FUZZ_CHECK(r == SNS_CERT_CACHE_HIT);
        }
        return r;
}

int __wrap_sns_verify_signature(const struct sns_message *m, EVP_PKEY *pkey, const char **reterr)
{
        char *tbs = NULL;
        size_t n = 0;
        int r;

        FUZZ_CHECK(sns_message_string_to_sign(m, &tbs, &n) == 0 && strlen(tbs) == n);
        free(tbs);
        FUZZ_CHECK(pkey && EVP_PKEY_eq(pkey, leaf_key) == 1);
        r = __real_sns_verify_signature(m, pkey, reterr);
        if (r < 0 && trusted)
                r = 0;
        if (r == 0)
                verified = true;
        return r;
}

int __wrap_http_client_start(struct http_client *c, const struct http_client_req *req,
                             http_done_cb cb, void *userdata, struct http_transfer **ret)
{
        return -ENETUNREACH;
}

/* ---- set-up ------------------------------------------------------------------------ */

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
        X509V3_CTX ctx;
        X509_EXTENSION *ext;

        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!ext || !X509_add_ext(x, ext, -1))
                abort();
        X509_EXTENSION_free(ext);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       long serial)
{
        X509 *x = X509_new();
        X509_NAME *name = X509_NAME_new();

        if (!x || !name)
                abort();
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
        X509_gmtime_adj(X509_getm_notBefore(x), -86400);
        X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
        X509_set_subject_name(x, name);
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
        X509_set_pubkey(x, key);
        if (issuer) {
                add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
                add_ext(x, issuer, NID_subject_alt_name, "DNS:sns.amazonaws.com");
        } else {
                add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
                add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
                add_ext(x, x, NID_subject_key_identifier, "hash");
        }
        if (!X509_sign(x, issuer ? issuer_key : key, EVP_sha256()))
                abort();
        X509_NAME_free(name);
        return x;
}

static void make_pki(void)
{
        EVP_PKEY *ca_key = EVP_RSA_gen(2048);
        BIO *bio = BIO_new_mem_buf(fuzz_signing_key_pem, -1);
        X509_STORE *trust = NULL;
        const char *reason = NULL;
        X509 *ca;
        FILE *f;

        leaf_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (!ca_key || !leaf_key)
                abort();
        ca = make_cert(ca_key, "twowayd fuzz CA", NULL, NULL, 1);
        leaf = make_cert(leaf_key, "sns.amazonaws.com", ca, ca_key, 2);

        f = fopen(ca_path, "we");
        if (!f || !PEM_write_X509(f, ca) || fclose(f) != 0)
                abort();
        /* The leaf passes the ingress's own checks against that trust store. */
        if (sns_trust_store_new(ca_path, &trust) < 0 ||
            sns_cert_check_chain(leaf, NULL, trust, time(NULL), "us-east-1", &reason) < 0) {
                fprintf(stderr, "test PKI refused: %s\n", reason ? reason : "?");
                abort();
        }
        X509_STORE_free(trust);
        X509_free(ca);
        EVP_PKEY_free(ca_key);
}

static void reply(struct http_request *req, unsigned status, const char *text)
{
        http_request_reply(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* The daemon's routing (service.c) for the SNS path. */
static void request_cb(struct http_request *req, void *userdata)
{
        if (!streq(http_request_path(req), config.http_path))
                reply(req, 404, "not found\n");
        else if (!streq(http_request_method(req), "POST"))
                reply(req, 405, "method not allowed\n");
        else
                ingress_handle(ingress, req);
}

static void cleanup(void)
{
        http_server_free(server);
        spool_free(spool);
        ingress_free(ingress);
        X509_free(leaf);
        EVP_PKEY_free(leaf_key);
        if (*tmpdir) {
                char p[192];

                snprintf(p, sizeof(p), "%s/" SPOOL_DB_NAME, tmpdir);
                unlink(p);
                snprintf(p, sizeof(p), "%s/" SPOOL_DB_NAME "-wal", tmpdir);
                unlink(p);
                snprintf(p, sizeof(p), "%s/" SPOOL_DB_NAME "-shm", tmpdir);
                unlink(p);
                unlink(sock_path);
                unlink(ca_path);
                rmdir(tmpdir);
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        signal(SIGPIPE, SIG_IGN);
        log_set_max_level(-1);
        snprintf(tmpdir, sizeof(tmpdir), "%s/twowayd-fuzz-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(tmpdir))
                abort();
        snprintf(sock_path, sizeof(sock_path), "%s/http.sock", tmpdir);
        snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", tmpdir);
        atexit(cleanup);
        make_pki();

        config.http_path = "/sns";
        config.aws_ca_bundle = ca_path;
        config.sns_topic_arns = topics;
        config.n_sns_topic_arns = 2;
        config.sns_auto_confirm = true;

        loop = ev_default_loop(0);
        if (spool_open(loop, &(struct spool_options){.dir = tmpdir, .min_free_bytes = 1}, &spool) <
                    0 ||
            ingress_new(loop, &config, spool, NULL, NULL, NULL, &ingress) < 0)
                abort();

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0)
                abort();
        if (http_server_new(loop,
                            &(struct http_server_options){
                                    .listen_fd = fd,
                                    .max_connections = 16,
                                    .max_per_ip = 0,
                                    .timeout_s = 30,
                                    .max_body = MAX_BODY,
                            },
                            request_cb, NULL, &server) < 0)
                abort();
        return 0;
}

/* ---- one exchange ------------------------------------------------------------------ */

static bool idle(void)
{
        struct spool_stats st;

        spool_get_stats(spool, &st);
        return st.queued == 0 && http_server_pending(server) == 0;
}

/* Every answer in buf starts with a sane status line; returns whether any is a 200. */
static bool check_answers(const char *buf, size_t len)
{
        bool ok200 = false;
        const char *p = buf, *end = buf + len;

        while (p < end) {
                const char *line = memmem(p, (size_t)(end - p), "HTTP/1.", 7);
                unsigned status;

                if (!line)
                        break;
                if (end - line < 12)
                        break;
                FUZZ_CHECK(line[8] == ' ');
                FUZZ_CHECK(line[9] >= '1' && line[9] <= '5' && line[10] >= '0' && line[10] <= '9' &&
                           line[11] >= '0' && line[11] <= '9');
                status = (unsigned)((line[9] - '0') * 100 + (line[10] - '0') * 10 + line[11] - '0');
                if (status == 200)
                        ok200 = true;
                p = line + 12;
        }
        return ok200;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        static char resp[65536];
        size_t sent = 0, got = 0;
        unsigned quiet = 0;
        int fd;

        if (size < 1)
                return 0;
        trusted = data[0] & 1;
        verified = false;
        data++;
        size--;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
        FUZZ_CHECK(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        FUZZ_CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);

        for (unsigned round = 0; round < 2000 && quiet < 8; round++) {
                ssize_t n;

                if (sent < size) {
                        n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
                        if (n > 0)
                                sent += (size_t)n;
                        else if (n < 0 && errno != EAGAIN)
                                sent = size; /* the server closed; stop writing */
                }
                ev_run(loop, EVRUN_NOWAIT);
                n = recv(fd, resp + got, sizeof(resp) - 1 - got, MSG_DONTWAIT);
                if (n > 0) {
                        got += (size_t)n;
                        quiet = 0;
                } else if (n == 0 || (n < 0 && errno != EAGAIN) || got == sizeof(resp) - 1) {
                        break;
                } else if (sent == size && idle()) {
                        quiet++;
                }
        }
        close(fd);
        /* Let the server see the close and release the connection. */
        for (int i = 0; i < 4; i++)
                ev_run(loop, EVRUN_NOWAIT);

        if (getenv("FUZZ_HTTP_DEBUG"))
                fprintf(stderr, "--- %zu of %zu bytes sent, answer (%zu bytes):\n%.*s\n", sent,
                        size, got, (int)got, resp);
        if (check_answers(resp, got))
                FUZZ_CHECK(verified);
        FUZZ_CHECK(idle());
        return 0;
}
