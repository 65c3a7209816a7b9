/*
 * text.h — small rules about text that several parsers share (pure).
 *
 * Nothing here allocates or logs.
 */
#ifndef TWOWAYD_TEXT_H
#define TWOWAYD_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Does s[0..n) hold a C0 control character (U+0000..U+001F) or DEL? */
bool text_has_control(const char *s, size_t n);

/* The parsers' way to say why they refused: store reason in *reterr (when
 * reterr is not NULL) and return r, a negative errno. reason is a static
 * string. */
int text_fail(const char **reterr, const char *reason, int r);

#endif
