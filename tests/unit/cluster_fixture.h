/*
 * cluster_fixture.h — for the unit tests of cluster mode (cluster.c,
 * cluster_lease.c, cluster_sweep.c): the real struct cluster on a real loop,
 * over the environment of job_fixture.h (a spool in a temporary directory,
 * AWS on 127.0.0.1). The cluster table is a scripted DynamoDB that answers
 * each request by rules (the operation and what its body holds), since the
 * heartbeat, the sweep and the renewals run on timers in no fixed order, and
 * keeps every request it was sent, in order, for the test to read.
 *
 * Header-only (static functions), included by one test file at a time.
 */
#ifndef TWOWAYD_TEST_CLUSTER_FIXTURE_H
#define TWOWAYD_TEST_CLUSTER_FIXTURE_H

#include "cluster.h"
#include "ddb.h"
#include "ddb_request.h"
#include "job_fixture.h"

#define CF_TABLE   "twowayd-cluster"
#define CF_ME      "node-a:/var/lib/twowayd"
#define CF_WAIT    JOB_FIXTURE_WAIT
#define CF_RULES   16
#define CF_REPLIES 8
#define CF_TEXTS   16
/* A lease's release: by its holder, under its fence. */
#define CF_RELEASE_COND "#h = :me AND #f = :f"
#define DDB_THROTTLED                                                                              \
        (struct scripted_reply)                                                                    \
        {                                                                                          \
                .status = 400, .content_type = DDB_JSON,                                           \
                .body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"                          \
                        "ProvisionedThroughputExceededException\",\"message\":\"Rate of "          \
                        "requests exceeds the allowed throughput\"}"                               \
        }
#define DDB_5XX                                                                                    \
        (struct scripted_reply)                                                                    \
        {                                                                                          \
                .status = 500, .content_type = DDB_JSON,                                           \
                .body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"                          \
                        "InternalServerError\",\"message\":\"Internal server error\"}"             \
        }
/* Two in a row: curl retries a reused connection once by itself. */
#define DDB_DROPPED                                                                                \
        (struct scripted_reply)                                                                    \
        {                                                                                          \
                .close = true                                                                      \
        }

/* Requests of operation op (UpdateItem, ...; NULL: any) whose body holds
 * every needle given are answered with replies, in order; the last one
 * repeats. The first rule that matches answers; without one: 200 {}. */
struct cf_rule {
        const char *op;
        const char *needle[2];
        struct scripted_reply replies[CF_REPLIES];
        size_t n, next;
};

struct cf_call {
        char op[32];
        char *body;
};

struct cluster_fixture {
        struct job_fixture *f;
        struct cluster *cl;
        /* under f->server.lock: */
        struct cf_rule rules[CF_RULES];
        size_t n_rules;
        struct cf_call *calls;
        size_t n_calls, calls_size;
        /* reply bodies built by the test */
        char *texts[CF_TEXTS];
        size_t n_texts;
        /* what the cluster called back */
        unsigned imported;
        unsigned ready;
        unsigned lost;
        char lost_sender[SPOOL_ID_MAX];
        enum cluster_lane lost_lane;
};

static inline bool cf_matches(const char *op, const char *const needle[2], const char *call_op,
                              const char *body)
{
        if (op && !streq(op, call_op))
                return false;
        for (size_t i = 0; i < 2; i++)
                if (needle[i] && !strstr(body, needle[i]))
                        return false;
        return true;
}

/* The scripted table (the server's thread, under its lock). */
static inline struct scripted_reply cf_answer(const char *target, const char *body, void *userdata)
{
        struct cluster_fixture *cf = userdata;
        const char *op = target && strchr(target, '.') ? strchr(target, '.') + 1 : "";
        struct cf_call *c;

        if (cf->n_calls == cf->calls_size) {
                size_t size = cf->calls_size ? 2 * cf->calls_size : 64;
                struct cf_call *grown = realloc(cf->calls, size * sizeof(*grown));

                if (!grown)
                        return (struct scripted_reply){.close = true};
                cf->calls = grown;
                cf->calls_size = size;
        }
        c = &cf->calls[cf->n_calls];
        (void)snprintf(c->op, sizeof(c->op), "%s", op);
        c->body = strdup(body);
        if (!c->body)
                return (struct scripted_reply){.close = true};
        cf->n_calls++;
        for (size_t i = 0; i < cf->n_rules; i++) {
                struct cf_rule *r = &cf->rules[i];

                if (r->n && cf_matches(r->op, r->needle, op, body))
                        return r->replies[r->next < r->n ? r->next++ : r->n - 1];
        }
        return DDB_OK("{}");
}

static inline void cf_imported_cb(void *userdata)
{
        ((struct cluster_fixture *)userdata)->imported++;
}

static inline void cf_lease_lost_cb(const char *sender, enum cluster_lane lane, void *userdata)
{
        struct cluster_fixture *cf = userdata;

        cf->lost++;
        (void)snprintf(cf->lost_sender, sizeof(cf->lost_sender), "%s", sender);
        cf->lost_lane = lane;
}

static inline int cf_setup(void **state, unsigned lease_seconds)
{
        struct cluster_fixture *cf = calloc(1, sizeof(*cf));
        void *jf = NULL;

        if (!cf || job_fixture_setup(&jf) < 0)
                return -1;
        cf->f = jf;
        pthread_mutex_lock(&cf->f->server.lock);
        cf->f->server.answer = cf_answer;
        cf->f->server.answer_userdata = cf;
        pthread_mutex_unlock(&cf->f->server.lock);
        if (cluster_new(&(struct cluster_options){.loop = cf->f->loop,
                                                  .aws = cf->f->l.aws,
                                                  .spool = cf->f->spool,
                                                  .table = CF_TABLE,
                                                  .instance = CF_ME,
                                                  .lease_seconds = lease_seconds,
                                                  .record_ttl_days = 7,
                                                  .max_age_s = 3600,
                                                  .imported = cf_imported_cb,
                                                  .userdata = cf},
                        &cf->cl) < 0)
                return -1;
        cluster_set_lease_lost(cf->cl, cf_lease_lost_cb, cf);
        *state = cf;
        return 0;
}

static inline int cf_teardown(void **state)
{
        struct cluster_fixture *cf = *state;
        void *jf = cf->f;

        cf->cl = cluster_free(cf->cl);
        (void)job_fixture_teardown(&jf); /* the server stops: no more answers */
        for (size_t i = 0; i < cf->n_calls; i++)
                free(cf->calls[i].body);
        free(cf->calls);
        for (size_t i = 0; i < cf->n_texts; i++)
                free(cf->texts[i]);
        free(cf);
        return 0;
}

/* Answer op requests that hold needle_a and needle_b (NULL: any) with
 * replies[0..n-1], the last repeating. Earlier rules come first. */
static inline void cf_rule(struct cluster_fixture *cf, const char *op, const char *needle_a,
                           const char *needle_b, const struct scripted_reply *replies, size_t n)
{
        struct cf_rule *r;

        assert_true(n > 0 && n <= CF_REPLIES);
        pthread_mutex_lock(&cf->f->server.lock);
        assert_true(cf->n_rules < CF_RULES);
        r = &cf->rules[cf->n_rules++];
        *r = (struct cf_rule){.op = op, .needle = {needle_a, needle_b}, .n = n};
        memcpy(r->replies, replies, n * sizeof(*replies));
        pthread_mutex_unlock(&cf->f->server.lock);
}

/* How many op requests holding both needles (NULL: any) were sent. */
static inline size_t cf_count(struct cluster_fixture *cf, const char *op, const char *needle_a,
                              const char *needle_b)
{
        const char *const needle[2] = {needle_a, needle_b};
        size_t n = 0;

        pthread_mutex_lock(&cf->f->server.lock);
        for (size_t i = 0; i < cf->n_calls; i++)
                n += cf_matches(op, needle, cf->calls[i].op, cf->calls[i].body);
        pthread_mutex_unlock(&cf->f->server.lock);
        return n;
}

struct cf_wait {
        struct cluster_fixture *cf;
        const char *op, *needle_a, *needle_b;
        size_t n;
};

static inline bool cf_has_calls(const void *arg)
{
        const struct cf_wait *w = arg;

        return cf_count(w->cf, w->op, w->needle_a, w->needle_b) >= w->n;
}

/* Run the loop until n such requests were sent (and answered, as far as
 * the server goes). */
static inline void cf_wait_calls(struct cluster_fixture *cf, const char *op, const char *needle_a,
                                 const char *needle_b, size_t n)
{
        struct cf_wait w = {cf, op, needle_a, needle_b, n};

        if (!run_loop_while_not(cf->f->loop, cf_has_calls, &w, CF_WAIT))
                fail_msg("%zu %s request(s) with %s %s expected, %zu came", n, op ? op : "",
                         needle_a ? needle_a : "", needle_b ? needle_b : "",
                         cf_count(cf, op, needle_a, needle_b));
}

/* The body of the k-th such request (the caller json_decref()s). */
static inline json_t *cf_call_json(struct cluster_fixture *cf, const char *op, const char *needle_a,
                                   const char *needle_b, size_t k)
{
        const char *const needle[2] = {needle_a, needle_b};
        json_t *j = NULL;

        pthread_mutex_lock(&cf->f->server.lock);
        for (size_t i = 0; i < cf->n_calls && !j; i++)
                if (cf_matches(op, needle, cf->calls[i].op, cf->calls[i].body) && k-- == 0)
                        j = json_loads(cf->calls[i].body, 0, NULL);
        pthread_mutex_unlock(&cf->f->server.lock);
        if (!j)
                fail_msg("no %s request %zu with %s %s", op ? op : "", k, needle_a ? needle_a : "",
                         needle_b ? needle_b : "");
        return j;
}

/* Every request sent, in order: op names joined by spaces (for asserting
 * an order). */
static inline void cf_ops(struct cluster_fixture *cf, char *buf, size_t size)
{
        size_t len = 0;

        buf[0] = '\0';
        pthread_mutex_lock(&cf->f->server.lock);
        for (size_t i = 0; i < cf->n_calls && len < size; i++)
                len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? " " : "",
                                        cf->calls[i].op);
        pthread_mutex_unlock(&cf->f->server.lock);
}

/* Whether the i-th request sent holds needle. */
static inline bool cf_call_has(struct cluster_fixture *cf, size_t i, const char *needle)
{
        bool has;

        pthread_mutex_lock(&cf->f->server.lock);
        has = i < cf->n_calls && strstr(cf->calls[i].body, needle);
        pthread_mutex_unlock(&cf->f->server.lock);
        return has;
}

/* Keep a reply body the test built until teardown. */
static inline const char *cf_keep(struct cluster_fixture *cf, char *text)
{
        assert_non_null(text);
        assert_true(cf->n_texts < CF_TEXTS);
        cf->texts[cf->n_texts++] = text;
        return text;
}

/* An open record of sender's message inbound_id, as the table holds it,
 * open by open_by (a new reference). */
static inline json_t *cf_record(struct cluster_fixture *cf, const char *sender,
                                const char *inbound_id, int64_t received_at, const char *open_by)
{
        char raw[512];
        json_t *put, *item;

        (void)snprintf(raw, sizeof(raw),
                       "{\"originationNumber\":\"%s\",\"destinationNumber\":\"" JOB_FIXTURE_NUMBER
                       "\",\"messageKeyword\":\"KEYWORD_123456789012\",\"messageBody\":\"hello "
                       "from %s\",\"inboundMessageId\":\"%s\"}",
                       sender, inbound_id, inbound_id);
        put = cluster_record_put_request(
                cluster_params(cf->cl),
                &(struct cluster_msg){
                        .sender = sender,
                        .inbound_message_id = inbound_id,
                        .sns_message_id = inbound_id,
                        .destination = JOB_FIXTURE_NUMBER,
                        .topic_arn = "arn:aws:sns:us-east-1:123456789012:t",
                        .raw = raw,
                        .received_at = received_at,
                        .keyword_class = SPOOL_CLASS_OTHER,
                },
                received_at);
        assert_non_null(put);
        item = json_incref(json_object_get(put, "Item"));
        json_decref(put);
        assert_int_equal(ddb_item_set(item, "open_by", ddb_av_s(open_by)), 0);
        return item;
}

/* A Query's answer holding items (stolen), with LastEvaluatedKey the key of
 * the last item when more pages follow. */
static inline struct scripted_reply cf_page(struct cluster_fixture *cf, json_t *items, bool more)
{
        json_t *last = json_array_get(items, json_array_size(items) - 1);
        json_t *answer =
                json_pack("{s:O,s:I}", "Items", items, "Count", (json_int_t)json_array_size(items));
        const char *text;

        assert_non_null(answer);
        if (more)
                assert_int_equal(json_object_set_new(answer, "LastEvaluatedKey",
                                                     json_pack("{s:O,s:O}", "pk",
                                                               json_object_get(last, "pk"), "sk",
                                                               json_object_get(last, "sk"))),
                                 0);
        text = cf_keep(cf, json_dumps(answer, JSON_COMPACT));
        json_decref(answer);
        json_decref(items);
        return DDB_OK(text);
}

/* A string or number of a request: member (TableName, ConditionExpression,
 * ...), or a value (":f") of ExpressionAttributeValues, or a Key attribute
 * ("pk"); "" when missing. */
static inline const char *cf_field(const json_t *req, const char *name)
{
        const char *v = json_string_value(json_object_get(req, name));

        if (!v && name[0] == ':') {
                v = ddb_request_value(req, name, "S");
                if (!v)
                        v = ddb_request_value(req, name, "N");
        } else if (!v)
                v = ddb_request_key(req, name);
        return v ? v : "";
}

/* The request is a conditional write on table's item (pk, sk) with exactly
 * that condition. */
static inline void cf_assert_write(const json_t *req, const char *pk, const char *sk,
                                   const char *condition)
{
        assert_string_equal(cf_field(req, "TableName"), CF_TABLE);
        assert_string_equal(cf_field(req, "pk"), pk);
        assert_string_equal(cf_field(req, "sk"), sk);
        assert_string_equal(cf_field(req, "ConditionExpression"), condition);
}

/* The k-th lease release (waited for): of sender's lease of lane, by this
 * instance, under fence. */
static inline void cf_assert_release(struct cluster_fixture *cf, size_t k, const char *sender,
                                     const char *lane, const char *fence)
{
        char pk[64], sk[64];
        json_t *req;

        cf_wait_calls(cf, "UpdateItem", CF_RELEASE_COND, NULL, k + 1);
        req = cf_call_json(cf, "UpdateItem", CF_RELEASE_COND, NULL, k);
        (void)snprintf(pk, sizeof(pk), "sender#%s", sender);
        (void)snprintf(sk, sizeof(sk), "lease#%s", lane);
        cf_assert_write(req, pk, sk, CF_RELEASE_COND);
        assert_string_equal(cf_field(req, "UpdateExpression"), "SET #u = :zero");
        assert_string_equal(cf_field(req, ":me"), CF_ME);
        assert_string_equal(cf_field(req, ":f"), fence);
        json_decref(req);
}

/* Until the spool holds n rows in state. */
struct cf_rows {
        struct cluster_fixture *cf;
        enum spool_state state;
        uint64_t n;
};

static inline bool cf_has_rows(const void *arg)
{
        const struct cf_rows *w = arg;
        struct spool_counts c;

        return spool_counts(w->cf->f->spool, &c) == 0 && c.by_state[w->state] >= w->n;
}

static inline uint64_t cf_rows(struct cluster_fixture *cf, enum spool_state state)
{
        struct spool_counts c;

        assert_int_equal(spool_counts(cf->f->spool, &c), 0);
        return c.by_state[state];
}

static inline void cf_wait_rows(struct cluster_fixture *cf, enum spool_state state, uint64_t n)
{
        struct cf_rows w = {cf, state, n};

        if (!run_loop_while_not(cf->f->loop, cf_has_rows, &w, CF_WAIT))
                fail_msg("%llu %s row(s) expected, %llu", (unsigned long long)n,
                         spool_state_to_string(state), (unsigned long long)cf_rows(cf, state));
}

/* The spool's row of message inbound_id, in whatever state (NULL: none;
 * the caller spool_row_free()s). */
static inline struct spool_row *cf_row_of(struct cluster_fixture *cf, const char *inbound_id)
{
        struct spool_row **rows = NULL, *found = NULL;
        int n = spool_list(cf->f->spool, SPOOL_STATE_ANY, 0, 64, &rows);

        assert_true(n >= 0);
        for (int i = 0; i < n; i++)
                if (!found && streq(rows[i]->inbound_message_id, inbound_id)) {
                        found = rows[i];
                        rows[i] = NULL;
                }
        for (int i = 0; i < n; i++)
                spool_row_free(rows[i]);
        free(rows);
        return found;
}

#endif
