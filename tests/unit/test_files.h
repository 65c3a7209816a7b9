/*
 * test_files.h — for unit tests that give the code under test real files:
 * write one whole, and remove a temporary directory with all it holds.
 *
 * Header-only (static functions), included by one test file at a time.
 */
#ifndef TWOWAYD_TEST_FILES_H
#define TWOWAYD_TEST_FILES_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

/* Writes text as the whole of path; 0, or -1 if any step failed. */
static inline int write_file(const char *path, const char *text)
{
        FILE *fp = fopen(path, "we");
        int r;

        if (!fp)
                return -1;
        r = fputs(text, fp) < 0 ? -1 : 0;
        return fclose(fp) == 0 ? r : -1;
}

static inline int remove_tree_entry(const char *path, const struct stat *st, int flag,
                                    struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

/* Removes dir and everything below it, deepest first; links are removed,
 * never followed. */
static inline int remove_tree(const char *dir)
{
        return nftw(dir, remove_tree_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* A cmocka group teardown, for a group whose setup made a temporary
 * directory and left its path in *state: removes the directory. */
static inline int remove_tree_teardown(void **state)
{
        (void)remove_tree(*state);
        return 0;
}

#endif
