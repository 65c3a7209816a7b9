/*
 * common.h — small helpers every module uses.
 *
 * Error convention (the whole code base): functions returning int give >= 0 on
 * success (a positive value may carry a count) and a negated errno on failure.
 * Functions returning pointers give NULL only for out-of-memory or "not found",
 * as their header says. Outputs are named ret_* and are written only on success.
 *
 * Cleanup: locals that own memory or descriptors use _cleanup_*; ownership is
 * handed on with TAKE_PTR()/TAKE_FD(). Every *_free() accepts NULL.
 */
#ifndef TWOWAYD_COMMON_H
#define TWOWAYD_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_  __attribute__((warn_unused_result))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STRLEN(s)     (sizeof(s) - 1)
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))

/* Hand ownership of a pointer or fd on, leaving the cleanup-managed local empty. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _took = (p);                                                         \
                (p) = NULL;                                                                        \
                _took;                                                                             \
        })
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _took = (fd);                                                                  \
                (fd) = -1;                                                                         \
                _took;                                                                             \
        })

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* Overwrite secrets before their memory is released; the compiler may not elide it. */
static inline void explicit_wipe(void *p, size_t n)
{
        if (p && n)
                explicit_bzero(p, n);
}

static inline void erase_and_free(char *s)
{
        if (s) {
                explicit_wipe(s, strlen(s));
                free(s);
        }
}
static inline void erase_and_freep(char **s)
{
        erase_and_free(*s);
}
#define _cleanup_erase_ _cleanup_(erase_and_freep)

/* Turn a libc -1/errno result into our convention at the call site. */
static inline int negative_errno(void)
{
        return errno > 0 ? -errno : -EIO;
}

static inline bool streq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

static inline bool isempty(const char *s)
{
        return !s || !*s;
}

/* An enum's names, indexed by value (a NULL entry names nothing): the name of
 * i in names[0..n), or NULL when i is out of range. */
static inline const char *string_table_name(const char *const *names, size_t n, int i)
{
        return i >= 0 && (size_t)i < n ? names[i] : NULL;
}

/* The value whose name in names[0..n) is s, or -ENOENT (s NULL or no name). */
static inline int string_table_index(const char *const *names, size_t n, const char *s)
{
        for (size_t i = 0; s && i < n; i++)
                if (names[i] && streq(s, names[i]))
                        return (int)i;
        return -ENOENT;
}

/* Unit tests reach module internals through UNITTEST; in the daemon they stay static. */
#ifdef TWOWAYD_UNIT_TEST
#define UNITTEST
#else
#define UNITTEST static
#endif

#endif
