/*
 * sms_rates_test.c — the rate each origination identity is paced at, as the
 * send queue reads it: learned from the account's numbers (a scripted
 * sms-voice on 127.0.0.1), whichever way [sms] origination_identity names
 * them; 1 part a second for the rest; [sms] max_per_second for every identity
 * when set, and learning again when a reload removes it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ev.h>

#include "config.h"
#include "metrics.h"
#include "sms_rate.h"
#include "sms_rates.h"
#include "sms_send_queue.h"

#include "loopback_aws.h"

#define WAIT_LIMIT 10.0
#define TOLL_FREE  "+18445550100"
#define GB_LONG    "+447700900123"
#define NUMBERS                                                                                    \
        "{\"PhoneNumbers\":[{\"PhoneNumber\":\"" TOLL_FREE "\",\"PhoneNumberId\":\"phone-tf\","    \
        "\"PhoneNumberArn\":\"arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-tf\","   \
        "\"NumberType\":\"TOLL_FREE\",\"IsoCountryCode\":\"US\"},"                                 \
        "{\"PhoneNumber\":\"" GB_LONG "\",\"PhoneNumberId\":\"phone-gb\","                         \
        "\"PhoneNumberArn\":\"arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-gb\","   \
        "\"NumberType\":\"LONG_CODE\",\"IsoCountryCode\":\"GB\"}]}"

static const char *const identities[] = {TOLL_FREE,
                                         "phone-tf",
                                         GB_LONG,
                                         "arn:aws:sms-voice:us-east-1:123456789012:phone-number/"
                                         "phone-gb",
                                         "MySenderID",
                                         "+12065550123"};

struct fixture;
static struct fixture *current;

struct fixture {
        struct ev_loop *loop;
        struct scripted_server server;
        struct loopback_aws l;
        struct sms_send_queue *q;
        struct sms_rates *rates;
        bool done[ARRAY_SIZE(identities)];
        struct sms_send_entry *held[ARRAY_SIZE(identities)];
        size_t n_held;
};

/* Nothing is ever sent: each reply waits in before_send until the teardown
 * withdraws it. The replies only make their identities known to the queue,
 * which asks the rates of those. */
static double frozen_clock(void *userdata)
{
        (void)userdata;
        return 0.;
}

static int never_sent(const struct sms_send_text_params *p, struct sms_send_entry *e,
                      void *userdata)
{
        (void)p;
        (void)e;
        (void)userdata;
        fail_msg("a reply was sent");
        return -EIO;
}

static void reply_done(const struct sms_send_result *res, void *userdata)
{
        (void)res;
        *(bool *)userdata = true;
}

static void hold(struct sms_send_entry *e, void *userdata)
{
        struct fixture *f = current;

        (void)userdata;
        assert_true(f->n_held < ARRAY_SIZE(f->held));
        f->held[f->n_held++] = e;
}

static const struct sms_send_ops reply_ops = {.before_send = hold, .done = reply_done};

static void queue_one_reply_each(struct fixture *f)
{
        for (size_t i = 0; i < ARRAY_SIZE(identities); i++)
                assert_int_equal(
                        sms_send_queue_add(
                                f->q,
                                &(struct sms_send_request){
                                        .send_class = SMS_SEND_ANSWER,
                                        .parts = 1,
                                        .params =
                                                {
                                                        .destination = "+14255550182",
                                                        .origination_identity = identities[i],
                                                        .body = "hi",
                                                },
                                },
                                &reply_ops, &f->done[i], NULL),
                        0);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        metrics_reset(); /* the families register anew for each test */
        if (loopback_aws_start(&f->loop, &f->server, LOOPBACK_ONE_ATTEMPT, &f->l) < 0 ||
            sms_send_queue_new(f->loop, f->l.aws, 1., &f->q) < 0)
                return -1;
        f->server.fallback = (struct scripted_reply){.status = 200, .body = NUMBERS};
        current = f;
        sms_send_queue_test_hooks(f->q, frozen_clock, never_sent, f);
        queue_one_reply_each(f);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        sms_rates_free(f->rates);
        /* The checks end, as the dispatcher's would: withdrawn, nothing sent. */
        for (size_t i = 0; i < f->n_held; i++)
                sms_send_entry_proceed(f->held[i], SMS_SEND_WITHDRAW);
        for (size_t i = 0; i < ARRAY_SIZE(f->done); i++)
                assert_true(run_loop_until(f->loop, &f->done[i], WAIT_LIMIT));
        sms_send_queue_free(f->q);
        loopback_aws_stop(f->loop, &f->server, &f->l);
        free(f);
        return 0;
}

static void assert_metrics_say(const char *line)
{
        char *text = NULL;
        size_t len;

        assert_int_equal(metrics_render(&text, &len), 0);
        if (!strstr(text, line))
                fail_msg("/metrics lacks %s\n%s", line, text);
        free(text);
}

/* The rate identity is paced at, as /metrics says it
 * (twowayd_sms_rate_parts_per_second), or -1 when it says nothing of it. */
static double paced_rate(const char *identity)
{
        char *text = NULL, *line = NULL;
        const char *at;
        size_t len;
        double rate = -1;

        assert_int_equal(metrics_render(&text, &len), 0);
        assert_true(asprintf(&line, "\ntwowayd_sms_rate_parts_per_second{identity=\"%s\"} ",
                             identity) > 0);
        at = strstr(text, line);
        if (at)
                rate = strtod(at + strlen(line), NULL);
        free(line);
        free(text);
        return rate;
}

static bool toll_free_learned(const void *arg)
{
        (void)arg;
        return paced_rate(TOLL_FREE) == 3.;
}

static void test_learned_rates_by_number_id_or_arn(void **state)
{
        struct fixture *f = *state;
        struct config c = {0};

        assert_int_equal(sms_rates_new(f->l.aws, f->q, &c, &f->rates), 0);
        /* Until the numbers are read: the conservative rate. */
        assert_float_equal(paced_rate(TOLL_FREE), SMS_RATE_CONSERVATIVE, 1e-9);
        assert_true(run_loop_while_not(f->loop, toll_free_learned, f, WAIT_LIMIT));

        assert_float_equal(paced_rate("phone-tf"), 3., 1e-9);
        assert_float_equal(paced_rate(GB_LONG), 10., 1e-9);
        assert_float_equal(
                paced_rate("arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-gb"), 10.,
                1e-9);
        /* A sender ID, or a number of another account. */
        assert_float_equal(paced_rate("MySenderID"), SMS_RATE_CONSERVATIVE, 1e-9);
        assert_float_equal(paced_rate("+12065550123"), SMS_RATE_CONSERVATIVE, 1e-9);
        assert_int_equal(scripted_server_count(&f->server), 1);
        assert_string_equal(recorded_header(&f->server.requests[0], "X-Amz-Target"),
                            "PinpointSMSVoiceV2.DescribePhoneNumbers");

        /* What /metrics says about each. */
        assert_metrics_say("twowayd_sms_identity_info{identity=\"+18445550100\",type=\"TOLL_FREE\","
                           "country=\"US\",source=\"learned\"} 1");
        assert_metrics_say("twowayd_sms_identity_info{identity=\"MySenderID\",type=\"\","
                           "country=\"\",source=\"default\"} 1");
        assert_metrics_say("twowayd_sms_rate_parts_per_second{identity=\"+447700900123\"} 10");
}

static void test_override_for_every_identity_and_learning_again_on_reload(void **state)
{
        struct fixture *f = *state;
        struct config learn = {0}, override = {.sms_max_per_second = 50};

        /* Set at start: every identity, nothing learned. */
        assert_int_equal(sms_rates_new(f->l.aws, f->q, &override, &f->rates), 0);
        assert_float_equal(paced_rate(TOLL_FREE), 50., 1e-9);
        assert_float_equal(paced_rate("MySenderID"), 50., 1e-9);

        /* Removed by a reload: learned. */
        sms_rates_set_config(f->rates, &learn);
        assert_float_equal(paced_rate("MySenderID"), SMS_RATE_CONSERVATIVE, 1e-9);
        assert_true(run_loop_while_not(f->loop, toll_free_learned, f, WAIT_LIMIT));
        assert_int_equal(scripted_server_count(&f->server), 1);

        /* Set again: it wins over what was learned. */
        sms_rates_set_config(f->rates, &override);
        assert_float_equal(paced_rate(TOLL_FREE), 50., 1e-9);
        assert_float_equal(paced_rate(GB_LONG), 50., 1e-9);
        assert_int_equal(scripted_server_count(&f->server), 1);
        assert_metrics_say("twowayd_sms_identity_info{identity=\"+18445550100\",type=\"\","
                           "country=\"\",source=\"override\"} 1");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_learned_rates_by_number_id_or_arn, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(
                        test_override_for_every_identity_and_learning_again_on_reload, setup,
                        teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
