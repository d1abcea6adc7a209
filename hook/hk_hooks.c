/* hk_hooks.c - the wrappers: the libc functions of hooks.def, each calling the real one and
 * telling hk_hooks_record.c what it transferred. One shape (STYLE.md): real call first, only
 * the bytes actually moved are recorded, the caller gets the real value and errno. */
#include "hk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdarg.h>
#include <sys/sendfile.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* A wrapper whose real call returns n: `before` runs first, with the guard held (it may
 * return), `after` is the bookkeeping. */
#define WRAP_AROUND(type, name, args, before, after)                                              \
    do {                                                                                          \
        if (!hk_enter())                                                                          \
            return REAL(name) args;                                                               \
        before;                                                                                   \
        type n = REAL(name) args;                                                                 \
        int saved = errno;                                                                        \
        after;                                                                                    \
        hk_leave();                                                                               \
        errno = saved;                                                                            \
        return n;                                                                                 \
    } while (0)

#define WRAP(type, name, args, after) WRAP_AROUND(type, name, args, , after)

/* The same for a data call on fd: an fd koala knows it does not record (a file, a pipe) goes
 * straight to libc at the cost of a few loads, before the guard and errno are touched. */
#define WRAP_FD(type, name, fd, args, after)                                                      \
    do {                                                                                          \
        if (hk_fd_kind_of(fd) == HK_FD_OTHER)                                                     \
            return REAL(name) args;                                                               \
        WRAP(type, name, args, after);                                                            \
    } while (0)

/* Replaying, before the service sends iov on fd: a datagram is kept and not sent (the wrapper
 * returns as if it was), an outbound connection moves to the calling thread's session. The
 * arguments are evaluated only in the replayer. */
#if HK_REPLAY
#define BEFORE_SEND(fd, iov, cnt, to, tolen)                                                      \
    {                                                                                             \
        ssize_t kept_ = hk_replay_before_send(fd, iov, cnt, to, tolen);                           \
        if (kept_ >= 0) {                                                                         \
            hk_leave();                                                                           \
            return kept_;                                                                         \
        }                                                                                         \
    }
#else
#define BEFORE_SEND(fd, iov, cnt, to, tolen)
#endif

/* A send on fd: WRAP_FD with BEFORE_SEND. */
#define WRAP_SEND(name, fd, args, iov, cnt, to, tolen, after)                                     \
    do {                                                                                          \
        if (hk_fd_kind_of(fd) == HK_FD_OTHER)                                                     \
            return REAL(name) args;                                                               \
        WRAP_AROUND(ssize_t, name, args, BEFORE_SEND(fd, iov, cnt, to, tolen), after);            \
    } while (0)

/* An open-like wrapper: args name the file `use`, path moved when replaying (OPEN_PATH). */
#define WRAP_OPEN(name, path, args, after)                                                        \
    do {                                                                                          \
        const char *use = path;                                                                   \
        WRAP_AROUND(int, name, args, OPEN_PATH(path, use), OPENED(); after);                      \
    } while (0)

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    WRAP(int, accept, (fd, addr, len), if (n >= 0) hk_on_accept(n));
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    WRAP(int, accept4, (fd, addr, len, flags), if (n >= 0) hk_on_accept(n));
}

#if HK_REPLAY
/* The process that listens on KOALA_SUT_ADDR is the service: the replayer's servers start. */
EXPORT int listen(int fd, int backlog)
{
    WRAP(int, listen, (fd, backlog), if (n == 0) hk_replay_on_listen(fd));
}
#endif

/* A new socket may take the number of an fd closed where no wrapper saw it (inside libc). */
EXPORT int socket(int domain, int type, int protocol)
{
    WRAP(int, socket, (domain, type, protocol), if (n >= 0) hk_on_socket(n, type));
}

/* A nonblocking connect in progress is a connection too. Replaying, the connection goes to
 * the outbound server instead (hk_replay_connect), or is refused; the fd table keeps the
 * address the service asked for. */
EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (!hk_enter())
        return REAL(connect)(fd, addr, len);
    const struct sockaddr *to = addr;
    socklen_t tolen = len;
#if HK_REPLAY
    struct sockaddr_storage instead;
    if (!(to = hk_replay_connect(fd, addr, len, &instead, &tolen))) {
        hk_leave();
        errno = ECONNREFUSED;
        return -1;
    }
#endif
    int n = REAL(connect)(fd, to, tolen);
    int saved = errno;
    if (n == 0 || saved == EINPROGRESS)
        hk_on_connect(fd, addr, len);
    hk_leave();
    errno = saved;
    return n;
}

/* The bookkeeping comes before the real close: once closed, another thread may get the
 * same number back and describe it before we would forget the old one. */
EXPORT int close(int fd)
{
    /* koala's own file stays open: the service believes it closed what it never opened. */
    if (hk_fd_kind_of(fd) == HK_FD_KOALA)
        return 0;
    if (!hk_enter())
        return REAL(close)(fd);
    hk_on_close(fd);
    hk_leave();
    return REAL(close)(fd);
}

/* close_range and closefrom close around koala's own fds: each range is cut at them. */
EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
    if (!hk_enter())
        return REAL(close_range)(lo, hi, flags);
    if (!(flags & CLOSE_RANGE_CLOEXEC))
        hk_on_close_range(lo, hi);
    int own[4], n = hk_fd_owned(own, 4), rc = 0;
    unsigned from = lo;
    bool done = false;
    for (int i = 0; i < n && !rc && !done; i++) {
        unsigned k = (unsigned)own[i];
        if (k < from || k > hi)
            continue;
        if (k > from)
            rc = REAL(close_range)(from, k - 1, flags);
        done = k == hi;
        from = k + 1;
    }
    if (!rc && !done)
        rc = REAL(close_range)(from, hi, flags);
    int saved = errno;
    hk_leave();
    errno = saved;
    return rc;
}

/* Through close_range() above; glibc's own closefrom() only where the kernel has no
 * close_range (before Linux 5.9), and it closes koala's files too. */
EXPORT void closefrom(int lowfd)
{
    if (lowfd < 0 || close_range((unsigned)lowfd, ~0U, 0) != 0)
        REAL(closefrom)(lowfd);
}

EXPORT int dup(int fd)
{
    WRAP(int, dup, (fd), if (n >= 0) hk_fd_dup(fd, n));
}

/* dup2 and dup3 close fd2 first when it is open: the same bookkeeping as close. When fd2 is
 * koala's own, koala's copy moves elsewhere first. */
EXPORT int dup2(int fd, int fd2)
{
    if (hk_fd_kind_of(fd2) == HK_FD_KOALA && fd != fd2)
        hk_fd_evict(fd2);
    WRAP(int, dup2, (fd, fd2), if (n >= 0 && fd != fd2) { hk_on_close(fd2); hk_fd_dup(fd, fd2); });
}

EXPORT int dup3(int fd, int fd2, int flags)
{
    if (hk_fd_kind_of(fd2) == HK_FD_KOALA && fd != fd2)
        hk_fd_evict(fd2);
    WRAP(int, dup3, (fd, fd2, flags), if (n >= 0) { hk_on_close(fd2); hk_fd_dup(fd, fd2); });
}

/* F_DUPFD and F_DUPFD_CLOEXEC make a copy, as dup does; F_SETFL may make a file appended to
 * or no longer. */
static void on_fcntl(int fd, int cmd, int n, void *arg)
{
    if (n < 0)
        return;
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        hk_fd_dup(fd, n);
    else if (cmd == F_SETFL)
        hk_on_setfl(fd, (int)(intptr_t)arg);
}

/* The third argument is taken as a pointer, as glibc does: it is wide enough for an int and for
 * the struct pointers. Programs built with _FILE_OFFSET_BITS=64 (Python, most distributions'
 * servers) call fcntl64 and openat64. */
#define FCNTL(name)                                                                               \
    EXPORT int name(int fd, int cmd, ...)                                                         \
    {                                                                                             \
        va_list ap;                                                                               \
        va_start(ap, cmd);                                                                        \
        void *arg = va_arg(ap, void *);                                                           \
        va_end(ap);                                                                               \
        WRAP(int, name, (fd, cmd, arg), on_fcntl(fd, cmd, n, arg));                               \
    }
FCNTL(fcntl)
FCNTL(fcntl64)

/* The mode is there only when the flags create a file. */
#define MODE_ARG(flags)                                                                           \
    mode_t mode = 0;                                                                              \
    if ((flags) & (O_CREAT | O_TMPFILE)) {                                                        \
        va_list ap;                                                                               \
        va_start(ap, flags);                                                                      \
        mode = (mode_t)va_arg(ap, int);                                                           \
        va_end(ap);                                                                               \
    }

EXPORT int open(const char *path, int flags, ...)
{
    MODE_ARG(flags);
    WRAP_OPEN(open, path, (use, flags, mode), if (n >= 0) hk_on_open(n, path, flags));
}

EXPORT int open64(const char *path, int flags, ...)
{
    MODE_ARG(flags);
    WRAP_OPEN(open64, path, (use, flags, mode), if (n >= 0) hk_on_open(n, path, flags));
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags);
    WRAP_OPEN(openat, path, (dirfd, use, flags, mode), if (n >= 0) hk_on_open(n, path, flags));
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    MODE_ARG(flags);
    WRAP_OPEN(openat64, path, (dirfd, use, flags, mode), if (n >= 0) hk_on_open(n, path, flags));
}

/* The fortified opens (_FORTIFY_SOURCE), which glibc's headers call where the flags are not
 * known at compile time and no mode is given: they take no mode, and refuse O_CREAT. Declared
 * here: the headers declare them only when fortifying. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

EXPORT int __open_2(const char *path, int flags)
{
    WRAP_OPEN(__open_2, path, (use, flags), if (n >= 0) hk_on_open(n, path, flags));
}

EXPORT int __open64_2(const char *path, int flags)
{
    WRAP_OPEN(__open64_2, path, (use, flags), if (n >= 0) hk_on_open(n, path, flags));
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    WRAP_OPEN(__openat_2, path, (dirfd, use, flags), if (n >= 0) hk_on_open(n, path, flags));
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    WRAP_OPEN(__openat64_2, path, (dirfd, use, flags), if (n >= 0) hk_on_open(n, path, flags));
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    WRAP_SEND(send, fd, (fd, buf, len, flags), (&(struct iovec){(void *)buf, len}), 1, NULL, 0,
              hk_on_send(fd, buf, n));
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    WRAP_FD(ssize_t, recv, fd, (fd, buf, len, flags), hk_on_recv(fd, buf, len, n, flags));
}

/* A datagram to koala's helper address is a message for koala: consumed, never sent. */
EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to,
                      socklen_t tolen)
{
    if (!hk_enter())
        return REAL(sendto)(fd, buf, len, flags, to, tolen);
    if (hk_helper_addr(to, tolen)) {
        hk_on_helper(buf, len, flags);
        hk_leave();
        return (ssize_t)len;
    }
    BEFORE_SEND(fd, (&(struct iovec){(void *)buf, len}), 1, to, tolen)
    ssize_t n = REAL(sendto)(fd, buf, len, flags, to, tolen);
    int saved = errno;
    hk_on_sendto(fd, buf, n, to, tolen);
    hk_leave();
    errno = saved;
    return n;
}

/* recvfrom with the helper flags reads koala's answer to the last helper message. */
#define RECVFROM(name, params, args)                                                              \
    EXPORT ssize_t name params                                                                    \
    {                                                                                             \
        if (!hk_enter())                                                                          \
            return REAL(name) args;                                                               \
        if (flags == HK_HELPER_ANSWER_FLAGS) {                                                    \
            ssize_t n = (ssize_t)hk_record_answer(buf, len);                                      \
            if (fromlen)                                                                          \
                *fromlen = 0; /* from koala, which has no address */                              \
            hk_leave();                                                                           \
            return n;                                                                             \
        }                                                                                         \
        ssize_t n = REAL(name) args;                                                              \
        int saved = errno;                                                                        \
        hk_on_recv(fd, buf, len, n, flags);                                                       \
        hk_leave();                                                                               \
        errno = saved;                                                                            \
        return n;                                                                                 \
    }

RECVFROM(recvfrom, (int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen),
         (fd, buf, len, flags, from, fromlen))

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (!hk_enter())
        return REAL(sendmsg)(fd, msg, flags);
    if (hk_helper_addr(msg->msg_name, msg->msg_namelen)) {
        ssize_t n = hk_on_helper_msg(msg, flags);
        hk_leave();
        return n;
    }
    BEFORE_SEND(fd, msg->msg_iov, (int)msg->msg_iovlen, msg->msg_name, msg->msg_namelen)
    ssize_t n = REAL(sendmsg)(fd, msg, flags);
    int saved = errno;
    hk_on_sendmsg(fd, msg, n);
    hk_leave();
    errno = saved;
    return n;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    WRAP(ssize_t, recvmsg, (fd, msg, flags),
         hk_on_recvv(fd, msg->msg_iov, (int)msg->msg_iovlen, n, flags));
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    WRAP_FD(ssize_t, read, fd, (fd, buf, len), hk_on_recv(fd, buf, len, n, 0));
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    WRAP_SEND(write, fd, (fd, buf, len), (&(struct iovec){(void *)buf, len}), 1, NULL, 0,
              hk_on_send(fd, buf, n));
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    WRAP_FD(ssize_t, readv, fd, (fd, iov, cnt), hk_on_recvv(fd, iov, cnt, n, 0));
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    WRAP_SEND(writev, fd, (fd, iov, cnt), iov, cnt, NULL, 0, hk_on_sendv(fd, iov, cnt, n));
}

/* The fortified reads (_FORTIFY_SOURCE): the real one checks len against buflen. Declared
 * here: the headers declare them only when fortifying. */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *from, socklen_t *fromlen);

EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    WRAP_FD(ssize_t, __read_chk, fd, (fd, buf, len, buflen), hk_on_recv(fd, buf, len, n, 0));
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    WRAP_FD(ssize_t, __recv_chk, fd, (fd, buf, len, buflen, flags),
         hk_on_recv(fd, buf, len, n, flags));
}

RECVFROM(__recvfrom_chk, (int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *from,
                         socklen_t *fromlen), (fd, buf, len, buflen, flags, from, fromlen))

/* sendfile moves file bytes the wrapper never sees: on a recorded socket they are read back
 * from the file, from where the copy started. out's kind is looked up once, before the call. */
#define SENDFILE(name)                                                                            \
    EXPORT ssize_t name(int out, int in, off_t *offset, size_t count)                            \
    {                                                                                             \
        if (!hk_enter())                                                                          \
            return REAL(name)(out, in, offset, count);                                            \
        hk_fd_kind k;                                                                             \
        off_t start = hk_sendfile_start(out, in, offset, &k);                                     \
        ssize_t n = REAL(name)(out, in, offset, count);                                           \
        int saved = errno;                                                                        \
        if (n > 0 && start >= 0)                                                                  \
            hk_on_sendfile(out, k, in, start, n);                                                 \
        hk_leave();                                                                               \
        errno = saved;                                                                            \
        return n;                                                                                 \
    }
ssize_t sendfile64(int out, int in, off_t *offset, size_t count);
SENDFILE(sendfile)
SENDFILE(sendfile64)

/* A static server fstats the file it sends: what it learns names the bytes sendfile will send,
 * which hk_file.c may then have in memory. Nothing else is done, no guard is needed, and a
 * successful fstat leaves errno alone. fstatat names an open file with AT_EMPTY_PATH and an
 * empty path. */
#define FSTAT(name, type)                                                                         \
    EXPORT int name(int fd, type *st)                                                             \
    {                                                                                             \
        int n = REAL(name)(fd, st);                                                               \
        if (n == 0 && S_ISREG(st->st_mode))                                                       \
            hk_file_seen(fd, &HK_FILE_KEY(st));                                                   \
        return n;                                                                                 \
    }
static bool names_dirfd(const char *path, int flags)
{
    return (flags & AT_EMPTY_PATH) && (!path || !*path); /* NULL too, since Linux 6.11 */
}
#define FSTATAT(name, type)                                                                       \
    EXPORT int name(int dirfd, const char *path, type *st, int flags)                             \
    {                                                                                             \
        int n = REAL(name)(dirfd, path, st, flags);                                               \
        if (n == 0 && names_dirfd(path, flags) && S_ISREG(st->st_mode))                           \
            hk_file_seen(dirfd, &HK_FILE_KEY(st));                                                \
        return n;                                                                                 \
    }
FSTAT(fstat, struct stat)
FSTAT(fstat64, struct stat64)
FSTATAT(fstatat, struct stat)
FSTATAT(fstatat64, struct stat64)
