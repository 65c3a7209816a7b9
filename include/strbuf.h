/*
 * strbuf.h — a growable string whose error is sticky, so that callers append
 * freely and check once.
 *
 * It may hold secrets (SigV4 keys and tokens), so it never leaves a stale
 * copy behind: it grows by copying and wiping, never by realloc(), and is
 * wiped when released. With max set, appending past max bytes fails with
 * -E2BIG.
 *
 * Ownership: the buffer owns data. Release it with strbuf_done() (which
 * accepts a zeroed or already released buffer), or hand the string on with
 * strbuf_steal() (free() it).
 */
#ifndef TWOWAYD_STRBUF_H
#define TWOWAYD_STRBUF_H

#include <stddef.h>

struct strbuf {
        char *data; /* NUL-terminated; NULL until something was added */
        size_t len;
        size_t cap;
        size_t max; /* bytes at most, the NUL aside; 0: no bound */
        int err;    /* 0, or -ENOMEM / -E2BIG once an append failed */
};

void strbuf_add(struct strbuf *b, const void *s, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_putc(struct strbuf *b, char c);

/* Wipes and frees; the buffer is zeroed and may be used again. */
void strbuf_done(struct strbuf *b);

/* The string (an empty buffer yields ""), the buffer zeroed; NULL (and the
 * buffer released) after a failed append or when out of memory. */
char *strbuf_steal(struct strbuf *b);

#endif
