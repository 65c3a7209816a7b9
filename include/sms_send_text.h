/*
 * sms_send_text.h — sending one SMS: SendTextMessage (pinpoint-sms-voice-v2, JSON 1.0,
 * X-Amz-Target PinpointSMSVoiceV2.SendTextMessage; aws-wire-notes §2.3–2.4).
 * Pacing, order and retries are the send queue's (sms_send_queue.h).
 *
 * AT MOST ONCE. A reply must never go out twice, so sms_send_text() makes
 * exactly one attempt: the AWS core does not retry it (max_attempts 1) and
 * libcurl may not replay it on a reused keep-alive connection
 * (fresh_connection, see http_client.h). The caller decides about another
 * attempt with sms_send_text_classify_failure(), which tells apart failures after
 * which the message certainly was not sent (the service refused it:
 * throttling, a 500/503 answer from the service, a connection that was never
 * made) from those after which it may have been (a timeout or a connection
 * lost after the request went out): those are never retried.
 *
 * Callback contract as in aws.h. struct sms_send_text_result and what it points to are
 * valid only during the callback.
 */
#ifndef TWOWAYD_SMS_SEND_TEXT_H
#define TWOWAYD_SMS_SEND_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct aws_client;
struct aws_call;
struct aws_error;

#define SMS_SEND_TEXT_REASON_MAX         128
#define SMS_SEND_TEXT_REASON_OPTED_OUT   "DESTINATION_PHONE_NUMBER_OPTED_OUT"
#define SMS_SEND_TEXT_CONTEXT_INBOUND_ID "inboundMessageId"
#define SMS_SEND_TEXT_MESSAGE_ID_MAX     256

struct sms_send_text_params {
        const char *destination;          /* required: the customer, E.164 */
        const char *origination_identity; /* required */
        const char *body;                 /* required, already shaped */
        const char *message_type;         /* "TRANSACTIONAL" / "PROMOTIONAL", or NULL */
        const char *configuration_set;    /* or NULL */
        const char *max_price;            /* or NULL */
        unsigned time_to_live;            /* seconds; 0: unset */
        const char *inbound_message_id;   /* Context.inboundMessageId, or NULL */
};

/* The request body; NULL on OOM or a missing required member. */
json_t *sms_send_text_request_body(const struct sms_send_text_params *p);

enum sms_send_text_failure {
        SMS_SEND_TEXT_FAILURE_RETRY,     /* certainly not sent; another attempt is safe */
        SMS_SEND_TEXT_FAILURE_OPTED_OUT, /* ConflictException DESTINATION_PHONE_NUMBER_OPTED_OUT */
        SMS_SEND_TEXT_FAILURE_PERMANENT, /* certainly not sent; another attempt will not help */
        SMS_SEND_TEXT_FAILURE_UNKNOWN,   /* may have been sent: never try again */
        _SMS_SEND_TEXT_FAILURE_MAX,
};

/* r and err as delivered by aws.h; reason is the error body's "Reason" (or
 * NULL). */
enum sms_send_text_failure sms_send_text_classify_failure(int r, const struct aws_error *err,
                                                          const char *reason);
const char *sms_send_text_failure_to_string(enum sms_send_text_failure f);

/* The "Reason" member of an error body (JSON) into buf, else its
 * "ResourceType" (a ResourceNotFoundException has no Reason); "" when
 * neither. Returns the length. */
size_t sms_send_text_error_reason(const void *body, size_t len, char *buf, size_t size);
/* The refusal says the origination identity is not one of the account's: a
 * ResourceNotFoundException of a phone number, pool or sender ID (reason as
 * above). Permanent: no retry sends it. */
bool sms_send_text_identity_unknown(const struct aws_error *err, const char *reason);

struct sms_send_text_result {
        int r;                  /* 0 sent; < 0 failed */
        const char *message_id; /* r == 0: the MessageId ("" when the answer had none) */
        enum sms_send_text_failure failure;
        const struct aws_error *error; /* r < 0 */
        const char *reason;            /* error "Reason", or "" */
        long http_status;
        const char *request_id;
        double latency_ms;
};

typedef void (*sms_send_text_cb)(const struct sms_send_text_result *res, void *userdata);

/* One SendTextMessage attempt (see AT MOST ONCE). */
int sms_send_text(struct aws_client *aws, const struct sms_send_text_params *p, sms_send_text_cb cb,
                  void *userdata, struct aws_call **ret);

#endif
