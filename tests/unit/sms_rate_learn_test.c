/*
 * sms_rate_learn_test.c — learning each origination identity's rate from
 * DescribePhoneNumbers, against a scripted sms-voice on 127.0.0.1: pages are
 * followed by NextToken until every identity is found (and no further), each
 * identity gets its type, country and documented rate whether it is named by
 * number, id or ARN, others keep the conservative rate, and a refused call
 * says that the permission is missing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ev.h>
#include <jansson.h>

#include "sms_rate_learn.h"

#include "loopback_aws.h"

#define WAIT_LIMIT 10.0

#define PAGE_1                                                                                     \
        "{\"PhoneNumbers\":[{\"PhoneNumber\":\"+18445550100\",\"PhoneNumberId\":\"phone-tf\","     \
        "\"PhoneNumberArn\":\"arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-tf\","   \
        "\"NumberType\":\"TOLL_FREE\",\"IsoCountryCode\":\"US\",\"Status\":\"ACTIVE\"}],"          \
        "\"NextToken\":\"page-2\"}"
#define PAGE_2                                                                                     \
        "{\"PhoneNumbers\":[{\"PhoneNumber\":\"+1555123\",\"PhoneNumberId\":\"phone-sc\","         \
        "\"PhoneNumberArn\":\"arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-sc\","   \
        "\"NumberType\":\"SHORT_CODE\",\"IsoCountryCode\":\"US\",\"Status\":\"ACTIVE\"},"          \
        "{\"PhoneNumber\":\"+447700900123\",\"PhoneNumberId\":\"phone-gb\","                       \
        "\"PhoneNumberArn\":\"arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-gb\","   \
        "\"NumberType\":\"LONG_CODE\",\"IsoCountryCode\":\"GB\",\"Status\":\"ACTIVE\"}]}"

struct fixture {
        struct ev_loop *loop;
        struct scripted_server server;
        struct loopback_aws l;
        bool done;
        int r;
        struct sms_rate_identity ids[8];
        size_t n;
        unsigned found;
        bool denied;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f || loopback_aws_start(&f->loop, &f->server, LOOPBACK_ONE_ATTEMPT, &f->l) < 0)
                return -1;
        scripted_server_script(&f->server,
                               (const struct scripted_reply[]){{.status = 200, .body = PAGE_1},
                                                               {.status = 200, .body = PAGE_2}},
                               2);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        loopback_aws_stop(f->loop, &f->server, &f->l);
        free(f);
        return 0;
}

static void learned(int r, const struct sms_rate_learn_result *res, void *userdata)
{
        struct fixture *f = userdata;

        assert_false(f->done);
        f->done = true;
        f->r = r;
        f->n = MIN(res->n_identities, ARRAY_SIZE(f->ids));
        memcpy(f->ids, res->identities, f->n * sizeof(*f->ids));
        f->found = res->found;
        f->denied = res->denied;
}

static void learn(struct fixture *f, const char *const *ids, size_t n)
{
        assert_int_equal(sms_rate_learn(f->l.aws, ids, n, learned, f, NULL), 0);
        assert_false(f->done);
        assert_true(run_loop_until(f->loop, &f->done, WAIT_LIMIT));
}

static void assert_identity(const struct sms_rate_identity *id, const char *identity,
                            const char *type, const char *country, double pps)
{
        assert_string_equal(id->identity, identity);
        assert_string_equal(id->number_type, type);
        assert_string_equal(id->iso_country, country);
        assert_float_equal(id->parts_per_second, pps, 1e-9);
}

static void test_pages_followed_until_every_identity_is_found(void **state)
{
        struct fixture *f = *state;
        static const char *const ids[] = {
                "+18445550100",
                "phone-sc",
                "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-gb",
                "MySenderID",
        };
        json_t *second;

        learn(f, ids, ARRAY_SIZE(ids));
        assert_int_equal(f->r, 0);
        assert_int_equal(f->found, 3);
        assert_int_equal(f->n, 4);
        /* In the order asked, named as asked. */
        assert_identity(&f->ids[0], "+18445550100", "TOLL_FREE", "US", 3.);
        assert_identity(&f->ids[1], "phone-sc", "SHORT_CODE", "US", 100.);
        assert_identity(&f->ids[2], ids[2], "LONG_CODE", "GB", 10.);
        assert_identity(&f->ids[3], "MySenderID", "", "", SMS_RATE_CONSERVATIVE);

        assert_int_equal(scripted_server_count(&f->server), 2);
        assert_string_equal(recorded_header(&f->server.requests[0], "X-Amz-Target"),
                            "PinpointSMSVoiceV2.DescribePhoneNumbers");
        second = json_loads(f->server.requests[1].body, 0, NULL);
        assert_non_null(second);
        assert_string_equal(json_string_value(json_object_get(second, "NextToken")), "page-2");
        assert_int_equal(json_integer_value(json_object_get(second, "MaxResults")), 100);
        json_decref(second);
}

static void test_stops_once_everything_is_found(void **state)
{
        struct fixture *f = *state;
        static const char *const ids[] = {"phone-tf"};

        learn(f, ids, 1);
        assert_int_equal(f->r, 0);
        assert_identity(&f->ids[0], "phone-tf", "TOLL_FREE", "US", 3.);
        assert_string_equal(f->ids[0].phone_number_id, "phone-tf");
        /* Page 1 had it: page 2 is never asked for. */
        assert_int_equal(scripted_server_count(&f->server), 1);
        assert_null(strstr(f->server.requests[0].body, "NextToken"));
}

static void test_every_number_of_the_account(void **state)
{
        struct fixture *f = *state;

        learn(f, NULL, 0);
        assert_int_equal(f->r, 0);
        assert_int_equal(f->n, 3);
        assert_identity(&f->ids[0], "+18445550100", "TOLL_FREE", "US", 3.);
        assert_identity(&f->ids[1], "+1555123", "SHORT_CODE", "US", 100.);
        assert_identity(&f->ids[2], "+447700900123", "LONG_CODE", "GB", 10.);
        assert_string_equal(f->ids[2].arn,
                            "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-gb");
        assert_int_equal(scripted_server_count(&f->server), 2);
}

static void test_denied_keeps_the_conservative_rate_and_says_why(void **state)
{
        struct fixture *f = *state;
        static const char *const ids[] = {"+18445550100"};

        scripted_server_script(&f->server,
                               &(struct scripted_reply){
                                       .status = 400,
                                       .body = "{\"__type\":\"AccessDeniedException\",\"Message\":"
                                               "\"not authorized to perform: "
                                               "sms-voice:DescribePhoneNumbers\"}",
                               },
                               1);
        learn(f, ids, 1);
        assert_true(f->r < 0);
        assert_true(f->denied);
        assert_identity(&f->ids[0], "+18445550100", "", "", SMS_RATE_CONSERVATIVE);

        /* Other failures are not reported as a missing permission. */
        f->done = false;
        scripted_server_script(&f->server,
                               &(struct scripted_reply){
                                       .status = 400,
                                       .body = "{\"__type\":\"ValidationException\"}",
                               },
                               1);
        learn(f, ids, 1);
        assert_int_equal(f->r, -EREMOTEIO);
        assert_false(f->denied);
        f->done = false;
        f->server.fallback = (struct scripted_reply){.status = 200, .body = "{\"Nothing\":1}"};
        scripted_server_script(&f->server, NULL, 0);
        learn(f, ids, 1);
        assert_int_equal(f->r, -EBADMSG);
        assert_false(f->denied);
        assert_float_equal(f->ids[0].parts_per_second, SMS_RATE_CONSERVATIVE, 1e-9);
}

static void test_bad_arguments_and_cancel(void **state)
{
        struct fixture *f = *state;
        const char *many[SMS_RATE_LEARN_IDENTITIES + 1];
        static const char *const empty[] = {""};
        struct sms_rate_learn *l = NULL;

        for (size_t i = 0; i < ARRAY_SIZE(many); i++)
                many[i] = "+18445550100";
        assert_int_equal(sms_rate_learn(f->l.aws, many, ARRAY_SIZE(many), learned, f, NULL),
                         -E2BIG);
        assert_int_equal(sms_rate_learn(f->l.aws, empty, 1, learned, f, NULL), -EINVAL);
        assert_int_equal(sms_rate_learn(f->l.aws, many, 0, learned, f, NULL), -EINVAL);
        assert_int_equal(sms_rate_learn(f->l.aws, NULL, 1, learned, f, NULL), -EINVAL);
        assert_int_equal(scripted_server_count(&f->server), 0);

        assert_int_equal(sms_rate_learn(f->l.aws, many, 1, learned, f, &l), 0);
        sms_rate_learn_cancel(l);
        assert_false(f->done);
        assert_true(run_loop_until(f->loop, &f->done, WAIT_LIMIT));
        assert_int_equal(f->r, -ECANCELED);
        assert_float_equal(f->ids[0].parts_per_second, SMS_RATE_CONSERVATIVE, 1e-9);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_pages_followed_until_every_identity_is_found,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_stops_once_everything_is_found, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_every_number_of_the_account, setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_denied_keeps_the_conservative_rate_and_says_why, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_arguments_and_cancel, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
