/* hk_sink.c - finished sessions to files: a bounded queue, a writer thread, per-process files
 * flushed every second and rotated by size and age; a full queue drops, never blocks. */
#include "hk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    hk_sink_opts o;
    char dir[HK_PATH_MAX], program[256];
    kl_buf queue;             /* the sessions waiting (kl_session *), oldest first */
    size_t queued_bytes;
    char path[HK_PATH_MAX + 320];   /* the file being written (for the witch) */
    bool armed;               /* started: the writer thread starts with hk_sink_run() or the
                                 first session */
    bool running, stopping;
    pthread_t thread;
    hk_sink_totals totals;
    /* owned by the writer thread; fd_lock is held around every use of fd, so that a service's
     * dup2() onto it waits and moves it (hk_fd_evict) */
    kl_writer *w;
    pthread_mutex_t fd_lock;
    int fd;
    int64_t file_started, next_flush;
    /* after an error: sessions are dropped until retry_at, when a new file is tried; retry_ns,
     * the wait, doubles while tries fail */
    int64_t retry_at, retry_ns;
    uint64_t skipped;         /* sessions dropped since the error, for the line that ends it */
    uint64_t in_file;         /* sessions the file's writer took */
    uint64_t out_sessions, out_bytes; /* of them, those in frames written out, and the bytes */
    uint64_t lost;            /* sessions counted written whose frame never reached the file */
} sk = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd_lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

/* hk_sink_drain() from a signal handler, which may take no lock: it raises `drain` and waits
 * for the writer, which looks at least every DRAIN_POLL_NS, to write the queue, close the
 * file and set `drained`. `live` mirrors a running writer. */
#define DRAIN_POLL_NS HK_TICK_IDLE_NS
#define WAKE_BYTES (1u << 20)
static atomic_bool live, drain, drained;
static const char *_Atomic drain_why;
/* on a line of its own: a service thread reads it at every event */
_Alignas(64) _Atomic int64_t hk_sink_waiting_since;
/* The file bytes written (totals.bytes): counted without sk.lock, which the writer, in the
 * idle class, would otherwise take at every write, and a service's thread handing over a
 * session then wait on while the writer is preempted holding it. */
static _Atomic uint64_t file_bytes;

/* Raw system calls: the sink's own writes must never pass through the hook. Counting here
 * sees every byte, the last frame and the index that close writes included. */
static ssize_t raw_write(void *ctx, const void *buf, size_t len)
{
    pthread_mutex_lock(&sk.fd_lock);
    ssize_t n = (ssize_t)syscall(SYS_write, *(int *)ctx, buf, len);
    pthread_mutex_unlock(&sk.fd_lock);
    if (n > 0)
        atomic_fetch_add_explicit(&file_bytes, (uint64_t)n, memory_order_relaxed);
    return n;
}

void hk_sink_opts_init(hk_sink_opts *o, const char *dir, const char *program)
{
    memset(o, 0, sizeof *o);
    o->dir = dir;
    o->program = program;
    o->max_queue_bytes = 64u << 20;
    o->flush_ns = 1000000000;
    o->rotate_bytes = 256u << 20;
    o->rotate_ns = 3600 * (int64_t)1000000000;
}

size_t hk_session_bytes(const kl_session *s)
{
    size_t n = 512 + s->call_from_inbound.request.len + s->return_inbound.response.len;
    for (size_t i = 0; i < s->n_actions; i++)
        n += 256 + s->actions[i].request.len + s->actions[i].response.len + s->actions[i].content.len;
    return n;
}

static void close_fd(void)
{
    pthread_mutex_lock(&sk.fd_lock);
    if (sk.fd >= 0) {
        hk_fd_disown(&sk.fd);
        syscall(SYS_close, sk.fd);
    }
    sk.fd = -1;
    pthread_mutex_unlock(&sk.fd_lock);
}

/* The directory and those above it that do not exist yet, as mkdir -p makes them. @return 0,
 * or the errno of the first that could not be made, named in failed. */
static int make_dirs(char failed[HK_PATH_MAX])
{
    char path[sizeof sk.dir];
    snprintf(path, sizeof path, "%s", sk.dir);
    for (char *p = path + 1;; p++) {
        if (*p && *p != '/')
            continue;
        char end = *p;
        *p = 0;
        if (syscall(SYS_mkdirat, AT_FDCWD, path, 0755) != 0 && errno != EEXIST) {
            snprintf(failed, HK_PATH_MAX, "%s", path);
            return errno;
        }
        if (!end)
            return 0;
        *p = '/';
    }
}

#define WHY_MAX (2 * HK_PATH_MAX + 1024) /* an error's line: two paths and words */
#define RETRY_FIRST_NS 1000000000LL
#define RETRY_MAX_NS (64 * RETRY_FIRST_NS)

/* After an error creating or writing the file (a full disk, a file size limit, a directory
 * made unwritable): sessions are dropped, and counted, until a new file is tried, 1 s later,
 * then twice as long after each try that fails, up to 64 s. The service never notices. */
static void pause_writing(const char *why)
{
    sk.retry_ns = sk.retry_ns ? (sk.retry_ns < RETRY_MAX_NS / 2 ? 2 * sk.retry_ns : RETRY_MAX_NS) : RETRY_FIRST_NS;
    sk.retry_at = hk_now_ns(CLOCK_MONOTONIC) + sk.retry_ns;
    hk_log(HK_ERROR, "%s; sessions are dropped (and counted) until koala can write again: next try in %lld s",
           why, (long long)(sk.retry_ns / RETRY_FIRST_NS));
}

/* DIR/PROGRAM-PID-STARTMS.pb, with -N added should that name exist. */
static int open_file(void)
{
    char dir[HK_PATH_MAX];
    int dir_err = make_dirs(dir);
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
    long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    char path[HK_PATH_MAX + 320];
    for (int n = 0; n < 100; n++) {
        int len = snprintf(path, sizeof path, "%s/%s-%ld-%lld", sk.dir, sk.program, (long)getpid(), ms);
        snprintf(path + len, sizeof path - (size_t)len, n ? "-%d.pb" : ".pb", n);
        sk.fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (sk.fd >= 0 || errno != EEXIST)
            break;
    }
    char why[WHY_MAX];
    if (sk.fd < 0) {
        int err = errno;
        const char *what = "";
        if (err == ENOENT && dir_err) { /* the directory is missing: why it could not be made */
            err = dir_err;
            snprintf(path, sizeof path, "%s", dir);
            what = "directory ";
        }
        /* a prefork server's workers often run as another user than the one that made the
         * directory (php-fpm's pool user, nginx's) */
        if (err == EACCES)
            snprintf(why, sizeof why, "cannot create %s%s: %s (this process runs as uid %ld, gid %ld: %s %s "
                     "writable for it)", what, path, strerror(err), (long)geteuid(), (long)getegid(),
                     *what ? "create" : "make", sk.dir);
        else
            snprintf(why, sizeof why, "cannot create %s%s: %s", what, path, strerror(err));
        pause_writing(why);
        return KL_ERR_IO;
    }
    pthread_mutex_lock(&sk.fd_lock);
    hk_fd_adopt(&sk.fd, &sk.fd_lock);
    pthread_mutex_unlock(&sk.fd_lock);
    kl_io io = {&sk.fd, NULL, raw_write, NULL};
    kl_writer_opts wo;
    kl_writer_opts_init(&wo);
    wo.program = sk.program;
    /* zstd's level 1: half the CPU of level 3 for a slightly larger file; koala-merge or
     * koala-dump -w --level recompress later, off the service's machine time. */
    wo.level = 1;
    int err = kl_writer_open_io(&sk.w, &io, &wo);
    if (err) {
        snprintf(why, sizeof why, "cannot start %s: %s", path, sk.w ? kl_writer_error(sk.w) : kl_strerror(err));
        kl_writer_close(sk.w);
        sk.w = NULL;
        close_fd();
        syscall(SYS_unlinkat, AT_FDCWD, path, 0); /* a header cut short, no session */
        pause_writing(why);
        return err;
    }
    kl_writer_totals(sk.w, NULL, NULL, &sk.out_bytes);
    sk.in_file = sk.out_sessions = 0;
    sk.file_started = hk_now_ns(CLOCK_MONOTONIC);
    pthread_mutex_lock(&sk.lock);
    sk.totals.files++;
    snprintf(sk.path, sizeof sk.path, "%s", path);
    pthread_mutex_unlock(&sk.lock);
    hk_log(HK_INFO, "recording to %s", path);
    return KL_OK;
}

/* After a frame went out: its sessions are in the file for sure. The first after an error
 * ends that error's pause. */
static void frame_out(void)
{
    uint64_t bytes;
    kl_writer_totals(sk.w, NULL, NULL, &bytes);
    if (bytes == sk.out_bytes)
        return;
    if (sk.retry_ns && sk.in_file > sk.out_sessions) {
        hk_log(HK_INFO, "writing again, to %s: %llu sessions were dropped meanwhile", sk.path,
               (unsigned long long)sk.skipped);
        sk.retry_ns = 0;
        sk.skipped = 0;
    }
    sk.out_sessions = sk.in_file;
    sk.out_bytes = bytes;
}

/* Close the file. Should its last frame or its index not get written (a full disk), the file
 * is cut back to its last whole frame, read as a crashed process's file is, and the sessions
 * of the frame lost are counted: a file left without any is removed. @return KL_OK or the
 * error. */
static int close_file(void)
{
    if (!sk.w)
        return KL_OK;
    int err = kl_writer_close(sk.w);
    sk.w = NULL;
    if (err) {
        sk.lost += sk.in_file - sk.out_sessions;
        sk.skipped += sk.in_file - sk.out_sessions;
        pthread_mutex_lock(&sk.fd_lock);
        off_t end = (off_t)syscall(SYS_lseek, sk.fd, 0, SEEK_END);
        if (end > (off_t)sk.out_bytes && syscall(SYS_ftruncate, sk.fd, (off_t)sk.out_bytes) == 0)
            atomic_fetch_sub_explicit(&file_bytes, (uint64_t)end - sk.out_bytes, memory_order_relaxed);
        pthread_mutex_unlock(&sk.fd_lock);
        if (!sk.out_sessions && syscall(SYS_unlinkat, AT_FDCWD, sk.path, 0) == 0) {
            atomic_fetch_sub_explicit(&file_bytes, sk.out_bytes, memory_order_relaxed);
            pthread_mutex_lock(&sk.lock);
            sk.totals.files--;
            pthread_mutex_unlock(&sk.lock);
        }
    }
    close_fd();
    pthread_mutex_lock(&sk.lock);
    sk.path[0] = '\0';
    pthread_mutex_unlock(&sk.lock);
    return err;
}

/* The file failed (what, the writer's own words in detail): closed, cut back, paused. */
static void file_failed(const char *what, const char *detail)
{
    char why[WHY_MAX];
    snprintf(why, sizeof why, "%s %s: %s", what, sk.path, detail);
    close_file();
    pause_writing(why);
}

/* Write one session; recording fails open: after an error, sessions are dropped for a while
 * (pause_writing). @return whether it counts as written (the caller counts, once per batch;
 * one whose frame is lost later moves to the dropped through sk.lost). */
static bool write_one(kl_session *s)
{
    bool paused = sk.retry_at && hk_now_ns(CLOCK_MONOTONIC) < sk.retry_at;
    int err = paused ? KL_ERR_IO : !sk.w ? open_file() : KL_OK;
    if (!err)
        err = kl_writer_write(sk.w, s);
    if (err) {
        kl_session_free(s);
        if (sk.w)
            file_failed("writing to", kl_writer_error(sk.w));
        sk.skipped++;
        return false;
    }
    sk.in_file++;
    hk_witch_keep_session(s);
    frame_out();
    uint64_t content = 0;
    kl_writer_totals(sk.w, NULL, &content, NULL);
    if (content >= sk.o.rotate_bytes || hk_now_ns(CLOCK_MONOTONIC) - sk.file_started >= sk.o.rotate_ns) {
        char why[WHY_MAX];
        snprintf(why, sizeof why, "closing %s to start the next file: its last frame or index could not "
                 "be written", sk.path);
        if (close_file() != KL_OK)
            pause_writing(why);
    }
    return true;
}

/* Flush once flush_ns has passed since the last flush, or `at_once`. */
static void flush_due(bool at_once)
{
    int64_t now = hk_now_ns(CLOCK_MONOTONIC);
    if (now < sk.next_flush && !at_once)
        return;
    sk.next_flush = now + sk.o.flush_ns;
    if (!sk.w)
        return;
    if (kl_writer_flush(sk.w) != KL_OK)
        file_failed("flushing", kl_writer_error(sk.w));
    else
        frame_out();
}

/* Add a batch's counts (sk.lock held): sessions counted written whose frame was lost move to
 * the dropped. */
static void count(uint64_t written, uint64_t dropped)
{
    sk.totals.written += written;
    sk.totals.written -= sk.lost;
    sk.totals.dropped += dropped + sk.lost;
    sk.lost = 0;
}

static void *writer_main(void *arg)
{
    (void)arg;
    /* Fewer CPUs than the service can use: the queue fills and sessions are dropped
     * (counted), the service is not slowed. */
    hk_own_thread("koala-writer", true);
    /* The last batch's buffer, emptied: the queue's next one, so that the queue allocates
     * only while it grows. */
    kl_buf spare = {0};
    bool busy = false;        /* the last batch had sessions; a wait that finds none ends that */
    pthread_mutex_lock(&sk.lock);
    for (;;) {
        while (!sk.queue.len && !sk.stopping && !atomic_load(&drain)) {
            int64_t wait = sk.next_flush - hk_now_ns(CLOCK_MONOTONIC);
            /* hurried out of the idle class (hk_hurry), the writer flushes what it wrote before
             * going back: there it may not run again for long */
            bool hurried = hk_own_thread_hurried();
            if (wait <= 0 || hurried) {
                pthread_mutex_unlock(&sk.lock);
                flush_due(hurried);
                /* and stays hurried while the collector is, which may be building sessions
                 * for it: they come here before it goes back, so its state is read before
                 * the queue */
                bool collector = hurried && hk_own_threads_hurried();
                pthread_mutex_lock(&sk.lock);
                if (!collector && !sk.queue.len) {
                    pthread_mutex_unlock(&sk.lock);
                    hk_own_thread_calm();
                    pthread_mutex_lock(&sk.lock);
                }
                if (!collector)
                    continue;
                wait = sk.next_flush - hk_now_ns(CLOCK_MONOTONIC);
            }
            int64_t tick = busy ? HK_TICK_BUSY_NS : DRAIN_POLL_NS;
            busy = false;
            if (wait > tick)
                wait = tick;
            struct timespec until = hk_time_after(CLOCK_MONOTONIC, wait);
            pthread_cond_timedwait(&sk.cond, &sk.lock, &until);
        }
        if (atomic_load(&drain) && !sk.stopping && sk.o.before_drain) {
            pthread_mutex_unlock(&sk.lock);
            sk.o.before_drain();
            pthread_mutex_lock(&sk.lock);
        }
        kl_buf batch = sk.queue;
        busy = batch.len != 0;
        sk.queue = spare;
        sk.queued_bytes = 0;
        atomic_store_explicit(&hk_sink_waiting_since, 0, memory_order_relaxed);
        /* A drain is the last batch: the process is about to die of its signal. */
        if (atomic_load(&drain))
            sk.stopping = true;
        bool last = sk.stopping;
        pthread_mutex_unlock(&sk.lock);
        uint64_t written = 0, dropped = 0;
        kl_session **sessions = (kl_session **)(void *)batch.data;
        for (size_t i = 0; i < batch.len / sizeof *sessions; i++) {
            if (write_one(sessions[i]))
                written++;
            else
                dropped++;
        }
        batch.len = 0;
        spare = batch;
        flush_due(false);
        pthread_mutex_lock(&sk.lock);
        count(written, dropped);
        if (last && !sk.queue.len)
            break;
    }
    pthread_mutex_unlock(&sk.lock);
    kl_buf_free(&spare);
    char path[sizeof sk.path];
    snprintf(path, sizeof path, "%s", sk.path);
    if (close_file() != KL_OK)
        hk_log(HK_ERROR, "closing %s: its last frame or index could not be written; %llu sessions lost",
               path, (unsigned long long)sk.lost);
    pthread_mutex_lock(&sk.lock);
    count(0, 0);
    pthread_mutex_unlock(&sk.lock);
    if (atomic_load(&drain)) {
        hk_sink_totals t = hk_sink_get_totals();
        hk_log(HK_INFO, "%s: %llu sessions written, %llu dropped, %llu bytes in %llu files",
               atomic_load(&drain_why), (unsigned long long)t.written, (unsigned long long)t.dropped,
               (unsigned long long)t.bytes, (unsigned long long)t.files);
        atomic_store(&drained, true);
    }
    hk_own_thread_end();
    return NULL;
}

void hk_sink_drain(int64_t timeout_ns, const char *why)
{
    if (!atomic_load(&live))
        return;
    atomic_store(&drain_why, why);
    atomic_store(&drain, true);
    struct timespec step = {0, 5000000};
    for (int64_t waited = 0; waited < timeout_ns && !atomic_load(&drained); waited += step.tv_nsec)
        nanosleep(&step, NULL);
}

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

void hk_sink_start(const hk_sink_opts *o)
{
    pthread_mutex_lock(&sk.lock);
    if (!sk.running) {
        sk.o = *o;
        snprintf(sk.dir, sizeof sk.dir, "%s", o->dir);
        snprintf(sk.program, sizeof sk.program, "%s", o->program && *o->program ? o->program : "koala");
        sk.o.dir = sk.dir;
        sk.o.program = sk.program;
        sk.stopping = false;
        static bool atfork;
        if (!atfork)
            atfork = pthread_atfork(fork_prepare, fork_parent, fork_child) == 0;
        sk.armed = true;
    }
    pthread_mutex_unlock(&sk.lock);
}

/* The writer thread, when the recorder starts collecting or at the first session (sk.lock
 * held): in the process koala was loaded in, or in a forked child, whose fork handler could
 * not start it (a thread created there may need locks the fork left held: an ASan build's
 * allocator deadlocks). A process that records nothing, a short command a service runs,
 * starts no thread. */
static void start_writer(void)
{
    if (sk.running || !sk.armed || sk.stopping)
        return;
    sk.retry_at = sk.retry_ns = 0;
    sk.skipped = sk.lost = 0;
    sk.next_flush = hk_now_ns(CLOCK_MONOTONIC) + sk.o.flush_ns;
    /* made here, not copied: a forked child's copy may count its parent's writer waiting */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sk.cond, &ca);
    pthread_condattr_destroy(&ca);
    if (hk_thread_start(&sk.thread, writer_main, NULL) != 0) {
        hk_log(HK_ERROR, "cannot start the writer thread; recording is off");
        sk.armed = false;
        return;
    }
    sk.running = true;
    atomic_store(&live, true);
}

bool hk_sink_put(kl_session *s)
{
    size_t bytes = hk_session_bytes(s);
    hk_lock_hurrying(&sk.lock);
    start_writer();
    bool first = !sk.queue.len;
    bool ok = sk.running && !sk.stopping && sk.queued_bytes + bytes <= sk.o.max_queue_bytes &&
              kl_buf_append(&sk.queue, &s, sizeof s) == KL_OK;
    if (ok) {
        if (first)
            atomic_store_explicit(&hk_sink_waiting_since, hk_now_ns(CLOCK_REALTIME), memory_order_relaxed);
        sk.queued_bytes += bytes;
        /* The writer looks every DRAIN_POLL_NS by itself: waking it for every session would
         * cost the service a futex call per request. Only a filling queue is urgent. */
        if (sk.queued_bytes >= WAKE_BYTES && sk.queued_bytes - bytes < WAKE_BYTES)
            pthread_cond_signal(&sk.cond);
    } else {
        sk.totals.dropped++;
    }
    pthread_mutex_unlock(&sk.lock);
    if (!ok)
        kl_session_free(s);
    return ok;
}

void hk_sink_run(void)
{
    pthread_mutex_lock(&sk.lock);
    start_writer();
    pthread_mutex_unlock(&sk.lock);
}

void hk_sink_stop(void)
{
    pthread_mutex_lock(&sk.lock);
    bool was = sk.running;
    sk.stopping = true;
    sk.running = false;
    sk.armed = false;
    atomic_store(&live, false);
    /* only a running writer's: a forked child that never started one holds a copy of its
     * parent's condition, whose waiters are not here to be woken */
    if (was)
        pthread_cond_signal(&sk.cond);
    pthread_mutex_unlock(&sk.lock);
    if (was)
        pthread_join(sk.thread, NULL);
}

/* Fork: the prepare handler holds the lock so the child finds the queue consistent. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&sk.lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&sk.lock);
}

/* The child forgets the parent's queue, writer and file without touching them: the parent
 * writes its own copies, and the writer thread may have been halfway through the writer when
 * the fork happened. Forgotten memory is shared copy-on-write and costs the child nothing. */
static void fork_child(void)
{
    pthread_mutex_init(&sk.lock, NULL);
    sk.queue = (kl_buf){0};
    sk.queued_bytes = 0;
    atomic_store(&hk_sink_waiting_since, 0);
    sk.path[0] = '\0';
    pthread_mutex_init(&sk.fd_lock, NULL);
    close_fd();
    sk.w = NULL;
    memset(&sk.totals, 0, sizeof sk.totals);
    atomic_store(&file_bytes, 0);
    sk.running = false; /* armed as the parent is: its writer starts with its first session */
    atomic_store(&live, false);
}

hk_sink_totals hk_sink_get_totals(void)
{
    pthread_mutex_lock(&sk.lock);
    hk_sink_totals t = sk.totals;
    pthread_mutex_unlock(&sk.lock);
    t.bytes = atomic_load_explicit(&file_bytes, memory_order_relaxed);
    return t;
}

void hk_sink_get_state(hk_sink_state *st)
{
    pthread_mutex_lock(&sk.lock);
    st->running = sk.running;
    st->queued = sk.queue.len / sizeof(kl_session *);
    st->queued_bytes = sk.queued_bytes;
    st->max_queue_bytes = sk.o.max_queue_bytes;
    snprintf(st->file, sizeof st->file, "%s", sk.path);
    pthread_mutex_unlock(&sk.lock);
}
