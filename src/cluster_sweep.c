/*
 * cluster_sweep.c — this instance's heartbeat (every lease_seconds/3) and
 * the takeover sweep (every lease_seconds/2, jittered): instances whose
 * heartbeat is older than lease_seconds are dead, and their open records
 * (the open-by index) move to this instance, one conditional write each, and
 * into its spool. The first sweep after the start also stores this
 * instance's own open records, every page of them and without a write (the
 * spool deduplicates): no other instance takes the records of a live one, so
 * a spool lost under the same instance name would otherwise never see them.
 */
#include <stdio.h>

#include <ev.h>

#include "cluster.h"
#include "cluster_int.h"
#include "common.h"
#include "ddb.h"
#include "jitter.h"
#include "log.h"
#include "metrics.h"

#define CLUSTER_SWEEP_PAGES 5 /* open-by pages per dead instance per sweep */

static json_t *unref(json_t *j)
{
        json_decref(j);
        return NULL;
}

/* --- heartbeat ------------------------------------------------------------------------------ */

void cluster__heartbeat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct cluster *cl = w->data;
        struct op *op = cluster__op_new(cl, OP_HEARTBEAT);

        if (op &&
            cluster__op_start(op, "PutItem",
                              cluster_heartbeat_request(&cl->p, TWOWAYD_VERSION, cl->started_at,
                                                        cluster__now_ms(cl))) < 0)
                cluster__op_free(op);
}

void cluster__heartbeat_done(struct cluster *cl, int r, const struct ddb_result *res)
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

void cluster__sweep_end(struct cluster *cl)
{
        cl->dead = unref(cl->dead);
        cl->page = unref(cl->page);
        cl->start_key = unref(cl->start_key);
}

void cluster__sweep_arm(struct cluster *cl)
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
        struct op *op = cluster__op_new(cl, OP_SWEEP);

        if (!op) {
                json_decref(body);
                return -ENOMEM;
        }
        if (cluster__op_start(op, name, body) < 0) {
                cluster__op_free(op);
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
        bool own;

        for (;;) {
                dead = json_string_value(json_array_get(cl->dead, cl->dead_i));
                if (!dead) {
                        cluster__sweep_end(cl);
                        cluster__sweep_arm(cl);
                        return;
                }
                own = streq(dead, cl->instance);
                item = json_array_get(cl->page, cl->page_i);
                if (item && own) {
                        if (cluster_import(cl, item, NULL, NULL) >= 0)
                                cl->adopted++;
                        cl->page_i++;
                        continue;
                }
                if (item) {
                        if (sweep_start(cl, "UpdateItem",
                                        cluster_adopt_request(&cl->p, item, dead)) >= 0)
                                return;
                        cl->page_i++;
                        continue;
                }
                if (!cl->page || (cl->start_key && (own || cl->pages < CLUSTER_SWEEP_PAGES))) {
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
        int64_t cutoff = cluster__now_ms(cl) - (int64_t)cl->p.lease_seconds * 1000;
        size_t i;
        json_t *it;

        cl->dead = json_array();
        if (!cl->swept)
                (void)json_array_append_new(cl->dead, json_string(cl->instance));
        cl->swept = true;
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

void cluster__sweep_done(struct cluster *cl, struct op *op, int r, const struct ddb_result *res)
{
        if (r == -ECANCELED)
                return;
        if (streq(op->op_name, "Query") && !cl->dead) {
                /* The instances. */
                if (r < 0) {
                        cluster_count_failure(cl);
                        cluster__sweep_arm(cl);
                        return;
                }
                sweep_instances(cl, res->items);
        } else if (streq(op->op_name, "Query")) {
                if (r < 0) {
                        cluster_count_failure(cl);
                        if (streq_ptr(json_string_value(json_array_get(cl->dead, cl->dead_i)),
                                      cl->instance))
                                cl->swept = false; /* the next sweep reads them again */
                        cl->start_key = unref(cl->start_key);
                        cl->page = json_array(); /* end this instance's pages */
                } else {
                        cl->page = res->items ? json_incref(res->items) : json_array();
                        json_decref(cl->start_key);
                        cl->start_key = json_incref(res->last_key);
                }
        } else {
                /* An adoption: the winner stores the record; a loser skips it. */
                json_t *item = json_array_get(cl->page, cl->page_i++);
                const char *dead = json_string_value(json_array_get(cl->dead, cl->dead_i));

                if (r >= 0 && cluster__import_adopted(cl, item, dead) >= 0)
                        cl->adopted++;
                else if (r < 0 && !(res && res->condition_failed))
                        cluster_count_failure(cl);
        }
        sweep_next(cl);
}

void cluster__sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct cluster *cl = w->data;

        if (cl->dead || sweep_start(cl, "Query", cluster_instances_request(&cl->p)) < 0)
                cluster__sweep_arm(cl);
}
