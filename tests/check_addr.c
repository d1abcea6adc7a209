/* check_addr.c - tests for libkoala/addr.c: parse, format, socket address conversion. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

static const char *fmt(const kl_addr *a)
{
    static char buf[KL_ADDR_STRLEN];
    return kl_addr_format(a, buf, sizeof buf);
}

START_TEST(every_form_survives_a_round_trip)
{
    static const char *const forms[] = {
        "1.2.3.4:80", "0.0.0.0:0", "255.255.255.255:65535", "[::1]:80", "[fe80::1%eth0]:8080",
        "[2001:db8::42]:443", "unix:/run/app.sock", "unixgram:/dev/log", "unixpacket:@pkt",
        "unix:@abstract", "unix:relative.sock", "-",
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        kl_addr a, b;
        ck_assert_msg(kl_addr_parse(forms[i], &a) == KL_OK, "parse %s", forms[i]);
        ck_assert_str_eq(fmt(&a), forms[i]);
        ck_assert_int_eq(kl_addr_parse(fmt(&a), &b), KL_OK);
        ck_assert(kl_addr_equal(&a, &b));
    }
}
END_TEST

START_TEST(ipv4_form_fills_family_ip_and_port)
{
    kl_addr a;
    ck_assert_int_eq(kl_addr_parse("10.0.0.7:3306", &a), KL_OK);
    ck_assert_int_eq(a.family, AF_INET);
    ck_assert_mem_eq(a.ip, ((uint8_t[]){10, 0, 0, 7}), 4);
    ck_assert_uint_eq(a.port, 3306);
    ck_assert_str_eq(a.unix_path, "");
}
END_TEST

START_TEST(bare_port_means_any_ipv4_address)
{
    kl_addr a;
    ck_assert_int_eq(kl_addr_parse(":80", &a), KL_OK);
    ck_assert_int_eq(a.family, AF_INET);
    ck_assert_mem_eq(a.ip, ((uint8_t[]){0, 0, 0, 0}), 4);
    ck_assert_uint_eq(a.port, 80);
    ck_assert_str_eq(fmt(&a), "0.0.0.0:80");
}
END_TEST

START_TEST(ipv6_zone_is_kept_apart_from_the_address)
{
    kl_addr a;
    ck_assert_int_eq(kl_addr_parse("[fe80::1%eth0]:80", &a), KL_OK);
    ck_assert_int_eq(a.family, AF_INET6);
    ck_assert_uint_eq(a.ip[0], 0xfe);
    ck_assert_uint_eq(a.ip[15], 1);
    ck_assert_str_eq(a.zone, "eth0");
    ck_assert_uint_eq(a.port, 80);
}
END_TEST

START_TEST(bare_paths_and_abstract_names_are_unix_addresses)
{
    kl_addr a;
    ck_assert_int_eq(kl_addr_parse("/var/run/php-fpm.sock", &a), KL_OK);
    ck_assert_int_eq(a.family, 0);
    ck_assert_str_eq(a.unix_path, "/var/run/php-fpm.sock");
    ck_assert_str_eq(a.unix_net, "unix");
    ck_assert_str_eq(fmt(&a), "unix:/var/run/php-fpm.sock");
    ck_assert_int_eq(kl_addr_parse("@abstract", &a), KL_OK);
    ck_assert_str_eq(a.unix_path, "@abstract");
    ck_assert_str_eq(fmt(&a), "unix:@abstract");
}
END_TEST

START_TEST(bad_inputs_are_rejected_and_leave_an_empty_address)
{
    static const char *const bad[] = {
        "", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:99999999999", "1.2.3.4:-1",
        "1.2.3.4:+80", "1.2.3.4:8a", "1.2.3.4: 80", "1.2.3:80", "1.2.3.4.5:80", "01.2.3.4:80",
        "localhost:80", "::1:80", "[::1]", "[::1]80", "[::1]:", "[::g]:80", "[fe80::1%]:80",
        "[fe80::1%abcdefghijklmnopq]:80", "[1.2.3.4]:80", "unix:", "garbage", "unixx:/p",
        "[::1:80", ":", NULL,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kl_addr a;
        memset(&a, 0x5a, sizeof a);
        ck_assert_msg(kl_addr_parse(bad[i], &a) == KL_ERR_INVALID, "accepted %s", bad[i]);
        ck_assert(kl_addr_is_empty(&a));
    }
}
END_TEST

START_TEST(unix_paths_longer_than_sun_path_are_rejected)
{
    char text[160] = "/";
    memset(text + 1, 'p', KL_UNIX_PATH_MAX - 2);
    kl_addr a;
    ck_assert_int_eq(kl_addr_parse(text, &a), KL_OK); /* 108 bytes: as long as sun_path */
    text[KL_UNIX_PATH_MAX - 1] = 'p';
    ck_assert_int_eq(kl_addr_parse(text, &a), KL_ERR_INVALID);
}
END_TEST

START_TEST(empty_address_prints_a_dash)
{
    kl_addr a = {0};
    ck_assert(kl_addr_is_empty(&a));
    ck_assert_str_eq(fmt(&a), "-");
}
END_TEST

START_TEST(ip_form_wins_when_both_ip_and_path_are_set)
{
    kl_addr a;
    ck_assert_int_eq(kl_addr_parse("127.0.0.1:9000", &a), KL_OK);
    strcpy(a.unix_path, "/tmp/x.sock");
    ck_assert_str_eq(fmt(&a), "127.0.0.1:9000");
    ck_assert(!kl_addr_is_empty(&a));
}
END_TEST

START_TEST(format_truncates_to_the_buffer_and_terminates_it)
{
    kl_addr a;
    kl_addr_parse("192.168.100.200:65535", &a);
    char buf[8];
    memset(buf, 'x', sizeof buf);
    ck_assert_ptr_eq(kl_addr_format(&a, buf, sizeof buf), buf);
    ck_assert_str_eq(buf, "192.168");
}
END_TEST

START_TEST(equal_compares_ip_port_zone_and_path)
{
    kl_addr a, b;
    kl_addr_parse("[fe80::1%eth0]:80", &a);
    kl_addr_parse("[fe80::1%eth1]:80", &b);
    ck_assert(!kl_addr_equal(&a, &b));
    kl_addr_parse("[fe80::1%eth0]:81", &b);
    ck_assert(!kl_addr_equal(&a, &b));
    kl_addr_parse("[fe80::1%eth0]:80", &b);
    ck_assert(kl_addr_equal(&a, &b));
    kl_addr_parse("1.2.3.4:80", &a);
    kl_addr_parse("1.2.3.5:80", &b);
    ck_assert(!kl_addr_equal(&a, &b));
    kl_addr_parse("/a", &a);
    kl_addr_parse("/b", &b);
    ck_assert(!kl_addr_equal(&a, &b));
    kl_addr_parse("unixgram:/a", &b);
    ck_assert(kl_addr_equal(&a, &b)); /* the socket type is not part of the address */
    kl_addr_parse(":80", &a);
    kl_addr_parse("0.0.0.0:80", &b);
    ck_assert(kl_addr_equal(&a, &b));
}
END_TEST

START_TEST(sockaddr_in_converts_to_ipv4)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(6379)};
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    kl_addr a;
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&in, sizeof in, &a), KL_OK);
    ck_assert_str_eq(fmt(&a), "127.0.0.1:6379");
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&in, sizeof in - 1, &a),
                     KL_ERR_INVALID);
}
END_TEST

START_TEST(sockaddr_in6_converts_with_a_numeric_zone)
{
    struct sockaddr_in6 in6 = {
        .sin6_family = AF_INET6, .sin6_port = htons(443), .sin6_scope_id = 3};
    inet_pton(AF_INET6, "fe80::abcd", &in6.sin6_addr);
    kl_addr a, b;
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&in6, sizeof in6, &a), KL_OK);
    ck_assert_str_eq(fmt(&a), "[fe80::abcd%3]:443");
    ck_assert_int_eq(kl_addr_parse(fmt(&a), &b), KL_OK);
    ck_assert(kl_addr_equal(&a, &b));
    in6.sin6_scope_id = 0;
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &in6.sin6_addr);
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&in6, sizeof in6, &a), KL_OK);
    ck_assert_str_eq(fmt(&a), "[::ffff:10.1.2.3]:443");
}
END_TEST

START_TEST(sockaddr_un_path_converts_with_or_without_its_nul)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strcpy(un.sun_path, "/run/app.sock");
    socklen_t exact = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(un.sun_path));
    kl_addr a;
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&un, exact, &a), KL_OK);
    ck_assert_str_eq(fmt(&a), "unix:/run/app.sock");
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&un, sizeof un, &a), KL_OK);
    ck_assert_str_eq(a.unix_path, "/run/app.sock");
    ck_assert_str_eq(a.unix_net, "unix");
}
END_TEST

START_TEST(sockaddr_un_full_length_path_without_nul_is_kept_whole)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memset(un.sun_path, 'q', sizeof un.sun_path);
    un.sun_path[0] = '/';
    kl_addr a;
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&un, sizeof un, &a), KL_OK);
    ck_assert_uint_eq(strlen(a.unix_path), sizeof un.sun_path);
}
END_TEST

START_TEST(abstract_sockaddr_un_prints_as_at_name)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memcpy(un.sun_path, "\0koala\0x", 8);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 8);
    kl_addr a;
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&un, len, &a), KL_OK);
    ck_assert_str_eq(a.unix_path, "@koala@x"); /* NULs inside the name show as '@' */
    ck_assert_str_eq(fmt(&a), "unix:@koala@x");
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 6);
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&un, len, &a), KL_OK);
    ck_assert_str_eq(a.unix_path, "@koala");
}
END_TEST

START_TEST(unnamed_sockaddr_un_is_an_empty_unix_address)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    kl_addr a;
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&un, sizeof(sa_family_t), &a), KL_OK);
    ck_assert(kl_addr_is_empty(&a));
    ck_assert_str_eq(a.unix_net, "unix");
    ck_assert_str_eq(fmt(&a), "-");
}
END_TEST

START_TEST(other_families_and_short_lengths_are_invalid)
{
    struct sockaddr_storage ss = {.ss_family = AF_PACKET};
    kl_addr a;
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&ss, sizeof ss, &a), KL_ERR_INVALID);
    ck_assert(kl_addr_is_empty(&a));
    ss.ss_family = AF_UNIX;
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&ss, sizeof ss, &a), KL_ERR_INVALID);
    ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&ss, 1, &a), KL_ERR_INVALID);
    ck_assert_int_eq(kl_addr_from_sockaddr(NULL, 16, &a), KL_ERR_INVALID);
}
END_TEST

START_TEST(to_sockaddr_is_the_reverse_of_from_sockaddr)
{
    const char *forms[] = {"10.1.2.3:8080", "[2001:db8::1]:443", "[fe80::1%3]:53", "/run/app.sock",
                           "@koala-outbound-7"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        kl_addr a, back;
        struct sockaddr_storage ss;
        socklen_t len = 0;
        ck_assert_int_eq(kl_addr_parse(forms[i], &a), KL_OK);
        ck_assert_int_eq(kl_addr_to_sockaddr(&a, &ss, &len), KL_OK);
        ck_assert_int_eq(kl_addr_from_sockaddr((struct sockaddr *)&ss, len, &back), KL_OK);
        ck_assert_msg(kl_addr_equal(&a, &back), "%s came back as %s", forms[i], fmt(&back));
    }
    kl_addr a;
    struct sockaddr_storage ss;
    socklen_t len;
    ck_assert_int_eq(kl_addr_parse("@x", &a), KL_OK);
    ck_assert_int_eq(kl_addr_to_sockaddr(&a, &ss, &len), KL_OK);
    ck_assert_int_eq(((struct sockaddr_un *)&ss)->sun_path[0], 0); /* abstract */
    ck_assert_int_eq(len, offsetof(struct sockaddr_un, sun_path) + 2);
    ck_assert_int_eq(kl_addr_parse("-", &a), KL_OK);
    ck_assert_int_eq(kl_addr_to_sockaddr(&a, &ss, &len), KL_ERR_INVALID);
    ck_assert_int_eq(kl_addr_parse("[fe80::1%eth0]:53", &a), KL_OK);
    ck_assert_int_eq(kl_addr_to_sockaddr(&a, &ss, &len), KL_ERR_INVALID);
    /* a zone is a scope id in decimal digits, or nothing */
    const char *zoned[] = {"[fe80::1%+3]:53", "[fe80::1% 3]:53", "[fe80::1%-0]:53",
                           "[fe80::1%4294967296]:53"};
    for (size_t i = 0; i < sizeof zoned / sizeof zoned[0]; i++) {
        ck_assert_int_eq(kl_addr_parse(zoned[i], &a), KL_OK);
        ck_assert_msg(kl_addr_to_sockaddr(&a, &ss, &len) == KL_ERR_INVALID, "%s", zoned[i]);
    }
    ck_assert_int_eq(kl_addr_parse("[fe80::1%4294967295]:53", &a), KL_OK);
    ck_assert_int_eq(kl_addr_to_sockaddr(&a, &ss, &len), KL_OK);
    ck_assert_uint_eq(((struct sockaddr_in6 *)&ss)->sin6_scope_id, 4294967295u);
}
END_TEST

static Suite *addr_suite(void)
{
    Suite *s = suite_create("addr");
    TCase *tc = tcase_create("addr");
    tcase_add_test(tc, every_form_survives_a_round_trip);
    tcase_add_test(tc, ipv4_form_fills_family_ip_and_port);
    tcase_add_test(tc, bare_port_means_any_ipv4_address);
    tcase_add_test(tc, ipv6_zone_is_kept_apart_from_the_address);
    tcase_add_test(tc, bare_paths_and_abstract_names_are_unix_addresses);
    tcase_add_test(tc, bad_inputs_are_rejected_and_leave_an_empty_address);
    tcase_add_test(tc, unix_paths_longer_than_sun_path_are_rejected);
    tcase_add_test(tc, empty_address_prints_a_dash);
    tcase_add_test(tc, ip_form_wins_when_both_ip_and_path_are_set);
    tcase_add_test(tc, format_truncates_to_the_buffer_and_terminates_it);
    tcase_add_test(tc, equal_compares_ip_port_zone_and_path);
    tcase_add_test(tc, sockaddr_in_converts_to_ipv4);
    tcase_add_test(tc, sockaddr_in6_converts_with_a_numeric_zone);
    tcase_add_test(tc, sockaddr_un_path_converts_with_or_without_its_nul);
    tcase_add_test(tc, sockaddr_un_full_length_path_without_nul_is_kept_whole);
    tcase_add_test(tc, abstract_sockaddr_un_prints_as_at_name);
    tcase_add_test(tc, unnamed_sockaddr_un_is_an_empty_unix_address);
    tcase_add_test(tc, other_families_and_short_lengths_are_invalid);
    tcase_add_test(tc, to_sockaddr_is_the_reverse_of_from_sockaddr);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(addr_suite());
}
