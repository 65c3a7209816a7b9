/*
 * cluster_int.h — what the files of the cluster module share (cluster.c,
 * cluster_lease.c, cluster_sweep.c): the state of struct cluster, the
 * contexts of its own calls, and the helpers between the files. Not for
 * other modules: they use cluster.h.
 */
#ifndef TWOWAYD_CLUSTER_INT_H
#define TWOWAYD_CLUSTER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>
#include <jansson.h>

#include "cluster.h"

struct metrics_family;

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
        /* an adopted record: given back to this instance if it cannot be stored */
        json_t *adopted;
        char *adopted_from;
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
        bool swept; /* this instance's own open records were read (by the first sweep) */

        /* the sweep under way: dead instances, then their open records */
        json_t *dead; /* names: this instance's own (first sweep), then the dead */
        size_t dead_i;
        json_t *page; /* items of the current page */
        size_t page_i;
        json_t *start_key;
        unsigned pages;
        unsigned adopted;

        unsigned leases_held; /* the gauge's value */
        struct metrics_family *m_leases, *m_waits, *m_lost, *m_takeovers, *m_imported, *m_failures;
};

int64_t cluster__now_ms(const struct cluster *cl);

/* The cluster's own calls: one context each, on cl->ops until it ends. */
struct op *cluster__op_new(struct cluster *cl, enum op_kind kind);
/* Start op's request (body stolen; NULL: op->body). */
int cluster__op_start(struct op *op, const char *name, json_t *body);
void cluster__op_free(struct op *op);
void cluster__op_done_cb(int r, const struct ddb_result *res, void *userdata);

/* Store a record this instance adopted from dead_instance in the spool; one
 * that cannot be stored is given back to dead_instance (a background update),
 * so that the next sweep, here or elsewhere, takes it again. */
int cluster__import_adopted(struct cluster *cl, const json_t *item, const char *dead_instance);

/* Completions, by kind of call. */
void cluster__lease_renewed(struct cluster *cl, struct lease *l, int r,
                            const struct ddb_result *res);
void cluster__heartbeat_done(struct cluster *cl, int r, const struct ddb_result *res);
void cluster__sweep_done(struct cluster *cl, struct op *op, int r, const struct ddb_result *res);

/* Timers. */
void cluster__heartbeat_cb(struct ev_loop *loop, ev_timer *w, int revents);
void cluster__sweep_cb(struct ev_loop *loop, ev_timer *w, int revents);
void cluster__sweep_arm(struct cluster *cl);
void cluster__sweep_end(struct cluster *cl);

#endif
