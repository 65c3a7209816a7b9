/*
 * ctl_phone.c — phone numbers: list, find, update, present.
 */
#include <stdio.h>

#include "aws.h"
#include "common.h"
#include "ctl.h"
#include "ctl_phone.h"
#include "ctl_table.h"

const char *ctl_phone_str(const json_t *pn, const char *field)
{
        const char *s = json_string_value(json_object_get(pn, field));

        return s ? s : "";
}

bool ctl_phone_bool(const json_t *pn, const char *field)
{
        return json_is_true(json_object_get(pn, field));
}

/* One page of DescribePhoneNumbers (ctl_page_fn). */
static int phone_page(struct ctl *ctl, void *userdata, const char *token, json_t **ret_list,
                      char **ret_next)
{
        json_t *body = token ? json_pack("{s:s}", "NextToken", token) : json_object();
        struct ctl_reply rep;
        const char *next;
        int r;

        r = ctl_call_json(ctl, AWS_SERVICE_SMS_VOICE, "DescribePhoneNumbers", body, NULL, &rep);
        if (r >= 0) {
                *ret_list = json_incref(json_object_get(rep.json, "PhoneNumbers"));
                next = json_string_value(json_object_get(rep.json, "NextToken"));
                if (!isempty(next) && !(*ret_next = strdup(next)))
                        r = -ENOMEM;
        }
        ctl_reply_done(&rep);
        return r;
}

int ctl_phone_list(struct ctl *ctl, json_t **ret)
{
        return ctl_list_pages(ctl, phone_page, NULL, ret);
}

int ctl_phone_find(struct ctl *ctl, const char *which, json_t **ret)
{
        json_t *found = NULL;
        int r;

        if (isempty(which))
                return -EINVAL;
        if (which[0] == '+') {
                json_t *all = NULL, *pn;
                size_t i;

                r = ctl_phone_list(ctl, &all);
                if (r < 0)
                        return r;
                json_array_foreach(all, i, pn)
                        if (streq(ctl_phone_str(pn, "PhoneNumber"), which)) {
                                found = json_incref(pn);
                                break;
                        }
                json_decref(all);
        } else {
                struct ctl_reply rep;

                r = ctl_call_json(ctl, AWS_SERVICE_SMS_VOICE, "DescribePhoneNumbers",
                                  json_pack("{s:[s]}", "PhoneNumberIds", which),
                                  "ResourceNotFoundException", &rep);
                if (r < 0 && !aws_error_is(&rep.error, "ResourceNotFoundException")) {
                        ctl_reply_done(&rep);
                        return r;
                }
                if (r >= 0)
                        found = json_incref(
                                json_array_get(json_object_get(rep.json, "PhoneNumbers"), 0));
                ctl_reply_done(&rep);
        }
        if (!found) {
                ctl_errorf("no phone number %s in this account (region %s): see "
                           "'twowayctl status'",
                           which, ctl->region ? ctl->region : "?");
                return -ENOENT;
        }
        *ret = found;
        return 0;
}

int ctl_phone_update(struct ctl *ctl, const char *phone_number_id, json_t *fields)
{
        json_t *body = json_deep_copy(fields);
        struct ctl_reply rep;
        int r;

        if (body && json_object_set_new(body, "PhoneNumberId", json_string(phone_number_id)) < 0) {
                json_decref(body);
                body = NULL; /* -ENOMEM from the call */
        }
        r = ctl_call_json(ctl, AWS_SERVICE_SMS_VOICE, "UpdatePhoneNumber", body, NULL, &rep);
        ctl_reply_done(&rep);
        return r;
}

static const char *yes_no(bool b)
{
        return b ? "yes" : "no";
}

struct ctl_table *ctl_phone_table(const json_t *numbers)
{
        static const char *const headers[] = {
                "NUMBER",  "ID",      "STATUS",          "TYPE",
                "MESSAGE", "TWO-WAY", "TWO-WAY CHANNEL", "SELF-MANAGED OPT-OUTS"};
        struct ctl_table *t = ctl_table_new(headers, ARRAY_SIZE(headers));
        const json_t *pn;
        size_t i;

        if (!t)
                return NULL;
        json_array_foreach(numbers, i, pn) {
                const char *cells[] = {
                        ctl_phone_str(pn, "PhoneNumber"),
                        ctl_phone_str(pn, "PhoneNumberId"),
                        ctl_phone_str(pn, "Status"),
                        ctl_phone_str(pn, "NumberType"),
                        ctl_phone_str(pn, "MessageType"),
                        yes_no(ctl_phone_bool(pn, "TwoWayEnabled")),
                        ctl_phone_str(pn, "TwoWayChannelArn"),
                        yes_no(ctl_phone_bool(pn, "SelfManagedOptOutsEnabled")),
                };
                if (ctl_table_add(t, cells) < 0)
                        return ctl_table_free(t);
        }
        return t;
}

static json_t *str_or_null(const json_t *pn, const char *field)
{
        const char *s = json_string_value(json_object_get(pn, field));

        return s ? json_string(s) : json_null();
}

json_t *ctl_phone_json(const json_t *numbers)
{
        json_t *out = json_array();
        const json_t *pn;
        size_t i;

        if (!out)
                return NULL;
        json_array_foreach(numbers, i, pn) {
                json_t *o = json_pack(
                        "{s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:o,s:o,s:b,s:o}", "phone_number",
                        str_or_null(pn, "PhoneNumber"), "id", str_or_null(pn, "PhoneNumberId"),
                        "arn", str_or_null(pn, "PhoneNumberArn"), "status",
                        str_or_null(pn, "Status"), "type", str_or_null(pn, "NumberType"),
                        "message_type", str_or_null(pn, "MessageType"), "two_way_enabled",
                        ctl_phone_bool(pn, "TwoWayEnabled"), "two_way_channel_arn",
                        str_or_null(pn, "TwoWayChannelArn"), "two_way_channel_role",
                        str_or_null(pn, "TwoWayChannelRole"), "self_managed_opt_outs",
                        ctl_phone_bool(pn, "SelfManagedOptOutsEnabled"), "iso_country_code",
                        str_or_null(pn, "IsoCountryCode"));

                if (!o || json_array_append_new(out, o) < 0) {
                        json_decref(out);
                        return NULL;
                }
        }
        return out;
}

const char *ctl_phone_provisioning_hint(const char *number_type)
{
        if (streq_ptr(number_type, "TOLL_FREE"))
                return "A toll-free number stays PENDING until its registration is approved, "
                       "which usually takes several business days to a few weeks.";
        if (streq_ptr(number_type, "TEN_DLC"))
                return "A 10DLC number becomes ACTIVE once its brand and campaign registration "
                       "is approved and the number is associated, usually days to a few weeks.";
        if (streq_ptr(number_type, "SHORT_CODE"))
                return "A short code takes weeks to provision (carrier approval).";
        return "A new long code or simulator number usually becomes ACTIVE within minutes; "
               "numbers that need a registration wait until it is approved.";
}
