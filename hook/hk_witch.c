/* hk_witch.c - the witch: a page and its JSON inside a recorded or replayed process, showing
 * koala's log, its state and the latest sessions, served on KOALA_WITCH_ADDR by libmicrohttpd
 * on a thread of koala's (hk_mhd.c), its sockets never recorded nor redirected. Each piece of
 * state it shows is copied under the short lock that already guards it, locks the service's
 * threads take too: so its thread is in the normal scheduling class, not the idle one, where
 * it could be preempted holding one and leave a service thread waiting until a CPU is free. It
 * only works when a page asks. */
#include "hk_mhd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define KEEP_SESSIONS 100            /* the latest sessions kept for /witch/sessions */
#define KEEP_BYTES (16u << 20)       /* and at most about this many bytes of them */
#define EVENTS_MAX 2000              /* log events in one answer */
#define WAIT_DEFAULT_S 20            /* how long /witch/events waits for an event */
#define WAIT_MAX_S 60
#define LINE_MAX_BYTES 200           /* of a request's or a response's first line */

/* The page: hook/witch.html, made a C string by the Makefile. */
static const char witch_page[] =
#include "hk_witch_page.h"
    ;

/* A session kept: recorded, or replayed. */
typedef struct kept {
    uint64_t n;                      /* 1, 2, ... in the order kept */
    kl_session *s;
    kl_replayed *r;
    size_t bytes;
} kept;

/* A request; a long poll of /witch/events waits, suspended, in the waiting list. */
typedef struct req {
    struct MHD_Connection *conn;
    uint64_t since;
    int64_t deadline;                /* monotonic ns */
    bool waiting;
    struct req *prev, *next;
} req;

static struct {
    atomic_bool armed;               /* a witch address is set and koala runs */
    atomic_bool tried;               /* this process tried to start it */
    atomic_bool keeping;             /* it starts or serves here: sessions are kept */
    hk_config cfg;
    hk_witch_sources src;
    char host[256];
    int64_t armed_at;
    hk_mhd_server server;
    bool listened;                   /* the server's thread's only, and */
    req *waiting;                    /* these */
    pthread_mutex_t lock;            /* the kept sessions */
    kept kept[KEEP_SESSIONS];        /* session n at kept[n % KEEP_SESSIONS] */
    uint64_t first, next;            /* sessions first..next-1 are kept */
    size_t bytes;
} wt = {.lock = PTHREAD_MUTEX_INITIALIZER, .first = 1, .next = 1};

/* ---------------------------------------------------------------- JSON bits */

void hk_json_sep(kl_buf *b)
{
    char last = b->len ? b->data[b->len - 1] : '[';
    if (last != '[' && last != '{' && last != ':')
        kl_buf_append(b, ",", 1);
}

void hk_json_str(kl_buf *b, const char *s)
{
    if (s)
        kl_json_bytes((const uint8_t *)s, strlen(s), b);
    else
        kl_buf_append(b, "null", 4);
}

void hk_json_addr(kl_buf *b, const kl_addr *a)
{
    char text[KL_ADDR_STRLEN];
    hk_json_str(b, kl_addr_is_empty(a) ? NULL : kl_addr_format(a, text, sizeof text));
}

/* "name": then a string. */
static void member_str(kl_buf *b, const char *name, const char *value)
{
    hk_json_sep(b);
    kl_buf_printf(b, "\"%s\":", name);
    hk_json_str(b, value);
}

static void member_int(kl_buf *b, const char *name, long long value)
{
    hk_json_sep(b);
    kl_buf_printf(b, "\"%s\":%lld", name, value);
}

static void member_bool(kl_buf *b, const char *name, bool value)
{
    hk_json_sep(b);
    kl_buf_printf(b, "\"%s\":%s", name, value ? "true" : "false");
}

static void member_addr(kl_buf *b, const char *name, const kl_addr *a)
{
    hk_json_sep(b);
    kl_buf_printf(b, "\"%s\":", name);
    hk_json_addr(b, a);
}

/* The first line of a request or response, as a string. A request of another protocol
 * than HTTP reads as kl_call_describe() names it ("redis: INCR visits", "fastcgi: GET
 * /index.php": their first lines are "*2" or binary); a FastCGI response as the first line of
 * its first record's content, past the record's 8-byte header (its content length in bytes 4
 * and 5). */
static void member_line(kl_buf *b, const char *name, const kl_bytes *data, bool request)
{
    hk_json_sep(b);
    kl_buf_printf(b, "\"%s\":", name);
    const uint8_t *d = data->len ? data->data : (const uint8_t *)"";
    size_t len = data->len, n = 0;
    kl_protocol proto = kl_frame_detect(d, len);
    if (request && proto != KL_PROTO_HTTP && proto != KL_PROTO_UNKNOWN) {
        kl_buf line = {0};
        kl_call_describe(d, len, &line);
        kl_json_bytes((const uint8_t *)(line.len ? line.data : ""), line.len, b);
        kl_buf_free(&line);
        return;
    }
    if (proto == KL_PROTO_FASTCGI) {
        size_t content = (size_t)d[4] << 8 | d[5];
        len = 8 + content < len ? content : len - 8;
        d += 8;
    }
    while (n < len && n < LINE_MAX_BYTES && d[n] != '\r' && d[n] != '\n')
        n++;
    kl_json_bytes(d, n, b);
}

/* ------------------------------------------------------------ kept sessions */

static size_t replayed_bytes(const kl_replayed *r)
{
    size_t n = 512 + r->original_request.len + r->original_response.len + r->response.len;
    for (size_t i = 0; i < r->n_actions; i++)
        n += 256 + r->actions[i].action.request.len + r->actions[i].action.response.len +
             r->actions[i].action.content.len + r->actions[i].matched_request.len +
             r->actions[i].matched_response.len;
    return n;
}

static void forget(kept *k)
{
    wt.bytes -= k->bytes;
    kl_session_free(k->s);
    kl_replayed_free(k->r);
    *k = (kept){0};
}

/* Stop keeping sessions, and forget those kept: the witch stops, or serves elsewhere. */
static void forget_all(void)
{
    pthread_mutex_lock(&wt.lock);
    atomic_store(&wt.keeping, false);
    while (wt.first < wt.next)
        forget(&wt.kept[wt.first++ % KEEP_SESSIONS]);
    pthread_mutex_unlock(&wt.lock);
}

/* Keep s or r, the oldest giving way, when this process serves the witch; else free it. Its
 * size is reckoned before the lock, which a page's request holds while it writes them out. */
static void keep(kl_session *s, kl_replayed *r)
{
    if (atomic_load(&wt.keeping)) {
        size_t bytes = s ? hk_session_bytes(s) : replayed_bytes(r);
        pthread_mutex_lock(&wt.lock);
        if (atomic_load(&wt.keeping)) { /* again: forget_all() may have come between */
            while (wt.first < wt.next &&
                   (wt.next - wt.first >= KEEP_SESSIONS || wt.bytes + bytes > KEEP_BYTES))
                forget(&wt.kept[wt.first++ % KEEP_SESSIONS]);
            wt.kept[wt.next % KEEP_SESSIONS] = (kept){wt.next, s, r, bytes};
            wt.next++;
            wt.bytes += bytes;
            s = NULL;
            r = NULL;
        }
        pthread_mutex_unlock(&wt.lock);
    }
    kl_session_free(s);
    kl_replayed_free(r);
}

void hk_witch_keep_session(kl_session *s)
{
    keep(s, NULL);
}

void hk_witch_keep_replayed(kl_replayed *r)
{
    if (r)
        keep(NULL, r);
}

/* One line of /witch/sessions (wt.lock held). */
static void session_line(kl_buf *b, const kept *k)
{
    hk_json_sep(b);
    kl_buf_printf(b, "{\"n\":%llu", (unsigned long long)k->n);
    kl_buf summary = {0};
    if (k->s) {
        const kl_session *s = k->s;
        size_t calls = 0, actions = 0; /* the ReturnInbound marker is no action */
        for (size_t i = 0; i < s->n_actions; i++) {
            calls += s->actions[i].type == KL_ACTION_CALL_OUTBOUND;
            actions += s->actions[i].type != KL_ACTION_RETURN_INBOUND;
        }
        member_str(b, "kind", "recorded");
        member_str(b, "id", s->id);
        member_int(b, "time", (long long)kl_session_time(s));
        member_addr(b, "peer", &s->call_from_inbound.peer);
        member_line(b, "request", &s->call_from_inbound.request, true);
        member_line(b, "response", &s->return_inbound.response, false);
        member_int(b, "request_bytes", (long long)s->call_from_inbound.request.len);
        member_int(b, "response_bytes", (long long)s->return_inbound.response.len);
        member_int(b, "actions", (long long)actions);
        member_int(b, "calls", (long long)calls);
        member_bool(b, "truncated", s->truncated);
        kl_print_summary(s, &summary);
    } else {
        const kl_replayed *r = k->r;
        size_t calls = 0, matched = 0;
        for (size_t i = 0; i < r->n_actions; i++)
            if (r->actions[i].action.type == KL_ACTION_CALL_OUTBOUND) {
                calls++;
                matched += r->actions[i].matched_index >= 0;
            }
        member_str(b, "kind", "replayed");
        member_str(b, "id", r->session_id);
        member_int(b, "time", (long long)r->replayed_at);
        member_line(b, "request", &r->original_request, true);
        member_line(b, "response", &r->response, false);
        member_line(b, "original_response", &r->original_response, false);
        member_bool(b, "same", r->response.len == r->original_response.len &&
                                   (!r->response.len ||
                                    memcmp(r->response.data, r->original_response.data, r->response.len) == 0));
        member_int(b, "request_bytes", (long long)r->original_request.len);
        member_int(b, "response_bytes", (long long)r->response.len);
        member_int(b, "actions", (long long)r->n_actions);
        member_int(b, "calls", (long long)calls);
        member_int(b, "matched", (long long)matched);
        member_int(b, "missed", (long long)(calls - matched));
        member_int(b, "errors", (long long)r->n_errors);
        kl_print_replayed_summary(r, &summary);
    }
    member_str(b, "summary", summary.len ? summary.data : "");
    kl_buf_free(&summary);
    kl_buf_append(b, "}", 1);
}

/* /witch/sessions: a line each, newest first; ?n=N or ?id=ID: that session in full. */
static unsigned sessions(struct MHD_Connection *c, kl_buf *b)
{
    const char *n_arg = hk_mhd.lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "n");
    const char *id = hk_mhd.lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "id");
    unsigned status = 200;
    pthread_mutex_lock(&wt.lock);
    if (!n_arg && !id) {
        kl_buf_printf(b, "{\"kept\":%llu,\"max\":%d,\"sessions\":[", (unsigned long long)(wt.next - wt.first),
                      KEEP_SESSIONS);
        for (uint64_t n = wt.next; n-- > wt.first;)
            session_line(b, &wt.kept[n % KEEP_SESSIONS]);
        kl_buf_append(b, "]}", 2);
    } else {
        const kept *found = NULL;
        uint64_t want = n_arg ? strtoull(n_arg, NULL, 10) : 0;
        for (uint64_t n = wt.next; n-- > wt.first && !found;) {
            const kept *k = &wt.kept[n % KEEP_SESSIONS];
            const char *kid = k->s ? k->s->id : k->r->session_id;
            if (n_arg ? k->n == want : kid && strcmp(kid, id) == 0)
                found = k;
        }
        if (!found) {
            status = 404;
            kl_buf_printf(b, "{\"error\":\"no such session among the %d latest\"}", KEEP_SESSIONS);
        } else {
            kl_buf_printf(b, "{\"n\":%llu,\"kind\":\"%s\",\"session\":", (unsigned long long)found->n,
                          found->s ? "recorded" : "replayed");
            if (found->s)
                kl_json_session(found->s, KL_JSON_EXTRA, b);
            else
                kl_json_replayed(found->r, KL_JSON_EXTRA, b);
            kl_buf_append(b, "}", 1);
        }
    }
    pthread_mutex_unlock(&wt.lock);
    return status;
}

/* -------------------------------------------------------------------- state */

static const char *role_name(hk_fd_kind k)
{
    switch (k) {
    case HK_FD_INBOUND: return "inbound";
    case HK_FD_OUTBOUND: return "outbound";
    case HK_FD_UDP: return "udp";
    case HK_FD_APPEND: return "file";
    case HK_FD_KOALA: return "koala";
    case HK_FD_UNKNOWN:
    case HK_FD_OTHER:
        break;
    }
    return "other";
}

#define MAX_SOCKETS 10000            /* listed in /witch/state */

static void sockets(kl_buf *b)
{
    hk_fd_stat page[64];
    int from = 0, listed = 0;
    kl_buf_printf(b, "\"sockets\":[");
    for (int n; listed < MAX_SOCKETS && (n = hk_fd_list(page, 64, &from)) > 0; listed += n)
        for (int i = 0; i < n; i++) {
            const hk_fd_stat *st = &page[i];
            hk_json_sep(b);
            kl_buf_printf(b, "{\"fd\":%d", st->fd);
            member_str(b, "role", role_name(st->info.kind));
            member_addr(b, "peer", &st->info.peer);
            member_addr(b, "local", &st->info.local);
            if (st->info.kind == HK_FD_APPEND)
                member_str(b, "file", st->info.file_name);
            member_int(b, "bytes_in", (long long)st->bytes_in);
            member_int(b, "bytes_out", (long long)st->bytes_out);
            if (st->info.replay)
                member_int(b, "replay", (long long)st->info.replay);
            kl_buf_append(b, "}", 1);
        }
    kl_buf_append(b, "]", 1);
}

static void duration(kl_buf *b, const char *name, int64_t ns)
{
    char text[32];
    snprintf(text, sizeof text, ns % 1000000000 ? "%lldms" : "%llds",
             (long long)(ns % 1000000000 ? ns / 1000000 : ns / 1000000000));
    member_str(b, name, text);
}

/* The configuration in force, by the variables it came from. */
static void config(kl_buf *b)
{
    const hk_config *c = &wt.cfg;
    kl_buf_printf(b, "\"config\":{");
    member_str(b, "KOALA_RECORD_TO_DIR", c->record_dir);
    member_str(b, "KOALA_INBOUND_PROTOCOL", c->inbound_protocol == HK_INBOUND_HTTP      ? "http"
                                            : c->inbound_protocol == HK_INBOUND_FASTCGI ? "fastcgi"
                                                                                        : "auto");
    member_str(b, "KOALA_LOG_FILE", c->log_file);
    member_str(b, "KOALA_LOG_LEVEL", hk_level_name(c->log_level));
    kl_buf list = {0};
    char text[KL_ADDR_STRLEN];
    for (int i = 0; i < c->n_bypass; i++) {
        if (c->bypass[i].family)
            kl_buf_printf(&list, "%s%s", i ? "," : "", kl_addr_format(&c->bypass[i], text, sizeof text));
        else /* any IP */
            kl_buf_printf(&list, "%s:%u", i ? "," : "", c->bypass[i].port);
    }
    member_str(b, "KOALA_OUTBOUND_BYPASS_ADDR", list.len ? list.data : "");
    duration(b, "KOALA_GC_GLOBAL_STATUS_TIMEOUT", c->gc_timeout_ns);
    member_int(b, "KOALA_MAX_ACTIONS", c->max_actions);
    member_addr(b, "KOALA_SUT_ADDR", &c->sut_addr);
    member_addr(b, "KOALA_INBOUND_ADDR", &c->inbound_addr);
    member_addr(b, "KOALA_OUTBOUND_ADDR", &c->outbound_addr);
    duration(b, "KOALA_INBOUND_READ_TIMEOUT", c->inbound_read_timeout_ns);
    list.len = 0;
    for (int i = 0; i < c->n_bypass_ports; i++)
        kl_buf_printf(&list, "%s%u", i ? "," : "", c->bypass_ports[i]);
    member_str(b, "KOALA_OUTBOUND_BYPASS_PORT", list.len ? list.data : "");
    kl_buf_free(&list);
    member_str(b, "KOALA_REPLAYING_MATCH_STRATEGY", kl_match_strategy_name(c->match.strategy));
    hk_json_sep(b);
    kl_buf_printf(b, "\"KOALA_REPLAYING_MATCH_THRESHOLD\":%g", c->match.threshold);
    member_addr(b, "KOALA_WITCH_ADDR", &c->witch_addr);
    kl_buf_append(b, "}", 1);
}

static void witch_state(kl_buf *b)
{
    kl_buf threads = {0}, in_progress = {0};
    kl_builder_totals bt = {0};
    hk_replay_totals rt = {0};
    kl_buf_append(&threads, "[", 1);
    kl_buf_append(&in_progress, "[", 1);
    if (wt.src.record)
        wt.src.record(&threads, &in_progress, &bt);
    if (wt.src.replay)
        wt.src.replay(&threads, &in_progress, &rt);
    kl_buf_append(&threads, "]", 1);
    kl_buf_append(&in_progress, "]", 1);
    hk_sink_totals st = hk_sink_get_totals();
    hk_sink_state ss;
    hk_sink_get_state(&ss);

    kl_buf_printf(b, "{\"pid\":%ld", (long)getpid());
    member_str(b, "program", program_invocation_short_name);
    member_str(b, "host", wt.host);
    member_int(b, "time", (long long)hk_now_ns(CLOCK_REALTIME));
    member_int(b, "started", (long long)wt.armed_at);
    member_bool(b, "recording", wt.src.record != NULL);
    member_bool(b, "replaying", wt.src.replay != NULL);
    hk_json_sep(b);
    kl_buf_printf(b, "\"threads\":%s,", threads.len ? threads.data : "[]");
    sockets(b);
    kl_buf_printf(b, ",\"sessions_in_progress\":%s", in_progress.len ? in_progress.data : "[]");
    kl_buf_free(&threads);
    kl_buf_free(&in_progress);
    kl_buf_printf(b, ",\"writer\":{");
    member_bool(b, "running", ss.running);
    member_int(b, "queued", (long long)ss.queued);
    member_int(b, "queued_bytes", (long long)ss.queued_bytes);
    member_int(b, "max_queue_bytes", (long long)ss.max_queue_bytes);
    member_str(b, "file", ss.file);
    kl_buf_printf(b, "},\"counters\":{");
    member_int(b, "sessions_written", (long long)st.written);
    member_int(b, "sessions_dropped", (long long)(st.dropped + bt.dropped));
    member_int(b, "bytes_written", (long long)st.bytes);
    member_int(b, "files", (long long)st.files);
    member_int(b, "sessions_built", (long long)bt.sessions);
    member_int(b, "sessions_truncated", (long long)bt.truncated);
    member_int(b, "orphans", (long long)bt.orphans);
    member_int(b, "bytes_not_kept", (long long)bt.dropped_bytes);
    member_int(b, "actions_not_kept", (long long)bt.dropped_actions);
    member_int(b, "sessions_replayed", (long long)rt.replayed);
    member_int(b, "sessions_failed", (long long)rt.failed);
    member_int(b, "matches_made", (long long)rt.matched);
    member_int(b, "matches_missed", (long long)rt.missed);
    hk_file_totals ft;
    hk_file_get_totals(&ft);
    member_int(b, "sendfile_from_memory", (long long)ft.hits);
    member_int(b, "sendfile_files_read", (long long)ft.loaded);
    member_int(b, "sendfile_files_kept", (long long)ft.files);
    member_int(b, "sendfile_bytes_kept", (long long)ft.bytes);
    kl_buf_printf(b, "},");
    config(b);
    kl_buf_append(b, "}", 1);
}

/* ------------------------------------------------------------------- events */

/* /witch/events: the events after q->since, or none when it waited in vain. */
static void events(const req *q, kl_buf *b)
{
    kl_buf copy = {0};
    uint64_t first;
    size_t n = hk_log_copy(q->since, EVENTS_MAX, &copy, &first);
    uint64_t last = q->since;
    kl_buf_printf(b, "{\"events\":[");
    size_t off = 0;
    for (hk_log_event ev; hk_log_event_next(&copy, &off, &ev); last = ev.seq) {
        hk_json_sep(b);
        kl_buf_printf(b, "{\"seq\":%llu,\"time\":%lld,\"level\":\"%s\",\"thread\":%d,\"text\":",
                      (unsigned long long)ev.seq, (long long)ev.time, hk_level_name(ev.level), ev.tid);
        kl_json_bytes((const uint8_t *)ev.text, ev.len, b);
        kl_buf_append(b, "}", 1);
    }
    kl_buf_free(&copy);
    uint64_t lost = n && first > q->since + 1 ? first - q->since - 1 : 0;
    kl_buf_printf(b, "],\"next\":%llu,\"lost\":%llu,\"more\":%s}", (unsigned long long)last,
                  (unsigned long long)lost, last + 1 < hk_log_next() ? "true" : "false");
}

/* A number argument of the request, or dflt. */
static long long arg(struct MHD_Connection *c, const char *name, long long dflt)
{
    const char *v = hk_mhd.lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    return v && *v ? strtoll(v, NULL, 10) : dflt;
}

static void unlink_waiting(req *q)
{
    if (!q->waiting)
        return;
    if (q->prev)
        q->prev->next = q->next;
    else
        wt.waiting = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->waiting = false;
}

/* At every turn of the server's loop: a long poll whose event came, or whose time is up,
 * is answered. */
static void turn(hk_mhd_server *s)
{
    uint64_t next = hk_log_next();
    int64_t now = hk_now_ns(CLOCK_MONOTONIC);
    bool stopping = atomic_load(&s->stop);
    for (req *q = wt.waiting, *after; q; q = after) {
        after = q->next;
        if (next > q->since + 1 || now >= q->deadline || stopping) {
            unlink_waiting(q);
            hk_mhd.resume_connection(q->conn);
        }
    }
}

/* ------------------------------------------------------------------- server */

/* Whether Host names the machine itself, when the witch listens on loopback: a page of
 * another site cannot then read it through a name of its own that resolves to 127.0.0.1. */
static bool host_ok(struct MHD_Connection *c)
{
    const kl_addr *a = &wt.cfg.witch_addr;
    bool loopback = a->family == AF_INET ? a->ip[0] == 127
                                         : memcmp(a->ip, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
    const char *host = hk_mhd.lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (!loopback || !host)
        return true;
    size_t n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
    if ((n == 9 && strncasecmp(host, "localhost", 9) == 0) || (n == 5 && strncmp(host, "[::1]", 5) == 0))
        return true;
    return n > 4 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") == n;
}

static enum MHD_Result plain(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return hk_mhd_answer(c, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **state)
{
    (void)cls, (void)version, (void)data, (void)size;
    req *q = *state;
    if (!q) {
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            return plain(c, 405, "the witch answers GET only\n");
        if (!host_ok(c))
            return plain(c, 403, "the witch answers requests for localhost only\n");
        if (!(q = calloc(1, sizeof *q)))
            return MHD_NO;
        q->conn = c;
        *state = q;
        if (strcmp(url, "/witch/events") == 0) {
            long long since = arg(c, "since", 0), wait = arg(c, "wait", WAIT_DEFAULT_S);
            uint64_t next = hk_log_next();
            /* A seq past the last event came from another process (a restarted service): the
             * events from now on are this one's. */
            q->since = since <= 0 ? 0 : (uint64_t)since < next ? (uint64_t)since : next - 1;
            wait = wait < 0 ? 0 : wait > WAIT_MAX_S ? WAIT_MAX_S : wait;
            if (wait && next <= q->since + 1) {
                q->deadline = hk_now_ns(CLOCK_MONOTONIC) + wait * 1000000000;
                q->waiting = true;
                q->next = wt.waiting;
                if (wt.waiting)
                    wt.waiting->prev = q;
                wt.waiting = q;
                hk_mhd.suspend_connection(c);
                return MHD_YES;
            }
        }
    }
    if (strcmp(url, "/witch") == 0 || strcmp(url, "/") == 0) {
        struct MHD_Response *resp = hk_mhd.create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        hk_mhd.add_response_header(resp, "Location", "/witch/");
        enum MHD_Result rc = hk_mhd.queue_response(c, 302, resp);
        hk_mhd.destroy_response(resp);
        return rc;
    }
    if (strcmp(url, "/witch/") == 0)
        return hk_mhd_answer(c, 200, "text/html; charset=utf-8", witch_page, sizeof witch_page - 1);
    kl_buf b = {0};
    unsigned status = 200;
    if (strcmp(url, "/witch/state") == 0)
        witch_state(&b);
    else if (strcmp(url, "/witch/events") == 0)
        events(q, &b);
    else if (strcmp(url, "/witch/sessions") == 0)
        status = sessions(c, &b);
    else
        return plain(c, 404, "the witch knows /witch/, /witch/state, /witch/events and /witch/sessions\n");
    enum MHD_Result rc = hk_mhd_answer(c, status, "application/json; charset=utf-8", b.data, b.len);
    kl_buf_free(&b);
    return rc;
}

static void completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)c, (void)why;
    req *q = *state;
    if (!q)
        return;
    unlink_waiting(q);
    free(q);
    *state = NULL;
}

static void status(hk_mhd_server *s, const char *why, int err)
{
    char text[KL_ADDR_STRLEN];
    kl_addr_format(&s->addr, text, sizeof text);
    if (!why) {
        wt.listened = true;
        hk_log(HK_INFO, "witch: koala's log and state at http://%s/witch/", text);
        return;
    }
    /* Another process serves, none does, or it stopped: keep nothing, the log's events
     * neither. */
    forget_all();
    hk_log_ring_stop();
    atomic_store(&hk_fd_counting, false);
    if (wt.listened) {
        hk_log(HK_WARN, "witch: %s: it stops", why);
    } else if (err == EADDRINUSE) {
        hk_log(HK_DEBUG, "witch: %s is taken (another process of the service serves it?): not here", text);
    } else if (err) {
        hk_log(HK_WARN, "witch: KOALA_WITCH_ADDR=%s: %s: %s", text, why, strerror(err));
    } else {
        hk_log(HK_INFO, "no witch: %s", why);
    }
}

/* A forked child starts its own witch when it serves requests; it forgets its parent's
 * sessions without freeing them (shared, copy-on-write). */
static void fork_prepare(void)
{
    pthread_mutex_lock(&wt.lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&wt.lock);
}

static void fork_child(void)
{
    pthread_mutex_init(&wt.lock, NULL);
    memset(wt.kept, 0, sizeof wt.kept);
    wt.first = wt.next = 1;
    wt.bytes = 0;
    wt.waiting = NULL;
    wt.listened = false;
    atomic_store(&wt.keeping, false);
    atomic_store(&wt.tried, false);
    atomic_store(&hk_fd_counting, true); /* it tries for a witch of its own */
}

void hk_witch_arm(const hk_config *c, const hk_witch_sources *src)
{
    wt.cfg = *c;
    wt.src = *src;
    wt.armed_at = hk_now_ns(CLOCK_REALTIME);
    if (gethostname(wt.host, sizeof wt.host) != 0)
        wt.host[0] = '\0';
    wt.host[sizeof wt.host - 1] = '\0';
    if (kl_addr_is_empty(&c->witch_addr))
        return;
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    atomic_store(&hk_fd_counting, true);
    atomic_store(&wt.armed, true);
}

void hk_witch_poke(void)
{
    if (atomic_load_explicit(&wt.tried, memory_order_relaxed) || !atomic_load(&wt.armed) ||
        atomic_exchange(&wt.tried, true))
        return;
    atomic_store(&wt.keeping, true); /* from its first session on, while it starts */
    wt.server = (hk_mhd_server){.addr = wt.cfg.witch_addr, .handle = handle, .completed = completed,
                                .status = status, .turn = turn, .thread_name = "koala-witch"};
    hk_mhd_start(&wt.server, "the witch");
}

void hk_witch_stop(void)
{
    if (!atomic_load(&wt.tried))
        return;
    hk_mhd_stop(&wt.server);
    forget_all();
}
