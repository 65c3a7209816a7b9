/*
 * aws_rules.h — the length, pattern and range rules AWS applies to the
 * request members twowayd fills from its configuration or command line.
 *
 * One definition of each rule, taken from the official API models
 * (bedrock-agent-runtime, pinpoint-sms-voice-v2, dynamodb), so that
 * `twowayd -t` and `twowayctl send` refuse what AWS would refuse, before a
 * request is ever made. A pure module: no I/O, no clock, no logging.
 *
 * Lengths are counted as the models count them: in characters (Unicode code
 * points of the UTF-8 text), not bytes.
 */
#ifndef TWOWAYD_AWS_RULES_H
#define TWOWAYD_AWS_RULES_H

#include <stddef.h>

enum aws_rule {
        AWS_RULE_AGENT_ID,                 /* InvokeAgent agentId */
        AWS_RULE_AGENT_ALIAS_ID,           /* InvokeAgent agentAliasId */
        AWS_RULE_AGENT_SESSION_ID,         /* InvokeAgent sessionId */
        AWS_RULE_SMS_DESTINATION,          /* SendTextMessage DestinationPhoneNumber */
        AWS_RULE_SMS_ORIGINATION_IDENTITY, /* SendTextMessage OriginationIdentity */
        AWS_RULE_SMS_CONFIGURATION_SET,    /* SendTextMessage ConfigurationSetName */
        AWS_RULE_SMS_MAX_PRICE,            /* SendTextMessage MaxPrice */
        AWS_RULE_SMS_TIME_TO_LIVE,         /* SendTextMessage TimeToLive (an integer) */
        AWS_RULE_SMS_MESSAGE_BODY,         /* SendTextMessage MessageBody */
        AWS_RULE_DDB_TABLE_NAME,           /* DynamoDB TableName */
        _AWS_RULE_MAX,
};

/* 0 when value satisfies the rule; -EINVAL with a one-line reason in why
 * (naming the API member and its rule) otherwise, -ENOMEM. value NULL is
 * -EINVAL. */
int aws_rule_check(enum aws_rule rule, const char *value, char *why, size_t size);

#endif
