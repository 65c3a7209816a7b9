/*
 * cluster_request.c — the requests of cluster mode on its DynamoDB table, as
 * pure builders: the message record, the sender leases, the fenced claim, the
 * reply marker, the finish, the heartbeat and the takeover queries. See
 * cluster.h for the items and the one conditional write behind each decision.
 *
 * Every attribute name goes through ExpressionAttributeNames: several of them
 * (state, owner, raw) are DynamoDB reserved words.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>

#include "cluster.h"
#include "common.h"
#include "ddb.h"

#define MS_PER_DAY (86400LL * 1000)

static const char *const lane_names[_CLUSTER_LANE_MAX] = {
        [CLUSTER_LANE_CONVERSATION] = "conversation",
        [CLUSTER_LANE_CONSENT] = "consent",
};

int64_t cluster_timestamp_ms(const char *timestamp, int64_t seconds)
{
        const char *t = timestamp ? strchr(timestamp, 'T') : NULL;
        const char *dot = t ? strchr(t, '.') : NULL;
        int64_t ms = 0;
        int digits = 0;

        /* The fraction, cut (not rounded) to milliseconds, as SNS writes it. */
        for (const char *p = dot ? dot + 1 : ""; isdigit((unsigned char)*p) && digits < 3; p++) {
                ms = ms * 10 + (*p - '0');
                digits++;
        }
        for (; dot && digits < 3; digits++)
                ms *= 10;
        return seconds * 1000 + ms;
}

enum cluster_lane cluster_lane_of(enum spool_class c)
{
        return c == SPOOL_CLASS_OTHER ? CLUSTER_LANE_CONVERSATION : CLUSTER_LANE_CONSENT;
}

const char *cluster_lane_to_string(enum cluster_lane lane)
{
        return lane >= 0 && lane < _CLUSTER_LANE_MAX ? lane_names[lane] : NULL;
}

int cluster_record_sk(char *buf, size_t size, int64_t received_at, const char *inbound_message_id)
{
        int n;

        if (!inbound_message_id || received_at < 0)
                return -EINVAL;
        n = snprintf(buf, size, "msg#%013lld#%s", (long long)received_at, inbound_message_id);
        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* --- small builders -------------------------------------------------------------- */

static json_t *key_of(const char *pk, const char *sk)
{
        return ddb_item_of("pk", ddb_av_s(pk), "sk", ddb_av_s(sk), NULL);
}

/* The key of an item of sender's partition. */
static json_t *sender_key(const char *sender, const char *sk)
{
        char pk[CLUSTER_SK_MAX];

        if (isempty(sender) || (size_t)snprintf(pk, sizeof(pk), "sender#%s", sender) >= sizeof(pk))
                return NULL;
        return key_of(pk, sk);
}

static json_t *record_key(const char *sender, int64_t received_at, const char *inbound_message_id)
{
        char sk[CLUSTER_SK_MAX];

        if (cluster_record_sk(sk, sizeof(sk), received_at, inbound_message_id) < 0)
                return NULL;
        return sender_key(sender, sk);
}

static json_t *lease_key(const char *sender, enum cluster_lane lane)
{
        char sk[64];

        if (!cluster_lane_to_string(lane))
                return NULL;
        (void)snprintf(sk, sizeof(sk), "lease#%s", cluster_lane_to_string(lane));
        return sender_key(sender, sk);
}

/* {"#a": "a", ...} from pairs "#a", "a", ..., NULL. */
static json_t *names_of(const char *first, ...)
{
        json_t *o = json_object();
        va_list ap;

        va_start(ap, first);
        for (const char *k = first; o && k; k = va_arg(ap, const char *)) {
                const char *v = va_arg(ap, const char *);

                if (!v || json_object_set_new(o, k, json_string(v)) < 0) {
                        json_decref(o);
                        o = NULL;
                }
        }
        va_end(ap);
        return o;
}

/* One operation's request; steals key, names and values. */
static json_t *update(const char *table, json_t *key, const char *expr, const char *cond,
                      json_t *names, json_t *values, const char *return_values, bool old)
{
        json_t *body = NULL;

        if (key && names && values)
                body = ddb_update_item_request(&(struct ddb_update_params){
                        .table = table,
                        .key = key,
                        .update = expr,
                        .condition = cond,
                        .names = names,
                        .values = values,
                        .return_values = return_values,
                        .return_old_on_condition_failure = old,
                });
        json_decref(key);
        json_decref(names);
        json_decref(values);
        return body;
}

/* A query's request; steals names and values. */
static json_t *query(struct ddb_query_params q, json_t *names, json_t *values)
{
        json_t *body = NULL;

        if (names && values) {
                q.names = names;
                q.values = values;
                body = ddb_query_request(&q);
        }
        json_decref(names);
        json_decref(values);
        return body;
}

static bool params_ok(const struct cluster_params *p)
{
        return p && !isempty(p->table) && !isempty(p->instance) && p->lease_seconds > 0;
}

static int64_t finished_expiry(const struct cluster_params *p, int64_t now)
{
        return (now + (int64_t)p->record_ttl_days * MS_PER_DAY) / 1000;
}

static int64_t open_expiry(const struct cluster_params *p, int64_t received_at)
{
        return (received_at + (int64_t)p->max_age_s * 1000 +
                (int64_t)p->record_ttl_days * MS_PER_DAY) /
               1000;
}

static int set_s_if(json_t *o, const char *name, const char *v)
{
        return isempty(v) ? 0 : ddb_item_set(o, name, ddb_av_s(v));
}

static bool msg_ok(const struct cluster_msg *m)
{
        return m && !isempty(m->sender) && !isempty(m->inbound_message_id) &&
               !isempty(m->sns_message_id) && m->received_at >= 0 && m->keyword_class >= 0 &&
               m->keyword_class < _SPOOL_CLASS_MAX;
}

/* --- the message record ------------------------------------------------------------ */

json_t *cluster_record_put_request(const struct cluster_params *p, const struct cluster_msg *m,
                                   int64_t now)
{
        json_t *item, *body = NULL;

        if (!params_ok(p) || !msg_ok(m))
                return NULL;
        item = record_key(m->sender, m->received_at, m->inbound_message_id);
        if (!item)
                return NULL;
        if (ddb_item_set(item, "inbound_message_id", ddb_av_s(m->inbound_message_id)) < 0 ||
            ddb_item_set(item, "sns_message_id", ddb_av_s(m->sns_message_id)) < 0 ||
            set_s_if(item, "destination", m->destination) < 0 ||
            set_s_if(item, "topic_arn", m->topic_arn) < 0 ||
            ddb_item_set(item, "keyword_class", ddb_av_s(spool_class_to_string(m->keyword_class))) <
                    0 ||
            set_s_if(item, "raw", m->raw) < 0 ||
            ddb_item_set(item, "received_at", ddb_av_n_int(m->received_at)) < 0 ||
            ddb_item_set(item, "stored_by", ddb_av_s(p->instance)) < 0 ||
            ddb_item_set(item, "stored_at", ddb_av_n_int(now)) < 0 ||
            ddb_item_set(item, "state", ddb_av_s("open")) < 0 ||
            ddb_item_set(item, "open_by", ddb_av_s(p->instance)) < 0 ||
            ddb_item_set(item, "expires_at", ddb_av_n_int(open_expiry(p, m->received_at))) < 0)
                goto out;
        body = ddb_put_item_request(&(struct ddb_put_params){
                .table = p->table,
                .item = item,
                .condition = "attribute_not_exists(sk)",
        });
out:
        json_decref(item);
        return body;
}

json_t *cluster_record_get_request(const struct cluster_params *p, const char *sender,
                                   int64_t received_at, const char *inbound_message_id)
{
        json_t *key, *body;

        if (!params_ok(p))
                return NULL;
        key = record_key(sender, received_at, inbound_message_id);
        if (!key)
                return NULL;
        body = ddb_get_item_request(&(struct ddb_get_params){
                .table = p->table,
                .key = key,
                .consistent_read = true,
        });
        json_decref(key);
        return body;
}

/* Records of sender's partition from max age before this one up to it (the
 * key range is inclusive: the caller skips this one), open only; after_sk:
 * the page that follows that record (a Query's LastEvaluatedKey). The Limit
 * counts the records read before the filter: a page may hold no open record
 * and still have more after it. */
json_t *cluster_earlier_open_request(const struct cluster_params *p, const char *sender,
                                     int64_t received_at, const char *inbound_message_id,
                                     const char *after_sk)
{
        char pk[CLUSTER_SK_MAX], lo[64], hi[CLUSTER_SK_MAX];
        json_t *start = NULL, *body;
        int64_t from;

        if (!params_ok(p) || isempty(sender) ||
            (size_t)snprintf(pk, sizeof(pk), "sender#%s", sender) >= sizeof(pk) ||
            cluster_record_sk(hi, sizeof(hi), received_at, inbound_message_id) < 0 ||
            (!isempty(after_sk) && !(start = key_of(pk, after_sk))))
                return NULL;
        from = received_at - (int64_t)p->max_age_s * 1000;
        (void)snprintf(lo, sizeof(lo), "msg#%013lld", (long long)(from < 0 ? 0 : from));
        body = query(
                (struct ddb_query_params){
                        .table = p->table,
                        .key_condition = "#pk = :pk AND #sk BETWEEN :lo AND :hi",
                        .filter = "#state = :open",
                        .consistent_read = true,
                        .limit = CLUSTER_QUERY_LIMIT,
                        .start_key = start,
                },
                names_of("#pk", "pk", "#sk", "sk", "#state", "state", NULL),
                ddb_item_of(":pk", ddb_av_s(pk), ":lo", ddb_av_s(lo), ":hi", ddb_av_s(hi), ":open",
                            ddb_av_s("open"), NULL));
        json_decref(start);
        return body;
}

/* With the lease held: the record is ours under fence, unless it is finished
 * or a higher fence has it. A record that is missing (a row from dlq replay or
 * spool salvage) is created from the row. */
json_t *cluster_claim_request(const struct cluster_params *p, const struct cluster_msg *m,
                              long long fence, int64_t now)
{
        json_t *names, *values;

        if (!params_ok(p) || !msg_ok(m))
                return NULL;
        names = names_of("#sk", "sk", "#state", "state", "#owner", "owner", "#fence", "owner_fence",
                         "#open_by", "open_by", "#imid", "inbound_message_id", "#snsid",
                         "sns_message_id", "#dest", "destination", "#class", "keyword_class",
                         "#raw", "raw", "#recv", "received_at", "#stored_by", "stored_by",
                         "#stored_at", "stored_at", "#exp", "expires_at", NULL);
        values = ddb_item_of(":me", ddb_av_s(p->instance), ":f", ddb_av_n_int(fence), ":open",
                             ddb_av_s("open"), ":imid", ddb_av_s(m->inbound_message_id), ":snsid",
                             ddb_av_s(m->sns_message_id), ":dest",
                             ddb_av_s(isempty(m->destination) ? "-" : m->destination), ":class",
                             ddb_av_s(spool_class_to_string(m->keyword_class)), ":raw",
                             ddb_av_s(isempty(m->raw) ? "-" : m->raw), ":recv",
                             ddb_av_n_int(m->received_at), ":now", ddb_av_n_int(now), ":exp",
                             ddb_av_n_int(open_expiry(p, m->received_at)), NULL);
        return update(
                p->table, record_key(m->sender, m->received_at, m->inbound_message_id),
                "SET #owner = :me, #fence = :f, #open_by = :me, "
                "#state = if_not_exists(#state, :open), "
                "#imid = if_not_exists(#imid, :imid), #snsid = if_not_exists(#snsid, :snsid), "
                "#dest = if_not_exists(#dest, :dest), #class = if_not_exists(#class, :class), "
                "#raw = if_not_exists(#raw, :raw), #recv = if_not_exists(#recv, :recv), "
                "#stored_by = if_not_exists(#stored_by, :me), "
                "#stored_at = if_not_exists(#stored_at, :now), #exp = if_not_exists(#exp, :exp)",
                "attribute_not_exists(#sk) OR (#state = :open AND "
                "(attribute_not_exists(#fence) OR #fence <= :f))",
                names, values, "ALL_NEW", true);
}

json_t *cluster_marker_request(const struct cluster_params *p, const char *sender,
                               int64_t received_at, const char *inbound_message_id, long long fence,
                               int64_t now)
{
        if (!params_ok(p))
                return NULL;
        return update(p->table, record_key(sender, received_at, inbound_message_id),
                      "SET #rs = :sending, #ra = :now",
                      "#owner = :me AND #fence = :f AND attribute_not_exists(#rs)",
                      names_of("#rs", "reply_state", "#ra", "reply_at", "#owner", "owner", "#fence",
                               "owner_fence", NULL),
                      ddb_item_of(":me", ddb_av_s(p->instance), ":f", ddb_av_n_int(fence),
                                  ":sending", ddb_av_s("sending"), ":now", ddb_av_n_int(now), NULL),
                      NULL, true);
}

json_t *cluster_reply_sent_request(const struct cluster_params *p, const char *sender,
                                   int64_t received_at, const char *inbound_message_id,
                                   const char *message_id)
{
        if (!params_ok(p) || isempty(message_id))
                return NULL;
        return update(p->table, record_key(sender, received_at, inbound_message_id),
                      "SET #rs = :sent, #rid = :id", "attribute_exists(#sk)",
                      names_of("#rs", "reply_state", "#rid", "reply_message_id", "#sk", "sk", NULL),
                      ddb_item_of(":sent", ddb_av_s("sent"), ":id", ddb_av_s(message_id), NULL),
                      NULL, false);
}

json_t *cluster_finish_request(const struct cluster_params *p, const char *sender,
                               int64_t received_at, const char *inbound_message_id, long long fence,
                               const char *state, const char *outcome, int64_t now)
{
        bool claimed = fence > 0;

        if (!params_ok(p) || isempty(state))
                return NULL;
        /* Not claimed by the job that ended it: closed if still open and no
         * other instance claimed it (one that did finishes it itself). The
         * names then end before "#fence". */
        return update(p->table, record_key(sender, received_at, inbound_message_id),
                      "SET #state = :s, #outcome = :o, #exp = :ttl REMOVE #open_by",
                      claimed ? "#owner = :me AND #fence = :f"
                              : "#state = :open AND (attribute_not_exists(#owner) OR #owner = :me)",
                      names_of("#state", "state", "#outcome", "outcome", "#exp", "expires_at",
                               "#open_by", "open_by", "#owner", "owner", claimed ? "#fence" : NULL,
                               "owner_fence", NULL),
                      ddb_item_of(":me", ddb_av_s(p->instance), claimed ? ":f" : ":open",
                                  claimed ? ddb_av_n_int(fence) : ddb_av_s("open"), ":s",
                                  ddb_av_s(state), ":o",
                                  ddb_av_s(isempty(outcome) ? state : outcome), ":ttl",
                                  ddb_av_n_int(finished_expiry(p, now)), NULL),
                      NULL, false);
}

/* --- sender leases -------------------------------------------------------------------- */

static json_t *lease_values(const struct cluster_params *p, int64_t now)
{
        int64_t until = now + (int64_t)p->lease_seconds * 1000;

        return ddb_item_of(":me", ddb_av_s(p->instance), ":now", ddb_av_n_int(now), ":until",
                           ddb_av_n_int(until), ":exp", ddb_av_n_int(finished_expiry(p, until)),
                           NULL);
}

/* Keep it: this instance holds it and it has not run out. The fence stays. */
json_t *cluster_lease_renew_request(const struct cluster_params *p, const char *sender,
                                    enum cluster_lane lane, int64_t now)
{
        if (!params_ok(p))
                return NULL;
        return update(p->table, lease_key(sender, lane), "SET #u = :until, #e = :exp",
                      "#h = :me AND #u >= :now",
                      names_of("#h", "holder", "#u", "lease_until", "#e", "expires_at", NULL),
                      lease_values(p, now), "ALL_NEW", false);
}

/* Take it: nobody holds it, or it ran out. The fence goes up by one. */
json_t *cluster_lease_take_request(const struct cluster_params *p, const char *sender,
                                   enum cluster_lane lane, int64_t now)
{
        json_t *values;

        if (!params_ok(p))
                return NULL;
        values = lease_values(p, now);
        if (values &&
            ddb_item_add(values, ":zero", ddb_av_n_int(0), ":one", ddb_av_n_int(1), NULL) < 0) {
                json_decref(values);
                values = NULL;
        }
        return update(p->table, lease_key(sender, lane),
                      "SET #h = :me, #u = :until, #f = if_not_exists(#f, :zero) + :one, #e = :exp",
                      "attribute_not_exists(#h) OR #u < :now",
                      names_of("#h", "holder", "#u", "lease_until", "#f", "fence", "#e",
                               "expires_at", NULL),
                      values, "ALL_NEW", false);
}

json_t *cluster_lease_release_request(const struct cluster_params *p, const char *sender,
                                      enum cluster_lane lane, long long fence)
{
        if (!params_ok(p))
                return NULL;
        return update(p->table, lease_key(sender, lane), "SET #u = :zero", "#h = :me AND #f = :f",
                      names_of("#h", "holder", "#u", "lease_until", "#f", "fence", NULL),
                      ddb_item_of(":me", ddb_av_s(p->instance), ":f", ddb_av_n_int(fence), ":zero",
                                  ddb_av_n_int(0), NULL),
                      NULL, false);
}

/* --- heartbeats and takeover ------------------------------------------------------------ */

json_t *cluster_heartbeat_request(const struct cluster_params *p, const char *version,
                                  int64_t started_at, int64_t now)
{
        char sk[CLUSTER_SK_MAX];
        json_t *item, *body = NULL;

        if (!params_ok(p) ||
            (size_t)snprintf(sk, sizeof(sk), "instance#%s", p->instance) >= sizeof(sk))
                return NULL;
        item = key_of("cluster", sk);
        if (item && ddb_item_add(item, "instance", ddb_av_s(p->instance), "heartbeat_at",
                                 ddb_av_n_int(now), "started_at", ddb_av_n_int(started_at),
                                 "version", ddb_av_s(version ? version : ""), "expires_at",
                                 ddb_av_n_int(finished_expiry(p, now)), NULL) >= 0)
                body = ddb_put_item_request(&(struct ddb_put_params){
                        .table = p->table,
                        .item = item,
                });
        json_decref(item);
        return body;
}

json_t *cluster_instances_request(const struct cluster_params *p)
{
        if (!params_ok(p))
                return NULL;
        return query(
                (struct ddb_query_params){
                        .table = p->table,
                        .key_condition = "#pk = :pk AND begins_with(#sk, :prefix)",
                        .consistent_read = true,
                        .limit = CLUSTER_QUERY_LIMIT,
                },
                names_of("#pk", "pk", "#sk", "sk", NULL),
                ddb_item_of(":pk", ddb_av_s("cluster"), ":prefix", ddb_av_s("instance#"), NULL));
}

json_t *cluster_open_by_request(const struct cluster_params *p, const char *instance,
                                const json_t *start_key)
{
        if (!params_ok(p) || isempty(instance))
                return NULL;
        return query(
                (struct ddb_query_params){
                        .table = p->table,
                        .index = "open-by",
                        .key_condition = "#ob = :who",
                        .limit = CLUSTER_QUERY_LIMIT,
                        .start_key = start_key,
                },
                names_of("#ob", "open_by", NULL), ddb_item_of(":who", ddb_av_s(instance), NULL));
}

/* An open record of item's key goes from instance from to instance to. */
static json_t *move_request(const struct cluster_params *p, const json_t *item, const char *from,
                            const char *to)
{
        const char *pk = ddb_item_get_s(item, "pk"), *sk = ddb_item_get_s(item, "sk");

        if (!params_ok(p) || !pk || !sk || isempty(from) || isempty(to))
                return NULL;
        return update(p->table, key_of(pk, sk), "SET #ob = :to", "#ob = :from",
                      names_of("#ob", "open_by", NULL),
                      ddb_item_of(":to", ddb_av_s(to), ":from", ddb_av_s(from), NULL), NULL, false);
}

/* Move an open record of a dead instance to this one: the winner imports it. */
json_t *cluster_adopt_request(const struct cluster_params *p, const json_t *item,
                              const char *dead_instance)
{
        return move_request(p, item, dead_instance, p ? p->instance : NULL);
}

/* Give an adopted record back: this instance could not store it. */
json_t *cluster_release_request(const struct cluster_params *p, const json_t *item,
                                const char *dead_instance)
{
        return move_request(p, item, p ? p->instance : NULL, dead_instance);
}

/* --- records read back ------------------------------------------------------------------- */

int cluster_msg_from_item(const json_t *item, struct cluster_msg *ret)
{
        const char *pk = ddb_item_get_s(item, "pk"), *cls = ddb_item_get_s(item, "keyword_class");
        long long received_at;
        int c = spool_class_from_string(cls);

        *ret = (struct cluster_msg){0};
        if (!pk || strncmp(pk, "sender#", 7) != 0 ||
            ddb_item_get_n_int(item, "received_at", &received_at) < 0)
                return -EINVAL;
        ret->sender = pk + 7;
        ret->received_at = received_at;
        ret->inbound_message_id = ddb_item_get_s(item, "inbound_message_id");
        ret->sns_message_id = ddb_item_get_s(item, "sns_message_id");
        ret->destination = ddb_item_get_s(item, "destination");
        ret->topic_arn = ddb_item_get_s(item, "topic_arn");
        ret->raw = ddb_item_get_s(item, "raw");
        ret->keyword_class = c < 0 ? SPOOL_CLASS_OTHER : (enum spool_class)c;
        if (isempty(ret->inbound_message_id) || isempty(ret->sns_message_id) || isempty(ret->raw) ||
            isempty(ret->sender))
                return -EINVAL;
        return 0;
}
