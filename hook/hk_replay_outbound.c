/* hk_replay_outbound.c - the replayer's outbound server. Every connection the service makes
 * while replaying comes here instead (hk_replay_connect), on KOALA_OUTBOUND_ADDR or, from unix
 * sockets, an abstract name of the process's. Each request, framed by its protocol (HTTP/1.x,
 * RESP, MySQL, FastCGI), is answered at once with the response of the recorded call it
 * matches; only a request of no known protocol waits for a short silence. A request nothing
 * matches closes the connection: nothing the recording cannot answer gets an answer. One epoll
 * thread of koala's own serves every connection. */
#include "hk_mhd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#define GAP_MS 3         /* a request of no known protocol is whole after this silence */
#define STALL_MS 100     /* one a framer still waits on is taken whole after this silence */
#define READ_BYTES 65536

typedef struct oconn {
    int fd;
    kl_addr key;               /* the service's end: which session it serves */
    kl_buf in;                 /* bytes of requests not yet answered */
    kl_frame_state st;         /* progress framing the first of them */
    kl_protocol proto;         /* once known */
    int64_t last;              /* the call matched last on it, -1 for none */
    int64_t whole_at;          /* monotonic ms when what is buffered counts as whole; 0: never */
    kl_buf out;                /* answers not yet written */
    size_t sent;
    bool closing;              /* close once out is written */
    bool want_out;             /* registered for EPOLLOUT */
    struct oconn *prev, *next;
} oconn;

static struct {
    int ep;
    int listeners[2];
    oconn *conns;
    pthread_t thread;
    atomic_bool stop;
    bool running;
} ob = {.ep = -1, .listeners = {-1, -1}};

static void drop(oconn *c)
{
    /* Out of the epoll set before the close: a forked child's copy of the fd would keep it
     * there, its events naming c once freed. */
    epoll_ctl(ob.ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->prev)
        c->prev->next = c->next;
    else
        ob.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    close(c->fd);
    kl_buf_free(&c->in);
    kl_buf_free(&c->out);
    free(c);
}

/* Write what c has to say; wait for EPOLLOUT when the service reads slowly.
 * @return false when c is gone. */
static bool flush(oconn *c)
{
    while (c->sent < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!c->want_out) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                epoll_ctl(ob.ep, EPOLL_CTL_MOD, c->fd, &ev);
                c->want_out = true;
            }
            return true;
        }
        drop(c); /* the service closed its end */
        return false;
    }
    c->out.len = c->sent = 0;
    if (c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ob.ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = false;
    }
    if (c->closing) {
        drop(c);
        return false;
    }
    return true;
}

/* Answer the first n buffered bytes, one request, and forget them. */
static void answer(oconn *c, size_t n)
{
    bool close_after = false;
    if (!hk_replay_answer(&c->key, (const uint8_t *)c->in.data, n, &c->last, &c->out, &close_after) ||
        close_after)
        c->closing = true;
    memmove(c->in.data, c->in.data + n, c->in.len - n);
    c->in.len -= n;
    memset(&c->st, 0, sizeof c->st);
    c->whole_at = 0;
}

/* Answer every whole request buffered; `quiet` when the silence that makes the rest whole has
 * passed. */
static void serve(oconn *c, bool quiet)
{
    while (c->in.len && !c->closing) {
        const uint8_t *d = (const uint8_t *)c->in.data;
        kl_protocol p = c->proto ? c->proto : kl_frame_detect(d, c->in.len);
        size_t n = 0;
        int rc = p ? kl_frame_message(p, 0, d, c->in.len, &c->st, &n) : KL_ERR_INVALID;
        if (rc == KL_OK && n) {
            c->proto = p;
            answer(c, n);
        } else if (quiet) {
            answer(c, c->in.len);
        } else {
            /* Still coming: a framer waiting for more bytes waits long, guessing short. */
            c->whole_at = hk_mono_ms() + (rc == KL_OK ? STALL_MS : GAP_MS);
            return;
        }
    }
}

static void on_readable(oconn *c)
{
    for (;;) {
        if (kl_buf_reserve(&c->in, READ_BYTES) != KL_OK) {
            hk_log(HK_WARN, "outbound server: out of memory reading a request; connection closed");
            drop(c);
            return;
        }
        ssize_t n = recv(c->fd, c->in.data + c->in.len, READ_BYTES, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        /* The service closed it: a request left half-sent is still kept in its session. */
        if (c->in.len)
            serve(c, true);
        drop(c);
        return;
    }
    serve(c, false);
    flush(c);
}

static void on_accept(int lfd)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        oconn *c = calloc(1, sizeof *c);
        if (!c || kl_addr_from_sockaddr((struct sockaddr *)&ss, len, &c->key) != KL_OK) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->last = -1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ob.ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            free(c);
            close(fd);
            continue;
        }
        c->next = ob.conns;
        if (ob.conns)
            ob.conns->prev = c;
        ob.conns = c;
        /* The server speaks first where the recording says so (a MySQL greeting). */
        if (hk_replay_greeting(&c->key, &c->out)) {
            c->proto = kl_frame_detect((const uint8_t *)c->out.data, c->out.len);
            flush(c);
        }
    }
}

/* The time until the nearest request counts as whole, for epoll_wait; 200 ms otherwise, to
 * see the stop flag. */
static int next_timeout(void)
{
    int64_t now = hk_mono_ms(), wait = 200;
    for (oconn *c = ob.conns; c; c = c->next)
        if (c->whole_at && c->whole_at - now < wait)
            wait = c->whole_at - now;
    return wait < 0 ? 0 : (int)wait;
}

static void *outbound_main(void *arg)
{
    (void)arg;
    hk_own_thread("koala-outbound", false);
    struct epoll_event evs[64];
    while (!atomic_load(&ob.stop)) {
        int n = epoll_wait(ob.ep, evs, 64, next_timeout());
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &ob.listeners[0] || p == &ob.listeners[1]) {
                on_accept(*(int *)p);
                continue;
            }
            oconn *c = p;
            if ((evs[i].events & EPOLLOUT) && !flush(c))
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
        }
        int64_t now = hk_mono_ms();
        for (oconn *c = ob.conns, *next; c; c = next) {
            next = c->next;
            if (c->whole_at && c->whole_at <= now) {
                serve(c, true);
                flush(c);
            }
        }
    }
    while (ob.conns)
        drop(ob.conns);
    return NULL;
}

/* A socket listening on a. @return its fd, or -1 (logged). */
static int listen_on(const kl_addr *a)
{
    int fd = hk_listen(a, 1024);
    if (fd < 0) {
        char text[KL_ADDR_STRLEN];
        hk_log(HK_ERROR, "outbound server: cannot listen on %s: %s", kl_addr_format(a, text, sizeof text),
               strerror(errno));
    }
    return fd;
}

/* A forked child has no server thread: it forgets the server and closes its copies of
 * the server's fds. Kept open there, a connection the server closes (a request nothing
 * answers) would stay open for the service, and a listening socket would take connections
 * nobody answers once the parent is gone. */
static void fork_child(void)
{
    if (!ob.running)
        return;
    for (oconn *c = ob.conns; c; c = c->next)
        syscall(SYS_close, c->fd);
    for (int i = 0; i < 2; i++)
        if (ob.listeners[i] >= 0)
            syscall(SYS_close, ob.listeners[i]);
    syscall(SYS_close, ob.ep);
    ob.conns = NULL;
    ob.listeners[0] = ob.listeners[1] = ob.ep = -1;
    ob.running = false;
}

void hk_replay_outbound_unix(kl_addr *out)
{
    char name[64];
    snprintf(name, sizeof name, "@koala-outbound-%ld", (long)getpid());
    kl_addr_parse(name, out);
}

bool hk_replay_outbound_start(const hk_config *c)
{
    kl_addr unix_name;
    hk_replay_outbound_unix(&unix_name);
    ob.listeners[0] = listen_on(&c->outbound_addr);
    ob.listeners[1] = listen_on(&unix_name);
    if (ob.listeners[0] < 0 || (ob.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        goto fail;
    for (int i = 0; i < 2; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ob.listeners[i]};
        if (ob.listeners[i] >= 0 && epoll_ctl(ob.ep, EPOLL_CTL_ADD, ob.listeners[i], &ev) != 0)
            goto fail;
    }
    atomic_store(&ob.stop, false);
    if (hk_thread_start(&ob.thread, outbound_main, NULL) != 0) {
        hk_log(HK_ERROR, "cannot start the outbound server's thread");
        goto fail;
    }
    ob.running = true;
    pthread_atfork(NULL, NULL, fork_child);
    char text[KL_ADDR_STRLEN];
    hk_log(HK_INFO, "replaying: the service's connections go to the outbound server at %s",
           kl_addr_format(&c->outbound_addr, text, sizeof text));
    return true;
fail:
    for (int i = 0; i < 2; i++)
        if (ob.listeners[i] >= 0) {
            close(ob.listeners[i]);
            ob.listeners[i] = -1;
        }
    if (ob.ep >= 0)
        close(ob.ep);
    ob.ep = -1;
    return false;
}

void hk_replay_outbound_stop(void)
{
    if (!ob.running)
        return;
    atomic_store(&ob.stop, true);
    pthread_join(ob.thread, NULL);
    ob.running = false;
    for (int i = 0; i < 2; i++)
        close(ob.listeners[i]);
    close(ob.ep);
}
