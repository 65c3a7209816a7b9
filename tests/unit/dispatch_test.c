/*
 * dispatch_test.c — the dispatcher (dispatch.c): its pure parts (retry
 * delays, the max-age rule, what the driver does with each verdict, the
 * reason a row is closed dead with), then the dispatcher at work on a real
 * loop and spool, with DynamoDB, the agent and SendTextMessage each a
 * scripted server on 127.0.0.1: a sender's messages one at a time and in
 * order, other senders meanwhile, a failing step retried after its delay and
 * then dead, a message past max age, stopping, an opt-out superseding what
 * waits, and rows resumed by their reply state after a restart. What is
 * asserted is what a user would see: rows in the spool, the requests that
 * reached AWS, the log. (The steps are tested each in its own file,
 * job_*_test.c; the splitting of keyword lists in keyword_config_test.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/socket.h>

#include "common.h"
#include "dispatch.h"
#include "eventstream_frames.h"
#include "job_fixture.h"
#include "spool.h"

static void test_retry_delay(void **state)
{
        /* Equal jitter: half fixed, half random. */
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 0, 0.), 500);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 0, 0.999999), 999);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 1, 0.), 1000);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 2, 0.5), 3000);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 5, 0.), 16000);
        /* Capped, however many attempts. */
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 6, 0.), 30000);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 6, 0.999999), 59999);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 1000000, 0.), 30000);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, UINT32_MAX, 0.), 30000);
        /* Monotone in attempts for a fixed r. */
        for (unsigned a = 0; a < 40; a++)
                assert_true(dispatch_retry_delay_ms(10, 3600000, a, 0.3) <=
                            dispatch_retry_delay_ms(10, 3600000, a + 1, 0.3));
        /* Out-of-range r counts as 0; never below 1 ms. */
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 0, -1.), 500);
        assert_int_equal(dispatch_retry_delay_ms(1000, 60000, 0, 1.), 500);
        assert_int_equal(dispatch_retry_delay_ms(0, 0, 0, 0.), 1);
        assert_int_equal(dispatch_retry_delay_ms(1, 1, 3, 0.), 1);
}

static void test_max_age(void **state)
{
        assert_true(dispatch_within_max_age(1000, 1000, 60));
        assert_true(dispatch_within_max_age(1000, 61000, 60));
        assert_false(dispatch_within_max_age(1000, 61001, 60));
        assert_true(dispatch_within_max_age(1795871109000, 1795871109000 + 604800000, 604800));
        assert_false(dispatch_within_max_age(1795871109000, 1795871109001 + 604800000, 604800));
}

/* What the driver does with a verdict: one row per case. */
static void test_verdict_handling(void **state)
{
        static const struct {
                enum job_step step;
                enum job_verdict_kind kind;
                enum job_cause cause;
                enum job_cancel cancel;
                enum job_cause last_cause;
                unsigned rounds;
                bool within_max_age;
                bool sent;
                enum dispatch_action want;
        } cases[] = {
                /* A step that did its work: the next one. */
                {JOB_STEP_CONSENT_READ, JOB_DONE, JOB_CAUSE_NONE, 0, 0, 0, true, false,
                 DISPATCH_NEXT},
                {JOB_STEP_SEND, JOB_DONE, JOB_CAUSE_NONE, 0, 0, 0, false, true, DISPATCH_NEXT},
                /* Dead and superseded are final, whatever the age. */
                {JOB_STEP_SEND, JOB_DEAD, JOB_CAUSE_REPLY_UNKNOWN, 0, 0, 0, true, false,
                 DISPATCH_FINISH_DEAD},
                {JOB_STEP_SEND, JOB_SUPERSEDED, JOB_CAUSE_SUPPRESSED, 0, 0, 0, true, false,
                 DISPATCH_FINISH_SUPERSEDED},
                /* Transient failures: later, within max age. */
                {JOB_STEP_CONSENT_READ, JOB_RETRY, JOB_CAUSE_CONSENT_READ, 0, 0, 0, true, false,
                 DISPATCH_RETRY_LATER},
                {JOB_STEP_AGENT, JOB_RETRY, JOB_CAUSE_AGENT, 0, 0, 0, true, false,
                 DISPATCH_RETRY_LATER},
                /* Past max age: the fallback when the agent was the cause, dead
                 * otherwise (consent unknown: nothing may be sent). */
                {JOB_STEP_AGENT, JOB_RETRY, JOB_CAUSE_AGENT, 0, 0, 0, false, false,
                 DISPATCH_FALLBACK},
                {JOB_STEP_CONSENT_READ, JOB_RETRY, JOB_CAUSE_CONSENT_READ, 0, 0, 0, false, false,
                 DISPATCH_FINISH_DEAD},
                {JOB_STEP_CLAIM, JOB_RETRY, JOB_CAUSE_CLAIM, 0, 0, 0, false, false,
                 DISPATCH_FINISH_DEAD},
                /* A lost compare-and-swap reads again at once, a few rounds. */
                {JOB_STEP_CONSENT_WRITE, JOB_RETRY, JOB_CAUSE_CONSENT_CONFLICT, 0, 0, 1, true,
                 false, DISPATCH_AGAIN},
                {JOB_STEP_CONSENT_WRITE, JOB_RETRY, JOB_CAUSE_CONSENT_CONFLICT, 0, 0, 4, true,
                 false, DISPATCH_AGAIN},
                {JOB_STEP_CONSENT_WRITE, JOB_RETRY, JOB_CAUSE_CONSENT_CONFLICT, 0, 0, 5, true,
                 false, DISPATCH_RETRY_LATER},
                /* A dependency failure is retried once, then the fallback. */
                {JOB_STEP_AGENT, JOB_RETRY, JOB_CAUSE_AGENT_DEPENDENCY, 0, JOB_CAUSE_NONE, 0, true,
                 false, DISPATCH_RETRY_LATER},
                {JOB_STEP_AGENT, JOB_RETRY, JOB_CAUSE_AGENT_DEPENDENCY, 0, JOB_CAUSE_AGENT, 0, true,
                 false, DISPATCH_RETRY_LATER},
                {JOB_STEP_AGENT, JOB_RETRY, JOB_CAUSE_AGENT_DEPENDENCY, 0,
                 JOB_CAUSE_AGENT_DEPENDENCY, 0, true, false, DISPATCH_FALLBACK},
                /* Cancelled to supersede: superseded, unless the reply went out. */
                {JOB_STEP_AGENT, JOB_CANCELLED, JOB_CAUSE_NONE, JOB_CANCEL_SUPERSEDE, 0, 0, true,
                 false, DISPATCH_FINISH_SUPERSEDED},
                {JOB_STEP_AGENT, JOB_DONE, JOB_CAUSE_NONE, JOB_CANCEL_SUPERSEDE, 0, 0, true, false,
                 DISPATCH_FINISH_SUPERSEDED},
                {JOB_STEP_AGENT, JOB_RETRY, JOB_CAUSE_AGENT, JOB_CANCEL_SUPERSEDE, 0, 0, false,
                 false, DISPATCH_FINISH_SUPERSEDED},
                {JOB_STEP_SEND, JOB_DONE, JOB_CAUSE_NONE, JOB_CANCEL_SUPERSEDE, 0, 0, true, true,
                 DISPATCH_FINISH_DONE},
                /* Stopping: a reply not sent goes back to pending. */
                {JOB_STEP_SEND, JOB_CANCELLED, JOB_CAUSE_NONE, JOB_CANCEL_STOP, 0, 0, true, false,
                 DISPATCH_FINISH_PENDING},
                {JOB_STEP_SEND, JOB_DONE, JOB_CAUSE_NONE, JOB_CANCEL_STOP, 0, 0, true, true,
                 DISPATCH_FINISH_DONE},
                /* Shutting down: the row stays in progress, whatever came back. */
                {JOB_STEP_SEND, JOB_DONE, JOB_CAUSE_NONE, JOB_CANCEL_SHUTDOWN, 0, 0, true, true,
                 DISPATCH_DROP},
                {JOB_STEP_AGENT, JOB_CANCELLED, JOB_CAUSE_NONE, JOB_CANCEL_SHUTDOWN, 0, 0, true,
                 false, DISPATCH_DROP},
                /* [cluster] Another instance has the sender, or had earlier
                 * messages of theirs: wait, past max age too, never the fallback. */
                {JOB_STEP_CLAIM, JOB_RETRY, JOB_CAUSE_LEASE_HELD, 0, 0, 0, true, false,
                 DISPATCH_RETRY_LATER},
                {JOB_STEP_CLAIM, JOB_RETRY, JOB_CAUSE_LEASE_HELD, 0, 0, 0, false, false,
                 DISPATCH_RETRY_LATER},
                {JOB_STEP_CLAIM, JOB_RETRY, JOB_CAUSE_CLUSTER_ORDER, 0, 0, 0, false, false,
                 DISPATCH_RETRY_LATER},
                {JOB_STEP_SEND, JOB_RETRY, JOB_CAUSE_LEASE_HELD, 0, 0, 0, false, false,
                 DISPATCH_RETRY_LATER},
                /* [cluster] The table unreachable: like the [dedup] claim. */
                {JOB_STEP_CLAIM, JOB_RETRY, JOB_CAUSE_CLUSTER, 0, 0, 0, true, false,
                 DISPATCH_RETRY_LATER},
                {JOB_STEP_CLAIM, JOB_RETRY, JOB_CAUSE_CLUSTER, 0, 0, 0, false, false,
                 DISPATCH_FINISH_DEAD},
                /* [cluster] The lease went elsewhere: back to pending, unless sent. */
                {JOB_STEP_AGENT, JOB_CANCELLED, JOB_CAUSE_NONE, JOB_CANCEL_LEASE_LOST, 0, 0, true,
                 false, DISPATCH_FINISH_PENDING},
                {JOB_STEP_SEND, JOB_DONE, JOB_CAUSE_NONE, JOB_CANCEL_LEASE_LOST, 0, 0, true, true,
                 DISPATCH_FINISH_DONE},
                /* Cancelled with no reason given: a failure like any other. */
                {JOB_STEP_AGENT, JOB_CANCELLED, JOB_CAUSE_NONE, 0, 0, 0, true, false,
                 DISPATCH_RETRY_LATER},
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct job_verdict v = {.kind = cases[i].kind, .cause = cases[i].cause};
                struct dispatch_decision_in in = {
                        .step = cases[i].step,
                        .verdict = &v,
                        .cancel = cases[i].cancel,
                        .last_cause = cases[i].last_cause,
                        .rounds = cases[i].rounds,
                        .within_max_age = cases[i].within_max_age,
                        .sent = cases[i].sent,
                };
                enum dispatch_action got = dispatch_decide(&in);

                if (got != cases[i].want)
                        fail_msg("case %zu: action %d, want %d (enum dispatch_action)", i, (int)got,
                                 (int)cases[i].want);
        }
}

static enum spool_state row_state(struct spool *s, int64_t id, char *last_error, size_t size)
{
        struct spool_row *row = NULL;
        enum spool_state st;

        assert_int_equal(spool_get(s, id, &row), 0);
        st = row->state;
        (void)snprintf(last_error, size, "%s", row->last_error ? row->last_error : "");
        spool_row_free(row);
        return st;
}

/* A dead verdict without a detail (a step that could not format one) still
 * closes its row: spool_dead() refuses an empty reason, and a refused close
 * would leave the row in progress, tried again at every tick. */
static void test_dead_without_detail(void **state)
{
        char dir[] = "/tmp/dispatch-test-XXXXXX";
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct spool *s = NULL;
        struct job_verdict v = {.kind = JOB_DEAD, .cause = JOB_CAUSE_REPLY_UNKNOWN};
        char buf[JOB_DETAIL_MAX], last_error[JOB_DETAIL_MAX];
        const char *reason;
        int64_t id = 0;

        assert_non_null(loop);
        assert_non_null(mkdtemp(dir));
        assert_int_equal(spool_open(loop, &(struct spool_options){.dir = dir}, &s), 0);
        assert_int_equal(spool_put(s,
                                   &(struct spool_msg){
                                           .sns_message_id = "sns-1",
                                           .inbound_message_id = "inb-1",
                                           .origination_number = "+447700900001",
                                           .destination_number = "+447700900000",
                                           .body = "hello",
                                   },
                                   job_fixture_put_done, &id),
                         0);
        for (int i = 0; i < 100 && id == 0; i++)
                ev_run(loop, EVRUN_NOWAIT);
        assert_true(id > 0);
        assert_int_equal(spool_claim(s, id), 0);

        assert_int_equal(spool_dead(s, id, v.detail), -EINVAL);
        assert_int_equal(row_state(s, id, last_error, sizeof(last_error)), SPOOL_STATE_IN_PROGRESS);

        reason = dispatch_dead_reason(&v, buf, sizeof(buf));
        assert_string_equal(reason, "dead (reply_unknown) without a detail");
        assert_int_equal(spool_dead(s, id, reason), 0);
        assert_int_equal(row_state(s, id, last_error, sizeof(last_error)), SPOOL_STATE_DEAD);
        assert_string_equal(last_error, reason);

        /* A detail is the reason as it is. */
        (void)snprintf(v.detail, sizeof(v.detail), "SendTextMessage timed out");
        assert_ptr_equal(dispatch_dead_reason(&v, buf, sizeof(buf)), v.detail);
        for (int k = 0; k < _JOB_VERDICT_MAX; k++)
                for (int c = 0; c < _JOB_CAUSE_MAX; c++) {
                        struct job_verdict empty = {.kind = k, .cause = c};

                        assert_false(isempty(dispatch_dead_reason(&empty, buf, sizeof(buf))));
                }

        spool_free(s);
        ev_loop_destroy(loop);
        (void)remove_tree(dir);
}

/* --- the dispatcher at work ------------------------------------------------------------------ */

#define SENDER_A   "+14255550101"
#define SENDER_B   "+14255550102"
#define SENDER_C   "+14255550103"
#define ANSWER     "We are open 9 to 5."
#define GATE_MAX   8
#define SMS_TARGET "PinpointSMSVoiceV2.SendTextMessage"
#define GET_TARGET "DynamoDB_20120810.GetItem"

/*
 * A gate in front of a scripted server: a listener on 127.0.0.1 whose
 * connections the test hands to the server (MHD_add_connection()) or holds,
 * unanswered, until it opens the gate. A call held there stays in flight for
 * as long as the test likes, with no timer involved. Every reply of a gated
 * server closes its connection, so each call comes on a connection of its own
 * and passes the gate.
 */
struct gate {
        struct scripted_server *server;
        int fd;
        ev_io io;
        unsigned hold; /* connections still to hold */
        int held[GATE_MAX];
        size_t n_held;
        char url[64];
};

static void gate_pass(struct gate *g, int c)
{
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);

        if (getpeername(c, (struct sockaddr *)&sa, &len) < 0 ||
            MHD_add_connection(g->server->mhd, c, (struct sockaddr *)&sa, len) != MHD_YES)
                close(c);
}

static void gate_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        struct gate *g = w->data;
        int c;

        while ((c = accept4(g->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                if (g->hold > 0 && g->n_held < GATE_MAX) {
                        g->hold--;
                        g->held[g->n_held++] = c;
                } else
                        gate_pass(g, c);
        }
}

static int gate_open(struct gate *g, struct scripted_server *server)
{
        g->server = server;
        g->fd = silent_listener(g->url, sizeof(g->url));
        if (g->fd < 0 || fcntl(g->fd, F_SETFL, O_NONBLOCK) < 0)
                return -1;
        ev_io_init(&g->io, gate_cb, g->fd, EV_READ);
        g->io.data = g;
        return 0;
}

/* Hold the next n calls. */
static void gate_hold(struct gate *g, unsigned n)
{
        g->hold = n;
}

/* Hand the held calls to the server, in the order they came. */
static void gate_release(struct gate *g)
{
        for (size_t i = 0; i < g->n_held; i++)
                gate_pass(g, g->held[i]);
        g->n_held = 0;
        g->hold = 0;
}

/* Close the held calls unanswered (their callers gave up on them). */
static void gate_close(struct ev_loop *loop, struct gate *g)
{
        ev_io_stop(loop, &g->io);
        for (size_t i = 0; i < g->n_held; i++)
                close(g->held[i]);
        g->n_held = 0;
        if (g->fd >= 0)
                close(g->fd);
        g->fd = -1;
}

/* The job fixture's loop, spool and DynamoDB (its server), the agent and
 * SendTextMessage (servers of their own), each behind a gate; the
 * dispatcher's log in a file. */
struct df {
        struct job_fixture *jf;
        struct scripted_server agent, sms;
        struct gate ddb_gate, agent_gate, sms_gate;
        struct bytes answer;
        struct dispatch *d;
        bool stopped;
        char log_path[96];
        int saved_stderr;
};

static struct scripted_reply closing(struct scripted_reply r)
{
        r.headers[0][0] = "Connection";
        r.headers[0][1] = "close";
        return r;
}

/* What server answers to every call (its thread reads it under the lock). */
static void set_fallback(struct scripted_server *server, struct scripted_reply r)
{
        pthread_mutex_lock(&server->lock);
        server->fallback = r;
        pthread_mutex_unlock(&server->lock);
}

/* What the agent answers to every call; before the first one. */
static void df_answer(struct df *f, const char *text)
{
        bytes_done(&f->answer);
        chunk_frame(&f->answer, text, strlen(text));
        set_fallback(&f->agent, closing((struct scripted_reply){
                                        .status = 200,
                                        .content_type = "application/vnd.amazon.eventstream",
                                        .body = (const char *)f->answer.p,
                                        .body_len = f->answer.n,
                                }));
}

static int df_setup(void **state)
{
        struct df *f = calloc(1, sizeof(*f));
        struct loopback_route routes[3] = {{.service = "DYNAMODB"},
                                           {.service = "BEDROCK_AGENT_RUNTIME"},
                                           {.service = "PINPOINT_SMS_VOICE_V2"}};
        void *jf = NULL;
        struct config *c;
        int fd;

        if (!f || scripted_server_start(&f->agent) < 0 || scripted_server_start(&f->sms) < 0 ||
            gate_open(&f->ddb_gate, NULL) < 0 || gate_open(&f->agent_gate, &f->agent) < 0 ||
            gate_open(&f->sms_gate, &f->sms) < 0)
                return -1;
        (void)snprintf(routes[0].url, sizeof(routes[0].url), "%s", f->ddb_gate.url);
        (void)snprintf(routes[1].url, sizeof(routes[1].url), "%s", f->agent_gate.url);
        (void)snprintf(routes[2].url, sizeof(routes[2].url), "%s", f->sms_gate.url);
        if (job_fixture_setup_routed(&jf, routes, ARRAY_SIZE(routes)) < 0)
                return -1;
        f->jf = jf;
        f->ddb_gate.server = &f->jf->server;
        ev_io_start(f->jf->loop, &f->ddb_gate.io);
        ev_io_start(f->jf->loop, &f->agent_gate.io);
        ev_io_start(f->jf->loop, &f->sms_gate.io);
        set_fallback(&f->jf->server, closing(DDB_OK("{}")));
        df_answer(f, ANSWER);
        set_fallback(&f->sms, closing(DDB_OK("{\"MessageId\":\"sms-fallback\"}")));

        c = &f->jf->config;
        c->agent_timeout_ms = 600000; /* a call held at the gate outlasts every wait */
        c->dispatch_concurrency = 4;
        c->dispatch_max_age_s = 3600;
        c->dispatch_retry_initial_ms = 1000;
        c->dispatch_retry_max_ms = 60000;
        c->sms_max_per_second = 1000;
        c->spool_dir = f->jf->dir;

        /* The log, for the events a test waits for or counts. */
        (void)snprintf(f->log_path, sizeof(f->log_path), "%s/log", f->jf->dir);
        fd = open(f->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        f->saved_stderr = dup(STDERR_FILENO);
        if (fd < 0 || f->saved_stderr < 0 || dup2(fd, STDERR_FILENO) < 0)
                return -1;
        close(fd);
        log_setup(LOG_TARGET_JSON);
        *state = f;
        return 0;
}

static int df_teardown(void **state)
{
        struct df *f = *state;
        void *jf = f->jf;
        FILE *fp;
        char line[8192];

        f->d = dispatch_free(f->d);
        /* Back to the real stderr, with what is not a log record (cmocka's
         * messages about a failure), or all of it with TWOWAYD_TEST_LOG set. */
        (void)dup2(f->saved_stderr, STDERR_FILENO);
        close(f->saved_stderr);
        fp = fopen(f->log_path, "re");
        while (fp && fgets(line, sizeof(line), fp))
                if (line[0] != '{' || getenv("TWOWAYD_TEST_LOG"))
                        fputs(line, stderr);
        if (fp)
                fclose(fp);
        gate_close(f->jf->loop, &f->ddb_gate);
        gate_close(f->jf->loop, &f->agent_gate);
        gate_close(f->jf->loop, &f->sms_gate);
        (void)job_fixture_teardown(&jf);
        scripted_server_stop(&f->agent);
        scripted_server_stop(&f->sms);
        bytes_done(&f->answer);
        free(f);
        return 0;
}

static void df_start(struct df *f)
{
        assert_int_equal(
                dispatch_new(f->jf->loop, &f->jf->config, f->jf->spool, f->jf->l.aws, &f->d), 0);
}

static void df_stopped(struct dispatch *d, void *userdata)
{
        struct df *f = userdata;

        assert_false(f->stopped); /* once */
        f->stopped = true;
}

/* The restart of an earlier process: its spool opened again (which puts what
 * it left in progress back), nothing of its dispatcher left. */
static void df_reopen_spool(struct df *f)
{
        f->jf->spool = spool_free(f->jf->spool);
        assert_int_equal(
                spool_open(f->jf->loop, &(struct spool_options){.dir = f->jf->dir}, &f->jf->spool),
                0);
        f->jf->env.spool = f->jf->spool;
}

static int64_t df_store(struct df *f, const char *sender, const char *body)
{
        return job_fixture_store(f->jf, sender, body, SPOOL_CLASS_OTHER, 0);
}

static struct spool_row *df_row(struct df *f, int64_t id)
{
        return job_fixture_row(f->jf, id);
}

/* Log records of event about row id (0: any). */
static unsigned df_logged(struct df *f, const char *event, int64_t id)
{
        char want_event[96], want_id[48], line[8192];
        FILE *fp = fopen(f->log_path, "re");
        unsigned n = 0;

        assert_non_null(fp);
        (void)snprintf(want_event, sizeof(want_event), "\"event\":\"%s\"", event);
        (void)snprintf(want_id, sizeof(want_id), "\"spool_id\":\"%lld\"", (long long)id);
        while (fgets(line, sizeof(line), fp))
                n += strstr(line, want_event) && (id == 0 || strstr(line, want_id));
        fclose(fp);
        return n;
}

/* What a wait-for-condition looks at. */
struct df_wait {
        struct df *f;
        int64_t id;
        enum spool_state state;
};

static bool row_in_state(const void *arg)
{
        const struct df_wait *w = arg;
        struct spool_row *row = df_row(w->f, w->id);
        bool in = row->state == w->state;

        spool_row_free(row);
        return in;
}

static void df_wait_state(struct df *f, int64_t id, enum spool_state state)
{
        struct df_wait w = {f, id, state};

        if (!run_loop_while_not(f->jf->loop, row_in_state, &w, JOB_FIXTURE_WAIT))
                fail_msg("row %lld never became %s", (long long)id, spool_state_to_string(state));
}

static bool gate_holds(const void *arg)
{
        const struct gate *g = arg;

        return g->hold == 0 && g->n_held > 0;
}

/* Run until every call the gate was told to hold is held there. */
static void df_wait_held(struct df *f, struct gate *g)
{
        if (!run_loop_while_not(f->jf->loop, gate_holds, g, JOB_FIXTURE_WAIT))
                fail_msg("the gate holds %zu calls, %u more expected", g->n_held, g->hold);
}

/* Store a message and run until its agent call is in flight, held at the
 * gate (the first agent call since the gate last held any). */
static int64_t df_store_held(struct df *f, const char *sender, const char *body)
{
        int64_t id;

        gate_hold(&f->agent_gate, 1);
        id = df_store(f, sender, body);
        df_wait_held(f, &f->agent_gate);
        return id;
}

/* The JSON member name of the i-th request to server, as a string. */
static void request_member(struct scripted_server *server, size_t i, const char *name, char *buf,
                           size_t size)
{
        json_t *j;

        assert_true(i < scripted_server_count(server));
        j = json_loads(server->requests[i].body, 0, NULL);
        assert_non_null(j);
        (void)snprintf(buf, size, "%s", json_string_value(json_object_get(j, name)) ?: "");
        json_decref(j);
}

static void assert_row(struct df *f, int64_t id, enum spool_state state,
                       enum spool_reply_state reply_state, const char *last_error)
{
        struct spool_row *row = df_row(f, id);

        if (row->state != state || row->reply_state != reply_state)
                fail_msg("row %lld is %s (reply %d), want %s (reply %d)", (long long)id,
                         spool_state_to_string(row->state), row->reply_state,
                         spool_state_to_string(state), reply_state);
        if (last_error)
                assert_string_equal(row->last_error ? row->last_error : "", last_error);
        spool_row_free(row);
}

/* Not yet touched: pending, never attempted, never claimed. */
static void assert_untouched(struct df *f, int64_t id)
{
        struct spool_row *row = df_row(f, id);

        assert_int_equal(row->state, SPOOL_STATE_PENDING);
        assert_int_equal(row->attempts, 0);
        assert_int_equal(row->agent_calls, 0);
        spool_row_free(row);
        assert_int_equal(df_logged(f, "pipeline.received", id), 0);
}

/* A sender's second message waits until the first is answered, while its
 * agent call and then its reply are on the wire: never two at once, never out
 * of order. Other senders are answered meanwhile. */
static void test_one_sender_in_order(void **state)
{
        struct df *f = *state;
        const struct scripted_reply ids[] = {
                closing(DDB_OK("{\"MessageId\":\"sms-1\"}")),
                closing(DDB_OK("{\"MessageId\":\"sms-2\"}")),
                closing(DDB_OK("{\"MessageId\":\"sms-3\"}")),
                closing(DDB_OK("{\"MessageId\":\"sms-4\"}")),
        };
        static const char *const inputs[] = {"b-first", "a-first", "c-first", "a-second"};
        int64_t a1, a2, b1, c1;
        struct spool_row *row;
        char buf[64];

        scripted_server_script(&f->sms, ids, ARRAY_SIZE(ids));
        df_start(f);
        /* The first message's agent call is in flight... */
        a1 = df_store_held(f, SENDER_A, "a-first");
        /* ...and another sender's message is answered meanwhile, not the
         * sender's second. */
        a2 = df_store(f, SENDER_A, "a-second");
        b1 = df_store(f, SENDER_B, "b-first");
        df_wait_state(f, b1, SPOOL_STATE_DONE);
        assert_row(f, a1, SPOOL_STATE_IN_PROGRESS, SPOOL_REPLY_NONE, NULL);
        assert_untouched(f, a2);

        /* The first one's reply on the wire: the second still waits. */
        gate_hold(&f->sms_gate, 1);
        gate_release(&f->agent_gate);
        df_wait_held(f, &f->sms_gate);
        assert_row(f, a1, SPOOL_STATE_IN_PROGRESS, SPOOL_REPLY_SENDING, NULL);
        c1 = df_store(f, SENDER_C, "c-first");
        df_wait_state(f, c1, SPOOL_STATE_DONE);
        assert_untouched(f, a2);

        /* Then the second, after the first. */
        gate_release(&f->sms_gate);
        df_wait_state(f, a2, SPOOL_STATE_DONE);
        assert_row(f, a1, SPOOL_STATE_DONE, SPOOL_REPLY_SENT, NULL);
        row = df_row(f, a1);
        assert_string_equal(row->reply_message_id, "sms-3");
        spool_row_free(row);
        row = df_row(f, a2);
        assert_string_equal(row->reply_message_id, "sms-4");
        spool_row_free(row);
        assert_int_equal(scripted_server_count(&f->agent), ARRAY_SIZE(inputs));
        for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
                request_member(&f->agent, i, "inputText", buf, sizeof(buf));
                assert_string_equal(buf, inputs[i]);
        }
        assert_int_equal(scripted_server_count(&f->sms), 4);
}

/* Two senders are worked on at once: both agent calls are in flight together. */
static void test_senders_in_parallel(void **state)
{
        struct df *f = *state;
        int64_t a1, b1;

        df_start(f);
        gate_hold(&f->agent_gate, 2);
        a1 = df_store(f, SENDER_A, "a-first");
        b1 = df_store(f, SENDER_B, "b-first");
        df_wait_held(f, &f->agent_gate);
        assert_row(f, a1, SPOOL_STATE_IN_PROGRESS, SPOOL_REPLY_NONE, NULL);
        assert_row(f, b1, SPOOL_STATE_IN_PROGRESS, SPOOL_REPLY_NONE, NULL);

        gate_release(&f->agent_gate);
        df_wait_state(f, a1, SPOOL_STATE_DONE);
        df_wait_state(f, b1, SPOOL_STATE_DONE);
        assert_int_equal(scripted_server_count(&f->sms), 2);
}

static size_t requests_to(struct scripted_server *server, const char *target)
{
        size_t n = 0;

        for (size_t i = 0; i < scripted_server_count(server); i++) {
                const char *t = recorded_header(&server->requests[i], "X-Amz-Target");

                n += t && streq(t, target);
        }
        return n;
}

static bool row_attempted(const void *arg)
{
        const struct df_wait *w = arg;
        struct spool_row *row = df_row(w->f, w->id);
        bool attempted = row->attempts > 0;

        spool_row_free(row);
        return attempted;
}

/* The consent table failing: the row goes back to the spool with the
 * configured delay (its cause and error kept), is tried again, and once a
 * retry would land past max age it is dead with the reason. Nothing is sent:
 * consent unknown means nothing may go out. */
static void test_retry_then_dead(void **state)
{
        struct df *f = *state;
        struct df_wait w = {.f = f};
        struct spool_row *row;
        unsigned attempts;

        f->jf->config.dispatch_retry_initial_ms = 500;
        f->jf->config.dispatch_retry_max_ms = 1000;
        f->jf->config.dispatch_max_age_s = 2;
        set_fallback(&f->jf->server,
                     closing((struct scripted_reply){
                             .status = 500,
                             .content_type = DDB_JSON,
                             .body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"
                                     "InternalServerError\",\"message\":\"Internal server error\"}",
                     }));
        w.id = df_store(f, SENDER_A, "hello");
        df_start(f);

        assert_true(run_loop_while_not(f->jf->loop, row_attempted, &w, JOB_FIXTURE_WAIT));
        row = df_row(f, w.id);
        assert_int_equal(row->state, SPOOL_STATE_PENDING);
        assert_int_equal(row->attempts, 1);
        assert_string_equal(row->retry_cause, "consent_read");
        assert_non_null(strstr(row->last_error, "InternalServerError"));
        /* Half the initial delay at least (equal jitter), the initial delay at most. */
        assert_true(row->next_attempt_at >= row->received_at + 250);
        assert_true(row->next_attempt_at <= row->updated_at + 500);
        spool_row_free(row);

        df_wait_state(f, w.id, SPOOL_STATE_DEAD);
        row = df_row(f, w.id);
        attempts = row->attempts;
        assert_true(strncmp(row->last_error, "max age exceeded: ", 18) == 0);
        assert_non_null(strstr(row->last_error, "InternalServerError"));
        spool_row_free(row);
        /* Each attempt read the consent table once; nothing else happened. */
        assert_int_equal(requests_to(&f->jf->server, GET_TARGET), attempts + 1);
        assert_int_equal(df_logged(f, "pipeline.retry", w.id), attempts);
        assert_int_equal(df_logged(f, "pipeline.dead", w.id), 1);
        assert_int_equal(scripted_server_count(&f->agent), 0);
        assert_int_equal(scripted_server_count(&f->sms), 0);
}

/* A message older than max age when it is claimed is not put to the agent
 * any more: the sender gets the fallback reply. */
static void test_past_max_age_gets_the_fallback(void **state)
{
        struct df *f = *state;
        int64_t now = (int64_t)(ev_now(f->jf->loop) * 1000.);
        int64_t id;
        char buf[128];

        f->jf->config.dispatch_max_age_s = 60;
        id = job_fixture_store(f->jf, SENDER_A, "hello", SPOOL_CLASS_OTHER, now - 3600 * 1000);
        df_start(f);
        df_wait_state(f, id, SPOOL_STATE_DONE);
        assert_row(f, id, SPOOL_STATE_DONE, SPOOL_REPLY_SENT, NULL);
        assert_int_equal(scripted_server_count(&f->agent), 0);
        assert_int_equal(scripted_server_count(&f->sms), 1);
        request_member(&f->sms, 0, "MessageBody", buf, sizeof(buf));
        assert_string_equal(buf, f->jf->config.agent_fallback_reply);
        request_member(&f->sms, 0, "DestinationPhoneNumber", buf, sizeof(buf));
        assert_string_equal(buf, SENDER_A);
        assert_int_equal(df_logged(f, "pipeline.max_age", id), 1);
}

static bool answered_both(const void *arg)
{
        struct df *f = ((const struct df_wait *)arg)->f;

        return df_logged(f, "agent.answered", 0) == 2 && scripted_server_count(&f->sms) == 1;
}

/* Stopping: a reply still waiting for its slot is given back at once (the
 * row pending, due now), a reply that went out is recorded, and what is
 * still at work when the dispatcher goes is left in progress; at the next
 * start every one of them is answered, once. */
static void test_stop_gives_back_what_was_not_sent(void **state)
{
        struct df *f = *state;
        char answer[1600];
        int64_t a, b, c, sent, waiting;
        struct spool_row *row;

        /* Ten parts at one part a second: the second reply waits ten seconds. */
        for (size_t i = 0; i + 12 < sizeof(answer); i += 12)
                memcpy(answer + i, "Open daily. ", 13);
        df_answer(f, answer);
        f->jf->config.sms_max_segments = 10;
        f->jf->config.sms_max_per_second = 1;
        df_start(f);
        c = df_store_held(f, SENDER_C, "c-first");
        a = df_store(f, SENDER_A, "a-first");
        b = df_store(f, SENDER_B, "b-first");
        assert_true(run_loop_while_not(f->jf->loop, answered_both, &(struct df_wait){.f = f},
                                       JOB_FIXTURE_WAIT));
        row = df_row(f, a);
        sent = row->reply_state == SPOOL_REPLY_NONE ? b : a;
        waiting = sent == a ? b : a;
        spool_row_free(row);

        dispatch_stop(f->d, df_stopped, f);
        df_wait_state(f, waiting, SPOOL_STATE_PENDING);
        df_wait_state(f, sent, SPOOL_STATE_DONE);
        assert_row(f, waiting, SPOOL_STATE_PENDING, SPOOL_REPLY_NONE,
                   "stopped before the reply was sent");
        row = df_row(f, waiting);
        assert_true(row->next_attempt_at <= (int64_t)(ev_now(f->jf->loop) * 1000.));
        spool_row_free(row);
        assert_row(f, sent, SPOOL_STATE_DONE, SPOOL_REPLY_SENT, NULL);
        assert_row(f, c, SPOOL_STATE_IN_PROGRESS, SPOOL_REPLY_NONE, NULL);
        assert_false(f->stopped); /* c is still at work */

        /* The caller's wait is over: the dispatcher goes, c stays in progress. */
        f->d = dispatch_free(f->d);
        assert_row(f, c, SPOOL_STATE_IN_PROGRESS, SPOOL_REPLY_NONE, NULL);
        assert_int_equal(scripted_server_count(&f->sms), 1);

        /* The next start answers both, once each. */
        df_reopen_spool(f);
        f->jf->config.sms_max_per_second = 1000;
        df_start(f);
        df_wait_state(f, waiting, SPOOL_STATE_DONE);
        df_wait_state(f, c, SPOOL_STATE_DONE);
        assert_row(f, waiting, SPOOL_STATE_DONE, SPOOL_REPLY_SENT, NULL);
        assert_row(f, c, SPOOL_STATE_DONE, SPOOL_REPLY_SENT, NULL);
        assert_int_equal(scripted_server_count(&f->sms), 3);

        /* Nothing at work: a stop is over at once. */
        dispatch_stop(f->d, df_stopped, f);
        assert_true(run_loop_until(f->jf->loop, &f->stopped, JOB_FIXTURE_WAIT));
}

/* An opt-out closes the sender's earlier messages without a reply as soon as
 * it is claimed, before it is recorded: the one waiting in the spool at once,
 * the one at work by cancelling its agent call. Only the confirmation goes
 * out. */
static void test_opt_out_supersedes_earlier(void **state)
{
        struct df *f = *state;
        int64_t a1, a2, stop;
        char buf[128];

        df_start(f);
        a1 = df_store_held(f, SENDER_A, "a-first");
        a2 = df_store(f, SENDER_A, "a-second");
        /* At once: before the opt-out is even recorded (its consent read held). */
        gate_hold(&f->ddb_gate, 1);
        stop = job_fixture_store(f->jf, SENDER_A, "STOP", SPOOL_CLASS_OPT_OUT, 0);
        df_wait_held(f, &f->ddb_gate);
        df_wait_state(f, a2, SPOOL_STATE_SUPERSEDED);
        df_wait_state(f, a1, SPOOL_STATE_SUPERSEDED);
        gate_release(&f->ddb_gate);
        df_wait_state(f, stop, SPOOL_STATE_DONE);

        assert_row(f, a1, SPOOL_STATE_SUPERSEDED, SPOOL_REPLY_NONE,
                   "the sender opted out after this message: no reply");
        assert_row(f, a2, SPOOL_STATE_SUPERSEDED, SPOOL_REPLY_NONE,
                   "the sender opted out after this message: no reply");
        assert_int_equal(df_logged(f, "pipeline.received", a2), 0);
        assert_row(f, stop, SPOOL_STATE_DONE, SPOOL_REPLY_SENT, NULL);
        assert_int_equal(scripted_server_count(&f->sms), 1);
        request_member(&f->sms, 0, "MessageBody", buf, sizeof(buf));
        assert_string_equal(buf, f->jf->config.consent_opt_out_reply);
        /* The agent heard only the end of the session. */
        assert_int_equal(scripted_server_count(&f->agent), 1);
        assert_non_null(strstr(f->agent.requests[0].body, "\"endSession\":true"));
}

/* Rows an earlier process left in progress are taken up by their reply
 * state: one never answered is processed, one whose reply was sent is done
 * without sending, one whose reply may have gone is dead without sending. */
static void test_resumed_by_reply_state(void **state)
{
        struct df *f = *state;
        int64_t a, b, c;
        struct spool_row *row;
        char buf[64];

        a = df_store(f, SENDER_A, "a-first");
        b = df_store(f, SENDER_B, "b-first");
        c = df_store(f, SENDER_C, "c-first");
        assert_int_equal(spool_claim(f->jf->spool, a), 0);
        assert_int_equal(spool_claim(f->jf->spool, b), 0);
        assert_int_equal(spool_claim(f->jf->spool, c), 0);
        assert_int_equal(spool_reply_sending(f->jf->spool, b), 0);
        assert_int_equal(spool_reply_sending(f->jf->spool, c), 0);
        assert_int_equal(spool_reply_sent(f->jf->spool, c, "sms-earlier"), 0);
        df_reopen_spool(f);
        df_start(f);

        df_wait_state(f, a, SPOOL_STATE_DONE);
        df_wait_state(f, b, SPOOL_STATE_DEAD);
        df_wait_state(f, c, SPOOL_STATE_DONE);
        assert_row(f, a, SPOOL_STATE_DONE, SPOOL_REPLY_SENT, NULL);
        assert_row(f, b, SPOOL_STATE_DEAD, SPOOL_REPLY_UNKNOWN,
                   "reply state unknown: not sent again");
        assert_row(f, c, SPOOL_STATE_DONE, SPOOL_REPLY_SENT, NULL);
        row = df_row(f, c);
        assert_string_equal(row->reply_message_id, "sms-earlier");
        spool_row_free(row);
        /* Only the one never answered reached AWS. */
        assert_int_equal(requests_to(&f->jf->server, GET_TARGET), 1);
        assert_int_equal(scripted_server_count(&f->agent), 1);
        assert_int_equal(scripted_server_count(&f->sms), 1);
        request_member(&f->sms, 0, "DestinationPhoneNumber", buf, sizeof(buf));
        assert_string_equal(buf, SENDER_A);
        assert_int_equal(df_logged(f, "pipeline.already_replied", c), 1);
        assert_int_equal(df_logged(f, "pipeline.reply_unknown", b), 1);
}

#define DF_TEST(t) cmocka_unit_test_setup_teardown(t, df_setup, df_teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_retry_delay),
                cmocka_unit_test(test_max_age),
                cmocka_unit_test(test_verdict_handling),
                cmocka_unit_test(test_dead_without_detail),
                DF_TEST(test_one_sender_in_order),
                DF_TEST(test_senders_in_parallel),
                DF_TEST(test_retry_then_dead),
                DF_TEST(test_past_max_age_gets_the_fallback),
                DF_TEST(test_stop_gives_back_what_was_not_sent),
                DF_TEST(test_opt_out_supersedes_earlier),
                DF_TEST(test_resumed_by_reply_state),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
