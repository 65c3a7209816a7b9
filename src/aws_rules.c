/*
 * aws_rules.c — AWS request member rules, from the API models.
 *
 * Each model pattern is kept twice: as the model writes it (shown to the
 * operator, so the error can be checked against the API reference) and as
 * the POSIX extended expression that tests it. The two differ only in
 * spelling (a backslash inside a bracket expression is literal in ERE).
 * MessageBody's lookahead (?!\s*$) has no ERE form and is tested in C.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "aws_rules.h"
#include "common.h"
#include "utf8.h"

struct aws_rule_def {
        const char *member;
        size_t min, max;   /* length in characters; or the range of an integer */
        const char *model; /* the model's pattern, as shown */
        const char *ere;   /* NULL: no pattern test here */
        bool integer;
        bool not_blank;
};

static const struct aws_rule_def rules[_AWS_RULE_MAX] = {
        [AWS_RULE_AGENT_ID] = {.member = "InvokeAgent agentId",
                               .min = 1,
                               .max = 10,
                               .model = "^[0-9a-zA-Z]+$",
                               .ere = "^[0-9a-zA-Z]+$"},
        [AWS_RULE_AGENT_ALIAS_ID] = {.member = "InvokeAgent agentAliasId",
                                     .min = 1,
                                     .max = 10,
                                     .model = "^[0-9a-zA-Z]+$",
                                     .ere = "^[0-9a-zA-Z]+$"},
        [AWS_RULE_AGENT_SESSION_ID] = {.member = "InvokeAgent sessionId",
                                       .min = 2,
                                       .max = 100,
                                       .model = "^[0-9a-zA-Z._:-]+$",
                                       .ere = "^[0-9a-zA-Z._:-]+$"},
        [AWS_RULE_SMS_DESTINATION] = {.member = "SendTextMessage DestinationPhoneNumber",
                                      .min = 1,
                                      .max = 20,
                                      .model = "^\\+?[1-9][0-9]{1,18}$",
                                      .ere = "^[+]?[1-9][0-9]{1,18}$"},
        [AWS_RULE_SMS_ORIGINATION_IDENTITY] = {.member = "SendTextMessage OriginationIdentity",
                                               .min = 1,
                                               .max = 256,
                                               .model = "^[A-Za-z0-9_:/\\+-]+$",
                                               .ere = "^[A-Za-z0-9_:/+-]+$"},
        [AWS_RULE_SMS_CONFIGURATION_SET] = {.member = "SendTextMessage ConfigurationSetName",
                                            .min = 1,
                                            .max = 256,
                                            .model = "^[A-Za-z0-9_:/-]+$",
                                            .ere = "^[A-Za-z0-9_:/-]+$"},
        [AWS_RULE_SMS_MAX_PRICE] = {.member = "SendTextMessage MaxPrice",
                                    .min = 2,
                                    .max = 8,
                                    .model = "^[0-9]{0,2}\\.[0-9]{1,5}$",
                                    .ere = "^[0-9]{0,2}[.][0-9]{1,5}$"},
        [AWS_RULE_SMS_TIME_TO_LIVE] = {.member = "SendTextMessage TimeToLive",
                                       .min = 5,
                                       .max = 259200,
                                       .model = NULL,
                                       .ere = NULL,
                                       .integer = true},
        [AWS_RULE_SMS_MESSAGE_BODY] = {.member = "SendTextMessage MessageBody",
                                       .min = 1,
                                       .max = 1600,
                                       .model = "^(?!\\s*$)[\\s\\S]+$",
                                       .ere = NULL,
                                       .not_blank = true},
        [AWS_RULE_DDB_TABLE_NAME] = {.member = "DynamoDB TableName",
                                     .min = 3,
                                     .max = 255,
                                     .model = "^[a-zA-Z0-9_.-]+$",
                                     .ere = "^[a-zA-Z0-9_.-]+$"},
};

static int match(const char *ere, const char *v, bool *ret)
{
        regex_t re;

        if (regcomp(&re, ere, REG_EXTENDED | REG_NOSUB) != 0)
                return -ENOMEM; /* the patterns above all compile: only OOM fails */
        *ret = regexec(&re, v, 0, NULL, 0) == 0;
        regfree(&re);
        return 0;
}

static bool is_blank(const char *s)
{
        for (; *s; s++)
                if (!isspace((unsigned char)*s))
                        return false;
        return true;
}

static int check_integer(const struct aws_rule_def *d, const char *v, char *why, size_t size)
{
        uint64_t x = 0;
        const char *p = v;

        for (; isdigit((unsigned char)*p) && x <= d->max; p++)
                x = x * 10 + (uint64_t)(*p - '0');
        if (p == v || *p || x < d->min || x > d->max) {
                (void)snprintf(why, size, "%s must be an integer %zu-%zu", d->member, d->min,
                               d->max);
                return -EINVAL;
        }
        return 0;
}

int aws_rule_check(enum aws_rule rule, const char *value, char *why, size_t size)
{
        const struct aws_rule_def *d;
        size_t n;
        bool ok = true;
        int r;

        if ((unsigned)rule >= _AWS_RULE_MAX || !value) {
                (void)snprintf(why, size, "no value");
                return -EINVAL;
        }
        d = &rules[rule];
        if (d->integer)
                return check_integer(d, value, why, size);
        n = utf8_length(value, strlen(value));
        if (n < d->min || n > d->max) {
                if (d->min == d->max || d->min <= 1)
                        (void)snprintf(why, size, "%s is at most %zu characters (this is %zu)",
                                       d->member, d->max, n);
                else
                        (void)snprintf(why, size, "%s is %zu-%zu characters (this is %zu)",
                                       d->member, d->min, d->max, n);
                if (n == 0)
                        (void)snprintf(why, size, "%s must not be empty", d->member);
                return -EINVAL;
        }
        if (d->ere) {
                r = match(d->ere, value, &ok);
                if (r < 0)
                        return r;
        }
        if (d->not_blank && is_blank(value))
                ok = false;
        if (!ok) {
                (void)snprintf(why, size, "%s must match %s", d->member, d->model);
                return -EINVAL;
        }
        return 0;
}
