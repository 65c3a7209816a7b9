/*
 * ctl_cmd_status.c — twowayctl status: the account's phone numbers.
 */
#include <stdio.h>

#include "common.h"
#include "ctl.h"
#include "ctl_cmd.h"
#include "ctl_phone.h"
#include "ctl_table.h"

static const char usage[] =
        "usage: twowayctl status [--json] [-c FILE]\n"
        "\n"
        "The phone numbers of the account in the configured region (DescribePhoneNumbers):\n"
        "number, id, status, type, message type, two-way messaging and its channel,\n"
        "self-managed opt-outs. --json prints them as an array of objects.\n";

int ctl_cmd_status(struct ctl *ctl, int argc, char **argv)
{
        struct ctl_cmdline cl;
        json_t *numbers = NULL;
        int r, code;

        if (!ctl_cmd_begin(ctl, argc, argv, NULL, 0, 0, usage, CTL_NEEDS_AWS, &cl, &code))
                return code;
        r = ctl_phone_list(ctl, &numbers);
        if (r < 0)
                return CTL_EXIT_FAIL;
        if (ctl->json)
                r = ctl_print_json(ctl_phone_json(numbers));
        else if (json_array_size(numbers) == 0) {
                printf("No phone numbers in this account (region %s).\n", ctl->region);
                r = 0;
        } else {
                struct ctl_table *t = ctl_phone_table(numbers);
                char *s = ctl_table_format(t);

                r = s ? 0 : -ENOMEM;
                if (s)
                        fputs(s, stdout);
                free(s);
                ctl_table_free(t);
        }
        json_decref(numbers);
        if (r < 0) {
                ctl_errorf("%s", strerror(-r));
                return CTL_EXIT_FAIL;
        }
        return CTL_EXIT_OK;
}
