/* check_json.c - tests for json.c: the original koala's JSON layout and byte escaping. */
#include "testutil.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


/* ---- helpers ---- */

static kl_bytes get_bytes(kl_session *s, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    ck_assert_msg(json_is_string(v), "%s is not a string", key);
    size_t n = json_string_length(v);
    uint8_t *tmp = malloc(n + 1);
    size_t len = tu_unescape_x(json_string_value(v), n, tmp);
    kl_bytes b;
    ck_assert_int_eq(kl_session_dup_bytes(s, &b, tmp, len), KL_OK);
    free(tmp);
    return b;
}

static const char *get_str(kl_session *s, json_t *obj, const char *key)
{
    const char *out;
    ck_assert_int_eq(kl_session_dup_str(s, &out, json_string_value(json_object_get(obj, key))),
                     KL_OK);
    return out;
}

static int64_t get_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
    return json_integer_value(v);
}

static void set_ip(kl_addr *a, const char *ip, uint16_t port)
{
    if (!*ip) {
        a->family = 0;
    } else if (strchr(ip, ':')) {
        a->family = AF_INET6;
        ck_assert_int_eq(inet_pton(AF_INET6, ip, a->ip), 1);
    } else {
        a->family = AF_INET;
        ck_assert_int_eq(inet_pton(AF_INET, ip, a->ip), 1);
    }
    a->port = port;
}

/* Peer {IP, Port, Zone} and UnixAddr {Name, Net} of obj into a. */
static void get_addr(json_t *obj, kl_addr *a)
{
    json_t *peer = json_object_get(obj, "Peer");
    set_ip(a, json_string_value(json_object_get(peer, "IP")), (uint16_t)get_int(peer, "Port"));
    snprintf(a->zone, sizeof a->zone, "%s", json_string_value(json_object_get(peer, "Zone")));
    json_t *ux = json_object_get(obj, "UnixAddr");
    snprintf(a->unix_path, sizeof a->unix_path, "%s",
             json_string_value(json_object_get(ux, "Name")));
    snprintf(a->unix_net, sizeof a->unix_net, "%s", json_string_value(json_object_get(ux, "Net")));
}

static kl_action_type type_named(const char *name)
{
    for (int t = 0; t < KL_ACTION_TYPE_COUNT; t++)
        if (!strcmp(kl_action_type_name((kl_action_type)t), name))
            return (kl_action_type)t;
    ck_abort_msg("unknown action type %s", name);
    return KL_ACTION_NONE;
}

/* The fixture's values, field by field, in an owning session. */
static kl_session *fixture_session(void)
{
    json_error_t e;
    json_t *root = json_load_file(TU_FIXTURE, 0, &e);
    ck_assert_msg(root != NULL, "%s: %s", TU_FIXTURE, e.text);
    kl_session *s = kl_session_new();
    s->context = get_str(s, root, "Context");
    s->thread_id = get_int(root, "ThreadId");
    s->id = get_str(s, root, "SessionId");
    s->next_session_id = get_str(s, root, "NextSessionId");
    ck_assert(json_is_null(json_object_get(root, "TraceHeader")));
    s->trace_id = get_bytes(s, root, "TraceId");
    s->span_id = get_bytes(s, root, "SpanId");

    json_t *in = json_object_get(root, "CallFromInbound");
    s->call_from_inbound.present = true;
    s->call_from_inbound.index = get_int(in, "ActionIndex");
    s->call_from_inbound.occurred_at = get_int(in, "OccurredAt");
    get_addr(in, &s->call_from_inbound.peer);
    s->call_from_inbound.request = get_bytes(s, in, "Request");

    json_t *ri = json_object_get(root, "ReturnInbound");
    s->return_inbound.present = true;
    s->return_inbound.index = get_int(ri, "ActionIndex");
    s->return_inbound.occurred_at = get_int(ri, "OccurredAt");
    s->return_inbound.response = get_bytes(s, ri, "Response");

    size_t i;
    json_t *ja;
    json_array_foreach(json_object_get(root, "Actions"), i, ja) {
        kl_action a = {0};
        a.type = type_named(json_string_value(json_object_get(ja, "ActionType")));
        a.index = get_int(ja, "ActionIndex");
        a.occurred_at = get_int(ja, "OccurredAt");
        if (a.type == KL_ACTION_CALL_OUTBOUND) {
            a.socket_fd = get_int(ja, "SocketFD");
            get_addr(ja, &a.peer);
            a.response_time = get_int(ja, "ResponseTime");
            a.request = get_bytes(s, ja, "Request");
            a.response = get_bytes(s, ja, "Response");
            a.cspan_id = get_bytes(s, ja, "CSpanId");
        }
        ck_assert_int_eq(kl_session_add_action(s, &a), KL_OK);
    }
    json_decref(root);
    return s;
}

/* Export into a fresh buffer; the caller frees the text. */
static char *export_session(const kl_session *s, unsigned flags)
{
    kl_buf b = {0};
    ck_assert_int_eq(kl_json_session(s, flags, &b), KL_OK);
    ck_assert_uint_eq(strlen(b.data), b.len);
    return b.data;
}

static char *export_replayed(const kl_replayed *r, unsigned flags)
{
    kl_buf b = {0};
    ck_assert_int_eq(kl_json_replayed(r, flags, &b), KL_OK);
    return b.data;
}

static char *export_bytes(const void *data, size_t len)
{
    kl_buf b = {0};
    ck_assert_int_eq(kl_json_bytes(data, len, &b), KL_OK);
    return b.data;
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    ck_assert_msg(j != NULL, "invalid JSON (%s at %d): %.200s", e.text, e.position, text);
    return j;
}

#define ck_assert_contains(hay, needle) \
    ck_assert_msg(strstr((hay), (needle)) != NULL, "missing %s in %s", (needle), (hay))

/* ---- the original layout ---- */

START_TEST(fixture_session_exports_byte_for_byte_as_the_original_wrote_it)
{
    kl_session *s = fixture_session();
    size_t want_len;
    unsigned char *want = tu_read_file(TU_FIXTURE, &want_len);
    ck_assert_ptr_nonnull(want);
    kl_buf b = {0};
    ck_assert_int_eq(kl_json_session(s, KL_JSON_PRETTY, &b), KL_OK);
    size_t same = 0;
    while (same < b.len && same < want_len && b.data[same] == (char)want[same])
        same++;
    ck_assert_msg(same == want_len && b.len == want_len,
                  "differs at byte %zu (got %zu bytes, want %zu): got ...%.60s", same, b.len,
                  want_len, b.data + (same > 20 ? same - 20 : 0));
    kl_buf_free(&b);
    free(want);
    kl_session_free(s);
}
END_TEST

START_TEST(compact_output_is_one_line_of_the_same_json)
{
    kl_session *s = fixture_session();
    char *compact = export_session(s, 0);
    ck_assert_ptr_null(strchr(compact, '\n'));
    json_error_t e;
    json_t *want = json_load_file(TU_FIXTURE, 0, &e);
    json_t *got = parse(compact);
    ck_assert(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    free(compact);
    kl_session_free(s);
}
END_TEST

START_TEST(pretty_and_compact_outputs_hold_the_same_values)
{
    kl_session *s = tu_session(7);
    char *pretty = export_session(s, KL_JSON_PRETTY | KL_JSON_EXTRA);
    char *compact = export_session(s, KL_JSON_EXTRA);
    ck_assert_ptr_null(strchr(compact, '\n'));
    json_t *a = parse(pretty), *b = parse(compact);
    ck_assert(json_equal(a, b));
    json_t *acts = json_object_get(a, "Actions");
    ck_assert_uint_eq(json_array_size(acts), s->n_actions);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(acts, 2), "FileName")),
                     "/var/log/svc.log");
    json_decref(a);
    json_decref(b);
    free(pretty);
    free(compact);
    kl_session_free(s);
}
END_TEST

START_TEST(empty_session_has_nulls_where_the_original_had_nil_pointers)
{
    kl_session s = {0};
    char *got = export_session(&s, 0);
    ck_assert_str_eq(got, "{\"Context\":\"\",\"ThreadId\":0,\"SessionId\":\"\",\"TraceHeader\":null,"
                          "\"NextSessionId\":\"\",\"CallFromInbound\":null,\"ReturnInbound\":null,"
                          "\"Actions\":null,\"TraceId\":\"\",\"SpanId\":\"\"}");
    free(got);
    got = export_session(&s, KL_JSON_PRETTY | KL_JSON_EXTRA);
    ck_assert_str_eq(got, "{\n  \"Context\": \"\",\n  \"ThreadId\": 0,\n  \"SessionId\": \"\",\n"
                          "  \"TraceHeader\": null,\n  \"NextSessionId\": \"\",\n"
                          "  \"CallFromInbound\": null,\n  \"ReturnInbound\": null,\n"
                          "  \"Actions\": null,\n  \"TraceId\": \"\",\n  \"SpanId\": \"\"\n}");
    free(got);
}
END_TEST

static const struct {
    int64_t v;
    const char *text;
} integers[] = {
    {0, "0"}, {7, "7"}, {10, "10"}, {99, "99"}, {100, "100"}, {-1, "-1"}, {-10, "-10"},
    {1548160113499755925, "1548160113499755925"},
    {INT64_MAX, "9223372036854775807"}, {INT64_MIN, "-9223372036854775808"},
};

START_TEST(integers_print_in_decimal_to_the_edges_of_int64)
{
    kl_session s = {.thread_id = integers[_i].v};
    char *got = export_session(&s, 0), want[64];
    snprintf(want, sizeof want, "\"ThreadId\":%s,", integers[_i].text);
    ck_assert_msg(strstr(got, want), "%s not in %s", want, got);
    free(got);
}
END_TEST

START_TEST(trace_header_is_an_object_of_escaped_bytes)
{
    kl_kv th[2] = {
        {{(const uint8_t *)"ti", 2}, {(const uint8_t *)"0a1b", 4}},
        {{(const uint8_t *)"s\\i", 3}, {(const uint8_t *)"x\0<", 3}},
    };
    kl_session s = {.trace_header = th, .n_trace_header = 2};
    char *got = export_session(&s, 0);
    ck_assert_contains(got, "\"TraceHeader\":{\"ti\":\"0a1b\",\"s\\\\x5ci\":\"x\\\\x00\\u003c\"},");
    free(got);
    got = export_session(&s, KL_JSON_PRETTY);
    ck_assert_contains(got, "  \"TraceHeader\": {\n    \"ti\": \"0a1b\",\n    \"s\\\\x5ci\": "
                            "\"x\\\\x00\\u003c\"\n  },\n");
    free(got);
}
END_TEST

START_TEST(each_action_type_has_the_original_field_order)
{
    kl_session s = {.id = "1-2"};
    kl_action a[6] = {0};
    a[0] = (kl_action){.type = KL_ACTION_APPEND_FILE, .index = 0, .occurred_at = 10,
                       .file_name = "/tmp/a.log", .content = {(const uint8_t *)"hi\n", 3}};
    a[1] = (kl_action){.type = KL_ACTION_SEND_UDP, .index = 1, .occurred_at = 11,
                       .content = {(const uint8_t *)"m:1|c", 5}};
    set_ip(&a[1].peer, "10.0.0.1", 8125);
    a[2] = (kl_action){.type = KL_ACTION_READ_STORAGE, .index = 2, .occurred_at = 12,
                       .content = {(const uint8_t *)"k", 1}};
    a[3] = (kl_action){.type = KL_ACTION_CALL_FUNCTION, .index = 3, .occurred_at = 13,
                       .call_into_file = "a.php", .call_into_line = 7, .call_from_file = "b.php",
                       .call_from_line = 9, .func_name = "f", .args_json = "[1,\"x\"]"};
    a[4] = (kl_action){.type = KL_ACTION_RETURN_FUNCTION, .index = 4, .occurred_at = 14,
                       .call_function_id = "13"};
    a[5] = (kl_action){.type = KL_ACTION_CALL_OUTBOUND, .index = 5, .occurred_at = 15,
                       .socket_fd = 9, .response_time = 16,
                       .request = {(const uint8_t *)"q", 1}, .response = {(const uint8_t *)"r", 1},
                       .cspan_id = {(const uint8_t *)"c", 1}};
    set_ip(&a[5].peer, "", 0);
    strcpy(a[5].peer.unix_path, "/run/db.sock");
    strcpy(a[5].peer.unix_net, "unix");
    s.actions = a;
    s.n_actions = 6;
    char *got = export_session(&s, 0);
    ck_assert_contains(got,
        "\"Actions\":["
        "{\"ActionIndex\":0,\"OccurredAt\":10,\"ActionType\":\"AppendFile\","
        "\"FileName\":\"/tmp/a.log\",\"Content\":\"hi\\n\"},"
        "{\"ActionIndex\":1,\"OccurredAt\":11,\"ActionType\":\"SendUDP\","
        "\"Peer\":{\"IP\":\"10.0.0.1\",\"Port\":8125,\"Zone\":\"\"},\"Content\":\"m:1|c\"},"
        "{\"ActionIndex\":2,\"OccurredAt\":12,\"ActionType\":\"ReadStorage\",\"Content\":\"k\"},"
        "{\"ActionIndex\":3,\"OccurredAt\":13,\"ActionType\":\"CallFunction\","
        "\"CallIntoFile\":\"a.php\",\"CallIntoLine\":7,\"CallFromFile\":\"b.php\","
        "\"CallFromLine\":9,\"FuncName\":\"f\",\"Args\":[1,\"x\"]},"
        "{\"ActionIndex\":4,\"OccurredAt\":14,\"ActionType\":\"ReturnFunction\","
        "\"CallFunctionId\":\"13\",\"ReturnValue\":null},"
        "{\"ActionIndex\":5,\"OccurredAt\":15,\"ActionType\":\"CallOutbound\",\"SocketFD\":9,"
        "\"Peer\":{\"IP\":\"\",\"Port\":0,\"Zone\":\"\"},\"ResponseTime\":16,"
        "\"UnixAddr\":{\"Name\":\"/run/db.sock\",\"Net\":\"unix\"},"
        "\"Request\":\"q\",\"Response\":\"r\",\"CSpanId\":\"c\"}],");
    free(got);
}
END_TEST

START_TEST(return_inbound_marker_carries_the_inbound_response)
{
    kl_action mark = {.type = KL_ACTION_RETURN_INBOUND, .index = 3, .occurred_at = 99};
    kl_session s = {.return_inbound = {.present = true, .index = 3, .occurred_at = 99,
                                       .response = {(const uint8_t *)"OK", 2}},
                    .actions = &mark, .n_actions = 1};
    char *got = export_session(&s, 0);
    ck_assert_contains(got, "\"ReturnInbound\":{\"ActionIndex\":3,\"OccurredAt\":99,"
                            "\"ActionType\":\"ReturnInbound\",\"Response\":\"OK\"},"
                            "\"Actions\":[{\"ActionIndex\":3,\"OccurredAt\":99,"
                            "\"ActionType\":\"ReturnInbound\",\"Response\":\"OK\"}],");
    free(got);
}
END_TEST

/* ---- byte escaping (EncodeAnyByteArray) ---- */

/* Input as a string literal with its length, NULs included. */
#define B(lit) lit, sizeof(lit) - 1

static const struct {
    const char *in;
    size_t len;
    const char *want;
} byte_cases[] = {
    {B(""), "\"\""},
    {B("Az09 !#$%'()*+,-./:;=?@[]^_`{|}~"), "\"Az09 !#$%'()*+,-./:;=?@[]^_`{|}~\""},
    {B("\\"), "\"\\\\x5c\""},                              /* the text \x5c */
    {B("\""), "\"\\\"\""},
    {B("\n\r\t"), "\"\\n\\r\\t\""},
    {B("\0\x01\x08\x0b\x0c\x1b\x1f"), "\"\\\\x00\\\\x01\\\\x08\\\\x0b\\\\x0c\\\\x1b\\\\x1f\""},
    {B("\x7f"), "\"\x7f\""},                               /* DEL is literal */
    {B("<a>&"), "\"\\u003ca\\u003e\\u0026\""},            /* Go's compaction escapes these */
    {B("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""},
    {B("\xe2\x80\xa8\xe2\x80\xa9"), "\"\\u2028\\u2029\""},
    {B("\xef\xbf\xbd"), "\"\\\\xef\\\\xbf\\\\xbd\""},      /* U+FFFD decodes as RuneError */
    {B("\x80"), "\"\\\\x80\""},                            /* lone continuation byte */
    {B("a\xe9z"), "\"a\\\\xe9z\""},                        /* Latin-1 */
    {B("\xc0\xaf"), "\"\\\\xc0\\\\xaf\""},                 /* overlong */
    {B("\xe0\x80\xaf"), "\"\\\\xe0\\\\x80\\\\xaf\""},      /* overlong */
    {B("\xed\xa0\x80"), "\"\\\\xed\\\\xa0\\\\x80\""},      /* surrogate */
    {B("\xf4\x90\x80\x80"), "\"\\\\xf4\\\\x90\\\\x80\\\\x80\""}, /* above U+10FFFF */
    {B("\xf5\xff\xfe"), "\"\\\\xf5\\\\xff\\\\xfe\""},
    {B("x\xe2\x82"), "\"x\\\\xe2\\\\x82\""},               /* cut short at the end */
    {B("\xe2\x82("), "\"\\\\xe2\\\\x82(\""},               /* cut short mid-string */
};

START_TEST(bytes_escape_every_class_as_the_original)
{
    int i = _i;
    char *got = export_bytes(byte_cases[i].in, byte_cases[i].len);
    ck_assert_str_eq(got, byte_cases[i].want);
    free(got);
}
END_TEST

START_TEST(a_string_is_standard_json_whatever_its_bytes)
{
    kl_buf b = {0};
    const uint8_t text[] = "caf\xc3\xa9 \xe9t\xe9 \"q\" a\\b\x01\n";
    ck_assert_int_eq(kl_json_string(text, sizeof text - 1, &b), KL_OK);
    ck_assert_str_eq(b.data, "\"caf\xc3\xa9 \\ufffdt\\ufffd \\\"q\\\" a\\\\b\\u0001\\n\"");
    json_error_t err;
    json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, &err);
    ck_assert_msg(j != NULL, "%s", err.text);
    ck_assert_str_eq(json_string_value(j), "caf\xc3\xa9 \xef\xbf\xbdt\xef\xbf\xbd \"q\" a\\b\x01\n");
    json_decref(j);
    ck_assert_int_eq(kl_json_string(NULL, 1, &b), KL_ERR_INVALID);
    kl_buf_free(&b);
}
END_TEST

START_TEST(bytes_are_appended_to_what_the_buffer_holds)
{
    kl_buf b = {0};
    ck_assert_int_eq(kl_buf_append(&b, "x=", 2), KL_OK);
    ck_assert_int_eq(kl_json_bytes((const uint8_t *)"a\\", 2, &b), KL_OK);
    ck_assert_str_eq(b.data, "x=\"a\\\\x5c\"");
    ck_assert_int_eq(kl_json_bytes(NULL, 0, &b), KL_OK);
    ck_assert_str_eq(b.data, "x=\"a\\\\x5c\"\"\"");
    ck_assert_int_eq(kl_json_bytes(NULL, 1, &b), KL_ERR_INVALID);
    kl_buf_free(&b);
}
END_TEST

/* Random payloads, ASCII, UTF-8 (U+2028 included) and junk mixed so that sequences straddle
 * the encoder's internal chunks, decode back to the same bytes by the fixture's rule. */
START_TEST(random_bytes_decode_back_to_themselves)
{
    static const char *const pieces[] = {"a", "\\", "\"", "\n", "<", "\x01", "\x7f", "\xc3\xa9",
                                         "\xe2\x80\xa8", "\xf0\x9f\x98\x80", "\xef\xbf\xbd",
                                         "\xff", "\xe2\x82", "\xed\xa0\x80", "x\\x41"};
    srand(42);
    for (int round = 0; round < 40; round++) {
        size_t cap = round < 38 ? 1000 + (size_t)round * 50 : (300u << 10);
        uint8_t *in = malloc(cap + 8);
        size_t n = 0;
        while (n < cap) {
            const char *p = pieces[rand() % (int)(sizeof pieces / sizeof pieces[0])];
            size_t k = strlen(p);
            memcpy(in + n, p, k);
            n += k;
        }
        char *js = export_bytes(in, n);
        json_t *j = parse(js);
        uint8_t *out = malloc(json_string_length(j) + 1);
        size_t m = tu_unescape_x(json_string_value(j), json_string_length(j), out);
        ck_assert_uint_eq(m, n);
        ck_assert_mem_eq(out, in, n);
        json_decref(j);
        free(out);
        free(js);
        free(in);
    }
}
END_TEST

/* ---- text fields (Go's string escaping) ---- */

static const struct {
    const char *in;
    const char *want;
} text_cases[] = {
    {"plain-1", "\"plain-1\""},
    {"<a&b>", "\"\\u003ca\\u0026b\\u003e\""},
    {"q\"b\\", "\"q\\\"b\\\\\""},
    {"\n\r\t", "\"\\n\\r\\t\""},
    {"\x01\x08\x0c\x1f", "\"\\u0001\\u0008\\u000c\\u001f\""},
    {"\x7f", "\"\x7f\""},
    {"caf\xc3\xa9", "\"caf\xc3\xa9\""},
    {"\xef\xbf\xbd", "\"\xef\xbf\xbd\""},
    {"a\xffz\xe2\x82", "\"a\\ufffdz\\ufffd\\ufffd\""},
    {"\xe2\x80\xa8", "\"\\u2028\""},
};

START_TEST(text_fields_use_go_string_escaping)
{
    int i = _i;
    kl_session s = {.id = text_cases[i].in};
    char *got = export_session(&s, 0);
    char want[128];
    snprintf(want, sizeof want, "\"SessionId\":%s,", text_cases[i].want);
    ck_assert_contains(got, want);
    free(got);
}
END_TEST

/* ---- addresses ---- */

static const struct {
    const char *ip;
    const char *zone;
    const char *want;
} ip_cases[] = {
    {"127.0.0.1", "", "{\"IP\":\"127.0.0.1\",\"Port\":80,\"Zone\":\"\"}"},
    {"::1", "", "{\"IP\":\"::1\",\"Port\":80,\"Zone\":\"\"}"},
    {"::", "", "{\"IP\":\"::\",\"Port\":80,\"Zone\":\"\"}"},
    {"1::", "", "{\"IP\":\"1::\",\"Port\":80,\"Zone\":\"\"}"},
    {"2001:0DB8:0000:0000:0001:0000:0000:0001", "",
     "{\"IP\":\"2001:db8::1:0:0:1\",\"Port\":80,\"Zone\":\"\"}"},
    {"1:0:0:2:0:0:0:3", "", "{\"IP\":\"1:0:0:2::3\",\"Port\":80,\"Zone\":\"\"}"},
    {"1:0:2:3:4:5:6:7", "", "{\"IP\":\"1:0:2:3:4:5:6:7\",\"Port\":80,\"Zone\":\"\"}"},
    {"::ffff:10.1.2.3", "", "{\"IP\":\"10.1.2.3\",\"Port\":80,\"Zone\":\"\"}"},
    {"::1.2.3.4", "", "{\"IP\":\"::102:304\",\"Port\":80,\"Zone\":\"\"}"},
    {"fe80::abcd:1", "eth0", "{\"IP\":\"fe80::abcd:1\",\"Port\":80,\"Zone\":\"eth0\"}"},
    {"", "", "{\"IP\":\"\",\"Port\":80,\"Zone\":\"\"}"},
};

START_TEST(ip_addresses_print_as_go_net_ip)
{
    int i = _i;
    kl_action a = {.type = KL_ACTION_SEND_UDP};
    set_ip(&a.peer, ip_cases[i].ip, 80);
    strcpy(a.peer.zone, ip_cases[i].zone);
    kl_session s = {.actions = &a, .n_actions = 1};
    char *got = export_session(&s, 0);
    char want[160];
    snprintf(want, sizeof want, "\"Peer\":%s", ip_cases[i].want);
    ck_assert_contains(got, want);
    free(got);
}
END_TEST

/* ---- embedded JSON from helper messages ---- */

static const struct {
    const char *in;
    const char *want;
} raw_cases[] = {
    {" [1, {\"a\" : \"<b>\"}, [ ], {}] ", "[1,{\"a\":\"\\u003cb\\u003e\"},[],{}]"},
    {"-0.5e+3", "-0.5e+3"},
    {"\"\\u00e9\\n\\/\"", "\"\\u00e9\\n\\/\""},
    {"\"\\u00g9\"", "\"\\\"\\\\u00g9\\\"\""},     /* not four hex digits: a string */
    {"[true,false,null]", "[true,false,null]"},
    {"[1,2", "\"[1,2\""},
    {"{\"a\":1}x", "\"{\\\"a\\\":1}x\""},
    {"tru", "\"tru\""},
    {"01", "\"01\""},
    {"[\"\x01\"]", "\"[\\\"\\u0001\\\"]\""},
    {"[\"\xff\"]", "\"[\\\"\\ufffd\\\"]\""},
    {"", "\"\""},
};

START_TEST(embedded_json_is_compacted_or_kept_as_a_string)
{
    int i = _i;
    kl_action a = {.type = KL_ACTION_RETURN_FUNCTION, .return_value_json = raw_cases[i].in};
    kl_session s = {.actions = &a, .n_actions = 1};
    char *got = export_session(&s, 0);
    char want[160];
    snprintf(want, sizeof want, "\"ReturnValue\":%s}]", raw_cases[i].want);
    ck_assert_contains(got, want);
    json_decref(parse(got));
    free(got);
}
END_TEST

START_TEST(embedded_json_is_indented_in_pretty_mode)
{
    kl_action a = {.type = KL_ACTION_CALL_FUNCTION, .args_json = "[1,{\"a\":[]},{}]"};
    kl_session s = {.actions = &a, .n_actions = 1};
    char *got = export_session(&s, KL_JSON_PRETTY);
    ck_assert_contains(got, "      \"Args\": [\n"
                            "        1,\n"
                            "        {\n"
                            "          \"a\": []\n"
                            "        },\n"
                            "        {}\n"
                            "      ]\n"
                            "    }\n"
                            "  ],\n");
    free(got);
}
END_TEST

/* ---- our fields ---- */

START_TEST(extra_fields_follow_the_original_ones_only_when_asked_and_set)
{
    kl_session *s = tu_session(1);
    kl_bytes k = {(const uint8_t *)"env", 3}, v = {(const uint8_t *)"prod", 4};
    ck_assert_int_eq(kl_session_add_kv(s, &s->labels, &s->n_labels, k, v), KL_OK);
    k = (kl_bytes){(const uint8_t *)"/etc/app.conf", 13};
    v = (kl_bytes){(const uint8_t *)"a=1\n", 4};
    ck_assert_int_eq(kl_session_add_kv(s, &s->mock_files, &s->n_mock_files, k, v), KL_OK);
    s->truncated = true;
    kl_action *a0 = (kl_action *)&s->actions[0];
    set_ip(&a0->local, "127.0.0.1", 5555);

    char *plain = export_session(s, 0);
    ck_assert_ptr_null(strstr(plain, "\"Host\""));
    ck_assert_ptr_null(strstr(plain, "\"Local\""));
    free(plain);

    char *got = export_session(s, KL_JSON_EXTRA);
    ck_assert_contains(got, "\"SpanId\":\"\",\"Host\":\"testhost\",\"Pid\":321,"
                            "\"Program\":\"sample-svc\",\"Labels\":{\"env\":\"prod\"},"
                            "\"Truncated\":true,\"MockFiles\":{\"/etc/app.conf\":\"a=1\\n\"}}");
    ck_assert_contains(got, "\"CSpanId\":\"\",\"Local\":{\"IP\":\"127.0.0.1\",\"Port\":5555,"
                            "\"Zone\":\"\"}},");
    ck_assert_ptr_null(strstr(got, "RedirectDirs"));
    free(got);
    kl_session_free(s);

    kl_session bare = {0};
    got = export_session(&bare, KL_JSON_EXTRA);
    ck_assert_str_eq(strstr(got, "\"SpanId\""), "\"SpanId\":\"\"}");
    free(got);
}
END_TEST

/* ---- replayed sessions ---- */

static kl_replayed_action rep_actions[4];

static kl_replayed sample_replayed(void)
{
    memset(rep_actions, 0, sizeof rep_actions);
    kl_replayed_action *c = &rep_actions[0];
    c->action = (kl_action){.type = KL_ACTION_CALL_OUTBOUND, .occurred_at = 2000,
                            .request = {(const uint8_t *)"GET k", 5}};
    set_ip(&c->action.peer, "10.0.0.2", 6379);
    c->matched_index = 0;
    c->matched_score = 0.75;
    c->runner_up_index = -1;
    c->runner_up_score = 0;
    c->matched_request = (kl_bytes){(const uint8_t *)"GET k", 5};
    c->matched_response = (kl_bytes){(const uint8_t *)"$1\r\nv\r\n", 7};
    rep_actions[1].action = (kl_action){.type = KL_ACTION_APPEND_FILE, .occurred_at = 2100,
                                        .file_name = "/l", .content = {(const uint8_t *)"x", 1}};
    rep_actions[2].action = (kl_action){.type = KL_ACTION_CALL_FUNCTION, .occurred_at = 2200,
                                        .call_into_file = "a.php", .call_into_line = 3,
                                        .func_name = "g", .call_from_file = "b.php",
                                        .call_from_line = 4};
    rep_actions[3].action = (kl_action){.type = KL_ACTION_RETURN_INBOUND, .occurred_at = 3000};
    return (kl_replayed){
        .session_id = "100-7",
        .original_request_time = 100,
        .original_request = {(const uint8_t *)"req", 3},
        .original_response = {(const uint8_t *)"old", 3},
        .response = {(const uint8_t *)"new", 3},
        .replayed_at = 1000,
        .response_time = 3000,
        .actions = rep_actions,
        .n_actions = 4,
    };
}

START_TEST(replayed_session_has_the_original_replayed_layout)
{
    kl_replayed r = sample_replayed();
    char *got = export_replayed(&r, 0);
    ck_assert_str_eq(got,
        "{\"SessionId\":\"100-7\","
        "\"CallFromInbound\":{\"ActionId\":\"1000\",\"OccurredAt\":1000,"
        "\"ActionType\":\"CallFromInbound\",\"OriginalRequestTime\":100,"
        "\"OriginalRequest\":\"req\"},"
        "\"ReturnInbound\":{\"ActionId\":\"3000\",\"OccurredAt\":3000,"
        "\"ActionType\":\"ReturnInbound\",\"OriginalResponse\":\"old\",\"Response\":\"new\"},"
        "\"Actions\":["
        "{\"ActionId\":\"2000\",\"OccurredAt\":2000,\"ActionType\":\"CallOutbound\","
        "\"MatchedActionIndex\":0,\"MatchedMark\":0.75,"
        "\"Peer\":{\"IP\":\"10.0.0.2\",\"Port\":6379,\"Zone\":\"\"},"
        "\"MatchedRequest\":\"GET k\",\"MatchedResponse\":\"$1\\r\\nv\\r\\n\","
        "\"Request\":\"GET k\"},"
        "{\"ActionId\":\"2100\",\"OccurredAt\":2100,\"ActionType\":\"AppendFile\","
        "\"FileName\":\"/l\",\"Content\":\"x\"},"
        "{\"ActionId\":\"2200\",\"OccurredAt\":2200,\"ActionType\":\"CallFunction\","
        "\"CallIntoFile\":\"a.php\",\"CallIntoLine\":3,\"FuncName\":\"g\",\"Args\":null},"
        "{\"ActionId\":\"3000\",\"OccurredAt\":3000,\"ActionType\":\"ReturnInbound\","
        "\"OriginalResponse\":\"old\",\"Response\":\"new\"}]}");
    free(got);
    char *pretty = export_replayed(&r, KL_JSON_PRETTY);
    json_t *a = parse(pretty), *b = parse(got = export_replayed(&r, 0));
    ck_assert(json_equal(a, b));
    ck_assert_contains(pretty, "\n  \"CallFromInbound\": {\n    \"ActionId\": \"1000\",\n");
    json_decref(a);
    json_decref(b);
    free(got);
    free(pretty);
}
END_TEST

START_TEST(replayed_extra_fields_add_runner_up_unused_calls_and_errors)
{
    kl_replayed r = sample_replayed();
    const int64_t unused[] = {1, 4};
    const char *const errs[] = {"no match for <call 2>"};
    r.unused_calls = unused;
    r.n_unused_calls = 2;
    r.errors = errs;
    r.n_errors = 1;
    char *got = export_replayed(&r, KL_JSON_EXTRA);
    ck_assert_contains(got, "\"Request\":\"GET k\",\"RunnerUpIndex\":-1,\"RunnerUpScore\":0},");
    ck_assert_contains(got, "\"Args\":null,\"CallFromFile\":\"b.php\",\"CallFromLine\":4},");
    ck_assert_contains(got, "}],\"ReplayedAt\":1000,\"UnusedCalls\":[1,4],"
                            "\"Errors\":[\"no match for \\u003ccall 2\\u003e\"]}");
    free(got);
    r.n_actions = 0;
    r.n_unused_calls = r.n_errors = 0;
    got = export_replayed(&r, KL_JSON_PRETTY | KL_JSON_EXTRA);
    ck_assert_contains(got, "  \"Actions\": null,\n  \"ReplayedAt\": 1000\n}");
    free(got);
}
END_TEST

static const struct {
    double v;
    const char *want;
} float_cases[] = {
    {0, "0"},
    {1, "1"},
    {0.5, "0.5"},
    {-2.5, "-2.5"},
    {0.1 + 0.2, "0.30000000000000004"},
    {123456.789, "123456.789"},
    {0.000001, "0.000001"},
    {1e-7, "1e-7"},
    {1.5e-7, "1.5e-7"},
    {1e-10, "1e-10"},
    {1e20, "100000000000000000000"},
    {1e21, "1e+21"},
    {2.5e100, "2.5e+100"},
};

START_TEST(match_scores_print_as_go_float64)
{
    int i = _i;
    kl_replayed r = sample_replayed();
    rep_actions[0].matched_score = float_cases[i].v;
    r.n_actions = 1;
    char *got = export_replayed(&r, 0);
    char want[80];
    snprintf(want, sizeof want, "\"MatchedMark\":%s,", float_cases[i].want);
    ck_assert_contains(got, want);
    free(got);
}
END_TEST

START_TEST(a_score_that_is_not_a_number_prints_null)
{
    kl_replayed r = sample_replayed();
    rep_actions[0].matched_score = NAN;
    r.n_actions = 1;
    char *got = export_replayed(&r, 0);
    ck_assert_contains(got, "\"MatchedMark\":null,");
    free(got);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("layout");
    tcase_add_test(tc, fixture_session_exports_byte_for_byte_as_the_original_wrote_it);
    tcase_add_test(tc, compact_output_is_one_line_of_the_same_json);
    tcase_add_test(tc, pretty_and_compact_outputs_hold_the_same_values);
    tcase_add_test(tc, empty_session_has_nulls_where_the_original_had_nil_pointers);
    tcase_add_loop_test(tc, integers_print_in_decimal_to_the_edges_of_int64, 0,
                        sizeof integers / sizeof integers[0]);
    tcase_add_test(tc, trace_header_is_an_object_of_escaped_bytes);
    tcase_add_test(tc, each_action_type_has_the_original_field_order);
    tcase_add_test(tc, return_inbound_marker_carries_the_inbound_response);
    tcase_add_loop_test(tc, ip_addresses_print_as_go_net_ip, 0,
                        (int)(sizeof ip_cases / sizeof ip_cases[0]));
    tcase_add_test(tc, extra_fields_follow_the_original_ones_only_when_asked_and_set);
    suite_add_tcase(s, tc);

    tc = tcase_create("escaping");
    tcase_add_loop_test(tc, bytes_escape_every_class_as_the_original, 0,
                        (int)(sizeof byte_cases / sizeof byte_cases[0]));
    tcase_add_test(tc, bytes_are_appended_to_what_the_buffer_holds);
    tcase_add_test(tc, random_bytes_decode_back_to_themselves);
    tcase_add_loop_test(tc, text_fields_use_go_string_escaping, 0,
                        (int)(sizeof text_cases / sizeof text_cases[0]));
    tcase_add_loop_test(tc, embedded_json_is_compacted_or_kept_as_a_string, 0,
                        (int)(sizeof raw_cases / sizeof raw_cases[0]));
    tcase_add_test(tc, embedded_json_is_indented_in_pretty_mode);
    suite_add_tcase(s, tc);

    tc = tcase_create("replayed");
    tcase_add_test(tc, replayed_session_has_the_original_replayed_layout);
    tcase_add_test(tc, replayed_extra_fields_add_runner_up_unused_calls_and_errors);
    tcase_add_loop_test(tc, match_scores_print_as_go_float64, 0,
                        (int)(sizeof float_cases / sizeof float_cases[0]));
    tcase_add_test(tc, a_score_that_is_not_a_number_prints_null);
    tcase_add_test(tc, a_string_is_standard_json_whatever_its_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(json_suite());
}
