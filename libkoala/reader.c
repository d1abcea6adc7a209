/* reader.c - streaming reader for koala session files: framing, decompression, index, limits. */
#include "kl_internal.h"
#include "koala.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* Read and decompress in chunks of this size; smaller for small files, which are common
 * (one per process) and should not cost half a megabyte of buffers each. */
#define CHUNK_MAX (256u << 10)
/* A frame's content held until zstd has checked it, at most: past it (no writer of koala's
 * makes such frames, a crafted one might) records are handed out as they come. */
#define HOLD_MAX KL_MAX_RECORD
#define CHUNK_MIN (4u << 10)

typedef struct frame_info {
    uint64_t offset, size, content_size;
    uint32_t sessions;
    int64_t first_time, last_time;
} frame_info;

typedef enum { ST_FRAMES, ST_ZFRAME, ST_RAW, ST_DONE } state;

/* The stream behind kl_reader_open_mem(). */
typedef struct memfile {
    const uint8_t *data;
    size_t len, pos;
} memfile;

struct kl_reader {
    kl_io io;
    int fd;
    bool own_fd;
    memfile mem_in;
    bool seekable;
    size_t chunk;
    char *name;
    kl_file_info info;
    char program[256], host[256];
    /* input: in[in_pos..in_len) is unread; in[0] is at file offset in_off */
    uint8_t *in;
    size_t in_cap, in_pos, in_len;
    uint64_t in_off;
    bool in_eof;
    /* framing */
    state st;
    uint64_t data_start;    /* offset of the first data frame or record */
    uint64_t frame_off;
    uint64_t skipped_to;    /* the frame kl_reader_skip_damage() went on at last: a skip
                               goes past it, so that a frame damaged at its start is passed */
    /* A frame's records are handed out once it is whole, zstd having checked its checksum, so
     * that a damaged frame gives none: its damage need not make zstd fail before the records
     * it garbles. Or once the stream ends inside it (frame_cut): what zstd put out before is
     * whole blocks, and a truncated file still yields every session before the cut. Or once
     * HOLD_MAX bytes of it wait. */
    bool frame_done, frame_cut;
    ZSTD_DCtx *dctx;
    /* decompressed content: c[c_pos..c_len) not yet parsed; c[0] is at content offset c_off */
    uint8_t *c;
    size_t c_cap, c_pos, c_len;
    uint64_t c_off;
    /* a record fetched but not yet handed out (the kind peek at open) */
    bool pending;
    const uint8_t *p_data;
    size_t p_len;
    kli_mem *mem;
    frame_info *index;
    size_t n_index;
    int index_err;
    char index_msg[KL_ERRBUF_SIZE];
    uint64_t delivered;
    int err;
    char errbuf[KL_ERRBUF_SIZE];
    char idbuf[256];
};

static int fail(kl_reader *r, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Stop the reader with err; every later call returns it too. */
static int fail(kl_reader *r, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errbuf, sizeof r->errbuf, fmt, ap);
    va_end(ap);
    r->err = err;
    r->st = ST_DONE;
    return err;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t in_at(const kl_reader *r)
{
    return r->in_off + r->in_pos;
}

/* Make at least n unread input bytes available when the stream has them.
 * @return the number available (may be < n at the end), or a negative kl_err. */
static ssize_t need_input(kl_reader *r, size_t n)
{
    while (r->in_len - r->in_pos < n && !r->in_eof) {
        if (r->in_pos) {
            memmove(r->in, r->in + r->in_pos, r->in_len - r->in_pos);
            r->in_len -= r->in_pos;
            r->in_off += r->in_pos;
            r->in_pos = 0;
        }
        if (r->in_cap - r->in_len < r->chunk / 2 || r->in_cap < n) {
            size_t cap = r->in_cap ? r->in_cap * 2 : r->chunk;
            while (cap < n)
                cap *= 2;
            uint8_t *p = realloc(r->in, cap);
            if (!p)
                return fail(r, KL_ERR_NOMEM, "cannot grow the input buffer to %zu bytes", cap);
            r->in = p;
            r->in_cap = cap;
        }
        ssize_t got = r->io.read(r->io.ctx, r->in + r->in_len, r->in_cap - r->in_len);
        if (got < 0)
            return fail(r, KL_ERR_IO, "read at byte %llu: %s",
                        (unsigned long long)(r->in_off + r->in_len), strerror(errno));
        if (got == 0)
            r->in_eof = true;
        r->in_len += (size_t)got;
    }
    size_t avail = r->in_len - r->in_pos;
    return (ssize_t)(avail < n ? avail : n);
}

/* Drop n input bytes (a skippable frame), seeking when they are not buffered. */
static int skip_input(kl_reader *r, uint64_t n, uint64_t frame_at)
{
    size_t buffered = r->in_len - r->in_pos;
    if (n <= buffered) {
        r->in_pos += (size_t)n;
        return KL_OK;
    }
    n -= buffered;
    r->in_off += r->in_len;
    r->in_pos = r->in_len = 0;
    if (r->seekable) {
        if (r->info.file_bytes && r->in_off + n > r->info.file_bytes)
            return fail(r, KL_ERR_TRUNCATED,
                        "skippable frame at byte %llu runs past the end of the file at byte %llu",
                        (unsigned long long)frame_at, (unsigned long long)r->info.file_bytes);
        if (r->io.seek(r->io.ctx, (off_t)(r->in_off + n), SEEK_SET) < 0)
            return fail(r, KL_ERR_IO, "seek to byte %llu: %s",
                        (unsigned long long)(r->in_off + n), strerror(errno));
        r->in_off += n;
        return KL_OK;
    }
    while (n) {
        ssize_t got = need_input(r, n < r->chunk ? (size_t)n : r->chunk);
        if (got < 0)
            return (int)got;
        if (got == 0)
            return fail(r, KL_ERR_TRUNCATED, "skippable frame at byte %llu runs past the end",
                        (unsigned long long)frame_at);
        r->in_pos += (size_t)got;
        n -= (uint64_t)got;
    }
    return KL_OK;
}

/* Room for at least n more content bytes after c_len, dropping what was parsed. */
static int content_room(kl_reader *r, size_t n)
{
    if (r->c_pos) {
        memmove(r->c, r->c + r->c_pos, r->c_len - r->c_pos);
        r->c_len -= r->c_pos;
        r->c_off += r->c_pos;
        r->c_pos = 0;
    }
    if (r->c_cap - r->c_len >= n)
        return KL_OK;
    size_t cap = r->c_cap ? r->c_cap : r->chunk;
    while (cap - r->c_len < n)
        cap *= 2;
    uint8_t *p = realloc(r->c, cap);
    if (!p)
        return fail(r, KL_ERR_NOMEM, "cannot grow the content buffer to %zu bytes", cap);
    r->c = p;
    r->c_cap = cap;
    return KL_OK;
}

/* Start the next frame. @return KL_OK, KL_END at a clean end, or an error. */
static int next_frame(kl_reader *r)
{
    for (;;) {
        uint64_t at = in_at(r);
        ssize_t n = need_input(r, 8);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return KL_END;
        if (n < 4)
            return fail(r, KL_ERR_TRUNCATED, "stream ends %zd bytes into a frame header at byte %llu",
                        n, (unsigned long long)at);
        uint32_t magic = le32(r->in + r->in_pos);
        if (magic == KLI_ZSTD_MAGIC) {
            ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
            r->frame_off = at;
            r->frame_done = r->frame_cut = false;
            r->c_off = 0;
            r->st = ST_ZFRAME;
            return KL_OK;
        }
        if (magic < KLI_SKIP_MAGIC_MIN || magic > KLI_SKIP_MAGIC_MAX)
            return fail(r, KL_ERR_CORRUPT, "unknown frame magic 0x%08x at byte %llu", magic,
                        (unsigned long long)at);
        if (n < 8)
            return fail(r, KL_ERR_TRUNCATED, "stream ends inside a frame header at byte %llu",
                        (unsigned long long)at);
        uint32_t size = le32(r->in + r->in_pos + 4);
        r->in_pos += 8;
        int err = skip_input(r, size, at);
        if (err)
            return err;
    }
}

/* The next record's bytes, borrowed until the next fetch. */
static int fetch(kl_reader *r, const uint8_t **data, size_t *len)
{
    if (r->pending) {
        r->pending = false;
        *data = r->p_data;
        *len = r->p_len;
        return KL_OK;
    }
    if (r->err)
        return r->err;
    for (;;) {
        if (r->st == ST_DONE)
            return KL_END;
        if (r->st == ST_FRAMES) {
            int err = next_frame(r);
            if (err == KL_END)
                r->st = ST_DONE;
            if (err)
                return err;
        }
        size_t need = 1;
        bool held = r->st == ST_ZFRAME && !r->frame_done && !r->frame_cut &&
                    r->c_len - r->c_pos < HOLD_MAX;
        if (!held && r->c_len > r->c_pos) {
            uint64_t l;
            int n = kli_varint_get(r->c + r->c_pos, r->c_len - r->c_pos, &l);
            uint64_t at = r->c_off + r->c_pos;
            if (n < 0)
                return fail(r, KL_ERR_CORRUPT, "session %llu at content byte %llu of the frame at "
                            "byte %llu: malformed length", (unsigned long long)r->delivered,
                            (unsigned long long)at, (unsigned long long)r->frame_off);
            if (n > 0 && l > KL_MAX_RECORD)
                return fail(r, KL_ERR_TOOBIG, "session %llu at content byte %llu of the frame at "
                            "byte %llu: length %llu exceeds limit %u",
                            (unsigned long long)r->delivered, (unsigned long long)at,
                            (unsigned long long)r->frame_off, (unsigned long long)l, KL_MAX_RECORD);
            if (n > 0 && r->c_len - r->c_pos - (size_t)n >= l) {
                *data = r->c + r->c_pos + n;
                *len = (size_t)l;
                r->c_pos += (size_t)n + (size_t)l;
                return KL_OK;
            }
            need = n > 0 ? (size_t)n + (size_t)l - (r->c_len - r->c_pos) : 1;
        }
        if (r->st == ST_RAW) {
            int err = content_room(r, need > r->chunk ? need : r->chunk);
            if (err)
                return err;
            ssize_t got = r->io.read(r->io.ctx, r->c + r->c_len, r->c_cap - r->c_len);
            if (got < 0)
                return fail(r, KL_ERR_IO, "read: %s", strerror(errno));
            if (got == 0) {
                if (r->c_pos == r->c_len) {
                    r->st = ST_DONE;
                    return KL_END;
                }
                return fail(r, KL_ERR_TRUNCATED, "stream ends inside session %llu at byte %llu",
                            (unsigned long long)r->delivered, (unsigned long long)(r->c_off + r->c_pos));
            }
            r->c_len += (size_t)got;
            continue;
        }
        if (r->frame_done) {
            if (r->c_pos < r->c_len)
                return fail(r, KL_ERR_CORRUPT, "frame at byte %llu ends inside session %llu",
                            (unsigned long long)r->frame_off, (unsigned long long)r->delivered);
            r->c_pos = r->c_len = 0;
            r->st = ST_FRAMES;
            continue;
        }
        if (r->frame_cut)
            return fail(r, KL_ERR_TRUNCATED, "stream ends inside the frame at byte %llu, "
                        "after session %llu", (unsigned long long)r->frame_off,
                        (unsigned long long)r->delivered);
        int err = content_room(r, need > r->chunk ? need : r->chunk);
        if (err)
            return err;
        if (r->in_pos == r->in_len) {
            ssize_t got = need_input(r, 1);
            if (got < 0)
                return (int)got;
            if (got == 0) {
                r->frame_cut = true;
                continue;
            }
        }
        ZSTD_inBuffer ib = {r->in, r->in_len, r->in_pos};
        ZSTD_outBuffer ob = {r->c, r->c_cap, r->c_len};
        size_t ret = ZSTD_decompressStream(r->dctx, &ob, &ib);
        r->in_pos = ib.pos;
        r->c_len = ob.pos;
        if (ZSTD_isError(ret))
            return fail(r, KL_ERR_CORRUPT, "frame at byte %llu, after session %llu: zstd: %s; "
                        "none of its sessions is read", (unsigned long long)r->frame_off,
                        (unsigned long long)r->delivered, ZSTD_getErrorName(ret));
        if (ret == 0)
            r->frame_done = true;
    }
}

/* At the clean end: report a damaged index or a session count that disagrees with it. */
static int at_end(kl_reader *r)
{
    if (r->index_err) {
        int err = r->index_err;
        r->index_err = 0;
        snprintf(r->errbuf, sizeof r->errbuf, "%s", r->index_msg);
        return err;
    }
    if (r->info.has_index && r->delivered != r->info.sessions) {
        r->info.has_index = false;
        snprintf(r->errbuf, sizeof r->errbuf, "the index promises %llu sessions, the file holds %llu",
                 (unsigned long long)r->info.sessions, (unsigned long long)r->delivered);
        return KL_ERR_CORRUPT;
    }
    return KL_END;
}

/* The next record to hand out, or at the clean end what at_end() has to say. */
static int next_record(kl_reader *r, const uint8_t **data, size_t *len)
{
    int err = fetch(r, data, len);
    return err == KL_END ? at_end(r) : err;
}

int kl_reader_next_raw(kl_reader *r, kl_raw *raw)
{
    const uint8_t *data;
    size_t len;
    int err = next_record(r, &data, &len);
    if (err)
        return err;
    kl_kind kind;
    int64_t t;
    if (kli_scan_record(data, len, &kind, &t, r->idbuf, sizeof r->idbuf) != KL_OK)
        return fail(r, KL_ERR_CORRUPT, "session %llu in the frame at byte %llu does not decode",
                    (unsigned long long)r->delivered, (unsigned long long)r->frame_off);
    r->delivered++;
    *raw = (kl_raw){kind, data, len, t, r->idbuf};
    return KL_OK;
}

static int next_decoded(kl_reader *r, const kl_session **s, const kl_replayed **rs)
{
    const uint8_t *data;
    size_t len;
    int err = next_record(r, &data, &len);
    if (err)
        return err;
    kli_mem_reset(r->mem);
    char why[KL_ERRBUF_SIZE] = "";
    err = kli_decode_record(data, len, r->mem, s, rs, why);
    if (err == KL_ERR_NOMEM)
        return fail(r, err, "session %llu: out of memory", (unsigned long long)r->delivered);
    if (err)
        return fail(r, err, "session %llu in the frame at byte %llu: %s",
                    (unsigned long long)r->delivered, (unsigned long long)r->frame_off, why);
    r->delivered++;
    return KL_OK;
}

int kl_reader_next(kl_reader *r, const kl_session **s)
{
    const kl_replayed *rs;
    int err = next_decoded(r, s, &rs);
    if (!err && !*s) {
        snprintf(r->errbuf, sizeof r->errbuf, "session %llu is a replayed session",
                 (unsigned long long)(r->delivered - 1));
        return KL_ERR_KIND;
    }
    return err;
}

int kl_reader_next_replayed(kl_reader *r, const kl_replayed **rs)
{
    const kl_session *s;
    int err = next_decoded(r, &s, rs);
    if (!err && !*rs) {
        snprintf(r->errbuf, sizeof r->errbuf, "session %llu is a recorded session",
                 (unsigned long long)(r->delivered - 1));
        return KL_ERR_KIND;
    }
    return err;
}

/* ------------------------------------------------------------------ open */

static int read_at(kl_reader *r, uint64_t off, void *buf, size_t len)
{
    if (r->io.seek(r->io.ctx, (off_t)off, SEEK_SET) < 0)
        return KL_ERR_IO;
    uint8_t *p = buf;
    while (len) {
        ssize_t n = r->io.read(r->io.ctx, p, len);
        if (n <= 0)
            return KL_ERR_IO;
        p += n;
        len -= (size_t)n;
    }
    return KL_OK;
}

static int index_bad(kl_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A damaged index is not fatal: the file is read by scanning, and the damage is reported at
 * the end so nothing is lost and nothing is hidden. */
static int index_bad(kl_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->index_msg, sizeof r->index_msg, fmt, ap);
    va_end(ap);
    r->index_err = KL_ERR_CORRUPT;
    return KL_OK;
}

static int load_index(kl_reader *r)
{
    uint64_t size = r->info.file_bytes;
    uint8_t tail[8];
    if (size < 16 || read_at(r, size - 8, tail, 8) != KL_OK || memcmp(tail + 4, KLI_INDEX_TAG, 4))
        return KL_OK; /* no index: a crashed or still growing file */
    uint64_t len = le32(tail);
    uint64_t start = size - 16 - len;
    if (len > KL_MAX_INDEX || len + 16 > size)
        return index_bad(r, "index trailer at byte %llu claims %llu bytes", (unsigned long long)(size - 8),
                         (unsigned long long)len);
    uint8_t hdr[8];
    if (read_at(r, start, hdr, 8) != KL_OK || le32(hdr) != KLI_INDEX_FRAME_MAGIC || le32(hdr + 4) != len + 8)
        return index_bad(r, "index at byte %llu: frame header does not match its trailer",
                         (unsigned long long)start);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return KL_ERR_NOMEM;
    Koala__FileIndex *idx = NULL;
    if (read_at(r, start + 8, buf, len) == KL_OK)
        idx = koala__file_index__unpack(NULL, len, buf);
    free(buf);
    if (!idx)
        return index_bad(r, "index at byte %llu does not decode", (unsigned long long)start);
    int err = KL_OK;
    uint64_t total = 0, end = 0;
    r->index = calloc(idx->n_frames ? idx->n_frames : 1, sizeof *r->index);
    if (!r->index) {
        err = KL_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < idx->n_frames; i++) {
        const Koala__FrameInfo *f = idx->frames[i];
        if (f->offset < end || f->size > start || f->offset > start - f->size) {
            index_bad(r, "index at byte %llu: frame %zu at byte %llu (%llu bytes) lies outside the data, "
                      "which ends at byte %llu", (unsigned long long)start, i,
                      (unsigned long long)f->offset, (unsigned long long)f->size,
                      (unsigned long long)start);
            goto out;
        }
        end = f->offset + f->size;
        total += f->sessions;
        r->index[i] = (frame_info){f->offset, f->size, f->content_size, f->sessions, f->first_time,
                                   f->last_time};
        r->info.content_bytes += f->content_size;
        if (f->sessions && (r->info.sessions == 0 || f->first_time < r->info.first_time))
            r->info.first_time = f->first_time;
        if (f->sessions && (r->info.sessions == 0 || f->last_time > r->info.last_time))
            r->info.last_time = f->last_time;
        r->info.sessions += f->sessions;
    }
    if (total != idx->sessions) {
        index_bad(r, "index at byte %llu: frames hold %llu sessions, the total says %llu",
                  (unsigned long long)start, (unsigned long long)total, (unsigned long long)idx->sessions);
        goto out;
    }
    r->n_index = idx->n_frames;
    r->info.frames = idx->n_frames;
    r->info.has_index = true;
out:
    if (!r->info.has_index) {
        r->info.sessions = r->info.frames = r->info.content_bytes = 0;
        r->info.first_time = r->info.last_time = 0;
    }
    koala__file_index__free_unpacked(idx, NULL);
    return err;
}

static int read_header(kl_reader *r)
{
    uint64_t at = in_at(r);
    ssize_t n = need_input(r, 8);
    if (n < 0)
        return (int)n;
    if (n < 8)
        return fail(r, KL_ERR_TRUNCATED, "stream ends inside the header at byte %llu", (unsigned long long)at);
    uint32_t size = le32(r->in + r->in_pos + 4);
    if (size > KL_MAX_HEADER)
        return fail(r, KL_ERR_TOOBIG, "header at byte %llu: length %u exceeds limit %u",
                    (unsigned long long)at, size, KL_MAX_HEADER);
    n = need_input(r, 8 + (size_t)size);
    if (n < 0)
        return (int)n;
    if ((size_t)n < 8 + (size_t)size)
        return fail(r, KL_ERR_TRUNCATED, "stream ends inside the header at byte %llu", (unsigned long long)at);
    const uint8_t *body = r->in + r->in_pos + 8;
    Koala__FileHeader *h = NULL;
    if (size >= 4 && memcmp(body, KLI_HEADER_TAG, 4) == 0)
        h = koala__file_header__unpack(NULL, size - 4, body + 4);
    if (!h || strcmp(h->magic, KLI_MAGIC_STRING) != 0) {
        koala__file_header__free_unpacked(h, NULL);
        return fail(r, KL_ERR_BADMAGIC, "header at byte %llu is not a koala header", (unsigned long long)at);
    }
    r->info.has_header = true;
    r->info.format_version = h->format_version;
    r->info.kind = (kl_kind)h->kind;
    snprintf(r->program, sizeof r->program, "%s", h->writer);
    snprintf(r->host, sizeof r->host, "%s", h->host);
    r->info.created_at = h->created_at;
    r->info.zstd_level = (int)h->zstd_level;
    koala__file_header__free_unpacked(h, NULL);
    r->in_pos += 8 + (size_t)size;
    if (r->info.format_version > KL_FORMAT_VERSION)
        return fail(r, KL_ERR_VERSION, "format version %u, this reader knows up to %d",
                    r->info.format_version, KL_FORMAT_VERSION);
    if (r->info.kind != KL_KIND_RECORDED && r->info.kind != KL_KIND_REPLAYED)
        return fail(r, KL_ERR_CORRUPT, "header at byte %llu: unknown file kind %d",
                    (unsigned long long)at, (int)r->info.kind);
    return KL_OK;
}

/* Find out what the stream is: a koala file with header, bare zstd frames, or a plain
 * length-delimited stream (what `zstd -dc` makes of a koala file). */
static int detect(kl_reader *r)
{
    ssize_t n = need_input(r, 4);
    if (n < 0)
        return (int)n;
    if (n == 0)
        return fail(r, KL_ERR_BADMAGIC, "empty file, not a koala session file");
    uint32_t magic = n == 4 ? le32(r->in + r->in_pos) : 0;
    if (magic == KLI_HEADER_FRAME_MAGIC) {
        r->info.compressed = true;
        int err = read_header(r);
        if (err)
            return err;
    } else if (magic == KLI_ZSTD_MAGIC || (magic >= KLI_SKIP_MAGIC_MIN && magic <= KLI_SKIP_MAGIC_MAX)) {
        r->info.compressed = true;
    } else {
        r->st = ST_RAW;
        if (content_room(r, r->in_len - r->in_pos))
            return r->err;
        memcpy(r->c, r->in + r->in_pos, r->in_len - r->in_pos);
        r->c_len = r->in_len - r->in_pos;
        r->in_pos = r->in_len;
    }
    r->data_start = r->info.compressed ? in_at(r) : r->in_off + r->in_pos - r->c_len;
    if (r->info.kind != KL_KIND_UNKNOWN)
        return KL_OK;
    /* No header: the first record tells the kind. */
    int err = fetch(r, &r->p_data, &r->p_len);
    kl_kind kind = KL_KIND_UNKNOWN;
    int64_t t;
    if (err == KL_OK) {
        r->pending = true;
        kli_scan_record(r->p_data, r->p_len, &kind, &t, r->idbuf, sizeof r->idbuf);
    }
    /* A first length over the limit is named as such: it may be a damaged plain stream. */
    if (!r->info.compressed && err == KL_ERR_TOOBIG)
        return err;
    if (!r->info.compressed && kind == KL_KIND_UNKNOWN)
        return fail(r, KL_ERR_BADMAGIC, "not a koala session file (no zstd frame, and no session at byte 0)");
    r->info.kind = kind;
    if (err == KL_END) {
        r->err = 0;
        r->st = ST_DONE;
    }
    return KL_OK;
}

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
    memfile *m = ctx;
    size_t n = m->len - m->pos < len ? m->len - m->pos : len;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static off_t mem_seek(void *ctx, off_t off, int whence)
{
    memfile *m = ctx;
    off_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (off_t)m->pos : (off_t)m->len;
    if (off < -base || (uint64_t)(base + off) > m->len) {
        errno = EINVAL;
        return -1;
    }
    m->pos = (size_t)(base + off);
    return base + off;
}

/* io is copied; with fd >= 0 the reader reads that fd, with mem it reads its own copy of mem. */
static int reader_init(kl_reader **out, const kl_io *io, int fd, bool own, const memfile *mem,
                       const char *name, char *errbuf)
{
    *out = NULL;
    kl_reader *r = calloc(1, sizeof *r);
    if (!r) {
        if (own)
            close(fd);
        kli_seterr(errbuf, "out of memory");
        return KL_ERR_NOMEM;
    }
    r->io = *io;
    r->fd = fd;
    r->own_fd = own;
    if (fd >= 0)
        r->io.ctx = &r->fd;
    if (mem) {
        r->mem_in = *mem;
        r->io.ctx = &r->mem_in;
    }
    r->name = strdup(name ? name : "-");
    r->dctx = ZSTD_createDCtx();
    r->mem = kli_mem_new();
    r->info.program = r->program;
    r->info.host = r->host;
    int err = KL_OK;
    if (!r->name || !r->dctx || !r->mem) {
        err = fail(r, KL_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (r->io.seek) {
        off_t end = r->io.seek(r->io.ctx, 0, SEEK_END);
        if (end >= 0 && r->io.seek(r->io.ctx, 0, SEEK_SET) == 0) {
            r->seekable = true;
            r->info.file_bytes = (uint64_t)end;
        }
    }
    r->chunk = CHUNK_MAX;
    if (r->seekable && r->info.file_bytes < CHUNK_MAX)
        r->chunk = r->info.file_bytes < CHUNK_MIN ? CHUNK_MIN : (size_t)r->info.file_bytes;
    if (r->seekable) {
        err = load_index(r);
        if (!err && r->io.seek(r->io.ctx, 0, SEEK_SET) != 0)
            err = fail(r, KL_ERR_IO, "seek: %s", strerror(errno));
        if (err)
            goto out;
    }
    err = detect(r);
out:
    if (err) {
        kli_seterr(errbuf, "%s", r->errbuf);
        kl_reader_close(r);
        return err;
    }
    *out = r;
    return KL_OK;
}

int kl_reader_open_mem(kl_reader **r, const void *data, size_t len, const char *name, char *errbuf)
{
    memfile m = {data, len, 0};
    kl_io io = {NULL, mem_read, NULL, mem_seek};
    return reader_init(r, &io, -1, false, &m, name, errbuf);
}

int kl_reader_open_io(kl_reader **r, const kl_io *io, const char *name, char *errbuf)
{
    return reader_init(r, io, -1, false, NULL, name, errbuf);
}

int kl_reader_open_fd(kl_reader **r, int fd, const char *name, char *errbuf)
{
    kl_io io = {NULL, kli_fd_read, kli_fd_write, kli_fd_seek};
    return reader_init(r, &io, fd, false, NULL, name, errbuf);
}

int kl_reader_open(kl_reader **r, const char *path, char *errbuf)
{
    *r = NULL;
    if (strcmp(path, "-") == 0)
        return kl_reader_open_fd(r, STDIN_FILENO, "-", errbuf);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        kli_seterr(errbuf, "%s", strerror(errno));
        return errno == ENOENT ? KL_ERR_NOTFOUND : KL_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        kli_seterr(errbuf, "is a directory");
        return KL_ERR_IO;
    }
    kl_io io = {NULL, kli_fd_read, kli_fd_write, kli_fd_seek};
    return reader_init(r, &io, fd, true, NULL, path, errbuf);
}

void kl_reader_close(kl_reader *r)
{
    if (!r)
        return;
    if (r->own_fd)
        close(r->fd);
    ZSTD_freeDCtx(r->dctx);
    kli_mem_free(r->mem);
    free(r->in);
    free(r->c);
    free(r->index);
    free(r->name);
    free(r);
}

/* ------------------------------------------------------------------ seeking */

/* Continue reading at file offset off, as if sessions before were delivered. */
static int reposition(kl_reader *r, uint64_t off, uint64_t delivered)
{
    if (r->io.seek(r->io.ctx, (off_t)off, SEEK_SET) < 0)
        return fail(r, KL_ERR_IO, "seek to byte %llu: %s", (unsigned long long)off, strerror(errno));
    r->in_pos = r->in_len = 0;
    r->in_off = off;
    r->in_eof = false;
    r->c_pos = r->c_len = 0;
    r->c_off = 0;
    r->pending = false;
    r->err = 0;
    r->st = r->info.compressed ? ST_FRAMES : ST_RAW;
    r->delivered = delivered;
    return KL_OK;
}

int kl_reader_seek(kl_reader *r, uint64_t n)
{
    if (!r->seekable)
        return KL_ERR_UNSUPPORTED;
    uint64_t off = r->data_start, before = 0;
    if (r->info.has_index) {
        if (n >= r->info.sessions)
            return KL_ERR_NOTFOUND;
        for (size_t i = 0; i < r->n_index; i++) {
            if (before + r->index[i].sessions > n) {
                off = r->index[i].offset;
                break;
            }
            before += r->index[i].sessions;
        }
    }
    int err = reposition(r, off, before);
    const uint8_t *data;
    size_t len;
    while (!err && r->delivered < n) {
        err = fetch(r, &data, &len);
        r->delivered += err == KL_OK;
    }
    /* Session n itself must exist: fetch it now and hand it out on the next call. */
    if (!err && (err = fetch(r, &r->p_data, &r->p_len)) == KL_OK)
        r->pending = true;
    return err == KL_END ? KL_ERR_NOTFOUND : err;
}

int kl_reader_skip_damage(kl_reader *r, uint64_t *skipped)
{
    *skipped = 0;
    if (!r->err || r->err == KL_ERR_NOMEM || !r->seekable || !r->info.has_index)
        return KL_ERR_NOTFOUND;
    uint64_t before = 0;
    for (size_t i = 0; i < r->n_index; i++) {
        uint64_t off = r->index[i].offset;
        if (off > r->frame_off && off > r->skipped_to) {
            uint64_t had = r->delivered;
            int err = reposition(r, off, before);
            if (err)
                return err;
            r->skipped_to = off;
            *skipped = before > had ? before - had : 0;
            return KL_OK;
        }
        before += r->index[i].sessions;
    }
    return KL_ERR_NOTFOUND;
}

int kl_reader_seek_time(kl_reader *r, int64_t t)
{
    if (!r->seekable || !r->info.has_index)
        return KL_OK;
    uint64_t before = 0;
    for (size_t i = 0; i < r->n_index; i++) {
        if (r->index[i].sessions && r->index[i].last_time >= t)
            return reposition(r, r->index[i].offset, before);
        before += r->index[i].sessions;
    }
    /* Every session is older: position at the end. */
    return reposition(r, r->info.file_bytes, before);
}

int kl_reader_count(kl_reader *r, uint64_t *n)
{
    *n = 0;
    if (r->info.has_index) {
        *n = r->info.sessions;
        return KL_OK;
    }
    if (!r->seekable)
        return KL_ERR_UNSUPPORTED;
    /* Count with a second reader over the same file; ours keeps its buffered position. */
    off_t here = r->io.seek(r->io.ctx, 0, SEEK_CUR);
    if (here < 0)
        return KL_ERR_IO;
    kl_reader *scan;
    int err = reader_init(&scan, &r->io, -1, false, NULL, r->name, NULL);
    if (!err) {
        kl_raw raw;
        while ((err = kl_reader_next_raw(scan, &raw)) == KL_OK)
            (*n)++;
        if (err == KL_END)
            err = KL_OK;
        else
            snprintf(r->errbuf, sizeof r->errbuf, "%s", scan->errbuf);
        kl_reader_close(scan);
    }
    if (r->io.seek(r->io.ctx, here, SEEK_SET) < 0)
        return fail(r, KL_ERR_IO, "seek back to byte %lld: %s", (long long)here, strerror(errno));
    return err;
}

const kl_file_info *kl_reader_info(const kl_reader *r)
{
    return &r->info;
}

const char *kl_reader_error(const kl_reader *r)
{
    return r->errbuf;
}

uint64_t kl_reader_offset(const kl_reader *r)
{
    return r->st == ST_ZFRAME ? r->frame_off : in_at(r);
}

uint64_t kl_reader_delivered(const kl_reader *r)
{
    return r->delivered;
}
