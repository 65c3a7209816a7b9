/*
 * ctl_table.c — column-aligned text tables.
 */
#include <stdio.h>

#include "common.h"
#include "ctl_table.h"
#include "utf8.h"

struct ctl_table {
        size_t n_columns;
        size_t n_rows; /* including the header row */
        size_t allocated;
        char **cells; /* n_rows * n_columns */
};

size_t ctl_text_width(const char *s)
{
        return s ? utf8_length(s, strlen(s)) : 0;
}

static char *cell_dup(const char *s)
{
        char *c;

        if (isempty(s))
                return strdup("-");
        c = strdup(s);
        if (!c)
                return NULL;
        for (char *p = c; *p; p++)
                if ((unsigned char)*p < ' ' || *p == 0x7f)
                        *p = '?';
        return c;
}

static int add_row(struct ctl_table *t, const char *const *cells)
{
        size_t base;

        if (t->n_rows == t->allocated) {
                size_t na = t->allocated ? t->allocated * 2 : 8;
                char **nc = reallocarray(t->cells, na * t->n_columns, sizeof(char *));

                if (!nc)
                        return -ENOMEM;
                t->cells = nc;
                t->allocated = na;
        }
        base = t->n_rows * t->n_columns;
        for (size_t i = 0; i < t->n_columns; i++) {
                t->cells[base + i] = cell_dup(cells[i]);
                if (!t->cells[base + i]) {
                        while (i > 0)
                                free(t->cells[base + --i]);
                        return -ENOMEM;
                }
        }
        t->n_rows++;
        return 0;
}

struct ctl_table *ctl_table_new(const char *const *headers, size_t n_columns)
{
        struct ctl_table *t;

        if (!headers || n_columns == 0)
                return NULL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->n_columns = n_columns;
        if (add_row(t, headers) < 0)
                return ctl_table_free(t);
        return t;
}

struct ctl_table *ctl_table_free(struct ctl_table *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
                free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
        if (!t || !cells)
                return -EINVAL;
        return add_row(t, cells);
}

size_t ctl_table_rows(const struct ctl_table *t)
{
        return t ? t->n_rows - 1 : 0;
}

int ctl_table_print_titled(struct ctl_table *t, const char *title)
{
        char *s = ctl_table_format(t);

        ctl_table_free(t);
        if (!s)
                return -ENOMEM;
        printf("\n%s:\n%s", title, s);
        free(s);
        return 0;
}

char *ctl_table_format(const struct ctl_table *t)
{
        _cleanup_free_ size_t *width = NULL;
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        if (!t)
                return NULL;
        width = calloc(t->n_columns, sizeof(size_t));
        if (!width)
                return NULL;
        for (size_t r = 0; r < t->n_rows; r++)
                for (size_t c = 0; c < t->n_columns; c++)
                        width[c] = MAX(width[c], ctl_text_width(t->cells[r * t->n_columns + c]));

        f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        for (size_t r = 0; r < t->n_rows; r++) {
                size_t pad = 0;

                for (size_t c = 0; c < t->n_columns; c++) {
                        const char *cell = t->cells[r * t->n_columns + c];

                        /* Padding is written lazily, so a line never ends in blanks. */
                        if (c > 0)
                                pad += 2;
                        (void)fprintf(f, "%*s%s", (int)pad, "", cell);
                        pad = width[c] - ctl_text_width(cell);
                }
                (void)fputc('\n', f);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}
