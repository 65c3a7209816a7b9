/*
 * sns_message.c — strict parser for the SNS HTTP delivery envelope and the
 * builder of the string SNS signs. See sns_message.h for the rules.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base64.h"
#include "common.h"
#include "datetime.h"
#include "json_strict.h"
#include "sns_message.h"
#include "text.h"

enum field_id {
        F_TYPE,
        F_MESSAGE_ID,
        F_TOPIC_ARN,
        F_SUBJECT,
        F_MESSAGE,
        F_TIMESTAMP,
        F_SIGNATURE_VERSION,
        F_SIGNATURE,
        F_SIGNING_CERT_URL,
        F_SUBSCRIBE_URL,
        F_TOKEN,
        F_UNSUBSCRIBE_URL,
        _F_MAX,
};

struct field_desc {
        const char *name;
        size_t max;
        bool multiline; /* may hold control characters (newlines) */
        const char *r_missing;
        const char *r_type;
        const char *r_empty;
        const char *r_long;
        const char *r_ctrl;
};

/* Reason strings are literals so that callers may keep them forever. */
#define FIELD(n, m, ml)                                                                            \
        {                                                                                          \
                .name = n, .max = (m), .multiline = (ml), .r_missing = "missing field " n,         \
                .r_type = "field " n " is not a string", .r_empty = "empty field " n,              \
                .r_long = "field " n " too long", .r_ctrl = "control character in field " n,       \
        }

static const struct field_desc fields[_F_MAX] = {
        [F_TYPE] = FIELD("Type", 64, false),
        [F_MESSAGE_ID] = FIELD("MessageId", SNS_MESSAGE_ID_MAX, false),
        [F_TOPIC_ARN] = FIELD("TopicArn", SNS_TOPIC_ARN_MAX, false),
        [F_SUBJECT] = FIELD("Subject", SNS_SUBJECT_MAX, false),
        [F_MESSAGE] = FIELD("Message", SNS_MESSAGE_MAX, true),
        [F_TIMESTAMP] = FIELD("Timestamp", SNS_TIMESTAMP_MAX, false),
        [F_SIGNATURE_VERSION] = FIELD("SignatureVersion", 16, false),
        [F_SIGNATURE] = FIELD("Signature", SNS_SIGNATURE_B64_MAX, false),
        [F_SIGNING_CERT_URL] = FIELD("SigningCertURL", SNS_URL_MAX, false),
        [F_SUBSCRIBE_URL] = FIELD("SubscribeURL", SNS_URL_MAX, false),
        [F_TOKEN] = FIELD("Token", SNS_TOKEN_MAX, false),
        [F_UNSUBSCRIBE_URL] = FIELD("UnsubscribeURL", SNS_URL_MAX, false),
};

static const char *const type_names[] = {
        [SNS_TYPE_NOTIFICATION] = "Notification",
        [SNS_TYPE_SUBSCRIPTION_CONFIRMATION] = "SubscriptionConfirmation",
        [SNS_TYPE_UNSUBSCRIBE_CONFIRMATION] = "UnsubscribeConfirmation",
};

const char *sns_message_type_to_string(enum sns_message_type t)
{
        if ((size_t)t >= ARRAY_SIZE(type_names))
                return NULL;
        return type_names[t];
}

int sns_message_type_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(type_names); i++)
                if (type_names[i] && streq(type_names[i], s))
                        return (int)i;
        return -EOPNOTSUPP;
}

/* Reads one field. Absent (or, with null_is_absent, JSON null) and optional:
 * 0 with *ret = NULL. */
static int get_field(json_t *root, enum field_id id, bool required, bool null_is_absent,
                     const char **ret, size_t *ret_len, const char **reterr)
{
        const struct field_desc *f = &fields[id];
        json_t *v = json_object_get(root, f->name);
        size_t n;

        if (!v || (null_is_absent && json_is_null(v))) {
                if (required)
                        return text_fail(reterr, f->r_missing, -EBADMSG);
                *ret = NULL;
                if (ret_len)
                        *ret_len = 0;
                return 0;
        }
        if (!json_is_string(v))
                return text_fail(reterr, f->r_type, -EBADMSG);
        n = json_string_length(v);
        if (n == 0)
                return text_fail(reterr, f->r_empty, -EBADMSG);
        if (n > f->max)
                return text_fail(reterr, f->r_long, -EMSGSIZE);
        /* jansson refuses \u0000 without JSON_ALLOW_NUL, so strlen() == n. */
        if (!f->multiline && text_has_control(json_string_value(v), n))
                return text_fail(reterr, f->r_ctrl, -EBADMSG);
        *ret = json_string_value(v);
        if (ret_len)
                *ret_len = n;
        return 0;
}

struct sns_message *sns_message_free(struct sns_message *m)
{
        if (!m)
                return NULL;
        json_decref(m->priv_root);
        free(m->priv_signature);
        free(m);
        return NULL;
}

int sns_message_parse(const void *body, size_t len, struct sns_message **ret, const char **reterr)
{
        _cleanup_sns_message_ struct sns_message *m = NULL;
        json_t *root;
        bool confirmation;
        int64_t timestamp;
        int r;

        if (!body || !ret)
                return text_fail(reterr, "invalid argument", -EINVAL);
        if (len > SNS_BODY_MAX)
                return text_fail(reterr, "message too large", -EMSGSIZE);
        if (len == 0)
                return text_fail(reterr, "empty body", -EBADMSG);

        m = calloc(1, sizeof(*m));
        if (!m)
                return text_fail(reterr, "out of memory", -ENOMEM);

        r = json_strict_object(body, len, &root, reterr);
        if (r < 0)
                return r;
        m->priv_root = root;

        r = get_field(root, F_TYPE, true, false, &m->type_str, NULL, reterr);
        if (r < 0)
                return r;
        r = sns_message_type_from_string(m->type_str);
        if (r < 0)
                return text_fail(reterr, "unknown Type", -EOPNOTSUPP);
        m->type = (enum sns_message_type)r;
        confirmation = m->type != SNS_TYPE_NOTIFICATION;

        /* Presence and shape of every field first, in one fixed order. */
        r = get_field(root, F_MESSAGE_ID, true, false, &m->message_id, NULL, reterr);
        if (r >= 0)
                r = get_field(root, F_TOPIC_ARN, true, false, &m->topic_arn, NULL, reterr);
        if (r >= 0 && !confirmation)
                r = get_field(root, F_SUBJECT, false, true, &m->subject, NULL, reterr);
        if (r >= 0)
                r = get_field(root, F_MESSAGE, true, false, &m->message, &m->message_len, reterr);
        if (r >= 0)
                r = get_field(root, F_TIMESTAMP, true, false, &m->timestamp, NULL, reterr);
        if (r >= 0)
                r = get_field(root, F_SIGNATURE_VERSION, true, false, &m->signature_version_str,
                              NULL, reterr);
        if (r >= 0)
                r = get_field(root, F_SIGNATURE, true, false, &m->signature_b64, NULL, reterr);
        if (r >= 0)
                r = get_field(root, F_SIGNING_CERT_URL, true, false, &m->signing_cert_url, NULL,
                              reterr);
        if (r >= 0 && confirmation)
                r = get_field(root, F_SUBSCRIBE_URL, true, false, &m->subscribe_url, NULL, reterr);
        if (r >= 0 && confirmation)
                r = get_field(root, F_TOKEN, true, false, &m->token, NULL, reterr);
        if (r >= 0 && !confirmation)
                r = get_field(root, F_UNSUBSCRIBE_URL, false, false, &m->unsubscribe_url, NULL,
                              reterr);
        if (r < 0)
                return r;

        if (streq(m->signature_version_str, "1"))
                m->signature_version = SNS_SIGNATURE_V1;
        else if (streq(m->signature_version_str, "2"))
                m->signature_version = SNS_SIGNATURE_V2;
        else
                return text_fail(reterr, "unknown SignatureVersion", -EPROTONOSUPPORT);

        r = datetime_parse_timestamp(m->timestamp, 0, &timestamp);
        if (r < 0 || (time_t)timestamp != timestamp)
                return text_fail(reterr, "bad Timestamp", -EBADMSG);
        m->timestamp_sec = (time_t)timestamp;

        r = base64_decode(m->signature_b64, strlen(m->signature_b64), &m->priv_signature,
                          &m->signature_len);
        if (r == -ENOMEM)
                return text_fail(reterr, "out of memory", r);
        if (r < 0 || m->signature_len == 0 || m->signature_len > SNS_SIGNATURE_MAX)
                return text_fail(reterr, "bad base64 signature", -EILSEQ);
        m->signature = m->priv_signature;

        *ret = TAKE_PTR(m);
        return 0;
}

struct kv {
        const char *key;
        const char *value;
};

int sns_message_string_to_sign(const struct sns_message *m, char **ret, size_t *ret_len)
{
        struct kv kv[7];
        size_t n = 0, total = 0, off = 0;
        char *s;

        if (!m || !ret || !m->message || !m->message_id || !m->timestamp || !m->topic_arn ||
            !m->type_str)
                return -EINVAL;

        /* SNS's order is the byte order of the key names. */
        switch (m->type) {
        case SNS_TYPE_NOTIFICATION:
                kv[n++] = (struct kv){"Message", m->message};
                kv[n++] = (struct kv){"MessageId", m->message_id};
                if (m->subject)
                        kv[n++] = (struct kv){"Subject", m->subject};
                kv[n++] = (struct kv){"Timestamp", m->timestamp};
                kv[n++] = (struct kv){"TopicArn", m->topic_arn};
                kv[n++] = (struct kv){"Type", m->type_str};
                break;
        case SNS_TYPE_SUBSCRIPTION_CONFIRMATION:
        case SNS_TYPE_UNSUBSCRIBE_CONFIRMATION:
                if (!m->subscribe_url || !m->token)
                        return -EINVAL;
                kv[n++] = (struct kv){"Message", m->message};
                kv[n++] = (struct kv){"MessageId", m->message_id};
                kv[n++] = (struct kv){"SubscribeURL", m->subscribe_url};
                kv[n++] = (struct kv){"Timestamp", m->timestamp};
                kv[n++] = (struct kv){"Token", m->token};
                kv[n++] = (struct kv){"TopicArn", m->topic_arn};
                kv[n++] = (struct kv){"Type", m->type_str};
                break;
        default:
                return -EINVAL;
        }

        /* Every value is bounded by the parser, so this cannot overflow. */
        for (size_t i = 0; i < n; i++)
                total += strlen(kv[i].key) + strlen(kv[i].value) + 2;
        s = malloc(total + 1);
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                size_t kl = strlen(kv[i].key), vl = strlen(kv[i].value);
                memcpy(s + off, kv[i].key, kl);
                off += kl;
                s[off++] = '\n';
                memcpy(s + off, kv[i].value, vl);
                off += vl;
                s[off++] = '\n';
        }
        s[off] = '\0';
        *ret = s;
        if (ret_len)
                *ret_len = off;
        return 0;
}
