/* writer.c - writes koala session files: header, zstd data frames of delimited records, index. */
#include "kl_internal.h"
#include "koala.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
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

/* A zstd context: the synchronous writer's (the first), or, with opts.async, a compressor
 * thread's. */
typedef struct compressor {
    ZSTD_CCtx *cctx;
    pthread_t thread;
    struct kl_writer *w;
} compressor;

/* A full frame handed to the compressor threads, what the index will say of it, and, once
 * compressed, its bytes (a buffer kept from frame to frame). */
typedef struct job {
    kl_buf content;
    frame_info info;
    kl_buf out;
    bool compressed;
} job;

/* Compressor threads with opts.async: as many as the machine has CPUs, 2 to 4, each ahead by
 * up to two frames. They run at a lower priority than the caller: a merge's reading thread
 * is its critical path, and it lost a third of its CPU to two compressors at the same one. */
#define MIN_THREADS 2
#define MAX_THREADS 4
#define JOBS_PER_THREAD 2
#define MAX_JOBS (MAX_THREADS * JOBS_PER_THREAD)
#define THREAD_NICE 10

/* With opts.async, compressor threads each take the next full frame and compress it while the
 * caller fills the next one; a frame is written once every frame before it is, by whichever
 * thread finds it next (`writing`), so that a thread done early goes on to another frame. The
 * caller owns content, cur and the session counts; the threads own frames, offset and the I/O
 * from their start to their join, one at a time; mu guards the hand-over (jobs, handed, taken,
 * written, writing, stop) and the error detail. Frame number n goes in jobs[n % n_jobs]. */
struct kl_writer {
    kl_io io;
    int fd;                 /* the fd behind io when we opened it, else -1 */
    bool own_fd;
    kl_writer_opts opts;
    compressor comp[MAX_THREADS];
    kl_buf content;         /* records of the open frame */
    kl_buf out;             /* the synchronous writer's compressed frame */
    frame_info cur;         /* the open frame */
    frame_info *frames;
    size_t n_frames, cap_frames;
    _Atomic uint64_t offset; /* bytes written to the file; kl_writer_totals reads it */
    uint64_t sessions, content_bytes;
    _Atomic int err;        /* first error, sticky; set after errbuf */
    char errbuf[KL_ERRBUF_SIZE];
    bool async;             /* the compressor threads are running */
    int n_threads, n_jobs;
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* a frame was handed over, or stop was set */
    pthread_cond_t done_cv; /* a frame was written: its job is free */
    job jobs[MAX_JOBS];
    uint64_t handed, taken, written; /* frames handed over, taken by a thread, written */
    bool writing, stop;
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

/* Compress content with cctx into out, grown as needed. */
static int compress(kl_writer *w, ZSTD_CCtx *cctx, const kl_buf *content, kl_buf *out)
{
    out->len = 0;
    if (kl_buf_reserve(out, ZSTD_compressBound(content->len)) != KL_OK)
        return fail(w, KL_ERR_NOMEM, "%s", "cannot allocate the frame buffer");
    size_t n = ZSTD_compress2(cctx, out->data, out->cap, content->data, content->len);
    if (ZSTD_isError(n))
        return fail(w, KL_ERR_ZSTD, "zstd: %s", ZSTD_getErrorName(n));
    out->len = n;
    return KL_OK;
}

/* Write out, a frame compressed from content_size bytes of content, and note it for the
 * index. */
static int put_frame(kl_writer *w, const kl_buf *out, size_t content_size, const frame_info *info)
{
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
    fi.size = out->len;
    fi.content_size = content_size;
    int err = write_all(w, out->data, out->len);
    if (err)
        return err;
    w->frames[w->n_frames++] = fi;
    return KL_OK;
}

/* Write every compressed frame whose turn has come, unless another thread is at it (mu held).
 * After an error, frames are passed unwritten. */
static void write_ready(kl_writer *w)
{
    if (w->writing)
        return;
    w->writing = true;
    job *j;
    while (w->written < w->handed && (j = &w->jobs[w->written % (uint64_t)w->n_jobs])->compressed) {
        pthread_mutex_unlock(&w->mu);
        if (!w->err)
            put_frame(w, &j->out, j->content.len, &j->info);
        pthread_mutex_lock(&w->mu);
        j->compressed = false;
        w->written++;
        pthread_cond_broadcast(&w->done_cv);
    }
    w->writing = false;
}

/* A compressor thread: compresses the next handed frame and writes those whose turn has come,
 * until told to stop. */
static void *compress_thread(void *arg)
{
    compressor *c = arg;
    kl_writer *w = c->w;
    setpriority(PRIO_PROCESS, (id_t)gettid(), THREAD_NICE);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->taken == w->handed && !w->stop)
            pthread_cond_wait(&w->work_cv, &w->mu);
        if (w->taken == w->handed)
            break;
        job *j = &w->jobs[w->taken++ % (uint64_t)w->n_jobs];
        pthread_mutex_unlock(&w->mu);
        if (!w->err)
            compress(w, c->cctx, &j->content, &j->out);
        pthread_mutex_lock(&w->mu);
        j->compressed = true;
        write_ready(w);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* A compressor like the first: the same level and checksum. */
static bool compressor_init(kl_writer *w, compressor *c)
{
    c->w = w;
    if (!(c->cctx = ZSTD_createCCtx()))
        return false;
    ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, w->opts.level);
    ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 1);
    return true;
}

/* Start the compressor threads, as many as can be had. Without one the writer stays
 * synchronous, which writes the same file. */
static void start_threads(kl_writer *w)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int want = cpus < MIN_THREADS ? MIN_THREADS : cpus > MAX_THREADS ? MAX_THREADS : (int)cpus;
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return;
    if (pthread_cond_init(&w->work_cv, NULL) != 0)
        goto no_work;
    if (pthread_cond_init(&w->done_cv, NULL) != 0)
        goto no_done;
    /* no frame is handed over before this returns: n_threads may grow meanwhile */
    for (int i = 0; i < want; i++) {
        if ((i && !compressor_init(w, &w->comp[i])) ||
            pthread_create(&w->comp[i].thread, NULL, compress_thread, &w->comp[i]) != 0)
            break;
        w->n_threads++;
    }
    if (w->n_threads) {
        w->n_jobs = w->n_threads * JOBS_PER_THREAD;
        w->async = true;
        return;
    }
    pthread_cond_destroy(&w->done_cv);
no_done:
    pthread_cond_destroy(&w->work_cv);
no_work:
    pthread_mutex_destroy(&w->mu);
}

/* Wait until the threads have written everything handed to them. @return the sticky error. */
static int wait_idle(kl_writer *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->written != w->handed)
        pthread_cond_wait(&w->done_cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    return w->err;
}

/* Hand the open frame to the threads (once its job is free) and start the next frame in the
 * buffer the job gave back. After an error nothing more is handed over, so nothing more is
 * written, as in the synchronous writer. */
static int hand_over(kl_writer *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->handed - w->written >= (uint64_t)w->n_jobs)
        pthread_cond_wait(&w->done_cv, &w->mu);
    if (w->err) {
        pthread_mutex_unlock(&w->mu);
        return w->err;
    }
    job *j = &w->jobs[w->handed % (uint64_t)w->n_jobs];
    kl_buf done = j->content;
    j->content = w->content;
    j->info = w->cur;
    w->handed++;
    pthread_cond_signal(&w->work_cv);
    pthread_mutex_unlock(&w->mu);
    w->content = done;
    w->content.len = 0;
    memset(&w->cur, 0, sizeof w->cur);
    return w->err;
}

/* Stop and join the threads once they have written everything handed to them; the writer is
 * synchronous from then on. @return the sticky error. */
static int stop_threads(kl_writer *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->work_cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->n_threads; i++)
        pthread_join(w->comp[i].thread, NULL);
    w->async = false;
    pthread_cond_destroy(&w->done_cv);
    pthread_cond_destroy(&w->work_cv);
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
    *out = w;
    if (w->opts.kind != KL_KIND_RECORDED && w->opts.kind != KL_KIND_REPLAYED)
        return fail(w, KL_ERR_INVALID, "%s", "file kind must be recorded or replayed");
    if (w->opts.level < ZSTD_minCLevel() || w->opts.level > ZSTD_maxCLevel())
        return fail(w, KL_ERR_INVALID, "%s", "zstd level out of range");
    if (!compressor_init(w, &w->comp[0]))
        return fail(w, KL_ERR_NOMEM, "%s", "cannot allocate the compressor");
    int err = write_header(w);
    if (!err && w->opts.async)
        start_threads(w);
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

/* Close the open frame: compress and write it here, or hand it to the compressor threads. */
static int flush_frame(kl_writer *w)
{
    if (w->err)
        return w->err;
    if (!w->content.len)
        return KL_OK;
    if (w->async)
        return hand_over(w);
    int err = compress(w, w->comp[0].cctx, &w->content, &w->out);
    if (!err)
        err = put_frame(w, &w->out, w->content.len, &w->cur);
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
        int thread_err = stop_threads(w);
        if (!err)
            err = thread_err;
    }
    if (!err && !w->opts.no_index)
        err = write_index(w);
    if (w->own_fd && close(w->fd) != 0 && !err)
        err = fail(w, KL_ERR_IO, "close: %s", strerror(errno));
    if (!err)
        err = w->err;
    for (int i = 0; i < MAX_THREADS; i++)
        ZSTD_freeCCtx(w->comp[i].cctx);
    for (int i = 0; i < MAX_JOBS; i++) {
        kl_buf_free(&w->jobs[i].content);
        kl_buf_free(&w->jobs[i].out);
    }
    kl_buf_free(&w->content);
    kl_buf_free(&w->out);
    free(w->frames);
    free(w);
    return err;
}

const char *kl_writer_error(const kl_writer *w)
{
    /* errbuf is complete once err is set; before that a compressor thread may be writing it */
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
