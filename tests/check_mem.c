/* check_mem.c - tests of libkoala/mem.c: the arena behind owning sessions. */
#include "testutil.h"
#include "kl_internal.h"

#include <string.h>

START_TEST(the_arena_reuses_memory_after_reset)
{
    kli_mem *m = kli_mem_new();
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            char *p = kli_alloc(m, 1000);
            ck_assert_ptr_nonnull(p);
            ck_assert_uint_eq((uintptr_t)p % 16, 0);
            memset(p, i, 1000);
        }
        char *big = kli_alloc(m, 10u << 20);
        ck_assert_ptr_nonnull(big);
        memset(big, 1, 10u << 20);
        kli_mem_reset(m);
    }
    ck_assert_ptr_nonnull(kli_alloc(m, 0));
    ck_assert_ptr_null(kli_strdup(m, NULL));
    kli_mem_free(m);
}
END_TEST

START_TEST(strndup_copies_n_bytes_nuls_included_and_ends_them)
{
    kli_mem *m = kli_mem_new();
    char *d = kli_strndup(m, "ab\0cdef", 5);
    ck_assert_ptr_nonnull(d);
    ck_assert_mem_eq(d, "ab\0cd\0", 6);
    char *e = kli_strndup(m, NULL, 0); /* no bytes: "" */
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e, "");
    d = kli_strndup(m, "xyz", 2);
    ck_assert_str_eq(d, "xy");
    kli_mem_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mem");
    TCase *tc = tcase_create("mem");
    tcase_add_test(tc, the_arena_reuses_memory_after_reset);
    tcase_add_test(tc, strndup_copies_n_bytes_nuls_included_and_ends_them);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
