/*
 * log.c — structured records to journald or as JSON lines on stderr.
 *
 * The target is chosen once at start-up: journald's native protocol when our
 * stderr is the stream systemd connected (JOURNAL_STREAM names its device and
 * inode), so fields survive as fields; otherwise JSON lines, which are easy to
 * read in a terminal and to parse in tests. JSON is built with jansson, so
 * control characters in messages cannot forge records (log injection).
 */
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include <jansson.h>
#include <systemd/sd-journal.h>

#include "log.h"

#define LOG_MSG_MAX    4096
#define LOG_FIELDS_MAX 32

static int max_level = LOG_INFO;
static bool redact = true;
static enum log_target target = LOG_TARGET_JSON;

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",     [LOG_CRIT] = "crit",
        [LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

/* JOURNAL_STREAM is "DEV:INO" of the stream systemd gave us; only trust it when
 * stderr still is that stream (a child may have redirected it). */
static bool stderr_is_journal(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

void log_setup(enum log_target t)
{
        if (t == LOG_TARGET_AUTO)
                t = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_JSON;
        target = t;
}

void log_set_max_level(int prio)
{
        max_level = prio;
}

void log_set_redact(bool r)
{
        redact = r;
}

bool log_get_redact(void)
{
        return redact;
}

int log_level_from_string(const char *s)
{
        static const struct {
                const char *name;
                int prio;
        } names[] = {
                {"error", LOG_ERR},    {"err", LOG_ERR},       {"warning", LOG_WARNING},
                {"warn", LOG_WARNING}, {"notice", LOG_NOTICE}, {"info", LOG_INFO},
                {"debug", LOG_DEBUG},
        };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (strcasecmp(s, names[i].name) == 0)
                        return names[i].prio;
        return -EINVAL;
}

const char *log_level_to_string(int prio)
{
        if (prio < 0 || prio >= (int)ARRAY_SIZE(level_names))
                return "unknown";
        return level_names[prio];
}

/* "ABC_DEF" -> "abc_def" for the JSON form. */
static void lowercase_key(char *dst, size_t size, const char *src)
{
        size_t i;

        for (i = 0; src[i] && i + 1 < size; i++)
                dst[i] = (char)((src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i]);
        dst[i] = '\0';
}

char *log_format_json(int prio, int err, const char *event, const struct log_field *fields,
                      size_t n_fields, const char *msg, const char *ts)
{
        json_t *o = json_object();
        char *out = NULL;

        if (!o)
                return NULL;
        json_object_set_new(o, "ts", json_string(ts));
        json_object_set_new(o, "level", json_string(log_level_to_string(prio)));
        json_object_set_new(o, "event", json_string(event ? event : ""));
        json_object_set_new(o, "msg", json_string(msg ? msg : ""));
        if (err != 0) {
                json_object_set_new(o, "errno", json_integer(abs(err)));
                json_object_set_new(o, "error", json_string(strerror(abs(err))));
        }
        for (size_t i = 0; i < n_fields; i++) {
                char key[64];

                if (!fields[i].key || !fields[i].value)
                        continue;
                lowercase_key(key, sizeof(key), fields[i].key);
                /* json_string() refuses invalid UTF-8; keep the record, mark the field. */
                json_t *v = json_string(fields[i].value);
                json_object_set_new(o, key, v ? v : json_string("<invalid utf-8>"));
        }
        out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        return out;
}

static void format_timestamp(char *buf, size_t size)
{
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, size - n, ".%06ldZ", ts.tv_nsec / 1000);
}

static void emit_json(int prio, int err, const char *event, const struct log_field *fields,
                      size_t n_fields, const char *msg)
{
        char ts[40];
        char *line;

        format_timestamp(ts, sizeof(ts));
        line = log_format_json(prio, err, event, fields, n_fields, msg, ts);
        if (!line)
                return;
        /* One write per record so concurrent writers to the same pipe never interleave. */
        size_t len = strlen(line);
        line[len] = '\n';
        (void)!write(STDERR_FILENO, line, len + 1);
        free(line);
}

static void emit_journal(const struct log_location *at, int prio, int err, const char *event,
                         const struct log_field *fields, size_t n_fields, const char *msg)
{
        struct iovec iov[LOG_FIELDS_MAX + 6];
        char *bufs[LOG_FIELDS_MAX + 6];
        size_t n = 0;

#define ADDF(...)                                                                                  \
        do {                                                                                       \
                if (asprintf(&bufs[n], __VA_ARGS__) < 0)                                           \
                        goto out;                                                                  \
                iov[n].iov_base = bufs[n];                                                         \
                iov[n].iov_len = strlen(bufs[n]);                                                  \
                n++;                                                                               \
        } while (0)

        ADDF("PRIORITY=%d", prio);
        ADDF("SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
        ADDF("MESSAGE=%s", msg);
        ADDF("TWOWAY_EVENT=%s", event ? event : "");
        if (err != 0)
                ADDF("ERRNO=%d", abs(err));
        for (size_t i = 0; i < n_fields && i < LOG_FIELDS_MAX; i++)
                if (fields[i].key && fields[i].value)
                        ADDF("%s=%s", fields[i].key, fields[i].value);
#undef ADDF
        sd_journal_sendv_with_location(at->file, at->line, at->func, iov, (int)n);
out:
        for (size_t i = 0; i < n; i++)
                free(bufs[i]);
}

int log_emit_at(const struct log_location *at, int prio, int err, const char *event,
                const struct log_field *fields, size_t n_fields, const char *fmt, ...)
{
        int saved_errno = errno;
        char msg[LOG_MSG_MAX];
        va_list ap;

        if (prio > max_level)
                goto out;

        /* "%m" prints the error we were given, not whatever errno happens to be. */
        errno = abs(err);
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (target == LOG_TARGET_JOURNAL)
                emit_journal(at, prio, err, event, fields, n_fields, msg);
        else
                emit_json(prio, err, event, fields, n_fields, msg);
out:
        errno = saved_errno;
        return err == 0 ? 0 : -abs(err);
}

const char *log_phone(char *buf, size_t size, const char *e164)
{
        size_t len;

        if (!e164)
                return "(none)";
        if (!redact) {
                snprintf(buf, size, "%s", e164);
                return buf;
        }
        len = strlen(e164);
        /* Keep "+CCAA" and the last four digits: enough to tell people apart in
         * a support call, not enough to dial. Short numbers keep less. */
        if (len >= 10)
                snprintf(buf, size, "%.5s***%s", e164, e164 + len - 4);
        else if (len >= 4)
                snprintf(buf, size, "***%s", e164 + len - 2);
        else
                snprintf(buf, size, "***");
        return buf;
}

const char *log_text(char *buf, size_t size, const char *text)
{
        if (!text)
                return "(none)";
        if (!redact)
                return text;
        snprintf(buf, size, "[redacted %zu bytes]", strlen(text));
        return buf;
}
