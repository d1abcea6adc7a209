/* check_hk_fd.c - tests of hook/hk_fd.c: kinds, addresses, dup, reuse, threads, byte counters
 * and the list the witch shows. */
#include "testutil.h"
#include "hk.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hk_fd_info outbound(uint16_t port)
{
    hk_fd_info i;
    memset(&i, 0, sizeof i);
    i.kind = HK_FD_OUTBOUND;
    char text[32];
    snprintf(text, sizeof text, "127.0.0.1:%u", port);
    ck_assert_int_eq(kl_addr_parse(text, &i.peer), KL_OK);
    return i;
}

START_TEST(an_fd_keeps_its_kind_and_addresses_until_closed)
{
    ck_assert_int_eq(hk_fd_kind_of(7), HK_FD_UNKNOWN);
    hk_fd_info in = outbound(6379);
    const hk_fd_info *got;
    hk_fd_set(7, &in);
    ck_assert_int_eq(hk_fd_kind_of(7), HK_FD_OUTBOUND);
    ck_assert_ptr_nonnull(got = hk_fd_peek(7));
    ck_assert_int_eq(got->peer.port, 6379);
    hk_fd_forget(7);
    ck_assert_int_eq(hk_fd_kind_of(7), HK_FD_UNKNOWN);
    ck_assert_ptr_null(hk_fd_peek(7));
    /* the number comes back as a file */
    hk_fd_info f = {.kind = HK_FD_APPEND};
    snprintf(f.file_name, sizeof f.file_name, "/var/log/app.log");
    hk_fd_set(7, &f);
    ck_assert_ptr_nonnull(got = hk_fd_peek(7));
    ck_assert_str_eq(got->file_name, "/var/log/app.log");
    ck_assert_int_eq(got->peer.port, 0);
}
END_TEST

START_TEST(dup_copies_and_a_dup_of_nothing_clears)
{
    hk_fd_info in = outbound(3306);
    const hk_fd_info *got;
    hk_fd_set(10, &in);
    hk_fd_dup(10, 11);
    ck_assert_ptr_nonnull(got = hk_fd_peek(11));
    ck_assert_int_eq(got->peer.port, 3306);
    hk_fd_dup(12, 11); /* dup2 of an unknown fd over 11 */
    ck_assert_int_eq(hk_fd_kind_of(11), HK_FD_UNKNOWN);
    ck_assert_int_eq(hk_fd_kind_of(10), HK_FD_OUTBOUND);
}
END_TEST

START_TEST(a_connection_counts_the_fds_that_name_it)
{
    hk_fd_info in = outbound(5432);
    hk_fd_set(20, &in);
    ck_assert_int_eq(hk_fd_copies(20), 1);
    ck_assert_ptr_null(hk_fd_peek(20)->copies); /* counted from the first copy on */
    hk_fd_dup(20, 21);
    hk_fd_dup(21, 22);
    ck_assert_int_eq(hk_fd_copies(20), 3);
    ck_assert_int_eq(hk_fd_copies(22), 3);
    /* moved to a replayed session: the same connection, counted as before */
    unsigned gen = hk_fd_gen(21);
    hk_fd_set_replay(21, 77);
    const hk_fd_info *got;
    ck_assert_ptr_nonnull(got = hk_fd_peek(21));
    ck_assert_uint_eq(got->replay, 77);
    ck_assert_int_eq(got->peer.port, 5432);
    ck_assert_uint_ne(hk_fd_gen(21), gen);
    ck_assert_int_eq(hk_fd_copies(21), 3);
    hk_fd_forget(20);
    ck_assert_int_eq(hk_fd_copies(20), 0);
    ck_assert_int_eq(hk_fd_copies(21), 2);
    /* a copy's number taken by something else (a dup2 over it, a new socket) */
    hk_fd_mark(21, HK_FD_UDP);
    ck_assert_int_eq(hk_fd_copies(22), 1);
    hk_fd_forget(22); /* the last: the count is freed (a sanitizer build would see a leak) */
    ck_assert_int_eq(hk_fd_copies(22), 0);
    hk_fd_forget(21);
    /* a file's copies are not counted */
    hk_fd_info log = {.kind = HK_FD_APPEND};
    hk_fd_set(20, &log);
    hk_fd_dup(20, 21);
    ck_assert_int_eq(hk_fd_copies(21), 1);
    ck_assert_ptr_null(hk_fd_peek(20)->copies);
    hk_fd_forget(20);
    hk_fd_forget(21);
}
END_TEST

START_TEST(a_file_or_pipe_is_marked_without_an_address_left_behind)
{
    hk_fd_info in = outbound(6379);
    const hk_fd_info *got;
    hk_fd_set(7, &in);
    hk_fd_mark(7, HK_FD_OTHER);
    ck_assert_ptr_nonnull(got = hk_fd_peek(7));
    ck_assert_int_eq(got->kind, HK_FD_OTHER);
    ck_assert_int_eq(got->peer.port, 0);
    ck_assert_int_eq(got->peer.family, 0);
    unsigned gen = hk_fd_gen(7);
    hk_fd_forget(7);
    ck_assert_uint_ne(hk_fd_gen(7), gen);
    hk_fd_mark(7, HK_FD_UDP);
    ck_assert_int_eq(hk_fd_kind_of(7), HK_FD_UDP);
    hk_fd_set(7, &in);
    ck_assert_int_eq(hk_fd_peek(7)->peer.port, 6379);
    hk_fd_mark(7, HK_FD_OTHER);
    ck_assert_int_eq(hk_fd_peek(7)->peer.port, 0);
}
END_TEST

/* A static server's thread reads its connection and writes its log in turn: both stay peeked,
 * and a change to either shows at once. */
START_TEST(peeks_at_two_fds_in_turn_see_every_change)
{
    hk_fd_info a = outbound(80), b = outbound(443), c = outbound(8080);
    hk_fd_set(20, &a);
    hk_fd_set(21, &b);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(hk_fd_peek(20)->peer.port, 80);
        ck_assert_int_eq(hk_fd_peek(21)->peer.port, 443);
    }
    hk_fd_set(21, &c);
    ck_assert_int_eq(hk_fd_peek(21)->peer.port, 8080);
    ck_assert_int_eq(hk_fd_peek(20)->peer.port, 80);
    hk_fd_set(22, &a);
    ck_assert_int_eq(hk_fd_peek(22)->peer.port, 80); /* a third pushes out the older */
    ck_assert_int_eq(hk_fd_peek(21)->peer.port, 8080);
    hk_fd_forget(20);
    ck_assert_ptr_null(hk_fd_peek(20));
    ck_assert_int_eq(hk_fd_peek(22)->peer.port, 80);
}
END_TEST

START_TEST(fds_out_of_range_are_never_recorded)
{
    hk_fd_info in = outbound(80);
    hk_fd_set(HK_FD_MAX + 5, &in);
    hk_fd_set(-1, &in);
    ck_assert_int_eq(hk_fd_kind_of(HK_FD_MAX + 5), HK_FD_OTHER);
    ck_assert_int_eq(hk_fd_kind_of(-1), HK_FD_UNKNOWN);
    ck_assert_uint_eq(hk_fd_gen(HK_FD_MAX), 0);
    hk_fd_set(HK_FD_MAX - 1, &in);
    ck_assert_int_eq(hk_fd_kind_of(HK_FD_MAX - 1), HK_FD_OUTBOUND);
}
END_TEST

/* Each thread owns 64 fds and keeps re-setting them with ports that encode the fd; another
 * thread reads everything. A torn read would show a port that does not match its fd. */
static atomic_int finished;

static void *churn(void *arg)
{
    int base = (int)(intptr_t)arg;
    for (int round = 0; round < 2000; round++)
        for (int fd = base; fd < base + 64; fd++) {
            hk_fd_info i = outbound((uint16_t)(fd * 10 + round % 10));
            hk_fd_set(fd, &i);
            if (round % 7 == 0)
                hk_fd_forget(fd);
        }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

START_TEST(threads_never_see_a_torn_entry)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churn, (void *)(intptr_t)(1000 + i * 64));
    long seen = 0;
    while (atomic_load(&finished) < 4)
        for (int fd = 1000; fd < 1256; fd++) {
            const hk_fd_info *got = hk_fd_peek(fd);
            if (got) {
                ck_assert_int_eq(got->kind, HK_FD_OUTBOUND);
                ck_assert_int_eq(got->peer.port / 10, fd);
                seen++;
            }
        }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_gt(seen, 0);
}
END_TEST

START_TEST(bytes_are_counted_per_connection_until_it_changes)
{
    atomic_store(&hk_fd_counting, true);
    hk_fd_info a = outbound(6379);
    hk_fd_set(20, &a);
    hk_fd_count(20, 100, true);
    hk_fd_count(20, 7, true);
    hk_fd_count(20, 30, false);
    hk_fd_info moved = a;
    moved.replay = 9; /* the same connection, now for another replayed session */
    hk_fd_set(20, &moved);
    int from = 20;
    hk_fd_stat st[4];
    ck_assert_int_eq(hk_fd_list(st, 4, &from), 1);
    ck_assert_int_eq(st[0].fd, 20);
    ck_assert_uint_eq(st[0].bytes_out, 107);
    ck_assert_uint_eq(st[0].bytes_in, 30);
    ck_assert_uint_eq(st[0].info.replay, 9);
    hk_fd_info b = outbound(3306);
    hk_fd_set(20, &b);
    from = 20;
    ck_assert_int_eq(hk_fd_list(st, 4, &from), 1);
    ck_assert_uint_eq(st[0].bytes_out, 0);
    ck_assert_uint_eq(st[0].bytes_in, 0);
    hk_fd_forget(20);
    from = 20;
    ck_assert_int_eq(hk_fd_list(st, 4, &from), 0);
    atomic_store(&hk_fd_counting, false);
}
END_TEST

START_TEST(bytes_are_not_counted_where_no_witch_shows_them)
{
    hk_fd_info a = outbound(6379);
    hk_fd_set(21, &a);
    hk_fd_count(21, 100, true);
    hk_fd_count(21, 30, false);
    int from = 21;
    hk_fd_stat st[1];
    ck_assert_int_eq(hk_fd_list(st, 1, &from), 1);
    ck_assert_uint_eq(st[0].bytes_out, 0);
    ck_assert_uint_eq(st[0].bytes_in, 0);
    hk_fd_forget(21);
}
END_TEST

START_TEST(the_list_holds_what_koala_records_in_order_a_page_at_a_time)
{
    hk_fd_info other = {.kind = HK_FD_OTHER}, udp = {.kind = HK_FD_UDP}, own = {.kind = HK_FD_KOALA};
    hk_fd_info in = outbound(80);
    in.kind = HK_FD_INBOUND;
    hk_fd_set(3, &other);
    hk_fd_set(4, &in);
    hk_fd_set(6, &udp);
    hk_fd_set(1500, &own);
    hk_fd_stat st[2];
    int from = 0;
    ck_assert_int_eq(hk_fd_list(st, 2, &from), 2);
    ck_assert_int_eq(st[0].fd, 4);
    ck_assert_int_eq(st[0].info.kind, HK_FD_INBOUND);
    ck_assert_int_eq(st[0].info.peer.port, 80);
    ck_assert_int_eq(st[1].fd, 6);
    ck_assert_int_eq(from, 7);
    ck_assert_int_eq(hk_fd_list(st, 2, &from), 1);
    ck_assert_int_eq(st[0].fd, 1500);
    ck_assert_int_eq(st[0].info.kind, HK_FD_KOALA);
    ck_assert_int_eq(hk_fd_list(st, 2, &from), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hk_fd");
    TCase *tc = tcase_create("hk_fd");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, an_fd_keeps_its_kind_and_addresses_until_closed);
    tcase_add_test(tc, dup_copies_and_a_dup_of_nothing_clears);
    tcase_add_test(tc, a_connection_counts_the_fds_that_name_it);
    tcase_add_test(tc, a_file_or_pipe_is_marked_without_an_address_left_behind);
    tcase_add_test(tc, peeks_at_two_fds_in_turn_see_every_change);
    tcase_add_test(tc, fds_out_of_range_are_never_recorded);
    tcase_add_test(tc, threads_never_see_a_torn_entry);
    tcase_add_test(tc, bytes_are_counted_per_connection_until_it_changes);
    tcase_add_test(tc, bytes_are_not_counted_where_no_witch_shows_them);
    tcase_add_test(tc, the_list_holds_what_koala_records_in_order_a_page_at_a_time);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
