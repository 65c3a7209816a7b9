/*
 * aws_endpoint.h — which URL and signing name an AWS service has (pure).
 *
 * The services twowayd talks to, their wire protocol, X-Amz-Target prefix,
 * SigV4 signing name, and the standard regional endpoint:
 *
 *   dynamodb               https://dynamodb.<region>.<dns suffix>          signs as dynamodb
 *   sms-voice              https://sms-voice.<region>.<dns suffix>         signs as sms-voice
 *   bedrock-agent-runtime  https://bedrock-agent-runtime.<region>.<suffix> signs as bedrock
 *   sns                    https://sns.<region>.<dns suffix>               signs as sns
 *
 * The DNS suffix is that of the region's partition: amazonaws.com, or
 * amazonaws.com.cn for the China partition (regions cn-*).
 *
 * Overrides, as in the SDKs' "service-specific endpoints" feature:
 * AWS_ENDPOINT_URL_<SERVICE> (DYNAMODB, PINPOINT_SMS_VOICE_V2,
 * BEDROCK_AGENT_RUNTIME, SNS) beats AWS_ENDPOINT_URL; both are ignored when
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true. An override must be an absolute
 * http:// or https:// URL with a host, an optional port and an optional base
 * path; no user info, query or fragment.
 *
 * The environment is read through a getenv-like callback, so tests need no
 * setenv. Nothing here does I/O.
 *
 * Ownership: aws_endpoint_resolve() fills a struct aws_endpoint whose strings
 * are malloc'd and released by aws_endpoint_done(). The service table is
 * static and never freed.
 */
#ifndef TWOWAYD_AWS_ENDPOINT_H
#define TWOWAYD_AWS_ENDPOINT_H

#include <errno.h>
#include <stdbool.h>

/* getenv-like lookup: return the value of name or NULL. */
typedef const char *(*aws_getenv_fn)(const char *name, void *userdata);

/* The process environment, for production use. */
const char *aws_getenv_process(const char *name, void *userdata);

enum aws_service {
        AWS_SERVICE_DYNAMODB,
        AWS_SERVICE_SMS_VOICE,
        AWS_SERVICE_BEDROCK_AGENT_RUNTIME,
        AWS_SERVICE_SNS,
        AWS_SERVICE_SQS,
        _AWS_SERVICE_MAX,
};

enum aws_protocol {
        AWS_PROTOCOL_JSON_1_0,  /* POST /, X-Amz-Target, application/x-amz-json-1.0 */
        AWS_PROTOCOL_REST_JSON, /* method + path, application/json */
        AWS_PROTOCOL_QUERY,     /* POST /, form-encoded Action=...&Version=... (SNS) */
};

struct aws_service_info {
        const char *id;            /* "dynamodb" */
        const char *host_prefix;   /* "dynamodb" */
        const char *signing_name;  /* "dynamodb" */
        const char *env_suffix;    /* "DYNAMODB" for AWS_ENDPOINT_URL_DYNAMODB */
        const char *target_prefix; /* "DynamoDB_20120810" (JSON 1.0), else NULL */
        const char *api_version;   /* "2010-03-31" (Query), else NULL */
        enum aws_protocol protocol;
};

/* NULL for an invalid service. */
const struct aws_service_info *aws_service_get(enum aws_service s);

struct aws_endpoint {
        char *url;                /* scheme://authority[/base]; never ends in '/' */
        char *scheme;             /* "https" or "http" */
        char *host;               /* "dynamodb.eu-west-1.amazonaws.com", "127.0.0.1", "[::1]" */
        char *authority;          /* the Host header value: host, plus ":port" if not the default */
        char *base_path;          /* "" or "/prefix" (no trailing slash) */
        unsigned port;            /* effective port */
        bool overridden;          /* from AWS_ENDPOINT_URL* */
        const char *signing_name; /* static, from the service table */
};

/* The DNS suffix of the region's partition (aws_names.h): "amazonaws.com",
 * "amazonaws.com.cn", ...; "amazonaws.com" for a name of no partition. */
const char *aws_region_dns_suffix(const char *region);

/* Returns 0 and fills *ret; -EINVAL for an unknown service, an invalid region
 * (only when no override applies) or a malformed override URL; -ENOMEM. */
int aws_endpoint_resolve(enum aws_service service, const char *region, aws_getenv_fn getenv_fn,
                         void *userdata, struct aws_endpoint *ret);
void aws_endpoint_done(struct aws_endpoint *e);

/* Parse an endpoint URL into *ret (the same rules as overrides). */
int aws_endpoint_parse_url(const char *url, struct aws_endpoint *ret);

#endif
