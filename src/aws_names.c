/*
 * aws_names.c — regions, partitions, topic ARNs and E.164 numbers (pure).
 * See aws_names.h.
 */
#include <string.h>

#include "aws_names.h"
#include "common.h"

/* The partitions of the endpoint rules, each with the region prefixes of its
 * regionRegex: "^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$" for aws,
 * "^cn-\w+-\d+$" for aws-cn, and so on. The prefixes of different partitions
 * never match the same name, because the part after a prefix has no '-' but
 * the one before the digits. */
static const struct {
        struct aws_partition partition;
        const char *prefixes[10];
} partitions[] = {
        {{"aws", "amazonaws.com", true},
         {"us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx", NULL}},
        {{"aws-cn", "amazonaws.com.cn", true}, {"cn", NULL}},
        {{"aws-us-gov", "amazonaws.com", true}, {"us-gov", NULL}},
        {{"aws-iso", "c2s.ic.gov", false}, {"us-iso", NULL}},
        {{"aws-iso-b", "sc2s.sgov.gov", false}, {"us-isob", NULL}},
        {{"aws-iso-e", "cloud.adc-e.uk", false}, {"eu-isoe", NULL}},
        {{"aws-iso-f", "csp.hci.ic.gov", false}, {"us-isof", NULL}},
        {{"aws-eusc", "amazonaws.eu", false}, {"eusc-de", NULL}},
};

#define REGION_MAX 63

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool is_word(char c)
{
        return (c >= 'a' && c <= 'z') || is_digit(c);
}

/* s is "-WORD-DIGITS": the rest of a region after its prefix. */
static bool region_tail_valid(const char *s)
{
        size_t i = 1, start;

        if (s[0] != '-')
                return false;
        for (start = i; is_word(s[i]); i++)
                ;
        if (i == start || s[i] != '-')
                return false;
        for (start = ++i; is_digit(s[i]); i++)
                ;
        return i > start && s[i] == '\0';
}

const struct aws_partition *aws_region_partition(const char *region)
{
        if (!region || strnlen(region, REGION_MAX + 1) > REGION_MAX)
                return NULL;
        for (size_t p = 0; p < ARRAY_SIZE(partitions); p++)
                for (const char *const *pre = partitions[p].prefixes; *pre; pre++) {
                        size_t n = strlen(*pre);
                        if (strncmp(region, *pre, n) == 0 && region_tail_valid(region + n))
                                return &partitions[p].partition;
                }
        return NULL;
}

bool aws_region_is_valid(const char *region)
{
        return aws_region_partition(region) != NULL;
}

/* Copies the part of s up to the next ':' (or the end when last) into buf. */
static const char *arn_part(const char *s, char *buf, size_t size, bool last)
{
        const char *end = last ? s + strlen(s) : strchr(s, ':');
        size_t n;

        if (!end)
                return NULL;
        n = (size_t)(end - s);
        if (n == 0 || n >= size)
                return NULL;
        memcpy(buf, s, n);
        buf[n] = '\0';
        return last ? end : end + 1;
}

static bool topic_name_valid(const char *name)
{
        size_t n = strlen(name);

        if (n > 5 && streq(name + n - 5, ".fifo"))
                n -= 5;
        if (n == 0 || n > 256)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if (!is_word(c) && !(c >= 'A' && c <= 'Z') && c != '-' && c != '_')
                        return false;
        }
        return true;
}

int aws_topic_arn_parse(const char *arn, struct aws_topic_arn *ret)
{
        struct aws_topic_arn t;
        const struct aws_partition *partition;
        char service[8];
        const char *p;

        if (!arn || !ret)
                return -EINVAL;
        memset(&t, 0, sizeof(t));
        if (strnlen(arn, AWS_TOPIC_ARN_MAX + 1) > AWS_TOPIC_ARN_MAX || strncmp(arn, "arn:", 4) != 0)
                return -EBADMSG;
        p = arn_part(arn + 4, t.partition, sizeof(t.partition), false);
        if (p)
                p = arn_part(p, service, sizeof(service), false);
        if (p)
                p = arn_part(p, t.region, sizeof(t.region), false);
        if (p)
                p = arn_part(p, t.account, sizeof(t.account), false);
        if (p)
                p = arn_part(p, t.name, sizeof(t.name), true);
        if (!p || !streq(service, "sns"))
                return -EBADMSG;
        partition = aws_region_partition(t.region);
        if (!partition || !streq(partition->id, t.partition) || !partition->sns_signing_known)
                return -EBADMSG;
        if (strlen(t.account) != 12)
                return -EBADMSG;
        for (size_t i = 0; i < 12; i++)
                if (!is_digit(t.account[i]))
                        return -EBADMSG;
        if (!topic_name_valid(t.name))
                return -EBADMSG;
        *ret = t;
        return 0;
}

bool aws_e164_is_valid(const char *s)
{
        size_t n;

        if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
                return false;
        for (n = 1; s[n]; n++)
                if (!is_digit(s[n]))
                        return false;
        return n - 1 <= 15;
}
