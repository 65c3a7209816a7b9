/*
 * cluster_lease.c — this instance's sender leases (cluster.h): which it
 * holds and for how many jobs, their renewal every lease_seconds/3 while
 * held, their loss (a renewal that finds another holder stops the lane's work
 * here) and their release when the last job lets go.
 */
#include <stdio.h>

#include <ev.h>

#include "aws.h"
#include "cluster.h"
#include "cluster_int.h"
#include "common.h"
#include "ddb.h"
#include "log.h"
#include "metrics.h"

static void set_gauges(struct cluster *cl)
{
        (void)metrics_gauge_set(cl->m_leases, METRICS_NO_LABELS, (double)cl->leases_held);
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
        cl->leases_held--;
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
        op = cluster__op_new(cl, OP_RENEW);
        if (!op)
                return;
        op->lease = l;
        if (cluster__op_start(op, "UpdateItem",
                              cluster_lease_renew_request(&cl->p, l->sender, l->lane,
                                                          cluster__now_ms(cl))) < 0) {
                cluster__op_free(op);
                return;
        }
        l->renewing = op;
}

int cluster_lease_join(struct cluster *cl, const char *sender, enum cluster_lane lane,
                       long long *fence)
{
        struct lease *l = cl && sender ? lease_find(cl, sender, lane) : NULL;

        if (!l)
                return 0;
        l->refs++;
        *fence = l->fence;
        return 1;
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
        cl->leases_held++;
        set_gauges(cl);
        return 0;
}

static void lease_release(struct cluster *cl, const char *sender, enum cluster_lane lane,
                          long long fence)
{
        struct op *op = cluster__op_new(cl, OP_UPDATE);

        if (!op)
                return;
        op->body = cluster_lease_release_request(&cl->p, sender, lane, fence);
        if (!op->body || cluster__op_start(op, "UpdateItem", NULL) < 0)
                cluster__op_free(op);
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

void cluster__lease_renewed(struct cluster *cl, struct lease *l, int r,
                            const struct ddb_result *res)
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
        (void)metrics_counter_inc(cl->m_lost, METRICS_NO_LABELS);
        log_warning("cluster.lease_lost",
                    LOG_FIELDS(LF("PHONE", phone), LF("LANE", cluster_lane_to_string(lane))),
                    "the %s lease of %s was lost to another instance: its work here stops",
                    cluster_lane_to_string(lane), phone);
        lease_unlink(cl, l);
        if (cl->lease_lost)
                cl->lease_lost(sender, lane, cl->lease_lost_userdata);
}
