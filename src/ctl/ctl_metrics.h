/*
 * ctl_metrics.h — what twowayctl reads from the running daemon's /metrics
 * (Prometheus text exposition, version 0.0.4): the send queue of each
 * origination identity.
 *
 * Pure. Ownership: returned JSON belongs to the caller.
 */
#ifndef TWOWAYD_CTL_METRICS_H
#define TWOWAYD_CTL_METRICS_H

#include <jansson.h>

/* The identities in the twowayd_sms_* series of text, as an array of
 * {"identity", "type", "country", "source", "rate", "depth", "throttles"}
 * (numbers, or null when the series is absent), in the order first seen.
 * Lines that are not samples of those series are skipped. NULL on OOM. */
json_t *ctl_metrics_send_queues(const char *text);

#endif
