/* import.c - the original koala's JSON read into kl_session: its recorded sessions (one file per
 * session, as its recorder wrote them with KOALA_RECORD_TO_DIR; the inverse of json.c's export)
 * and the sessions its replay protocol sends (POST /json, bytes in base64). */
#include "kl_json.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Longest key of a key/value object quoted in a message's path. */
#define PATH_KEY_MAX 40

typedef struct fdef fdef;

/* A failure's place is kept as the parser keeps a syntax error's: the way to it is noted while
 * the walk unwinds (kli_jparser.trail), so a session that reads cleanly builds no path. */
typedef struct imp {
    kli_jparser ps;        /* the parse; on failure why, at and the trail of either fault */
    kl_session *s;
    kli_mem *tree;         /* the parse tree, freed at the end */
    uint8_t *scratch;      /* decoded bytes on their way into the session */
    size_t scratch_cap;
    const kli_jmember *actions;      /* read last: its ReturnInbound needs the session's */
    const fdef *calls;               /* the actions' fields (F_ACTIONS' sub) */
    const kli_jval *response;        /* $.ReturnInbound.Response as written */
    char what[KL_ERRBUF_SIZE];       /* a fault of the walk's own, ps.why points here */
} imp;

/* Note a fault of the walk at at. @return KL_ERR_CORRUPT. */
__attribute__((format(printf, 3, 4)))
static int fail(imp *im, const uint8_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(im->what, sizeof im->what, fmt, ap);
    va_end(ap);
    return kli_json_fail(&im->ps, at, KL_ERR_CORRUPT, im->what);
}

/* When rc is a fault inside member m's value, note m on the fault's way. @return rc. */
static int member_out(imp *im, int rc, const kli_jmember *m)
{
    return kli_json_trail(&im->ps, rc, m->kraw, m->kraw_len, 0);
}

static const char *type_name(kli_jtype t)
{
    switch (t) {
    case KLI_J_NULL: return "null";
    case KLI_J_BOOL: return "a boolean";
    case KLI_J_NUM: return "a number";
    case KLI_J_STR: return "a string";
    case KLI_J_ARR: return "an array";
    case KLI_J_OBJ: return "an object";
    }
    return "a value";
}

static int want(imp *im, const kli_jval *v, kli_jtype t)
{
    if (v->type == t)
        return KL_OK;
    return fail(im, v->raw, "expected %s, found %s", type_name(t), type_name(v->type));
}

/* ---- scalars ---- */

static int get_int(imp *im, const kli_jval *v, int64_t *out)
{
    if (v->type == KLI_J_NULL) {
        *out = 0;
        return KL_OK;
    }
    if (v->type != KLI_J_NUM)
        return fail(im, v->raw, "expected an integer, found %s", type_name(v->type));
    const uint8_t *p = v->raw, *e = p + v->len;
    bool neg = *p == '-';
    uint64_t u = 0, max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (p += neg; p < e; p++) {
        if (*p < '0' || *p > '9')
            return fail(im, v->raw, "expected an integer, found %.*s", (int)v->len, v->raw);
        unsigned d = (unsigned)(*p - '0');
        if (u > (max - d) / 10)
            return fail(im, v->raw, "%.*s is out of the 64-bit range", (int)v->len, v->raw);
        u = u * 10 + d;
    }
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return KL_OK;
}

static int get_bool(imp *im, const kli_jval *v, bool *out)
{
    if (v->type == KLI_J_NULL) {
        *out = false;
        return KL_OK;
    }
    int rc = want(im, v, KLI_J_BOOL);
    *out = rc == KL_OK && v->raw[0] == 't';
    return rc;
}

/* A text field (Go's string escaping): decoded, NUL-terminated, into mem. No member and null
 * leave *out NULL; "" stays "". */
static int get_text_into(imp *im, kli_mem *mem, const kli_jval *v, const char **out)
{
    *out = NULL;
    if (v->type == KLI_J_NULL)
        return KL_OK;
    int rc = want(im, v, KLI_J_STR);
    if (rc != KL_OK)
        return rc;
    const uint8_t *s = v->raw + 1;
    size_t n = v->len - 2;
    if (v->escaped && !(s = kli_json_unescape(im->tree, s, n, &n)))
        return KL_ERR_NOMEM;
    if (memchr(s, '\0', n))
        return fail(im, v->raw, "a text field cannot hold the character U+0000");
    return (*out = kli_strndup(mem, s, n)) ? KL_OK : KL_ERR_NOMEM;
}

static int get_text(imp *im, const kli_jval *v, const char **out)
{
    return get_text_into(im, im->s->mem, v, out);
}

/* A short text into a fixed array of an address. */
static int get_fixed(imp *im, const kli_jval *v, char *dst, size_t cap)
{
    const char *t;
    int rc = get_text_into(im, im->tree, v, &t);
    if (rc != KL_OK)
        return rc;
    size_t n = t ? strlen(t) : 0;
    if (n >= cap)
        return fail(im, v->raw, "%zu bytes, more than the %zu an address holds", n, cap - 1);
    memcpy(dst, t ? t : "", n + 1);
    return KL_OK;
}

/* ---- byte fields: JSON escapes, then the original's \xHH ---- */

/* After a backslash in the decoded text at raw position at: "xHH" must follow. */
static const uint8_t *x_escape(imp *im, const uint8_t *at, const uint8_t *p, const uint8_t *e,
                               uint8_t *byte, int *rc)
{
    uint32_t c[3];
    int hi = -1, lo = -1;
    size_t n = 0;
    while (n < 3 && p < e) {
        p = kli_json_next_char(p, e, &c[n++]);
        if (n == 1   ? c[0] != 'x'
            : n == 2 ? (hi = kli_hex_digit(c[1])) < 0
                     : (lo = kli_hex_digit(c[2])) < 0)
            break;
    }
    if (n == 3 && lo >= 0) {
        *byte = (uint8_t)(hi << 4 | lo);
        return p;
    }
    char shown[40] = "\\";
    for (size_t i = 0, o = 1; i < n; i++)
        o += (size_t)snprintf(shown + o, sizeof shown - o, c[i] > 0x20 && c[i] < 0x7f ? "%c" : "\\u%04x",
                              (int)c[i]);
    bool cut = n < 3 && p == e && (n == 0 || c[n - 1] == 'x' || kli_hex_digit(c[n - 1]) >= 0);
    *rc = fail(im, at, "bad escape %s%s", shown, cut ? " (the string ends)" : "");
    return NULL;
}

/* Decode s[0..n), the inside of a byte field's string, into im->scratch. */
static int decode_bytes(imp *im, const uint8_t *s, size_t n, size_t *out_len)
{
    if (n > im->scratch_cap) {
        /* Decoding never lengthens: n bytes always suffice. */
        uint8_t *b = kli_alloc(im->tree, n);
        if (!b)
            return KL_ERR_NOMEM;
        im->scratch = b;
        im->scratch_cap = n;
    }
    const uint8_t *p = s, *e = s + n;
    uint8_t *o = im->scratch;
    while (p < e) {
        const uint8_t *q = memchr(p, '\\', (size_t)(e - p));
        if (!q)
            q = e;
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        if (q == e)
            break;
        uint32_t c;
        p = kli_json_next_char(q, e, &c);
        if (c != '\\') {
            o += kli_json_put_utf8(o, c);
            continue;
        }
        int rc = KL_OK;
        if (!(p = x_escape(im, q, p, e, o, &rc)))
            return rc;
        o++;
    }
    *out_len = (size_t)(o - im->scratch);
    return KL_OK;
}

static int b64_value(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A'
         : c >= 'a' && c <= 'z' ? c - 'a' + 26
         : c >= '0' && c <= '9' ? c - '0' + 52
         : c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 t[0..n) with its padding, as Go writes []byte, into the session; at is the
 * string's place. */
static int base64(imp *im, const uint8_t *at, const uint8_t *t, size_t n, kl_bytes *out)
{
    if (n % 4)
        return fail(im, at, "not base64: its length is not a multiple of 4");
    if (!n)
        return KL_OK;
    uint8_t *d = kli_alloc(im->s->mem, n / 4 * 3), *o = d;
    if (!d)
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            bool pad = t[i + k] == '=' && i + 4 == n && k >= 2 && (k == 3 || t[i + 3] == '=');
            v[k] = pad ? -2 : b64_value(t[i + k]);
            if (v[k] == -1)
                return fail(im, at, "not base64: byte %zu is '%c'", i + (size_t)k, t[i + k]);
        }
        *o++ = (uint8_t)(v[0] << 2 | v[1] >> 4);
        if (v[2] != -2)
            *o++ = (uint8_t)(v[1] << 4 | v[2] >> 2);
        if (v[3] != -2)
            *o++ = (uint8_t)(v[2] << 6 | v[3]);
    }
    *out = (kl_bytes){d, (size_t)(o - d)};
    return KL_OK;
}

/* How a byte field is written inside its JSON string. */
typedef enum codec {
    C_KOALA,    /* the original recorder's: \xHH in the text stands for byte HH */
    C_TEXT,     /* the text itself (a Go string) */
    C_BASE64,   /* base64 (a Go []byte under encoding/json: the replay protocol) */
} codec;

/* The bytes of a string (raw[0..raw_len) as written, quotes included) in codec c, copied
 * into the session. */
static int string_bytes(imp *im, const uint8_t *raw, size_t raw_len, bool escaped, codec c,
                        kl_bytes *out)
{
    *out = (kl_bytes){0};
    const uint8_t *s = raw + 1;
    size_t n = raw_len - 2;
    if (escaped && c == C_KOALA) {
        int rc = decode_bytes(im, s, n, &n);
        if (rc != KL_OK)
            return rc;
        s = im->scratch;
    } else if (escaped && !(s = kli_json_unescape(im->tree, s, n, &n))) {
        return KL_ERR_NOMEM;
    }
    if (c == C_BASE64)
        return base64(im, raw, s, n, out);
    return kli_copy_bytes(im->s->mem, out, (kl_bytes){s, n}) == KL_OK ? KL_OK : KL_ERR_NOMEM;
}

static int get_bytes(imp *im, const kli_jval *v, codec c, kl_bytes *out)
{
    *out = (kl_bytes){0};
    if (v->type == KLI_J_NULL)
        return KL_OK;
    int rc = want(im, v, KLI_J_STR);
    if (rc != KL_OK)
        return rc;
    return string_bytes(im, v->raw, v->len, v->escaped, c, out);
}

/* {key: value, ...}, keys in codec kc, values in vc (TraceHeader, Labels, RedirectDirs,
 * MockFiles). */
static int get_kvs(imp *im, const kli_jval *v, codec kc, codec vc, const kl_kv **list, size_t *n)
{
    if (v->type == KLI_J_NULL)
        return KL_OK;
    int rc = want(im, v, KLI_J_OBJ);
    if (rc != KL_OK || !v->n)
        return rc;
    kl_kv *kvs = kli_alloc(im->s->mem, kli_cap(v->n) * sizeof *kvs);
    if (!kvs)
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < v->n; i++) {
        const kli_jmember *m = &v->u.members[i];
        rc = string_bytes(im, m->kraw, m->kraw_len, m->key != m->kraw + 1, kc, &kvs[i].key);
        if (rc == KL_OK)
            rc = get_bytes(im, &m->v, vc, &kvs[i].value);
        if (rc != KL_OK)
            return member_out(im, rc, m);
    }
    *list = kvs;
    *n = v->n;
    return KL_OK;
}

/* Embedded JSON (CallFunction Args, ReturnFunction ReturnValue) kept as compact text: the
 * export lays it out again, so the file's white space needs no keeping. null is absent. */
static int get_json(imp *im, const kli_jval *v, const char **out)
{
    if (v->type == KLI_J_NULL)
        return KL_OK;
    char *t = kli_alloc(im->s->mem, v->len + 1), *o = t;
    if (!t)
        return KL_ERR_NOMEM;
    bool in_str = false;
    for (size_t i = 0; i < v->len; i++) {
        uint8_t c = v->raw[i];
        if (in_str) {
            *o++ = (char)c;
            if (c == '\\')
                *o++ = (char)v->raw[++i];
            else if (c == '"')
                in_str = false;
        } else if (!kli_json_ws(c)) {
            *o++ = (char)c;
            in_str = c == '"';
        }
    }
    *o = '\0';
    *out = t;
    return KL_OK;
}

static int get_ip(imp *im, const kli_jval *v, kl_addr *a)
{
    char ip[64];
    int rc = get_fixed(im, v, ip, sizeof ip);
    if (rc != KL_OK)
        return rc;
    if (!ip[0])
        a->family = 0;
    else if (inet_pton(AF_INET, ip, a->ip) == 1)
        a->family = AF_INET;
    else if (inet_pton(AF_INET6, ip, a->ip) == 1)
        a->family = AF_INET6;
    else
        return fail(im, v->raw, "\"%s\" is not an IP address", ip);
    return KL_OK;
}

static int get_port(imp *im, const kli_jval *v, uint16_t *out)
{
    int64_t port;
    int rc = get_int(im, v, &port);
    if (rc != KL_OK)
        return rc;
    if (port < 0 || port > 65535)
        return fail(im, v->raw, "port %lld is out of range", (long long)port);
    *out = (uint16_t)port;
    return KL_OK;
}

/* ---- objects: members by name, in any order, each at most once ---- */

typedef enum fkind {
    F_SKIP,     /* read before the others (ActionType) */
    F_TEXT,     /* const char * */
    F_INT,      /* int64_t */
    F_BOOL,
    F_BYTES,    /* kl_bytes, C_KOALA */
    F_BASE64,   /* kl_bytes, C_BASE64 */
    F_KVS,      /* const kl_kv *, its count at off2: C_KOALA keys and values */
    F_DIRS,     /* the same, C_TEXT keys and values (the replay protocol's RedirectDirs) */
    F_FILES,    /* the same, C_TEXT keys, C_BASE64 values (its MockFiles) */
    F_JSON,     /* const char *, embedded JSON */
    F_OBJ,      /* an object whose members sub names (an address's parts) */
    F_IPTEXT,   /* a kl_addr's family and ip */
    F_PORT,     /* uint16_t */
    F_FIXED,    /* char[off2] */
    F_PART,     /* CallFromInbound or ReturnInbound: an action named as its member, the
                   members sub names, the present flag at off2 */
    F_ACTIONS,  /* the session's actions, read after the rest of the session: each is the
                   CallOutbound sub names, or when sub is NULL, what its ActionType says */
    F_RESPONSE, /* kl_bytes: ReturnInbound's Response, kept as written for F_MARKER */
    F_MARKER,   /* the ReturnInbound action's Response */
} fkind;

struct fdef {
    const char *name;
    fkind kind;
    size_t off, off2;
    const fdef *sub;
};

#define F(T, name, kind, field) {name, kind, offsetof(T, field), 0, NULL}
#define FIXED(name, field, cap) {name, F_FIXED, offsetof(kl_addr, field), cap, NULL}
#define IP(T, name, field) {name, F_OBJ, offsetof(T, field), 0, ip_fields}
#define UNIX(T, name, field) {name, F_OBJ, offsetof(T, field), 0, unix_fields}
#define END {NULL, F_SKIP, 0, 0, NULL}

/* Go's net.TCPAddr and net.UDPAddr; net.UnixAddr. */
static const fdef ip_fields[] = {
    {"IP", F_IPTEXT, 0, 0, NULL}, F(kl_addr, "Port", F_PORT, port),
    FIXED("Zone", zone, KL_ZONE_MAX), END,
};
static const fdef unix_fields[] = {
    FIXED("Name", unix_path, KL_UNIX_PATH_MAX), FIXED("Net", unix_net, KL_UNIX_NET_MAX), END,
};

static int get_object(imp *im, const kli_jval *v, const fdef *fields, char *base);
static int get_part(imp *im, const kli_jval *v, const fdef *f, char *base);
static int check_marker(imp *im, const kli_jval *v);

static int get_member(imp *im, const fdef *f, const kli_jmember *m, char *base)
{
    const kli_jval *v = &m->v;
    void *p = base + f->off;
    switch (f->kind) {
    case F_SKIP: return KL_OK;
    case F_TEXT: return get_text(im, v, p);
    case F_INT: return get_int(im, v, p);
    case F_BOOL: return get_bool(im, v, p);
    case F_BYTES: return get_bytes(im, v, C_KOALA, p);
    case F_BASE64: return get_bytes(im, v, C_BASE64, p);
    case F_KVS: return get_kvs(im, v, C_KOALA, C_KOALA, p, (size_t *)(base + f->off2));
    case F_DIRS: return get_kvs(im, v, C_TEXT, C_TEXT, p, (size_t *)(base + f->off2));
    case F_FILES: return get_kvs(im, v, C_TEXT, C_BASE64, p, (size_t *)(base + f->off2));
    case F_JSON: return get_json(im, v, p);
    case F_OBJ: return v->type == KLI_J_NULL ? KL_OK : get_object(im, v, f->sub, p);
    case F_IPTEXT: return get_ip(im, v, p);
    case F_PORT: return get_port(im, v, p);
    case F_FIXED: return get_fixed(im, v, p, f->off2);
    case F_PART: return get_part(im, v, f, base);
    case F_ACTIONS:
        im->actions = m;
        im->calls = f->sub;
        return KL_OK;
    case F_RESPONSE:
        im->response = v;
        return get_bytes(im, v, C_KOALA, p);
    case F_MARKER: return check_marker(im, v);
    }
    return KL_OK;
}

/* Read the members of object v named in fields (at most 32) into base; members of other names
 * are skipped, as Go's decoder skips them. */
static int get_object(imp *im, const kli_jval *v, const fdef *fields, char *base)
{
    int rc = want(im, v, KLI_J_OBJ);
    if (rc != KL_OK)
        return rc;
    uint32_t seen = 0;
    for (size_t i = 0; i < v->n; i++) {
        const kli_jmember *m = &v->u.members[i];
        const fdef *f = fields;
        while (f->name && (strlen(f->name) != m->klen || memcmp(f->name, m->key, m->klen)))
            f++;
        if (!f->name)
            continue;
        uint32_t bit = 1u << (f - fields);
        if (seen & bit)
            return member_out(im, fail(im, m->kraw, "a second member of this name"), m);
        seen |= bit;
        if ((rc = get_member(im, f, m, base)) != KL_OK)
            return member_out(im, rc, m);
    }
    return KL_OK;
}

/* ---- the session ---- */

/* The head every action has; ActionType is read first, to know the rest. */
#define HEAD(T)                                                                                    \
    F(T, "ActionIndex", F_INT, index), F(T, "OccurredAt", F_INT, occurred_at),                     \
    {"ActionType", F_SKIP, 0, 0, NULL}
#define A(name, kind, field) F(kl_action, name, kind, field)

static const fdef call_outbound_fields[] = {
    HEAD(kl_action), A("SocketFD", F_INT, socket_fd), IP(kl_action, "Peer", peer),
    A("ResponseTime", F_INT, response_time), UNIX(kl_action, "UnixAddr", peer),
    A("Request", F_BYTES, request), A("Response", F_BYTES, response),
    A("CSpanId", F_BYTES, cspan_id), IP(kl_action, "Local", local), END,
};
static const fdef append_file_fields[] = {
    HEAD(kl_action), A("FileName", F_TEXT, file_name), A("Content", F_BYTES, content), END,
};
static const fdef send_udp_fields[] = {
    HEAD(kl_action), IP(kl_action, "Peer", peer), A("Content", F_BYTES, content), END,
};
static const fdef read_storage_fields[] = {HEAD(kl_action), A("Content", F_BYTES, content), END};
static const fdef call_function_fields[] = {
    HEAD(kl_action), A("CallIntoFile", F_TEXT, call_into_file),
    A("CallIntoLine", F_INT, call_into_line), A("CallFromFile", F_TEXT, call_from_file),
    A("CallFromLine", F_INT, call_from_line), A("FuncName", F_TEXT, func_name),
    A("Args", F_JSON, args_json), END,
};
static const fdef return_function_fields[] = {
    HEAD(kl_action), A("CallFunctionId", F_TEXT, call_function_id),
    A("ReturnValue", F_JSON, return_value_json), END,
};
static const fdef marker_fields[] = {HEAD(kl_action), {"Response", F_MARKER, 0, 0, NULL}, END};
static const fdef none_fields[] = {HEAD(kl_action), END};

static const fdef *action_fields(kl_action_type t)
{
    switch (t) {
    case KL_ACTION_CALL_OUTBOUND: return call_outbound_fields;
    case KL_ACTION_APPEND_FILE: return append_file_fields;
    case KL_ACTION_SEND_UDP: return send_udp_fields;
    case KL_ACTION_READ_STORAGE: return read_storage_fields;
    case KL_ACTION_CALL_FUNCTION: return call_function_fields;
    case KL_ACTION_RETURN_FUNCTION: return return_function_fields;
    case KL_ACTION_RETURN_INBOUND: return marker_fields;
    case KL_ACTION_NONE: return none_fields;
    }
    return none_fields;
}

/* An ActionType's value v: expect, when given, else a type's name set in *out. */
static int type_named(imp *im, const kli_jval *v, const char *expect, kl_action_type *out)
{
    const char *name;
    int rc = get_text_into(im, im->tree, v, &name);
    if (rc != KL_OK)
        return rc;
    if (!name)
        return fail(im, v->raw, "expected a string, found null");
    if (expect)
        return strcmp(name, expect) ? fail(im, v->raw, "\"%s\" where \"%s\" belongs", name, expect)
                                    : KL_OK;
    int t = 0;
    while (t < KL_ACTION_TYPE_COUNT && strcmp(name, kl_action_type_name((kl_action_type)t)))
        t++;
    if (t == KL_ACTION_TYPE_COUNT)
        return fail(im, v->raw, "unknown action type \"%s\"", name);
    *out = (kl_action_type)t;
    return KL_OK;
}

/* The ActionType of action object v: when expect is given, the member may be left out and
 * must otherwise be expect; else it must name a type, set in *out. */
static int get_action_type(imp *im, const kli_jval *v, const char *expect, kl_action_type *out)
{
    const kli_jmember *found = NULL;
    for (size_t i = 0; i < v->n; i++) {
        const kli_jmember *m = &v->u.members[i];
        if (m->klen != 10 || memcmp(m->key, "ActionType", 10))
            continue;
        if (found)
            return fail(im, m->kraw, "a second member of this name");
        found = m;
    }
    if (!found)
        return expect ? KL_OK : fail(im, v->raw, "an action without ActionType");
    return member_out(im, type_named(im, &found->v, expect, out), found);
}

static int get_part(imp *im, const kli_jval *v, const fdef *f, char *base)
{
    if (v->type == KLI_J_NULL)
        return KL_OK;
    int rc = want(im, v, KLI_J_OBJ);
    if (rc == KL_OK && (rc = get_action_type(im, v, f->name, NULL)) == KL_OK)
        rc = get_object(im, v, f->sub, base + f->off);
    *(bool *)(base + f->off2) = true;
    return rc;
}

/* The original appended its ReturnInbound object itself to the actions, so the file holds its
 * Response twice; the session holds it once, in return_inbound. The two are written alike:
 * only text that differs is decoded again. */
static int check_marker(imp *im, const kli_jval *v)
{
    const kli_jval *r = im->response;
    if (v->type == KLI_J_NULL || (r && r->len == v->len && memcmp(r->raw, v->raw, v->len) == 0))
        return KL_OK;
    int rc = want(im, v, KLI_J_STR);
    const uint8_t *s = v->raw + 1;
    size_t n = v->len - 2;
    if (rc == KL_OK && v->escaped && (rc = decode_bytes(im, s, n, &n)) == KL_OK)
        s = im->scratch;
    if (rc != KL_OK)
        return rc;
    if (!kli_bytes_equal((kl_bytes){s, n}, im->s->return_inbound.response))
        return fail(im, v->raw, "differs from $.ReturnInbound.Response, which the original "
                    "wrote here too");
    return KL_OK;
}

/* The actions array v: each a CallOutbound read with calls, or when calls is NULL, of the
 * type its ActionType names. */
static int get_actions(imp *im, const kli_jval *v, const fdef *calls)
{
    kl_session *s = im->s;
    if (v->type == KLI_J_NULL)
        return KL_OK;
    int rc = want(im, v, KLI_J_ARR);
    if (rc != KL_OK || !v->n)
        return rc;
    kl_action *acts = kli_zalloc(s->mem, kli_cap(v->n) * sizeof *acts);
    if (!acts)
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < v->n; i++) {
        const kli_jval *x = &v->u.items[i];
        kl_action *a = &acts[i];
        a->type = KL_ACTION_CALL_OUTBOUND;
        if ((rc = want(im, x, KLI_J_OBJ)) != KL_OK ||
            (rc = get_action_type(im, x, calls ? "CallOutbound" : NULL, &a->type)) != KL_OK ||
            (rc = get_object(im, x, calls ? calls : action_fields(a->type), (char *)a)) != KL_OK)
            return kli_json_trail(&im->ps, rc, NULL, 0, i);
    }
    s->actions = acts;
    s->n_actions = v->n;
    return KL_OK;
}

#define S(name, kind, field) F(kl_session, name, kind, field)
#define KVS(name, kind, field)                                                                     \
    {name, kind, offsetof(kl_session, field), offsetof(kl_session, n_##field), NULL}
#define PART(name, field, sub)                                                                     \
    {name, F_PART, offsetof(kl_session, field), offsetof(kl_session, field.present), sub}

/* A session file of the original recorder (recording.Session). */
static const fdef inbound_fields[] = {
    HEAD(kl_call_from_inbound), IP(kl_call_from_inbound, "Peer", peer),
    UNIX(kl_call_from_inbound, "UnixAddr", peer),
    F(kl_call_from_inbound, "Request", F_BYTES, request), END,
};
static const fdef return_fields[] = {
    HEAD(kl_return_inbound), F(kl_return_inbound, "Response", F_RESPONSE, response), END,
};
static const fdef session_fields[] = {
    S("Context", F_TEXT, context), S("ThreadId", F_INT, thread_id), S("SessionId", F_TEXT, id),
    KVS("TraceHeader", F_KVS, trace_header), S("NextSessionId", F_TEXT, next_session_id),
    PART("CallFromInbound", call_from_inbound, inbound_fields),
    PART("ReturnInbound", return_inbound, return_fields), {"Actions", F_ACTIONS, 0, 0, NULL},
    S("TraceId", F_BYTES, trace_id), S("SpanId", F_BYTES, span_id),
    /* koala's own (KL_JSON_EXTRA) */
    S("Host", F_TEXT, host), S("Pid", F_INT, pid), S("Program", F_TEXT, program),
    KVS("Labels", F_KVS, labels), S("Truncated", F_BOOL, truncated),
    KVS("RedirectDirs", F_KVS, redirect_dirs), KVS("MockFiles", F_KVS, mock_files), END,
};

/* A session sent to the original replayer's /json (replaying.ReplayingSession). */
static const fdef rp_inbound_fields[] = {
    HEAD(kl_call_from_inbound), IP(kl_call_from_inbound, "Peer", peer),
    F(kl_call_from_inbound, "Request", F_BASE64, request), END,
};
static const fdef rp_return_fields[] = {
    HEAD(kl_return_inbound), F(kl_return_inbound, "Response", F_BASE64, response), END,
};
static const fdef rp_call_fields[] = {
    HEAD(kl_action), A("SocketFD", F_INT, socket_fd), IP(kl_action, "Peer", peer),
    A("ResponseTime", F_INT, response_time), A("Request", F_BASE64, request),
    A("Response", F_BASE64, response), A("CSpanId", F_BASE64, cspan_id),
    IP(kl_action, "Local", local), END,
};
static const fdef replaying_fields[] = {
    S("SessionId", F_TEXT, id), PART("CallFromInbound", call_from_inbound, rp_inbound_fields),
    PART("ReturnInbound", return_inbound, rp_return_fields),
    {"CallOutbounds", F_ACTIONS, 0, 0, rp_call_fields}, KVS("RedirectDirs", F_DIRS, redirect_dirs),
    KVS("MockFiles", F_FILES, mock_files), END,
};

/* A JSON path being written, cut at its end. */
typedef struct path {
    char s[KL_ERRBUF_SIZE / 2];
    size_t n;
} path;

__attribute__((format(printf, 2, 3)))
static void put(path *p, const char *fmt, ...)
{
    size_t room = sizeof p->s - p->n;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(p->s + p->n, room, fmt, ap);
    va_end(ap);
    if (w > 0)
        p->n += (size_t)w < room ? (size_t)w : room - 1;
}

/* A member's step: .Name for a key of letters, digits and '_', else ["key"] as written. */
static void put_key(path *p, const uint8_t *kraw, size_t kraw_len)
{
    size_t n = kraw_len - 2;
    bool ident = n > 0 && n <= PATH_KEY_MAX && !(kraw[1] >= '0' && kraw[1] <= '9');
    for (size_t i = 1; ident && i <= n; i++)
        ident = (kraw[i] | 0x20) >= 'a' && (kraw[i] | 0x20) <= 'z' ? true
              : (kraw[i] >= '0' && kraw[i] <= '9') || kraw[i] == '_';
    if (ident)
        put(p, ".%.*s", (int)n, (const char *)kraw + 1);
    else if (kraw_len > PATH_KEY_MAX)
        put(p, "[%.*s...]", PATH_KEY_MAX, (const char *)kraw);
    else
        put(p, "[%.*s]", (int)kraw_len, (const char *)kraw);
}

/* "<path>: <why> at line L, column C" for the fault ps holds, its path from the trail
 * (innermost step first). */
static void say(const kli_jparser *ps, const uint8_t *doc, char *errbuf)
{
    path p = {"$", 1};
    size_t kept = ps->n_trail < KLI_JSON_TRAIL ? ps->n_trail : KLI_JSON_TRAIL;
    if (kept < ps->n_trail)
        put(&p, "...");
    for (size_t i = kept; i-- > 0;) {
        const kli_jstep *st = &ps->trail[i];
        if (st->key)
            put_key(&p, st->key, st->klen);
        else
            put(&p, "[%zu]", st->index);
    }
    size_t line, col;
    kli_json_where(doc, ps->at, &line, &col);
    kli_seterr(errbuf, "%s: %s at line %zu, column %zu", p.s, ps->why, line, col);
}

/* Whether a document of len bytes may be read; errbuf says why not. */
static int check_size(size_t len, char *errbuf)
{
    if (len <= KL_MAX_KOALA_JSON)
        return KL_OK;
    kli_seterr(errbuf, "%zu bytes of JSON exceed the limit of %u", len, KL_MAX_KOALA_JSON);
    return KL_ERR_TOOBIG;
}

/* The document im->ps holds, which must be one object: a session's, or an action's. */
static int parse_object(imp *im, kli_jval *root, bool session)
{
    kli_jparser *ps = &im->ps;
    const uint8_t *start = kli_json_skip_ws(ps->p, ps->end);
    int rc = start == ps->end || *start != '{'
                 ? kli_json_fail(ps, start, KL_ERR_CORRUPT,
                                 session ? "expected '{', a session's start"
                                         : "expected '{', an action's start")
                 : kli_json_parse_value(ps, root);
    if (rc == KL_OK && kli_json_skip_ws(ps->p, ps->end) != ps->end)
        rc = kli_json_fail(ps, kli_json_skip_ws(ps->p, ps->end), KL_ERR_CORRUPT,
                           session ? "unexpected text after the session"
                                   : "unexpected text after the action");
    return rc;
}

/* The session document data[0..len), its members named in fields. */
static int read_session(const uint8_t *data, size_t len, const fdef *fields, kl_session **out,
                        char *errbuf)
{
    if (!out)
        return KL_ERR_INVALID;
    *out = NULL;
    if (!data && len)
        return KL_ERR_INVALID;
    int rc = check_size(len, errbuf);
    if (rc != KL_OK)
        return rc;
    imp im = {.ps = {.p = data, .end = data + len}};
    kli_jparser *ps = &im.ps;
    /* Decoded bytes never outgrow their JSON: one chunk holds the whole session. */
    im.s = kli_session_new_sized(len + 1024);
    im.tree = ps->mem = kli_mem_new();
    rc = KL_ERR_NOMEM;
    if (!im.s || !im.tree)
        goto done;
    kli_jval root;
    rc = parse_object(&im, &root, true);
    if (rc == KL_OK)
        rc = get_object(&im, &root, fields, (char *)im.s);
    if (rc == KL_OK && im.actions)
        rc = member_out(&im, get_actions(&im, &im.actions->v, im.calls), im.actions);
    if (rc == KL_OK) {
        *out = im.s;
        im.s = NULL;
    } else if ((rc == KL_ERR_CORRUPT || rc == KL_ERR_TOOBIG) && errbuf) {
        say(ps, data, errbuf);
    }
done:
    kl_session_free(im.s);
    kli_mem_free(im.tree);
    return rc;
}

int kl_import_koala_json(const uint8_t *data, size_t len, kl_session **out, char *errbuf)
{
    return read_session(data, len, session_fields, out, errbuf);
}

int kl_replaying_from_json(const uint8_t *data, size_t len, kl_session **out, char *errbuf)
{
    return read_session(data, len, replaying_fields, out, errbuf);
}

int kl_import_action_json(const uint8_t *data, size_t len, kl_action_type type, kl_session *owner,
                          kl_action *out, char *errbuf)
{
    if (!owner || !out || (!data && len) || (unsigned)type >= KL_ACTION_TYPE_COUNT ||
        type == KL_ACTION_RETURN_INBOUND)
        return KL_ERR_INVALID;
    int rc = check_size(len, errbuf);
    if (rc != KL_OK)
        return rc;
    imp im = {.ps = {.p = data, .end = data + len}, .s = owner};
    im.tree = im.ps.mem = kli_mem_new();
    if (!im.tree)
        return KL_ERR_NOMEM;
    kli_jval root;
    out->type = type;
    if ((rc = parse_object(&im, &root, false)) == KL_OK &&
        (rc = get_action_type(&im, &root, kl_action_type_name(type), NULL)) == KL_OK)
        rc = get_object(&im, &root, action_fields(type), (char *)out);
    if ((rc == KL_ERR_CORRUPT || rc == KL_ERR_TOOBIG) && errbuf)
        say(&im.ps, data, errbuf);
    kli_mem_free(im.tree);
    return rc;
}

int kl_session_encode_record(const kl_session *s, kl_buf *out)
{
    if (!s || !out)
        return KL_ERR_INVALID;
    return kli_encode_session(s, out);
}
