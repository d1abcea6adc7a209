/* check_writer.c - tests of libkoala/writer.c: header, frames, flush, index, zstd compatibility. */
#include "testutil.h"
#include "kl_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static kl_writer *open_writer(const char *name, size_t frame_size)
{
    kl_writer_opts o;
    kl_writer_opts_init(&o);
    o.frame_size = frame_size;
    kl_writer *w;
    ck_assert_int_eq(kl_writer_open(&w, tu_path(name), &o), KL_OK);
    return w;
}

static void write_sessions(kl_writer *w, int from, int to)
{
    for (int i = from; i < to; i++) {
        kl_session *s = tu_session(i);
        ck_assert_int_eq(kl_writer_write(w, s), KL_OK);
        kl_session_free(s);
    }
}

START_TEST(file_starts_with_a_skippable_header_and_ends_with_the_index)
{
    kl_writer *w = open_writer("layout.pb", 4096);
    write_sessions(w, 0, 30);
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
    size_t len;
    unsigned char *d = tu_read_file(tu_path("layout.pb"), &len);
    ck_assert_uint_eq(le32(d), KLI_HEADER_FRAME_MAGIC);
    ck_assert_mem_eq(d + 8, KLI_HEADER_TAG, 4);
    uint32_t hlen = le32(d + 4);
    ck_assert_uint_eq(le32(d + 8 + hlen), KLI_ZSTD_MAGIC);
    ck_assert_mem_eq(d + len - 4, KLI_INDEX_TAG, 4);
    uint32_t ilen = le32(d + len - 8);
    ck_assert_uint_eq(le32(d + len - 16 - ilen), KLI_INDEX_FRAME_MAGIC);
    free(d);
}
END_TEST

START_TEST(frames_close_at_the_configured_size)
{
    kl_writer *w = open_writer("frames.pb", 4096);
    write_sessions(w, 0, 60);
    uint64_t sessions, content, file;
    kl_writer_totals(w, &sessions, &content, &file);
    ck_assert_uint_eq(sessions, 60);
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, tu_path("frames.pb"), NULL), KL_OK);
    const kl_file_info *info = kl_reader_info(r);
    ck_assert_uint_eq(info->sessions, 60);
    ck_assert_uint_eq(info->content_bytes, content);
    /* each frame holds at least 4096 bytes except the last */
    ck_assert_uint_le(info->frames, content / 4096 + 1);
    ck_assert_uint_ge(info->frames, content / (4096 + 1024));
    kl_reader_close(r);
}
END_TEST

START_TEST(flush_makes_sessions_readable_before_close)
{
    kl_writer *w = open_writer("flush.pb", 1u << 20);
    write_sessions(w, 0, 7);
    ck_assert_int_eq(kl_writer_flush(w), KL_OK);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, tu_path("flush.pb"), NULL), KL_OK);
    ck_assert(!kl_reader_info(r)->has_index);
    uint64_t n;
    ck_assert_int_eq(kl_reader_count(r, &n), KL_OK);
    ck_assert_uint_eq(n, 7);
    kl_reader_close(r);
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
}
END_TEST

START_TEST(zstd_dc_turns_a_file_into_a_delimited_stream)
{
    kl_writer *w = open_writer("zstd.pb", 2048);
    write_sessions(w, 0, 25);
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "zstd -q -t '%s' && zstd -q -dc '%s' > '%s'", tu_path("zstd.pb"),
             tu_path("zstd.pb"), tu_path("zstd.raw"));
    ck_assert_int_eq(system(cmd), 0);
    size_t len;
    unsigned char *d = tu_read_file(tu_path("zstd.raw"), &len);
    /* varint length, then a koala.Record, 25 times, nothing else */
    size_t at = 0;
    int n = 0;
    kli_mem *m = kli_mem_new();
    while (at < len) {
        uint64_t l;
        int vl = kli_varint_get(d + at, len - at, &l);
        ck_assert_int_gt(vl, 0);
        const kl_session *s;
        const kl_replayed *rp;
        ck_assert_int_eq(kli_decode_record(d + at + vl, (size_t)l, m, &s, &rp, NULL), KL_OK);
        ck_assert_ptr_nonnull(s);
        at += (size_t)vl + (size_t)l;
        n++;
    }
    ck_assert_uint_eq(at, len);
    ck_assert_int_eq(n, 25);
    kli_mem_free(m);
    free(d);
}
END_TEST

START_TEST(an_empty_file_has_header_and_index)
{
    kl_writer *w = open_writer("empty.pb", 4096);
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, tu_path("empty.pb"), NULL), KL_OK);
    ck_assert(kl_reader_info(r)->has_index);
    ck_assert_uint_eq(kl_reader_info(r)->sessions, 0);
    const kl_session *s;
    ck_assert_int_eq(kl_reader_next(r, &s), KL_END);
    kl_reader_close(r);
}
END_TEST

static ssize_t failing_write(void *ctx, const void *buf, size_t len)
{
    int *budget = ctx;
    if (*budget <= 0) {
        errno = ENOSPC;
        return -1;
    }
    (*budget)--;
    (void)buf;
    return (ssize_t)len;
}

START_TEST(a_write_error_is_sticky_and_named)
{
    int budget = 2; /* the header's two writes pass, the first frame fails */
    kl_io io = {&budget, NULL, failing_write, NULL};
    kl_writer_opts o;
    kl_writer_opts_init(&o);
    o.frame_size = 100;
    kl_writer *w;
    ck_assert_int_eq(kl_writer_open_io(&w, &io, &o), KL_OK);
    kl_session *s = tu_session(0);
    ck_assert_int_eq(kl_writer_write(w, s), KL_ERR_IO);
    ck_assert_int_eq(kl_writer_write(w, s), KL_ERR_IO);
    ck_assert_ptr_nonnull(strstr(kl_writer_error(w), "No space left on device"));
    kl_session_free(s);
    ck_assert_int_eq(kl_writer_close(w), KL_ERR_IO);
}
END_TEST

START_TEST(bad_options_and_paths_are_refused)
{
    kl_writer_opts o;
    kl_writer_opts_init(&o);
    o.level = 99;
    kl_writer *w;
    ck_assert_int_eq(kl_writer_open(&w, tu_path("lvl.pb"), &o), KL_ERR_INVALID);
    ck_assert_str_eq(kl_writer_error(w), "zstd level out of range");
    kl_writer_close(w);
    ck_assert_int_eq(kl_writer_open(&w, "/nonexistent-dir/x.pb", NULL), KL_ERR_IO);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(kl_writer_close(NULL), KL_OK);
}
END_TEST

START_TEST(raw_records_copy_across_files_unchanged)
{
    kl_writer *w = open_writer("src.pb", 4096);
    write_sessions(w, 0, 12);
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, tu_path("src.pb"), NULL), KL_OK);
    w = open_writer("copy.pb", 4096);
    kl_raw raw;
    while (kl_reader_next_raw(r, &raw) == KL_OK)
        ck_assert_int_eq(kl_writer_write_raw(w, &raw), KL_OK);
    kl_reader_close(r);
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
    ck_assert_int_eq(kl_reader_open(&r, tu_path("copy.pb"), NULL), KL_OK);
    ck_assert_uint_eq(kl_reader_info(r)->sessions, 12);
    kl_session *first = tu_session(0), *last = tu_session(11);
    ck_assert_int_eq(kl_reader_info(r)->first_time, kl_session_time(first));
    const kl_session *s;
    ck_assert_int_eq(kl_reader_seek(r, 11), KL_OK);
    ck_assert_int_eq(kl_reader_next(r, &s), KL_OK);
    ck_assert_str_eq(s->id, last->id);
    kl_session_free(first);
    kl_session_free(last);
    kl_reader_close(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("writer");
    TCase *tc = tcase_create("writer");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, file_starts_with_a_skippable_header_and_ends_with_the_index);
    tcase_add_test(tc, frames_close_at_the_configured_size);
    tcase_add_test(tc, flush_makes_sessions_readable_before_close);
    tcase_add_test(tc, zstd_dc_turns_a_file_into_a_delimited_stream);
    tcase_add_test(tc, an_empty_file_has_header_and_index);
    tcase_add_test(tc, a_write_error_is_sticky_and_named);
    tcase_add_test(tc, bad_options_and_paths_are_refused);
    tcase_add_test(tc, raw_records_copy_across_files_unchanged);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
