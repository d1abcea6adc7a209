/* framing.c - where one message ends in HTTP/1.x, FastCGI, RESP and MySQL byte streams. */
#include "kl_internal.h"

#include <string.h>

/* Phases of kl_frame_state, shared by the protocols: each walks the message one unit
 * (header block, chunk, record, value, packet) at a time and saves its place after each. */
enum {
    PH_START = 0,
    PH_DONE,
    H_BODY,       /* left: offset where the body ends */
    H_CHUNK_SIZE,
    H_CHUNK_DATA, /* left: bytes of chunk data still to come */
    H_TRAILERS,
    H_CLOSE,      /* the body runs until the connection closes */
    F_RECORDS,    /* id: the request id */
    R_VALUES,     /* left: values still to read */
    M_PACKETS,    /* id: the next sequence id */
};

#define F_LINE_OK 1u /* HTTP: the start line was checked */
#define F_FILTER 2u  /* FastCGI: the filter role, whose request ends with its data stream */

#define RESP_MAX_COUNT (1u << 30)
#define MYSQL_MAX_PAYLOAD 0xffffffu

static int finish(kl_frame_state *st, size_t end)
{
    st->phase = PH_DONE;
    st->pos = end;
    return 1;
}

/* RFC 9110's tchar: letters, digits and !#$%&'*+-.^_`|~ - a table, as every byte of every
 * header name of every recorded message is looked up. */
static const bool tchars[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

size_t kli_http_token(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && tchars[p[i]])
        i++;
    return i;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* Length of the line [start, nl) without its CR. */
static size_t line_len(const uint8_t *d, size_t start, size_t nl)
{
    return nl - start - (nl > start && d[nl - 1] == '\r');
}

/* Find the newline ending the line that starts at from, resuming the search at *scan.
 * @return 1 with *nl set, 0 when more bytes are needed, KL_ERR_TOOBIG when max bytes hold
 *         none. */
static int find_line(const uint8_t *d, size_t len, size_t from, size_t *scan, size_t max, size_t *nl)
{
    size_t lim = len - from > max ? from + max : len;
    size_t p = *scan > from ? *scan : from;
    const uint8_t *q = p < lim ? memchr(d + p, '\n', lim - p) : NULL;
    if (q) {
        *nl = (size_t)(q - d);
        return 1;
    }
    *scan = lim;
    return len - from > max ? KL_ERR_TOOBIG : 0;
}

static int http_header(const uint8_t *p, size_t n, kli_http_meta *m);

/* Find the empty line closing a block of lines (headers, trailers) that starts at from.
 * st->left holds the start of the line being read, st->scan where the search resumes. With
 * fields, each line is read as a header field into it on the way (one pass over a block that
 * is whole). @return 1 with *end just past the empty line, 0 for more bytes, KL_ERR_TOOBIG,
 * or, once the block is whole, KL_ERR_CORRUPT for a bad field. */
static int find_blank(const uint8_t *d, size_t len, kl_frame_state *st, size_t from, size_t *end,
                      kli_http_meta *fields)
{
    size_t ls = (size_t)st->left;
    int bad = KL_OK;
    for (;;) {
        size_t nl;
        int r = find_line(d, len, from, &st->scan, KL_FRAME_MAX_HEADER, &nl);
        if (r <= 0) {
            st->left = ls;
            return r;
        }
        size_t ll = line_len(d, ls, nl);
        if (ll == 0) {
            *end = nl + 1;
            return bad ? bad : 1;
        }
        if (fields && !bad)
            bad = http_header(d + ls, ll, fields);
        ls = st->scan = nl + 1;
    }
}

/* ---------------------------------------------------------------- HTTP/1.x */

static bool http_version_ok(const uint8_t *p)
{
    return memcmp(p, "HTTP/1.", 7) == 0 && is_digit(p[7]);
}

/* "HTTP/1.1 200 OK" or "GET /path HTTP/1.1"; HTTP/0.9 and HTTP/2 are not ours. */
static bool start_line_ok(unsigned flags, const uint8_t *p, size_t n)
{
    if (flags & KL_FRAME_RESPONSE)
        return n >= 12 && http_version_ok(p) && p[8] == ' ' && is_digit(p[9]) && is_digit(p[10]) &&
               is_digit(p[11]) && (n == 12 || p[12] == ' ');
    size_t i = kli_http_token(p, n);
    if (i == 0 || i >= n || p[i] != ' ')
        return false;
    size_t target = ++i;
    while (i < n && p[i] > ' ' && p[i] != 0x7f)
        i++;
    return i > target && n - i == 9 && p[i] == ' ' && http_version_ok(p + i + 1);
}

/* Content-Length: digits, or a list of identical values ("42, 42") as some proxies send. */
static bool parse_content_length(const uint8_t *v, size_t n, uint64_t *out)
{
    bool any = false;
    uint64_t first = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        uint64_t x = 0;
        size_t digits = 0;
        for (; i < n && is_digit(v[i]); i++, digits++) {
            if (x > (UINT64_C(1) << 60))
                return false;
            x = x * 10 + (uint64_t)(v[i] - '0');
        }
        while (i < n && (v[i] == ' ' || v[i] == '\t'))
            i++;
        if (!digits || (i < n && v[i] != ',') || (any && x != first))
            return false;
        first = x;
        any = true;
        i++;
    }
    *out = first;
    return any;
}

/* Whether the last coding in a Transfer-Encoding value is "chunked". */
static bool last_coding_chunked(const uint8_t *v, size_t n)
{
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    size_t s = n;
    while (s && v[s - 1] != ',' && v[s - 1] != ' ' && v[s - 1] != '\t')
        s--;
    return kli_ieq(v + s, n - s, "chunked");
}

int kli_http_meta_add(kli_http_meta *m, const uint8_t *p, size_t nn, const uint8_t *v, size_t vn)
{
    /* Most headers are told apart from both names below by their length alone. */
    if (nn != sizeof "content-length" - 1 && nn != sizeof "transfer-encoding" - 1)
        return KL_OK;
    if (kli_ieq(p, nn, "content-length")) {
        uint64_t cl;
        if (!parse_content_length(v, vn, &cl) || (m->has_cl && cl != m->cl))
            return KL_ERR_CORRUPT;
        m->has_cl = true;
        m->cl = cl;
    } else if (kli_ieq(p, nn, "transfer-encoding")) {
        m->te = true;
        m->chunked = last_coding_chunked(v, vn);
    }
    return KL_OK;
}

static int http_header(const uint8_t *p, size_t n, kli_http_meta *m)
{
    if (p[0] == ' ' || p[0] == '\t')
        return KL_OK; /* obsolete line folding continues a value we do not need */
    size_t nn = kli_http_token(p, n); /* the name, which the colon must end */
    if (nn == 0 || nn == n || p[nn] != ':')
        return KL_ERR_CORRUPT;
    const uint8_t *v = p + nn + 1;
    size_t vn = n - nn - 1;
    while (vn && (*v == ' ' || *v == '\t'))
        v++, vn--;
    return kli_http_meta_add(m, p, nn, v, vn);
}

/* m for a message whose start line, checked, is at p: its status, no field read yet. */
static void http_meta_start(unsigned flags, const uint8_t *p, kli_http_meta *m)
{
    memset(m, 0, sizeof *m);
    if (flags & KL_FRAME_RESPONSE)
        m->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}

/* Read the status and the framing headers of the header block p[0..n). */
static int http_parse(unsigned flags, const uint8_t *p, size_t n, kli_http_meta *m)
{
    http_meta_start(flags, p, m);
    const uint8_t *nl = memchr(p, '\n', n);
    for (size_t ls = (size_t)(nl - p) + 1; ls < n;) {
        size_t e = (size_t)((const uint8_t *)memchr(p + ls, '\n', n - ls) - p);
        size_t ll = line_len(p, ls, e);
        if (ll == 0)
            break;
        int r = http_header(p + ls, ll, m);
        if (r)
            return r;
        ls = e + 1;
    }
    return KL_OK;
}

static int http_body(kl_frame_state *st, size_t hend, uint64_t cl)
{
    if (cl == 0)
        return finish(st, hend);
    if (cl > UINT64_MAX - hend)
        return KL_ERR_CORRUPT;
    st->phase = H_BODY;
    st->left = hend + cl;
    return 1;
}

static int http_chunked(kl_frame_state *st, size_t hend)
{
    st->phase = H_CHUNK_SIZE;
    st->pos = st->scan = hend;
    return 1;
}

/* The header block [st->pos, hend) is complete, its fields m: decide how the body is framed. */
static int http_body_start(unsigned flags, kl_frame_state *st, size_t hend, const kli_http_meta *m)
{
    int r;
    st->flags &= (uint8_t)~F_LINE_OK;
    switch ((r = kli_http_framing(flags, m))) {
    case KLI_BODY_NONE:
        return finish(st, hend);
    case KLI_BODY_INTERIM:
        st->pos = st->scan = hend; /* the final response follows */
        return 1;
    case KLI_BODY_LENGTH:
        return http_body(st, hend, m->cl);
    case KLI_BODY_CHUNKED:
        return http_chunked(st, hend);
    case KLI_BODY_CLOSE:
        st->phase = H_CLOSE;
        st->pos = hend;
        return 0;
    default:
        return r;
    }
}

int kli_http_framing(unsigned flags, const kli_http_meta *m)
{
    if (!(flags & KL_FRAME_RESPONSE)) {
        if (m->te)
            return m->chunked ? KLI_BODY_CHUNKED : KL_ERR_CORRUPT; /* RFC 9112 6.3 */
        return m->has_cl ? KLI_BODY_LENGTH : KLI_BODY_NONE;
    }
    if (m->status >= 100 && m->status < 200 && m->status != 101)
        return KLI_BODY_INTERIM;
    if (m->status < 200 || m->status == 204 || m->status == 304 || (flags & KL_FRAME_HEAD))
        return KLI_BODY_NONE;
    if (m->te && m->chunked)
        return KLI_BODY_CHUNKED;
    if (!m->te && m->has_cl)
        return KLI_BODY_LENGTH;
    return KLI_BODY_CLOSE;
}

static int http_head(unsigned flags, const uint8_t *d, size_t len, kl_frame_state *st)
{
    kli_http_meta m, *fields = NULL;
    if (!(st->flags & F_LINE_OK)) {
        size_t nl;
        int r = find_line(d, len, st->pos, &st->scan, KL_FRAME_MAX_HEADER, &nl);
        if (r <= 0)
            return r;
        size_t ll = line_len(d, st->pos, nl);
        if (ll == 0 && !(flags & KL_FRAME_RESPONSE)) {
            st->pos = st->scan = nl + 1; /* an empty line before a request (RFC 9112 2.2) */
            return 1;
        }
        if (!start_line_ok(flags, d + st->pos, ll))
            return KL_ERR_CORRUPT;
        st->flags |= F_LINE_OK;
        st->scan = st->left = nl + 1;
        /* a block that came whole is read in the search for its end; one that did not is read
         * again whole once it is (the fields read so far are not kept in st) */
        http_meta_start(flags, d + st->pos, &m);
        fields = &m;
    }
    size_t hend;
    int r = find_blank(d, len, st, st->pos, &hend, fields);
    if (r <= 0)
        return r;
    if (!fields && (r = http_parse(flags, d + st->pos, hend - st->pos, &m)) != KL_OK)
        return r;
    return http_body_start(flags, st, hend, &m);
}

bool kli_http_chunk_size(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t size = 0;
    size_t i = 0;
    for (int h; i < n && (h = kli_hex_digit(p[i])) >= 0; i++) {
        if (size >> 56)
            return false;
        size = size * 16 + (uint64_t)h;
    }
    if (i == 0)
        return false;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i < n && p[i] != ';' && !(p[i] == '\r' && i + 1 == n))
        return false;
    *out = size;
    return true;
}

static int chunk_size(const uint8_t *d, size_t len, kl_frame_state *st)
{
    size_t nl;
    int r = find_line(d, len, st->pos, &st->scan, KLI_HTTP_CHUNK_LINE_MAX, &nl);
    if (r <= 0)
        return r == KL_ERR_TOOBIG ? KL_ERR_CORRUPT : r;
    uint64_t size;
    if (!kli_http_chunk_size(d + st->pos, nl - st->pos, &size))
        return KL_ERR_CORRUPT;
    st->pos = st->scan = nl + 1;
    st->left = size ? size : st->pos;
    st->phase = size ? H_CHUNK_DATA : H_TRAILERS;
    return 1;
}

static int chunk_data(const uint8_t *d, size_t len, kl_frame_state *st)
{
    if (len - st->pos <= st->left)
        return 0;
    size_t q = st->pos + (size_t)st->left;
    size_t next;
    if (d[q] == '\n') {
        next = q + 1;
    } else if (d[q] == '\r') {
        if (q + 1 >= len)
            return 0;
        if (d[q + 1] != '\n')
            return KL_ERR_CORRUPT;
        next = q + 2;
    } else {
        return KL_ERR_CORRUPT;
    }
    st->pos = st->scan = next;
    st->phase = H_CHUNK_SIZE;
    return 1;
}

static int http_step(unsigned flags, const uint8_t *d, size_t len, kl_frame_state *st)
{
    size_t end;
    int r;
    switch (st->phase) {
    case PH_START:
        return http_head(flags, d, len, st);
    case H_BODY:
        return len < st->left ? 0 : finish(st, (size_t)st->left);
    case H_CHUNK_SIZE:
        return chunk_size(d, len, st);
    case H_CHUNK_DATA:
        return chunk_data(d, len, st);
    case H_TRAILERS:
        r = find_blank(d, len, st, st->pos, &end, NULL);
        return r <= 0 ? r : finish(st, end);
    case H_CLOSE:
        return 0;
    default:
        return KL_ERR_INVALID;
    }
}

/* ----------------------------------------------------------------- FastCGI */

static bool fcgi_type_ok(unsigned type, bool response)
{
    switch (type) {
    case FCGI_BEGIN_REQUEST: case FCGI_ABORT_REQUEST: case FCGI_PARAMS: case FCGI_STDIN:
    case FCGI_DATA: case FCGI_GET_VALUES:
        return !response;
    case FCGI_END_REQUEST: case FCGI_STDOUT: case FCGI_STDERR: case FCGI_GET_VALUES_RESULT:
    case FCGI_UNKNOWN_TYPE:
        return response;
    default:
        return false;
    }
}

/* Whether a record of the message's own request id ends it. */
static bool fcgi_ends(unsigned flags, const kl_frame_state *st, unsigned type, unsigned clen)
{
    if (flags & KL_FRAME_RESPONSE)
        return type == FCGI_END_REQUEST;
    unsigned last = st->flags & F_FILTER ? FCGI_DATA : FCGI_STDIN;
    return type == FCGI_ABORT_REQUEST || (type == last && clen == 0);
}

static int fcgi_step(unsigned flags, const uint8_t *d, size_t len, kl_frame_state *st)
{
    if (len - st->pos < KLI_FCGI_HEADER)
        return 0;
    const uint8_t *h = d + st->pos;
    unsigned type = h[1], id = (unsigned)h[2] << 8 | h[3], clen = (unsigned)h[4] << 8 | h[5];
    size_t total = KLI_FCGI_HEADER + (size_t)clen + h[6];
    if (h[0] != 1 || !fcgi_type_ok(type, flags & KL_FRAME_RESPONSE))
        return KL_ERR_CORRUPT;
    if (len - st->pos < total)
        return 0;
    size_t end = st->pos + total;
    if (st->phase == PH_START) {
        st->phase = F_RECORDS;
        st->id = id;
        if (type == FCGI_BEGIN_REQUEST && clen >= 2 && ((unsigned)h[8] << 8 | h[9]) == 3)
            st->flags |= F_FILTER;
        if (id == 0) /* a management record stands alone */
            return finish(st, end);
    }
    st->pos = end;
    if (id == st->id && fcgi_ends(flags, st, type, clen))
        return finish(st, end);
    return 1;
}

/* -------------------------------------------------------------------- RESP */

/* A RESP integer: an optional '-' and 1 to 18 digits, nothing else. */
static bool parse_int(const uint8_t *p, size_t n, int64_t *out)
{
    bool neg = n && p[0] == '-';
    size_t i = neg;
    if (n - i < 1 || n - i > 18)
        return false;
    int64_t x = 0;
    for (; i < n; i++) {
        if (!is_digit(p[i]))
            return false;
        x = x * 10 + (p[i] - '0');
    }
    *out = neg ? -x : x;
    return true;
}

/* Read one value's header line and, for bulk strings, its payload. Aggregates add their
 * elements to st->left, so nesting needs no stack. */
static int resp_value(const uint8_t *d, size_t len, kl_frame_state *st)
{
    size_t nl;
    int r = find_line(d, len, st->pos, &st->scan, KL_FRAME_MAX_HEADER, &nl);
    if (r <= 0)
        return r;
    if (nl - st->pos < 2 || d[nl - 1] != '\r')
        return KL_ERR_CORRUPT;
    uint8_t type = d[st->pos];
    const uint8_t *v = d + st->pos + 1;
    size_t vn = nl - 1 - (st->pos + 1), next = nl + 1;
    uint64_t add = 0;
    int64_t n = 0;
    switch (type) {
    case '+': case '-': case '_': case '#': case ',': case '(':
        break;
    case ':':
        if (!parse_int(v, vn, &n))
            return KL_ERR_CORRUPT;
        break;
    case '$': case '!': case '=':
        if (!parse_int(v, vn, &n) || n < -1 || (n == -1 && type != '$'))
            return KL_ERR_CORRUPT;
        if (n >= 0) {
            if (len - next < (uint64_t)n + 2)
                return 0;
            next += (size_t)n;
            if (d[next] != '\r' || d[next + 1] != '\n')
                return KL_ERR_CORRUPT;
            next += 2;
        }
        break;
    case '*': case '~': case '>': case '%': case '|':
        if (!parse_int(v, vn, &n) || n < -1 || (n == -1 && type != '*') || n > RESP_MAX_COUNT)
            return KL_ERR_CORRUPT;
        /* a map holds pairs; an attribute holds pairs and precedes the value it describes */
        if (n > 0)
            add = (uint64_t)n * (type == '%' || type == '|' ? 2 : 1);
        add += type == '|';
        break;
    default:
        return KL_ERR_CORRUPT;
    }
    st->pos = st->scan = next;
    st->left = st->left - 1 + add;
    return st->left ? 1 : finish(st, next);
}

static int resp_step(unsigned flags, const uint8_t *d, size_t len, kl_frame_state *st)
{
    if (st->phase == R_VALUES)
        return resp_value(d, len, st);
    if (len == 0)
        return 0;
    if (!(flags & KL_FRAME_RESPONSE) && d[0] != '*') {
        size_t nl; /* an inline command, as redis-cli and telnet send */
        int r = find_line(d, len, 0, &st->scan, KL_FRAME_MAX_HEADER, &nl);
        return r <= 0 ? r : finish(st, nl + 1);
    }
    st->phase = R_VALUES;
    st->left = 1;
    return 1;
}

/* ------------------------------------------------------------------- MySQL */

static int mysql_step(const uint8_t *d, size_t len, kl_frame_state *st)
{
    if (len - st->pos < 4)
        return 0;
    const uint8_t *h = d + st->pos;
    uint32_t plen = h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16;
    if (st->phase == M_PACKETS && h[3] != st->id)
        return KL_ERR_CORRUPT; /* a continuation packet carries the next sequence id */
    if (len - st->pos - 4 < plen)
        return 0;
    st->phase = M_PACKETS;
    st->id = (uint8_t)(h[3] + 1);
    st->pos += 4 + (size_t)plen;
    return plen < MYSQL_MAX_PAYLOAD ? finish(st, st->pos) : 1;
}

/* --------------------------------------------------------------- detection */

static bool http_detect(const uint8_t *d, size_t len)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS",
                                          "PATCH", "TRACE", "CONNECT", "PROPFIND", "PROPPATCH",
                                          "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT",
                                          "PURGE", "SEARCH"};
    if (len >= 8 && http_version_ok(d))
        return true;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        size_t n = strlen(methods[i]);
        if (len > n && memcmp(d, methods[i], n) == 0 && d[n] == ' ')
            return true;
    }
    return false;
}

static bool fcgi_detect(const uint8_t *d, size_t len)
{
    if (len < 8 || d[0] != 1 || d[1] < FCGI_BEGIN_REQUEST || d[1] > FCGI_UNKNOWN_TYPE || d[7])
        return false;
    unsigned clen = (unsigned)d[4] << 8 | d[5];
    return (d[1] != FCGI_BEGIN_REQUEST && d[1] != FCGI_END_REQUEST) || clen == 8;
}

/* A complete, well-formed first line: "*2\r\n$3\r\n...", "+OK\r\n", ":1\r\n", "-ERR x\r\n". */
static bool resp_detect(const uint8_t *d, size_t len)
{
    if (len < 3 || !strchr("*$+-:%~", d[0]) || !d[0])
        return false;
    size_t lim = len < KL_FRAME_DETECT_BYTES ? len : KL_FRAME_DETECT_BYTES;
    const uint8_t *nl = memchr(d, '\n', lim);
    if (!nl || nl - d < 2 || nl[-1] != '\r')
        return false;
    size_t vn = (size_t)(nl - d) - 2;
    if (d[0] == '+' || d[0] == '-') {
        for (size_t i = 1; i <= vn; i++)
            if (d[i] < 0x20 || d[i] > 0x7e)
                return false;
        return true;
    }
    int64_t n;
    if (!parse_int(d + 1, vn, &n))
        return false;
    size_t after = (size_t)(nl - d) + 1;
    return !(d[0] == '*' && n > 0 && after < len &&
             (!d[after] || !strchr("*$+-:_#,(!=%~>|", d[after])));
}

static bool mysql_detect(const uint8_t *d, size_t len)
{
    if (len < 6 || d[3] != 0)
        return false;
    uint32_t plen = d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16;
    size_t end = len < 4 + (size_t)plen ? len : 4 + (size_t)plen;
    if (end > 20)
        end = 20;
    if (d[4] == 10 && plen >= 20 && plen < 1024 && is_digit(d[5])) { /* server greeting */
        for (size_t i = 6; i < len && i < 40; i++)
            if (d[i] == 0)
                return true;
            else if (d[i] < 0x20 || d[i] > 0x7e)
                return false;
        return false;
    }
    if (d[4] != 3 || plen < 2) /* COM_QUERY and its SQL text */
        return false;
    for (size_t i = 5; i < end; i++)
        if ((d[i] < 0x20 && d[i] != '\n' && d[i] != '\r' && d[i] != '\t') || d[i] == 0x7f)
            return false;
    return true;
}

kl_protocol kl_frame_detect(const uint8_t *data, size_t len)
{
    if (http_detect(data, len))
        return KL_PROTO_HTTP;
    if (fcgi_detect(data, len))
        return KL_PROTO_FASTCGI;
    if (resp_detect(data, len))
        return KL_PROTO_RESP;
    if (mysql_detect(data, len))
        return KL_PROTO_MYSQL;
    return KL_PROTO_UNKNOWN;
}

/* ------------------------------------------------------------------ public */

static int step(kl_protocol p, unsigned flags, const uint8_t *d, size_t len, kl_frame_state *st)
{
    switch (p) {
    case KL_PROTO_HTTP: return http_step(flags, d, len, st);
    case KL_PROTO_FASTCGI: return fcgi_step(flags, d, len, st);
    case KL_PROTO_RESP: return resp_step(flags, d, len, st);
    case KL_PROTO_MYSQL: return mysql_step(d, len, st);
    case KL_PROTO_UNKNOWN: break;
    }
    return KL_ERR_INVALID;
}

int kl_frame_message(kl_protocol p, unsigned flags, const uint8_t *data, size_t len,
                     kl_frame_state *st, size_t *msg_len)
{
    kl_frame_state fresh = {0};
    if (!st)
        st = &fresh;
    *msg_len = 0;
    if (st->pos > len || st->scan > len)
        return KL_ERR_INVALID; /* the buffer lost bytes it had */
    int r = 1;
    while (st->phase != PH_DONE && r > 0)
        r = step(p, flags, data, len, st);
    if (r < 0)
        return r;
    if (st->phase == H_CLOSE && (flags & KL_FRAME_EOF))
        finish(st, len);
    if (st->phase == PH_DONE) {
        *msg_len = st->pos;
        return KL_OK;
    }
    return (flags & KL_FRAME_EOF) && len ? KL_ERR_TRUNCATED : KL_OK;
}

const char *kl_protocol_name(kl_protocol p)
{
    switch (p) {
    case KL_PROTO_UNKNOWN: return "unknown";
    case KL_PROTO_HTTP: return "http";
    case KL_PROTO_FASTCGI: return "fastcgi";
    case KL_PROTO_RESP: return "resp";
    case KL_PROTO_MYSQL: return "mysql";
    }
    return "unknown";
}
