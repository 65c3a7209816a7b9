/*
 * consent.h — the consent store (TCPA/CTIA) in DynamoDB, and the decision
 * table that turns (keyword, consent state) into what the pipeline does.
 *
 * THE ITEM (table [consent] table, hash key phone_number S):
 *   phone_number             E.164 of the customer
 *   consent_status           "opted_in" | "opted_out" (absent item: never asked)
 *   opt_out_method           "sms" (a STOP keyword) | "aws" (the AWS opt-out list
 *                            refused a send: DESTINATION_PHONE_NUMBER_OPTED_OUT)
 *   opt_out_requested_at     ISO-8601 UTC ("2026-11-24T13:05:09Z")
 *   opt_out_deadline         requested_at + [consent] business_days business days
 *   opt_in_at, opt_in_method
 *   updated_at
 *   consent_history          list of {time, action, method, inbound_message_id}
 *   last_inbound_message_id  the message that made the last change
 *   version                  N, incremented by every write
 *
 * Writes are compare-and-swap: each UpdateItem is conditional on the version
 * that was read (or on the item or version being absent), so two concurrent
 * events for one number cannot interleave into a wrong final state; the loser
 * gets -ESTALE, re-reads and decides again.
 *
 * Idempotence across retries: a write records the inbound message id that
 * caused it. When a row is processed again (a retry after the write succeeded
 * but the reply failed, or a restart), the decision sees that this very
 * message already made the change and confirms it without writing again
 * (consent_decide(): CONFIRM_OPT_OUT / CONFIRM_OPT_IN), so one opt-out gets
 * exactly one confirmation and a repeated STOP gets none.
 *
 * The pure parts (record parsing, the decision table, request building) do
 * no I/O and read no clock. consent_get()/consent_write() follow the callback
 * contract of aws.h.
 *
 * Ownership: struct consent_record is a plain value. struct consent_update
 * owns its JSON; release it with consent_update_done().
 */
#ifndef TWOWAYD_CONSENT_H
#define TWOWAYD_CONSENT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "ddb.h"
#include "keyword.h"

struct aws_client;
struct aws_call;
struct aws_error;
struct business_days_holidays;

#define CONSENT_KEY            "phone_number"
#define CONSENT_ID_MAX         257 /* an inbound message id plus the NUL */
#define CONSENT_METHOD_SMS     "sms"
#define CONSENT_METHOD_AWS     "aws"
#define CONSENT_EXPRESSION_MAX 640

enum consent_status {
        CONSENT_NONE,      /* no item, or an item without consent_status */
        CONSENT_OPTED_IN,  /* "opted_in" (any case) */
        CONSENT_OPTED_OUT, /* "opted_out" (any case), or a status that cannot be read */
        _CONSENT_STATUS_MAX,
};

struct consent_record {
        bool exists; /* the item exists */
        enum consent_status status;
        bool has_version;
        long long version;
        char last_inbound_message_id[CONSENT_ID_MAX]; /* "" when absent */
};

enum consent_action {
        CONSENT_ACTION_AGENT,           /* conversational and allowed: ask the agent */
        CONSENT_ACTION_BLOCK,           /* conversational from an opted-out number: nothing */
        CONSENT_ACTION_OPT_OUT,         /* write opted_out, then confirm once */
        CONSENT_ACTION_OPT_IN,          /* write opted_in, then welcome */
        CONSENT_ACTION_CONFIRM_OPT_OUT, /* this message's opt-out is already written: confirm */
        CONSENT_ACTION_CONFIRM_OPT_IN,  /* already opted in: welcome without writing */
        CONSENT_ACTION_HELP,            /* help text, whatever the state */
        CONSENT_ACTION_IGNORE,          /* opt-out from an opted-out number: no write, no reply */
        _CONSENT_ACTION_MAX,
};

/* Parse an item (NULL: no item). Unknown consent_status values count as
 * CONSENT_NONE; a version that is not an integer is -EBADMSG (the writer
 * would lose its compare-and-swap forever otherwise). */
int consent_record_from_item(const json_t *item, struct consent_record *ret);

/* Whether this inbound message made the record's last change. */
bool consent_record_changed_by(const struct consent_record *rec, const char *inbound_message_id);

/* The state to classify the message under: the current one, except when this
 * very message already changed it (a retry), when it is the state before that
 * change, so that "YES" (an opt-in only while opted out) is classified the same
 * way on every attempt. */
bool consent_classify_opted_out(const struct consent_record *rec, const char *inbound_message_id);

/*
 * THE DECISION TABLE
 *
 *   keyword \ state  none            opted_in         opted_out
 *   NONE             AGENT           AGENT            BLOCK
 *   OPT_OUT          OPT_OUT         OPT_OUT          IGNORE (CONFIRM_OPT_OUT when
 *                                                     this message wrote it)
 *   OPT_IN           OPT_IN          CONFIRM_OPT_IN   OPT_IN
 *   HELP             HELP            HELP             HELP
 */
enum consent_action consent_decide(enum keyword_kind kind, const struct consent_record *rec,
                                   const char *inbound_message_id);

/* A change to write. */
struct consent_change {
        const char *phone;              /* E.164, the key */
        enum consent_status to;         /* CONSENT_OPTED_OUT or CONSENT_OPTED_IN */
        const char *method;             /* CONSENT_METHOD_SMS / _AWS */
        const char *inbound_message_id; /* the message that caused it */
        time_t now;
        unsigned business_days; /* opt-out deadline, in business days after now */
        const struct business_days_holidays *holidays; /* may be NULL */
};

/* An UpdateItem request (params point into the struct's own JSON and buffers). */
struct consent_update {
        struct ddb_update_params params;
        json_t *key, *names, *values;
        char update[CONSENT_EXPRESSION_MAX];
        char condition[CONSENT_EXPRESSION_MAX];
};

/* Build the conditional UpdateItem for change, expected being the record as
 * read. -EINVAL for a bad change, -ERANGE/-EOVERFLOW from the deadline, -ENOMEM. */
int consent_update_build(const char *table, const struct consent_change *change,
                         const struct consent_record *expected, struct consent_update *ret);
void consent_update_done(struct consent_update *u);

const char *consent_status_to_string(enum consent_status s);
const char *consent_action_to_string(enum consent_action a);

/* --- I/O ------------------------------------------------------------------------ */

/* r: 0 and *rec, or < 0 with err describing it (-EBADMSG for an unreadable item). */
typedef void (*consent_get_cb)(int r, const struct consent_record *rec, const struct aws_error *err,
                               void *userdata);
/* r: 0 written; -ESTALE the record changed since it was read (re-read and
 * decide again); other < 0 with err describing it. */
typedef void (*consent_write_cb)(int r, const struct aws_error *err, void *userdata);

/* GetItem with ConsistentRead. */
int consent_get(struct aws_client *aws, const char *table, const char *phone, consent_get_cb cb,
                void *userdata, struct aws_call **ret);
int consent_write(struct aws_client *aws, const char *table, const struct consent_change *change,
                  const struct consent_record *expected, consent_write_cb cb, void *userdata,
                  struct aws_call **ret);

#endif
