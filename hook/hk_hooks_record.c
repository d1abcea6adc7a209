/* hk_hooks_record.c - what the wrappers saw, as builder events: the fd table says what an fd
 * is, a builder per thread (created at its first inbound byte) cuts sessions, the sink gets
 * them. */
#include "hk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct {
    atomic_bool ready;
    hk_config cfg;
    char host[256], program[256];
    pthread_key_t key;            /* a thread's builder, so that its exit hands out its session */
    pthread_mutex_t lock;
    kl_builder_totals done;       /* of the threads that have exited */
} rc = {.lock = PTHREAD_MUTEX_INITIALIZER};

static __thread kl_builder *tb __attribute__((tls_model("initial-exec")));

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

/* A thread exits: its session in progress ends, its counters are kept. */
static void thread_done(void *arg)
{
    kl_builder *b = arg;
    bool entered = hk_enter();
    kl_builder_flush(b);
    take_all(b);
    kl_builder_totals t;
    kl_builder_get_totals(b, &t);
    pthread_mutex_lock(&rc.lock);
    add_totals(&rc.done, &t);
    pthread_mutex_unlock(&rc.lock);
    kl_builder_free(b);
    tb = NULL;
    if (entered)
        hk_leave();
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
    atomic_store(&rc.ready, true);
}

static kl_builder *builder(bool create)
{
    if (tb || !create)
        return tb;
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
    kl_builder *b;
    if (kl_builder_new(&b, &o) != KL_OK) {
        hk_log(HK_WARN, "thread %d: no memory for a session builder", (int)o.thread_id);
        return NULL;
    }
    pthread_setspecific(rc.key, b);
    return tb = b;
}

static void feed(kl_builder *b, const kl_event *ev)
{
    if (kl_builder_feed(b, ev) == KL_ERR_NOMEM)
        hk_log(HK_WARN, "out of memory: a session was dropped");
    take_all(b);
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
    kl_builder *b = builder(false);
    if (b && (k == HK_FD_INBOUND || k == HK_FD_OUTBOUND)) {
        kl_event ev = {.type = k == HK_FD_INBOUND ? KL_EV_INBOUND_CLOSE : KL_EV_OUTBOUND_CLOSE,
                       .time = now_ns(), .fd = fd};
        feed(b, &ev);
    }
    hk_fd_forget(fd);
}

/* One piece of data on an inbound or outbound socket, or written to an appended file. */
static void on_data(int fd, const void *buf, size_t len, bool sent, hk_fd_kind k)
{
    hk_fd_info info;
    if (!hk_fd_get(fd, &info))
        return;
    kl_builder *b = builder(k == HK_FD_INBOUND && !sent);
    if (!b)
        return;
    kl_event ev = {.time = now_ns(), .fd = fd, .peer = &info.peer, .local = &info.local,
                   .file_name = info.file_name, .data = buf, .len = len};
    if (k == HK_FD_APPEND)
        ev.type = KL_EV_APPEND_FILE;
    else if (k == HK_FD_INBOUND)
        ev.type = sent ? KL_EV_INBOUND_SEND : KL_EV_INBOUND_RECV;
    else
        ev.type = sent ? KL_EV_OUTBOUND_SEND : KL_EV_OUTBOUND_RECV;
    feed(b, &ev);
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
    if (n > 0 && recorded(fd, &k, true))
        on_data(fd, buf, (size_t)n, true, k);
}

void hk_on_recv(int fd, const void *buf, ssize_t n)
{
    hk_fd_kind k;
    /* End of stream on an outbound socket is an answer of nothing; inbound it is no data. */
    if (n >= 0 && recorded(fd, &k, false) && (n > 0 || k == HK_FD_OUTBOUND))
        on_data(fd, buf, (size_t)n, false, k);
}

static void on_vector(int fd, const struct iovec *iov, int cnt, ssize_t n, bool sent)
{
    hk_fd_kind k;
    if (n <= 0 || !recorded(fd, &k, sent))
        return;
    size_t left = (size_t)n;
    for (int i = 0; i < cnt && left > 0; i++) {
        size_t len = iov[i].iov_len < left ? iov[i].iov_len : left;
        if (len > 0)
            on_data(fd, iov[i].iov_base, len, sent, k);
        left -= len;
    }
}

void hk_on_sendv(int fd, const struct iovec *iov, int cnt, ssize_t n)
{
    on_vector(fd, iov, cnt, n, true);
}

void hk_on_recvv(int fd, const struct iovec *iov, int cnt, ssize_t n)
{
    if (n == 0)
        hk_on_recv(fd, NULL, 0);
    else
        on_vector(fd, iov, cnt, n, false);
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
    kl_builder *b = builder(false);
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
    /* One datagram, one action: its pieces gathered into one buffer. */
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

void hk_record_flush_thread(void)
{
    kl_builder *b = builder(false);
    if (!b)
        return;
    kl_builder_flush(b);
    take_all(b);
}

void hk_record_totals(kl_builder_totals *t)
{
    pthread_mutex_lock(&rc.lock);
    *t = rc.done;
    pthread_mutex_unlock(&rc.lock);
    if (tb) {
        kl_builder_totals mine;
        kl_builder_get_totals(tb, &mine);
        add_totals(t, &mine);
    }
}
