/*
 * cluster.c — the runtime of cluster mode: the cluster's own calls and their
 * one completion, the background updates of the message records (reply sent,
 * finish, with bounded retries), imports of records into the local spool,
 * and the life of struct cluster. The sender leases are in cluster_lease.c,
 * the heartbeat and the takeover sweep in cluster_sweep.c, the requests in
 * cluster_request.c.
 *
 * Teardown: cluster_free() cancels the calls in flight and orphans their
 * contexts (op->cl NULL); the AWS client completes them later (-ECANCELED)
 * and the callback frees what it finds orphaned. Imports waiting for the
 * spool are orphaned the same way.
 */
#include <stdio.h>

#include <ev.h>

#include "aws.h"
#include "cluster.h"
#include "cluster_int.h"
#include "common.h"
#include "ddb.h"
#include "inbound_sms.h"
#include "jitter.h"
#include "log.h"
#include "metrics.h"

#define CLUSTER_BACKGROUND_TRIES 5   /* finish / reply sent: attempts before giving up */
#define CLUSTER_BACKGROUND_RETRY 1.0 /* seconds between them */

int64_t cluster__now_ms(const struct cluster *cl)
{
        return (int64_t)(ev_now(cl->loop) * 1000.);
}

void cluster_count_lease_wait(struct cluster *cl)
{
        (void)metrics_counter_inc(cl->m_waits, METRICS_NO_LABELS);
}

void cluster_count_failure(struct cluster *cl)
{
        (void)metrics_counter_inc(cl->m_failures, METRICS_NO_LABELS);
}
/* --- calls ------------------------------------------------------------------------- */

int cluster_call(struct cluster *cl, const char *op, json_t *body, cluster_call_cb cb,
                 void *userdata, struct aws_call **ret)
{
        if (!cl) {
                json_decref(body);
                return -EINVAL;
        }
        return ddb_request(cl->aws, op, body, cb, userdata, ret);
}

void cluster__op_free(struct op *op)
{
        if (op->cl) {
                if (op->prev)
                        op->prev->next = op->next;
                else
                        op->cl->ops = op->next;
                if (op->next)
                        op->next->prev = op->prev;
                ev_timer_stop(op->cl->loop, &op->retry);
        }
        json_decref(op->body);
        free(op);
}

struct op *cluster__op_new(struct cluster *cl, enum op_kind kind)
{
        struct op *op = calloc(1, sizeof(*op));

        if (!op)
                return NULL;
        op->cl = cl;
        op->kind = kind;
        op->next = cl->ops;
        if (cl->ops)
                cl->ops->prev = op;
        cl->ops = op;
        return op;
}

/* Start op's request (body stolen; NULL: op->body). */
int cluster__op_start(struct op *op, const char *name, json_t *body)
{
        int r;

        op->op_name = name;
        r = ddb_request(op->cl->aws, name, body ? body : json_incref(op->body), cluster__op_done_cb,
                        op, &op->call);
        if (r < 0)
                op->call = NULL;
        return r;
}
/* --- background updates ------------------------------------------------------------------- */

static void op_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct op *op = w->data;

        if (cluster__op_start(op, op->op_name, NULL) < 0)
                cluster__op_free(op);
}

static void background(struct cluster *cl, json_t *body, const char *what, const char *sender,
                       enum cluster_lane lane, long long fence, bool drop)
{
        struct op *op = body ? cluster__op_new(cl, OP_UPDATE) : NULL;

        if (!op) {
                json_decref(body);
                if (drop)
                        cluster_lease_drop(cl, sender, lane, fence);
                return;
        }
        op->body = body;
        (void)snprintf(op->sender, sizeof(op->sender), "%s", sender ? sender : "");
        op->lane = lane;
        op->fence = fence;
        op->drop = drop;
        ev_timer_init(&op->retry, op_retry_cb, CLUSTER_BACKGROUND_RETRY, 0.);
        op->retry.data = op;
        if (cluster__op_start(op, what, NULL) < 0) {
                if (drop)
                        cluster_lease_drop(cl, sender, lane, fence);
                cluster__op_free(op);
        }
}

void cluster_reply_sent(struct cluster *cl, const struct spool_row *row, const char *message_id)
{
        if (!cl || !row || isempty(message_id))
                return;
        background(cl,
                   cluster_reply_sent_request(&cl->p, row->origination_number, row->received_at,
                                              row->inbound_message_id, message_id),
                   "UpdateItem", NULL, 0, 0, false);
}

void cluster_finish(struct cluster *cl, const struct spool_row *row, long long claim_fence,
                    long long lease_fence, const char *state, const char *outcome)
{
        if (!cl || !row)
                return;
        background(cl,
                   cluster_finish_request(&cl->p, row->origination_number, row->received_at,
                                          row->inbound_message_id, claim_fence, state, outcome,
                                          cluster__now_ms(cl)),
                   "UpdateItem", row->origination_number, cluster_lane_of(row->keyword_class),
                   lease_fence, lease_fence > 0);
}

static void update_done(struct cluster *cl, struct op *op, int r, const struct ddb_result *res)
{
        if (r < 0 && r != -ECANCELED && !(res && res->condition_failed) &&
            ++op->tries < CLUSTER_BACKGROUND_TRIES) {
                cluster_count_failure(cl);
                /* A one-shot timer that fired keeps what was left of its
                 * delay (nothing): set it again, or every later try goes out
                 * at once. */
                ev_timer_set(&op->retry, CLUSTER_BACKGROUND_RETRY, 0.);
                ev_timer_start(cl->loop, &op->retry);
                return;
        }
        if (r < 0 && res && !res->condition_failed && r != -ECANCELED)
                log_warning_errno(r, "cluster.update_failed", LOG_NOFIELDS,
                                  "a cluster record could not be updated, giving up: %m");
        if (op->drop)
                cluster_lease_drop(cl, op->sender, op->lane, op->fence);
        cluster__op_free(op);
}
/* --- imports -------------------------------------------------------------------------------- */

static void import_free(struct import_ctx *ic)
{
        if (ic->cl) {
                if (ic->prev)
                        ic->prev->next = ic->next;
                else
                        ic->cl->imports = ic->next;
                if (ic->next)
                        ic->next->prev = ic->prev;
        }
        json_decref(ic->adopted);
        free(ic->adopted_from);
        free(ic);
}

/* Left assigned to this instance, the record would wait for its restart: no
 * other sweep looks at the records of a live instance. */
static void give_back(struct cluster *cl, const json_t *item, const char *dead_instance, int r)
{
        log_warning_errno(
                r, "cluster.adopt_failed",
                LOG_FIELDS(LF("DEAD_INSTANCE", dead_instance),
                           LF("INBOUND_MESSAGE_ID", ddb_item_get_s(item, "inbound_message_id"))),
                "cannot store an open message taken over from %s, giving it back "
                "for the next sweep: %m",
                dead_instance);
        background(cl, cluster_release_request(&cl->p, item, dead_instance), "UpdateItem", NULL, 0,
                   0, false);
}

static void import_stored_cb(struct spool *s, int r, int64_t id, void *userdata)
{
        struct import_ctx *ic = userdata;

        if (ic->cl && r == 0)
                (void)metrics_counter_inc(ic->cl->m_imported, METRICS_NO_LABELS);
        if (ic->cl && r < 0 && ic->adopted)
                give_back(ic->cl, ic->adopted, ic->adopted_from, r);
        if (ic->cb)
                ic->cb(r, ic->userdata);
        import_free(ic);
}

static int import_item(struct cluster *cl, const json_t *item, const char *adopted_from,
                       cluster_import_cb cb, void *userdata)
{
        struct cluster_msg m;
        struct inbound_sms *sms = NULL;
        struct import_ctx *ic;
        int r;

        r = cluster_msg_from_item(item, &m);
        if (r < 0)
                return r;
        r = inbound_sms_parse(m.raw, strlen(m.raw), &sms, NULL);
        if (r < 0)
                return r;
        ic = calloc(1, sizeof(*ic));
        if (!ic) {
                inbound_sms_free(sms);
                return -ENOMEM;
        }
        ic->cb = cb;
        ic->userdata = userdata;
        if (adopted_from) {
                ic->adopted = json_deep_copy(item);
                ic->adopted_from = strdup(adopted_from);
                if (!ic->adopted || !ic->adopted_from) {
                        inbound_sms_free(sms);
                        import_free(ic);
                        return -ENOMEM;
                }
        }
        r = spool_put(cl->spool,
                      &(struct spool_msg){
                              .sns_message_id = m.sns_message_id,
                              .inbound_message_id = m.inbound_message_id,
                              .topic_arn = m.topic_arn,
                              .origination_number = sms->origination_number,
                              .destination_number = sms->destination_number,
                              .body = sms->message_body,
                              .keyword = sms->message_keyword,
                              .raw = m.raw,
                              .received_at = m.received_at,
                              .keyword_class = m.keyword_class,
                      },
                      import_stored_cb, ic);
        inbound_sms_free(sms);
        if (r < 0) {
                import_free(ic); /* not linked yet */
                return r;
        }
        ic->cl = cl;
        ic->next = cl->imports;
        if (cl->imports)
                cl->imports->prev = ic;
        cl->imports = ic;
        return 0;
}

int cluster_import(struct cluster *cl, const json_t *item, cluster_import_cb cb, void *userdata)
{
        return import_item(cl, item, NULL, cb, userdata);
}

int cluster__import_adopted(struct cluster *cl, const json_t *item, const char *dead_instance)
{
        int r = import_item(cl, item, dead_instance, NULL, NULL);

        if (r < 0)
                give_back(cl, item, dead_instance, r);
        return r;
}

struct cluster_import_batch {
        unsigned pending;
        unsigned new_rows;
        int err;
        bool cancelled;
        cluster_batch_cb cb;
        void *userdata;
};

static void batch_put_cb(int r, void *userdata)
{
        struct cluster_import_batch *b = userdata;

        if (r == 0)
                b->new_rows++;
        else if (r < 0)
                b->err = r;
        if (--b->pending > 0)
                return;
        b->cb(b->cancelled ? -ECANCELED : b->err, b->new_rows, b->userdata);
        free(b);
}

int cluster_import_batch(struct cluster *cl, const json_t *items, const char *skip_sk,
                         cluster_batch_cb cb, void *userdata, struct cluster_import_batch **ret)
{
        struct cluster_import_batch *b = calloc(1, sizeof(*b));
        size_t i;
        json_t *it;
        int r = 0;

        if (!b)
                return -ENOMEM;
        b->cb = cb;
        b->userdata = userdata;
        json_array_foreach(items, i, it) {
                const char *sk = ddb_item_get_s(it, "sk");

                if (!sk || (skip_sk && streq(sk, skip_sk)))
                        continue;
                /* Counted first: the callback never runs inside spool_put(). */
                b->pending++;
                r = cluster_import(cl, it, batch_put_cb, b);
                if (r < 0) {
                        b->pending--;
                        break;
                }
        }
        if (b->pending == 0) {
                free(b);
                return r < 0 ? r : 1;
        }
        if (r < 0)
                b->err = r; /* reported once the puts started are in */
        *ret = b;
        return 0;
}

void cluster_import_batch_cancel(struct cluster_import_batch *b)
{
        if (b)
                b->cancelled = true;
}
/* --- the one completion of the cluster's own calls ------------------------------------------- */

void cluster__op_done_cb(int r, const struct ddb_result *res, void *userdata)
{
        struct op *op = userdata;
        struct cluster *cl = op->cl;

        op->call = NULL;
        if (!cl) {
                cluster__op_free(op);
                return;
        }
        switch (op->kind) {
        case OP_UPDATE:
                update_done(cl, op, r, res);
                return;
        case OP_RENEW:
                if (op->lease)
                        cluster__lease_renewed(cl, op->lease, r, res);
                break;
        case OP_HEARTBEAT:
                cluster__heartbeat_done(cl, r, res);
                break;
        case OP_SWEEP:
                cluster__sweep_done(cl, op, r, res);
                break;
        }
        cluster__op_free(op);
}
/* --- lifecycle -------------------------------------------------------------------------------- */

static void register_metrics(struct cluster *cl)
{
        (void)metrics_gauge_new("twowayd_cluster_leases_held",
                                "Sender leases this instance holds now.", METRICS_NO_LABELS,
                                &cl->m_leases);
        (void)metrics_counter_new("twowayd_cluster_lease_waits_total",
                                  "Messages put back because another instance held their "
                                  "sender's lease.",
                                  METRICS_NO_LABELS, &cl->m_waits);
        (void)metrics_counter_new("twowayd_cluster_leases_lost_total",
                                  "Sender leases this instance lost to another instance (its "
                                  "work on them stopped).",
                                  METRICS_NO_LABELS, &cl->m_lost);
        (void)metrics_counter_new("twowayd_cluster_takeovers_total",
                                  "Open messages of dead instances taken over.", METRICS_NO_LABELS,
                                  &cl->m_takeovers);
        (void)metrics_counter_new("twowayd_cluster_records_imported_total",
                                  "Messages stored in the spool from the cluster table.",
                                  METRICS_NO_LABELS, &cl->m_imported);
        (void)metrics_counter_new("twowayd_cluster_call_failures_total",
                                  "Cluster table calls that failed (unreachable, throttled, 5xx).",
                                  METRICS_NO_LABELS, &cl->m_failures);
}

int cluster_new(const struct cluster_options *o, struct cluster **ret)
{
        struct cluster *cl;

        if (!o || !o->loop || !o->aws || !o->spool || isempty(o->table) || isempty(o->instance) ||
            o->lease_seconds == 0 || !ret)
                return -EINVAL;
        cl = calloc(1, sizeof(*cl));
        if (!cl)
                return -ENOMEM;
        cl->table = strdup(o->table);
        cl->instance = strdup(o->instance);
        if (!cl->table || !cl->instance) {
                free(cl->table);
                free(cl->instance);
                free(cl);
                return -ENOMEM;
        }
        cl->loop = o->loop;
        cl->aws = o->aws;
        cl->spool = o->spool;
        cl->p = (struct cluster_params){
                .table = cl->table,
                .instance = cl->instance,
                .lease_seconds = o->lease_seconds,
                .record_ttl_days = o->record_ttl_days ? o->record_ttl_days : 7,
                .max_age_s = o->max_age_s,
        };
        cl->imported = o->imported;
        cl->imported_userdata = o->userdata;
        cl->started_at = (int64_t)(ev_time() * 1000.);
        cl->rng = jitter_seed(cl);
        cl->healthy = true;
        ev_timer_init(&cl->heartbeat, cluster__heartbeat_cb, 0., o->lease_seconds / 3.);
        cl->heartbeat.data = cl;
        ev_timer_init(&cl->sweep, cluster__sweep_cb, 0., 0.);
        cl->sweep.data = cl;
        register_metrics(cl);
        *ret = cl;
        return 0;
}

void cluster_start(struct cluster *cl, cluster_ready_fn ready, void *userdata)
{
        if (!cl)
                return;
        cl->ready = ready;
        cl->ready_userdata = userdata;
        ev_timer_again(cl->loop, &cl->heartbeat);
        cluster__heartbeat_cb(cl->loop, &cl->heartbeat, 0);
        cluster__sweep_arm(cl);
}

struct cluster *cluster_free(struct cluster *cl)
{
        if (!cl)
                return NULL;
        ev_timer_stop(cl->loop, &cl->heartbeat);
        ev_timer_stop(cl->loop, &cl->sweep);
        while (cl->leases) {
                struct lease *l = cl->leases;

                cl->leases = l->next;
                ev_timer_stop(cl->loop, &l->renew);
                if (l->renewing)
                        l->renewing->lease = NULL;
                free(l);
        }
        while (cl->ops) {
                struct op *op = cl->ops;

                cl->ops = op->next;
                ev_timer_stop(cl->loop, &op->retry);
                op->cl = NULL;
                op->prev = op->next = NULL;
                if (op->call)
                        aws_call_cancel(op->call); /* its callback frees it */
                else
                        cluster__op_free(op);
        }
        for (struct import_ctx *ic = cl->imports; ic; ic = ic->next)
                ic->cl = NULL;
        cluster__sweep_end(cl);
        free(cl->table);
        free(cl->instance);
        free(cl);
        return NULL;
}

const struct cluster_params *cluster_params(const struct cluster *cl)
{
        return cl ? &cl->p : NULL;
}

void cluster_set_lease_lost(struct cluster *cl, cluster_lease_lost_fn fn, void *userdata)
{
        if (!cl)
                return;
        cl->lease_lost = fn;
        cl->lease_lost_userdata = userdata;
}

void cluster_set_limits(struct cluster *cl, unsigned max_age_s, unsigned record_ttl_days)
{
        if (!cl)
                return;
        cl->p.max_age_s = max_age_s;
        if (record_ttl_days > 0)
                cl->p.record_ttl_days = record_ttl_days;
}

bool cluster_is_healthy(const struct cluster *cl)
{
        return !cl || cl->healthy;
}
