/*
 * ctl_cluster.h — the cluster table as twowayctl sees it: the layout setup
 * creates and doctor checks, the instances' heartbeats, and the DynamoDB
 * calls that read and create them (through ctl_ddb()).
 *
 * THE TABLE (one per cluster; twowayd reads and writes it, see README):
 *   key       pk (S, HASH), sk (S, RANGE); billing PAY_PER_REQUEST
 *   index     open-by: open_by (S, HASH), sk (S, RANGE), projection ALL
 *             (sparse: only open message records carry open_by)
 *   TTL       expires_at (N, seconds since the epoch), enabled with
 *             UpdateTimeToLive
 *   heartbeat pk = "cluster", sk = "instance#<name>": heartbeat_at (N, ms),
 *             started_at (N, ms), version (S), expires_at
 * An instance is live while its heartbeat is at most [cluster] lease_seconds
 * old, dead after that.
 *
 * The request builders and readers are pure: JSON as DynamoDB takes and
 * answers it, no I/O. Ownership: returned JSON belongs to the caller.
 */
#ifndef TWOWAYD_CTL_CLUSTER_H
#define TWOWAYD_CTL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct config;
struct ctl;
struct ctl_reply;

#define CTL_CLUSTER_INDEX         "open-by"
#define CTL_CLUSTER_TTL_ATTRIBUTE "expires_at"
#define CTL_CLUSTER_HEARTBEAT_PK  "cluster"
#define CTL_CLUSTER_HEARTBEAT_SK  "instance#"
#define CTL_CLUSTER_WHY_MAX       256

/* A DynamoDB table name: 3 to 255 of [a-zA-Z0-9_.-]. */
bool ctl_cluster_table_name_valid(const char *name);

/* The CreateTable request of the layout above. NULL on OOM. */
json_t *ctl_cluster_create_request(const char *table);

/* Whether a DescribeTable "Table" has the layout above (key schema, key
 * attribute types, the index's key schema and projection): true, or false
 * with what differs in why ("key schema is phone_number (HASH), not pk
 * (HASH), sk (RANGE)"). The billing mode and the statuses are not part of
 * the layout. */
bool ctl_cluster_layout_matches(const json_t *table, char why[CTL_CLUSTER_WHY_MAX]);

/* The index's IndexStatus ("ACTIVE", "CREATING", ...), "" when absent. */
const char *ctl_cluster_index_status(const json_t *table);

/* The heartbeat items of a Query of pk = "cluster" as
 * [{"name", "live", "heartbeat_at", "age_ms", "started_at", "version"}],
 * newest heartbeat first; heartbeat_at/started_at are ms and version a
 * string, each null when absent or unreadable (an instance without a
 * readable heartbeat counts as dead). An instance is live
 * when now_ms - heartbeat_at <= lease_seconds * 1000. NULL on OOM. */
json_t *ctl_cluster_instances(const json_t *items, int64_t now_ms, unsigned lease_seconds);

/* The UpdateTimeToLive request enabling TTL on expires_at. */
json_t *ctl_cluster_enable_ttl_request(const char *table);
/* One page of the heartbeat Query (pk = "cluster" AND begins_with(sk,
 * "instance#"), strongly consistent), after start_key (LastEvaluatedKey, or
 * NULL for the first page). */
json_t *ctl_cluster_heartbeat_query(const char *table, const json_t *start_key);

/* The harmless calls that show whether credentials may do what the daemon
 * does: GetItem, PutItem and UpdateItem of the item pk = "cluster", sk =
 * "twowayctl#probe" under a condition that can never hold (so nothing is
 * ever written and DynamoDB answers ConditionalCheckFailedException when the
 * action is allowed), and a Query of the index. */
struct ctl_cluster_probe {
        const char *operation; /* "GetItem", ... */
        const char *what;      /* "the table", "the index open-by" */
        bool expect_condition_failed;
};
extern const struct ctl_cluster_probe ctl_cluster_probes[4];
json_t *ctl_cluster_probe_request(const char *table, const struct ctl_cluster_probe *p);

/* --- calls ---------------------------------------------------------------- */

/* The calls setup makes; each prints one line when it fails. */
int ctl_cluster_create(struct ctl *ctl, const char *table);
/* DescribeTimeToLive: 0 with TimeToLiveStatus ("ENABLED", "DISABLED", ...)
 * and AttributeName ("" when none) copied into the buffers. */
int ctl_cluster_ttl(struct ctl *ctl, const char *table, char status[32], char attribute[256]);
int ctl_cluster_enable_ttl(struct ctl *ctl, const char *table);
/* Every instance (ctl_cluster_instances() of all the heartbeat pages, at most
 * CTL_CLUSTER_PAGES_MAX of them), judged against the clock now. */
#define CTL_CLUSTER_PAGES_MAX 20
int ctl_cluster_instances_read(struct ctl *ctl, const char *table, unsigned lease_seconds,
                               json_t **ret);

/* The cluster table a command works on: --cluster-table when given, else the
 * config's [cluster] table; NULL when neither names one. */
const char *ctl_cluster_table(const char *option, const struct config *c);

#endif
