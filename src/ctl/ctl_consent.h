/*
 * ctl_consent.h — the pure parts of twowayctl consent: the manual change's
 * method and id, and DynamoDB items as plain JSON. The change itself is
 * written by consent_set() (consent.h), the daemon's own rule.
 */
#ifndef TWOWAYD_CTL_CONSENT_H
#define TWOWAYD_CTL_CONSENT_H

#include <jansson.h>

#define CTL_CONSENT_METHOD    "manual"
#define CTL_CONSENT_ID_PREFIX "manual:"

/* A DynamoDB attribute value as plain JSON: S -> string, N -> number (a
 * string if it does not fit), BOOL, NULL -> null, L -> array, M -> object,
 * anything else (B, SS, ...) as it is. New reference, NULL on OOM. */
json_t *ctl_consent_plain(const json_t *av);
/* An item (name -> attribute value) as a plain object. */
json_t *ctl_consent_plain_item(json_t *item);

#endif
