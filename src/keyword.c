/*
 * keyword.c — TCPA/CTIA keyword classification (pure). The rule is stated in
 * keyword.h; this file keeps it table-driven: the default lists below, one
 * normaliser used for both messages and list entries, and two matchers
 * (whole message, then the opt-out phrase).
 */
#include "common.h"
#include "keyword.h"
#include "utf8.h"

#define PHRASE_WORDS_MAX  4
#define MESSAGE_WORDS_MAX (1 + PHRASE_WORDS_MAX + KEYWORD_TAIL_MAX)

static const char *const default_opt_out[] = {
        "STOP",   "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
        "OPTOUT", "OPT OUT", "OPT-OUT",  "REMOVE",      "ARRET",  "TD",  NULL,
};
static const char *const default_opt_in[] = {"START", "UNSTOP", "SUBSCRIBE", NULL};
static const char *const default_opt_in_confirm[] = {"YES", NULL};
static const char *const default_help[] = {"HELP", "INFO", NULL};
static const char *const default_opt_out_lead[] = {
        "STOP", "STOPALL", "UNSUBSCRIBE", "OPTOUT", "REVOKE", "OPT OUT", "OPT-OUT", NULL,
};
static const char *const default_preface[] = {"PLEASE", "PLS", "PLZ", NULL};
static const char *const default_tail[] = {
        "PLEASE",    "PLS",     "PLZ",         "NOW",   "IT",      "ME",       "ALL",    "TEXTING",
        "MESSAGING", "SENDING", "TEXT",        "TEXTS", "MESSAGE", "MESSAGES", "THANKS", "THANK",
        "YOU",       "THX",     "IMMEDIATELY", "ASAP",  "RIGHT",   NULL,
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

static bool is_ascii_punct(unsigned char c)
{
        return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
               (c >= 0x7b && c <= 0x7e);
}

static bool is_ascii_space(unsigned char c)
{
        return c == ' ' || (c >= 0x09 && c <= 0x0d);
}

static bool is_unicode_space(uint32_t cp)
{
        return (cp < 0x80 && is_ascii_space((unsigned char)cp)) || cp == 0x85 || cp == 0xa0 ||
               cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
               cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

static bool is_ignorable(uint32_t cp)
{
        return cp == 0xad || (cp >= 0x200b && cp <= 0x200d) || cp == 0x2060 || cp == 0xfeff;
}

/* U+00C0..U+00FF without their accents; '.' keeps the character (Æ × Þ ß ...). */
static const char latin1_fold[] = "AAAAAA.CEEEEIIIIDNOOOOO.OUUUUY.."
                                  "AAAAAA.CEEEEIIIIDNOOOOO.OUUUUY.Y";

/* The character a code point stands for in a keyword, 0 when it is kept as
 * written, or ' ' for white space. */
static uint32_t fold(uint32_t cp)
{
        if (cp >= 'a' && cp <= 'z')
                return cp - 'a' + 'A';
        if (cp < 0x80)
                return is_ascii_space((unsigned char)cp) ? ' ' : cp;
        if (is_unicode_space(cp))
                return ' ';
        if (cp >= 0xff01 && cp <= 0xff5e)
                return fold(cp - 0xfee0);
        if (cp >= 0xc0 && cp <= 0xff && latin1_fold[cp - 0xc0] != '.')
                return (uint32_t)latin1_fold[cp - 0xc0];
        if ((cp >= 0x2010 && cp <= 0x2015) || cp == 0x2212)
                return '-';
        if (cp >= 0x2018 && cp <= 0x201b)
                return '\'';
        if (cp >= 0x201c && cp <= 0x201f)
                return '"';
        if (cp == 0xa1)
                return '!';
        if (cp == 0xbf)
                return '?';
        if (cp == 0x2026)
                return '.';
        return 0;
}

static bool strip_char(unsigned char c)
{
        return is_ascii_punct(c) || is_ascii_space(c);
}

int keyword_normalize(const char *utf8_text, char *buf, size_t size)
{
        const unsigned char *s = (const unsigned char *)utf8_text;
        size_t len, i, o = 0, start;
        bool pending_space = false;

        if (!utf8_text || !buf || size == 0)
                return -EINVAL;

        /* What the final strip removes anyway; done first so that a long run
         * of "!!!!" cannot make a short keyword overflow the buffer. */
        len = strlen(utf8_text);
        while (len > 0 && strip_char(s[len - 1]))
                len--;
        for (i = 0; i < len && strip_char(s[i]); i++)
                ;

        while (i < len) {
                size_t at = i;
                uint32_t cp, f;
                size_t n;

                if (!utf8_next(s, len, &i, &cp))
                        return -EILSEQ;
                if (is_ignorable(cp))
                        continue;
                f = fold(cp);
                if (f == ' ') {
                        pending_space = o > 0;
                        continue;
                }
                n = f ? 1 : i - at;
                if (o + (pending_space ? 1 : 0) + n >= size)
                        return -ENOBUFS;
                if (pending_space)
                        buf[o++] = ' ';
                pending_space = false;
                if (f)
                        buf[o++] = (char)f;
                else {
                        memcpy(buf + o, s + at, n);
                        o += n;
                }
        }

        /* Strip punctuation and spaces from both ends (again: mapped
         * characters such as full-width '！' or '…' only show up now). */
        while (o > 0 && strip_char((unsigned char)buf[o - 1]))
                o--;
        for (start = 0; start < o && strip_char((unsigned char)buf[start]); start++)
                ;
        if (start > 0)
                memmove(buf, buf + start, o - start);
        o -= start;
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
                while (b < e && is_ascii_punct((unsigned char)*b))
                        b++;
                while (e > b && is_ascii_punct((unsigned char)e[-1]))
                        e--;
                if (b == e)
                        continue;
                if (n >= max)
                        return -E2BIG;
                out[n++] = (struct word){b, (size_t)(e - b)};
        }
        return (int)n;
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
        char norm[KEYWORD_NORMALIZED_MAX + 1];
        const char *w = NULL;
        enum keyword_kind kind = KEYWORD_NONE;
        int n;

        if (!rules || !utf8_text)
                goto out;
        n = keyword_normalize(utf8_text, norm, sizeof(norm));
        if (n <= 0)
                goto out;

        for (size_t i = 0; i < ARRAY_SIZE(whole); i++) {
                if (whole[i].only_when_opted_out && !sender_opted_out)
                        continue;
                w = word_list_find(&rules->lists[whole[i].list], norm, (size_t)n);
                if (w) {
                        kind = whole[i].kind;
                        goto out;
                }
        }

        w = match_opt_out_phrase(rules, norm);
        if (w)
                kind = KEYWORD_OPT_OUT;
out:
        if (ret_word)
                *ret_word = kind == KEYWORD_NONE ? NULL : w;
        return kind;
}
