/*
 * ctl.h — twowayctl's runtime: the daemon's config, one libev loop, and the
 * daemon's AWS request core (credential chain, region, endpoints, SigV4,
 * retries) driven one call at a time.
 *
 * The commands are sequential, so each AWS call is started on the loop with
 * the daemon's own start functions (aws_call_start_owned(), ddb_request())
 * and the loop is run until that call's callback has fired (ctl_call(),
 * ctl_ddb()); nothing else is in flight meanwhile.
 *
 * Output conventions: results go to stdout (a table, or JSON with --json);
 * progress and errors go to stderr as "twowayctl: ..." lines. An AWS failure
 * is one line naming the call, the error code and what to do
 * (ctl_report_aws()).
 *
 * Ownership: struct ctl owns the config, loop, clients and region;
 * ctl_done() releases them. struct ctl_reply owns its JSON and raw body;
 * ctl_reply_done() releases them.
 */
#ifndef TWOWAYD_CTL_H
#define TWOWAYD_CTL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "aws.h"
#include "aws_creds.h"
#include "common.h"

struct config;
struct ev_loop;
struct http_client;
struct http_client_req;

/* Exit codes (documented in --help and README). */
enum {
        CTL_EXIT_OK = 0,
        CTL_EXIT_FAIL = 1,      /* an operation or a doctor check failed */
        CTL_EXIT_USAGE = 2,     /* bad command line */
        CTL_EXIT_CONFIG = 3,    /* the config file cannot be used */
        CTL_EXIT_NOT_READY = 4, /* setup: the phone number is not ACTIVE yet */
        CTL_EXIT_TIMEOUT = 5,   /* setup: the subscription was not confirmed, or the cluster
                                 * table not ACTIVE, in time */
};

struct ctl {
        const char *config_path;
        struct config *config;
        bool json;    /* --json: machine-readable output */
        bool verbose; /* -v: library logs at debug level on stderr */

        struct ev_loop *loop;
        struct http_client *http;
        struct aws_creds_provider *creds;
        struct aws_client *aws;
        char *region;
        const char *region_source;
};

struct ctl_reply {
        long http_status;
        json_t *json; /* parsed JSON 1.0 body (2xx), owned; NULL otherwise */
        char *raw;    /* the body as received, NUL-terminated, owned; NULL if none */
        size_t raw_len;
        json_t *item; /* DynamoDB: Item / Attributes, owned; NULL if none */
        bool condition_failed;
        struct aws_error error; /* kind AWS_ERROR_NONE on success */
};

/* Load ctl->config from ctl->config_path, printing every diagnostic. 0 or
 * CTL_EXIT_CONFIG. */
int ctl_load_config(struct ctl *ctl);

/* The loop and the HTTP client (for AWS and /healthz). < 0 on failure (printed). */
int ctl_loop(struct ctl *ctl);
/* Credentials provider, region and AWS client. < 0 on failure (printed). */
int ctl_aws(struct ctl *ctl);
void ctl_done(struct ctl *ctl);

/* Run the loop until *done is set. */
void ctl_wait(struct ctl *ctl, const bool *done);
/* Let the loop run for seconds (timers, I/O), then return. */
void ctl_sleep(struct ctl *ctl, double seconds);

/* One AWS call to completion: started with aws_call_start_owned() (the
 * reference to body passes to the call; NULL: it could not be built,
 * -ENOMEM, unless params->raw_body is the body), then the loop runs until its
 * callback has fired. Returns 0, or the call's negative errno with
 * ret->error describing it, and prints the failure (ctl_report_aws()) unless
 * its error code is quiet (CTL_QUIET_ALL: no failure is printed; NULL: every
 * one is). *ret is filled in both cases (ctl_reply_done()). */
#define CTL_QUIET_ALL "*"
int ctl_call(struct ctl *ctl, const struct aws_call_params *params, json_t *body, const char *quiet,
             struct ctl_reply *ret);
/* ctl_call() of a JSON 1.0 operation that needs no other parameter. */
int ctl_call_json(struct ctl *ctl, enum aws_service service, const char *operation, json_t *body,
                  const char *quiet, struct ctl_reply *ret);
/* The same for a DynamoDB operation through ddb_request(), with a body from
 * ddb.h's or a module's request builders (stolen): ret->item and
 * ret->condition_failed as struct ddb_result has them. */
int ctl_ddb(struct ctl *ctl, const char *operation, json_t *body, const char *quiet,
            struct ctl_reply *ret);
void ctl_reply_done(struct ctl_reply *rep);
/* DescribeTable: 0 and the "Table" object (a new reference), or -ENOENT
 * (not printed) when the table does not exist; other failures are printed. */
int ctl_ddb_describe_table(struct ctl *ctl, const char *table, json_t **ret);

/* Resolve credentials now: 0 with *ret_source, or < 0. */
int ctl_credentials(struct ctl *ctl, enum aws_creds_source *ret_source);

/* One HTTP request (plain or TLS with [aws] ca_bundle) to completion: 0 with
 * the status and body (malloc'd, may be NULL), or a transport errno. */
int ctl_http_request(struct ctl *ctl, const struct http_client_req *req, long *ret_status,
                     char **ret_body);
/* Whether topic is one of [sns] topic_arns. */
bool ctl_topic_configured(const struct config *c, const char *topic);
/* The daemon's own URL for path, from [http] listen (a wildcard address
 * becomes loopback) and tls_cert (https). Malloc'd; NULL on OOM. */
char *ctl_daemon_url(const struct config *c, const char *path);
/* GET url (plain or TLS with [aws] ca_bundle). 0 with the status and body
 * (malloc'd, may be NULL), or a transport errno. */
int ctl_http_get(struct ctl *ctl, const char *url, long timeout_ms, long *ret_status,
                 char **ret_body);

/* What to do about a failed AWS call, one sentence (static or in buf). */
const char *ctl_aws_hint(const struct ctl *ctl, enum aws_service service, const char *operation,
                         int r, const struct ctl_reply *rep, char *buf, size_t size);
/* "twowayctl: SERVICE OPERATION failed: CODE (REASON): MESSAGE. HINT" on stderr. */
void ctl_report_aws(const struct ctl *ctl, enum aws_service service, const char *operation, int r,
                    const struct ctl_reply *rep);

/* One page of a listing: the page after token (NULL: the first), its members
 * (*ret_list: a new reference to an array, or left NULL for none) and the next
 * page's token (*ret_next: malloc'd, or left NULL on the last page). 0, or < 0
 * (printed). */
typedef int (*ctl_page_fn)(struct ctl *ctl, void *userdata, const char *token, json_t **ret_list,
                           char **ret_next);
#define CTL_PAGES_MAX 1000
/* Every member of a listing, page after page (at most CTL_PAGES_MAX), in one
 * new array: 0, or the failure of the page that failed. */
int ctl_list_pages(struct ctl *ctl, ctl_page_fn page, void *userdata, json_t **ret);

/* "twowayctl: " + message + "\n" on stderr (from a va_list: ctl_verrorf()). */
void ctl_errorf(const char *fmt, ...) _printf_(1, 2);
void ctl_verrorf(const char *fmt, va_list ap) _printf_(1, 0);

/* A random RFC 4122 version 4 UUID, lower case (37 bytes with the NUL). */
int ctl_uuid(char out[37]);

/* The IAM action prefix of a service ("sms-voice", "sns", "dynamodb", "bedrock"). */
const char *ctl_iam_prefix(enum aws_service s);

#endif
