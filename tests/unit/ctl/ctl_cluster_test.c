/*
 * ctl_cluster_test.c — the cluster table as twowayctl creates and checks it:
 * the CreateTable and UpdateTimeToLive requests, the layout check, the
 * heartbeats read as live and dead instances, and the permission probes that
 * can never write.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <jansson.h>

#include "common.h"
#include "ctl_cluster.h"
#include "assert_json.h"

static json_t *load(const char *text)
{
        json_t *j = json_loads(text, 0, NULL);

        assert_non_null(j);
        return j;
}

static void test_create_request(void **state)
{
        json_t *req = ctl_cluster_create_request("twowayd-cluster");

        assert_json(req, "{\"AttributeDefinitions\":[{\"AttributeName\":\"pk\",\"AttributeType\":"
                         "\"S\"},{\"AttributeName\":\"sk\",\"AttributeType\":\"S\"},{"
                         "\"AttributeName\":\"open_by\",\"AttributeType\":\"S\"}],"
                         "\"BillingMode\":\"PAY_PER_REQUEST\",\"GlobalSecondaryIndexes\":[{"
                         "\"IndexName\":\"open-by\",\"KeySchema\":[{\"AttributeName\":"
                         "\"open_by\",\"KeyType\":\"HASH\"},{\"AttributeName\":\"sk\","
                         "\"KeyType\":\"RANGE\"}],\"Projection\":{\"ProjectionType\":\"ALL\"}}],"
                         "\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"},{"
                         "\"AttributeName\":\"sk\",\"KeyType\":\"RANGE\"}],\"TableName\":"
                         "\"twowayd-cluster\"}");
        json_decref(req);
        req = ctl_cluster_enable_ttl_request("twowayd-cluster");
        assert_json(req, "{\"TableName\":\"twowayd-cluster\",\"TimeToLiveSpecification\":{"
                         "\"AttributeName\":\"expires_at\",\"Enabled\":true}}");
        json_decref(req);
}

static void test_table_name(void **state)
{
        assert_true(ctl_cluster_table_name_valid("twowayd-cluster"));
        assert_true(ctl_cluster_table_name_valid("a.b_c"));
        assert_false(ctl_cluster_table_name_valid("ab"));
        assert_false(ctl_cluster_table_name_valid("has space"));
        assert_false(ctl_cluster_table_name_valid("arn:aws:dynamodb:us-east-1:1:table/t"));
        assert_false(ctl_cluster_table_name_valid(NULL));
}

/* The Table of a DescribeTable answer for the layout setup creates. */
static const char good[] =
        "{\"TableName\":\"c\",\"TableStatus\":\"ACTIVE\",\"AttributeDefinitions\":["
        "{\"AttributeName\":\"open_by\",\"AttributeType\":\"S\"},"
        "{\"AttributeName\":\"pk\",\"AttributeType\":\"S\"},"
        "{\"AttributeName\":\"sk\",\"AttributeType\":\"S\"}],"
        "\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"},"
        "{\"AttributeName\":\"sk\",\"KeyType\":\"RANGE\"}],"
        "\"GlobalSecondaryIndexes\":[{\"IndexName\":\"open-by\",\"IndexStatus\":\"CREATING\","
        "\"KeySchema\":[{\"AttributeName\":\"open_by\",\"KeyType\":\"HASH\"},"
        "{\"AttributeName\":\"sk\",\"KeyType\":\"RANGE\"}],"
        "\"Projection\":{\"ProjectionType\":\"ALL\"}}]}";

static void assert_mismatch(const char *edit_from, const char *edit_to, const char *why_expected)
{
        char text[sizeof(good) + 64], why[CTL_CLUSTER_WHY_MAX] = "";
        const char *at = strstr(good, edit_from);
        json_t *t;

        assert_non_null(at);
        (void)snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - good), good, edit_to,
                       at + strlen(edit_from));
        t = load(text);
        assert_false(ctl_cluster_layout_matches(t, why));
        assert_string_equal(why, why_expected);
        json_decref(t);
}

static void test_layout(void **state)
{
        char why[CTL_CLUSTER_WHY_MAX] = "";
        json_t *t = load(good);

        assert_true(ctl_cluster_layout_matches(t, why));
        assert_string_equal(ctl_cluster_index_status(t), "CREATING");
        json_decref(t);

        /* The consent table's key. */
        t = load("{\"KeySchema\":[{\"AttributeName\":\"phone_number\",\"KeyType\":\"HASH\"}],"
                 "\"AttributeDefinitions\":[{\"AttributeName\":\"phone_number\","
                 "\"AttributeType\":\"S\"}]}");
        assert_false(ctl_cluster_layout_matches(t, why));
        assert_string_equal(why,
                            "its key schema is phone_number (HASH), not pk (HASH), sk (RANGE)");
        assert_string_equal(ctl_cluster_index_status(t), "");
        json_decref(t);

        assert_mismatch("{\"AttributeName\":\"sk\",\"AttributeType\":\"S\"}",
                        "{\"AttributeName\":\"sk\",\"AttributeType\":\"N\"}",
                        "its keys are of type pk S, sk N, not strings (S)");
        assert_mismatch("\"IndexName\":\"open-by\"", "\"IndexName\":\"open\"",
                        "it has no global secondary index open-by");
        assert_mismatch("{\"AttributeName\":\"open_by\",\"KeyType\":\"HASH\"}",
                        "{\"AttributeName\":\"owner\",\"KeyType\":\"HASH\"}",
                        "its index open-by has the key owner (HASH), sk (RANGE), not open_by (S, "
                        "HASH), sk (RANGE)");
        assert_mismatch("\"ProjectionType\":\"ALL\"", "\"ProjectionType\":\"KEYS_ONLY\"",
                        "its index open-by projects KEYS_ONLY, not ALL attributes");
        /* The hash and range keys swapped. */
        assert_mismatch("\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"},"
                        "{\"AttributeName\":\"sk\",\"KeyType\":\"RANGE\"}],\"Global",
                        "\"KeySchema\":[{\"AttributeName\":\"sk\",\"KeyType\":\"HASH\"},"
                        "{\"AttributeName\":\"pk\",\"KeyType\":\"RANGE\"}],\"Global",
                        "its key schema is sk (HASH), pk (RANGE), not pk (HASH), sk (RANGE)");
}

static void test_instances(void **state)
{
        /* now = 1,000,000 ms; lease 15 s. */
        json_t *items = load("[{\"pk\":{\"S\":\"cluster\"},\"sk\":{\"S\":\"instance#old\"},"
                             "\"heartbeat_at\":{\"N\":\"984999\"},\"started_at\":{\"N\":\"1000\"},"
                             "\"version\":{\"S\":\"0.1.0\"}},"
                             "{\"pk\":{\"S\":\"cluster\"},\"sk\":{\"S\":\"instance#edge\"},"
                             "\"heartbeat_at\":{\"N\":\"985000\"}},"
                             "{\"pk\":{\"S\":\"cluster\"},\"sk\":{\"S\":\"instance#new\"},"
                             "\"heartbeat_at\":{\"N\":\"999000\"},\"started_at\":{\"N\":\"2000\"},"
                             "\"version\":{\"S\":\"0.1.0\"}},"
                             "{\"pk\":{\"S\":\"cluster\"},\"sk\":{\"S\":\"instance#broken\"},"
                             "\"heartbeat_at\":{\"S\":\"yesterday\"}},"
                             "{\"pk\":{\"S\":\"cluster\"},\"sk\":{\"S\":\"twowayctl#probe\"}}]");
        json_t *out = ctl_cluster_instances(items, 1000000, 15);

        /* Newest heartbeat first; exactly lease_seconds old is still live; an
         * unreadable heartbeat is dead; other items of the partition are not
         * instances. */
        assert_json(out, "[{\"age_ms\":1000,\"heartbeat_at\":999000,\"live\":true,\"name\":\"new\","
                         "\"started_at\":2000,\"version\":\"0.1.0\"},"
                         "{\"age_ms\":15000,\"heartbeat_at\":985000,\"live\":true,\"name\":"
                         "\"edge\",\"started_at\":null,\"version\":null},"
                         "{\"age_ms\":15001,\"heartbeat_at\":984999,\"live\":false,\"name\":"
                         "\"old\",\"started_at\":1000,\"version\":\"0.1.0\"},"
                         "{\"age_ms\":null,\"heartbeat_at\":null,\"live\":false,\"name\":"
                         "\"broken\",\"started_at\":null,\"version\":null}]");
        json_decref(out);
        json_decref(items);

        out = ctl_cluster_instances(NULL, 0, 15);
        assert_int_equal(json_array_size(out), 0);
        json_decref(out);
}

static void test_heartbeat_query(void **state)
{
        json_t *start = load("{\"pk\":{\"S\":\"cluster\"},\"sk\":{\"S\":\"instance#b\"}}");
        json_t *q = ctl_cluster_heartbeat_query("t-1", NULL);

        assert_json(q, "{\"ConsistentRead\":true,\"ExpressionAttributeValues\":{\":pk\":{\"S\":"
                       "\"cluster\"},\":prefix\":{\"S\":\"instance#\"}},"
                       "\"KeyConditionExpression\":\"pk = :pk AND begins_with(sk, :prefix)\","
                       "\"TableName\":\"t-1\"}");
        json_decref(q);
        q = ctl_cluster_heartbeat_query("t-1", start);
        assert_true(json_equal(json_object_get(q, "ExclusiveStartKey"), start));
        json_decref(q);
        json_decref(start);
}

static void test_probes(void **state)
{
        static const char never[] = "attribute_exists(pk) AND attribute_not_exists(pk)";
        size_t writes = 0;
        json_t *query;

        for (size_t i = 0; i < ARRAY_SIZE(ctl_cluster_probes); i++) {
                const struct ctl_cluster_probe *p = &ctl_cluster_probes[i];
                json_t *req = ctl_cluster_probe_request("t-1", p);
                const char *cond;

                assert_non_null(req);
                assert_string_equal(json_string_value(json_object_get(req, "TableName")), "t-1");
                cond = json_string_value(json_object_get(req, "ConditionExpression"));
                /* Every write is conditioned on what no item can satisfy. */
                if (streq(p->operation, "PutItem") || streq(p->operation, "UpdateItem")) {
                        writes++;
                        assert_true(p->expect_condition_failed);
                        assert_non_null(cond);
                        assert_string_equal(cond, never);
                } else {
                        assert_false(p->expect_condition_failed);
                        assert_null(cond);
                }
                json_decref(req);
        }
        assert_int_equal(writes, 2);
#define KEY "{\"pk\":{\"S\":\"cluster\"},\"sk\":{\"S\":\"twowayctl#probe\"}}"
        query = ctl_cluster_probe_request("t-1", &ctl_cluster_probes[0]);
        assert_json(query, "{\"Key\":" KEY ",\"TableName\":\"t-1\"}");
        json_decref(query);
        query = ctl_cluster_probe_request("t-1", &ctl_cluster_probes[1]);
        assert_json(query, "{\"ConditionExpression\":\"attribute_exists(pk) AND "
                           "attribute_not_exists(pk)\",\"Item\":" KEY ",\"TableName\":\"t-1\"}");
        json_decref(query);
        query = ctl_cluster_probe_request("t-1", &ctl_cluster_probes[2]);
        assert_json(query, "{\"ConditionExpression\":\"attribute_exists(pk) AND "
                           "attribute_not_exists(pk)\",\"ExpressionAttributeValues\":{\":v\":{"
                           "\"S\":\"never written\"}},\"Key\":" KEY ",\"TableName\":\"t-1\","
                           "\"UpdateExpression\":\"SET probe = :v\"}");
        json_decref(query);
#undef KEY
        query = ctl_cluster_probe_request("t-1", &ctl_cluster_probes[3]);
        assert_json(query, "{\"ExpressionAttributeValues\":{\":o\":{\"S\":\"twowayctl#probe\"}},"
                           "\"IndexName\":\"open-by\",\"KeyConditionExpression\":\"open_by = :o\","
                           "\"Limit\":1,\"TableName\":\"t-1\"}");
        json_decref(query);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_create_request),  cmocka_unit_test(test_table_name),
                cmocka_unit_test(test_layout),          cmocka_unit_test(test_instances),
                cmocka_unit_test(test_heartbeat_query), cmocka_unit_test(test_probes),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
