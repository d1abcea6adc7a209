/* net.c - socket helpers shared by the sample service and its client. */
#include "net.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int net_parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon = strrchr(text, ':');
    if (!colon)
        return -1;
    size_t hl = (size_t)(colon - text);
    const char *h = text;
    if (hl >= 2 && text[0] == '[' && text[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int net_write_all(int fd, const char *p, size_t n, bool use_send)
{
    while (n > 0) {
        ssize_t w = use_send ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Finds header `name` in head[0, n) (start line first, "\r\n\r\n" last); sets the trimmed value. */
bool net_head_value(const char *head, size_t n, const char *name, const char **val, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *end = head + n;
    const char *p = memmem(head, n, "\r\n", 2);
    while (p && p + 2 < end) {
        const char *line = p + 2;
        const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (!eol || eol == line)
            break;
        if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1, *e = eol;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *val = v;
            *vlen = (size_t)(e - v);
            return true;
        }
        p = eol;
    }
    return false;
}
