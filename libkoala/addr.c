/* addr.c - addresses: parsing and printing "ip:port" and unix forms, socket address conversion. */
#include "kl_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

/* The net a unix address gets when nothing says otherwise: stream sockets, as Go names them. */
#define DEFAULT_UNIX_NET "unix"

static const char *const unix_nets[] = {"unix", "unixgram", "unixpacket"};

/* "80" -> 80. Decimal digits only: no sign, no spaces, at most max. */
static int parse_decimal(const char *p, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    size_t n = 0;
    for (; p[n] >= '0' && p[n] <= '9'; n++) {
        v = v * 10 + (uint64_t)(p[n] - '0');
        if (v > max)
            return KL_ERR_INVALID;
    }
    if (n == 0 || p[n] != '\0')
        return KL_ERR_INVALID;
    *out = (uint32_t)v;
    return KL_OK;
}

static int parse_port(const char *p, uint16_t *port)
{
    uint32_t v;
    if (parse_decimal(p, 65535, &v))
        return KL_ERR_INVALID;
    *port = (uint16_t)v;
    return KL_OK;
}

/* Copy [p, p+len) into a NUL-terminated field of size cap; too long is invalid. */
static int copy_field(char *dst, size_t cap, const char *p, size_t len)
{
    if (len >= cap)
        return KL_ERR_INVALID;
    memcpy(dst, p, len);
    dst[len] = '\0';
    return KL_OK;
}

static int set_unix(kl_addr *a, const char *net, size_t netlen, const char *path)
{
    size_t len = strlen(path);
    if (len == 0 || copy_field(a->unix_path, sizeof a->unix_path, path, len))
        return KL_ERR_INVALID;
    return copy_field(a->unix_net, sizeof a->unix_net, net, netlen);
}

/* Length of a "unix:", "unixgram:" or "unixpacket:" prefix of text, 0 when it has none. */
static size_t unix_prefix(const char *text)
{
    for (size_t i = 0; i < sizeof unix_nets / sizeof unix_nets[0]; i++) {
        size_t n = strlen(unix_nets[i]);
        if (strncmp(text, unix_nets[i], n) == 0 && text[n] == ':')
            return n + 1;
    }
    return 0;
}

/* "[addr]:port" or "[addr%zone]:port". */
static int parse_ip6(const char *text, kl_addr *a)
{
    const char *close = strchr(text, ']');
    if (!close || close[1] != ':')
        return KL_ERR_INVALID;
    char host[INET6_ADDRSTRLEN];
    const char *pct = memchr(text + 1, '%', (size_t)(close - text - 1));
    const char *end = pct ? pct : close;
    if (copy_field(host, sizeof host, text + 1, (size_t)(end - text - 1)) ||
        inet_pton(AF_INET6, host, a->ip) != 1)
        return KL_ERR_INVALID;
    if (pct && (close == pct + 1 || copy_field(a->zone, sizeof a->zone, pct + 1,
                                               (size_t)(close - pct - 1))))
        return KL_ERR_INVALID;
    a->family = AF_INET6;
    return parse_port(close + 2, &a->port);
}

/* "1.2.3.4:80", or ":80" for any IPv4 address. */
static int parse_ip4(const char *text, kl_addr *a)
{
    const char *colon = strrchr(text, ':');
    char host[INET_ADDRSTRLEN];
    if (!colon || copy_field(host, sizeof host, text, (size_t)(colon - text)))
        return KL_ERR_INVALID;
    if (host[0] && inet_pton(AF_INET, host, a->ip) != 1)
        return KL_ERR_INVALID;
    a->family = AF_INET;
    return parse_port(colon + 1, &a->port);
}

int kl_addr_parse(const char *text, kl_addr *a)
{
    memset(a, 0, sizeof *a);
    if (!text)
        return KL_ERR_INVALID;
    size_t pre = unix_prefix(text);
    int err;
    if (strcmp(text, "-") == 0)
        err = KL_OK;
    else if (pre)
        err = set_unix(a, text, pre - 1, text + pre);
    else if (text[0] == '/' || text[0] == '@')
        err = set_unix(a, DEFAULT_UNIX_NET, strlen(DEFAULT_UNIX_NET), text);
    else if (text[0] == '[')
        err = parse_ip6(text, a);
    else
        err = parse_ip4(text, a);
    if (err)
        memset(a, 0, sizeof *a);
    return err;
}

char *kl_addr_format(const kl_addr *a, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    char host[INET6_ADDRSTRLEN] = "";
    if (a->family == AF_INET || a->family == AF_INET6)
        inet_ntop(a->family, a->ip, host, sizeof host);
    if (a->family == AF_INET)
        snprintf(buf, len, "%s:%u", host, (unsigned)a->port);
    else if (a->family == AF_INET6)
        snprintf(buf, len, "[%s%s%s]:%u", host, a->zone[0] ? "%" : "", a->zone, (unsigned)a->port);
    else if (a->unix_path[0])
        snprintf(buf, len, "%s:%s", a->unix_net[0] ? a->unix_net : DEFAULT_UNIX_NET, a->unix_path);
    else
        snprintf(buf, len, "-");
    return buf;
}

/* An abstract name may hold any bytes; NULs inside it are shown as '@', as /proc/net/unix does. */
static int from_sockaddr_un(const struct sockaddr_un *sun, size_t pathlen, kl_addr *a)
{
    memcpy(a->unix_net, DEFAULT_UNIX_NET, sizeof DEFAULT_UNIX_NET);
    if (pathlen == 0)
        return KL_OK; /* unnamed: socketpair(2) or an unbound client */
    if (sun->sun_path[0] != '\0') {
        size_t n = strnlen(sun->sun_path, pathlen);
        return copy_field(a->unix_path, sizeof a->unix_path, sun->sun_path, n);
    }
    if (pathlen >= sizeof a->unix_path)
        return KL_ERR_INVALID;
    for (size_t i = 0; i < pathlen; i++)
        a->unix_path[i] = sun->sun_path[i] ? sun->sun_path[i] : '@';
    a->unix_path[pathlen] = '\0';
    return KL_OK;
}

int kl_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, kl_addr *a)
{
    memset(a, 0, sizeof *a);
    if (!sa || len < (socklen_t)sizeof(sa_family_t))
        return KL_ERR_INVALID;
    int err = KL_ERR_INVALID;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        a->family = AF_INET;
        memcpy(a->ip, &in->sin_addr, 4);
        a->port = ntohs(in->sin_port);
        err = KL_OK;
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        a->family = AF_INET6;
        memcpy(a->ip, &in6->sin6_addr, 16);
        a->port = ntohs(in6->sin6_port);
        /* The zone stays numeric: naming the interface would take a socket call, and
         * libkoala must not re-enter the hook that calls it. */
        if (in6->sin6_scope_id)
            snprintf(a->zone, sizeof a->zone, "%u", (unsigned)in6->sin6_scope_id);
        err = KL_OK;
    } else if (sa->sa_family == AF_UNIX && len <= (socklen_t)sizeof(struct sockaddr_un)) {
        size_t off = offsetof(struct sockaddr_un, sun_path);
        err = from_sockaddr_un((const struct sockaddr_un *)sa, (size_t)len - off, a);
    }
    if (err)
        memset(a, 0, sizeof *a);
    return err;
}

int kl_addr_to_sockaddr(const kl_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip, 4);
        *len = sizeof *in;
    } else if (a->family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(a->port);
        memcpy(&in6->sin6_addr, a->ip, 16);
        if (a->zone[0] && parse_decimal(a->zone, UINT32_MAX, &in6->sin6_scope_id))
            return KL_ERR_INVALID;
        *len = sizeof *in6;
    } else if (a->unix_path[0]) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        un->sun_family = AF_UNIX;
        size_t n = strnlen(a->unix_path, sizeof un->sun_path);
        memcpy(un->sun_path, a->unix_path, n);
        if (un->sun_path[0] == '@')
            un->sun_path[0] = '\0';
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        return KL_ERR_INVALID;
    }
    return KL_OK;
}

bool kl_addr_is_empty(const kl_addr *a)
{
    return a->family == 0 && a->unix_path[0] == '\0';
}

bool kl_addr_equal(const kl_addr *a, const kl_addr *b)
{
    if (a->family != b->family || strcmp(a->unix_path, b->unix_path) != 0)
        return false;
    if (a->family == 0)
        return true;
    size_t iplen = a->family == AF_INET ? 4 : 16;
    return memcmp(a->ip, b->ip, iplen) == 0 && a->port == b->port && strcmp(a->zone, b->zone) == 0;
}
