/* json.c - JSON export of recorded and replayed sessions in the original koala's layout. */
#include "kl_json.h"
#include "kl_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The original marshalled with Go's encoding/json: structs in field order, every string
 * through its HTML-safe escaper, byte fields through koala's EncodeAnyByteArray (whose output
 * Go then compacted, which again escapes < > & and U+2028/U+2029), and MarshalIndent(v, "",
 * "  ") for files. We write the same bytes in one pass, straight into the caller's buffer. */

/* Input bytes escaped per room reservation, so a 64 MiB payload never reserves 6x at once. */
#define JW_CHUNK (64u << 10)
/* Worst case output per input byte: '<' becomes \u003c. */
#define JW_MAX_ESC 6
/* Nesting accepted inside embedded JSON (CallFunction Args, ReturnValue). */
#define JW_RAW_DEPTH 256

typedef struct jw {
    kl_buf *b;
    bool pretty;
    bool extra;
    bool first; /* nothing written yet in the innermost open object or array */
    int depth;
    int err;
} jw;

/* Room for n more bytes and the closing NUL; NULL (and w->err set) when out of memory.
 * Escapers write into it directly instead of calling kl_buf_append per byte. */
static char *jw_room(jw *w, size_t n)
{
    if (w->err)
        return NULL;
    if (kl_buf_reserve(w->b, n) != KL_OK) {
        w->err = KL_ERR_NOMEM;
        return NULL;
    }
    return w->b->data + w->b->len;
}

static void jw_put(jw *w, const char *s, size_t n)
{
    char *o = jw_room(w, n);
    if (!o)
        return;
    memcpy(o, s, n);
    w->b->len += n;
}

static void jw_char(jw *w, char c)
{
    char *o = jw_room(w, 1);
    if (!o)
        return;
    *o = c;
    w->b->len++;
}

static void jw_newline(jw *w)
{
    if (!w->pretty)
        return;
    size_t n = 1 + 2 * (size_t)w->depth;
    char *o = jw_room(w, n);
    if (!o)
        return;
    o[0] = '\n';
    memset(o + 1, ' ', n - 1);
    w->b->len += n;
}

/* Before each member of an object or element of an array. */
static void jw_sep(jw *w)
{
    if (!w->first)
        jw_char(w, ',');
    w->first = false;
    jw_newline(w);
}

static void jw_open(jw *w, char c)
{
    jw_char(w, c);
    w->depth++;
    w->first = true;
}

/* Empty objects and arrays stay "{}" and "[]", as Go's Indent leaves them. */
static void jw_close(jw *w, char c)
{
    w->depth--;
    if (!w->first)
        jw_newline(w);
    jw_char(w, c);
    w->first = false;
}

/* A member name; names are our own ASCII constants and need no escaping. */
static void jw_key(jw *w, const char *name)
{
    jw_sep(w);
    size_t n = strlen(name);
    char *o = jw_room(w, n + 4);
    if (!o)
        return;
    *o++ = '"';
    memcpy(o, name, n);
    o += n;
    *o++ = '"';
    *o++ = ':';
    if (w->pretty)
        *o++ = ' ';
    w->b->len += n + 3 + w->pretty;
}

static void jw_int(jw *w, int64_t v)
{
    char tmp[KLI_DECIMAL_MAX];
    jw_put(w, tmp, (size_t)(kli_text_decimal(tmp, v) - tmp));
}

static void jw_lit(jw *w, const char *s)
{
    jw_put(w, s, strlen(s));
}

/* Go's float64 encoding: shortest digits that read back as v, in %f layout unless the
 * magnitude is below 1e-6 or at least 1e21, then %e with a one-digit exponent allowed.
 * Go refuses NaN and infinities; we write null so an export never stops on one value.
 * Not kli_text_fixed: a fixed count of decimals would not match the original's MatchedMark. */
static void jw_float(jw *w, double v)
{
    if (!isfinite(v)) {
        jw_lit(w, "null");
        return;
    }
    char sci[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    /* sci is "[-]d[.ddd]e[+-]XX": split it into sign, digits and decimal exponent. */
    char digits[24];
    size_t nd = 0;
    const char *p = sci;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char out[48];
    size_t n = 0;
    if (neg)
        out[n++] = '-';
    double mag = fabs(v);
    if (mag != 0 && (mag < 1e-6 || mag >= 1e21)) {
        out[n++] = digits[0];
        if (nd > 1) {
            out[n++] = '.';
            memcpy(out + n, digits + 1, nd - 1);
            n += nd - 1;
        }
        n += (size_t)snprintf(out + n, sizeof out - n, "e%c%d", exp10 < 0 ? '-' : '+',
                              exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = -1; i > exp10; i--)
            out[n++] = '0';
        memcpy(out + n, digits, nd);
        n += nd;
    } else {
        for (int i = 0; i <= exp10 || (size_t)i < nd; i++) {
            if (i == exp10 + 1)
                out[n++] = '.';
            out[n++] = (size_t)i < nd ? digits[i] : '0';
        }
    }
    jw_put(w, out, n);
}

/* Bytes that both escapers copy as they are: printable ASCII and DEL, but not " \ < > &.
 * Bytes from 0x80 are false here and take the UTF-8 path. */
static const bool ascii_plain[256] = {
    [' '] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
    ['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1, ['0'] = 1, ['1'] = 1,
    ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    [':'] = 1, [';'] = 1, ['='] = 1, ['?'] = 1, ['@'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1,
    ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1,
    ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1,
    ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['['] = 1,
    [']'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
    ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['{'] = 1, ['|'] = 1,
    ['}'] = 1, ['~'] = 1, [0x7f] = 1,
};

static const char hexdig[] = "0123456789abcdef";

static char *put_u00(char *o, uint8_t c)
{
    memcpy(o, "\\u00", 4);
    o[4] = hexdig[c >> 4];
    o[5] = hexdig[c & 15];
    return o + 6;
}

/* The text \xHH inside the JSON string, i.e. the JSON source \\xHH. */
static char *put_xhh(char *o, uint8_t c)
{
    memcpy(o, "\\\\x", 3);
    o[3] = hexdig[c >> 4];
    o[4] = hexdig[c & 15];
    return o + 5;
}

/* The 6-byte escape of U+2028 or U+2029 when s (n bytes readable) starts with one, which Go
 * escapes because JavaScript strings cannot hold them raw; NULL otherwise. */
static const char *line_sep_escape(const uint8_t *s, size_t n)
{
    if (n < 3 || s[0] != 0xe2 || s[1] != 0x80 || (s[2] & 0xfe) != 0xa8)
        return NULL;
    return s[2] == 0xa8 ? "\\u2028" : "\\u2029";
}

/* One quoted JSON string. raw: koala's EncodeAnyByteArray rules for byte fields; otherwise
 * Go's string rules (control bytes as \u00XX, invalid UTF-8 as \ufffd). */
static void jw_escaped(jw *w, const uint8_t *s, size_t n, bool raw)
{
    jw_char(w, '"');
    size_t i = 0;
    while (i < n) {
        size_t end = n - i > JW_CHUNK ? i + JW_CHUNK : n;
        /* A sequence starting before end may run 3 bytes past it. */
        char *o = jw_room(w, (end - i + 3) * JW_MAX_ESC);
        if (!o)
            return;
        char *o0 = o;
        while (i < end) {
            size_t j = i;
            while (j < end && ascii_plain[s[j]])
                j++;
            memcpy(o, s + i, j - i);
            o += j - i;
            i = j;
            if (i == end)
                break;
            uint8_t c = s[i];
            if (c < 0x80) {
                i++;
                switch (c) {
                case '"': *o++ = '\\'; *o++ = '"'; break;
                case '\n': *o++ = '\\'; *o++ = 'n'; break;
                case '\r': *o++ = '\\'; *o++ = 'r'; break;
                case '\t': *o++ = '\\'; *o++ = 't'; break;
                case '\\':
                    if (raw) {
                        o = put_xhh(o, c);
                    } else {
                        *o++ = '\\';
                        *o++ = '\\';
                    }
                    break;
                case '<': case '>': case '&': o = put_u00(o, c); break;
                default: o = raw ? put_xhh(o, c) : put_u00(o, c); break;
                }
                continue;
            }
            /* Go's utf8.DecodeRune accepts the same sequences as kli_utf8_len. */
            size_t k = kli_utf8_len(s + i, n - i);
            const char *sep = line_sep_escape(s + i, k);
            if (sep) {
                memcpy(o, sep, 6);
                o += 6;
            } else if (k == 0) {
                k = 1;
                if (raw) {
                    o = put_xhh(o, c);
                } else {
                    memcpy(o, "\\ufffd", 6);
                    o += 6;
                }
            } else if (raw && k == 3 && c == 0xef && s[i + 1] == 0xbf && s[i + 2] == 0xbd) {
                /* A well-formed U+FFFD is utf8.RuneError too: the original escaped its bytes. */
                for (size_t x = 0; x < 3; x++)
                    o = put_xhh(o, s[i + x]);
            } else {
                memcpy(o, s + i, k);
                o += k;
            }
            i += k;
        }
        w->b->len += (size_t)(o - o0);
    }
    jw_char(w, '"');
}

static void jw_bytes(jw *w, kl_bytes v)
{
    jw_escaped(w, v.data, v.len, true);
}

static void jw_str(jw *w, const char *s)
{
    jw_escaped(w, (const uint8_t *)(s ? s : ""), s ? strlen(s) : 0, false);
}

/* ---- embedded JSON (helper messages), laid out as Go lays out a json.RawMessage ---- */

typedef struct raw_in {
    const uint8_t *p;
    const uint8_t *end;
} raw_in;

static void raw_ws(raw_in *in)
{
    while (in->p < in->end &&
           (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r'))
        in->p++;
}

/* A string token copied as it is, except < > & and U+2028/U+2029, which Go's compaction
 * escapes. Invalid UTF-8 fails, so what we write is always valid JSON. */
static bool raw_string(jw *w, raw_in *in)
{
    const uint8_t *p = in->p + 1, *end = in->end;
    size_t extra = 0;
    while (p < end && *p != '"') {
        uint8_t c = *p;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (++p == end)
                return false;
            if (*p == 'u') {
                uint32_t u;
                if (end - p < 5 || kli_json_hex4(p + 1, &u) < 0)
                    return false;
                p += 5;
            } else if (*p && strchr("\"\\/bfnrt", *p)) {
                p++;
            } else {
                return false;
            }
        } else if (c >= 0x80) {
            size_t k = kli_utf8_len(p, (size_t)(end - p));
            if (!k)
                return false;
            p += k;
        } else {
            extra += c == '<' || c == '>' || c == '&';
            p++;
        }
    }
    if (p == end)
        return false;
    const uint8_t *s = in->p;
    size_t n = (size_t)(p + 1 - s);
    in->p = p + 1;
    char *o = jw_room(w, n + extra * 5 + n);
    if (!o)
        return true;
    char *o0 = o;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        const char *sep = line_sep_escape(s + i, n - i);
        if (c == '<' || c == '>' || c == '&') {
            o = put_u00(o, c);
        } else if (sep) {
            memcpy(o, sep, 6);
            o += 6;
            i += 2;
        } else {
            *o++ = (char)c;
        }
    }
    w->b->len += (size_t)(o - o0);
    return true;
}

static bool raw_digits(raw_in *in)
{
    const uint8_t *p0 = in->p;
    while (in->p < in->end && *in->p >= '0' && *in->p <= '9')
        in->p++;
    return in->p > p0;
}

static bool raw_number(jw *w, raw_in *in)
{
    const uint8_t *s = in->p;
    if (*in->p == '-')
        in->p++;
    if (in->p < in->end && *in->p == '0')
        in->p++;
    else if (in->p == in->end || *in->p < '1' || *in->p > '9' || !raw_digits(in))
        return false;
    if (in->p < in->end && *in->p == '.') {
        in->p++;
        if (!raw_digits(in))
            return false;
    }
    if (in->p < in->end && (*in->p == 'e' || *in->p == 'E')) {
        in->p++;
        if (in->p < in->end && (*in->p == '+' || *in->p == '-'))
            in->p++;
        if (!raw_digits(in))
            return false;
    }
    jw_put(w, (const char *)s, (size_t)(in->p - s));
    return true;
}

static bool raw_value(jw *w, raw_in *in, int depth)
{
    raw_ws(in);
    if (in->p == in->end || depth > JW_RAW_DEPTH)
        return false;
    uint8_t c = *in->p;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        in->p++;
        jw_open(w, (char)c);
        raw_ws(in);
        if (in->p < in->end && *in->p == close) {
            in->p++;
            jw_close(w, close);
            return true;
        }
        for (;;) {
            jw_sep(w);
            if (c == '{') {
                raw_ws(in);
                if (in->p == in->end || *in->p != '"' || !raw_string(w, in))
                    return false;
                raw_ws(in);
                if (in->p == in->end || *in->p++ != ':')
                    return false;
                jw_put(w, ": ", w->pretty ? 2 : 1);
            }
            if (!raw_value(w, in, depth + 1))
                return false;
            raw_ws(in);
            if (in->p == in->end)
                return false;
            uint8_t d = *in->p++;
            if (d == (uint8_t)close)
                break;
            if (d != ',')
                return false;
        }
        jw_close(w, close);
        return true;
    }
    if (c == '"')
        return raw_string(w, in);
    if (c == '-' || (c >= '0' && c <= '9'))
        return raw_number(w, in);
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(in->end - in->p) >= n && !memcmp(in->p, words[i], n)) {
            in->p += n;
            jw_put(w, words[i], n);
            return true;
        }
    }
    return false;
}

/* JSON text kept from a helper message: null when absent, re-laid out when valid, and a
 * plain string when not, so the document around it stays valid JSON. */
static void jw_json(jw *w, const char *text)
{
    if (!text) {
        jw_lit(w, "null");
        return;
    }
    size_t len = w->b->len;
    int depth = w->depth;
    bool first = w->first;
    raw_in in = {(const uint8_t *)text, (const uint8_t *)text + strlen(text)};
    bool ok = raw_value(w, &in, 0);
    raw_ws(&in);
    if (w->err || (ok && in.p == in.end))
        return;
    w->b->len = len;
    w->depth = depth;
    w->first = first;
    jw_str(w, text);
}

/* ---- addresses ---- */

static size_t format_ip4(const uint8_t *ip, char *out, size_t len)
{
    return (size_t)snprintf(out, len, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
}

static size_t format_ip6(const uint8_t *ip, char *out, size_t len)
{
    unsigned g[8];
    for (int i = 0; i < 8; i++)
        g[i] = (unsigned)ip[2 * i] << 8 | ip[2 * i + 1];
    int best = -1, best_len = 1;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && g[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    size_t n = 0;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            n += (size_t)snprintf(out + n, len - n, "::");
            i += best_len - 1;
            continue;
        }
        if (i > 0 && i != best + best_len)
            out[n++] = ':';
        n += (size_t)snprintf(out + n, len - n, "%x", g[i]);
    }
    return n;
}

/* Go's net.IP String(): "" when absent, dotted IPv4 (IPv4-mapped IPv6 too), otherwise
 * RFC 5952: lowercase, the first longest run of two or more zero groups as "::". */
static size_t format_ip(const kl_addr *a, char *out, size_t len)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (a->family == AF_INET)
        return format_ip4(a->ip, out, len);
    if (a->family != AF_INET6)
        return 0;
    if (!memcmp(a->ip, mapped, sizeof mapped))
        return format_ip4(a->ip + sizeof mapped, out, len);
    return format_ip6(a->ip, out, len);
}

/* net.TCPAddr / net.UDPAddr: {IP, Port, Zone}. */
static void jw_ipaddr(jw *w, const char *name, const kl_addr *a)
{
    char ip[64];
    size_t n = format_ip(a, ip, sizeof ip);
    ip[n] = '\0';
    jw_key(w, name);
    jw_open(w, '{');
    jw_key(w, "IP");
    jw_str(w, ip);
    jw_key(w, "Port");
    jw_int(w, a->port);
    jw_key(w, "Zone");
    jw_str(w, a->family == AF_INET6 ? a->zone : "");
    jw_close(w, '}');
}

/* net.UnixAddr: {Name, Net}. */
static void jw_unixaddr(jw *w, const kl_addr *a)
{
    jw_key(w, "UnixAddr");
    jw_open(w, '{');
    jw_key(w, "Name");
    jw_str(w, a->unix_path);
    jw_key(w, "Net");
    jw_str(w, a->unix_net);
    jw_close(w, '}');
}

/* {key: value, ...} with both sides as byte fields (trace_header.go's MarshalJSON). */
static void jw_kvs(jw *w, const kl_kv *kv, size_t n)
{
    jw_open(w, '{');
    for (size_t i = 0; i < n; i++) {
        jw_sep(w);
        jw_bytes(w, kv[i].key);
        jw_put(w, ": ", w->pretty ? 2 : 1);
        jw_bytes(w, kv[i].value);
    }
    jw_close(w, '}');
}

/* ---- action bodies both layouts share ---- */

static void put_call_from(jw *w, const kl_action *a)
{
    jw_key(w, "CallFromFile");
    jw_str(w, a->call_from_file);
    jw_key(w, "CallFromLine");
    jw_int(w, a->call_from_line);
}

/* The body after the head that both layouts share, for every type but CallOutbound and
 * ReturnInbound (their callers write those). The replayed CallFunction has no CallFromFile or
 * CallFromLine; with extra they follow its own fields. */
static void put_action_body(jw *w, const kl_action *a, bool replayed)
{
    switch (a->type) {
    case KL_ACTION_APPEND_FILE:
        jw_key(w, "FileName");
        jw_str(w, a->file_name);
        jw_key(w, "Content");
        jw_bytes(w, a->content);
        break;
    case KL_ACTION_SEND_UDP:
        jw_ipaddr(w, "Peer", &a->peer);
        jw_key(w, "Content");
        jw_bytes(w, a->content);
        break;
    case KL_ACTION_READ_STORAGE:
        jw_key(w, "Content");
        jw_bytes(w, a->content);
        break;
    case KL_ACTION_CALL_FUNCTION:
        jw_key(w, "CallIntoFile");
        jw_str(w, a->call_into_file);
        jw_key(w, "CallIntoLine");
        jw_int(w, a->call_into_line);
        if (!replayed)
            put_call_from(w, a);
        jw_key(w, "FuncName");
        jw_str(w, a->func_name);
        jw_key(w, "Args");
        jw_json(w, a->args_json);
        if (replayed && w->extra)
            put_call_from(w, a);
        break;
    case KL_ACTION_RETURN_FUNCTION:
        jw_key(w, "CallFunctionId");
        jw_str(w, a->call_function_id);
        jw_key(w, "ReturnValue");
        jw_json(w, a->return_value_json);
        break;
    case KL_ACTION_CALL_OUTBOUND:
    case KL_ACTION_RETURN_INBOUND:
    case KL_ACTION_NONE:
        break;
    }
}

/* ---- recorded sessions (recording.Session) ---- */

static void action_head(jw *w, int64_t index, int64_t at, const char *type)
{
    jw_key(w, "ActionIndex");
    jw_int(w, index);
    jw_key(w, "OccurredAt");
    jw_int(w, at);
    jw_key(w, "ActionType");
    jw_str(w, type);
}

/* Fields shadowed by a MarshalJSON override (the byte fields) come after the embedded
 * struct's others, as Go orders a wrapper struct's own fields after the embedded ones. */
static void put_action(jw *w, const kl_session *s, const kl_action *a)
{
    jw_open(w, '{');
    action_head(w, a->index, a->occurred_at, kl_action_type_name(a->type));
    if (a->type == KL_ACTION_CALL_OUTBOUND) {
        jw_key(w, "SocketFD");
        jw_int(w, a->socket_fd);
        jw_ipaddr(w, "Peer", &a->peer);
        jw_key(w, "ResponseTime");
        jw_int(w, a->response_time);
        jw_unixaddr(w, &a->peer);
        jw_key(w, "Request");
        jw_bytes(w, a->request);
        jw_key(w, "Response");
        jw_bytes(w, a->response);
        jw_key(w, "CSpanId");
        jw_bytes(w, a->cspan_id);
        if (w->extra && a->local.family)
            jw_ipaddr(w, "Local", &a->local);
    } else if (a->type == KL_ACTION_RETURN_INBOUND) {
        /* The original listed the ReturnInbound object itself among the actions. */
        jw_key(w, "Response");
        jw_bytes(w, s->return_inbound.response);
    } else {
        put_action_body(w, a, false);
    }
    jw_close(w, '}');
}

static size_t session_estimate(const kl_session *s)
{
    size_t n = 1024 + s->call_from_inbound.request.len + 2 * s->return_inbound.response.len;
    for (size_t i = 0; i < s->n_actions; i++) {
        const kl_action *a = &s->actions[i];
        n += 512 + a->request.len + a->response.len + a->content.len;
    }
    return n + n / 8;
}

static void put_session(jw *w, const kl_session *s)
{
    jw_open(w, '{');
    jw_key(w, "Context");
    jw_str(w, s->context);
    jw_key(w, "ThreadId");
    jw_int(w, s->thread_id);
    jw_key(w, "SessionId");
    jw_str(w, s->id);
    jw_key(w, "TraceHeader");
    if (s->n_trace_header)
        jw_kvs(w, s->trace_header, s->n_trace_header);
    else
        jw_lit(w, "null");
    jw_key(w, "NextSessionId");
    jw_str(w, s->next_session_id);

    const kl_call_from_inbound *in = &s->call_from_inbound;
    jw_key(w, "CallFromInbound");
    if (in->present) {
        jw_open(w, '{');
        action_head(w, in->index, in->occurred_at, "CallFromInbound");
        jw_ipaddr(w, "Peer", &in->peer);
        jw_unixaddr(w, &in->peer);
        jw_key(w, "Request");
        jw_bytes(w, in->request);
        jw_close(w, '}');
    } else {
        jw_lit(w, "null");
    }

    const kl_return_inbound *ri = &s->return_inbound;
    jw_key(w, "ReturnInbound");
    if (ri->present) {
        jw_open(w, '{');
        action_head(w, ri->index, ri->occurred_at, "ReturnInbound");
        jw_key(w, "Response");
        jw_bytes(w, ri->response);
        jw_close(w, '}');
    } else {
        jw_lit(w, "null");
    }

    jw_key(w, "Actions");
    if (s->n_actions) {
        jw_open(w, '[');
        for (size_t i = 0; i < s->n_actions && !w->err; i++) {
            jw_sep(w);
            put_action(w, s, &s->actions[i]);
        }
        jw_close(w, ']');
    } else {
        jw_lit(w, "null");
    }
    jw_key(w, "TraceId");
    jw_bytes(w, s->trace_id);
    jw_key(w, "SpanId");
    jw_bytes(w, s->span_id);

    if (w->extra) {
        if (s->host && *s->host) {
            jw_key(w, "Host");
            jw_str(w, s->host);
        }
        if (s->pid) {
            jw_key(w, "Pid");
            jw_int(w, s->pid);
        }
        if (s->program && *s->program) {
            jw_key(w, "Program");
            jw_str(w, s->program);
        }
        if (s->n_labels) {
            jw_key(w, "Labels");
            jw_kvs(w, s->labels, s->n_labels);
        }
        if (s->truncated) {
            jw_key(w, "Truncated");
            jw_lit(w, "true");
        }
        if (s->n_redirect_dirs) {
            jw_key(w, "RedirectDirs");
            jw_kvs(w, s->redirect_dirs, s->n_redirect_dirs);
        }
        if (s->n_mock_files) {
            jw_key(w, "MockFiles");
            jw_kvs(w, s->mock_files, s->n_mock_files);
        }
    }
    jw_close(w, '}');
}

/* ---- replayed sessions (replaying.ReplayedSession) ---- */

static void replayed_head(jw *w, int64_t at, const char *type)
{
    jw_key(w, "ActionId");
    jw_char(w, '"');
    jw_int(w, at);
    jw_char(w, '"');
    jw_key(w, "OccurredAt");
    jw_int(w, at);
    jw_key(w, "ActionType");
    jw_str(w, type);
}

static void put_return_inbound(jw *w, const kl_replayed *r, int64_t at)
{
    jw_open(w, '{');
    replayed_head(w, at, "ReturnInbound");
    jw_key(w, "OriginalResponse");
    jw_bytes(w, r->original_response);
    jw_key(w, "Response");
    jw_bytes(w, r->response);
    jw_close(w, '}');
}

static void put_replayed_action(jw *w, const kl_replayed *r, const kl_replayed_action *ra)
{
    const kl_action *a = &ra->action;
    if (a->type == KL_ACTION_RETURN_INBOUND) {
        put_return_inbound(w, r, a->occurred_at);
        return;
    }
    jw_open(w, '{');
    replayed_head(w, a->occurred_at, kl_action_type_name(a->type));
    if (a->type == KL_ACTION_CALL_OUTBOUND) {
        jw_key(w, "MatchedActionIndex");
        jw_int(w, ra->matched_index);
        jw_key(w, "MatchedMark");
        jw_float(w, ra->matched_score);
        jw_ipaddr(w, "Peer", &a->peer);
        jw_key(w, "MatchedRequest");
        jw_bytes(w, ra->matched_request);
        jw_key(w, "MatchedResponse");
        jw_bytes(w, ra->matched_response);
        jw_key(w, "Request");
        jw_bytes(w, a->request);
        if (w->extra) {
            jw_key(w, "RunnerUpIndex");
            jw_int(w, ra->runner_up_index);
            jw_key(w, "RunnerUpScore");
            jw_float(w, ra->runner_up_score);
        }
    } else {
        put_action_body(w, a, true);
    }
    jw_close(w, '}');
}

static size_t replayed_estimate(const kl_replayed *r)
{
    size_t n = 1024 + r->original_request.len + 2 * (r->original_response.len + r->response.len);
    for (size_t i = 0; i < r->n_actions; i++) {
        const kl_replayed_action *ra = &r->actions[i];
        n += 512 + ra->action.request.len + ra->action.content.len + ra->matched_request.len +
             ra->matched_response.len;
    }
    return n + n / 8;
}

/* The original's ReplayedSession: CallFromInbound happened when the replay started
 * (replayed_at), ReturnInbound when the service answered (response_time). */
static void put_replayed(jw *w, const kl_replayed *r)
{
    jw_open(w, '{');
    jw_key(w, "SessionId");
    jw_str(w, r->session_id);
    jw_key(w, "CallFromInbound");
    jw_open(w, '{');
    replayed_head(w, r->replayed_at, "CallFromInbound");
    jw_key(w, "OriginalRequestTime");
    jw_int(w, r->original_request_time);
    jw_key(w, "OriginalRequest");
    jw_bytes(w, r->original_request);
    jw_close(w, '}');
    jw_key(w, "ReturnInbound");
    put_return_inbound(w, r, r->response_time);
    jw_key(w, "Actions");
    if (r->n_actions) {
        jw_open(w, '[');
        for (size_t i = 0; i < r->n_actions && !w->err; i++) {
            jw_sep(w);
            put_replayed_action(w, r, &r->actions[i]);
        }
        jw_close(w, ']');
    } else {
        jw_lit(w, "null");
    }
    if (w->extra) {
        jw_key(w, "ReplayedAt");
        jw_int(w, r->replayed_at);
        if (r->n_unused_calls) {
            jw_key(w, "UnusedCalls");
            jw_open(w, '[');
            for (size_t i = 0; i < r->n_unused_calls; i++) {
                jw_sep(w);
                jw_int(w, r->unused_calls[i]);
            }
            jw_close(w, ']');
        }
        if (r->n_errors) {
            jw_key(w, "Errors");
            jw_open(w, '[');
            for (size_t i = 0; i < r->n_errors; i++) {
                jw_sep(w);
                jw_str(w, r->errors[i]);
            }
            jw_close(w, ']');
        }
    }
    jw_close(w, '}');
}

/* ---- entry points ---- */

static void jw_begin(jw *w, kl_buf *out, unsigned flags, size_t estimate)
{
    *w = (jw){.b = out, .pretty = flags & KL_JSON_PRETTY, .extra = flags & KL_JSON_EXTRA};
    jw_room(w, estimate);
}

/* On failure the buffer is left as it was before the call. */
static int jw_end(jw *w, size_t start)
{
    kl_buf *b = w->b;
    if (w->err)
        b->len = start;
    if (b->data)
        b->data[b->len] = '\0';
    return w->err;
}

int kl_json_session(const kl_session *s, unsigned flags, kl_buf *out)
{
    if (!s || !out)
        return KL_ERR_INVALID;
    size_t start = out->len;
    jw w;
    jw_begin(&w, out, flags, session_estimate(s));
    put_session(&w, s);
    return jw_end(&w, start);
}

static int json_quoted(const uint8_t *data, size_t len, bool raw, kl_buf *out)
{
    if (!out || (!data && len))
        return KL_ERR_INVALID;
    size_t start = out->len;
    jw w;
    jw_begin(&w, out, 0, len + len / 8 + 2);
    jw_escaped(&w, data, len, raw);
    return jw_end(&w, start);
}

int kl_json_string(const uint8_t *data, size_t len, kl_buf *out)
{
    return json_quoted(data, len, false, out);
}

int kl_json_bytes(const uint8_t *data, size_t len, kl_buf *out)
{
    return json_quoted(data, len, true, out);
}

int kl_json_replayed(const kl_replayed *r, unsigned flags, kl_buf *out)
{
    if (!r || !out)
        return KL_ERR_INVALID;
    size_t start = out->len;
    jw w;
    jw_begin(&w, out, flags, replayed_estimate(r));
    put_replayed(&w, r);
    return jw_end(&w, start);
}
