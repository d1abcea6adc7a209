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

static Suite *suite(void)
{
    Suite *s = suite_create("mem");
    TCase *tc = tcase_create("mem");
    tcase_add_test(tc, the_arena_reuses_memory_after_reset);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
