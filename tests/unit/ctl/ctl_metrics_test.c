/*
 * ctl_metrics_test.c — the send queues read from the daemon's /metrics page
 * for twowayctl status.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <jansson.h>

#include "common.h"
#include "ctl_metrics.h"

static void test_metrics_send_queues(void **state)
{
        static const char text[] =
                "# HELP twowayd_sms_queue_depth Replies waiting\n"
                "# TYPE twowayd_sms_queue_depth gauge\n"
                "twowayd_sms_queue_depth{identity=\"+18005550199\"} 12\n"
                "twowayd_sms_rate_parts_per_second{identity=\"+18005550199\"} 1.5\n"
                "twowayd_sms_identity_info{identity=\"+18005550199\",type=\"TOLL_FREE\","
                "country=\"US\",source=\"learned\"} 1\n"
                "twowayd_sms_throttles_total{identity=\"+18005550199\"} 2\n"
                "twowayd_sms_queue_depth{identity=\"pool-\\\"x\\\"\"} 0\n"
                "twowayd_sms_queue_depth_other{identity=\"+1\"} 5\n"
                "twowayd_pipeline_in_flight 3\n"
                "twowayd_sms_queue_depth{identity=\"broken\n";
        json_t *q = ctl_metrics_send_queues(text);
        char *s;

        assert_non_null(q);
        s = json_dumps(q, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s,
                            "[{\"country\":\"US\",\"depth\":12.0,\"identity\":\"+18005550199\","
                            "\"rate\":1.5,\"source\":\"learned\",\"throttles\":2.0,\"type\":"
                            "\"TOLL_FREE\"},{\"country\":\"\",\"depth\":0.0,\"identity\":"
                            "\"pool-\\\"x\\\"\",\"rate\":null,\"source\":\"\",\"throttles\":null,"
                            "\"type\":\"\"}]");
        free(s);
        json_decref(q);
        q = ctl_metrics_send_queues("");
        assert_int_equal(json_array_size(q), 0);
        json_decref(q);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_metrics_send_queues),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
