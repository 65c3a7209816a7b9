/*
 * ctl_cluster.c — the cluster table's layout, heartbeats and probes for
 * twowayctl setup, doctor and status.
 */
#include <stdio.h>
#include <time.h>

#include "common.h"
#include "config.h"
#include "ctl.h"
#include "ctl_cluster.h"
#include "ddb.h"

#define PROBE_SK "twowayctl#probe"
/* A condition no item satisfies: the write is refused after the permission
 * check, so an allowed write answers ConditionalCheckFailedException. */
#define NEVER "attribute_exists(pk) AND attribute_not_exists(pk)"

const struct ctl_cluster_probe ctl_cluster_probes[4] = {
        {.operation = "GetItem", .what = "the table"},
        {.operation = "PutItem", .what = "the table", .expect_condition_failed = true},
        {.operation = "UpdateItem", .what = "the table", .expect_condition_failed = true},
        {.operation = "Query", .what = "the index " CTL_CLUSTER_INDEX},
};

bool ctl_cluster_table_name_valid(const char *name)
{
        size_t n = name ? strlen(name) : 0;

        if (n < 3 || n > 255)
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
                        return false;
        return true;
}

json_t *ctl_cluster_create_request(const char *table)
{
        return json_pack("{s:s, s:[{s:s,s:s},{s:s,s:s},{s:s,s:s}], s:[{s:s,s:s},{s:s,s:s}],"
                         " s:[{s:s, s:[{s:s,s:s},{s:s,s:s}], s:{s:s}}], s:s}",
                         "TableName", table, "AttributeDefinitions", "AttributeName", "pk",
                         "AttributeType", "S", "AttributeName", "sk", "AttributeType", "S",
                         "AttributeName", "open_by", "AttributeType", "S", "KeySchema",
                         "AttributeName", "pk", "KeyType", "HASH", "AttributeName", "sk", "KeyType",
                         "RANGE", "GlobalSecondaryIndexes", "IndexName", CTL_CLUSTER_INDEX,
                         "KeySchema", "AttributeName", "open_by", "KeyType", "HASH",
                         "AttributeName", "sk", "KeyType", "RANGE", "Projection", "ProjectionType",
                         "ALL", "BillingMode", "PAY_PER_REQUEST");
}

static const char *str(const json_t *o, const char *field)
{
        const char *s = json_string_value(json_object_get(o, field));

        return s ? s : "";
}

/* "pk (HASH), sk (RANGE)" of a KeySchema, into buf. */
static const char *key_text(const json_t *schema, char *buf, size_t size)
{
        const json_t *e;
        size_t i, len = 0;

        buf[0] = '\0';
        json_array_foreach(schema, i, e) {
                int n = snprintf(buf + len, size - len, "%s%s (%s)", i ? ", " : "",
                                 str(e, "AttributeName"), str(e, "KeyType"));

                if (n < 0 || (size_t)n >= size - len)
                        break;
                len += (size_t)n;
        }
        return *buf ? buf : "nothing";
}

/* Whether schema is exactly hash HASH, sk RANGE. */
static bool key_is(const json_t *schema, const char *hash)
{
        return json_array_size(schema) == 2 &&
               streq(str(json_array_get(schema, 0), "AttributeName"), hash) &&
               streq(str(json_array_get(schema, 0), "KeyType"), "HASH") &&
               streq(str(json_array_get(schema, 1), "AttributeName"), "sk") &&
               streq(str(json_array_get(schema, 1), "KeyType"), "RANGE");
}

static const char *attribute_type(const json_t *table, const char *name)
{
        const json_t *e;
        size_t i;

        json_array_foreach(json_object_get(table, "AttributeDefinitions"), i, e)
                if (streq(str(e, "AttributeName"), name))
                        return str(e, "AttributeType");
        return "";
}

static const json_t *find_index(const json_t *table)
{
        const json_t *e;
        size_t i;

        json_array_foreach(json_object_get(table, "GlobalSecondaryIndexes"), i, e)
                if (streq(str(e, "IndexName"), CTL_CLUSTER_INDEX))
                        return e;
        return NULL;
}

bool ctl_cluster_layout_matches(const json_t *table, char why[CTL_CLUSTER_WHY_MAX])
{
        const json_t *schema = json_object_get(table, "KeySchema"), *index;
        char keys[160];

        if (!key_is(schema, "pk")) {
                (void)snprintf(why, CTL_CLUSTER_WHY_MAX,
                               "its key schema is %s, not pk (HASH), sk (RANGE)",
                               key_text(schema, keys, sizeof(keys)));
                return false;
        }
        if (!streq(attribute_type(table, "pk"), "S") || !streq(attribute_type(table, "sk"), "S")) {
                (void)snprintf(why, CTL_CLUSTER_WHY_MAX,
                               "its keys are of type pk %s, sk %s, not strings (S)",
                               attribute_type(table, "pk"), attribute_type(table, "sk"));
                return false;
        }
        index = find_index(table);
        if (!index) {
                (void)snprintf(why, CTL_CLUSTER_WHY_MAX, "it has no global secondary index %s",
                               CTL_CLUSTER_INDEX);
                return false;
        }
        schema = json_object_get(index, "KeySchema");
        if (!key_is(schema, "open_by") || !streq(attribute_type(table, "open_by"), "S")) {
                (void)snprintf(why, CTL_CLUSTER_WHY_MAX,
                               "its index %s has the key %s, not open_by (S, HASH), sk (RANGE)",
                               CTL_CLUSTER_INDEX, key_text(schema, keys, sizeof(keys)));
                return false;
        }
        if (!streq(str(json_object_get(index, "Projection"), "ProjectionType"), "ALL")) {
                (void)snprintf(why, CTL_CLUSTER_WHY_MAX,
                               "its index %s projects %s, not ALL attributes", CTL_CLUSTER_INDEX,
                               str(json_object_get(index, "Projection"), "ProjectionType"));
                return false;
        }
        return true;
}

const char *ctl_cluster_index_status(const json_t *table)
{
        return str(find_index(table), "IndexStatus");
}

static json_t *instance_of(const json_t *item, int64_t now_ms, unsigned lease_seconds)
{
        const char *sk = ddb_item_get_s(item, "sk"), *version = ddb_item_get_s(item, "version");
        long long beat, started;
        bool have_beat = ddb_item_get_n_int(item, "heartbeat_at", &beat) >= 0;
        bool have_started = ddb_item_get_n_int(item, "started_at", &started) >= 0;
        bool live = have_beat && now_ms - beat <= (int64_t)lease_seconds * 1000;

        if (!sk || strncmp(sk, CTL_CLUSTER_HEARTBEAT_SK, strlen(CTL_CLUSTER_HEARTBEAT_SK)) != 0)
                return json_null(); /* not a heartbeat: skipped by the caller */
        return json_pack("{s:s, s:b, s:o, s:o, s:o, s:s?}", "name",
                         sk + strlen(CTL_CLUSTER_HEARTBEAT_SK), "live", live, "heartbeat_at",
                         have_beat ? json_integer(beat) : json_null(), "age_ms",
                         have_beat ? json_integer(now_ms - beat) : json_null(), "started_at",
                         have_started ? json_integer(started) : json_null(), "version", version);
}

static int newest_first(const void *a, const void *b)
{
        const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
        json_int_t bx = json_integer_value(json_object_get(x, "heartbeat_at"));
        json_int_t by = json_integer_value(json_object_get(y, "heartbeat_at"));

        if (bx != by)
                return bx > by ? -1 : 1;
        return strcmp(str(x, "name"), str(y, "name"));
}

json_t *ctl_cluster_instances(const json_t *items, int64_t now_ms, unsigned lease_seconds)
{
        size_t n = json_array_size(items), k = 0;
        _cleanup_free_ json_t **v = n ? calloc(n, sizeof(*v)) : NULL;
        json_t *out = json_array(), *e;
        size_t i;

        if (!out || (n && !v))
                goto fail;
        json_array_foreach(items, i, e) {
                json_t *inst = instance_of(e, now_ms, lease_seconds);

                if (!inst)
                        goto fail;
                if (json_is_null(inst))
                        continue;
                v[k++] = inst;
        }
        if (k)
                qsort(v, k, sizeof(*v), newest_first);
        for (i = 0; i < k; i++) {
                if (json_array_append_new(out, v[i]) < 0) {
                        v[i] = NULL;
                        goto fail;
                }
                v[i] = NULL;
        }
        return out;
fail:
        for (i = 0; i < k; i++)
                json_decref(v[i]);
        json_decref(out);
        return NULL;
}

json_t *ctl_cluster_enable_ttl_request(const char *table)
{
        return json_pack("{s:s, s:{s:b, s:s}}", "TableName", table, "TimeToLiveSpecification",
                         "Enabled", true, "AttributeName", CTL_CLUSTER_TTL_ATTRIBUTE);
}

json_t *ctl_cluster_heartbeat_query(const char *table, const json_t *start_key)
{
        json_t *values = ddb_item_of(":pk", ddb_av_s(CTL_CLUSTER_HEARTBEAT_PK), ":prefix",
                                     ddb_av_s(CTL_CLUSTER_HEARTBEAT_SK), NULL);
        json_t *q = values ? ddb_query_request(&(struct ddb_query_params){
                                     .table = table,
                                     .key_condition = "pk = :pk AND begins_with(sk, :prefix)",
                                     .values = values,
                                     .consistent_read = true,
                                     .start_key = start_key,
                             })
                           : NULL;

        json_decref(values);
        return q;
}

/* The probe of operation on the item key: v (":v") is what UpdateItem would
 * set, o (":o") the index value the Query asks for. */
static json_t *probe_body(const char *table, const char *operation, const json_t *key,
                          const json_t *v, const json_t *o)
{
        if (streq(operation, "GetItem"))
                return ddb_get_item_request(&(struct ddb_get_params){.table = table, .key = key});
        if (streq(operation, "PutItem"))
                return ddb_put_item_request(
                        &(struct ddb_put_params){.table = table, .item = key, .condition = NEVER});
        if (streq(operation, "UpdateItem"))
                return ddb_update_item_request(&(struct ddb_update_params){
                        .table = table,
                        .key = key,
                        .update = "SET probe = :v",
                        .condition = NEVER,
                        .values = v,
                });
        if (streq(operation, "Query"))
                return ddb_query_request(&(struct ddb_query_params){
                        .table = table,
                        .index = CTL_CLUSTER_INDEX,
                        .key_condition = "open_by = :o",
                        .values = o,
                        .limit = 1,
                });
        return NULL;
}

json_t *ctl_cluster_probe_request(const char *table, const struct ctl_cluster_probe *p)
{
        json_t *key = ddb_item_of("pk", ddb_av_s(CTL_CLUSTER_HEARTBEAT_PK), "sk",
                                  ddb_av_s(PROBE_SK), NULL);
        json_t *v = ddb_item_of(":v", ddb_av_s("never written"), NULL);
        json_t *o = ddb_item_of(":o", ddb_av_s(PROBE_SK), NULL);
        json_t *req = key && v && o ? probe_body(table, p->operation, key, v, o) : NULL;

        json_decref(key);
        json_decref(v);
        json_decref(o);
        return req;
}

/* One call whose failure is printed; the answer's JSON in *ret (unless NULL). */
static int call_reported(struct ctl *ctl, const char *operation, json_t *body, json_t **ret)
{
        struct ctl_reply rep;
        int r = ctl_ddb(ctl, operation, body, NULL, &rep);

        if (r >= 0 && ret)
                *ret = json_incref(rep.json);
        ctl_reply_done(&rep);
        return r;
}

int ctl_cluster_create(struct ctl *ctl, const char *table)
{
        return call_reported(ctl, "CreateTable", ctl_cluster_create_request(table), NULL);
}

int ctl_cluster_ttl(struct ctl *ctl, const char *table, char status[32], char attribute[256])
{
        json_t *out = NULL, *d;
        int r = call_reported(ctl, "DescribeTimeToLive", json_pack("{s:s}", "TableName", table),
                              &out);

        if (r < 0)
                return r;
        d = json_object_get(out, "TimeToLiveDescription");
        (void)snprintf(status, 32, "%s", str(d, "TimeToLiveStatus"));
        (void)snprintf(attribute, 256, "%s", str(d, "AttributeName"));
        json_decref(out);
        return 0;
}

int ctl_cluster_enable_ttl(struct ctl *ctl, const char *table)
{
        return call_reported(ctl, "UpdateTimeToLive", ctl_cluster_enable_ttl_request(table), NULL);
}

int ctl_cluster_instances_read(struct ctl *ctl, const char *table, unsigned lease_seconds,
                               json_t **ret)
{
        json_t *items = json_array(), *start = NULL, *page;
        struct timespec now;
        int r = 0;

        if (!items)
                return -ENOMEM;
        for (unsigned n = 0; n < CTL_CLUSTER_PAGES_MAX; n++) {
                r = call_reported(ctl, "Query", ctl_cluster_heartbeat_query(table, start), &page);
                json_decref(start);
                start = NULL;
                if (r < 0)
                        break;
                if (json_is_array(json_object_get(page, "Items")) &&
                    json_array_extend(items, json_object_get(page, "Items")) < 0)
                        r = -ENOMEM;
                start = json_incref(json_object_get(page, "LastEvaluatedKey"));
                json_decref(page);
                if (r < 0 || !start)
                        break;
        }
        json_decref(start);
        if (r >= 0) {
                clock_gettime(CLOCK_REALTIME, &now);
                *ret = ctl_cluster_instances(
                        items, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, lease_seconds);
                r = *ret ? 0 : -ENOMEM;
        }
        json_decref(items);
        return r;
}

const char *ctl_cluster_table(const char *option, const struct config *c)
{
        if (option)
                return option;
        return c ? c->cluster_table : NULL;
}
