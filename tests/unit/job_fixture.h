/*
 * job_fixture.h — for the unit tests of the job steps (job_steps.h): a job
 * environment of real modules on a real loop, with every AWS service a
 * scripted server on 127.0.0.1 (loopback_aws.h), a spool in a temporary
 * directory, a send queue that sends at once, and a driver that only
 * records the verdicts it is handed (job.h, THE DRIVER). A test stores a row, makes a job of it,
 * starts one step and reads the verdict, the requests that reached the server and the spool.
 * cluster_fixture.h builds the tests of cluster mode on the same environment.
 * The dispatcher's test runs the real driver over the same loop, spool and AWS client, with
 * some services answered by servers of its own (job_fixture_setup_routed()).
 *
 * Header-only (static functions), included by one test file at a time.
 */
#ifndef TWOWAYD_TEST_JOB_FIXTURE_H
#define TWOWAYD_TEST_JOB_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "config.h"
#include "job.h"
#include "job_steps.h"
#include "keyword_config.h"
#include "sms_send_queue.h"
#include "spool.h"

#include "loopback_aws.h"
#include "test_files.h"

#define JOB_FIXTURE_WAIT     10.0 /* seconds a step may take on loopback */
#define JOB_FIXTURE_VERDICTS 16
#define JOB_FIXTURE_SENDER   "+14255550123"
#define JOB_FIXTURE_NUMBER   "+18005550199"

struct job_fixture {
        struct ev_loop *loop;
        struct scripted_server server;
        struct loopback_aws l;
        char dir[64];
        struct spool *spool;
        struct config config;
        struct job_env env;
        unsigned next_msg;
        ev_timer wake; /* see job_fixture_wake_cb() */

        /* What the driver was handed, in order. */
        struct job_verdict verdicts[JOB_FIXTURE_VERDICTS];
        enum job_step steps[JOB_FIXTURE_VERDICTS];
        size_t n_verdicts;
};

static inline struct job_fixture *job_fixture_of(struct job *j)
{
        return (struct job_fixture *)(void *)((char *)j->env - offsetof(struct job_fixture, env));
}

/* The driver: record, decide nothing. */
static inline void job_fixture_drive(struct job *j, const struct job_verdict *v)
{
        struct job_fixture *f = job_fixture_of(j);

        assert_true(f->n_verdicts < JOB_FIXTURE_VERDICTS);
        assert_int_equal(j->work.kind, JOB_WORK_NONE); /* cleared before the driver */
        f->steps[f->n_verdicts] = j->step;
        f->verdicts[f->n_verdicts++] = *v;
}

/* The spool commits from its prepare watcher, so a put or an import can be
 * answered right before the loop blocks in the same turn, and a test that
 * waits for that answer would wait for the next event. In the daemon the
 * dispatcher's tick is that event; here a short repeating timer. */
static inline void job_fixture_wake_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* The fixture, with the AWS services named in routes answered elsewhere
 * (loopback_aws.h) and every other one by f->server. */
static inline int job_fixture_setup_routed(void **state, const struct loopback_route *routes,
                                           size_t n_routes)
{
        struct job_fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        f->loop = ev_loop_new(EVFLAG_AUTO);
        (void)snprintf(f->dir, sizeof(f->dir), "/tmp/job-test-XXXXXX");
        if (!f->loop || !mkdtemp(f->dir) || scripted_server_start(&f->server) < 0 ||
            loopback_aws_new_routed(f->loop, &f->server, LOOPBACK_ONE_ATTEMPT, routes, n_routes,
                                    &f->l) < 0 ||
            spool_open(f->loop, &(struct spool_options){.dir = f->dir}, &f->spool) < 0)
                return -1;
        ev_timer_init(&f->wake, job_fixture_wake_cb, 0.005, 0.005);
        ev_timer_start(f->loop, &f->wake);
        f->config = (struct config){
                .consent_table = "twowayd-consent",
                .consent_business_days = 10,
                .consent_opt_out_reply = "You are opted out. Reply START to opt back in.",
                .consent_opt_in_reply = "You are opted in. Reply STOP to opt out.",
                .consent_help_reply = "Help: reply STOP to opt out.",
                .agent_id = "AGENT12345",
                .agent_alias_id = "ALIAS12345",
                .agent_timeout_ms = 5000,
                .agent_fallback_reply = "Sorry, we cannot answer right now.",
                .agent_time_zone = "UTC",
                .agent_citations = "no",
                .sms_message_type = "TRANSACTIONAL",
                .sms_max_segments = 3,
                .dedup_ttl_days = 7,
        };
        f->env = (struct job_env){
                .loop = f->loop,
                .config = &f->config,
                .spool = f->spool,
                .aws = f->l.aws,
                .instance = "0123456789abcdef0123456789abcdef:/var/lib/twowayd",
                .drive = job_fixture_drive,
        };
        if (keyword_config_rules(&f->config, &f->env.rules) < 0 ||
            sms_send_queue_new(f->loop, f->l.aws, 1000., &f->env.sendq) < 0)
                return -1;
        *state = f;
        return 0;
}

static inline int job_fixture_setup(void **state)
{
        return job_fixture_setup_routed(state, NULL, 0);
}

static inline int job_fixture_teardown(void **state)
{
        struct job_fixture *f = *state;

        ev_timer_stop(f->loop, &f->wake);
        f->env.sendq = sms_send_queue_free(f->env.sendq);
        keyword_rules_free(f->env.rules);
        business_days_holidays_done(&f->env.holidays);
        f->spool = spool_free(f->spool);
        loopback_aws_free(&f->l);
        scripted_server_stop(&f->server);
        ev_loop_destroy(f->loop);
        (void)remove_tree(f->dir);
        free(f);
        return 0;
}

static inline void job_fixture_put_done(struct spool *s, int r, int64_t id, void *userdata)
{
        assert_int_equal(r, 0);
        *(int64_t *)userdata = id;
}

static inline bool job_fixture_id_set(const void *arg)
{
        return *(const int64_t *)arg != 0;
}

/* Store a message from sender, received at received_at (ms; 0: now), and
 * return its row id (pending). */
static inline int64_t job_fixture_store(struct job_fixture *f, const char *sender, const char *body,
                                        enum spool_class cls, int64_t received_at)
{
        char sns[32], inbound[32];
        int64_t id = 0;

        f->next_msg++;
        (void)snprintf(sns, sizeof(sns), "sns-%u", f->next_msg);
        (void)snprintf(inbound, sizeof(inbound), "in-%u", f->next_msg);
        assert_int_equal(spool_put(f->spool,
                                   &(struct spool_msg){
                                           .sns_message_id = sns,
                                           .inbound_message_id = inbound,
                                           .origination_number = sender,
                                           .destination_number = JOB_FIXTURE_NUMBER,
                                           .body = body,
                                           .raw = "{}",
                                           .received_at = received_at,
                                           .keyword_class = cls,
                                   },
                                   job_fixture_put_done, &id),
                         0);
        assert_true(run_loop_while_not(f->loop, job_fixture_id_set, &id, JOB_FIXTURE_WAIT));
        return id;
}

/* A job of a stored row, claimed as the dispatcher claims it. */
static inline struct job *job_fixture_job_of(struct job_fixture *f, int64_t id)
{
        struct job *j = calloc(1, sizeof(*j));

        assert_non_null(j);
        assert_int_equal(spool_claim(f->spool, id), 0);
        assert_int_equal(spool_get(f->spool, id, &j->row), 0);
        j->env = &f->env;
        (void)snprintf(j->phone, sizeof(j->phone), "%s", j->row->origination_number);
        (void)snprintf(j->spool_id, sizeof(j->spool_id), "%lld", (long long)id);
        (void)snprintf(j->attempt, sizeof(j->attempt), "%u", j->row->attempts + 1);
        return j;
}

static inline struct job *job_fixture_job(struct job_fixture *f, const char *body,
                                          enum spool_class cls)
{
        return job_fixture_job_of(f, job_fixture_store(f, JOB_FIXTURE_SENDER, body, cls, 0));
}

struct job_fixture_wait {
        const struct job_fixture *f;
        size_t n;
};

static inline bool job_fixture_has_verdict(const void *arg)
{
        const struct job_fixture_wait *w = arg;

        return w->f->n_verdicts > w->n;
}

/* Start step on j and run the loop until the driver has its verdict. */
static inline const struct job_verdict *job_fixture_run(struct job_fixture *f, struct job *j,
                                                        void (*step)(struct job *))
{
        struct job_fixture_wait w = {f, f->n_verdicts};

        step(j);
        if (!run_loop_while_not(f->loop, job_fixture_has_verdict, &w, JOB_FIXTURE_WAIT))
                fail_msg("no verdict from step %s", job_step_to_string(j->step));
        assert_int_equal(f->n_verdicts, w.n + 1); /* exactly once */
        return &f->verdicts[w.n];
}

static inline void job_fixture_script(struct job_fixture *f, const struct scripted_reply *r,
                                      size_t n)
{
        scripted_server_script(&f->server, r, n);
}

/* The JSON body of the i-th recorded request (the caller json_decref()s). */
static inline json_t *job_fixture_request_json(struct job_fixture *f, size_t i)
{
        json_t *j;

        assert_true(i < scripted_server_count(&f->server));
        j = json_loads(f->server.requests[i].body, 0, NULL);
        if (!j)
                fail_msg("request %zu is not JSON: %s", i, f->server.requests[i].body);
        return j;
}

/* The X-Amz-Target of the i-th recorded request, e.g. DynamoDB_20120810.GetItem. */
static inline const char *job_fixture_target(struct job_fixture *f, size_t i)
{
        const char *t;

        assert_true(i < scripted_server_count(&f->server));
        t = recorded_header(&f->server.requests[i], "X-Amz-Target");
        return t ? t : "";
}

/* The row as the spool has it now (the caller spool_row_free()s). */
static inline struct spool_row *job_fixture_row(struct job_fixture *f, int64_t id)
{
        struct spool_row *row = NULL;

        assert_int_equal(spool_get(f->spool, id, &row), 0);
        return row;
}

/* DynamoDB's answers, as a scripted reply. */
#define DDB_JSON "application/x-amz-json-1.0"
#define DDB_OK(json)                                                                               \
        (struct scripted_reply)                                                                    \
        {                                                                                          \
                .status = 200, .content_type = DDB_JSON, .body = (json)                            \
        }
/* Followed by the rest of the object: ",\"Item\":{...}}" or "}". */
#define DDB_CONDITION_FAILED                                                                       \
        "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","        \
        "\"message\":\"The conditional request failed\""
#define DDB_CONFLICT                                                                               \
        (struct scripted_reply)                                                                    \
        {                                                                                          \
                .status = 400, .content_type = DDB_JSON, .body = DDB_CONDITION_FAILED "}"          \
        }
#define DDB_NOT_FOUND                                                                              \
        (struct scripted_reply)                                                                    \
        {                                                                                          \
                .status = 400, .content_type = DDB_JSON,                                           \
                .body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#"                          \
                        "ResourceNotFoundException\",\"message\":\"Requested resource not "        \
                        "found\"}"                                                                 \
        }

#endif
