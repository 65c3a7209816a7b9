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

static bool named(const xmlNode *n, const char *name)
{
        return n && n->type == XML_ELEMENT_NODE && n->name && streq((const char *)n->name, name);
}

/* The first element called name at or below n and its following siblings,
 * depth first; NULL when there is none. */
static xmlNodePtr find(xmlNodePtr n, const char *name)
{
        for (; n; n = n->next) {
                xmlNodePtr below;

                if (named(n, name))
                        return n;
                below = find(n->children, name);
                if (below)
                        return below;
        }
        return NULL;
}

static xmlNodePtr find_in(xmlDocPtr doc, const char *name)
{
        return doc ? find(xmlDocGetRootElement(doc), name) : NULL;
}

/* The first child element of n called name, or NULL. */
static xmlNodePtr child(xmlNodePtr n, const char *name)
{
        for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
                if (named(c, name))
                        return c;
        return NULL;
}

/* The text of n, malloc'd ("" for an empty element). */
static int text_of(xmlNodePtr n, char **ret)
{
        xmlChar *t = xmlNodeGetContent(n);
        char *s = strdup(t ? (const char *)t : "");

        xmlFree(t);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int set_text(json_t *o, const char *key, xmlNodePtr n)
{
        _cleanup_free_ char *s = NULL;
        int r = text_of(n, &s);

        if (r < 0)
                return r;
        return json_object_set_new(o, key, json_string(s)) < 0 ? -ENOMEM : 0;
}

int aws_xml_copy_text(xmlDocPtr doc, const char *name, char *buf, size_t size)
{
        _cleanup_free_ char *t = NULL;
        xmlNodePtr n = find_in(doc, name);
        size_t len;
        int r;

        if (!n)
                return -ENOENT;
        r = text_of(n, &t);
        if (r < 0)
                return r;
        len = strlen(t);
        if (size > 0) {
                len = MIN(len, size - 1);
                memcpy(buf, t, len);
                buf[len] = '\0';
        }
        return (int)MIN(len, (size_t)INT_MAX);
}

int aws_xml_text(xmlDocPtr doc, const char *name, char **ret)
{
        xmlNodePtr n = find_in(doc, name);

        return n ? text_of(n, ret) : -ENOENT;
}

int aws_xml_map(xmlDocPtr doc, const char *name, json_t **ret)
{
        xmlNodePtr map = find_in(doc, name);
        json_t *o = json_object();
        int r = o ? 0 : -ENOMEM;

        for (xmlNodePtr e = map ? map->children : NULL; r >= 0 && e; e = e->next) {
                xmlNodePtr k = child(e, "key"), v = child(e, "value");
                _cleanup_free_ char *key = NULL;

                if (!named(e, "entry") || !k || !v)
                        continue;
                r = text_of(k, &key);
                if (r >= 0)
                        r = set_text(o, key, v);
        }
        if (r < 0) {
                json_decref(o);
                return r;
        }
        *ret = o;
        return 0;
}

int aws_xml_members(xmlDocPtr doc, const char *name, const char *const *fields, size_t n,
                    json_t **ret)
{
        xmlNodePtr list = find_in(doc, name);
        json_t *a = json_array();
        int r = a ? 0 : -ENOMEM;

        for (xmlNodePtr m = list ? list->children : NULL; r >= 0 && m; m = m->next) {
                json_t *o;

                if (!named(m, "member"))
                        continue;
                o = json_object();
                if (!o || json_array_append_new(a, o) < 0) {
                        r = -ENOMEM;
                        break;
                }
                for (size_t i = 0; r >= 0 && i < n; i++) {
                        xmlNodePtr f = child(m, fields[i]);

                        if (f)
                                r = set_text(o, fields[i], f);
                }
        }
        if (r < 0) {
                json_decref(a);
                return r;
        }
        *ret = a;
        return 0;
}
