/*
 * config.c — load and validate twowayd.conf against the schema of
 * config_schema.c (the keys, their types, defaults and checks).
 *
 * libinih does the INI parsing. Its handler has no line numbers in Debian's
 * build (INI_HANDLER_LINENO is 0), so the file is fed through
 * ini_parse_stream() with our own reader: it reads whole lines with getline(),
 * counts them, and remembers enough about the current line (indented? a
 * section header? a "key = value" line?) to report problems inih only counts:
 *
 *   - inih returns just the first malformed line; a line that should have
 *     produced a handler call but did not is reported here, one by one;
 *   - inih's line buffer is 200 bytes and it silently splits longer lines, so
 *     the reader rejects them (and hands inih an empty line instead);
 *   - inih treats an indented line as a continuation of the previous value;
 *     continuations are joined with one space for text and list keys, and are
 *     an error elsewhere, or when the line looks like an indented key/section.
 *
 * Loading is three passes: collect raw values per schema item (unknown
 * sections/keys, duplicates, syntax), convert every item by type (or apply its
 * default, or report it missing), then cross-key checks. Diagnostics are kept
 * with their line numbers and handed out sorted by line.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include <ini.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common.h"
#include "config.h"
#include "config_schema.h"
#include "log.h"
#include "text.h"

/* Field access by schema offset. */
#define FIELD(c, off, type)  ((__typeof__(type) *)(void *)((char *)(c) + (off)))
#define CFIELD(c, off, type) ((const __typeof__(type) *)(const void *)((const char *)(c) + (off)))

/* --- small helpers ------------------------------------------------------------ */

/* Optimal string alignment (restricted Damerau-Levenshtein) distance, ASCII
 * case-insensitive. Strings longer than 63 bytes count as far from anything. */
UNITTEST unsigned config_edit_distance(const char *a, const char *b)
{
        size_t n = strlen(a), m = strlen(b);
        unsigned d[64][64];

        if (n >= 64 || m >= 64)
                return UINT_MAX;
        for (size_t i = 0; i <= n; i++)
                d[i][0] = (unsigned)i;
        for (size_t j = 0; j <= m; j++)
                d[0][j] = (unsigned)j;
        for (size_t i = 1; i <= n; i++)
                for (size_t j = 1; j <= m; j++) {
                        int ca = tolower((unsigned char)a[i - 1]);
                        int cb = tolower((unsigned char)b[j - 1]);
                        unsigned cost = ca != cb;
                        unsigned v = MIN(d[i - 1][j] + 1, d[i][j - 1] + 1);

                        v = MIN(v, d[i - 1][j - 1] + cost);
                        if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                            tolower((unsigned char)a[i - 2]) == cb)
                                v = MIN(v, d[i - 2][j - 2] + 1);
                        d[i][j] = v;
                }
        return d[n][m];
}

/* --- value parsers: 0 and the field written, or -EINVAL with a reason ------------- */

static int parse_bool(const char *v, bool *ret, char *why, size_t size)
{
        static const char *const yes[] = {"yes", "true", "on", "1"};
        static const char *const no[] = {"no", "false", "off", "0"};

        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(v, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        snprintf(why, size, "expected yes/no, true/false, on/off or 1/0");
        return -EINVAL;
}

/* Digits only: no sign, no spaces, no hex. */
static int parse_u64(const char *v, uint64_t *ret, const char **ret_end)
{
        uint64_t x = 0;
        const char *p = v;

        if (!isdigit((unsigned char)*p))
                return -EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
                unsigned d = (unsigned)(*p - '0');

                if (x > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                x = x * 10 + d;
        }
        *ret = x;
        *ret_end = p;
        return 0;
}

static int parse_uint(const char *v, uint64_t min, uint64_t max, uint64_t *ret, char *why,
                      size_t size)
{
        const char *end;
        uint64_t x;

        if (parse_u64(v, &x, &end) < 0 || *end || x < min || x > max) {
                snprintf(why, size, "must be an integer %" PRIu64 "-%" PRIu64, min, max);
                return -EINVAL;
        }
        *ret = x;
        return 0;
}

static int parse_size(const char *v, uint64_t min, uint64_t max, uint64_t *ret, char *why,
                      size_t size)
{
        const char *end;
        uint64_t x, mult = 1;
        int r = parse_u64(v, &x, &end);

        if (r >= 0 && *end) {
                switch (tolower((unsigned char)*end)) {
                case 'k':
                        mult = UINT64_C(1) << 10;
                        break;
                case 'm':
                        mult = UINT64_C(1) << 20;
                        break;
                case 'g':
                        mult = UINT64_C(1) << 30;
                        break;
                default:
                        r = -EINVAL;
                }
                if (r >= 0 && end[1])
                        r = -EINVAL;
                if (r >= 0 && x > UINT64_MAX / mult)
                        r = -ERANGE;
                if (r >= 0)
                        x *= mult;
        }
        if (r < 0 || x < min || x > max || x > SIZE_MAX) {
                snprintf(why, size,
                         "must be a byte count %" PRIu64 "-%" PRIu64 " (suffix k, m or g allowed)",
                         min, max);
                return -EINVAL;
        }
        *ret = x;
        return 0;
}

/* "host:port" or "[ipv6]:port"; host must be a numeric address (no DNS at startup). */
static int parse_hostport(const char *v, char **ret_host, uint16_t *ret_port, char *why,
                          size_t size)
{
        _cleanup_free_ char *host = NULL;
        const char *colon, *port;
        unsigned char addr[sizeof(struct in6_addr)];
        uint64_t p;

        if (v[0] == '[') {
                const char *close = strchr(v, ']');

                if (!close || close[1] != ':') {
                        snprintf(why, size, "expected [ipv6]:port");
                        return -EINVAL;
                }
                host = strndup(v + 1, (size_t)(close - v - 1));
                if (!host)
                        return -ENOMEM;
                if (inet_pton(AF_INET6, host, addr) != 1) {
                        snprintf(why, size, "'%s' is not an IPv6 address", host);
                        return -EINVAL;
                }
                port = close + 2;
        } else {
                colon = strrchr(v, ':');
                if (!colon) {
                        snprintf(why, size, "expected host:port");
                        return -EINVAL;
                }
                if (strchr(v, ':') != colon) {
                        snprintf(why, size, "IPv6 addresses need brackets, as in [::]:8080");
                        return -EINVAL;
                }
                if (colon == v) {
                        snprintf(why, size, "missing host (0.0.0.0 or [::] listen everywhere)");
                        return -EINVAL;
                }
                host = strndup(v, (size_t)(colon - v));
                if (!host)
                        return -ENOMEM;
                if (inet_pton(AF_INET, host, addr) != 1) {
                        snprintf(why, size, "host must be a numeric IPv4 or [IPv6] address");
                        return -EINVAL;
                }
                port = colon + 1;
        }
        /* Port 0 lets the kernel pick a free port; the chosen one is logged. */
        if (parse_uint(port, 0, 65535, &p, why, size) < 0) {
                snprintf(why, size, "port must be 0-65535");
                return -EINVAL;
        }
        *ret_host = TAKE_PTR(host);
        *ret_port = (uint16_t)p;
        return 0;
}

static void strv_free(char **l)
{
        if (!l)
                return;
        for (char **p = l; *p; p++)
                free(*p);
        free(l);
}

/* Split on spaces, tabs and commas; empty items are skipped. */
static int split_list(const char *v, char ***ret, size_t *ret_n)
{
        char **l = calloc(1, sizeof(char *));
        size_t n = 0;

        if (!l)
                return -ENOMEM;
        for (const char *p = v; *p;) {
                size_t len = strcspn(p, " \t,");

                if (len > 0) {
                        char **nl = realloc(l, (n + 2) * sizeof(char *));

                        if (!nl) {
                                strv_free(l);
                                return -ENOMEM;
                        }
                        l = nl;
                        l[n] = strndup(p, len);
                        if (!l[n]) {
                                strv_free(l);
                                return -ENOMEM;
                        }
                        l[++n] = NULL;
                }
                p += len;
                p += strspn(p, " \t,");
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

static int check_path(const struct config_item *it, const char *v, char *why, size_t size)
{
        _cleanup_close_ int fd = -1;
        struct stat st;

        if (v[0] != '/') {
                snprintf(why, size, "must be an absolute path");
                return -EINVAL;
        }
        if (!(it->flags & CONFIG_READABLE))
                return 0;
        fd = open(v, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                snprintf(why, size, "cannot read: %s", strerror(errno));
                return -EINVAL;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                snprintf(why, size, "not a regular file");
                return -EINVAL;
        }
        return 0;
}

/* How a value of each type is kept in struct config, said once for clearing,
 * comparing and copying it. */
enum storage {
        STORAGE_STRING, /* an owned string; a host:port has its port at offset2 */
        STORAGE_LIST,   /* an owned NULL-terminated list, its length at offset2 */
        STORAGE_SCALAR, /* a plain value of *ret_size bytes */
};

static enum storage storage_of(enum config_type type, size_t *ret_size)
{
        *ret_size = 0;
        switch (type) {
        case CONFIG_STRING:
        case CONFIG_PATH:
        case CONFIG_REGEX:
        case CONFIG_MSGTYPE:
        case CONFIG_HOSTPORT:
                return STORAGE_STRING;
        case CONFIG_LIST:
                return STORAGE_LIST;
        case CONFIG_BOOL:
                *ret_size = sizeof(bool);
                break;
        case CONFIG_UINT:
                *ret_size = sizeof(unsigned);
                break;
        case CONFIG_SIZE:
                *ret_size = sizeof(size_t);
                break;
        case CONFIG_LEVEL:
                *ret_size = sizeof(int);
                break;
        }
        return STORAGE_SCALAR;
}

/* Free the value an item owns inside c and zero the field. */
static void item_clear(const struct config_item *it, struct config *c)
{
        size_t size;

        switch (storage_of(it->type, &size)) {
        case STORAGE_STRING: {
                char **s = FIELD(c, it->offset, char *);

                free(*s);
                *s = NULL;
                if (it->type == CONFIG_HOSTPORT)
                        *FIELD(c, it->offset2, uint16_t) = 0;
                break;
        }
        case STORAGE_LIST:
                strv_free(*FIELD(c, it->offset, char **));
                *FIELD(c, it->offset, char **) = NULL;
                *FIELD(c, it->offset2, size_t) = 0;
                break;
        case STORAGE_SCALAR:
                break;
        }
}

/* Convert one value into its field. Returns 0, -EINVAL with a reason in why
 * (maybe several for lists: report_item is called for every bad item), or -ENOMEM. */
struct load_ctx;
static int diag_add(struct load_ctx *ctx, unsigned line, const char *fmt, ...) _printf_(3, 4);
static int report_invalid(struct load_ctx *ctx, unsigned line, const char *key, const char *value,
                          const char *why);

static int item_parse(struct load_ctx *ctx, const struct config_item *it, const char *v,
                      unsigned line, struct config *c)
{
        char why[256] = "";
        uint64_t x;
        int r;

        if (isempty(v)) {
                /* An empty value unsets an optional key without a default. */
                if (!it->def && !(it->flags & CONFIG_REQUIRED))
                        return 0;
                return report_invalid(ctx, line, it->key, v, "must not be empty");
        }

        switch (it->type) {
        case CONFIG_STRING:
        case CONFIG_PATH: {
                char *s;

                if (text_has_control(v, strlen(v)))
                        return report_invalid(ctx, line, it->key, v,
                                              "must not contain control characters");
                if (it->type == CONFIG_PATH && check_path(it, v, why, sizeof(why)) < 0)
                        return report_invalid(ctx, line, it->key, v, why);
                if (config_item_check(it, v, why, sizeof(why)) < 0)
                        return report_invalid(ctx, line, it->key, v, why);
                s = strdup(v);
                if (!s)
                        return -ENOMEM;
                item_clear(it, c);
                *FIELD(c, it->offset, char *) = s;
                return 0;
        }
        case CONFIG_REGEX: {
                regex_t re;
                char *s;

                r = regcomp(&re, v, REG_EXTENDED | REG_NOSUB);
                if (r != 0) {
                        char err[128];

                        regerror(r, &re, err, sizeof(err));
                        snprintf(why, sizeof(why), "regular expression does not compile: %s", err);
                        return report_invalid(ctx, line, it->key, v, why);
                }
                regfree(&re);
                s = strdup(v);
                if (!s)
                        return -ENOMEM;
                item_clear(it, c);
                *FIELD(c, it->offset, char *) = s;
                return 0;
        }
        case CONFIG_BOOL:
                if (parse_bool(v, FIELD(c, it->offset, bool), why, sizeof(why)) < 0)
                        return report_invalid(ctx, line, it->key, v, why);
                return 0;
        case CONFIG_UINT:
                if (parse_uint(v, it->min, it->max, &x, why, sizeof(why)) < 0)
                        return report_invalid(ctx, line, it->key, v, why);
                if (config_item_check(it, v, why, sizeof(why)) < 0)
                        return report_invalid(ctx, line, it->key, v, why);
                *FIELD(c, it->offset, unsigned) = (unsigned)x;
                return 0;
        case CONFIG_SIZE:
                if (parse_size(v, it->min, it->max, &x, why, sizeof(why)) < 0)
                        return report_invalid(ctx, line, it->key, v, why);
                *FIELD(c, it->offset, size_t) = (size_t)x;
                return 0;
        case CONFIG_HOSTPORT: {
                char *host;
                uint16_t port;

                r = parse_hostport(v, &host, &port, why, sizeof(why));
                if (r == -EINVAL)
                        return report_invalid(ctx, line, it->key, v, why);
                if (r < 0)
                        return r;
                item_clear(it, c);
                *FIELD(c, it->offset, char *) = host;
                *FIELD(c, it->offset2, uint16_t) = port;
                return 0;
        }
        case CONFIG_LIST: {
                char **l;
                size_t n;
                bool bad = false;

                r = split_list(v, &l, &n);
                if (r < 0)
                        return r;
                if (n == 0) {
                        strv_free(l);
                        return report_invalid(ctx, line, it->key, v, "must not be empty");
                }
                for (size_t i = 0; i < n; i++) {
                        if (config_item_check(it, l[i], why, sizeof(why)) < 0) {
                                r = report_invalid(ctx, line, it->key, l[i], why);
                                if (r == -ENOMEM) {
                                        strv_free(l);
                                        return r;
                                }
                                bad = true;
                        }
                }
                if (bad) {
                        strv_free(l);
                        return -EINVAL;
                }
                item_clear(it, c);
                *FIELD(c, it->offset, char **) = l;
                *FIELD(c, it->offset2, size_t) = n;
                return 0;
        }
        case CONFIG_LEVEL:
                r = log_level_from_string(v);
                if (r < 0)
                        return report_invalid(ctx, line, it->key, v,
                                              "expected error, warning, notice, info or debug");
                *FIELD(c, it->offset, int) = r;
                return 0;
        case CONFIG_MSGTYPE: {
                static const char *const types[] = {"TRANSACTIONAL", "PROMOTIONAL"};

                for (size_t i = 0; i < ARRAY_SIZE(types); i++)
                        if (strcasecmp(v, types[i]) == 0) {
                                char *s = strdup(types[i]);

                                if (!s)
                                        return -ENOMEM;
                                item_clear(it, c);
                                *FIELD(c, it->offset, char *) = s;
                                return 0;
                        }
                return report_invalid(ctx, line, it->key, v,
                                      "expected TRANSACTIONAL or PROMOTIONAL");
        }
        }
        return -EINVAL;
}

static bool item_equal(const struct config_item *it, const struct config *a, const struct config *b)
{
        size_t size;

        switch (storage_of(it->type, &size)) {
        case STORAGE_STRING:
                return streq_ptr(*CFIELD(a, it->offset, char *), *CFIELD(b, it->offset, char *)) &&
                       (it->type != CONFIG_HOSTPORT ||
                        *CFIELD(a, it->offset2, uint16_t) == *CFIELD(b, it->offset2, uint16_t));
        case STORAGE_SCALAR:
                return memcmp(CFIELD(a, it->offset, char), CFIELD(b, it->offset, char), size) == 0;
        case STORAGE_LIST: {
                char *const *la = *CFIELD(a, it->offset, char **);
                char *const *lb = *CFIELD(b, it->offset, char **);
                size_t n = *CFIELD(a, it->offset2, size_t);

                if (n != *CFIELD(b, it->offset2, size_t))
                        return false;
                for (size_t i = 0; i < n; i++)
                        if (!streq(la[i], lb[i]))
                                return false;
                return true;
        }
        }
        return false;
}

/* Copy the value of one item from src into dst (replacing dst's). */
static int item_copy(const struct config_item *it, struct config *dst, const struct config *src)
{
        size_t size;

        switch (storage_of(it->type, &size)) {
        case STORAGE_STRING: {
                const char *s = *CFIELD(src, it->offset, char *);
                char *d = NULL;

                if (s) {
                        d = strdup(s);
                        if (!d)
                                return -ENOMEM;
                }
                item_clear(it, dst);
                *FIELD(dst, it->offset, char *) = d;
                if (it->type == CONFIG_HOSTPORT)
                        *FIELD(dst, it->offset2, uint16_t) = *CFIELD(src, it->offset2, uint16_t);
                return 0;
        }
        case STORAGE_LIST: {
                char *const *s = *CFIELD(src, it->offset, char **);
                size_t n = *CFIELD(src, it->offset2, size_t);
                char **d = NULL;

                if (s) {
                        d = calloc(n + 1, sizeof(char *));
                        if (!d)
                                return -ENOMEM;
                        for (size_t i = 0; i < n; i++) {
                                d[i] = strdup(s[i]);
                                if (!d[i]) {
                                        strv_free(d);
                                        return -ENOMEM;
                                }
                        }
                }
                item_clear(it, dst);
                *FIELD(dst, it->offset, char **) = d;
                *FIELD(dst, it->offset2, size_t) = n;
                return 0;
        }
        case STORAGE_SCALAR:
                memcpy(FIELD(dst, it->offset, char), CFIELD(src, it->offset, char), size);
                return 0;
        }
        return -EINVAL;
}

/* --- loading ------------------------------------------------------------------ */

enum line_kind {
        LINE_NONE,       /* blank, comment, or already accounted for */
        LINE_KEY,        /* must produce a handler call */
        LINE_HEADER,     /* "[name]" */
        LINE_HEADER_BAD, /* "[name" */
};

struct diag_entry {
        unsigned line;
        char *text; /* "FILE:LINE: message" or "FILE: message" */
};

struct raw_value {
        char *value; /* first occurrence, continuations appended */
        unsigned line;
};

struct load_ctx {
        const char *path;
        FILE *f;
        char *buf;
        size_t bufsize;
        int read_errno;

        unsigned lineno;
        enum line_kind kind;
        bool indented;
        bool called;
        char header[64]; /* section name of a LINE_HEADER */

        /* The key inih would continue on an indented line (inih's prev_name). */
        char prev_key[64];
        int prev_item;     /* its schema index, or -1 (unknown key or section) */
        bool prev_ignored; /* a duplicate or unknown: its continuations are dropped */

        unsigned *section_line; /* per schema section: first header line, 0: absent */
        struct raw_value *raw;  /* per schema item */

        struct diag_entry *diags;
        size_t n_diags;
        bool oom;
};

static int diag_add(struct load_ctx *ctx, unsigned line, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        struct diag_entry *d;
        va_list ap;
        char *text;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0) {
                msg = NULL;
                ctx->oom = true;
                return -ENOMEM;
        }
        if (asprintf(&text, "%s:%u: %s", ctx->path, line, msg) < 0) {
                ctx->oom = true;
                return -ENOMEM;
        }
        d = realloc(ctx->diags, (ctx->n_diags + 1) * sizeof(*d));
        if (!d) {
                free(text);
                ctx->oom = true;
                return -ENOMEM;
        }
        ctx->diags = d;
        ctx->diags[ctx->n_diags++] = (struct diag_entry){line, text};
        return -EINVAL;
}

/* A value as shown in a diagnostic: control characters as '?', long ones cut. */
static void quote_value(const char *v, char *buf, size_t size)
{
        size_t n = 0, max = 80;

        for (; *v && n + 4 < size; v++) {
                if (n == max) {
                        memcpy(buf + n, "...", 3);
                        n += 3;
                        break;
                }
                buf[n++] = ((unsigned char)*v < 0x20 || *v == 0x7f) ? '?' : *v;
        }
        buf[n] = '\0';
}

static int report_invalid(struct load_ctx *ctx, unsigned line, const char *key, const char *value,
                          const char *why)
{
        char q[96];

        quote_value(value, q, sizeof(q));
        return diag_add(ctx, line, "invalid value '%s' for %s: %s", q, key, why);
}

static const char *suggest_section(const char *name)
{
        const char *best = NULL;
        unsigned best_d = 3;

        for (size_t i = 0; i < config_n_sections; i++) {
                unsigned d = config_edit_distance(name, config_sections[i]);

                if (d < best_d) {
                        best_d = d;
                        best = config_sections[i];
                }
        }
        return best;
}

static const char *suggest_key(const char *section, const char *key)
{
        const char *best = NULL;
        unsigned best_d = 3;

        for (size_t i = 0; i < config_n_items; i++) {
                unsigned d;

                if (!streq(config_items[i].section, section))
                        continue;
                d = config_edit_distance(key, config_items[i].key);
                if (d < best_d) {
                        best_d = d;
                        best = config_items[i].key;
                }
        }
        return best;
}

/* Account for the line just parsed: inih reports only the first bad line and
 * does not pass section headers to the handler, so both are handled here. */
static void finish_line(struct load_ctx *ctx)
{
        enum line_kind kind = ctx->kind;

        ctx->kind = LINE_NONE;
        if (ctx->called)
                return; /* the handler saw it (a key, or an indented continuation) */

        switch (kind) {
        case LINE_NONE:
                break;
        case LINE_KEY:
                diag_add(ctx, ctx->lineno, "syntax error: expected 'key = value' or '[section]'");
                break;
        case LINE_HEADER_BAD:
                diag_add(ctx, ctx->lineno, "syntax error: missing ']' in section header");
                ctx->prev_key[0] = '\0';
                break;
        case LINE_HEADER: {
                int s = config_section_index(ctx->header);

                ctx->prev_key[0] = '\0';
                if (s >= 0) {
                        if (ctx->section_line[s] == 0)
                                ctx->section_line[s] = ctx->lineno;
                } else {
                        const char *hint = suggest_section(ctx->header);

                        if (hint)
                                diag_add(ctx, ctx->lineno,
                                         "unknown section [%s], did you mean [%s]?", ctx->header,
                                         hint);
                        else
                                diag_add(ctx, ctx->lineno, "unknown section [%s]", ctx->header);
                }
                break;
        }
        }
}

static void classify_line(struct load_ctx *ctx, const char *line)
{
        const char *s = line, *close;
        size_t len;

        if (ctx->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
                s += 3;
        ctx->indented = *s == ' ' || *s == '\t';
        s += strspn(s, " \t\r\n\v\f");
        if (*s == '\0' || *s == ';' || *s == '#') {
                ctx->kind = LINE_NONE;
                return;
        }
        if (*s != '[') {
                ctx->kind = LINE_KEY;
                return;
        }
        close = strchr(s, ']');
        if (!close) {
                ctx->kind = LINE_HEADER_BAD;
                return;
        }
        len = (size_t)(close - s - 1);
        if (len >= sizeof(ctx->header))
                len = sizeof(ctx->header) - 1;
        memcpy(ctx->header, s + 1, len);
        ctx->header[len] = '\0';
        ctx->kind = LINE_HEADER;
}

/* ini_reader: whole lines via getline(), counted. */
static char *config_reader(char *str, int num, void *stream)
{
        struct load_ctx *ctx = stream;
        ssize_t n;

        finish_line(ctx);
        errno = 0;
        n = getline(&ctx->buf, &ctx->bufsize, ctx->f);
        if (n < 0) {
                if (ferror(ctx->f))
                        ctx->read_errno = errno > 0 ? errno : EIO;
                return NULL;
        }
        ctx->lineno++;
        ctx->called = false;
        ctx->kind = LINE_NONE;
        if (num < 2)
                return NULL;

        if (memchr(ctx->buf, '\0', (size_t)n)) {
                diag_add(ctx, ctx->lineno, "line contains a NUL byte");
                memcpy(str, "\n", 2);
                return str;
        }
        if (n >= num) {
                size_t len = strcspn(ctx->buf, "\r\n");

                diag_add(ctx, ctx->lineno,
                         "line too long (%zu characters, at most %d); continue a long value on "
                         "indented lines",
                         len, num - 2);
                memcpy(str, "\n", 2);
                return str;
        }
        classify_line(ctx, ctx->buf);
        memcpy(str, ctx->buf, (size_t)n + 1);
        return str;
}

/* Does an indented continuation look like a key or a section header that the
 * indentation turned into part of the previous value? */
static bool looks_like_entry(const char *section, const char *value)
{
        size_t n = strcspn(value, "=:");
        char key[64];

        if (value[0] == '[' && strchr(value, ']'))
                return true;
        if (!value[n] || n == 0 || n >= sizeof(key))
                return false;
        memcpy(key, value, n);
        while (n > 0 && isspace((unsigned char)key[n - 1]))
                n--;
        key[n] = '\0';
        return config_item_index(section, key) >= 0;
}

static int append_continuation(struct raw_value *rv, const char *value)
{
        char *s;

        if (isempty(value))
                return 0;
        if (isempty(rv->value))
                s = strdup(value);
        else if (asprintf(&s, "%s %s", rv->value, value) < 0)
                s = NULL;
        if (!s)
                return -ENOMEM;
        free(rv->value);
        rv->value = s;
        return 0;
}

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
        struct load_ctx *ctx = user;
        unsigned line = ctx->lineno;
        int i;

        ctx->called = true;
        if (!value)
                value = "";

        /* inih turns an indented line into a continuation of the previous key. */
        if (ctx->indented && ctx->prev_key[0] && streq(name, ctx->prev_key)) {
                const struct config_item *it;

                if (looks_like_entry(section, value)) {
                        diag_add(ctx, line,
                                 "indented line is read as a continuation of '%s'; remove the "
                                 "indentation",
                                 name);
                        return 1;
                }
                if (ctx->prev_ignored || ctx->prev_item < 0)
                        return 1;
                it = &config_items[ctx->prev_item];
                if (it->type != CONFIG_STRING && it->type != CONFIG_LIST)
                        diag_add(ctx, line,
                                 "indented line continues the value of '%s', which cannot span "
                                 "lines",
                                 it->key);
                else if (append_continuation(&ctx->raw[ctx->prev_item], value) < 0)
                        ctx->oom = true;
                return 1;
        }

        snprintf(ctx->prev_key, sizeof(ctx->prev_key), "%s", name);
        ctx->prev_item = -1;
        ctx->prev_ignored = true;

        if (isempty(name)) {
                diag_add(ctx, line, "syntax error: missing key name before '='");
                return 1;
        }
        if (isempty(section)) {
                diag_add(ctx, line, "key '%s' is outside any section", name);
                return 1;
        }
        if (config_section_index(section) < 0)
                return 1; /* reported once, at the section header */

        i = config_item_index(section, name);
        if (i < 0) {
                const char *hint = suggest_key(section, name);
                const char *home = NULL;

                for (size_t j = 0; !hint && j < config_n_items; j++)
                        if (streq(config_items[j].key, name))
                                home = config_items[j].section;
                if (hint)
                        diag_add(ctx, line, "unknown key '%s' in [%s], did you mean '%s'?", name,
                                 section, hint);
                else if (home)
                        diag_add(ctx, line, "unknown key '%s' in [%s], it belongs in [%s]", name,
                                 section, home);
                else
                        diag_add(ctx, line, "unknown key '%s' in [%s]", name, section);
                return 1;
        }
        if (ctx->raw[i].line) {
                diag_add(ctx, line, "duplicate key '%s' in [%s] (first set on line %u)", name,
                         section, ctx->raw[i].line);
                return 1;
        }
        ctx->raw[i].value = strdup(value);
        if (!ctx->raw[i].value) {
                ctx->oom = true;
                return 1;
        }
        ctx->raw[i].line = line;
        ctx->prev_item = i;
        ctx->prev_ignored = false;
        return 1;
}

/* A key file with a passphrase would make OpenSSL prompt on the terminal;
 * the daemon has no one to ask, so such a key is refused instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
        return -1;
}

/* What the HTTPS listener will load: a PEM certificate and the unencrypted
 * PEM private key that belongs to it. Checked here, so that -t (and the unit's
 * ExecStartPre= and ExecReload=) refuses what the listener could not use. */
static const char *check_tls_pair(const char *cert_path, const char *key_path, bool *ret_cert)
{
        X509 *cert = NULL;
        EVP_PKEY *key = NULL;
        const char *why = NULL;
        FILE *f;

        f = fopen(cert_path, "re");
        if (f) {
                cert = PEM_read_X509(f, NULL, no_passphrase, NULL);
                fclose(f);
        }
        f = fopen(key_path, "re");
        if (f) {
                key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
                fclose(f);
        }
        if (!cert)
                why = "tls_cert holds no PEM certificate";
        else if (!key)
                why = "tls_key holds no unencrypted PEM private key";
        else if (X509_check_private_key(cert, key) != 1)
                why = "tls_key is not the private key of tls_cert";
        *ret_cert = !cert;
        ERR_clear_error();
        X509_free(cert);
        EVP_PKEY_free(key);
        return why;
}

/* The names twowayd itself gives the agent (agent.h); an operator attribute
 * must not shadow one. */
static const char *const agent_reserved_attrs[] = {
        "originationNumber", "destinationNumber", "inboundMessageId", "currentDate",  "currentTime",
        "currentDateTime",   "weekday",           "timeZone",         "textedNumber",
};

static char *trim_dup(const char *s, size_t len)
{
        while (len > 0 && (*s == ' ' || *s == '\t')) {
                s++;
                len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
                len--;
        return strndup(s, len);
}

/* [agent] session_attributes = name=value, name=value ... into the name and
 * value arrays of c. Errors are reported at the key's line. The separator is
 * a comma: inih would take " ;" for the start of a comment. */
static void parse_session_attributes(struct load_ctx *ctx, struct config *c, unsigned line)
{
        const char *p = c->agent_session_attributes;

        while (p && *p) {
                size_t len = strcspn(p, ",");
                _cleanup_free_ char *name = NULL, *value = NULL;
                const char *eq = memchr(p, '=', len);
                char **nn, **nv;

                if (!eq) {
                        if (strspn(p, " \t") < len)
                                diag_add(ctx, line, "session_attributes: expected name=value, ...");
                        goto next;
                }
                name = trim_dup(p, (size_t)(eq - p));
                value = trim_dup(eq + 1, len - (size_t)(eq + 1 - p));
                if (!name || !value) {
                        ctx->oom = true;
                        return;
                }
                if (!config_match_ere("^[A-Za-z][A-Za-z0-9_]{0,63}$", name)) {
                        diag_add(ctx, line,
                                 "session_attributes: '%s' is not a name (a letter, then up to "
                                 "63 letters, digits or _)",
                                 name);
                        goto next;
                }
                for (size_t i = 0; i < ARRAY_SIZE(agent_reserved_attrs); i++)
                        if (streq(name, agent_reserved_attrs[i])) {
                                diag_add(ctx, line,
                                         "session_attributes: %s is set by twowayd itself", name);
                                goto next;
                        }
                for (size_t i = 0; i < c->n_agent_attrs; i++)
                        if (streq(name, c->agent_attr_names[i])) {
                                diag_add(ctx, line, "session_attributes: %s given twice", name);
                                goto next;
                        }
                if (isempty(value) || strlen(value) > CONFIG_ATTR_VALUE_MAX) {
                        diag_add(ctx, line,
                                 "session_attributes: the value of %s must be 1-%u bytes", name,
                                 CONFIG_ATTR_VALUE_MAX);
                        goto next;
                }
                if (c->n_agent_attrs >= CONFIG_ATTRS_MAX) {
                        diag_add(ctx, line, "session_attributes: at most %u attributes",
                                 CONFIG_ATTRS_MAX);
                        return;
                }
                nn = realloc(c->agent_attr_names, (c->n_agent_attrs + 1) * sizeof(char *));
                if (nn)
                        c->agent_attr_names = nn;
                nv = realloc(c->agent_attr_values, (c->n_agent_attrs + 1) * sizeof(char *));
                if (nv)
                        c->agent_attr_values = nv;
                if (!nn || !nv) {
                        ctx->oom = true;
                        return;
                }
                c->agent_attr_names[c->n_agent_attrs] = TAKE_PTR(name);
                c->agent_attr_values[c->n_agent_attrs] = TAKE_PTR(value);
                c->n_agent_attrs++;
        next:
                p += len;
                if (*p == ',')
                        p++;
        }
}

static void cross_check(struct load_ctx *ctx, struct config *c)
{
        int attrs = config_item_index("agent", "session_attributes");
        int cert = config_item_index("http", "tls_cert"),
            key = config_item_index("http", "tls_key");
        int maxc = config_item_index("http", "max_connections");
        int maxip = config_item_index("http", "max_connections_per_ip");
        int cluster = config_item_index("cluster", "table");

        bool has_cert = ctx->raw[cert].line && !isempty(ctx->raw[cert].value);
        bool has_key = ctx->raw[key].line && !isempty(ctx->raw[key].value);

        if (has_cert && !has_key)
                diag_add(ctx, ctx->raw[cert].line,
                         "tls_cert is set but tls_key is not; set both or neither");
        else if (has_key && !has_cert)
                diag_add(ctx, ctx->raw[key].line,
                         "tls_key is set but tls_cert is not; set both or neither");
        else if (c->http_tls_cert && c->http_tls_key) {
                bool about_cert = false;
                const char *why = check_tls_pair(c->http_tls_cert, c->http_tls_key, &about_cert);

                if (why)
                        diag_add(ctx, ctx->raw[about_cert ? cert : key].line, "%s", why);
        }
        parse_session_attributes(ctx, c, ctx->raw[attrs].line);
        if (c->http_max_per_ip > c->http_max_connections && c->http_max_connections > 0)
                diag_add(ctx, ctx->raw[maxip].line ?: ctx->raw[maxc].line,
                         "max_connections_per_ip (%u) exceeds max_connections (%u)",
                         c->http_max_per_ip, c->http_max_connections);
        if (c->cluster_table && c->dedup_table)
                diag_add(ctx, ctx->raw[cluster].line,
                         "[cluster] table replaces [dedup] table: set only one");
}

static int diag_append(struct config_diag *diag, char *text)
{
        char **l;

        if (!diag) {
                free(text);
                return 0;
        }
        l = realloc(diag->lines, (diag->n_lines + 1) * sizeof(char *));
        if (!l) {
                free(text);
                return -ENOMEM;
        }
        diag->lines = l;
        diag->lines[diag->n_lines++] = text;
        return 0;
}

/* Move the collected diagnostics, sorted by line, to diag. */
static int diag_flush(struct load_ctx *ctx, struct config_diag *diag)
{
        int r = 0;

        /* qsort is not stable; insertion sort keeps equal lines in order. */
        for (size_t i = 1; i < ctx->n_diags; i++) {
                struct diag_entry e = ctx->diags[i];
                size_t j = i;

                for (; j > 0 && ctx->diags[j - 1].line > e.line; j--)
                        ctx->diags[j] = ctx->diags[j - 1];
                ctx->diags[j] = e;
        }
        for (size_t i = 0; i < ctx->n_diags; i++)
                if (diag_append(diag, TAKE_PTR(ctx->diags[i].text)) < 0)
                        r = -ENOMEM;
        return r;
}

static void load_ctx_done(struct load_ctx *ctx)
{
        if (ctx->f)
                fclose(ctx->f);
        free(ctx->buf);
        for (size_t i = 0; ctx->raw && i < config_n_items; i++)
                free(ctx->raw[i].value);
        free(ctx->raw);
        free(ctx->section_line);
        for (size_t i = 0; i < ctx->n_diags; i++)
                free(ctx->diags[i].text);
        free(ctx->diags);
}

static int load_file_error(const char *path, int err, const char *what, struct config_diag *diag)
{
        char *text;

        if (asprintf(&text, "%s: %s: %s", path, what, strerror(err)) < 0)
                return -ENOMEM;
        if (diag_append(diag, text) < 0)
                return -ENOMEM;
        return -err;
}

int config_load(const char *path, struct config **ret_config, struct config_diag *diag)
{
        _cleanup_(load_ctx_done) struct load_ctx ctx = {.path = path, .prev_item = -1};
        struct config *c = NULL;
        struct stat st;
        int r;

        if (!path || !ret_config)
                return -EINVAL;
        ctx.raw = calloc(config_n_items, sizeof(*ctx.raw));
        ctx.section_line = calloc(config_n_sections, sizeof(*ctx.section_line));
        if (!ctx.raw || !ctx.section_line)
                return -ENOMEM;

        ctx.f = fopen(path, "re");
        if (!ctx.f)
                return load_file_error(path, errno, "cannot open", diag);
        if (fstat(fileno(ctx.f), &st) < 0)
                return load_file_error(path, errno, "cannot open", diag);
        if (S_ISDIR(st.st_mode))
                return load_file_error(path, EISDIR, "cannot open", diag);

        r = ini_parse_stream(config_reader, &ctx, config_handler, &ctx);
        finish_line(&ctx); /* idempotent; the reader's last call already did it */
        if (ctx.read_errno)
                return load_file_error(path, ctx.read_errno, "read error", diag);
        if (r == -2 || ctx.oom)
                return -ENOMEM;
        if (r > 0 && ctx.n_diags == 0)
                diag_add(&ctx, (unsigned)r, "syntax error"); /* should not happen */

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->path = strdup(path);
        if (!c->path) {
                config_free(c);
                return -ENOMEM;
        }

        for (size_t i = 0; i < config_n_items; i++) {
                const struct config_item *it = &config_items[i];

                if (ctx.raw[i].line)
                        r = item_parse(&ctx, it, ctx.raw[i].value, ctx.raw[i].line, c);
                else if (it->def)
                        r = item_parse(&ctx, it, it->def, 0, c);
                else if (it->flags & CONFIG_REQUIRED) {
                        int s = config_section_index(it->section);

                        r = diag_add(&ctx, s >= 0 ? ctx.section_line[s] : 0,
                                     "missing required key '%s' in [%s]", it->key, it->section);
                } else
                        r = 0;
                if (r == -ENOMEM || ctx.oom) {
                        config_free(c);
                        return -ENOMEM;
                }
        }
        cross_check(&ctx, c);
        if (ctx.oom) {
                config_free(c);
                return -ENOMEM;
        }

        if (ctx.n_diags > 0) {
                config_free(c);
                return diag_flush(&ctx, diag) < 0 ? -ENOMEM : -EINVAL;
        }
        *ret_config = c;
        return 0;
}

struct config *config_free(struct config *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < config_n_items; i++)
                item_clear(&config_items[i], c);
        for (size_t i = 0; i < c->n_agent_attrs; i++) {
                free(c->agent_attr_names[i]);
                free(c->agent_attr_values[i]);
        }
        free(c->agent_attr_names);
        free(c->agent_attr_values);
        free(c->path);
        free(c);
        return NULL;
}

void config_diag_done(struct config_diag *diag)
{
        if (!diag)
                return;
        for (size_t i = 0; i < diag->n_lines; i++)
                free(diag->lines[i]);
        free(diag->lines);
        diag->lines = NULL;
        diag->n_lines = 0;
}

int config_restart_only_changes(const struct config *old, const struct config *new_config,
                                char *buf, size_t size)
{
        size_t used = 0;
        int n = 0;

        if (!old || !new_config || (!buf && size > 0))
                return -EINVAL;
        if (size > 0)
                buf[0] = '\0';
        for (size_t i = 0; i < config_n_items; i++) {
                const struct config_item *it = &config_items[i];
                int w;

                if (!(it->flags & CONFIG_RESTART_ONLY) || item_equal(it, old, new_config))
                        continue;
                if (used < size) {
                        w = snprintf(buf + used, size - used, "%s%s.%s", n > 0 ? "," : "",
                                     it->section, it->key);
                        if (w > 0)
                                used = MIN(used + (size_t)w, size);
                }
                n++;
        }
        return n;
}

int config_keep_restart_only(struct config *new_config, const struct config *old)
{
        if (!new_config || !old)
                return -EINVAL;
        for (size_t i = 0; i < config_n_items; i++) {
                const struct config_item *it = &config_items[i];
                int r;

                if (!(it->flags & CONFIG_RESTART_ONLY))
                        continue;
                r = item_copy(it, new_config, old);
                if (r < 0)
                        return r;
        }
        return 0;
}
