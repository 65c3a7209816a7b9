/*
 * aws_profile.h — the AWS shared files: ~/.aws/credentials (sections [name])
 * and ~/.aws/config (sections [profile name] and [default]), read with
 * libinih, for the profile the environment selects (AWS_PROFILE, default
 * "default"; paths AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE). The
 * credentials file wins over the config file, like the SDKs.
 *
 * Ownership: struct aws_profile owns its strings; aws_profile_done() wipes
 * the secrets and frees them.
 */
#ifndef TWOWAYD_AWS_PROFILE_H
#define TWOWAYD_AWS_PROFILE_H

#include <stdbool.h>

#include "aws_endpoint.h"

struct aws_profile {
        char *access_key_id;
        char *secret_access_key;
        char *session_token;
        char *region;
        bool found; /* the profile's section exists in either file */
};

/* Read the profile from the two files (either may be NULL or missing).
 * Returns 0 (see ret->found), -EBADMSG for a malformed file, -ENOMEM. */
int aws_profile_load(const char *credentials_path, const char *config_path, const char *profile,
                     struct aws_profile *ret);
void aws_profile_done(struct aws_profile *p);

/* The shared-file paths and profile name the environment selects. */
int aws_profile_paths(aws_getenv_fn getenv_fn, void *userdata, char **ret_credentials,
                      char **ret_config, const char **ret_profile);

#endif
