/* check_builder.c - tests of libkoala/builder.c: event sequences in, exact sessions out. */
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define T0 INT64_C(1700000000000000000)
#define T(us) (T0 + (int64_t)(us) * 1000) /* microseconds after T0 */

static kl_addr client, client2, redis, mysql, backend, statsd, local;

static void setup(void)
{
    kl_addr_parse("10.0.0.7:51234", &client);
    kl_addr_parse("10.0.0.8:40000", &client2);
    kl_addr_parse("127.0.0.1:6379", &redis);
    kl_addr_parse("10.1.0.3:3306", &mysql);
    kl_addr_parse("10.1.0.9:80", &backend);
    kl_addr_parse("127.0.0.1:8125", &statsd);
    kl_addr_parse("10.0.0.1:50000", &local);
}

static kl_builder *builder(kl_inbound_mode mode, size_t max_actions, size_t max_bytes, int64_t linger)
{
    kl_builder_opts o;
    kl_builder_opts_init(&o);
    o.thread_id = 4242;
    o.host = "web-1";
    o.pid = 321;
    o.program = "svc";
    o.inbound = mode;
    o.max_actions = max_actions ? max_actions : o.max_actions;
    o.max_bytes = max_bytes ? max_bytes : o.max_bytes;
    o.linger_ns = linger;
    kl_builder *b;
    ck_assert_int_eq(kl_builder_new(&b, &o), KL_OK);
    return b;
}

static int feedn(kl_builder *b, kl_event_type type, int64_t t, int fd, const kl_addr *peer,
                 const void *data, size_t len)
{
    kl_event ev = {.type = type, .time = t, .fd = fd, .peer = peer, .local = &local,
                   .data = data, .len = len};
    return kl_builder_feed(b, &ev);
}

/* Feed a text event; it must succeed. */
static void feed(kl_builder *b, kl_event_type type, int64_t t, int fd, const kl_addr *peer, const char *s)
{
    ck_assert_int_eq(feedn(b, type, t, fd, peer, s, strlen(s)), KL_OK);
}

static void feed_file(kl_builder *b, int64_t t, const char *name, const char *s)
{
    kl_event ev = {.type = KL_EV_APPEND_FILE, .time = t, .file_name = name,
                   .data = (const uint8_t *)s, .len = strlen(s)};
    ck_assert_int_eq(kl_builder_feed(b, &ev), KL_OK);
}

static void feed_close(kl_builder *b, kl_event_type type, int64_t t, int fd)
{
    kl_event ev = {.type = type, .time = t, .fd = fd};
    ck_assert_int_eq(kl_builder_feed(b, &ev), KL_OK);
}

static kl_session *take(kl_builder *b)
{
    kl_session *s = kl_builder_take(b);
    ck_assert_msg(s != NULL, "no session was handed out");
    return s;
}

#define ck_bytes(kb, str)                                                                   \
    do {                                                                                    \
        kl_bytes b_ = (kb);                                                                 \
        const char *s_ = (str);                                                             \
        ck_assert_uint_eq(b_.len, strlen(s_));                                              \
        ck_assert_msg(b_.len == 0 || memcmp(b_.data, s_, b_.len) == 0, "bytes differ: %.*s", \
                      (int)b_.len, (const char *)b_.data);                                  \
    } while (0)

static const char *id_of(int64_t t)
{
    static char buf[4][48];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, 48, "%lld-4242", (long long)t);
    return p;
}

static void ck_call(const kl_action *a, int64_t index, int64_t at, int fd, const kl_addr *peer,
                    const char *req, const char *resp, int64_t resp_at)
{
    ck_assert_int_eq(a->type, KL_ACTION_CALL_OUTBOUND);
    ck_assert_int_eq(a->index, index);
    ck_assert_int_eq(a->occurred_at, at);
    ck_assert_int_eq(a->socket_fd, fd);
    ck_assert(kl_addr_equal(&a->peer, peer));
    ck_assert(kl_addr_equal(&a->local, &local));
    ck_bytes(a->request, req);
    ck_bytes(a->response, resp);
    ck_assert_int_eq(a->response_time, resp_at);
}

static void ck_marker(const kl_session *s, size_t i, int64_t at)
{
    ck_assert_int_eq(s->actions[i].type, KL_ACTION_RETURN_INBOUND);
    ck_assert_int_eq(s->actions[i].index, (int64_t)i);
    ck_assert_int_eq(s->actions[i].occurred_at, at);
    ck_assert(s->return_inbound.present);
    ck_assert_int_eq(s->return_inbound.index, (int64_t)i);
    ck_assert_int_eq(s->return_inbound.occurred_at, at);
}

static const char GET1[] = "GET /users/1 HTTP/1.1\r\nHost: svc\r\n\r\n";
static const char GET2[] = "GET /users/2 HTTP/1.1\r\nHost: svc\r\n\r\n";
static const char OK1[] = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"id\":1";
static const char OK2[] = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"id\":2";
static const char RGET[] = "*2\r\n$3\r\nGET\r\n$6\r\nuser:1\r\n";
static const char RVAL[] = "$7\r\n{\"id\":1\r\n";

START_TEST(a_keep_alive_connection_yields_one_session_per_request_as_each_response_ends)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_OUTBOUND_SEND, T(10), 7, &redis, RGET);
    feed(b, KL_EV_OUTBOUND_RECV, T(30), 7, &redis, RVAL);
    feed(b, KL_EV_INBOUND_SEND, T(40), 5, &client, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n");
    ck_assert_ptr_null(kl_builder_take(b));
    feed(b, KL_EV_INBOUND_SEND, T(41), 5, &client, "{\"id\":1");
    kl_session *s = take(b);
    ck_assert_ptr_null(kl_builder_take(b));
    ck_assert_str_eq(s->id, id_of(T(0)));
    ck_assert_int_eq(s->thread_id, 4242);
    ck_assert_str_eq(s->host, "web-1");
    ck_assert_int_eq(s->pid, 321);
    ck_assert_str_eq(s->program, "svc");
    ck_assert_ptr_null(s->next_session_id); /* handed out before the next request began */
    ck_assert(!s->truncated);
    ck_assert(s->call_from_inbound.present);
    ck_assert_int_eq(s->call_from_inbound.index, 0);
    ck_assert_int_eq(s->call_from_inbound.occurred_at, T(0));
    ck_assert(kl_addr_equal(&s->call_from_inbound.peer, &client));
    ck_bytes(s->call_from_inbound.request, GET1);
    ck_bytes(s->return_inbound.response, OK1);
    ck_assert_uint_eq(s->n_actions, 2);
    ck_call(&s->actions[0], 0, T(10), 7, &redis, RGET, RVAL, T(30));
    ck_marker(s, 1, T(40));
    kl_session_free(s);

    feed(b, KL_EV_INBOUND_RECV, T(100), 5, &client, GET2);
    feed(b, KL_EV_INBOUND_SEND, T(140), 5, &client, OK2);
    s = take(b);
    ck_assert_str_eq(s->id, id_of(T(100)));
    ck_bytes(s->call_from_inbound.request, GET2);
    ck_bytes(s->return_inbound.response, OK2);
    ck_assert_uint_eq(s->n_actions, 1);
    ck_marker(s, 0, T(140));
    kl_session_free(s);

    kl_builder_totals tot;
    kl_builder_get_totals(b, &tot);
    ck_assert_uint_eq(tot.sessions, 2);
    ck_assert_uint_eq(tot.dropped_bytes, 0);
    kl_builder_free(b);
}
END_TEST

START_TEST(without_framing_the_next_request_ends_the_session_and_is_named_next)
{
    kl_builder *b = builder(KL_INBOUND_NONE, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_INBOUND_SEND, T(40), 5, &client, OK1);
    ck_assert_ptr_null(kl_builder_take(b));
    feed(b, KL_EV_INBOUND_RECV, T(100), 5, &client, GET2); /* request => response => request */
    kl_session *s = take(b);
    ck_assert_str_eq(s->id, id_of(T(0)));
    ck_assert_str_eq(s->next_session_id, id_of(T(100)));
    ck_bytes(s->return_inbound.response, OK1);
    kl_session_free(s);
    feed(b, KL_EV_INBOUND_SEND, T(140), 5, &client, OK2);
    ck_assert_int_eq(kl_builder_flush(b), KL_OK); /* an idle timeout */
    s = take(b);
    ck_assert_str_eq(s->id, id_of(T(100)));
    ck_assert_ptr_null(s->next_session_id);
    ck_bytes(s->call_from_inbound.request, GET2);
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(pipelined_requests_and_responses_split_into_sessions)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    char both[256];
    snprintf(both, sizeof both, "%s%s", GET1, GET2);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, both);
    feed(b, KL_EV_OUTBOUND_SEND, T(10), 7, &redis, RGET);
    feed(b, KL_EV_OUTBOUND_RECV, T(20), 7, &redis, RVAL);
    snprintf(both, sizeof both, "%s%s", OK1, OK2);
    feed(b, KL_EV_INBOUND_SEND, T(50), 5, &client, both);
    kl_session *s1 = take(b), *s2 = take(b);
    ck_assert_ptr_null(kl_builder_take(b));
    /* both began with the same read: ids stay unique and increasing */
    ck_assert_str_eq(s1->id, id_of(T(0)));
    ck_assert_str_eq(s2->id, id_of(T(0) + 1));
    ck_assert_str_eq(s1->next_session_id, s2->id);
    ck_bytes(s1->call_from_inbound.request, GET1);
    ck_bytes(s1->return_inbound.response, OK1);
    ck_assert_uint_eq(s1->n_actions, 2);
    ck_bytes(s2->call_from_inbound.request, GET2);
    ck_assert_int_eq(s2->call_from_inbound.occurred_at, T(0));
    ck_bytes(s2->return_inbound.response, OK2);
    ck_assert_uint_eq(s2->n_actions, 1);
    ck_marker(s2, 0, T(50));
    kl_session_free(s1);
    kl_session_free(s2);
    kl_builder_free(b);
}
END_TEST

START_TEST(a_pipelined_request_waits_for_its_own_response)
{
    kl_builder *b = builder(KL_INBOUND_HTTP, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_INBOUND_RECV, T(5), 5, &client, GET2); /* before the first is answered */
    feed(b, KL_EV_INBOUND_SEND, T(50), 5, &client, OK1);
    kl_session *s1 = take(b);
    ck_assert_ptr_null(kl_builder_take(b));
    ck_bytes(s1->call_from_inbound.request, GET1);
    ck_assert_str_eq(s1->next_session_id, id_of(T(5)));
    feed(b, KL_EV_OUTBOUND_SEND, T(60), 7, &redis, RGET);
    feed(b, KL_EV_OUTBOUND_RECV, T(70), 7, &redis, RVAL);
    feed(b, KL_EV_INBOUND_SEND, T(80), 5, &client, OK2);
    kl_session *s2 = take(b);
    ck_assert_str_eq(s2->id, id_of(T(5)));
    ck_assert_int_eq(s2->call_from_inbound.occurred_at, T(5));
    ck_bytes(s2->call_from_inbound.request, GET2);
    ck_call(&s2->actions[0], 0, T(60), 7, &redis, RGET, RVAL, T(70));
    ck_marker(s2, 1, T(80));
    kl_session_free(s1);
    kl_session_free(s2);
    kl_builder_free(b);
}
END_TEST

START_TEST(a_chunked_response_ends_the_session_at_its_last_chunk)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, "POST /orders HTTP/1.1\r\nHost: svc\r\n"
                                                  "Content-Length: 4\r\n\r\n");
    feed(b, KL_EV_INBOUND_RECV, T(1), 5, &client, "{\"a\"");
    feed(b, KL_EV_INBOUND_SEND, T(20), 5, &client, "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(21), 5, &client, "3\r\nabc\r\n");
    ck_assert_ptr_null(kl_builder_take(b));
    feed(b, KL_EV_INBOUND_SEND, T(22), 5, &client, "0\r\n\r\n");
    kl_session *s = take(b);
    ck_bytes(s->call_from_inbound.request, "POST /orders HTTP/1.1\r\nHost: svc\r\nContent-Length: 4\r\n\r\n{\"a\"");
    ck_bytes(s->return_inbound.response, "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                                         "3\r\nabc\r\n0\r\n\r\n");
    ck_marker(s, 0, T(20));
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(a_head_response_ends_at_its_headers)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, "HEAD /big HTTP/1.1\r\nHost: svc\r\n\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(9), 5, &client, "HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n");
    kl_session *s = take(b);
    ck_bytes(s->return_inbound.response, "HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n");
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(a_body_read_after_an_early_answer_stays_in_the_request)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, "PUT /f HTTP/1.1\r\nExpect: 100-continue\r\n"
                                                  "Content-Length: 5\r\n\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(1), 5, &client, "HTTP/1.1 100 Continue\r\n\r\n");
    feed(b, KL_EV_INBOUND_RECV, T(2), 5, &client, "hello");
    ck_assert_ptr_null(kl_builder_take(b));
    feed(b, KL_EV_INBOUND_SEND, T(3), 5, &client, "HTTP/1.1 204 No Content\r\n\r\n");
    kl_session *s = take(b);
    ck_bytes(s->call_from_inbound.request, "PUT /f HTTP/1.1\r\nExpect: 100-continue\r\n"
                                           "Content-Length: 5\r\n\r\nhello");
    ck_bytes(s->return_inbound.response, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
    ck_marker(s, 0, T(1));
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

/* A byte field of the original koala's fixture, decoded. */
static uint8_t *fixture_bytes(json_t *obj, const char *field, size_t *len)
{
    json_t *v = json_object_get(obj, field);
    uint8_t *out = malloc(json_string_length(v) + 1);
    *len = tu_unescape_x(json_string_value(v), json_string_length(v), out);
    return out;
}

static int64_t fixture_int(json_t *obj, const char *field)
{
    return json_integer_value(json_object_get(obj, field));
}

/* The fixture's traffic, as the hook would have seen it, in pieces: the same session,
 * indexed as the original indexed it. */
START_TEST(the_fixture_fastcgi_traffic_builds_the_session_the_original_recorded)
{
    json_error_t e;
    json_t *root = json_load_file(TU_FIXTURE, 0, &e);
    ck_assert_msg(root != NULL, "%s: %s", TU_FIXTURE, e.text);
    json_t *in = json_object_get(root, "CallFromInbound"), *ri = json_object_get(root, "ReturnInbound");
    json_t *call = json_array_get(json_object_get(root, "Actions"), 0);
    size_t req_n, resp_n, oreq_n, oresp_n;
    uint8_t *req = fixture_bytes(in, "Request", &req_n), *resp = fixture_bytes(ri, "Response", &resp_n);
    uint8_t *oreq = fixture_bytes(call, "Request", &oreq_n), *oresp = fixture_bytes(call, "Response", &oresp_n);
    int64_t t_in = fixture_int(in, "OccurredAt"), t_call = fixture_int(call, "OccurredAt");
    int64_t t_resp = fixture_int(call, "ResponseTime"), t_ret = fixture_int(ri, "OccurredAt");
    kl_addr fpm, php;
    kl_addr_parse("unix:/usr/local/var/run/php-fpm.sock", &fpm);
    kl_addr_parse("185.85.0.29:80", &php);

    kl_builder_opts o;
    kl_builder_opts_init(&o);
    o.thread_id = fixture_int(root, "ThreadId");
    o.inbound = KL_INBOUND_FASTCGI;
    kl_builder *b;
    ck_assert_int_eq(kl_builder_new(&b, &o), KL_OK);
    ck_assert_int_eq(feedn(b, KL_EV_INBOUND_RECV, t_in, 3, &fpm, req, 100), KL_OK);
    ck_assert_int_eq(feedn(b, KL_EV_INBOUND_RECV, t_in + 5, 3, &fpm, req + 100, req_n - 100), KL_OK);
    ck_assert_int_eq(feedn(b, KL_EV_OUTBOUND_SEND, t_call, 12, &php, oreq, oreq_n), KL_OK);
    for (size_t off = 0; off < oresp_n; off += 4096) /* the backend's answer in reads of 4 KiB */
        ck_assert_int_eq(feedn(b, KL_EV_OUTBOUND_RECV, t_resp + (int64_t)off, 12, &php, oresp + off,
                               oresp_n - off < 4096 ? oresp_n - off : 4096), KL_OK);
    ck_assert_int_eq(feedn(b, KL_EV_INBOUND_SEND, t_ret, 3, &fpm, resp, resp_n - 16), KL_OK);
    ck_assert_ptr_null(kl_builder_take(b)); /* FCGI_END_REQUEST is still to come */
    ck_assert_int_eq(feedn(b, KL_EV_INBOUND_SEND, t_ret + 9, 3, &fpm, resp + resp_n - 16, 16), KL_OK);
    kl_session *s = take(b);

    char id[48];
    snprintf(id, sizeof id, "%lld-%lld", (long long)t_in, (long long)o.thread_id);
    ck_assert_str_eq(s->id, id); /* the original dated it when the previous session ended */
    ck_assert_int_eq(s->thread_id, fixture_int(root, "ThreadId"));
    ck_assert_int_eq(s->call_from_inbound.index, fixture_int(in, "ActionIndex"));
    ck_assert_int_eq(s->call_from_inbound.occurred_at, t_in);
    ck_assert_str_eq(s->call_from_inbound.peer.unix_path, "/usr/local/var/run/php-fpm.sock");
    ck_assert_uint_eq(s->call_from_inbound.request.len, req_n);
    ck_assert_mem_eq(s->call_from_inbound.request.data, req, req_n);
    ck_assert_int_eq(s->return_inbound.index, fixture_int(ri, "ActionIndex"));
    ck_assert_int_eq(s->return_inbound.occurred_at, t_ret);
    ck_assert_uint_eq(s->return_inbound.response.len, resp_n);
    ck_assert_mem_eq(s->return_inbound.response.data, resp, resp_n);
    ck_assert_uint_eq(s->n_actions, json_array_size(json_object_get(root, "Actions")));
    const kl_action *a = &s->actions[0];
    ck_assert_int_eq(a->index, fixture_int(call, "ActionIndex"));
    ck_assert_int_eq(a->occurred_at, t_call);
    ck_assert_int_eq(a->socket_fd, fixture_int(call, "SocketFD"));
    ck_assert(kl_addr_equal(&a->peer, &php));
    ck_assert_int_eq(a->response_time, t_resp);
    ck_assert_uint_eq(a->request.len, oreq_n);
    ck_assert_mem_eq(a->request.data, oreq, oreq_n);
    ck_assert_uint_eq(a->response.len, oresp_n);
    ck_assert_mem_eq(a->response.data, oresp, oresp_n);
    ck_marker(s, 1, t_ret);
    ck_assert_int_eq(s->actions[1].index, fixture_int(json_array_get(json_object_get(root, "Actions"), 1),
                                                      "ActionIndex"));
    kl_session_free(s);
    kl_builder_free(b);
    free(req);
    free(resp);
    free(oreq);
    free(oresp);
    json_decref(root);
}
END_TEST

/* php-fpm answers before it reads the rest of the body when a script calls
 * fastcgi_finish_request(): the stdin read afterwards still belongs to the request. */
START_TEST(a_fastcgi_request_read_after_its_answer_completes_the_session)
{
    static const uint8_t head[] = {1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
                                   1, 4, 0, 1, 0, 4, 0, 0, 1, 1, 'A', 'B', 1, 4, 0, 1, 0, 0, 0, 0,
                                   1, 5, 0, 1, 0, 2, 0, 0, 'a', 'b'};
    static const uint8_t answer[] = {1, 6, 0, 1, 0, 2, 0, 0, 'h', 'i',
                                     1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t rest[] = {1, 5, 0, 1, 0, 2, 0, 0, 'c', 'd', 1, 5, 0, 1, 0, 0, 0, 0};
    kl_addr nginx;
    kl_addr_parse("unix:/run/php/fpm.sock", &nginx);
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    ck_assert_int_eq(feedn(b, KL_EV_INBOUND_RECV, T(0), 4, &nginx, head, sizeof head), KL_OK);
    ck_assert_int_eq(feedn(b, KL_EV_INBOUND_SEND, T(10), 4, &nginx, answer, sizeof answer), KL_OK);
    ck_assert_ptr_null(kl_builder_take(b));
    ck_assert_int_eq(feedn(b, KL_EV_INBOUND_RECV, T(20), 4, &nginx, rest, sizeof rest), KL_OK);
    kl_session *s = take(b);
    ck_assert_uint_eq(s->call_from_inbound.request.len, sizeof head + sizeof rest);
    ck_assert_mem_eq(s->call_from_inbound.request.data + sizeof head, rest, sizeof rest);
    ck_assert_uint_eq(s->return_inbound.response.len, sizeof answer);
    ck_marker(s, 0, T(10));
    kl_session_free(s);
    ck_assert_int_eq(feedn(b, KL_EV_INBOUND_RECV, T(30), 4, &nginx, head, 16), KL_OK);
    ck_assert_int_eq(kl_builder_flush(b), KL_OK);
    s = take(b);
    ck_assert_str_eq(s->id, id_of(T(30)));
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(redis_and_mysql_calls_are_cut_at_each_send_after_a_response)
{
    static const uint8_t query[] = {18, 0, 0, 0, 3, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '*', ' ',
                                    'F', 'R', 'O', 'M', ' ', 'u', 's', 'r'};
    static const uint8_t result[] = {1, 0, 0, 1, 1, 3, 0, 0, 2, 'd', 'e', 'f', 5, 0, 0, 3, 0xfe, 0, 0, 2, 0,
                                     2, 0, 0, 4, 1, '1', 5, 0, 0, 5, 0xfe, 0, 0, 2, 0};
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_OUTBOUND_SEND, T(10), 7, &redis, "*2\r\n$3\r\nGET\r\n");
    feed(b, KL_EV_OUTBOUND_SEND, T(11), 7, &redis, "$6\r\nuser:1\r\n"); /* one request */
    feed(b, KL_EV_OUTBOUND_RECV, T(20), 7, &redis, "$7\r\n{\"id\"");
    feed(b, KL_EV_OUTBOUND_RECV, T(21), 7, &redis, ":1\r\n");           /* one response */
    ck_assert_int_eq(feedn(b, KL_EV_OUTBOUND_SEND, T(30), 8, &mysql, query, sizeof query), KL_OK);
    ck_assert_int_eq(feedn(b, KL_EV_OUTBOUND_RECV, T(40), 8, &mysql, result, 12), KL_OK);
    ck_assert_int_eq(feedn(b, KL_EV_OUTBOUND_RECV, T(41), 8, &mysql, result + 12, sizeof result - 12), KL_OK);
    feed(b, KL_EV_OUTBOUND_SEND, T(50), 7, &redis, "*1\r\n$4\r\nPING\r\n"); /* after a response */
    feed(b, KL_EV_OUTBOUND_RECV, T(60), 7, &redis, "+PONG\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(70), 5, &client, OK1);
    kl_session *s = take(b);
    ck_assert_uint_eq(s->n_actions, 4);
    ck_call(&s->actions[0], 0, T(10), 7, &redis, RGET, RVAL, T(20));
    const kl_action *m = &s->actions[1];
    ck_assert_int_eq(m->index, 1);
    ck_assert_int_eq(m->socket_fd, 8);
    ck_assert(kl_addr_equal(&m->peer, &mysql));
    ck_assert_uint_eq(m->request.len, sizeof query);
    ck_assert_mem_eq(m->request.data, query, sizeof query);
    ck_assert_uint_eq(m->response.len, sizeof result);
    ck_assert_mem_eq(m->response.data, result, sizeof result);
    ck_assert_int_eq(m->response_time, T(40));
    ck_call(&s->actions[2], 2, T(50), 7, &redis, "*1\r\n$4\r\nPING\r\n", "+PONG\r\n", T(60));
    ck_marker(s, 3, T(70));
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(a_resend_after_a_timed_out_read_is_a_new_call)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_OUTBOUND_SEND, T(10), 9, &backend, "GET /slow HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(feedn(b, KL_EV_OUTBOUND_RECV, T(1010), 9, &backend, NULL, 0), KL_OK); /* timeout */
    feed(b, KL_EV_OUTBOUND_SEND, T(1020), 9, &backend, "GET /slow HTTP/1.1\r\n\r\n");
    feed(b, KL_EV_OUTBOUND_RECV, T(1030), 9, &backend, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    /* without a read in between, sends on one socket stay one request */
    feed(b, KL_EV_OUTBOUND_SEND, T(1040), 10, &backend, "GET /a HTTP/1.1\r\n\r\n");
    feed(b, KL_EV_OUTBOUND_SEND, T(1041), 10, &backend, "GET /a HTTP/1.1\r\n\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(1100), 5, &client, OK1);
    kl_session *s = take(b);
    ck_assert_uint_eq(s->n_actions, 4);
    ck_call(&s->actions[0], 0, T(10), 9, &backend, "GET /slow HTTP/1.1\r\n\r\n", "", 0);
    ck_call(&s->actions[1], 1, T(1020), 9, &backend, "GET /slow HTTP/1.1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", T(1030));
    ck_call(&s->actions[2], 2, T(1040), 10, &backend, "GET /a HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\n", "", 0);
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(interleaved_outbound_sockets_keep_their_own_requests_and_responses)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_OUTBOUND_SEND, T(10), 7, &redis, RGET);
    feed(b, KL_EV_OUTBOUND_SEND, T(11), 9, &backend, "GET /b HTTP/1.1\r\n\r\n");
    feed(b, KL_EV_OUTBOUND_RECV, T(20), 9, &backend, "HTTP/1.1 204 No Content\r\n\r\n");
    feed(b, KL_EV_OUTBOUND_RECV, T(21), 7, &redis, RVAL);
    /* the fd reused for another peer without a close we saw: a new call */
    feed(b, KL_EV_OUTBOUND_RECV, T(30), 9, &mysql, "greeting");
    /* after a close, even the same peer starts over */
    feed(b, KL_EV_OUTBOUND_SEND, T(31), 7, &redis, "*1\r\n$4\r\nPI");
    feed_close(b, KL_EV_OUTBOUND_CLOSE, T(32), 7);
    feed(b, KL_EV_OUTBOUND_SEND, T(33), 7, &redis, "NG\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(40), 5, &client, OK1);
    kl_session *s = take(b);
    ck_assert_uint_eq(s->n_actions, 6);
    ck_call(&s->actions[0], 0, T(10), 7, &redis, RGET, RVAL, T(21));
    ck_call(&s->actions[1], 1, T(11), 9, &backend, "GET /b HTTP/1.1\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n", T(20));
    ck_call(&s->actions[2], 2, T(30), 9, &mysql, "", "greeting", T(30));
    ck_call(&s->actions[3], 3, T(31), 7, &redis, "*1\r\n$4\r\nPI", "", 0);
    ck_call(&s->actions[4], 4, T(33), 7, &redis, "NG\r\n", "", 0);
    ck_marker(s, 5, T(40));
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(files_udp_and_storage_become_actions_one_per_file)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed_file(b, T(1), "/var/log/a.log", "one\n");
    kl_event ev = {.type = KL_EV_READ_STORAGE, .time = T(2), .data = (const uint8_t *)"k=v", .len = 3};
    ck_assert_int_eq(kl_builder_feed(b, &ev), KL_OK);
    feed_file(b, T(3), "/var/log/b.log", "bee\n");
    feed(b, KL_EV_SEND_UDP, T(4), 11, &statsd, "svc.req:1|c");
    feed_file(b, T(5), "/var/log/a.log", "two\n");
    feed(b, KL_EV_SEND_UDP, T(6), 11, &statsd, "svc.ms:3|ms");
    feed(b, KL_EV_INBOUND_SEND, T(7), 5, &client, OK1);
    kl_session *s = take(b);
    ck_assert_uint_eq(s->n_actions, 6);
    ck_assert_int_eq(s->actions[0].type, KL_ACTION_APPEND_FILE);
    ck_assert_str_eq(s->actions[0].file_name, "/var/log/a.log");
    ck_bytes(s->actions[0].content, "one\ntwo\n");
    ck_assert_int_eq(s->actions[0].occurred_at, T(1));
    ck_assert_int_eq(s->actions[1].type, KL_ACTION_READ_STORAGE);
    ck_bytes(s->actions[1].content, "k=v");
    ck_assert_str_eq(s->actions[2].file_name, "/var/log/b.log");
    ck_bytes(s->actions[2].content, "bee\n");
    ck_assert_int_eq(s->actions[3].type, KL_ACTION_SEND_UDP);
    ck_assert(kl_addr_equal(&s->actions[3].peer, &statsd));
    ck_bytes(s->actions[3].content, "svc.req:1|c");
    ck_assert_int_eq(s->actions[3].occurred_at, T(4));
    ck_bytes(s->actions[4].content, "svc.ms:3|ms");
    ck_assert_int_eq(s->actions[4].index, 4);
    ck_marker(s, 5, T(7));
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(actions_before_the_first_request_belong_to_it)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_OUTBOUND_RECV, T(0), 8, &mysql, "greeting"); /* a pool connects */
    feed(b, KL_EV_INBOUND_RECV, T(10), 5, &client, GET1);
    feed(b, KL_EV_INBOUND_SEND, T(20), 5, &client, OK1);
    kl_session *s = take(b);
    ck_assert_int_eq(s->call_from_inbound.index, 1);
    ck_assert_uint_eq(s->n_actions, 2);
    ck_assert_int_eq(s->actions[0].occurred_at, T(0));
    ck_marker(s, 1, T(20));
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(a_close_without_response_hands_out_the_request_alone)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, "GET /x HTTP/1.1\r\n");
    feed_close(b, KL_EV_INBOUND_CLOSE, T(1), 6); /* another connection */
    ck_assert_ptr_null(kl_builder_take(b));
    feed_close(b, KL_EV_INBOUND_CLOSE, T(2), 5);
    kl_session *s = take(b);
    ck_bytes(s->call_from_inbound.request, "GET /x HTTP/1.1\r\n");
    ck_assert(!s->return_inbound.present);
    ck_assert_uint_eq(s->n_actions, 0);
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(another_clients_bytes_before_the_response_end_the_unanswered_session)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, "GET /slow HTTP/1.1\r\nHost: one\r\n");
    /* fd 5 closed by another thread, its number now another client's connection */
    feed(b, KL_EV_INBOUND_RECV, T(1), 5, &client2, GET2);
    kl_session *s = take(b);
    ck_bytes(s->call_from_inbound.request, "GET /slow HTTP/1.1\r\nHost: one\r\n");
    ck_assert(!s->return_inbound.present);
    kl_session_free(s);
    feed(b, KL_EV_INBOUND_SEND, T(2), 5, &client2, OK2);
    s = take(b);
    ck_bytes(s->call_from_inbound.request, GET2);
    ck_assert(kl_addr_equal(&s->call_from_inbound.peer, &client2));
    ck_bytes(s->return_inbound.response, OK2);
    kl_session_free(s);
    /* the same client on another fd (a dup), or a client without address, goes on */
    feed(b, KL_EV_INBOUND_RECV, T(3), 5, &client, "GET /a HTTP/1.1\r\n");
    feed(b, KL_EV_INBOUND_RECV, T(4), 7, &client, "Host: x\r\n");
    feed(b, KL_EV_INBOUND_RECV, T(5), 7, NULL, "\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(6), 7, &client, OK1);
    s = take(b);
    ck_bytes(s->call_from_inbound.request, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    kl_session_free(s);
    ck_assert_ptr_null(kl_builder_take(b));
    kl_builder_free(b);
}
END_TEST

/* An event loop (Redis): it reads two clients, then answers the second first. */
START_TEST(an_event_loop_answering_two_clients_in_turn_gives_each_its_own_answer)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    static const char SETA[] = "*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n", INCRB[] = "*2\r\n$4\r\nINCR\r\n$1\r\nb\r\n";
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, SETA);
    feed(b, KL_EV_INBOUND_RECV, T(1), 6, &client2, INCRB);
    feed_file(b, T(2), "/var/lib/redis/appendonly.aof", "SET a 1; INCR b");
    feed(b, KL_EV_INBOUND_SEND, T(3), 6, &client2, ":1\r\n");
    kl_session *sb = take(b);
    ck_assert_ptr_null(kl_builder_take(b));
    feed(b, KL_EV_INBOUND_SEND, T(4), 5, &client, "+OK\r\n");
    kl_session *sa = take(b);
    ck_bytes(sb->call_from_inbound.request, INCRB);
    ck_assert(kl_addr_equal(&sb->call_from_inbound.peer, &client2));
    ck_bytes(sb->return_inbound.response, ":1\r\n");
    ck_assert_uint_eq(sb->n_actions, 2); /* the file written while it was the one served */
    ck_assert_int_eq(sb->actions[0].type, KL_ACTION_APPEND_FILE);
    ck_bytes(sa->call_from_inbound.request, SETA);
    ck_assert(kl_addr_equal(&sa->call_from_inbound.peer, &client));
    ck_assert_int_eq(sa->call_from_inbound.occurred_at, T(0));
    ck_bytes(sa->return_inbound.response, "+OK\r\n");
    ck_marker(sa, 0, T(4));
    ck_assert_str_eq(sa->id, id_of(T(0)));
    ck_assert_str_eq(sb->id, id_of(T(1)));
    kl_session_free(sa);
    kl_session_free(sb);
    ck_assert_ptr_null(kl_builder_take(b));
    kl_builder_free(b);
}
END_TEST

START_TEST(a_request_after_pipelined_ones_starts_its_own_session)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 1000000); /* sessions linger 1 ms */
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(1), 5, &client, "+PONG\r\n+PONG\r\n");
    feed(b, KL_EV_INBOUND_RECV, T(200), 6, &client2, "*2\r\n$3\r\nGET\r\n$1\r\nx\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(201), 6, &client2, "$-1\r\n");
    ck_assert_int_eq(kl_builder_tick(b, T(2000)), KL_OK);
    kl_session *s[3];
    for (int i = 0; i < 3; i++)
        s[i] = take(b);
    ck_assert_ptr_null(kl_builder_take(b));
    ck_bytes(s[1]->call_from_inbound.request, "*1\r\n$4\r\nPING\r\n");
    ck_assert(kl_addr_equal(&s[1]->call_from_inbound.peer, &client));
    ck_bytes(s[2]->call_from_inbound.request, "*2\r\n$3\r\nGET\r\n$1\r\nx\r\n");
    ck_assert(kl_addr_equal(&s[2]->call_from_inbound.peer, &client2));
    ck_assert_int_eq(s[2]->call_from_inbound.occurred_at, T(200));
    ck_assert_str_eq(s[2]->id, id_of(T(200)));
    ck_bytes(s[2]->return_inbound.response, "$-1\r\n");
    for (int i = 0; i < 3; i++)
        kl_session_free(s[i]);
    kl_builder_free(b);
}
END_TEST

START_TEST(an_answer_written_in_pieces_between_other_requests_stays_whole)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    static const char BIG[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_OUTBOUND_SEND, T(1), 9, &redis, RGET); /* asked for the first client */
    feed(b, KL_EV_INBOUND_SEND, T(2), 5, &client, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01");
    feed(b, KL_EV_INBOUND_RECV, T(3), 6, &client2, GET2); /* the socket was full: another client */
    feed(b, KL_EV_OUTBOUND_RECV, T(4), 9, &redis, RVAL);  /* the first client's answer comes */
    feed(b, KL_EV_INBOUND_SEND, T(5), 6, &client2, OK2);
    kl_session *s2 = take(b);
    ck_assert_ptr_null(kl_builder_take(b));
    feed(b, KL_EV_INBOUND_SEND, T(6), 5, &client, "23456789");
    kl_session *s1 = take(b);
    ck_bytes(s1->call_from_inbound.request, GET1);
    ck_bytes(s1->return_inbound.response, BIG);
    ck_assert_uint_eq(s1->n_actions, 2);
    ck_call(&s1->actions[0], 0, T(1), 9, &redis, RGET, RVAL, T(4));
    ck_bytes(s2->call_from_inbound.request, GET2);
    ck_bytes(s2->return_inbound.response, OK2);
    ck_assert_uint_eq(s2->n_actions, 1);
    kl_session_free(s1);
    kl_session_free(s2);
    kl_builder_free(b);
}
END_TEST

/* A proxy's event loop (haproxy in tcp mode): it reads two clients, then passes each
 * request on, verbatim, the first in two pieces. */
START_TEST(backend_calls_made_after_reading_two_clients_go_to_each_in_turn)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    static const char Q1[] = "*2\r\n$3\r\nGET\r\n$6\r\nuser:1\r\n", Q2[] = "*2\r\n$3\r\nGET\r\n$6\r\nuser:2\r\n";
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, Q1);
    feed(b, KL_EV_INBOUND_RECV, T(1), 6, &client2, Q2);
    feed(b, KL_EV_OUTBOUND_SEND, T(2), 9, &redis, "*2\r\n$3\r\nGET\r\n$6\r\nus");
    feed(b, KL_EV_OUTBOUND_SEND, T(3), 9, &redis, "er:1\r\n");
    feed(b, KL_EV_OUTBOUND_SEND, T(4), 10, &redis, Q2);
    feed(b, KL_EV_OUTBOUND_RECV, T(5), 10, &redis, "$3\r\ntwo\r\n");
    feed(b, KL_EV_OUTBOUND_RECV, T(6), 9, &redis, "$3\r\none\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(7), 5, &client, "$3\r\none\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(8), 6, &client2, "$3\r\ntwo\r\n");
    kl_session *s1 = take(b), *s2 = take(b);
    ck_bytes(s1->call_from_inbound.request, Q1);
    ck_assert_uint_eq(s1->n_actions, 2);
    ck_call(&s1->actions[0], 0, T(2), 9, &redis, Q1, "$3\r\none\r\n", T(6));
    ck_bytes(s2->call_from_inbound.request, Q2);
    ck_assert_uint_eq(s2->n_actions, 2);
    ck_call(&s2->actions[0], 0, T(4), 10, &redis, Q2, "$3\r\ntwo\r\n", T(5));
    kl_session_free(s1);
    kl_session_free(s2);
    kl_builder_free(b);
}
END_TEST

/* A handler that calls as it reads its request (Node.js), over one connection shared by all:
 * each call goes with the request just read; a second call on a connection opened for one
 * request goes with that request. */
START_TEST(a_handler_calling_as_it_reads_keeps_its_calls)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_OUTBOUND_SEND, T(1), 9, &redis, "*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
    feed(b, KL_EV_OUTBOUND_RECV, T(2), 9, &redis, "$1\r\n1\r\n");
    feed(b, KL_EV_INBOUND_RECV, T(3), 6, &client2, GET2);
    feed(b, KL_EV_OUTBOUND_SEND, T(4), 9, &redis, "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n"); /* the shared one */
    feed(b, KL_EV_OUTBOUND_SEND, T(5), 11, &mysql, "select 2");                     /* opened for B */
    feed(b, KL_EV_OUTBOUND_RECV, T(6), 9, &redis, "$1\r\n2\r\n");
    feed(b, KL_EV_OUTBOUND_RECV, T(7), 11, &mysql, "row 2");
    feed(b, KL_EV_OUTBOUND_SEND, T(8), 11, &mysql, "select 22");
    feed(b, KL_EV_OUTBOUND_RECV, T(9), 11, &mysql, "row 22");
    feed(b, KL_EV_INBOUND_SEND, T(10), 6, &client2, OK2);
    feed(b, KL_EV_INBOUND_SEND, T(11), 5, &client, OK1);
    kl_session *s2 = take(b), *s1 = take(b);
    ck_assert_uint_eq(s1->n_actions, 2);
    ck_call(&s1->actions[0], 0, T(1), 9, &redis, "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", "$1\r\n1\r\n", T(2));
    ck_assert_uint_eq(s2->n_actions, 4);
    ck_call(&s2->actions[0], 0, T(4), 9, &redis, "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n", "$1\r\n2\r\n", T(6));
    ck_call(&s2->actions[1], 1, T(5), 11, &mysql, "select 2", "row 2", T(7));
    ck_call(&s2->actions[2], 2, T(8), 11, &mysql, "select 22", "row 22", T(9));
    kl_session_free(s1);
    kl_session_free(s2);
    kl_builder_free(b);
}
END_TEST

/* A reverse proxy's backend requests in another order than its clients' (connects that
 * complete out of order): each goes with the client that asked for the same target. */
START_TEST(a_proxied_http_request_goes_with_the_client_that_asked_for_its_target)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    static const char UP1[] = "GET /users/1 HTTP/1.0\r\nHost: up\r\n\r\n", UP2[] = "GET /users/2 HTTP/1.0\r\nHost: up\r\n\r\n";
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_INBOUND_RECV, T(1), 6, &client2, GET2);
    feed(b, KL_EV_OUTBOUND_SEND, T(2), 10, &backend, UP2);
    feed(b, KL_EV_OUTBOUND_SEND, T(3), 9, &backend, UP1);
    feed(b, KL_EV_OUTBOUND_RECV, T(4), 9, &backend, "one");
    feed(b, KL_EV_OUTBOUND_RECV, T(5), 10, &backend, "two");
    feed(b, KL_EV_INBOUND_SEND, T(6), 6, &client2, OK2);
    feed(b, KL_EV_INBOUND_SEND, T(7), 5, &client, OK1);
    kl_session *s2 = take(b), *s1 = take(b);
    ck_bytes(s1->call_from_inbound.request, GET1);
    ck_call(&s1->actions[0], 0, T(3), 9, &backend, UP1, "one", T(4));
    ck_bytes(s2->call_from_inbound.request, GET2);
    ck_call(&s2->actions[0], 0, T(2), 10, &backend, UP2, "two", T(5));
    kl_session_free(s1);
    kl_session_free(s2);
    kl_builder_free(b);
}
END_TEST

static int feedc(kl_builder *b, kl_event_type type, int64_t t, int fd, uint32_t conn, const kl_addr *peer,
                 const char *s)
{
    kl_event ev = {.type = type, .time = t, .fd = fd, .conn = conn, .peer = peer, .data = (const uint8_t *)s,
                   .len = strlen(s)};
    return kl_builder_feed(b, &ev);
}

/* Clients over one unix socket all read as its path: their connections' serials tell them
 * apart, and tell a dup from a reused fd number. */
START_TEST(connection_serials_tell_clients_of_one_address_apart)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    kl_addr sock;
    kl_addr_parse("unix:/run/app.sock", &sock);
    ck_assert_int_eq(feedc(b, KL_EV_INBOUND_RECV, T(0), 5, 1, &sock, GET1), KL_OK);
    ck_assert_int_eq(feedc(b, KL_EV_INBOUND_RECV, T(1), 6, 2, &sock, GET2), KL_OK);
    ck_assert_int_eq(feedc(b, KL_EV_INBOUND_SEND, T(2), 6, 2, NULL, OK2), KL_OK);
    ck_assert_int_eq(feedc(b, KL_EV_INBOUND_SEND, T(3), 5, 1, NULL, OK1), KL_OK);
    kl_session *s2 = take(b), *s1 = take(b);
    ck_bytes(s1->call_from_inbound.request, GET1);
    ck_bytes(s1->return_inbound.response, OK1);
    ck_bytes(s2->call_from_inbound.request, GET2);
    ck_bytes(s2->return_inbound.response, OK2);
    kl_session_free(s1);
    kl_session_free(s2);
    /* a dup of connection 3 goes on with its request; fd 7 reused for connection 4 ends it */
    ck_assert_int_eq(feedc(b, KL_EV_INBOUND_RECV, T(4), 7, 3, &sock, "GET /a HTTP/1.1\r\n"), KL_OK);
    ck_assert_int_eq(feedc(b, KL_EV_INBOUND_RECV, T(5), 8, 3, &sock, "Host: x\r\n\r\n"), KL_OK);
    ck_assert_ptr_null(kl_builder_take(b));
    ck_assert_int_eq(feedc(b, KL_EV_INBOUND_RECV, T(6), 7, 4, &sock, GET2), KL_OK);
    kl_session *s = take(b);
    ck_bytes(s->call_from_inbound.request, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert(!s->return_inbound.present);
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(bytes_to_a_connection_no_session_is_open_for_are_dropped)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_INBOUND_SEND, T(1), 6, &client2, "+message to a subscriber\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(2), 5, &client, OK1);
    kl_session *s = take(b);
    ck_bytes(s->return_inbound.response, OK1);
    kl_builder_totals t;
    kl_builder_get_totals(b, &t);
    ck_assert_uint_eq(t.dropped_bytes, strlen("+message to a subscriber\r\n"));
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(set_aside_sessions_end_at_their_close_at_a_flush_and_past_the_limit)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_INBOUND_RECV, T(1), 6, &client2, GET2);
    feed_close(b, KL_EV_INBOUND_CLOSE, T(2), 5);
    kl_session *s = take(b);
    ck_bytes(s->call_from_inbound.request, GET1);
    ck_assert(!s->return_inbound.present);
    kl_session_free(s);
    ck_assert_int_eq(kl_builder_flush(b), KL_OK);
    s = take(b);
    ck_bytes(s->call_from_inbound.request, GET2);
    kl_session_free(s);
    ck_assert_ptr_null(kl_builder_take(b));
    /* 64 connections waiting at once; the 66th request ends the oldest */
    kl_addr peer;
    char name[32];
    for (int i = 0; i < 66; i++) {
        snprintf(name, sizeof name, "10.0.1.%d:4000", i);
        kl_addr_parse(name, &peer);
        feed(b, KL_EV_INBOUND_RECV, T(10 + i), 100 + i, &peer, GET1);
    }
    s = take(b);
    ck_assert_int_eq(s->call_from_inbound.occurred_at, T(10));
    ck_assert_ptr_null(kl_builder_take(b));
    kl_session_free(s);
    kl_builder_free(b); /* frees those still open */
    /* nor more than 4 times the bytes one session may keep */
    b = builder(KL_INBOUND_AUTO, 0, 100, 0);
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "10.0.1.%d:4000", i);
        kl_addr_parse(name, &peer);
        feed(b, KL_EV_INBOUND_RECV, T(10 + i), 100 + i, &peer, "GET /ninety-bytes-of-request-line-and-headers HTTP/1.1\r\nHost: svc\r\nX-Pad: 0123456789\r\n");
    }
    s = take(b); /* five would hold 430 bytes: the oldest ended */
    ck_assert_int_eq(s->call_from_inbound.occurred_at, T(10));
    ck_assert_ptr_null(kl_builder_take(b));
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(a_response_running_until_close_ends_at_the_close)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, "GET / HTTP/1.0\r\n\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(1), 5, &client, "HTTP/1.0 200 OK\r\n\r\nstream");
    feed(b, KL_EV_INBOUND_SEND, T(2), 5, &client, "ing");
    ck_assert_ptr_null(kl_builder_take(b));
    feed_close(b, KL_EV_INBOUND_CLOSE, T(3), 5);
    kl_session *s = take(b);
    ck_bytes(s->return_inbound.response, "HTTP/1.0 200 OK\r\n\r\nstreaming");
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(an_unknown_protocol_ends_at_the_next_request_from_any_client)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, "\x16\x03\x01 hello");
    feed(b, KL_EV_INBOUND_SEND, T(1), 5, &client, "\x16\x03\x03 server");
    ck_assert_ptr_null(kl_builder_take(b));
    feed(b, KL_EV_INBOUND_RECV, T(2), 6, &client2, "PING\r\n");
    kl_session *s = take(b);
    ck_bytes(s->call_from_inbound.request, "\x16\x03\x01 hello");
    ck_assert_str_eq(s->next_session_id, id_of(T(2)));
    kl_session_free(s);
    feed(b, KL_EV_INBOUND_SEND, T(3), 6, &client2, "+PONG\r\n");
    ck_assert_ptr_null(kl_builder_take(b)); /* an inline command does not tell RESP */
    feed(b, KL_EV_INBOUND_RECV, T(4), 6, &client2, "*1\r\n$4\r\nPING\r\n");
    s = take(b);
    ck_bytes(s->call_from_inbound.request, "PING\r\n");
    ck_assert(kl_addr_equal(&s->call_from_inbound.peer, &client2));
    kl_session_free(s);
    feed(b, KL_EV_INBOUND_SEND, T(5), 6, &client2, "+PONG\r\n"); /* RESP: framed */
    s = take(b);
    ck_bytes(s->call_from_inbound.request, "*1\r\n$4\r\nPING\r\n");
    ck_bytes(s->return_inbound.response, "+PONG\r\n");
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(the_action_limit_truncates_and_keeps_the_marker)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 3, 0, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_OUTBOUND_SEND, T(1), 7, &redis, RGET);
    feed(b, KL_EV_OUTBOUND_RECV, T(2), 7, &redis, RVAL);
    for (int i = 0; i < 4; i++)
        feed(b, KL_EV_SEND_UDP, T(3 + i), 11, &statsd, "m:1|c");
    /* a dropped call's answer must not land in the fd's previous call */
    feed(b, KL_EV_OUTBOUND_SEND, T(10), 7, &redis, RGET);
    feed(b, KL_EV_OUTBOUND_RECV, T(11), 7, &redis, RVAL);
    feed(b, KL_EV_INBOUND_SEND, T(20), 5, &client, OK1);
    kl_session *s = take(b);
    ck_assert(s->truncated);
    ck_assert_uint_eq(s->n_actions, 4);
    ck_call(&s->actions[0], 0, T(1), 7, &redis, RGET, RVAL, T(2));
    ck_assert_int_eq(s->actions[2].occurred_at, T(4));
    ck_marker(s, 3, T(20));
    ck_assert_uint_eq(s->n_labels, 2);
    ck_bytes(s->labels[0].key, "dropped_bytes");
    ck_bytes(s->labels[0].value, "48"); /* 2 datagrams of 5, the call's 25 and 13 */
    ck_bytes(s->labels[1].key, "dropped_actions");
    ck_bytes(s->labels[1].value, "4");
    kl_session_free(s);
    kl_builder_totals tot;
    kl_builder_get_totals(b, &tot);
    ck_assert_uint_eq(tot.dropped_actions, 4);
    ck_assert_uint_eq(tot.dropped_bytes, 48);
    ck_assert_uint_eq(tot.truncated, 1);
    kl_builder_free(b);
}
END_TEST

START_TEST(the_byte_limit_cuts_bytes_and_the_session_still_ends)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 100, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1); /* 36 bytes */
    feed(b, KL_EV_OUTBOUND_SEND, T(1), 7, &redis, RGET);  /* 25 */
    feed(b, KL_EV_OUTBOUND_RECV, T(2), 7, &redis, RVAL);  /* 13 */
    feed(b, KL_EV_INBOUND_SEND, T(3), 5, &client, OK1);   /* 45: 26 kept */
    ck_assert_ptr_null(kl_builder_take(b)); /* a cut response cannot be framed */
    feed(b, KL_EV_INBOUND_SEND, T(4), 5, &client, "more");
    feed(b, KL_EV_INBOUND_RECV, T(5), 5, &client, GET2); /* request => response => request */
    kl_session *s = take(b);
    ck_assert(s->truncated);
    ck_assert_uint_eq(s->return_inbound.response.len, 26);
    ck_assert_mem_eq(s->return_inbound.response.data, OK1, 26);
    ck_bytes(s->labels[0].value, "23"); /* 19 of the response and "more" */
    ck_bytes(s->labels[1].value, "0");
    kl_session_free(s);
    feed(b, KL_EV_INBOUND_SEND, T(6), 5, &client, OK2); /* the next session starts afresh */
    s = take(b);
    ck_assert(!s->truncated);
    ck_bytes(s->return_inbound.response, OK2);
    kl_session_free(s);
    kl_builder_totals tot;
    kl_builder_get_totals(b, &tot);
    ck_assert_uint_eq(tot.sessions, 2);
    ck_assert_uint_eq(tot.truncated, 1);
    ck_assert_uint_eq(tot.dropped_bytes, 23);
    kl_builder_free(b);
}
END_TEST

START_TEST(a_flush_hands_out_the_session_or_discards_an_orphan)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    feed(b, KL_EV_OUTBOUND_SEND, T(0), 7, &redis, RGET);
    ck_assert_int_eq(kl_builder_flush(b), KL_OK);
    ck_assert_ptr_null(kl_builder_take(b));
    feed(b, KL_EV_INBOUND_SEND, T(1), 5, &client, "HTTP/1.1 200 OK\r\n\r\n"); /* to no request */
    feed(b, KL_EV_INBOUND_RECV, T(2), 5, &client, GET1);
    ck_assert_int_eq(kl_builder_flush(b), KL_OK);
    kl_session *s = take(b);
    ck_bytes(s->call_from_inbound.request, GET1);
    ck_assert_uint_eq(s->n_actions, 0); /* the orphan call went with the first flush */
    kl_session_free(s);
    kl_builder_totals tot;
    kl_builder_get_totals(b, &tot);
    ck_assert_uint_eq(tot.orphans, 1);
    ck_assert_uint_eq(tot.dropped_bytes, strlen(RGET) + 19);
    ck_assert_uint_eq(tot.sessions, 1);
    kl_builder_free(b);
}
END_TEST

START_TEST(a_lingering_session_keeps_the_work_done_after_answering)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 1000000); /* 1 ms */
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_INBOUND_SEND, T(10), 5, &client, OK1);
    feed_file(b, T(500), "/var/log/access.log", "GET /users/1 200\n");
    ck_assert_int_eq(kl_builder_tick(b, T(1009)), KL_OK);
    ck_assert_ptr_null(kl_builder_take(b));
    ck_assert_int_eq(kl_builder_tick(b, T(1010)), KL_OK);
    kl_session *s = take(b);
    ck_assert_uint_eq(s->n_actions, 2);
    ck_assert_str_eq(s->actions[1].file_name, "/var/log/access.log");
    kl_session_free(s);
    /* an event past the delay hands the session out first and goes to the next one */
    feed(b, KL_EV_INBOUND_RECV, T(2000), 5, &client, GET2);
    feed(b, KL_EV_INBOUND_SEND, T(2010), 5, &client, OK2);
    feed(b, KL_EV_SEND_UDP, T(3011), 11, &statsd, "late");
    s = take(b);
    ck_assert_uint_eq(s->n_actions, 1);
    kl_session_free(s);
    /* and the next request ends a lingering session at once, naming it */
    feed(b, KL_EV_INBOUND_RECV, T(3020), 5, &client, GET1);
    feed(b, KL_EV_INBOUND_SEND, T(3030), 5, &client, OK1);
    feed(b, KL_EV_INBOUND_RECV, T(3040), 5, &client, GET2);
    s = take(b);
    ck_assert_str_eq(s->next_session_id, id_of(T(3040)));
    ck_assert_uint_eq(s->n_actions, 2);
    ck_assert_int_eq(s->actions[0].type, KL_ACTION_SEND_UDP);
    kl_session_free(s);
    kl_builder_free(b); /* frees the session in progress */
}
END_TEST

/* ------------------------------------------------------------------- trace header */

#define XID1 "bh3gosadh3gqsmdbpnng"
#define XID2 "cl9v2001081lcu00000g"

/* Append one header entry in the original's binary form. */
static void entry(kl_buf *h, const char *key, const char *value)
{
    size_t k = strlen(key), v = strlen(value);
    uint8_t kl[2] = {(uint8_t)(k >> 8), (uint8_t)k}, vl[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    ck_assert(!kl_buf_append(h, kl, 2) && !kl_buf_append(h, key, k) && !kl_buf_append(h, vl, 2) &&
              !kl_buf_append(h, value, v));
}

/* The builder's header equals want (an existing header: no id is given to create one). */
static void ck_header(kl_builder *b, kl_buf *want)
{
    kl_buf got = {0};
    ck_assert_int_eq(kl_builder_trace_header(b, NULL, &got), KL_OK);
    ck_assert_uint_eq(got.len, want->len);
    ck_assert_mem_eq(got.data, want->data, want->len);
    kl_buf_free(&got);
    kl_buf_free(want);
}

static int tset(kl_builder *b, const char *new_id, const char *key, const char *value)
{
    return kl_builder_trace_set(b, new_id, (const uint8_t *)key, strlen(key),
                                (const uint8_t *)value, strlen(value));
}

/* The value of key, which must be there. */
static void ck_get(kl_builder *b, const char *key, const char *want)
{
    kl_buf v = {0};
    ck_assert_int_eq(kl_builder_trace_get(b, NULL, (const uint8_t *)key, strlen(key), &v), KL_OK);
    ck_bytes(((kl_bytes){(const uint8_t *)v.data, v.len}), want);
    kl_buf_free(&v);
}

static void ck_kv(const kl_kv *kv, const char *key, const char *value)
{
    ck_bytes(kv->key, key);
    ck_bytes(kv->value, value);
}

START_TEST(the_trace_header_is_created_once_holding_the_new_trace_id)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    kl_buf h = {0};
    ck_assert_int_eq(kl_builder_trace_header(b, NULL, &h), KL_ERR_INVALID); /* no id to make one */
    ck_assert_uint_eq(h.len, 0);
    ck_assert_int_eq(kl_builder_trace_header(b, XID1, &h), KL_OK);
    ck_assert_uint_eq(h.len, 26);
    ck_assert_mem_eq(h.data, "\0\2ti\0\24" XID1, 26);
    ck_assert_int_eq(kl_builder_trace_header(b, XID2, &h), KL_OK); /* appended: the same again */
    ck_assert_uint_eq(h.len, 52);
    ck_assert_mem_eq(h.data + 26, h.data, 26);
    kl_buf_free(&h);
    kl_buf v = {0};
    ck_assert_int_eq(kl_builder_trace_get(b, XID2, (const uint8_t *)"ti", 2, &v), KL_OK);
    ck_assert_str_eq(v.data, XID1);
    kl_buf_free(&v);
    kl_builder_free(b);
}
END_TEST

START_TEST(a_key_set_goes_first_replacing_its_old_entry_and_the_others_keep_their_order)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    kl_buf want = {0};
    ck_assert_int_eq(tset(b, XID1, "order_id", "42"), KL_OK); /* the header is made first */
    entry(&want, "order_id", "42");
    entry(&want, "ti", XID1);
    ck_header(b, &want);
    ck_assert_int_eq(tset(b, NULL, "si", "span-1"), KL_OK);
    ck_assert_int_eq(tset(b, NULL, "order_id", "43"), KL_OK);
    entry(&want, "order_id", "43");
    entry(&want, "si", "span-1");
    entry(&want, "ti", XID1);
    ck_header(b, &want);
    ck_assert_int_eq(tset(b, NULL, "ti", XID2), KL_OK);
    ck_assert_int_eq(tset(b, NULL, "empty", ""), KL_OK);
    entry(&want, "empty", "");
    entry(&want, "ti", XID2);
    entry(&want, "order_id", "43");
    entry(&want, "si", "span-1");
    ck_header(b, &want);
    ck_get(b, "order_id", "43");
    ck_get(b, "empty", "");
    kl_buf v = {0};
    ck_assert_int_eq(kl_buf_append(&v, "x", 1), KL_OK);
    ck_assert_int_eq(kl_builder_trace_get(b, NULL, (const uint8_t *)"order", 5, &v), KL_ERR_NOTFOUND);
    ck_assert_uint_eq(v.len, 1);
    kl_buf_free(&v);
    kl_builder_free(b);
}
END_TEST

START_TEST(an_over_long_key_or_value_is_refused_and_nothing_changes)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    uint8_t *big = malloc(KL_TRACE_FIELD_MAX + 1);
    memset(big, 'k', KL_TRACE_FIELD_MAX + 1);
    ck_assert_int_eq(kl_builder_trace_set(b, XID1, big, KL_TRACE_FIELD_MAX + 1, big, 1), KL_ERR_INVALID);
    kl_buf want = {0};
    ck_assert_int_eq(kl_builder_trace_header(b, XID2, &want), KL_OK); /* not made by the refusal */
    ck_assert_uint_eq(want.len, 26);
    ck_assert_mem_eq(want.data, "\0\2ti\0\24" XID2, 26);
    ck_assert_int_eq(kl_builder_trace_set(b, NULL, big, 1, big, KL_TRACE_FIELD_MAX + 1), KL_ERR_INVALID);
    ck_header(b, &want);
    ck_assert_int_eq(kl_builder_trace_set(b, NULL, big, KL_TRACE_FIELD_MAX, big, KL_TRACE_FIELD_MAX),
                     KL_OK);
    kl_buf v = {0};
    ck_assert_int_eq(kl_builder_trace_get(b, NULL, big, KL_TRACE_FIELD_MAX, &v), KL_OK);
    ck_assert_uint_eq(v.len, KL_TRACE_FIELD_MAX);
    ck_assert_mem_eq(v.data, big, KL_TRACE_FIELD_MAX);
    kl_buf_free(&v);
    ck_assert_int_eq(kl_builder_trace_header(b, NULL, &v), KL_OK);
    ck_assert_uint_eq(v.len, 4 + 2 * KL_TRACE_FIELD_MAX + 26);
    ck_assert_mem_eq(v.data, "\xff\xff", 2);
    ck_assert_mem_eq(v.data + 2 + KL_TRACE_FIELD_MAX, "\xff\xff", 2);
    kl_buf_free(&v);
    free(big);
    kl_builder_free(b);
}
END_TEST

START_TEST(the_finished_session_carries_its_header_and_the_next_starts_without_one)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    ck_assert_int_eq(tset(b, XID1, "order_id", "42"), KL_OK); /* before the first inbound byte */
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    ck_assert_int_eq(tset(b, NULL, "si", "span-1"), KL_OK);
    feed(b, KL_EV_INBOUND_SEND, T(40), 5, &client, OK1);
    kl_session *s = take(b);
    ck_assert_uint_eq(s->n_trace_header, 3);
    ck_kv(&s->trace_header[0], "si", "span-1");
    ck_kv(&s->trace_header[1], "order_id", "42");
    ck_kv(&s->trace_header[2], "ti", XID1);
    ck_bytes(s->trace_id, XID1);
    ck_bytes(s->span_id, "span-1");
    kl_buf j = {0};
    ck_assert_int_eq(kl_json_session(s, 0, &j), KL_OK);
    ck_assert_ptr_nonnull(
        strstr(j.data, "\"TraceHeader\":{\"si\":\"span-1\",\"order_id\":\"42\",\"ti\":\"" XID1 "\"}"));
    ck_assert_ptr_nonnull(strstr(j.data, "\"TraceId\":\"" XID1 "\",\"SpanId\":\"span-1\""));
    kl_buf_free(&j);
    kl_session_free(s);

    feed(b, KL_EV_INBOUND_RECV, T(100), 5, &client, GET2);
    feed(b, KL_EV_INBOUND_SEND, T(140), 5, &client, OK2);
    s = take(b);
    ck_assert_uint_eq(s->n_trace_header, 0);
    ck_assert_uint_eq(s->trace_id.len, 0);
    ck_assert_uint_eq(s->span_id.len, 0);
    ck_assert_int_eq(kl_json_session(s, 0, &j), KL_OK);
    ck_assert_ptr_nonnull(strstr(j.data, "\"TraceHeader\":null"));
    kl_buf_free(&j);
    kl_session_free(s);
    kl_buf want = {0};
    ck_assert_int_eq(kl_builder_trace_header(b, XID2, &want), KL_OK); /* a new one for the next */
    ck_assert_mem_eq(want.data, "\0\2ti\0\24" XID2, 26);
    kl_buf_free(&want);
    kl_builder_free(b);
}
END_TEST

START_TEST(a_header_on_a_session_discarded_without_request_goes_with_it)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    ck_assert_int_eq(tset(b, XID1, "k", "v"), KL_OK); /* 6 bytes, and 26 for "ti" */
    feed(b, KL_EV_OUTBOUND_SEND, T(0), 7, &redis, RGET);
    ck_assert_int_eq(kl_builder_flush(b), KL_OK);
    ck_assert_ptr_null(kl_builder_take(b));
    kl_buf v = {0};
    ck_assert_int_eq(kl_builder_trace_get(b, XID2, (const uint8_t *)"k", 1, &v), KL_ERR_NOTFOUND);
    feed(b, KL_EV_INBOUND_RECV, T(10), 5, &client, GET1);
    feed(b, KL_EV_INBOUND_SEND, T(20), 5, &client, OK1);
    kl_session *s = take(b);
    ck_assert_uint_eq(s->n_trace_header, 1); /* what the get made, and nothing of the flushed one */
    ck_kv(&s->trace_header[0], "ti", XID2);
    ck_bytes(s->trace_id, XID2);
    ck_assert_uint_eq(s->span_id.len, 0);
    kl_session_free(s);
    kl_builder_totals tot;
    kl_builder_get_totals(b, &tot);
    ck_assert_uint_eq(tot.orphans, 1);
    ck_assert_uint_eq(tot.dropped_bytes, strlen(RGET) + 32);
    kl_builder_free(b);
}
END_TEST

START_TEST(a_header_set_while_a_session_lingers_belongs_to_it)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 1000000); /* 1 ms */
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);
    feed(b, KL_EV_INBOUND_SEND, T(10), 5, &client, OK1);
    ck_assert_int_eq(tset(b, XID1, "k", "v"), KL_OK);
    ck_assert_int_eq(kl_builder_tick(b, T(1010)), KL_OK);
    kl_session *s = take(b);
    ck_assert_uint_eq(s->n_trace_header, 2);
    ck_kv(&s->trace_header[0], "k", "v");
    ck_bytes(s->trace_id, XID1);
    kl_session_free(s);
    feed(b, KL_EV_INBOUND_RECV, T(2000), 5, &client, GET2);
    feed(b, KL_EV_INBOUND_SEND, T(2010), 5, &client, OK2);
    ck_assert_int_eq(kl_builder_flush(b), KL_OK);
    s = take(b);
    ck_assert_uint_eq(s->n_trace_header, 0);
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(header_bytes_count_against_the_byte_limit)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 60, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, GET1);  /* 36 bytes */
    ck_assert_int_eq(tset(b, "id1", "k", "12345"), KL_OK); /* 9 for "ti", 10: 55 */
    ck_assert_int_eq(tset(b, NULL, "x", "0123456789"), KL_ERR_TOOBIG); /* 15 more */
    ck_assert_int_eq(tset(b, NULL, "k", "1"), KL_OK);       /* 4 fewer: 51 */
    feed(b, KL_EV_INBOUND_SEND, T(40), 5, &client, OK1);     /* 45: 9 kept */
    ck_assert_int_eq(kl_builder_flush(b), KL_OK);
    kl_session *s = take(b);
    ck_assert(s->truncated);
    ck_assert_uint_eq(s->n_trace_header, 2);
    ck_kv(&s->trace_header[0], "k", "1");
    ck_kv(&s->trace_header[1], "ti", "id1");
    ck_assert_uint_eq(s->return_inbound.response.len, 9);
    ck_bytes(s->labels[0].value, "51"); /* the refused entry and 36 of the response */
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

START_TEST(an_unknown_event_is_refused)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    kl_event ev = {.type = (kl_event_type)99, .time = T(0)};
    ck_assert_int_eq(kl_builder_feed(b, &ev), KL_ERR_INVALID);
    kl_builder_free(b);
    kl_builder_free(NULL);
}
END_TEST

START_TEST(a_session_id_is_its_time_and_thread_in_decimal)
{
    kl_builder_opts o;
    kl_builder_opts_init(&o);
    o.thread_id = -7; /* a virtual thread may have any id */
    kl_builder *b;
    ck_assert_int_eq(kl_builder_new(&b, &o), KL_OK);
    feed(b, KL_EV_INBOUND_RECV, 5, 5, &client, GET1);
    feed(b, KL_EV_INBOUND_SEND, 6, 5, &client, OK1);
    feed(b, KL_EV_INBOUND_RECV, INT64_MAX - 1, 5, &client, GET2);
    kl_session *s = take(b);
    ck_assert_str_eq(s->id, "5--7");
    kl_session_free(s);
    feed(b, KL_EV_INBOUND_SEND, INT64_MAX, 5, &client, OK2);
    s = take(b);
    ck_assert_str_eq(s->id, "9223372036854775806--7");
    kl_session_free(s);
    kl_builder_free(b);
}
END_TEST

/* n bytes of a pattern that differs per session, so that a byte left over from another
 * session in a reused buffer shows. */
static char *pattern(size_t n, int session)
{
    char *p = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (i + (size_t)session) % 26);
    p[n] = '\0';
    return p;
}

START_TEST(sessions_built_one_after_another_hold_only_their_own_bytes)
{
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 0, 0);
    /* Sizes up and down across the builder's spare buffers' limit (16 KiB). */
    static const size_t sizes[] = {10, 5000, 40000, 3, 17000, 16384, 0, 900};
    for (int i = 0; i < 24; i++) {
        size_t n = sizes[i % 8], m = sizes[(i + 3) % 8];
        char *body = pattern(n, i), *call = pattern(m + 1, i), *line = pattern(n / 2 + 1, i);
        char req[64], resp[64];
        snprintf(req, sizeof req, "POST /%d HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", i, n);
        snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", m + 1);
        int64_t t = T(100 * i);
        feed(b, KL_EV_INBOUND_RECV, t, 5, &client, req);
        if (n)
            feed(b, KL_EV_INBOUND_RECV, t + 1, 5, &client, body);
        feed(b, KL_EV_OUTBOUND_SEND, t + 2, 7, &redis, call);
        feed(b, KL_EV_OUTBOUND_RECV, t + 3, 7, &redis, line);
        feed_file(b, t + 4, "/var/log/svc.log", line);
        feed(b, KL_EV_INBOUND_SEND, t + 5, 5, &client, resp);
        feed(b, KL_EV_INBOUND_SEND, t + 6, 5, &client, call);
        kl_session *s = take(b);
        char *want_req = malloc(strlen(req) + n + 1), *want_resp = malloc(strlen(resp) + m + 2);
        strcpy(want_req, req);
        strcat(want_req, body);
        strcpy(want_resp, resp);
        strcat(want_resp, call);
        ck_bytes(s->call_from_inbound.request, want_req);
        ck_bytes(s->return_inbound.response, want_resp);
        ck_assert_uint_eq(s->n_actions, 3);
        ck_call(&s->actions[0], 0, t + 2, 7, &redis, call, line, t + 3);
        ck_assert_str_eq(s->actions[1].file_name, "/var/log/svc.log");
        ck_bytes(s->actions[1].content, line);
        kl_session_free(s);
        free(want_req);
        free(want_resp);
        free(body);
        free(call);
        free(line);
    }
    kl_builder_free(b);
}
END_TEST

/* Out of memory, the session in progress is dropped and the builder goes on. The address
 * space limit cannot be used under ASan, which reserves terabytes for its shadow. */
START_TEST(running_out_of_memory_drops_the_session_and_goes_on)
{
#if defined(__SANITIZE_ADDRESS__)
    return;
#else
    size_t big = 64u << 20;
    uint8_t *data = malloc(big);
    memset(data, 'x', big);
    static const char head[] = "POST / HTTP/1.1\r\nContent-Length: 67108815\r\n\r\n";
    memcpy(data, head, sizeof head - 1);
    kl_builder *b = builder(KL_INBOUND_AUTO, 0, 128u << 20, 0);
    feed(b, KL_EV_INBOUND_RECV, T(0), 5, &client, "GET /warm HTTP/1.1\r\n\r\n");
    feed(b, KL_EV_INBOUND_SEND, T(1), 5, &client, OK1);
    kl_session_free(take(b));

    ck_assert_int_eq(tset(b, XID1, "k", "v"), KL_OK); /* 32 bytes */
    struct rlimit old;
    tu_limit_memory(16u << 20, &old);
    int r = feedn(b, KL_EV_INBOUND_RECV, T(10), 5, &client, data, big);
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
    ck_assert_int_eq(r, KL_ERR_NOMEM);
    kl_buf v = {0}; /* the service reads the same trace id until the lost session ends */
    ck_assert_int_eq(kl_builder_trace_get(b, XID2, (const uint8_t *)"ti", 2, &v), KL_OK);
    ck_assert_str_eq(v.data, XID1);
    kl_buf_free(&v);

    feed(b, KL_EV_OUTBOUND_SEND, T(11), 7, &redis, RGET); /* ignored: the session is lost */
    feed(b, KL_EV_INBOUND_SEND, T(12), 5, &client, OK1);
    feed(b, KL_EV_INBOUND_RECV, T(13), 5, &client, GET2);
    ck_assert_ptr_null(kl_builder_take(b));
    feed(b, KL_EV_INBOUND_SEND, T(14), 5, &client, OK2);
    kl_session *s = take(b);
    ck_bytes(s->call_from_inbound.request, GET2);
    ck_assert_uint_eq(s->n_trace_header, 0);
    kl_session_free(s);
    kl_builder_totals tot;
    kl_builder_get_totals(b, &tot);
    ck_assert_uint_eq(tot.dropped, 1);
    ck_assert_uint_eq(tot.sessions, 2);
    ck_assert_uint_eq(tot.dropped_bytes, big + strlen(RGET) + strlen(OK1) + 32);
    kl_builder_free(b);
    free(data);
#endif
}
END_TEST

int main(void)
{
    Suite *s = suite_create("builder");
    TCase *tc = tcase_create("builder");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, a_keep_alive_connection_yields_one_session_per_request_as_each_response_ends);
    tcase_add_test(tc, without_framing_the_next_request_ends_the_session_and_is_named_next);
    tcase_add_test(tc, pipelined_requests_and_responses_split_into_sessions);
    tcase_add_test(tc, an_event_loop_answering_two_clients_in_turn_gives_each_its_own_answer);
    tcase_add_test(tc, a_request_after_pipelined_ones_starts_its_own_session);
    tcase_add_test(tc, an_answer_written_in_pieces_between_other_requests_stays_whole);
    tcase_add_test(tc, backend_calls_made_after_reading_two_clients_go_to_each_in_turn);
    tcase_add_test(tc, a_handler_calling_as_it_reads_keeps_its_calls);
    tcase_add_test(tc, a_proxied_http_request_goes_with_the_client_that_asked_for_its_target);
    tcase_add_test(tc, connection_serials_tell_clients_of_one_address_apart);
    tcase_add_test(tc, bytes_to_a_connection_no_session_is_open_for_are_dropped);
    tcase_add_test(tc, set_aside_sessions_end_at_their_close_at_a_flush_and_past_the_limit);
    tcase_add_test(tc, a_pipelined_request_waits_for_its_own_response);
    tcase_add_test(tc, a_chunked_response_ends_the_session_at_its_last_chunk);
    tcase_add_test(tc, a_head_response_ends_at_its_headers);
    tcase_add_test(tc, a_body_read_after_an_early_answer_stays_in_the_request);
    tcase_add_test(tc, the_fixture_fastcgi_traffic_builds_the_session_the_original_recorded);
    tcase_add_test(tc, a_fastcgi_request_read_after_its_answer_completes_the_session);
    tcase_add_test(tc, redis_and_mysql_calls_are_cut_at_each_send_after_a_response);
    tcase_add_test(tc, a_resend_after_a_timed_out_read_is_a_new_call);
    tcase_add_test(tc, interleaved_outbound_sockets_keep_their_own_requests_and_responses);
    tcase_add_test(tc, files_udp_and_storage_become_actions_one_per_file);
    tcase_add_test(tc, actions_before_the_first_request_belong_to_it);
    tcase_add_test(tc, a_close_without_response_hands_out_the_request_alone);
    tcase_add_test(tc, another_clients_bytes_before_the_response_end_the_unanswered_session);
    tcase_add_test(tc, a_response_running_until_close_ends_at_the_close);
    tcase_add_test(tc, an_unknown_protocol_ends_at_the_next_request_from_any_client);
    tcase_add_test(tc, the_action_limit_truncates_and_keeps_the_marker);
    tcase_add_test(tc, the_byte_limit_cuts_bytes_and_the_session_still_ends);
    tcase_add_test(tc, a_flush_hands_out_the_session_or_discards_an_orphan);
    tcase_add_test(tc, a_lingering_session_keeps_the_work_done_after_answering);
    tcase_add_test(tc, the_trace_header_is_created_once_holding_the_new_trace_id);
    tcase_add_test(tc, a_key_set_goes_first_replacing_its_old_entry_and_the_others_keep_their_order);
    tcase_add_test(tc, an_over_long_key_or_value_is_refused_and_nothing_changes);
    tcase_add_test(tc, the_finished_session_carries_its_header_and_the_next_starts_without_one);
    tcase_add_test(tc, a_header_on_a_session_discarded_without_request_goes_with_it);
    tcase_add_test(tc, a_header_set_while_a_session_lingers_belongs_to_it);
    tcase_add_test(tc, header_bytes_count_against_the_byte_limit);
    tcase_add_test(tc, an_unknown_event_is_refused);
    tcase_add_test(tc, a_session_id_is_its_time_and_thread_in_decimal);
    tcase_add_test(tc, sessions_built_one_after_another_hold_only_their_own_bytes);
    tcase_add_test(tc, running_out_of_memory_drops_the_session_and_goes_on);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
