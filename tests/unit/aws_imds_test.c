/*
 * aws_imds_test.c — the instance metadata service client (aws_imds.c)
 * against a scripted IMDS on 127.0.0.1: the IMDSv2 token PUT and the GET that
 * carries it, the token shared until it expires (on a fake clock), a 401
 * answered with a new token once, the IMDSv1 fallback and its refusal, the
 * statuses' errors, and an endpoint that refuses or never answers. Also the
 * endpoint the environment selects.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <unistd.h>

#include <ev.h>

#include "aws_imds.h"
#include "common.h"
#include "http_client.h"
#include "test_env.h"

#include "scripted_server.h"

#define WAIT_LIMIT 10.0
#define PATH       "/latest/meta-data/placement/region"
#define TTL_HEADER "X-aws-ec2-metadata-token-ttl-seconds"
#define TOKEN_HDR  "X-aws-ec2-metadata-token"

struct fixture {
        struct ev_loop *loop;
        struct scripted_server server;
        struct http_client *http;
        struct aws_imds *imds;
        struct env env;
        double now; /* the fake clock of the token's lifetime */
};

struct answer {
        bool done;
        unsigned calls;
        int r;
        char body[256];
};

static double fake_clock(void *userdata)
{
        return ((struct fixture *)userdata)->now;
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        f->loop = ev_loop_new(EVFLAG_AUTO);
        f->now = 1000.;
        if (!f->loop || scripted_server_start(&f->server) < 0 ||
            http_client_new(f->loop, &(struct http_client_options){0}, &f->http) < 0 ||
            aws_imds_new(f->loop,
                         &(struct aws_imds_options){.http = f->http,
                                                    .getenv_fn = env_get,
                                                    .getenv_userdata = &f->env,
                                                    .timeout_ms = 1000},
                         &f->imds) < 0)
                return -1;
        aws_imds_test_clock(f->imds, fake_clock, f);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        f->imds = aws_imds_free(f->imds);
        f->http = http_client_free(f->http);
        scripted_server_stop(&f->server);
        ev_loop_destroy(f->loop);
        free(f);
        return 0;
}

static void answered(int r, const char *body, size_t len, void *userdata)
{
        struct answer *a = userdata;

        a->calls++;
        a->done = true;
        a->r = r;
        (void)snprintf(a->body, sizeof(a->body), "%.*s", (int)len, body ? body : "");
}

/* GET base + PATH and wait for the one answer. */
static struct answer get_from(struct fixture *f, const char *base)
{
        struct answer a = {0};

        assert_int_equal(aws_imds_get(f->imds, base, PATH, answered, &a, NULL), 0);
        assert_false(a.done); /* never from inside the call */
        assert_true(run_loop_until(f->loop, &a.done, WAIT_LIMIT));
        assert_int_equal(a.calls, 1);
        return a;
}

static struct answer get(struct fixture *f)
{
        return get_from(f, f->server.base_url);
}

static const struct recorded_request *req(struct fixture *f, size_t i)
{
        assert_true(i < scripted_server_count(&f->server));
        return &f->server.requests[i];
}

static void assert_token_put(struct fixture *f, size_t i)
{
        assert_string_equal(req(f, i)->method, "PUT");
        assert_string_equal(req(f, i)->path, "/latest/api/token");
        assert_string_equal(recorded_header(req(f, i), TTL_HEADER), "21600");
        assert_null(recorded_header(req(f, i), TOKEN_HDR));
}

static void assert_get_with(struct fixture *f, size_t i, const char *token)
{
        assert_string_equal(req(f, i)->method, "GET");
        assert_string_equal(req(f, i)->path, PATH);
        if (token)
                assert_string_equal(recorded_header(req(f, i), TOKEN_HDR), token);
        else
                assert_null(recorded_header(req(f, i), TOKEN_HDR));
}

#define TOKEN(t)                                                                                   \
        (struct scripted_reply)                                                                    \
        {                                                                                          \
                .status = 200, .content_type = "text/plain", .body = (t)                           \
        }
#define BODY(b) TOKEN(b)
#define STATUS(s)                                                                                  \
        (struct scripted_reply)                                                                    \
        {                                                                                          \
                .status = (s), .content_type = "text/plain", .body = ""                            \
        }

/* IMDSv2: the token first, then the GET that carries it. */
static void test_token_then_get(void **state)
{
        struct fixture *f = *state;
        struct answer a;

        scripted_server_script(
                &f->server, (struct scripted_reply[]){TOKEN("AQAEAtoken-1==\n"), BODY("eu-west-1")},
                2);
        a = get(f);
        assert_int_equal(a.r, 0);
        assert_string_equal(a.body, "eu-west-1");
        assert_int_equal(scripted_server_count(&f->server), 2);
        assert_token_put(f, 0);
        assert_get_with(f, 1, "AQAEAtoken-1=="); /* the trailing newline is not the token's */
}

/* One token for every request until a minute before its six hours run out. */
static void test_token_reused_until_expiry(void **state)
{
        struct fixture *f = *state;
        struct answer a;

        scripted_server_script(&f->server,
                               (struct scripted_reply[]){TOKEN("token-A"), BODY("one"), BODY("two"),
                                                         BODY("three"), TOKEN("token-B"),
                                                         BODY("four")},
                               6);
        assert_string_equal(get(f).body, "one");
        assert_string_equal(get(f).body, "two");
        f->now += 21600 - 60 - 1;
        assert_string_equal(get(f).body, "three");
        assert_int_equal(scripted_server_count(&f->server), 4);
        assert_get_with(f, 1, "token-A");
        assert_get_with(f, 2, "token-A");
        assert_get_with(f, 3, "token-A");

        f->now += 1; /* expired: a new token before the GET */
        a = get(f);
        assert_int_equal(a.r, 0);
        assert_string_equal(a.body, "four");
        assert_int_equal(scripted_server_count(&f->server), 6);
        assert_token_put(f, 4);
        assert_get_with(f, 5, "token-B");
}

/* A GET answered 401 (the token was revoked) gets a new token, once. */
static void test_401_new_token_once(void **state)
{
        struct fixture *f = *state;
        struct answer a;

        scripted_server_script(&f->server,
                               (struct scripted_reply[]){TOKEN("token-A"), STATUS(401),
                                                         TOKEN("token-B"), BODY("eu-west-1")},
                               4);
        a = get(f);
        assert_int_equal(a.r, 0);
        assert_string_equal(a.body, "eu-west-1");
        assert_int_equal(scripted_server_count(&f->server), 4);
        assert_get_with(f, 1, "token-A");
        assert_token_put(f, 2);
        assert_get_with(f, 3, "token-B");

        /* Refused again with the new token: an error, not a loop. */
        scripted_server_script(
                &f->server,
                (struct scripted_reply[]){STATUS(401), TOKEN("token-C"), STATUS(401), BODY("x")},
                4);
        a = get(f);
        assert_int_equal(a.r, -EACCES);
        assert_int_equal(scripted_server_count(&f->server), 4 + 3);
        assert_get_with(f, 4, "token-B");
        assert_token_put(f, 5);
        assert_get_with(f, 6, "token-C");
}

/* A token PUT refused with 403/404/405: IMDSv1 for that request, unless
 * AWS_EC2_METADATA_V1_DISABLED; any other refusal is an error. */
static void test_v1_fallback(void **state)
{
        struct fixture *f = *state;
        struct answer a;

        scripted_server_script(&f->server, (struct scripted_reply[]){STATUS(405), BODY("v1")}, 2);
        a = get(f);
        assert_int_equal(a.r, 0);
        assert_string_equal(a.body, "v1");
        assert_token_put(f, 0);
        assert_get_with(f, 1, NULL);

        f->env = (struct env){{"AWS_EC2_METADATA_V1_DISABLED", "true", NULL}};
        scripted_server_script(&f->server, (struct scripted_reply[]){STATUS(403), BODY("v1")}, 2);
        a = get(f);
        assert_int_equal(a.r, -EACCES);
        assert_int_equal(scripted_server_count(&f->server), 2 + 1); /* no GET */

        scripted_server_script(&f->server, (struct scripted_reply[]){STATUS(503), BODY("v1")}, 2);
        a = get(f);
        assert_int_equal(a.r, -EAGAIN);
        assert_int_equal(scripted_server_count(&f->server), 3 + 1);
}

/* What a GET's status becomes. */
static void test_statuses(void **state)
{
        struct fixture *f = *state;

        scripted_server_script(&f->server,
                               (struct scripted_reply[]){TOKEN("token-A"), STATUS(404), STATUS(500),
                                                         STATUS(429), STATUS(418), STATUS(403)},
                               6);
        assert_int_equal(get(f).r, -ENOENT);
        assert_int_equal(get(f).r, -EAGAIN);
        assert_int_equal(get(f).r, -EAGAIN);
        assert_int_equal(get(f).r, -EIO);
        assert_int_equal(get(f).r, -EACCES);
        assert_int_equal(scripted_server_count(&f->server), 6); /* one token for all */

        assert_int_equal(aws_imds_status_errno(401), -EACCES);
        assert_int_equal(aws_imds_status_errno(404), -ENOENT);
        assert_int_equal(aws_imds_status_errno(502), -EAGAIN);
        assert_int_equal(aws_imds_status_errno(302), -EIO);
}

/* Unreachable or silent: the request ends with the transport's error, in
 * bounded time, and the caller hears exactly once. */
static void test_unreachable_and_timeout(void **state)
{
        struct fixture *f = *state;
        char base[64];
        int fd;

        /* A port that listened a moment ago: nobody does now. */
        fd = silent_listener(base, sizeof(base));
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(get_from(f, base).r, -ECONNREFUSED);

        f->imds = aws_imds_free(f->imds);
        assert_int_equal(aws_imds_new(f->loop,
                                      &(struct aws_imds_options){.http = f->http,
                                                                 .getenv_fn = env_get,
                                                                 .getenv_userdata = &f->env,
                                                                 .timeout_ms = 100},
                                      &f->imds),
                         0);
        fd = silent_listener(base, sizeof(base));
        assert_true(fd >= 0);
        assert_int_equal(get_from(f, base).r, -ETIMEDOUT);
        close(fd);
}

/* A cancelled request is never answered; the session goes on. */
static void test_cancel(void **state)
{
        struct fixture *f = *state;
        struct aws_imds_request *r = NULL;
        struct answer cancelled = {0}, a;

        scripted_server_script(&f->server, (struct scripted_reply[]){TOKEN("token-A"), BODY("x")},
                               2);
        assert_int_equal(aws_imds_get(f->imds, f->server.base_url, PATH, answered, &cancelled, &r),
                         0);
        assert_non_null(r);
        aws_imds_request_cancel(r);
        scripted_server_script(&f->server, (struct scripted_reply[]){TOKEN("token-B"), BODY("y")},
                               2);
        a = get(f);
        assert_int_equal(a.r, 0);
        assert_string_equal(a.body, "y");
        assert_int_equal(cancelled.calls, 0);

        /* Refused arguments: an error, and never a callback. */
        assert_int_equal(aws_imds_get(f->imds, "", PATH, answered, &cancelled, NULL), -EINVAL);
        assert_int_equal(
                aws_imds_get(f->imds, f->server.base_url, NULL, answered, &cancelled, NULL),
                -EINVAL);
        assert_int_equal(aws_imds_get(NULL, f->server.base_url, PATH, answered, &cancelled, NULL),
                         -EINVAL);
        assert_int_equal(cancelled.calls, 0);
}

static void test_endpoint(void **state)
{
        struct env def = {{NULL}};
        struct env ep = {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:5555/", NULL}};
        struct env v6 = {{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6", NULL}};
        struct env off = {{"AWS_EC2_METADATA_DISABLED", "TRUE", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                           "http://127.0.0.1:5555", NULL}};
        struct env bad = {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "169.254.169.254", NULL}};
        char *url;

        assert_int_equal(aws_imds_endpoint(env_get, &def, &url), 0);
        assert_string_equal(url, "http://169.254.169.254");
        free(url);
        assert_int_equal(aws_imds_endpoint(env_get, &ep, &url), 0);
        assert_string_equal(url, "http://127.0.0.1:5555");
        free(url);
        assert_int_equal(aws_imds_endpoint(env_get, &v6, &url), 0);
        assert_string_equal(url, "http://[fd00:ec2::254]");
        free(url);
        assert_int_equal(aws_imds_endpoint(env_get, &off, &url), -ENOENT);
        assert_int_equal(aws_imds_endpoint(env_get, &bad, &url), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_token_then_get, setup, teardown),
                cmocka_unit_test_setup_teardown(test_token_reused_until_expiry, setup, teardown),
                cmocka_unit_test_setup_teardown(test_401_new_token_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_v1_fallback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_statuses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unreachable_and_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
                cmocka_unit_test(test_endpoint),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
