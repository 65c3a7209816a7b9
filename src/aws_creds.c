/*
 * aws_creds.c — credential chain, background refresh.
 *
 * State: at most one resolution runs at a time (p->resolving). Requests are
 * "waiters"; they are answered from the "deliver" timer (zero delay) so no
 * callback ever runs inside aws_creds_get(). Remote sources are "jobs": one
 * GET of the container endpoint, or the IMDS role and then its credentials
 * (aws_imds.h). A container job can outlive the provider (it is detached on
 * free and frees itself when its transfer completes, cancelled).
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
#include "aws_imds.h"
#include "aws_profile.h"
#include "aws_region.h"
#include "aws_names.h"
#include "common.h"
#include "datetime.h"
#include "http_client.h"
#include "log.h"

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

int64_t aws_creds_refresh_time(int64_t obtained, int64_t expiration)
{
        int64_t lifetime = expiration - obtained;

        if (lifetime <= 0)
                return obtained;
        if (lifetime >= 15 * 60)
                return expiration - 5 * 60;
        return obtained + lifetime / 2;
}

/* --- the provider ------------------------------------------------------------ */

struct aws_creds_wait {
        struct aws_creds_provider *p;
        struct aws_creds_wait *prev, *next;
        aws_creds_cb cb;
        void *userdata;
        bool cancelled; /* on the cancelled list: a second cancel must not move it again */
};

struct wait_list {
        struct aws_creds_wait *head, *tail;
};

/* A remote source: the container endpoint (one GET) or IMDS (the role, then
 * its credentials). */
struct remote_job {
        struct aws_creds_provider *p; /* NULL once detached */
        enum aws_creds_source source;
        struct http_transfer *xfer;   /* container */
        struct aws_imds_request *req; /* IMDS */
        char *base;                   /* IMDS base URL */
};

/* A region lookup of the provider's, cancelled when the provider goes. */
struct region_wait {
        struct aws_creds_provider *p;
        struct aws_region_lookup *lookup;
        aws_region_cb cb;
        void *userdata;
        struct region_wait *prev, *next;
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

        bool resolving;
        struct remote_job *creds_job;
        struct aws_imds *imds; /* NULL without an HTTP client */
        struct region_wait *regions;

        ev_timer refresh;
        ev_timer deliver;
        struct wait_list waiters, cancelled;
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

static void remote_job_free(struct remote_job *j)
{
        if (!j)
                return;
        free(j->base);
        free(j);
}

static void resolve_finish(struct aws_creds_provider *p, int r, struct aws_credentials *c);
static int remote_job_start(struct remote_job *j);

static void schedule_refresh(struct aws_creds_provider *p, double delay)
{
        ev_timer_stop(p->loop, &p->refresh);
        ev_timer_set(&p->refresh, MAX(delay, 0.), 0.);
        ev_timer_start(p->loop, &p->refresh);
}

static void resolve_finish(struct aws_creds_provider *p, int r, struct aws_credentials *c)
{
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
        j->source = next;
        if (next == AWS_CREDS_SOURCE_IMDS) {
                r = aws_imds_endpoint(p->getenv_fn, p->getenv_userdata, &j->base);
                if (r < 0) {
                        remote_job_free(j);
                        resolve_finish(p, r == -ENOENT ? -ENOKEY : r, NULL);
                        return;
                }
        }
        p->creds_job = j;
        r = remote_job_start(j);
        if (r < 0) {
                remote_job_free(j);
                resolve_finish(p, r, NULL);
        }
}

/* A remote job reached its end: r, and on success the credentials document. */
static void remote_job_finish(struct remote_job *j, int r, const char *body, size_t len)
{
        struct aws_creds_provider *p = j->p;

        if (r >= 0) {
                struct aws_credentials c = {0};
                r = aws_creds_parse_document(body, len, j->source == AWS_CREDS_SOURCE_IMDS, &c);
                if (r >= 0) {
                        c.source = j->source;
                        remote_job_free(j);
                        resolve_finish(p, 0, &c);
                        return;
                }
        }
        remote_job_free(j);
        resolve_finish(p, r, NULL);
}

static void container_done(struct http_transfer *t, int r, const struct http_client_response *resp,
                           void *userdata)
{
        struct remote_job *j = userdata;

        j->xfer = NULL;
        if (!j->p) {
                /* Detached: the provider is gone. */
                remote_job_free(j);
                return;
        }
        if (r >= 0 && resp->status != 200)
                r = aws_imds_status_errno(resp->status);
        remote_job_finish(j, r, resp->body ? (const char *)resp->body : "", resp->body_len);
}

static void imds_creds_answered(int r, const char *body, size_t len, void *userdata)
{
        struct remote_job *j = userdata;

        j->req = NULL;
        remote_job_finish(j, r, body, len);
}

/* Role names are [\w+=,.@-]; anything else is not a role. */
static bool role_name_valid(const char *s, size_t n)
{
        static const char allowed[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                                      "tuvwxyz0123456789_+=,.@-";

        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!s[i] || !strchr(allowed, s[i]))
                        return false;
        return true;
}

/* The instance's role: its credentials are asked for next. */
static void imds_role_answered(int r, const char *body, size_t len, void *userdata)
{
        struct remote_job *j = userdata;
        _cleanup_free_ char *path = NULL;
        size_t n = 0;

        j->req = NULL;
        if (r < 0) {
                remote_job_finish(j, r == -ENOENT ? -ENOKEY : r, NULL, 0);
                return;
        }
        while (n < len && body[n] != '\r' && body[n] != '\n')
                n++;
        while (n > 0 && isspace((unsigned char)body[n - 1]))
                n--;
        if (!role_name_valid(body, n)) {
                remote_job_finish(j, -EBADMSG, NULL, 0);
                return;
        }
        if (asprintf(&path, "/latest/meta-data/iam/security-credentials/%.*s", (int)n, body) < 0) {
                path = NULL;
                remote_job_finish(j, -ENOMEM, NULL, 0);
                return;
        }
        r = aws_imds_get(j->p->imds, j->base, path, imds_creds_answered, j, &j->req);
        if (r < 0)
                remote_job_finish(j, r, NULL, 0);
}

/* The first request of the job's source. */
static int remote_job_start(struct remote_job *j)
{
        struct aws_creds_provider *p = j->p;
        _cleanup_free_ char *url = NULL, *hdr = NULL;
        _cleanup_erase_ char *auth = NULL;
        const char *headers[1];
        int r;

        if (j->source == AWS_CREDS_SOURCE_IMDS)
                return aws_imds_get(p->imds, j->base, "/latest/meta-data/iam/security-credentials/",
                                    imds_role_answered, j, &j->req);
        r = aws_creds_container_endpoint(p->getenv_fn, p->getenv_userdata, &url, &auth);
        if (r < 0)
                return r;
        if (auth && asprintf(&hdr, "Authorization: %s", auth) < 0) {
                hdr = NULL;
                return -ENOMEM;
        }
        headers[0] = hdr;
        r = http_client_start(p->http,
                              &(struct http_client_req){
                                      .method = "GET",
                                      .url = url,
                                      .headers = headers,
                                      .n_headers = hdr ? 1 : 0,
                                      .connect_timeout_ms = p->remote_timeout_ms,
                                      .timeout_ms = 2 * p->remote_timeout_ms,
                                      .max_response = REMOTE_MAX_RESPONSE,
                                      .sensitive = true,
                              },
                              container_done, j, &j->xfer);
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
        if (p->http) {
                r = aws_imds_new(loop,
                                 &(struct aws_imds_options){
                                         .http = p->http,
                                         .getenv_fn = p->getenv_fn,
                                         .getenv_userdata = p->getenv_userdata,
                                         .timeout_ms = p->remote_timeout_ms,
                                 },
                                 &p->imds);
                if (r < 0) {
                        free(p);
                        return r;
                }
        }
        ev_timer_init(&p->refresh, refresh_cb, 0., 0.);
        p->refresh.data = p;
        ev_timer_init(&p->deliver, deliver_cb, 0., 0.);
        p->deliver.data = p;

        if (opts->static_creds) {
                r = aws_credentials_copy(opts->static_creds, &p->current);
                if (r < 0) {
                        aws_imds_free(p->imds);
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
                if (j->req) {
                        aws_imds_request_cancel(j->req);
                        remote_job_free(j);
                } else if (j->xfer)
                        http_transfer_cancel(j->xfer); /* container_done() frees it */
                else
                        remote_job_free(j);
        }
        while (p->regions)
                aws_region_lookup_cancel(p->regions->lookup);
        aws_credentials_done(&p->current);
        aws_imds_free(p->imds);
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

        if (!w || w->cancelled)
                return;
        w->cancelled = true;
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

/* --- region ------------------------------------------------------------------- */

static void region_answered(int r, const char *region, const char *source, void *userdata)
{
        struct region_wait *w = userdata;
        struct aws_creds_provider *p = w->p;

        if (w->prev)
                w->prev->next = w->next;
        else
                p->regions = w->next;
        if (w->next)
                w->next->prev = w->prev;
        w->cb(r, region, source, w->userdata);
        free(w);
}

int aws_creds_region_resolve(struct aws_creds_provider *p, const char *configured, aws_region_cb cb,
                             void *userdata)
{
        struct region_wait *w;
        int r;

        if (!p || !cb)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (struct region_wait){.p = p, .cb = cb, .userdata = userdata};
        r = aws_region_lookup_start(p->loop, p->imds, configured, p->getenv_fn, p->getenv_userdata,
                                    region_answered, w, &w->lookup);
        if (r < 0) {
                free(w);
                return r;
        }
        w->next = p->regions;
        if (p->regions)
                p->regions->prev = w;
        p->regions = w;
        return 0;
}
