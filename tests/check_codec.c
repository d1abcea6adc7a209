/* check_codec.c - tests of libkoala/codec.c: every field survives encode and decode. */
#include "testutil.h"
#include "kl_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

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

static const kl_session *roundtrip(const kl_session *s, kli_mem *m, kl_buf *b)
{
    b->len = 0;
    kli_mem *scratch = kli_mem_new();
    ck_assert_int_eq(kli_encode_session(s, scratch, b), KL_OK);
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

START_TEST(every_session_field_survives_a_round_trip)
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
    kli_mem *m = kli_mem_new();
    ck_assert_int_eq(kli_encode_session(&s, m, &b), KL_OK);
    kl_kind kind;
    int64_t t;
    char id[8];
    ck_assert_int_eq(kli_scan_record((const uint8_t *)b.data + 1, b.len - 1, &kind, &t, id, sizeof id), KL_OK);
    ck_assert_int_eq(t, 1700000000123456789);
    ck_assert_str_eq(id, "1700000"); /* truncated to the buffer */
    kl_buf_free(&b);
    kli_mem_free(m);
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

static Suite *suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, every_session_field_survives_a_round_trip);
    tcase_add_test(tc, an_empty_session_round_trips_as_empty);
    tcase_add_test(tc, scan_takes_the_time_from_the_id_when_there_is_no_inbound);
    tcase_add_test(tc, malformed_records_are_corrupt_not_crashes);
    tcase_add_test(tc, varints_round_trip_and_reject_overlong_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
