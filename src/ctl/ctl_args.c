/*
 * ctl_args.c — twowayctl's option parser and argument checks.
 */
#include <stdio.h>

#include "common.h"
#include "ctl_args.h"

static const struct ctl_opt *find_long(const struct ctl_opt *opts, size_t n, const char *name,
                                       size_t len, size_t *ret_index)
{
        for (size_t i = 0; i < n; i++)
                if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) {
                        *ret_index = i;
                        return &opts[i];
                }
        return NULL;
}

static const struct ctl_opt *find_short(const struct ctl_opt *opts, size_t n, char c,
                                        size_t *ret_index)
{
        for (size_t i = 0; i < n; i++)
                if (opts[i].short_name && opts[i].short_name == c) {
                        *ret_index = i;
                        return &opts[i];
                }
        return NULL;
}

/* err = before + arg + after. */
static int fail(char *err, size_t size, const char *before, const char *arg, const char *after)
{
        if (err && size)
                (void)snprintf(err, size, "%s%s%s", before, arg, after);
        return -EINVAL;
}

static int set_value(struct ctl_args *a, size_t i, const struct ctl_opt *o, const char *v,
                     char *err, size_t size)
{
        if (a->values[i])
                return fail(err, size, "option --", o->name, " given twice");
        a->values[i] = v;
        return 0;
}

int ctl_args_parse(int argc, char *const *argv, const struct ctl_opt *opts, size_t n_opts,
                   size_t max_pos, bool stop_at_positional, struct ctl_args *ret, char *err,
                   size_t err_size)
{
        struct ctl_args a = {0};
        bool only_pos = false;
        int i;

        if (argc < 0 || (argc > 0 && !argv) || n_opts > CTL_ARGS_MAX_OPTS || !ret ||
            max_pos > CTL_ARGS_MAX_POS)
                return -EINVAL;

        for (size_t k = 0; k < n_opts; k++)
                a.names[k] = opts[k].name;
        a.n_opts = n_opts;

        for (i = 0; i < argc; i++) {
                const char *s = argv[i];
                const struct ctl_opt *o;
                size_t idx;
                int r;

                if (only_pos || s[0] != '-' || s[1] == '\0') {
                        if (stop_at_positional)
                                break;
                        if (a.n_pos >= max_pos)
                                return fail(err, err_size, "unexpected argument '", s, "'");
                        a.pos[a.n_pos++] = s;
                        continue;
                }
                if (streq(s, "--")) {
                        only_pos = true;
                        if (stop_at_positional) {
                                i++;
                                break;
                        }
                        continue;
                }
                if (s[1] == '-') {
                        const char *name = s + 2, *eq = strchr(name, '=');
                        size_t len = eq ? (size_t)(eq - name) : strlen(name);

                        o = find_long(opts, n_opts, name, len, &idx);
                        if (!o)
                                return fail(err, err_size, "unknown option '", s, "'");
                        if (!o->has_value) {
                                if (eq)
                                        return fail(err, err_size, "option --", o->name,
                                                    " takes no value");
                                r = set_value(&a, idx, o, "", err, err_size);
                        } else if (eq)
                                r = set_value(&a, idx, o, eq + 1, err, err_size);
                        else if (i + 1 < argc)
                                r = set_value(&a, idx, o, argv[++i], err, err_size);
                        else
                                return fail(err, err_size, "option --", o->name, " needs a value");
                } else {
                        o = find_short(opts, n_opts, s[1], &idx);
                        if (!o)
                                return fail(err, err_size, "unknown option '", s, "'");
                        if (!o->has_value) {
                                if (s[2])
                                        return fail(err, err_size, "unknown option '", s, "'");
                                r = set_value(&a, idx, o, "", err, err_size);
                        } else if (s[2])
                                r = set_value(&a, idx, o, s + 2, err, err_size);
                        else if (i + 1 < argc)
                                r = set_value(&a, idx, o, argv[++i], err, err_size);
                        else
                                return fail(err, err_size, "option --", o->name, " needs a value");
                }
                if (r < 0)
                        return r;
        }
        a.next = i;
        *ret = a;
        return 0;
}

const char *ctl_args_get(const struct ctl_args *a, const char *name)
{
        if (!a || !name)
                return NULL;
        for (size_t i = 0; i < a->n_opts; i++)
                if (streq(a->names[i], name))
                        return a->values[i];
        return NULL;
}

bool ctl_args_has(const struct ctl_args *a, const char *name)
{
        return ctl_args_get(a, name) != NULL;
}

int ctl_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
        uint64_t v = 0;

        if (isempty(s))
                return -EINVAL;
        for (const char *p = s; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
                        return -EINVAL;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

const char *ctl_url_scheme(const char *url)
{
        const char *host;

        if (!url)
                return NULL;
        if (strncmp(url, "https://", 8) == 0)
                host = url + 8;
        else if (strncmp(url, "http://", 7) == 0)
                host = url + 7;
        else
                return NULL;
        if (!*host || *host == '/' || *host == ':' || *host == '?' || *host == '#')
                return NULL;
        for (const char *p = url; *p; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f)
                        return NULL;
        return host == url + 8 ? "https" : "http";
}
