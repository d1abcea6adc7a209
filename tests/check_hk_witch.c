/* check_hk_witch.c - tests of hook/hk_witch.c: the witch on a free loopback port, with
 * sources of its own, asked over HTTP: state, events and long polling, the sessions kept and
 * how they give way, the requests it refuses. */
#include "testutil.h"
#include "hk.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char witch_addr[32];

static const char *get(const char *name)
{
    return strcmp(name, "KOALA_WITCH_ADDR") == 0 ? witch_addr : NULL;
}

static void record_source(kl_buf *threads, kl_buf *in_progress, kl_builder_totals *t)
{
    hk_json_sep(threads);
    kl_buf_printf(threads, "{\"id\":4242,\"for\":\"recording\",\"session\":\"1700000000000000000-4242\"}");
    hk_json_sep(in_progress);
    kl_buf_printf(in_progress, "{\"id\":\"1700000000000000000-4242\",\"peer\":");
    kl_addr a;
    kl_addr_parse("10.0.0.7:5123", &a);
    hk_json_addr(in_progress, &a);
    kl_buf_append(in_progress, "}", 1);
    t->sessions = 17;
}

/* A witch armed for port, its log going to a file; hk_witch_poke() starts it. */
static void arm(int port)
{
    snprintf(witch_addr, sizeof witch_addr, ":%d", port);
    hk_config c;
    hk_config_load(&c, get);
    snprintf(c.log_file, sizeof c.log_file, "%s", tu_path("witch.log"));
    hk_log_open(&c);
    hk_witch_sources src = {.record = record_source};
    hk_witch_arm(&c, &src);
}

/* A loopback TCP socket bound to a free port, listening when listen_too; its address in *sa. */
static int bound(struct sockaddr_in *sa, bool listen_too)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    *sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof *sa;
    ck_assert_int_eq(bind(s, (struct sockaddr *)sa, len), 0);
    if (listen_too)
        ck_assert_int_eq(listen(s, 1), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)sa, &len), 0);
    return s;
}

/* A witch on a free port, started. @return its port. */
static int start(void)
{
    struct sockaddr_in sa;
    close(bound(&sa, false));
    int port = ntohs(sa.sin_port);
    arm(port);
    hk_witch_poke();
    return port;
}

#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void); /* libasan's: its allocator is not malloc's */
#endif

/* The bytes the process has allocated now. */
static size_t allocated(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
#endif
}

/* Whether a session of 4 MiB handed to the witch is freed at once, not kept. A leak check
 * cannot tell: a session kept is reachable, and hk_witch_stop() frees it. */
static bool handed_over_session_is_freed(void)
{
    static uint8_t mb4[4 << 20]; /* not const: zeros in .bss, not 4 MiB of them in the binary */
    kl_session *s = tu_session(1);
    kl_bytes big;
    ck_assert_int_eq(kl_session_dup_bytes(s, &big, mb4, sizeof mb4), KL_OK);
    s->return_inbound.response = big;
    size_t held = allocated();
    hk_witch_keep_session(s);
    return allocated() + (3u << 20) < held;
}

/* The header of the latest answer fetch() had. */
static char head[4096];

/* GET path with Host host (NULL: 127.0.0.1:port); the status, and the body in *body (to free).
 * Waits for the witch to listen, 10 s at most. */
static int fetch(int port, const char *path, const char *host, char **body)
{
    for (int tries = 0; tries < 100; tries++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
            close(s);
            usleep(100000);
            continue;
        }
        char req[512];
        char own[32];
        snprintf(own, sizeof own, "127.0.0.1:%d", port);
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path,
                         host ? host : own);
        ck_assert_int_eq(write(s, req, (size_t)n), n);
        kl_buf got = {0};
        char buf[65536];
        for (ssize_t r; (r = read(s, buf, sizeof buf)) > 0;)
            kl_buf_append(&got, buf, (size_t)r);
        close(s);
        ck_assert_uint_gt(got.len, 12);
        int status = atoi(got.data + 9);
        const char *start = strstr(got.data, "\r\n\r\n");
        ck_assert_ptr_nonnull(start);
        snprintf(head, sizeof head, "%.*s", (int)(start - got.data), got.data);
        *body = strdup(start + 4);
        kl_buf_free(&got);
        return status;
    }
    ck_abort_msg("the witch does not listen on port %d", port);
    return 0;
}

static json_t *fetch_json(int port, const char *path)
{
    char *body;
    ck_assert_int_eq(fetch(port, path, NULL, &body), 200);
    json_error_t err;
    json_t *j = json_loads(body, 0, &err);
    ck_assert_msg(j != NULL, "%s: %s: %s", path, err.text, body);
    free(body);
    return j;
}

START_TEST(the_state_holds_what_its_sources_and_the_configuration_say)
{
    int port = start();
    json_t *st = fetch_json(port, "/witch/state");
    ck_assert_int_eq(json_integer_value(json_object_get(st, "pid")), getpid());
    ck_assert(json_is_true(json_object_get(st, "recording")));
    ck_assert(json_is_false(json_object_get(st, "replaying")));
    json_t *t = json_array_get(json_object_get(st, "threads"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(t, "id")), 4242);
    json_t *p = json_array_get(json_object_get(st, "sessions_in_progress"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(p, "peer")), "10.0.0.7:5123");
    json_t *k = json_object_get(st, "counters");
    ck_assert_int_eq(json_integer_value(json_object_get(k, "sessions_built")), 17);
    ck_assert(json_is_integer(json_object_get(k, "sendfile_from_memory")));
    ck_assert(json_is_integer(json_object_get(k, "sendfile_bytes_kept")));
    json_t *cfg = json_object_get(st, "config");
    char want[32];
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    ck_assert_str_eq(json_string_value(json_object_get(cfg, "KOALA_WITCH_ADDR")), want);
    ck_assert_str_eq(json_string_value(json_object_get(cfg, "KOALA_LOG_LEVEL")), "INFO");
    json_decref(st);
    hk_witch_stop();
}
END_TEST

START_TEST(events_come_in_order_and_a_long_poll_waits_for_the_next)
{
    int port = start();
    json_decref(fetch_json(port, "/witch/state")); /* it listens, and has said so */
    uint64_t before = hk_log_next();
    hk_log(HK_WARN, "disk \"%s\" is full", "/var");
    char path[96];
    snprintf(path, sizeof path, "/witch/events?since=%llu&wait=0", (unsigned long long)(before - 1));
    json_t *ev = fetch_json(port, path);
    json_t *e = json_array_get(json_object_get(ev, "events"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "seq")), (json_int_t)before);
    ck_assert_str_eq(json_string_value(json_object_get(e, "level")), "WARN");
    ck_assert_str_eq(json_string_value(json_object_get(e, "text")), "disk \"/var\" is full");
    ck_assert_int_eq(json_integer_value(json_object_get(ev, "next")), (json_int_t)before);
    json_decref(ev);
    /* Nothing new: the request waits, for its whole wait when nothing comes. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(path, sizeof path, "/witch/events?since=%llu&wait=1", (unsigned long long)(hk_log_next() - 1));
    ev = fetch_json(port, path);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_eq(json_array_size(json_object_get(ev, "events")), 0);
    ck_assert_int_ge((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 900);
    json_decref(ev);
    hk_witch_stop();
}
END_TEST

START_TEST(only_the_latest_100_sessions_are_kept_and_each_can_be_had_in_full)
{
    int port = start();
    for (int i = 0; i < 150; i++)
        hk_witch_keep_session(tu_session(i));
    json_t *ss = fetch_json(port, "/witch/sessions");
    ck_assert_int_eq(json_integer_value(json_object_get(ss, "kept")), 100);
    json_t *lines = json_object_get(ss, "sessions");
    ck_assert_int_eq(json_array_size(lines), 100);
    json_t *newest = json_array_get(lines, 0), *oldest = json_array_get(lines, 99);
    ck_assert_int_eq(json_integer_value(json_object_get(newest, "n")), 150);
    ck_assert_int_eq(json_integer_value(json_object_get(oldest, "n")), 51);
    ck_assert_str_eq(json_string_value(json_object_get(newest, "kind")), "recorded");
    kl_session *want = tu_session(149);
    ck_assert_str_eq(json_string_value(json_object_get(newest, "id")), want->id);
    char path[128];
    snprintf(path, sizeof path, "/witch/sessions?id=%s", want->id);
    json_t *one = fetch_json(port, path);
    ck_assert_int_eq(json_integer_value(json_object_get(one, "n")), 150);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(one, "session"), "SessionId")), want->id);
    kl_session_free(want);
    json_decref(one);
    char *body;
    ck_assert_int_eq(fetch(port, "/witch/sessions?n=50", NULL, &body), 404);
    free(body);
    json_decref(ss);
    hk_witch_stop();
}
END_TEST

/* Hand s to the witch on port: the newest line of /witch/sessions reads request and
 * response. */
static void ck_kept_line(int port, kl_session *s, const char *request, const char *response)
{
    hk_witch_keep_session(s);
    json_t *ss = fetch_json(port, "/witch/sessions");
    json_t *line = json_array_get(json_object_get(ss, "sessions"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(line, "request")), request);
    ck_assert_str_eq(json_string_value(json_object_get(line, "response")), response);
    json_decref(ss);
}

START_TEST(a_fastcgi_session_reads_as_its_method_uri_and_first_output_line)
{
    int port = start();
    kl_session *s = tu_session(0);
    kl_buf p = {0}, r = {0};
    tu_fcgi_param(&p, "REQUEST_METHOD", "GET");
    tu_fcgi_param(&p, "REQUEST_URI", "/index.php?id=7");
    tu_fcgi_request(&r, &p);
    kl_session_dup_bytes(s, &s->call_from_inbound.request, r.data, r.len);
    r.len = 0;
    tu_fcgi_record(&r, 6, "Status: 404 Not Found\r\nContent-type: text/html\r\n\r\nno", 52);
    tu_fcgi_record(&r, 3, "\0\0\0\0\0\0\0\0", 8);
    kl_session_dup_bytes(s, &s->return_inbound.response, r.data, r.len);
    ck_kept_line(port, s, "fastcgi: GET /index.php?id=7", "Status: 404 Not Found");
    kl_buf_free(&p);
    kl_buf_free(&r);
    hk_witch_stop();
}
END_TEST

START_TEST(a_redis_session_reads_as_its_command)
{
    int port = start();
    kl_session *s = tu_session(0);
    static const char incr[] = "*2\r\n$4\r\nINCR\r\n$6\r\nvisits\r\n";
    kl_session_dup_bytes(s, &s->call_from_inbound.request, incr, sizeof incr - 1);
    kl_session_dup_bytes(s, &s->return_inbound.response, ":7\r\n", 4);
    ck_kept_line(port, s, "redis: INCR visits", ":7");
    hk_witch_stop();
}
END_TEST

START_TEST(large_sessions_give_way_by_bytes)
{
    int port = start();
    for (int i = 0; i < 40; i++) {
        kl_session *s = tu_session(i);
        kl_bytes big;
        static uint8_t mb[1 << 20];
        ck_assert_int_eq(kl_session_dup_bytes(s, &big, mb, sizeof mb), KL_OK);
        s->return_inbound.response = big;
        hk_witch_keep_session(s);
    }
    json_t *ss = fetch_json(port, "/witch/sessions");
    json_int_t kept = json_integer_value(json_object_get(ss, "kept"));
    ck_assert_int_ge(kept, 14);
    ck_assert_int_le(kept, 16);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(ss, "sessions"), 0), "n")), 40);
    json_decref(ss);
    hk_witch_stop();
}
END_TEST

START_TEST(the_page_is_served_and_other_requests_refused)
{
    int port = start();
    char *body;
    ck_assert_int_eq(fetch(port, "/witch/", NULL, &body), 200);
    ck_assert_ptr_nonnull(strstr(body, "<title>koala witch</title>"));
    ck_assert_ptr_nonnull(strstr(head, "Content-Type: text/html; charset=utf-8\r\n"));
    ck_assert_ptr_nonnull(strstr(head, "Cache-Control: no-store\r\n"));
    ck_assert_ptr_nonnull(strstr(head, "X-Content-Type-Options: nosniff\r\n"));
    free(body);
    ck_assert_int_eq(fetch(port, "/witch/nothing", NULL, &body), 404);
    free(body);
    ck_assert_int_eq(fetch(port, "/witch/state", "localhost", &body), 200);
    free(body);
    ck_assert_int_eq(fetch(port, "/witch/state", "127.0.0.1", &body), 200);
    free(body);
    ck_assert_int_eq(fetch(port, "/witch/state", "attacker.example:80", &body), 403);
    ck_assert_str_eq(body, "the witch answers requests for localhost only\n");
    ck_assert_ptr_nonnull(strstr(head, "Cache-Control: no-store\r\n"));
    free(body);
    ck_assert_int_eq(fetch(port, "/witch/state", "127.0.0.1.attacker.example", &body), 403);
    free(body);
    hk_witch_stop();
}
END_TEST

START_TEST(where_another_process_serves_the_witch_nothing_is_kept)
{
    struct sockaddr_in sa;
    int s = bound(&sa, true);
    arm(ntohs(sa.sin_port));
    ck_assert(atomic_load(&hk_fd_counting));
    hk_witch_poke();
    /* Its thread finds the port taken: the log's ring stops keeping events, the fd table
     * counting bytes. Both are waited for: the thread does one after the other. */
    bool stopped = false;
    for (int tries = 0; tries < 200 && !stopped; tries++) {
        uint64_t before = hk_log_next();
        hk_log(HK_WARN, "still kept?");
        stopped = hk_log_next() == before && !atomic_load(&hk_fd_counting);
        if (!stopped)
            usleep(50000);
    }
    uint64_t before = hk_log_next();
    hk_log(HK_WARN, "still kept?");
    ck_assert_msg(hk_log_next() == before, "the ring keeps events where the witch does not serve");
    ck_assert(!atomic_load(&hk_fd_counting));
    ck_assert_msg(handed_over_session_is_freed(), "a session is kept where the witch does not serve");
    hk_witch_stop();
    close(s);
}
END_TEST

START_TEST(a_session_handed_over_without_a_witch_is_freed)
{
    hk_config c;
    snprintf(witch_addr, sizeof witch_addr, "off");
    hk_config_load(&c, get);
    hk_witch_sources src = {0};
    hk_witch_arm(&c, &src);
    hk_witch_poke();
    ck_assert_msg(handed_over_session_is_freed(), "a session is kept with the witch off");
    hk_witch_stop();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hk_witch");
    TCase *tc = tcase_create("hk_witch");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, the_state_holds_what_its_sources_and_the_configuration_say);
    tcase_add_test(tc, events_come_in_order_and_a_long_poll_waits_for_the_next);
    tcase_add_test(tc, only_the_latest_100_sessions_are_kept_and_each_can_be_had_in_full);
    tcase_add_test(tc, large_sessions_give_way_by_bytes);
    tcase_add_test(tc, a_fastcgi_session_reads_as_its_method_uri_and_first_output_line);
    tcase_add_test(tc, a_redis_session_reads_as_its_command);
    tcase_add_test(tc, the_page_is_served_and_other_requests_refused);
    tcase_add_test(tc, where_another_process_serves_the_witch_nothing_is_kept);
    tcase_add_test(tc, a_session_handed_over_without_a_witch_is_freed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
