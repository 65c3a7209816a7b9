/*
 * log.h — structured logging.
 *
 * Each record has a level, an event name (a stable dotted identifier such as
 * "http.listening", written to journald as TWOWAY_EVENT=), a human message and
 * optional fields. When stderr is journald's stream (JOURNAL_STREAM matches
 * stderr) records go natively to the journal with upper-case fields; otherwise
 * one JSON object per line goes to stderr: {"ts","level","event","msg",fields...}
 * with the field names lower-cased.
 *
 * The layer that decides logs once; library modules return errors and log at
 * debug at most. log_emit() returns -abs(err) (or 0) so callers can write
 * `return log_error_errno(r, ...)`. errno is preserved across every call, and
 * "%m" in the format prints strerror(abs(err)).
 *
 * Redaction: with redaction on (the default) log_phone() masks all but the
 * country/area prefix and the last four digits, and log_text() hides message
 * bodies entirely. Never pass raw phone numbers or bodies as fields.
 *
 * Loop thread only; no allocation is kept between calls.
 */
#ifndef TWOWAYD_LOG_H
#define TWOWAYD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

#include "common.h"

struct log_field {
        const char *key;   /* upper-case journald field name, e.g. "SNS_MESSAGE_ID" */
        const char *value; /* NULL fields are skipped */
};

#define LF(k, v) ((struct log_field){(k), (v)})
/* Expands to the two arguments (array, count) that log_emit() takes. */
#define LOG_FIELDS(...)                                                                            \
        ((const struct log_field[]){__VA_ARGS__}),                                                 \
                (sizeof((const struct log_field[]){__VA_ARGS__}) / sizeof(struct log_field))
#define LOG_NOFIELDS NULL, 0

enum log_target {
        LOG_TARGET_AUTO,    /* journal when stderr is its stream, else JSON on stderr */
        LOG_TARGET_JSON,    /* JSON lines on stderr */
        LOG_TARGET_JOURNAL, /* native journald records */
};

void log_setup(enum log_target target);
void log_set_max_level(int prio); /* a syslog priority: LOG_ERR .. LOG_DEBUG */
void log_set_redact(bool redact);
bool log_get_redact(void);

/* Parse "error|warning|notice|info|debug" into a syslog priority, or -EINVAL. */
int log_level_from_string(const char *s);
const char *log_level_to_string(int prio);

/* The caller's source location, for journald's CODE_FILE=, CODE_LINE= and
 * CODE_FUNC= (in sd_journal_sendv_with_location()'s form), so that a record
 * points at the code that logged it rather than at this module. */
struct log_location {
        const char *file; /* "CODE_FILE=src/x.c" */
        const char *line; /* "CODE_LINE=123" */
        const char *func; /* "f" */
};

#define LOG_STRINGIFY_(x) #x
#define LOG_STRINGIFY(x)  LOG_STRINGIFY_(x)
#define LOG_HERE                                                                                   \
        (&(const struct log_location){"CODE_FILE=" __FILE__, "CODE_LINE=" LOG_STRINGIFY(__LINE__), \
                                      __func__})

int log_emit_at(const struct log_location *at, int prio, int err, const char *event,
                const struct log_field *fields, size_t n_fields, const char *fmt, ...)
        _printf_(7, 8);
#define log_emit(...) log_emit_at(LOG_HERE, __VA_ARGS__)

#define log_full_errno(prio, err, event, fields, ...)                                              \
        log_emit(prio, err, event, fields, __VA_ARGS__)
#define log_debug(event, fields, ...)   log_emit(LOG_DEBUG, 0, event, fields, __VA_ARGS__)
#define log_info(event, fields, ...)    log_emit(LOG_INFO, 0, event, fields, __VA_ARGS__)
#define log_notice(event, fields, ...)  log_emit(LOG_NOTICE, 0, event, fields, __VA_ARGS__)
#define log_warning(event, fields, ...) log_emit(LOG_WARNING, 0, event, fields, __VA_ARGS__)
#define log_error(event, fields, ...)   log_emit(LOG_ERR, 0, event, fields, __VA_ARGS__)
#define log_warning_errno(err, event, fields, ...)                                                 \
        log_emit(LOG_WARNING, err, event, fields, __VA_ARGS__)
#define log_error_errno(err, event, fields, ...) log_emit(LOG_ERR, err, event, fields, __VA_ARGS__)

/* Masked form of an E.164 number for logs ("+1425***1234"); the raw number when
 * redaction is off. buf must hold LOG_PHONE_MAX bytes; returns buf. */
#define LOG_PHONE_MAX 48
const char *log_phone(char *buf, size_t size, const char *e164);

/* A message body for logs: "[redacted N bytes]" when redaction is on. */
#define LOG_TEXT_MAX 64
const char *log_text(char *buf, size_t size, const char *text);

/* Pure formatters, exposed for tests: the JSON line (without newline) for a
 * record. Returns a malloc'd string or NULL on OOM. */
char *log_format_json(int prio, int err, const char *event, const struct log_field *fields,
                      size_t n_fields, const char *msg, const char *ts);

#endif
