/* loop-svc.c - a one-thread event-loop HTTP service for the recorder's tests, built fortified
 * (-O2 -D_FORTIFY_SOURCE=2) as distributions build services. One thread serves every
 * connection, so it tells koala which connection it works for (set-delegated-from-thread-id,
 * a virtual thread per connection). It reads requests with read() and recv() (the fortified
 * __read_chk and __recv_chk), sends static files with sendfile, appends a log line per request
 * through stdio (fopen "a", fprintf, fputs, fwrite), and uses every koala_helper.h message.
 *
 *   loop-svc --listen 127.0.0.1:0 --static FILE --log FILE [--backend HOST:PORT] [--statsd HOST:PORT]
 *
 * Paths: /static (FILE, body by sendfile), /trace (sets the trace header key "rid" to the
 * request's X-Rid, answers it read back, and the whole header's length), /storage (a
 * read_storage action "config=v1"), /open (answers without a length and keeps the connection:
 * ends its session with thread-shutdown, then logs "after shutdown"), /rotate (reopens the
 * log as FILE.2 with freopen, as log rotation does), /slow (asks the backend
 * "ping" with a 200 ms SO_RCVTIMEO, and again after the timeout). Prints "listening on
 * HOST:PORT" once ready. Every request also counts itself to the statsd address twice: with
 * send() on a connected UDP socket, and with sendto() on an unconnected one whose fd number
 * was a directory's, closed inside libc (closedir) where no wrapper saw it. /audit appends a
 * line to FILE.audit, opened by a path going through its own directory and back ("DIR/../
 * DIR/NAME"), and to FILE.audit2, opened relative to its directory's fd, by dprintf (glibc
 * writes it by its internal write; fortified, __dprintf_chk): both with flags the compiler
 * cannot see, so that the fortified opens (__open_2, __openat_2) are called. */
#include "koala_helper.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_CONNS 16

typedef struct conn {
    int fd;
    int vtid;
    int requests;
    char buf[4096];
    size_t len;
} conn;

static const char *static_path, *log_path;
static struct sockaddr_in backend;
static int statsd = -1, statsd_any = -1;
static struct sockaddr_in statsd_to;
static FILE *log_file;

/* "IP:PORT" (IPv4). @return false when it is not one. */
static bool parse_in4(const char *s, struct sockaddr_in *out)
{
    char ip[INET_ADDRSTRLEN];
    int port;
    *out = (struct sockaddr_in){.sin_family = AF_INET};
    if (sscanf(s, "%15[^:]:%d", ip, &port) != 2 || port < 0 || port > 65535 ||
        inet_pton(AF_INET, ip, &out->sin_addr) != 1)
        return false;
    out->sin_port = htons((uint16_t)port);
    return true;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void answer(int fd, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
                     strlen(body));
    write_all(fd, head, (size_t)n);
    write_all(fd, body, strlen(body));
}

/* Ping the backend until it answers, at most 3 times, each wait cut by SO_RCVTIMEO. */
static void ask_backend(int fd)
{
    int up = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {0, 200000};
    if (up < 0 || connect(up, (struct sockaddr *)&backend, sizeof backend) != 0 ||
        setsockopt(up, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
        answer(fd, "no backend\n");
        if (up >= 0)
            close(up);
        return;
    }
    char got[64] = "";
    for (int i = 0; i < 3; i++) {
        write_all(up, "ping\n", 5);
        ssize_t n = recv(up, got, sizeof got - 1, 0);
        if (n > 0) {
            got[n] = 0;
            break;
        }
    }
    close(up);
    char body[128];
    snprintf(body, sizeof body, "backend said %s", got);
    answer(fd, body);
}

static void send_static(int fd)
{
    int in = open(static_path, O_RDONLY);
    struct stat st;
    if (in < 0 || fstat(in, &st) != 0) {
        answer(fd, "no static file\n");
        if (in >= 0)
            close(in);
        return;
    }
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\n\r\n",
                     (long long)st.st_size);
    write_all(fd, head, (size_t)n);
    /* In pieces, from the file's own position: the recorder must follow both. */
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t w = sendfile(fd, in, NULL, left > 7000 ? 7000 : (size_t)left);
        if (w <= 0)
            break;
        left -= w;
    }
    close(in);
}

/* The value of header name in req, or "". */
static void header(const char *req, const char *name, char *out, size_t cap)
{
    out[0] = 0;
    const char *p = strcasestr(req, name);
    if (!p)
        return;
    p += strlen(name);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r\n");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = 0;
}

/* The /audit path (above). */
static void audit(int vtid)
{
    volatile int flags = O_WRONLY | O_APPEND;
    char dir[4096], path[3 * 4096 + 16], line[64];
    snprintf(dir, sizeof dir, "%s", log_path);
    char *slash = strrchr(dir, '/');
    const char *name = slash ? slash + 1 : log_path;
    if (slash)
        *slash = 0;
    const char *up = strrchr(dir, '/');
    snprintf(path, sizeof path, "%s/../%s/%s.audit", dir, up ? up + 1 : dir, name);
    int len = snprintf(line, sizeof line, "audit %d\n", vtid);
    int fd = open(path, flags);
    if (fd < 0 || write(fd, line, (size_t)len) != len)
        exit(1);
    close(fd);
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
    snprintf(path, sizeof path, "%s.audit2", name);
    if (dfd < 0 || (fd = openat(dfd, path, flags)) < 0 || dprintf(fd, "audit %d\n", vtid) != len)
        exit(1);
    close(fd);
    close(dfd);
}

static void serve(conn *c, const char *req)
{
    char method[16], path[256];
    if (sscanf(req, "%15s %255s", method, path) != 2) {
        answer(c->fd, "bad request\n");
        return;
    }
    fputs("request ", log_file);
    fprintf(log_file, "%d %s ", c->vtid, method);
    fwrite(path, 1, strlen(path), log_file);
    fputc('\n', log_file);
    fflush(log_file);
    if (statsd >= 0)
        send(statsd, "loop.requests:1|c", 17, 0);
    if (statsd_any >= 0)
        sendto(statsd_any, "loop.served:1|c", 15, 0, (struct sockaddr *)&statsd_to, sizeof statsd_to);
    if (strcmp(path, "/static") == 0) {
        send_static(c->fd);
    } else if (strcmp(path, "/trace") == 0) {
        char rid[128], got[128], hdr[512], body[512];
        volatile size_t got_cap = sizeof got - 1, hdr_cap = sizeof hdr; /* see on_readable */
        header(req, "\r\nX-Rid:", rid, sizeof rid);
        koala_set_trace_header_key("rid", rid);
        int n = koala_get_trace_header_key("rid", got, got_cap);
        got[n > 0 ? n : 0] = 0;
        int h = koala_get_trace_header(hdr, hdr_cap);
        snprintf(body, sizeof body, "rid=%s header=%d bytes\n", got, h);
        answer(c->fd, body);
    } else if (strcmp(path, "/storage") == 0) {
        koala_read_storage("config=v1", 9);
        answer(c->fd, "read config\n");
    } else if (strcmp(path, "/rotate") == 0) {
        char rotated[4096];
        snprintf(rotated, sizeof rotated, "%s.2", log_path);
        if (!(log_file = freopen(rotated, "a", log_file)))
            exit(1);
        fprintf(log_file, "rotated\n");
        fflush(log_file);
        answer(c->fd, "rotated\n");
    } else if (strcmp(path, "/audit") == 0) {
        audit(c->vtid);
        answer(c->fd, "audited\n");
    } else if (strcmp(path, "/slow") == 0) {
        ask_backend(c->fd);
    } else if (strcmp(path, "/open") == 0) {
        const char *resp = "HTTP/1.1 200 OK\r\n\r\nno length here\n";
        write_all(c->fd, resp, strlen(resp));
        koala_thread_shutdown(0);
        fprintf(log_file, "after shutdown\n");
        fflush(log_file);
    } else {
        answer(c->fd, "hello\n");
    }
}

/* Read what c has, serve each complete request head (bodies are not used). @return false
 * when the connection is done. */
static bool on_readable(conn *c)
{
    koala_set_delegated_from_thread_id(c->vtid);
    /* Alternate read() and recv() so both fortified entry points are used. */
    /* A length the compiler cannot see (as a configured one would be): the reads go to the
     * fortified entry points, which check it against sizeof in at run time. */
    char in[2048];
    volatile size_t cap = sizeof in;
    size_t room = sizeof c->buf - 1 - c->len;
    if (room > cap)
        room = cap;
    ssize_t n = c->requests % 2 ? recv(c->fd, in, room, 0) : read(c->fd, in, room);
    if (n <= 0)
        return n < 0 && errno == EAGAIN;
    memcpy(c->buf + c->len, in, (size_t)n);
    c->len += (size_t)n;
    c->buf[c->len] = 0;
    char *end;
    while ((end = strstr(c->buf, "\r\n\r\n"))) {
        *end = 0;
        serve(c, c->buf);
        c->requests++;
        size_t used = (size_t)(end + 4 - c->buf);
        memmove(c->buf, c->buf + used, c->len - used + 1);
        c->len -= used;
    }
    return c->len < sizeof c->buf - 1;
}

int main(int argc, char **argv)
{
    const char *listen_addr = NULL, *backend_addr = NULL, *statsd_addr = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen") == 0)
            listen_addr = argv[i + 1];
        else if (strcmp(argv[i], "--static") == 0)
            static_path = argv[i + 1];
        else if (strcmp(argv[i], "--log") == 0)
            log_path = argv[i + 1];
        else if (strcmp(argv[i], "--backend") == 0)
            backend_addr = argv[i + 1];
        else if (strcmp(argv[i], "--statsd") == 0)
            statsd_addr = argv[i + 1];
    }
    struct sockaddr_in sa;
    if (!listen_addr || !static_path || !log_path || !parse_in4(listen_addr, &sa) ||
        (backend_addr && !parse_in4(backend_addr, &backend)) ||
        (statsd_addr && !parse_in4(statsd_addr, &statsd_to))) {
        fprintf(stderr, "usage: loop-svc --listen IP:PORT --static FILE --log FILE [--backend IP:PORT] "
                        "[--statsd IP:PORT]\n");
        return 2;
    }
    if (statsd_addr) {
        statsd = socket(AF_INET, SOCK_DGRAM, 0);
        if (statsd >= 0 && connect(statsd, (struct sockaddr *)&statsd_to, sizeof statsd_to) != 0) {
            close(statsd);
            statsd = -1;
        }
        int dfd = open("/", O_RDONLY | O_DIRECTORY);
        DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (dir)
            closedir(dir);
        statsd_any = socket(AF_INET, SOCK_DGRAM, 0);
    }
    log_file = fopen(log_path, "a");
    char audit_path[4096];
    for (int i = 1; i <= 2; i++) { /* /audit's files: the fortified opens cannot create them */
        snprintf(audit_path, sizeof audit_path, i == 1 ? "%s.audit" : "%s.audit2", log_path);
        int fd = open(audit_path, O_WRONLY | O_CREAT, 0644);
        if (fd >= 0)
            close(fd);
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t sl = sizeof sa;
    if (!log_file || bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(ls, 16) != 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) != 0) {
        perror("loop-svc");
        return 1;
    }
    char ip[INET_ADDRSTRLEN];
    printf("listening on %s:%d\n", inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip), ntohs(sa.sin_port));
    fflush(stdout);
    conn conns[MAX_CONNS];
    int nconns = 0, next_vtid = 1001;
    for (;;) {
        struct pollfd pfd[MAX_CONNS + 1] = {{.fd = ls, .events = POLLIN}};
        for (int i = 0; i < nconns; i++)
            pfd[i + 1] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        if (poll(pfd, (nfds_t)nconns + 1, -1) < 0)
            continue;
        for (int i = nconns - 1; i >= 0; i--) {
            if (!pfd[i + 1].revents || on_readable(&conns[i]))
                continue;
            close(conns[i].fd);
            conns[i] = conns[--nconns];
        }
        if ((pfd[0].revents & POLLIN) && nconns < MAX_CONNS) {
            int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0)
                conns[nconns++] = (conn){.fd = fd, .vtid = next_vtid++};
        }
    }
}
