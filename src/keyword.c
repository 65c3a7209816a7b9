/*
 * keyword.c — TCPA/CTIA keyword classification (pure). The rule is stated in
 * keyword.h; this file keeps it table-driven: the default lists below, one
 * normaliser used for both messages and list entries, and two matchers
 * (whole message, then the opt-out phrase).
 */
#include <utf8proc.h>

#include "common.h"
#include "keyword.h"
#include "utf8.h"

#define PHRASE_WORDS_MAX  4
#define MESSAGE_WORDS_MAX (1 + PHRASE_WORDS_MAX + KEYWORD_TAIL_MAX)
/* Words a message may have before repeats are folded: "stop" said 32 times. */
#define FOLD_WORDS_MAX 32

static const char *const default_opt_out[] = {
        "STOP",   "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
        "OPTOUT", "OPT OUT", "OPT-OUT",  "REMOVE",      "ARRET",  "TD",  NULL,
};
static const char *const default_opt_in[] = {"START", "UNSTOP", "SUBSCRIBE", NULL};
static const char *const default_opt_in_confirm[] = {"YES", NULL};
static const char *const default_help[] = {"HELP", "INFO", NULL};
static const char *const default_opt_out_lead[] = {
        "STOP",        "STOPALL",    "UNSUBSCRIBE", "OPTOUT",         "REVOKE",
        "OPT OUT",     "OPT-OUT",    "OPT ME OUT",  "REMOVE ME",      "TAKE ME OFF",
        "DO NOT TEXT", "DON'T TEXT", "DONT TEXT",   "DO NOT CONTACT", NULL,
};
static const char *const default_preface[] = {"PLEASE", "PLS", "PLZ", NULL};
static const char *const default_tail[] = {
        "PLEASE",      "PLS",       "PLZ",      "NOW",        "IT",      "ME",        "ALL",
        "TEXTING",     "MESSAGING", "SENDING",  "CONTACTING", "CALLING", "BOTHERING", "TEXT",
        "TEXTS",       "MESSAGE",   "MESSAGES", "THANKS",     "THANK",   "YOU",       "THX",
        "IMMEDIATELY", "ASAP",      "RIGHT",    "ANYMORE",    "AGAIN",   "MY",        "CONSENT",
        "FROM",        "YOUR",      "THE",      "THIS",       "LIST",    "NUMBER",    NULL,
};

struct word_list {
        char **v;
        size_t n;
};

enum list_id {
        LIST_OPT_OUT,
        LIST_OPT_IN,
        LIST_OPT_IN_CONFIRM,
        LIST_HELP,
        LIST_LEAD,
        LIST_PREFACE,
        LIST_TAIL,
        _LIST_MAX,
};

struct keyword_rules {
        struct word_list lists[_LIST_MAX];
};

const char *keyword_kind_to_string(enum keyword_kind k)
{
        static const char *const names[_KEYWORD_KIND_MAX] = {
                [KEYWORD_NONE] = "none",
                [KEYWORD_OPT_OUT] = "opt-out",
                [KEYWORD_OPT_IN] = "opt-in",
                [KEYWORD_HELP] = "help",
        };

        if ((unsigned)k >= _KEYWORD_KIND_MAX)
                return "invalid";
        return names[k];
}

/* ---- normalisation --------------------------------------------------------- */

/* What utf8proc does for us in one pass: compatibility decomposition and
 * composition (NFKC: full-width forms, ligatures, the "…" ellipsis), case
 * folding, dropping default-ignorable code points (LRM/RLM, bidi embeddings and
 * isolates, ZWSP/ZWNJ/ZWJ, CGJ, variation selectors such as U+FE0F, the BOM,
 * soft hyphens, tags), dropping combining marks (so decomposed "E" + U+0302 and
 * precomposed "Ê" both become "e"), lumping dashes, quotes and spaces to their
 * ASCII form, and turning line breaks and tabs into spaces and other control
 * characters into nothing. */
#define NORMALIZE_OPTIONS                                                                          \
        (UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD |                \
         UTF8PROC_IGNORE | UTF8PROC_STRIPMARK | UTF8PROC_LUMP | UTF8PROC_STRIPCC)

/* Code points a message may have after decomposition and still be looked at;
 * far above any keyword, bounded so that the work stays on the stack. */
#define NORMALIZE_CODEPOINTS_MAX 2048

/*
 * Cyrillic and Greek letters that look like a Latin letter, from Unicode's
 * confusables list (UTS #39, https://www.unicode.org/Public/security/latest/
 * confusables.txt: "С → C", "Т → T", "О → O", "Р → P", "Α → A", ...). The
 * table is applied after case folding, so it holds each letter's folded
 * (small) form and a letter counts in either case: Cyrillic "Т" folds to "т"
 * and reads as T. Where the list gives the two cases different Latin
 * letters (Greek Ν → N but ν → v; Υ → Y but υ → u) the capital's wins, since
 * keywords are usually written in capitals; where it gives "l" for an I-like
 * letter (Ι, І, Ӏ: I and l are confusable themselves) the table says i.
 */
static const struct {
        uint32_t cp;
        char latin;
} confusables[] = {
        /* Greek */
        {0x03b1, 'a'}, /* α Α */
        {0x03b2, 'b'}, /* β Β */
        {0x03b3, 'y'}, /* γ */
        {0x03b5, 'e'}, /* ε Ε */
        {0x03b6, 'z'}, /* ζ Ζ */
        {0x03b7, 'h'}, /* η Η */
        {0x03b9, 'i'}, /* ι Ι */
        {0x03ba, 'k'}, /* κ Κ */
        {0x03bc, 'm'}, /* μ Μ */
        {0x03bd, 'n'}, /* ν Ν */
        {0x03bf, 'o'}, /* ο Ο */
        {0x03c1, 'p'}, /* ρ Ρ */
        {0x03c3, 'o'}, /* σ */
        {0x03c4, 't'}, /* τ Τ */
        {0x03c5, 'y'}, /* υ Υ */
        {0x03c7, 'x'}, /* χ Χ */
        {0x03f2, 'c'}, /* ϲ Ϲ (lunate sigma) */
        {0x03f3, 'j'}, /* ϳ Ϳ (yot) */
        /* Cyrillic */
        {0x0430, 'a'}, /* а А */
        {0x0432, 'b'}, /* в В */
        {0x0433, 'r'}, /* г */
        {0x0435, 'e'}, /* е Е */
        {0x043a, 'k'}, /* к К */
        {0x043c, 'm'}, /* м М */
        {0x043d, 'h'}, /* н Н */
        {0x043e, 'o'}, /* о О */
        {0x0440, 'p'}, /* р Р */
        {0x0441, 'c'}, /* с С */
        {0x0442, 't'}, /* т Т */
        {0x0443, 'y'}, /* у У */
        {0x0445, 'x'}, /* х Х */
        {0x0455, 's'}, /* ѕ Ѕ (dze) */
        {0x0456, 'i'}, /* і І (Byelorussian-Ukrainian i) */
        {0x0458, 'j'}, /* ј Ј */
        {0x0475, 'v'}, /* ѵ Ѵ (izhitsa) */
        {0x04af, 'y'}, /* ү Ү (straight u) */
        {0x04bb, 'h'}, /* һ Һ (shha) */
        {0x04cf, 'i'}, /* ӏ Ӏ (palochka) */
        {0x0501, 'd'}, /* ԁ (komi de) */
        {0x051b, 'q'}, /* ԛ Ԛ (qa) */
        {0x051d, 'w'}, /* ԝ Ԝ (we) */
};

static uint32_t unconfuse(uint32_t cp)
{
        size_t lo = 0, hi = ARRAY_SIZE(confusables);

        if (cp < 0x0370 || cp > 0x052f)
                return cp;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;

                if (confusables[mid].cp == cp)
                        return (uint32_t)confusables[mid].latin;
                if (confusables[mid].cp < cp)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return cp;
}

static bool is_ascii_punct(uint32_t c)
{
        return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
               (c >= 0x7b && c <= 0x7e);
}

static bool is_ascii_space(uint32_t c)
{
        return c == ' ' || (c >= 0x09 && c <= 0x0d);
}

static bool is_space(uint32_t cp)
{
        utf8proc_category_t c;

        if (cp < 0x80)
                return is_ascii_space(cp);
        c = utf8proc_category((utf8proc_int32_t)cp);
        return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

/* Punctuation that surrounds a keyword: ASCII's, and Unicode's (¡ ¿ « » ...). */
static bool is_punct(uint32_t cp)
{
        if (cp < 0x80)
                return is_ascii_punct(cp);
        switch (utf8proc_category((utf8proc_int32_t)cp)) {
        case UTF8PROC_CATEGORY_PC:
        case UTF8PROC_CATEGORY_PD:
        case UTF8PROC_CATEGORY_PS:
        case UTF8PROC_CATEGORY_PE:
        case UTF8PROC_CATEGORY_PI:
        case UTF8PROC_CATEGORY_PF:
        case UTF8PROC_CATEGORY_PO:
                return true;
        default:
                return false;
        }
}

static bool is_edge(uint32_t cp)
{
        return is_punct(cp) || is_space(cp);
}

/* The folded, unconfused code point as the normalised text writes it. */
static uint32_t final_form(uint32_t cp)
{
        cp = unconfuse(cp);
        if (cp >= 'a' && cp <= 'z')
                return cp - 'a' + 'A';
        return is_space(cp) ? ' ' : cp;
}

int keyword_normalize(const char *utf8_text, char *buf, size_t size)
{
        const unsigned char *s = (const unsigned char *)utf8_text;
        utf8proc_int32_t cps[NORMALIZE_CODEPOINTS_MAX];
        utf8proc_ssize_t n;
        size_t len, i, o = 0, first, last;
        bool pending_space = false;

        if (!utf8_text || !buf || size == 0)
                return -EINVAL;
        len = strlen(utf8_text);
        if (!utf8_valid(utf8_text, len, false))
                return -EILSEQ;

        /* What the final strip removes anyway; done first so that a long run
         * of "!!!!" cannot push a short keyword over the bound. */
        while (len > 0 && (is_ascii_punct(s[len - 1]) || is_ascii_space(s[len - 1])))
                len--;
        for (i = 0; i < len && (is_ascii_punct(s[i]) || is_ascii_space(s[i])); i++)
                ;

        n = utf8proc_decompose(s + i, (utf8proc_ssize_t)(len - i), cps, ARRAY_SIZE(cps),
                               NORMALIZE_OPTIONS);
        if (n == UTF8PROC_ERROR_INVALIDUTF8 || n == UTF8PROC_ERROR_NOTASSIGNED)
                return -EILSEQ;
        if (n < 0)
                return -EINVAL;
        if ((size_t)n > ARRAY_SIZE(cps))
                return -ENOBUFS;
        n = utf8proc_normalize_utf32(cps, n, NORMALIZE_OPTIONS);
        if (n < 0)
                return -EINVAL;

        /* Strip punctuation and spaces from both ends, then write what is
         * left with runs of spaces as one. */
        for (first = 0; first < (size_t)n && is_edge(final_form((uint32_t)cps[first])); first++)
                ;
        for (last = (size_t)n; last > first && is_edge(final_form((uint32_t)cps[last - 1])); last--)
                ;
        for (i = first; i < last; i++) {
                uint32_t cp = final_form((uint32_t)cps[i]);
                utf8proc_uint8_t enc[4];
                utf8proc_ssize_t k;

                if (cp == ' ') {
                        pending_space = true;
                        continue;
                }
                k = utf8proc_encode_char((utf8proc_int32_t)cp, enc);
                if (k <= 0)
                        return -EILSEQ;
                if (o + (pending_space ? 1 : 0) + (size_t)k >= size)
                        return -ENOBUFS;
                if (pending_space)
                        buf[o++] = ' ';
                pending_space = false;
                memcpy(buf + o, enc, (size_t)k);
                o += (size_t)k;
        }
        buf[o] = '\0';
        return (int)o;
}

/* ---- rules ----------------------------------------------------------------- */

static void word_list_done(struct word_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        *l = (struct word_list){0};
}

struct keyword_rules *keyword_rules_free(struct keyword_rules *r)
{
        if (!r)
                return NULL;
        for (size_t i = 0; i < _LIST_MAX; i++)
                word_list_done(&r->lists[i]);
        free(r);
        return NULL;
}

static bool word_list_has(const struct word_list *l, const char *w, size_t len)
{
        for (size_t i = 0; i < l->n; i++)
                if (strlen(l->v[i]) == len && memcmp(l->v[i], w, len) == 0)
                        return true;
        return false;
}

static size_t count_words(const char *s)
{
        size_t n = *s ? 1 : 0;

        for (; *s; s++)
                if (*s == ' ')
                        n++;
        return n;
}

static int word_list_build(struct word_list *l, const char *const *words, size_t max_words)
{
        size_t n = 0;

        while (words[n])
                n++;
        l->v = calloc(n ? n : 1, sizeof(char *));
        if (!l->v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char buf[KEYWORD_ENTRY_MAX + 1];
                int r = keyword_normalize(words[i], buf, sizeof(buf));

                if (r == -ENOBUFS || r == 0 || r == -EILSEQ)
                        return -EINVAL;
                if (r < 0)
                        return r;
                if (count_words(buf) > max_words)
                        return -EINVAL;
                if (word_list_has(l, buf, (size_t)r))
                        continue;
                l->v[l->n] = strdup(buf);
                if (!l->v[l->n])
                        return -ENOMEM;
                l->n++;
        }
        return 0;
}

static const char *match_opt_out_phrase(const struct keyword_rules *r, const char *norm);

int keyword_rules_new(const struct keyword_config *config, struct keyword_rules **ret)
{
        static const struct keyword_config defaults = {
                .opt_out = default_opt_out,
                .opt_in = default_opt_in,
                .opt_in_confirm = default_opt_in_confirm,
                .help = default_help,
                .opt_out_lead = default_opt_out_lead,
                .preface = default_preface,
                .tail = default_tail,
        };
        const struct keyword_config *c = config ? config : &defaults;
        const char *const *src[_LIST_MAX] = {
                [LIST_OPT_OUT] = c->opt_out ? c->opt_out : default_opt_out,
                [LIST_OPT_IN] = c->opt_in ? c->opt_in : default_opt_in,
                [LIST_OPT_IN_CONFIRM] =
                        c->opt_in_confirm ? c->opt_in_confirm : default_opt_in_confirm,
                [LIST_HELP] = c->help ? c->help : default_help,
                [LIST_LEAD] = c->opt_out_lead ? c->opt_out_lead : default_opt_out_lead,
                [LIST_PREFACE] = c->preface ? c->preface : default_preface,
                [LIST_TAIL] = c->tail ? c->tail : default_tail,
        };
        struct keyword_rules *r;
        int k;

        if (!ret)
                return -EINVAL;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        for (size_t i = 0; i < _LIST_MAX; i++) {
                size_t max_words = (i == LIST_PREFACE || i == LIST_TAIL) ? 1 : PHRASE_WORDS_MAX;

                k = word_list_build(&r->lists[i], src[i], max_words);
                if (k < 0) {
                        keyword_rules_free(r);
                        return k;
                }
        }

        /* One entry, one family: a word in two whole-message lists is a config error. */
        for (size_t a = LIST_OPT_OUT; a <= LIST_HELP; a++)
                for (size_t b = a + 1; b <= LIST_HELP; b++)
                        for (size_t i = 0; i < r->lists[a].n; i++) {
                                const char *w = r->lists[a].v[i];

                                if (word_list_has(&r->lists[b], w, strlen(w))) {
                                        keyword_rules_free(r);
                                        return -EINVAL;
                                }
                        }
        /* Whole-message lists are matched before the opt-out phrase rule, so an
         * opt-in, confirm or help entry that the rule reads as an opt-out ("STOP"
         * as an opt-in word once the opt-out list no longer has it) would turn
         * that opt-out into something else: refuse it too. */
        for (size_t a = LIST_OPT_IN; a <= LIST_HELP; a++)
                for (size_t i = 0; i < r->lists[a].n; i++)
                        if (match_opt_out_phrase(r, r->lists[a].v[i])) {
                                keyword_rules_free(r);
                                return -EINVAL;
                        }
        *ret = r;
        return 0;
}

/* ---- matching -------------------------------------------------------------- */

static const char *word_list_find(const struct word_list *l, const char *w, size_t len)
{
        for (size_t i = 0; i < l->n; i++)
                if (strlen(l->v[i]) == len && memcmp(l->v[i], w, len) == 0)
                        return l->v[i];
        return NULL;
}

struct word {
        const char *p;
        size_t len;
};

/* [*b, *e) without the punctuation at its ends (valid UTF-8). */
static void trim_punct(const char **b, const char **e)
{
        const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)*b;
        const utf8proc_uint8_t *end = (const utf8proc_uint8_t *)*e;
        const utf8proc_uint8_t *keep_end = NULL;
        bool seen = false;

        while (p < end) {
                utf8proc_int32_t cp;
                utf8proc_ssize_t k = utf8proc_iterate(p, end - p, &cp);

                if (k <= 0)
                        break; /* cannot happen: the text was decoded before */
                if (!is_punct((uint32_t)cp)) {
                        if (!seen)
                                *b = (const char *)p;
                        seen = true;
                        keep_end = p + k;
                }
                p += k;
        }
        if (!seen)
                *b = *e;
        else
                *e = (const char *)keep_end;
}

/* Split at spaces; each word loses leading and trailing punctuation and empty
 * words are dropped. Returns the count, or -E2BIG above max. */
static int split_words(const char *s, struct word *out, size_t max)
{
        size_t n = 0;

        while (*s) {
                const char *b = s, *e;

                while (*s && *s != ' ')
                        s++;
                e = s;
                if (*s)
                        s++;
                trim_punct(&b, &e);
                if (b == e)
                        continue;
                if (n >= max)
                        return -E2BIG;
                out[n++] = (struct word){b, (size_t)(e - b)};
        }
        return (int)n;
}

static bool words_equal(const struct word *a, const struct word *b)
{
        return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* Repetition is emphasis: "STOP STOP STOP" is STOP, "help, help!" is HELP,
 * "opt out opt out" is OPT OUT. A word repeated in a row counts once, and a
 * message that is one phrase of up to PHRASE_WORDS_MAX words said several
 * times counts as the phrase said once. Returns the new count. */
static size_t fold_repeats(struct word *w, size_t n)
{
        size_t o = 0;

        for (size_t i = 0; i < n; i++)
                if (o == 0 || !words_equal(&w[o - 1], &w[i]))
                        w[o++] = w[i];
        for (size_t m = 1; m <= PHRASE_WORDS_MAX && m < o; m++) {
                bool repeated = o % m == 0;

                for (size_t i = m; i < o && repeated; i++)
                        repeated = words_equal(&w[i], &w[i % m]);
                if (repeated)
                        return m;
        }
        return o;
}

/* The normalised message as its words, punctuation-trimmed and repeats
 * folded, joined by single spaces into out (KEYWORD_NORMALIZED_MAX + 1).
 * Returns the length, 0 when there is no word or too many to be a keyword. */
static size_t fold_message(const char *norm, char *out)
{
        struct word words[FOLD_WORDS_MAX];
        int n = split_words(norm, words, ARRAY_SIZE(words));
        size_t o = 0, k;

        out[0] = '\0';
        if (n <= 0)
                return 0;
        k = fold_repeats(words, (size_t)n);
        for (size_t i = 0; i < k; i++) {
                /* Never longer than norm, which fits. */
                if (i > 0)
                        out[o++] = ' ';
                memcpy(out + o, words[i].p, words[i].len);
                o += words[i].len;
        }
        out[o] = '\0';
        return o;
}

static bool word_is(const struct word *w, const char *s, size_t len)
{
        return w->len == len && memcmp(w->p, s, len) == 0;
}

/* Does words[at..] start with the (normalised, space-separated) phrase? Returns
 * the number of words it spans, or 0. */
static size_t match_phrase(const struct word *words, size_t n, size_t at, const char *phrase)
{
        size_t k = 0;

        while (*phrase) {
                const char *sp = strchr(phrase, ' ');
                size_t len = sp ? (size_t)(sp - phrase) : strlen(phrase);

                if (at + k >= n || !word_is(&words[at + k], phrase, len))
                        return 0;
                k++;
                phrase += len + (sp ? 1 : 0);
        }
        return k;
}

static bool tail_word_ok(const struct keyword_rules *r, const struct word *w)
{
        const struct word_list *lead = &r->lists[LIST_LEAD];

        if (word_list_has(&r->lists[LIST_TAIL], w->p, w->len))
                return true;
        /* A repeated keyword ("stop stop") is emphasis. */
        for (size_t i = 0; i < lead->n; i++)
                if (!strchr(lead->v[i], ' ') && word_is(w, lead->v[i], strlen(lead->v[i])))
                        return true;
        return false;
}

static const char *match_opt_out_phrase(const struct keyword_rules *r, const char *norm)
{
        const struct word_list *lead = &r->lists[LIST_LEAD];
        struct word words[MESSAGE_WORDS_MAX];
        int n = split_words(norm, words, ARRAY_SIZE(words));

        if (n <= 0)
                return NULL;
        for (size_t start = 0; start <= 1; start++) {
                if (start == 1 && !word_list_has(&r->lists[LIST_PREFACE], words[0].p, words[0].len))
                        break;
                for (size_t i = 0; i < lead->n; i++) {
                        size_t k = match_phrase(words, (size_t)n, start, lead->v[i]);
                        size_t rest;
                        bool ok = true;

                        if (k == 0)
                                continue;
                        rest = (size_t)n - start - k;
                        if (rest > KEYWORD_TAIL_MAX)
                                continue;
                        for (size_t j = start + k; j < (size_t)n && ok; j++)
                                ok = tail_word_ok(r, &words[j]);
                        if (ok)
                                return lead->v[i];
                }
        }
        return NULL;
}

enum keyword_kind keyword_classify(const struct keyword_rules *rules, const char *utf8_text,
                                   bool sender_opted_out, const char **ret_word)
{
        static const struct {
                enum list_id list;
                enum keyword_kind kind;
                bool only_when_opted_out;
        } whole[] = {
                {LIST_OPT_OUT, KEYWORD_OPT_OUT, false},
                {LIST_OPT_IN, KEYWORD_OPT_IN, false},
                {LIST_OPT_IN_CONFIRM, KEYWORD_OPT_IN, true},
                {LIST_HELP, KEYWORD_HELP, false},
        };
        char norm[KEYWORD_NORMALIZED_MAX + 1], folded[KEYWORD_NORMALIZED_MAX + 1];
        const char *forms[2] = {norm, folded};
        size_t lens[2];
        const char *w = NULL;
        enum keyword_kind kind = KEYWORD_NONE;
        int n;

        if (!rules || !utf8_text)
                goto out;
        n = keyword_normalize(utf8_text, norm, sizeof(norm));
        if (n <= 0)
                goto out;
        lens[0] = (size_t)n;
        lens[1] = fold_message(norm, folded);

        /* The message as written, then with its repeats folded. */
        for (size_t f = 0; f < ARRAY_SIZE(forms); f++)
                for (size_t i = 0; i < ARRAY_SIZE(whole); i++) {
                        if (whole[i].only_when_opted_out && !sender_opted_out)
                                continue;
                        w = word_list_find(&rules->lists[whole[i].list], forms[f], lens[f]);
                        if (w) {
                                kind = whole[i].kind;
                                goto out;
                        }
                }

        w = match_opt_out_phrase(rules, folded);
        if (w)
                kind = KEYWORD_OPT_OUT;
out:
        if (ret_word)
                *ret_word = kind == KEYWORD_NONE ? NULL : w;
        return kind;
}
