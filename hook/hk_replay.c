/* hk_replay.c - the sessions being replayed, and what the service does for them: which
 * session each thread and each redirected outbound connection serves, where connections go
 * instead, the recorded answers, the datagrams, appended files and function calls kept, the
 * recorded clock, the files a session redirects or mocks. */
#include "hk.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* A file the session appended to: one append_file action at the end, as the recorder keeps
 * one per file per session. */
typedef struct appended {
    char *name;
    kl_buf content;
    int64_t first_at;
    struct appended *next;
} appended;

struct hk_replay {
    uint64_t token;
    kl_session *s;
    kl_matcher *m;
    kl_replayed *out;        /* filled as the service works */
    kl_addr local;           /* where the inbound connection comes from */
    int64_t shift_ns;        /* recorded time minus real time, from the first read */
    bool read;               /* the service has read the request */
    uint32_t matched, missed; /* outbound requests answered, and not */
    appended *files;
    struct hk_replay *next;
};

/* A redirected outbound connection: the address the service's end is bound to (its key, the
 * peer the outbound server sees), the session it serves now, where the service meant to go. */
typedef struct conn {
    kl_addr key;
    uint64_t token;
    kl_addr peer;
    int fd;
    struct conn *next;
} conn;

/* A virtual thread (to-koala!set-delegated-from-thread-id) and the session it works for: that
 * of the replayed connection a thread delegating to it read last. */
typedef struct delegation {
    int64_t vtid;
    uint64_t token;
    struct delegation *next;
} delegation;

/* A service thread that worked for a replayed session, for the witch. */
typedef struct worker {
    int tid;
    int64_t vtid;
    uint64_t token;          /* the session it works for now, 0 for none */
    int64_t since;           /* when it took it */
} worker;
#define MAX_WORKERS 64       /* the most recent ones */

/* Few sessions are in flight at once (koala-replay -j N), and a service has few outbound
 * connections: lists under one lock, held for a match too (50 us at most). */
static struct {
    pthread_mutex_t lock;
    hk_replay *live;
    conn *conns;
    delegation *delegations;
    atomic_uint delegated;   /* changes with the delegations: delegating threads look again */
    uint64_t next_token;
    hk_config cfg;
    atomic_uint names;
    atomic_bool started;     /* the service listens: the servers were started */
    bool outbound;           /* the outbound server runs */
    worker workers[MAX_WORKERS];
    hk_replay_totals totals;
} rp = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_token = 1};

/* The calling thread's current session, and its clock shift. */
static __thread struct {
    uint64_t token;
    int64_t shift_ns;
    bool paths;              /* the session redirects or mocks files */
    int64_t vtid;            /* the virtual thread it delegates to, 0 for none */
    bool followed;           /* it works for vtid's session as of rp.delegated == seen */
    unsigned seen;
} cur __attribute__((tls_model("initial-exec")));

/* The address fd is bound to (for a redirected connection, its key). */
static bool key_of(int fd, kl_addr *key)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
           kl_addr_from_sockaddr((struct sockaddr *)&ss, len, key) == KL_OK && !kl_addr_is_empty(key);
}

/* The registry's lock is held around a fork and fresh in the child: a child that connects or
 * closes a socket before it execs (Python's subprocess closes every fd) would otherwise wait
 * forever for a lock another thread of its parent held, the outbound server's during a match.
 * The log's handlers, registered earlier, take its lock after this one, as answer() does. */
static void fork_prepare(void)
{
    pthread_mutex_lock(&rp.lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&rp.lock);
}

/* The parent's threads are not the child's workers. */
static void fork_child(void)
{
    pthread_mutex_init(&rp.lock, NULL);
    memset(rp.workers, 0, sizeof rp.workers);
}

void hk_replay_arm(const hk_config *c)
{
    rp.cfg = *c;
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* Whether a, the address a socket listens on, is the service's address. */
static bool is_sut(const kl_addr *a)
{
    const kl_addr *sut = &rp.cfg.sut_addr;
    if (sut->unix_path[0] || a->unix_path[0])
        return strcmp(sut->unix_path, a->unix_path) == 0;
    static const uint8_t any[16];
    return a->port == sut->port &&
           (memcmp(a->ip, any, 16) == 0 || (a->family == sut->family && memcmp(a->ip, sut->ip, 16) == 0));
}

void hk_replay_on_listen(int fd)
{
    kl_addr a;
    if (atomic_load(&rp.started) || !key_of(fd, &a) || !is_sut(&a) || atomic_exchange(&rp.started, true))
        return;
    rp.outbound = hk_replay_outbound_start(&rp.cfg);
    hk_replay_inbound_start(&rp.cfg);
    hk_witch_poke();
}

void hk_replay_stop(void)
{
    if (!atomic_load(&rp.started))
        return;
    hk_replay_inbound_stop();
    hk_replay_outbound_stop();
}

/* ------------------------------------------------------------- the registry */

static hk_replay *find(uint64_t token)
{
    hk_replay *r = rp.live;
    while (r && r->token != token)
        r = r->next;
    return r;
}

/* Two keys are the same connection: the port (all redirected connections go to the one
 * outbound server, so the kernel gives each a port of its own, whether the service's side
 * sees its address as IPv4 or IPv4-mapped IPv6), or the abstract name. */
static bool same_key(const kl_addr *a, const kl_addr *b)
{
    if (a->unix_path[0] || b->unix_path[0])
        return strcmp(a->unix_path, b->unix_path) == 0;
    return a->port == b->port;
}

static conn *find_conn(const kl_addr *key)
{
    conn *c = rp.conns;
    while (c && !same_key(&c->key, key))
        c = c->next;
    return c;
}

/* The session a connection serves (rp.lock held). One made outside any session (a pool
 * filled at start) serves the session in flight when there is only one. */
static hk_replay *owner(const conn *c)
{
    hk_replay *r = c ? find(c->token) : NULL;
    return r ? r : rp.live && !rp.live->next ? rp.live : NULL;
}

hk_replay *hk_replay_begin(kl_session *s)
{
    hk_replay *r = calloc(1, sizeof *r);
    kl_replayed *out = kl_replayed_new();
    if (!r || !out)
        goto fail;
    const kl_call_from_inbound *in = &s->call_from_inbound;
    out->original_request_time = in->occurred_at;
    out->replayed_at = hk_now_ns(CLOCK_REALTIME);
    if ((s->id && kl_replayed_dup_str(out, &out->session_id, s->id) != KL_OK) ||
        kl_replayed_dup_bytes(out, &out->original_request, in->request.data, in->request.len) ||
        kl_replayed_dup_bytes(out, &out->original_response, s->return_inbound.response.data,
                              s->return_inbound.response.len))
        goto fail;
    int err = kl_matcher_new(s, &rp.cfg.match, &r->m);
    if (err != KL_OK) {
        hk_log(HK_WARN, "session %s: its outbound calls cannot be prepared for matching: %s",
               s->id ? s->id : "?", kl_strerror(err));
        if (err == KL_ERR_NOMEM)
            goto fail;
    }
    r->s = s;
    r->out = out;
    pthread_mutex_lock(&rp.lock);
    r->token = rp.next_token++;
    r->next = rp.live;
    rp.live = r;
    pthread_mutex_unlock(&rp.lock);
    return r;
fail:
    kl_replayed_free(out);
    free(r);
    kl_session_free(s);
    return NULL;
}

const kl_session *hk_replay_session(const hk_replay *r)
{
    return r->s;
}

void hk_replay_claim(hk_replay *r, const kl_addr *local)
{
    pthread_mutex_lock(&rp.lock);
    r->local = *local;
    pthread_mutex_unlock(&rp.lock);
}

uint64_t hk_replay_token_of(const kl_addr *peer)
{
    uint64_t token = 0;
    pthread_mutex_lock(&rp.lock);
    for (hk_replay *r = rp.live; r && !token; r = r->next)
        if (kl_addr_equal(&r->local, peer))
            token = r->token;
    pthread_mutex_unlock(&rp.lock);
    return token;
}

/* An action the service did for r (rp.lock held); a failure to keep it is logged. */
static void keep(hk_replay *r, const kl_replayed_action *a)
{
    if (kl_replayed_add_action(r->out, a) != KL_OK)
        hk_log(HK_WARN, "session %s: out of memory, an action is not in the replayed session",
               r->s->id ? r->s->id : "?");
}

static kl_replayed_action blank_action(kl_action_type type)
{
    return (kl_replayed_action){.action = {.type = type, .index = -1, .occurred_at = hk_now_ns(CLOCK_REALTIME), .socket_fd = -1},
                                .matched_index = -1, .runner_up_index = -1};
}

kl_replayed *hk_replay_end(hk_replay *r, const uint8_t *response, size_t len,
                           int64_t response_time, const char *error)
{
    pthread_mutex_lock(&rp.lock);
    for (hk_replay **p = &rp.live; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    for (delegation **p = &rp.delegations; *p;) {
        delegation *d = *p;
        if (d->token == r->token) {
            *p = d->next;
            free(d);
            atomic_fetch_add_explicit(&rp.delegated, 1, memory_order_relaxed);
        } else {
            p = &d->next;
        }
    }
    rp.totals.replayed++;
    rp.totals.failed += error != NULL;
    pthread_mutex_unlock(&rp.lock);
    /* Out of the registry: nothing else touches r now. */
    kl_replayed *out = r->out;
    bool ok = true;
    for (appended *f = r->files, *next; f; f = next) {
        next = f->next;
        kl_replayed_action a = blank_action(KL_ACTION_APPEND_FILE);
        a.action.occurred_at = f->first_at;
        a.action.file_name = f->name;
        a.action.content = (kl_bytes){(const uint8_t *)f->content.data, f->content.len};
        ok = ok && kl_replayed_add_action(out, &a) == KL_OK;
        free(f->name);
        kl_buf_free(&f->content);
        free(f);
    }
    size_t n = r->m ? kl_matcher_unused(r->m, NULL, 0) : 0;
    int64_t *unused = n ? malloc(n * sizeof *unused) : NULL;
    if (unused) {
        kl_matcher_unused(r->m, unused, n);
        for (size_t i = 0; i < n; i++)
            ok = ok && kl_replayed_add_unused(out, unused[i]) == KL_OK;
    }
    free(unused);
    out->response_time = response_time;
    if (!ok || (n && !unused) || kl_replayed_dup_bytes(out, &out->response, response, len) != KL_OK ||
        (error && kl_replayed_add_error(out, error) != KL_OK)) {
        kl_replayed_free(out);
        out = NULL;
    }
    kl_matcher_free(r->m);
    kl_session_free(r->s);
    free(r);
    return out;
}

/* ------------------------------------------------------- the service's side */

/* The calling thread's entry among the workers, taking the oldest one's place when it has
 * none (rp.lock held). */
static void note_worker(void)
{
    int tid = hk_tid();
    worker *w = NULL;
    for (int i = 0; i < MAX_WORKERS && !w; i++)
        if (rp.workers[i].tid == tid)
            w = &rp.workers[i];
    for (int i = 0; i < MAX_WORKERS && !w; i++)
        if (!rp.workers[i].tid)
            w = &rp.workers[i];
    if (!w) {
        w = &rp.workers[0];
        for (int i = 1; i < MAX_WORKERS; i++)
            if (rp.workers[i].since < w->since)
                w = &rp.workers[i];
    }
    *w = (worker){tid, cur.vtid, cur.token, hk_now_ns(CLOCK_REALTIME)};
}

/* The calling thread works for the session of token now (rp.lock held). */
static void adopt(uint64_t token)
{
    hk_replay *r = token ? find(token) : NULL;
    cur.followed = false;
    cur.token = token;
    cur.shift_ns = r ? r->shift_ns : 0;
    cur.paths = r && (r->s->n_redirect_dirs || r->s->n_mock_files);
    note_worker();
}

static delegation *find_delegation(int64_t vtid)
{
    delegation *d = rp.delegations;
    while (d && d->vtid != vtid)
        d = d->next;
    return d;
}

/* The virtual thread vtid works for the session of token (rp.lock held). */
static void delegate_to(int64_t vtid, uint64_t token)
{
    delegation *d = find_delegation(vtid);
    if (!d && (d = calloc(1, sizeof *d))) {
        d->vtid = vtid;
        d->next = rp.delegations;
        rp.delegations = d;
    }
    if (d) {
        d->token = token;
        atomic_fetch_add_explicit(&rp.delegated, 1, memory_order_relaxed);
    } else
        hk_log(HK_WARN, "virtual thread %lld: out of memory, its calls are outside any session", (long long)vtid);
}

/* A thread delegating to a virtual thread works for that virtual thread's session. Called on
 * its every clock read and send: the lock is taken only when the delegations, or the thread's
 * own session, changed since it last looked. */
static void follow(void)
{
    if (!cur.vtid ||
        (cur.followed && cur.seen == atomic_load_explicit(&rp.delegated, memory_order_relaxed)))
        return;
    pthread_mutex_lock(&rp.lock);
    delegation *d = find_delegation(cur.vtid);
    if ((d ? d->token : 0) != cur.token)
        adopt(d ? d->token : 0);
    cur.seen = atomic_load_explicit(&rp.delegated, memory_order_relaxed);
    cur.followed = true;
    pthread_mutex_unlock(&rp.lock);
}

void hk_replay_on_inbound(const hk_fd_info *info)
{
    if (info->replay == cur.token)
        return;
    pthread_mutex_lock(&rp.lock);
    hk_replay *r = info->replay ? find(info->replay) : NULL;
    /* The recorder timed the request when the service read it: the clock is set then. */
    if (r && !r->read) {
        int64_t at = r->s->call_from_inbound.occurred_at;
        r->shift_ns = at ? at - hk_now_ns(CLOCK_REALTIME) : 0;
        r->read = true;
    }
    adopt(info->replay);
    if (cur.vtid && r)
        delegate_to(cur.vtid, cur.token);
    pthread_mutex_unlock(&rp.lock);
}

void hk_replay_delegate(int64_t vtid)
{
    cur.vtid = vtid;
    cur.followed = false;
    pthread_mutex_lock(&rp.lock);
    if (vtid && cur.token && find(cur.token) && !find_delegation(vtid))
        delegate_to(vtid, cur.token);
    pthread_mutex_unlock(&rp.lock);
    follow();
}

uint64_t hk_replay_current(void)
{
    follow();
    return cur.token;
}

int64_t hk_replay_shift(void)
{
    follow();
    return cur.shift_ns;
}

/* The address to bind a connection to the outbound server to, and that server's address in
 * the socket's family. @return false when the family cannot reach it. */
static bool plan(int family, kl_addr *bind_to, kl_addr *server)
{
    *server = rp.cfg.outbound_addr;
    memset(bind_to, 0, sizeof *bind_to);
    if (family == AF_UNIX) {
        char name[80];
        snprintf(name, sizeof name, "@koala-conn-%ld-%u", (long)getpid(), atomic_fetch_add(&rp.names, 1));
        hk_replay_outbound_unix(server);
        return kl_addr_parse(name, bind_to) == KL_OK;
    }
    if (family == AF_INET && server->family == AF_INET) {
        memcpy(bind_to->ip, server->ip, 4);
        bind_to->family = AF_INET;
        return true;
    }
    if (family == AF_INET6 && server->family == AF_INET) { /* IPv4-mapped */
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        server->family = AF_INET6;
        memmove(server->ip + 12, server->ip, 4);
        memcpy(server->ip, mapped, 12);
    }
    if (family != AF_INET6 || server->family != AF_INET6)
        return false;
    memcpy(bind_to->ip, server->ip, 16);
    bind_to->family = AF_INET6;
    return true;
}

/* The connection to peer is refused, why: logged. @return NULL, for hk_replay_connect. */
static const struct sockaddr *refuse(const kl_addr *peer, const char *why, const char *detail)
{
    char text[KL_ADDR_STRLEN];
    hk_log(HK_WARN, "connection to %s refused: %s%s", kl_addr_format(peer, text, sizeof text), why, detail);
    return NULL;
}

const struct sockaddr *hk_replay_connect(int fd, const struct sockaddr *addr, socklen_t len,
                                         struct sockaddr_storage *out, socklen_t *out_len)
{
    kl_addr peer;
    int type = 0;
    socklen_t tl = sizeof type;
    if (!addr || kl_addr_from_sockaddr(addr, len, &peer) != KL_OK || kl_addr_is_empty(&peer) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM ||
        hk_config_bypassed(&rp.cfg, &peer))
        return addr;
    follow();
    kl_addr bind_to, server, key;
    struct sockaddr_storage ss;
    socklen_t sl;
    if (!rp.outbound)
        return refuse(&peer, "no outbound server", "");
    if (!plan(addr->sa_family, &bind_to, &server) || kl_addr_to_sockaddr(&server, out, out_len) != KL_OK)
        return refuse(&peer, "its socket's family cannot reach KOALA_OUTBOUND_ADDR", "");
    /* A socket the service bound itself keeps its address. */
    if (kl_addr_to_sockaddr(&bind_to, &ss, &sl) != KL_OK ||
        (bind(fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINVAL) || !key_of(fd, &key))
        return refuse(&peer, "no local address to tell it by: ", strerror(errno));
    pthread_mutex_lock(&rp.lock);
    conn *c = find_conn(&key);
    if (!c && (c = calloc(1, sizeof *c))) {
        c->next = rp.conns;
        rp.conns = c;
    }
    if (c) {
        c->key = key;
        c->token = cur.token;
        c->peer = peer;
        c->fd = fd;
    }
    pthread_mutex_unlock(&rp.lock);
    if (!c)
        return refuse(&peer, "out of memory", "");
    if (hk_log_on(HK_DEBUG)) {
        char text[KL_ADDR_STRLEN];
        hk_log(HK_DEBUG, "fd %d: connection to %s goes to the outbound server", fd,
               kl_addr_format(&peer, text, sizeof text));
    }
    return (const struct sockaddr *)out;
}

/* Move the connection of fd to the calling thread's session. */
static void remap(int fd)
{
    kl_addr key;
    if (!key_of(fd, &key))
        return;
    pthread_mutex_lock(&rp.lock);
    conn *c = find_conn(&key);
    if (c)
        c->token = cur.token;
    pthread_mutex_unlock(&rp.lock);
    hk_fd_set_replay(fd, cur.token);
}

/* A datagram for the calling thread's session: a send_udp action. */
static void keep_datagram(const kl_addr *to, const struct iovec *iov, int cnt, size_t n)
{
    uint8_t *copy;
    const uint8_t *data = hk_gather(iov, (size_t)cnt, n, &copy);
    pthread_mutex_lock(&rp.lock);
    hk_replay *r = cur.token ? find(cur.token) : NULL;
    if (r && data) {
        kl_replayed_action a = blank_action(KL_ACTION_SEND_UDP);
        a.action.peer = *to;
        a.action.content = (kl_bytes){data, n};
        keep(r, &a);
    }
    pthread_mutex_unlock(&rp.lock);
    if (!r && hk_log_on(HK_DEBUG))
        hk_log(HK_DEBUG, "a datagram of %zu bytes outside any replayed session: not sent", n);
    free(copy);
}

ssize_t hk_replay_before_send(int fd, const struct iovec *iov, int cnt, const struct sockaddr *to,
                              socklen_t tolen)
{
    hk_fd_kind k = hk_fd_kind_of(fd);
    if (k != HK_FD_OUTBOUND && k != HK_FD_UDP)
        return -1;
    const hk_fd_info *info = hk_fd_peek(fd);
    if (!info)
        return -1;
    follow();
    if (k == HK_FD_OUTBOUND) {
        if (cur.token && info->replay != cur.token)
            remap(fd);
        return -1;
    }
    kl_addr dest;
    if (to ? kl_addr_from_sockaddr(to, tolen, &dest) != KL_OK : (dest = info->peer, false))
        return -1;
    if (!dest.family || hk_config_bypassed(&rp.cfg, &dest))
        return -1; /* unix datagrams (syslog) and bypassed addresses go out */
    size_t n = 0;
    for (int i = 0; i < cnt; i++)
        n += iov[i].iov_len;
    keep_datagram(&dest, iov, cnt, n);
    return (ssize_t)n;
}

void hk_replay_on_append(const hk_fd_info *info, const struct iovec *iov, int cnt, size_t n)
{
    follow();
    if (!cur.token || !n)
        return;
    pthread_mutex_lock(&rp.lock);
    hk_replay *r = find(cur.token);
    appended **p = r ? &r->files : NULL;
    while (p && *p && strcmp((*p)->name, info->file_name) != 0)
        p = &(*p)->next;
    if (p && !*p && (*p = calloc(1, sizeof **p)) && !((*p)->name = strdup(info->file_name))) {
        free(*p);
        *p = NULL;
    }
    if (p && *p) {
        if (!(*p)->content.len)
            (*p)->first_at = hk_now_ns(CLOCK_REALTIME);
        size_t left = n;
        for (int i = 0; i < cnt && left; i++) {
            size_t piece = iov[i].iov_len < left ? iov[i].iov_len : left;
            if (kl_buf_append(&(*p)->content, iov[i].iov_base, piece) != KL_OK)
                break;
            left -= piece;
        }
    }
    pthread_mutex_unlock(&rp.lock);
}

void hk_replay_on_close(const hk_fd_info *info)
{
    if (info->kind != HK_FD_OUTBOUND)
        return;
    pthread_mutex_lock(&rp.lock);
    for (conn **p = &rp.conns; *p; p = &(*p)->next)
        if (same_key(&(*p)->key, &info->local)) {
            conn *c = *p;
            *p = c->next;
            free(c);
            break;
        }
    pthread_mutex_unlock(&rp.lock);
}

/* The payload is the action's JSON object, as a session file holds it; the replayer times and
 * numbers the action itself. Outside any session it is not read: nothing would keep it. */
void hk_replay_function(bool call, const uint8_t *data, size_t len)
{
    const char *what = call ? "to-koala!call-function" : "to-koala!return-function";
    follow();
    if (!cur.token) {
        hk_log(HK_DEBUG, "%s outside any replayed session: ignored", what);
        return;
    }
    kl_replayed_action a = blank_action(call ? KL_ACTION_CALL_FUNCTION : KL_ACTION_RETURN_FUNCTION);
    kl_action stamp = a.action;
    kl_session *owner = kl_session_new();
    char err[KL_ERRBUF_SIZE] = "";
    int rc = owner ? kl_import_action_json(data, len, a.action.type, owner, &a.action, err) : KL_ERR_NOMEM;
    if (rc != KL_OK) {
        hk_log(HK_WARN, "%s: the payload is not an action: %s", what, err[0] ? err : kl_strerror(rc));
        kl_session_free(owner);
        return;
    }
    a.action.index = stamp.index;
    a.action.occurred_at = stamp.occurred_at;
    pthread_mutex_lock(&rp.lock);
    hk_replay *r = find(cur.token);
    if (r)
        keep(r, &a);
    pthread_mutex_unlock(&rp.lock);
    if (!r)
        hk_log(HK_DEBUG, "%s outside any replayed session: ignored", what);
    kl_session_free(owner);
}

/* A memory file holding content, at offset 0. @return its fd, or -1. */
static int mock_file(const kl_bytes *content)
{
    int fd = memfd_create("koala-mock", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    for (size_t done = 0; done < content->len;) {
        ssize_t n = write(fd, content->data + done, content->len - done);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    return fd;
}

const char *hk_replay_path(const char *path, char *buf, size_t cap, int *tmp_fd)
{
    *tmp_fd = -1;
    follow();
    if (!cur.paths || !path)
        return path;
    const char *use = path;
    size_t plen = strlen(path);
    pthread_mutex_lock(&rp.lock);
    hk_replay *r = find(cur.token);
    for (size_t i = 0; r && i < r->s->n_mock_files && use == path; i++) {
        const kl_kv *kv = &r->s->mock_files[i];
        if (kv->key.len == plen && memcmp(kv->key.data, path, plen) == 0 &&
            (*tmp_fd = mock_file(&kv->value)) >= 0) {
            snprintf(buf, cap, "/proc/self/fd/%d", *tmp_fd);
            use = buf;
        }
    }
    for (size_t i = 0; r && i < r->s->n_redirect_dirs && use == path; i++) {
        const kl_kv *kv = &r->s->redirect_dirs[i];
        if (kv->key.len && kv->key.len <= plen && memcmp(kv->key.data, path, kv->key.len) == 0 &&
            kv->value.len + plen - kv->key.len < cap) {
            memcpy(buf, kv->value.data, kv->value.len);
            memcpy(buf + kv->value.len, path + kv->key.len, plen - kv->key.len + 1);
            use = buf;
        }
    }
    pthread_mutex_unlock(&rp.lock);
    if (use != path && hk_log_on(HK_DEBUG))
        hk_log(HK_DEBUG, "open %s: %s instead", path, *tmp_fd >= 0 ? "the session's mock file" : use);
    return use;
}

/* ------------------------------------------------- the outbound server's side */

/* Whether the recorded response ends only with the connection (an HTTP body without length). */
static bool ends_with_close(const kl_bytes *resp)
{
    if (kl_frame_detect(resp->data, resp->len) != KL_PROTO_HTTP)
        return false;
    kl_frame_state st = {0};
    size_t n = 0;
    return kl_frame_message(KL_PROTO_HTTP, KL_FRAME_RESPONSE, resp->data, resp->len, &st, &n) == KL_OK &&
           n == 0;
}

/* Match req for the connection c (rp.lock held); the call is kept in the session. */
static bool answer(conn *c, const uint8_t *req, size_t len, int64_t *last, kl_buf *out,
                   bool *close_after)
{
    hk_replay *r = owner(c);
    char key[KL_ADDR_STRLEN];
    if (!r) {
        hk_log(HK_WARN, "outbound connection from %s: no replayed session owns it; closed",
               kl_addr_format(c ? &c->key : &(kl_addr){0}, key, sizeof key));
        return false;
    }
    kl_match m = {.index = -1, .runner_up_index = -1};
    if (r->m && kl_matcher_match(r->m, req, len, *last, &m) != KL_OK)
        m.index = -1;
    kl_replayed_action a = blank_action(KL_ACTION_CALL_OUTBOUND);
    a.action.request = (kl_bytes){req, len};
    if (c) {
        a.action.peer = c->peer;
        a.action.local = c->key;
        a.action.socket_fd = c->fd;
    }
    a.matched_index = m.index;
    a.matched_score = m.score;
    a.runner_up_index = m.runner_up_index;
    a.runner_up_score = m.runner_up_score;
    const kl_action *call = m.index >= 0 ? kl_session_action_at(r->s, m.index) : NULL;
    if (call) {
        a.matched_request = call->request;
        a.matched_response = call->response;
        a.action.response = call->response;
        a.action.response_time = hk_now_ns(CLOCK_REALTIME);
    }
    keep(r, &a);
    *last = m.index;
    if (!call) {
        r->missed++;
        rp.totals.missed++;
        char peer[KL_ADDR_STRLEN];
        hk_log(HK_INFO, "session %s: a request of %zu bytes to %s matches no recorded call; "
               "connection closed", r->s->id ? r->s->id : "?", len,
               c ? kl_addr_format(&c->peer, peer, sizeof peer) : "?");
        return false;
    }
    r->matched++;
    rp.totals.matched++;
    *close_after = ends_with_close(&call->response);
    return kl_buf_append(out, call->response.data, call->response.len) == KL_OK;
}

bool hk_replay_greeting(const kl_addr *key, kl_buf *out)
{
    bool sent = false;
    pthread_mutex_lock(&rp.lock);
    conn *c = find_conn(key);
    hk_replay *r = owner(c);
    /* Only where the recording has the server speaking first on a call to that port. */
    for (size_t i = 0; r && c && i < r->s->n_actions; i++) {
        const kl_action *a = &r->s->actions[i];
        if (a->type == KL_ACTION_CALL_OUTBOUND && !a->request.len && a->response.len &&
            a->peer.port == c->peer.port && r->m &&
            kl_matcher_uses(r->m, a->index) == 0) {
            int64_t last = -1;
            bool close_after = false;
            sent = answer(c, NULL, 0, &last, out, &close_after);
            break;
        }
    }
    pthread_mutex_unlock(&rp.lock);
    return sent;
}

bool hk_replay_answer(const kl_addr *key, const uint8_t *req, size_t len, int64_t *last,
                      kl_buf *out, bool *close_after)
{
    *close_after = false;
    pthread_mutex_lock(&rp.lock);
    bool ok = answer(find_conn(key), req, len, last, out, close_after);
    pthread_mutex_unlock(&rp.lock);
    return ok;
}

/* What the witch shows of a worker or of a session in flight, copied under rp.lock. */
typedef struct witch_copy {
    worker w;
    char id[64];             /* the session's id, "" for none */
    int64_t since;
    kl_addr local;
    size_t request_bytes;
    bool read;
    uint32_t matched, missed;
} witch_copy;
#define WITCH_LIVE 256       /* sessions in flight shown */

void hk_replay_witch(kl_buf *threads, kl_buf *in_progress, hk_replay_totals *t)
{
    witch_copy *c = calloc(MAX_WORKERS + WITCH_LIVE, sizeof *c);
    if (!c)
        return;
    int nw = 0, nl = 0;
    pthread_mutex_lock(&rp.lock);
    *t = rp.totals;
    for (int i = 0; i < MAX_WORKERS; i++)
        if (rp.workers[i].tid) {
            const hk_replay *r = rp.workers[i].token ? find(rp.workers[i].token) : NULL;
            c[nw].w = rp.workers[i];
            snprintf(c[nw++].id, sizeof c->id, "%s", r && r->s->id ? r->s->id : "");
        }
    for (const hk_replay *r = rp.live; r && nl < WITCH_LIVE; r = r->next, nl++) {
        witch_copy *l = &c[MAX_WORKERS + nl];
        *l = (witch_copy){.since = r->out->replayed_at, .local = r->local, .read = r->read,
                          .request_bytes = r->s->call_from_inbound.request.len,
                          .matched = r->matched, .missed = r->missed};
        snprintf(l->id, sizeof l->id, "%s", r->s->id ? r->s->id : "");
    }
    pthread_mutex_unlock(&rp.lock);
    for (int i = 0; i < nw; i++) {
        hk_json_sep(threads);
        kl_buf_printf(threads, "{\"id\":%d,\"virtual_id\":%lld,\"for\":\"replaying\",\"session\":", c[i].w.tid,
                      (long long)c[i].w.vtid);
        hk_json_str(threads, c[i].id[0] ? c[i].id : NULL);
        kl_buf_printf(threads, ",\"last_access\":%lld}", (long long)c[i].w.since);
    }
    for (int i = 0; i < nl; i++) {
        const witch_copy *l = &c[MAX_WORKERS + i];
        hk_json_sep(in_progress);
        kl_buf_printf(in_progress, "{\"id\":");
        hk_json_str(in_progress, l->id);
        kl_buf_printf(in_progress, ",\"for\":\"replaying\",\"since\":%lld,\"peer\":", (long long)l->since);
        hk_json_addr(in_progress, &l->local);
        kl_buf_printf(in_progress, ",\"request_bytes\":%zu,\"read\":%s,\"calls_matched\":%u,\"calls_missed\":%u}",
                      l->request_bytes, l->read ? "true" : "false", l->matched, l->missed);
    }
    free(c);
}
