/*
 * inbound_sms.h — the inbound SMS that AWS End User Messaging publishes to the
 * SNS topic: the Message of a verified Notification, itself a JSON document:
 *
 *   {"originationNumber":"+14255550182","destinationNumber":"+12125550101",
 *    "messageKeyword":"JOIN","messageBody":"EXAMPLE",
 *    "inboundMessageId":"cae173d2-66b9-564c-8309-21f858e9fb84",
 *    "previousPublishedMessageId":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
 *
 * Pure module: no I/O, no clock, no logging.
 *
 * Rules (AWS documents no required/optional flags; these follow what it sends):
 *   - originationNumber (the customer's handset): E.164, "+" then 1-15 digits,
 *     the first not 0;
 *   - destinationNumber (our number): E.164, or a short code written as 3-8
 *     digits without "+" (first digit not 0). Two-way SMS works on long codes,
 *     toll-free, 10DLC and short codes but not on sender IDs, so no alphanumeric
 *     form is accepted. The short-code form is a tolerance: AWS's examples only
 *     show E.164;
 *   - messageBody: required, may be empty (an empty SMS is possible), at most
 *     INBOUND_SMS_BODY_MAX characters and INBOUND_SMS_BODY_MAX_BYTES bytes.
 *     It is valid UTF-8 without NUL by construction: jansson refuses invalid
 *     UTF-8 (and lone surrogate escapes) in its input and "\u0000" unless
 *     asked, so every decoded string it returns is valid UTF-8;
 *   - inboundMessageId: required, non-empty, at most INBOUND_SMS_ID_MAX bytes,
 *     no control characters;
 *   - messageKeyword, previousPublishedMessageId: optional; absent, null and ""
 *     all read as NULL; otherwise strings without control characters within
 *     their bounds;
 *   - unknown keys are ignored; duplicate keys are refused.
 *
 * Errors: -EMSGSIZE input or field too large, -EBADMSG anything else, -ENOMEM.
 * *reterr (when not NULL) is set to a short static reason on refusal, e.g.
 * "originationNumber is not E.164", and left alone on success.
 *
 * Ownership: struct inbound_sms owns its strings; they stay valid until
 * inbound_sms_free(). Phone numbers and bodies are personal data: log them
 * only through log_phone() and log_text().
 */
#ifndef TWOWAYD_INBOUND_SMS_H
#define TWOWAYD_INBOUND_SMS_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#define INBOUND_SMS_JSON_MAX       (256 * 1024)
#define INBOUND_SMS_BODY_MAX       1600 /* characters (code points) */
#define INBOUND_SMS_BODY_MAX_BYTES (4 * INBOUND_SMS_BODY_MAX)
#define INBOUND_SMS_ID_MAX         128
#define INBOUND_SMS_KEYWORD_MAX    256
#define INBOUND_SMS_PREV_ID_MAX    256
#define INBOUND_SMS_E164_MAX       16 /* "+" and 15 digits */

struct inbound_sms {
        const char *origination_number;
        const char *destination_number;
        bool destination_is_short_code;
        const char *message_body;
        size_t message_body_len; /* bytes */
        const char *inbound_message_id;
        const char *message_keyword;               /* NULL when absent */
        const char *previous_published_message_id; /* NULL when absent */

        /* private */
        void *priv_root;
};

int inbound_sms_parse(const void *json, size_t len, struct inbound_sms **ret,
                      const char **reterr) _warn_unused_;
struct inbound_sms *inbound_sms_free(struct inbound_sms *sms);
static inline void inbound_sms_freep(struct inbound_sms **sms)
{
        inbound_sms_free(*sms);
}
#define _cleanup_inbound_sms_ _cleanup_(inbound_sms_freep)

/* 3-8 digits, the first not 0. */
bool inbound_sms_short_code_valid(const char *s);

#endif
