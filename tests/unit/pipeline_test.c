/*
 * pipeline_test.c — the dispatcher's pure helpers: retry delays, the max-age
 * rule, keyword list splitting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common.h"
#include "keyword.h"
#include "pipeline.h"

static void test_retry_delay(void **state)
{
        /* Equal jitter: half fixed, half random. */
        assert_int_equal(pipeline_retry_delay_ms(1000, 60000, 0, 0.), 500);
        assert_int_equal(pipeline_retry_delay_ms(1000, 60000, 0, 0.999999), 999);
        assert_int_equal(pipeline_retry_delay_ms(1000, 60000, 1, 0.), 1000);
        assert_int_equal(pipeline_retry_delay_ms(1000, 60000, 2, 0.5), 3000);
        assert_int_equal(pipeline_retry_delay_ms(1000, 60000, 5, 0.), 16000);
        /* Capped, however many attempts. */
        assert_int_equal(pipeline_retry_delay_ms(1000, 60000, 6, 0.), 30000);
        assert_int_equal(pipeline_retry_delay_ms(1000, 60000, 6, 0.999999), 59999);
        assert_int_equal(pipeline_retry_delay_ms(1000, 60000, 1000000, 0.), 30000);
        assert_int_equal(pipeline_retry_delay_ms(1000, 60000, UINT32_MAX, 0.), 30000);
        /* Monotone in attempts for a fixed r. */
        for (unsigned a = 0; a < 40; a++)
                assert_true(pipeline_retry_delay_ms(10, 3600000, a, 0.3) <=
                            pipeline_retry_delay_ms(10, 3600000, a + 1, 0.3));
        /* Out-of-range r counts as 0; never below 1 ms. */
        assert_int_equal(pipeline_retry_delay_ms(1000, 60000, 0, -1.), 500);
        assert_int_equal(pipeline_retry_delay_ms(1000, 60000, 0, 1.), 500);
        assert_int_equal(pipeline_retry_delay_ms(0, 0, 0, 0.), 1);
        assert_int_equal(pipeline_retry_delay_ms(1, 1, 3, 0.), 1);
}

static void test_max_age(void **state)
{
        assert_true(pipeline_within_max_age(1000, 1000, 60));
        assert_true(pipeline_within_max_age(1000, 61000, 60));
        assert_false(pipeline_within_max_age(1000, 61001, 60));
        assert_true(pipeline_within_max_age(1795871109000, 1795871109000 + 604800000, 604800));
        assert_false(pipeline_within_max_age(1795871109000, 1795871109001 + 604800000, 604800));
}

static void check_words(const char *list, const char *const *want, size_t n)
{
        char **words = NULL;

        assert_int_equal(pipeline_split_words(list, &words), (int)n);
        assert_non_null(words);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(words[i], want[i]);
        assert_null(words[n]);
        pipeline_words_free(words);
}

static void test_split_words(void **state)
{
        static const char *const a[] = {"STOP", "STOP ALL", "UNSUBSCRIBE"};
        static const char *const b[] = {"halt"};
        char **words = (char **)1;
        struct keyword_rules *rules;

        check_words("STOP, STOP ALL,UNSUBSCRIBE", a, 3);
        check_words("  STOP ,\tSTOP ALL  , , UNSUBSCRIBE,", a, 3);
        check_words("halt", b, 1);
        check_words("", NULL, 0);
        check_words(" , ,", NULL, 0);
        assert_int_equal(pipeline_split_words(NULL, &words), 0);
        assert_null(words);
        assert_int_equal(pipeline_split_words("x", NULL), -EINVAL);
        assert_null(pipeline_words_free(NULL));

        /* What the split gives is what the classifier takes. */
        assert_int_equal(pipeline_split_words("HALT, CEASE NOW", &words), 2);
        assert_int_equal(
                keyword_rules_new(&(struct keyword_config){.opt_out = (const char *const *)words},
                                  &rules),
                0);
        assert_int_equal(keyword_classify(rules, "cease now!", false, NULL), KEYWORD_OPT_OUT);
        assert_int_equal(keyword_classify(rules, "STOP", false, NULL),
                         KEYWORD_OPT_OUT); /* phrase rule */
        assert_int_equal(keyword_classify(rules, "END", false, NULL), KEYWORD_NONE);
        keyword_rules_free(rules);
        pipeline_words_free(words);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_retry_delay),
                cmocka_unit_test(test_max_age),
                cmocka_unit_test(test_split_words),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
