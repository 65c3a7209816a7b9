/*
 * text.c — control characters and refusal reasons. See text.h.
 */
#include "text.h"

bool text_has_control(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c == 0x7f)
                        return true;
        }
        return false;
}

int text_fail(const char **reterr, const char *reason, int r)
{
        if (reterr)
                *reterr = reason;
        return r;
}
