/*
 * json_strict_test.c — a JSON object from outside, read strictly: what is
 * refused, with which reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common.h"
#include "json_strict.h"

static void test_object(void **state)
{
        static const char doc[] = "{\"a\":\"\xc3\xa9\",\"b\":[1,{\"c\":null}]}";
        const char *reason = NULL;
        json_t *o = NULL;

        assert_int_equal(json_strict_object(doc, strlen(doc), &o, &reason), 0);
        assert_true(json_is_object(o));
        assert_string_equal(json_string_value(json_object_get(o, "a")), "\xc3\xa9");
        assert_int_equal(json_array_size(json_object_get(o, "b")), 2);
        assert_null(reason);
        json_decref(o);

        /* Only len bytes are read: what follows is not part of it. */
        assert_int_equal(json_strict_object("{}garbage", 2, &o, NULL), 0);
        assert_int_equal(json_object_size(o), 0);
        json_decref(o);
}

static void test_refused(void **state)
{
        static const struct {
                const char *text;
                size_t len; /* 0: strlen */
                const char *reason;
        } cases[] = {
                {"", 0, "invalid JSON"},
                {"{", 0, "invalid JSON"},
                {"EXAMPLE", 0, "invalid JSON"},
                {"{\"a\":1,}", 0, "invalid JSON"},
                {"{} {}", 0, "invalid JSON"},
                {"{\"a\":1} x", 0, "invalid JSON"},
                {"\"a\"", 0, "invalid JSON"},
                {"null", 0, "invalid JSON"},
                {"{\"a\":\"\\ud800\"}", 0, "invalid JSON"}, /* lone surrogate */
                {"{\"a\":1}\0", 8, "invalid JSON"},         /* a NUL byte after it */
                {"[]", 0, "not a JSON object"},
                {"[{\"a\":1}]", 0, "not a JSON object"},
                {"{\"a\":1,\"a\":2}", 0, "duplicate key"},
                {"{\"b\":{\"a\":1,\"a\":1}}", 0, "duplicate key"},
                {"{\"a\":\"x\\u0000y\"}", 0, "NUL character in JSON"},
                {"{\"a\\u0000\":1}", 0, "NUL character in JSON"},
                {"{\"a\":\"\xff\"}", 0, "invalid UTF-8"},
                {"{\"a\":\"\xc3\x28\"}", 0, "invalid UTF-8"},
                {"{\"a\":\"\xed\xa0\x80\"}", 0, "invalid UTF-8"}, /* encoded surrogate */
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
                const char *reason = NULL;
                json_t *o = NULL;
                int r = json_strict_object(cases[i].text, len, &o, &reason);

                if (r != -EBADMSG || !streq_ptr(reason, cases[i].reason))
                        fail_msg("case %zu: got %d \"%s\", expected \"%s\"", i, r,
                                 reason ? reason : "-", cases[i].reason);
                assert_null(o);
        }
        /* The reason is optional. */
        {
                json_t *o = NULL;

                assert_int_equal(json_strict_object("[]", 2, &o, NULL), -EBADMSG);
                assert_null(o);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_object),
                cmocka_unit_test(test_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
