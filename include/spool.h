/*
 * spool.h — the durable store of inbound SMS (SQLite, WAL, group commit).
 *
 * SNS POSTs each inbound SMS to the ingress, which answers 200 only after
 * spool_put() has completed with 0 (stored now) or 1 (already stored). A
 * dispatcher later walks the stored rows: consent check, agent, reply.
 *
 * Storage: one SQLite database, <dir>/spool.db, in WAL mode with
 * synchronous=FULL, so a completed commit has been fsync'd and survives a
 * power cut. The schema is versioned with PRAGMA user_version; spool_open()
 * migrates older versions forward, one transaction per step, and refuses a
 * newer version (-EPROTONOSUPPORT) rather than guess. The directory itself
 * is not created here (systemd's StateDirectory= owns it and its mode).
 *
 * Group commit: spool_put() only queues. An ev_prepare watcher (libev's
 * "before sleep" hook) writes every put queued during one loop iteration in
 * ONE transaction (BEGIN IMMEDIATE ... COMMIT), at most batch_max rows; the
 * rest are carried to the next iteration, and the loop does not sleep while
 * puts are queued. Each caller then gets its own result:
 *     0        stored by this commit; id is the new row's id;
 *     1        duplicate: a row of the same message is already stored (an
 *              SNS redelivery): the same inbound_message_id, or for a put
 *              without one (spool_put_dead()) the same sns_message_id;
 *              nothing was written for this put; id is 0;
 *   < 0        the batch failed (-ENOSPC, -EIO, -EROFS, -EACCES, -EBUSY,
 *              -ENOMEM...): the whole transaction was rolled back, nothing
 *              of the batch is stored, and every put of the batch gets the
 *              same error. -ECANCELED when the spool was freed first.
 *              (A put that SQLite rejects on its own, -EINVAL or -EMSGSIZE,
 *              fails alone; spool_put() validates so that this cannot
 *              happen in practice.)
 * Before each batch the free space of the filesystem is checked (statvfs);
 * below min_free_bytes the batch fails with -ENOSPC without touching the
 * database (the model is OpenSMTPD's queue MINSPACE): SQLite must never be
 * the one to find out that the disk is full.
 *
 * Callback contract: if spool_put() or spool_put_dead() returns an error,
 * the callback is never called. Otherwise it is called exactly once, from
 * the loop, never from inside the starting call. spool_free() is the only
 * exception: it completes every queued put with -ECANCELED before it returns
 * (nothing of them is stored). Callbacks may queue new puts but must not
 * free the spool.
 *
 * Health: after a failed write (a batch, or a dispatcher transition) the
 * spool reports spool_is_writable() == false until the next successful
 * commit. /healthz and the ingress answer 503 meanwhile, and SNS retries
 * 5xx. The ingress should keep calling spool_put() while unhealthy: the next
 * batch is the probe that clears the flag.
 *
 * Blocking: this module runs on the loop thread and SQLite is synchronous.
 * The one deliberate blocking operation is the fsync in COMMIT (with WAL and
 * synchronous=FULL, one fdatasync of the WAL per transaction), which the
 * whole batch shares; that is the point of grouping. Every so often
 * (wal_autocheckpoint, 1000 pages) a commit also runs a passive checkpoint,
 * which writes and fsyncs spool.db, and spool_free() checkpoints once more.
 * busy_timeout is small (SPOOL_BUSY_TIMEOUT_MS) so that another process
 * (twowayctl) holding the write lock costs at most that much, then the batch
 * fails with -EBUSY. Dispatcher reads and transitions are single short
 * statements on cached prepared statements and indexes; each write is its
 * own transaction, with its own fsync but for the claim and the agent turn
 * (below). A conversation so costs two fsyncs beyond its insert: the reply's
 * 'sending' mark, then 'sent' and done together.
 *
 * Per-sender order: a sender's messages are handled in (received_at, id)
 * order, one at a time. A pending row is "ready" when next_attempt_at <= now,
 * the sender has no row in_progress, and the sender has no earlier pending
 * row. Consent keywords (keyword_class other than 'other') jump the queue: one
 * is ready when the sender has no consent keyword in progress and no earlier
 * pending one, whatever the sender's other messages are doing, so a STOP is
 * handled at once and a sender's keywords keep their order among themselves.
 * An earlier message that is waiting for a retry (next_attempt_at in the
 * future) blocks the sender's later messages until it is done, dead or
 * superseded: replies never overtake each other. The blocking is bounded by the
 * dispatcher's retry policy (a row that keeps failing goes dead, which
 * unblocks the sender); other senders are never blocked. spool_claim()
 * enforces the same rule (-EBUSY), so the order holds in storage and not
 * only in the dispatcher.
 *
 * Exactly-once replies: spool_reply_sending() is committed before the SMS
 * send is started and spool_reply_sent() after it succeeded. A row found
 * with reply_state 'sending' at open becomes 'unknown' (the send may or may
 * not have happened). spool_reply_sending() refuses (-EALREADY) any row whose
 * reply_state is not 'none', so a reply is never sent twice; the dispatcher
 * finishes a recovered row with reply_state 'sent' as done and one with
 * 'unknown' as dead (or done), without sending.
 *
 * Ownership: struct spool is owned by its creator (spool_free()). Every
 * string of struct spool_msg is borrowed: spool_put() copies what it keeps
 * before it returns, so the caller frees its own strings whenever it likes.
 * spool_get(), spool_list() and spool_next_ready() return rows allocated for
 * the caller: one struct spool_row is a single allocation (its strings live
 * in it), freed with spool_row_free(); arrays are NULL-terminated and freed,
 * rows included, with spool_rows_free().
 *
 * Loop thread only; one struct spool per database file in this process.
 */
#ifndef TWOWAYD_SPOOL_H
#define TWOWAYD_SPOOL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct spool;

#define SPOOL_DB_NAME              "spool.db"
#define SPOOL_LOCK_NAME            "spool.lock"
#define SPOOL_SCHEMA_VERSION       7
#define SPOOL_MIN_FREE_DEFAULT     (16ull * 1024 * 1024)
#define SPOOL_BATCH_MAX_DEFAULT    256u
#define SPOOL_QUEUE_MAX_DEFAULT    8192u /* queued puts; above it spool_put() gives -ENOBUFS */
#define SPOOL_BUSY_TIMEOUT_MS      50
#define SPOOL_TOOL_BUSY_TIMEOUT_MS 5000  /* twowayctl's wait for the daemon's write lock */
#define SPOOL_ROWS_MAX             1024u /* bound for one spool_list()/spool_next_ready() */

/* Limits on stored text, in bytes; spool_put() gives -EMSGSIZE above them. */
#define SPOOL_ID_MAX     256u          /* ids, numbers, keyword */
#define SPOOL_ARN_MAX    512u          /* topic ARN: a 256-character name plus the prefix */
#define SPOOL_BODY_MAX   (16u * 1024)  /* an SMS body: 1600 characters of up to 4 bytes, and more */
#define SPOOL_RAW_MAX    (256u * 1024) /* an SNS message is at most 256 KiB */
#define SPOOL_REASON_MAX 1024u         /* last_error / dead reason; longer ones are cut */

/* A row the daemon died on (crash, OOM kill, kill -9, watchdog abort) this
 * many times while it was in progress is closed as dead by the recovery at
 * start instead of being claimed again: a message whose processing kills the
 * daemon must not take the service down at every restart. */
#define SPOOL_INTERRUPTED_MAX        3
#define SPOOL_INTERRUPTED_REASON_FMT "interrupted %d times: the daemon stopped while working on it"

enum spool_state {
        SPOOL_STATE_PENDING,
        SPOOL_STATE_IN_PROGRESS,
        SPOOL_STATE_DONE,
        SPOOL_STATE_DEAD,
        SPOOL_STATE_SUPERSEDED, /* closed without a reply: the sender opted out meanwhile */
        _SPOOL_STATE_MAX,
        SPOOL_STATE_ANY = -1,           /* spool_list(): every state */
        _SPOOL_STATE_INVALID = -EINVAL, /* spool_state_from_string(): not a state */
};

/* The keyword class of a message, decided when it is stored (keyword.h, as
 * for a sender who is not opted out; "YES" is therefore 'other'). */
enum spool_class {
        SPOOL_CLASS_OTHER,
        SPOOL_CLASS_OPT_OUT,
        SPOOL_CLASS_OPT_IN,
        SPOOL_CLASS_HELP,
        _SPOOL_CLASS_MAX,
};

enum spool_reply_state {
        SPOOL_REPLY_NONE,
        SPOOL_REPLY_SENDING,
        SPOOL_REPLY_SENT,
        SPOOL_REPLY_UNKNOWN,
        _SPOOL_REPLY_MAX,
};

/* Who opens the spool. The tool's two modes run beside a daemon whose rows in
 * progress are its own: no lock, no integrity check, no spool_recover(). */
enum spool_access {
        SPOOL_DAEMON = 0, /* lock, integrity check, migration, crash recovery */
        SPOOL_TOOL_READ,  /* reads only, on a read-only connection: WAL lets it read
                           * while the daemon writes, so it never meets the write lock;
                           * a spool of another schema version is refused
                           * (-EPROTONOSUPPORT), not migrated */
        SPOOL_TOOL_WRITE, /* changes rows: a change waits up to SPOOL_TOOL_BUSY_TIMEOUT_MS
                           * for the daemon's write lock (its commits are short), then
                           * fails with -EBUSY */
};

struct spool_options {
        const char *dir;         /* required: the directory holding spool.db (copied) */
        uint64_t min_free_bytes; /* 0: SPOOL_MIN_FREE_DEFAULT */
        unsigned batch_max;      /* rows per commit; 0: SPOOL_BATCH_MAX_DEFAULT */
        unsigned queue_max;      /* 0: SPOOL_QUEUE_MAX_DEFAULT */
        enum spool_access access;
};

/* What spool_salvage() did. */
struct spool_salvage_result {
        uint64_t read;        /* rows read from the old file */
        uint64_t imported;    /* stored in this spool */
        uint64_t duplicates;  /* already here (same sns_message_id or inbound_message_id) */
        uint64_t unreadable;  /* read but damaged (bad state, a required field missing) */
        uint64_t read_errors; /* reads that failed and were skipped past */
};

/* An inbound message to store. All strings are borrowed (see Ownership).
 * spool_put() requires sns_message_id, inbound_message_id,
 * origination_number, destination_number and body (which may be ""); the
 * rest may be NULL (-EINVAL otherwise, -EMSGSIZE above the limits). spool_put_dead() requires only
 * sns_message_id. */
struct spool_msg {
        const char *sns_message_id;     /* SNS MessageId */
        const char *inbound_message_id; /* inboundMessageId of the inner message */
        const char *topic_arn;
        const char *origination_number; /* E.164, the sender */
        const char *destination_number; /* E.164, our number */
        const char *body;
        const char *keyword;
        const char *raw;     /* the SNS Message (JSON text) as received */
        int64_t received_at; /* ms since the epoch, UTC; <= 0: the time of the put */
        enum spool_class keyword_class;
};

/* A stored row. Strings are NULL where the column is NULL. */
struct spool_row {
        int64_t id;
        const char *sns_message_id;
        const char *inbound_message_id;
        const char *topic_arn;
        const char *origination_number;
        const char *destination_number;
        const char *body;
        const char *keyword;
        const char *raw;
        const char *last_error;
        const char *reply_message_id;
        const char *retry_cause; /* the typed cause of the last retry (spool_retry_cause()) */
        int64_t received_at;     /* ms epoch UTC */
        int64_t next_attempt_at; /* ms epoch UTC */
        int64_t updated_at;      /* ms epoch UTC */
        enum spool_state state;
        enum spool_reply_state reply_state;
        unsigned attempts;
        unsigned agent_calls; /* InvokeAgent calls that may have reached the agent */
        bool agent_streamed;  /* an answer stream began: the agent is not asked again */
        enum spool_class keyword_class;
};

struct spool_counts {
        uint64_t by_state[_SPOOL_STATE_MAX];
        uint64_t reply_unknown; /* rows whose reply may or may not have been sent */
};

/* Counters for metrics and tests; monotonic since spool_open(). */
struct spool_stats {
        uint64_t commits;          /* SQLite commits of any kind (its commit hook) */
        uint64_t batches;          /* successful group commits */
        uint64_t batch_failures;   /* failed group commits */
        uint64_t rows_stored;      /* puts that completed with 0 */
        uint64_t duplicates;       /* puts that completed with 1 */
        uint64_t last_batch_rows;  /* rows (puts) in the last successful batch */
        uint64_t last_commit_usec; /* wall time of the last successful COMMIT statement */
        uint64_t max_commit_usec;
        uint64_t recovered_in_progress; /* by the recovery at spool_open() */
        uint64_t recovered_reply_unknown;
        /* Closed by it: interrupted SPOOL_INTERRUPTED_MAX times. */
        uint64_t recovered_dead;
        uint64_t sql_steps; /* SQLite virtual-machine steps of every statement so far: what
                             * the spool's reads and writes cost, whatever the clock says */
        size_t queued;      /* puts waiting for a batch now */
};

/* r: 0 stored, 1 duplicate, < 0 the batch failed (see above). id: the new
 * row's id when r == 0, else 0. */
typedef void (*spool_put_cb)(struct spool *s, int r, int64_t id, void *userdata);

/* Open (creating and migrating as needed) <dir>/spool.db, then recover
 * (spool_recover()). -EPROTONOSUPPORT: written by a newer twowayd (or, for
 * SPOOL_TOOL_READ, by any other version); -EMEDIUMTYPE: the file is some
 * other application's database.
 *
 * SPOOL_DAEMON access first takes an exclusive flock(2) on <dir>/spool.lock,
 * held until spool_free(): -EBUSY when another process holds it (nothing has
 * been read or written; spool_lock_holder() names it). Then PRAGMA
 * quick_check: a spool.db that fails it (or is not a database at all) is
 * renamed to spool.db.corrupt-<UTC time> (its WAL with it), and a fresh one is
 * created in its place; spool_moved_aside() tells where the old one went, for
 * twowayctl spool salvage. The tool's modes (enum spool_access) do none of
 * that, never create spool.db, and take no write lock to open it. */
int spool_open(struct ev_loop *loop, const struct spool_options *opts, struct spool **ret);
/* The pid written into <dir>/spool.lock by its holder (or by its last one). */
int spool_lock_holder(const char *dir, long *ret_pid);
/* The path a corrupt spool.db was moved to by spool_open(), or NULL. */
const char *spool_moved_aside(const struct spool *s);
/* Import the readable rows of another spool file (one moved aside as
 * corrupt): each row keeps its state and times, as crash recovery would leave
 * it (in_progress becomes pending, a reply being sent becomes unknown), with a
 * new id; a row whose sns_message_id or inbound_message_id is already stored
 * is skipped, so salvaging twice imports nothing the second time. Never
 * writes to path. Synchronous, in transactions of a few hundred rows (for
 * twowayctl, beside a running daemon). -EBADMSG when nothing of it can be
 * read. */
int spool_salvage(struct spool *s, const char *path, struct spool_salvage_result *ret);

/* Completes queued puts with -ECANCELED, then closes. Accepts NULL; returns NULL. */
struct spool *spool_free(struct spool *s);

int spool_put(struct spool *s, const struct spool_msg *msg, spool_put_cb cb, void *userdata);

/* Store a correctly signed SNS notification whose inner message is unusable,
 * as dead with the reason: it is acknowledged and deduplicated like any other
 * but never handed to the dispatcher. */
int spool_put_dead(struct spool *s, const struct spool_msg *msg, const char *reason,
                   spool_put_cb cb, void *userdata);

bool spool_is_writable(const struct spool *s);
void spool_get_stats(const struct spool *s, struct spool_stats *ret);

/* Dispatcher reads and transitions: synchronous, each its own transaction.
 * Errors: -ENOENT no such row; -ESTALE the row is not in the state the
 * transition starts from; -EBUSY (claim) an earlier message of the same sender
 * is pending or in progress; storage errors as for puts. */

/* Up to max (<= SPOOL_ROWS_MAX) ready rows, oldest first, at most one per
 * sender (see Per-sender order). Returns the count; *ret is a NULL-terminated
 * array (also when empty). */
int spool_next_ready(struct spool *s, int64_t now, size_t max, struct spool_row ***ret);
/* The same, consent keywords only (keyword_class other than 'other'). */
int spool_next_ready_keywords(struct spool *s, int64_t now, size_t max, struct spool_row ***ret);
/* pending -> in_progress, committed without an fsync of its own (as the agent
 * turn below): crash recovery turns every in_progress row back to pending,
 * so a claim lost to a power cut is one recovery would have undone anyway;
 * the next synchronous commit (the reply's 'sending' mark, or any other)
 * syncs it.
 *
 * It stays a commit of its own, not folded into the job's first later write:
 * it is the stored form of the per-sender order (the -EBUSY above, and the
 * sender no other read finds ready while it is in progress), and that later
 * write comes only after a network call (the consent read), during which the
 * row must not look pending. Folding it would move the order into the
 * dispatcher's memory beside the SQL, to save a commit that has no fsync:
 * measured, the claim costs ~30 us of CPU, most of it the state change that
 * any statement taking the row would carry, and an unsynced commit of a
 * small change ~8 us (docs/BENCHMARKS.md, "The claim"). Exactly one reply
 * across kill -9 does not rest on it (the reply_state marks do). It keeps no
 * attempt count: a message that crashes the process before any step's
 * verdict is claimed again after each restart. */
int spool_claim(struct spool *s, int64_t id);
int spool_done(struct spool *s, int64_t id); /* in_progress -> done */
/* in_progress -> pending, attempts + 1, next_attempt_at, last_error = error,
 * retry_cause = cause (a short name the dispatcher reads back; NULL: none). */
int spool_retry(struct spool *s, int64_t id, int64_t next_attempt_at, const char *error);
int spool_retry_cause(struct spool *s, int64_t id, int64_t next_attempt_at, const char *cause,
                      const char *error);
/* pending or in_progress -> superseded, last_error = reason: the sender opted
 * out, so the message is closed without a reply. */
int spool_supersede(struct spool *s, int64_t id, const char *reason);
/* Every pending row of sender that is not a consent keyword and comes before
 * (received_at, id) -> superseded. Returns the number of rows changed; each
 * (may be NULL) is called for every one of them that has an inbound message
 * id, once they are committed (not on failure). */
typedef void (*spool_superseded_fn)(int64_t received_at, const char *inbound_message_id,
                                    void *userdata);
int spool_supersede_earlier(struct spool *s, const char *sender, int64_t received_at, int64_t id,
                            const char *reason, spool_superseded_fn each, void *userdata);
/* 1 when sender has an opt-out stored after (received_at, id) that is
 * pending, in progress or done; 0 when not. */
int spool_opt_out_after(struct spool *s, const char *sender, int64_t received_at, int64_t id);
/* pending or in_progress -> dead, last_error = reason. */
int spool_dead(struct spool *s, int64_t id, const char *reason);
/* dead -> pending, attempts = 0, interruptions = 0 (an operator's retry starts
 * the count afresh), due now. -EINVAL for a row without the fields a
 * dispatcher needs (a spool_put_dead() of an unusable message). The
 * reply_state is kept, so a reply already sent (or maybe sent) is not
 * repeated. */
int spool_requeue_dead(struct spool *s, int64_t id);

/* reply_state none -> sending (-EALREADY from any other reply_state), and
 * sending -> sent with the SMS message id (-ESTALE from any other). Both are
 * committed (fsync'd) before they return. */
int spool_reply_sending(struct spool *s, int64_t id);
int spool_reply_sent(struct spool *s, int64_t id, const char *message_id);
/* spool_reply_sent() and spool_done() in one commit: an in_progress row with
 * reply_state 'sending' -> done, 'sent'; -ESTALE when the row is in any other
 * state (then nothing changed, and the two calls apart say what applies). */
int spool_reply_sent_done(struct spool *s, int64_t id, const char *message_id);

/* The agent turn (agent.h, AGENT TURNS), each committed before it returns,
 * on an in_progress row (-ESTALE otherwise), but without an fsync of its own
 * (synchronous = NORMAL for that one commit): in WAL mode the commit survives
 * a crash of the process (kill -9) at once, and a power cut once the next
 * synchronous commit of any row has synced the WAL behind it. So a burst of
 * agent calls costs no burst of fsyncs on the loop; a power cut at the wrong
 * moment may cost one more call for a message: spool_agent_calling() before an
 * InvokeAgent is started (agent_calls + 1; -ESTALE too once agent_streamed),
 * spool_agent_streamed() when its answer stream begins, spool_agent_refused()
 * when the service refused the call with an error response before any
 * stream (agent_calls - 1: that call never reached the agent). */
int spool_agent_calling(struct spool *s, int64_t id);
int spool_agent_streamed(struct spool *s, int64_t id);
int spool_agent_refused(struct spool *s, int64_t id);

/* Crash recovery, run by spool_open(), in one transaction: each in_progress
 * row counts one more interruption (only here: not a retry, a claim or a
 * clean stop, which leaves no row in progress); one with reply_state none that
 * reaches SPOOL_INTERRUPTED_MAX -> dead with the reason above (one error event
 * each), every other in_progress -> pending; reply_state sending -> unknown.
 * Returns the number of rows changed. Only safe while no dispatcher work is
 * outstanding. */
int spool_recover(struct spool *s);
/* The ids of the rows the last spool_recover() closed as dead, in *ret (owned
 * by the spool, valid until the next spool_recover() or spool_free()), so
 * that what they leave elsewhere (a cluster record) can be finished. Returns
 * the count. */
size_t spool_recovered_dead(const struct spool *s, const int64_t **ret);

/* Delete done rows last updated before older_than (ms epoch), at most max per
 * call (so one call stays short); returns the number deleted. */
int spool_prune(struct spool *s, int64_t older_than, unsigned max);
/* Delete one done or dead row (twowayctl spool purge); -ESTALE otherwise. */
int spool_purge(struct spool *s, int64_t id);

int spool_counts(struct spool *s, struct spool_counts *ret);

/* One row by id, or -ENOENT. */
int spool_get(struct spool *s, int64_t id, struct spool_row **ret);
/* Rows in a state (or SPOOL_STATE_ANY) with id > after_id, by id, at most max
 * (<= SPOOL_ROWS_MAX). Returns the count; *ret as for spool_next_ready(). */
int spool_list(struct spool *s, enum spool_state state, int64_t after_id, size_t max,
               struct spool_row ***ret);

struct spool_row *spool_row_free(struct spool_row *row);
struct spool_row **spool_rows_free(struct spool_row **rows);

const char *spool_state_to_string(enum spool_state state);
enum spool_state spool_state_from_string(const char *s); /* _SPOOL_STATE_INVALID if unknown */
const char *spool_reply_state_to_string(enum spool_reply_state state);
const char *spool_class_to_string(enum spool_class c);
int spool_class_from_string(const char *s); /* the class, or -EBADMSG if unknown */

#ifdef TWOWAYD_UNIT_TEST
/* Make the next n commits fail as a failing fsync would (the commit hook turns
 * COMMIT into ROLLBACK); the failed operations report err. */
void spool_test_fail_commits(struct spool *s, unsigned n, int err);
#endif

#endif
