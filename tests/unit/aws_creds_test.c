/*
 * aws_creds_test.c — the pure parts of the credential chain: chain order,
 * IMDS/container credential documents, the container endpoint and refresh
 * timing. (The shared files are tested in aws_profile_test.c, the IMDS
 * client and its endpoint in aws_imds_test.c.) Files go to a temporary
 * directory; the environment is a table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <sys/stat.h>

#include "aws_creds.h"
#include "common.h"
#include "test_env.h"
#include "test_files.h"

static char tmpdir[] = "/tmp/aws_creds_test.XXXXXX";
static char cred_path[256], conf_path[256], bad_path[256], token_path[256];

static int setup(void **state)
{
        if (!mkdtemp(tmpdir))
                return -1;
        *state = tmpdir;
        (void)snprintf(cred_path, sizeof(cred_path), "%s/credentials", tmpdir);
        (void)snprintf(conf_path, sizeof(conf_path), "%s/config", tmpdir);
        (void)snprintf(bad_path, sizeof(bad_path), "%s/bad", tmpdir);
        (void)snprintf(token_path, sizeof(token_path), "%s/token", tmpdir);
        /* What the chain reads when the environment has no keys (the files
         * themselves are tested in aws_profile_test.c). */
        if (write_file(cred_path, "[work]\n"
                                  "aws_access_key_id=AKIDWORK\n"
                                  "aws_secret_access_key=secretwork\n"
                                  "aws_session_token=tokenwork\n") < 0 ||
            write_file(conf_path, "[profile work]\n"
                                  "region = us-west-2\n"
                                  "aws_access_key_id = AKIDCONFIGWORK\n"
                                  "\n"
                                  "[profile regiononly]\n"
                                  "region = ca-central-1\n") < 0 ||
            write_file(bad_path, "[default\naws_access_key_id\n") < 0 ||
            write_file(token_path, "Bearer abc\n") < 0)
                return -1;
        return 0;
}

static void test_chain_order(void **state)
{
        struct aws_credentials c;
        struct env env_and_files = {{"AWS_ACCESS_KEY_ID", "AKIDENV", "AWS_SECRET_ACCESS_KEY",
                                     "secretenv", "AWS_SESSION_TOKEN", "tokenenv",
                                     "AWS_SHARED_CREDENTIALS_FILE", cred_path, "AWS_CONFIG_FILE",
                                     conf_path, NULL}};
        struct env half_env = {{"AWS_ACCESS_KEY_ID", "AKIDENV", "AWS_SHARED_CREDENTIALS_FILE",
                                cred_path, "AWS_CONFIG_FILE", conf_path, "AWS_PROFILE", "work",
                                NULL}};
        struct env files_container = {{"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent",
                                       "AWS_CONFIG_FILE", conf_path, "AWS_PROFILE", "regiononly",
                                       "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds",
                                       NULL}};
        struct env imds = {{"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", "AWS_CONFIG_FILE",
                            "/nonexistent", NULL}};
        struct env none = {{"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", "AWS_CONFIG_FILE",
                            "/nonexistent", "AWS_EC2_METADATA_DISABLED", "true", NULL}};
        struct env bad = {{"AWS_SHARED_CREDENTIALS_FILE", bad_path, NULL}};

        /* 1. environment first */
        assert_int_equal(aws_creds_chain_local(env_get, &env_and_files, &c), AWS_CREDS_SOURCE_ENV);
        assert_string_equal(c.access_key_id, "AKIDENV");
        assert_string_equal(c.session_token, "tokenenv");
        assert_int_equal(c.expiration, 0);
        assert_int_equal(c.source, AWS_CREDS_SOURCE_ENV);
        aws_credentials_done(&c);
        assert_null(c.access_key_id);

        /* An incomplete environment falls through to the files. */
        assert_int_equal(aws_creds_chain_local(env_get, &half_env, &c), AWS_CREDS_SOURCE_PROFILE);
        assert_string_equal(c.access_key_id, "AKIDWORK");
        assert_string_equal(c.secret_access_key, "secretwork");
        assert_string_equal(c.session_token, "tokenwork");
        aws_credentials_done(&c);

        /* A profile without keys falls through to the container. */
        assert_int_equal(aws_creds_chain_local(env_get, &files_container, &c),
                         AWS_CREDS_SOURCE_CONTAINER);
        /* Nothing local: IMDS, unless disabled. */
        assert_int_equal(aws_creds_chain_local(env_get, &imds, &c), AWS_CREDS_SOURCE_IMDS);
        assert_int_equal(aws_creds_chain_local(env_get, &none, &c), AWS_CREDS_SOURCE_NONE);
        /* A broken file is an error, not a silent fall-through. */
        assert_int_equal(aws_creds_chain_local(env_get, &bad, &c), -EBADMSG);
}

static void test_document(void **state)
{
        static const char imds_doc[] =
                "{\"Code\":\"Success\",\"LastUpdated\":\"2026-11-24T10:00:00Z\",\"Type\":"
                "\"AWS-HMAC\",\"AccessKeyId\":\"ASIAEXAMPLE\",\"SecretAccessKey\":\"sek\","
                "\"Token\":\"tok\",\"Expiration\":\"2026-11-24T16:00:00Z\"}";
        static const char ecs_doc[] = "{\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"s\","
                                      "\"Token\":\"t\",\"Expiration\":\"2026-11-24T16:00:00.123Z\","
                                      "\"RoleArn\":\"arn:aws:iam::1:role/x\"}";
        static const char long_term[] = "{\"AccessKeyId\":\"AKID\",\"SecretAccessKey\":\"s\"}";
        static const struct {
                const char *doc;
                bool require_session;
                int r;
        } bad[] = {
                {"{\"Code\":\"Failure\",\"AccessKeyId\":\"a\",\"SecretAccessKey\":\"b\"}", false,
                 -EACCES},
                {"{\"AccessKeyId\":\"a\"}", false, -EBADMSG},
                {"{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"b\"}", false, -EBADMSG},
                {"{\"AccessKeyId\":1,\"SecretAccessKey\":\"b\"}", false, -EBADMSG},
                {"{\"AccessKeyId\":\"a\",\"SecretAccessKey\":\"b\",\"Expiration\":\"tomorrow\"}",
                 false, -EBADMSG},
                {"{\"AccessKeyId\":\"a\",\"SecretAccessKey\":\"b\"}", true, -EBADMSG},
                {"{\"AccessKeyId\":\"a\",\"SecretAccessKey\":\"b\",\"Token\":\"t\"}", true,
                 -EBADMSG},
                {"not json", false, -EBADMSG},
                {"[]", false, -EBADMSG},
                {"", false, -EBADMSG},
        };
        struct aws_credentials c;

        assert_int_equal(aws_creds_parse_document(imds_doc, strlen(imds_doc), true, &c), 0);
        assert_string_equal(c.access_key_id, "ASIAEXAMPLE");
        assert_string_equal(c.secret_access_key, "sek");
        assert_string_equal(c.session_token, "tok");
        assert_int_equal(c.expiration, 1795536000); /* 2026-11-24T16:00:00Z */
        aws_credentials_done(&c);

        assert_int_equal(aws_creds_parse_document(ecs_doc, strlen(ecs_doc), false, &c), 0);
        assert_int_equal(c.expiration, 1795536000);
        aws_credentials_done(&c);

        assert_int_equal(aws_creds_parse_document(long_term, strlen(long_term), false, &c), 0);
        assert_null(c.session_token);
        assert_int_equal(c.expiration, 0);
        aws_credentials_done(&c);

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                if (aws_creds_parse_document(bad[i].doc, strlen(bad[i].doc), bad[i].require_session,
                                             &c) != bad[i].r)
                        fail_msg("case %zu (%s) not rejected as expected", i, bad[i].doc);
}

static void test_container_endpoint(void **state)
{
        struct env rel = {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc",
                           "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/ignored",
                           NULL}};
        struct env full = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9911/creds",
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok", NULL}};
        struct env file = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://localhost:1/c",
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-tok",
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_path, NULL}};
        struct env crlf = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "https://creds.example/c",
                            "AWS_CONTAINER_AUTHORIZATION_TOKEN", "a\r\nX-Evil: 1", NULL}};
        static const char *const allowed[] = {
                "https://anything.example/x", "http://169.254.170.2/x", "http://169.254.170.23/x",
                "http://[fd00:ec2::23]/x",    "http://[::1]:8/x",       "http://127.1.2.3/x",
        };
        static const char *const refused[] = {
                "http://10.0.0.1/x", "http://example.com/x",     "http://127.0.0.1.evil.com/x",
                "ftp://127.0.0.1/x", "http://169.254.169.254/x",
        };
        char *url = NULL, *auth = NULL;

        assert_int_equal(aws_creds_container_endpoint(env_get, &rel, &url, &auth), 0);
        assert_string_equal(url, "http://169.254.170.2/v2/credentials/abc");
        assert_null(auth);
        free(url);

        assert_int_equal(aws_creds_container_endpoint(env_get, &full, &url, &auth), 0);
        assert_string_equal(url, "http://127.0.0.1:9911/creds");
        assert_string_equal(auth, "tok");
        free(url);
        free(auth);

        /* The token file wins and loses its trailing newline. */
        assert_int_equal(aws_creds_container_endpoint(env_get, &file, &url, &auth), 0);
        assert_string_equal(auth, "Bearer abc");
        free(url);
        free(auth);

        assert_int_equal(aws_creds_container_endpoint(env_get, &crlf, &url, &auth), -EBADMSG);

        for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
                struct env e = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", allowed[i], NULL}};
                assert_int_equal(aws_creds_container_endpoint(env_get, &e, &url, &auth), 0);
                free(url);
        }
        for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
                struct env e = {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", refused[i], NULL}};
                assert_int_equal(aws_creds_container_endpoint(env_get, &e, &url, &auth), -EINVAL);
        }
        {
                struct env e = {{NULL}};
                assert_int_equal(aws_creds_container_endpoint(env_get, &e, &url, &auth), -ENOENT);
        }
}

static void test_refresh_time(void **state)
{
        /* Long-lived: 5 minutes before expiry. */
        assert_int_equal(aws_creds_refresh_time(1000, 1000 + 6 * 3600), 1000 + 6 * 3600 - 300);
        assert_int_equal(aws_creds_refresh_time(0, 900), 600);
        /* Short-lived: at half-life (the stand-in issues 10 s credentials). */
        assert_int_equal(aws_creds_refresh_time(100, 110), 105);
        assert_int_equal(aws_creds_refresh_time(0, 600), 300);
        /* Already expired: now. */
        assert_int_equal(aws_creds_refresh_time(100, 90), 100);
}

static void test_credentials_copy(void **state)
{
        struct aws_credentials src = {
                .access_key_id = (char *)"AKID",
                .secret_access_key = (char *)"s",
                .expiration = 42,
                .source = AWS_CREDS_SOURCE_IMDS,
        };
        struct aws_credentials c;

        assert_int_equal(aws_credentials_copy(&src, &c), 0);
        assert_string_equal(c.access_key_id, "AKID");
        assert_null(c.session_token);
        assert_int_equal(c.expiration, 42);
        aws_credentials_done(&c);
        aws_credentials_done(NULL);
        src.secret_access_key = NULL;
        assert_int_equal(aws_credentials_copy(&src, &c), -EINVAL);
        assert_string_equal(aws_creds_source_to_string(AWS_CREDS_SOURCE_IMDS), "imds");
        assert_string_equal(aws_creds_source_to_string(AWS_CREDS_SOURCE_PROFILE), "shared-files");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_chain_order),        cmocka_unit_test(test_document),
                cmocka_unit_test(test_container_endpoint), cmocka_unit_test(test_refresh_time),
                cmocka_unit_test(test_credentials_copy),
        };
        return cmocka_run_group_tests(tests, setup, remove_tree_teardown);
}
