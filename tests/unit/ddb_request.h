/*
 * ddb_request.h — for tests that read the DynamoDB requests a step sent:
 * the attribute values it bound and the key it named.
 *
 * Header-only (static functions), included by one test file at a time.
 */
#ifndef TWOWAYD_TEST_DDB_REQUEST_H
#define TWOWAYD_TEST_DDB_REQUEST_H

#include <jansson.h>

/* ExpressionAttributeValues[name] of req, of DynamoDB type type ("S", "N"),
 * or NULL. */
static inline const char *ddb_request_value(const json_t *req, const char *name, const char *type)
{
        return json_string_value(json_object_get(
                json_object_get(json_object_get(req, "ExpressionAttributeValues"), name), type));
}

/* Key[attr] of req, a string, or NULL. */
static inline const char *ddb_request_key(const json_t *req, const char *attr)
{
        return json_string_value(
                json_object_get(json_object_get(json_object_get(req, "Key"), attr), "S"));
}

#endif
