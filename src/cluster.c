/*
 * cluster.c — the runtime of cluster mode: this instance's sender leases
 * (renewal, loss, release), the background updates of the message records
 * (reply sent, finish, with bounded retries), imports of records into the
 * local spool, the heartbeat and the takeover sweep. The requests themselves
 * are built in cluster_request.c.
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
#include "common.h"
#include "ddb.h"
#include "inbound_sms.h"
#include "jitter.h"
#include "log.h"
#include "metrics.h"

#define CLUSTER_BACKGROUND_TRIES 5   /* finish / reply sent: attempts before giving up */
#define CLUSTER_BACKGROUND_RETRY 1.0 /* seconds between them */
#define CLUSTER_SWEEP_PAGES      5   /* open-by pages per dead instance per sweep */

struct lease {
        struct cluster *cl;
        struct lease *next;
        char sender[SPOOL_ID_MAX];
        enum cluster_lane lane;
        long long fence;
        unsigned refs;
        ev_timer renew;
        struct op *renewing;
};

enum op_kind {
        OP_UPDATE, /* reply sent, finish, release: retried in the background */
        OP_RENEW,
        OP_HEARTBEAT,
        OP_SWEEP,
};

struct op {
        struct cluster *cl; /* NULL: orphaned */
        struct op *prev, *next;
        enum op_kind kind;
        struct aws_call *call;
        json_t *body; /* OP_UPDATE: kept for the retries */
        const char *op_name;
        unsigned tries;
        ev_timer retry;
        struct lease *lease; /* OP_RENEW */
        /* OP_UPDATE of a finish: the lease to drop afterwards */
        char sender[SPOOL_ID_MAX];
        enum cluster_lane lane;
        long long fence;
        bool drop;
};

struct import_ctx {
        struct cluster *cl; /* NULL: orphaned */
        struct import_ctx *prev, *next;
        cluster_import_cb cb;
        void *userdata;
};

struct cluster {
        struct ev_loop *loop;
        struct aws_client *aws;
        struct spool *spool;
        struct cluster_params p;
        char *table;
        char *instance;
        int64_t started_at;
        uint64_t rng;

        cluster_imported_fn imported;
        void *imported_userdata;
        cluster_lease_lost_fn lease_lost;
        void *lease_lost_userdata;
        cluster_ready_fn ready;
        void *ready_userdata;

        struct lease *leases;
        struct op *ops;
        struct import_ctx *imports;

        ev_timer heartbeat;
        ev_timer sweep;
        bool healthy;
        bool heartbeat_failing;
        bool swept; /* the first sweep also takes this instance's own open records */

        /* the sweep under way: dead instances, then their open records */
        json_t *dead; /* array of names */
        size_t dead_i;
        json_t *page; /* items of the current page */
        size_t page_i;
        json_t *start_key;
        unsigned pages;
        unsigned adopted;

        struct cluster_stats stats;
        struct metrics_family *m_leases, *m_waits, *m_takeovers, *m_imported, *m_failures;
};

static json_t *unref(json_t *j)
{
        json_decref(j);
        return NULL;
}

static int64_t now_ms(const struct cluster *cl)
{
        return (int64_t)(ev_now(cl->loop) * 1000.);
}

static void set_gauges(struct cluster *cl)
{
        (void)metrics_gauge_set(cl->m_leases, METRICS_NO_LABELS, (double)cl->stats.leases_held);
}

void cluster_count_lease_wait(struct cluster *cl)
{
        cl->stats.lease_waits++;
        (void)metrics_counter_inc(cl->m_waits, METRICS_NO_LABELS);
}

void cluster_count_failure(struct cluster *cl)
{
        cl->stats.call_failures++;
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

static void op_free(struct op *op)
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

static struct op *op_new(struct cluster *cl, enum op_kind kind)
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

static void op_done_cb(int r, const struct ddb_result *res, void *userdata);

/* Start op's request (body borrowed, or op->body). */
static int op_start(struct op *op, const char *name, json_t *body)
{
        int r;

        op->op_name = name;
        r = ddb_request(op->cl->aws, name, body ? body : json_incref(op->body), op_done_cb, op,
                        &op->call);
        if (r < 0)
                op->call = NULL;
        return r;
}

/* --- leases --------------------------------------------------------------------------- */

static struct lease *lease_find(struct cluster *cl, const char *sender, enum cluster_lane lane)
{
        for (struct lease *l = cl->leases; l; l = l->next)
                if (l->lane == lane && streq(l->sender, sender))
                        return l;
        return NULL;
}

static void lease_unlink(struct cluster *cl, struct lease *l)
{
        for (struct lease **p = &cl->leases; *p; p = &(*p)->next)
                if (*p == l) {
                        *p = l->next;
                        break;
                }
        ev_timer_stop(cl->loop, &l->renew);
        if (l->renewing) {
                l->renewing->lease = NULL;
                if (l->renewing->call)
                        aws_call_cancel(l->renewing->call);
        }
        cl->stats.leases_held--;
        set_gauges(cl);
        free(l);
}

static void lease_renew_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct lease *l = w->data;
        struct cluster *cl = l->cl;
        struct op *op;

        if (l->renewing)
                return;
        op = op_new(cl, OP_RENEW);
        if (!op)
                return;
        op->lease = l;
        if (op_start(op, "UpdateItem",
                     cluster_lease_renew_request(&cl->p, l->sender, l->lane, now_ms(cl))) < 0) {
                op_free(op);
                return;
        }
        l->renewing = op;
}

bool cluster_lease_is_held(struct cluster *cl, const char *sender, enum cluster_lane lane)
{
        return cl && sender && lease_find(cl, sender, lane);
}

int cluster_lease_hold(struct cluster *cl, const char *sender, enum cluster_lane lane,
                       long long fence)
{
        struct lease *l = lease_find(cl, sender, lane);
        double every = cl->p.lease_seconds / 3.;

        if (l) {
                l->fence = fence; /* a renewal keeps it; a new take raised it */
                l->refs++;
                return 0;
        }
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->cl = cl;
        (void)snprintf(l->sender, sizeof(l->sender), "%s", sender);
        l->lane = lane;
        l->fence = fence;
        l->refs = 1;
        ev_timer_init(&l->renew, lease_renew_cb, every, every);
        l->renew.data = l;
        ev_timer_start(cl->loop, &l->renew);
        l->next = cl->leases;
        cl->leases = l;
        cl->stats.leases_held++;
        set_gauges(cl);
        return 0;
}

static void lease_release(struct cluster *cl, const char *sender, enum cluster_lane lane,
                          long long fence)
{
        struct op *op = op_new(cl, OP_UPDATE);

        if (!op)
                return;
        op->body = cluster_lease_release_request(&cl->p, sender, lane, fence);
        if (!op->body || op_start(op, "UpdateItem", NULL) < 0)
                op_free(op);
}

void cluster_lease_drop(struct cluster *cl, const char *sender, enum cluster_lane lane,
                        long long fence)
{
        struct lease *l;

        if (!cl || !sender)
                return;
        l = lease_find(cl, sender, lane);
        if (!l || l->fence != fence)
                return; /* lost meanwhile, or taken again under a new fence */
        if (--l->refs > 0)
                return;
        lease_unlink(cl, l);
        /* Let the sender's next message go elsewhere at once rather than at expiry. */
        lease_release(cl, sender, lane, fence);
}

static void lease_renewed(struct cluster *cl, struct lease *l, int r, const struct ddb_result *res)
{
        char sender[SPOOL_ID_MAX], phone[LOG_PHONE_MAX];
        enum cluster_lane lane = l->lane;

        l->renewing = NULL;
        if (r >= 0)
                return;
        if (!res || !res->condition_failed) {
                /* Unknown: the next renewal tries again; the fence guards the record. */
                cluster_count_failure(cl);
                return;
        }
        (void)snprintf(sender, sizeof(sender), "%s", l->sender);
        (void)log_phone(phone, sizeof(phone), sender);
        cl->stats.leases_lost++;
        log_warning("cluster.lease_lost",
                    LOG_FIELDS(LF("PHONE", phone), LF("LANE", cluster_lane_to_string(lane))),
                    "the %s lease of %s was lost to another instance: its work here stops",
                    cluster_lane_to_string(lane), phone);
        lease_unlink(cl, l);
        if (cl->lease_lost)
                cl->lease_lost(sender, lane, cl->lease_lost_userdata);
}

/* --- background updates ------------------------------------------------------------------- */

static void op_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct op *op = w->data;

        if (op_start(op, op->op_name, NULL) < 0)
                op_free(op);
}

static void background(struct cluster *cl, json_t *body, const char *what, const char *sender,
                       enum cluster_lane lane, long long fence, bool drop)
{
        struct op *op = body ? op_new(cl, OP_UPDATE) : NULL;

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
        if (op_start(op, what, NULL) < 0) {
                if (drop)
                        cluster_lease_drop(cl, sender, lane, fence);
                op_free(op);
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

void cluster_finish(struct cluster *cl, const struct spool_row *row, long long fence,
                    const char *state, const char *outcome)
{
        if (!cl || !row)
                return;
        background(cl,
                   cluster_finish_request(&cl->p, row->origination_number, row->received_at,
                                          row->inbound_message_id, fence, state, outcome,
                                          now_ms(cl)),
                   "UpdateItem", row->origination_number, cluster_lane_of(row->keyword_class),
                   fence, true);
}

static void update_done(struct cluster *cl, struct op *op, int r, const struct ddb_result *res)
{
        if (r < 0 && r != -ECANCELED && !(res && res->condition_failed) &&
            ++op->tries < CLUSTER_BACKGROUND_TRIES) {
                cluster_count_failure(cl);
                ev_timer_start(cl->loop, &op->retry);
                return;
        }
        if (r < 0 && res && !res->condition_failed && r != -ECANCELED)
                log_warning_errno(r, "cluster.update_failed", LOG_NOFIELDS,
                                  "a cluster record could not be updated, giving up: %m");
        if (op->drop)
                cluster_lease_drop(cl, op->sender, op->lane, op->fence);
        op_free(op);
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
        free(ic);
}

static void import_stored_cb(struct spool *s, int r, int64_t id, void *userdata)
{
        struct import_ctx *ic = userdata;

        if (ic->cl && r == 0) {
                ic->cl->stats.imported++;
                (void)metrics_counter_inc(ic->cl->m_imported, METRICS_NO_LABELS);
        }
        if (ic->cb)
                ic->cb(r, ic->userdata);
        import_free(ic);
}

int cluster_import(struct cluster *cl, const json_t *item, cluster_import_cb cb, void *userdata)
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
        ic->cl = cl;
        ic->cb = cb;
        ic->userdata = userdata;
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
                free(ic);
                return r;
        }
        ic->next = cl->imports;
        if (cl->imports)
                cl->imports->prev = ic;
        cl->imports = ic;
        return 0;
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

/* --- heartbeat ------------------------------------------------------------------------------ */

static void heartbeat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct cluster *cl = w->data;
        struct op *op = op_new(cl, OP_HEARTBEAT);

        if (op && op_start(op, "PutItem",
                           cluster_heartbeat_request(&cl->p, TWOWAYD_VERSION, cl->started_at,
                                                     now_ms(cl))) < 0)
                op_free(op);
}

static void heartbeat_done(struct cluster *cl, int r, const struct ddb_result *res)
{
        cluster_ready_fn ready = cl->ready;

        if (r == -ECANCELED)
                return;
        if (r < 0) {
                cluster_count_failure(cl);
                if (!cl->heartbeat_failing)
                        log_warning_errno(r, "cluster.heartbeat_failed",
                                          LOG_FIELDS(LF("CLUSTER_TABLE", cl->table)),
                                          "cannot write this instance's heartbeat to %s (will "
                                          "keep trying; other instances will take over its "
                                          "work): %m",
                                          cl->table);
                cl->heartbeat_failing = true;
        } else if (cl->heartbeat_failing) {
                log_info("cluster.heartbeat_restored", LOG_FIELDS(LF("CLUSTER_TABLE", cl->table)),
                         "heartbeats to %s are written again", cl->table);
                cl->heartbeat_failing = false;
        }
        cl->healthy = r >= 0;
        cl->ready = NULL;
        if (ready)
                ready(cl->ready_userdata);
}

/* --- takeover sweep ------------------------------------------------------------------------- */

static void sweep_next(struct cluster *cl);

static void sweep_end(struct cluster *cl)
{
        cl->dead = unref(cl->dead);
        cl->page = unref(cl->page);
        cl->start_key = unref(cl->start_key);
}

static void sweep_arm(struct cluster *cl)
{
        double every = cl->p.lease_seconds / 2.;

        ev_timer_stop(cl->loop, &cl->sweep);
        ev_timer_set(&cl->sweep, every + every * 0.2 * jitter_next(&cl->rng), 0.);
        ev_timer_start(cl->loop, &cl->sweep);
}

static void sweep_log(struct cluster *cl)
{
        const char *dead = json_string_value(json_array_get(cl->dead, cl->dead_i));
        char n[16];

        if (cl->adopted == 0)
                return;
        (void)snprintf(n, sizeof(n), "%u", cl->adopted);
        if (dead && streq(dead, cl->instance))
                log_info("cluster.own_records", LOG_FIELDS(LF("COUNT", n)),
                         "%s open message(s) of this instance are in the cluster table: each "
                         "is in the spool",
                         n);
        else {
                cl->stats.takeovers += cl->adopted;
                (void)metrics_counter_add(cl->m_takeovers, METRICS_NO_LABELS, cl->adopted);
                log_notice("cluster.takeover",
                           LOG_FIELDS(LF("DEAD_INSTANCE", dead), LF("COUNT", n)),
                           "took over %s open message(s) of dead instance %s", n, dead);
        }
        if (cl->imported)
                cl->imported(cl->imported_userdata);
}

static int sweep_start(struct cluster *cl, const char *name, json_t *body)
{
        struct op *op = op_new(cl, OP_SWEEP);

        if (!op) {
                json_decref(body);
                return -ENOMEM;
        }
        if (op_start(op, name, body) < 0) {
                op_free(op);
                return -EIO;
        }
        return 0;
}

/* The next step of the sweep: the next record of the page, the next page, the
 * next dead instance, or the end. */
static void sweep_next(struct cluster *cl)
{
        const char *dead;
        json_t *item;

        for (;;) {
                dead = json_string_value(json_array_get(cl->dead, cl->dead_i));
                if (!dead) {
                        sweep_end(cl);
                        sweep_arm(cl);
                        return;
                }
                item = json_array_get(cl->page, cl->page_i);
                if (item) {
                        if (sweep_start(cl, "UpdateItem",
                                        cluster_adopt_request(&cl->p, item, dead)) >= 0)
                                return;
                        cl->page_i++;
                        continue;
                }
                if (!cl->page || (cl->start_key && cl->pages < CLUSTER_SWEEP_PAGES)) {
                        cl->page = unref(cl->page);
                        cl->page_i = 0;
                        cl->pages++;
                        if (sweep_start(cl, "Query",
                                        cluster_open_by_request(&cl->p, dead, cl->start_key)) >= 0)
                                return;
                }
                sweep_log(cl);
                cl->dead_i++;
                cl->page = unref(cl->page);
                cl->start_key = unref(cl->start_key);
                cl->pages = 0;
                cl->adopted = 0;
        }
}

static void sweep_instances(struct cluster *cl, const json_t *items)
{
        int64_t cutoff = now_ms(cl) - (int64_t)cl->p.lease_seconds * 1000;
        size_t i;
        json_t *it;

        cl->dead = json_array();
        json_array_foreach(items, i, it) {
                const char *name = ddb_item_get_s(it, "instance");
                long long at;

                if (!name || streq(name, cl->instance) ||
                    ddb_item_get_n_int(it, "heartbeat_at", &at) < 0 || at >= cutoff)
                        continue;
                (void)json_array_append_new(cl->dead, json_string(name));
        }
        cl->dead_i = 0;
        cl->page = NULL;
        cl->start_key = NULL;
        cl->pages = 0;
        cl->adopted = 0;
}

static void sweep_done(struct cluster *cl, struct op *op, int r, const struct ddb_result *res)
{
        if (r == -ECANCELED)
                return;
        if (streq(op->op_name, "Query") && !cl->dead) {
                /* The instances. */
                if (r < 0) {
                        cluster_count_failure(cl);
                        sweep_arm(cl);
                        return;
                }
                sweep_instances(cl, res->items);
        } else if (streq(op->op_name, "Query")) {
                if (r < 0) {
                        cluster_count_failure(cl);
                        cl->start_key = unref(cl->start_key);
                        cl->page = json_array(); /* end this instance's pages */
                } else {
                        cl->page = json_incref(res->items ? res->items : json_array());
                        json_decref(cl->start_key);
                        cl->start_key = json_incref(res->last_key);
                }
        } else {
                /* An adoption: the winner stores the record; a loser skips it. */
                json_t *item = json_array_get(cl->page, cl->page_i++);

                if (r >= 0 && cluster_import(cl, item, NULL, NULL) >= 0)
                        cl->adopted++;
                else if (r < 0 && !(res && res->condition_failed))
                        cluster_count_failure(cl);
        }
        sweep_next(cl);
}

static void sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct cluster *cl = w->data;

        if (cl->dead || sweep_start(cl, "Query", cluster_instances_request(&cl->p)) < 0)
                sweep_arm(cl);
}

/* --- the one completion of the cluster's own calls ------------------------------------------- */

static void op_done_cb(int r, const struct ddb_result *res, void *userdata)
{
        struct op *op = userdata;
        struct cluster *cl = op->cl;

        op->call = NULL;
        if (!cl) {
                op_free(op);
                return;
        }
        switch (op->kind) {
        case OP_UPDATE:
                update_done(cl, op, r, res);
                return;
        case OP_RENEW:
                if (op->lease)
                        lease_renewed(cl, op->lease, r, res);
                break;
        case OP_HEARTBEAT:
                heartbeat_done(cl, r, res);
                break;
        case OP_SWEEP:
                sweep_done(cl, op, r, res);
                break;
        }
        op_free(op);
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
        ev_timer_init(&cl->heartbeat, heartbeat_cb, 0., o->lease_seconds / 3.);
        cl->heartbeat.data = cl;
        ev_timer_init(&cl->sweep, sweep_cb, 0., 0.);
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
        heartbeat_cb(cl->loop, &cl->heartbeat, 0);
        sweep_arm(cl);
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
                        op_free(op);
        }
        for (struct import_ctx *ic = cl->imports; ic; ic = ic->next)
                ic->cl = NULL;
        sweep_end(cl);
        free(cl->table);
        free(cl->instance);
        free(cl);
        return NULL;
}

const struct cluster_params *cluster_params(const struct cluster *cl)
{
        return cl ? &cl->p : NULL;
}

struct aws_client *cluster_aws(const struct cluster *cl)
{
        return cl ? cl->aws : NULL;
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

void cluster_get_stats(const struct cluster *cl, struct cluster_stats *ret)
{
        if (cl && ret)
                *ret = cl->stats;
}
