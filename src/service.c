/*
 * service.c — lifecycle of the daemon on its one libev loop.
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include <ev.h>
#include <microhttpd.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "http_server.h"
#include "log.h"
#include "service.h"

/* How long SIGTERM waits for requests still being answered. systemd's default
 * TimeoutStopSec is 90 s; stay well inside it. */
#define SERVICE_DRAIN_TIMEOUT_S 10.0
#define SERVICE_DRAIN_POLL_S    0.05

struct service {
        struct ev_loop *loop;
        struct config *config;
        struct http_server *http;
        ev_signal sig_hup;
        ev_signal sig_term;
        ev_signal sig_int;
        ev_timer watchdog;
        ev_timer drain;
        ev_tstamp drain_deadline;
        bool draining;
        int exit_code;
};

static void apply_log_settings(const struct config *c)
{
        log_set_max_level(c->log_level);
        log_set_redact(c->log_redact);
}

static void reply_text(struct http_request *req, unsigned status, const char *text)
{
        http_request_reply(req, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void handle_healthz(struct service *s, struct http_request *req)
{
        if (s->draining)
                reply_text(req, MHD_HTTP_SERVICE_UNAVAILABLE, "draining\n");
        else
                reply_text(req, MHD_HTTP_OK, "ok\n");
}

/* The SNS endpoint: deliveries are not accepted yet; 503 makes SNS retry
 * later rather than drop them (SNS treats 4xx as delivered). */
static void handle_sns(struct service *s, struct http_request *req)
{
        log_warning("sns.unavailable", LOG_FIELDS(LF("CLIENT", http_request_client(req))),
                    "SNS delivery from %s refused: ingress not enabled", http_request_client(req));
        reply_text(req, MHD_HTTP_SERVICE_UNAVAILABLE, "ingress not enabled\n");
}

static void request_cb(struct http_request *req, void *userdata)
{
        struct service *s = userdata;
        const char *method = http_request_method(req);
        const char *path = http_request_path(req);

        if (streq(path, "/healthz")) {
                if (streq(method, "GET") || streq(method, "HEAD"))
                        handle_healthz(s, req);
                else
                        reply_text(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
                return;
        }
        if (streq(path, s->config->http_path)) {
                if (streq(method, "POST"))
                        handle_sns(s, req);
                else
                        reply_text(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
                return;
        }
        reply_text(req, MHD_HTTP_NOT_FOUND, "not found\n");
}

static void notify_reloading(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        sd_notifyf(0, "RELOADING=1\nSTATUS=Reloading configuration\nMONOTONIC_USEC=%llu",
                   (unsigned long long)ts.tv_sec * 1000000ULL +
                           (unsigned long long)ts.tv_nsec / 1000ULL);
}

static void log_diagnostics(const struct config_diag *diag)
{
        for (size_t i = 0; i < diag->n_lines; i++)
                log_error("config.invalid", LOG_FIELDS(LF("CONFIG_ERROR", diag->lines[i])), "%s",
                          diag->lines[i]);
}

static void service_reload(struct service *s)
{
        struct config_diag diag = {0};
        struct config *next = NULL;
        char changed[256];
        int r;

        notify_reloading();
        log_info("config.reloading", LOG_FIELDS(LF("CONFIG_FILE", s->config->path)), "reloading %s",
                 s->config->path);

        r = config_load(s->config->path, &next, &diag);
        if (r < 0) {
                log_diagnostics(&diag);
                log_error_errno(
                        r, "config.reload_failed", LOG_FIELDS(LF("CONFIG_FILE", s->config->path)),
                        "%s has errors, keeping the running configuration", s->config->path);
                goto out;
        }

        if (config_restart_only_changes(s->config, next, changed, sizeof(changed)) > 0) {
                log_warning("config.restart_required", LOG_FIELDS(LF("CONFIG_KEYS", changed)),
                            "changes to %s take effect after a restart", changed);
                /* The running values stay, so the config always describes what runs. */
                r = config_keep_restart_only(next, s->config);
                if (r < 0) {
                        log_error_errno(r, "config.reload_failed", LOG_NOFIELDS,
                                        "cannot keep restart-only settings: %m");
                        config_free(next);
                        goto out;
                }
        }

        /* Swap: everything that reads the config looks it up through s->config. */
        apply_log_settings(next);
        http_server_set_max_body(s->http, next->http_max_body);
        config_free(s->config);
        s->config = next;
        log_info("config.reloaded", LOG_FIELDS(LF("CONFIG_FILE", s->config->path)),
                 "configuration reloaded");
out:
        config_diag_done(&diag);
        sd_notify(0, "READY=1\nSTATUS=Serving");
}

static void drain_check_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct service *s = w->data;
        unsigned pending = http_server_pending(s->http);

        if (pending > 0 && ev_now(loop) < s->drain_deadline)
                return;
        if (pending > 0)
                log_warning("service.drain_timeout", LOG_NOFIELDS,
                            "%u requests still pending after %.0f s, stopping anyway", pending,
                            SERVICE_DRAIN_TIMEOUT_S);
        ev_timer_stop(loop, w);
        ev_break(loop, EVBREAK_ALL);
}

static void service_begin_shutdown(struct service *s, const char *why)
{
        if (s->draining)
                return;
        s->draining = true;
        sd_notify(0, "STOPPING=1\nSTATUS=Shutting down");
        log_info("service.stopping", LOG_FIELDS(LF("REASON", why)), "stopping on %s", why);
        http_server_stop_accepting(s->http);
        s->drain_deadline = ev_now(s->loop) + SERVICE_DRAIN_TIMEOUT_S;
        ev_timer_init(&s->drain, drain_check_cb, 0., SERVICE_DRAIN_POLL_S);
        s->drain.data = s;
        ev_timer_start(s->loop, &s->drain);
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
        struct service *s = w->data;

        switch (w->signum) {
        case SIGHUP:
                if (!s->draining)
                        service_reload(s);
                break;
        case SIGTERM:
                service_begin_shutdown(s, "SIGTERM");
                break;
        case SIGINT:
                service_begin_shutdown(s, "SIGINT");
                break;
        }
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        /* Reaching this callback proves the loop turns; that is what systemd asks. */
        sd_notify(0, "WATCHDOG=1");
}

static void watch_signal(struct service *s, ev_signal *w, int signum)
{
        ev_signal_init(w, signal_cb, signum);
        w->data = s;
        ev_signal_start(s->loop, w);
}

static int open_listener(const struct config *c, int *ret_fd)
{
        int r = http_listen(c->http_listen_host, c->http_listen_port, ret_fd);

        if (r < 0)
                return log_error_errno(r, "http.listen_failed",
                                       LOG_FIELDS(LF("ADDRESS", c->http_listen_host)),
                                       "cannot listen on %s port %u: %m", c->http_listen_host,
                                       c->http_listen_port);
        return 0;
}

int service_new(struct ev_loop *loop, struct config *config, int listen_fd, struct service **ret)
{
        struct http_server_options opts = {0};
        struct service *s;
        uint64_t watchdog_usec = 0;
        char host[64] = "", port[8];
        int r;

        s = calloc(1, sizeof(*s));
        if (!s) {
                config_free(config);
                if (listen_fd >= 0)
                        close(listen_fd);
                return -ENOMEM;
        }
        s->loop = loop;
        s->config = config;
        apply_log_settings(config);

        if (listen_fd < 0) {
                r = open_listener(config, &listen_fd);
                if (r < 0)
                        goto fail;
        }
        snprintf(port, sizeof(port), "%d", http_local_address(listen_fd, host, sizeof(host)));

        opts.listen_fd = listen_fd;
        opts.max_connections = config->http_max_connections;
        opts.max_per_ip = config->http_max_per_ip;
        opts.timeout_s = config->http_timeout_s;
        opts.max_body = config->http_max_body;
        r = http_server_new(loop, &opts, request_cb, s, &s->http);
        if (r < 0) {
                log_error_errno(r, "http.start_failed", LOG_NOFIELDS,
                                "cannot start the HTTP server: %m");
                goto fail;
        }

        watch_signal(s, &s->sig_hup, SIGHUP);
        watch_signal(s, &s->sig_term, SIGTERM);
        watch_signal(s, &s->sig_int, SIGINT);

        if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
                ev_timer_init(&s->watchdog, watchdog_cb, 0., (double)watchdog_usec / 2e6);
                s->watchdog.data = s;
                ev_timer_again(loop, &s->watchdog);
        }

        log_info("http.listening",
                 LOG_FIELDS(LF("ADDRESS", host), LF("PORT", port),
                            LF("SNS_PATH", config->http_path)),
                 "listening on %s port %s, SNS endpoint %s", host, port, config->http_path);
        *ret = s;
        return 0;
fail:
        service_free(s);
        return r;
}

int service_run(struct service *s)
{
        sd_notify(0, "READY=1\nSTATUS=Serving");
        log_info("service.ready", LOG_FIELDS(LF("VERSION", TWOWAYD_VERSION)), "twowayd %s ready",
                 TWOWAYD_VERSION);
        ev_run(s->loop, 0);
        log_info("service.stopped", LOG_NOFIELDS, "stopped");
        return s->exit_code;
}

struct service *service_free(struct service *s)
{
        if (!s)
                return NULL;
        ev_signal_stop(s->loop, &s->sig_hup);
        ev_signal_stop(s->loop, &s->sig_term);
        ev_signal_stop(s->loop, &s->sig_int);
        ev_timer_stop(s->loop, &s->watchdog);
        ev_timer_stop(s->loop, &s->drain);
        http_server_free(s->http);
        config_free(s->config);
        free(s);
        return NULL;
}
