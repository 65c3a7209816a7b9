/*
 * keyword_config_test.c — the keyword rules as twowayd.conf sets them: each
 * [consent] *_words list replaces its built-in list, an unset one keeps it,
 * and a list the rules would misread is refused. (The splitting of one list
 * is tested in dispatch_test.c: test_split_words.)
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

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unset_lists_keep_the_built_in_ones),
                cmocka_unit_test(test_each_list_replaces_its_own),
                cmocka_unit_test(test_lists_the_rules_would_misread_are_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
