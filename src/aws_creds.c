/*
 * aws_creds.c — credential chain, background refresh, region.
 *
 * State: at most one resolution runs at a time (p->resolving). Requests are
 * "waiters"; they are answered from the "deliver" timer (zero delay) so no
 * callback ever runs inside aws_creds_get(). Remote sources (container, IMDS)
 * are "jobs": a small state machine of HTTP steps on the shared http_client.
 * A job can outlive the provider (it is detached on free and frees itself
 * when its transfer completes, cancelled).
 *
 * Time: expirations are wall-clock seconds, compared with ev_now() (which is
 * wall-clock in libev); delays are ev_timers.
 */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <ev.h>
#include <ini.h>
#include <jansson.h>

#include "aws_creds.h"
#include "aws_names.h"
#include "common.h"
#include "datetime.h"
#include "http_client.h"
#include "log.h"

#define IMDS_DEFAULT_ENDPOINT     "http://169.254.169.254"
#define IMDS_DEFAULT_ENDPOINT_V6  "http://[fd00:ec2::254]"
#define IMDS_TOKEN_TTL_S          21600
#define CONTAINER_RELATIVE_HOST   "http://169.254.170.2"
#define REMOTE_TIMEOUT_MS_DEFAULT 1000
#define REMOTE_MAX_RESPONSE       (64 * 1024)
#define REFRESH_RETRY_MIN_S       1.0
#define REFRESH_RETRY_MAX_S       60.0
#define CONTAINER_TOKEN_MAX       16384

/* --- credentials value ------------------------------------------------------ */

void aws_credentials_done(struct aws_credentials *c)
{
        if (!c)
                return;
        erase_and_free(c->access_key_id);
        erase_and_free(c->secret_access_key);
        erase_and_free(c->session_token);
        *c = (struct aws_credentials){0};
}

int aws_credentials_copy(const struct aws_credentials *src, struct aws_credentials *ret)
{
        struct aws_credentials c = {
                .expiration = src->expiration,
                .source = src->source,
        };

        if (isempty(src->access_key_id) || isempty(src->secret_access_key))
                return -EINVAL;
        c.access_key_id = strdup(src->access_key_id);
        c.secret_access_key = strdup(src->secret_access_key);
        if (src->session_token)
                c.session_token = strdup(src->session_token);
        if (!c.access_key_id || !c.secret_access_key || (src->session_token && !c.session_token)) {
                aws_credentials_done(&c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

const char *aws_creds_source_to_string(enum aws_creds_source s)
{
        static const char *const names[_AWS_CREDS_SOURCE_MAX] = {
                [AWS_CREDS_SOURCE_NONE] = "none",
                [AWS_CREDS_SOURCE_STATIC] = "static",
                [AWS_CREDS_SOURCE_ENV] = "environment",
                [AWS_CREDS_SOURCE_PROFILE] = "shared-files",
                [AWS_CREDS_SOURCE_CONTAINER] = "container",
                [AWS_CREDS_SOURCE_IMDS] = "imds",
        };
        if ((unsigned)s >= _AWS_CREDS_SOURCE_MAX)
                return "unknown";
        return names[s];
}

/* --- pure parsing --------------------------------------------------------------- */

/* Overwrite every string in a parsed document before it is freed: jansson's
 * allocator does not wipe, and these documents carry secrets. */
static void json_wipe(json_t *j)
{
        const char *k;
        json_t *v;
        size_t i;

        if (json_is_string(j)) {
                char *s = (char *)(uintptr_t)json_string_value(j);
                explicit_wipe(s, json_string_length(j));
        } else if (json_is_object(j)) {
                json_object_foreach(j, k, v)
                        json_wipe(v);
        } else if (json_is_array(j)) {
                json_array_foreach(j, i, v)
                        json_wipe(v);
        }
}

static void json_wipe_decref(json_t *j)
{
        if (j) {
                json_wipe(j);
                json_decref(j);
        }
}

int aws_creds_parse_document(const char *json, size_t len, bool require_session,
                             struct aws_credentials *ret)
{
        json_t *root, *akid, *secret, *token, *exp, *code;
        struct aws_credentials c = {0};
        int64_t e = 0;
        int r;

        root = json_loadb(json, len, 0, NULL);
        if (!json_is_object(root)) {
                json_wipe_decref(root);
                return -EBADMSG;
        }
        code = json_object_get(root, "Code");
        if (code && (!json_is_string(code) || !streq(json_string_value(code), "Success"))) {
                r = -EACCES;
                goto out;
        }
        akid = json_object_get(root, "AccessKeyId");
        secret = json_object_get(root, "SecretAccessKey");
        token = json_object_get(root, "Token");
        exp = json_object_get(root, "Expiration");
        r = -EBADMSG;
        if (!json_is_string(akid) || !json_is_string(secret) || isempty(json_string_value(akid)) ||
            isempty(json_string_value(secret)))
                goto out;
        if (token && !json_is_string(token))
                goto out;
        if (exp && (!json_is_string(exp) ||
                    datetime_parse_timestamp(json_string_value(exp), DATETIME_ZERO_OFFSET, &e) < 0))
                goto out;
        if (require_session && (!token || !exp || isempty(json_string_value(token))))
                goto out;

        r = -ENOMEM;
        c.access_key_id = strdup(json_string_value(akid));
        c.secret_access_key = strdup(json_string_value(secret));
        if (token && !isempty(json_string_value(token)))
                c.session_token = strdup(json_string_value(token));
        if (!c.access_key_id || !c.secret_access_key ||
            (token && !isempty(json_string_value(token)) && !c.session_token)) {
                aws_credentials_done(&c);
                goto out;
        }
        c.expiration = e;
        *ret = c;
        r = 0;
out:
        json_wipe_decref(root);
        return r;
}

/* --- shared files ------------------------------------------------------------- */

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

static bool env_true(const char *v)
{
        return v && (strcasecmp(v, "true") == 0 || streq(v, "1"));
}

int aws_creds_chain_local(aws_getenv_fn getenv_fn, void *userdata, struct aws_credentials *ret)
{
        const char *akid = getenv_fn("AWS_ACCESS_KEY_ID", userdata);
        const char *secret = getenv_fn("AWS_SECRET_ACCESS_KEY", userdata);
        const char *token = getenv_fn("AWS_SESSION_TOKEN", userdata);
        _cleanup_free_ char *cred_path = NULL, *conf_path = NULL;
        struct aws_profile prof = {0};
        const char *profile;
        int r;

        if (!isempty(akid) && !isempty(secret)) {
                struct aws_credentials c = {
                        .access_key_id = (char *)(uintptr_t)akid,
                        .secret_access_key = (char *)(uintptr_t)secret,
                        .session_token = isempty(token) ? NULL : (char *)(uintptr_t)token,
                        .source = AWS_CREDS_SOURCE_ENV,
                };
                r = aws_credentials_copy(&c, ret);
                return r < 0 ? r : AWS_CREDS_SOURCE_ENV;
        }

        r = aws_profile_paths(getenv_fn, userdata, &cred_path, &conf_path, &profile);
        if (r < 0)
                return r;
        r = aws_profile_load(cred_path, conf_path, profile, &prof);
        if (r < 0)
                return r;
        if (!isempty(prof.access_key_id) && !isempty(prof.secret_access_key)) {
                *ret = (struct aws_credentials){
                        .access_key_id = TAKE_PTR(prof.access_key_id),
                        .secret_access_key = TAKE_PTR(prof.secret_access_key),
                        .session_token = TAKE_PTR(prof.session_token),
                        .source = AWS_CREDS_SOURCE_PROFILE,
                };
                aws_profile_done(&prof);
                return AWS_CREDS_SOURCE_PROFILE;
        }
        aws_profile_done(&prof);

        if (!isempty(getenv_fn("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", userdata)) ||
            !isempty(getenv_fn("AWS_CONTAINER_CREDENTIALS_FULL_URI", userdata)))
                return AWS_CREDS_SOURCE_CONTAINER;
        if (env_true(getenv_fn("AWS_EC2_METADATA_DISABLED", userdata)))
                return AWS_CREDS_SOURCE_NONE;
        return AWS_CREDS_SOURCE_IMDS;
}

static bool container_host_allowed(const struct aws_endpoint *e)
{
        static const char *const hosts[] = {
                "localhost", "[::1]", "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]",
        };
        unsigned a, b, c, d;
        char tail;

        if (streq(e->scheme, "https"))
                return true;
        for (size_t i = 0; i < ARRAY_SIZE(hosts); i++)
                if (strcasecmp(e->host, hosts[i]) == 0)
                        return true;
        /* 127.0.0.0/8 */
        if (sscanf(e->host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
            c < 256 && d < 256)
                return true;
        return false;
}

static int read_token_file(const char *path, char **ret)
{
        _cleanup_close_ int fd = -1;
        char *buf;
        ssize_t n;
        size_t len = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        buf = malloc(CONTAINER_TOKEN_MAX + 1);
        if (!buf)
                return -ENOMEM;
        while (len < CONTAINER_TOKEN_MAX) {
                n = read(fd, buf + len, CONTAINER_TOKEN_MAX - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        n = negative_errno();
                        explicit_wipe(buf, len);
                        free(buf);
                        return (int)n;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        /* A trailing newline from an editor is not part of the token. */
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
                buf[--len] = '\0';
        *ret = buf;
        return 0;
}

int aws_creds_container_endpoint(aws_getenv_fn getenv_fn, void *userdata, char **ret_url,
                                 char **ret_authorization)
{
        const char *rel = getenv_fn("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", userdata);
        const char *full = getenv_fn("AWS_CONTAINER_CREDENTIALS_FULL_URI", userdata);
        const char *token_file = getenv_fn("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", userdata);
        const char *token = getenv_fn("AWS_CONTAINER_AUTHORIZATION_TOKEN", userdata);
        _cleanup_free_ char *url = NULL;
        char *auth = NULL;
        int r;

        if (!isempty(rel)) {
                if (rel[0] != '/')
                        return -EINVAL;
                if (asprintf(&url, "%s%s", CONTAINER_RELATIVE_HOST, rel) < 0) {
                        url = NULL;
                        return -ENOMEM;
                }
        } else if (!isempty(full)) {
                struct aws_endpoint e;
                bool ok;

                if (aws_endpoint_parse_url(full, &e) < 0)
                        return -EINVAL;
                ok = container_host_allowed(&e);
                aws_endpoint_done(&e);
                if (!ok)
                        return -EINVAL;
                url = strdup(full);
                if (!url)
                        return -ENOMEM;
        } else
                return -ENOENT;

        if (!isempty(token_file)) {
                r = read_token_file(token_file, &auth);
                if (r < 0)
                        return r;
        } else if (!isempty(token)) {
                auth = strdup(token);
                if (!auth)
                        return -ENOMEM;
        }
        if (auth && strpbrk(auth, "\r\n")) {
                erase_and_free(auth);
                return -EBADMSG;
        }
        *ret_url = TAKE_PTR(url);
        *ret_authorization = auth;
        return 0;
}

int aws_creds_imds_endpoint(aws_getenv_fn getenv_fn, void *userdata, char **ret_url)
{
        const char *ep = getenv_fn("AWS_EC2_METADATA_SERVICE_ENDPOINT", userdata);
        const char *mode = getenv_fn("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", userdata);
        struct aws_endpoint e;
        char *s;
        int r;

        if (env_true(getenv_fn("AWS_EC2_METADATA_DISABLED", userdata)))
                return -ENOENT;
        if (isempty(ep))
                ep = (mode && strcasecmp(mode, "IPv6") == 0) ? IMDS_DEFAULT_ENDPOINT_V6
                                                             : IMDS_DEFAULT_ENDPOINT;
        r = aws_endpoint_parse_url(ep, &e);
        if (r < 0)
                return r;
        s = TAKE_PTR(e.url); /* normalised, no trailing slash */
        aws_endpoint_done(&e);
        *ret_url = s;
        return 0;
}

int64_t aws_creds_refresh_time(int64_t obtained, int64_t expiration)
{
        int64_t lifetime = expiration - obtained;

        if (lifetime <= 0)
                return obtained;
        if (lifetime >= 15 * 60)
                return expiration - 5 * 60;
        return obtained + lifetime / 2;
}

int aws_region_resolve_local(const char *configured, aws_getenv_fn getenv_fn, void *userdata,
                             char **ret_region, const char **ret_source)
{
        const char *v, *src;
        _cleanup_free_ char *cred_path = NULL, *conf_path = NULL;
        struct aws_profile prof = {0};
        const char *profile;
        char *s;
        int r;

        if (!isempty(configured)) {
                v = configured;
                src = "config";
        } else if (!isempty(v = getenv_fn("AWS_REGION", userdata)))
                src = "AWS_REGION";
        else if (!isempty(v = getenv_fn("AWS_DEFAULT_REGION", userdata)))
                src = "AWS_DEFAULT_REGION";
        else {
                r = aws_profile_paths(getenv_fn, userdata, &cred_path, &conf_path, &profile);
                if (r < 0)
                        return r;
                r = aws_profile_load(NULL, conf_path, profile, &prof);
                if (r < 0)
                        return r;
                if (isempty(prof.region)) {
                        aws_profile_done(&prof);
                        return -ENOENT;
                }
                if (!aws_region_is_valid(prof.region)) {
                        aws_profile_done(&prof);
                        return -EINVAL;
                }
                *ret_region = TAKE_PTR(prof.region);
                *ret_source = "profile";
                aws_profile_done(&prof);
                return 0;
        }
        if (!aws_region_is_valid(v))
                return -EINVAL;
        s = strdup(v);
        if (!s)
                return -ENOMEM;
        *ret_region = s;
        *ret_source = src;
        return 0;
}

/* --- the provider ------------------------------------------------------------ */

struct aws_creds_wait {
        struct aws_creds_provider *p;
        struct aws_creds_wait *prev, *next;
        aws_creds_cb cb;
        void *userdata;
};

struct wait_list {
        struct aws_creds_wait *head, *tail;
};

enum job_kind {
        JOB_CREDS,
        JOB_REGION,
};

enum job_step {
        STEP_CONTAINER,
        STEP_TOKEN,
        STEP_ROLE,
        STEP_ROLE_CREDS,
        STEP_REGION,
};

struct remote_job {
        struct aws_creds_provider *p; /* NULL once detached */
        struct remote_job *prev, *next;
        enum job_kind kind;
        enum aws_creds_source source;
        enum job_step step;
        struct http_transfer *xfer;
        char *base; /* IMDS base URL */
        char *role;
        bool token_retried;
        bool imds_v1; /* IMDSv1 fallback: no token */

        /* region jobs */
        aws_region_cb region_cb;
        void *region_userdata;
        ev_timer immediate;
        int region_r;
        char *region;
        const char *region_source;
};

struct aws_creds_provider {
        struct ev_loop *loop;
        struct http_client *http;
        aws_getenv_fn getenv_fn;
        void *getenv_userdata;
        long remote_timeout_ms;
        bool is_static;

        struct aws_credentials current;
        bool have;
        int64_t obtained;
        int fail_pending; /* deliver this to the waiters on the next turn */
        bool failure_logged;
        unsigned refreshes;

        bool resolving;
        struct remote_job *creds_job;
        struct remote_job *region_jobs;

        ev_timer refresh;
        ev_timer deliver;
        struct wait_list waiters, cancelled;

        char *imds_token;
        double imds_token_expiry;
};

static void wait_append(struct wait_list *l, struct aws_creds_wait *w)
{
        w->prev = l->tail;
        w->next = NULL;
        if (l->tail)
                l->tail->next = w;
        else
                l->head = w;
        l->tail = w;
}

static void wait_remove(struct wait_list *l, struct aws_creds_wait *w)
{
        if (w->prev)
                w->prev->next = w->next;
        else
                l->head = w->next;
        if (w->next)
                w->next->prev = w->prev;
        else
                l->tail = w->prev;
        w->prev = w->next = NULL;
}

static double provider_now(const struct aws_creds_provider *p)
{
        return ev_now(p->loop);
}

static bool creds_usable(const struct aws_creds_provider *p)
{
        int64_t lifetime, margin;

        if (!p->have)
                return false;
        if (p->current.expiration == 0)
                return true;
        lifetime = p->current.expiration - p->obtained;
        margin = MIN((int64_t)60, MAX((int64_t)1, lifetime / 5));
        return provider_now(p) < (double)(p->current.expiration - margin);
}

static void deliver_arm(struct aws_creds_provider *p)
{
        if (!ev_is_active(&p->deliver)) {
                ev_timer_set(&p->deliver, 0., 0.);
                ev_timer_start(p->loop, &p->deliver);
        }
}

static void job_free(struct remote_job *j)
{
        if (!j)
                return;
        free(j->base);
        free(j->role);
        free(j->region);
        free(j);
}

static void resolve_finish(struct aws_creds_provider *p, int r, struct aws_credentials *c);
static int job_step(struct remote_job *j);
static void region_job_finish(struct remote_job *j);

static void schedule_refresh(struct aws_creds_provider *p, double delay)
{
        ev_timer_stop(p->loop, &p->refresh);
        ev_timer_set(&p->refresh, MAX(delay, 0.), 0.);
        ev_timer_start(p->loop, &p->refresh);
}

static void resolve_finish(struct aws_creds_provider *p, int r, struct aws_credentials *c)
{
        bool was_refresh = p->have;
        const char *src;

        p->resolving = false;
        p->creds_job = NULL;

        if (r >= 0) {
                aws_credentials_done(&p->current);
                p->current = *c;
                *c = (struct aws_credentials){0};
                p->have = true;
                p->obtained = (int64_t)provider_now(p);
                p->fail_pending = 0;
                src = aws_creds_source_to_string(p->current.source);
                if (was_refresh)
                        p->refreshes++;
                if (p->failure_logged) {
                        p->failure_logged = false;
                        log_info("aws.creds.recovered", LOG_FIELDS(LF("AWS_CREDS_SOURCE", src)),
                                 "AWS credentials from %s refreshed again", src);
                } else
                        log_debug("aws.creds.resolved", LOG_FIELDS(LF("AWS_CREDS_SOURCE", src)),
                                  "AWS credentials from %s", src);
                if (p->current.expiration > 0)
                        schedule_refresh(p, (double)aws_creds_refresh_time(p->obtained,
                                                                           p->current.expiration) -
                                                    provider_now(p));
                else
                        ev_timer_stop(p->loop, &p->refresh);
        } else {
                if (creds_usable(p)) {
                        double remaining = (double)p->current.expiration - provider_now(p);
                        src = aws_creds_source_to_string(p->current.source);
                        if (!p->failure_logged) {
                                p->failure_logged = true;
                                log_warning_errno(r, "aws.creds.refresh_failed",
                                                  LOG_FIELDS(LF("AWS_CREDS_SOURCE", src)),
                                                  "Refreshing AWS credentials from %s failed: "
                                                  "%m; using the current ones until they "
                                                  "expire, will retry",
                                                  src);
                        }
                        schedule_refresh(p, MIN(REFRESH_RETRY_MAX_S,
                                                MAX(REFRESH_RETRY_MIN_S, remaining / 4)));
                } else {
                        if (p->have) {
                                /* Expired and not renewable: drop them. */
                                aws_credentials_done(&p->current);
                                p->have = false;
                        }
                        p->fail_pending = r;
                        log_debug("aws.creds.failed", LOG_NOFIELDS,
                                  "Resolving AWS credentials failed: %s", strerror(-r));
                }
        }
        deliver_arm(p);
}

static void resolve_start(struct aws_creds_provider *p)
{
        struct aws_credentials c = {0};
        enum aws_creds_source next;
        struct remote_job *j;
        int r;

        if (p->resolving || p->is_static)
                return;
        p->resolving = true;

        if (p->have && (p->current.source == AWS_CREDS_SOURCE_CONTAINER ||
                        p->current.source == AWS_CREDS_SOURCE_IMDS))
                next = p->current.source; /* a refresh: ask the same source */
        else {
                r = aws_creds_chain_local(p->getenv_fn, p->getenv_userdata, &c);
                if (r < 0) {
                        resolve_finish(p, r, NULL);
                        return;
                }
                if (r == AWS_CREDS_SOURCE_ENV || r == AWS_CREDS_SOURCE_PROFILE) {
                        resolve_finish(p, 0, &c);
                        return;
                }
                if (r == AWS_CREDS_SOURCE_NONE) {
                        resolve_finish(p, -ENOKEY, NULL);
                        return;
                }
                next = (enum aws_creds_source)r;
        }

        if (!p->http) {
                resolve_finish(p, -ENOKEY, NULL);
                return;
        }
        j = calloc(1, sizeof(*j));
        if (!j) {
                resolve_finish(p, -ENOMEM, NULL);
                return;
        }
        j->p = p;
        j->kind = JOB_CREDS;
        j->source = next;
        if (next == AWS_CREDS_SOURCE_CONTAINER)
                j->step = STEP_CONTAINER;
        else {
                r = aws_creds_imds_endpoint(p->getenv_fn, p->getenv_userdata, &j->base);
                if (r < 0) {
                        job_free(j);
                        resolve_finish(p, r == -ENOENT ? -ENOKEY : r, NULL);
                        return;
                }
                j->step = STEP_TOKEN;
        }
        p->creds_job = j;
        r = job_step(j);
        if (r < 0) {
                job_free(j);
                resolve_finish(p, r, NULL);
        }
}

/* A remote job reached its end: r, and for STEP_ROLE_CREDS/STEP_CONTAINER the
 * document body. */
static void job_finish(struct remote_job *j, int r, const char *body, size_t len)
{
        struct aws_creds_provider *p = j->p;

        if (j->kind == JOB_REGION) {
                j->region_r = r;
                if (r >= 0) {
                        size_t n = len;
                        while (n > 0 && isspace((unsigned char)body[n - 1]))
                                n--;
                        j->region = strndup(body, n);
                        if (!j->region)
                                j->region_r = -ENOMEM;
                        else if (!aws_region_is_valid(j->region))
                                j->region_r = -EBADMSG;
                        j->region_source = "imds";
                }
                region_job_finish(j);
                return;
        }

        if (r >= 0) {
                struct aws_credentials c = {0};
                r = aws_creds_parse_document(body, len, j->source == AWS_CREDS_SOURCE_IMDS, &c);
                if (r >= 0) {
                        c.source = j->source;
                        job_free(j);
                        resolve_finish(p, 0, &c);
                        return;
                }
        }
        job_free(j);
        resolve_finish(p, r, NULL);
}

static int status_to_errno(long status)
{
        if (status == 401 || status == 403)
                return -EACCES;
        if (status == 404)
                return -ENOENT;
        if (status == 429 || status >= 500)
                return -EAGAIN;
        return -EIO;
}

static void job_http_done(struct http_transfer *t, int r, const struct http_client_response *resp,
                          void *userdata)
{
        struct remote_job *j = userdata;
        struct aws_creds_provider *p = j->p;
        const char *body = resp->body ? (const char *)resp->body : "";
        size_t len = resp->body_len;

        j->xfer = NULL;
        if (!p) {
                /* Detached: the provider is gone. */
                job_free(j);
                return;
        }
        if (r < 0) {
                job_finish(j, r, NULL, 0);
                return;
        }

        switch (j->step) {
        case STEP_CONTAINER:
                if (resp->status != 200) {
                        job_finish(j, status_to_errno(resp->status), NULL, 0);
                        return;
                }
                job_finish(j, 0, body, len);
                return;

        case STEP_TOKEN:
                if (resp->status == 200 && len > 0) {
                        size_t n = len;
                        while (n > 0 && isspace((unsigned char)body[n - 1]))
                                n--;
                        erase_and_free(p->imds_token);
                        p->imds_token = strndup(body, n);
                        if (!p->imds_token) {
                                job_finish(j, -ENOMEM, NULL, 0);
                                return;
                        }
                        p->imds_token_expiry = provider_now(p) + IMDS_TOKEN_TTL_S - 60;
                } else if ((resp->status == 403 || resp->status == 404 || resp->status == 405) &&
                           !env_true(p->getenv_fn("AWS_EC2_METADATA_V1_DISABLED",
                                                  p->getenv_userdata)))
                        j->imds_v1 = true;
                else {
                        job_finish(j, status_to_errno(resp->status), NULL, 0);
                        return;
                }
                j->step = j->kind == JOB_REGION ? STEP_REGION : STEP_ROLE;
                break;

        case STEP_ROLE:
        case STEP_ROLE_CREDS:
        case STEP_REGION:
                if (resp->status == 401 && !j->token_retried && !j->imds_v1) {
                        /* The token expired or was revoked: get a new one, once. */
                        j->token_retried = true;
                        erase_and_free(p->imds_token);
                        p->imds_token = NULL;
                        j->step = STEP_TOKEN;
                        break;
                }
                if (resp->status != 200) {
                        job_finish(j,
                                   resp->status == 404 && j->step == STEP_ROLE
                                           ? -ENOKEY
                                           : status_to_errno(resp->status),
                                   NULL, 0);
                        return;
                }
                if (j->step == STEP_ROLE) {
                        size_t n = strcspn(body, "\r\n");
                        while (n > 0 && isspace((unsigned char)body[n - 1]))
                                n--;
                        free(j->role);
                        j->role = strndup(body, n);
                        if (!j->role) {
                                job_finish(j, -ENOMEM, NULL, 0);
                                return;
                        }
                        /* Role names are [\w+=,.@-]; anything else is not a role. */
                        if (n == 0 ||
                            strspn(j->role, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                                            "tuvwxyz0123456789_+=,.@-") != n) {
                                job_finish(j, -EBADMSG, NULL, 0);
                                return;
                        }
                        j->step = STEP_ROLE_CREDS;
                        break;
                }
                job_finish(j, 0, body, len);
                return;
        }

        r = job_step(j);
        if (r < 0)
                job_finish(j, r, NULL, 0);
}

/* Issue the HTTP request for the job's current step. */
static int job_step(struct remote_job *j)
{
        struct aws_creds_provider *p = j->p;
        _cleanup_free_ char *url = NULL, *hdr = NULL;
        _cleanup_erase_ char *auth = NULL;
        const char *headers[2];
        struct http_client_req req = {
                .connect_timeout_ms = p->remote_timeout_ms,
                .timeout_ms = 2 * p->remote_timeout_ms,
                .max_response = REMOTE_MAX_RESPONSE,
                .headers = headers,
                .sensitive = true,
        };
        int r;

        if (j->step == STEP_CONTAINER) {
                r = aws_creds_container_endpoint(p->getenv_fn, p->getenv_userdata, &url, &auth);
                if (r < 0)
                        return r;
                if (auth) {
                        if (asprintf(&hdr, "Authorization: %s", auth) < 0) {
                                hdr = NULL;
                                return -ENOMEM;
                        }
                        headers[req.n_headers++] = hdr;
                }
                req.method = "GET";
                req.url = url;
        } else {
                if (j->step == STEP_TOKEN && p->imds_token &&
                    provider_now(p) < p->imds_token_expiry)
                        j->step = j->kind == JOB_REGION ? STEP_REGION : STEP_ROLE;

                if (j->step == STEP_TOKEN) {
                        req.method = "PUT";
                        if (asprintf(&url, "%s/latest/api/token", j->base) < 0)
                                url = NULL;
                        headers[req.n_headers++] = "X-aws-ec2-metadata-token-ttl-seconds: 21600";
                } else {
                        req.method = "GET";
                        if (j->step == STEP_ROLE)
                                r = asprintf(&url, "%s/latest/meta-data/iam/security-credentials/",
                                             j->base);
                        else if (j->step == STEP_ROLE_CREDS)
                                r = asprintf(&url,
                                             "%s/latest/meta-data/iam/security-credentials/%s",
                                             j->base, j->role);
                        else
                                r = asprintf(&url, "%s/latest/meta-data/placement/region", j->base);
                        if (r < 0)
                                url = NULL;
                        if (!j->imds_v1 && p->imds_token) {
                                if (asprintf(&hdr, "X-aws-ec2-metadata-token: %s", p->imds_token) <
                                    0) {
                                        hdr = NULL;
                                        return -ENOMEM;
                                }
                                headers[req.n_headers++] = hdr;
                        }
                }
                if (!url)
                        return -ENOMEM;
                req.url = url;
        }

        r = http_client_start(p->http, &req, job_http_done, j, &j->xfer);
        if (hdr)
                explicit_wipe(hdr, strlen(hdr));
        return r;
}

static void deliver_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct aws_creds_provider *p = w->data;
        struct wait_list batch;

        batch = p->cancelled;
        p->cancelled = (struct wait_list){0};
        while (batch.head) {
                struct aws_creds_wait *x = batch.head;
                wait_remove(&batch, x);
                x->cb(-ECANCELED, NULL, x->userdata);
                free(x);
        }

        if (!p->waiters.head)
                return;
        if (creds_usable(p)) {
                batch = p->waiters;
                p->waiters = (struct wait_list){0};
                while (batch.head) {
                        struct aws_creds_wait *x = batch.head;
                        wait_remove(&batch, x);
                        x->cb(0, &p->current, x->userdata);
                        free(x);
                }
        } else if (p->resolving)
                return; /* answered when the resolution ends */
        else if (p->fail_pending < 0) {
                int r = p->fail_pending;
                p->fail_pending = 0;
                batch = p->waiters;
                p->waiters = (struct wait_list){0};
                while (batch.head) {
                        struct aws_creds_wait *x = batch.head;
                        wait_remove(&batch, x);
                        x->cb(r, NULL, x->userdata);
                        free(x);
                }
        } else
                resolve_start(p);
}

static void refresh_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        resolve_start(w->data);
}

int aws_creds_provider_new(struct ev_loop *loop, const struct aws_creds_options *opts,
                           struct aws_creds_provider **ret)
{
        struct aws_creds_provider *p;
        int r;

        if (!loop || !opts || !ret)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->loop = loop;
        p->http = opts->http;
        p->getenv_fn = opts->getenv_fn ? opts->getenv_fn : aws_getenv_process;
        p->getenv_userdata = opts->getenv_userdata;
        p->remote_timeout_ms =
                opts->remote_timeout_ms > 0 ? opts->remote_timeout_ms : REMOTE_TIMEOUT_MS_DEFAULT;
        ev_timer_init(&p->refresh, refresh_cb, 0., 0.);
        p->refresh.data = p;
        ev_timer_init(&p->deliver, deliver_cb, 0., 0.);
        p->deliver.data = p;

        if (opts->static_creds) {
                r = aws_credentials_copy(opts->static_creds, &p->current);
                if (r < 0) {
                        free(p);
                        return r;
                }
                p->current.source = AWS_CREDS_SOURCE_STATIC;
                p->current.expiration = 0;
                p->have = true;
                p->is_static = true;
        }
        *ret = p;
        return 0;
}

static void region_job_unlink(struct remote_job *j)
{
        struct aws_creds_provider *p = j->p;

        if (j->prev)
                j->prev->next = j->next;
        else if (p)
                p->region_jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        j->prev = j->next = NULL;
}

struct aws_creds_provider *aws_creds_provider_free(struct aws_creds_provider *p)
{
        struct aws_creds_wait *w;

        if (!p)
                return NULL;
        ev_timer_stop(p->loop, &p->refresh);
        ev_timer_stop(p->loop, &p->deliver);

        while ((w = p->cancelled.head)) {
                wait_remove(&p->cancelled, w);
                w->cb(-ECANCELED, NULL, w->userdata);
                free(w);
        }
        while ((w = p->waiters.head)) {
                wait_remove(&p->waiters, w);
                w->cb(-ECANCELED, NULL, w->userdata);
                free(w);
        }
        if (p->creds_job) {
                struct remote_job *j = TAKE_PTR(p->creds_job);
                j->p = NULL;
                if (j->xfer)
                        http_transfer_cancel(j->xfer);
                else
                        job_free(j);
        }
        while (p->region_jobs) {
                struct remote_job *j = p->region_jobs;
                region_job_unlink(j);
                ev_timer_stop(p->loop, &j->immediate);
                j->region_cb(-ECANCELED, NULL, NULL, j->region_userdata);
                j->p = NULL;
                if (j->xfer)
                        http_transfer_cancel(j->xfer);
                else
                        job_free(j);
        }
        aws_credentials_done(&p->current);
        erase_and_free(p->imds_token);
        free(p);
        return NULL;
}

int aws_creds_get(struct aws_creds_provider *p, aws_creds_cb cb, void *userdata,
                  struct aws_creds_wait **ret)
{
        struct aws_creds_wait *w;

        if (!p || !cb)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->p = p;
        w->cb = cb;
        w->userdata = userdata;
        wait_append(&p->waiters, w);
        if (creds_usable(p) || p->fail_pending < 0)
                deliver_arm(p);
        else if (!p->resolving)
                resolve_start(p); /* answers through the deliver timer */
        if (ret)
                *ret = w;
        return 0;
}

void aws_creds_wait_cancel(struct aws_creds_wait *w)
{
        struct aws_creds_provider *p;

        if (!w)
                return;
        p = w->p;
        wait_remove(&p->waiters, w);
        wait_append(&p->cancelled, w);
        deliver_arm(p);
}

void aws_creds_prefetch(struct aws_creds_provider *p)
{
        if (p && !creds_usable(p))
                resolve_start(p);
}

enum aws_creds_source aws_creds_current_source(const struct aws_creds_provider *p)
{
        return p && p->have ? p->current.source : AWS_CREDS_SOURCE_NONE;
}

unsigned aws_creds_refresh_count(const struct aws_creds_provider *p)
{
        return p ? p->refreshes : 0;
}

/* --- region ------------------------------------------------------------------- */

static void region_job_finish(struct remote_job *j)
{
        struct aws_creds_provider *p = j->p;

        region_job_unlink(j);
        ev_timer_stop(p->loop, &j->immediate);
        j->region_cb(j->region_r, j->region_r >= 0 ? j->region : NULL,
                     j->region_r >= 0 ? j->region_source : NULL, j->region_userdata);
        job_free(j);
}

static void region_immediate_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        region_job_finish(w->data);
}

int aws_creds_region_resolve(struct aws_creds_provider *p, const char *configured, aws_region_cb cb,
                             void *userdata)
{
        struct remote_job *j;
        int r;

        if (!p || !cb)
                return -EINVAL;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->p = p;
        j->kind = JOB_REGION;
        j->source = AWS_CREDS_SOURCE_IMDS;
        j->region_cb = cb;
        j->region_userdata = userdata;
        ev_timer_init(&j->immediate, region_immediate_cb, 0., 0.);
        j->immediate.data = j;

        r = aws_region_resolve_local(configured, p->getenv_fn, p->getenv_userdata, &j->region,
                                     &j->region_source);
        if (r == -ENOENT && p->http) {
                r = aws_creds_imds_endpoint(p->getenv_fn, p->getenv_userdata, &j->base);
                if (r == 0) {
                        j->step = STEP_TOKEN;
                        r = job_step(j);
                        if (r < 0) {
                                job_free(j);
                                return r;
                        }
                        goto link;
                }
        }
        if (r < 0 && r != -ENOENT) {
                job_free(j);
                return r;
        }
        j->region_r = r; /* 0, or -ENOENT: nowhere to ask */
        ev_timer_start(p->loop, &j->immediate);
link:
        j->next = p->region_jobs;
        if (p->region_jobs)
                p->region_jobs->prev = j;
        p->region_jobs = j;
        return 0;
}
