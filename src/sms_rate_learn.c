/*
 * sms_rate_learn.c — origination identities' rates from DescribePhoneNumbers,
 * page by page (the rule is in sms_rate_learn.h).
 */
#include <stdio.h>

#include "aws.h"
#include "common.h"
#include "sms_rate_learn.h"

struct sms_rate_learn {
        struct aws_client *aws;
        struct sms_rate_identity *ids;
        bool *found;
        size_t n, cap;
        bool all; /* every number of the account */
        unsigned n_found, pages;
        struct aws_call *call; /* the page in flight */
        sms_rate_learn_cb cb;
        void *userdata;
};

static struct sms_rate_learn *learn_free(struct sms_rate_learn *l)
{
        if (!l)
                return NULL;
        free(l->ids);
        free(l->found);
        free(l);
        return NULL;
}

static void learn_finish(struct sms_rate_learn *l, int r, const struct aws_error *err)
{
        struct sms_rate_learn_result res = {
                .identities = l->ids,
                .n_identities = l->n,
                .found = l->n_found,
                .error = r < 0 ? r : 0,
                .denied = err && streq(err->code, "AccessDeniedException"),
        };

        if (err)
                res.aws = *err;
        l->cb(r < 0 ? r : 0, &res, l->userdata);
        learn_free(l);
}

static int learn_page(struct sms_rate_learn *l, const char *next_token);

/* Every number of one page, appended. */
static int learn_all(struct sms_rate_learn *l, const json_t *page)
{
        const json_t *pn;
        size_t i;

        json_array_foreach(json_object_get(page, "PhoneNumbers"), i, pn) {
                const char *number = json_string_value(json_object_get(pn, "PhoneNumber"));
                struct sms_rate_identity id;

                if (isempty(number) || strlen(number) >= SMS_RATE_IDENTITY_MAX ||
                    sms_rate_from_phone_numbers(page, number, &id) < 0)
                        continue;
                if (l->n == l->cap) {
                        size_t cap = l->cap ? 2 * l->cap : 16;
                        struct sms_rate_identity *v = reallocarray(l->ids, cap, sizeof(*v));

                        if (!v)
                                return -ENOMEM;
                        l->ids = v;
                        l->cap = cap;
                }
                l->ids[l->n++] = id;
                l->n_found++;
        }
        return 0;
}

static void page_done(struct aws_call *call, int r, const struct aws_result *res, void *userdata)
{
        struct sms_rate_learn *l = userdata;
        const char *next;

        l->call = NULL;
        if (r < 0) {
                learn_finish(l, r, res->error);
                return;
        }
        if (!json_is_array(json_object_get(res->json, "PhoneNumbers"))) {
                learn_finish(l, -EBADMSG, NULL);
                return;
        }
        if (l->all) {
                r = learn_all(l, res->json);
                if (r < 0) {
                        learn_finish(l, r, NULL);
                        return;
                }
        }
        for (size_t i = 0; i < l->n && !l->all; i++) {
                struct sms_rate_identity id;

                if (l->found[i] ||
                    sms_rate_from_phone_numbers(res->json, l->ids[i].identity, &id) < 0)
                        continue;
                l->ids[i] = id;
                l->found[i] = true;
                l->n_found++;
        }
        next = json_string_value(json_object_get(res->json, "NextToken"));
        if ((!l->all && l->n_found == l->n) || isempty(next) || l->pages >= SMS_RATE_LEARN_PAGES) {
                learn_finish(l, 0, NULL);
                return;
        }
        r = learn_page(l, next);
        if (r < 0)
                learn_finish(l, r, NULL);
}

static int learn_page(struct sms_rate_learn *l, const char *next_token)
{
        json_t *body = json_pack("{s:i}", "MaxResults", 100);

        if (!body ||
            (next_token && json_object_set_new(body, "NextToken", json_string(next_token)) < 0)) {
                json_decref(body);
                return -ENOMEM;
        }
        l->pages++;
        return aws_call_start_owned(l->aws,
                                    &(struct aws_call_params){
                                            .service = AWS_SERVICE_SMS_VOICE,
                                            .operation = "DescribePhoneNumbers",
                                    },
                                    body, page_done, l, NULL, &l->call);
}

int sms_rate_learn(struct aws_client *aws, const char *const *identities, size_t n,
                   sms_rate_learn_cb cb, void *userdata, struct sms_rate_learn **ret)
{
        struct sms_rate_learn *l;
        int r;

        if (!aws || !cb || (!identities && n > 0) || (identities && n == 0))
                return -EINVAL;
        if (n > SMS_RATE_LEARN_IDENTITIES)
                return -E2BIG;
        for (size_t i = 0; i < n; i++)
                if (isempty(identities[i]) || strlen(identities[i]) >= SMS_RATE_IDENTITY_MAX)
                        return -EINVAL;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->all = n == 0;
        l->ids = calloc(n ? n : 1, sizeof(*l->ids));
        l->found = calloc(n ? n : 1, sizeof(*l->found));
        if (!l->ids || !l->found) {
                learn_free(l);
                return -ENOMEM;
        }
        l->aws = aws;
        l->n = n;
        l->cap = n;
        l->cb = cb;
        l->userdata = userdata;
        for (size_t i = 0; i < n; i++) {
                (void)snprintf(l->ids[i].identity, sizeof(l->ids[i].identity), "%s", identities[i]);
                l->ids[i].parts_per_second = SMS_RATE_CONSERVATIVE;
        }
        r = learn_page(l, NULL);
        if (r < 0) {
                learn_free(l);
                return r;
        }
        if (ret)
                *ret = l;
        return 0;
}

void sms_rate_learn_cancel(struct sms_rate_learn *l)
{
        if (l && l->call)
                aws_call_cancel(l->call);
}
