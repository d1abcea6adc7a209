/* sample-svc.c - the sample service koala records and replays: a threaded HTTP/1.1 JSON API that,
 * per request, calls Redis and an HTTP backend, appends a log line and sends a statsd metric.
 *
 * Plain libc and pthreads, no koala code: it runs under libkoala-recorder.so or -replayer.so as is.
 * Each kind of socket uses its own family of calls, so every recorder hook gets exercised:
 *   listening socket   accept4(), called by every worker of a pre-threaded pool
 *   inbound            recv() for requests, writev() for responses (head and body, two iovecs)
 *   Redis              write() and read(), RESP written and parsed here
 *   HTTP backend       send() and recv(), Content-Length, chunked and close-delimited bodies
 *   statsd             sendto() with an address, on an unconnected UDP socket
 *   log file           open(O_APPEND) once, then one write() per line
 * Each worker keeps its own Redis and backend connections alive across requests and inbound
 * connections, so outbound connections outlive the sessions that opened them.
 *
 * Routes (README, "The sample service"):
 *   GET /user/ID   Redis INCR visits:user:ID, backend GET /profile/ID, Redis GET last-order:user:ID
 *   POST /order    body {"user":N,"item":"name","qty":N}: Redis INCR orders:seq, backend GET
 *                  /price/ITEM (answered chunked), Redis SET last-order:user:N ORDER
 *   GET /visits/FIRST-LAST  Redis GET visits:user:N for each user N (at most 20): a session
 *                  with many outbound calls
 *   GET /health    no outbound call
 * --variant changed turns the visits key into visits:user:{ID} (a cluster hash tag) and the
 * greeting of GET /user from "hello, NAME" into "welcome back, NAME": one outbound query and one
 * response field, for the koala-diff demo. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum {
    HEAD_MAX = 8192,      /* request or response head, start line included */
    BODY_MAX = 65536,     /* request body, backend response body */
    OUT_BUF = 16384,      /* read buffer of an outbound connection */
    ANSWER_MAX = 4096,    /* our JSON answers */
    STR_MAX = 256,        /* a string taken from a backend or Redis reply */
    IO_TIMEOUT_S = 5,     /* an outbound call that hangs longer fails with 502 */
    IDLE_TIMEOUT_S = 30,  /* an idle keep-alive client gives its worker back */
    THREADS_MAX = 1024,
    VISITS_MAX = 20,      /* users in one GET /visits */
};

struct addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[80];        /* as given: 127.0.0.1:6379 or [::1]:6379 */
};

/* Buffered reader over one socket; unread bytes are buf[off, off + len). */
struct stream {
    int fd;
    bool use_recv;        /* recv() for inbound and backend sockets, read() for Redis */
    char *buf;
    size_t cap, off, len;
};

struct svc;

/* One pool thread with its outbound connections; conn_fd is guarded by svc->lock. */
struct worker {
    pthread_t tid;
    struct svc *svc;
    int conn_fd;
    struct stream in, redis, backend;
    char body[BODY_MAX];  /* the last backend response body */
    char err[256];        /* why the last outbound call failed */
};

struct svc {
    struct addr listen, backend, redis, statsd;
    bool has_statsd, changed;
    const char *log_path;
    int nthreads;
    int listen_fd, log_fd, udp_fd;
    pthread_mutex_t lock; /* orders stopping against workers taking a connection */
    atomic_bool stopping;
    atomic_ulong served;
    struct worker *workers;
};

struct request {
    char method[8];
    char path[256];
    bool keep_alive;
    const char *body;     /* borrowed from the inbound stream until `used` bytes are skipped */
    size_t body_len, used;
};

struct answer {
    int status;
    const char *route;    /* the metric's name part */
    char body[ANSWER_MAX];
    size_t len;
    char detail[160];     /* the end of the log line */
};

struct resp {             /* a Redis reply */
    char type;            /* ':' integer, '$' bulk, '+' status, '-' error */
    bool nil;
    long long num;
    char str[STR_MAX];
};

/* The signal handler only posts this; main waits on it (sem_post is async-signal-safe). */
static sem_t stop_sem;

static void on_stop_signal(int sig)
{
    (void)sig;
    sem_post(&stop_sem);
}

/* ------------------------------------------------------------------ addresses and sockets */

/* Parses HOST:PORT or [HOST]:PORT with a numeric host. Returns 0, or -1. */
static int addr_parse(const char *s, struct addr *a)
{
    if (strlen(s) >= sizeof a->text || net_parse_addr(s, &a->ss, &a->len) < 0)
        return -1;
    strcpy(a->text, s);
    return 0;
}

static void set_timeouts(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int writev_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t w = writev(fd, iov, cnt);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        size_t done = (size_t)w;
        while (cnt > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ buffered reading */

static char *stream_data(struct stream *s)
{
    return s->buf + s->off;
}

static void stream_reset(struct stream *s, int fd)
{
    s->fd = fd;
    s->off = s->len = 0;
}

static void stream_skip(struct stream *s, size_t n)
{
    s->off += n;
    s->len -= n;
    if (s->len == 0)
        s->off = 0;
}

/* Reads more bytes. Returns the count, 0 at EOF, -1 on error (EMSGSIZE: buffer full). */
static ssize_t stream_fill(struct stream *s)
{
    if (s->off > 0) {
        memmove(s->buf, s->buf + s->off, s->len);
        s->off = 0;
    }
    if (s->len == s->cap) {
        errno = EMSGSIZE;
        return -1;
    }
    ssize_t n;
    do
        n = s->use_recv ? recv(s->fd, s->buf + s->len, s->cap - s->len, 0)
                        : read(s->fd, s->buf + s->len, s->cap - s->len);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        s->len += (size_t)n;
    return n;
}

/* Waits until the unread bytes hold `delim`. Returns the offset just past it, or -1 with errno
 * (0 at EOF). */
static ssize_t stream_find(struct stream *s, const char *delim)
{
    size_t dl = strlen(delim), from = 0;
    for (;;) {
        const char *p = memmem(stream_data(s) + from, s->len - from, delim, dl);
        if (p)
            return p - stream_data(s) + (ssize_t)dl;
        from = s->len >= dl ? s->len - dl + 1 : 0;
        ssize_t n = stream_fill(s);
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            return -1;
        }
    }
}

/* Waits until at least n bytes are unread (n <= cap). Returns 0, or -1 (errno 0 at EOF). */
static int stream_need(struct stream *s, size_t n)
{
    while (s->len < n) {
        ssize_t r = stream_fill(s);
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
    }
    return 0;
}

/* Moves n bytes to dst, reading as needed; n may exceed the buffer. Returns 0, or -1. */
static int stream_take(struct stream *s, char *dst, size_t n)
{
    while (n > 0) {
        if (s->len == 0 && stream_need(s, 1) < 0)
            return -1;
        size_t k = n < s->len ? n : s->len;
        memcpy(dst, stream_data(s), k);
        stream_skip(s, k);
        dst += k;
        n -= k;
    }
    return 0;
}

/* ------------------------------------------------------------------ HTTP heads */

/* True when the comma-separated list v[0, n) holds `token` (case-insensitive). */
static bool has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);
    const char *end = v + n;
    while (v < end) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *e = comma ? comma : end;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        const char *t = e;
        while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - v) == tl && strncasecmp(v, token, tl) == 0)
            return true;
        v = comma ? comma + 1 : end;
    }
    return false;
}

static bool header_has_token(const char *head, size_t n, const char *name, const char *token)
{
    const char *v;
    size_t vl;
    return net_head_value(head, n, name, &v, &vl) && has_token(v, vl, token);
}

/* Parses the decimal v[0, n) into *out when it is at most max. Returns 0, or -1. */
static int parse_num(const char *v, size_t n, long long max, long long *out)
{
    long long x = 0;
    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    if (x > max)
        return -1;
    *out = x;
    return 0;
}

/* ------------------------------------------------------------------ JSON, just enough */

static size_t json_ws(const char *js, size_t n, size_t i)
{
    while (i < n && (js[i] == ' ' || js[i] == '\t' || js[i] == '\r' || js[i] == '\n'))
        i++;
    return i;
}

/* Returns the index just past the string starting at js[i] == '"', or 0 when unterminated. */
static size_t json_skip_string(const char *js, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (js[i] == '\\')
            i++;
        else if (js[i] == '"')
            return i + 1;
    }
    return 0;
}

/* Returns the index just past the value starting at js[i], or 0 when malformed. */
static size_t json_skip_value(const char *js, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    if (js[i] == '"')
        return json_skip_string(js, n, i);
    if (js[i] == '{' || js[i] == '[') {
        int depth = 0;
        while (i < n) {
            if (js[i] == '"') {
                i = json_skip_string(js, n, i);
                if (i == 0)
                    return 0;
                continue;
            }
            if (js[i] == '{' || js[i] == '[')
                depth++;
            else if ((js[i] == '}' || js[i] == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return 0;
    }
    size_t start = i;
    while (i < n && !strchr(",}] \t\r\n", js[i]))
        i++;
    return i > start ? i : 0;
}

/* Finds member `key` of the JSON object js[0, n); sets its raw value text. Returns 0, or -1. */
static int json_member(const char *js, size_t n, const char *key, const char **val, size_t *vlen)
{
    size_t kl = strlen(key);
    size_t i = json_ws(js, n, 0);
    if (i >= n || js[i] != '{')
        return -1;
    i = json_ws(js, n, i + 1);
    if (i < n && js[i] == '}')
        return -1;
    while (i < n && js[i] == '"') {
        size_t kend = json_skip_string(js, n, i);
        if (kend == 0)
            return -1;
        bool match = kend - i - 2 == kl && memcmp(js + i + 1, key, kl) == 0;
        i = json_ws(js, n, kend);
        if (i >= n || js[i] != ':')
            return -1;
        i = json_ws(js, n, i + 1);
        size_t vend = json_skip_value(js, n, i);
        if (vend == 0)
            return -1;
        if (match) {
            *val = js + i;
            *vlen = vend - i;
            return 0;
        }
        i = json_ws(js, n, vend);
        if (i >= n || js[i] != ',')
            return -1;
        i = json_ws(js, n, i + 1);
    }
    return -1;
}

static int json_int(const char *js, size_t n, const char *key, long long max, long long *out)
{
    const char *v;
    size_t vl;
    return json_member(js, n, key, &v, &vl) == 0 ? parse_num(v, vl, max, out) : -1;
}

/* Sets the raw (still escaped) contents of string member `key`. Returns 0, or -1. */
static int json_str(const char *js, size_t n, const char *key, const char **s, size_t *sl)
{
    const char *v;
    size_t vl;
    if (json_member(js, n, key, &v, &vl) < 0 || vl < 2 || v[0] != '"')
        return -1;
    *s = v + 1;
    *sl = vl - 2;
    return 0;
}

/* Item names go into Redis keys and backend paths unescaped, so they are kept plain. */
static bool valid_item(const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", s[i]) || !s[i])
            return false;
    return true;
}

/* ------------------------------------------------------------------ outbound connections */

/* Makes sure s is connected to a. Returns 0, or -1 with w->err set. */
static int outbound_open(struct worker *w, struct stream *s, const struct addr *a, const char *what)
{
    if (s->fd >= 0)
        return 0;
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(w->err, sizeof w->err, "%s %s: socket: %m", what, a->text);
        return -1;
    }
    set_timeouts(fd, IO_TIMEOUT_S);
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
        snprintf(w->err, sizeof w->err, "%s %s: %m", what, a->text);
        close(fd);
        return -1;
    }
    stream_reset(s, fd);
    return 0;
}

static void outbound_close(struct stream *s)
{
    if (s->fd >= 0)
        close(s->fd);
    stream_reset(s, -1);
}

/* A kept-alive connection that the peer closed while it was idle fails before any reply byte
 * (EOF, reset or broken pipe); the request then goes once more on a new connection. Any other
 * failure is not retried: the command may have run. */
static bool went_stale(bool reused, const struct stream *s)
{
    return reused && s->len == 0 && (errno == 0 || errno == ECONNRESET || errno == EPIPE);
}

/* Reads one RESP reply (no arrays). Returns 0, or -1 with errno (0 at EOF, EPROTO). */
static int redis_read(struct stream *s, struct resp *r)
{
    ssize_t eol = stream_find(s, "\r\n");
    if (eol < 0)
        return -1;
    if (eol < 3)
        return errno = EPROTO, -1;
    const char *line = stream_data(s);
    size_t ll = (size_t)eol - 3;   /* after the type byte, before "\r\n" */
    r->type = line[0];
    r->nil = false;
    r->num = 0;
    r->str[0] = '\0';
    switch (r->type) {
    case ':': {
        bool neg = line[1] == '-';
        if (parse_num(line + 1 + neg, ll - neg, LLONG_MAX, &r->num) < 0)
            return errno = EPROTO, -1;
        if (neg)
            r->num = -r->num;
        stream_skip(s, (size_t)eol);
        return 0;
    }
    case '+':
    case '-': {
        size_t k = ll < sizeof r->str ? ll : sizeof r->str - 1;
        memcpy(r->str, line + 1, k);
        r->str[k] = '\0';
        stream_skip(s, (size_t)eol);
        return 0;
    }
    case '$': {
        long long blen;
        if (ll == 2 && memcmp(line + 1, "-1", 2) == 0) {
            r->nil = true;
            stream_skip(s, (size_t)eol);
            return 0;
        }
        if (parse_num(line + 1, ll, sizeof r->str - 1, &blen) < 0)
            return errno = EPROTO, -1;
        stream_skip(s, (size_t)eol);
        if (stream_need(s, (size_t)blen + 2) < 0)
            return -1;
        if (memcmp(stream_data(s) + blen, "\r\n", 2) != 0)
            return errno = EPROTO, -1;
        memcpy(r->str, stream_data(s), (size_t)blen);
        r->str[blen] = '\0';
        stream_skip(s, (size_t)blen + 2);
        return 0;
    }
    default:
        return errno = EPROTO, -1;
    }
}

/* Sends one command on the worker's kept-alive Redis connection and reads its reply. A reused
 * connection that turns out closed before any reply byte is reopened once. Returns 0 (a Redis
 * error reply included, type '-'), or -1 with w->err set. */
static int redis_call(struct worker *w, struct resp *r, int argc, const char *const *argv)
{
    char cmd[512];
    size_t n = (size_t)snprintf(cmd, sizeof cmd, "*%d\r\n", argc);
    for (int i = 0; i < argc && n < sizeof cmd; i++)
        n += (size_t)snprintf(cmd + n, sizeof cmd - n, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
    if (n >= sizeof cmd) {
        snprintf(w->err, sizeof w->err, "redis: command too long");
        return -1;
    }
    struct stream *s = &w->redis;
    for (int attempt = 0; attempt < 2; attempt++) {
        bool reused = s->fd >= 0;
        if (outbound_open(w, s, &w->svc->redis, "redis") < 0)
            return -1;
        if (net_write_all(s->fd, cmd, n, false) == 0 && redis_read(s, r) == 0)
            return 0;
        bool stale = went_stale(reused, s);
        if (errno == 0)
            snprintf(w->err, sizeof w->err, "redis %s: connection closed", w->svc->redis.text);
        else
            snprintf(w->err, sizeof w->err, "redis %s: %m", w->svc->redis.text);
        outbound_close(s);
        if (!stale)
            break;
    }
    return -1;
}

/* Reads a chunked body into w->body. Returns its length, or -1. */
static ssize_t read_chunked(struct worker *w, struct stream *s)
{
    size_t total = 0;
    for (;;) {
        ssize_t eol = stream_find(s, "\r\n");
        if (eol < 0)
            return -1;
        size_t size = 0, i = 0;
        const char *line = stream_data(s);
        for (; i < (size_t)eol - 2 && strchr("0123456789abcdefABCDEF", line[i]); i++) {
            int d = line[i] <= '9' ? line[i] - '0' : (line[i] | 0x20) - 'a' + 10;
            size = size * 16 + (size_t)d;
            if (size > BODY_MAX)
                return -1;
        }
        if (i == 0)
            return -1;
        stream_skip(s, (size_t)eol);
        if (size == 0)
            break;
        if (total + size > BODY_MAX || stream_take(s, w->body + total, size) < 0)
            return -1;
        total += size;
        if (stream_need(s, 2) < 0 || memcmp(stream_data(s), "\r\n", 2) != 0)
            return -1;
        stream_skip(s, 2);
    }
    for (;;) {   /* trailer fields, then the empty line */
        ssize_t eol = stream_find(s, "\r\n");
        if (eol < 0)
            return -1;
        stream_skip(s, (size_t)eol);
        if (eol == 2)
            return (ssize_t)total;
    }
}

/* Reads a body that ends when the backend closes. Returns its length, or -1. */
static ssize_t read_to_eof(struct worker *w, struct stream *s)
{
    size_t total = 0;
    for (;;) {
        size_t k = s->len < BODY_MAX - total ? s->len : BODY_MAX - total;
        memcpy(w->body + total, stream_data(s), k);
        stream_skip(s, k);
        total += k;
        if (s->len > 0)
            return -1;
        ssize_t r = stream_fill(s);
        if (r == 0)
            return (ssize_t)total;
        if (r < 0)
            return -1;
    }
}

/* Reads one response from the backend: status into *status, body into w->body. Sets *reusable
 * when the connection may carry the next request. Returns the body length, or -1. */
static ssize_t backend_read(struct worker *w, int *status, bool *reusable)
{
    struct stream *s = &w->backend;
    ssize_t hl = stream_find(s, "\r\n\r\n");
    if (hl < 0)
        return -1;
    const char *head = stream_data(s);
    if (hl < 16 || memcmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ')
        return errno = EPROTO, -1;
    long long st;
    if (parse_num(head + 9, 3, 599, &st) < 0 || st < 200)
        return errno = EPROTO, -1;
    *status = (int)st;
    size_t n = (size_t)hl;
    bool close_after = header_has_token(head, n, "Connection", "close") ||
                       (head[7] == '0' && !header_has_token(head, n, "Connection", "keep-alive"));
    const char *v;
    size_t vl;
    long long cl = -1;
    bool chunked = header_has_token(head, n, "Transfer-Encoding", "chunked");
    if (!chunked && net_head_value(head, n, "Content-Length", &v, &vl) &&
        parse_num(v, vl, BODY_MAX, &cl) < 0)
        return errno = EPROTO, -1;
    stream_skip(s, n);
    ssize_t len;
    if (chunked) {
        len = read_chunked(w, s);
    } else if (cl >= 0) {
        len = stream_take(s, w->body, (size_t)cl) == 0 ? (ssize_t)cl : -1;
    } else {
        len = read_to_eof(w, s);
        close_after = true;
    }
    *reusable = !close_after;
    return len;
}

/* GETs path from the backend over the worker's kept-alive connection. Returns the body length
 * (in w->body) and sets *status, or -1 with w->err set. */
static ssize_t backend_get(struct worker *w, const char *path, int *status)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sample-svc/1\r\n"
                     "Accept: application/json\r\n\r\n",
                     path, w->svc->backend.text);
    if (n < 0 || (size_t)n >= sizeof req) {
        snprintf(w->err, sizeof w->err, "backend: path too long");
        return -1;
    }
    struct stream *s = &w->backend;
    for (int attempt = 0; attempt < 2; attempt++) {
        bool reused = s->fd >= 0, reusable = false;
        if (outbound_open(w, s, &w->svc->backend, "backend") < 0)
            return -1;
        ssize_t len = -1;
        if (net_write_all(s->fd, req, (size_t)n, true) == 0)
            len = backend_read(w, status, &reusable);
        if (len >= 0) {
            if (!reusable)
                outbound_close(s);
            return len;
        }
        bool stale = went_stale(reused, s);
        if (errno == 0)
            snprintf(w->err, sizeof w->err, "backend %s: connection closed", w->svc->backend.text);
        else
            snprintf(w->err, sizeof w->err, "backend %s: %m", w->svc->backend.text);
        outbound_close(s);
        if (!stale)
            break;
    }
    return -1;
}

/* ------------------------------------------------------------------ routes */

static void answer(struct answer *a, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void answer(struct answer *a, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(a->body, sizeof a->body, fmt, ap);
    va_end(ap);
    a->status = status;
    a->len = n < 0 ? 0 : (size_t)n < sizeof a->body ? (size_t)n : sizeof a->body - 1;
}

/* An upstream failure: 502 with the reason (escaped just enough for the JSON string). */
static void answer_bad_gateway(struct worker *w, struct answer *a)
{
    for (char *p = w->err; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
            *p = '\'';
    answer(a, 502, "{\"error\":\"%s\"}", w->err);
    snprintf(a->detail, sizeof a->detail, "error=\"%.140s\"", w->err);
}

static void handle_user(struct worker *w, long long id, struct answer *a)
{
    char key[64], path[64], last_key[64];
    if (w->svc->changed)
        snprintf(key, sizeof key, "visits:user:{%lld}", id);
    else
        snprintf(key, sizeof key, "visits:user:%lld", id);
    struct resp r;
    const char *incr[] = {"INCR", key};
    if (redis_call(w, &r, 2, incr) < 0)
        goto upstream;
    if (r.type != ':') {
        snprintf(w->err, sizeof w->err, "redis: INCR answered %c%.100s", r.type, r.str);
        goto upstream;
    }
    long long visits = r.num;

    int status;
    snprintf(path, sizeof path, "/profile/%lld", id);
    ssize_t bl = backend_get(w, path, &status);
    if (bl < 0)
        goto upstream;
    if (status == 404) {
        answer(a, 404, "{\"error\":\"no such user\",\"id\":%lld}", id);
        snprintf(a->detail, sizeof a->detail, "error=\"no such user\"");
        return;
    }
    const char *name, *tier;
    size_t nl, tl;
    if (status != 200 || json_str(w->body, (size_t)bl, "name", &name, &nl) < 0 ||
        json_str(w->body, (size_t)bl, "tier", &tier, &tl) < 0 || nl > STR_MAX || tl > STR_MAX) {
        snprintf(w->err, sizeof w->err, "backend: GET %s answered %d without name and tier", path, status);
        goto upstream;
    }

    snprintf(last_key, sizeof last_key, "last-order:user:%lld", id);
    const char *get[] = {"GET", last_key};
    if (redis_call(w, &r, 2, get) < 0)
        goto upstream;
    long long last = 0;
    if (!(r.type == '$' && (r.nil || parse_num(r.str, strlen(r.str), 999999999999LL, &last) == 0))) {
        snprintf(w->err, sizeof w->err, "redis: GET %s answered %c%.80s", last_key, r.type, r.str);
        goto upstream;
    }
    char last_text[24];
    if (r.nil)
        strcpy(last_text, "null");
    else
        snprintf(last_text, sizeof last_text, "%lld", last);

    answer(a, 200,
           "{\"id\":%lld,\"name\":\"%.*s\",\"tier\":\"%.*s\",\"visits\":%lld,\"last_order\":%s,"
           "\"greeting\":\"%s, %.*s\",\"ts\":%lld}",
           id, (int)nl, name, (int)tl, tier, visits, last_text,
           w->svc->changed ? "welcome back" : "hello", (int)nl, name, (long long)time(NULL));
    snprintf(a->detail, sizeof a->detail, "visits=%lld", visits);
    return;
upstream:
    answer_bad_gateway(w, a);
}

static void handle_order(struct worker *w, const char *body, size_t len, struct answer *a)
{
    long long user, qty;
    const char *item;
    size_t il;
    if (json_int(body, len, "user", 999999999, &user) < 0 || user < 1 ||
        json_int(body, len, "qty", 1000, &qty) < 0 || qty < 1 ||
        json_str(body, len, "item", &item, &il) < 0 || !valid_item(item, il)) {
        answer(a, 400, "{\"error\":\"expected {\\\"user\\\":N,\\\"item\\\":\\\"name\\\",\\\"qty\\\":N}\"}");
        snprintf(a->detail, sizeof a->detail, "error=\"bad order\"");
        return;
    }
    char item_s[33], path[64], key[64], order_s[24];
    memcpy(item_s, item, il);
    item_s[il] = '\0';

    struct resp r;
    const char *incr[] = {"INCR", "orders:seq"};
    if (redis_call(w, &r, 2, incr) < 0)
        goto upstream;
    if (r.type != ':') {
        snprintf(w->err, sizeof w->err, "redis: INCR answered %c%.100s", r.type, r.str);
        goto upstream;
    }
    long long order = r.num;

    int status;
    snprintf(path, sizeof path, "/price/%s", item_s);
    ssize_t bl = backend_get(w, path, &status);
    if (bl < 0)
        goto upstream;
    long long price;
    if (status == 404) {
        answer(a, 404, "{\"error\":\"no such item\",\"item\":\"%s\"}", item_s);
        snprintf(a->detail, sizeof a->detail, "error=\"no such item\"");
        return;
    }
    if (status != 200 || json_int(w->body, (size_t)bl, "price", 99999999, &price) < 0) {
        snprintf(w->err, sizeof w->err, "backend: GET %s answered %d without a price", path, status);
        goto upstream;
    }

    snprintf(key, sizeof key, "last-order:user:%lld", user);
    snprintf(order_s, sizeof order_s, "%lld", order);
    const char *set[] = {"SET", key, order_s};
    if (redis_call(w, &r, 3, set) < 0)
        goto upstream;
    if (r.type != '+') {
        snprintf(w->err, sizeof w->err, "redis: SET answered %c%.100s", r.type, r.str);
        goto upstream;
    }

    answer(a, 201,
           "{\"order\":%lld,\"user\":%lld,\"item\":\"%s\",\"qty\":%lld,\"price\":%lld,\"total\":%lld,"
           "\"ts\":%lld}",
           order, user, item_s, qty, price, price * qty, (long long)time(NULL));
    snprintf(a->detail, sizeof a->detail, "order=%lld total=%lld", order, price * qty);
    return;
upstream:
    answer_bad_gateway(w, a);
}

/* GET /visits/FIRST-LAST: one Redis GET visits:user:N per user, at most VISITS_MAX of them. */
static void handle_visits(struct worker *w, long long first, long long last, struct answer *a)
{
    char list[ANSWER_MAX - 32];
    size_t used = 0;
    for (long long id = first; id <= last; id++) {
        char key[64];
        snprintf(key, sizeof key, "visits:user:%lld", id);
        const char *get[] = {"GET", key};
        struct resp r;
        long long n = 0;
        if (redis_call(w, &r, 2, get) < 0)
            goto upstream;
        if (!(r.type == '$' && (r.nil || parse_num(r.str, strlen(r.str), 999999999999LL, &n) == 0))) {
            snprintf(w->err, sizeof w->err, "redis: GET %s answered %c%.80s", key, r.type, r.str);
            goto upstream;
        }
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%lld", id == first ? "" : ",", n);
    }
    answer(a, 200, "{\"first\":%lld,\"visits\":[%s]}", first, list);
    return;
upstream:
    answer_bad_gateway(w, a);
}

static void route(struct worker *w, const struct request *rq, struct answer *a)
{
    long long id;
    const char *p = rq->path;
    a->detail[0] = '\0';
    if (strncmp(p, "/user/", 6) == 0 && parse_num(p + 6, strlen(p + 6), 999999999, &id) == 0 && id > 0) {
        a->route = "user";
        if (strcmp(rq->method, "GET") == 0) {
            handle_user(w, id, a);
            return;
        }
    } else if (strcmp(p, "/order") == 0) {
        a->route = "order";
        if (strcmp(rq->method, "POST") == 0) {
            handle_order(w, rq->body, rq->body_len, a);
            return;
        }
    } else if (strncmp(p, "/visits/", 8) == 0) {
        a->route = "visits";
        const char *dash = strchr(p + 8, '-');
        long long last;
        if (!dash || parse_num(p + 8, (size_t)(dash - p - 8), 999999999, &id) != 0 ||
            parse_num(dash + 1, strlen(dash + 1), 999999999, &last) != 0 || id < 1 || last < id ||
            last - id >= VISITS_MAX) {
            answer(a, 400, "{\"error\":\"want /visits/FIRST-LAST, at most %d users\"}", VISITS_MAX);
            return;
        }
        if (strcmp(rq->method, "GET") == 0) {
            handle_visits(w, id, last, a);
            return;
        }
    } else if (strcmp(p, "/health") == 0) {
        a->route = "health";
        if (strcmp(rq->method, "GET") == 0) {
            answer(a, 200, "{\"status\":\"ok\"}");
            return;
        }
    } else {
        a->route = "other";
        answer(a, 404, "{\"error\":\"not found\"}");
        return;
    }
    answer(a, 405, "{\"error\":\"method not allowed\"}");
}

/* ------------------------------------------------------------------ inbound */

static const char *reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    default: return "Unknown";
    }
}

static int respond(struct worker *w, const struct answer *a, bool keep_alive)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nServer: sample-svc/1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
                     a->status, reason(a->status), a->len, keep_alive ? "keep-alive" : "close");
    struct iovec iov[2] = {{head, (size_t)n}, {(void *)a->body, a->len}};
    return writev_all(w->conn_fd, iov, 2);
}

/* Reads one request into rq. Returns 0; -1 when the client went away (EOF, error, idle); or an
 * HTTP status to answer before closing. */
static int read_request(struct worker *w, struct request *rq)
{
    struct stream *s = &w->in;
    ssize_t hl = stream_find(s, "\r\n\r\n");
    if (hl < 0)
        return errno == EMSGSIZE ? 431 : -1;
    if (hl > HEAD_MAX)
        return 431;
    const char *head = stream_data(s);
    size_t n = (size_t)hl;
    const char *eol = memmem(head, n, "\r\n", 2);
    const char *sp1 = memchr(head, ' ', (size_t)(eol - head));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp2 || sp1 == head || (size_t)(sp1 - head) >= sizeof rq->method ||
        (size_t)(sp2 - sp1 - 1) >= sizeof rq->path || eol - sp2 != 9 ||
        memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
        return 400;
    memcpy(rq->method, head, (size_t)(sp1 - head));
    rq->method[sp1 - head] = '\0';
    size_t pl = (size_t)(sp2 - sp1 - 1);
    memcpy(rq->path, sp1 + 1, pl);
    rq->path[pl] = '\0';
    rq->path[strcspn(rq->path, "?")] = '\0';
    if (sp2[8] == '1')
        rq->keep_alive = !header_has_token(head, n, "Connection", "close");
    else
        rq->keep_alive = header_has_token(head, n, "Connection", "keep-alive");
    const char *v;
    size_t vl;
    if (net_head_value(head, n, "Transfer-Encoding", &v, &vl))
        return 501;
    long long cl = 0;
    if (net_head_value(head, n, "Content-Length", &v, &vl) && parse_num(v, vl, LLONG_MAX, &cl) < 0)
        return 400;
    if (cl > BODY_MAX)
        return 413;
    if (cl > 0 && s->len < n + (size_t)cl && header_has_token(head, n, "Expect", "100-continue")) {
        char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
        struct iovec iov = {line, sizeof line - 1};
        if (writev_all(w->conn_fd, &iov, 1) < 0)
            return -1;
    }
    if (stream_need(s, n + (size_t)cl) < 0)
        return -1;
    rq->body = stream_data(s) + n;
    rq->body_len = (size_t)cl;
    rq->used = n + (size_t)cl;
    return 0;
}

/* One line per request, written at once so lines of concurrent workers never interleave. */
static void log_request(struct worker *w, const struct request *rq, const struct answer *a)
{
    if (w->svc->log_fd < 0)
        return;
    char line[512];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02dZ %s %s %d%s%s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     rq->method, rq->path, a->status, a->detail[0] ? " " : "", a->detail);
    if (n > 0)
        (void)!write(w->svc->log_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void send_metric(struct worker *w, const struct answer *a)
{
    if (!w->svc->has_statsd)
        return;
    char msg[96];
    int n = snprintf(msg, sizeof msg, "sample_svc.%s.%d:1|c", a->route, a->status);
    sendto(w->svc->udp_fd, msg, (size_t)n, 0, (const struct sockaddr *)&w->svc->statsd.ss,
           w->svc->statsd.len);
}

static void serve_connection(struct worker *w)
{
    set_timeouts(w->conn_fd, IDLE_TIMEOUT_S);
    stream_reset(&w->in, w->conn_fd);
    for (;;) {
        struct request rq = {.body = ""};
        struct answer a = {.route = "other"};
        int st = read_request(w, &rq);
        if (st < 0)
            return;
        if (st > 0) {
            answer(&a, st, "{\"error\":\"%s\"}", reason(st));
            respond(w, &a, false);
            return;
        }
        route(w, &rq, &a);
        /* The log line and the metric go out before the response, so a recorder that ends the
         * session when the response is complete still sees them. */
        log_request(w, &rq, &a);
        send_metric(w, &a);
        bool keep = rq.keep_alive && !atomic_load(&w->svc->stopping);
        if (respond(w, &a, keep) < 0)
            return;
        atomic_fetch_add(&w->svc->served, 1);
        stream_skip(&w->in, rq.used);
        if (!keep)
            return;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct svc *svc = w->svc;
    for (;;) {
        int fd = accept4(svc->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (atomic_load(&svc->stopping))
                break;
            if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS)
                nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
            continue;
        }
        pthread_mutex_lock(&svc->lock);
        bool stop = atomic_load(&svc->stopping);
        if (!stop)
            w->conn_fd = fd;
        pthread_mutex_unlock(&svc->lock);
        if (stop) {
            close(fd);
            break;
        }
        serve_connection(w);
        pthread_mutex_lock(&svc->lock);
        w->conn_fd = -1;
        pthread_mutex_unlock(&svc->lock);
        close(fd);
    }
    outbound_close(&w->redis);
    outbound_close(&w->backend);
    return NULL;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fputs("usage: sample-svc --backend HOST:PORT --redis HOST:PORT [options]\n"
          "  -l, --listen HOST:PORT   serve HTTP/1.1 here (default 127.0.0.1:8080; port 0 picks one)\n"
          "  -b, --backend HOST:PORT  the HTTP backend (samples/svc/backend.py)\n"
          "  -r, --redis HOST:PORT    redis-server\n"
          "  -L, --log FILE           append one line per request (opened with O_APPEND)\n"
          "  -s, --statsd HOST:PORT   send one UDP statsd counter per request\n"
          "  -t, --threads N          worker threads, each serving one connection at a time (default 8)\n"
          "      --variant changed    another build: a changed greeting and Redis key, for koala-diff\n"
          "  -h, --help               this help\n"
          "Prints \"listening on HOST:PORT\" once ready; SIGTERM or SIGINT stops it cleanly.\n",
          f);
}

static int start_listening(struct svc *svc)
{
    int fd = socket(svc->listen.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&svc->listen.ss, svc->listen.len) < 0 || listen(fd, 128) < 0) {
        fprintf(stderr, "sample-svc: listen on %s: %m\n", svc->listen.text);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN], port[8];
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        fprintf(stderr, "sample-svc: getsockname: %m\n");
        close(fd);
        return -1;
    }
    snprintf(svc->listen.text, sizeof svc->listen.text,
             ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    svc->listen_fd = fd;
    return 0;
}

static int parse_args(int argc, char **argv, struct svc *svc)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'}, {"backend", required_argument, NULL, 'b'},
        {"redis", required_argument, NULL, 'r'},  {"log", required_argument, NULL, 'L'},
        {"statsd", required_argument, NULL, 's'}, {"threads", required_argument, NULL, 't'},
        {"variant", required_argument, NULL, 'V'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool has_backend = false, has_redis = false;
    addr_parse("127.0.0.1:8080", &svc->listen);
    int c;
    while ((c = getopt_long(argc, argv, "l:b:r:L:s:t:h", opts, NULL)) != -1) {
        struct addr *a = NULL;
        long long n;
        switch (c) {
        case 'l': a = &svc->listen; break;
        case 'b': a = &svc->backend; has_backend = true; break;
        case 'r': a = &svc->redis; has_redis = true; break;
        case 's': a = &svc->statsd; svc->has_statsd = true; break;
        case 'L': svc->log_path = optarg; break;
        case 't':
            if (parse_num(optarg, strlen(optarg), THREADS_MAX, &n) < 0 || n < 1) {
                fprintf(stderr, "sample-svc: --threads wants 1 to %d, not '%s'\n", THREADS_MAX, optarg);
                return -1;
            }
            svc->nthreads = (int)n;
            break;
        case 'V':
            if (strcmp(optarg, "changed") != 0 && strcmp(optarg, "base") != 0) {
                fprintf(stderr, "sample-svc: --variant is base or changed, not '%s'\n", optarg);
                return -1;
            }
            svc->changed = strcmp(optarg, "changed") == 0;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
        if (a && addr_parse(optarg, a) < 0) {
            fprintf(stderr, "sample-svc: '%s' is not a numeric HOST:PORT\n", optarg);
            return -1;
        }
    }
    if (optind < argc || !has_backend || !has_redis) {
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct svc svc = {.nthreads = 8, .listen_fd = -1, .log_fd = -1, .udp_fd = -1};
    if (parse_args(argc, argv, &svc) < 0)
        return 2;
    if (svc.log_path) {
        svc.log_fd = open(svc.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (svc.log_fd < 0) {
            fprintf(stderr, "sample-svc: %s: %m\n", svc.log_path);
            return 2;
        }
    }
    if (svc.has_statsd) {
        svc.udp_fd = socket(svc.statsd.ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (svc.udp_fd < 0) {
            fprintf(stderr, "sample-svc: UDP socket: %m\n");
            return 2;
        }
    }
    if (start_listening(&svc) < 0)
        return 2;

    /* Workers block the stop signals, so the handler runs on the main thread (or on a thread
     * some preloaded library started); either way it only posts stop_sem. */
    signal(SIGPIPE, SIG_IGN);
    sem_init(&stop_sem, 0, 0);
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigset_t stop_set, old;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_set, &old);

    pthread_mutex_init(&svc.lock, NULL);
    svc.workers = calloc((size_t)svc.nthreads, sizeof *svc.workers);
    char *bufs = malloc((size_t)svc.nthreads * (HEAD_MAX + BODY_MAX + 2 * OUT_BUF));
    if (!svc.workers || !bufs) {
        fprintf(stderr, "sample-svc: out of memory\n");
        return 2;
    }
    int started = 0;
    for (; started < svc.nthreads; started++) {
        struct worker *w = &svc.workers[started];
        char *b = bufs + (size_t)started * (HEAD_MAX + BODY_MAX + 2 * OUT_BUF);
        w->svc = &svc;
        w->conn_fd = -1;
        w->in = (struct stream){.fd = -1, .use_recv = true, .buf = b, .cap = HEAD_MAX + BODY_MAX};
        w->redis = (struct stream){.fd = -1, .buf = b + HEAD_MAX + BODY_MAX, .cap = OUT_BUF};
        w->backend = (struct stream){.fd = -1, .use_recv = true,
                                     .buf = b + HEAD_MAX + BODY_MAX + OUT_BUF, .cap = OUT_BUF};
        int err = pthread_create(&w->tid, NULL, worker_main, w);
        if (err != 0) {
            fprintf(stderr, "sample-svc: pthread_create: %s\n", strerror(err));
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started == svc.nthreads) {
        printf("listening on %s\n", svc.listen.text);
        fflush(stdout);
        while (sem_wait(&stop_sem) < 0 && errno == EINTR)
            ;
    }

    /* Stop: wake workers in accept4() by shutting the listening socket, and those waiting for
     * a client's next request by shutting their connection's read side; a request in flight
     * is answered first, with Connection: close. */
    pthread_mutex_lock(&svc.lock);
    atomic_store(&svc.stopping, true);
    shutdown(svc.listen_fd, SHUT_RDWR);
    for (int i = 0; i < started; i++)
        if (svc.workers[i].conn_fd >= 0)
            shutdown(svc.workers[i].conn_fd, SHUT_RD);
    pthread_mutex_unlock(&svc.lock);
    for (int i = 0; i < started; i++)
        pthread_join(svc.workers[i].tid, NULL);
    close(svc.listen_fd);
    if (svc.log_fd >= 0)
        close(svc.log_fd);
    if (svc.udp_fd >= 0)
        close(svc.udp_fd);
    fprintf(stderr, "sample-svc: stopped, %lu requests served\n", (unsigned long)atomic_load(&svc.served));
    free(bufs);
    free(svc.workers);
    return started == svc.nthreads ? 0 : 2;
}
