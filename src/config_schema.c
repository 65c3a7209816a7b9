/*
 * config_schema.c — the table of twowayd.conf's keys and the checks of their
 * values. See config_schema.h; config.c does the reading.
 */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>

#include "aws_names.h"
#include "aws_rules.h"
#include "common.h"
#include "config.h"
#include "config_schema.h"
#include "datetime.h"
#include "netmask.h"
#include "tz.h"

static int check_http_path(const char *v, char *why, size_t size);
static int check_verify_threads(const char *v, char *why, size_t size);
static int check_region(const char *v, char *why, size_t size);
static int check_topic_arn(const char *v, char *why, size_t size);
static int check_netmask(const char *v, char *why, size_t size);
static int check_date(const char *v, char *why, size_t size);
static int check_time_zone(const char *v, char *why, size_t size);

#define OFF(field) offsetof(struct config, field)
/* The check columns (struct config_check). */
#define CHECK(f)                 (&(const struct config_check){.fn = (f)})
#define API_RULE(r)              (&(const struct config_check){.api_rule = true, .rule = (r)})
#define MATCHES(pattern, reason) (&(const struct config_check){.ere = (pattern), .why = (reason)})
/* Comma-separated keywords; a keyword may contain spaces ("STOP ALL"). */
#define WORD_LIST                                                                                  \
        MATCHES("^ *[A-Za-z0-9][A-Za-z0-9 '-]*( *, *[A-Za-z0-9][A-Za-z0-9 '-]*)* *$",              \
                "expected comma-separated words (letters, digits, ' and -)")
/* SendTextMessage takes 5 to 259200 seconds; 0 leaves it out of the request. */
#define TIME_TO_LIVE MATCHES("^0$|^[5-9]$|^[1-9][0-9]+$", "must be 0 (unset) or 5-259200")

#define DEFAULT_OPT_OUT_REPLY                                                                      \
        "You have been unsubscribed from SMS messages. Your request will be processed within "     \
        "10 business days. Reply START to resubscribe."
#define DEFAULT_OPT_IN_REPLY "You have been resubscribed to SMS messages. Welcome back!"
#define DEFAULT_HELP_REPLY                                                                         \
        "For help, text your question to this number. Reply STOP to unsubscribe, START to "        \
        "resubscribe. Msg & data rates may apply."
#define DEFAULT_FALLBACK_REPLY "Sorry, we can't answer right now. Please try again later."

const char *const config_sections[] = {
        "http",  "aws", "sns",      "cluster", "dedup", "consent",
        "agent", "sms", "dispatch", "spool",   "log",
};

const struct config_item config_items[] = {
        /* [http] */
        {"http", "listen", CONFIG_HOSTPORT, "127.0.0.1:8080", 0, 0, CONFIG_RESTART_ONLY,
         OFF(http_listen_host), OFF(http_listen_port), NULL},
        {"http", "path", CONFIG_STRING, "/sns", 0, 0, 0, OFF(http_path), 0, CHECK(check_http_path)},
        {"http", "tls_cert", CONFIG_PATH, NULL, 0, 0, CONFIG_READABLE | CONFIG_RESTART_ONLY,
         OFF(http_tls_cert), 0, NULL},
        {"http", "tls_key", CONFIG_PATH, NULL, 0, 0, CONFIG_READABLE | CONFIG_RESTART_ONLY,
         OFF(http_tls_key), 0, NULL},
        {"http", "max_connections", CONFIG_UINT, "512", 1, 100000, CONFIG_RESTART_ONLY,
         OFF(http_max_connections), 0, NULL},
        {"http", "max_connections_per_ip", CONFIG_UINT, "0", 0, 100000, CONFIG_RESTART_ONLY,
         OFF(http_max_per_ip), 0, NULL},
        {"http", "timeout", CONFIG_UINT, "30", 1, 3600, CONFIG_RESTART_ONLY, OFF(http_timeout_s), 0,
         NULL},
        {"http", "request_timeout", CONFIG_UINT, "10", 1, 3600, CONFIG_RESTART_ONLY,
         OFF(http_request_timeout_s), 0, NULL},
        {"http", "metrics_listen", CONFIG_HOSTPORT, NULL, 0, 0, CONFIG_RESTART_ONLY,
         OFF(http_metrics_listen_host), OFF(http_metrics_listen_port), NULL},
        {"http", "metrics_allow", CONFIG_LIST, "127.0.0.0/8 ::1", 0, 0, 0, OFF(http_metrics_allow),
         OFF(n_http_metrics_allow), CHECK(check_netmask)},
        {"http", "max_body", CONFIG_SIZE, "524288", 1024, 16777216, 0, OFF(http_max_body), 0, NULL},
        {"http", "verify_threads", CONFIG_STRING, "auto", 0, 0, CONFIG_RESTART_ONLY,
         OFF(http_verify_threads), 0, CHECK(check_verify_threads)},

        /* [aws] */
        {"aws", "region", CONFIG_STRING, NULL, 0, 0, 0, OFF(aws_region), 0, CHECK(check_region)},
        {"aws", "ca_bundle", CONFIG_PATH, NULL, 0, 0, CONFIG_READABLE, OFF(aws_ca_bundle), 0, NULL},

        /* [sns] */
        {"sns", "topic_arns", CONFIG_LIST, NULL, 0, 0, CONFIG_REQUIRED, OFF(sns_topic_arns),
         OFF(n_sns_topic_arns), CHECK(check_topic_arn)},
        {"sns", "signing_cert_host", CONFIG_REGEX, NULL, 0, 0, 0, OFF(sns_signing_cert_host), 0,
         NULL},
        {"sns", "auto_confirm", CONFIG_BOOL, "yes", 0, 0, 0, OFF(sns_auto_confirm), 0, NULL},

        /* [cluster] */
        {"cluster", "table", CONFIG_STRING, NULL, 0, 0, CONFIG_RESTART_ONLY, OFF(cluster_table), 0,
         API_RULE(AWS_RULE_DDB_TABLE_NAME)},
        {"cluster", "lease_seconds", CONFIG_UINT, "15", 5, 300, CONFIG_RESTART_ONLY,
         OFF(cluster_lease_seconds), 0, NULL},
        {"cluster", "record_ttl_days", CONFIG_UINT, "7", 1, 365, 0, OFF(cluster_record_ttl_days), 0,
         NULL},

        /* [dedup] */
        {"dedup", "table", CONFIG_STRING, NULL, 0, 0, 0, OFF(dedup_table), 0,
         API_RULE(AWS_RULE_DDB_TABLE_NAME)},
        {"dedup", "ttl_days", CONFIG_UINT, "7", 1, 365, 0, OFF(dedup_ttl_days), 0, NULL},

        /* [consent] */
        {"consent", "table", CONFIG_STRING, NULL, 0, 0, CONFIG_REQUIRED, OFF(consent_table), 0,
         API_RULE(AWS_RULE_DDB_TABLE_NAME)},
        {"consent", "business_days", CONFIG_UINT, "10", 1, 60, 0, OFF(consent_business_days), 0,
         NULL},
        {"consent", "opt_out_reply", CONFIG_STRING, DEFAULT_OPT_OUT_REPLY, 0, 0, 0,
         OFF(consent_opt_out_reply), 0, NULL},
        {"consent", "opt_in_reply", CONFIG_STRING, DEFAULT_OPT_IN_REPLY, 0, 0, 0,
         OFF(consent_opt_in_reply), 0, NULL},
        {"consent", "help_reply", CONFIG_STRING, DEFAULT_HELP_REPLY, 0, 0, 0,
         OFF(consent_help_reply), 0, NULL},
        {"consent", "holidays", CONFIG_LIST, NULL, 0, 0, 0, OFF(consent_holidays),
         OFF(n_consent_holidays), CHECK(check_date)},
        {"consent", "opt_out_words", CONFIG_STRING, NULL, 0, 0, 0, OFF(consent_opt_out_words), 0,
         WORD_LIST},
        {"consent", "opt_in_words", CONFIG_STRING, NULL, 0, 0, 0, OFF(consent_opt_in_words), 0,
         WORD_LIST},
        {"consent", "help_words", CONFIG_STRING, NULL, 0, 0, 0, OFF(consent_help_words), 0,
         WORD_LIST},

        /* [agent] */
        {"agent", "agent_id", CONFIG_STRING, NULL, 0, 0, CONFIG_REQUIRED, OFF(agent_id), 0,
         API_RULE(AWS_RULE_AGENT_ID)},
        {"agent", "agent_alias_id", CONFIG_STRING, NULL, 0, 0, CONFIG_REQUIRED, OFF(agent_alias_id),
         0, API_RULE(AWS_RULE_AGENT_ALIAS_ID)},
        {"agent", "timeout_ms", CONFIG_UINT, "30000", 1000, 300000, 0, OFF(agent_timeout_ms), 0,
         NULL},
        {"agent", "fallback_reply", CONFIG_STRING, DEFAULT_FALLBACK_REPLY, 0, 0, 0,
         OFF(agent_fallback_reply), 0, NULL},
        {"agent", "time_zone", CONFIG_STRING, "UTC", 0, 0, 0, OFF(agent_time_zone), 0,
         CHECK(check_time_zone)},
        {"agent", "session_attributes", CONFIG_STRING, NULL, 0, 0, 0, OFF(agent_session_attributes),
         0, NULL},
        {"agent", "trace", CONFIG_BOOL, "no", 0, 0, 0, OFF(agent_trace), 0, NULL},
        {"agent", "citations", CONFIG_STRING, "no", 0, 0, 0, OFF(agent_citations), 0,
         MATCHES("^(no|append)$", "expected no or append")},
        {"agent", "return_control_url", CONFIG_STRING, NULL, 0, 0, 0, OFF(agent_return_control_url),
         0,
         MATCHES("^https?://[^/[:space:]]+(/[^[:space:]]*)?$", "not an http:// or https:// URL")},

        /* [sms] */
        {"sms", "origination_identity", CONFIG_STRING, NULL, 0, 0, 0, OFF(sms_origination_identity),
         0, API_RULE(AWS_RULE_SMS_ORIGINATION_IDENTITY)},
        {"sms", "configuration_set", CONFIG_STRING, NULL, 0, 0, 0, OFF(sms_configuration_set), 0,
         API_RULE(AWS_RULE_SMS_CONFIGURATION_SET)},
        {"sms", "message_type", CONFIG_MSGTYPE, "TRANSACTIONAL", 0, 0, 0, OFF(sms_message_type), 0,
         NULL},
        {"sms", "max_segments", CONFIG_UINT, "3", 1, 10, 0, OFF(sms_max_segments), 0, NULL},
        {"sms", "max_price", CONFIG_STRING, NULL, 0, 0, 0, OFF(sms_max_price), 0,
         API_RULE(AWS_RULE_SMS_MAX_PRICE)},
        {"sms", "time_to_live", CONFIG_UINT, "0", 0, 259200, 0, OFF(sms_time_to_live), 0,
         TIME_TO_LIVE},
        {"sms", "max_per_second", CONFIG_UINT, NULL, 1, 1000, 0, OFF(sms_max_per_second), 0, NULL},

        /* [dispatch] */
        {"dispatch", "concurrency", CONFIG_UINT, "64", 1, 4096, 0, OFF(dispatch_concurrency), 0,
         NULL},
        {"dispatch", "max_age", CONFIG_UINT, "3600", 60, 604800, 0, OFF(dispatch_max_age_s), 0,
         NULL},
        {"dispatch", "retry_initial_ms", CONFIG_UINT, "1000", 10, 60000, 0,
         OFF(dispatch_retry_initial_ms), 0, NULL},
        {"dispatch", "retry_max_ms", CONFIG_UINT, "60000", 100, 3600000, 0,
         OFF(dispatch_retry_max_ms), 0, NULL},

        /* [spool] */
        {"spool", "dir", CONFIG_PATH, "/var/lib/twowayd", 0, 0, CONFIG_RESTART_ONLY, OFF(spool_dir),
         0, NULL},
        {"spool", "retention_days", CONFIG_UINT, "7", 1, 3650, 0, OFF(spool_retention_days), 0,
         NULL},
        {"spool", "min_free", CONFIG_SIZE, "16m", 0, UINT64_C(1) << 40, CONFIG_RESTART_ONLY,
         OFF(spool_min_free), 0, NULL},

        /* [log] */
        {"log", "level", CONFIG_LEVEL, "info", 0, 0, 0, OFF(log_level), 0, NULL},
        {"log", "redact", CONFIG_BOOL, "yes", 0, 0, 0, OFF(log_redact), 0, NULL},
};

const size_t config_n_items = ARRAY_SIZE(config_items);
const size_t config_n_sections = ARRAY_SIZE(config_sections);

bool config_match_ere(const char *pattern, const char *s)
{
        regex_t re;
        bool ok;

        if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
                return false;
        ok = regexec(&re, s, 0, NULL, 0) == 0;
        regfree(&re);
        return ok;
}

int config_section_index(const char *section)
{
        for (size_t i = 0; i < config_n_sections; i++)
                if (streq(config_sections[i], section))
                        return (int)i;
        return -1;
}

int config_item_index(const char *section, const char *key)
{
        for (size_t i = 0; i < config_n_items; i++)
                if (streq(config_items[i].section, section) && streq(config_items[i].key, key))
                        return (int)i;
        return -1;
}

/* --- per-key checks ------------------------------------------------------------ */

int config_item_check(const struct config_item *it, const char *v, char *why, size_t size)
{
        const struct config_check *c = it->check;

        if (!c)
                return 0;
        if (c->fn)
                return c->fn(v, why, size);
        if (c->api_rule)
                return aws_rule_check(c->rule, v, why, size);
        if (c->ere && !config_match_ere(c->ere, v)) {
                snprintf(why, size, "%s", c->why);
                return -EINVAL;
        }
        return 0;
}

static int check_http_path(const char *v, char *why, size_t size)
{
        if (v[0] != '/') {
                snprintf(why, size, "must start with '/'");
                return -EINVAL;
        }
        for (const char *p = v; *p; p++)
                if (!isgraph((unsigned char)*p)) {
                        snprintf(why, size, "must not contain spaces or non-ASCII characters");
                        return -EINVAL;
                }
        return 0;
}

/* "auto" or 0..64 (work_pool.h's WORK_POOL_THREADS_MAX). */
static int check_verify_threads(const char *v, char *why, size_t size)
{
        size_t n = strspn(v, "0123456789");

        if (streq(v, "auto"))
                return 0;
        if (n == 0 || n > 2 || v[n] != '\0' || strtoul(v, NULL, 10) > 64) {
                snprintf(why, size, "must be auto or a number of threads from 0 to 64");
                return -EINVAL;
        }
        return 0;
}

static int check_region(const char *v, char *why, size_t size)
{
        if (!aws_region_is_valid(v)) {
                snprintf(why, size, "not an AWS region name (like us-east-1)");
                return -EINVAL;
        }
        return 0;
}

static int check_topic_arn(const char *v, char *why, size_t size)
{
        struct aws_topic_arn arn;

        if (aws_topic_arn_parse(v, &arn) < 0) {
                snprintf(why, size,
                         "not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT-ID:TOPIC-NAME)");
                return -EINVAL;
        }
        return 0;
}

static int check_netmask(const char *v, char *why, size_t size)
{
        struct netmask m;

        if (netmask_parse(v, &m) < 0) {
                snprintf(why, size, "must be an address or an address/prefix");
                return -EINVAL;
        }
        return 0;
}

static int check_date(const char *v, char *why, size_t size)
{
        int64_t day;

        if (datetime_parse_date(v, &day) < 0) {
                snprintf(why, size, "not a date (YYYY-MM-DD)");
                return -EINVAL;
        }
        return 0;
}

static int check_time_zone(const char *v, char *why, size_t size)
{
        return tz_check(v, why, size);
}

#ifdef TWOWAYD_UNIT_TEST
/* Schema introspection for the tests. */
size_t config_schema_size(void)
{
        return config_n_items;
}

int config_schema_item(size_t i, const char **ret_section, const char **ret_key,
                       const char **ret_default, bool *ret_required, bool *ret_restart_only)
{
        if (i >= config_n_items)
                return -ENOENT;
        *ret_section = config_items[i].section;
        *ret_key = config_items[i].key;
        *ret_default = config_items[i].def;
        *ret_required = config_items[i].flags & CONFIG_REQUIRED;
        *ret_restart_only = config_items[i].flags & CONFIG_RESTART_ONLY;
        return 0;
}
#endif
