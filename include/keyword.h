/*
 * keyword.h — the TCPA/CTIA keyword classifier for inbound SMS.
 *
 * A pure module: no I/O, no clock, no logging. It decides whether an inbound
 * message is an opt-out, an opt-in or a help request.
 *
 * THE RULE
 *
 * 1. Normalise the message (keyword_normalize()):
 *    - decode UTF-8 (invalid UTF-8 is never a keyword);
 *    - with utf8proc: NFKC (full-width "ＳＴＯＰ" -> "STOP", ligatures, "…"),
 *      case folding, combining marks dropped whether precomposed or not
 *      ("ARRÊT" and "ARRE" U+0302 "T" -> "ARRET"), default-ignorable code
 *      points dropped (LRM/RLM, bidi embeddings and isolates, ZWSP/ZWNJ/ZWJ,
 *      word joiner, CGJ, variation selectors such as U+FE0F, BOM, soft
 *      hyphen, tags), dashes, quotes and spaces lumped to ASCII, line
 *      breaks and tabs to spaces, other control characters dropped;
 *    - Cyrillic and Greek letters that Unicode's confusables list gives as
 *      look-alikes of a Latin letter become that letter, in either case
 *      (Cyrillic "SТОР" -> "STOP", Greek "ΟΡΤ" -> "OPT"; the table is in
 *      keyword.c);
 *    - ASCII letters are upper-cased, white space counts as a space and runs
 *      of it collapse to one;
 *    - punctuation (ASCII !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ and Unicode's
 *      punctuation classes: ¡ ¿ « » ...) and spaces are stripped from both
 *      ends, so "  Stop!!! " -> "STOP" and "¿AYUDA?" -> "AYUDA". Anything
 *      else at the ends, emoji included, stays, so "STOP 🛑" is not a
 *      whole-message match.
 *    A message that decomposes into more than 2048 code points is no keyword.
 *
 * 2. Whole-message match: if the normalised message equals an entry of a
 *    family's list, that family wins:
 *      opt-out   STOP STOPALL "STOP ALL" UNSUBSCRIBE CANCEL END QUIT REVOKE
 *                OPTOUT "OPT OUT" OPT-OUT REMOVE ARRET TD
 *      opt-in    START UNSTOP SUBSCRIBE
 *      confirm   YES — an opt-in only when the caller says the sender is
 *                currently opted out; otherwise KEYWORD_NONE
 *      help      HELP INFO
 *    List entries are normalised the same way when the rules are built, so
 *    "opt-out", "Opt Out" and "OPTOUT" each match their own entry.
 *    Repetition is emphasis: the message is also tried with its repeats
 *    folded — its words (split at spaces, each without the punctuation at its
 *    ends) with a word repeated in a row counted once, and a message that is
 *    one phrase of up to 4 words said several times counted as the phrase —
 *    so "STOP STOP STOP", "help? help!" and "opt out opt out" match.
 *
 * 3. Opt-out phrase (FCC "any reasonable means", 47 CFR 64.1200(a)(10)):
 *    otherwise the folded words are an opt-out when they are
 *        [one PREFACE word]  LEAD phrase  [at most 6 TAIL words]
 *    and nothing else, where
 *      LEAD     STOP STOPALL UNSUBSCRIBE OPTOUT REVOKE "OPT OUT" OPT-OUT
 *               "OPT ME OUT" "REMOVE ME" "TAKE ME OFF" "DO NOT TEXT"
 *               "DON'T TEXT" "DONT TEXT" "DO NOT CONTACT"
 *               (unambiguous words and phrases only)
 *      PREFACE  PLEASE PLS PLZ
 *      TAIL     PLEASE PLS PLZ NOW IT ME ALL TEXTING MESSAGING SENDING
 *               CONTACTING CALLING BOTHERING TEXT TEXTS MESSAGE MESSAGES
 *               THANKS THANK YOU THX IMMEDIATELY ASAP RIGHT ANYMORE AGAIN
 *               MY CONSENT FROM YOUR THE THIS LIST NUMBER, and any single-word
 *               LEAD (so "stop stop texting" counts)
 *    So "Stop contacting me", "remove me", "Revoke consent", "unsubscribe
 *    me", "STOP TEXTING ME PLEASE THANK YOU" and "please stop" are opt-outs,
 *    while "Stop by at 5?" and "I want to stop by Friday" (BY is not a tail
 *    word, I is not a preface) are not. The ambiguous words END, CANCEL,
 *    QUIT and REMOVE are not LEAD words: they count only as the whole message
 *    (or REMOVE in "REMOVE ME"), so "End of day works for me", "Cancel my
 *    appointment" and "remove the note from Tuesday" are not opt-outs.
 *
 * Every list can be replaced (struct keyword_config); the defaults are the
 * lists above.
 *
 * Ownership: struct keyword_rules is built by keyword_rules_new() and freed
 * by keyword_rules_free(); it copies what it needs from the config. The word
 * returned by keyword_classify() belongs to the rules.
 */
#ifndef TWOWAYD_KEYWORD_H
#define TWOWAYD_KEYWORD_H

#include <stdbool.h>
#include <stddef.h>

/* Normalised messages longer than this cannot be keywords. */
#define KEYWORD_NORMALIZED_MAX 256
/* Longest list entry, after normalisation. */
#define KEYWORD_ENTRY_MAX 64
#define KEYWORD_TAIL_MAX  6

enum keyword_kind {
        KEYWORD_NONE,
        KEYWORD_OPT_OUT,
        KEYWORD_OPT_IN,
        KEYWORD_HELP,
        _KEYWORD_KIND_MAX,
};

/* Each member is a NULL-terminated array of UTF-8 words or phrases, or NULL
 * for the built-in default. An array holding only NULL makes the list empty. */
struct keyword_config {
        const char *const *opt_out;
        const char *const *opt_in;
        const char *const *opt_in_confirm; /* opt-in only while opted out (YES) */
        const char *const *help;
        const char *const *opt_out_lead; /* phrase rule: the keyword */
        const char *const *preface;      /* phrase rule: allowed word before it */
        const char *const *tail;         /* phrase rule: allowed words after it */
};

struct keyword_rules;

/* config may be NULL (all defaults). -EINVAL when an entry is not valid UTF-8,
 * normalises to nothing or to more than KEYWORD_ENTRY_MAX bytes, appears in two
 * of the whole-message families, is an opt-in, confirm or help entry that the
 * opt-out phrase rule (3) reads as an opt-out, or when a preface/tail entry is
 * more than one word; -ENOMEM. */
int keyword_rules_new(const struct keyword_config *config, struct keyword_rules **ret);
struct keyword_rules *keyword_rules_free(struct keyword_rules *r);

/*
 * Classify utf8_text (NUL-terminated; NULL is KEYWORD_NONE) under rules.
 * sender_opted_out: the sender is currently opted out (enables the confirm
 * list). ret_word may be NULL; otherwise it receives the canonical
 * (normalised) list entry that matched — "STOP" for "stop texting me",
 * "OPT OUT" for "Opt Out" — or NULL for KEYWORD_NONE.
 */
enum keyword_kind keyword_classify(const struct keyword_rules *rules, const char *utf8_text,
                                   bool sender_opted_out, const char **ret_word);

/* Step 1 of the rule into buf (NUL-terminated). Returns the length, -EILSEQ
 * for invalid UTF-8, -ENOBUFS when the result does not fit in size. */
int keyword_normalize(const char *utf8_text, char *buf, size_t size);

const char *keyword_kind_to_string(enum keyword_kind k);

#endif
