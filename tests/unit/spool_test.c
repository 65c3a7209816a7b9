/*
 * Unit tests for spool.c: a real SQLite database in a mkdtemp directory and a
 * real libev loop, run a bounded number of iterations. The database is also
 * inspected through a second, independent connection where the spool's own
 * answers would prove nothing.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <ev.h>
#include <sqlite3.h>

#include "common.h"
#include "spool.h"

#include "test_files.h"

struct fixture {
        char dir[64];
        struct ev_loop *loop;
        struct spool *s;
};

struct put_result {
        int calls;
        int r;
        int64_t id;
        bool synchronous; /* called while spool_put() was still running */
};

static bool in_put;
/* Set by teardown: after a failed assertion the results a queued put points
 * at lived on the unwound stack, and spool_free() still completes the put. */
static bool tearing_down;

static void put_cb(struct spool *s, int r, int64_t id, void *userdata)
{
        struct put_result *res = userdata;

        if (tearing_down)
                return;
        res->calls++;
        res->r = r;
        res->id = id;
        if (in_put)
                res->synchronous = true;
}

static int64_t wall_ms(void)
{
        return (int64_t)(ev_time() * 1000.);
}

static double mono_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int open_spool(struct fixture *f, const struct spool_options *extra)
{
        struct spool_options o = extra ? *extra : (struct spool_options){};

        o.dir = f->dir;
        return spool_open(f->loop, &o, &f->s);
}

static void reopen(struct fixture *f)
{
        f->s = spool_free(f->s);
        assert_int_equal(open_spool(f, NULL), 0);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/spool-test-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->loop = ev_loop_new(EVFLAG_AUTO);
        assert_non_null(f->loop);
        assert_int_equal(open_spool(f, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        tearing_down = true;
        spool_free(f->s);
        tearing_down = false;
        in_put = false;
        ev_loop_destroy(f->loop);
        (void)remove_tree(f->dir);
        free(f);
        return 0;
}

/* A second connection on the same file, for checks that do not trust the spool. */
static sqlite3 *raw_open(struct fixture *f)
{
        char path[128];
        sqlite3 *db = NULL;

        snprintf(path, sizeof(path), "%s/spool.db", f->dir);
        assert_int_equal(
                sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                SQLITE_OK);
        return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
        sqlite3_stmt *st = NULL;
        int64_t v;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
}

static int64_t raw_rows(struct fixture *f)
{
        sqlite3 *db = raw_open(f);
        int64_t n = raw_int(db, "SELECT count(*) FROM inbound");

        sqlite3_close(db);
        return n;
}

/* Closes the spool and runs sql on its file through a connection of its
 * own: how a test makes the database an older version would have left. */
static void rewrite_closed(struct fixture *f, const char *sql)
{
        sqlite3 *db;

        f->s = spool_free(f->s);
        db = raw_open(f);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
}

static void run(struct fixture *f, int iterations)
{
        for (int i = 0; i < iterations; i++)
                ev_run(f->loop, EVRUN_NOWAIT);
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        ev_break(loop, EVBREAK_ONE);
}

/* One blocking iteration with a 2 s guard timer; returns the seconds it took.
 * A spool that let the loop sleep with puts queued shows up as ~2 s. */
static double run_once_guarded(struct fixture *f)
{
        ev_timer guard;
        double t0 = mono_s();

        ev_timer_init(&guard, guard_cb, 2.0, 0.);
        ev_timer_start(f->loop, &guard);
        ev_run(f->loop, EVRUN_ONCE);
        ev_timer_stop(f->loop, &guard);
        return mono_s() - t0;
}

static int put(struct fixture *f, const struct spool_msg *m, struct put_result *res)
{
        int r;

        in_put = true;
        r = spool_put(f->s, m, put_cb, res);
        in_put = false;
        return r;
}

/* A message whose ids and sender derive from n and from; strings live in buf. */
struct msg_buf {
        char sns[64], inbound[64], from[32], body[64], raw[160];
        struct spool_msg m;
};

static const struct spool_msg *make_msg(struct msg_buf *b, int n, const char *from,
                                        int64_t received_at)
{
        snprintf(b->sns, sizeof(b->sns), "sns-%04d", n);
        snprintf(b->inbound, sizeof(b->inbound), "inb-%04d", n);
        snprintf(b->from, sizeof(b->from), "%s", from);
        snprintf(b->body, sizeof(b->body), "body %d", n);
        snprintf(b->raw, sizeof(b->raw), "{\"inboundMessageId\":\"inb-%04d\",\"n\":%d}", n, n);
        b->m = (struct spool_msg){
                .sns_message_id = b->sns,
                .inbound_message_id = b->inbound,
                .topic_arn = "arn:aws:sns:eu-west-1:123456789012:inbound",
                .origination_number = b->from,
                .destination_number = "+447700900000",
                .body = b->body,
                .keyword = "HELP",
                .raw = b->raw,
                .received_at = received_at,
        };
        return &b->m;
}

/* Store one message through a full batch and return its id. */
static int64_t store(struct fixture *f, int n, const char *from, int64_t received_at)
{
        struct msg_buf b;
        struct put_result res = {};

        assert_int_equal(put(f, make_msg(&b, n, from, received_at), &res), 0);
        run(f, 1);
        assert_int_equal(res.calls, 1);
        assert_int_equal(res.r, 0);
        assert_true(res.id > 0);
        return res.id;
}

static struct spool_row *get(struct fixture *f, int64_t id)
{
        struct spool_row *row = NULL;

        assert_int_equal(spool_get(f->s, id, &row), 0);
        assert_non_null(row);
        return row;
}

static enum spool_state state_of(struct fixture *f, int64_t id)
{
        struct spool_row *row = get(f, id);
        enum spool_state st = row->state;

        spool_row_free(row);
        return st;
}

/* The ids spool_next_ready() hands out, in order, into ids[]; returns the count. */
static int ready_ids(struct fixture *f, int64_t now, size_t max, int64_t *ids)
{
        struct spool_row **rows = NULL;
        int n = spool_next_ready(f->s, now, max, &rows);

        assert_true(n >= 0);
        assert_non_null(rows);
        for (int i = 0; i < n; i++)
                ids[i] = rows[i]->id;
        assert_null(rows[n]);
        spool_rows_free(rows);
        return n;
}

/* --- open, schema ------------------------------------------------------------------------ */

static void test_open_creates_wal_schema(void **state)
{
        struct fixture *f = *state;
        sqlite3 *db = raw_open(f);
        sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
        sqlite3_finalize(st);

        assert_int_equal(raw_int(db, "PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                     "AND name IN ('inbound_dedup', 'inbound_sender', "
                                     "'sender_heads_order', 'inbound_closed')"),
                         4);
        /* One UNIQUE index: the deduplication key. */
        assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_index_list('inbound') "
                                     "WHERE \"unique\" = 1"),
                         1);
        sqlite3_close(db);
        assert_true(spool_is_writable(f->s));
}

/* Takes a current spool back to the version 1 schema (the table and its two
 * first indexes). */
#define V1_SCHEMA_FROM_CURRENT                                                                     \
        "DROP TRIGGER inbound_head_insert; DROP TRIGGER inbound_head_update; "                     \
        "DROP TRIGGER inbound_head_delete; DROP TRIGGER inbound_count_insert; "                    \
        "DROP TRIGGER inbound_count_delete; DROP TRIGGER inbound_count_update; "                   \
        "DROP TABLE sender_heads; DROP TABLE state_counts; DROP INDEX inbound_dedup; "             \
        "DROP INDEX inbound_closed; ALTER TABLE inbound DROP COLUMN interruptions; "               \
        "ALTER TABLE inbound DROP COLUMN agent_calls; "                                            \
        "ALTER TABLE inbound DROP COLUMN agent_streamed; PRAGMA user_version = 1"

/* A version 1 spool is brought forward with its rows: the sender heads and
 * the counts the later versions keep are filled from them. */
static void test_open_migrates_version_1(void **state)
{
        struct fixture *f = *state;
        struct spool_row **rows = NULL;
        sqlite3 *db;
        int64_t id;

        id = store(f, 1, "+15550000001", 1000);
        rewrite_closed(f, V1_SCHEMA_FROM_CURRENT);

        assert_int_equal(open_spool(f, NULL), 0);
        db = raw_open(f);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sender_heads"), 1);
        assert_int_equal(raw_int(db, "SELECT rows FROM state_counts WHERE state = 'pending'"), 1);
        sqlite3_close(db);
        assert_int_equal(spool_next_ready(f->s, INT64_MAX, 10, &rows), 1);
        assert_int_equal(rows[0]->id, id);
        spool_rows_free(rows);
}

/* Takes a current spool back to the version 3 schema: no agent turn columns. */
#define V3_SCHEMA_FROM_CURRENT                                                                     \
        "ALTER TABLE inbound DROP COLUMN interruptions; "                                          \
        "ALTER TABLE inbound DROP COLUMN agent_calls; "                                            \
        "ALTER TABLE inbound DROP COLUMN agent_streamed; PRAGMA user_version = 3"

/* The agent turn columns: a version 3 row migrates with no call recorded;
 * calls, refusals and the stream start are kept, and a started stream stops
 * further calls being recorded. */
static void test_agent_turn_columns(void **state)
{
        struct fixture *f = *state;
        struct spool_row *row = NULL;
        int64_t id;

        id = store(f, 1, "+15550000001", 1000);
        rewrite_closed(f, V3_SCHEMA_FROM_CURRENT);
        assert_int_equal(open_spool(f, NULL), 0);

        assert_int_equal(spool_agent_calling(f->s, id), -ESTALE); /* not claimed */
        assert_int_equal(spool_claim(f->s, id), 0);
        assert_int_equal(spool_agent_calling(f->s, id), 0);
        assert_int_equal(spool_agent_calling(f->s, id), 0);
        assert_int_equal(spool_agent_refused(f->s, id), 0);
        assert_int_equal(spool_get(f->s, id, &row), 0);
        assert_int_equal(row->agent_calls, 1);
        assert_false(row->agent_streamed);
        row = spool_row_free(row);

        assert_int_equal(spool_agent_streamed(f->s, id), 0);
        assert_int_equal(spool_agent_calling(f->s, id), -ESTALE);
        assert_int_equal(spool_agent_refused(f->s, id), -ESTALE);
        /* A restart keeps both. */
        f->s = spool_free(f->s);
        assert_int_equal(open_spool(f, NULL), 0);
        assert_int_equal(spool_get(f->s, id, &row), 0);
        assert_int_equal(row->agent_calls, 1);
        assert_true(row->agent_streamed);
        assert_int_equal(row->state, SPOOL_STATE_PENDING);
        row = spool_row_free(row);
}

/* A version 2 spool (before keyword classes and the superseded state, whose
 * CHECK constraint did not allow it) is copied into the new table with its
 * rows, which count as 'other'. */
static void test_open_migrates_version_2(void **state)
{
        struct fixture *f = *state;
        struct spool_row *row = NULL, **rows = NULL;
        struct spool_counts counts;
        sqlite3 *db;

        rewrite_closed(f, "DROP TABLE inbound; DROP TABLE sender_heads;"
                          "DROP TABLE state_counts;"
                          "CREATE TABLE inbound (id INTEGER PRIMARY KEY,"
                          " sns_message_id TEXT NOT NULL UNIQUE, inbound_message_id TEXT UNIQUE,"
                          " topic_arn TEXT, origination_number TEXT, destination_number TEXT,"
                          " body TEXT, keyword TEXT, received_at INTEGER NOT NULL,"
                          " state TEXT NOT NULL CHECK (state IN ('pending', 'in_progress',"
                          " 'done', 'dead')), attempts INTEGER NOT NULL DEFAULT 0,"
                          " next_attempt_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
                          " last_error TEXT, reply_state TEXT NOT NULL DEFAULT 'none'"
                          " CHECK (reply_state IN ('none', 'sending', 'sent', 'unknown')),"
                          " reply_message_id TEXT, raw TEXT);"
                          "CREATE INDEX inbound_state_due ON inbound (state, next_attempt_at);"
                          "CREATE INDEX inbound_sender ON inbound (origination_number, state,"
                          " received_at);"
                          "CREATE INDEX inbound_pending_order ON inbound (received_at, id)"
                          " WHERE state = 'pending';"
                          "INSERT INTO inbound (id, sns_message_id, inbound_message_id,"
                          " origination_number, destination_number, body, received_at, state,"
                          " next_attempt_at, updated_at) VALUES (7, 'sns-7', 'in-7',"
                          " '+15550000001', '+18005550199', 'STOP', 1000, 'pending', 0, 0);"
                          "PRAGMA user_version = 2");

        assert_int_equal(open_spool(f, NULL), 0);
        assert_int_equal(spool_next_ready(f->s, INT64_MAX, 10, &rows), 1);
        assert_int_equal(rows[0]->id, 7);
        rows = spool_rows_free(rows);
        assert_int_equal(spool_get(f->s, 7, &row), 0);
        assert_string_equal(row->body, "STOP");
        assert_int_equal(row->keyword_class, SPOOL_CLASS_OTHER);
        assert_int_equal(row->state, SPOOL_STATE_PENDING);
        spool_row_free(row);
        assert_int_equal(spool_supersede(f->s, 7, "opted out"), 0);
        assert_int_equal(spool_get(f->s, 7, &row), 0);
        assert_int_equal(row->state, SPOOL_STATE_SUPERSEDED);
        assert_string_equal(row->last_error, "opted out");
        spool_row_free(row);
        /* The counts and the sender heads follow the new state. */
        assert_int_equal(spool_counts(f->s, &counts), 0);
        assert_int_equal(counts.by_state[SPOOL_STATE_SUPERSEDED], 1);
        assert_int_equal(counts.by_state[SPOOL_STATE_PENDING], 0);
        assert_int_equal(spool_next_ready(f->s, INT64_MAX, 10, &rows), 0);
        spool_rows_free(rows);
        db = raw_open(f);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                     "AND name IN ('inbound_dedup', 'inbound_sender', "
                                     "'sender_heads_order', 'inbound_pending_keywords', "
                                     "'inbound_closed')"),
                         5);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"),
                         6);
        sqlite3_close(db);
}

/* Takes a current spool back to the version 5 table: both ids UNIQUE, the
 * index on (state, next_attempt_at), no deduplication key. Dropping the
 * table drops its triggers, which the migration makes again. */
#define V5_TABLE_FROM_CURRENT                                                                      \
        "ALTER TABLE inbound DROP COLUMN interruptions; "                                          \
        "CREATE TABLE inbound_v5 (id INTEGER PRIMARY KEY,"                                         \
        " sns_message_id TEXT NOT NULL UNIQUE, inbound_message_id TEXT UNIQUE,"                    \
        " topic_arn TEXT, origination_number TEXT, destination_number TEXT, body TEXT,"            \
        " keyword TEXT, received_at INTEGER NOT NULL, state TEXT NOT NULL CHECK (state IN"         \
        " ('pending', 'in_progress', 'done', 'dead', 'superseded')),"                              \
        " attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,"                  \
        " updated_at INTEGER NOT NULL, last_error TEXT, reply_state TEXT NOT NULL DEFAULT 'none'"  \
        " CHECK (reply_state IN ('none', 'sending', 'sent', 'unknown')), reply_message_id TEXT,"   \
        " raw TEXT, agent_calls INTEGER NOT NULL DEFAULT 0,"                                       \
        " agent_streamed INTEGER NOT NULL DEFAULT 0, keyword_class TEXT NOT NULL DEFAULT 'other'"  \
        " CHECK (keyword_class IN ('other', 'opt_out', 'opt_in', 'help')), retry_cause TEXT);"     \
        "INSERT INTO inbound_v5 SELECT * FROM inbound; DROP TABLE inbound;"                        \
        "ALTER TABLE inbound_v5 RENAME TO inbound;"                                                \
        "CREATE INDEX inbound_state_due ON inbound (state, next_attempt_at);"                      \
        "CREATE INDEX inbound_sender ON inbound (origination_number, state, received_at);"         \
        "CREATE INDEX inbound_pending_keywords ON inbound (received_at, id)"                       \
        " WHERE state = 'pending' AND keyword_class <> 'other';"                                   \
        "PRAGMA user_version = 5"

/* A version 5 spool keeps its rows, its states and the duplicates it knew:
 * a redelivery of a stored message, under either id, and of a message stored
 * dead, is still a duplicate; the closed rows are still pruned. */
static void test_open_migrates_version_5(void **state)
{
        struct fixture *f = *state;
        struct spool_msg bad = {
                .sns_message_id = "sns-bad",
                .topic_arn = "arn:aws:sns:eu-west-1:123456789012:inbound",
                .raw = "not json {",
        };
        struct put_result dead = {}, res[3] = {};
        struct spool_counts counts;
        struct spool_msg m[3];
        struct msg_buf b[3];
        int64_t ids[4], pending, closed;
        sqlite3 *db;

        pending = store(f, 1, "+15550000001", 1000);
        closed = store(f, 2, "+15550000002", 1000);
        assert_int_equal(spool_claim(f->s, closed), 0);
        assert_int_equal(spool_done(f->s, closed), 0);
        in_put = true;
        assert_int_equal(spool_put_dead(f->s, &bad, "inner message is not JSON", put_cb, &dead), 0);
        in_put = false;
        run(f, 1);
        assert_int_equal(dead.r, 0);
        f->s = spool_free(f->s);
        db = raw_open(f);
        assert_int_equal(sqlite3_exec(db, V5_TABLE_FROM_CURRENT, NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_index_list('inbound') "
                                     "WHERE \"unique\" = 1"),
                         2);
        sqlite3_close(db);

        assert_int_equal(open_spool(f, NULL), 0);
        db = raw_open(f);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_index_list('inbound') "
                                     "WHERE \"unique\" = 1"),
                         1);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                     "AND name = 'inbound_state_due'"),
                         0);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"),
                         6);
        sqlite3_close(db);
        assert_int_equal(raw_rows(f), 3);
        assert_int_equal(state_of(f, pending), SPOOL_STATE_PENDING);
        assert_int_equal(state_of(f, closed), SPOOL_STATE_DONE);
        assert_int_equal(state_of(f, dead.id), SPOOL_STATE_DEAD);

        m[0] = *make_msg(&b[0], 1, "+15550000001", 1000); /* redelivered */
        m[1] = *make_msg(&b[1], 2, "+15550000002", 1000); /* under a new MessageId */
        m[1].sns_message_id = "sns-again";
        m[2] = *make_msg(&b[2], 3, "+15550000003", 1000); /* new */
        for (int i = 0; i < 3; i++)
                assert_int_equal(put(f, &m[i], &res[i]), 0);
        dead = (struct put_result){};
        assert_int_equal(spool_put_dead(f->s, &bad, "again", put_cb, &dead), 0);
        run(f, 1);
        assert_int_equal(res[0].r, 1);
        assert_int_equal(res[1].r, 1);
        assert_int_equal(res[2].r, 0);
        assert_int_equal(dead.r, 1);
        assert_int_equal(raw_rows(f), 4);

        /* The triggers are back: the sender heads and the counts follow. */
        assert_int_equal(ready_ids(f, INT64_MAX, 16, ids), 2);
        assert_int_equal(ids[0], pending);
        assert_int_equal(ids[1], res[2].id);
        assert_int_equal(spool_counts(f->s, &counts), 0);
        assert_int_equal(counts.by_state[SPOOL_STATE_PENDING], 2);
        assert_int_equal(counts.by_state[SPOOL_STATE_DONE], 1);
        assert_int_equal(counts.by_state[SPOOL_STATE_DEAD], 1);
        assert_int_equal(spool_prune(f->s, wall_ms() + 1000, 100), 1);
        assert_int_equal(raw_rows(f), 3);
}

/* Takes a current spool back to the version 6 table: no count of
 * interruptions. */
#define V6_TABLE_FROM_CURRENT                                                                      \
        "ALTER TABLE inbound DROP COLUMN interruptions; PRAGMA user_version = 6"

/* A version 6 spool gains the count of interruptions, starting from none: a
 * row left in progress by a version 6 daemon counts its first. */
static void test_open_migrates_version_6(void **state)
{
        struct fixture *f = *state;
        int64_t a = store(f, 1, "+15550000001", 1000);
        int64_t b = store(f, 2, "+15550000002", 1000);
        sqlite3 *db;

        assert_int_equal(spool_claim(f->s, a), 0);
        rewrite_closed(f, V6_TABLE_FROM_CURRENT);

        assert_int_equal(open_spool(f, NULL), 0);
        db = raw_open(f);
        assert_int_equal(raw_int(db, "PRAGMA user_version"), SPOOL_SCHEMA_VERSION);
        assert_int_equal(raw_int(db, "SELECT interruptions FROM inbound WHERE id = 1"), 1);
        assert_int_equal(raw_int(db, "SELECT interruptions FROM inbound WHERE id = 2"), 0);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"),
                         6);
        sqlite3_close(db);
        assert_int_equal(a, 1);
        assert_int_equal(b, 2);
        assert_int_equal(state_of(f, a), SPOOL_STATE_PENDING);
        assert_int_equal(state_of(f, b), SPOOL_STATE_PENDING);
}

static void test_open_refuses_newer_or_foreign_database(void **state)
{
        struct fixture *f = *state;
        struct spool_options o = {.dir = "/nonexistent/spool-dir"};
        struct spool *s = NULL;

        rewrite_closed(f, "PRAGMA user_version = 99");
        assert_int_equal(open_spool(f, NULL), -EPROTONOSUPPORT);
        assert_null(f->s);

        rewrite_closed(f, "PRAGMA user_version = 1; PRAGMA application_id = 1234");
        assert_int_equal(open_spool(f, NULL), -EMEDIUMTYPE);

        assert_int_equal(spool_open(f->loop, &o, &s), -ENOENT);
        assert_null(s);
        o.dir = NULL;
        assert_int_equal(spool_open(f->loop, &o, &s), -EINVAL);
}

/* --- group commit ------------------------------------------------------------------------ */

static void test_puts_share_one_commit_and_complete_once(void **state)
{
        struct fixture *f = *state;
        struct put_result res[20] = {};
        struct spool_stats before, after;

        spool_get_stats(f->s, &before);
        for (int i = 0; i < 20; i++) {
                struct msg_buf b;

                assert_int_equal(put(f, make_msg(&b, i, "+15550000001", 1000 + i), &res[i]), 0);
                assert_int_equal(res[i].calls, 0); /* never synchronous */
        }
        spool_get_stats(f->s, &after);
        assert_int_equal(after.queued, 20);
        assert_int_equal(raw_rows(f), 0); /* nothing written before the loop runs */

        run(f, 1);
        spool_get_stats(f->s, &after);
        assert_int_equal(after.commits - before.commits, 1);
        assert_int_equal(after.batches - before.batches, 1);
        assert_int_equal(after.last_batch_rows, 20);
        assert_int_equal(after.rows_stored - before.rows_stored, 20);
        assert_int_equal(after.queued, 0);
        for (int i = 0; i < 20; i++) {
                assert_int_equal(res[i].calls, 1);
                assert_false(res[i].synchronous);
                assert_int_equal(res[i].r, 0);
                assert_true(res[i].id > 0);
                for (int j = 0; j < i; j++)
                        assert_true(res[i].id != res[j].id);
        }

        run(f, 5); /* more iterations must not call anyone again, nor commit */
        spool_get_stats(f->s, &before);
        assert_int_equal(before.commits, after.commits);
        for (int i = 0; i < 20; i++)
                assert_int_equal(res[i].calls, 1);
        assert_int_equal(raw_rows(f), 20);
}

static void test_batch_is_bounded_and_carried_over(void **state)
{
        struct fixture *f = *state;
        struct spool_options o = {.batch_max = 8};
        struct put_result res[20] = {};
        struct spool_stats before, after;
        int done;

        f->s = spool_free(f->s);
        assert_int_equal(open_spool(f, &o), 0);
        spool_get_stats(f->s, &before);
        for (int i = 0; i < 20; i++) {
                struct msg_buf b;

                assert_int_equal(put(f, make_msg(&b, i, "+15550000001", 1000 + i), &res[i]), 0);
        }

        for (int iter = 1; iter <= 3; iter++) {
                /* A blocking iteration must not sleep while puts remain
                 * queued after its batch; the last batch empties the queue,
                 * and then sleeping is right. */
                if (iter < 3)
                        assert_true(run_once_guarded(f) < 1.0);
                else
                        run(f, 1);
                done = 0;
                for (int i = 0; i < 20; i++)
                        done += res[i].calls;
                assert_int_equal(done, MIN(20, 8 * iter));
        }
        spool_get_stats(f->s, &after);
        assert_int_equal(after.commits - before.commits, 3);
        assert_int_equal(after.last_batch_rows, 4);
        for (int i = 0; i < 20; i++) {
                assert_int_equal(res[i].calls, 1);
                assert_int_equal(res[i].r, 0);
        }
}

struct chain {
        struct fixture *f;
        struct msg_buf b;
        struct put_result first, second;
};

static void chain_cb(struct spool *s, int r, int64_t id, void *userdata)
{
        struct chain *c = userdata;

        if (tearing_down)
                return;
        put_cb(s, r, id, &c->first);
        make_msg(&c->b, 99, "+15550000002", 5000);
        assert_int_equal(put(c->f, &c->b.m, &c->second), 0);
        assert_int_equal(c->second.calls, 0);
}

/* A put queued from a completion callback (inside the prepare phase) is
 * written on the next iteration, without the loop sleeping first. */
static void test_put_from_callback_is_not_delayed(void **state)
{
        struct fixture *f = *state;
        struct chain c = {.f = f};
        struct msg_buf b;

        assert_int_equal(spool_put(f->s, make_msg(&b, 1, "+15550000001", 1000), chain_cb, &c), 0);
        assert_true(run_once_guarded(f) < 1.0);
        assert_int_equal(c.first.calls, 1);
        assert_int_equal(c.second.calls, 0);
        run(f, 1);
        assert_int_equal(c.second.calls, 1);
        assert_int_equal(c.second.r, 0);
        assert_int_equal(raw_rows(f), 2);
}

/* A message is one inbound SMS: SNS redelivers it under the same MessageId
 * with the same content, and may publish it again under a new MessageId with
 * the same inboundMessageId. Both are duplicates, in the spool or in the same
 * batch. */
static void test_duplicates_of_a_message(void **state)
{
        struct fixture *f = *state;
        struct put_result res[4] = {};
        struct spool_msg m[4];
        struct msg_buf b;
        struct spool_stats before, after;
        struct spool_row *row;
        int64_t id;

        id = store(f, 1, "+15550000001", 1000); /* sns-0001 / inb-0001 */
        spool_get_stats(f->s, &before);

        m[0] = *make_msg(&b, 1, "+15550000001", 1000); /* a redelivery */
        m[0].body = "changed";
        m[1] = m[0];
        m[1].sns_message_id = "sns-other"; /* same inboundMessageId */
        m[2] = m[0];
        m[2].sns_message_id = "sns-new";
        m[2].inbound_message_id = "inb-new";
        m[3] = m[2]; /* a duplicate of a put in the same batch, under a new MessageId */
        m[3].sns_message_id = "sns-new-2";
        for (int i = 0; i < 4; i++)
                assert_int_equal(put(f, &m[i], &res[i]), 0);
        run(f, 1);

        assert_int_equal(res[0].r, 1);
        assert_int_equal(res[1].r, 1);
        assert_int_equal(res[2].r, 0);
        assert_int_equal(res[3].r, 1);
        assert_int_equal(res[0].id, 0);
        for (int i = 0; i < 4; i++)
                assert_int_equal(res[i].calls, 1);
        assert_int_equal(raw_rows(f), 2);
        spool_get_stats(f->s, &after);
        assert_int_equal(after.duplicates - before.duplicates, 3);

        row = get(f, id); /* the first copy wins */
        assert_string_equal(row->body, "body 1");
        assert_string_equal(row->inbound_message_id, "inb-0001");
        spool_row_free(row);
}

/* SNS topic names go to 256 characters, so an ARN is longer than an id. */
static void test_put_long_topic_arn(void **state)
{
        struct fixture *f = *state;
        struct put_result res = {};
        char arn[320];
        struct spool_msg m;
        struct msg_buf b;
        struct spool_row *row;

        snprintf(arn, sizeof(arn), "arn:aws:sns:us-east-1:123456789012:%0256d", 7);
        m = *make_msg(&b, 1, "+15550000001", 1000);
        m.topic_arn = arn;
        assert_int_equal(put(f, &m, &res), 0);
        run(f, 1);
        assert_int_equal(res.r, 0);
        row = get(f, res.id);
        assert_string_equal(row->topic_arn, arn);
        spool_row_free(row);
}

static void test_put_rejects_invalid_without_callback(void **state)
{
        struct fixture *f = *state;
        struct spool_options o = {.queue_max = 2};
        struct put_result res = {};
        _cleanup_free_ char *big = malloc(SPOOL_BODY_MAX + 2);
        struct spool_msg m;
        struct msg_buf b;

        assert_non_null(big);
        memset(big, 'x', SPOOL_BODY_MAX + 1);
        big[SPOOL_BODY_MAX + 1] = '\0';

        m = *make_msg(&b, 1, "+15550000001", 1000);
        m.origination_number = NULL;
        assert_int_equal(put(f, &m, &res), -EINVAL);
        m = *make_msg(&b, 1, "+15550000001", 1000);
        m.inbound_message_id = "";
        assert_int_equal(put(f, &m, &res), -EINVAL);
        m = *make_msg(&b, 1, "+15550000001", 1000);
        m.body = big;
        assert_int_equal(put(f, &m, &res), -EMSGSIZE);
        big[SPOOL_ARN_MAX + 1] = '\0';
        m = *make_msg(&b, 1, "+15550000001", 1000);
        m.topic_arn = big;
        assert_int_equal(put(f, &m, &res), -EMSGSIZE);
        big[SPOOL_ARN_MAX + 1] = 'x';
        assert_int_equal(spool_put(f->s, make_msg(&b, 1, "+1", 1), NULL, NULL), -EINVAL);
        assert_int_equal(spool_put_dead(f->s, make_msg(&b, 1, "+1", 1), NULL, put_cb, &res),
                         -EINVAL);

        run(f, 3);
        assert_int_equal(res.calls, 0);
        assert_int_equal(raw_rows(f), 0);

        /* The queue is bounded too. */
        f->s = spool_free(f->s);
        assert_int_equal(open_spool(f, &o), 0);
        {
                struct put_result ok[2] = {};

                assert_int_equal(put(f, make_msg(&b, 1, "+1", 1), &ok[0]), 0);
                assert_int_equal(put(f, make_msg(&b, 2, "+1", 2), &ok[1]), 0);
                assert_int_equal(put(f, make_msg(&b, 3, "+1", 3), &res), -ENOBUFS);
                run(f, 1);
                assert_int_equal(ok[0].r, 0);
                assert_int_equal(ok[1].r, 0);
        }
        assert_int_equal(res.calls, 0);
}

/* --- failures ---------------------------------------------------------------------------- */

static void test_failed_commit_rolls_back_whole_batch(void **state)
{
        struct fixture *f = *state;
        struct put_result res[5] = {}, again[5] = {};
        struct spool_stats st;

        store(f, 100, "+15550000009", 900);
        spool_test_fail_commits(f->s, 1, -EIO);
        for (int i = 0; i < 5; i++) {
                struct msg_buf b;

                assert_int_equal(put(f, make_msg(&b, i, "+15550000001", 1000 + i), &res[i]), 0);
        }
        run(f, 3);
        for (int i = 0; i < 5; i++) {
                assert_int_equal(res[i].calls, 1);
                assert_int_equal(res[i].r, -EIO);
                assert_int_equal(res[i].id, 0);
        }
        assert_false(spool_is_writable(f->s));
        assert_int_equal(raw_rows(f), 1);
        spool_get_stats(f->s, &st);
        assert_int_equal(st.batch_failures, 1);

        /* The next commit clears the flag, and the same messages are new, not
         * duplicates: nothing of the failed batch was stored. */
        for (int i = 0; i < 5; i++) {
                struct msg_buf b;

                assert_int_equal(put(f, make_msg(&b, i, "+15550000001", 1000 + i), &again[i]), 0);
        }
        run(f, 1);
        for (int i = 0; i < 5; i++)
                assert_int_equal(again[i].r, 0);
        assert_true(spool_is_writable(f->s));
        assert_int_equal(raw_rows(f), 6);
}

static void test_low_free_space_fails_batch_with_enospc(void **state)
{
        struct fixture *f = *state;
        struct spool_options o = {.min_free_bytes = UINT64_MAX};
        struct put_result res[3] = {};

        f->s = spool_free(f->s);
        assert_int_equal(open_spool(f, &o), 0);
        assert_true(spool_is_writable(f->s));
        for (int i = 0; i < 3; i++) {
                struct msg_buf b;

                assert_int_equal(put(f, make_msg(&b, i, "+15550000001", 1000 + i), &res[i]), 0);
        }
        run(f, 1);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(res[i].calls, 1);
                assert_int_equal(res[i].r, -ENOSPC);
        }
        assert_false(spool_is_writable(f->s));
        assert_int_equal(raw_rows(f), 0);
}

static void test_failed_transition_marks_unwritable(void **state)
{
        struct fixture *f = *state;
        int64_t id = store(f, 1, "+15550000001", 1000);

        spool_test_fail_commits(f->s, 1, -ENOSPC);
        assert_int_equal(spool_claim(f->s, id), -ENOSPC);
        assert_false(spool_is_writable(f->s));
        assert_int_equal(state_of(f, id), SPOOL_STATE_PENDING);
        assert_int_equal(spool_claim(f->s, id), 0);
        assert_true(spool_is_writable(f->s));
        assert_int_equal(state_of(f, id), SPOOL_STATE_IN_PROGRESS);
}

static void test_free_cancels_queued_puts(void **state)
{
        struct fixture *f = *state;
        struct put_result res[3] = {};

        for (int i = 0; i < 3; i++) {
                struct msg_buf b;

                assert_int_equal(put(f, make_msg(&b, i, "+15550000001", 1000 + i), &res[i]), 0);
        }
        f->s = spool_free(f->s);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(res[i].calls, 1);
                assert_int_equal(res[i].r, -ECANCELED);
        }
        assert_int_equal(raw_rows(f), 0);
        run(f, 2);
        for (int i = 0; i < 3; i++)
                assert_int_equal(res[i].calls, 1);
        assert_int_equal(open_spool(f, NULL), 0);
}

/* --- durability, recovery ---------------------------------------------------------------- */

static void test_reopen_finds_every_acknowledged_row(void **state)
{
        struct fixture *f = *state;
        struct put_result res[50] = {};
        struct spool_row **rows = NULL;

        for (int i = 0; i < 50; i++) {
                struct msg_buf b;

                assert_int_equal(
                        put(f, make_msg(&b, i, i % 2 ? "+15550000001" : "+15550000002", 1000 + i),
                            &res[i]),
                        0);
                memset(&b, 'Z', sizeof(b)); /* the spool must have copied */
        }
        run(f, 1);
        reopen(f);

        assert_int_equal(spool_list(f->s, SPOOL_STATE_ANY, 0, 100, &rows), 50);
        spool_rows_free(rows);
        for (int i = 0; i < 50; i++) {
                struct msg_buf b;
                const struct spool_msg *m =
                        make_msg(&b, i, i % 2 ? "+15550000001" : "+15550000002", 1000 + i);
                struct spool_row *row;

                assert_int_equal(res[i].r, 0);
                row = get(f, res[i].id);
                assert_string_equal(row->sns_message_id, m->sns_message_id);
                assert_string_equal(row->inbound_message_id, m->inbound_message_id);
                assert_string_equal(row->topic_arn, m->topic_arn);
                assert_string_equal(row->origination_number, m->origination_number);
                assert_string_equal(row->destination_number, m->destination_number);
                assert_string_equal(row->body, m->body);
                assert_string_equal(row->keyword, m->keyword);
                assert_string_equal(row->raw, m->raw);
                assert_int_equal(row->received_at, m->received_at);
                assert_int_equal(row->state, SPOOL_STATE_PENDING);
                assert_int_equal(row->reply_state, SPOOL_REPLY_NONE);
                assert_int_equal(row->attempts, 0);
                assert_null(row->last_error);
                assert_null(row->reply_message_id);
                spool_row_free(row);
        }
}

static void test_recovery_at_open(void **state)
{
        struct fixture *f = *state;
        int64_t a = store(f, 1, "+15550000001", 1000);
        int64_t b = store(f, 2, "+15550000002", 1000);
        int64_t c = store(f, 3, "+15550000003", 1000);
        struct spool_counts counts;
        struct spool_stats st;
        struct spool_row *row;

        /* a: crashed mid-send; b: sent, not yet done; c: done. */
        assert_int_equal(spool_claim(f->s, a), 0);
        assert_int_equal(spool_reply_sending(f->s, a), 0);
        assert_int_equal(spool_claim(f->s, b), 0);
        assert_int_equal(spool_reply_sending(f->s, b), 0);
        assert_int_equal(spool_reply_sent(f->s, b, "msg-b"), 0);
        assert_int_equal(spool_claim(f->s, c), 0);
        assert_int_equal(spool_done(f->s, c), 0);

        reopen(f);
        spool_get_stats(f->s, &st);
        assert_int_equal(st.recovered_in_progress, 2);
        assert_int_equal(st.recovered_reply_unknown, 1);

        row = get(f, a);
        assert_int_equal(row->state, SPOOL_STATE_PENDING);
        assert_int_equal(row->reply_state, SPOOL_REPLY_UNKNOWN);
        spool_row_free(row);
        row = get(f, b);
        assert_int_equal(row->state, SPOOL_STATE_PENDING);
        assert_int_equal(row->reply_state, SPOOL_REPLY_SENT);
        assert_string_equal(row->reply_message_id, "msg-b");
        spool_row_free(row);
        assert_int_equal(state_of(f, c), SPOOL_STATE_DONE);

        /* Neither reply may ever be sent again. */
        assert_int_equal(spool_claim(f->s, a), 0);
        assert_int_equal(spool_reply_sending(f->s, a), -EALREADY);
        assert_int_equal(spool_claim(f->s, b), 0);
        assert_int_equal(spool_reply_sending(f->s, b), -EALREADY);

        assert_int_equal(spool_counts(f->s, &counts), 0);
        assert_int_equal(counts.reply_unknown, 1);
        assert_int_equal(counts.by_state[SPOOL_STATE_IN_PROGRESS], 2);
        assert_int_equal(counts.by_state[SPOOL_STATE_DONE], 1);

        /* Recovery itself, without a reopen. */
        assert_int_equal(spool_recover(f->s), 2);
        assert_int_equal(state_of(f, a), SPOOL_STATE_PENDING);
        assert_int_equal(spool_recover(f->s), 0);
}

/* Claim id and let the daemon die with it in progress: the next open recovers. */
static void die_working_on(struct fixture *f, int64_t id)
{
        assert_int_equal(spool_claim(f->s, id), 0);
        reopen(f);
}

/* A row the daemon dies on SPOOL_INTERRUPTED_MAX times is closed as dead at
 * the last recovery, not claimed again; only recoveries count; a reply that
 * may have gone out keeps its own rule. */
static void test_interrupted_rows_go_dead(void **state)
{
        struct fixture *f = *state;
        int64_t poison = store(f, 1, "+15550000001", 1000);
        int64_t stopped = store(f, 2, "+15550000002", 1000);
        int64_t sending = store(f, 3, "+15550000003", 1000);
        int64_t other = store(f, 4, "+15550000004", 1000);
        char reason[128];
        const int64_t *dead;
        struct spool_counts counts;
        struct spool_stats st;
        struct spool_row *row;
        int64_t ids[8];

        (void)snprintf(reason, sizeof(reason),
                       "interrupted %d times: the daemon stopped while "
                       "working on it",
                       SPOOL_INTERRUPTED_MAX);
        assert_int_equal(SPOOL_INTERRUPTED_MAX, 3);

        /* Two crashes: back to pending each time, nothing closed. */
        die_working_on(f, poison);
        assert_int_equal(spool_recovered_dead(f->s, &dead), 0);
        die_working_on(f, poison);
        assert_int_equal(state_of(f, poison), SPOOL_STATE_PENDING);

        /* Retries and a clean stop (the row goes back to pending before the
         * spool closes) count for nothing. */
        assert_int_equal(spool_claim(f->s, poison), 0);
        assert_int_equal(spool_retry(f->s, poison, 0, "timeout"), 0);
        assert_int_equal(spool_claim(f->s, poison), 0);
        assert_int_equal(spool_retry(f->s, poison, 0, "stopped before the reply was sent"), 0);
        reopen(f);
        assert_int_equal(state_of(f, poison), SPOOL_STATE_PENDING);

        /* A row stopped cleanly every time is never closed. */
        for (int i = 0; i < SPOOL_INTERRUPTED_MAX + 1; i++) {
                assert_int_equal(spool_claim(f->s, stopped), 0);
                assert_int_equal(spool_retry(f->s, stopped, 0, "stopped"), 0);
                reopen(f);
        }
        assert_int_equal(state_of(f, stopped), SPOOL_STATE_PENDING);

        /* The reply of this one may have gone out: however often the daemon
         * dies on it, recovery makes its reply unknown and the dispatcher
         * ends it at its claim, never sending it twice. */
        assert_int_equal(spool_claim(f->s, sending), 0);
        assert_int_equal(spool_reply_sending(f->s, sending), 0);
        for (int i = 0; i < SPOOL_INTERRUPTED_MAX + 1; i++) {
                reopen(f);
                row = get(f, sending);
                assert_int_equal(row->state, SPOOL_STATE_PENDING);
                assert_int_equal(row->reply_state, SPOOL_REPLY_UNKNOWN);
                spool_row_free(row);
                assert_int_equal(spool_claim(f->s, sending), 0);
                assert_int_equal(spool_reply_sending(f->s, sending), -EALREADY);
        }

        /* The third crash closes it, in the recovery at open. */
        die_working_on(f, poison);
        row = get(f, poison);
        assert_int_equal(row->state, SPOOL_STATE_DEAD);
        assert_int_equal(row->reply_state, SPOOL_REPLY_NONE);
        assert_string_equal(row->last_error, reason);
        spool_row_free(row);
        assert_int_equal(spool_recovered_dead(f->s, &dead), 1);
        assert_int_equal(dead[0], poison);
        spool_get_stats(f->s, &st);
        assert_int_equal(st.recovered_dead, 1);
        assert_int_equal(spool_counts(f->s, &counts), 0);
        assert_int_equal(counts.by_state[SPOOL_STATE_DEAD], 1);

        /* It is not handed out again; the other senders' rows are. */
        assert_int_equal(spool_claim(f->s, poison), -ESTALE);
        assert_int_equal(ready_ids(f, INT64_MAX, 8, ids), 3);
        assert_int_equal(ids[0], stopped);
        assert_int_equal(ids[1], sending);
        assert_int_equal(ids[2], other);

        /* An operator's retry gives it a fresh count: two more crashes leave
         * it pending, the third closes it again. */
        assert_int_equal(spool_requeue_dead(f->s, poison), 0);
        die_working_on(f, poison);
        die_working_on(f, poison);
        assert_int_equal(state_of(f, poison), SPOOL_STATE_PENDING);
        assert_int_equal(spool_recovered_dead(f->s, &dead), 0);
        die_working_on(f, poison);
        assert_int_equal(state_of(f, poison), SPOOL_STATE_DEAD);
        assert_int_equal(spool_recovered_dead(f->s, &dead), 1);
        assert_int_equal(state_of(f, other), SPOOL_STATE_PENDING);
}

static void test_reply_state_transitions(void **state)
{
        struct fixture *f = *state;
        int64_t id = store(f, 1, "+15550000001", 1000);
        struct spool_row *row;

        assert_int_equal(spool_reply_sending(f->s, id), -ESTALE); /* not claimed */
        assert_int_equal(spool_claim(f->s, id), 0);
        assert_int_equal(spool_reply_sent(f->s, id, "m-1"), -ESTALE); /* not sending */
        assert_int_equal(spool_reply_sending(f->s, id), 0);
        assert_int_equal(spool_reply_sending(f->s, id), -EALREADY);
        assert_int_equal(spool_reply_sent(f->s, id, "m-1"), 0);
        assert_int_equal(spool_reply_sent(f->s, id, "m-2"), -ESTALE);
        assert_int_equal(spool_reply_sending(f->s, 9999), -ENOENT);

        row = get(f, id);
        assert_int_equal(row->reply_state, SPOOL_REPLY_SENT);
        assert_string_equal(row->reply_message_id, "m-1");
        spool_row_free(row);
}

/* The reply recorded as sent and the row done in one commit: only from
 * in_progress and 'sending'; from anything else nothing changes. The
 * sender's next message is ready at once. */
static void test_reply_sent_and_done_together(void **state)
{
        struct fixture *f = *state;
        int64_t id = store(f, 1, "+15550000001", 1000);
        int64_t next = store(f, 2, "+15550000001", 2000);
        int64_t ids[4], now = wall_ms() + 1000;
        struct spool_counts counts;
        struct spool_row *row;

        assert_int_equal(spool_reply_sent_done(f->s, id, "m-1"), -ESTALE); /* pending */
        assert_int_equal(spool_claim(f->s, id), 0);
        assert_int_equal(spool_reply_sent_done(f->s, id, "m-1"), -ESTALE); /* not sending */
        assert_int_equal(state_of(f, id), SPOOL_STATE_IN_PROGRESS);
        assert_int_equal(ready_ids(f, now, 4, ids), 0);
        assert_int_equal(spool_reply_sending(f->s, id), 0);
        assert_int_equal(spool_reply_sent_done(f->s, id, "m-1"), 0);
        assert_int_equal(spool_reply_sent_done(f->s, id, "m-2"), -ESTALE);
        assert_int_equal(spool_reply_sent_done(f->s, 9999, "m-1"), -ENOENT);

        row = get(f, id);
        assert_int_equal(row->state, SPOOL_STATE_DONE);
        assert_int_equal(row->reply_state, SPOOL_REPLY_SENT);
        assert_string_equal(row->reply_message_id, "m-1");
        spool_row_free(row);
        assert_int_equal(spool_counts(f->s, &counts), 0);
        assert_int_equal(counts.by_state[SPOOL_STATE_DONE], 1);
        assert_int_equal(counts.by_state[SPOOL_STATE_IN_PROGRESS], 0);
        assert_int_equal(ready_ids(f, now, 4, ids), 1);
        assert_int_equal(ids[0], next);
}

/* --- dispatcher -------------------------------------------------------------------------- */

static void test_next_ready_keeps_per_sender_order(void **state)
{
        struct fixture *f = *state;
        int64_t ids[16], now, a1, a2, b1, c1;
        struct spool_row *row;

        /* a2 is stored first but a1 was received earlier: a1 is A's head. */
        a2 = store(f, 2, "+15550000001", 2000);
        a1 = store(f, 1, "+15550000001", 1000);
        b1 = store(f, 3, "+15550000002", 1500);
        c1 = store(f, 4, "+15550000003", 1200);
        now = wall_ms() + 1000;

        assert_int_equal(ready_ids(f, now, 16, ids), 3);
        assert_int_equal(ids[0], a1);
        assert_int_equal(ids[1], c1);
        assert_int_equal(ids[2], b1);
        assert_int_equal(ready_ids(f, now, 1, ids), 1);
        assert_int_equal(ids[0], a1);
        assert_int_equal(ready_ids(f, 0, 16, ids), 0); /* nothing is due yet */

        assert_int_equal(spool_claim(f->s, a2), -EBUSY); /* a1 is earlier */
        assert_int_equal(spool_claim(f->s, a1), 0);
        assert_int_equal(ready_ids(f, now, 16, ids), 2); /* A is busy */
        assert_int_equal(ids[0], c1);
        assert_int_equal(ids[1], b1);

        /* a1 waits for a retry: it still blocks a2. */
        assert_int_equal(spool_retry(f->s, a1, now + 60000, "bedrock throttled"), 0);
        assert_int_equal(ready_ids(f, now, 16, ids), 2);
        assert_int_equal(ids[0], c1);
        assert_int_equal(ids[1], b1);
        assert_int_equal(spool_claim(f->s, a2), -EBUSY);
        row = get(f, a1);
        assert_int_equal(row->attempts, 1);
        assert_int_equal(row->next_attempt_at, now + 60000);
        assert_string_equal(row->last_error, "bedrock throttled");
        spool_row_free(row);

        assert_int_equal(ready_ids(f, now + 60000, 16, ids), 3);
        assert_int_equal(ids[0], a1);

        /* a1 done: a2 becomes A's head. */
        assert_int_equal(spool_claim(f->s, a1), 0);
        assert_int_equal(spool_done(f->s, a1), 0);
        assert_int_equal(ready_ids(f, now, 16, ids), 3);
        assert_int_equal(ids[0], c1);
        assert_int_equal(ids[1], b1);
        assert_int_equal(ids[2], a2);

        /* A row in progress blocks its sender even when it is the later one. */
        assert_int_equal(spool_claim(f->s, a2), 0);
        assert_int_equal(spool_claim(f->s, a1), -ESTALE);
        assert_int_equal(ready_ids(f, now, 16, ids), 2);
}

static void test_transitions_check_state(void **state)
{
        struct fixture *f = *state;
        int64_t id = store(f, 1, "+15550000001", 1000);

        assert_int_equal(spool_done(f->s, id), -ESTALE);
        assert_int_equal(spool_retry(f->s, id, 0, "x"), -ESTALE);
        assert_int_equal(spool_requeue_dead(f->s, id), -ESTALE);
        assert_int_equal(spool_purge(f->s, id), -ESTALE);
        assert_int_equal(spool_dead(f->s, id, ""), -EINVAL);
        assert_int_equal(spool_claim(f->s, 9999), -ENOENT);
        assert_int_equal(spool_done(f->s, 9999), -ENOENT);
        assert_int_equal(spool_requeue_dead(f->s, 9999), -ENOENT);

        assert_int_equal(spool_claim(f->s, id), 0);
        assert_int_equal(spool_claim(f->s, id), -ESTALE);
        assert_int_equal(spool_done(f->s, id), 0);
        assert_int_equal(spool_done(f->s, id), -ESTALE);
        assert_int_equal(spool_dead(f->s, id, "late"), -ESTALE);
        assert_int_equal(spool_purge(f->s, id), 0);
        assert_int_equal(spool_get(f->s, id, &(struct spool_row *){NULL}), -ENOENT);
}

struct told {
        unsigned calls;
        int64_t received_at_sum;
        char inbound[2][64]; /* by the received_at's thousands */
};

static void tell_superseded(int64_t received_at, const char *inbound_message_id, void *userdata)
{
        struct told *t = userdata;

        t->calls++;
        t->received_at_sum += received_at;
        if (received_at == 1000 || received_at == 2000)
                snprintf(t->inbound[received_at / 1000 - 1], sizeof(t->inbound[0]), "%s",
                         inbound_message_id);
}

/* An opt-out closes its sender's earlier waiting rows, and says which (the
 * cluster finishes their records): only once they are committed. */
static void test_supersede_earlier_tells_each_row(void **state)
{
        struct fixture *f = *state;
        int64_t early = store(f, 1, "+15550000001", 1000);
        int64_t mid = store(f, 2, "+15550000001", 2000);
        int64_t later = store(f, 3, "+15550000001", 3000);
        int64_t other = store(f, 4, "+15550000002", 1500);
        struct told t = {0};
        struct spool_row *row;

        spool_test_fail_commits(f->s, 1, -EIO);
        assert_int_equal(spool_supersede_earlier(f->s, "+15550000001", 2500, later, "opted out",
                                                 tell_superseded, &t),
                         -EIO);
        assert_int_equal(t.calls, 0);
        row = get(f, early);
        assert_int_equal(row->state, SPOOL_STATE_PENDING);
        spool_row_free(row);

        assert_int_equal(spool_supersede_earlier(f->s, "+15550000001", 2500, later, "opted out",
                                                 tell_superseded, &t),
                         2);
        assert_int_equal(t.calls, 2);
        assert_int_equal(t.received_at_sum, 3000);
        assert_string_equal(t.inbound[0], "inb-0001");
        assert_string_equal(t.inbound[1], "inb-0002");
        row = get(f, early);
        assert_int_equal(row->state, SPOOL_STATE_SUPERSEDED);
        spool_row_free(row);
        row = get(f, mid);
        assert_int_equal(row->state, SPOOL_STATE_SUPERSEDED);
        spool_row_free(row);
        row = get(f, later);
        assert_int_equal(row->state, SPOOL_STATE_PENDING);
        spool_row_free(row);
        row = get(f, other);
        assert_int_equal(row->state, SPOOL_STATE_PENDING);
        spool_row_free(row);
        assert_int_equal(
                spool_supersede_earlier(f->s, "+15550000001", 2500, later, "opted out", NULL, NULL),
                0);
}

static void test_dead_rows_and_requeue(void **state)
{
        struct fixture *f = *state;
        struct spool_msg bad = {
                .sns_message_id = "sns-bad",
                .topic_arn = "arn:aws:sns:eu-west-1:123456789012:inbound",
                .raw = "not json {",
        };
        struct put_result res = {}, dup = {}, dup2 = {};
        _cleanup_free_ char *long_reason = malloc(SPOOL_REASON_MAX + 100);
        struct spool_row *row;
        int64_t ids[4], now = wall_ms() + 1000, good;

        assert_non_null(long_reason);
        memset(long_reason, 'r', SPOOL_REASON_MAX + 99);
        long_reason[SPOOL_REASON_MAX + 99] = '\0';

        in_put = true;
        assert_int_equal(spool_put_dead(f->s, &bad, "inner message is not JSON", put_cb, &res), 0);
        in_put = false;
        assert_int_equal(res.calls, 0);
        run(f, 1);
        assert_int_equal(res.calls, 1);
        assert_false(res.synchronous);
        assert_int_equal(res.r, 0);

        /* An SNS redelivery of it is a duplicate, however often it comes
         * back: its MessageId is its key. */
        assert_int_equal(spool_put_dead(f->s, &bad, "again", put_cb, &dup), 0);
        assert_int_equal(spool_put_dead(f->s, &bad, "and again", put_cb, &dup2), 0);
        run(f, 1);
        assert_int_equal(dup.r, 1);
        assert_int_equal(dup2.r, 1);

        row = get(f, res.id);
        assert_int_equal(row->state, SPOOL_STATE_DEAD);
        assert_string_equal(row->last_error, "inner message is not JSON");
        assert_string_equal(row->raw, "not json {");
        assert_null(row->inbound_message_id);
        assert_null(row->origination_number);
        spool_row_free(row);
        assert_int_equal(ready_ids(f, now, 16, ids), 0);
        assert_int_equal(spool_requeue_dead(f->s, res.id), -EINVAL);

        /* A processed row that went dead can be requeued (twowayctl spool retry). */
        good = store(f, 7, "+15550000002", 1000);
        assert_int_equal(spool_claim(f->s, good), 0);
        assert_int_equal(spool_retry(f->s, good, 0, "timeout"), 0);
        assert_int_equal(spool_dead(f->s, good, long_reason), 0);
        row = get(f, good);
        assert_int_equal(row->state, SPOOL_STATE_DEAD);
        assert_int_equal(strlen(row->last_error), SPOOL_REASON_MAX);
        spool_row_free(row);
        assert_int_equal(ready_ids(f, now, 16, ids), 0);

        assert_int_equal(spool_requeue_dead(f->s, good), 0);
        row = get(f, good);
        assert_int_equal(row->state, SPOOL_STATE_PENDING);
        assert_int_equal(row->attempts, 0);
        spool_row_free(row);
        assert_int_equal(ready_ids(f, now, 16, ids), 1);
        assert_int_equal(ids[0], good);
        assert_int_equal(spool_requeue_dead(f->s, good), -ESTALE);
}

static void test_prune_and_counts(void **state)
{
        struct fixture *f = *state;
        int64_t a = store(f, 1, "+15550000001", 1000);
        int64_t b = store(f, 2, "+15550000002", 1000);
        int64_t c = store(f, 3, "+15550000003", 1000);
        int64_t d = store(f, 4, "+15550000004", 1000);
        int64_t e = store(f, 5, "+15550000005", 1000);
        struct spool_counts counts;
        int64_t later;

        assert_int_equal(spool_claim(f->s, a), 0);
        assert_int_equal(spool_done(f->s, a), 0);
        assert_int_equal(spool_claim(f->s, b), 0);
        assert_int_equal(spool_done(f->s, b), 0);
        assert_int_equal(spool_claim(f->s, c), 0);
        assert_int_equal(spool_dead(f->s, d, "opted out"), 0);
        (void)e;

        assert_int_equal(spool_counts(f->s, &counts), 0);
        assert_int_equal(counts.by_state[SPOOL_STATE_PENDING], 1);
        assert_int_equal(counts.by_state[SPOOL_STATE_IN_PROGRESS], 1);
        assert_int_equal(counts.by_state[SPOOL_STATE_DONE], 2);
        assert_int_equal(counts.by_state[SPOOL_STATE_DEAD], 1);
        assert_int_equal(counts.reply_unknown, 0);

        later = wall_ms() + 1000;
        assert_int_equal(spool_prune(f->s, 0, 100), 0);   /* nothing that old */
        assert_int_equal(spool_prune(f->s, later, 1), 1); /* bounded */
        assert_int_equal(spool_prune(f->s, later, 100), 1);
        assert_int_equal(spool_prune(f->s, later, 100), 0);

        assert_int_equal(spool_counts(f->s, &counts), 0);
        assert_int_equal(counts.by_state[SPOOL_STATE_DONE], 0);
        assert_int_equal(counts.by_state[SPOOL_STATE_PENDING], 1);
        assert_int_equal(counts.by_state[SPOOL_STATE_IN_PROGRESS], 1);
        assert_int_equal(counts.by_state[SPOOL_STATE_DEAD], 1); /* dead rows are kept */
        assert_int_equal(raw_rows(f), 3);
}

static void test_list_pages_by_id(void **state)
{
        struct fixture *f = *state;
        struct spool_row **rows = NULL;
        int64_t id[5];

        for (int i = 0; i < 5; i++)
                id[i] = store(f, i, "+15550000001", 1000 + i);
        assert_int_equal(spool_dead(f->s, id[1], "x"), 0);

        assert_int_equal(spool_list(f->s, SPOOL_STATE_PENDING, 0, 2, &rows), 2);
        assert_int_equal(rows[0]->id, id[0]);
        assert_int_equal(rows[1]->id, id[2]);
        assert_null(rows[2]);
        rows = spool_rows_free(rows);
        assert_int_equal(spool_list(f->s, SPOOL_STATE_PENDING, id[2], 10, &rows), 2);
        assert_int_equal(rows[0]->id, id[3]);
        assert_int_equal(rows[1]->id, id[4]);
        rows = spool_rows_free(rows);
        assert_int_equal(spool_list(f->s, SPOOL_STATE_DEAD, 0, 10, &rows), 1);
        assert_int_equal(rows[0]->id, id[1]);
        assert_string_equal(rows[0]->last_error, "x");
        rows = spool_rows_free(rows);
        assert_int_equal(spool_list(f->s, SPOOL_STATE_ANY, 0, 10, &rows), 5);
        rows = spool_rows_free(rows);
        assert_int_equal(spool_list(f->s, (enum spool_state)7, 0, 10, &rows), -EINVAL);
}

static void test_state_names(void **state)
{
        for (int i = 0; i < _SPOOL_STATE_MAX; i++)
                assert_int_equal(spool_state_from_string(spool_state_to_string(i)), i);
        assert_string_equal(spool_state_to_string(SPOOL_STATE_IN_PROGRESS), "in_progress");
        assert_int_equal(spool_state_from_string("Pending"), _SPOOL_STATE_INVALID);
        assert_int_equal(spool_state_from_string(NULL), _SPOOL_STATE_INVALID);
        assert_null(spool_state_to_string(_SPOOL_STATE_MAX));
        assert_string_equal(spool_reply_state_to_string(SPOOL_REPLY_UNKNOWN), "unknown");
        assert_null(spool_reply_state_to_string(_SPOOL_REPLY_MAX));
}

/* --- lock, corruption, salvage --------------------------------------------------------------- */

/* A second daemon-mode open of the same directory stops at the lock: it does
 * not recover (reset) the first one's row in progress. */
static void test_second_open_stops_at_the_lock(void **state)
{
        struct fixture *f = *state;
        struct spool *second = NULL;
        int64_t id = store(f, 1, "+15550000001", 1000);
        long pid = 0;

        assert_int_equal(spool_claim(f->s, id), 0);
        assert_int_equal(spool_open(f->loop, &(struct spool_options){.dir = f->dir}, &second),
                         -EBUSY);
        assert_null(second);
        assert_int_equal(spool_lock_holder(f->dir, &pid), 0);
        assert_int_equal(pid, (long)getpid());
        assert_int_equal(state_of(f, id), SPOOL_STATE_IN_PROGRESS);

        /* twowayctl's mode takes no lock and recovers nothing. */
        assert_int_equal(
                spool_open(f->loop,
                           &(struct spool_options){.dir = f->dir, .access = SPOOL_TOOL_WRITE},
                           &second),
                0);
        second = spool_free(second);
        assert_int_equal(state_of(f, id), SPOOL_STATE_IN_PROGRESS);

        /* Released with the spool. */
        reopen(f);
        assert_int_equal(state_of(f, id), SPOOL_STATE_PENDING);
}

/* twowayctl's connection beside a running daemon leaves the daemon's work
 * alone: a row in progress, its reply being sent, stays so, and the daemon
 * finishes it afterwards. */
static void test_tool_open_leaves_work_in_progress(void **state)
{
        struct fixture *f = *state;
        struct spool *ctl = NULL;
        struct spool_row *row = NULL;
        int64_t id = store(f, 1, "+14255550123", 1000);

        assert_int_equal(spool_claim(f->s, id), 0);
        assert_int_equal(spool_reply_sending(f->s, id), 0);

        assert_int_equal(
                spool_open(f->loop,
                           &(struct spool_options){.dir = f->dir, .access = SPOOL_TOOL_WRITE},
                           &ctl),
                0);
        assert_int_equal(spool_get(ctl, id, &row), 0);
        assert_int_equal(row->state, SPOOL_STATE_IN_PROGRESS);
        assert_int_equal(row->reply_state, SPOOL_REPLY_SENDING);
        spool_row_free(row);
        ctl = spool_free(ctl);

        assert_int_equal(spool_reply_sent(f->s, id, "msg-1"), 0);
        assert_int_equal(spool_done(f->s, id), 0);
        assert_int_equal(state_of(f, id), SPOOL_STATE_DONE);
}

/* Another process in the middle of a write: a second connection holds the
 * write lock (BEGIN IMMEDIATE and a change not yet committed). */
static sqlite3 *hold_write_lock(struct fixture *f)
{
        sqlite3 *db = raw_open(f);

        assert_int_equal(
                sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE inbound SET last_error = 'uncommitted'",
                             NULL, NULL, NULL),
                SQLITE_OK);
        return db;
}

/* A dead row, a daemon in the middle of a write, and twowayctl's spool
 * opened beside it with access. */
static struct spool *tool_beside_a_writer(struct fixture *f, enum spool_access access,
                                          int64_t *ret_id, sqlite3 **ret_writer)
{
        struct spool *ctl = NULL;

        *ret_id = store(f, 1, "+14255550123", 1000);
        assert_int_equal(spool_dead(f->s, *ret_id, "gave up"), 0);
        *ret_writer = hold_write_lock(f);
        assert_int_equal(
                spool_open(f->loop, &(struct spool_options){.dir = f->dir, .access = access}, &ctl),
                0);
        return ctl;
}

/* twowayctl spool ls/show while the daemon is writing: the read-only open and
 * every read go through (a WAL reader never waits for the writer) and see
 * the last commit; the reader cannot write. */
static void test_tool_reads_while_the_daemon_writes(void **state)
{
        struct fixture *f = *state;
        struct spool_row *row = NULL, **rows = NULL;
        struct spool_counts counts;
        sqlite3 *writer;
        int64_t id;
        struct spool *ctl = tool_beside_a_writer(f, SPOOL_TOOL_READ, &id, &writer);

        assert_int_equal(spool_counts(ctl, &counts), 0);
        assert_int_equal(counts.by_state[SPOOL_STATE_DEAD], 1);
        assert_int_equal(spool_list(ctl, SPOOL_STATE_DEAD, 0, 10, &rows), 1);
        assert_int_equal(rows[0]->id, id);
        spool_rows_free(rows);
        assert_int_equal(spool_get(ctl, id, &row), 0);
        assert_string_equal(row->last_error, "gave up");
        spool_row_free(row);
        assert_int_equal(spool_purge(ctl, id), -EROFS);
        ctl = spool_free(ctl);

        assert_int_equal(sqlite3_exec(writer, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(writer);
        assert_int_equal(state_of(f, id), SPOOL_STATE_DEAD);
}

/* The read-only open creates nothing and reads only a spool of its own schema. */
static void test_tool_read_refuses_what_it_cannot_read(void **state)
{
        struct fixture *f = *state;
        struct spool *ctl = NULL;
        char path[128];
        sqlite3 *db;

        db = raw_open(f);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 5", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(
                spool_open(f->loop,
                           &(struct spool_options){.dir = f->dir, .access = SPOOL_TOOL_READ}, &ctl),
                -EPROTONOSUPPORT);
        assert_null(ctl);

        f->s = spool_free(f->s);
        snprintf(path, sizeof(path), "%s/spool.db", f->dir);
        assert_int_equal(unlink(path), 0);
        assert_true(spool_open(f->loop,
                               &(struct spool_options){.dir = f->dir, .access = SPOOL_TOOL_READ},
                               &ctl) < 0);
        assert_null(ctl);
        assert_int_equal(access(path, F_OK), -1);
}

/* A daemon's batch that holds the write lock for 300 ms, then commits:
 * longer than the 50 ms twowayctl once waited, well within what it waits
 * now. The duration is the fault being modelled, not a wait for an event. */
static void *commit_after_a_while(void *userdata)
{
        sqlite3 *db = userdata;
        struct timespec hold = {.tv_nsec = 300L * 1000 * 1000};

        (void)nanosleep(&hold, NULL);
        return (void *)(intptr_t)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

/* twowayctl spool retry/purge while the daemon holds the write lock: the
 * open takes no lock, and the change waits for the daemon's commit instead
 * of failing at once with "busy". */
static void test_tool_write_waits_for_the_daemon(void **state)
{
        struct fixture *f = *state;
        struct spool_row *row = NULL;
        pthread_t t;
        void *rc;
        sqlite3 *writer;
        int64_t id;
        struct spool *ctl = tool_beside_a_writer(f, SPOOL_TOOL_WRITE, &id, &writer);

        assert_int_equal(pthread_create(&t, NULL, commit_after_a_while, writer), 0);
        assert_int_equal(spool_purge(ctl, id), 0);
        assert_int_equal(pthread_join(t, &rc), 0);
        assert_int_equal((intptr_t)rc, SQLITE_OK);
        sqlite3_close(writer);
        ctl = spool_free(ctl);
        assert_int_equal(spool_get(f->s, id, &row), -ENOENT);
}

/* ... and when the lock is never released, it fails with -EBUSY after
 * SPOOL_TOOL_BUSY_TIMEOUT_MS, changing nothing. */
static void test_tool_write_gives_up_with_busy(void **state)
{
        struct fixture *f = *state;
        sqlite3 *writer;
        int64_t id;
        struct spool *ctl = tool_beside_a_writer(f, SPOOL_TOOL_WRITE, &id, &writer);

        assert_int_equal(spool_purge(ctl, id), -EBUSY);
        ctl = spool_free(ctl);
        assert_int_equal(sqlite3_exec(writer, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(writer);
        assert_int_equal(state_of(f, id), SPOOL_STATE_DEAD);
}

static void overwrite(const char *path, long offset, size_t len)
{
        FILE *fp = fopen(path, "r+b");

        assert_non_null(fp);
        assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
        for (size_t i = 0; i < len; i++)
                fputc(0xa5, fp);
        assert_int_equal(fclose(fp), 0);
}

/* Garbage over the page of the named index: the rows stay readable through
 * the table, and quick_check fails. */
static void damage_index(struct fixture *f, const char *index)
{
        char path[128], sql[160];
        sqlite3 *db;
        int64_t page, size;

        f->s = spool_free(f->s); /* checkpoints: every row is in spool.db */
        db = raw_open(f);
        snprintf(sql, sizeof(sql), "SELECT rootpage FROM sqlite_master WHERE name = '%s'", index);
        page = raw_int(db, sql);
        size = raw_int(db, "PRAGMA page_size");
        sqlite3_close(db);
        snprintf(path, sizeof(path), "%s/spool.db", f->dir);
        overwrite(path, (long)((page - 1) * size), (size_t)size);
}

static const char *only_file_with_prefix(struct fixture *f, const char *prefix, char *buf,
                                         size_t size)
{
        struct dirent *e;
        DIR *d = opendir(f->dir);
        int n = 0;

        assert_non_null(d);
        while ((e = readdir(d)))
                if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && !strstr(e->d_name, "-wal") &&
                    !strstr(e->d_name, "-shm")) {
                        assert_true((size_t)snprintf(buf, size, "%s/%s", f->dir, e->d_name) < size);
                        n++;
                }
        closedir(d);
        assert_int_equal(n, 1);
        return buf;
}

/* A corrupt spool from before the agent turn columns (schema 3) is salvaged
 * too, its rows with no agent call recorded. */
static void test_salvage_before_agent_columns(void **state)
{
        struct fixture *f = *state;
        struct spool_salvage_result res = {};
        struct spool_row **rows = NULL;
        char moved[PATH_MAX];

        store(f, 1, "+15550000001", 1000);
        rewrite_closed(f, V3_SCHEMA_FROM_CURRENT);
        damage_index(f, "inbound_sender");
        assert_int_equal(open_spool(f, NULL), 0);
        assert_non_null(spool_moved_aside(f->s));
        only_file_with_prefix(f, "spool.db.corrupt-", moved, sizeof(moved));
        assert_int_equal(spool_salvage(f->s, moved, &res), 0);
        assert_int_equal(res.imported, 1);
        assert_int_equal(spool_list(f->s, SPOOL_STATE_PENDING, 0, 10, &rows), 1);
        assert_int_equal(rows[0]->agent_calls, 0);
        assert_false(rows[0]->agent_streamed);
        spool_rows_free(rows);
}

static void test_corrupt_spool_is_moved_aside_and_salvaged(void **state)
{
        struct fixture *f = *state;
        struct spool_salvage_result res = {};
        struct spool_row **rows = NULL;
        struct spool_counts c;
        char moved[PATH_MAX];
        int64_t a, b, d;

        a = store(f, 1, "+15550000001", 1000);
        b = store(f, 2, "+15550000001", 2000);
        d = store(f, 3, "+15550000002", 3000);
        assert_int_equal(spool_claim(f->s, a), 0);
        assert_int_equal(spool_agent_calling(f->s, a), 0);
        assert_int_equal(spool_agent_streamed(f->s, a), 0);
        assert_int_equal(spool_reply_sending(f->s, a), 0);
        assert_int_equal(spool_claim(f->s, d), 0);
        assert_int_equal(spool_done(f->s, d), 0);
        (void)b;
        damage_index(f, "inbound_sender");

        assert_int_equal(open_spool(f, NULL), 0);
        assert_non_null(spool_moved_aside(f->s));
        assert_string_equal(spool_moved_aside(f->s),
                            only_file_with_prefix(f, "spool.db.corrupt-", moved, sizeof(moved)));
        assert_int_equal(raw_rows(f), 0); /* a fresh spool */
        store(f, 9, "+15550000009", 500); /* and it takes new messages */

        assert_int_equal(spool_salvage(f->s, moved, &res), 0);
        assert_int_equal(res.read, 3);
        assert_int_equal(res.imported, 3);
        assert_int_equal(res.duplicates, 0);
        assert_int_equal(spool_counts(f->s, &c), 0);
        assert_int_equal(c.by_state[SPOOL_STATE_PENDING], 3); /* a (was in progress), b, 9 */
        assert_int_equal(c.by_state[SPOOL_STATE_DONE], 1);
        assert_int_equal(c.reply_unknown, 1); /* a's reply may have gone out */
        assert_int_equal(spool_list(f->s, SPOOL_STATE_PENDING, 0, 10, &rows), 3);
        assert_string_equal(rows[1]->sns_message_id, "sns-0001");
        assert_int_equal(rows[1]->reply_state, SPOOL_REPLY_UNKNOWN);
        assert_int_equal(rows[1]->received_at, 1000);
        /* The agent turn comes along: a is never asked about again. */
        assert_int_equal(rows[1]->agent_calls, 1);
        assert_true(rows[1]->agent_streamed);
        assert_int_equal(rows[2]->agent_calls, 0);
        assert_string_equal(rows[2]->body, "body 2");
        rows = spool_rows_free(rows);

        /* Twice: nothing more. */
        memset(&res, 0, sizeof(res));
        assert_int_equal(spool_salvage(f->s, moved, &res), 0);
        assert_int_equal(res.imported, 0);
        assert_int_equal(res.duplicates, 3);
        assert_int_equal(raw_rows(f), 4);

        /* The fresh spool passes its check: nothing more is moved. */
        reopen(f);
        assert_null(spool_moved_aside(f->s));
}

static void test_not_a_database_is_moved_aside(void **state)
{
        struct fixture *f = *state;
        struct spool_salvage_result res = {};
        char path[128], moved[PATH_MAX];

        store(f, 1, "+15550000001", 1000);
        f->s = spool_free(f->s);
        snprintf(path, sizeof(path), "%s/spool.db", f->dir);
        overwrite(path, 0, 100); /* the header */

        assert_int_equal(open_spool(f, NULL), 0);
        only_file_with_prefix(f, "spool.db.corrupt-", moved, sizeof(moved));
        assert_int_equal(raw_rows(f), 0);
        assert_int_equal(spool_salvage(f->s, moved, &res), -EBADMSG);
        assert_int_equal(spool_salvage(f->s, "/nonexistent/spool.db", &res), -ENOENT);
}

/* One sender's backlog behind a row in progress does not hide others: the
 * look-up walks one row per sender. */
static void test_next_ready_skips_a_blocked_backlog(void **state)
{
        struct fixture *f = *state;
        static struct put_result res[2000];
        int64_t ids[4], first = 0, other;
        sqlite3 *db;

        memset(res, 0, sizeof(res));
        for (int i = 0; i < 2000; i++) {
                struct msg_buf b;

                assert_int_equal(put(f, make_msg(&b, i, "+15550000001", 1000 + i), &res[i]), 0);
        }
        run(f, 20);
        for (int i = 0; i < 2000; i++)
                assert_int_equal(res[i].r, 0);
        assert_int_equal(raw_rows(f), 2000);
        assert_int_equal(ready_ids(f, INT64_MAX, 1, ids), 1);
        first = ids[0];
        assert_int_equal(spool_claim(f->s, first), 0);
        other = store(f, 5000, "+15550000002", 99999);
        assert_int_equal(ready_ids(f, INT64_MAX, 4, ids), 1);
        assert_int_equal(ids[0], other);

        db = raw_open(f);
        assert_int_equal(raw_int(db, "SELECT count(*) FROM sender_heads"), 2);
        assert_int_equal(raw_int(db, "SELECT rows FROM state_counts WHERE state = 'pending'"),
                         2000);
        sqlite3_close(db);
        assert_int_equal(spool_done(f->s, first), 0);
        assert_int_equal(ready_ids(f, INT64_MAX, 4, ids), 2);
        assert_int_equal(ids[0], first + 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_open_creates_wal_schema),
                T(test_agent_turn_columns),
                T(test_open_refuses_newer_or_foreign_database),
                T(test_puts_share_one_commit_and_complete_once),
                T(test_batch_is_bounded_and_carried_over),
                T(test_put_from_callback_is_not_delayed),
                T(test_duplicates_of_a_message),
                T(test_put_long_topic_arn),
                T(test_open_migrates_version_1),
                T(test_open_migrates_version_2),
                T(test_open_migrates_version_5),
                T(test_open_migrates_version_6),
                T(test_put_rejects_invalid_without_callback),
                T(test_failed_commit_rolls_back_whole_batch),
                T(test_low_free_space_fails_batch_with_enospc),
                T(test_failed_transition_marks_unwritable),
                T(test_free_cancels_queued_puts),
                T(test_reopen_finds_every_acknowledged_row),
                T(test_recovery_at_open),
                T(test_interrupted_rows_go_dead),
                T(test_reply_state_transitions),
                T(test_reply_sent_and_done_together),
                T(test_next_ready_keeps_per_sender_order),
                T(test_transitions_check_state),
                T(test_dead_rows_and_requeue),
                T(test_supersede_earlier_tells_each_row),
                T(test_prune_and_counts),
                T(test_list_pages_by_id),
                T(test_second_open_stops_at_the_lock),
                T(test_tool_open_leaves_work_in_progress),
                T(test_tool_reads_while_the_daemon_writes),
                T(test_tool_read_refuses_what_it_cannot_read),
                T(test_tool_write_waits_for_the_daemon),
                T(test_tool_write_gives_up_with_busy),
                T(test_corrupt_spool_is_moved_aside_and_salvaged),
                T(test_salvage_before_agent_columns),
                T(test_not_a_database_is_moved_aside),
                T(test_next_ready_skips_a_blocked_backlog),
                cmocka_unit_test(test_state_names),
        };
#undef T

        return cmocka_run_group_tests_name("spool", tests, NULL, NULL);
}
