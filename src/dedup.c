/*
 * dedup.c — claim an inbound message in DynamoDB so one instance handles it.
 */
#include <stdio.h>

#include <jansson.h>
#include <systemd/sd-id128.h>

#include "aws.h"
#include "ddb.h"
#include "common.h"
#include "dedup.h"

struct dedup_claim {
        struct aws_client *aws;
        struct aws_call *call; /* the request under way */
        dedup_cb cb;
        void *userdata;
        char table[256];
        char inbound_message_id[160];
        char instance[256];
};

static void claim_finish(struct dedup_claim *c, int r, const json_t *holder_item)
{
        const char *holder = holder_item ? ddb_item_get_s(holder_item, "claimed_by") : NULL;

        /* Someone holds it: us before a restart, or another instance. */
        c->cb(r, holder && streq(holder, c->instance) ? DEDUP_CLAIMED : DEDUP_CLAIMED_ELSEWHERE,
              c->userdata);
        free(c);
}

static void holder_read_cb(int r, const struct ddb_result *res, void *userdata)
{
        struct dedup_claim *c = userdata;

        c->call = NULL;
        claim_finish(c, r < 0 ? r : 0, r < 0 ? NULL : res->item);
}

static void claim_done_cb(int r, const struct ddb_result *res, void *userdata)
{
        struct dedup_claim *c = userdata;
        json_t *key;

        c->call = NULL;
        if (r >= 0) {
                c->cb(0, DEDUP_CLAIMED, c->userdata);
                free(c);
                return;
        }
        if (r == -ECANCELED || !res || !res->condition_failed) {
                c->cb(r, DEDUP_CLAIMED_ELSEWHERE, c->userdata);
                free(c);
                return;
        }
        if (res->item) {
                claim_finish(c, 0, res->item);
                return;
        }
        /* Not every DynamoDB returns the old item on a failed condition: read it. */
        key = ddb_item_of("inbound_message_id", ddb_av_s(c->inbound_message_id), NULL);
        if (!key)
                r = -ENOMEM;
        else
                r = ddb_get_item(c->aws,
                                 &(struct ddb_get_params){
                                         .table = c->table,
                                         .key = key,
                                         .consistent_read = true,
                                 },
                                 holder_read_cb, c, &c->call);
        json_decref(key);
        if (r < 0) {
                c->cb(r, DEDUP_CLAIMED_ELSEWHERE, c->userdata);
                free(c);
        }
}

int dedup_claim(struct aws_client *aws, const char *table, const char *inbound_message_id,
                const char *instance, int64_t now, unsigned ttl_days, dedup_cb cb, void *userdata,
                struct dedup_claim **ret)
{
        struct dedup_claim *c = calloc(1, sizeof(*c));
        json_t *item = NULL;
        int r = -ENOMEM;

        if (!c)
                goto out;
        c->aws = aws;
        c->cb = cb;
        c->userdata = userdata;
        snprintf(c->table, sizeof(c->table), "%s", table);
        snprintf(c->inbound_message_id, sizeof(c->inbound_message_id), "%s", inbound_message_id);
        snprintf(c->instance, sizeof(c->instance), "%s", instance);
        item = ddb_item_of("inbound_message_id", ddb_av_s(inbound_message_id), "claimed_by",
                           ddb_av_s(instance), "claimed_at", ddb_av_n_int(now), "expires_at",
                           ddb_av_n_int(now + (int64_t)ttl_days * 86400), NULL);
        if (!item)
                goto out;
        r = ddb_put_item(aws,
                         &(struct ddb_put_params){
                                 .table = table,
                                 .item = item,
                                 .condition = "attribute_not_exists(inbound_message_id)",
                                 .return_old_on_condition_failure = true,
                         },
                         claim_done_cb, c, &c->call);
        if (r >= 0) {
                if (ret)
                        *ret = c;
                c = NULL; /* the callback owns it now */
        }
out:
        json_decref(item);
        free(c);
        return r;
}

void dedup_claim_cancel(struct dedup_claim *c)
{
        if (c && c->call)
                aws_call_cancel(c->call);
}

int dedup_instance_name(const char *spool_dir, char *buf, size_t size)
{
        sd_id128_t machine;
        char host[256] = "";
        int r;

        r = sd_id128_get_machine(&machine);
        if (r < 0) {
                /* No machine id (containers): the host name has to do. */
                if (gethostname(host, sizeof(host) - 1) < 0)
                        return negative_errno();
                snprintf(buf, size, "%s:%s", host, spool_dir);
                return 0;
        }
        snprintf(buf, size, SD_ID128_FORMAT_STR ":%s", SD_ID128_FORMAT_VAL(machine), spool_dir);
        return 0;
}
