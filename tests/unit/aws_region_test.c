/*
 * aws_region_test.c — what is the region: the order of the local sources
 * (configured, AWS_REGION, AWS_DEFAULT_REGION, the profile), names that are
 * not regions, and a lookup's answer: on the next loop turn, never inside
 * the call, once; cancelled, at once and never again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <unistd.h>

#include <ev.h>

#include "aws_region.h"
#include "common.h"
#include "test_env.h"
#include "test_files.h"

static char tmpdir[] = "/tmp/aws_region_test.XXXXXX";
static char conf_path[256];

static int setup(void **state)
{
        if (!mkdtemp(tmpdir))
                return -1;
        *state = tmpdir;
        (void)snprintf(conf_path, sizeof(conf_path), "%s/config", tmpdir);
        return write_file(conf_path, "[default]\nregion = eu-west-1\n\n[profile regiononly]\n"
                                     "region = ca-central-1\n"
                                     "\n[profile badregion]\nregion = Not A Region\n");
}

static void test_local_order(void **state)
{
        struct env all = {{"AWS_REGION", "eu-north-1", "AWS_DEFAULT_REGION", "us-east-2",
                           "AWS_CONFIG_FILE", conf_path, NULL}};
        struct env dflt = {{"AWS_DEFAULT_REGION", "us-east-2", "AWS_CONFIG_FILE", conf_path, NULL}};
        struct env prof = {{"AWS_CONFIG_FILE", conf_path, "AWS_PROFILE", "regiononly", NULL}};
        struct env prof_default = {{"AWS_CONFIG_FILE", conf_path, NULL}};
        struct env nothing = {{"AWS_CONFIG_FILE", "/nonexistent", NULL}};
        struct env bad = {{"AWS_REGION", "Not A Region", NULL}};
        struct env bad_prof = {{"AWS_CONFIG_FILE", conf_path, "AWS_PROFILE", "badregion", NULL}};
        const char *src;
        char *r;

        assert_int_equal(aws_region_resolve_local("ap-east-1", env_get, &all, &r, &src), 0);
        assert_string_equal(r, "ap-east-1");
        assert_string_equal(src, "config");
        free(r);
        assert_int_equal(aws_region_resolve_local(NULL, env_get, &all, &r, &src), 0);
        assert_string_equal(r, "eu-north-1");
        assert_string_equal(src, "AWS_REGION");
        free(r);
        assert_int_equal(aws_region_resolve_local("", env_get, &dflt, &r, &src), 0);
        assert_string_equal(r, "us-east-2");
        assert_string_equal(src, "AWS_DEFAULT_REGION");
        free(r);
        assert_int_equal(aws_region_resolve_local(NULL, env_get, &prof, &r, &src), 0);
        assert_string_equal(r, "ca-central-1");
        assert_string_equal(src, "profile");
        free(r);
        assert_int_equal(aws_region_resolve_local(NULL, env_get, &prof_default, &r, &src), 0);
        assert_string_equal(r, "eu-west-1");
        free(r);
        assert_int_equal(aws_region_resolve_local(NULL, env_get, &nothing, &r, &src), -ENOENT);
        assert_int_equal(aws_region_resolve_local(NULL, env_get, &bad, &r, &src), -EINVAL);
        assert_int_equal(aws_region_resolve_local(NULL, env_get, &bad_prof, &r, &src), -EINVAL);
        assert_int_equal(aws_region_resolve_local("us_east_1", env_get, &all, &r, &src), -EINVAL);
}

struct answer {
        int calls;
        int r;
        char region[32];
        char source[32];
};

static void answered(int r, const char *region, const char *source, void *userdata)
{
        struct answer *a = userdata;

        a->calls++;
        a->r = r;
        (void)snprintf(a->region, sizeof(a->region), "%s", region ? region : "");
        (void)snprintf(a->source, sizeof(a->source), "%s", source ? source : "");
}

static void test_lookup(void **state)
{
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct env env = {{"AWS_DEFAULT_REGION", "us-east-2", NULL}};
        struct env nothing = {{"AWS_CONFIG_FILE", "/nonexistent", NULL}};
        struct aws_region_lookup *l = NULL;
        struct answer a = {0}, b = {0}, c = {0};

        assert_non_null(loop);
        /* A local answer: on the next loop turn. */
        assert_int_equal(aws_region_lookup_start(loop, NULL, NULL, env_get, &env, answered, &a, &l),
                         0);
        assert_int_equal(a.calls, 0);
        /* Nowhere to ask (no instance metadata session): -ENOENT, also later. */
        assert_int_equal(
                aws_region_lookup_start(loop, NULL, NULL, env_get, &nothing, answered, &b, NULL),
                0);
        assert_int_equal(b.calls, 0);
        for (int i = 0; i < 10 && (a.calls == 0 || b.calls == 0); i++)
                ev_run(loop, EVRUN_NOWAIT);
        assert_int_equal(a.calls, 1);
        assert_int_equal(a.r, 0);
        assert_string_equal(a.region, "us-east-2");
        assert_string_equal(a.source, "AWS_DEFAULT_REGION");
        assert_int_equal(b.calls, 1);
        assert_int_equal(b.r, -ENOENT);
        assert_string_equal(b.region, "");

        /* Cancelled: at once, and never again. */
        assert_int_equal(aws_region_lookup_start(loop, NULL, NULL, env_get, &env, answered, &c, &l),
                         0);
        aws_region_lookup_cancel(l);
        assert_int_equal(c.calls, 1);
        assert_int_equal(c.r, -ECANCELED);
        for (int i = 0; i < 3; i++)
                ev_run(loop, EVRUN_NOWAIT);
        assert_int_equal(c.calls, 1);
        assert_int_equal(a.calls, 1);

        /* An invalid configured name is refused at the call. */
        assert_int_equal(
                aws_region_lookup_start(loop, NULL, "EU", env_get, &env, answered, &c, NULL),
                -EINVAL);
        assert_int_equal(c.calls, 1);
        ev_loop_destroy(loop);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_local_order),
                cmocka_unit_test(test_lookup),
        };

        return cmocka_run_group_tests(tests, setup, remove_tree_teardown);
}
