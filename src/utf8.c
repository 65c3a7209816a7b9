/*
 * utf8.c — strict UTF-8 decoding (RFC 3629, section 4's well-formed table).
 */
#include "utf8.h"

bool utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *ret)
{
        unsigned char c = s[*i];
        size_t n;
        uint32_t cp;

        if (c < 0x80) {
                *ret = c;
                (*i)++;
                return true;
        }
        /* The lead byte says how many continuation bytes follow; 0xc0, 0xc1
         * and 0xf5.. can only start overlong or out-of-range forms. */
        if (c >= 0xc2 && c <= 0xdf) {
                n = 1;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 2;
                cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 3;
                cp = c & 0x07;
        } else
                return false;
        if (len - *i <= n)
                return false;
        for (size_t k = 1; k <= n; k++) {
                if ((s[*i + k] & 0xc0) != 0x80)
                        return false;
                cp = cp << 6 | (s[*i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return false;
        *i += n + 1;
        *ret = cp;
        return true;
}

bool utf8_valid(const char *str, size_t len, bool allow_nul)
{
        const unsigned char *s = (const unsigned char *)str;
        size_t i = 0;
        uint32_t cp;

        while (i < len) {
                if (!utf8_next(s, len, &i, &cp) || (cp == 0 && !allow_nul))
                        return false;
        }
        return true;
}

size_t utf8_length(const char *s, size_t len)
{
        size_t n = 0;

        for (size_t i = 0; i < len; i++)
                n += ((unsigned char)s[i] & 0xc0) != 0x80;
        return n;
}
