/*
 * config_fixture.h — for the unit tests of the config reader (config_test.c)
 * and of its schema (config_schema_test.c): test configs written to a
 * mkdtemp() directory (removed by the group teardown), loaded with
 * config_load(), and the diagnostics expected of them ("LINE: message").
 *
 * Header-only (static functions), included by one test file at a time.
 */
#ifndef TWOWAYD_TEST_CONFIG_FIXTURE_H
#define TWOWAYD_TEST_CONFIG_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>

#include "common.h"
#include "config.h"

#include "test_files.h"

static char tmpdir[] = "/tmp/twowayd-config-test.XXXXXX";
static unsigned file_seq;

static inline int group_setup(void **state)
{
        (void)state;
        return mkdtemp(tmpdir) ? 0 : -1;
}

static inline int group_teardown(void **state)
{
        (void)state;
        return remove_tree(tmpdir);
}

/* Write text to a new file in tmpdir; returns its malloc'd path. */
static inline char *write_temp(const char *text)
{
        char *path;

        assert_true(asprintf(&path, "%s/t%u.conf", tmpdir, ++file_seq) > 0);
        assert_int_equal(write_file(path, text), 0);
        return path;
}

/* The required keys, so a test adds only what it is about. 7 lines. */
#define REQUIRED                                                                                   \
        "[sns]\n"                                                                                  \
        "topic_arns = arn:aws:sns:us-east-1:123456789012:twowayd-inbound\n"                        \
        "[consent]\n"                                                                              \
        "table = twowayd-consent\n"                                                                \
        "[agent]\n"                                                                                \
        "agent_id = AGENT12345\n"                                                                  \
        "agent_alias_id = ALIAS12345\n"
#define REQUIRED_LINES 7

struct loaded {
        char *path;
        struct config *config;
        struct config_diag diag;
        int r;
};

static inline void load_text(const char *text, struct loaded *l)
{
        *l = (struct loaded){0};
        l->path = write_temp(text);
        l->r = config_load(l->path, &l->config, &l->diag);
        /* A config comes back exactly when there are no diagnostics. */
        if (l->r == 0) {
                assert_non_null(l->config);
                assert_int_equal(l->diag.n_lines, 0);
        } else {
                assert_null(l->config);
        }
}

static inline void loaded_done(struct loaded *l)
{
        config_free(l->config);
        config_diag_done(&l->diag);
        free(l->path);
}

static inline void print_diag(const struct loaded *l)
{
        for (size_t i = 0; i < l->diag.n_lines; i++)
                print_message("  diag: %s\n", l->diag.lines[i]);
}

/* Expect the load to fail with exactly the given messages ("LINE: message"). */
static inline void expect_diags(const struct loaded *l, size_t n, ...)
{
        va_list ap;

        if (l->diag.n_lines != n)
                print_diag(l);
        assert_int_equal(l->r, -EINVAL);
        assert_int_equal(l->diag.n_lines, n);
        va_start(ap, n);
        for (size_t i = 0; i < n; i++) {
                const char *want = va_arg(ap, const char *);
                char *full;

                assert_true(asprintf(&full, "%s:%s", l->path, want) > 0);
                assert_string_equal(l->diag.lines[i], full);
                free(full);
        }
        va_end(ap);
}

static inline void expect_ok(const struct loaded *l)
{
        if (l->r != 0)
                print_diag(l);
        assert_int_equal(l->r, 0);
        assert_int_equal(l->diag.n_lines, 0);
        assert_non_null(l->config);
}

#endif
