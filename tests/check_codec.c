/* check_codec.c - tests of libkoala/codec.c: every field survives encode and decode. */
#include "testutil.h"
#include "kl_internal.h"
#include "koala.pb-c.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- reference
 * The same mapping done with the protobuf-c code generated from proto/koala.proto: our
 * encoder must produce exactly its bytes, so the hand-written codec cannot drift from the schema. */

static char *ref_str(const char *s)
{
    return (char *)(s ? s : "");
}

static ProtobufCBinaryData ref_bin(kl_bytes b)
{
    return (ProtobufCBinaryData){b.len, (uint8_t *)b.data};
}

static Koala__Addr *ref_addr(kli_mem *m, const kl_addr *a)
{
    if (!a->family && !a->port && !a->zone[0] && !a->unix_path[0] && !a->unix_net[0])
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
static Koala__KeyValue **ref_kvs(kli_mem *m, const kl_kv *kv, size_t n, bool *ok)
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
        items[i].key = ref_bin(kv[i].key);
        items[i].value = ref_bin(kv[i].value);
        arr[i] = &items[i];
    }
    return arr;
}

/* The oneof body of an action; allocation failure leaves the action empty and clears *ok. */
static void ref_action(kli_mem *m, Koala__Action *p, const kl_action *a, bool *ok)
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
        c->peer = ref_addr(m, &a->peer);
        c->local = ref_addr(m, &a->local);
        c->request = ref_bin(a->request);
        c->response = ref_bin(a->response);
        c->response_time = a->response_time;
        c->cspan_id = ref_bin(a->cspan_id);
        p->kind_case = KOALA__ACTION__KIND_CALL_OUTBOUND;
        p->call_outbound = c;
        return;
    }
    case KL_ACTION_APPEND_FILE: {
        Koala__AppendFile *f = kli_alloc(m, sizeof *f);
        if (!f)
            break;
        koala__append_file__init(f);
        f->file_name = ref_str(a->file_name);
        f->content = ref_bin(a->content);
        p->kind_case = KOALA__ACTION__KIND_APPEND_FILE;
        p->append_file = f;
        return;
    }
    case KL_ACTION_SEND_UDP: {
        Koala__SendUdp *u = kli_alloc(m, sizeof *u);
        if (!u)
            break;
        koala__send_udp__init(u);
        u->peer = ref_addr(m, &a->peer);
        u->content = ref_bin(a->content);
        p->kind_case = KOALA__ACTION__KIND_SEND_UDP;
        p->send_udp = u;
        return;
    }
    case KL_ACTION_READ_STORAGE: {
        Koala__ReadStorage *r = kli_alloc(m, sizeof *r);
        if (!r)
            break;
        koala__read_storage__init(r);
        r->content = ref_bin(a->content);
        p->kind_case = KOALA__ACTION__KIND_READ_STORAGE;
        p->read_storage = r;
        return;
    }
    case KL_ACTION_CALL_FUNCTION: {
        Koala__CallFunction *f = kli_alloc(m, sizeof *f);
        if (!f)
            break;
        koala__call_function__init(f);
        f->func_name = ref_str(a->func_name);
        f->call_into_file = ref_str(a->call_into_file);
        f->call_into_line = a->call_into_line;
        f->call_from_file = ref_str(a->call_from_file);
        f->call_from_line = a->call_from_line;
        f->args_json = ref_str(a->args_json);
        p->kind_case = KOALA__ACTION__KIND_CALL_FUNCTION;
        p->call_function = f;
        return;
    }
    case KL_ACTION_RETURN_FUNCTION: {
        Koala__ReturnFunction *f = kli_alloc(m, sizeof *f);
        if (!f)
            break;
        koala__return_function__init(f);
        f->call_function_id = ref_str(a->call_function_id);
        f->return_value_json = ref_str(a->return_value_json);
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
static int ref_pack(const Koala__Record *rec, kl_buf *out)
{
    size_t n = koala__record__get_packed_size(rec);
    if (n > KL_MAX_RECORD)
        return KL_ERR_TOOBIG;
    uint8_t pre[10];
    int pl = kli_varint_put(pre, n);
    if (kl_buf_append(out, pre, (size_t)pl) != KL_OK)
        return KL_ERR_NOMEM;
    if (kl_buf_reserve(out, n) != KL_OK)
        return KL_ERR_NOMEM;
    size_t at = out->len;
    koala__record__pack(rec, (uint8_t *)out->data + at);
    out->len = at + n;
    return KL_OK;
}

static int ref_encode_session(const kl_session *s, kli_mem *m, kl_buf *out)
{
    bool ok = true;
    Koala__Session ps;
    koala__session__init(&ps);
    ps.id = ref_str(s->id);
    ps.thread_id = s->thread_id;
    ps.context = ref_str(s->context);
    ps.trace_id = ref_bin(s->trace_id);
    ps.span_id = ref_bin(s->span_id);
    ps.trace_header = ref_kvs(m, s->trace_header, s->n_trace_header, &ok);
    ps.n_trace_header = s->n_trace_header;
    ps.next_session_id = ref_str(s->next_session_id);
    ps.host = ref_str(s->host);
    ps.pid = s->pid;
    ps.program = ref_str(s->program);
    ps.labels = ref_kvs(m, s->labels, s->n_labels, &ok);
    ps.n_labels = s->n_labels;
    ps.redirect_dirs = ref_kvs(m, s->redirect_dirs, s->n_redirect_dirs, &ok);
    ps.n_redirect_dirs = s->n_redirect_dirs;
    ps.mock_files = ref_kvs(m, s->mock_files, s->n_mock_files, &ok);
    ps.n_mock_files = s->n_mock_files;
    ps.truncated = s->truncated;

    Koala__CallFromInbound cfi;
    if (s->call_from_inbound.present) {
        koala__call_from_inbound__init(&cfi);
        cfi.index = s->call_from_inbound.index;
        cfi.occurred_at = s->call_from_inbound.occurred_at;
        cfi.peer = ref_addr(m, &s->call_from_inbound.peer);
        cfi.request = ref_bin(s->call_from_inbound.request);
        ps.call_from_inbound = &cfi;
    }
    Koala__ReturnInbound ri;
    if (s->return_inbound.present) {
        koala__return_inbound__init(&ri);
        ri.index = s->return_inbound.index;
        ri.occurred_at = s->return_inbound.occurred_at;
        ri.response = ref_bin(s->return_inbound.response);
        ps.return_inbound = &ri;
    }
    if (s->n_actions) {
        Koala__Action **arr = kli_alloc(m, s->n_actions * sizeof *arr);
        Koala__Action *acts = kli_alloc(m, s->n_actions * sizeof *acts);
        if (!arr || !acts)
            return KL_ERR_NOMEM;
        for (size_t i = 0; i < s->n_actions; i++) {
            ref_action(m, &acts[i], &s->actions[i], &ok);
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
    return ref_pack(&rec, out);
}

static int ref_encode_replayed(const kl_replayed *r, kli_mem *m, kl_buf *out)
{
    bool ok = true;
    Koala__ReplayedSession pr;
    koala__replayed_session__init(&pr);
    pr.session_id = ref_str(r->session_id);
    pr.original_request_time = r->original_request_time;
    pr.original_request = ref_bin(r->original_request);
    pr.original_response = ref_bin(r->original_response);
    pr.response = ref_bin(r->response);
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
            ref_action(m, &acts[i], &a->action, &ok);
            ras[i].action = &acts[i];
            ras[i].matched_index = a->matched_index;
            ras[i].matched_score = a->matched_score;
            ras[i].runner_up_index = a->runner_up_index;
            ras[i].runner_up_score = a->runner_up_score;
            ras[i].matched_request = ref_bin(a->matched_request);
            ras[i].matched_response = ref_bin(a->matched_response);
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
    return ref_pack(&rec, out);
}

static kl_bytes B(const char *s)
{
    return (kl_bytes){(const uint8_t *)s, strlen(s)};
}

#define ck_assert_bytes_eq(a, b)                                                                   \
    do {                                                                                           \
        ck_assert_uint_eq((a).len, (b).len);                                                       \
        if ((a).len)                                                                               \
            ck_assert_mem_eq((a).data, (b).data, (a).len);                                         \
    } while (0)

/* Encode s, check the bytes against the protobuf-c reference, decode them back. */
static const kl_session *roundtrip(const kl_session *s, kli_mem *m, kl_buf *b)
{
    b->len = 0;
    ck_assert_int_eq(kli_encode_session(s, b), KL_OK);
    kl_buf ref = {0};
    kli_mem *scratch = kli_mem_new();
    ck_assert_int_eq(ref_encode_session(s, scratch, &ref), KL_OK);
    ck_assert_uint_eq(b->len, ref.len);
    ck_assert_mem_eq(b->data, ref.data, ref.len);
    kl_buf_free(&ref);
    kli_mem_free(scratch);
    uint64_t len;
    int vl = kli_varint_get((const uint8_t *)b->data, b->len, &len);
    ck_assert_int_gt(vl, 0);
    ck_assert_uint_eq((size_t)vl + len, b->len);
    const kl_session *out;
    const kl_replayed *r;
    ck_assert_int_eq(kli_decode_record((const uint8_t *)b->data + vl, (size_t)len, m, &out, &r, NULL), KL_OK);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_null(r);
    return out;
}

/* A session with every field set, and an action of each kind. */
static kl_session *full_session(void)
{
    kl_session *s = kl_session_new();
    kl_session_dup_str(s, &s->id, "1548160113499755925-1158745");
    s->thread_id = 1158745;
    kl_session_dup_str(s, &s->context, "ctx");
    kl_session_dup_bytes(s, &s->trace_id, "tid", 3);
    kl_session_dup_bytes(s, &s->span_id, "\x00\x01", 2);
    kl_session_add_kv(s, &s->trace_header, &s->n_trace_header, B("ti"), B("abc"));
    kl_session_dup_str(s, &s->next_session_id, "1548160119582448050-1158745");
    kl_session_dup_str(s, &s->host, "h");
    s->pid = 99;
    kl_session_dup_str(s, &s->program, "php-fpm");
    kl_session_add_kv(s, &s->labels, &s->n_labels, B("env"), B("prod"));
    kl_session_add_kv(s, &s->redirect_dirs, &s->n_redirect_dirs, B("/a"), B("/b"));
    kl_session_add_kv(s, &s->mock_files, &s->n_mock_files, B("/etc/x"), B("content"));
    s->truncated = true;
    s->call_from_inbound.present = true;
    s->call_from_inbound.index = 0;
    s->call_from_inbound.occurred_at = 1548160113500144162;
    snprintf(s->call_from_inbound.peer.unix_path, KL_UNIX_PATH_MAX, "/run/php-fpm.sock");
    snprintf(s->call_from_inbound.peer.unix_net, KL_UNIX_NET_MAX, "unix");
    kl_session_dup_bytes(s, &s->call_from_inbound.request, "\x01\x01\x00\x01", 4);
    s->return_inbound.present = true;
    s->return_inbound.index = 6;
    s->return_inbound.occurred_at = 1548160116065929703;
    kl_session_dup_bytes(s, &s->return_inbound.response, "\x01\x06resp", 6);

    kl_action a[7];
    memset(a, 0, sizeof a);
    a[0].type = KL_ACTION_CALL_OUTBOUND;
    a[0].socket_fd = 12;
    a[0].peer.family = AF_INET6;
    inet_pton(AF_INET6, "fe80::1", a[0].peer.ip);
    snprintf(a[0].peer.zone, KL_ZONE_MAX, "eth0");
    a[0].peer.port = 80;
    a[0].local.family = AF_INET;
    inet_pton(AF_INET, "10.1.2.3", a[0].local.ip);
    a[0].local.port = 50000;
    a[0].request = B("GET / HTTP/1.1\r\n\r\n");
    a[0].response = B("HTTP/1.1 200 OK\r\n\r\n");
    a[0].response_time = 1548160114250896206;
    a[0].cspan_id = B("cs");
    a[1].type = KL_ACTION_APPEND_FILE;
    a[1].file_name = "/var/log/app.log";
    a[1].content = B("line\n");
    a[2].type = KL_ACTION_SEND_UDP;
    a[2].peer.family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", a[2].peer.ip);
    a[2].peer.port = 8125;
    a[2].content = B("m:1|c");
    a[3].type = KL_ACTION_READ_STORAGE;
    a[3].content = B("stored");
    a[4].type = KL_ACTION_CALL_FUNCTION;
    a[4].func_name = "f";
    a[4].call_into_file = "a.php";
    a[4].call_into_line = 10;
    a[4].call_from_file = "b.php";
    a[4].call_from_line = 20;
    a[4].args_json = "[1,\"x\"]";
    a[5].type = KL_ACTION_RETURN_FUNCTION;
    a[5].call_function_id = "42";
    a[5].return_value_json = "{\"ok\":true}";
    a[6].type = KL_ACTION_RETURN_INBOUND;
    for (int i = 0; i < 7; i++) {
        a[i].index = i;
        a[i].occurred_at = 1548160113809542915 + i;
        ck_assert_int_eq(kl_session_add_action(s, &a[i]), KL_OK);
    }
    return s;
}

START_TEST(every_session_field_survives_a_round_trip)
{
    kl_session *s = full_session();
    kli_mem *m = kli_mem_new();
    kl_buf b = {0};
    const kl_session *d = roundtrip(s, m, &b);
    ck_assert_str_eq(d->id, s->id);
    ck_assert_int_eq(d->thread_id, s->thread_id);
    ck_assert_str_eq(d->context, "ctx");
    ck_assert_bytes_eq(d->trace_id, s->trace_id);
    ck_assert_bytes_eq(d->span_id, s->span_id);
    ck_assert_uint_eq(d->n_trace_header, 1);
    ck_assert_bytes_eq(d->trace_header[0].value, B("abc"));
    ck_assert_str_eq(d->next_session_id, s->next_session_id);
    ck_assert_str_eq(d->host, "h");
    ck_assert_int_eq(d->pid, 99);
    ck_assert_str_eq(d->program, "php-fpm");
    ck_assert_bytes_eq(d->labels[0].key, B("env"));
    ck_assert_bytes_eq(d->redirect_dirs[0].value, B("/b"));
    ck_assert_bytes_eq(d->mock_files[0].value, B("content"));
    ck_assert(d->truncated);
    ck_assert(d->call_from_inbound.present);
    ck_assert_int_eq(d->call_from_inbound.occurred_at, s->call_from_inbound.occurred_at);
    ck_assert(kl_addr_equal(&d->call_from_inbound.peer, &s->call_from_inbound.peer));
    ck_assert_str_eq(d->call_from_inbound.peer.unix_net, "unix");
    ck_assert_bytes_eq(d->call_from_inbound.request, s->call_from_inbound.request);
    ck_assert_int_eq(d->return_inbound.index, 6);
    ck_assert_bytes_eq(d->return_inbound.response, s->return_inbound.response);
    ck_assert_uint_eq(d->n_actions, 7);
    for (int i = 0; i < 7; i++) {
        const kl_action *x = &d->actions[i], *y = &s->actions[i];
        ck_assert_int_eq(x->type, y->type);
        ck_assert_int_eq(x->index, i);
        ck_assert_int_eq(x->occurred_at, y->occurred_at);
        ck_assert(kl_addr_equal(&x->peer, &y->peer));
        ck_assert(kl_addr_equal(&x->local, &y->local));
        ck_assert_bytes_eq(x->request, y->request);
        ck_assert_bytes_eq(x->response, y->response);
        ck_assert_bytes_eq(x->cspan_id, y->cspan_id);
        ck_assert_bytes_eq(x->content, y->content);
        ck_assert_int_eq(x->response_time, y->response_time);
        ck_assert_int_eq(x->socket_fd, y->socket_fd);
    }
    ck_assert_str_eq(d->actions[0].peer.zone, "eth0");
    ck_assert_str_eq(d->actions[1].file_name, "/var/log/app.log");
    ck_assert_str_eq(d->actions[4].args_json, "[1,\"x\"]");
    ck_assert_int_eq(d->actions[4].call_from_line, 20);
    ck_assert_str_eq(d->actions[5].return_value_json, "{\"ok\":true}");
    ck_assert_ptr_null(d->actions[2].file_name);

    kl_kind kind;
    int64_t t;
    char id[64];
    uint64_t len;
    int vl = kli_varint_get((const uint8_t *)b.data, b.len, &len);
    ck_assert_int_eq(kli_scan_record((const uint8_t *)b.data + vl, (size_t)len, &kind, &t, id, sizeof id), KL_OK);
    ck_assert_int_eq(kind, KL_KIND_RECORDED);
    ck_assert_int_eq(t, 1548160113500144162);
    ck_assert_str_eq(id, "1548160113499755925-1158745");
    kl_buf_free(&b);
    kli_mem_free(m);
    kl_session_free(s);
}
END_TEST

START_TEST(an_empty_session_round_trips_as_empty)
{
    kl_session s = {0};
    kli_mem *m = kli_mem_new();
    kl_buf b = {0};
    const kl_session *d = roundtrip(&s, m, &b);
    ck_assert_ptr_null(d->id);
    ck_assert(!d->call_from_inbound.present);
    ck_assert_uint_eq(d->n_actions, 0);
    ck_assert_int_eq(kl_session_time(d), 0);
    kl_buf_free(&b);
    kli_mem_free(m);
}
END_TEST

START_TEST(scan_takes_the_time_from_the_id_when_there_is_no_inbound)
{
    kl_session s = {0};
    s.id = "1700000000123456789-7";
    kl_buf b = {0};
    ck_assert_int_eq(kli_encode_session(&s, &b), KL_OK);
    kl_kind kind;
    int64_t t;
    char id[8];
    ck_assert_int_eq(kli_scan_record((const uint8_t *)b.data + 1, b.len - 1, &kind, &t, id, sizeof id), KL_OK);
    ck_assert_int_eq(t, 1700000000123456789);
    ck_assert_str_eq(id, "1700000"); /* truncated to the buffer */
    kl_buf_free(&b);
}
END_TEST

START_TEST(malformed_records_are_corrupt_not_crashes)
{
    kli_mem *m = kli_mem_new();
    const kl_session *s;
    const kl_replayed *r;
    char err[KL_ERRBUF_SIZE];
    static const uint8_t bad1[] = {0x0a, 0x05, 0x01};              /* length past the end */
    static const uint8_t empty[] = {0x18, 0x01};                   /* neither kind */
    ck_assert_int_eq(kli_decode_record(bad1, sizeof bad1, m, &s, &r, err), KL_ERR_CORRUPT);
    ck_assert_int_eq(kli_decode_record(empty, sizeof empty, m, &s, &r, err), KL_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "neither"));
    kl_kind kind;
    int64_t t;
    char id[16];
    ck_assert_int_eq(kli_scan_record(bad1, sizeof bad1, &kind, &t, id, sizeof id), KL_ERR_CORRUPT);
    /* An IPv4 address of 3 bytes inside a call_from_inbound peer. */
    static const uint8_t badip[] = {0x0a, 0x09, 0x62, 0x07, 0x1a, 0x05, 0x0a, 0x03, 1, 2, 3};
    ck_assert_int_eq(kli_decode_record(badip, sizeof badip, m, &s, &r, err), KL_ERR_CORRUPT);
    ck_assert_str_eq(err, "address of 3 bytes (expected 4 or 16)");
    kli_mem_free(m);
}
END_TEST

START_TEST(varints_round_trip_and_reject_overlong_input)
{
    uint8_t buf[10];
    const uint64_t vals[] = {0, 1, 127, 128, 300, UINT32_MAX, UINT64_MAX};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        int n = kli_varint_put(buf, vals[i]);
        uint64_t v;
        ck_assert_int_eq(kli_varint_get(buf, (size_t)n, &v), n);
        ck_assert_uint_eq(v, vals[i]);
        if (n > 1)
            ck_assert_int_eq(kli_varint_get(buf, (size_t)n - 1, &v), 0);
    }
    uint8_t over[11];
    memset(over, 0xff, sizeof over);
    uint64_t v;
    ck_assert_int_eq(kli_varint_get(over, sizeof over, &v), -1);
}
END_TEST

START_TEST(sample_sessions_encode_exactly_as_protobuf_c_does)
{
    kli_mem *m = kli_mem_new();
    kl_buf b = {0};
    for (int i = 0; i < 20; i++) {
        kl_session *s = tu_session(i);
        const kl_session *d = roundtrip(s, m, &b);
        ck_assert_str_eq(d->id, s->id);
        ck_assert_uint_eq(d->n_actions, s->n_actions);
        kl_session_free(s);
        kli_mem_reset(m);
    }
    kl_buf_free(&b);
    kli_mem_free(m);
}
END_TEST

/* An outbound call whose two addresses fill every field: the most lengths the encoder notes
 * for one action. */
static kl_action full_call(int i)
{
    kl_action a = {.type = KL_ACTION_CALL_OUTBOUND, .index = i, .occurred_at = 1700000000000000000 + i};
    a.peer.family = AF_INET6;
    a.peer.ip[15] = (uint8_t)i;
    a.peer.port = 443;
    snprintf(a.peer.zone, KL_ZONE_MAX, "eth%d", i % 4);
    snprintf(a.peer.unix_path, KL_UNIX_PATH_MAX, "/run/app-%d.sock", i);
    snprintf(a.peer.unix_net, KL_UNIX_NET_MAX, "unix");
    a.local = a.peer;
    a.local.port = (uint16_t)(40000 + i);
    a.request = B("GET / HTTP/1.1\r\n\r\n");
    a.response = B("HTTP/1.1 204 No Content\r\n\r\n");
    return a;
}

START_TEST(sessions_larger_than_the_encoders_stack_encode_exactly_as_protobuf_c_does)
{
    kl_session *s = kl_session_new();
    kl_session_dup_str(s, &s->id, "1700000000000000000-1");
    s->call_from_inbound.present = true;
    s->call_from_inbound.peer = full_call(0).peer;
    for (int i = 0; i < 80; i++) {
        kl_action a = full_call(i);
        ck_assert_int_eq(kl_session_add_action(s, &a), KL_OK);
    }
    kli_mem *m = kli_mem_new();
    kl_buf b = {0};
    const kl_session *d = roundtrip(s, m, &b);
    ck_assert_uint_eq(d->n_actions, 80);
    ck_assert_str_eq(d->actions[79].local.unix_path, "/run/app-79.sock");

    kl_replayed *r = kl_replayed_new();
    kl_replayed_add_error(r, "first");
    for (int i = 0; i < 60; i++) {
        kl_replayed_action ra = {.action = full_call(i), .matched_index = i, .runner_up_index = -1};
        ck_assert_int_eq(kl_replayed_add_action(r, &ra), KL_OK);
    }
    kl_buf ours = {0}, ref = {0};
    ck_assert_int_eq(kli_encode_replayed(r, &ours), KL_OK);
    ck_assert_int_eq(ref_encode_replayed(r, m, &ref), KL_OK);
    ck_assert_uint_eq(ours.len, ref.len);
    ck_assert_mem_eq(ours.data, ref.data, ref.len);
    kl_buf_free(&ours);
    kl_buf_free(&ref);
    kl_replayed_free(r);
    kl_buf_free(&b);
    kli_mem_free(m);
    kl_session_free(s);
}
END_TEST

/* A replayed session with every field set: a matched call with a runner-up, an unmatched
 * datagram, unused calls and errors (one empty). */
static kl_replayed *full_replayed(void)
{
    kl_replayed *r = kl_replayed_new();
    kl_replayed_dup_str(r, &r->session_id, "1700000000000000000-3");
    r->original_request_time = 1700000000000001000;
    kl_replayed_dup_bytes(r, &r->original_request, "GET / HTTP/1.1\r\n\r\n", 18);
    kl_replayed_dup_bytes(r, &r->original_response, "HTTP/1.1 200 OK\r\n\r\n", 19);
    kl_replayed_dup_bytes(r, &r->response, "HTTP/1.1 500 Oops\r\n\r\n", 21);
    r->replayed_at = 1800000000000000000;
    r->response_time = 1800000000000005000;
    kl_replayed_action a = {.matched_index = 3, .matched_score = 0.875, .runner_up_index = 5,
                            .runner_up_score = 0.25};
    a.action.type = KL_ACTION_CALL_OUTBOUND;
    a.action.request = B("*1\r\n$4\r\nPING\r\n");
    a.action.peer.family = AF_INET;
    a.action.peer.port = 6379;
    a.matched_request = B("*1\r\n$4\r\nPING\r\n");
    a.matched_response = B("+PONG\r\n");
    kl_replayed_add_action(r, &a);
    kl_replayed_action u = {.matched_index = -1, .runner_up_index = -1, .runner_up_score = -0.0};
    u.action.type = KL_ACTION_SEND_UDP;
    u.action.content = B("m:1|c");
    kl_replayed_add_action(r, &u);
    kl_replayed_add_unused(r, 0);
    kl_replayed_add_unused(r, 7);
    kl_replayed_add_unused(r, 300);
    kl_replayed_add_error(r, "");
    kl_replayed_add_error(r, "no match");
    return r;
}

START_TEST(replayed_sessions_encode_exactly_as_protobuf_c_does)
{
    kl_replayed *r = full_replayed();
    kl_buf ours = {0}, ref = {0};
    kli_mem *m = kli_mem_new();
    ck_assert_int_eq(kli_encode_replayed(r, &ours), KL_OK);
    ck_assert_int_eq(ref_encode_replayed(r, m, &ref), KL_OK);
    ck_assert_uint_eq(ours.len, ref.len);
    ck_assert_mem_eq(ours.data, ref.data, ref.len);

    uint64_t len;
    int vl = kli_varint_get((const uint8_t *)ours.data, ours.len, &len);
    const kl_session *s;
    const kl_replayed *d;
    kli_mem_reset(m);
    ck_assert_int_eq(kli_decode_record((const uint8_t *)ours.data + vl, (size_t)len, m, &s, &d, NULL), KL_OK);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(d->session_id, r->session_id);
    ck_assert_int_eq(d->original_request_time, r->original_request_time);
    ck_assert_bytes_eq(d->response, r->response);
    ck_assert_int_eq(d->replayed_at, r->replayed_at);
    ck_assert_int_eq(d->response_time, r->response_time);
    ck_assert_uint_eq(d->n_actions, 2);
    ck_assert_int_eq(d->actions[0].matched_index, 3);
    ck_assert(d->actions[0].matched_score == 0.875);
    ck_assert_int_eq(d->actions[0].runner_up_index, 5);
    ck_assert(d->actions[0].runner_up_score == 0.25);
    ck_assert_bytes_eq(d->actions[0].matched_response, r->actions[0].matched_response);
    ck_assert_int_eq(d->actions[0].action.peer.port, 6379);
    ck_assert_int_eq(d->actions[1].action.type, KL_ACTION_SEND_UDP);
    ck_assert_int_eq(d->actions[1].matched_index, -1);
    ck_assert_uint_eq(d->n_unused_calls, 3);
    ck_assert_int_eq(d->unused_calls[2], 300);
    ck_assert_uint_eq(d->n_errors, 2);
    ck_assert_str_eq(d->errors[0], "");
    ck_assert_str_eq(d->errors[1], "no match");
    kl_buf_free(&ours);
    kl_buf_free(&ref);
    kli_mem_free(m);
    kl_replayed_free(r);
}
END_TEST

START_TEST(unpacked_repeated_scalars_decode_too)
{
    /* ReplayedSession{unused_calls: 5, unused_calls: 6} written unpacked, as proto2 writers do. */
    static const uint8_t rec[] = {0x12, 0x04, 0x48, 0x05, 0x48, 0x06};
    kli_mem *m = kli_mem_new();
    const kl_session *s;
    const kl_replayed *d;
    ck_assert_int_eq(kli_decode_record(rec, sizeof rec, m, &s, &d, NULL), KL_OK);
    ck_assert_uint_eq(d->n_unused_calls, 2);
    ck_assert_int_eq(d->unused_calls[0], 5);
    ck_assert_int_eq(d->unused_calls[1], 6);
    kli_mem_free(m);
}
END_TEST

START_TEST(unknown_fields_from_newer_writers_are_skipped)
{
    /* Session{id: "a", 99: varint 1, actions: [Action{index: 2, 40: "x"}]} */
    static const uint8_t rec[] = {0x0a, 0x0d, 0x0a, 0x01, 'a', 0x98, 0x06, 0x01,
                                  0x72, 0x05, 0x08, 0x02, 0xc2, 0x02, 0x01};
    kli_mem *m = kli_mem_new();
    const kl_session *s;
    const kl_replayed *d;
    char err[KL_ERRBUF_SIZE] = "";
    ck_assert_int_eq(kli_decode_record(rec, sizeof rec, m, &s, &d, err), KL_ERR_CORRUPT);
    static const uint8_t ok[] = {0x0a, 0x0e, 0x0a, 0x01, 'a', 0x98, 0x06, 0x01,
                                 0x72, 0x06, 0x08, 0x02, 0xc2, 0x02, 0x01, 'x'};
    ck_assert_int_eq(kli_decode_record(ok, sizeof ok, m, &s, &d, err), KL_OK);
    ck_assert_str_eq(s->id, "a");
    ck_assert_uint_eq(s->n_actions, 1);
    ck_assert_int_eq(s->actions[0].index, 2);
    ck_assert_int_eq(s->actions[0].type, KL_ACTION_NONE);
    kli_mem_free(m);
}
END_TEST

/* ---------------------------------------------------------------- wire
 * kl_session_encode and kl_replayed_encode write the message a file's Record holds, which the
 * tests above check against protobuf-c. A decoded message equals what was encoded when it
 * encodes to the same bytes again, since the encoder writes every field in a fixed order. */

static const uint8_t *buf_data(const kl_buf *b)
{
    return (const uint8_t *)b->data;
}

static kl_bytes buf_bytes(const kl_buf *b)
{
    return (kl_bytes){buf_data(b), b->len};
}

/* The member of rec, an encoded Record with its length prefix, checking its tag. */
static kl_bytes record_member(const kl_buf *rec, uint8_t tag)
{
    const uint8_t *p = (const uint8_t *)rec->data;
    uint64_t n;
    int vl = kli_varint_get(p, rec->len, &n);
    ck_assert_int_gt(vl, 0);
    ck_assert_uint_eq(p[vl], tag);
    size_t at = (size_t)vl + 1;
    int ml = kli_varint_get(p + at, rec->len - at, &n);
    ck_assert_int_gt(ml, 0);
    at += (size_t)ml;
    ck_assert_uint_eq(at + n, rec->len);
    return (kl_bytes){p + at, (size_t)n};
}

/* Encode s (or, when NULL, r) alone into w, checking it is the message a file's Record holds. */
static void encode_alone(const kl_session *s, const kl_replayed *r, kl_buf *w)
{
    w->len = 0;
    ck_assert_int_eq(s ? kl_session_encode(s, w) : kl_replayed_encode(r, w), KL_OK);
    kl_buf rec = {0};
    ck_assert_int_eq(s ? kli_encode_session(s, &rec) : kli_encode_replayed(r, &rec), KL_OK);
    ck_assert_bytes_eq(record_member(&rec, s ? 0x0a : 0x12), buf_bytes(w));
    kl_buf_free(&rec);
}

/* Encode s (or, when NULL, r) alone and compare with want. */
static void assert_encodes_to(const kl_session *s, const kl_replayed *r, kl_bytes want)
{
    kl_buf b = {0};
    ck_assert_int_eq(s ? kl_session_encode(s, &b) : kl_replayed_encode(r, &b), KL_OK);
    ck_assert_bytes_eq(buf_bytes(&b), want);
    kl_buf_free(&b);
}

/* True when protobuf-c decodes the len bytes at p as a Session (or a ReplayedSession). */
static bool ref_accepts(const uint8_t *p, size_t len, bool replayed)
{
    if (replayed) {
        Koala__ReplayedSession *ref = koala__replayed_session__unpack(NULL, len, p);
        koala__replayed_session__free_unpacked(ref, NULL);
        return ref != NULL;
    }
    Koala__Session *ref = koala__session__unpack(NULL, len, p);
    koala__session__free_unpacked(ref, NULL);
    return ref != NULL;
}

START_TEST(a_session_round_trips_alone_with_every_field)
{
    kl_buf w = {0};
    for (int i = -1; i < 20; i++) {
        kl_session *s = i < 0 ? full_session() : tu_session(i);
        encode_alone(s, NULL, &w);
        kl_session *d;
        ck_assert_int_eq(kl_session_decode(buf_data(&w), w.len, &d, NULL), KL_OK);
        assert_encodes_to(d, NULL, buf_bytes(&w));
        ck_assert_str_eq(d->id, s->id);
        ck_assert_uint_eq(d->n_actions, s->n_actions);
        ck_assert(ref_accepts(buf_data(&w), w.len, false));
        kl_session_free(d);
        kl_session_free(s);
    }
    kl_buf_free(&w);
}
END_TEST

START_TEST(a_replayed_session_round_trips_alone_with_every_field)
{
    kl_replayed *r = full_replayed();
    kl_buf w = {0};
    encode_alone(NULL, r, &w);
    kl_replayed *d;
    ck_assert_int_eq(kl_replayed_decode(buf_data(&w), w.len, &d, NULL), KL_OK);
    assert_encodes_to(NULL, d, buf_bytes(&w));
    ck_assert_str_eq(d->session_id, r->session_id);
    ck_assert_uint_eq(d->n_actions, 2);
    ck_assert_int_eq(d->actions[0].matched_index, 3);
    ck_assert(d->actions[0].matched_score == 0.875);
    ck_assert_int_eq(d->actions[0].runner_up_index, 5);
    ck_assert(d->actions[0].runner_up_score == 0.25);
    ck_assert_bytes_eq(d->actions[0].matched_request, r->actions[0].matched_request);
    ck_assert_bytes_eq(d->actions[0].matched_response, r->actions[0].matched_response);
    ck_assert_int_eq(d->actions[1].action.type, KL_ACTION_SEND_UDP);
    ck_assert_int_eq(d->actions[1].runner_up_index, -1);
    ck_assert_uint_eq(d->n_unused_calls, 3);
    ck_assert_int_eq(d->unused_calls[1], 7);
    ck_assert_int_eq(d->unused_calls[2], 300);
    ck_assert_uint_eq(d->n_errors, 2);
    ck_assert_str_eq(d->errors[0], "");
    ck_assert_str_eq(d->errors[1], "no match");
    ck_assert(ref_accepts(buf_data(&w), w.len, true));
    kl_replayed_free(d);
    kl_replayed_free(r);
    kl_buf_free(&w);
}
END_TEST

START_TEST(decoded_sessions_own_their_bytes)
{
    kl_session *s = full_session();
    kl_buf w = {0};
    ck_assert_int_eq(kl_session_encode(s, &w), KL_OK);
    kl_session_free(s);
    kl_session *d;
    ck_assert_int_eq(kl_session_decode(buf_data(&w), w.len, &d, NULL), KL_OK);
    memset(w.data, 0, w.len);
    kl_buf_free(&w);
    ck_assert_str_eq(d->id, "1548160113499755925-1158745");
    ck_assert_bytes_eq(d->call_from_inbound.request, ((kl_bytes){(const uint8_t *)"\x01\x01\x00\x01", 4}));
    ck_assert_bytes_eq(d->actions[0].request, B("GET / HTTP/1.1\r\n\r\n"));
    ck_assert_bytes_eq(d->mock_files[0].value, B("content"));
    kl_session_free(d);

    kl_replayed *r = full_replayed();
    ck_assert_int_eq(kl_replayed_encode(r, &w), KL_OK);
    kl_replayed_free(r);
    kl_replayed *dr;
    ck_assert_int_eq(kl_replayed_decode(buf_data(&w), w.len, &dr, NULL), KL_OK);
    memset(w.data, 0, w.len);
    kl_buf_free(&w);
    ck_assert_bytes_eq(dr->response, B("HTTP/1.1 500 Oops\r\n\r\n"));
    ck_assert_bytes_eq(dr->actions[0].matched_response, B("+PONG\r\n"));
    ck_assert_str_eq(dr->errors[1], "no match");
    kl_replayed_free(dr);
}
END_TEST

/* What both sides append in decoded_sessions_take_more_like_any_owning_session: enough to
 * outgrow each array's first room. */
static void add_more(kl_session *s, kl_replayed *r)
{
    kl_action a = {.type = KL_ACTION_READ_STORAGE, .index = 9, .content = B("more")};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(kl_session_add_action(s, &a), KL_OK);
        ck_assert_int_eq(kl_replayed_add_error(r, "late"), KL_OK);
        ck_assert_int_eq(kl_replayed_add_unused(r, 40 + i), KL_OK);
    }
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(kl_session_add_kv(s, &s->labels, &s->n_labels, B("k"), B("v")), KL_OK);
    kl_replayed_action ra = {.matched_index = 1};
    ra.action = a;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(kl_replayed_add_action(r, &ra), KL_OK);
}

START_TEST(decoded_sessions_take_more_like_any_owning_session)
{
    kl_session *s = full_session();
    kl_replayed *r = full_replayed();
    kl_buf w = {0};
    kl_session *d;
    kl_replayed *dr;
    encode_alone(s, NULL, &w);
    ck_assert_int_eq(kl_session_decode(buf_data(&w), w.len, &d, NULL), KL_OK);
    encode_alone(NULL, r, &w);
    ck_assert_int_eq(kl_replayed_decode(buf_data(&w), w.len, &dr, NULL), KL_OK);
    add_more(s, r);
    add_more(d, dr);
    encode_alone(s, NULL, &w);
    assert_encodes_to(d, NULL, buf_bytes(&w));
    encode_alone(NULL, r, &w);
    assert_encodes_to(NULL, dr, buf_bytes(&w));
    kl_buf_free(&w);
    kl_session_free(d);
    kl_session_free(s);
    kl_replayed_free(dr);
    kl_replayed_free(r);
}
END_TEST

/* Decode every prefix of w as kl_*_decode and as protobuf-c: a message carries no length of
 * its own, so both accept exactly the cuts at a field boundary, and decode them as the fields
 * before the cut; every other cut is KL_ERR_CORRUPT with a reason. */
static void check_cuts(kl_bytes w, bool replayed)
{
    for (size_t len = 0; len < w.len; len++) {
        char err[KL_ERRBUF_SIZE] = "";
        kl_session *s = NULL;
        kl_replayed *r = NULL;
        int rc = replayed ? kl_replayed_decode(w.data, len, &r, err)
                          : kl_session_decode(w.data, len, &s, err);
        if (!ref_accepts(w.data, len, replayed)) {
            ck_assert_msg(rc == KL_ERR_CORRUPT, "cut at %zu of %zu: %d", len, w.len, rc);
            ck_assert_str_ne(err, "");
            ck_assert_ptr_null(s);
            ck_assert_ptr_null(r);
            continue;
        }
        ck_assert_msg(rc == KL_OK, "cut at %zu of %zu: %s", len, w.len, err);
        assert_encodes_to(s, r, (kl_bytes){w.data, len});
        kl_session_free(s);
        kl_replayed_free(r);
    }
}

/* Decode w with each bit flipped in turn: whatever the decoder makes of it is KL_ERR_CORRUPT
 * with a reason, or a session that encodes again (every pointer in it valid, under ASan) from
 * bytes protobuf-c accepts too. The decoder is stricter than protobuf-c, not laxer: it also
 * refuses field number 0, varints past 64 bits and addresses koala cannot hold. */
static void check_flips(kl_bytes w, bool replayed)
{
    uint8_t *x = malloc(w.len);
    ck_assert_ptr_nonnull(x);
    size_t corrupt = 0;
    for (size_t at = 0; at < w.len * 8; at++) {
        memcpy(x, w.data, w.len);
        x[at / 8] ^= (uint8_t)(1u << (at % 8));
        char err[KL_ERRBUF_SIZE] = "";
        kl_session *s = NULL;
        kl_replayed *r = NULL;
        kl_buf again = {0};
        int rc = replayed ? kl_replayed_decode(x, w.len, &r, err) : kl_session_decode(x, w.len, &s, err);
        if (rc == KL_OK) {
            ck_assert_msg(ref_accepts(x, w.len, replayed), "bit %zu", at);
            ck_assert_int_eq(s ? kl_session_encode(s, &again) : kl_replayed_encode(r, &again), KL_OK);
        } else {
            ck_assert_msg(rc == KL_ERR_CORRUPT, "bit %zu: %d", at, rc);
            ck_assert_str_ne(err, "");
            corrupt++;
        }
        kl_buf_free(&again);
        kl_session_free(s);
        kl_replayed_free(r);
    }
    ck_assert_uint_gt(corrupt, 0);
    free(x);
}

START_TEST(cut_or_flipped_bytes_give_corrupt_or_a_session_never_a_crash)
{
    kl_buf w = {0};
    for (int i = -1; i < 2; i++) {
        kl_session *s = i < 0 ? full_session() : tu_session(i);
        w.len = 0;
        ck_assert_int_eq(kl_session_encode(s, &w), KL_OK);
        check_cuts(buf_bytes(&w), false);
        check_flips(buf_bytes(&w), false);
        kl_session_free(s);
    }
    kl_replayed *r = full_replayed();
    w.len = 0;
    ck_assert_int_eq(kl_replayed_encode(r, &w), KL_OK);
    check_cuts(buf_bytes(&w), true);
    check_flips(buf_bytes(&w), true);
    kl_replayed_free(r);
    kl_buf_free(&w);
}
END_TEST

/* Every field of an empty message is unset, so it encodes as no bytes, and no bytes are the
 * empty message, not an error: protobuf's rule, which a transport with a length keeps. */
START_TEST(no_bytes_are_the_empty_session_which_encodes_as_none)
{
    kl_session empty = {0};
    kl_buf w = {0};
    ck_assert_int_eq(kl_session_encode(&empty, &w), KL_OK);
    ck_assert_uint_eq(w.len, 0);
    kl_replayed empty_r = {0};
    ck_assert_int_eq(kl_replayed_encode(&empty_r, &w), KL_OK);
    ck_assert_uint_eq(w.len, 0);
    kl_buf_free(&w);
    kl_session *s;
    ck_assert_int_eq(kl_session_decode(NULL, 0, &s, NULL), KL_OK);
    ck_assert_ptr_null(s->id);
    ck_assert(!s->call_from_inbound.present);
    ck_assert_uint_eq(s->n_actions, 0);
    kl_session_free(s);
    kl_replayed *r;
    ck_assert_int_eq(kl_replayed_decode(NULL, 0, &r, NULL), KL_OK);
    ck_assert_ptr_null(r->session_id);
    ck_assert_uint_eq(r->n_actions + r->n_errors + r->n_unused_calls, 0);
    kl_replayed_free(r);
}
END_TEST

START_TEST(a_record_decodes_as_a_session_holding_its_bytes_or_is_corrupt)
{
    kl_session *s = tu_session(1);
    kl_buf rec = {0};
    ck_assert_int_eq(kli_encode_session(s, &rec), KL_OK);
    uint64_t len;
    int vl = kli_varint_get((const uint8_t *)rec.data, rec.len, &len);
    const uint8_t *body = (const uint8_t *)rec.data + vl;
    kl_bytes inner = record_member(&rec, 0x0a);
    char err[KL_ERRBUF_SIZE] = "";
    kl_session *d;
    /* Record field 1 (the session) reads as Session field 1 (the id): both are bytes. The id
     * holds them all, and reads as a C string up to their first NUL. */
    ck_assert_int_eq(kl_session_decode(body, (size_t)len, &d, err), KL_OK);
    ck_assert_uint_eq(strlen(d->id), strnlen((const char *)inner.data, inner.len));
    ck_assert_mem_eq(d->id, inner.data, strlen(d->id));
    ck_assert(!d->call_from_inbound.present);
    ck_assert_uint_eq(d->n_actions, 0);
    kl_session_free(d);

    kl_replayed *r = full_replayed();
    rec.len = 0;
    ck_assert_int_eq(kli_encode_replayed(r, &rec), KL_OK);
    vl = kli_varint_get((const uint8_t *)rec.data, rec.len, &len);
    body = (const uint8_t *)rec.data + vl;
    /* Record field 2 (the replayed session) has the wrong wire type for either message's. */
    ck_assert_int_eq(kl_session_decode(body, (size_t)len, &d, err), KL_ERR_CORRUPT);
    ck_assert_str_eq(err, "unexpected wire type (field 2)");
    ck_assert_ptr_null(d);
    kl_replayed *dr;
    err[0] = '\0';
    ck_assert_int_eq(kl_replayed_decode(body, (size_t)len, &dr, err), KL_ERR_CORRUPT);
    ck_assert_str_eq(err, "unexpected wire type (field 2)");
    ck_assert_ptr_null(dr);
    kl_replayed_free(r);
    kl_session_free(s);
    kl_buf_free(&rec);
}
END_TEST

START_TEST(messages_past_the_limit_are_refused_both_ways)
{
    uint8_t *big = calloc(KL_MAX_RECORD + 1, 1);
    ck_assert_ptr_nonnull(big);
    kl_session s = {0};
    s.call_from_inbound.present = true;
    s.call_from_inbound.request = (kl_bytes){big, KL_MAX_RECORD};
    kl_buf w = {0};
    ck_assert_int_eq(kl_buf_append(&w, "x", 1), KL_OK);
    ck_assert_int_eq(kl_session_encode(&s, &w), KL_ERR_TOOBIG);
    ck_assert_uint_eq(w.len, 1);
    kl_buf_free(&w);
    kl_session *d;
    char err[KL_ERRBUF_SIZE] = "";
    ck_assert_int_eq(kl_session_decode(big, KL_MAX_RECORD + 1, &d, err), KL_ERR_TOOBIG);
    ck_assert_ptr_null(d);
    ck_assert_str_eq(err, "message of 67108865 bytes exceeds limit 67108864");
    free(big);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, every_session_field_survives_a_round_trip);
    tcase_add_test(tc, an_empty_session_round_trips_as_empty);
    tcase_add_test(tc, scan_takes_the_time_from_the_id_when_there_is_no_inbound);
    tcase_add_test(tc, malformed_records_are_corrupt_not_crashes);
    tcase_add_test(tc, varints_round_trip_and_reject_overlong_input);
    tcase_add_test(tc, sample_sessions_encode_exactly_as_protobuf_c_does);
    tcase_add_test(tc, replayed_sessions_encode_exactly_as_protobuf_c_does);
    tcase_add_test(tc, sessions_larger_than_the_encoders_stack_encode_exactly_as_protobuf_c_does);
    tcase_add_test(tc, unpacked_repeated_scalars_decode_too);
    tcase_add_test(tc, unknown_fields_from_newer_writers_are_skipped);
    tcase_add_test(tc, a_session_round_trips_alone_with_every_field);
    tcase_add_test(tc, a_replayed_session_round_trips_alone_with_every_field);
    tcase_add_test(tc, decoded_sessions_own_their_bytes);
    tcase_add_test(tc, decoded_sessions_take_more_like_any_owning_session);
    tcase_add_test(tc, cut_or_flipped_bytes_give_corrupt_or_a_session_never_a_crash);
    tcase_add_test(tc, no_bytes_are_the_empty_session_which_encodes_as_none);
    tcase_add_test(tc, a_record_decodes_as_a_session_holding_its_bytes_or_is_corrupt);
    tcase_add_test(tc, messages_past_the_limit_are_refused_both_ways);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
