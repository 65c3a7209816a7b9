/*
 * base64.c — the shape of strict base64 checked, the decoding left to
 * OpenSSL. See base64.h.
 */
#include <limits.h>

#include <openssl/evp.h>

#include "base64.h"
#include "common.h"

static int b64_value(char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
        _cleanup_free_ uint8_t *out = NULL;
        size_t pad = 0;
        int n, last;

        if ((!s && len > 0) || len % 4 != 0 || len > INT_MAX / 2)
                return -EILSEQ;
        out = malloc(len / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        if (len == 0) {
                out[0] = 0;
                *ret_len = 0;
                *ret = TAKE_PTR(out);
                return 0;
        }
        if (s[len - 1] == '=')
                pad++;
        if (s[len - 2] == '=')
                pad++;
        for (size_t i = 0; i < len - pad; i++)
                if (b64_value(s[i]) < 0)
                        return -EILSEQ;
        /* The bits past the last whole byte must be zero. */
        last = b64_value(s[len - pad - 1]);
        if ((pad == 2 && (last & 0x0f)) || (pad == 1 && (last & 0x03)))
                return -EILSEQ;

        n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
        if (n < 0 || (size_t)n != len / 4 * 3)
                return -EILSEQ;
        out[n - pad] = 0;
        *ret_len = (size_t)n - pad;
        *ret = TAKE_PTR(out);
        return 0;
}
