/* Unit tests for agent_turn.c: the request from config and row, the answer
 * text, the action group of a returnControl, the webhook results' shape. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent_turn.h"
#include "common.h"
#include "spool.h"

static void test_request_init(void **state)
{
        char *names[] = {"propertyName"}, *values[] = {"Maple Court"};
        struct config c = {
                .agent_id = "AGENT12345",
                .agent_alias_id = "ALIAS12345",
                .agent_timeout_ms = 5000,
                .agent_time_zone = "UTC",
                .agent_attr_names = names,
                .agent_attr_values = values,
                .n_agent_attrs = 1,
                .agent_trace = true,
        };
        struct spool_row row = {
                .inbound_message_id = "in-1",
                .origination_number = "+14255550123",
                .destination_number = "+18005550199",
                .body = "Hi",
        };
        struct agent_turn_request req;

        (void)state;
        unsetenv("TWOWAYD_TEST_NOW");
        assert_int_equal(agent_turn_request_init(&req, &c, &row, 1000), 0);
        assert_string_equal(req.params.session_id, "p14255550123");
        assert_string_equal(req.params.inbound_message_id, "in-1");
        assert_string_equal(req.params.input_text, "Hi");
        assert_int_equal(req.params.now, 1000);
        assert_int_equal(req.params.n_attrs, 1);
        assert_string_equal(req.params.attrs[0].name, "propertyName");
        assert_true(req.params.enable_trace);
        assert_int_equal(req.params.timeout_ms, 5000);

        /* The test hook of this (unit-test) build fixes the clock. */
        setenv("TWOWAYD_TEST_NOW", "1796232605", 1);
        assert_int_equal(agent_turn_request_init(&req, &c, &row, 1000), 0);
        assert_int_equal(req.params.now, 1796232605);
        setenv("TWOWAYD_TEST_NOW", "soon", 1);
        assert_int_equal(agent_turn_request_init(&req, &c, &row, 1000), 0);
        assert_int_equal(req.params.now, 1000);
        unsetenv("TWOWAYD_TEST_NOW");

        row.origination_number = "+";
        assert_int_equal(agent_turn_request_init(&req, &c, &row, 1000), -EINVAL);
}

static void test_answer_text(void **state)
{
        struct config c = {.agent_citations = "no"};
        struct agent_result res = {.text = "Open 9-5.", .citations = " [1] https://ex.com/h"};
        char *t;

        (void)state;
        t = agent_turn_answer_text(&c, &res);
        assert_string_equal(t, "Open 9-5.");
        free(t);
        c.agent_citations = "append";
        t = agent_turn_answer_text(&c, &res);
        assert_string_equal(t, "Open 9-5. [1] https://ex.com/h");
        free(t);
        res.citations = "";
        t = agent_turn_answer_text(&c, &res);
        assert_string_equal(t, "Open 9-5.");
        free(t);
}

static void test_action_group_and_results(void **state)
{
        json_t *rc = json_loads("{\"invocationInputs\":[{\"apiInvocationInput\":"
                                "{\"actionGroup\":\"notes\"}}]}",
                                0, NULL);
        static const struct {
                const char *json;
                bool ok;
        } cases[] = {
                {"[{\"functionResult\":{\"actionGroup\":\"calendar\"}}]", true},
                {"[{\"apiResult\":{\"actionGroup\":\"a\"}},{\"apiResult\":{\"actionGroup\":\"b\"}}"
                 "]",
                 true},
                {"[]", false},
                {"{}", false},
                {"[{\"functionResult\":{}}]", false},
                {"[{\"functionResult\":{\"actionGroup\":\"a\"},\"apiResult\":{\"actionGroup\":"
                 "\"b\"}}]",
                 false},
                {"[{\"x\":{\"actionGroup\":\"a\"}}]", false},
                {"[{\"apiResult\":{\"actionGroup\":\"1\"}},{\"apiResult\":{\"actionGroup\":\"2\"}},"
                 "{\"apiResult\":{\"actionGroup\":\"3\"}},{\"apiResult\":{\"actionGroup\":\"4\"}},"
                 "{\"apiResult\":{\"actionGroup\":\"5\"}},{\"apiResult\":{\"actionGroup\":\"6\"}}]",
                 false},
        };

        (void)state;
        assert_string_equal(agent_turn_action_group(rc), "notes");
        assert_string_equal(agent_turn_action_group(NULL), "");
        json_decref(rc);
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                json_t *j = json_loads(cases[i].json, 0, NULL);
                char why[128] = "";
                int r = agent_turn_check_results(j, why, sizeof(why));

                if ((r == 0) != cases[i].ok)
                        fail_msg("case %zu: %d (%s)", i, r, why);
                json_decref(j);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_request_init),
                cmocka_unit_test(test_answer_text),
                cmocka_unit_test(test_action_group_and_results),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
