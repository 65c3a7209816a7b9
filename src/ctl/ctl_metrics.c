/*
 * ctl_metrics.c — the send queues in the daemon's /metrics text.
 */
#include <stdio.h>

#include "common.h"
#include "ctl_metrics.h"

#define LABEL_MAX 256

/* One label's value in a label set ("a=\"x\",b=\"y\""), unescaped
 * (\\, \" and \n, as the exposition format escapes them). */
static bool label_value(const char *labels, const char *name, char *out, size_t size)
{
        size_t n = strlen(name);

        for (const char *p = labels; *p;) {
                bool match = strncmp(p, name, n) == 0 && p[n] == '=' && p[n + 1] == '"';
                const char *v = strchr(p, '"');
                size_t o = 0;

                if (!v)
                        return false;
                for (v++; *v && *v != '"'; v++) {
                        char c = *v;

                        if (c == '\\' && v[1]) {
                                v++;
                                c = *v == 'n' ? '\n' : *v;
                        }
                        if (match && o + 1 < size)
                                out[o++] = c;
                }
                if (match) {
                        out[o] = '\0';
                        return true;
                }
                if (!*v)
                        return false;
                p = v + 1;
                if (*p == ',')
                        p++;
        }
        return false;
}

static json_t *entry_for(json_t *list, const char *identity)
{
        json_t *e;
        size_t i;

        json_array_foreach(list, i, e)
                if (streq(json_string_value(json_object_get(e, "identity")), identity))
                        return e;
        e = json_pack("{s:s,s:s,s:s,s:s,s:n,s:n,s:n}", "identity", identity, "type", "", "country",
                      "", "source", "", "rate", "depth", "throttles");
        if (!e || json_array_append_new(list, e) < 0)
                return NULL;
        return e;
}

json_t *ctl_metrics_send_queues(const char *text)
{
        static const struct {
                const char *name, *field;
        } series[] = {
                {"twowayd_sms_identity_info", NULL},
                {"twowayd_sms_rate_parts_per_second", "rate"},
                {"twowayd_sms_queue_depth", "depth"},
                {"twowayd_sms_throttles_total", "throttles"},
        };
        json_t *list = json_array();

        for (const char *line = text; list && line && *line;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t)(end - line) : strlen(line);
                char buf[1024];

                if (len < sizeof(buf) && *line != '#') {
                        memcpy(buf, line, len);
                        buf[len] = '\0';
                        for (size_t i = 0; i < ARRAY_SIZE(series); i++) {
                                size_t n = strlen(series[i].name);
                                char identity[LABEL_MAX], *close, *value;
                                json_t *e;

                                if (strncmp(buf, series[i].name, n) != 0 || buf[n] != '{')
                                        continue;
                                close = strrchr(buf, '}');
                                if (!close || close[1] != ' ')
                                        break;
                                *close = '\0';
                                value = close + 2;
                                if (!label_value(buf + n + 1, "identity", identity,
                                                 sizeof(identity)))
                                        break;
                                e = entry_for(list, identity);
                                if (!e) {
                                        json_decref(list);
                                        return NULL;
                                }
                                if (series[i].field)
                                        json_object_set_new(e, series[i].field,
                                                            json_real(strtod(value, NULL)));
                                else
                                        for (const char *const *l =
                                                     (const char *const[]){"type", "country",
                                                                           "source", NULL};
                                             *l; l++) {
                                                char v[LABEL_MAX];

                                                if (label_value(buf + n + 1, *l, v, sizeof(v)))
                                                        json_object_set_new(e, *l, json_string(v));
                                        }
                                break;
                        }
                }
                line = end ? end + 1 : NULL;
        }
        return list;
}
