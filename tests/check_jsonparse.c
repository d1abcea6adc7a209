/* check_jsonparse.c - tests for jsonparse.c: the shared JSON parse tree, the way to a fault,
 * string decoding and positions. */
#include "testutil.h"

#include "kl_json.h"

#include <stdio.h>
#include <string.h>

typedef struct parsed {
    kli_mem *m;
    kli_jparser ps;
    kli_jval v;
    int rc;
} parsed;

static void parse(parsed *p, const char *text)
{
    p->m = kli_mem_new();
    ck_assert_ptr_nonnull(p->m);
    p->ps = (kli_jparser){.p = (const uint8_t *)text, .end = (const uint8_t *)text + strlen(text),
                          .mem = p->m};
    p->rc = kli_json_parse_value(&p->ps, &p->v);
}

/* The trail as a path, outermost step first: .key for members (as written), [i] for elements. */
static void trail_text(const kli_jparser *ps, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = ps->n_trail; i-- > 0 && o < len;) {
        const kli_jstep *s = &ps->trail[i];
        o += s->key ? (size_t)snprintf(out + o, len - o, ".%.*s", (int)s->klen, (const char *)s->key)
                    : (size_t)snprintf(out + o, len - o, "[%zu]", s->index);
    }
}

START_TEST(values_keep_their_text_in_the_document)
{
    parsed p;
    const char *text = " {\"a\" : [1, -2.5e3, \"x\\ny\", true, null], \"b\\u0041\": {}}";
    parse(&p, text);
    ck_assert_int_eq(p.rc, KL_OK);
    ck_assert_int_eq(p.v.type, KLI_J_OBJ);
    ck_assert_ptr_eq(p.v.raw, (const uint8_t *)text + 1);
    ck_assert_uint_eq(p.v.len, strlen(text) - 1);
    ck_assert_uint_eq(p.v.n, 2);
    const kli_jval *a = &p.v.u.members[0].v;
    ck_assert_int_eq(a->type, KLI_J_ARR);
    ck_assert_uint_eq(a->n, 5);
    ck_assert_int_eq(a->u.items[1].type, KLI_J_NUM);
    ck_assert_mem_eq(a->u.items[1].raw, "-2.5e3", a->u.items[1].len);
    ck_assert_int_eq(a->u.items[2].type, KLI_J_STR);
    ck_assert(a->u.items[2].escaped);
    ck_assert_mem_eq(a->u.items[2].raw, "\"x\\ny\"", 6);
    ck_assert_int_eq(a->u.items[4].type, KLI_J_NULL);
    const kli_jmember *b = &p.v.u.members[1];
    ck_assert_uint_eq(b->klen, 2);
    ck_assert_mem_eq(b->key, "bA", 2);
    ck_assert_mem_eq(b->kraw, "\"b\\u0041\"", b->kraw_len);
    ck_assert_uint_eq(p.ps.n_trail, 0);
    kli_mem_free(p.m);
}
END_TEST

static const struct {
    const char *text, *trail, *why;
    size_t at; /* offset of the fault */
} faults[] = {
    {"{\"a\": [1, 2, {\"b\": tru}]}", ".\"a\"[2].\"b\"", "unexpected character", 19},
    {"{\"a\": [1, 2 3]}", ".\"a\"", "expected ',' or ']'", 12},
    {"[[[{\"k\\\"\": \"\\q\"}]]]", "[0][0][0].\"k\\\"\"", "unknown escape in a string", 12},
    {"{\"a\": 1,}", "", "expected a string key", 8},
    {"[\"ab", "[0]", "string without its closing quote", 4},
};

START_TEST(a_fault_keeps_the_way_to_the_value_holding_it)
{
    parsed p;
    parse(&p, faults[_i].text);
    ck_assert_int_eq(p.rc, KL_ERR_CORRUPT);
    ck_assert_str_eq(p.ps.why, faults[_i].why);
    ck_assert_uint_eq((size_t)(p.ps.at - (const uint8_t *)faults[_i].text), faults[_i].at);
    char path[256];
    trail_text(&p.ps, path, sizeof path);
    ck_assert_str_eq(path, faults[_i].trail);
    kli_mem_free(p.m);
}
END_TEST

START_TEST(a_deep_fault_keeps_the_innermost_steps_and_counts_the_rest)
{
    char text[200];
    memset(text, '[', 100);
    text[100] = 'x';
    text[101] = '\0';
    parsed p;
    parse(&p, text);
    ck_assert_int_eq(p.rc, KL_ERR_CORRUPT);
    ck_assert_uint_eq(p.ps.n_trail, 100); /* element 0 of each of the 100 arrays */
    for (size_t i = 0; i < KLI_JSON_TRAIL; i++)
        ck_assert(p.ps.trail[i].key == NULL && p.ps.trail[i].index == 0);
    kli_mem_free(p.m);
}
END_TEST

START_TEST(strings_decode_escapes_and_surrogate_pairs)
{
    kli_mem *m = kli_mem_new();
    /* a high surrogate before a character that is not a low one, or at the end, is alone */
    const char *s = "a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\\ud800x\\ud83d\\u0041\\'\\ud83d";
    size_t n;
    uint8_t *d = kli_json_unescape(m, (const uint8_t *)s, strlen(s), &n);
    ck_assert_ptr_nonnull(d);
    const char want[] = "a\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\xed\xa0\x80x\xed\xa0\xbd" "A'\xed\xa0\xbd";
    ck_assert_uint_eq(n, sizeof want - 1);
    ck_assert_mem_eq(d, want, n);
    uint32_t v;
    ck_assert_int_eq(kli_json_hex4((const uint8_t *)"00aF", &v), 0);
    ck_assert_uint_eq(v, 0xaf);
    ck_assert_int_eq(kli_json_hex4((const uint8_t *)"00g0", &v), -1);
    uint8_t o[4];
    ck_assert_uint_eq(kli_json_put_utf8(o, 0x10ffff), 4);
    ck_assert_mem_eq(o, "\xf4\x8f\xbf\xbf", 4);
    kli_mem_free(m);
}
END_TEST

START_TEST(positions_count_lines_and_characters)
{
    const uint8_t *doc = (const uint8_t *)"{\n  \"\xc3\xa9t\xc3\xa9\": x";
    size_t line, col;
    kli_json_where(doc, doc, &line, &col);
    ck_assert(line == 1 && col == 1);
    kli_json_where(doc, doc + 12, &line, &col);
    ck_assert_uint_eq(line, 2);
    ck_assert_uint_eq(col, 9);
}
END_TEST

static Suite *jsonparse_suite(void)
{
    Suite *s = suite_create("jsonparse");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, values_keep_their_text_in_the_document);
    tcase_add_loop_test(tc, a_fault_keeps_the_way_to_the_value_holding_it, 0,
                        (int)(sizeof faults / sizeof faults[0]));
    tcase_add_test(tc, a_deep_fault_keeps_the_innermost_steps_and_counts_the_rest);
    tcase_add_test(tc, strings_decode_escapes_and_surrogate_pairs);
    tcase_add_test(tc, positions_count_lines_and_characters);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(jsonparse_suite());
}
