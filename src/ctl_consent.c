/*
 * ctl_consent.c — manual consent changes' history fields; plain JSON items.
 */
#include "common.h"
#include "consent.h"
#include "ctl_consent.h"
#include "ddb.h"

int ctl_consent_annotate(struct consent_update *u, const char *operator_name, const char *note)
{
        json_t *list, *entry;
        int r;

        if (!u || !u->values)
                return -EINVAL;
        list = ddb_av_get_l(json_object_get(u->values, ":entry"));
        entry = ddb_av_get_m(json_array_get(list, 0));
        if (!entry)
                return -EINVAL;
        if (note && strlen(note) > CTL_CONSENT_NOTE_MAX)
                return -EINVAL;
        r = ddb_av_m_set(json_array_get(list, 0), "operator",
                         ddb_av_s(isempty(operator_name) ? "unknown" : operator_name));
        if (r >= 0 && !isempty(note))
                r = ddb_av_m_set(json_array_get(list, 0), "note", ddb_av_s(note));
        return r;
}

json_t *ctl_consent_plain(const json_t *av)
{
        const char *s;
        json_t *v, *out, *e;
        bool b;
        size_t i;

        if ((s = ddb_av_get_s(av)))
                return json_string(s);
        if ((s = ddb_av_get_n(av))) {
                long long n;

                if (ddb_av_get_n_int(av, &n) >= 0)
                        return json_integer(n);
                return json_string(s);
        }
        if (ddb_av_get_bool(av, &b) >= 0)
                return json_boolean(b);
        if (ddb_av_is_null(av))
                return json_null();
        if ((v = ddb_av_get_l(av))) {
                out = json_array();
                json_array_foreach(
                        v, i, e) if (!out || json_array_append_new(out, ctl_consent_plain(e)) < 0)
                {
                        json_decref(out);
                        return NULL;
                }
                return out;
        }
        if ((v = ddb_av_get_m(av)))
                return ctl_consent_plain_item(v);
        return json_deep_copy(av);
}

json_t *ctl_consent_plain_item(json_t *item)
{
        json_t *out = json_object(), *e;
        const char *k;

        json_object_foreach(item, k,
                            e) if (!out || json_object_set_new(out, k, ctl_consent_plain(e)) < 0)
        {
                json_decref(out);
                return NULL;
        }
        return out;
}
