/* check_session.c - tests of libkoala/session.c: owning sessions, clones, ordering. */
#include "testutil.h"
#include "kl_internal.h"

#include <stdio.h>
#include <string.h>

START_TEST(a_clone_owns_every_byte)
{
    kl_session *s = tu_session(3);
    kl_session *c;
    ck_assert_int_eq(kl_session_clone(s, &c), KL_OK);
    kl_session_free(s); /* the clone must not point into the original */
    kl_session *want = tu_session(3);
    ck_assert_str_eq(c->id, want->id);
    ck_assert_uint_eq(c->n_actions, want->n_actions);
    ck_assert_mem_eq(c->actions[0].request.data, want->actions[0].request.data, want->actions[0].request.len);
    ck_assert_str_eq(c->actions[2].file_name, want->actions[2].file_name);
    ck_assert_mem_eq(c->return_inbound.response.data, want->return_inbound.response.data,
                     want->return_inbound.response.len);
    /* a clone can grow */
    kl_action a = {.type = KL_ACTION_READ_STORAGE, .content = {(const uint8_t *)"x", 1}};
    ck_assert_int_eq(kl_session_add_action(c, &a), KL_OK);
    ck_assert_uint_eq(c->n_actions, want->n_actions + 1);
    kl_session_free(want);
    kl_session_free(c);
}
END_TEST

START_TEST(a_caller_built_session_clones_and_stays_borrowed)
{
    kl_action acts[3] = {{.type = KL_ACTION_SEND_UDP, .content = {(const uint8_t *)"abc", 3}},
                         {.type = KL_ACTION_APPEND_FILE, .file_name = "f"},
                         {.type = KL_ACTION_CALL_FUNCTION, .func_name = "fn", .args_json = "[]"}};
    kl_session s = {.id = "5-1", .actions = acts, .n_actions = 3};
    kl_session *c;
    ck_assert_int_eq(kl_session_clone(&s, &c), KL_OK);
    ck_assert_ptr_ne(c->actions, acts);
    ck_assert_ptr_ne(c->actions[1].file_name, acts[1].file_name);
    ck_assert_str_eq(c->actions[2].args_json, "[]");
    ck_assert_int_eq(kl_session_dup_str(&s, &s.id, "x"), KL_ERR_INVALID);
    ck_assert_int_eq(kl_session_add_action(&s, &acts[0]), KL_ERR_INVALID);
    kl_session_free(c);
}
END_TEST

START_TEST(many_actions_and_labels_grow_without_loss)
{
    kl_session *s = kl_session_new();
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "file-%d", i);
        kl_action a = {.type = KL_ACTION_APPEND_FILE, .index = i, .file_name = name};
        ck_assert_int_eq(kl_session_add_action(s, &a), KL_OK);
        ck_assert_int_eq(kl_session_add_kv(s, &s->labels, &s->n_labels, (kl_bytes){(const uint8_t *)name, strlen(name)},
                                           (kl_bytes){0}), KL_OK);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "file-%d", i);
        ck_assert_str_eq(s->actions[i].file_name, name);
        ck_assert_int_eq(s->actions[i].index, i);
        ck_assert_mem_eq(s->labels[i].key.data, name, strlen(name));
    }
    kl_session_free(s);
}
END_TEST

START_TEST(actions_are_found_by_their_index)
{
    kl_session *s = kl_session_new();
    for (int i = 0; i < 50; i++) {
        kl_action a = {.type = KL_ACTION_CALL_OUTBOUND, .index = 3 * i + 1};
        ck_assert_int_eq(kl_session_add_action(s, &a), KL_OK);
    }
    for (int64_t k = -2; k < 160; k++) {
        const kl_action *a = kl_session_action_at(s, k);
        if (k >= 1 && k <= 148 && k % 3 == 1)
            ck_assert(a && a->index == k);
        else
            ck_assert_ptr_null(a);
    }
    kl_session empty = {0};
    ck_assert_ptr_null(kl_session_action_at(&empty, 0));
    kl_session_free(s);
}
END_TEST

START_TEST(sessions_order_by_time_then_id)
{
    kl_session a = {.id = "200-1"}, b = {.id = "100-2"}, c = {.id = "100-3"};
    ck_assert_int_gt(kl_session_compare(&a, &b), 0);
    ck_assert_int_lt(kl_session_compare(&b, &c), 0);
    ck_assert_int_eq(kl_session_compare(&c, &c), 0);
    b.call_from_inbound.present = true;
    b.call_from_inbound.occurred_at = 300;
    ck_assert_int_eq(kl_session_time(&b), 300);
    ck_assert_int_lt(kl_session_compare(&a, &b), 0);
    kl_session bad = {.id = "abc-1"}, none = {0};
    ck_assert_int_eq(kl_session_time(&bad), 0);
    ck_assert_int_eq(kl_session_time(&none), 0);
    ck_assert_int_eq(kli_time_from_id("99999999999999999999-1", 22), 0); /* overflow */
}
END_TEST

START_TEST(action_types_have_the_original_names)
{
    ck_assert_str_eq(kl_action_type_name(KL_ACTION_CALL_OUTBOUND), "CallOutbound");
    ck_assert_str_eq(kl_action_type_name(KL_ACTION_APPEND_FILE), "AppendFile");
    ck_assert_str_eq(kl_action_type_name(KL_ACTION_SEND_UDP), "SendUDP");
    ck_assert_str_eq(kl_action_type_name(KL_ACTION_READ_STORAGE), "ReadStorage");
    ck_assert_str_eq(kl_action_type_name(KL_ACTION_CALL_FUNCTION), "CallFunction");
    ck_assert_str_eq(kl_action_type_name(KL_ACTION_RETURN_FUNCTION), "ReturnFunction");
    ck_assert_str_eq(kl_action_type_name(KL_ACTION_RETURN_INBOUND), "ReturnInbound");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("session");
    tcase_add_test(tc, a_clone_owns_every_byte);
    tcase_add_test(tc, a_caller_built_session_clones_and_stays_borrowed);
    tcase_add_test(tc, many_actions_and_labels_grow_without_loss);
    tcase_add_test(tc, sessions_order_by_time_then_id);
    tcase_add_test(tc, action_types_have_the_original_names);
    tcase_add_test(tc, actions_are_found_by_their_index);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
