/*
 * aws_profile_test.c — the AWS shared files (aws_profile.c): profiles in
 * ~/.aws/credentials ([name]) and ~/.aws/config ([profile name]), which file
 * wins for what, missing and malformed files, and the paths and profile the
 * environment selects. Files go to a temporary directory; the environment is
 * a table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "aws_profile.h"
#include "common.h"
#include "test_env.h"
#include "test_files.h"

static char tmpdir[] = "/tmp/aws_profile_test.XXXXXX";
static char cred_path[256], conf_path[256], bad_path[256];

static int setup(void **state)
{
        if (!mkdtemp(tmpdir))
                return -1;
        *state = tmpdir;
        (void)snprintf(cred_path, sizeof(cred_path), "%s/credentials", tmpdir);
        (void)snprintf(conf_path, sizeof(conf_path), "%s/config", tmpdir);
        (void)snprintf(bad_path, sizeof(bad_path), "%s/bad", tmpdir);
        if (write_file(cred_path, "# comment\n"
                                  "[default]\n"
                                  "aws_access_key_id = AKIDDEFAULT\n"
                                  "aws_secret_access_key = secretdefault\n"
                                  "\n"
                                  "[work]\n"
                                  "aws_access_key_id=AKIDWORK\n"
                                  "aws_secret_access_key=secretwork\n"
                                  "aws_session_token=tokenwork\n"
                                  "\n"
                                  "[profile notme]\n"
                                  "aws_access_key_id = AKIDWRONG\n"
                                  "aws_secret_access_key = wrong\n") < 0 ||
            write_file(conf_path, "[default]\n"
                                  "region = eu-west-1\n"
                                  "aws_access_key_id = AKIDFROMCONFIG\n"
                                  "\n"
                                  "[profile work]\n"
                                  "region = us-west-2\n"
                                  "aws_access_key_id = AKIDCONFIGWORK\n"
                                  "\n"
                                  "[profile  onlyconfig]\n"
                                  "aws_access_key_id = AKIDCONF\n"
                                  "aws_secret_access_key = secretconf\n"
                                  "region = ap-south-1\n"
                                  "\n"
                                  "[work]\n"
                                  "region = wrong-1\n"
                                  "\n"
                                  "[profile regiononly]\n"
                                  "region = ca-central-1\n") < 0 ||
            write_file(bad_path, "[default\naws_access_key_id\n") < 0)
                return -1;
        return 0;
}

static void test_profile_files(void **state)
{
        struct aws_profile p;

        /* [default] in both files: credentials file wins for keys. */
        assert_int_equal(aws_profile_load(cred_path, conf_path, "default", &p), 0);
        assert_true(p.found);
        assert_string_equal(p.access_key_id, "AKIDDEFAULT");
        assert_string_equal(p.secret_access_key, "secretdefault");
        assert_null(p.session_token);
        assert_string_equal(p.region, "eu-west-1");
        aws_profile_done(&p);

        /* Named profile: [work] in credentials, [profile work] in config. */
        assert_int_equal(aws_profile_load(cred_path, conf_path, "work", &p), 0);
        assert_string_equal(p.access_key_id, "AKIDWORK");
        assert_string_equal(p.session_token, "tokenwork");
        assert_string_equal(p.region, "us-west-2"); /* not "[work]" of the config file */
        aws_profile_done(&p);

        /* Only in config, with extra spaces after "profile". */
        assert_int_equal(aws_profile_load(cred_path, conf_path, "onlyconfig", &p), 0);
        assert_string_equal(p.access_key_id, "AKIDCONF");
        assert_string_equal(p.secret_access_key, "secretconf");
        assert_string_equal(p.region, "ap-south-1");
        aws_profile_done(&p);

        /* "[profile notme]" in the credentials file is not profile "notme". */
        assert_int_equal(aws_profile_load(cred_path, conf_path, "notme", &p), 0);
        assert_false(p.found);
        assert_null(p.access_key_id);
        aws_profile_done(&p);

        /* Missing files are empty, not errors. */
        assert_int_equal(aws_profile_load("/nonexistent/c", "/nonexistent/d", "default", &p), 0);
        assert_false(p.found);
        aws_profile_done(&p);
        assert_int_equal(aws_profile_load(NULL, NULL, NULL, &p), 0);
        assert_false(p.found);
        aws_profile_done(&p);

        /* Malformed files are errors. */
        assert_int_equal(aws_profile_load(bad_path, conf_path, "default", &p), -EBADMSG);
}

static void test_profile_paths(void **state)
{
        struct env e1 = {{"HOME", "/home/u", NULL}};
        struct env e2 = {{"HOME", "/home/u", "AWS_SHARED_CREDENTIALS_FILE", "~/c",
                          "AWS_CONFIG_FILE", "/etc/aws", "AWS_PROFILE", "p1", NULL}};
        struct env e3 = {{NULL}};
        char *c = NULL, *f = NULL;
        const char *prof;

        assert_int_equal(aws_profile_paths(env_get, &e1, &c, &f, &prof), 0);
        assert_string_equal(c, "/home/u/.aws/credentials");
        assert_string_equal(f, "/home/u/.aws/config");
        assert_string_equal(prof, "default");
        free(c);
        free(f);

        assert_int_equal(aws_profile_paths(env_get, &e2, &c, &f, &prof), 0);
        assert_string_equal(c, "/home/u/c");
        assert_string_equal(f, "/etc/aws");
        assert_string_equal(prof, "p1");
        free(c);
        free(f);

        /* No HOME: the default files simply do not exist. */
        assert_int_equal(aws_profile_paths(env_get, &e3, &c, &f, &prof), 0);
        assert_null(c);
        assert_null(f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_profile_files),
                cmocka_unit_test(test_profile_paths),
        };
        return cmocka_run_group_tests(tests, setup, remove_tree_teardown);
}
