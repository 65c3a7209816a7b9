/*
 * aws_error.c — parse AWS error responses and classify them (pure).
 *
 * The code lists follow the SDK "standard" retry mode (botocore
 * retries/standard.py, @smithy/service-error-classification): a fixed set of
 * throttling codes and transient codes, plus HTTP status rules.
 */
#include <stdio.h>
#include <strings.h>

#include <jansson.h>

#include "aws_error.h"
#include "aws_xml.h"
#include "common.h"

static const char *const throttling_codes[] = {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "EC2ThrottledException",
};

static const char *const transient_codes[] = {
        "RequestTimeout",      "RequestTimeoutException",          "PriorRequestNotComplete",
        "InternalServerError", "InternalServerException",          "InternalFailure",
        "ServiceUnavailable",  "ReplicatedWriteConflictException",
};

void aws_error_clear(struct aws_error *e)
{
        *e = (struct aws_error){0};
}

static void copy_bounded(char *dst, size_t size, const char *src, size_t len)
{
        if (size == 0)
                return;
        if (!src)
                len = 0;
        if (len >= size)
                len = size - 1;
        if (len)
                memcpy(dst, src, len);
        dst[len] = '\0';
}

size_t aws_error_normalize_code(const char *raw, size_t len, char *out, size_t size)
{
        const char *colon, *hash;
        size_t n;

        if (size == 0)
                return 0;
        if (!raw) {
                out[0] = '\0';
                return 0;
        }
        colon = memchr(raw, ':', len);
        if (colon)
                len = (size_t)(colon - raw);
        hash = memrchr(raw, '#', len);
        if (hash) {
                len -= (size_t)(hash + 1 - raw);
                raw = hash + 1;
        }
        /* Trim surrounding whitespace. */
        while (len > 0 && (*raw == ' ' || *raw == '\t' || *raw == '\r' || *raw == '\n')) {
                raw++;
                len--;
        }
        while (len > 0 && (raw[len - 1] == ' ' || raw[len - 1] == '\t' || raw[len - 1] == '\r' ||
                           raw[len - 1] == '\n'))
                len--;
        n = MIN(len, size - 1);
        memcpy(out, raw, n);
        out[n] = '\0';
        return n;
}

static bool in_list(const char *code, const char *const *list, size_t n)
{
        if (isempty(code))
                return false;
        for (size_t i = 0; i < n; i++)
                if (streq(code, list[i]))
                        return true;
        return false;
}

bool aws_error_code_is_throttling(const char *code)
{
        return in_list(code, throttling_codes, ARRAY_SIZE(throttling_codes));
}

bool aws_error_code_is_transient(const char *code)
{
        return in_list(code, transient_codes, ARRAY_SIZE(transient_codes));
}

/* An error document of the Query protocol (SNS):
 * <ErrorResponse><Error><Code/><Message/></Error><RequestId/></ErrorResponse>.
 * A body that is not well-formed XML leaves the fields as they are. */
static void from_xml(const void *body, size_t len, struct aws_error *ret)
{
        xmlDocPtr doc = NULL;
        char code[AWS_ERROR_CODE_MAX];
        int n;

        if (aws_xml_read(body, len, &doc) < 0)
                return;
        n = aws_xml_copy_text(doc, "Code", code, sizeof(code));
        if (n >= 0 && isempty(ret->code))
                aws_error_normalize_code(code, (size_t)n, ret->code, sizeof(ret->code));
        (void)aws_xml_copy_text(doc, "Message", ret->message, sizeof(ret->message));
        if (isempty(ret->request_id))
                (void)aws_xml_copy_text(doc, "RequestId", ret->request_id, sizeof(ret->request_id));
        xmlFreeDoc(doc);
}

static const char *json_str_member(json_t *obj, const char *const *names, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                json_t *v = json_object_get(obj, names[i]);
                if (json_is_string(v))
                        return json_string_value(v);
        }
        return NULL;
}

void aws_error_from_response(long status, const char *error_type_header, const char *request_id,
                             const void *body, size_t len, struct aws_error *ret)
{
        static const char *const code_names[] = {"__type", "code", "Code"};
        static const char *const message_names[] = {"message", "Message", "errorMessage"};
        const char *b = body;
        size_t i = 0;

        aws_error_clear(ret);
        ret->http_status = status;
        copy_bounded(ret->request_id, sizeof(ret->request_id), request_id,
                     request_id ? strlen(request_id) : 0);

        if (!isempty(error_type_header))
                aws_error_normalize_code(error_type_header, strlen(error_type_header), ret->code,
                                         sizeof(ret->code));

        while (b && i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
                i++;

        if (b && i < len && b[i] == '{') {
                json_t *root = json_loadb(b, len, 0, NULL);
                if (json_is_object(root)) {
                        const char *c = json_str_member(root, code_names, ARRAY_SIZE(code_names));
                        const char *m =
                                json_str_member(root, message_names, ARRAY_SIZE(message_names));
                        if (c && isempty(ret->code))
                                aws_error_normalize_code(c, strlen(c), ret->code,
                                                         sizeof(ret->code));
                        if (m)
                                copy_bounded(ret->message, sizeof(ret->message), m, strlen(m));
                }
                json_decref(root);
        } else if (b && i < len && b[i] == '<') {
                from_xml(b, len, ret);
        }

        ret->kind = aws_error_classify(ret);
}

void aws_error_from_local(int err, const char *code, const char *message, struct aws_error *ret)
{
        aws_error_clear(ret);
        ret->local = err < 0 ? err : -EIO;
        ret->timeout = ret->local == -ETIMEDOUT;
        copy_bounded(ret->code, sizeof(ret->code), code, code ? strlen(code) : 0);
        if (!message)
                message = strerror(-ret->local);
        copy_bounded(ret->message, sizeof(ret->message), message, strlen(message));
        ret->kind = aws_error_classify(ret);
}

static bool local_is_transient(int err)
{
        switch (err) {
        case -ETIMEDOUT:
        case -ECONNREFUSED:
        case -ECONNRESET:
        case -ECONNABORTED:
        case -EHOSTUNREACH:
        case -ENETUNREACH:
        case -ENETDOWN:
        case -EPIPE:
        case -EAGAIN:
        case -EPROTO: /* truncated or garbled HTTP from the peer */
                return true;
        default:
                return false;
        }
}

enum aws_error_kind aws_error_classify(const struct aws_error *e)
{
        if (e->local < 0)
                return local_is_transient(e->local) ? AWS_ERROR_TRANSIENT : AWS_ERROR_PERMANENT;
        if (aws_error_code_is_throttling(e->code) || e->http_status == 429)
                return AWS_ERROR_THROTTLING;
        if (aws_error_code_is_transient(e->code))
                return AWS_ERROR_TRANSIENT;
        switch (e->http_status) {
        case 500:
        case 502:
        case 503:
        case 504:
                return AWS_ERROR_TRANSIENT;
        default:
                break;
        }
        if (e->http_status >= 200 && e->http_status < 300 && isempty(e->code))
                return AWS_ERROR_NONE;
        return AWS_ERROR_PERMANENT;
}

bool aws_error_is(const struct aws_error *e, const char *code)
{
        return e && code && streq(e->code, code);
}

const char *aws_error_kind_to_string(enum aws_error_kind k)
{
        static const char *const names[_AWS_ERROR_KIND_MAX] = {
                [AWS_ERROR_NONE] = "none",
                [AWS_ERROR_THROTTLING] = "throttling",
                [AWS_ERROR_TRANSIENT] = "transient",
                [AWS_ERROR_PERMANENT] = "permanent",
        };
        if ((unsigned)k >= _AWS_ERROR_KIND_MAX)
                return "unknown";
        return names[k];
}

const char *aws_error_log_code(const char *code, long http_status, char *buf, size_t size)
{
        if (!isempty(code) || http_status <= 0 || size == 0)
                return code ? code : "";
        (void)snprintf(buf, size, "HTTP %ld", http_status);
        return buf;
}

bool aws_error_retryable(const struct aws_error *e)
{
        return e && (e->kind == AWS_ERROR_THROTTLING || e->kind == AWS_ERROR_TRANSIENT);
}
