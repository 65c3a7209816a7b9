/*
 * Unit tests for netmask.c: allow-list entries and what they match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <sys/socket.h>

#include "common.h"
#include "netmask.h"

static bool allowed(const char *mask, const char *address)
{
        struct netmask m;

        assert_int_equal(netmask_parse(mask, &m), 0);
        return netmask_match(&m, address);
}

static void test_parse(void **state)
{
        static const char *const bad[] = {
                "",          "/8",          "10.0.0.0/",    "10.0.0.0/33",
                "::1/129",   "10.0.0.0/8x", "10.0.0.0/-1",  "10.0.0",
                "localhost", "10.0.0.0/ 8", "fe80::1%eth0",
        };
        struct netmask m;

        assert_int_equal(netmask_parse("127.0.0.0/8", &m), 0);
        assert_int_equal(m.family, AF_INET);
        assert_int_equal(m.prefix, 8);
        assert_int_equal(netmask_parse("::1", &m), 0);
        assert_int_equal(m.family, AF_INET6);
        assert_int_equal(m.prefix, 128);
        assert_int_equal(netmask_parse("192.0.2.7", &m), 0);
        assert_int_equal(m.prefix, 32);
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                assert_int_equal(netmask_parse(bad[i], &m), -EINVAL);
        assert_int_equal(netmask_parse(NULL, &m), -EINVAL);
}

static void test_match(void **state)
{
        assert_true(allowed("127.0.0.0/8", "127.0.0.1"));
        assert_true(allowed("127.0.0.0/8", "127.255.1.2"));
        assert_false(allowed("127.0.0.0/8", "128.0.0.1"));
        assert_true(allowed("10.1.2.0/23", "10.1.3.255"));
        assert_false(allowed("10.1.2.0/23", "10.1.4.0"));
        assert_true(allowed("0.0.0.0/0", "203.0.113.9"));
        assert_false(allowed("0.0.0.0/0", "2001:db8::1"));
        assert_true(allowed("192.0.2.7", "192.0.2.7"));
        assert_false(allowed("192.0.2.7", "192.0.2.8"));
        assert_true(allowed("::1", "::1"));
        assert_false(allowed("::1", "::2"));
        assert_true(allowed("2001:db8::/32", "2001:db8:ffff::1"));
        assert_false(allowed("2001:db8::/32", "2001:db9::1"));
        /* A dual-stack listener reports IPv4 clients as mapped addresses. */
        assert_true(allowed("127.0.0.0/8", "::ffff:127.0.0.1"));
        assert_false(allowed("::1", "::ffff:127.0.0.1"));
        assert_false(allowed("127.0.0.0/8", "unknown"));
}

static void test_match_any(void **state)
{
        char *list[] = {"127.0.0.0/8", "not a mask", "::1", NULL};

        assert_true(netmask_match_any(list, 3, "127.0.0.2"));
        assert_true(netmask_match_any(list, 3, "::1"));
        assert_false(netmask_match_any(list, 3, "192.0.2.1"));
        assert_false(netmask_match_any(list, 0, "127.0.0.1"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_match),
                cmocka_unit_test(test_match_any),
        };

        return cmocka_run_group_tests_name("netmask", tests, NULL, NULL);
}
