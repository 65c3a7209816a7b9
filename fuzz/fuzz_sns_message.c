/*
 * fuzz_sns_message.c — the SNS envelope parser and the string to sign.
 *
 * Whatever sns_message_parse() accepts must satisfy its header's promises, and
 * the string to sign must build and equal an independent rebuild of it.
 */
#include "common.h"
#include "fuzz_common.h"
#include "sns_message.h"

static bool no_control(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

static void check_field(const char *v, size_t max, bool single_line)
{
        FUZZ_CHECK(v);
        FUZZ_CHECK(*v);
        FUZZ_CHECK(strlen(v) <= max);
        FUZZ_CHECK(fuzz_utf8_valid(v, strlen(v)));
        if (single_line)
                FUZZ_CHECK(no_control(v));
}

static void append(char **p, const char *key, const char *value)
{
        size_t kl = strlen(key), vl = strlen(value);

        memcpy(*p, key, kl);
        *p += kl;
        *(*p)++ = '\n';
        memcpy(*p, value, vl);
        *p += vl;
        *(*p)++ = '\n';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct sns_message *m = NULL;
        const char *reason = NULL;
        char *tbs = NULL, *expect, *p;
        size_t tbs_len = 0;
        bool confirmation;
        int r;

        r = sns_message_parse(data, size, &m, &reason);
        if (r < 0) {
                FUZZ_CHECK(!m);
                FUZZ_CHECK(reason && *reason);
                FUZZ_CHECK(r == -EMSGSIZE || r == -EOPNOTSUPP || r == -EPROTONOSUPPORT ||
                           r == -EILSEQ || r == -EBADMSG || r == -ENOMEM);
                return 0;
        }
        FUZZ_CHECK(r == 0 && m);
        confirmation = m->type != SNS_TYPE_NOTIFICATION;
        FUZZ_CHECK(streq(sns_message_type_to_string(m->type), m->type_str));
        check_field(m->message_id, SNS_MESSAGE_ID_MAX, true);
        check_field(m->topic_arn, SNS_TOPIC_ARN_MAX, true);
        check_field(m->message, SNS_MESSAGE_MAX, false);
        FUZZ_CHECK(m->message_len == strlen(m->message));
        check_field(m->timestamp, SNS_TIMESTAMP_MAX, true);
        check_field(m->signature_b64, SNS_SIGNATURE_B64_MAX, true);
        check_field(m->signing_cert_url, SNS_URL_MAX, true);
        FUZZ_CHECK(m->signature && m->signature_len > 0 && m->signature_len <= SNS_SIGNATURE_MAX);
        FUZZ_CHECK(streq(m->signature_version_str,
                         m->signature_version == SNS_SIGNATURE_V1 ? "1" : "2"));
        if (confirmation) {
                check_field(m->subscribe_url, SNS_URL_MAX, true);
                check_field(m->token, SNS_TOKEN_MAX, true);
                FUZZ_CHECK(!m->subject && !m->unsubscribe_url);
        } else {
                FUZZ_CHECK(!m->subscribe_url && !m->token);
                if (m->subject)
                        check_field(m->subject, SNS_SUBJECT_MAX, true);
                if (m->unsubscribe_url)
                        check_field(m->unsubscribe_url, SNS_URL_MAX, true);
        }

        r = sns_message_string_to_sign(m, &tbs, &tbs_len);
        FUZZ_CHECK(r == 0 && tbs);
        FUZZ_CHECK(strlen(tbs) == tbs_len);

        expect = malloc(tbs_len + 1);
        FUZZ_CHECK(expect);
        p = expect;
        if (confirmation) {
                size_t need = strlen("Message\n\nMessageId\n\nSubscribeURL\n\nTimestamp\n\n"
                                     "Token\n\nTopicArn\n\nType\n\n") +
                              strlen(m->message) + strlen(m->message_id) +
                              strlen(m->subscribe_url) + strlen(m->timestamp) + strlen(m->token) +
                              strlen(m->topic_arn) + strlen(m->type_str);
                FUZZ_CHECK(need == tbs_len);
                append(&p, "Message", m->message);
                append(&p, "MessageId", m->message_id);
                append(&p, "SubscribeURL", m->subscribe_url);
                append(&p, "Timestamp", m->timestamp);
                append(&p, "Token", m->token);
                append(&p, "TopicArn", m->topic_arn);
                append(&p, "Type", m->type_str);
        } else {
                size_t need = strlen("Message\n\nMessageId\n\nTimestamp\n\nTopicArn\n\nType\n\n") +
                              strlen(m->message) + strlen(m->message_id) + strlen(m->timestamp) +
                              strlen(m->topic_arn) + strlen(m->type_str) +
                              (m->subject ? strlen("Subject\n\n") + strlen(m->subject) : 0);
                FUZZ_CHECK(need == tbs_len);
                append(&p, "Message", m->message);
                append(&p, "MessageId", m->message_id);
                if (m->subject)
                        append(&p, "Subject", m->subject);
                append(&p, "Timestamp", m->timestamp);
                append(&p, "TopicArn", m->topic_arn);
                append(&p, "Type", m->type_str);
        }
        *p = '\0';
        FUZZ_CHECK(memcmp(expect, tbs, tbs_len + 1) == 0);

        free(expect);
        free(tbs);
        sns_message_free(m);
        return 0;
}
