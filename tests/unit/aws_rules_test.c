/* Unit tests for aws_rules.c: each rule at its edges, as the API models state them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "aws_rules.h"
#include "common.h"

static const struct {
        enum aws_rule rule;
        const char *value;
        const char *why; /* NULL: accepted */
} cases[] = {
        {AWS_RULE_SMS_MAX_PRICE, "0.05", NULL},
        {AWS_RULE_SMS_MAX_PRICE, ".5", NULL},
        {AWS_RULE_SMS_MAX_PRICE, "99.99999", NULL},
        {AWS_RULE_SMS_MAX_PRICE, "1", "SendTextMessage MaxPrice is 2-8 characters (this is 1)"},
        {AWS_RULE_SMS_MAX_PRICE, "10",
         "SendTextMessage MaxPrice must match ^[0-9]{0,2}\\.[0-9]{1,5}$"},
        {AWS_RULE_SMS_MAX_PRICE, "1.",
         "SendTextMessage MaxPrice must match ^[0-9]{0,2}\\.[0-9]{1,5}$"},
        {AWS_RULE_SMS_MAX_PRICE, "100.1",
         "SendTextMessage MaxPrice must match ^[0-9]{0,2}\\.[0-9]{1,5}$"},
        {AWS_RULE_SMS_MAX_PRICE, "0.123456",
         "SendTextMessage MaxPrice must match ^[0-9]{0,2}\\.[0-9]{1,5}$"},
        {AWS_RULE_SMS_CONFIGURATION_SET, "cs-1", NULL},
        {AWS_RULE_SMS_CONFIGURATION_SET,
         "arn:aws:sms-voice:us-east-1:111122223333:configuration-set/prod", NULL},
        {AWS_RULE_SMS_CONFIGURATION_SET, "twowayd.prod",
         "SendTextMessage ConfigurationSetName must match ^[A-Za-z0-9_:/-]+$"},
        {AWS_RULE_SMS_CONFIGURATION_SET, "a+b",
         "SendTextMessage ConfigurationSetName must match ^[A-Za-z0-9_:/-]+$"},
        {AWS_RULE_SMS_ORIGINATION_IDENTITY, "+18005550199", NULL},
        {AWS_RULE_SMS_ORIGINATION_IDENTITY, "pool-0123abcd", NULL},
        {AWS_RULE_SMS_ORIGINATION_IDENTITY, "pool.main",
         "SendTextMessage OriginationIdentity must match ^[A-Za-z0-9_:/\\+-]+$"},
        {AWS_RULE_SMS_DESTINATION, "+14255550123", NULL},
        {AWS_RULE_SMS_DESTINATION, "+04255550123",
         "SendTextMessage DestinationPhoneNumber must match ^\\+?[1-9][0-9]{1,18}$"},
        {AWS_RULE_SMS_DESTINATION, "+142555501230000000000",
         "SendTextMessage DestinationPhoneNumber is at most 20 characters (this is 22)"},
        {AWS_RULE_SMS_MESSAGE_BODY, "Hello", NULL},
        {AWS_RULE_SMS_MESSAGE_BODY, " \t\n",
         "SendTextMessage MessageBody must match ^(?!\\s*$)[\\s\\S]+$"},
        {AWS_RULE_SMS_MESSAGE_BODY, "", "SendTextMessage MessageBody must not be empty"},
        {AWS_RULE_SMS_TIME_TO_LIVE, "5", NULL},
        {AWS_RULE_SMS_TIME_TO_LIVE, "259200", NULL},
        {AWS_RULE_SMS_TIME_TO_LIVE, "4", "SendTextMessage TimeToLive must be an integer 5-259200"},
        {AWS_RULE_SMS_TIME_TO_LIVE, "259201",
         "SendTextMessage TimeToLive must be an integer 5-259200"},
        {AWS_RULE_SMS_TIME_TO_LIVE, "99999999999999999999999",
         "SendTextMessage TimeToLive must be an integer 5-259200"},
        {AWS_RULE_AGENT_ID, "AGENT12345", NULL},
        {AWS_RULE_AGENT_ID, "AGENT123456",
         "InvokeAgent agentId is at most 10 characters (this is 11)"},
        {AWS_RULE_AGENT_ALIAS_ID, "TSTALIASID", NULL},
        {AWS_RULE_AGENT_ALIAS_ID, "TST-ALIAS",
         "InvokeAgent agentAliasId must match ^[0-9a-zA-Z]+$"},
        {AWS_RULE_AGENT_SESSION_ID, "p14255550123", NULL},
        {AWS_RULE_AGENT_SESSION_ID, "p", "InvokeAgent sessionId is 2-100 characters (this is 1)"},
        {AWS_RULE_DDB_TABLE_NAME, "twowayd-consent", NULL},
        {AWS_RULE_DDB_TABLE_NAME, "ab", "DynamoDB TableName is 3-255 characters (this is 2)"},
        /* Lengths count characters: 8 characters of which one takes two bytes. */
        {AWS_RULE_SMS_MAX_PRICE, "0.1234\xc3\xa9",
         "SendTextMessage MaxPrice must match ^[0-9]{0,2}\\.[0-9]{1,5}$"},
};

static void test_table(void **state)
{
        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                char why[256] = "";
                int r = aws_rule_check(cases[i].rule, cases[i].value, why, sizeof(why));

                if (!cases[i].why) {
                        if (r != 0)
                                fail_msg("case %zu (%s): refused: %s", i, cases[i].value, why);
                        continue;
                }
                if (r != -EINVAL)
                        fail_msg("case %zu (%s): accepted", i, cases[i].value);
                if (strcmp(why, cases[i].why) != 0)
                        fail_msg("case %zu: '%s', expected '%s'", i, why, cases[i].why);
        }
}

static void test_null_and_unknown(void **state)
{
        char why[64];

        (void)state;
        assert_int_equal(aws_rule_check(AWS_RULE_AGENT_ID, NULL, why, sizeof(why)), -EINVAL);
        assert_int_equal(aws_rule_check(_AWS_RULE_MAX, "x", why, sizeof(why)), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_null_and_unknown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
