/*
 * spool-hold — another process in the middle of a write to a live spool, as
 * the daemon is during a commit: BEGIN IMMEDIATE (the write lock) and an
 * uncommitted change, held until stdin closes, then rolled back.
 *
 *   spool-hold DIR      prints "held" once the lock is taken
 */
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

int main(int argc, char *argv[])
{
        char path[4096];
        sqlite3 *db = NULL;
        int rc;

        if (argc != 2) {
                fprintf(stderr, "usage: spool-hold DIR\n");
                return EXIT_FAILURE;
        }
        snprintf(path, sizeof(path), "%s/spool.db", argv[1]);
        rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_busy_timeout(db, 5000);
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(db, "BEGIN IMMEDIATE; UPDATE inbound SET last_error = last_error",
                                  NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                fprintf(stderr, "spool-hold: %s: %s\n", path, sqlite3_errmsg(db));
                sqlite3_close(db);
                return EXIT_FAILURE;
        }
        printf("held\n");
        fflush(stdout);
        while (getchar() != EOF)
                ;
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
        return EXIT_SUCCESS;
}
