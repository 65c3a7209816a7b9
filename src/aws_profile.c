/*
 * aws_profile.c — the AWS shared credentials and config files. See
 * aws_profile.h.
 */
#include <stdio.h>
#include <strings.h>

#include <ini.h>

#include "aws_profile.h"
#include "common.h"

struct profile_parse {
        const char *profile;
        bool config_file; /* sections are "profile NAME" (and "default") */
        struct aws_profile *out;
        bool oom;
};

static bool section_matches(const struct profile_parse *pp, const char *section)
{
        if (!pp->config_file)
                return streq(section, pp->profile);
        if (streq(pp->profile, "default") && streq(section, "default"))
                return true;
        if (strncmp(section, "profile", 7) == 0 && (section[7] == ' ' || section[7] == '\t')) {
                const char *n = section + 8;
                while (*n == ' ' || *n == '\t')
                        n++;
                return streq(n, pp->profile);
        }
        return false;
}

static int set_once(char **dst, const char *value, bool *oom)
{
        if (*dst)
                return 1; /* an earlier file or line already set it */
        *dst = strdup(value);
        if (!*dst)
                *oom = true;
        return 1;
}

static int profile_ini_cb(void *user, const char *section, const char *name, const char *value)
{
        struct profile_parse *pp = user;

        if (!section_matches(pp, section))
                return 1;
        pp->out->found = true;
        if (!name) /* a section line (INI_CALL_HANDLER_ON_NEW_SECTION) */
                return 1;
        if (strcasecmp(name, "aws_access_key_id") == 0)
                return set_once(&pp->out->access_key_id, value, &pp->oom);
        if (strcasecmp(name, "aws_secret_access_key") == 0)
                return set_once(&pp->out->secret_access_key, value, &pp->oom);
        if (strcasecmp(name, "aws_session_token") == 0)
                return set_once(&pp->out->session_token, value, &pp->oom);
        if (strcasecmp(name, "region") == 0)
                return set_once(&pp->out->region, value, &pp->oom);
        return 1;
}

void aws_profile_done(struct aws_profile *p)
{
        if (!p)
                return;
        erase_and_free(p->access_key_id);
        erase_and_free(p->secret_access_key);
        erase_and_free(p->session_token);
        free(p->region);
        *p = (struct aws_profile){0};
}

static int profile_parse_file(const char *path, bool config_file, const char *profile,
                              struct aws_profile *out)
{
        struct profile_parse pp = {.profile = profile, .config_file = config_file, .out = out};
        int r;

        if (isempty(path))
                return 0;
        r = ini_parse(path, profile_ini_cb, &pp);
        if (pp.oom)
                return -ENOMEM;
        if (r == -1)
                return 0; /* missing or unreadable: as if empty, like the SDKs */
        if (r == -2)
                return -ENOMEM;
        if (r > 0)
                return -EBADMSG;
        return 0;
}

int aws_profile_load(const char *credentials_path, const char *config_path, const char *profile,
                     struct aws_profile *ret)
{
        struct aws_profile p = {0};
        int r;

        if (isempty(profile))
                profile = "default";
        /* The credentials file first: its keys win over the config file's. */
        r = profile_parse_file(credentials_path, false, profile, &p);
        if (r >= 0)
                r = profile_parse_file(config_path, true, profile, &p);
        if (r < 0) {
                aws_profile_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

static char *expand_home(const char *path, const char *home)
{
        char *s;

        if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
                if (isempty(home))
                        return NULL;
                if (asprintf(&s, "%s%s", home, path + 1) < 0)
                        return NULL;
                return s;
        }
        return strdup(path);
}

int aws_profile_paths(aws_getenv_fn getenv_fn, void *userdata, char **ret_credentials,
                      char **ret_config, const char **ret_profile)
{
        const char *home = getenv_fn("HOME", userdata);
        const char *cred = getenv_fn("AWS_SHARED_CREDENTIALS_FILE", userdata);
        const char *conf = getenv_fn("AWS_CONFIG_FILE", userdata);
        const char *profile = getenv_fn("AWS_PROFILE", userdata);
        char *c1 = NULL, *c2 = NULL;

        if (isempty(cred))
                cred = "~/.aws/credentials";
        if (isempty(conf))
                conf = "~/.aws/config";
        /* Without HOME a "~" path is just absent. */
        c1 = expand_home(cred, home);
        c2 = expand_home(conf, home);
        if ((!c1 && (cred[0] != '~' || !isempty(home))) ||
            (!c2 && (conf[0] != '~' || !isempty(home)))) {
                free(c1);
                free(c2);
                return -ENOMEM;
        }
        *ret_credentials = c1;
        *ret_config = c2;
        *ret_profile = isempty(profile) ? "default" : profile;
        return 0;
}
