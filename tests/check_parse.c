/* check_parse.c - tests of libkoala/parse.c: times and durations as people write them. */
#include "testutil.h"

#include <string.h>

static int64_t t(const char *s)
{
    int64_t ns = -1;
    ck_assert_msg(kl_parse_time(s, strlen(s), &ns) == KL_OK, "%s does not parse", s);
    return ns;
}

START_TEST(rfc3339_times_parse_to_unix_ns)
{
    ck_assert_int_eq(t("2023-11-14T22:13:20Z"), 1700000000000000000);
    ck_assert_int_eq(t("2023-11-14T22:13:20.5Z"), 1700000000500000000);
    ck_assert_int_eq(t("2023-11-14T22:13:20.123456789Z"), 1700000000123456789);
    ck_assert_int_eq(t("2023-11-15T06:13:20+08:00"), 1700000000000000000);
    ck_assert_int_eq(t("2023-11-14 22:13:20z"), 1700000000000000000);
    ck_assert_int_eq(t("1970-01-01"), 0);
    ck_assert_int_eq(t("2024-02-29"), 1709164800000000000);
    int64_t ns;
    const char *bad[] = {"", "2023-11-14T22:13:20", "2023-13-01", "2023-02-29", "2023-11-14T24:00:00Z",
                         "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20.1234567891Z", "3000-01-01",
                         "2023-11-14T22:13:20Zjunk", "yesterday"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(kl_parse_time(bad[i], strlen(bad[i]), &ns) == KL_ERR_INVALID, "%s parsed", bad[i]);
}
END_TEST

START_TEST(tool_times_also_take_unix_seconds)
{
    int64_t ns;
    ck_assert_int_eq(kl_parse_unix_time("1548160113.5", &ns), KL_OK);
    ck_assert_int_eq(ns, 1548160113500000000);
    ck_assert_int_eq(kl_parse_unix_time("2019-01-22T12:28:33.5Z", &ns), KL_OK);
    ck_assert_int_eq(ns, 1548160113500000000);
    ck_assert_int_eq(kl_parse_unix_time("12abc", &ns), KL_ERR_INVALID);
    ck_assert_int_eq(kl_parse_unix_time("99999999999999999999", &ns), KL_ERR_INVALID);
}
END_TEST

START_TEST(durations_add_up_their_units)
{
    int64_t ns;
    const struct {
        const char *text;
        int64_t ns;
    } ok[] = {{"100ms", 100000000}, {"60s", 60000000000}, {"5m", 300000000000},
              {"1h30m", 5400000000000}, {"1.5s", 1500000000}, {"250us", 250000}, {"7ns", 7},
              {"2", 2000000000}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_msg(kl_parse_duration(ok[i].text, &ns) == KL_OK, "%s", ok[i].text);
        ck_assert_int_eq(ns, ok[i].ns);
    }
    const char *bad[] = {"", "0s", "5parsecs", "1h2", "-1s", "s", "9999999999999h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(kl_parse_duration(bad[i], &ns) == KL_ERR_INVALID, "%s parsed", bad[i]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("parse");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, rfc3339_times_parse_to_unix_ns);
    tcase_add_test(tc, tool_times_also_take_unix_seconds);
    tcase_add_test(tc, durations_add_up_their_units);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
