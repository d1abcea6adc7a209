/* check_import.c - tests for import.c: the original koala's session files, and the sessions its
 * replay protocol sends, read into sessions. */
#include "testutil.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static kl_session *import_ok(const void *text, size_t len)
{
    kl_session *s = NULL;
    char err[KL_ERRBUF_SIZE] = "";
    int rc = kl_import_koala_json(text, len, &s, err);
    ck_assert_msg(rc == KL_OK, "import failed (%d): %s", rc, err);
    ck_assert_ptr_nonnull(s);
    return s;
}

static kl_session *import_str(const char *text)
{
    return import_ok(text, strlen(text));
}

typedef int read_fn(const uint8_t *data, size_t len, kl_session **out, char *errbuf);

/* Read text (kl_import_koala_json, kl_replaying_from_json) that must fail with rc; the message
 * must be want. */
static void read_fails(read_fn *reader, const char *text, int rc, const char *want)
{
    kl_session *s = (kl_session *)1;
    char err[KL_ERRBUF_SIZE] = "";
    ck_assert_int_eq(reader((const uint8_t *)text, strlen(text), &s, err), rc);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(err, want);
}

static void import_fails(const char *text, int rc, const char *want)
{
    read_fails(kl_import_koala_json, text, rc, want);
}

static char *export(const kl_session *s, unsigned flags)
{
    kl_buf b = {0};
    ck_assert_int_eq(kl_json_session(s, flags, &b), KL_OK);
    return b.data ? b.data : strdup("");
}

/* Two sessions hold the same fields when they encode to the same protobuf bytes. */
static void ck_same_session(const kl_session *a, const kl_session *b)
{
    kl_buf x = {0}, y = {0};
    ck_assert_int_eq(kl_session_encode(a, &x), KL_OK);
    ck_assert_int_eq(kl_session_encode(b, &y), KL_OK);
    if (x.len != y.len || (x.len && memcmp(x.data, y.data, x.len))) {
        char *ja = export(a, KL_JSON_EXTRA), *jb = export(b, KL_JSON_EXTRA);
        ck_abort_msg("sessions differ:\n%s\n%s", ja, jb);
    }
    kl_buf_free(&x);
    kl_buf_free(&y);
}

static unsigned char *fixture(size_t *len)
{
    unsigned char *f = tu_read_file(TU_FIXTURE, len);
    ck_assert_ptr_nonnull(f);
    return f;
}

/* The fixture with the first occurrence of from replaced by to, NUL-terminated. */
static char *fixture_edit(const char *from, const char *to)
{
    size_t len;
    char *f = (char *)fixture(&len);
    f = realloc(f, len + 1);
    f[len] = '\0';
    char *at = strstr(f, from);
    ck_assert_msg(at != NULL, "no %s in the fixture", from);
    size_t n = len - strlen(from) + strlen(to);
    char *out = malloc(n + 1);
    size_t pre = (size_t)(at - f);
    memcpy(out, f, pre);
    strcpy(out + pre, to);
    strcat(out + pre, at + strlen(from));
    free(f);
    return out;
}

/* A session whose byte fields hold every kind of byte. */
static kl_session *binary_session(unsigned seed)
{
    kl_session *s = tu_session((int)seed);
    uint8_t buf[600];
    srand(seed);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rand();
    /* the classes the escaping treats apart, among the noise */
    static const uint8_t classes[] = "\\x41\\\"\n\r\t<>&\xe2\x80\xa8\xe2\x80\xa9\xef\xbf\xbd"
                                     "\xc3\xa9\xf0\x9f\x98\x80\xc0\x80\xed\xa0\x80\xff\x00";
    memcpy(buf + 100, classes, sizeof classes);
    ck_assert_int_eq(kl_session_dup_bytes(s, &s->call_from_inbound.request, buf, 300), KL_OK);
    ck_assert_int_eq(kl_session_dup_bytes(s, &s->return_inbound.response, buf + 50, 400), KL_OK);
    ck_assert_int_eq(kl_session_dup_bytes(s, &s->trace_id, buf + 99, 20), KL_OK);
    ck_assert_int_eq(kl_session_add_kv(s, &s->trace_header, &s->n_trace_header,
                                       (kl_bytes){buf + 101, 7}, (kl_bytes){buf + 110, 30}),
                     KL_OK);
    ck_assert_int_eq(kl_session_add_kv(s, &s->labels, &s->n_labels, (kl_bytes){buf + 3, 5},
                                       (kl_bytes){buf, 0}),
                     KL_OK);
    kl_action *a = (kl_action *)&s->actions[0];
    ck_assert_int_eq(kl_session_dup_bytes(s, &a->response, buf + 200, 400), KL_OK);
    ck_assert_int_eq(kl_session_dup_bytes(s, &a->cspan_id, buf + 90, 16), KL_OK);
    return s;
}

/* ---- the fixture ---- */

START_TEST(fixture_lands_in_every_field_of_the_session)
{
    size_t len;
    unsigned char *f = fixture(&len);
    kl_session *s = import_ok(f, len);
    ck_assert_str_eq(s->id, "1548160113499755925-1158745");
    ck_assert_str_eq(s->next_session_id, "1548160119582448050-1158745");
    ck_assert_str_eq(s->context, "");
    ck_assert_int_eq(s->thread_id, 1158745);
    ck_assert_uint_eq(s->n_trace_header, 0);
    ck_assert_uint_eq(s->trace_id.len + s->span_id.len, 0);

    const kl_call_from_inbound *in = &s->call_from_inbound;
    ck_assert(in->present);
    ck_assert_int_eq(in->index, 0);
    ck_assert_int_eq(in->occurred_at, 1548160113500144162LL);
    ck_assert_int_eq(in->peer.family, 0);
    ck_assert_str_eq(in->peer.unix_path, "/usr/local/var/run/php-fpm.sock");
    ck_assert_str_eq(in->peer.unix_net, "unix");
    /* FastCGI: a BEGIN_REQUEST record, the params, and the empty STDIN that ends it */
    ck_assert_uint_ge(in->request.len, 16);
    ck_assert_mem_eq(in->request.data, "\x01\x01\x00\x01\x00\x08\x00\x00", 8);
    ck_assert_mem_eq(in->request.data + in->request.len - 8, "\x01\x05\x00\x01\x00\x00\x00\x00", 8);
    ck_assert_ptr_nonnull(memmem(in->request.data, in->request.len, "\x0f\x1eSCRIPT_FILENAME", 17));

    const kl_return_inbound *ri = &s->return_inbound;
    ck_assert(ri->present);
    ck_assert_int_eq(ri->index, 1);
    ck_assert_int_eq(ri->occurred_at, 1548160116065929703LL);
    ck_assert_ptr_nonnull(memmem(ri->response.data, ri->response.len,
                                 "Hello, Midi!\n<!DOCTYPE html>", 28));
    ck_assert_mem_eq(ri->response.data + ri->response.len - 16,
                     "\x01\x03\x00\x01\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 16);

    ck_assert_uint_eq(s->n_actions, 2);
    const kl_action *a = &s->actions[0];
    ck_assert_int_eq(a->type, KL_ACTION_CALL_OUTBOUND);
    ck_assert_int_eq(a->index, 0);
    ck_assert_int_eq(a->occurred_at, 1548160113809542915LL);
    ck_assert_int_eq(a->socket_fd, 12);
    ck_assert_int_eq(a->response_time, 1548160114250896206LL);
    char addr[KL_ADDR_STRLEN];
    ck_assert_str_eq(kl_addr_format(&a->peer, addr, sizeof addr), "185.85.0.29:80");
    ck_assert_int_eq(a->local.family, 0);
    ck_assert_uint_eq(a->request.len, 62);
    ck_assert_mem_eq(a->request.data, "GET /get-involved.php HTTP/1.1\r\nHost: php.net\r\n", 47);
    ck_assert_mem_eq(a->response.data + a->response.len - 7, "\r\n0\r\n\r\n", 7);
    ck_assert_uint_eq(a->cspan_id.len, 0);
    ck_assert_int_eq(s->actions[1].type, KL_ACTION_RETURN_INBOUND);
    ck_assert_int_eq(s->actions[1].index, 1);
    ck_assert_int_eq(s->actions[1].occurred_at, ri->occurred_at);
    kl_session_free(s);
    free(f);
}
END_TEST

START_TEST(fixture_exports_back_byte_for_byte)
{
    size_t len;
    unsigned char *f = fixture(&len);
    kl_session *s = import_ok(f, len);
    char *got = export(s, KL_JSON_PRETTY);
    ck_assert_uint_eq(strlen(got), len);
    ck_assert_mem_eq(got, f, len);
    free(got);
    kl_session_free(s);
    free(f);
}
END_TEST

/* JSON -> session -> file -> session -> JSON -> session: nothing changes on the way. */
static void round_trip_through_a_file(const kl_session *orig, unsigned flags)
{
    char *json = export(orig, flags);
    kl_session *a = import_str(json);
    ck_same_session(a, orig);

    const char *path = tu_path("round.pb");
    kl_writer *w;
    ck_assert_int_eq(kl_writer_open(&w, path, NULL), KL_OK);
    ck_assert_int_eq(kl_writer_write(w, a), KL_OK);
    ck_assert_int_eq(kl_writer_close(w), KL_OK);
    kl_reader *r;
    const kl_session *back;
    ck_assert_int_eq(kl_reader_open(&r, path, NULL), KL_OK);
    ck_assert_int_eq(kl_reader_next(r, &back), KL_OK);
    char *json2 = export(back, flags);
    ck_assert_str_eq(json2, json);
    kl_session *b = import_str(json2);
    ck_same_session(b, orig);
    kl_reader_close(r);
    kl_session_free(a);
    kl_session_free(b);
    free(json);
    free(json2);
}

START_TEST(fixture_round_trips_through_a_session_file)
{
    size_t len;
    unsigned char *f = fixture(&len);
    kl_session *s = import_ok(f, len);
    round_trip_through_a_file(s, KL_JSON_PRETTY);
    round_trip_through_a_file(s, 0);
    kl_session_free(s);
    free(f);
}
END_TEST

START_TEST(generated_sessions_round_trip_with_koala_s_own_fields)
{
    kl_session *s = tu_session(_i);
    ck_assert_int_eq(kl_session_add_kv(s, &s->labels, &s->n_labels, (kl_bytes){(const uint8_t *)"env", 3},
                                       (kl_bytes){(const uint8_t *)"prod", 4}),
                     KL_OK);
    s->truncated = _i % 2;
    round_trip_through_a_file(s, KL_JSON_PRETTY | KL_JSON_EXTRA);
    round_trip_through_a_file(s, KL_JSON_EXTRA);
    kl_session_free(s);
}
END_TEST

START_TEST(every_byte_value_round_trips_in_every_byte_field)
{
    kl_session *s = binary_session((unsigned)_i);
    round_trip_through_a_file(s, KL_JSON_EXTRA);
    round_trip_through_a_file(s, KL_JSON_PRETTY | KL_JSON_EXTRA);
    kl_session_free(s);
}
END_TEST

START_TEST(every_action_type_and_address_form_round_trips)
{
    kl_session *s = kl_session_new();
    ck_assert_int_eq(kl_session_dup_str(s, &s->id, "5-6"), KL_OK);
    ck_assert_int_eq(kl_session_dup_str(s, &s->context, "ctx \"quoted\" \\ <tag> \x01 \xc3\xa9"), KL_OK);
    s->call_from_inbound.present = true;
    ck_assert_int_eq(kl_addr_parse("[fe80::1%eth0]:8080", &s->call_from_inbound.peer), KL_OK);
    kl_action a[7];
    memset(a, 0, sizeof a);
    a[0] = (kl_action){.type = KL_ACTION_APPEND_FILE, .index = 0, .occurred_at = 10,
                       .file_name = "/tmp/a b.log", .content = {(const uint8_t *)"hi\n", 3}};
    a[1] = (kl_action){.type = KL_ACTION_SEND_UDP, .index = 1, .occurred_at = 11,
                       .content = {(const uint8_t *)"m:1|c", 5}};
    ck_assert_int_eq(kl_addr_parse("[2001:db8::7]:8125", &a[1].peer), KL_OK);
    a[2] = (kl_action){.type = KL_ACTION_READ_STORAGE, .index = 2, .occurred_at = 12,
                       .content = {(const uint8_t *)"k", 1}};
    a[3] = (kl_action){.type = KL_ACTION_CALL_FUNCTION, .index = 3, .occurred_at = 13,
                       .call_into_file = "a.php", .call_into_line = 7, .call_from_file = "b.php",
                       .call_from_line = -9, .func_name = "f",
                       .args_json = "[1,\"x \\\" y\",{\"k\":[true,null,2.5e3]},{}]"};
    a[4] = (kl_action){.type = KL_ACTION_RETURN_FUNCTION, .index = 4, .occurred_at = 14,
                       .call_function_id = "13", .return_value_json = "\"done\""};
    a[5] = (kl_action){.type = KL_ACTION_CALL_OUTBOUND, .index = 5, .occurred_at = 15,
                       .socket_fd = 9, .response_time = 16,
                       .request = {(const uint8_t *)"q", 1}, .response = {(const uint8_t *)"r", 1}};
    ck_assert_int_eq(kl_addr_parse("unixgram:/run/db.sock", &a[5].peer), KL_OK);
    ck_assert_int_eq(kl_addr_parse("10.1.2.3:55000", &a[5].local), KL_OK);
    a[6] = (kl_action){.type = KL_ACTION_NONE, .index = 6, .occurred_at = 17};
    for (size_t i = 0; i < 7; i++)
        ck_assert_int_eq(kl_session_add_action(s, &a[i]), KL_OK);
    ck_assert_int_eq(kl_session_add_kv(s, &s->redirect_dirs, &s->n_redirect_dirs,
                                       (kl_bytes){(const uint8_t *)"/data", 5},
                                       (kl_bytes){(const uint8_t *)"/tmp/data", 9}),
                     KL_OK);
    ck_assert_int_eq(kl_session_add_kv(s, &s->mock_files, &s->n_mock_files,
                                       (kl_bytes){(const uint8_t *)"/etc/x", 6},
                                       (kl_bytes){(const uint8_t *)"\0\1\2", 3}),
                     KL_OK);
    round_trip_through_a_file(s, KL_JSON_PRETTY | KL_JSON_EXTRA);
    round_trip_through_a_file(s, KL_JSON_EXTRA);
    char *json = export(s, 0);
    kl_session *back = import_str(json);
    free(json);
    ck_assert_str_eq(back->actions[3].args_json, a[3].args_json);
    ck_assert_str_eq(back->actions[4].return_value_json, "\"done\"");
    ck_assert_str_eq(back->call_from_inbound.peer.zone, "eth0");
    kl_session_free(back);
    /* Embedded JSON comes back as the export wrote it, which escapes < > & as Go does: the
     * same JSON value, another text. */
    ((kl_action *)&s->actions[3])->args_json = "{\"a\":\"<b>\"}";
    json = export(s, 0);
    back = import_str(json);
    free(json);
    ck_assert_str_eq(back->actions[3].args_json, "{\"a\":\"\\u003cb\\u003e\"}");
    kl_session_free(back);
    kl_session_free(s);
}
END_TEST

/* ---- what the reader allows ---- */

START_TEST(members_come_in_any_order_with_any_white_space_and_unknown_ones_are_skipped)
{
    const char *a = "{\"SessionId\":\"1-2\",\"ThreadId\":2,\"CallFromInbound\":{\"ActionIndex\":0,"
                    "\"OccurredAt\":5,\"ActionType\":\"CallFromInbound\",\"Peer\":{\"IP\":\"1.2.3.4\","
                    "\"Port\":80,\"Zone\":\"\"},\"Request\":\"GET\\\\x00\"},\"Actions\":[{\"ActionType\":"
                    "\"SendUDP\",\"Content\":\"x\"}]}";
    const char *b = "\t{ \"Actions\" : [ { \"Content\" : \"x\" , \"Future\" : {\"a\":[1]} ,\n"
                    "\"ActionType\" : \"SendUDP\" } ] ,\r\n \"CallFromInbound\" : { \"Request\" : "
                    "\"GET\\u005cx00\", \"Peer\": {\"Port\": 80, \"IP\": \"1.2.3.4\"}, \"OccurredAt\""
                    ": 5, \"ActionType\": \"CallFromInbound\" }, \"ThreadId\" : 2 , \"SessionId\" : "
                    "\"1-2\", \"Comment\": \"not ours\" }\n\n";
    kl_session *x = import_str(a), *y = import_str(b);
    ck_same_session(x, y);
    ck_assert_uint_eq(x->call_from_inbound.request.len, 4);
    ck_assert_mem_eq(x->call_from_inbound.request.data, "GET\0", 4);
    kl_session_free(x);
    kl_session_free(y);
}
END_TEST

START_TEST(null_and_missing_members_are_empty)
{
    kl_session *x = import_str("{}");
    kl_session *y = import_str("{\"Context\":null,\"ThreadId\":null,\"SessionId\":null,"
                               "\"TraceHeader\":null,\"CallFromInbound\":null,\"ReturnInbound\":null,"
                               "\"Actions\":null,\"TraceId\":null,\"Truncated\":null}");
    kl_session empty = {0};
    ck_same_session(x, &empty);
    ck_same_session(y, &empty);
    ck_assert(!x->call_from_inbound.present && !x->return_inbound.present);
    char *got = export(y, 0), *want = export(&empty, 0);
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
    kl_session_free(x);
    kl_session_free(y);
}
END_TEST

START_TEST(escapes_may_themselves_be_written_as_json_escapes)
{
    /* \x41 with its 'x' and digits as \u escapes, upper-case hex, a surrogate pair, \/ */
    kl_session *s = import_str("{\"TraceId\":\"\\\\\\u0078\\u00341\\\\x4A\\ud83d\\ude00\\/\\b\\f\"}");
    ck_assert_uint_eq(s->trace_id.len, 9);
    ck_assert_mem_eq(s->trace_id.data, "AJ\xf0\x9f\x98\x80/\b\f", 9);
    kl_session_free(s);
}
END_TEST

START_TEST(plain_stream_records_read_back_in_order)
{
    kl_buf stream = {0};
    for (int i = 0; i < 5; i++) {
        kl_session *s = tu_session(i);
        ck_assert_int_eq(kl_session_encode_record(s, &stream), KL_OK);
        kl_session_free(s);
    }
    kl_reader *r;
    ck_assert_int_eq(kl_reader_open_mem(&r, stream.data, stream.len, "mem", NULL), KL_OK);
    const kl_session *got;
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(kl_reader_next(r, &got), KL_OK);
        kl_session *want = tu_session(i);
        ck_same_session(got, want);
        kl_session_free(want);
    }
    ck_assert_int_eq(kl_reader_next(r, &got), KL_END);
    kl_reader_close(r);
    ck_assert_int_eq(kl_session_encode_record(NULL, &stream), KL_ERR_INVALID);
    kl_buf_free(&stream);
}
END_TEST

/* ---- errors ---- */

START_TEST(a_bad_escape_is_named_by_path_and_line)
{
    char *text = fixture_edit("\\\\x0f\\\\x1eSCRIPT", "\\\\xZf\\\\x1eSCRIPT");
    import_fails(text, KL_ERR_CORRUPT,
                 "$.CallFromInbound.Request: bad escape \\xZ at line 20, column 137");
    free(text);
    text = fixture_edit("\\\\x00\\\\x00\\\\x00\\\\x01\\\\x03",
                        "\\\\x00\\\\x00\\\\x00\\\\x01\\\\q3");
    import_fails(text, KL_ERR_CORRUPT, "$.ReturnInbound.Response: bad escape \\q at line 26, column 310");
    free(text);
}
END_TEST

static const struct {
    const char *text, *err;
} bad_cases[] = {
    {"", "$: expected '{', a session's start at line 1, column 1"},
    {"  \n [1]", "$: expected '{', a session's start at line 2, column 2"},
    {"{\"A\":1} x", "$: unexpected text after the session at line 1, column 9"},
    {"{\"Actions\":[{\"ActionType\":\"SendUDP\",\"Peer\":{\"IP\" \"x\"}}]}",
     "$.Actions[0].Peer: expected ':' after a key at line 1, column 50"},
    {"{\"TraceHeader\":{\"a.b\":\"\\x\"}}",
     "$.TraceHeader[\"a.b\"]: unknown escape in a string at line 1, column 24"},
    {"{\"ThreadId\":\"7\"}", "$.ThreadId: expected an integer, found a string at line 1, column 13"},
    {"{\"ThreadId\":7.0}", "$.ThreadId: expected an integer, found 7.0 at line 1, column 13"},
    {"{\"Pid\":9223372036854775808}",
     "$.Pid: 9223372036854775808 is out of the 64-bit range at line 1, column 8"},
    {"{\"Truncated\":1}", "$.Truncated: expected a boolean, found a number at line 1, column 14"},
    {"{\"Actions\":{}}", "$.Actions: expected an array, found an object at line 1, column 12"},
    {"{\"Actions\":[7]}", "$.Actions[0]: expected an object, found a number at line 1, column 13"},
    {"{\"Actions\":[{}]}", "$.Actions[0]: an action without ActionType at line 1, column 13"},
    {"{\"Actions\":[{\"ActionType\":\"Teleport\"}]}",
     "$.Actions[0].ActionType: unknown action type \"Teleport\" at line 1, column 27"},
    {"{\"Actions\":[{\"ActionType\":\"SendUDP\",\"ActionType\":\"SendUDP\"}]}",
     "$.Actions[0]: a second member of this name at line 1, column 37"},
    {"{\"SessionId\":\"a\",\"SessionId\":\"b\"}",
     "$.SessionId: a second member of this name at line 1, column 18"},
    {"{\"CallFromInbound\":{\"ActionType\":\"ReturnInbound\"}}",
     "$.CallFromInbound.ActionType: \"ReturnInbound\" where \"CallFromInbound\" belongs at line 1, column 34"},
    {"{\"CallFromInbound\":{\"Peer\":{\"IP\":\"1.2.3\"}}}",
     "$.CallFromInbound.Peer.IP: \"1.2.3\" is not an IP address at line 1, column 34"},
    {"{\"CallFromInbound\":{\"Peer\":{\"Port\":65536}}}",
     "$.CallFromInbound.Peer.Port: port 65536 is out of range at line 1, column 36"},
    {"{\"CallFromInbound\":{\"Peer\":{\"Zone\":\"0123456789abcdef\"}}}",
     "$.CallFromInbound.Peer.Zone: 16 bytes, more than the 15 an address holds at line 1, column 36"},
    {"{\"CallFromInbound\":{\"UnixAddr\":{\"Net\":7}}}",
     "$.CallFromInbound.UnixAddr.Net: expected a string, found a number at line 1, column 39"},
    {"{\"Host\":\"a\\u0000b\"}",
     "$.Host: a text field cannot hold the character U+0000 at line 1, column 9"},
    {"{\"TraceId\":\"ab\\\\x4\"}", "$.TraceId: bad escape \\x4 (the string ends) at line 1, column 15"},
    {"{\"TraceId\":\"\\\\\"}", "$.TraceId: bad escape \\ (the string ends) at line 1, column 13"},
    {"{\"SpanId\":\"\\\\x\\n0\"}", "$.SpanId: bad escape \\x\\u000a at line 1, column 12"},
    {"{\"Labels\":{\"\\\\x4g\":\"\"}}", "$.Labels[\"\\\\x4g\"]: bad escape \\x4g at line 1, column 13"},
    {"{\"ReturnInbound\":{\"Response\":\"a\"},\"Actions\":[{\"ActionType\":\"ReturnInbound\","
     "\"Response\":\"b\"}]}",
     "$.Actions[0].Response: differs from $.ReturnInbound.Response, which the original wrote "
     "here too at line 1, column 87"},
};

START_TEST(malformed_sessions_fail_naming_path_and_place)
{
    import_fails(bad_cases[_i].text, KL_ERR_CORRUPT, bad_cases[_i].err);
}
END_TEST

START_TEST(deep_nesting_is_refused_by_its_path)
{
    kl_buf b = {0};
    ck_assert_int_eq(kl_buf_printf(&b, "{\"Actions\":[{\"ActionType\":\"CallFunction\",\"Args\":"),
                     KL_OK);
    for (int i = 0; i < KL_JSON_MAX_DEPTH; i++)
        ck_assert_int_eq(kl_buf_append(&b, "[", 1), KL_OK);
    kl_session *s = (kl_session *)1;
    char err[KL_ERRBUF_SIZE] = "";
    ck_assert_int_eq(kl_import_koala_json((const uint8_t *)b.data, b.len, &s, err), KL_ERR_TOOBIG);
    ck_assert_ptr_null(s);
    ck_assert_msg(strncmp(err, "$...[0][0]", 10) == 0 &&
                  strstr(err, ": arrays and objects nested too deep at line 1, column 558"),
                  "%s", err);
    kl_buf_free(&b);
}
END_TEST

START_TEST(arguments_are_checked_before_anything_is_read)
{
    kl_session *s = (kl_session *)1;
    char err[KL_ERRBUF_SIZE] = "";
    ck_assert_int_eq(kl_import_koala_json(NULL, 1, &s, err), KL_ERR_INVALID);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(kl_import_koala_json((const uint8_t *)"{}", 2, NULL, err), KL_ERR_INVALID);
    /* the length is checked before a byte is read */
    ck_assert_int_eq(kl_import_koala_json((const uint8_t *)"{}", (size_t)KL_MAX_KOALA_JSON + 1, &s, err),
                     KL_ERR_TOOBIG);
    ck_assert_str_eq(err, "402653185 bytes of JSON exceed the limit of 402653184");
    ck_assert_int_eq(kl_import_koala_json((const uint8_t *)"{}", 2, &s, NULL), KL_OK);
    kl_session_free(s);
    ck_assert_int_eq(kl_import_koala_json((const uint8_t *)"{", 1, &s, NULL), KL_ERR_CORRUPT);
}
END_TEST

START_TEST(every_cut_and_every_byte_change_of_the_fixture_fails_cleanly_or_imports)
{
    size_t len;
    unsigned char *f = fixture(&len);
    /* cuts: exact-size copies, so that ASan catches a read past the end */
    for (size_t n = 0; n < len; n += (n < 2000 || len - n < 200) ? 1 : 97) {
        unsigned char *cut = malloc(n ? n : 1);
        memcpy(cut, f, n);
        kl_session *s = (kl_session *)1;
        char err[KL_ERRBUF_SIZE] = "";
        ck_assert_int_eq(kl_import_koala_json(cut, n, &s, err), KL_ERR_CORRUPT);
        ck_assert_ptr_null(s);
        ck_assert_msg(err[0] == '$' && strstr(err, " at line "), "%s", err);
        free(cut);
    }
    srand(6);
    for (int i = 0; i < 3000; i++) {
        size_t at = (size_t)rand() % len;
        unsigned char old = f[at];
        f[at] = (unsigned char)"\\\"{}[],:x0 \n"[rand() % 12];
        kl_session *s = NULL;
        char err[KL_ERRBUF_SIZE] = "";
        int rc = kl_import_koala_json(f, len, &s, err);
        ck_assert_msg(rc == KL_OK || (rc == KL_ERR_CORRUPT && err[0] == '$'), "%d %s", rc, err);
        ck_assert((rc == KL_OK) == (s != NULL));
        kl_session_free(s);
        f[at] = old;
    }
    free(f);
}
END_TEST

/* ---- the original replayer's /json sessions (kl_replaying_from_json) ---- */

static int take_replaying(const char *json, kl_session **s, char *err)
{
    return kl_replaying_from_json((const uint8_t *)json, strlen(json), s, err);
}

START_TEST(a_replaying_session_lands_in_every_field)
{
    const char *json =
        "{\"SessionId\":\"1795336763808267798-77\","
        "\"CallFromInbound\":{\"OccurredAt\":1795336763808267798,\"ActionIndex\":0,"
        "\"Peer\":{\"IP\":\"fe80::1\",\"Port\":51000,\"Zone\":\"3\"},\"Request\":\"R0VUIC8=\"},"
        "\"ReturnInbound\":{\"OccurredAt\":5,\"ActionIndex\":3,\"Response\":\"b2s=\"},"
        "\"CallOutbounds\":[{\"ActionIndex\":1,\"OccurredAt\":7,\"Peer\":{\"IP\":\"10.0.0.5\",\"Port\":3306},"
        "\"SocketFD\":9,\"Request\":\"\",\"Response\":\"aGk=\",\"ResponseTime\":8,\"Ignored\":true}],"
        "\"RedirectDirs\":{\"/data/\":\"/tmp/data/\"},\"MockFiles\":{\"/etc/a\":\"YWJj\"},\"Extra\":[1]}";
    kl_session *s;
    char err[KL_ERRBUF_SIZE];
    ck_assert_int_eq(take_replaying(json, &s, err), KL_OK);
    ck_assert_str_eq(s->id, "1795336763808267798-77");
    ck_assert(s->call_from_inbound.present);
    ck_assert_int_eq(s->call_from_inbound.occurred_at, 1795336763808267798LL);
    ck_assert_uint_eq(s->call_from_inbound.request.len, 5);
    ck_assert_mem_eq(s->call_from_inbound.request.data, "GET /", 5);
    char a[KL_ADDR_STRLEN];
    ck_assert_str_eq(kl_addr_format(&s->call_from_inbound.peer, a, sizeof a), "[fe80::1%3]:51000");
    ck_assert_mem_eq(s->return_inbound.response.data, "ok", 2);
    ck_assert_int_eq(s->return_inbound.index, 3);
    ck_assert_uint_eq(s->n_actions, 1);
    const kl_action *c = &s->actions[0];
    ck_assert_int_eq(c->type, KL_ACTION_CALL_OUTBOUND);
    ck_assert_int_eq(c->index, 1);
    ck_assert_int_eq(c->socket_fd, 9);
    ck_assert_int_eq(c->response_time, 8);
    ck_assert_uint_eq(c->request.len, 0);
    ck_assert_mem_eq(c->response.data, "hi", 2);
    ck_assert_str_eq(kl_addr_format(&c->peer, a, sizeof a), "10.0.0.5:3306");
    ck_assert_uint_eq(s->n_redirect_dirs, 1);
    ck_assert_mem_eq(s->redirect_dirs[0].value.data, "/tmp/data/", 10);
    ck_assert_uint_eq(s->n_mock_files, 1);
    ck_assert_mem_eq(s->mock_files[0].key.data, "/etc/a", 6);
    ck_assert_mem_eq(s->mock_files[0].value.data, "abc", 3);
    kl_session_free(s);
}
END_TEST

START_TEST(a_replaying_session_s_null_and_absent_members_are_empty)
{
    kl_session *s;
    char err[KL_ERRBUF_SIZE];
    ck_assert_int_eq(take_replaying("{\"SessionId\":null,\"CallOutbounds\":null,\"MockFiles\":null}",
                                    &s, err),
                     KL_OK);
    ck_assert_ptr_null(s->id);
    ck_assert_uint_eq(s->n_actions, 0);
    ck_assert(!s->call_from_inbound.present);
    kl_session_free(s);
}
END_TEST

START_TEST(base64_is_read_with_its_padding)
{
    static const struct {
        const char *text, *bytes;
        size_t n;
    } cases[] = {{"", "", 0}, {"YQ==", "a", 1}, {"YWI=", "ab", 2}, {"YWJj", "abc", 3},
                 {"AP8=", "\x00\xff", 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[128];
        snprintf(json, sizeof json, "{\"ReturnInbound\":{\"Response\":\"%s\"}}", cases[i].text);
        kl_session *s;
        ck_assert_int_eq(take_replaying(json, &s, NULL), KL_OK);
        size_t n = cases[i].n;
        ck_assert_uint_eq(s->return_inbound.response.len, n);
        if (n)
            ck_assert_mem_eq(s->return_inbound.response.data, cases[i].bytes, n);
        kl_session_free(s);
    }
}
END_TEST

START_TEST(a_bad_replaying_session_is_named_by_path_and_place)
{
    static const struct {
        const char *json, *err;
    } cases[] = {
        {"{\"CallOutbounds\":[{},{\"Request\":\"YQ\"}]}",
         "$.CallOutbounds[1].Request: not base64: its length is not a multiple of 4 at line 1, column 33"},
        {"{\"CallOutbounds\":[{\"Response\":\"Y=Q=\"}]}",
         "$.CallOutbounds[0].Response: not base64: byte 1 is '=' at line 1, column 31"},
        {"{\"CallFromInbound\":{\"OccurredAt\":\"soon\"}}",
         "$.CallFromInbound.OccurredAt: expected an integer, found a string at line 1, column 34"},
        {"{\"CallOutbounds\":{}}",
         "$.CallOutbounds: expected an array, found an object at line 1, column 18"},
        {"{\"CallOutbounds\":[3]}",
         "$.CallOutbounds[0]: expected an object, found a number at line 1, column 19"},
        {"{\"CallOutbounds\":[{\"Peer\":{\"IP\":\"nowhere\",\"Port\":1}}]}",
         "$.CallOutbounds[0].Peer.IP: \"nowhere\" is not an IP address at line 1, column 33"},
        {"{\"MockFiles\":{\"/a\":7}}",
         "$.MockFiles[\"/a\"]: expected a string, found a number at line 1, column 20"},
        {"[1]",
         "$: expected '{', a session's start at line 1, column 1"},
        {"{\"a\":",
         "$.a: expected a value at line 1, column 6"},
        {"{\"CallOutbounds\":[{\"ActionType\":\"SendUDP\"}]}",
         "$.CallOutbounds[0].ActionType: \"SendUDP\" where \"CallOutbound\" belongs at line 1, column 33"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        read_fails(kl_replaying_from_json, cases[i].json, KL_ERR_CORRUPT, cases[i].err);
    kl_session *s;
    ck_assert_int_eq(kl_replaying_from_json(NULL, 3, &s, NULL), KL_ERR_INVALID);
}
END_TEST

/* ---- one action ---- */

/* Read text as an action of type into *a, owned by owner; it must succeed. */
static void action_ok(const char *text, kl_action_type type, kl_session *owner, kl_action *a)
{
    char err[KL_ERRBUF_SIZE] = "";
    int rc = kl_import_action_json((const uint8_t *)text, strlen(text), type, owner, a, err);
    ck_assert_msg(rc == KL_OK, "import failed (%d): %s", rc, err);
}

/* Read text as a CallFunction action; it must fail with rc and the message want. */
static void action_fails(const char *text, int rc, const char *want)
{
    kl_session *owner = kl_session_new();
    kl_action a = {0};
    char err[KL_ERRBUF_SIZE] = "";
    ck_assert_int_eq(kl_import_action_json((const uint8_t *)text, strlen(text), KL_ACTION_CALL_FUNCTION,
                                           owner, &a, err), rc);
    ck_assert_str_eq(err, want);
    kl_session_free(owner);
}

START_TEST(a_call_function_s_members_land_in_the_action)
{
    kl_session *owner = kl_session_new();
    kl_action a = {.index = -1, .occurred_at = 5};
    action_ok("{\"FuncName\": \"price\", \"CallFromFile\": \"svc.py\", \"CallFromLine\": 58,\n"
              " \"CallIntoFile\": \"shop.py\", \"CallIntoLine\": 3, \"Args\": [7, \"a b\", {\"k\": null}],\n"
              " \"Extra\": {\"skipped\": true}}",
              KL_ACTION_CALL_FUNCTION, owner, &a);
    ck_assert_int_eq(a.type, KL_ACTION_CALL_FUNCTION);
    ck_assert_str_eq(a.func_name, "price");
    ck_assert_str_eq(a.call_from_file, "svc.py");
    ck_assert_int_eq(a.call_from_line, 58);
    ck_assert_str_eq(a.call_into_file, "shop.py");
    ck_assert_int_eq(a.call_into_line, 3);
    ck_assert_str_eq(a.args_json, "[7,\"a b\",{\"k\":null}]");
    /* absent members leave what was there */
    ck_assert_int_eq(a.index, -1);
    ck_assert_int_eq(a.occurred_at, 5);
    kl_session_free(owner);
}
END_TEST

START_TEST(a_return_function_may_name_its_type_and_null_members_are_empty)
{
    kl_session *owner = kl_session_new();
    kl_action a = {0};
    action_ok("{\"ActionType\":\"ReturnFunction\",\"CallFunctionId\":\"1\",\"ReturnValue\":{\"price\": 12}}",
              KL_ACTION_RETURN_FUNCTION, owner, &a);
    ck_assert_str_eq(a.call_function_id, "1");
    ck_assert_str_eq(a.return_value_json, "{\"price\":12}");
    kl_action b = {.call_function_id = "was", .return_value_json = "kept"};
    action_ok("{\"CallFunctionId\":null}", KL_ACTION_RETURN_FUNCTION, owner, &b);
    ck_assert_ptr_null(b.call_function_id);
    ck_assert_str_eq(b.return_value_json, "kept");
    kl_session_free(owner);
}
END_TEST

START_TEST(a_bad_action_is_named_by_path_and_place)
{
    static const struct {
        const char *json, *err;
    } cases[] = {
        {"{\"FuncName\": \"tax\", \"CallIntoLine\": \"three\"}",
         "$.CallIntoLine: expected an integer, found a string at line 1, column 37"},
        {"{\"ActionType\":\"ReturnFunction\"}",
         "$.ActionType: \"ReturnFunction\" where \"CallFunction\" belongs at line 1, column 15"},
        {"[\"price\"]", "$: expected '{', an action's start at line 1, column 1"},
        {"", "$: expected '{', an action's start at line 1, column 1"},
        {"{} {}", "$: unexpected text after the action at line 1, column 4"},
        {"{\"Args\": [1,}", "$.Args[1]: expected a value at line 1, column 13"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        action_fails(cases[i].json, KL_ERR_CORRUPT, cases[i].err);
    char deep[8 + KL_JSON_MAX_DEPTH + 1] = "{\"Args\":";
    memset(deep + 8, '[', KL_JSON_MAX_DEPTH);
    action_fails(deep, KL_ERR_TOOBIG, "$...[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: arrays "
                                      "and objects nested too deep at line 1, column 520");
}
END_TEST

START_TEST(an_action_s_arguments_are_checked_before_anything_is_read)
{
    kl_session *owner = kl_session_new();
    kl_action a = {0};
    const uint8_t *t = (const uint8_t *)"{}";
    ck_assert_int_eq(kl_import_action_json(t, 2, KL_ACTION_CALL_FUNCTION, NULL, &a, NULL), KL_ERR_INVALID);
    ck_assert_int_eq(kl_import_action_json(t, 2, KL_ACTION_CALL_FUNCTION, owner, NULL, NULL), KL_ERR_INVALID);
    ck_assert_int_eq(kl_import_action_json(NULL, 2, KL_ACTION_CALL_FUNCTION, owner, &a, NULL), KL_ERR_INVALID);
    ck_assert_int_eq(kl_import_action_json(t, 2, KL_ACTION_RETURN_INBOUND, owner, &a, NULL), KL_ERR_INVALID);
    ck_assert_int_eq(kl_import_action_json(t, 2, KL_ACTION_TYPE_COUNT, owner, &a, NULL), KL_ERR_INVALID);
    ck_assert_int_eq(kl_import_action_json(t, 2, KL_ACTION_SEND_UDP, owner, &a, NULL), KL_OK);
    ck_assert_int_eq(a.type, KL_ACTION_SEND_UDP);
    kl_session_free(owner);
}
END_TEST

static Suite *import_suite(void)
{
    Suite *s = suite_create("import");
    TCase *tc = tcase_create("fixture");
    tcase_add_test(tc, fixture_lands_in_every_field_of_the_session);
    tcase_add_test(tc, fixture_exports_back_byte_for_byte);
    tcase_add_test(tc, fixture_round_trips_through_a_session_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("round trip");
    tcase_add_loop_test(tc, generated_sessions_round_trip_with_koala_s_own_fields, 0, 20);
    tcase_add_loop_test(tc, every_byte_value_round_trips_in_every_byte_field, 0, 20);
    tcase_add_test(tc, every_action_type_and_address_form_round_trips);
    tcase_add_test(tc, plain_stream_records_read_back_in_order);
    suite_add_tcase(s, tc);

    tc = tcase_create("reading");
    tcase_add_test(tc, members_come_in_any_order_with_any_white_space_and_unknown_ones_are_skipped);
    tcase_add_test(tc, null_and_missing_members_are_empty);
    tcase_add_test(tc, escapes_may_themselves_be_written_as_json_escapes);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, a_bad_escape_is_named_by_path_and_line);
    tcase_add_loop_test(tc, malformed_sessions_fail_naming_path_and_place, 0,
                        (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, deep_nesting_is_refused_by_its_path);
    tcase_add_test(tc, arguments_are_checked_before_anything_is_read);
    tcase_add_test(tc, every_cut_and_every_byte_change_of_the_fixture_fails_cleanly_or_imports);
    suite_add_tcase(s, tc);

    tc = tcase_create("replaying");
    tcase_add_test(tc, a_replaying_session_lands_in_every_field);
    tcase_add_test(tc, a_replaying_session_s_null_and_absent_members_are_empty);
    tcase_add_test(tc, base64_is_read_with_its_padding);
    tcase_add_test(tc, a_bad_replaying_session_is_named_by_path_and_place);
    suite_add_tcase(s, tc);

    tc = tcase_create("action");
    tcase_add_test(tc, a_call_function_s_members_land_in_the_action);
    tcase_add_test(tc, a_return_function_may_name_its_type_and_null_members_are_empty);
    tcase_add_test(tc, a_bad_action_is_named_by_path_and_place);
    tcase_add_test(tc, an_action_s_arguments_are_checked_before_anything_is_read);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(import_suite());
}
