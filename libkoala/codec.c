/* codec.c - kl_session and kl_replayed to and from koala.Record protobuf bytes. */
#include "kl_internal.h"
#include "koala.pb-c.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ encode */

static char *str_in(const char *s)
{
    return (char *)(s ? s : "");
}

static ProtobufCBinaryData bin_in(kl_bytes b)
{
    return (ProtobufCBinaryData){b.len, (uint8_t *)b.data};
}

static Koala__Addr *addr_in(kli_mem *m, const kl_addr *a)
{
    if (kl_addr_is_empty(a) && !a->unix_net[0])
        return NULL;
    Koala__Addr *p = kli_alloc(m, sizeof *p);
    if (!p)
        return NULL;
    koala__addr__init(p);
    if (a->family)
        p->ip = (ProtobufCBinaryData){a->family == AF_INET6 ? 16 : 4, (uint8_t *)a->ip};
    p->port = a->port;
    p->zone = (char *)a->zone;
    p->unix_path = (char *)a->unix_path;
    p->unix_net = (char *)a->unix_net;
    return p;
}

/* Sets *ok to false when an allocation failed. */
static Koala__KeyValue **kvs_in(kli_mem *m, const kl_kv *kv, size_t n, bool *ok)
{
    if (!n)
        return NULL;
    Koala__KeyValue **arr = kli_alloc(m, n * sizeof *arr);
    Koala__KeyValue *items = kli_alloc(m, n * sizeof *items);
    if (!arr || !items) {
        *ok = false;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        koala__key_value__init(&items[i]);
        items[i].key = bin_in(kv[i].key);
        items[i].value = bin_in(kv[i].value);
        arr[i] = &items[i];
    }
    return arr;
}

/* The oneof body of an action; allocation failure leaves the action empty and clears *ok. */
static void action_in(kli_mem *m, Koala__Action *p, const kl_action *a, bool *ok)
{
    koala__action__init(p);
    p->index = a->index;
    p->occurred_at = a->occurred_at;
    switch (a->type) {
    case KL_ACTION_CALL_OUTBOUND: {
        Koala__CallOutbound *c = kli_alloc(m, sizeof *c);
        if (!c)
            break;
        koala__call_outbound__init(c);
        c->socket_fd = a->socket_fd;
        c->peer = addr_in(m, &a->peer);
        c->local = addr_in(m, &a->local);
        c->request = bin_in(a->request);
        c->response = bin_in(a->response);
        c->response_time = a->response_time;
        c->cspan_id = bin_in(a->cspan_id);
        p->kind_case = KOALA__ACTION__KIND_CALL_OUTBOUND;
        p->call_outbound = c;
        return;
    }
    case KL_ACTION_APPEND_FILE: {
        Koala__AppendFile *f = kli_alloc(m, sizeof *f);
        if (!f)
            break;
        koala__append_file__init(f);
        f->file_name = str_in(a->file_name);
        f->content = bin_in(a->content);
        p->kind_case = KOALA__ACTION__KIND_APPEND_FILE;
        p->append_file = f;
        return;
    }
    case KL_ACTION_SEND_UDP: {
        Koala__SendUdp *u = kli_alloc(m, sizeof *u);
        if (!u)
            break;
        koala__send_udp__init(u);
        u->peer = addr_in(m, &a->peer);
        u->content = bin_in(a->content);
        p->kind_case = KOALA__ACTION__KIND_SEND_UDP;
        p->send_udp = u;
        return;
    }
    case KL_ACTION_READ_STORAGE: {
        Koala__ReadStorage *r = kli_alloc(m, sizeof *r);
        if (!r)
            break;
        koala__read_storage__init(r);
        r->content = bin_in(a->content);
        p->kind_case = KOALA__ACTION__KIND_READ_STORAGE;
        p->read_storage = r;
        return;
    }
    case KL_ACTION_CALL_FUNCTION: {
        Koala__CallFunction *f = kli_alloc(m, sizeof *f);
        if (!f)
            break;
        koala__call_function__init(f);
        f->func_name = str_in(a->func_name);
        f->call_into_file = str_in(a->call_into_file);
        f->call_into_line = a->call_into_line;
        f->call_from_file = str_in(a->call_from_file);
        f->call_from_line = a->call_from_line;
        f->args_json = str_in(a->args_json);
        p->kind_case = KOALA__ACTION__KIND_CALL_FUNCTION;
        p->call_function = f;
        return;
    }
    case KL_ACTION_RETURN_FUNCTION: {
        Koala__ReturnFunction *f = kli_alloc(m, sizeof *f);
        if (!f)
            break;
        koala__return_function__init(f);
        f->call_function_id = str_in(a->call_function_id);
        f->return_value_json = str_in(a->return_value_json);
        p->kind_case = KOALA__ACTION__KIND_RETURN_FUNCTION;
        p->return_function = f;
        return;
    }
    case KL_ACTION_RETURN_INBOUND: {
        Koala__ReturnInboundMark *r = kli_alloc(m, sizeof *r);
        if (!r)
            break;
        koala__return_inbound_mark__init(r);
        p->kind_case = KOALA__ACTION__KIND_RETURN_INBOUND;
        p->return_inbound = r;
        return;
    }
    case KL_ACTION_NONE:
        return;
    }
    *ok = false;
}

/* Append the varint length and the packed record to out. */
static int pack_record(const Koala__Record *rec, kl_buf *out)
{
    size_t n = koala__record__get_packed_size(rec);
    if (n > KL_MAX_RECORD)
        return KL_ERR_TOOBIG;
    uint8_t pre[10];
    int pl = kli_varint_put(pre, n);
    if (kl_buf_append(out, pre, (size_t)pl) != KL_OK)
        return KL_ERR_NOMEM;
    if (kli_buf_reserve(out, n) != KL_OK)
        return KL_ERR_NOMEM;
    size_t at = out->len;
    koala__record__pack(rec, (uint8_t *)out->data + at);
    out->len = at + n;
    return KL_OK;
}

int kli_encode_session(const kl_session *s, kli_mem *m, kl_buf *out)
{
    bool ok = true;
    Koala__Session ps;
    koala__session__init(&ps);
    ps.id = str_in(s->id);
    ps.thread_id = s->thread_id;
    ps.context = str_in(s->context);
    ps.trace_id = bin_in(s->trace_id);
    ps.span_id = bin_in(s->span_id);
    ps.trace_header = kvs_in(m, s->trace_header, s->n_trace_header, &ok);
    ps.n_trace_header = s->n_trace_header;
    ps.next_session_id = str_in(s->next_session_id);
    ps.host = str_in(s->host);
    ps.pid = s->pid;
    ps.program = str_in(s->program);
    ps.labels = kvs_in(m, s->labels, s->n_labels, &ok);
    ps.n_labels = s->n_labels;
    ps.redirect_dirs = kvs_in(m, s->redirect_dirs, s->n_redirect_dirs, &ok);
    ps.n_redirect_dirs = s->n_redirect_dirs;
    ps.mock_files = kvs_in(m, s->mock_files, s->n_mock_files, &ok);
    ps.n_mock_files = s->n_mock_files;
    ps.truncated = s->truncated;

    Koala__CallFromInbound cfi;
    if (s->call_from_inbound.present) {
        koala__call_from_inbound__init(&cfi);
        cfi.index = s->call_from_inbound.index;
        cfi.occurred_at = s->call_from_inbound.occurred_at;
        cfi.peer = addr_in(m, &s->call_from_inbound.peer);
        cfi.request = bin_in(s->call_from_inbound.request);
        ps.call_from_inbound = &cfi;
    }
    Koala__ReturnInbound ri;
    if (s->return_inbound.present) {
        koala__return_inbound__init(&ri);
        ri.index = s->return_inbound.index;
        ri.occurred_at = s->return_inbound.occurred_at;
        ri.response = bin_in(s->return_inbound.response);
        ps.return_inbound = &ri;
    }
    if (s->n_actions) {
        Koala__Action **arr = kli_alloc(m, s->n_actions * sizeof *arr);
        Koala__Action *acts = kli_alloc(m, s->n_actions * sizeof *acts);
        if (!arr || !acts)
            return KL_ERR_NOMEM;
        for (size_t i = 0; i < s->n_actions; i++) {
            action_in(m, &acts[i], &s->actions[i], &ok);
            arr[i] = &acts[i];
        }
        ps.actions = arr;
        ps.n_actions = s->n_actions;
    }
    if (!ok)
        return KL_ERR_NOMEM;
    Koala__Record rec;
    koala__record__init(&rec);
    rec.kind_case = KOALA__RECORD__KIND_SESSION;
    rec.session = &ps;
    return pack_record(&rec, out);
}

int kli_encode_replayed(const kl_replayed *r, kli_mem *m, kl_buf *out)
{
    bool ok = true;
    Koala__ReplayedSession pr;
    koala__replayed_session__init(&pr);
    pr.session_id = str_in(r->session_id);
    pr.original_request_time = r->original_request_time;
    pr.original_request = bin_in(r->original_request);
    pr.original_response = bin_in(r->original_response);
    pr.response = bin_in(r->response);
    pr.replayed_at = r->replayed_at;
    pr.response_time = r->response_time;
    pr.unused_calls = (int64_t *)r->unused_calls;
    pr.n_unused_calls = r->n_unused_calls;
    pr.errors = (char **)r->errors;
    pr.n_errors = r->n_errors;
    if (r->n_actions) {
        Koala__ReplayedAction **arr = kli_alloc(m, r->n_actions * sizeof *arr);
        Koala__ReplayedAction *ras = kli_alloc(m, r->n_actions * sizeof *ras);
        Koala__Action *acts = kli_alloc(m, r->n_actions * sizeof *acts);
        if (!arr || !ras || !acts)
            return KL_ERR_NOMEM;
        for (size_t i = 0; i < r->n_actions; i++) {
            const kl_replayed_action *a = &r->actions[i];
            koala__replayed_action__init(&ras[i]);
            action_in(m, &acts[i], &a->action, &ok);
            ras[i].action = &acts[i];
            ras[i].matched_index = a->matched_index;
            ras[i].matched_score = a->matched_score;
            ras[i].runner_up_index = a->runner_up_index;
            ras[i].runner_up_score = a->runner_up_score;
            ras[i].matched_request = bin_in(a->matched_request);
            ras[i].matched_response = bin_in(a->matched_response);
            arr[i] = &ras[i];
        }
        pr.actions = arr;
        pr.n_actions = r->n_actions;
    }
    if (!ok)
        return KL_ERR_NOMEM;
    Koala__Record rec;
    koala__record__init(&rec);
    rec.kind_case = KOALA__RECORD__KIND_REPLAYED;
    rec.replayed = &pr;
    return pack_record(&rec, out);
}

/* ------------------------------------------------------------------ decode */

static const char *str_out(const char *s)
{
    return s && *s ? s : NULL;
}

static kl_bytes bin_out(ProtobufCBinaryData b)
{
    return (kl_bytes){b.len ? b.data : NULL, b.len};
}

static int copy_field(char *dst, size_t cap, const char *src, const char *what, char *errbuf)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) {
        kli_seterr(errbuf, "%s of %zu bytes exceeds limit %zu", what, n, cap - 1);
        return KL_ERR_CORRUPT;
    }
    memcpy(dst, src ? src : "", n + 1);
    return KL_OK;
}

static int addr_out(kl_addr *a, const Koala__Addr *p, char *errbuf)
{
    memset(a, 0, sizeof *a);
    if (!p)
        return KL_OK;
    if (p->ip.len == 4 || p->ip.len == 16) {
        a->family = p->ip.len == 4 ? AF_INET : AF_INET6;
        memcpy(a->ip, p->ip.data, p->ip.len);
    } else if (p->ip.len) {
        kli_seterr(errbuf, "address of %zu bytes (expected 4 or 16)", p->ip.len);
        return KL_ERR_CORRUPT;
    }
    if (p->port > 65535) {
        kli_seterr(errbuf, "port %u out of range", p->port);
        return KL_ERR_CORRUPT;
    }
    a->port = (uint16_t)p->port;
    int err = copy_field(a->zone, sizeof a->zone, p->zone, "IPv6 zone", errbuf);
    if (!err)
        err = copy_field(a->unix_path, sizeof a->unix_path, p->unix_path, "unix path", errbuf);
    if (!err)
        err = copy_field(a->unix_net, sizeof a->unix_net, p->unix_net, "unix network", errbuf);
    return err;
}

static int kvs_out(kli_mem *m, const kl_kv **dst, Koala__KeyValue *const *src, size_t n)
{
    *dst = NULL;
    if (!n)
        return KL_OK;
    kl_kv *kv = kli_alloc(m, n * sizeof *kv);
    if (!kv)
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        kv[i].key = bin_out(src[i]->key);
        kv[i].value = bin_out(src[i]->value);
    }
    *dst = kv;
    return KL_OK;
}

static int action_out(kl_action *a, const Koala__Action *p, char *errbuf)
{
    memset(a, 0, sizeof *a);
    a->index = p->index;
    a->occurred_at = p->occurred_at;
    switch (p->kind_case) {
    case KOALA__ACTION__KIND_CALL_OUTBOUND: {
        const Koala__CallOutbound *c = p->call_outbound;
        a->type = KL_ACTION_CALL_OUTBOUND;
        a->socket_fd = c->socket_fd;
        a->request = bin_out(c->request);
        a->response = bin_out(c->response);
        a->response_time = c->response_time;
        a->cspan_id = bin_out(c->cspan_id);
        int err = addr_out(&a->peer, c->peer, errbuf);
        return err ? err : addr_out(&a->local, c->local, errbuf);
    }
    case KOALA__ACTION__KIND_APPEND_FILE:
        a->type = KL_ACTION_APPEND_FILE;
        a->file_name = str_out(p->append_file->file_name);
        a->content = bin_out(p->append_file->content);
        return KL_OK;
    case KOALA__ACTION__KIND_SEND_UDP:
        a->type = KL_ACTION_SEND_UDP;
        a->content = bin_out(p->send_udp->content);
        return addr_out(&a->peer, p->send_udp->peer, errbuf);
    case KOALA__ACTION__KIND_READ_STORAGE:
        a->type = KL_ACTION_READ_STORAGE;
        a->content = bin_out(p->read_storage->content);
        return KL_OK;
    case KOALA__ACTION__KIND_CALL_FUNCTION: {
        const Koala__CallFunction *f = p->call_function;
        a->type = KL_ACTION_CALL_FUNCTION;
        a->func_name = str_out(f->func_name);
        a->call_into_file = str_out(f->call_into_file);
        a->call_into_line = f->call_into_line;
        a->call_from_file = str_out(f->call_from_file);
        a->call_from_line = f->call_from_line;
        a->args_json = str_out(f->args_json);
        return KL_OK;
    }
    case KOALA__ACTION__KIND_RETURN_FUNCTION:
        a->type = KL_ACTION_RETURN_FUNCTION;
        a->call_function_id = str_out(p->return_function->call_function_id);
        a->return_value_json = str_out(p->return_function->return_value_json);
        return KL_OK;
    case KOALA__ACTION__KIND_RETURN_INBOUND:
        a->type = KL_ACTION_RETURN_INBOUND;
        return KL_OK;
    case KOALA__ACTION__KIND__NOT_SET:
    case _KOALA__ACTION__KIND__CASE_IS_INT_SIZE:
        break;
    }
    /* An action kind from a newer writer: keep its place and time. */
    a->type = KL_ACTION_NONE;
    return KL_OK;
}

static int session_out(kli_mem *m, const Koala__Session *p, const kl_session **out, char *errbuf)
{
    kl_session *s = kli_zalloc(m, sizeof *s);
    if (!s)
        return KL_ERR_NOMEM;
    s->id = str_out(p->id);
    s->thread_id = p->thread_id;
    s->context = str_out(p->context);
    s->trace_id = bin_out(p->trace_id);
    s->span_id = bin_out(p->span_id);
    s->next_session_id = str_out(p->next_session_id);
    s->host = str_out(p->host);
    s->pid = p->pid;
    s->program = str_out(p->program);
    s->truncated = p->truncated;
    s->n_trace_header = p->n_trace_header;
    s->n_labels = p->n_labels;
    s->n_redirect_dirs = p->n_redirect_dirs;
    s->n_mock_files = p->n_mock_files;
    if (kvs_out(m, &s->trace_header, p->trace_header, p->n_trace_header) ||
        kvs_out(m, &s->labels, p->labels, p->n_labels) ||
        kvs_out(m, &s->redirect_dirs, p->redirect_dirs, p->n_redirect_dirs) ||
        kvs_out(m, &s->mock_files, p->mock_files, p->n_mock_files))
        return KL_ERR_NOMEM;
    if (p->call_from_inbound) {
        kl_call_from_inbound *c = &s->call_from_inbound;
        c->present = true;
        c->index = p->call_from_inbound->index;
        c->occurred_at = p->call_from_inbound->occurred_at;
        c->request = bin_out(p->call_from_inbound->request);
        int err = addr_out(&c->peer, p->call_from_inbound->peer, errbuf);
        if (err)
            return err;
    }
    if (p->return_inbound) {
        s->return_inbound.present = true;
        s->return_inbound.index = p->return_inbound->index;
        s->return_inbound.occurred_at = p->return_inbound->occurred_at;
        s->return_inbound.response = bin_out(p->return_inbound->response);
    }
    if (p->n_actions) {
        kl_action *acts = kli_alloc(m, p->n_actions * sizeof *acts);
        if (!acts)
            return KL_ERR_NOMEM;
        for (size_t i = 0; i < p->n_actions; i++) {
            int err = action_out(&acts[i], p->actions[i], errbuf);
            if (err)
                return err;
        }
        s->actions = acts;
        s->n_actions = p->n_actions;
    }
    *out = s;
    return KL_OK;
}

static int replayed_out(kli_mem *m, const Koala__ReplayedSession *p, const kl_replayed **out,
                        char *errbuf)
{
    kl_replayed *r = kli_zalloc(m, sizeof *r);
    if (!r)
        return KL_ERR_NOMEM;
    r->session_id = str_out(p->session_id);
    r->original_request_time = p->original_request_time;
    r->original_request = bin_out(p->original_request);
    r->original_response = bin_out(p->original_response);
    r->response = bin_out(p->response);
    r->replayed_at = p->replayed_at;
    r->response_time = p->response_time;
    r->unused_calls = p->unused_calls;
    r->n_unused_calls = p->n_unused_calls;
    r->errors = (const char *const *)p->errors;
    r->n_errors = p->n_errors;
    if (p->n_actions) {
        kl_replayed_action *acts = kli_alloc(m, p->n_actions * sizeof *acts);
        if (!acts)
            return KL_ERR_NOMEM;
        for (size_t i = 0; i < p->n_actions; i++) {
            const Koala__ReplayedAction *pa = p->actions[i];
            kl_replayed_action *a = &acts[i];
            memset(a, 0, sizeof *a);
            if (pa->action) {
                int err = action_out(&a->action, pa->action, errbuf);
                if (err)
                    return err;
            }
            a->matched_index = pa->matched_index;
            a->matched_score = pa->matched_score;
            a->runner_up_index = pa->runner_up_index;
            a->runner_up_score = pa->runner_up_score;
            a->matched_request = bin_out(pa->matched_request);
            a->matched_response = bin_out(pa->matched_response);
        }
        r->actions = acts;
        r->n_actions = p->n_actions;
    }
    *out = r;
    return KL_OK;
}

static void *arena_alloc(void *data, size_t size)
{
    return kli_alloc(data, size);
}

static void arena_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

int kli_decode_record(const uint8_t *data, size_t len, kli_mem *m, const kl_session **s,
                      const kl_replayed **r, char *errbuf)
{
    *s = NULL;
    *r = NULL;
    ProtobufCAllocator alloc = {arena_alloc, arena_free, m};
    Koala__Record *rec = koala__record__unpack(&alloc, len, data);
    if (!rec) {
        kli_seterr(errbuf, "record of %zu bytes does not decode as a koala.Record", len);
        return KL_ERR_CORRUPT;
    }
    switch (rec->kind_case) {
    case KOALA__RECORD__KIND_SESSION:
        return session_out(m, rec->session, s, errbuf);
    case KOALA__RECORD__KIND_REPLAYED:
        return replayed_out(m, rec->replayed, r, errbuf);
    case KOALA__RECORD__KIND__NOT_SET:
    case _KOALA__RECORD__KIND__CASE_IS_INT_SIZE:
        break;
    }
    kli_seterr(errbuf, "record of %zu bytes holds neither a session nor a replayed session", len);
    return KL_ERR_CORRUPT;
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

/* One protobuf field at p: its number, wire type, and for LEN fields the payload. */
typedef struct field {
    uint32_t num;
    int wire;
    uint64_t value;
    const uint8_t *data;
    size_t len;
} field;

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
        return len - at < 8 ? -1 : (int)(at + 8);
    case 5:
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
    if (!body && *kind == KL_KIND_UNKNOWN)
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
