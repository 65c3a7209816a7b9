/*
 * consent.c — consent records in DynamoDB: parsing, the decision table,
 * conditional updates.
 */
#include <stdio.h>
#include <strings.h>

#include "aws.h"
#include "business_days.h"
#include "common.h"
#include "consent.h"
#include "ddb.h"

#define STATUS_OPTED_IN  "opted_in"
#define STATUS_OPTED_OUT "opted_out"

const char *consent_status_to_string(enum consent_status s)
{
        switch (s) {
        case CONSENT_NONE:
                return "none";
        case CONSENT_OPTED_IN:
                return STATUS_OPTED_IN;
        case CONSENT_OPTED_OUT:
                return STATUS_OPTED_OUT;
        default:
                return "invalid";
        }
}

static const char *const action_names[_CONSENT_ACTION_MAX] = {
        [CONSENT_ACTION_AGENT] = "agent",
        [CONSENT_ACTION_BLOCK] = "block",
        [CONSENT_ACTION_OPT_OUT] = "opt_out",
        [CONSENT_ACTION_OPT_IN] = "opt_in",
        [CONSENT_ACTION_CONFIRM_OPT_OUT] = "confirm_opt_out",
        [CONSENT_ACTION_CONFIRM_OPT_IN] = "confirm_opt_in",
        [CONSENT_ACTION_HELP] = "help",
        [CONSENT_ACTION_IGNORE] = "ignore",
};

const char *consent_action_to_string(enum consent_action a)
{
        if ((unsigned)a >= _CONSENT_ACTION_MAX)
                return "invalid";
        return action_names[a];
}

/* ---- history --------------------------------------------------------------------- */

static size_t compact_size(const json_t *j)
{
        return json_dumpb(j, NULL, 0, JSON_COMPACT);
}

/* Drop the oldest entries of arr (oldest first) until it holds at most
 * CONSENT_HISTORY_MAX entries and CONSENT_HISTORY_BYTES_MAX bytes of JSON; the
 * newest entry always stays. */
static void history_trim(json_t *arr)
{
        size_t n = json_array_size(arr);

        if (n > CONSENT_HISTORY_MAX) {
                /* An item written before the bound can hold thousands. */
                json_t *tail = json_array();

                for (size_t i = n - CONSENT_HISTORY_MAX; tail && i < n; i++)
                        (void)json_array_append(tail, json_array_get(arr, i));
                if (tail && json_array_size(tail) == CONSENT_HISTORY_MAX) {
                        json_array_clear(arr);
                        (void)json_array_extend(arr, tail);
                }
                json_decref(tail);
        }
        while (json_array_size(arr) > CONSENT_HISTORY_MAX)
                (void)json_array_remove(arr, 0);
        while (json_array_size(arr) > 1 && compact_size(arr) > CONSENT_HISTORY_BYTES_MAX)
                (void)json_array_remove(arr, 0);
}

/* The newest entries of the item's consent_history, and the change count. */
static int history_from_item(const json_t *item, struct consent_record *rec)
{
        const json_t *list = ddb_av_get_l(json_object_get(item, "consent_history"));
        size_t n = json_array_size(list), len;
        long long changes;
        json_t *kept;

        rec->changes = (long long)n;
        if (json_object_get(item, "consent_changes") &&
            ddb_item_get_n_int(item, "consent_changes", &changes) >= 0 && changes >= 0)
                rec->changes = changes;
        rec->history[0] = '\0';
        if (n == 0)
                return 0;
        kept = json_array();
        if (!kept)
                return -ENOMEM;
        for (size_t i = n > CONSENT_HISTORY_MAX ? n - CONSENT_HISTORY_MAX : 0; i < n; i++)
                if (json_array_append(kept, json_array_get(list, i)) < 0) {
                        json_decref(kept);
                        return -ENOMEM;
                }
        history_trim(kept);
        len = json_dumpb(kept, rec->history, sizeof(rec->history) - 1, JSON_COMPACT);
        /* One entry larger than the bound (written by hand): keep nothing. */
        rec->history[len < sizeof(rec->history) ? len : 0] = '\0';
        json_decref(kept);
        return 0;
}

int consent_record_from_item(const json_t *item, struct consent_record *ret)
{
        struct consent_record rec = {0};
        const char *s;
        int r;

        if (!ret)
                return -EINVAL;
        if (item) {
                if (!json_is_object(item))
                        return -EBADMSG;
                rec.exists = true;
                s = ddb_item_get_s(item, "consent_status");
                if (s && strcasecmp(s, STATUS_OPTED_IN) == 0)
                        rec.status = CONSENT_OPTED_IN;
                else if (s && strcasecmp(s, STATUS_OPTED_OUT) == 0)
                        rec.status = CONSENT_OPTED_OUT;
                else if (json_object_get(item, "consent_status"))
                        /* Present but unreadable (another value, another type):
                         * fail closed, as if the number had opted out. */
                        rec.status = CONSENT_OPTED_OUT;
                if (json_object_get(item, "version")) {
                        if (ddb_item_get_n_int(item, "version", &rec.version) < 0)
                                return -EBADMSG;
                        rec.has_version = true;
                }
                s = ddb_item_get_s(item, "last_inbound_message_id");
                if (s)
                        (void)snprintf(rec.last_inbound_message_id,
                                       sizeof(rec.last_inbound_message_id), "%s", s);
                r = history_from_item(item, &rec);
                if (r < 0)
                        return r;
        }
        *ret = rec;
        return 0;
}

bool consent_record_changed_by(const struct consent_record *rec, const char *inbound_message_id)
{
        return rec && rec->exists && !isempty(inbound_message_id) &&
               streq(rec->last_inbound_message_id, inbound_message_id);
}

bool consent_classify_opted_out(const struct consent_record *rec, const char *inbound_message_id)
{
        if (!rec)
                return false;
        if (consent_record_changed_by(rec, inbound_message_id))
                /* This message made the change: it was read in the other state. */
                return rec->status == CONSENT_OPTED_IN;
        return rec->status == CONSENT_OPTED_OUT;
}

enum consent_action consent_decide(enum keyword_kind kind, const struct consent_record *rec,
                                   const char *inbound_message_id)
{
        enum consent_status status = rec ? rec->status : CONSENT_NONE;
        bool mine = consent_record_changed_by(rec, inbound_message_id);

        switch (kind) {
        case KEYWORD_OPT_OUT:
                if (status != CONSENT_OPTED_OUT)
                        return CONSENT_ACTION_OPT_OUT;
                return mine ? CONSENT_ACTION_CONFIRM_OPT_OUT : CONSENT_ACTION_IGNORE;
        case KEYWORD_OPT_IN:
                if (status == CONSENT_OPTED_IN)
                        return CONSENT_ACTION_CONFIRM_OPT_IN;
                return CONSENT_ACTION_OPT_IN;
        case KEYWORD_HELP:
                return CONSENT_ACTION_HELP;
        case KEYWORD_NONE:
        default:
                return status == CONSENT_OPTED_OUT ? CONSENT_ACTION_BLOCK : CONSENT_ACTION_AGENT;
        }
}

void consent_update_done(struct consent_update *u)
{
        if (!u)
                return;
        json_decref(u->key);
        json_decref(u->names);
        json_decref(u->values);
        u->key = u->names = u->values = NULL;
}

static int set_name(json_t *names, const char *placeholder, const char *name)
{
        return json_object_set_new(names, placeholder, json_string(name)) < 0 ? -ENOMEM : 0;
}

/* The history entry of change. */
static json_t *history_entry(const struct consent_change *change, const char *now_iso, bool out)
{
        json_t *entry = ddb_av_m();
        int r;

        r = ddb_av_m_set(entry, "time", ddb_av_s(now_iso));
        r = r ?: ddb_av_m_set(entry, "action", ddb_av_s(out ? "opt_out" : "opt_in"));
        r = r ?: ddb_av_m_set(entry, "method", ddb_av_s(change->method));
        r = r ?: ddb_av_m_set(entry, "inbound_message_id", ddb_av_s(change->inbound_message_id));
        if (!isempty(change->operator_name))
                r = r ?: ddb_av_m_set(entry, "operator", ddb_av_s(change->operator_name));
        if (!isempty(change->note))
                r = r ?: ddb_av_m_set(entry, "note", ddb_av_s(change->note));
        if (r < 0) {
                json_decref(entry);
                return NULL;
        }
        return entry;
}

/* consent_history after change: the entries expected kept, then change's,
 * trimmed to the bounds. A new reference to an L attribute value. */
static int history_build(const struct consent_change *change, const struct consent_record *expected,
                         const char *now_iso, bool out, json_t **ret)
{
        json_t *kept = NULL, *entry, *av;

        if (!isempty(expected->history)) {
                kept = json_loads(expected->history, 0, NULL);
                if (!json_is_array(kept)) {
                        /* Not what consent_record_from_item() wrote: start afresh. */
                        json_decref(kept);
                        kept = NULL;
                }
        }
        if (!kept)
                kept = json_array();
        entry = history_entry(change, now_iso, out);
        if (!kept || !entry || json_array_append_new(kept, entry) < 0) {
                json_decref(kept);
                return -ENOMEM;
        }
        history_trim(kept);
        av = ddb_av_l();
        if (!av || json_object_set_new(av, "L", kept) < 0) {
                json_decref(av);
                return -ENOMEM;
        }
        *ret = av;
        return 0;
}

int consent_update_build(const char *table, const struct consent_change *change,
                         const struct consent_record *expected, struct consent_update *ret)
{
        struct consent_update u = {0};
        char now_iso[BUSINESS_DAYS_ISO8601_SIZE], deadline_iso[BUSINESS_DAYS_ISO8601_SIZE];
        bool out;
        json_t *hist = NULL;
        int r;

        if (isempty(table) || !change || !expected || !ret || isempty(change->phone) ||
            isempty(change->method) || isempty(change->inbound_message_id) ||
            (change->to != CONSENT_OPTED_OUT && change->to != CONSENT_OPTED_IN) ||
            (change->note && strlen(change->note) > CONSENT_NOTE_MAX) ||
            (change->operator_name && strlen(change->operator_name) > CONSENT_OPERATOR_MAX))
                return -EINVAL;
        out = change->to == CONSENT_OPTED_OUT;

        r = business_days_format_iso8601(change->now, now_iso, sizeof(now_iso));
        if (r < 0)
                return r;
        if (out) {
                time_t deadline;

                r = business_days_add(change->now, change->business_days, change->holidays,
                                      &deadline);
                if (r < 0)
                        return r;
                r = business_days_format_iso8601(deadline, deadline_iso, sizeof(deadline_iso));
                if (r < 0)
                        return r;
        }

        u.key = ddb_item_of(CONSENT_KEY, ddb_av_s(change->phone), NULL);
        u.names = json_object();
        u.values = json_object();
        if (!u.key || !u.names || !u.values)
                goto oom;

        /* Every attribute goes through a placeholder: DynamoDB's reserved word
         * list is long and grows. */
        /* DynamoDB refuses names the expressions do not use: #pk only
         * appears in the conditions without a version. */
        r = expected->has_version ? 0 : set_name(u.names, "#pk", CONSENT_KEY);
        r = r ?: set_name(u.names, "#st", "consent_status");
        r = r ?: set_name(u.names, "#up", "updated_at");
        r = r ?: set_name(u.names, "#hi", "consent_history");
        r = r ?: set_name(u.names, "#hc", "consent_changes");
        r = r ?: set_name(u.names, "#li", "last_inbound_message_id");
        r = r ?: set_name(u.names, "#ve", "version");
        if (out) {
                r = r ?: set_name(u.names, "#om", "opt_out_method");
                r = r ?: set_name(u.names, "#or", "opt_out_requested_at");
                r = r ?: set_name(u.names, "#od", "opt_out_deadline");
        } else {
                r = r ?: set_name(u.names, "#ia", "opt_in_at");
                r = r ?: set_name(u.names, "#im", "opt_in_method");
        }
        if (r < 0)
                goto oom;

        r = history_build(change, expected, now_iso, out, &hist);
        if (r < 0)
                goto fail;
        r = ddb_item_add(u.values, ":hist", hist, ":hc", ddb_av_n_int(expected->changes + 1), ":st",
                         ddb_av_s(out ? STATUS_OPTED_OUT : STATUS_OPTED_IN), ":now",
                         ddb_av_s(now_iso), ":li", ddb_av_s(change->inbound_message_id), ":m",
                         ddb_av_s(change->method), ":nv",
                         ddb_av_n_int(expected->has_version ? expected->version + 1 : 1), NULL);
        if (out)
                r = r ?: ddb_item_set(u.values, ":dl", ddb_av_s(deadline_iso));
        if (expected->has_version)
                r = r ?: ddb_item_set(u.values, ":ov", ddb_av_n_int(expected->version));
        if (r < 0)
                goto oom;

        (void)snprintf(
                u.update, sizeof(u.update),
                "SET #st = :st, #up = :now, #li = :li, #ve = :nv, #hi = :hist, #hc = :hc, %s",
                out ? "#om = :m, #or = :now, #od = :dl" : "#ia = :now, #im = :m");
        /* Compare and swap on what was read. */
        if (!expected->exists)
                (void)snprintf(u.condition, sizeof(u.condition), "attribute_not_exists(#pk)");
        else if (!expected->has_version)
                (void)snprintf(u.condition, sizeof(u.condition),
                               "attribute_exists(#pk) AND attribute_not_exists(#ve)");
        else
                (void)snprintf(u.condition, sizeof(u.condition), "#ve = :ov");

        u.params = (struct ddb_update_params){
                .table = table,
                .key = u.key,
                .update = u.update,
                .condition = u.condition,
                .names = u.names,
                .values = u.values,
                .return_values = "NONE",
        };
        *ret = u;
        /* params point into *ret's own buffers, not into the local copy. */
        ret->params.update = ret->update;
        ret->params.condition = ret->condition;
        return 0;
oom:
        r = -ENOMEM;
fail:
        consent_update_done(&u);
        return r;
}

/* --- I/O ------------------------------------------------------------------------ */

struct get_ctx {
        consent_get_cb cb;
        void *userdata;
};

static void get_done(int r, const struct ddb_result *res, void *userdata)
{
        struct get_ctx *ctx = userdata;
        struct consent_record rec = {0};

        if (r >= 0) {
                r = consent_record_from_item(res->item, &rec);
                ctx->cb(r, r >= 0 ? &rec : NULL, res->aws ? res->aws->error : NULL, ctx->userdata);
        } else
                ctx->cb(r, NULL, res->aws ? res->aws->error : NULL, ctx->userdata);
        free(ctx);
}

int consent_get_request_build(const char *table, const char *phone, struct consent_get_request *ret)
{
        json_t *key;

        if (isempty(table) || isempty(phone) || !ret)
                return -EINVAL;
        key = ddb_item_of(CONSENT_KEY, ddb_av_s(phone), NULL);
        if (!key)
                return -ENOMEM;
        *ret = (struct consent_get_request){
                .params = {.table = table, .key = key, .consistent_read = true},
                .key = key,
        };
        return 0;
}

void consent_get_request_done(struct consent_get_request *rd)
{
        if (!rd)
                return;
        json_decref(rd->key);
        rd->params.key = NULL;
        rd->key = NULL;
}

int consent_get(struct aws_client *aws, const char *table, const char *phone, consent_get_cb cb,
                void *userdata, struct aws_call **ret)
{
        struct consent_get_request rd;
        struct get_ctx *ctx;
        int r;

        if (!aws || !cb)
                return -EINVAL;
        r = consent_get_request_build(table, phone, &rd);
        if (r < 0)
                return r;
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx) {
                consent_get_request_done(&rd);
                return -ENOMEM;
        }
        ctx->cb = cb;
        ctx->userdata = userdata;
        r = ddb_get_item(aws, &rd.params, get_done, ctx, ret);
        consent_get_request_done(&rd);
        if (r < 0)
                free(ctx);
        return r;
}

struct write_ctx {
        consent_write_cb cb;
        void *userdata;
};

static void write_done(int r, const struct ddb_result *res, void *userdata)
{
        struct write_ctx *ctx = userdata;

        if (r < 0 && res->condition_failed)
                r = -ESTALE;
        ctx->cb(r, res->aws ? res->aws->error : NULL, ctx->userdata);
        free(ctx);
}

int consent_write(struct aws_client *aws, const char *table, const struct consent_change *change,
                  const struct consent_record *expected, consent_write_cb cb, void *userdata,
                  struct aws_call **ret)
{
        struct consent_update u;
        struct write_ctx *ctx;
        int r;

        if (!aws || !cb)
                return -EINVAL;
        r = consent_update_build(table, change, expected, &u);
        if (r < 0)
                return r;
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx) {
                consent_update_done(&u);
                return -ENOMEM;
        }
        ctx->cb = cb;
        ctx->userdata = userdata;
        r = ddb_update_item(aws, &u.params, write_done, ctx, ret);
        consent_update_done(&u);
        if (r < 0)
                free(ctx);
        return r;
}

/* --- consent_set: read, decide, write, again on a conflict ------------------------ */

struct consent_set {
        struct aws_client *aws;
        char *table, *phone, *method, *inbound_message_id, *operator_name, *note;
        struct consent_change change; /* its strings point at the copies above */
        struct consent_record rec;
        unsigned attempts;
        consent_set_cb cb;
        void *userdata;
};

static struct consent_set *consent_set_free(struct consent_set *op)
{
        if (!op)
                return NULL;
        free(op->table);
        free(op->phone);
        free(op->method);
        free(op->inbound_message_id);
        free(op->operator_name);
        free(op->note);
        free(op);
        return NULL;
}

static void set_finish(struct consent_set *op, int r, const char *operation,
                       const struct aws_error *err)
{
        op->cb(r, operation, err, op->userdata);
        consent_set_free(op);
}

static int set_read(struct consent_set *op);

static void set_written(int r, const struct aws_error *err, void *userdata)
{
        struct consent_set *op = userdata;

        if (r == -ESTALE && ++op->attempts < CONSENT_SET_ATTEMPTS) {
                /* Someone (a daemon, another operator) changed it meanwhile. */
                r = set_read(op);
                if (r < 0)
                        set_finish(op, r, "GetItem", NULL);
                return;
        }
        set_finish(op, r < 0 ? r : 1, "UpdateItem", err);
}

static void set_read_done(int r, const struct consent_record *rec, const struct aws_error *err,
                          void *userdata)
{
        struct consent_set *op = userdata;

        if (r < 0) {
                set_finish(op, r, "GetItem", err);
                return;
        }
        if (rec->status == op->change.to) {
                set_finish(op, 0, NULL, NULL);
                return;
        }
        op->rec = *rec;
        r = consent_write(op->aws, op->table, &op->change, &op->rec, set_written, op, NULL);
        if (r < 0)
                set_finish(op, r, "UpdateItem", NULL);
}

static int set_read(struct consent_set *op)
{
        return consent_get(op->aws, op->table, op->phone, set_read_done, op, NULL);
}

static int dup_opt(const char *s, char **ret)
{
        *ret = NULL;
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

int consent_set(struct aws_client *aws, const char *table, const struct consent_change *change,
                consent_set_cb cb, void *userdata)
{
        struct consent_update probe;
        struct consent_record none = {0};
        struct consent_set *op;
        int r;

        if (!aws || !cb)
                return -EINVAL;
        /* Refuse a change that could never be written now, not after a read. */
        r = consent_update_build(table, change, &none, &probe);
        if (r < 0)
                return r;
        consent_update_done(&probe);

        op = calloc(1, sizeof(*op));
        if (!op)
                return -ENOMEM;
        op->aws = aws;
        op->cb = cb;
        op->userdata = userdata;
        r = dup_opt(table, &op->table);
        r = r ?: dup_opt(change->phone, &op->phone);
        r = r ?: dup_opt(change->method, &op->method);
        r = r ?: dup_opt(change->inbound_message_id, &op->inbound_message_id);
        r = r ?: dup_opt(change->operator_name, &op->operator_name);
        r = r ?: dup_opt(change->note, &op->note);
        if (r < 0) {
                consent_set_free(op);
                return r;
        }
        op->change = *change;
        op->change.phone = op->phone;
        op->change.method = op->method;
        op->change.inbound_message_id = op->inbound_message_id;
        op->change.operator_name = op->operator_name;
        op->change.note = op->note;

        r = set_read(op);
        if (r < 0) {
                consent_set_free(op);
                return r;
        }
        return 0;
}
