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
 *   consent_history          list of {time, action, method, inbound_message_id
 *                            [, operator, note]}: the newest changes only, at
 *                            most CONSENT_HISTORY_MAX entries and
 *                            CONSENT_HISTORY_BYTES_MAX bytes of JSON, oldest
 *                            first, so the item stays a few KB however often
 *                            the number changes its mind
 *   consent_changes          N, every change ever made (an item written before
 *                            this attribute counts its history's length)
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
 * Ownership: struct consent_record is a plain value (copy it freely; the
 * kept history is text inside it). struct consent_get_request and struct
 * consent_update own their JSON; release them with consent_get_request_done()
 * and consent_update_done(). consent_set() copies what it needs from the
 * change, except holidays, which must outlive the operation.
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

#define CONSENT_KEY               "phone_number"
#define CONSENT_ID_MAX            257 /* an inbound message id plus the NUL */
#define CONSENT_METHOD_SMS        "sms"
#define CONSENT_METHOD_AWS        "aws"
#define CONSENT_EXPRESSION_MAX    640
#define CONSENT_HISTORY_MAX       20   /* newest consent_history entries kept */
#define CONSENT_HISTORY_BYTES_MAX 8192 /* ... and at most this much compact JSON */
#define CONSENT_NOTE_MAX          1024 /* bytes of an operator's note */
#define CONSENT_OPERATOR_MAX      256  /* bytes of an operator's name */

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
        long long changes; /* consent_changes (or the history's length when absent) */
        /* The newest consent_history entries as read, trimmed to the bounds
         * above: a compact JSON array of DynamoDB attribute values, "" when
         * there are none. The next write keeps them and appends its own. */
        char history[CONSENT_HISTORY_BYTES_MAX + 1];
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
        const char *operator_name; /* a manual change: who made it (history entry), or NULL */
        const char *note;          /* a manual change: why (history entry), or NULL */
};

/* The GetItem request of a number's item, as consent_get() sends it (the
 * key, ConsistentRead): for a reader that needs the item itself, as
 * twowayctl consent get shows it. params point into the struct's own JSON
 * and borrow table. -EINVAL for an empty table or phone, -ENOMEM. */
struct consent_get_request {
        struct ddb_get_params params;
        json_t *key;
};
int consent_get_request_build(const char *table, const char *phone,
                              struct consent_get_request *ret);
void consent_get_request_done(struct consent_get_request *rd);

/* An UpdateItem request (params point into the struct's own JSON and buffers). */
struct consent_update {
        struct ddb_update_params params;
        json_t *key, *names, *values;
        char update[CONSENT_EXPRESSION_MAX];
        char condition[CONSENT_EXPRESSION_MAX];
};

/* Build the conditional UpdateItem for change, expected being the record as
 * read: the new state, consent_history = expected's kept entries plus this
 * change's, trimmed to the bounds (oldest dropped first), consent_changes =
 * expected's + 1. -EINVAL for a bad change (a note over CONSENT_NOTE_MAX or an
 * operator over CONSENT_OPERATOR_MAX bytes included), -ERANGE/-EOVERFLOW from
 * the deadline, -ENOMEM. */
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

/*
 * Set a number's consent to change->to whatever it is now: read the record
 * (consent_get()), and unless it already has that status write the change
 * (consent_write()); when the record changed in between (-ESTALE), read and
 * decide again, at most CONSENT_SET_ATTEMPTS times. For changes that do not
 * depend on a message's keyword: an operator's (twowayctl consent).
 *
 * cb gets r = 1 written, 0 already in that state, -EBADMSG the item cannot be
 * read, -ESTALE still changing after the last attempt, -ECANCELED when the
 * client is freed first, or another < 0 with err (and the failed operation:
 * "GetItem" or "UpdateItem"). The aws.h callback contract holds.
 */
#define CONSENT_SET_ATTEMPTS 3
typedef void (*consent_set_cb)(int r, const char *operation, const struct aws_error *err,
                               void *userdata);
int consent_set(struct aws_client *aws, const char *table, const struct consent_change *change,
                consent_set_cb cb, void *userdata);

#endif
