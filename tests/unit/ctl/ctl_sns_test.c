/*
 * ctl_sns_test.c — the SNS query requests twowayctl sends: form encoding,
 * and when a subscription counts as confirmed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <jansson.h>

#include "common.h"
#include "ctl_sns.h"

#define TOPIC "arn:aws:sns:us-east-1:123456789012:twowayd-inbound"

static void test_form_encode(void **state)
{
        const char *pairs[] = {"Action", "Publish", "TopicArn",
                               TOPIC,    "Message", "{\"a\":\"b c+d&e=f\"}"};
        char *s = ctl_form_encode(pairs, 3);

        assert_string_equal(s, "Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%"
                               "3A123456789012%3Atwowayd-inbound&Message=%7B%22a%22%3A%22b%20c%"
                               "2Bd%26e%3Df%22%7D");
        free(s);
        const char *bad[] = {"A", NULL};
        assert_null(ctl_form_encode(bad, 1));
        s = ctl_form_encode(NULL, 0);
        assert_string_equal(s, "");
        free(s);
}

static void test_subscription_confirmed(void **state)
{
        json_t *confirmed = json_pack("{s:s}", "SubscriptionArn", TOPIC ":1a2b");
        json_t *pending = json_pack("{s:s}", "SubscriptionArn", "PendingConfirmation");
        json_t *deleted = json_pack("{s:s}", "SubscriptionArn", "Deleted");
        json_t *none = json_object();

        assert_true(ctl_sns_subscription_confirmed(confirmed));
        assert_false(ctl_sns_subscription_confirmed(pending));
        assert_false(ctl_sns_subscription_confirmed(deleted));
        assert_false(ctl_sns_subscription_confirmed(none));
        assert_false(ctl_sns_subscription_confirmed(NULL));
        json_decref(confirmed);
        json_decref(pending);
        json_decref(deleted);
        json_decref(none);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_form_encode),
                cmocka_unit_test(test_subscription_confirmed),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
