/* check_trace.c - tests of libkoala/trace.c: trace ids against xids computed from their bytes. */
#include "testutil.h"

#include <string.h>

/* Expected ids: Python's base64.b32hexencode() of the 12 bytes, lowercased, first 20
 * characters, which agrees with the original's unrolled encoder on each of them. */
START_TEST(an_id_is_the_xid_of_its_parts)
{
    char out[KL_TRACE_ID_LEN + 1];
    static const uint8_t m[3] = {0x4d, 0x88, 0xe1};
    /* 5c470c71 4d88e1 ae59 abcdef */
    ck_assert_ptr_eq(kl_trace_id(out, 1548160113, m, 1158745, 0xabcdef), out);
    ck_assert_str_eq(out, "bh3gosadh3gqsmdbpnng");
    static const uint8_t zero[3] = {0, 0, 0}, ones[3] = {0xff, 0xff, 0xff};
    ck_assert_str_eq(kl_trace_id(out, 0, zero, 0, 0), "00000000000000000000");
    /* the 96th bit lands in the 20th digit, followed by four zero bits */
    ck_assert_str_eq(kl_trace_id(out, 0xffffffff, ones, 0xffff, 0xffffff), "vvvvvvvvvvvvvvvvvvvg");
}
END_TEST

START_TEST(parts_wider_than_their_field_keep_their_low_bits)
{
    char out[KL_TRACE_ID_LEN + 1];
    static const uint8_t m[3] = {1, 2, 3};
    /* 6553f100 010203 5678 000001: pid 0x12345678 gives 5678, counter 0x1000001 gives 000001 */
    ck_assert_str_eq(kl_trace_id(out, 1700000000, m, 0x12345678, 0x1000001), "cl9v2001081lcu00000g");
    ck_assert_str_eq(kl_trace_id(out, 1700000000 + (INT64_C(1) << 32), m, 0x5678, 1),
                     "cl9v2001081lcu00000g");
}
END_TEST

START_TEST(machine_bytes_are_a_stable_hash_of_the_host_name)
{
    uint8_t a[3], b[3], none[3], empty[3];
    kl_trace_machine("web-1", a);
    static const uint8_t fnv1a_web1[3] = {0x76, 0xb7, 0xb7}; /* FNV-1a 32 of "web-1": 76b7b71f */
    ck_assert_mem_eq(a, fnv1a_web1, 3);
    kl_trace_machine("web-2", b);
    ck_assert(memcmp(a, b, 3) != 0);
    kl_trace_machine(NULL, none);
    kl_trace_machine("", empty);
    ck_assert_mem_eq(none, empty, 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("trace");
    tcase_add_test(tc, an_id_is_the_xid_of_its_parts);
    tcase_add_test(tc, parts_wider_than_their_field_keep_their_low_bits);
    tcase_add_test(tc, machine_bytes_are_a_stable_hash_of_the_host_name);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
