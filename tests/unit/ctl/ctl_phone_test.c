/*
 * ctl_phone_test.c — the phone number views of twowayctl status: the table,
 * the JSON, the provisioning hints.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <jansson.h>

#include "common.h"
#include "ctl_phone.h"
#include "ctl_table.h"
#include "assert_json.h"

#define TOPIC "arn:aws:sns:us-east-1:123456789012:twowayd-inbound"

static void test_phone_views(void **state)
{
        json_t *numbers = json_loads(
                "[{\"PhoneNumber\":\"+18005550199\",\"PhoneNumberId\":\"phone-1\","
                "\"Status\":\"ACTIVE\",\"NumberType\":\"TOLL_FREE\",\"MessageType\":"
                "\"TRANSACTIONAL\",\"TwoWayEnabled\":true,\"TwoWayChannelArn\":\"" TOPIC "\","
                "\"SelfManagedOptOutsEnabled\":true},"
                "{\"PhoneNumber\":\"+12065550100\",\"PhoneNumberId\":\"phone-22\","
                "\"Status\":\"PENDING\",\"NumberType\":\"TEN_DLC\",\"MessageType\":"
                "\"PROMOTIONAL\",\"TwoWayEnabled\":false,\"SelfManagedOptOutsEnabled\":false}]",
                0, NULL);
        struct ctl_table *t = ctl_phone_table(numbers);
        json_t *j = ctl_phone_json(numbers);
        char *s = ctl_table_format(t);

        assert_non_null(s);
        assert_string_equal(
                s, "NUMBER        ID        STATUS   TYPE       MESSAGE        TWO-WAY  TWO-WAY "
                   "CHANNEL                                     SELF-MANAGED OPT-OUTS\n"
                   "+18005550199  phone-1   ACTIVE   TOLL_FREE  TRANSACTIONAL  yes      " TOPIC
                   "  yes\n"
                   "+12065550100  phone-22  PENDING  TEN_DLC    PROMOTIONAL    no       -     "
                   "                                              no\n");
        assert_json(
                json_array_get(j, 1),
                "{\"arn\":null,\"id\":\"phone-22\",\"iso_country_code\":null,\"message_type\":"
                "\"PROMOTIONAL\",\"phone_number\":\"+12065550100\",\"self_managed_opt_outs\":"
                "false,\"status\":\"PENDING\",\"two_way_channel_arn\":null,"
                "\"two_way_channel_role\":null,\"two_way_enabled\":false,\"type\":\"TEN_DLC\"}");
        assert_non_null(strstr(ctl_phone_provisioning_hint("TOLL_FREE"), "toll-free"));
        assert_non_null(strstr(ctl_phone_provisioning_hint("SIMULATOR"), "minutes"));
        free(s);
        ctl_table_free(t);
        json_decref(j);
        json_decref(numbers);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_phone_views),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
