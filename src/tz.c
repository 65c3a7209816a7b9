/*
 * tz.c — IANA time zone names checked against the tz database, and local time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "tz.h"

static const char *tz_dir(void)
{
        const char *d = getenv("TZDIR");

        return isempty(d) ? "/usr/share/zoneinfo" : d;
}

/* Area/Location names as the tz database spells them: segments of
 * [A-Za-z0-9_+-] joined by single '/', so no leading '/', no "..", no ':'
 * (which would make glibc read TZ as a file path). A loop, not a regex: this
 * runs for every agent call. */
static bool name_ok(const char *name)
{
        size_t seg = 0, n = 0;

        for (const char *p = name; *p; p++, n++) {
                char c = *p;

                if (c == '/') {
                        if (seg == 0)
                                return false;
                        seg = 0;
                        continue;
                }
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '+' || c == '-'))
                        return false;
                seg++;
        }
        return n > 0 && n <= TZ_NAME_MAX && seg > 0;
}

int tz_check(const char *name, char *why, size_t size)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        char magic[4];

        if (isempty(name) || !name_ok(name)) {
                (void)snprintf(why, size, "not a time zone name (like America/New_York or UTC)");
                return -EINVAL;
        }
        if (streq(name, "UTC"))
                return 0;
        if (asprintf(&path, "%s/%s", tz_dir(), name) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || read(fd, magic, sizeof(magic)) != (ssize_t)sizeof(magic) ||
            memcmp(magic, "TZif", 4) != 0) {
                (void)snprintf(why, size,
                               "no such time zone in the tz database (is tzdata installed?)");
                return -EINVAL;
        }
        return 0;
}

int tz_localtime(const char *name, time_t t, struct tm *ret)
{
        _cleanup_free_ char *saved = NULL;
        const char *old;
        char why[128];
        struct tm tm;
        bool ok;
        int r;

        r = tz_check(name, why, sizeof(why));
        if (r < 0)
                return r;
        if (streq(name, "UTC"))
                return gmtime_r(&t, ret) ? 0 : -EOVERFLOW;
        old = getenv("TZ");
        if (old) {
                saved = strdup(old);
                if (!saved)
                        return -ENOMEM;
        }
        if (setenv("TZ", name, 1) < 0)
                return -errno;
        tzset();
        ok = localtime_r(&t, &tm) != NULL;
        if (saved)
                (void)setenv("TZ", saved, 1);
        else
                (void)unsetenv("TZ");
        tzset();
        if (!ok)
                return -EOVERFLOW;
        *ret = tm;
        return 0;
}
