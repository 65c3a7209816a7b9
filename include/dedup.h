/*
 * dedup.h — cross-instance claim of an inbound message in DynamoDB.
 *
 * Several twowayd instances behind one load balancer each receive a copy of
 * an SNS redelivery; the local spool deduplicates within one instance only.
 * With [dedup] table set, the dispatcher claims each inboundMessageId before
 * acting on it: a conditional PutItem (attribute_not_exists) of
 * {inbound_message_id, claimed_by, claimed_at, expires_at}, expires_at being
 * the table's TTL attribute. The instance that wins processes the message;
 * the others mark it done. An instance that finds its own claim (it crashed
 * after claiming) goes on.
 *
 * Callback contract as in aws.h: if dedup_claim() returns an error the
 * callback is never called; otherwise exactly once, from the loop.
 *
 * Ownership: all arguments are borrowed for the duration of the call.
 */
#ifndef TWOWAYD_DEDUP_H
#define TWOWAYD_DEDUP_H

#include <stddef.h>
#include <stdint.h>

struct aws_client;
struct dedup_claim;

enum dedup_outcome {
        DEDUP_CLAIMED,           /* ours: process it */
        DEDUP_CLAIMED_ELSEWHERE, /* another instance has it: do not process */
};

/* r < 0: the claim could not be decided (DynamoDB unreachable, throttled...):
 * retry later, never process meanwhile. */
typedef void (*dedup_cb)(int r, enum dedup_outcome outcome, void *userdata);

/* *ret (may be NULL) stays valid until the callback runs. */
int dedup_claim(struct aws_client *aws, const char *table, const char *inbound_message_id,
                const char *instance, int64_t now, unsigned ttl_days, dedup_cb cb, void *userdata,
                struct dedup_claim **ret);
/* The callback runs later, with -ECANCELED. */
void dedup_claim_cancel(struct dedup_claim *c);

/* A stable name for this instance: the machine id and the spool directory,
 * so a restarted daemon recognises its own claims. Writes into buf. */
int dedup_instance_name(const char *spool_dir, char *buf, size_t size);

#endif
