/*
 * aws_retry.c — standard-mode retry decisions and backoff (pure).
 */
#include <math.h>

#include "aws_retry.h"
#include "common.h"

void aws_retry_config_default(struct aws_retry_config *c)
{
        *c = (struct aws_retry_config){
                .max_attempts = AWS_RETRY_MAX_ATTEMPTS_DEFAULT,
                .base_ms = AWS_RETRY_BASE_MS_DEFAULT,
                .throttle_base_ms = AWS_RETRY_THROTTLE_BASE_MS,
                .cap_ms = AWS_RETRY_CAP_MS_DEFAULT,
        };
}

void aws_retry_quota_init(struct aws_retry_quota *q, unsigned capacity)
{
        q->capacity = capacity;
        q->available = capacity;
}

double aws_retry_backoff_ms(const struct aws_retry_config *c, enum aws_error_kind kind,
                            unsigned attempts_made, double r)
{
        double base = kind == AWS_ERROR_THROTTLING ? c->throttle_base_ms : c->base_ms;
        unsigned exp = attempts_made > 0 ? attempts_made - 1 : 0;
        double ceiling;

        /* 2^exp overflows nothing below 64, and the cap wins long before. */
        if (exp > 62)
                exp = 62;
        ceiling = MIN(base * ldexp(1.0, (int)exp), (double)c->cap_ms);
        if (!(r >= 0.0)) /* also catches NaN */
                r = 0.0;
        if (r > 1.0)
                r = 1.0;
        return r * ceiling;
}

void aws_retry_decide(const struct aws_retry_config *c, struct aws_retry_quota *q,
                      const struct aws_error *e, unsigned attempts_made, double r,
                      struct aws_retry_decision *ret)
{
        unsigned cost;

        *ret = (struct aws_retry_decision){.verdict = AWS_RETRY_NOT_RETRYABLE};
        if (!aws_error_retryable(e))
                return;
        if (attempts_made >= MAX(c->max_attempts, 1u)) {
                ret->verdict = AWS_RETRY_MAX_ATTEMPTS;
                return;
        }
        cost = e->timeout ? AWS_RETRY_TIMEOUT_COST : AWS_RETRY_COST;
        if (q) {
                if (q->available < cost) {
                        ret->verdict = AWS_RETRY_QUOTA_EXHAUSTED;
                        return;
                }
                q->available -= cost;
        } else
                cost = 0;
        ret->verdict = AWS_RETRY_YES;
        ret->cost = cost;
        ret->delay_ms = aws_retry_backoff_ms(c, e->kind, attempts_made, r);
}

void aws_retry_quota_release(struct aws_retry_quota *q, unsigned last_cost)
{
        unsigned add = last_cost ? last_cost : AWS_RETRY_NO_RETRY_INCREMENT;

        if (!q)
                return;
        q->available = MIN(q->capacity, q->available + add);
}

const char *aws_retry_verdict_to_string(enum aws_retry_verdict v)
{
        static const char *const names[_AWS_RETRY_VERDICT_MAX] = {
                [AWS_RETRY_YES] = "retry",
                [AWS_RETRY_NOT_RETRYABLE] = "not retryable",
                [AWS_RETRY_MAX_ATTEMPTS] = "max attempts reached",
                [AWS_RETRY_QUOTA_EXHAUSTED] = "retry quota exhausted",
        };
        if ((unsigned)v >= _AWS_RETRY_VERDICT_MAX)
                return "unknown";
        return names[v];
}
