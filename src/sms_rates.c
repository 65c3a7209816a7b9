/*
 * sms_rates.c — learn each origination identity's rate, hand it to the send
 * queue, and report what the queue does with it (the rule is in sms_rates.h).
 */
#include <math.h>
#include <stdio.h>

#include "common.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "sms_rate_learn.h"
#include "sms_rates.h"
#include "sms_send_queue.h"

/* The collect callbacks of the metrics registry outlive any one struct
 * sms_rates (families stay until metrics_reset()), so they read it through
 * this pointer, which sms_rates_free() clears. One per process. */
static struct sms_rates *current;

struct sms_rates {
        struct aws_client *aws;
        struct sms_send_queue *q;
        double override; /* [sms] max_per_second, 0 when unset */
        struct sms_rate_identity *learned;
        size_t n_learned;
        struct sms_rate_learn *learning; /* in flight */
        struct sms_send_observer observer;
        struct {
                struct metrics_family *wait, *throttles;
        } m;
};

static const struct sms_rate_identity *learned_find(const struct sms_rates *r, const char *name)
{
        for (size_t i = 0; i < r->n_learned; i++)
                if (sms_rate_identity_is(&r->learned[i], name))
                        return &r->learned[i];
        return NULL;
}

/* The queue's rate source: the override, else what was learned. */
static double rate_of(const char *identity, void *userdata)
{
        const struct sms_rates *r = userdata;
        const struct sms_rate_identity *id;

        if (r->override > 0)
                return r->override;
        id = learned_find(r, identity);
        return id ? id->parts_per_second : 0;
}

/* --- learning ----------------------------------------------------------------------- */

static void learned(int rv, const struct sms_rate_learn_result *res, void *userdata)
{
        struct sms_rates *r = userdata;
        struct sms_rate_identity *copy = NULL;

        /* Cancelled: a reload started another, or r is gone. */
        if (rv == -ECANCELED)
                return;
        r->learning = NULL;
        if (rv < 0) {
                /* A reload that fails keeps what an earlier one learned. */
                const char *then = r->n_learned > 0 ? "the rates learned before stay"
                                                    : "replies go at 1 message part a second";

                if (res->denied)
                        log_warning("sms.rate_unknown",
                                    LOG_FIELDS(LF("AWS_ERROR_CODE", res->aws.code)),
                                    "DescribePhoneNumbers was refused (%s): %s; allow "
                                    "sms-voice:DescribePhoneNumbers, or set [sms] max_per_second",
                                    res->aws.code, then);
                else
                        log_warning("sms.rate_unknown",
                                    LOG_FIELDS(LF("AWS_ERROR_CODE", res->aws.code)),
                                    "cannot read the phone numbers with DescribePhoneNumbers "
                                    "(%s): %s until the next reload; it needs the "
                                    "sms-voice:DescribePhoneNumbers permission",
                                    isempty(res->aws.code) ? strerror(-rv) : res->aws.code, then);
                return;
        }
        if (res->n_identities > 0) {
                copy = calloc(res->n_identities, sizeof(*copy));
                if (!copy) {
                        log_warning("sms.rate_unknown", LOG_NOFIELDS,
                                    "out of memory keeping the learned rates, keeping the old "
                                    "ones");
                        return;
                }
                memcpy(copy, res->identities, res->n_identities * sizeof(*copy));
        }
        free(r->learned);
        r->learned = copy;
        r->n_learned = res->n_identities;
        for (size_t i = 0; i < r->n_learned; i++) {
                const struct sms_rate_identity *id = &r->learned[i];
                char rate[32];

                (void)snprintf(rate, sizeof(rate), "%g", id->parts_per_second);
                log_info("sms.rate",
                         LOG_FIELDS(LF("ORIGINATION_IDENTITY", id->identity),
                                    LF("NUMBER_TYPE", id->number_type),
                                    LF("ISO_COUNTRY_CODE", id->iso_country),
                                    LF("PARTS_PER_SECOND", rate)),
                         "%s (%s %s) may send %s message parts a second", id->identity,
                         id->number_type, id->iso_country, rate);
        }
        log_info("sms.rates_learned", LOG_NOFIELDS,
                 "rates learned for %zu phone numbers; other origination identities go at 1 "
                 "message part a second",
                 r->n_learned);
}

static void learn(struct sms_rates *r)
{
        int rv;

        if (r->learning)
                sms_rate_learn_cancel(r->learning); /* completes with -ECANCELED */
        r->learning = NULL;
        rv = sms_rate_learn(r->aws, NULL, 0, learned, r, &r->learning);
        if (rv < 0)
                log_warning_errno(rv, "sms.rate_unknown", LOG_NOFIELDS,
                                  "cannot start DescribePhoneNumbers, replies go at 1 message part "
                                  "a second: %m");
}

/* --- what the queue says ------------------------------------------------------------- */

static void waited(const char *identity, double seconds, void *userdata)
{
        struct sms_rates *r = userdata;

        (void)metrics_histogram_observe(r->m.wait, METRICS_LABELS(identity), seconds);
}

static void throttled(const char *identity, double rate, bool lowered, void *userdata)
{
        struct sms_rates *r = userdata;
        char buf[32];

        (void)metrics_counter_inc(r->m.throttles, METRICS_LABELS(identity));
        if (!lowered)
                return;
        (void)snprintf(buf, sizeof(buf), "%g", rate);
        log_notice("sms.throttled",
                   LOG_FIELDS(LF("ORIGINATION_IDENTITY", identity), LF("PARTS_PER_SECOND", buf)),
                   "SendTextMessage from %s was throttled: sending at %s message parts a second "
                   "for a while, the reply goes back into the queue",
                   identity, buf);
}

static void backlog(const char *identity, double expected_wait, size_t depth, void *userdata)
{
        char wait[32], n[32];

        /* Rounded up to the tenth: the queue warns when the wait is over 60 s,
         * and 60.04 s printed as "60.0" would say it was not. */
        (void)snprintf(wait, sizeof(wait), "%.1f", ceil(expected_wait * 10.) / 10.);
        (void)snprintf(n, sizeof(n), "%zu", depth);
        log_warning("sms.backlog",
                    LOG_FIELDS(LF("ORIGINATION_IDENTITY", identity), LF("EXPECTED_WAIT_S", wait),
                               LF("QUEUE_DEPTH", n)),
                    "%s replies are waiting for %s: a new reply would wait %s s for its slot", n,
                    identity, wait);
}

struct collect {
        struct metrics_emitter *e;
        const struct sms_rates *r;
        int which;
};

enum {
        COLLECT_DEPTH,
        COLLECT_RATE,
        COLLECT_INFO
};

static void collect_one(const struct sms_send_identity_state *st, void *userdata)
{
        struct collect *c = userdata;
        const struct sms_rate_identity *id;

        switch (c->which) {
        case COLLECT_DEPTH:
                (void)metrics_emit(c->e, METRICS_LABELS(st->identity), (double)st->depth);
                return;
        case COLLECT_RATE:
                (void)metrics_emit(c->e, METRICS_LABELS(st->identity), st->rate);
                return;
        default:
                id = learned_find(c->r, st->identity);
                (void)metrics_emit(c->e,
                                   METRICS_LABELS(st->identity, id ? id->number_type : "",
                                                  id ? id->iso_country : "",
                                                  c->r->override > 0 ? "override"
                                                  : id               ? "learned"
                                                                     : "default"),
                                   1);
        }
}

static int collect(struct metrics_emitter *e, int which)
{
        struct collect c = {.e = e, .r = current, .which = which};

        if (current)
                sms_send_queue_foreach(current->q, collect_one, &c);
        return 0;
}

static int collect_depth(void *userdata, struct metrics_emitter *e)
{
        return collect(e, COLLECT_DEPTH);
}

static int collect_rate(void *userdata, struct metrics_emitter *e)
{
        return collect(e, COLLECT_RATE);
}

static int collect_info(void *userdata, struct metrics_emitter *e)
{
        return collect(e, COLLECT_INFO);
}

static void register_metrics(struct sms_rates *r)
{
        static const double wait_bounds[] = {0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600};
        int rv;

        rv = metrics_gauge_fn_new("twowayd_sms_queue_depth",
                                  "Replies waiting for their slot, per origination identity.",
                                  METRICS_LABELS("identity"), collect_depth, NULL, NULL);
        if (rv >= 0)
                rv = metrics_gauge_fn_new("twowayd_sms_rate_parts_per_second",
                                          "Message parts per second each origination identity "
                                          "is paced at now (after throttling).",
                                          METRICS_LABELS("identity"), collect_rate, NULL, NULL);
        if (rv >= 0)
                rv = metrics_gauge_fn_new(
                        "twowayd_sms_identity_info",
                        "Origination identities: number type, country and where the rate "
                        "comes from (learned, override, default).",
                        METRICS_LABELS("identity", "type", "country", "source"), collect_info, NULL,
                        NULL);
        if (rv >= 0)
                rv = metrics_histogram_new("twowayd_sms_slot_wait_seconds",
                                           "Time a reply waited in the send queue for its slot.",
                                           METRICS_LABELS("identity"), wait_bounds,
                                           ARRAY_SIZE(wait_bounds), &r->m.wait);
        if (rv >= 0)
                rv = metrics_counter_new("twowayd_sms_throttles_total",
                                         "ThrottlingException answers to SendTextMessage, per "
                                         "origination identity.",
                                         METRICS_LABELS("identity"), &r->m.throttles);
        if (rv < 0)
                log_warning_errno(rv, "sms.metrics_failed", LOG_NOFIELDS,
                                  "cannot register the send queue metrics, ignoring: %m");
}

/* --- API ---------------------------------------------------------------------------- */

int sms_rates_new(struct aws_client *aws, struct sms_send_queue *q, const struct config *c,
                  struct sms_rates **ret)
{
        struct sms_rates *r;

        if (!aws || !q || !c || !ret)
                return -EINVAL;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->aws = aws;
        r->q = q;
        r->observer = (struct sms_send_observer){
                .waited = waited,
                .throttled = throttled,
                .backlog = backlog,
        };
        register_metrics(r);
        current = r;
        sms_send_queue_set_observer(q, &r->observer, r);
        sms_send_queue_set_rate_source(q, rate_of, r);
        sms_rates_set_config(r, c);
        *ret = r;
        return 0;
}

void sms_rates_set_config(struct sms_rates *r, const struct config *c)
{
        if (!r || !c)
                return;
        r->override = c->sms_max_per_second;
        /* Until the numbers are read, and for identities that are not numbers. */
        sms_send_queue_set_default_rate(r->q,
                                        r->override > 0 ? r->override : SMS_RATE_CONSERVATIVE);
        if (r->override > 0) {
                /* Nothing to learn: forget what was, so that /metrics says so. */
                if (r->learning)
                        sms_rate_learn_cancel(r->learning);
                r->learning = NULL;
                free(r->learned);
                r->learned = NULL;
                r->n_learned = 0;
                log_info("sms.rates_learned", LOG_NOFIELDS,
                         "[sms] max_per_second = %g message parts a second for every origination "
                         "identity",
                         r->override);
                return;
        }
        learn(r);
}

struct sms_rates *sms_rates_free(struct sms_rates *r)
{
        if (!r)
                return NULL;
        if (current == r)
                current = NULL;
        sms_send_queue_set_observer(r->q, NULL, NULL);
        sms_send_queue_set_rate_source(r->q, NULL, NULL);
        if (r->learning)
                /* Completes later, from the loop, into a callback that must not
                 * find r: the AWS client is freed after us and cancels it. */
                sms_rate_learn_cancel(r->learning);
        free(r->learned);
        free(r);
        return NULL;
}
