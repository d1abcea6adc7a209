/* check_stats.c - tests for libkoala/stats.c: figures, the text report and the JSON report. */
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static kl_stats *sample_stats(int n)
{
    kl_stats *st = kl_stats_new();
    ck_assert_ptr_nonnull(st);
    for (int i = 0; i < n; i++) {
        kl_session *s = tu_session(i);
        ck_assert_int_eq(kl_stats_add(st, s), KL_OK);
        kl_session_free(s);
    }
    return st;
}

static json_t *json_report(const kl_stats *st)
{
    kl_buf out = {0};
    ck_assert_int_eq(kl_stats_report(st, true, &out), KL_OK);
    json_error_t err;
    json_t *j = json_loads(out.data, 0, &err);
    ck_assert_msg(j != NULL, "bad JSON (%s) in %s", err.text, out.data);
    ck_assert_msg(json_is_object(j), "not an object");
    kl_buf_free(&out);
    return j;
}

/* The integer at a dotted path such as "bytes.inbound_request". */
static long long jint(json_t *j, const char *path)
{
    char key[64];
    snprintf(key, sizeof key, "%s", path);
    char *dot = strchr(key, '.');
    if (dot) {
        *dot = '\0';
        j = json_object_get(j, key);
        ck_assert_msg(json_is_object(j), "no object %s", key);
        return jint(j, dot + 1);
    }
    json_t *v = json_object_get(j, key);
    ck_assert_msg(json_is_integer(v), "no integer %s", path);
    return (long long)json_integer_value(v);
}

static const char *jpeer(json_t *j, size_t i, long long *calls)
{
    json_t *p = json_array_get(json_object_get(j, "peers"), i);
    ck_assert_msg(json_is_object(p), "no peer %zu", i);
    *calls = (long long)json_integer_value(json_object_get(p, "calls"));
    return json_string_value(json_object_get(p, "peer"));
}

START_TEST(text_report_of_ten_sample_sessions_is_exact)
{
    kl_stats *st = sample_stats(10);
    kl_buf out = {0};
    ck_assert_int_eq(kl_stats_report(st, false, &out), KL_OK);
    ck_assert_str_eq(out.data,
                     "Sessions:                 10\n"
                     "Replayed sessions:        0\n"
                     "Truncated sessions:       0\n"
                     "First session time:       2023-11-14T22:13:20.000001000Z\n"
                     "Last session time:        2023-11-14T22:13:20.009001000Z\n"
                     "Duration:                 0.009000000 seconds\n"
                     "Session rate:             1111.11 sessions/s\n"
                     "Actions:                  40\n"
                     "  CallOutbound:           20\n"
                     "  AppendFile:             10\n"
                     "  SendUDP:                10\n"
                     "  ReadStorage:            0\n"
                     "  CallFunction:           0\n"
                     "  ReturnFunction:         0\n"
                     "Bytes:\n"
                     "  Inbound request:        520\n"
                     "  Inbound response:       950\n"
                     "  Outbound request:       650\n"
                     "  Outbound response:      160\n"
                     "  File content:           140\n"
                     "  UDP content:            160\n"
                     "  Storage content:        0\n"
                     "Inbound peers:            1\n"
                     "Outbound peers:           2\n"
                     "  127.0.0.1:3306          10 calls\n"
                     "  127.0.0.1:6379          10 calls\n");
    kl_buf_free(&out);
    kl_stats_free(st);
}
END_TEST

START_TEST(json_report_of_ten_sample_sessions_has_every_figure)
{
    kl_stats *st = sample_stats(10);
    json_t *j = json_report(st);
    ck_assert_int_eq(jint(j, "sessions"), 10);
    ck_assert_int_eq(jint(j, "replayed_sessions"), 0);
    ck_assert_int_eq(jint(j, "truncated_sessions"), 0);
    ck_assert_int_eq(jint(j, "actions_total"), 40);
    ck_assert_int_eq(jint(j, "actions.call_outbound"), 20);
    ck_assert_int_eq(jint(j, "actions.append_file"), 10);
    ck_assert_int_eq(jint(j, "actions.send_udp"), 10);
    ck_assert_int_eq(jint(j, "actions.read_storage"), 0);
    ck_assert_int_eq(jint(j, "actions.call_function"), 0);
    ck_assert_int_eq(jint(j, "actions.return_function"), 0);
    ck_assert_ptr_null(json_object_get(json_object_get(j, "actions"), "return_inbound"));
    ck_assert_int_eq(jint(j, "bytes.inbound_request"), 520);
    ck_assert_int_eq(jint(j, "bytes.inbound_response"), 950);
    ck_assert_int_eq(jint(j, "bytes.outbound_request"), 650);
    ck_assert_int_eq(jint(j, "bytes.outbound_response"), 160);
    ck_assert_int_eq(jint(j, "bytes.file_content"), 140);
    ck_assert_int_eq(jint(j, "bytes.udp_content"), 160);
    ck_assert_int_eq(jint(j, "bytes.storage_content"), 0);
    ck_assert_int_eq(jint(j, "first_time"), 1700000000000001000LL);
    ck_assert_int_eq(jint(j, "last_time"), 1700000000009001000LL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "first_time_text")),
                     "2023-11-14T22:13:20.000001000Z");
    ck_assert_str_eq(json_string_value(json_object_get(j, "last_time_text")),
                     "2023-11-14T22:13:20.009001000Z");
    ck_assert_int_eq(jint(j, "duration_ns"), 9000000);
    ck_assert_double_eq_tol(json_number_value(json_object_get(j, "sessions_per_second")), 1111.11,
                            0.001);
    ck_assert_int_eq(jint(j, "inbound_peers"), 1);
    ck_assert_int_eq(jint(j, "outbound_peers"), 2);
    ck_assert(json_is_false(json_object_get(j, "outbound_peers_capped")));
    ck_assert_uint_eq(json_array_size(json_object_get(j, "peers")), 2);
    long long calls;
    ck_assert_str_eq(jpeer(j, 0, &calls), "127.0.0.1:3306");
    ck_assert_int_eq(calls, 10);
    ck_assert_str_eq(jpeer(j, 1, &calls), "127.0.0.1:6379");
    ck_assert_int_eq(calls, 10);
    ck_assert_int_eq(jint(j, "files"), 0);
    ck_assert(json_is_null(json_object_get(j, "compression_ratio")));
    json_decref(j);
    kl_stats_free(st);
}
END_TEST

START_TEST(empty_stats_report_zeros_and_nulls)
{
    kl_stats *st = kl_stats_new();
    json_t *j = json_report(st);
    ck_assert_int_eq(jint(j, "sessions"), 0);
    ck_assert(json_is_null(json_object_get(j, "first_time")));
    ck_assert(json_is_null(json_object_get(j, "last_time_text")));
    ck_assert(json_is_null(json_object_get(j, "sessions_per_second")));
    ck_assert_int_eq(jint(j, "duration_ns"), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "peers")), 0);
    json_decref(j);
    kl_buf out = {0};
    ck_assert_int_eq(kl_stats_report(st, false, &out), KL_OK);
    ck_assert_ptr_nonnull(strstr(out.data, "First session time:       -\n"));
    ck_assert_ptr_nonnull(strstr(out.data, "Session rate:             -\n"));
    kl_buf_free(&out);
    kl_stats_free(st);
    kl_stats_free(NULL);
}
END_TEST

START_TEST(truncated_sessions_and_inbound_hosts_are_counted)
{
    kl_stats *st = kl_stats_new();
    for (int i = 0; i < 4; i++) {
        kl_session *s = tu_session(i);
        s->truncated = i % 2;
        if (i == 3)
            kl_addr_parse("10.0.0.9:5555", &s->call_from_inbound.peer);
        ck_assert_int_eq(kl_stats_add(st, s), KL_OK);
        kl_session_free(s);
    }
    json_t *j = json_report(st);
    ck_assert_int_eq(jint(j, "truncated_sessions"), 2);
    ck_assert_int_eq(jint(j, "inbound_peers"), 2); /* 127.0.0.1 on three ports, and 10.0.0.9 */
    json_decref(j);
    kl_stats_free(st);
}
END_TEST

/* Adds `calls` calls to peer 10.0.<k/256>.<k%256>:80 through a caller-built session. */
static void add_calls(kl_stats *st, int k, int calls)
{
    kl_action a = {.type = KL_ACTION_CALL_OUTBOUND};
    char text[32];
    snprintf(text, sizeof text, "10.%d.%d.%d:80", k >> 16, (k >> 8) & 255, k & 255);
    ck_assert_int_eq(kl_addr_parse(text, &a.peer), KL_OK);
    kl_session s = {.actions = &a, .n_actions = 1};
    for (int i = 0; i < calls; i++)
        ck_assert_int_eq(kl_stats_add(st, &s), KL_OK);
}

START_TEST(peers_list_the_top_twenty_by_calls_then_others)
{
    kl_stats *st = kl_stats_new();
    for (int k = 0; k < 25; k++)
        add_calls(st, k, k + 1);
    json_t *j = json_report(st);
    ck_assert_int_eq(jint(j, "outbound_peers"), 25);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "peers")), 21);
    long long calls;
    ck_assert_str_eq(jpeer(j, 0, &calls), "10.0.0.24:80");
    ck_assert_int_eq(calls, 25);
    ck_assert_str_eq(jpeer(j, 19, &calls), "10.0.0.5:80");
    ck_assert_int_eq(calls, 6);
    ck_assert_str_eq(jpeer(j, 20, &calls), "others");
    ck_assert_int_eq(calls, 1 + 2 + 3 + 4 + 5);
    json_decref(j);
    kl_buf out = {0};
    kl_stats_report(st, false, &out);
    ck_assert_ptr_nonnull(strstr(out.data, "Outbound peers:           25\n"
                                           "  10.0.0.24:80            25 calls\n"));
    ck_assert_ptr_nonnull(strstr(out.data, "  10.0.0.5:80             6 calls\n"
                                           "  others                  15 calls\n"));
    kl_buf_free(&out);
    kl_stats_free(st);
}
END_TEST

START_TEST(distinct_peers_are_capped_and_the_rest_count_as_others)
{
    kl_stats *st = kl_stats_new();
    for (int k = 0; k < 100005; k++)
        add_calls(st, k, 1);
    add_calls(st, 100004, 1); /* not remembered, so still counted apart */
    add_calls(st, 7, 2);
    json_t *j = json_report(st);
    ck_assert_int_eq(jint(j, "outbound_peers"), 100000);
    ck_assert(json_is_true(json_object_get(j, "outbound_peers_capped")));
    long long calls;
    ck_assert_str_eq(jpeer(j, 0, &calls), "10.0.0.7:80");
    ck_assert_int_eq(calls, 3);
    ck_assert_str_eq(jpeer(j, 20, &calls), "others");
    ck_assert_int_eq(calls, 100000 - 20 + 6);
    ck_assert_int_eq(jint(j, "actions.call_outbound"), 100008);
    json_decref(j);
    kl_buf out = {0};
    kl_stats_report(st, false, &out);
    ck_assert_ptr_nonnull(strstr(out.data, "Outbound peers:           100000+\n"));
    kl_buf_free(&out);
    kl_stats_free(st);
}
END_TEST

START_TEST(odd_peer_names_stay_valid_json_and_safe_text)
{
    kl_stats *st = kl_stats_new();
    kl_action a = {.type = KL_ACTION_CALL_OUTBOUND};
    ck_assert_int_eq(kl_addr_parse("/tmp/a\"b\\c\x01\xff", &a.peer), KL_OK);
    kl_session s = {.actions = &a, .n_actions = 1};
    ck_assert_int_eq(kl_stats_add(st, &s), KL_OK);
    json_t *j = json_report(st);
    long long calls;
    ck_assert_str_eq(jpeer(j, 0, &calls), "unix:/tmp/a\"b\\c\x01\xc3\xbf");
    json_decref(j);
    kl_buf out = {0};
    kl_stats_report(st, false, &out);
    ck_assert_ptr_nonnull(strstr(out.data, "  unix:/tmp/a\"b\\c\\x01\\xff 1 call\n"));
    kl_buf_free(&out);
    kl_stats_free(st);
}
END_TEST

START_TEST(replayed_sessions_count_matches_responses_and_errors)
{
    kl_session *s = tu_session(5);
    kl_replayed *r = kl_replayed_new();
    kl_replayed_dup_str(r, &r->session_id, s->id);
    r->original_request = s->call_from_inbound.request;
    r->original_response = s->return_inbound.response;
    r->response = s->return_inbound.response;
    kl_replayed_action ra = {.action = s->actions[0], .matched_index = 0, .runner_up_index = -1,
                             .matched_response = s->actions[0].response};
    ra.action.response = (kl_bytes){0};
    kl_replayed_add_action(r, &ra);
    ra = (kl_replayed_action){.action = s->actions[1], .matched_index = -1, .runner_up_index = -1};
    kl_replayed_add_action(r, &ra);
    ra = (kl_replayed_action){.action = s->actions[3], .matched_index = -1, .runner_up_index = -1};
    kl_replayed_add_action(r, &ra);
    kl_replayed_add_unused(r, 1);
    kl_replayed_add_error(r, "unmatched call");
    kl_stats *st = kl_stats_new();
    ck_assert_int_eq(kl_stats_add_replayed(st, r), KL_OK);
    r->response.len--;
    ck_assert_int_eq(kl_stats_add_replayed(st, r), KL_OK);
    json_t *j = json_report(st);
    ck_assert_int_eq(jint(j, "sessions"), 0);
    ck_assert_int_eq(jint(j, "replayed_sessions"), 2);
    ck_assert_int_eq(jint(j, "replay.same_responses"), 1);
    ck_assert_int_eq(jint(j, "replay.matched_calls"), 2);
    ck_assert_int_eq(jint(j, "replay.unmatched_calls"), 2);
    ck_assert_int_eq(jint(j, "replay.unused_recorded_calls"), 2);
    ck_assert_int_eq(jint(j, "replay.errors"), 2);
    ck_assert_int_eq(jint(j, "actions.call_outbound"), 4);
    ck_assert_int_eq(jint(j, "actions.send_udp"), 2);
    ck_assert_int_eq(jint(j, "bytes.inbound_request"), 104);
    ck_assert_int_eq(jint(j, "bytes.inbound_response"), 95 + 94);
    ck_assert_int_eq(jint(j, "bytes.outbound_response"), 10); /* the matched answers */
    ck_assert_int_eq(jint(j, "first_time"), 1700000000005000000LL); /* from the id */
    json_decref(j);
    kl_buf out = {0};
    kl_stats_report(st, false, &out);
    ck_assert_ptr_nonnull(strstr(out.data, "Replay:\n  Same responses:         1\n"
                                           "  Matched calls:          2\n"));
    kl_buf_free(&out);
    kl_stats_free(st);
    kl_replayed_free(r);
    kl_session_free(s);
}
END_TEST

START_TEST(file_facts_add_up_to_a_compression_ratio)
{
    kl_stats *st = sample_stats(1);
    kl_file_info a = {
        .has_index = true, .frames = 3, .content_bytes = 3 << 20, .file_bytes = 1 << 20};
    kl_file_info b = {.has_index = false, .frames = 0, .content_bytes = 0, .file_bytes = 1 << 19};
    kl_stats_add_file(st, &a);
    kl_stats_add_file(st, &b);
    json_t *j = json_report(st);
    ck_assert_int_eq(jint(j, "files"), 2);
    ck_assert_int_eq(jint(j, "files_without_index"), 1);
    ck_assert_int_eq(jint(j, "frames"), 3);
    ck_assert_int_eq(jint(j, "content_bytes"), 3 << 20);
    ck_assert_int_eq(jint(j, "file_bytes"), 3 << 19);
    ck_assert_double_eq_tol(json_number_value(json_object_get(j, "compression_ratio")), 2.0, 1e-9);
    json_decref(j);
    kl_buf out = {0};
    kl_stats_report(st, false, &out);
    ck_assert_ptr_nonnull(strstr(out.data, "Files:                    2\n"
                                           "Files without index:      1\n"
                                           "Frames:                   3\n"
                                           "Content bytes:            3145728 (3.0MiB)\n"
                                           "File bytes:               1572864 (1.5MiB)\n"
                                           "Compression ratio:        2.00\n"));
    kl_buf_free(&out);
    kl_stats_free(st);
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, text_report_of_ten_sample_sessions_is_exact);
    tcase_add_test(tc, json_report_of_ten_sample_sessions_has_every_figure);
    tcase_add_test(tc, empty_stats_report_zeros_and_nulls);
    tcase_add_test(tc, truncated_sessions_and_inbound_hosts_are_counted);
    tcase_add_test(tc, peers_list_the_top_twenty_by_calls_then_others);
    tcase_add_test(tc, distinct_peers_are_capped_and_the_rest_count_as_others);
    tcase_add_test(tc, odd_peer_names_stay_valid_json_and_safe_text);
    tcase_add_test(tc, replayed_sessions_count_matches_responses_and_errors);
    tcase_add_test(tc, file_facts_add_up_to_a_compression_ratio);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(stats_suite());
}
