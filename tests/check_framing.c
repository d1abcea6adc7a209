/* check_framing.c - tests of libkoala/framing.c: message ends in HTTP, FastCGI, RESP, MySQL. */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1
#define RSP KL_FRAME_RESPONSE

/* A byte field of the original koala's fixture: JSON-unescape, then \xHH is the byte 0xHH.
 * @return malloc'd bytes, *len set. */
static uint8_t *fixture_bytes(const char *obj, const char *field, size_t *len)
{
    json_error_t e;
    json_t *root = json_load_file(TU_FIXTURE, 0, &e);
    ck_assert_msg(root != NULL, "%s: %s", TU_FIXTURE, e.text);
    json_t *v = json_object_get(obj ? json_object_get(root, obj) : root, field);
    if (!v) /* the first outbound call */
        v = json_object_get(json_array_get(json_object_get(root, "Actions"), 0), field);
    uint8_t *out = malloc(json_string_length(v) + 1);
    *len = tu_unescape_x(json_string_value(v), json_string_length(v), out);
    json_decref(root);
    return out;
}

/* Frame data[0..len) from scratch. @return the message length, 0 for "more", or the error. */
static long frame(kl_protocol p, unsigned flags, const uint8_t *data, size_t len)
{
    size_t n = 99;
    int r = kl_frame_message(p, flags, data, len, NULL, &n);
    if (r != KL_OK)
        return r;
    return (long)n;
}

/* Feed data one byte at a time through one state; every prefix before want bytes must ask
 * for more, and a fresh scan of each prefix must agree with the resumed one. Each prefix
 * is an exact-size copy, so that ASan catches a read past the bytes received. */
static void check_incremental(kl_protocol p, unsigned flags, const uint8_t *data, size_t len,
                              size_t want)
{
    kl_frame_state st = {0};
    for (size_t i = 0; i <= len; i++) {
        uint8_t *prefix = malloc(i ? i : 1);
        memcpy(prefix, data, i);
        size_t n = 99;
        ck_assert_int_eq(kl_frame_message(p, flags, prefix, i, &st, &n), KL_OK);
        ck_assert_uint_eq(n, i < want ? 0 : want);
        ck_assert_int_eq(frame(p, flags, prefix, i), (long)n);
        free(prefix);
    }
}

/* ------------------------------------------------------------------ HTTP */

START_TEST(a_request_without_body_ends_at_its_blank_line)
{
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("GET / HTTP/1.1\r\nHost: a\r\n\r\n")), 27);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("GET / HTTP/1.1\r\nHost: a\r\n\r")), 0);
    /* bare LF line ends, and an empty line before the request line, are tolerated */
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("\r\nGET / HTTP/1.0\nHost: a\n\nX")), 26);
}
END_TEST

START_TEST(content_length_frames_the_body_whatever_the_header_case)
{
    static const char req[] = "POST /u HTTP/1.1\r\ncontent-LENGTH:  5 \r\n\r\nhelloGET";
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, (const uint8_t *)req, sizeof req - 1), 46);
    check_incremental(KL_PROTO_HTTP, 0, (const uint8_t *)req, sizeof req - 1, 46);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP,
                           S("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nConnection: close\r\n\r\nok")),
                     62);
}
END_TEST

START_TEST(a_chunked_body_ends_after_its_last_chunk_and_trailers)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"
                               "5;name=v\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\nHTTP";
    size_t want = sizeof resp - 1 - 4;
    check_incremental(KL_PROTO_HTTP, RSP, (const uint8_t *)resp, sizeof resp - 1, want);
    static const char req[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "a\r\n0123456789\r\n0\r\n\r\n";
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S(req)), (long)sizeof req - 1);
}
END_TEST

START_TEST(the_fixture_chunked_response_ends_exactly_at_its_last_byte)
{
    size_t len;
    uint8_t *resp = fixture_bytes(NULL, "Response", &len);
    ck_assert_int_gt(len, 13000);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP, resp, len), (long)len);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP, resp, len - 1), 0);
    check_incremental(KL_PROTO_HTTP, RSP, resp, len, len);
    uint8_t *req = fixture_bytes(NULL, "Request", &len);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, req, len), (long)len);
    free(req);
    free(resp);
}
END_TEST

START_TEST(responses_without_body_end_at_their_headers)
{
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP, S("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n")), 46);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP, S("HTTP/1.1 304 Not Modified\r\n\r\nxyz")), 29);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP | KL_FRAME_HEAD,
                           S("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")), 41);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP, S("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")), 0);
    /* the protocol after 101 is not HTTP: the message is the 101 itself */
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP, S("HTTP/1.1 101 Switching\r\nUpgrade: ws\r\n\r\n\x81\x05")), 39);
}
END_TEST

START_TEST(interim_responses_belong_to_the_final_response)
{
    static const char resp[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                               "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    check_incremental(KL_PROTO_HTTP, RSP, (const uint8_t *)resp, sizeof resp - 1, sizeof resp - 1);
}
END_TEST

START_TEST(a_response_without_length_completes_only_at_close)
{
    static const char resp[] = "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nall of it";
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP, S(resp)), 0);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP | KL_FRAME_EOF, S(resp)), (long)sizeof resp - 1);
    kl_frame_state st = {0};
    size_t n;
    ck_assert_int_eq(kl_frame_message(KL_PROTO_HTTP, RSP, S(resp), &st, &n), KL_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(kl_frame_message(KL_PROTO_HTTP, RSP | KL_FRAME_EOF, S(resp), &st, &n), KL_OK);
    ck_assert_uint_eq(n, sizeof resp - 1);
    /* a transfer coding other than chunked also runs until the close */
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz")), 0);
}
END_TEST

START_TEST(a_message_cut_by_the_close_is_truncated)
{
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP | KL_FRAME_EOF,
                           S("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")), KL_ERR_TRUNCATED);
    ck_assert_int_eq(frame(KL_PROTO_RESP, RSP | KL_FRAME_EOF, S("$5\r\nab")), KL_ERR_TRUNCATED);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, KL_FRAME_EOF, (const uint8_t *)"", 0), 0);
}
END_TEST

START_TEST(pipelined_requests_frame_one_at_a_time)
{
    static const char two[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                              "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    long first = frame(KL_PROTO_HTTP, 0, S(two));
    ck_assert_int_eq(first, 28);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, (const uint8_t *)two + first, sizeof two - 1 - (size_t)first),
                     (long)(sizeof two - 1 - (size_t)first));
}
END_TEST

START_TEST(headers_past_64_kib_are_not_http)
{
    size_t len = KL_FRAME_MAX_HEADER + 100;
    uint8_t *big = malloc(len);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    memset(big + 19, 'a', len - 19);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, big, KL_FRAME_MAX_HEADER - 10), 0);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, big, len), KL_ERR_TOOBIG);
    free(big);
}
END_TEST

START_TEST(bytes_that_cannot_be_http_are_refused_early)
{
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("\x16\x03\x01\x02\x00\n")), KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("GET /\r\n\r\n")), KL_ERR_CORRUPT); /* HTTP/0.9 */
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("PRI * HTTP/2.0\r\n\r\n")), KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP, S("HTTP/1.1 2x0 OK\r\n")), KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("GET / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n")),
                     KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")),
                     KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("GET / HTTP/1.1\r\nNo colon\r\n\r\n")), KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("GET / HTTP/1.1\r\nNoColonAtAll\r\n\r\n")), KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("GET / HTTP/1.1\r\n: no name\r\n\r\n")), KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("GET / HTTP/1.1\r\nHost : a\r\n\r\n")), KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, 0, S("GET / HTTP/1.1\r\nX(y): a:b\r\n\r\n")), KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")),
                     KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_HTTP, RSP, S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX")),
                     KL_ERR_CORRUPT);
}
END_TEST

/* A header block's fields are read as its end is looked for, and again whole when it came in
 * pieces: a bad field waits for the block's end either way, then refuses the message. */
START_TEST(a_bad_field_refuses_the_message_once_its_block_is_whole)
{
    static const char whole[] = "GET / HTTP/1.1\r\nHost: a\r\nNo colon\r\nX: 1\r\n\r\n";
    size_t cuts[] = {16, 27, 35, 38, 41, 42}; /* the whole block is 43 bytes */
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        kl_frame_state st = {0};
        size_t n = 99;
        ck_assert_int_eq(kl_frame_message(KL_PROTO_HTTP, 0, (const uint8_t *)whole, cuts[c], &st, &n), KL_OK);
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(kl_frame_message(KL_PROTO_HTTP, 0, (const uint8_t *)whole, sizeof whole - 1, &st, &n),
                         KL_ERR_CORRUPT);
    }
    static const char good[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
    kl_frame_state st = {0};
    size_t n = 99;
    ck_assert_int_eq(kl_frame_message(KL_PROTO_HTTP, 0, (const uint8_t *)good, 30, &st, &n), KL_OK);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(kl_frame_message(KL_PROTO_HTTP, 0, (const uint8_t *)good, sizeof good - 1, &st, &n), KL_OK);
    ck_assert_uint_eq(n, sizeof good - 1);
}
END_TEST

/* --------------------------------------------------------------- FastCGI */

START_TEST(the_fixture_fastcgi_request_ends_at_its_empty_stdin)
{
    size_t len;
    uint8_t *req = fixture_bytes("CallFromInbound", "Request", &len);
    check_incremental(KL_PROTO_FASTCGI, 0, req, len, len);
    /* a second request behind it stays out of the first */
    uint8_t *two = malloc(2 * len);
    memcpy(two, req, len);
    memcpy(two + len, req, len);
    ck_assert_int_eq(frame(KL_PROTO_FASTCGI, 0, two, 2 * len), (long)len);
    free(two);
    free(req);
}
END_TEST

START_TEST(the_fixture_fastcgi_response_ends_at_end_request)
{
    size_t len;
    uint8_t *resp = fixture_bytes("ReturnInbound", "Response", &len);
    check_incremental(KL_PROTO_FASTCGI, RSP, resp, len, len);
    ck_assert_int_eq(frame(KL_PROTO_FASTCGI, 0, resp, len), KL_ERR_CORRUPT); /* not a request */
    free(resp);
}
END_TEST

START_TEST(fastcgi_records_of_other_requests_do_not_end_the_message)
{
    /* STDOUT id 1, END_REQUEST id 2, END_REQUEST id 1 */
    static const uint8_t resp[] = {1, 6, 0, 1, 0, 2, 0, 0, 'h', 'i',
                                   1, 3, 0, 2, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(frame(KL_PROTO_FASTCGI, RSP, resp, sizeof resp), (long)sizeof resp);
    ck_assert_int_eq(frame(KL_PROTO_FASTCGI, RSP, resp, sizeof resp - 1), 0);
    /* a management record is a message of its own */
    static const uint8_t values[] = {1, 9, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1};
    ck_assert_int_eq(frame(KL_PROTO_FASTCGI, 0, values, sizeof values), 8);
    /* the filter role ends with its empty data stream, not its stdin */
    static const uint8_t filter[] = {1, 1, 0, 1, 0, 8, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0,
                                     1, 5, 0, 1, 0, 0, 0, 0,
                                     1, 8, 0, 1, 0, 1, 7, 0, 'd', 0, 0, 0, 0, 0, 0, 0,
                                     1, 8, 0, 1, 0, 0, 0, 0};
    ck_assert_int_eq(frame(KL_PROTO_FASTCGI, 0, filter, sizeof filter - 1), 0);
    ck_assert_int_eq(frame(KL_PROTO_FASTCGI, 0, filter, sizeof filter), (long)sizeof filter);
    static const uint8_t v2[] = {2, 1, 0, 1, 0, 0, 0, 0};
    ck_assert_int_eq(frame(KL_PROTO_FASTCGI, 0, v2, sizeof v2), KL_ERR_CORRUPT);
}
END_TEST

/* ------------------------------------------------------------------ RESP */

START_TEST(resp_values_of_every_type_frame_to_their_end)
{
    static const struct {
        const char *bytes;
        unsigned flags;
        long want;
    } cases[] = {
        {"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1", 0, 27},
        {"+OK\r\n+OK\r\n", RSP, 5},
        {"-ERR wrong type\r\n", RSP, 17},
        {":-1000\r\n", RSP, 8},
        {"$-1\r\n", RSP, 5},
        {"*-1\r\n", RSP, 5},
        {"*0\r\n", RSP, 4},
        {"$0\r\n\r\n", RSP, 6},
        {"$4\r\na\r\nb\r\n", RSP, 10},
        {"*2\r\n*1\r\n:1\r\n$3\r\nabc\r\n", RSP, 21},
        {"%1\r\n+a\r\n:1\r\n", RSP, 12},
        {"|1\r\n+k\r\n+v\r\n:5\r\n", RSP, 16},
        {"~2\r\n_\r\n#t\r\n", RSP, 11},
        {"PING\r\n", 0, 6},
        {"set a b\nGET", 0, 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint8_t *b = (const uint8_t *)cases[i].bytes;
        size_t len = strlen(cases[i].bytes);
        ck_assert_msg(frame(KL_PROTO_RESP, cases[i].flags, b, len) == cases[i].want, "case %zu", i);
        check_incremental(KL_PROTO_RESP, cases[i].flags, b, len, (size_t)cases[i].want);
    }
}
END_TEST

START_TEST(malformed_resp_is_refused)
{
    ck_assert_int_eq(frame(KL_PROTO_RESP, RSP, S("$3\r\nabcd\r\n")), KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_RESP, RSP, S("?x\r\n")), KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_RESP, RSP, S("PONG\r\n")), KL_ERR_CORRUPT); /* replies are typed */
    ck_assert_int_eq(frame(KL_PROTO_RESP, RSP, S(":12a\r\n")), KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_RESP, RSP, S("*-2\r\n")), KL_ERR_CORRUPT);
    ck_assert_int_eq(frame(KL_PROTO_RESP, RSP, S("+OK\n")), KL_ERR_CORRUPT);
}
END_TEST

/* ----------------------------------------------------------------- MySQL */

START_TEST(a_mysql_command_is_one_packet)
{
    static const uint8_t q[] = {9, 0, 0, 0, 3, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 1, 0, 0};
    check_incremental(KL_PROTO_MYSQL, 0, q, sizeof q, 13);
}
END_TEST

START_TEST(a_full_mysql_packet_continues_in_the_next)
{
    size_t big = 0xffffff, len = 4 + big + 4 + 3;
    uint8_t *p = calloc(1, len);
    p[0] = p[1] = p[2] = 0xff;
    p[3] = 0;
    uint8_t *tail = p + 4 + big;
    tail[0] = 3;
    tail[3] = 1;
    ck_assert_int_eq(frame(KL_PROTO_MYSQL, 0, p, len - 1), 0);
    ck_assert_int_eq(frame(KL_PROTO_MYSQL, 0, p, len), (long)len);
    tail[3] = 5; /* not the next sequence id */
    ck_assert_int_eq(frame(KL_PROTO_MYSQL, 0, p, len), KL_ERR_CORRUPT);
    free(p);
}
END_TEST

START_TEST(a_result_set_is_framed_packet_by_packet_by_its_caller)
{
    /* column count 1, column definition, EOF, one row, EOF */
    static const uint8_t rs[] = {1, 0, 0, 1, 1,
                                 3, 0, 0, 2, 'd', 'e', 'f',
                                 5, 0, 0, 3, 0xfe, 0, 0, 2, 0,
                                 2, 0, 0, 4, 1, '1',
                                 5, 0, 0, 5, 0xfe, 0, 0, 2, 0};
    size_t off = 0, packets = 0;
    uint8_t last = 0;
    while (off < sizeof rs) {
        long n = frame(KL_PROTO_MYSQL, RSP, rs + off, sizeof rs - off);
        ck_assert_int_gt(n, 0);
        last = rs[off + 4];
        off += (size_t)n;
        packets++;
    }
    ck_assert_uint_eq(off, sizeof rs);
    ck_assert_uint_eq(last, 0xfe); /* the caller knows the reply ends at this EOF */
    ck_assert_uint_eq(packets, 5);
}
END_TEST

/* ------------------------------------------------------------- detection */

START_TEST(the_first_bytes_tell_the_protocol)
{
    size_t len;
    uint8_t *fcgi = fixture_bytes("CallFromInbound", "Request", &len);
    ck_assert_int_eq(kl_frame_detect(fcgi, len), KL_PROTO_FASTCGI);
    free(fcgi);
    fcgi = fixture_bytes("ReturnInbound", "Response", &len);
    ck_assert_int_eq(kl_frame_detect(fcgi, len), KL_PROTO_FASTCGI);
    free(fcgi);
    ck_assert_int_eq(kl_frame_detect(S("GET /x HTTP/1.1\r\n")), KL_PROTO_HTTP);
    ck_assert_int_eq(kl_frame_detect(S("DELETE /x")), KL_PROTO_HTTP);
    ck_assert_int_eq(kl_frame_detect(S("HTTP/1.1 200 OK\r\n")), KL_PROTO_HTTP);
    ck_assert_int_eq(kl_frame_detect(S("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")), KL_PROTO_RESP);
    ck_assert_int_eq(kl_frame_detect(S("+OK\r\n")), KL_PROTO_RESP);
    ck_assert_int_eq(kl_frame_detect(S("-ERR no\r\n")), KL_PROTO_RESP);
    ck_assert_int_eq(kl_frame_detect(S("$-1\r\n")), KL_PROTO_RESP);
    static const uint8_t greeting[] = {0x4a, 0, 0, 0, 10, '8', '.', '0', '.', '3', '6', 0, 1, 2, 3};
    ck_assert_int_eq(kl_frame_detect(greeting, sizeof greeting), KL_PROTO_MYSQL);
    static const uint8_t query[] = {9, 0, 0, 0, 3, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1'};
    ck_assert_int_eq(kl_frame_detect(query, sizeof query), KL_PROTO_MYSQL);
    /* unknown: TLS, HTTP/2, prose, a RESP-looking start without its line end, too few bytes */
    ck_assert_int_eq(kl_frame_detect(S("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")), KL_PROTO_UNKNOWN);
    ck_assert_int_eq(kl_frame_detect(S("PRI * HTTP/2.0\r\n")), KL_PROTO_UNKNOWN);
    ck_assert_int_eq(kl_frame_detect(S("hello world\n")), KL_PROTO_UNKNOWN);
    ck_assert_int_eq(kl_frame_detect(S("*2\r")), KL_PROTO_UNKNOWN);
    ck_assert_int_eq(kl_frame_detect(S("*2\r\nX")), KL_PROTO_UNKNOWN);
    ck_assert_int_eq(kl_frame_detect(S("GE")), KL_PROTO_UNKNOWN);
    ck_assert_int_eq(kl_frame_detect(NULL, 0), KL_PROTO_UNKNOWN);
}
END_TEST

START_TEST(misuse_is_refused_and_names_are_stable)
{
    size_t n;
    ck_assert_int_eq(kl_frame_message(KL_PROTO_UNKNOWN, 0, S("x"), NULL, &n), KL_ERR_INVALID);
    kl_frame_state st = {0};
    ck_assert_int_eq(kl_frame_message(KL_PROTO_HTTP, 0, S("GET / HTTP/1.1\r\nA: b\r\n"), &st, &n), KL_OK);
    ck_assert_int_eq(kl_frame_message(KL_PROTO_HTTP, 0, S("GET"), &st, &n), KL_ERR_INVALID);
    ck_assert_str_eq(kl_protocol_name(KL_PROTO_HTTP), "http");
    ck_assert_str_eq(kl_protocol_name(KL_PROTO_FASTCGI), "fastcgi");
    ck_assert_str_eq(kl_protocol_name(KL_PROTO_RESP), "resp");
    ck_assert_str_eq(kl_protocol_name(KL_PROTO_MYSQL), "mysql");
    ck_assert_str_eq(kl_protocol_name(KL_PROTO_UNKNOWN), "unknown");
}
END_TEST

/* Many small chunks arriving one by one cost linear time with a kept state. */
START_TEST(a_long_chunked_stream_is_framed_in_linear_time)
{
    size_t chunks = 200000, len = 0;
    uint8_t *b = malloc(64 + chunks * 6 + 8);
    len += (size_t)sprintf((char *)b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    kl_frame_state st = {0};
    size_t n = 1;
    for (size_t i = 0; i < chunks; i++) {
        memcpy(b + len, "1\r\nx\r\n", 6);
        len += 6;
        ck_assert_int_eq(kl_frame_message(KL_PROTO_HTTP, RSP, b, len, &st, &n), KL_OK);
        ck_assert_uint_eq(n, 0);
    }
    memcpy(b + len, "0\r\n\r\n", 5);
    len += 5;
    ck_assert_int_eq(kl_frame_message(KL_PROTO_HTTP, RSP, b, len, &st, &n), KL_OK);
    ck_assert_uint_eq(n, len);
    free(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("framing");
    TCase *tc = tcase_create("framing");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_request_without_body_ends_at_its_blank_line);
    tcase_add_test(tc, content_length_frames_the_body_whatever_the_header_case);
    tcase_add_test(tc, a_chunked_body_ends_after_its_last_chunk_and_trailers);
    tcase_add_test(tc, the_fixture_chunked_response_ends_exactly_at_its_last_byte);
    tcase_add_test(tc, responses_without_body_end_at_their_headers);
    tcase_add_test(tc, interim_responses_belong_to_the_final_response);
    tcase_add_test(tc, a_response_without_length_completes_only_at_close);
    tcase_add_test(tc, a_message_cut_by_the_close_is_truncated);
    tcase_add_test(tc, pipelined_requests_frame_one_at_a_time);
    tcase_add_test(tc, headers_past_64_kib_are_not_http);
    tcase_add_test(tc, bytes_that_cannot_be_http_are_refused_early);
    tcase_add_test(tc, a_bad_field_refuses_the_message_once_its_block_is_whole);
    tcase_add_test(tc, the_fixture_fastcgi_request_ends_at_its_empty_stdin);
    tcase_add_test(tc, the_fixture_fastcgi_response_ends_at_end_request);
    tcase_add_test(tc, fastcgi_records_of_other_requests_do_not_end_the_message);
    tcase_add_test(tc, resp_values_of_every_type_frame_to_their_end);
    tcase_add_test(tc, malformed_resp_is_refused);
    tcase_add_test(tc, a_mysql_command_is_one_packet);
    tcase_add_test(tc, a_full_mysql_packet_continues_in_the_next);
    tcase_add_test(tc, a_result_set_is_framed_packet_by_packet_by_its_caller);
    tcase_add_test(tc, the_first_bytes_tell_the_protocol);
    tcase_add_test(tc, misuse_is_refused_and_names_are_stable);
    tcase_add_test(tc, a_long_chunked_stream_is_framed_in_linear_time);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
