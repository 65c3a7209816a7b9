/*
 * spool.c — inbound SMS spool on SQLite: schema and migrations, group commit
 * from an ev_prepare watcher, dispatcher transitions, crash recovery.
 *
 * Owns: the sqlite3 connection and its cached prepared statements, the queue
 * of puts waiting for the next batch (each a single allocation holding copies
 * of its strings), an ev_prepare watcher and an ev_idle watcher.
 *
 * Invariants: the prepare and idle watchers are active exactly while puts are
 * queued (the idle watcher only keeps the loop from sleeping, so puts queued
 * after this iteration's prepare phase are still written promptly); a cached
 * statement is always reset after use, so no read transaction stays open
 * between calls; every write either commits or is rolled back before the
 * function that started it returns.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <time.h>

#include <ev.h>
#include <sqlite3.h>

#include "log.h"
#include "spool.h"

/* "TWAY": PRAGMA application_id, so `file spool.db` and we can tell it apart. */
#define SPOOL_APPLICATION_ID 0x54574159

enum spool_stmt {
        ST_BEGIN,
        ST_COMMIT,
        ST_INSERT,
        ST_NEXT_READY,
        ST_NEXT_READY_KEYWORDS,
        ST_CLAIM,
        ST_DONE,
        ST_RETRY,
        ST_DEAD,
        ST_REQUEUE,
        ST_REPLY_SENDING,
        ST_REPLY_SENT,
        ST_RECOVER_INTERRUPTED,
        ST_RECOVER_IN_PROGRESS,
        ST_RECOVER_REPLY,
        ST_PRUNE,
        ST_PURGE,
        ST_COUNTS,
        ST_GET,
        ST_LIST,
        ST_PROBE,
        ST_SALVAGE,
        ST_AGENT_CALLING,
        ST_AGENT_STREAMED,
        ST_AGENT_REFUSED,
        ST_SUPERSEDE,
        ST_SUPERSEDE_EARLIER,
        ST_OPT_OUT_AFTER,
        ST_REPLY_SENT_DONE,
        ST_SYNC_NORMAL,
        ST_SYNC_FULL,
        _ST_MAX,
};

/* Every column of a row but the agent turn's (which a spool older than schema
 * 4 lacks: salvage reads those with zeroes instead). */
#define ROW_BASE_COLUMNS_OF(t)                                                                     \
        t ".id, " t ".sns_message_id, " t ".inbound_message_id, " t ".topic_arn, " t               \
          ".origination_number, " t ".destination_number, " t ".body, " t ".keyword, " t           \
          ".raw, " t ".last_error, " t ".reply_message_id, " t ".received_at, " t                  \
          ".next_attempt_at, " t ".updated_at, " t ".state, " t ".reply_state, " t ".attempts"
/* The agent turn (schema 4) and the keyword class and retry cause (schema 5). */
#define ROW_AGENT_COLUMNS_OF(t) ", " t ".agent_calls, " t ".agent_streamed"
#define ROW_CLASS_COLUMNS_OF(t) ", " t ".keyword_class, " t ".retry_cause"
#define ROW_COLUMNS_OF(t)       ROW_BASE_COLUMNS_OF(t) ROW_AGENT_COLUMNS_OF(t) ROW_CLASS_COLUMNS_OF(t)
#define ROW_COLUMNS             ROW_COLUMNS_OF("inbound")

/* The deduplication key of a row (migration 5 -> 6). */
#define DEDUP_KEY "coalesce(inbound_message_id, 'sns:' || sns_message_id)"
/* The rows pruning removes, as inbound_closed's WHERE says them: a query uses
 * that partial index only when its WHERE repeats this term. */
#define CLOSED_STATES "state IN ('done', 'superseded')"

/* Per-sender order (see spool.h). A message that is not a consent keyword
 * waits for every row of its sender in progress and every earlier pending
 * row; a consent keyword waits only for the sender's consent keywords, so it
 * jumps the sender's queue while keeping its place among them. Each NOT
 * EXISTS is one probe of inbound_sender. */
#define SENDER_IS_FREE(t)                                                                          \
        "NOT EXISTS (SELECT 1 FROM inbound AS o WHERE o.origination_number = " t                   \
        ".origination_number AND o.state = 'in_progress' AND (" t ".keyword_class = 'other' "      \
        "OR o.keyword_class <> 'other')) "                                                         \
        "AND NOT EXISTS (SELECT 1 FROM inbound AS o WHERE o.origination_number = " t               \
        ".origination_number AND o.state = 'pending' AND (o.received_at, o.id) < (" t              \
        ".received_at, " t ".id) AND (" t                                                          \
        ".keyword_class = 'other' OR o.keyword_class <> 'other'))"

static const char *const stmt_sql[_ST_MAX] = {
        [ST_BEGIN] = "BEGIN IMMEDIATE",
        [ST_COMMIT] = "COMMIT",
        /* DO NOTHING without a target covers the deduplication key (schema
         * 6): a redelivery changes no row, which is how a duplicate is seen. */
        [ST_INSERT] = "INSERT INTO inbound (sns_message_id, inbound_message_id, topic_arn, "
                      "origination_number, destination_number, body, keyword, raw, last_error, "
                      "received_at, state, attempts, next_attempt_at, updated_at, keyword_class) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?12, ?13) "
                      "ON CONFLICT DO NOTHING",
        /* Only each sender's first pending row can be ready, so the walk goes
         * over sender_heads (one row per sender with pending rows), never over
         * one sender's backlog. */
        [ST_NEXT_READY] = "SELECT " ROW_COLUMNS_OF(
                "m") " FROM sender_heads AS h "
                     "INDEXED BY sender_heads_order JOIN inbound AS m ON m.id = h.id "
                     "WHERE m.next_attempt_at <= ?1 AND NOT EXISTS (SELECT 1 FROM inbound "
                     "AS o WHERE o.origination_number = h.origination_number AND "
                     "o.state = 'in_progress') ORDER BY h.received_at, h.id LIMIT ?2",
        /* Consent keywords jump their sender's queue, so they are not only
         * sender heads: a partial index holds the pending ones. */
        [ST_NEXT_READY_KEYWORDS] = "SELECT " ROW_COLUMNS_OF(
                "m") " FROM inbound AS m INDEXED BY inbound_pending_keywords "
                     "WHERE m.state = 'pending' AND m.keyword_class <> 'other' "
                     "AND m.next_attempt_at <= ?1 AND " SENDER_IS_FREE(
                             "m") " "
                                  "ORDER BY m.received_at, m.id LIMIT ?2",
        [ST_CLAIM] = "UPDATE inbound SET state = 'in_progress', updated_at = ?2 "
                     "WHERE id = ?1 AND state = 'pending' AND " SENDER_IS_FREE("inbound"),
        [ST_DONE] = "UPDATE inbound SET state = 'done', updated_at = ?2 "
                    "WHERE id = ?1 AND state = 'in_progress'",
        [ST_RETRY] = "UPDATE inbound SET state = 'pending', attempts = attempts + 1, "
                     "next_attempt_at = ?2, last_error = ?3, updated_at = ?4, retry_cause = ?5 "
                     "WHERE id = ?1 AND state = 'in_progress'",
        [ST_DEAD] = "UPDATE inbound SET state = 'dead', last_error = ?2, updated_at = ?3 "
                    "WHERE id = ?1 AND state IN ('pending', 'in_progress')",
        /* An operator's retry starts the count of interruptions afresh. */
        [ST_REQUEUE] = "UPDATE inbound SET state = 'pending', attempts = 0, next_attempt_at = ?2, "
                       "updated_at = ?2, interruptions = 0 WHERE id = ?1 AND state = 'dead' "
                       "AND inbound_message_id IS NOT NULL AND origination_number IS NOT NULL "
                       "AND destination_number IS NOT NULL AND body IS NOT NULL",
        [ST_REPLY_SENDING] = "UPDATE inbound SET reply_state = 'sending', updated_at = ?2 "
                             "WHERE id = ?1 AND state = 'in_progress' AND reply_state = 'none'",
        [ST_REPLY_SENT] = "UPDATE inbound SET reply_state = 'sent', reply_message_id = ?2, "
                          "updated_at = ?3 WHERE id = ?1 AND reply_state = 'sending'",
        /* A row the daemon died on for the last allowed time, with no reply
         * begun (a reply that may have gone out keeps its own rule: the
         * dispatcher ends it at its claim, never sending twice). */
        [ST_RECOVER_INTERRUPTED] = "UPDATE inbound SET state = 'dead', last_error = ?2, "
                                   "interruptions = interruptions + 1, updated_at = ?1 "
                                   "WHERE state = 'in_progress' AND reply_state = 'none' "
                                   "AND interruptions + 1 >= ?3 RETURNING id",
        [ST_RECOVER_IN_PROGRESS] = "UPDATE inbound SET state = 'pending', "
                                   "interruptions = interruptions + 1, updated_at = ?1 "
                                   "WHERE state = 'in_progress'",
        [ST_RECOVER_REPLY] = "UPDATE inbound SET reply_state = 'unknown', updated_at = ?1 "
                             "WHERE reply_state = 'sending'",
        [ST_PRUNE] = "DELETE FROM inbound WHERE id IN (SELECT id FROM inbound "
                     "WHERE " CLOSED_STATES " AND updated_at < ?1 "
                     "ORDER BY updated_at LIMIT ?2)",
        [ST_PURGE] =
                "DELETE FROM inbound WHERE id = ?1 AND state IN ('done', 'dead', 'superseded')",
        /* Kept by triggers (migration 2 -> 3): a read of a few rows, whatever
         * the spool holds. */
        [ST_COUNTS] = "SELECT state, rows, reply_unknown FROM state_counts",
        [ST_GET] = "SELECT " ROW_COLUMNS " FROM inbound WHERE id = ?1",
        [ST_LIST] = "SELECT " ROW_COLUMNS " FROM inbound "
                    "WHERE (?1 IS NULL OR state = ?1) AND id > ?2 ORDER BY id LIMIT ?3",
        [ST_PROBE] = "SELECT state, reply_state FROM inbound WHERE id = ?1",
        /* A row of an old spool, as crash recovery would leave it. */
        [ST_SALVAGE] = "INSERT INTO inbound (sns_message_id, inbound_message_id, topic_arn, "
                       "origination_number, destination_number, body, keyword, raw, last_error, "
                       "reply_message_id, received_at, next_attempt_at, updated_at, state, "
                       "reply_state, attempts, agent_calls, agent_streamed, keyword_class) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                       "?15, ?16, ?17, ?18, ?19) ON CONFLICT DO NOTHING",
        [ST_AGENT_CALLING] = "UPDATE inbound SET agent_calls = agent_calls + 1, updated_at = ?2 "
                             "WHERE id = ?1 AND state = 'in_progress' AND agent_streamed = 0",
        [ST_AGENT_STREAMED] = "UPDATE inbound SET agent_streamed = 1, updated_at = ?2 "
                              "WHERE id = ?1 AND state = 'in_progress'",
        [ST_AGENT_REFUSED] = "UPDATE inbound SET agent_calls = agent_calls - 1, updated_at = ?2 "
                             "WHERE id = ?1 AND state = 'in_progress' AND agent_calls > 0 "
                             "AND agent_streamed = 0",
        [ST_SUPERSEDE] =
                "UPDATE inbound SET state = 'superseded', last_error = ?2, updated_at = ?3 "
                "WHERE id = ?1 AND state IN ('pending', 'in_progress')",
        [ST_SUPERSEDE_EARLIER] = "UPDATE inbound SET state = 'superseded', last_error = ?4, "
                                 "updated_at = ?5 WHERE origination_number = ?1 "
                                 "AND state = 'pending' AND keyword_class = 'other' "
                                 "AND (received_at, id) < (?2, ?3) "
                                 "RETURNING received_at, inbound_message_id",
        /* ST_REPLY_SENT and ST_DONE in one statement, so in one commit. */
        [ST_REPLY_SENT_DONE] = "UPDATE inbound SET reply_state = 'sent', reply_message_id = ?2, "
                               "state = 'done', updated_at = ?3 WHERE id = ?1 "
                               "AND state = 'in_progress' AND reply_state = 'sending'",
        [ST_SYNC_NORMAL] = "PRAGMA synchronous = NORMAL",
        [ST_SYNC_FULL] = "PRAGMA synchronous = FULL",
        [ST_OPT_OUT_AFTER] = "SELECT 1 FROM inbound WHERE origination_number = ?1 "
                             "AND state IN ('pending', 'in_progress', 'done') "
                             "AND keyword_class = 'opt_out' AND (received_at, id) > (?2, ?3) "
                             "LIMIT 1",
};

/* Recompute one sender's first pending row after a row of theirs entered or
 * left the pending state: one probe of inbound_sender. */
#define SENDER_HEAD_TRIGGER(name, when, cond, row)                                                 \
        "CREATE TRIGGER " name " " when " ON inbound WHEN " cond " BEGIN "                         \
        "DELETE FROM sender_heads WHERE origination_number = " row ".origination_number; "         \
        "INSERT INTO sender_heads SELECT origination_number, id, received_at FROM inbound "        \
        "WHERE origination_number = " row ".origination_number AND state = 'pending' "             \
        "ORDER BY received_at, id LIMIT 1; END;"
/* From schema 6, a pending row's insert keeps its sender's head without a
 * look-up: the head becomes the new row if it comes first (or there was
 * none), in one upsert instead of a delete, a probe of inbound_sender and an
 * insert. */
#define SENDER_HEAD_INSERT_TRIGGER                                                                 \
        "CREATE TRIGGER inbound_head_insert AFTER INSERT ON inbound WHEN NEW.state = 'pending' "   \
        "BEGIN INSERT INTO sender_heads (origination_number, id, received_at) "                    \
        "VALUES (NEW.origination_number, NEW.id, NEW.received_at) "                                \
        "ON CONFLICT (origination_number) DO UPDATE SET id = excluded.id, "                        \
        "received_at = excluded.received_at "                                                      \
        "WHERE (excluded.received_at, excluded.id) < (received_at, id); END;"
/* Add n to the count of row's state (an upsert, so a state added later needs
 * no seeding). */
#define COUNT_ADD(row, n)                                                                          \
        "INSERT INTO state_counts (state, rows, reply_unknown) VALUES (" row ".state, " n ", "     \
        "(" row ".reply_state = 'unknown') * " n ") ON CONFLICT (state) DO UPDATE SET "            \
        "rows = rows + excluded.rows, reply_unknown = reply_unknown + excluded.reply_unknown; "

/* The triggers that keep sender_heads and state_counts (each migration that
 * rebuilds the table makes them again). */
#define SENDER_HEAD_TRIGGERS                                                                       \
        SENDER_HEAD_TRIGGER("inbound_head_insert", "AFTER INSERT", "NEW.state = 'pending'", "NEW") \
        SENDER_HEAD_TRIGGER("inbound_head_update", "AFTER UPDATE OF state",                        \
                            "(OLD.state = 'pending') <> (NEW.state = 'pending')", "NEW")           \
        SENDER_HEAD_TRIGGER("inbound_head_delete", "AFTER DELETE", "OLD.state = 'pending'", "OLD")
#define SENDER_HEAD_TRIGGERS_V6                                                                    \
        SENDER_HEAD_INSERT_TRIGGER                                                                 \
        SENDER_HEAD_TRIGGER("inbound_head_update", "AFTER UPDATE OF state",                        \
                            "(OLD.state = 'pending') <> (NEW.state = 'pending')", "NEW")           \
        SENDER_HEAD_TRIGGER("inbound_head_delete", "AFTER DELETE", "OLD.state = 'pending'", "OLD")
#define STATE_COUNT_TRIGGERS                                                                       \
        "CREATE TRIGGER inbound_count_insert AFTER INSERT ON inbound "                             \
        "BEGIN " COUNT_ADD(                                                                        \
                "NEW", "1") "END;"                                                                 \
                            "CREATE TRIGGER inbound_count_delete AFTER DELETE ON inbound "         \
                            "BEGIN " COUNT_ADD("OLD",                                              \
                                               "-1") "END;"                                        \
                                                     "CREATE TRIGGER inbound_count_update AFTER "  \
                                                     "UPDATE OF state, reply_state ON inbound "    \
                                                     "BEGIN " COUNT_ADD("OLD", "-1")               \
                                                             COUNT_ADD("NEW", "1") "END;"

/* Schema migrations: migrations[v] takes user_version v to v + 1. Append
 * only; a released step is never edited. */
static const char *const migrations[] = {
        /* 0 -> 1 */
        "CREATE TABLE inbound ("
        " id INTEGER PRIMARY KEY,"
        " sns_message_id TEXT NOT NULL UNIQUE,"
        " inbound_message_id TEXT UNIQUE,"
        " topic_arn TEXT,"
        " origination_number TEXT,"
        " destination_number TEXT,"
        " body TEXT,"
        " keyword TEXT,"
        " received_at INTEGER NOT NULL,"
        " state TEXT NOT NULL CHECK (state IN ('pending', 'in_progress', 'done', 'dead')),"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " next_attempt_at INTEGER NOT NULL,"
        " updated_at INTEGER NOT NULL,"
        " last_error TEXT,"
        " reply_state TEXT NOT NULL DEFAULT 'none'"
        "  CHECK (reply_state IN ('none', 'sending', 'sent', 'unknown')),"
        " reply_message_id TEXT,"
        " raw TEXT"
        ");"
        "CREATE INDEX inbound_state_due ON inbound (state, next_attempt_at);"
        "CREATE INDEX inbound_sender ON inbound (origination_number, state, received_at);",
        /* 1 -> 2: pending rows in dispatch order, so finding the next ready rows
         * stops after LIMIT instead of sorting every due row (a backlog of
         * 95,000 rows made each look-up take 60 ms). */
        "CREATE INDEX inbound_pending_order ON inbound (received_at, id) WHERE state = 'pending';",
        /* 2 -> 3: what a dispatch look-up and a metrics scrape read, kept by
         * triggers so that neither walks the table. sender_heads holds each
         * sender's first pending row: one sender's backlog of 100,000 rows
         * made each look-up walk all of them (68 ms). state_counts holds the
         * rows per state (a GROUP BY took 80 ms per scrape at 300,000 rows). */
        "DROP INDEX inbound_pending_order;"
        "CREATE TABLE sender_heads ("
        " origination_number TEXT PRIMARY KEY,"
        " id INTEGER NOT NULL,"
        " received_at INTEGER NOT NULL"
        ") WITHOUT ROWID;"
        "CREATE INDEX sender_heads_order ON sender_heads (received_at, id);"
        "INSERT INTO sender_heads SELECT origination_number, id, received_at FROM ("
        " SELECT origination_number, id, received_at, row_number() OVER ("
        "  PARTITION BY origination_number ORDER BY received_at, id) AS n"
        " FROM inbound WHERE state = 'pending') WHERE n = 1;" SENDER_HEAD_TRIGGERS
        "CREATE TABLE state_counts ("
        " state TEXT PRIMARY KEY,"
        " rows INTEGER NOT NULL,"
        " reply_unknown INTEGER NOT NULL"
        ") WITHOUT ROWID;"
        "INSERT INTO state_counts SELECT state, count(*), sum(reply_state = 'unknown') "
        " FROM inbound GROUP BY state;" STATE_COUNT_TRIGGERS,
        /* 3 -> 4: the agent turn of each message (agent.h, AGENT TURNS): how many
         * InvokeAgent calls may have reached the agent, and whether an answer
         * stream began, so that a restart repeats no turn the agent may have
         * acted on. */
        "ALTER TABLE inbound ADD COLUMN agent_calls INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE inbound ADD COLUMN agent_streamed INTEGER NOT NULL DEFAULT 0;",
        /* 4 -> 5: the keyword class decided at ingest (so a pending STOP is seen
         * without running anything), the typed cause of the last retry, and the
         * state 'superseded' (closed without a reply because the sender opted
         * out). SQLite cannot change a CHECK constraint in place: the table is
         * copied, which drops its indexes and triggers (a DROP TABLE fires
         * none, so sender_heads and state_counts stay right), and they are
         * made again. Rows stored before this version count as 'other'. */
        "CREATE TABLE inbound_v5 ("
        " id INTEGER PRIMARY KEY,"
        " sns_message_id TEXT NOT NULL UNIQUE,"
        " inbound_message_id TEXT UNIQUE,"
        " topic_arn TEXT,"
        " origination_number TEXT,"
        " destination_number TEXT,"
        " body TEXT,"
        " keyword TEXT,"
        " received_at INTEGER NOT NULL,"
        " state TEXT NOT NULL"
        "  CHECK (state IN ('pending', 'in_progress', 'done', 'dead', 'superseded')),"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " next_attempt_at INTEGER NOT NULL,"
        " updated_at INTEGER NOT NULL,"
        " last_error TEXT,"
        " reply_state TEXT NOT NULL DEFAULT 'none'"
        "  CHECK (reply_state IN ('none', 'sending', 'sent', 'unknown')),"
        " reply_message_id TEXT,"
        " raw TEXT,"
        " agent_calls INTEGER NOT NULL DEFAULT 0,"
        " agent_streamed INTEGER NOT NULL DEFAULT 0,"
        " keyword_class TEXT NOT NULL DEFAULT 'other'"
        "  CHECK (keyword_class IN ('other', 'opt_out', 'opt_in', 'help')),"
        " retry_cause TEXT"
        ");"
        "INSERT INTO inbound_v5 (id, sns_message_id, inbound_message_id, topic_arn, "
        "origination_number, destination_number, body, keyword, received_at, state, attempts, "
        "next_attempt_at, updated_at, last_error, reply_state, reply_message_id, raw, agent_calls, "
        "agent_streamed) "
        "SELECT id, sns_message_id, inbound_message_id, topic_arn, origination_number, "
        "destination_number, body, keyword, received_at, state, attempts, next_attempt_at, "
        "updated_at, last_error, reply_state, reply_message_id, raw, agent_calls, agent_streamed "
        "FROM inbound;"
        "DROP TABLE inbound;"
        "ALTER TABLE inbound_v5 RENAME TO inbound;"
        "CREATE INDEX inbound_state_due ON inbound (state, next_attempt_at);"
        "CREATE INDEX inbound_sender ON inbound (origination_number, state, received_at);"
        "CREATE INDEX inbound_pending_keywords ON inbound (received_at, id)"
        " WHERE state = 'pending' AND keyword_class <> 'other';" SENDER_HEAD_TRIGGERS
                STATE_COUNT_TRIGGERS,
        /* 5 -> 6: fewer B-tree pages written per stored message. A message
         * is one inbound SMS: a redelivery repeats its SNS MessageId and its
         * inboundMessageId, and a new MessageId for the same SMS repeats the
         * inboundMessageId. So one key finds every duplicate: the
         * inboundMessageId, or for a message stored dead without one (its
         * SMS could not be read) its MessageId, prefixed so that the two
         * kinds never meet. One UNIQUE index on it replaces the two on random
         * UUIDs, each of which cost a leaf page per row per commit. The
         * index on (state, next_attempt_at), which no look-up has used since
         * schema 3 and whose entry moved at every state change, gives way to
         * a partial index of the closed rows, all that pruning walks, and a
         * pending row's insert updates its sender's head in one upsert. The
         * CHECKs say the same as before with = and OR: an IN list made
         * SQLite build a temporary B-tree for each of them at every insert
         * and state change. The column constraints change, so the table is
         * copied as in 4 -> 5. */
        "CREATE TABLE inbound_v6 ("
        " id INTEGER PRIMARY KEY,"
        " sns_message_id TEXT NOT NULL,"
        " inbound_message_id TEXT,"
        " topic_arn TEXT,"
        " origination_number TEXT,"
        " destination_number TEXT,"
        " body TEXT,"
        " keyword TEXT,"
        " received_at INTEGER NOT NULL,"
        " state TEXT NOT NULL"
        "  CHECK (state = 'pending' OR state = 'in_progress' OR state = 'done' OR state = 'dead'"
        "   OR state = 'superseded'),"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " next_attempt_at INTEGER NOT NULL,"
        " updated_at INTEGER NOT NULL,"
        " last_error TEXT,"
        " reply_state TEXT NOT NULL DEFAULT 'none'"
        "  CHECK (reply_state = 'none' OR reply_state = 'sending' OR reply_state = 'sent'"
        "   OR reply_state = 'unknown'),"
        " reply_message_id TEXT,"
        " raw TEXT,"
        " agent_calls INTEGER NOT NULL DEFAULT 0,"
        " agent_streamed INTEGER NOT NULL DEFAULT 0,"
        " keyword_class TEXT NOT NULL DEFAULT 'other'"
        "  CHECK (keyword_class = 'other' OR keyword_class = 'opt_out'"
        "   OR keyword_class = 'opt_in' OR keyword_class = 'help'),"
        " retry_cause TEXT"
        ");"
        "INSERT INTO inbound_v6 SELECT id, sns_message_id, inbound_message_id, topic_arn, "
        "origination_number, destination_number, body, keyword, received_at, state, attempts, "
        "next_attempt_at, updated_at, last_error, reply_state, reply_message_id, raw, agent_calls, "
        "agent_streamed, keyword_class, retry_cause FROM inbound;"
        "DROP TABLE inbound;"
        "ALTER TABLE inbound_v6 RENAME TO inbound;"
        "CREATE UNIQUE INDEX inbound_dedup ON inbound (" DEDUP_KEY ");"
        "CREATE INDEX inbound_sender ON inbound (origination_number, state, received_at);"
        "CREATE INDEX inbound_pending_keywords ON inbound (received_at, id)"
        " WHERE state = 'pending' AND keyword_class <> 'other';"
        "CREATE INDEX inbound_closed ON inbound (updated_at) WHERE " CLOSED_STATES
        ";" SENDER_HEAD_TRIGGERS_V6 STATE_COUNT_TRIGGERS,
        /* 6 -> 7: how often the daemon died while the row was in progress
         * (counted by the recovery at start only), so that a message whose
         * processing kills the daemon is closed instead of claimed at every
         * restart. */
        "ALTER TABLE inbound ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;",
};

_Static_assert(ARRAY_SIZE(migrations) == SPOOL_SCHEMA_VERSION, "one migration per version");

/* The strings a put carries, in the order of ST_INSERT's parameters ?1..?9. */
enum put_field {
        PF_SNS_MESSAGE_ID,
        PF_INBOUND_MESSAGE_ID,
        PF_TOPIC_ARN,
        PF_ORIGINATION,
        PF_DESTINATION,
        PF_BODY,
        PF_KEYWORD,
        PF_RAW,
        PF_REASON,
        _PF_MAX,
};

struct put_req {
        struct put_req *next;
        spool_put_cb cb;
        void *userdata;
        int result;
        int64_t id;
        int64_t received_at;
        bool dead;
        enum spool_class keyword_class;
        const char *field[_PF_MAX]; /* into data[], or NULL */
        char data[];
};

struct spool {
        struct ev_loop *loop;
        sqlite3 *db;
        sqlite3_stmt *stmt[_ST_MAX];
        char *dir;
        uint64_t min_free;
        unsigned batch_max;
        unsigned queue_max;
        enum spool_access access;
        int busy_ms; /* how long a statement waits for another process's lock */

        ev_prepare prepare;
        ev_idle idle;
        struct put_req *head;
        struct put_req **tail;
        size_t queued;
        bool closing;

        bool writable;
        struct spool_stats stats;
        int lock_fd;             /* the flock on spool.lock, or -1 (twowayctl) */
        char *moved_aside;       /* where a corrupt spool.db was moved at open, or NULL */
        int64_t *recovered_dead; /* rows the last spool_recover() closed as dead */
        size_t n_recovered_dead;

        unsigned fail_commits; /* test hook: commits the commit hook still refuses */
        int fail_err;
        int injected_err; /* the error of a commit the hook refused, until mapped */
};

static const char *const state_names[_SPOOL_STATE_MAX] = {
        [SPOOL_STATE_PENDING] = "pending",
        [SPOOL_STATE_IN_PROGRESS] = "in_progress",
        [SPOOL_STATE_DONE] = "done",
        [SPOOL_STATE_DEAD] = "dead",
        [SPOOL_STATE_SUPERSEDED] = "superseded",
};

static const char *const class_names[_SPOOL_CLASS_MAX] = {
        [SPOOL_CLASS_OTHER] = "other",
        [SPOOL_CLASS_OPT_OUT] = "opt_out",
        [SPOOL_CLASS_OPT_IN] = "opt_in",
        [SPOOL_CLASS_HELP] = "help",
};

static const char *const reply_names[_SPOOL_REPLY_MAX] = {
        [SPOOL_REPLY_NONE] = "none",
        [SPOOL_REPLY_SENDING] = "sending",
        [SPOOL_REPLY_SENT] = "sent",
        [SPOOL_REPLY_UNKNOWN] = "unknown",
};

const char *spool_state_to_string(enum spool_state state)
{
        return string_table_name(state_names, ARRAY_SIZE(state_names), state);
}

enum spool_state spool_state_from_string(const char *s)
{
        int i = string_table_index(state_names, ARRAY_SIZE(state_names), s);

        return i < 0 ? _SPOOL_STATE_INVALID : (enum spool_state)i;
}

const char *spool_reply_state_to_string(enum spool_reply_state state)
{
        return string_table_name(reply_names, ARRAY_SIZE(reply_names), state);
}

const char *spool_class_to_string(enum spool_class c)
{
        return string_table_name(class_names, ARRAY_SIZE(class_names), c);
}

int spool_class_from_string(const char *s)
{
        int i = string_table_index(class_names, ARRAY_SIZE(class_names), s);

        return i < 0 ? -EBADMSG : i;
}

static int reply_state_from_string(const char *s)
{
        int i = string_table_index(reply_names, ARRAY_SIZE(reply_names), s);

        return i < 0 ? -EBADMSG : i;
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_usec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* SQLite result code -> negated errno. For I/O errors the errno of the
 * failing system call (sqlite3_system_errno) is more precise than the code:
 * an IOERR_WRITE may really be ENOSPC or EDQUOT. */
static int sqlite_errno(struct spool *s, int rc)
{
        int sys = s->db ? sqlite3_system_errno(s->db) : 0;

        if (rc == SQLITE_CONSTRAINT_COMMITHOOK && s->injected_err < 0) {
                int r = s->injected_err;

                s->injected_err = 0;
                return r;
        }

        switch (rc & 0xff) {
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_IOERR:
                if (rc == SQLITE_IOERR_NOMEM)
                        return -ENOMEM;
                return sys > 0 ? -sys : -EIO;
        case SQLITE_CANTOPEN:
                return sys > 0 ? -sys : -EACCES;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_TOOBIG:
                return -EMSGSIZE;
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
                return -EINVAL;
        default:
                return -EIO;
        }
}

/* A write failed: map the error and report the spool unwritable until the
 * next successful commit. */
static int write_failed(struct spool *s, int rc, const char *what)
{
        int r = sqlite_errno(s, rc);

        s->writable = false;
        log_full_errno(LOG_DEBUG, r, "spool.write_failed",
                       LOG_FIELDS(LF("SQLITE_ERROR", sqlite3_errstr(rc))),
                       "spool: %s failed: %s: %m", what, sqlite3_errmsg(s->db));
        return r;
}

static void stmt_resetp(sqlite3_stmt **st)
{
        if (*st) {
                sqlite3_reset(*st);
                sqlite3_clear_bindings(*st);
        }
}
#define _cleanup_stmt_ _cleanup_(stmt_resetp)

static int commit_hook(void *userdata)
{
        struct spool *s = userdata;

        if (s->fail_commits > 0) {
                s->fail_commits--;
                s->injected_err = s->fail_err;
                return 1; /* turns the COMMIT into a ROLLBACK */
        }
        s->stats.commits++;
        return 0;
}

#ifdef TWOWAYD_UNIT_TEST
void spool_test_fail_commits(struct spool *s, unsigned n, int err)
{
        s->fail_commits = n;
        s->fail_err = err < 0 ? err : -EIO;
}
#endif

static int exec_sql(struct spool *s, const char *sql)
{
        int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

        if (rc != SQLITE_OK)
                return write_failed(s, rc, "statement");
        return 0;
}

static int step_simple(struct spool *s, enum spool_stmt id, const char *what)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[id];
        int rc = sqlite3_step(st);

        if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                return write_failed(s, rc, what);
        return 0;
}

/* Also used before the statements are prepared (migrate()), hence exec. */
static void rollback_if_open(struct spool *s)
{
        if (!sqlite3_get_autocommit(s->db))
                (void)exec_sql(s, "ROLLBACK");
}

/* COMMIT, timed: this is where the batch's fsyncs happen. */
static int commit(struct spool *s)
{
        uint64_t t0 = mono_usec(), dt;
        int r = step_simple(s, ST_COMMIT, "commit");

        if (r < 0) {
                rollback_if_open(s);
                return r;
        }
        dt = mono_usec() - t0;
        s->stats.last_commit_usec = dt;
        s->stats.max_commit_usec = MAX(s->stats.max_commit_usec, dt);
        s->writable = true;
        return 0;
}

static int query_int(struct spool *s, const char *sql, int64_t *ret)
{
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

        if (rc == SQLITE_OK) {
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW)
                        *ret = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW)
                return sqlite_errno(s, rc);
        return 0;
}

/* The schema's version: 0 when it is this one's, 1 when it needs migrating
 * (an older or a new, empty file), -EPROTONOSUPPORT when a newer twowayd
 * wrote it, -EMEDIUMTYPE when it is another application's. */
static int schema_check(struct spool *s, int64_t *ret_version)
{
        int64_t version, app_id;
        int r = query_int(s, "PRAGMA application_id", &app_id);

        if (r >= 0)
                r = query_int(s, "PRAGMA user_version", &version);
        if (r < 0)
                return r;
        if (app_id != 0 && app_id != SPOOL_APPLICATION_ID)
                return -EMEDIUMTYPE;
        if (version < 0 || version > SPOOL_SCHEMA_VERSION)
                return -EPROTONOSUPPORT;
        *ret_version = version;
        return version == SPOOL_SCHEMA_VERSION && app_id == SPOOL_APPLICATION_ID ? 0 : 1;
}

/* Bring the schema to SPOOL_SCHEMA_VERSION in one transaction. A current
 * schema is seen without the write lock (twowayctl opens beside a busy
 * daemon); otherwise the version is read again inside the write transaction,
 * so two processes opening at once cannot both migrate. */
static int migrate(struct spool *s)
{
        int64_t version;
        char sql[96];
        int r;

        r = schema_check(s, &version);
        if (r <= 0)
                return r;
        r = exec_sql(s, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = schema_check(s, &version);
        if (r <= 0) {
                rollback_if_open(s); /* nothing to write */
                return r;
        }

        for (int64_t v = version; v < SPOOL_SCHEMA_VERSION; v++) {
                r = exec_sql(s, migrations[v]);
                if (r < 0)
                        goto fail;
        }
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d; PRAGMA application_id = %d",
                 SPOOL_SCHEMA_VERSION, SPOOL_APPLICATION_ID);
        r = exec_sql(s, sql);
        if (r >= 0)
                r = exec_sql(s, "COMMIT");
        if (r < 0)
                goto fail;
        log_debug("spool.migrated", LOG_NOFIELDS, "spool: schema version %lld -> %d",
                  (long long)version, SPOOL_SCHEMA_VERSION);
        return 0;
fail:
        rollback_if_open(s);
        return r;
}

static int configure(struct spool *s)
{
        sqlite3_stmt *st = NULL;
        bool wal = false;
        int rc, r;

        rc = sqlite3_busy_timeout(s->db, s->busy_ms);
        if (rc != SQLITE_OK)
                return sqlite_errno(s, rc);
        /* A reader takes the file as the daemon made it. */
        if (s->access == SPOOL_TOOL_READ)
                return 0;

        /* journal_mode answers with the mode in force; anything else than
         * "wal" (a filesystem without shared memory, say) is refused rather
         * than silently running with a rollback journal. */
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *mode = sqlite3_column_text(st, 0);

                wal = mode && streq((const char *)mode, "wal");
                rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_OK)
                return sqlite_errno(s, rc);
        if (!wal)
                return -EOPNOTSUPP;

        /* FULL: with WAL, NORMAL may lose the last commits on power loss; the
         * whole point of the spool is that an acknowledged message is not. */
        r = exec_sql(s, "PRAGMA synchronous = FULL");
        /* After a checkpoint, truncate a WAL that a burst made large. */
        if (r >= 0)
                r = exec_sql(s, "PRAGMA journal_size_limit = 4194304");
        return r;
}

static int prepare_statements(struct spool *s)
{
        for (size_t i = 0; i < _ST_MAX; i++) {
                int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                            &s->stmt[i], NULL);

                if (rc != SQLITE_OK) {
                        log_debug("spool.prepare_failed", LOG_NOFIELDS,
                                  "spool: cannot prepare statement %zu: %s", i,
                                  sqlite3_errmsg(s->db));
                        return sqlite_errno(s, rc);
                }
        }
        return 0;
}

static void spool_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents);
static void spool_idle_cb(struct ev_loop *loop, ev_idle *w, int revents);

/* Taken before anything reads or recovers the spool, held until
 * spool_free(): a second daemon pointed at the same directory stops here,
 * before its crash recovery could reset the first one's rows in progress. The
 * file holds the holder's pid, for the message. */
static int take_lock(struct spool *s)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        char pid[24];
        int n;

        if (asprintf(&path, "%s/%s", s->dir, SPOOL_LOCK_NAME) < 0)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return negative_errno();
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : negative_errno();
        n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
                return negative_errno();
        s->lock_fd = TAKE_FD(fd);
        return 0;
}

int spool_lock_holder(const char *dir, long *ret_pid)
{
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        char buf[24];
        ssize_t n;
        char *end;
        long pid;

        if (asprintf(&path, "%s/%s", dir, SPOOL_LOCK_NAME) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
                return n < 0 ? negative_errno() : -ENODATA;
        buf[n] = '\0';
        errno = 0;
        pid = strtol(buf, &end, 10);
        if (errno != 0 || end == buf || pid <= 0)
                return -EBADMSG;
        *ret_pid = pid;
        return 0;
}

/* PRAGMA quick_check: every page of every b-tree is well formed (not the
 * full integrity_check, which also matches each index against its table and
 * takes much longer on a large spool). */
static int check_integrity(struct spool *s)
{
        sqlite3_stmt *st = NULL;
        bool ok = false;
        int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);

        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const unsigned char *verdict = sqlite3_column_text(st, 0);

                ok = verdict && streq((const char *)verdict, "ok");
                if (!ok)
                        log_debug("spool.check_failed", LOG_NOFIELDS, "spool: quick_check: %s",
                                  verdict ? (const char *)verdict : "(null)");
                rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_OK)
                return sqlite_errno(s, rc);
        return ok ? 0 : -EBADMSG;
}

static int open_db(struct spool *s, const char *path)
{
        int64_t version;
        /* NOMUTEX: loop thread only. EXRESCODE: extended codes from every call,
         * so an I/O error says which. NOFOLLOW: spool.db is ours, not a link.
         * The tool never creates a spool; its reader cannot write one. */
        int mode = s->access == SPOOL_TOOL_READ    ? SQLITE_OPEN_READONLY
                   : s->access == SPOOL_TOOL_WRITE ? SQLITE_OPEN_READWRITE
                                                   : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
        int rc = sqlite3_open_v2(
                path, &s->db,
                mode | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOFOLLOW, NULL);
        int r;

        if (rc != SQLITE_OK)
                return sqlite_errno(s, rc);
        sqlite3_commit_hook(s->db, commit_hook, s);
        r = configure(s);
        if (r >= 0 && s->access == SPOOL_DAEMON)
                r = check_integrity(s);
        if (r >= 0 && s->access == SPOOL_TOOL_READ) {
                /* Read with this version's statements or not at all. */
                r = schema_check(s, &version);
                if (r > 0)
                        r = -EPROTONOSUPPORT;
        } else if (r >= 0)
                r = migrate(s);
        return r;
}

static void close_db(struct spool *s)
{
        for (size_t i = 0; i < _ST_MAX; i++) {
                sqlite3_finalize(s->stmt[i]);
                s->stmt[i] = NULL;
        }
        sqlite3_close_v2(s->db);
        s->db = NULL;
}

/* rename(2) that never replaces: a second corruption within the same second
 * gets "-2", and so on. */
static int rename_unused(const char *from, const char *to_base, const char *suffix, char **ret_to)
{
        for (unsigned i = 1; i < 100; i++) {
                _cleanup_free_ char *to = NULL;
                int k = i == 1 ? asprintf(&to, "%s%s", to_base, suffix)
                               : asprintf(&to, "%s-%u%s", to_base, i, suffix);

                if (k < 0)
                        return -ENOMEM;
                if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) {
                        if (ret_to)
                                *ret_to = TAKE_PTR(to);
                        return 0;
                }
                if (errno != EEXIST)
                        return negative_errno();
        }
        return -EEXIST;
}

/* Move spool.db (and its WAL, which holds its latest commits) aside as
 * spool.db.corrupt-<UTC time>[-wal], so that a fresh spool can be opened and
 * the old one salvaged later. The shared-memory index is rebuilt from the WAL,
 * so it goes. */
static int move_aside(struct spool *s, const char *path)
{
        _cleanup_free_ char *base = NULL, *wal = NULL, *shm = NULL, *moved = NULL;
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        int r;

        if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                return -EINVAL;
        if (asprintf(&base, "%s.corrupt-%s", path, stamp) < 0 ||
            asprintf(&wal, "%s-wal", path) < 0 || asprintf(&shm, "%s-shm", path) < 0)
                return -ENOMEM;
        r = rename_unused(path, base, "", &moved);
        if (r < 0)
                return r;
        if (access(wal, F_OK) == 0) {
                _cleanup_free_ char *moved_wal = NULL;

                if (asprintf(&moved_wal, "%s-wal", moved) < 0)
                        return -ENOMEM;
                if (rename(wal, moved_wal) < 0)
                        return negative_errno();
        }
        (void)unlink(shm);
        s->moved_aside = TAKE_PTR(moved);
        return 0;
}

int spool_open(struct ev_loop *loop, const struct spool_options *opts, struct spool **ret)
{
        _cleanup_free_ char *path = NULL;
        struct spool *s;
        int r;

        if (!loop || !opts || isempty(opts->dir) || !ret)
                return -EINVAL;
        if (asprintf(&path, "%s/%s", opts->dir, SPOOL_DB_NAME) < 0)
                return -ENOMEM;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->loop = loop;
        s->tail = &s->head;
        s->lock_fd = -1;
        s->min_free = opts->min_free_bytes ? opts->min_free_bytes : SPOOL_MIN_FREE_DEFAULT;
        s->batch_max = opts->batch_max ? opts->batch_max : SPOOL_BATCH_MAX_DEFAULT;
        s->queue_max = opts->queue_max ? opts->queue_max : SPOOL_QUEUE_MAX_DEFAULT;
        s->access = opts->access;
        /* The daemon waits little for twowayctl's lock (a batch fails, SNS
         * retries); twowayctl waits for the daemon's short commits. */
        s->busy_ms = s->access == SPOOL_DAEMON ? SPOOL_BUSY_TIMEOUT_MS : SPOOL_TOOL_BUSY_TIMEOUT_MS;
        s->writable = true;
        ev_prepare_init(&s->prepare, spool_prepare_cb);
        s->prepare.data = s;
        ev_idle_init(&s->idle, spool_idle_cb);
        s->idle.data = s;

        s->dir = strdup(opts->dir);
        if (!s->dir) {
                r = -ENOMEM;
                goto fail;
        }

        r = s->access == SPOOL_DAEMON ? take_lock(s) : 0;
        if (r >= 0)
                r = open_db(s, path);
        /* A spool that cannot be read must not stop inbound traffic: it goes
         * aside for twowayctl spool salvage, and a fresh one takes its place. */
        if (r == -EBADMSG && s->access == SPOOL_DAEMON) {
                close_db(s);
                r = move_aside(s, path);
                if (r >= 0)
                        r = open_db(s, path);
        }
        if (r >= 0)
                r = prepare_statements(s);
        if (r >= 0 && s->access == SPOOL_DAEMON)
                r = spool_recover(s);
        if (r < 0)
                goto fail;

        log_debug("spool.opened", LOG_FIELDS(LF("SPOOL_DIR", s->dir)),
                  "spool: opened %s (recovered %llu in progress, %llu replies unknown)", path,
                  (unsigned long long)s->stats.recovered_in_progress,
                  (unsigned long long)s->stats.recovered_reply_unknown);
        *ret = s;
        return 0;
fail:
        spool_free(s);
        return r;
}

const char *spool_moved_aside(const struct spool *s)
{
        return s ? s->moved_aside : NULL;
}

static void queue_take_all(struct spool *s, struct put_req **ret)
{
        *ret = s->head;
        s->head = NULL;
        s->tail = &s->head;
        s->queued = 0;
}

static void complete_list(struct spool *s, struct put_req *list)
{
        while (list) {
                struct put_req *req = list;

                list = req->next;
                req->cb(s, req->result, req->id, req->userdata);
                free(req);
        }
}

struct spool *spool_free(struct spool *s)
{
        struct put_req *list;

        if (!s)
                return NULL;

        s->closing = true;
        ev_prepare_stop(s->loop, &s->prepare);
        ev_idle_stop(s->loop, &s->idle);
        queue_take_all(s, &list);
        for (struct put_req *req = list; req; req = req->next)
                req->result = -ECANCELED;
        complete_list(s, list);

        /* The last connection to close checkpoints the WAL into spool.db. */
        close_db(s);
        /* Only now: the lock covers the last checkpoint too. */
        if (s->lock_fd >= 0)
                close(s->lock_fd);
        free(s->moved_aside);
        free(s->recovered_dead);
        free(s->dir);
        free(s);
        return NULL;
}

bool spool_is_writable(const struct spool *s)
{
        return s && s->writable;
}

void spool_get_stats(const struct spool *s, struct spool_stats *ret)
{
        *ret = s->stats;
        ret->queued = s->queued;
        for (size_t i = 0; i < _ST_MAX; i++)
                ret->sql_steps +=
                        (uint64_t)sqlite3_stmt_status(s->stmt[i], SQLITE_STMTSTATUS_VM_STEP, 0);
}

/* Free space first, as OpenSMTPD's queue does: fail the batch cleanly with
 * -ENOSPC before SQLite finds the disk full halfway through a WAL write. */
static int check_space(struct spool *s)
{
        struct statvfs sv;
        uint64_t avail;

        if (statvfs(s->dir, &sv) < 0)
                return negative_errno();
        if (sv.f_flag & ST_RDONLY)
                return -EROFS;
        if (__builtin_mul_overflow((uint64_t)sv.f_bavail, (uint64_t)sv.f_frsize, &avail))
                avail = UINT64_MAX;
        if (avail < s->min_free)
                return -ENOSPC;
        return 0;
}

static int bind_text(sqlite3_stmt *st, int idx, const char *text)
{
        if (!text)
                return sqlite3_bind_null(st, idx);
        return sqlite3_bind_text(st, idx, text, -1, SQLITE_STATIC);
}

/* Insert one put inside the open batch transaction. Returns 0 (stored),
 * 1 (duplicate), or the error. *ret_fatal tells whether the error ends the
 * whole batch (I/O, space, the transaction is gone) or only this put. */
static int insert_one(struct spool *s, struct put_req *req, int64_t now, bool *ret_fatal)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_INSERT];
        int rc = SQLITE_OK;

        for (int i = 0; i < _PF_MAX && rc == SQLITE_OK; i++)
                rc = bind_text(st, i + 1, req->field[i]);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(st, 10, req->received_at > 0 ? req->received_at : now);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_text(st, 11, req->dead ? "dead" : "pending", -1, SQLITE_STATIC);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(st, 12, now);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_text(st, 13, class_names[req->keyword_class], -1, SQLITE_STATIC);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);

        if (rc == SQLITE_DONE) {
                if (sqlite3_changes(s->db) == 0)
                        return 1;
                req->id = sqlite3_last_insert_rowid(s->db);
                return 0;
        }

        switch (rc & 0xff) {
        case SQLITE_CONSTRAINT:
        case SQLITE_TOOBIG:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
                /* The statement failed alone; the transaction is still open
                 * unless SQLite says otherwise. */
                *ret_fatal = sqlite3_get_autocommit(s->db);
                break;
        default:
                *ret_fatal = true;
        }
        return sqlite_errno(s, rc);
}

/* Write up to batch_max queued puts in one transaction, then complete them. */
static void flush_batch(struct spool *s)
{
        struct put_req *batch = NULL, **btail = &batch;
        unsigned n = 0, stored = 0, dups = 0;
        int64_t now = now_ms();
        int r;

        while (s->head && n < s->batch_max) {
                struct put_req *req = s->head;

                s->head = req->next;
                req->next = NULL;
                *btail = req;
                btail = &req->next;
                n++;
        }
        if (!s->head)
                s->tail = &s->head;
        s->queued -= n;

        r = check_space(s);
        if (r >= 0)
                r = step_simple(s, ST_BEGIN, "begin");
        for (struct put_req *req = batch; r >= 0 && req; req = req->next) {
                bool fatal = false;
                int k = insert_one(s, req, now, &fatal);

                if (k < 0 && fatal) {
                        r = k;
                        s->writable = false;
                }
                req->result = k;
        }
        if (r >= 0)
                r = commit(s);

        if (r < 0) {
                rollback_if_open(s);
                s->writable = false;
                s->stats.batch_failures++;
                for (struct put_req *req = batch; req; req = req->next) {
                        req->result = r;
                        req->id = 0;
                }
                log_full_errno(LOG_DEBUG, r, "spool.batch_failed", LOG_NOFIELDS,
                               "spool: batch of %u put(s) failed, rolled back: %m", n);
        } else {
                for (struct put_req *req = batch; req; req = req->next) {
                        stored += req->result == 0;
                        dups += req->result == 1;
                }
                s->stats.batches++;
                s->stats.rows_stored += stored;
                s->stats.duplicates += dups;
                s->stats.last_batch_rows = n;
        }

        complete_list(s, batch);
}

static void spool_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
        struct spool *s = w->data;

        if (s->head)
                flush_batch(s);
        if (!s->head) {
                ev_prepare_stop(loop, &s->prepare);
                ev_idle_stop(loop, &s->idle);
        }
}

/* Only its being active matters: libev does not block while an idle watcher
 * is active, so a put queued after this iteration's prepare phase (from a
 * callback, or another prepare watcher) is written on the next iteration
 * instead of after the next unrelated wakeup. */
static void spool_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
}

/* Cut a reason to SPOOL_REASON_MAX bytes without splitting a UTF-8 sequence. */
static size_t reason_len(const char *reason)
{
        size_t n = strnlen(reason, SPOOL_REASON_MAX + 1);

        if (n <= SPOOL_REASON_MAX)
                return n;
        n = SPOOL_REASON_MAX;
        while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
                n--;
        return n;
}

static int queue_put(struct spool *s, const struct spool_msg *msg, const char *reason, bool dead,
                     spool_put_cb cb, void *userdata)
{
        static const size_t limits[_PF_MAX] = {
                [PF_SNS_MESSAGE_ID] = SPOOL_ID_MAX, [PF_INBOUND_MESSAGE_ID] = SPOOL_ID_MAX,
                [PF_TOPIC_ARN] = SPOOL_ARN_MAX,     [PF_ORIGINATION] = SPOOL_ID_MAX,
                [PF_DESTINATION] = SPOOL_ID_MAX,    [PF_BODY] = SPOOL_BODY_MAX,
                [PF_KEYWORD] = SPOOL_ID_MAX,        [PF_RAW] = SPOOL_RAW_MAX,
                [PF_REASON] = SPOOL_REASON_MAX,
        };
        const char *src[_PF_MAX] = {
                [PF_SNS_MESSAGE_ID] = msg ? msg->sns_message_id : NULL,
                [PF_INBOUND_MESSAGE_ID] = msg ? msg->inbound_message_id : NULL,
                [PF_TOPIC_ARN] = msg ? msg->topic_arn : NULL,
                [PF_ORIGINATION] = msg ? msg->origination_number : NULL,
                [PF_DESTINATION] = msg ? msg->destination_number : NULL,
                [PF_BODY] = msg ? msg->body : NULL,
                [PF_KEYWORD] = msg ? msg->keyword : NULL,
                [PF_RAW] = msg ? msg->raw : NULL,
                [PF_REASON] = reason,
        };
        size_t len[_PF_MAX], total = 0;
        struct put_req *req;
        char *p;

        if (!s || !msg || !cb)
                return -EINVAL;
        if (s->closing)
                return -ECANCELED;
        if (isempty(msg->sns_message_id))
                return -EINVAL;
        if (!dead && (isempty(msg->inbound_message_id) || isempty(msg->origination_number) ||
                      isempty(msg->destination_number) || !msg->body))
                return -EINVAL;
        if (dead && isempty(reason))
                return -EINVAL;
        if (s->queued >= s->queue_max)
                return -ENOBUFS;
        if (msg->keyword_class < 0 || msg->keyword_class >= _SPOOL_CLASS_MAX)
                return -EINVAL;

        for (int i = 0; i < _PF_MAX; i++) {
                if (!src[i]) {
                        len[i] = 0;
                        continue;
                }
                if (i == PF_REASON)
                        len[i] = reason_len(src[i]);
                else {
                        len[i] = strnlen(src[i], limits[i] + 1);
                        if (len[i] > limits[i])
                                return -EMSGSIZE;
                }
                total += len[i] + 1;
        }

        req = malloc(sizeof(*req) + total);
        if (!req)
                return -ENOMEM;
        *req = (struct put_req){
                .cb = cb,
                .userdata = userdata,
                .received_at = msg->received_at,
                .dead = dead,
                .keyword_class = msg->keyword_class,
        };
        p = req->data;
        for (int i = 0; i < _PF_MAX; i++) {
                if (!src[i])
                        continue;
                memcpy(p, src[i], len[i]);
                p[len[i]] = '\0';
                req->field[i] = p;
                p += len[i] + 1;
        }

        *s->tail = req;
        s->tail = &req->next;
        s->queued++;
        ev_prepare_start(s->loop, &s->prepare);
        ev_idle_start(s->loop, &s->idle);
        return 0;
}

int spool_put(struct spool *s, const struct spool_msg *msg, spool_put_cb cb, void *userdata)
{
        return queue_put(s, msg, NULL, false, cb, userdata);
}

int spool_put_dead(struct spool *s, const struct spool_msg *msg, const char *reason,
                   spool_put_cb cb, void *userdata)
{
        return queue_put(s, msg, reason, true, cb, userdata);
}

/* --- rows -------------------------------------------------------------------------------- */

enum {
        COL_ID,
        COL_FIRST_TEXT,
        COL_LAST_TEXT = COL_FIRST_TEXT + 9, /* reply_message_id */
        COL_RECEIVED_AT,
        COL_NEXT_ATTEMPT_AT,
        COL_UPDATED_AT,
        COL_STATE,
        COL_REPLY_STATE,
        COL_ATTEMPTS,
        COL_AGENT_CALLS,
        COL_AGENT_STREAMED,
        COL_KEYWORD_CLASS,
        COL_RETRY_CAUSE,
};

/* One row of ROW_COLUMNS as one allocation: the struct, then its strings. */
static int row_from_stmt(sqlite3_stmt *st, struct spool_row **ret)
{
        const unsigned char *text[COL_LAST_TEXT - COL_FIRST_TEXT + 1];
        size_t len[ARRAY_SIZE(text)], total = sizeof(struct spool_row);
        const char **dst[ARRAY_SIZE(text)];
        struct spool_row *row;
        const unsigned char *cause;
        size_t cause_len = 0;
        int state, reply, cls;
        char *p;

        state = spool_state_from_string((const char *)sqlite3_column_text(st, COL_STATE));
        reply = reply_state_from_string((const char *)sqlite3_column_text(st, COL_REPLY_STATE));
        cls = spool_class_from_string((const char *)sqlite3_column_text(st, COL_KEYWORD_CLASS));
        if (state < 0 || reply < 0 || cls < 0)
                return -EBADMSG;
        cause = sqlite3_column_text(st, COL_RETRY_CAUSE);
        if (cause) {
                cause_len = (size_t)sqlite3_column_bytes(st, COL_RETRY_CAUSE);
                total += cause_len + 1;
        }

        for (size_t i = 0; i < ARRAY_SIZE(text); i++) {
                int col = COL_FIRST_TEXT + (int)i;

                if (sqlite3_column_type(st, col) == SQLITE_NULL) {
                        text[i] = NULL;
                        continue;
                }
                text[i] = sqlite3_column_text(st, col);
                if (!text[i])
                        return -ENOMEM;
                len[i] = (size_t)sqlite3_column_bytes(st, col);
                total += len[i] + 1;
        }

        row = calloc(1, total);
        if (!row)
                return -ENOMEM;
        dst[0] = &row->sns_message_id;
        dst[1] = &row->inbound_message_id;
        dst[2] = &row->topic_arn;
        dst[3] = &row->origination_number;
        dst[4] = &row->destination_number;
        dst[5] = &row->body;
        dst[6] = &row->keyword;
        dst[7] = &row->raw;
        dst[8] = &row->last_error;
        dst[9] = &row->reply_message_id;

        p = (char *)(row + 1);
        for (size_t i = 0; i < ARRAY_SIZE(text); i++) {
                if (!text[i])
                        continue;
                memcpy(p, text[i], len[i]);
                p[len[i]] = '\0';
                *dst[i] = p;
                p += len[i] + 1;
        }
        if (cause) {
                memcpy(p, cause, cause_len);
                p[cause_len] = '\0';
                row->retry_cause = p;
        }
        row->keyword_class = (enum spool_class)cls;
        row->id = sqlite3_column_int64(st, COL_ID);
        row->received_at = sqlite3_column_int64(st, COL_RECEIVED_AT);
        row->next_attempt_at = sqlite3_column_int64(st, COL_NEXT_ATTEMPT_AT);
        row->updated_at = sqlite3_column_int64(st, COL_UPDATED_AT);
        row->state = (enum spool_state)state;
        row->reply_state = (enum spool_reply_state)reply;
        row->attempts = (unsigned)sqlite3_column_int64(st, COL_ATTEMPTS);
        row->agent_calls = (unsigned)sqlite3_column_int64(st, COL_AGENT_CALLS);
        row->agent_streamed = sqlite3_column_int64(st, COL_AGENT_STREAMED) != 0;
        *ret = row;
        return 0;
}

struct spool_row *spool_row_free(struct spool_row *row)
{
        free(row);
        return NULL;
}

struct spool_row **spool_rows_free(struct spool_row **rows)
{
        if (!rows)
                return NULL;
        for (struct spool_row **r = rows; *r; r++)
                free(*r);
        free(rows);
        return NULL;
}

static void spool_rows_freep(struct spool_row ***rows)
{
        spool_rows_free(*rows);
}

/* Step a bound SELECT of ROW_COLUMNS into a NULL-terminated array of at most max rows. */
static int collect_rows(struct spool *s, sqlite3_stmt *st, size_t max, struct spool_row ***ret)
{
        _cleanup_(spool_rows_freep) struct spool_row **rows = calloc(max + 1, sizeof(*rows));
        size_t n = 0;

        if (!rows)
                return -ENOMEM;
        while (n < max) {
                int rc = sqlite3_step(st), r;

                if (rc == SQLITE_DONE)
                        break;
                if (rc != SQLITE_ROW)
                        return sqlite_errno(s, rc);
                r = row_from_stmt(st, &rows[n]);
                if (r < 0)
                        return r;
                n++;
        }
        *ret = TAKE_PTR(rows);
        return (int)n;
}

int spool_next_ready(struct spool *s, int64_t now, size_t max, struct spool_row ***ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_NEXT_READY];

        max = MIN(max, (size_t)SPOOL_ROWS_MAX);
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, (int64_t)max);
        return collect_rows(s, st, max, ret);
}

int spool_next_ready_keywords(struct spool *s, int64_t now, size_t max, struct spool_row ***ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_NEXT_READY_KEYWORDS];

        max = MIN(max, (size_t)SPOOL_ROWS_MAX);
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, (int64_t)max);
        return collect_rows(s, st, max, ret);
}

int spool_get(struct spool *s, int64_t id, struct spool_row **ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_GET];
        int rc;

        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return sqlite_errno(s, rc);
        return row_from_stmt(st, ret);
}

int spool_list(struct spool *s, enum spool_state state, int64_t after_id, size_t max,
               struct spool_row ***ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_LIST];

        if (state != SPOOL_STATE_ANY && !spool_state_to_string(state))
                return -EINVAL;
        max = MIN(max, (size_t)SPOOL_ROWS_MAX);
        if (state == SPOOL_STATE_ANY)
                sqlite3_bind_null(st, 1);
        else
                sqlite3_bind_text(st, 1, state_names[state], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, after_id);
        sqlite3_bind_int64(st, 3, (int64_t)max);
        return collect_rows(s, st, max, ret);
}

int spool_counts(struct spool *s, struct spool_counts *ret)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_COUNTS];
        struct spool_counts c = {};
        int rc;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                int state = spool_state_from_string((const char *)sqlite3_column_text(st, 0));

                if (state < 0)
                        return -EBADMSG;
                c.by_state[state] = (uint64_t)sqlite3_column_int64(st, 1);
                c.reply_unknown += (uint64_t)sqlite3_column_int64(st, 2);
        }
        if (rc != SQLITE_DONE)
                return sqlite_errno(s, rc);
        *ret = c;
        return 0;
}

/* --- transitions --------------------------------------------------------------------------- */

/* Step a bound single-statement write (its own transaction in autocommit
 * mode). Returns the number of rows changed. */
static int step_write(struct spool *s, sqlite3_stmt *st, const char *what)
{
        int rc = sqlite3_step(st);

        if (rc != SQLITE_DONE)
                return write_failed(s, rc, what);
        s->writable = true;
        return sqlite3_changes(s->db);
}

/* step_write() for a commit without an fsync of its own (see spool.h, the
 * claim and the agent turn): synchronous = NORMAL for this one statement. In
 * WAL mode the commit survives a crash of the process at once, and a power
 * cut once the next synchronous commit has synced the WAL behind it. */
static int step_write_unsynced(struct spool *s, sqlite3_stmt *st, const char *what)
{
        int r = step_simple(s, ST_SYNC_NORMAL, "synchronous = NORMAL"), rr;

        if (r < 0)
                return r;
        r = step_write(s, st, what);
        rr = step_simple(s, ST_SYNC_FULL, "synchronous = FULL");
        return rr < 0 ? rr : r;
}

/* After a transition changed nothing: why? -ENOENT, or the row's states. */
static int probe(struct spool *s, int64_t id, enum spool_state *ret_state,
                 enum spool_reply_state *ret_reply)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_PROBE];
        int rc, state, reply;

        sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return sqlite_errno(s, rc);
        state = spool_state_from_string((const char *)sqlite3_column_text(st, 0));
        reply = reply_state_from_string((const char *)sqlite3_column_text(st, 1));
        if (state < 0 || reply < 0)
                return -EBADMSG;
        *ret_state = (enum spool_state)state;
        *ret_reply = (enum spool_reply_state)reply;
        return 0;
}

/* The usual answer when a transition matched no row: -ENOENT or -ESTALE. */
static int not_changed(struct spool *s, int64_t id)
{
        enum spool_state state;
        enum spool_reply_state reply;
        int r = probe(s, id, &state, &reply);

        return r < 0 ? r : -ESTALE;
}

/* Step a bound transition of row id: 0 when it moved the row, otherwise
 * not_changed()'s answer, or the error. */
static int step_move(struct spool *s, sqlite3_stmt *st, int64_t id, const char *what)
{
        int r = step_write(s, st, what);

        if (r != 0)
                return r < 0 ? r : 0;
        return not_changed(s, id);
}

/* Statement which, that binds (id, text, updated_at), moves one row on: 0,
 * or step_move()'s why not. text[0..len), or NULL for none. */
static int move_row_with_text(struct spool *s, int which, int64_t id, const char *text, size_t len,
                              const char *what)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[which];

        sqlite3_bind_int64(st, 1, id);
        if (text)
                sqlite3_bind_text(st, 2, text, (int)len, SQLITE_STATIC);
        else
                sqlite3_bind_null(st, 2);
        sqlite3_bind_int64(st, 3, now_ms());
        return step_move(s, st, id, what);
}

/* A row's states, as probe() finds them after a transition moved nothing. */
struct row_states {
        enum spool_state state;
        enum spool_reply_state reply;
};

/* Statement which, that binds (id, updated_at), moves one row on: 0 when it
 * did; when it matched no row, 1 with the row's states in *ret (or probe's
 * -ENOENT), for the caller to tell why. Unsynced is for the commits without
 * an fsync of their own (step_write_unsynced()). */
static int move_row(struct spool *s, int which, int64_t id, bool unsynced, const char *what,
                    struct row_states *ret)
{
        int r;

        {
                _cleanup_stmt_ sqlite3_stmt *st = s->stmt[which];

                sqlite3_bind_int64(st, 1, id);
                sqlite3_bind_int64(st, 2, now_ms());
                r = unsynced ? step_write_unsynced(s, st, what) : step_write(s, st, what);
        }
        if (r != 0)
                return r < 0 ? r : 0;
        r = probe(s, id, &ret->state, &ret->reply);
        return r < 0 ? r : 1;
}

/* move_row() where any row it did not move is -ESTALE (or -ENOENT). */
static int move_row_or_stale(struct spool *s, int which, int64_t id, bool unsynced,
                             const char *what)
{
        struct row_states was;
        int r = move_row(s, which, id, unsynced, what, &was);

        return r <= 0 ? r : -ESTALE;
}

int spool_claim(struct spool *s, int64_t id)
{
        struct row_states was;
        int r = move_row(s, ST_CLAIM, id, true, "claim", &was);

        return r <= 0 ? r : was.state == SPOOL_STATE_PENDING ? -EBUSY : -ESTALE;
}

int spool_done(struct spool *s, int64_t id)
{
        return move_row_or_stale(s, ST_DONE, id, false, "done");
}

int spool_retry(struct spool *s, int64_t id, int64_t next_attempt_at, const char *error)
{
        return spool_retry_cause(s, id, next_attempt_at, NULL, error);
}

int spool_retry_cause(struct spool *s, int64_t id, int64_t next_attempt_at, const char *cause,
                      const char *error)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_RETRY];

        if (cause && strnlen(cause, SPOOL_ID_MAX + 1) > SPOOL_ID_MAX)
                return -EMSGSIZE;
        bind_text(st, 5, cause);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, next_attempt_at);
        if (error)
                sqlite3_bind_text(st, 3, error, (int)reason_len(error), SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, now_ms());
        return step_move(s, st, id, "retry");
}

/* A row leaves for good with a reason: dead, or superseded by an opt-out.
 * Both statements bind (id, reason, updated_at). */
static int close_with_reason(struct spool *s, int stmt, int64_t id, const char *reason,
                             const char *what)
{
        if (isempty(reason))
                return -EINVAL;
        return move_row_with_text(s, stmt, id, reason, reason_len(reason), what);
}

int spool_dead(struct spool *s, int64_t id, const char *reason)
{
        return close_with_reason(s, ST_DEAD, id, reason, "dead");
}

int spool_supersede(struct spool *s, int64_t id, const char *reason)
{
        return close_with_reason(s, ST_SUPERSEDE, id, reason, "supersede");
}

struct superseded {
        int64_t received_at;
        char *inbound_message_id;
};

/* The rows come back while the statement runs; each is told once it is
 * committed, which is when the statement is done. */
int spool_supersede_earlier(struct spool *s, const char *sender, int64_t received_at, int64_t id,
                            const char *reason, spool_superseded_fn each, void *userdata)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_SUPERSEDE_EARLIER];
        struct superseded *rows = NULL;
        size_t n = 0, cap = 0, changed = 0;
        int rc, r;

        if (isempty(sender) || isempty(reason))
                return -EINVAL;
        bind_text(st, 1, sender);
        sqlite3_bind_int64(st, 2, received_at);
        sqlite3_bind_int64(st, 3, id);
        sqlite3_bind_text(st, 4, reason, (int)reason_len(reason), SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now_ms());
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *imid = (const char *)sqlite3_column_text(st, 1);

                changed++;
                /* Out of memory: the row is superseded all the same, untold. */
                if (n == cap) {
                        struct superseded *more =
                                reallocarray(rows, cap ? cap * 2 : 8, sizeof(*rows));

                        if (!more)
                                continue;
                        rows = more;
                        cap = cap ? cap * 2 : 8;
                }
                rows[n].received_at = sqlite3_column_int64(st, 0);
                rows[n].inbound_message_id = imid ? strdup(imid) : NULL;
                n++;
        }
        if (rc != SQLITE_DONE)
                r = write_failed(s, rc, "supersede");
        else {
                s->writable = true;
                r = (int)MIN(changed, (size_t)INT_MAX);
        }
        for (size_t i = 0; i < n; i++) {
                if (r >= 0 && each && rows[i].inbound_message_id)
                        each(rows[i].received_at, rows[i].inbound_message_id, userdata);
                free(rows[i].inbound_message_id);
        }
        free(rows);
        return r;
}

int spool_opt_out_after(struct spool *s, const char *sender, int64_t received_at, int64_t id)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_OPT_OUT_AFTER];
        int rc;

        if (isempty(sender))
                return -EINVAL;
        bind_text(st, 1, sender);
        sqlite3_bind_int64(st, 2, received_at);
        sqlite3_bind_int64(st, 3, id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc != SQLITE_DONE)
                return sqlite_errno(s, rc);
        return 0;
}

int spool_requeue_dead(struct spool *s, int64_t id)
{
        struct row_states was;
        int r = move_row(s, ST_REQUEUE, id, false, "requeue", &was);

        return r <= 0 ? r : was.state == SPOOL_STATE_DEAD ? -EINVAL : -ESTALE;
}

int spool_reply_sending(struct spool *s, int64_t id)
{
        struct row_states was;
        int r = move_row(s, ST_REPLY_SENDING, id, false, "reply_sending", &was);

        return r <= 0 ? r : was.reply != SPOOL_REPLY_NONE ? -EALREADY : -ESTALE;
}

/* The reply went out: record its message id with statement which. */
static int reply_sent_update(struct spool *s, int which, int64_t id, const char *message_id,
                             const char *what)
{
        size_t n = message_id ? strnlen(message_id, SPOOL_ID_MAX + 1) : 0;

        if (n > SPOOL_ID_MAX)
                return -EMSGSIZE;
        return move_row_with_text(s, which, id, message_id, n, what);
}

int spool_reply_sent(struct spool *s, int64_t id, const char *message_id)
{
        return reply_sent_update(s, ST_REPLY_SENT, id, message_id, "reply_sent");
}

int spool_reply_sent_done(struct spool *s, int64_t id, const char *message_id)
{
        return reply_sent_update(s, ST_REPLY_SENT_DONE, id, message_id, "reply_sent_done");
}

/* One in_progress row's agent columns; -ESTALE when the row is not in the
 * state the statement starts from. */
static int agent_update(struct spool *s, int64_t id, int which, const char *what)
{
        /* Without a sync of its own (see spool.h): a burst of agent calls
         * must not become a burst of fsyncs on the loop. */
        return move_row_or_stale(s, which, id, true, what);
}

int spool_agent_calling(struct spool *s, int64_t id)
{
        return agent_update(s, id, ST_AGENT_CALLING, "agent_calling");
}

int spool_agent_streamed(struct spool *s, int64_t id)
{
        return agent_update(s, id, ST_AGENT_STREAMED, "agent_streamed");
}

int spool_agent_refused(struct spool *s, int64_t id)
{
        return agent_update(s, id, ST_AGENT_REFUSED, "agent_refused");
}

/* The rows the daemon died on SPOOL_INTERRUPTED_MAX times -> dead, their ids
 * into s->recovered_dead. Returns the count. */
static int recover_interrupted(struct spool *s, int64_t now)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_RECOVER_INTERRUPTED];
        char reason[128];
        int rc;

        (void)snprintf(reason, sizeof(reason), SPOOL_INTERRUPTED_REASON_FMT, SPOOL_INTERRUPTED_MAX);
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_text(st, 2, reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 3, SPOOL_INTERRUPTED_MAX);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                int64_t *more =
                        reallocarray(s->recovered_dead, s->n_recovered_dead + 1, sizeof(*more));

                if (!more)
                        return -ENOMEM;
                s->recovered_dead = more;
                s->recovered_dead[s->n_recovered_dead++] = sqlite3_column_int64(st, 0);
        }
        if (rc != SQLITE_DONE)
                return write_failed(s, rc, "recover");
        return (int)MIN(s->n_recovered_dead, (size_t)INT_MAX);
}

/* One event per row recover_interrupted() closed, once committed. */
static void log_recovered_dead(struct spool *s)
{
        for (size_t i = 0; i < s->n_recovered_dead; i++) {
                struct spool_row *row = NULL;
                char id[24], phone[LOG_PHONE_MAX];

                (void)snprintf(id, sizeof(id), "%lld", (long long)s->recovered_dead[i]);
                if (spool_get(s, s->recovered_dead[i], &row) < 0)
                        continue;
                (void)log_phone(phone, sizeof(phone), row->origination_number);
                log_error("spool.interrupted",
                          LOG_FIELDS(LF("INBOUND_MESSAGE_ID", row->inbound_message_id),
                                     LF("PHONE", phone), LF("SPOOL_ID", id),
                                     LF("ERROR", row->last_error)),
                          "message %s from %s closed as dead: %s; not tried again "
                          "('twowayctl spool retry %s' tries it with a fresh count)",
                          id, phone, row->last_error, id);
                spool_row_free(row);
        }
}

int spool_recover(struct spool *s)
{
        int64_t now = now_ms();
        int r, dead = 0, in_progress = 0, reply = 0;

        free(s->recovered_dead);
        s->recovered_dead = NULL;
        s->n_recovered_dead = 0;
        r = step_simple(s, ST_BEGIN, "begin");
        if (r < 0)
                return r;
        r = dead = recover_interrupted(s, now);
        if (r >= 0) {
                _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_RECOVER_IN_PROGRESS];

                sqlite3_bind_int64(st, 1, now);
                r = in_progress = step_write(s, st, "recover");
        }
        if (r >= 0) {
                _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_RECOVER_REPLY];

                sqlite3_bind_int64(st, 1, now);
                r = reply = step_write(s, st, "recover");
        }
        if (r >= 0)
                r = commit(s);
        if (r < 0) {
                rollback_if_open(s);
                s->n_recovered_dead = 0;
                return r;
        }
        s->stats.recovered_in_progress += (uint64_t)in_progress;
        s->stats.recovered_reply_unknown += (uint64_t)reply;
        s->stats.recovered_dead += (uint64_t)dead;
        log_recovered_dead(s);
        return dead + in_progress + reply;
}

size_t spool_recovered_dead(const struct spool *s, const int64_t **ret)
{
        *ret = s ? s->recovered_dead : NULL;
        return s ? s->n_recovered_dead : 0;
}

int spool_prune(struct spool *s, int64_t older_than, unsigned max)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_PRUNE];

        if (max == 0)
                return 0;
        sqlite3_bind_int64(st, 1, older_than);
        sqlite3_bind_int64(st, 2, (int64_t)MIN(max, (unsigned)INT32_MAX));
        return step_write(s, st, "prune");
}

int spool_purge(struct spool *s, int64_t id)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_PURGE];

        sqlite3_bind_int64(st, 1, id);
        return step_move(s, st, id, "purge");
}

/* --- salvage ------------------------------------------------------------------------------- */

#define SALVAGE_BATCH      256u
#define SALVAGE_MAX_MISSES 100000u /* consecutive unreadable ids before giving up */

static int salvage_insert(struct spool *s, const struct spool_row *w)
{
        _cleanup_stmt_ sqlite3_stmt *st = s->stmt[ST_SALVAGE];
        const char *text[] = {w->sns_message_id,
                              w->inbound_message_id,
                              w->topic_arn,
                              w->origination_number,
                              w->destination_number,
                              w->body,
                              w->keyword,
                              w->raw,
                              w->last_error,
                              w->reply_message_id};
        enum spool_state state =
                w->state == SPOOL_STATE_IN_PROGRESS ? SPOOL_STATE_PENDING : w->state;
        enum spool_reply_state reply =
                w->reply_state == SPOOL_REPLY_SENDING ? SPOOL_REPLY_UNKNOWN : w->reply_state;
        int rc = SQLITE_OK;

        for (size_t i = 0; i < ARRAY_SIZE(text) && rc == SQLITE_OK; i++)
                rc = bind_text(st, (int)i + 1, text[i]);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(st, 11, w->received_at);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(st, 12, w->next_attempt_at);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(st, 13, now_ms());
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_text(st, 14, state_names[state], -1, SQLITE_STATIC);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_text(st, 15, reply_names[reply], -1, SQLITE_STATIC);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(st, 16, w->attempts);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(st, 17, w->agent_calls);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int(st, 18, w->agent_streamed);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_text(st, 19, class_names[w->keyword_class], -1, SQLITE_STATIC);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return sqlite3_changes(s->db) > 0 ? 0 : 1;
        return sqlite_errno(s, rc);
}

/* Import one batch of rows in one transaction; a row the schema refuses (a
 * damaged one) is counted and skipped, anything else fails the batch. */
static int salvage_batch(struct spool *s, struct spool_row **rows, size_t n,
                         struct spool_salvage_result *res)
{
        struct spool_salvage_result add = {};
        int r = step_simple(s, ST_BEGIN, "begin");

        for (size_t i = 0; r >= 0 && i < n; i++) {
                int k = salvage_insert(s, rows[i]);

                if (k == 0)
                        add.imported++;
                else if (k == 1)
                        add.duplicates++;
                else if (k == -EINVAL && !sqlite3_get_autocommit(s->db))
                        add.unreadable++;
                else
                        r = k;
        }
        if (r >= 0)
                r = commit(s);
        if (r < 0) {
                rollback_if_open(s);
                return r;
        }
        res->imported += add.imported;
        res->duplicates += add.duplicates;
        res->unreadable += add.unreadable;
        return 0;
}

static void salvage_rows_free(struct spool_row **rows, size_t *n)
{
        for (size_t i = 0; i < *n; i++)
                rows[i] = spool_row_free(rows[i]);
        *n = 0;
}

/* Walk the old table by id, NOT INDEXED (its indexes may be what is damaged).
 * A read that fails restarts after the id it could not pass, so rows beyond a
 * damaged page are still reached. */
static int salvage_walk(struct spool *s, sqlite3 *old, struct spool_salvage_result *res)
{
        struct spool_row *rows[SALVAGE_BATCH];
        sqlite3_stmt *st = NULL;
        int64_t after = 0;
        unsigned misses = 0;
        size_t n = 0;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(old,
                                "SELECT " ROW_COLUMNS " FROM inbound NOT INDEXED WHERE id > ?1 "
                                "ORDER BY id",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                /* A spool from before schema 5: no keyword class, no retry cause. */
                rc = sqlite3_prepare_v2(
                        old,
                        "SELECT " ROW_BASE_COLUMNS_OF("inbound") ROW_AGENT_COLUMNS_OF(
                                "inbound") ", 'other', NULL FROM inbound "
                                           "NOT INDEXED WHERE id > ?1 ORDER BY id",
                        -1, &st, NULL);
        if (rc != SQLITE_OK)
                /* Before schema 4: no agent turn recorded either. */
                rc = sqlite3_prepare_v2(old,
                                        "SELECT " ROW_BASE_COLUMNS_OF(
                                                "inbound") ", 0, 0, 'other', NULL FROM inbound "
                                                           "NOT INDEXED WHERE id > ?1 ORDER BY id",
                                        -1, &st, NULL);
        if (rc != SQLITE_OK)
                return -EBADMSG;
        sqlite3_bind_int64(st, 1, after);
        while (r >= 0 && misses < SALVAGE_MAX_MISSES) {
                rc = sqlite3_step(st);
                if (rc == SQLITE_DONE)
                        break;
                if (rc == SQLITE_ROW) {
                        after = sqlite3_column_int64(st, COL_ID);
                        misses = 0;
                        res->read++;
                        if (row_from_stmt(st, &rows[n]) < 0)
                                res->unreadable++;
                        else if (++n == SALVAGE_BATCH) {
                                r = salvage_batch(s, rows, n, res);
                                salvage_rows_free(rows, &n);
                        }
                        continue;
                }
                res->read_errors++;
                misses++;
                sqlite3_reset(st);
                sqlite3_bind_int64(st, 1, ++after);
        }
        if (r >= 0 && n > 0)
                r = salvage_batch(s, rows, n, res);
        salvage_rows_free(rows, &n);
        sqlite3_finalize(st);
        return r;
}

int spool_salvage(struct spool *s, const char *path, struct spool_salvage_result *ret)
{
        struct spool_salvage_result res = {};
        sqlite3 *old = NULL;
        int rc, r;

        if (!s || isempty(path) || !ret)
                return -EINVAL;
        /* Read-write only so that SQLite may rebuild the WAL index beside the
         * file; nothing is written to it, not even the checkpoint at close. */
        rc = sqlite3_open_v2(path, &old,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                             NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_db_config(old, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(old, "PRAGMA query_only = 1", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                int sys = old ? sqlite3_system_errno(old) : 0;

                sqlite3_close_v2(old);
                return (rc & 0xff) == SQLITE_CANTOPEN && sys > 0 ? -sys : -EBADMSG;
        }
        /* Each batch waits for the daemon's commits, as twowayctl does. */
        sqlite3_busy_timeout(s->db, SPOOL_TOOL_BUSY_TIMEOUT_MS);
        r = salvage_walk(s, old, &res);
        sqlite3_busy_timeout(s->db, s->busy_ms);
        sqlite3_close_v2(old);
        if (r < 0)
                return r;
        *ret = res;
        return 0;
}
