/*
 * ddb.h — DynamoDB GetItem, PutItem and UpdateItem over aws.h, and a small
 * builder/reader for DynamoDB attribute values on jansson.
 *
 * Attribute values are one-key objects: {"S":"x"}, {"N":"42"} (numbers travel
 * as strings), {"BOOL":true}, {"NULL":true}, {"L":[...]}, {"M":{...}}. An
 * item is a plain object of name -> attribute value.
 *
 * Builders return a new reference, or NULL on OOM/invalid input. The
 * ddb_*_set functions steal the reference to the value (as
 * json_object_set_new does), also on failure, and accept NULL (returning
 * -ENOMEM), so calls can be nested without leaks:
 *     ddb_item_set(item, "pk", ddb_av_s(pk));
 * ddb_item_add() and ddb_item_of() take (name, value) pairs ended by a NULL
 * name, and likewise steal every value:
 *     key = ddb_item_of("pk", ddb_av_s(pk), "sk", ddb_av_s(sk), NULL);
 * Readers borrow: returned strings and json_t pointers are valid as long as
 * the attribute value they came from.
 *
 * Calls follow the callback contract of aws.h. r == 0 on success; otherwise
 * r < 0 and res->aws->error classifies it. A failed ConditionExpression is
 * surfaced distinctly: r == -EREMOTEIO with res->condition_failed set (and
 * res->item holding the old item when return_old_on_condition_failure asked
 * for it) — it is a permanent error, never retried.
 *
 * Ownership: parameters are borrowed for the duration of the start call.
 * struct ddb_result and everything it points to are valid only during the
 * callback (json_incref(res->item) to keep it).
 */
#ifndef TWOWAYD_DDB_H
#define TWOWAYD_DDB_H

#include <stdbool.h>

#include <jansson.h>

struct aws_client;
struct aws_call;
struct aws_result;

/* --- attribute values ---------------------------------------------------------- */

json_t *ddb_av_s(const char *s);
json_t *ddb_av_n_int(long long v);
json_t *ddb_av_l(void); /* empty {"L":[]} */
json_t *ddb_av_m(void); /* empty {"M":{}} */
int ddb_av_m_set(json_t *m, const char *name, json_t *av);
int ddb_item_set(json_t *item, const char *name, json_t *av);
/* Sets each pair in order: 0, or the first pair's failure. */
int ddb_item_add(json_t *item, const char *name, ...) __attribute__((sentinel));
/* A new item of the pairs, or NULL. */
json_t *ddb_item_of(const char *name, ...) __attribute__((sentinel));

/* Readers: NULL / -EINVAL (wrong type) / -ENOENT (missing). */
const char *ddb_av_get_s(const json_t *av);
const char *ddb_av_get_n(const json_t *av);
int ddb_av_get_n_int(const json_t *av, long long *ret);
int ddb_av_get_bool(const json_t *av, bool *ret);
bool ddb_av_is_null(const json_t *av);
json_t *ddb_av_get_l(const json_t *av); /* the array */
json_t *ddb_av_get_m(const json_t *av); /* the object */

const char *ddb_item_get_s(const json_t *item, const char *name);
int ddb_item_get_n_int(const json_t *item, const char *name, long long *ret);

/* Is this a well-formed number string for {"N":...}? */
bool ddb_number_is_valid(const char *s);

/* --- requests --------------------------------------------------------------------- */

struct ddb_get_params {
        const char *table;
        const json_t *key; /* item of the key attributes */
        bool consistent_read;
        const char *projection; /* ProjectionExpression or NULL */
        const json_t *names;    /* ExpressionAttributeNames or NULL */
};

struct ddb_put_params {
        const char *table;
        const json_t *item;
        const char *condition;                /* ConditionExpression or NULL */
        const json_t *names;                  /* ExpressionAttributeNames or NULL */
        const json_t *values;                 /* ExpressionAttributeValues or NULL */
        const char *return_values;            /* NONE | ALL_OLD, or NULL */
        bool return_old_on_condition_failure; /* ReturnValuesOnConditionCheckFailure=ALL_OLD */
};

struct ddb_update_params {
        const char *table;
        const json_t *key;
        const char *update;    /* UpdateExpression (required) */
        const char *condition; /* or NULL */
        const json_t *names;
        const json_t *values;
        const char *return_values; /* NONE | ALL_OLD | UPDATED_OLD | ALL_NEW | UPDATED_NEW */
        bool return_old_on_condition_failure;
};

struct ddb_query_params {
        const char *table;
        const char *index;         /* IndexName or NULL (a GSI: no consistent read) */
        const char *key_condition; /* KeyConditionExpression (required) */
        const char *filter;        /* FilterExpression or NULL */
        const json_t *names;
        const json_t *values;
        bool consistent_read;
        unsigned limit;          /* 0: none */
        const json_t *start_key; /* ExclusiveStartKey or NULL */
};

/* The request bodies (pure; exposed for tests). New reference or NULL on
 * invalid parameters/OOM. */
json_t *ddb_get_item_request(const struct ddb_get_params *p);
json_t *ddb_put_item_request(const struct ddb_put_params *p);
json_t *ddb_update_item_request(const struct ddb_update_params *p);
json_t *ddb_query_request(const struct ddb_query_params *p);

struct ddb_result {
        json_t *item;          /* GetItem: "Item" (NULL: no such item); Put/Update: "Attributes"
                                * (NULL unless ReturnValues asked); condition failure: the old
                                * item if asked for */
        json_t *items;         /* Query: "Items" (an array; NULL otherwise) */
        json_t *last_key;      /* Query: "LastEvaluatedKey" (NULL: no more pages) */
        bool condition_failed; /* ConditionalCheckFailedException */
        const struct aws_result *aws; /* status, request id, attempts, classified error */
};

typedef void (*ddb_cb)(int r, const struct ddb_result *res, void *userdata);

int ddb_get_item(struct aws_client *c, const struct ddb_get_params *p, ddb_cb cb, void *userdata,
                 struct aws_call **ret);
int ddb_put_item(struct aws_client *c, const struct ddb_put_params *p, ddb_cb cb, void *userdata,
                 struct aws_call **ret);
int ddb_update_item(struct aws_client *c, const struct ddb_update_params *p, ddb_cb cb,
                    void *userdata, struct aws_call **ret);
/* A request body built elsewhere (one of the builders above) for operation op
 * (GetItem, PutItem, UpdateItem, Query). Steals body, also on failure. */
int ddb_request(struct aws_client *c, const char *op, json_t *body, ddb_cb cb, void *userdata,
                struct aws_call **ret);

#endif
