/* builder.c - the session builder: the talk state machine cutting a thread's traffic into sessions. */
#include "kl_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing byte buffer; cut when bytes were dropped at a limit, so it cannot be framed. */
typedef struct stream {
    uint8_t *data;
    size_t len, cap;
    bool cut;
} stream;

/* An action being recorded. File, UDP and storage contents go in req. */
typedef struct act {
    kl_action_type type;
    int64_t at;
    int64_t resp_at;
    int fd;
    bool answered;  /* a response byte came: the next send is a new call */
    bool awaited;   /* a read got nothing (timeout, end of stream): so is the next send */
    bool closed;    /* the fd closed, or its next call was dropped: nothing more attaches */
    kl_addr peer, local;
    stream req, resp;
    char *name;
} act;

#define ID_LEN (2 * KLI_DECIMAL_MAX + 2) /* two int64s, '-' and the NUL */

/* The session being built: one inbound request, its response, the actions around them. */
typedef struct talk {
    bool has_request;
    bool responded;
    bool complete;       /* the response, and the request, are complete by framing */
    bool lost;           /* memory ran out: bytes are ignored until the session ends */
    bool truncated;
    int in_fd;
    uint32_t in_conn;    /* the inbound connection's serial, 0: unknown */
    kl_addr in_peer;
    int64_t req_at, resp_at, complete_at;
    char id[ID_LEN];     /* "<time>-<thread>"; empty until named (name_talk) */
    size_t in_index, ret_index;
    stream req, resp;
    kl_protocol proto;   /* KL_PROTO_UNKNOWN: the inbound side is not framed */
    bool proto_known;
    kl_frame_state req_fs, resp_fs;
    size_t req_len, resp_len;   /* framed message lengths, 0 while unknown */
    bool req_failed, resp_failed;
    int64_t extra_at;    /* when the first byte past req_len came: a pipelined request */
    act *acts;
    size_t n_acts, cap_acts;
    size_t used;         /* bytes kept, against max_bytes */
    uint64_t dropped_bytes, dropped_actions;
    stream hdr;          /* the trace header in the original's binary form; empty: none yet */
} talk;

/* Buffers a finished session gives back for the next ones: building a session otherwise
 * costs a dozen mallocs and frees. Bounded per builder: SPARE_STREAMS buffers of at most
 * SPARE_BYTES, and an action array of at most SPARE_ACTS. */
#define SPARE_STREAMS 4
#define SPARE_BYTES (16u << 10)
#define SPARE_ACTS 32

/* Sessions set aside while the thread serves another connection: an event loop reads two
 * clients, then answers both (Redis), or writes a large answer in pieces between other
 * clients' requests. Each is its connection's; past MAX_PARKED of them, or PARKED_LIMITS
 * times the bytes one session may keep, the oldest ends. */
#define MAX_PARKED 64
#define PARKED_LIMITS 4

struct kl_builder {
    kl_builder_opts o;
    talk t;              /* the session the thread works for: the next events go into it */
    talk *parked;        /* oldest first */
    size_t n_parked, cap_parked;
    kl_event_type last_type; /* the previous event's, and its fd */
    int last_fd;
    bool routed, last_routed; /* this event, and the previous, went into a parked session */
    stream spare[SPARE_STREAMS];
    size_t n_spare;
    int64_t last_id_time;
    kl_session **out;    /* finished sessions, oldest at head */
    size_t out_head, out_len, out_cap;
    kl_builder_totals totals;
};

static void stream_free(stream *s)
{
    free(s->data);
    *s = (stream){0};
}

/* Empty s, keeping its buffer as a spare when it is small and there is room. */
static void stream_release(kl_builder *b, stream *s)
{
    if (s->data && s->cap <= SPARE_BYTES && b->n_spare < SPARE_STREAMS)
        b->spare[b->n_spare++] = (stream){.data = s->data, .cap = s->cap};
    else
        free(s->data);
    *s = (stream){0};
}

/* Empty the session's streams and actions; the action array stays for the next session. */
static void release_payload(kl_builder *b, talk *t)
{
    for (size_t i = 0; i < t->n_acts; i++) {
        stream_release(b, &t->acts[i].req);
        stream_release(b, &t->acts[i].resp);
        free(t->acts[i].name);
    }
    t->n_acts = 0;
    stream_release(b, &t->req);
    stream_release(b, &t->resp);
}

static void talk_free(kl_builder *b, talk *t)
{
    release_payload(b, t);
    free(t->acts);
    stream_free(&t->hdr);
}

static void spares_free(kl_builder *b)
{
    while (b->n_spare)
        free(b->spare[--b->n_spare].data);
}

/* Memory ran out: drop what the session holds but keep its state, so that it still ends
 * where it would have. The trace header stays, so the service reads the same trace id
 * until the session ends. */
static int lose(kl_builder *b)
{
    talk *t = &b->t;
    b->totals.dropped++;
    b->totals.dropped_bytes += t->used - t->hdr.len;
    release_payload(b, t);
    spares_free(b);
    free(t->acts);
    t->acts = NULL;
    t->cap_acts = 0;
    t->used = t->hdr.len;
    t->lost = true;
    t->req_failed = t->resp_failed = true;
    return KL_ERR_NOMEM;
}

/* Append to s what the byte limit allows; the rest is dropped and counted. */
static int keep(kl_builder *b, stream *s, const uint8_t *data, size_t len)
{
    talk *t = &b->t;
    if (t->lost) {
        b->totals.dropped_bytes += len;
        return KL_OK;
    }
    size_t room = b->o.max_bytes - t->used, take = len < room ? len : room;
    if (take < len) {
        t->truncated = s->cut = true;
        t->dropped_bytes += len - take;
    }
    if (!take)
        return KL_OK;
    if (!s->data && b->n_spare) { /* an empty stream: only its buffer changes */
        const stream *sp = &b->spare[--b->n_spare];
        s->data = sp->data;
        s->cap = sp->cap;
    }
    if (s->cap - s->len < take) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap - s->len < take && cap <= SIZE_MAX / 2)
            cap *= 2;
        uint8_t *p = cap - s->len < take ? NULL : realloc(s->data, cap);
        if (!p) {
            b->totals.dropped_bytes += take;
            return lose(b);
        }
        s->data = p;
        s->cap = cap;
    }
    memcpy(s->data + s->len, data, take);
    s->len += take;
    t->used += take;
    return KL_OK;
}

/* Start an action for an event of len payload bytes. @return KL_OK with *out NULL when the
 * session is lost or at its action limit (the marker is exempt: a response always has one):
 * the payload is then counted as dropped; or KL_ERR_NOMEM. */
static int add_action(kl_builder *b, kl_action_type type, int64_t at, size_t len, act **out)
{
    talk *t = &b->t;
    *out = NULL;
    if (t->lost) {
        t->dropped_bytes += len;
        return KL_OK;
    }
    if (t->n_acts >= b->o.max_actions && type != KL_ACTION_RETURN_INBOUND) {
        t->truncated = true;
        t->dropped_actions++;
        t->dropped_bytes += len;
        return KL_OK;
    }
    if (t->n_acts == t->cap_acts) {
        size_t cap = t->cap_acts ? t->cap_acts * 2 : 8;
        act *a = realloc(t->acts, cap * sizeof *a);
        if (!a)
            return lose(b);
        t->acts = a;
        t->cap_acts = cap;
    }
    act *a = &t->acts[t->n_acts++];
    *a = (act){.type = type, .at = at};
    *out = a;
    return KL_OK;
}

/* ------------------------------------------------------------ finished sessions */

static int queue_push(kl_builder *b, kl_session *s)
{
    if (b->out_len == b->out_cap) {
        if (b->out_head) { /* slide the untaken ones to the front before growing */
            memmove(b->out, b->out + b->out_head, (b->out_len - b->out_head) * sizeof *b->out);
            b->out_len -= b->out_head;
            b->out_head = 0;
        }
        if (b->out_len == b->out_cap) {
            size_t cap = b->out_cap ? b->out_cap * 2 : 4;
            kl_session **q = realloc(b->out, cap * sizeof *q);
            if (!q)
                return KL_ERR_NOMEM;
            b->out = q;
            b->out_cap = cap;
        }
    }
    b->out[b->out_len++] = s;
    b->totals.sessions++;
    b->totals.truncated += s->truncated;
    return KL_OK;
}

static int copy_stream(kli_mem *m, kl_bytes *dst, const stream *src, size_t n)
{
    return kli_copy_bytes(m, dst, (kl_bytes){src->data, n});
}

/* Copy the actions into s, releasing each one's buffers once copied to keep the peak low. */
static int copy_actions(kl_builder *b, kl_session *s, talk *t)
{
    if (!t->n_acts)
        return KL_OK;
    kl_action *acts = kli_zalloc(s->mem, kli_cap(t->n_acts) * sizeof *acts);
    if (!acts)
        return KL_ERR_NOMEM;
    s->actions = acts;
    for (size_t i = 0; i < t->n_acts; i++) {
        act *a = &t->acts[i];
        kl_action *d = &acts[i];
        d->type = a->type;
        d->index = (int64_t)i;
        d->occurred_at = a->at;
        if (a->type == KL_ACTION_CALL_OUTBOUND) {
            d->socket_fd = a->fd;
            d->local = a->local;
            d->response_time = a->resp_at;
            if (copy_stream(s->mem, &d->request, &a->req, a->req.len) ||
                copy_stream(s->mem, &d->response, &a->resp, a->resp.len))
                return KL_ERR_NOMEM;
        } else if (copy_stream(s->mem, &d->content, &a->req, a->req.len)) {
            return KL_ERR_NOMEM;
        }
        if (a->type == KL_ACTION_CALL_OUTBOUND || a->type == KL_ACTION_SEND_UDP)
            d->peer = a->peer;
        if (a->name && !(d->file_name = kli_strdup(s->mem, a->name)))
            return KL_ERR_NOMEM;
        s->n_actions = i + 1;
        stream_release(b, &a->req);
        stream_release(b, &a->resp);
    }
    return KL_OK;
}

static int add_count_label(kl_session *s, const char *key, uint64_t n)
{
    char v[24];
    int len = snprintf(v, sizeof v, "%llu", (unsigned long long)n);
    return kl_session_add_kv(s, &s->labels, &s->n_labels,
                             (kl_bytes){(const uint8_t *)key, strlen(key)},
                             (kl_bytes){(const uint8_t *)v, (size_t)len});
}

static const kl_bytes key_ti = {(const uint8_t *)"ti", 2}, key_si = {(const uint8_t *)"si", 2};

/* One entry of a trace header at *off, which moves past it; false at the end. The header
 * is well formed: only header_set() writes it. */
static bool next_entry(const stream *h, size_t *off, kl_bytes *key, kl_bytes *value)
{
    if (*off >= h->len)
        return false;
    const uint8_t *p = h->data + *off;
    key->len = (size_t)p[0] << 8 | p[1];
    key->data = p + 2;
    p += 2 + key->len;
    value->len = (size_t)p[0] << 8 | p[1];
    value->data = p + 2;
    *off += 4 + key->len + value->len;
    return true;
}

/* The header's entries as trace_header, "ti" and "si" as trace_id and span_id. */
static int copy_trace(kl_session *s, const talk *t)
{
    kl_bytes key, value;
    for (size_t off = 0; next_entry(&t->hdr, &off, &key, &value);) {
        int err = kl_session_add_kv(s, &s->trace_header, &s->n_trace_header, key, value);
        if (err)
            return err;
        const kl_kv *kv = &s->trace_header[s->n_trace_header - 1];
        if (kli_bytes_equal(key, key_ti))
            s->trace_id = kv->value;
        else if (kli_bytes_equal(key, key_si))
            s->span_id = kv->value;
    }
    return KL_OK;
}

/* "<time>-<thread>" into buf. */
static void format_id(char buf[ID_LEN], int64_t time, int64_t thread)
{
    char *p = kli_text_decimal(buf, time);
    *p++ = '-';
    *kli_text_decimal(p, thread) = '\0';
}

/* Build the owning session from t: its request and response up to req_n and resp_n. */
static int to_session(kl_builder *b, talk *t, size_t req_n, size_t resp_n, const char *next_id,
                      kl_session **out)
{
    /* Everything below in one block with the session: the strings, both streams, every
     * action and its bytes (each allocation rounds up to 16), the trace header, the labels. */
    size_t need = 1024 + req_n + resp_n + kli_cap(t->n_acts) * sizeof(kl_action);
    for (size_t i = 0; i < t->n_acts; i++)
        need += t->acts[i].req.len + t->acts[i].resp.len + 64 +
                (t->acts[i].name ? strlen(t->acts[i].name) : 0);
    need += t->hdr.len * 2;
    kl_session *s = kli_session_new_sized(need);
    if (!s)
        return KL_ERR_NOMEM;
    kli_mem *m = s->mem;
    s->thread_id = b->o.thread_id;
    s->pid = b->o.pid;
    s->truncated = t->truncated;
    s->call_from_inbound = (kl_call_from_inbound){.present = true, .index = (int64_t)t->in_index,
                                                  .occurred_at = t->req_at, .peer = t->in_peer};
    if (t->responded)
        s->return_inbound = (kl_return_inbound){.present = true, .index = (int64_t)t->ret_index,
                                                .occurred_at = t->resp_at};
    int err = KL_ERR_NOMEM;
    if (!(s->id = kli_strdup(m, t->id)) || (b->o.host && !(s->host = kli_strdup(m, b->o.host))) ||
        (b->o.program && !(s->program = kli_strdup(m, b->o.program))) ||
        (next_id && !(s->next_session_id = kli_strdup(m, next_id))) ||
        copy_stream(m, &s->call_from_inbound.request, &t->req, req_n) ||
        copy_stream(m, &s->return_inbound.response, &t->resp, resp_n) || copy_actions(b, s, t) ||
        copy_trace(s, t))
        goto fail;
    if (t->truncated && ((err = add_count_label(s, "dropped_bytes", t->dropped_bytes)) ||
                         (err = add_count_label(s, "dropped_actions", t->dropped_actions))))
        goto fail;
    *out = s;
    return KL_OK;
fail:
    kl_session_free(s);
    return err;
}

/* ------------------------------------------------------------------- framing */

static bool is_head_request(const talk *t)
{
    return t->proto == KL_PROTO_HTTP && t->req.len >= 5 && memcmp(t->req.data, "HEAD ", 5) == 0;
}

/* Settle the inbound protocol; in auto mode, from the request's first bytes. final: the
 * response has begun, so no more request bytes will help. */
static void settle_protocol(kl_builder *b, bool final)
{
    talk *t = &b->t;
    if (t->proto_known)
        return;
    switch (b->o.inbound) {
    case KL_INBOUND_HTTP: t->proto = KL_PROTO_HTTP; break;
    case KL_INBOUND_FASTCGI: t->proto = KL_PROTO_FASTCGI; break;
    case KL_INBOUND_NONE: t->proto = KL_PROTO_UNKNOWN; break;
    case KL_INBOUND_AUTO:
        t->proto = kl_frame_detect(t->req.data, t->req.len);
        if (t->proto == KL_PROTO_MYSQL) /* a reply is many packets: not framed here */
            t->proto = KL_PROTO_UNKNOWN;
        if (t->proto == KL_PROTO_UNKNOWN && !final && t->req.len < KL_FRAME_DETECT_BYTES)
            return;
        break;
    }
    t->proto_known = true;
}

static bool request_done(const talk *t)
{
    return t->req_len || t->req_failed || t->proto == KL_PROTO_UNKNOWN;
}

static void frame_request(kl_builder *b, int64_t at)
{
    talk *t = &b->t;
    if (t->req_len) {
        if (t->req.len > t->req_len && !t->extra_at)
            t->extra_at = at;
        return;
    }
    t->req_failed |= t->req.cut;
    if (t->req_failed)
        return;
    settle_protocol(b, false);
    if (!t->proto_known || t->proto == KL_PROTO_UNKNOWN)
        return;
    size_t n;
    if (kl_frame_message(t->proto, 0, t->req.data, t->req.len, &t->req_fs, &n) != KL_OK) {
        t->req_failed = true;
        return;
    }
    t->req_len = n;
    if (n && t->req.len > n)
        t->extra_at = at;
}

/* Mark the session complete when its response, and its request, are. */
static void frame_response(kl_builder *b, int64_t at)
{
    talk *t = &b->t;
    if (!t->resp_len) {
        t->resp_failed |= t->resp.cut;
        if (t->resp_failed || !t->resp.len)
            return;
        settle_protocol(b, true);
        if (t->proto == KL_PROTO_UNKNOWN)
            return;
        unsigned flags = KL_FRAME_RESPONSE | (is_head_request(t) ? KL_FRAME_HEAD : 0);
        if (kl_frame_message(t->proto, flags, t->resp.data, t->resp.len, &t->resp_fs, &t->resp_len)) {
            t->resp_failed = true;
            return;
        }
    }
    if (t->resp_len && request_done(t) && !t->complete) {
        t->complete = true;
        t->complete_at = at;
    }
}

/* -------------------------------------------------------------- ending sessions */

/* Give t its id, from at or just past the thread's last one: no two sessions share one. */
static void name_talk(kl_builder *b, talk *t, int64_t at)
{
    b->last_id_time = at > b->last_id_time ? at : b->last_id_time + 1;
    format_id(t->id, b->last_id_time, b->o.thread_id);
}

/* Move the bytes of s past n to the front of a fresh stream for the next session. */
static stream leftover(stream *s, size_t n)
{
    stream rest = *s;
    rest.len = s->len - n;
    memmove(rest.data, rest.data + n, rest.len);
    *s = (stream){0};
    return rest;
}

/* The next session, named and otherwise empty, when this one's pipelined successor has
 * already begun: it takes the bytes past this one's request and response. */
static void start_successor(talk *old, talk *next)
{
    next->has_request = true;
    next->in_fd = old->in_fd;
    next->in_conn = old->in_conn;
    next->in_peer = old->in_peer;
    next->req_at = old->extra_at;
    next->proto = old->proto;
    next->proto_known = old->proto_known;
    next->req = leftover(&old->req, old->req_len);
    next->used = next->req.len;
    if (old->resp.len > old->resp_len) { /* its response went out with the last one */
        next->resp = leftover(&old->resp, old->resp_len);
        next->used += next->resp.len;
        next->responded = true;
        next->resp_at = old->complete_at;
    }
}

/* Hand the session out, or count why not. */
static int deliver(kl_builder *b, talk *t, size_t req_n, size_t resp_n, const char *next_id)
{
    if (t->lost) {
        b->totals.dropped_bytes += t->used; /* its trace header: all it kept since the loss */
        return KL_OK;
    }
    if (!t->has_request) {
        b->totals.orphans += t->n_acts > 0;
        b->totals.dropped_bytes += t->used;
        return KL_OK;
    }
    kl_session *s = NULL;
    int err = to_session(b, t, req_n, resp_n, next_id, &s);
    if (!err && (err = queue_push(b, s)))
        kl_session_free(s);
    if (err) {
        b->totals.dropped++;
        b->totals.dropped_bytes += t->used;
    }
    return err;
}

/* End the session and start the next with what of it has begun: pipelined bytes, or the
 * request whose first byte came at next_at (0: none yet), so this one can name it. */
static int finish(kl_builder *b, int64_t next_at)
{
    talk *t = &b->t, next = {0};
    bool split = t->complete && t->req_len && t->req.len > t->req_len;
    size_t req_n = t->complete && t->req_len ? t->req_len : t->req.len;
    size_t resp_n = t->complete && t->resp_len ? t->resp_len : t->resp.len;
    if (split)
        next_at = t->extra_at;
    else if (t->resp.len > resp_n)
        t->dropped_bytes += t->resp.len - resp_n; /* an answer to no request */
    if (next_at)
        name_talk(b, &next, next_at);
    int err = deliver(b, t, req_n, resp_n, next_at ? next.id : NULL);
    b->totals.dropped_bytes += t->dropped_bytes;
    b->totals.dropped_actions += t->dropped_actions;
    if (split)
        start_successor(t, &next);
    release_payload(b, t);
    stream_release(b, &t->hdr);
    if (t->cap_acts <= SPARE_ACTS) {
        next.acts = t->acts;
        next.cap_acts = t->cap_acts;
    } else {
        free(t->acts);
    }
    *t = next;
    if (split) {
        act *marker = NULL;
        int r = t->responded ? add_action(b, KL_ACTION_RETURN_INBOUND, t->resp_at, 0, &marker) : KL_OK;
        if (!err)
            err = r;
        frame_request(b, t->req_at);
        frame_response(b, t->resp_at);
    }
    return err;
}

static bool lingered(const kl_builder *b, const talk *t, int64_t now)
{
    return t->complete && (b->o.linger_ns <= 0 || now - t->complete_at >= b->o.linger_ns);
}

/* ------------------------------------------------------------ parked sessions */

/* Run fn on parked session i as if it were the current one. */
static int in_parked(kl_builder *b, size_t i, int (*fn)(kl_builder *, const kl_event *), const kl_event *ev)
{
    talk cur = b->t;
    b->t = b->parked[i];
    b->routed = true;
    int err = fn(b, ev);
    b->parked[i] = b->t;
    b->t = cur;
    return err;
}

static void unlink_parked(kl_builder *b, size_t i)
{
    memmove(b->parked + i, b->parked + i + 1, (b->n_parked - i - 1) * sizeof *b->parked);
    b->n_parked--;
}

/* End parked session i, and its pipelined successors while complete (all: even incomplete);
 * a successor left waiting stays parked in its place. */
static int end_parked(kl_builder *b, size_t i, bool all)
{
    talk cur = b->t;
    b->t = b->parked[i];
    int err = KL_OK;
    do {
        int r = finish(b, 0);
        if (!err)
            err = r;
    } while (b->t.has_request && (all || b->t.complete));
    if (b->t.has_request) {
        b->parked[i] = b->t;
    } else {
        talk_free(b, &b->t);
        unlink_parked(b, i);
    }
    b->t = cur;
    return err;
}

/* Park the current session, which has a request; the thread then works for none. */
static int park(kl_builder *b)
{
    int err = KL_OK;
    size_t bytes = b->t.used;
    for (size_t i = 0; i < b->n_parked; i++)
        bytes += b->parked[i].used;
    while (b->n_parked && (b->n_parked == MAX_PARKED || bytes / PARKED_LIMITS > b->o.max_bytes)) {
        bytes -= b->parked[0].used;
        int r = end_parked(b, 0, true);
        if (!err)
            err = r;
    }
    if (b->n_parked == b->cap_parked) {
        size_t cap = b->cap_parked ? 2 * b->cap_parked : 4;
        talk *p = realloc(b->parked, cap * sizeof *p);
        if (!p) { /* it ends now instead, as it did before sessions were parked */
            int r = finish(b, 0);
            return err ? err : r;
        }
        b->parked = p;
        b->cap_parked = cap;
    }
    b->parked[b->n_parked++] = b->t;
    b->t = (talk){0};
    return err;
}

/* Whether a session answering or answered this way is still open: it waits for its answer,
 * or answers by a protocol that tells when the answer is done. */
static bool still_open(const talk *t)
{
    return !t->complete && (!t->responded || (t->proto != KL_PROTO_UNKNOWN && !t->resp_failed));
}

/* Set the current session aside for a request on another connection: parked while still
 * open, else ended (request => response => request), with next_at naming the next. */
static int set_aside(kl_builder *b, int64_t next_at)
{
    int err = KL_OK;
    while (b->t.has_request) {
        int r = still_open(&b->t) ? park(b) : finish(b, next_at);
        if (!err)
            err = r;
    }
    return err;
}

/* How ev's inbound connection compares with t's. With serials on both (kl_event.conn) they
 * decide; without, fd numbers and peers: a peer unknown on either side is alike, and unix
 * clients all read as their socket's path. */
static bool serials(const talk *t, const kl_event *ev)
{
    return ev->conn && t->in_conn;
}

static bool peers_alike(const talk *t, const kl_event *ev)
{
    return !ev->peer || !ev->peer->family || !t->in_peer.family || kl_addr_equal(ev->peer, &t->in_peer);
}

/* Whether ev is on t's connection itself: the same serial, else the same fd. */
static bool on_conn(const talk *t, const kl_event *ev)
{
    return serials(t, ev) ? ev->conn == t->in_conn : ev->fd == t->in_fd;
}

/* Whether ev is on t's connection, its fd or a dup of it. */
static bool same_connection(const talk *t, const kl_event *ev)
{
    return serials(t, ev) ? ev->conn == t->in_conn : ev->fd == t->in_fd || peers_alike(t, ev);
}

/* The parked session of ev's connection: on its fd, from a peer alike, when no serials. */
static bool parked_for(const kl_builder *b, const kl_event *ev, size_t *i)
{
    for (size_t k = b->n_parked; k-- > 0;)
        if (on_conn(&b->parked[k], ev) && (serials(&b->parked[k], ev) || peers_alike(&b->parked[k], ev))) {
            *i = k;
            return true;
        }
    return false;
}

/* Take up parked session i again; the current one has no request. Actions made meanwhile,
 * outside any request, go with it, as they would with a new one. */
static int unpark(kl_builder *b, size_t i)
{
    talk was = b->t;
    b->t = b->parked[i];
    unlink_parked(b, i);
    talk *t = &b->t;
    int err = KL_OK;
    for (size_t k = 0; k < was.n_acts && !err; k++) {
        act *a;
        const act *o = &was.acts[k];
        size_t bytes = o->req.len + o->resp.len + (o->name ? strlen(o->name) + 1 : 0);
        if (bytes > b->o.max_bytes - t->used) {
            t->truncated = true;
            t->dropped_actions++;
            t->dropped_bytes += o->req.len + o->resp.len;
            continue;
        }
        if ((err = add_action(b, o->type, o->at, o->req.len + o->resp.len, &a)) == KL_OK && a) {
            *a = *o;
            was.acts[k] = (act){0};
            t->used += bytes;
        }
    }
    b->totals.dropped_bytes += was.hdr.len; /* a header set outside any request goes with it */
    talk_free(b, &was);
    return err;
}

/* Hand out complete sessions whose linger has passed by now. */
static int drain(kl_builder *b, int64_t now)
{
    int err = KL_OK;
    while (lingered(b, &b->t, now)) {
        int r = finish(b, 0);
        if (!err)
            err = r;
    }
    for (size_t i = 0; i < b->n_parked;) {
        size_t before = b->n_parked;
        if (lingered(b, &b->parked[i], now)) {
            int r = end_parked(b, i, false);
            if (!err)
                err = r;
        }
        i += b->n_parked == before;
    }
    return err;
}

/* ------------------------------------------------------------------- inbound */

/* In a session that has answered, whether these bytes still belong to its request: the
 * request is framed and not complete yet (a body read after an early answer, such as
 * 100 Continue or PHP's fastcgi_finish_request). */
static bool request_continues(const talk *t, const kl_event *ev)
{
    return t->proto != KL_PROTO_UNKNOWN && !t->req_failed && !t->req_len && on_conn(t, ev);
}

/* Whether these inbound bytes come from another client than the unanswered request's: its
 * connection was closed where this thread did not see it (by another thread), and its fd
 * number came back for a new one. Without serials, clients that share an address (unix
 * sockets) cannot tell. */
static bool another_client(const talk *t, const kl_event *ev)
{
    return t->has_request && !t->responded &&
           (serials(t, ev) ? ev->conn != t->in_conn : !peers_alike(t, ev));
}

static int inbound_recv(kl_builder *b, const kl_event *ev)
{
    talk *t = &b->t;
    int err = KL_OK;
    size_t p;
    bool parked = (!t->has_request || !on_conn(t, ev)) && parked_for(b, ev, &p);
    /* on the same fd, another connection is the old one's fd number reused: it ends below */
    if (parked || (t->has_request && ev->fd != t->in_fd && !same_connection(t, ev))) {
        err = set_aside(b, parked ? 0 : ev->time); /* a session taken up again has its id */
        if (parked) {
            int r = unpark(b, p);
            if (!err)
                err = r;
        }
    }
    /* again after a pipelined successor: it may be complete, or answered, too */
    while (t->has_request &&
           (t->complete || (t->responded && !request_continues(t, ev)) || another_client(t, ev))) {
        int r = finish(b, ev->time);
        if (!err)
            err = r;
    }
    if (!t->has_request) {
        t->has_request = true;
        t->in_fd = ev->fd;
        t->in_conn = ev->conn;
        t->in_peer = ev->peer ? *ev->peer : (kl_addr){0};
        t->req_at = ev->time;
        t->in_index = t->n_acts;
        if (!t->id[0]) /* else the previous session named it as next */
            name_talk(b, t, ev->time);
    }
    int r = keep(b, &t->req, ev->data, ev->len);
    frame_request(b, ev->time);
    frame_response(b, ev->time); /* the last request bytes may complete an early answer */
    return err ? err : r;
}

static int inbound_send(kl_builder *b, const kl_event *ev)
{
    talk *t = &b->t;
    int err = KL_OK;
    size_t p;
    if ((!t->has_request || !on_conn(t, ev)) && parked_for(b, ev, &p)) {
        err = set_aside(b, 0);
        int r = unpark(b, p);
        if (!err)
            err = r;
    } else if (t->has_request && !same_connection(t, ev)) {
        b->totals.dropped_bytes += ev->len; /* a connection no session is open for */
        return KL_OK;
    }
    while (t->complete) { /* the service answers the next pipelined request */
        int r = finish(b, 0);
        if (!err)
            err = r;
    }
    if (!t->has_request) {
        b->totals.dropped_bytes += ev->len;
        return err;
    }
    if (!t->responded) {
        t->responded = true;
        t->resp_at = ev->time;
        act *marker;
        int r = add_action(b, KL_ACTION_RETURN_INBOUND, ev->time, 0, &marker);
        if (r)
            return r;
        if (marker)
            t->ret_index = t->n_acts - 1;
    }
    int r = keep(b, &t->resp, ev->data, ev->len);
    frame_response(b, ev->time);
    return err ? err : r;
}

static int inbound_close(kl_builder *b, const kl_event *ev)
{
    talk *t = &b->t;
    size_t p;
    if (!(t->has_request && on_conn(t, ev)) && parked_for(b, ev, &p))
        return b->parked[p].complete ? KL_OK : end_parked(b, p, true);
    if (!t->has_request || t->complete || !on_conn(t, ev))
        return KL_OK;
    return finish(b, 0);
}

/* ------------------------------------------------------------------ outbound */

static const kl_addr *peer_of(const kl_event *ev)
{
    static const kl_addr none;
    return ev->peer ? ev->peer : &none;
}

/* The latest call on fd: where a recv's bytes go. */
static act *last_call(const talk *t, int fd)
{
    for (size_t i = t->n_acts; i-- > 0;)
        if (t->acts[i].type == KL_ACTION_CALL_OUTBOUND && t->acts[i].fd == fd)
            return &t->acts[i];
    return NULL;
}

/* Start a call on ev's socket. *c is NULL when it was dropped at the action limit; then the
 * fd's previous call is closed, so that this call's response cannot land in it. */
static int new_call(kl_builder *b, const kl_event *ev, act *prev, act **c)
{
    int r = add_action(b, KL_ACTION_CALL_OUTBOUND, ev->time, ev->len, c);
    if (r || !*c) {
        if (!r && prev)
            prev->closed = true;
        return r;
    }
    (*c)->fd = ev->fd;
    (*c)->peer = *peer_of(ev);
    if (ev->local)
        (*c)->local = *ev->local;
    return KL_OK;
}

static int outbound_send_here(kl_builder *b, const kl_event *ev)
{
    act *c = last_call(&b->t, ev->fd);
    if (!c || c->closed || c->answered || c->awaited || !kl_addr_equal(&c->peer, peer_of(ev))) {
        int r = new_call(b, ev, c, &c);
        if (r || !c)
            return r;
    }
    return keep(b, &c->req, ev->data, ev->len);
}

/* Whether c, a call on ev's fd, is open to ev's peer. */
static bool open_call(const act *c, const kl_event *ev)
{
    return c && !c->closed && kl_addr_equal(&c->peer, peer_of(ev));
}

static int outbound_recv_here(kl_builder *b, const kl_event *ev)
{
    act *c = last_call(&b->t, ev->fd);
    bool same = open_call(c, ev);
    if (!ev->len) {
        if (same)
            c->awaited = true;
        return KL_OK;
    }
    if (!same) { /* bytes before any request: a greeting, or an answer to an earlier session */
        int r = new_call(b, ev, c, &c);
        if (r || !c)
            return r;
    }
    if (!c->answered) {
        c->answered = true;
        c->resp_at = ev->time;
    }
    return keep(b, &c->resp, ev->data, ev->len);
}

/* Whether c is a request still being sent: the next bytes on its fd join it. */
static bool sending(const act *c, const kl_event *ev)
{
    return open_call(c, ev) && !c->answered && !c->awaited;
}

/* Whether t waits for its answer with no outbound call in flight: free to make one. */
static bool free_to_call(const talk *t)
{
    if (!t->has_request || t->responded || t->lost)
        return false;
    for (size_t i = 0; i < t->n_acts; i++) {
        const act *a = &t->acts[i];
        if (a->type == KL_ACTION_CALL_OUTBOUND && a->req.len && !a->answered && !a->awaited && !a->closed)
            return false;
    }
    return true;
}

/* Whether t, still waiting for its answer, made the last call on ev's connection: a
 * connection opened for one request, or taken from a pool for it, serves it alone. */
static bool used_it(const talk *t, const kl_event *ev)
{
    return t->has_request && !t->responded && open_call(last_call(t, ev->fd), ev);
}

/* The length of the "METHOD target " an HTTP request starts with, else 0. */
static size_t http_target_len(const uint8_t *d, size_t n)
{
    size_t m = 0;
    while (m < n && m < 16 && d[m] >= 'A' && d[m] <= 'Z')
        m++;
    if (!m || m == n || d[m] != ' ')
        return 0;
    const uint8_t *end = memchr(d + m + 1, ' ', n - m - 1);
    return end ? (size_t)(end - d) + 1 : 0;
}

/* Whether t may make the call ev starts, and asked for what it asks: an HTTP request for the
 * same method and target, or the first n bytes of its own request (a reverse proxy passing a
 * request on, rewritten or verbatim). */
static bool asked_alike(const talk *t, const kl_event *ev, size_t n)
{
    return free_to_call(t) && t->req.len >= n && memcmp(t->req.data, ev->data, n) == 0;
}

/* How many of ev's first bytes a session's request must share to be the one it passes on:
 * an HTTP request's method and target, else up to 64 bytes, at least 8; 0: none. */
static size_t alike_len(const kl_event *ev)
{
    size_t n = http_target_len(ev->data, ev->len);
    if (!n)
        n = ev->len < 64 ? ev->len : 64;
    return n >= 8 ? n : 0;
}

/* With sessions parked, the one an outbound request belongs to, in this order: the current
 * one while its request on that fd is being sent; a parked one whose request on that fd the
 * thread's previous event sent a piece of; the oldest free to call whose client asked for the
 * same HTTP method and target, or sent the same first bytes (a reverse proxy); the current
 * one, still waiting, when the thread's previous event was its (a handler that calls as it
 * reads its request, or as an answer comes: Node.js, nginx); one still waiting that made the
 * last call on that connection (opened or taken from a pool for it); the oldest free to call
 * (an event loop that reads several clients, then calls a backend for each: haproxy); else
 * the current one. @return whether it is parked session *i. */
static bool caller_parked(const kl_builder *b, const kl_event *ev, size_t *i)
{
    if (sending(last_call(&b->t, ev->fd), ev))
        return false;
    for (size_t k = 0; b->last_type == KL_EV_OUTBOUND_SEND && b->last_fd == ev->fd && k < b->n_parked; k++)
        if (sending(last_call(&b->parked[k], ev->fd), ev)) {
            *i = k;
            return true;
        }
    size_t n = alike_len(ev);
    bool found = false;
    for (size_t k = 0; n && k < b->n_parked; k++) /* the oldest of those alike */
        if (asked_alike(&b->parked[k], ev, n) && (!found || b->parked[k].req_at < b->parked[*i].req_at)) {
            *i = k;
            found = true;
        }
    if (n && asked_alike(&b->t, ev, n) && (!found || b->t.req_at < b->parked[*i].req_at))
        return false;
    if (found)
        return true;
    if (!b->last_routed && b->t.has_request && !b->t.responded)
        return false;
    if (used_it(&b->t, ev))
        return false;
    for (size_t k = 0; k < b->n_parked; k++)
        if (used_it(&b->parked[k], ev)) {
            *i = k;
            return true;
        }
    for (size_t k = 0; k < b->n_parked; k++)
        if (free_to_call(&b->parked[k]) && (!found || b->parked[k].req_at < b->parked[*i].req_at)) {
            *i = k;
            found = true;
        }
    return found && !(free_to_call(&b->t) && b->t.req_at < b->parked[*i].req_at);
}

static int outbound_send(kl_builder *b, const kl_event *ev)
{
    size_t i = 0;
    if (b->n_parked && caller_parked(b, ev, &i))
        return in_parked(b, i, outbound_send_here, ev);
    return outbound_send_here(b, ev);
}

/* A response goes to the call open on its fd: the current session's, else the latest parked
 * one's (a call made before the thread turned to another client). */
static int outbound_recv(kl_builder *b, const kl_event *ev)
{
    if (!open_call(last_call(&b->t, ev->fd), ev))
        for (size_t i = b->n_parked; i-- > 0;)
            if (open_call(last_call(&b->parked[i], ev->fd), ev))
                return in_parked(b, i, outbound_recv_here, ev);
    return outbound_recv_here(b, ev);
}

static int outbound_close(kl_builder *b, const kl_event *ev)
{
    act *c = last_call(&b->t, ev->fd);
    if (c)
        c->closed = true;
    for (size_t i = 0; i < b->n_parked; i++)
        if ((c = last_call(&b->parked[i], ev->fd)) != NULL)
            c->closed = true;
    return KL_OK;
}

/* ------------------------------------------------------------ other actions */

static int append_file(kl_builder *b, const kl_event *ev)
{
    talk *t = &b->t;
    const char *name = ev->file_name ? ev->file_name : "";
    act *a = NULL;
    for (size_t i = t->n_acts; i-- > 0 && !a;)
        if (t->acts[i].type == KL_ACTION_APPEND_FILE && strcmp(t->acts[i].name, name) == 0)
            a = &t->acts[i];
    if (!a) {
        size_t n = strlen(name) + 1;
        int r = KL_OK;
        if (n > b->o.max_bytes - t->used) { /* the name counts against the byte limit too */
            t->truncated = true;
            t->dropped_actions++;
            t->dropped_bytes += ev->len;
        } else {
            r = add_action(b, KL_ACTION_APPEND_FILE, ev->time, ev->len, &a);
        }
        if (r || !a)
            return r;
        if (!(a->name = malloc(n)))
            return lose(b);
        memcpy(a->name, name, n);
        t->used += n;
    }
    return keep(b, &a->req, ev->data, ev->len);
}

static int one_shot(kl_builder *b, const kl_event *ev, kl_action_type type)
{
    act *a;
    int r = add_action(b, type, ev->time, ev->len, &a);
    if (r || !a)
        return r;
    if (type == KL_ACTION_SEND_UDP)
        a->peer = *peer_of(ev);
    return keep(b, &a->req, ev->data, ev->len);
}

/* -------------------------------------------------------------- trace header */

static uint8_t *put_field(uint8_t *p, kl_bytes f)
{
    p[0] = (uint8_t)(f.len >> 8);
    p[1] = (uint8_t)f.len;
    if (f.len)
        memcpy(p + 2, f.data, f.len);
    return p + 2 + f.len;
}

/* Put key = value first, followed by the other entries in their order. */
static int header_set(kl_builder *b, kl_bytes key, kl_bytes value)
{
    talk *t = &b->t;
    kl_bytes k, v;
    size_t n = 4 + key.len + value.len;
    for (size_t off = 0; next_entry(&t->hdr, &off, &k, &v);)
        n += kli_bytes_equal(k, key) ? 0 : 4 + k.len + v.len;
    if (n > t->hdr.len && n - t->hdr.len > b->o.max_bytes - t->used) {
        t->truncated = true;
        t->dropped_bytes += n - t->hdr.len;
        return KL_ERR_TOOBIG;
    }
    uint8_t *h = malloc(n);
    if (!h)
        return KL_ERR_NOMEM;
    uint8_t *p = put_field(put_field(h, key), value);
    for (size_t off = 0, at = 0; next_entry(&t->hdr, &off, &k, &v); at = off)
        if (!kli_bytes_equal(k, key)) {
            memcpy(p, t->hdr.data + at, off - at);
            p += off - at;
        }
    t->used = t->used - t->hdr.len + n;
    stream_free(&t->hdr);
    t->hdr = (stream){.data = h, .len = n, .cap = n};
    return KL_OK;
}

/* The original's GetTraceHeader(): a session's header is created on first use. */
static int ensure_header(kl_builder *b, const char *new_trace_id)
{
    if (b->t.hdr.len)
        return KL_OK;
    size_t n = new_trace_id ? strlen(new_trace_id) : 0;
    if (!new_trace_id || n > KL_TRACE_FIELD_MAX)
        return KL_ERR_INVALID;
    return header_set(b, key_ti, (kl_bytes){(const uint8_t *)new_trace_id, n});
}

int kl_builder_trace_header(kl_builder *b, const char *new_trace_id, kl_buf *out)
{
    int err = ensure_header(b, new_trace_id);
    return err ? err : kl_buf_append(out, b->t.hdr.data, b->t.hdr.len);
}

int kl_builder_trace_get(kl_builder *b, const char *new_trace_id, const uint8_t *key,
                         size_t key_len, kl_buf *out)
{
    int err = ensure_header(b, new_trace_id);
    if (err)
        return err;
    kl_bytes k, v;
    for (size_t off = 0; next_entry(&b->t.hdr, &off, &k, &v);)
        if (kli_bytes_equal(k, (kl_bytes){key, key_len}))
            return kl_buf_append(out, v.data, v.len);
    return KL_ERR_NOTFOUND;
}

int kl_builder_trace_set(kl_builder *b, const char *new_trace_id, const uint8_t *key,
                         size_t key_len, const uint8_t *value, size_t value_len)
{
    if (key_len > KL_TRACE_FIELD_MAX || value_len > KL_TRACE_FIELD_MAX)
        return KL_ERR_INVALID;
    int err = ensure_header(b, new_trace_id);
    return err ? err : header_set(b, (kl_bytes){key, key_len}, (kl_bytes){value, value_len});
}

/* -------------------------------------------------------------------- public */

void kl_builder_opts_init(kl_builder_opts *o)
{
    *o = (kl_builder_opts){.inbound = KL_INBOUND_AUTO, .max_actions = KL_BUILDER_MAX_ACTIONS,
                           .max_bytes = KL_BUILDER_MAX_BYTES};
}

int kl_builder_new(kl_builder **out, const kl_builder_opts *o)
{
    *out = NULL;
    kl_builder *b = calloc(1, sizeof *b);
    if (!b)
        return KL_ERR_NOMEM;
    b->o = *o;
    b->o.host = b->o.program = NULL;
    if (!b->o.max_actions)
        b->o.max_actions = KL_BUILDER_MAX_ACTIONS;
    if (!b->o.max_bytes)
        b->o.max_bytes = KL_BUILDER_MAX_BYTES;
    if ((o->host && !(b->o.host = strdup(o->host))) ||
        (o->program && !(b->o.program = strdup(o->program)))) {
        kl_builder_free(b);
        return KL_ERR_NOMEM;
    }
    *out = b;
    return KL_OK;
}

static int dispatch(kl_builder *b, const kl_event *ev)
{
    switch (ev->type) {
    case KL_EV_INBOUND_RECV: return ev->len ? inbound_recv(b, ev) : KL_OK;
    case KL_EV_INBOUND_SEND: return ev->len ? inbound_send(b, ev) : KL_OK;
    case KL_EV_INBOUND_CLOSE: return inbound_close(b, ev);
    case KL_EV_OUTBOUND_SEND: return ev->len ? outbound_send(b, ev) : KL_OK;
    case KL_EV_OUTBOUND_RECV: return outbound_recv(b, ev);
    case KL_EV_OUTBOUND_CLOSE: return outbound_close(b, ev);
    case KL_EV_APPEND_FILE: return append_file(b, ev);
    case KL_EV_SEND_UDP: return one_shot(b, ev, KL_ACTION_SEND_UDP);
    case KL_EV_READ_STORAGE: return one_shot(b, ev, KL_ACTION_READ_STORAGE);
    }
    return KL_ERR_INVALID;
}

int kl_builder_feed(kl_builder *b, const kl_event *ev)
{
    int err = drain(b, ev->time);
    b->routed = false;
    int r = dispatch(b, ev);
    b->last_type = ev->type;
    b->last_fd = ev->fd;
    b->last_routed = b->routed;
    int late = drain(b, ev->time);
    return err ? err : r ? r : late;
}

int kl_builder_tick(kl_builder *b, int64_t now)
{
    return drain(b, now);
}

int kl_builder_flush(kl_builder *b)
{
    int err = KL_OK;
    while (b->n_parked) {
        int r = end_parked(b, 0, true);
        if (!err)
            err = r;
    }
    do { /* a pipelined successor is flushed too */
        int r = finish(b, 0);
        if (!err)
            err = r;
    } while (b->t.has_request);
    return err;
}

kl_session *kl_builder_take(kl_builder *b)
{
    if (b->out_head == b->out_len)
        return NULL;
    kl_session *s = b->out[b->out_head++];
    if (b->out_head == b->out_len)
        b->out_head = b->out_len = 0;
    return s;
}

void kl_builder_get_totals(const kl_builder *b, kl_builder_totals *t)
{
    *t = b->totals;
}

void kl_builder_free(kl_builder *b)
{
    if (!b)
        return;
    talk_free(b, &b->t);
    for (size_t i = 0; i < b->n_parked; i++)
        talk_free(b, &b->parked[i]);
    free(b->parked);
    spares_free(b);
    for (size_t i = b->out_head; i < b->out_len; i++)
        kl_session_free(b->out[i]);
    free(b->out);
    free((char *)b->o.host);
    free((char *)b->o.program);
    free(b);
}
