/* samplegen.c - koala-samplegen: writes the deterministic sample session files and the damaged
 * files of samples/bad/ (each named after its defect) that tests, demo and fuzzing read. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "koala.h"
#include "tool.h"
#include "traffic.h"

static const char usage[] =
    "Usage: koala-samplegen [-h] [--version] DIR\n"
    "Write the sample session files into DIR and damaged files into DIR/bad/.\n"
    "The output is deterministic: running it again gives the same bytes.\n"
    "\n"
    "  DIR/http-json.pb   200 sessions: HTTP/1.1 JSON API calling HTTP JSON backends\n"
    "  DIR/redis.pb       200 sessions whose outbound calls are Redis (RESP)\n"
    "  DIR/mysql.pb       200 sessions whose outbound calls are MySQL\n"
    "  DIR/mixed.pb       1000 sessions of all kinds, 8 threads, FastCGI, extras\n"
    "  DIR/replayed.pb    20 replayed sessions of the first http-json sessions\n"
    "  DIR/bad/           damaged files and README.md with the error each produces\n"
    "\n"
    "  -h, --help         show this help\n"
    "      --version      show the version\n";

#define N_SIMPLE 200
#define N_MIXED 1000
#define N_REPLAYED 20
#define SEED_HTTP 0x6b6f616c61000001ull
#define SEED_REDIS 0x6b6f616c61000002ull
#define SEED_MYSQL 0x6b6f616c61000003ull
#define SEED_MIXED 0x6b6f616c61000004ull
#define SEED_RANDOM 0x6b6f616c61000005ull

/* Sessions of mixed.pb given an extra by position, so each appears exactly once. */
#define MIXED_STORAGE_AT 137
#define MIXED_FUNCTION_AT 318
#define MIXED_TRUNCATED_AT 642
/* The first replayed session from these on that can take the defect gets it: a changed
 * response (one with loyalty points), an unmatched call (a first call to a /v2/ API). */
#define REPLAY_CHANGED_FROM 4
#define REPLAY_UNMATCHED_FROM 9

static const char *out_dir;

static const char *path_of(const char *name)
{
    static char bufs[2][4096];
    static int next;
    char *b = bufs[next++ % 2];
    snprintf(b, sizeof bufs[0], "%s/%s", out_dir, name);
    return b;
}

static void writer_opts(kl_writer_opts *o, kl_kind kind)
{
    kl_writer_opts_init(o);
    o->kind = kind;
    o->program = TG_PROGRAM;
    o->host = TG_HOST;
    o->created_at = TG_BASE_TIME;
}

static kl_writer *open_writer(const char *path, const kl_writer_opts *o)
{
    kl_writer *w = NULL;
    int rc = kl_writer_open(&w, path, o);
    if (rc != KL_OK)
        tool_die("%s: %s", path, w ? kl_writer_error(w) : kl_strerror(rc));
    return w;
}

static void write_session(kl_writer *w, const char *path, kl_session *s)
{
    if (!s)
        tool_die("%s: out of memory while generating a session", path);
    if (kl_writer_write(w, s) != KL_OK)
        tool_die("%s: %s", path, kl_writer_error(w));
    kl_session_free(s);
}

static void close_writer(kl_writer *w, const char *path)
{
    int rc = kl_writer_close(w);
    if (rc != KL_OK)
        tool_die("%s: %s", path, kl_strerror(rc));
}

static void gen_simple(const char *name, uint64_t seed, tg_kind kind)
{
    const char *path = path_of(name);
    kl_writer_opts o;
    writer_opts(&o, KL_KIND_RECORDED);
    kl_writer *w = open_writer(path, &o);
    tg_gen g;
    tg_init(&g, seed, 8, 2);
    for (int i = 0; i < N_SIMPLE; i++)
        write_session(w, path, tg_session(&g, kind, 0));
    tg_free(&g);
    close_writer(w, path);
}

static void gen_mixed(const char *name, bool no_index)
{
    const char *path = path_of(name);
    kl_writer_opts o;
    writer_opts(&o, KL_KIND_RECORDED);
    o.no_index = no_index;
    kl_writer *w = open_writer(path, &o);
    tg_gen g;
    tg_init(&g, SEED_MIXED, 8, 2);
    for (int i = 0; i < N_MIXED; i++) {
        unsigned extras = 0;
        if (i == MIXED_STORAGE_AT)
            extras |= TG_STORAGE;
        if (i == MIXED_FUNCTION_AT)
            extras |= TG_FUNCTION;
        if (i == MIXED_TRUNCATED_AT)
            extras |= TG_TRUNCATED;
        write_session(w, path, tg_mixed(&g, extras));
    }
    tg_free(&g);
    close_writer(w, path);
}

/* ------------------------------------------------------------------ replayed */

/* Replace the X-Request-Id value in a copy of req: the replayed service made up a new one. */
static void new_request_id(tg_gen *g, kl_buf *out, kl_bytes req)
{
    out->len = 0;
    tg_put(g, out, req.data, req.len);
    char *p = out->len ? strstr(out->data, "X-Request-Id: ") : NULL;
    if (p) {
        char rid[40];
        tg_uuid(g, rid, sizeof rid);
        memcpy(p + 14, rid, 36);
    }
}

static void check(int rc, const char *what)
{
    if (rc != KL_OK)
        tool_die("%s: %s", what, kl_strerror(rc));
}

typedef struct replay_state {
    bool changed, unmatched;
} replay_state;

static kl_replayed *replay_of(tg_gen *g, const kl_session *s, int i, replay_state *st)
{
    kl_replayed *r = kl_replayed_new();
    if (!r)
        tool_die("out of memory");
    const char *what = "replayed.pb";
    int64_t shift = 86400000000000LL + (int64_t)i * 50000000;
    check(kl_replayed_dup_str(r, &r->session_id, s->id), what);
    r->original_request_time = s->call_from_inbound.occurred_at;
    r->replayed_at = s->call_from_inbound.occurred_at + shift;
    r->response_time = s->return_inbound.occurred_at + shift + tg_range(g, -400000, 400000);
    check(kl_replayed_dup_bytes(r, &r->original_request, s->call_from_inbound.request.data,
                                s->call_from_inbound.request.len), what);
    kl_bytes resp = s->return_inbound.response;
    check(kl_replayed_dup_bytes(r, &r->original_response, resp.data, resp.len), what);
    kl_buf changed = {0};
    tg_put(g, &changed, resp.data, resp.len);
    char *points = changed.len ? strstr(changed.data, "\"points\":") : NULL;
    bool change = i >= REPLAY_CHANGED_FROM && !st->changed && points;
    if (change) {
        /* the new build computes loyalty points differently: one digit differs */
        points[9] = (char)(points[9] == '9' ? '1' : points[9] + 1);
        st->changed = true;
    }
    check(kl_replayed_dup_bytes(r, &r->response, changed.data, changed.len), what);
    kl_buf_free(&changed);

    size_t n_calls = 0;
    for (size_t k = 0; k < s->n_actions; k++)
        n_calls += s->actions[k].type == KL_ACTION_CALL_OUTBOUND;
    kl_buf req = {0};
    char err[200];
    for (size_t k = 0; k < s->n_actions; k++) {
        const kl_action *a = &s->actions[k];
        if (a->type == KL_ACTION_RETURN_INBOUND)
            continue;
        kl_replayed_action ra;
        memset(&ra, 0, sizeof ra);
        ra.action = *a;
        ra.action.occurred_at += shift;
        ra.matched_index = -1;
        ra.runner_up_index = -1;
        if (a->type == KL_ACTION_CALL_OUTBOUND) {
            ra.action.response = (kl_bytes){NULL, 0};
            ra.action.response_time = 0;
            new_request_id(g, &req, a->request);
            char *v = k == 0 && req.len ? strstr(req.data, " /v2/") : NULL;
            if (i >= REPLAY_UNMATCHED_FROM && !st->unmatched && !change && v) {
                /* the new build calls /v3/ where the recording has /v2/: nothing matches */
                v[3] = '3';
                st->unmatched = true;
                ra.runner_up_index = a->index;
                ra.runner_up_score = 0.41;
                char peer[KL_ADDR_STRLEN];
                snprintf(err, sizeof err, "action %lld to %s: no recorded call matched "
                         "(best score 0.41 below 0.60)", (long long)a->index,
                         kl_addr_format(&a->peer, peer, sizeof peer));
                check(kl_replayed_add_error(r, err), what);
                check(kl_replayed_add_unused(r, a->index), what);
            } else {
                ra.matched_index = a->index;
                ra.matched_score = 1.0 - 36.0 / (double)a->request.len;
                ra.matched_request = a->request;
                ra.matched_response = a->response;
                if (n_calls > 1) {
                    ra.runner_up_index = k == 0 ? a->index + 1 : a->index - 1;
                    ra.runner_up_score = 0.3 + tg_below(g, 30) / 100.0;
                }
            }
            ra.action.request = (kl_bytes){(const uint8_t *)req.data, req.len};
        }
        check(kl_replayed_add_action(r, &ra), what);
    }
    kl_buf_free(&req);
    return r;
}

static void gen_replayed(const char *name)
{
    const char *path = path_of(name);
    kl_writer_opts o;
    writer_opts(&o, KL_KIND_REPLAYED);
    kl_writer *w = open_writer(path, &o);
    /* the same generator state as http-json.pb, so these replay its first sessions */
    tg_gen g, rg;
    tg_init(&g, SEED_HTTP, 8, 2);
    tg_init(&rg, SEED_HTTP ^ 0xffff, 1, 1);
    replay_state st = {false, false};
    for (int i = 0; i < N_REPLAYED; i++) {
        kl_session *s = tg_session(&g, TG_HTTP, 0);
        if (!s)
            tool_die("%s: out of memory while generating a session", path);
        kl_replayed *r = replay_of(&rg, s, i, &st);
        if (kl_writer_write_replayed(w, r) != KL_OK)
            tool_die("%s: %s", path, kl_writer_error(w));
        kl_replayed_free(r);
        kl_session_free(s);
    }
    if (!st.changed || !st.unmatched)
        tool_die("%s: no session could take the changed response or the unmatched call", path);
    tg_free(&g);
    tg_free(&rg);
    close_writer(w, path);
}

/* ------------------------------------------------------------------ damaged files */

typedef struct frame {
    size_t off, size;
    uint32_t magic;
} frame;

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void append(kl_buf *b, const void *p, size_t n)
{
    if (kl_buf_append(b, p, n) != KL_OK)
        tool_die("out of memory");
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        tool_die("%s: %s", path, strerror(errno));
    kl_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        append(&b, chunk, n);
    if (ferror(f))
        tool_die("%s: read error", path);
    fclose(f);
    *len = b.len;
    return (uint8_t *)b.data;
}

static void spit(const char *name, const void *p, size_t n)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        tool_die("%s: %s", path, strerror(errno));
}

/* Every frame of a well-formed file. */
static size_t walk_frames(const uint8_t *p, size_t n, frame *out, size_t max)
{
    size_t count = 0;
    for (size_t off = 0; off + 8 <= n && count < max;) {
        uint32_t magic = le32(p + off);
        size_t size;
        if (magic >= 0x184D2A50u && magic <= 0x184D2A5Fu) {
            size = 8 + (size_t)le32(p + off + 4);
        } else {
            size = ZSTD_findFrameCompressedSize(p + off, n - off);
            if (ZSTD_isError(size))
                tool_die("mixed.pb: frame at byte %zu: %s", off, ZSTD_getErrorName(size));
        }
        out[count++] = (frame){off, size, magic};
        off += size;
    }
    return count;
}

/* Content a streaming zstd decoder gets out of p before it stops (at the end of the input or
 * at an error): what a careful reader can decode. Plain streams are their own content. */
static void decodable(const uint8_t *p, size_t n, kl_buf *content)
{
    content->len = 0;
    if (n < 4 || (le32(p) != 0xFD2FB528u && (le32(p) < 0x184D2A50u || le32(p) > 0x184D2A5Fu))) {
        append(content, p, n);
        return;
    }
    ZSTD_DStream *d = ZSTD_createDStream();
    if (!d)
        tool_die("out of memory");
    uint8_t out[1 << 16];
    ZSTD_inBuffer in = {p, n, 0};
    for (;;) {
        ZSTD_outBuffer ob = {out, sizeof out, 0};
        size_t rc = ZSTD_decompressStream(d, &ob, &in);
        append(content, out, ob.pos);
        if (ZSTD_isError(rc) || (in.pos == in.size && ob.pos < ob.size))
            break;
    }
    ZSTD_freeDStream(d);
}

/* Whole length-delimited records at the start of content; *partial tells whether bytes of
 * an incomplete record follow them. */
static uint64_t whole_records(const kl_buf *content, bool *partial)
{
    const uint8_t *p = (const uint8_t *)content->data;
    size_t off = 0, n = content->len;
    uint64_t count = 0;
    while (off < n) {
        uint64_t len = 0;
        int shift = 0;
        bool done = false;
        size_t i = off;
        while (i < n && shift < 64 && !done) {
            len |= (uint64_t)(p[i] & 0x7f) << shift;
            shift += 7;
            done = !(p[i++] & 0x80);
        }
        if (!done || len > KL_MAX_RECORD || len > n - i)
            break;
        off = i + len;
        count++;
    }
    *partial = off < n;
    return count;
}

static uint64_t sessions_in(const uint8_t *p, size_t n, bool *partial)
{
    kl_buf content = {0};
    decodable(p, n, &content);
    bool part;
    uint64_t count = whole_records(&content, partial ? partial : &part);
    kl_buf_free(&content);
    return count;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* Walks one protobuf field at p[*off]; returns the field number, and the value's span. */
static uint32_t proto_field(const uint8_t *p, size_t n, size_t *off, size_t *vstart, size_t *vlen,
                            int *wire)
{
    uint64_t key = 0, v = 0;
    int shift = 0;
    while (*off < n) {
        key |= (uint64_t)(p[*off] & 0x7f) << shift;
        shift += 7;
        if (!(p[(*off)++] & 0x80))
            break;
    }
    *wire = (int)(key & 7);
    *vstart = *off;
    switch (*wire) {
    case 0:
        while (*off < n && (p[(*off)++] & 0x80))
            ;
        *vlen = *off - *vstart;
        break;
    case 2:
        shift = 0;
        while (*off < n) {
            v |= (uint64_t)(p[*off] & 0x7f) << shift;
            shift += 7;
            if (!(p[(*off)++] & 0x80))
                break;
        }
        *vstart = *off;
        *vlen = (size_t)v;
        *off += (size_t)v;
        break;
    case 1:
        *vlen = 8;
        *off += 8;
        break;
    case 5:
        *vlen = 4;
        *off += 4;
        break;
    default:
        tool_die("mixed.pb: unexpected protobuf wire type %d", *wire);
    }
    if (*off > n)
        tool_die("mixed.pb: protobuf field runs past its message");
    return (uint32_t)(key >> 3);
}

/* The FileHeader field `field` of a file starting with koala's header frame. */
static uint8_t *header_field(uint8_t *p, size_t n, uint32_t field, size_t *vlen)
{
    if (n < 12 || le32(p) != 0x184D2A5Bu || memcmp(p + 8, "KLHD", 4) != 0)
        tool_die("mixed.pb: no header frame");
    size_t end = 8 + le32(p + 4), off = 12, vstart;
    int wire;
    while (off < end)
        if (proto_field(p, end, &off, &vstart, vlen, &wire) == field)
            return p + vstart;
    tool_die("mixed.pb: header has no field %u", field);
}

/* mixed.pb with the offset of its last indexed frame moved past the end of the file. */
static void index_past_eof(const uint8_t *p, size_t n, const frame *idx, const char *name)
{
    size_t body = idx->off + 8, ilen = le32(p + idx->off + idx->size - 8);
    const uint8_t *ix = p + body;
    size_t off = 0, vstart, vlen, last = 0, frames = 0;
    int wire;
    while (off < ilen)
        if (proto_field(ix, ilen, &off, &vstart, &vlen, &wire) == 1)
            frames++;
    kl_buf out = {0};
    uint8_t tmp[16];
    append(&out, p, idx->off);
    append(&out, "\x5c\x2a\x4d\x18\0\0\0\0", 8); /* the index frame; size set below */
    size_t start = out.len;
    for (off = 0; off < ilen;) {
        size_t fstart = off;
        uint32_t f = proto_field(ix, ilen, &off, &vstart, &vlen, &wire);
        if (f != 1 || ++last < frames) {
            append(&out, ix + fstart, off - fstart);
            continue;
        }
        kl_buf sub = {0};
        size_t so = 0, svs, svl;
        int sw;
        while (so < vlen) {
            size_t sstart = so;
            uint32_t sf = proto_field(ix + vstart, vlen, &so, &svs, &svl, &sw);
            if (sf == 1) {
                tmp[0] = 0x08;
                append(&sub, tmp, 1 + put_varint(tmp + 1, n + (1u << 20)));
            } else {
                append(&sub, ix + vstart + sstart, so - sstart);
            }
        }
        tmp[0] = 0x0a;
        append(&out, tmp, 1 + put_varint(tmp + 1, sub.len));
        append(&out, sub.data, sub.len);
        kl_buf_free(&sub);
    }
    uint32_t newlen = (uint32_t)(out.len - start);
    uint8_t trailer[8] = {(uint8_t)newlen, (uint8_t)(newlen >> 8), (uint8_t)(newlen >> 16),
                          (uint8_t)(newlen >> 24), 'K', 'L', 'I', 'X'};
    append(&out, trailer, 8);
    uint32_t fsize = newlen + 8;
    for (int i = 0; i < 4; i++)
        out.data[start - 4 + i] = (char)(fsize >> (8 * i));
    spit(name, out.data, out.len);
    kl_buf_free(&out);
}

/* Size of the zstd frame header at p (the format's Frame_Header_Descriptor rules). */
static size_t zstd_header_size(const uint8_t *p)
{
    static const size_t dict[4] = {0, 1, 2, 4}, fcs[4] = {0, 2, 4, 8};
    uint8_t fhd = p[4];
    bool single = (fhd >> 5) & 1;
    size_t fcs_size = (fhd >> 6) == 0 ? (single ? 1 : 0) : fcs[fhd >> 6];
    return 5 + (single ? 0 : 1) + dict[fhd & 3] + fcs_size;
}

/* Offset just past the k-th complete block (k >= 1) of the zstd frame f, or 0 when the frame
 * has fewer blocks; *next_size receives the size of the block after it. */
static size_t after_blocks(const uint8_t *p, const frame *f, int k, size_t *next_size)
{
    size_t off = f->off + zstd_header_size(p + f->off);
    for (int i = 0;; i++) {
        uint32_t bh = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 | (uint32_t)p[off + 2] << 16;
        size_t size = 3 + (((bh >> 1) & 3) == 1 ? 1 : bh >> 3);
        if (i == k) {
            *next_size = size;
            return off;
        }
        if (bh & 1)
            return 0;
        off += size;
    }
}

typedef struct bad_file {
    const char *name;
    const char *defect;
    const char *result;
    uint64_t sessions;
} bad_file;

static void gen_bad(void)
{
    size_t n;
    uint8_t *p = slurp(path_of("mixed.pb"), &n);
    frame fr[64];
    size_t nf = walk_frames(p, n, fr, 64);
    frame *data[64];
    size_t nd = 0;
    for (size_t i = 0; i < nf; i++)
        if (fr[i].magic == 0xFD2FB528u)
            data[nd++] = &fr[i];
    if (nd < 4 || fr[nf - 1].magic != 0x184D2A5Cu)
        tool_die("mixed.pb: expected a header, at least 4 data frames and an index");
    bad_file bad[16];
    size_t nb = 0;
    kl_buf content = {0};
    bool partial;

    /* cut inside the first block of the third data frame: nothing of it decodes */
    size_t bsize, cut = after_blocks(p, data[2], 0, &bsize) + bsize / 2;
    spit("bad/truncated-mid-frame.pb", p, cut);
    bad[nb++] = (bad_file){"truncated-mid-frame.pb",
                           "mixed.pb cut in the middle of the first block of its third data frame",
                           "KL_ERR_TRUNCATED from kl_reader_next: the stream ends inside the frame; "
                           "the message names the frame's byte offset",
                           sessions_in(p, cut, NULL)};

    /* cut inside a later block of the third data frame: whole blocks decode and end inside a
     * record; move on block by block until they do not end exactly on a record */
    for (int k = 2;; k++) {
        size_t at = after_blocks(p, data[2], k, &bsize);
        if (!at)
            tool_die("mixed.pb: no block of the third frame ends inside a record");
        cut = at + bsize / 2;
        uint64_t before = sessions_in(p, cut, &partial);
        if (partial) {
            spit("bad/truncated-mid-record.pb", p, cut);
            bad[nb++] = (bad_file){"truncated-mid-record.pb",
                                   "mixed.pb cut inside a block of its third data frame: the "
                                   "blocks before the cut decode and end in the middle of a record",
                                   "KL_ERR_TRUNCATED from kl_reader_next after every whole "
                                   "session before the cut; the message names the byte offset",
                                   before};
            break;
        }
    }

    /* the second data frame's header rewritten to claim 4 GiB of content */
    {
        const frame *f = data[1];
        size_t hs = zstd_header_size(p + f->off);
        uint8_t h[14] = {0x28, 0xb5, 0x2f, 0xfd,
                         (uint8_t)(0xc0 | (p[f->off + 4] & 4)), /* 8-byte size, windowed */
                         (21 - 10) << 3,                                /* 2 MiB window */
                         0, 0, 0, 0, 1, 0, 0, 0};                       /* 1 << 32 */
        kl_buf b = {0};
        append(&b, p, f->off);
        append(&b, h, sizeof h);
        append(&b, p + f->off + hs, f->size - hs);
        spit("bad/frame-claims-4gb.pb", b.data, b.len);
        kl_buf_free(&b);
        /* a frame's sessions are handed out once zstd has checked it: those before it */
        uint64_t before = sessions_in(p, f->off, NULL);
        bad[nb++] = (bad_file){"frame-claims-4gb.pb",
                               "the header of mixed.pb's second data frame rewritten to declare a "
                               "content size of 4 GiB (the blocks are the real ones; no index)",
                               "KL_ERR_CORRUPT from kl_reader_next: the reader allocates nothing "
                               "by the declared size; zstd finds the size wrong once the frame's "
                               "blocks are decoded, and none of its sessions is handed out; the "
                               "message names the frame's byte offset", before};
    }

    index_past_eof(p, n, &fr[nf - 1], "bad/index-points-past-eof.pb");
    bad[nb++] = (bad_file){"index-points-past-eof.pb",
                           "mixed.pb whose index gives its last data frame an offset past the end "
                           "of the file",
                           "the reader rejects the index at open (has_index false), reads every "
                           "session by a linear scan, then kl_reader_next returns KL_ERR_CORRUPT "
                           "naming the index's byte offset and the frame outside the data",
                           sessions_in(p, n, NULL)};

    uint8_t *q = malloc(n);
    if (!q)
        tool_die("out of memory");
    size_t vlen;
    memcpy(q, p, n);
    uint8_t *magic = header_field(q, n, 1, &vlen);
    if (vlen != 5)
        tool_die("mixed.pb: unexpected header magic");
    memcpy(magic, "kaola", 5);
    spit("bad/wrong-magic.pb", q, n);
    bad[nb++] = (bad_file){"wrong-magic.pb",
                           "mixed.pb with the header's magic string \"koala\" changed to \"kaola\"",
                           "KL_ERR_BADMAGIC from kl_reader_open: the header at byte 0 is not a "
                           "koala header", 0};

    memcpy(q, p, n);
    uint8_t *version = header_field(q, n, 2, &vlen);
    if (vlen != 1)
        tool_die("mixed.pb: unexpected header format version");
    *version = 99;
    spit("bad/newer-format-version.pb", q, n);
    bad[nb++] = (bad_file){"newer-format-version.pb",
                           "mixed.pb with the header's format_version set to 99",
                           "KL_ERR_VERSION from kl_reader_open: written by a newer format version "
                           "(the message names version 99)", 0};
    free(q);

    tg_gen g;
    tg_init(&g, SEED_RANDOM, 1, 1);
    uint8_t rnd[4096];
    for (size_t i = 0; i < sizeof rnd; i++)
        rnd[i] = (uint8_t)tg_rand(&g);
    spit("bad/random-bytes.pb", rnd, sizeof rnd);
    bad[nb++] = (bad_file){"random-bytes.pb", "4096 random bytes",
                           "KL_ERR_BADMAGIC from kl_reader_open: no zstd frame, and no session "
                           "at byte 0", 0};

    spit("bad/empty.pb", "", 0);
    bad[nb++] = (bad_file){"empty.pb", "an empty file",
                           "KL_ERR_BADMAGIC from kl_reader_open: an empty file is not a koala "
                           "session file", 0};

    gen_mixed("bad/no-index.pb", true);
    bad[nb++] = (bad_file){"no-index.pb",
                           "the sessions of mixed.pb written with no_index (as a crash leaves a file)",
                           "no error: has_index false, kl_reader_count scans, every session is "
                           "read and the reader ends with KL_END", sessions_in(p, n, NULL)};

    decodable(p, n, &content);
    uint8_t pre[10];
    size_t pl = put_varint(pre, 4294967040u);
    kl_buf b = {0};
    append(&b, pre, pl);
    append(&b, content.data, 4096);
    spit("bad/record-length-past-limit.pb", b.data, b.len);
    kl_buf_free(&b);
    bad[nb++] = (bad_file){"record-length-past-limit.pb",
                           "an uncompressed stream whose first varint says 4294967040, followed "
                           "by the first 4096 bytes of mixed.pb's records",
                           "KL_ERR_TOOBIG from kl_reader_open (it reads the first record to "
                           "tell the kind): \"length 4294967040 exceeds limit 67108864\" at "
                           "byte 0", 0};
    kl_buf_free(&content);
    tg_free(&g);
    free(p);

    kl_buf readme = {0};
    tg_gen rg;
    tg_init(&rg, 0, 1, 1);
    tg_puts(&rg, &readme,
            "# Damaged session files\n\n"
            "Written by `koala-samplegen` from the bytes of `../mixed.pb`; regenerate with\n"
            "`make samples`. Each file is named after its defect. A reader must never crash on\n"
            "them: it reports the error below with the byte offset in `kl_reader_error()` (or\n"
            "the open's errbuf), after delivering every complete session before the damage\n"
            "(the last column). `tests/check_samples.c` checks each line of this table.\n\n"
            "| file | defect | what the reader reports | sessions before |\n"
            "|------|--------|-------------------------|-----------------|\n");
    for (size_t i = 0; i < nb; i++)
        tg_printf(&rg, &readme, "| `%s` | %s | %s | %llu |\n", bad[i].name, bad[i].defect,
                  bad[i].result, (unsigned long long)bad[i].sessions);
    if (rg.err)
        tool_die("out of memory");
    spit("bad/README.md", readme.data, readme.len);
    kl_buf_free(&readme);
    tg_free(&rg);
}

int main(int argc, char **argv)
{
    tool_init("koala-samplegen");
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            tool_help(usage);
        case 'V':
            tool_version();
        default:
            tool_usage_error("unknown option");
        }
    }
    if (optind != argc - 1)
        tool_usage_error("expected one directory");
    out_dir = argv[optind];
    if ((mkdir(out_dir, 0777) != 0 && errno != EEXIST) ||
        (mkdir(path_of("bad"), 0777) != 0 && errno != EEXIST))
        tool_die("%s: %s", out_dir, strerror(errno));

    gen_simple("http-json.pb", SEED_HTTP, TG_HTTP);
    gen_simple("redis.pb", SEED_REDIS, TG_REDIS);
    gen_simple("mysql.pb", SEED_MYSQL, TG_MYSQL);
    gen_mixed("mixed.pb", false);
    gen_replayed("replayed.pb");
    gen_bad();
    return TOOL_EXIT_OK;
}
