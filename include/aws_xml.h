/*
 * aws_xml.h — reading the XML of AWS Query-protocol answers (SNS results and
 * error documents) with libxml2. Pure: no network, no entity substitution, no
 * DTD loading, and libxml2's own error printing off.
 *
 * Elements are matched by local name, whatever their namespace (SNS answers
 * carry xmlns="http://sns.amazonaws.com/doc/2010-03-31/"), the first one in
 * document order, anywhere below the root (SNS wraps results as
 * <XResponse><XResult>...</XResult><ResponseMetadata/></XResponse>).
 *
 * Errors: -EINVAL for no body, -EBADMSG for a body that is not well-formed
 * XML, -ENOENT when the element is absent, -ENOMEM.
 *
 * Ownership: a document from aws_xml_read() belongs to the caller
 * (xmlFreeDoc()); nodes point into it. Returned strings and JSON belong to
 * the caller (free(), json_decref()).
 */
#ifndef TWOWAYD_AWS_XML_H
#define TWOWAYD_AWS_XML_H

#include <stddef.h>

#include <jansson.h>
#include <libxml/tree.h>

int aws_xml_read(const void *xml, size_t len, xmlDocPtr *ret);

/* The text of the first element called name in doc into buf (cut at
 * size - 1 bytes, always NUL-terminated). Returns its length, or -ENOENT. */
int aws_xml_copy_text(xmlDocPtr doc, const char *name, char *buf, size_t size);
/* The same, whole, in a malloc'd string. */
int aws_xml_text(xmlDocPtr doc, const char *name, char **ret);

/* A map: <name><entry><key>K</key><value>V</value></entry>...</name> as a
 * JSON object {K: V} of strings; {} when the element is absent or empty (an
 * entry without a value is left out). */
int aws_xml_map(xmlDocPtr doc, const char *name, json_t **ret);

/* A list of structures: the <member> children of <name>, each as a JSON
 * object of those of the n string fields it has; [] when the element is
 * absent or empty. */
int aws_xml_members(xmlDocPtr doc, const char *name, const char *const *fields, size_t n,
                    json_t **ret);

#endif
