/*
 * aws_endpoint.c — service table and endpoint resolution (pure).
 */
#include <stdio.h>
#include <strings.h>

#include "aws_endpoint.h"
#include "aws_names.h"
#include "common.h"

static const struct aws_service_info services[_AWS_SERVICE_MAX] = {
        [AWS_SERVICE_DYNAMODB] =
                {
                        .id = "dynamodb",
                        .host_prefix = "dynamodb",
                        .signing_name = "dynamodb",
                        .env_suffix = "DYNAMODB",
                        .target_prefix = "DynamoDB_20120810",
                        .protocol = AWS_PROTOCOL_JSON_1_0,
                },
        [AWS_SERVICE_SMS_VOICE] =
                {
                        .id = "sms-voice",
                        .host_prefix = "sms-voice",
                        .signing_name = "sms-voice",
                        .env_suffix = "PINPOINT_SMS_VOICE_V2",
                        .target_prefix = "PinpointSMSVoiceV2",
                        .protocol = AWS_PROTOCOL_JSON_1_0,
                },
        [AWS_SERVICE_BEDROCK_AGENT_RUNTIME] =
                {
                        .id = "bedrock-agent-runtime",
                        .host_prefix = "bedrock-agent-runtime",
                        .signing_name = "bedrock",
                        .env_suffix = "BEDROCK_AGENT_RUNTIME",
                        .protocol = AWS_PROTOCOL_REST_JSON,
                },
        [AWS_SERVICE_SNS] =
                {
                        .id = "sns",
                        .host_prefix = "sns",
                        .signing_name = "sns",
                        .env_suffix = "SNS",
                        .api_version = "2010-03-31",
                        .protocol = AWS_PROTOCOL_QUERY,
                },
        [AWS_SERVICE_SQS] =
                {
                        .id = "sqs",
                        .host_prefix = "sqs",
                        .signing_name = "sqs",
                        .env_suffix = "SQS",
                        .target_prefix = "AmazonSQS",
                        .protocol = AWS_PROTOCOL_JSON_1_0,
                },
};

const char *aws_getenv_process(const char *name, void *userdata)
{
        return getenv(name);
}

const struct aws_service_info *aws_service_get(enum aws_service s)
{
        if ((int)s < 0 || s >= _AWS_SERVICE_MAX)
                return NULL;
        return &services[s];
}

const char *aws_region_dns_suffix(const char *region)
{
        const struct aws_partition *p = aws_region_partition(region);

        return p ? p->dns_suffix : "amazonaws.com";
}

void aws_endpoint_done(struct aws_endpoint *e)
{
        if (!e)
                return;
        free(e->url);
        free(e->scheme);
        free(e->host);
        free(e->authority);
        free(e->base_path);
        *e = (struct aws_endpoint){0};
}

static bool host_char_ok(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_';
}

/* Fill the derived strings from parts; takes nothing, copies everything. */
static int endpoint_build(const char *scheme, const char *host, size_t host_len, unsigned port,
                          bool explicit_port, const char *path, size_t path_len,
                          struct aws_endpoint *ret)
{
        struct aws_endpoint e = {0};
        unsigned default_port = streq(scheme, "https") ? 443 : 80;
        int r;

        while (path_len > 0 && path[path_len - 1] == '/')
                path_len--;

        e.scheme = strdup(scheme);
        e.host = strndup(host, host_len);
        e.base_path = strndup(path, path_len);
        e.port = explicit_port ? port : default_port;
        if (!e.scheme || !e.host || !e.base_path)
                goto oom;
        if (e.port != default_port)
                r = asprintf(&e.authority, "%s:%u", e.host, e.port);
        else
                r = asprintf(&e.authority, "%s", e.host);
        if (r < 0) {
                e.authority = NULL;
                goto oom;
        }
        if (asprintf(&e.url, "%s://%s%s", e.scheme, e.authority, e.base_path) < 0) {
                e.url = NULL;
                goto oom;
        }
        *ret = e;
        return 0;
oom:
        aws_endpoint_done(&e);
        return -ENOMEM;
}

int aws_endpoint_parse_url(const char *url, struct aws_endpoint *ret)
{
        const char *p, *host, *host_end, *path;
        const char *scheme;
        unsigned port = 0;
        bool explicit_port = false;

        if (isempty(url))
                return -EINVAL;
        if (strncasecmp(url, "https://", 8) == 0) {
                scheme = "https";
                p = url + 8;
        } else if (strncasecmp(url, "http://", 7) == 0) {
                scheme = "http";
                p = url + 7;
        } else
                return -EINVAL;

        /* Authority ends at the first '/', or the end. No user info. */
        path = p + strcspn(p, "/?#");
        if (*path == '?' || *path == '#')
                return -EINVAL;
        if (memchr(p, '@', (size_t)(path - p)))
                return -EINVAL;

        host = p;
        if (*host == '[') {
                const char *close = memchr(host, ']', (size_t)(path - host));
                if (!close || close == host + 1)
                        return -EINVAL;
                for (const char *c = host + 1; c < close; c++)
                        if (!(host_char_ok(*c) || *c == ':') || *c == '_')
                                return -EINVAL;
                host_end = close + 1;
        } else {
                host_end = host;
                while (host_end < path && *host_end != ':') {
                        if (!host_char_ok(*host_end))
                                return -EINVAL;
                        host_end++;
                }
                if (host_end == host)
                        return -EINVAL;
        }

        if (host_end < path) {
                const char *d = host_end + 1;
                if (*host_end != ':' || d == path)
                        return -EINVAL;
                for (; d < path; d++) {
                        if (*d < '0' || *d > '9')
                                return -EINVAL;
                        port = port * 10 + (unsigned)(*d - '0');
                        if (port > 65535)
                                return -EINVAL;
                }
                if (port == 0)
                        return -EINVAL;
                explicit_port = true;
        }

        /* The base path: printable, no query or fragment, no spaces. */
        for (const char *c = path; *c; c++)
                if (*c == '?' || *c == '#' || (unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
                        return -EINVAL;

        return endpoint_build(scheme, host, (size_t)(host_end - host), port, explicit_port, path,
                              strlen(path), ret);
}

static bool env_true(const char *v)
{
        return v && (strcasecmp(v, "true") == 0 || streq(v, "1"));
}

int aws_endpoint_resolve(enum aws_service service, const char *region, aws_getenv_fn getenv_fn,
                         void *userdata, struct aws_endpoint *ret)
{
        const struct aws_service_info *info = aws_service_get(service);
        const char *override = NULL;
        struct aws_endpoint e;
        char host[256];
        int r;

        if (!info)
                return -EINVAL;

        if (getenv_fn && !env_true(getenv_fn("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", userdata))) {
                char name[96];
                (void)snprintf(name, sizeof(name), "AWS_ENDPOINT_URL_%s", info->env_suffix);
                override = getenv_fn(name, userdata);
                if (isempty(override))
                        override = getenv_fn("AWS_ENDPOINT_URL", userdata);
                if (isempty(override))
                        override = NULL;
        }

        if (override) {
                r = aws_endpoint_parse_url(override, &e);
                if (r < 0)
                        return r;
                e.overridden = true;
        } else {
                if (!aws_region_is_valid(region))
                        return -EINVAL;
                r = snprintf(host, sizeof(host), "%s.%s.%s", info->host_prefix, region,
                             aws_region_dns_suffix(region));
                if (r < 0 || (size_t)r >= sizeof(host))
                        return -EINVAL;
                r = endpoint_build("https", host, strlen(host), 443, false, "", 0, &e);
                if (r < 0)
                        return r;
        }
        e.signing_name = info->signing_name;
        *ret = e;
        return 0;
}
