/* hk_hooks_record.c - what the wrappers saw, as builder events: the fd table says what an fd
 * is, a builder per thread (created at its first inbound byte, kept in a registry) cuts
 * sessions, a collector thread ends idle ones, the sink gets them. */
#include "hk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A thread's builder in the registry. Its lock is held by the owning thread while it feeds
 * events and by the collector while it ticks or flushes, so a builder is never used by two
 * threads at once; uncontended, it costs the owner one atomic pair per event. */
typedef struct slot {
    pthread_mutex_t lock;
    kl_builder *b;
    int64_t last;                 /* time of the last event */
    bool idle;                    /* flushed for idleness, no event since */
    struct slot *prev, *next;
} slot;

static struct {
    atomic_bool ready;
    atomic_bool restart;          /* a forked child's collector, started by its first event */
    hk_config cfg;
    char host[256], program[256];
    pthread_key_t key;            /* a thread's slot, so that its exit hands out its session */
    pthread_mutex_t lock;         /* the registry, done; taken before any slot's lock */
    slot *slots;
    kl_builder_totals done;       /* of the threads that have exited */
    pthread_cond_t cond;          /* wakes the collector early to stop it */
    bool collecting, stopping;
    pthread_t collector;
} rc = {.lock = PTHREAD_MUTEX_INITIALIZER};

static __thread slot *my_slot __attribute__((tls_model("initial-exec")));

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void take_all(kl_builder *b)
{
    for (kl_session *s; (s = kl_builder_take(b));)
        hk_sink_put(s);
}

static void add_totals(kl_builder_totals *t, const kl_builder_totals *a)
{
    t->sessions += a->sessions;
    t->truncated += a->truncated;
    t->dropped += a->dropped;
    t->orphans += a->orphans;
    t->dropped_bytes += a->dropped_bytes;
    t->dropped_actions += a->dropped_actions;
}

/* A thread exits: its slot leaves the registry, its session in progress ends, its counters
 * are kept. Unlinked first, so the collector no longer reaches it. */
static void thread_done(void *arg)
{
    slot *sl = arg;
    bool entered = hk_enter();
    pthread_mutex_lock(&rc.lock);
    if (sl->prev)
        sl->prev->next = sl->next;
    else
        rc.slots = sl->next;
    if (sl->next)
        sl->next->prev = sl->prev;
    pthread_mutex_unlock(&rc.lock);
    kl_builder_flush(sl->b);
    take_all(sl->b);
    kl_builder_totals t;
    kl_builder_get_totals(sl->b, &t);
    pthread_mutex_lock(&rc.lock);
    add_totals(&rc.done, &t);
    pthread_mutex_unlock(&rc.lock);
    kl_builder_free(sl->b);
    pthread_mutex_destroy(&sl->lock);
    free(sl);
    my_slot = NULL;
    if (entered)
        hk_leave();
}

/* Every 100 ms: lingering sessions whose delay has passed, and the sessions in progress of
 * threads idle past KOALA_GC_GLOBAL_STATUS_TIMEOUT, go to the sink. */
static void *collector_main(void *arg)
{
    (void)arg;
    hk_own_thread();
    pthread_mutex_lock(&rc.lock);
    while (!rc.stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 100000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&rc.cond, &rc.lock, &until);
        if (rc.stopping)
            break;
        int64_t now = now_ns();
        for (slot *sl = rc.slots; sl; sl = sl->next) {
            pthread_mutex_lock(&sl->lock);
            if (kl_builder_tick(sl->b, now) == KL_ERR_NOMEM)
                hk_log(HK_WARN, "out of memory: a session was dropped");
            if (!sl->idle && now - sl->last >= rc.cfg.gc_timeout_ns) {
                sl->idle = true;
                if (kl_builder_flush(sl->b) == KL_ERR_NOMEM)
                    hk_log(HK_WARN, "out of memory: a session was dropped");
            }
            take_all(sl->b);
            pthread_mutex_unlock(&sl->lock);
        }
    }
    pthread_mutex_unlock(&rc.lock);
    return NULL;
}

/* Start the collector with every signal blocked: a service's SIGTERM must reach the service. */
static void start_collector(void)
{
    pthread_mutex_lock(&rc.lock);
    if (!rc.collecting) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&rc.cond, &ca);
        pthread_condattr_destroy(&ca);
        rc.stopping = false;
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rc.collecting = pthread_create(&rc.collector, NULL, collector_main, NULL) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!rc.collecting)
            hk_log(HK_ERROR, "cannot start the collector thread: idle sessions wait for their thread");
    }
    pthread_mutex_unlock(&rc.lock);
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&rc.lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&rc.lock);
}

/* The child has one thread: the registry keeps only its slot (the others' builders are
 * forgotten, never touched: their owners may have been halfway through a feed), and its
 * collector starts at its first event, not here (thread creation may need locks the fork
 * left held). No slot lock is held: the collector holds them only under rc.lock. */
static void fork_child(void)
{
    pthread_mutex_init(&rc.lock, NULL);
    rc.slots = my_slot;
    if (my_slot) {
        pthread_mutex_init(&my_slot->lock, NULL);
        my_slot->prev = my_slot->next = NULL;
    }
    memset(&rc.done, 0, sizeof rc.done);
    atomic_store(&rc.restart, rc.collecting);
    rc.collecting = false;
}

void hk_record_init(const hk_config *c)
{
    rc.cfg = *c;
    if (gethostname(rc.host, sizeof rc.host) != 0)
        rc.host[0] = 0;
    rc.host[sizeof rc.host - 1] = 0;
    snprintf(rc.program, sizeof rc.program, "%s", program_invocation_short_name);
    if (pthread_key_create(&rc.key, thread_done) != 0) {
        hk_log(HK_ERROR, "cannot create a thread key; recording is off");
        return;
    }
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        hk_log(HK_WARN, "cannot watch forks: a forked child collects no idle sessions");
    start_collector();
    atomic_store(&rc.ready, true);
}

void hk_record_stop(void)
{
    pthread_mutex_lock(&rc.lock);
    bool was = rc.collecting;
    rc.stopping = true;
    rc.collecting = false;
    if (was)
        pthread_cond_signal(&rc.cond);
    pthread_mutex_unlock(&rc.lock);
    if (was)
        pthread_join(rc.collector, NULL);
    atomic_store(&rc.restart, false);
    pthread_mutex_lock(&rc.lock);
    for (slot *sl = rc.slots; sl; sl = sl->next) {
        pthread_mutex_lock(&sl->lock);
        kl_builder_flush(sl->b);
        take_all(sl->b);
        pthread_mutex_unlock(&sl->lock);
    }
    pthread_mutex_unlock(&rc.lock);
}

/* The calling thread's slot, registered at its first inbound byte. */
static slot *builder(bool create)
{
    if (my_slot || !create)
        return my_slot;
    kl_builder_opts o;
    kl_builder_opts_init(&o);
    o.thread_id = gettid();
    o.host = rc.host;
    o.pid = getpid();
    o.program = rc.program;
    o.inbound = rc.cfg.inbound_protocol == HK_INBOUND_HTTP      ? KL_INBOUND_HTTP
                : rc.cfg.inbound_protocol == HK_INBOUND_FASTCGI ? KL_INBOUND_FASTCGI
                                                                : KL_INBOUND_AUTO;
    if (rc.cfg.max_actions > 0)
        o.max_actions = (size_t)rc.cfg.max_actions;
    slot *sl = calloc(1, sizeof *sl);
    if (!sl || kl_builder_new(&sl->b, &o) != KL_OK) {
        hk_log(HK_WARN, "thread %d: no memory for a session builder", (int)o.thread_id);
        free(sl);
        return NULL;
    }
    pthread_mutex_init(&sl->lock, NULL);
    sl->last = now_ns();
    pthread_setspecific(rc.key, sl);
    pthread_mutex_lock(&rc.lock);
    sl->next = rc.slots;
    if (rc.slots)
        rc.slots->prev = sl;
    rc.slots = sl;
    pthread_mutex_unlock(&rc.lock);
    return my_slot = sl;
}

static void feed(slot *sl, const kl_event *ev)
{
    if (atomic_load_explicit(&rc.restart, memory_order_relaxed) && atomic_exchange(&rc.restart, false))
        start_collector();
    pthread_mutex_lock(&sl->lock);
    sl->last = ev->time;
    sl->idle = false;
    if (kl_builder_feed(sl->b, ev) == KL_ERR_NOMEM)
        hk_log(HK_WARN, "out of memory: a session was dropped");
    take_all(sl->b);
    pthread_mutex_unlock(&sl->lock);
}

/* The kind of fd; a socket never seen by accept or connect is looked at once and cached. */
static hk_fd_kind kind_of(int fd)
{
    hk_fd_kind k = hk_fd_kind_of(fd);
    if (k != HK_FD_UNKNOWN || fd < 0 || fd >= HK_FD_MAX)
        return k;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return HK_FD_UNKNOWN;
    hk_fd_info info = {.kind = HK_FD_OTHER};
    int type = 0;
    socklen_t tl = sizeof type;
    if (S_ISSOCK(st.st_mode) && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_DGRAM)
        info.kind = HK_FD_UDP;
    hk_fd_set(fd, &info);
    return info.kind;
}

static void addrs_of(int fd, hk_fd_info *info)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        kl_addr_from_sockaddr((struct sockaddr *)&ss, len, &info->peer);
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        kl_addr_from_sockaddr((struct sockaddr *)&ss, len, &info->local);
}

void hk_on_accept(int fd)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    hk_fd_info info = {.kind = HK_FD_INBOUND};
    addrs_of(fd, &info);
    hk_fd_set(fd, &info);
}

void hk_on_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed) || !addr)
        return;
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0)
        return;
    hk_fd_info info = {.kind = HK_FD_OTHER};
    if (kl_addr_from_sockaddr(addr, len, &info.peer) == KL_OK) {
        if (type == SOCK_DGRAM)
            info.kind = HK_FD_UDP;
        else if (type == SOCK_STREAM && !hk_config_bypassed(&rc.cfg, &info.peer))
            info.kind = HK_FD_OUTBOUND;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        kl_addr_from_sockaddr((struct sockaddr *)&ss, sl, &info.local);
    hk_fd_set(fd, &info);
}

void hk_on_open(int fd, const char *path, int flags)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    hk_fd_info info = {.kind = flags & O_APPEND ? HK_FD_APPEND : HK_FD_OTHER};
    if (flags & O_APPEND)
        snprintf(info.file_name, sizeof info.file_name, "%s", path);
    hk_fd_set(fd, &info);
}

void hk_on_close(int fd)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    hk_fd_kind k = hk_fd_kind_of(fd);
    if (k == HK_FD_UNKNOWN)
        return;
    slot *b = builder(false);
    if (b && (k == HK_FD_INBOUND || k == HK_FD_OUTBOUND)) {
        kl_event ev = {.type = k == HK_FD_INBOUND ? KL_EV_INBOUND_CLOSE : KL_EV_OUTBOUND_CLOSE,
                       .time = now_ns(), .fd = fd};
        feed(b, &ev);
    }
    hk_fd_forget(fd);
}

/* Data on an inbound or outbound socket, or written to an appended file: the first n bytes
 * of iov, one event per piece, with the fd's addresses, the builder and the time looked up
 * once for the whole call. n == 0 is one empty event (end of stream). */
static void on_data(int fd, const struct iovec *iov, int cnt, size_t n, bool sent, hk_fd_kind k)
{
    hk_fd_info info;
    if (!hk_fd_get(fd, &info))
        return;
    slot *b = builder(k == HK_FD_INBOUND && !sent);
    if (!b)
        return;
    kl_event ev = {.time = now_ns(), .fd = fd, .peer = &info.peer, .local = &info.local,
                   .file_name = info.file_name};
    if (k == HK_FD_APPEND)
        ev.type = KL_EV_APPEND_FILE;
    else if (k == HK_FD_INBOUND)
        ev.type = sent ? KL_EV_INBOUND_SEND : KL_EV_INBOUND_RECV;
    else
        ev.type = sent ? KL_EV_OUTBOUND_SEND : KL_EV_OUTBOUND_RECV;
    if (n == 0) {
        feed(b, &ev);
        return;
    }
    size_t left = n;
    for (int i = 0; i < cnt && left > 0; i++) {
        ev.len = iov[i].iov_len < left ? iov[i].iov_len : left;
        ev.data = iov[i].iov_base;
        if (ev.len > 0)
            feed(b, &ev);
        left -= ev.len;
    }
}

static bool recorded(int fd, hk_fd_kind *k, bool sent)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return false;
    *k = kind_of(fd);
    return *k == HK_FD_INBOUND || *k == HK_FD_OUTBOUND || (sent && *k == HK_FD_APPEND);
}

void hk_on_send(int fd, const void *buf, ssize_t n)
{
    hk_fd_kind k;
    struct iovec one = {(void *)buf, n > 0 ? (size_t)n : 0};
    if (n > 0 && recorded(fd, &k, true))
        on_data(fd, &one, 1, (size_t)n, true, k);
}

void hk_on_recv(int fd, const void *buf, ssize_t n)
{
    hk_fd_kind k;
    struct iovec one = {(void *)buf, n > 0 ? (size_t)n : 0};
    /* End of stream on an outbound socket is an answer of nothing; inbound it is no data. */
    if (n >= 0 && recorded(fd, &k, false) && (n > 0 || k == HK_FD_OUTBOUND))
        on_data(fd, &one, 1, (size_t)n, false, k);
}

void hk_on_sendv(int fd, const struct iovec *iov, int cnt, ssize_t n)
{
    hk_fd_kind k;
    if (n > 0 && recorded(fd, &k, true))
        on_data(fd, iov, cnt, (size_t)n, true, k);
}

void hk_on_recvv(int fd, const struct iovec *iov, int cnt, ssize_t n)
{
    hk_fd_kind k;
    if (n >= 0 && recorded(fd, &k, false) && (n > 0 || k == HK_FD_OUTBOUND))
        on_data(fd, iov, cnt, (size_t)n, false, k);
}

void hk_on_sendto(int fd, const void *buf, ssize_t n, const struct sockaddr *to, socklen_t len)
{
    if (n < 0 || !atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    hk_fd_kind k = kind_of(fd);
    if (k == HK_FD_INBOUND || k == HK_FD_OUTBOUND) {
        hk_on_send(fd, buf, n);
        return;
    }
    slot *b = builder(false);
    if (k != HK_FD_UDP || !b)
        return;
    hk_fd_info info;
    kl_addr peer;
    if (to) {
        if (kl_addr_from_sockaddr(to, len, &peer) != KL_OK)
            return;
    } else if (hk_fd_get(fd, &info)) {
        peer = info.peer;
    } else {
        return;
    }
    kl_event ev = {.type = KL_EV_SEND_UDP, .time = now_ns(), .fd = fd, .peer = &peer,
                   .data = buf, .len = (size_t)n};
    feed(b, &ev);
}

void hk_on_sendmsg(int fd, const struct msghdr *msg, ssize_t n)
{
    if (n <= 0 || !atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    if (!msg->msg_name || kind_of(fd) != HK_FD_UDP) {
        hk_on_sendv(fd, msg->msg_iov, (int)msg->msg_iovlen, n);
        return;
    }
    /* One datagram, one action: its pieces gathered into one buffer (unless it has one). */
    if (msg->msg_iovlen == 1) {
        hk_on_sendto(fd, msg->msg_iov[0].iov_base, n, msg->msg_name, msg->msg_namelen);
        return;
    }
    uint8_t *dgram = malloc((size_t)n);
    if (!dgram)
        return;
    size_t got = 0;
    for (size_t i = 0; i < msg->msg_iovlen && got < (size_t)n; i++) {
        size_t len = msg->msg_iov[i].iov_len < (size_t)n - got ? msg->msg_iov[i].iov_len : (size_t)n - got;
        if (len)
            memcpy(dgram + got, msg->msg_iov[i].iov_base, len);
        got += len;
    }
    hk_on_sendto(fd, dgram, n, msg->msg_name, msg->msg_namelen);
    free(dgram);
}

void hk_record_totals(kl_builder_totals *t)
{
    pthread_mutex_lock(&rc.lock);
    *t = rc.done;
    for (slot *sl = rc.slots; sl; sl = sl->next) {
        kl_builder_totals one;
        pthread_mutex_lock(&sl->lock);
        kl_builder_get_totals(sl->b, &one);
        pthread_mutex_unlock(&sl->lock);
        add_totals(t, &one);
    }
    pthread_mutex_unlock(&rc.lock);
}
