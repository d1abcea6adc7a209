/* hk_hooks_helper.c - helper messages: datagrams a service sends to 127.127.127.127:127 to
 * talk to koala (the original koala's protocol). They are consumed here, never sent; an
 * answer is read back with recvfrom(fd, buf, len, 127127, ...). */
#include "hk.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

bool hk_helper_addr(const struct sockaddr *to, socklen_t len)
{
    if (!to || len < (socklen_t)sizeof(struct sockaddr_in) || to->sa_family != AF_INET)
        return false;
    const struct sockaddr_in *in = (const struct sockaddr_in *)to;
    return in->sin_addr.s_addr == htonl(0x7f7f7f7f) && in->sin_port == htons(127);
}

static bool is(const char *type, size_t len, const char *name)
{
    return len == strlen(name) && memcmp(type, name, len) == 0;
}

void hk_on_helper(const uint8_t *msg, size_t len, int flags)
{
    const uint8_t *nl = memchr(msg, '\n', len);
    if (!nl) {
        hk_log(HK_DEBUG, "helper message without a newline after its type: ignored");
        return;
    }
    const char *type = (const char *)msg;
    size_t tlen = (size_t)(nl - msg);
    const uint8_t *body = nl + 1;
    size_t blen = len - tlen - 1;
    hk_log(HK_DEBUG, "helper message %.*s, %zu bytes of payload, flags %d", (int)tlen, type, blen, flags);
    if (is(type, tlen, "to-koala!read-storage"))
        hk_record_read_storage(body, blen);
    else if (is(type, tlen, "to-koala!thread-shutdown"))
        hk_record_shutdown(flags);
    else if (is(type, tlen, "to-koala!set-delegated-from-thread-id")) {
        hk_record_delegate(flags);
#if HK_REPLAY
        hk_replay_delegate(flags);
#endif
    }
    else if (is(type, tlen, "to-koala!get-trace-header"))
        hk_record_trace(HK_TRACE_HEADER, NULL, 0);
    else if (is(type, tlen, "to-koala!get-trace-header-key"))
        hk_record_trace(HK_TRACE_GET, body, blen);
    else if (is(type, tlen, "to-koala!set-trace-header-key"))
        hk_record_trace(HK_TRACE_SET, body, blen);
#if HK_REPLAY
    else if (is(type, tlen, "to-koala!call-function"))
        hk_replay_function(true, body, blen);
    else if (is(type, tlen, "to-koala!return-function"))
        hk_replay_function(false, body, blen);
#endif
    else
        hk_log(HK_DEBUG, "helper message %.*s: not for %s, ignored", (int)tlen, type,
               HK_REPLAY ? "koala" : "the recorder");
}

ssize_t hk_on_helper_msg(const struct msghdr *msg, int flags)
{
    size_t len = 0;
    for (size_t i = 0; i < msg->msg_iovlen; i++)
        len += msg->msg_iov[i].iov_len;
    uint8_t *copy;
    const uint8_t *all = hk_gather(msg->msg_iov, msg->msg_iovlen, len, &copy);
    if (!all) {
        errno = ENOMEM;
        return -1;
    }
    hk_on_helper(all, len, flags);
    free(copy);
    return (ssize_t)len;
}
