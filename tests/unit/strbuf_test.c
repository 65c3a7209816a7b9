/* Unit tests for strbuf.c: appending, the bound, the sticky error, handing on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static void test_append_and_steal(void **state)
{
        struct strbuf b = {0};
        char *s;

        strbuf_puts(&b, "GET");
        strbuf_putc(&b, '\n');
        strbuf_add(&b, "/path?x", 5);
        assert_int_equal(b.err, 0);
        assert_int_equal(b.len, 9);
        assert_string_equal(b.data, "GET\n/path");
        /* Growing far past the first allocation keeps every byte. */
        for (int i = 0; i < 1000; i++)
                strbuf_puts(&b, "0123456789");
        assert_int_equal(b.len, 10009);
        assert_memory_equal(b.data + 9 + 9990, "0123456789", 10);
        s = strbuf_steal(&b);
        assert_non_null(s);
        assert_int_equal(strlen(s), 10009);
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        free(s);

        /* An empty buffer hands on "". */
        s = strbuf_steal(&b);
        assert_string_equal(s, "");
        free(s);
        strbuf_done(&b);
}

static void test_bound(void **state)
{
        struct strbuf b = {.max = 8};

        strbuf_puts(&b, "12345678");
        assert_int_equal(b.err, 0);
        assert_string_equal(b.data, "12345678");
        strbuf_putc(&b, '9');
        assert_int_equal(b.err, -E2BIG);
        /* Sticky: later appends that would fit do nothing. */
        strbuf_done(&b);
        b = (struct strbuf){.max = 8};
        strbuf_puts(&b, "123456789");
        strbuf_puts(&b, "1");
        assert_int_equal(b.err, -E2BIG);
        assert_null(strbuf_steal(&b));
        assert_null(b.data);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_append_and_steal),
                cmocka_unit_test(test_bound),
        };

        return cmocka_run_group_tests_name("strbuf", tests, NULL, NULL);
}
