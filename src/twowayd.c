/*
 * twowayd.c — entry point: arguments, config check mode, socket activation,
 * then hand over to the service loop. Runs in the foreground; systemd (or the
 * operator's shell) supervises it.
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>

#include <ev.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "log.h"
#include "service.h"

static const char *arg_config = CONFIG_DEFAULT_PATH;
static bool arg_test;
static pid_t arg_reload_pid;

enum {
        ARG_RELOAD = 0x100
};

static void help(void)
{
        printf("Usage: %s [OPTIONS]\n\n"
               "Answer inbound two-way SMS from AWS End User Messaging, delivered by SNS.\n\n"
               "  -c, --config=FILE  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
               "  -t, --test         check the configuration and exit\n"
               "      --reload PID   make the daemon PID reload its configuration; under\n"
               "                     systemd, wait until it has (exit 1 if it refused)\n"
               "  -h, --help         show this help and exit\n"
               "  -V, --version      show the version and exit\n\n"
               "Signals: SIGHUP reloads the configuration; SIGTERM and SIGINT stop after\n"
               "in-flight requests are answered.\n",
               program_invocation_short_name);
}

/* Returns 1 to continue, 0 to exit successfully, -EINVAL on bad usage. */
static int parse_argv(int argc, char *argv[])
{
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"test", no_argument, NULL, 't'},
                {"reload", required_argument, NULL, ARG_RELOAD},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {},
        };
        long pid;
        char *end;
        int c;

        while ((c = getopt_long(argc, argv, "c:thV", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case 't':
                        arg_test = true;
                        break;
                case ARG_RELOAD:
                        errno = 0;
                        pid = strtol(optarg, &end, 10);
                        if (errno != 0 || *end != '\0' || pid <= 1 || pid > INT_MAX) {
                                fprintf(stderr, "%s: --reload needs a process id, not '%s'\n",
                                        program_invocation_short_name, optarg);
                                return -EINVAL;
                        }
                        arg_reload_pid = (pid_t)pid;
                        break;
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("twowayd %s\n", TWOWAYD_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try '%s --help'.\n", program_invocation_short_name);
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument '%s'\n", program_invocation_short_name,
                        argv[optind]);
                return -EINVAL;
        }
        return 1;
}

/* The unit's ExecReload=: the reload job ends when the daemon has reloaded. */
static int request_reload(pid_t pid)
{
        int r = service_request_reload(pid);

        if (r == 0)
                return EXIT_SUCCESS;
        if (r == -EINVAL)
                fprintf(stderr,
                        "%s: twowayd (PID %d) kept its running configuration: the new one "
                        "cannot be applied (its log says why)\n",
                        program_invocation_short_name, (int)pid);
        else if (r == -ETIMEDOUT)
                fprintf(stderr, "%s: twowayd (PID %d) did not finish reloading within 30 s\n",
                        program_invocation_short_name, (int)pid);
        else
                fprintf(stderr, "%s: cannot reload twowayd (PID %d): %s\n",
                        program_invocation_short_name, (int)pid, strerror(-r));
        return EXIT_FAILURE;
}

static int load_config(struct config **ret)
{
        struct config_diag diag = {0};
        int r = config_load(arg_config, ret, &diag);

        /* Diagnostics are for a person: plain "FILE:LINE: message" lines. */
        for (size_t i = 0; i < diag.n_lines; i++)
                fprintf(stderr, "%s\n", diag.lines[i]);
        config_diag_done(&diag);
        return r;
}

/* A socket from systemd (twowayd.socket) replaces the configured listen address. */
static int inherited_listener(int *ret_fd)
{
        int n = sd_listen_fds(1);
        int fd = SD_LISTEN_FDS_START;

        if (n < 0)
                return log_error_errno(n, "service.socket_activation", LOG_NOFIELDS,
                                       "cannot read passed file descriptors: %m");
        if (n == 0) {
                *ret_fd = -1;
                return 0;
        }
        if (n > 1 || sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
                return log_error_errno(-EINVAL, "service.socket_activation", LOG_NOFIELDS,
                                       "expected one listening stream socket from systemd, "
                                       "got %d descriptors",
                                       n);
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
                return log_error_errno(negative_errno(), "service.socket_activation", LOG_NOFIELDS,
                                       "cannot make the socket non-blocking: %m");
        log_info("service.socket_activation", LOG_NOFIELDS, "using the socket passed by systemd");
        *ret_fd = fd;
        return 0;
}

int main(int argc, char *argv[])
{
        struct config *config = NULL;
        struct service *service = NULL;
        struct ev_loop *loop;
        int listen_fd = -1, r;

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (arg_reload_pid > 0)
                return request_reload(arg_reload_pid);

        log_setup(LOG_TARGET_AUTO);

        r = load_config(&config);
        if (arg_test) {
                if (r < 0)
                        return EXIT_FAILURE;
                printf("%s: configuration OK\n", arg_config);
                config_free(config);
                return EXIT_SUCCESS;
        }
        if (r < 0) {
                log_error_errno(r, "config.invalid", LOG_FIELDS(LF("CONFIG_FILE", arg_config)),
                                "cannot start: %s has errors", arg_config);
                return EXIT_FAILURE;
        }

        /* A peer closing early must give EPIPE on write, not kill the daemon. */
        signal(SIGPIPE, SIG_IGN);

        r = inherited_listener(&listen_fd);
        if (r < 0) {
                config_free(config);
                return EXIT_FAILURE;
        }

        /* Signal watchers need libev's default loop. */
        loop = ev_default_loop(EVFLAG_AUTO | EVFLAG_NOENV);
        if (!loop) {
                config_free(config);
                fprintf(stderr, "cannot create the event loop\n");
                return EXIT_FAILURE;
        }

        r = service_new(loop, config, listen_fd, &service);
        if (r < 0) {
                ev_loop_destroy(loop);
                return EXIT_FAILURE;
        }
        r = service_run(service);
        service_free(service);
        ev_loop_destroy(loop);
        return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
