/*
 * cluster.h — cluster mode: several instances share one DynamoDB table
 * ([cluster] table) as the record of every acknowledged message, take
 * per-sender leases with fencing tokens, and take over the work of an
 * instance that died.
 *
 * Every cross-instance decision is ONE conditional write on ONE item:
 *
 *   message record  pk "sender#<E.164>", sk "msg#<received_at ms, 13 digits>#<inboundMessageId>".
 *                   Written by the ingress before the 200 (PutItem,
 *                   attribute_not_exists(sk)); claimed by the dispatcher with
 *                   the lease's fence (owner, owner_fence); the reply marker
 *                   (reply_state 'sending', conditioned on the fence) before
 *                   SendTextMessage; finished (state done/dead/superseded,
 *                   open_by removed) when the local row ends. received_at is
 *                   the SNS envelope's Timestamp in ms, the same on every
 *                   instance and every redelivery, so the key and the
 *                   sender's order are the same everywhere.
 *   sender lease    same partition, sk "lease#conversation" | "lease#consent":
 *                   holder, fence, lease_until. Joined when held here, else taken; renewed while
 *                   this instance has a job of that sender and lane; released
 *                   when the last one ends.
 *   heartbeat       pk "cluster", sk "instance#<name>": heartbeat_at.
 *   takeover        an instance whose heartbeat is older than lease_seconds is
 *                   dead: its open records (GSI open-by) move to a live
 *                   instance (UpdateItem open_by, conditioned on the dead one)
 *                   and are stored in that instance's spool. The first sweep
 *                   after the start also stores this instance's own open
 *                   records (the spool deduplicates): a spool lost under the
 *                   same instance name loses nothing the table has.
 *
 * The request builders are pure (exposed for tests). The calls follow the
 * callback contract of aws.h: if a start function returns an error the
 * callback is never called, otherwise exactly once, from the loop.
 *
 * Ownership: struct cluster is owned by the service (cluster_free()); it
 * borrows the loop, the AWS client and the spool, which outlive it. Strings
 * passed in are copied where they outlive the call.
 */
#ifndef TWOWAYD_CLUSTER_H
#define TWOWAYD_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "spool.h"

struct ev_loop;
struct aws_client;
struct aws_call;
struct aws_error;
struct cluster;
struct ddb_result;

#define CLUSTER_NAME_MAX    320
#define CLUSTER_SK_MAX      320
#define CLUSTER_QUERY_LIMIT 100 /* records read per Query page */
/* Pages of a sender's earlier records the order check reads per attempt: a
 * sender with more records than this within [dispatch] max_age is claimed
 * after a warning, its order checked only that far. */
#define CLUSTER_ORDER_PAGES 50

/* The two lanes of a sender: consent keywords never wait behind an answer. */
enum cluster_lane {
        CLUSTER_LANE_CONVERSATION,
        CLUSTER_LANE_CONSENT,
        _CLUSTER_LANE_MAX,
};

/* What the table's requests need to know. */
struct cluster_params {
        const char *table;
        const char *instance;
        unsigned lease_seconds;
        unsigned record_ttl_days;
        unsigned max_age_s; /* [dispatch] max_age: how long an open record may wait */
};

/* A message, as the record holds it. */
struct cluster_msg {
        const char *sender; /* origination number */
        const char *inbound_message_id;
        const char *sns_message_id;
        const char *destination;
        const char *topic_arn;
        const char *raw; /* the SNS Message text as received */
        int64_t received_at;
        enum spool_class keyword_class;
};

/* --- pure helpers --------------------------------------------------------------- */

/* The SNS Timestamp ("2012-04-26T20:45:04.751Z") in ms, from its seconds (as
 * sns_message.h parsed them) and the fraction of the text. */
int64_t cluster_timestamp_ms(const char *timestamp, int64_t seconds);
enum cluster_lane cluster_lane_of(enum spool_class c);
const char *cluster_lane_to_string(enum cluster_lane lane);
/* "msg#0001767225600000#<id>" into buf; -ENAMETOOLONG */
int cluster_record_sk(char *buf, size_t size, int64_t received_at, const char *inbound_message_id);

/* Request bodies (new references, NULL on invalid input / OOM). now in ms. */
json_t *cluster_record_put_request(const struct cluster_params *p, const struct cluster_msg *m,
                                   int64_t now);
json_t *cluster_lease_renew_request(const struct cluster_params *p, const char *sender,
                                    enum cluster_lane lane, int64_t now);
json_t *cluster_lease_take_request(const struct cluster_params *p, const char *sender,
                                   enum cluster_lane lane, int64_t now);
json_t *cluster_lease_release_request(const struct cluster_params *p, const char *sender,
                                      enum cluster_lane lane, long long fence);
json_t *cluster_claim_request(const struct cluster_params *p, const struct cluster_msg *m,
                              long long fence, int64_t now);
json_t *cluster_record_get_request(const struct cluster_params *p, const char *sender,
                                   int64_t received_at, const char *inbound_message_id);
/* after_sk: NULL for the first page, else the sk of the page's
 * LastEvaluatedKey. */
json_t *cluster_earlier_open_request(const struct cluster_params *p, const char *sender,
                                     int64_t received_at, const char *inbound_message_id,
                                     const char *after_sk);
json_t *cluster_marker_request(const struct cluster_params *p, const char *sender,
                               int64_t received_at, const char *inbound_message_id, long long fence,
                               int64_t now);
json_t *cluster_reply_sent_request(const struct cluster_params *p, const char *sender,
                                   int64_t received_at, const char *inbound_message_id,
                                   const char *message_id);
/* fence > 0: the record was claimed under fence; 0: not claimed by this
 * row's job (closed if open and claimed by no other instance). */
json_t *cluster_finish_request(const struct cluster_params *p, const char *sender,
                               int64_t received_at, const char *inbound_message_id, long long fence,
                               const char *state, const char *outcome, int64_t now);
json_t *cluster_heartbeat_request(const struct cluster_params *p, const char *version,
                                  int64_t started_at, int64_t now);
json_t *cluster_instances_request(const struct cluster_params *p);
json_t *cluster_open_by_request(const struct cluster_params *p, const char *instance,
                                const json_t *start_key);
json_t *cluster_adopt_request(const struct cluster_params *p, const json_t *key,
                              const char *dead_instance);
/* The adoption undone: the record goes back to dead_instance, for the next
 * sweep of any instance. */
json_t *cluster_release_request(const struct cluster_params *p, const json_t *key,
                                const char *dead_instance);

/* A record read back (GetItem, Query) as a message for spool_put(): strings
 * borrowed from item. -EINVAL when it lacks what a spool row needs. */
int cluster_msg_from_item(const json_t *item, struct cluster_msg *ret);

/* --- the runtime ------------------------------------------------------------------ */

/* A lease of (sender, lane) held by this instance was lost (a renewal found
 * another holder): the jobs of that lane that have not committed a send must
 * stop. */
typedef void (*cluster_lease_lost_fn)(const char *sender, enum cluster_lane lane, void *userdata);
/* Records were stored in the spool by a takeover or an import. */
typedef void (*cluster_imported_fn)(void *userdata);

struct cluster_options {
        struct ev_loop *loop;
        struct aws_client *aws;
        struct spool *spool;
        const char *table;
        const char *instance;
        unsigned lease_seconds;
        unsigned record_ttl_days;
        unsigned max_age_s;
        cluster_imported_fn imported;
        void *userdata;
};

int cluster_new(const struct cluster_options *o, struct cluster **ret);
/* Cancels what is in flight; leases are not released (they expire). */
struct cluster *cluster_free(struct cluster *cl);
const struct cluster_params *cluster_params(const struct cluster *cl);
void cluster_set_lease_lost(struct cluster *cl, cluster_lease_lost_fn fn, void *userdata);
void cluster_set_limits(struct cluster *cl, unsigned max_age_s, unsigned record_ttl_days);

/* Heartbeats and takeover sweeps start; ready (may be NULL) is called once,
 * after the first heartbeat answered (or failed). */
typedef void (*cluster_ready_fn)(void *userdata);
void cluster_start(struct cluster *cl, cluster_ready_fn ready, void *userdata);
/* false while heartbeats fail (for /healthz). */
bool cluster_is_healthy(const struct cluster *cl);

/* Plain call of one of the requests above, with the client of the cluster. */
typedef void (*cluster_call_cb)(int r, const struct ddb_result *res, void *userdata);
int cluster_call(struct cluster *cl, const char *op, json_t *body, cluster_call_cb cb,
                 void *userdata, struct aws_call **ret);

/* A lease this instance holds now is shared, not asked for again: when
 * (sender, lane) is held here, the job joins the holders at once (as
 * cluster_lease_hold() would, with the holders' fence in *fence) and 1 is
 * returned; 0 when it is not held (the job takes it). No request is made:
 * one sent while the last holder lets go would race this instance's own
 * release, which could land after it and free the lease under a job that
 * believes it holds it. The renewal timer keeps a held lease alive, and the
 * fence guards the record should it have been lost meanwhile. */
int cluster_lease_join(struct cluster *cl, const char *sender, enum cluster_lane lane,
                       long long *fence);
/* The lease bookkeeping of this instance: after a successful acquire the job
 * holds (sender, lane) with fence; renewals run while anything holds it, and
 * the last drop releases it. A drop of a lease that was lost is a no-op. */
int cluster_lease_hold(struct cluster *cl, const char *sender, enum cluster_lane lane,
                       long long fence);
void cluster_lease_drop(struct cluster *cl, const char *sender, enum cluster_lane lane,
                        long long fence);
/* Store a record read from the table in the local spool (the spool
 * deduplicates). cb(r) with spool_put()'s r (0 new, 1 already there). */
typedef void (*cluster_import_cb)(int r, void *userdata);
int cluster_import(struct cluster *cl, const json_t *item, cluster_import_cb cb, void *userdata);
/* Store the records of items (a Query's) in the local spool, but the one
 * whose sk is skip_sk. 1: nothing to store (cb is never called); 0: cb(r,
 * new_rows) once every put is in, new_rows those that were not stored here
 * yet. Cancel: cb later with -ECANCELED (the puts still complete). */
struct cluster_import_batch;
typedef void (*cluster_batch_cb)(int r, unsigned new_rows, void *userdata);
int cluster_import_batch(struct cluster *cl, const json_t *items, const char *skip_sk,
                         cluster_batch_cb cb, void *userdata, struct cluster_import_batch **ret);
void cluster_import_batch_cancel(struct cluster_import_batch *b);
/* Background, bounded: the reply went out; the local row ended. */
void cluster_reply_sent(struct cluster *cl, const struct spool_row *row, const char *message_id);
/* The local row ended as state (done, dead, superseded), whatever the path:
 * the record leaves the open-by index, so that no sweep takes it over again.
 * claim_fence: the row's job claimed the record under it (0: it did not: a
 * row superseded while it waited, ended at start by its reply state, or dead
 * before its claim). lease_fence: the job's lease, dropped once the record is
 * finished, never before (0: none). row's sender, received_at and
 * inbound_message_id are all that is read. */
void cluster_finish(struct cluster *cl, const struct spool_row *row, long long claim_fence,
                    long long lease_fence, const char *state, const char *outcome);

/* Counted in the twowayd_cluster_* metrics. */
void cluster_count_lease_wait(struct cluster *cl);
void cluster_count_failure(struct cluster *cl);

#endif
