/*
 * fuzz_sms_text.c — SMS encoding, segment counting, normalisation, shaping.
 *
 * Input: a control byte (max_segments = ctl % 12, so 0 and 11 test the
 * argument check), then UTF-8-ish text. Checks: invalid UTF-8 is refused
 * everywhere and valid UTF-8 nowhere; the shaped text is valid UTF-8, within
 * max_segments, described by ret_info, and either the whole normalised text
 * or a prefix of it followed by "...".
 *
 * The normalised text is the text shaped to SMS_MAX_SEGMENTS when that cannot
 * need a cut: replacement turns one character into at most three units ("…"
 * into "..."), so up to NORM_CHARS_MAX characters always fit in ten UCS-2
 * parts (670 units, less one per part for a surrogate pair kept whole). A
 * GSM-7 text has nothing to replace (every character replaced is outside the
 * GSM alphabet), so up to SMS_MAX_SEGMENTS it comes back as it is.
 */
#include "common.h"
#include "fuzz_common.h"
#include "sms_text.h"

#define NORM_CHARS_MAX 200

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct sms_text_info info, shaped_info, check;
        char *text, *norm = NULL, *shaped = NULL;
        unsigned max_segments;
        size_t len, nlen = 0, slen;
        bool valid, gsm7;
        int r;

        if (size < 1)
                return 0;
        max_segments = data[0] % 12;
        text = fuzz_strndup(data + 1, size - 1);
        len = strlen(text);
        valid = fuzz_utf8_valid(text, len);

        r = sms_text_info(text, &info);
        FUZZ_CHECK(valid ? r == 0 : r == -EILSEQ);
        if (valid) {
                FUZZ_CHECK(info.encoding < _SMS_ENCODING_MAX);
                FUZZ_CHECK((info.chars == 0) == (info.segments == 0));
                FUZZ_CHECK(info.units >= info.chars || info.encoding == SMS_ENCODING_GSM7);
        }

        gsm7 = valid && info.encoding == SMS_ENCODING_GSM7 && info.segments <= SMS_MAX_SEGMENTS;
        if (!valid || info.chars <= NORM_CHARS_MAX || gsm7) {
                struct sms_text_info norm_info;

                r = sms_text_shape(text, SMS_MAX_SEGMENTS, &norm, &norm_info);
                FUZZ_CHECK(valid ? r == 0 : r == -EILSEQ);
                if (r == 0) {
                        nlen = strlen(norm);
                        FUZZ_CHECK(fuzz_utf8_valid(norm, nlen));
                        FUZZ_CHECK(norm_info.units <= 3 * info.chars);
                        FUZZ_CHECK(!gsm7 || streq(norm, text));
                }
        }

        r = sms_text_shape(text, max_segments, &shaped, &shaped_info);
        if (max_segments < 1 || max_segments > SMS_MAX_SEGMENTS) {
                FUZZ_CHECK(r == -EINVAL);
                goto out;
        }
        FUZZ_CHECK(valid ? r == 0 : r == -EILSEQ);
        if (r < 0)
                goto out;
        slen = strlen(shaped);
        FUZZ_CHECK(fuzz_utf8_valid(shaped, slen));
        FUZZ_CHECK(sms_text_info(shaped, &check) == 0);
        FUZZ_CHECK(check.encoding == shaped_info.encoding && check.chars == shaped_info.chars &&
                   check.units == shaped_info.units && check.segments == shaped_info.segments);
        FUZZ_CHECK(shaped_info.segments <= max_segments);
        if (norm && !streq(shaped, norm)) {
                size_t kept = slen - STRLEN(SMS_TRUNCATION_MARK);

                FUZZ_CHECK(slen >= STRLEN(SMS_TRUNCATION_MARK));
                FUZZ_CHECK(streq(shaped + kept, SMS_TRUNCATION_MARK));
                FUZZ_CHECK(kept < nlen && memcmp(shaped, norm, kept) == 0);
        }
out:
        free(shaped);
        free(norm);
        free(text);
        return 0;
}
