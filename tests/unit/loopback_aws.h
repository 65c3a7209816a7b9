/*
 * loopback_aws.h — for unit tests: an AWS client whose every service
 * endpoint is a scripted server on 127.0.0.1 (scripted_server.h), signing
 * with fixed static keys in us-east-1. loopback_aws_new_routed() answers some
 * services elsewhere (another server each, so that each service has its own
 * transcript), named as the AWS_ENDPOINT_URL_<SERVICE> suffix names them
 * (e.g. "BEDROCK_AGENT_RUNTIME").
 *
 * Header-only (static functions), included by one test file at a time.
 */
#ifndef TWOWAYD_TEST_LOOPBACK_AWS_H
#define TWOWAYD_TEST_LOOPBACK_AWS_H

#include "aws.h"
#include "aws_creds.h"
#include "common.h"
#include "http_client.h"

#include "scripted_server.h"

#define LOOPBACK_KEY_ID     "AKIDEXAMPLE"
#define LOOPBACK_KEY_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define LOOPBACK_REGION     "us-east-1"
#define LOOPBACK_ROUTES_MAX 4

struct loopback_route {
        const char *service; /* the AWS_ENDPOINT_URL_ suffix; NULL: unused */
        char url[64];
};

struct loopback_aws {
        struct http_client *http;
        struct aws_creds_provider *creds;
        struct aws_client *aws;
        char endpoint[64]; /* AWS_ENDPOINT_URL, for every service not routed */
        struct loopback_route routes[LOOPBACK_ROUTES_MAX];
};

static inline const char *loopback_aws_getenv(const char *name, void *userdata)
{
        static const char prefix[] = "AWS_ENDPOINT_URL_";
        struct loopback_aws *l = userdata;

        if (streq(name, "AWS_ENDPOINT_URL"))
                return l->endpoint;
        for (size_t i = 0; i < LOOPBACK_ROUTES_MAX && l->routes[i].service; i++)
                if (strncmp(name, prefix, sizeof(prefix) - 1) == 0 &&
                    streq(name + sizeof(prefix) - 1, l->routes[i].service))
                        return l->routes[i].url;
        return NULL;
}

/* opts: region, http, creds and the environment are filled in here; the rest
 * (retry, clock, jitter) is the caller's. routes: n (<= LOOPBACK_ROUTES_MAX)
 * services sent to their own url rather than to server. */
static inline int loopback_aws_new_routed(struct ev_loop *loop,
                                          const struct scripted_server *server,
                                          const struct aws_client_options *opts,
                                          const struct loopback_route *routes, size_t n,
                                          struct loopback_aws *l)
{
        struct aws_credentials keys = {
                .access_key_id = LOOPBACK_KEY_ID,
                .secret_access_key = LOOPBACK_KEY_SECRET,
                .source = AWS_CREDS_SOURCE_STATIC,
        };
        struct aws_client_options o = opts ? *opts : (struct aws_client_options){0};

        snprintf(l->endpoint, sizeof(l->endpoint), "%s", server->base_url);
        memset(l->routes, 0, sizeof(l->routes));
        for (size_t i = 0; i < n && i < LOOPBACK_ROUTES_MAX; i++)
                l->routes[i] = routes[i];
        if (http_client_new(loop, &(struct http_client_options){0}, &l->http) < 0 ||
            aws_creds_provider_new(
                    loop, &(struct aws_creds_options){.http = l->http, .static_creds = &keys},
                    &l->creds) < 0)
                return -1;
        o.http = l->http;
        o.creds = l->creds;
        o.region = LOOPBACK_REGION;
        o.getenv_fn = loopback_aws_getenv;
        o.getenv_userdata = l;
        return aws_client_new(loop, &o, &l->aws);
}

static inline int loopback_aws_new(struct ev_loop *loop, const struct scripted_server *server,
                                   const struct aws_client_options *opts, struct loopback_aws *l)
{
        return loopback_aws_new_routed(loop, server, opts, NULL, 0, l);
}

static inline void loopback_aws_free(struct loopback_aws *l)
{
        l->aws = aws_client_free(l->aws);
        l->creds = aws_creds_provider_free(l->creds);
        l->http = http_client_free(l->http);
}

/* A client that makes one attempt per call, for tests that script every
 * answer the service gives. */
#define LOOPBACK_ONE_ATTEMPT (&(const struct aws_client_options){.retry = {.max_attempts = 1}})

/* What most tests of an AWS caller start from: a loop of their own, a
 * scripted server on it and a client whose every endpoint is that server.
 * 0, or -1 if any of them could not be made. */
static inline int loopback_aws_start(struct ev_loop **loop, struct scripted_server *server,
                                     const struct aws_client_options *opts, struct loopback_aws *l)
{
        *loop = ev_loop_new(EVFLAG_AUTO);
        if (!*loop || scripted_server_start(server) < 0)
                return -1;
        return loopback_aws_new(*loop, server, opts, l);
}

/* Undoes loopback_aws_start(): the client first, so that what it cancels
 * completes while the loop is still there. */
static inline void loopback_aws_stop(struct ev_loop *loop, struct scripted_server *server,
                                     struct loopback_aws *l)
{
        loopback_aws_free(l);
        scripted_server_stop(server);
        ev_loop_destroy(loop);
}

#endif
