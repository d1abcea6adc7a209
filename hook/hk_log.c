/* hk_log.c - koala's own log: KOALA_LOG_FILE (STDOUT, STDERR or a path rotated every hour),
 * and the ring of its latest events that the witch shows.
 *
 * Writes go through raw system calls, never through libc's hooked wrappers, so logging can
 * neither recurse into the hook nor show up in a recording. */
#include "hk.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static struct {
    pthread_mutex_t lock;
    int fd;                 /* -1 until opened: lines go to stderr */
    bool own_fd;            /* a path we opened (and rotate) */
    hk_level level;
    int64_t hour;           /* the hour (unix time / 3600) the open file belongs to */
    char path[HK_PATH_MAX];
} lg = {PTHREAD_MUTEX_INITIALIZER, -1, false, HK_INFO, 0, ""};

/* The ring: an event's text lies in `text` from `off`, placed in the order logged and wrapping
 * to the start where it would not fit, so the oldest event's text is always the next in the
 * way of a new one. Mapped at the first event, not malloc'ed: glibc raises its mmap threshold
 * to the size of any mmapped chunk freed, and a ring freed (hk_log_ring_stop) would send the
 * service's allocations below 2.3 MiB to its heap for good, also in a process koala leaves
 * alone. Without memory the ring is off.
 * Guarded by lg.lock: a line is written and kept under the one lock a service's thread takes
 * to log, and the ring's order is the file's. */
typedef struct ring_event {
    uint64_t seq;
    int64_t time;
    uint32_t off, len;
    int tid;
    hk_level level;
} ring_event;

typedef struct ring {
    ring_event ev[HK_LOG_KEEP];   /* event seq at ev[seq % HK_LOG_KEEP] */
    char text[HK_LOG_KEEP_BYTES];
} ring;

static struct {
    ring *r;                 /* NULL until the first event kept */
    uint64_t first;          /* the oldest event kept; == next when none */
    _Atomic uint64_t next;
    size_t w;                /* where the next text goes */
    bool off;                /* it keeps nothing: KOALA_WITCH_ADDR=off, the witch does not
                              * serve this process, or there was no memory for it */
    bool witch_off;          /* KOALA_WITCH_ADDR=off */
} rg = {NULL, 1, 1, 0, false, false};

const char *hk_level_name(hk_level level)
{
    static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    return level <= HK_FATAL ? names[level] : "?";
}

static void raw_write(int fd, const char *p, size_t len)
{
    while (len) {
        long n = syscall(SYS_write, fd, p, len);
        if (n <= 0)
            return; /* a log that cannot be written is dropped, never retried in a loop */
        p += n;
        len -= (size_t)n;
    }
}

static int raw_open(const char *path)
{
    return (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void now(struct timespec *ts)
{
    syscall(SYS_clock_gettime, CLOCK_REALTIME, ts);
}

/* A fork while another thread logs must not leave the child's lock held: it is taken around
 * the fork (a leaf: nothing else is locked under it), and the child starts it afresh. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&lg.lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&lg.lock);
}

static void fork_child(void)
{
    pthread_mutex_init(&lg.lock, NULL);
    rg.off = rg.witch_off; /* the child may serve a witch of its own, and have the memory */
}

void hk_log_open(const hk_config *c)
{
    static atomic_bool atfork;
    if (!atomic_exchange(&atfork, true))
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    pthread_mutex_lock(&lg.lock);
    rg.off = rg.witch_off = !c->witch_addr.family;
    lg.level = c->log_level;
    lg.own_fd = false;
    if (strcmp(c->log_file, "STDOUT") == 0) {
        lg.fd = STDOUT_FILENO;
    } else if (strcmp(c->log_file, "STDERR") == 0 || !c->log_file[0]) {
        lg.fd = STDERR_FILENO;
    } else {
        snprintf(lg.path, sizeof lg.path, "%s", c->log_file);
        lg.fd = raw_open(lg.path);
        lg.own_fd = lg.fd >= 0;
        if (lg.own_fd)
            hk_fd_adopt(&lg.fd, &lg.lock);
        struct timespec ts;
        now(&ts);
        lg.hour = ts.tv_sec / 3600;
        if (lg.fd < 0) {
            lg.fd = STDERR_FILENO;
            pthread_mutex_unlock(&lg.lock);
            hk_log(HK_ERROR, "KOALA_LOG_FILE=%s cannot be opened; logging to stderr", c->log_file);
            return;
        }
    }
    pthread_mutex_unlock(&lg.lock);
}

/* Past the hour: the file becomes PATH.YYYYMMDDHH (UTC, the hour it holds) and a new one opens.
 * Called with the lock held. */
static void rotate(int64_t hour)
{
    time_t t = (time_t)(lg.hour * 3600);
    struct tm tm;
    gmtime_r(&t, &tm);
    char old[HK_PATH_MAX + 64];
    snprintf(old, sizeof old, "%s.%04d%02d%02d%02d", lg.path, (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100);
    syscall(SYS_renameat, AT_FDCWD, lg.path, AT_FDCWD, old);
    int fd = raw_open(lg.path);
    if (fd >= 0) {
        hk_fd_disown(&lg.fd);
        syscall(SYS_close, lg.fd);
        lg.fd = fd;
        hk_fd_adopt(&lg.fd, &lg.lock);
    }
    lg.hour = hour;
}

bool hk_log_on(hk_level level)
{
    return level >= lg.level;
}

/* Keep one event: its text takes the place of the oldest ones in the way (lg.lock held). */
static void keep(hk_level level, int64_t time, const char *text, size_t len)
{
    if (rg.off)
        return;
    if (!rg.r) {
        void *m = mmap(NULL, sizeof *rg.r, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            rg.off = true;
            return;
        }
        rg.r = m;
    }
    if (rg.w + len + 1 > HK_LOG_KEEP_BYTES)
        rg.w = 0;
    uint64_t next = atomic_load_explicit(&rg.next, memory_order_relaxed);
    while (rg.first < next) {
        const ring_event *old = &rg.r->ev[rg.first % HK_LOG_KEEP];
        if (next - rg.first < HK_LOG_KEEP && (old->off >= rg.w + len + 1 || old->off + old->len + 1 <= rg.w))
            break;
        rg.first++;
    }
    rg.r->ev[next % HK_LOG_KEEP] = (ring_event){next, time, (uint32_t)rg.w, (uint32_t)len, hk_tid(), level};
    memcpy(rg.r->text + rg.w, text, len);
    rg.r->text[rg.w + len] = '\0';
    rg.w += len + 1;
    atomic_store_explicit(&rg.next, next + 1, memory_order_release);
}

void hk_log_ring_stop(void)
{
    pthread_mutex_lock(&lg.lock);
    ring *r = rg.r;
    rg.r = NULL;
    rg.w = 0;
    rg.first = atomic_load_explicit(&rg.next, memory_order_relaxed);
    rg.off = true;
    pthread_mutex_unlock(&lg.lock);
    if (r)
        munmap(r, sizeof *r);
}

uint64_t hk_log_next(void)
{
    return atomic_load_explicit(&rg.next, memory_order_acquire);
}

/* An event in a copy: this header, then its text and a NUL, padded to 8 bytes. */
typedef struct copied {
    uint64_t seq;
    int64_t time;
    uint32_t len;
    int32_t tid;
    int32_t level;
} copied;

/* The bytes an event of len bytes of text takes in a copy: the sizing pass, the copying pass
 * and the reader must agree on it. */
static size_t copied_size(size_t len)
{
    return (sizeof(copied) + len + 1 + 7) & ~(size_t)7;
}

/* The first event kept after seq since (lg.lock held). */
static uint64_t first_after(uint64_t since)
{
    return since + 1 > rg.first ? since + 1 : rg.first;
}

/* The bytes the copies of events from seq on take, at most max of them (lg.lock held). */
static size_t copy_size(uint64_t seq, uint64_t next, size_t max)
{
    size_t size = 0;
    for (size_t n = 0; seq < next && n < max; seq++, n++)
        size += copied_size(rg.r->ev[seq % HK_LOG_KEEP].len);
    return size;
}

size_t hk_log_copy(uint64_t since, size_t max, kl_buf *out, uint64_t *first)
{
    /* Sized under the lock, allocated outside it: a service's thread logging, or closing an
     * fd, never waits for a malloc of the witch's. Lines logged in between may not fit: the
     * copy then stops short, and the next one has them. */
    pthread_mutex_lock(&lg.lock);
    size_t size = copy_size(first_after(since), atomic_load_explicit(&rg.next, memory_order_relaxed), max);
    pthread_mutex_unlock(&lg.lock);
    if (size && kl_buf_reserve(out, size) != KL_OK)
        size = 0;
    size_t done = 0, room = size;
    pthread_mutex_lock(&lg.lock);
    uint64_t next = atomic_load_explicit(&rg.next, memory_order_relaxed);
    *first = rg.first;
    for (uint64_t seq = first_after(since); seq < next && done < max; seq++) {
        const ring_event *e = &rg.r->ev[seq % HK_LOG_KEEP];
        size_t n = copied_size(e->len);
        if (n > room)
            break;
        copied c = {e->seq, e->time, e->len, e->tid, (int32_t)e->level};
        char *p = out->data + out->len;
        memset(p, 0, n);
        memcpy(p, &c, sizeof c);
        memcpy(p + sizeof c, rg.r->text + e->off, e->len);
        out->len += n;
        room -= n;
        done++;
    }
    pthread_mutex_unlock(&lg.lock);
    return done;
}

bool hk_log_event_next(const kl_buf *b, size_t *off, hk_log_event *ev)
{
    if (*off + sizeof(copied) > b->len)
        return false;
    copied c;
    memcpy(&c, b->data + *off, sizeof c);
    *ev = (hk_log_event){c.seq, c.time, (hk_level)c.level, c.tid, b->data + *off + sizeof c, c.len};
    *off += copied_size(c.len);
    return true;
}

void hk_log(hk_level level, const char *fmt, ...)
{
    if (level < lg.level)
        return;
    char line[1024];
    struct timespec ts;
    now(&ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ koala[%ld] %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000, (long)getpid(), hk_level_name(level));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 5) { /* cut: say so */
        len = sizeof line - 5;
        memcpy(line + len, "...", 3);
        len += 3;
    }
    line[len++] = '\n';
    pthread_mutex_lock(&lg.lock);
    if (lg.own_fd && ts.tv_sec / 3600 != lg.hour)
        rotate(ts.tv_sec / 3600);
    raw_write(lg.fd < 0 ? STDERR_FILENO : lg.fd, line, len);
    keep(level, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, line + n, len - (size_t)n - 1);
    pthread_mutex_unlock(&lg.lock);
}

void hk_log_rotate_at(int64_t unix_sec)
{
    pthread_mutex_lock(&lg.lock);
    if (lg.own_fd && unix_sec / 3600 != lg.hour)
        rotate(unix_sec / 3600);
    pthread_mutex_unlock(&lg.lock);
}

void hk_log_close(void)
{
    pthread_mutex_lock(&lg.lock);
    if (lg.own_fd) {
        hk_fd_disown(&lg.fd);
        syscall(SYS_close, lg.fd);
    }
    lg.fd = -1;
    lg.own_fd = false;
    pthread_mutex_unlock(&lg.lock);
}
