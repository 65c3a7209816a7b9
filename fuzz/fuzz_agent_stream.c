/*
 * fuzz_agent_stream.c — the InvokeAgent response stream.
 *
 * Input: a control byte (bit 0: repair CRCs; bits 1-2: max_message; bits 3-4:
 * max_answer), four bytes seeding the slice sizes, then the body. The body is
 * fed in input-derived slices. An answer must be valid UTF-8 without NUL,
 * NUL-terminated at text_len and within max_answer; an error reply must carry
 * terminated code and message; failures must be the documented errnos and
 * sticky.
 */
#include "agent_stream.h"
#include "common.h"
#include "fuzz_common.h"
#include "fuzz_frames.h"

static const size_t max_messages[4] = {0, 64, 1024, 65536};
static const size_t max_answers[4] = {0, 1, 16, 300};

static bool documented(int r)
{
        return r == -EBADMSG || r == -EMSGSIZE || r == -EPIPE || r == -EPROTO || r == -EILSEQ ||
               r == -ENOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct agent_stream *s = NULL;
        struct agent_reply rep;
        struct fuzz_slicer slicer;
        size_t max_answer, len, off = 0;
        uint8_t *body;
        int r = 0, ended = 0;

        body = fuzz_stream_input(data, size, &slicer, &len);
        if (!body)
                return 0;
        max_answer = max_answers[(data[0] >> 3) & 3];

        FUZZ_CHECK(agent_stream_new(max_messages[(data[0] >> 1) & 3], max_answer, &s) == 0);
        if (max_answer == 0)
                max_answer = AGENT_STREAM_MAX_ANSWER_DEF;

        while (off < len) {
                size_t slice = fuzz_next_slice(&slicer, len - off);

                r = agent_stream_feed(s, body + off, slice);
                off += slice;
                if (r < 0) {
                        FUZZ_CHECK(documented(r));
                        FUZZ_CHECK(agent_stream_feed(s, body, len) == r);
                        break;
                }
                if (r == 1)
                        ended = 1;
                else
                        FUZZ_CHECK(r == 0 && !ended);
        }

        memset(&rep, 0, sizeof(rep));
        r = agent_stream_finish(s, &rep);
        if (r < 0) {
                FUZZ_CHECK(documented(r));
        } else {
                FUZZ_CHECK(r == 0);
                FUZZ_CHECK(rep.kind < _AGENT_REPLY_KIND_MAX);
                FUZZ_CHECK(memchr(rep.code, '\0', sizeof(rep.code)));
                FUZZ_CHECK(memchr(rep.message, '\0', sizeof(rep.message)));
                if (rep.kind == AGENT_REPLY_ANSWER) {
                        FUZZ_CHECK(!ended);
                        FUZZ_CHECK(rep.text);
                        FUZZ_CHECK(rep.source == AGENT_ERROR_NONE);
                        FUZZ_CHECK(strlen(rep.text) == rep.text_len);
                        FUZZ_CHECK(rep.text_len <= max_answer);
                        FUZZ_CHECK(fuzz_utf8_valid(rep.text, rep.text_len));
                } else {
                        FUZZ_CHECK(ended);
                        FUZZ_CHECK(!rep.text);
                        FUZZ_CHECK(rep.source == AGENT_ERROR_EXCEPTION ||
                                   rep.source == AGENT_ERROR_ERROR);
                        FUZZ_CHECK(agent_stream_classify(rep.code, NULL) == rep.kind);
                }
                /* finish is once only. */
                FUZZ_CHECK(agent_stream_finish(s, &(struct agent_reply){0}) == -EINVAL);
        }
        agent_reply_done(&rep);
        agent_stream_free(s);
        free(body);
        return 0;
}
