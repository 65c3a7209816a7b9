/*
 * metrics.h — process-wide metrics registry with Prometheus text exposition.
 *
 * The daemon registers metric families once (at start-up, usually from the
 * module that owns the numbers), updates them from the loop, and GET /metrics
 * serves metrics_render()'s output with METRICS_CONTENT_TYPE.
 *
 * THREADING
 *
 * The registry is one static object and has no locks: twowayd runs a single
 * libev loop thread, and every function here must be called from it.
 *
 * FAMILIES
 *
 * A family has a name, a help text, a kind and a fixed list of label names
 * (0..METRICS_LABELS_MAX). Histograms also have fixed bucket upper bounds.
 * Registering a name that already exists returns the existing family if the
 * definition (kind, label names, bounds, callback) is the same, and -EEXIST if
 * it differs; the first help text is kept. Names must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and must not
 * start with "__", repeat, or be "le" on a histogram (-EINVAL otherwise).
 *
 * SERIES AND THE CARDINALITY BOUND
 *
 * A series is one set of label values, given in the family's label-name order
 * through METRICS_LABELS(...). The number of values is checked against the
 * family on every call (-EINVAL on mismatch, nothing recorded). Label values
 * may come from the network, so each family holds at most METRICS_SERIES_MAX
 * series. An update that would create one more, or whose values are not
 * representable (longer than METRICS_LABEL_VALUE_MAX bytes or not UTF-8), goes
 * to the family's overflow series, whose every label is METRICS_OVERFLOW_VALUE,
 * and is counted in the METRICS_DROPPED_NAME{family="..."} counter of the
 * exposition. The overflow series is the only series allowed past the bound.
 * Label-less families have exactly one series, created at registration, so
 * they render as 0 before their first update.
 *
 * CALLBACK FAMILIES
 *
 * metrics_gauge_fn_new() and metrics_counter_fn_new() register a family whose
 * series are produced at render time: metrics_render() calls fn(userdata, e),
 * and fn calls metrics_emit(e, METRICS_LABELS(...), value) once per series.
 * Values emitted twice for the same labels are summed (so the overflow series
 * of a callback family holds the sum of what did not fit). fn is only ever
 * called synchronously from metrics_render(); it must not register families,
 * render or reset (those return -EBUSY meanwhile). If fn returns < 0 the
 * family is rendered with its HELP and TYPE lines but no samples, and the
 * render still succeeds.
 *
 * OWNERSHIP AND LIFETIME
 *
 * Names, help texts, label names, bucket bounds and label values are copied;
 * callers keep ownership of what they pass. A struct metrics_family belongs to
 * the registry and stays valid until metrics_reset(), which frees everything
 * and invalidates every family pointer. Callback userdata is borrowed and must
 * outlive the family (that is, until metrics_reset()).
 *
 * ERRORS
 *
 * The usual convention: >= 0 on success, a negated errno on failure, and ret_*
 * outputs written only on success. Update functions on a family of the wrong
 * kind, a NULL family, a NULL label value or a label-count mismatch return
 * -EINVAL; -ENOMEM leaves the registry as it was.
 */
#ifndef TWOWAYD_METRICS_H
#define TWOWAYD_METRICS_H

#include <stddef.h>

#include "common.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#define METRICS_NAME_MAX        128  /* bytes in a family or label name */
#define METRICS_HELP_MAX        1024 /* bytes in a help text */
#define METRICS_LABELS_MAX      4    /* label names per family */
#define METRICS_BUCKETS_MAX     32   /* finite bucket bounds per histogram (+Inf is implied) */
#define METRICS_SERIES_MAX      1000 /* series per family, not counting the overflow series */
#define METRICS_LABEL_VALUE_MAX 256  /* bytes in one label value */
#define METRICS_RENDER_MAX      (16U * 1024 * 1024) /* metrics_render() output bound */

#define METRICS_OVERFLOW_VALUE "other"
#define METRICS_DROPPED_NAME   "twowayd_metrics_series_dropped_total" /* reserved */

enum metrics_kind {
        METRICS_COUNTER,
        METRICS_GAUGE,
        METRICS_HISTOGRAM,
        _METRICS_KIND_MAX,
};

/* A list of label names (at registration) or label values (at update). The
 * strings are borrowed for the duration of the call only. */
struct metrics_labels {
        const char *const *v;
        size_t n;
};

/* METRICS_LABELS("Notification", "stored") — the count is computed from the
 * arguments, so it cannot disagree with the array. */
#define METRICS_LABELS(...)                                                                        \
        ((struct metrics_labels){                                                                  \
                .v = (const char *const[]){__VA_ARGS__},                                           \
                .n = sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *),            \
        })
/* From an array whose size the compiler knows; a pointer does not compile. */
#define METRICS_LABELS_ARRAY(a)                                                                    \
        ((struct metrics_labels){.v = (a), .n = ARRAY_SIZE(a) + METRICS__MUST_BE_ARRAY(a)})
#define METRICS__MUST_BE_ARRAY(a)                                                                  \
        (sizeof(struct {                                                                           \
                 _Static_assert(!__builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0])), \
                                "METRICS_LABELS_ARRAY needs an array, not a pointer");             \
                 char c;                                                                           \
         }) -                                                                                      \
         1)
#define METRICS_NO_LABELS ((struct metrics_labels){.v = NULL, .n = 0})

struct metrics_family;
struct metrics_emitter;

/* Called from metrics_render() for a callback family; returns >= 0, or < 0 to
 * drop this family's samples from this render. */
typedef int (*metrics_collect_fn)(void *userdata, struct metrics_emitter *e);

/* Registration. Returns 1 when the family was created, 0 when an identical
 * family already existed (*ret is then that family), -EINVAL for an invalid
 * name, help, label list or bucket list, -EEXIST for a conflicting definition
 * of the same name, -EBUSY from inside a collect callback, -ENOMEM. ret may be
 * NULL. bounds must be finite and strictly increasing; n_bounds may be 0. */
int metrics_counter_new(const char *name, const char *help, struct metrics_labels label_names,
                        struct metrics_family **ret);
int metrics_gauge_new(const char *name, const char *help, struct metrics_labels label_names,
                      struct metrics_family **ret);
int metrics_histogram_new(const char *name, const char *help, struct metrics_labels label_names,
                          const double *bounds, size_t n_bounds, struct metrics_family **ret);
int metrics_gauge_fn_new(const char *name, const char *help, struct metrics_labels label_names,
                         metrics_collect_fn fn, void *userdata, struct metrics_family **ret);
int metrics_counter_fn_new(const char *name, const char *help, struct metrics_labels label_names,
                           metrics_collect_fn fn, void *userdata, struct metrics_family **ret);

/* Updates. Counters only go up: v must be finite and >= 0. Histograms count
 * v in every bucket whose bound is >= v (a value equal to a bound is in that
 * bucket); NaN is refused. Updates to callback families are refused. */
int metrics_counter_add(struct metrics_family *f, struct metrics_labels values, double v);
#define metrics_counter_inc(f, values) metrics_counter_add((f), (values), 1.0)
int metrics_gauge_set(struct metrics_family *f, struct metrics_labels values, double v);
int metrics_histogram_observe(struct metrics_family *f, struct metrics_labels values, double v);

/* Inside a collect callback only: add value to the series for values. Returns
 * 0, or -EINVAL (label-count mismatch, NULL value, a negative or non-finite
 * value for a counter family), -ENOMEM. */
int metrics_emit(struct metrics_emitter *e, struct metrics_labels values, double value);

/* Prometheus text format 0.0.4 of every family in registration order (series
 * in the order they were first seen), followed by METRICS_DROPPED_NAME. On
 * success *ret is a malloc'd NUL-terminated string the caller frees and
 * *ret_len its length. -E2BIG past METRICS_RENDER_MAX, -EBUSY when called from
 * a collect callback, -ENOMEM. */
int metrics_render(char **ret, size_t *ret_len);

/* Free every family and series. Family pointers are invalid afterwards. Does
 * nothing when called from a collect callback. */
void metrics_reset(void);

#endif
