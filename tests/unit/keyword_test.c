/*
 * keyword_test.c — the TCPA/CTIA keyword classifier: a table of real-world
 * replies (each row: text, sender opted out?, expected kind, expected word),
 * the normaliser, and custom rule sets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "common.h"
#include "keyword.h"

struct row {
        const char *text;
        bool opted_out;
        enum keyword_kind kind;
        const char *word; /* NULL for KEYWORD_NONE */
};

#define OUT(t, w)                                                                                  \
        {                                                                                          \
                t, false, KEYWORD_OPT_OUT, w                                                       \
        }
#define IN(t, w)                                                                                   \
        {                                                                                          \
                t, false, KEYWORD_OPT_IN, w                                                        \
        }
#define HELP(t, w)                                                                                 \
        {                                                                                          \
                t, false, KEYWORD_HELP, w                                                          \
        }
#define NONE(t)                                                                                    \
        {                                                                                          \
                t, false, KEYWORD_NONE, NULL                                                       \
        }
#define IN_OPTED(t, w)                                                                             \
        {                                                                                          \
                t, true, KEYWORD_OPT_IN, w                                                         \
        }
#define NONE_OPTED(t)                                                                              \
        {                                                                                          \
                t, true, KEYWORD_NONE, NULL                                                        \
        }

static const struct row rows[] = {
        /* Whole-message opt-outs, every default word. */
        OUT("STOP", "STOP"),
        OUT("stop", "STOP"),
        OUT("Stop", "STOP"),
        OUT("sToP", "STOP"),
        OUT("Stop.", "STOP"),
        OUT(" stop ", "STOP"),
        OUT("STOP!!", "STOP"),
        OUT("STOP!!!", "STOP"),
        OUT("stop?", "STOP"),
        OUT("Stop,", "STOP"),
        OUT("stop;", "STOP"),
        OUT("stop:", "STOP"),
        OUT("\"STOP\"", "STOP"),
        OUT("'stop'", "STOP"),
        OUT("*STOP*", "STOP"),
        OUT("(stop)", "STOP"),
        OUT("STOP ! ! !", "STOP"),
        OUT("\tSTOP\r\n", "STOP"),
        OUT("\n\nstop\n", "STOP"),
        OUT("\xc2\xa0STOP\xc2\xa0", "STOP"),         /* no-break spaces */
        OUT("\xe3\x80\x80STOP\xe2\x80\x83", "STOP"), /* ideographic space, em space */
        OUT("\xef\xbb\xbfSTOP", "STOP"),             /* byte-order mark */
        OUT("ST\xe2\x80\x8bOP", "STOP"),             /* zero-width space inside */
        OUT("\xe2\x80\x9cStop\xe2\x80\x9d", "STOP"), /* curly quotes */
        OUT("Stop\xe2\x80\xa6", "STOP"),             /* trailing ellipsis */
        OUT("\xc2\xa1STOP!", "STOP"),                /* inverted exclamation */
        OUT("\xef\xbc\xb3\xef\xbc\xb4\xef\xbc\xaf\xef\xbc\xb0", "STOP"), /* full-width */
        OUT("\xef\xbd\x93\xef\xbd\x94\xef\xbd\x8f\xef\xbd\x90\xef\xbc\x81",
            "STOP"), /* ｓｔｏｐ！ */
        OUT("STOPALL", "STOPALL"),
        OUT("stopall", "STOPALL"),
        OUT("Stop All", "STOP ALL"),
        OUT("STOP   ALL", "STOP ALL"),
        OUT("stop all.", "STOP ALL"),
        OUT("UNSUBSCRIBE", "UNSUBSCRIBE"),
        OUT("Unsubscribe.", "UNSUBSCRIBE"),
        OUT("CANCEL", "CANCEL"),
        OUT("cancel", "CANCEL"),
        OUT("Cancel!", "CANCEL"),
        OUT("END", "END"),
        OUT("end.", "END"),
        OUT("QUIT", "QUIT"),
        OUT("Quit", "QUIT"),
        OUT("REVOKE", "REVOKE"),
        OUT("revoke", "REVOKE"),
        OUT("OPTOUT", "OPTOUT"),
        OUT("optout", "OPTOUT"),
        OUT("OPT OUT", "OPT OUT"),
        OUT("Opt Out", "OPT OUT"),
        OUT("opt  out", "OPT OUT"),
        OUT("OPT-OUT", "OPT-OUT"),
        OUT("opt-out", "OPT-OUT"),
        OUT("Opt-Out.", "OPT-OUT"),
        OUT("opt\xe2\x80\x93out", "OPT-OUT"), /* en dash */
        OUT("opt\xe2\x80\x90out", "OPT-OUT"), /* Unicode hyphen */
        OUT("REMOVE", "REMOVE"),
        OUT("remove", "REMOVE"),
        OUT("ARRET", "ARRET"),
        OUT("arret", "ARRET"),
        OUT("ARR\xc3\x8aT", "ARRET"), /* ARRÊT */
        OUT("arr\xc3\xaat", "ARRET"), /* arrêt */
        OUT("TD", "TD"),
        OUT("td", "TD"),

        /* Phrase rule: unambiguous keyword + a short polite or emphatic tail. */
        OUT("Stop texting me", "STOP"),
        OUT("stop texting me!", "STOP"),
        OUT("stop messaging me", "STOP"),
        OUT("stop please", "STOP"),
        OUT("Stop, please.", "STOP"),
        OUT("STOP PLEASE!!!", "STOP"),
        OUT("please stop", "STOP"),
        OUT("Please stop!", "STOP"),
        OUT("pls stop", "STOP"),
        OUT("stop it", "STOP"),
        OUT("Stop it!", "STOP"),
        OUT("stop it now", "STOP"),
        OUT("stop now", "STOP"),
        OUT("stop now please", "STOP"),
        OUT("stop right now", "STOP"),
        OUT("stop sending me texts", "STOP"),
        OUT("stop sending messages", "STOP"),
        OUT("STOP STOP STOP", "STOP"),
        OUT("stop. stop.", "STOP"),
        OUT("stop thanks", "STOP"),
        OUT("Stop thank you", "STOP"),
        OUT("stop asap", "STOP"),
        OUT("Stop immediately!", "STOP"),
        OUT("stop texting", "STOP"),
        OUT("please stop texting me", "STOP"),
        OUT("unsubscribe me", "UNSUBSCRIBE"),
        OUT("Unsubscribe me please", "UNSUBSCRIBE"),
        OUT("please unsubscribe me", "UNSUBSCRIBE"),
        OUT("unsubscribe now", "UNSUBSCRIBE"),
        OUT("optout please", "OPTOUT"),
        OUT("opt out please", "OPT OUT"),
        OUT("Opt-out me", "OPT-OUT"),
        OUT("revoke it", "REVOKE"),
        OUT("stopall please", "STOPALL"),
        OUT("\xef\xbc\xb3\xef\xbc\xb4\xef\xbc\xaf\xef\xbc\xb0 please", "STOP"),
        OUT("please stop texting me now please", "STOP"),       /* preface + 4 tail words */
        OUT("stop please please please please please", "STOP"), /* repeats fold */
        OUT("please please stop", "STOP"),
        NONE("stop texting me now please thank you all"), /* 7 tail words */
        NONE("please thanks stop"),                       /* one preface word only */

        /* Ordinary sentences that only start like a keyword. */
        NONE("End of day works for me"),
        NONE("end of story"),
        NONE("Cancel my appointment"),
        NONE("cancel please"), /* ambiguous word: whole message only */
        NONE("please cancel"),
        NONE("quit smoking tips?"),
        NONE("Quit it"),
        NONE("remove it"), /* ambiguous word: whole message, or REMOVE ME */
        NONE("Remove the old address"),
        NONE("Stop by at 5?"),
        NONE("stop by tomorrow"),
        NONE("Stop, I need to reschedule"),
        NONE("Don't stop"),
        NONE("I want to stop"),
        NONE("stop me if you can"),
        NONE("stop texting me about the sale but keep reminders"), /* tail too long */
        NONE("Stopped by earlier"),
        NONE("stopping"),
        NONE("STOPS"),
        NONE("Stop \xf0\x9f\x9b\x91"), /* emoji is not stripped */
        NONE("st op"),
        NONE("S T O P"),
        NONE("unsubscribed"),
        NONE("please"),
        NONE("me"),
        NONE("texting me"),
        NONE("TDS"),
        NONE("Tdk"),
        NONE("opt"),
        NONE("out"),
        NONE("Hi, can I reschedule?"),
        NONE("Thanks!"),
        NONE(""),
        NONE("   "),
        NONE("!!!"),
        NONE("\xf0\x9f\x91\x8d"),
        NONE("STOP\xff"), /* invalid UTF-8 is never a keyword */
        NONE("ST\xc0\xafOP"),

        /* Opt-in. */
        IN("START", "START"),
        IN("start", "START"),
        IN("Start.", "START"),
        IN("UNSTOP", "UNSTOP"),
        IN("unstop", "UNSTOP"),
        IN("Subscribe", "SUBSCRIBE"),
        IN("SUBSCRIBE!", "SUBSCRIBE"),
        IN_OPTED("START", "START"),
        NONE("start over"),
        NONE("Start time?"),
        NONE("subscribe me"),

        /* YES only counts when the sender is opted out. */
        IN_OPTED("yes", "YES"),
        IN_OPTED("YES", "YES"),
        IN_OPTED("Yes!", "YES"),
        IN_OPTED(" yes. ", "YES"),
        NONE("yes"),
        NONE("YES"),
        NONE("Yes!"),
        NONE_OPTED("yes please"),
        NONE_OPTED("yesterday"),
        NONE_OPTED("Yes, but later"),

        /* Help. */
        HELP("HELP", "HELP"),
        HELP("help", "HELP"),
        HELP("HELP?", "HELP"),
        HELP("Help!", "HELP"),
        HELP("help ?", "HELP"),
        HELP("\xc2\xbfhelp?", "HELP"),
        HELP("info", "INFO"),
        HELP("INFO", "INFO"),
        HELP("Info.", "INFO"),
        {"help", true, KEYWORD_HELP, "HELP"},
        NONE("help me"),
        NONE("I need help with my order"),
        NONE("more info please"),
        NONE("information"),

        /* Issue 11: invisible characters, decomposed accents, look-alike
         * letters, repeats, and the phrasings people use. */
        OUT("\xe2\x80\x8eSTOP", "STOP"),                         /* left-to-right mark */
        OUT("STOP\xe2\x80\x8f", "STOP"),                         /* right-to-left mark */
        OUT("\xe2\x80\x8fStop\xe2\x80\x8e", "STOP"),             /* marks on both sides */
        OUT("ST\xe2\x80\x8eOP", "STOP"),                         /* mark inside */
        OUT("\xe2\x81\xa6STOP\xe2\x81\xa9", "STOP"),             /* bidi isolate */
        OUT("\xe2\x81\xa7stop\xe2\x81\xa9", "STOP"),             /* right-to-left isolate */
        OUT("\xe2\x81\xa8STOP\xe2\x81\xa9", "STOP"),             /* first-strong isolate */
        OUT("\xe2\x80\xaaSTOP\xe2\x80\xac", "STOP"),             /* bidi embedding */
        OUT("\xe2\x80\xaeSTOP\xe2\x80\xac", "STOP"),             /* bidi override */
        OUT("S\xe2\x80\x8dT\xe2\x80\x8dO\xe2\x80\x8dP", "STOP"), /* zero-width joiners */
        OUT("STO\xe2\x80\x8cP", "STOP"),                         /* zero-width non-joiner */
        OUT("STOP\xef\xb8\x8f", "STOP"),                         /* emoji variation selector */
        OUT("Stop\xef\xb8\x8f!", "STOP"),    /* variation selector, then punctuation */
        OUT("S\xcd\x8fTOP", "STOP"),         /* combining grapheme joiner */
        OUT("ST\xe2\x81\xa0OP", "STOP"),     /* word joiner */
        OUT("STO\xc2\xadP", "STOP"),         /* soft hyphen */
        OUT("STOP\xf3\xa0\x81\x81", "STOP"), /* tag character */
        OUT("stop\xe2\x80\x8e texting\xe2\x80\x8d me", "STOP"), /* marks in a phrase */
        HELP("\xe2\x80\x8eHELP\xe2\x80\x8f", "HELP"),           /* marks around help */
        IN("\xe2\x80\x8dSTART", "START"),                       /* joiner before start */
        OUT("ARRE\xcc\x82T", "ARRET"),                          /* decomposed circumflex */
        OUT("arre\xcc\x82t", "ARRET"),                          /* decomposed, small */
        OUT("S\xcc\x81TOP", "STOP"),                            /* stray acute accent */
        OUT("S\xcc\x88T\xcc\x88O\xcc\x88P\xcc\x88", "STOP"),    /* diaereses everywhere */
        OUT("st\xc3\xb6p", "STOP"),                             /* precomposed o with diaeresis */
        OUT("STO\xcc\xa3P", "STOP"),                            /* dot below */
        OUT("\xef\xbc\xa1\xef\xbc\xb2\xef\xbc\xb2\xef\xbc\xa5\xcc\x82\xef\xbc\xb4",
            "ARRET"),                 /* full-width, decomposed */
        IN("STA\xcc\x80RT", "START"), /* grave on start */
        HELP("HE\xcc\x81LP", "HELP"), /* acute on help */
        OUT("\xc3\x9aNS\xc3\x9c"
            "BSCR\xc3\x8d"
            "BE",
            "UNSUBSCRIBE"),                              /* precomposed accents */
        OUT("S\xd0\xa2\xd0\x9e\xd0\xa0", "STOP"),        /* Cyrillic TE, O, ER */
        OUT("\xd0\x85\xd0\xa2\xd0\x9e\xd0\xa0", "STOP"), /* Cyrillic DZE, TE, O, ER */
        OUT("st\xd0\xbep", "STOP"),                      /* Cyrillic small o */
        OUT("s\xd1\x82\xd0\xbe\xd1\x80", "STOP"),        /* Cyrillic small te, o, er */
        OUT("S\xce\xa4\xce\x9f\xce\xa1", "STOP"),        /* Greek TAU, OMICRON, RHO */
        OUT("\xd1\x95t\xce\xbf\xcf\x81", "STOP"),        /* Cyrillic dze, Greek omicron and rho */
        OUT("\xd0\xa1"
            "AN\xd0\xa1"
            "EL",
            "CANCEL"), /* Cyrillic ES */
        OUT("UN\xd0\x85UB\xd0\x85\xd0\xa1RI\xd0\x92"
            "E",
            "UNSUBSCRIBE"),                             /* Cyrillic DZE, ES, VE */
        OUT("\xd0\x95ND", "END"),                       /* Cyrillic IE */
        OUT("QU\xd0\x86T", "QUIT"),                     /* Cyrillic Byelorussian-Ukrainian I */
        OUT("REV\xd0\x9eK\xd0\x95", "REVOKE"),          /* Cyrillic O and IE */
        OUT("\xd0\x9e\xd0\xa0\xd0\xa2 OUT", "OPT OUT"), /* Cyrillic O, ER, TE */
        OUT("\xce\x9f\xce\xa1\xce\xa4\xce\x9fU\xce\xa4", "OPTOUT"), /* Greek capitals */
        OUT("\xd0\x90RR\xd0\x95\xd0\xa2", "ARRET"),                 /* Cyrillic A, IE, TE */
        OUT("\xd0\xa2"
            "D",
            "TD"), /* Cyrillic TE */
        OUT("S\xd0\xa2\xd0\x9e\xd0\xa0 t\xd0\xb5xting m\xd0\xb5",
            "STOP"),                                        /* look-alikes in a phrase */
        OUT("\xd1\x95\xd1\x82\xd0\xbe\xd1\x80", "STOP"),    /* Cyrillic small dze, te, o, er */
        IN("\xd0\x85\xd0\xa2\xd0\x90R\xd0\xa2", "START"),   /* Cyrillic DZE, TE, A */
        IN("UN\xd0\x85\xd0\xa2\xd0\x9e\xd0\xa0", "UNSTOP"), /* Cyrillic in unstop */
        HELP("\xd0\x9d\xd0\x95L\xd0\xa0", "HELP"),          /* Cyrillic EN, IE, ER */
        HELP("\xd0\x86NF\xd0\x9e", "INFO"),                 /* Cyrillic I and O */
        IN_OPTED("\xd0\xa3\xd0\x95\xd0\x85", "YES"),        /* Cyrillic U, IE, DZE */
        OUT("STOP STOP STOP", "STOP"),
        OUT("STOP STOP STOP STOP STOP STOP STOP STOP", "STOP"), /* eight times */
        OUT("stop, stop, stop!", "STOP"),                       /* with punctuation */
        NONE("STOP!STOP"),                                      /* one word, not a repeat */
        OUT("Cancel cancel", "CANCEL"),                         /* an ambiguous word repeated */
        OUT("END END", "END"),
        OUT("opt out opt out", "OPT OUT"), /* a two-word keyword repeated */
        OUT("UNSUBSCRIBE UNSUBSCRIBE", "UNSUBSCRIBE"),
        OUT("stop stop texting me", "STOP"),
        OUT("STOP STOP STOP please", "STOP"),
        HELP("HELP HELP", "HELP"), /* help repeated */
        HELP("help? help!", "HELP"),
        IN("START START", "START"),
        IN_OPTED("yes yes", "YES"),
        OUT("remove remove", "REMOVE"),
        OUT("Stop contacting me", "STOP"),
        OUT("stop contacting me please", "STOP"),
        OUT("remove me", "REMOVE ME"),
        OUT("Remove me!", "REMOVE ME"),
        OUT("please remove me", "REMOVE ME"),
        OUT("remove me from your list", "REMOVE ME"),
        OUT("Remove me from this list please", "REMOVE ME"),
        OUT("Revoke consent", "REVOKE"),
        OUT("revoke my consent", "REVOKE"),
        NONE("I revoke consent"), /* I is not a preface word */
        OUT("unsubscribe me", "UNSUBSCRIBE"),
        OUT("UNSUBSCRIBE ME FROM THIS LIST", "UNSUBSCRIBE"),
        OUT("STOP TEXTING ME PLEASE THANK YOU", "STOP"),
        OUT("Stop texting me, please. Thank you!", "STOP"),
        OUT("stop calling me", "STOP"),
        OUT("stop bothering me", "STOP"),
        OUT("stop texting this number", "STOP"),
        OUT("stop texting me anymore", "STOP"),
        OUT("Opt me out", "OPT ME OUT"),
        OUT("please opt me out", "OPT ME OUT"),
        OUT("take me off your list", "TAKE ME OFF"),
        OUT("Take me off the list please", "TAKE ME OFF"),
        OUT("do not text me", "DO NOT TEXT"),
        OUT("Do not text me again", "DO NOT TEXT"),
        OUT("don't text me", "DON'T TEXT"),
        OUT("Don\xe2\x80\x99t text me anymore", "DON'T TEXT"), /* curly apostrophe */
        OUT("dont text me", "DONT TEXT"),
        OUT("do not contact me", "DO NOT CONTACT"),
        OUT("Stop sending me messages", "STOP"),
        OUT("stop, thanks", "STOP"),
        NONE("Stop by at 5?"),
        NONE("stop by at 5"),
        NONE("Cancel my appointment"),
        NONE("cancel my appointment please"),
        NONE("End of day works for me"),
        NONE("remove the note from Tuesday"),
        NONE("Remove the note from Tuesday, thanks"),
        NONE("I want to stop by Friday"),
        NONE("i want to stop by friday"),
        NONE("Can you stop by Friday?"),
        NONE("Stop at the pharmacy first"),
        NONE("stop the car"),
        NONE("Please stop by"),
        NONE("Don't stop"),
        NONE("Do not stop the delivery"),
        NONE("do not text me before noon"),
        NONE("don't text me, call me"),
        NONE("remove my old address"),
        NONE("Remove my appointment"),
        NONE("remove me from the group chat"),
        NONE("take me off the waitlist? no wait"),
        NONE("Take me to the store"),
        NONE("unsubscribe from what?"),
        NONE("How do I unsubscribe?"),
        NONE("I revoke nothing"),
        NONE("revoke the old key"),
        NONE("Quit it"),
        NONE("quit smoking tips?"),
        NONE("The end"),
        NONE("end of story"),
        NONE("Bus stop is closed"),
        NONE("last stop"),
        NONE("non-stop"),
        NONE("stopwatch"),
        NONE("Stopped by earlier"),
        NONE("S\xd0\xa2\xd0\x9e\xd0\xa0PED"),
        NONE("\xd0\xa1\xd0\xa2\xd0\x9e\xd0\x9f"),
        NONE("Stop \xf0\x9f\x9b\x91"),
        NONE("stop sign broken"),
        NONE("Stop me if you can"),
        NONE("my number is wrong"),
        NONE("thank you"),
        NONE("please"),
        NONE("help me with my order"),
        NONE("Help with billing"),
        NONE("start over"),
        NONE("Start time?"),
        NONE("information please"),
        NONE("yes"),
        NONE("Is it over?"),
        NONE("optimal"),
        NONE("S T O P"),
        NONE("ST OP"),
        NONE("stop stop texting me about the sale"),

        /* Opted-out senders still get the same opt-out answers. */
        {"STOP", true, KEYWORD_OPT_OUT, "STOP"},
        {"stop texting me", true, KEYWORD_OPT_OUT, "STOP"},
        NONE_OPTED("Cancel my appointment"),
};

static void encode_utf8(uint32_t cp, char *out)
{
        if (cp < 0x80)
                out[0] = (char)cp;
        else if (cp < 0x800) {
                out[0] = (char)(0xc0 | (cp >> 6));
                out[1] = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
                out[0] = (char)(0xe0 | (cp >> 12));
                out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[2] = (char)(0x80 | (cp & 0x3f));
        } else {
                out[0] = (char)(0xf0 | (cp >> 18));
                out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
                out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
                out[3] = (char)(0x80 | (cp & 0x3f));
        }
}

static struct keyword_rules *rules_default(void)
{
        struct keyword_rules *r = NULL;

        assert_int_equal(keyword_rules_new(NULL, &r), 0);
        assert_non_null(r);
        return r;
}

static void test_table(void **state)
{
        struct keyword_rules *r = rules_default();
        unsigned bad = 0;

        for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
                const char *word = "unset";
                enum keyword_kind k = keyword_classify(r, rows[i].text, rows[i].opted_out, &word);

                if (k != rows[i].kind || !streq_ptr(word, rows[i].word)) {
                        print_error("row %zu \"%s\" (opted out %d): got %s/%s, want %s/%s\n", i,
                                    rows[i].text, rows[i].opted_out, keyword_kind_to_string(k),
                                    word ? word : "(null)", keyword_kind_to_string(rows[i].kind),
                                    rows[i].word ? rows[i].word : "(null)");
                        bad++;
                }
                /* ret_word is optional. */
                assert_int_equal(keyword_classify(r, rows[i].text, rows[i].opted_out, NULL), k);
        }
        assert_int_equal(bad, 0);
        keyword_rules_free(r);
}

static void test_normalize(void **state)
{
        static const struct {
                const char *in;
                const char *out;
        } cases[] = {
                {"  Stop!!! ", "STOP"},
                {"stop   texting\t\tme", "STOP TEXTING ME"},
                {"\xe2\x80\x9cHello, World!\xe2\x80\x9d", "HELLO, WORLD"},
                {"opt\xe2\x80\x94out", "OPT-OUT"},
                {"caf\xc3\xa9", "CAFE"},
                /* Case folding: Æ to æ (no ASCII form), ß to SS; × kept. */
                {"\xc3\x86sir \xc3\x97 \xc3\x9f", "\xc3\xa6SIR \xc3\x97 SS"},
                {"stop \xf0\x9f\x9b\x91", "STOP \xf0\x9f\x9b\x91"},
                {"\xf0\x9f\x9b\x91 stop", "\xf0\x9f\x9b\x91 STOP"},
                {"a\xe2\x80\x8b"
                 "b",
                 "AB"},
                {"...", ""},
                {"", ""},
                {"x\xe3\x80\x80\xe3\x80\x80y", "X Y"},
                {"\xef\xbc\x88"
                 "stop\xef\xbc\x89",
                 "STOP"}, /* full-width parentheses */
        };
        char buf[KEYWORD_NORMALIZED_MAX + 1];

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                int n = keyword_normalize(cases[i].in, buf, sizeof(buf));

                assert_int_equal(n, (int)strlen(cases[i].out));
                assert_string_equal(buf, cases[i].out);
        }
        assert_int_equal(keyword_normalize("stop\xff", buf, sizeof(buf)), -EILSEQ);
        assert_int_equal(keyword_normalize("\xe2\x80", buf, sizeof(buf)), -EILSEQ);
        assert_int_equal(keyword_normalize("stop", buf, 4), -ENOBUFS);
        assert_int_equal(keyword_normalize("stop", buf, 5), 4);
        assert_int_equal(keyword_normalize(NULL, buf, 5), -EINVAL);
}

/* Normalising twice changes nothing, for every code point alone and between
 * letters (the fuzz target checks the same on random input). */
static void test_normalize_every_code_point(void **state)
{
        static const char *const contexts[][2] = {{"", ""}, {"a", "b"}, {"STOP", ""}};
        unsigned bad = 0;

        for (uint32_t cp = 1; cp <= 0x10ffff; cp++) {
                char c[5] = {0};

                if (cp >= 0xd800 && cp <= 0xdfff)
                        continue;
                encode_utf8(cp, c);
                for (size_t k = 0; k < ARRAY_SIZE(contexts); k++) {
                        char in[32], once[KEYWORD_NORMALIZED_MAX + 1],
                                twice[KEYWORD_NORMALIZED_MAX + 1];
                        int n, m;

                        (void)snprintf(in, sizeof(in), "%s%s%s", contexts[k][0], c, contexts[k][1]);
                        n = keyword_normalize(in, once, sizeof(once));
                        if (n < 0)
                                continue;
                        m = keyword_normalize(once, twice, sizeof(twice));
                        if (m != n || !streq(once, twice)) {
                                if (bad++ < 10)
                                        print_error("U+%04X in \"%s\": \"%s\" then \"%s\"\n",
                                                    (unsigned)cp, in, once, twice);
                        }
                }
        }
        assert_int_equal(bad, 0);
}

/* A long run of punctuation and spaces around a keyword does not hide it
 * (the normalised form is bounded, the input is not), while a long message
 * never is one. */
static void test_long_messages(void **state)
{
        struct keyword_rules *r = rules_default();
        char text[2048];
        const char *w = NULL;

        memset(text, '!', sizeof(text) - 1);
        text[sizeof(text) - 1] = '\0';
        memset(text, ' ', 300);
        memcpy(text + 900, " STOP ", 6);
        assert_int_equal(keyword_classify(r, text, false, &w), KEYWORD_OPT_OUT);
        assert_string_equal(w, "STOP");

        memset(text, ' ', 900);
        text[0] = 'I';
        assert_int_equal(keyword_classify(r, text, false, &w), KEYWORD_NONE);
        assert_null(w);

        memset(text, 'a', sizeof(text) - 1);
        assert_int_equal(keyword_classify(r, text, false, &w), KEYWORD_NONE);
        assert_null(w);
        keyword_rules_free(r);
}

static void test_custom_rules(void **state)
{
        static const char *const opt_out[] = {"stop", "Baja", "Alto", NULL};
        static const char *const opt_in[] = {"Alta", NULL};
        static const char *const help[] = {"Ayuda", NULL};
        static const char *const empty[] = {NULL};
        static const char *const lead[] = {"para", NULL};
        static const char *const tail[] = {"ya", "por", "favor", NULL};
        const struct keyword_config cfg = {
                .opt_out = opt_out,
                .opt_in = opt_in,
                .opt_in_confirm = empty,
                .help = help,
                .opt_out_lead = lead,
                .preface = empty,
                .tail = tail,
        };
        struct keyword_rules *r = NULL;
        const char *w;

        assert_int_equal(keyword_rules_new(&cfg, &r), 0);
        assert_int_equal(keyword_classify(r, "baja", false, &w), KEYWORD_OPT_OUT);
        assert_string_equal(w, "BAJA");
        assert_int_equal(keyword_classify(r,
                                          "\xc2\xa1"
                                          "Alto!",
                                          false, &w),
                         KEYWORD_OPT_OUT);
        assert_string_equal(w, "ALTO");
        assert_int_equal(keyword_classify(r, "Para ya por favor", false, &w), KEYWORD_OPT_OUT);
        assert_string_equal(w, "PARA");
        assert_int_equal(keyword_classify(r, "para el jueves", false, &w), KEYWORD_NONE);
        assert_int_equal(keyword_classify(r,
                                          "\xc2\xbf"
                                          "Ayuda?",
                                          false, &w),
                         KEYWORD_HELP);
        assert_int_equal(keyword_classify(r, "alta", false, &w), KEYWORD_OPT_IN);
        /* Replaced lists do not fall back to the defaults. */
        assert_int_equal(keyword_classify(r, "cancel", false, &w), KEYWORD_NONE);
        assert_int_equal(keyword_classify(r, "HELP", false, &w), KEYWORD_NONE);
        assert_int_equal(keyword_classify(r, "yes", true, &w), KEYWORD_NONE);
        assert_int_equal(keyword_classify(r, "please stop", false, &w), KEYWORD_NONE);
        assert_int_equal(keyword_classify(r, "stop please", false, &w), KEYWORD_NONE);
        assert_int_equal(keyword_classify(r, "stop", false, &w), KEYWORD_OPT_OUT);
        keyword_rules_free(r);

        /* NULL members keep their default. */
        assert_int_equal(keyword_rules_new(&(struct keyword_config){.help = help}, &r), 0);
        assert_int_equal(keyword_classify(r, "ayuda", false, &w), KEYWORD_HELP);
        assert_int_equal(keyword_classify(r, "help", false, &w), KEYWORD_NONE);
        assert_int_equal(keyword_classify(r, "stop please", false, &w), KEYWORD_OPT_OUT);
        keyword_rules_free(r);
}

static void test_invalid_rules(void **state)
{
        static const char *const dup_family[] = {"STOP", "help", NULL};
        static const char *const empty_word[] = {"STOP", "  !! ", NULL};
        static const char *const bad_utf8[] = {"ST\xffOP", NULL};
        static const char *const two_words[] = {"thank you", NULL};
        static const char *const long_phrase[] = {"a b c d e", NULL};
        char long_word[KEYWORD_ENTRY_MAX + 2];
        const char *long_list[] = {long_word, NULL};
        struct keyword_rules *r = (struct keyword_rules *)0x1;

        memset(long_word, 'A', sizeof(long_word) - 1);
        long_word[sizeof(long_word) - 1] = '\0';

        assert_int_equal(keyword_rules_new(&(struct keyword_config){.opt_out = dup_family}, &r),
                         -EINVAL);
        assert_int_equal(keyword_rules_new(&(struct keyword_config){.help = empty_word}, &r),
                         -EINVAL);
        assert_int_equal(keyword_rules_new(&(struct keyword_config){.opt_in = bad_utf8}, &r),
                         -EINVAL);
        assert_int_equal(keyword_rules_new(&(struct keyword_config){.tail = two_words}, &r),
                         -EINVAL);
        assert_int_equal(keyword_rules_new(&(struct keyword_config){.preface = two_words}, &r),
                         -EINVAL);
        assert_int_equal(
                keyword_rules_new(&(struct keyword_config){.opt_out_lead = long_phrase}, &r),
                -EINVAL);
        assert_int_equal(keyword_rules_new(&(struct keyword_config){.opt_out = long_list}, &r),
                         -EINVAL);
        /* An opt-in, confirm or help entry that the opt-out phrase rule reads as
         * an opt-out: the whole-message match would win and hide the opt-out. */
        {
                static const char *const alto[] = {"ALTO", NULL};
                static const char *const stop_in[] = {"START", "stop", NULL};
                static const char *const stop_me[] = {"Stop me!", NULL};
                static const char *const please_stop[] = {"please stop", NULL};
                static const char *const stop_by[] = {"stop by", NULL};

                assert_int_equal(
                        keyword_rules_new(
                                &(struct keyword_config){.opt_out = alto, .opt_in = stop_in}, &r),
                        -EINVAL);
                assert_int_equal(
                        keyword_rules_new(&(struct keyword_config){.opt_in_confirm = stop_me}, &r),
                        -EINVAL);
                assert_int_equal(
                        keyword_rules_new(&(struct keyword_config){.help = please_stop}, &r),
                        -EINVAL);
                /* Not an opt-out phrase ("BY" is no tail word): accepted. */
                r = NULL;
                assert_int_equal(keyword_rules_new(&(struct keyword_config){.help = stop_by}, &r),
                                 0);
                assert_int_equal(keyword_classify(r, "Stop by", true, NULL), KEYWORD_HELP);
                keyword_rules_free(r);
                r = (struct keyword_rules *)0x1;
        }
        assert_ptr_equal(r, (struct keyword_rules *)0x1); /* untouched on failure */
        assert_int_equal(keyword_rules_new(NULL, NULL), -EINVAL);
        assert_null(keyword_rules_free(NULL));

        /* Duplicates inside one list are merged, not refused. */
        {
                static const char *const dups[] = {"stop", "STOP", "Stop.", NULL};

                assert_int_equal(keyword_rules_new(&(struct keyword_config){.opt_out = dups}, &r),
                                 0);
                assert_int_equal(keyword_classify(r, "stop", false, NULL), KEYWORD_OPT_OUT);
                keyword_rules_free(r);
        }
}

static void test_null_inputs(void **state)
{
        struct keyword_rules *r = rules_default();
        const char *w = "unset";

        assert_int_equal(keyword_classify(r, NULL, false, &w), KEYWORD_NONE);
        assert_null(w);
        w = "unset";
        assert_int_equal(keyword_classify(NULL, "STOP", false, &w), KEYWORD_NONE);
        assert_null(w);
        assert_string_equal(keyword_kind_to_string(KEYWORD_OPT_OUT), "opt-out");
        assert_string_equal(keyword_kind_to_string(_KEYWORD_KIND_MAX), "invalid");
        keyword_rules_free(r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),
                cmocka_unit_test(test_normalize),
                cmocka_unit_test(test_normalize_every_code_point),
                cmocka_unit_test(test_long_messages),
                cmocka_unit_test(test_custom_rules),
                cmocka_unit_test(test_invalid_rules),
                cmocka_unit_test(test_null_inputs),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
