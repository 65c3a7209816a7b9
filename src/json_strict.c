/*
 * json_strict.c — a JSON object from outside, read strictly. See json_strict.h.
 */
#include "json_strict.h"
#include "text.h"

int json_strict_object(const void *buf, size_t len, json_t **ret, const char **reterr)
{
        json_error_t jerr;
        json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);

        if (!root) {
                switch (json_error_code(&jerr)) {
                case json_error_out_of_memory:
                        return text_fail(reterr, "out of memory", -ENOMEM);
                case json_error_duplicate_key:
                        return text_fail(reterr, "duplicate key", -EBADMSG);
                case json_error_null_character:
                case json_error_null_byte_in_key:
                        return text_fail(reterr, "NUL character in JSON", -EBADMSG);
                case json_error_invalid_utf8:
                        return text_fail(reterr, "invalid UTF-8", -EBADMSG);
                default:
                        return text_fail(reterr, "invalid JSON", -EBADMSG);
                }
        }
        if (!json_is_object(root)) {
                json_decref(root);
                return text_fail(reterr, "not a JSON object", -EBADMSG);
        }
        *ret = root;
        return 0;
}
