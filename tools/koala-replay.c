/* koala-replay.c - replays recorded sessions against a service through the replayer's inbound
 * server (libkoala-replayer.so) and writes what the service did now, one replayed session per
 * recorded one, in input order. */
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "Usage: koala-replay [OPTION]... FILE...\n"
    "Replay recorded sessions against a service started with\n"
    "LD_PRELOAD=libkoala-replayer.so: each session goes to the replayer's inbound server,\n"
    "which sends its request to the service and answers its outbound calls from the\n"
    "recording. FILE '-' is stdin; several FILEs are replayed one after the other. A FILE\n"
    "may also be a session file of the original koala (JSON) or a directory of them,\n"
    "replayed in time order.\n"
    "\n"
    "      --to=ADDR          the inbound server (KOALA_INBOUND_ADDR): ip:port, [ipv6]:port\n"
    "                         or :port for 127.0.0.1 (default 127.0.0.1:2514)\n"
    "  -o, --output=OUT       write one replayed session per session to OUT, in input\n"
    "                         order ('-' is stdout, never a terminal); without -o only\n"
    "                         the summary is printed\n"
    "  -j, --jobs=N           replay N sessions at once, each on a connection of its own\n"
    "                         (default 1, at most 256)\n"
    "  -Y, --filter=EXPR      only sessions matching the display filter EXPR (as koala-dump)\n"
    "      --timeout=D        give up on a session after D (default 60s; 100ms, 5m, ...)\n"
    "  -h, --help             print this help and exit\n"
    "      --version          print the version and exit\n"
    "\n"
    "A progress bar is shown on stderr when it is a terminal; a summary is always printed\n"
    "there: sessions replayed and failed, outbound calls matched and unmatched, recorded\n"
    "calls never used. A session fails when the inbound server cannot be reached or\n"
    "answers an error, or when the replayed session carries errors (the service could not\n"
    "be reached, did not answer...). A failed session is still written to OUT, with its\n"
    "recorded request and response and the reason among its errors.\n"
    "\n"
    "Exit status: 0 when every session replayed, 1 when some failed, 2 on trouble (usage,\n"
    "an input that cannot be read in full, no inbound server at ADDR).\n";

enum { OPT_TO = 256, OPT_TIMEOUT, OPT_VERSION };

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"to", required_argument, NULL, OPT_TO},
    {"output", required_argument, NULL, 'o'},
    {"jobs", required_argument, NULL, 'j'},
    {"filter", required_argument, NULL, 'Y'},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {NULL, 0, NULL, 0},
};

#define MAX_JOBS 256
#define MAX_ANSWER ((size_t)KL_MAX_RECORD + (1u << 20)) /* a ReplayedSession and HTTP framing */
#define READ_CHUNK (64u << 10)
#define MAX_FAILURE_LINES 10
#define NS_PER_S 1000000000LL
#define CHECK_NS (10 * NS_PER_S) /* the first connection, which tells whether ADDR is there */

/* One session on its way: filled by the main thread, replayed by a worker, written by the
 * main thread once it and every session before it are done. */
typedef struct job {
    kl_session *s;          /* owning copy of the recorded session */
    kl_replayed *rp;        /* the result; NULL with done set: out of memory */
    char why[512];          /* why the session failed, "" when it did not */
    bool done;
} job;

typedef struct replay {
    /* options */
    struct sockaddr_storage sa;
    socklen_t salen;
    char to[KL_ADDR_STRLEN];    /* the inbound server, for messages and the Host header */
    int jobs;
    int64_t timeout;
    const char *timeout_text;
    kl_filter *filter;
    const char *out_path;
    /* shared with the workers, under mu */
    pthread_mutex_t mu;
    pthread_cond_t work;        /* a job was queued, or closing was set */
    pthread_cond_t done;        /* a job is done */
    job *ring;                  /* window slots; job n sits at n % window */
    uint64_t window;
    uint64_t queued, taken;
    bool closing;
    atomic_uint_fast64_t finished;
    /* the main thread's */
    uint64_t written, failed, failure_lines;
    uint64_t matched, unmatched, unused;
    kl_writer *w;
    int status;
    bool tty;
    bool total_known;
    uint64_t total;
    int64_t start, drawn_at;
    bool drawn;
} replay;

/* A worker's own connection to the inbound server and its buffers. */
typedef struct worker {
    replay *r;
    pthread_t th;
    int fd;                 /* -1 when not connected */
    bool kept;              /* fd was open before this session (kept alive, or the first
                               check): the server may have closed it while it was idle */
    kl_buf body, in;
} worker;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* ------------------------------------------------------------- HTTP client */

/* Wait until fd is ready for events or the deadline (monotonic ns) passes.
 * @return 1 ready, 0 timed out, -1 with errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ns();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)((left + 999999) / 1000000));
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* Connect to the inbound server. @return the connected non-blocking socket, or -1 with the
 * reason in why. */
static int connect_to(const replay *r, int64_t deadline, char *why, size_t cap)
{
    int err = 0;
    int fd = socket(r->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = errno;
    } else if (connect(fd, (const struct sockaddr *)&r->sa, r->salen) != 0) {
        socklen_t len = sizeof err;
        int ready = errno == EINPROGRESS ? wait_fd(fd, POLLOUT, deadline) : -1;
        if (ready < 0)
            err = errno;
        else if (ready == 0)
            err = ETIMEDOUT;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
    }
    if (err) {
        snprintf(why, cap, "cannot connect to the inbound server at %s: %s", r->to, strerror(err));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1; /* the last bytes of a session must not wait for an ACK (Nagle) */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void disconnect(worker *wk)
{
    if (wk->fd >= 0)
        close(wk->fd);
    wk->fd = -1;
    wk->kept = false;
}

/* Send the iovecs in full. @return 0, or an errno value (ETIMEDOUT past the deadline). */
static int send_all(int fd, struct iovec *iov, int n, int64_t deadline)
{
    while (n > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t k = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return errno;
            int ready = wait_fd(fd, POLLOUT, deadline);
            if (ready <= 0)
                return ready == 0 ? ETIMEDOUT : errno;
            continue;
        }
        size_t sent = (size_t)k;
        for (; n > 0 && sent >= iov->iov_len; iov++, n--)
            sent -= iov->iov_len;
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + sent;
            iov->iov_len -= sent;
        }
    }
    return 0;
}

/* An HTTP answer, parsed. m borrows the worker's input buffer; free it with kl_http_msg_free. */
typedef struct answer {
    kl_http_msg m;
    bool keep_alive;        /* the connection may carry the next session */
} answer;

/* Whether the comma-separated list v[0..n) holds token (any case). */
static bool list_has(const uint8_t *v, size_t n, const char *token)
{
    size_t tl = strlen(token);
    for (size_t i = 0; i < n;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (i - s == tl && strncasecmp((const char *)v + s, token, tl) == 0)
            return true;
    }
    return false;
}

/* Whether the server closes the connection after answer m: "Connection: close", or HTTP/1.0
 * without "Connection: keep-alive". */
static bool closes_after(const kl_http_msg *m)
{
    bool http10 = m->version.len == 8 && m->version.data[7] == '0', close = false, keep = false;
    for (const kl_http_header *h = NULL; (h = kl_http_header_next(m, h, "Connection"));) {
        close |= list_has(h->value.data, h->value.len, "close");
        keep |= list_has(h->value.data, h->value.len, "keep-alive");
    }
    return close || (http10 && !keep);
}

enum { EXCH_OK, EXCH_FAILED, EXCH_STALE };

/* POST the encoded session in wk->body on wk's connection and read the whole answer.
 * @return EXCH_OK with *a; EXCH_STALE when a kept-alive connection turned out closed before any
 *         answer came (the server closed it while idle: try again on a new one); EXCH_FAILED
 *         with why. */
static int exchange(worker *wk, int64_t deadline, answer *a, char *why, size_t cap)
{
    const replay *r = wk->r;
    bool reused = wk->kept;
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST / HTTP/1.1\r\nHost: %s\r\nUser-Agent: koala-replay/%s\r\n"
                      "Content-Type: application/x-protobuf\r\nContent-Length: %zu\r\n\r\n",
                      r->to, kl_version(), wk->body.len);
    struct iovec iov[2] = {{head, (size_t)hn}, {wk->body.data, wk->body.len}};
    int err = send_all(wk->fd, iov, wk->body.len ? 2 : 1, deadline);
    if (err) {
        if (reused && (err == EPIPE || err == ECONNRESET))
            return EXCH_STALE;
        if (err == ETIMEDOUT)
            snprintf(why, cap, "the inbound server at %s took no request within %s", r->to,
                     r->timeout_text);
        else
            snprintf(why, cap, "sending to the inbound server at %s: %s", r->to, strerror(err));
        return EXCH_FAILED;
    }
    kl_buf *in = &wk->in;
    in->len = 0;
    kl_frame_state st = {0};
    size_t msg_len = 0;
    bool eof = false;
    for (;;) {
        if (kl_buf_reserve(in, READ_CHUNK) != KL_OK) {
            snprintf(why, cap, "out of memory reading the inbound server's answer");
            return EXCH_FAILED;
        }
        ssize_t n = recv(wk->fd, in->data + in->len, in->cap - in->len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int ready = wait_fd(wk->fd, POLLIN, deadline);
            if (ready > 0)
                continue;
            if (ready == 0)
                snprintf(why, cap, "no answer from the inbound server at %s within %s", r->to,
                         r->timeout_text);
            else
                snprintf(why, cap, "waiting for the inbound server at %s: %s", r->to,
                         strerror(errno));
            return EXCH_FAILED;
        }
        if (n < 0 && errno == ECONNRESET && reused && in->len == 0)
            return EXCH_STALE;
        if (n < 0) {
            snprintf(why, cap, "reading from the inbound server at %s: %s", r->to, strerror(errno));
            return EXCH_FAILED;
        }
        if (n == 0 && in->len == 0) {
            if (reused)
                return EXCH_STALE;
            snprintf(why, cap, "the inbound server at %s closed the connection without answering",
                     r->to);
            return EXCH_FAILED;
        }
        in->len += (size_t)n;
        in->data[in->len] = '\0';
        eof = n == 0;
        int rc = kl_frame_message(KL_PROTO_HTTP, KL_FRAME_RESPONSE | (eof ? KL_FRAME_EOF : 0u),
                                  (const uint8_t *)in->data, in->len, eof ? NULL : &st, &msg_len);
        if (rc == KL_OK && msg_len)
            break;
        if (rc == KL_ERR_TRUNCATED || (rc == KL_OK && eof)) {
            snprintf(why, cap, "the inbound server at %s closed the connection in the middle of "
                     "its answer (%zu bytes)", r->to, in->len);
            return EXCH_FAILED;
        }
        if (rc != KL_OK) {
            snprintf(why, cap, "the inbound server at %s answered something that is not HTTP/1.x (%s)",
                     r->to, kl_strerror(rc));
            return EXCH_FAILED;
        }
        if (in->len > MAX_ANSWER) {
            snprintf(why, cap, "the inbound server's answer passed %zu bytes", MAX_ANSWER);
            return EXCH_FAILED;
        }
    }
    char detail[KL_ERRBUF_SIZE] = "";
    int rc = kl_http_parse((const uint8_t *)in->data, msg_len, KL_HTTP_KEEP_ENCODING, &a->m, detail);
    if (rc != KL_OK) {
        snprintf(why, cap, "the inbound server at %s answered something that is not HTTP/1.x (%s)",
                 r->to, *detail ? detail : kl_strerror(rc));
        return EXCH_FAILED;
    }
    /* Bytes past the answer were never asked for: this connection cannot be trusted. */
    a->keep_alive = !eof && msg_len == in->len && !closes_after(&a->m);
    return EXCH_OK;
}

/* ------------------------------------------------------------------ sessions */

/* The first line of a text answer, printable, for a message. */
static void first_line(const answer *a, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < a->m.body.len && n + 1 < cap && n < 200; i++) {
        uint8_t c = a->m.body.data[i];
        if (c == '\n' || c == '\r')
            break;
        out[n++] = c >= ' ' && c < 0x7f ? (char)c : '?';
    }
    out[n] = '\0';
}

/* The replayed session of a session that could not be replayed: what was recorded, and why. */
static kl_replayed *failed_replayed(const kl_session *s, int64_t at, const char *why)
{
    kl_replayed *rp = kl_replayed_new();
    if (!rp)
        return NULL;
    rp->original_request_time = s->call_from_inbound.occurred_at;
    rp->replayed_at = at;
    if (kl_replayed_dup_str(rp, &rp->session_id, s->id) != KL_OK ||
        kl_replayed_dup_bytes(rp, &rp->original_request, s->call_from_inbound.request.data,
                              s->call_from_inbound.request.len) != KL_OK ||
        kl_replayed_dup_bytes(rp, &rp->original_response, s->return_inbound.response.data,
                              s->return_inbound.response.len) != KL_OK ||
        kl_replayed_add_error(rp, why) != KL_OK) {
        kl_replayed_free(rp);
        return NULL;
    }
    return rp;
}

/* Replay one session on wk's connection: j->rp and j->why are set. */
static void replay_one(worker *wk, job *j)
{
    const replay *r = wk->r;
    int64_t at = clock_ns(CLOCK_REALTIME);
    int64_t deadline = mono_ns() + r->timeout;
    char text[256];
    answer a = {0};
    int rc;
    wk->body.len = 0;
    if ((rc = kl_session_encode(j->s, &wk->body)) != KL_OK) {
        snprintf(j->why, sizeof j->why, "cannot encode the session: %s", kl_strerror(rc));
        goto failed;
    }
    for (int attempt = 0;; attempt++) {
        if (wk->fd < 0 && (wk->fd = connect_to(r, deadline, j->why, sizeof j->why)) < 0)
            goto failed;
        int x = exchange(wk, deadline, &a, j->why, sizeof j->why);
        if (x == EXCH_OK)
            break;
        disconnect(wk);
        if (x == EXCH_FAILED || attempt > 0)
            goto failed;
    }
    wk->kept = a.keep_alive;
    if (!a.keep_alive)
        disconnect(wk);
    if (a.m.status != 200) {
        first_line(&a, text, sizeof text);
        snprintf(j->why, sizeof j->why, "the inbound server answered %d%s%s", a.m.status,
                 *text ? ": " : "", text);
        goto failed;
    }
    char err[KL_ERRBUF_SIZE] = "";
    rc = kl_replayed_decode(a.m.body.data, a.m.body.len, &j->rp, err);
    kl_http_msg_free(&a.m);
    if (rc != KL_OK) {
        snprintf(j->why, sizeof j->why, "the inbound server's answer is not a koala.ReplayedSession: %s",
                 *err ? err : kl_strerror(rc));
        goto failed;
    }
    size_t more = j->rp->n_errors - (j->rp->n_errors > 0);
    if (more)
        snprintf(j->why, sizeof j->why, "%s (and %zu more error%s)", j->rp->errors[0], more,
                 more == 1 ? "" : "s");
    else if (j->rp->n_errors)
        snprintf(j->why, sizeof j->why, "%s", j->rp->errors[0]);
    return;
failed:
    kl_http_msg_free(&a.m);
    j->rp = failed_replayed(j->s, at, j->why);
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    replay *r = wk->r;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (r->taken == r->queued && !r->closing)
            pthread_cond_wait(&r->work, &r->mu);
        if (r->taken == r->queued)
            break;
        job *j = &r->ring[r->taken++ % r->window];
        pthread_mutex_unlock(&r->mu);
        replay_one(wk, j);
        pthread_mutex_lock(&r->mu);
        j->done = true;
        atomic_fetch_add(&r->finished, 1);
        pthread_cond_signal(&r->done);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ------------------------------------------------------------ main thread */

/* "[=======>        ] 120/500  24%  410/s  1 failed" on a terminal, ten times a second at
 * most; final draws it whatever the time. */
static void progress(replay *r, bool final)
{
    if (!r->tty)
        return;
    int64_t now = mono_ns();
    if (!final && r->drawn && now - r->drawn_at < NS_PER_S / 10)
        return;
    r->drawn_at = now;
    r->drawn = true;
    uint64_t done = atomic_load(&r->finished);
    double secs = (double)(now - r->start) / 1e9;
    double rate = secs > 0 ? (double)done / secs : 0;
    char line[160];
    int n = 0;
    if (r->total_known && r->total > 0) {
        enum { WIDTH = 30 };
        int fill = (int)(done * WIDTH / r->total);
        char bar[WIDTH + 1];
        for (int i = 0; i < WIDTH; i++)
            bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
        bar[WIDTH] = '\0';
        n = snprintf(line, sizeof line, "[%s] %llu/%llu %3d%%", bar, (unsigned long long)done,
                     (unsigned long long)r->total, (int)(done * 100 / r->total));
    } else {
        n = snprintf(line, sizeof line, "%llu sessions", (unsigned long long)done);
    }
    snprintf(line + n, sizeof line - (size_t)n, "  %.0f/s  %llu failed", rate,
             (unsigned long long)r->failed);
    fprintf(stderr, "\r%s\033[K", line);
}

static void progress_clear(replay *r)
{
    if (r->tty && r->drawn)
        fputs("\r\033[K", stderr);
    r->drawn = false;
}

/* Account for the oldest job and write its replayed session. */
static void write_job(replay *r, job *j)
{
    kl_replayed *rp = j->rp;
    if (!rp)
        tool_die("out of memory");
    for (size_t i = 0; i < rp->n_actions; i++)
        if (rp->actions[i].action.type == KL_ACTION_CALL_OUTBOUND) {
            if (rp->actions[i].matched_index >= 0)
                r->matched++;
            else
                r->unmatched++;
        }
    r->unused += rp->n_unused_calls;
    if (j->why[0]) {
        r->failed++;
        if (r->failure_lines++ < MAX_FAILURE_LINES) {
            progress_clear(r);
            tool_warn("session %s: %s", j->s->id ? j->s->id : "(no id)", j->why);
        }
    }
    if (r->w && kl_writer_write_replayed(r->w, rp) != KL_OK)
        tool_die_writing(r->out_path, kl_writer_error(r->w));
    kl_replayed_free(rp);
    kl_session_free(j->s);
    memset(j, 0, sizeof *j);
    r->written++;
}

/* Write the jobs done at the head of the window, in order; with wait, first wait until the
 * oldest is done (a tenth of a second at a time, for the progress bar), unless interrupted
 * while queueing. */
static void drain(replay *r, bool wait)
{
    for (;;) {
        pthread_mutex_lock(&r->mu);
        job *j = r->written < r->queued ? &r->ring[r->written % r->window] : NULL;
        while (wait && j && !j->done) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += NS_PER_S / 10;
            if (ts.tv_nsec >= NS_PER_S)
                ts.tv_sec++, ts.tv_nsec -= NS_PER_S;
            pthread_cond_timedwait(&r->done, &r->mu, &ts);
            /* Interrupted, queueing stops at once; at the end, sessions on their way finish. */
            if (interrupted && !r->closing)
                break;
            if (!j->done) {
                pthread_mutex_unlock(&r->mu);
                progress(r, false);
                pthread_mutex_lock(&r->mu);
            }
        }
        bool ready = j && j->done;
        pthread_mutex_unlock(&r->mu);
        if (!ready)
            break;
        write_job(r, j);
        wait = false;
    }
    progress(r, false);
}

/* Queue one session: wait for room in the window first, writing what is done meanwhile. */
static void submit(replay *r, const kl_session *s)
{
    while (r->queued - r->written >= r->window) {
        drain(r, true);
        if (interrupted)
            return;
    }
    job *j = &r->ring[r->queued % r->window];
    tool_must(kl_session_clone(s, &j->s));
    pthread_mutex_lock(&r->mu);
    r->queued++;
    pthread_cond_signal(&r->work);
    pthread_mutex_unlock(&r->mu);
    drain(r, false);
}

/* Sessions still waiting for a worker are dropped: in-flight ones finish. */
static void stop_queueing(replay *r)
{
    pthread_mutex_lock(&r->mu);
    for (uint64_t n = r->taken; n < r->queued; n++) {
        job *j = &r->ring[n % r->window];
        kl_session_free(j->s);
        memset(j, 0, sizeof *j);
    }
    r->queued = r->taken;
    pthread_mutex_unlock(&r->mu);
}

static void replay_file(replay *r, const char *path)
{
    const char *name = tool_display_name(path);
    progress_clear(r); /* for a warning; the bar comes back at the next session */
    bool damaged = false;
    kl_reader *rd = tool_input_open(path, &damaged);
    if (damaged || !rd)
        r->status = TOOL_EXIT_TROUBLE;
    if (!rd)
        return;
    if (kl_reader_info(rd)->kind == KL_KIND_REPLAYED) {
        tool_warn("%s: holds replayed sessions; koala-replay replays recorded ones", name);
        r->status = TOOL_EXIT_TROUBLE;
        tool_reader_close(rd);
        return;
    }
    const kl_session *s;
    for (int rc; !interrupted && (rc = kl_reader_next(rd, &s)) != KL_END;) {
        if (rc == KL_OK) {
            if (!r->filter || kl_filter_match(r->filter, s))
                submit(r, s);
            continue;
        }
        progress_clear(r);
        r->status = TOOL_EXIT_TROUBLE;
        if (!tool_read_past(name, rd, rc))
            break;
    }
    tool_reader_close(rd);
}

/* The number of sessions the inputs hold, when every one has an index and no filter picks. */
static void count_sessions(replay *r, char **paths, int n)
{
    r->total_known = !r->filter;
    for (int i = 0; i < n && r->total_known; i++) {
        kl_reader *rd = NULL;
        if (tool_is_stdio(paths[i]) || kl_reader_open(&rd, paths[i], NULL) != KL_OK ||
            !kl_reader_info(rd)->has_index)
            r->total_known = false;
        else
            r->total += kl_reader_info(rd)->sessions;
        kl_reader_close(rd);
    }
}

static void parse_to(replay *r, const char *text)
{
    kl_addr a;
    if (kl_addr_parse(text, &a) != KL_OK || a.family == 0 || a.port == 0)
        tool_usage_error("--to: '%s' is not ip:port, [ipv6]:port or :port", text);
    static const uint8_t zeros[16];
    /* ":port" and 0.0.0.0 are where the inbound server listens, not where to go. */
    if (a.family == AF_INET && memcmp(a.ip, zeros, 4) == 0)
        memcpy(a.ip, (const uint8_t[4]){127, 0, 0, 1}, 4);
    if (a.family == AF_INET6 && memcmp(a.ip, zeros, 16) == 0)
        a.ip[15] = 1;
    kl_addr_format(&a, r->to, sizeof r->to);
    /* kl_addr_to_sockaddr refuses a non-empty address only for a zone that is not a number:
     * that is an interface's name, whose number is looked up here. */
    if (kl_addr_to_sockaddr(&a, &r->sa, &r->salen) != KL_OK) {
        unsigned scope = if_nametoindex(a.zone);
        if (!scope)
            tool_usage_error("--to: '%s': no network interface '%s'", text, a.zone);
        snprintf(a.zone, sizeof a.zone, "%u", scope);
        kl_addr_to_sockaddr(&a, &r->sa, &r->salen);
    }
}

static void parse_options(replay *r, int argc, char **argv)
{
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:j:Y:", long_options, NULL)) != -1) {
        switch (c) {
        case 'h': tool_help(usage);
        case OPT_VERSION: tool_version();
        case OPT_TO: parse_to(r, optarg); break;
        case 'o': r->out_path = optarg; break;
        case 'j': r->jobs = (int)tool_parse_count("--jobs", optarg, 1, MAX_JOBS); break;
        case 'Y': tool_parse_filter("-Y", optarg, &r->filter); break;
        case OPT_TIMEOUT:
            if (kl_parse_duration(optarg, &r->timeout) != KL_OK)
                tool_usage_error("--timeout: '%s' is not a duration (100ms, 60s, 5m)", optarg);
            r->timeout_text = optarg;
            break;
        default: tool_bad_option(c, argv);
        }
    }
    if (optind >= argc)
        tool_usage_error("no input file (use - for stdin)");
    int stdin_uses = 0;
    for (int i = optind; i < argc; i++)
        stdin_uses += tool_is_stdio(argv[i]);
    if (stdin_uses > 1)
        tool_usage_error("stdin ('-') can be read only once");
}

static void summary(replay *r)
{
    double secs = (double)(mono_ns() - r->start) / 1e9;
    uint64_t n = r->written;
    fprintf(stderr, "%s: %llu session%s%s: %llu replayed, %llu failed, in %.3f s (%.1f sessions/s)\n",
            tool_name, (unsigned long long)n, n == 1 ? "" : "s", r->filter ? " picked by -Y" : "",
            (unsigned long long)(n - r->failed), (unsigned long long)r->failed, secs,
            secs > 0 ? (double)n / secs : 0.0);
    fprintf(stderr, "%s: outbound calls: %llu matched, %llu unmatched; %llu recorded call%s never used\n",
            tool_name, (unsigned long long)r->matched, (unsigned long long)r->unmatched,
            (unsigned long long)r->unused, r->unused == 1 ? "" : "s");
    if (r->failure_lines > MAX_FAILURE_LINES)
        fprintf(stderr, "%s: %llu more failed sessions not shown%s%s\n", tool_name,
                (unsigned long long)(r->failure_lines - MAX_FAILURE_LINES),
                r->w && !tool_is_stdio(r->out_path) ? "; koala-dump -v " : "",
                r->w && !tool_is_stdio(r->out_path) ? r->out_path : "");
}

int main(int argc, char **argv)
{
    tool_init("koala-replay");
    replay r = {.jobs = 1, .timeout = 60 * NS_PER_S, .timeout_text = "60s"};
    parse_to(&r, "127.0.0.1:2514");
    parse_options(&r, argc, argv);
    char **paths = argv + optind;
    int npaths = argc - optind;
    if (r.out_path) {
        tool_refuse_tty(r.out_path);
        tool_refuse_output_as_input(r.out_path, paths, npaths);
    }

    /* No input that can be read is said first: it, not a service that is not there yet. */
    int readable = 0;
    for (int i = 0; i < npaths; i++)
        readable += tool_is_stdio(paths[i]) || access(paths[i], R_OK) == 0;
    if (!readable) {
        for (int i = 0; i < npaths; i++)
            if (access(paths[i], R_OK) != 0)
                tool_warn("%s: %s", paths[i], strerror(errno));
        return TOOL_EXIT_TROUBLE;
    }
    /* A service that is not there is one clear message, not one per session. */
    char why[512];
    int fd = connect_to(&r, mono_ns() + (r.timeout < CHECK_NS ? r.timeout : CHECK_NS), why, sizeof why);
    if (fd < 0)
        tool_die("%s; is the service running with LD_PRELOAD=libkoala-replayer.so and listening on KOALA_SUT_ADDR?", why);

    r.tty = isatty(STDERR_FILENO);
    if (r.tty)
        count_sessions(&r, paths, npaths);
    if (r.out_path)
        r.w = tool_writer_open(r.out_path, KL_KIND_REPLAYED, 3);
    r.window = (uint64_t)r.jobs * 4;
    r.ring = calloc(r.window, sizeof *r.ring);
    worker *workers = calloc((size_t)r.jobs, sizeof *workers);
    if (!r.ring || !workers)
        tool_die("out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.work, NULL);
    pthread_cond_init(&r.done, &ca);
    pthread_condattr_destroy(&ca);

    /* The first Ctrl-C stops queueing, lets the sessions on their way finish and still writes
     * the output and the summary; a second one kills. Workers leave signals to this thread. */
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    r.start = mono_ns();
    for (int i = 0; i < r.jobs; i++) {
        workers[i] = (worker){.r = &r, .fd = i == 0 ? fd : -1, .kept = i == 0};
        int rc = pthread_create(&workers[i].th, NULL, worker_main, &workers[i]);
        if (rc != 0)
            tool_die("cannot start a thread: %s", strerror(rc));
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    for (int i = 0; i < npaths && !interrupted; i++)
        replay_file(&r, paths[i]);
    if (interrupted)
        stop_queueing(&r);
    r.total = r.queued;
    r.total_known = true;
    pthread_mutex_lock(&r.mu);
    r.closing = true;
    pthread_cond_broadcast(&r.work);
    pthread_mutex_unlock(&r.mu);
    while (r.written < r.queued)
        drain(&r, true);
    for (int i = 0; i < r.jobs; i++) {
        pthread_join(workers[i].th, NULL);
        disconnect(&workers[i]);
        kl_buf_free(&workers[i].body);
        kl_buf_free(&workers[i].in);
    }
    progress(&r, true);
    progress_clear(&r);
    tool_writer_close(r.w, r.out_path);
    summary(&r);
    if (interrupted)
        tool_warn("interrupted: the sessions after the first %llu were not replayed",
                  (unsigned long long)r.written);
    free(workers);
    free(r.ring);
    kl_filter_free(r.filter);
    if (interrupted || r.status)
        return TOOL_EXIT_TROUBLE;
    return r.failed ? TOOL_EXIT_FAILED : TOOL_EXIT_OK;
}
