/* check_replayed.c - tests of libkoala/replayed.c: owning replayed sessions and their lists. */
#include "testutil.h"
#include "kl_internal.h"

#include <string.h>

START_TEST(replayed_sessions_clone_with_their_lists)
{
    kl_replayed *r = kl_replayed_new();
    kl_replayed_dup_str(r, &r->session_id, "1-1");
    for (int i = 0; i < 9; i++) {
        kl_replayed_action a = {.matched_index = i, .runner_up_index = -1};
        a.action.type = KL_ACTION_CALL_OUTBOUND;
        a.action.request = (kl_bytes){(const uint8_t *)"req", 3};
        ck_assert_int_eq(kl_replayed_add_action(r, &a), KL_OK);
        ck_assert_int_eq(kl_replayed_add_unused(r, i * 2), KL_OK);
        ck_assert_int_eq(kl_replayed_add_error(r, "e"), KL_OK);
    }
    kl_replayed *c;
    ck_assert_int_eq(kl_replayed_clone(r, &c), KL_OK);
    kl_replayed_free(r);
    ck_assert_str_eq(c->session_id, "1-1");
    ck_assert_uint_eq(c->n_actions, 9);
    ck_assert_int_eq(c->actions[8].matched_index, 8);
    ck_assert_int_eq(c->unused_calls[8], 16);
    ck_assert_str_eq(c->errors[8], "e");
    kl_replayed_free(c);
    kl_replayed_free(NULL);
    kl_session_free(NULL);
}
END_TEST

START_TEST(replayed_time_is_the_original_request_time_else_the_time_in_the_id)
{
    kl_replayed r = {.original_request_time = 42, .session_id = "100-7"};
    ck_assert_int_eq(kl_replayed_time(&r), 42);
    r.original_request_time = 0;
    ck_assert_int_eq(kl_replayed_time(&r), 100);
    r.session_id = "123abc";
    ck_assert_int_eq(kl_replayed_time(&r), 0);
    r.session_id = NULL;
    ck_assert_int_eq(kl_replayed_time(&r), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("replayed");
    TCase *tc = tcase_create("replayed");
    tcase_add_test(tc, replayed_sessions_clone_with_their_lists);
    tcase_add_test(tc, replayed_time_is_the_original_request_time_else_the_time_in_the_id);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
