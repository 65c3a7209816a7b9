/*
 * consent_test.c — consent records, the decision table, conditional updates.
 *
 * The decision table is checked cell by cell ((keyword kind x consent state),
 * plus the retry cases where this very message already made the change), and
 * the UpdateItem requests byte for byte, deadline included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <time.h>

#include "business_days.h"
#include "common.h"
#include "consent.h"
#include "ddb.h"
#include "keyword.h"

static time_t iso(const char *s)
{
        struct tm tm = {0};
        const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);

        assert_non_null(end);
        return timegm(&tm);
}

static json_t *item(const char *json)
{
        json_error_t err;
        json_t *j = json_loads(json, 0, &err);

        if (!j)
                fail_msg("bad JSON in test: %s", err.text);
        return j;
}

static char *dump(const json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

        assert_non_null(s);
        return s;
}

static struct consent_record record(const char *json)
{
        struct consent_record rec;
        json_t *j = json ? item(json) : NULL;

        assert_int_equal(consent_record_from_item(j, &rec), 0);
        json_decref(j);
        return rec;
}

/* The message id of entry i of a consent_history list. */
static const char *history_id(const json_t *h, size_t i)
{
        return ddb_item_get_s(ddb_av_get_m(json_array_get(h, i)), "inbound_message_id");
}

static void test_record(void **state)
{
        struct consent_record rec;
        json_t *j;

        rec = record(NULL);
        assert_false(rec.exists);
        assert_int_equal(rec.status, CONSENT_NONE);
        assert_false(rec.has_version);

        rec = record("{\"phone_number\":{\"S\":\"+14255550123\"},"
                     "\"consent_status\":{\"S\":\"opted_out\"},\"version\":{\"N\":\"7\"},"
                     "\"last_inbound_message_id\":{\"S\":\"in-1\"}}");
        assert_true(rec.exists);
        assert_int_equal(rec.status, CONSENT_OPTED_OUT);
        assert_true(rec.has_version);
        assert_int_equal(rec.version, 7);
        assert_string_equal(rec.last_inbound_message_id, "in-1");

        rec = record("{\"consent_status\":{\"S\":\"opted_in\"}}");
        assert_true(rec.exists);
        assert_int_equal(rec.status, CONSENT_OPTED_IN);
        assert_false(rec.has_version);
        assert_string_equal(rec.last_inbound_message_id, "");

        /* A status someone wrote by hand in another case still counts. */
        rec = record("{\"consent_status\":{\"S\":\"OPTED_OUT\"}}");
        assert_int_equal(rec.status, CONSENT_OPTED_OUT);
        rec = record("{\"consent_status\":{\"S\":\"Opted_In\"}}");
        assert_int_equal(rec.status, CONSENT_OPTED_IN);
        /* A status that cannot be read fails closed: treated as opted out, so
         * nothing but keyword answers goes to the number. */
        rec = record("{\"consent_status\":{\"S\":\"maybe\"}}");
        assert_int_equal(rec.status, CONSENT_OPTED_OUT);
        rec = record("{\"consent_status\":{\"N\":\"1\"}}");
        assert_int_equal(rec.status, CONSENT_OPTED_OUT);
        /* No status at all: an item that records nothing about consent. */
        rec = record("{\"phone_number\":{\"S\":\"+14255550123\"}}");
        assert_int_equal(rec.status, CONSENT_NONE);

        /* A version that is not an integer would break compare-and-swap. */
        j = item("{\"version\":{\"S\":\"7\"}}");
        assert_int_equal(consent_record_from_item(j, &rec), -EBADMSG);
        json_decref(j);
        j = item("[1]");
        assert_int_equal(consent_record_from_item(j, &rec), -EBADMSG);
        json_decref(j);
        assert_int_equal(consent_record_from_item(NULL, NULL), -EINVAL);
}

static struct consent_record rec_of(enum consent_status st, const char *last)
{
        struct consent_record r = {.exists = st != CONSENT_NONE, .status = st};

        if (last)
                (void)snprintf(r.last_inbound_message_id, sizeof(r.last_inbound_message_id), "%s",
                               last);
        return r;
}

static void test_decide_table(void **state)
{
        static const struct {
                enum keyword_kind kind;
                enum consent_status status;
                const char *last; /* last_inbound_message_id; "me" is this message */
                enum consent_action want;
        } cases[] = {
                {KEYWORD_NONE, CONSENT_NONE, NULL, CONSENT_ACTION_AGENT},
                {KEYWORD_NONE, CONSENT_OPTED_IN, NULL, CONSENT_ACTION_AGENT},
                {KEYWORD_NONE, CONSENT_OPTED_OUT, NULL, CONSENT_ACTION_BLOCK},
                {KEYWORD_NONE, CONSENT_OPTED_OUT, "other", CONSENT_ACTION_BLOCK},
                {KEYWORD_OPT_OUT, CONSENT_NONE, NULL, CONSENT_ACTION_OPT_OUT},
                {KEYWORD_OPT_OUT, CONSENT_OPTED_IN, NULL, CONSENT_ACTION_OPT_OUT},
                {KEYWORD_OPT_OUT, CONSENT_OPTED_IN, "other", CONSENT_ACTION_OPT_OUT},
                {KEYWORD_OPT_OUT, CONSENT_OPTED_OUT, NULL, CONSENT_ACTION_IGNORE},
                {KEYWORD_OPT_OUT, CONSENT_OPTED_OUT, "other", CONSENT_ACTION_IGNORE},
                {KEYWORD_OPT_OUT, CONSENT_OPTED_OUT, "me", CONSENT_ACTION_CONFIRM_OPT_OUT},
                {KEYWORD_OPT_IN, CONSENT_NONE, NULL, CONSENT_ACTION_OPT_IN},
                {KEYWORD_OPT_IN, CONSENT_OPTED_OUT, NULL, CONSENT_ACTION_OPT_IN},
                {KEYWORD_OPT_IN, CONSENT_OPTED_OUT, "other", CONSENT_ACTION_OPT_IN},
                {KEYWORD_OPT_IN, CONSENT_OPTED_IN, NULL, CONSENT_ACTION_CONFIRM_OPT_IN},
                {KEYWORD_OPT_IN, CONSENT_OPTED_IN, "me", CONSENT_ACTION_CONFIRM_OPT_IN},
                {KEYWORD_HELP, CONSENT_NONE, NULL, CONSENT_ACTION_HELP},
                {KEYWORD_HELP, CONSENT_OPTED_IN, NULL, CONSENT_ACTION_HELP},
                {KEYWORD_HELP, CONSENT_OPTED_OUT, NULL, CONSENT_ACTION_HELP},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct consent_record r = rec_of(cases[i].status, cases[i].last);
                enum consent_action got = consent_decide(cases[i].kind, &r, "me");

                if (got != cases[i].want)
                        fail_msg("case %zu: %s x %s: got %s, want %s", i,
                                 keyword_kind_to_string(cases[i].kind),
                                 consent_status_to_string(cases[i].status),
                                 consent_action_to_string(got),
                                 consent_action_to_string(cases[i].want));
        }
        /* No record at all is "none". */
        assert_int_equal(consent_decide(KEYWORD_NONE, NULL, "me"), CONSENT_ACTION_AGENT);
        assert_int_equal(consent_decide(KEYWORD_OPT_OUT, NULL, "me"), CONSENT_ACTION_OPT_OUT);
}

/* With the real classifier: the state a message is classified under. */
static void test_decide_with_keywords(void **state)
{
        struct keyword_rules *rules;
        struct consent_record none = rec_of(CONSENT_NONE, NULL);
        struct consent_record out = rec_of(CONSENT_OPTED_OUT, "stop-1");
        struct consent_record in_by_yes = rec_of(CONSENT_OPTED_IN, "yes-1");
        const struct {
                const struct consent_record *rec;
                const char *id, *text;
                enum consent_action want;
        } cases[] = {
                {&none, "m", "What are your hours?", CONSENT_ACTION_AGENT},
                {&none, "m", "YES", CONSENT_ACTION_AGENT}, /* YES is only an opt-in when out */
                {&none, "m", "Stop texting me", CONSENT_ACTION_OPT_OUT},
                {&out, "m", "Hello", CONSENT_ACTION_BLOCK},
                {&out, "m", "YES", CONSENT_ACTION_OPT_IN},
                {&out, "m", "start", CONSENT_ACTION_OPT_IN},
                {&out, "m", "HELP", CONSENT_ACTION_HELP},
                {&out, "m", "STOP", CONSENT_ACTION_IGNORE},
                /* A retry of the STOP that wrote the opt-out confirms it. */
                {&out, "stop-1", "STOP", CONSENT_ACTION_CONFIRM_OPT_OUT},
                /* A retry of the YES that opted in: classified as when it was out. */
                {&in_by_yes, "yes-1", "yes", CONSENT_ACTION_CONFIRM_OPT_IN},
                {&in_by_yes, "other", "yes", CONSENT_ACTION_AGENT},
        };

        assert_int_equal(keyword_rules_new(NULL, &rules), 0);
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                bool opted_out = consent_classify_opted_out(cases[i].rec, cases[i].id);
                enum keyword_kind k = keyword_classify(rules, cases[i].text, opted_out, NULL);
                enum consent_action got = consent_decide(k, cases[i].rec, cases[i].id);

                if (got != cases[i].want)
                        fail_msg("case %zu (%s): got %s, want %s", i, cases[i].text,
                                 consent_action_to_string(got),
                                 consent_action_to_string(cases[i].want));
        }
        keyword_rules_free(rules);
}

static void test_changed_by(void **state)
{
        struct consent_record r = rec_of(CONSENT_OPTED_OUT, "abc");

        assert_true(consent_record_changed_by(&r, "abc"));
        assert_false(consent_record_changed_by(&r, "abd"));
        assert_false(consent_record_changed_by(&r, ""));
        assert_false(consent_record_changed_by(&r, NULL));
        assert_false(consent_record_changed_by(NULL, "abc"));
        r = rec_of(CONSENT_NONE, "");
        assert_false(consent_record_changed_by(&r, ""));
        assert_true(consent_classify_opted_out(
                &(struct consent_record){.exists = true, .status = CONSENT_OPTED_OUT}, "x"));
        assert_false(consent_classify_opted_out(NULL, "x"));
}

static void check_update(const struct consent_update *u, const char *want_update,
                         const char *want_condition, const char *want_values)
{
        _cleanup_free_ char *values = dump(u->values);
        _cleanup_free_ char *key = dump(u->key);

        assert_string_equal(u->params.update, want_update);
        assert_string_equal(u->params.condition, want_condition);
        assert_string_equal(values, want_values);
        assert_string_equal(key, "{\"phone_number\":{\"S\":\"+14255550123\"}}");
        assert_string_equal(u->params.table, "consent");
        assert_ptr_equal(u->params.update, u->update);
        assert_ptr_equal(u->params.condition, u->condition);
}

/* A change of +14255550123's consent by an SMS, an opt-out to be honoured
 * within 10 business days. */
static struct consent_change sms_change(enum consent_status to, const char *inbound_message_id,
                                        time_t now)
{
        return (struct consent_change){
                .phone = "+14255550123",
                .to = to,
                .method = CONSENT_METHOD_SMS,
                .inbound_message_id = inbound_message_id,
                .now = now,
                .business_days = 10,
        };
}

static void test_update_opt_out(void **state)
{
        struct consent_update u;
        struct consent_change c =
                sms_change(CONSENT_OPTED_OUT, "in-1", iso("2026-11-20T18:30:00Z")); /* a Friday */
        struct consent_record none = {0};
        struct consent_record v3 = {
                .exists = true, .status = CONSENT_OPTED_IN, .has_version = true, .version = 3};
        struct consent_record legacy = {.exists = true, .status = CONSENT_OPTED_IN};
        static const char *const thanksgiving[] = {"2026-11-26"};
        struct business_days_holidays h = {0};
        _cleanup_free_ char *names = NULL, *body = NULL;
        json_t *req;

        assert_int_equal(consent_update_build("consent", &c, &none, &u), 0);
        check_update(&u,
                     "SET #st = :st, #up = :now, #li = :li, #ve = :nv, #hi = :hist, #hc = :hc, "
                     "#om = :m, #or = :now, #od = :dl",
                     "attribute_not_exists(#pk)",
                     /* Weekends skipped: Fri + 10 business days is the Friday two weeks on. */
                     "{\":dl\":{\"S\":\"2026-12-04T18:30:00Z\"},\":hc\":{\"N\":\"1\"},"
                     "\":hist\":{\"L\":[{\"M\":{\"action\":{\"S\":\"opt_out\"},"
                     "\"inbound_message_id\":{\"S\":\"in-1\"},\"method\":{\"S\":\"sms\"},"
                     "\"time\":{\"S\":\"2026-11-20T18:30:00Z\"}}}]},"
                     "\":li\":{\"S\":\"in-1\"},\":m\":{\"S\":\"sms\"},"
                     "\":now\":{\"S\":\"2026-11-20T18:30:00Z\"},\":nv\":{\"N\":\"1\"},"
                     "\":st\":{\"S\":\"opted_out\"}}");
        names = dump(u.names);
        assert_string_equal(names, "{\"#hc\":\"consent_changes\",\"#hi\":\"consent_history\","
                                   "\"#li\":\"last_inbound_message_id\","
                                   "\"#od\":\"opt_out_deadline\",\"#om\":\"opt_out_method\","
                                   "\"#or\":\"opt_out_requested_at\",\"#pk\":\"phone_number\","
                                   "\"#st\":\"consent_status\",\"#up\":\"updated_at\","
                                   "\"#ve\":\"version\"}");
        /* The whole request as DynamoDB gets it. */
        req = ddb_update_item_request(&u.params);
        assert_non_null(req);
        body = dump(req);
        assert_non_null(strstr(body, "\"ConditionExpression\":\"attribute_not_exists(#pk)\""));
        assert_non_null(strstr(body, "\"TableName\":\"consent\""));
        json_decref(req);
        consent_update_done(&u);

        /* Compare and swap on the version read. */
        assert_int_equal(consent_update_build("consent", &c, &v3, &u), 0);
        assert_string_equal(u.params.condition, "#ve = :ov");
        assert_null(json_object_get(u.names, "#pk")); /* unused names are refused */
        {
                _cleanup_free_ char *nv = dump(json_object_get(u.values, ":nv"));
                _cleanup_free_ char *ov = dump(json_object_get(u.values, ":ov"));
                assert_string_equal(nv, "{\"N\":\"4\"}");
                assert_string_equal(ov, "{\"N\":\"3\"}");
        }
        consent_update_done(&u);

        /* An item written by something else, without a version. */
        assert_int_equal(consent_update_build("consent", &c, &legacy, &u), 0);
        assert_string_equal(u.params.condition,
                            "attribute_exists(#pk) AND attribute_not_exists(#ve)");
        assert_null(json_object_get(u.values, ":ov"));
        assert_non_null(json_object_get(u.names, "#pk"));
        consent_update_done(&u);

        /* A holiday moves the deadline. */
        assert_int_equal(business_days_holidays_parse(thanksgiving, 1, &h), 0);
        c.holidays = &h;
        assert_int_equal(consent_update_build("consent", &c, &none, &u), 0);
        assert_string_equal(ddb_av_get_s(json_object_get(u.values, ":dl")), "2026-12-07T18:30:00Z");
        consent_update_done(&u);
        business_days_holidays_done(&h);
}

static void test_update_opt_in(void **state)
{
        struct consent_update u;
        struct consent_change c = sms_change(CONSENT_OPTED_IN, "in-2", iso("2026-11-24T13:05:09Z"));
        struct consent_record out = {
                .exists = true, .status = CONSENT_OPTED_OUT, .has_version = true, .version = 1};

        assert_int_equal(consent_update_build("consent", &c, &out, &u), 0);
        check_update(&u,
                     "SET #st = :st, #up = :now, #li = :li, #ve = :nv, #hi = :hist, #hc = :hc, "
                     "#ia = :now, #im = :m",
                     "#ve = :ov",
                     "{\":hc\":{\"N\":\"1\"},"
                     "\":hist\":{\"L\":[{\"M\":{\"action\":{\"S\":\"opt_in\"},"
                     "\"inbound_message_id\":{\"S\":\"in-2\"},\"method\":{\"S\":\"sms\"},"
                     "\"time\":{\"S\":\"2026-11-24T13:05:09Z\"}}}]},"
                     "\":li\":{\"S\":\"in-2\"},\":m\":{\"S\":\"sms\"},"
                     "\":now\":{\"S\":\"2026-11-24T13:05:09Z\"},\":nv\":{\"N\":\"2\"},"
                     "\":ov\":{\"N\":\"1\"},\":st\":{\"S\":\"opted_in\"}}");
        assert_null(json_object_get(u.names, "#od"));
        assert_string_equal(json_string_value(json_object_get(u.names, "#ia")), "opt_in_at");
        consent_update_done(&u);
}

/* Apply an update's SET values to an item, as DynamoDB would. */
static void apply_update(json_t *it, const struct consent_update *u)
{
        const char *names[][2] = {{":st", "consent_status"},          {":now", "updated_at"},
                                  {":li", "last_inbound_message_id"}, {":nv", "version"},
                                  {":hist", "consent_history"},       {":hc", "consent_changes"}};

        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                assert_int_equal(
                        json_object_set(it, names[i][1], json_object_get(u->values, names[i][0])),
                        0);
}

/* 3,000 STOP/START cycles: the history keeps the newest 20 changes, the count
 * keeps them all, the item stays small. */
static void test_history_bound(void **state)
{
        json_t *it = item("{\"phone_number\":{\"S\":\"+14255550123\"}}");
        struct consent_record rec = {0};
        size_t largest = 0;

        for (int i = 0; i < 6000; i++) {
                struct consent_update u;
                char id[32];
                size_t size;

                (void)snprintf(id, sizeof(id), "in-%d", i);
                assert_int_equal(consent_update_build(
                                         "consent",
                                         &(struct consent_change){
                                                 .phone = "+14255550123",
                                                 .to = i % 2 ? CONSENT_OPTED_IN : CONSENT_OPTED_OUT,
                                                 .method = CONSENT_METHOD_SMS,
                                                 .inbound_message_id = id,
                                                 .now = iso("2026-11-20T18:30:00Z"),
                                         },
                                         &rec, &u),
                                 0);
                apply_update(it, &u);
                consent_update_done(&u);
                assert_int_equal(consent_record_from_item(it, &rec), 0);
                size = json_dumpb(it, NULL, 0, JSON_COMPACT);
                if (size > largest)
                        largest = size;
        }
        print_message("consent item after 6000 changes: %zu bytes (largest %zu)\n",
                      json_dumpb(it, NULL, 0, JSON_COMPACT), largest);
        assert_true(largest < 4096);
        assert_int_equal(rec.changes, 6000);
        assert_int_equal(rec.version, 6000);
        assert_int_equal(rec.status, CONSENT_OPTED_IN);
        {
                const json_t *h = ddb_av_get_l(json_object_get(it, "consent_history"));

                assert_int_equal(json_array_size(h), CONSENT_HISTORY_MAX);
                /* Oldest first; the newest is the last change. */
                assert_string_equal(history_id(h, 19), "in-5999");
                assert_string_equal(history_id(h, 0), "in-5980");
        }
        json_decref(it);
}

/* An item written before the bound: thousands of entries and no count. The
 * next write keeps the newest entries and counts them all. */
static void test_history_legacy(void **state)
{
        json_t *it = item("{\"phone_number\":{\"S\":\"+1\"},\"consent_status\":{\"S\":"
                          "\"opted_in\"},\"version\":{\"N\":\"1900\"}}");
        json_t *list = ddb_av_l();
        struct consent_record rec;
        struct consent_update u;

        for (int i = 0; i < 1900; i++) {
                json_t *e = ddb_av_m();
                char id[32];

                (void)snprintf(id, sizeof(id), "old-%d", i);
                assert_int_equal(ddb_av_m_set(e, "inbound_message_id", ddb_av_s(id)), 0);
                assert_int_equal(json_array_append_new(ddb_av_get_l(list), e), 0);
        }
        assert_int_equal(ddb_item_set(it, "consent_history", list), 0);
        assert_int_equal(consent_record_from_item(it, &rec), 0);
        assert_int_equal(rec.changes, 1900);
        assert_non_null(strstr(rec.history, "old-1899"));
        assert_null(strstr(rec.history, "old-1879\""));
        assert_int_equal(consent_update_build("consent",
                                              &(struct consent_change){
                                                      .phone = "+1",
                                                      .to = CONSENT_OPTED_OUT,
                                                      .method = CONSENT_METHOD_SMS,
                                                      .inbound_message_id = "stop-1",
                                                      .now = iso("2026-11-20T18:30:00Z"),
                                              },
                                              &rec, &u),
                         0);
        {
                const json_t *h = ddb_av_get_l(json_object_get(u.values, ":hist"));

                assert_int_equal(json_array_size(h), CONSENT_HISTORY_MAX);
                assert_string_equal(history_id(h, 0), "old-1881");
                assert_string_equal(history_id(h, 19), "stop-1");
        }
        assert_int_equal(ddb_av_get_n_int(json_object_get(u.values, ":hc"), &rec.changes), 0);
        assert_int_equal(rec.changes, 1901);
        consent_update_done(&u);

        /* A count that is there wins over the history's length; a bad one does not. */
        assert_int_equal(ddb_item_set(it, "consent_changes", ddb_av_n_int(7000)), 0);
        assert_int_equal(consent_record_from_item(it, &rec), 0);
        assert_int_equal(rec.changes, 7000);
        assert_int_equal(ddb_item_set(it, "consent_changes", ddb_av_s("many")), 0);
        assert_int_equal(consent_record_from_item(it, &rec), 0);
        assert_int_equal(rec.changes, 1900);
        json_decref(it);
}

/* Long notes: the byte bound drops older entries, never the newest. */
static void test_history_bytes(void **state)
{
        struct consent_record rec = {0};
        char note[CONSENT_NOTE_MAX + 1];
        json_t *it = item("{\"phone_number\":{\"S\":\"+1\"}}");

        memset(note, 'n', sizeof(note) - 1);
        note[sizeof(note) - 1] = '\0';
        for (int i = 0; i < 30; i++) {
                struct consent_update u;

                assert_int_equal(consent_update_build(
                                         "consent",
                                         &(struct consent_change){
                                                 .phone = "+1",
                                                 .to = i % 2 ? CONSENT_OPTED_IN : CONSENT_OPTED_OUT,
                                                 .method = "manual",
                                                 .inbound_message_id = "manual:x",
                                                 .now = iso("2026-11-20T18:30:00Z"),
                                                 .operator_name = "alice",
                                                 .note = note,
                                         },
                                         &rec, &u),
                                 0);
                assert_true(json_dumpb(json_object_get(json_object_get(u.values, ":hist"), "L"),
                                       NULL, 0, JSON_COMPACT) <= CONSENT_HISTORY_BYTES_MAX);
                apply_update(it, &u);
                consent_update_done(&u);
                assert_int_equal(consent_record_from_item(it, &rec), 0);
        }
        assert_int_equal(rec.changes, 30);
        assert_true(json_array_size(ddb_av_get_l(json_object_get(it, "consent_history"))) < 10);
        json_decref(it);
}

/* A manual change's entry carries the operator and the note. */
static void test_update_manual_entry(void **state)
{
        struct consent_record rec = {0};
        struct consent_update u;
        struct consent_change c = {
                .phone = "+14255550123",
                .to = CONSENT_OPTED_OUT,
                .method = "manual",
                .inbound_message_id = "manual:x",
                .now = 1795521909,
                .business_days = 10,
                .operator_name = "alice",
                .note = "ticket 42",
        };
        char big[CONSENT_NOTE_MAX + 2];
        _cleanup_free_ char *e = NULL;

        assert_int_equal(consent_update_build("t", &c, &rec, &u), 0);
        e = dump(json_array_get(json_object_get(json_object_get(u.values, ":hist"), "L"), 0));
        assert_string_equal(e, "{\"M\":{\"action\":{\"S\":\"opt_out\"},\"inbound_message_id\":{"
                               "\"S\":\"manual:x\"},\"method\":{\"S\":\"manual\"},\"note\":{\"S\":"
                               "\"ticket 42\"},\"operator\":{\"S\":\"alice\"},\"time\":{\"S\":"
                               "\"2026-11-24T12:05:09Z\"}}}");
        consent_update_done(&u);

        memset(big, 'n', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        c.note = big;
        assert_int_equal(consent_update_build("t", &c, &rec, &u), -EINVAL);
}

static void test_update_invalid(void **state)
{
        struct consent_update u;
        struct consent_record none = {0};
        struct consent_change c = {
                .phone = "+14255550123",
                .to = CONSENT_OPTED_OUT,
                .method = CONSENT_METHOD_AWS,
                .inbound_message_id = "in-1",
                .now = 0,
                .business_days = 10,
        };

        assert_int_equal(consent_update_build(NULL, &c, &none, &u), -EINVAL);
        assert_int_equal(consent_update_build("t", NULL, &none, &u), -EINVAL);
        assert_int_equal(consent_update_build("t", &c, NULL, &u), -EINVAL);
        c.to = CONSENT_NONE;
        assert_int_equal(consent_update_build("t", &c, &none, &u), -EINVAL);
        c.to = CONSENT_OPTED_OUT;
        c.inbound_message_id = "";
        assert_int_equal(consent_update_build("t", &c, &none, &u), -EINVAL);
        c.inbound_message_id = "x";
        c.phone = NULL;
        assert_int_equal(consent_update_build("t", &c, &none, &u), -EINVAL);
        c.phone = "+1";
        c.business_days = BUSINESS_DAYS_MAX_N + 1;
        assert_int_equal(consent_update_build("t", &c, &none, &u), -ERANGE);
        /* A method other than sms is recorded as given. */
        c.business_days = 1;
        assert_int_equal(consent_update_build("t", &c, &none, &u), 0);
        assert_string_equal(ddb_av_get_s(json_object_get(u.values, ":m")), "aws");
        consent_update_done(&u);
        consent_update_done(NULL);
}

/* The read every reader sends: the number as the key, strongly consistent
 * (a write just made by another instance or by twowayctl must be seen). */
static void test_get_request(void **state)
{
        struct consent_get_request rd;
        char *key;

        assert_int_equal(consent_get_request_build("consent", "+14255550123", &rd), 0);
        assert_string_equal(rd.params.table, "consent");
        assert_true(rd.params.consistent_read);
        assert_null(rd.params.projection);
        key = json_dumps(rd.params.key, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(key, "{\"phone_number\":{\"S\":\"+14255550123\"}}");
        free(key);
        consent_get_request_done(&rd);
        assert_null(rd.key);
        assert_null(rd.params.key);
        consent_get_request_done(&rd); /* twice is harmless */

        assert_int_equal(consent_get_request_build("", "+14255550123", &rd), -EINVAL);
        assert_int_equal(consent_get_request_build("consent", NULL, &rd), -EINVAL);
}

static void test_names(void **state)
{
        assert_string_equal(consent_status_to_string(CONSENT_OPTED_OUT), "opted_out");
        assert_string_equal(consent_status_to_string(CONSENT_OPTED_IN), "opted_in");
        assert_string_equal(consent_status_to_string(CONSENT_NONE), "none");
        assert_string_equal(consent_status_to_string(_CONSENT_STATUS_MAX), "invalid");
        assert_string_equal(consent_action_to_string(CONSENT_ACTION_BLOCK), "block");
        assert_string_equal(consent_action_to_string(_CONSENT_ACTION_MAX), "invalid");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_record),
                cmocka_unit_test(test_decide_table),
                cmocka_unit_test(test_decide_with_keywords),
                cmocka_unit_test(test_changed_by),
                cmocka_unit_test(test_update_opt_out),
                cmocka_unit_test(test_update_opt_in),
                cmocka_unit_test(test_update_invalid),
                cmocka_unit_test(test_history_bound),
                cmocka_unit_test(test_history_legacy),
                cmocka_unit_test(test_history_bytes),
                cmocka_unit_test(test_update_manual_entry),
                cmocka_unit_test(test_get_request),
                cmocka_unit_test(test_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
