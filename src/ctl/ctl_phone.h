/*
 * ctl_phone.h — End User Messaging phone numbers for twowayctl
 * (DescribePhoneNumbers, UpdatePhoneNumber; sms-voice, JSON 1.0).
 *
 * Phone number objects are the service's PhoneNumberInformation as JSON
 * ("PhoneNumber", "PhoneNumberId", "Status", "TwoWayEnabled", ...).
 * On an AWS failure the functions print one line and return < 0.
 * Ownership: returned JSON belongs to the caller.
 */
#ifndef TWOWAYD_CTL_PHONE_H
#define TWOWAYD_CTL_PHONE_H

#include <stdbool.h>

#include <jansson.h>

struct ctl;
struct ctl_table;

/* Every phone number of the account, all pages. */
int ctl_phone_list(struct ctl *ctl, json_t **ret);
/* One number by id, ARN or +E.164: -ENOENT (printed) when there is none. */
int ctl_phone_find(struct ctl *ctl, const char *which, json_t **ret);
/* UpdatePhoneNumber with the given fields added to PhoneNumberId. */
int ctl_phone_update(struct ctl *ctl, const char *phone_number_id, json_t *fields);

/* Accessors with defaults. */
const char *ctl_phone_str(const json_t *pn, const char *field); /* "" when absent */
bool ctl_phone_bool(const json_t *pn, const char *field);

/* The status table (pure): one row per number. NULL on OOM. */
struct ctl_table *ctl_phone_table(const json_t *numbers);
/* The --json form (pure): [{"phone_number", "id", "arn", "status", "type",
 * "message_type", "two_way_enabled", "two_way_channel_arn",
 * "two_way_channel_role", "self_managed_opt_outs", "iso_country_code"}]. */
json_t *ctl_phone_json(const json_t *numbers);

/* A sentence on how long provisioning a number of this type takes. */
const char *ctl_phone_provisioning_hint(const char *number_type);

#endif
