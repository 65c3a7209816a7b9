/*
 * ctl_cmd.h — twowayctl's commands and what they share: the common options
 * (-c FILE, --json, -v, -h), usage errors, config loading.
 *
 * Every command takes (ctl, argc, argv) with argv[0] the command name, and
 * returns an exit code (ctl.h). Results go to stdout, errors to stderr.
 */
#ifndef TWOWAYD_CTL_CMD_H
#define TWOWAYD_CTL_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common.h"
#include "ctl_args.h"

struct ctl;

struct ctl_cmdline {
        struct ctl_opt opts[CTL_ARGS_MAX_OPTS];
        size_t n_opts;
        struct ctl_args args;
};

enum ctl_needs {
        CTL_NEEDS_CONFIG, /* the config file */
        CTL_NEEDS_AWS,    /* the config, credentials, region and AWS client */
};

/* Parse argv (argv[0] is the command) with opts plus the common options;
 * handle --help (usage on stdout), usage errors (on stderr), -c, --json, -v,
 * then load what the command needs. Returns true to go on; false with
 * *ret_exit set otherwise. The command reads its options from ret->args by
 * name (ctl_args_get(), ctl_args_has()). */
bool ctl_cmd_begin(struct ctl *ctl, int argc, char **argv, const struct ctl_opt *opts,
                   size_t n_opts, size_t max_pos, const char *usage, enum ctl_needs needs,
                   struct ctl_cmdline *ret, int *ret_exit);
/* Print "twowayctl: MESSAGE" and the usage hint; returns CTL_EXIT_USAGE. */
int ctl_cmd_usage_error(const char *usage, const char *fmt, ...) _printf_(2, 3);
/* Pretty JSON and a newline on stdout; consumes o. Returns 0 or -ENOMEM. */
int ctl_print_json(json_t *o);

int ctl_cmd_status(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_setup(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_doctor(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_consent(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_spool(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_send(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_simulate(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_dlq(struct ctl *ctl, int argc, char **argv);

#endif
