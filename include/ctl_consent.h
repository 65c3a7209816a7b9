/*
 * ctl_consent.h — the pure parts of twowayctl consent: the manual change's
 * extra history fields, and DynamoDB items as plain JSON.
 */
#ifndef TWOWAYD_CTL_CONSENT_H
#define TWOWAYD_CTL_CONSENT_H

#include <jansson.h>

struct consent_update;

#define CTL_CONSENT_METHOD    "manual"
#define CTL_CONSENT_ID_PREFIX "manual:"
#define CTL_CONSENT_NOTE_MAX  1024 /* bytes of an operator's note */

/* Add "operator" and (when not NULL) "note" to the history entry of an update
 * built by consent_update_build(). -EINVAL (no entry, or a note over
 * CTL_CONSENT_NOTE_MAX), -ENOMEM. */
int ctl_consent_annotate(struct consent_update *u, const char *operator_name, const char *note);

/* A DynamoDB attribute value as plain JSON: S -> string, N -> number (a
 * string if it does not fit), BOOL, NULL -> null, L -> array, M -> object,
 * anything else (B, SS, ...) as it is. New reference, NULL on OOM. */
json_t *ctl_consent_plain(const json_t *av);
/* An item (name -> attribute value) as a plain object. */
json_t *ctl_consent_plain_item(json_t *item);

#endif
