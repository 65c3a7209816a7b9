/*
 * base64.h — strict standard base64 (RFC 4648 section 4), decoded by OpenSSL.
 *
 * Strict means: padded, canonical (the bits past the last whole byte are
 * zero), no whitespace, no other alphabet. AWS encodes SNS signatures and
 * the bytes of Bedrock's event-stream chunks this way. EVP_DecodeBlock()
 * alone skips blanks, takes '=' in odd places and counts the padding in its
 * result, so the shape is checked here before OpenSSL decodes.
 *
 * Ownership: *ret is malloc'd (free()); it is NUL-terminated one byte past
 * *ret_len for callers that read text.
 */
#ifndef TWOWAYD_BASE64_H
#define TWOWAYD_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* 0 and the decoded bytes (none for an empty input); -EILSEQ for anything
 * but strict base64, -ENOMEM. *ret and *ret_len are written only on
 * success. */
int base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len);

#endif
