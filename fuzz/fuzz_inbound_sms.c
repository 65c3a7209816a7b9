/*
 * fuzz_inbound_sms.c — the inbound SMS (the Message of a Notification).
 *
 * An accepted message must keep every promise of inbound_sms.h: numbers in
 * their forms, a NUL-free UTF-8 body within its bounds, ids without control
 * characters, optional fields either NULL or non-empty.
 */
#include "aws_names.h"
#include "common.h"
#include "fuzz_common.h"
#include "inbound_sms.h"

static bool no_control(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

static size_t code_points(const char *s, size_t n)
{
        size_t c = 0;

        for (size_t i = 0; i < n; i++)
                if (((unsigned char)s[i] & 0xC0) != 0x80)
                        c++;
        return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct inbound_sms *sms = NULL;
        const char *reason = NULL;
        int r;

        r = inbound_sms_parse(data, size, &sms, &reason);
        if (r < 0) {
                FUZZ_CHECK(!sms);
                FUZZ_CHECK(reason && *reason);
                FUZZ_CHECK(r == -EMSGSIZE || r == -EBADMSG || r == -ENOMEM);
                return 0;
        }
        FUZZ_CHECK(sms);
        FUZZ_CHECK(aws_e164_is_valid(sms->origination_number));
        FUZZ_CHECK(strlen(sms->origination_number) <= INBOUND_SMS_E164_MAX);
        if (sms->destination_is_short_code)
                FUZZ_CHECK(inbound_sms_short_code_valid(sms->destination_number));
        else
                FUZZ_CHECK(aws_e164_is_valid(sms->destination_number));
        FUZZ_CHECK(sms->message_body);
        FUZZ_CHECK(strlen(sms->message_body) == sms->message_body_len);
        FUZZ_CHECK(sms->message_body_len <= INBOUND_SMS_BODY_MAX_BYTES);
        FUZZ_CHECK(fuzz_utf8_valid(sms->message_body, sms->message_body_len));
        FUZZ_CHECK(code_points(sms->message_body, sms->message_body_len) <= INBOUND_SMS_BODY_MAX);
        FUZZ_CHECK(sms->inbound_message_id && *sms->inbound_message_id);
        FUZZ_CHECK(strlen(sms->inbound_message_id) <= INBOUND_SMS_ID_MAX);
        FUZZ_CHECK(no_control(sms->inbound_message_id));
        if (sms->message_keyword) {
                FUZZ_CHECK(*sms->message_keyword);
                FUZZ_CHECK(strlen(sms->message_keyword) <= INBOUND_SMS_KEYWORD_MAX);
                FUZZ_CHECK(no_control(sms->message_keyword));
        }
        if (sms->previous_published_message_id) {
                FUZZ_CHECK(*sms->previous_published_message_id);
                FUZZ_CHECK(strlen(sms->previous_published_message_id) <= INBOUND_SMS_PREV_ID_MAX);
                FUZZ_CHECK(no_control(sms->previous_published_message_id));
        }
        inbound_sms_free(sms);
        return 0;
}
