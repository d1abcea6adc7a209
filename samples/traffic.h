/* traffic.h - a deterministic generator of realistic sessions (HTTP/JSON, Redis, MySQL, FastCGI)
 * shared by koala-samplegen and the benchmarks. Header-only because each benchmark is built
 * from a single source file; every function is static and may go unused in a given program. */
#ifndef KOALA_TRAFFIC_H
#define KOALA_TRAFFIC_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "koala.h"

#define TG_FN static __attribute__((unused))

#define TG_BASE_TIME 1709287200000000000LL /* 2024-03-01T10:00:00Z */
#define TG_HOST "sample-host"
#define TG_PROGRAM "sample-svc"
#define TG_PID 4242
#define TG_MAX_THREADS 16

/* What a session talks: the inbound protocol and the outbound calls it makes. */
typedef enum tg_kind {
    TG_HTTP,  /* HTTP JSON API calling HTTP JSON backends */
    TG_REDIS, /* HTTP JSON API backed by Redis */
    TG_MYSQL, /* HTTP JSON API backed by MySQL */
    TG_FCGI,  /* php-fpm: FastCGI over a unix socket, calling Redis and MySQL */
} tg_kind;

/* Extras added to one session. */
#define TG_TRACE 1u     /* trace id, span id and a traceparent header */
#define TG_STORAGE 2u   /* a ReadStorage action */
#define TG_FUNCTION 4u  /* a CallFunction / ReturnFunction pair */
#define TG_TRUNCATED 8u /* cut by the recorder: last response shortened, truncated = true */

/* Outbound connections each worker thread keeps open. */
enum { TG_C_PROFILE, TG_C_ORDERS, TG_C_PRICING, TG_C_STOCK, TG_C_REDIS, TG_C_MYSQL, TG_NCONN };

typedef struct tg_conn {
    int fd;
    uint16_t port;
    bool open;
} tg_conn;

typedef struct tg_gen {
    uint64_t rng;
    int64_t now;            /* arrival time of the next session, unix ns */
    int n_threads;
    int64_t thread_base;
    int n_peers;
    unsigned n_users;       /* user ids are 1..n_users */
    int64_t busy_until[TG_MAX_THREADS];
    tg_conn conn[TG_MAX_THREADS][TG_NCONN];
    int next_fd;
    uint16_t next_port;
    uint32_t mysql_conn_id;
    uint32_t order_seq;
    int err;                /* first kl_err met; sessions are not returned after it */
    kl_buf in, out, body, tmp, pkt;
} tg_gen;

/* ------------------------------------------------------------------ random */

static uint64_t tg_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t tg_rand(tg_gen *g)
{
    g->rng += 0x9E3779B97F4A7C15ull;
    return tg_mix(g->rng);
}

/* Uniform in [0, n). */
static uint32_t tg_below(tg_gen *g, uint32_t n)
{
    return (uint32_t)(((tg_rand(g) >> 32) * n) >> 32);
}

/* Uniform in [lo, hi]. */
static int64_t tg_range(tg_gen *g, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(tg_rand(g) % (uint64_t)(hi - lo + 1));
}

static bool tg_chance(tg_gen *g, unsigned percent)
{
    return tg_below(g, 100) < percent;
}

#define TG_N(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- vocabulary */

static const char *const tg_first[] = {
    "Alice", "Bruno", "Chloe", "David", "Emma", "Farid", "Gabriel", "Hana", "Ines", "Jonas",
    "Karim", "Lea", "Marco", "Nina", "Oscar", "Paula", "Quentin", "Rosa", "Samir", "Tess",
    "Ugo", "Vera", "Walter", "Xenia", "Yann", "Zoe", "Lucas", "Mila", "Noah", "Sofia"};
static const char *const tg_last[] = {
    "Martin", "Bernard", "Dubois", "Moreau", "Laurent", "Simon", "Michel", "Lefebvre",
    "Garcia", "Rossi", "Muller", "Schmidt", "Novak", "Silva", "Jensen", "Kowalski",
    "Nguyen", "Tanaka", "Okafor", "Haddad", "Costa", "Peeters", "Fischer", "Weber"};
static const char *const tg_city[][3] = {
    {"Lyon", "69002", "FR"},      {"Paris", "75011", "FR"},   {"Berlin", "10115", "DE"},
    {"Madrid", "28004", "ES"},    {"Milano", "20121", "IT"},  {"Amsterdam", "1012", "NL"},
    {"Lisboa", "1100-148", "PT"}, {"Bruxelles", "1000", "BE"}, {"Wien", "1010", "AT"},
    {"Praha", "11000", "CZ"}};
static const char *const tg_street[] = {"Rue de la Republique", "Hauptstrasse", "Calle Mayor",
                                        "Via Roma", "Kalverstraat", "Rua Augusta",
                                        "Avenue Louise", "Ringstrasse"};
static const char *const tg_domain[] = {"example.com", "mail.example.org", "example.net",
                                        "posteo.example", "corp.example.com"};
static const struct {
    const char *sku, *name;
    unsigned cents;
} tg_product[] = {
    {"SKU-10023", "Wireless Mouse", 2990},        {"SKU-10040", "Mechanical Keyboard", 8900},
    {"SKU-10112", "USB-C Hub 7-in-1", 4550},      {"SKU-10230", "27-inch 4K Monitor", 32900},
    {"SKU-10311", "Laptop Stand", 3999},          {"SKU-10420", "Noise Cancelling Headphones", 24900},
    {"SKU-10502", "Webcam 1080p", 5990},          {"SKU-10618", "Desk Lamp LED", 2450},
    {"SKU-10777", "Ergonomic Chair", 41900},      {"SKU-10801", "HDMI Cable 2m", 999},
    {"SKU-10925", "Portable SSD 1TB", 10990},     {"SKU-11003", "Bluetooth Speaker", 6990},
    {"SKU-11140", "Smartphone Case", 1990},       {"SKU-11250", "Wireless Charger", 2990},
    {"SKU-11362", "Graphics Tablet", 7990},       {"SKU-11475", "Microphone USB", 8990}};
static const char *const tg_status[] = {"pending", "paid", "shipped", "delivered", "cancelled",
                                        "refunded"};
static const char *const tg_carrier[] = {"DHL", "UPS", "Colissimo", "GLS", "DPD"};
static const char *const tg_tier[] = {"bronze", "silver", "gold", "platinum"};
static const char *const tg_lang[] = {"fr", "de", "es", "it", "nl", "pt", "en"};
static const char *const tg_ua[] = {
    "okhttp/4.12.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 ShopApp/5.8.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
    "python-requests/2.31.0", "Go-http-client/1.1"};

/* ------------------------------------------------------------------ helpers */

static void tg_check(tg_gen *g, int rc)
{
    if (rc != KL_OK && !g->err)
        g->err = rc;
}

static void tg_put(tg_gen *g, kl_buf *b, const void *p, size_t n)
{
    tg_check(g, kl_buf_append(b, p, n));
}

static void tg_puts(tg_gen *g, kl_buf *b, const char *s)
{
    tg_put(g, b, s, strlen(s));
}

static void tg_putc(tg_gen *g, kl_buf *b, uint8_t c)
{
    tg_put(g, b, &c, 1);
}

#define tg_printf(g, b, ...) tg_check((g), kl_buf_printf((b), __VA_ARGS__))

static void tg_addr4(kl_addr *a, uint8_t a0, uint8_t a1, uint8_t a2, uint8_t a3, uint16_t port)
{
    memset(a, 0, sizeof *a);
    a->family = AF_INET;
    a->ip[0] = a0;
    a->ip[1] = a1;
    a->ip[2] = a2;
    a->ip[3] = a3;
    a->port = port;
}

/* "2024-03-01T10:00:00.123Z"; len >= 32 */
static void tg_iso(char *buf, size_t len, int64_t ns)
{
    time_t sec = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03dZ", (int)(ns / 1000000 % 1000));
}

/* "2024-03-01 10:00:00", MySQL's DATETIME text; len >= 32 */
static void tg_sqltime(char *buf, size_t len, int64_t ns)
{
    time_t sec = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* "Fri, 01 Mar 2024 10:00:00 GMT", the HTTP Date header (C locale names) */
static void tg_httpdate(char *buf, size_t len, int64_t ns)
{
    time_t sec = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(buf, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void tg_lower(char *dst, size_t len, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < len; i++)
        dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i]);
    dst[i] = 0;
}

static void tg_uuid(tg_gen *g, char *buf, size_t len)
{
    uint64_t a = tg_rand(g), b = tg_rand(g);
    snprintf(buf, len, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff, 0x8000u | ((unsigned)(b >> 48) & 0x3fff),
             (unsigned long long)(b & 0xffffffffffffull));
}

static void tg_hex(tg_gen *g, char *buf, size_t nchars)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < nchars; i++)
        buf[i] = digits[tg_below(g, 16)];
    buf[nchars] = 0;
}

static void tg_base64url(tg_gen *g, kl_buf *b, const uint8_t *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        size_t out = n - i >= 3 ? 4 : n - i + 1;
        for (size_t k = 0; k < out; k++)
            tg_putc(g, b, (uint8_t)a[(v >> (18 - 6 * k)) & 63]);
    }
}

/* ------------------------------------------------------------------ JSON documents */

/* A user's profile; the same uid always gives the same document. */
static void tg_user_json(tg_gen *g, kl_buf *b, unsigned uid)
{
    uint64_t h = tg_mix(uid * 7919ull + 17);
    const char *first = tg_first[h % TG_N(tg_first)];
    const char *last = tg_last[(h >> 8) % TG_N(tg_last)];
    const char *const *city = tg_city[(h >> 16) % TG_N(tg_city)];
    char lf[32], ll[32], created[32], updated[32];
    tg_lower(lf, sizeof lf, first);
    tg_lower(ll, sizeof ll, last);
    tg_iso(created, sizeof created, 1609459200000000000LL + (int64_t)(h % 94608000) * 1000000000);
    tg_iso(updated, sizeof updated, TG_BASE_TIME - (int64_t)((h >> 20) % 5184000) * 1000000000);
    tg_printf(g, b,
              "{\"id\":%u,\"username\":\"%c%s%u\",\"name\":\"%s %s\",\"email\":\"%s.%s%u@%s\","
              "\"phone\":\"+33 6 %02u %02u %02u %02u\",\"created_at\":\"%s\",\"updated_at\":\"%s\","
              "\"address\":{\"street\":\"%u %s\",\"city\":\"%s\",\"zip\":\"%s\",\"country\":\"%s\"},"
              "\"roles\":[\"customer\"%s],\"preferences\":{\"newsletter\":%s,\"language\":\"%s\","
              "\"currency\":\"EUR\",\"theme\":\"%s\"},\"loyalty\":{\"tier\":\"%s\",\"points\":%u},"
              "\"active\":%s}",
              uid, lf[0], ll, uid % 100, first, last, lf, ll, uid % 1000,
              tg_domain[(h >> 24) % TG_N(tg_domain)], (unsigned)(h >> 28) % 100,
              (unsigned)(h >> 32) % 100, (unsigned)(h >> 36) % 100, (unsigned)(h >> 40) % 100,
              created, updated, 1 + (unsigned)(h >> 44) % 180,
              tg_street[(h >> 48) % TG_N(tg_street)], city[0], city[1], city[2],
              (h >> 52) % 10 == 0 ? ",\"admin\"" : "", (h >> 53) & 1 ? "true" : "false",
              tg_lang[(h >> 54) % TG_N(tg_lang)], (h >> 57) & 1 ? "dark" : "light",
              tg_tier[(h >> 58) % TG_N(tg_tier)], (unsigned)(h >> 12) % 20000,
              (h >> 62) == 0 ? "false" : "true");
}

/* An order; the same oid always gives the same document. */
static void tg_order_json(tg_gen *g, kl_buf *b, unsigned oid, unsigned uid)
{
    uint64_t h = tg_mix(oid * 104729ull + 3);
    const char *const *city = tg_city[(tg_mix(uid * 7919ull + 17) >> 16) % TG_N(tg_city)];
    unsigned n = 1 + (unsigned)(h % 3), total = 0;
    char created[32];
    tg_iso(created, sizeof created, TG_BASE_TIME - (int64_t)((h >> 8) % 31536000) * 1000000000);
    tg_printf(g, b, "{\"id\":%u,\"user_id\":%u,\"status\":\"%s\",\"currency\":\"EUR\",\"items\":[",
              oid, uid, tg_status[(h >> 40) % TG_N(tg_status)]);
    for (unsigned i = 0; i < n; i++) {
        unsigned p = (unsigned)(tg_mix(h + i) % TG_N(tg_product)), qty = 1 + (unsigned)(h >> (i * 4)) % 3;
        total += qty * tg_product[p].cents;
        tg_printf(g, b, "%s{\"sku\":\"%s\",\"name\":\"%s\",\"qty\":%u,\"unit_price\":\"%u.%02u\"}",
                  i ? "," : "", tg_product[p].sku, tg_product[p].name, qty,
                  tg_product[p].cents / 100, tg_product[p].cents % 100);
    }
    tg_printf(g, b,
              "],\"total\":\"%u.%02u\",\"created_at\":\"%s\",\"shipping\":{\"carrier\":\"%s\","
              "\"tracking\":\"JD%014llu\",\"address\":{\"city\":\"%s\",\"zip\":\"%s\","
              "\"country\":\"%s\"}}}",
              total / 100, total % 100, created, tg_carrier[(h >> 44) % TG_N(tg_carrier)],
              (unsigned long long)(h % 100000000000000ull), city[0], city[1], city[2]);
}

static void tg_orders_json(tg_gen *g, kl_buf *b, unsigned uid, unsigned page, unsigned limit,
                           unsigned n, unsigned total)
{
    tg_puts(g, b, "{\"data\":[");
    for (unsigned i = 0; i < n; i++) {
        if (i)
            tg_putc(g, b, ',');
        tg_order_json(g, b, uid * 50 + (page - 1) * limit + i, uid);
    }
    tg_printf(g, b, "],\"page\":%u,\"limit\":%u,\"total\":%u,\"next\":", page, limit, total);
    if (page * limit < total)
        tg_printf(g, b, "\"/api/orders?user_id=%u&page=%u&limit=%u\"}", uid, page + 1, limit);
    else
        tg_puts(g, b, "null}");
}

static void tg_product_json(tg_gen *g, kl_buf *b, unsigned p)
{
    uint64_t h = tg_mix(p + 991);
    tg_printf(g, b,
              "{\"sku\":\"%s\",\"name\":\"%s\",\"price\":\"%u.%02u\",\"currency\":\"EUR\","
              "\"stock\":%u,\"warehouse\":\"LYS-%u\",\"rating\":%u.%u}",
              tg_product[p].sku, tg_product[p].name, tg_product[p].cents / 100,
              tg_product[p].cents % 100, (unsigned)(h % 400), 1 + (unsigned)(h >> 10) % 3,
              3 + (unsigned)(h >> 20) % 2, (unsigned)(h >> 30) % 10);
}

/* ------------------------------------------------------------------ HTTP */

static void tg_http_request(tg_gen *g, kl_buf *b, const char *method, const char *host,
                            const char *path, const char *ua, const char *auth, const char *rid,
                            const char *traceparent, const kl_buf *body)
{
    tg_printf(g, b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: application/json\r\n"
              "Accept-Encoding: gzip\r\n", method, path, host, ua);
    if (auth)
        tg_printf(g, b, "Authorization: Bearer %s\r\n", auth);
    tg_printf(g, b, "X-Request-Id: %s\r\n", rid);
    if (traceparent)
        tg_printf(g, b, "traceparent: %s\r\n", traceparent);
    tg_puts(g, b, "Connection: keep-alive\r\n");
    if (body && body->len)
        tg_printf(g, b, "Content-Type: application/json\r\nContent-Length: %zu\r\n", body->len);
    tg_puts(g, b, "\r\n");
    if (body && body->len)
        tg_put(g, b, body->data, body->len);
}

static void tg_http_response(tg_gen *g, kl_buf *b, int status, int64_t t, const char *rid,
                             const char *server, bool chunked, const kl_buf *body)
{
    const char *reason = status == 200 ? "OK" : status == 201 ? "Created"
                       : status == 404 ? "Not Found" : status == 409 ? "Conflict"
                       : "Internal Server Error";
    char date[48];
    tg_httpdate(date, sizeof date, t);
    tg_printf(g, b, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: %s\r\n"
              "Content-Type: application/json; charset=utf-8\r\n", status, reason, date, server);
    if (chunked)
        tg_puts(g, b, "Transfer-Encoding: chunked\r\n");
    else
        tg_printf(g, b, "Content-Length: %zu\r\n", body->len);
    tg_printf(g, b, "Connection: keep-alive\r\nKeep-Alive: timeout=60\r\nCache-Control: no-store\r\n"
              "Vary: Accept-Encoding\r\nX-Request-Id: %s\r\n\r\n", rid);
    if (!chunked) {
        tg_put(g, b, body->data, body->len);
        return;
    }
    for (size_t off = 0; off < body->len;) {
        size_t n = body->len - off < 1024 ? body->len - off : 1024;
        tg_printf(g, b, "%zx\r\n", n);
        tg_put(g, b, body->data + off, n);
        tg_puts(g, b, "\r\n");
        off += n;
    }
    tg_puts(g, b, "0\r\n\r\n");
}

/* A JWT-shaped bearer token for user uid. */
static void tg_token(tg_gen *g, kl_buf *b, unsigned uid, int64_t t)
{
    char claims[160];
    int n = snprintf(claims, sizeof claims,
                     "{\"sub\":\"%u\",\"iat\":%lld,\"exp\":%lld,\"scope\":\"shop:read shop:write\"}",
                     uid, (long long)(t / 1000000000 - 600), (long long)(t / 1000000000 + 3000));
    tg_puts(g, b, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.");
    tg_base64url(g, b, (const uint8_t *)claims, (size_t)n);
    tg_putc(g, b, '.');
    uint8_t sig[32];
    for (size_t i = 0; i < sizeof sig; i++)
        sig[i] = (uint8_t)tg_rand(g);
    tg_base64url(g, b, sig, sizeof sig);
}

/* ------------------------------------------------------------------ Redis RESP */

static void tg_resp_cmd(tg_gen *g, kl_buf *b, int argc, const char *const *argv)
{
    tg_printf(g, b, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        tg_printf(g, b, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
}

static void tg_resp_bulk(tg_gen *g, kl_buf *b, const void *p, size_t n)
{
    tg_printf(g, b, "$%zu\r\n", n);
    tg_put(g, b, p, n);
    tg_puts(g, b, "\r\n");
}

/* ------------------------------------------------------------------ MySQL */

static void tg_my_lenenc(tg_gen *g, kl_buf *b, uint64_t v)
{
    uint8_t p[9];
    size_t n;
    if (v < 251) {
        p[0] = (uint8_t)v;
        n = 1;
    } else if (v < 65536) {
        p[0] = 0xfc, p[1] = (uint8_t)v, p[2] = (uint8_t)(v >> 8);
        n = 3;
    } else {
        p[0] = 0xfd, p[1] = (uint8_t)v, p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)(v >> 16);
        n = 4;
    }
    tg_put(g, b, p, n);
}

static void tg_my_str(tg_gen *g, kl_buf *b, const char *s)
{
    tg_my_lenenc(g, b, strlen(s));
    tg_puts(g, b, s);
}

static void tg_le(tg_gen *g, kl_buf *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        tg_putc(g, b, (uint8_t)(v >> (8 * i)));
}

/* Move g->pkt into b as one packet with sequence number seq. */
static void tg_my_packet(tg_gen *g, kl_buf *b, uint8_t seq)
{
    tg_le(g, b, g->pkt.len, 3);
    tg_putc(g, b, seq);
    tg_put(g, b, g->pkt.data, g->pkt.len);
    g->pkt.len = 0;
}

static void tg_my_ok(tg_gen *g, kl_buf *b, uint8_t seq, uint64_t affected, uint64_t insert_id,
                     const char *info)
{
    tg_putc(g, &g->pkt, 0x00);
    tg_my_lenenc(g, &g->pkt, affected);
    tg_my_lenenc(g, &g->pkt, insert_id);
    tg_le(g, &g->pkt, 0x0002, 2); /* SERVER_STATUS_AUTOCOMMIT */
    tg_le(g, &g->pkt, 0, 2);
    if (info)
        tg_puts(g, &g->pkt, info);
    tg_my_packet(g, b, seq);
}

static void tg_my_eof(tg_gen *g, kl_buf *b, uint8_t seq)
{
    tg_putc(g, &g->pkt, 0xfe);
    tg_le(g, &g->pkt, 0, 2);
    tg_le(g, &g->pkt, 0x0022, 2);
    tg_my_packet(g, b, seq);
}

/* Protocol 10 greeting, the server's first words on a new connection. */
static void tg_my_greeting(tg_gen *g, kl_buf *b)
{
    tg_putc(g, &g->pkt, 10);
    tg_put(g, &g->pkt, "8.0.36", 7);
    tg_le(g, &g->pkt, ++g->mysql_conn_id, 4);
    for (int i = 0; i < 8; i++)
        tg_putc(g, &g->pkt, (uint8_t)(1 + tg_below(g, 126)));
    tg_putc(g, &g->pkt, 0);
    tg_le(g, &g->pkt, 0xffff, 2);
    tg_putc(g, &g->pkt, 0xff); /* utf8mb4_0900_ai_ci */
    tg_le(g, &g->pkt, 0x0002, 2);
    tg_le(g, &g->pkt, 0xdfff, 2);
    tg_putc(g, &g->pkt, 21);
    tg_put(g, &g->pkt, "\0\0\0\0\0\0\0\0\0\0", 10);
    for (int i = 0; i < 12; i++)
        tg_putc(g, &g->pkt, (uint8_t)(1 + tg_below(g, 126)));
    tg_putc(g, &g->pkt, 0);
    tg_put(g, &g->pkt, "caching_sha2_password", 22);
    tg_my_packet(g, b, 0);
}

/* HandshakeResponse41 from user "shop_app" to database "shop". */
static void tg_my_login(tg_gen *g, kl_buf *b)
{
    tg_le(g, &g->pkt, 0x002aa20d, 4);
    tg_le(g, &g->pkt, 16777216, 4);
    tg_putc(g, &g->pkt, 0xff);
    tg_put(g, &g->pkt, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 23);
    tg_put(g, &g->pkt, "shop_app", 9);
    tg_putc(g, &g->pkt, 32);
    for (int i = 0; i < 32; i++)
        tg_putc(g, &g->pkt, (uint8_t)tg_rand(g));
    tg_put(g, &g->pkt, "shop", 5);
    tg_put(g, &g->pkt, "caching_sha2_password", 22);
    tg_my_packet(g, b, 1);
}

static void tg_my_query(tg_gen *g, kl_buf *b, const char *sql)
{
    tg_putc(g, &g->pkt, 0x03);
    tg_puts(g, &g->pkt, sql);
    tg_my_packet(g, b, 0);
}

typedef struct tg_col {
    const char *name;
    uint8_t type;
    uint16_t charset;
    uint32_t length;
    uint16_t flags;
    uint8_t decimals;
} tg_col;

static const tg_col tg_user_cols[] = {
    {"id", 0x08, 63, 20, 0x4223, 0},      {"username", 0xfd, 255, 256, 0x5005, 0},
    {"email", 0xfd, 255, 1020, 0x5005, 0}, {"name", 0xfd, 255, 512, 0x0001, 0},
    {"created_at", 0x0c, 63, 19, 0x0081, 0}};
static const tg_col tg_order_cols[] = {
    {"id", 0x08, 63, 20, 0x4223, 0},      {"status", 0xfd, 255, 80, 0x0001, 0},
    {"total", 0xf6, 63, 12, 0x0001, 2},   {"currency", 0xfe, 255, 12, 0x0001, 0},
    {"created_at", 0x0c, 63, 19, 0x0081, 0}};

/* Column count, definitions and the EOF after them; rows follow from seq *seq. */
static void tg_my_columns(tg_gen *g, kl_buf *b, const char *table, const tg_col *cols, int n,
                          uint8_t *seq)
{
    tg_my_lenenc(g, &g->pkt, (uint64_t)n);
    tg_my_packet(g, b, (*seq)++);
    for (int i = 0; i < n; i++) {
        tg_my_str(g, &g->pkt, "def");
        tg_my_str(g, &g->pkt, "shop");
        tg_my_str(g, &g->pkt, table);
        tg_my_str(g, &g->pkt, table);
        tg_my_str(g, &g->pkt, cols[i].name);
        tg_my_str(g, &g->pkt, cols[i].name);
        tg_putc(g, &g->pkt, 0x0c);
        tg_le(g, &g->pkt, cols[i].charset, 2);
        tg_le(g, &g->pkt, cols[i].length, 4);
        tg_putc(g, &g->pkt, cols[i].type);
        tg_le(g, &g->pkt, cols[i].flags, 2);
        tg_putc(g, &g->pkt, cols[i].decimals);
        tg_le(g, &g->pkt, 0, 2);
        tg_my_packet(g, b, (*seq)++);
    }
    tg_my_eof(g, b, (*seq)++);
}

/* ------------------------------------------------------------------ FastCGI */

static void tg_fcgi_record(tg_gen *g, kl_buf *b, uint8_t type, const void *data, size_t len)
{
    size_t pad = (8 - len % 8) % 8;
    uint8_t h[8] = {1, type, 0, 1, (uint8_t)(len >> 8), (uint8_t)len, (uint8_t)pad, 0};
    tg_put(g, b, h, 8);
    tg_put(g, b, data, len);
    tg_put(g, b, "\0\0\0\0\0\0\0", pad);
}

/* A stream of records of one type, split at 64 KiB, ended by an empty record. */
static void tg_fcgi_stream(tg_gen *g, kl_buf *b, uint8_t type, const uint8_t *data, size_t len)
{
    for (size_t off = 0; off < len;) {
        size_t n = len - off > 65528 ? 65528 : len - off;
        tg_fcgi_record(g, b, type, data + off, n);
        off += n;
    }
    tg_fcgi_record(g, b, type, NULL, 0);
}

static void tg_fcgi_param(tg_gen *g, kl_buf *b, const char *name, const char *value)
{
    size_t ln = strlen(name), lv = strlen(value);
    const size_t lens[2] = {ln, lv};
    for (int i = 0; i < 2; i++) {
        if (lens[i] < 128)
            tg_putc(g, b, (uint8_t)lens[i]);
        else
            tg_le(g, b, __builtin_bswap32((uint32_t)lens[i] | 0x80000000u), 4);
    }
    tg_put(g, b, name, ln);
    tg_put(g, b, value, lv);
}

/* ------------------------------------------------------------------ sessions */

/* Build state of the session being generated. */
typedef struct tg_sess {
    tg_gen *g;
    kl_session *s;
    int th;
    int64_t t;              /* time cursor */
    char rid[40];
    char traceparent[64];
    bool traced;
    bool truncate;
} tg_sess;

TG_FN void tg_init(tg_gen *g, uint64_t seed, int n_threads, int n_peers)
{
    memset(g, 0, sizeof *g);
    g->rng = seed;
    g->now = TG_BASE_TIME;
    g->n_threads = n_threads < 1 ? 1 : n_threads > TG_MAX_THREADS ? TG_MAX_THREADS : n_threads;
    g->thread_base = 7101;
    g->n_peers = n_peers < 1 ? 1 : n_peers;
    g->n_users = 5000;
    g->next_fd = 12;
    g->next_port = 40000;
    g->mysql_conn_id = 1700;
    g->order_seq = 900000;
}

TG_FN void tg_free(tg_gen *g)
{
    kl_buf_free(&g->in);
    kl_buf_free(&g->out);
    kl_buf_free(&g->body);
    kl_buf_free(&g->tmp);
    kl_buf_free(&g->pkt);
}

static tg_conn *tg_connect(tg_sess *x, int which)
{
    tg_conn *c = &x->g->conn[x->th][which];
    if (!c->open) {
        c->open = true;
        c->fd = x->g->next_fd;
        x->g->next_fd = x->g->next_fd >= 1000 ? 12 : x->g->next_fd + 1;
        c->port = x->g->next_port;
        x->g->next_port = x->g->next_port >= 60999 ? 40000 : (uint16_t)(x->g->next_port + 1);
    }
    return c;
}

/* Record one outbound call on this thread's connection `which`; the bytes are copied. */
static void tg_call_bytes(tg_sess *x, int which, const kl_addr *peer, const uint8_t *req,
                          size_t reqlen, const uint8_t *resp, size_t resplen, int64_t lat_lo,
                          int64_t lat_hi)
{
    tg_conn *c = tg_connect(x, which);
    char cspan[17];
    kl_action a;
    memset(&a, 0, sizeof a);
    a.type = KL_ACTION_CALL_OUTBOUND;
    a.index = (int64_t)x->s->n_actions;
    a.occurred_at = x->t;
    a.socket_fd = c->fd;
    a.peer = *peer;
    tg_addr4(&a.local, 10, 0, 1, 40, c->port);
    a.request = (kl_bytes){req, reqlen};
    a.response = (kl_bytes){resp, resplen};
    if (x->truncate && resplen > 700)
        a.response.len = 700; /* the recorder's byte limit cut it */
    a.response_time = x->t + tg_range(x->g, lat_lo, lat_hi);
    if (x->traced) {
        tg_hex(x->g, cspan, 16);
        a.cspan_id = (kl_bytes){(const uint8_t *)cspan, 16};
    }
    tg_check(x->g, kl_session_add_action(x->s, &a));
    x->t = a.response_time + (int64_t)(resplen / 64) * 100 + tg_range(x->g, 20000, 300000);
}

static void tg_add_plain(tg_sess *x, kl_action *a)
{
    a->index = (int64_t)x->s->n_actions;
    a->occurred_at = x->t;
    tg_check(x->g, kl_session_add_action(x->s, a));
    x->t += tg_range(x->g, 5000, 60000);
}

/* An HTTP call to an internal JSON service: g->body holds the request body (may be empty),
 * the response body is produced by fill(). */
static void tg_backend(tg_sess *x, int which, const char *method, const char *path, int status,
                       void (*fill)(tg_gen *, kl_buf *, unsigned, unsigned), unsigned a1, unsigned a2)
{
    static const char *const hosts[] = {"profile-svc.internal:8080", "order-svc.internal:8080",
                                        "pricing-svc.internal:8080", "inventory-svc.internal:8080"};
    static const char *const servers[] = {"envoy", "envoy", "gunicorn", "nginx/1.24.0"};
    tg_gen *g = x->g;
    kl_addr peer;
    tg_addr4(&peer, 10, 0, 2, (uint8_t)(30 + which), 8080);
    g->out.len = 0;
    g->in.len = 0;
    tg_http_request(g, &g->out, method, hosts[which], path, "sample-svc/2.3.1 Go-http-client/1.1",
                    NULL, x->rid, x->traced ? x->traceparent : NULL, &g->body);
    g->body.len = 0;
    fill(g, &g->body, a1, a2);
    tg_http_response(g, &g->in, status, x->t + 3000000, x->rid, servers[which],
                     g->body.len > 2048 && tg_chance(g, 50), &g->body);
    g->body.len = 0;
    tg_call_bytes(x, which, &peer, (const uint8_t *)g->out.data, g->out.len,
                  (const uint8_t *)g->in.data, g->in.len, 1500000, 25000000);
}

static void tg_fill_user(tg_gen *g, kl_buf *b, unsigned uid, unsigned unused)
{
    (void)unused;
    tg_user_json(g, b, uid);
}

static void tg_fill_orders(tg_gen *g, kl_buf *b, unsigned uid, unsigned n)
{
    tg_orders_json(g, b, uid, 1, 10, n, n + (uid % 3) * 10);
}

static void tg_fill_order(tg_gen *g, kl_buf *b, unsigned oid, unsigned uid)
{
    tg_order_json(g, b, oid, uid);
}

static void tg_fill_quote(tg_gen *g, kl_buf *b, unsigned oid, unsigned uid)
{
    char id[17], until[32];
    tg_hex(g, id, 16);
    tg_iso(until, sizeof until, TG_BASE_TIME + 86400000000000LL);
    unsigned cents = (unsigned)(tg_mix(oid * 104729ull + 3) % 90000) + 999;
    tg_printf(g, b, "{\"quote_id\":\"q_%s\",\"user_id\":%u,\"currency\":\"EUR\",\"subtotal\":\"%u.%02u\","
              "\"tax\":\"%u.%02u\",\"shipping\":\"4.90\",\"total\":\"%u.%02u\",\"valid_until\":\"%s\"}",
              id, uid, cents / 100, cents % 100, cents / 500, cents / 5 % 100,
              (cents + cents / 5 + 490) / 100, (cents + cents / 5 + 490) % 100, until);
}

static void tg_fill_stock(tg_gen *g, kl_buf *b, unsigned first, unsigned n)
{
    tg_puts(g, b, "{\"items\":[");
    for (unsigned i = 0; i < n; i++) {
        unsigned p = (first + i * 5) % TG_N(tg_product);
        tg_printf(g, b, "%s{\"sku\":\"%s\",\"available\":%u,\"reserved\":%u,\"warehouse\":\"LYS-%u\"}",
                  i ? "," : "", tg_product[p].sku, (unsigned)(tg_mix(p) % 300),
                  (unsigned)(tg_mix(p + 7) % 20), 1 + p % 3);
    }
    tg_puts(g, b, "]}");
}

/* Routes of the inbound API. */
enum { TG_GET_USER, TG_UPDATE_USER, TG_LIST_ORDERS, TG_CREATE_ORDER };

static void tg_http_outbound(tg_sess *x, int route, unsigned uid, unsigned oid)
{
    tg_gen *g = x->g;
    char path[160];
    switch (route) {
    case TG_GET_USER:
        snprintf(path, sizeof path, "/v2/profiles/%u", uid);
        tg_backend(x, TG_C_PROFILE, "GET", path, 200, tg_fill_user, uid, 0);
        break;
    case TG_UPDATE_USER:
        snprintf(path, sizeof path, "/v2/profiles/%u", uid);
        tg_user_json(g, &g->body, uid);
        tg_backend(x, TG_C_PROFILE, "PUT", path, 200, tg_fill_user, uid, 0);
        break;
    case TG_LIST_ORDERS:
        snprintf(path, sizeof path, "/v1/orders?user_id=%u&offset=0&limit=10", uid);
        tg_backend(x, TG_C_ORDERS, "GET", path, 200, tg_fill_orders, uid, 1 + uid % 9);
        snprintf(path, sizeof path, "/v1/stock?skus=%s,%s", tg_product[uid % TG_N(tg_product)].sku,
                 tg_product[(uid + 5) % TG_N(tg_product)].sku);
        tg_backend(x, TG_C_STOCK, "GET", path, 200, tg_fill_stock, uid, 2);
        break;
    case TG_CREATE_ORDER:
        tg_printf(g, &g->body, "{\"user_id\":%u,\"currency\":\"EUR\",\"items\":[{\"sku\":\"%s\",\"qty\":%u}]}",
                  uid, tg_product[oid % TG_N(tg_product)].sku, 1 + oid % 3);
        tg_backend(x, TG_C_PRICING, "POST", "/v1/quotes", 200, tg_fill_quote, oid, uid);
        tg_order_json(g, &g->body, oid, uid);
        tg_backend(x, TG_C_ORDERS, "POST", "/v1/orders", 201, tg_fill_order, oid, uid);
        break;
    default:
        break;
    }
}

static void tg_redis(tg_sess *x, int argc, const char *const *argv, const kl_buf *reply)
{
    tg_gen *g = x->g;
    kl_addr peer;
    tg_addr4(&peer, 10, 0, 3, 11, 6379);
    g->out.len = 0;
    tg_resp_cmd(g, &g->out, argc, argv);
    tg_call_bytes(x, TG_C_REDIS, &peer, (const uint8_t *)g->out.data, g->out.len,
                  (const uint8_t *)reply->data, reply->len, 80000, 450000);
}

static void tg_redis_outbound(tg_sess *x, int route, unsigned uid, unsigned oid)
{
    tg_gen *g = x->g;
    char key[96], val[32], minute[32];
    time_t sec = (time_t)(x->t / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(minute, sizeof minute, "%Y%m%d%H%M", &tm);
    /* rate limiting on every request */
    snprintf(key, sizeof key, "ratelimit:%u:%s", uid, minute);
    unsigned hits = 1 + tg_below(g, 4);
    g->tmp.len = 0;
    tg_printf(g, &g->tmp, ":%u\r\n", hits);
    tg_redis(x, 2, (const char *const[]){"INCR", key}, &g->tmp);
    if (hits == 1) {
        g->tmp.len = 0;
        tg_puts(g, &g->tmp, ":1\r\n");
        tg_redis(x, 3, (const char *const[]){"EXPIRE", key, "60"}, &g->tmp);
    }
    switch (route) {
    case TG_GET_USER:
        snprintf(key, sizeof key, "user:%u:profile", uid);
        g->tmp.len = 0;
        g->body.len = 0;
        tg_user_json(g, &g->body, uid);
        if (tg_chance(g, 70)) {
            tg_resp_bulk(g, &g->tmp, g->body.data, g->body.len);
            tg_redis(x, 2, (const char *const[]){"GET", key}, &g->tmp);
        } else {
            tg_puts(g, &g->tmp, "$-1\r\n");
            tg_redis(x, 2, (const char *const[]){"GET", key}, &g->tmp);
            g->tmp.len = 0;
            tg_puts(g, &g->tmp, "+OK\r\n");
            tg_redis(x, 5, (const char *const[]){"SET", key, g->body.data, "EX", "300"}, &g->tmp);
        }
        g->body.len = 0;
        break;
    case TG_UPDATE_USER:
        snprintf(key, sizeof key, "user:%u:profile", uid);
        g->body.len = 0;
        tg_user_json(g, &g->body, uid);
        g->tmp.len = 0;
        tg_puts(g, &g->tmp, "+OK\r\n");
        tg_redis(x, 5, (const char *const[]){"SET", key, g->body.data, "EX", "300"}, &g->tmp);
        g->body.len = 0;
        break;
    case TG_LIST_ORDERS: {
        snprintf(key, sizeof key, "cart:%u", uid);
        g->tmp.len = 0;
        if (tg_chance(g, 4)) {
            tg_puts(g, &g->tmp, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
            tg_redis(x, 2, (const char *const[]){"GET", key}, &g->tmp);
            g->tmp.len = 0;
        }
        unsigned n = uid % 4;
        tg_printf(g, &g->tmp, "*%u\r\n", n * 2);
        for (unsigned i = 0; i < n; i++) {
            const char *sku = tg_product[(uid + i * 3) % TG_N(tg_product)].sku;
            snprintf(val, sizeof val, "%u", 1 + (uid + i) % 3);
            tg_resp_bulk(g, &g->tmp, sku, strlen(sku));
            tg_resp_bulk(g, &g->tmp, val, strlen(val));
        }
        tg_redis(x, 2, (const char *const[]){"HGETALL", key}, &g->tmp);
        const char *argv[8];
        char keys[7][32];
        unsigned m = 2 + uid % 5;
        argv[0] = "MGET";
        g->tmp.len = 0;
        tg_printf(g, &g->tmp, "*%u\r\n", m);
        for (unsigned i = 0; i < m; i++) {
            unsigned p = (uid * 7 + i * 3) % TG_N(tg_product);
            snprintf(keys[i], sizeof keys[i], "product:%s", tg_product[p].sku);
            argv[i + 1] = keys[i];
            if (tg_chance(g, 85)) {
                g->body.len = 0;
                tg_product_json(g, &g->body, p);
                tg_resp_bulk(g, &g->tmp, g->body.data, g->body.len);
            } else {
                tg_puts(g, &g->tmp, "$-1\r\n");
            }
        }
        g->body.len = 0;
        tg_redis(x, (int)m + 1, argv, &g->tmp);
        break;
    }
    case TG_CREATE_ORDER:
        g->tmp.len = 0;
        tg_printf(g, &g->tmp, ":%u\r\n", oid);
        tg_redis(x, 2, (const char *const[]){"INCR", "order:seq"}, &g->tmp);
        snprintf(key, sizeof key, "order:%u", oid);
        g->body.len = 0;
        tg_order_json(g, &g->body, oid, uid);
        g->tmp.len = 0;
        tg_puts(g, &g->tmp, "+OK\r\n");
        tg_redis(x, 5, (const char *const[]){"SET", key, g->body.data, "EX", "86400"}, &g->tmp);
        g->body.len = 0;
        break;
    default:
        break;
    }
}

/* One MySQL exchange: g->out holds the request packets, g->in the response packets. */
static void tg_mysql_call(tg_sess *x, int64_t lo, int64_t hi)
{
    kl_addr peer;
    tg_addr4(&peer, 10, 0, 4, 5, 3306);
    tg_call_bytes(x, TG_C_MYSQL, &peer, (const uint8_t *)x->g->out.data, x->g->out.len,
                  (const uint8_t *)x->g->in.data, x->g->in.len, lo, hi);
    x->g->out.len = 0;
    x->g->in.len = 0;
}

static void tg_mysql_outbound(tg_sess *x, int route, unsigned uid, unsigned oid)
{
    tg_gen *g = x->g;
    char sql[512], created[32], now[32];
    uint8_t seq = 1;
    tg_conn *c = &g->conn[x->th][TG_C_MYSQL];
    g->out.len = 0;
    g->in.len = 0;
    if (!c->open || tg_chance(g, 10)) {
        /* a new pooled connection: the server speaks first, then the login */
        c->open = false;
        tg_my_greeting(g, &g->in);
        tg_mysql_call(x, 60000, 250000);
        tg_my_login(g, &g->out);
        tg_putc(g, &g->pkt, 0x01);
        tg_putc(g, &g->pkt, 0x03); /* caching_sha2 fast auth success */
        tg_my_packet(g, &g->in, 2);
        tg_my_ok(g, &g->in, 3, 0, 0, NULL);
        tg_mysql_call(x, 150000, 600000);
    }
    tg_sqltime(now, sizeof now, x->t);
    switch (route) {
    case TG_GET_USER: {
        snprintf(sql, sizeof sql, "SELECT id, username, email, name, created_at FROM users WHERE id = %u", uid);
        tg_my_query(g, &g->out, sql);
        tg_my_columns(g, &g->in, "users", tg_user_cols, 5, &seq);
        if (!tg_chance(g, 5)) {
            uint64_t h = tg_mix(uid * 7919ull + 17);
            const char *first = tg_first[h % TG_N(tg_first)], *last = tg_last[(h >> 8) % TG_N(tg_last)];
            char id[16], user[64], mail[96], name[64], lf[32], ll[32];
            tg_lower(lf, sizeof lf, first);
            tg_lower(ll, sizeof ll, last);
            snprintf(id, sizeof id, "%u", uid);
            snprintf(user, sizeof user, "%c%s%u", lf[0], ll, uid % 100);
            snprintf(mail, sizeof mail, "%s.%s%u@%s", lf, ll, uid % 1000, tg_domain[(h >> 24) % TG_N(tg_domain)]);
            snprintf(name, sizeof name, "%s %s", first, last);
            tg_sqltime(created, sizeof created, 1609459200000000000LL + (int64_t)(h % 94608000) * 1000000000);
            const char *row[] = {id, user, mail, name, created};
            for (int i = 0; i < 5; i++)
                tg_my_str(g, &g->pkt, row[i]);
            tg_my_packet(g, &g->in, seq++);
        }
        tg_my_eof(g, &g->in, seq);
        tg_mysql_call(x, 250000, 3000000);
        break;
    }
    case TG_UPDATE_USER:
        snprintf(sql, sizeof sql, "UPDATE users SET last_login_at = '%s', login_count = login_count + 1 WHERE id = %u", now, uid);
        tg_my_query(g, &g->out, sql);
        tg_my_ok(g, &g->in, 1, 1, 0, "Rows matched: 1  Changed: 1  Warnings: 0");
        tg_mysql_call(x, 400000, 4000000);
        break;
    case TG_LIST_ORDERS: {
        snprintf(sql, sizeof sql, "SELECT id, status, total, currency, created_at FROM orders WHERE user_id = %u "
                 "ORDER BY created_at DESC LIMIT 10", uid);
        tg_my_query(g, &g->out, sql);
        tg_my_columns(g, &g->in, "orders", tg_order_cols, 5, &seq);
        unsigned n = uid % 11;
        for (unsigned i = 0; i < n; i++) {
            unsigned o = uid * 50 + i;
            uint64_t h = tg_mix(o * 104729ull + 3);
            char id[16], total[24];
            snprintf(id, sizeof id, "%u", o);
            snprintf(total, sizeof total, "%u.%02u", (unsigned)(h % 90000) / 100 + 9, (unsigned)(h % 100));
            tg_sqltime(created, sizeof created, TG_BASE_TIME - (int64_t)((h >> 8) % 31536000) * 1000000000);
            const char *row[] = {id, tg_status[(h >> 40) % TG_N(tg_status)], total, "EUR", created};
            for (int k = 0; k < 5; k++)
                tg_my_str(g, &g->pkt, row[k]);
            tg_my_packet(g, &g->in, seq++);
        }
        tg_my_eof(g, &g->in, seq);
        tg_mysql_call(x, 300000, 5000000);
        break;
    }
    case TG_CREATE_ORDER: {
        unsigned cents = (unsigned)(tg_mix(oid * 104729ull + 3) % 90000) + 999;
        snprintf(sql, sizeof sql, "INSERT INTO orders (user_id, status, total, currency, created_at) "
                 "VALUES (%u, 'pending', '%u.%02u', 'EUR', '%s')", uid, cents / 100, cents % 100, now);
        tg_my_query(g, &g->out, sql);
        if (tg_chance(g, 3)) {
            tg_putc(g, &g->pkt, 0xff);
            tg_le(g, &g->pkt, 1062, 2);
            tg_printf(g, &g->pkt, "#23000Duplicate entry '%u' for key 'orders.PRIMARY'", oid);
            tg_my_packet(g, &g->in, 1);
        } else {
            tg_my_ok(g, &g->in, 1, 1, oid, NULL);
        }
        tg_mysql_call(x, 500000, 6000000);
        snprintf(sql, sizeof sql, "UPDATE users SET last_order_at = '%s' WHERE id = %u", now, uid);
        tg_my_query(g, &g->out, sql);
        tg_my_ok(g, &g->in, 1, 1, 0, "Rows matched: 1  Changed: 1  Warnings: 0");
        tg_mysql_call(x, 400000, 4000000);
        break;
    }
    default:
        break;
    }
}

/* The inbound HTTP request of route into g->in. */
static void tg_inbound_http(tg_sess *x, int route, unsigned uid, int peer)
{
    tg_gen *g = x->g;
    char path[160];
    const char *method = "GET";
    g->body.len = 0;
    switch (route) {
    case TG_GET_USER:
        snprintf(path, sizeof path, "/api/users/%u", uid);
        break;
    case TG_UPDATE_USER: {
        uint64_t h = tg_mix(uid * 7919ull + 17);
        method = "POST";
        snprintf(path, sizeof path, "/api/users/%u", uid);
        tg_printf(g, &g->body, "{\"name\":\"%s %s\",\"phone\":\"+33 6 %02u %02u %02u %02u\","
                  "\"preferences\":{\"newsletter\":%s,\"language\":\"%s\",\"currency\":\"EUR\"}}",
                  tg_first[h % TG_N(tg_first)], tg_last[(h >> 8) % TG_N(tg_last)],
                  tg_below(g, 100), tg_below(g, 100), tg_below(g, 100), tg_below(g, 100),
                  tg_chance(g, 50) ? "true" : "false", tg_lang[tg_below(g, TG_N(tg_lang))]);
        break;
    }
    case TG_LIST_ORDERS:
        snprintf(path, sizeof path, "/api/orders?user_id=%u&status=%s&page=1&limit=10", uid,
                 tg_status[tg_below(g, 4)]);
        break;
    case TG_CREATE_ORDER:
    default: {
        method = "POST";
        snprintf(path, sizeof path, "/api/orders");
        unsigned n = 1 + tg_below(g, 3);
        tg_printf(g, &g->body, "{\"user_id\":%u,\"currency\":\"EUR\",\"items\":[", uid);
        for (unsigned i = 0; i < n; i++) {
            unsigned p = tg_below(g, TG_N(tg_product));
            tg_printf(g, &g->body, "%s{\"sku\":\"%s\",\"qty\":%u}", i ? "," : "", tg_product[p].sku,
                      1 + tg_below(g, 3));
        }
        const char *const *city = tg_city[(tg_mix(uid * 7919ull + 17) >> 16) % TG_N(tg_city)];
        tg_printf(g, &g->body, "],\"shipping_address\":{\"city\":\"%s\",\"zip\":\"%s\",\"country\":\"%s\"},"
                  "\"payment\":{\"method\":\"card\",\"token\":\"tok_%08x%08x\"},\"coupon\":%s}",
                  city[0], city[1], city[2], (unsigned)tg_rand(g), (unsigned)tg_rand(g),
                  tg_chance(g, 20) ? "\"SPRING24\"" : "null");
        break;
    }
    }
    g->tmp.len = 0;
    tg_token(g, &g->tmp, uid, x->t);
    g->in.len = 0;
    tg_http_request(g, &g->in, method, "api.shop.example.com", path, tg_ua[(unsigned)peer * 2 % TG_N(tg_ua) + (uid & 1)],
                    g->tmp.data, x->rid, x->traced ? x->traceparent : NULL, &g->body);
    g->body.len = 0;
}

/* The response body of route into g->body; returns the HTTP status. */
static int tg_reply_body(tg_sess *x, int route, unsigned uid, unsigned oid)
{
    tg_gen *g = x->g;
    g->body.len = 0;
    if (route == TG_GET_USER && tg_chance(g, 4)) {
        tg_printf(g, &g->body, "{\"error\":{\"code\":\"not_found\",\"message\":\"user %u not found\"},"
                  "\"request_id\":\"%s\"}", uid, x->rid);
        return 404;
    }
    switch (route) {
    case TG_GET_USER:
    case TG_UPDATE_USER:
        tg_user_json(g, &g->body, uid);
        return 200;
    case TG_LIST_ORDERS:
        tg_orders_json(g, &g->body, uid, 1, 10, uid % 10, uid % 10 + (uid % 3) * 10);
        return 200;
    case TG_CREATE_ORDER:
    default:
        tg_order_json(g, &g->body, oid, uid);
        return 201;
    }
}

static void tg_fcgi_inbound(tg_sess *x, int route, unsigned uid)
{
    tg_gen *g = x->g;
    char qs[128], uri[192], port[8];
    snprintf(qs, sizeof qs, route == TG_GET_USER ? "r=user&id=%u" : "r=orders&user_id=%u&page=1", uid);
    snprintf(uri, sizeof uri, "/index.php?%s", qs);
    snprintf(port, sizeof port, "%u", 40000 + tg_below(g, 20000));
    g->tmp.len = 0;
    const char *params[][2] = {
        {"SCRIPT_FILENAME", "/var/www/shop/public/index.php"}, {"QUERY_STRING", qs},
        {"REQUEST_METHOD", "GET"}, {"CONTENT_TYPE", ""}, {"CONTENT_LENGTH", ""},
        {"SCRIPT_NAME", "/index.php"}, {"REQUEST_URI", uri}, {"DOCUMENT_URI", "/index.php"},
        {"DOCUMENT_ROOT", "/var/www/shop/public"}, {"SERVER_PROTOCOL", "HTTP/1.1"},
        {"REQUEST_SCHEME", "https"}, {"HTTPS", "on"}, {"GATEWAY_INTERFACE", "CGI/1.1"},
        {"SERVER_SOFTWARE", "nginx/1.24.0"}, {"REMOTE_ADDR", "203.0.113.24"}, {"REMOTE_PORT", port},
        {"SERVER_ADDR", "10.0.1.40"}, {"SERVER_PORT", "443"}, {"SERVER_NAME", "shop.example.com"},
        {"REDIRECT_STATUS", "200"}, {"HTTP_HOST", "shop.example.com"},
        {"HTTP_USER_AGENT", tg_ua[2]}, {"HTTP_ACCEPT", "application/json"},
        {"HTTP_ACCEPT_ENCODING", "gzip, deflate, br"}, {"HTTP_X_REQUEST_ID", x->rid}};
    for (size_t i = 0; i < TG_N(params); i++)
        tg_fcgi_param(g, &g->tmp, params[i][0], params[i][1]);
    g->in.len = 0;
    static const uint8_t begin[8] = {0, 1, 1, 0, 0, 0, 0, 0}; /* FCGI_RESPONDER, KEEP_CONN */
    tg_fcgi_record(g, &g->in, 1, begin, 8);
    tg_fcgi_stream(g, &g->in, 4, (const uint8_t *)g->tmp.data, g->tmp.len);
    tg_fcgi_record(g, &g->in, 5, NULL, 0);
    g->tmp.len = 0;
}

static void tg_fcgi_reply(tg_sess *x, int status)
{
    tg_gen *g = x->g;
    g->tmp.len = 0;
    tg_printf(g, &g->tmp, "%sX-Powered-By: PHP/8.2.15\r\nContent-Type: application/json\r\n"
              "Cache-Control: no-store, no-cache\r\n\r\n", status == 404 ? "Status: 404 Not Found\r\n" : "");
    tg_put(g, &g->tmp, g->body.data, g->body.len);
    g->out.len = 0;
    tg_fcgi_stream(g, &g->out, 6, (const uint8_t *)g->tmp.data, g->tmp.len);
    static const uint8_t end[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    tg_fcgi_record(g, &g->out, 3, end, 8);
    g->tmp.len = 0;
}

static void tg_side_effects(tg_sess *x, const char *method_route, int status, unsigned uid)
{
    tg_gen *g = x->g;
    kl_action a;
    if (tg_chance(g, 25)) {
        char ts[32];
        tg_iso(ts, sizeof ts, x->t);
        g->tmp.len = 0;
        tg_printf(g, &g->tmp, "%s INFO http request_id=%s route=\"%s\" status=%d user_id=%u "
                  "duration_ms=%.1f thread=%lld\n", ts, x->rid, method_route, status, uid,
                  (double)(x->t - kl_session_time(x->s)) / 1e6, (long long)x->s->thread_id);
        memset(&a, 0, sizeof a);
        a.type = KL_ACTION_APPEND_FILE;
        a.file_name = "/var/log/sample-svc/app.log";
        a.content = (kl_bytes){(const uint8_t *)g->tmp.data, g->tmp.len};
        tg_add_plain(x, &a);
    }
    if (tg_chance(g, 30)) {
        g->tmp.len = 0;
        tg_printf(g, &g->tmp, "sample_svc.http.requests:1|c|#route:%s,status:%d\n"
                  "sample_svc.http.latency_ms:%.2f|ms|#route:%s", method_route, status,
                  (double)(x->t - kl_session_time(x->s)) / 1e6, method_route);
        memset(&a, 0, sizeof a);
        a.type = KL_ACTION_SEND_UDP;
        tg_addr4(&a.peer, 127, 0, 0, 1, 8125);
        a.content = (kl_bytes){(const uint8_t *)g->tmp.data, g->tmp.len};
        tg_add_plain(x, &a);
    }
}

static void tg_extras(tg_sess *x, unsigned extras, unsigned uid)
{
    tg_gen *g = x->g;
    kl_action a;
    if (extras & TG_STORAGE) {
        g->tmp.len = 0;
        tg_printf(g, &g->tmp, "{\"feature_flags\":{\"new_checkout\":true,\"reco_v2\":false,"
                  "\"max_cart_items\":50},\"user_segment\":\"%s\",\"ab_bucket\":%u}",
                  tg_tier[uid % TG_N(tg_tier)], uid % 16);
        memset(&a, 0, sizeof a);
        a.type = KL_ACTION_READ_STORAGE;
        a.content = (kl_bytes){(const uint8_t *)g->tmp.data, g->tmp.len};
        tg_add_plain(x, &a);
    }
    if (extras & TG_FUNCTION) {
        char args[160], id[24], ret[160];
        snprintf(args, sizeof args, "[{\"sku\":\"%s\",\"qty\":2},\"EUR\",%u]",
                 tg_product[uid % TG_N(tg_product)].sku, uid);
        memset(&a, 0, sizeof a);
        a.type = KL_ACTION_CALL_FUNCTION;
        a.func_name = "App\\Service\\PriceCalculator::quote";
        a.call_into_file = "/var/www/shop/src/Service/PriceCalculator.php";
        a.call_into_line = 42;
        a.call_from_file = "/var/www/shop/src/Controller/OrderController.php";
        a.call_from_line = 118;
        a.args_json = args;
        snprintf(id, sizeof id, "%zu", x->s->n_actions);
        tg_add_plain(x, &a);
        snprintf(ret, sizeof ret, "{\"subtotal\":\"%u.%02u\",\"currency\":\"EUR\"}",
                 tg_product[uid % TG_N(tg_product)].cents * 2 / 100,
                 tg_product[uid % TG_N(tg_product)].cents * 2 % 100);
        memset(&a, 0, sizeof a);
        a.type = KL_ACTION_RETURN_FUNCTION;
        a.call_function_id = id;
        a.return_value_json = ret;
        tg_add_plain(x, &a);
    }
}

/** Generate the next session of the given kind with extras (TG_TRACE ...).
 * @return an owning session (free with kl_session_free), NULL when out of memory. */
TG_FN kl_session *tg_session(tg_gen *g, tg_kind kind, unsigned extras)
{
    tg_sess x;
    memset(&x, 0, sizeof x);
    x.g = g;
    x.s = kl_session_new();
    if (!x.s)
        return NULL;
    kl_session *s = x.s;

    /* arrival: the next request goes to a free worker thread, or waits for one */
    int64_t t0 = g->now;
    g->now += tg_range(g, 500000, 9000000);
    int th = (int)tg_below(g, (uint32_t)g->n_threads);
    for (int i = 0; i < g->n_threads && g->busy_until[th] > t0; i++)
        th = (th + 1) % g->n_threads;
    if (g->busy_until[th] > t0)
        t0 = g->busy_until[th] + tg_range(g, 10000, 200000);
    x.th = th;
    x.t = t0 + tg_range(g, 30000, 250000);
    x.traced = (extras & TG_TRACE) != 0;
    x.truncate = (extras & TG_TRUNCATED) != 0;
    tg_uuid(g, x.rid, sizeof x.rid);

    char id[48];
    s->thread_id = g->thread_base + th;
    snprintf(id, sizeof id, "%lld-%lld", (long long)t0, (long long)s->thread_id);
    tg_check(g, kl_session_dup_str(s, &s->id, id));
    tg_check(g, kl_session_dup_str(s, &s->host, TG_HOST));
    tg_check(g, kl_session_dup_str(s, &s->program, TG_PROGRAM));
    s->pid = TG_PID;
    if (x.traced) {
        char trace[33], span[17];
        tg_hex(g, trace, 32);
        tg_hex(g, span, 16);
        snprintf(x.traceparent, sizeof x.traceparent, "00-%s-%s-01", trace, span);
        tg_check(g, kl_session_dup_bytes(s, &s->trace_id, trace, 32));
        tg_check(g, kl_session_dup_bytes(s, &s->span_id, span, 16));
        tg_check(g, kl_session_add_kv(s, &s->trace_header, &s->n_trace_header,
                                      (kl_bytes){(const uint8_t *)"traceparent", 11},
                                      (kl_bytes){(const uint8_t *)x.traceparent, strlen(x.traceparent)}));
    }

    unsigned uid = 1 + tg_below(g, g->n_users);
    unsigned oid = ++g->order_seq;
    int route = kind == TG_FCGI ? (tg_chance(g, 50) ? TG_GET_USER : TG_LIST_ORDERS)
                                : (int)tg_below(g, 4);
    static const char *const routes[] = {"GET /api/users/:id", "POST /api/users/:id",
                                         "GET /api/orders", "POST /api/orders"};
    int peer = (int)tg_below(g, (uint32_t)g->n_peers);

    s->call_from_inbound.present = true;
    s->call_from_inbound.index = 0;
    s->call_from_inbound.occurred_at = t0;
    if (kind == TG_FCGI) {
        kl_addr *a = &s->call_from_inbound.peer;
        memset(a, 0, sizeof *a);
        snprintf(a->unix_path, sizeof a->unix_path, "/run/php/php8.2-fpm.sock");
        snprintf(a->unix_net, sizeof a->unix_net, "unix");
        tg_fcgi_inbound(&x, route, uid);
    } else {
        tg_addr4(&s->call_from_inbound.peer, 10, 0, 1, (uint8_t)(15 + peer),
                 (uint16_t)(peer ? 38412 : 51234));
        tg_inbound_http(&x, route, uid, peer);
    }
    tg_check(g, kl_session_dup_bytes(s, &s->call_from_inbound.request, g->in.data, g->in.len));

    if (extras & TG_STORAGE)
        tg_extras(&x, TG_STORAGE, uid);
    switch (kind) {
    case TG_HTTP:
        tg_http_outbound(&x, route, uid, oid);
        break;
    case TG_REDIS:
        tg_redis_outbound(&x, route, uid, oid);
        break;
    case TG_MYSQL:
        tg_mysql_outbound(&x, route, uid, oid);
        break;
    case TG_FCGI:
        tg_redis_outbound(&x, route, uid, oid);
        tg_mysql_outbound(&x, route, uid, oid);
        break;
    default:
        break;
    }
    if (extras & TG_FUNCTION)
        tg_extras(&x, TG_FUNCTION, uid);

    int status = tg_reply_body(&x, route, uid, oid);
    x.t += tg_range(g, 50000, 400000);
    tg_side_effects(&x, routes[route], status, uid);
    if (kind == TG_FCGI) {
        tg_fcgi_reply(&x, status);
    } else {
        g->out.len = 0;
        tg_http_response(g, &g->out, status, x.t, x.rid, "sample-svc/2.3.1",
                         g->body.len > 1500 && tg_chance(g, 40), &g->body);
    }
    g->body.len = 0;
    s->return_inbound.present = true;
    s->return_inbound.index = (int64_t)s->n_actions;
    s->return_inbound.occurred_at = x.t;
    tg_check(g, kl_session_dup_bytes(s, &s->return_inbound.response, g->out.data, g->out.len));
    kl_action a;
    memset(&a, 0, sizeof a);
    a.type = KL_ACTION_RETURN_INBOUND;
    a.index = (int64_t)s->n_actions;
    a.occurred_at = x.t;
    tg_check(g, kl_session_add_action(s, &a));
    s->truncated = x.truncate;
    g->busy_until[th] = x.t;

    if (g->err) {
        kl_session_free(s);
        return NULL;
    }
    return s;
}

/** The next session of the mix in mixed.pb: a few FastCGI, then HTTP, Redis and MySQL in
 * about equal parts, 60% of them traced; extras are added to it. */
TG_FN kl_session *tg_mixed(tg_gen *g, unsigned extras)
{
    uint32_t r = tg_below(g, 100);
    tg_kind kind = r < 3 ? TG_FCGI : r < 36 ? TG_HTTP : r < 68 ? TG_REDIS : TG_MYSQL;
    if (tg_chance(g, 60))
        extras |= TG_TRACE;
    return tg_session(g, kind, extras);
}

#endif
