/*
 * assert_json.h — the ctl unit tests' one JSON comparison: compact, keys
 * sorted, and both texts in the failure message.
 */
#ifndef TWOWAYD_TESTS_CTL_ASSERT_JSON_H
#define TWOWAYD_TESTS_CTL_ASSERT_JSON_H

#include <stdlib.h>

#include <jansson.h>

#include "common.h"

static inline void assert_json(const json_t *j, const char *expected)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

        assert_non_null(s);
        if (!streq(s, expected))
                fail_msg("got %s\nwant %s", s, expected);
        free(s);
}

#endif
