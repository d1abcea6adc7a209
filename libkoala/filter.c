/* filter.c - display filters (koala-dump -Y): lexer, parser to a small tree, and matcher. */
#include "kl_internal.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A regex stops (and counts as not matching) after this much work, so a pathological
 * pattern costs milliseconds per value instead of hanging a scan of a large file. */
#define RE_MATCH_LIMIT 1000000u
#define RE_DEPTH_LIMIT 100000u
#define RE_HEAP_LIMIT_KIB (16u << 10)
#define RE_JIT_STACK_MAX (1u << 20)
/* Bounds the recursion of both the parser and the matcher. */
#define MAX_DEPTH 200

/* ------------------------------------------------------------------ fields */

typedef enum vtype {
    V_PROTO, /* "outbound", "udp": only an existence test */
    V_INT,
    V_TIME,  /* unix ns; literals may be RFC 3339 times */
    V_SIZE,  /* bytes; literals may carry k, KiB, M... */
    V_BOOL,
    V_TEXT,
    V_BYTES,
    V_TYPE,  /* an action type: compared by enum, searched by name */
} vtype;

typedef enum scope {
    SC_SESSION, /* one value (or none) per session */
    SC_ACTION,  /* one value per action of the field's action type */
    SC_LABEL,   /* one value per label with the field's key */
} scope;

/* Session-scope getters. */
typedef enum sget {
    S_ID, S_TIME, S_THREAD, S_PID, S_HOST, S_PROGRAM, S_TRUNCATED, S_ACTIONS,
    S_INBOUND, S_IN_REQUEST, S_IN_RESPONSE, S_IN_PEER, S_IN_IP, S_IN_PORT, S_IN_PATH,
    S_IN_TIME, S_IN_REQUEST_LEN, S_IN_RESPONSE_LEN, S_OUT_COUNT,
} sget;

/* Action-scope getters, shared by outbound.*, udp.*, file.*... */
typedef enum aget {
    A_EXISTS, A_REQUEST, A_RESPONSE, A_PEER, A_IP, A_PORT, A_PATH, A_FD, A_REQUEST_LEN,
    A_RESPONSE_LEN, A_CONTENT, A_FILE_NAME, A_FUNC_NAME, A_TYPE,
} aget;

#define ANY_ACTION (-1)

typedef struct field {
    const char *name;
    vtype type;
    scope scope;
    int get;   /* sget or aget, by scope */
    int atype; /* kl_action_type the action must have, or ANY_ACTION */
} field;

#define SF(n, t, g) {n, t, SC_SESSION, g, ANY_ACTION}
#define AF(n, t, g, at) {n, t, SC_ACTION, g, at}

static const field fields[] = {
    SF("session.id", V_TEXT, S_ID),
    SF("session.time", V_TIME, S_TIME),
    SF("session.thread", V_INT, S_THREAD),
    SF("session.pid", V_INT, S_PID),
    SF("session.host", V_TEXT, S_HOST),
    SF("session.program", V_TEXT, S_PROGRAM),
    SF("session.truncated", V_BOOL, S_TRUNCATED),
    SF("session.actions", V_INT, S_ACTIONS),
    SF("inbound", V_PROTO, S_INBOUND),
    SF("inbound.request", V_BYTES, S_IN_REQUEST),
    SF("inbound.response", V_BYTES, S_IN_RESPONSE),
    SF("inbound.peer", V_TEXT, S_IN_PEER),
    SF("inbound.ip", V_TEXT, S_IN_IP),
    SF("inbound.port", V_INT, S_IN_PORT),
    SF("inbound.path", V_TEXT, S_IN_PATH),
    SF("inbound.time", V_TIME, S_IN_TIME),
    SF("inbound.request.len", V_SIZE, S_IN_REQUEST_LEN),
    SF("inbound.response.len", V_SIZE, S_IN_RESPONSE_LEN),
    AF("outbound", V_PROTO, A_EXISTS, KL_ACTION_CALL_OUTBOUND),
    AF("outbound.request", V_BYTES, A_REQUEST, KL_ACTION_CALL_OUTBOUND),
    AF("outbound.response", V_BYTES, A_RESPONSE, KL_ACTION_CALL_OUTBOUND),
    AF("outbound.peer", V_TEXT, A_PEER, KL_ACTION_CALL_OUTBOUND),
    AF("outbound.ip", V_TEXT, A_IP, KL_ACTION_CALL_OUTBOUND),
    AF("outbound.port", V_INT, A_PORT, KL_ACTION_CALL_OUTBOUND),
    AF("outbound.path", V_TEXT, A_PATH, KL_ACTION_CALL_OUTBOUND),
    AF("outbound.fd", V_INT, A_FD, KL_ACTION_CALL_OUTBOUND),
    AF("outbound.request.len", V_SIZE, A_REQUEST_LEN, KL_ACTION_CALL_OUTBOUND),
    AF("outbound.response.len", V_SIZE, A_RESPONSE_LEN, KL_ACTION_CALL_OUTBOUND),
    SF("outbound.count", V_INT, S_OUT_COUNT),
    AF("udp", V_PROTO, A_EXISTS, KL_ACTION_SEND_UDP),
    AF("udp.peer", V_TEXT, A_PEER, KL_ACTION_SEND_UDP),
    AF("udp.ip", V_TEXT, A_IP, KL_ACTION_SEND_UDP),
    AF("udp.port", V_INT, A_PORT, KL_ACTION_SEND_UDP),
    AF("udp.content", V_BYTES, A_CONTENT, KL_ACTION_SEND_UDP),
    AF("file", V_PROTO, A_EXISTS, KL_ACTION_APPEND_FILE),
    AF("file.name", V_TEXT, A_FILE_NAME, KL_ACTION_APPEND_FILE),
    AF("file.content", V_BYTES, A_CONTENT, KL_ACTION_APPEND_FILE),
    AF("storage", V_PROTO, A_EXISTS, KL_ACTION_READ_STORAGE),
    AF("storage.content", V_BYTES, A_CONTENT, KL_ACTION_READ_STORAGE),
    AF("function", V_PROTO, A_EXISTS, KL_ACTION_CALL_FUNCTION),
    AF("function.name", V_TEXT, A_FUNC_NAME, KL_ACTION_CALL_FUNCTION),
    AF("action.type", V_TYPE, A_TYPE, ANY_ACTION),
};

static const field label_field = {"session.label.", V_TEXT, SC_LABEL, 0, ANY_ACTION};

static const char *type_desc(vtype t)
{
    switch (t) {
    case V_PROTO: return "a protocol";
    case V_INT: return "a number";
    case V_TIME: return "a time";
    case V_SIZE: return "a size";
    case V_BOOL: return "a boolean";
    case V_TEXT: return "text";
    case V_BYTES: return "bytes";
    case V_TYPE: return "an action type";
    }
    return "?";
}

/* --------------------------------------------------------------- the tree */

typedef enum op {
    OP_EXISTS, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_CONTAINS, OP_MATCHES, OP_GLOB, OP_IN,
} op;

typedef enum nkind { N_TRUE, N_AND, N_OR, N_NOT, N_TEST } nkind;

typedef struct range {
    int64_t lo, hi;
} range;

typedef struct node node;
struct node {
    nkind kind;
    node **kids;          /* N_AND, N_OR (n_kids), N_NOT (one) */
    size_t n_kids;
    /* N_TEST */
    const field *field;
    kl_bytes label;       /* SC_LABEL: the key */
    op op;
    int64_t num;          /* numbers, booleans; V_TYPE: the type (==, !=) or a bit mask (in) */
    kl_bytes str;         /* ==, !=, contains, glob on text and bytes */
    pcre2_code *re;
    const range *ranges;  /* in, numbers */
    const kl_bytes *strs; /* in, text and bytes */
    size_t n_set;
};

struct kl_filter {
    kli_mem *mem;
    node *root;
    pcre2_code **res;     /* every compiled regex, to free */
    size_t n_res;
    pcre2_match_context *mctx;
    pcre2_match_data *md; /* the per-filter scratch that keeps matching free of malloc */
    pcre2_jit_stack *jit;
};

/* ------------------------------------------------------------------ values */

typedef struct val {
    int64_t i;
    const uint8_t *p;
    size_t n;
} val;

static void val_str(val *v, const char *s)
{
    v->p = (const uint8_t *)s;
    v->n = strlen(s);
}

/* The IP of a without the port ("10.0.0.1", "fe80::1%eth0"); false when it has none. */
static bool ip_text(const kl_addr *a, char *buf, size_t cap, val *v)
{
    if (a->family != AF_INET && a->family != AF_INET6)
        return false;
    if (!inet_ntop(a->family, a->ip, buf, (socklen_t)cap))
        return false;
    size_t n = strlen(buf), z = strlen(a->zone);
    if (a->family == AF_INET6 && z && n + 1 + z < cap) {
        buf[n++] = '%';
        memcpy(buf + n, a->zone, z + 1);
        n += z;
    }
    v->p = (const uint8_t *)buf;
    v->n = n;
    return true;
}

static bool addr_text(const kl_addr *a, char *buf, size_t cap, val *v)
{
    if (kl_addr_is_empty(a))
        return false;
    val_str(v, kl_addr_format(a, buf, cap));
    return true;
}

static bool path_text(const kl_addr *a, val *v)
{
    if (!a->unix_path[0])
        return false;
    val_str(v, a->unix_path);
    return true;
}

static bool bytes_val(kl_bytes b, val *v)
{
    v->p = b.data ? b.data : (const uint8_t *)"";
    v->n = b.data ? b.len : 0;
    v->i = (int64_t)v->n;
    return true;
}

/* buf holds KL_ADDR_STRLEN bytes for formatted addresses. */
static bool session_value(sget g, const kl_session *s, val *v, char *buf)
{
    const kl_call_from_inbound *in = &s->call_from_inbound;
    const kl_return_inbound *ret = &s->return_inbound;
    switch (g) {
    case S_ID:
        if (!s->id)
            return false;
        val_str(v, s->id);
        return true;
    case S_TIME: v->i = kl_session_time(s); return true;
    case S_THREAD: v->i = s->thread_id; return true;
    case S_PID: v->i = s->pid; return true;
    case S_HOST:
        if (!s->host)
            return false;
        val_str(v, s->host);
        return true;
    case S_PROGRAM:
        if (!s->program)
            return false;
        val_str(v, s->program);
        return true;
    case S_TRUNCATED: v->i = s->truncated; return true;
    case S_ACTIONS:
        /* As the summary line counts them: the ReturnInbound marker is not an action taken. */
        v->i = 0;
        for (size_t i = 0; i < s->n_actions; i++)
            v->i += s->actions[i].type != KL_ACTION_RETURN_INBOUND;
        return true;
    case S_INBOUND: return in->present || ret->present;
    case S_IN_REQUEST: return in->present && bytes_val(in->request, v);
    case S_IN_RESPONSE: return ret->present && bytes_val(ret->response, v);
    case S_IN_PEER: return in->present && addr_text(&in->peer, buf, KL_ADDR_STRLEN, v);
    case S_IN_IP: return in->present && ip_text(&in->peer, buf, KL_ADDR_STRLEN, v);
    case S_IN_PORT:
        v->i = in->peer.port;
        return in->present && in->peer.family != 0;
    case S_IN_PATH: return in->present && path_text(&in->peer, v);
    case S_IN_TIME:
        v->i = in->occurred_at;
        return in->present;
    case S_IN_REQUEST_LEN: return in->present && bytes_val(in->request, v);
    case S_IN_RESPONSE_LEN: return ret->present && bytes_val(ret->response, v);
    case S_OUT_COUNT:
        v->i = 0;
        for (size_t i = 0; i < s->n_actions; i++)
            v->i += s->actions[i].type == KL_ACTION_CALL_OUTBOUND;
        return true;
    }
    return false;
}

static bool action_value(aget g, const kl_action *a, val *v, char *buf)
{
    switch (g) {
    case A_EXISTS: return true;
    case A_REQUEST: return bytes_val(a->request, v);
    case A_RESPONSE: return bytes_val(a->response, v);
    case A_PEER: return addr_text(&a->peer, buf, KL_ADDR_STRLEN, v);
    case A_IP: return ip_text(&a->peer, buf, KL_ADDR_STRLEN, v);
    case A_PORT:
        v->i = a->peer.port;
        return a->peer.family != 0;
    case A_PATH: return path_text(&a->peer, v);
    case A_FD: v->i = a->socket_fd; return true;
    case A_REQUEST_LEN: return bytes_val(a->request, v);
    case A_RESPONSE_LEN: return bytes_val(a->response, v);
    case A_CONTENT: return bytes_val(a->content, v);
    case A_FILE_NAME:
        if (!a->file_name)
            return false;
        val_str(v, a->file_name);
        return true;
    case A_FUNC_NAME:
        if (!a->func_name)
            return false;
        val_str(v, a->func_name);
        return true;
    case A_TYPE:
        v->i = a->type;
        val_str(v, kl_action_type_name(a->type));
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------ glob */

/* A bracket expression at p ("[a-z]", "[!0-9]", "[]x]"): its length with the closing ']',
 * or 0 when it does not close (then '[' is an ordinary character). */
static size_t glob_class(const uint8_t *p, size_t n, uint8_t c, bool *hit)
{
    size_t i = 1;
    bool neg = i < n && (p[i] == '!' || p[i] == '^');
    if (neg)
        i++;
    bool in = false;
    size_t first = i;
    for (; i < n && (p[i] != ']' || i == first); i++) {
        uint8_t lo = p[i];
        if (lo == '\\' && i + 1 < n)
            lo = p[++i];
        uint8_t hi = lo;
        if (i + 2 < n && p[i + 1] == '-' && p[i + 2] != ']') {
            hi = p[i + 2];
            i += 2;
            if (hi == '\\' && i + 1 < n)
                hi = p[++i];
        }
        if (c >= lo && c <= hi)
            in = true;
    }
    if (i >= n)
        return 0;
    *hit = in != neg;
    return i + 1;
}

/* fnmatch(3) without flags, over bytes: '*' also crosses '/'. Backtracks only to the last
 * '*', so the cost is at most pattern length times subject length. */
static bool glob_match(const uint8_t *p, size_t pn, const uint8_t *s, size_t sn)
{
    size_t pi = 0, si = 0, star = SIZE_MAX, star_si = 0;
    while (si < sn) {
        if (pi < pn) {
            uint8_t c = p[pi];
            bool hit = false;
            size_t adv = 1;
            if (c == '*') {
                star = ++pi;
                star_si = si;
                continue;
            }
            if (c == '?') {
                hit = true;
            } else if (c == '[' && (adv = glob_class(p + pi, pn - pi, s[si], &hit)) > 0) {
                /* hit set by glob_class */
            } else if (c == '\\' && pi + 1 < pn) {
                hit = p[pi + 1] == s[si];
                adv = 2;
            } else {
                hit = c == s[si];
                adv = 1;
            }
            if (hit) {
                pi += adv;
                si++;
                continue;
            }
        }
        if (star == SIZE_MAX)
            return false;
        pi = star;
        si = ++star_si;
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

/* ---------------------------------------------------------------- matching */

static bool bytes_eq(const val *v, kl_bytes b)
{
    return v->n == b.len && (b.len == 0 || memcmp(v->p, b.data, b.len) == 0);
}

static bool is_textual(const field *fd, op o)
{
    return fd->type == V_TEXT || fd->type == V_BYTES ||
           (fd->type == V_TYPE && (o == OP_CONTAINS || o == OP_MATCHES || o == OP_GLOB));
}

/* The test on one value; for != it is the equality that the caller negates over all values. */
static bool test_value(const kl_filter *f, const node *n, const val *v)
{
    const field *fd = n->field;
    switch (n->op) {
    case OP_EXISTS:
        switch (fd->type) {
        case V_BOOL: return v->i != 0;
        case V_TEXT:
        case V_BYTES: return v->n > 0 || fd->scope == SC_LABEL;
        case V_PROTO:
        case V_INT:
        case V_TIME:
        case V_SIZE:
        case V_TYPE: return true;
        }
        return false;
    case OP_EQ:
    case OP_NE: return is_textual(fd, n->op) ? bytes_eq(v, n->str) : v->i == n->num;
    case OP_LT: return v->i < n->num;
    case OP_LE: return v->i <= n->num;
    case OP_GT: return v->i > n->num;
    case OP_GE: return v->i >= n->num;
    case OP_CONTAINS: return n->str.len == 0 || memmem(v->p, v->n, n->str.data, n->str.len) != NULL;
    case OP_MATCHES:
        /* Errors, including the match limit, count as no match. */
        return pcre2_match(n->re, v->p, v->n, 0, 0, f->md, f->mctx) >= 0;
    case OP_GLOB: return glob_match(n->str.data, n->str.len, v->p, v->n);
    case OP_IN:
        if (fd->type == V_TYPE)
            return v->i >= 0 && v->i < 63 && (n->num >> v->i & 1);
        for (size_t i = 0; i < n->n_set; i++)
            if (is_textual(fd, n->op) ? bytes_eq(v, n->strs[i])
                                      : v->i >= n->ranges[i].lo && v->i <= n->ranges[i].hi)
                return true;
        return false;
    }
    return false;
}

/* A multi-valued field satisfies a test when any value does; != holds when every value
 * differs (Wireshark's rule), and no test holds on a field with no value at all. */
static bool eval_test(const kl_filter *f, const node *n, const kl_session *s)
{
    const field *fd = n->field;
    char buf[KL_ADDR_STRLEN];
    val v = {0};
    bool seen = false, any = false;
    switch (fd->scope) {
    case SC_SESSION:
        if (session_value((sget)fd->get, s, &v, buf)) {
            seen = true;
            any = test_value(f, n, &v);
        }
        break;
    case SC_ACTION:
        for (size_t i = 0; i < s->n_actions && !any; i++) {
            const kl_action *a = &s->actions[i];
            if (fd->atype != ANY_ACTION && (int)a->type != fd->atype)
                continue;
            if (!action_value((aget)fd->get, a, &v, buf))
                continue;
            seen = true;
            any = test_value(f, n, &v);
        }
        break;
    case SC_LABEL:
        for (size_t i = 0; i < s->n_labels && !any; i++) {
            const kl_kv *kv = &s->labels[i];
            if (kv->key.len != n->label.len || memcmp(kv->key.data, n->label.data, n->label.len))
                continue;
            bytes_val(kv->value, &v);
            seen = true;
            any = test_value(f, n, &v);
        }
        break;
    }
    return n->op == OP_NE ? seen && !any : any;
}

static bool eval(const kl_filter *f, const node *n, const kl_session *s)
{
    switch (n->kind) {
    case N_TRUE: return true;
    case N_AND:
        for (size_t i = 0; i < n->n_kids; i++)
            if (!eval(f, n->kids[i], s))
                return false;
        return true;
    case N_OR:
        for (size_t i = 0; i < n->n_kids; i++)
            if (eval(f, n->kids[i], s))
                return true;
        return false;
    case N_NOT: return !eval(f, n->kids[0], s);
    case N_TEST: return eval_test(f, n, s);
    }
    return false;
}

bool kl_filter_match(const kl_filter *f, const kl_session *s)
{
    return eval(f, f->root, s);
}

void kl_filter_free(kl_filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_res; i++)
        pcre2_code_free(f->res[i]);
    pcre2_match_data_free(f->md);
    pcre2_match_context_free(f->mctx);
    pcre2_jit_stack_free(f->jit);
    kli_mem_free(f->mem);
    free(f);
}

/* ------------------------------------------------------------------ lexer */

typedef enum tkind {
    K_END, K_LPAREN, K_RPAREN, K_LBRACE, K_RBRACE, K_COMMA,
    K_EQ, K_NE, K_LT, K_LE, K_GT, K_GE, K_TILDE, K_ANDAND, K_OROR, K_BANG,
    K_WORD, K_STRING,
} tkind;

typedef struct token {
    tkind kind;
    size_t pos, end;  /* the source slice */
    const char *text; /* K_WORD: into the source; K_STRING: decoded, in the filter's arena */
    size_t len;
} token;

typedef struct parser {
    const char *src;
    size_t len, pos;
    token tok;
    bool regex;       /* the next string is a regex: unknown escapes reach PCRE2 unchanged */
    int depth;
    kl_filter *f;
    char *errbuf;
    bool bare;        /* the test just parsed is a field without operator, bare_field... */
    token bare_field; /* ...for "expected an operator after" messages */
} parser;

static int fail(parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(parser *p, size_t pos, const char *fmt, ...)
{
    if (p->errbuf) {
        int n = snprintf(p->errbuf, KL_ERRBUF_SIZE, "column %zu: ", pos + 1);
        va_list ap;
        va_start(ap, fmt);
        if (n > 0 && n < KL_ERRBUF_SIZE)
            vsnprintf(p->errbuf + n, KL_ERRBUF_SIZE - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return KL_ERR_SYNTAX;
}

static int nomem(parser *p)
{
    kli_seterr(p->errbuf, "out of memory");
    return KL_ERR_NOMEM;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_word_char(char c)
{
    unsigned char u = (unsigned char)c;
    return u > ' ' && u != 0x7f && !strchr("()\"{},!=<>&|~", c);
}

/* A quoted string starting at the quote at q. Raw strings (r"...") keep every backslash, and
 * \" inside them does not end them, as in Python and Wireshark. */
static int lex_string(parser *p, size_t q, bool raw)
{
    const char *s = p->src;
    size_t end = q + 1;
    while (end < p->len && s[end] != '"')
        end += s[end] == '\\' ? 2 : 1;
    if (end >= p->len)
        return fail(p, q, "unterminated string");
    char *out = kli_alloc(p->f->mem, end - q);
    if (!out)
        return nomem(p);
    size_t n = 0;
    for (size_t i = q + 1; i < end;) {
        char c = s[i], e = s[i + 1];
        if (c != '\\') {
            out[n++] = c;
            i++;
            continue;
        }
        i += 2;
        /* A regex keeps its escapes (\d, \x00, \n) for PCRE2, so "\x2a" stays a literal '*';
         * only \" and \\ are ours, so that "\\d" also means \d as in Wireshark. */
        if (raw || (p->regex && e != '"' && e != '\\')) {
            out[n++] = c;
            out[n++] = e;
            continue;
        }
        int h1, h2;
        switch (e) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'x':
            h1 = i < end ? kli_hex_digit((unsigned char)s[i]) : -1;
            h2 = i + 1 < end ? kli_hex_digit((unsigned char)s[i + 1]) : -1;
            if (h1 < 0 || h2 < 0)
                return fail(p, i - 2, "bad escape \"\\x\": two hex digits must follow");
            out[n++] = (char)(h1 << 4 | h2);
            i += 2;
            break;
        default:
            return fail(p, i - 2, "bad escape \"\\%c\" (write \"\\\\%c\" for a backslash)", e, e);
        }
    }
    out[n] = '\0';
    p->tok = (token){K_STRING, raw ? q - 1 : q, end + 1, out, n};
    p->pos = end + 1;
    return KL_OK;
}

static int advance(parser *p)
{
    const char *s = p->src;
    size_t i = p->pos;
    while (i < p->len && is_space(s[i]))
        i++;
    if (i >= p->len) {
        p->tok = (token){K_END, p->len, p->len, "", 0};
        p->pos = i;
        return KL_OK;
    }
    char c = s[i], d = i + 1 < p->len ? s[i + 1] : '\0';
    tkind k;
    size_t w = 1;
    switch (c) {
    case '(': k = K_LPAREN; break;
    case ')': k = K_RPAREN; break;
    case '{': k = K_LBRACE; break;
    case '}': k = K_RBRACE; break;
    case ',': k = K_COMMA; break;
    case '~': k = K_TILDE; break;
    case '"': return lex_string(p, i, false);
    case '=':
        if (d != '=')
            return fail(p, i, "unknown operator \"=\" (use \"==\")");
        k = K_EQ;
        w = 2;
        break;
    case '!':
        k = d == '=' ? K_NE : K_BANG;
        w = d == '=' ? 2 : 1;
        break;
    case '<':
        k = d == '=' ? K_LE : K_LT;
        w = d == '=' ? 2 : 1;
        break;
    case '>':
        k = d == '=' ? K_GE : K_GT;
        w = d == '=' ? 2 : 1;
        break;
    case '&':
        if (d != '&')
            return fail(p, i, "unknown operator \"&\" (use \"&&\" or \"and\")");
        k = K_ANDAND;
        w = 2;
        break;
    case '|':
        if (d != '|')
            return fail(p, i, "unknown operator \"|\" (use \"||\" or \"or\")");
        k = K_OROR;
        w = 2;
        break;
    default:
        if (c == 'r' && d == '"')
            return lex_string(p, i + 1, true);
        if (!is_word_char(c))
            return fail(p, i, "unexpected character 0x%02x", (unsigned char)c);
        k = K_WORD;
        while (i + w < p->len && is_word_char(s[i + w]))
            w++;
        break;
    }
    p->tok = (token){k, i, i + w, s + i, w};
    p->pos = i + w;
    return KL_OK;
}

static bool is_kw(const token *t, const char *kw)
{
    return t->kind == K_WORD && strlen(kw) == t->len && strncasecmp(t->text, kw, t->len) == 0;
}

static bool is_keyword(const token *t)
{
    static const char *const kws[] = {"and", "or", "not", "contains", "matches", "glob", "in"};
    for (size_t i = 0; i < sizeof kws / sizeof kws[0]; i++)
        if (is_kw(t, kws[i]))
            return true;
    return false;
}

/* How a token reads in a message: "and", "\"GET\"", end of filter. */
static const char *tok_desc(const parser *p, const token *t, char *buf, size_t cap)
{
    if (t->kind == K_END)
        return "end of filter";
    size_t n = t->end - t->pos;
    int max = n > 40 ? 40 : (int)n;
    if (t->kind == K_STRING)
        snprintf(buf, cap, "%.*s%s", max, p->src + t->pos, n > 40 ? "..." : "");
    else
        snprintf(buf, cap, "\"%.*s%s\"", max, p->src + t->pos, n > 40 ? "..." : "");
    return buf;
}

/* ------------------------------------------------------------------ literals */

static bool parse_int(const char *t, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = n > 0 && t[0] == '-';
    if (neg)
        i++;
    unsigned base = 10;
    if (n - i > 2 && t[i] == '0' && (t[i + 1] == 'x' || t[i + 1] == 'X')) {
        base = 16;
        i += 2;
    }
    if (i >= n)
        return false;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        int d = base == 16 ? kli_hex_digit((unsigned char)t[i]) : (t[i] >= '0' && t[i] <= '9' ? t[i] - '0' : -1);
        if (d < 0 || v > (lim - (unsigned)d) / base)
            return false;
        v = v * base + (unsigned)d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* "1500", "1k" / "1kB" (1000), "1KiB" (1024), M, MB, MiB, G, GB, GiB; case-insensitive. */
static bool parse_size(const char *t, size_t n, int64_t *out)
{
    static const struct {
        const char *sfx;
        int64_t mul;
    } units[] = {{"k", 1000}, {"kb", 1000}, {"kib", 1024}, {"m", 1000000}, {"mb", 1000000},
                 {"mib", 1 << 20}, {"g", 1000000000}, {"gb", 1000000000}, {"gib", 1 << 30}};
    size_t d = 0;
    while (d < n && ((t[d] >= '0' && t[d] <= '9') || t[d] == '-'))
        d++;
    if (d == n || (n > 1 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')))
        return parse_int(t, n, out);
    int64_t v;
    if (!parse_int(t, d, &v))
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen(units[i].sfx) == n - d && strncasecmp(t + d, units[i].sfx, n - d) == 0)
            return !__builtin_mul_overflow(v, units[i].mul, out);
    return false;
}

/* A number for field fd from a value token; ranges ("8000..8004") only inside sets. */
static int number_value(parser *p, const field *fd, const token *t, range *r, bool allow_range)
{
    const char *s = t->text;
    size_t n = t->len;
    if (allow_range && t->kind == K_WORD) {
        const char *dots = memmem(s, n, "..", 2);
        if (dots) {
            size_t a = (size_t)(dots - s);
            token lo = *t, hi = *t;
            lo.len = a;
            hi.text = dots + 2;
            hi.len = n - a - 2;
            range rl, rh;
            int err = number_value(p, fd, &lo, &rl, false);
            if (!err)
                err = number_value(p, fd, &hi, &rh, false);
            if (err)
                return err;
            if (rl.lo > rh.lo)
                return fail(p, t->pos, "empty range %.*s", (int)n, s);
            *r = (range){rl.lo, rh.lo};
            return KL_OK;
        }
    }
    int64_t v = 0;
    bool ok = false;
    switch (fd->type) {
    case V_INT: ok = parse_int(s, n, &v); break;
    case V_SIZE: ok = parse_size(s, n, &v); break;
    case V_TIME: ok = parse_int(s, n, &v) || kl_parse_time(s, n, &v) == KL_OK; break;
    case V_BOOL:
        ok = true;
        if ((n == 4 && strncasecmp(s, "true", 4) == 0) || (n == 1 && s[0] == '1'))
            v = 1;
        else if ((n == 5 && strncasecmp(s, "false", 5) == 0) || (n == 1 && s[0] == '0'))
            v = 0;
        else
            ok = false;
        break;
    case V_PROTO:
    case V_TEXT:
    case V_BYTES:
    case V_TYPE: break;
    }
    if (ok) {
        *r = (range){v, v};
        return KL_OK;
    }
    char buf[64];
    const char *what = fd->type == V_TIME   ? "a time (unix ns or \"2023-11-14T22:13:20Z\")"
                       : fd->type == V_SIZE ? "a size (1500, 64k, 1MiB)"
                       : fd->type == V_BOOL ? "true or false"
                                            : "a number";
    return fail(p, t->pos, "expected %s for %s, found %s", what, fd->name,
                tok_desc(p, t, buf, sizeof buf));
}

/* An action type from its name: "CallOutbound", "calloutbound" or "call_outbound". */
static int type_value(parser *p, const token *t, int64_t *out)
{
    for (int k = 0; k < KL_ACTION_TYPE_COUNT; k++) {
        const char *name = kl_action_type_name((kl_action_type)k);
        size_t i = 0, j = 0;
        for (; i < t->len; i++) {
            char c = t->text[i];
            if (c == '_')
                continue;
            if (!name[j] || (c | 0x20) != (name[j] | 0x20))
                break;
            j++;
        }
        if (i == t->len && !name[j]) {
            *out = k;
            return KL_OK;
        }
    }
    char buf[64];
    return fail(p, t->pos, "unknown action type %s", tok_desc(p, t, buf, sizeof buf));
}

/* ------------------------------------------------------------------ parser */

static node *new_node(parser *p, nkind k)
{
    node *n = kli_zalloc(p->f->mem, sizeof *n);
    if (n)
        n->kind = k;
    return n;
}

static bool lookup_field(const token *t, const field **fd, kl_bytes *label)
{
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strlen(fields[i].name) == t->len && memcmp(fields[i].name, t->text, t->len) == 0) {
            *fd = &fields[i];
            return true;
        }
    size_t pl = strlen(label_field.name);
    if (t->len > pl && memcmp(t->text, label_field.name, pl) == 0) {
        *fd = &label_field;
        *label = (kl_bytes){(const uint8_t *)t->text + pl, t->len - pl};
        return true;
    }
    return false;
}

static bool op_fits(vtype t, op o)
{
    switch (o) {
    case OP_EXISTS: return true;
    case OP_EQ:
    case OP_NE: return t != V_PROTO;
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE: return t == V_INT || t == V_TIME || t == V_SIZE;
    case OP_IN: return t != V_PROTO && t != V_BOOL;
    case OP_CONTAINS:
    case OP_MATCHES:
    case OP_GLOB: return t == V_TEXT || t == V_BYTES || t == V_TYPE;
    }
    return false;
}

static int op_error(parser *p, const field *fd, const token *opt)
{
    int w = (int)(opt->end - opt->pos);
    const char *o = p->src + opt->pos;
    if (fd->type == V_PROTO)
        return fail(p, opt->pos, "%s can only be tested for existence (write \"%s\" alone, or "
                    "use one of its fields)", fd->name, fd->name);
    if (fd->type == V_BOOL)
        return fail(p, opt->pos, "\"%.*s\" does not apply to %s, a boolean (use == or !=)", w, o,
                    fd->name);
    if (fd->type == V_TEXT || fd->type == V_BYTES || fd->type == V_TYPE)
        return fail(p, opt->pos, "\"%.*s\" compares numbers, but %s is %s", w, o, fd->name,
                    type_desc(fd->type));
    return fail(p, opt->pos, "\"%.*s\" needs text or bytes, but %s is %s", w, o, fd->name,
                type_desc(fd->type));
}

static int compile_regex(parser *p, node *n, const token *t)
{
    kl_filter *f = p->f;
    int code;
    PCRE2_SIZE off;
    /* Bytes, not UTF-8: payloads are binary. Caseless like Wireshark's "matches"; (?-i)
     * undoes it. */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)t->text, t->len, PCRE2_NEVER_UTF | PCRE2_CASELESS,
                                   &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", code);
        return fail(p, t->pos, "bad regex: %s", (const char *)msg);
    }
    pcre2_code **res = kli_grow(f->mem, f->res, f->n_res, sizeof *res);
    if (!res) {
        pcre2_code_free(re);
        return nomem(p);
    }
    f->res = res;
    f->res[f->n_res++] = re;
    /* Without JIT support pcre2_match() interprets the pattern; both obey the limits. */
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    if (!f->mctx) {
        f->mctx = pcre2_match_context_create(NULL);
        f->md = pcre2_match_data_create(1, NULL);
        f->jit = pcre2_jit_stack_create(32u << 10, RE_JIT_STACK_MAX, NULL);
        if (!f->mctx || !f->md || !f->jit)
            return nomem(p);
        pcre2_set_match_limit(f->mctx, RE_MATCH_LIMIT);
        pcre2_set_depth_limit(f->mctx, RE_DEPTH_LIMIT);
        pcre2_set_heap_limit(f->mctx, RE_HEAP_LIMIT_KIB);
        pcre2_jit_stack_assign(f->mctx, NULL, f->jit);
    }
    n->re = re;
    return KL_OK;
}

static bool is_value(const token *t)
{
    return t->kind == K_STRING || (t->kind == K_WORD && !is_keyword(t));
}

/* One operand of n from the current token. */
static int operand(parser *p, node *n, const token *t)
{
    const field *fd = n->field;
    if (is_textual(fd, n->op)) {
        n->str = (kl_bytes){(const uint8_t *)t->text, t->len};
        return n->op == OP_MATCHES ? compile_regex(p, n, t) : KL_OK;
    }
    if (fd->type == V_TYPE)
        return type_value(p, t, &n->num);
    range r;
    int err = number_value(p, fd, t, &r, false);
    n->num = r.lo;
    return err;
}

/* "{80 443 8000..8004}", "{"a", "b"}": after "in", at the brace. */
static int parse_set(parser *p, node *n, const token *opt)
{
    const field *fd = n->field;
    char buf[64];
    if (p->tok.kind != K_LBRACE)
        return fail(p, p->tok.pos, "expected \"{\" after \"in\", found %s",
                    tok_desc(p, &p->tok, buf, sizeof buf));
    size_t open = p->tok.pos;
    int err = advance(p);
    range *ranges = NULL;
    kl_bytes *strs = NULL;
    while (!err && p->tok.kind != K_RBRACE) {
        const token *t = &p->tok;
        if (t->kind == K_END)
            return fail(p, t->pos, "missing \"}\" to close \"{\" at column %zu", open + 1);
        if (t->kind == K_COMMA) {
            err = advance(p);
            continue;
        }
        if (!is_value(t))
            return fail(p, t->pos, "expected a value in the set after \"%.*s\", found %s",
                        (int)(opt->end - opt->pos), p->src + opt->pos,
                        tok_desc(p, t, buf, sizeof buf));
        if (fd->type == V_TYPE) {
            int64_t k;
            if ((err = type_value(p, t, &k)))
                return err;
            n->num |= (int64_t)1 << k;
        } else if (is_textual(fd, n->op)) {
            if (!(strs = kli_grow(p->f->mem, strs, n->n_set, sizeof *strs)))
                return nomem(p);
            strs[n->n_set++] = (kl_bytes){(const uint8_t *)t->text, t->len};
        } else {
            if (!(ranges = kli_grow(p->f->mem, ranges, n->n_set, sizeof *ranges)))
                return nomem(p);
            if ((err = number_value(p, fd, t, &ranges[n->n_set], true)))
                return err;
            n->n_set++;
        }
        err = advance(p);
    }
    if (err)
        return err;
    if (n->n_set == 0 && n->num == 0)
        return fail(p, open, "empty set");
    n->ranges = ranges;
    n->strs = strs;
    return advance(p);
}

static int parse_test(parser *p, node **out)
{
    token ft = p->tok;
    char buf[64];
    if (ft.kind != K_WORD || is_keyword(&ft))
        return fail(p, ft.pos, "expected a field, found %s", tok_desc(p, &ft, buf, sizeof buf));
    node *n = new_node(p, N_TEST);
    if (!n)
        return nomem(p);
    if (!lookup_field(&ft, &n->field, &n->label))
        return fail(p, ft.pos, "unknown field \"%.*s\"", (int)ft.len, ft.text);
    *out = n;
    int err = advance(p);
    if (err)
        return err;
    const token opt = p->tok;
    switch (opt.kind) {
    case K_EQ: n->op = OP_EQ; break;
    case K_NE: n->op = OP_NE; break;
    case K_LT: n->op = OP_LT; break;
    case K_LE: n->op = OP_LE; break;
    case K_GT: n->op = OP_GT; break;
    case K_GE: n->op = OP_GE; break;
    case K_TILDE: n->op = OP_MATCHES; break;
    case K_WORD:
        if (is_kw(&opt, "contains"))
            n->op = OP_CONTAINS;
        else if (is_kw(&opt, "matches"))
            n->op = OP_MATCHES;
        else if (is_kw(&opt, "glob"))
            n->op = OP_GLOB;
        else if (is_kw(&opt, "in"))
            n->op = OP_IN;
        break;
    case K_END:
    case K_LPAREN:
    case K_RPAREN:
    case K_LBRACE:
    case K_RBRACE:
    case K_COMMA:
    case K_ANDAND:
    case K_OROR:
    case K_BANG:
    case K_STRING: break;
    }
    if (n->op == OP_EXISTS) {
        if (n->field->type != V_PROTO) {
            p->bare = true;
            p->bare_field = ft;
        }
        return KL_OK;
    }
    if (!op_fits(n->field->type, n->op))
        return op_error(p, n->field, &opt);
    p->regex = n->op == OP_MATCHES;
    err = advance(p);
    p->regex = false;
    if (err)
        return err;
    if (n->op == OP_IN)
        return parse_set(p, n, &opt);
    if (!is_value(&p->tok))
        return fail(p, p->tok.pos, "expected a value after \"%.*s\"", (int)(opt.end - opt.pos),
                    p->src + opt.pos);
    if ((err = operand(p, n, &p->tok)))
        return err;
    return advance(p);
}

static int parse_or(parser *p, node **out);

static int parse_not(parser *p, node **out)
{
    p->bare = false;
    if (++p->depth > MAX_DEPTH)
        return fail(p, p->tok.pos, "filter nested too deeply (more than %d levels)", MAX_DEPTH);
    int err;
    if (p->tok.kind == K_BANG || is_kw(&p->tok, "not")) {
        node *n = new_node(p, N_NOT);
        node **kid = n ? kli_alloc(p->f->mem, sizeof *kid) : NULL;
        if (!kid)
            return nomem(p);
        n->kids = kid;
        n->n_kids = 1;
        *out = n;
        if ((err = advance(p)) || (err = parse_not(p, kid)))
            return err;
    } else if (p->tok.kind == K_LPAREN) {
        size_t open = p->tok.pos;
        if ((err = advance(p)) || (err = parse_or(p, out)))
            return err;
        if (p->tok.kind != K_RPAREN) {
            char buf[64];
            if (p->tok.kind == K_END)
                return fail(p, p->tok.pos, "missing \")\" to close \"(\" at column %zu", open + 1);
            if (p->bare)
                return fail(p, p->tok.pos, "expected an operator after \"%.*s\", found %s",
                            (int)p->bare_field.len, p->bare_field.text,
                            tok_desc(p, &p->tok, buf, sizeof buf));
            return fail(p, p->tok.pos, "expected \")\", \"and\" or \"or\", found %s",
                        tok_desc(p, &p->tok, buf, sizeof buf));
        }
        p->bare = false;
        if ((err = advance(p)))
            return err;
    } else if ((err = parse_test(p, out))) {
        return err;
    }
    p->depth--;
    return KL_OK;
}

/* A run of operands joined by one connective, as one n-ary node, so long chains of "or"
 * cost no recursion when matching. */
static int parse_chain(parser *p, node **out, nkind k)
{
    int err = k == N_OR ? parse_chain(p, out, N_AND) : parse_not(p, out);
    if (err)
        return err;
    tkind sym = k == N_OR ? K_OROR : K_ANDAND;
    const char *word = k == N_OR ? "or" : "and";
    if (p->tok.kind != sym && !is_kw(&p->tok, word))
        return KL_OK;
    node *n = new_node(p, k);
    if (!n || !(n->kids = kli_grow(p->f->mem, NULL, 0, sizeof *n->kids)))
        return nomem(p);
    n->kids[n->n_kids++] = *out;
    *out = n;
    while (p->tok.kind == sym || is_kw(&p->tok, word)) {
        node *kid;
        if ((err = advance(p)))
            return err;
        if ((err = k == N_OR ? parse_chain(p, &kid, N_AND) : parse_not(p, &kid)))
            return err;
        node **kids = kli_grow(p->f->mem, n->kids, n->n_kids, sizeof *kids);
        if (!kids)
            return nomem(p);
        n->kids = kids;
        kids[n->n_kids++] = kid;
    }
    return KL_OK;
}

static int parse_or(parser *p, node **out)
{
    return parse_chain(p, out, N_OR);
}

static int compile(parser *p)
{
    int err = advance(p);
    if (err)
        return err;
    if (p->tok.kind == K_END) /* an empty filter keeps everything, as tshark's -Y "" */
        return (p->f->root = new_node(p, N_TRUE)) ? KL_OK : nomem(p);
    if ((err = parse_or(p, &p->f->root)))
        return err;
    if (p->tok.kind == K_END)
        return KL_OK;
    char buf[64];
    if (p->tok.kind == K_RPAREN)
        return fail(p, p->tok.pos, "unexpected \")\" without a matching \"(\"");
    if (p->bare)
        return fail(p, p->tok.pos, "expected an operator after \"%.*s\", found %s",
                    (int)p->bare_field.len, p->bare_field.text,
                    tok_desc(p, &p->tok, buf, sizeof buf));
    return fail(p, p->tok.pos, "expected \"and\", \"or\" or the end, found %s",
                tok_desc(p, &p->tok, buf, sizeof buf));
}

int kl_filter_compile(kl_filter **out, const char *expr, char *errbuf)
{
    *out = NULL;
    if (errbuf)
        errbuf[0] = '\0';
    if (!expr) {
        kli_seterr(errbuf, "no filter expression");
        return KL_ERR_INVALID;
    }
    kl_filter *f = calloc(1, sizeof *f);
    if (!f || !(f->mem = kli_mem_new())) {
        free(f);
        kli_seterr(errbuf, "out of memory");
        return KL_ERR_NOMEM;
    }
    parser p = {.src = expr, .len = strlen(expr), .f = f, .errbuf = errbuf};
    int err = compile(&p);
    if (err) {
        kl_filter_free(f);
        return err;
    }
    *out = f;
    return KL_OK;
}
