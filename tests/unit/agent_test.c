/*
 * agent_test.c — InvokeAgent session ids, request bodies and paths, and the
 * classification of failed calls.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "agent.h"
#include "aws_error.h"
#include "common.h"

#include "aws_error_cases.h"

static void test_session_id(void **state)
{
        static const struct {
                const char *number;
                const char *want;
        } cases[] = {
                {"+14255550123", "p14255550123"},
                {"+442071838750", "p442071838750"},
                {"14255550123", "p14255550123"},
                {"+1 (425) 555-0123", "p1425555-0123"}, /* '-' is allowed, the rest dropped */
                {"+1:425.555_0123", "p1425.555_0123"},  /* never a ':' */
                {"SenderID", "pSenderID"},
        };
        char buf[AGENT_SESSION_ID_MAX + 1];
        char long_number[200];

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                int r = agent_session_id(cases[i].number, buf, sizeof(buf));
                assert_int_equal(r, (int)strlen(cases[i].want));
                assert_string_equal(buf, cases[i].want);
                for (const char *s = buf; *s; s++)
                        assert_non_null(strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                               "abcdefghijklmnopqrstuvwxyz._-",
                                               *s));
        }
        /* Nothing usable: no session. */
        assert_int_equal(agent_session_id("+", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(agent_session_id("", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(agent_session_id(NULL, buf, sizeof(buf)), -EINVAL);
        /* Bounds: the buffer, and the 100-character limit of the API. */
        assert_int_equal(agent_session_id("+14255550123", buf, 5), -ENOBUFS);
        assert_int_equal(agent_session_id("+14255550123", buf, 1), -ENOBUFS);
        memset(long_number, '1', sizeof(long_number) - 1);
        long_number[sizeof(long_number) - 1] = '\0';
        assert_int_equal(agent_session_id(long_number, buf, sizeof(buf)), -ENOBUFS);
        long_number[99] = '\0';
        assert_int_equal(agent_session_id(long_number, buf, sizeof(buf)), 100);
}

static char *dump_body(const struct agent_params *p)
{
        json_t *b = agent_request_body(p);
        char *s;

        assert_non_null(b);
        s = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        json_decref(b);
        return s;
}

static void test_body(void **state)
{
        const struct agent_attr attrs[] = {{"propertyName", "Maple Court"}};
        char *s;

        s = dump_body(&(struct agent_params){.input_text = "Hi \"there\" \xf0\x9f\x98\x80",
                                             .origination = "+14255550123",
                                             .destination = "+18005550199",
                                             .inbound_message_id = "in-1"});
        assert_string_equal(s, "{\"inputText\":\"Hi \\\"there\\\" \\uD83D\\uDE00\","
                               "\"sessionState\":{\"promptSessionAttributes\":{"
                               "\"inboundMessageId\":\"in-1\",\"textedNumber\":\"+18005550199\"},"
                               "\"sessionAttributes\":{"
                               "\"destinationNumber\":\"+18005550199\","
                               "\"inboundMessageId\":\"in-1\","
                               "\"originationNumber\":\"+14255550123\"}}}");
        free(s);

        s = dump_body(&(struct agent_params){.input_text = ""});
        assert_string_equal(s, "{\"inputText\":\"\",\"sessionState\":{\"sessionAttributes\":{}}}");
        free(s);

        /* 2026-12-02 17:30:05 UTC is 09:30 on a Wednesday in Los Angeles (PST). */
        s = dump_body(&(struct agent_params){.input_text = "tomorrow at 2pm?",
                                             .time_zone = "America/Los_Angeles",
                                             .now = 1796232605,
                                             .attrs = attrs,
                                             .n_attrs = 1,
                                             .enable_trace = true});
        assert_string_equal(s, "{\"enableTrace\":true,\"inputText\":\"tomorrow at 2pm?\","
                               "\"sessionState\":{\"promptSessionAttributes\":{"
                               "\"currentDate\":\"2026-12-02\","
                               "\"currentDateTime\":\"2026-12-02T09:30:05-08:00\","
                               "\"currentTime\":\"09:30\",\"propertyName\":\"Maple Court\","
                               "\"timeZone\":\"America/Los_Angeles\",\"weekday\":\"Wednesday\"},"
                               "\"sessionAttributes\":{\"propertyName\":\"Maple Court\"}}}");
        free(s);

        /* Just past midnight in Tokyo is still the day before in UTC. */
        s = dump_body(&(struct agent_params){
                .input_text = "x", .time_zone = "Asia/Tokyo", .now = 1796223600});
        assert_non_null(strstr(s, "\"currentDateTime\":\"2026-12-03T00:00:00+09:00\""));
        assert_non_null(strstr(s, "\"weekday\":\"Thursday\""));
        free(s);

        /* End of a session: no text. Results of returned control: no text either. */
        s = dump_body(&(struct agent_params){.end_session = true, .inbound_message_id = "in-2"});
        assert_string_equal(s, "{\"endSession\":true,\"sessionState\":{"
                               "\"promptSessionAttributes\":{\"inboundMessageId\":\"in-2\"},"
                               "\"sessionAttributes\":{\"inboundMessageId\":\"in-2\"}}}");
        free(s);

        assert_null(agent_request_body(&(struct agent_params){.origination = "+1"}));
        assert_null(agent_request_body(
                &(struct agent_params){.input_text = "x", .time_zone = "Mars/Olympus_Mons"}));
        assert_null(agent_request_body(NULL));
}

static void test_turn_decide(void **state)
{
        (void)state;
        assert_int_equal(agent_turn_decide(0, false), AGENT_TURN_CALL);
        assert_int_equal(agent_turn_decide(1, false), AGENT_TURN_CALL);
        assert_int_equal(agent_turn_decide(2, false), AGENT_TURN_SPENT);
        assert_int_equal(agent_turn_decide(0, true), AGENT_TURN_NO_AGAIN);
        assert_int_equal(agent_turn_decide(1, true), AGENT_TURN_NO_AGAIN);
}

static void test_path(void **state)
{
        char *p = agent_request_path("AGENT12345", "TSTALIASID", "p14255550123");

        assert_string_equal(
                p, "/agents/AGENT12345/agentAliases/TSTALIASID/sessions/p14255550123/text");
        free(p);
        assert_null(agent_request_path("", "A", "s1"));
        assert_null(agent_request_path("A", NULL, "s1"));
        assert_null(agent_request_path("A", "B", ""));
}

/* The service answered status with code as its x-amzn-ErrorType. */
static struct aws_error service_error(long status, const char *code)
{
        return answered_error(status, code, "{\"message\":\"m\"}");
}

static void test_classify(void **state)
{
        struct {
                int r;
                struct aws_error e;
                enum agent_reply_kind want;
                bool throttling;
        } cases[] = {
                {-EREMOTEIO, service_error(429, "ThrottlingException"), AGENT_REPLY_RETRYABLE,
                 true},
                {-EREMOTEIO, service_error(500, "InternalServerException"), AGENT_REPLY_RETRYABLE,
                 false},
                {-EREMOTEIO, service_error(502, "BadGatewayException"), AGENT_REPLY_RETRYABLE,
                 false},
                {-EREMOTEIO, service_error(503, ""), AGENT_REPLY_RETRYABLE, false},
                {-EREMOTEIO, service_error(424, "DependencyFailedException"), AGENT_REPLY_RETRYABLE,
                 false},
                {-EREMOTEIO, service_error(424, "ModelNotReadyException"), AGENT_REPLY_RETRYABLE,
                 false},
                {-EREMOTEIO, service_error(400, "ServiceQuotaExceededException"),
                 AGENT_REPLY_RETRYABLE, true},
                {-EREMOTEIO, service_error(400, "ValidationException"), AGENT_REPLY_PERMANENT,
                 false},
                {-EREMOTEIO, service_error(403, "AccessDeniedException"), AGENT_REPLY_PERMANENT,
                 false},
                {-EREMOTEIO, service_error(404, "ResourceNotFoundException"), AGENT_REPLY_PERMANENT,
                 false},
                {-EREMOTEIO, service_error(409, "ConflictException"), AGENT_REPLY_PERMANENT, false},
                {-EREMOTEIO, service_error(400, ""), AGENT_REPLY_PERMANENT, false},
                {-ETIMEDOUT, local_error(-ETIMEDOUT), AGENT_REPLY_RETRYABLE, false},
                {-ECONNREFUSED, local_error(-ECONNREFUSED), AGENT_REPLY_RETRYABLE, false},
                {-ECONNRESET, local_error(-ECONNRESET), AGENT_REPLY_RETRYABLE, false},
                {-EPIPE, local_error(-EPIPE), AGENT_REPLY_RETRYABLE, false},
                {-EBADMSG, local_error(-EBADMSG), AGENT_REPLY_RETRYABLE, false},
                {-EPROTO, local_error(-EPROTO), AGENT_REPLY_RETRYABLE, false}, /* bad HTTP */
                {-EMSGSIZE, local_error(-EMSGSIZE), AGENT_REPLY_PERMANENT, false},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                bool throttling = !cases[i].throttling;
                enum agent_reply_kind got =
                        agent_classify_failure(cases[i].r, &cases[i].e, &throttling);
                if (got != cases[i].want || throttling != cases[i].throttling)
                        fail_msg("case %zu (%s): got %s/%d, want %s/%d", i, cases[i].e.code,
                                 agent_reply_kind_to_string(got), throttling,
                                 agent_reply_kind_to_string(cases[i].want), cases[i].throttling);
        }
        assert_int_equal(agent_classify_failure(0, NULL, NULL), AGENT_REPLY_ANSWER);
        assert_int_equal(agent_classify_failure(-EIO, NULL, NULL), AGENT_REPLY_PERMANENT);

        /* Errors of the event-stream decoder itself. */
        assert_int_equal(agent_classify_stream_error(-EPIPE), AGENT_REPLY_RETRYABLE);
        assert_int_equal(agent_classify_stream_error(-EBADMSG), AGENT_REPLY_RETRYABLE);
        assert_int_equal(agent_classify_stream_error(-EPROTO), AGENT_REPLY_PERMANENT);
        assert_int_equal(agent_classify_stream_error(-EILSEQ), AGENT_REPLY_PERMANENT);
        assert_int_equal(agent_classify_stream_error(-EMSGSIZE), AGENT_REPLY_PERMANENT);
        assert_int_equal(agent_classify_stream_error(-ENOMEM), AGENT_REPLY_RETRYABLE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_session_id),  cmocka_unit_test(test_body),
                cmocka_unit_test(test_turn_decide), cmocka_unit_test(test_path),
                cmocka_unit_test(test_classify),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
