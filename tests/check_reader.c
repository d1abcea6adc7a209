/* check_reader.c - tests of libkoala/reader.c: framing, recovery, index, seeking, limits. */
#include "testutil.h"
#include "kl_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_SESSIONS 40

/* Write n sessions with small frames so the file has many of them. */
static const char *make_file(const char *name, int n, size_t frame_size, bool no_index)
{
    const char *path = tu_path(name);
    kl_writer_opts o;
    kl_writer_opts_init(&o);
    o.frame_size = frame_size;
    o.no_index = no_index;
    o.host = "testhost";
    o.program = "check_reader";
    kl_writer *w;
    ck_assert_int_eq(kl_writer_open(&w, path, &o), KL_OK);
    for (int i = 0; i < n; i++) {
        kl_session *s = tu_session(i);
        ck_assert_int_eq(kl_writer_write(w, s), KL_OK);
        kl_session_free(s);
    }
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
    return path;
}

/* The frames of a file of n sessions, from its index: where each starts and its first
 * session. @return how many. */
static size_t frame_starts(const char *path, uint64_t n, uint64_t *offs, uint64_t *firsts)
{
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, path, NULL), KL_OK);
    size_t nf = 0;
    for (uint64_t i = 0; i < n; i++) {
        ck_assert_int_eq(kl_reader_seek(r, i), KL_OK);
        if (!nf || kl_reader_offset(r) != offs[nf - 1])
            offs[nf] = kl_reader_offset(r), firsts[nf++] = i;
    }
    kl_reader_close(r);
    return nf;
}

/* Read to the end, checking each session against tu_session(); *n counts from its value. */
static int read_all(kl_reader *r, int *n)
{
    const kl_session *s;
    int err;
    while ((err = kl_reader_next(r, &s)) == KL_OK) {
        kl_session *want = tu_session(*n);
        ck_assert_str_eq(s->id, want->id);
        ck_assert_uint_eq(s->n_actions, want->n_actions);
        kl_session_free(want);
        (*n)++;
    }
    return err;
}

START_TEST(every_session_reads_back_with_its_fields)
{
    const char *path = make_file("all.pb", N_SESSIONS, 4096, false);
    kl_reader *r;
    char errbuf[KL_ERRBUF_SIZE];
    ck_assert_int_eq(kl_reader_open(&r, path, errbuf), KL_OK);
    const kl_file_info *info = kl_reader_info(r);
    ck_assert(info->has_header);
    ck_assert(info->compressed);
    ck_assert(info->has_index);
    ck_assert_int_eq(info->kind, KL_KIND_RECORDED);
    ck_assert_str_eq(info->program, "check_reader");
    ck_assert_str_eq(info->host, "testhost");
    ck_assert_uint_eq(info->sessions, N_SESSIONS);
    ck_assert_uint_gt(info->frames, 3);
    const kl_session *s;
    ck_assert_int_eq(kl_reader_next(r, &s), KL_OK);
    kl_session *want = tu_session(0);
    ck_assert_str_eq(s->host, "testhost");
    ck_assert_int_eq(s->pid, 321);
    ck_assert(s->call_from_inbound.present);
    ck_assert_uint_eq(s->call_from_inbound.request.len, want->call_from_inbound.request.len);
    ck_assert_mem_eq(s->call_from_inbound.request.data, want->call_from_inbound.request.data,
                     want->call_from_inbound.request.len);
    ck_assert(kl_addr_equal(&s->call_from_inbound.peer, &want->call_from_inbound.peer));
    ck_assert_mem_eq(s->return_inbound.response.data, want->return_inbound.response.data,
                     want->return_inbound.response.len);
    ck_assert_int_eq(s->actions[0].type, KL_ACTION_CALL_OUTBOUND);
    ck_assert_int_eq(s->actions[0].peer.port, 6379);
    ck_assert_mem_eq(s->actions[1].request.data, want->actions[1].request.data, want->actions[1].request.len);
    ck_assert_str_eq(s->actions[2].file_name, "/var/log/svc.log");
    ck_assert_int_eq(s->actions[3].type, KL_ACTION_SEND_UDP);
    ck_assert_int_eq(s->actions[4].type, KL_ACTION_RETURN_INBOUND);
    ck_assert_int_eq(info->first_time, kl_session_time(want));
    kl_session_free(want);
    int n = 1;
    ck_assert_int_eq(read_all(r, &n), KL_END);
    ck_assert_int_eq(n, N_SESSIONS);
    ck_assert_int_eq(kl_reader_next(r, &s), KL_END);
    kl_reader_close(r);
}
END_TEST

START_TEST(truncated_file_yields_every_complete_session)
{
    const char *path = make_file("cut.pb", N_SESSIONS, 2048, false);
    size_t len;
    unsigned char *data = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(data);
    /* Frame boundaries from the index of the whole file: a prefix holding a whole frame must
     * deliver every session in it. */
    uint64_t frame_start[N_SESSIONS], frame_cum[N_SESSIONS]; /* sessions before each frame */
    size_t nf = frame_starts(path, N_SESSIONS, frame_start, frame_cum);
    uint64_t data_end = len - 16 - ((uint32_t)data[len - 8] | (uint32_t)data[len - 7] << 8);
    for (size_t cut = 0; cut <= len; cut++) {
        kl_reader *r;
        char errbuf[KL_ERRBUF_SIZE] = "";
        int err = kl_reader_open_mem(&r, data, cut, "cut", errbuf);
        if (err) {
            ck_assert_msg(err < 0 && errbuf[0], "cut %zu: open fails without detail", cut);
            continue;
        }
        int n = 0;
        err = read_all(r, &n);
        /* sessions of frames that start at or before cut minus a frame are complete */
        int must = 0;
        for (size_t f = 1; f <= nf; f++)
            if ((f < nf ? frame_start[f] : data_end) <= cut)
                must = f < nf ? (int)frame_cum[f] : N_SESSIONS;
        ck_assert_msg(n >= must, "cut at %zu: %d sessions, expected at least %d", cut, n, must);
        /* A cut at a frame boundary is a valid file without index, as after a crash. */
        if (cut < len)
            ck_assert_msg(err == KL_ERR_TRUNCATED || (err == KL_END && n == must),
                          "cut at %zu: %s after %d sessions", cut, kl_strerror(err), n);
        else
            ck_assert_int_eq(err, KL_END);
        if (err != KL_END)
            ck_assert_msg(strstr(kl_reader_error(r), "byte") != NULL, "cut %zu: %s", cut, kl_reader_error(r));
        kl_reader_close(r);
    }
    free(data);
}
END_TEST

START_TEST(sessions_in_a_truncated_last_frame_are_recovered)
{
    /* One big frame: cutting its tail must still deliver the sessions zstd can decode. */
    const char *path = make_file("bigframe.pb", 400, 16u << 20, true);
    size_t len;
    unsigned char *data = tu_read_file(path, &len);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open_mem(&r, data, len - 200, "tail", NULL), KL_OK);
    int n = 0;
    ck_assert_int_eq(read_all(r, &n), KL_ERR_TRUNCATED);
    ck_assert_int_gt(n, 200);
    ck_assert_ptr_nonnull(strstr(kl_reader_error(r), "stream ends inside the frame at byte"));
    kl_reader_close(r);
    free(data);
}
END_TEST

/* Damage inside a frame need not make zstd fail before the records it garbles: the frame's
 * checksum tells, at its end. Bytes of one middle frame, larger than what the reader
 * decompresses at a time, flipped one at a time across its compressed blocks: no session of
 * that frame is handed out, garbled or not, those before it all are, and the error names the
 * frame; kl_reader_skip_damage() then goes on at the next frame, and every later session reads
 * back. Or, for the few bits zstd's output does not depend on, every session reads back. */
START_TEST(a_damaged_frame_gives_none_of_its_sessions)
{
    enum { N = 6000 };
    const char *path = make_file("damaged.pb", N, 1u << 20, false);
    size_t len;
    unsigned char *data = tu_read_file(path, &len);
    ck_assert_ptr_nonnull(data);
    static uint64_t offs[N], firsts[N];
    ck_assert_uint_ge(frame_starts(path, N, offs, firsts), 3);
    /* the second frame */
    uint64_t first = firsts[1], next = firsts[2], start = offs[1], end = offs[2];
    uint64_t caught = 0, tries = 0;
    for (uint64_t at = start + (end - start) / 10; at < end - 16; at += (end - start) / 50, tries++) {
        data[at] ^= 0x5a;
        kl_reader *r;
        ck_assert_int_eq(kl_reader_open_mem(&r, data, len, "damaged", NULL), KL_OK);
        int n = 0;
        int err = read_all(r, &n);
        if (err == KL_END) {
            ck_assert_int_eq(n, N);
        } else {
            ck_assert_msg(err == KL_ERR_CORRUPT, "byte %llu: %s", (unsigned long long)at, kl_strerror(err));
            ck_assert_msg((uint64_t)n == first, "byte %llu flipped: %d sessions, the frame's first is %llu",
                          (unsigned long long)at, n, (unsigned long long)first);
            ck_assert_ptr_nonnull(strstr(kl_reader_error(r), "frame at byte"));
            /* past the damage with the index: every later session, as written */
            uint64_t skipped;
            ck_assert_int_eq(kl_reader_skip_damage(r, &skipped), KL_OK);
            ck_assert_uint_eq(kl_reader_delivered(r), next);
            ck_assert_uint_eq(skipped, next - first);
            n = (int)next;
            ck_assert_int_eq(read_all(r, &n), KL_END);
            ck_assert_int_eq(n, N);
            ck_assert_int_eq(kl_reader_skip_damage(r, &skipped), KL_ERR_NOTFOUND); /* no error */
            caught++;
        }
        kl_reader_close(r);
        data[at] ^= 0x5a;
    }
    ck_assert_uint_gt(caught * 10, tries * 9);
    free(data);
}
END_TEST

/* Without an index there is no next frame to go on at; and a frame damaged at its start (its
 * magic) is passed, not met again. */
START_TEST(damage_is_skipped_only_with_an_index)
{
    const char *path = make_file("noindex.pb", N_SESSIONS, 2048, true);
    size_t len;
    unsigned char *data = tu_read_file(path, &len);
    data[len / 2] ^= 0xff;
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open_mem(&r, data, len, "noindex", NULL), KL_OK);
    int n = 0;
    ck_assert_int_ne(read_all(r, &n), KL_END);
    uint64_t skipped;
    ck_assert_int_eq(kl_reader_skip_damage(r, &skipped), KL_ERR_NOTFOUND);
    kl_reader_close(r);
    free(data);

    /* the third frame's magic broken: met once, then passed */
    path = make_file("magic.pb", N_SESSIONS, 2048, false);
    data = tu_read_file(path, &len);
    uint64_t frames[N_SESSIONS], firsts[N_SESSIONS];
    ck_assert_uint_ge(frame_starts(path, N_SESSIONS, frames, firsts), 4);
    data[frames[2]] ^= 0xff;
    ck_assert_int_eq(kl_reader_open_mem(&r, data, len, "magic", NULL), KL_OK);
    int err, skips = 0;
    n = 0;
    uint64_t left_out = 0;
    while ((err = read_all(r, &n)) != KL_END) {
        ck_assert_int_eq(err, KL_ERR_CORRUPT);
        ck_assert_int_lt(++skips, 3);
        ck_assert_int_eq(kl_reader_skip_damage(r, &skipped), KL_OK);
        left_out += skipped;
        n = (int)kl_reader_delivered(r);
    }
    ck_assert_int_eq(n, N_SESSIONS);
    ck_assert_uint_eq(left_out, firsts[3] - firsts[2]);
    kl_reader_close(r);
    free(data);
}
END_TEST

START_TEST(a_file_without_index_is_read_by_scanning)
{
    const char *path = make_file("noindex.pb", N_SESSIONS, 4096, true);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, path, NULL), KL_OK);
    ck_assert(!kl_reader_info(r)->has_index);
    uint64_t count;
    ck_assert_int_eq(kl_reader_count(r, &count), KL_OK);
    ck_assert_uint_eq(count, N_SESSIONS);
    const kl_session *s;
    ck_assert_int_eq(kl_reader_seek(r, 17), KL_OK);
    ck_assert_int_eq(kl_reader_next(r, &s), KL_OK);
    kl_session *want = tu_session(17);
    ck_assert_str_eq(s->id, want->id);
    kl_session_free(want);
    ck_assert_int_eq(kl_reader_seek(r, N_SESSIONS), KL_ERR_NOTFOUND);
    kl_reader_close(r);
}
END_TEST

START_TEST(count_keeps_the_reading_position)
{
    const char *path = make_file("countpos.pb", N_SESSIONS, 4096, true);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, path, NULL), KL_OK);
    const kl_session *s;
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(kl_reader_next(r, &s), KL_OK);
    uint64_t count;
    ck_assert_int_eq(kl_reader_count(r, &count), KL_OK);
    ck_assert_uint_eq(count, N_SESSIONS);
    int n = 0;
    ck_assert_int_eq(kl_reader_next(r, &s), KL_OK);
    kl_session *want = tu_session(5);
    ck_assert_str_eq(s->id, want->id);
    kl_session_free(want);
    const kl_session *last = NULL;
    for (n = 6; kl_reader_next(r, &s) == KL_OK; n++)
        last = s;
    ck_assert_int_eq(n, N_SESSIONS);
    ck_assert_ptr_nonnull(last);
    kl_reader_close(r);
}
END_TEST

START_TEST(seek_uses_the_index_to_reach_any_session)
{
    const char *path = make_file("seek.pb", N_SESSIONS, 2048, false);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, path, NULL), KL_OK);
    for (int i = N_SESSIONS - 1; i >= 0; i -= 7) {
        const kl_session *s;
        ck_assert_int_eq(kl_reader_seek(r, (uint64_t)i), KL_OK);
        ck_assert_int_eq(kl_reader_next(r, &s), KL_OK);
        kl_session *want = tu_session(i);
        ck_assert_str_eq(s->id, want->id);
        kl_session_free(want);
    }
    ck_assert_int_eq(kl_reader_seek(r, N_SESSIONS), KL_ERR_NOTFOUND);
    kl_reader_close(r);
}
END_TEST

START_TEST(seek_time_skips_older_frames)
{
    const char *path = make_file("seektime.pb", N_SESSIONS, 2048, false);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, path, NULL), KL_OK);
    kl_session *want = tu_session(30);
    int64_t t = kl_session_time(want);
    ck_assert_int_eq(kl_reader_seek_time(r, t), KL_OK);
    const kl_session *s;
    ck_assert_int_eq(kl_reader_next(r, &s), KL_OK);
    ck_assert_int_le(kl_session_time(s), t);
    ck_assert_int_gt(kl_session_time(s), kl_session_time(want) - 5 * 1000000LL * 10);
    bool seen = false;
    do
        seen |= strcmp(s->id, want->id) == 0;
    while (kl_reader_next(r, &s) == KL_OK);
    ck_assert(seen);
    kl_session_free(want);
    ck_assert_int_eq(kl_reader_seek_time(r, INT64_MAX), KL_OK);
    ck_assert_int_eq(kl_reader_next(r, &s), KL_END);
    kl_reader_close(r);
}
END_TEST

START_TEST(a_pipe_is_read_to_the_end)
{
    const char *path = make_file("pipe.pb", N_SESSIONS, 4096, false);
    size_t len;
    unsigned char *data = tu_read_file(path, &len);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        ssize_t w = write(fds[1], data, len);
        _exit(w == (ssize_t)len ? 0 : 1);
    }
    close(fds[1]);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open_fd(&r, fds[0], "pipe", NULL), KL_OK);
    uint64_t count;
    ck_assert_int_eq(kl_reader_count(r, &count), KL_ERR_UNSUPPORTED);
    ck_assert_int_eq(kl_reader_seek(r, 3), KL_ERR_UNSUPPORTED);
    int n = 0;
    ck_assert_int_eq(read_all(r, &n), KL_END);
    ck_assert_int_eq(n, N_SESSIONS);
    kl_reader_close(r);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    free(data);
}
END_TEST

START_TEST(a_plain_delimited_stream_reads_as_zstd_dc_makes_it)
{
    const char *path = make_file("plain.pb", N_SESSIONS, 4096, false);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "zstd -q -dc '%s' > '%s'", path, tu_path("plain.raw"));
    ck_assert_int_eq(system(cmd), 0);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, tu_path("plain.raw"), NULL), KL_OK);
    ck_assert(!kl_reader_info(r)->compressed);
    ck_assert_int_eq(kl_reader_info(r)->kind, KL_KIND_RECORDED);
    uint64_t count;
    ck_assert_int_eq(kl_reader_count(r, &count), KL_OK);
    ck_assert_uint_eq(count, N_SESSIONS);
    int n = 0;
    ck_assert_int_eq(read_all(r, &n), KL_END);
    ck_assert_int_eq(n, N_SESSIONS);
    kl_reader_close(r);
}
END_TEST

static int open_bytes(const void *data, size_t len, char *errbuf)
{
    const char *path = tu_path("bytes.pb");
    ck_assert_int_eq(tu_write_file(path, data, len), 0);
    kl_reader *r;
    int err = kl_reader_open(&r, path, errbuf);
    if (err == KL_OK) {
        const kl_session *s;
        while ((err = kl_reader_next(r, &s)) == KL_OK)
            ;
        if (err == KL_END)
            err = KL_OK;
        snprintf(errbuf, KL_ERRBUF_SIZE, "%s", kl_reader_error(r));
        kl_reader_close(r);
    }
    return err;
}

START_TEST(bad_files_get_a_clear_error)
{
    char errbuf[KL_ERRBUF_SIZE];
    ck_assert_int_eq(open_bytes("", 0, errbuf), KL_ERR_BADMAGIC);
    ck_assert_str_eq(errbuf, "empty file, not a koala session file");
    ck_assert_int_eq(open_bytes("GET / HTTP/1.1\r\n\r\n", 18, errbuf), KL_ERR_BADMAGIC);
    unsigned char rnd[4096];
    srand(7);
    for (size_t i = 0; i < sizeof rnd; i++)
        rnd[i] = (unsigned char)rand();
    int err = open_bytes(rnd, sizeof rnd, errbuf);
    ck_assert_msg(err < 0, "random bytes read as a koala file");
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, tu_path("does-not-exist.pb"), errbuf), KL_ERR_NOTFOUND);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(kl_reader_open(&r, tu_tmpdir(), errbuf), KL_ERR_IO);
    ck_assert_str_eq(errbuf, "is a directory");
}
END_TEST

START_TEST(a_frame_claiming_4gb_fails_without_allocating_it)
{
    /* A zstd frame header with a 4 GiB content size and a single raw block of garbage. */
    const char *path = make_file("huge.pb", 1, 4096, true);
    size_t len;
    unsigned char *data = tu_read_file(path, &len);
    unsigned char frame[] = {0x28, 0xb5, 0x2f, 0xfd, 0xa0 /* FCS 4 bytes, single segment */,
                             0x00, 0x00, 0x00, 0x00, 0x01 /* FCS = 2^32 */, 0x20, 0x00, 0x00, 'x', 'y'};
    unsigned char *buf = malloc(len + sizeof frame);
    memcpy(buf, data, len);
    memcpy(buf + len, frame, sizeof frame);
    char errbuf[KL_ERRBUF_SIZE];
    int err = open_bytes(buf, len + sizeof frame, errbuf);
    ck_assert_msg(err == KL_ERR_CORRUPT || err == KL_ERR_TRUNCATED, "%s", kl_strerror(err));
    ck_assert_msg(strstr(errbuf, "byte") != NULL, "%s", errbuf);
    free(buf);
    free(data);
}
END_TEST

START_TEST(a_record_length_past_the_limit_is_refused)
{
    unsigned char stream[16];
    int n = kli_varint_put(stream, 4294967040u);
    memset(stream + n, 0, sizeof stream - (size_t)n);
    char errbuf[KL_ERRBUF_SIZE];
    /* At the start of a plain stream and after a valid record alike, the limit is named. */
    ck_assert_int_eq(open_bytes(stream, sizeof stream, errbuf), KL_ERR_TOOBIG);
    ck_assert_msg(strstr(errbuf, "length 4294967040 exceeds limit 67108864") != NULL, "%s", errbuf);
    kl_session *s = tu_session(0);
    kl_buf b = {0};
    ck_assert_int_eq(kli_encode_session(s, &b), KL_OK);
    kl_buf_append(&b, stream, sizeof stream);
    ck_assert_int_eq(open_bytes(b.data, b.len, errbuf), KL_ERR_TOOBIG);
    ck_assert_msg(strstr(errbuf, "length 4294967040 exceeds limit 67108864") != NULL, "%s", errbuf);
    kl_buf_free(&b);
    kl_session_free(s);
}
END_TEST

static unsigned char *file_with_header(uint32_t version, size_t *len)
{
    const char *path = make_file("ver.pb", 3, 4096, false);
    unsigned char *data = tu_read_file(path, len);
    /* Rewrite the header's format_version field (tag 0x10) in place. */
    for (size_t i = 12; i < 64; i++)
        if (data[i] == 0x10 && data[i + 1] == KL_FORMAT_VERSION) {
            data[i + 1] = (unsigned char)version;
            return data;
        }
    ck_abort_msg("no format_version in header");
    return NULL;
}

START_TEST(a_newer_format_version_is_refused)
{
    size_t len;
    unsigned char *data = file_with_header(99, &len);
    char errbuf[KL_ERRBUF_SIZE];
    ck_assert_int_eq(open_bytes(data, len, errbuf), KL_ERR_VERSION);
    ck_assert_str_eq(errbuf, "format version 99, this reader knows up to 1");
    free(data);
}
END_TEST

START_TEST(an_index_pointing_past_the_end_is_reported_after_every_session)
{
    const char *path = make_file("badindex.pb", N_SESSIONS, 2048, false);
    size_t len;
    unsigned char *data = tu_read_file(path, &len);
    /* Patch the first frame's offset (FrameInfo field 1) in the index to a huge value. */
    uint32_t ilen = (uint32_t)data[len - 8] | (uint32_t)data[len - 7] << 8;
    unsigned char *idx = data + len - 8 - ilen;
    ck_assert_int_eq(idx[0], 0x0a); /* frames, LEN */
    unsigned char *fi = idx + 2;
    ck_assert_int_eq(fi[0], 0x08);  /* offset varint */
    fi[1] = 0xff;                   /* was < 128: now a 2-byte varint swallowing the next tag */
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open_mem(&r, data, len, "badindex", NULL), KL_OK);
    ck_assert(!kl_reader_info(r)->has_index);
    int n = 0;
    ck_assert_int_eq(read_all(r, &n), KL_ERR_CORRUPT);
    ck_assert_int_eq(n, N_SESSIONS);
    ck_assert_msg(strstr(kl_reader_error(r), "index at byte") != NULL, "%s", kl_reader_error(r));
    kl_reader_close(r);
    free(data);
}
END_TEST

START_TEST(replayed_sessions_need_their_own_next)
{
    kl_writer_opts o;
    kl_writer_opts_init(&o);
    o.kind = KL_KIND_REPLAYED;
    kl_writer *w;
    ck_assert_int_eq(kl_writer_open(&w, tu_path("rep.pb"), &o), KL_OK);
    kl_replayed *rp = kl_replayed_new();
    kl_replayed_dup_str(rp, &rp->session_id, "1700000000000000000-1");
    kl_replayed_dup_bytes(rp, &rp->response, "HTTP/1.1 200 OK\r\n\r\n", 19);
    kl_replayed_action a = {.matched_index = 2, .matched_score = 0.9, .runner_up_index = -1};
    a.action.type = KL_ACTION_CALL_OUTBOUND;
    a.action.request = (kl_bytes){(const uint8_t *)"PING\r\n", 6};
    kl_replayed_add_action(rp, &a);
    kl_replayed_add_unused(rp, 4);
    kl_replayed_add_error(rp, "no match for a call to 127.0.0.1:9");
    kl_session *rec = tu_session(0);
    ck_assert_int_eq(kl_writer_write(w, rec), KL_ERR_KIND);
    kl_session_free(rec);
    ck_assert_int_eq(kl_writer_write_replayed(w, rp), KL_OK);
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
    kl_replayed_free(rp);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, tu_path("rep.pb"), NULL), KL_OK);
    ck_assert_int_eq(kl_reader_info(r)->kind, KL_KIND_REPLAYED);
    const kl_replayed *got;
    ck_assert_int_eq(kl_reader_next_replayed(r, &got), KL_OK);
    ck_assert_str_eq(got->session_id, "1700000000000000000-1");
    ck_assert_uint_eq(got->n_actions, 1);
    ck_assert_int_eq(got->actions[0].matched_index, 2);
    ck_assert_int_eq(got->actions[0].runner_up_index, -1);
    ck_assert_uint_eq(got->n_unused_calls, 1);
    ck_assert_str_eq(got->errors[0], "no match for a call to 127.0.0.1:9");
    ck_assert_int_eq(kl_reader_next_replayed(r, &got), KL_END);
    ck_assert_int_eq(kl_reader_seek(r, 0), KL_OK);
    const kl_session *s;
    ck_assert_int_eq(kl_reader_next(r, &s), KL_ERR_KIND);
    kl_reader_close(r);
}
END_TEST

START_TEST(raw_records_carry_id_and_time)
{
    const char *path = make_file("raw.pb", 5, 4096, false);
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open(&r, path, NULL), KL_OK);
    kl_raw raw;
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(kl_reader_next_raw(r, &raw), KL_OK);
        kl_session *want = tu_session(i);
        ck_assert_str_eq(raw.id, want->id);
        ck_assert_int_eq(raw.time, kl_session_time(want));
        ck_assert_int_eq(raw.kind, KL_KIND_RECORDED);
        kl_session_free(want);
    }
    ck_assert_int_eq(kl_reader_next_raw(r, &raw), KL_END);
    ck_assert_uint_eq(kl_reader_delivered(r), 5);
    kl_reader_close(r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("reader");
    TCase *tc = tcase_create("reader");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_session_reads_back_with_its_fields);
    tcase_add_test(tc, truncated_file_yields_every_complete_session);
    tcase_add_test(tc, sessions_in_a_truncated_last_frame_are_recovered);
    tcase_add_test(tc, a_damaged_frame_gives_none_of_its_sessions);
    tcase_add_test(tc, damage_is_skipped_only_with_an_index);
    tcase_add_test(tc, a_file_without_index_is_read_by_scanning);
    tcase_add_test(tc, count_keeps_the_reading_position);
    tcase_add_test(tc, seek_uses_the_index_to_reach_any_session);
    tcase_add_test(tc, seek_time_skips_older_frames);
    tcase_add_test(tc, a_pipe_is_read_to_the_end);
    tcase_add_test(tc, a_plain_delimited_stream_reads_as_zstd_dc_makes_it);
    tcase_add_test(tc, bad_files_get_a_clear_error);
    tcase_add_test(tc, a_frame_claiming_4gb_fails_without_allocating_it);
    tcase_add_test(tc, a_record_length_past_the_limit_is_refused);
    tcase_add_test(tc, a_newer_format_version_is_refused);
    tcase_add_test(tc, an_index_pointing_past_the_end_is_reported_after_every_session);
    tcase_add_test(tc, replayed_sessions_need_their_own_next);
    tcase_add_test(tc, raw_records_carry_id_and_time);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
