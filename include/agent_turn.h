/*
 * agent_turn.h — one agent turn as the dispatcher takes it: the request built
 * from the config and the spooled message, the answer made into the text to
 * send, the events counted, and the end of a session on opt-out.
 *
 * The dispatcher's agent step is the only user. It keeps the AGENT TURNS rule
 * of agent.h: before each InvokeAgent it asks agent_turn_decide() with the
 * row's agent_calls and agent_streamed, records spool_agent_calling(), and
 * records spool_agent_streamed() from the stream-start callback.
 *
 * Fixed clock for tests: builds with TWOWAYD_UNIT_TEST read the Unix time of
 * the date attributes from TWOWAYD_TEST_NOW when it is set; other builds
 * always use the real clock.
 */
#ifndef TWOWAYD_AGENT_TURN_H
#define TWOWAYD_AGENT_TURN_H

#include <stddef.h>
#include <time.h>

#include "agent.h"
#include "config.h"

struct ev_loop;
struct aws_client;
struct spool_row;
struct agent_turns;

/* Storage the params point into; lives as long as the call's start. */
struct agent_turn_request {
        struct agent_attr attrs[CONFIG_ATTRS_MAX];
        char session[AGENT_SESSION_ID_MAX + 1];
        struct agent_params params;
};

/* Fill req->params for asking about row under c at now (the loop's time).
 * -EINVAL when the sender's number gives no session id. The params borrow
 * from c, row and req. */
int agent_turn_request_init(struct agent_turn_request *req, const struct config *c,
                            const struct spool_row *row, time_t now);

/* The text to send for an answer: the agent's text, with the citations
 * appended under [agent] citations = append. malloc'd; NULL on OOM. */
char *agent_turn_answer_text(const struct config *c, const struct agent_result *res);

/* The action group named by a returnControl payload's first invocation input. */
const char *agent_turn_action_group(const json_t *return_control);

/* Count the events of one call in /metrics (twowayd_agent_events_total{type}:
 * chunk, attribution, returnControl, files, trace, unknown, exception). */
void agent_turn_count_events(struct agent_turns *t, const struct agent_result *res);
void agent_turn_count_return_control(struct agent_turns *t, const char *outcome);

/*
 * RETURN OF CONTROL. An action group that returns control sends its
 * invocation to the application; with [agent] return_control_url set, twowayd
 * POSTs it there as JSON (Content-Type application/json):
 *   {"invocationId": ..., "invocationInputs": [... as the agent sent them ...],
 *    "inboundMessageId": ..., "sessionId": ..., "originationNumber": ...,
 *    "destinationNumber": ...}
 * and expects 2xx with {"returnControlInvocationResults": [...]}: 1-5 members,
 * each an object with exactly one of apiResult or functionResult (an object
 * with a string actionGroup), which go back to the agent as they are, with
 * the invocationId, in the next InvokeAgent of the same session. One attempt,
 * on a fresh connection, bounded by [agent] timeout_ms; never repeated (the
 * action may have run: deduplicate on inboundMessageId and invocationId).
 *
 * agent_turn_return_control(): if it returns an error, cb is never called;
 * otherwise exactly once, from the loop: r == 0 with the results (borrowed,
 * valid during cb), or r < 0 with why. agent_webhook_cancel() completes it
 * with -ECANCELED.
 */
struct agent_webhook;
typedef void (*agent_webhook_cb)(int r, json_t *results, const char *why, void *userdata);

int agent_turn_return_control(struct agent_turns *t, const struct config *c,
                              const struct spool_row *row, const json_t *return_control,
                              agent_webhook_cb cb, void *userdata, struct agent_webhook **ret);
void agent_webhook_cancel(struct agent_webhook *w);

/* Check webhook results against the model (pure): 0 or -EINVAL with why. */
int agent_turn_check_results(const json_t *results, char *why, size_t size);

/* Metrics of the agent turns, and the HTTP client of the return-of-control
 * handler (the AWS client's). */
int agent_turns_new(struct ev_loop *loop, struct aws_client *aws, struct agent_turns **ret);
struct agent_turns *agent_turns_free(struct agent_turns *t); /* NULL-safe; returns NULL */

/* The endSession call for the sender of row, so that a later START begins a
 * fresh conversation: no input text, no date, bounded by
 * AGENT_TURN_END_SESSION_TIMEOUT_MS, since the opt-out confirmation waits for
 * it (the sender's next message cannot overtake it). */
#define AGENT_TURN_END_SESSION_TIMEOUT_MS 5000
int agent_turn_end_session_request(struct agent_turn_request *req, const struct config *c,
                                   const struct spool_row *row);

#endif
