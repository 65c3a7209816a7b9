/*
 * service.c — lifecycle of the daemon on its one libev loop.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include <ev.h>
#include <microhttpd.h>
#include <systemd/sd-daemon.h>

#include "aws.h"
#include "aws_creds.h"
#include "cluster.h"
#include "config.h"
#include "dedup.h"
#include "http_client.h"
#include "http_server.h"
#include "ingress.h"
#include "log.h"
#include "metrics.h"
#include "dispatch.h"
#include "netmask.h"
#include "service.h"
#include "spool.h"
#include "work_pool.h"

/* How long SIGTERM waits for requests still being answered. systemd's default
 * TimeoutStopSec is 90 s; stay well inside it. */
#define SERVICE_DRAIN_TIMEOUT_S 10.0
#define SERVICE_DRAIN_POLL_S    0.05
/* Housekeeping: spool retention, and retrying the region lookup. */
#define SERVICE_CRON_S      60.0
#define SERVICE_PRUNE_BATCH 10000
/* After each reload, $RUNTIME_DIRECTORY/reload says when the reload began
 * and how it ended; service_request_reload() (twowayd --reload PID, the
 * unit's ExecReload=) waits for it, since systemd 252 ends a reload job when
 * the ExecReload= command exits, whatever the daemon says with READY=1. */
#define SERVICE_RELOAD_FILE      "reload"
#define SERVICE_RELOAD_WAIT_MS   30000
#define SERVICE_RELOAD_POLL_NSEC (20 * 1000 * 1000)
/* A certificate chain in PEM is a few KiB; anything this large is not one. */
#define SERVICE_PEM_MAX (1024 * 1024)
/* The metrics listener serves a scraper or two and a health check. */
#define SERVICE_METRICS_CONNECTIONS 16u
#define SERVICE_METRICS_MAX_BODY    1024u
/* The ingress's own fetches: its certificate budget (16) and confirmations (8). */
#define SERVICE_FETCHES_IN_FLIGHT 24u

/* The numbers the service reports on /metrics besides the spool's states. */
enum service_count {
        SERVICE_COUNT_SPOOL_STEPS,
        SERVICE_COUNT_SPOOL_COMMITS,
        SERVICE_COUNT_SPOOL_INTERRUPTED_DEAD,
        SERVICE_COUNT_CONNECTIONS,
        SERVICE_COUNT_IN_PROGRESS,
        SERVICE_COUNT_VERIFY_QUEUED,
        SERVICE_COUNT_VERIFY_BUSY,
        SERVICE_COUNT_VERIFY_IDLE,
        SERVICE_COUNT_EVICTED,
        SERVICE_COUNT_REQUEST_TIMEOUT,
        SERVICE_COUNT_REFUSED_PER_IP,
        SERVICE_COUNT_REFUSED_FULL,
        _SERVICE_COUNT_MAX,
};

#define SERVICE_SERIES_MAX 4

/* A family of those numbers, read when /metrics is rendered: one series,
 * counts[0], when it has no label; otherwise values[i] of its label is
 * counts[i]. */
static const struct service_family {
        const char *name;
        const char *help;
        enum metrics_kind kind;
        const char *label;
        const char *values[SERVICE_SERIES_MAX];
        enum service_count counts[SERVICE_SERIES_MAX];
} service_families[] = {
        {.name = "twowayd_spool_sql_steps_total",
         .help = "SQLite virtual-machine steps of the spool's statements (the work they did)",
         .kind = METRICS_COUNTER,
         .counts = {SERVICE_COUNT_SPOOL_STEPS}},
        {.name = "twowayd_spool_commits_total",
         .help = "SQLite commits of the spool: group commits of deliveries and each state "
                 "change of a message",
         .kind = METRICS_COUNTER,
         .counts = {SERVICE_COUNT_SPOOL_COMMITS}},
        {.name = "twowayd_spool_interrupted_dead_total",
         .help = "Messages closed as dead at this start because the daemon had stopped while "
                 "working on each of them too many times",
         .kind = METRICS_COUNTER,
         .counts = {SERVICE_COUNT_SPOOL_INTERRUPTED_DEAD}},
        {.name = "twowayd_http_connections",
         .help = "Open inbound connections",
         .kind = METRICS_GAUGE,
         .counts = {SERVICE_COUNT_CONNECTIONS}},
        {.name = "twowayd_http_requests_in_progress",
         .help = "Complete requests on the SNS listener waiting for their answer",
         .kind = METRICS_GAUGE,
         .counts = {SERVICE_COUNT_IN_PROGRESS}},
        {.name = "twowayd_sns_verify_queue_depth",
         .help = "SNS deliveries waiting for a verification worker ([http] verify_threads); a "
                 "full queue answers 503",
         .kind = METRICS_GAUGE,
         .counts = {SERVICE_COUNT_VERIFY_QUEUED}},
        {.name = "twowayd_sns_verify_workers",
         .help = "Verification worker threads, busy or idle",
         .kind = METRICS_GAUGE,
         .label = "state",
         .values = {"busy", "idle"},
         .counts = {SERVICE_COUNT_VERIFY_BUSY, SERVICE_COUNT_VERIFY_IDLE}},
        {.name = "twowayd_http_connections_closed_total",
         .help = "Connections closed by the connection policy: evicted (the longest waiting, to "
                 "admit a new one), request_timeout (no complete request in time), "
                 "refused_per_ip, refused_full (nothing to evict)",
         .kind = METRICS_COUNTER,
         .label = "reason",
         .values = {"evicted", "request_timeout", "refused_per_ip", "refused_full"},
         .counts = {SERVICE_COUNT_EVICTED, SERVICE_COUNT_REQUEST_TIMEOUT,
                    SERVICE_COUNT_REFUSED_PER_IP, SERVICE_COUNT_REFUSED_FULL}},
};

/* What the collector of service_families[family] is given. */
struct service_family_ref {
        struct service *s;
        size_t family;
};

struct service {
        struct ev_loop *loop;
        struct config *config;
        struct http_server *http;
        struct http_server *metrics_http; /* [http] metrics_listen, or NULL */
        struct http_client *client;
        struct http_client *fetch_client; /* the ingress's: certificates, confirmations */
        struct aws_creds_provider *creds;
        struct aws_client *aws;
        struct spool *spool;
        struct ingress *ingress;
        struct dispatch *dispatch;
        struct cluster *cluster; /* [cluster] table set, once the AWS client exists */
        bool ready_sent;
        bool region_pending;
        bool dispatch_stopped;
        ev_timer cron;
        ev_signal sig_hup;
        ev_signal sig_term;
        ev_signal sig_int;
        ev_timer watchdog;
        ev_timer drain;
        ev_tstamp drain_deadline;
        bool draining;
        int exit_code;
        struct service_family_ref family_refs[ARRAY_SIZE(service_families)];
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
        else if (!spool_is_writable(s->spool))
                reply_text(req, MHD_HTTP_SERVICE_UNAVAILABLE, "spool not writable\n");
        else if (!cluster_is_healthy(s->cluster))
                reply_text(req, MHD_HTTP_SERVICE_UNAVAILABLE, "cluster heartbeat failing\n");
        else
                reply_text(req, MHD_HTTP_OK, "ok\n");
}

static void handle_metrics(struct service *s, struct http_request *req)
{
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = metrics_render(&text, &len);

        if (r < 0) {
                log_error_errno(r, "metrics.render_failed", LOG_NOFIELDS,
                                "cannot render metrics: %m");
                reply_text(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render metrics\n");
                return;
        }
        http_request_reply(req, MHD_HTTP_OK, METRICS_CONTENT_TYPE, text, len);
}

static int collect_spool(void *userdata, struct metrics_emitter *e)
{
        struct service *s = userdata;
        struct spool_counts counts;
        int r = spool_counts(s->spool, &counts);

        if (r < 0)
                return r;
        for (int i = 0; i < _SPOOL_STATE_MAX; i++)
                (void)metrics_emit(e, METRICS_LABELS(spool_state_to_string(i)),
                                   (double)counts.by_state[i]);
        return 0;
}

/* Reads the numbers the service families report. */
static void read_counts(const struct service *s, double ret[static _SERVICE_COUNT_MAX])
{
        struct spool_stats sp;
        struct work_pool_stats pool;
        struct http_server_stats hs;

        spool_get_stats(s->spool, &sp);
        ingress_get_pool_stats(s->ingress, &pool);
        http_server_get_stats(s->http, &hs);
        ret[SERVICE_COUNT_SPOOL_STEPS] = (double)sp.sql_steps;
        ret[SERVICE_COUNT_SPOOL_COMMITS] = (double)sp.commits;
        ret[SERVICE_COUNT_SPOOL_INTERRUPTED_DEAD] = (double)sp.recovered_dead;
        ret[SERVICE_COUNT_CONNECTIONS] = http_server_connections(s->http);
        ret[SERVICE_COUNT_IN_PROGRESS] = http_server_pending(s->http);
        ret[SERVICE_COUNT_VERIFY_QUEUED] = (double)pool.queued;
        ret[SERVICE_COUNT_VERIFY_BUSY] = (double)pool.busy;
        ret[SERVICE_COUNT_VERIFY_IDLE] = (double)(pool.threads - pool.busy);
        ret[SERVICE_COUNT_EVICTED] = (double)hs.evicted_table_full;
        ret[SERVICE_COUNT_REQUEST_TIMEOUT] = (double)hs.closed_request_timeout;
        ret[SERVICE_COUNT_REFUSED_PER_IP] = (double)hs.refused_per_ip;
        ret[SERVICE_COUNT_REFUSED_FULL] = (double)hs.refused_table_full;
}

/* A family's series, one per value of its label (or one when it has none). */
static int collect_family(void *userdata, struct metrics_emitter *e)
{
        const struct service_family_ref *ref = userdata;
        const struct service_family *f = &service_families[ref->family];
        double counts[_SERVICE_COUNT_MAX];
        int r = 0;

        read_counts(ref->s, counts);
        if (!f->label)
                return metrics_emit(e, METRICS_NO_LABELS, counts[f->counts[0]]);
        for (size_t i = 0; r >= 0 && i < SERVICE_SERIES_MAX && f->values[i]; i++)
                r = metrics_emit(e, METRICS_LABELS(f->values[i]), counts[f->counts[i]]);
        return r;
}

static int register_metrics(struct service *s)
{
        int r = metrics_gauge_fn_new("twowayd_spool_messages", "Messages in the spool by state",
                                     METRICS_LABELS("state"), collect_spool, s, NULL);

        for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(service_families); i++) {
                const struct service_family *f = &service_families[i];
                struct metrics_labels labels =
                        f->label ? METRICS_LABELS(f->label) : METRICS_NO_LABELS;

                s->family_refs[i] = (struct service_family_ref){.s = s, .family = i};
                r = f->kind == METRICS_COUNTER
                            ? metrics_counter_fn_new(f->name, f->help, labels, collect_family,
                                                     &s->family_refs[i], NULL)
                            : metrics_gauge_fn_new(f->name, f->help, labels, collect_family,
                                                   &s->family_refs[i], NULL);
        }
        return r < 0 ? log_error_errno(r, "metrics.register_failed", LOG_NOFIELDS,
                                       "cannot register metrics: %m")
                     : 0;
}

static void route_metrics(struct service *s, struct http_request *req)
{
        const char *client = http_request_client(req);

        if (!streq(http_request_method(req), "GET")) {
                reply_text(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
                return;
        }
        if (!netmask_match_any(s->config->http_metrics_allow, s->config->n_http_metrics_allow,
                               client)) {
                log_notice("http.metrics_refused", LOG_FIELDS(LF("CLIENT", client)),
                           "refused GET /metrics from %s: not in [http] metrics_allow", client);
                reply_text(req, MHD_HTTP_FORBIDDEN, "forbidden\n");
                return;
        }
        handle_metrics(s, req);
}

/* The [http] metrics_listen listener: /metrics and /healthz, nothing else. */
static void metrics_request_cb(struct http_request *req, void *userdata)
{
        struct service *s = userdata;
        const char *path = http_request_path(req);

        if (streq(path, "/metrics"))
                route_metrics(s, req);
        else if (streq(path, "/healthz") && (streq(http_request_method(req), "GET") ||
                                             streq(http_request_method(req), "HEAD")))
                handle_healthz(s, req);
        else
                reply_text(req, MHD_HTTP_NOT_FOUND, "not found\n");
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
        if (streq(path, "/metrics") && !s->metrics_http) {
                route_metrics(s, req);
                return;
        }
        if (streq(path, s->config->http_path)) {
                if (streq(method, "POST"))
                        ingress_handle(s->ingress, req);
                else
                        reply_text(req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
                return;
        }
        reply_text(req, MHD_HTTP_NOT_FOUND, "not found\n");
}

static unsigned long long monotonic_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (unsigned long long)ts.tv_sec * 1000000ULL +
               (unsigned long long)ts.tv_nsec / 1000ULL;
}

static void notify_reloading(unsigned long long started_usec)
{
        sd_notifyf(0, "RELOADING=1\nSTATUS=Reloading configuration\nMONOTONIC_USEC=%llu",
                   started_usec);
}

/* "<monotonic µs when the reload began> ok|failed", replaced atomically. Only
 * under systemd with RuntimeDirectory= (RUNTIME_DIRECTORY is set). */
static void record_reload(unsigned long long started_usec, bool ok)
{
        const char *dir = getenv("RUNTIME_DIRECTORY");
        char path[PATH_MAX], tmp[PATH_MAX];
        _cleanup_close_ int fd = -1;

        if (isempty(dir) || strchr(dir, ':'))
                return;
        snprintf(path, sizeof(path), "%s/" SERVICE_RELOAD_FILE, dir);
        snprintf(tmp, sizeof(tmp), "%s/" SERVICE_RELOAD_FILE ".tmp", dir);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 || dprintf(fd, "%llu %s\n", started_usec, ok ? "ok" : "failed") < 0 ||
            rename(tmp, path) < 0)
                log_warning_errno(negative_errno(), "config.reload_status_failed",
                                  LOG_FIELDS(LF("FILE", path)),
                                  "cannot record the reload's outcome in %s: %m", path);
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
        unsigned long long started_usec = monotonic_usec();
        bool ok = false;
        char changed[256];
        int r;

        notify_reloading(started_usec);
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

        r = ingress_set_config(s->ingress, next);
        if (r < 0) {
                log_error_errno(r, "config.reload_failed",
                                LOG_FIELDS(LF("CONFIG_FILE", s->config->path)),
                                "%s cannot be applied, keeping the running configuration: %m",
                                s->config->path);
                config_free(next);
                goto out;
        }
        /* Swap: everything that reads the config looks it up through s->config. */
        if (s->dispatch)
                dispatch_set_config(s->dispatch, next);
        apply_log_settings(next);
        http_server_set_max_body(s->http, next->http_max_body);
        config_free(s->config);
        s->config = next;
        log_info("config.reloaded", LOG_FIELDS(LF("CONFIG_FILE", s->config->path)),
                 "configuration reloaded");
        ok = true;
out:
        config_diag_done(&diag);
        record_reload(started_usec, ok);
        sd_notify(0, "READY=1\nSTATUS=Serving");
}

static void drain_check_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct service *s = w->data;
        unsigned pending = http_server_pending(s->http) + (s->dispatch_stopped ? 0 : 1);

        if (pending > 0 && ev_now(loop) < s->drain_deadline)
                return;
        if (pending > 0)
                log_warning("service.drain_timeout", LOG_NOFIELDS,
                            "%u requests still pending after %.0f s, stopping anyway", pending,
                            SERVICE_DRAIN_TIMEOUT_S);
        ev_timer_stop(loop, w);
        ev_break(loop, EVBREAK_ALL);
}

static void dispatch_stopped_cb(struct dispatch *d, void *userdata)
{
        struct service *s = userdata;

        s->dispatch_stopped = true;
}

static void service_begin_shutdown(struct service *s, const char *why)
{
        if (s->draining)
                return;
        s->draining = true;
        sd_notify(0, "STOPPING=1\nSTATUS=Shutting down");
        log_info("service.stopping", LOG_FIELDS(LF("REASON", why)), "stopping on %s", why);
        http_server_stop_accepting(s->http);
        http_server_stop_accepting(s->metrics_http);
        if (s->dispatch)
                dispatch_stop(s->dispatch, dispatch_stopped_cb, s);
        else
                s->dispatch_stopped = true;
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

static void start_region_lookup(struct service *s);

static void send_ready(struct service *s)
{
        if (s->ready_sent)
                return;
        s->ready_sent = true;
        sd_notify(0, "READY=1\nSTATUS=Serving");
        log_info("service.ready", LOG_FIELDS(LF("VERSION", TWOWAYD_VERSION)), "twowayd %s ready",
                 TWOWAYD_VERSION);
}

static void cluster_ready_cb(void *userdata)
{
        send_ready(userdata);
}

static void cluster_imported_cb(void *userdata)
{
        struct service *s = userdata;

        if (s->dispatch)
                dispatch_kick(s->dispatch);
}

/* [cluster]: the shared table, once the AWS client exists. The daemon says
 * READY=1 after the first heartbeat (or its failure). */
static int start_cluster(struct service *s)
{
        char instance[CLUSTER_NAME_MAX];
        int r;

        if (dedup_instance_name(s->config->spool_dir, instance, sizeof(instance)) < 0)
                (void)snprintf(instance, sizeof(instance), "pid-%d", (int)getpid());
        r = cluster_new(
                &(struct cluster_options){
                        .loop = s->loop,
                        .aws = s->aws,
                        .spool = s->spool,
                        .table = s->config->cluster_table,
                        .instance = instance,
                        .lease_seconds = s->config->cluster_lease_seconds,
                        .record_ttl_days = s->config->cluster_record_ttl_days,
                        .max_age_s = s->config->dispatch_max_age_s,
                        .imported = cluster_imported_cb,
                        .userdata = s,
                },
                &s->cluster);
        if (r < 0)
                return log_error_errno(r, "cluster.start_failed", LOG_NOFIELDS,
                                       "cannot start cluster mode: %m");
        dispatch_set_cluster(s->dispatch, s->cluster);
        ingress_set_cluster(s->ingress, s->cluster);
        cluster_start(s->cluster, cluster_ready_cb, s);
        log_info(
                "cluster.started",
                LOG_FIELDS(LF("CLUSTER_TABLE", s->config->cluster_table), LF("INSTANCE", instance)),
                "cluster mode on table %s as instance %s", s->config->cluster_table, instance);
        return 0;
}

/* The AWS client needs a region; once it has one, the dispatcher can start. */
static void region_cb(int r, const char *region, const char *source, void *userdata)
{
        struct service *s = userdata;

        s->region_pending = false;
        if (r == -ECANCELED)
                return;
        if (r < 0) {
                log_error_errno(r, "aws.no_region", LOG_NOFIELDS,
                                "no AWS region ([aws] region, AWS_REGION, profile or instance "
                                "metadata): messages are stored but not answered; will retry: %m");
                send_ready(s);
                return;
        }
        r = aws_client_new(s->loop,
                           &(struct aws_client_options){
                                   .http = s->client,
                                   .creds = s->creds,
                                   .region = region,
                           },
                           &s->aws);
        if (r < 0) {
                log_error_errno(r, "aws.client_failed", LOG_NOFIELDS,
                                "cannot create the AWS client: %m");
                return;
        }
        r = dispatch_new(s->loop, s->config, s->spool, s->aws, &s->dispatch);
        if (r < 0) {
                log_error_errno(r, "pipeline.start_failed", LOG_NOFIELDS,
                                "cannot start the dispatcher: %m");
                s->aws = aws_client_free(s->aws);
                send_ready(s);
                return;
        }
        if (s->config->cluster_table && start_cluster(s) < 0) {
                s->dispatch = dispatch_free(s->dispatch);
                s->aws = aws_client_free(s->aws);
                send_ready(s);
                return;
        }
        log_info("aws.region", LOG_FIELDS(LF("AWS_REGION", region), LF("SOURCE", source)),
                 "using AWS region %s (from %s)", region, source);
}

static void start_region_lookup(struct service *s)
{
        int r;

        if (s->aws || s->region_pending)
                return;
        r = aws_creds_region_resolve(s->creds, s->config->aws_region, region_cb, s);
        if (r < 0)
                log_error_errno(r, "aws.no_region", LOG_NOFIELDS,
                                "cannot look up the AWS region: %m");
        else
                s->region_pending = true;
}

static void stored_cb(void *userdata)
{
        struct service *s = userdata;

        if (s->dispatch)
                dispatch_kick(s->dispatch);
}

static void cron_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct service *s = w->data;
        int64_t cutoff = (int64_t)(ev_now(loop) * 1000.0) -
                         (int64_t)s->config->spool_retention_days * 86400 * 1000;
        int r;

        start_region_lookup(s);
        r = spool_prune(s->spool, cutoff, SERVICE_PRUNE_BATCH);
        if (r > 0)
                log_info("spool.pruned", LOG_NOFIELDS, "removed %d answered messages", r);
        else if (r < 0)
                log_warning_errno(r, "spool.prune_failed", LOG_NOFIELDS,
                                  "cannot prune the spool, will retry: %m");
}

static void log_spool_open_failed(const char *dir, int r)
{
        char pid[24] = "unknown";
        long holder;

        if (r != -EBUSY) {
                log_error_errno(r, "spool.open_failed", LOG_FIELDS(LF("SPOOL_DIR", dir)),
                                "cannot open the spool in %s: %m", dir);
                return;
        }
        if (spool_lock_holder(dir, &holder) >= 0)
                snprintf(pid, sizeof(pid), "%ld", holder);
        log_error_errno(r, "spool.locked", LOG_FIELDS(LF("SPOOL_DIR", dir), LF("HOLDER_PID", pid)),
                        "the spool in %s is in use by another twowayd (pid %s): exiting without "
                        "touching it",
                        dir, pid);
}

static int start_metrics_listener(struct service *s)
{
        const struct config *c = s->config;
        char host[64] = "", port[8];
        int fd = -1, r;

        if (!c->http_metrics_listen_host)
                return 0;
        r = http_listen(c->http_metrics_listen_host, c->http_metrics_listen_port, &fd);
        if (r < 0)
                return log_error_errno(r, "http.listen_failed",
                                       LOG_FIELDS(LF("ADDRESS", c->http_metrics_listen_host)),
                                       "cannot listen on %s port %u for metrics: %m",
                                       c->http_metrics_listen_host, c->http_metrics_listen_port);
        snprintf(port, sizeof(port), "%d", http_local_address(fd, host, sizeof(host)));
        r = http_server_new(s->loop,
                            &(struct http_server_options){
                                    .listen_fd = fd,
                                    .max_connections = SERVICE_METRICS_CONNECTIONS,
                                    .timeout_s = c->http_timeout_s,
                                    .request_timeout_s = c->http_request_timeout_s,
                                    .max_body = SERVICE_METRICS_MAX_BODY,
                            },
                            metrics_request_cb, s, &s->metrics_http);
        if (r < 0)
                return log_error_errno(r, "http.start_failed", LOG_NOFIELDS,
                                       "cannot start the metrics listener: %m");
        log_info("http.metrics_listening", LOG_FIELDS(LF("ADDRESS", host), LF("PORT", port)),
                 "metrics on %s port %s", host, port);
        return 0;
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

/* The whole of a PEM file, NUL-terminated (the listener takes PEM text). */
static int read_pem(const char *path, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -1;
        size_t len = 0;
        ssize_t n;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        buf = malloc(SERVICE_PEM_MAX + 1);
        if (!buf)
                return -ENOMEM;
        while (len < SERVICE_PEM_MAX) {
                n = read(fd, buf + len, SERVICE_PEM_MAX - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = negative_errno();

                        explicit_wipe(buf, len);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len == SERVICE_PEM_MAX) {
                explicit_wipe(buf, len);
                return -EFBIG;
        }
        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        return 0;
}

/* The certificate and key for native HTTPS, when [http] tls_cert is set. */
static int read_tls_files(const struct config *c, char **ret_cert, char **ret_key)
{
        const char *failed = c->http_tls_cert;
        int r = read_pem(c->http_tls_cert, ret_cert);

        if (r >= 0) {
                failed = c->http_tls_key;
                r = read_pem(c->http_tls_key, ret_key);
                if (r < 0) {
                        free(*ret_cert);
                        *ret_cert = NULL;
                }
        }
        if (r < 0)
                return log_error_errno(r, "http.tls_failed", LOG_FIELDS(LF("FILE", failed)),
                                       "cannot read %s: %m", failed);
        return 0;
}

int service_new(struct ev_loop *loop, struct config *config, int listen_fd, struct service **ret)
{
        struct http_server_options opts = {0};
        _cleanup_free_ char *tls_cert = NULL;
        _cleanup_(erase_and_freep) char *tls_key = NULL;
        bool tls = config->http_tls_cert && config->http_tls_key;
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
        if (config->dedup_table)
                log_warning("config.deprecated", LOG_FIELDS(LF("CONFIG_KEY", "dedup.table")),
                            "[dedup] table is replaced by [cluster] table, which also orders each "
                            "sender's messages and takes over a dead instance's work; see "
                            "twowayd.conf(5)");

        r = spool_open(loop,
                       &(struct spool_options){
                               .dir = config->spool_dir,
                               .min_free_bytes = config->spool_min_free,
                       },
                       &s->spool);
        if (r < 0) {
                log_spool_open_failed(config->spool_dir, r);
                goto fail;
        }
        if (spool_moved_aside(s->spool))
                log_full_errno(LOG_CRIT, -EBADMSG, "spool.corrupt",
                               LOG_FIELDS(LF("SPOOL_DIR", config->spool_dir),
                                          LF("MOVED_TO", spool_moved_aside(s->spool))),
                               "the spool in %s failed its integrity check: moved to %s, "
                               "serving with a fresh spool; recover its rows with 'twowayctl "
                               "spool salvage %s'",
                               config->spool_dir, spool_moved_aside(s->spool),
                               spool_moved_aside(s->spool));
        /* Every message being worked on may hold one AWS call; leave room for
         * credential refreshes beside them. */
        r = http_client_new(loop,
                            &(struct http_client_options){
                                    .ca_bundle = config->aws_ca_bundle,
                                    .max_in_flight = config->dispatch_concurrency +
                                                     HTTP_CLIENT_MAX_IN_FLIGHT_DEFAULT,
                            },
                            &s->client);
        if (r < 0) {
                log_error_errno(r, "http.client_failed", LOG_NOFIELDS,
                                "cannot create the HTTP client: %m");
                goto fail;
        }
        r = aws_creds_provider_new(loop, &(struct aws_creds_options){.http = s->client}, &s->creds);
        if (r < 0) {
                log_error_errno(r, "aws.creds_failed", LOG_NOFIELDS,
                                "cannot set up AWS credentials: %m");
                goto fail;
        }
        /* The ingress fetches certificates and SubscribeURLs for unsigned,
         * unknown requests: on a client of its own, so that a slow certificate
         * host never delays the pipeline's AWS calls. */
        r = http_client_new(loop,
                            &(struct http_client_options){
                                    .ca_bundle = config->aws_ca_bundle,
                                    .max_in_flight = SERVICE_FETCHES_IN_FLIGHT,
                            },
                            &s->fetch_client);
        if (r < 0) {
                log_error_errno(r, "http.client_failed", LOG_NOFIELDS,
                                "cannot create the HTTP client: %m");
                goto fail;
        }
        r = ingress_new(loop, config, s->spool, s->fetch_client, stored_cb, s, &s->ingress);
        if (r < 0)
                goto fail;
        r = register_metrics(s);
        if (r < 0)
                goto fail;

        if (tls) {
                r = read_tls_files(config, &tls_cert, &tls_key);
                if (r < 0)
                        goto fail;
        }
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
        opts.request_timeout_s = config->http_request_timeout_s;
        opts.max_body = config->http_max_body;
        opts.tls_cert_pem = tls_cert;
        opts.tls_key_pem = tls_key;
        r = http_server_new(loop, &opts, request_cb, s, &s->http);
        listen_fd = -1; /* the server owns it now, even when it failed */
        if (r < 0) {
                log_error_errno(r, "http.start_failed", LOG_NOFIELDS,
                                "cannot start the HTTP server: %m");
                goto fail;
        }

        r = start_metrics_listener(s);
        if (r < 0)
                goto fail;

        watch_signal(s, &s->sig_hup, SIGHUP);
        watch_signal(s, &s->sig_term, SIGTERM);
        watch_signal(s, &s->sig_int, SIGINT);

        if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
                ev_timer_init(&s->watchdog, watchdog_cb, 0., (double)watchdog_usec / 2e6);
                s->watchdog.data = s;
                ev_timer_again(loop, &s->watchdog);
        }

        ev_timer_init(&s->cron, cron_cb, SERVICE_CRON_S, SERVICE_CRON_S);
        s->cron.data = s;
        ev_timer_start(loop, &s->cron);
        aws_creds_prefetch(s->creds);
        start_region_lookup(s);

        log_info("http.listening",
                 LOG_FIELDS(LF("ADDRESS", host), LF("PORT", port),
                            LF("PROTOCOL", tls ? "https" : "http"),
                            LF("SNS_PATH", config->http_path)),
                 "listening on %s port %s (%s), SNS endpoint %s", host, port,
                 tls ? "HTTPS" : "plain HTTP", config->http_path);
        *ret = s;
        return 0;
fail:
        if (listen_fd >= 0)
                close(listen_fd);
        service_free(s);
        return r;
}

int service_run(struct service *s)
{
        /* In cluster mode, after the first heartbeat (cluster_ready_cb). */
        if (!s->config->cluster_table)
                send_ready(s);
        ev_run(s->loop, 0);
        log_info("service.stopped", LOG_NOFIELDS, "stopped");
        return s->exit_code;
}

/* Reads the reload file: 1 with its start time and outcome, 0 if absent. */
static int read_reload_status(const char *path, unsigned long long *ret_usec, bool *ret_ok)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char buf[64], word[16];
        ssize_t n;

        if (fd < 0)
                return errno == ENOENT ? 0 : negative_errno();
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return negative_errno();
        buf[n] = '\0';
        if (sscanf(buf, "%llu %15s", ret_usec, word) != 2)
                return -EBADMSG;
        *ret_ok = streq(word, "ok");
        return 1;
}

int service_request_reload(pid_t pid)
{
        const char *dir = getenv("RUNTIME_DIRECTORY");
        unsigned long long asked = monotonic_usec(), started = 0;
        char path[PATH_MAX];
        bool ok = false;

        if (kill(pid, SIGHUP) < 0)
                return negative_errno();
        /* Without the runtime directory there is nothing to wait for. */
        if (isempty(dir) || strchr(dir, ':'))
                return 0;
        snprintf(path, sizeof(path), "%s/" SERVICE_RELOAD_FILE, dir);
        for (unsigned waited = 0; waited < SERVICE_RELOAD_WAIT_MS;
             waited += SERVICE_RELOAD_POLL_NSEC / 1000000) {
                int r = read_reload_status(path, &started, &ok);

                if (r < 0 && r != -EBADMSG)
                        return r;
                /* A reload that began before the signal may have read the old file. */
                if (r > 0 && started >= asked)
                        return ok ? 0 : -EINVAL;
                if (kill(pid, 0) < 0)
                        return -ESRCH;
                nanosleep(&(struct timespec){0, SERVICE_RELOAD_POLL_NSEC}, NULL);
        }
        return -ETIMEDOUT;
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
        ev_timer_stop(s->loop, &s->cron);
        /* Order matters: each is freed before what it borrows, and the ingress
         * last, since the server, spool and client complete their callbacks
         * into it as they go. */
        http_server_free(s->http);
        http_server_free(s->metrics_http);
        dispatch_free(s->dispatch);
        cluster_free(s->cluster);
        aws_client_free(s->aws);
        spool_free(s->spool);
        aws_creds_provider_free(s->creds);
        http_client_free(s->client);
        http_client_free(s->fetch_client);
        ingress_free(s->ingress);
        metrics_reset();
        config_free(s->config);
        free(s);
        return NULL;
}
