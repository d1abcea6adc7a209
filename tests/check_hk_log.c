/* check_hk_log.c - tests of hook/hk_log.c: line format, levels, files, hourly rotation. */
#include "testutil.h"
#include "hk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static hk_config to_file(const char *name, hk_level level)
{
    hk_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.log_file, sizeof c.log_file, "%s", tu_path(name));
    c.log_level = level;
    return c;
}

static char *slurp(const char *name)
{
    size_t len;
    unsigned char *d = tu_read_file(tu_path(name), &len);
    ck_assert_ptr_nonnull(d);
    char *s = realloc(d, len + 1);
    s[len] = '\0';
    return s;
}

START_TEST(lines_carry_time_pid_level_and_message)
{
    hk_config c = to_file("a.log", HK_INFO);
    hk_log_open(&c);
    hk_log(HK_WARN, "KOALA_LOG_LEVEL=%s is bad", "LOUD");
    hk_log(HK_DEBUG, "not shown at INFO");
    hk_log_close();
    char *s = slurp("a.log");
    char want[64];
    snprintf(want, sizeof want, "Z koala[%ld] WARN KOALA_LOG_LEVEL=LOUD is bad\n", (long)getpid());
    ck_assert_msg(strstr(s, want) != NULL, "%s", s);
    ck_assert_int_eq(s[4], '-');
    ck_assert_int_eq(s[10], 'T');
    ck_assert_ptr_null(strstr(s, "not shown"));
    ck_assert_ptr_eq(strchr(s, '\n'), s + strlen(s) - 1);
    free(s);
}
END_TEST

START_TEST(a_long_message_is_cut_and_says_so)
{
    hk_config c = to_file("long.log", HK_TRACE);
    hk_log_open(&c);
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    hk_log(HK_INFO, "%s", big);
    hk_log_close();
    char *s = slurp("long.log");
    ck_assert_uint_lt(strlen(s), 1024);
    ck_assert_ptr_nonnull(strstr(s, "xxx...\n"));
    free(s);
}
END_TEST

START_TEST(the_file_rotates_when_the_hour_changes)
{
    hk_config c = to_file("rot.log", HK_INFO);
    hk_log_open(&c);
    hk_log(HK_INFO, "first hour");
    time_t now = time(NULL);
    hk_log_rotate_at((int64_t)now + 3600);
    hk_log(HK_INFO, "second hour");
    hk_log_close();
    struct tm tm;
    gmtime_r(&now, &tm);
    char old[64];
    snprintf(old, sizeof old, "rot.log.%04d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour);
    char *a = slurp(old), *b = slurp("rot.log");
    ck_assert_ptr_nonnull(strstr(a, "first hour"));
    ck_assert_ptr_null(strstr(a, "second hour"));
    ck_assert_ptr_nonnull(strstr(b, "second hour"));
    free(a);
    free(b);
}
END_TEST

START_TEST(an_unwritable_log_falls_back_to_stderr)
{
    hk_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.log_file, sizeof c.log_file, "/nonexistent-dir/koala.log");
    c.log_level = HK_INFO;
    /* stderr goes to a file for this check */
    FILE *f = freopen(tu_path("stderr.txt"), "w", stderr);
    ck_assert_ptr_nonnull(f);
    hk_log_open(&c);
    hk_log(HK_INFO, "still logged");
    hk_log_close();
    fflush(stderr);
    char *s = slurp("stderr.txt");
    ck_assert_ptr_nonnull(strstr(s, "ERROR KOALA_LOG_FILE=/nonexistent-dir/koala.log cannot be opened"));
    ck_assert_ptr_nonnull(strstr(s, "INFO still logged"));
    free(s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hk_log");
    TCase *tc = tcase_create("hk_log");
    tcase_add_test(tc, lines_carry_time_pid_level_and_message);
    tcase_add_test(tc, a_long_message_is_cut_and_says_so);
    tcase_add_test(tc, the_file_rotates_when_the_hour_changes);
    tcase_add_test(tc, an_unwritable_log_falls_back_to_stderr);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
