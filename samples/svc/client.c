/* client.c - sample-client: load and checks for sample-svc (N threads x M requests, with or
 * without keep-alive), or --raw to print the exact bytes a service answers. No koala code.
 *
 * Load mix, request k (0-based, counted over all threads): even k is GET /user/U, odd k is
 * POST /order {"user":U,"item":ITEM,"qty":Q}, with j = k / 2, U = j % 10 + 1,
 * ITEM = book, pen, lamp, mug by j % 4, Q = j % 3 + 1. Every answer is checked: status, JSON
 * content type, framing, the Connection header and the fields that echo the request. */
#include "net.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    BUF_MAX = 1 << 20,    /* one response, head and body */
    REQ_MAX = 4096,
    TIMEOUT_S = 10,       /* a silent service fails the request instead of hanging the client */
    REPORT_MAX = 10,      /* bad responses described on stderr */
};

static const char *const ITEMS[] = {"book", "pen", "lamp", "mug"};

struct opts {
    struct sockaddr_storage ss;
    socklen_t sslen;
    const char *to;
    long threads, requests;
    bool close, raw;
    const char *sent_path;
    char **reqs;          /* --raw: METHOD PATH [BODY] triples from the command line */
    int nreqs;
};

struct conn {
    int fd;
    char *buf;            /* received and not yet consumed: buf[0, len) */
    size_t len;
};

struct response {
    int status;
    size_t head_len, raw_len;      /* raw_len: the whole message, as received */
    const char *head;
    char *body;                    /* decoded body, NUL-terminated */
    size_t body_len;
    bool conn_close, json;
};

struct tally {
    atomic_long ok, bad, conns, reported;
};

struct thread_arg {
    const struct opts *o;
    struct tally *t;
    long index;
    pthread_t tid;
};

/* ------------------------------------------------------------------ connections */

static int conn_open(const struct opts *o, struct conn *c)
{
    c->len = 0;
    c->fd = socket(o->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = TIMEOUT_S};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (const struct sockaddr *)&o->ss, o->sslen) < 0) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        errno = e;
        return -1;
    }
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->len = 0;
}

/* Reads until at least n bytes are buffered. Returns 0, or -1 (errno 0 at EOF). */
static int need(struct conn *c, size_t n)
{
    if (n > BUF_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    while (c->len < n) {
        ssize_t r = read(c->fd, c->buf + c->len, BUF_MAX - c->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
        c->len += (size_t)r;
    }
    return 0;
}

/* Offset just past the first `delim` at or after `from`, reading as needed; -1 on EOF or error. */
static long find(struct conn *c, size_t from, const char *delim)
{
    size_t dl = strlen(delim);
    for (;;) {
        if (c->len >= from + dl) {
            const char *p = memmem(c->buf + from, c->len - from, delim, dl);
            if (p)
                return p - c->buf + (long)dl;
        }
        if (need(c, c->len + 1) < 0)
            return -1;
    }
}

static bool value_is(const char *head, size_t n, const char *name, const char *want)
{
    const char *v;
    size_t vl;
    return net_head_value(head, n, name, &v, &vl) && vl >= strlen(want) &&
           strncasecmp(v, want, strlen(want)) == 0;
}

/* Reads one response off c (Content-Length, chunked, or until EOF). The decoded body goes to
 * body (BUF_MAX bytes). Returns 0, or -1 with a reason in why. */
static int read_response(struct conn *c, struct response *r, char *body, const char **why)
{
    long hl = find(c, 0, "\r\n\r\n");
    if (hl < 0) {
        *why = c->len == 0 && errno == 0 ? "connection closed before a response" :
               errno == 0 ? "connection closed inside the head" : strerror(errno);
        return -1;
    }
    const char *h = c->buf;
    if (hl < 16 || memcmp(h, "HTTP/1.", 7) != 0 || h[8] != ' ' || h[9] < '1' || h[9] > '5') {
        *why = "not an HTTP/1.x status line";
        return -1;
    }
    r->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    r->head = h;
    r->head_len = (size_t)hl;
    r->conn_close = value_is(h, (size_t)hl, "Connection", "close");
    r->json = value_is(h, (size_t)hl, "Content-Type", "application/json");
    r->body = body;
    r->body_len = 0;
    const char *v;
    size_t vl;
    size_t pos = (size_t)hl;
    if (value_is(h, (size_t)hl, "Transfer-Encoding", "chunked")) {
        for (;;) {
            long eol = find(c, pos, "\r\n");
            if (eol < 0) {
                *why = "truncated chunk size";
                return -1;
            }
            unsigned long size = strtoul(c->buf + pos, NULL, 16);
            pos = (size_t)eol;
            if (size == 0)
                break;
            if (size > BUF_MAX - r->body_len || need(c, pos + size + 2) < 0) {
                *why = "truncated or oversized chunk";
                return -1;
            }
            memcpy(body + r->body_len, c->buf + pos, size);
            r->body_len += size;
            pos += size + 2;
        }
        long end;
        while ((end = find(c, pos, "\r\n")) >= 0 && (size_t)end != pos + 2)
            pos = (size_t)end;   /* trailer fields */
        if (end < 0) {
            *why = "truncated trailer";
            return -1;
        }
        pos = (size_t)end;
    } else if (net_head_value(h, (size_t)hl, "Content-Length", &v, &vl)) {
        unsigned long cl = strtoul(v, NULL, 10);
        if (cl > BUF_MAX - pos || need(c, pos + cl) < 0) {
            *why = "body shorter than its Content-Length";
            return -1;
        }
        memcpy(body, c->buf + pos, cl);
        r->body_len = cl;
        pos += cl;
    } else {
        while (need(c, c->len + 1) == 0)
            ;
        if (errno != 0) {
            *why = strerror(errno);
            return -1;
        }
        r->body_len = c->len - pos;
        memcpy(body, c->buf + pos, r->body_len);
        pos = c->len;
        r->conn_close = true;
    }
    body[r->body_len < BUF_MAX ? r->body_len : BUF_MAX - 1] = '\0';
    r->raw_len = pos;
    return 0;
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* ------------------------------------------------------------------ requests */

static size_t build_request(const struct opts *o, char *out, const char *method, const char *path,
                            const char *body)
{
    int n = snprintf(out, REQ_MAX,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sample-client/1\r\n"
                     "Accept: application/json\r\n%s",
                     method, path, o->to, o->close ? "Connection: close\r\n" : "");
    if (body)
        n += snprintf(out + n, REQ_MAX - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                      strlen(body), body);
    else
        n += snprintf(out + n, REQ_MAX - (size_t)n, "\r\n");
    return (size_t)n < REQ_MAX ? (size_t)n : 0;
}

struct expect {
    char method[8], path[64], body[160];
    long user, qty;
    const char *item;
};

static void mix(long k, struct expect *e)
{
    long j = k / 2;
    e->user = j % 10 + 1;
    e->item = ITEMS[j % 4];
    e->qty = j % 3 + 1;
    if (k % 2 == 0) {
        strcpy(e->method, "GET");
        snprintf(e->path, sizeof e->path, "/user/%ld", e->user);
        e->body[0] = '\0';
    } else {
        strcpy(e->method, "POST");
        strcpy(e->path, "/order");
        snprintf(e->body, sizeof e->body, "{\"user\":%ld,\"item\":\"%s\",\"qty\":%ld}", e->user,
                 e->item, e->qty);
    }
}

static long json_num(const char *body, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(body, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : LONG_MIN;
}

/* Checks an answer of the load mix. Returns NULL when right, or what is wrong. */
static const char *check(const struct opts *o, const struct expect *e, const struct response *r)
{
    char want[96];
    bool get = e->body[0] == '\0';
    if (r->status != (get ? 200 : 201))
        return "unexpected status";
    if (!r->json)
        return "Content-Type is not application/json";
    if (!value_is(r->head, r->head_len, "Content-Length", ""))
        return "no Content-Length";
    if (r->conn_close != o->close)
        return o->close ? "no Connection: close although the request asked for it"
                        : "Connection: close on a keep-alive request";
    if (get) {
        snprintf(want, sizeof want, "{\"id\":%ld,\"name\":\"user-%ld\",", e->user, e->user);
        if (strncmp(r->body, want, strlen(want)) != 0 || json_num(r->body, "visits") < 1)
            return "body does not match the user";
    } else {
        snprintf(want, sizeof want, "\"user\":%ld,\"item\":\"%s\",\"qty\":%ld,\"price\":", e->user,
                 e->item, e->qty);
        if (strncmp(r->body, "{\"order\":", 9) != 0 || !strstr(r->body, want))
            return "body does not match the order";
        if (json_num(r->body, "total") != json_num(r->body, "price") * e->qty)
            return "total is not price x qty";
    }
    if (r->body_len == 0 || r->body[r->body_len - 1] != '}')
        return "body is not one JSON object";
    return NULL;
}

static void report(struct tally *t, long thread, long i, const struct expect *e, const char *why,
                   const struct response *r)
{
    if (atomic_fetch_add(&t->reported, 1) >= REPORT_MAX)
        return;
    if (r)
        fprintf(stderr, "sample-client: thread %ld request %ld: %s %s: %s (status %d): %.200s\n",
                thread, i, e->method, e->path, why, r->status, r->body);
    else
        fprintf(stderr, "sample-client: thread %ld request %ld: %s %s: %s\n", thread, i,
                e->method, e->path, why);
}

/* After a Connection: close answer the service must close: nothing more arrives, then EOF. */
static bool closed_after(struct conn *c)
{
    if (c->len > 0)
        return false;
    char b;
    ssize_t n;
    while ((n = read(c->fd, &b, 1)) < 0 && errno == EINTR)
        ;
    return n == 0;
}

static void *load_thread(void *arg)
{
    struct thread_arg *ta = arg;
    const struct opts *o = ta->o;
    struct tally *t = ta->t;
    struct conn c = {.fd = -1, .buf = malloc(BUF_MAX)};
    char *body = malloc(BUF_MAX);
    char req[REQ_MAX];
    if (!c.buf || !body) {
        atomic_fetch_add(&t->bad, o->requests);
        free(c.buf);
        free(body);
        return NULL;
    }
    for (long i = 0; i < o->requests; i++) {
        struct expect e;
        struct response r;
        const char *why;
        mix(ta->index * o->requests + i, &e);
        size_t n = build_request(o, req, e.method, e.path, e.body[0] ? e.body : NULL);
        bool fresh = c.fd < 0;
        if (fresh) {
            if (conn_open(o, &c) < 0) {
                report(t, ta->index, i, &e, strerror(errno), NULL);
                atomic_fetch_add(&t->bad, 1);
                continue;
            }
            atomic_fetch_add(&t->conns, 1);
        }
        int rc = net_write_all(c.fd, req, n, false);
        if (rc < 0)
            why = strerror(errno);
        else
            rc = read_response(&c, &r, body, &why);
        if (rc < 0) {
            report(t, ta->index, i, &e, why, NULL);
            atomic_fetch_add(&t->bad, 1);
            conn_close(&c);
            continue;
        }
        consume(&c, r.raw_len);
        why = check(o, &e, &r);
        if (!why && r.conn_close && !closed_after(&c))
            why = "the connection stayed open after Connection: close";
        if (why) {
            report(t, ta->index, i, &e, why, &r);
            atomic_fetch_add(&t->bad, 1);
        } else {
            atomic_fetch_add(&t->ok, 1);
        }
        if (r.conn_close || why)
            conn_close(&c);
    }
    conn_close(&c);
    free(c.buf);
    free(body);
    return NULL;
}

/* --raw: one thread, requests in order, every received byte to stdout as is. */
static int run_raw(const struct opts *o)
{
    struct conn c = {.fd = -1, .buf = malloc(BUF_MAX)};
    char *body = malloc(BUF_MAX);
    char req[REQ_MAX];
    FILE *sent = NULL;
    int status = 0;
    if (!c.buf || !body)
        return 2;
    if (o->sent_path && !(sent = fopen(o->sent_path, "wb"))) {
        fprintf(stderr, "sample-client: %s: %s\n", o->sent_path, strerror(errno));
        return 2;
    }
    long count = o->nreqs > 0 ? o->nreqs : o->requests;
    for (long i = 0; i < count && status == 0; i++) {
        struct expect e;
        if (o->nreqs > 0) {
            char **q = o->reqs + 3 * i;
            snprintf(e.method, sizeof e.method, "%s", q[0]);
            snprintf(e.path, sizeof e.path, "%s", q[1]);
            snprintf(e.body, sizeof e.body, "%s", q[2] ? q[2] : "");
        } else {
            mix(i, &e);
        }
        size_t n = build_request(o, req, e.method, e.path, e.body[0] ? e.body : NULL);
        struct response r;
        const char *why = NULL;
        if (n == 0)
            why = "request too long";
        else if ((c.fd < 0 && conn_open(o, &c) < 0) || net_write_all(c.fd, req, n, false) < 0)
            why = strerror(errno);
        else
            read_response(&c, &r, body, &why);
        if (why) {
            fprintf(stderr, "sample-client: %s %s: %s\n", e.method, e.path, why);
            status = 1;
            break;
        }
        if (sent)
            fwrite(req, 1, n, sent);
        fwrite(c.buf, 1, r.raw_len, stdout);
        consume(&c, r.raw_len);
        if (r.conn_close)
            conn_close(&c);
    }
    fflush(stdout);
    if (sent && fclose(sent) != 0)
        status = 2;
    conn_close(&c);
    free(c.buf);
    free(body);
    return status;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fputs("usage: sample-client --to HOST:PORT [options] [METHOD PATH [BODY] ...]\n"
          "  -c, --to HOST:PORT   the service (sample-svc)\n"
          "  -t, --threads N      threads, one connection each (default 1)\n"
          "  -n, --requests M     requests per thread (default 10)\n"
          "  -k, --close          Connection: close, one connection per request (default keep-alive)\n"
          "  -r, --raw            one thread; print every byte received as is. Sends the requests\n"
          "                       given as arguments (POST takes a body), or M of the load mix\n"
          "  -S, --sent FILE      with --raw: write every byte sent to FILE\n"
          "  -h, --help           this help\n"
          "Load mode checks every answer and prints one summary line; exit 0 when all were right,\n"
          "1 when any was wrong, 2 on usage errors.\n",
          f);
}

static int parse_addr(const char *s, struct opts *o)
{
    if (net_parse_addr(s, &o->ss, &o->sslen) < 0)
        return -1;
    o->to = s;
    return 0;
}

static long parse_count(const char *s, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 1 || v > 1000000) {
        fprintf(stderr, "sample-client: %s wants 1 to 1000000, not '%s'\n", what, s);
        return -1;
    }
    return v;
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"to", required_argument, NULL, 'c'},      {"threads", required_argument, NULL, 't'},
        {"requests", required_argument, NULL, 'n'}, {"close", no_argument, NULL, 'k'},
        {"raw", no_argument, NULL, 'r'},            {"sent", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    struct opts o = {.threads = 1, .requests = 10};
    int c;
    while ((c = getopt_long(argc, argv, "c:t:n:krS:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (parse_addr(optarg, &o) < 0) {
                fprintf(stderr, "sample-client: '%s' is not a numeric HOST:PORT\n", optarg);
                return 2;
            }
            break;
        case 't':
            if ((o.threads = parse_count(optarg, "--threads")) < 0)
                return 2;
            break;
        case 'n':
            if ((o.requests = parse_count(optarg, "--requests")) < 0)
                return 2;
            break;
        case 'k': o.close = true; break;
        case 'r': o.raw = true; break;
        case 'S': o.sent_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!o.to || (optind < argc && !o.raw) || (o.sent_path && !o.raw)) {
        usage(stderr);
        return 2;
    }
    if (o.raw) {
        /* Regroup the arguments as METHOD PATH BODY triples, BODY NULL unless POST or PUT. */
        char **reqs = calloc((size_t)(argc - optind) * 3 + 3, sizeof *reqs);
        if (!reqs)
            return 2;
        for (int i = optind; i < argc; o.nreqs++) {
            if (i + 1 >= argc) {
                fprintf(stderr, "sample-client: '%s' wants a path\n", argv[i]);
                return 2;
            }
            reqs[3 * o.nreqs] = argv[i];
            reqs[3 * o.nreqs + 1] = argv[i + 1];
            bool has_body = strcmp(argv[i], "POST") == 0 || strcmp(argv[i], "PUT") == 0;
            if (has_body && i + 2 >= argc) {
                fprintf(stderr, "sample-client: %s %s wants a body\n", argv[i], argv[i + 1]);
                return 2;
            }
            reqs[3 * o.nreqs + 2] = has_body ? argv[i + 2] : NULL;
            i += has_body ? 3 : 2;
        }
        o.reqs = reqs;
        int st = run_raw(&o);
        free(reqs);
        return st;
    }

    struct tally t = {0};
    struct thread_arg *ta = calloc((size_t)o.threads, sizeof *ta);
    if (!ta)
        return 2;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long started = 0;
    for (; started < o.threads; started++) {
        ta[started] = (struct thread_arg){.o = &o, .t = &t, .index = started};
        if (pthread_create(&ta[started].tid, NULL, load_thread, &ta[started]) != 0) {
            fprintf(stderr, "sample-client: cannot start thread %ld\n", started);
            break;
        }
    }
    for (long i = 0; i < started; i++)
        pthread_join(ta[i].tid, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(ta);
    long ok = atomic_load(&t.ok), bad = atomic_load(&t.bad) + (o.threads - started) * o.requests;
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%s: %ld threads x %ld requests: %ld ok, %ld bad, %ld connections\n",
           o.close ? "close" : "keep-alive", o.threads, o.requests, ok, bad, atomic_load(&t.conns));
    fprintf(stderr, "sample-client: %ld requests in %.3f s, %.0f requests/s\n", ok + bad, secs,
            secs > 0 ? (double)(ok + bad) / secs : 0.0);
    return bad == 0 ? 0 : 1;
}
