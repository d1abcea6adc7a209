/* check_textdiff.c - tests for libkoala/textdiff.c: line diffs and hex diffs. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static const char *diff_of(const char *a, const char *b, unsigned context)
{
    static kl_buf out;
    kl_buf_free(&out);
    ck_assert_int_eq(kl_text_diff((const uint8_t *)a, strlen(a), (const uint8_t *)b, strlen(b), context, 1000, &out),
                     KL_OK);
    return out.len ? out.data : "";
}

START_TEST(the_same_lines_give_no_diff)
{
    ck_assert_str_eq(diff_of("a\nb\nc\n", "a\nb\nc\n", 3), "");
    ck_assert_str_eq(diff_of("a\r\nb\r\n", "a\nb\n", 3), ""); /* CRLF and LF alike */
    ck_assert_str_eq(diff_of("", "", 3), "");
}
END_TEST

START_TEST(one_changed_line_shows_with_its_context)
{
    const char *a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";
    const char *b = "1\n2\n3\n4\n5\nsix\n7\n8\n9\n10\n";
    ck_assert_str_eq(diff_of(a, b, 2), "@@ -4,5 +4,5 @@\n 4\n 5\n-6\n+six\n 7\n 8\n");
    ck_assert_str_eq(diff_of(a, b, 0), "@@ -6,1 +6,1 @@\n-6\n+six\n");
}
END_TEST

START_TEST(lines_added_at_the_start_and_removed_at_the_end)
{
    ck_assert_str_eq(diff_of("b\nc\nd\n", "a\nb\nc\n", 1), "@@ -1,3 +1,3 @@\n+a\n b\n c\n-d\n");
    ck_assert_str_eq(diff_of("b\nc\nd\ne\n", "a\nb\nc\nd\n", 0), "@@ -0,0 +1,1 @@\n+a\n@@ -4,1 +4,0 @@\n-e\n");
    ck_assert_str_eq(diff_of("", "x\ny", 3), "@@ -0,0 +1,2 @@\n+x\n+y\n");
    ck_assert_str_eq(diff_of("x\ny", "", 3), "@@ -1,2 +0,0 @@\n-x\n-y\n");
}
END_TEST

START_TEST(changes_close_together_share_a_hunk_and_far_apart_do_not)
{
    const char *a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
    const char *near = "one\n2\n3\nfour\n5\n6\n7\n8\n9\n10\n11\n12\n";
    const char *far = "one\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\ntwelve\n";
    ck_assert_str_eq(diff_of(a, near, 1), "@@ -1,5 +1,5 @@\n-1\n+one\n 2\n 3\n-4\n+four\n 5\n");
    ck_assert_str_eq(diff_of(a, far, 1), "@@ -1,2 +1,2 @@\n-1\n+one\n 2\n@@ -11,2 +11,2 @@\n 11\n-12\n+twelve\n");
}
END_TEST

START_TEST(too_many_changes_leave_the_output_alone)
{
    kl_buf out = {0};
    kl_buf_append(&out, "kept", 4);
    const char *a = "a\nb\nc\nd\n", *b = "w\nx\ny\nz\n";
    ck_assert_int_eq(kl_text_diff((const uint8_t *)a, strlen(a), (const uint8_t *)b, strlen(b), 3, 5, &out),
                     KL_ERR_TOOBIG);
    ck_assert_str_eq(out.data, "kept");
    ck_assert_int_eq(kl_text_diff((const uint8_t *)a, strlen(a), (const uint8_t *)b, strlen(b), 3, 8, &out), KL_OK);
    ck_assert_int_eq(kl_text_diff(NULL, 1, (const uint8_t *)b, 1, 3, 8, &out), KL_ERR_INVALID);
    kl_buf_free(&out);
}
END_TEST

START_TEST(a_few_changes_in_long_texts_need_room_for_those_only)
{
    /* No limit on changes: room for every possible edit of 200,000 lines would be 160 GB. */
    kl_buf a = {0}, b = {0}, out = {0};
    for (int i = 0; i < 100000; i++) {
        kl_buf_printf(&a, "line %d\n", i);
        kl_buf_printf(&b, "%s %d\n", i == 0 || i == 99999 ? "other" : "line", i);
    }
    ck_assert_int_eq(kl_text_diff((const uint8_t *)a.data, a.len, (const uint8_t *)b.data, b.len, 1, SIZE_MAX, &out),
                     KL_OK);
    ck_assert_str_eq(out.data, "@@ -1,2 +1,2 @@\n-line 0\n+other 0\n line 1\n"
                               "@@ -99999,2 +99999,2 @@\n line 99998\n-line 99999\n+other 99999\n");
    /* Every line changed: 200 edits, so the room grows past its first rounds. */
    kl_buf want = {0};
    a.len = b.len = out.len = 0;
    kl_buf_append(&want, "@@ -1,100 +1,100 @@\n", 20);
    for (int i = 0; i < 100; i++) {
        kl_buf_printf(&a, "a%d\n", i);
        kl_buf_printf(&b, "b%d\n", i);
        kl_buf_printf(&want, "-a%d\n", i);
    }
    for (int i = 0; i < 100; i++)
        kl_buf_printf(&want, "+b%d\n", i);
    ck_assert_int_eq(kl_text_diff((const uint8_t *)a.data, a.len, (const uint8_t *)b.data, b.len, 1, SIZE_MAX, &out),
                     KL_OK);
    ck_assert_str_eq(out.data, want.data);
    kl_buf_free(&a), kl_buf_free(&b), kl_buf_free(&out), kl_buf_free(&want);
}
END_TEST

/* The longest common subsequence of lines, the slow way, to check the diff is minimal. */
static size_t lcs(char **a, size_t n, char **b, size_t m)
{
    size_t *t = calloc((n + 1) * (m + 1), sizeof *t);
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++)
            t[i * (m + 1) + j] = strcmp(a[i - 1], b[j - 1]) == 0 ? t[(i - 1) * (m + 1) + j - 1] + 1
                                 : t[(i - 1) * (m + 1) + j] > t[i * (m + 1) + j - 1] ? t[(i - 1) * (m + 1) + j]
                                                                                     : t[i * (m + 1) + j - 1];
    size_t r = t[n * (m + 1) + m];
    free(t);
    return r;
}

START_TEST(random_texts_get_a_minimal_diff_that_rebuilds_both_sides)
{
    static const char *words[] = {"alpha", "beta", "gamma", "delta"};
    srand(7);
    for (int round = 0; round < 300; round++) {
        char *la[40], *lb[40];
        size_t n = (size_t)(rand() % 30), m = (size_t)(rand() % 30);
        kl_buf a = {0}, b = {0}, want_a = {0}, want_b = {0};
        for (size_t i = 0; i < n; i++) {
            la[i] = (char *)words[rand() % 4];
            kl_buf_printf(&a, "%s\n", la[i]);
        }
        for (size_t i = 0; i < m; i++) {
            lb[i] = (char *)words[rand() % 4];
            kl_buf_printf(&b, "%s\n", lb[i]);
        }
        kl_buf out = {0};
        ck_assert_int_eq(kl_text_diff((const uint8_t *)a.data, a.len, (const uint8_t *)b.data, b.len, 1000, 1000, &out),
                         KL_OK);
        /* With context covering everything, one hunk holds both sides whole. */
        size_t changed = 0;
        for (char *p = out.data; p && *p;) {
            char *nl = strchr(p, '\n');
            size_t len = (size_t)(nl - p);
            if (p[0] == ' ' || p[0] == '-')
                kl_buf_printf(&want_a, "%.*s\n", (int)len - 1, p + 1);
            if (p[0] == ' ' || p[0] == '+')
                kl_buf_printf(&want_b, "%.*s\n", (int)len - 1, p + 1);
            changed += p[0] == '-' || p[0] == '+';
            p = nl + 1;
        }
        if (n != m || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)) {
            ck_assert_str_eq(want_a.len ? want_a.data : "", a.len ? a.data : "");
            ck_assert_str_eq(want_b.len ? want_b.data : "", b.len ? b.data : "");
        }
        ck_assert_uint_eq(changed, n + m - 2 * lcs(la, n, lb, m));
        kl_buf_free(&a), kl_buf_free(&b), kl_buf_free(&want_a), kl_buf_free(&want_b), kl_buf_free(&out);
    }
}
END_TEST

START_TEST(hex_diff_shows_the_rows_that_differ)
{
    uint8_t a[40], b[36];
    for (int i = 0; i < 40; i++)
        a[i] = (uint8_t)('A' + i % 26);
    memcpy(b, a, sizeof b);
    b[17] = 0x01;
    kl_buf out = {0};
    ck_assert_int_eq(kl_hex_diff(a, sizeof a, b, sizeof b, 10, &out), KL_OK);
    ck_assert_str_eq(out.data,
                     "-00000010  51 52 53 54 55 56 57 58 59 5a 41 42 43 44 45 46  |QRSTUVWXYZABCDEF|\n"
                     "+00000010  51 01 53 54 55 56 57 58 59 5a 41 42 43 44 45 46  |Q.STUVWXYZABCDEF|\n"
                     "-00000020  47 48 49 4a 4b 4c 4d 4e                          |GHIJKLMN|\n"
                     "+00000020  47 48 49 4a                                      |GHIJ|\n");
    out.len = 0;
    ck_assert_int_eq(kl_hex_diff(a, sizeof a, b, sizeof b, 1, &out), KL_OK);
    ck_assert(strstr(out.data, "... 1 more rows of 16 bytes differ\n"));
    out.len = 0;
    ck_assert_int_eq(kl_hex_diff(a, sizeof a, a, sizeof a, 10, &out), KL_OK);
    ck_assert_uint_eq(out.len, 0);
    kl_buf_free(&out);
}
END_TEST

static bool same_but_times(const char *a, const char *b)
{
    return kl_text_same_but_times((const uint8_t *)a, strlen(a), (const uint8_t *)b, strlen(b));
}

START_TEST(timestamps_a_little_apart_are_the_same_moment)
{
    ck_assert(same_but_times("2024-03-01T10:00:59Z GET /user/7 200", "2024-03-01T10:01:00Z GET /user/7 200"));
    ck_assert(same_but_times("at 2024-03-01 10:00:59.123+01:00.", "at 2024-03-01 10:01:30.9+01:00."));
    ck_assert(same_but_times("Date: Fri, 01 Mar 2024 10:00:00 GMT\r\n", "Date: Fri, 01 Mar 2024 10:00:01 GMT\r\n"));
    ck_assert(same_but_times("ts=1709287200 ok", "ts=1709287259 ok"));
    ck_assert(same_but_times("ms=1709287200000;", "ms=1709287201999;"));
    ck_assert(same_but_times("Fri, 29 Feb 2024 23:59:59 GMT", "Fri, 01 Mar 2024 00:00:30 GMT")); /* leap day */
    ck_assert(same_but_times("", ""));
    /* An id of ten digits reads as a time too (2009 here): --strict is there for those. */
    ck_assert(same_but_times("id=1234567890", "id=1234567891"));
}
END_TEST

START_TEST(anything_else_still_differs)
{
    ck_assert(!same_but_times("2024-03-01T10:00:00Z a", "2024-03-01T10:02:00Z a")); /* 120 s */
    ck_assert(!same_but_times("2024-03-01T10:00:00Z a", "2024-03-01T10:00:01Z b"));
    ck_assert(!same_but_times("n=123456789", "n=123456780"));           /* 9 digits: no time */
    ck_assert(!same_but_times("x1709287200", "x1709287201"));           /* not a token of its own */
    ck_assert(!same_but_times("2024-03-01T10:00:00+01:00", "2024-03-01T10:00:00+03:00")); /* 2 h */
    ck_assert(!same_but_times("abc", "abcd"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("textdiff");
    TCase *tc = tcase_create("textdiff");
    tcase_add_test(tc, the_same_lines_give_no_diff);
    tcase_add_test(tc, one_changed_line_shows_with_its_context);
    tcase_add_test(tc, lines_added_at_the_start_and_removed_at_the_end);
    tcase_add_test(tc, changes_close_together_share_a_hunk_and_far_apart_do_not);
    tcase_add_test(tc, too_many_changes_leave_the_output_alone);
    tcase_add_test(tc, a_few_changes_in_long_texts_need_room_for_those_only);
    tcase_add_test(tc, random_texts_get_a_minimal_diff_that_rebuilds_both_sides);
    tcase_add_test(tc, hex_diff_shows_the_rows_that_differ);
    tcase_add_test(tc, timestamps_a_little_apart_are_the_same_moment);
    tcase_add_test(tc, anything_else_still_differs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
