/* hk_mhd.h - koala's own servers: their listening sockets, and libmicrohttpd for the HTTP
 * ones (the replayer's inbound server, the witch), loaded with dlopen when a server starts,
 * polled by a thread of koala's. */
#ifndef HK_MHD_H
#define HK_MHD_H

#include "hk.h"

#include <microhttpd.h>
#include <sys/stat.h>

/* A nonblocking, close-on-exec socket listening on a: ip:port, with SO_REUSEADDR (a restarted
 * service listens past its old connections in TIME_WAIT; on Linux it never lets two sockets
 * listen on one port), or a unix name. @return its fd, or -1 with errno set. */
int hk_listen(const kl_addr *a, int backlog);

#define HK_MHD_SONAME "libmicrohttpd.so.12"

/* The libmicrohttpd functions koala calls: hk_mhd.f is MHD_f, set before any server's
 * callback runs. */
#define HK_MHD_FNS(X)                                                                             \
    X(start_daemon) X(stop_daemon) X(run) X(get_daemon_info) X(get_timeout)                      \
    X(suspend_connection) X(resume_connection) X(lookup_connection_value)                        \
    X(create_response_from_buffer) X(add_response_header) X(queue_response) X(destroy_response)
typedef struct hk_mhd_fns {
#define X(f) __typeof__(MHD_##f) *f;
    HK_MHD_FNS(X)
#undef X
} hk_mhd_fns;
extern hk_mhd_fns hk_mhd;

/* One server. Its connections can be suspended (MHD_suspend_connection): a connection
 * resumed from another thread needs hk_mhd_wake(), one resumed from a callback does not. */
typedef struct hk_mhd_server hk_mhd_server;
struct hk_mhd_server {
    /* Set by the caller before hk_mhd_start(). */
    kl_addr addr;                           /* ip:port to listen on */
    MHD_AccessHandlerCallback handle;       /* called with the server as its cls */
    MHD_RequestCompletedCallback completed; /* the same */
    /* On the server's thread: listening (why NULL), or not, why saying what failed ("cannot
     * load libmicrohttpd.so.12: ...", "cannot listen"), err the errno of the system call that
     * failed (EADDRINUSE...) or 0. After a failure the thread ends. Called once, or a second
     * time when a server that listened stops: the service closed or replaced its fds. */
    void (*status)(hk_mhd_server *s, const char *why, int err);
    /* On the server's thread at every turn of its loop, at least every 200 ms; NULL for none. */
    void (*turn)(hk_mhd_server *s);
    const char *thread_name;                /* its thread's, as hk_own_thread() takes it */
    /* The server's own. */
    struct MHD_Daemon *d;
    pthread_t thread;
    atomic_bool stop;
    int wake;                               /* an eventfd: look at the connections now */
    int listen_fd, epoll_fd;
    struct stat ids[3];                     /* of listen_fd, epoll_fd and wake, when they opened */
    bool running;                           /* the thread was started and not joined */
};

/* Start s's thread (every signal blocked: the service's signals are the service's), which
 * loads libmicrohttpd, listens and serves. @return false when the thread cannot start
 * (logged, naming what). */
bool hk_mhd_start(hk_mhd_server *s, const char *what);
/* Have the server's thread look at its connections now. */
void hk_mhd_wake(hk_mhd_server *s);
/* Stop the server and join its thread. Nothing when it does not run: never started, or in
 * a forked child, which its thread did not follow (the child's copies of its fds are closed
 * at the fork). A server whose fds the service closed or replaced (a daemon pointing every fd
 * it does not know at /dev/null) stops serving by itself, and leaves every fd alone: their
 * numbers may be the service's by then. */
void hk_mhd_stop(hk_mhd_server *s);
/* Queue an answer on c: status, Content-Type type, len bytes of data (copied), never to be
 * cached (Cache-Control: no-store) nor sniffed (X-Content-Type-Options: nosniff). */
enum MHD_Result hk_mhd_answer(struct MHD_Connection *c, unsigned status, const char *type,
                              const void *data, size_t len);

#endif
