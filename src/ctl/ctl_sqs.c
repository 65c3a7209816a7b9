/*
 * ctl_sqs.c — SQS calls (JSON 1.0) for the subscription's dead-letter queue.
 */
#include "aws.h"
#include "aws_error.h"
#include "common.h"
#include "ctl.h"
#include "ctl_sqs.h"

/* The string member `key` of the answer, copied. */
static int answer_string(struct ctl_reply *rep, const char *key, char **ret)
{
        const char *v = json_string_value(json_object_get(rep->json, key));
        int r = 0;

        if (!v)
                r = -EBADMSG;
        else if (!(*ret = strdup(v)))
                r = -ENOMEM;
        ctl_reply_done(rep);
        if (r == -EBADMSG)
                ctl_errorf("sqs: the answer has no %s", key);
        return r;
}

/* The object (or array) member `key` of the answer of a call that returned
 * r; an empty one when the answer has none. The reply is released. */
static int answer_member(int r, struct ctl_reply *rep, const char *key, bool array, json_t **ret)
{
        json_t *v = json_object_get(rep->json, key);

        if (r >= 0) {
                if (array ? json_is_array(v) : json_is_object(v))
                        *ret = json_incref(v);
                else
                        *ret = array ? json_array() : json_object();
                if (!*ret)
                        r = -ENOMEM;
        }
        ctl_reply_done(rep);
        return r;
}

int ctl_sqs_queue_url(struct ctl *ctl, const char *name, char **ret_url)
{
        struct ctl_reply rep;
        int r = ctl_call_json(ctl, AWS_SERVICE_SQS, "GetQueueUrl",
                              json_pack("{s:s}", "QueueName", name), "QueueDoesNotExist", &rep);

        if (r < 0 && aws_error_is(&rep.error, "QueueDoesNotExist")) {
                ctl_reply_done(&rep);
                *ret_url = NULL;
                return 0;
        }
        if (r < 0) {
                ctl_reply_done(&rep);
                return r;
        }
        return answer_string(&rep, "QueueUrl", ret_url);
}

int ctl_sqs_create_queue(struct ctl *ctl, const char *name, const json_t *attributes,
                         char **ret_url)
{
        struct ctl_reply rep;
        json_t *body = json_pack("{s:s}", "QueueName", name);
        int r;

        if (body && attributes &&
            json_object_set_new(body, "Attributes", json_deep_copy(attributes)) < 0) {
                json_decref(body);
                return -ENOMEM;
        }
        r = ctl_call_json(ctl, AWS_SERVICE_SQS, "CreateQueue", body, NULL, &rep);
        if (r < 0) {
                ctl_reply_done(&rep);
                return r;
        }
        return answer_string(&rep, "QueueUrl", ret_url);
}

int ctl_sqs_queue_attributes(struct ctl *ctl, const char *url, json_t **ret)
{
        struct ctl_reply rep;
        int r = ctl_call_json(ctl, AWS_SERVICE_SQS, "GetQueueAttributes",
                              json_pack("{s:s,s:[s]}", "QueueUrl", url, "AttributeNames", "All"),
                              NULL, &rep);

        return answer_member(r, &rep, "Attributes", false, ret);
}

int ctl_sqs_set_attribute(struct ctl *ctl, const char *url, const char *name, const char *value)
{
        struct ctl_reply rep;
        int r = ctl_call_json(
                ctl, AWS_SERVICE_SQS, "SetQueueAttributes",
                json_pack("{s:s,s:{s:s}}", "QueueUrl", url, "Attributes", name, value), NULL, &rep);

        ctl_reply_done(&rep);
        return r;
}

int ctl_sqs_receive(struct ctl *ctl, const char *url, unsigned max, unsigned visibility_s,
                    json_t **ret)
{
        struct ctl_reply rep;
        int r = ctl_call_json(ctl, AWS_SERVICE_SQS, "ReceiveMessage",
                              json_pack("{s:s,s:i,s:i,s:i}", "QueueUrl", url, "MaxNumberOfMessages",
                                        (int)max, "VisibilityTimeout", (int)visibility_s,
                                        "WaitTimeSeconds", 0),
                              NULL, &rep);

        return answer_member(r, &rep, "Messages", true, ret);
}

int ctl_sqs_delete(struct ctl *ctl, const char *url, const char *receipt)
{
        struct ctl_reply rep;
        int r = ctl_call_json(ctl, AWS_SERVICE_SQS, "DeleteMessage",
                              json_pack("{s:s,s:s}", "QueueUrl", url, "ReceiptHandle", receipt),
                              NULL, &rep);

        ctl_reply_done(&rep);
        return r;
}

int ctl_sqs_set_visibility(struct ctl *ctl, const char *url, const char *receipt,
                           unsigned visibility_s)
{
        struct ctl_reply rep;
        int r = ctl_call_json(ctl, AWS_SERVICE_SQS, "ChangeMessageVisibility",
                              json_pack("{s:s,s:s,s:i}", "QueueUrl", url, "ReceiptHandle", receipt,
                                        "VisibilityTimeout", (int)visibility_s),
                              NULL, &rep);

        ctl_reply_done(&rep);
        return r;
}
