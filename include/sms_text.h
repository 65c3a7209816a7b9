/*
 * sms_text.h — SMS encoding, segment counting and shaping of outgoing text.
 *
 * A pure module: no I/O, no clock, no logging. All text in and out is UTF-8.
 *
 * ENCODING. Text whose every character is in the GSM 03.38 default alphabet
 * (basic table, or the extension table: form feed ^ { } \ [ ~ ] | €, which
 * cost two septets: escape + character) is sent as GSM-7; anything else
 * makes the whole message UCS-2 (UTF-16), where a character outside the BMP
 * costs two code units (a surrogate pair). Tab and '`' are not in the GSM
 * alphabet.
 *
 * SEGMENTS. GSM-7: up to 160 septets is one segment, else parts of 153
 * septets (7 octets go to the concatenation header). UCS-2: up to 70 code
 * units is one segment, else parts of 67. An escape pair or a surrogate pair
 * is never split across two parts (real encoders do the same), so a long
 * text with many extension characters or emoji may need one part more than
 * ceil(units / 153) or ceil(units / 67). Empty text is 0 segments.
 *
 * REPLACEMENT. sms_text_shape() first replaces typographic characters with
 * GSM-7 equivalents so that one curly quote does not turn a message into
 * UCS-2 (which would cut a segment from 160 to 70 characters):
 *   ‘ ’ ‚ ‛ ′ ´ ʼ ‹ › `  ->  '         “ ” „ ‟ ″ « »  ->  "
 *   ‐ ‑ ‒ – — ― − •      ->  -         …              ->  ...
 *   tab, U+00A0, U+2000..U+200A, U+202F, U+205F, U+3000 -> space
 *   U+2028, U+2029 -> newline;  U+00AD, U+200B, U+2060, U+FEFF -> removed
 * It is applied always, also when other characters keep the text UCS-2
 * (the result is then a little longer for '…', never shorter; accepted for a
 * single predictable rule).
 *
 * SHAPING. sms_text_shape() normalises, then, if the text needs more than
 * max_segments (1..10), cuts it:
 *   - the cut text plus "..." must fit in max_segments (three ASCII dots,
 *     which are GSM-7; "…" is not, so it is never used);
 *   - both encodings are tried: the longest GSM-7 prefix (which stops before
 *     the first non-GSM character) and the longest UCS-2 prefix; the one
 *     keeping more characters wins (so a lone emoji near the end of a long
 *     text is dropped rather than shrinking the budget to UCS-2);
 *   - if the kept text has a space or newline within its last 20% (counted
 *     in septets or code units), the cut moves back to the last such one and
 *     trailing white space is dropped, so no word is broken;
 *   - otherwise the cut is at a character boundary, never inside a UTF-8
 *     sequence or surrogate pair, and moved back so as not to separate a
 *     character from a following combining mark, variation selector, ZWJ
 *     sequence, skin-tone modifier or flag half.
 *
 * Ownership: returned strings are malloc()ed and owned by the caller.
 */
#ifndef TWOWAYD_SMS_TEXT_H
#define TWOWAYD_SMS_TEXT_H

#include <stddef.h>

#define SMS_GSM7_SINGLE     160
#define SMS_GSM7_PART       153
#define SMS_UCS2_SINGLE     70
#define SMS_UCS2_PART       67
#define SMS_MAX_SEGMENTS    10
#define SMS_TRUNCATION_MARK "..."

enum sms_encoding {
        SMS_ENCODING_GSM7,
        SMS_ENCODING_UCS2,
        _SMS_ENCODING_MAX,
};

struct sms_text_info {
        enum sms_encoding encoding;
        size_t chars;      /* Unicode code points */
        size_t units;      /* septets (GSM-7) or UTF-16 code units (UCS-2) */
        unsigned segments; /* 0 for empty text */
};

/* Encoding, length and segment count of utf8 (NUL-terminated) as it stands.
 * -EILSEQ for invalid UTF-8. */
int sms_text_info(const char *utf8, struct sms_text_info *ret);

/* Septets a code point costs in GSM-7: 1 basic table, 2 extension table,
 * 0 not representable. */
unsigned sms_text_gsm7_cost(unsigned long codepoint);

/* Normalise and cut to at most max_segments (see SHAPING). ret_info may be
 * NULL; it describes the result. -EINVAL for max_segments outside 1..10,
 * -EILSEQ for invalid UTF-8, -ENOMEM. */
int sms_text_shape(const char *utf8, unsigned max_segments, char **ret,
                   struct sms_text_info *ret_info);

#endif
