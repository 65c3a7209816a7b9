/*
 * config_test.c — unit tests for config.c, the reading of twowayd.conf:
 * values of every type as written (lists, continuation lines, IPv6,
 * spellings, suffixes), the rules that span keys, every structural error
 * with its file:line diagnostic, files that cannot be read, restart-only
 * detection for a reload, and the shipped sample config/twowayd.conf. The
 * schema's own rules (its table, defaults and what each key accepts) are
 * config_schema_test.c's.
 *
 * Test configs are written to a mkdtemp() directory removed at the end
 * (config_fixture.h).
 */
#include <ctype.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <syslog.h>

#include <cmocka.h>

#include "common.h"
#include "config.h"

#include "config_fixture.h"

/* A self-signed P-256 certificate for CN=localhost (valid until 2126), its
 * key, and the key of another certificate: for the [http] tls_* checks. */
#define TEST_CERT_PEM                                                                              \
        "-----BEGIN CERTIFICATE-----\n"                                                            \
        "MIIBgDCCASWgAwIBAgIUBdGYLiiB25JDV1XnCubw4YDtGqAwCgYIKoZIzj0EAwIw\n"                       \
        "FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMjE2NTQ0NFoYDzIxMjYxMTA4\n"                       \
        "MTY1NDQ0WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n"                       \
        "PQMBBwNCAAQpOjwq0aCwlnce8C88v0re35huz1LFBuwWyBlJNm1++dt+qSLGGc68\n"                       \
        "SX2Y/Z38tQWj1ARxrzaRADBowBYrqHLzo1MwUTAdBgNVHQ4EFgQUResZv6y+ftVt\n"                       \
        "0dCCfYPo1pxK/w4wHwYDVR0jBBgwFoAUResZv6y+ftVt0dCCfYPo1pxK/w4wDwYD\n"                       \
        "VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAg4AjhF3oBE7DC/otFyxD\n"                       \
        "sBy18bH7YBGZvS9o5sXqdRACIQD35GxTLniirwPbevQEws9BSppi6eyuESYkWukZ\n"                       \
        "Ic9GvA==\n"                                                                               \
        "-----END CERTIFICATE-----\n"
#define TEST_KEY_PEM                                                                               \
        "-----BEGIN PRIVATE KEY-----\n"                                                            \
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgydab8hMFpTGehTH9\n"                       \
        "IDzvi4JIyDsMQ71bTOWVkf4UYu2hRANCAAQpOjwq0aCwlnce8C88v0re35huz1LF\n"                       \
        "BuwWyBlJNm1++dt+qSLGGc68SX2Y/Z38tQWj1ARxrzaRADBowBYrqHLz\n"                               \
        "-----END PRIVATE KEY-----\n"
#define OTHER_KEY_PEM                                                                              \
        "-----BEGIN PRIVATE KEY-----\n"                                                            \
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgi7WdxbzN+TY48DE9\n"                       \
        "sfjGjcQaTWEhRUscOWrC2g+ClYyhRANCAAQu1wg2+9K8IcOmMIthpzbXsoKekIMg\n"                       \
        "zsf7PBrTTYpkhUZuMe2XheIFiHSpo2FkzZawsSaE2olGFRRdjhAsc0eF\n"                               \
        "-----END PRIVATE KEY-----\n"

static char *sample_path(void)
{
        const char *src = __FILE__;
        const char *suffix = "tests/unit/config_test.c";
        size_t n = strlen(src), m = strlen(suffix);
        char *p;

        assert_true(n >= m && streq(src + n - m, suffix));
        assert_true(asprintf(&p, "%.*sconfig/twowayd.conf", (int)(n - m), src) > 0);
        return p;
}

static void test_edit_distance(void **state)
{
        (void)state;
        assert_int_equal(config_edit_distance("listen", "listen"), 0);
        assert_int_equal(config_edit_distance("lisen", "listen"), 1);
        assert_int_equal(config_edit_distance("lsiten", "listen"), 1); /* transposition */
        assert_int_equal(config_edit_distance("HTTP", "http"), 0);
        assert_int_equal(config_edit_distance("htp", "http"), 1);
        assert_int_equal(config_edit_distance("", "abc"), 3);
        assert_int_equal(config_edit_distance("timeout", "path"), 7);
        assert_int_equal(config_edit_distance("kitten", "sitting"), 3);
        /* optimal string alignment: no edits of a transposed pair */
        assert_int_equal(config_edit_distance("ca", "abc"), 3);
        assert_int_equal(
                config_edit_distance(
                        "a-name-that-is-longer-than-sixty-three-characters-for-certain-yes",
                        "a-name-that-is-longer-than-sixty-three-characters-for-certain-yes"),
                UINT_MAX);
}

/* --- loading good files -------------------------------------------------------- */

static void test_sample_config(void **state)
{
        _cleanup_free_ char *path = sample_path();
        struct config_diag diag = {0};
        struct config *c = NULL;
        int r;

        (void)state;
        r = config_load(path, &c, &diag);
        for (size_t i = 0; i < diag.n_lines; i++)
                print_message("  diag: %s\n", diag.lines[i]);
        assert_int_equal(r, 0);
        assert_int_equal(diag.n_lines, 0);
        assert_non_null(c);
        assert_string_equal(c->path, path);
        assert_string_equal(c->http_listen_host, "127.0.0.1");
        assert_int_equal(c->http_listen_port, 8080);
        assert_int_equal(c->n_sns_topic_arns, 1);
        assert_string_equal(c->sns_topic_arns[0],
                            "arn:aws:sns:us-east-1:123456789012:twowayd-inbound");
        assert_string_equal(c->consent_table, "twowayd-consent");
        assert_string_equal(c->agent_id, "AGENT12345");
        assert_string_equal(c->agent_alias_id, "ALIAS12345");
        assert_string_equal(c->spool_dir, "/var/lib/twowayd");
        config_free(c);
        config_diag_done(&diag);
}

/* Every commented-out "#key = value" in the sample (and its indented
 * continuation lines) shows the default: uncommenting them all changes nothing.
 * Keys whose sample value is an example, not a default, stay commented. */
static void test_sample_documents_defaults(void **state)
{
        static const char *const examples[] = {
                "tls_cert",          "tls_key",           "region",
                "ca_bundle",         "signing_cert_host", "origination_identity",
                "configuration_set", "metrics_listen",    "table",
        };
        _cleanup_free_ char *path = sample_path();
        _cleanup_free_ char *out = NULL;
        struct loaded plain, uncommented;
        size_t size = 0, n_uncommented = 0;
        bool in_default = false;
        FILE *f, *o;
        char *line = NULL;
        size_t cap = 0;

        (void)state;
        f = fopen(path, "re");
        assert_non_null(f);
        o = open_memstream(&out, &size);
        assert_non_null(o);
        while (getline(&line, &cap, f) > 0) {
                size_t klen = strcspn(line + 1, " =");
                bool is_key = line[0] == '#' && isalpha((unsigned char)line[1]) &&
                              strstr(line, " = ") == line + 1 + klen;

                if (is_key) {
                        in_default = true;
                        for (size_t i = 0; i < ARRAY_SIZE(examples); i++)
                                if (strlen(examples[i]) == klen &&
                                    strncmp(line + 1, examples[i], klen) == 0)
                                        in_default = false;
                } else if (!(line[0] == '#' && line[1] == '\t')) {
                        in_default = false;
                }
                if (in_default && (is_key || line[1] == '\t')) {
                        fputs(line + 1, o);
                        n_uncommented++;
                } else {
                        fputs(line, o);
                }
        }
        free(line);
        fclose(f);
        assert_int_equal(fclose(o), 0);
        assert_true(n_uncommented >= 15);

        load_text(REQUIRED, &plain);
        load_text(out, &uncommented);
        expect_ok(&plain);
        expect_ok(&uncommented);
        {
                struct config *a = plain.config, *b = uncommented.config;

                assert_string_equal(a->http_path, b->http_path);
                assert_int_equal(a->http_max_connections, b->http_max_connections);
                assert_int_equal(a->http_max_per_ip, b->http_max_per_ip);
                assert_int_equal(a->http_timeout_s, b->http_timeout_s);
                assert_int_equal(a->http_request_timeout_s, b->http_request_timeout_s);
                assert_int_equal(a->n_http_metrics_allow, b->n_http_metrics_allow);
                assert_int_equal(a->http_max_body, b->http_max_body);
                assert_int_equal(a->sns_auto_confirm, b->sns_auto_confirm);
                assert_int_equal(a->consent_business_days, b->consent_business_days);
                assert_string_equal(a->consent_opt_out_reply, b->consent_opt_out_reply);
                assert_string_equal(a->consent_opt_in_reply, b->consent_opt_in_reply);
                assert_string_equal(a->consent_help_reply, b->consent_help_reply);
                assert_int_equal(a->agent_timeout_ms, b->agent_timeout_ms);
                assert_string_equal(a->agent_fallback_reply, b->agent_fallback_reply);
                assert_string_equal(a->sms_message_type, b->sms_message_type);
                assert_int_equal(a->log_level, b->log_level);
                assert_int_equal(a->log_redact, b->log_redact);
                assert_int_equal(config_restart_only_changes(a, b, NULL, 0), 0);
        }
        loaded_done(&plain);
        loaded_done(&uncommented);
}

static void test_pipeline_keys(void **state)
{
        struct loaded l;

        (void)state;
        load_text(REQUIRED "[consent]\nholidays = 2026-12-25, 2027-01-01\n"
                           "opt_out_words = STOP, STOP ALL, Arret\n"
                           "[sms]\nmax_price = 0.05\nmax_segments = 10\n"
                           "[dedup]\ntable = twowayd-dedup\n",
                  &l);
        /* REQUIRED already holds a [consent] section: the second one must merge. */
        expect_ok(&l);
        assert_int_equal(l.config->n_consent_holidays, 2);
        assert_string_equal(l.config->consent_holidays[1], "2027-01-01");
        assert_string_equal(l.config->consent_opt_out_words, "STOP, STOP ALL, Arret");
        assert_string_equal(l.config->sms_max_price, "0.05");
        assert_int_equal(l.config->sms_max_segments, 10);
        assert_string_equal(l.config->dedup_table, "twowayd-dedup");
        loaded_done(&l);
}

static void test_agent_keys(void **state)
{
        struct loaded l;

        (void)state;
        load_text(REQUIRED "[agent]\ntime_zone = America/Chicago\n"
                           "session_attributes = propertyName = Maple Court ,office=+14255550100,\n"
                           "trace = yes\ncitations = append\n"
                           "return_control_url = https://hooks.example.com/rc\n",
                  &l);
        expect_ok(&l);
        assert_string_equal(l.config->agent_time_zone, "America/Chicago");
        assert_int_equal(l.config->n_agent_attrs, 2);
        assert_string_equal(l.config->agent_attr_names[0], "propertyName");
        assert_string_equal(l.config->agent_attr_values[0], "Maple Court");
        assert_string_equal(l.config->agent_attr_names[1], "office");
        assert_string_equal(l.config->agent_attr_values[1], "+14255550100");
        assert_true(l.config->agent_trace);
        assert_string_equal(l.config->agent_citations, "append");
        assert_string_equal(l.config->agent_return_control_url, "https://hooks.example.com/rc");
        loaded_done(&l);

        load_text(REQUIRED "[agent]\nsession_attributes = a=1, 9x=2, weekday=x, a=3, b=\n", &l);
        expect_diags(&l, 4,
                     "9: session_attributes: '9x' is not a name (a letter, then up to 63 "
                     "letters, digits or _)",
                     "9: session_attributes: weekday is set by twowayd itself",
                     "9: session_attributes: a given twice",
                     "9: session_attributes: the value of b must be 1-256 bytes");
        loaded_done(&l);
}

static void test_all_keys_set(void **state)
{
        _cleanup_free_ char *cert = write_temp(TEST_CERT_PEM), *key = write_temp(TEST_KEY_PEM);
        _cleanup_free_ char *text = NULL;
        struct loaded l;
        struct config *c;

        (void)state;
        assert_true(asprintf(&text,
                             "[http]\n"
                             "listen = 0.0.0.0:8443\n"
                             "path = /hooks/sns\n"
                             "tls_cert = %s\n"
                             "tls_key = %s\n"
                             "max_connections = 100\n"
                             "max_connections_per_ip = 100\n"
                             "timeout = 5\n"
                             "max_body = 1m\n"
                             "[aws]\n"
                             "region = eu-west-2\n"
                             "ca_bundle = %s\n"
                             "[sns]\n"
                             "topic_arns = arn:aws-us-gov:sns:us-gov-west-1:123456789012:a.fifo\n"
                             "signing_cert_host = ^sns\\.[a-z0-9-]+\\.amazonaws\\.com$\n"
                             "auto_confirm = off\n"
                             "[consent]\n"
                             "table = consent.v2_table-1\n"
                             "business_days = 60\n"
                             "opt_out_reply = Bye.\n"
                             "opt_in_reply = Hi.\n"
                             "help_reply = Call 555-0100.  ; an inline comment\n"
                             "[agent]\n"
                             "agent_id = A1\n"
                             "agent_alias_id = 0123456789\n"
                             "timeout_ms = 1000\n"
                             "fallback_reply = Later.\n"
                             "[sms]\n"
                             "origination_identity = +12065550100\n"
                             "configuration_set = cs-1\n"
                             "message_type = promotional\n"
                             "[spool]\n"
                             "dir = /srv/spool\n"
                             "[log]\n"
                             "level = debug\n"
                             "redact = FALSE\n",
                             cert, key, cert) > 0);
        load_text(text, &l);
        expect_ok(&l);
        c = l.config;
        assert_string_equal(c->http_listen_host, "0.0.0.0");
        assert_int_equal(c->http_listen_port, 8443);
        assert_string_equal(c->http_path, "/hooks/sns");
        assert_string_equal(c->http_tls_cert, cert);
        assert_string_equal(c->http_tls_key, key);
        assert_int_equal(c->http_max_connections, 100);
        assert_int_equal(c->http_max_per_ip, 100);
        assert_int_equal(c->http_timeout_s, 5);
        assert_int_equal(c->http_max_body, 1048576);
        assert_string_equal(c->aws_region, "eu-west-2");
        assert_string_equal(c->aws_ca_bundle, cert);
        assert_string_equal(c->sns_topic_arns[0],
                            "arn:aws-us-gov:sns:us-gov-west-1:123456789012:a.fifo");
        assert_string_equal(c->sns_signing_cert_host, "^sns\\.[a-z0-9-]+\\.amazonaws\\.com$");
        assert_false(c->sns_auto_confirm);
        assert_string_equal(c->consent_table, "consent.v2_table-1");
        assert_int_equal(c->consent_business_days, 60);
        assert_string_equal(c->consent_opt_out_reply, "Bye.");
        assert_string_equal(c->consent_opt_in_reply, "Hi.");
        assert_string_equal(c->consent_help_reply, "Call 555-0100.");
        assert_string_equal(c->agent_id, "A1");
        assert_string_equal(c->agent_alias_id, "0123456789");
        assert_int_equal(c->agent_timeout_ms, 1000);
        assert_string_equal(c->agent_fallback_reply, "Later.");
        assert_string_equal(c->sms_origination_identity, "+12065550100");
        assert_string_equal(c->sms_configuration_set, "cs-1");
        assert_string_equal(c->sms_message_type, "PROMOTIONAL");
        assert_string_equal(c->spool_dir, "/srv/spool");
        assert_int_equal(c->log_level, LOG_DEBUG);
        assert_false(c->log_redact);
        loaded_done(&l);
}

/* Load the required keys and one more, which must be accepted. */
static void load_ok_with(const char *section, const char *key, const char *value, struct loaded *l)
{
        _cleanup_free_ char *text = NULL;

        assert_true(asprintf(&text, REQUIRED "[%s]\n%s = %s\n", section, key, value) > 0);
        load_text(text, l);
        expect_ok(l);
}

static void test_bool_spellings(void **state)
{
        static const struct {
                const char *text;
                bool value;
        } cases[] = {
                {"yes", true},  {"no", false}, {"true", true}, {"false", false}, {"on", true},
                {"off", false}, {"1", true},   {"0", false},   {"YES", true},    {"Off", false},
        };

        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct loaded l;

                load_ok_with("log", "redact", cases[i].text, &l);
                assert_int_equal(l.config->log_redact, cases[i].value);
                loaded_done(&l);
        }
}

static void test_size_suffixes(void **state)
{
        static const struct {
                const char *text;
                size_t value;
        } cases[] = {
                {"1024", 1024}, {"1k", 1024}, {"64K", 65536}, {"2m", 2097152}, {"16M", 16777216},
        };

        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct loaded l;

                load_ok_with("http", "max_body", cases[i].text, &l);
                assert_int_equal(l.config->http_max_body, cases[i].value);
                loaded_done(&l);
        }
}

static void test_list_parsing(void **state)
{
        static const char *const values[] = {
                "arn:aws:sns:us-east-1:123456789012:a arn:aws:sns:us-west-2:123456789012:b   "
                "arn:aws-cn:sns:cn-north-1:123456789012:c",
                "arn:aws:sns:us-east-1:123456789012:a,arn:aws:sns:us-west-2:123456789012:b,"
                "arn:aws-cn:sns:cn-north-1:123456789012:c",
                "arn:aws:sns:us-east-1:123456789012:a , arn:aws:sns:us-west-2:123456789012:b,,\t"
                "arn:aws-cn:sns:cn-north-1:123456789012:c ,",
                /* an indented continuation line continues the list */
                "arn:aws:sns:us-east-1:123456789012:a,\n"
                "    arn:aws:sns:us-west-2:123456789012:b\n"
                "\tarn:aws-cn:sns:cn-north-1:123456789012:c",
        };

        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
                _cleanup_free_ char *text = NULL;
                struct loaded l;

                assert_true(asprintf(&text,
                                     "[sns]\ntopic_arns = %s\n[consent]\ntable = t12\n"
                                     "[agent]\nagent_id = a\nagent_alias_id = b\n",
                                     values[i]) > 0);
                load_text(text, &l);
                expect_ok(&l);
                assert_int_equal(l.config->n_sns_topic_arns, 3);
                assert_string_equal(l.config->sns_topic_arns[0],
                                    "arn:aws:sns:us-east-1:123456789012:a");
                assert_string_equal(l.config->sns_topic_arns[1],
                                    "arn:aws:sns:us-west-2:123456789012:b");
                assert_string_equal(l.config->sns_topic_arns[2],
                                    "arn:aws-cn:sns:cn-north-1:123456789012:c");
                assert_null(l.config->sns_topic_arns[3]);
                loaded_done(&l);
        }
}

static void test_text_continuation(void **state)
{
        struct loaded l;

        (void)state;
        load_text(REQUIRED "[consent]\n"
                           "opt_out_reply = You are out.\n"
                           "    Reply START to come back.\n"
                           "[log]\n"
                           "level = notice\n",
                  &l);
        expect_ok(&l);
        assert_string_equal(l.config->consent_opt_out_reply,
                            "You are out. Reply START to come back.");
        assert_int_equal(l.config->log_level, LOG_NOTICE);
        loaded_done(&l);
}

static void test_listen_ipv6_and_ipv4(void **state)
{
        static const struct {
                const char *text, *host;
                uint16_t port;
        } cases[] = {
                {"[::]:8080", "::", 8080},
                {"[::1]:1", "::1", 1},
                {"[2001:db8::5]:65535", "2001:db8::5", 65535},
                {"0.0.0.0:80", "0.0.0.0", 80},
                {"10.1.2.3:8443", "10.1.2.3", 8443},
                {"127.0.0.1:0", "127.0.0.1", 0},
        };

        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct loaded l;

                load_ok_with("http", "listen", cases[i].text, &l);
                assert_string_equal(l.config->http_listen_host, cases[i].host);
                assert_int_equal(l.config->http_listen_port, cases[i].port);
                loaded_done(&l);
        }
}

static void test_empty_value_unsets_optional(void **state)
{
        struct loaded l;

        (void)state;
        load_text(REQUIRED "[aws]\nregion =\n[sms]\nconfiguration_set = \n", &l);
        expect_ok(&l);
        assert_null(l.config->aws_region);
        assert_null(l.config->sms_configuration_set);
        loaded_done(&l);
}

static void test_tls_pair_ok(void **state)
{
        _cleanup_free_ char *cert = write_temp(TEST_CERT_PEM), *key = write_temp(TEST_KEY_PEM);
        _cleanup_free_ char *text = NULL;
        struct loaded l;

        (void)state;
        assert_true(asprintf(&text, REQUIRED "[http]\ntls_cert = %s\ntls_key = %s\n", cert, key) >
                    0);
        load_text(text, &l);
        expect_ok(&l);
        assert_string_equal(l.config->http_tls_cert, cert);
        assert_string_equal(l.config->http_tls_key, key);
        loaded_done(&l);
}

static void test_bad_list_items_each_reported(void **state)
{
        struct loaded l;

        (void)state;
        load_text("[sns]\n"
                  "topic_arns = bad1, arn:aws:sns:us-east-1:123456789012:ok bad2\n"
                  "[consent]\ntable = tab\n[agent]\nagent_id = a\nagent_alias_id = b\n",
                  &l);
        expect_diags(&l, 2,
                     "2: invalid value 'bad1' for topic_arns: not an SNS topic ARN "
                     "(arn:aws:sns:REGION:ACCOUNT-ID:TOPIC-NAME)",
                     "2: invalid value 'bad2' for topic_arns: not an SNS topic ARN "
                     "(arn:aws:sns:REGION:ACCOUNT-ID:TOPIC-NAME)");
        loaded_done(&l);
}

static void test_long_value_is_cut_in_diagnostic(void **state)
{
        char value[121], shown[84];
        _cleanup_free_ char *text = NULL, *want = NULL;
        struct loaded l;

        (void)state;
        memset(value, 'x', sizeof(value) - 1);
        value[sizeof(value) - 1] = '\0';
        memset(shown, 'x', 80);
        memcpy(shown + 80, "...", 4);
        assert_true(asprintf(&text, REQUIRED "[log]\nlevel = %s\n", value) > 0);
        load_text(text, &l);
        assert_true(asprintf(&want,
                             "%u: invalid value '%s' for level: expected error, warning, notice, "
                             "info or debug",
                             REQUIRED_LINES + 2, shown) > 0);
        expect_diags(&l, 1, want);
        loaded_done(&l);
}

/* --- structure errors ---------------------------------------------------------------- */

static void test_unknown_section(void **state)
{
        struct loaded l;

        (void)state;
        load_text(REQUIRED "[htp]\n"
                           "listen = 1.2.3.4:80\n"
                           "whatever = 1\n"
                           "[zzzzzz]\n"
                           "[LOG]\n"
                           "[ http ]\n",
                  &l);
        /* one diagnostic per header, none for the keys under it */
        expect_diags(&l, 4, "8: unknown section [htp], did you mean [http]?",
                     "11: unknown section [zzzzzz]",
                     "12: unknown section [LOG], did you mean [log]?",
                     "13: unknown section [ http ], did you mean [http]?");
        loaded_done(&l);
}

static void test_unknown_key(void **state)
{
        struct loaded l;

        (void)state;
        load_text(REQUIRED "[http]\n"
                           "lisen = 1.2.3.4:80\n"
                           "timeuot = 3\n"
                           "region = us-east-1\n"
                           "frobnicate = 1\n"
                           "[agent]\n"
                           "agentid = X\n",
                  &l);
        expect_diags(&l, 5, "9: unknown key 'lisen' in [http], did you mean 'listen'?",
                     "10: unknown key 'timeuot' in [http], did you mean 'timeout'?",
                     "11: unknown key 'region' in [http], it belongs in [aws]",
                     "12: unknown key 'frobnicate' in [http]",
                     "14: unknown key 'agentid' in [agent], did you mean 'agent_id'?");
        loaded_done(&l);
}

static void test_duplicate_key(void **state)
{
        struct loaded l;

        (void)state;
        load_text(REQUIRED "[http]\n"
                           "timeout = 5\n"
                           "timeout = 6\n"
                           "[agent]\n"
                           "agent_id = OTHER\n",
                  &l);
        expect_diags(&l, 2, "10: duplicate key 'timeout' in [http] (first set on line 9)",
                     "12: duplicate key 'agent_id' in [agent] (first set on line 6)");
        loaded_done(&l);
}

static void test_missing_required(void **state)
{
        struct loaded l;

        (void)state;
        /* [sns] absent: line 0; [agent] present: the line of its header */
        load_text("[http]\n"
                  "listen = 127.0.0.1:8080\n"
                  "[consent]\n"
                  "table = tab\n"
                  "[agent]\n"
                  "agent_alias_id = b\n",
                  &l);
        expect_diags(&l, 2, "0: missing required key 'topic_arns' in [sns]",
                     "5: missing required key 'agent_id' in [agent]");
        loaded_done(&l);

        load_text("", &l);
        expect_diags(&l, 4, "0: missing required key 'topic_arns' in [sns]",
                     "0: missing required key 'table' in [consent]",
                     "0: missing required key 'agent_id' in [agent]",
                     "0: missing required key 'agent_alias_id' in [agent]");
        loaded_done(&l);
}

static void test_tls_half_pair(void **state)
{
        _cleanup_free_ char *cert = write_temp("c\n");
        _cleanup_free_ char *t1 = NULL, *t2 = NULL;
        struct loaded l;

        (void)state;
        assert_true(asprintf(&t1, REQUIRED "[http]\ntls_cert = %s\n", cert) > 0);
        load_text(t1, &l);
        expect_diags(&l, 1, "9: tls_cert is set but tls_key is not; set both or neither");
        loaded_done(&l);

        assert_true(asprintf(&t2, REQUIRED "[http]\ntls_key = %s\n", cert) > 0);
        load_text(t2, &l);
        expect_diags(&l, 1, "9: tls_key is set but tls_cert is not; set both or neither");
        loaded_done(&l);
}

/* What -t accepts, the HTTPS listener can load: PEM on both sides, a key
 * without passphrase, and the key of that certificate. */
static void test_tls_pair_unusable(void **state)
{
        static const struct {
                const char *cert, *key, *diag;
        } cases[] = {
                {"c\n", TEST_KEY_PEM, "9: tls_cert holds no PEM certificate"},
                {TEST_KEY_PEM, TEST_KEY_PEM, "9: tls_cert holds no PEM certificate"},
                {TEST_CERT_PEM, "k\n", "10: tls_key holds no unencrypted PEM private key"},
                {TEST_CERT_PEM, TEST_CERT_PEM, "10: tls_key holds no unencrypted PEM private key"},
                {TEST_CERT_PEM, OTHER_KEY_PEM, "10: tls_key is not the private key of tls_cert"},
        };

        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *cert = write_temp(cases[i].cert);
                _cleanup_free_ char *key = write_temp(cases[i].key), *text = NULL;
                struct loaded l;

                assert_true(asprintf(&text, REQUIRED "[http]\ntls_cert = %s\ntls_key = %s\n", cert,
                                     key) > 0);
                load_text(text, &l);
                expect_diags(&l, 1, cases[i].diag);
                loaded_done(&l);
        }
}

static void test_tls_bad_cert_one_diagnostic(void **state)
{
        _cleanup_free_ char *key = write_temp("k\n"), *text = NULL;
        struct loaded l;

        (void)state;
        assert_true(asprintf(&text,
                             REQUIRED "[http]\ntls_cert = /nonexistent/c.pem\ntls_key = %s\n",
                             key) > 0);
        load_text(text, &l);
        expect_diags(&l, 1,
                     "9: invalid value '/nonexistent/c.pem' for tls_cert: cannot read: No such "
                     "file or directory");
        loaded_done(&l);
}

static void test_per_ip_above_total(void **state)
{
        struct loaded l;

        (void)state;
        load_text(REQUIRED "[http]\nmax_connections = 10\nmax_connections_per_ip = 11\n", &l);
        expect_diags(&l, 1, "10: max_connections_per_ip (11) exceeds max_connections (10)");
        loaded_done(&l);
}

static void test_cluster_replaces_dedup(void **state)
{
        struct loaded l;

        (void)state;
        load_text(REQUIRED "[cluster]\ntable = twowayd-cluster\n", &l);
        assert_int_equal(l.r, 0);
        assert_string_equal(l.config->cluster_table, "twowayd-cluster");
        assert_int_equal(l.config->cluster_lease_seconds, 15);
        assert_int_equal(l.config->cluster_record_ttl_days, 7);
        assert_null(l.config->dedup_table);
        loaded_done(&l);

        load_text(REQUIRED "[dedup]\ntable = twowayd-dedup\n[cluster]\ntable = twowayd-cluster\n",
                  &l);
        expect_diags(&l, 1, "11: [cluster] table replaces [dedup] table: set only one");
        loaded_done(&l);

        load_text(REQUIRED "[cluster]\ntable = tab\nlease_seconds = 4\nrecord_ttl_days = 366\n",
                  &l);
        assert_int_equal(l.r, -EINVAL);
        assert_int_equal(l.diag.n_lines, 2);
        loaded_done(&l);
}

static void test_syntax_errors(void **state)
{
        struct loaded l;

        (void)state;
        load_text("orphan = 1\n" REQUIRED "[http\n"
                  "just some words\n"
                  "[log]\n"
                  "= value\n"
                  "level = info\n",
                  &l);
        expect_diags(&l, 4, "1: key 'orphan' is outside any section",
                     "9: syntax error: missing ']' in section header",
                     "10: syntax error: expected 'key = value' or '[section]'",
                     "12: syntax error: missing key name before '='");
        loaded_done(&l);
}

static void test_long_line(void **state)
{
        char reply[260];
        _cleanup_free_ char *text = NULL;
        struct loaded l;

        (void)state;
        memset(reply, 'a', sizeof(reply) - 1);
        reply[sizeof(reply) - 1] = '\0';
        /* inih's buffer holds 198 characters plus newline and NUL */
        assert_true(asprintf(&text,
                             REQUIRED "[consent]\n"
                                      "opt_out_reply = %s\n" /* 275 characters */
                                      "business_days = 0\n"
                                      "help_reply = %.185s\n"    /* 198: fits */
                                      "opt_in_reply = %.184s\n", /* 199: too long */
                             reply, reply, reply) > 0);
        load_text(text, &l);
        /* the lines after a long one are still counted right */
        expect_diags(&l, 3,
                     "9: line too long (275 characters, at most 198); continue a long value on "
                     "indented lines",
                     "10: invalid value '0' for business_days: must be an integer 1-60",
                     "12: line too long (199 characters, at most 198); continue a long value on "
                     "indented lines");
        loaded_done(&l);
}

static void test_indentation_traps(void **state)
{
        struct loaded l;

        (void)state;
        load_text(REQUIRED "[http]\n"
                           "timeout = 5\n"
                           "  path = /x\n"
                           "max_body = 2048\n"
                           "    4096\n"
                           "  [log]\n",
                  &l);
        expect_diags(&l, 3,
                     "10: indented line is read as a continuation of 'timeout'; remove the "
                     "indentation",
                     "12: indented line continues the value of 'max_body', which cannot span "
                     "lines",
                     "13: indented line is read as a continuation of 'max_body'; remove the "
                     "indentation");
        loaded_done(&l);

        /* indented keys right after a header are ordinary keys */
        load_text("[sns]\n  topic_arns = arn:aws:sns:us-east-1:123456789012:t\n"
                  "[consent]\n\ttable = tab\n[agent]\n agent_id = a\nagent_alias_id = b\n",
                  &l);
        expect_ok(&l);
        loaded_done(&l);
}

static void test_crlf_and_bom(void **state)
{
        struct loaded l;

        (void)state;
        load_text("\xEF\xBB\xBF[sns]\r\n"
                  "topic_arns = arn:aws:sns:us-east-1:123456789012:t\r\n"
                  "[consent]\r\ntable = tab\r\n[agent]\r\nagent_id = a\r\nagent_alias_id = b\r\n"
                  "[http]\r\nlisten = [::]:80\r\nbogus\r\n",
                  &l);
        expect_diags(&l, 1, "10: syntax error: expected 'key = value' or '[section]'");
        loaded_done(&l);
}

/* The acceptance case: a typo'd key, a bad port and a missing required key give
 * exactly those three diagnostics, sorted by line. */
static void test_three_problems(void **state)
{
        struct loaded l;

        (void)state;
        load_text("# twowayd test\n"
                  "[http]\n"
                  "lisen = 127.0.0.1:8080\n"
                  "listen = 127.0.0.1:70000\n"
                  "\n"
                  "[sns]\n"
                  "topic_arns = arn:aws:sns:us-east-1:123456789012:twowayd-inbound\n"
                  "[consent]\n"
                  "table = twowayd-consent\n"
                  "[agent]\n"
                  "agent_alias_id = ALIAS12345\n",
                  &l);
        expect_diags(&l, 3, "3: unknown key 'lisen' in [http], did you mean 'listen'?",
                     "4: invalid value '127.0.0.1:70000' for listen: port must be 0-65535",
                     "10: missing required key 'agent_id' in [agent]");
        loaded_done(&l);
}

/* --- files that cannot be read --------------------------------------------------------- */

static void test_unreadable_file(void **state)
{
        _cleanup_free_ char *missing = NULL, *want = NULL, *want_dir = NULL;
        struct config_diag diag = {0};
        struct config *c = NULL;

        (void)state;
        assert_true(asprintf(&missing, "%s/does-not-exist.conf", tmpdir) > 0);
        assert_int_equal(config_load(missing, &c, &diag), -ENOENT);
        assert_null(c);
        assert_int_equal(diag.n_lines, 1);
        assert_true(asprintf(&want, "%s: cannot open: %s", missing, strerror(ENOENT)) > 0);
        assert_string_equal(diag.lines[0], want);
        config_diag_done(&diag);
        assert_null(diag.lines);
        assert_int_equal(diag.n_lines, 0);

        assert_int_equal(config_load(tmpdir, &c, &diag), -EISDIR);
        assert_null(c);
        assert_int_equal(diag.n_lines, 1);
        assert_true(asprintf(&want_dir, "%s: cannot open: %s", tmpdir, strerror(EISDIR)) > 0);
        assert_string_equal(diag.lines[0], want_dir);
        config_diag_done(&diag);

        if (geteuid() != 0) {
                _cleanup_free_ char *p = write_temp(REQUIRED);

                assert_int_equal(chmod(p, 0), 0);
                assert_int_equal(config_load(p, &c, &diag), -EACCES);
                assert_int_equal(diag.n_lines, 1);
                assert_non_null(strstr(diag.lines[0], ": cannot open: Permission denied"));
                config_diag_done(&diag);
        }
}

static void test_null_diag_and_args(void **state)
{
        _cleanup_free_ char *bad = write_temp("[http]\ntimeout = 0\n");
        _cleanup_free_ char *good = write_temp(REQUIRED);
        struct config *c = NULL;

        (void)state;
        assert_int_equal(config_load(bad, &c, NULL), -EINVAL);
        assert_null(c);
        assert_int_equal(config_load(good, &c, NULL), 0);
        assert_non_null(c);
        assert_null(config_free(c));
        assert_null(config_free(NULL));
        config_diag_done(NULL);
        assert_int_equal(config_load(NULL, &c, NULL), -EINVAL);
        assert_int_equal(config_load(good, NULL, NULL), -EINVAL);
}

/* Diagnostics are appended, not replacing what the caller already holds. */
static void test_diag_appends(void **state)
{
        _cleanup_free_ char *bad = write_temp(REQUIRED "[log]\nlevel = x\n");
        struct config_diag diag = {0};
        struct config *c = NULL;

        (void)state;
        assert_int_equal(config_load(bad, &c, &diag), -EINVAL);
        assert_int_equal(config_load(bad, &c, &diag), -EINVAL);
        assert_int_equal(diag.n_lines, 2);
        assert_string_equal(diag.lines[0], diag.lines[1]);
        config_diag_done(&diag);
}

/* --- reload ----------------------------------------------------------------------- */

static void test_restart_only_changes(void **state)
{
        struct loaded a, b, c, d, e, f;
        char buf[64];

        (void)state;
        load_text(REQUIRED "[http]\nlisten = 127.0.0.1:8080\n[spool]\ndir = /var/lib/twowayd\n",
                  &a);
        /* only reloadable keys differ */
        load_text(
                "[http]\nlisten = 127.0.0.1:8080\nmax_body = 9k\n[spool]\ndir = /var/lib/twowayd\n"
                "[sns]\ntopic_arns = arn:aws:sns:us-east-1:123456789012:other\n[consent]\n"
                "table = other\n[agent]\nagent_id = X\nagent_alias_id = Y\n[log]\nlevel = debug\n",
                &b);
        load_text(REQUIRED "[http]\nlisten = [::]:8080\n[spool]\ndir = /srv/twowayd\n", &c);
        load_text(REQUIRED "[http]\nlisten = 127.0.0.1:8081\n", &d);
        load_text(REQUIRED "[spool]\ndir = /srv/twowayd\n", &e);
        expect_ok(&a);
        expect_ok(&b);
        expect_ok(&c);
        expect_ok(&d);
        expect_ok(&e);

        memset(buf, 'x', sizeof(buf));
        assert_int_equal(config_restart_only_changes(a.config, a.config, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "");
        assert_int_equal(config_restart_only_changes(a.config, b.config, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "");

        assert_int_equal(config_restart_only_changes(a.config, c.config, buf, sizeof(buf)), 2);
        assert_string_equal(buf, "http.listen,spool.dir");
        /* the port alone is a change */
        assert_int_equal(config_restart_only_changes(a.config, d.config, buf, sizeof(buf)), 1);
        assert_string_equal(buf, "http.listen");
        assert_int_equal(config_restart_only_changes(a.config, e.config, buf, sizeof(buf)), 1);
        assert_string_equal(buf, "spool.dir");

        /* a short buffer truncates but the count stays right */
        assert_int_equal(config_restart_only_changes(a.config, c.config, buf, 8), 2);
        assert_string_equal(buf, "http.li");
        assert_int_equal(config_restart_only_changes(a.config, c.config, NULL, 0), 2);
        assert_int_equal(config_restart_only_changes(NULL, c.config, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(config_restart_only_changes(a.config, NULL, buf, sizeof(buf)), -EINVAL);

        /* carrying the old restart-only values over leaves the rest alone */
        assert_int_equal(config_keep_restart_only(c.config, a.config), 0);
        assert_int_equal(config_restart_only_changes(a.config, c.config, buf, sizeof(buf)), 0);
        assert_string_equal(c.config->http_listen_host, "127.0.0.1");
        assert_int_equal(c.config->http_listen_port, 8080);
        assert_string_equal(c.config->spool_dir, "/var/lib/twowayd");
        assert_int_equal(config_keep_restart_only(b.config, c.config), 0);
        assert_int_equal(b.config->http_max_body, 9 * 1024);
        assert_int_equal(b.config->log_level, LOG_DEBUG);
        assert_int_equal(config_keep_restart_only(NULL, a.config), -EINVAL);

        /* numbers and sizes too: compared, and carried over */
        load_text(REQUIRED "[http]\nlisten = 127.0.0.1:8080\nmax_connections = 64\n"
                           "[spool]\ndir = /var/lib/twowayd\nmin_free = 1m\n",
                  &f);
        expect_ok(&f);
        assert_int_equal(config_restart_only_changes(a.config, f.config, buf, sizeof(buf)), 2);
        assert_string_equal(buf, "http.max_connections,spool.min_free");
        assert_int_equal(config_keep_restart_only(f.config, a.config), 0);
        assert_int_equal(f.config->http_max_connections, 512);
        assert_int_equal(f.config->spool_min_free, 16 * 1024 * 1024);
        assert_int_equal(config_restart_only_changes(a.config, f.config, NULL, 0), 0);

        loaded_done(&a);
        loaded_done(&b);
        loaded_done(&c);
        loaded_done(&d);
        loaded_done(&e);
        loaded_done(&f);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_edit_distance),
                cmocka_unit_test(test_sample_config),
                cmocka_unit_test(test_sample_documents_defaults),
                cmocka_unit_test(test_pipeline_keys),
                cmocka_unit_test(test_agent_keys),
                cmocka_unit_test(test_all_keys_set),
                cmocka_unit_test(test_bool_spellings),
                cmocka_unit_test(test_size_suffixes),
                cmocka_unit_test(test_list_parsing),
                cmocka_unit_test(test_text_continuation),
                cmocka_unit_test(test_listen_ipv6_and_ipv4),
                cmocka_unit_test(test_empty_value_unsets_optional),
                cmocka_unit_test(test_tls_pair_ok),
                cmocka_unit_test(test_bad_list_items_each_reported),
                cmocka_unit_test(test_long_value_is_cut_in_diagnostic),
                cmocka_unit_test(test_unknown_section),
                cmocka_unit_test(test_unknown_key),
                cmocka_unit_test(test_duplicate_key),
                cmocka_unit_test(test_missing_required),
                cmocka_unit_test(test_tls_half_pair),
                cmocka_unit_test(test_tls_pair_unusable),
                cmocka_unit_test(test_tls_bad_cert_one_diagnostic),
                cmocka_unit_test(test_per_ip_above_total),
                cmocka_unit_test(test_cluster_replaces_dedup),
                cmocka_unit_test(test_syntax_errors),
                cmocka_unit_test(test_long_line),
                cmocka_unit_test(test_indentation_traps),
                cmocka_unit_test(test_crlf_and_bom),
                cmocka_unit_test(test_three_problems),
                cmocka_unit_test(test_unreadable_file),
                cmocka_unit_test(test_null_diag_and_args),
                cmocka_unit_test(test_diag_appends),
                cmocka_unit_test(test_restart_only_changes),
        };

        return cmocka_run_group_tests_name("config", tests, group_setup, group_teardown);
}
