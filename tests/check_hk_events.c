/* check_hk_events.c - tests of hook/hk_events.c: events kept in a buffer come back as they
 * were put, with the fields their type uses. */
#include "testutil.h"
#include "hk.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static kl_addr addr(const char *text)
{
    kl_addr a;
    ck_assert_int_eq(kl_addr_parse(text, &a), KL_OK);
    return a;
}

/* ev with its data in one piece. */
static int put(kl_buf *b, const kl_event *ev)
{
    struct iovec one = {(void *)ev->data, ev->len};
    return hk_events_put(b, ev, &one, 1);
}

START_TEST(each_type_keeps_the_fields_it_uses)
{
    kl_addr peer = addr("10.0.0.7:6379"), local = addr("127.0.0.1:40000");
    const char *data = "GET user:1\r\n";
    kl_event in[] = {
        {.type = KL_EV_INBOUND_RECV, .time = 1, .fd = 5, .peer = &peer, .local = &local, .conn = 7},
        {.type = KL_EV_INBOUND_SEND, .time = 2, .fd = 5, .peer = &peer, .local = &local, .conn = 7},
        {.type = KL_EV_INBOUND_CLOSE, .time = 3, .fd = 5, .conn = 7},
        {.type = KL_EV_OUTBOUND_SEND, .time = 4, .fd = 9, .peer = &peer, .local = &local},
        {.type = KL_EV_OUTBOUND_RECV, .time = 5, .fd = 9, .peer = &peer, .local = &local},
        {.type = KL_EV_OUTBOUND_CLOSE, .time = 6, .fd = 9},
        {.type = KL_EV_APPEND_FILE, .time = 7, .fd = 11, .file_name = "/var/log/app.log"},
        {.type = KL_EV_SEND_UDP, .time = 8, .fd = 12, .peer = &peer, .local = &local},
        {.type = KL_EV_READ_STORAGE, .time = 9, .fd = -1},
    };
    size_t n = sizeof in / sizeof in[0];
    kl_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        in[i].data = (const uint8_t *)data;
        in[i].len = i % 3 == 2 ? 0 : strlen(data) - i; /* closes carry nothing */
        ck_assert_int_eq(put(&b, &in[i]), KL_OK);
    }
    size_t off = 0, i = 0;
    kl_event ev;
    hk_file *ref;
    for (; hk_events_next(&b, &off, &ev, &ref); i++) {
        ck_assert_uint_lt(i, n);
        kl_event_type t = in[i].type;
        ck_assert_int_eq(ev.type, t);
        ck_assert_int_eq(ev.time, in[i].time);
        ck_assert_int_eq(ev.fd, in[i].fd);
        ck_assert_uint_eq(ev.conn, in[i].conn);
        ck_assert_uint_eq(ev.len, in[i].len);
        ck_assert_mem_eq(ev.data, data, ev.len);
        bool has_peer = t == KL_EV_INBOUND_RECV || t == KL_EV_OUTBOUND_SEND ||
                        t == KL_EV_OUTBOUND_RECV || t == KL_EV_SEND_UDP;
        bool has_local = t == KL_EV_OUTBOUND_SEND || t == KL_EV_OUTBOUND_RECV;
        ck_assert(has_peer == (ev.peer != NULL));
        ck_assert(has_local == (ev.local != NULL));
        if (has_peer)
            ck_assert_mem_eq(ev.peer, &peer, sizeof peer);
        if (has_local)
            ck_assert_mem_eq(ev.local, &local, sizeof local);
        if (t == KL_EV_APPEND_FILE)
            ck_assert_str_eq(ev.file_name, "/var/log/app.log");
        else
            ck_assert_ptr_null(ev.file_name);
        ck_assert_uint_eq((uintptr_t)ev.peer % _Alignof(kl_addr), 0);
    }
    ck_assert_uint_eq(i, n);
    kl_buf_free(&b);
}
END_TEST

/* Sizes that are no multiple of anything, past several doublings of the buffer. */
START_TEST(many_events_come_back_in_order_across_growth)
{
    static uint8_t data[5000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    kl_addr peer = addr("[::1]:8080");
    kl_buf b = {0};
    int count = 3000;
    for (int i = 0; i < count; i++) {
        kl_event ev = {.type = i % 2 ? KL_EV_INBOUND_SEND : KL_EV_INBOUND_RECV, .time = 1000 + i,
                       .fd = i, .peer = &peer, .data = data + i % 97,
                       .len = (size_t)(i * 131) % sizeof data % (sizeof data - 97)};
        ck_assert_int_eq(put(&b, &ev), KL_OK);
    }
    kl_event ev;
    hk_file *ref;
    size_t off = 0;
    int i = 0;
    for (; hk_events_next(&b, &off, &ev, &ref); i++) {
        ck_assert_int_eq(ev.time, 1000 + i);
        ck_assert_int_eq(ev.fd, i);
        ck_assert_uint_eq(ev.len, (size_t)(i * 131) % sizeof data % (sizeof data - 97));
        ck_assert_mem_eq(ev.data, data + i % 97, ev.len);
        ck_assert_uint_eq((uintptr_t)ev.data % 8, (uintptr_t)(i % 2 ? 0 : sizeof(kl_addr)) % 8);
    }
    ck_assert_int_eq(i, count);
    ck_assert_uint_eq(off, b.len);
    kl_buf_free(&b);
}
END_TEST

START_TEST(the_pieces_of_a_writev_are_one_event_cut_at_its_length)
{
    struct iovec iov[] = {{"GET /a ", 7}, {"", 0}, {"HTTP/1.1\r\n", 10}, {"\r\nnot sent", 11}};
    kl_event ev = {.type = KL_EV_OUTBOUND_SEND, .time = 5, .fd = 9, .len = 19};
    kl_buf b = {0};
    ck_assert_int_eq(hk_events_put(&b, &ev, iov, 4), KL_OK);
    kl_event got;
    hk_file *ref;
    size_t off = 0;
    ck_assert(hk_events_next(&b, &off, &got, &ref));
    ck_assert_uint_eq(got.len, 19);
    ck_assert_mem_eq(got.data, "GET /a HTTP/1.1\r\n\r\n", 19);
    ck_assert(!hk_events_next(&b, &off, &got, &ref));
    kl_buf_free(&b);
}
END_TEST

START_TEST(an_empty_buffer_has_no_event)
{
    kl_buf b = {0};
    kl_event ev;
    hk_file *ref;
    size_t off = 0;
    ck_assert(!hk_events_next(&b, &off, &ev, &ref));
    ck_assert_uint_eq(off, 0);
}
END_TEST

START_TEST(an_event_of_4_gib_is_refused_and_the_buffer_kept)
{
    kl_buf b = {0};
    kl_event small = {.type = KL_EV_INBOUND_SEND, .time = 1, .fd = 3, .data = (const uint8_t *)"x", .len = 1};
    ck_assert_int_eq(put(&b, &small), KL_OK);
    size_t len = b.len;
    kl_event huge = small;
    huge.len = (size_t)UINT32_MAX + 1;
    ck_assert_int_eq(put(&b, &huge), KL_ERR_INVALID);
    ck_assert_uint_eq(b.len, len);
    kl_event ev;
    hk_file *ref;
    size_t off = 0;
    ck_assert(hk_events_next(&b, &off, &ev, &ref));
    ck_assert(!hk_events_next(&b, &off, &ev, &ref));
    kl_buf_free(&b);
}
END_TEST

/* A held event's data stays where it is: the same pointer comes back with its reference,
 * between copied events, after file names of any length. */
START_TEST(held_data_comes_back_by_reference_with_its_file)
{
    static const uint8_t body[300] = "the kept file's bytes";
    int file_a, file_b; /* stand-ins: the buffer never looks into a reference */
    kl_addr peer = addr("10.0.0.7:80");
    kl_buf b = {0};
    for (int i = 0; i < 40; i++) {
        char name[64];
        snprintf(name, sizeof name, "/var/log/%.*s.log", i % 9, "abcdefghi");
        kl_event log = {.type = KL_EV_APPEND_FILE, .time = 3 * i, .fd = 11, .file_name = name,
                        .data = (const uint8_t *)"line\n", .len = 5};
        kl_event sent = {.type = KL_EV_INBOUND_SEND, .time = 3 * i + 1, .fd = 5, .peer = &peer,
                         .data = body + i, .len = sizeof body - (size_t)i};
        kl_event recv = {.type = KL_EV_INBOUND_RECV, .time = 3 * i + 2, .fd = 5, .peer = &peer,
                         .data = body + i, .len = (size_t)i};
        ck_assert_int_eq(put(&b, &log), KL_OK);
        ck_assert_int_eq(hk_events_put_held(&b, &sent, (hk_file *)(i % 2 ? &file_a : &file_b)), KL_OK);
        if (i % 3 == 0)
            ck_assert_int_eq(hk_events_put_held(&b, &recv, (hk_file *)&file_a), KL_OK);
        else
            ck_assert_int_eq(put(&b, &recv), KL_OK);
    }
    kl_event ev;
    hk_file *ref;
    size_t off = 0;
    for (int i = 0; i < 40; i++) {
        ck_assert(hk_events_next(&b, &off, &ev, &ref));
        ck_assert_int_eq(ev.type, KL_EV_APPEND_FILE);
        ck_assert_ptr_null(ref);
        ck_assert_mem_eq(ev.data, "line\n", 5);
        ck_assert(hk_events_next(&b, &off, &ev, &ref));
        ck_assert_int_eq(ev.time, 3 * i + 1);
        ck_assert_ptr_eq(ev.data, body + i); /* not a copy */
        ck_assert_uint_eq(ev.len, sizeof body - (size_t)i);
        ck_assert_ptr_eq(ref, (hk_file *)(i % 2 ? &file_a : &file_b));
        ck_assert(hk_events_next(&b, &off, &ev, &ref));
        ck_assert_int_eq(ev.type, KL_EV_INBOUND_RECV);
        ck_assert(kl_addr_equal(ev.peer, &peer));
        ck_assert_uint_eq(ev.len, (size_t)i);
        if (i % 3 == 0) {
            ck_assert_ptr_eq(ev.data, body + i);
            ck_assert_ptr_eq(ref, (hk_file *)&file_a);
        } else {
            ck_assert_ptr_ne(ev.data, body + i);
            ck_assert_mem_eq(ev.data, body + i, (size_t)i);
            ck_assert_ptr_null(ref);
        }
    }
    ck_assert(!hk_events_next(&b, &off, &ev, &ref));
    ck_assert_uint_eq(off, b.len);
    kl_buf_free(&b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hk_events");
    TCase *tc = tcase_create("hk_events");
    tcase_add_test(tc, each_type_keeps_the_fields_it_uses);
    tcase_add_test(tc, many_events_come_back_in_order_across_growth);
    tcase_add_test(tc, held_data_comes_back_by_reference_with_its_file);
    tcase_add_test(tc, the_pieces_of_a_writev_are_one_event_cut_at_its_length);
    tcase_add_test(tc, an_empty_buffer_has_no_event);
    tcase_add_test(tc, an_event_of_4_gib_is_refused_and_the_buffer_kept);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
