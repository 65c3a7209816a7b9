/*
 * agent_stream_test.c — the InvokeAgent layer on the event-stream decoder
 * (agent_stream.c): the agent's answer joined from its chunks, citations,
 * returnControl and other events, in-stream exceptions and errors classified,
 * nothing of a partial answer kept once the stream fails, and the limits.
 * Frames come from the independent encoder of eventstream_frames.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "agent_stream.h"
#include "common.h"
#include "eventstream.h"
#include "utf8.h"

#include "eventstream_frames.h"

/* ---- agent layer ------------------------------------------------------------- */

static struct agent_stream *agent(size_t max_answer)
{
        struct agent_stream *s = NULL;

        assert_int_equal(agent_stream_new(0, max_answer, &s), 0);
        return s;
}

/* Feed the whole buffer in slices of step bytes; return the last feed result. */
static int agent_feed(struct agent_stream *s, const struct bytes *b, size_t step)
{
        int r = 0;

        for (size_t i = 0; i < b->n; i += step) {
                r = agent_stream_feed(s, b->p + i, MIN(step, b->n - i));
                if (r != 0)
                        return r;
        }
        return r;
}

static void test_agent_chunk_vector(void **state)
{
        struct bytes v = unhex(chunk_vector);
        struct agent_stream *s = agent(0);
        struct agent_reply rep;

        assert_int_equal(agent_feed(s, &v, v.n), 0);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_ANSWER);
        assert_int_equal(rep.source, AGENT_ERROR_NONE);
        assert_string_equal(rep.text, "Hello");
        assert_int_equal(rep.text_len, 5);
        assert_int_equal(rep.counts.chunks, 1);
        assert_int_equal(agent_stream_finish(s, &rep), -EINVAL); /* once */
        agent_reply_done(&rep);
        agent_reply_done(&rep);
        agent_stream_free(s);
        bytes_done(&v);
}

static void test_agent_exception_vector(void **state)
{
        struct bytes v = unhex(exception_vector);
        struct agent_stream *s = agent(0);
        struct agent_reply rep;

        assert_int_equal(agent_feed(s, &v, 7), 1);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_RETRYABLE);
        assert_true(rep.throttling);
        assert_int_equal(rep.source, AGENT_ERROR_EXCEPTION);
        assert_string_equal(rep.code, "throttlingException");
        assert_string_equal(rep.message, "Rate exceeded");
        assert_null(rep.text);
        agent_stream_free(s);
        bytes_done(&v);
}

/* Several chunks, a UTF-8 character split between two of them, and the
 * other event types in between: counted, not part of the answer. */
static void test_agent_joins_chunks(void **state)
{
        struct bytes b = {0}, h = {0};
        struct agent_stream *s;
        struct agent_reply rep;

        chunk_frame(&b, "Caf\xc3", 4);
        event_headers(&h, "trace");
        frame(&b, &h, "{\"trace\":{}}", 12);
        bytes_done(&h);
        chunk_frame(&b, "\xa9 ", 2);
        event_headers(&h, "returnControl");
        frame(&b, &h, "{\"invocationId\":\"x\"}", 20);
        bytes_done(&h);
        event_headers(&h, "files");
        frame(&b, &h, "{\"files\":[]}", 12);
        bytes_done(&h);
        event_headers(&h, "somethingNew");
        frame(&b, &h, "{}", 2);
        bytes_done(&h);
        chunk_frame(&b, "ouvert \xf0\x9f\x98\x80 ok", 14);
        chunk_json_frame(&b, "{\"attribution\":{\"citations\":[]}}");
        chunk_frame(&b, "", 0);

        for (size_t step = 1; step <= b.n; step += (step < 40 ? 1 : 97)) {
                s = agent(0);
                assert_int_equal(agent_feed(s, &b, step), 0);
                assert_int_equal(agent_stream_finish(s, &rep), 0);
                assert_int_equal(rep.kind, AGENT_REPLY_ANSWER);
                assert_string_equal(rep.text, "Caf\xc3\xa9 ouvert \xf0\x9f\x98\x80 ok");
                assert_int_equal(rep.counts.chunks, 5);
                assert_int_equal(rep.counts.traces, 1);
                assert_int_equal(rep.counts.return_controls, 1);
                assert_int_equal(rep.counts.files, 1);
                assert_int_equal(rep.counts.unknown_events, 1);
                agent_reply_done(&rep);
                agent_stream_free(s);
        }
        bytes_done(&b);
}

/* Citations become links (web URLs, each once, at most three); returnControl
 * is kept for the caller; files are counted. */
static void test_agent_events(void **state)
{
        struct bytes b = {0}, h = {0};
        struct agent_stream *s = agent(0);
        struct agent_reply rep;
        char *links;
        static const char files[] = "{\"files\":[{\"name\":\"a.csv\"},{\"name\":\"b.png\"}]}";
        static const char rc[] =
                "{\"invocationId\":\"inv-1\",\"invocationInputs\":[{\"functionInvocationInput\":"
                "{\"actionGroup\":\"calendar\",\"function\":\"book\"}}]}";
        static const char cited[] =
                "{\"bytes\":\"SGk=\",\"attribution\":{\"citations\":[{\"retrievedReferences\":["
                "{\"location\":{\"type\":\"WEB\",\"webLocation\":{\"url\":\"https://ex.com/a\"}}},"
                "{\"location\":{\"type\":\"S3\",\"s3Location\":{\"uri\":\"s3://b/k\"}}},"
                "{\"location\":{\"type\":\"WEB\",\"webLocation\":{\"url\":\"https://ex.com/a\"}}},"
                "{\"location\":{\"type\":\"CONFLUENCE\",\"confluenceLocation\":"
                "{\"url\":\"https://wiki.ex.com/p\"}}},"
                "{\"location\":{\"type\":\"WEB\",\"webLocation\":{\"url\":\"https://ex.com/c\"}}},"
                "{\"location\":{\"type\":\"WEB\",\"webLocation\":{\"url\":\"https://ex.com/d\"}}}"
                "]}]}}";

        chunk_json_frame(&b, cited);
        event_headers(&h, "files");
        frame(&b, &h, files, strlen(files));
        bytes_done(&h);
        event_headers(&h, "returnControl");
        frame(&b, &h, rc, strlen(rc));
        bytes_done(&h);

        assert_int_equal(agent_feed(s, &b, 5), 0);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_string_equal(rep.text, "Hi");
        assert_int_equal(rep.counts.attributions, 1);
        assert_int_equal(rep.n_files, 2);
        assert_int_equal(rep.n_citations, 3);
        links = agent_reply_citations_text(&rep);
        assert_string_equal(links,
                            " [1] https://ex.com/a [2] https://wiki.ex.com/p [3] https://ex.com/c");
        free(links);
        assert_non_null(rep.return_control);
        assert_string_equal(json_string_value(json_object_get(rep.return_control, "invocationId")),
                            "inv-1");
        agent_reply_done(&rep);
        assert_null(rep.return_control);
        agent_stream_free(s);
        bytes_done(&b);

        /* A returnControl that is not a JSON object cannot be understood. */
        s = agent(0);
        event_headers(&h, "returnControl");
        frame(&b, &h, "[1]", 3);
        bytes_done(&h);
        assert_int_equal(agent_feed(s, &b, b.n), -EPROTO);
        agent_stream_free(s);
        bytes_done(&b);
}

static void test_agent_empty_stream(void **state)
{
        struct agent_stream *s = agent(0);
        struct agent_reply rep;

        assert_int_equal(agent_stream_feed(s, NULL, 0), 0);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_ANSWER);
        assert_string_equal(rep.text, "");
        assert_int_equal(rep.text_len, 0);
        agent_reply_done(&rep);
        agent_stream_free(s);
}

static void test_agent_exception_table(void **state)
{
        static const struct {
                const char *type;
                enum agent_reply_kind kind;
                bool throttling;
        } cases[] = {
                {"throttlingException", AGENT_REPLY_RETRYABLE, true},
                {"serviceQuotaExceededException", AGENT_REPLY_RETRYABLE, true},
                {"internalServerException", AGENT_REPLY_RETRYABLE, false},
                {"dependencyFailedException", AGENT_REPLY_RETRYABLE, false},
                {"badGatewayException", AGENT_REPLY_RETRYABLE, false},
                {"modelNotReadyException", AGENT_REPLY_RETRYABLE, false},
                {"validationException", AGENT_REPLY_PERMANENT, false},
                {"accessDeniedException", AGENT_REPLY_PERMANENT, false},
                {"resourceNotFoundException", AGENT_REPLY_PERMANENT, false},
                {"conflictException", AGENT_REPLY_PERMANENT, false},
                {"somethingBrandNewException", AGENT_REPLY_PERMANENT, false},
                {"", AGENT_REPLY_PERMANENT, false},
                {"ThrottlingException", AGENT_REPLY_RETRYABLE, true},
                {"throttlingExceptionX", AGENT_REPLY_PERMANENT, false},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct bytes b = {0};
                struct agent_stream *s = agent(0);
                struct agent_reply rep;
                bool thr = !cases[i].throttling;

                chunk_frame(&b, "partial", 7);
                exception_frame(&b, cases[i].type, "{\"message\":\"boom\",\"resourceName\":\"x\"}");
                assert_int_equal(agent_feed(s, &b, b.n), 1);
                assert_int_equal(agent_stream_finish(s, &rep), 0);
                assert_int_equal(rep.kind, cases[i].kind);
                assert_int_equal(rep.throttling, cases[i].throttling);
                assert_string_equal(rep.code, cases[i].type);
                assert_string_equal(rep.message, "boom");
                assert_null(rep.text); /* the partial answer is dropped */
                assert_int_equal(rep.counts.chunks, 1);
                assert_int_equal(agent_stream_classify(cases[i].type, &thr), cases[i].kind);
                assert_int_equal(thr, cases[i].throttling);
                agent_stream_free(s);
                bytes_done(&b);
        }
        assert_int_equal(agent_stream_classify(NULL, NULL), AGENT_REPLY_PERMANENT);
        assert_string_equal(agent_reply_kind_to_string(AGENT_REPLY_RETRYABLE), "retryable");
        assert_string_equal(agent_reply_kind_to_string(_AGENT_REPLY_KIND_MAX), "invalid");
}

static void test_agent_exception_odd_payloads(void **state)
{
        static const char *const payloads[] = {NULL, "not json", "{\"message\":42}", "[]"};

        for (size_t i = 0; i < ARRAY_SIZE(payloads); i++) {
                struct bytes b = {0};
                struct agent_stream *s = agent(0);
                struct agent_reply rep;

                exception_frame(&b, "validationException", payloads[i]);
                assert_int_equal(agent_feed(s, &b, b.n), 1);
                assert_int_equal(agent_stream_finish(s, &rep), 0);
                assert_int_equal(rep.kind, AGENT_REPLY_PERMANENT);
                assert_string_equal(rep.code, "validationException");
                assert_string_equal(rep.message, "");
                agent_stream_free(s);
                bytes_done(&b);
        }
}

static void test_agent_error_message(void **state)
{
        struct bytes b = {0};
        struct agent_stream *s = agent(0);
        struct agent_reply rep;
        char longmsg[2000];

        error_frame(&b, "InternalFailure", "something broke");
        assert_int_equal(agent_feed(s, &b, 3), 1);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_PERMANENT);
        assert_int_equal(rep.source, AGENT_ERROR_ERROR);
        assert_string_equal(rep.code, "InternalFailure");
        assert_string_equal(rep.message, "something broke");
        agent_stream_free(s);
        bytes_done(&b);

        /* Known codes classify the same way; a long message is truncated. */
        memset(longmsg, 'm', sizeof(longmsg) - 1);
        longmsg[sizeof(longmsg) - 1] = '\0';
        s = agent(0);
        error_frame(&b, "ThrottlingException", longmsg);
        assert_int_equal(agent_feed(s, &b, b.n), 1);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_RETRYABLE);
        assert_true(rep.throttling);
        assert_int_equal(strlen(rep.message), AGENT_ERROR_MESSAGE_MAX - 1);
        agent_stream_free(s);
        bytes_done(&b);

        /* No code or message headers at all. */
        s = agent(0);
        error_frame(&b, NULL, NULL);
        assert_int_equal(agent_feed(s, &b, b.n), 1);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_PERMANENT);
        assert_string_equal(rep.code, "");
        assert_string_equal(rep.message, "");
        agent_stream_free(s);
        bytes_done(&b);
}

static void test_agent_ignores_after_terminal(void **state)
{
        struct bytes b = {0};
        struct agent_stream *s = agent(0);
        struct agent_reply rep;

        exception_frame(&b, "internalServerException", "{\"message\":\"oops\"}");
        assert_int_equal(agent_feed(s, &b, b.n), 1);
        /* Garbage and a half message afterwards change nothing. */
        assert_int_equal(agent_stream_feed(s, "\xff\xff\xff\xff garbage", 12), 1);
        assert_int_equal(agent_stream_finish(s, &rep), 0);
        assert_int_equal(rep.kind, AGENT_REPLY_RETRYABLE);
        assert_false(rep.throttling);
        assert_string_equal(rep.message, "oops");
        agent_stream_free(s);
        bytes_done(&b);
}

static int agent_run(const struct bytes *b, size_t max_answer, struct agent_reply *rep)
{
        struct agent_stream *s = agent(max_answer);
        int r = agent_feed(s, b, b->n);

        if (r >= 0)
                r = agent_stream_finish(s, rep);
        agent_stream_free(s);
        return r;
}

static void test_agent_bad_answers(void **state)
{
        static const struct {
                const char *raw;
                size_t len;
        } bad_utf8[] = {
                {"\xff", 1},
                {"ok \xc0\xaf", 5},      /* overlong '/' */
                {"\xe0\x80\xaf", 3},     /* overlong, 3 bytes */
                {"\xed\xa0\x80", 3},     /* surrogate */
                {"\xf4\x90\x80\x80", 4}, /* above U+10FFFF */
                {"abc\xe2\x82", 5},      /* cut short at the end */
                {"a\0b", 3},             /* NUL */
                {"\x80", 1},             /* lone continuation */
        };
        struct agent_reply rep;

        for (size_t i = 0; i < ARRAY_SIZE(bad_utf8); i++) {
                struct bytes b = {0};

                chunk_frame(&b, bad_utf8[i].raw, bad_utf8[i].len);
                assert_int_equal(agent_run(&b, 0, &rep), -EILSEQ);
                assert_false(utf8_valid(bad_utf8[i].raw, bad_utf8[i].len, false));
                bytes_done(&b);
        }
        assert_true(utf8_valid("\xf4\x8f\xbf\xbf \xef\xbf\xbd \xc2\x80", 11, false));
}

static void test_agent_bad_chunks(void **state)
{
        static const char *const bad[] = {
                "not json",
                "{\"bytes\":42}",
                "{\"bytes\":\"SGVsbG8\"}",   /* no padding */
                "{\"bytes\":\"SGVsb G8=\"}", /* space inside */
                "{\"bytes\":\"A===\"}",      /* three pads */
                "{\"bytes\":\"SG=k\"}",      /* pad in the middle */
                "{\"bytes\":\"SGk=\\n\"}",   /* trailing newline */
                "{\"bytes\":\"SG-k\"}",      /* base64url alphabet */
                "[\"bytes\"]",
                "",
        };
        struct agent_reply rep;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct bytes b = {0};

                chunk_json_frame(&b, bad[i]);
                assert_int_equal(agent_run(&b, 0, &rep), -EPROTO);
                bytes_done(&b);
        }
}

static void test_agent_protocol_errors(void **state)
{
        struct bytes b = {0}, h = {0};
        struct agent_reply rep;

        /* No :message-type. */
        hdr_str(&h, ":event-type", "chunk");
        frame(&b, &h, "{}", 2);
        assert_int_equal(agent_run(&b, 0, &rep), -EPROTO);
        bytes_done(&b);
        bytes_done(&h);

        /* Unknown :message-type. */
        hdr_str(&h, ":message-type", "surprise");
        frame(&b, &h, "{}", 2);
        assert_int_equal(agent_run(&b, 0, &rep), -EPROTO);
        bytes_done(&b);
        bytes_done(&h);

        /* :message-type that is not a string. */
        hdr_name(&h, ":message-type", 0);
        frame(&b, &h, "{}", 2);
        assert_int_equal(agent_run(&b, 0, &rep), -EPROTO);
        bytes_done(&b);
        bytes_done(&h);
}

static void test_agent_framing_errors(void **state)
{
        struct bytes v = unhex(chunk_vector);
        struct agent_stream *s;
        struct agent_reply rep;

        /* Truncated body. */
        s = agent(0);
        assert_int_equal(agent_stream_feed(s, v.p, v.n - 1), 0);
        assert_int_equal(agent_stream_finish(s, &rep), -EPIPE);
        agent_stream_free(s);

        /* Bad CRC: sticky. */
        v.p[v.n - 2] ^= 1;
        s = agent(0);
        assert_int_equal(agent_stream_feed(s, v.p, v.n), -EBADMSG);
        assert_int_equal(agent_stream_feed(s, v.p, 1), -EBADMSG);
        assert_int_equal(agent_stream_finish(s, &rep), -EBADMSG);
        agent_stream_free(s);
        bytes_done(&v);

        /* Frame over the eventstream limit. */
        assert_int_equal(agent_stream_new(15, 0, &s), -EINVAL);
        assert_int_equal(agent_stream_new(64, 0, &s), 0);
        v = unhex(chunk_vector);
        assert_int_equal(agent_stream_feed(s, v.p, v.n), -EMSGSIZE);
        agent_stream_free(s);
        bytes_done(&v);
}

static void test_agent_answer_limit(void **state)
{
        struct bytes b = {0};
        struct agent_reply rep;

        chunk_frame(&b, "12345", 5);
        chunk_frame(&b, "67890", 5);
        assert_int_equal(agent_run(&b, 10, &rep), 0);
        assert_string_equal(rep.text, "1234567890");
        agent_reply_done(&rep);
        assert_int_equal(agent_run(&b, 9, &rep), -EMSGSIZE);
        bytes_done(&b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_agent_chunk_vector),
                cmocka_unit_test(test_agent_exception_vector),
                cmocka_unit_test(test_agent_joins_chunks),
                cmocka_unit_test(test_agent_events),
                cmocka_unit_test(test_agent_empty_stream),
                cmocka_unit_test(test_agent_exception_table),
                cmocka_unit_test(test_agent_exception_odd_payloads),
                cmocka_unit_test(test_agent_error_message),
                cmocka_unit_test(test_agent_ignores_after_terminal),
                cmocka_unit_test(test_agent_bad_answers),
                cmocka_unit_test(test_agent_bad_chunks),
                cmocka_unit_test(test_agent_protocol_errors),
                cmocka_unit_test(test_agent_framing_errors),
                cmocka_unit_test(test_agent_answer_limit),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
