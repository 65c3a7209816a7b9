/*
 * sns_message.h — the JSON envelope SNS POSTs to an HTTP(S) subscriber, parsed
 * strictly, and the exact string SNS signs for it.
 *
 * Pure module: no I/O, no clock, no logging.
 *
 * Parsing rules (sns_message_parse()):
 *   - the body is at most SNS_BODY_MAX bytes and one JSON object; duplicate keys
 *     are refused (two "Message" keys would make "which one was signed"
 *     ambiguous), and so is "\u0000" in any string;
 *   - the fields below must be JSON strings, non-empty and within their size
 *     limit; every field but Message (whose confirmation texts carry a newline)
 *     must be free of control characters, so that no value can fake a line of
 *     the string to sign;
 *   - required per Type: Notification needs MessageId, TopicArn, Message,
 *     Timestamp, SignatureVersion, Signature, SigningCertURL (Subject optional);
 *     SubscriptionConfirmation and UnsubscribeConfirmation also need Token and
 *     SubscribeURL. UnsubscribeURL is read for Notification when present but
 *     not required: SNS does not sign it, so its presence proves nothing;
 *   - fields that do not belong to the Type (a Token or SubscribeURL on a
 *     Notification, a Subject on a confirmation) are not read and stay NULL:
 *     they are not signed and must not be acted on. Other unknown keys
 *     (MessageAttributes, SequenceNumber, ...) are ignored whatever their type;
 *   - "Subject": null counts as absent (it is then not part of the string to
 *     sign, as in the official validators); every other null is refused;
 *   - Timestamp must look like 2012-04-26T20:45:04.751Z (UTC, 0-9 fraction
 *     digits) and is also returned as seconds since the epoch;
 *   - SignatureVersion is "1" (SHA1withRSA) or "2" (SHA256withRSA); Signature is
 *     standard base64 with padding, decoded here.
 *
 * Errors: -EMSGSIZE body or field too large; -EOPNOTSUPP unknown Type;
 * -EPROTONOSUPPORT unknown SignatureVersion; -EILSEQ Signature not base64;
 * -EBADMSG anything else malformed; -ENOMEM. On every refusal *reterr (when
 * not NULL) is set to a short static reason fit for a 400 body and the log,
 * e.g. "missing field SigningCertURL", "unknown Type", "bad base64 signature",
 * "invalid JSON". *reterr is left alone on success.
 *
 * Ownership: struct sns_message owns everything it points to; every const char
 * * in it stays valid until sns_message_free(). Callers must not free them.
 * None of it is authentic until sns_verify_signature() has accepted it.
 */
#ifndef TWOWAYD_SNS_MESSAGE_H
#define TWOWAYD_SNS_MESSAGE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "aws_names.h"
#include "common.h"

/* Bounds on what SNS may send. The Publish payload is at most 256 KiB. */
#define SNS_BODY_MAX          (1024 * 1024)
#define SNS_MESSAGE_MAX       (256 * 1024)
#define SNS_SUBJECT_MAX       512
#define SNS_MESSAGE_ID_MAX    128
#define SNS_TOPIC_ARN_MAX     AWS_TOPIC_ARN_MAX
#define SNS_TIMESTAMP_MAX     64
#define SNS_TOKEN_MAX         2048
#define SNS_URL_MAX           2048
#define SNS_SIGNATURE_B64_MAX 1368 /* base64 of 1024 bytes: an 8192-bit RSA signature */
#define SNS_SIGNATURE_MAX     1024

enum sns_message_type {
        SNS_TYPE_NOTIFICATION = 1,
        SNS_TYPE_SUBSCRIPTION_CONFIRMATION,
        SNS_TYPE_UNSUBSCRIBE_CONFIRMATION,
};

enum sns_signature_version {
        SNS_SIGNATURE_V1 = 1, /* SHA1withRSA */
        SNS_SIGNATURE_V2 = 2, /* SHA256withRSA */
};

struct sns_message {
        enum sns_message_type type;
        enum sns_signature_version signature_version;

        const char *type_str; /* "Notification", ... as received */
        const char *message_id;
        const char *topic_arn;
        const char *subject; /* Notification only; NULL when absent */
        const char *message;
        size_t message_len;
        const char *timestamp; /* raw, as received (it is signed in this form) */
        time_t timestamp_sec;  /* the same, parsed (UTC), fraction dropped */
        const char *signature_version_str;
        const char *signature_b64;
        const uint8_t *signature; /* decoded Signature */
        size_t signature_len;
        const char *signing_cert_url;
        const char *subscribe_url;   /* confirmations only, else NULL */
        const char *token;           /* confirmations only, else NULL */
        const char *unsubscribe_url; /* Notification only, may be NULL; NOT signed */

        /* private */
        void *priv_root; /* the jansson document the strings point into */
        uint8_t *priv_signature;
};

int sns_message_parse(const void *body, size_t len, struct sns_message **ret,
                      const char **reterr) _warn_unused_;
struct sns_message *sns_message_free(struct sns_message *m);
static inline void sns_message_freep(struct sns_message **m)
{
        sns_message_free(*m);
}
#define _cleanup_sns_message_ _cleanup_(sns_message_freep)

/* The string SNS signed: "Key\nValue\n" for each signed key of the Type, in
 * SNS's fixed order. *ret is malloc'd and NUL-terminated, *ret_len excludes
 * the NUL. -EINVAL for a message not built by sns_message_parse(), -ENOMEM. */
int sns_message_string_to_sign(const struct sns_message *m, char **ret, size_t *ret_len);

/* "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"; NULL
 * for an unknown value. */
const char *sns_message_type_to_string(enum sns_message_type t);
/* The inverse; -EOPNOTSUPP for an unknown name. */
int sns_message_type_from_string(const char *s);

#endif
