/*
 * log.c — structured records to journald or as JSON lines on stderr.
 *
 * The target is chosen once at start-up: journald's native protocol when our
 * stderr is the stream systemd connected (JOURNAL_STREAM names its device and
 * inode), so fields survive as fields; otherwise JSON lines, which are easy to
 * read in a terminal and to parse in tests. Every string is checked and
 * escaped (log_format_json()), so control characters in messages cannot
 * forge records (log injection).
 */
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include <systemd/sd-journal.h>

#include "log.h"
#include "utf8.h"

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

/* A JSON line is written straight into one buffer, no document built: each
 * record is a flat object of strings (RFC 8259), and a record is formatted for
 * every stored message. Every string is checked for well-formed UTF-8 first
 * (one that is not is replaced whole, so the record survives), then escaped:
 * '"', '\\' and every control character, so no text can end the string or
 * the line (log injection). */
#define INVALID_UTF8 "<invalid utf-8>"

static const char *json_safe(const char *s)
{
        return utf8_valid(s, strlen(s), false) ? s : INVALID_UTF8;
}

/* Bytes of s as a JSON string, quotes included. */
static size_t json_string_size(const char *s)
{
        size_t n = 2;

        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (*p == '"' || *p == '\\' || *p == '\n' || *p == '\r' || *p == '\t' ||
                    *p == '\b' || *p == '\f')
                        n += 2;
                else if (*p < 0x20)
                        n += 6; /* \u00XX */
                else
                        n++;
        }
        return n;
}

static char *put_json_string(char *out, const char *s)
{
        static const char hex[] = "0123456789abcdef";

        *out++ = '"';
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                const char *esc = NULL;

                switch (*p) {
                case '"':
                        esc = "\\\"";
                        break;
                case '\\':
                        esc = "\\\\";
                        break;
                case '\n':
                        esc = "\\n";
                        break;
                case '\r':
                        esc = "\\r";
                        break;
                case '\t':
                        esc = "\\t";
                        break;
                case '\b':
                        esc = "\\b";
                        break;
                case '\f':
                        esc = "\\f";
                        break;
                }
                if (esc) {
                        *out++ = esc[0];
                        *out++ = esc[1];
                } else if (*p < 0x20) {
                        memcpy(out, "\\u00", 4);
                        out[4] = hex[*p >> 4];
                        out[5] = hex[*p & 0xf];
                        out += 6;
                } else
                        *out++ = (char)*p;
        }
        *out++ = '"';
        return out;
}

/* One member of the record: its key and (already safe) value. */
struct member {
        char key[64];
        const char *value;
};

/* The record's members in order: the four core ones, the error, the fields
 * (a field repeating an earlier key replaces its value, in its place). */
static size_t record_members(struct member *m, int prio, int err, char *errno_text,
                             size_t errno_size, const char *event, const struct log_field *fields,
                             size_t n_fields, const char *msg, const char *ts)
{
        size_t n = 0;

        m[n++] = (struct member){"ts", json_safe(ts)};
        m[n++] = (struct member){"level", log_level_to_string(prio)};
        m[n++] = (struct member){"event", json_safe(event ? event : "")};
        m[n++] = (struct member){"msg", json_safe(msg ? msg : "")};
        if (err != 0) {
                snprintf(errno_text, errno_size, "%d", abs(err));
                m[n++] = (struct member){"errno", errno_text}; /* a number: written bare */
                m[n++] = (struct member){"error", json_safe(strerror(abs(err)))};
        }
        for (size_t i = 0; i < n_fields && i < LOG_FIELDS_MAX; i++) {
                struct member f;
                size_t k;

                if (!fields[i].key || !fields[i].value)
                        continue;
                lowercase_key(f.key, sizeof(f.key), fields[i].key);
                f.value = json_safe(fields[i].value);
                for (k = 0; k < n && !streq(m[k].key, f.key); k++)
                        ;
                if (k < n && m[k].value != errno_text) /* errno stays the number */
                        m[k].value = f.value;
                else if (k == n)
                        m[n++] = f;
        }
        return n;
}

char *log_format_json(int prio, int err, const char *event, const struct log_field *fields,
                      size_t n_fields, const char *msg, const char *ts)
{
        struct member m[LOG_FIELDS_MAX + 6];
        char errno_text[16];
        size_t n, size = 3; /* {} and the NUL */
        char *line, *p;

        n = record_members(m, prio, err, errno_text, sizeof(errno_text), event, fields, n_fields,
                           msg, ts);
        for (size_t i = 0; i < n; i++)
                size += json_string_size(m[i].key) + 1 + json_string_size(m[i].value) + 1;
        line = malloc(size);
        if (!line)
                return NULL;
        p = line;
        *p++ = '{';
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        *p++ = ',';
                p = put_json_string(p, m[i].key);
                *p++ = ':';
                if (m[i].value == errno_text) {
                        size_t k = strlen(errno_text);

                        memcpy(p, errno_text, k);
                        p += k;
                } else
                        p = put_json_string(p, m[i].value);
        }
        *p++ = '}';
        *p = '\0';
        return line;
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
