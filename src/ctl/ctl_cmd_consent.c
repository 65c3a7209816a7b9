/*
 * ctl_cmd_consent.c — twowayctl consent get|opt-out|opt-in: support staff
 * reading and changing a consent record.
 *
 * Changes are written by consent_set(), exactly as the daemon writes them
 * (compare-and-swap on the version, the bounded consent_history, the change
 * count), with method "manual", an inbound_message_id of
 * "manual:<uuid>" (it never matches a real message, so a later retry of a
 * real STOP is decided afresh) and, in the history entry, the operator's
 * note and login name.
 */
#include <pwd.h>
#include <stdio.h>
#include <time.h>

#include "aws_names.h"
#include "business_days.h"
#include "common.h"
#include "config.h"
#include "consent.h"
#include "ctl.h"
#include "ctl_cmd.h"
#include "ctl_consent.h"
#include "ctl_table.h"
#include "ddb.h"

static const char usage[] =
        "usage: twowayctl consent get +E164 [--json] [-c FILE]\n"
        "       twowayctl consent opt-out +E164 [--note TEXT] [-c FILE]\n"
        "       twowayctl consent opt-in +E164 [--note TEXT] [-c FILE]\n"
        "\n"
        "Read or change the consent record of a number in the [consent] table.\n"
        "opt-out and opt-in write consent_status with method 'manual' (opt_out_method or\n"
        "opt_in_method), an opt-out deadline of [consent] business_days business days,\n"
        "and a consent_history entry carrying --note and the operator's login name,\n"
        "exactly as twowayd writes a keyword's change. Nothing is sent to the number.\n"
        "A number already in the requested state is left alone.\n";

static const struct ctl_opt opts[] = {
        {"note", 0, true},
};

/* The item as the daemon reads it (consent_get_request_build()), kept whole to show it. */
static int read_item(struct ctl *ctl, const char *phone, json_t **ret)
{
        struct consent_get_request rd;
        struct ctl_reply rep;
        int r;

        r = consent_get_request_build(ctl->config->consent_table, phone, &rd);
        if (r < 0) {
                ctl_errorf("cannot read the consent record: %s", strerror(-r));
                return r;
        }
        r = ctl_ddb(ctl, "GetItem", ddb_get_item_request(&rd.params), NULL, &rep);
        consent_get_request_done(&rd);
        if (r >= 0)
                *ret = json_incref(rep.item);
        ctl_reply_done(&rep);
        return r;
}

static int print_record(struct ctl *ctl, const char *phone, json_t *item)
{
        static const char *const fields[] = {
                "phone_number",         "consent_status",   "opt_out_method",
                "opt_out_requested_at", "opt_out_deadline", "opt_in_at",
                "opt_in_method",        "updated_at",       "last_inbound_message_id",
                "consent_changes",      "version",
        };
        struct ctl_table *t;
        const json_t *h, *e;
        size_t i;

        if (ctl->json)
                return ctl_print_json(json_pack("{s:s,s:o}", "phone_number", phone, "item",
                                                item ? ctl_consent_plain_item(item) : json_null()));
        if (!item) {
                printf("%s: no consent record (never opted out or in; messages go to the "
                       "agent)\n",
                       phone);
                return 0;
        }
        for (i = 0; i < ARRAY_SIZE(fields); i++) {
                const json_t *av = json_object_get(item, fields[i]);
                const char *v = ddb_av_get_s(av) ?: ddb_av_get_n(av);

                if (v)
                        printf("%-24s %s\n", fields[i], v);
        }
        h = ddb_av_get_l(json_object_get(item, "consent_history"));
        if (json_array_size(h) == 0)
                return 0;
        {
                static const char *const headers[] = {"TIME",    "ACTION",   "METHOD",
                                                      "MESSAGE", "OPERATOR", "NOTE"};
                t = ctl_table_new(headers, ARRAY_SIZE(headers));
        }
        if (!t)
                return -ENOMEM;
        json_array_foreach(h, i, e) {
                const json_t *m = ddb_av_get_m(e);
                const char *cells[] = {
                        ddb_item_get_s(m, "time"),     ddb_item_get_s(m, "action"),
                        ddb_item_get_s(m, "method"),   ddb_item_get_s(m, "inbound_message_id"),
                        ddb_item_get_s(m, "operator"), ddb_item_get_s(m, "note"),
                };
                if (ctl_table_add(t, cells) < 0) {
                        ctl_table_free(t);
                        return -ENOMEM;
                }
        }
        return ctl_table_print_titled(t, "consent_history");
}

static const char *operator_name(void)
{
        const char *u = getenv("SUDO_USER");
        struct passwd *pw;

        if (!isempty(u))
                return u;
        pw = getpwuid(geteuid());
        if (pw && !isempty(pw->pw_name))
                return pw->pw_name;
        u = getenv("USER");
        return isempty(u) ? "unknown" : u;
}

struct set_wait {
        bool done;
        int r;
        const char *operation;
        struct aws_error error;
};

static void set_done(int r, const char *operation, const struct aws_error *err, void *userdata)
{
        struct set_wait *w = userdata;

        w->r = r;
        w->operation = operation;
        if (err)
                w->error = *err;
        w->done = true;
}

/* The change goes through consent_set(), the module's own read, decide and
 * compare-and-swap, so the item is written exactly as the daemon writes it. */
static int change(struct ctl *ctl, const char *phone, enum consent_status to, const char *note)
{
        const struct config *c = ctl->config;
        struct business_days_holidays holidays = {0};
        struct set_wait w = {0};
        char id[64], uuid[37];
        int r;

        if (note && strlen(note) > CONSENT_NOTE_MAX) {
                ctl_errorf("--note is longer than %d bytes", CONSENT_NOTE_MAX);
                return -EINVAL;
        }
        if (c->n_consent_holidays > 0) {
                r = business_days_holidays_parse((const char *const *)c->consent_holidays,
                                                 c->n_consent_holidays, &holidays);
                if (r < 0) {
                        ctl_errorf("[consent] holidays cannot be read: %s", strerror(-r));
                        return r;
                }
        }
        r = ctl_uuid(uuid);
        if (r < 0)
                goto out;
        (void)snprintf(id, sizeof(id), "%s%s", CTL_CONSENT_ID_PREFIX, uuid);

        r = consent_set(ctl->aws, c->consent_table,
                        &(struct consent_change){
                                .phone = phone,
                                .to = to,
                                .method = CTL_CONSENT_METHOD,
                                .inbound_message_id = id,
                                .now = time(NULL),
                                .business_days = c->consent_business_days,
                                .holidays = &holidays,
                                .operator_name = operator_name(),
                                .note = note,
                        },
                        set_done, &w);
        if (r < 0) {
                ctl_errorf("cannot change the consent record: %s", strerror(-r));
                goto out;
        }
        ctl_wait(ctl, &w.done);
        r = w.r;
        if (r == 0)
                printf("%s is already %s: nothing changed.\n", phone, consent_status_to_string(to));
        else if (r > 0) {
                printf("%s is now %s (method %s, history entry %s).\n", phone,
                       consent_status_to_string(to), CTL_CONSENT_METHOD, id);
                r = 0;
        } else if (r == -EBADMSG)
                ctl_errorf("the consent item of %s cannot be read (%s): fix it in DynamoDB first",
                           phone, strerror(-r));
        else {
                struct ctl_reply rep = {.error = w.error, .http_status = w.error.http_status};

                ctl_report_aws(ctl, AWS_SERVICE_DYNAMODB, w.operation ? w.operation : "UpdateItem",
                               r, &rep);
        }
out:
        business_days_holidays_done(&holidays);
        return r;
}

int ctl_cmd_consent(struct ctl *ctl, int argc, char **argv)
{
        struct ctl_cmdline cl;
        const char *verb, *phone, *note;
        int r, code;

        if (!ctl_cmd_begin(ctl, argc, argv, opts, ARRAY_SIZE(opts), 2, usage, CTL_NEEDS_CONFIG, &cl,
                           &code))
                return code;
        if (cl.args.n_pos != 2)
                return ctl_cmd_usage_error(usage, "consent needs get, opt-out or opt-in and a "
                                                  "number");
        verb = cl.args.pos[0];
        phone = cl.args.pos[1];
        note = ctl_args_get(&cl.args, "note");
        if (!streq(verb, "get") && !streq(verb, "opt-out") && !streq(verb, "opt-in"))
                return ctl_cmd_usage_error(usage, "unknown consent action '%s'", verb);
        if (!aws_e164_is_valid(phone))
                return ctl_cmd_usage_error(usage, "'%s' is not a number in E.164 form (+...)",
                                           phone);
        if (note && streq(verb, "get"))
                return ctl_cmd_usage_error(usage, "--note goes with opt-out or opt-in");
        if (ctl_aws(ctl) < 0)
                return CTL_EXIT_FAIL;

        if (streq(verb, "get")) {
                json_t *item = NULL;

                r = read_item(ctl, phone, &item);
                if (r >= 0)
                        r = print_record(ctl, phone, item);
                json_decref(item);
        } else
                r = change(ctl, phone,
                           streq(verb, "opt-out") ? CONSENT_OPTED_OUT : CONSENT_OPTED_IN, note);
        return r < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}
