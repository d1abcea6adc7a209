/* codec.c - kl_session and kl_replayed to and from protobuf bytes (proto/koala.proto): a file's
 * koala.Record, or the Session or ReplayedSession message alone for the replayer's protocol.
 *
 * Hand-written for speed on the recording and reading paths: encoding counts, then writes, from
 * one description of each message; decoding points bytes fields into the caller's buffer
 * instead of copying.
 * Field numbers follow proto/koala.proto; tests/check_codec.c cross-checks both directions
 * against the protobuf-c code generated from it. */
#include "kl_internal.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ encode */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2 };

/* Encoding takes two passes over one description of each message below: the first counts
 * bytes, noting in pre-order each submessage's length and each string's strlen(); the second
 * writes, taking them back in the same order, so nothing is measured twice.
 *
 * Every function of this section is forced inline and takes the pass as `count`, a constant at
 * both roots (root_count, root_write): the compiler emits two straight-line copies with no
 * per-field mode tests, and the enc state, local to each root, lives in registers. This is
 * about twice as fast as one out-of-line set of bodies testing the mode at every field. */
#define ENC_FN static inline __attribute__((always_inline))

typedef struct enc {
    uint8_t *p;     /* writing: the next byte */
    size_t n;       /* counting: bytes so far */
    uint32_t *lens; /* pre-order lengths of submessages and strings */
    size_t next;    /* next slot of lens */
} enc;

static inline size_t varint_size(uint64_t v)
{
    /* 7 bits a byte: (bits + 6) / 7, with at least one byte for 0. */
    return (size_t)(64 - __builtin_clzll(v | 1) + 6) / 7;
}

/* A length kept in a slot. Longer than 4 GiB exceeds KL_MAX_RECORD, so the record is refused
 * after counting and the clamped value is never written. */
static inline uint32_t slot_len(size_t len)
{
    return (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len);
}

ENC_FN void e_varint(enc *e, uint64_t v, bool count)
{
    if (count) {
        e->n += varint_size(v);
        return;
    }
    uint8_t *p = e->p;
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    e->p = p;
}

ENC_FN void e_raw(enc *e, const void *data, size_t len, bool count)
{
    if (count) {
        e->n += len;
        return;
    }
    memcpy(e->p, data, len);
    e->p += len;
}

/* Field numbers are constants, so tags fold to one or two constant bytes. */
ENC_FN void e_tag(enc *e, uint32_t num, int wt, bool count)
{
    e_varint(e, (uint64_t)num << 3 | (uint64_t)wt, count);
}

/* proto3: scalar fields at their default value are left out. */
ENC_FN void e_uint(enc *e, uint32_t num, uint64_t v, bool count)
{
    if (v) {
        e_tag(e, num, WT_VARINT, count);
        e_varint(e, v, count);
    }
}

ENC_FN void e_int(enc *e, uint32_t num, int64_t v, bool count)
{
    e_uint(e, num, (uint64_t)v, count);
}

/* Left out when it compares equal to 0, -0.0 too, as protobuf-c does. */
ENC_FN void e_double(enc *e, uint32_t num, double v, bool count)
{
    if (v != 0.0) {
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        uint8_t le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (uint8_t)(bits >> (8 * i));
        e_tag(e, num, WT_I64, count);
        e_raw(e, le, 8, count);
    }
}

/* A length-delimited field, written even when empty. */
ENC_FN void e_len(enc *e, uint32_t num, const void *data, size_t len, bool count)
{
    e_tag(e, num, WT_LEN, count);
    e_varint(e, len, count);
    e_raw(e, data, len, count);
}

/* Sessions reach the encoder cold (built or read well before they are written), so encoding
 * waits on memory more than it computes: on the bench sessions, 4x slower cold than hot.
 * Asking for lines before they are used lets the loads overlap. The bound keeps a huge field
 * from flushing the cache: past it a copy streams and the hardware prefetcher keeps up. */
static inline void prefetch(const void *data, size_t len)
{
    len = len < 4096 ? len : 4096;
    for (size_t at = 0; at < len; at += 64)
        __builtin_prefetch((const char *)data + at);
}

ENC_FN void e_bytes(enc *e, uint32_t num, const void *data, size_t len, bool count)
{
    if (len) {
        if (count) /* counting reads only the length; the writing pass copies the bytes */
            prefetch(data, len);
        e_len(e, num, data, len, count);
    }
}

/* strlen(s) when counting, noted for the writing pass. */
ENC_FN size_t str_len(enc *e, const char *s, bool count)
{
    if (!count)
        return e->lens[e->next++];
    size_t len = strlen(s);
    e->lens[e->next++] = slot_len(len);
    return len;
}

ENC_FN void e_str(enc *e, uint32_t num, const char *s, bool count)
{
    if (s && *s)
        e_len(e, num, s, str_len(e, s, count), count);
}

/* A submessage: tag, length, body. Counting notes the body's length in a slot taken before
 * the body's own slots, which is where writing finds it. */
typedef struct mark {
    size_t slot;
    size_t start;
} mark;

ENC_FN mark msg_begin(enc *e, uint32_t num, bool count)
{
    e_tag(e, num, WT_LEN, count);
    mark m = {e->next++, e->n};
    if (!count)
        e_varint(e, e->lens[m.slot], count);
    return m;
}

ENC_FN void msg_end(enc *e, mark m, bool count)
{
    if (count) {
        size_t len = e->n - m.start;
        e->lens[m.slot] = slot_len(len);
        e->n += varint_size(len);
    }
}

/* Field num holding the submessage that the code after count encodes (variadic, so that code
 * may hold commas). */
#define E_MSG(e, num, count, ...)                                                                  \
    do {                                                                                           \
        mark m_ = msg_begin(e, num, count);                                                        \
        __VA_ARGS__;                                                                               \
        msg_end(e, m_, count);                                                                     \
    } while (0)

/* Slots an address may take: itself and its three strings. */
#define ADDR_SLOTS 4

ENC_FN void addr_body(enc *e, const kl_addr *a, bool count)
{
    if (a->family)
        e_len(e, 1, a->ip, a->family == AF_INET6 ? 16 : 4, count);
    e_uint(e, 2, a->port, count);
    e_str(e, 3, a->zone, count);
    e_str(e, 4, a->unix_path, count);
    e_str(e, 5, a->unix_net, count);
}

ENC_FN void e_addr(enc *e, uint32_t num, const kl_addr *a, bool count)
{
    if (a->family || a->port || a->zone[0] || a->unix_path[0] || a->unix_net[0])
        E_MSG(e, num, count, addr_body(e, a, count));
}

ENC_FN void e_kvs(enc *e, uint32_t num, const kl_kv *kv, size_t n, bool count)
{
    for (size_t i = 0; i < n; i++) {
        E_MSG(e, num, count, {
            e_bytes(e, 1, kv[i].key.data, kv[i].key.len, count);
            e_bytes(e, 2, kv[i].value.data, kv[i].value.len, count);
        });
    }
}

ENC_FN void call_outbound_body(enc *e, const kl_action *a, bool count)
{
    e_int(e, 1, a->socket_fd, count);
    e_addr(e, 2, &a->peer, count);
    e_addr(e, 3, &a->local, count);
    e_bytes(e, 4, a->request.data, a->request.len, count);
    e_bytes(e, 5, a->response.data, a->response.len, count);
    e_int(e, 6, a->response_time, count);
    e_bytes(e, 7, a->cspan_id.data, a->cspan_id.len, count);
}

ENC_FN void append_file_body(enc *e, const kl_action *a, bool count)
{
    e_str(e, 1, a->file_name, count);
    e_bytes(e, 2, a->content.data, a->content.len, count);
}

ENC_FN void send_udp_body(enc *e, const kl_action *a, bool count)
{
    e_addr(e, 1, &a->peer, count);
    e_bytes(e, 2, a->content.data, a->content.len, count);
}

ENC_FN void read_storage_body(enc *e, const kl_action *a, bool count)
{
    e_bytes(e, 1, a->content.data, a->content.len, count);
}

ENC_FN void call_function_body(enc *e, const kl_action *a, bool count)
{
    e_str(e, 1, a->func_name, count);
    e_str(e, 2, a->call_into_file, count);
    e_int(e, 3, a->call_into_line, count);
    e_str(e, 4, a->call_from_file, count);
    e_int(e, 5, a->call_from_line, count);
    e_str(e, 6, a->args_json, count);
}

ENC_FN void return_function_body(enc *e, const kl_action *a, bool count)
{
    e_str(e, 1, a->call_function_id, count);
    e_str(e, 2, a->return_value_json, count);
}

/* Slots an action may take: itself, its kind, and the most its kind needs (two addresses). */
#define ACTION_SLOTS (2 + 2 * ADDR_SLOTS)

ENC_FN void action_body(enc *e, const kl_action *a, bool count)
{
    e_int(e, 1, a->index, count);
    e_int(e, 2, a->occurred_at, count);
    switch (a->type) {
    case KL_ACTION_CALL_OUTBOUND: E_MSG(e, 10, count, call_outbound_body(e, a, count)); break;
    case KL_ACTION_APPEND_FILE: E_MSG(e, 11, count, append_file_body(e, a, count)); break;
    case KL_ACTION_SEND_UDP: E_MSG(e, 12, count, send_udp_body(e, a, count)); break;
    case KL_ACTION_READ_STORAGE: E_MSG(e, 13, count, read_storage_body(e, a, count)); break;
    case KL_ACTION_CALL_FUNCTION: E_MSG(e, 14, count, call_function_body(e, a, count)); break;
    case KL_ACTION_RETURN_FUNCTION: E_MSG(e, 15, count, return_function_body(e, a, count)); break;
    case KL_ACTION_RETURN_INBOUND: E_MSG(e, 16, count, (void)0); break;
    case KL_ACTION_NONE: break;
    }
}

ENC_FN void call_from_inbound_body(enc *e, const kl_call_from_inbound *c, bool count)
{
    e_int(e, 1, c->index, count);
    e_int(e, 2, c->occurred_at, count);
    e_addr(e, 3, &c->peer, count);
    e_bytes(e, 4, c->request.data, c->request.len, count);
}

ENC_FN void return_inbound_body(enc *e, const kl_return_inbound *r, bool count)
{
    e_int(e, 1, r->index, count);
    e_int(e, 2, r->occurred_at, count);
    e_bytes(e, 3, r->response.data, r->response.len, count);
}

/* Slots a session may take: five strings, the inbound call (itself and its peer), the inbound
 * return, its key/values and its actions. */
static size_t session_slots(const kl_session *s)
{
    return 5 + (1 + ADDR_SLOTS) + 1 + s->n_trace_header + s->n_labels + s->n_redirect_dirs +
           s->n_mock_files + ACTION_SLOTS * s->n_actions;
}

/* The parts of a session held apart from it, asked for before counting reaches them: its
 * actions (the first few kB: later ones arrive while earlier ones are counted), strings and
 * key/value arrays. Prefetching a null pointer is harmless. */
static inline void prefetch_session(const kl_session *s)
{
    prefetch(s->actions, s->n_actions * sizeof *s->actions);
    __builtin_prefetch(s->context);
    __builtin_prefetch(s->trace_header);
    __builtin_prefetch(s->next_session_id);
    __builtin_prefetch(s->host);
    __builtin_prefetch(s->program);
    __builtin_prefetch(s->labels);
}

ENC_FN void session_body(enc *e, const kl_session *s, bool count)
{
    if (count)
        prefetch_session(s);
    e_str(e, 1, s->id, count);
    e_int(e, 2, s->thread_id, count);
    e_str(e, 3, s->context, count);
    e_bytes(e, 4, s->trace_id.data, s->trace_id.len, count);
    e_bytes(e, 5, s->span_id.data, s->span_id.len, count);
    e_kvs(e, 6, s->trace_header, s->n_trace_header, count);
    e_str(e, 7, s->next_session_id, count);
    e_str(e, 8, s->host, count);
    e_int(e, 9, s->pid, count);
    e_str(e, 10, s->program, count);
    e_kvs(e, 11, s->labels, s->n_labels, count);
    if (s->call_from_inbound.present)
        E_MSG(e, 12, count, call_from_inbound_body(e, &s->call_from_inbound, count));
    if (s->return_inbound.present)
        E_MSG(e, 13, count, return_inbound_body(e, &s->return_inbound, count));
    for (size_t i = 0; i < s->n_actions; i++)
        E_MSG(e, 14, count, action_body(e, &s->actions[i], count));
    e_uint(e, 15, s->truncated, count);
    e_kvs(e, 16, s->redirect_dirs, s->n_redirect_dirs, count);
    e_kvs(e, 17, s->mock_files, s->n_mock_files, count);
}

ENC_FN void replayed_action_body(enc *e, const kl_replayed_action *a, bool count)
{
    E_MSG(e, 1, count, action_body(e, &a->action, count));
    e_int(e, 2, a->matched_index, count);
    e_double(e, 3, a->matched_score, count);
    e_int(e, 4, a->runner_up_index, count);
    e_double(e, 5, a->runner_up_score, count);
    e_bytes(e, 6, a->matched_request.data, a->matched_request.len, count);
    e_bytes(e, 7, a->matched_response.data, a->matched_response.len, count);
}

/* Slots a replayed session may take: its id, the unused calls, its errors, and per action
 * itself and its action. */
static size_t replayed_slots(const kl_replayed *r)
{
    return 1 + 1 + r->n_errors + (1 + ACTION_SLOTS) * r->n_actions;
}

ENC_FN void replayed_body(enc *e, const kl_replayed *r, bool count)
{
    e_str(e, 1, r->session_id, count);
    e_int(e, 2, r->original_request_time, count);
    e_bytes(e, 3, r->original_request.data, r->original_request.len, count);
    e_bytes(e, 4, r->original_response.data, r->original_response.len, count);
    e_bytes(e, 5, r->response.data, r->response.len, count);
    e_int(e, 6, r->replayed_at, count);
    e_int(e, 7, r->response_time, count);
    for (size_t i = 0; i < r->n_actions; i++)
        E_MSG(e, 8, count, replayed_action_body(e, &r->actions[i], count));
    if (r->n_unused_calls) { /* proto3 packs repeated scalars */
        E_MSG(e, 9, count, {
            for (size_t i = 0; i < r->n_unused_calls; i++)
                e_varint(e, (uint64_t)r->unused_calls[i], count);
        });
    }
    for (size_t i = 0; i < r->n_errors; i++) /* repeated strings are kept even when empty */
        e_len(e, 10, r->errors[i], str_len(e, r->errors[i], count), count);
}

/* The root message: a Session or a ReplayedSession. */
ENC_FN void root_body(enc *e, const kl_session *s, const kl_replayed *r, bool count)
{
    if (s)
        session_body(e, s, count);
    else
        replayed_body(e, r, count);
}

/* @return the root message's size, filling lens. */
static size_t root_count(const kl_session *s, const kl_replayed *r, uint32_t *lens)
{
    enc e = {NULL, 0, lens, 0};
    root_body(&e, s, r, true);
    return e.n;
}

/* @return the end of the root message written at p. */
static uint8_t *root_write(const kl_session *s, const kl_replayed *r, uint32_t *lens, uint8_t *p)
{
    enc e = {p, 0, lens, 0};
    root_body(&e, s, r, false);
    return e.p;
}

/* Append s or r to out: alone, or (record) as a file holds it, a varint length and a Record
 * whose one member it is. That member is only its tag and length ahead of the message, so a
 * file and the wire share every byte of it. max_slots bounds the lengths noted, so they fit
 * the stack for all but huge sessions. */
static int encode(const kl_session *s, const kl_replayed *r, size_t max_slots, bool record,
                  kl_buf *out)
{
    uint32_t stack[512];
    uint32_t *lens = max_slots <= 512 ? stack : malloc(max_slots * sizeof *lens);
    if (!lens)
        return KL_ERR_NOMEM;
    size_t n = root_count(s, r, lens);
    size_t size = n;
    uint8_t head[10 + 1 + 10];
    enc h = {head, 0, NULL, 0};
    if (record) {
        size = 1 + varint_size(n) + n; /* the member's tag, one byte for fields 1 and 2 */
        e_varint(&h, size, false);
        e_tag(&h, s ? 1 : 2, WT_LEN, false);
        e_varint(&h, n, false);
    }
    size_t hn = (size_t)(h.p - head);
    int err = KL_OK;
    if (size > KL_MAX_RECORD)
        err = KL_ERR_TOOBIG;
    else if (kl_buf_reserve(out, hn + n) != KL_OK)
        err = KL_ERR_NOMEM;
    if (!err) {
        uint8_t *p = (uint8_t *)out->data + out->len;
        memcpy(p, head, hn);
        p = root_write(s, r, lens, p + hn);
        out->len = (size_t)(p - (uint8_t *)out->data);
    }
    if (lens != stack)
        free(lens);
    return err;
}

int kli_encode_session(const kl_session *s, kl_buf *out)
{
    return encode(s, NULL, session_slots(s), true, out);
}

int kli_encode_replayed(const kl_replayed *r, kl_buf *out)
{
    return encode(NULL, r, replayed_slots(r), true, out);
}

int kl_session_encode(const kl_session *s, kl_buf *out)
{
    return encode(s, NULL, session_slots(s), false, out);
}

int kl_replayed_encode(const kl_replayed *r, kl_buf *out)
{
    return encode(NULL, r, replayed_slots(r), false, out);
}

/* ------------------------------------------------------------------ decode */

/* One protobuf field at p: its number, wire type, and for LEN fields the payload. */
typedef struct field {
    uint32_t num;
    int wire;
    uint64_t value;
    const uint8_t *data;
    size_t len;
} field;

static int next_field(const uint8_t *p, size_t len, field *f);

typedef struct dec {
    kli_mem *m;
    char *errbuf;
    int err;
} dec;

static bool bad(dec *d, const char *what, uint32_t num)
{
    if (!d->err) {
        d->err = KL_ERR_CORRUPT;
        kli_seterr(d->errbuf, "%s (field %u)", what, num);
    }
    return false;
}

/* Walk the fields of msg, calling fn for each; stops at the first failure. */
typedef bool (*field_fn)(dec *d, const field *f, void *out);

static bool walk(dec *d, const uint8_t *p, size_t len, field_fn fn, void *out)
{
    field f;
    for (size_t at = 0; at < len;) {
        int n = next_field(p + at, len - at, &f);
        if (n < 0)
            return bad(d, "malformed field", 0);
        at += (size_t)n;
        if (!fn(d, &f, out))
            return false;
    }
    return true;
}

static bool want(dec *d, const field *f, int wire)
{
    return f->wire == wire || bad(d, "unexpected wire type", f->num);
}

static bool d_bytes(dec *d, const field *f, kl_bytes *b)
{
    if (!want(d, f, WT_LEN))
        return false;
    *b = (kl_bytes){f->len ? f->data : NULL, f->len};
    return true;
}

static bool d_str(dec *d, const field *f, const char **s)
{
    if (!want(d, f, WT_LEN))
        return false;
    if (!f->len) {
        *s = NULL;
        return true;
    }
    if (!(*s = kli_strndup(d->m, f->data, f->len)))
        d->err = KL_ERR_NOMEM;
    return *s != NULL;
}

static bool d_int(dec *d, const field *f, int64_t *v)
{
    if (!want(d, f, WT_VARINT))
        return false;
    *v = (int64_t)f->value;
    return true;
}

static bool d_double(dec *d, const field *f, double *v)
{
    if (!want(d, f, WT_I64))
        return false;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits |= (uint64_t)f->data[i] << (8 * i);
    memcpy(v, &bits, sizeof *v);
    return true;
}

/* A string into a fixed array of an address. */
static bool d_fixed(dec *d, const field *f, char *dst, size_t cap, const char *what)
{
    if (!want(d, f, WT_LEN))
        return false;
    if (f->len >= cap) {
        d->err = KL_ERR_CORRUPT;
        kli_seterr(d->errbuf, "%s of %zu bytes exceeds limit %zu", what, f->len, cap - 1);
        return false;
    }
    memcpy(dst, f->data, f->len);
    dst[f->len] = '\0';
    return true;
}

static bool addr_field(dec *d, const field *f, void *out)
{
    kl_addr *a = out;
    switch (f->num) {
    case 1:
        if (!want(d, f, WT_LEN))
            return false;
        if (f->len != 4 && f->len != 16 && f->len != 0) {
            d->err = KL_ERR_CORRUPT;
            kli_seterr(d->errbuf, "address of %zu bytes (expected 4 or 16)", f->len);
            return false;
        }
        a->family = f->len == 4 ? AF_INET : f->len == 16 ? AF_INET6 : 0;
        memcpy(a->ip, f->data, f->len);
        return true;
    case 2:
        if (!want(d, f, WT_VARINT))
            return false;
        if (f->value > 65535) {
            d->err = KL_ERR_CORRUPT;
            kli_seterr(d->errbuf, "port %llu out of range", (unsigned long long)f->value);
            return false;
        }
        a->port = (uint16_t)f->value;
        return true;
    case 3: return d_fixed(d, f, a->zone, sizeof a->zone, "IPv6 zone");
    case 4: return d_fixed(d, f, a->unix_path, sizeof a->unix_path, "unix path");
    case 5: return d_fixed(d, f, a->unix_net, sizeof a->unix_net, "unix network");
    default: return true;
    }
}

static bool d_addr(dec *d, const field *f, kl_addr *a)
{
    memset(a, 0, sizeof *a);
    return want(d, f, WT_LEN) && walk(d, f->data, f->len, addr_field, a);
}

static bool kv_field(dec *d, const field *f, void *out)
{
    kl_kv *kv = out;
    switch (f->num) {
    case 1: return d_bytes(d, f, &kv->key);
    case 2: return d_bytes(d, f, &kv->value);
    default: return true;
    }
}

static bool call_outbound_field(dec *d, const field *f, void *out)
{
    kl_action *a = out;
    switch (f->num) {
    case 1: return d_int(d, f, &a->socket_fd);
    case 2: return d_addr(d, f, &a->peer);
    case 3: return d_addr(d, f, &a->local);
    case 4: return d_bytes(d, f, &a->request);
    case 5: return d_bytes(d, f, &a->response);
    case 6: return d_int(d, f, &a->response_time);
    case 7: return d_bytes(d, f, &a->cspan_id);
    default: return true;
    }
}

static bool append_file_field(dec *d, const field *f, void *out)
{
    kl_action *a = out;
    switch (f->num) {
    case 1: return d_str(d, f, &a->file_name);
    case 2: return d_bytes(d, f, &a->content);
    default: return true;
    }
}

static bool send_udp_field(dec *d, const field *f, void *out)
{
    kl_action *a = out;
    switch (f->num) {
    case 1: return d_addr(d, f, &a->peer);
    case 2: return d_bytes(d, f, &a->content);
    default: return true;
    }
}

static bool read_storage_field(dec *d, const field *f, void *out)
{
    kl_action *a = out;
    return f->num != 1 || d_bytes(d, f, &a->content);
}

static bool call_function_field(dec *d, const field *f, void *out)
{
    kl_action *a = out;
    switch (f->num) {
    case 1: return d_str(d, f, &a->func_name);
    case 2: return d_str(d, f, &a->call_into_file);
    case 3: return d_int(d, f, &a->call_into_line);
    case 4: return d_str(d, f, &a->call_from_file);
    case 5: return d_int(d, f, &a->call_from_line);
    case 6: return d_str(d, f, &a->args_json);
    default: return true;
    }
}

static bool return_function_field(dec *d, const field *f, void *out)
{
    kl_action *a = out;
    switch (f->num) {
    case 1: return d_str(d, f, &a->call_function_id);
    case 2: return d_str(d, f, &a->return_value_json);
    default: return true;
    }
}

static bool ignore_field(dec *d, const field *f, void *out)
{
    (void)d;
    (void)f;
    (void)out;
    return true;
}

/* The oneof member of an action: its type and the walker of its body. */
static bool action_kind(dec *d, const field *f, kl_action *a, kl_action_type type, field_fn fn)
{
    /* A later member of the oneof replaces an earlier one, as protobuf specifies. */
    kl_addr keep_none = {0};
    a->type = type;
    a->peer = a->local = keep_none;
    return want(d, f, WT_LEN) && walk(d, f->data, f->len, fn, a);
}

static bool action_field(dec *d, const field *f, void *out)
{
    kl_action *a = out;
    switch (f->num) {
    case 1: return d_int(d, f, &a->index);
    case 2: return d_int(d, f, &a->occurred_at);
    case 10: return action_kind(d, f, a, KL_ACTION_CALL_OUTBOUND, call_outbound_field);
    case 11: return action_kind(d, f, a, KL_ACTION_APPEND_FILE, append_file_field);
    case 12: return action_kind(d, f, a, KL_ACTION_SEND_UDP, send_udp_field);
    case 13: return action_kind(d, f, a, KL_ACTION_READ_STORAGE, read_storage_field);
    case 14: return action_kind(d, f, a, KL_ACTION_CALL_FUNCTION, call_function_field);
    case 15: return action_kind(d, f, a, KL_ACTION_RETURN_FUNCTION, return_function_field);
    case 16: return action_kind(d, f, a, KL_ACTION_RETURN_INBOUND, ignore_field);
    default: return true; /* an action kind from a newer writer keeps its place as NONE */
    }
}

static bool call_from_inbound_field(dec *d, const field *f, void *out)
{
    kl_call_from_inbound *c = out;
    switch (f->num) {
    case 1: return d_int(d, f, &c->index);
    case 2: return d_int(d, f, &c->occurred_at);
    case 3: return d_addr(d, f, &c->peer);
    case 4: return d_bytes(d, f, &c->request);
    default: return true;
    }
}

static bool return_inbound_field(dec *d, const field *f, void *out)
{
    kl_return_inbound *r = out;
    switch (f->num) {
    case 1: return d_int(d, f, &r->index);
    case 2: return d_int(d, f, &r->occurred_at);
    case 3: return d_bytes(d, f, &r->response);
    default: return true;
    }
}

/* Repeated message fields of a session, counted before decoding so arrays are sized once. */
typedef struct session_counts {
    size_t n[18];
} session_counts;

static bool count_field(dec *d, const field *f, void *out)
{
    session_counts *c = out;
    (void)d;
    if (f->num < 18)
        c->n[f->num]++;
    return true;
}

/* Append one element to a counted array (cap elements were allocated). */
static void *slot(dec *d, const void *arr, size_t *n, size_t cap, size_t sz, uint32_t num)
{
    if (*n >= cap) {
        bad(d, "more elements than counted", num);
        return NULL;
    }
    return (char *)arr + sz * (*n)++;
}

typedef struct session_dec {
    kl_session *s;
    session_counts cap;
} session_dec;

static bool d_kv(dec *d, const field *f, const kl_kv *arr, size_t *n, size_t cap)
{
    kl_kv *kv = slot(d, arr, n, cap, sizeof *kv, f->num);
    if (!kv)
        return false;
    memset(kv, 0, sizeof *kv);
    return want(d, f, WT_LEN) && walk(d, f->data, f->len, kv_field, kv);
}

static bool session_field(dec *d, const field *f, void *out)
{
    session_dec *sd = out;
    kl_session *s = sd->s;
    switch (f->num) {
    case 1: return d_str(d, f, &s->id);
    case 2: return d_int(d, f, &s->thread_id);
    case 3: return d_str(d, f, &s->context);
    case 4: return d_bytes(d, f, &s->trace_id);
    case 5: return d_bytes(d, f, &s->span_id);
    case 6: return d_kv(d, f, s->trace_header, &s->n_trace_header, sd->cap.n[6]);
    case 7: return d_str(d, f, &s->next_session_id);
    case 8: return d_str(d, f, &s->host);
    case 9: return d_int(d, f, &s->pid);
    case 10: return d_str(d, f, &s->program);
    case 11: return d_kv(d, f, s->labels, &s->n_labels, sd->cap.n[11]);
    case 12:
        memset(&s->call_from_inbound, 0, sizeof s->call_from_inbound);
        s->call_from_inbound.present = true;
        return want(d, f, WT_LEN) && walk(d, f->data, f->len, call_from_inbound_field, &s->call_from_inbound);
    case 13:
        memset(&s->return_inbound, 0, sizeof s->return_inbound);
        s->return_inbound.present = true;
        return want(d, f, WT_LEN) && walk(d, f->data, f->len, return_inbound_field, &s->return_inbound);
    case 14: {
        kl_action *a = slot(d, s->actions, &s->n_actions, sd->cap.n[14], sizeof *a, 14);
        if (!a)
            return false;
        memset(a, 0, sizeof *a);
        return want(d, f, WT_LEN) && walk(d, f->data, f->len, action_field, a);
    }
    case 15: {
        int64_t v;
        if (!d_int(d, f, &v))
            return false;
        s->truncated = v != 0;
        return true;
    }
    case 16: return d_kv(d, f, s->redirect_dirs, &s->n_redirect_dirs, sd->cap.n[16]);
    case 17: return d_kv(d, f, s->mock_files, &s->n_mock_files, sd->cap.n[17]);
    default: return true;
    }
}

/* Allocate n elements of sz bytes, or NULL for none; false when out of memory. The room is
 * kli_cap(n), so that an owning decoded session takes more (kl_session_add_action). */
static bool alloc_array(dec *d, const void **arr, size_t n, size_t sz)
{
    *arr = NULL;
    if (!n)
        return true;
    n = kli_cap(n);
    if (n > SIZE_MAX / sz || !(*arr = kli_alloc(d->m, n * sz))) {
        d->err = KL_ERR_NOMEM;
        return false;
    }
    return true;
}

static bool decode_session(dec *d, const uint8_t *p, size_t len, const kl_session **out)
{
    session_dec sd = {kli_zalloc(d->m, sizeof(kl_session)), {{0}}};
    if (!sd.s) {
        d->err = KL_ERR_NOMEM;
        return false;
    }
    kl_session *s = sd.s;
    if (!walk(d, p, len, count_field, &sd.cap) ||
        !alloc_array(d, (const void **)&s->trace_header, sd.cap.n[6], sizeof(kl_kv)) ||
        !alloc_array(d, (const void **)&s->labels, sd.cap.n[11], sizeof(kl_kv)) ||
        !alloc_array(d, (const void **)&s->actions, sd.cap.n[14], sizeof(kl_action)) ||
        !alloc_array(d, (const void **)&s->redirect_dirs, sd.cap.n[16], sizeof(kl_kv)) ||
        !alloc_array(d, (const void **)&s->mock_files, sd.cap.n[17], sizeof(kl_kv)) ||
        !walk(d, p, len, session_field, &sd))
        return false;
    *out = s;
    return true;
}

static bool replayed_action_field(dec *d, const field *f, void *out)
{
    kl_replayed_action *a = out;
    switch (f->num) {
    case 1:
        memset(&a->action, 0, sizeof a->action);
        return want(d, f, WT_LEN) && walk(d, f->data, f->len, action_field, &a->action);
    case 2: return d_int(d, f, &a->matched_index);
    case 3: return d_double(d, f, &a->matched_score);
    case 4: return d_int(d, f, &a->runner_up_index);
    case 5: return d_double(d, f, &a->runner_up_score);
    case 6: return d_bytes(d, f, &a->matched_request);
    case 7: return d_bytes(d, f, &a->matched_response);
    default: return true;
    }
}

typedef struct replayed_dec {
    kl_replayed *r;
    size_t cap_actions, cap_unused, cap_errors;
} replayed_dec;

/* Counts of repeated fields; unused calls may come packed (many per field) or not. */
static bool count_replayed_field(dec *d, const field *f, void *out)
{
    replayed_dec *rd = out;
    if (f->num == 8)
        rd->cap_actions++;
    else if (f->num == 10)
        rd->cap_errors++;
    else if (f->num == 9 && f->wire == WT_VARINT)
        rd->cap_unused++;
    else if (f->num == 9 && f->wire == WT_LEN)
        for (size_t i = 0; i < f->len; i++)
            rd->cap_unused += !(f->data[i] & 0x80);
    (void)d;
    return true;
}

static bool d_unused(dec *d, const field *f, replayed_dec *rd)
{
    kl_replayed *r = rd->r;
    if (f->wire == WT_VARINT) {
        int64_t *v = slot(d, r->unused_calls, &r->n_unused_calls, rd->cap_unused, sizeof *v, 9);
        return v && (*v = (int64_t)f->value, true);
    }
    if (!want(d, f, WT_LEN))
        return false;
    for (size_t at = 0; at < f->len;) {
        uint64_t x;
        int n = kli_varint_get(f->data + at, f->len - at, &x);
        if (n <= 0)
            return bad(d, "malformed packed varint", 9);
        int64_t *v = slot(d, r->unused_calls, &r->n_unused_calls, rd->cap_unused, sizeof *v, 9);
        if (!v)
            return false;
        *v = (int64_t)x;
        at += (size_t)n;
    }
    return true;
}

static bool replayed_field(dec *d, const field *f, void *out)
{
    replayed_dec *rd = out;
    kl_replayed *r = rd->r;
    switch (f->num) {
    case 1: return d_str(d, f, &r->session_id);
    case 2: return d_int(d, f, &r->original_request_time);
    case 3: return d_bytes(d, f, &r->original_request);
    case 4: return d_bytes(d, f, &r->original_response);
    case 5: return d_bytes(d, f, &r->response);
    case 6: return d_int(d, f, &r->replayed_at);
    case 7: return d_int(d, f, &r->response_time);
    case 8: {
        kl_replayed_action *a = slot(d, r->actions, &r->n_actions, rd->cap_actions, sizeof *a, 8);
        if (!a)
            return false;
        memset(a, 0, sizeof *a);
        return want(d, f, WT_LEN) && walk(d, f->data, f->len, replayed_action_field, a);
    }
    case 9: return d_unused(d, f, rd);
    case 10: {
        const char **e = slot(d, r->errors, &r->n_errors, rd->cap_errors, sizeof *e, 10);
        if (!e || !d_str(d, f, e))
            return false;
        if (!*e)
            *e = "";
        return true;
    }
    default: return true;
    }
}

static bool decode_replayed(dec *d, const uint8_t *p, size_t len, const kl_replayed **out)
{
    replayed_dec rd = {kli_zalloc(d->m, sizeof(kl_replayed)), 0, 0, 0};
    if (!rd.r) {
        d->err = KL_ERR_NOMEM;
        return false;
    }
    kl_replayed *r = rd.r;
    if (!walk(d, p, len, count_replayed_field, &rd) ||
        !alloc_array(d, (const void **)&r->actions, rd.cap_actions, sizeof(kl_replayed_action)) ||
        !alloc_array(d, (const void **)&r->unused_calls, rd.cap_unused, sizeof(int64_t)) ||
        !alloc_array(d, (const void **)&r->errors, rd.cap_errors, sizeof(char *)) ||
        !walk(d, p, len, replayed_field, &rd))
        return false;
    *out = r;
    return true;
}

int kli_decode_record(const uint8_t *data, size_t len, kli_mem *m, const kl_session **s,
                      const kl_replayed **r, char *errbuf)
{
    *s = NULL;
    *r = NULL;
    dec d = {m, errbuf, KL_OK};
    field f;
    const uint8_t *body = NULL;
    size_t blen = 0;
    uint32_t kind = 0;
    for (size_t at = 0; at < len;) {
        int n = next_field(data + at, len - at, &f);
        if (n < 0) {
            kli_seterr(errbuf, "record of %zu bytes does not decode: malformed field", len);
            return KL_ERR_CORRUPT;
        }
        at += (size_t)n;
        if ((f.num == 1 || f.num == 2) && f.wire == WT_LEN) {
            kind = f.num;
            body = f.data;
            blen = f.len;
        }
    }
    if (!kind) {
        kli_seterr(errbuf, "record of %zu bytes holds neither a session nor a replayed session", len);
        return KL_ERR_CORRUPT;
    }
    bool ok = kind == 1 ? decode_session(&d, body, blen, s) : decode_replayed(&d, body, blen, r);
    if (!ok) {
        *s = NULL;
        *r = NULL;
    }
    return ok ? KL_OK : d.err;
}

/* The start kl_session_decode and kl_replayed_decode share: len checked against the limit,
 * then data copied into m, the arena of the owning result, for its bytes fields to point into.
 * @return the copy, or NULL with d->err set. */
static const uint8_t *owned_copy(dec *d, const uint8_t *data, size_t len)
{
    if (len > KL_MAX_RECORD) {
        d->err = KL_ERR_TOOBIG;
        kli_seterr(d->errbuf, "message of %zu bytes exceeds limit %u", len, KL_MAX_RECORD);
        return NULL;
    }
    const uint8_t *p = kli_memdup(d->m, data, len);
    if (!p)
        d->err = KL_ERR_NOMEM;
    return p;
}

int kl_session_decode(const uint8_t *data, size_t len, kl_session **out, char *errbuf)
{
    *out = NULL;
    kl_session *s = kl_session_new();
    if (!s)
        return KL_ERR_NOMEM;
    dec d = {s->mem, errbuf, KL_OK};
    const uint8_t *p = owned_copy(&d, data, len);
    const kl_session *got;
    if (!p || !decode_session(&d, p, len, &got)) {
        kl_session_free(s);
        return d.err;
    }
    *s = *got; /* the decoded struct is the arena's, the arena s's */
    s->mem = d.m;
    *out = s;
    return KL_OK;
}

int kl_replayed_decode(const uint8_t *data, size_t len, kl_replayed **out, char *errbuf)
{
    *out = NULL;
    kl_replayed *r = kl_replayed_new();
    if (!r)
        return KL_ERR_NOMEM;
    dec d = {r->mem, errbuf, KL_OK};
    const uint8_t *p = owned_copy(&d, data, len);
    const kl_replayed *got;
    if (!p || !decode_replayed(&d, p, len, &got)) {
        kl_replayed_free(r);
        return d.err;
    }
    *r = *got;
    r->mem = d.m;
    *out = r;
    return KL_OK;
}

/* ------------------------------------------------------------------ scan */

int kli_varint_get(const uint8_t *p, size_t len, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < 10; i++) {
        if (i >= len)
            return 0;
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (i == 9 && p[i] > 1)
                return -1;
            *v = x;
            return (int)i + 1;
        }
    }
    return -1;
}

int kli_varint_put(uint8_t *p, uint64_t v)
{
    int n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}


/* @return bytes used, or -1 when malformed. */
static int next_field(const uint8_t *p, size_t len, field *f)
{
    uint64_t key;
    int n = kli_varint_get(p, len, &key);
    if (n <= 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -1;
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    size_t at = (size_t)n;
    switch (f->wire) {
    case 0:
        n = kli_varint_get(p + at, len - at, &f->value);
        return n <= 0 ? -1 : (int)(at + (size_t)n);
    case 1:
        f->data = p + at;
        return len - at < 8 ? -1 : (int)(at + 8);
    case 5:
        f->data = p + at;
        return len - at < 4 ? -1 : (int)(at + 4);
    case 2:
        n = kli_varint_get(p + at, len - at, &f->value);
        if (n <= 0 || f->value > len - at - (size_t)n)
            return -1;
        f->data = p + at + n;
        f->len = (size_t)f->value;
        return (int)(at + (size_t)n + f->len);
    default:
        return -1;
    }
}

int kli_scan_record(const uint8_t *data, size_t len, kl_kind *kind, int64_t *time, char *idbuf,
                    size_t idlen)
{
    *kind = KL_KIND_UNKNOWN;
    *time = 0;
    idbuf[0] = '\0';
    const uint8_t *body = NULL;
    size_t blen = 0;
    field f;
    for (size_t at = 0; at < len;) {
        int n = next_field(data + at, len - at, &f);
        if (n < 0)
            return KL_ERR_CORRUPT;
        if (f.wire == 2 && (f.num == 1 || f.num == 2)) {
            *kind = f.num == 1 ? KL_KIND_RECORDED : KL_KIND_REPLAYED;
            body = f.data;
            blen = f.len;
        }
        at += (size_t)n;
    }
    if (!body)
        return KL_ERR_CORRUPT;
    const char *id = "";
    size_t idl = 0;
    for (size_t at = 0; at < blen;) {
        int n = next_field(body + at, blen - at, &f);
        if (n < 0)
            return KL_ERR_CORRUPT;
        at += (size_t)n;
        if (f.num == 1 && f.wire == 2) {
            id = (const char *)f.data;
            idl = f.len;
            size_t keep = f.len < idlen - 1 ? f.len : idlen - 1;
            memcpy(idbuf, f.data, keep);
            idbuf[keep] = '\0';
        } else if (*kind == KL_KIND_REPLAYED && f.num == 2 && f.wire == 0) {
            *time = (int64_t)f.value;
        } else if (*kind == KL_KIND_RECORDED && f.num == 12 && f.wire == 2) {
            field g;
            for (size_t j = 0; j < f.len;) {
                int m = next_field(f.data + j, f.len - j, &g);
                if (m < 0)
                    return KL_ERR_CORRUPT;
                if (g.num == 2 && g.wire == 0)
                    *time = (int64_t)g.value;
                j += (size_t)m;
            }
        }
    }
    if (!*time)
        *time = kli_time_from_id(id, idl);
    return KL_OK;
}
