/*
 * config_schema.h — every key of twowayd.conf: its section, type, default,
 * bounds, flags, where it lands in struct config, and the check its value
 * must pass. config.c reads the INI file against this table; the man page
 * twowayd.conf(5) is checked against it (packaging/check-manpage-keys.sh).
 *
 * The table is static and never freed.
 */
#ifndef TWOWAYD_CONFIG_SCHEMA_H
#define TWOWAYD_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aws_rules.h"

enum config_type {
        CONFIG_STRING,   /* text; indented continuation lines join with one space */
        CONFIG_BOOL,     /* yes/no, true/false, on/off, 1/0 */
        CONFIG_UINT,     /* unsigned, min..max */
        CONFIG_SIZE,     /* size_t bytes, optional k/m/g suffix (1024-based), min..max */
        CONFIG_HOSTPORT, /* host:port, [ipv6]:port; offset: char *host, offset2: uint16_t */
        CONFIG_LIST,     /* space and/or comma separated; offset: char **, offset2: size_t */
        CONFIG_PATH,     /* absolute path */
        CONFIG_REGEX,    /* POSIX extended regular expression */
        CONFIG_LEVEL,    /* log level name -> syslog priority (int) */
        CONFIG_MSGTYPE,  /* TRANSACTIONAL | PROMOTIONAL (stored upper case) */
};

enum {
        CONFIG_REQUIRED = 1 << 0,     /* no default; the file must set it */
        CONFIG_RESTART_ONLY = 1 << 1, /* a reload keeps the old value */
        CONFIG_READABLE = 1 << 2,     /* path: must name a readable regular file */
};

/* Extra check of a string value, or of each list item: 0 or -EINVAL with a reason. */
typedef int (*config_check_fn)(const char *value, char *why, size_t size);

/* How a value is checked beyond its type: a function, for a rule with logic
 * of its own; the AWS API's rule, for a setting that goes into a request
 * (aws_rules.h); or a POSIX extended regular expression the whole value must
 * match, with the reason given when it does not. */
struct config_check {
        config_check_fn fn;
        bool api_rule;
        enum aws_rule rule;
        const char *ere;
        const char *why;
};

struct config_item {
        const char *section;
        const char *key;
        enum config_type type;
        const char *def; /* parsed exactly like a value from the file; NULL: unset */
        uint64_t min, max;
        unsigned flags;
        size_t offset;
        size_t offset2;
        const struct config_check *check; /* NULL: the type's own rules only */
};

extern const struct config_item config_items[];
extern const size_t config_n_items;
extern const char *const config_sections[];
extern const size_t config_n_sections;

/* The schema index of a section or of a section's key, or -1. */
int config_section_index(const char *section);
int config_item_index(const char *section, const char *key);

/* 0 when v passes the item's check; -EINVAL with the reason in why. */
int config_item_check(const struct config_item *it, const char *v, char *why, size_t size);

/* Does s match the POSIX extended regular expression pattern? */
bool config_match_ere(const char *pattern, const char *s);

#endif
