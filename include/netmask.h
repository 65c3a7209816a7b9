/*
 * netmask.h — address allow-lists: "192.0.2.7", "10.0.0.0/8", "::1",
 * "2001:db8::/32".
 *
 * Pure: no allocation, no I/O. An IPv4-mapped IPv6 address (::ffff:a.b.c.d,
 * what a dual-stack listener reports for an IPv4 client) matches as the IPv4
 * address it carries.
 */
#ifndef TWOWAYD_NETMASK_H
#define TWOWAYD_NETMASK_H

#include <stdbool.h>
#include <stdint.h>

struct netmask {
        int family;       /* AF_INET or AF_INET6 */
        uint8_t addr[16]; /* network byte order; 4 bytes used for AF_INET */
        unsigned prefix;  /* 0-32 or 0-128 */
};

/* "address" or "address/prefix"; -EINVAL otherwise. Host bits beyond the
 * prefix are ignored. */
int netmask_parse(const char *text, struct netmask *ret);
/* Whether the numeric address text (as inet_ntop writes it) is inside m. */
bool netmask_match(const struct netmask *m, const char *address);
/* Whether address is inside any of the n textual masks (unparsable ones never
 * match). */
bool netmask_match_any(char *const *masks, size_t n, const char *address);

#endif
