/* check_hk_config.c - tests of hook/hk_config.c: KOALA_* values, defaults, warnings. */
#include "testutil.h"
#include "hk.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* The variables of one test case, served by get(). */
static const char *const *vars;

static const char *get(const char *name)
{
    for (size_t i = 0; vars && vars[i]; i += 2)
        if (strcmp(vars[i], name) == 0)
            return vars[i + 1];
    return NULL;
}

static void load(hk_config *c, const char *const *v)
{
    vars = v;
    hk_config_load(c, get);
}

START_TEST(unset_variables_give_the_defaults)
{
    hk_config c;
    load(&c, NULL);
    ck_assert_str_eq(c.record_dir, "");
    ck_assert_int_eq(c.inbound_protocol, HK_INBOUND_AUTO);
    ck_assert_str_eq(c.log_file, "STDERR");
    ck_assert_int_eq(c.log_level, HK_INFO);
    ck_assert_int_eq(c.n_bypass, 0);
    ck_assert_int_eq(c.gc_timeout_ns, 5000000000);
    ck_assert_int_eq(c.max_actions, 500);
    ck_assert_int_eq(c.n_warnings, 0);
}
END_TEST

START_TEST(good_values_are_taken)
{
    const char *const v[] = {"KOALA_RECORD_TO_DIR", "/tmp/rec", "KOALA_INBOUND_PROTOCOL", "FastCGI",
                             "KOALA_LOG_FILE", "/var/log/koala.log", "KOALA_LOG_LEVEL", "debug",
                             "KOALA_OUTBOUND_BYPASS_ADDR", "127.0.0.1:9000,:8500",
                             "KOALA_GC_GLOBAL_STATUS_TIMEOUT", "1m30s", "KOALA_MAX_ACTIONS", "42", NULL};
    hk_config c;
    load(&c, v);
    ck_assert_str_eq(c.record_dir, "/tmp/rec");
    ck_assert_int_eq(c.inbound_protocol, HK_INBOUND_FASTCGI);
    ck_assert_str_eq(c.log_file, "/var/log/koala.log");
    ck_assert_int_eq(c.log_level, HK_DEBUG);
    ck_assert_int_eq(c.n_bypass, 2);
    ck_assert_int_eq(c.gc_timeout_ns, 90000000000);
    ck_assert_int_eq(c.max_actions, 42);
    ck_assert_int_eq(c.n_warnings, 0);
}
END_TEST

START_TEST(bad_values_are_named_and_fall_back_to_the_default)
{
    const char *const v[] = {"KOALA_INBOUND_PROTOCOL", "grpc", "KOALA_LOG_LEVEL", "LOUD",
                             "KOALA_OUTBOUND_BYPASS_ADDR", "localhost:80,:0,10.0.0.1:6379",
                             "KOALA_GC_GLOBAL_STATUS_TIMEOUT", "soon", "KOALA_MAX_ACTIONS", "-5", NULL};
    hk_config c;
    load(&c, v);
    ck_assert_int_eq(c.inbound_protocol, HK_INBOUND_AUTO);
    ck_assert_int_eq(c.log_level, HK_INFO);
    ck_assert_int_eq(c.n_bypass, 1);
    ck_assert_int_eq(c.bypass[0].port, 6379);
    ck_assert_int_eq(c.gc_timeout_ns, 5000000000);
    ck_assert_int_eq(c.max_actions, 500);
    ck_assert_int_eq(c.n_warnings, 6);
    ck_assert_str_eq(c.warnings[0], "KOALA_INBOUND_PROTOCOL=grpc is not auto, http or fastcgi; using auto");
    ck_assert_str_eq(c.warnings[1], "KOALA_LOG_LEVEL=LOUD is not one of TRACE, DEBUG, INFO, WARN, "
                                    "ERROR, FATAL; using INFO");
    ck_assert_str_eq(c.warnings[2], "KOALA_OUTBOUND_BYPASS_ADDR=localhost:80 is not ip:port or :port; "
                                    "using the other entries");
    ck_assert_str_eq(c.warnings[4], "KOALA_GC_GLOBAL_STATUS_TIMEOUT=soon is not a duration such as "
                                    "100ms, 5s or 1m; using 5s");
    ck_assert_str_eq(c.warnings[5], "KOALA_MAX_ACTIONS=-5 is not a whole number from 1 to 1000000; "
                                    "using 500");
}
END_TEST

START_TEST(a_path_too_long_is_refused_whole)
{
    static char longpath[HK_PATH_MAX + 10];
    memset(longpath, 'a', sizeof longpath - 1);
    const char *const v[] = {"KOALA_RECORD_TO_DIR", longpath, NULL};
    hk_config c;
    load(&c, v);
    ck_assert_str_eq(c.record_dir, "");
    ck_assert_int_eq(c.n_warnings, 1);
    ck_assert_ptr_nonnull(strstr(c.warnings[0], "is too long; using nothing"));
}
END_TEST

START_TEST(bypass_matches_an_address_or_any_ip_on_a_port)
{
    const char *const v[] = {"KOALA_OUTBOUND_BYPASS_ADDR", "127.0.0.1:9000,:8500,[::1]:7000", NULL};
    hk_config c;
    load(&c, v);
    kl_addr a;
    ck_assert_int_eq(kl_addr_parse("127.0.0.1:9000", &a), KL_OK);
    ck_assert(hk_config_bypassed(&c, &a));
    ck_assert_int_eq(kl_addr_parse("127.0.0.2:9000", &a), KL_OK);
    ck_assert(!hk_config_bypassed(&c, &a));
    ck_assert_int_eq(kl_addr_parse("10.1.1.1:8500", &a), KL_OK);
    ck_assert(hk_config_bypassed(&c, &a));
    ck_assert_int_eq(kl_addr_parse("[::1]:8500", &a), KL_OK);
    ck_assert(hk_config_bypassed(&c, &a));
    ck_assert_int_eq(kl_addr_parse("[::1]:7000", &a), KL_OK);
    ck_assert(hk_config_bypassed(&c, &a));
    ck_assert_int_eq(kl_addr_parse("127.0.0.1:7000", &a), KL_OK);
    ck_assert(!hk_config_bypassed(&c, &a));
}
END_TEST

static void assert_addr(const kl_addr *a, const char *want)
{
    char text[KL_ADDR_STRLEN];
    ck_assert_str_eq(kl_addr_format(a, text, sizeof text), want);
}

START_TEST(the_replayer_listens_and_calls_on_loopback_by_default)
{
    hk_config c;
    load(&c, NULL);
    assert_addr(&c.sut_addr, "127.0.0.1:2515");
    assert_addr(&c.inbound_addr, "127.0.0.1:2514");
    assert_addr(&c.outbound_addr, "127.0.0.1:2516");
    ck_assert_int_eq(c.inbound_read_timeout_ns, 100000000);
    ck_assert_int_eq(c.n_bypass_ports, 0);
    const char *const v[] = {"KOALA_SUT_ADDR", "/run/php/fpm.sock", "KOALA_INBOUND_ADDR", ":3514",
                             "KOALA_OUTBOUND_ADDR", "[::1]:3516", "KOALA_INBOUND_READ_TIMEOUT", "250ms",
                             "KOALA_OUTBOUND_BYPASS_PORT", "8500,2345", NULL};
    load(&c, v);
    assert_addr(&c.sut_addr, "unix:/run/php/fpm.sock");
    assert_addr(&c.inbound_addr, "127.0.0.1:3514");
    assert_addr(&c.outbound_addr, "[::1]:3516");
    ck_assert_int_eq(c.inbound_read_timeout_ns, 250000000);
    ck_assert_int_eq(c.n_bypass_ports, 2);
    ck_assert_int_eq(c.n_warnings, 0);
    kl_addr a;
    ck_assert_int_eq(kl_addr_parse("10.0.0.9:2345", &a), KL_OK);
    ck_assert(hk_config_bypassed(&c, &a));
    ck_assert_int_eq(kl_addr_parse("10.0.0.9:2346", &a), KL_OK);
    ck_assert(!hk_config_bypassed(&c, &a));
}
END_TEST

START_TEST(bad_replayer_values_are_named_and_fall_back_to_the_default)
{
    const char *const v[] = {"KOALA_SUT_ADDR", "service:80", "KOALA_INBOUND_ADDR", "127.0.0.1",
                             "KOALA_OUTBOUND_BYPASS_PORT", "80,http,70000,",
                             "KOALA_INBOUND_READ_TIMEOUT", "quick", NULL};
    hk_config c;
    load(&c, v);
    assert_addr(&c.sut_addr, "127.0.0.1:2515");
    assert_addr(&c.inbound_addr, "127.0.0.1:2514");
    ck_assert_int_eq(c.n_bypass_ports, 1);
    ck_assert_int_eq(c.bypass_ports[0], 80);
    ck_assert_int_eq(c.inbound_read_timeout_ns, 100000000);
    ck_assert_int_eq(c.n_warnings, 5);
    ck_assert_str_eq(c.warnings[0], "KOALA_SUT_ADDR=service:80 is not ip:port, :port or a unix "
                                    "socket path; using 127.0.0.1:2515");
    ck_assert_str_eq(c.warnings[2], "KOALA_INBOUND_READ_TIMEOUT=quick is not a duration such as "
                                    "100ms, 5s or 1m; using 100ms");
    ck_assert_str_eq(c.warnings[3], "KOALA_OUTBOUND_BYPASS_PORT=http,70000, has an entry that is "
                                    "not a port; using the other entries");
}
END_TEST

START_TEST(the_match_strategy_and_threshold_are_read_and_checked)
{
    hk_config c;
    load(&c, NULL);
    ck_assert_int_eq(c.match.strategy, KL_MATCH_CHUNK);
    ck_assert(c.match.threshold == KL_MATCH_THRESHOLD);
    const char *const good[] = {"KOALA_REPLAYING_MATCH_STRATEGY", "SIM", "KOALA_REPLAYING_MATCH_THRESHOLD",
                                "0.55", NULL};
    load(&c, good);
    ck_assert_int_eq(c.match.strategy, KL_MATCH_SIM);
    ck_assert(c.match.threshold == 0.55);
    ck_assert_int_eq(c.n_warnings, 0);
    const char *const bad[] = {"KOALA_REPLAYING_MATCH_STRATEGY", "fuzzy", "KOALA_REPLAYING_MATCH_THRESHOLD",
                               "1.5", NULL};
    load(&c, bad);
    ck_assert_int_eq(c.match.strategy, KL_MATCH_CHUNK);
    ck_assert(c.match.threshold == KL_MATCH_THRESHOLD);
    ck_assert_int_eq(c.n_warnings, 2);
    ck_assert_str_eq(c.warnings[0], "KOALA_REPLAYING_MATCH_STRATEGY=fuzzy is not chunk or sim; using chunk");
    ck_assert_str_eq(c.warnings[1], "KOALA_REPLAYING_MATCH_THRESHOLD=1.5 is not a number above 0 and at "
                                    "most 1; using 0.7");
}
END_TEST

START_TEST(the_witch_listens_on_loopback_unless_told_otherwise)
{
    hk_config c;
    load(&c, NULL);
    assert_addr(&c.witch_addr, "127.0.0.1:8318");
    const char *const port[] = {"KOALA_WITCH_ADDR", ":9318", NULL};
    load(&c, port);
    assert_addr(&c.witch_addr, "127.0.0.1:9318");
    const char *const all[] = {"KOALA_WITCH_ADDR", "0.0.0.0:8318", NULL};
    load(&c, all);
    assert_addr(&c.witch_addr, "0.0.0.0:8318");
    const char *const v6[] = {"KOALA_WITCH_ADDR", "[::1]:8319", NULL};
    load(&c, v6);
    assert_addr(&c.witch_addr, "[::1]:8319");
    ck_assert_int_eq(c.n_warnings, 0);
}
END_TEST

START_TEST(off_turns_the_witch_off)
{
    const char *const v[] = {"KOALA_WITCH_ADDR", "OFF", NULL};
    hk_config c;
    load(&c, v);
    ck_assert(kl_addr_is_empty(&c.witch_addr));
    ck_assert_int_eq(c.n_warnings, 0);
}
END_TEST

START_TEST(a_bad_witch_address_is_named_and_the_default_used)
{
    const char *const bad[] = {"localhost:8318", "/run/witch.sock", "127.0.0.1", ":0", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *const v[] = {"KOALA_WITCH_ADDR", bad[i], NULL};
        hk_config c;
        load(&c, v);
        assert_addr(&c.witch_addr, "127.0.0.1:8318");
        ck_assert_int_eq(c.n_warnings, 1);
        char want[256];
        snprintf(want, sizeof want, "KOALA_WITCH_ADDR=%s is not ip:port, :port or off; using 127.0.0.1:8318",
                 bad[i]);
        ck_assert_str_eq(c.warnings[0], want);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hk_config");
    TCase *tc = tcase_create("hk_config");
    tcase_add_test(tc, unset_variables_give_the_defaults);
    tcase_add_test(tc, good_values_are_taken);
    tcase_add_test(tc, bad_values_are_named_and_fall_back_to_the_default);
    tcase_add_test(tc, a_path_too_long_is_refused_whole);
    tcase_add_test(tc, bypass_matches_an_address_or_any_ip_on_a_port);
    tcase_add_test(tc, the_replayer_listens_and_calls_on_loopback_by_default);
    tcase_add_test(tc, bad_replayer_values_are_named_and_fall_back_to_the_default);
    tcase_add_test(tc, the_match_strategy_and_threshold_are_read_and_checked);
    tcase_add_test(tc, the_witch_listens_on_loopback_unless_told_otherwise);
    tcase_add_test(tc, off_turns_the_witch_off);
    tcase_add_test(tc, a_bad_witch_address_is_named_and_the_default_used);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
