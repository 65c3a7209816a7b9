/*
 * http_answer.h — for unit tests that send a request with http_client and
 * read what came back: the status and the start of the body.
 *
 * Header-only (static functions), included by one test file at a time.
 */
#ifndef TWOWAYD_TEST_HTTP_ANSWER_H
#define TWOWAYD_TEST_HTTP_ANSWER_H

#include <stdbool.h>
#include <stdio.h>

#include "http_client.h"

struct answer {
        bool done;
        long status;
        char body[256]; /* cut to fit */
};

/* Keeps resp in a; the request must have been answered (r == 0). */
static inline void answer_keep(struct answer *a, int r, const struct http_client_response *resp)
{
        assert_int_equal(r, 0);
        a->done = true;
        a->status = resp->status;
        snprintf(a->body, sizeof(a->body), "%.*s", (int)resp->body_len,
                 resp->body ? (const char *)resp->body : "");
}

#endif
