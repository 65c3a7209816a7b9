/*
 * service.h — the daemon's lifecycle: config, listener, signals, systemd.
 *
 * One libev loop, one thread. Signals are libev watchers, so handlers run as
 * ordinary loop callbacks and never interrupt work. The service tells systemd
 * where it is (READY=1 once listening, RELOADING=1/READY=1 around a SIGHUP,
 * STOPPING=1 on SIGTERM/SIGINT, WATCHDOG=1 while the loop turns) and routes
 * HTTP requests: GET /healthz, the SNS endpoint, 404 elsewhere.
 *
 * Reload builds a whole new config and swaps it in only when it is valid; a
 * broken file is reported and the running config is kept. Shutdown stops
 * accepting, waits (bounded) for requests still being answered, and returns.
 *
 * Ownership: service_new() takes the config and the listen fd; service_free()
 * releases everything it owns.
 */
#ifndef TWOWAYD_SERVICE_H
#define TWOWAYD_SERVICE_H

#include <sys/types.h>

struct ev_loop;
struct config;
struct service;

/* listen_fd: a listening socket handed over by systemd, or -1 to bind the
 * address in the config. */
int service_new(struct ev_loop *loop, struct config *config, int listen_fd, struct service **ret);
struct service *service_free(struct service *s);

/* Run the loop until a stop signal has been handled; returns an exit status. */
int service_run(struct service *s);

/* twowayd --reload PID: send SIGHUP to the daemon PID and, under systemd
 * (RUNTIME_DIRECTORY set, as for the daemon itself), wait until it has
 * reloaded. 0: the new configuration is in effect; -EINVAL: the daemon
 * refused it (the reasons are in its log); -ETIMEDOUT: no answer within 30 s;
 * -ESRCH: the daemon is gone. Without RUNTIME_DIRECTORY it only signals. */
int service_request_reload(pid_t pid);

#endif
