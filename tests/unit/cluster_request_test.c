/*
 * cluster_request_test.c — the requests of cluster mode (cluster_request.c),
 * byte for byte: the message record, the leases, the fenced claim, the reply
 * marker, the finish, the heartbeat and the takeover queries; the SNS
 * timestamp in ms; a record read back as a message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

#include "cluster.h"
#include "common.h"
#include "ddb.h"

static const struct cluster_params P = {
        .table = "twowayd-cluster",
        .instance = "m1:/var/lib/twowayd",
        .lease_seconds = 15,
        .record_ttl_days = 7,
        .max_age_s = 3600,
};

static const struct cluster_msg M = {
        .sender = "+14255550182",
        .inbound_message_id = "in-1",
        .sns_message_id = "sns-1",
        .destination = "+18005550199",
        .topic_arn = "arn:aws:sns:us-east-1:123456789012:t",
        .raw = "{\"x\":1}",
        .received_at = 1767225600123,
        .keyword_class = SPOOL_CLASS_OPT_OUT,
};

/* Compare a request with the expected JSON, member order aside. */
static void assert_request(json_t *got, const char *want)
{
        json_t *w = json_loads(want, 0, NULL);
        char *g;

        assert_non_null(got);
        assert_non_null(w);
        if (!json_equal(got, w)) {
                g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
                fail_msg("got %s\nwant %s", g, want);
        }
        json_decref(w);
        json_decref(got);
}

static void test_timestamp(void **state)
{
        assert_int_equal(cluster_timestamp_ms("2012-04-26T20:45:04.751Z", 1335473104),
                         1335473104751LL);
        assert_int_equal(cluster_timestamp_ms("2012-04-26T20:45:04.7Z", 1335473104),
                         1335473104700LL);
        assert_int_equal(cluster_timestamp_ms("2012-04-26T20:45:04.75199Z", 1335473104),
                         1335473104751LL);
        assert_int_equal(cluster_timestamp_ms("2012-04-26T20:45:04Z", 1335473104), 1335473104000LL);
        assert_int_equal(cluster_timestamp_ms(NULL, 5), 5000);
}

static void test_sk_and_lanes(void **state)
{
        char sk[64];

        assert_int_equal(cluster_record_sk(sk, sizeof(sk), 42, "id"), 0);
        assert_string_equal(sk, "msg#0000000000042#id");
        assert_int_equal(cluster_record_sk(sk, 10, 42, "id"), -ENAMETOOLONG);
        assert_int_equal(cluster_record_sk(sk, sizeof(sk), -1, "id"), -EINVAL);
        assert_int_equal(cluster_lane_of(SPOOL_CLASS_OTHER), CLUSTER_LANE_CONVERSATION);
        assert_int_equal(cluster_lane_of(SPOOL_CLASS_OPT_OUT), CLUSTER_LANE_CONSENT);
        assert_int_equal(cluster_lane_of(SPOOL_CLASS_HELP), CLUSTER_LANE_CONSENT);
        assert_string_equal(cluster_lane_to_string(CLUSTER_LANE_CONSENT), "consent");
}

static void test_record_put(void **state)
{
        struct cluster_msg bad = M;

        assert_request(
                cluster_record_put_request(&P, &M, 1767225601000),
                "{\"TableName\":\"twowayd-cluster\",\"ConditionExpression\":\"attribute_not_exists("
                "sk)\","
                "\"Item\":{\"pk\":{\"S\":\"sender#+14255550182\"},"
                "\"sk\":{\"S\":\"msg#1767225600123#in-1\"},"
                "\"inbound_message_id\":{\"S\":\"in-1\"},\"sns_message_id\":{\"S\":\"sns-1\"},"
                "\"destination\":{\"S\":\"+18005550199\"},"
                "\"topic_arn\":{\"S\":\"arn:aws:sns:us-east-1:123456789012:t\"},"
                "\"keyword_class\":{\"S\":\"opt_out\"},\"raw\":{\"S\":\"{\\\"x\\\":1}\"},"
                "\"received_at\":{\"N\":\"1767225600123\"},"
                "\"stored_by\":{\"S\":\"m1:/var/lib/twowayd\"},"
                "\"stored_at\":{\"N\":\"1767225601000\"},\"state\":{\"S\":\"open\"},"
                "\"open_by\":{\"S\":\"m1:/var/lib/twowayd\"},"
                "\"expires_at\":{\"N\":\"1767834000\"}}}");
        bad.inbound_message_id = NULL;
        assert_null(cluster_record_put_request(&P, &bad, 0));
        bad = M;
        bad.keyword_class = _SPOOL_CLASS_MAX;
        assert_null(cluster_record_put_request(&P, &bad, 0));
        assert_null(cluster_record_put_request(&(struct cluster_params){.table = "t"}, &M, 0));
}

static void test_leases(void **state)
{
        assert_request(
                cluster_lease_renew_request(&P, "+14255550182", CLUSTER_LANE_CONVERSATION, 1000),
                "{\"TableName\":\"twowayd-cluster\","
                "\"Key\":{\"pk\":{\"S\":\"sender#+14255550182\"},\"sk\":{\"S\":\"lease#"
                "conversation\"}},"
                "\"UpdateExpression\":\"SET #u = :until, #e = :exp\","
                "\"ConditionExpression\":\"#h = :me AND #u >= :now\","
                "\"ExpressionAttributeNames\":{\"#h\":\"holder\",\"#u\":\"lease_until\",\"#e\":"
                "\"expires_at\"},"
                "\"ExpressionAttributeValues\":{\":me\":{\"S\":\"m1:/var/lib/twowayd\"},"
                "\":now\":{\"N\":\"1000\"},\":until\":{\"N\":\"16000\"},\":exp\":{\"N\":\"604816\"}"
                "},"
                "\"ReturnValues\":\"ALL_NEW\"}");
        assert_request(
                cluster_lease_take_request(&P, "+14255550182", CLUSTER_LANE_CONSENT, 1000),
                "{\"TableName\":\"twowayd-cluster\","
                "\"Key\":{\"pk\":{\"S\":\"sender#+14255550182\"},\"sk\":{\"S\":\"lease#consent\"}},"
                "\"UpdateExpression\":\"SET #h = :me, #u = :until, #f = if_not_exists(#f, :zero) + "
                ":one, #e = :exp\","
                "\"ConditionExpression\":\"attribute_not_exists(#h) OR #u < :now\","
                "\"ExpressionAttributeNames\":{\"#h\":\"holder\",\"#u\":\"lease_until\",\"#f\":"
                "\"fence\",\"#e\":\"expires_at\"},"
                "\"ExpressionAttributeValues\":{\":me\":{\"S\":\"m1:/var/lib/twowayd\"},"
                "\":now\":{\"N\":\"1000\"},\":until\":{\"N\":\"16000\"},\":exp\":{\"N\":\"604816\"}"
                ","
                "\":zero\":{\"N\":\"0\"},\":one\":{\"N\":\"1\"}},"
                "\"ReturnValues\":\"ALL_NEW\"}");
        assert_request(
                cluster_lease_release_request(&P, "+14255550182", CLUSTER_LANE_CONSENT, 7),
                "{\"TableName\":\"twowayd-cluster\","
                "\"Key\":{\"pk\":{\"S\":\"sender#+14255550182\"},\"sk\":{\"S\":\"lease#consent\"}},"
                "\"UpdateExpression\":\"SET #u = :zero\",\"ConditionExpression\":\"#h = :me AND #f "
                "= :f\","
                "\"ExpressionAttributeNames\":{\"#h\":\"holder\",\"#u\":\"lease_until\",\"#f\":"
                "\"fence\"},"
                "\"ExpressionAttributeValues\":{\":me\":{\"S\":\"m1:/var/lib/twowayd\"},"
                "\":f\":{\"N\":\"7\"},\":zero\":{\"N\":\"0\"}}}");
        assert_null(cluster_lease_take_request(&P, "+1", _CLUSTER_LANE_MAX, 0));
        assert_null(cluster_lease_renew_request(&P, NULL, CLUSTER_LANE_CONSENT, 0));
}

static void test_claim_marker_finish(void **state)
{
        json_t *claim = cluster_claim_request(&P, &M, 3, 2000);

        assert_non_null(claim);
        assert_string_equal(json_string_value(json_object_get(claim, "ConditionExpression")),
                            "attribute_not_exists(#sk) OR (#state = :open AND "
                            "(attribute_not_exists(#fence) OR #fence <= :f))");
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(claim, "ExpressionAttributeNames"), "#fence")),
                            "owner_fence");
        assert_string_equal(
                json_string_value(json_object_get(
                        json_object_get(json_object_get(claim, "ExpressionAttributeValues"), ":f"),
                        "N")),
                "3");
        assert_string_equal(
                json_string_value(json_object_get(claim, "ReturnValuesOnConditionCheckFailure")),
                "ALL_OLD");
        /* The record as claimed: a reply marker left by a dead instance shows. */
        assert_string_equal(json_string_value(json_object_get(claim, "ReturnValues")), "ALL_NEW");
        assert_non_null(strstr(json_string_value(json_object_get(claim, "UpdateExpression")),
                               "SET #owner = :me, #fence = :f, #open_by = :me, "
                               "#state = if_not_exists(#state, :open)"));
        json_decref(claim);

        assert_request(
                cluster_marker_request(&P, "+14255550182", 5, "in-1", 3, 9000),
                "{\"TableName\":\"twowayd-cluster\","
                "\"Key\":{\"pk\":{\"S\":\"sender#+14255550182\"},\"sk\":{\"S\":\"msg#0000000000005#"
                "in-1\"}},"
                "\"UpdateExpression\":\"SET #rs = :sending, #ra = :now\","
                "\"ConditionExpression\":\"#owner = :me AND #fence = :f AND "
                "attribute_not_exists(#rs)\","
                "\"ExpressionAttributeNames\":{\"#rs\":\"reply_state\",\"#ra\":\"reply_at\","
                "\"#owner\":\"owner\",\"#fence\":\"owner_fence\"},"
                "\"ExpressionAttributeValues\":{\":me\":{\"S\":\"m1:/var/lib/twowayd\"},"
                "\":f\":{\"N\":\"3\"},\":sending\":{\"S\":\"sending\"},\":now\":{\"N\":\"9000\"}},"
                "\"ReturnValuesOnConditionCheckFailure\":\"ALL_OLD\"}");
        assert_request(
                cluster_finish_request(&P, "+14255550182", 5, "in-1", 3, "done", "sent", 86400000),
                "{\"TableName\":\"twowayd-cluster\","
                "\"Key\":{\"pk\":{\"S\":\"sender#+14255550182\"},\"sk\":{\"S\":\"msg#0000000000005#"
                "in-1\"}},"
                "\"UpdateExpression\":\"SET #state = :s, #outcome = :o, #exp = :ttl REMOVE "
                "#open_by\","
                "\"ConditionExpression\":\"#owner = :me AND #fence = :f\","
                "\"ExpressionAttributeNames\":{\"#state\":\"state\",\"#outcome\":\"outcome\","
                "\"#exp\":\"expires_at\",\"#open_by\":\"open_by\",\"#owner\":\"owner\",\"#fence\":"
                "\"owner_fence\"},"
                "\"ExpressionAttributeValues\":{\":me\":{\"S\":\"m1:/var/lib/twowayd\"},"
                "\":f\":{\"N\":\"3\"},\":s\":{\"S\":\"done\"},\":o\":{\"S\":\"sent\"},"
                "\":ttl\":{\"N\":\"691200\"}}}");
        assert_request(cluster_reply_sent_request(&P, "+14255550182", 5, "in-1", "sms-9"),
                       "{\"TableName\":\"twowayd-cluster\","
                       "\"Key\":{\"pk\":{\"S\":\"sender#+14255550182\"},\"sk\":{\"S\":\"msg#"
                       "0000000000005#in-1\"}},"
                       "\"UpdateExpression\":\"SET #rs = :sent, #rid = :id\","
                       "\"ConditionExpression\":\"attribute_exists(#sk)\","
                       "\"ExpressionAttributeNames\":{\"#rs\":\"reply_state\",\"#rid\":\"reply_"
                       "message_id\",\"#sk\":\"sk\"},"
                       "\"ExpressionAttributeValues\":{\":sent\":{\"S\":\"sent\"},\":id\":{\"S\":"
                       "\"sms-9\"}}}");
        /* A row that ended without a claim (superseded while it waited, ended
         * at start by its reply state, dead before its claim): its record is
         * closed if it is still open and no other instance claimed it. */
        assert_request(
                cluster_finish_request(&P, "+14255550182", 5, "in-1", 0, "superseded",
                                       "the sender opted out", 86400000),
                "{\"TableName\":\"twowayd-cluster\","
                "\"Key\":{\"pk\":{\"S\":\"sender#+14255550182\"},\"sk\":{\"S\":\"msg#0000000000005#"
                "in-1\"}},"
                "\"UpdateExpression\":\"SET #state = :s, #outcome = :o, #exp = :ttl REMOVE "
                "#open_by\","
                "\"ConditionExpression\":\"#state = :open AND (attribute_not_exists(#owner) OR "
                "#owner = :me)\","
                "\"ExpressionAttributeNames\":{\"#state\":\"state\",\"#outcome\":\"outcome\","
                "\"#exp\":\"expires_at\",\"#open_by\":\"open_by\",\"#owner\":\"owner\"},"
                "\"ExpressionAttributeValues\":{\":me\":{\"S\":\"m1:/var/lib/twowayd\"},"
                "\":open\":{\"S\":\"open\"},\":s\":{\"S\":\"superseded\"},"
                "\":o\":{\"S\":\"the sender opted out\"},\":ttl\":{\"N\":\"691200\"}}}");
        assert_null(cluster_finish_request(&P, "+1", 5, "in-1", 3, NULL, NULL, 0));
        assert_null(cluster_reply_sent_request(&P, "+1", 5, "in-1", ""));
}

static void test_queries(void **state)
{
        json_t *start = json_object();

        assert_request(
                cluster_earlier_open_request(&P, "+14255550182", 7200000, "in-1", NULL),
                "{\"TableName\":\"twowayd-cluster\","
                "\"KeyConditionExpression\":\"#pk = :pk AND #sk BETWEEN :lo AND :hi\","
                "\"FilterExpression\":\"#state = :open\","
                "\"ExpressionAttributeNames\":{\"#pk\":\"pk\",\"#sk\":\"sk\",\"#state\":\"state\"},"
                "\"ExpressionAttributeValues\":{\":pk\":{\"S\":\"sender#+14255550182\"},"
                "\":lo\":{\"S\":\"msg#0000003600000\"},\":hi\":{\"S\":\"msg#0000007200000#in-1\"},"
                "\":open\":{\"S\":\"open\"}},\"ConsistentRead\":true,\"Limit\":100}");
        /* The next page: from the key of the last record read. */
        assert_request(
                cluster_earlier_open_request(&P, "+14255550182", 7200000, "in-1",
                                             "msg#0000003700000#in-0"),
                "{\"TableName\":\"twowayd-cluster\","
                "\"KeyConditionExpression\":\"#pk = :pk AND #sk BETWEEN :lo AND :hi\","
                "\"FilterExpression\":\"#state = :open\","
                "\"ExpressionAttributeNames\":{\"#pk\":\"pk\",\"#sk\":\"sk\",\"#state\":\"state\"},"
                "\"ExpressionAttributeValues\":{\":pk\":{\"S\":\"sender#+14255550182\"},"
                "\":lo\":{\"S\":\"msg#0000003600000\"},\":hi\":{\"S\":\"msg#0000007200000#in-1\"},"
                "\":open\":{\"S\":\"open\"}},\"ConsistentRead\":true,\"Limit\":100,"
                "\"ExclusiveStartKey\":{\"pk\":{\"S\":\"sender#+14255550182\"},"
                "\"sk\":{\"S\":\"msg#0000003700000#in-0\"}}}");
        assert_request(cluster_heartbeat_request(&P, "0.1.0", 10, 1000),
                       "{\"TableName\":\"twowayd-cluster\",\"Item\":{\"pk\":{\"S\":\"cluster\"},"
                       "\"sk\":{\"S\":\"instance#m1:/var/lib/twowayd\"},"
                       "\"instance\":{\"S\":\"m1:/var/lib/twowayd\"},"
                       "\"heartbeat_at\":{\"N\":\"1000\"},\"started_at\":{\"N\":\"10\"},"
                       "\"version\":{\"S\":\"0.1.0\"},\"expires_at\":{\"N\":\"604801\"}}}");
        assert_request(cluster_instances_request(&P),
                       "{\"TableName\":\"twowayd-cluster\","
                       "\"KeyConditionExpression\":\"#pk = :pk AND begins_with(#sk, :prefix)\","
                       "\"ExpressionAttributeNames\":{\"#pk\":\"pk\",\"#sk\":\"sk\"},"
                       "\"ExpressionAttributeValues\":{\":pk\":{\"S\":\"cluster\"},"
                       "\":prefix\":{\"S\":\"instance#\"}},\"ConsistentRead\":true,\"Limit\":100}");
        json_object_set_new(start, "pk", json_pack("{s:s}", "S", "sender#+1"));
        /* A GSI cannot be read consistently: no ConsistentRead. */
        assert_request(cluster_open_by_request(&P, "dead:1", start),
                       "{\"TableName\":\"twowayd-cluster\",\"IndexName\":\"open-by\","
                       "\"KeyConditionExpression\":\"#ob = :who\","
                       "\"ExpressionAttributeNames\":{\"#ob\":\"open_by\"},"
                       "\"ExpressionAttributeValues\":{\":who\":{\"S\":\"dead:1\"}},"
                       "\"Limit\":100,\"ExclusiveStartKey\":{\"pk\":{\"S\":\"sender#+1\"}}}");
        json_decref(start);
}

static void test_adopt_and_read_back(void **state)
{
        json_t *put = cluster_record_put_request(&P, &M, 1);
        json_t *item = json_incref(json_object_get(put, "Item"));
        struct cluster_msg m;

        json_decref(put);
        assert_request(
                cluster_adopt_request(&P, item, "dead:1"),
                "{\"TableName\":\"twowayd-cluster\","
                "\"Key\":{\"pk\":{\"S\":\"sender#+14255550182\"},"
                "\"sk\":{\"S\":\"msg#1767225600123#in-1\"}},"
                "\"UpdateExpression\":\"SET #ob = :to\",\"ConditionExpression\":\"#ob = :from\","
                "\"ExpressionAttributeNames\":{\"#ob\":\"open_by\"},"
                "\"ExpressionAttributeValues\":{\":to\":{\"S\":\"m1:/var/lib/twowayd\"},"
                "\":from\":{\"S\":\"dead:1\"}}}");
        /* Given back when it cannot be stored here: the next sweep takes it. */
        assert_request(
                cluster_release_request(&P, item, "dead:1"),
                "{\"TableName\":\"twowayd-cluster\","
                "\"Key\":{\"pk\":{\"S\":\"sender#+14255550182\"},"
                "\"sk\":{\"S\":\"msg#1767225600123#in-1\"}},"
                "\"UpdateExpression\":\"SET #ob = :to\",\"ConditionExpression\":\"#ob = :from\","
                "\"ExpressionAttributeNames\":{\"#ob\":\"open_by\"},"
                "\"ExpressionAttributeValues\":{\":to\":{\"S\":\"dead:1\"},"
                "\":from\":{\"S\":\"m1:/var/lib/twowayd\"}}}");
        assert_int_equal(cluster_msg_from_item(item, &m), 0);
        assert_string_equal(m.sender, "+14255550182");
        assert_string_equal(m.inbound_message_id, "in-1");
        assert_string_equal(m.sns_message_id, "sns-1");
        assert_string_equal(m.raw, "{\"x\":1}");
        assert_int_equal(m.received_at, 1767225600123LL);
        assert_int_equal(m.keyword_class, SPOOL_CLASS_OPT_OUT);
        json_object_del(item, "raw");
        assert_int_equal(cluster_msg_from_item(item, &m), -EINVAL);
        json_object_set_new(item, "pk", json_pack("{s:s}", "S", "cluster"));
        assert_int_equal(cluster_msg_from_item(item, &m), -EINVAL);
        json_decref(item);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_timestamp),           cmocka_unit_test(test_sk_and_lanes),
                cmocka_unit_test(test_record_put),          cmocka_unit_test(test_leases),
                cmocka_unit_test(test_claim_marker_finish), cmocka_unit_test(test_queries),
                cmocka_unit_test(test_adopt_and_read_back),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
