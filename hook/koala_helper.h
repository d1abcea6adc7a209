/* koala_helper.h - talk to koala from inside a service (header only, no library to link).
 *
 * A service running under libkoala-recorder.so can tell koala what it cannot see on the
 * wire. Each message is a UDP datagram "<type>\n<payload>" sent to 127.127.127.127:127 with
 * an integer in the sendto flags; koala consumes it, it never reaches the network. An answer
 * is read back with recvfrom(fd, buf, len, 127127, NULL, NULL). Without koala the calls fail
 * harmlessly (the kernel refuses the flags): a service may call them unconditionally.
 *
 *     koala_read_storage("config v42", 10);         // a read_storage action in the session
 *     koala_set_trace_header_key("rid", "abc");      // the session's trace header
 *     char rid[64];
 *     int n = koala_get_trace_header_key("rid", rid, sizeof rid);
 *     koala_set_delegated_from_thread_id(conn_id);   // this thread now serves conn_id
 *     koala_thread_shutdown(0);                      // the calling thread's session ends
 */
#ifndef KOALA_HELPER_H
#define KOALA_HELPER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define KOALA_HELPER_IP "127.127.127.127"
#define KOALA_HELPER_PORT 127
#define KOALA_HELPER_ANSWER_FLAGS 127127

/* One UDP socket per thread, opened on first use and kept: messages cost no socket churn. */
static inline int koala_helper_fd(void)
{
    static __thread int fd = -1;
    if (fd < 0)
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    return fd;
}

/* Send "<type>\n" and then the n parts as one message, with flags.
 * @return 0, or -1 with errno. */
static inline int koala_send_parts(const char *type, const struct iovec *parts, int n, int flags)
{
    int fd = koala_helper_fd();
    if (fd < 0 || n < 0 || n > 6)
        return -1;
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_port = htons(KOALA_HELPER_PORT);
    to.sin_addr.s_addr = htonl(0x7f7f7f7f);
    struct iovec iov[8] = {{(void *)type, strlen(type)}, {(void *)"\n", 1}};
    for (int i = 0; i < n; i++)
        iov[2 + i] = parts[i];
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &to;
    msg.msg_namelen = sizeof to;
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)(2 + n);
    return sendmsg(fd, &msg, flags) < 0 ? -1 : 0;
}

/* Send "<type>\n<payload>" with flags. @return 0, or -1 with errno. */
static inline int koala_send(const char *type, const void *payload, size_t len, int flags)
{
    struct iovec one = {(void *)payload, len};
    return koala_send_parts(type, &one, 1, flags);
}

/* The answer to the calling thread's last message, at most len bytes (not NUL-terminated).
 * @return its length (0: none), or -1 with errno. */
static inline int koala_recv(void *buf, size_t len)
{
    int fd = koala_helper_fd();
    if (fd < 0)
        return -1;
    return (int)recvfrom(fd, buf, len, KOALA_HELPER_ANSWER_FLAGS, NULL, NULL);
}

/* A read_storage action: what the service read from somewhere koala cannot see. */
static inline int koala_read_storage(const void *data, size_t len)
{
    return koala_send("to-koala!read-storage", data, len, 0);
}

/* End the session in progress of virtual thread vtid, or of the calling thread (0). */
static inline int koala_thread_shutdown(int vtid)
{
    return koala_send("to-koala!thread-shutdown", "", 0, vtid);
}

/* The calling thread's traffic now goes to virtual thread vtid's session (0: its own), for
 * services where one thread serves many requests in turn. */
static inline int koala_set_delegated_from_thread_id(int vtid)
{
    return koala_send("to-koala!set-delegated-from-thread-id", "", 0, vtid);
}

/* The session's trace header in the original koala's binary form (per entry: 16-bit
 * big-endian key length, key, 16-bit value length, value); a trace id "ti" is made on first
 * use. @return its length, or -1. */
static inline int koala_get_trace_header(void *buf, size_t len)
{
    if (koala_send("to-koala!get-trace-header", "", 0, 0) < 0)
        return -1;
    return koala_recv(buf, len);
}

/* The value of key in the session's trace header. @return its length (0: absent), or -1. */
static inline int koala_get_trace_header_key(const char *key, void *buf, size_t len)
{
    if (koala_send("to-koala!get-trace-header-key", key, strlen(key), 0) < 0)
        return -1;
    return koala_recv(buf, len);
}

/* Set key to value in the session's trace header. @return 0, or -1. */
static inline int koala_set_trace_header_key(const char *key, const char *value)
{
    struct iovec parts[3] = {{(void *)key, strlen(key)}, {(void *)"\n", 1}, {(void *)value, strlen(value)}};
    return koala_send_parts("to-koala!set-trace-header-key", parts, 3, 0);
}

#endif
