/* http.c - HTTP/1.x messages taken apart: start line, headers, body with its codings undone. */
#include "kl_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAX_CODINGS 8

static int corrupt(char *errbuf, size_t at, const char *what)
{
    kli_seterr(errbuf, "byte %zu: expected %s", at, what);
    return KL_ERR_CORRUPT;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static kl_bytes span(const uint8_t *d, size_t from, size_t to)
{
    return (kl_bytes){d + from, to - from};
}

/* Where the line starting at from ends: *nl at its LF and *end at its content's end (before
 * a CR), or both at lim when no LF comes before lim (*end then stops before a last CR, which
 * may be half of a line end). @return whether an LF was found. */
static bool find_line(const uint8_t *d, size_t from, size_t lim, size_t *nl, size_t *end)
{
    const uint8_t *q = from < lim ? memchr(d + from, '\n', lim - from) : NULL;
    *nl = q ? (size_t)(q - d) : lim;
    *end = *nl - (*nl > from && d[*nl - 1] == '\r');
    return q != NULL;
}

/* ------------------------------------------------------------- start line */

/* What the bytes c[0..n) (at offset at of data, the content of a start line) are. cut: the
 * line has no LF yet, so running out of bytes is a cut, not an error.
 * @return KL_OK, KL_ERR_TRUNCATED for a valid beginning, KL_ERR_CORRUPT. */
static int response_line(const uint8_t *c, size_t n, size_t at, bool cut, kl_http_msg *m,
                         char *errbuf)
{
    static const char pre[] = "HTTP/1.";
    static const char *const want[] = {"\"HTTP/1.x\"", "a digit after \"HTTP/1.\"",
                                       "a space after the version", "a 3-digit status code"};
    for (size_t i = 0; i < 12; i++) {
        int k = i < 7 ? 0 : i == 7 ? 1 : i == 8 ? 2 : 3;
        if (i >= n)
            return cut ? KL_ERR_TRUNCATED : corrupt(errbuf, at + i, want[k]);
        bool ok = i < 7 ? c[i] == (uint8_t)pre[i] : i == 8 ? c[i] == ' ' : is_digit(c[i]);
        if (!ok)
            return corrupt(errbuf, at + i, want[k]);
    }
    if (n > 12 && c[12] != ' ')
        return corrupt(errbuf, at + 12, "a space or the line end after the status code");
    if (cut)
        return KL_ERR_TRUNCATED;
    m->response = true;
    m->version = span(c, 0, 8);
    m->status = (c[9] - '0') * 100 + (c[10] - '0') * 10 + (c[11] - '0');
    m->reason = n > 12 ? span(c, 13, n) : span(c, 12, 12);
    return KL_OK;
}

static int request_line(const uint8_t *c, size_t n, size_t at, bool cut, kl_http_msg *m,
                        char *errbuf)
{
    size_t i = kli_http_token(c, n);
    size_t sp1 = i;
    if (i == n && cut)
        return KL_ERR_TRUNCATED;
    if (i == 0)
        return corrupt(errbuf, at, "an HTTP method or \"HTTP/1.x\"");
    if (i == n || c[i] != ' ')
        return corrupt(errbuf, at + i, "a method character or a space");
    for (i++; i < n && c[i] > ' ' && c[i] != 0x7f; i++)
        ;
    size_t sp2 = i;
    if (i == n && cut)
        return KL_ERR_TRUNCATED;
    if (i == sp1 + 1)
        return corrupt(errbuf, at + i, "a request target");
    if (i == n || c[i] != ' ')
        return corrupt(errbuf, at + i, "a space after the target");
    static const char pre[] = "HTTP/1.";
    for (i++; i < sp2 + 9; i++) {
        if (i == n && cut)
            return KL_ERR_TRUNCATED;
        if (i == n || (i < sp2 + 8 ? c[i] != (uint8_t)pre[i - sp2 - 1] : !is_digit(c[i])))
            return corrupt(errbuf, at + i, "\"HTTP/1.x\" after the target");
    }
    if (i < n)
        return corrupt(errbuf, at + i, "the line end after the version");
    if (cut)
        return KL_ERR_TRUNCATED;
    m->method = span(c, 0, sp1);
    m->target = span(c, sp1 + 1, sp2);
    m->version = span(c, sp2 + 1, n);
    return KL_OK;
}

/* -------------------------------------------------------- header blocks */

/* A walk over the lines of a header block or a trailer section, from at to its empty line.
 * The first walk checks and counts; the second, over checked bytes, fills dst. */
typedef struct block {
    size_t n;           /* headers */
    size_t end;         /* past the empty line, or len when cut */
    bool cut;           /* the data stops first */
} block;

/* Walk the block at at, its size limited from from. strict: a line that is not a header is
 * an error (a trailer section skips it). meta, when not NULL, gathers the framing facts.
 * @return KL_OK, KL_ERR_CORRUPT or KL_ERR_TOOBIG. */
static int walk_block(const uint8_t *d, size_t len, size_t from, size_t at, bool strict,
                      kli_http_meta *meta, kl_http_header *dst, block *b, char *errbuf)
{
    size_t lim = len - from > KL_FRAME_MAX_HEADER ? from + KL_FRAME_MAX_HEADER : len;
    b->n = 0;
    b->cut = false;
    for (;;) {
        size_t nl, e;
        if (!find_line(d, at, lim, &nl, &e)) {
            if (len - from > KL_FRAME_MAX_HEADER) {
                kli_seterr(errbuf, "byte %zu: %s longer than %u bytes", from,
                           strict ? "header block" : "trailer section", KL_FRAME_MAX_HEADER);
                return KL_ERR_TOOBIG;
            }
            b->end = len;
            b->cut = true;
            return KL_OK;
        }
        if (e == at) {
            b->end = nl + 1;
            return KL_OK;
        }
        if (is_ws(d[at])) { /* obsolete folding: the line continues the value before it */
            if (dst && b->n) {
                kl_bytes *v = &dst[b->n - 1].value;
                while (e > at && is_ws(d[e - 1]))
                    e--;
                if (e > at)
                    v->len = (size_t)(d + e - v->data);
            }
            at = nl + 1;
            continue;
        }
        size_t i = at + kli_http_token(d + at, e - at);
        if (i == at || i == e || d[i] != ':') {
            if (strict)
                return corrupt(errbuf, i, i == at ? "a header name" : "':' after a header name");
            at = nl + 1;
            continue;
        }
        size_t v = i + 1, ve = e;
        while (v < ve && is_ws(d[v]))
            v++;
        if (meta && kli_http_meta_add(meta, d + at, i - at, d + v, ve - v))
            return corrupt(errbuf, v, "a Content-Length of digits, the same in every header");
        while (ve > v && is_ws(d[ve - 1]))
            ve--;
        if (dst)
            dst[b->n] = (kl_http_header){span(d, at, i), span(d, v, ve)};
        b->n++;
        at = nl + 1;
    }
}

/* ------------------------------------------------------------------ chunks */

typedef struct chunks {
    size_t data;        /* bytes of chunk data */
    size_t nonempty;    /* chunks holding data */
    kl_bytes first;     /* the first chunk's data */
    size_t trailers;    /* where the trailer section starts; 0 when the data stops first */
    size_t end;         /* where the chunks end (len when cut) */
} chunks;

/* Walk the chunks at at; dst, when not NULL, receives their data (the second walk, over
 * checked bytes). @return KL_OK or KL_ERR_CORRUPT. */
static int walk_chunks(const uint8_t *d, size_t len, size_t at, uint8_t *dst, chunks *c,
                       char *errbuf)
{
    memset(c, 0, sizeof *c);
    for (;;) {
        size_t lim = len - at > KLI_HTTP_CHUNK_LINE_MAX ? at + KLI_HTTP_CHUNK_LINE_MAX : len;
        size_t nl, e;
        if (!find_line(d, at, lim, &nl, &e)) {
            if (lim < len)
                return corrupt(errbuf, at, "a chunk-size line shorter than 4096 bytes");
            break;
        }
        uint64_t size;
        if (!kli_http_chunk_size(d + at, nl - at, &size))
            return corrupt(errbuf, at, "a chunk size in hex digits");
        at = nl + 1;
        if (size == 0) {
            c->trailers = at;
            c->end = at;
            return KL_OK;
        }
        size_t n = size < len - at ? (size_t)size : len - at;
        if (dst)
            memcpy(dst + c->data, d + at, n);
        if (!c->nonempty++)
            c->first = span(d, at, at + n);
        c->data += n;
        if (n == len - at)
            break;
        size_t q = at + n;
        if (d[q] == '\r') {
            if (q + 1 == len)
                break;
            if (d[q + 1] != '\n')
                return corrupt(errbuf, q + 1, "LF after a chunk's CR");
            at = q + 2;
        } else if (d[q] == '\n') {
            at = q + 1;
        } else {
            return corrupt(errbuf, q, "a line end after a chunk's data");
        }
    }
    c->end = len;
    return KL_OK;
}

/* ---------------------------------------------------------------- decoding */

enum { CODING_IDENTITY, CODING_GZIP, CODING_DEFLATE };

/* The codings to undo, in the order they were applied: Content-Encoding's, then
 * Transfer-Encoding's but a final chunked.
 * @return how many, or KL_ERR_UNSUPPORTED (errbuf names the coding). */
static int list_codings(const kl_http_msg *m, bool chunked, int *codings, char *errbuf)
{
    int n = 0;
    const char *names[] = {"content-encoding", "transfer-encoding"};
    for (int pass = 0; pass < 2; pass++) {
        int first = n;
        for (const kl_http_header *h = NULL; (h = kl_http_header_next(m, h, names[pass]));) {
            const uint8_t *p = h->value.data, *e = p + h->value.len;
            while (p < e) {
                const uint8_t *s = p, *t = memchr(p, ',', (size_t)(e - p));
                if (!t)
                    t = e;
                p = t < e ? t + 1 : e;
                while (s < t && is_ws(*s))
                    s++;
                while (t > s && is_ws(t[-1]))
                    t--;
                size_t tn = (size_t)(t - s);
                int c;
                if (tn == 0)
                    continue;
                if (kli_ieq(s, tn, "gzip") || kli_ieq(s, tn, "x-gzip"))
                    c = CODING_GZIP;
                else if (kli_ieq(s, tn, "deflate"))
                    c = CODING_DEFLATE;
                else if (kli_ieq(s, tn, "identity"))
                    c = CODING_IDENTITY;
                else if (pass == 1 && kli_ieq(s, tn, "chunked"))
                    c = -1;
                else
                    c = -2;
                if (n == MAX_CODINGS) {
                    kli_seterr(errbuf, "body: more than %d codings", MAX_CODINGS);
                    return KL_ERR_UNSUPPORTED;
                }
                if (c == -2) {
                    kli_seterr(errbuf, "body: coding \"%.*s\" is not decoded",
                               tn > 40 ? 40 : (int)tn, (const char *)s);
                    return KL_ERR_UNSUPPORTED;
                }
                codings[n++] = c;
            }
        }
        if (pass == 1 && chunked && n > first)
            n--; /* the final chunked, already undone */
        for (int i = first; i < n; i++)
            if (codings[i] < 0) {
                kli_seterr(errbuf, "body: chunked is not the last transfer coding");
                return KL_ERR_UNSUPPORTED;
            }
    }
    return n;
}

/* Undo one gzip or deflate coding of in into memory of *mem (created when NULL). cut: the
 * message is truncated, so a stream ending early keeps what it gave.
 * @return KL_OK, KL_ERR_CORRUPT, KL_ERR_TOOBIG or KL_ERR_NOMEM. */
static int inflate_body(kl_bytes in, int coding, bool cut, kli_mem **mem, kl_bytes *out,
                        char *errbuf)
{
    const uint8_t *p = in.data;
    const char *name = coding == CODING_GZIP ? "gzip" : "deflate";
    if (in.len > UINT_MAX) {
        kli_seterr(errbuf, "body: %zu bytes of %s are more than zlib takes at once", in.len, name);
        return KL_ERR_TOOBIG;
    }
    /* "deflate" is zlib-wrapped (RFC 9110 8.4.1.2), but some servers send it raw */
    bool zlib = in.len >= 2 && (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7 &&
                (p[0] << 8 | p[1]) % 31 == 0;
    int bits = coding == CODING_GZIP ? 16 + MAX_WBITS : zlib ? MAX_WBITS : -MAX_WBITS;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, bits) != Z_OK)
        return KL_ERR_NOMEM;
    /* The first buffer: gzip's trailer tells the size (mod 2^32, so bounded by deflate's best
     * ratio, about 1032), else 4 times the input. A right guess is never grown. One byte more
     * than the cap tells a body past it. */
    size_t max = (size_t)KL_HTTP_MAX_DECODED + 1;
    size_t bound = in.len <= (max - 64) / 1032 ? in.len * 1032 + 64 : max;
    size_t cap = in.len <= (bound - 64) / 4 ? in.len * 4 + 64 : bound;
    if (coding == CODING_GZIP && in.len >= 18) {
        const uint8_t *t = p + in.len - 4;
        uint32_t isize = t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
        cap = isize < bound ? (size_t)isize + 1 : bound;
    }
    uint8_t *buf = malloc(cap);
    int r = buf ? KL_OK : KL_ERR_NOMEM;
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)in.len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    while (r == KL_OK) {
        if (z.avail_out == 0) {
            size_t ncap = cap > max / 2 ? max : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                r = KL_ERR_NOMEM;
                break;
            }
            buf = nb;
            z.next_out = buf + cap;
            z.avail_out = (uInt)(ncap - cap);
            cap = ncap;
        }
        int zr = inflate(&z, Z_NO_FLUSH);
        if (cap - z.avail_out > KL_HTTP_MAX_DECODED) {
            kli_seterr(errbuf, "body: %s decodes to more than %u bytes", name, KL_HTTP_MAX_DECODED);
            r = KL_ERR_TOOBIG;
        } else if (zr == Z_STREAM_END) {
            /* another gzip member may follow; other bytes after the stream are ignored */
            if (coding != CODING_GZIP || z.avail_in < 2 || z.next_in[0] != 0x1f ||
                z.next_in[1] != 0x8b)
                break;
            inflateReset(&z);
        } else if (zr == Z_MEM_ERROR) {
            r = KL_ERR_NOMEM;
        } else if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT) {
            kli_seterr(errbuf, "body: %s stream corrupt at byte %zu of %zu: %s", name,
                       in.len - z.avail_in, in.len,
                       zr == Z_NEED_DICT ? "needs a dictionary" : z.msg);
            r = KL_ERR_CORRUPT;
        } else if (z.avail_out > 0 && (z.avail_in == 0 || zr == Z_BUF_ERROR)) {
            if (cut)
                break; /* keep what came out */
            kli_seterr(errbuf, "body: %s stream ends early, after %zu bytes", name, in.len);
            r = KL_ERR_CORRUPT;
        }
    }
    size_t n = cap - z.avail_out;
    inflateEnd(&z);
    if (r == KL_OK) {
        if (!*mem && !(*mem = kli_mem_new()))
            r = KL_ERR_NOMEM;
        else if (!(out->data = kli_memdup(*mem, buf, n)))
            r = KL_ERR_NOMEM;
        out->len = n;
    }
    free(buf);
    return r;
}

/* Undo the codings of m->body. Failing on anything but memory, body stays as it was and
 * body_err says why. */
static int decode_body(kl_http_msg *m, bool chunked, char *errbuf)
{
    int codings[MAX_CODINGS];
    int n = list_codings(m, chunked, codings, errbuf);
    kl_bytes body = m->body;
    unsigned done = 0;
    int r = n < 0 ? n : KL_OK;
    for (int i = n - 1; i >= 0 && r == KL_OK; i--) {
        if (codings[i] == CODING_IDENTITY)
            continue;
        r = inflate_body(body, codings[i], m->truncated, &m->mem, &body, errbuf);
        done |= codings[i] == CODING_GZIP ? KL_HTTP_GUNZIPPED : KL_HTTP_INFLATED;
    }
    if (r == KL_ERR_NOMEM)
        return r;
    if (r == KL_OK) {
        m->body = body;
        m->decoded |= done;
    }
    m->body_err = r;
    return KL_OK;
}

/* ------------------------------------------------------------------ public */

/* The start line and header block of the message at from: fills m's start line, *hb, *meta.
 * resp: only a response may come (after an interim one). */
static int parse_head(const uint8_t *d, size_t len, size_t *from, bool resp, kl_http_msg *m,
                      kli_http_meta *meta, size_t *headers_at, block *hb, char *errbuf)
{
    for (bool skipped = false;; skipped = true) {
        size_t at = *from;
        size_t lim = len - at > KL_FRAME_MAX_HEADER ? at + KL_FRAME_MAX_HEADER : len;
        size_t nl, e;
        bool found = find_line(d, at, lim, &nl, &e);
        if (found && e == at && !resp) {
            *from = nl + 1; /* an empty line before a request (RFC 9112 2.2) */
            continue;
        }
        int r;
        if (e - at >= 5 && memcmp(d + at, "HTTP/", 5) == 0)
            r = skipped ? corrupt(errbuf, at, "a request line after empty lines")
                        : response_line(d + at, e - at, at, !found, m, errbuf);
        else if (resp)
            r = found || memcmp(d + at, "HTTP/", e - at < 5 ? e - at : 5)
                    ? corrupt(errbuf, at, "a final response after an interim one")
                    : KL_ERR_TRUNCATED;
        else
            r = request_line(d + at, e - at, at, !found, m, errbuf);
        if (r == KL_ERR_TRUNCATED) {
            if (!found && len - at > KL_FRAME_MAX_HEADER) {
                kli_seterr(errbuf, "byte %zu: start line longer than %u bytes", at,
                           KL_FRAME_MAX_HEADER);
                return KL_ERR_TOOBIG;
            }
            kli_seterr(errbuf, "byte %zu: the data ends inside a start line", len);
        }
        if (r)
            return r;
        m->start_line = span(d, at, e);
        memset(meta, 0, sizeof *meta);
        meta->status = m->status;
        *headers_at = nl + 1;
        return walk_block(d, len, at, nl + 1, true, meta, NULL, hb, errbuf);
    }
}

int kl_http_parse(const uint8_t *data, size_t len, unsigned flags, kl_http_msg *out, char *errbuf)
{
    if (!out || (!data && len))
        return KL_ERR_INVALID;
    memset(out, 0, sizeof *out);
    kli_seterr(errbuf, "%s", "");
    if (!len) {
        kli_seterr(errbuf, "byte 0: no data");
        return KL_ERR_TRUNCATED;
    }
    const uint8_t *d = data;
    kli_http_meta meta;
    block hb, tb = {0};
    chunks ck = {0};
    size_t from = 0, hat, interim = 0;
    int kind, r;
    for (;;) {
        r = parse_head(d, len, &from, interim > 0, out, &meta, &hat, &hb, errbuf);
        if (r)
            goto fail;
        kind = kli_http_framing((out->response ? KL_FRAME_RESPONSE : 0) |
                                    (flags & KL_HTTP_HEAD ? KL_FRAME_HEAD : 0),
                                &meta);
        if (hb.cut && kind == KLI_BODY_INTERIM) {
            kli_seterr(errbuf, "byte %zu: the data ends inside an interim response", len);
            r = KL_ERR_TRUNCATED;
            goto fail;
        }
        if (hb.cut)
            kind = KLI_BODY_NONE; /* the headers that would frame the body may be missing */
        if (kind < 0) {
            r = corrupt(errbuf, from, "a request's Transfer-Encoding to end with chunked");
            goto fail;
        }
        if (kind != KLI_BODY_INTERIM)
            break;
        interim = hb.end;
        from = hb.end;
    }
    out->interim = span(d, 0, interim);
    size_t hend = hb.end, end = hend;
    out->truncated = hb.cut;
    out->body = span(d, hend, hend);
    switch (kind) {
    case KLI_BODY_LENGTH:
        out->truncated = meta.cl > len - hend;
        end = out->truncated ? len : hend + (size_t)meta.cl;
        out->body = span(d, hend, end);
        break;
    case KLI_BODY_CLOSE:
        end = len;
        out->body = span(d, hend, end);
        break;
    case KLI_BODY_CHUNKED:
        if ((r = walk_chunks(d, len, hend, NULL, &ck, errbuf)))
            goto fail;
        end = ck.end;
        if (ck.trailers) {
            r = walk_block(d, len, ck.trailers, ck.trailers, false, NULL, NULL, &tb, errbuf);
            if (r)
                goto fail;
            end = tb.end;
        }
        out->truncated = !ck.trailers || tb.cut;
        out->decoded = KL_HTTP_DECHUNKED;
        break;
    default:
        break;
    }
    out->msg_len = end;
    out->raw_body = span(d, hend, end);

    /* One allocation holds the headers and, from several chunks, the joined body. */
    size_t nh = hb.n + tb.n, hsize = (nh * sizeof(kl_http_header) + 15) & ~(size_t)15;
    size_t join = ck.nonempty > 1 ? ck.data : 0;
    if (nh || join) {
        r = KL_ERR_NOMEM;
        if (!(out->mem = kli_mem_new()) || kli_mem_reserve(out->mem, hsize + join))
            goto fail;
        kl_http_header *h = nh ? kli_alloc(out->mem, nh * sizeof *h) : NULL;
        uint8_t *body = join ? kli_alloc(out->mem, join) : NULL;
        if ((nh && !h) || (join && !body))
            goto fail;
        walk_block(d, len, from, hat, true, NULL, h, &hb, NULL);
        if (tb.n)
            walk_block(d, len, ck.trailers, ck.trailers, false, NULL, h + hb.n, &tb, NULL);
        out->headers = h;
        out->n_headers = nh;
        out->n_trailers = tb.n;
        if (join) {
            walk_chunks(d, len, hend, body, &ck, NULL);
            out->body = (kl_bytes){body, join};
        }
    }
    if (ck.nonempty == 1)
        out->body = ck.first; /* one chunk: no copy */
    if (out->body.len && !(flags & KL_HTTP_KEEP_ENCODING) &&
        (r = decode_body(out, kind == KLI_BODY_CHUNKED, errbuf)))
        goto fail;
    return KL_OK;
fail:
    kl_http_msg_free(out);
    return r;
}

const kl_http_header *kl_http_header_next(const kl_http_msg *m, const kl_http_header *h,
                                          const char *name)
{
    if (!m || !name)
        return NULL;
    size_t i = h ? (size_t)(h - m->headers) + 1 : 0;
    for (; i < m->n_headers; i++)
        if (kli_ieq(m->headers[i].name.data, m->headers[i].name.len, name))
            return &m->headers[i];
    return NULL;
}

const kl_http_header *kl_http_header_get(const kl_http_msg *m, const char *name)
{
    return kl_http_header_next(m, NULL, name);
}

void kl_http_msg_free(kl_http_msg *m)
{
    if (!m)
        return;
    kli_mem_free(m->mem);
    memset(m, 0, sizeof *m);
}
