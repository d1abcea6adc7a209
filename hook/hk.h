/* hk.h - the recorder and replayer hook's internals, shared by the hook/ files (hk_ prefix). */
#ifndef HK_H
#define HK_H

#include "koala.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timeb.h>
#include <sys/uio.h>
#include <time.h>

/* -------------------------------------------------------------- real libc */

/* The real libc functions behind every wrapper, found with dlsym(RTLD_NEXT). */
typedef struct hk_real_fns {
#define HOOK(ret, name, params, args) ret (*name) params;
#include "hooks.def"
#undef HOOK
} hk_real_fns;

extern hk_real_fns hk_real;

/* Resolve every real function. Called from the constructor, and lazily by any wrapper that
 * runs first (another library's constructor may call send before ours). A symbol that
 * resolves to our own wrapper, or not at all, stops the process with a clear message: koala
 * would otherwise recurse forever. */
void hk_resolve(void);

/* The real name(...), resolving on first use. */
#define REAL(name) (hk_real.name ? hk_real.name : (hk_resolve(), hk_real.name))

/* The guard's state (hk_real.c): the calling thread's depth inside koala, and koala off. */
extern __thread int hk_depth __attribute__((tls_model("initial-exec")));
extern atomic_bool hk_disabled;
/* The guard held around everything koala does, so its own threads, sockets, mallocs and
 * writes pass straight through the wrappers. @return false when already inside koala or
 * when koala is off for this process; then call the real function and nothing else. Inline:
 * every wrapper takes and leaves it around its real call. */
static inline bool hk_enter(void)
{
    if (hk_depth > 0 || atomic_load_explicit(&hk_disabled, memory_order_relaxed))
        return false;
    hk_depth++;
    return true;
}
static inline void hk_leave(void)
{
    hk_depth--;
}
/* Turn koala off for good in this process (recording fails open). */
void hk_disable(void);
/* For koala's own threads: hold the guard forever, take the name `name` (15 characters at
 * most: what ps -L and top -H show), and run on the CPUs the process had when koala was
 * loaded, not only those of the service's thread that started it. In the idle class
 * (SCHED_IDLE), the thread runs only when the service's threads leave a CPU free, a request
 * arriving taking it back at once: for work off the service's path (building and writing
 * sessions). */
void hk_own_thread(const char *name, bool idle_class);
/* An idle-class thread of koala's is about to end: hk_hurry() forgets it. */
void hk_own_thread_end(void);
/* koala's idle-class threads move to the normal class: a service thread waits for one of them,
 * or the process is stopping (exit, a stop signal: `for_good`) and its exit waits for them to
 * write what it recorded. In the idle class, other processes' load could keep them off the
 * CPU, and the service waiting, for as long as it lasts (seconds beside one busy loop). Takes
 * CAP_SYS_NICE (or an RLIMIT_NICE of 20): without it, nothing changes. Safe in a signal
 * handler. */
void hk_hurry(bool for_good);
/* For an idle-class thread of koala's about to wait for work: back to the idle class if it
 * was hurried, not for good. */
void hk_own_thread_calm(void);
/* Whether hk_own_thread_calm() would move the calling thread back to the idle class. */
bool hk_own_thread_hurried(void);
/* Whether another of koala's idle-class threads is hurried and has not gone back yet: the
 * writer, hurried with the collector, waits for it before going back itself. */
bool hk_own_threads_hurried(void);
/* Lock m, which a service thread must have now and one of koala's idle-class threads may hold:
 * when it is taken, they are hurried first, and the wait lasts as long as their work with it,
 * not as long as other load keeps them off the CPU. */
void hk_lock_hurrying(pthread_mutex_t *m);
/* How often a thread still waiting for such a lock hurries them again: the holder may have
 * gone back to the idle class meanwhile. */
#define HK_HURRY_EVERY_NS 10000000
/* Start one of koala's threads with every signal blocked: a thread takes the mask of the one
 * that creates it, a service's thread, and a service's signal (a SIGTERM, a SIGUSR1 it
 * sigwait()s for) must reach the service, never koala's thread. @return pthread_create's. */
int hk_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* The calling thread's id, asked of the kernel once per thread (and again in a forked child,
 * whose one thread is not the parent's that forked). */
int hk_tid(void);
/* clock's time in nanoseconds (CLOCK_REALTIME: unix ns, as events and sessions are timed). */
static inline int64_t hk_now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
/* clock's time ns from now, as a deadline for pthread_cond_timedwait and timedlock. */
static inline struct timespec hk_time_after(clockid_t clock, int64_t ns)
{
    int64_t t = hk_now_ns(clock) + ns;
    return (struct timespec){(time_t)(t / 1000000000), (long)(t % 1000000000)};
}
/* CLOCK_MONOTONIC in milliseconds, for the replayer's deadlines. */
static inline int64_t hk_mono_ms(void)
{
    return hk_now_ns(CLOCK_MONOTONIC) / 1000000;
}

/* ------------------------------------------------------------------- locks */

/* A lock for the short sections a service thread enters at every call it records (a slot's
 * queue, an fd's entry, the kept files): one atomic operation to take it and one to give it
 * back, inline, where a pthread mutex is two calls into libc of about 30 instructions each
 * (callgrind over rec-static's loop). A thread that finds it taken sleeps on a futex,
 * hurrying koala's idle-class threads every HK_HURRY_EVERY_NS as hk_lock_hurrying() does: the
 * collector holds a slot's queue lock while it swaps the queue. Zeroed, it is free. */
typedef struct hk_lock {
    atomic_uint state; /* 0 free, 1 taken, 2 taken and perhaps waited for */
} hk_lock;
/* The slow paths of hk_lock_take() and hk_lock_give() (hk_lock.c); errno is left alone. */
void hk_lock_wait(hk_lock *l);
void hk_lock_wake(hk_lock *l);
/* Take l, waiting at most until deadline (CLOCK_REALTIME). @return false when it passed. */
bool hk_lock_take_until(hk_lock *l, const struct timespec *deadline);

/* Take l if it is free. @return whether it was. */
static inline bool hk_lock_try(hk_lock *l)
{
    unsigned free_ = 0;
    return atomic_compare_exchange_strong_explicit(&l->state, &free_, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}
static inline void hk_lock_take(hk_lock *l)
{
    if (!hk_lock_try(l))
        hk_lock_wait(l);
}
static inline void hk_lock_give(hk_lock *l)
{
    if (atomic_exchange_explicit(&l->state, 0, memory_order_release) != 1)
        hk_lock_wake(l);
}

/* ------------------------------------------------------------------ config */

typedef enum hk_inbound_protocol {
    HK_INBOUND_AUTO = 0,
    HK_INBOUND_HTTP,
    HK_INBOUND_FASTCGI,
} hk_inbound_protocol;

typedef enum hk_level {
    HK_TRACE = 0,
    HK_DEBUG,
    HK_INFO,
    HK_WARN,
    HK_ERROR,
    HK_FATAL,
} hk_level;

#define HK_MAX_BYPASS 32
#define HK_MAX_WARNINGS 16
#define HK_PATH_MAX 4096

/* Everything read from KOALA_* variables, once, at start. */
typedef struct hk_config {
    char record_dir[HK_PATH_MAX];         /* KOALA_RECORD_TO_DIR; "" records nothing */
    hk_inbound_protocol inbound_protocol; /* KOALA_INBOUND_PROTOCOL */
    char log_file[HK_PATH_MAX];           /* KOALA_LOG_FILE: STDOUT, STDERR or a path */
    hk_level log_level;                   /* KOALA_LOG_LEVEL */
    kl_addr bypass[HK_MAX_BYPASS];        /* KOALA_OUTBOUND_BYPASS_ADDR; family 0 = any IP */
    int n_bypass;
    int64_t gc_timeout_ns;                /* KOALA_GC_GLOBAL_STATUS_TIMEOUT */
    int max_actions;                      /* KOALA_MAX_ACTIONS */
    /* The replayer's. An address given as ":port" is on loopback, 127.0.0.1. */
    kl_addr sut_addr;                     /* KOALA_SUT_ADDR: the service, 127.0.0.1:2515 */
    kl_addr inbound_addr;                 /* KOALA_INBOUND_ADDR: 127.0.0.1:2514 */
    kl_addr outbound_addr;                /* KOALA_OUTBOUND_ADDR: 127.0.0.1:2516 */
    int64_t inbound_read_timeout_ns;      /* KOALA_INBOUND_READ_TIMEOUT: 100ms */
    uint16_t bypass_ports[HK_MAX_BYPASS]; /* KOALA_OUTBOUND_BYPASS_PORT: never redirected */
    int n_bypass_ports;
    kl_match_opts match;                  /* KOALA_REPLAYING_MATCH_STRATEGY, _THRESHOLD */
    kl_addr witch_addr;                   /* KOALA_WITCH_ADDR: 127.0.0.1:8318; empty: off */
    /* A bad value is kept here, to be logged once the log is open, and the default used. */
    char warnings[HK_MAX_WARNINGS][256];
    int n_warnings;
} hk_config;

/* Fill c from the variables that get(name) returns (getenv in the hook; NULL when unset). */
void hk_config_load(hk_config *c, const char *(*get)(const char *name));
/* True when a connection to peer must be left alone: neither recorded nor redirected
 * (KOALA_OUTBOUND_BYPASS_ADDR, KOALA_OUTBOUND_BYPASS_PORT). */
bool hk_config_bypassed(const hk_config *c, const kl_addr *peer);
/* --------------------------------------------------------------------- log */

/* The level's name, "TRACE" to "FATAL". */
const char *hk_level_name(hk_level level);

/* Open the log the configuration names. Never fails the service: on trouble it falls back
 * to stderr and says so there. */
void hk_log_open(const hk_config *c);
/* One line: "2026-11-22T04:50:00.123456Z koala[pid] WARN message". Thread-safe; lines below
 * the configured level cost one comparison. */
void hk_log(hk_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether lines at level are written: test it before preparing costly arguments. */
bool hk_log_on(hk_level level);
/* Rotate now if unix_sec falls in another hour than the open file (hk_log does this itself;
 * a timer may call it so that a quiet process still rotates). */
void hk_log_rotate_at(int64_t unix_sec);
/* Close the log (at exit, and in a forked child before reopening). */
void hk_log_close(void);

/* The latest events logged, kept in memory for the witch: each line that passed the level,
 * at most HK_LOG_KEEP of them and HK_LOG_KEEP_BYTES of text (the oldest go first). Kept from
 * the first line on, whether the log is open or not; not with KOALA_WITCH_ADDR=off. */
#define HK_LOG_KEEP 10000
#define HK_LOG_KEEP_BYTES (2u << 20)
typedef struct hk_log_event {
    uint64_t seq;         /* 1, 2, ... in the order logged; a forked child goes on counting */
    int64_t time;         /* unix ns */
    hk_level level;
    int tid;              /* the thread that logged it */
    const char *text;     /* the message, without the line's time, pid and level; NUL-ended */
    size_t len;
} hk_log_event;
/* The seq the next event will get: events up to hk_log_next() - 1 were logged. Lock-free. */
uint64_t hk_log_next(void);
/* Append the events kept after seq since, oldest first, at most max of them, to out, to be
 * read back with hk_log_event_next(); *first is set to the oldest seq kept (events from
 * since + 1 to *first - 1 were lost). The log's lock is held for the copy only, never for an
 * allocation. @return how many were appended (fewer than asked when out of memory, or when
 * lines logged while out grew do not fit: the next copy has them). */
size_t hk_log_copy(uint64_t since, size_t max, kl_buf *out, uint64_t *first);
/* The event at *off in b (from hk_log_copy), which moves past it; its text points into b.
 * @return false past the last one. */
bool hk_log_event_next(const kl_buf *b, size_t *off, hk_log_event *ev);
/* The witch does not serve this process (another one does, it cannot start, or it stopped):
 * the ring is freed and keeps nothing more. A child forked later keeps one again. */
void hk_log_ring_stop(void);

/* ---------------------------------------------------------------- fd table */

/* What an fd is. Cached per fd number so reads and writes on plain files and pipes cost one
 * load, never an fstat (the original paid one per read). */
typedef enum hk_fd_kind {
    HK_FD_UNKNOWN = 0, /* never seen: classify on first use */
    HK_FD_OTHER,       /* nothing koala records (pipe, tty, regular file not appended) */
    HK_FD_INBOUND,     /* accepted connection */
    HK_FD_OUTBOUND,    /* connected by the service */
    HK_FD_UDP,         /* datagram socket */
    HK_FD_APPEND,      /* file opened with O_APPEND */
    HK_FD_KOALA,       /* koala's own: never recorded */
} hk_fd_kind;

/* fds at or above this are treated as HK_FD_OTHER. */
#define HK_FD_MAX (1 << 20)

typedef struct hk_fd_info {
    hk_fd_kind kind;
    kl_addr peer;
    kl_addr local;
    char file_name[256];       /* HK_FD_APPEND: its absolute path (hk_on_open) */
    uint64_t replay;           /* the token of the replayed session the connection serves, or 0 */
    uint32_t conn;             /* inbound: the connection's serial in the process (kl_event) */
    atomic_int *copies;        /* inbound and outbound: the fds naming the connection, a count
                                  they share, kept by the table from the first dup on; NULL: one */
} hk_fd_info;

/* The table (hk_fd.c): chunks of HK_FD_CHUNK entries, allocated on first use, never freed.
 * Declared here so that the kind lookup on every data call inlines to a few loads. */
#define HK_FD_CHUNK 1024
typedef struct hk_fd_entry {
    atomic_uchar kind;
    atomic_uint gen;             /* changes with every store: a thread's copy is still good */
    _Atomic uint64_t bytes_in, bytes_out; /* since it became what it is, for the witch */
    hk_lock lock;
    hk_fd_info info;
    bool bare;                   /* info holds its kind alone, the rest zero (lock) */
} hk_fd_entry;
extern _Atomic(hk_fd_entry *) hk_fd_chunks[HK_FD_MAX / HK_FD_CHUNK];

/* fd's entry, or NULL when its chunk was never allocated or fd is out of range: lock-free, no
 * call. */
static inline hk_fd_entry *hk_fd_entry_of(int fd)
{
    if (fd < 0 || fd >= HK_FD_MAX)
        return NULL;
    hk_fd_entry *c = atomic_load_explicit(&hk_fd_chunks[fd / HK_FD_CHUNK], memory_order_acquire);
    return c ? &c[fd % HK_FD_CHUNK] : NULL;
}
/* The kind of fd: lock-free, no call. */
static inline hk_fd_kind hk_fd_kind_of(int fd)
{
    if (fd >= HK_FD_MAX)
        return HK_FD_OTHER;
    hk_fd_entry *e = hk_fd_entry_of(fd);
    return e ? (hk_fd_kind)atomic_load_explicit(&e->kind, memory_order_acquire) : HK_FD_UNKNOWN;
}
/* Whether bytes are counted per fd: only while a witch may show them (not with
 * KOALA_WITCH_ADDR=off, nor in a process where another one serves). */
extern atomic_bool hk_fd_counting;
/* n bytes of a recorded call went in or out on fd: counted for the witch, one relaxed
 * atomic add on the entry the call read its kind from. */
static inline void hk_fd_count(int fd, size_t n, bool sent)
{
    hk_fd_entry *e;
    if (atomic_load_explicit(&hk_fd_counting, memory_order_relaxed) && (e = hk_fd_entry_of(fd)))
        atomic_fetch_add_explicit(sent ? &e->bytes_out : &e->bytes_in, n, memory_order_relaxed);
}
/* fd's generation in the table, which changes whenever what it names changes (a close, an open,
 * a dup onto it): lock-free, no call. 0 when the table has never known fd. */
static inline unsigned hk_fd_gen(int fd)
{
    hk_fd_entry *e = hk_fd_entry_of(fd);
    return e ? atomic_load_explicit(&e->gen, memory_order_acquire) : 0;
}
/* What the witch shows of an fd. */
typedef struct hk_fd_stat {
    int fd;
    hk_fd_info info;
    uint64_t bytes_in, bytes_out;
} hk_fd_stat;
/* The fds from *from on that are connections, datagram sockets, appended files or koala's
 * own, ascending, at most max of them (each copied under its entry's lock); *from moves past
 * the last one looked at. @return how many; 0 once past the last fd. */
int hk_fd_list(hk_fd_stat *out, int max, int *from);
/* Everything known of fd, consistent even while another thread changes it, copied under its
 * lock only when its entry changed: the calling thread's copy, valid until its next call.
 * NULL when fd is unknown or out of range. */
const hk_fd_info *hk_fd_peek(int fd);
/* Record what fd is (on accept, connect, open, socket...). */
void hk_fd_set(int fd, const hk_fd_info *info);
/* The same for a kind with no address or name (HK_FD_OTHER, a datagram socket not connected),
 * without copying a whole hk_fd_info. */
void hk_fd_mark(int fd, hk_fd_kind kind);
/* fd was closed: its number may come back as something else. */
void hk_fd_forget(int fd);
/* newfd now names what oldfd names (dup, dup2, dup3, fcntl F_DUPFD). */
void hk_fd_dup(int oldfd, int newfd);
/* fd's connection now serves the replayed session `token` (it keeps its addresses, counters
 * and copies). */
void hk_fd_set_replay(int fd, uint64_t token);
/* How many fds name fd's connection (1 for one not counted); 0 when fd is not known. */
int hk_fd_copies(int fd);

/* koala's own fd, whose number the caller keeps in *fd and uses only while holding lock
 * (held now): moved above the numbers services use, close-on-exec, marked HK_FD_KOALA. A
 * service's close() of it then does nothing, and its dup2()/dup3() onto it first moves it
 * away (hk_fd_evict), so the service can neither close koala's file nor have koala write
 * into one of its own. */
void hk_fd_adopt(int *fd, pthread_mutex_t *lock);
/* Before koala closes an adopted fd itself (with its lock held). */
void hk_fd_disown(int *fd);
/* koala's own fds, ascending, at most max of them. @return how many. */
int hk_fd_owned(int *out, int max);
/* One past the highest fd number the table may know something of. */
int hk_fd_span(void);
/* fd, one of koala's, is about to be replaced (dup2/dup3 onto it): its owner gets a copy
 * elsewhere. Takes the owner's lock. */
void hk_fd_evict(int fd);

/* ------------------------------------------------------ sendfile's files */

/* What an fstat says of a regular file: one content of it. */
typedef struct hk_file_key {
    uint64_t dev, ino, size;
    int64_t mtime, ctime;         /* ns */
} hk_file_key;
#define HK_FILE_KEY(st)                                                                           \
    ((hk_file_key){(uint64_t)(st)->st_dev, (uint64_t)(st)->st_ino, (uint64_t)(st)->st_size,      \
                   (int64_t)(st)->st_mtim.tv_sec * 1000000000 + (st)->st_mtim.tv_nsec,            \
                   (int64_t)(st)->st_ctim.tv_sec * 1000000000 + (st)->st_ctim.tv_nsec})
/* The service's fstat of fd, a regular file, said *k: the calling thread remembers it for a
 * sendfile from fd that follows, while fd names the same open file. */
void hk_file_seen(int fd, const hk_file_key *k);
/* A file's contents kept in memory, shared by the threads reading it. */
typedef struct hk_file hk_file;
/* The n bytes of file fd from start, as sendfile sent them: from memory, when the calling
 * thread's last fstat was of fd and named a file kept, or one small (256 KiB at most) and
 * unchanged for 2 s, read whole now and kept (up to 4 MiB per process).
 * @return them, held by *ref until hk_file_release(*ref); NULL when fd must be read back. */
const uint8_t *hk_file_bytes(int fd, off_t start, size_t n, hk_file **ref);
/* Done with the bytes hk_file_bytes() gave: they may be freed once no longer kept. */
void hk_file_release(hk_file *ref);
/* n references to one file at once (none with NULL or 0): the count sits beside the key that
 * a service thread reads and increments per response, so the collector releasing a run of
 * responses' references with one write, not one each, takes the line from it once. */
void hk_file_release_n(hk_file *ref, unsigned n);
/* What hk_file.c has done since start, for the witch. */
typedef struct hk_file_totals {
    uint64_t hits;                /* sendfiles answered from memory */
    uint64_t loaded;              /* files read whole and kept */
    uint64_t files, bytes;        /* kept now */
} hk_file_totals;
void hk_file_get_totals(hk_file_totals *out);

/* -------------------------------------------------------------------- sink */

/* How long koala's collector and writer threads wait between batches while sessions keep
 * coming, and while none do. With batches of 10 ms rather than 100, rec-nginx
 * (bench_recorder.sh, workers pinned) read a median of 0.903 over 7 runs against 0.880 over 8,
 * alternated, and won 4 of 5 back-to-back pairs; 2 ms read 0.83 and 0.89 (five times the
 * wakeups, some on the CPU the service wants). An idle process is looked at every 100 ms. */
#define HK_TICK_BUSY_NS 10000000
#define HK_TICK_IDLE_NS 100000000
/* Work of koala's threads left waiting this long (events not built, sessions not taken by the
 * writer) moves them out of the idle class (hk_hurry) until they are back at their wait: a
 * crash loses about a second, and other processes' load keeping them off the CPU would lose
 * everything since. Checked at a service thread's events. */
#define HK_LATE_NS 2000000000LL

/* Where finished sessions go: a bounded queue and a writer thread that writes them to
 * DIR/PROGRAM-PID-STARTMS.pb (DIR is created if its parent exists), flushed every flush_ns,
 * rotated by size and age. A full queue
 * drops and counts; the service is never blocked. */
typedef struct hk_sink_opts {
    const char *dir;
    const char *program;
    size_t max_queue_bytes;   /* payload bytes waiting to be written before sessions drop */
    int64_t flush_ns;         /* a crash loses at most about this much */
    uint64_t rotate_bytes;    /* start a new file past this many bytes of sessions (uncompressed) */
    int64_t rotate_ns;        /* and past this age */
    void (*before_drain)(void); /* run by the writer before a signal's drain: last sessions */
} hk_sink_opts;

typedef struct hk_sink_totals {
    uint64_t written, dropped, bytes, files;
} hk_sink_totals;

/* Defaults: 64 MiB queued, flush every second, rotate at 256 MiB or one hour. */
void hk_sink_opts_init(hk_sink_opts *o, const char *dir, const char *program);
/* Make the sink ready for sessions (o is copied). Its writer thread starts with hk_sink_run()
 * or the first session handed over, so a process that records nothing starts none (a thread
 * that cannot be started is logged, and the sessions are dropped and counted). A forked child
 * gets its own thread and file, and forgets its parent's queue. */
void hk_sink_start(const hk_sink_opts *o);
/* Start the writer thread now, unless it runs or the sink is not started: the recorder does so
 * with its first event, so that a stop signal's drain (hk_sink_drain), which cannot start a
 * thread, finds one to write the sessions then in progress. */
void hk_sink_run(void);
/* What s holds in memory, about: its bytes, and a little for each part. The sink's queue and
 * the witch's kept sessions are bounded by it. */
size_t hk_session_bytes(const kl_session *s);
/* Hand over a finished session (taken, freed by the sink). Never waits for a write: it takes
 * the sink's lock for a moment (held by the writer only to swap batches and for its totals;
 * an idle-class writer kept off the CPU while holding it is hurried).
 * @return true when queued, false when dropped (queue full, sink stopped or failed). */
bool hk_sink_put(kl_session *s);
/* Since when (unix ns) the oldest session the writer has not taken yet has waited; 0 when none
 * waits. Read at a service thread's events (hk_hooks_record.c, HK_LATE_NS). */
extern _Atomic int64_t hk_sink_waiting_since;
/* Write everything queued, close the file, stop the thread. Safe to call twice. */
void hk_sink_stop(void);
/* From a SIGTERM or SIGINT handler, or _exit() (async-signal-safe: takes no lock): have the
 * writer write what is queued and close the file, waiting at most timeout_ns; its summary line
 * starts with `why` (a string that lives on). */
void hk_sink_drain(int64_t timeout_ns, const char *why);
/* Sessions written and dropped, file bytes, files opened, so far. */
hk_sink_totals hk_sink_get_totals(void);
/* The writer's queue and file, for the witch. */
typedef struct hk_sink_state {
    bool running;
    size_t queued, queued_bytes, max_queue_bytes;
    char file[HK_PATH_MAX + 320];       /* the file being written, "" between files */
} hk_sink_state;
void hk_sink_get_state(hk_sink_state *st);

/* ------------------------------------------------------------------ events */

/* Builder events kept in a byte buffer with copies of what they point to (the fields their
 * type uses, as koala.h lists them): a service thread appends what it saw, the collector
 * builds the sessions later (hk_events.c). */

/* Append ev, its data the first ev->len bytes of iov's cnt pieces (ev->data is not read): one
 * event for a whole writev. @return KL_OK, KL_ERR_NOMEM or KL_ERR_INVALID (4 GiB of data or
 * more); b is unchanged on error. */
int hk_events_put(kl_buf *b, const kl_event *ev, const struct iovec *iov, int cnt);
/* The same for data in a file kept in memory (hk_file_bytes): not copied, the record holds
 * ev->data and ref, whose reference it takes over. @return as hk_events_put; the caller keeps
 * the reference on error. */
int hk_events_put_held(kl_buf *b, const kl_event *ev, hk_file *ref);
/* The event at *off, which moves past it; its pointers point into b, valid while b is
 * unchanged, or, for a held event, into the file *ref holds: the caller releases that
 * reference (hk_file_release) once done with the data. *ref is NULL otherwise.
 * @return false past the last one. */
bool hk_events_next(const kl_buf *b, size_t *off, kl_event *ev, hk_file **ref);
/* Ask the processor for the next events' room (next, room bytes of it) ready to be written, a
 * hint that never faults: the collector, on another core, last read that memory, and a store to
 * a line another core holds stalls the unlock that follows it, where a prefetch does not. Lines
 * the calling thread's previous call asked for are not asked for again. */
void hk_events_prepare(const uint8_t *next, size_t room);

/* ------------------------------------------------------------------ replay */

#ifndef HK_REPLAY
#define HK_REPLAY 0 /* 1 in libkoala-replayer.so */
#endif

/* One session being replayed (hk_replay.c): the recorded session, its matcher, what the
 * service did meanwhile. The registry also knows each redirected outbound connection (by the
 * address the service's end is bound to: its key) and the session it serves now, and each
 * service thread's current session: that of the replayed inbound connection it read last.
 * Everything the service does while replaying goes through the functions below, called with
 * the guard held. */
typedef struct hk_replay hk_replay;

/* Keep c (copied) for the replayer: its servers start in the process that listens on
 * KOALA_SUT_ADDR, not in every process that loads it (a service's wrapper scripts, the
 * commands it runs). */
void hk_replay_arm(const hk_config *c);
/* listen(fd) succeeded: when fd is bound to KOALA_SUT_ADDR (or to any address on its port),
 * start the servers, once. */
void hk_replay_on_listen(int fd);
/* Stop them at exit. */
void hk_replay_stop(void);
/* The inbound and outbound servers (hk_replay_inbound.c, hk_replay_outbound.c). */
bool hk_replay_inbound_start(const hk_config *c);
void hk_replay_inbound_stop(void);
bool hk_replay_outbound_start(const hk_config *c);
void hk_replay_outbound_stop(void);
/* The outbound server's abstract unix name (the service's unix sockets connect there). */
void hk_replay_outbound_unix(kl_addr *out);

/* Start replaying s (taken) under a fresh token. NULL when out of memory. */
hk_replay *hk_replay_begin(kl_session *s);
/* The recorded session being replayed. */
const kl_session *hk_replay_session(const hk_replay *r);
/* Connections from local belong to r: the service's accept() of one marks its fd. */
void hk_replay_claim(hk_replay *r, const kl_addr *local);
/* End r: the replayed session, with what the service answered (response, when its first byte
 * came) and error (NULL for none); r is forgotten. NULL when out of memory. */
kl_replayed *hk_replay_end(hk_replay *r, const uint8_t *response, size_t len,
                           int64_t response_time, const char *error);
/* The token of the session whose connection peer is (0: none): for hk_on_accept. */
uint64_t hk_replay_token_of(const kl_addr *peer);

/* The service's side. The calling thread read from inbound fd, described by info: its current
 * session is now that of the connection (none for a connection koala did not make). */
void hk_replay_on_inbound(const hk_fd_info *info);
/* connect(fd, addr): where the connection goes instead. @return addr itself (left alone:
 * bypassed, a datagram socket, not IP or unix), out filled with the outbound server's address
 * (fd is then bound to a unique local address, its key, mapped to the calling thread's
 * session), or NULL: refused (ECONNREFUSED), nothing may leave. */
const struct sockaddr *hk_replay_connect(int fd, const struct sockaddr *addr, socklen_t len,
                                         struct sockaddr_storage *out, socklen_t *out_len);
/* to-koala!set-delegated-from-thread-id: the calling thread works for virtual thread vtid's
 * session (0: its own again), that of the replayed connection a thread delegating to vtid read
 * last. */
void hk_replay_delegate(int64_t vtid);
/* The calling thread's current session's token, 0 for none. */
uint64_t hk_replay_current(void);
/* Before the service sends iov on fd (to: the datagram's address or NULL): an outbound
 * connection moves to the calling thread's session; a UDP datagram is kept in it and not
 * sent. @return the datagram's length when it was kept (the wrapper returns it), else -1. */
ssize_t hk_replay_before_send(int fd, const struct iovec *iov, int cnt, const struct sockaddr *to,
                              socklen_t tolen);
/* n bytes of iov were appended to the file fd names: kept in the calling thread's session. */
void hk_replay_on_append(const hk_fd_info *info, const struct iovec *iov, int cnt, size_t n);
/* The service closes fd (info): a redirected connection's key is forgotten. */
void hk_replay_on_close(const hk_fd_info *info);
/* to-koala!call-function / to-koala!return-function: a JSON payload. */
void hk_replay_function(bool call, const uint8_t *json, size_t len);
/* The path open() and fopen() use instead of path, for the calling thread's session's
 * redirect_dirs and mock_files: path itself, or buf (cap bytes) holding the new one. A mock
 * file's content is in a memory file, *tmp_fd, for the caller to close once opened (-1: none). */
const char *hk_replay_path(const char *path, char *buf, size_t cap, int *tmp_fd);
/* For the open wrappers: `use` (declared, holding path) becomes the path to open instead, and
 * OPENED() after the real call closes a mock file's memory file. */
#if HK_REPLAY
#define OPEN_PATH(path, use)                                                                      \
    char moved_[HK_PATH_MAX];                                                                     \
    int mock_fd_ = -1;                                                                            \
    use = hk_replay_path(path, moved_, sizeof moved_, &mock_fd_)
#define OPENED()                                                                                  \
    if (mock_fd_ >= 0)                                                                            \
    REAL(close)(mock_fd_)
#else
#define OPEN_PATH(path, use)
#define OPENED()
#endif
/* How far the calling thread's CLOCK_REALTIME is moved back (ns): the recorded request's time
 * minus the time the service read it; 0 outside replayed sessions. */
int64_t hk_replay_shift(void);

/* The replayer's counters since it started. */
typedef struct hk_replay_totals {
    uint64_t replayed, failed;  /* sessions replayed; of them, with an error */
    uint64_t matched, missed;   /* outbound requests answered from the recording, and not */
} hk_replay_totals;
/* For the witch: the service threads that worked for replayed sessions lately, appended to
 * threads, and the sessions in flight, to in_progress, as JSON array elements; *t the
 * counters. */
void hk_replay_witch(kl_buf *threads, kl_buf *in_progress, hk_replay_totals *t);

/* The outbound server's side, by a connection's key (the peer its accept() saw). What to
 * send first on a new connection: a recorded greeting of its session (the server spoke first
 * on a call to the same peer port), appended to out. @return true when there is one. */
bool hk_replay_greeting(const kl_addr *key, kl_buf *out);
/* Answer req, a whole request the connection sent: the matched call's response appended to
 * out, *last (the connection's last matched index, -1 at first) moved on, and *close_after
 * set when the recorded response ends with the connection. @return false when nothing
 * matches, or no session owns the connection: the caller closes it. Either way the session,
 * if any, keeps the call. */
bool hk_replay_answer(const kl_addr *key, const uint8_t *req, size_t len, int64_t *last,
                      kl_buf *out, bool *close_after);

/* ------------------------------------------------------------------ record */

/* What the wrappers saw, turned into sessions by a per-thread kl_builder and handed to the
 * sink. Every hk_on_* is called with the guard held, after the real call, with what it
 * returned; before hk_record_init() they do nothing. */

/* Start recording with c (copied; the host name and program are looked up once). Without
 * recording, only the fd table is kept, for the replayer. */
void hk_record_init(const hk_config *c, bool recording);
/* fd came from accept/accept4: an inbound connection. */
void hk_on_accept(int fd);
/* socket() returned fd of type (SOCK_DGRAM...): a datagram socket from the start, else what
 * connect or accept make of it. */
void hk_on_socket(int fd, int type);
/* connect(fd, addr) succeeded or is in progress: an outbound connection, unless bypassed. */
void hk_on_connect(int fd, const struct sockaddr *addr, socklen_t len);
/* open/openat returned fd for path: a file opened with O_APPEND is recorded, as append_file. */
void hk_on_open(int fd, const char *path, int flags);
/* fd's status flags were set to flags (fcntl F_SETFL): O_APPEND on a file makes it appended
 * to, as opened so; its absence makes an appended one a plain file. */
void hk_on_setfl(int fd, int flags);
/* Every fd from lo to hi is about to be closed (close_range, closefrom). */
void hk_on_close_range(unsigned lo, unsigned hi);
/* fd is about to be closed (or replaced by dup2/dup3): its number may come back. */
void hk_on_close(int fd);
/* n bytes of buf went out on fd (n <= 0: nothing); on a connected UDP socket, a datagram. */
void hk_on_send(int fd, const void *buf, ssize_t n);
/* A read into buf, len bytes, on fd returned n, with flags (MSG_PEEK: nothing is recorded,
 * the bytes come again; MSG_TRUNC: only what buf holds). 0 is end of stream and -1 with errno
 * EAGAIN on a blocking socket a receive timeout (SO_RCVTIMEO): both an outbound "no answer".
 * Called first thing after the real call, with its errno. */
void hk_on_recv(int fd, const void *buf, size_t len, ssize_t n, int flags);
/* The same, the bytes spread over iov. */
void hk_on_sendv(int fd, const struct iovec *iov, int cnt, ssize_t n);
void hk_on_recvv(int fd, const struct iovec *iov, int cnt, ssize_t n, int flags);
/* A datagram of n bytes sent to to (NULL: the connected peer). */
void hk_on_sendto(int fd, const void *buf, ssize_t n, const struct sockaddr *to, socklen_t len);
/* sendfile(out, in, offset): where in's bytes start, when out is recorded (its kind in *k),
 * else -1. */
off_t hk_sendfile_start(int out, int in, const off_t *offset, hk_fd_kind *k);
/* n bytes of in, from start, went out on out, of kind k (hk_sendfile_start's). */
void hk_on_sendfile(int out, hk_fd_kind k, int in, off_t start, ssize_t n);
/* True when bytes written to fd are recorded (stdio wrappers format only for those). */
bool hk_records_send(int fd);
/* The first n bytes of iov in one piece: iov's own when it has one, else a copy left in
 * *copy for the caller to free. NULL when out of memory. */
const uint8_t *hk_gather(const struct iovec *iov, size_t cnt, size_t n, uint8_t **copy);
/* sendmsg: a datagram when msg names an address on a UDP socket, else stream bytes. */
void hk_on_sendmsg(int fd, const struct msghdr *msg, ssize_t n);
/* Helper messages (hk_hooks_helper.c) acting on the calling thread's session: a
 * read_storage action; end the session in progress (vtid 0: the calling thread's, else that
 * virtual thread's); send the calling thread's traffic to virtual thread vtid (0: its own). */
void hk_record_read_storage(const uint8_t *data, size_t len);
void hk_record_shutdown(int64_t vtid);
void hk_record_delegate(int64_t vtid);
/* The trace header helpers: the header in the original's binary form, a key's value (payload:
 * the key), or set a key (payload: "key\nvalue"). The first two leave an answer. */
typedef enum hk_trace_op {
    HK_TRACE_HEADER,
    HK_TRACE_GET,
    HK_TRACE_SET,
} hk_trace_op;
void hk_record_trace(hk_trace_op op, const uint8_t *payload, size_t len);
/* Copy the calling thread's helper answer into buf and forget it. @return bytes copied. */
size_t hk_record_answer(void *buf, size_t len);
/* The recvfrom flags that read a helper message's answer. */
#define HK_HELPER_ANSWER_FLAGS 127127

/* True when to is 127.127.127.127:127: the datagram is a helper message for koala. */
bool hk_helper_addr(const struct sockaddr *to, socklen_t len);
/* A helper message "<type>\n<payload>"; flags is the integer its sendto flags carry. */
void hk_on_helper(const uint8_t *msg, size_t len, int flags);
/* The same, sent with sendmsg: its pieces gathered. @return the length, or -1 (ENOMEM). */
ssize_t hk_on_helper_msg(const struct msghdr *msg, int flags);

/* Stop the collector thread (started by hk_record_init: every 100 ms it ticks each
 * thread's builder and flushes those idle past gc_timeout_ns), then end every thread's
 * session in progress and hand out what they finished. At exit, before hk_sink_stop(). */
void hk_record_stop(void);
/* From the sink's writer when a stop signal came: every thread's queued events are built, so
 * that the sessions they finish are written, lingering ones included. A lock the signalled
 * thread may hold is waited for 500 ms at most. */
void hk_record_catch_up(void);
/* Builder counters of the threads done so far and of every thread still running. */
void hk_record_totals(kl_builder_totals *t);
/* For the witch: every builder (a thread's, or a virtual thread's), appended to threads, and
 * each session in progress, to in_progress, as JSON array elements; *t the builders'
 * counters as of their last build. */
void hk_record_witch(kl_buf *threads, kl_buf *in_progress, kl_builder_totals *t);

/* ------------------------------------------------------------------- witch */

/* The witch (hk_witch.c): a web page and its JSON, served on KOALA_WITCH_ADDR by a thread of
 * koala's, showing koala's log (the ring), its state and the latest sessions. It starts in a
 * process once it serves requests, and serves there if the port is free: several processes
 * of one service load koala (a wrapper script, a prefork master and its workers), and the
 * first to serve a request takes the port. */

/* Where the state the hook's interposers keep comes from: NULL for a part not running. */
typedef struct hk_witch_sources {
    void (*record)(kl_buf *threads, kl_buf *in_progress, kl_builder_totals *t);
    void (*replay)(kl_buf *threads, kl_buf *in_progress, hk_replay_totals *t);
} hk_witch_sources;

/* Keep c and src (copied): the witch may start later, unless c turns it off. */
void hk_witch_arm(const hk_config *c, const hk_witch_sources *src);
/* The process serves requests (its first accepted connection; the replayer's servers
 * starting): the witch starts, once per process. After the first call, one atomic load. */
void hk_witch_poke(void);
/* Stop it (at exit) and free what it keeps. */
void hk_witch_stop(void);
/* A session written, or replayed (taken): kept among the latest when this process serves the
 * witch, else freed. Never called on a service's thread. */
void hk_witch_keep_session(kl_session *s);
void hk_witch_keep_replayed(kl_replayed *r);
/* JSON for the witch's sources: a comma before the next element or member, unless b is empty
 * or ends with [ { or :; a string in the original koala's escaping (kl_json_bytes), null for
 * NULL; an address as text, null when empty. */
void hk_json_sep(kl_buf *b);
void hk_json_str(kl_buf *b, const char *s);
void hk_json_addr(kl_buf *b, const kl_addr *a);

#endif
