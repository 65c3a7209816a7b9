/*
 * ctl_table.h — plain-text tables for twowayctl (pure).
 *
 * Columns are left-aligned, separated by two spaces and as wide as their
 * widest cell (counted in UTF-8 characters); the first line holds the
 * headers; trailing blanks are cut. An empty or NULL cell prints as "-".
 * Control characters in cells print as '?', so a cell cannot break a line.
 *
 * Ownership: the table copies every string; ctl_table_format() returns a
 * malloc'd string the caller frees. ctl_table_free() accepts NULL.
 */
#ifndef TWOWAYD_CTL_TABLE_H
#define TWOWAYD_CTL_TABLE_H

#include <stddef.h>

struct ctl_table;

/* NULL on OOM or n_columns == 0. */
struct ctl_table *ctl_table_new(const char *const *headers, size_t n_columns);
struct ctl_table *ctl_table_free(struct ctl_table *t);
/* cells has n_columns entries. 0 or -ENOMEM. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);
size_t ctl_table_rows(const struct ctl_table *t);
/* The whole table, one line per row, each ending in '\n'; NULL on OOM. */
char *ctl_table_format(const struct ctl_table *t);
/* Print "\n" title ":\n" and the table on stdout, and free the table. 0 or -ENOMEM. */
int ctl_table_print_titled(struct ctl_table *t, const char *title);

/* Width of s in UTF-8 characters (continuation bytes not counted). */
size_t ctl_text_width(const char *s);

#endif
