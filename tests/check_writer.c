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

/* Options fixed down to the header, so two writes of the same sessions can be compared byte for
 * byte. */
static void fixed_opts(kl_writer_opts *o, size_t frame_size, bool async)
{
    kl_writer_opts_init(o);
    o->frame_size = frame_size;
    o->host = "testhost";
    o->created_at = 1700000000000000000;
    o->async = async;
}

static kl_writer *open_fixed(const char *name, size_t frame_size, bool async)
{
    kl_writer_opts o;
    fixed_opts(&o, frame_size, async);
    kl_writer *w;
    ck_assert_int_eq(kl_writer_open(&w, tu_path(name), &o), KL_OK);
    return w;
}

/* Every field of every session in path, printed, in file order. */
static char *print_file(const char *path, uint64_t *count)
{
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, path, NULL), KL_OK);
    kl_buf b = {0};
    const kl_session *s;
    int rc;
    *count = 0;
    while ((rc = kl_reader_next(r, &s)) == KL_OK) {
        ck_assert_int_eq(kl_print_session(s, &b), KL_OK);
        (*count)++;
    }
    ck_assert_int_eq(rc, KL_END);
    kl_reader_close(r);
    ck_assert_int_eq(kl_buf_append(&b, "", 1), KL_OK);
    return (char *)b.data;
}

/* Files a and b of the test directory hold the same bytes. */
static void assert_same_bytes(const char *a, const char *b)
{
    size_t la, lb;
    unsigned char *da = tu_read_file(tu_path(a), &la);
    unsigned char *db = tu_read_file(tu_path(b), &lb);
    ck_assert_uint_eq(lb, la);
    ck_assert_mem_eq(db, da, la);
    free(da);
    free(db);
}

START_TEST(async_write_equals_a_sync_write_of_the_same_sessions)
{
    enum { N = 1500 };
    kl_writer *sync = open_fixed("sync.pb", 4096, false);
    kl_writer *async = open_fixed("async.pb", 4096, true);
    for (int i = 0; i < N; i++) {
        kl_session *s = tu_session(i);
        ck_assert_int_eq(kl_writer_write(sync, s), KL_OK);
        ck_assert_int_eq(kl_writer_write(async, s), KL_OK);
        kl_session_free(s);
    }
    uint64_t totals[2][3];
    ck_assert_int_eq(kl_writer_flush(sync), KL_OK);
    ck_assert_int_eq(kl_writer_flush(async), KL_OK);
    kl_writer_totals(sync, &totals[0][0], &totals[0][1], &totals[0][2]);
    kl_writer_totals(async, &totals[1][0], &totals[1][1], &totals[1][2]);
    ck_assert_mem_eq(totals[0], totals[1], sizeof totals[0]);
    ck_assert_int_eq(kl_writer_close(sync), KL_OK);
    ck_assert_int_eq(kl_writer_close(async), KL_OK);

    kl_reader *r[2];
    ck_assert_int_eq(kl_reader_open(&r[0], tu_path("sync.pb"), NULL), KL_OK);
    ck_assert_int_eq(kl_reader_open(&r[1], tu_path("async.pb"), NULL), KL_OK);
    const kl_file_info *a = kl_reader_info(r[0]), *b = kl_reader_info(r[1]);
    ck_assert(a->has_index && b->has_index);
    ck_assert_uint_eq(b->sessions, N);
    ck_assert_uint_eq(b->sessions, a->sessions);
    ck_assert_uint_gt(b->frames, 100);
    ck_assert_uint_eq(b->frames, a->frames);
    ck_assert_int_eq(b->first_time, a->first_time);
    ck_assert_int_eq(b->last_time, a->last_time);
    ck_assert_uint_eq(b->content_bytes, a->content_bytes);
    ck_assert_uint_eq(b->file_bytes, a->file_bytes);
    /* the index is right frame by frame: seeking through it lands on the right session */
    for (uint64_t i = 0; i < N; i += 97) {
        const kl_session *s[2];
        for (int k = 0; k < 2; k++) {
            ck_assert_int_eq(kl_reader_seek(r[k], i), KL_OK);
            ck_assert_int_eq(kl_reader_next(r[k], &s[k]), KL_OK);
        }
        ck_assert_str_eq(s[1]->id, s[0]->id);
    }
    kl_reader_close(r[0]);
    kl_reader_close(r[1]);

    uint64_t ns, na;
    char *ps = print_file(tu_path("sync.pb"), &ns), *pa = print_file(tu_path("async.pb"), &na);
    ck_assert_uint_eq(na, N);
    ck_assert_uint_eq(ns, N);
    ck_assert_str_eq(pa, ps);
    free(ps);
    free(pa);
    /* same frames at the same level: the compressed bytes are the same too */
    assert_same_bytes("sync.pb", "async.pb");
}
END_TEST

/* A frame far larger than the next ones takes longer to compress than they do: the threads
 * done first must still write after it, not before. */
START_TEST(async_frames_keep_their_order_when_later_ones_compress_first)
{
    enum { N = 400, BIG = 512 * 1024 };
    uint8_t *big = malloc(BIG);
    ck_assert_ptr_nonnull(big);
    uint32_t x = 12345;
    for (size_t i = 0; i < BIG; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (uint8_t)('a' + (x >> 16) % 8); /* compressible, but not cheaply */
    }
    kl_writer *sync = open_fixed("order-sync.pb", 4096, false);
    kl_writer *async = open_fixed("order-async.pb", 4096, true);
    for (int i = 0; i < N; i++) {
        kl_session *s = tu_session(i);
        if (i % 40 == 0)
            ck_assert_int_eq(kl_session_dup_bytes(s, &s->call_from_inbound.request, big, BIG), KL_OK);
        ck_assert_int_eq(kl_writer_write(sync, s), KL_OK);
        ck_assert_int_eq(kl_writer_write(async, s), KL_OK);
        kl_session_free(s);
    }
    ck_assert_int_eq(kl_writer_close(sync), KL_OK);
    ck_assert_int_eq(kl_writer_close(async), KL_OK);
    free(big);
    assert_same_bytes("order-sync.pb", "order-async.pb");
}
END_TEST

START_TEST(async_flush_makes_every_session_readable_before_close)
{
    kl_writer *w = open_fixed("async-flush.pb", 4096, true);
    int written = 0;
    for (int round = 1; round <= 3; round++) {
        write_sessions(w, written, written + 200 * round);
        written += 200 * round;
        ck_assert_int_eq(kl_writer_flush(w), KL_OK);
        uint64_t file_bytes;
        kl_writer_totals(w, NULL, NULL, &file_bytes);
        kl_reader *r;
        ck_assert_int_eq(kl_reader_open(&r, tu_path("async-flush.pb"), NULL), KL_OK);
        ck_assert(!kl_reader_info(r)->has_index);
        ck_assert_uint_eq(kl_reader_info(r)->file_bytes, file_bytes);
        const kl_session *s;
        int n = 0, rc;
        while ((rc = kl_reader_next(r, &s)) == KL_OK) {
            kl_session *want = tu_session(n++);
            ck_assert_str_eq(s->id, want->id);
            kl_session_free(want);
        }
        ck_assert_int_eq(rc, KL_END);
        ck_assert_int_eq(n, written);
        kl_reader_close(r);
    }
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
}
END_TEST

/* The detail a synchronous writer gives when the first frame cannot be written. */
static void sync_write_error(char *detail)
{
    int budget = 2;
    kl_io io = {&budget, NULL, failing_write, NULL};
    kl_writer_opts o;
    fixed_opts(&o, 100, false);
    kl_writer *w;
    ck_assert_int_eq(kl_writer_open_io(&w, &io, &o), KL_OK);
    kl_session *s = tu_session(0);
    ck_assert_int_eq(kl_writer_write(w, s), KL_ERR_IO);
    kl_session_free(s);
    snprintf(detail, KL_ERRBUF_SIZE, "%s", kl_writer_error(w));
    ck_assert_int_eq(kl_writer_close(w), KL_ERR_IO);
}

/* An async writer whose first frame will fail to be written (the header's two writes pass).
 * Without an index, only a compressor thread's write can fail. */
static kl_writer *open_failing_async(int *budget, size_t frame_size)
{
    *budget = 2;
    kl_io io = {budget, NULL, failing_write, NULL};
    kl_writer_opts o;
    fixed_opts(&o, frame_size, true);
    o.no_index = true;
    kl_writer *w;
    ck_assert_int_eq(kl_writer_open_io(&w, &io, &o), KL_OK);
    return w;
}

START_TEST(async_write_error_surfaces_from_write_flush_and_close)
{
    char want[KL_ERRBUF_SIZE];
    sync_write_error(want);
    ck_assert_ptr_nonnull(strstr(want, "No space left on device"));
    kl_session *s = tu_session(0);
    int budget;

    /* write: each write hands a frame over and may return before the first frame fails; once
     * every job is taken (at most 4 threads of 2), a write waits for the first to be written */
    kl_writer *w = open_failing_async(&budget, 100);
    int rc = KL_OK, writes = 0;
    while (rc == KL_OK && writes < 9) {
        rc = kl_writer_write(w, s);
        writes++;
    }
    ck_assert_int_eq(rc, KL_ERR_IO);
    ck_assert_str_eq(kl_writer_error(w), want);
    ck_assert_int_eq(kl_writer_write(w, s), KL_ERR_IO);
    ck_assert_int_eq(kl_writer_flush(w), KL_ERR_IO);
    ck_assert_int_eq(kl_writer_close(w), KL_ERR_IO);

    /* flush */
    w = open_failing_async(&budget, 1u << 20);
    ck_assert_int_eq(kl_writer_write(w, s), KL_OK);
    ck_assert_str_eq(kl_writer_error(w), "");
    ck_assert_int_eq(kl_writer_flush(w), KL_ERR_IO);
    ck_assert_str_eq(kl_writer_error(w), want);
    ck_assert_int_eq(kl_writer_close(w), KL_ERR_IO);

    /* close */
    w = open_failing_async(&budget, 1u << 20);
    ck_assert_int_eq(kl_writer_write(w, s), KL_OK);
    ck_assert_int_eq(kl_writer_close(w), KL_ERR_IO);
    ck_assert_int_eq(budget, 0);
    kl_session_free(s);
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
    tcase_add_test(tc, async_write_equals_a_sync_write_of_the_same_sessions);
    tcase_add_test(tc, async_frames_keep_their_order_when_later_ones_compress_first);
    tcase_add_test(tc, async_flush_makes_every_session_readable_before_close);
    tcase_add_test(tc, async_write_error_surfaces_from_write_flush_and_close);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
