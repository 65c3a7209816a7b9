/*
 * config_schema_test.c — unit tests for config_schema.c, the table of
 * twowayd.conf's keys: its flags, the defaults a file that sets nothing gets,
 * and what each key refuses (with the reason the operator reads, at the
 * key's file:line) and accepts, up to its bounds. Reading the file itself
 * (syntax, continuation lines, lists, structural errors, reload) is
 * config_test.c's.
 *
 * Test configs are written to a mkdtemp() directory removed at the end
 * (config_fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <cmocka.h>

#include "common.h"
#include "config.h"
#include "config_schema.h"

#include "config_fixture.h"

/* --- the table ---------------------------------------------------------------------- */

static void test_schema_flags(void **state)
{
        size_t n_required = 0, n_restart = 0;

        (void)state;
        assert_true(config_schema_size() >= 28);
        for (size_t i = 0; i < config_schema_size(); i++) {
                const char *section, *key, *def;
                bool required, restart;
                char name[64];

                assert_int_equal(config_schema_item(i, &section, &key, &def, &required, &restart),
                                 0);
                snprintf(name, sizeof(name), "%s.%s", section, key);
                if (required) {
                        n_required++;
                        assert_null(def); /* a required key has no default */
                }
                if (restart) {
                        n_restart++;
                        /* libmicrohttpd takes these when it starts; a reload cannot change them. */
                        assert_true(streq(name, "http.listen") || streq(name, "spool.dir") ||
                                    streq(name, "http.tls_cert") || streq(name, "http.tls_key") ||
                                    streq(name, "http.max_connections") ||
                                    streq(name, "http.max_connections_per_ip") ||
                                    streq(name, "http.timeout") ||
                                    streq(name, "http.request_timeout") ||
                                    streq(name, "http.metrics_listen") ||
                                    /* The worker threads start with the daemon. */
                                    streq(name, "http.verify_threads") ||
                                    streq(name, "spool.min_free") ||
                                    /* The cluster's table and lease are the instance's identity
                                     * towards the others: a reload cannot change them. */
                                    streq(name, "cluster.table") ||
                                    streq(name, "cluster.lease_seconds"));
                }
        }
        assert_int_equal(n_required, 4);
        assert_int_equal(n_restart, 13);
        {
                const char *a, *b, *c;
                bool x, y;

                assert_int_equal(config_schema_item(config_schema_size(), &a, &b, &c, &x, &y),
                                 -ENOENT);
        }
}

/* A default as the check sees it: a list item by item. */
static void check_default(const struct config_item *it)
{
        _cleanup_free_ char *copy = strdup(it->def);
        char why[256], *save = NULL;

        assert_non_null(copy);
        for (char *v = it->type == CONFIG_LIST ? strtok_r(copy, " ,", &save) : copy; v;
             v = it->type == CONFIG_LIST ? strtok_r(NULL, " ,", &save) : NULL)
                if (config_item_check(it, v, why, sizeof(why)) < 0)
                        fail_msg("%s.%s: default '%s' refused: %s", it->section, it->key, v, why);
}

/* Every key is found where it stands, in a known section, and its default
 * passes its own check. */
static void test_table_consistent(void **state)
{
        (void)state;
        for (size_t i = 0; i < config_n_items; i++) {
                const struct config_item *it = &config_items[i];

                assert_int_equal(config_item_index(it->section, it->key), (int)i);
                assert_true(config_section_index(it->section) >= 0);
                if (it->def)
                        check_default(it);
        }
        for (size_t i = 0; i < config_n_sections; i++)
                assert_int_equal(config_section_index(config_sections[i]), (int)i);
        assert_int_equal(config_section_index("htp"), -1);
        assert_int_equal(config_item_index("http", "region"), -1);
}

static void test_defaults(void **state)
{
        struct loaded l;
        struct config *c;

        (void)state;
        load_text(REQUIRED, &l);
        expect_ok(&l);
        c = l.config;
        assert_string_equal(c->http_listen_host, "127.0.0.1");
        assert_int_equal(c->http_listen_port, 8080);
        assert_string_equal(c->http_path, "/sns");
        assert_null(c->http_tls_cert);
        assert_null(c->http_tls_key);
        assert_int_equal(c->http_max_connections, 512);
        assert_int_equal(c->http_max_per_ip, 0);
        assert_int_equal(c->http_timeout_s, 30);
        assert_int_equal(c->http_request_timeout_s, 10);
        assert_null(c->http_metrics_listen_host);
        assert_int_equal(c->n_http_metrics_allow, 2);
        assert_string_equal(c->http_metrics_allow[0], "127.0.0.0/8");
        assert_string_equal(c->http_metrics_allow[1], "::1");
        assert_int_equal(c->http_max_body, 524288);
        assert_string_equal(c->http_verify_threads, "auto");
        assert_null(c->aws_region);
        assert_null(c->aws_ca_bundle);
        assert_null(c->sns_signing_cert_host);
        assert_true(c->sns_auto_confirm);
        assert_int_equal(c->consent_business_days, 10);
        assert_string_equal(c->consent_opt_out_reply,
                            "You have been unsubscribed from SMS messages. Your request will be "
                            "processed within 10 business days. Reply START to resubscribe.");
        assert_string_equal(c->consent_opt_in_reply,
                            "You have been resubscribed to SMS messages. Welcome back!");
        assert_non_null(strstr(c->consent_help_reply, "help"));
        assert_non_null(strstr(c->consent_help_reply, "Reply STOP to unsubscribe"));
        assert_non_null(strstr(c->consent_help_reply, "Msg & data rates may apply."));
        assert_int_equal(c->agent_timeout_ms, 30000);
        assert_string_equal(c->agent_fallback_reply,
                            "Sorry, we can't answer right now. Please try again later.");
        assert_null(c->sms_origination_identity);
        assert_null(c->sms_configuration_set);
        assert_string_equal(c->sms_message_type, "TRANSACTIONAL");
        assert_string_equal(c->spool_dir, "/var/lib/twowayd");
        assert_int_equal(c->log_level, LOG_INFO);
        assert_true(c->log_redact);
        assert_null(c->dedup_table);
        assert_int_equal(c->dedup_ttl_days, 7);
        assert_int_equal(c->n_consent_holidays, 0);
        assert_null(c->consent_opt_out_words);
        assert_int_equal(c->sms_max_segments, 3);
        assert_null(c->sms_max_price);
        assert_int_equal(c->sms_time_to_live, 0);
        assert_int_equal(c->sms_max_per_second, 0);
        assert_int_equal(c->dispatch_concurrency, 64);
        assert_int_equal(c->dispatch_max_age_s, 3600);
        assert_int_equal(c->dispatch_retry_initial_ms, 1000);
        assert_int_equal(c->dispatch_retry_max_ms, 60000);
        assert_int_equal(c->spool_retention_days, 7);
        assert_int_equal(c->spool_min_free, 16 * 1024 * 1024);
        loaded_done(&l);
}

/* --- what each key refuses and accepts ---------------------------------------------- */

#define VALUES_MAX 8

/* Values a key refuses for one reason, one row per key and reason. */
static const struct refused_case {
        const char *name, *reason;      /* name: section.key */
        const char *values[VALUES_MAX]; /* NULL-terminated */
} refused_cases[] = {
        /* host:port */
        {"http.listen", "expected host:port", {"abc"}},
        {"http.listen",
         "port must be 0-65535",
         {"127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:-1", "[::]:65536"}},
        {"http.listen", "missing host (0.0.0.0 or [::] listen everywhere)", {":8080"}},
        {"http.listen",
         "host must be a numeric IPv4 or [IPv6] address",
         {"localhost:8080", "300.1.1.1:80"}},
        {"http.listen", "IPv6 addresses need brackets, as in [::]:8080", {"::1:8080"}},
        {"http.listen", "expected [ipv6]:port", {"[::1]", "[::1]8080"}},
        {"http.listen", "'1.2.3.4' is not an IPv6 address", {"[1.2.3.4]:80"}},
        /* path-like text */
        {"http.path", "must start with '/'", {"sns"}},
        {"http.path", "must not contain spaces or non-ASCII characters", {"/a b"}},
        {"spool.dir", "must be an absolute path", {"var/lib/twowayd"}},
        {"aws.ca_bundle", "must be an absolute path", {"relative.pem"}},
        {"aws.ca_bundle", "cannot read: No such file or directory", {"/nonexistent/cert.pem"}},
        {"aws.ca_bundle", "not a regular file", {"/tmp"}},
        /* unsigned integers */
        {"http.max_connections", "must be an integer 1-100000", {"0", "100001"}},
        {"http.timeout", "must be an integer 1-3600", {"abc", "-1", "10s", "0x10"}},
        {"consent.business_days",
         "must be an integer 1-60",
         {"0", "61", "99999999999999999999999"}},
        {"agent.timeout_ms", "must be an integer 1000-300000", {"999", "300001"}},
        {"http.verify_threads",
         "must be auto or a number of threads from 0 to 64",
         {"65", "-1", "1.5", "AUTO"}},
        /* sizes */
        {"http.max_body",
         "must be a byte count 1024-16777216 (suffix k, m or g allowed)",
         {"1023", "17m", "1g", "12q", "1kk", "k", "99999999999999999999g"}},
        {"sms.max_segments", "must be an integer 1-10", {"0", "11"}},
        {"sms.time_to_live", "must be an integer 0-259200", {"259201"}},
        {"sms.time_to_live", "must be 0 (unset) or 5-259200", {"4", "1"}},
        {"dispatch.concurrency", "must be an integer 1-4096", {"0"}},
        {"dispatch.max_age", "must be an integer 60-604800", {"59"}},
        {"dedup.ttl_days", "must be an integer 1-365", {"366"}},
        /* dates, prices, keyword lists */
        {"consent.holidays", "not a date (YYYY-MM-DD)", {"2026-13-01", "2026-2-1"}},
        {"sms.max_price",
         "SendTextMessage MaxPrice must match ^[0-9]{0,2}\\.[0-9]{1,5}$",
         {"five", "-1", "0.123456", "100.5"}},
        {"sms.max_price", "SendTextMessage MaxPrice is 2-8 characters (this is 1)", {"1"}},
        {"sms.max_price", "SendTextMessage MaxPrice is 2-8 characters (this is 9)", {"0.1234567"}},
        {"consent.opt_out_words",
         "expected comma-separated words (letters, digits, ' and -)",
         {"STOP,,END"}},
        {"consent.help_words",
         "expected comma-separated words (letters, digits, ' and -)",
         {"HELP;INFO"}},
        {"dedup.table", "DynamoDB TableName is 3-255 characters (this is 1)", {"x"}},
        /* booleans */
        {"sns.auto_confirm", "expected yes/no, true/false, on/off or 1/0", {"maybe"}},
        {"log.redact", "expected yes/no, true/false, on/off or 1/0", {"2"}},
        /* enums */
        {"log.level", "expected error, warning, notice, info or debug", {"loud"}},
        {"sms.message_type", "expected TRANSACTIONAL or PROMOTIONAL", {"BULK"}},
        /* regex */
        {"sns.signing_cert_host",
         "regular expression does not compile: Unmatched ( or \\(",
         {"(sns"}},
        /* lists */
        {"sns.topic_arns",
         "not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT-ID:TOPIC-NAME)",
         {"arn:aws:sns:us-east-1:12345678901:x", "arn:aws:sqs:us-east-1:123456789012:x",
          "arn:aws:sns:us-east-1:123456789012:bad/name", "arn:azure:sns:us-east-1:123456789012:x"}},
        {"sns.topic_arns", "must not be empty", {""}},
        /* checked text */
        {"consent.table", "DynamoDB TableName is 3-255 characters (this is 2)", {"ab"}},
        {"consent.table", "DynamoDB TableName must match ^[a-zA-Z0-9_.-]+$", {"my table"}},
        {"consent.table", "must not be empty", {""}},
        {"agent.agent_id",
         "InvokeAgent agentId is at most 10 characters (this is 11)",
         {"ABCDEFGHIJK"}},
        {"agent.agent_id", "InvokeAgent agentId must match ^[0-9a-zA-Z]+$", {"AB-12"}},
        {"agent.agent_alias_id",
         "InvokeAgent agentAliasId must match ^[0-9a-zA-Z]+$",
         {"TST_ALIAS"}},
        {"agent.agent_alias_id", "must not be empty", {""}},
        {"agent.time_zone",
         "no such time zone in the tz database (is tzdata installed?)",
         {"Mars/Olympus_Mons"}},
        {"agent.time_zone",
         "not a time zone name (like America/New_York or UTC)",
         {"../etc/passwd"}},
        {"agent.citations", "expected no or append", {"yes"}},
        {"agent.return_control_url", "not an http:// or https:// URL", {"ftp://x"}},
        {"aws.region", "not an AWS region name (like us-east-1)", {"useast1", "US-EAST-1"}},
        {"sms.origination_identity",
         "SendTextMessage OriginationIdentity must match ^[A-Za-z0-9_:/\\+-]+$",
         {"+1 206 555", "pool.main"}},
        {"sms.configuration_set",
         "SendTextMessage ConfigurationSetName must match ^[A-Za-z0-9_:/-]+$",
         {"twowayd.prod"}},
        {"consent.opt_out_reply", "must not be empty", {""}},
        {"http.timeout", "must not be empty", {""}},
};

/* Refused values that the diagnostic shows otherwise: the bad item of a
 * list alone, control characters as '?'. */
static const struct refused_shown_case {
        const char *name, *value, *shown, *reason;
} refused_shown_cases[] = {
        {"consent.holidays", "2026-12-25 25/12/2026", "25/12/2026", "not a date (YYYY-MM-DD)"},
        {"sns.topic_arns", "arn:aws:sns:us-east-1:123456789012:ok, nope", "nope",
         "not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT-ID:TOPIC-NAME)"},
        {"sns.topic_arns", " , ,", ", ,", "must not be empty"},
        {"consent.help_reply", "a\x01z", "a?z", "must not contain control characters"},
};

/* A valid file but for the one key (name: section.key), which is last.
 * Returns the text; *ret_key the key alone, *ret_line its line. */
static char *text_with(const char *name, const char *value, const char **ret_key,
                       unsigned *ret_line)
{
        static const char *const required[] = {
                "sns.topic_arns = arn:aws:sns:us-east-1:123456789012:twowayd-inbound",
                "consent.table = twowayd-consent",
                "agent.agent_id = AGENT12345",
                "agent.agent_alias_id = ALIAS12345",
        };
        const char *dot = strchr(name, '.');
        char *text = NULL;
        size_t size = 0;
        unsigned line = 0;
        FILE *f = open_memstream(&text, &size);

        assert_non_null(dot);
        assert_non_null(f);
        for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
                const char *r = required[i], *r_dot = strchr(r, '.');

                if (strncmp(r, name, strlen(name)) == 0 && r[strlen(name)] == ' ')
                        continue;
                fprintf(f, "[%.*s]\n%s\n", (int)(r_dot - r), r, r_dot + 1);
                line += 2;
        }
        fprintf(f, "[%.*s]\n%s = %s\n", (int)(dot - name), name, dot + 1, value);
        assert_int_equal(fclose(f), 0);
        *ret_key = dot + 1;
        *ret_line = line + 2;
        return text;
}

/* One diagnostic, at the key's line, quoting shown. */
static void expect_refused(const char *name, const char *value, const char *shown,
                           const char *reason)
{
        _cleanup_free_ char *text = NULL, *want = NULL;
        const char *key;
        struct loaded l;
        unsigned line;

        text = text_with(name, value, &key, &line);
        load_text(text, &l);
        assert_true(asprintf(&want, "%u: invalid value '%s' for %s: %s", line, shown, key, reason) >
                    0);
        expect_diags(&l, 1, want);
        loaded_done(&l);
}

static void test_refused_values(void **state)
{
        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(refused_cases); i++) {
                const struct refused_case *rc = &refused_cases[i];

                for (size_t v = 0; v < VALUES_MAX && rc->values[v]; v++)
                        expect_refused(rc->name, rc->values[v], rc->values[v], rc->reason);
        }
        for (size_t i = 0; i < ARRAY_SIZE(refused_shown_cases); i++) {
                const struct refused_shown_case *sc = &refused_shown_cases[i];

                expect_refused(sc->name, sc->value, sc->shown, sc->reason);
        }
}

/* Values a key accepts: its bounds and the forms its check allows. */
static const struct accepted_case {
        const char *name;
        const char *values[VALUES_MAX]; /* NULL-terminated */
} accepted_cases[] = {
        {"http.path", {"/", "/hooks/sns-1"}},
        {"http.max_connections", {"1", "100000"}},
        {"http.timeout", {"1", "3600"}},
        {"http.verify_threads", {"auto", "0", "7", "64"}},
        {"http.max_body", {"1024", "1k", "16m"}},
        {"http.metrics_allow", {"10.0.0.0/8 ::1", "192.0.2.1", "2001:db8::/32"}},
        {"consent.table", {"abc", "consent.v2_table-1"}},
        {"consent.business_days", {"1", "60"}},
        {"consent.holidays", {"2026-12-25, 2028-02-29"}},
        {"consent.opt_out_words", {"STOP", "STOP, STOP ALL, Arret, can't, opt-out"}},
        {"agent.agent_id", {"A1", "ABCDEFGHIJ"}},
        {"agent.timeout_ms", {"1000", "300000"}},
        {"agent.time_zone", {"UTC", "America/New_York"}},
        {"agent.citations", {"no", "append"}},
        {"agent.return_control_url", {"https://hooks.example.com/rc", "http://127.0.0.1:8080"}},
        {"aws.region", {"us-east-1", "cn-north-1", "us-gov-west-1"}},
        {"sms.origination_identity", {"+12065550100", "pool-123"}},
        {"sms.message_type", {"transactional", "PROMOTIONAL"}},
        {"sms.max_segments", {"1", "10"}},
        {"sms.max_price", {"0.05", "99.12345"}},
        {"sms.time_to_live", {"0", "5", "259200"}},
        {"sms.max_per_second", {"1", "1000"}},
        {"dispatch.concurrency", {"1", "4096"}},
        {"dispatch.max_age", {"60", "604800"}},
        {"dispatch.retry_initial_ms", {"10", "60000"}},
        {"dispatch.retry_max_ms", {"100", "3600000"}},
        {"cluster.lease_seconds", {"5", "300"}},
        {"dedup.ttl_days", {"1", "365"}},
        {"spool.retention_days", {"1", "3650"}},
        {"spool.min_free", {"0", "1g"}},
        {"log.level", {"error", "warning", "notice", "info", "debug"}},
};

static void test_accepted_values(void **state)
{
        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(accepted_cases); i++) {
                const struct accepted_case *ac = &accepted_cases[i];

                for (size_t v = 0; v < VALUES_MAX && ac->values[v]; v++) {
                        _cleanup_free_ char *text = NULL;
                        const char *key;
                        struct loaded l;
                        unsigned line;

                        text = text_with(ac->name, ac->values[v], &key, &line);
                        load_text(text, &l);
                        if (l.r != 0)
                                print_message("  %s = %s\n", ac->name, ac->values[v]);
                        expect_ok(&l);
                        loaded_done(&l);
                }
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_schema_flags),    cmocka_unit_test(test_table_consistent),
                cmocka_unit_test(test_defaults),        cmocka_unit_test(test_refused_values),
                cmocka_unit_test(test_accepted_values),
        };

        return cmocka_run_group_tests_name("config_schema", tests, group_setup, group_teardown);
}
