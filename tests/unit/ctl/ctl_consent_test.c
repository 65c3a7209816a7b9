/*
 * ctl_consent_test.c — consent items as plain JSON (twowayctl consent get
 * --json).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <jansson.h>

#include "common.h"
#include "ctl_consent.h"
#include "assert_json.h"

static void test_consent_plain(void **state)
{
        json_t *item = json_loads(
                "{\"phone_number\":{\"S\":\"+1\"},\"version\":{\"N\":\"3\"},\"f\":{\"N\":"
                "\"1.5\"},\"ok\":{\"BOOL\":true},\"n\":{\"NULL\":true},\"consent_history\":{\"L\":"
                "[{\"M\":{\"action\":{\"S\":\"opt_out\"}}}]},\"b\":{\"B\":\"AA==\"}}",
                0, NULL);
        json_t *plain = ctl_consent_plain_item(item);

        assert_json(plain, "{\"b\":{\"B\":\"AA==\"},\"consent_history\":[{\"action\":\"opt_out\"}"
                           "],\"f\":\"1.5\",\"n\":null,\"ok\":true,\"phone_number\":\"+1\","
                           "\"version\":3}");
        json_decref(plain);
        json_decref(item);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_consent_plain),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
