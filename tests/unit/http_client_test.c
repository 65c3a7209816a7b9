/*
 * http_client_test.c — outbound HTTP on a real libev loop against servers on
 * 127.0.0.1: what arrives and what comes back, connection reuse and fresh
 * connections, streaming, the response size limit, transport failures (a
 * closed port, a connection closed without an answer, a listener that never
 * answers), the in-flight limit's queue, and cancellation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "common.h"
#include "http_client.h"

#include "scripted_server.h"

#define WAIT_LIMIT 10.0

struct outcome {
        bool done;
        int r;
        long status;
        char body[512];
        size_t body_len;
        bool body_buffered;
        size_t streamed;
        char header[128]; /* the value of "X-Echo", if any */
        unsigned order;   /* completion order, from 1 */
};

struct fixture {
        struct ev_loop *loop;
        struct scripted_server server;
        struct http_client *http;
        unsigned completed;
        /* streaming */
        char chunks[512];
        size_t chunks_len;
        unsigned n_chunks;
        int stream_error; /* returned by the data callback */
};

static struct fixture *current;

static int setup_with(void **state, const struct http_client_options *opts)
{
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        f->loop = ev_loop_new(EVFLAG_AUTO);
        if (!f->loop || scripted_server_start(&f->server) < 0 ||
            http_client_new(f->loop, opts, &f->http) < 0)
                return -1;
        current = f;
        *state = f;
        return 0;
}

static int setup(void **state)
{
        return setup_with(state, &(struct http_client_options){0});
}

static int setup_one_at_a_time(void **state)
{
        return setup_with(state, &(struct http_client_options){.max_in_flight = 1});
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        http_client_free(f->http);
        scripted_server_stop(&f->server);
        ev_loop_destroy(f->loop);
        free(f);
        return 0;
}

static void done_cb(struct http_transfer *t, int r, const struct http_client_response *resp,
                    void *userdata)
{
        struct outcome *o = userdata;
        const char *echo = http_response_header(resp, "x-echo");

        (void)t;
        assert_false(o->done); /* exactly once */
        o->done = true;
        o->r = r;
        o->status = resp->status;
        o->body_buffered = resp->body != NULL;
        o->body_len = resp->body_len;
        o->streamed = resp->streamed;
        o->order = ++current->completed;
        if (resp->body)
                snprintf(o->body, sizeof(o->body), "%.*s", (int)resp->body_len,
                         (const char *)resp->body);
        snprintf(o->header, sizeof(o->header), "%s", echo ? echo : "");
}

static void start(struct fixture *f, const struct http_client_req *req, struct outcome *o,
                  struct http_transfer **t)
{
        assert_int_equal(http_client_start(f->http, req, done_cb, o, t), 0);
        assert_false(o->done); /* never from inside http_client_start() */
}

static void fetch(struct fixture *f, const struct http_client_req *req, struct outcome *o)
{
        start(f, req, o, NULL);
        assert_true(run_loop_until(f->loop, &o->done, WAIT_LIMIT));
}

static char *url(struct fixture *f, const char *path)
{
        static char buf[128];

        snprintf(buf, sizeof(buf), "%s%s", f->server.base_url, path);
        return buf;
}

/* ---- request and response ------------------------------------------------------------------- */

static void test_request_and_response(void **state)
{
        struct fixture *f = *state;
        static const char *const headers[] = {"Content-Type: application/json", "X-Trace: abc"};
        struct outcome o = {0};
        const struct recorded_request *rq;

        scripted_server_script(&f->server,
                               &(struct scripted_reply){
                                       .status = 201,
                                       .content_type = "text/plain",
                                       .headers = {{"X-Echo", "first"}, {"x-ECHO", "  last  "}},
                                       .body = "created",
                               },
                               1);
        fetch(f,
              &(struct http_client_req){
                      .method = "POST",
                      .url = url(f, "/items/1?x=%2F"),
                      .headers = headers,
                      .n_headers = ARRAY_SIZE(headers),
                      .body = "{\"a\":1}",
                      .body_len = 7,
              },
              &o);
        assert_int_equal(o.r, 0);
        assert_int_equal(o.status, 201);
        assert_string_equal(o.body, "created");
        assert_int_equal(o.body_len, 7);
        /* The last header of that name, case-insensitively, trimmed. */
        assert_string_equal(o.header, "last");

        rq = &f->server.requests[0];
        assert_string_equal(rq->method, "POST");
        assert_string_equal(rq->path, "/items/1");
        assert_string_equal(rq->query, "x=%2F");
        assert_string_equal(rq->body, "{\"a\":1}");
        assert_string_equal(recorded_header(rq, "Content-Type"), "application/json");
        assert_string_equal(recorded_header(rq, "X-Trace"), "abc");
        assert_non_null(recorded_header(rq, "User-Agent"));
        assert_int_equal(strncmp(recorded_header(rq, "User-Agent"), "twowayd/", 8), 0);
}

static void test_every_status_is_an_answer_and_redirects_are_not_followed(void **state)
{
        struct fixture *f = *state;
        struct outcome missing = {0}, moved = {0};

        scripted_server_script(&f->server,
                               (const struct scripted_reply[]){
                                       {.status = 404, .body = "no such thing"},
                                       {.status = 302, .headers = {{"Location", "/elsewhere"}}},
                               },
                               2);
        fetch(f, &(struct http_client_req){.url = url(f, "/a")}, &missing);
        assert_int_equal(missing.r, 0);
        assert_int_equal(missing.status, 404);
        assert_string_equal(missing.body, "no such thing");
        assert_string_equal(f->server.requests[0].method, "GET");

        fetch(f, &(struct http_client_req){.url = url(f, "/b")}, &moved);
        assert_int_equal(moved.r, 0);
        assert_int_equal(moved.status, 302);
        assert_int_equal(scripted_server_count(&f->server), 2);
}

static void test_connections_reused_unless_fresh_asked(void **state)
{
        struct fixture *f = *state;
        struct outcome o[3] = {0};

        fetch(f, &(struct http_client_req){.url = url(f, "/1")}, &o[0]);
        fetch(f, &(struct http_client_req){.url = url(f, "/2")}, &o[1]);
        fetch(f, &(struct http_client_req){.url = url(f, "/3"), .fresh_connection = true}, &o[2]);
        assert_int_equal(scripted_server_count(&f->server), 3);
        assert_int_equal(f->server.requests[1].client_port, f->server.requests[0].client_port);
        assert_int_not_equal(f->server.requests[2].client_port, f->server.requests[1].client_port);
}

/* ---- streaming and limits -----------------------------------------------------------------------
 */

static int data_cb(struct http_transfer *t, const struct http_client_response *head,
                   const void *data, size_t len, void *userdata)
{
        struct fixture *f = current;

        (void)t;
        (void)userdata;
        assert_int_equal(head->status, 200);
        if (f->stream_error)
                return f->stream_error;
        assert_true(f->chunks_len + len < sizeof(f->chunks));
        memcpy(f->chunks + f->chunks_len, data, len);
        f->chunks_len += len;
        f->n_chunks++;
        return 0;
}

static void test_streaming_2xx_and_buffering_errors(void **state)
{
        struct fixture *f = *state;
        struct outcome ok = {0}, failed = {0}, aborted = {0};

        scripted_server_script(&f->server,
                               (const struct scripted_reply[]){
                                       {.status = 200, .body = "event one; event two"},
                                       {.status = 500, .body = "{\"message\":\"boom\"}"},
                                       {.status = 200, .body = "never read"},
                               },
                               3);
        fetch(f, &(struct http_client_req){.url = url(f, "/s"), .on_data = data_cb}, &ok);
        assert_int_equal(ok.r, 0);
        assert_false(ok.body_buffered);
        assert_int_equal(ok.streamed, 20);
        assert_true(f->n_chunks >= 1);
        assert_int_equal(f->chunks_len, 20);
        assert_memory_equal(f->chunks, "event one; event two", 20);

        /* A non-2xx body is buffered, for the error parser. */
        fetch(f, &(struct http_client_req){.url = url(f, "/s"), .on_data = data_cb}, &failed);
        assert_int_equal(failed.r, 0);
        assert_int_equal(failed.status, 500);
        assert_true(failed.body_buffered);
        assert_string_equal(failed.body, "{\"message\":\"boom\"}");

        /* The data callback's error ends the transfer with that error. */
        f->stream_error = -EPIPE;
        fetch(f, &(struct http_client_req){.url = url(f, "/s"), .on_data = data_cb}, &aborted);
        assert_int_equal(aborted.r, -EPIPE);
}

static void test_response_over_the_limit(void **state)
{
        struct fixture *f = *state;
        static char big[8192];
        struct outcome o = {0}, fits = {0};

        memset(big, 'x', sizeof(big));
        scripted_server_script(&f->server,
                               (const struct scripted_reply[]){
                                       {.status = 200, .body = big, .body_len = sizeof(big)},
                                       {.status = 200, .body = big, .body_len = sizeof(big)},
                               },
                               2);
        fetch(f, &(struct http_client_req){.url = url(f, "/"), .max_response = 4096}, &o);
        assert_int_equal(o.r, -EMSGSIZE);
        fetch(f, &(struct http_client_req){.url = url(f, "/"), .max_response = sizeof(big)}, &fits);
        assert_int_equal(fits.r, 0);
        assert_int_equal(fits.body_len, sizeof(big));
}

/* ---- transport failures ------------------------------------------------------------------------
 */

static void test_transport_failures(void **state)
{
        struct fixture *f = *state;
        struct outcome empty = {0}, silent = {0}, refused = {0};
        char silent_url[64], closed_url[64];
        int fd;

        scripted_server_script(&f->server, &(struct scripted_reply){.close = true}, 1);
        fetch(f, &(struct http_client_req){.url = url(f, "/")}, &empty);
        assert_int_equal(empty.r, -ECONNRESET);

        fd = silent_listener(silent_url, sizeof(silent_url));
        assert_true(fd >= 0);
        fetch(f, &(struct http_client_req){.url = silent_url, .timeout_ms = 200}, &silent);
        assert_int_equal(silent.r, -ETIMEDOUT);
        assert_int_equal(silent.status, 0);
        /* Closed: nothing listens there any more. */
        snprintf(closed_url, sizeof(closed_url), "%s", silent_url);
        close(fd);
        fetch(f, &(struct http_client_req){.url = closed_url}, &refused);
        assert_int_equal(refused.r, -ECONNREFUSED);
}

/* With one transfer at a time, the second waits for the first, however long
 * the first takes: it is queued, not failed. */
static void test_in_flight_limit_queues_in_order(void **state)
{
        struct fixture *f = *state;
        struct outcome slow = {0}, queued = {0}, third = {0};
        char silent_url[64];
        int fd = silent_listener(silent_url, sizeof(silent_url));

        assert_true(fd >= 0);
        start(f, &(struct http_client_req){.url = silent_url, .timeout_ms = 300}, &slow, NULL);
        start(f, &(struct http_client_req){.url = url(f, "/2")}, &queued, NULL);
        start(f, &(struct http_client_req){.url = url(f, "/3")}, &third, NULL);
        assert_true(run_loop_until(f->loop, &third.done, WAIT_LIMIT));
        assert_int_equal(slow.r, -ETIMEDOUT);
        assert_int_equal(queued.r, 0);
        assert_int_equal(third.r, 0);
        assert_int_equal(slow.order, 1);
        assert_int_equal(queued.order, 2);
        assert_int_equal(third.order, 3);
        assert_string_equal(f->server.requests[0].path, "/2");
        assert_string_equal(f->server.requests[1].path, "/3");
        close(fd);
}

/* ---- cancellation ------------------------------------------------------------------------------
 */

static void test_cancel_active_and_queued(void **state)
{
        struct fixture *f = *state;
        struct outcome active = {0}, queued = {0}, after = {0};
        struct http_transfer *ta = NULL, *tq = NULL;
        char silent_url[64];
        int fd = silent_listener(silent_url, sizeof(silent_url));

        assert_true(fd >= 0);
        start(f, &(struct http_client_req){.url = silent_url}, &active, &ta);
        start(f, &(struct http_client_req){.url = url(f, "/q")}, &queued, &tq);
        ev_run(f->loop, EVRUN_NOWAIT);
        http_transfer_cancel(tq);
        http_transfer_cancel(ta);
        http_transfer_cancel(ta); /* idempotent */
        assert_false(active.done);
        assert_false(queued.done);
        assert_true(run_loop_until(f->loop, &active.done, WAIT_LIMIT));
        assert_true(run_loop_until(f->loop, &queued.done, WAIT_LIMIT));
        assert_int_equal(active.r, -ECANCELED);
        assert_int_equal(queued.r, -ECANCELED);

        /* The slot is free again: the next transfer runs; the cancelled one
         * never reached the server. */
        fetch(f, &(struct http_client_req){.url = url(f, "/after")}, &after);
        assert_int_equal(after.r, 0);
        assert_int_equal(scripted_server_count(&f->server), 1);
        assert_string_equal(f->server.requests[0].path, "/after");
        close(fd);
}

static void test_free_completes_outstanding(void **state)
{
        struct fixture *f = *state;
        struct outcome a = {0}, b = {0};
        char silent_url[64];
        int fd = silent_listener(silent_url, sizeof(silent_url));

        assert_true(fd >= 0);
        start(f, &(struct http_client_req){.url = silent_url}, &a, NULL);
        ev_run(f->loop, EVRUN_NOWAIT);
        start(f, &(struct http_client_req){.url = url(f, "/")}, &b, NULL);
        f->http = http_client_free(f->http);
        assert_true(a.done);
        assert_true(b.done);
        assert_int_equal(a.r, -ECANCELED);
        assert_int_equal(b.r, -ECANCELED);
        close(fd);
}

static void test_bad_requests_refused(void **state)
{
        struct fixture *f = *state;
        struct outcome o = {0};

        assert_int_equal(http_client_start(f->http, &(struct http_client_req){.url = "ftp://h/"},
                                           done_cb, &o, NULL),
                         -EINVAL);
        assert_int_equal(
                http_client_start(f->http,
                                  &(struct http_client_req){.url = url(f, "/"), .body_len = 3},
                                  done_cb, &o, NULL),
                -EINVAL);
        assert_int_equal(
                http_client_start(f->http, &(struct http_client_req){.url = ""}, done_cb, &o, NULL),
                -EINVAL);
        ev_run(f->loop, EVRUN_NOWAIT);
        assert_false(o.done);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_request_and_response, setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_every_status_is_an_answer_and_redirects_are_not_followed, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(test_connections_reused_unless_fresh_asked, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_streaming_2xx_and_buffering_errors, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_response_over_the_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_transport_failures, setup, teardown),
                cmocka_unit_test_setup_teardown(test_in_flight_limit_queues_in_order,
                                                setup_one_at_a_time, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_active_and_queued, setup_one_at_a_time,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_free_completes_outstanding,
                                                setup_one_at_a_time, teardown),
                cmocka_unit_test_setup_teardown(test_bad_requests_refused, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
