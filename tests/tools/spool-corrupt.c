/*
 * spool-corrupt — damages a stopped daemon's spool the way a bad disk block
 * would: the page of one b-tree (an index by default) is overwritten with
 * garbage, so the rows stay readable through the table but PRAGMA
 * quick_check fails.
 *
 *   spool-corrupt DIR [NAME]     NAME: an index or table (inbound_sender)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

static long long query_int(sqlite3 *db, const char *sql, const char *arg)
{
        sqlite3_stmt *st = NULL;
        long long v = -1;

        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
                if (arg)
                        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW)
                        v = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        return v;
}

int main(int argc, char *argv[])
{
        const char *name = argc > 2 ? argv[2] : "inbound_sender";
        char path[4096];
        long long page, size;
        sqlite3 *db = NULL;
        FILE *fp;

        if (argc < 2 || argc > 3) {
                fprintf(stderr, "usage: spool-corrupt DIR [NAME]\n");
                return EXIT_FAILURE;
        }
        snprintf(path, sizeof(path), "%s/spool.db", argv[1]);
        /* Opening and closing checkpoints the WAL: every row is in spool.db. */
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
                fprintf(stderr, "spool-corrupt: %s: %s\n", path, sqlite3_errmsg(db));
                return EXIT_FAILURE;
        }
        page = query_int(db, "SELECT rootpage FROM sqlite_master WHERE name = ?1", name);
        size = query_int(db, "PRAGMA page_size", NULL);
        sqlite3_close(db);
        if (page <= 0 || size <= 0) {
                fprintf(stderr, "spool-corrupt: no b-tree named %s in %s\n", name, path);
                return EXIT_FAILURE;
        }
        fp = fopen(path, "r+b");
        if (!fp || fseek(fp, (long)((page - 1) * size), SEEK_SET) != 0) {
                fprintf(stderr, "spool-corrupt: %s: cannot seek to page %lld\n", path, page);
                return EXIT_FAILURE;
        }
        for (long long i = 0; i < size; i++)
                fputc(0xa5, fp);
        if (fclose(fp) != 0) {
                fprintf(stderr, "spool-corrupt: %s: write failed\n", path);
                return EXIT_FAILURE;
        }
        printf("page %lld of %s overwritten\n", page, path);
        return EXIT_SUCCESS;
}
