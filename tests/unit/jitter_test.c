/* Unit tests for jitter.c: numbers in [0, 1), spread, a non-zero seed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "jitter.h"

static void test_range_and_spread(void **state)
{
        unsigned buckets[10] = {0};
        uint64_t s = 12345;

        assert_true(jitter_seed(buckets) != 0);
        assert_true(jitter_seed(NULL) != 0);
        for (int i = 0; i < 10000; i++) {
                double v = jitter_next(&s);
                assert_true(v >= 0.0 && v < 1.0);
                buckets[(int)(v * 10)]++;
        }
        /* Each tenth of [0, 1) gets about a tenth of the draws. */
        for (int b = 0; b < 10; b++)
                assert_in_range(buckets[b], 800, 1200);
}

static void test_known_sequence(void **state)
{
        uint64_t s = 1;

        /* xorshift64* from state 1: 1 -> 0x2000001 * 2685821657736338717 >> 11. */
        assert_true(jitter_next(&s) ==
                    (double)(((uint64_t)0x2000001 * UINT64_C(2685821657736338717)) >> 11) /
                            9007199254740992.0);
        assert_int_equal(s, 0x2000001);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_range_and_spread),
                cmocka_unit_test(test_known_sequence),
        };

        return cmocka_run_group_tests_name("jitter", tests, NULL, NULL);
}
