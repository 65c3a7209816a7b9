/*
 * reply_test.c — SendTextMessage bodies, the at-most-once failure
 * classification, error reasons, and send pacing on an injected clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "aws_error.h"
#include "common.h"
#include "reply.h"

static char *dump(const json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

        assert_non_null(s);
        return s;
}

static void test_body(void **state)
{
        json_t *b;
        char *s;

        b = reply_request_body(&(struct reply_params){
                .destination = "+14255550123",
                .origination_identity = "+18005550199",
                .body = "Hi there",
                .message_type = "TRANSACTIONAL",
                .configuration_set = "twowayd",
                .max_price = "0.05",
                .time_to_live = 3600,
                .inbound_message_id = "in-1",
        });
        s = dump(b);
        assert_string_equal(s, "{\"ConfigurationSetName\":\"twowayd\","
                               "\"Context\":{\"inboundMessageId\":\"in-1\"},"
                               "\"DestinationPhoneNumber\":\"+14255550123\",\"MaxPrice\":\"0.05\","
                               "\"MessageBody\":\"Hi there\",\"MessageType\":\"TRANSACTIONAL\","
                               "\"OriginationIdentity\":\"+18005550199\",\"TimeToLive\":3600}");
        free(s);
        json_decref(b);

        /* Unset options are left out. */
        b = reply_request_body(&(struct reply_params){
                .destination = "+14255550123",
                .origination_identity = "pool-abc",
                .body = "x",
                .configuration_set = "",
        });
        s = dump(b);
        assert_string_equal(s, "{\"DestinationPhoneNumber\":\"+14255550123\",\"MessageBody\":\"x\","
                               "\"OriginationIdentity\":\"pool-abc\"}");
        free(s);
        json_decref(b);

        assert_null(reply_request_body(NULL));
        assert_null(reply_request_body(&(struct reply_params){.destination = "+1", .body = "x"}));
        assert_null(reply_request_body(&(struct reply_params){
                .destination = "+1", .origination_identity = "+2", .body = ""}));
}

static struct aws_error service_error(long status, const char *body)
{
        struct aws_error e;

        aws_error_from_response(status, NULL, "req-1", body, strlen(body), &e);
        return e;
}

static struct aws_error local_error(int err)
{
        struct aws_error e;

        aws_error_from_local(err, "X", NULL, &e);
        return e;
}

static void test_classify(void **state)
{
        struct {
                struct aws_error e;
                const char *reason;
                enum reply_failure want;
        } cases[] = {
                {service_error(400, "{\"__type\":\"com.amazonaws.pinpointsmsvoicev2#"
                                    "ThrottlingException\",\"Message\":\"Rate exceeded\"}"),
                 NULL, REPLY_FAILURE_RETRY},
                {service_error(429, "{}"), NULL, REPLY_FAILURE_RETRY},
                {service_error(500, "{\"__type\":\"InternalServerException\"}"), NULL,
                 REPLY_FAILURE_RETRY},
                {service_error(503, ""), NULL, REPLY_FAILURE_RETRY},
                /* From something in between: it may have forwarded the request. */
                {service_error(502, "<html>bad gateway</html>"), NULL, REPLY_FAILURE_UNKNOWN},
                {service_error(504, ""), NULL, REPLY_FAILURE_UNKNOWN},
                {service_error(400, "{\"__type\":\"ConflictException\"}"),
                 "DESTINATION_PHONE_NUMBER_OPTED_OUT", REPLY_FAILURE_OPTED_OUT},
                {service_error(400, "{\"__type\":\"ConflictException\"}"), "RESOURCE_NOT_ACTIVE",
                 REPLY_FAILURE_PERMANENT},
                {service_error(400, "{\"__type\":\"ValidationException\"}"), "OTHER",
                 REPLY_FAILURE_PERMANENT},
                {service_error(400, "{\"__type\":\"ServiceQuotaExceededException\"}"),
                 "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT", REPLY_FAILURE_PERMANENT},
                {service_error(403, "{\"__type\":\"AccessDeniedException\"}"), NULL,
                 REPLY_FAILURE_PERMANENT},
                /* Never left the machine. */
                {local_error(-ECONNREFUSED), NULL, REPLY_FAILURE_RETRY},
                {local_error(-EHOSTUNREACH), NULL, REPLY_FAILURE_RETRY},
                {local_error(-ECONNABORTED), NULL, REPLY_FAILURE_RETRY},
                {local_error(-ENOKEY), NULL, REPLY_FAILURE_RETRY},
                /* May have been sent. */
                {local_error(-ETIMEDOUT), NULL, REPLY_FAILURE_UNKNOWN},
                {local_error(-ECONNRESET), NULL, REPLY_FAILURE_UNKNOWN},
                {local_error(-EBADMSG), NULL, REPLY_FAILURE_UNKNOWN},
                {local_error(-ECANCELED), NULL, REPLY_FAILURE_UNKNOWN},
                {local_error(-EKEYREJECTED), NULL, REPLY_FAILURE_PERMANENT},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                enum reply_failure got =
                        reply_classify_failure(-EREMOTEIO, &cases[i].e, cases[i].reason);
                if (got != cases[i].want)
                        fail_msg("case %zu (%s/%ld): got %s, want %s", i, cases[i].e.code,
                                 cases[i].e.http_status, reply_failure_to_string(got),
                                 reply_failure_to_string(cases[i].want));
        }
        assert_int_equal(reply_classify_failure(-EIO, NULL, NULL), REPLY_FAILURE_UNKNOWN);
        assert_string_equal(reply_failure_to_string(_REPLY_FAILURE_MAX), "invalid");
}

static void test_reason(void **state)
{
        static const char body[] =
                "{\"__type\":\"com.amazonaws.pinpointsmsvoicev2#ConflictException\","
                "\"Message\":\"opted out\",\"Reason\":"
                "\"DESTINATION_PHONE_NUMBER_OPTED_OUT\",\"ResourceType\":\"x\"}";
        char buf[REPLY_REASON_MAX], tiny[8];

        assert_int_equal(reply_error_reason(body, strlen(body), buf, sizeof(buf)),
                         strlen("DESTINATION_PHONE_NUMBER_OPTED_OUT"));
        assert_string_equal(buf, "DESTINATION_PHONE_NUMBER_OPTED_OUT");
        assert_int_equal(reply_error_reason(body, strlen(body), tiny, sizeof(tiny)), 7);
        assert_string_equal(tiny, "DESTINA");
        assert_int_equal(reply_error_reason("{}", 2, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "");
        assert_int_equal(reply_error_reason("<html>", 6, buf, sizeof(buf)), 0);
        assert_int_equal(reply_error_reason(NULL, 0, buf, sizeof(buf)), 0);
        assert_int_equal(reply_error_reason("{\"Reason\":7}", 12, buf, sizeof(buf)), 0);
}

static void test_token_bucket(void **state)
{
        struct token_bucket b;

        /* 1 per second, burst 1: the first now, then one each second after. */
        token_bucket_init(&b, 1., 1., 100.);
        assert_true(token_bucket_reserve(&b, 100.) == 0.);
        assert_true(fabs(token_bucket_reserve(&b, 100.) - 1.) < 1e-9);
        assert_true(fabs(token_bucket_reserve(&b, 100.) - 2.) < 1e-9);
        /* Time passes: the reservations are used up, the balance refills. */
        assert_true(fabs(token_bucket_reserve(&b, 102.5) - 0.5) < 1e-9);
        assert_true(token_bucket_reserve(&b, 110.) == 0.);
        /* Idle time never banks more than the burst. */
        assert_true(fabs(token_bucket_reserve(&b, 110.) - 1.) < 1e-9);

        /* Burst 3 at 10/s. */
        token_bucket_init(&b, 10., 3., 0.);
        for (int i = 0; i < 3; i++)
                assert_true(token_bucket_reserve(&b, 0.) == 0.);
        assert_true(fabs(token_bucket_reserve(&b, 0.) - 0.1) < 1e-9);

        /* Changing the rate keeps what is reserved. */
        token_bucket_init(&b, 1., 1., 0.);
        assert_true(token_bucket_reserve(&b, 0.) == 0.);
        token_bucket_set_rate(&b, 4., 1., 0.);
        assert_true(fabs(token_bucket_reserve(&b, 0.) - 0.25) < 1e-9);

        /* Bad parameters fall back to sane ones. */
        token_bucket_init(&b, 0., 0., 0.);
        assert_true(b.rate == 1. && b.burst == 1.);
}

/* No window of one second ever holds more than rate sends (+1 for the two
 * closed ends), whatever the arrival pattern. */
static void test_mps_never_exceeded(void **state)
{
        struct token_bucket b;
        double sends[2000], now = 0.;
        unsigned seed = 1;
        const double rate = 5.;

        token_bucket_init(&b, rate, 1., 0.);
        for (size_t i = 0; i < ARRAY_SIZE(sends); i++) {
                seed = seed * 1103515245u + 12345u;
                now += (double)(seed >> 16 & 0x7fff) / 32768. * 0.5; /* bursts and gaps */
                sends[i] = now + token_bucket_reserve(&b, now);
                if (i > 0)
                        assert_true(sends[i] >= sends[i - 1] - 1e-9);
        }
        for (size_t i = 0; i < ARRAY_SIZE(sends); i++) {
                size_t n = 0;
                for (size_t k = i; k < ARRAY_SIZE(sends) && sends[k] < sends[i] + 1. - 1e-9; k++)
                        n++;
                assert_true(n <= (size_t)rate);
        }
}

static void test_limiter(void **state)
{
        struct reply_limiter *l;

        assert_int_equal(reply_limiter_new(&l), 0);
        assert_true(reply_limiter_reserve(l, "+18005550199", 1., 0.) == 0.);
        assert_true(fabs(reply_limiter_reserve(l, "+18005550199", 1., 0.) - 1.) < 1e-9);
        /* Another identity has its own bucket. */
        assert_true(reply_limiter_reserve(l, "+18005550100", 1., 0.) == 0.);
        assert_int_equal(reply_limiter_size(l), 2);
        /* A new rate applies at once, to what is reserved too (2 owed at 2/s). */
        assert_true(fabs(reply_limiter_reserve(l, "+18005550199", 2., 0.) - 1.) < 1e-9);
        assert_true(reply_limiter_reserve(l, "", 1., 0.) < 0);
        assert_true(reply_limiter_reserve(l, "x", 0., 0.) < 0);
        assert_true(reply_limiter_reserve(NULL, "x", 1., 0.) < 0);

        /* Many identities: idle full buckets are forgotten, busy ones kept. */
        for (unsigned i = 0; i < REPLY_LIMITER_MAX_IDENTITY + 10; i++) {
                char id[32];
                (void)snprintf(id, sizeof(id), "+1800555%04u", i);
                assert_true(reply_limiter_reserve(l, id, 1., 1000. + i) >= 0.);
        }
        assert_true(reply_limiter_size(l) <= REPLY_LIMITER_MAX_IDENTITY + 10);
        assert_true(reply_limiter_size(l) > 10);
        reply_limiter_free(l);
        assert_null(reply_limiter_free(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_body),
                cmocka_unit_test(test_classify),
                cmocka_unit_test(test_reason),
                cmocka_unit_test(test_token_bucket),
                cmocka_unit_test(test_mps_never_exceeded),
                cmocka_unit_test(test_limiter),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
