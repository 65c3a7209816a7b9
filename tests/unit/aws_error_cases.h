/*
 * aws_error_cases.h — for the tests of what a caller makes of an AWS
 * failure: the error the AWS core reports for a service's answer, or for a
 * failure on our side.
 *
 * Header-only (static functions), included by one test file at a time.
 */
#ifndef TWOWAYD_TEST_AWS_ERROR_CASES_H
#define TWOWAYD_TEST_AWS_ERROR_CASES_H

#include <string.h>

#include "aws_error.h"

/* The service answered status, with this x-amzn-ErrorType (or NULL) and body. */
static inline struct aws_error answered_error(long status, const char *error_type, const char *body)
{
        struct aws_error e;

        aws_error_from_response(status, error_type, "req-1", body, strlen(body), &e);
        return e;
}

/* No answer: err (a negative errno) on our side. */
static inline struct aws_error local_error(int err)
{
        struct aws_error e;

        aws_error_from_local(err, "X", NULL, &e);
        return e;
}

#endif
