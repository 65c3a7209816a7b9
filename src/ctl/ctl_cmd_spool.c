/*
 * ctl_cmd_spool.c — twowayctl spool ls|show|retry|purge|salvage: the daemon's
 * local queue ([spool] dir/spool.db).
 *
 * The daemon may be running: the spool is opened without crash recovery (its
 * in-progress rows are the daemon's, not ours) and every read and change is
 * one short statement of its own. ls and show read on a read-only connection,
 * which WAL never makes wait for the daemon's writes; retry, purge and salvage
 * wait up to SPOOL_TOOL_BUSY_TIMEOUT_MS for the daemon's write lock, then fail
 * with "busy".
 */
#include <stdio.h>
#include <sys/stat.h>

#include "business_days.h"
#include "common.h"
#include "config.h"
#include "ctl.h"
#include "ctl_cmd.h"
#include "ctl_table.h"
#include "spool.h"

static const char usage[] =
        "usage: twowayctl spool ls [--state STATE] [--limit N] [--json] [-c FILE]\n"
        "       twowayctl spool show ID [--json] [-c FILE]\n"
        "       twowayctl spool retry ID [-c FILE]\n"
        "       twowayctl spool purge ID [-c FILE]\n"
        "       twowayctl spool salvage FILE [-c FILE]\n"
        "\n"
        "The daemon's local queue in [spool] dir (safe while twowayd runs):\n"
        "  ls       counts by state, then the rows of one state (default: dead, with\n"
        "           the reason each died); --state pending|in_progress|done|dead|\n"
        "           superseded|any (superseded: closed without a reply because the\n"
        "           sender opted out); --limit N rows (default 50)\n"
        "  show     every field of one row, the message body included\n"
        "  retry    put a dead row back to pending, due now (a reply already sent, or\n"
        "           that may have been sent, is not sent again)\n"
        "  purge    delete a done or dead row (or a superseded one)\n"
        "  salvage  import the readable rows of FILE, a spool that twowayd moved aside\n"
        "           as corrupt (spool.db.corrupt-TIME); rows already in the spool are\n"
        "           skipped, so it can be run again\n"
        "Run it as the spool's owner (sudo -u twowayd twowayctl spool ...), or as root.\n";

static const struct ctl_opt opts[] = {
        {"state", 0, true},
        {"limit", 0, true},
};

/* What to say when the daemon held the write lock for all of the wait. */
static void report_busy(void)
{
        ctl_errorf("the daemon held the spool's write lock for %d s: try again",
                   SPOOL_TOOL_BUSY_TIMEOUT_MS / 1000);
}

static int open_spool(struct ctl *ctl, enum spool_access access, struct spool **ret)
{
        const char *dir = ctl->config->spool_dir;
        _cleanup_free_ char *path = NULL;
        struct stat st;
        int r;

        if (asprintf(&path, "%s/%s", dir, SPOOL_DB_NAME) < 0)
                return -ENOMEM;
        /* Never create a spool: only look at the daemon's. */
        if (stat(path, &st) < 0) {
                r = negative_errno();
                ctl_errorf("no spool at %s (%s): check [spool] dir in %s", path, strerror(-r),
                           ctl->config_path);
                return r;
        }
        r = ctl_loop(ctl);
        if (r < 0)
                return r;
        r = spool_open(ctl->loop, &(struct spool_options){.dir = dir, .access = access}, ret);
        if (r == -EACCES || r == -EPERM || r == -EROFS)
                ctl_errorf("cannot open %s: %s: run as the spool's owner (sudo -u twowayd "
                           "twowayctl ...) or as root",
                           path, strerror(-r));
        else if (r == -EPROTONOSUPPORT)
                ctl_errorf("%s was written by another version of twowayd: use the "
                           "twowayctl of the version that runs",
                           path);
        else if (r == -EBUSY)
                report_busy();
        else if (r < 0)
                ctl_errorf("cannot open %s: %s", path, strerror(-r));
        return r;
}

static const char *when(int64_t ms, char buf[BUSINESS_DAYS_ISO8601_SIZE])
{
        if (ms <= 0 ||
            business_days_format_iso8601((time_t)(ms / 1000), buf, BUSINESS_DAYS_ISO8601_SIZE) < 0)
                return "-";
        return buf;
}

static json_t *str_or_null(const char *s)
{
        return s ? json_string(s) : json_null();
}

static json_t *row_json(const struct spool_row *w, bool full)
{
        char t1[BUSINESS_DAYS_ISO8601_SIZE], t2[BUSINESS_DAYS_ISO8601_SIZE],
                t3[BUSINESS_DAYS_ISO8601_SIZE];
        json_t *o = json_pack(
                "{s:I,s:s,s:s,s:i,s:o,s:o,s:o,s:o,s:s,s:s,s:s,s:o,s:o}", "id", (json_int_t)w->id,
                "state", spool_state_to_string(w->state), "reply_state",
                spool_reply_state_to_string(w->reply_state), "attempts", (int)w->attempts,
                "sns_message_id", str_or_null(w->sns_message_id), "inbound_message_id",
                str_or_null(w->inbound_message_id), "origination_number",
                str_or_null(w->origination_number), "destination_number",
                str_or_null(w->destination_number), "received_at", when(w->received_at, t1),
                "next_attempt_at", when(w->next_attempt_at, t2), "updated_at",
                when(w->updated_at, t3), "last_error", str_or_null(w->last_error),
                "reply_message_id", str_or_null(w->reply_message_id));

        if (o && full) {
                json_object_set_new(o, "topic_arn", str_or_null(w->topic_arn));
                json_object_set_new(o, "keyword", str_or_null(w->keyword));
                json_object_set_new(o, "keyword_class",
                                    json_string(spool_class_to_string(w->keyword_class)));
                json_object_set_new(o, "body", str_or_null(w->body));
                json_object_set_new(o, "raw", str_or_null(w->raw));
        }
        return o;
}

static int do_ls(struct ctl *ctl, struct spool *s, enum spool_state state, size_t limit)
{
        struct spool_counts counts;
        struct spool_row **rows = NULL;
        int r, n;

        r = spool_counts(s, &counts);
        if (r < 0) {
                ctl_errorf("cannot count the spool's rows: %s", strerror(-r));
                return r;
        }
        n = spool_list(s, state, 0, limit, &rows);
        if (n < 0) {
                ctl_errorf("cannot list the spool: %s", strerror(-n));
                return n;
        }
        if (ctl->json) {
                json_t *list = json_array();

                for (int i = 0; list && i < n; i++)
                        json_array_append_new(list, row_json(rows[i], false));
                r = ctl_print_json(
                        json_pack("{s:{s:I,s:I,s:I,s:I,s:I,s:I},s:s,s:o*}", "counts", "pending",
                                  (json_int_t)counts.by_state[SPOOL_STATE_PENDING], "in_progress",
                                  (json_int_t)counts.by_state[SPOOL_STATE_IN_PROGRESS], "done",
                                  (json_int_t)counts.by_state[SPOOL_STATE_DONE], "dead",
                                  (json_int_t)counts.by_state[SPOOL_STATE_DEAD], "superseded",
                                  (json_int_t)counts.by_state[SPOOL_STATE_SUPERSEDED],
                                  "reply_unknown", (json_int_t)counts.reply_unknown, "state",
                                  state == SPOOL_STATE_ANY ? "any" : spool_state_to_string(state),
                                  "rows", list));
        } else {
                static const char *const headers[] = {"ID",       "STATE", "RECEIVED", "FROM",
                                                      "ATTEMPTS", "REPLY", "REASON"};
                struct ctl_table *t = ctl_table_new(headers, ARRAY_SIZE(headers));
                char *text = NULL;

                printf("pending %llu, in_progress %llu, done %llu, dead %llu, superseded %llu "
                       "(replies of unknown outcome: %llu)\n",
                       (unsigned long long)counts.by_state[SPOOL_STATE_PENDING],
                       (unsigned long long)counts.by_state[SPOOL_STATE_IN_PROGRESS],
                       (unsigned long long)counts.by_state[SPOOL_STATE_DONE],
                       (unsigned long long)counts.by_state[SPOOL_STATE_DEAD],
                       (unsigned long long)counts.by_state[SPOOL_STATE_SUPERSEDED],
                       (unsigned long long)counts.reply_unknown);
                for (int i = 0; t && i < n; i++) {
                        char id[24], attempts[16], tb[BUSINESS_DAYS_ISO8601_SIZE];
                        const struct spool_row *w = rows[i];
                        const char *cells[] = {
                                id,
                                spool_state_to_string(w->state),
                                when(w->received_at, tb),
                                w->origination_number,
                                attempts,
                                spool_reply_state_to_string(w->reply_state),
                                w->last_error,
                        };

                        (void)snprintf(id, sizeof(id), "%lld", (long long)w->id);
                        (void)snprintf(attempts, sizeof(attempts), "%u", w->attempts);
                        if (ctl_table_add(t, cells) < 0)
                                t = ctl_table_free(t);
                }
                if (n == 0)
                        printf("No %s rows.\n",
                               state == SPOOL_STATE_ANY ? "" : spool_state_to_string(state));
                else if (t && (text = ctl_table_format(t))) {
                        printf("\n%s", text);
                        if ((size_t)n == limit)
                                printf("(first %zu rows; --limit N for more)\n", limit);
                }
                free(text);
                ctl_table_free(t);
        }
        spool_rows_free(rows);
        return r;
}

static int do_show(struct ctl *ctl, struct spool *s, int64_t id)
{
        struct spool_row *w = NULL;
        const char *key;
        json_t *o, *v;
        int r;

        r = spool_get(s, id, &w);
        if (r == -ENOENT) {
                ctl_errorf("no row %lld in the spool", (long long)id);
                return r;
        }
        if (r < 0) {
                ctl_errorf("cannot read row %lld: %s", (long long)id, strerror(-r));
                return r;
        }
        o = row_json(w, true);
        spool_row_free(w);
        if (!o)
                return -ENOMEM;
        if (ctl->json)
                return ctl_print_json(o);
        json_object_foreach(o, key, v) {
                if (json_is_string(v))
                        printf("%-20s %s\n", key, json_string_value(v));
                else if (json_is_integer(v))
                        printf("%-20s %lld\n", key, (long long)json_integer_value(v));
                else
                        printf("%-20s -\n", key);
        }
        json_decref(o);
        return 0;
}

static int do_salvage(struct ctl *ctl, struct spool *s, const char *file)
{
        struct spool_salvage_result res;
        int r = spool_salvage(s, file, &res);

        if (r == -EBADMSG) {
                ctl_errorf("nothing of %s can be read as a spool", file);
                return r;
        }
        if (r == -EBUSY) {
                report_busy();
                return r;
        }
        if (r < 0) {
                ctl_errorf("cannot salvage %s: %s", file, strerror(-r));
                return r;
        }
        if (ctl->json)
                return ctl_print_json(json_pack(
                        "{s:s,s:I,s:I,s:I,s:I,s:I}", "file", file, "read", (json_int_t)res.read,
                        "imported", (json_int_t)res.imported, "duplicates",
                        (json_int_t)res.duplicates, "unreadable", (json_int_t)res.unreadable,
                        "read_errors", (json_int_t)res.read_errors));
        printf("Read %llu rows of %s: %llu imported, %llu already in the spool, %llu damaged; "
               "%llu unreadable places skipped.\n",
               (unsigned long long)res.read, file, (unsigned long long)res.imported,
               (unsigned long long)res.duplicates, (unsigned long long)res.unreadable,
               (unsigned long long)res.read_errors);
        return 0;
}

static int describe_state(struct spool *s, int64_t id, const char *what, int r)
{
        struct spool_row *w = NULL;

        if (r == -ENOENT)
                ctl_errorf("no row %lld in the spool", (long long)id);
        else if (r == -ESTALE && spool_get(s, id, &w) >= 0) {
                ctl_errorf("row %lld is %s: %s", (long long)id, spool_state_to_string(w->state),
                           what);
                spool_row_free(w);
        } else if (r == -EBUSY)
                report_busy();
        else
                ctl_errorf("row %lld: %s", (long long)id, strerror(-r));
        return r;
}

int ctl_cmd_spool(struct ctl *ctl, int argc, char **argv)
{
        struct ctl_cmdline cl;
        struct spool *s = NULL;
        const char *verb, *state_arg, *limit_arg;
        enum spool_state state = SPOOL_STATE_DEAD;
        uint64_t id = 0, limit = 50;
        int r, code;

        if (!ctl_cmd_begin(ctl, argc, argv, opts, ARRAY_SIZE(opts), 2, usage, CTL_NEEDS_CONFIG, &cl,
                           &code))
                return code;
        if (cl.args.n_pos == 0)
                return ctl_cmd_usage_error(usage, "spool needs ls, show, retry, purge or salvage");
        verb = cl.args.pos[0];
        state_arg = ctl_args_get(&cl.args, "state");
        limit_arg = ctl_args_get(&cl.args, "limit");
        if (streq(verb, "ls")) {
                if (cl.args.n_pos != 1)
                        return ctl_cmd_usage_error(usage, "spool ls takes no ID");
                if (state_arg) {
                        state = streq(state_arg, "any") ? SPOOL_STATE_ANY
                                                        : spool_state_from_string(state_arg);
                        if (state == _SPOOL_STATE_INVALID)
                                return ctl_cmd_usage_error(usage, "unknown state '%s'", state_arg);
                }
                if (limit_arg && ctl_parse_uint(limit_arg, 1, SPOOL_ROWS_MAX, &limit) < 0)
                        return ctl_cmd_usage_error(usage, "--limit needs 1 to %u", SPOOL_ROWS_MAX);
        } else if (streq(verb, "show") || streq(verb, "retry") || streq(verb, "purge")) {
                if (cl.args.n_pos != 2 || ctl_parse_uint(cl.args.pos[1], 1, INT64_MAX, &id) < 0)
                        return ctl_cmd_usage_error(usage, "spool %s needs a row ID (see spool ls)",
                                                   verb);
                if (state_arg || limit_arg)
                        return ctl_cmd_usage_error(usage, "--state and --limit go with spool ls");
        } else if (streq(verb, "salvage")) {
                if (cl.args.n_pos != 2)
                        return ctl_cmd_usage_error(usage, "spool salvage needs the FILE to read");
                if (state_arg || limit_arg)
                        return ctl_cmd_usage_error(usage, "--state and --limit go with spool ls");
        } else
                return ctl_cmd_usage_error(usage, "unknown spool action '%s'", verb);

        r = open_spool(
                ctl, streq(verb, "ls") || streq(verb, "show") ? SPOOL_TOOL_READ : SPOOL_TOOL_WRITE,
                &s);
        if (r < 0)
                return CTL_EXIT_FAIL;
        if (streq(verb, "ls"))
                r = do_ls(ctl, s, state, (size_t)limit);
        else if (streq(verb, "show"))
                r = do_show(ctl, s, (int64_t)id);
        else if (streq(verb, "salvage"))
                r = do_salvage(ctl, s, cl.args.pos[1]);
        else if (streq(verb, "retry")) {
                r = spool_requeue_dead(s, (int64_t)id);
                if (r == -EINVAL)
                        ctl_errorf("row %lld was stored dead at arrival (its message is unusable): "
                                   "it cannot be retried; see 'twowayctl spool show %lld'",
                                   (long long)id, (long long)id);
                else if (r < 0)
                        describe_state(s, (int64_t)id, "only dead rows can be retried", r);
                else
                        printf("Row %lld is pending again, due now.\n", (long long)id);
        } else {
                r = spool_purge(s, (int64_t)id);
                if (r < 0)
                        describe_state(s, (int64_t)id, "only done or dead rows can be purged", r);
                else
                        printf("Row %lld deleted.\n", (long long)id);
        }
        spool_free(s);
        return r < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}
