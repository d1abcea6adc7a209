/* check_merge.c - tests for libkoala/merge.c: time order, ties, append, dedupe, damaged inputs. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1700000000000000000LL

/* A small session with just an id and an inbound time, enough for ordering. */
static void write_light(const char *path, const int64_t *times, const char *const *ids, size_t n)
{
    kl_writer *w;
    kl_writer_opts o;
    kl_writer_opts_init(&o);
    ck_assert_int_eq(kl_writer_open(&w, path, &o), KL_OK);
    for (size_t i = 0; i < n; i++) {
        kl_session s = {0};
        s.id = ids[i];
        s.call_from_inbound.present = true;
        s.call_from_inbound.occurred_at = times[i];
        s.call_from_inbound.request = (kl_bytes){(const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18};
        ck_assert_int_eq(kl_writer_write(w, &s), KL_OK);
    }
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
}

/* Sessions tu_session(idx[i]) into path; frame_size 0 keeps the default. */
static void write_sessions(const char *path, const int *idx, size_t n, size_t frame_size)
{
    kl_writer *w;
    kl_writer_opts o;
    kl_writer_opts_init(&o);
    if (frame_size)
        o.frame_size = frame_size;
    ck_assert_int_eq(kl_writer_open(&w, path, &o), KL_OK);
    for (size_t i = 0; i < n; i++) {
        kl_session *s = tu_session(idx[i]);
        ck_assert_int_eq(kl_writer_write(w, s), KL_OK);
        kl_session_free(s);
    }
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
}

static kl_reader *open_reader(const char *path)
{
    kl_reader *r;
    char err[KL_ERRBUF_SIZE];
    ck_assert_msg(kl_reader_open(&r, path, err) == KL_OK, "%s", err);
    return r;
}

/* What a merge delivered: ids, times, sources, and errors met on the way. */
typedef struct result {
    char ids[8192][48];
    int64_t times[8192];
    size_t srcs[8192];
    size_t n;
    int errors[8];
    size_t error_srcs[8];
    size_t nerrors;
} result;

static result *run_merge(kl_reader **rs, size_t n, unsigned flags, uint64_t *dups)
{
    result *res = calloc(1, sizeof *res);
    ck_assert_ptr_nonnull(res);
    kl_merge *m;
    ck_assert_int_eq(kl_merge_open(&m, rs, n, flags), KL_OK);
    for (;;) {
        kl_raw raw;
        size_t src = 99;
        int rc = kl_merge_next(m, &raw, &src);
        if (rc == KL_END)
            break;
        ck_assert_uint_lt(src, n);
        if (rc < 0) {
            ck_assert_uint_lt(res->nerrors, 8);
            res->errors[res->nerrors] = rc;
            res->error_srcs[res->nerrors++] = src;
            continue;
        }
        ck_assert_int_eq(rc, KL_OK);
        ck_assert_uint_lt(res->n, 8192);
        ck_assert_int_eq(raw.kind, KL_KIND_RECORDED);
        ck_assert_uint_gt(raw.len, 0);
        snprintf(res->ids[res->n], sizeof res->ids[0], "%s", raw.id);
        res->times[res->n] = raw.time;
        res->srcs[res->n++] = src;
    }
    if (dups)
        *dups = kl_merge_duplicates(m);
    kl_merge_close(m);
    return res;
}

static void close_all(kl_reader **rs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kl_reader_close(rs[i]);
}

/* The id tu_session(i) carries. */
static const char *sid(int i)
{
    static char b[8][48];
    static int k;
    char *p = b[k++ % 8];
    snprintf(p, 48, "%lld-%d", (long long)(T0 + (int64_t)i * 1000000), 4000 + i % 4);
    return p;
}

START_TEST(interleaved_inputs_come_out_in_time_order)
{
    static const int a[] = {0, 2, 4, 6}, b[] = {1, 3, 5}, c[] = {7};
    write_sessions(tu_path("a.pb"), a, 4, 0);
    write_sessions(tu_path("b.pb"), b, 3, 0);
    write_sessions(tu_path("c.pb"), c, 1, 0);
    kl_reader *rs[3] = {open_reader(tu_path("c.pb")), open_reader(tu_path("a.pb")),
                        open_reader(tu_path("b.pb"))};
    result *res = run_merge(rs, 3, 0, NULL);
    ck_assert_uint_eq(res->n, 8);
    ck_assert_uint_eq(res->nerrors, 0);
    for (int i = 0; i < 8; i++) {
        ck_assert_str_eq(res->ids[i], sid(i));
        ck_assert_int_eq(res->times[i], T0 + (int64_t)i * 1000000 + 1000);
        ck_assert_uint_eq(res->srcs[i], i == 7 ? 0 : i % 2 ? 2 : 1);
    }
    free(res);
    close_all(rs, 3);
}
END_TEST

START_TEST(equal_times_are_ordered_by_id_then_argument_order)
{
    const int64_t t[] = {T0, T0, T0 + 5};
    const char *const ida[] = {"100-9", "100-3", "200-1"};
    const char *const idb[] = {"100-5", "100-3"};
    write_light(tu_path("a.pb"), t, ida, 3);
    write_light(tu_path("b.pb"), t, idb, 2);
    kl_reader *rs[2] = {open_reader(tu_path("a.pb")), open_reader(tu_path("b.pb"))};
    result *res = run_merge(rs, 2, 0, NULL);
    /* Input a is itself out of order ("100-9" before "100-3"): a merge orders the heads of
     * its inputs, it does not sort within one. */
    static const char *const want[] = {"100-5", "100-3", "100-9", "100-3", "200-1"};
    static const size_t want_src[] = {1, 1, 0, 0, 0};
    ck_assert_uint_eq(res->n, 5);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_str_eq(res->ids[i], want[i]);
        ck_assert_uint_eq(res->srcs[i], want_src[i]);
    }
    free(res);
    close_all(rs, 2);
}
END_TEST

START_TEST(identical_time_and_id_keep_argument_order)
{
    const int64_t t[] = {T0};
    const char *const id[] = {"1-1"};
    write_light(tu_path("a.pb"), t, id, 1);
    write_light(tu_path("b.pb"), t, id, 1);
    write_light(tu_path("c.pb"), t, id, 1);
    kl_reader *rs[3] = {open_reader(tu_path("b.pb")), open_reader(tu_path("a.pb")),
                        open_reader(tu_path("c.pb"))};
    result *res = run_merge(rs, 3, 0, NULL);
    ck_assert_uint_eq(res->n, 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_uint_eq(res->srcs[i], i);
    free(res);
    close_all(rs, 3);
}
END_TEST

START_TEST(append_concatenates_in_argument_order)
{
    static const int a[] = {5, 6}, b[] = {0, 1, 2};
    write_sessions(tu_path("a.pb"), a, 2, 0);
    write_sessions(tu_path("b.pb"), b, 3, 0);
    kl_reader *rs[2] = {open_reader(tu_path("a.pb")), open_reader(tu_path("b.pb"))};
    result *res = run_merge(rs, 2, KL_MERGE_APPEND, NULL);
    static const int want[] = {5, 6, 0, 1, 2};
    ck_assert_uint_eq(res->n, 5);
    for (size_t i = 0; i < 5; i++) {
        ck_assert_str_eq(res->ids[i], sid(want[i]));
        ck_assert_uint_eq(res->srcs[i], i < 2 ? 0 : 1);
    }
    free(res);
    close_all(rs, 2);
}
END_TEST

START_TEST(dedupe_drops_ids_already_delivered)
{
    static const int a[] = {0, 1, 2}, b[] = {1, 2, 3};
    write_sessions(tu_path("a.pb"), a, 3, 0);
    write_sessions(tu_path("b.pb"), b, 3, 0);
    kl_reader *rs[2] = {open_reader(tu_path("b.pb")), open_reader(tu_path("a.pb"))};
    uint64_t dups = 0;
    result *res = run_merge(rs, 2, KL_MERGE_DEDUPE, &dups);
    ck_assert_uint_eq(res->n, 4);
    ck_assert_uint_eq(dups, 2);
    static const size_t want_src[] = {1, 0, 0, 0}; /* ties keep the first input's copy */
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(res->ids[i], sid(i));
        ck_assert_uint_eq(res->srcs[i], want_src[i]);
    }
    free(res);
    close_all(rs, 2);
}
END_TEST

START_TEST(dedupe_with_append_keeps_the_first_copy_in_argument_order)
{
    static const int a[] = {3, 1}, b[] = {1, 0, 3, 4};
    write_sessions(tu_path("a.pb"), a, 2, 0);
    write_sessions(tu_path("b.pb"), b, 4, 0);
    kl_reader *rs[2] = {open_reader(tu_path("a.pb")), open_reader(tu_path("b.pb"))};
    uint64_t dups = 0;
    result *res = run_merge(rs, 2, KL_MERGE_APPEND | KL_MERGE_DEDUPE, &dups);
    static const int want[] = {3, 1, 0, 4};
    ck_assert_uint_eq(res->n, 4);
    ck_assert_uint_eq(dups, 2);
    for (size_t i = 0; i < 4; i++)
        ck_assert_str_eq(res->ids[i], sid(want[i]));
    free(res);
    close_all(rs, 2);
}
END_TEST

START_TEST(dedupe_holds_thousands_of_ids)
{
    enum { N = 3000 };
    static int64_t t[N];
    static char idtext[N][32];
    static const char *ids[N];
    for (int i = 0; i < N; i++) {
        t[i] = T0 + i;
        snprintf(idtext[i], sizeof idtext[i], "%lld-%d", (long long)t[i], i % 7);
        ids[i] = idtext[i];
    }
    write_light(tu_path("a.pb"), t, ids, N);
    write_light(tu_path("b.pb"), t + N / 2, ids + N / 2, N - N / 2);
    kl_reader *rs[2] = {open_reader(tu_path("a.pb")), open_reader(tu_path("b.pb"))};
    uint64_t dups = 0;
    result *res = run_merge(rs, 2, KL_MERGE_DEDUPE, &dups);
    ck_assert_uint_eq(res->n, N);
    ck_assert_uint_eq(dups, N - N / 2);
    for (int i = 0; i < N; i++)
        ck_assert_str_eq(res->ids[i], ids[i]);
    free(res);
    close_all(rs, 2);
}
END_TEST

START_TEST(sessions_without_id_are_never_duplicates)
{
    const int64_t t[] = {T0, T0};
    const char *const ids[] = {"", ""};
    write_light(tu_path("a.pb"), t, ids, 2);
    kl_reader *rs[1] = {open_reader(tu_path("a.pb"))};
    uint64_t dups = 1;
    result *res = run_merge(rs, 1, KL_MERGE_DEDUPE, &dups);
    ck_assert_uint_eq(res->n, 2);
    ck_assert_uint_eq(dups, 0);
    free(res);
    close_all(rs, 1);
}
END_TEST

START_TEST(many_inputs_merge_into_one_ordered_stream)
{
    enum { INPUTS = 24, PER = 40 };
    static int64_t t[PER];
    static char idtext[PER][32];
    static const char *ids[PER];
    srand(7);
    kl_reader *rs[INPUTS];
    for (int in = 0; in < INPUTS; in++) {
        int64_t now = T0;
        int n = in % 5 == 0 ? 0 : PER - in; /* some inputs are empty */
        for (int i = 0; i < n; i++) {
            now += rand() % 4; /* repeats make ties */
            t[i] = now;
            snprintf(idtext[i], sizeof idtext[i], "%lld-%d", (long long)now, in);
            ids[i] = idtext[i];
        }
        char name[32];
        snprintf(name, sizeof name, "in%d.pb", in);
        write_light(tu_path(name), t, ids, (size_t)n);
        rs[in] = open_reader(tu_path(name));
    }
    result *res = run_merge(rs, INPUTS, 0, NULL);
    size_t want = 0;
    for (int in = 0; in < INPUTS; in++)
        want += in % 5 == 0 ? 0 : PER - in;
    ck_assert_uint_eq(res->n, want);
    for (size_t i = 1; i < res->n; i++) {
        ck_assert_int_le(res->times[i - 1], res->times[i]);
        if (res->times[i - 1] == res->times[i])
            ck_assert_int_le(strcmp(res->ids[i - 1], res->ids[i]), 0);
    }
    free(res);
    close_all(rs, INPUTS);
}
END_TEST

START_TEST(truncated_input_keeps_what_is_readable_and_reports_its_error)
{
    enum { N = 40 };
    int a[N / 2], b[N], c[N / 2];
    for (int i = 0; i < N / 2; i++) {
        a[i] = 3 * i;
        c[i] = 3 * i + 2;
    }
    for (int i = 0; i < N; i++)
        b[i] = 3 * i + 1;
    write_sessions(tu_path("a.pb"), a, N / 2, 0);
    write_sessions(tu_path("b.pb"), b, N, 2048); /* several frames, so some survive the cut */
    write_sessions(tu_path("c.pb"), c, N / 2, 0);
    size_t len;
    unsigned char *bytes = tu_read_file(tu_path("b.pb"), &len);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_int_eq(tu_write_file(tu_path("b.pb"), bytes, len / 2), 0);
    free(bytes);

    kl_reader *rs[3] = {open_reader(tu_path("a.pb")), open_reader(tu_path("b.pb")),
                        open_reader(tu_path("c.pb"))};
    result *res = run_merge(rs, 3, 0, NULL);
    ck_assert_uint_eq(res->nerrors, 1);
    ck_assert_int_lt(res->errors[0], 0);
    ck_assert_uint_eq(res->error_srcs[0], 1);
    size_t from[3] = {0};
    for (size_t i = 0; i < res->n; i++)
        from[res->srcs[i]]++;
    ck_assert_uint_eq(from[0], N / 2);
    ck_assert_uint_eq(from[2], N / 2);
    ck_assert_uint_gt(from[1], 0);
    ck_assert_uint_lt(from[1], N);
    ck_assert_uint_eq(from[1], kl_reader_delivered(rs[1]));
    for (size_t i = 1; i < res->n; i++)
        ck_assert_int_lt(res->times[i - 1], res->times[i]);
    free(res);
    close_all(rs, 3);
}
END_TEST

START_TEST(input_failing_on_its_first_record_is_dropped)
{
    static const int a[] = {0, 1};
    write_sessions(tu_path("a.pb"), a, 2, 0);
    /* A valid header frame followed by garbage: the reader opens, its first record fails. */
    kl_writer *w;
    kl_writer_opts o;
    kl_writer_opts_init(&o);
    o.no_index = true;
    ck_assert_int_eq(kl_writer_open(&w, tu_path("hdr.pb"), &o), KL_OK);
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
    size_t hlen;
    unsigned char *hdr = tu_read_file(tu_path("hdr.pb"), &hlen);
    ck_assert_ptr_nonnull(hdr);
    unsigned char *bad = malloc(hlen + 64);
    memcpy(bad, hdr, hlen);
    memset(bad + hlen, 0xA5, 64);
    ck_assert_int_eq(tu_write_file(tu_path("bad.pb"), bad, hlen + 64), 0);
    free(hdr);
    free(bad);

    kl_reader *rs[2] = {open_reader(tu_path("bad.pb")), open_reader(tu_path("a.pb"))};
    result *res = run_merge(rs, 2, 0, NULL);
    ck_assert_uint_eq(res->nerrors, 1);
    ck_assert_uint_eq(res->error_srcs[0], 0);
    ck_assert_uint_eq(res->n, 2);
    ck_assert_str_eq(res->ids[0], sid(0));
    ck_assert_str_eq(res->ids[1], sid(1));
    free(res);
    close_all(rs, 2);
}
END_TEST

START_TEST(empty_inputs_end_at_once)
{
    kl_merge *m;
    kl_raw raw;
    size_t src;
    ck_assert_int_eq(kl_merge_open(&m, NULL, 0, 0), KL_OK);
    ck_assert_int_eq(kl_merge_next(m, &raw, &src), KL_END);
    kl_merge_close(m);

    write_sessions(tu_path("e1.pb"), NULL, 0, 0);
    write_sessions(tu_path("e2.pb"), NULL, 0, 0);
    for (unsigned flags = 0; flags < 4; flags++) {
        kl_reader *rs[2] = {open_reader(tu_path("e1.pb")), open_reader(tu_path("e2.pb"))};
        ck_assert_int_eq(kl_merge_open(&m, rs, 2, flags), KL_OK);
        ck_assert_int_eq(kl_merge_next(m, &raw, &src), KL_END);
        ck_assert_int_eq(kl_merge_next(m, &raw, &src), KL_END);
        ck_assert_uint_eq(kl_merge_duplicates(m), 0);
        kl_merge_close(m);
        close_all(rs, 2);
    }
}
END_TEST

START_TEST(empty_input_beside_a_full_one_changes_nothing)
{
    static const int a[] = {0, 1, 2};
    write_sessions(tu_path("a.pb"), a, 3, 0);
    write_sessions(tu_path("e.pb"), NULL, 0, 0);
    kl_reader *rs[3] = {open_reader(tu_path("e.pb")), open_reader(tu_path("a.pb")),
                        open_reader(tu_path("e.pb"))};
    result *res = run_merge(rs, 3, 0, NULL);
    ck_assert_uint_eq(res->n, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(res->ids[i], sid(i));
        ck_assert_uint_eq(res->srcs[i], 1);
    }
    free(res);
    close_all(rs, 3);
}
END_TEST

START_TEST(open_rejects_bad_arguments)
{
    kl_merge *m = (kl_merge *)1;
    kl_reader *rs[1] = {NULL};
    ck_assert_int_eq(kl_merge_open(&m, rs, 1, 0), KL_ERR_INVALID);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(kl_merge_open(&m, NULL, 2, 0), KL_ERR_INVALID);
    ck_assert_int_eq(kl_merge_open(&m, NULL, 0, 64), KL_ERR_INVALID);
    kl_merge_close(NULL);
    ck_assert_uint_eq(kl_merge_duplicates(NULL), 0);
}
END_TEST

START_TEST(merged_raw_records_copy_into_a_readable_file)
{
    static const int a[] = {0, 2}, b[] = {1, 3};
    write_sessions(tu_path("a.pb"), a, 2, 0);
    write_sessions(tu_path("b.pb"), b, 2, 0);
    kl_reader *rs[2] = {open_reader(tu_path("a.pb")), open_reader(tu_path("b.pb"))};
    kl_merge *m;
    ck_assert_int_eq(kl_merge_open(&m, rs, 2, 0), KL_OK);
    kl_writer *w;
    kl_writer_opts o;
    kl_writer_opts_init(&o);
    ck_assert_int_eq(kl_writer_open(&w, tu_path("out.pb"), &o), KL_OK);
    kl_raw raw;
    size_t src;
    while (kl_merge_next(m, &raw, &src) == KL_OK)
        ck_assert_int_eq(kl_writer_write_raw(w, &raw), KL_OK);
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
    kl_merge_close(m);
    close_all(rs, 2);

    kl_reader *r = open_reader(tu_path("out.pb"));
    const kl_session *s;
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(kl_reader_next(r, &s), KL_OK);
        ck_assert_str_eq(s->id, sid(i));
        ck_assert_uint_eq(s->n_actions, 5);
    }
    ck_assert_int_eq(kl_reader_next(r, &s), KL_END);
    kl_reader_close(r);
}
END_TEST

static Suite *merge_suite(void)
{
    Suite *s = suite_create("merge");
    TCase *tc = tcase_create("merge");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, interleaved_inputs_come_out_in_time_order);
    tcase_add_test(tc, equal_times_are_ordered_by_id_then_argument_order);
    tcase_add_test(tc, identical_time_and_id_keep_argument_order);
    tcase_add_test(tc, append_concatenates_in_argument_order);
    tcase_add_test(tc, dedupe_drops_ids_already_delivered);
    tcase_add_test(tc, dedupe_with_append_keeps_the_first_copy_in_argument_order);
    tcase_add_test(tc, dedupe_holds_thousands_of_ids);
    tcase_add_test(tc, sessions_without_id_are_never_duplicates);
    tcase_add_test(tc, many_inputs_merge_into_one_ordered_stream);
    tcase_add_test(tc, truncated_input_keeps_what_is_readable_and_reports_its_error);
    tcase_add_test(tc, input_failing_on_its_first_record_is_dropped);
    tcase_add_test(tc, empty_inputs_end_at_once);
    tcase_add_test(tc, empty_input_beside_a_full_one_changes_nothing);
    tcase_add_test(tc, open_rejects_bad_arguments);
    tcase_add_test(tc, merged_raw_records_copy_into_a_readable_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(merge_suite());
}
