/*
 * aws_region.h — what is the AWS region: the configured value, AWS_REGION,
 * AWS_DEFAULT_REGION, the profile's "region" (aws_profile.h), then the
 * instance metadata (IMDS /latest/meta-data/placement/region). Every answer
 * must be a valid region name (aws_names.h).
 *
 * Callback contract (as in aws.h): if aws_region_lookup_start() returns an
 * error, the callback is never called; otherwise it is called exactly once,
 * from the loop, never inside the call; aws_region_lookup_cancel() completes
 * it with -ECANCELED before it returns.
 *
 * Ownership: a lookup frees itself after its callback; it borrows the loop and
 * the IMDS session (which must outlive it, or be cancelled first).
 */
#ifndef TWOWAYD_AWS_REGION_H
#define TWOWAYD_AWS_REGION_H

#include "aws_endpoint.h"

struct ev_loop;
struct aws_imds;
struct aws_region_lookup;

/* Region without the network: configured, AWS_REGION, AWS_DEFAULT_REGION, the
 * profile. Returns 0 with a malloc'd region and a static source name, or
 * -ENOENT (ask IMDS). */
int aws_region_resolve_local(const char *configured, aws_getenv_fn getenv_fn, void *userdata,
                             char **ret_region, const char **ret_source);

/* r == 0: region and the static name of its source ("config", "AWS_REGION",
 * "AWS_DEFAULT_REGION", "profile", "imds"), valid during the callback.
 * r < 0: -ENOENT (no source has one), -EINVAL (an invalid name configured),
 * -EBADMSG (IMDS answered something that is not a region), the IMDS errno,
 * -ECANCELED. */
typedef void (*aws_region_cb)(int r, const char *region, const char *source, void *userdata);

/* imds may be NULL (no HTTP client: the network is never asked). */
int aws_region_lookup_start(struct ev_loop *loop, struct aws_imds *imds, const char *configured,
                            aws_getenv_fn getenv_fn, void *userdata, aws_region_cb cb,
                            void *cb_userdata, struct aws_region_lookup **ret);
void aws_region_lookup_cancel(struct aws_region_lookup *l);

#endif
