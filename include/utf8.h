/*
 * utf8.h — strict UTF-8 (RFC 3629) decoding, shared by the modules that read
 * message text: no overlong forms, no surrogates, nothing above U+10FFFF.
 *
 * Pure; nothing is allocated.
 */
#ifndef TWOWAYD_UTF8_H
#define TWOWAYD_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decode the code point at s[*i] (i < len): on success store it in *ret,
 * advance *i past it and return true; on a malformed or truncated sequence
 * return false and leave *i alone. */
bool utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *ret);

/* Is s[0..len) well-formed UTF-8? With allow_nul false, U+0000 is refused
 * too (for text that becomes a C string). */
bool utf8_valid(const char *s, size_t len, bool allow_nul);

/* Code points in s[0..len), which must be well-formed UTF-8: the bytes that
 * do not continue a sequence. */
size_t utf8_length(const char *s, size_t len);

#endif
