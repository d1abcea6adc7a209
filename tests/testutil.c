/* testutil.c - helpers shared by the Check suites. */
#include "testutil.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static void rm_tmpdir(void)
{
    if (tmpdir[0] && getpid() == (pid_t)strtol(strrchr(tmpdir, '.') + 1, NULL, 10)) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
}

const char *tu_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(tmpdir, sizeof tmpdir, "%s/koala-test.%ld", base, (long)getpid());
        char cmd[300];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmpdir);
        if (system(cmd) != 0)
            abort();
        atexit(rm_tmpdir);
    }
    return tmpdir;
}

const char *tu_path(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, 512, "%s/%s", tu_tmpdir(), name);
    return b;
}

unsigned char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    size_t got;
    while ((got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    *len = n;
    return b;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

void tu_limit_memory(size_t room, struct rlimit *old)
{
    getrlimit(RLIMIT_AS, old);
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert(f && fscanf(f, "%lu", &pages) == 1);
    fclose(f);
    struct rlimit lim = *old;
    lim.rlim_cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + room;
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
}

static void set_ip4(kl_addr *a, const char *ip, uint16_t port)
{
    memset(a, 0, sizeof *a);
    a->family = AF_INET;
    inet_pton(AF_INET, ip, a->ip);
    a->port = port;
}

kl_session *tu_session(int i)
{
    kl_session *s = kl_session_new();
    ck_assert_ptr_nonnull(s);
    int64_t t0 = 1700000000000000000LL + (int64_t)i * 1000000;
    char id[64], req[256], resp[256], key[64], rcmd[128], rresp[64], sql[128], log[128];
    snprintf(id, sizeof id, "%lld-%d", (long long)t0, 4000 + i % 4);
    snprintf(req, sizeof req, "GET /api/user/%d HTTP/1.1\r\nHost: svc\r\nAccept: */*\r\n\r\n", i);
    int body = snprintf(key, sizeof key, "{\"id\":%d,\"name\":\"user-%d\"}", i, i);
    snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
             "Content-Length: %d\r\n\r\n%s", body, key);
    snprintf(key, sizeof key, "user:%d", i);
    snprintf(rcmd, sizeof rcmd, "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(key), key);
    snprintf(rresp, sizeof rresp, "$-1\r\n");
    snprintf(sql, sizeof sql, "SELECT name FROM users WHERE id = %d", i);
    snprintf(log, sizeof log, "served user %d\n", i);

    ck_assert_int_eq(kl_session_dup_str(s, &s->id, id), KL_OK);
    s->thread_id = 4000 + i % 4;
    kl_session_dup_str(s, &s->host, "testhost");
    kl_session_dup_str(s, &s->program, "sample-svc");
    s->pid = 321;
    s->call_from_inbound.present = true;
    s->call_from_inbound.occurred_at = t0 + 1000;
    set_ip4(&s->call_from_inbound.peer, "127.0.0.1", (uint16_t)(40000 + i % 1000));
    kl_session_dup_bytes(s, &s->call_from_inbound.request, req, strlen(req));

    kl_action a = {0};
    a.type = KL_ACTION_CALL_OUTBOUND;
    a.index = 0;
    a.occurred_at = t0 + 2000;
    a.socket_fd = 7;
    set_ip4(&a.peer, "127.0.0.1", 6379);
    a.request = (kl_bytes){(const uint8_t *)rcmd, strlen(rcmd)};
    a.response = (kl_bytes){(const uint8_t *)rresp, strlen(rresp)};
    a.response_time = t0 + 2500;
    ck_assert_int_eq(kl_session_add_action(s, &a), KL_OK);

    /* A MySQL COM_QUERY packet: 3-byte length, sequence 0, command 0x03, the query. */
    unsigned char pkt[160];
    size_t ql = strlen(sql);
    pkt[0] = (unsigned char)(ql + 1);
    pkt[1] = pkt[2] = pkt[3] = 0;
    pkt[4] = 0x03;
    memcpy(pkt + 5, sql, ql);
    static const unsigned char ok[] = {7, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0};
    memset(&a, 0, sizeof a);
    a.type = KL_ACTION_CALL_OUTBOUND;
    a.index = 1;
    a.occurred_at = t0 + 3000;
    a.socket_fd = 8;
    set_ip4(&a.peer, "127.0.0.1", 3306);
    a.request = (kl_bytes){pkt, ql + 5};
    a.response = (kl_bytes){ok, sizeof ok};
    a.response_time = t0 + 3500;
    kl_session_add_action(s, &a);

    memset(&a, 0, sizeof a);
    a.type = KL_ACTION_APPEND_FILE;
    a.index = 2;
    a.occurred_at = t0 + 4000;
    a.file_name = "/var/log/svc.log";
    a.content = (kl_bytes){(const uint8_t *)log, strlen(log)};
    kl_session_add_action(s, &a);

    memset(&a, 0, sizeof a);
    a.type = KL_ACTION_SEND_UDP;
    a.index = 3;
    a.occurred_at = t0 + 4500;
    set_ip4(&a.peer, "127.0.0.1", 8125);
    a.content = (kl_bytes){(const uint8_t *)"svc.requests:1|c", 16};
    kl_session_add_action(s, &a);

    s->return_inbound.present = true;
    s->return_inbound.index = 4;
    s->return_inbound.occurred_at = t0 + 5000;
    kl_session_dup_bytes(s, &s->return_inbound.response, resp, strlen(resp));
    memset(&a, 0, sizeof a);
    a.type = KL_ACTION_RETURN_INBOUND;
    a.index = 4;
    a.occurred_at = t0 + 5000;
    kl_session_add_action(s, &a);
    return s;
}

size_t tu_unescape_x(const char *s, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 3 < n && s[i + 1] == 'x') {
            char hex[3] = {s[i + 2], s[i + 3], 0};
            out[o++] = (uint8_t)strtoul(hex, NULL, 16);
            i += 3;
        } else {
            out[o++] = (uint8_t)s[i];
        }
    }
    return o;
}

void tu_fcgi_record(kl_buf *b, int type, const void *content, size_t len)
{
    uint8_t h[8] = {1, (uint8_t)type, 0, 1, (uint8_t)(len >> 8), (uint8_t)len, 3, 0};
    ck_assert_int_eq(kl_buf_append(b, h, sizeof h), KL_OK);
    ck_assert_int_eq(kl_buf_append(b, content, len), KL_OK);
    ck_assert_int_eq(kl_buf_append(b, "\0\0\0", 3), KL_OK);
}

void tu_fcgi_request(kl_buf *b, const kl_buf *params)
{
    tu_fcgi_record(b, 1, "\0\1\0\0\0\0\0\0", 8);
    tu_fcgi_record(b, 4, params->data, params->len);
    tu_fcgi_record(b, 4, "", 0);
    tu_fcgi_record(b, 5, "", 0);
}

void tu_fcgi_param(kl_buf *b, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    uint8_t len[5] = {(uint8_t)n, 0x80 | (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    ck_assert_int_eq(kl_buf_append(b, len, 1), KL_OK);
    ck_assert_int_eq(v > 127 ? kl_buf_append(b, len + 1, 4) : kl_buf_append(b, &len[4], 1), KL_OK);
    ck_assert_int_eq(kl_buf_append(b, name, n), KL_OK);
    ck_assert_int_eq(kl_buf_append(b, value, v), KL_OK);
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
