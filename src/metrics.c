/*
 * metrics.c — the metrics registry and its Prometheus text exposition.
 *
 * Owns: one static registry (an array of families in registration order);
 * each family owns copies of its name, help, label names and bucket bounds,
 * and an array of series in first-seen order. A series owns copies of its
 * label values and its numbers: a value for counters and gauges, per-bucket
 * (non-cumulative) counts plus sum and count for histograms; rendering makes
 * the buckets cumulative.
 *
 * Invariants: a family never holds more than METRICS_SERIES_MAX series plus
 * one overflow series (all labels METRICS_OVERFLOW_VALUE); every stored label
 * value is valid UTF-8 of at most METRICS_LABEL_VALUE_MAX bytes; a callback
 * family holds series only while metrics_render() is rendering it.
 *
 * Series lookup is a linear scan that compares a 64-bit hash before the
 * strings. With the series bound that is at most a thousand integer compares,
 * and typical families have a handful of series.
 *
 * Exposition format reference: Prometheus "Exposition formats", text format
 * version 0.0.4.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "common.h"
#include "metrics.h"
#include "strbuf.h"
#include "utf8.h"

struct series {
        uint64_t hash;
        char *values[METRICS_LABELS_MAX];
        double value; /* counters and gauges */
        double sum;   /* histograms */
        uint64_t count;
        uint64_t buckets[]; /* histograms: n_bounds + 1, the last one is +Inf */
};

struct metrics_family {
        char *name;
        char *help;
        enum metrics_kind kind;
        char *label_names[METRICS_LABELS_MAX];
        size_t n_labels;
        double *bounds;
        size_t n_bounds;
        metrics_collect_fn fn; /* NULL for families updated directly */
        void *userdata;
        struct series **series;
        size_t n_series;
        size_t cap_series;
        uint64_t dropped;
};

struct metrics_emitter {
        struct metrics_family *family;
        bool active;
};

static struct {
        struct metrics_family **families;
        size_t n_families;
        size_t cap_families;
        bool busy;                      /* inside a collect callback */
        struct metrics_emitter emitter; /* static, so a stale pointer is caught */
} registry;

UNITTEST size_t metrics_render_max = METRICS_RENDER_MAX;

static const char *const kind_names[_METRICS_KIND_MAX] = {
        [METRICS_COUNTER] = "counter",
        [METRICS_GAUGE] = "gauge",
        [METRICS_HISTOGRAM] = "histogram",
};

static const char *const histogram_suffixes[] = {"_bucket", "_sum", "_count"};

/* --- validation ------------------------------------------------------------ */

UNITTEST bool metrics_name_valid(const char *s);
UNITTEST bool metrics_name_valid(const char *s)
{
        size_t n;

        if (isempty(s))
                return false;
        n = strnlen(s, METRICS_NAME_MAX + 1);
        if (n > METRICS_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                          c == ':' || (i > 0 && c >= '0' && c <= '9');
                if (!ok)
                        return false;
        }
        return true;
}

UNITTEST bool metrics_label_name_valid(const char *s);
UNITTEST bool metrics_label_name_valid(const char *s)
{
        /* Label names are metric names without ':'; "__" is reserved for
         * Prometheus itself. */
        if (!metrics_name_valid(s) || strchr(s, ':') || strncmp(s, "__", 2) == 0)
                return false;
        return true;
}

static bool label_value_storable(const char *s)
{
        size_t n = strnlen(s, METRICS_LABEL_VALUE_MAX + 1);

        return n <= METRICS_LABEL_VALUE_MAX && utf8_valid(s, n, true);
}

/* The label list shape every call checks: count within bounds, no NULLs. */
static bool labels_shape_ok(struct metrics_labels l, size_t want)
{
        if (l.n != want || l.n > METRICS_LABELS_MAX || (l.n > 0 && !l.v))
                return false;
        for (size_t i = 0; i < l.n; i++)
                if (!l.v[i])
                        return false;
        return true;
}

/* --- series ---------------------------------------------------------------- */

/* FNV-1a over the values, each followed by 0xff (which UTF-8 never contains),
 * so ("ab","c") and ("a","bc") differ. */
static uint64_t values_hash(const char *const *v, size_t n)
{
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (size_t i = 0; i < n; i++) {
                for (const unsigned char *p = (const unsigned char *)v[i]; *p; p++)
                        h = (h ^ *p) * UINT64_C(0x100000001b3);
                h = (h ^ 0xff) * UINT64_C(0x100000001b3);
        }
        return h;
}

static struct series *series_free(struct series *s, size_t n_labels)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < n_labels; i++)
                free(s->values[i]);
        free(s);
        return NULL;
}

static void family_clear_series(struct metrics_family *f)
{
        for (size_t i = 0; i < f->n_series; i++)
                series_free(f->series[i], f->n_labels);
        free(f->series);
        f->series = NULL;
        f->n_series = f->cap_series = 0;
}

static struct series *family_find(const struct metrics_family *f, const char *const *v, uint64_t h)
{
        for (size_t i = 0; i < f->n_series; i++) {
                struct series *s = f->series[i];
                bool same = s->hash == h;

                for (size_t k = 0; same && k < f->n_labels; k++)
                        same = streq(s->values[k], v[k]);
                if (same)
                        return s;
        }
        return NULL;
}

static int family_append(struct metrics_family *f, const char *const *v, uint64_t h,
                         struct series **ret)
{
        size_t n_buckets = f->kind == METRICS_HISTOGRAM ? f->n_bounds + 1 : 0;
        struct series *s;

        if (f->n_series == f->cap_series) {
                size_t cap = f->cap_series ? f->cap_series * 2 : 4;
                struct series **a;

                cap = MIN(cap, (size_t)METRICS_SERIES_MAX + 1);
                a = reallocarray(f->series, cap, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                f->series = a;
                f->cap_series = cap;
        }

        s = calloc(1, sizeof(*s) + n_buckets * sizeof(s->buckets[0]));
        if (!s)
                return -ENOMEM;
        s->hash = h;
        for (size_t i = 0; i < f->n_labels; i++) {
                s->values[i] = strdup(v[i]);
                if (!s->values[i]) {
                        series_free(s, f->n_labels);
                        return -ENOMEM;
                }
        }
        f->series[f->n_series++] = s;
        *ret = s;
        return 0;
}

/* The series for values, created if new. Values that cannot be stored, or that
 * would be one series too many, go to the overflow series and count as
 * dropped. The caller has checked the label shape. */
static int family_series(struct metrics_family *f, struct metrics_labels values,
                         struct series **ret)
{
        const char *overflow[METRICS_LABELS_MAX];
        struct series *s;
        bool storable = true;
        uint64_t h;
        int r;

        for (size_t i = 0; i < values.n; i++)
                storable = storable && label_value_storable(values.v[i]);

        if (storable) {
                h = values_hash(values.v, values.n);
                s = family_find(f, values.v, h);
                if (s) {
                        *ret = s;
                        return 0;
                }
                if (f->n_series < METRICS_SERIES_MAX)
                        return family_append(f, values.v, h, ret);
        }

        for (size_t i = 0; i < f->n_labels; i++)
                overflow[i] = METRICS_OVERFLOW_VALUE;
        h = values_hash(overflow, f->n_labels);
        s = family_find(f, overflow, h);
        if (!s) {
                /* The one series allowed past the bound. */
                r = family_append(f, overflow, h, &s);
                if (r < 0)
                        return r;
        }
        f->dropped++;
        *ret = s;
        return 0;
}

/* --- registration ---------------------------------------------------------- */

static struct metrics_family *family_free(struct metrics_family *f)
{
        if (!f)
                return NULL;
        family_clear_series(f);
        free(f->name);
        free(f->help);
        for (size_t i = 0; i < f->n_labels; i++)
                free(f->label_names[i]);
        free(f->bounds);
        free(f);
        return NULL;
}

static void family_freep(struct metrics_family **f)
{
        family_free(*f);
}

static struct metrics_family *registry_find(const char *name)
{
        for (size_t i = 0; i < registry.n_families; i++)
                if (streq(registry.families[i]->name, name))
                        return registry.families[i];
        return NULL;
}

/* True if name is base followed by one of the histogram sample suffixes. */
static bool is_histogram_sample_name(const char *name, const char *base)
{
        size_t n = strlen(base);

        if (strncmp(name, base, n) != 0)
                return false;
        for (size_t i = 0; i < ARRAY_SIZE(histogram_suffixes); i++)
                if (streq(name + n, histogram_suffixes[i]))
                        return true;
        return false;
}

/* Would a new family called name (of kind) print sample lines that another
 * family prints too? */
static bool sample_names_collide(const char *name, enum metrics_kind kind)
{
        if (streq(name, METRICS_DROPPED_NAME))
                return true;
        for (size_t i = 0; i < registry.n_families; i++) {
                const struct metrics_family *g = registry.families[i];

                if (g->kind == METRICS_HISTOGRAM && is_histogram_sample_name(name, g->name))
                        return true;
                if (kind == METRICS_HISTOGRAM && is_histogram_sample_name(g->name, name))
                        return true;
        }
        return false;
}

static bool family_same(const struct metrics_family *f, enum metrics_kind kind,
                        struct metrics_labels label_names, const double *bounds, size_t n_bounds,
                        metrics_collect_fn fn, void *userdata)
{
        if (f->kind != kind || f->n_labels != label_names.n || f->n_bounds != n_bounds ||
            f->fn != fn || f->userdata != userdata)
                return false;
        for (size_t i = 0; i < f->n_labels; i++)
                if (!streq(f->label_names[i], label_names.v[i]))
                        return false;
        for (size_t i = 0; i < n_bounds; i++)
                if (f->bounds[i] != bounds[i])
                        return false;
        return true;
}

static int validate_definition(const char *name, const char *help, enum metrics_kind kind,
                               struct metrics_labels label_names, const double *bounds,
                               size_t n_bounds)
{
        size_t help_len;

        if (!metrics_name_valid(name) || isempty(help))
                return -EINVAL;
        help_len = strnlen(help, METRICS_HELP_MAX + 1);
        if (help_len > METRICS_HELP_MAX || !utf8_valid(help, help_len, true))
                return -EINVAL;

        if (!labels_shape_ok(label_names, label_names.n))
                return -EINVAL;
        for (size_t i = 0; i < label_names.n; i++) {
                if (!metrics_label_name_valid(label_names.v[i]))
                        return -EINVAL;
                if (kind == METRICS_HISTOGRAM && streq(label_names.v[i], "le"))
                        return -EINVAL;
                for (size_t k = 0; k < i; k++)
                        if (streq(label_names.v[i], label_names.v[k]))
                                return -EINVAL;
        }

        if (n_bounds > METRICS_BUCKETS_MAX || (n_bounds > 0 && !bounds))
                return -EINVAL;
        for (size_t i = 0; i < n_bounds; i++) {
                if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
                        return -EINVAL;
        }
        return 0;
}

static int family_register(const char *name, const char *help, enum metrics_kind kind,
                           struct metrics_labels label_names, const double *bounds, size_t n_bounds,
                           metrics_collect_fn fn, void *userdata, struct metrics_family **ret)
{
        _cleanup_(family_freep) struct metrics_family *f = NULL;
        struct metrics_family *old;
        int r;

        if (registry.busy)
                return -EBUSY;
        r = validate_definition(name, help, kind, label_names, bounds, n_bounds);
        if (r < 0)
                return r;

        old = registry_find(name);
        if (old) {
                if (!family_same(old, kind, label_names, bounds, n_bounds, fn, userdata))
                        return -EEXIST;
                if (ret)
                        *ret = old;
                return 0;
        }
        if (sample_names_collide(name, kind))
                return -EEXIST;

        if (registry.n_families == registry.cap_families) {
                size_t cap = registry.cap_families ? registry.cap_families * 2 : 16;
                struct metrics_family **a = reallocarray(registry.families, cap, sizeof(*a));

                if (!a)
                        return -ENOMEM;
                registry.families = a;
                registry.cap_families = cap;
        }

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->kind = kind;
        f->fn = fn;
        f->userdata = userdata;
        f->name = strdup(name);
        f->help = strdup(help);
        if (!f->name || !f->help)
                return -ENOMEM;
        for (size_t i = 0; i < label_names.n; i++) {
                f->label_names[i] = strdup(label_names.v[i]);
                if (!f->label_names[i])
                        return -ENOMEM;
                f->n_labels++;
        }
        if (n_bounds > 0) {
                f->bounds = reallocarray(NULL, n_bounds, sizeof(double));
                if (!f->bounds)
                        return -ENOMEM;
                memcpy(f->bounds, bounds, n_bounds * sizeof(double));
                f->n_bounds = n_bounds;
        }
        if (!fn && f->n_labels == 0) {
                struct series *s;

                /* A label-less family always has its one series, so it renders
                 * as 0 before the first update. */
                r = family_append(f, NULL, values_hash(NULL, 0), &s);
                if (r < 0)
                        return r;
        }

        registry.families[registry.n_families++] = f;
        if (ret)
                *ret = f;
        TAKE_PTR(f);
        return 1;
}

int metrics_counter_new(const char *name, const char *help, struct metrics_labels label_names,
                        struct metrics_family **ret)
{
        return family_register(name, help, METRICS_COUNTER, label_names, NULL, 0, NULL, NULL, ret);
}

int metrics_gauge_new(const char *name, const char *help, struct metrics_labels label_names,
                      struct metrics_family **ret)
{
        return family_register(name, help, METRICS_GAUGE, label_names, NULL, 0, NULL, NULL, ret);
}

int metrics_histogram_new(const char *name, const char *help, struct metrics_labels label_names,
                          const double *bounds, size_t n_bounds, struct metrics_family **ret)
{
        return family_register(name, help, METRICS_HISTOGRAM, label_names, bounds, n_bounds, NULL,
                               NULL, ret);
}

int metrics_gauge_fn_new(const char *name, const char *help, struct metrics_labels label_names,
                         metrics_collect_fn fn, void *userdata, struct metrics_family **ret)
{
        if (!fn)
                return -EINVAL;
        return family_register(name, help, METRICS_GAUGE, label_names, NULL, 0, fn, userdata, ret);
}

int metrics_counter_fn_new(const char *name, const char *help, struct metrics_labels label_names,
                           metrics_collect_fn fn, void *userdata, struct metrics_family **ret)
{
        if (!fn)
                return -EINVAL;
        return family_register(name, help, METRICS_COUNTER, label_names, NULL, 0, fn, userdata,
                               ret);
}

/* --- updates --------------------------------------------------------------- */

/* The series an update of a directly updated family of kind goes to. */
static int update_series(struct metrics_family *f, enum metrics_kind kind,
                         struct metrics_labels values, struct series **ret)
{
        if (!f || f->kind != kind || f->fn || !labels_shape_ok(values, f->n_labels))
                return -EINVAL;
        return family_series(f, values, ret);
}

int metrics_counter_add(struct metrics_family *f, struct metrics_labels values, double v)
{
        struct series *s;
        int r;

        if (!isfinite(v) || v < 0)
                return -EINVAL;
        r = update_series(f, METRICS_COUNTER, values, &s);
        if (r < 0)
                return r;
        s->value += v;
        return 0;
}

int metrics_gauge_set(struct metrics_family *f, struct metrics_labels values, double v)
{
        struct series *s;
        int r;

        r = update_series(f, METRICS_GAUGE, values, &s);
        if (r < 0)
                return r;
        s->value = v;
        return 0;
}

int metrics_histogram_observe(struct metrics_family *f, struct metrics_labels values, double v)
{
        struct series *s;
        size_t i;
        int r;

        if (isnan(v))
                return -EINVAL;
        r = update_series(f, METRICS_HISTOGRAM, values, &s);
        if (r < 0)
                return r;
        /* Buckets are "less than or equal": a value equal to a bound is in it. */
        for (i = 0; i < f->n_bounds; i++)
                if (v <= f->bounds[i])
                        break;
        s->buckets[i]++;
        s->count++;
        s->sum += v;
        return 0;
}

int metrics_emit(struct metrics_emitter *e, struct metrics_labels values, double value)
{
        struct metrics_family *f;
        struct series *s;
        int r;

        if (e != &registry.emitter || !e->active)
                return -EINVAL;
        f = e->family;
        if (!labels_shape_ok(values, f->n_labels))
                return -EINVAL;
        if (f->kind == METRICS_COUNTER && (!isfinite(value) || value < 0))
                return -EINVAL;
        r = family_series(f, values, &s);
        if (r < 0)
                return r;
        s->value += value;
        return 0;
}

/* --- rendering ------------------------------------------------------------- */

/* A bounded output buffer; the first error sticks and later appends do nothing. */
/* Label values escape backslash, double quote and newline; help texts escape
 * backslash and newline only. */
static void out_escaped(struct strbuf *o, const char *s, bool label_value)
{
        const char *run = s;

        for (; *s; s++) {
                const char *esc = NULL;

                if (*s == '\\')
                        esc = "\\\\";
                else if (*s == '\n')
                        esc = "\\n";
                else if (*s == '"' && label_value)
                        esc = "\\\"";
                if (esc) {
                        strbuf_add(o, run, (size_t)(s - run));
                        strbuf_puts(o, esc);
                        run = s + 1;
                }
        }
        strbuf_add(o, run, (size_t)(s - run));
}

#define METRICS_DOUBLE_MAX 32

/* Prometheus spelling of a double: NaN, +Inf, -Inf; whole numbers in the
 * int64_t range as plain integers ("3", not "3e+00"); anything else in
 * the shortest %g form that reads back as the same double. */
UNITTEST const char *metrics_format_double(char buf[static METRICS_DOUBLE_MAX], double v);
UNITTEST const char *metrics_format_double(char buf[static METRICS_DOUBLE_MAX], double v)
{
        if (isnan(v))
                return "NaN";
        if (isinf(v))
                return v > 0 ? "+Inf" : "-Inf";
        if (v == trunc(v) && v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
                (void)snprintf(buf, METRICS_DOUBLE_MAX, "%" PRId64, (int64_t)v);
                return buf;
        }
        for (int prec = 15; prec <= 17; prec++) {
                (void)snprintf(buf, METRICS_DOUBLE_MAX, "%.*g", prec, v);
                if (strtod(buf, NULL) == v)
                        break;
        }
        return buf;
}

static void out_double(struct strbuf *o, double v)
{
        char buf[METRICS_DOUBLE_MAX];

        strbuf_puts(o, metrics_format_double(buf, v));
}

static void out_u64(struct strbuf *o, uint64_t v)
{
        char buf[METRICS_DOUBLE_MAX];

        (void)snprintf(buf, sizeof(buf), "%" PRIu64, v);
        strbuf_puts(o, buf);
}

/* name{l1="v1",...,le="b"} — le is NULL outside histogram buckets. */
static void out_sample_name(struct strbuf *o, const struct metrics_family *f, const char *suffix,
                            const struct series *s, const char *le)
{
        bool first = true;

        strbuf_puts(o, f->name);
        strbuf_puts(o, suffix);
        if (f->n_labels == 0 && !le)
                return;
        strbuf_puts(o, "{");
        for (size_t i = 0; i < f->n_labels; i++) {
                if (!first)
                        strbuf_puts(o, ",");
                first = false;
                strbuf_puts(o, f->label_names[i]);
                strbuf_puts(o, "=\"");
                out_escaped(o, s->values[i], true);
                strbuf_puts(o, "\"");
        }
        if (le) {
                if (!first)
                        strbuf_puts(o, ",");
                strbuf_puts(o, "le=\"");
                strbuf_puts(o, le);
                strbuf_puts(o, "\"");
        }
        strbuf_puts(o, "}");
}

static void out_header(struct strbuf *o, const char *name, const char *help, enum metrics_kind kind)
{
        strbuf_puts(o, "# HELP ");
        strbuf_puts(o, name);
        strbuf_puts(o, " ");
        out_escaped(o, help, false);
        strbuf_puts(o, "\n# TYPE ");
        strbuf_puts(o, name);
        strbuf_puts(o, " ");
        strbuf_puts(o, kind_names[kind]);
        strbuf_puts(o, "\n");
}

static void out_series(struct strbuf *o, const struct metrics_family *f, const struct series *s)
{
        char buf[METRICS_DOUBLE_MAX];
        uint64_t cumulative = 0;

        if (f->kind != METRICS_HISTOGRAM) {
                out_sample_name(o, f, "", s, NULL);
                strbuf_puts(o, " ");
                out_double(o, s->value);
                strbuf_puts(o, "\n");
                return;
        }

        for (size_t i = 0; i <= f->n_bounds; i++) {
                cumulative += s->buckets[i];
                out_sample_name(o, f, "_bucket", s,
                                i < f->n_bounds ? metrics_format_double(buf, f->bounds[i])
                                                : "+Inf");
                strbuf_puts(o, " ");
                out_u64(o, cumulative);
                strbuf_puts(o, "\n");
        }
        out_sample_name(o, f, "_sum", s, NULL);
        strbuf_puts(o, " ");
        out_double(o, s->sum);
        strbuf_puts(o, "\n");
        out_sample_name(o, f, "_count", s, NULL);
        strbuf_puts(o, " ");
        out_u64(o, s->count);
        strbuf_puts(o, "\n");
}

static void collect(struct metrics_family *f)
{
        int r;

        family_clear_series(f);
        registry.emitter = (struct metrics_emitter){.family = f, .active = true};
        registry.busy = true;
        r = f->fn(f->userdata, &registry.emitter);
        registry.busy = false;
        registry.emitter = (struct metrics_emitter){0};
        if (r < 0)
                family_clear_series(f);
}

static void out_family(struct strbuf *o, struct metrics_family *f)
{
        out_header(o, f->name, f->help, f->kind);
        if (f->fn)
                collect(f);
        for (size_t i = 0; i < f->n_series; i++)
                out_series(o, f, f->series[i]);
        if (f->fn)
                family_clear_series(f);
}

static void out_dropped(struct strbuf *o)
{
        out_header(o, METRICS_DROPPED_NAME,
                   "Updates whose label values went to the family's overflow series "
                   "(series bound reached, or a value too long or not UTF-8).",
                   METRICS_COUNTER);
        for (size_t i = 0; i < registry.n_families; i++) {
                const struct metrics_family *f = registry.families[i];

                if (f->dropped == 0)
                        continue;
                strbuf_puts(o, METRICS_DROPPED_NAME "{family=\"");
                out_escaped(o, f->name, true);
                strbuf_puts(o, "\"} ");
                out_u64(o, f->dropped);
                strbuf_puts(o, "\n");
        }
}

int metrics_render(char **ret, size_t *ret_len)
{
        struct strbuf o = {.max = metrics_render_max};
        size_t len;
        char *text;
        int r;

        if (!ret || !ret_len)
                return -EINVAL;
        if (registry.busy)
                return -EBUSY;

        for (size_t i = 0; i < registry.n_families; i++)
                out_family(&o, registry.families[i]);
        out_dropped(&o);

        r = o.err;
        len = o.len;
        text = strbuf_steal(&o);
        if (!text)
                return r < 0 ? r : -ENOMEM;
        *ret = text;
        *ret_len = len;
        return 0;
}

void metrics_reset(void)
{
        if (registry.busy)
                return;
        for (size_t i = 0; i < registry.n_families; i++)
                family_free(registry.families[i]);
        free(registry.families);
        registry.families = NULL;
        registry.n_families = registry.cap_families = 0;
        registry.emitter = (struct metrics_emitter){0};
}
