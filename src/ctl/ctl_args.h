/*
 * ctl_args.h — command-line parsing for twowayctl (pure).
 *
 * A command declares its options in a table; ctl_args_parse() walks argv and
 * fills one value slot per option plus the positional arguments, and the
 * command then reads each option by its long name (ctl_args_get(),
 * ctl_args_has()), never by its place in the table. Accepted
 * forms: --name VALUE, --name=VALUE, -x VALUE, -xVALUE, --flag, -f; "--" ends
 * the options. Options and positional arguments may be interleaved unless
 * stop_at_positional is set (then parsing stops at the first positional, so
 * global options can be read before a command name). An option given twice,
 * an unknown option, a missing value, a value given to a flag or too many
 * positional arguments is -EINVAL with a one-line message in err.
 *
 * Ownership: values and positionals point into argv (or are the static ""
 * for a flag that was given), names into the option table (whose names are
 * string literals); nothing is allocated, and a struct ctl_args may be copied
 * freely.
 */
#ifndef TWOWAYD_CTL_ARGS_H
#define TWOWAYD_CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_ARGS_MAX_OPTS 24
#define CTL_ARGS_MAX_POS  8

struct ctl_opt {
        const char *name; /* long name without "--", e.g. "phone-number" */
        char short_name;  /* 'c', or 0 */
        bool has_value;
};

struct ctl_args {
        const char *names[CTL_ARGS_MAX_OPTS];  /* per option: its long name */
        const char *values[CTL_ARGS_MAX_OPTS]; /* per option: NULL unset, "" a flag given */
        size_t n_opts;
        const char *pos[CTL_ARGS_MAX_POS];
        size_t n_pos;
        int next; /* with stop_at_positional: the index of the first unparsed argument */
};

int ctl_args_parse(int argc, char *const *argv, const struct ctl_opt *opts, size_t n_opts,
                   size_t max_pos, bool stop_at_positional, struct ctl_args *ret, char *err,
                   size_t err_size);

/* The value of the option with this long name: NULL when it was not given
 * (or is not declared), "" for a flag that was. */
const char *ctl_args_get(const struct ctl_args *a, const char *name);
/* Whether the option (a flag, or one with a value) was given. */
bool ctl_args_has(const struct ctl_args *a, const char *name);

/* A decimal count within [min, max]: -EINVAL otherwise. */
int ctl_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret);

/* "http" or "https" for an http(s) URL with a host, NULL otherwise. */
const char *ctl_url_scheme(const char *url);

#endif
