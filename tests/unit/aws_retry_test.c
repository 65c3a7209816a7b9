/*
 * aws_retry_test.c — standard-mode retry: backoff bounds with injected
 * randomness, the attempt limit, and the retry quota (cost, timeout cost,
 * exhaustion, refill on success).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "aws_retry.h"
#include "common.h"

static struct aws_error err_of(enum aws_error_kind kind, bool timeout)
{
        struct aws_error e;

        aws_error_clear(&e);
        e.kind = kind;
        e.timeout = timeout;
        return e;
}

static void test_backoff_bounds(void **state)
{
        struct aws_retry_config c;

        aws_retry_config_default(&c);
        assert_int_equal(c.max_attempts, 3);

        /* r = 1 gives the ceiling: base * 2^(n-1), capped at 20 s. */
        assert_true(fabs(aws_retry_backoff_ms(&c, AWS_ERROR_TRANSIENT, 1, 1.0) - 100.) < 1e-9);
        assert_true(fabs(aws_retry_backoff_ms(&c, AWS_ERROR_TRANSIENT, 2, 1.0) - 200.) < 1e-9);
        assert_true(fabs(aws_retry_backoff_ms(&c, AWS_ERROR_TRANSIENT, 3, 1.0) - 400.) < 1e-9);
        assert_true(fabs(aws_retry_backoff_ms(&c, AWS_ERROR_THROTTLING, 1, 1.0) - 1000.) < 1e-9);
        assert_true(fabs(aws_retry_backoff_ms(&c, AWS_ERROR_THROTTLING, 2, 1.0) - 2000.) < 1e-9);
        assert_true(fabs(aws_retry_backoff_ms(&c, AWS_ERROR_THROTTLING, 6, 1.0) - 20000.) < 1e-9);
        assert_true(fabs(aws_retry_backoff_ms(&c, AWS_ERROR_THROTTLING, 200, 1.0) - 20000.) < 1e-9);
        /* r = 0 gives no delay; r scales linearly (full jitter). */
        assert_true(aws_retry_backoff_ms(&c, AWS_ERROR_THROTTLING, 3, 0.0) == 0.);
        assert_true(fabs(aws_retry_backoff_ms(&c, AWS_ERROR_THROTTLING, 3, 0.25) - 1000.) < 1e-9);
        /* Out-of-range randomness is clamped. */
        assert_true(aws_retry_backoff_ms(&c, AWS_ERROR_TRANSIENT, 1, -3.0) == 0.);
        assert_true(aws_retry_backoff_ms(&c, AWS_ERROR_TRANSIENT, 1, NAN) == 0.);
        assert_true(fabs(aws_retry_backoff_ms(&c, AWS_ERROR_TRANSIENT, 1, 7.0) - 100.) < 1e-9);

        /* Every delay lies in [0, min(cap, base*2^(n-1))] for r in [0,1). */
        for (unsigned n = 1; n < 12; n++)
                for (double r = 0; r < 1.0; r += 0.0625) {
                        double d = aws_retry_backoff_ms(&c, AWS_ERROR_THROTTLING, n, r);
                        double ceil = MIN(1000. * ldexp(1.0, (int)n - 1), 20000.);
                        assert_true(d >= 0 && d <= ceil);
                }
}

static void test_decide(void **state)
{
        /* One quota through the steps, in order; r = 0.5 throughout. */
        static const struct {
                enum aws_error_kind kind;
                bool timeout;
                unsigned attempts_made;
                enum aws_retry_verdict verdict;
                unsigned cost;      /* of a retry */
                double delay_ms;    /* of a retry */
                unsigned available; /* in the quota after the step */
        } steps[] = {
                {AWS_ERROR_PERMANENT, false, 1, AWS_RETRY_NOT_RETRYABLE, 0, 0., 500},
                {AWS_ERROR_THROTTLING, false, 1, AWS_RETRY_YES, 5, 500., 495},
                {AWS_ERROR_THROTTLING, false, 2, AWS_RETRY_YES, 5, 1000., 490}, /* grows */
                /* Third attempt failed: 3 attempts in all by default. */
                {AWS_ERROR_THROTTLING, false, 3, AWS_RETRY_MAX_ATTEMPTS, 0, 0., 490},
                /* Timeouts cost 10. */
                {AWS_ERROR_TRANSIENT, true, 1, AWS_RETRY_YES, 10, 50., 480},
        };
        struct aws_retry_config c;
        struct aws_retry_quota q;
        struct aws_retry_decision d;
        struct aws_error e;

        aws_retry_config_default(&c);
        aws_retry_quota_init(&q, 500);

        for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
                e = err_of(steps[i].kind, steps[i].timeout);
                aws_retry_decide(&c, &q, &e, steps[i].attempts_made, 0.5, &d);
                if (d.verdict != steps[i].verdict || q.available != steps[i].available)
                        fail_msg("step %zu: verdict %d, %u left; want %d, %u left", i, d.verdict,
                                 q.available, steps[i].verdict, steps[i].available);
                if (d.verdict == AWS_RETRY_YES &&
                    (d.cost != steps[i].cost || fabs(d.delay_ms - steps[i].delay_ms) > 1e-9))
                        fail_msg("step %zu: cost %u after %g ms; want %u after %g ms", i, d.cost,
                                 d.delay_ms, steps[i].cost, steps[i].delay_ms);
        }

        /* Configurable attempts. */
        c.max_attempts = 1;
        aws_retry_decide(&c, &q, &e, 1, 0.5, &d);
        assert_int_equal(d.verdict, AWS_RETRY_MAX_ATTEMPTS);
        c.max_attempts = 0; /* treated as 1 */
        aws_retry_decide(&c, &q, &e, 1, 0.5, &d);
        assert_int_equal(d.verdict, AWS_RETRY_MAX_ATTEMPTS);

        /* Without a quota, retries are free. */
        c.max_attempts = 5;
        aws_retry_decide(&c, NULL, &e, 1, 0.5, &d);
        assert_int_equal(d.verdict, AWS_RETRY_YES);
        assert_int_equal(d.cost, 0);
}

static void test_quota_exhaustion_and_refill(void **state)
{
        struct aws_retry_config c;
        struct aws_retry_quota q;
        struct aws_retry_decision d;
        struct aws_error throttle = err_of(AWS_ERROR_THROTTLING, false);
        struct aws_error timeout = err_of(AWS_ERROR_TRANSIENT, true);
        unsigned granted = 0;

        aws_retry_config_default(&c);
        aws_retry_quota_init(&q, 500);

        /* 500 / 5 = 100 retries, then the bucket is empty. */
        for (int i = 0; i < 150; i++) {
                aws_retry_decide(&c, &q, &throttle, 1, 0.1, &d);
                if (d.verdict == AWS_RETRY_YES)
                        granted++;
                else
                        assert_int_equal(d.verdict, AWS_RETRY_QUOTA_EXHAUSTED);
        }
        assert_int_equal(granted, 100);
        assert_int_equal(q.available, 0);

        /* A success after a retry refunds that retry's cost... */
        aws_retry_quota_release(&q, 5);
        assert_int_equal(q.available, 5);
        aws_retry_decide(&c, &q, &throttle, 1, 0.1, &d);
        assert_int_equal(d.verdict, AWS_RETRY_YES);
        assert_int_equal(q.available, 0);

        /* ...a first-attempt success adds 1. */
        for (int i = 0; i < 9; i++)
                aws_retry_quota_release(&q, 0);
        assert_int_equal(q.available, 9);
        aws_retry_decide(&c, &q, &timeout, 1, 0.1, &d);
        assert_int_equal(d.verdict, AWS_RETRY_QUOTA_EXHAUSTED); /* 9 < 10 */
        aws_retry_decide(&c, &q, &throttle, 1, 0.1, &d);
        assert_int_equal(d.verdict, AWS_RETRY_YES); /* 9 >= 5 */
        assert_int_equal(q.available, 4);

        /* Never above capacity. */
        for (int i = 0; i < 1000; i++)
                aws_retry_quota_release(&q, 10);
        assert_int_equal(q.available, 500);
        aws_retry_quota_release(NULL, 5);

        assert_string_equal(aws_retry_verdict_to_string(AWS_RETRY_QUOTA_EXHAUSTED),
                            "retry quota exhausted");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_backoff_bounds),
                cmocka_unit_test(test_decide),
                cmocka_unit_test(test_quota_exhaustion_and_refill),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
