/*
 * ddb.c — DynamoDB requests and attribute values.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>

#include "aws.h"
#include "common.h"
#include "ddb.h"

/* --- attribute values ---------------------------------------------------------- */

static json_t *av_wrap(const char *type, json_t *v)
{
        json_t *o;

        if (!v)
                return NULL;
        o = json_object();
        if (!o || json_object_set_new(o, type, v) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

json_t *ddb_av_s(const char *s)
{
        return s ? av_wrap("S", json_string(s)) : NULL;
}

bool ddb_number_is_valid(const char *s)
{
        const char *p = s;
        bool digits = false;

        if (isempty(s) || strlen(s) > 64)
                return false;
        if (*p == '-' || *p == '+')
                p++;
        while (isdigit((unsigned char)*p)) {
                p++;
                digits = true;
        }
        if (*p == '.') {
                p++;
                while (isdigit((unsigned char)*p)) {
                        p++;
                        digits = true;
                }
        }
        if (!digits)
                return false;
        if (*p == 'e' || *p == 'E') {
                p++;
                if (*p == '-' || *p == '+')
                        p++;
                if (!isdigit((unsigned char)*p))
                        return false;
                while (isdigit((unsigned char)*p))
                        p++;
        }
        return *p == '\0';
}

json_t *ddb_av_n_int(long long v)
{
        char buf[32];

        (void)snprintf(buf, sizeof(buf), "%lld", v);
        return av_wrap("N", json_string(buf));
}

json_t *ddb_av_l(void)
{
        return av_wrap("L", json_array());
}

json_t *ddb_av_m(void)
{
        return av_wrap("M", json_object());
}

int ddb_av_m_set(json_t *m, const char *name, json_t *av)
{
        json_t *obj = ddb_av_get_m(m);

        if (!av)
                return -ENOMEM;
        if (!obj || isempty(name)) {
                json_decref(av);
                return -EINVAL;
        }
        return json_object_set_new(obj, name, av) < 0 ? -ENOMEM : 0;
}

int ddb_item_set(json_t *item, const char *name, json_t *av)
{
        if (!av)
                return -ENOMEM;
        if (!json_is_object(item) || isempty(name)) {
                json_decref(av);
                return -EINVAL;
        }
        return json_object_set_new(item, name, av) < 0 ? -ENOMEM : 0;
}

/* Every pair is consumed: after the first failure the rest are only freed. */
static int item_addv(json_t *item, const char *name, va_list ap)
{
        int r = 0;

        for (const char *k = name; k; k = va_arg(ap, const char *)) {
                json_t *av = va_arg(ap, json_t *);

                if (r < 0)
                        json_decref(av);
                else
                        r = ddb_item_set(item, k, av);
        }
        return r;
}

int ddb_item_add(json_t *item, const char *name, ...)
{
        va_list ap;
        int r;

        va_start(ap, name);
        r = item_addv(item, name, ap);
        va_end(ap);
        return r;
}

json_t *ddb_item_of(const char *name, ...)
{
        json_t *item = json_object();
        va_list ap;
        int r;

        va_start(ap, name);
        r = item_addv(item, name, ap); /* frees the values also when item is NULL */
        va_end(ap);
        if (r < 0) {
                json_decref(item);
                return NULL;
        }
        return item;
}

/* The value of a one-key attribute value of the given type. */
static json_t *av_member(const json_t *av, const char *type)
{
        if (!json_is_object(av) || json_object_size(av) != 1)
                return NULL;
        return json_object_get(av, type);
}

const char *ddb_av_get_s(const json_t *av)
{
        json_t *v = av_member(av, "S");
        return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *ddb_av_get_n(const json_t *av)
{
        json_t *v = av_member(av, "N");
        return json_is_string(v) && ddb_number_is_valid(json_string_value(v)) ? json_string_value(v)
                                                                              : NULL;
}

int ddb_av_get_n_int(const json_t *av, long long *ret)
{
        const char *s = ddb_av_get_n(av);
        char *end;
        long long v;

        if (!av)
                return -ENOENT;
        if (!s)
                return -EINVAL;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0')
                return -EINVAL; /* fractional, exponent or out of range */
        *ret = v;
        return 0;
}

int ddb_av_get_bool(const json_t *av, bool *ret)
{
        json_t *v;

        if (!av)
                return -ENOENT;
        v = av_member(av, "BOOL");
        if (!json_is_boolean(v))
                return -EINVAL;
        *ret = json_is_true(v);
        return 0;
}

bool ddb_av_is_null(const json_t *av)
{
        return json_is_true(av_member(av, "NULL"));
}

json_t *ddb_av_get_l(const json_t *av)
{
        json_t *v = av_member(av, "L");
        return json_is_array(v) ? v : NULL;
}

json_t *ddb_av_get_m(const json_t *av)
{
        json_t *v = av_member(av, "M");
        return json_is_object(v) ? v : NULL;
}

const char *ddb_item_get_s(const json_t *item, const char *name)
{
        return ddb_av_get_s(json_object_get(item, name));
}

int ddb_item_get_n_int(const json_t *item, const char *name, long long *ret)
{
        return ddb_av_get_n_int(json_object_get(item, name), ret);
}

/* --- requests --------------------------------------------------------------------- */

/* One member of a request body: a string, an object (borrowed), true, or a
 * positive integer, by which of them is set; a member with none is left out. */
struct member {
        const char *name;
        const char *s;
        const json_t *obj;
        bool is_true;
        long long n;
};

static int set_member(json_t *o, const struct member *m)
{
        json_t *v;

        if (m->obj && !json_is_object(m->obj))
                return -EINVAL;
        if (m->s)
                v = json_string(m->s);
        else if (m->obj)
                v = json_incref((json_t *)(uintptr_t)m->obj); /* the caller's stays intact */
        else if (m->is_true)
                v = json_true();
        else if (m->n > 0)
                v = json_integer(m->n);
        else
                return 0;
        return json_object_set_new(o, m->name, v) < 0 ? -ENOMEM : 0;
}

/* The body from its members, in their order; then the tail's, if any. */
static json_t *body_of(const struct member *m, size_t n, const struct member *tail, size_t n_tail)
{
        json_t *o = json_object();
        int r = o ? 0 : -ENOMEM;

        for (size_t i = 0; r >= 0 && i < n + n_tail; i++)
                r = set_member(o, i < n ? &m[i] : &tail[i - n]);
        if (r < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

json_t *ddb_get_item_request(const struct ddb_get_params *p)
{
        if (!p || isempty(p->table) || !json_is_object(p->key) || json_object_size(p->key) == 0)
                return NULL;
        const struct member m[] = {
                {"TableName", .s = p->table},
                {"Key", .obj = p->key},
                {"ConsistentRead", .is_true = p->consistent_read},
                {"ProjectionExpression", .s = p->projection},
                {"ExpressionAttributeNames", .obj = p->names},
        };
        return body_of(m, ARRAY_SIZE(m), NULL, 0);
}

/* PutItem and UpdateItem: their own members (head), then the ones they share:
 * the condition, its names and values, and what to return. */
static json_t *write_body(const struct member *head, size_t n, const char *condition,
                          const json_t *names, const json_t *values, const char *return_values,
                          bool return_old_on_condition_failure)
{
        const struct member tail[] = {
                {"ConditionExpression", .s = condition},
                {"ExpressionAttributeNames", .obj = names},
                {"ExpressionAttributeValues", .obj = values},
                {"ReturnValues", .s = return_values},
                {"ReturnValuesOnConditionCheckFailure",
                 .s = return_old_on_condition_failure ? "ALL_OLD" : NULL},
        };
        return body_of(head, n, tail, ARRAY_SIZE(tail));
}

json_t *ddb_put_item_request(const struct ddb_put_params *p)
{
        if (!p || isempty(p->table) || !json_is_object(p->item) || json_object_size(p->item) == 0)
                return NULL;
        const struct member head[] = {
                {"TableName", .s = p->table},
                {"Item", .obj = p->item},
        };
        return write_body(head, ARRAY_SIZE(head), p->condition, p->names, p->values,
                          p->return_values, p->return_old_on_condition_failure);
}

json_t *ddb_update_item_request(const struct ddb_update_params *p)
{
        if (!p || isempty(p->table) || isempty(p->update) || !json_is_object(p->key) ||
            json_object_size(p->key) == 0)
                return NULL;
        const struct member head[] = {
                {"TableName", .s = p->table},
                {"Key", .obj = p->key},
                {"UpdateExpression", .s = p->update},
        };
        return write_body(head, ARRAY_SIZE(head), p->condition, p->names, p->values,
                          p->return_values, p->return_old_on_condition_failure);
}

json_t *ddb_query_request(const struct ddb_query_params *p)
{
        if (!p || isempty(p->table) || isempty(p->key_condition))
                return NULL;
        const struct member m[] = {
                {"TableName", .s = p->table},
                {"IndexName", .s = p->index},
                {"KeyConditionExpression", .s = p->key_condition},
                {"FilterExpression", .s = p->filter},
                {"ExpressionAttributeNames", .obj = p->names},
                {"ExpressionAttributeValues", .obj = p->values},
                {"ConsistentRead", .is_true = p->consistent_read},
                {"Limit", .n = p->limit},
                {"ExclusiveStartKey", .obj = p->start_key},
        };
        return body_of(m, ARRAY_SIZE(m), NULL, 0);
}

struct ddb_ctx {
        ddb_cb cb;
        void *userdata;
        const char *result_member; /* "Item" or "Attributes" */
};

static void ddb_done(struct aws_call *call, int r, const struct aws_result *ares, void *userdata)
{
        struct ddb_ctx *ctx = userdata;
        struct ddb_result res = {.aws = ares};
        json_t *err_doc = NULL;

        if (r >= 0) {
                json_t *v = json_object_get(ares->json, ctx->result_member);
                res.item = json_is_object(v) ? v : NULL;
                v = json_object_get(ares->json, "Items");
                res.items = json_is_array(v) ? v : NULL;
                v = json_object_get(ares->json, "LastEvaluatedKey");
                res.last_key = json_is_object(v) ? v : NULL;
        } else if (aws_error_is(ares->error, "ConditionalCheckFailedException")) {
                res.condition_failed = true;
                if (ares->raw && ares->raw_len > 0) {
                        err_doc = json_loadb((const char *)ares->raw, ares->raw_len, 0, NULL);
                        json_t *v = json_object_get(err_doc, "Item");
                        res.item = json_is_object(v) ? v : NULL;
                }
        }
        ctx->cb(r, &res, ctx->userdata);
        json_decref(err_doc);
        free(ctx);
}

static int ddb_start(struct aws_client *c, const char *op, const char *member, json_t *body,
                     ddb_cb cb, void *userdata, struct aws_call **ret)
{
        struct ddb_ctx *ctx;

        if (!body || !cb) {
                json_decref(body);
                return -EINVAL;
        }
        ctx = calloc(1, sizeof(*ctx));
        if (ctx)
                *ctx = (struct ddb_ctx){.cb = cb, .userdata = userdata, .result_member = member};
        return aws_call_start_owned(c,
                                    &(struct aws_call_params){
                                            .service = AWS_SERVICE_DYNAMODB,
                                            .operation = op,
                                    },
                                    body, ddb_done, ctx, free, ret);
}

int ddb_request(struct aws_client *c, const char *op, json_t *body, ddb_cb cb, void *userdata,
                struct aws_call **ret)
{
        const char *member = op && streq(op, "GetItem") ? "Item" : "Attributes";

        if (isempty(op)) {
                json_decref(body);
                return -EINVAL;
        }
        return ddb_start(c, op, member, body, cb, userdata, ret);
}

int ddb_get_item(struct aws_client *c, const struct ddb_get_params *p, ddb_cb cb, void *userdata,
                 struct aws_call **ret)
{
        return ddb_start(c, "GetItem", "Item", ddb_get_item_request(p), cb, userdata, ret);
}

int ddb_put_item(struct aws_client *c, const struct ddb_put_params *p, ddb_cb cb, void *userdata,
                 struct aws_call **ret)
{
        return ddb_start(c, "PutItem", "Attributes", ddb_put_item_request(p), cb, userdata, ret);
}

int ddb_update_item(struct aws_client *c, const struct ddb_update_params *p, ddb_cb cb,
                    void *userdata, struct aws_call **ret)
{
        return ddb_start(c, "UpdateItem", "Attributes", ddb_update_item_request(p), cb, userdata,
                         ret);
}
