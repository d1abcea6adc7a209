/* print.c - human-readable views: summary lines, full sessions, payloads, times, text helpers. */
#include "kl_text.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Buffers fail only when memory runs out, so helpers here return nonzero for "stop" and the
 * public functions report it as KL_ERR_NOMEM. */
#define DONE(failed) ((failed) ? KL_ERR_NOMEM : KL_OK)

#define DESC_MAX 40   /* bytes of request description in a summary line */
#define RUN_MIN 4     /* shortest printable run that describes a request, as strings(1) */
#define HEX_WIDTH 16  /* bytes per hexdump line */
#define PAYLOAD_INDENT "    "

/* ------------------------------------------------------------ text helpers */

int kli_text_size(kl_buf *out, uint64_t n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n < 1024)
        return kl_buf_printf(out, "%lluB", (unsigned long long)n);
    /* Integer tenths, so 1023.96 KiB rounds up into the next unit instead of "1024.0KiB". */
    for (size_t u = 0;; u++) {
        uint64_t div = 1ull << (10 * (u + 1));
        uint64_t tenths = n / div * 10 + ((n % div) * 10 + div / 2) / div;
        if (tenths < 10240 || u + 1 == sizeof units / sizeof units[0])
            return kl_buf_printf(out, "%llu.%llu%s", (unsigned long long)(tenths / 10),
                                 (unsigned long long)(tenths % 10), units[u]);
    }
}

int kli_text_fixed(kl_buf *out, double v, int decimals)
{
    uint64_t scale = 1;
    for (int i = 0; i < decimals; i++)
        scale *= 10;
    const char *sign = v < 0 ? "-" : "";
    double mag = fabs(v) * (double)scale;
    if (!(mag < 9e18)) /* too large for the integer path; %.0f has no decimal point */
        return kl_buf_printf(out, "%s%.0f", sign, fabs(v));
    /* rounded half up, as llround would, without libm: the recorder needs none */
    uint64_t units = (uint64_t)mag;
    if (mag - (double)units >= 0.5)
        units++;
    if (units == 0)
        sign = "";
    if (decimals == 0)
        return kl_buf_printf(out, "%s%llu", sign, (unsigned long long)units);
    return kl_buf_printf(out, "%s%llu.%0*llu", sign, (unsigned long long)(units / scale), decimals,
                         (unsigned long long)(units % scale));
}

char *kli_text_decimal(char *p, int64_t v)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233"
                                "34353637383940414243444546474849505152535455565758596061626364656667"
                                "6869707172737475767778798081828384858687888990919293949596979899";
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    char tmp[20], *q = tmp + sizeof tmp;
    for (; u >= 100; u /= 100) /* two digits a step */
        memcpy(q -= 2, pairs + 2 * (u % 100), 2);
    if (u >= 10)
        memcpy(q -= 2, pairs + 2 * u, 2);
    else
        *--q = (char)('0' + u);
    if (v < 0)
        *p++ = '-';
    size_t n = (size_t)(tmp + sizeof tmp - q);
    memcpy(p, q, n);
    return p + n;
}

static bool is_control(uint8_t c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

int kli_text_escaped(kl_buf *out, const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t run = i, n;
        while (run < len && !is_control(p[run]) && (n = kli_utf8_len(p + run, len - run)) > 0)
            run += n;
        if (kl_buf_append(out, p + i, run - i))
            return KL_ERR_NOMEM;
        if (run < len && kl_buf_printf(out, "\\x%02x", p[run]))
            return KL_ERR_NOMEM;
        i = run + 1;
    }
    return KL_OK;
}

static int put_str(kl_buf *out, const char *s)
{
    return s ? kli_text_escaped(out, (const uint8_t *)s, strlen(s)) : kl_buf_append(out, "-", 1);
}

static int put_bytes(kl_buf *out, kl_bytes b)
{
    return kli_text_escaped(out, b.data, b.len);
}

static int put_payload(kl_buf *out, kl_bytes b)
{
    return kl_print_payload(b.data, b.len, PAYLOAD_INDENT, out);
}

static int put_nl(kl_buf *out)
{
    return kl_buf_append(out, "\n", 1);
}

static int put_addr(kl_buf *out, const kl_addr *a)
{
    char text[KL_ADDR_STRLEN];
    kl_addr_format(a, text, sizeof text);
    if (kli_text_escaped(out, (const uint8_t *)text, strlen(text)))
        return KL_ERR_NOMEM;
    /* The IP form wins in kl_addr_format(); a full view also shows the path beside it. */
    if (a->family && a->unix_path[0])
        return kl_buf_append(out, " unix ", 6) || put_str(out, a->unix_path);
    return KL_OK;
}

/* ------------------------------------------------------------------ times */

int kl_print_time(int64_t ns, kl_buf *out)
{
    if (ns == 0)
        return kl_buf_append(out, "-", 1);
    int64_t sec = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) { /* C division truncates toward zero; times before 1970 need the floor */
        frac += 1000000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return KL_ERR_INVALID;
    return kl_buf_printf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

/* --------------------------------------------------------------- payloads */

/* Text when it is valid UTF-8 without NULs, and control bytes other than \t \r \n are rare
 * (an escape sequence in a log line), so showing those as \xNN keeps it readable. */
static bool is_text(const uint8_t *p, size_t len)
{
    size_t controls = 0;
    for (size_t i = 0, n; i < len; i += n) {
        n = kli_utf8_len(p + i, len - i);
        if (n == 0 || p[i] == 0)
            return false;
        controls += is_control(p[i]) && p[i] != '\n' && p[i] != '\r';
    }
    return controls * 16 <= len;
}

/* One line per \n; a \r just before it is the line end, not content. Empty lines get no
 * indent, so the output has no trailing blanks. */
static int put_text(const uint8_t *p, size_t len, const char *indent, kl_buf *out)
{
    for (size_t start = 0; start < len;) {
        const uint8_t *nl = memchr(p + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - p) : len, stop = end;
        if (nl && stop > start && p[stop - 1] == '\r')
            stop--;
        if ((stop > start && kl_buf_printf(out, "%s", indent)) ||
            kli_text_escaped(out, p + start, stop - start) || kl_buf_append(out, "\n", 1))
            return KL_ERR_NOMEM;
        start = end + 1;
    }
    return KL_OK;
}

/* hexdump -C layout: offset, two groups of 8 hex bytes, the printable ASCII column. */
static int put_hex_line(const uint8_t *p, size_t n, size_t off, const char *indent, kl_buf *out)
{
    static const char hex[] = "0123456789abcdef";
    char line[128];
    int w = snprintf(line, sizeof line, "%08zx ", off);
    size_t k = w > 0 ? (size_t)w : 0;
    for (size_t i = 0; i < HEX_WIDTH; i++) {
        if (i == HEX_WIDTH / 2)
            line[k++] = ' ';
        line[k++] = ' ';
        line[k++] = i < n ? hex[p[i] >> 4] : ' ';
        line[k++] = i < n ? hex[p[i] & 15] : ' ';
    }
    memcpy(line + k, "  |", 3);
    k += 3;
    for (size_t i = 0; i < n; i++)
        line[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '.';
    memcpy(line + k, "|\n", 2);
    return kl_buf_printf(out, "%s", indent) || kl_buf_append(out, line, k + 2);
}

int kl_print_payload(const uint8_t *data, size_t len, const char *indent, kl_buf *out)
{
    if (!indent)
        indent = "";
    if (is_text(data, len))
        return put_text(data, len, indent, out);
    for (size_t off = 0; off < len; off += HEX_WIDTH) {
        size_t n = len - off < HEX_WIDTH ? len - off : HEX_WIDTH;
        if (put_hex_line(data + off, n, off, indent, out))
            return KL_ERR_NOMEM;
    }
    return KL_OK;
}

/* A titled payload: "  request (52 bytes)" and its lines. */
static int put_section(kl_buf *out, const char *title, int64_t at, kl_bytes b)
{
    bool failed = kl_buf_printf(out, "  %s", title);
    if (at)
        failed = failed || kl_buf_append(out, " at ", 4) || kl_print_time(at, out);
    return failed || kl_buf_printf(out, " (%zu bytes)\n", b.len) || put_payload(out, b);
}

/* ---------------------------------------------------------------- summary */

/* "METHOD target HTTP/": @return the length of "METHOD target", 0 when not an HTTP request. */
static size_t http_request(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len && i < 20 && ((p[i] >= 'A' && p[i] <= 'Z') || p[i] == '-'))
        i++;
    if (i == 0 || i >= len || p[i] != ' ')
        return 0;
    size_t target = ++i;
    while (i < len && p[i] > 0x20 && p[i] < 0x7f)
        i++;
    if (i == target || len - i < 6 || memcmp(p + i, " HTTP/", 6) != 0)
        return 0;
    return i;
}

/* "HTTP/1.1 200 OK": @return 200, or -1 when the response is not HTTP. */
static int http_status(const uint8_t *p, size_t len)
{
    if (len < 12 || memcmp(p, "HTTP/", 5) != 0)
        return -1;
    const uint8_t *sp = memchr(p + 5, ' ', len - 5 < 8 ? len - 5 : 8);
    if (!sp || (size_t)(sp - p) + 4 > len)
        return -1;
    int code = 0;
    for (int i = 1; i <= 3; i++) {
        if (sp[i] < '0' || sp[i] > '9')
            return -1;
        code = code * 10 + (sp[i] - '0');
    }
    return (size_t)(sp - p) + 4 == len || sp[4] == ' ' || sp[4] == '\r' ? code : -1;
}

/* The first run of at least RUN_MIN printable ASCII bytes; @return its length, 0 for none. */
static size_t printable_run(const uint8_t *p, size_t len, size_t *start)
{
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && p[j] >= 0x20 && p[j] < 0x7f)
            j++;
        if (j - i >= RUN_MIN) {
            *start = i;
            return j - i;
        }
        i = j + 1;
    }
    return 0;
}

/* The FastCGI record at p (len bytes left): its type and content, and where the next one
 * starts. @return false when no whole record of version 1 is there. */
static bool fcgi_record(const uint8_t *p, size_t len, unsigned *type, kl_bytes *content, size_t *next)
{
    if (len < KLI_FCGI_HEADER || p[0] != 1)
        return false;
    size_t clen = (size_t)p[4] << 8 | p[5];
    if (len - KLI_FCGI_HEADER < clen + p[6])
        return false;
    *type = p[1];
    *content = (kl_bytes){p + KLI_FCGI_HEADER, clen};
    *next = KLI_FCGI_HEADER + clen + p[6];
    return true;
}

/* A name or value length of a FastCGI name-value pair: one byte, or four with the top bit
 * set. @return false past the end. */
static bool fcgi_length(const uint8_t *p, size_t len, size_t *i, size_t *n)
{
    if (*i >= len)
        return false;
    if (!(p[*i] & 0x80)) {
        *n = p[(*i)++];
        return true;
    }
    if (len - *i < 4)
        return false;
    *n = ((size_t)p[*i] & 0x7f) << 24 | (size_t)p[*i + 1] << 16 | (size_t)p[*i + 2] << 8 | p[*i + 3];
    *i += 4;
    return true;
}

/* The value of name among the name-value pairs of params. */
static bool fcgi_param(kl_bytes params, const char *name, kl_bytes *value)
{
    size_t want = strlen(name);
    for (size_t i = 0, n, v; fcgi_length(params.data, params.len, &i, &n) &&
                             fcgi_length(params.data, params.len, &i, &v) &&
                             n <= params.len - i && v <= params.len - i - n;
         i += n + v)
        if (n == want && memcmp(params.data + i, name, n) == 0) {
            *value = (kl_bytes){params.data + i + n, v};
            return true;
        }
    return false;
}

int kli_fcgi_request(kl_buf *out, kl_bytes req, size_t max)
{
    unsigned type;
    kl_bytes content, method, uri, query;
    size_t next;
    if (!fcgi_record(req.data, req.len, &type, &content, &next) || type != FCGI_BEGIN_REQUEST)
        return 0;
    /* a pair may run on into the next record: the params are joined first */
    kl_buf params = {0}, target = {0};
    bool failed = false;
    for (size_t at = next; !failed && fcgi_record(req.data + at, req.len - at, &type, &content, &next);
         at += next)
        if (type == FCGI_PARAMS)
            failed = kl_buf_append(&params, content.data, content.len) != KL_OK;
    kl_bytes all = {(const uint8_t *)params.data, params.len};
    bool named = !failed && fcgi_param(all, "REQUEST_METHOD", &method);
    if (named && fcgi_param(all, "REQUEST_URI", &uri))
        failed = kl_buf_append(&target, uri.data, uri.len);
    else if (named && fcgi_param(all, "SCRIPT_NAME", &uri))
        failed = kl_buf_append(&target, uri.data, uri.len) ||
                 (fcgi_param(all, "QUERY_STRING", &query) && query.len &&
                  (kl_buf_append(&target, "?", 1) || kl_buf_append(&target, query.data, query.len)));
    else
        named = false;
    if (named && !failed) {
        size_t cut = target.len > max ? max : target.len;
        failed = put_bytes(out, method) || kl_buf_append(out, " ", 1) ||
                 kli_text_escaped(out, (const uint8_t *)target.data, cut) ||
                 (cut < target.len && kl_buf_append(out, "...", 3));
    }
    int done = failed ? -1 : named;
    kl_buf_free(&params);
    kl_buf_free(&target);
    return done;
}

/* The status of a FastCGI response: its Status header, else 200 once its first output
 * record holds a whole header block, as a web server would answer; -1 when not FastCGI. */
static int fcgi_status(kl_bytes resp)
{
    unsigned type;
    kl_bytes out;
    size_t next;
    if (!fcgi_record(resp.data, resp.len, &type, &out, &next) || type != FCGI_STDOUT ||
        !memmem(out.data, out.len, "\r\n\r\n", 4))
        return -1;
    for (size_t i = 0; i + 11 <= out.len && !(out.data[i] == '\r' && out.data[i + 1] == '\n');) {
        const uint8_t *eol = memmem(out.data + i, out.len - i, "\r\n", 2);
        if (strncasecmp((const char *)out.data + i, "Status: ", 8) == 0) {
            const uint8_t *d = out.data + i + 8;
            if (d[0] >= '1' && d[0] <= '5' && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' && d[2] <= '9')
                return (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
            return -1;
        }
        i = (size_t)(eol - out.data) + 2;
    }
    return 200;
}

static int put_description(kl_buf *out, kl_bytes req)
{
    int fcgi = kli_fcgi_request(out, req, DESC_MAX);
    if (fcgi)
        return fcgi < 0;
    size_t start = 0, n = http_request(req.data, req.len);
    if (n == 0)
        n = printable_run(req.data, req.len, &start);
    if (n == 0)
        return kl_buf_append(out, "-", 1);
    if (n <= DESC_MAX)
        return kl_buf_append(out, req.data + start, n);
    return kl_buf_append(out, req.data + start, DESC_MAX) || kl_buf_append(out, "...", 3);
}

/* Short names for the summary's action counts; the ReturnInbound marker is not an action. */
static const char *const short_names[KL_ACTION_TYPE_COUNT] = {
    [KL_ACTION_NONE] = "unknown",       [KL_ACTION_CALL_OUTBOUND] = "outbound",
    [KL_ACTION_APPEND_FILE] = "file",   [KL_ACTION_SEND_UDP] = "udp",
    [KL_ACTION_READ_STORAGE] = "storage", [KL_ACTION_CALL_FUNCTION] = "function call",
    [KL_ACTION_RETURN_FUNCTION] = "function return",
};

static kl_action_type known_type(kl_action_type t)
{
    return (unsigned)t < KL_ACTION_TYPE_COUNT ? t : KL_ACTION_NONE;
}

static int put_action_counts(kl_buf *out, const kl_session *s)
{
    size_t count[KL_ACTION_TYPE_COUNT] = {0}, total = 0;
    for (size_t i = 0; i < s->n_actions; i++)
        count[known_type(s->actions[i].type)]++;
    count[KL_ACTION_RETURN_INBOUND] = 0;
    for (size_t t = 0; t < KL_ACTION_TYPE_COUNT; t++)
        total += count[t];
    if (kl_buf_printf(out, " %zu action%s", total, total == 1 ? "" : "s"))
        return KL_ERR_NOMEM;
    const char *sep = ": ";
    for (size_t t = 0; t < KL_ACTION_TYPE_COUNT; t++) {
        if (count[t] && kl_buf_printf(out, "%s%zu %s", sep, count[t], short_names[t]))
            return KL_ERR_NOMEM;
        sep = count[t] ? ", " : sep;
    }
    return KL_OK;
}

int kl_print_summary(const kl_session *s, kl_buf *out)
{
    kl_bytes req = s->call_from_inbound.request, resp = s->return_inbound.response;
    int status = http_status(resp.data, resp.len);
    if (status < 0)
        status = fcgi_status(resp);
    bool failed = kl_print_time(kl_session_time(s), out) || kl_buf_append(out, " ", 1) ||
                  put_str(out, s->id) || kl_buf_append(out, " ", 1) ||
                  put_addr(out, &s->call_from_inbound.peer) || kl_buf_append(out, " ", 1) ||
                  put_description(out, req) ||
                  (status >= 0 && kl_buf_printf(out, " -> %d", status)) ||
                  kl_buf_append(out, " req ", 5) || kli_text_size(out, req.len) ||
                  kl_buf_append(out, " resp ", 6) || kli_text_size(out, resp.len) ||
                  put_action_counts(out, s) ||
                  (s->truncated && kl_buf_append(out, " TRUNCATED", 10));
    return DONE(failed);
}

/* ------------------------------------------------------------- full view */

static int put_kvs(kl_buf *out, const char *title, const char *sep, const kl_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (kl_buf_printf(out, "  %s: ", title) || put_bytes(out, kv[i].key) ||
            kl_buf_append(out, sep, strlen(sep)) || put_bytes(out, kv[i].value) || put_nl(out))
            return KL_ERR_NOMEM;
    return KL_OK;
}

/* "  title: value\n" for a string that is set and not empty. */
static int put_field(kl_buf *out, const char *title, const char *value)
{
    if (!value || !value[0])
        return KL_OK;
    return kl_buf_printf(out, "  %s: ", title) || put_str(out, value) || put_nl(out);
}

static int put_trace(kl_buf *out, const kl_session *s)
{
    if (!s->trace_id.len && !s->span_id.len)
        return KL_OK;
    return kl_buf_append(out, "  trace: id ", 12) || put_bytes(out, s->trace_id) ||
           kl_buf_append(out, " span ", 6) || put_bytes(out, s->span_id) || put_nl(out);
}

static int put_header(kl_buf *out, const kl_session *s)
{
    return kl_buf_append(out, "session ", 8) || put_str(out, s->id) ||
           kl_buf_printf(out, "\n  thread: %lld\n  time: ", (long long)s->thread_id) ||
           kl_print_time(kl_session_time(s), out) ||
           kl_buf_append(out, "\n  recorded: host ", 18) || put_str(out, s->host) ||
           kl_buf_printf(out, " pid %lld program ", (long long)s->pid) ||
           put_str(out, s->program) || put_nl(out) || put_trace(out, s) ||
           put_kvs(out, "trace header", ": ", s->trace_header, s->n_trace_header) ||
           put_field(out, "context", s->context) ||
           put_kvs(out, "label", "=", s->labels, s->n_labels) ||
           put_kvs(out, "redirect dir", " -> ", s->redirect_dirs, s->n_redirect_dirs) ||
           put_field(out, "next session", s->next_session_id) ||
           (s->truncated && kl_buf_append(out, "  truncated: yes\n", 17));
}

static int put_inbound(kl_buf *out, const kl_session *s)
{
    const kl_call_from_inbound *in = &s->call_from_inbound;
    const kl_return_inbound *ret = &s->return_inbound;
    if (!in->present && kl_buf_append(out, "no inbound request\n", 19))
        return KL_ERR_NOMEM;
    if (in->present &&
        (kl_buf_append(out, "inbound request from ", 21) || put_addr(out, &in->peer) ||
         kl_buf_append(out, " at ", 4) || kl_print_time(in->occurred_at, out) ||
         kl_buf_printf(out, " (%zu bytes)\n", in->request.len) || put_payload(out, in->request)))
        return KL_ERR_NOMEM;
    if (!ret->present)
        return kl_buf_append(out, "no inbound response\n", 20);
    return kl_buf_append(out, "inbound response at ", 20) || kl_print_time(ret->occurred_at, out) ||
           kl_buf_printf(out, " (%zu bytes)\n", ret->response.len) ||
           put_payload(out, ret->response);
}

static int put_outbound(kl_buf *out, const kl_action *a)
{
    bool failed = kl_buf_append(out, " peer ", 6) || put_addr(out, &a->peer);
    if (!kl_addr_is_empty(&a->local))
        failed = failed || kl_buf_append(out, " local ", 7) || put_addr(out, &a->local);
    failed = failed || kl_buf_printf(out, " fd %lld", (long long)a->socket_fd);
    if (a->cspan_id.len)
        failed = failed || kl_buf_append(out, " cspan ", 7) || put_bytes(out, a->cspan_id);
    return failed;
}

/* "file:line", or nothing when the file is unknown. */
static int put_place(kl_buf *out, const char *what, const char *file, int64_t line)
{
    if (!file)
        return KL_OK;
    return kl_buf_printf(out, " %s ", what) || put_str(out, file) ||
           kl_buf_printf(out, ":%lld", (long long)line);
}

/* The part of the action line between its type and " at TIME". */
static int put_action_head(kl_buf *out, const kl_action *a)
{
    switch (known_type(a->type)) {
    case KL_ACTION_CALL_OUTBOUND:
        return put_outbound(out, a);
    case KL_ACTION_APPEND_FILE:
        return kl_buf_append(out, " ", 1) || put_str(out, a->file_name);
    case KL_ACTION_SEND_UDP:
        return kl_buf_append(out, " peer ", 6) || put_addr(out, &a->peer);
    case KL_ACTION_CALL_FUNCTION:
        return kl_buf_append(out, " ", 1) || put_str(out, a->func_name) ||
               put_place(out, "into", a->call_into_file, a->call_into_line) ||
               put_place(out, "from", a->call_from_file, a->call_from_line);
    case KL_ACTION_RETURN_FUNCTION:
        return kl_buf_append(out, " of ", 4) || put_str(out, a->call_function_id);
    case KL_ACTION_NONE:
    case KL_ACTION_READ_STORAGE:
    case KL_ACTION_RETURN_INBOUND:
        return KL_OK;
    }
    return KL_OK;
}

/* The payloads under the action line. */
static int put_action_body(kl_buf *out, const kl_action *a)
{
    switch (known_type(a->type)) {
    case KL_ACTION_CALL_OUTBOUND:
        return put_section(out, "request", 0, a->request) ||
               put_section(out, "response", a->response_time, a->response);
    case KL_ACTION_APPEND_FILE:
    case KL_ACTION_SEND_UDP:
    case KL_ACTION_READ_STORAGE:
        return put_section(out, "content", 0, a->content);
    case KL_ACTION_CALL_FUNCTION:
        return put_field(out, "args", a->args_json);
    case KL_ACTION_RETURN_FUNCTION:
        return put_field(out, "return value", a->return_value_json);
    case KL_ACTION_NONE:
    case KL_ACTION_RETURN_INBOUND:
        return KL_OK;
    }
    return KL_OK;
}

static int put_action(kl_buf *out, const kl_action *a)
{
    return kl_buf_printf(out, "#%lld %s", (long long)a->index, kl_action_type_name(a->type)) ||
           put_action_head(out, a) || kl_buf_append(out, " at ", 4) ||
           kl_print_time(a->occurred_at, out) || put_nl(out) || put_action_body(out, a);
}

static int put_mock_files(kl_buf *out, const kl_session *s)
{
    for (size_t i = 0; i < s->n_mock_files; i++) {
        const kl_kv *f = &s->mock_files[i];
        if (kl_buf_append(out, "mock file ", 10) || put_bytes(out, f->key) ||
            kl_buf_printf(out, " (%zu bytes)\n", f->value.len) || put_payload(out, f->value))
            return KL_ERR_NOMEM;
    }
    return KL_OK;
}

int kl_print_session(const kl_session *s, kl_buf *out)
{
    if (put_header(out, s) || put_inbound(out, s))
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < s->n_actions; i++)
        if (put_action(out, &s->actions[i]))
            return KL_ERR_NOMEM;
    return DONE(put_mock_files(out, s));
}

/* --------------------------------------------------------------- replayed */

int kl_print_replayed_summary(const kl_replayed *r, kl_buf *out)
{
    size_t calls = 0, matched = 0;
    for (size_t i = 0; i < r->n_actions; i++)
        if (r->actions[i].action.type == KL_ACTION_CALL_OUTBOUND) {
            calls++;
            matched += r->actions[i].matched_index >= 0;
        }
    bool same = kli_bytes_equal(r->original_response, r->response);
    bool failed =
        put_str(out, r->session_id) ||
        kl_buf_printf(out, " replayed: response %s (%zu bytes vs %zu bytes), %zu outbound call%s: ",
                      same ? "SAME" : "DIFFERENT", r->original_response.len, r->response.len, calls,
                      calls == 1 ? "" : "s") ||
        kl_buf_printf(out, "%zu matched, %zu unmatched, %zu unused recorded; errors: %zu", matched,
                      calls - matched, r->n_unused_calls, r->n_errors);
    return DONE(failed);
}

/* "  matched #3 score 0.982, runner-up #5 score 0.410" under a replayed outbound call. */
static int put_match(kl_buf *out, const kl_replayed_action *ra)
{
    if (ra->matched_index < 0)
        return kl_buf_append(out, "  matched: none\n", 16);
    bool failed = kl_buf_printf(out, "  matched #%lld score ", (long long)ra->matched_index) ||
                  kli_text_fixed(out, ra->matched_score, 3);
    if (ra->runner_up_index >= 0)
        failed = failed ||
                 kl_buf_printf(out, ", runner-up #%lld score ", (long long)ra->runner_up_index) ||
                 kli_text_fixed(out, ra->runner_up_score, 3);
    failed = failed || put_nl(out);
    /* The recorded call is shown only where it differs from what the service did now. */
    if (!kli_bytes_equal(ra->matched_request, ra->action.request))
        failed = failed || put_section(out, "recorded request", 0, ra->matched_request);
    if (!kli_bytes_equal(ra->matched_response, ra->action.response))
        failed = failed || put_section(out, "recorded response", 0, ra->matched_response);
    return failed;
}

static int put_replayed_header(kl_buf *out, const kl_replayed *r)
{
    bool same = kli_bytes_equal(r->original_response, r->response);
    return kl_buf_append(out, "replayed session ", 17) || put_str(out, r->session_id) ||
           kl_buf_append(out, "\n  original request time: ", 26) ||
           kl_print_time(r->original_request_time, out) ||
           kl_buf_append(out, "\n  replayed at: ", 16) || kl_print_time(r->replayed_at, out) ||
           kl_buf_append(out, "\n  response time: ", 18) || kl_print_time(r->response_time, out) ||
           kl_buf_printf(out, "\n  response: %s\n", same ? "SAME" : "DIFFERENT") ||
           kl_buf_printf(out, "original request (%zu bytes)\n", r->original_request.len) ||
           put_payload(out, r->original_request) ||
           kl_buf_printf(out, "original response (%zu bytes)\n", r->original_response.len) ||
           put_payload(out, r->original_response) ||
           kl_buf_printf(out, "replayed response (%zu bytes)%s\n", r->response.len,
                         same ? ": same as original" : "") ||
           (!same && put_payload(out, r->response));
}

int kl_print_replayed(const kl_replayed *r, kl_buf *out)
{
    if (put_replayed_header(out, r))
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < r->n_actions; i++) {
        const kl_replayed_action *ra = &r->actions[i];
        if (put_action(out, &ra->action) ||
            (ra->action.type == KL_ACTION_CALL_OUTBOUND && put_match(out, ra)))
            return KL_ERR_NOMEM;
    }
    if (r->n_unused_calls && kl_buf_append(out, "unused recorded calls:", 22))
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < r->n_unused_calls; i++)
        if (kl_buf_printf(out, " #%lld", (long long)r->unused_calls[i]))
            return KL_ERR_NOMEM;
    if (r->n_unused_calls && put_nl(out))
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < r->n_errors; i++)
        if (kl_buf_append(out, "error: ", 7) || put_str(out, r->errors[i]) || put_nl(out))
            return KL_ERR_NOMEM;
    return KL_OK;
}

static const char *kind_name(kl_kind k)
{
    switch (k) {
    case KL_KIND_RECORDED: return "recorded";
    case KL_KIND_REPLAYED: return "replayed";
    case KL_KIND_UNKNOWN: break;
    }
    return "unknown";
}

static int info_json(const kl_file_info *in, const char *name, kl_buf *out)
{
    int err = kl_buf_append(out, "{\"file\":", 8);
    err = err ? err : kl_json_bytes((const uint8_t *)name, strlen(name), out);
    err = err ? err : kl_buf_printf(out, ",\"kind\":\"%s\",\"compressed\":%s,\"format_version\":%u,"
                                    "\"program\":", kind_name(in->kind), in->compressed ? "true" : "false",
                                    in->format_version);
    err = err ? err : kl_json_bytes((const uint8_t *)in->program, strlen(in->program), out);
    err = err ? err : kl_buf_append(out, ",\"host\":", 8);
    err = err ? err : kl_json_bytes((const uint8_t *)in->host, strlen(in->host), out);
    err = err ? err : kl_buf_printf(out, ",\"created_at\":%lld,\"zstd_level\":%d,\"index\":%s,",
                                    (long long)in->created_at, in->zstd_level, in->has_index ? "true" : "false");
    if (!err && in->has_index)
        err = kl_buf_printf(out, "\"sessions\":%llu,\"frames\":%llu,\"first_time\":%lld,\"last_time\":%lld,"
                            "\"content_bytes\":%llu,", (unsigned long long)in->sessions,
                            (unsigned long long)in->frames, (long long)in->first_time,
                            (long long)in->last_time, (unsigned long long)in->content_bytes);
    else if (!err)
        err = kl_buf_printf(out, "\"sessions\":null,\"frames\":null,\"first_time\":null,"
                            "\"last_time\":null,\"content_bytes\":null,");
    err = err ? err : kl_buf_printf(out, "\"file_bytes\":%llu}", (unsigned long long)in->file_bytes);
    return err;
}

int kl_print_file_info(const kl_file_info *in, const char *name, bool json, kl_buf *out)
{
    if (json)
        return info_json(in, name, out);
    int err = kl_buf_append(out, "File:               ", 20);
    err = err ? err : put_str(out, name);
    err = err ? err : kl_buf_printf(out, "\nKind:               %s%s\nFormat version:     ", kind_name(in->kind),
                                    in->compressed ? "" : " (plain delimited stream)");
    err = err ? err : (in->has_header ? kl_buf_printf(out, "%u", in->format_version) : kl_buf_append(out, "-", 1));
    err = err ? err : kl_buf_append(out, "\nWritten by:         ", 21);
    err = err ? err : put_str(out, in->program[0] ? in->program : NULL);
    err = err ? err : kl_buf_append(out, " on ", 4);
    err = err ? err : put_str(out, in->host[0] ? in->host : NULL);
    err = err ? err : kl_buf_append(out, " at ", 4);
    err = err ? err : kl_print_time(in->created_at, out);
    if (!err && in->zstd_level)
        err = kl_buf_printf(out, ", zstd level %d", in->zstd_level);
    err = err ? err : kl_buf_printf(out, "\nIndex:              %s\n", in->has_index ? "yes" : "none (a crashed or growing file)");
    if (!err && in->has_index) {
        err = kl_buf_printf(out, "Sessions:           %llu\nFrames:             %llu\nFirst session time: ",
                            (unsigned long long)in->sessions, (unsigned long long)in->frames);
        err = err ? err : kl_print_time(in->sessions ? in->first_time : 0, out);
        err = err ? err : kl_buf_append(out, "\nLast session time:  ", 21);
        err = err ? err : kl_print_time(in->sessions ? in->last_time : 0, out);
        err = err ? err : kl_buf_append(out, "\nDuration:           ", 21);
        err = err ? err : kli_text_fixed(out, in->sessions ? (double)(in->last_time - in->first_time) / 1e9 : 0, 3);
        err = err ? err : kl_buf_printf(out, " seconds\nContent bytes:      %llu (", (unsigned long long)in->content_bytes);
        err = err ? err : kli_text_size(out, in->content_bytes);
        err = err ? err : kl_buf_append(out, ")\n", 2);
    }
    err = err ? err : kl_buf_printf(out, "File bytes:         %llu (", (unsigned long long)in->file_bytes);
    err = err ? err : kli_text_size(out, in->file_bytes);
    err = err ? err : kl_buf_append(out, ")\n", 2);
    if (!err && in->has_index && in->file_bytes) {
        err = kl_buf_append(out, "Compression ratio:  ", 20);
        err = err ? err : kli_text_fixed(out, (double)in->content_bytes / (double)in->file_bytes, 2);
        err = err ? err : kl_buf_append(out, "\n", 1);
    }
    return err;
}
