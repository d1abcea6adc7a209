/* check_samples.c - the committed sample files read as documented: session counts of the good
 * samples, for every damaged file in samples/bad/ its error and the sessions before it, and
 * every fuzzer finding in samples/bad/fuzz/ read by every path without a crash. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* Tests run from the repository root; KOALA_SAMPLES points elsewhere. */
static const char *sample(const char *name)
{
    static char bufs[4][512];
    static int next;
    const char *dir = getenv("KOALA_SAMPLES") ? getenv("KOALA_SAMPLES") : "samples";
    char *b = bufs[next++ % 4];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

static kl_reader *open_sample(const char *name)
{
    char eb[KL_ERRBUF_SIZE] = "";
    kl_reader *r = NULL;
    int rc = kl_reader_open(&r, sample(name), eb);
    ck_assert_msg(rc == KL_OK, "%s: %s (%s)", sample(name), kl_strerror(rc), eb);
    return r;
}

static const struct {
    const char *name;
    uint64_t sessions;
} good[] = {
    {"http-json.pb", 200}, {"redis.pb", 200}, {"mysql.pb", 200}, {"mixed.pb", 1000},
};

START_TEST(good_sample_holds_its_sessions_and_a_matching_index)
{
    kl_reader *r = open_sample(good[_i].name);
    const kl_file_info *fi = kl_reader_info(r);
    ck_assert(fi->has_index);
    ck_assert_int_eq(fi->kind, KL_KIND_RECORDED);
    ck_assert_str_eq(fi->host, "sample-host");
    ck_assert_str_eq(fi->program, "sample-svc");
    uint64_t n = 0;
    ck_assert_int_eq(kl_reader_count(r, &n), KL_OK);
    ck_assert_uint_eq(n, good[_i].sessions);
    const kl_session *s;
    int rc;
    uint64_t got = 0;
    while ((rc = kl_reader_next(r, &s)) == KL_OK) {
        ck_assert_str_eq(s->host, "sample-host");
        ck_assert_int_eq(s->pid, 4242);
        ck_assert(s->call_from_inbound.present && s->return_inbound.present);
        got++;
    }
    ck_assert_msg(rc == KL_END, "%s: %s", good[_i].name, kl_reader_error(r));
    ck_assert_uint_eq(got, good[_i].sessions);
    ck_assert_int_eq(fi->first_time, 1709287200000000000LL);
    kl_reader_close(r);
}
END_TEST

START_TEST(mixed_sample_holds_every_kind_of_session)
{
    kl_reader *r = open_sample("mixed.pb");
    const kl_session *s;
    size_t truncated = 0, fcgi = 0, traced = 0, storage = 0, calls = 0, returns = 0;
    bool thread_seen[8] = {false};
    bool redis = false, mysql = false, http = false;
    while (kl_reader_next(r, &s) == KL_OK) {
        truncated += s->truncated;
        traced += s->trace_id.len > 0;
        fcgi += strcmp(s->call_from_inbound.peer.unix_path, "/run/php/php8.2-fpm.sock") == 0;
        ck_assert(s->thread_id >= 7101 && s->thread_id < 7109);
        thread_seen[s->thread_id - 7101] = true;
        for (size_t i = 0; i < s->n_actions; i++) {
            const kl_action *a = &s->actions[i];
            storage += a->type == KL_ACTION_READ_STORAGE;
            calls += a->type == KL_ACTION_CALL_FUNCTION;
            returns += a->type == KL_ACTION_RETURN_FUNCTION;
            if (a->type == KL_ACTION_CALL_OUTBOUND) {
                redis |= a->peer.port == 6379;
                mysql |= a->peer.port == 3306;
                http |= a->peer.port == 8080;
            }
        }
    }
    ck_assert_uint_eq(truncated, 1);
    ck_assert_uint_eq(storage, 1);
    ck_assert_uint_eq(calls, 1);
    ck_assert_uint_eq(returns, 1);
    ck_assert_uint_gt(fcgi, 5);
    ck_assert_uint_gt(traced, 300);
    for (int i = 0; i < 8; i++)
        ck_assert(thread_seen[i]);
    ck_assert(redis && mysql && http);
    kl_reader_close(r);
}
END_TEST

START_TEST(replayed_sample_has_one_unmatched_call_and_one_changed_response)
{
    kl_reader *r = open_sample("replayed.pb");
    ck_assert_int_eq(kl_reader_info(r)->kind, KL_KIND_REPLAYED);
    const kl_replayed *rp;
    int rc;
    size_t n = 0, changed = 0, unmatched = 0, with_errors = 0;
    while ((rc = kl_reader_next_replayed(r, &rp)) == KL_OK) {
        n++;
        changed += rp->response.len != rp->original_response.len ||
                   memcmp(rp->response.data, rp->original_response.data, rp->response.len) != 0;
        with_errors += rp->n_errors > 0;
        for (size_t i = 0; i < rp->n_actions; i++)
            if (rp->actions[i].action.type == KL_ACTION_CALL_OUTBOUND) {
                if (rp->actions[i].matched_index < 0)
                    unmatched++;
                else
                    ck_assert(rp->actions[i].matched_score > 0.5);
            }
    }
    ck_assert_int_eq(rc, KL_END);
    ck_assert_uint_eq(n, 20);
    ck_assert_uint_eq(changed, 1);
    ck_assert_uint_eq(unmatched, 1);
    ck_assert_uint_eq(with_errors, 1);
    kl_reader_close(r);
}
END_TEST

/* samples/bad/README.md in a table: the result each damaged file must give. */
static const struct {
    const char *name;
    bool at_open;       /* kl_reader_open fails */
    int err;            /* what open or the last kl_reader_next returns */
    uint64_t sessions;  /* complete sessions delivered first */
    const char *detail; /* part of the error detail */
} bad[] = {
    {"truncated-mid-frame.pb", false, KL_ERR_TRUNCATED, 632, "at byte 284874"},
    {"truncated-mid-record.pb", false, KL_ERR_TRUNCATED, 718, "at byte 284874"},
    {"frame-claims-4gb.pb", false, KL_ERR_CORRUPT, 302, "at byte 139395"},
    {"index-points-past-eof.pb", false, KL_ERR_CORRUPT, 1000, "index at byte 452245"},
    {"wrong-magic.pb", true, KL_ERR_BADMAGIC, 0, "at byte 0"},
    {"newer-format-version.pb", true, KL_ERR_VERSION, 0, "99"},
    {"random-bytes.pb", true, KL_ERR_BADMAGIC, 0, "byte 0"},
    {"empty.pb", true, KL_ERR_BADMAGIC, 0, "empty"},
    {"no-index.pb", false, KL_END, 1000, ""},
    {"record-length-past-limit.pb", true, KL_ERR_TOOBIG, 0, "length 4294967040 exceeds limit"},
};

START_TEST(damaged_file_gives_its_error_after_every_complete_session)
{
    char path[600];
    snprintf(path, sizeof path, "bad/%s", bad[_i].name);
    char eb[KL_ERRBUF_SIZE] = "";
    kl_reader *r = NULL;
    int rc = kl_reader_open(&r, sample(path), eb);
    if (bad[_i].at_open) {
        ck_assert_msg(rc == bad[_i].err, "%s: open gave %s (%s), expected %s", bad[_i].name,
                      kl_strerror(rc), eb, kl_strerror(bad[_i].err));
        ck_assert_ptr_null(r);
        ck_assert_msg(strstr(eb, bad[_i].detail), "%s: detail \"%s\" lacks \"%s\"", bad[_i].name,
                      eb, bad[_i].detail);
        return;
    }
    ck_assert_msg(rc == KL_OK, "%s: open gave %s (%s)", bad[_i].name, kl_strerror(rc), eb);
    const kl_session *s;
    uint64_t n = 0;
    while ((rc = kl_reader_next(r, &s)) == KL_OK)
        n++;
    ck_assert_msg(rc == bad[_i].err, "%s: next gave %s (%s) after %llu sessions, expected %s",
                  bad[_i].name, rc == KL_END ? "KL_END" : kl_strerror(rc), kl_reader_error(r),
                  (unsigned long long)n, bad[_i].err == KL_END ? "KL_END" : kl_strerror(bad[_i].err));
    ck_assert_uint_eq(n, bad[_i].sessions);
    ck_assert_uint_eq(kl_reader_delivered(r), bad[_i].sessions);
    ck_assert_msg(strstr(kl_reader_error(r), bad[_i].detail), "%s: detail \"%s\" lacks \"%s\"",
                  bad[_i].name, kl_reader_error(r), bad[_i].detail);
    ck_assert(!kl_reader_info(r)->has_index);
    kl_reader_close(r);
}
END_TEST

START_TEST(file_without_index_is_counted_by_a_scan_that_keeps_the_position)
{
    kl_reader *r = open_sample("bad/no-index.pb");
    const kl_session *s;
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(kl_reader_next(r, &s), KL_OK);
    uint64_t n = 0;
    ck_assert_int_eq(kl_reader_count(r, &n), KL_OK);
    ck_assert_uint_eq(n, 1000);
    uint64_t rest = 0;
    while (kl_reader_next(r, &s) == KL_OK)
        rest++;
    ck_assert_uint_eq(rest, 990);
    kl_reader_close(r);
}
END_TEST

/* Read a file every way a tool does; any outcome but a crash or a silent error is fine. */
static void read_every_way(const char *path)
{
    char eb[KL_ERRBUF_SIZE] = "";
    kl_reader *r;
    int rc = kl_reader_open(&r, path, eb);
    if (rc != KL_OK) {
        ck_assert_msg(rc < 0 && eb[0], "%s: open failed without a detail", path);
        return;
    }
    kl_buf out = {0};
    if (kl_reader_info(r)->kind == KL_KIND_REPLAYED) {
        const kl_replayed *rp;
        while ((rc = kl_reader_next_replayed(r, &rp)) == KL_OK) {
            ck_assert_int_eq(kl_json_replayed(rp, KL_JSON_EXTRA, &out), KL_OK);
            ck_assert_int_eq(kl_print_replayed(rp, &out), KL_OK);
            out.len = 0;
        }
    } else {
        const kl_session *s;
        while ((rc = kl_reader_next(r, &s)) == KL_OK) {
            ck_assert_int_eq(kl_json_session(s, KL_JSON_EXTRA, &out), KL_OK);
            ck_assert_int_eq(kl_print_session(s, &out), KL_OK);
            out.len = 0;
        }
    }
    kl_buf_free(&out);
    ck_assert_msg(rc == KL_END || (rc < 0 && kl_reader_error(r)[0]), "%s: %s without a detail", path,
                  kl_strerror(rc));
    uint64_t n;
    if (kl_reader_count(r, &n) == KL_OK && n > 0)
        kl_reader_seek(r, n - 1);
    kl_raw raw;
    if (kl_reader_seek(r, 0) == KL_OK)
        while (kl_reader_next_raw(r, &raw) == KL_OK)
            ;
    kl_reader_close(r);
}

START_TEST(every_fuzzer_finding_reads_without_a_crash)
{
    DIR *d = opendir(sample("bad/fuzz"));
    ck_assert_msg(d != NULL, "%s: missing", sample("bad/fuzz"));
    int files = 0;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README.md") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", sample("bad/fuzz"), e->d_name);
        read_every_way(path);
        files++;
    }
    closedir(d);
    ck_assert_int_gt(files, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("samples");
    TCase *tc = tcase_create("samples");
    tcase_add_loop_test(tc, good_sample_holds_its_sessions_and_a_matching_index, 0,
                        (int)(sizeof good / sizeof good[0]));
    tcase_add_test(tc, mixed_sample_holds_every_kind_of_session);
    tcase_add_test(tc, replayed_sample_has_one_unmatched_call_and_one_changed_response);
    tcase_add_loop_test(tc, damaged_file_gives_its_error_after_every_complete_session, 0,
                        (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, file_without_index_is_counted_by_a_scan_that_keeps_the_position);
    tcase_add_test(tc, every_fuzzer_finding_reads_without_a_crash);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
