/* Unit tests for text.c: control characters and refusal reasons. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "text.h"

static void test_has_control(void **state)
{
        assert_false(text_has_control("", 0));
        assert_false(text_has_control("plain text, caf\xc3\xa9 ~", 19));
        assert_true(text_has_control("a\nb", 3));
        assert_true(text_has_control("a\tb", 3));
        assert_true(text_has_control("\x1f", 1));
        assert_true(text_has_control("a\x7f", 2));
        assert_true(text_has_control("a\0b", 3));
        /* Only the first n bytes count. */
        assert_false(text_has_control("ab\n", 2));
        /* Bytes of multi-byte characters are not controls. */
        assert_false(text_has_control("\xc2\x80\xc2\x9f", 4));
}

static void test_fail(void **state)
{
        const char *why = NULL;

        assert_int_equal(text_fail(&why, "bad thing", -EBADMSG), -EBADMSG);
        assert_string_equal(why, "bad thing");
        assert_int_equal(text_fail(NULL, "ignored", -EINVAL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_has_control),
                cmocka_unit_test(test_fail),
        };

        return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
