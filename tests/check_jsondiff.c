/* check_jsondiff.c - tests of libkoala/jsondiff.c: structural JSON comparison, noise rules. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define U(s) (const uint8_t *)(s), strlen(s)
#define T(s) (s), strlen(s)

/* The differences between a and b under o, one line each: "kind path before -> after", with
 * "-" for an absent value. Fails the test when the comparison fails. */
static const char *diffs_with(const char *a, const char *b, const kl_diff_opts *o)
{
    static kl_buf out;
    kl_diff_list l = {0};
    char err[KL_ERRBUF_SIZE] = "";
    int rc = kl_json_diff(U(a), U(b), o, &l, err);
    ck_assert_msg(rc == KL_OK, "kl_json_diff: %s: %s", kl_strerror(rc), err);
    kl_buf_free(&out);
    for (size_t i = 0; i < l.n; i++) {
        const kl_diff_item *it = &l.items[i];
        kl_buf_printf(&out, "%s %s %s -> %s\n", kl_diff_kind_name(it->kind), it->path,
                      it->before ? it->before : "-", it->after ? it->after : "-");
    }
    kl_diff_list_free(&l);
    return out.len ? out.data : "";
}

static const char *diffs(const char *a, const char *b)
{
    return diffs_with(a, b, NULL);
}

/* The error kl_json_diff() gives for a and b, its detail in a static buffer. */
static int diff_error(const char *a, const char *b, const char **detail)
{
    static char err[KL_ERRBUF_SIZE];
    kl_diff_list l = {0};
    err[0] = '\0';
    int rc = kl_json_diff(U(a), U(b), NULL, &l, err);
    ck_assert_uint_eq(l.n, 0);
    kl_diff_list_free(&l);
    *detail = err;
    return rc;
}

START_TEST(equal_documents_with_reordered_keys_have_no_difference)
{
    ck_assert_str_eq(diffs("{\"a\":1,\"b\":[1,2],\"c\":{\"x\":\"y\",\"z\":null}}",
                           "{ \"c\" : { \"z\" : null, \"x\" : \"y\" },\n  \"b\" : [ 1, 2 ], \"a\" : 1 }"), "");
    /* Enough members for the sorted index. */
    ck_assert_str_eq(diffs("{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"k10\":10}",
                           "{\"k10\":10,\"k9\":9,\"k8\":8,\"k7\":7,\"k6\":6,\"k5\":5,\"k4\":4,\"k3\":3,\"k2\":2,\"k1\":1}"),
                     "");
    ck_assert_str_eq(diffs("[]", " [ ] "), "");
    ck_assert_str_eq(diffs("\xef\xbb\xbf{\"a\":1}", "{\"a\":1}"), ""); /* a UTF-8 BOM */
}
END_TEST

START_TEST(numbers_compare_by_value_whatever_their_form)
{
    ck_assert_str_eq(diffs("[1, 100, 0, 0.1, 1.5, 1, 12345678901234567890123]",
                           "[1.0, 1e2, -0.0, 0.10, 15e-1, 10E-1, 12345678901234567890123.000]"), "");
    ck_assert_str_eq(diffs("{\"n\":0}", "{\"n\":-0e5}"), "");
    ck_assert_str_eq(diffs("[1,2]", "[1.0,2.5]"), "changed $[1] 2 -> 2.5\n");
    /* Integers past 2^53 and 2^64, where doubles and jansson give up, compare digit by digit. */
    ck_assert_str_eq(diffs("[9007199254740993]", "[9007199254740992]"),
                     "changed $[0] 9007199254740993 -> 9007199254740992\n");
    ck_assert_str_eq(diffs("{\"id\":18446744073709551615}", "{\"id\":18446744073709551614}"),
                     "changed $.id 18446744073709551615 -> 18446744073709551614\n");
    ck_assert_str_eq(diffs("[-1]", "[1]"), "changed $[0] -1 -> 1\n");
    ck_assert_str_eq(diffs("[1e400]", "[1e401]"), "changed $[0] 1e400 -> 1e401\n");
}
END_TEST

START_TEST(nested_changes_are_named_by_their_exact_paths)
{
    const char *a = "{\"items\":[{\"sku\":\"a1\",\"price\":3},{\"sku\":\"b2\",\"price\":4}],"
                    "\"meta\":{\"page\":{\"n\":1,\"of\":2}},\"ok\":true}";
    const char *b = "{\"items\":[{\"sku\":\"a1\",\"price\":3},{\"sku\":\"b2\",\"price\":5}],"
                    "\"meta\":{\"page\":{\"n\":2,\"of\":2}},\"ok\":false}";
    ck_assert_str_eq(diffs(a, b), "changed $.items[1].price 4 -> 5\n"
                                  "changed $.meta.page.n 1 -> 2\n"
                                  "changed $.ok true -> false\n");
    ck_assert_str_eq(diffs("\"x\"", "\"y\""), "changed $ \"x\" -> \"y\"\n");
}
END_TEST

START_TEST(array_length_changes_are_added_and_removed_elements)
{
    ck_assert_str_eq(diffs("{\"a\":[1,2,3]}", "{\"a\":[1,2,3,4,{\"x\" : [5]}]}"),
                     "added $.a[3] - -> 4\nadded $.a[4] - -> {\"x\":[5]}\n");
    ck_assert_str_eq(diffs("{\"a\":[1,2,3]}", "{\"a\":[1]}"),
                     "removed $.a[1] 2 -> -\nremoved $.a[2] 3 -> -\n");
    /* Element by element: an element inserted first shifts the others. */
    ck_assert_str_eq(diffs("[1,2]", "[0,1,2]"), "changed $[0] 1 -> 0\nchanged $[1] 2 -> 1\nadded $[2] - -> 2\n");
}
END_TEST

START_TEST(members_only_on_one_side_are_added_or_removed)
{
    ck_assert_str_eq(diffs("{\"a\":1,\"gone\":{\"x\": 1 , \"y\":[true, null]}}", "{\"a\":1,\"new\":\"n\"}"),
                     "removed $.gone {\"x\":1,\"y\":[true,null]} -> -\nadded $.new - -> \"n\"\n");
}
END_TEST

START_TEST(type_changes_show_both_values)
{
    ck_assert_str_eq(diffs("{\"n\":\"1\"}", "{\"n\":1}"), "type $.n \"1\" -> 1\n");
    ck_assert_str_eq(diffs("{\"v\":{}}", "{\"v\":[]}"), "type $.v {} -> []\n");
    ck_assert_str_eq(diffs("[null]", "[0]"), "type $[0] null -> 0\n");
    ck_assert_str_eq(diffs("[true]", "[\"true\"]"), "type $[0] true -> \"true\"\n");
    ck_assert_str_eq(diffs("{\"a\":1}", "[1]"), "type $ {\"a\":1} -> [1]\n");
}
END_TEST

START_TEST(strings_compare_by_their_decoded_text)
{
    ck_assert_str_eq(diffs("[\"\\u00e9\", \"\\ud83d\\ude00\", \"a\\/b\", \"\\t\"]",
                           "[\"\xc3\xa9\", \"\xf0\x9f\x98\x80\", \"a/b\", \"\\u0009\"]"), "");
    ck_assert_str_eq(diffs("{\"\\u0061\":1}", "{\"a\":1}"), "");
    /* A lone surrogate is not the replacement character, nor another surrogate. */
    ck_assert_str_eq(diffs("[\"\\ud800\"]", "[\"\\ud801\"]"), "changed $[0] \"\\ud800\" -> \"\\ud801\"\n");
    ck_assert_str_eq(diffs("[\"ab\"]", "[\"a\\u0000b\"]"), "changed $[0] \"ab\" -> \"a\\u0000b\"\n");
}
END_TEST

START_TEST(odd_keys_are_quoted_in_paths)
{
    ck_assert_str_eq(diffs("{\"a b\":1,\"x.y\":1,\"1st\":1,\"q\\\"t\":1,\"\":1,\"\xc3\xa9t\xc3\xa9\":1,\"$id\":1,"
                           "\"_x9\":1,\"tab\\t\":1}",
                           "{\"a b\":2,\"x.y\":2,\"1st\":2,\"q\\\"t\":2,\"\":2,\"\xc3\xa9t\xc3\xa9\":2,\"$id\":2,"
                           "\"_x9\":2,\"tab\\t\":2}"),
                     "changed $[\"a b\"] 1 -> 2\n"
                     "changed $[\"x.y\"] 1 -> 2\n"
                     "changed $[\"1st\"] 1 -> 2\n"
                     "changed $[\"q\\\"t\"] 1 -> 2\n"
                     "changed $[\"\"] 1 -> 2\n"
                     "changed $[\"\xc3\xa9t\xc3\xa9\"] 1 -> 2\n"
                     "changed $.$id 1 -> 2\n"
                     "changed $._x9 1 -> 2\n"
                     "changed $[\"tab\\u0009\"] 1 -> 2\n");
}
END_TEST

START_TEST(repeated_keys_pair_up_in_their_order)
{
    ck_assert_str_eq(diffs("{\"a\":1,\"a\":2}", "{\"a\":1,\"a\":3,\"a\":4}"),
                     "changed $.a 2 -> 3\nadded $.a - -> 4\n");
}
END_TEST

START_TEST(ignored_paths_hide_what_they_name_wildcards_included)
{
    kl_diff_opts o;
    char err[KL_ERRBUF_SIZE];
    kl_diff_opts_init(&o);
    const char *paths[] = {"$.meta.ts", "$.items[*].id", "$.*.secret", "$[\"odd key\"]", "$.list[1]",
                           "$.data['x.y'].v"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        ck_assert_msg(kl_diff_opts_add_path(&o, paths[i], err) == KL_OK, "%s: %s", paths[i], err);
    ck_assert_uint_eq(o.n_ignore_paths, 6);
    ck_assert_str_eq(o.ignore_paths[1], "$.items[*].id");
    const char *a = "{\"meta\":{\"ts\":1,\"v\":1},\"items\":[{\"id\":1,\"p\":1},{\"id\":2,\"p\":2}],"
                    "\"u\":{\"secret\":\"s1\"},\"w\":{\"secret\":\"s2\"},\"odd key\":1,\"list\":[1,2,3],"
                    "\"data\":{\"x.y\":{\"v\":1,\"k\":1}}}";
    const char *b = "{\"meta\":{\"ts\":2,\"v\":2},\"items\":[{\"id\":7,\"p\":1},{\"id\":8,\"p\":3},{\"id\":9}],"
                    "\"u\":{\"secret\":\"t1\"},\"w\":{\"secret\":\"t2\"},\"odd key\":2,\"list\":[1,5,4],"
                    "\"data\":{\"x.y\":{\"v\":2,\"k\":1}}}";
    ck_assert_str_eq(diffs_with(a, b, &o), "changed $.meta.v 1 -> 2\n"
                                           "changed $.items[1].p 2 -> 3\n"
                                           "added $.items[2] - -> {\"id\":9}\n"
                                           "changed $.list[2] 3 -> 4\n");
    /* An ignored path hides a member added or removed there too. */
    ck_assert_str_eq(diffs_with("{\"meta\":{}}", "{\"meta\":{\"ts\":5}}", &o), "");
    /* "$" is the whole document. */
    ck_assert_int_eq(kl_diff_opts_add_path(&o, "$", err), KL_OK);
    ck_assert_str_eq(diffs_with("{\"a\":1}", "[2]", &o), "");
    kl_diff_opts_free(&o);
    ck_assert_uint_eq(o.n_ignore_paths, 0);
}
END_TEST

START_TEST(bad_ignored_paths_are_refused_with_their_column)
{
    kl_diff_opts o;
    char err[KL_ERRBUF_SIZE];
    kl_diff_opts_init(&o);
    ck_assert_int_eq(kl_diff_opts_add_path(&o, "meta.ts", err), KL_ERR_SYNTAX);
    ck_assert_str_eq(err, "column 1: expected '$' at the start");
    ck_assert_int_eq(kl_diff_opts_add_path(&o, "$..a", err), KL_ERR_SYNTAX);
    ck_assert_str_eq(err, "column 2: expected a key after '.'");
    ck_assert_int_eq(kl_diff_opts_add_path(&o, "$.a[x]", err), KL_ERR_SYNTAX);
    ck_assert_str_eq(err, "column 5: expected a number, '*' or a quoted key after '['");
    ck_assert_int_eq(kl_diff_opts_add_path(&o, "$.a[1", err), KL_ERR_SYNTAX);
    ck_assert_str_eq(err, "column 6: expected ']'");
    ck_assert_int_eq(kl_diff_opts_add_path(&o, "$[\"a]", err), KL_ERR_SYNTAX);
    ck_assert_str_eq(err, "column 6: string without its closing quote");
    ck_assert_int_eq(kl_diff_opts_add_path(&o, "$a", err), KL_ERR_SYNTAX);
    ck_assert_str_eq(err, "column 2: expected '.' or '['");
    ck_assert_int_eq(kl_diff_opts_add_path(&o, "$[99999999999999999999999]", err), KL_ERR_SYNTAX);
    ck_assert_uint_eq(o.n_ignore_paths, 0);
    ck_assert_int_eq(kl_diff_opts_add_path(NULL, "$", err), KL_ERR_INVALID);
    ck_assert_int_eq(kl_diff_opts_add_key(&o, ""), KL_ERR_INVALID);
    ck_assert_int_eq(kl_diff_opts_add_header(&o, ""), KL_ERR_INVALID);
    kl_diff_opts_free(&o);
}
END_TEST

START_TEST(ignored_keys_hide_members_at_any_depth)
{
    kl_diff_opts o;
    kl_diff_opts_init(&o);
    ck_assert_int_eq(kl_diff_opts_add_key(&o, "ts"), KL_OK);
    ck_assert_int_eq(kl_diff_opts_add_key(&o, "trace"), KL_OK);
    ck_assert_int_eq(kl_diff_opts_add_key(&o, "ts"), KL_OK); /* once is enough */
    ck_assert_uint_eq(o.n_ignore_keys, 2);
    const char *a = "{\"ts\":1,\"a\":{\"b\":[{\"ts\":\"x\",\"v\":1}],\"trace\":{\"id\":1}},\"tsx\":1}";
    const char *b = "{\"ts\":2,\"a\":{\"b\":[{\"ts\":[9],\"v\":1}]},\"tsx\":2,\"c\":{\"ts\":3}}";
    ck_assert_str_eq(diffs_with(a, b, &o), "changed $.tsx 1 -> 2\nadded $.c - -> {\"ts\":3}\n");
    kl_diff_opts_free(&o);
}
END_TEST

START_TEST(regexes_mask_strings_before_they_are_compared)
{
    kl_diff_opts o;
    char err[KL_ERRBUF_SIZE];
    kl_diff_opts_init(&o);
    ck_assert_int_eq(kl_diff_opts_add_regex(&o, "[0-9a-f]{8}-[0-9a-f]{4}", err), KL_OK);
    ck_assert_int_eq(kl_diff_opts_add_regex(&o, "took \\d+ms", err), KL_OK);
    const char *a = "{\"req\":\"req-0123abcd-ffff done\",\"msg\":\"took 12ms\",\"n\":\"v1\"}";
    const char *b = "{\"req\":\"req-99998888-0000 done\",\"msg\":\"took 350ms\",\"n\":\"v2\"}";
    ck_assert_str_eq(diffs_with(a, b, &o), "changed $.n \"v1\" -> \"v2\"\n");
    /* What is left after masking still counts. */
    ck_assert_str_eq(diffs_with("[\"req-0123abcd-ffff x\"]", "[\"req-99998888-0000 y\"]", &o),
                     "changed $[0] \"req-0123abcd-ffff x\" -> \"req-99998888-0000 y\"\n");
    kl_buf out = {0};
    ck_assert_int_eq(kl_diff_mask(&o, U("id 0123abcd-ffff, took 5ms, 0123abcd-eeee."), &out), KL_OK);
    ck_assert_str_eq(out.data, "id <masked>, <masked>, <masked>.");
    kl_buf_free(&out);
    /* A pattern that matches the empty string masks between bytes and terminates. */
    ck_assert_int_eq(kl_diff_opts_add_regex(&o, "z*", err), KL_OK);
    ck_assert_int_eq(kl_diff_mask(&o, U("azzb"), &out), KL_OK);
    ck_assert_str_eq(out.data, "<masked>a<masked><masked>b<masked>");
    kl_buf_free(&out);
    ck_assert_int_eq(kl_diff_mask(NULL, U("as is"), &out), KL_OK);
    ck_assert_str_eq(out.data, "as is");
    kl_buf_free(&out);
    ck_assert_int_eq(kl_diff_opts_add_regex(&o, "a(b", err), KL_ERR_SYNTAX);
    ck_assert_str_eq(err, "column 4: missing closing parenthesis");
    ck_assert_uint_eq(o.n_ignore_regexes, 3);
    kl_diff_opts_free(&o);
}
END_TEST

START_TEST(integers_like_timestamps_less_than_two_minutes_apart_are_not_differences)
{
    kl_diff_opts o;
    kl_diff_opts_init(&o);
    /* Seconds, and milliseconds. */
    ck_assert_str_eq(diffs("{\"ts\":1700000000,\"ms\":1700000000000}", "{\"ts\":1700000119,\"ms\":1700000119999}"), "");
    ck_assert_str_eq(diffs("[1700000119]", "[1700000000]"), "");
    /* Two minutes or more, units that disagree, small numbers, fractions and strings count. */
    ck_assert_str_eq(diffs("[1700000000,1700000000000,5,1700000000.5,\"1700000000\"]",
                           "[1700000120,1700000000,6,1700000001.5,\"1700000001\"]"),
                     "changed $[0] 1700000000 -> 1700000120\n"
                     "changed $[1] 1700000000000 -> 1700000000\n"
                     "changed $[2] 5 -> 6\n"
                     "changed $[3] 1700000000.5 -> 1700000001.5\n"
                     "changed $[4] \"1700000000\" -> \"1700000001\"\n");
    /* Before 2000 is not a time. */
    ck_assert_str_eq(diffs("[900000000]", "[900000001]"), "changed $[0] 900000000 -> 900000001\n");
    o.strict = true;
    ck_assert_str_eq(diffs_with("{\"ts\":1700000000}", "{\"ts\":1700000001}", &o),
                     "changed $.ts 1700000000 -> 1700000001\n");
    kl_diff_opts_free(&o);
}
END_TEST

START_TEST(jsonp_is_unwrapped_and_its_function_name_compared)
{
    ck_assert_str_eq(diffs("cb({\"a\":1});", " cb ( {\"a\":1.0} ) \n"), "");
    ck_assert_str_eq(diffs("jQuery_1.cb([1,2])", "jQuery_1.cb([1,3]);"), "changed $[1] 2 -> 3\n");
    ck_assert_str_eq(diffs("cb({\"a\":1})", "other({\"a\":1})"), "changed callback cb -> other\n");
    ck_assert_str_eq(diffs("cb({\"a\":1})", "{\"a\":2}"), "removed callback cb -> -\nchanged $.a 1 -> 2\n");
    ck_assert_str_eq(diffs("{\"a\":1}", "cb({\"a\":1})"), "added callback - -> cb\n");
    const char *why;
    ck_assert_int_eq(diff_error("cb({\"a\":1}", "cb({})", &why), KL_ERR_CORRUPT);
    ck_assert_str_eq(why, "a: line 1, column 11: expected ')' closing the JSONP call");
    ck_assert_int_eq(diff_error("cb({})", "cb({} 1)", &why), KL_ERR_CORRUPT);
    ck_assert_str_eq(why, "b: line 1, column 7: expected ')' after the value");
}
END_TEST

static const struct {
    const char *a, *b, *why;
} bad_json[] = {
    {"{\"a\":1}", "{\"a\":1,\n \"b\" 2}", "b: line 2, column 6: expected ':' after a key"},
    {"{\"a\":tru}", "{}", "a: line 1, column 6: unexpected character"},
    /* Columns count characters, not bytes. */
    {"{\"\xc3\xa9\xc3\xa9\": x}", "{}", "a: line 1, column 8: unexpected character"},
    {"{}", "", "b: line 1, column 1: expected a value"},
    {"[1] [2]", "[1]", "a: line 1, column 5: unexpected text after the value"},
    {"[1,]", "[1]", "a: line 1, column 4: expected a value"},
    {"[\"abc", "[1]", "a: line 1, column 6: string without its closing quote"},
    {"[\"a\nb\"]", "[1]", "a: line 1, column 4: control character in a string"},
    {"[\"\\x\"]", "[1]", "a: line 1, column 3: unknown escape in a string"},
    {"[01]", "[1]", "a: line 1, column 3: expected ',' or ']'"},
    {"[1.]", "[1]", "a: line 1, column 4: expected a digit after '.'"},
    {"{\"a\":1", "[1]", "a: line 1, column 7: expected ',' or '}'"},
    {"<html>", "{}", "a: line 1, column 1: unexpected character"},
};

START_TEST(invalid_json_is_an_error_naming_the_side_and_place)
{
    const char *why;
    ck_assert_int_eq(diff_error(bad_json[_i].a, bad_json[_i].b, &why), KL_ERR_CORRUPT);
    ck_assert_str_eq(why, bad_json[_i].why);
}
END_TEST

START_TEST(no_data_is_invalid_too_and_a_failure_leaves_earlier_items_alone)
{
    char err[KL_ERRBUF_SIZE];
    ck_assert_int_eq(kl_json_diff(NULL, 0, U("{}"), NULL, &(kl_diff_list){0}, err), KL_ERR_CORRUPT);
    ck_assert_str_eq(err, "a: line 1, column 1: expected a value");
    kl_diff_list l = {0};
    ck_assert_int_eq(kl_json_diff(U("[1]"), U("[2]"), NULL, &l, NULL), KL_OK);
    ck_assert_int_eq(kl_json_diff(U("[1]"), U("[2"), NULL, &l, NULL), KL_ERR_CORRUPT);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(kl_json_diff(NULL, 1, U("[2]"), NULL, &l, NULL), KL_ERR_INVALID);
    ck_assert_int_eq(kl_json_diff(U("[1]"), U("[2]"), NULL, NULL, NULL), KL_ERR_INVALID);
    kl_diff_list_free(&l);
}
END_TEST

START_TEST(identical_bytes_are_equal_without_being_parsed)
{
    kl_diff_list l = {0};
    ck_assert_int_eq(kl_json_diff(U("not json"), U("not json"), NULL, &l, NULL), KL_OK);
    ck_assert_int_eq(kl_json_diff(NULL, 0, NULL, 0, NULL, &l, NULL), KL_OK);
    ck_assert_uint_eq(l.n, 0);
    kl_diff_list_free(&l);
}
END_TEST

START_TEST(the_sniff_spots_objects_arrays_and_jsonp)
{
    ck_assert(kl_json_looks(U("{\"a\":1}")));
    ck_assert(kl_json_looks(U(" \r\n\t[1]")));
    ck_assert(kl_json_looks(U("\xef\xbb\xbf{")));
    ck_assert(kl_json_looks(U("cb({")));
    ck_assert(kl_json_looks(U("jQuery_1.x ( [")));
    ck_assert(!kl_json_looks(U("cb(1)")));
    ck_assert(!kl_json_looks(U("<html>{}")));
    ck_assert(!kl_json_looks(U("hello world")));
    ck_assert(!kl_json_looks(U("42")));
    ck_assert(!kl_json_looks(U("")));
    ck_assert(!kl_json_looks(NULL, 0));
}
END_TEST

START_TEST(rules_files_add_their_rules_and_name_the_bad_line)
{
    kl_diff_opts o;
    char err[KL_ERRBUF_SIZE];
    kl_diff_opts_init(&o);
    const char *rules = "# noise of the sample service\r\n"
                        "\n"
                        "ignore-header Date\r\n"
                        "  ignore-json-path   $.meta.ts  \n"
                        "ignore-key\tts\n"
                        "ignore-regex took \\d+ ms # not a comment\n"
                        "ignore-header date\n"
                        "ignore-header X-Request-Id";
    ck_assert_int_eq(kl_diff_rules_parse(rules, strlen(rules), &o, err), KL_OK);
    ck_assert_uint_eq(o.n_ignore_headers, 2);
    ck_assert_str_eq(o.ignore_headers[0], "Date");
    ck_assert_str_eq(o.ignore_headers[1], "X-Request-Id");
    ck_assert_uint_eq(o.n_ignore_paths, 1);
    ck_assert_str_eq(o.ignore_paths[0], "$.meta.ts");
    ck_assert_uint_eq(o.n_ignore_keys, 1);
    ck_assert_str_eq(o.ignore_keys[0], "ts");
    ck_assert_uint_eq(o.n_ignore_regexes, 1);
    ck_assert_str_eq(o.ignore_regexes[0], "took \\d+ ms # not a comment");
    ck_assert(kl_diff_header_ignored(&o, "DATE", 4));
    ck_assert(kl_diff_header_ignored(&o, "x-request-id", 12));
    ck_assert(!kl_diff_header_ignored(&o, "Dat", 3));
    ck_assert(!kl_diff_header_ignored(NULL, "Date", 4));
    /* The JSON layer leaves headers to the HTTP layer and applies the rest. */
    ck_assert_str_eq(diffs_with("{\"meta\":{\"ts\":1},\"ts\":1,\"Date\":1,\"m\":\"took 5 ms # not a comment\"}",
                                "{\"meta\":{\"ts\":2},\"ts\":2,\"Date\":2,\"m\":\"took 7 ms # not a comment\"}", &o),
                     "changed $.Date 1 -> 2\n");

    ck_assert_int_eq(kl_diff_rules_parse(T("ignore-key a\n\nignore-heder Date\n"), &o, err), KL_ERR_SYNTAX);
    ck_assert_str_eq(err, "line 3: unknown rule 'ignore-heder' (ignore-header, ignore-json-path, ignore-key, "
                          "ignore-regex)");
    ck_assert_int_eq(kl_diff_rules_parse(T("ignore-key  \t\n"), &o, err), KL_ERR_SYNTAX);
    ck_assert_str_eq(err, "line 1: ignore-key needs a value");
    ck_assert_int_eq(kl_diff_rules_parse(T("# x\nignore-json-path $.a[\n"), &o, err), KL_ERR_SYNTAX);
    ck_assert_str_eq(err, "line 2: ignore-json-path: column 5: expected a number, '*' or a quoted key after '['");
    ck_assert_int_eq(kl_diff_rules_parse(T("ignore-regex (\n"), &o, err), KL_ERR_SYNTAX);
    ck_assert_str_eq(err, "line 1: ignore-regex: column 2: missing closing parenthesis");
    ck_assert_int_eq(kl_diff_rules_parse("ignore-key a\0b", 14, &o, err), KL_ERR_SYNTAX);
    ck_assert_str_eq(err, "line 1: a NUL byte");
    /* The rule of line 1 of the failing file above stays. */
    ck_assert_uint_eq(o.n_ignore_keys, 2);
    ck_assert_int_eq(kl_diff_rules_parse(NULL, 0, &o, err), KL_OK);
    ck_assert_int_eq(kl_diff_rules_parse(NULL, 1, &o, err), KL_ERR_INVALID);
    kl_diff_opts_free(&o);
}
END_TEST

/* n arrays nested, around inner. */
static char *nested(size_t n, const char *inner)
{
    size_t len = strlen(inner);
    char *s = malloc(2 * n + len + 1);
    memset(s, '[', n);
    memcpy(s + n, inner, len);
    memset(s + n + len, ']', n);
    s[2 * n + len] = '\0';
    return s;
}

START_TEST(deep_nesting_is_refused_without_exhausting_the_stack)
{
    char *deep = nested(1000000, "1"), *deep2 = nested(1000000, "2");
    const char *why;
    ck_assert_int_eq(diff_error(deep, deep2, &why), KL_ERR_TOOBIG);
    ck_assert_str_eq(why, "a: line 1, column 513: arrays and objects nested too deep");
    free(deep);
    free(deep2);
    /* At the limit, a difference is still found and named. */
    char *a = nested(KL_JSON_MAX_DEPTH, "1"), *b = nested(KL_JSON_MAX_DEPTH, "2");
    kl_buf want = {0};
    kl_buf_append(&want, "changed $", 9);
    for (int i = 0; i < KL_JSON_MAX_DEPTH; i++)
        kl_buf_append(&want, "[0]", 3);
    kl_buf_append(&want, " 1 -> 2\n", 8);
    ck_assert_str_eq(diffs(a, b), want.data);
    kl_buf_free(&want);
    free(a);
    free(b);
}
END_TEST

START_TEST(differences_come_in_a_stable_order)
{
    /* a's members in a's order, then b's new ones in b's order, whatever the object's size. */
    const char *a = "{\"z\":1,\"m\":{\"y\":1,\"b\":1},\"a\":[1,1],\"k1\":0,\"k2\":0,\"k3\":0,\"k4\":0,\"k5\":0,\"k6\":0}";
    const char *b = "{\"new2\":0,\"k6\":0,\"a\":[2,2],\"m\":{\"b\":2,\"y\":2},\"k5\":0,\"new1\":0,\"k4\":0,\"k3\":0,"
                    "\"z\":2,\"k2\":0,\"k1\":0}";
    const char *want = "changed $.z 1 -> 2\n"
                       "changed $.m.y 1 -> 2\n"
                       "changed $.m.b 1 -> 2\n"
                       "changed $.a[0] 1 -> 2\n"
                       "changed $.a[1] 1 -> 2\n"
                       "added $.new2 - -> 0\n"
                       "added $.new1 - -> 0\n";
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(diffs(a, b), want);
}
END_TEST

START_TEST(lists_append_clear_and_name_their_kinds)
{
    kl_diff_list l = {0};
    ck_assert_int_eq(kl_json_diff(U("[1]"), U("[2]"), NULL, &l, NULL), KL_OK);
    ck_assert_int_eq(kl_json_diff(U("{}"), U("{\"a\":1}"), NULL, &l, NULL), KL_OK);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_str_eq(l.items[0].path, "$[0]");
    ck_assert_int_eq(l.items[1].kind, KL_DIFF_ADDED);
    ck_assert_ptr_null(l.items[1].before);
    kl_diff_list_clear(&l);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_int_eq(kl_json_diff(U("[true]"), U("[false]"), NULL, &l, NULL), KL_OK);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.items[0].after, "false");
    kl_diff_list_free(&l);
    kl_diff_list_free(NULL);
    kl_diff_list_clear(NULL);
    kl_diff_opts_free(NULL);
    ck_assert_str_eq(kl_diff_kind_name(KL_DIFF_CHANGED), "changed");
    ck_assert_str_eq(kl_diff_kind_name(KL_DIFF_REMOVED), "removed");
    ck_assert_str_eq(kl_diff_kind_name(KL_DIFF_TYPE), "type");
    ck_assert_str_eq(kl_diff_kind_name((kl_diff_kind)0), "unknown");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("jsondiff");
    TCase *c = tcase_create("core");
    tcase_add_test(c, equal_documents_with_reordered_keys_have_no_difference);
    tcase_add_test(c, numbers_compare_by_value_whatever_their_form);
    tcase_add_test(c, nested_changes_are_named_by_their_exact_paths);
    tcase_add_test(c, array_length_changes_are_added_and_removed_elements);
    tcase_add_test(c, members_only_on_one_side_are_added_or_removed);
    tcase_add_test(c, type_changes_show_both_values);
    tcase_add_test(c, strings_compare_by_their_decoded_text);
    tcase_add_test(c, odd_keys_are_quoted_in_paths);
    tcase_add_test(c, repeated_keys_pair_up_in_their_order);
    tcase_add_test(c, ignored_paths_hide_what_they_name_wildcards_included);
    tcase_add_test(c, bad_ignored_paths_are_refused_with_their_column);
    tcase_add_test(c, ignored_keys_hide_members_at_any_depth);
    tcase_add_test(c, regexes_mask_strings_before_they_are_compared);
    tcase_add_test(c, integers_like_timestamps_less_than_two_minutes_apart_are_not_differences);
    tcase_add_test(c, jsonp_is_unwrapped_and_its_function_name_compared);
    tcase_add_loop_test(c, invalid_json_is_an_error_naming_the_side_and_place, 0,
                        (int)(sizeof bad_json / sizeof bad_json[0]));
    tcase_add_test(c, no_data_is_invalid_too_and_a_failure_leaves_earlier_items_alone);
    tcase_add_test(c, identical_bytes_are_equal_without_being_parsed);
    tcase_add_test(c, the_sniff_spots_objects_arrays_and_jsonp);
    tcase_add_test(c, rules_files_add_their_rules_and_name_the_bad_line);
    tcase_add_test(c, deep_nesting_is_refused_without_exhausting_the_stack);
    tcase_add_test(c, differences_come_in_a_stable_order);
    tcase_add_test(c, lists_append_clear_and_name_their_kinds);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
