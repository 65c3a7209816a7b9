/*
 * ctl_consent.c — consent items as plain JSON, for twowayctl consent get --json.
 */
#include "common.h"
#include "ctl_consent.h"
#include "ddb.h"

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
                json_array_foreach(v, i, e)
                        if (!out || json_array_append_new(out, ctl_consent_plain(e)) < 0) {
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

        json_object_foreach(item, k, e)
                if (!out || json_object_set_new(out, k, ctl_consent_plain(e)) < 0) {
                        json_decref(out);
                        return NULL;
                }
        return out;
}
