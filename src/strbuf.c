/*
 * strbuf.c — the growable string with a sticky error. See strbuf.h.
 */
#include <stdint.h>
#include <string.h>

#include "common.h"
#include "strbuf.h"

static void strbuf_grow(struct strbuf *b, size_t extra)
{
        size_t need, cap;
        char *p;

        if (b->err < 0)
                return;
        if (b->max > 0 && (b->len > b->max || extra > b->max - b->len)) {
                b->err = -E2BIG;
                return;
        }
        if (extra > SIZE_MAX - b->len - 1) {
                b->err = -ENOMEM;
                return;
        }
        need = b->len + extra + 1;
        if (need <= b->cap)
                return;
        cap = MAX(need, b->cap < SIZE_MAX / 2 ? b->cap * 2 : need);
        cap = MAX(cap, (size_t)64);
        if (b->max > 0)
                cap = MIN(cap, b->max + 1);
        p = malloc(cap);
        if (!p) {
                b->err = -ENOMEM;
                return;
        }
        if (b->data) {
                memcpy(p, b->data, b->len + 1);
                explicit_wipe(b->data, b->cap);
                free(b->data);
        } else {
                p[0] = '\0';
        }
        b->data = p;
        b->cap = cap;
}

void strbuf_add(struct strbuf *b, const void *s, size_t n)
{
        strbuf_grow(b, n);
        if (b->err < 0)
                return;
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
}

void strbuf_puts(struct strbuf *b, const char *s)
{
        strbuf_add(b, s, strlen(s));
}

void strbuf_putc(struct strbuf *b, char c)
{
        strbuf_add(b, &c, 1);
}

void strbuf_done(struct strbuf *b)
{
        if (b->data) {
                explicit_wipe(b->data, b->cap);
                free(b->data);
        }
        *b = (struct strbuf){0};
}

char *strbuf_steal(struct strbuf *b)
{
        char *s;

        strbuf_grow(b, 0);
        if (b->err < 0) {
                strbuf_done(b);
                return NULL;
        }
        s = TAKE_PTR(b->data);
        *b = (struct strbuf){0};
        return s;
}
