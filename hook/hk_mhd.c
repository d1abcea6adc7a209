/* hk_mhd.c - libmicrohttpd for koala's own HTTP servers: loaded with dlopen, each server
 * polled by a thread of koala's, so that none of its calls is recorded or redirected.
 *
 * libmicrohttpd is loaded when a server starts, not linked: linked, it and the GnuTLS stack
 * it brings would be loaded, and their constructors run, in every process the service
 * spawns; and under AddressSanitizer those constructors (p11-kit's newlocale) run before the
 * sanitizer's own and leave libc's locale lock corrupted, hanging the process at exit. */
#include "hk_mhd.h"

#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

hk_mhd_fns hk_mhd;

#define MAX_SERVERS 4

static struct {
    pthread_mutex_t lock;          /* the library's loading, and the servers running */
    bool tried;
    char why[512];                 /* "" once loaded */
    hk_mhd_server *running[MAX_SERVERS];
} mh = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Load libmicrohttpd, once per process. @return NULL, or why it cannot be used. */
static const char *load(void)
{
    pthread_mutex_lock(&mh.lock);
    if (!mh.tried) {
        mh.tried = true;
        void *h = dlopen(HK_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (!h)
            snprintf(mh.why, sizeof mh.why, "cannot load %s (Debian: libmicrohttpd12): %s",
                     HK_MHD_SONAME, dlerror());
#define X(f)                                                                                      \
    if (h && !mh.why[0] && !(hk_mhd.f = (__typeof__(MHD_##f) *)dlsym(h, "MHD_" #f)))              \
        snprintf(mh.why, sizeof mh.why, "%s has no MHD_" #f, HK_MHD_SONAME);
        HK_MHD_FNS(X)
#undef X
    }
    const char *why = mh.why[0] ? mh.why : NULL;
    pthread_mutex_unlock(&mh.lock);
    return why;
}

int hk_listen(const kl_addr *a, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (kl_addr_to_sockaddr(a, &ss, &len) != KL_OK) {
        errno = EAFNOSUPPORT;
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if ((ss.ss_family != AF_UNIX && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* Whether the server's fds are still the ones it opened. */
static bool intact(const hk_mhd_server *s)
{
    int fds[3] = {s->listen_fd, s->epoll_fd, s->wake};
    for (int i = 0; i < 3; i++) {
        struct stat st;
        if (fds[i] >= 0 && (fstat(fds[i], &st) != 0 || st.st_dev != s->ids[i].st_dev || st.st_ino != s->ids[i].st_ino))
            return false;
    }
    return true;
}

/* Serve until stopped. @return false when the fds are no longer the server's. */
static bool loop(hk_mhd_server *s)
{
    /* libmicrohttpd's epoll fd and the wake-up, polled here; every 200 ms at least, for
     * stop and for the owner's turn; the fds are checked every second. */
    struct pollfd p[2] = {{.fd = s->epoll_fd, .events = POLLIN}, {.fd = s->wake, .events = POLLIN}};
    struct timespec checked = {0};
    while (!atomic_load(&s->stop)) {
        MHD_UNSIGNED_LONG_LONG ms = 200;
        if (hk_mhd.get_timeout(s->d, &ms) != MHD_YES || ms > 200)
            ms = 200;
        int n = poll(p, 2, (int)ms);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        bool check = now.tv_sec != checked.tv_sec || (n > 0 && p[1].revents);
        if ((n > 0 && ((p[0].revents | p[1].revents) & POLLNVAL)) || (check && !intact(s)))
            return false;
        if (check)
            checked = now;
        uint64_t v;
        ssize_t got = n > 0 && p[1].revents ? read(s->wake, &v, sizeof v) : 1;
        if (got == 0 || (got < 0 && errno != EAGAIN))
            return false;
        if (s->turn)
            s->turn(s);
        if (hk_mhd.run(s->d) != MHD_YES)
            return false;
    }
    return true;
}

static void *serve(void *arg)
{
    hk_mhd_server *s = arg;
    hk_own_thread(s->thread_name, false);
    const char *why = load();
    if (why) {
        s->status(s, why, 0);
        return NULL;
    }
    int fd = hk_listen(&s->addr, 64);
    if (fd < 0) {
        s->status(s, "cannot listen", errno);
        return NULL;
    }
    unsigned flags = MHD_ALLOW_SUSPEND_RESUME | MHD_USE_EPOLL | (s->addr.family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = hk_mhd.start_daemon(flags, 0, NULL, NULL, s->handle, s, MHD_OPTION_LISTEN_SOCKET, fd,
                                               MHD_OPTION_NOTIFY_COMPLETED, s->completed, s,
                                               MHD_OPTION_END);
    if (!d) {
        int err = errno;
        close(fd);
        s->status(s, "libmicrohttpd cannot start", err);
        return NULL;
    }
    const union MHD_DaemonInfo *info = hk_mhd.get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
    pthread_mutex_lock(&mh.lock);
    s->d = d;
    s->listen_fd = fd;
    s->epoll_fd = info ? info->epoll_fd : -1;
    int fds[3] = {s->listen_fd, s->epoll_fd, s->wake};
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0 && fstat(fds[i], &s->ids[i]) != 0)
            memset(&s->ids[i], 0, sizeof s->ids[i]);
    pthread_mutex_unlock(&mh.lock);
    s->status(s, NULL, 0);
    if (loop(s)) {
        hk_mhd.stop_daemon(d);
        return NULL;
    }
    /* The daemon is left as it is: stopping it would close numbers the service may use now. */
    pthread_mutex_lock(&mh.lock);
    s->listen_fd = s->epoll_fd = s->wake = -1;
    pthread_mutex_unlock(&mh.lock);
    s->status(s, "the service closed or replaced its fds", 0);
    return NULL;
}

/* The child of a fork has none of the servers' threads: it forgets the servers and closes
 * its copies of their fds (a listening socket kept open by a child would take connections
 * nobody answers once the parent is gone). */
static void fork_prepare(void)
{
    pthread_mutex_lock(&mh.lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&mh.lock);
}

static void fork_child(void)
{
    pthread_mutex_init(&mh.lock, NULL);
    for (int i = 0; i < MAX_SERVERS; i++) {
        hk_mhd_server *s = mh.running[i];
        if (!s)
            continue;
        int fds[] = {s->listen_fd, s->epoll_fd, s->wake};
        for (size_t k = 0; k < sizeof fds / sizeof fds[0]; k++)
            if (fds[k] >= 0)
                syscall(SYS_close, fds[k]);
        s->running = false;
        s->d = NULL;
        mh.running[i] = NULL;
    }
}

bool hk_mhd_start(hk_mhd_server *s, const char *what)
{
    static atomic_bool atfork;
    if (!atomic_exchange(&atfork, true))
        pthread_atfork(fork_prepare, fork_parent, fork_child);
    atomic_store(&s->stop, false);
    s->d = NULL;
    s->listen_fd = s->epoll_fd = -1;
    if ((s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        hk_log(HK_ERROR, "cannot start %s: eventfd: %s", what, strerror(errno));
        return false;
    }
    pthread_mutex_lock(&mh.lock);
    int slot = 0;
    while (slot < MAX_SERVERS && mh.running[slot])
        slot++;
    s->running = slot < MAX_SERVERS && hk_thread_start(&s->thread, serve, s) == 0;
    if (s->running)
        mh.running[slot] = s;
    pthread_mutex_unlock(&mh.lock);
    if (!s->running) {
        hk_log(HK_ERROR, "cannot start %s's thread", what);
        close(s->wake);
    }
    return s->running;
}

void hk_mhd_wake(hk_mhd_server *s)
{
    uint64_t one = 1;
    if (write(s->wake, &one, sizeof one) < 0 && errno != EAGAIN)
        hk_log(HK_DEBUG, "cannot wake an HTTP server of koala's: %s", strerror(errno));
}

void hk_mhd_stop(hk_mhd_server *s)
{
    pthread_mutex_lock(&mh.lock);
    bool was = s->running;
    s->running = false;
    for (int i = 0; i < MAX_SERVERS; i++)
        if (mh.running[i] == s)
            mh.running[i] = NULL;
    pthread_mutex_unlock(&mh.lock);
    if (!was)
        return;
    atomic_store(&s->stop, true);
    hk_mhd_wake(s);
    pthread_join(s->thread, NULL);
    if (s->wake >= 0)
        close(s->wake);
    s->d = NULL;
}

enum MHD_Result hk_mhd_answer(struct MHD_Connection *c, unsigned status, const char *type,
                              const void *data, size_t len)
{
    struct MHD_Response *resp = hk_mhd.create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    hk_mhd.add_response_header(resp, "Content-Type", type);
    /* Nothing koala answers is to be cached, nor read as another type (the witch's pages). */
    hk_mhd.add_response_header(resp, "Cache-Control", "no-store");
    hk_mhd.add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result rc = hk_mhd.queue_response(c, status, resp);
    hk_mhd.destroy_response(resp);
    return rc;
}
