/*
 * ctl_xml.h — what twowayctl reads from SNS Query-protocol (XML) responses,
 * parsed with libxml2 (pure: no network, no entity expansion, no DTD).
 *
 * Elements are matched by local name, whatever their namespace, anywhere
 * below the root, the first one in document order; SNS wraps results as
 * <XResponse><XResult>...</XResult><ResponseMetadata/></XResponse>.
 *
 * Errors: -EBADMSG for a body that is not well-formed XML, -ENOENT when the
 * element is absent, -ENOMEM.
 *
 * Ownership: returned strings and JSON belong to the caller (free(),
 * json_decref()).
 */
#ifndef TWOWAYD_CTL_XML_H
#define TWOWAYD_CTL_XML_H

#include <stddef.h>

#include <jansson.h>

/* Text of the first element called name (e.g. "SubscriptionArn", "MessageId"). */
int ctl_xml_text(const void *xml, size_t len, const char *name, char **ret);

/* GetTopicAttributes: <Attributes><entry><key>K</key><value>V</value></entry>...
 * as a JSON object {K: V} of strings (empty when there are none). */
int ctl_xml_topic_attributes(const void *xml, size_t len, json_t **ret);

/* ListSubscriptionsByTopic / ListSubscriptions: the <member> elements of
 * <Subscriptions> as an array of objects with the string fields SubscriptionArn,
 * Owner, Protocol, Endpoint, TopicArn (those present), and <NextToken> (NULL
 * when absent or empty; ret_next_token may be NULL). */
int ctl_xml_subscriptions(const void *xml, size_t len, json_t **ret, char **ret_next_token);

#endif
