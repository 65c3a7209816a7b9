/*
 * service_test.c — the daemon's lifecycle on the default libev loop, driven
 * by the test: the routes of the listener, what systemd is told (READY,
 * RELOADING, STOPPING on a notify socket of the test's), SIGHUP applying a
 * valid config and keeping the running one when the file is broken (with the
 * outcome recorded for twowayd --reload), and SIGTERM draining to a clean
 * exit. AWS is a scripted server on 127.0.0.1; the process environment points
 * the daemon at it, as the integration harness does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "common.h"
#include "config.h"
#include "http_client.h"
#include "http_server.h"
#include "service.h"

#include "http_answer.h"
#include "scripted_server.h"
#include "test_files.h"

#define WAIT_LIMIT  15.0
#define DRAIN_GUARD 5.0

struct fixture {
        struct ev_loop *loop;
        struct scripted_server aws;
        struct service *service;
        struct http_client *http;
        char dir[64];
        char conf_path[128];
        char url[64];
        int notify_fd;
        ev_io notify_io;
        char notified[4096]; /* every datagram, one after the other, '|' between */
};

static void notify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        struct fixture *f = w->data;
        char buf[512];
        ssize_t n;
        size_t len = strlen(f->notified);

        (void)loop;
        (void)revents;
        while ((n = recv(f->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
                buf[n] = '\0';
                snprintf(f->notified + len, sizeof(f->notified) - len, "%s|", buf);
                len = strlen(f->notified);
        }
}

static int write_config(struct fixture *f, const char *extra_http)
{
        FILE *fp = fopen(f->conf_path, "we");

        if (!fp)
                return -1;
        fprintf(fp,
                "[http]\nlisten = 127.0.0.1:0\npath = /sns\n%s\n"
                "[sns]\ntopic_arns = arn:aws:sns:us-east-1:123456789012:twowayd-inbound\n"
                "[consent]\ntable = twowayd-consent\n"
                "[agent]\nagent_id = AGENT12345\nagent_alias_id = ALIAS12345\n"
                "[spool]\ndir = %s\n[log]\nlevel = warning\n",
                extra_http, f->dir);
        return fclose(fp);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        struct config_diag diag = {0};
        struct config *config = NULL;
        char host[64];
        int fd = -1, port;

        if (!f)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "/tmp/service-test-XXXXXX");
        if (!mkdtemp(f->dir) || scripted_server_start(&f->aws) < 0)
                return -1;
        f->loop = ev_default_loop(EVFLAG_AUTO);

        /* What systemd would give the daemon, and the harness's AWS settings. */
        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/notify", f->dir);
        f->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (f->notify_fd < 0 || bind(f->notify_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
                return -1;
        ev_io_init(&f->notify_io, notify_cb, f->notify_fd, EV_READ);
        f->notify_io.data = f;
        ev_io_start(f->loop, &f->notify_io);
        if (setenv("NOTIFY_SOCKET", sun.sun_path, 1) < 0 ||
            setenv("RUNTIME_DIRECTORY", f->dir, 1) < 0 ||
            setenv("AWS_ENDPOINT_URL", f->aws.base_url, 1) < 0 ||
            setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1) < 0 ||
            setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1) < 0 ||
            setenv("AWS_REGION", "us-east-1", 1) < 0 ||
            setenv("AWS_EC2_METADATA_DISABLED", "true", 1) < 0)
                return -1;
        unsetenv("WATCHDOG_USEC");

        snprintf(f->conf_path, sizeof(f->conf_path), "%s/twowayd.conf", f->dir);
        if (write_config(f, "max_body = 4096") < 0 ||
            config_load(f->conf_path, &config, &diag) < 0) {
                config_diag_done(&diag);
                return -1;
        }
        config_diag_done(&diag);

        /* A socket handed over, as systemd's socket activation does. */
        if (http_listen("127.0.0.1", 0, &fd) < 0)
                return -1;
        port = http_local_address(fd, host, sizeof(host));
        snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", port);
        if (service_new(f->loop, config, fd, &f->service) < 0 ||
            http_client_new(f->loop, &(struct http_client_options){0}, &f->http) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        http_client_free(f->http);
        service_free(f->service);
        ev_io_stop(f->loop, &f->notify_io);
        close(f->notify_fd);
        scripted_server_stop(&f->aws);
        (void)remove_tree(f->dir);
        unsetenv("NOTIFY_SOCKET");
        unsetenv("RUNTIME_DIRECTORY");
        free(f);
        return 0;
}

static void answer_cb(struct http_transfer *t, int r, const struct http_client_response *resp,
                      void *userdata)
{
        (void)t;
        answer_keep(userdata, r, resp);
}

static struct answer request(struct fixture *f, const char *method, const char *path,
                             size_t body_len)
{
        static char body[8192];
        struct answer a = {0};
        char url[128];

        memset(body, 'x', sizeof(body));
        assert_true(body_len <= sizeof(body));
        snprintf(url, sizeof(url), "%s%s", f->url, path);
        assert_int_equal(http_client_start(f->http,
                                           &(struct http_client_req){
                                                   .method = method,
                                                   .url = url,
                                                   .body = body_len ? body : NULL,
                                                   .body_len = body_len,
                                           },
                                           answer_cb, &a, NULL),
                         0);
        assert_true(run_loop_until(f->loop, &a.done, WAIT_LIMIT));
        return a;
}

static bool reload_recorded(const void *arg)
{
        const struct fixture *f = arg;
        char path[128];

        snprintf(path, sizeof(path), "%s/reload", f->dir);
        return access(path, F_OK) == 0;
}

static void read_reload_outcome(struct fixture *f, char *word, size_t size)
{
        char path[128];
        FILE *fp;
        unsigned long long usec;
        char w[16] = "";

        snprintf(path, sizeof(path), "%s/reload", f->dir);
        fp = fopen(path, "re");
        assert_non_null(fp);
        assert_int_equal(fscanf(fp, "%llu %15s", &usec, w), 2);
        fclose(fp);
        snprintf(word, size, "%s", w);
        assert_int_equal(unlink(path), 0);
}

/* ---- tests -------------------------------------------------------------------------------------
 */

static void test_routes(void **state)
{
        struct fixture *f = *state;
        struct answer a;

        a = request(f, "GET", "/healthz", 0);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.body, "ok\n");
        a = request(f, "POST", "/healthz", 0);
        assert_int_equal(a.status, 405);
        a = request(f, "GET", "/sns", 0);
        assert_int_equal(a.status, 405);
        a = request(f, "GET", "/elsewhere", 0);
        assert_int_equal(a.status, 404);
        /* /metrics from loopback (the default metrics_allow). */
        a = request(f, "GET", "/metrics", 0);
        assert_int_equal(a.status, 200);
        assert_non_null(strstr(a.body, "# "));
        /* The SNS path reaches the ingress: an unsigned body is refused there. */
        a = request(f, "POST", "/sns", 10);
        assert_int_equal(a.status, 400);
        /* Over [http] max_body. */
        a = request(f, "POST", "/sns", 4097);
        assert_int_equal(a.status, 413);
}

static void test_sighup_applies_a_valid_config_and_keeps_the_running_one(void **state)
{
        struct fixture *f = *state;
        struct answer a;
        char outcome[16];

        /* Valid: the new body limit applies. */
        assert_int_equal(write_config(f, "max_body = 1024"), 0);
        assert_int_equal(raise(SIGHUP), 0);
        assert_true(run_loop_while_not(f->loop, reload_recorded, f, WAIT_LIMIT));
        read_reload_outcome(f, outcome, sizeof(outcome));
        assert_string_equal(outcome, "ok");
        a = request(f, "POST", "/sns", 2000);
        assert_int_equal(a.status, 413);
        assert_non_null(strstr(f->notified, "RELOADING=1"));
        assert_non_null(strstr(strstr(f->notified, "RELOADING=1"), "READY=1"));

        /* Broken: reported, and the running config (1024) stays. */
        assert_int_equal(write_config(f, "max_body = lots"), 0);
        assert_int_equal(raise(SIGHUP), 0);
        assert_true(run_loop_while_not(f->loop, reload_recorded, f, WAIT_LIMIT));
        read_reload_outcome(f, outcome, sizeof(outcome));
        assert_string_equal(outcome, "failed");
        a = request(f, "POST", "/sns", 1000);
        assert_int_equal(a.status, 400); /* through to the ingress: 1000 is under 1024 */
        a = request(f, "POST", "/sns", 2000);
        assert_int_equal(a.status, 413);
        a = request(f, "GET", "/healthz", 0);
        assert_int_equal(a.status, 200);
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        (void)revents;
        *(bool *)w->data = true;
        ev_break(loop, EVBREAK_ALL);
}

static void test_sigterm_drains_and_returns(void **state)
{
        struct fixture *f = *state;
        bool expired = false;
        ev_timer guard;
        int r;

        /* Nothing is pending, so it returns without waiting out the drain
         * deadline (10 s): the guard fires before that. */
        ev_timer_init(&guard, guard_cb, DRAIN_GUARD, 0.);
        guard.data = &expired;
        ev_timer_start(f->loop, &guard);
        assert_int_equal(raise(SIGTERM), 0);
        r = service_run(f->service); /* READY=1, then the loop until drained */
        ev_timer_stop(f->loop, &guard);
        assert_false(expired);
        assert_int_equal(r, 0);
        notify_cb(f->loop, &f->notify_io, 0);
        assert_non_null(strstr(f->notified, "READY=1"));
        assert_non_null(strstr(f->notified, "STOPPING=1"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
                cmocka_unit_test_setup_teardown(
                        test_sighup_applies_a_valid_config_and_keeps_the_running_one, setup,
                        teardown),
                cmocka_unit_test_setup_teardown(test_sigterm_drains_and_returns, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
