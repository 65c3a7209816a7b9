/*
 * inbound_sms.c — parser for the inbound SMS JSON carried in the Message of an
 * SNS Notification. See inbound_sms.h for the rules.
 */
#include <string.h>

#include <jansson.h>

#include "aws_names.h"
#include "common.h"
#include "inbound_sms.h"
#include "json_strict.h"
#include "text.h"
#include "utf8.h"

static bool digits_only(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

bool inbound_sms_short_code_valid(const char *s)
{
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        return n >= 3 && n <= 8 && s[0] != '0' && digits_only(s, n);
}

struct field_reasons {
        const char *name;
        const char *missing;
        const char *type;
};

#define REASONS(n)                                                                                 \
        {                                                                                          \
                .name = n, .missing = "missing field " n, .type = "field " n " is not a string",   \
        }

static const struct field_reasons r_origination = REASONS("originationNumber");
static const struct field_reasons r_destination = REASONS("destinationNumber");
static const struct field_reasons r_body = REASONS("messageBody");
static const struct field_reasons r_id = REASONS("inboundMessageId");
static const struct field_reasons r_keyword = REASONS("messageKeyword");
static const struct field_reasons r_prev = REASONS("previousPublishedMessageId");

/* A required string, or (optional) an absent/null/empty one read as NULL. */
static int get_string(json_t *root, const struct field_reasons *f, bool required, const char **ret,
                      size_t *ret_len, const char **reterr)
{
        json_t *v = json_object_get(root, f->name);

        if (!v || (!required && json_is_null(v))) {
                if (required)
                        return text_fail(reterr, f->missing, -EBADMSG);
                *ret = NULL;
                *ret_len = 0;
                return 0;
        }
        if (!json_is_string(v))
                return text_fail(reterr, f->type, -EBADMSG);
        *ret_len = json_string_length(v);
        *ret = (!required && *ret_len == 0) ? NULL : json_string_value(v);
        return 0;
}

struct inbound_sms *inbound_sms_free(struct inbound_sms *sms)
{
        if (!sms)
                return NULL;
        json_decref(sms->priv_root);
        free(sms);
        return NULL;
}

int inbound_sms_parse(const void *json, size_t len, struct inbound_sms **ret, const char **reterr)
{
        _cleanup_inbound_sms_ struct inbound_sms *sms = NULL;
        json_t *root;
        const char *s;
        size_t n;
        int r;

        if (!json || !ret)
                return text_fail(reterr, "invalid argument", -EINVAL);
        if (len > INBOUND_SMS_JSON_MAX)
                return text_fail(reterr, "inbound SMS too large", -EMSGSIZE);

        sms = calloc(1, sizeof(*sms));
        if (!sms)
                return text_fail(reterr, "out of memory", -ENOMEM);
        r = json_strict_object(json, len, &root, reterr);
        if (r < 0)
                return r;
        sms->priv_root = root;

        r = get_string(root, &r_origination, true, &s, &n, reterr);
        if (r < 0)
                return r;
        if (!aws_e164_is_valid(s))
                return text_fail(reterr, "originationNumber is not E.164", -EBADMSG);
        sms->origination_number = s;

        r = get_string(root, &r_destination, true, &s, &n, reterr);
        if (r < 0)
                return r;
        if (aws_e164_is_valid(s))
                sms->destination_is_short_code = false;
        else if (inbound_sms_short_code_valid(s))
                sms->destination_is_short_code = true;
        else
                return text_fail(reterr, "destinationNumber is not E.164 or a short code",
                                 -EBADMSG);
        sms->destination_number = s;

        r = get_string(root, &r_body, true, &s, &n, reterr);
        if (r < 0)
                return r;
        if (n > INBOUND_SMS_BODY_MAX_BYTES || utf8_length(s, n) > INBOUND_SMS_BODY_MAX)
                return text_fail(reterr, "messageBody too long", -EMSGSIZE);
        sms->message_body = s;
        sms->message_body_len = n;

        r = get_string(root, &r_id, true, &s, &n, reterr);
        if (r < 0)
                return r;
        if (n == 0)
                return text_fail(reterr, "empty inboundMessageId", -EBADMSG);
        if (n > INBOUND_SMS_ID_MAX)
                return text_fail(reterr, "inboundMessageId too long", -EMSGSIZE);
        if (text_has_control(s, n))
                return text_fail(reterr, "control character in inboundMessageId", -EBADMSG);
        sms->inbound_message_id = s;

        r = get_string(root, &r_keyword, false, &s, &n, reterr);
        if (r < 0)
                return r;
        if (n > INBOUND_SMS_KEYWORD_MAX)
                return text_fail(reterr, "messageKeyword too long", -EMSGSIZE);
        if (s && text_has_control(s, n))
                return text_fail(reterr, "control character in messageKeyword", -EBADMSG);
        sms->message_keyword = s;

        r = get_string(root, &r_prev, false, &s, &n, reterr);
        if (r < 0)
                return r;
        if (n > INBOUND_SMS_PREV_ID_MAX)
                return text_fail(reterr, "previousPublishedMessageId too long", -EMSGSIZE);
        if (s && text_has_control(s, n))
                return text_fail(reterr, "control character in previousPublishedMessageId",
                                 -EBADMSG);
        sms->previous_published_message_id = s;

        *ret = TAKE_PTR(sms);
        return 0;
}
