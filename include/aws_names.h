/*
 * aws_names.h — the rules for AWS names, each defined once (pure).
 *
 * Regions and partitions follow the partition table of the AWS SDKs'
 * endpoint rules (partitions.json): a region belongs to the partition whose
 * regionRegex it matches, and a name that matches none is not a region.
 * Topic ARNs are arn:PARTITION:sns:REGION:ACCOUNT:NAME with a region of that
 * partition, in a partition whose SNS signing certificates are known. Phone numbers are E.164 as
 * AWS End User Messaging writes them:
 * "+" then 1-15 digits, the first not 0.
 *
 * Nothing here allocates, logs or does I/O; the partition table is static.
 */
#ifndef TWOWAYD_AWS_NAMES_H
#define TWOWAYD_AWS_NAMES_H

#include <stdbool.h>

struct aws_partition {
        const char *id;         /* "aws", "aws-cn", "aws-us-gov", ... */
        const char *dns_suffix; /* "amazonaws.com", "amazonaws.com.cn", ... */
        /* The names in SNS's signing certificates of this partition are known
         * (sns_cert_check_name()): aws, aws-cn and aws-us-gov only. */
        bool sns_signing_known;
};

/* The partition region belongs to, or NULL when it matches no partition's
 * pattern (PREFIX-WORD-DIGITS with the partition's prefix, lower case, at
 * most 63 characters so that it fits a DNS label). */
const struct aws_partition *aws_region_partition(const char *region);

/* A region name of some partition. */
bool aws_region_is_valid(const char *region);

#define AWS_TOPIC_ARN_MAX 512

struct aws_topic_arn {
        char partition[16]; /* "aws", "aws-cn", "aws-us-gov", ... */
        char region[64];    /* "us-east-1" */
        char account[16];   /* 12 digits */
        char name[264];     /* up to 256 characters, [A-Za-z0-9_-], optional ".fifo" */
};

/* arn:PARTITION:sns:REGION:ACCOUNT:NAME, at most AWS_TOPIC_ARN_MAX bytes,
 * with a region of that partition, and a partition whose SNS signing
 * certificates are known (sns_signing_known): a topic whose deliveries can be
 * verified. -EINVAL for NULL arguments, -EBADMSG otherwise; *ret is written
 * only on success. */
int aws_topic_arn_parse(const char *arn, struct aws_topic_arn *ret);

/* "+" then 1-15 digits, the first not 0. */
bool aws_e164_is_valid(const char *s);

#endif
