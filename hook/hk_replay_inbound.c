/* hk_replay_inbound.c - the replayer's inbound server. An HTTP POST carries one recorded
 * session (a protobuf koala.Session); its request goes to the service (KOALA_SUT_ADDR) from a
 * local address of its own, and what the service answers comes back as one protobuf
 * koala.ReplayedSession (POST /json: the original koala's ReplayingSession JSON, answered with
 * its ReplayedSession JSON). libmicrohttpd is polled by koala's own thread (hk_mhd.c), so none
 * of its calls is recorded or redirected; each session is replayed on a thread of its own
 * while its HTTP connection waits, suspended. */
#include "hk_mhd.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY (256u << 20)            /* a session larger than this is refused */
#define CONNECT_MS 5000
#define ANSWER_NS (30 * (int64_t)1000000000) /* a service silent this long fails the session */

/* One POST, from its first byte to its answer. */
typedef struct job {
    struct MHD_Connection *conn;
    kl_buf body;
    bool too_big, started;
    bool json;            /* POST /json: the original koala's protocol, JSON both ways */
    unsigned status;      /* of the answer */
    const char *type;
    kl_buf answer;        /* a ReplayedSession, or a line of text saying what went wrong */
} job;

static struct {
    hk_config cfg;
    hk_mhd_server server;
    atomic_uint unix_names; /* for the abstract addresses a unix service is called from */
} in;

/* Bind fd, about to call the service, to an address no other connection has: loopback with
 * a port the kernel picks, or a fresh abstract unix name. The service's accept() then tells
 * the session by its peer. */
static int bind_unique(int fd, const kl_addr *sut, kl_addr *local)
{
    kl_addr want;
    if (sut->unix_path[0]) {
        char name[64];
        snprintf(name, sizeof name, "@koala-replay-%ld-%u", (long)getpid(),
                 atomic_fetch_add(&in.unix_names, 1));
        kl_addr_parse(name, &want);
    } else {
        kl_addr_parse(sut->family == AF_INET6 ? "[::1]:0" : "127.0.0.1:0", &want);
    }
    struct sockaddr_storage ss;
    socklen_t len;
    if (kl_addr_to_sockaddr(&want, &ss, &len) != KL_OK || bind(fd, (struct sockaddr *)&ss, len) != 0)
        return -1;
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        kl_addr_from_sockaddr((struct sockaddr *)&ss, len, local) != KL_OK)
        return -1;
    return 0;
}

/* Wait for events on fd until deadline (monotonic ms). @return >0 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - hk_mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (n > 0 || (n < 0 && errno != EINTR))
            return n;
    }
}

static int send_all(int fd, const uint8_t *data, size_t len, int64_t deadline)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) <= 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Whether resp holds the whole answer to req by its protocol (HTTP, FastCGI, RESP). */
static bool complete(kl_protocol p, const kl_bytes *req, const kl_buf *resp, bool eof)
{
    if (p == KL_PROTO_UNKNOWN || p == KL_PROTO_MYSQL)
        return false;
    unsigned flags = KL_FRAME_RESPONSE | (eof ? KL_FRAME_EOF : 0);
    if (p == KL_PROTO_HTTP && req->len >= 5 && memcmp(req->data, "HEAD ", 5) == 0)
        flags |= KL_FRAME_HEAD;
    kl_frame_state st = {0};
    size_t n = 0;
    return kl_frame_message(p, flags, (const uint8_t *)resp->data, resp->len, &st, &n) == KL_OK && n;
}

/* Send the recorded request to the service and read its answer into resp: complete when its
 * protocol says so, at the end of the stream, or after the read timeout of silence once
 * bytes came. @return NULL, or what went wrong. */
static const char *call_service(hk_replay *r, kl_buf *resp, int64_t *first_at, char *why, size_t cap)
{
    const kl_addr *sut = &in.cfg.sut_addr;
    const kl_bytes *req = &hk_replay_session(r)->call_from_inbound.request;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int fd = kl_addr_to_sockaddr(sut, &ss, &len) == KL_OK
                 ? socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) : -1;
    kl_addr local;
    char sut_text[KL_ADDR_STRLEN];
    kl_addr_format(sut, sut_text, sizeof sut_text);
    if (fd < 0 || bind_unique(fd, sut, &local) != 0) {
        snprintf(why, cap, "cannot make a socket to call the service at %s: %s", sut_text, strerror(errno));
        goto out;
    }
    hk_replay_claim(r, &local);
    int64_t deadline = hk_mono_ms() + CONNECT_MS;
    int err = 0;
    socklen_t el = sizeof err;
    if ((connect(fd, (struct sockaddr *)&ss, len) != 0 &&
         (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline) <= 0)) ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
        snprintf(why, cap, "cannot connect to the service at %s (KOALA_SUT_ADDR): %s", sut_text,
                 strerror(err ? err : errno ? errno : ETIMEDOUT));
        goto out;
    }
    deadline = hk_mono_ms() + ANSWER_NS / 1000000;
    if (send_all(fd, req->data, req->len, deadline) != 0) {
        snprintf(why, cap, "sending the request to the service: %s", strerror(errno));
        goto out;
    }
    kl_protocol p = kl_frame_detect(req->data, req->len);
    int64_t silence = in.cfg.inbound_read_timeout_ns / 1000000;
    for (;;) {
        int64_t until = resp->len && (p == KL_PROTO_UNKNOWN || p == KL_PROTO_MYSQL) ? hk_mono_ms() + silence : deadline;
        if (until > deadline)
            until = deadline;
        int ready = wait_fd(fd, POLLIN, until);
        if (ready == 0) {
            if (!resp->len)
                snprintf(why, cap, "the service answered nothing in %d s", (int)(ANSWER_NS / 1000000000));
            else if (hk_mono_ms() >= deadline)
                snprintf(why, cap, "the service's answer was still incomplete after %d s",
                         (int)(ANSWER_NS / 1000000000));
            break;
        }
        char buf[16384];
        ssize_t n = ready < 0 ? -1 : recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            snprintf(why, cap, "reading the service's answer: %s", strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (!resp->len)
            *first_at = hk_now_ns(CLOCK_REALTIME);
        if (kl_buf_append(resp, buf, (size_t)n) != KL_OK) {
            snprintf(why, cap, "out of memory reading the service's answer");
            break;
        }
        if (complete(p, req, resp, false))
            break;
    }
out:
    if (fd >= 0)
        close(fd);
    return why[0] ? why : NULL;
}

/* A line of text: what went wrong, and why. */
static void answer_text(job *j, unsigned status, const char *what, const char *why)
{
    j->status = status;
    j->type = "text/plain; charset=utf-8";
    j->answer.len = 0;
    kl_buf_printf(&j->answer, "%s%s\n", what, why);
}

static void *replay_main(void *arg)
{
    job *j = arg;
    hk_own_thread("koala-replay", false);
    char why[512] = "";
    kl_session *s = NULL;
    kl_replayed *out = NULL;
    if (j->too_big) {
        answer_text(j, 413, "a session larger than 256 MiB is refused", "");
    } else if (j->json ? kl_replaying_from_json((const uint8_t *)j->body.data, j->body.len, &s, why) != KL_OK
                       : kl_session_decode((const uint8_t *)j->body.data, j->body.len, &s, why) != KL_OK) {
        answer_text(j, 400, j->json ? "the body is not a ReplayingSession (JSON): "
                                    : "the body is not a koala.Session (protobuf): ", why);
    } else {
        hk_replay *r = hk_replay_begin(s);
        kl_buf resp = {0};
        int64_t first = 0;
        if (r) {
            const char *err = call_service(r, &resp, &first, why, sizeof why);
            if (err)
                hk_log(HK_WARN, "replaying %s: %s", hk_replay_session(r)->id ? hk_replay_session(r)->id : "a session", err);
            out = hk_replay_end(r, (const uint8_t *)resp.data, resp.len, first, err);
        }
        kl_buf_free(&resp);
        int err = !out ? KL_ERR_NOMEM
                  : j->json ? kl_json_replayed(out, 0, &j->answer)
                            : kl_replayed_encode(out, &j->answer); /* past KL_MAX_RECORD: TOOBIG */
        if (err != KL_OK) {
            answer_text(j, 500, "the replayed session cannot be sent: ", kl_strerror(err));
        } else {
            j->status = 200;
            j->type = j->json ? "application/json" : "application/x-protobuf";
        }
    }
    hk_mhd.resume_connection(j->conn);
    /* libmicrohttpd's own wake-up of an external event loop is not there in every mode. */
    hk_mhd_wake(&in.server);
    /* Once answered: a page's request holds the witch's lock while it writes out the sessions. */
    hk_witch_keep_replayed(out);
    return NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    (void)cls, (void)version;
    job *j = *state;
    if (!j) {
        if (strcmp(method, "POST") != 0) {
            static const char use[] = "koala replayer: POST a recorded session (protobuf koala.Session); "
                                      "the answer is a koala.ReplayedSession. POST /json takes the "
                                      "original koala's ReplayingSession JSON\n";
            return hk_mhd_answer(c, 405, "text/plain; charset=utf-8", use, sizeof use - 1);
        }
        if (!(j = calloc(1, sizeof *j)))
            return MHD_NO;
        j->conn = c;
        j->json = strcmp(url, "/json") == 0;
        *state = j;
        return MHD_YES;
    }
    if (*size) {
        if (j->body.len + *size > MAX_BODY || kl_buf_append(&j->body, data, *size) != KL_OK)
            j->too_big = true;
        *size = 0;
        return MHD_YES;
    }
    if (!j->started) {
        j->started = true;
        hk_mhd.suspend_connection(c);
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, replay_main, j) != 0) {
            answer_text(j, 503, "no thread to replay the session", "");
            hk_mhd.resume_connection(c);
        }
        pthread_attr_destroy(&a);
        return MHD_YES;
    }
    return hk_mhd_answer(c, j->status, j->type, j->answer.data, j->answer.len);
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)c, (void)why;
    job *j = *state;
    if (!j)
        return;
    kl_buf_free(&j->body);
    kl_buf_free(&j->answer);
    free(j);
    *state = NULL;
}

static void status(hk_mhd_server *s, const char *why, int err)
{
    char text[KL_ADDR_STRLEN], sut[KL_ADDR_STRLEN];
    kl_addr_format(&s->addr, text, sizeof text);
    if (!why)
        hk_log(HK_INFO, "replaying: sessions POSTed to http://%s are sent to the service at %s", text,
               kl_addr_format(&in.cfg.sut_addr, sut, sizeof sut));
    else if (err)
        hk_log(HK_ERROR, "KOALA_INBOUND_ADDR=%s: %s there: %s", text, why, strerror(err));
    else
        hk_log(HK_ERROR, "no inbound server: %s", why);
}

bool hk_replay_inbound_start(const hk_config *c)
{
    in.cfg = *c;
    char text[KL_ADDR_STRLEN];
    kl_addr_format(&c->inbound_addr, text, sizeof text);
    if (c->inbound_addr.unix_path[0]) {
        hk_log(HK_ERROR, "KOALA_INBOUND_ADDR=%s: the inbound server listens on ip:port only", text);
        return false;
    }
    in.server = (hk_mhd_server){.addr = c->inbound_addr, .handle = handle, .completed = completed,
                                .status = status, .thread_name = "koala-inbound"};
    return hk_mhd_start(&in.server, "the inbound server");
}

void hk_replay_inbound_stop(void)
{
    hk_mhd_stop(&in.server);
}
