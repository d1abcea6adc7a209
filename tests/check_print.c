/* check_print.c - tests for libkoala/print.c: summaries, full views, payloads, times. */
#include "testutil.h"

#include <jansson.h>

#include "kl_text.h"

#include <stdint.h>
#include <string.h>

/* Each helper appends into one buffer that the test frees; output is compared whole. */
static kl_buf out;

static void reset(void)
{
    kl_buf_free(&out);
}

static const char *text(void)
{
    return out.data ? out.data : "";
}

static const char *payload(const void *p, size_t len, const char *indent)
{
    reset();
    ck_assert_int_eq(kl_print_payload(p, len, indent, &out), KL_OK);
    return text();
}

static const char *timestr(int64_t ns)
{
    reset();
    ck_assert_int_eq(kl_print_time(ns, &out), KL_OK);
    return text();
}

static const char *summary(const kl_session *s)
{
    reset();
    ck_assert_int_eq(kl_print_summary(s, &out), KL_OK);
    return text();
}

static void set_request(kl_session *s, const char *req)
{
    kl_bytes *dst = &s->call_from_inbound.request;
    ck_assert_int_eq(kl_session_dup_bytes(s, dst, req, strlen(req)), KL_OK);
}

START_TEST(summary_line_of_the_sample_session_is_exact)
{
    kl_session *s = tu_session(0);
    ck_assert_str_eq(summary(s), "2023-11-14T22:13:20.000001000Z 1700000000000000000-4000 "
                                 "127.0.0.1:40000 GET /api/user/0 -> 200 req 52B resp 95B "
                                 "4 actions: 2 outbound, 1 file, 1 udp");
    s->truncated = true;
    ck_assert_str_eq(summary(s) + strlen(text()) - 10, " TRUNCATED");
    kl_session_free(s);
    reset();
}
END_TEST

START_TEST(summary_counts_every_action_type_but_the_return_marker)
{
    kl_session *s = tu_session(1);
    kl_action a = {.type = KL_ACTION_READ_STORAGE, .index = 5};
    kl_session_add_action(s, &a);
    a.type = KL_ACTION_CALL_FUNCTION;
    kl_session_add_action(s, &a);
    a.type = KL_ACTION_RETURN_FUNCTION;
    kl_session_add_action(s, &a);
    ck_assert_ptr_nonnull(strstr(summary(s), " 7 actions: 2 outbound, 1 file, 1 udp, 1 storage, "
                                             "1 function call, 1 function return"));
    kl_session_free(s);
    reset();
}
END_TEST

START_TEST(summary_of_a_session_without_inbound_uses_the_id_time_and_dashes)
{
    kl_session *s = kl_session_new();
    kl_session_dup_str(s, &s->id, "1700000000000000000-7");
    ck_assert_str_eq(summary(s), "2023-11-14T22:13:20.000000000Z 1700000000000000000-7 - - "
                                 "req 0B resp 0B 0 actions");
    kl_action a = {.type = KL_ACTION_SEND_UDP};
    kl_session_add_action(s, &a);
    ck_assert_ptr_nonnull(strstr(summary(s), " 1 action: 1 udp"));
    kl_session_free(s);
    reset();
}
END_TEST

START_TEST(summary_describes_other_requests_by_their_first_printable_run)
{
    kl_session *s = tu_session(2);
    s->return_inbound.response = s->actions[1].response; /* not HTTP: no status */
    s->call_from_inbound.request = s->actions[1].request; /* MySQL COM_QUERY */
    ck_assert_ptr_nonnull(strstr(summary(s), " 127.0.0.1:40002 SELECT name FROM users WHERE id = 2"
                                             " req 40B resp 11B "));
    set_request(s, "\x01\x02" "ab\x03" "0123456789012345678901234567890123456789ABCDEF");
    ck_assert_ptr_nonnull(
        strstr(summary(s), " 0123456789012345678901234567890123456789... req 51B "));
    set_request(s, "\x01\x02" "ab\x03" "xyz");
    ck_assert_ptr_nonnull(strstr(summary(s), " 127.0.0.1:40002 - req 8B "));
    set_request(s, "GET /a-very-long-path/that/goes/on/and/on/and/on/forever HTTP/1.0\r\n\r\n");
    ck_assert_ptr_nonnull(strstr(summary(s), " GET /a-very-long-path/that/goes/on/and/o... req "));
    kl_session_free(s);
    reset();
}
END_TEST

START_TEST(summary_shows_the_status_only_of_http_responses)
{
    kl_session *s = tu_session(0);
    kl_session_dup_bytes(s, &s->return_inbound.response, "HTTP/1.0 404 Not Found\r\n\r\n", 26);
    ck_assert_ptr_nonnull(strstr(summary(s), " GET /api/user/0 -> 404 req 52B resp 26B "));
    kl_session_dup_bytes(s, &s->return_inbound.response, "HTTP/1.1 20x OK\r\n\r\n", 19);
    ck_assert_ptr_nonnull(strstr(summary(s), " GET /api/user/0 req 52B resp 19B "));
    kl_session_free(s);
    reset();
}
END_TEST

/* A php-fpm request of params, split into two FCGI_PARAMS records in the middle of the
 * pair at `split` bytes (0: one record), and its empty STDIN. */
static void set_fcgi_request(kl_session *s, const kl_buf *params, size_t split)
{
    kl_buf r = {0};
    tu_fcgi_record(&r, 1, "\0\1\0\0\0\0\0\0", 8);
    if (split)
        tu_fcgi_record(&r, 4, params->data, split);
    tu_fcgi_record(&r, 4, params->data + split, params->len - split);
    tu_fcgi_record(&r, 4, "", 0);
    tu_fcgi_record(&r, 5, "", 0);
    kl_session_dup_bytes(s, &s->call_from_inbound.request, r.data, r.len);
    kl_buf_free(&r);
}

static void set_fcgi_response(kl_session *s, const char *stdout_text)
{
    kl_buf r = {0};
    tu_fcgi_record(&r, 6, stdout_text, strlen(stdout_text));
    tu_fcgi_record(&r, 3, "\0\0\0\0\0\0\0\0", 8);
    kl_session_dup_bytes(s, &s->return_inbound.response, r.data, r.len);
    kl_buf_free(&r);
}

START_TEST(summary_describes_fastcgi_requests_by_method_and_uri)
{
    kl_session *s = tu_session(0);
    kl_buf p = {0};
    tu_fcgi_param(&p, "QUERY_STRING", "u=ann");
    tu_fcgi_param(&p, "REQUEST_METHOD", "POST");
    tu_fcgi_param(&p, "SCRIPT_NAME", "/hit.php");
    tu_fcgi_param(&p, "REQUEST_URI", "/hit.php?u=ann");
    set_fcgi_request(s, &p, 0);
    set_fcgi_response(s, "Content-Type: application/json\r\n\r\n{}");
    ck_assert_ptr_nonnull(strstr(summary(s), " 127.0.0.1:40000 POST /hit.php?u=ann -> 200 req 139B "));
    /* a pair cut between two records */
    set_fcgi_request(s, &p, 20);
    ck_assert_ptr_nonnull(strstr(summary(s), " POST /hit.php?u=ann -> 200 req 150B "));
    set_fcgi_response(s, "X-Powered-By: PHP/8.2\r\nstatus: 404 Not Found\r\n\r\n");
    ck_assert_ptr_nonnull(strstr(summary(s), " POST /hit.php?u=ann -> 404 req "));
    set_fcgi_response(s, "no header block yet");
    ck_assert_ptr_nonnull(strstr(summary(s), " POST /hit.php?u=ann req "));
    kl_buf_free(&p);
    /* no REQUEST_URI: the script and its query; a long one cut, a control byte escaped */
    tu_fcgi_param(&p, "REQUEST_METHOD", "GET");
    tu_fcgi_param(&p, "SCRIPT_NAME", "/index.php");
    tu_fcgi_param(&p, "QUERY_STRING", "r=a\x1b&user_id=1819&page=1&sort=name&filter=open");
    set_fcgi_request(s, &p, 0);
    ck_assert_ptr_nonnull(strstr(summary(s), " GET /index.php?r=a\\x1b&user_id=1819&page=1&sort... req "));
    kl_buf_free(&p);
    /* a value past 127 bytes has a 4-byte length */
    char uri[200];
    memset(uri, 'a', sizeof uri - 1);
    uri[0] = '/';
    uri[sizeof uri - 1] = 0;
    tu_fcgi_param(&p, "REQUEST_URI", uri);
    tu_fcgi_param(&p, "REQUEST_METHOD", "GET");
    set_fcgi_request(s, &p, 0);
    ck_assert_ptr_nonnull(strstr(summary(s), " GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa... req "));
    kl_buf_free(&p);
    /* without a method, or with a length past the record, the first printable run */
    tu_fcgi_param(&p, "REQUEST_URI", "/x.php");
    set_fcgi_request(s, &p, 0);
    ck_assert_ptr_nonnull(strstr(summary(s), " REQUEST_URI/x.php req "));
    p.data[1] = 100;
    tu_fcgi_param(&p, "REQUEST_METHOD", "GET");
    set_fcgi_request(s, &p, 0);
    ck_assert_ptr_nonnull(strstr(summary(s), " dREQUEST_URI/x.php req "));
    kl_buf_free(&p);
    kl_session_free(s);
    reset();
}
END_TEST

START_TEST(summary_escapes_control_bytes_in_the_id)
{
    kl_session *s = tu_session(0);
    kl_session_dup_str(s, &s->id, "evil\x1b[2Jid");
    ck_assert_ptr_nonnull(strstr(summary(s), " evil\\x1b[2Jid 127.0.0.1:40000 "));
    kl_session_free(s);
    reset();
}
END_TEST

START_TEST(sizes_use_binary_units_with_one_decimal)
{
    static const struct {
        uint64_t n;
        const char *want;
    } cases[] = {
        {0, "0B"}, {1023, "1023B"}, {1024, "1.0KiB"}, {1536, "1.5KiB"},
        {1048524, "1023.9KiB"}, {1048575, "1.0MiB"}, {5u << 20, "5.0MiB"},
        {(uint64_t)3 << 30, "3.0GiB"}, {UINT64_MAX, "16384.0PiB"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset();
        ck_assert_int_eq(kli_text_size(&out, cases[i].n), KL_OK);
        ck_assert_str_eq(text(), cases[i].want);
    }
    reset();
}
END_TEST

START_TEST(fixed_point_numbers_round_and_use_a_dot)
{
    static const struct {
        double v;
        int decimals;
        const char *want;
    } cases[] = {
        {0.5, 3, "0.500"}, {2.5, 0, "3"}, {1111.111111, 2, "1111.11"}, {-1.25, 1, "-1.3"},
        {-0.0001, 3, "0.000"}, {0.9996, 3, "1.000"}, {1e30, 2, "1000000000000000019884624838656"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset();
        ck_assert_int_eq(kli_text_fixed(&out, cases[i].v, cases[i].decimals), KL_OK);
        ck_assert_str_eq(text(), cases[i].want);
    }
    reset();
}
END_TEST

START_TEST(times_print_as_rfc3339_utc_with_nanoseconds)
{
    ck_assert_str_eq(timestr(1700000000000001000LL), "2023-11-14T22:13:20.000001000Z");
    ck_assert_str_eq(timestr(1548160113500144162LL), "2019-01-22T12:28:33.500144162Z");
    ck_assert_str_eq(timestr(0), "-");
    ck_assert_str_eq(timestr(1), "1970-01-01T00:00:00.000000001Z");
    ck_assert_str_eq(timestr(-1), "1969-12-31T23:59:59.999999999Z");
    ck_assert_str_eq(timestr(-1000000000LL), "1969-12-31T23:59:59.000000000Z");
    ck_assert_str_eq(timestr(INT64_MIN), "1677-09-21T00:12:43.145224192Z");
    ck_assert_str_eq(timestr(INT64_MAX), "2262-04-11T23:47:16.854775807Z");
    reset();
}
END_TEST

START_TEST(text_payload_prints_lines_without_their_crlf)
{
    const char *req = "GET / HTTP/1.1\r\nHost: a\r\n\r\nbody";
    ck_assert_str_eq(payload(req, strlen(req), "  "), "  GET / HTTP/1.1\n  Host: a\n\n  body\n");
    ck_assert_str_eq(payload("a\nb\n", 4, NULL), "a\nb\n");
    ck_assert_str_eq(payload("", 0, "  "), "");
    ck_assert_str_eq(payload("\tx\ty", 4, ">"), ">\tx\ty\n");
}
END_TEST

START_TEST(lone_control_bytes_in_text_show_as_hex_escapes)
{
    const char *log = "progress 10%\rprogress 20%\r\n"
                      "\x1b[31mred\x1b[0m and plain text for a while\n";
    ck_assert_str_eq(payload(log, strlen(log), ""),
                     "progress 10%\\x0dprogress 20%\n"
                     "\\x1b[31mred\\x1b[0m and plain text for a while\n");
}
END_TEST

START_TEST(utf8_text_stays_text)
{
    const char *s = "caf\xc3\xa9 \xe2\x82\xac 5 \xf0\x9f\x90\xa8\n";
    ck_assert_str_eq(payload(s, strlen(s), "| "),
                     "| caf\xc3\xa9 \xe2\x82\xac 5 \xf0\x9f\x90\xa8\n");
}
END_TEST

START_TEST(binary_payload_prints_as_an_exact_hexdump)
{
    const uint8_t bin[] = {0x00, 0x01, 'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', 0x7f,
                           0x80, 0xff, 'x', 0x0a};
    ck_assert_str_eq(payload(bin, sizeof bin, "  "),
                     "  00000000  00 01 68 65 6c 6c 6f 20  77 6f 72 6c 64 7f 80 ff  "
                     "|..hello world...|\n"
                     "  00000010  78 0a                                             |x.|\n");
    ck_assert_str_eq(payload(bin, 8, ""),
                     "00000000  00 01 68 65 6c 6c 6f 20                           |..hello |\n");
}
END_TEST

START_TEST(nul_invalid_utf8_or_many_controls_make_a_hexdump)
{
    ck_assert_ptr_nonnull(strstr(payload("text\0more", 9, ""), "00000000  74 65 78 74 00"));
    ck_assert_ptr_nonnull(strstr(payload("caf\xe9 au lait", 12, ""), "|caf. au lait|"));
    ck_assert_ptr_nonnull(strstr(payload("\xc0\xaf overlong", 11, ""), "00000000  c0 af"));
    ck_assert_ptr_nonnull(strstr(payload("a\x01\x02\x03", 4, ""), "00000000  61 01 02 03"));
    ck_assert_ptr_nonnull(strstr(payload("\xed\xa0\x80 surrogate", 13, ""), "00000000  ed a0 80"));
}
END_TEST

START_TEST(long_payloads_are_printed_whole)
{
    static uint8_t big[70001];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    payload(big, sizeof big, "");
    ck_assert_uint_eq(out.len, 4375 * 79 + 64); /* full lines, then one with a single byte */
    ck_assert_ptr_nonnull(strstr(text(), "\n00011170  "));
    reset();
}
END_TEST

START_TEST(full_view_shows_inbound_and_every_action_with_payloads)
{
    kl_session *s = tu_session(0);
    reset();
    ck_assert_int_eq(kl_print_session(s, &out), KL_OK);
    static const char *const want[] = {
        "session 1700000000000000000-4000\n  thread: 4000\n"
        "  time: 2023-11-14T22:13:20.000001000Z\n"
        "  recorded: host testhost pid 321 program sample-svc\n"
        "inbound request from 127.0.0.1:40000 at 2023-11-14T22:13:20.000001000Z (52 bytes)\n"
        "    GET /api/user/0 HTTP/1.1\n    Host: svc\n    Accept: */*\n\n"
        "inbound response at 2023-11-14T22:13:20.000005000Z (95 bytes)\n    HTTP/1.1 200 OK\n",
        "\n#0 CallOutbound peer 127.0.0.1:6379 fd 7 at 2023-11-14T22:13:20.000002000Z\n"
        "  request (25 bytes)\n    *2\n    $3\n    GET\n    $6\n    user:0\n"
        "  response at 2023-11-14T22:13:20.000002500Z (5 bytes)\n    $-1\n",
        "\n  request (40 bytes)\n    00000000  24 00 00 00 03 53 45 4c  45 43 54 20 6e 61 6d 65  "
        "|$....SELECT name|\n",
        "\n#2 AppendFile /var/log/svc.log at 2023-11-14T22:13:20.000004000Z\n"
        "  content (14 bytes)\n    served user 0\n",
        "\n#3 SendUDP peer 127.0.0.1:8125 at 2023-11-14T22:13:20.000004500Z\n"
        "  content (16 bytes)\n    svc.requests:1|c\n"
        "#4 ReturnInbound at 2023-11-14T22:13:20.000005000Z\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(text(), want[i]), "missing:\n%s\nin:\n%s", want[i], text());
    ck_assert_str_eq(text() + out.len - strlen(want[4]), want[4]);
    kl_session_free(s);
    reset();
}
END_TEST

static kl_bytes str_bytes(const char *s)
{
    return (kl_bytes){(const uint8_t *)s, strlen(s)};
}

START_TEST(full_view_shows_trace_labels_functions_and_unix_peers)
{
    kl_session *s = kl_session_new();
    kl_session_dup_str(s, &s->id, "1548160113499755925-1158745");
    kl_session_dup_str(s, &s->next_session_id, "1548160119582448050-1158745");
    kl_session_dup_str(s, &s->context, "ctx");
    s->trace_id = str_bytes("t-1");
    s->span_id = str_bytes("s-2");
    kl_session_add_kv(s, &s->labels, &s->n_labels, str_bytes("env"), str_bytes("prod"));
    kl_session_add_kv(s, &s->trace_header, &s->n_trace_header, str_bytes("X-Trace"),
                      str_bytes("t-1"));
    kl_session_add_kv(s, &s->mock_files, &s->n_mock_files, str_bytes("/etc/app.conf"),
                      str_bytes("k=v\n"));
    s->truncated = true;
    s->call_from_inbound.present = true;
    s->call_from_inbound.occurred_at = 1548160113500144162LL;
    kl_addr_parse("unix:/usr/local/var/run/php-fpm.sock", &s->call_from_inbound.peer);
    kl_action f = {.type = KL_ACTION_CALL_FUNCTION, .index = 0, .func_name = "curl_exec",
                   .call_from_file = "index.php", .call_from_line = 12, .args_json = "[1]"};
    kl_session_add_action(s, &f);
    kl_action r = {.type = KL_ACTION_RETURN_FUNCTION, .index = 1, .call_function_id = "0",
                   .return_value_json = "true"};
    kl_session_add_action(s, &r);
    reset();
    ck_assert_int_eq(kl_print_session(s, &out), KL_OK);
    static const char *const want[] = {
        "  trace: id t-1 span s-2\n  trace header: X-Trace: t-1\n  context: ctx\n"
        "  label: env=prod\n"
        "  next session: 1548160119582448050-1158745\n  truncated: yes\n",
        "inbound request from unix:/usr/local/var/run/php-fpm.sock at "
        "2019-01-22T12:28:33.500144162Z"
        " (0 bytes)\nno inbound response\n",
        "#0 CallFunction curl_exec from index.php:12 at -\n  args: [1]\n",
        "#1 ReturnFunction of 0 at -\n  return value: true\n",
        "mock file /etc/app.conf (4 bytes)\n    k=v\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(text(), want[i]), "missing:\n%s\nin:\n%s", want[i], text());
    kl_session_free(s);
    reset();
}
END_TEST

static kl_replayed *sample_replayed(void)
{
    kl_session *s = tu_session(3);
    kl_replayed *r = kl_replayed_new();
    kl_replayed_dup_str(r, &r->session_id, s->id);
    r->original_request_time = s->call_from_inbound.occurred_at;
    r->replayed_at = 1700000100000000000LL;
    kl_replayed_dup_bytes(r, &r->original_request, s->call_from_inbound.request.data,
                          s->call_from_inbound.request.len);
    kl_replayed_dup_bytes(r, &r->original_response, s->return_inbound.response.data,
                          s->return_inbound.response.len);
    kl_replayed_dup_bytes(r, &r->response, s->return_inbound.response.data,
                          s->return_inbound.response.len);
    kl_replayed_action ra = {.action = s->actions[0], .matched_index = 0, .matched_score = 0.98,
                             .runner_up_index = 1, .runner_up_score = 0.125,
                             .matched_request = s->actions[0].request,
                             .matched_response = s->actions[0].response};
    kl_replayed_add_action(r, &ra);
    ra = (kl_replayed_action){.action = s->actions[1], .matched_index = -1, .runner_up_index = -1};
    ra.action.request = str_bytes("SELECT 1");
    ra.action.response = (kl_bytes){0};
    ra.action.response_time = 0;
    kl_replayed_add_action(r, &ra);
    ra = (kl_replayed_action){.action = s->actions[2], .matched_index = -1, .runner_up_index = -1};
    kl_replayed_add_action(r, &ra);
    kl_replayed_add_unused(r, 1);
    kl_replayed_add_error(r, "no recorded call matches SELECT 1");
    kl_session_free(s);
    return r;
}

START_TEST(replayed_summary_counts_matches_and_compares_responses)
{
    kl_replayed *r = sample_replayed();
    reset();
    ck_assert_int_eq(kl_print_replayed_summary(r, &out), KL_OK);
    ck_assert_str_eq(text(), "1700000000003000000-4003 replayed: response SAME "
                             "(95 bytes vs 95 bytes), 2 outbound calls: 1 matched, 1 unmatched, "
                             "1 unused recorded; errors: 1");
    r->response.len--;
    reset();
    ck_assert_int_eq(kl_print_replayed_summary(r, &out), KL_OK);
    ck_assert_ptr_nonnull(strstr(text(), " response DIFFERENT (95 bytes vs 94 bytes), "));
    kl_replayed_free(r);
    reset();
}
END_TEST

START_TEST(replayed_view_lists_each_call_with_its_match)
{
    kl_replayed *r = sample_replayed();
    reset();
    ck_assert_int_eq(kl_print_replayed(r, &out), KL_OK);
    static const char *const want[] = {
        "replayed session 1700000000003000000-4003\n"
        "  original request time: 2023-11-14T22:13:20.003001000Z\n"
        "  replayed at: 2023-11-14T22:15:00.000000000Z\n  response time: -\n  response: SAME\n"
        "original request (52 bytes)\n    GET /api/user/3 HTTP/1.1\n",
        "replayed response (95 bytes): same as original\n#0 CallOutbound peer 127.0.0.1:6379 fd 7 ",
        "    user:3\n  response at 2023-11-14T22:13:20.003002500Z (5 bytes)\n    $-1\n"
        "  matched #0 score 0.980, runner-up #1 score 0.125\n#1 CallOutbound",
        "  request (8 bytes)\n    SELECT 1\n  response (0 bytes)\n  matched: none\n#2 AppendFile",
        "    served user 3\nunused recorded calls: #1\nerror: no recorded call matches SELECT 1\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(text(), want[i]), "missing:\n%s\nin:\n%s", want[i], text());
    ck_assert_ptr_null(strstr(text(), "recorded request"));
    kl_replayed_free(r);
    reset();
}
END_TEST

START_TEST(replayed_view_shows_the_recorded_call_where_it_differs)
{
    kl_replayed *r = sample_replayed();
    kl_replayed_action *ra = (kl_replayed_action *)&r->actions[0];
    kl_replayed_dup_bytes(r, &ra->action.request, "*1\r\n$4\r\nPING\r\n", 14);
    reset();
    ck_assert_int_eq(kl_print_replayed(r, &out), KL_OK);
    ck_assert_ptr_nonnull(strstr(text(), "  matched #0 score 0.980, runner-up #1 score 0.125\n"
                                         "  recorded request (25 bytes)\n    *2\n"));
    ck_assert_ptr_null(strstr(text(), "recorded response"));
    kl_replayed_free(r);
    reset();
}
END_TEST

START_TEST(file_info_comes_from_header_and_index)
{
    kl_file_info in = {.kind = KL_KIND_RECORDED, .compressed = true, .has_header = true,
                       .format_version = 1, .program = "svc", .host = "h\"1", .created_at = 0,
                       .zstd_level = 3, .has_index = true, .sessions = 2, .frames = 1,
                       .first_time = 1700000000000000000, .last_time = 1700000001500000000,
                       .content_bytes = 3000, .file_bytes = 1000};
    kl_buf b = {0};
    ck_assert_int_eq(kl_print_file_info(&in, "a.pb", false, &b), KL_OK);
    ck_assert_ptr_nonnull(strstr(b.data, "Sessions:           2\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "Duration:           1.500 seconds\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "Compression ratio:  3.00\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "Written by:         svc on h\"1 at -, zstd level 3\n"));
    b.len = 0;
    ck_assert_int_eq(kl_print_file_info(&in, "a.pb", true, &b), KL_OK);
    json_error_t je;
    json_t *j = json_loads(b.data, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", b.data, je.text);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "sessions")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "last_time")), 1700000001500000000);
    ck_assert_str_eq(json_string_value(json_object_get(j, "host")), "h\"1");
    json_decref(j);
    /* Without an index the counts are unknown, not zero. */
    in.has_index = false;
    b.len = 0;
    ck_assert_int_eq(kl_print_file_info(&in, "a.pb", true, &b), KL_OK);
    j = json_loads(b.data, 0, &je);
    ck_assert(json_is_null(json_object_get(j, "sessions")));
    json_decref(j);
    b.len = 0;
    ck_assert_int_eq(kl_print_file_info(&in, "a.pb", false, &b), KL_OK);
    ck_assert_ptr_null(strstr(b.data, "Sessions:"));
    kl_buf_free(&b);
}
END_TEST

static Suite *print_suite(void)
{
    Suite *s = suite_create("print");
    TCase *tc = tcase_create("print");
    tcase_add_test(tc, summary_line_of_the_sample_session_is_exact);
    tcase_add_test(tc, file_info_comes_from_header_and_index);
    tcase_add_test(tc, summary_counts_every_action_type_but_the_return_marker);
    tcase_add_test(tc, summary_of_a_session_without_inbound_uses_the_id_time_and_dashes);
    tcase_add_test(tc, summary_describes_other_requests_by_their_first_printable_run);
    tcase_add_test(tc, summary_shows_the_status_only_of_http_responses);
    tcase_add_test(tc, summary_describes_fastcgi_requests_by_method_and_uri);
    tcase_add_test(tc, summary_escapes_control_bytes_in_the_id);
    tcase_add_test(tc, sizes_use_binary_units_with_one_decimal);
    tcase_add_test(tc, fixed_point_numbers_round_and_use_a_dot);
    tcase_add_test(tc, times_print_as_rfc3339_utc_with_nanoseconds);
    tcase_add_test(tc, text_payload_prints_lines_without_their_crlf);
    tcase_add_test(tc, lone_control_bytes_in_text_show_as_hex_escapes);
    tcase_add_test(tc, utf8_text_stays_text);
    tcase_add_test(tc, binary_payload_prints_as_an_exact_hexdump);
    tcase_add_test(tc, nul_invalid_utf8_or_many_controls_make_a_hexdump);
    tcase_add_test(tc, long_payloads_are_printed_whole);
    tcase_add_test(tc, full_view_shows_inbound_and_every_action_with_payloads);
    tcase_add_test(tc, full_view_shows_trace_labels_functions_and_unix_peers);
    tcase_add_test(tc, replayed_summary_counts_matches_and_compares_responses);
    tcase_add_test(tc, replayed_view_lists_each_call_with_its_match);
    tcase_add_test(tc, replayed_view_shows_the_recorded_call_where_it_differs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(print_suite());
}
