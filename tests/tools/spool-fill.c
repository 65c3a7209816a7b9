/*
 * spool-fill — adds N answered (done) rows to a stopped daemon's spool in one
 * transaction, for tests that need a large spool without delivering it.
 *
 *   spool-fill DIR N
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <ev.h>
#include <sqlite3.h>

#include "spool.h"

int main(int argc, char *argv[])
{
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct spool *s = NULL;
        char path[4096];
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        long long n, now = (long long)time(NULL) * 1000;
        int r, rc;

        if (argc != 3 || (n = atoll(argv[2])) <= 0) {
                fprintf(stderr, "usage: spool-fill DIR N\n");
                return EXIT_FAILURE;
        }
        /* The spool's own open creates or migrates the schema. */
        r = spool_open(loop, &(struct spool_options){.dir = argv[1]}, &s);
        if (r < 0) {
                fprintf(stderr, "spool-fill: %s: %s\n", argv[1], strerror(-r));
                return EXIT_FAILURE;
        }
        spool_free(s);
        snprintf(path, sizeof(path), "%s/%s", argv[1], SPOOL_DB_NAME);
        rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_prepare_v2(
                        db,
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
                        "?1) "
                        "INSERT INTO inbound (sns_message_id, inbound_message_id, "
                        "origination_number, destination_number, body, received_at, state, "
                        "next_attempt_at, updated_at, reply_state) SELECT 'fill-' || i, "
                        "'fill-in-' || i, printf('+1425%07d', i % 5000), '+18005550199', "
                        "'filler ' || i, ?2, 'done', ?2, ?2, 'sent' FROM n",
                        -1, &st, NULL);
        if (rc == SQLITE_OK) {
                sqlite3_bind_int64(st, 1, n);
                sqlite3_bind_int64(st, 2, now);
                rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        }
        sqlite3_finalize(st);
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                fprintf(stderr, "spool-fill: %s: %s\n", path, sqlite3_errmsg(db));
                sqlite3_close(db);
                return EXIT_FAILURE;
        }
        sqlite3_close(db);
        ev_loop_destroy(loop);
        printf("%lld rows added\n", n);
        return EXIT_SUCCESS;
}
