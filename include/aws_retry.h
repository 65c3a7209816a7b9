/*
 * aws_retry.h — the SDK "standard" retry mode as pure functions.
 *
 * Decides whether a failed attempt is retried and after how long:
 *   - only throttling and transient errors (aws_error.h) are retried;
 *   - at most max_attempts attempts in all (3 by default, the first included);
 *   - delay = r * min(cap, base * 2^(attempts_made - 1)), r uniform in [0, 1)
 *     ("full jitter"); base is throttle_base_ms for throttling errors and
 *     base_ms for the others; cap 20 s;
 *   - a retry quota (token bucket of 500, shared by a client) pays for
 *     retries: each costs 5 (10 after a timeout); a success refunds the cost of
 *     the retry that led to it, or adds 1 when no retry was needed. When the
 *     bucket cannot pay, the error is returned instead of retried.
 *
 * Defaults: base 100 ms (transient), 1000 ms (throttling), as the SDKs do.
 * The random value is passed in, so tests are deterministic.
 *
 * Ownership: plain values, nothing allocated.
 */
#ifndef TWOWAYD_AWS_RETRY_H
#define TWOWAYD_AWS_RETRY_H

#include <stdbool.h>

#include "aws_error.h"

#define AWS_RETRY_MAX_ATTEMPTS_DEFAULT 3
#define AWS_RETRY_BASE_MS_DEFAULT      100
#define AWS_RETRY_THROTTLE_BASE_MS     1000
#define AWS_RETRY_CAP_MS_DEFAULT       20000
#define AWS_RETRY_QUOTA_DEFAULT        500
#define AWS_RETRY_COST                 5
#define AWS_RETRY_TIMEOUT_COST         10
#define AWS_RETRY_NO_RETRY_INCREMENT   1

struct aws_retry_config {
        unsigned max_attempts;     /* >= 1; the first attempt included */
        unsigned base_ms;          /* transient errors */
        unsigned throttle_base_ms; /* throttling errors */
        unsigned cap_ms;           /* upper bound of any single delay */
};

struct aws_retry_quota {
        unsigned capacity;
        unsigned available;
};

/* Why a failed attempt is or is not retried. */
enum aws_retry_verdict {
        AWS_RETRY_YES,
        AWS_RETRY_NOT_RETRYABLE,
        AWS_RETRY_MAX_ATTEMPTS,
        AWS_RETRY_QUOTA_EXHAUSTED,
        _AWS_RETRY_VERDICT_MAX,
};

struct aws_retry_decision {
        enum aws_retry_verdict verdict;
        double delay_ms; /* when verdict is AWS_RETRY_YES */
        unsigned cost;   /* quota taken for this retry; hand back to aws_retry_quota_release() */
};

void aws_retry_config_default(struct aws_retry_config *c);
void aws_retry_quota_init(struct aws_retry_quota *q, unsigned capacity);

/* The backoff for a retry after attempts_made (>= 1) attempts, r in [0, 1). */
double aws_retry_backoff_ms(const struct aws_retry_config *c, enum aws_error_kind kind,
                            unsigned attempts_made, double r);

/* Decide after attempt number attempts_made (1-based) failed with e. Takes
 * quota only when the verdict is AWS_RETRY_YES. */
void aws_retry_decide(const struct aws_retry_config *c, struct aws_retry_quota *q,
                      const struct aws_error *e, unsigned attempts_made, double r,
                      struct aws_retry_decision *ret);

/* A call succeeded; last_cost is the cost taken by the retry that led to this
 * success (0 when the first attempt succeeded). */
void aws_retry_quota_release(struct aws_retry_quota *q, unsigned last_cost);

const char *aws_retry_verdict_to_string(enum aws_retry_verdict v);

#endif
