/*
 * ctl_table_test.c — twowayctl's text tables: column widths in characters,
 * empty cells, control characters.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "common.h"
#include "ctl_table.h"

static void test_table(void **state)
{
        static const char *const headers[] = {"ID", "NAME", "NOTE"};
        const char *r1[] = {"1", "Zoë", "x"};
        const char *r2[] = {"1234", "", "line\nbreak"};
        struct ctl_table *t = ctl_table_new(headers, 3);
        char *s;

        assert_non_null(t);
        assert_int_equal(ctl_table_add(t, r1), 0);
        assert_int_equal(ctl_table_add(t, r2), 0);
        assert_int_equal(ctl_table_rows(t), 2);
        s = ctl_table_format(t);
        assert_non_null(s);
        /* UTF-8 counts as characters; empty cells are "-"; no trailing blanks;
         * control characters cannot break a row. */
        assert_string_equal(s, "ID    NAME  NOTE\n"
                               "1     Zoë   x\n"
                               "1234  -     line?break\n");
        free(s);
        ctl_table_free(t);
        assert_int_equal(ctl_text_width("Zoë"), 3);
        assert_null(ctl_table_new(headers, 0));
        assert_null(ctl_table_free(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
