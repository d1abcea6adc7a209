/* check_mem.c - tests of libkoala/mem.c: the arena behind owning sessions. */
#include "testutil.h"
#include "kl_internal.h"

#include <stdlib.h>
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

START_TEST(a_chunk_placed_in_its_owners_block_is_used_first_and_never_freed)
{
    /* Under ASan a free() of the placed chunk, inside `block`, would be reported. */
    unsigned char *block = malloc(kli_mem_place_size(100));
    kli_mem m = {0};
    kli_mem_place(&m, block, 100);
    char *a = kli_alloc(&m, 100);
    ck_assert(a > (char *)block && a + 100 <= (char *)block + kli_mem_place_size(100));
    char *b = kli_alloc(&m, 5000); /* past it: a chunk of the arena's own */
    ck_assert_ptr_nonnull(b);
    ck_assert(b < (char *)block || b >= (char *)block + kli_mem_place_size(100));
    memset(b, 1, 5000);
    kli_mem_reset(&m); /* keeps the placed chunk, empty */
    ck_assert_ptr_eq(kli_alloc(&m, 16), a);
    ck_assert_ptr_nonnull(kli_alloc(&m, 1000));
    kli_mem_release(&m);
    ck_assert_ptr_null(m.head);
    free(block);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mem");
    TCase *tc = tcase_create("mem");
    tcase_add_test(tc, the_arena_reuses_memory_after_reset);
    tcase_add_test(tc, strndup_copies_n_bytes_nuls_included_and_ends_them);
    tcase_add_test(tc, a_chunk_placed_in_its_owners_block_is_used_first_and_never_freed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
