/*
 * twowayctl — the operator's tool for twowayd: phone number status, setup
 * and checks, consent records, the local spool, test sends.
 *
 *   twowayctl [-c FILE] [-v] [--json] COMMAND [ARGS...]
 *
 * It reads the daemon's config file and uses the daemon's AWS request core
 * (credential chain, region, endpoint overrides, SigV4, retries) on its own
 * libev loop, one call at a time.
 */
#include <signal.h>
#include <stdio.h>

#include "common.h"
#include "config.h"
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_cmd.h"
#include "log.h"

static const char usage[] =
        "usage: twowayctl [-c FILE] [-v] [--json] COMMAND [ARGS...]\n"
        "\n"
        "Commands:\n"
        "  status                          phone numbers of the account and their two-way "
        "settings\n"
        "  setup --phone-number ID|+E164 --topic-arn ARN --endpoint URL [--dry-run]\n"
        "                                  connect a number to twowayd (idempotent)\n"
        "  setup --cluster-table NAME [--dry-run]\n"
        "                                  create the cluster table (idempotent)\n"
        "  doctor                          check everything twowayd depends on\n"
        "  consent get|opt-out|opt-in +E164 [--note TEXT]\n"
        "                                  read or change a consent record\n"
        "  spool ls|show ID|retry ID|purge ID\n"
        "                                  the daemon's local queue\n"
        "  dlq ls|replay                   what SNS could not deliver: list it, or\n"
        "                                  replay it into the daemon\n"
        "  send --to +E164 --body TEXT     send one SMS\n"
        "  simulate --from +E164 --body TEXT\n"
        "                                  publish an inbound-shaped message to the topic\n"
        "\n"
        "Options (also accepted after the command):\n"
        "  -c, --config FILE   the daemon's config (default " CONFIG_DEFAULT_PATH ")\n"
        "  --json              machine-readable output\n"
        "  -v, --verbose       log every AWS attempt on stderr\n"
        "  -h, --help          this text; 'twowayctl COMMAND --help' for a command\n"
        "  --version\n"
        "\n"
        "AWS credentials, region and endpoints come from the same places as for\n"
        "twowayd: the environment, the shared profile files, or the instance role.\n"
        "\n"
        "Exit status: 0 success; 1 an operation or a check failed; 2 bad usage;\n"
        "3 the config file cannot be used; 4 (setup) the phone number is not ACTIVE\n"
        "yet; 5 (setup) the subscription was not confirmed, or the cluster table not\n"
        "ACTIVE, in time.\n";

static const struct {
        const char *name;
        int (*run)(struct ctl *ctl, int argc, char **argv);
} commands[] = {
        {"status", ctl_cmd_status},     {"setup", ctl_cmd_setup}, {"doctor", ctl_cmd_doctor},
        {"consent", ctl_cmd_consent},   {"spool", ctl_cmd_spool}, {"send", ctl_cmd_send},
        {"simulate", ctl_cmd_simulate}, {"dlq", ctl_cmd_dlq},
};

int main(int argc, char **argv)
{
        static const struct ctl_opt global[] = {
                {"config", 'c', true}, {"json", 0, false},    {"verbose", 'v', false},
                {"help", 'h', false},  {"version", 0, false},
        };
        struct ctl ctl = {.config_path = CONFIG_DEFAULT_PATH};
        struct ctl_args a;
        char err[256];
        const char *name;
        int r;

        signal(SIGPIPE, SIG_IGN);
        log_setup(LOG_TARGET_JSON);
        log_set_max_level(LOG_CRIT);

        r = ctl_args_parse(argc - 1, argv + 1, global, ARRAY_SIZE(global), 0, true, &a, err,
                           sizeof(err));
        if (r < 0)
                return ctl_cmd_usage_error(usage, "%s", err);
        if (ctl_args_has(&a, "help")) {
                fputs(usage, stdout);
                return CTL_EXIT_OK;
        }
        if (ctl_args_has(&a, "version")) {
                printf("twowayctl " TWOWAYD_VERSION "\n");
                return CTL_EXIT_OK;
        }
        if (ctl_args_has(&a, "config"))
                ctl.config_path = ctl_args_get(&a, "config");
        ctl.json = ctl_args_has(&a, "json");
        ctl.verbose = ctl_args_has(&a, "verbose");

        if (1 + a.next >= argc)
                return ctl_cmd_usage_error(usage, "no command given");
        name = argv[1 + a.next];
        if (streq(name, "help")) {
                fputs(usage, stdout);
                return CTL_EXIT_OK;
        }
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
                if (streq(commands[i].name, name)) {
                        r = commands[i].run(&ctl, argc - 1 - a.next, argv + 1 + a.next);
                        ctl_done(&ctl);
                        fflush(stdout);
                        return r;
                }
        return ctl_cmd_usage_error(usage, "unknown command '%s'", name);
}
