/*
 * keyword_config_test.c — the keyword rules as twowayd.conf sets them: each
 * [consent] *_words list replaces its built-in list, an unset one keeps it,
 * and a list the rules would misread is refused; how one list splits into
 * its words.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common.h"
#include "config.h"
#include "keyword.h"
#include "keyword_config.h"

static enum keyword_kind classify(const struct config *c, const char *text, bool opted_out)
{
        struct keyword_rules *rules = NULL;
        enum keyword_kind k;

        assert_int_equal(keyword_config_rules(c, &rules), 0);
        assert_non_null(rules);
        k = keyword_classify(rules, text, opted_out, NULL);
        keyword_rules_free(rules);
        return k;
}

static void test_unset_lists_keep_the_built_in_ones(void **state)
{
        struct config c = {0};

        (void)state;
        assert_int_equal(classify(&c, "STOP", false), KEYWORD_OPT_OUT);
        assert_int_equal(classify(&c, "unsubscribe", false), KEYWORD_OPT_OUT);
        assert_int_equal(classify(&c, "START", true), KEYWORD_OPT_IN);
        assert_int_equal(classify(&c, "help", false), KEYWORD_HELP);
        assert_int_equal(classify(&c, "Hello there", false), KEYWORD_NONE);
}

static void test_each_list_replaces_its_own(void **state)
{
        struct config c = {
                .consent_opt_out_words = "HALT, CEASE NOW",
                .consent_opt_in_words = "RESUME",
                .consent_help_words = " AIDE ,\tINFO ",
        };

        (void)state;
        assert_int_equal(classify(&c, "halt", false), KEYWORD_OPT_OUT);
        assert_int_equal(classify(&c, "Cease now!", false), KEYWORD_OPT_OUT);
        assert_int_equal(classify(&c, "resume", true), KEYWORD_OPT_IN);
        assert_int_equal(classify(&c, "aide", false), KEYWORD_HELP);
        assert_int_equal(classify(&c, "INFO", false), KEYWORD_HELP);
        /* The replaced whole-message words are no keywords any more... */
        assert_int_equal(classify(&c, "END", false), KEYWORD_NONE);
        assert_int_equal(classify(&c, "QUIT", false), KEYWORD_NONE);
        assert_int_equal(classify(&c, "HELP", false), KEYWORD_NONE);
        assert_int_equal(classify(&c, "START", true), KEYWORD_NONE);
        /* ...but STOP and UNSUBSCRIBE still opt out: the phrase rule is not a
         * list of the config. */
        assert_int_equal(classify(&c, "STOP", false), KEYWORD_OPT_OUT);
        assert_int_equal(classify(&c, "UNSUBSCRIBE", false), KEYWORD_OPT_OUT);

        /* Only the list that is set is replaced. */
        c = (struct config){.consent_help_words = "AIDE"};
        assert_int_equal(classify(&c, "end", false), KEYWORD_OPT_OUT);
        assert_int_equal(classify(&c, "START", true), KEYWORD_OPT_IN);
        assert_int_equal(classify(&c, "HELP", false), KEYWORD_NONE);
}

static void test_lists_the_rules_would_misread_are_refused(void **state)
{
        static const struct config bad[] = {
                /* One word in two families. */
                {.consent_opt_out_words = "QUIT", .consent_help_words = "QUIT"},
                /* An opt-in that the opt-out phrase rule reads as an opt-out. */
                {.consent_opt_in_words = "STOP TEXTING ME"},
                /* Not UTF-8. */
                {.consent_help_words = "AIDE, \xff\xfe"},
        };
        struct keyword_rules *rules = NULL;

        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                if (keyword_config_rules(&bad[i], &rules) != -EINVAL)
                        fail_msg("list %zu accepted", i);
        assert_null(rules);
}

static void check_words(const char *list, const char *const *want, size_t n)
{
        char **words = NULL;

        assert_int_equal(keyword_config_split(list, &words), (int)n);
        assert_non_null(words);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(words[i], want[i]);
        assert_null(words[n]);
        keyword_config_words_free(words);
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
        assert_int_equal(keyword_config_split(NULL, &words), 0);
        assert_null(words);
        assert_int_equal(keyword_config_split("x", NULL), -EINVAL);
        assert_null(keyword_config_words_free(NULL));

        /* What the split gives is what the classifier takes. */
        assert_int_equal(keyword_config_split("HALT, CEASE NOW", &words), 2);
        assert_int_equal(
                keyword_rules_new(&(struct keyword_config){.opt_out = (const char *const *)words},
                                  &rules),
                0);
        assert_int_equal(keyword_classify(rules, "cease now!", false, NULL), KEYWORD_OPT_OUT);
        assert_int_equal(keyword_classify(rules, "STOP", false, NULL),
                         KEYWORD_OPT_OUT); /* phrase rule */
        assert_int_equal(keyword_classify(rules, "END", false, NULL), KEYWORD_NONE);
        keyword_rules_free(rules);
        keyword_config_words_free(words);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unset_lists_keep_the_built_in_ones),
                cmocka_unit_test(test_each_list_replaces_its_own),
                cmocka_unit_test(test_lists_the_rules_would_misread_are_refused),
                cmocka_unit_test(test_split_words),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
