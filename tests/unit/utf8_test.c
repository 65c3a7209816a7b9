/* Unit tests for utf8.c: the well-formed table of RFC 3629 and its edges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

static const struct {
        const char *bytes;
        size_t len;
        bool valid;
} cases[] = {
        {"", 0, true},
        {"plain ASCII", 11, true},
        {"caf\xc3\xa9", 5, true},       /* é, two bytes */
        {"\xe2\x80\x99", 3, true},      /* ’, three bytes */
        {"\xf0\x9f\x98\x80", 4, true},  /* 😀, four bytes */
        {"\xf4\x8f\xbf\xbf", 4, true},  /* U+10FFFF, the last code point */
        {"\xed\x9f\xbf", 3, true},      /* U+D7FF, just below the surrogates */
        {"\xc0\xaf", 2, false},         /* overlong '/' */
        {"\xe0\x80\xaf", 3, false},     /* overlong, three bytes */
        {"\xf0\x80\x80\xaf", 4, false}, /* overlong, four bytes */
        {"\xed\xa0\x80", 3, false},     /* U+D800, a surrogate */
        {"\xf4\x90\x80\x80", 4, false}, /* U+110000, out of range */
        {"\xf5\x80\x80\x80", 4, false}, /* lead byte past 0xf4 */
        {"\x80", 1, false},             /* lone continuation */
        {"\xe2\x80", 2, false},         /* truncated */
        {"\xc3\x28", 2, false},         /* bad continuation */
        {"a\0b", 3, false},             /* NUL refused (allow_nul false) */
};

static void test_table(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                if (utf8_valid(cases[i].bytes, cases[i].len, false) != cases[i].valid)
                        fail_msg("case %zu: expected %s", i, cases[i].valid ? "valid" : "invalid");
        }
        assert_true(utf8_valid("a\0b", 3, true));
}

static void test_next_decodes_and_advances(void **state)
{
        const unsigned char *s = (const unsigned char *)"A\xc3\xa9\xf0\x9f\x98\x80";
        size_t i = 0;
        uint32_t cp = 0;

        (void)state;
        assert_true(utf8_next(s, 7, &i, &cp));
        assert_int_equal(cp, 'A');
        assert_int_equal(i, 1);
        assert_true(utf8_next(s, 7, &i, &cp));
        assert_int_equal(cp, 0xe9);
        assert_int_equal(i, 3);
        assert_true(utf8_next(s, 7, &i, &cp));
        assert_int_equal(cp, 0x1f600);
        assert_int_equal(i, 7);
        /* A failure leaves the position alone. */
        i = 0;
        assert_false(utf8_next((const unsigned char *)"\xe2\x80", 2, &i, &cp));
        assert_int_equal(i, 0);
}

static void test_length_counts_code_points(void **state)
{
        (void)state;
        assert_int_equal(utf8_length("", 0), 0);
        assert_int_equal(utf8_length("Zo\xc3\xab", 4), 3);                /* Zoë */
        assert_int_equal(utf8_length("A\xc3\xa9\xf0\x9f\x98\x80", 7), 3); /* Aé😀 */
        assert_int_equal(utf8_length("\xe2\x80\x99\xe2\x80\x99", 6), 2);
        /* Only the first len bytes count. */
        assert_int_equal(utf8_length("abc", 2), 2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_next_decodes_and_advances),
                cmocka_unit_test(test_length_counts_code_points),
        };

        return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
