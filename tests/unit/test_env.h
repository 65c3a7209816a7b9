/*
 * test_env.h — an environment as a table, for the aws_getenv_fn the AWS
 * modules take: {"NAME", "value", "NAME", "value", ..., NULL}.
 */
#ifndef TWOWAYD_TEST_ENV_H
#define TWOWAYD_TEST_ENV_H

#include <stddef.h>

#include "common.h"

struct env {
        const char *kv[24]; /* name, value, name, value, ..., NULL */
};

static const char *env_get(const char *name, void *userdata)
{
        const struct env *e = userdata;

        for (size_t i = 0; e && e->kv[i]; i += 2)
                if (streq(e->kv[i], name))
                        return e->kv[i + 1];
        return NULL;
}

#endif
