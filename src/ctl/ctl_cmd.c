/*
 * ctl_cmd.c — what twowayctl's commands share.
 */
#include <stdarg.h>
#include <stdio.h>

#include "common.h"
#include "config.h"
#include "ctl.h"
#include "ctl_cmd.h"
#include "log.h"

static const struct ctl_opt common_opts[] = {
        {"config", 'c', true},
        {"json", 0, false},
        {"verbose", 'v', false},
        {"help", 'h', false},
};

int ctl_cmd_usage_error(const char *usage, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        ctl_verrorf(fmt, ap);
        va_end(ap);
        if (usage) {
                const char *nl = strchr(usage, '\n');

                fprintf(stderr, "%.*s\n", nl ? (int)(nl - usage) : (int)strlen(usage), usage);
        }
        fputs("Try 'twowayctl --help' or 'twowayctl COMMAND --help'.\n", stderr);
        return CTL_EXIT_USAGE;
}

bool ctl_cmd_begin(struct ctl *ctl, int argc, char **argv, const struct ctl_opt *opts,
                   size_t n_opts, size_t max_pos, const char *usage, enum ctl_needs needs,
                   struct ctl_cmdline *ret, int *ret_exit)
{
        char err[256];
        int r;

        *ret = (struct ctl_cmdline){0};
        if (n_opts + ARRAY_SIZE(common_opts) > CTL_ARGS_MAX_OPTS) {
                *ret_exit = CTL_EXIT_FAIL;
                return false;
        }
        if (n_opts)
                memcpy(ret->opts, opts, n_opts * sizeof(*opts));
        memcpy(ret->opts + n_opts, common_opts, sizeof(common_opts));
        ret->n_opts = n_opts + ARRAY_SIZE(common_opts);

        r = ctl_args_parse(argc - 1, argv + 1, ret->opts, ret->n_opts, max_pos, false, &ret->args,
                           err, sizeof(err));
        if (r < 0) {
                *ret_exit = ctl_cmd_usage_error(usage, "%s", err);
                return false;
        }
        if (ctl_args_has(&ret->args, "help")) {
                fputs(usage, stdout);
                *ret_exit = CTL_EXIT_OK;
                return false;
        }
        if (ctl_args_has(&ret->args, "config"))
                ctl->config_path = ctl_args_get(&ret->args, "config");
        if (ctl_args_has(&ret->args, "json"))
                ctl->json = true;
        if (ctl_args_has(&ret->args, "verbose"))
                ctl->verbose = true;
        log_set_max_level(ctl->verbose ? LOG_DEBUG : LOG_CRIT);

        if (!ctl->config) {
                r = ctl_load_config(ctl);
                if (r != 0) {
                        *ret_exit = r;
                        return false;
                }
        }
        if (needs == CTL_NEEDS_AWS && ctl_aws(ctl) < 0) {
                *ret_exit = CTL_EXIT_FAIL;
                return false;
        }
        return true;
}

int ctl_print_json(json_t *o)
{
        char *s;

        if (!o)
                return -ENOMEM;
        s = json_dumps(o, JSON_INDENT(2));
        json_decref(o);
        if (!s)
                return -ENOMEM;
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
        return 0;
}
