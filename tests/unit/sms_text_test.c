/*
 * sms_text_test.c — GSM-7/UCS-2 detection, segment counts at the exact
 * boundaries, typographic replacement and truncation to a segment budget.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "common.h"
#include "sms_text.h"

#define ZHE     "\xd0\xb6"         /* ж U+0436, UCS-2, 1 unit */
#define EURO    "\xe2\x82\xac"     /* € extension table */
#define GRIN    "\xf0\x9f\x98\x80" /* 😀 outside the BMP, 2 units */
#define ZWJ     "\xe2\x80\x8d"
#define FAMILY  "\xf0\x9f\x91\xa8" ZWJ "\xf0\x9f\x91\xa9" ZWJ "\xf0\x9f\x91\xa7" /* 8 units */
#define FLAG_FR "\xf0\x9f\x87\xab\xf0\x9f\x87\xb7"                               /* 4 units */

/* s repeated n times, as a new string. */
static char *rep(const char *s, size_t n)
{
        size_t len = strlen(s);
        char *out = malloc(len * n + 1);

        assert_non_null(out);
        for (size_t i = 0; i < n; i++)
                memcpy(out + i * len, s, len);
        out[len * n] = '\0';
        return out;
}

static char *cat(const char *a, const char *b)
{
        char *out = NULL;

        assert_true(asprintf(&out, "%s%s", a, b) >= 0);
        return out;
}

static const char *encoding_name(enum sms_encoding e)
{
        return e == SMS_ENCODING_GSM7 ? "GSM-7" : e == SMS_ENCODING_UCS2 ? "UCS-2" : "invalid";
}

static struct sms_text_info info_of(const char *s)
{
        struct sms_text_info info;

        assert_int_equal(sms_text_info(s, &info), 0);
        return info;
}

static void check_count(const char *s, enum sms_encoding enc, size_t chars, size_t units,
                        unsigned segments)
{
        struct sms_text_info i = info_of(s);

        if (i.encoding != enc || i.chars != chars || i.units != units || i.segments != segments)
                fail_msg("\"%.40s...\": got %s chars %zu units %zu segments %u, want %s %zu %zu %u",
                         s, encoding_name(i.encoding), i.chars, i.units, i.segments,
                         encoding_name(enc), chars, units, segments);
}

/* Independent strict UTF-8 check for outputs. */
static bool valid_utf8(const char *str)
{
        const unsigned char *s = (const unsigned char *)str;

        while (*s) {
                size_t n;
                uint32_t cp;

                if (*s < 0x80) {
                        s++;
                        continue;
                }
                if ((*s & 0xe0) == 0xc0) {
                        n = 1;
                        cp = *s & 0x1f;
                } else if ((*s & 0xf0) == 0xe0) {
                        n = 2;
                        cp = *s & 0x0f;
                } else if ((*s & 0xf8) == 0xf0) {
                        n = 3;
                        cp = *s & 0x07;
                } else
                        return false;
                for (size_t k = 1; k <= n; k++) {
                        if ((s[k] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (s[k] & 0x3f);
                }
                if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
                    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                s += n + 1;
        }
        return true;
}

static bool ends_with(const char *s, const char *suffix)
{
        size_t a = strlen(s), b = strlen(suffix);

        return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* ---- counting ---------------------------------------------------------------- */

static void test_gsm7_boundaries(void **state)
{
        static const struct {
                size_t n;
                unsigned segments;
        } cases[] = {
                {1, 1},   {159, 1}, {160, 1}, {161, 2},   {305, 2},   {306, 2},
                {307, 3}, {459, 3}, {460, 4}, {1530, 10}, {1531, 11},
        };

        check_count("", SMS_ENCODING_GSM7, 0, 0, 0);
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *s = rep("a", cases[i].n);

                check_count(s, SMS_ENCODING_GSM7, cases[i].n, cases[i].n, cases[i].segments);
        }
}

static void test_ucs2_boundaries(void **state)
{
        static const struct {
                size_t n;
                unsigned segments;
        } cases[] = {
                {1, 1}, {69, 1}, {70, 1}, {71, 2}, {133, 2}, {134, 2}, {135, 3}, {201, 3}, {202, 4},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *s = rep(ZHE, cases[i].n);

                check_count(s, SMS_ENCODING_UCS2, cases[i].n, cases[i].n, cases[i].segments);
        }
        /* One non-GSM character turns a GSM text into UCS-2. */
        {
                _cleanup_free_ char *a = rep("a", 69);
                _cleanup_free_ char *s = cat(a, ZHE);
                _cleanup_free_ char *a2 = rep("a", 70);
                _cleanup_free_ char *s2 = cat(a2, ZHE);

                check_count(s, SMS_ENCODING_UCS2, 70, 70, 1);
                check_count(s2, SMS_ENCODING_UCS2, 71, 71, 2);
        }
}

static void test_extension_characters(void **state)
{
        static const char ext[] = "^{}\\[~]|";

        for (size_t i = 0; ext[i]; i++) {
                char one[2] = {ext[i], '\0'};

                check_count(one, SMS_ENCODING_GSM7, 1, 2, 1);
                assert_int_equal(sms_text_gsm7_cost((unsigned char)ext[i]), 2);
        }
        check_count(EURO, SMS_ENCODING_GSM7, 1, 2, 1);
        check_count("\f", SMS_ENCODING_GSM7, 1, 2, 1);
        {
                _cleanup_free_ char *e80 = rep(EURO, 80);
                _cleanup_free_ char *e81 = rep(EURO, 81);
                _cleanup_free_ char *a159 = rep("a", 159);
                _cleanup_free_ char *a159c = cat(a159, "^");
                _cleanup_free_ char *a158 = rep("a", 158);
                _cleanup_free_ char *a158c = cat(a158, "{");

                check_count(e80, SMS_ENCODING_GSM7, 80, 160, 1);
                check_count(e81, SMS_ENCODING_GSM7, 81, 162, 2);
                check_count(a159c, SMS_ENCODING_GSM7, 160, 161, 2);
                check_count(a158c, SMS_ENCODING_GSM7, 159, 160, 1);
        }
}

/* An escape pair or surrogate pair that does not fit opens the next part. */
static void test_pairs_not_split(void **state)
{
        _cleanup_free_ char *a152 = rep("a", 152);
        _cleanup_free_ char *g1 = cat(a152, EURO);
        _cleanup_free_ char *g = cat(g1, a152);
        _cleanup_free_ char *a151 = rep("a", 151);
        _cleanup_free_ char *h1 = cat(a151, EURO);
        _cleanup_free_ char *h = cat(h1, a152);
        _cleanup_free_ char *z66 = rep(ZHE, 66);
        _cleanup_free_ char *u1 = cat(z66, GRIN);
        _cleanup_free_ char *u = cat(u1, z66);
        _cleanup_free_ char *z65 = rep(ZHE, 65);
        _cleanup_free_ char *v1 = cat(z65, GRIN);
        _cleanup_free_ char *v = cat(v1, z66);

        check_count(g, SMS_ENCODING_GSM7, 305, 306, 3); /* not ceil(306/153) = 2 */
        check_count(h, SMS_ENCODING_GSM7, 304, 305, 2);
        check_count(u, SMS_ENCODING_UCS2, 133, 134, 3); /* not ceil(134/67) = 2 */
        check_count(v, SMS_ENCODING_UCS2, 132, 133, 2);
}

static void test_emoji_only(void **state)
{
        _cleanup_free_ char *e35 = rep(GRIN, 35);
        _cleanup_free_ char *e36 = rep(GRIN, 36);

        check_count(GRIN, SMS_ENCODING_UCS2, 1, 2, 1);
        check_count(e35, SMS_ENCODING_UCS2, 35, 70, 1);
        check_count(e36, SMS_ENCODING_UCS2, 36, 72, 2);
        check_count(FAMILY, SMS_ENCODING_UCS2, 5, 8, 1);
        check_count(FLAG_FR, SMS_ENCODING_UCS2, 2, 4, 1);
}

static void test_gsm_alphabet(void **state)
{
        /* The whole basic table but ESC, in table order. */
        static const char basic[] =
                "@\xc2\xa3$"
                "\xc2\xa5\xc3\xa8\xc3\xa9\xc3\xb9\xc3\xac\xc3\xb2\xc3\x87\n\xc3\x98\xc3\xb8\r"
                "\xc3\x85\xc3\xa5\xce\x94_"
                "\xce\xa6\xce\x93\xce\x9b\xce\xa9\xce\xa0\xce\xa8\xce\xa3\xce\x98"
                "\xce\x9e\xc3\x86\xc3\xa6\xc3\x9f\xc3\x89 !\"#\xc2\xa4%&'()*+,-./0123456789:;<=>?"
                "\xc2\xa1"
                "ABCDEFGHIJKLMNOPQRSTUVWXYZ\xc3\x84\xc3\x96\xc3\x91\xc3\x9c\xc2\xa7\xc2\xbf"
                "abcdefghijklmnopqrstuvwxyz\xc3\xa4\xc3\xb6\xc3\xb1\xc3\xbc\xc3\xa0";
        static const char *const not_gsm[] = {
                "`",
                "\t",
                "\x01",
                "\x7f",
                "\xc3\xa7" /* ç */,
                "\xc3\xa1" /* á */,
                "\xc3\x8a" /* Ê */,
                "\xe2\x80\x99" /* ’ */,
                ZHE,
                GRIN,
                "\xc2\xa0",
        };

        check_count(basic, SMS_ENCODING_GSM7, 127, 127, 1);
        for (size_t i = 0; i < ARRAY_SIZE(not_gsm); i++) {
                _cleanup_free_ char *s = cat("abc", not_gsm[i]);

                assert_int_equal(info_of(s).encoding, SMS_ENCODING_UCS2);
        }
        assert_int_equal(sms_text_gsm7_cost('a'), 1);
        assert_int_equal(sms_text_gsm7_cost(0x20ac), 2);
        assert_int_equal(sms_text_gsm7_cost(0x394), 1);
        assert_int_equal(sms_text_gsm7_cost(0x1b), 0);
        assert_int_equal(sms_text_gsm7_cost(0x1f600), 0);
}

static void test_invalid_utf8(void **state)
{
        static const char *const bad[] = {
                "\xff", "a\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "abc\xe2\x82", "\x80",
        };
        struct sms_text_info info = {.segments = 99};
        char *out = NULL;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                assert_int_equal(sms_text_info(bad[i], &info), -EILSEQ);
                /* Refused before any replacement or cut, whatever the budget. */
                assert_int_equal(sms_text_shape(bad[i], 1, &out, &info), -EILSEQ);
                assert_int_equal(sms_text_shape(bad[i], SMS_MAX_SEGMENTS, &out, &info), -EILSEQ);
        }
        assert_null(out);
        assert_int_equal(info.segments, 99);
        assert_int_equal(sms_text_info(NULL, &info), -EINVAL);
}

/* ---- replacement ------------------------------------------------------------- */

/* Every reply is shaped, and shaping replaces typographic characters first: a
 * text short enough to need no cut comes back exactly replaced. */
static void test_normalize(void **state)
{
        static const struct {
                const char *in;
                const char *out;
        } cases[] = {
                {"It\xe2\x80\x99s \xe2\x80\x9c"
                 "fine\xe2\x80\x9d \xe2\x80\x93 really\xe2\x80\xa6",
                 "It's \"fine\" - really..."},
                {"\xe2\x80\x98q\xe2\x80\x99 \xe2\x80\x9aq\xe2\x80\x9b", "'q' 'q'"},
                {"\xe2\x80\x9eq\xe2\x80\x9f \xc2\xabq\xc2\xbb", "\"q\" \"q\""},
                {"a\xe2\x80\x94"
                 "b\xe2\x80\x90"
                 "c\xe2\x80\x91"
                 "d\xe2\x80\x92"
                 "e\xe2\x80\x95"
                 "f\xe2\x88\x92"
                 "g",
                 "a-b-c-d-e-f-g"},
                {"a\xc2\xa0"
                 "b\xe2\x80\xaf"
                 "c\xe2\x80\x83"
                 "d\xe3\x80\x80"
                 "e\t"
                 "f",
                 "a b c d e f"},
                {"soft\xc2\xadhyphen zero\xe2\x80\x8bwidth \xef\xbb\xbf"
                 "bom",
                 "softhyphen zerowidth bom"},
                {"line\xe2\x80\xa8sep", "line\nsep"},
                {"5\xe2\x80\xb2 6\xe2\x80\xb3", "5' 6\""},
                {"`tick\xc2\xb4", "'tick'"},
                {"\xe2\x80\xa2 item", "- item"},
                {"keep " ZHE " " GRIN " " EURO " \xc3\xa7",
                 "keep " ZHE " " GRIN " " EURO " \xc3\xa7"},
                {"", ""},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *out = NULL;
                struct sms_text_info info;

                assert_int_equal(sms_text_shape(cases[i].in, 1, &out, &info), 0);
                assert_string_equal(out, cases[i].out);
                if (i == 0) {
                        /* Typography alone no longer makes it UCS-2. */
                        assert_int_equal(info_of(cases[i].in).encoding, SMS_ENCODING_UCS2);
                        assert_int_equal(info.encoding, SMS_ENCODING_GSM7);
                }
        }
}

/* One curly quote in a 150-character text: normalised, it stays one GSM segment. */
static void test_curly_quote_does_not_force_ucs2(void **state)
{
        _cleanup_free_ char *body = rep("x", 140);
        _cleanup_free_ char *text = cat("We\xe2\x80\x99re open ", body);
        _cleanup_free_ char *out = NULL;
        struct sms_text_info info;

        assert_int_equal(info_of(text).encoding, SMS_ENCODING_UCS2);
        assert_int_equal(info_of(text).segments, 3);
        assert_int_equal(sms_text_shape(text, 1, &out, &info), 0);
        assert_int_equal(info.encoding, SMS_ENCODING_GSM7);
        assert_int_equal(info.segments, 1);
        assert_int_equal(info.chars, 151);
        assert_int_equal(strncmp(out, "We're open xxx", 14), 0);
        assert_false(ends_with(out, "..."));
}

/* ---- shaping ----------------------------------------------------------------- */

static char *shape(const char *in, unsigned max, struct sms_text_info *info)
{
        char *out = NULL;

        assert_int_equal(sms_text_shape(in, max, &out, info), 0);
        assert_non_null(out);
        assert_true(valid_utf8(out));
        assert_true(info->segments <= max);
        assert_null(strstr(out, "\xe2\x80\xa6")); /* never "…" */
        /* ret_info describes the result. */
        {
                struct sms_text_info again = info_of(out);

                assert_int_equal(again.encoding, info->encoding);
                assert_int_equal(again.chars, info->chars);
                assert_int_equal(again.units, info->units);
                assert_int_equal(again.segments, info->segments);
        }
        return out;
}

static void test_shape_exact_boundaries(void **state)
{
        static const struct {
                size_t n;
                unsigned max;
                size_t kept; /* 'a's kept; n means untouched */
        } cases[] = {
                {160, 1, 160}, {161, 1, 157}, {306, 2, 306},    {307, 2, 303},
                {459, 3, 459}, {460, 3, 456}, {1530, 10, 1530}, {1531, 10, 1527},
        };
        struct sms_text_info info;

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_free_ char *in = rep("a", cases[i].n);
                _cleanup_free_ char *out = shape(in, cases[i].max, &info);
                _cleanup_free_ char *want_a = rep("a", cases[i].kept);
                _cleanup_free_ char *want =
                        cases[i].kept == cases[i].n ? strdup(want_a) : cat(want_a, "...");

                assert_string_equal(out, want);
                assert_int_equal(info.segments, cases[i].max);
        }

        /* UCS-2: 70/71 and 134/135 code units. */
        {
                _cleanup_free_ char *z70 = rep(ZHE, 70);
                _cleanup_free_ char *z71 = rep(ZHE, 71);
                _cleanup_free_ char *z134 = rep(ZHE, 134);
                _cleanup_free_ char *z135 = rep(ZHE, 135);
                _cleanup_free_ char *z67 = rep(ZHE, 67);
                _cleanup_free_ char *z131 = rep(ZHE, 131);
                _cleanup_free_ char *w71 = cat(z67, "...");
                _cleanup_free_ char *w135 = cat(z131, "...");
                _cleanup_free_ char *o70 = shape(z70, 1, &info);
                _cleanup_free_ char *o71 = shape(z71, 1, &info);
                _cleanup_free_ char *o134 = shape(z134, 2, &info);
                _cleanup_free_ char *o135 = shape(z135, 2, &info);

                assert_string_equal(o70, z70);
                assert_string_equal(o71, w71);
                assert_string_equal(o134, z134);
                assert_string_equal(o135, w135);
                assert_int_equal(info.units, 134);
        }
}

/* A 2,000-character text capped at 3 segments: cut at a word boundary in the
 * last 20%, "..." appended, UTF-8 intact, and a prefix of the input. */
static void check_word_cut(const char *in, const char *out, size_t budget_units,
                           const struct sms_text_info *info)
{
        size_t kept = strlen(out) - 3;

        assert_true(ends_with(out, "..."));
        assert_memory_equal(out, in, kept);
        assert_true(in[kept] == ' '); /* the next input character was a space */
        assert_true(out[kept - 1] != ' ');
        assert_true(info->units * 5 >= budget_units * 4);
}

static void test_shape_long_gsm_text(void **state)
{
        static const char *const words[] = {"appointment", "reminder", "the",  "clinic", "is",
                                            "open",        "from",     "nine", "to",     "five,",
                                            "reply",       "HELP",     "for",  "help."};
        char in[2001];
        size_t n = 0;
        struct sms_text_info info;
        _cleanup_free_ char *out = NULL;

        for (size_t i = 0; n < 2000; i++) {
                const char *w = words[i % ARRAY_SIZE(words)];

                for (size_t k = 0; w[k] && n < 2000; k++)
                        in[n++] = w[k];
                if (n < 2000)
                        in[n++] = ' ';
        }
        in[2000] = '\0';
        check_count(in, SMS_ENCODING_GSM7, 2000, 2000, 14);

        out = shape(in, 3, &info);
        assert_int_equal(info.encoding, SMS_ENCODING_GSM7);
        assert_int_equal(info.segments, 3);
        assert_true(info.units <= 459);
        check_word_cut(in, out, 459, &info);
}

static void test_shape_long_ucs2_text(void **state)
{
        /* Russian words with an emoji: UCS-2, 201 units for 3 segments. */
        static const char *const words[] = {"\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
                                            "\xd0\xbc\xd0\xb8\xd1\x80", GRIN,
                                            "\xd0\xb4\xd0\xbe\xd0\xbc"};
        char in[8192];
        size_t n = 0, chars = 0;
        struct sms_text_info info;
        _cleanup_free_ char *out = NULL;

        for (size_t i = 0; chars < 2000; i++) {
                const char *w = words[i % ARRAY_SIZE(words)];

                memcpy(in + n, w, strlen(w));
                n += strlen(w);
                in[n++] = ' ';
                chars = info_of((in[n] = '\0', in)).chars;
        }
        out = shape(in, 3, &info);
        assert_int_equal(info.encoding, SMS_ENCODING_UCS2);
        assert_int_equal(info.segments, 3);
        assert_true(info.units <= 201);
        check_word_cut(in, out, 201, &info);
}

static void test_shape_hard_cuts(void **state)
{
        struct sms_text_info info;

        /* No space at all: a hard cut, exactly at the budget. */
        {
                _cleanup_free_ char *in = rep("a", 500);
                _cleanup_free_ char *out = shape(in, 1, &info);

                assert_int_equal(strlen(out), 160);
                assert_true(ends_with(out, "a..."));
        }
        /* A space only early on (outside the last 20%) is not used. */
        {
                _cleanup_free_ char *tail = rep("b", 400);
                _cleanup_free_ char *in = cat("hello ", tail);
                _cleanup_free_ char *out = shape(in, 1, &info);

                assert_int_equal(strlen(out), 160);
                assert_int_equal(strncmp(out, "hello bbb", 9), 0);
        }
        /* An extension character that does not fit is left out whole. */
        {
                _cleanup_free_ char *a = rep("a", 156);
                _cleanup_free_ char *in1 = cat(a, EURO);
                _cleanup_free_ char *in = cat(in1, "zzzzzzzzzz");
                _cleanup_free_ char *out = shape(in, 1, &info);
                _cleanup_free_ char *want = cat(a, "...");

                assert_string_equal(out, want);
                assert_int_equal(info.units, 159);
        }
        /* Emoji only: 33 emoji (66 units) + "..." (3) fit in 70; 34 would not. */
        {
                _cleanup_free_ char *in = rep(GRIN, 500);
                _cleanup_free_ char *out = shape(in, 1, &info);
                _cleanup_free_ char *e33 = rep(GRIN, 33);
                _cleanup_free_ char *want = cat(e33, "...");

                assert_string_equal(out, want);
                assert_int_equal(info.units, 69);
        }
        /* Emoji only, 3 segments: the surrogate pairs are never split. */
        {
                _cleanup_free_ char *in = rep(GRIN, 2000);
                _cleanup_free_ char *out = shape(in, 3, &info);

                assert_int_equal(info.segments, 3);
                assert_true(ends_with(out, GRIN "..."));
                assert_int_equal((strlen(out) - 3) % 4, 0);
        }
}

static void test_shape_graphemes(void **state)
{
        struct sms_text_info info;

        /* ZWJ sequences of 8 units: 8 of them (64) fit, the 9th would be cut
         * after its first person and ZWJ — the cut moves back before it. */
        {
                _cleanup_free_ char *in = rep(FAMILY, 20);
                _cleanup_free_ char *out = shape(in, 1, &info);
                _cleanup_free_ char *f8 = rep(FAMILY, 8);
                _cleanup_free_ char *want = cat(f8, "...");

                assert_string_equal(out, want);
        }
        /* Flags are pairs of regional indicators: never keep half a flag. */
        {
                _cleanup_free_ char *in = rep(FLAG_FR, 40);
                _cleanup_free_ char *out = shape(in, 1, &info);
                _cleanup_free_ char *f16 = rep(FLAG_FR, 16);
                _cleanup_free_ char *want = cat(f16, "...");

                assert_string_equal(out, want);
        }
        /* A combining accent stays with its letter. */
        {
                _cleanup_free_ char *in = rep("e\xcc\x81", 60); /* é as e + U+0301 */
                _cleanup_free_ char *out = shape(in, 1, &info);

                /* 67 units: 33 pairs (66) + "..." would be 69; a 34th 'e' fits but
                 * its accent does not, so it is not kept either. */
                assert_int_equal(info.chars, 66 + 3);
                assert_true(ends_with(out, "\xcc\x81..."));
        }
}

/* When the text is long, the encoding that keeps more of it wins. */
static void test_shape_chooses_encoding(void **state)
{
        struct sms_text_info info;

        /* Emoji at the very end: dropped, the rest stays GSM-7. */
        {
                _cleanup_free_ char *words = rep("word ", 60);
                _cleanup_free_ char *in = cat(words, GRIN);
                _cleanup_free_ char *out = shape(in, 1, &info);

                assert_int_equal(info.encoding, SMS_ENCODING_GSM7);
                assert_true(info.chars > 150);
                assert_null(strstr(out, GRIN));
                assert_true(ends_with(out, "word..."));
        }
        /* Emoji at the start: UCS-2 it is. */
        {
                _cleanup_free_ char *words = rep("word ", 60);
                _cleanup_free_ char *in = cat(GRIN " ", words);
                _cleanup_free_ char *out = shape(in, 1, &info);

                assert_int_equal(info.encoding, SMS_ENCODING_UCS2);
                assert_true(info.units <= 70);
                assert_int_equal(strncmp(out, GRIN " word", 9), 0);
                assert_true(ends_with(out, "word..."));
        }
}

static void test_shape_word_boundary_details(void **state)
{
        struct sms_text_info info;

        /* Several spaces and a newline before the cut: all trailing white space goes. */
        {
                _cleanup_free_ char *a = rep("a", 140);
                _cleanup_free_ char *in1 = cat(a, " \n  ");
                _cleanup_free_ char *b = rep("b", 100);
                _cleanup_free_ char *in = cat(in1, b);
                _cleanup_free_ char *out = shape(in, 1, &info);
                _cleanup_free_ char *want = cat(a, "...");

                assert_string_equal(out, want);
        }
        /* The space right after the largest prefix is a boundary: no word lost. */
        {
                _cleanup_free_ char *a = rep("a", 157);
                _cleanup_free_ char *in = cat(a, " bbbb");
                _cleanup_free_ char *out = shape(in, 1, &info);
                _cleanup_free_ char *want = cat(a, "...");

                assert_string_equal(out, want);
        }
        /* Typographic replacement happens before the budget is applied. */
        {
                _cleanup_free_ char *a = rep("a\xe2\x80\x9c ", 100);
                _cleanup_free_ char *out = shape(a, 1, &info);

                assert_int_equal(info.encoding, SMS_ENCODING_GSM7);
                assert_true(ends_with(out, "\"..."));
        }
}

static void test_shape_args(void **state)
{
        char *out = NULL;
        struct sms_text_info info;

        assert_int_equal(sms_text_shape("hi", 0, &out, &info), -EINVAL);
        assert_int_equal(sms_text_shape("hi", 11, &out, &info), -EINVAL);
        assert_int_equal(sms_text_shape(NULL, 1, &out, &info), -EINVAL);
        assert_null(out);
        assert_int_equal(sms_text_shape("hi", 10, &out, NULL), 0);
        assert_string_equal(out, "hi");
        free(out);
        assert_int_equal(sms_text_shape("", 1, &out, &info), 0);
        assert_string_equal(out, "");
        assert_int_equal(info.segments, 0);
        free(out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_gsm7_boundaries),
                cmocka_unit_test(test_ucs2_boundaries),
                cmocka_unit_test(test_extension_characters),
                cmocka_unit_test(test_pairs_not_split),
                cmocka_unit_test(test_emoji_only),
                cmocka_unit_test(test_gsm_alphabet),
                cmocka_unit_test(test_invalid_utf8),
                cmocka_unit_test(test_normalize),
                cmocka_unit_test(test_curly_quote_does_not_force_ucs2),
                cmocka_unit_test(test_shape_exact_boundaries),
                cmocka_unit_test(test_shape_long_gsm_text),
                cmocka_unit_test(test_shape_long_ucs2_text),
                cmocka_unit_test(test_shape_hard_cuts),
                cmocka_unit_test(test_shape_graphemes),
                cmocka_unit_test(test_shape_chooses_encoding),
                cmocka_unit_test(test_shape_word_boundary_details),
                cmocka_unit_test(test_shape_args),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
