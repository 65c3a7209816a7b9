/*
 * tz_test.c — time zone names checked against the tz database (never a
 * silent fall back to UTC), local time in a zone across daylight saving, and
 * the process's own TZ left as it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "tz.h"

#define JAN_15_NOON_UTC 1768478400 /* 2026-01-15T12:00:00Z */
#define JUL_15_NOON_UTC 1784116800 /* 2026-07-15T12:00:00Z */

static void test_names_of_the_database_accepted(void **state)
{
        static const char *const good[] = {"UTC",          "America/New_York",
                                           "Europe/Paris", "Asia/Kolkata",
                                           "Etc/GMT+5",    "America/Argentina/Buenos_Aires"};
        char why[128];

        (void)state;
        for (size_t i = 0; i < ARRAY_SIZE(good); i++)
                if (tz_check(good[i], why, sizeof(why)) != 0)
                        fail_msg("%s refused: %s", good[i], why);
}

static void test_other_names_refused_with_a_reason(void **state)
{
        static const char *const malformed[] = {
                "",
                "/etc/localtime",
                "../../etc/passwd",
                ":Europe/Paris",
                "Europe//Paris",
                "Europe/Paris/",
                "Europe/Paris ",
                "Europe/Par\xc3\xads",
                "Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/B"};
        static const char *const unknown[] = {"Mars/Olympus_Mons", "Europe/Pariss", "EST5EDTX"};
        char why[128];

        (void)state;
        assert_int_equal(tz_check(NULL, why, sizeof(why)), -EINVAL);
        for (size_t i = 0; i < ARRAY_SIZE(malformed); i++) {
                why[0] = '\0';
                if (tz_check(malformed[i], why, sizeof(why)) != -EINVAL)
                        fail_msg("'%s' accepted", malformed[i]);
                assert_non_null(strstr(why, "not a time zone name"));
        }
        for (size_t i = 0; i < ARRAY_SIZE(unknown); i++) {
                why[0] = '\0';
                if (tz_check(unknown[i], why, sizeof(why)) != -EINVAL)
                        fail_msg("'%s' accepted", unknown[i]);
                assert_non_null(strstr(why, "no such time zone"));
        }
}

/* A database directory of the test's own (TZDIR), with one file that is not
 * a zone; put back by the teardown even when the test fails. */
struct fake_db {
        char dir[32];
        char file[96];
        char *saved_tzdir;
};

static int fake_db_setup(void **state)
{
        static struct fake_db db;
        char sub[64];
        FILE *fp;

        memset(&db, 0, sizeof(db));
        snprintf(db.dir, sizeof(db.dir), "/tmp/tz-test-XXXXXX");
        if (!mkdtemp(db.dir))
                return -1;
        snprintf(sub, sizeof(sub), "%s/Fake", db.dir);
        snprintf(db.file, sizeof(db.file), "%s/Fake/Zone", db.dir);
        if (mkdir(sub, 0700) < 0 || !(fp = fopen(db.file, "we")))
                return -1;
        fputs("not a zone\n", fp);
        fclose(fp);
        db.saved_tzdir = getenv("TZDIR") ? strdup(getenv("TZDIR")) : NULL;
        if (setenv("TZDIR", db.dir, 1) < 0)
                return -1;
        *state = &db;
        return 0;
}

static int fake_db_teardown(void **state)
{
        struct fake_db *db = *state;
        char sub[64];

        if (db->saved_tzdir)
                setenv("TZDIR", db->saved_tzdir, 1);
        else
                unsetenv("TZDIR");
        free(db->saved_tzdir);
        snprintf(sub, sizeof(sub), "%s/Fake", db->dir);
        unlink(db->file);
        rmdir(sub);
        rmdir(db->dir);
        return 0;
}

static void test_only_tzif_files_are_zones(void **state)
{
        char why[128];

        (void)state;
        assert_int_equal(tz_check("Fake/Zone", why, sizeof(why)), -EINVAL);
        /* Nor is anything else there: the database moved. */
        assert_int_equal(tz_check("Europe/Paris", why, sizeof(why)), -EINVAL);
        /* UTC needs no file. */
        assert_int_equal(tz_check("UTC", why, sizeof(why)), 0);
}

static void assert_local(const char *zone, time_t t, int hour, int min, int isdst)
{
        struct tm tm;

        assert_int_equal(tz_localtime(zone, t, &tm), 0);
        if (tm.tm_hour != hour || tm.tm_min != min || tm.tm_isdst != isdst)
                fail_msg("%s: %02d:%02d dst %d, want %02d:%02d dst %d", zone, tm.tm_hour, tm.tm_min,
                         tm.tm_isdst, hour, min, isdst);
}

static void test_local_time_across_daylight_saving(void **state)
{
        struct tm tm;

        (void)state;
        assert_local("America/New_York", JAN_15_NOON_UTC, 7, 0, 0);
        assert_local("America/New_York", JUL_15_NOON_UTC, 8, 0, 1);
        assert_local("Europe/Paris", JAN_15_NOON_UTC, 13, 0, 0);
        assert_local("Europe/Paris", JUL_15_NOON_UTC, 14, 0, 1);
        assert_local("Asia/Kolkata", JAN_15_NOON_UTC, 17, 30, 0);
        assert_local("UTC", JUL_15_NOON_UTC, 12, 0, 0);
        /* The date moves too. */
        assert_int_equal(tz_localtime("Pacific/Auckland", JAN_15_NOON_UTC - 12 * 3600, &tm), 0);
        assert_int_equal(tm.tm_mday, 15);
        assert_int_equal(tm.tm_hour, 13);
        assert_int_equal(tz_localtime("Mars/Olympus_Mons", JAN_15_NOON_UTC, &tm), -EINVAL);
}

static void test_process_tz_left_as_it_was(void **state)
{
        struct tm tm, mine;
        time_t t = JAN_15_NOON_UTC;

        (void)state;
        assert_int_equal(setenv("TZ", "Asia/Tokyo", 1), 0);
        tzset();
        assert_int_equal(tz_localtime("America/New_York", t, &tm), 0);
        assert_int_equal(tm.tm_hour, 7);
        assert_string_equal(getenv("TZ"), "Asia/Tokyo");
        assert_non_null(localtime_r(&t, &mine));
        assert_int_equal(mine.tm_hour, 21);

        assert_int_equal(unsetenv("TZ"), 0);
        tzset();
        assert_int_equal(tz_localtime("Europe/Paris", t, &tm), 0);
        assert_null(getenv("TZ"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names_of_the_database_accepted),
                cmocka_unit_test(test_other_names_refused_with_a_reason),
                cmocka_unit_test_setup_teardown(test_only_tzif_files_are_zones, fake_db_setup,
                                                fake_db_teardown),
                cmocka_unit_test(test_local_time_across_daylight_saving),
                cmocka_unit_test(test_process_tz_left_as_it_was),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
