/* check_replaying.c - tests for libkoala/replaying.c: the original koala's /json sessions. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

static int take(const char *json, kl_session **s, char *err)
{
    return kl_replaying_from_json((const uint8_t *)json, strlen(json), s, err);
}

START_TEST(every_field_lands_in_the_session)
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
    ck_assert_int_eq(take(json, &s, err), KL_OK);
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

START_TEST(null_and_absent_members_are_empty)
{
    kl_session *s;
    char err[KL_ERRBUF_SIZE];
    ck_assert_int_eq(take("{\"SessionId\":null,\"CallOutbounds\":null,\"MockFiles\":null}", &s, err), KL_OK);
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
    } cases[] = {{"", ""}, {"YQ==", "a"}, {"YWI=", "ab"}, {"YWJj", "abc"}, {"AP8=", "\x00\xff"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[128];
        snprintf(json, sizeof json, "{\"ReturnInbound\":{\"Response\":\"%s\"}}", cases[i].text);
        kl_session *s;
        ck_assert_int_eq(take(json, &s, NULL), KL_OK);
        size_t n = i == 4 ? 2 : strlen(cases[i].bytes);
        ck_assert_uint_eq(s->return_inbound.response.len, n);
        if (n)
            ck_assert_mem_eq(s->return_inbound.response.data, cases[i].bytes, n);
        kl_session_free(s);
    }
}
END_TEST

START_TEST(errors_name_the_json_path)
{
    static const struct {
        const char *json, *err;
    } cases[] = {
        {"{\"CallOutbounds\":[{},{\"Request\":\"YQ\"}]}", "$.CallOutbounds[1].Request: not base64: its length is not a multiple of 4"},
        {"{\"CallOutbounds\":[{\"Response\":\"Y=Q=\"}]}", "$.CallOutbounds[0].Response: not base64: byte 1 is '='"},
        {"{\"CallFromInbound\":{\"OccurredAt\":\"soon\"}}", "$.CallFromInbound.OccurredAt: should be an integer"},
        {"{\"CallOutbounds\":{}}", "$.CallOutbounds: should be an array"},
        {"{\"CallOutbounds\":[3]}", "$.CallOutbounds[0]: should be an object"},
        {"{\"CallOutbounds\":[{\"Peer\":{\"IP\":\"nowhere\",\"Port\":1}}]}", "$.CallOutbounds[0].Peer: not an IP address and port"},
        {"{\"MockFiles\":{\"/a\":7}}", "$.MockFiles./a: should be a string"},
        {"[1]", "$: should be an object (a ReplayingSession)"},
        {"{\"a\":", "line 1, column 5: unexpected token near end of file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kl_session *s = (kl_session *)1;
        char err[KL_ERRBUF_SIZE];
        ck_assert_int_eq(take(cases[i].json, &s, err), KL_ERR_CORRUPT);
        ck_assert_ptr_null(s);
        ck_assert_str_eq(err, cases[i].err);
    }
    kl_session *s;
    ck_assert_int_eq(kl_replaying_from_json(NULL, 3, &s, NULL), KL_ERR_INVALID);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("replaying");
    TCase *tc = tcase_create("replaying");
    tcase_add_test(tc, every_field_lands_in_the_session);
    tcase_add_test(tc, null_and_absent_members_are_empty);
    tcase_add_test(tc, base64_is_read_with_its_padding);
    tcase_add_test(tc, errors_name_the_json_path);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
