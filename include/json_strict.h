/*
 * json_strict.h — a JSON object from outside, read the one strict way every
 * parser of ours reads one (pure).
 *
 * Strict: one value only, no duplicate key, no NUL character (escaped or
 * not), valid UTF-8, and the value an object. Each refusal has its reason.
 */
#ifndef TWOWAYD_JSON_STRICT_H
#define TWOWAYD_JSON_STRICT_H

#include <stddef.h>

#include <jansson.h>

#include "common.h"

/* The object in buf[0..len) into *ret (a new reference, the caller's), or a
 * negative errno with *reterr (when not NULL) set to a short static reason:
 * -ENOMEM "out of memory"; -EBADMSG "duplicate key", "NUL character in JSON",
 * "invalid UTF-8", "not a JSON object" or, for anything else, "invalid JSON". */
int json_strict_object(const void *buf, size_t len, json_t **ret,
                       const char **reterr) _warn_unused_;

#endif
