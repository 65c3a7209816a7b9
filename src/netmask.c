/*
 * netmask.c — address allow-lists (see netmask.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>

#include "common.h"
#include "netmask.h"

/* The address text as family + bytes, an IPv4-mapped IPv6 address as IPv4. */
static int address_parse(const char *text, int *ret_family, uint8_t addr[16])
{
        static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

        if (inet_pton(AF_INET, text, addr) == 1) {
                *ret_family = AF_INET;
                return 0;
        }
        if (inet_pton(AF_INET6, text, addr) != 1)
                return -EINVAL;
        if (memcmp(addr, v4_mapped, sizeof(v4_mapped)) == 0) {
                memmove(addr, addr + 12, 4);
                *ret_family = AF_INET;
                return 0;
        }
        *ret_family = AF_INET6;
        return 0;
}

int netmask_parse(const char *text, struct netmask *ret)
{
        struct netmask m = {0};
        char host[INET6_ADDRSTRLEN];
        const char *slash;
        size_t len;
        unsigned max;

        if (!text)
                return -EINVAL;
        slash = strchr(text, '/');
        len = slash ? (size_t)(slash - text) : strlen(text);
        if (len == 0 || len >= sizeof(host))
                return -EINVAL;
        memcpy(host, text, len);
        host[len] = '\0';
        if (address_parse(host, &m.family, m.addr) < 0)
                return -EINVAL;
        max = m.family == AF_INET ? 32 : 128;
        m.prefix = max;
        if (slash) {
                char *end;
                unsigned long p;

                if (slash[1] < '0' || slash[1] > '9')
                        return -EINVAL;
                errno = 0;
                p = strtoul(slash + 1, &end, 10);
                if (errno != 0 || *end != '\0' || p > max)
                        return -EINVAL;
                m.prefix = (unsigned)p;
        }
        *ret = m;
        return 0;
}

bool netmask_match(const struct netmask *m, const char *address)
{
        uint8_t addr[16];
        unsigned full, rest;
        int family;

        if (!m || !address || address_parse(address, &family, addr) < 0 || family != m->family)
                return false;
        full = m->prefix / 8;
        rest = m->prefix % 8;
        if (memcmp(addr, m->addr, full) != 0)
                return false;
        if (rest == 0)
                return true;
        return ((addr[full] ^ m->addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool netmask_match_any(char *const *masks, size_t n, const char *address)
{
        for (size_t i = 0; i < n; i++) {
                struct netmask m;

                if (netmask_parse(masks[i], &m) >= 0 && netmask_match(&m, address))
                        return true;
        }
        return false;
}
