/* writer.c - writes koala session files: header, zstd data frames of delimited records, index. */
#include "kl_internal.h"
#include "koala.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

typedef struct frame_info {
    uint64_t offset, size, content_size;
    uint32_t sessions;
    int64_t first_time, last_time;
} frame_info;

/* With opts.async, a frame thread compresses and writes each full frame while the caller fills
 * the next one. The caller owns content, cur and the session counts; the frame thread owns cctx,
 * out, frames and the I/O from its start to its join; mu guards the hand-over (handed,
 * handed_info, busy, stop) and the error detail. */
struct kl_writer {
    kl_io io;
    int fd;                 /* the fd behind io when we opened it, else -1 */
    bool own_fd;
    kl_writer_opts opts;
    ZSTD_CCtx *cctx;
    kl_buf content;         /* records of the open frame */
    uint8_t *out;           /* compressed frame */
    size_t out_cap;
    frame_info cur;         /* the open frame */
    frame_info *frames;
    size_t n_frames, cap_frames;
    _Atomic uint64_t offset; /* bytes written to the file; kl_writer_totals reads it */
    uint64_t sessions, content_bytes;
    _Atomic int err;        /* first error, sticky; set after errbuf */
    char errbuf[KL_ERRBUF_SIZE];
    bool async;             /* the frame thread is running */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t handed_cv; /* a frame was handed over, or stop was set */
    pthread_cond_t idle_cv;   /* the frame thread finished a frame */
    kl_buf handed;          /* content of the frame being compressed */
    frame_info handed_info;
    bool busy, stop;
};

void kl_writer_opts_init(kl_writer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->kind = KL_KIND_RECORDED;
    o->level = KLI_DEFAULT_LEVEL;
    o->frame_size = KLI_DEFAULT_FRAME;
}

static int fail(kl_writer *w, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record the first error; later calls keep returning it. Both threads may fail at once. */
static int fail(kl_writer *w, int err, const char *fmt, ...)
{
    if (w->async)
        pthread_mutex_lock(&w->mu);
    if (!w->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->errbuf, sizeof w->errbuf, fmt, ap);
        va_end(ap);
        w->err = err;
    }
    if (w->async)
        pthread_mutex_unlock(&w->mu);
    return err;
}

static int write_all(kl_writer *w, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = w->io.write(w->io.ctx, p, len);
        if (n <= 0) {
            return fail(w, KL_ERR_IO, "write at byte %llu: %s", (unsigned long long)w->offset,
                        n < 0 ? strerror(errno) : "wrote nothing");
        }
        p += n;
        len -= (size_t)n;
        w->offset += (uint64_t)n;
    }
    return KL_OK;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* A zstd skippable frame: magic, size, then body (and an optional trailer). */
static int write_skippable(kl_writer *w, uint32_t magic, const void *body, size_t len,
                           const void *trailer, size_t tlen)
{
    uint8_t hdr[8];
    put_le32(hdr, magic);
    put_le32(hdr + 4, (uint32_t)(len + tlen));
    int err = write_all(w, hdr, sizeof hdr);
    if (!err)
        err = write_all(w, body, len);
    if (!err && tlen)
        err = write_all(w, trailer, tlen);
    return err;
}

static int write_header(kl_writer *w)
{
    char host[256] = "";
    if (w->opts.host)
        snprintf(host, sizeof host, "%s", w->opts.host);
    else if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    Koala__FileHeader h;
    koala__file_header__init(&h);
    h.magic = (char *)KLI_MAGIC_STRING;
    h.format_version = KL_FORMAT_VERSION;
    h.kind = w->opts.kind == KL_KIND_REPLAYED ? KOALA__FILE_KIND__FILE_KIND_REPLAYED
                                               : KOALA__FILE_KIND__FILE_KIND_RECORDED;
    h.writer = (char *)(w->opts.program ? w->opts.program : "libkoala");
    h.host = host;
    h.created_at = w->opts.created_at;
    if (!h.created_at) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        h.created_at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    h.zstd_level = (uint32_t)w->opts.level;
    uint8_t buf[4 + 1024];
    size_t n = koala__file_header__get_packed_size(&h);
    if (n > sizeof buf - 4)
        return fail(w, KL_ERR_TOOBIG, "%s", "header too large (program or host name too long)");
    memcpy(buf, KLI_HEADER_TAG, 4);
    koala__file_header__pack(&h, buf + 4);
    return write_skippable(w, KLI_HEADER_FRAME_MAGIC, buf, n + 4, NULL, 0);
}

/* Compress one frame's content and write it, and note it for the index. */
static int write_frame(kl_writer *w, const kl_buf *content, const frame_info *info)
{
    size_t len = content->len;
    size_t bound = ZSTD_compressBound(len);
    if (bound > w->out_cap) {
        uint8_t *p = realloc(w->out, bound);
        if (!p)
            return fail(w, KL_ERR_NOMEM, "%s", "cannot allocate the frame buffer");
        w->out = p;
        w->out_cap = bound;
    }
    size_t n = ZSTD_compress2(w->cctx, w->out, w->out_cap, content->data, len);
    if (ZSTD_isError(n))
        return fail(w, KL_ERR_ZSTD, "zstd: %s", ZSTD_getErrorName(n));
    if (w->n_frames == w->cap_frames) {
        size_t cap = w->cap_frames ? w->cap_frames * 2 : 64;
        frame_info *f = realloc(w->frames, cap * sizeof *f);
        if (!f)
            return fail(w, KL_ERR_NOMEM, "%s", "cannot grow the index");
        w->frames = f;
        w->cap_frames = cap;
    }
    frame_info fi = *info;
    fi.offset = w->offset;
    fi.size = n;
    fi.content_size = len;
    int err = write_all(w, w->out, n);
    if (err)
        return err;
    w->frames[w->n_frames++] = fi;
    return KL_OK;
}

/* The frame thread: writes each handed frame until told to stop. */
static void *frame_thread(void *arg)
{
    kl_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->busy && !w->stop)
            pthread_cond_wait(&w->handed_cv, &w->mu);
        if (!w->busy)
            break;
        pthread_mutex_unlock(&w->mu);
        write_frame(w, &w->handed, &w->handed_info);
        pthread_mutex_lock(&w->mu);
        w->busy = false;
        pthread_cond_signal(&w->idle_cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Start the frame thread. Without one the writer stays synchronous, which writes the same file. */
static void start_frame_thread(kl_writer *w)
{
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return;
    if (pthread_cond_init(&w->handed_cv, NULL) != 0)
        goto no_handed;
    if (pthread_cond_init(&w->idle_cv, NULL) != 0)
        goto no_idle;
    if (pthread_create(&w->thread, NULL, frame_thread, w) != 0)
        goto no_thread;
    w->async = true;
    return;
no_thread:
    pthread_cond_destroy(&w->idle_cv);
no_idle:
    pthread_cond_destroy(&w->handed_cv);
no_handed:
    pthread_mutex_destroy(&w->mu);
}

/* Wait until the frame thread has written everything handed to it. @return the sticky error. */
static int wait_idle(kl_writer *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->busy)
        pthread_cond_wait(&w->idle_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    return w->err;
}

/* Give the open frame to the frame thread (once it is done with the previous one) and start
 * the next frame in the buffer it gave back. After an error nothing more is handed over, so
 * nothing more is written, as in the synchronous writer. */
static int hand_over(kl_writer *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->busy)
        pthread_cond_wait(&w->idle_cv, &w->mu);
    if (w->err) {
        pthread_mutex_unlock(&w->mu);
        return w->err;
    }
    kl_buf done = w->handed;
    w->handed = w->content;
    w->handed_info = w->cur;
    w->busy = true;
    pthread_cond_signal(&w->handed_cv);
    pthread_mutex_unlock(&w->mu);
    w->content = done;
    w->content.len = 0;
    memset(&w->cur, 0, sizeof w->cur);
    return w->err;
}

/* Stop and join the frame thread once it has written everything handed to it; the writer is
 * synchronous from then on. @return the sticky error. */
static int stop_frame_thread(kl_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->handed_cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    w->async = false;
    pthread_cond_destroy(&w->idle_cv);
    pthread_cond_destroy(&w->handed_cv);
    pthread_mutex_destroy(&w->mu);
    return w->err;
}

static int writer_init(kl_writer **out, const kl_io *io, int fd, bool own_fd, const kl_writer_opts *o)
{
    *out = NULL;
    kl_writer *w = calloc(1, sizeof *w);
    if (!w)
        return KL_ERR_NOMEM;
    if (o)
        w->opts = *o;
    else
        kl_writer_opts_init(&w->opts);
    if (!w->opts.frame_size)
        w->opts.frame_size = KLI_DEFAULT_FRAME;
    w->fd = fd;
    w->own_fd = own_fd;
    w->io = *io;
    if (fd >= 0)
        w->io.ctx = &w->fd;
    w->cctx = ZSTD_createCCtx();
    *out = w;
    if (!w->cctx)
        return fail(w, KL_ERR_NOMEM, "%s", "cannot allocate the compressor");
    if (w->opts.kind != KL_KIND_RECORDED && w->opts.kind != KL_KIND_REPLAYED)
        return fail(w, KL_ERR_INVALID, "%s", "file kind must be recorded or replayed");
    if (w->opts.level < ZSTD_minCLevel() || w->opts.level > ZSTD_maxCLevel())
        return fail(w, KL_ERR_INVALID, "%s", "zstd level out of range");
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, w->opts.level);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    int err = write_header(w);
    if (!err && w->opts.async)
        start_frame_thread(w);
    return err;
}

int kl_writer_open_io(kl_writer **w, const kl_io *io, const kl_writer_opts *o)
{
    return writer_init(w, io, -1, false, o);
}

int kl_writer_open_fd(kl_writer **w, int fd, const kl_writer_opts *o)
{
    kl_io io = {NULL, kli_fd_read, kli_fd_write, kli_fd_seek};
    return writer_init(w, &io, fd, false, o);
}

int kl_writer_open(kl_writer **w, const char *path, const kl_writer_opts *o)
{
    if (strcmp(path, "-") == 0)
        return kl_writer_open_fd(w, STDOUT_FILENO, o);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        *w = NULL;
        return KL_ERR_IO;
    }
    kl_io io = {NULL, kli_fd_read, kli_fd_write, kli_fd_seek};
    return writer_init(w, &io, fd, true, o);
}

/* Close the open frame: compress and write it here, or hand it to the frame thread. */
static int flush_frame(kl_writer *w)
{
    if (w->err)
        return w->err;
    if (!w->content.len)
        return KL_OK;
    if (w->async)
        return hand_over(w);
    int err = write_frame(w, &w->content, &w->cur);
    if (err)
        return err;
    memset(&w->cur, 0, sizeof w->cur);
    w->content.len = 0;
    return KL_OK;
}

/* Account one record just appended to the open frame, and close the frame when full. */
static int added(kl_writer *w, size_t before, int64_t t)
{
    if (w->cur.sessions == 0 || t < w->cur.first_time)
        w->cur.first_time = t;
    if (w->cur.sessions == 0 || t > w->cur.last_time)
        w->cur.last_time = t;
    w->cur.sessions++;
    w->sessions++;
    w->content_bytes += w->content.len - before;
    return w->content.len >= w->opts.frame_size ? flush_frame(w) : KL_OK;
}

static int encoded(kl_writer *w, int err)
{
    if (err == KL_ERR_TOOBIG)
        return fail(w, err, "session exceeds the record limit of %u bytes", KL_MAX_RECORD);
    if (err)
        return fail(w, err, "%s", "cannot encode session");
    return KL_OK;
}

int kl_writer_write(kl_writer *w, const kl_session *s)
{
    if (w->err)
        return w->err;
    if (w->opts.kind != KL_KIND_RECORDED)
        return KL_ERR_KIND;
    size_t before = w->content.len;
    int err = encoded(w, kli_encode_session(s, &w->content));
    if (err) {
        w->content.len = before;
        return err;
    }
    return added(w, before, kl_session_time(s));
}

int kl_writer_write_replayed(kl_writer *w, const kl_replayed *r)
{
    if (w->err)
        return w->err;
    if (w->opts.kind != KL_KIND_REPLAYED)
        return KL_ERR_KIND;
    size_t before = w->content.len;
    int err = encoded(w, kli_encode_replayed(r, &w->content));
    if (err) {
        w->content.len = before;
        return err;
    }
    return added(w, before, kl_replayed_time(r));
}

int kl_writer_write_raw(kl_writer *w, const kl_raw *raw)
{
    if (w->err)
        return w->err;
    if (raw->kind != w->opts.kind)
        return KL_ERR_KIND;
    if (raw->len > KL_MAX_RECORD)
        return KL_ERR_TOOBIG;
    size_t before = w->content.len;
    uint8_t pre[10];
    int pl = kli_varint_put(pre, raw->len);
    if (kl_buf_reserve(&w->content, (size_t)pl + raw->len) != KL_OK)
        return fail(w, KL_ERR_NOMEM, "%s", "cannot grow the frame");
    kl_buf_append(&w->content, pre, (size_t)pl);
    kl_buf_append(&w->content, raw->data, raw->len);
    return added(w, before, raw->time);
}

int kl_writer_flush(kl_writer *w)
{
    int err = flush_frame(w);
    if (!err && w->async)
        err = wait_idle(w);
    return err;
}

static int write_index(kl_writer *w)
{
    Koala__FileIndex idx;
    koala__file_index__init(&idx);
    Koala__FrameInfo *items = calloc(w->n_frames ? w->n_frames : 1, sizeof *items);
    Koala__FrameInfo **ptrs = calloc(w->n_frames ? w->n_frames : 1, sizeof *ptrs);
    int err = KL_OK;
    if (!items || !ptrs) {
        err = fail(w, KL_ERR_NOMEM, "%s", "cannot build the index");
        goto out;
    }
    for (size_t i = 0; i < w->n_frames; i++) {
        koala__frame_info__init(&items[i]);
        items[i].offset = w->frames[i].offset;
        items[i].size = w->frames[i].size;
        items[i].content_size = w->frames[i].content_size;
        items[i].sessions = w->frames[i].sessions;
        items[i].first_time = w->frames[i].first_time;
        items[i].last_time = w->frames[i].last_time;
        ptrs[i] = &items[i];
    }
    idx.frames = ptrs;
    idx.n_frames = w->n_frames;
    idx.sessions = w->sessions;
    size_t n = koala__file_index__get_packed_size(&idx);
    if (n > KL_MAX_INDEX - 8) {
        err = fail(w, KL_ERR_TOOBIG, "%s", "index exceeds its limit");
        goto out;
    }
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        err = fail(w, KL_ERR_NOMEM, "%s", "cannot build the index");
        goto out;
    }
    koala__file_index__pack(&idx, buf);
    uint8_t trailer[8];
    put_le32(trailer, (uint32_t)n);
    memcpy(trailer + 4, KLI_INDEX_TAG, 4);
    err = write_skippable(w, KLI_INDEX_FRAME_MAGIC, buf, n, trailer, sizeof trailer);
    free(buf);
out:
    free(items);
    free(ptrs);
    return err;
}

int kl_writer_close(kl_writer *w)
{
    if (!w)
        return KL_OK;
    int err = flush_frame(w);
    if (w->async) {
        int thread_err = stop_frame_thread(w);
        if (!err)
            err = thread_err;
    }
    if (!err && !w->opts.no_index)
        err = write_index(w);
    if (w->own_fd && close(w->fd) != 0 && !err)
        err = fail(w, KL_ERR_IO, "close: %s", strerror(errno));
    if (!err)
        err = w->err;
    ZSTD_freeCCtx(w->cctx);
    kl_buf_free(&w->content);
    kl_buf_free(&w->handed);
    free(w->out);
    free(w->frames);
    free(w);
    return err;
}

const char *kl_writer_error(const kl_writer *w)
{
    /* errbuf is complete once err is set; before that the frame thread may be writing it */
    return w && w->err ? w->errbuf : "";
}

void kl_writer_totals(const kl_writer *w, uint64_t *sessions, uint64_t *content_bytes,
                      uint64_t *file_bytes)
{
    if (sessions)
        *sessions = w->sessions;
    if (content_bytes)
        *content_bytes = w->content_bytes;
    if (file_bytes)
        *file_bytes = w->offset;
}
