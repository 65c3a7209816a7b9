/*
 * aws_region.c — the region, from the local sources or the instance
 * metadata. See aws_region.h.
 */
#include <ctype.h>

#include <ev.h>

#include "aws_imds.h"
#include "aws_names.h"
#include "aws_profile.h"
#include "aws_region.h"
#include "common.h"

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

struct aws_region_lookup {
        struct ev_loop *loop;
        aws_region_cb cb;
        void *userdata;
        struct aws_imds_request *imds; /* while IMDS is asked */
        ev_timer immediate;            /* a local answer, on the next loop turn */
        int r;
        char *region;
        const char *source;
};

static void lookup_finish(struct aws_region_lookup *l)
{
        ev_timer_stop(l->loop, &l->immediate);
        l->cb(l->r, l->r >= 0 ? l->region : NULL, l->r >= 0 ? l->source : NULL, l->userdata);
        free(l->region);
        free(l);
}

static void immediate_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        lookup_finish(w->data);
}

static void imds_answered(int r, const char *body, size_t len, void *userdata)
{
        struct aws_region_lookup *l = userdata;

        l->imds = NULL;
        l->r = r;
        if (r >= 0) {
                while (len > 0 && isspace((unsigned char)body[len - 1]))
                        len--;
                l->region = strndup(body, len);
                if (!l->region)
                        l->r = -ENOMEM;
                else if (!aws_region_is_valid(l->region))
                        l->r = -EBADMSG;
                l->source = "imds";
        }
        lookup_finish(l);
}

int aws_region_lookup_start(struct ev_loop *loop, struct aws_imds *imds, const char *configured,
                            aws_getenv_fn getenv_fn, void *userdata, aws_region_cb cb,
                            void *cb_userdata, struct aws_region_lookup **ret)
{
        _cleanup_free_ char *base = NULL;
        struct aws_region_lookup *l;
        int r;

        if (!loop || !getenv_fn || !cb)
                return -EINVAL;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->loop = loop;
        l->cb = cb;
        l->userdata = cb_userdata;
        ev_timer_init(&l->immediate, immediate_cb, 0., 0.);
        l->immediate.data = l;

        r = aws_region_resolve_local(configured, getenv_fn, userdata, &l->region, &l->source);
        if (r == -ENOENT && imds) {
                r = aws_imds_endpoint(getenv_fn, userdata, &base);
                if (r == 0) {
                        r = aws_imds_get(imds, base, "/latest/meta-data/placement/region",
                                         imds_answered, l, &l->imds);
                        if (r < 0) {
                                free(l);
                                return r;
                        }
                        goto out;
                }
        }
        if (r < 0 && r != -ENOENT) {
                free(l->region);
                free(l);
                return r;
        }
        l->r = r; /* 0, or -ENOENT: nowhere to ask */
        ev_timer_start(loop, &l->immediate);
out:
        if (ret)
                *ret = l;
        return 0;
}

void aws_region_lookup_cancel(struct aws_region_lookup *l)
{
        if (!l)
                return;
        if (l->imds)
                aws_imds_request_cancel(TAKE_PTR(l->imds));
        l->r = -ECANCELED;
        lookup_finish(l);
}
