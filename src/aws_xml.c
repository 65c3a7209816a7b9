/*
 * aws_xml.c — Query-protocol XML, read with libxml2.
 */
#include <limits.h>

#include <libxml/parser.h>

#include "aws_xml.h"
#include "common.h"

/* No network, no entity substitution, no DTD loading; errors are returned, not printed. */
#define READ_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

int aws_xml_read(const void *xml, size_t len, xmlDocPtr *ret)
{
        xmlDocPtr doc;

        if (!xml || len > INT_MAX)
                return -EINVAL;
        doc = xmlReadMemory(xml, (int)len, "answer.xml", NULL, READ_OPTIONS);
        if (!doc || !xmlDocGetRootElement(doc)) {
                xmlFreeDoc(doc);
                return -EBADMSG;
        }
        *ret = doc;
        return 0;
}

/* The first element called name at or below n and its following siblings,
 * depth first; NULL when there is none. */
static xmlNodePtr find(xmlNodePtr n, const char *name)
{
        for (; n; n = n->next) {
                xmlNodePtr below;

                if (n->type == XML_ELEMENT_NODE && n->name && streq((const char *)n->name, name))
                        return n;
                below = find(n->children, name);
                if (below)
                        return below;
        }
        return NULL;
}

int aws_xml_copy_text(xmlDocPtr doc, const char *name, char *buf, size_t size)
{
        xmlNodePtr n = find(xmlDocGetRootElement(doc), name);
        xmlChar *t;
        size_t len;

        if (!n)
                return -ENOENT;
        t = xmlNodeGetContent(n);
        if (!t)
                return -ENOMEM;
        len = strlen((const char *)t);
        if (size > 0) {
                len = MIN(len, size - 1);
                memcpy(buf, t, len);
                buf[len] = '\0';
        }
        xmlFree(t);
        return (int)MIN(len, (size_t)INT_MAX);
}
