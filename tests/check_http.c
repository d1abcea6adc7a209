/* check_http.c - tests of libkoala/http.c: HTTP/1.x messages taken apart and their bodies decoded. */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1
#define P(lit, flags, m) kl_http_parse(S(lit), (flags), (m), err)
#define PB(buf, flags, m) kl_http_parse((const uint8_t *)(buf).data, (buf).len, (flags), (m), err)

static char err[KL_ERRBUF_SIZE];

/* Whether b holds exactly the text s. */
static bool is(kl_bytes b, const char *s)
{
    size_t n = strlen(s);
    return b.len == n && (n == 0 || memcmp(b.data, s, n) == 0);
}

#define ck_assert_bytes(b, s) ck_assert_msg(is((b), (s)), "got \"%.*s\", want \"%s\"", (int)(b).len, \
                                            (const char *)(b).data, (s))

/* data compressed with zlib's windowBits: 16 + 15 gzip, 15 zlib, -15 raw deflate.
 * @return malloc'd bytes, *out_len set. */
static uint8_t *compress_bits(const void *data, size_t len, int bits, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, len) + 32;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* n zero bytes as one gzip member, appended to out. */
static void gzip_zeros(size_t n, kl_buf *out)
{
    static uint8_t zeros[1 << 16], chunk[1 << 16];
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(deflateInit2(&z, 1, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    for (;;) {
        size_t in = n < sizeof zeros ? n : sizeof zeros;
        n -= in;
        z.next_in = zeros;
        z.avail_in = (uInt)in;
        int flush = n ? Z_NO_FLUSH : Z_FINISH, r;
        do {
            z.next_out = chunk;
            z.avail_out = sizeof chunk;
            r = deflate(&z, flush);
            ck_assert_int_ne(r, Z_STREAM_ERROR);
            kl_buf_append(out, chunk, sizeof chunk - z.avail_out);
        } while (z.avail_out == 0);
        if (flush == Z_FINISH) {
            ck_assert_int_eq(r, Z_STREAM_END);
            break;
        }
    }
    deflateEnd(&z);
}

/* A response with the given header lines (each ending in CRLF) and body. */
static void response(kl_buf *b, const char *headers, const void *body, size_t len)
{
    b->len = 0;
    kl_buf_printf(b, "HTTP/1.1 200 OK\r\n%s\r\n", headers);
    kl_buf_append(b, body, len);
}

/* The same body in n chunks with an extension and a trailer. */
static void chunked_response(kl_buf *b, const char *headers, const uint8_t *body, size_t len, size_t n)
{
    b->len = 0;
    kl_buf_printf(b, "HTTP/1.1 200 OK\r\n%sTransfer-Encoding: chunked\r\n\r\n", headers);
    for (size_t i = 0, at = 0; i < n; i++) {
        size_t part = i + 1 < n ? len / n : len - at;
        kl_buf_printf(b, "%zx;ext=\"v\"\r\n", part);
        kl_buf_append(b, body + at, part);
        kl_buf_append(b, "\r\n", 2);
        at += part;
    }
    kl_buf_printf(b, "0\r\nX-Checksum: 42\r\n\r\n");
}

static const char plain[] = "{\"items\":[{\"id\":1,\"price\":9.5},{\"id\":2,\"price\":12}],"
                            "\"meta\":{\"ts\":1700000000,\"note\":\"the same text again and again\"}}";

/* ------------------------------------------------------------- structure */

START_TEST(a_request_splits_into_method_target_version_and_headers)
{
    static const char req[] = "POST /api/v1/items?id=3 HTTP/1.1\r\nHost: shop\r\nContent-Length: 4\r\n\r\nabcd";
    kl_http_msg m;
    ck_assert_int_eq(P(req, 0, &m), KL_OK);
    ck_assert_str_eq(err, "");
    ck_assert(!m.response);
    ck_assert_int_eq(m.status, 0);
    ck_assert_bytes(m.method, "POST");
    ck_assert_bytes(m.target, "/api/v1/items?id=3");
    ck_assert_bytes(m.version, "HTTP/1.1");
    ck_assert_bytes(m.start_line, "POST /api/v1/items?id=3 HTTP/1.1");
    ck_assert_uint_eq(m.n_headers, 2);
    ck_assert_bytes(m.headers[0].name, "Host");
    ck_assert_bytes(m.headers[0].value, "shop");
    ck_assert_bytes(m.body, "abcd");
    ck_assert_ptr_eq(m.body.data, (const uint8_t *)req + sizeof req - 5); /* not copied */
    ck_assert_uint_eq(m.decoded, 0);
    ck_assert(!m.truncated);
    ck_assert_uint_eq(m.msg_len, sizeof req - 1);
    kl_http_msg_free(&m);
    ck_assert_ptr_null(m.mem);
    kl_http_msg_free(&m); /* again, and NULL */
    kl_http_msg_free(NULL);
}
END_TEST

START_TEST(a_response_splits_into_status_reason_and_body)
{
    static const char resp[] = "HTTP/1.0 404 Not Found\r\nContent-Length: 2\r\n\r\nno";
    kl_http_msg m;
    ck_assert_int_eq(P(resp, 0, &m), KL_OK);
    ck_assert(m.response);
    ck_assert_int_eq(m.status, 404);
    ck_assert_bytes(m.reason, "Not Found");
    ck_assert_bytes(m.version, "HTTP/1.0");
    ck_assert_bytes(m.body, "no");
    ck_assert_bytes(m.raw_body, "no");
    kl_http_msg_free(&m);
    /* no reason at all, and a bare LF line end */
    ck_assert_int_eq(P("HTTP/1.1 204\n\n", 0, &m), KL_OK);
    ck_assert_int_eq(m.status, 204);
    ck_assert_bytes(m.reason, "");
    ck_assert_uint_eq(m.n_headers, 0);
    ck_assert_ptr_null(m.mem);
    kl_http_msg_free(&m);
}
END_TEST

START_TEST(header_names_match_in_any_case_and_values_lose_their_spaces)
{
    static const char resp[] = "HTTP/1.1 200 OK\r\n"
                               "content-TYPE:application/json  \r\n"
                               "Set-Cookie: \t a=1\t\r\n"
                               "X-Empty:\r\n"
                               "set-cookie:b=2\r\n"
                               "X-Folded: one\r\n"
                               "  two \r\n"
                               "SET-COOKIE:   c=3   \r\n"
                               "Content-Length: 0\r\n\r\n";
    kl_http_msg m;
    ck_assert_int_eq(P(resp, 0, &m), KL_OK);
    ck_assert_uint_eq(m.n_headers, 7);
    const kl_http_header *h = kl_http_header_get(&m, "Content-Type");
    ck_assert_ptr_nonnull(h);
    ck_assert_bytes(h->name, "content-TYPE");
    ck_assert_bytes(h->value, "application/json");
    ck_assert_bytes(kl_http_header_get(&m, "x-empty")->value, "");
    ck_assert_bytes(kl_http_header_get(&m, "X-FOLDED")->value, "one\r\n  two");
    const char *cookies[] = {"a=1", "b=2", "c=3"};
    size_t n = 0;
    for (h = NULL; (h = kl_http_header_next(&m, h, "set-cookie")); n++) {
        ck_assert_uint_lt(n, 3);
        ck_assert_bytes(h->value, cookies[n]);
    }
    ck_assert_uint_eq(n, 3);
    ck_assert_ptr_null(kl_http_header_get(&m, "Set-Cooki"));
    ck_assert_ptr_null(kl_http_header_get(&m, "Set-Cookie2"));
    ck_assert_ptr_null(kl_http_header_get(&m, "Content_Type")); /* '_' is not '-' in any case */
    kl_http_msg_free(&m);
}
END_TEST

START_TEST(a_chunked_body_is_joined_with_extensions_and_trailers_kept_as_headers)
{
    kl_buf b = {0};
    chunked_response(&b, "Server: x\r\n", (const uint8_t *)plain, sizeof plain - 1, 3);
    kl_buf_append(&b, "HTTP/1.1", 8); /* a pipelined next response stays out */
    kl_http_msg m;
    ck_assert_int_eq(PB(b, 0, &m), KL_OK);
    ck_assert_bytes(m.body, plain);
    ck_assert_uint_eq(m.decoded, KL_HTTP_DECHUNKED);
    ck_assert_uint_eq(m.msg_len, b.len - 8);
    ck_assert(!m.truncated);
    ck_assert_uint_eq(m.n_headers, 3);
    ck_assert_uint_eq(m.n_trailers, 1);
    ck_assert_bytes(m.headers[2].name, "X-Checksum");
    ck_assert_bytes(m.headers[2].value, "42");
    ck_assert_bytes(kl_http_header_get(&m, "transfer-encoding")->value, "chunked");
    const char *raw = strstr(b.data, "\r\n\r\n") + 4;
    ck_assert_ptr_eq(m.raw_body.data, (const uint8_t *)raw);
    ck_assert_uint_eq(m.raw_body.len, b.len - 8 - (size_t)(raw - b.data));
    kl_http_msg_free(&m);

    /* one chunk is pointed at, not copied; bare LF line ends; malformed trailers ignored */
    static const char one[] = "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n"
                              "5 ; a=b\nhello\n0\nnot a header\nX-T: 1\n\n";
    ck_assert_int_eq(P(one, 0, &m), KL_OK);
    ck_assert_bytes(m.body, "hello");
    ck_assert_ptr_eq(m.body.data, (const uint8_t *)strstr(one, "hello"));
    ck_assert_uint_eq(m.n_trailers, 1);
    ck_assert_bytes(m.headers[1].name, "X-T");
    kl_http_msg_free(&m);

    /* a chunked request, and an empty chunked body */
    ck_assert_int_eq(P("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0, &m), KL_OK);
    ck_assert_bytes(m.body, "abc");
    ck_assert(!m.truncated);
    kl_http_msg_free(&m);
    ck_assert_int_eq(P("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, &m),
                     KL_OK);
    ck_assert_uint_eq(m.body.len, 0);
    ck_assert_ptr_nonnull(m.body.data);
    ck_assert_uint_eq(m.n_trailers, 0);
    kl_http_msg_free(&m);
    kl_buf_free(&b);
}
END_TEST

START_TEST(the_original_koalas_chunked_response_parses)
{
    json_error_t e;
    json_t *root = json_load_file(TU_FIXTURE, 0, &e);
    ck_assert_msg(root != NULL, "%s: %s", TU_FIXTURE, e.text);
    json_t *v = json_object_get(json_array_get(json_object_get(root, "Actions"), 0), "Response");
    uint8_t *resp = malloc(json_string_length(v) + 1);
    size_t len = tu_unescape_x(json_string_value(v), json_string_length(v), resp);
    json_decref(root);
    kl_http_msg m;
    ck_assert_int_eq(kl_http_parse(resp, len, 0, &m, err), KL_OK);
    ck_assert_int_eq(m.status, 200);
    ck_assert_uint_eq(m.msg_len, len);
    ck_assert(!m.truncated);
    ck_assert_uint_eq(m.decoded, KL_HTTP_DECHUNKED);
    ck_assert_bytes(kl_http_header_get(&m, "content-language")->value, "en");
    ck_assert_uint_gt(m.body.len, 10000);
    ck_assert_uint_lt(m.body.len, m.raw_body.len);
    ck_assert_ptr_nonnull(memmem(m.body.data, m.body.len, "</html>", 7));
    kl_http_msg_free(&m);
    free(resp);
}
END_TEST

START_TEST(a_response_without_length_runs_to_the_end_of_the_data)
{
    static const char resp[] = "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nall of it\r\nand more";
    kl_http_msg m;
    ck_assert_int_eq(P(resp, 0, &m), KL_OK);
    ck_assert_bytes(m.body, "all of it\r\nand more");
    ck_assert(!m.truncated);
    ck_assert_uint_eq(m.msg_len, sizeof resp - 1);
    kl_http_msg_free(&m);
    /* a request without length has no body: what follows is the next request */
    static const char two[] = "\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    ck_assert_int_eq(P(two, 0, &m), KL_OK);
    ck_assert_bytes(m.target, "/a");
    ck_assert_uint_eq(m.body.len, 0);
    ck_assert_uint_eq(m.msg_len, 30);
    kl_http_msg_free(&m);
}
END_TEST

START_TEST(responses_to_head_and_204_and_304_have_no_body)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Encoding: gzip\r\n\r\n";
    kl_http_msg m;
    ck_assert_int_eq(P(head, KL_HTTP_HEAD, &m), KL_OK);
    ck_assert_uint_eq(m.body.len, 0);
    ck_assert(!m.truncated);
    ck_assert_int_eq(m.body_err, KL_OK);
    ck_assert_uint_eq(m.decoded, 0);
    kl_http_msg_free(&m);
    /* the same bytes not answering a HEAD: a body of 1234 bytes that never came */
    ck_assert_int_eq(P(head, 0, &m), KL_OK);
    ck_assert(m.truncated);
    kl_http_msg_free(&m);
    ck_assert_int_eq(P("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nxyz", 0, &m),
                     KL_OK);
    ck_assert_uint_eq(m.body.len, 0);
    ck_assert_uint_eq(m.msg_len, 48);
    ck_assert(!m.truncated);
    kl_http_msg_free(&m);
    /* HEAD means nothing to a request */
    ck_assert_int_eq(P("PUT / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok", KL_HTTP_HEAD, &m),
                     KL_OK);
    ck_assert_bytes(m.body, "ok");
    kl_http_msg_free(&m);
}
END_TEST

START_TEST(interim_responses_are_skipped_to_the_final_one)
{
    static const char resp[] = "HTTP/1.1 100 Continue\r\n\r\n"
                               "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                               "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    kl_http_msg m;
    ck_assert_int_eq(P(resp, 0, &m), KL_OK);
    ck_assert_int_eq(m.status, 200);
    ck_assert_uint_eq(m.n_headers, 1);
    ck_assert_bytes(m.headers[0].name, "Content-Length");
    ck_assert_bytes(m.interim, "HTTP/1.1 100 Continue\r\n\r\n"
                               "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n");
    ck_assert_bytes(m.body, "ok");
    ck_assert_uint_eq(m.msg_len, sizeof resp - 1);
    kl_http_msg_free(&m);
    /* 101 is final: what follows is another protocol */
    ck_assert_int_eq(P("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05", 0, &m), KL_OK);
    ck_assert_int_eq(m.status, 101);
    ck_assert_uint_eq(m.interim.len, 0);
    ck_assert_uint_eq(m.body.len, 0);
    ck_assert_uint_eq(m.msg_len, 56);
    kl_http_msg_free(&m);
    /* an interim response alone: the final start line never came */
    ck_assert_int_eq(P("HTTP/1.1 100 Continue\r\n\r\n", 0, &m), KL_ERR_TRUNCATED);
    ck_assert_str_eq(err, "byte 25: the data ends inside a start line");
    ck_assert_int_eq(P("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2", 0, &m), KL_ERR_TRUNCATED);
}
END_TEST

/* -------------------------------------------------------------- decoding */

START_TEST(gzip_and_deflate_bodies_are_decoded)
{
    kl_buf b = {0};
    kl_http_msg m;
    size_t zn;
    struct {
        const char *coding;
        int bits;
        unsigned flag;
    } cases[] = {{"gzip", 16 + 15, KL_HTTP_GUNZIPPED},
                 {"X-GZIP", 16 + 15, KL_HTTP_GUNZIPPED},
                 {"deflate", 15, KL_HTTP_INFLATED},
                 {"Deflate", -15, KL_HTTP_INFLATED}}; /* raw deflate, as some servers send it */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *z = compress_bits(plain, sizeof plain - 1, cases[i].bits, &zn);
        char hdr[128];
        snprintf(hdr, sizeof hdr, "Content-Encoding: %s\r\nContent-Length: %zu\r\n", cases[i].coding, zn);
        response(&b, hdr, z, zn);
        ck_assert_int_eq(PB(b, 0, &m), KL_OK);
        ck_assert_msg(m.body_err == KL_OK, "%s: %s", cases[i].coding, err);
        ck_assert_bytes(m.body, plain);
        ck_assert_uint_eq(m.decoded, cases[i].flag);
        ck_assert_uint_eq(m.raw_body.len, zn);
        kl_http_msg_free(&m);
        /* kept as it came when asked */
        ck_assert_int_eq(PB(b, KL_HTTP_KEEP_ENCODING, &m), KL_OK);
        ck_assert_uint_eq(m.decoded, 0);
        ck_assert_uint_eq(m.body.len, zn);
        ck_assert_int_eq(memcmp(m.body.data, z, zn), 0);
        kl_http_msg_free(&m);
        /* chunked, then gzip: both undone */
        if (cases[i].bits == 16 + 15) {
            chunked_response(&b, "Content-Encoding: gzip, identity\r\n", z, zn, 4);
            ck_assert_int_eq(PB(b, 0, &m), KL_OK);
            ck_assert_bytes(m.body, plain);
            ck_assert_uint_eq(m.decoded, KL_HTTP_DECHUNKED | KL_HTTP_GUNZIPPED);
            kl_http_msg_free(&m);
            ck_assert_int_eq(PB(b, KL_HTTP_KEEP_ENCODING, &m),
                             KL_OK);
            ck_assert_uint_eq(m.decoded, KL_HTTP_DECHUNKED);
            ck_assert_uint_eq(m.body.len, zn);
            kl_http_msg_free(&m);
        }
        free(z);
    }

    /* two codings, undone last first; a gzip transfer coding before chunked too */
    size_t dn, gn;
    uint8_t *d = compress_bits(plain, sizeof plain - 1, 15, &dn);
    uint8_t *g = compress_bits(d, dn, 16 + 15, &gn);
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Content-Encoding: deflate\r\nContent-Encoding: gzip\r\n"
                              "Content-Length: %zu\r\n", gn);
    response(&b, hdr, g, gn);
    ck_assert_int_eq(PB(b, 0, &m), KL_OK);
    ck_assert_bytes(m.body, plain);
    ck_assert_uint_eq(m.decoded, KL_HTTP_GUNZIPPED | KL_HTTP_INFLATED);
    kl_http_msg_free(&m);
    b.len = 0;
    kl_buf_printf(&b, "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n"
                      "Transfer-Encoding: gzip, chunked\r\n\r\n%zx\r\n", gn);
    kl_buf_append(&b, g, gn);
    kl_buf_printf(&b, "\r\n0\r\n\r\n");
    ck_assert_int_eq(PB(b, 0, &m), KL_OK);
    ck_assert_bytes(m.body, plain);
    ck_assert_uint_eq(m.decoded, KL_HTTP_DECHUNKED | KL_HTTP_GUNZIPPED | KL_HTTP_INFLATED);
    kl_http_msg_free(&m);
    free(d);
    free(g);

    /* two gzip members in a row are one body */
    kl_buf two = {0};
    size_t n1, n2;
    uint8_t *z1 = compress_bits("first ", 6, 16 + 15, &n1), *z2 = compress_bits("second", 6, 16 + 15, &n2);
    kl_buf_append(&two, z1, n1);
    kl_buf_append(&two, z2, n2);
    response(&b, "Content-Encoding: gzip\r\n", two.data, two.len);
    ck_assert_int_eq(PB(b, 0, &m), KL_OK);
    ck_assert_bytes(m.body, "first second");
    kl_http_msg_free(&m);
    free(z1);
    free(z2);
    kl_buf_free(&two);
    kl_buf_free(&b);
}
END_TEST

START_TEST(a_corrupt_gzip_body_is_kept_as_received_and_reported)
{
    kl_buf b = {0};
    size_t zn;
    uint8_t *z = compress_bits(plain, sizeof plain - 1, 16 + 15, &zn);
    kl_http_msg m;
    /* a damaged block, a wrong length in the trailer, a stream cut short, no gzip at all */
    struct {
        size_t at;    /* byte of z changed, or cut there */
        uint8_t xor;  /* 0: cut */
        const char *msg;
    } cases[] = {{12, 0xff, "body: gzip stream corrupt at byte "},
                 {zn - 1, 0x01, "body: gzip stream corrupt at byte "},
                 {zn - 10, 0, "body: gzip stream ends early, after "},
                 {0, 0x55, "body: gzip stream corrupt at byte 2 of "}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *bad = malloc(zn);
        memcpy(bad, z, zn);
        size_t n = cases[i].xor ? zn : cases[i].at;
        if (cases[i].xor)
            bad[cases[i].at] ^= cases[i].xor;
        chunked_response(&b, "Content-Encoding: gzip\r\n", bad, n, 2);
        ck_assert_int_eq(PB(b, 0, &m), KL_OK);
        ck_assert_int_eq(m.body_err, KL_ERR_CORRUPT);
        ck_assert_msg(strncmp(err, cases[i].msg, strlen(cases[i].msg)) == 0, "case %zu: %s", i, err);
        ck_assert_uint_eq(m.decoded, KL_HTTP_DECHUNKED); /* the chunks are still joined */
        ck_assert_uint_eq(m.body.len, n);
        ck_assert_int_eq(memcmp(m.body.data, bad, n), 0);
        ck_assert(!m.truncated);
        kl_http_msg_free(&m);
        free(bad);
    }
    /* the first of two codings fails: the body stays as received, not half decoded */
    response(&b, "Content-Encoding: gzip, deflate\r\n", z, zn);
    ck_assert_int_eq(PB(b, 0, &m), KL_OK);
    ck_assert_int_eq(m.body_err, KL_ERR_CORRUPT);
    ck_assert_uint_eq(m.decoded, 0);
    ck_assert_uint_eq(m.body.len, zn);
    kl_http_msg_free(&m);
    free(z);
    kl_buf_free(&b);
}
END_TEST

START_TEST(a_coding_koala_cannot_undo_is_kept_and_reported)
{
    kl_http_msg m;
    ck_assert_int_eq(P("HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\n\x1b\x03\x00", 0, &m),
                     KL_OK);
    ck_assert_int_eq(m.body_err, KL_ERR_UNSUPPORTED);
    ck_assert_str_eq(err, "body: coding \"br\" is not decoded");
    ck_assert_uint_eq(m.body.len, 3);
    kl_http_msg_free(&m);
    ck_assert_int_eq(P("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nzz", 0, &m),
                     KL_OK);
    ck_assert_int_eq(m.body_err, KL_ERR_UNSUPPORTED);
    ck_assert_str_eq(err, "body: chunked is not the last transfer coding");
    ck_assert_bytes(m.body, "zz");
    kl_http_msg_free(&m);
    /* identity and empty list items are nothing to undo */
    ck_assert_int_eq(P("HTTP/1.1 200 OK\r\nContent-Encoding: , identity ,\r\n\r\nab", 0, &m),
                     KL_OK);
    ck_assert_int_eq(m.body_err, KL_OK);
    ck_assert_str_eq(err, "");
    ck_assert_bytes(m.body, "ab");
    kl_http_msg_free(&m);
}
END_TEST

START_TEST(a_zip_bomb_stops_at_the_cap_and_keeps_the_body_compressed)
{
    kl_buf z = {0}, b = {0};
    gzip_zeros(KL_HTTP_MAX_DECODED, &z);
    ck_assert_uint_lt(z.len, 1u << 20);
    kl_http_msg m;
    response(&b, "Content-Encoding: gzip\r\n", z.data, z.len);
    ck_assert_int_eq(PB(b, 0, &m), KL_OK);
    ck_assert_int_eq(m.body_err, KL_OK);
    ck_assert_uint_eq(m.body.len, KL_HTTP_MAX_DECODED);
    ck_assert_uint_eq(m.body.data[KL_HTTP_MAX_DECODED - 1], 0);
    kl_http_msg_free(&m);
    /* one byte more, in a second gzip member */
    gzip_zeros(1, &z);
    response(&b, "Content-Encoding: gzip\r\n", z.data, z.len);
    ck_assert_int_eq(PB(b, 0, &m), KL_OK);
    ck_assert_int_eq(m.body_err, KL_ERR_TOOBIG);
    ck_assert_str_eq(err, "body: gzip decodes to more than 67108864 bytes");
    ck_assert_uint_eq(m.decoded, 0);
    ck_assert_uint_eq(m.body.len, z.len);
    ck_assert_int_eq(memcmp(m.body.data, z.data, z.len), 0);
    kl_http_msg_free(&m);
    kl_buf_free(&z);
    kl_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------ truncation */

START_TEST(truncated_bodies_keep_what_arrived)
{
    kl_http_msg m;
    ck_assert_int_eq(P("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, &m), KL_OK);
    ck_assert(m.truncated);
    ck_assert_bytes(m.body, "abc");
    ck_assert_uint_eq(m.msg_len, 42);
    kl_http_msg_free(&m);
    /* cut inside the second chunk, and inside the trailers */
    static const char ch[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\nde";
    ck_assert_int_eq(P(ch, 0, &m), KL_OK);
    ck_assert(m.truncated);
    ck_assert_bytes(m.body, "abcde");
    kl_http_msg_free(&m);
    ck_assert_int_eq(P("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n", 0, &m), KL_OK);
    ck_assert(m.truncated);
    ck_assert_bytes(m.body, "abc");
    ck_assert_uint_eq(m.n_trailers, 1);
    kl_http_msg_free(&m);
    /* cut inside the header block: the whole lines are kept */
    ck_assert_int_eq(P("HTTP/1.1 500 Oops\r\nServer: x\r\nContent-Le", 0, &m), KL_OK);
    ck_assert(m.truncated);
    ck_assert_int_eq(m.status, 500);
    ck_assert_uint_eq(m.n_headers, 1);
    ck_assert_uint_eq(m.body.len, 0);
    kl_http_msg_free(&m);
    /* cut inside the start line, or no data */
    ck_assert_int_eq(P("HTTP/1.1 20", 0, &m), KL_ERR_TRUNCATED);
    ck_assert_str_eq(err, "byte 11: the data ends inside a start line");
    ck_assert_ptr_null(m.mem);
    ck_assert_int_eq(P("GET /index.html HTTP/1.1\r", 0, &m), KL_ERR_TRUNCATED);
    ck_assert_int_eq(kl_http_parse(NULL, 0, 0, &m, err), KL_ERR_TRUNCATED);
    ck_assert_int_eq(kl_http_parse(NULL, 1, 0, &m, err), KL_ERR_INVALID);
    ck_assert_int_eq(kl_http_parse(S("GET"), 0, NULL, err), KL_ERR_INVALID);
}
END_TEST

START_TEST(a_truncated_gzip_body_is_decoded_as_far_as_it_goes)
{
    kl_buf big = {0}, b = {0};
    for (int i = 0; i < 200; i++)
        kl_buf_printf(&big, "line %d of a long text body\n", i);
    size_t zn;
    uint8_t *z = compress_bits(big.data, big.len, 16 + 15, &zn);
    char hdr[96];
    snprintf(hdr, sizeof hdr, "Content-Encoding: gzip\r\nContent-Length: %zu\r\n", zn);
    response(&b, hdr, z, zn / 2);
    kl_http_msg m;
    ck_assert_int_eq(PB(b, 0, &m), KL_OK);
    ck_assert(m.truncated);
    ck_assert_int_eq(m.body_err, KL_OK);
    ck_assert_uint_eq(m.decoded, KL_HTTP_GUNZIPPED);
    ck_assert_uint_gt(m.body.len, 100);
    ck_assert_uint_lt(m.body.len, big.len);
    ck_assert_int_eq(memcmp(m.body.data, big.data, m.body.len), 0);
    kl_http_msg_free(&m);
    free(z);
    kl_buf_free(&big);
    kl_buf_free(&b);
}
END_TEST

START_TEST(header_blocks_past_64_kib_are_too_big)
{
    size_t len = KL_FRAME_MAX_HEADER + 100;
    uint8_t *big = malloc(len);
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    memset(big + 19, 'a', len - 19);
    kl_http_msg m;
    ck_assert_int_eq(kl_http_parse(big, len, 0, &m, err), KL_ERR_TOOBIG);
    ck_assert_str_eq(err, "byte 0: header block longer than 65536 bytes");
    ck_assert_int_eq(kl_http_parse(big, KL_FRAME_MAX_HEADER - 10, 0, &m, err), KL_OK);
    ck_assert(m.truncated);
    kl_http_msg_free(&m);
    free(big);
}
END_TEST

/* ------------------------------------------------------------ bad input */

START_TEST(garbage_is_corrupt_with_the_byte_offset_and_what_was_expected)
{
    static const struct {
        const char *in;
        const char *err;
    } cases[] = {
        {"\x16\x03\x01\x02\x00\n", "byte 0: expected an HTTP method or \"HTTP/1.x\""},
        {"\x16\x03", "byte 0: expected an HTTP method or \"HTTP/1.x\""},
        {"GET /\r\n\r\n", "byte 5: expected a space after the target"},
        {"GET  / HTTP/1.1\r\n\r\n", "byte 4: expected a request target"},
        {"GET \r\n\r\n", "byte 4: expected a request target"},
        {"GET\r\n\r\n", "byte 3: expected a method character or a space"},
        {"GET / HTTP/1.1 \r\n\r\n", "byte 14: expected the line end after the version"},
        {"GET\t/ HTTP/1.1\r\n\r\n", "byte 3: expected a method character or a space"},
        {"PRI * HTTP/2.0\r\n\r\n", "byte 11: expected \"HTTP/1.x\" after the target"},
        {"HTTP/2 200\r\n\r\n", "byte 5: expected \"HTTP/1.x\""},
        {"HTTP/1.1 2x0 OK\r\n\r\n", "byte 10: expected a 3-digit status code"},
        {"HTTP/1.1 200OK\r\n\r\n", "byte 12: expected a space or the line end after the status code"},
        {"HTTP/1.1 20\r\n", "byte 11: expected a 3-digit status code"},
        {"GET / HTTP/1.1\r\nNo colon\r\n\r\n", "byte 18: expected ':' after a header name"},
        {"GET / HTTP/1.1\r\n: v\r\n\r\n", "byte 16: expected a header name"},
        {"GET / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n",
         "byte 51: expected a Content-Length of digits, the same in every header"},
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
         "byte 33: expected a Content-Length of digits, the same in every header"},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
         "byte 0: expected a request's Transfer-Encoding to end with chunked"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
         "byte 47: expected a chunk size in hex digits"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX",
         "byte 52: expected a line end after a chunk's data"},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\rX",
         "byte 53: expected LF after a chunk's CR"},
        {"HTTP/1.1 100 Continue\r\n\r\nGET / HTTP/1.1\r\n\r\n",
         "byte 25: expected a final response after an interim one"},
        {"\r\nHTTP/1.1 200 OK\r\n\r\n", "byte 2: expected a request line after empty lines"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kl_http_msg m;
        memset(&m, 0xa5, sizeof m);
        int r = kl_http_parse((const uint8_t *)cases[i].in, strlen(cases[i].in), 0, &m, err);
        ck_assert_msg(r == KL_ERR_CORRUPT, "case %zu: %d", i, r);
        ck_assert_str_eq(err, cases[i].err);
        ck_assert_ptr_null(m.mem);
        ck_assert_uint_eq(m.n_headers, 0);
    }
}
END_TEST

/* Messages for the cut and mutation tests, each with where its final start line ends. */
static kl_buf *samples(size_t *n, size_t *line_end)
{
    static kl_buf b[5];
    for (int i = 0; i < 5; i++)
        b[i].len = 0;
    size_t zn;
    uint8_t *z = compress_bits(plain, sizeof plain - 1, 16 + 15, &zn);
    chunked_response(&b[0], "Content-Encoding: gzip\r\nX-A:  b \r\n", z, zn, 3);
    line_end[0] = 17;
    char hdr[96];
    snprintf(hdr, sizeof hdr, "Content-Encoding: gzip\r\nContent-Length: %zu\r\n", zn);
    response(&b[1], hdr, z, zn);
    line_end[1] = 17;
    kl_buf_printf(&b[2], "\r\nPOST /x?y=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
    line_end[2] = 24;
    kl_buf_printf(&b[3], "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
    line_end[3] = 42;
    kl_buf_printf(&b[4], "PUT / HTTP/1.0\nTransfer-Encoding: chunked\n\n3;x\nabc\n0\nT: 1\n\n");
    line_end[4] = 15;
    free(z);
    *n = 5;
    return b;
}

START_TEST(every_cut_of_a_valid_message_parses_as_truncated_or_is_too_short)
{
    size_t n, line_end[5];
    kl_buf *b = samples(&n, line_end);
    for (size_t k = 0; k < n; k++) {
        kl_http_msg full;
        ck_assert_int_eq(kl_http_parse((const uint8_t *)b[k].data, b[k].len, 0, &full, err), KL_OK);
        ck_assert_msg(!full.truncated && full.msg_len == b[k].len && full.body_err == KL_OK, "sample %zu", k);
        for (size_t i = 0; i < b[k].len; i++) {
            uint8_t *p = malloc(i ? i : 1); /* exact size, so that ASan sees a read past it */
            memcpy(p, b[k].data, i);
            kl_http_msg m;
            int r = kl_http_parse(p, i, 0, &m, err);
            if (i < line_end[k]) {
                ck_assert_msg(r == KL_ERR_TRUNCATED, "sample %zu cut at %zu: %d %s", k, i, r, err);
            } else {
                ck_assert_msg(r == KL_OK && m.truncated, "sample %zu cut at %zu: %d %s", k, i, r, err);
                ck_assert_uint_le(m.msg_len, i);
                /* what was decoded is the start of the whole body */
                ck_assert_int_eq(m.body_err, KL_OK);
                ck_assert_uint_le(m.body.len, full.body.len);
                ck_assert(m.body.len == 0 || memcmp(m.body.data, full.body.data, m.body.len) == 0);
            }
            kl_http_msg_free(&m);
            free(p);
        }
        kl_http_msg_free(&full);
    }
}
END_TEST

/* Parse p and hold the result against kl_frame_message() on the same bytes: where the framer
 * finds a whole message, so does the parser, with the same length; where the framer finds
 * no HTTP, neither does the parser. */
static void check_against_framer(const uint8_t *p, size_t len)
{
    unsigned mode = len >= 5 && memcmp(p, "HTTP/", 5) == 0 ? KL_FRAME_RESPONSE : 0;
    size_t flen = 0;
    int fr = kl_frame_message(KL_PROTO_HTTP, mode | KL_FRAME_EOF, p, len, NULL, &flen);
    kl_http_msg m;
    int r = kl_http_parse(p, len, 0, &m, err);
    if (fr == KL_OK) {
        ck_assert_msg(r == KL_OK, "framer took %zu bytes, parser: %d %s", flen, r, err);
        ck_assert_uint_eq(m.msg_len, flen);
        ck_assert(!m.truncated);
    } else if (fr == KL_ERR_CORRUPT) {
        ck_assert_msg(r == KL_ERR_CORRUPT, "framer: corrupt, parser: %d", r);
    } else {
        ck_assert_int_eq(fr, KL_ERR_TRUNCATED);
        ck_assert(r == KL_ERR_TRUNCATED || r == KL_ERR_CORRUPT || (r == KL_OK && m.truncated));
    }
    if (r == KL_OK) { /* touch every byte the message points at */
        unsigned sum = 0;
        for (size_t i = 0; i < m.n_headers; i++)
            for (size_t j = 0; j < m.headers[i].name.len + m.headers[i].value.len; j++)
                sum += j < m.headers[i].name.len ? m.headers[i].name.data[j]
                                                 : m.headers[i].value.data[j - m.headers[i].name.len];
        for (size_t j = 0; j < m.body.len; j++)
            sum += m.body.data[j];
        ck_assert_uint_ge(sum + 1, 1);
    } else {
        ck_assert_ptr_null(m.mem);
    }
    kl_http_msg_free(&m);
}

START_TEST(bit_flips_never_crash_and_agree_with_the_framer)
{
    size_t n, line_end[5];
    kl_buf *b = samples(&n, line_end);
    for (size_t k = 0; k < n; k++) {
        uint8_t *p = malloc(b[k].len);
        for (size_t i = 0; i < b[k].len; i++)
            for (int bit = 0; bit < 8; bit++) {
                memcpy(p, b[k].data, b[k].len);
                p[i] ^= (uint8_t)(1u << bit);
                check_against_framer(p, b[k].len);
            }
        free(p);
    }
}
END_TEST

START_TEST(random_edits_never_crash_and_agree_with_the_framer)
{
    size_t n, line_end[5];
    kl_buf *b = samples(&n, line_end);
    static const char tokens[] = "\r\n :;0123456789abcdefHTTP/1.";
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (int iter = 0; iter < 20000; iter++) {
        const kl_buf *src = &b[iter % n];
        size_t len = src->len;
        uint8_t *p = malloc(len + 8);
        memcpy(p, src->data, len);
        for (int e = 0; e < 3; e++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            size_t at = (size_t)(seed >> 33) % len;
            uint8_t c = (seed >> 20) & 1 ? (uint8_t)tokens[(seed >> 8) % (sizeof tokens - 1)]
                                         : (uint8_t)(seed >> 12);
            switch ((seed >> 40) % 3) {
            case 0: p[at] = c; break;
            case 1: memmove(p + at + 1, p + at, len - at); p[at] = c; len++; break;
            default: memmove(p + at, p + at + 1, len - at - 1); len--; break;
            }
        }
        uint8_t *q = malloc(len); /* exact size for ASan */
        memcpy(q, p, len);
        check_against_framer(q, len);
        free(q);
        free(p);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, a_request_splits_into_method_target_version_and_headers);
    tcase_add_test(tc, a_response_splits_into_status_reason_and_body);
    tcase_add_test(tc, header_names_match_in_any_case_and_values_lose_their_spaces);
    tcase_add_test(tc, a_chunked_body_is_joined_with_extensions_and_trailers_kept_as_headers);
    tcase_add_test(tc, the_original_koalas_chunked_response_parses);
    tcase_add_test(tc, a_response_without_length_runs_to_the_end_of_the_data);
    tcase_add_test(tc, responses_to_head_and_204_and_304_have_no_body);
    tcase_add_test(tc, interim_responses_are_skipped_to_the_final_one);
    tcase_add_test(tc, gzip_and_deflate_bodies_are_decoded);
    tcase_add_test(tc, a_corrupt_gzip_body_is_kept_as_received_and_reported);
    tcase_add_test(tc, a_coding_koala_cannot_undo_is_kept_and_reported);
    tcase_add_test(tc, a_zip_bomb_stops_at_the_cap_and_keeps_the_body_compressed);
    tcase_add_test(tc, truncated_bodies_keep_what_arrived);
    tcase_add_test(tc, a_truncated_gzip_body_is_decoded_as_far_as_it_goes);
    tcase_add_test(tc, header_blocks_past_64_kib_are_too_big);
    tcase_add_test(tc, garbage_is_corrupt_with_the_byte_offset_and_what_was_expected);
    tcase_add_test(tc, every_cut_of_a_valid_message_parses_as_truncated_or_is_too_short);
    tcase_add_test(tc, bit_flips_never_crash_and_agree_with_the_framer);
    tcase_add_test(tc, random_edits_never_crash_and_agree_with_the_framer);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
