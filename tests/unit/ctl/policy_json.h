/*
 * policy_json.h — for the ctl tests of merged policies: how many statements
 * a policy's text holds, and a member of one of them.
 */
#ifndef TWOWAYD_TESTS_CTL_POLICY_JSON_H
#define TWOWAYD_TESTS_CTL_POLICY_JSON_H

#include <stddef.h>

#include <jansson.h>

/* The statements in policy, which must be JSON. */
static inline size_t statement_count(const char *policy)
{
        json_t *p = json_loads(policy, 0, NULL);
        size_t n;

        assert_non_null(p);
        n = json_array_size(json_object_get(p, "Statement"));
        json_decref(p);
        return n;
}

/* The string member key of statement i of policy, or NULL. */
static inline const char *statement_member(const json_t *policy, size_t i, const char *key)
{
        return json_string_value(
                json_object_get(json_array_get(json_object_get(policy, "Statement"), i), key));
}

#endif
