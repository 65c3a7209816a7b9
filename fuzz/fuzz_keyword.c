/*
 * fuzz_keyword.c — keyword normalisation, rule building and classification.
 *
 * Input: a control byte, then either the message (bit 0 clear: the default
 * lists), or word lists and the message (bit 0 set): seven lists separated by
 * 0x1e, words within a list by '\n', then 0x00 and the message.
 * Bit 1: sender_opted_out. Bits 2-4: the size of a small normalisation buffer.
 * Checks: normalisation is valid UTF-8, idempotent, and the same in any buffer
 * that holds it; a match names a word of the rules; being opted out only adds
 * the confirm family.
 */
#include "common.h"
#include "fuzz_common.h"
#include "keyword.h"

#define LISTS 7
#define WORDS 16

static struct keyword_rules *defaults;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        if (keyword_rules_new(NULL, &defaults) < 0)
                abort();
        return 0;
}

/* Build rules from "w\nw\x1ew..." in place; NULL when the lists are refused. */
static struct keyword_rules *custom_rules(char *spec)
{
        static const char *words[LISTS][WORDS + 1];
        struct keyword_config cfg = {0};
        const char *const **slot[LISTS] = {&cfg.opt_out, &cfg.opt_in,       &cfg.opt_in_confirm,
                                           &cfg.help,    &cfg.opt_out_lead, &cfg.preface,
                                           &cfg.tail};
        struct keyword_rules *r = NULL;
        char *list = spec;

        for (size_t l = 0; l < LISTS && list; l++) {
                char *next = strchr(list, 0x1e), *w = list;
                size_t n = 0;

                if (next)
                        *next++ = '\0';
                /* An empty list field keeps the default (NULL member). */
                if (*list) {
                        while (w && n < WORDS) {
                                char *nl = strchr(w, '\n');

                                if (nl)
                                        *nl++ = '\0';
                                words[l][n++] = w;
                                w = nl;
                        }
                        words[l][n] = NULL;
                        *slot[l] = words[l];
                }
                list = next;
        }
        if (keyword_rules_new(&cfg, &r) < 0)
                return NULL;
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct keyword_rules *custom = NULL;
        const struct keyword_rules *rules = defaults;
        char *in, *text, norm[4096], again[4096], small[16];
        const char *word = NULL, *word2 = NULL;
        enum keyword_kind k1, k2;
        uint8_t ctl;
        int n, m;

        if (size < 1)
                return 0;
        ctl = data[0];
        in = fuzz_strndup(data + 1, size - 1);
        text = in;
        if (ctl & 1) {
                size_t speclen = strlen(in);

                if (speclen == size - 1) {
                        free(in);
                        return 0; /* no separator */
                }
                text = in + speclen + 1;
                custom = custom_rules(in);
                if (!custom) {
                        free(in);
                        return 0;
                }
                rules = custom;
        }

        n = keyword_normalize(text, norm, sizeof(norm));
        if (n >= 0) {
                FUZZ_CHECK((size_t)n == strlen(norm));
                FUZZ_CHECK(fuzz_utf8_valid(norm, (size_t)n));
                if (n > 0) {
                        FUZZ_CHECK(norm[0] != ' ' && norm[n - 1] != ' ');
                        FUZZ_CHECK(!strstr(norm, "  "));
                }
                m = keyword_normalize(norm, again, sizeof(again));
                FUZZ_CHECK(m == n && memcmp(norm, again, (size_t)n + 1) == 0);
                m = keyword_normalize(text, small, ((ctl >> 2) & 7) * 2 + 1);
                FUZZ_CHECK(m == -ENOBUFS || (m == n && memcmp(small, norm, (size_t)n + 1) == 0));
        } else {
                FUZZ_CHECK(n == -EILSEQ || n == -ENOBUFS);
        }

        k1 = keyword_classify(rules, text, false, &word);
        k2 = keyword_classify(rules, text, true, &word2);
        FUZZ_CHECK(k1 < _KEYWORD_KIND_MAX && k2 < _KEYWORD_KIND_MAX);
        FUZZ_CHECK((k1 == KEYWORD_NONE) == (word == NULL));
        FUZZ_CHECK((k2 == KEYWORD_NONE) == (word2 == NULL));
        if (k1 != KEYWORD_NONE) {
                FUZZ_CHECK(k2 == k1 && streq(word, word2));
                FUZZ_CHECK(n > 0);
        }
        if (k2 != k1)
                FUZZ_CHECK(k1 == KEYWORD_NONE && k2 == KEYWORD_OPT_IN);
        (void)keyword_classify(rules, text, ctl & 2, NULL);
        FUZZ_CHECK(keyword_kind_to_string(k1));

        keyword_rules_free(custom);
        free(in);
        return 0;
}
