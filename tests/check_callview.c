/* check_callview.c - tests for libkoala/callview.c: outbound requests named by protocol. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

static const char *view(const void *req, size_t len)
{
    static kl_buf out;
    out.len = 0;
    ck_assert_int_eq(kl_call_describe(req, len, &out), KL_OK);
    return out.len ? out.data : "";
}

#define VIEW(lit) view(lit, sizeof lit - 1)

START_TEST(redis_commands_read_as_words)
{
    ck_assert_str_eq(VIEW("*2\r\n$4\r\nINCR\r\n$13\r\nvisits:user:7\r\n"), "redis: INCR visits:user:7");
    ck_assert_str_eq(VIEW("*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), "redis: PING | GET k");
    ck_assert_str_eq(VIEW("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\x01\\\r\n"), "redis: SET k a\\x01\\x5c");
}
END_TEST

START_TEST(a_long_argument_is_cut)
{
    char req[200];
    char arg[100];
    memset(arg, 'v', sizeof arg);
    int n = snprintf(req, sizeof req, "*2\r\n$3\r\nGET\r\n$100\r\n%.100s\r\n", arg);
    const char *v = view(req, (size_t)n);
    ck_assert_uint_eq(strlen(v), strlen("redis: GET ") + 64 + 3);
    ck_assert(strcmp(v + strlen(v) - 3, "...") == 0);
}
END_TEST

START_TEST(broken_resp_is_shown_as_text)
{
    ck_assert_str_eq(VIEW("*2\r\n$4\r\nINCR\r\n$99\r\nshort\r\n"), "*2  $4  INCR  $99  short  ");
}
END_TEST

START_TEST(mysql_queries_read_as_their_sql)
{
    static const char query[] = "\x15\x00\x00\x00\x03SELECT * FROM users";
    ck_assert_str_eq(view(query, sizeof query - 1), "mysql: SELECT * FROM users");
    static const char ping[] = "\x01\x00\x00\x00\x0e";
    ck_assert_str_eq(view(ping, sizeof ping - 1), "mysql: ping");
    static const char use[] = "\x05\x00\x00\x00\x02shop";
    ck_assert_str_eq(view(use, sizeof use - 1), "mysql: use shop");
}
END_TEST

START_TEST(http_requests_read_as_their_request_line)
{
    ck_assert_str_eq(VIEW("GET /profile/7 HTTP/1.1\r\nHost: b\r\n\r\n"), "http: GET /profile/7 HTTP/1.1");
}
END_TEST

START_TEST(fastcgi_requests_read_as_method_and_uri)
{
    kl_buf p = {0}, r = {0};
    tu_fcgi_param(&p, "REQUEST_METHOD", "GET");
    tu_fcgi_param(&p, "REQUEST_URI", "/index.php?r=user&id=7");
    tu_fcgi_request(&r, &p);
    ck_assert_str_eq(view(r.data, r.len), "fastcgi: GET /index.php?r=user&id=7");
    kl_buf_free(&r);
    /* params naming no method */
    tu_fcgi_record(&r, 1, "\0\1\0\0\0\0\0\0", 8);
    tu_fcgi_record(&r, 4, p.data + 18, p.len - 18);
    ck_assert_str_eq(view(r.data, r.len), "fastcgi: request of 66 bytes");
    kl_buf_free(&r);
    kl_buf_free(&p);
}
END_TEST

START_TEST(an_empty_request_waited_for_a_greeting)
{
    ck_assert_str_eq(view("", 0), "(nothing sent: the server speaks first)");
    kl_buf out = {0};
    ck_assert_int_eq(kl_call_describe(NULL, 3, &out), KL_ERR_INVALID);
}
END_TEST

START_TEST(anything_else_shows_its_first_bytes)
{
    ck_assert_str_eq(VIEW("LOGIN koala\n"), "LOGIN koala ");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("callview");
    TCase *tc = tcase_create("callview");
    tcase_add_test(tc, redis_commands_read_as_words);
    tcase_add_test(tc, a_long_argument_is_cut);
    tcase_add_test(tc, broken_resp_is_shown_as_text);
    tcase_add_test(tc, mysql_queries_read_as_their_sql);
    tcase_add_test(tc, http_requests_read_as_their_request_line);
    tcase_add_test(tc, fastcgi_requests_read_as_method_and_uri);
    tcase_add_test(tc, an_empty_request_waited_for_a_greeting);
    tcase_add_test(tc, anything_else_shows_its_first_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
