/*
 * metrics_test.c — the metrics registry: exact Prometheus text for each kind,
 * number spelling, escaping, registration rules, label checks, the series
 * bound and its overflow series, callback families, the output bound, and
 * that metrics_reset() frees everything. Each test resets the registry in its
 * teardown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

/* The leak check in test_reset needs LeakSanitizer (make check SANITIZE=address,...);
 * glibc's mallinfo2() counts chunks parked in the thread cache as in use, so it
 * cannot stand in for it. */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#include "common.h"
#include "metrics.h"
#include "utf8.h"

/* Internals, reached through UNITTEST. */
extern size_t metrics_render_max;
const char *metrics_format_double(char buf[static 32], double v);
bool metrics_name_valid(const char *s);
bool metrics_label_name_valid(const char *s);

#define DROPPED_HEAD                                                                               \
        "# HELP twowayd_metrics_series_dropped_total Updates whose label values went to the "      \
        "family's overflow series (series bound reached, or a value too long or not UTF-8).\n"     \
        "# TYPE twowayd_metrics_series_dropped_total counter\n"

static char *render(void)
{
        char *text = (char *)0x1;
        size_t len = 0;

        assert_int_equal(metrics_render(&text, &len), 0);
        assert_non_null(text);
        assert_int_equal(len, strlen(text));
        return text;
}

/* What /metrics says of the family's updates that went to its overflow
 * series (its twowayd_metrics_series_dropped_total line; none while 0). */
static unsigned long dropped_of(const char *family)
{
        _cleanup_free_ char *text = render();
        _cleanup_free_ char *line = NULL;
        const char *at;

        assert_true(asprintf(&line, "\n" METRICS_DROPPED_NAME "{family=\"%s\"} ", family) > 0);
        at = strstr(text, line);
        return at ? strtoul(at + strlen(line), NULL, 10) : 0;
}

static void assert_render(const char *expected)
{
        _cleanup_free_ char *text = render();

        assert_string_equal(text, expected);
}

static size_t count_lines_with_prefix(const char *text, const char *prefix)
{
        size_t n = 0;

        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, prefix, strlen(prefix)) == 0)
                        n++;
        return n;
}

static int reset_teardown(void **state)
{
        metrics_reset();
        return 0;
}

static void test_counter(void **state)
{
        struct metrics_family *req = NULL, *starts = NULL;

        assert_int_equal(metrics_counter_new("twowayd_sns_requests_total",
                                             "SNS requests by type and result.",
                                             METRICS_LABELS("type", "result"), &req),
                         1);
        assert_int_equal(metrics_counter_new("twowayd_starts_total", "Daemon starts.",
                                             METRICS_NO_LABELS, &starts),
                         1);
        assert_non_null(req);
        assert_non_null(starts);

        /* Labelled families have no series before their first update; a
         * label-less one renders 0. */
        assert_render("# HELP twowayd_sns_requests_total SNS requests by type and result.\n"
                      "# TYPE twowayd_sns_requests_total counter\n"
                      "# HELP twowayd_starts_total Daemon starts.\n"
                      "# TYPE twowayd_starts_total counter\n"
                      "twowayd_starts_total 0\n" DROPPED_HEAD);

        assert_int_equal(metrics_counter_inc(req, METRICS_LABELS("Notification", "stored")), 0);
        assert_int_equal(
                metrics_counter_inc(req, METRICS_LABELS("SubscriptionConfirmation", "confirmed")),
                0);
        assert_int_equal(metrics_counter_inc(req, METRICS_LABELS("Notification", "stored")), 0);
        assert_int_equal(metrics_counter_add(req, METRICS_LABELS("Notification", "stored"), 0.5),
                         0);
        assert_int_equal(metrics_counter_add(req, METRICS_LABELS("Notification", "duplicate"), 0),
                         0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(metrics_counter_inc(starts, METRICS_NO_LABELS), 0);

        assert_render("# HELP twowayd_sns_requests_total SNS requests by type and result.\n"
                      "# TYPE twowayd_sns_requests_total counter\n"
                      "twowayd_sns_requests_total{type=\"Notification\",result=\"stored\"} 2.5\n"
                      "twowayd_sns_requests_total{type=\"SubscriptionConfirmation\","
                      "result=\"confirmed\"} 1\n"
                      "twowayd_sns_requests_total{type=\"Notification\",result=\"duplicate\"} 0\n"
                      "# HELP twowayd_starts_total Daemon starts.\n"
                      "# TYPE twowayd_starts_total counter\n"
                      "twowayd_starts_total 3\n" DROPPED_HEAD);
}

static void test_gauge(void **state)
{
        struct metrics_family *g = NULL, *conns = NULL;

        assert_int_equal(
                metrics_gauge_new("probe_value", "Assorted values.", METRICS_LABELS("k"), &g), 1);
        assert_int_equal(metrics_gauge_new("twowayd_http_connections", "Open HTTP connections.",
                                           METRICS_NO_LABELS, &conns),
                         1);

        assert_int_equal(metrics_gauge_set(g, METRICS_LABELS("neg"), -2), 0);
        assert_int_equal(metrics_gauge_set(g, METRICS_LABELS("nan"), NAN), 0);
        assert_int_equal(metrics_gauge_set(g, METRICS_LABELS("pinf"), INFINITY), 0);
        assert_int_equal(metrics_gauge_set(g, METRICS_LABELS("ninf"), -INFINITY), 0);
        assert_int_equal(metrics_gauge_set(g, METRICS_LABELS("big"), 1e300), 0);
        assert_int_equal(metrics_gauge_set(g, METRICS_LABELS("tenth"), 0.1), 0);
        assert_int_equal(metrics_gauge_set(g, METRICS_LABELS("p53"), 9007199254740992.0), 0);
        assert_int_equal(metrics_gauge_set(g, METRICS_LABELS("fresh"), 7), 0);
        /* set replaces. */
        assert_int_equal(metrics_gauge_set(g, METRICS_LABELS("fresh"), 2), 0);

        assert_int_equal(metrics_gauge_set(conns, METRICS_NO_LABELS, 42), 0);
        assert_int_equal(metrics_gauge_set(conns, METRICS_NO_LABELS, -8), 0);

        assert_render("# HELP probe_value Assorted values.\n"
                      "# TYPE probe_value gauge\n"
                      "probe_value{k=\"neg\"} -2\n"
                      "probe_value{k=\"nan\"} NaN\n"
                      "probe_value{k=\"pinf\"} +Inf\n"
                      "probe_value{k=\"ninf\"} -Inf\n"
                      "probe_value{k=\"big\"} 1e+300\n"
                      "probe_value{k=\"tenth\"} 0.1\n"
                      "probe_value{k=\"p53\"} 9007199254740992\n"
                      "probe_value{k=\"fresh\"} 2\n"
                      "# HELP twowayd_http_connections Open HTTP connections.\n"
                      "# TYPE twowayd_http_connections gauge\n"
                      "twowayd_http_connections -8\n" DROPPED_HEAD);
}

static void test_histogram(void **state)
{
        static const double bounds[] = {0.25, 0.5, 1, 10};
        static const double small[] = {0.005, 0.1};
        struct metrics_family *h = NULL, *lat = NULL;

        assert_int_equal(metrics_histogram_new("op_seconds", "Operation time.",
                                               METRICS_LABELS("op"), bounds, ARRAY_SIZE(bounds),
                                               &h),
                         1);
        assert_int_equal(metrics_histogram_new("lat_seconds", "Latency.", METRICS_NO_LABELS, small,
                                               ARRAY_SIZE(small), &lat),
                         1);

        /* 0.25, 0.5 and 10 equal a bound and count in that bucket. */
        static const double put[] = {0.5, 0.25, 0, 10, 11, 0.75};
        for (size_t i = 0; i < ARRAY_SIZE(put); i++)
                assert_int_equal(metrics_histogram_observe(h, METRICS_LABELS("put"), put[i]), 0);
        assert_int_equal(metrics_histogram_observe(h, METRICS_LABELS("get"), -1), 0);
        assert_int_equal(metrics_histogram_observe(h, METRICS_LABELS("get"), 1), 0);

        assert_render("# HELP op_seconds Operation time.\n"
                      "# TYPE op_seconds histogram\n"
                      "op_seconds_bucket{op=\"put\",le=\"0.25\"} 2\n"
                      "op_seconds_bucket{op=\"put\",le=\"0.5\"} 3\n"
                      "op_seconds_bucket{op=\"put\",le=\"1\"} 4\n"
                      "op_seconds_bucket{op=\"put\",le=\"10\"} 5\n"
                      "op_seconds_bucket{op=\"put\",le=\"+Inf\"} 6\n"
                      "op_seconds_sum{op=\"put\"} 22.5\n"
                      "op_seconds_count{op=\"put\"} 6\n"
                      "op_seconds_bucket{op=\"get\",le=\"0.25\"} 1\n"
                      "op_seconds_bucket{op=\"get\",le=\"0.5\"} 1\n"
                      "op_seconds_bucket{op=\"get\",le=\"1\"} 2\n"
                      "op_seconds_bucket{op=\"get\",le=\"10\"} 2\n"
                      "op_seconds_bucket{op=\"get\",le=\"+Inf\"} 2\n"
                      "op_seconds_sum{op=\"get\"} 0\n"
                      "op_seconds_count{op=\"get\"} 2\n"
                      "# HELP lat_seconds Latency.\n"
                      "# TYPE lat_seconds histogram\n"
                      "lat_seconds_bucket{le=\"0.005\"} 0\n"
                      "lat_seconds_bucket{le=\"0.1\"} 0\n"
                      "lat_seconds_bucket{le=\"+Inf\"} 0\n"
                      "lat_seconds_sum 0\n"
                      "lat_seconds_count 0\n" DROPPED_HEAD);

        assert_int_equal(metrics_histogram_observe(lat, METRICS_NO_LABELS, 0.1), 0);
        assert_int_equal(metrics_histogram_observe(lat, METRICS_NO_LABELS, INFINITY), 0);
        {
                _cleanup_free_ char *text = render();

                assert_non_null(strstr(text, "lat_seconds_bucket{le=\"0.005\"} 0\n"
                                             "lat_seconds_bucket{le=\"0.1\"} 1\n"
                                             "lat_seconds_bucket{le=\"+Inf\"} 2\n"
                                             "lat_seconds_sum +Inf\n"
                                             "lat_seconds_count 2\n"));
        }

        /* A histogram with no finite bounds has only the +Inf bucket. */
        struct metrics_family *bare = NULL;
        assert_int_equal(metrics_histogram_new("bare", "Bare.", METRICS_NO_LABELS, NULL, 0, &bare),
                         1);
        assert_int_equal(metrics_histogram_observe(bare, METRICS_NO_LABELS, 3), 0);
        {
                _cleanup_free_ char *text = render();

                assert_non_null(strstr(text, "# TYPE bare histogram\n"
                                             "bare_bucket{le=\"+Inf\"} 1\n"
                                             "bare_sum 3\n"
                                             "bare_count 1\n"));
        }
}

static void test_format_double(void **state)
{
        static const struct {
                double v;
                const char *text;
        } rows[] = {
                {0, "0"},
                {-0.0, "0"},
                {3, "3"},
                {-3, "-3"},
                {1e15, "1000000000000000"},
                {9007199254740993.0, "9007199254740992"},
                {-9223372036854775808.0, "-9223372036854775808"},
                {9223372036854775808.0, "9.223372036854776e+18"}, /* 2^63, past int64_t */
                {1e20, "1e+20"},
                {0.1, "0.1"},
                {1.5, "1.5"},
                {123.456, "123.456"},
                {1e-7, "1e-07"},
                {1.0 / 3.0, "0.3333333333333333"},
                {0.1 + 0.2, "0.30000000000000004"},
                {NAN, "NaN"},
                {INFINITY, "+Inf"},
                {-INFINITY, "-Inf"},
        };

        for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
                char buf[32];

                assert_string_equal(metrics_format_double(buf, rows[i].v), rows[i].text);
        }
}

static void test_escaping(void **state)
{
        struct metrics_family *f = NULL;

        assert_int_equal(metrics_counter_new("esc_total", "Line one\nline \"two\" \\ end",
                                             METRICS_LABELS("path", "plain"), &f),
                         1);
        assert_int_equal(metrics_counter_inc(f, METRICS_LABELS("a\\b\"c\nd", "ok")), 0);
        assert_int_equal(metrics_counter_inc(f, METRICS_LABELS("", "caf\xc3\xa9")), 0);

        assert_render("# HELP esc_total Line one\\nline \"two\" \\\\ end\n"
                      "# TYPE esc_total counter\n"
                      "esc_total{path=\"a\\\\b\\\"c\\nd\",plain=\"ok\"} 1\n"
                      "esc_total{path=\"\",plain=\"caf\xc3\xa9\"} 1\n" DROPPED_HEAD);
}

static int collect_nothing(void *userdata, struct metrics_emitter *e)
{
        return 0;
}

static void test_idempotent_registration(void **state)
{
        static const double b1[] = {1, 2};
        static const double b2[] = {1, 3};
        struct metrics_family *a = NULL, *b = NULL, *h = NULL, *sentinel = (void *)0x1;
        int token1, token2;

        assert_int_equal(metrics_counter_new("x_total", "First help.", METRICS_LABELS("k"), &a), 1);
        assert_int_equal(metrics_counter_new("x_total", "Other help.", METRICS_LABELS("k"), &b), 0);
        assert_ptr_equal(a, b);
        assert_int_equal(metrics_counter_new("x_total", "Again.", METRICS_LABELS("k"), NULL), 0);

        /* Both handles are one family. */
        assert_int_equal(metrics_counter_inc(a, METRICS_LABELS("v")), 0);
        assert_int_equal(metrics_counter_inc(b, METRICS_LABELS("v")), 0);

        /* Conflicting definitions of the name. */
        b = sentinel;
        assert_int_equal(metrics_gauge_new("x_total", "First help.", METRICS_LABELS("k"), &b),
                         -EEXIST);
        assert_int_equal(metrics_counter_new("x_total", "First help.", METRICS_NO_LABELS, &b),
                         -EEXIST);
        assert_int_equal(metrics_counter_new("x_total", "First help.", METRICS_LABELS("j"), &b),
                         -EEXIST);
        assert_int_equal(
                metrics_counter_new("x_total", "First help.", METRICS_LABELS("k", "j"), &b),
                -EEXIST);
        assert_int_equal(metrics_gauge_fn_new("x_total", "First help.", METRICS_LABELS("k"),
                                              collect_nothing, NULL, &b),
                         -EEXIST);
        assert_ptr_equal(b, sentinel);

        assert_int_equal(metrics_histogram_new("h", "H.", METRICS_NO_LABELS, b1, 2, &h), 1);
        assert_int_equal(metrics_histogram_new("h", "H.", METRICS_NO_LABELS, b1, 2, &b), 0);
        assert_ptr_equal(b, h);
        b = sentinel;
        assert_int_equal(metrics_histogram_new("h", "H.", METRICS_NO_LABELS, b2, 2, &b), -EEXIST);
        assert_int_equal(metrics_histogram_new("h", "H.", METRICS_NO_LABELS, b1, 1, &b), -EEXIST);
        assert_ptr_equal(b, sentinel);

        /* A callback family is the same only with the same function and data. */
        assert_int_equal(
                metrics_gauge_fn_new("cb", "Cb.", METRICS_NO_LABELS, collect_nothing, &token1, &a),
                1);
        assert_int_equal(
                metrics_gauge_fn_new("cb", "Cb.", METRICS_NO_LABELS, collect_nothing, &token1, &b),
                0);
        assert_ptr_equal(a, b);
        assert_int_equal(metrics_gauge_fn_new("cb", "Cb.", METRICS_NO_LABELS, collect_nothing,
                                              &token2, NULL),
                         -EEXIST);
        assert_int_equal(metrics_counter_fn_new("cb", "Cb.", METRICS_NO_LABELS, collect_nothing,
                                                &token1, NULL),
                         -EEXIST);
        assert_int_equal(metrics_gauge_new("cb", "Cb.", METRICS_NO_LABELS, NULL), -EEXIST);

        assert_render("# HELP x_total First help.\n"
                      "# TYPE x_total counter\n"
                      "x_total{k=\"v\"} 2\n"
                      "# HELP h H.\n"
                      "# TYPE h histogram\n"
                      "h_bucket{le=\"1\"} 0\n"
                      "h_bucket{le=\"2\"} 0\n"
                      "h_bucket{le=\"+Inf\"} 0\n"
                      "h_sum 0\n"
                      "h_count 0\n"
                      "# HELP cb Cb.\n"
                      "# TYPE cb gauge\n" DROPPED_HEAD);
}

static void test_invalid_definitions(void **state)
{
        static const char *const bad_names[] = {
                "", "1abc", "a-b", "a b", "a.b", "caf\xc3\xa9", "a\n", "x{y}",
        };
        static const char *const good_names[] = {"a", "_a", ":a", "a:b_c9", "A_Z:0"};
        static const char *const bad_labels[] = {"", "1a", "a-b", "a:b", "__x", "__", "a b"};
        static const char *const good_labels[] = {"a", "_x", "x1", "_"};
        static const double same[] = {1, 1};
        static const double down[] = {2, 1};
        static const double nan_bound[] = {NAN};
        static const double inf_bound[] = {INFINITY};
        double many[METRICS_BUCKETS_MAX + 1];
        char long_name[METRICS_NAME_MAX + 2];
        struct metrics_family *f = (void *)0x1;

        for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++) {
                assert_false(metrics_name_valid(bad_names[i]));
                assert_int_equal(metrics_counter_new(bad_names[i], "h", METRICS_NO_LABELS, &f),
                                 -EINVAL);
        }
        for (size_t i = 0; i < ARRAY_SIZE(good_names); i++)
                assert_true(metrics_name_valid(good_names[i]));
        assert_false(metrics_name_valid(NULL));
        assert_int_equal(metrics_counter_new(NULL, "h", METRICS_NO_LABELS, &f), -EINVAL);

        memset(long_name, 'n', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        assert_false(metrics_name_valid(long_name)); /* METRICS_NAME_MAX + 1 bytes */
        long_name[METRICS_NAME_MAX] = '\0';
        assert_true(metrics_name_valid(long_name));

        for (size_t i = 0; i < ARRAY_SIZE(bad_labels); i++) {
                assert_false(metrics_label_name_valid(bad_labels[i]));
                assert_int_equal(
                        metrics_gauge_new("g", "h", METRICS_LABELS("ok", bad_labels[i]), &f),
                        -EINVAL);
        }
        for (size_t i = 0; i < ARRAY_SIZE(good_labels); i++)
                assert_true(metrics_label_name_valid(good_labels[i]));

        /* Label lists: repeats, too many, NULLs, "le" on a histogram. */
        assert_int_equal(metrics_gauge_new("g", "h", METRICS_LABELS("a", "b", "a"), &f), -EINVAL);
        assert_int_equal(metrics_gauge_new("g", "h", METRICS_LABELS("a", "b", "c", "d", "e"), &f),
                         -EINVAL);
        assert_int_equal(metrics_gauge_new("g", "h", METRICS_LABELS("a", NULL), &f), -EINVAL);
        assert_int_equal(
                metrics_gauge_new("g", "h", (struct metrics_labels){.v = NULL, .n = 1}, &f),
                -EINVAL);
        assert_int_equal(metrics_histogram_new("hist", "h", METRICS_LABELS("le"), NULL, 0, &f),
                         -EINVAL);

        /* Help must be present, bounded and UTF-8. */
        assert_int_equal(metrics_gauge_new("g", NULL, METRICS_NO_LABELS, &f), -EINVAL);
        assert_int_equal(metrics_gauge_new("g", "", METRICS_NO_LABELS, &f), -EINVAL);
        assert_int_equal(metrics_gauge_new("g", "bad \xff", METRICS_NO_LABELS, &f), -EINVAL);

        /* Bucket bounds: strictly increasing, finite, bounded in number. */
        for (size_t i = 0; i < ARRAY_SIZE(many); i++)
                many[i] = (double)i;
        assert_int_equal(metrics_histogram_new("hist", "h", METRICS_NO_LABELS, same, 2, &f),
                         -EINVAL);
        assert_int_equal(metrics_histogram_new("hist", "h", METRICS_NO_LABELS, down, 2, &f),
                         -EINVAL);
        assert_int_equal(metrics_histogram_new("hist", "h", METRICS_NO_LABELS, nan_bound, 1, &f),
                         -EINVAL);
        assert_int_equal(metrics_histogram_new("hist", "h", METRICS_NO_LABELS, inf_bound, 1, &f),
                         -EINVAL);
        assert_int_equal(metrics_histogram_new("hist", "h", METRICS_NO_LABELS, NULL, 1, &f),
                         -EINVAL);
        assert_int_equal(
                metrics_histogram_new("hist", "h", METRICS_NO_LABELS, many, ARRAY_SIZE(many), &f),
                -EINVAL);

        /* Callback families need a callback. */
        assert_int_equal(metrics_gauge_fn_new("g", "h", METRICS_NO_LABELS, NULL, NULL, &f),
                         -EINVAL);
        assert_int_equal(metrics_counter_fn_new("g", "h", METRICS_NO_LABELS, NULL, NULL, &f),
                         -EINVAL);
        assert_ptr_equal(f, (void *)0x1);

        /* Nothing above was registered. */
        assert_render(DROPPED_HEAD);

        /* The limits themselves are accepted, and "le" is fine outside histograms. */
        assert_int_equal(metrics_gauge_new(long_name, "h", METRICS_LABELS("a", "b", "c", "d"), &f),
                         1);
        assert_int_equal(metrics_gauge_new("le_ok", "h", METRICS_LABELS("le"), NULL), 1);
        assert_int_equal(metrics_histogram_new("hist", "h", METRICS_NO_LABELS, many,
                                               METRICS_BUCKETS_MAX, NULL),
                         1);

        /* Names whose sample lines would clash, and the reserved name. */
        assert_int_equal(metrics_counter_new("hist_count", "h", METRICS_NO_LABELS, NULL), -EEXIST);
        assert_int_equal(metrics_gauge_new("hist_bucket", "h", METRICS_NO_LABELS, NULL), -EEXIST);
        assert_int_equal(metrics_counter_new("y_sum", "h", METRICS_NO_LABELS, NULL), 1);
        assert_int_equal(metrics_histogram_new("y", "h", METRICS_NO_LABELS, NULL, 0, NULL),
                         -EEXIST);
        assert_int_equal(metrics_counter_new(METRICS_DROPPED_NAME, "h", METRICS_NO_LABELS, NULL),
                         -EEXIST);
}

static void test_label_count_checked(void **state)
{
        static const char *const two[] = {"Notification", "stored"};
        struct metrics_family *c = NULL, *g = NULL, *h = NULL, *cb = NULL;

        assert_int_equal(metrics_counter_new("c_total", "C.", METRICS_LABELS("type", "result"), &c),
                         1);
        assert_int_equal(metrics_gauge_new("g", "G.", METRICS_NO_LABELS, &g), 1);
        assert_int_equal(metrics_histogram_new("h", "H.", METRICS_LABELS("op"), NULL, 0, &h), 1);
        assert_int_equal(
                metrics_gauge_fn_new("cb", "Cb.", METRICS_NO_LABELS, collect_nothing, NULL, &cb),
                1);

        /* Wrong number of values. */
        assert_int_equal(metrics_counter_inc(c, METRICS_LABELS("Notification")), -EINVAL);
        assert_int_equal(metrics_counter_inc(c, METRICS_LABELS("a", "b", "c")), -EINVAL);
        assert_int_equal(metrics_counter_inc(c, METRICS_NO_LABELS), -EINVAL);
        assert_int_equal(metrics_gauge_set(g, METRICS_LABELS("x"), 1), -EINVAL);
        assert_int_equal(metrics_histogram_observe(h, METRICS_NO_LABELS, 1), -EINVAL);
        assert_int_equal(metrics_counter_inc(c, ((struct metrics_labels){.v = NULL, .n = 2})),
                         -EINVAL);
        assert_int_equal(metrics_counter_inc(c, METRICS_LABELS("Notification", NULL)), -EINVAL);

        /* Wrong kind, wrong value, no family, callback family. */
        assert_int_equal(metrics_gauge_set(c, METRICS_LABELS("a", "b"), 1), -EINVAL);
        assert_int_equal(metrics_histogram_observe(c, METRICS_LABELS("a", "b"), 1), -EINVAL);
        assert_int_equal(metrics_counter_inc(g, METRICS_NO_LABELS), -EINVAL);
        assert_int_equal(metrics_counter_add(c, METRICS_LABELS("a", "b"), -1), -EINVAL);
        assert_int_equal(metrics_counter_add(c, METRICS_LABELS("a", "b"), NAN), -EINVAL);
        assert_int_equal(metrics_counter_add(c, METRICS_LABELS("a", "b"), INFINITY), -EINVAL);
        assert_int_equal(metrics_histogram_observe(h, METRICS_LABELS("op"), NAN), -EINVAL);
        assert_int_equal(metrics_counter_inc(NULL, METRICS_NO_LABELS), -EINVAL);
        assert_int_equal(metrics_gauge_set(cb, METRICS_NO_LABELS, 1), -EINVAL);

        /* None of the refused calls created a series or changed a value. */
        assert_render("# HELP c_total C.\n"
                      "# TYPE c_total counter\n"
                      "# HELP g G.\n"
                      "# TYPE g gauge\n"
                      "g 0\n"
                      "# HELP h H.\n"
                      "# TYPE h histogram\n"
                      "# HELP cb Cb.\n"
                      "# TYPE cb gauge\n" DROPPED_HEAD);

        assert_int_equal(metrics_counter_inc(c, METRICS_LABELS_ARRAY(two)), 0);
        assert_int_equal(metrics_counter_inc(c, METRICS_LABELS("Notification", "stored")), 0);
        {
                _cleanup_free_ char *text = render();

                assert_non_null(
                        strstr(text, "c_total{type=\"Notification\",result=\"stored\"} 2\n"));
        }
}

static void test_series_bound(void **state)
{
        struct metrics_family *c = NULL, *p = NULL;
        char value[METRICS_LABEL_VALUE_MAX + 2];

        assert_int_equal(metrics_counter_new("c_total", "C.", METRICS_LABELS("id"), &c), 1);
        for (int i = 0; i < METRICS_SERIES_MAX; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "%d", i);
                assert_int_equal(metrics_counter_inc(c, METRICS_LABELS(id)), 0);
        }
        assert_int_equal(dropped_of("c_total"), 0);

        /* New label values past the bound share the overflow series. */
        assert_int_equal(metrics_counter_inc(c, METRICS_LABELS("1000")), 0);
        assert_int_equal(metrics_counter_add(c, METRICS_LABELS("hostile-1"), 2), 0);
        assert_int_equal(metrics_counter_inc(c, METRICS_LABELS("hostile-2")), 0);
        assert_int_equal(dropped_of("c_total"), 3);
        /* Existing series still update normally. */
        assert_int_equal(metrics_counter_inc(c, METRICS_LABELS("5")), 0);

        {
                _cleanup_free_ char *text = render();

                assert_int_equal(count_lines_with_prefix(text, "c_total{"), METRICS_SERIES_MAX + 1);
                assert_non_null(strstr(text, "c_total{id=\"5\"} 2\n"));
                /* The overflow series comes last, after the 1000 regular ones. */
                assert_non_null(strstr(text, "c_total{id=\"999\"} 1\n"
                                             "c_total{id=\"other\"} 4\n"
                                             "# HELP " METRICS_DROPPED_NAME));
                assert_null(strstr(text, "1000"));
                assert_null(strstr(text, "hostile"));
                assert_non_null(
                        strstr(text, DROPPED_HEAD
                               "twowayd_metrics_series_dropped_total{family=\"c_total\"} 3\n"));
        }

        /* Below the bound, values that cannot be stored go to overflow too. */
        assert_int_equal(metrics_counter_new("p", "P.", METRICS_LABELS("a", "b"), &p), 1);
        memset(value, 'v', sizeof(value) - 1);
        value[sizeof(value) - 1] = '\0'; /* METRICS_LABEL_VALUE_MAX + 1 bytes */
        assert_int_equal(metrics_counter_inc(p, METRICS_LABELS("x", value)), 0);
        assert_int_equal(metrics_counter_inc(p, METRICS_LABELS("\xff", "y")), 0);
        assert_int_equal(metrics_counter_inc(p, METRICS_LABELS("\xc0\xaf", "y")), 0); /* overlong */
        assert_int_equal(dropped_of("p"), 3);
        /* A genuine ("other", "other") update lands there without counting as dropped. */
        assert_int_equal(metrics_counter_inc(p, METRICS_LABELS("other", "other")), 0);
        assert_int_equal(dropped_of("p"), 3);
        value[METRICS_LABEL_VALUE_MAX] = '\0'; /* exactly the maximum is kept */
        assert_int_equal(metrics_counter_add(p, METRICS_LABELS("x", value), 7), 0);
        {
                _cleanup_free_ char *text = render();
                _cleanup_free_ char *kept = NULL;

                assert_non_null(strstr(text, "# TYPE p counter\n"
                                             "p{a=\"other\",b=\"other\"} 4\n"));
                assert_true(asprintf(&kept, "p{a=\"x\",b=\"%s\"} 7\n", value) > 0);
                assert_non_null(strstr(text, kept));
                assert_non_null(
                        strstr(text, "twowayd_metrics_series_dropped_total{family=\"c_total\"} 3\n"
                                     "twowayd_metrics_series_dropped_total{family=\"p\"} 3\n"));
        }
}

static void test_utf8(void **state)
{
        static const struct {
                const char *s;
                bool ok;
        } rows[] = {
                {"", true},
                {"plain", true},
                {"caf\xc3\xa9", true},
                {"\xe2\x82\xac", true},      /* U+20AC */
                {"\xf0\x9f\x98\x80", true},  /* U+1F600 */
                {"\xf4\x8f\xbf\xbf", true},  /* U+10FFFF */
                {"\xff", false},             /* never valid */
                {"\x80", false},             /* lone continuation */
                {"\xc3", false},             /* truncated */
                {"\xc0\x80", false},         /* overlong NUL */
                {"\xe0\x80\xaf", false},     /* overlong '/' */
                {"\xed\xa0\x80", false},     /* surrogate U+D800 */
                {"\xf4\x90\x80\x80", false}, /* U+110000 */
                {"\xe2\x82", false},         /* truncated */
                {"a\xe2\x28\xa1", false},    /* bad continuation */
        };

        for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
                assert_int_equal(utf8_valid(rows[i].s, strlen(rows[i].s), true), rows[i].ok);
}

struct spool_view {
        double queued, failed, extra;
        int fail_with;
        struct metrics_emitter *saved;
        int busy_register, busy_render, mismatch, negative, infinite;
};

static int collect_spool(void *userdata, struct metrics_emitter *e)
{
        struct spool_view *v = userdata;
        char *text = NULL;
        size_t len;

        v->saved = e;
        v->busy_register = metrics_counter_new("late_total", "L.", METRICS_NO_LABELS, NULL);
        v->busy_render = metrics_render(&text, &len);
        v->mismatch = metrics_emit(e, METRICS_LABELS("a", "b"), 1);
        assert_null(text);
        metrics_reset(); /* refused while rendering */

        if (v->fail_with < 0) {
                assert_int_equal(metrics_emit(e, METRICS_LABELS("queued"), 1), 0);
                return v->fail_with;
        }
        assert_int_equal(metrics_emit(e, METRICS_LABELS("queued"), v->queued), 0);
        assert_int_equal(metrics_emit(e, METRICS_LABELS("failed"), v->failed), 0);
        /* Emitting the same labels again adds to them. */
        if (v->extra != 0)
                assert_int_equal(metrics_emit(e, METRICS_LABELS("queued"), v->extra), 0);
        return 0;
}

static int collect_counter(void *userdata, struct metrics_emitter *e)
{
        struct spool_view *v = userdata;

        v->negative = metrics_emit(e, METRICS_NO_LABELS, -1);
        v->infinite = metrics_emit(e, METRICS_NO_LABELS, INFINITY);
        return metrics_emit(e, METRICS_NO_LABELS, 12);
}

static int collect_many(void *userdata, struct metrics_emitter *e)
{
        for (int i = 0; i < METRICS_SERIES_MAX + 2; i++) {
                char id[16];
                int r;

                (void)snprintf(id, sizeof(id), "s%d", i);
                r = metrics_emit(e, METRICS_LABELS(id), 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void test_callback(void **state)
{
        struct spool_view v = {.queued = 3, .failed = 1, .extra = 2};
        struct metrics_family *depth = NULL, *many = NULL;

        assert_int_equal(metrics_gauge_fn_new("twowayd_spool_depth", "Spool rows by state.",
                                              METRICS_LABELS("state"), collect_spool, &v, &depth),
                         1);
        assert_int_equal(metrics_counter_fn_new("twowayd_spool_commits_total", "Commits.",
                                                METRICS_NO_LABELS, collect_counter, &v, NULL),
                         1);

        assert_render("# HELP twowayd_spool_depth Spool rows by state.\n"
                      "# TYPE twowayd_spool_depth gauge\n"
                      "twowayd_spool_depth{state=\"queued\"} 5\n"
                      "twowayd_spool_depth{state=\"failed\"} 1\n"
                      "# HELP twowayd_spool_commits_total Commits.\n"
                      "# TYPE twowayd_spool_commits_total counter\n"
                      "twowayd_spool_commits_total 12\n" DROPPED_HEAD);
        assert_int_equal(v.busy_register, -EBUSY);
        assert_int_equal(v.busy_render, -EBUSY);
        assert_int_equal(v.mismatch, -EINVAL);
        assert_int_equal(v.negative, -EINVAL);
        assert_int_equal(v.infinite, -EINVAL);

        /* The emitter is dead once the callback returns. */
        assert_non_null(v.saved);
        assert_int_equal(metrics_emit(v.saved, METRICS_LABELS("queued"), 1), -EINVAL);
        assert_int_equal(metrics_emit(NULL, METRICS_LABELS("queued"), 1), -EINVAL);

        /* Each render starts afresh: values are current, not accumulated. */
        v.queued = 0.5;
        v.extra = 0;
        assert_render("# HELP twowayd_spool_depth Spool rows by state.\n"
                      "# TYPE twowayd_spool_depth gauge\n"
                      "twowayd_spool_depth{state=\"queued\"} 0.5\n"
                      "twowayd_spool_depth{state=\"failed\"} 1\n"
                      "# HELP twowayd_spool_commits_total Commits.\n"
                      "# TYPE twowayd_spool_commits_total counter\n"
                      "twowayd_spool_commits_total 12\n" DROPPED_HEAD);

        /* A failing callback drops its samples, not the render. */
        v.fail_with = -EIO;
        assert_render("# HELP twowayd_spool_depth Spool rows by state.\n"
                      "# TYPE twowayd_spool_depth gauge\n"
                      "# HELP twowayd_spool_commits_total Commits.\n"
                      "# TYPE twowayd_spool_commits_total counter\n"
                      "twowayd_spool_commits_total 12\n" DROPPED_HEAD);

        /* The series bound holds for callbacks: the rest is summed into "other". */
        assert_int_equal(
                metrics_gauge_fn_new("many", "M.", METRICS_LABELS("id"), collect_many, NULL, &many),
                1);
        {
                _cleanup_free_ char *text = render();

                assert_int_equal(count_lines_with_prefix(text, "many{"), METRICS_SERIES_MAX + 1);
                assert_non_null(strstr(text, "many{id=\"s999\"} 1\n"
                                             "many{id=\"other\"} 2\n"));
                assert_non_null(strstr(text, METRICS_DROPPED_NAME "{family=\"many\"} 2\n"));
        }
}

static void test_render_bound(void **state)
{
        size_t saved = metrics_render_max;
        char *text = (char *)0x1;
        size_t len = 7;

        assert_int_equal(metrics_counter_new("c_total", "C.", METRICS_NO_LABELS, NULL), 1);
        {
                _cleanup_free_ char *full = render();

                /* One byte short fails; the exact size fits. */
                metrics_render_max = strlen(full) - 1;
                assert_int_equal(metrics_render(&text, &len), -E2BIG);
                assert_ptr_equal(text, (char *)0x1);
                assert_int_equal(len, 7);

                metrics_render_max = strlen(full);
                assert_int_equal(metrics_render(&text, &len), 0);
                assert_string_equal(text, full);
                free(text);
        }
        metrics_render_max = saved;

        assert_int_equal(metrics_render(NULL, &len), -EINVAL);
        assert_int_equal(metrics_render(&text, NULL), -EINVAL);
}

static void populate(void)
{
        static const double bounds[] = {0.1, 1};
        static int token;
        struct metrics_family *c, *g, *h;

        assert_int_equal(metrics_counter_new("r_total", "R.", METRICS_LABELS("a", "b"), &c), 1);
        assert_int_equal(metrics_gauge_new("r_gauge", "R.", METRICS_NO_LABELS, &g), 1);
        assert_int_equal(metrics_histogram_new("r_hist", "R.", METRICS_LABELS("op"), bounds,
                                               ARRAY_SIZE(bounds), &h),
                         1);
        assert_int_equal(
                metrics_gauge_fn_new("r_fn", "R.", METRICS_LABELS("s"), collect_many, &token, NULL),
                1);
        for (int i = 0; i < METRICS_SERIES_MAX + 5; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "%d", i);
                assert_int_equal(metrics_counter_inc(c, METRICS_LABELS(id, "x")), 0);
        }
        assert_int_equal(metrics_gauge_set(g, METRICS_NO_LABELS, 2), 0);
        assert_int_equal(metrics_histogram_observe(h, METRICS_LABELS("get"), 0.5), 0);
        free(render());
}

static void test_reset(void **state)
{
        struct metrics_family *g = NULL;

        populate();
        metrics_reset();

#ifdef HAVE_LSAN
        /* Whatever the registry held and no longer points to is now a leak. */
        assert_int_equal(__lsan_do_recoverable_leak_check(), 0);
#endif

        /* The registry is empty and the names are free again. */
        assert_render(DROPPED_HEAD);
        assert_int_equal(metrics_gauge_new("r_total", "Now a gauge.", METRICS_NO_LABELS, &g), 1);
        assert_int_equal(metrics_gauge_set(g, METRICS_NO_LABELS, 1), 0);
        assert_render("# HELP r_total Now a gauge.\n"
                      "# TYPE r_total gauge\n"
                      "r_total 1\n" DROPPED_HEAD);
        metrics_reset();
        metrics_reset(); /* twice is harmless */
        assert_render(DROPPED_HEAD);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_counter, reset_teardown),
                cmocka_unit_test_teardown(test_gauge, reset_teardown),
                cmocka_unit_test_teardown(test_histogram, reset_teardown),
                cmocka_unit_test_teardown(test_format_double, reset_teardown),
                cmocka_unit_test_teardown(test_escaping, reset_teardown),
                cmocka_unit_test_teardown(test_idempotent_registration, reset_teardown),
                cmocka_unit_test_teardown(test_invalid_definitions, reset_teardown),
                cmocka_unit_test_teardown(test_label_count_checked, reset_teardown),
                cmocka_unit_test_teardown(test_series_bound, reset_teardown),
                cmocka_unit_test_teardown(test_utf8, reset_teardown),
                cmocka_unit_test_teardown(test_callback, reset_teardown),
                cmocka_unit_test_teardown(test_render_bound, reset_teardown),
                cmocka_unit_test_teardown(test_reset, reset_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
