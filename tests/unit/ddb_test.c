/*
 * ddb_test.c — the attribute-value builder and reader, and the request
 * bodies of GetItem, PutItem, UpdateItem and Query, byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

#include "common.h"
#include "ddb.h"

static void assert_json(const json_t *j, const char *expected)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        assert_non_null(s);
        if (!streq(s, expected))
                fail_msg("got %s\nwant %s", s, expected);
        free(s);
}

/* The request bytes as they go on the wire: members in the order written. */
static void assert_wire(json_t *j, const char *expected)
{
        char *s = json_dumps(j, JSON_COMPACT);

        assert_non_null(s);
        if (!streq(s, expected))
                fail_msg("got %s\nwant %s", s, expected);
        free(s);
        json_decref(j);
}

static void test_builders(void **state)
{
        json_t *item = json_object();
        json_t *l = ddb_av_l();
        json_t *m = ddb_av_m();

        assert_int_equal(ddb_item_set(item, "pk", ddb_av_s("+14255550182")), 0);
        assert_int_equal(ddb_item_set(item, "ttl", ddb_av_n_int(1767225600)), 0);
        assert_int_equal(ddb_item_set(item, "neg", ddb_av_n_int(-5)), 0);
        /* An L is filled through its array, as consent.c fills the history. */
        assert_int_equal(json_array_append_new(ddb_av_get_l(l), ddb_av_s("a")), 0);
        assert_int_equal(json_array_append_new(ddb_av_get_l(l), ddb_av_n_int(2)), 0);
        assert_int_equal(ddb_av_m_set(m, "k", ddb_av_s("v")), 0);
        assert_int_equal(json_array_append_new(ddb_av_get_l(l), m), 0);
        assert_int_equal(ddb_item_set(item, "list", l), 0);

        assert_json(item, "{\"list\":{\"L\":[{\"S\":\"a\"},{\"N\":\"2\"},{\"M\":{\"k\":{\"S\":"
                          "\"v\"}}}]},\"neg\":{\"N\":\"-5\"},\"pk\":{\"S\":\"+14255550182\"},"
                          "\"ttl\":{\"N\":\"1767225600\"}}");
        json_decref(item);
}

/* Items of (name, value) pairs: in their order; a failed pair (a NULL value)
 * fails the whole, and every value is consumed either way (the sanitizer
 * run finds a leak). */
static void test_item_of(void **state)
{
        json_t *item = ddb_item_of("pk", ddb_av_s("a"), "n", ddb_av_n_int(7), NULL);

        assert_wire(item, "{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"7\"}}");
        assert_null(ddb_item_of("pk", ddb_av_s("a"), "bad", ddb_av_s(NULL), "n", ddb_av_n_int(7),
                                NULL));
        assert_null(ddb_item_of("pk", ddb_av_s("a"), "", ddb_av_s("empty name"), NULL));

        item = ddb_item_of("pk", ddb_av_s("a"), NULL);
        assert_int_equal(ddb_item_add(item, "b", ddb_av_n_int(1), "c", ddb_av_m(), NULL), 0);
        assert_int_equal(ddb_item_add(item, "d", ddb_av_s(NULL), "e", ddb_av_s("x"), NULL),
                         -ENOMEM);
        assert_int_equal(ddb_item_add(NULL, "f", ddb_av_s("x"), NULL), -EINVAL);
        /* What came before the failed pair stays; what came after it is not set. */
        json_incref(item);
        assert_wire(item, "{\"pk\":{\"S\":\"a\"},\"b\":{\"N\":\"1\"},\"c\":{\"M\":{}}}");
        json_decref(item);
}

static void test_builder_errors(void **state)
{
        json_t *item = json_object();
        json_t *s = ddb_av_s("x");

        /* Invalid numbers are refused. */
        assert_false(ddb_number_is_valid("12abc"));
        assert_false(ddb_number_is_valid(""));
        assert_false(ddb_number_is_valid("1e"));
        assert_false(ddb_number_is_valid("."));
        assert_false(ddb_number_is_valid(NULL));
        assert_null(ddb_av_s(NULL));
        assert_true(ddb_number_is_valid("-0.25"));
        assert_true(ddb_number_is_valid("7."));
        assert_true(ddb_number_is_valid(".5E-2"));
        assert_false(ddb_number_is_valid("0x10"));

        /* NULL values (an OOM upstream) are reported, not crashed on. */
        assert_int_equal(ddb_item_set(item, "a", NULL), -ENOMEM);
        /* Wrong containers: the stolen value is released (ASan checks). */
        assert_int_equal(ddb_av_m_set(s, "k", ddb_av_s("y")), -EINVAL);
        assert_int_equal(ddb_item_set(item, "", ddb_av_s("y")), -EINVAL);
        assert_int_equal(ddb_item_set(NULL, "k", ddb_av_s("y")), -EINVAL);
        json_decref(s);
        json_decref(item);
}

static void test_readers(void **state)
{
        const char *doc = "{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"42\"},\"big\":{\"N\":"
                          "\"99999999999999999999\"},\"frac\":{\"N\":\"1.5\"},\"b\":{\"BOOL\":"
                          "true},\"z\":{\"NULL\":true},\"l\":{\"L\":[{\"S\":\"x\"}]},\"m\":{\"M\":"
                          "{\"q\":{\"N\":\"1\"}}},\"bad\":{\"S\":\"a\",\"N\":\"1\"},\"badn\":{"
                          "\"N\":\"nope\"}}";
        json_t *item = json_loads(doc, 0, NULL);
        long long v;
        bool b;

        assert_non_null(item);
        assert_string_equal(ddb_item_get_s(item, "pk"), "a");
        assert_null(ddb_item_get_s(item, "n"));       /* wrong type */
        assert_null(ddb_item_get_s(item, "missing")); /* absent */
        assert_null(ddb_item_get_s(item, "bad"));     /* two type keys */

        assert_int_equal(ddb_item_get_n_int(item, "n", &v), 0);
        assert_int_equal(v, 42);
        assert_int_equal(ddb_item_get_n_int(item, "big", &v), -EINVAL);
        assert_int_equal(ddb_item_get_n_int(item, "frac", &v), -EINVAL);
        assert_int_equal(ddb_item_get_n_int(item, "badn", &v), -EINVAL);
        assert_int_equal(ddb_item_get_n_int(item, "pk", &v), -EINVAL);
        assert_int_equal(ddb_item_get_n_int(item, "missing", &v), -ENOENT);
        assert_string_equal(ddb_av_get_n(json_object_get(item, "frac")), "1.5");

        assert_int_equal(ddb_av_get_bool(json_object_get(item, "b"), &b), 0);
        assert_true(b);
        assert_int_equal(ddb_av_get_bool(json_object_get(item, "pk"), &b), -EINVAL);
        assert_int_equal(ddb_av_get_bool(json_object_get(item, "missing"), &b), -ENOENT);

        assert_true(ddb_av_is_null(json_object_get(item, "z")));
        assert_false(ddb_av_is_null(json_object_get(item, "pk")));

        assert_int_equal(json_array_size(ddb_av_get_l(json_object_get(item, "l"))), 1);
        assert_string_equal(
                ddb_av_get_s(json_array_get(ddb_av_get_l(json_object_get(item, "l")), 0)), "x");
        assert_null(ddb_av_get_l(json_object_get(item, "m")));
        assert_non_null(ddb_av_get_m(json_object_get(item, "m")));
        assert_int_equal(ddb_item_get_n_int(ddb_av_get_m(json_object_get(item, "m")), "q", &v), 0);
        assert_int_equal(v, 1);
        assert_null(ddb_av_get_m(NULL));
        json_decref(item);
}

static void test_requests(void **state)
{
        json_t *key = json_object(), *item = json_object(), *names = json_object(),
               *values = json_object(), *r;

        assert_int_equal(ddb_item_set(key, "pk", ddb_av_s("a")), 0);
        assert_int_equal(ddb_item_set(item, "pk", ddb_av_s("a")), 0);
        assert_int_equal(ddb_item_set(item, "ttl", ddb_av_n_int(5)), 0);
        assert_int_equal(json_object_set_new(names, "#c", json_string("count")), 0);
        assert_int_equal(ddb_item_set(values, ":one", ddb_av_n_int(1)), 0);

        r = ddb_get_item_request(
                &(struct ddb_get_params){.table = "t", .key = key, .consistent_read = true});
        assert_json(r,
                    "{\"ConsistentRead\":true,\"Key\":{\"pk\":{\"S\":\"a\"}},\"TableName\":\"t\"}");
        json_decref(r);

        r = ddb_put_item_request(&(struct ddb_put_params){
                .table = "t",
                .item = item,
                .condition = "attribute_not_exists(pk)",
                .return_old_on_condition_failure = true,
        });
        assert_json(r, "{\"ConditionExpression\":\"attribute_not_exists(pk)\",\"Item\":{\"pk\":"
                       "{\"S\":\"a\"},\"ttl\":{\"N\":\"5\"}},\"ReturnValuesOnConditionCheckFailure"
                       "\":\"ALL_OLD\",\"TableName\":\"t\"}");
        json_decref(r);

        r = ddb_update_item_request(&(struct ddb_update_params){
                .table = "t",
                .key = key,
                .update = "SET #c = if_not_exists(#c, :one) + :one",
                .condition = "attribute_exists(pk)",
                .names = names,
                .values = values,
                .return_values = "ALL_NEW",
        });
        assert_json(r, "{\"ConditionExpression\":\"attribute_exists(pk)\",\"ExpressionAttribute"
                       "Names\":{\"#c\":\"count\"},\"ExpressionAttributeValues\":{\":one\":{\"N\""
                       ":\"1\"}},\"Key\":{\"pk\":{\"S\":\"a\"}},\"ReturnValues\":\"ALL_NEW\","
                       "\"TableName\":\"t\",\"UpdateExpression\":\"SET #c = if_not_exists(#c, "
                       ":one) + :one\"}");
        json_decref(r);

        /* The caller's objects are borrowed, not consumed. */
        assert_int_equal(key->refcount, 1);
        assert_int_equal(values->refcount, 1);

        /* Invalid parameters. */
        assert_null(ddb_get_item_request(&(struct ddb_get_params){.table = "t"}));
        assert_null(ddb_get_item_request(&(struct ddb_get_params){.key = key}));
        {
                json_t *empty = json_object();
                assert_null(ddb_put_item_request(
                        &(struct ddb_put_params){.table = "t", .item = empty}));
                json_decref(empty);
        }
        assert_null(ddb_update_item_request(&(struct ddb_update_params){.table = "t", .key = key}));
        {
                json_t *arr = json_array();
                assert_null(ddb_put_item_request(
                        &(struct ddb_put_params){.table = "t", .item = item, .names = arr}));
                json_decref(arr);
        }
        assert_null(ddb_get_item_request(NULL));

        json_decref(key);
        json_decref(item);
        json_decref(names);
        json_decref(values);
}

/* Every member each builder writes, in its order on the wire. */
static void test_request_bytes(void **state)
{
        json_t *key = json_object(), *item = json_object(), *names = json_object(),
               *values = json_object(), *start = json_object();

        assert_int_equal(ddb_item_set(key, "pk", ddb_av_s("a")), 0);
        assert_int_equal(ddb_item_set(item, "pk", ddb_av_s("a")), 0);
        assert_int_equal(json_object_set_new(names, "#c", json_string("count")), 0);
        assert_int_equal(ddb_item_set(values, ":one", ddb_av_n_int(1)), 0);
        assert_int_equal(ddb_item_set(start, "pk", ddb_av_s("b")), 0);

        assert_wire(ddb_get_item_request(&(struct ddb_get_params){
                            .table = "t",
                            .key = key,
                            .consistent_read = true,
                            .projection = "#c",
                            .names = names,
                    }),
                    "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},\"ConsistentRead\":true,"
                    "\"ProjectionExpression\":\"#c\",\"ExpressionAttributeNames\":{\"#c\":"
                    "\"count\"}}");
        assert_wire(ddb_get_item_request(&(struct ddb_get_params){.table = "t", .key = key}),
                    "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}}}");

        assert_wire(
                ddb_put_item_request(&(struct ddb_put_params){
                        .table = "t",
                        .item = item,
                        .condition = "attribute_not_exists(pk)",
                        .names = names,
                        .values = values,
                        .return_values = "ALL_OLD",
                        .return_old_on_condition_failure = true,
                }),
                "{\"TableName\":\"t\",\"Item\":{\"pk\":{\"S\":\"a\"}},\"ConditionExpression"
                "\":\"attribute_not_exists(pk)\",\"ExpressionAttributeNames\":{\"#c\":\"count\"},"
                "\"ExpressionAttributeValues\":{\":one\":{\"N\":\"1\"}},\"ReturnValues\":"
                "\"ALL_OLD\",\"ReturnValuesOnConditionCheckFailure\":\"ALL_OLD\"}");
        assert_wire(ddb_put_item_request(&(struct ddb_put_params){.table = "t", .item = item}),
                    "{\"TableName\":\"t\",\"Item\":{\"pk\":{\"S\":\"a\"}}}");

        assert_wire(ddb_update_item_request(&(struct ddb_update_params){
                            .table = "t",
                            .key = key,
                            .update = "SET #c = :one",
                            .condition = "attribute_exists(pk)",
                            .names = names,
                            .values = values,
                            .return_values = "ALL_NEW",
                            .return_old_on_condition_failure = true,
                    }),
                    "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},\"UpdateExpression\":"
                    "\"SET #c = :one\",\"ConditionExpression\":\"attribute_exists(pk)\","
                    "\"ExpressionAttributeNames\":{\"#c\":\"count\"},\"ExpressionAttributeValues"
                    "\":{\":one\":{\"N\":\"1\"}},\"ReturnValues\":\"ALL_NEW\","
                    "\"ReturnValuesOnConditionCheckFailure\":\"ALL_OLD\"}");
        assert_wire(ddb_update_item_request(&(struct ddb_update_params){
                            .table = "t", .key = key, .update = "SET #c = :one"}),
                    "{\"TableName\":\"t\",\"Key\":{\"pk\":{\"S\":\"a\"}},\"UpdateExpression\":"
                    "\"SET #c = :one\"}");

        assert_wire(ddb_query_request(&(struct ddb_query_params){
                            .table = "t",
                            .index = "by-c",
                            .key_condition = "#c = :one",
                            .filter = "attribute_exists(pk)",
                            .names = names,
                            .values = values,
                            .consistent_read = true,
                            .limit = 25,
                            .start_key = start,
                    }),
                    "{\"TableName\":\"t\",\"IndexName\":\"by-c\",\"KeyConditionExpression\":"
                    "\"#c = :one\",\"FilterExpression\":\"attribute_exists(pk)\","
                    "\"ExpressionAttributeNames\":{\"#c\":\"count\"},\"ExpressionAttributeValues"
                    "\":{\":one\":{\"N\":\"1\"}},\"ConsistentRead\":true,\"Limit\":25,"
                    "\"ExclusiveStartKey\":{\"pk\":{\"S\":\"b\"}}}");
        assert_wire(ddb_query_request(
                            &(struct ddb_query_params){.table = "t", .key_condition = "#c = :one"}),
                    "{\"TableName\":\"t\",\"KeyConditionExpression\":\"#c = :one\"}");

        /* Invalid: a query without its key condition, a start key that is no object. */
        assert_null(ddb_query_request(&(struct ddb_query_params){.table = "t"}));
        {
                json_t *arr = json_array();

                assert_null(ddb_query_request(&(struct ddb_query_params){
                        .table = "t", .key_condition = "#c = :one", .start_key = arr}));
                json_decref(arr);
        }

        /* Borrowed, not consumed. */
        assert_int_equal(key->refcount, 1);
        assert_int_equal(names->refcount, 1);
        assert_int_equal(start->refcount, 1);

        json_decref(key);
        json_decref(item);
        json_decref(names);
        json_decref(values);
        json_decref(start);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_builders),      cmocka_unit_test(test_builder_errors),
                cmocka_unit_test(test_readers),       cmocka_unit_test(test_requests),
                cmocka_unit_test(test_request_bytes), cmocka_unit_test(test_item_of),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
