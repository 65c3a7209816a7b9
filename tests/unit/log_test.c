/* Unit tests for log.c: JSON record format, redaction, level names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

static json_t *parse(const char *s)
{
        json_error_t err;
        json_t *j = json_loads(s, 0, &err);

        assert_non_null(j);
        return j;
}

static void test_json_record_has_core_and_lowercased_fields(void **state)
{
        char *line = log_format_json(LOG_WARNING, 0, "sns.refused",
                                     LOG_FIELDS(LF("SNS_MESSAGE_ID", "abc-123"),
                                                LF("CLIENT", "127.0.0.1"), LF("SKIPPED", NULL)),
                                     "refused", "2026-11-24T10:00:00.000000Z");
        json_t *j;

        assert_non_null(line);
        assert_null(strchr(line, '\n'));
        j = parse(line);
        assert_string_equal(json_string_value(json_object_get(j, "ts")),
                            "2026-11-24T10:00:00.000000Z");
        assert_string_equal(json_string_value(json_object_get(j, "level")), "warning");
        assert_string_equal(json_string_value(json_object_get(j, "event")), "sns.refused");
        assert_string_equal(json_string_value(json_object_get(j, "msg")), "refused");
        assert_string_equal(json_string_value(json_object_get(j, "sns_message_id")), "abc-123");
        assert_string_equal(json_string_value(json_object_get(j, "client")), "127.0.0.1");
        assert_null(json_object_get(j, "skipped"));
        assert_null(json_object_get(j, "errno"));
        json_decref(j);
        free(line);
}

static void test_json_record_carries_errno(void **state)
{
        char *line =
                log_format_json(LOG_ERR, -ENOSPC, "spool.write_failed", LOG_NOFIELDS, "x", "t");
        json_t *j = parse(line);

        assert_int_equal(json_integer_value(json_object_get(j, "errno")), ENOSPC);
        assert_string_equal(json_string_value(json_object_get(j, "error")), strerror(ENOSPC));
        assert_string_equal(json_string_value(json_object_get(j, "level")), "error");
        json_decref(j);
        free(line);
}

/* A message trying to start a second record must stay inside one JSON string. */
static void test_json_record_resists_log_injection(void **state)
{
        const char *evil = "hi\n{\"level\":\"error\",\"event\":\"forged\"}";
        char *line = log_format_json(LOG_INFO, 0, "sms.received", LOG_FIELDS(LF("BODY", evil)),
                                     evil, "t");
        json_t *j;

        assert_null(strchr(line, '\n'));
        j = parse(line);
        assert_string_equal(json_string_value(json_object_get(j, "event")), "sms.received");
        assert_string_equal(json_string_value(json_object_get(j, "msg")), evil);
        json_decref(j);
        free(line);
}

static void test_json_record_survives_invalid_utf8_field(void **state)
{
        char *line = log_format_json(LOG_INFO, 0, "e", LOG_FIELDS(LF("RAW", "\xff\xfe")), "m", "t");
        json_t *j = parse(line);

        assert_string_equal(json_string_value(json_object_get(j, "raw")), "<invalid utf-8>");
        json_decref(j);
        free(line);
}

/* Every character a field may hold comes back whole from a JSON parser; a
 * field repeating a key replaces that value (the error text here). */
static void test_json_record_escapes_every_character(void **state)
{
        char all[160], *line;
        size_t n = 0;
        json_t *j;

        for (int c = 1; c < 0x80; c++)
                all[n++] = (char)c;
        memcpy(all + n, "\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80", 9); /* é, U+2028, an emoji */
        all[n + 9] = '\0';
        line = log_format_json(LOG_WARNING, -EIO, "e\"v",
                               LOG_FIELDS(LF("TEXT", all), LF("ERROR", "mine")), all, "t");
        assert_non_null(line);
        assert_null(strchr(line, '\n'));
        j = parse(line);
        assert_string_equal(json_string_value(json_object_get(j, "text")), all);
        assert_string_equal(json_string_value(json_object_get(j, "msg")), all);
        assert_string_equal(json_string_value(json_object_get(j, "event")), "e\"v");
        assert_string_equal(json_string_value(json_object_get(j, "error")), "mine");
        assert_int_equal(json_integer_value(json_object_get(j, "errno")), EIO);
        assert_int_equal(json_object_size(j), 7);
        json_decref(j);
        free(line);
}

static void test_phone_masked_by_default(void **state)
{
        char buf[LOG_PHONE_MAX];

        log_set_redact(true);
        assert_string_equal(log_phone(buf, sizeof(buf), "+14255551234"), "+1425***1234");
        assert_string_equal(log_phone(buf, sizeof(buf), "+447700900123"), "+4477***0123");
        assert_string_equal(log_phone(buf, sizeof(buf), "+12345"), "***45");
        assert_string_equal(log_phone(buf, sizeof(buf), "+1"), "***");
        assert_string_equal(log_phone(buf, sizeof(buf), NULL), "(none)");
}

static void test_phone_plain_when_redaction_off(void **state)
{
        char buf[LOG_PHONE_MAX];

        log_set_redact(false);
        assert_string_equal(log_phone(buf, sizeof(buf), "+14255551234"), "+14255551234");
        log_set_redact(true);
}

static void test_text_hidden_when_redacting(void **state)
{
        char buf[LOG_TEXT_MAX];

        log_set_redact(true);
        assert_string_equal(log_text(buf, sizeof(buf), "see you at 5"), "[redacted 12 bytes]");
        log_set_redact(false);
        assert_string_equal(log_text(buf, sizeof(buf), "see you at 5"), "see you at 5");
        log_set_redact(true);
}

static void test_level_names(void **state)
{
        assert_int_equal(log_level_from_string("error"), LOG_ERR);
        assert_int_equal(log_level_from_string("WARNING"), LOG_WARNING);
        assert_int_equal(log_level_from_string("notice"), LOG_NOTICE);
        assert_int_equal(log_level_from_string("info"), LOG_INFO);
        assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
        assert_int_equal(log_level_from_string("verbose"), -EINVAL);
        assert_int_equal(log_level_from_string(""), -EINVAL);
        assert_int_equal(log_level_from_string(NULL), -EINVAL);
        assert_string_equal(log_level_to_string(LOG_DEBUG), "debug");
        assert_string_equal(log_level_to_string(99), "unknown");
}

/* log_emit returns the negated error and leaves errno alone, so callers can
 * `return log_error_errno(r, ...)` without disturbing errno-based code. */
static void test_emit_returns_error_and_preserves_errno(void **state)
{
        log_set_max_level(LOG_ERR); /* filtered out: nothing is written */
        errno = EAGAIN;
        assert_int_equal(log_emit(LOG_INFO, ENOENT, "e", LOG_NOFIELDS, "x"), -ENOENT);
        assert_int_equal(log_emit(LOG_INFO, -EPERM, "e", LOG_NOFIELDS, "x"), -EPERM);
        assert_int_equal(log_emit(LOG_INFO, 0, "e", LOG_NOFIELDS, "x"), 0);
        assert_int_equal(errno, EAGAIN);
        log_set_max_level(LOG_INFO);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_record_has_core_and_lowercased_fields),
                cmocka_unit_test(test_json_record_carries_errno),
                cmocka_unit_test(test_json_record_resists_log_injection),
                cmocka_unit_test(test_json_record_survives_invalid_utf8_field),
                cmocka_unit_test(test_json_record_escapes_every_character),
                cmocka_unit_test(test_phone_masked_by_default),
                cmocka_unit_test(test_phone_plain_when_redaction_off),
                cmocka_unit_test(test_text_hidden_when_redacting),
                cmocka_unit_test(test_level_names),
                cmocka_unit_test(test_emit_returns_error_and_preserves_errno),
        };

        return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
