/*
 * sms_text.c — GSM 03.38 / UCS-2 segment counting and text shaping (pure).
 *
 * Everything walks the text one code point at a time with a strict UTF-8
 * decoder, so every cut lands on a code point boundary by construction.
 * Segment counts come from a small packing model (struct pack) that places
 * each character's septets or code units into parts the way an encoder does.
 */
#include "common.h"
#include "sms_text.h"
#include "utf8.h"

/* ---- UTF-8 ----------------------------------------------------------------- */

/* Start of the code point that ends just before s[i] (i > 0). */
static size_t utf8_prev(const char *s, size_t i)
{
        do
                i--;
        while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80);
        return i;
}

static uint32_t utf8_at(const char *s, size_t len, size_t i)
{
        uint32_t cp = 0;

        if (i < len && !utf8_next((const unsigned char *)s, len, &i, &cp))
                return 0;
        return cp;
}

/* ---- GSM 03.38 ------------------------------------------------------------- */

/* The basic table's characters outside ASCII (3GPP TS 23.038 §6.2.1). */
static const uint16_t gsm_basic_non_ascii[] = {
        0x00a3, 0x00a5, 0x00e8, 0x00e9, 0x00f9, 0x00ec, 0x00f2, 0x00c7, 0x00d8, 0x00f8,
        0x00c5, 0x00e5, 0x0394, 0x03a6, 0x0393, 0x039b, 0x03a9, 0x03a0, 0x03a8, 0x03a3,
        0x0398, 0x039e, 0x00c6, 0x00e6, 0x00df, 0x00c9, 0x00a4, 0x00a1, 0x00c4, 0x00d6,
        0x00d1, 0x00dc, 0x00a7, 0x00bf, 0x00e4, 0x00f6, 0x00f1, 0x00fc, 0x00e0,
};

unsigned sms_text_gsm7_cost(unsigned long cp)
{
        if (cp < 0x80) {
                if (cp == '\n' || cp == '\r')
                        return 1;
                if (cp == '\f')
                        return 2;
                if (cp < 0x20 || cp == 0x7f || cp == '`')
                        return 0;
                if (strchr("^{}\\[~]|", (int)cp))
                        return 2;
                return 1;
        }
        if (cp == 0x20ac)
                return 2;
        for (size_t i = 0; i < ARRAY_SIZE(gsm_basic_non_ascii); i++)
                if (gsm_basic_non_ascii[i] == cp)
                        return 1;
        return 0;
}

static unsigned unit_cost(enum sms_encoding enc, uint32_t cp)
{
        if (enc == SMS_ENCODING_GSM7)
                return sms_text_gsm7_cost(cp);
        return cp > 0xffff ? 2 : 1;
}

/* ---- segment packing ------------------------------------------------------- */

struct pack {
        enum sms_encoding enc;
        size_t units;
        size_t chars;
        unsigned parts; /* parts used if sent as a multi-part message */
        size_t fill;    /* units in the last part */
};

static size_t single_limit(enum sms_encoding enc)
{
        return enc == SMS_ENCODING_GSM7 ? SMS_GSM7_SINGLE : SMS_UCS2_SINGLE;
}

static size_t part_limit(enum sms_encoding enc)
{
        return enc == SMS_ENCODING_GSM7 ? SMS_GSM7_PART : SMS_UCS2_PART;
}

/* A character's units go into one part: an escape pair or a surrogate pair
 * that does not fit opens the next part. */
static void pack_add(struct pack *p, unsigned cost)
{
        if (p->parts == 0)
                p->parts = 1;
        if (p->fill + cost > part_limit(p->enc)) {
                p->parts++;
                p->fill = 0;
        }
        p->fill += cost;
        p->units += cost;
        p->chars++;
}

static unsigned pack_segments(const struct pack *p)
{
        if (p->units == 0)
                return 0;
        if (p->units <= single_limit(p->enc))
                return 1;
        return p->parts;
}

/* Would the packed text followed by the truncation mark fit in max segments? */
static bool pack_fits_with_mark(const struct pack *p, unsigned max)
{
        struct pack t = *p;

        for (size_t i = 0; i < STRLEN(SMS_TRUNCATION_MARK); i++)
                pack_add(&t, 1);
        return pack_segments(&t) <= max;
}

static int text_info(const char *s, size_t len, struct sms_text_info *ret)
{
        enum sms_encoding enc = SMS_ENCODING_GSM7;
        struct pack p = {0};
        size_t i = 0;
        uint32_t cp;

        while (i < len) {
                if (!utf8_next((const unsigned char *)s, len, &i, &cp))
                        return -EILSEQ;
                if (sms_text_gsm7_cost(cp) == 0)
                        enc = SMS_ENCODING_UCS2;
        }
        p.enc = enc;
        for (i = 0; i < len;) {
                utf8_next((const unsigned char *)s, len, &i, &cp);
                pack_add(&p, unit_cost(enc, cp));
        }
        *ret = (struct sms_text_info){
                .encoding = enc,
                .chars = p.chars,
                .units = p.units,
                .segments = pack_segments(&p),
        };
        return 0;
}

int sms_text_info(const char *utf8, struct sms_text_info *ret)
{
        if (!utf8 || !ret)
                return -EINVAL;
        return text_info(utf8, strlen(utf8), ret);
}

/* ---- typographic replacement ----------------------------------------------- */

static const struct {
        uint32_t cp;
        const char *to;
} replacements[] = {
        {0x0009, " "},  {0x0060, "'"},  {0x00a0, " "},  {0x00ab, "\""}, {0x00ad, ""},
        {0x00b4, "'"},  {0x00bb, "\""}, {0x02bc, "'"},  {0x200b, ""},   {0x2010, "-"},
        {0x2011, "-"},  {0x2012, "-"},  {0x2013, "-"},  {0x2014, "-"},  {0x2015, "-"},
        {0x2018, "'"},  {0x2019, "'"},  {0x201a, "'"},  {0x201b, "'"},  {0x201c, "\""},
        {0x201d, "\""}, {0x201e, "\""}, {0x201f, "\""}, {0x2022, "-"},  {0x2026, "..."},
        {0x2028, "\n"}, {0x2029, "\n"}, {0x202f, " "},  {0x2032, "'"},  {0x2033, "\""},
        {0x2039, "'"},  {0x203a, "'"},  {0x205f, " "},  {0x2060, ""},   {0x2212, "-"},
        {0x3000, " "},  {0xfeff, ""},
};

static const char *replacement_for(uint32_t cp)
{
        if (cp >= 0x2000 && cp <= 0x200a)
                return " ";
        for (size_t i = 0; i < ARRAY_SIZE(replacements); i++)
                if (replacements[i].cp == cp)
                        return replacements[i].to;
        return NULL;
}

/* Normalised copy of s[0..len) and its length. */
static int normalize(const char *s, size_t len, char **ret, size_t *ret_len)
{
        _cleanup_free_ char *out = NULL;
        size_t i = 0, o = 0;

        /* "…" -> "..." is the only growth: 3 bytes to 3 bytes. Nothing grows. */
        out = malloc(len + 1);
        if (!out)
                return -ENOMEM;
        while (i < len) {
                size_t at = i;
                const char *to;
                uint32_t cp;

                if (!utf8_next((const unsigned char *)s, len, &i, &cp))
                        return -EILSEQ;
                to = replacement_for(cp);
                if (to) {
                        size_t n = strlen(to);

                        memcpy(out + o, to, n);
                        o += n;
                } else {
                        memcpy(out + o, s + at, i - at);
                        o += i - at;
                }
        }
        out[o] = '\0';
        *ret_len = o;
        *ret = TAKE_PTR(out);
        return 0;
}

/* ---- truncation ------------------------------------------------------------ */

struct cut {
        size_t end;   /* byte offset: keep s[0..end) */
        size_t chars; /* code points kept */
        size_t units; /* units kept, in the candidate's encoding */
};

/* Longest prefix that, followed by the mark, fits in max segments of enc. A
 * GSM-7 prefix stops before the first character GSM-7 cannot carry. */
static struct cut longest_prefix(const char *s, size_t len, enum sms_encoding enc, unsigned max)
{
        struct pack p = {.enc = enc};
        struct cut best = {0};
        size_t i = 0;

        while (i < len) {
                struct pack q;
                unsigned cost;
                uint32_t cp;

                utf8_next((const unsigned char *)s, len, &i, &cp);
                cost = unit_cost(enc, cp);
                if (cost == 0)
                        break;
                q = p;
                pack_add(&q, cost);
                if (pack_segments(&q) > max)
                        break;
                p = q;
                if (pack_fits_with_mark(&p, max))
                        best = (struct cut){.end = i, .chars = p.chars, .units = p.units};
        }
        return best;
}

static bool is_space(uint32_t cp)
{
        return cp == ' ' || cp == '\n' || cp == '\r';
}

/* Characters that belong to the one before them (or, for ZWJ, join it to the next). */
static bool is_extender(uint32_t cp)
{
        return (cp >= 0x0300 && cp <= 0x036f) || cp == 0x200d || (cp >= 0xfe00 && cp <= 0xfe0f) ||
               cp == 0x20e3 || (cp >= 0x1f3fb && cp <= 0x1f3ff) || (cp >= 0xe0020 && cp <= 0xe007f);
}

static bool is_regional_indicator(uint32_t cp)
{
        return cp >= 0x1f1e6 && cp <= 0x1f1ff;
}

/* Move a hard cut back so it does not split a grapheme; give up (keep the
 * cut) after a few steps rather than eat a long run of combining marks. */
static size_t grapheme_safe(const char *s, size_t len, size_t end)
{
        size_t e = end;

        for (int steps = 0; e > 0 && steps < 16; steps++) {
                uint32_t next = utf8_at(s, len, e);
                uint32_t prev = utf8_at(s, len, utf8_prev(s, e));
                size_t ri = 0;

                if (is_regional_indicator(next)) {
                        /* Flags are pairs: count the indicators kept. */
                        for (size_t k = e;
                             k > 0 && is_regional_indicator(utf8_at(s, len, utf8_prev(s, k)));
                             k = utf8_prev(s, k))
                                ri++;
                        if (ri % 2 == 0)
                                return e;
                } else if (!is_extender(next) && prev != 0x200d)
                        return e;
                e = utf8_prev(s, e);
        }
        return end;
}

/* Prefer the last space in the kept text's final 20%; else a grapheme-safe hard cut. */
static size_t word_boundary(const char *s, size_t len, const struct cut *c, enum sms_encoding enc)
{
        size_t i = 0, units = 0, found = SIZE_MAX;

        while (i < c->end) {
                size_t at = i;
                uint32_t cp;

                utf8_next((const unsigned char *)s, len, &i, &cp);
                if (is_space(cp) && units * 5 >= c->units * 4)
                        found = at;
                units += unit_cost(enc, cp);
        }
        /* A space just after the kept text is a boundary too. */
        if (c->end < len && is_space(utf8_at(s, len, c->end)))
                found = c->end;
        if (found == SIZE_MAX)
                return grapheme_safe(s, len, c->end);
        while (found > 0 && (s[found - 1] == ' ' || s[found - 1] == '\n' || s[found - 1] == '\r'))
                found--;
        return found;
}

int sms_text_shape(const char *utf8, unsigned max_segments, char **ret,
                   struct sms_text_info *ret_info)
{
        _cleanup_free_ char *text = NULL;
        struct sms_text_info info;
        struct cut gsm, ucs;
        enum sms_encoding enc;
        size_t len, end;
        char *out;
        int r;

        if (!utf8 || !ret || max_segments < 1 || max_segments > SMS_MAX_SEGMENTS)
                return -EINVAL;
        r = normalize(utf8, strlen(utf8), &text, &len);
        if (r < 0)
                return r;
        r = text_info(text, len, &info);
        if (r < 0)
                return r;
        if (info.segments <= max_segments) {
                if (ret_info)
                        *ret_info = info;
                *ret = TAKE_PTR(text);
                return 0;
        }

        gsm = longest_prefix(text, len, SMS_ENCODING_GSM7, max_segments);
        ucs = longest_prefix(text, len, SMS_ENCODING_UCS2, max_segments);
        enc = gsm.chars >= ucs.chars ? SMS_ENCODING_GSM7 : SMS_ENCODING_UCS2;
        end = word_boundary(text, len, enc == SMS_ENCODING_GSM7 ? &gsm : &ucs, enc);

        out = malloc(end + sizeof(SMS_TRUNCATION_MARK));
        if (!out)
                return -ENOMEM;
        memcpy(out, text, end);
        memcpy(out + end, SMS_TRUNCATION_MARK, sizeof(SMS_TRUNCATION_MARK));
        if (ret_info) {
                r = text_info(out, end + STRLEN(SMS_TRUNCATION_MARK), &info);
                if (r < 0) {
                        free(out);
                        return r;
                }
                *ret_info = info;
        }
        *ret = out;
        return 0;
}
