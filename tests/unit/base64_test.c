/* Unit tests for base64.c: strict RFC 4648 base64 and what it refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "base64.h"
#include "common.h"

static void test_decodes(void **state)
{
        static const struct {
                const char *in;
                const char *out;
                size_t out_len;
        } good[] = {
                {"", "", 0},
                {"QQ==", "A", 1},
                {"QUI=", "AB", 2},
                {"QUJD", "ABC", 3},
                {"QUJDRA==", "ABCD", 4},
                {"SGVsbG8=", "Hello", 5},
                {"AAAA", "\0\0\0", 3},
                {"AP8A/w==", "\x00\xff\x00\xff", 4},
                {"+/+/", "\xfb\xff\xbf", 3},
        };

        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                _cleanup_free_ uint8_t *out = NULL;
                size_t n = 99;
                assert_int_equal(base64_decode(good[i].in, strlen(good[i].in), &out, &n), 0);
                assert_int_equal(n, good[i].out_len);
                assert_memory_equal(out, good[i].out, n);
                assert_int_equal(out[n], 0);
        }
}

static void test_refuses(void **state)
{
        static const char *const bad[] = {
                "Q",          "QQ",   "QQ=",     "QQ=A",
                "Q===",       "====", "QR==", /* bits past the end */
                "QUK=",       "SGk",  " SGk",    "QUJD\n",
                " QUJ",       "QUJ*", "QU\x80J", "SG-k", /* base64url alphabet */
                "SGVsbG8=\n",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                uint8_t *out = NULL;
                size_t n = 99;
                if (base64_decode(bad[i], strlen(bad[i]), &out, &n) != -EILSEQ)
                        fail_msg("\"%s\" accepted", bad[i]);
                assert_null(out);
                assert_int_equal(n, 99);
        }
        assert_int_equal(base64_decode(NULL, 4, NULL, NULL), -EILSEQ);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_decodes),
                cmocka_unit_test(test_refuses),
        };

        return cmocka_run_group_tests_name("base64", tests, NULL, NULL);
}
