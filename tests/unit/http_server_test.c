/*
 * http_server_test.c — the inbound listener on a real libev loop, with
 * clients on 127.0.0.1 on the same loop (http_client for whole requests,
 * plain sockets for the ones that misbehave): a request reaches the handler
 * complete, replies now or later, the body limit answers 413 before the
 * handler sees anything, an unanswered request is never acknowledged at
 * teardown (its cancel callback runs), and the
 * connection policy (request deadline, eviction of the longest-waiting
 * connection, the per-address limit) does what it says.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "common.h"
#include "http_client.h"
#include "http_server.h"

#include "loop_wait.h"

#define WAIT_LIMIT 10.0

struct seen {
        unsigned n;
        char method[16], path[128], client[64], header[128];
        char body[256];
        size_t body_len;
};

struct fixture {
        struct ev_loop *loop;
        struct http_server *server;
        struct http_client *http;
        char url[64];
        struct seen seen;
        bool defer;                   /* keep the request, reply later */
        struct http_request *pending; /* the deferred one */
        bool cancelled;               /* its cancel callback ran */
};

struct answer {
        bool done;
        int r;
        long status;
        char body[256];
        char content_type[64];
};

static void handler(struct http_request *req, void *userdata)
{
        struct fixture *f = userdata;
        const char *h = http_request_header(req, "x-sns-message-type");
        const void *body;
        size_t len;

        f->seen.n++;
        snprintf(f->seen.method, sizeof(f->seen.method), "%s", http_request_method(req));
        snprintf(f->seen.path, sizeof(f->seen.path), "%s", http_request_path(req));
        snprintf(f->seen.client, sizeof(f->seen.client), "%s", http_request_client(req));
        snprintf(f->seen.header, sizeof(f->seen.header), "%s", h ? h : "");
        body = http_request_body(req, &len);
        f->seen.body_len = len;
        snprintf(f->seen.body, sizeof(f->seen.body), "%.*s", (int)len,
                 body ? (const char *)body : "");
        if (f->defer) {
                f->pending = req;
                return;
        }
        assert_int_equal(http_request_reply(req, 200, "text/plain", "stored", 6), 0);
}

static int setup_with(void **state, const struct http_server_options *base)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct http_server_options opts = *base;
        char host[64];
        int fd = -1, port;

        if (!f)
                return -1;
        f->loop = ev_loop_new(EVFLAG_AUTO);
        if (!f->loop || http_listen("127.0.0.1", 0, &fd) < 0)
                return -1;
        port = http_local_address(fd, host, sizeof(host));
        if (port <= 0)
                return -1;
        snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", port);
        opts.listen_fd = fd;
        if (!opts.max_connections)
                opts.max_connections = 64;
        if (!opts.timeout_s)
                opts.timeout_s = 30;
        if (!opts.max_body)
                opts.max_body = 1024;
        if (http_server_new(f->loop, &opts, handler, f, &f->server) < 0 ||
            http_client_new(f->loop, &(struct http_client_options){0}, &f->http) < 0)
                return -1;
        *state = f;
        return 0;
}

static int setup(void **state)
{
        return setup_with(state, &(struct http_server_options){0});
}

static int setup_quick_deadline(void **state)
{
        return setup_with(state, &(struct http_server_options){.request_timeout_s = 1});
}

static int setup_two_connections(void **state)
{
        return setup_with(state, &(struct http_server_options){.max_connections = 2});
}

static int setup_one_per_address(void **state)
{
        return setup_with(state, &(struct http_server_options){.max_per_ip = 1});
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        http_client_free(f->http);
        http_server_free(f->server);
        ev_loop_destroy(f->loop);
        free(f);
        return 0;
}

static bool run_until(struct ev_loop *loop, const bool *done)
{
        return run_loop_until(loop, done, WAIT_LIMIT);
}

static bool request_pending(const void *arg)
{
        return ((const struct fixture *)arg)->pending != NULL;
}

static void answer_cb(struct http_transfer *t, int r, const struct http_client_response *resp,
                      void *userdata)
{
        struct answer *a = userdata;
        const char *ct = http_response_header(resp, "Content-Type");

        (void)t;
        a->done = true;
        a->r = r;
        a->status = resp->status;
        snprintf(a->body, sizeof(a->body), "%.*s", (int)resp->body_len,
                 resp->body ? (const char *)resp->body : "");
        snprintf(a->content_type, sizeof(a->content_type), "%s", ct ? ct : "");
}

static void post(struct fixture *f, const char *path, const char *const *headers, size_t n_headers,
                 const char *body, size_t len, struct answer *a)
{
        char url[128];

        snprintf(url, sizeof(url), "%s%s", f->url, path);
        assert_int_equal(http_client_start(f->http,
                                           &(struct http_client_req){
                                                   .method = "POST",
                                                   .url = url,
                                                   .headers = headers,
                                                   .n_headers = n_headers,
                                                   .body = body,
                                                   .body_len = len,
                                           },
                                           answer_cb, a, NULL),
                         0);
}

/* ---- plain sockets
 * ------------------------------------------------------------------------------- */

struct raw_client {
        int fd;
        ev_io io;
        char got[1024];
        size_t len;
        bool closed; /* the server closed or shut down the connection */
};

static void raw_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        struct raw_client *c = w->data;
        ssize_t n;

        (void)revents;
        n = read(c->fd, c->got + c->len, sizeof(c->got) - 1 - c->len);
        if (n > 0) {
                c->len += (size_t)n;
                c->got[c->len] = '\0';
                return;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                c->closed = true;
                ev_io_stop(loop, w);
        }
}

static void raw_connect(struct fixture *f, struct raw_client *c, const char *first_bytes)
{
        struct sockaddr_in sin = {.sin_family = AF_INET};
        const char *port = strrchr(f->url, ':') + 1;

        memset(c, 0, sizeof(*c));
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(c->fd >= 0);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin.sin_port = htons((uint16_t)atoi(port));
        assert_int_equal(connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        assert_int_equal(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
        if (first_bytes)
                assert_int_equal(write(c->fd, first_bytes, strlen(first_bytes)),
                                 (ssize_t)strlen(first_bytes));
        ev_io_init(&c->io, raw_read_cb, c->fd, EV_READ);
        c->io.data = c;
        ev_io_start(f->loop, &c->io);
}

static void raw_close(struct fixture *f, struct raw_client *c)
{
        ev_io_stop(f->loop, &c->io);
        close(c->fd);
}

static uint64_t accepted(struct fixture *f)
{
        struct http_server_stats st;

        http_server_get_stats(f->server, &st);
        return st.accepted;
}

struct accept_goal {
        struct fixture *f;
        uint64_t n;
};

static bool accepted_enough(const void *arg)
{
        const struct accept_goal *g = arg;

        return accepted(g->f) >= g->n;
}

/* Run the loop until the server has accepted n connections in all. */
static void wait_accepted(struct fixture *f, uint64_t n)
{
        assert_true(run_loop_while_not(f->loop, accepted_enough, &(struct accept_goal){f, n},
                                       WAIT_LIMIT));
}

static bool raw_got_reply(const void *arg)
{
        const struct raw_client *c = arg;

        return c->closed || strstr(c->got, "\r\n\r\nstored");
}

/* ---- requests and replies
 * ------------------------------------------------------------------------ */

static void test_complete_request_reaches_the_handler(void **state)
{
        struct fixture *f = *state;
        static const char *const headers[] = {"X-Sns-Message-Type: Notification",
                                              "Content-Type: text/plain; charset=UTF-8"};
        static const char body[] = "{\"Type\":\"Notification\",\"Message\":\"hello\"}";
        struct answer a = {0};

        post(f, "/sns?x=1", headers, ARRAY_SIZE(headers), body, STRLEN(body), &a);
        assert_true(run_until(f->loop, &a.done));
        assert_int_equal(a.r, 0);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.body, "stored");
        assert_string_equal(a.content_type, "text/plain");

        assert_int_equal(f->seen.n, 1);
        assert_string_equal(f->seen.method, "POST");
        assert_string_equal(f->seen.path, "/sns");
        assert_string_equal(f->seen.header, "Notification"); /* names case-insensitive */
        assert_string_equal(f->seen.client, "127.0.0.1");
        assert_int_equal(f->seen.body_len, STRLEN(body));
        assert_string_equal(f->seen.body, body);
}

static void test_reply_later_from_the_loop(void **state)
{
        struct fixture *f = *state;
        struct answer a = {0};

        f->defer = true;
        post(f, "/", NULL, 0, "x", 1, &a);
        assert_true(run_loop_while_not(f->loop, request_pending, f, WAIT_LIMIT));
        assert_non_null(f->pending);
        assert_int_equal(http_server_pending(f->server), 1);
        /* Meanwhile the loop serves others: a second request is answered. */
        {
                struct answer other = {0};
                struct http_request *first = f->pending;

                f->defer = false;
                post(f, "/other", NULL, 0, "y", 1, &other);
                assert_true(run_until(f->loop, &other.done));
                assert_int_equal(other.status, 200);
                assert_false(a.done);
                f->pending = first;
        }
        assert_int_equal(http_request_reply(f->pending, 202, "application/json", "{}", 2), 0);
        f->pending = NULL;
        assert_true(run_until(f->loop, &a.done));
        assert_int_equal(a.status, 202);
        assert_string_equal(a.body, "{}");
        assert_int_equal(http_server_pending(f->server), 0);
}

static void test_body_over_the_limit_gets_413_unseen(void **state)
{
        struct fixture *f = *state;
        static const char *const chunked[] = {"Transfer-Encoding: chunked"};
        char big[2048];
        struct answer declared = {0}, streamed = {0}, fits = {0};

        memset(big, 'a', sizeof(big));
        post(f, "/", NULL, 0, big, sizeof(big), &declared);
        assert_true(run_until(f->loop, &declared.done));
        assert_int_equal(declared.status, 413);

        post(f, "/", chunked, 1, big, sizeof(big), &streamed);
        assert_true(run_until(f->loop, &streamed.done));
        assert_int_equal(streamed.status, 413);
        assert_int_equal(f->seen.n, 0);

        /* Exactly the limit is fine. */
        post(f, "/", NULL, 0, big, 1024, &fits);
        assert_true(run_until(f->loop, &fits.done));
        assert_int_equal(fits.status, 200);
        assert_int_equal(f->seen.n, 1);
        assert_int_equal(f->seen.body_len, 1024);

        /* A lower limit applies to the next request. */
        http_server_set_max_body(f->server, 10);
        memset(&fits, 0, sizeof(fits));
        post(f, "/", NULL, 0, big, 11, &fits);
        assert_true(run_until(f->loop, &fits.done));
        assert_int_equal(fits.status, 413);
        assert_int_equal(f->seen.n, 1);
}

static void cancel_cb(struct http_request *req, void *userdata)
{
        struct fixture *f = userdata;

        (void)req;
        f->cancelled = true;
}

static void test_unanswered_requests_never_acknowledged_at_teardown(void **state)
{
        struct fixture *f = *state;
        struct raw_client c;

        f->defer = true;
        raw_connect(f, &c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
        assert_true(run_loop_while_not(f->loop, request_pending, f, WAIT_LIMIT));
        assert_non_null(f->pending);
        http_request_set_cancel(f->pending, cancel_cb, f);
        f->server = http_server_free(f->server);
        assert_true(f->cancelled);
        /* The connection ends without an acknowledgement. (The 503 that
         * http_server_free() queues is not flushed before MHD stops.) */
        assert_true(run_until(f->loop, &c.closed));
        assert_null(strstr(c.got, "HTTP/1.1 2"));
        raw_close(f, &c);
}

/* ---- the connection policy
 * ------------------------------------------------------------------------ */

static void test_incomplete_request_closed_at_its_deadline(void **state)
{
        struct fixture *f = *state;
        struct http_server_stats st;
        struct raw_client slow;
        struct answer a = {0};

        /* The head never ends. */
        raw_connect(f, &slow, "POST / HTTP/1.1\r\nHost: x\r\n");
        assert_true(run_until(f->loop, &slow.closed));
        http_server_get_stats(f->server, &st);
        assert_int_equal(st.closed_request_timeout, 1);
        assert_int_equal(f->seen.n, 0);
        raw_close(f, &slow);

        /* Others are still served. */
        post(f, "/", NULL, 0, "x", 1, &a);
        assert_true(run_until(f->loop, &a.done));
        assert_int_equal(a.status, 200);
}

static void test_full_table_evicts_the_longest_waiting(void **state)
{
        struct fixture *f = *state;
        struct http_server_stats st;
        struct raw_client kept, fresh;
        struct answer a = {0};

        /* One connection kept alive after its reply, then a newer idle one. */
        raw_connect(f, &kept, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_true(run_loop_while_not(f->loop, raw_got_reply, &kept, WAIT_LIMIT));
        assert_false(kept.closed);
        raw_connect(f, &fresh, NULL);
        wait_accepted(f, 2);

        /* A third connection with a request: the one that has waited longest
         * (the kept-alive one, since its reply) goes; the newer stays. */
        post(f, "/", NULL, 0, "x", 1, &a);
        assert_true(run_until(f->loop, &a.done));
        assert_int_equal(a.status, 200);
        assert_true(run_until(f->loop, &kept.closed));
        assert_false(fresh.closed);
        http_server_get_stats(f->server, &st);
        assert_int_equal(st.evicted_table_full, 1);
        raw_close(f, &kept);
        raw_close(f, &fresh);
}

static void test_per_address_limit_refuses_the_next(void **state)
{
        struct fixture *f = *state;
        struct http_server_stats st;
        struct raw_client first, second;

        raw_connect(f, &first, NULL);
        wait_accepted(f, 1);
        raw_connect(f, &second, NULL);
        assert_true(run_until(f->loop, &second.closed));
        assert_false(first.closed);
        http_server_get_stats(f->server, &st);
        assert_int_equal(st.refused_per_ip, 1);

        /* The waiting one may still send its request. */
        assert_int_equal(write(first.fd, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", 28), 28);
        assert_true(run_loop_while_not(f->loop, raw_got_reply, &first, WAIT_LIMIT));
        assert_int_equal(strncmp(first.got, "HTTP/1.1 200", 12), 0);
        assert_int_equal(f->seen.n, 1);
        raw_close(f, &first);
        raw_close(f, &second);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_complete_request_reaches_the_handler, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_reply_later_from_the_loop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_body_over_the_limit_gets_413_unseen, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(
                        test_unanswered_requests_never_acknowledged_at_teardown, setup, teardown),
                cmocka_unit_test_setup_teardown(test_incomplete_request_closed_at_its_deadline,
                                                setup_quick_deadline, teardown),
                cmocka_unit_test_setup_teardown(test_full_table_evicts_the_longest_waiting,
                                                setup_two_connections, teardown),
                cmocka_unit_test_setup_teardown(test_per_address_limit_refuses_the_next,
                                                setup_one_per_address, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
