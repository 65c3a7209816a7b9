/*
 * config.h — the daemon's configuration: one INI file, one schema table.
 *
 * config_load() parses a file with libinih into a new, immutable struct config,
 * validates every key against the schema (type, bounds, required keys, unknown
 * sections/keys with a did-you-mean) and collects every problem as a diagnostic.
 * A config is returned only when there are no errors. Reload builds a new config
 * the same way and swaps it in only when valid; keys marked restart-only keep
 * their old value until restart (config_restart_only_changes() names them,
 * config_keep_restart_only() carries the old values into the new config).
 *
 * Diagnostics are all errors, sorted by line, one per problem:
 *   FILE: cannot open: <strerror>                 (the only one for an unreadable file)
 *   FILE: read error: <strerror>
 *   FILE:LINE: unknown section [htp], did you mean [http]?
 *   FILE:LINE: unknown key 'lisen' in [http], did you mean 'listen'?
 *   FILE:LINE: unknown key 'region' in [http], it belongs in [aws]
 *   FILE:LINE: invalid value 'abc' for listen: <reason>
 *   FILE:LINE: duplicate key 'path' in [http] (first set on line N)
 *   FILE:LINE: missing required key 'topic_arns' in [sns]
 *   FILE:LINE: tls_cert is set but tls_key is not; set both or neither
 *   FILE:LINE: syntax error: ...        FILE:LINE: line too long (...)
 *   FILE:LINE: indented line ...        (inih reads indented lines as continuations)
 * For a missing required key LINE is the line of the section's first header,
 * or 0 when the section is absent. A bad list item or a value continued on
 * indented lines is reported at the key's own line. Keys under an unknown
 * section are not reported one by one. Suggestions need an edit distance <= 2
 * (optimal string alignment, case-insensitive). Values are quoted with control
 * characters as '?' and cut after 80 characters.
 *
 * Values: an empty value ("key =") unsets an optional key that has no default
 * and is an error otherwise. Text and list values may continue on indented
 * lines (joined with one space); inih lines are limited to 198 characters.
 * " ;" starts an inline comment, so values cannot contain it.
 *
 * Ownership: config_load() returns a config owned by the caller, released with
 * config_free(). Strings and arrays inside belong to the config and stay valid
 * until config_free(). Diagnostics belong to the struct config_diag passed in,
 * released with config_diag_done().
 */
#ifndef TWOWAYD_CONFIG_H
#define TWOWAYD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/twowayd/twowayd.conf"

/* [agent] session_attributes: our own bounds (the API states none). */
#define CONFIG_ATTRS_MAX      16u
#define CONFIG_ATTR_VALUE_MAX 256u

struct config {
        char *path; /* the file it came from */

        /* [http] */
        char *http_listen_host; /* "127.0.0.1", "::", "0.0.0.0"; from listen=host:port */
        uint16_t http_listen_port;
        char *http_path;     /* "/sns" */
        char *http_tls_cert; /* NULL: plain HTTP (behind an ALB or nginx) */
        char *http_tls_key;
        unsigned http_max_connections;   /* max_connections=512 */
        unsigned http_max_per_ip;        /* max_connections_per_ip=0: waiting ones; 0 no limit */
        unsigned http_timeout_s;         /* timeout=30: idle seconds before a connection closes */
        unsigned http_request_timeout_s; /* request_timeout=10: to send a whole request */
        char *http_metrics_listen_host;  /* metrics_listen=; NULL: /metrics on the SNS port */
        uint16_t http_metrics_listen_port;
        char **http_metrics_allow; /* metrics_allow="127.0.0.0/8 ::1": who may GET /metrics */
        size_t n_http_metrics_allow;
        size_t http_max_body;      /* max_body=524288 (bytes; k/m/g suffixes) */
        char *http_verify_threads; /* verify_threads=auto: CPUs less one; 0 (on the loop)..64 */

        /* [aws] */
        char *aws_region;    /* NULL: from the environment, profile or IMDS */
        char *aws_ca_bundle; /* NULL: system store */

        /* [sns] */
        char **sns_topic_arns; /* NULL-terminated; at least one (required) */
        size_t n_sns_topic_arns;
        char *sns_signing_cert_host; /* regex; NULL: SNS host of the topic's region */
        bool sns_auto_confirm;       /* yes */

        /* [cluster] — DynamoDB as the shared record of every acknowledged message,
         * per-sender leases, heartbeats and takeover (cluster.h) */
        char *cluster_table;              /* NULL: single instance */
        unsigned cluster_lease_seconds;   /* 15: a lease's life without renewal; a heartbeat older
                                           * than this means a dead instance */
        unsigned cluster_record_ttl_days; /* 7: finished records expire after this */

        /* [dedup] — cross-instance claim of each inbound message (replaced by
         * [cluster], kept working with a deprecation warning) */
        char *dedup_table;       /* NULL: single instance, the spool alone deduplicates */
        unsigned dedup_ttl_days; /* 7: how long a claim is kept (DynamoDB TTL attribute) */

        /* [consent] */
        char *consent_table;            /* required */
        unsigned consent_business_days; /* 10 */
        char *consent_opt_out_reply;
        char *consent_opt_in_reply;
        char *consent_help_reply;
        char **consent_holidays; /* YYYY-MM-DD dates that are not business days */
        size_t n_consent_holidays;
        /* Keyword lists, comma separated ("STOP, STOP ALL"); NULL: the built-in lists. */
        char *consent_opt_out_words;
        char *consent_opt_in_words;
        char *consent_help_words;

        /* [agent] */
        char *agent_id;            /* required */
        char *agent_alias_id;      /* required */
        unsigned agent_timeout_ms; /* 30000 */
        char *agent_fallback_reply;
        char *agent_time_zone;          /* "UTC": IANA zone of the date attributes */
        char *agent_session_attributes; /* "name=value; ..." as written, or NULL */
        char **agent_attr_names;        /* parsed from it: n_agent_attrs names ... */
        char **agent_attr_values;       /* ... and their values */
        size_t n_agent_attrs;
        bool agent_trace;               /* no: enableTrace, traces logged at debug */
        char *agent_citations;          /* "no" | "append" */
        char *agent_return_control_url; /* NULL: returnControl is answered with the fallback */

        /* [sms] */
        char *sms_origination_identity; /* NULL: the number the sender texted */
        char *sms_configuration_set;
        char *sms_message_type;      /* TRANSACTIONAL | PROMOTIONAL (stored upper case) */
        unsigned sms_max_segments;   /* 3 (1-10): longer answers are cut at a word boundary */
        char *sms_max_price;         /* NULL: unset; decimal price per segment, e.g. "0.05" */
        unsigned sms_time_to_live;   /* 0: unset; seconds (5-259200) */
        unsigned sms_max_per_second; /* 0 (unset): learned; else parts/s per identity */

        /* [dispatch] */
        unsigned dispatch_concurrency;      /* 64: messages being worked on at once */
        unsigned dispatch_max_age_s;        /* 3600: older undelivered messages become dead */
        unsigned dispatch_retry_initial_ms; /* 1000: first retry delay (doubles, with jitter) */
        unsigned dispatch_retry_max_ms;     /* 60000: cap on the retry delay */

        /* [spool] */
        char *spool_dir;               /* /var/lib/twowayd */
        unsigned spool_retention_days; /* 7: done rows are kept this long (dedup window) */
        size_t spool_min_free;         /* 16m: below this much free disk, refuse (503) */

        /* [log] */
        int log_level; /* syslog priority, LOG_INFO by default */
        bool log_redact;
};

struct config_diag {
        char **lines; /* "FILE:LINE: message" */
        size_t n_lines;
};

/* Returns 0 and *ret_config on success; -EINVAL with diagnostics when the file
 * has errors; -ENOENT/-EACCES/-EISDIR/... (also as a diagnostic) when it cannot
 * be read; -ENOMEM. Diagnostics are appended to diag, which may be NULL. */
int config_load(const char *path, struct config **ret_config, struct config_diag *diag);
struct config *config_free(struct config *c);
void config_diag_done(struct config_diag *diag);

/* Names of restart-only keys ("section.key", comma separated, e.g.
 * "http.listen,spool.dir") whose values differ between old and new, written into
 * buf (truncated to size, always terminated when size > 0); returns the number
 * of them, or -EINVAL when old or new_config is NULL. */
int config_restart_only_changes(const struct config *old, const struct config *new_config,
                                char *buf, size_t size);

/* On reload: replace the restart-only values in new_config with old's, so the
 * swapped-in config describes what is actually running. 0 or -ENOMEM. */
int config_keep_restart_only(struct config *new_config, const struct config *old);

#ifdef TWOWAYD_UNIT_TEST
/* Internals the unit tests reach (static in the daemon). */
unsigned config_edit_distance(const char *a, const char *b);
size_t config_schema_size(void);
int config_schema_item(size_t i, const char **ret_section, const char **ret_key,
                       const char **ret_default, bool *ret_required, bool *ret_restart_only);
#endif

#endif
