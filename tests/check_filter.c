/* check_filter.c - tests for libkoala/filter.c: fields, operators, literals, errors, limits. */
#include "testutil.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool fmatch(const char *expr, const kl_session *s)
{
    kl_filter *f = NULL;
    char err[KL_ERRBUF_SIZE];
    int rc = kl_filter_compile(&f, expr, err);
    ck_assert_msg(rc == KL_OK, "%s: %s", expr, err);
    bool r = kl_filter_match(f, s);
    kl_filter_free(f);
    return r;
}

#define YES(expr, s) ck_assert_msg(fmatch(expr, s), "expected a match: %s", expr)
#define NO(expr, s) ck_assert_msg(!fmatch(expr, s), "expected no match: %s", expr)

static void syntax_error(const char *expr, const char *want)
{
    kl_filter *f = (kl_filter *)1;
    char err[KL_ERRBUF_SIZE];
    int rc = kl_filter_compile(&f, expr, err);
    ck_assert_msg(rc == KL_ERR_SYNTAX, "%s: got %d (%s)", expr, rc, err);
    ck_assert_ptr_null(f);
    ck_assert_msg(strcmp(err, want) == 0, "%s:\n  got  %s\n  want %s", expr, err, want);
}

static void set_ip(kl_addr *a, int family, const char *ip, uint16_t port)
{
    memset(a, 0, sizeof *a);
    a->family = family;
    inet_pton(family, ip, a->ip);
    a->port = port;
}

static void set_path(kl_addr *a, const char *path)
{
    memset(a, 0, sizeof *a);
    snprintf(a->unix_path, sizeof a->unix_path, "%s", path);
    snprintf(a->unix_net, sizeof a->unix_net, "unix");
}

static kl_bytes bytes(const void *p, size_t n)
{
    return (kl_bytes){p, n};
}

/* Everything tu_session() lacks: a unix inbound peer, binary bytes, IPv6 with a zone, a unix
 * outbound peer, storage, functions, labels, truncation, and no response. */
static kl_session *odd_session(void)
{
    kl_session *s = kl_session_new();
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(kl_session_dup_str(s, &s->id, "1700000000000000000-7"), KL_OK);
    s->truncated = true;
    s->thread_id = 7;
    kl_session_add_kv(s, &s->labels, &s->n_labels, bytes("env", 3), bytes("prod", 4));
    kl_session_add_kv(s, &s->labels, &s->n_labels, bytes("zone", 4), bytes("eu-1", 4));
    kl_session_add_kv(s, &s->labels, &s->n_labels, bytes("zone", 4), bytes("eu-2", 4));
    kl_session_add_kv(s, &s->labels, &s->n_labels, bytes("canary", 6), bytes("", 0));
    s->call_from_inbound.present = true;
    s->call_from_inbound.occurred_at = 1700000000123456789LL;
    set_path(&s->call_from_inbound.peer, "/run/svc.sock");
    static const unsigned char req[] = {'P', 'I', 'N', 'G', 0x00, 0xff, 0xfe, '"', '\\', '\n'};
    kl_session_dup_bytes(s, &s->call_from_inbound.request, req, sizeof req);

    kl_action a = {0};
    a.type = KL_ACTION_CALL_OUTBOUND;
    a.socket_fd = 11;
    set_ip(&a.peer, AF_INET6, "fe80::1", 443);
    snprintf(a.peer.zone, sizeof a.peer.zone, "eth0");
    static const unsigned char tls[] = {0x16, 0x03, 0x01, 0x00, 0xc8, 0x01};
    a.request = bytes(tls, sizeof tls);
    ck_assert_int_eq(kl_session_add_action(s, &a), KL_OK);

    memset(&a, 0, sizeof a);
    a.type = KL_ACTION_CALL_OUTBOUND;
    a.socket_fd = 12;
    set_path(&a.peer, "/run/db.sock");
    a.request = bytes("Q", 1);
    a.response = bytes("R", 1);
    kl_session_add_action(s, &a);

    memset(&a, 0, sizeof a);
    a.type = KL_ACTION_READ_STORAGE;
    a.content = bytes("cfg=1", 5);
    kl_session_add_action(s, &a);

    memset(&a, 0, sizeof a);
    a.type = KL_ACTION_CALL_FUNCTION;
    a.func_name = "getUser";
    kl_session_add_action(s, &a);

    memset(&a, 0, sizeof a);
    a.type = KL_ACTION_RETURN_FUNCTION;
    a.return_value_json = "{}";
    kl_session_add_action(s, &a);
    return s;
}

/* ------------------------------------------------------------------ fields */

START_TEST(session_fields_read_id_time_thread_pid_host_program_and_counts)
{
    kl_session *s = tu_session(5);
    YES("session.id == \"1700000000005000000-4001\"", s);
    NO("session.id == \"1700000000005000000-400\"", s);
    YES("session.time == 1700000000005001000", s);
    YES("session.thread == 4001", s);
    YES("session.pid == 321", s);
    YES("session.host == testhost", s);
    YES("session.program == \"sample-svc\"", s);
    YES("session.actions == 4", s);
    YES("session.truncated == false", s);
    NO("session.truncated", s);
    kl_session_free(s);

    s = odd_session();
    YES("session.truncated", s);
    YES("session.truncated == true", s);
    YES("session.truncated != 0", s);
    YES("session.actions == 5", s);
    NO("session.host", s);
    NO("session.host == \"\"", s); /* no host at all is not an empty host */
    kl_session_free(s);
}
END_TEST

START_TEST(session_time_falls_back_to_the_time_in_the_id)
{
    kl_session s = {0};
    s.id = "1700000000000000042-9";
    YES("session.time == 1700000000000000042", &s);
    NO("inbound.time", &s);
}
END_TEST

START_TEST(labels_are_fields_by_key)
{
    kl_session *s = odd_session();
    YES("session.label.env == prod", s);
    NO("session.label.env == dev", s);
    YES("session.label.zone == eu-2", s); /* a key given twice has two values */
    YES("session.label.zone glob \"eu-*\"", s);
    YES("session.label.canary", s);       /* present, though empty */
    NO("session.label.missing", s);
    NO("session.label.missing != x", s);
    kl_session_free(s);
}
END_TEST

START_TEST(inbound_fields_read_request_response_peer_and_time)
{
    kl_session *s = tu_session(5);
    YES("inbound", s);
    YES("inbound.request contains \"GET /api/user/5 HTTP/1.1\"", s);
    YES("inbound.response contains \"200 OK\"", s);
    YES("inbound.peer == \"127.0.0.1:40005\"", s);
    YES("inbound.ip == 127.0.0.1", s);
    YES("inbound.port == 40005", s);
    NO("inbound.path", s);
    YES("inbound.time == 1700000000005001000", s);
    YES("inbound.request.len == 52", s);
    YES("inbound.response.len == 95", s);
    kl_session_free(s);

    s = odd_session();
    YES("inbound.path == /run/svc.sock", s);
    YES("inbound.peer == \"unix:/run/svc.sock\"", s);
    NO("inbound.ip", s);
    NO("inbound.port", s);
    NO("inbound.response", s);
    NO("inbound.response.len == 0", s);
    YES("inbound.request.len == 10", s);
    kl_session_free(s);
}
END_TEST

START_TEST(outbound_fields_read_every_call)
{
    kl_session *s = tu_session(5);
    YES("outbound", s);
    YES("outbound.count == 2", s);
    YES("outbound.port == 6379", s);
    YES("outbound.port == 3306", s);
    NO("outbound.port == 8125", s); /* the UDP metric is not an outbound call */
    YES("outbound.peer == \"127.0.0.1:3306\"", s);
    YES("outbound.ip == \"127.0.0.1\"", s);
    YES("outbound.fd == 8", s);
    YES("outbound.request contains \"user:5\"", s);
    YES("outbound.response == \"$-1\\r\\n\"", s);
    YES("outbound.request.len == 40", s);
    YES("outbound.response.len == 11", s);
    NO("outbound.path", s);
    kl_session_free(s);

    s = odd_session();
    YES("outbound.ip == \"fe80::1%eth0\"", s);
    YES("outbound.peer == \"[fe80::1%eth0]:443\"", s);
    YES("outbound.path == /run/db.sock", s);
    YES("outbound.peer == unix:/run/db.sock", s);
    YES("outbound.response == R", s);
    YES("outbound.fd == 12", s);
    kl_session_free(s);
}
END_TEST

START_TEST(udp_file_storage_and_function_fields_read_their_actions)
{
    kl_session *s = tu_session(5);
    YES("udp.peer == \"127.0.0.1:8125\"", s);
    YES("udp.ip == 127.0.0.1 and udp.port == 8125", s);
    YES("udp.content == \"svc.requests:1|c\"", s);
    YES("file.name == \"/var/log/svc.log\"", s);
    YES("file.content == \"served user 5\\n\"", s);
    NO("storage or function or storage.content or function.name", s);
    kl_session_free(s);

    s = odd_session();
    YES("storage.content == \"cfg=1\"", s);
    YES("function.name == getUser", s);
    NO("udp or file or file.name or udp.port", s);
    kl_session_free(s);
}
END_TEST

START_TEST(action_type_accepts_koala_names_any_case_and_snake_case)
{
    kl_session *s = tu_session(5);
    YES("action.type == CallOutbound", s);
    YES("action.type == \"callOUTBOUND\"", s);
    YES("action.type == call_outbound", s);
    YES("action.type == send_udp", s);
    YES("action.type == return_inbound", s);
    NO("action.type == read_storage", s);
    NO("action.type != CallOutbound", s);
    YES("action.type != ReadStorage", s);
    YES("action.type in {read_storage AppendFile}", s);
    YES("action.type contains Outbound", s);
    YES("action.type ~ \"^append\"", s);
    YES("action.type glob \"Send*\"", s);
    kl_session_free(s);
}
END_TEST

/* ---------------------------------------------------------------- operators */

START_TEST(number_comparisons_cover_every_operator_and_hex)
{
    kl_session *s = tu_session(5);
    YES("session.pid == 321 and session.pid == 0x141 and session.pid == 0X141", s);
    YES("session.pid != 322", s);
    NO("session.pid != 321", s);
    YES("session.pid < 322 and session.pid <= 321 and session.pid > 320 and session.pid >= 321", s);
    NO("session.pid < 321 or session.pid <= 320 or session.pid > 321 or session.pid >= 322", s);
    YES("session.pid > -1", s);
    kl_session_free(s);
}
END_TEST

START_TEST(text_compares_exactly_and_contains_searches)
{
    kl_session *s = tu_session(5);
    NO("session.host == TESTHOST", s);
    NO("session.host == test", s);
    YES("session.host != test", s);
    YES("session.host contains est", s);
    NO("session.host contains EST", s);
    YES("session.host contains \"\"", s);
    YES("inbound.request contains \"HTTP/1.1\\r\\nHost: svc\"", s);
    kl_session_free(s);
}
END_TEST

START_TEST(regex_is_caseless_by_default_and_can_be_made_exact)
{
    kl_session *s = tu_session(5);
    YES("inbound.request ~ \"GET /api\"", s);
    YES("inbound.request matches \"get /API/user/\\d+ \"", s);
    NO("inbound.request ~ \"(?-i)get\"", s);
    YES("inbound.request ~ \"^GET [^ ]+ HTTP/1\\\\.1\\r\\n\"", s);
    YES("session.id ~ r\"^\\d{19}-\\d+$\"", s);
    NO("inbound.request ~ \"^POST\"", s);
    kl_session_free(s);
}
END_TEST

START_TEST(regex_and_contains_work_on_binary_bytes)
{
    kl_session *s = tu_session(5);
    /* The MySQL COM_QUERY packet: length, sequence 0, 0x03, the query. */
    YES("outbound.request ~ \"^.\\x00\\x00\\x00\\x03SELECT\"", s);
    YES("outbound.request contains \"\\x00\\x03SELECT\"", s);
    kl_session_free(s);

    s = odd_session();
    YES("inbound.request ~ \"PING\\x00\\xff\\xfe\"", s);
    YES("inbound.request ~ \"^PING.{3}\\\"\"", s); /* '.' is one byte, not one UTF-8 character */
    YES("inbound.request ~ \"\\\\\\\\\\n$\"", s);   /* the regex \\\n: a backslash, a newline */
    YES("inbound.request contains \"\\xff\\xfe\\\"\\\\\\n\"", s);
    YES("outbound.request ~ \"^\\x16\\x03\\x01\"", s);
    YES("outbound.request == \"\\x16\\x03\\x01\\x00\\xc8\\x01\"", s);
    NO("outbound.request == \"\\x16\\x03\\x01\\x00\\xc8\"", s);
    kl_session_free(s);
}
END_TEST

START_TEST(glob_matches_whole_values_with_stars_marks_and_classes)
{
    kl_session *s = tu_session(5);
    YES("session.id glob \"1700*\"", s);
    NO("session.id glob \"700*\"", s);
    YES("session.id glob \"*-4001\"", s);
    YES("file.name glob \"/var/*.log\"", s); /* '*' crosses '/' */
    YES("session.host glob \"test????\"", s);
    NO("session.host glob \"test???\"", s);
    YES("session.host glob \"[st]esthos[a-z]\"", s);
    YES("session.host glob \"[!x]esthost\"", s);
    NO("session.host glob \"[!t]esthost\"", s);
    YES("session.program glob \"sample\\\\-*\"", s); /* a backslash quotes the next character */
    YES("inbound.request glob \"GET * HTTP/1.1\\r\\n*\"", s);
    YES("session.host glob \"*\" and session.host glob \"**t*\"", s);
    kl_session_free(s);

    kl_session e = {0};
    e.host = "a[b";
    YES("session.host glob \"a[b\"", &e); /* an unclosed '[' is literal */
}
END_TEST

START_TEST(in_sets_hold_numbers_ranges_and_strings)
{
    kl_session *s = tu_session(5);
    YES("outbound.port in {80 443 6379}", s);
    YES("outbound.port in {80, 443, 3306}", s);
    NO("outbound.port in {80 443}", s);
    YES("outbound.port in {1..1000 3300..3310}", s);
    YES("session.pid in {0x140..0x142}", s);
    YES("session.host in {\"a\" testhost}", s);
    NO("session.host in {a b}", s);
    YES("outbound.request.len in {1..40 41}", s);
    kl_session_free(s);
}
END_TEST

START_TEST(keywords_and_symbols_combine_in_any_case)
{
    kl_session *s = tu_session(5);
    YES("udp AND file", s);
    YES("udp && file", s);
    YES("storage Or file", s);
    YES("storage || file", s);
    YES("NOT storage", s);
    YES("!storage", s);
    YES("!(storage)", s);
    kl_session_free(s);
}
END_TEST

/* T is true and F false for the sample session. */
#define T "session.pid == 321"
#define F "session.pid == 1"

START_TEST(not_binds_tighter_than_and_which_binds_tighter_than_or)
{
    kl_session *s = tu_session(5);
    YES(T " or " F " and " F, s);    /* T or (F and F), not (T or F) and F */
    YES(F " and " F " or " T, s);
    NO("not " T " and " F, s);       /* (not T) and F */
    YES("not " F " and " T, s);
    YES("not " T " or " T, s);       /* (not T) or T, not not (T or T) */
    NO("(" T " or " F ") and " F, s);
    YES("not (" T " and " F ")", s);
    YES("not not " T, s);
    YES(F " or " F " or " F " or " T, s);
    NO(T " and " T " and " T " and " F, s);
    YES("((((" T "))))", s);
    kl_session_free(s);
}
END_TEST

START_TEST(bare_fields_test_existence)
{
    kl_session *s = tu_session(5);
    YES("inbound and outbound and udp and file", s);
    NO("storage or function", s);
    YES("inbound.response and inbound.request and outbound.response", s);
    kl_session_free(s);

    kl_session e = {0};
    NO("inbound or outbound or udp or file or storage or function or action.type", &e);
    NO("session.id or session.host or inbound.response", &e);
    YES("session.pid == 0 and outbound.count == 0 and session.actions == 0", &e);
    e.return_inbound.present = true; /* a response, but empty */
    YES("inbound", &e);
    NO("inbound.response", &e);
    YES("inbound.response == \"\" and inbound.response.len == 0", &e);
}
END_TEST

START_TEST(multi_valued_fields_match_when_any_value_does)
{
    kl_session *s = tu_session(5);
    /* The redis call has port 6379; the SELECT is in the MySQL call: two different calls. */
    YES("outbound.port == 6379 and outbound.request contains \"SELECT\"", s);
    YES("outbound.port > 5000 and outbound.port < 4000", s);
    kl_session_free(s);
}
END_TEST

START_TEST(not_equal_holds_only_when_every_value_differs)
{
    kl_session *s = tu_session(5);
    NO("outbound.port != 6379", s);  /* one call is to 6379 */
    YES("outbound.port != 80", s);
    NO("not outbound.port != 80", s);
    kl_session_free(s);

    kl_session e = {0};
    NO("outbound.port != 6379", &e); /* no value, no comparison holds */
    YES("not outbound.port == 6379", &e);
}
END_TEST

/* ------------------------------------------------------------------ literals */

START_TEST(string_escapes_decode_quotes_backslashes_controls_and_hex)
{
    kl_session *s = odd_session();
    YES("inbound.request == \"PING\\x00\\xFF\\xfe\\\"\\\\\\n\"", s);
    YES("inbound.request contains \"\\\"\"", s);
    kl_session_free(s);

    kl_session e = {0};
    e.host = "tab\there\rcr";
    YES("session.host == \"tab\\there\\rcr\"", &e);
    YES("session.host == r\"tab\there\rcr\" or session.host ~ r\"tab\\there\"", &e);
    e.host = "a\\\"b";
    YES("session.host == r\"a\\\"b\"", &e); /* \" inside a raw string stays */
}
END_TEST

START_TEST(time_fields_take_nanoseconds_or_rfc3339)
{
    kl_session *s = tu_session(5); /* inbound at 1700000000.005001000 */
    YES("session.time == \"2023-11-14T22:13:20.005001Z\"", s);
    YES("session.time == 2023-11-14T22:13:20.005001Z", s);
    YES("session.time == \"2023-11-14t22:13:20.005001000z\"", s);
    YES("session.time == \"2023-11-15T06:13:20.005001+08:00\"", s);
    YES("session.time == \"2023-11-14T21:13:20.005001-01:00\"", s);
    YES("session.time == \"2023-11-14 22:13:20.005001Z\"", s);
    YES("session.time > \"2023-11-14T22:13:20Z\" and session.time < \"2023-11-14T22:13:21Z\"", s);
    YES("session.time >= 2023-11-14 and session.time < 2023-11-15", s);
    YES("inbound.time in {2023-11-14T22:13:20Z..2023-11-14T22:13:21Z}", s);
    NO("session.time < \"1970-01-01T00:00:00Z\"", s);
    kl_session_free(s);

    kl_session e = {0};
    e.id = "951782400000000000-1"; /* 2000-02-29, a leap day */
    YES("session.time == 2000-02-29", &e);
    e.id = "0-1";
    YES("session.time == \"1970-01-01T00:00:00Z\"", &e);
}
END_TEST

START_TEST(size_fields_take_decimal_and_binary_suffixes)
{
    kl_session *s = tu_session(5);
    YES("inbound.response.len < 1k and inbound.response.len > 0x10", s);
    kl_session_free(s);

    static char big[1 << 20];
    kl_session e = {0};
    e.call_from_inbound.present = true;
    e.call_from_inbound.request = (kl_bytes){(const uint8_t *)big, 1024};
    YES("inbound.request.len == 1KiB and inbound.request.len == 1kib", &e);
    YES("inbound.request.len > 1k and inbound.request.len > 1kB", &e);
    e.call_from_inbound.request.len = 1 << 20;
    YES("inbound.request.len == 1MiB and inbound.request.len > 1M", &e);
    YES("inbound.request.len < 1G and inbound.request.len < 1GiB", &e);
}
END_TEST

START_TEST(empty_filter_matches_everything)
{
    kl_session *s = tu_session(1);
    YES("", s);
    YES("  \t ", s);
    kl_session_free(s);
    kl_filter_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------ errors */

/* Each bad filter with the message it must give, column first. */
static const struct {
    const char *expr, *want;
} bad_filters[] = {
    {"outbound.prot == 6379",
     "column 1: unknown field \"outbound.prot\""},
    {"session.pid == 1 and outbound.prot",
     "column 22: unknown field \"outbound.prot\""},
    {"session.label. == x",
     "column 1: unknown field \"session.label.\""},
    {"outbound.port ==",
     "column 17: expected a value after \"==\""},
    {"outbound.port == and udp",
     "column 18: expected a value after \"==\""},
    {"outbound.port >= )",
     "column 18: expected a value after \">=\""},
    {"inbound.request ~ \"(GET\"",
     "column 19: bad regex: missing closing parenthesis"},
    {"session.id == \"abc",
     "column 15: unterminated string"},
    {"session.id == \"abc\\\"",
     "column 15: unterminated string"},
    {"session.id == \"a\\qb\"",
     "column 17: bad escape \"\\q\" (write \"\\\\q\" for a backslash)"},
    {"session.id == \"\\x4\"",
     "column 16: bad escape \"\\x\": two hex digits must follow"},
    {"(udp or file",
     "column 13: missing \")\" to close \"(\" at column 1"},
    {"udp)",
     "column 4: unexpected \")\" without a matching \"(\""},
    {"(udp))",
     "column 6: unexpected \")\" without a matching \"(\""},
    {"outbound.port 6379",
     "column 15: expected an operator after \"outbound.port\", found \"6379\""},
    {"(outbound.port 6379)",
     "column 16: expected an operator after \"outbound.port\", found \"6379\""},
    {"(udp == )",
     "column 6: udp can only be tested for existence (write \"udp\" alone, or use one of its "
     "fields)"},
    {"(udp and file \"x\")",
     "column 15: expected \")\", \"and\" or \"or\", found \"x\""},
    {"udp and file \"x\"",
     "column 14: expected \"and\", \"or\" or the end, found \"x\""},
    {"and udp",
     "column 1: expected a field, found \"and\""},
    {"udp and",
     "column 8: expected a field, found end of filter"},
    {"not",
     "column 4: expected a field, found end of filter"},
    {"udp or ()",
     "column 9: expected a field, found \")\""},
    {"\"udp\"",
     "column 1: expected a field, found \"udp\""},
    {"session.id < 5",
     "column 12: \"<\" compares numbers, but session.id is text"},
    {"action.type >= 1",
     "column 13: \">=\" compares numbers, but action.type is an action type"},
    {"outbound.port contains 5",
     "column 15: \"contains\" needs text or bytes, but outbound.port is a number"},
    {"session.time ~ x",
     "column 14: \"~\" needs text or bytes, but session.time is a time"},
    {"session.truncated > 1",
     "column 19: \">\" does not apply to session.truncated, a boolean (use == or !=)"},
    {"session.truncated == yes",
     "column 22: expected true or false for session.truncated, found \"yes\""},
    {"outbound.port == abc",
     "column 18: expected a number for outbound.port, found \"abc\""},
    {"outbound.port == 99999999999999999999",
     "column 18: expected a number for outbound.port, found \"99999999999999999999\""},
    {"outbound.port == 1..2",
     "column 18: expected a number for outbound.port, found \"1..2\""},
    {"session.time == \"yesterday\"",
     "column 17: expected a time (unix ns or \"2023-11-14T22:13:20Z\") for session.time, found "
     "\"yesterday\""},
    {"session.time == 2023-02-29",
     "column 17: expected a time (unix ns or \"2023-11-14T22:13:20Z\") for session.time, found "
     "\"2023-02-29\""},
    {"session.time < 2023-11-14T22:13:20",
     "column 16: expected a time (unix ns or \"2023-11-14T22:13:20Z\") for session.time, found "
     "\"2023-11-14T22:13:20\""},
    {"inbound.request.len > 1kk",
     "column 23: expected a size (1500, 64k, 1MiB) for inbound.request.len, found \"1kk\""},
    {"action.type == bogus",
     "column 16: unknown action type \"bogus\""},
    {"action.type in {call_outbound bogus}",
     "column 31: unknown action type \"bogus\""},
    {"outbound.port in 80",
     "column 18: expected \"{\" after \"in\", found \"80\""},
    {"outbound.port in {80 443",
     "column 25: missing \"}\" to close \"{\" at column 18"},
    {"outbound.port in {}",
     "column 18: empty set"},
    {"outbound.port in {80 and}",
     "column 22: expected a value in the set after \"in\", found \"and\""},
    {"outbound.port in {90..80}",
     "column 19: empty range 90..80"},
    {"outbound.port = 80",
     "column 15: unknown operator \"=\" (use \"==\")"},
    {"udp & file",
     "column 5: unknown operator \"&\" (use \"&&\" or \"and\")"},
    {"udp | file",
     "column 5: unknown operator \"|\" (use \"||\" or \"or\")"},
    {"udp and \x01",
     "column 9: unexpected character 0x01"},
};

START_TEST(syntax_errors_name_their_column)
{
    for (size_t i = 0; i < sizeof bad_filters / sizeof bad_filters[0]; i++)
        syntax_error(bad_filters[i].expr, bad_filters[i].want);
}
END_TEST

START_TEST(deep_nesting_is_an_error_not_a_crash)
{
    char expr[1000];
    memset(expr, '(', 300);
    strcpy(expr + 300, "udp");
    syntax_error(expr, "column 201: filter nested too deeply (more than 200 levels)");
    char *nots = malloc(4 * 300 + 8);
    for (int i = 0; i < 300; i++)
        memcpy(nots + 4 * i, "not ", 4);
    strcpy(nots + 4 * 300, "udp");
    syntax_error(nots, "column 801: filter nested too deeply (more than 200 levels)");
    free(nots);
}
END_TEST

START_TEST(long_chains_of_or_need_no_nesting)
{
    size_t n = 5000, cap = n * 24 + 32;
    char *expr = malloc(cap), *p = expr;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%ssession.pid == %zu", i ? " or " : "", i + 1000);
    strcpy(p, " or session.pid == 321");
    kl_session *s = tu_session(1);
    YES(expr, s);
    kl_session_free(s);
    free(expr);
}
END_TEST

START_TEST(invalid_arguments_and_a_null_errbuf_are_handled)
{
    kl_filter *f = (kl_filter *)1;
    ck_assert_int_eq(kl_filter_compile(&f, NULL, NULL), KL_ERR_INVALID);
    ck_assert_ptr_null(f);
    ck_assert_int_eq(kl_filter_compile(&f, "udp ==", NULL), KL_ERR_SYNTAX);
    ck_assert_ptr_null(f);
}
END_TEST

/* ------------------------------------------------------------------ limits */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

START_TEST(pathological_regex_gives_up_in_bounded_time)
{
    /* Both patterns try 2^n ways to split a run of 'a' that ends badly, without a limit. */
    static char body[4097];
    memset(body, 'a', sizeof body - 2);
    body[sizeof body - 2] = '!';
    kl_session e = {0};
    e.call_from_inbound.present = true;
    e.call_from_inbound.request = (kl_bytes){(const uint8_t *)body, sizeof body - 1};
    kl_filter *f;
    char err[KL_ERRBUF_SIZE];
    ck_assert_int_eq(kl_filter_compile(&f, "inbound.request ~ \"(a+)+$\" or inbound.request ~ "
                                           "\"(a|aa)+$\"", err), KL_OK);
    double t0 = now();
    for (int i = 0; i < 5; i++)
        ck_assert(!kl_filter_match(f, &e));
    double spent = now() - t0;
    ck_assert_msg(spent < 1.0, "10 regex matches took %.2fs", spent);
    /* The same filter still matches what it should after hitting the limit. */
    e.call_from_inbound.request.len = 10;
    ck_assert(kl_filter_match(f, &e));
    kl_filter_free(f);
}
END_TEST

START_TEST(one_filter_matches_many_sessions)
{
    kl_filter *f;
    char err[KL_ERRBUF_SIZE];
    ck_assert_int_eq(kl_filter_compile(&f, "inbound.request ~ \"/user/[0-9]*7 \" and outbound.port "
                                           "in {6379} and not storage", err), KL_OK);
    int hits = 0;
    for (int i = 0; i < 100; i++) {
        kl_session *s = tu_session(i);
        hits += kl_filter_match(f, s);
        kl_session_free(s);
    }
    ck_assert_int_eq(hits, 10);
    kl_filter_free(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("filter");
    TCase *tc = tcase_create("filter");
    tcase_add_test(tc, session_fields_read_id_time_thread_pid_host_program_and_counts);
    tcase_add_test(tc, session_time_falls_back_to_the_time_in_the_id);
    tcase_add_test(tc, labels_are_fields_by_key);
    tcase_add_test(tc, inbound_fields_read_request_response_peer_and_time);
    tcase_add_test(tc, outbound_fields_read_every_call);
    tcase_add_test(tc, udp_file_storage_and_function_fields_read_their_actions);
    tcase_add_test(tc, action_type_accepts_koala_names_any_case_and_snake_case);
    tcase_add_test(tc, number_comparisons_cover_every_operator_and_hex);
    tcase_add_test(tc, text_compares_exactly_and_contains_searches);
    tcase_add_test(tc, regex_is_caseless_by_default_and_can_be_made_exact);
    tcase_add_test(tc, regex_and_contains_work_on_binary_bytes);
    tcase_add_test(tc, glob_matches_whole_values_with_stars_marks_and_classes);
    tcase_add_test(tc, in_sets_hold_numbers_ranges_and_strings);
    tcase_add_test(tc, keywords_and_symbols_combine_in_any_case);
    tcase_add_test(tc, not_binds_tighter_than_and_which_binds_tighter_than_or);
    tcase_add_test(tc, bare_fields_test_existence);
    tcase_add_test(tc, multi_valued_fields_match_when_any_value_does);
    tcase_add_test(tc, not_equal_holds_only_when_every_value_differs);
    tcase_add_test(tc, string_escapes_decode_quotes_backslashes_controls_and_hex);
    tcase_add_test(tc, time_fields_take_nanoseconds_or_rfc3339);
    tcase_add_test(tc, size_fields_take_decimal_and_binary_suffixes);
    tcase_add_test(tc, empty_filter_matches_everything);
    tcase_add_test(tc, syntax_errors_name_their_column);
    tcase_add_test(tc, deep_nesting_is_an_error_not_a_crash);
    tcase_add_test(tc, long_chains_of_or_need_no_nesting);
    tcase_add_test(tc, invalid_arguments_and_a_null_errbuf_are_handled);
    tcase_add_test(tc, pathological_regex_gives_up_in_bounded_time);
    tcase_add_test(tc, one_filter_matches_many_sessions);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
