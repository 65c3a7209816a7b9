/*
 * ctl_args_test.c — twowayctl's option parser: the accepted forms, the usage
 * errors, options read by name, and the argument checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common.h"
#include "ctl_args.h"

static const struct ctl_opt opts[] = {
        {"config", 'c', true},
        {"json", 0, false},
        {"note", 0, true},
        {"verbose", 'v', false},
};

static int parse(int argc, char **argv, size_t max_pos, bool stop, struct ctl_args *a, char *err)
{
        return ctl_args_parse(argc, argv, opts, ARRAY_SIZE(opts), max_pos, stop, a, err, 256);
}

static void test_args_forms(void **state)
{
        char *argv[] = {"get", "--note=a b", "-c", "x.conf", "+14255550123", "--json", "-v"};
        struct ctl_args a;
        char err[256] = "";

        assert_int_equal(parse(ARRAY_SIZE(argv), argv, 2, false, &a, err), 0);
        assert_int_equal(a.n_pos, 2);
        assert_string_equal(a.pos[0], "get");
        assert_string_equal(a.pos[1], "+14255550123");
        assert_string_equal(ctl_args_get(&a, "note"), "a b");
        assert_string_equal(ctl_args_get(&a, "config"), "x.conf");
        assert_true(ctl_args_has(&a, "json"));
        assert_true(ctl_args_has(&a, "verbose"));
        assert_null(ctl_args_get(&a, "undeclared"));

        char *glued[] = {"-cfile", "--note", "--", "--", "-x"};
        assert_int_equal(parse(ARRAY_SIZE(glued), glued, 2, false, &a, err), 0);
        assert_string_equal(ctl_args_get(&a, "config"), "file");
        /* A value may start with dashes; after "--" everything is positional. */
        assert_string_equal(ctl_args_get(&a, "note"), "--");
        assert_int_equal(a.n_pos, 1);
        assert_string_equal(a.pos[0], "-x");
}

static void test_args_errors(void **state)
{
        struct ctl_args a;
        char err[256];
        char *unknown[] = {"--bogus"};
        char *twice[] = {"--json", "--json"};
        char *missing[] = {"--note"};
        char *flag_value[] = {"--json=yes"};
        char *extra[] = {"a", "b"};
        char *short_unknown[] = {"-q"};

        assert_int_equal(parse(1, unknown, 0, false, &a, err), -EINVAL);
        assert_string_equal(err, "unknown option '--bogus'");
        assert_int_equal(parse(2, twice, 0, false, &a, err), -EINVAL);
        assert_string_equal(err, "option --json given twice");
        assert_int_equal(parse(1, missing, 0, false, &a, err), -EINVAL);
        assert_string_equal(err, "option --note needs a value");
        assert_int_equal(parse(1, flag_value, 0, false, &a, err), -EINVAL);
        assert_string_equal(err, "option --json takes no value");
        assert_int_equal(parse(2, extra, 1, false, &a, err), -EINVAL);
        assert_string_equal(err, "unexpected argument 'b'");
        assert_int_equal(parse(1, short_unknown, 0, false, &a, err), -EINVAL);
        assert_string_equal(err, "unknown option '-q'");
}

static void test_args_stop_at_command(void **state)
{
        char *argv[] = {"-c", "f", "--json", "consent", "get", "--note", "x"};
        struct ctl_args a;
        char err[256];

        assert_int_equal(parse(ARRAY_SIZE(argv), argv, 0, true, &a, err), 0);
        assert_int_equal(a.next, 3);
        assert_int_equal(a.n_pos, 0);
        assert_string_equal(ctl_args_get(&a, "config"), "f");
        assert_null(ctl_args_get(&a, "note"));
}

/* Options are read by their long name, whatever their place in the table,
 * from a copy of the result as well as from the original. */
static void test_args_by_name(void **state)
{
        static const struct ctl_opt reordered[] = {
                {"verbose", 'v', false},
                {"note", 0, true},
                {"json", 0, false},
                {"config", 'c', true},
        };
        char *argv[] = {"-v", "--note", "n", "-c", "f"};
        struct ctl_args a, copy;
        char err[256];

        assert_int_equal(ctl_args_parse(ARRAY_SIZE(argv), argv, reordered, ARRAY_SIZE(reordered), 0,
                                        false, &a, err, sizeof(err)),
                         0);
        copy = a;
        memset(&a, 0, sizeof(a));
        assert_string_equal(ctl_args_get(&copy, "note"), "n");
        assert_string_equal(ctl_args_get(&copy, "config"), "f");
        assert_string_equal(ctl_args_get(&copy, "verbose"), "");
        assert_true(ctl_args_has(&copy, "verbose"));
        assert_false(ctl_args_has(&copy, "json"));
        assert_null(ctl_args_get(&copy, "json"));
        /* A short name is not a name to look up by. */
        assert_null(ctl_args_get(&copy, "c"));
        assert_null(ctl_args_get(&a, "note"));
        assert_null(ctl_args_get(NULL, "note"));
        assert_null(ctl_args_get(&copy, NULL));
}

static void test_checks(void **state)
{
        uint64_t v = 0;

        assert_int_equal(ctl_parse_uint("60", 1, 3600, &v), 0);
        assert_int_equal(v, 60);
        assert_int_equal(ctl_parse_uint("0", 1, 3600, &v), -EINVAL);
        assert_int_equal(ctl_parse_uint("3601", 1, 3600, &v), -EINVAL);
        assert_int_equal(ctl_parse_uint("1x", 1, 3600, &v), -EINVAL);
        assert_int_equal(ctl_parse_uint("-1", 0, 3600, &v), -EINVAL);
        assert_int_equal(ctl_parse_uint("99999999999999999999999", 0, UINT64_MAX, &v), -EINVAL);
        assert_int_equal(ctl_parse_uint("", 0, 1, &v), -EINVAL);

        assert_string_equal(ctl_url_scheme("https://sms.example.com/sns"), "https");
        assert_string_equal(ctl_url_scheme("http://127.0.0.1:8080/sns"), "http");
        assert_null(ctl_url_scheme("ftp://x/"));
        assert_null(ctl_url_scheme("https:///sns"));
        assert_null(ctl_url_scheme("https://a b/"));
        assert_null(ctl_url_scheme(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_args_forms),
                cmocka_unit_test(test_args_errors),
                cmocka_unit_test(test_args_stop_at_command),
                cmocka_unit_test(test_args_by_name),
                cmocka_unit_test(test_checks),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
