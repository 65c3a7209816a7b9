/*
 * ctl_xml.c — SNS XML responses, read with libxml2.
 */
#include <limits.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common.h"
#include "ctl_xml.h"

/* No network, no entity substitution, no DTD loading; errors are returned, not printed. */
#define PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

static int parse(const void *xml, size_t len, xmlDocPtr *ret)
{
        xmlDocPtr doc;

        if (!xml || len > INT_MAX)
                return -EINVAL;
        doc = xmlReadMemory(xml, (int)len, "response.xml", NULL, PARSE_OPTIONS);
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

/* Depth-first, document order. */
static xmlNodePtr find(xmlNodePtr n, const char *name)
{
        for (; n; n = n->next) {
                xmlNodePtr hit;

                if (named(n, name))
                        return n;
                hit = find(n->children, name);
                if (hit)
                        return hit;
        }
        return NULL;
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
        for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
                if (named(c, name))
                        return c;
        return NULL;
}

static int text_of(xmlNodePtr n, char **ret)
{
        xmlChar *t = xmlNodeGetContent(n);
        char *s;

        s = strdup(t ? (const char *)t : "");
        xmlFree(t);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int ctl_xml_text(const void *xml, size_t len, const char *name, char **ret)
{
        xmlDocPtr doc;
        xmlNodePtr n;
        int r;

        if (isempty(name) || !ret)
                return -EINVAL;
        r = parse(xml, len, &doc);
        if (r < 0)
                return r;
        n = find(xmlDocGetRootElement(doc), name);
        r = n ? text_of(n, ret) : -ENOENT;
        xmlFreeDoc(doc);
        return r;
}

static int set_text(json_t *o, const char *key, xmlNodePtr n)
{
        _cleanup_free_ char *s = NULL;
        int r = text_of(n, &s);

        if (r < 0)
                return r;
        return json_object_set_new(o, key, json_string(s)) < 0 ? -ENOMEM : 0;
}

int ctl_xml_topic_attributes(const void *xml, size_t len, json_t **ret)
{
        xmlDocPtr doc;
        xmlNodePtr attrs;
        json_t *o;
        int r;

        if (!ret)
                return -EINVAL;
        r = parse(xml, len, &doc);
        if (r < 0)
                return r;
        attrs = find(xmlDocGetRootElement(doc), "Attributes");
        o = json_object();
        r = o ? 0 : -ENOMEM;
        for (xmlNodePtr e = attrs ? attrs->children : NULL; r >= 0 && e; e = e->next) {
                xmlNodePtr k = child(e, "key"), v = child(e, "value");
                _cleanup_free_ char *key = NULL;

                if (!named(e, "entry") || !k)
                        continue;
                r = text_of(k, &key);
                if (r >= 0 && v)
                        r = set_text(o, key, v);
        }
        xmlFreeDoc(doc);
        if (r < 0) {
                json_decref(o);
                return r;
        }
        *ret = o;
        return 0;
}

int ctl_xml_subscriptions(const void *xml, size_t len, json_t **ret, char **ret_next_token)
{
        static const char *const fields[] = {"SubscriptionArn", "Owner", "Protocol", "Endpoint",
                                             "TopicArn"};
        xmlDocPtr doc;
        xmlNodePtr root, subs, next;
        char *token = NULL;
        json_t *list;
        int r;

        if (!ret)
                return -EINVAL;
        r = parse(xml, len, &doc);
        if (r < 0)
                return r;
        root = xmlDocGetRootElement(doc);
        subs = find(root, "Subscriptions");
        list = json_array();
        r = list ? 0 : -ENOMEM;
        for (xmlNodePtr m = subs ? subs->children : NULL; r >= 0 && m; m = m->next) {
                json_t *o;

                if (!named(m, "member"))
                        continue;
                o = json_object();
                if (!o || json_array_append_new(list, o) < 0) {
                        r = -ENOMEM;
                        break;
                }
                for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(fields); i++) {
                        xmlNodePtr f = child(m, fields[i]);

                        if (f)
                                r = set_text(o, fields[i], f);
                }
        }
        next = find(root, "NextToken");
        if (r >= 0 && next && ret_next_token) {
                r = text_of(next, &token);
                if (r >= 0 && !*token) {
                        free(token);
                        token = NULL;
                }
        }
        xmlFreeDoc(doc);
        if (r < 0) {
                json_decref(list);
                free(token);
                return r;
        }
        *ret = list;
        if (ret_next_token)
                *ret_next_token = token;
        return 0;
}
