/* jsondiff.c - koala-diff's noise rules (options, --rules files, masking) and the structural
 * comparison of two JSON or JSONP documents into differences named by path. */
#include "kl_json.h"
#include "kl_text.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What an ignore-regex match becomes before texts are compared. */
#define MASK "<masked>"
/* The display filters' limits: a pathological pattern costs milliseconds per text instead of a
 * hang, and the rest of that text is compared as it is. */
#define RE_MATCH_LIMIT 1000000u
#define RE_DEPTH_LIMIT 100000u
#define RE_HEAP_LIMIT_KIB (16u << 10)
/* An exponent is read up to this magnitude; past it every exponent counts as the same. */
#define EXP_CAP 1000000000000000LL
/* Objects with more members than this are matched through a sorted index, fewer by a scan. */
#define LINEAR_MAX 8

static bool bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_start(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

static const uint8_t *skip_bom(const uint8_t *p, const uint8_t *e)
{
    return e - p >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf ? p + 3 : p;
}

/* -------------------------------------------------------------- noise rules */

typedef enum seg_kind {
    SEG_KEY,
    SEG_INDEX,
    SEG_ANY, /* .* or [*]: any member or element */
} seg_kind;

/* One step of an ignored path. */
typedef struct seg {
    seg_kind kind;
    const uint8_t *key; /* SEG_KEY, decoded */
    size_t len;
    size_t index;       /* SEG_INDEX */
} seg;

typedef struct ipath {
    const seg *segs;
    size_t n;           /* 0 for "$", the whole document */
} ipath;

/* The parsed and compiled forms, parallel to the option's public lists. */
struct kli_diff_state {
    kli_mem *mem;
    ipath *paths;
    pcre2_code **res;
    pcre2_match_context *mctx;
};

void kl_diff_opts_init(kl_diff_opts *o)
{
    memset(o, 0, sizeof *o);
}

void kl_diff_opts_free(kl_diff_opts *o)
{
    if (!o)
        return;
    struct kli_diff_state *st = o->state;
    if (st) {
        for (size_t i = 0; i < o->n_ignore_regexes; i++)
            pcre2_code_free(st->res[i]);
        pcre2_match_context_free(st->mctx);
        kli_mem_free(st->mem);
        free(st);
    }
    memset(o, 0, sizeof *o);
}

static struct kli_diff_state *state_of(kl_diff_opts *o)
{
    if (o->state)
        return o->state;
    struct kli_diff_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    if (!(st->mem = kli_mem_new()) || kli_mem_reserve(st->mem, 4096) != KL_OK) {
        kli_mem_free(st->mem);
        free(st);
        return NULL;
    }
    return o->state = st;
}

static bool listed(const char *const *list, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
            return true;
    return false;
}

/* Append a copy of s to a public list of *n strings, and count it. */
static int push_str(kli_mem *m, const char *const **list, size_t *n, const char *s, size_t len)
{
    const char **l = kli_grow(m, *list, *n, sizeof *l);
    char *copy = kli_strndup(m, s, len);
    if (!l || !copy)
        return KL_ERR_NOMEM;
    l[(*n)++] = copy;
    *list = l;
    return KL_OK;
}

static int add_header(kl_diff_opts *o, const char *name, size_t len)
{
    if (!len)
        return KL_ERR_INVALID;
    if (kl_diff_header_ignored(o, name, len))
        return KL_OK;
    struct kli_diff_state *st = state_of(o);
    return st ? push_str(st->mem, &o->ignore_headers, &o->n_ignore_headers, name, len) : KL_ERR_NOMEM;
}

static int add_key(kl_diff_opts *o, const char *key, size_t len)
{
    if (!len)
        return KL_ERR_INVALID;
    if (listed(o->ignore_keys, o->n_ignore_keys, key, len))
        return KL_OK;
    struct kli_diff_state *st = state_of(o);
    return st ? push_str(st->mem, &o->ignore_keys, &o->n_ignore_keys, key, len) : KL_ERR_NOMEM;
}

/* Parse an ignored path ("$", then .key, .*, ["key"], ['key'], [N], [*]) into m. */
static int path_parse(kli_mem *m, const char *text, size_t len, ipath *out, char *errbuf)
{
    const uint8_t *p = (const uint8_t *)text, *e = p + len, *at = p;
    const char *why = NULL;
    seg *segs = NULL;
    size_t n = 0;
    if (p == e || *p != '$') {
        why = "expected '$' at the start";
        goto bad;
    }
    for (p++; p < e;) {
        seg s = {0};
        bool borrowed = false;
        at = p;
        if (*p == '.') {
            const uint8_t *k = ++p;
            while (p < e && *p != '.' && *p != '[')
                p++;
            if (p == k) {
                why = "expected a key after '.'";
                goto bad;
            }
            s.kind = p - k == 1 && *k == '*' ? SEG_ANY : SEG_KEY;
            s.key = k;
            s.len = (size_t)(p - k);
            borrowed = s.kind == SEG_KEY;
        } else if (*p == '[') {
            p++;
            if (p < e && *p == '*') {
                s.kind = SEG_ANY;
                p++;
            } else if (p < e && (*p == '"' || *p == '\'')) {
                bool esc;
                const uint8_t *q = kli_json_scan_string(p + 1, e, *p, &esc, &why, &at);
                if (!q)
                    goto bad;
                s.kind = SEG_KEY;
                s.len = (size_t)(q - p - 1);
                s.key = esc ? kli_json_unescape(m, p + 1, s.len, &s.len) : p + 1;
                if (!s.key)
                    return KL_ERR_NOMEM;
                borrowed = !esc;
                p = q + 1;
            } else if (p < e && is_digit(*p)) {
                s.kind = SEG_INDEX;
                for (; p < e && is_digit(*p); p++) {
                    if (s.index > (SIZE_MAX - 9) / 10) {
                        why = "index too large";
                        goto bad;
                    }
                    s.index = s.index * 10 + (size_t)(*p - '0');
                }
            } else {
                at = p;
                why = "expected a number, '*' or a quoted key after '['";
                goto bad;
            }
            if (p == e || *p != ']') {
                at = p;
                why = "expected ']'";
                goto bad;
            }
            p++;
        } else {
            why = "expected '.' or '['";
            goto bad;
        }
        if (borrowed && !(s.key = kli_memdup(m, s.key, s.len))) /* still the caller's text */
            return KL_ERR_NOMEM;
        seg *g = kli_grow(m, segs, n, sizeof *g);
        if (!g)
            return KL_ERR_NOMEM;
        segs = g;
        segs[n++] = s;
    }
    out->segs = segs;
    out->n = n;
    return KL_OK;
bad:
    kli_seterr(errbuf, "column %zu: %s", (size_t)(at - (const uint8_t *)text) + 1, why);
    return KL_ERR_SYNTAX;
}

static int add_path(kl_diff_opts *o, const char *path, size_t len, char *errbuf)
{
    if (listed(o->ignore_paths, o->n_ignore_paths, path, len))
        return KL_OK;
    struct kli_diff_state *st = state_of(o);
    if (!st)
        return KL_ERR_NOMEM;
    ipath ip;
    int rc = path_parse(st->mem, path, len, &ip, errbuf);
    if (rc != KL_OK)
        return rc;
    ipath *paths = kli_grow(st->mem, st->paths, o->n_ignore_paths, sizeof *paths);
    if (!paths)
        return KL_ERR_NOMEM;
    st->paths = paths;
    paths[o->n_ignore_paths] = ip;
    return push_str(st->mem, &o->ignore_paths, &o->n_ignore_paths, path, len);
}

static int add_regex(kl_diff_opts *o, const char *pattern, size_t len, char *errbuf)
{
    if (listed(o->ignore_regexes, o->n_ignore_regexes, pattern, len))
        return KL_OK;
    struct kli_diff_state *st = state_of(o);
    if (!st)
        return KL_ERR_NOMEM;
    int code;
    PCRE2_SIZE off;
    /* Bytes, not UTF-8: bodies may hold anything, and a match must never fail on them. */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_NEVER_UTF, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[120];
        if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
            strcpy((char *)msg, "bad pattern");
        kli_seterr(errbuf, "column %zu: %s", (size_t)off + 1, (const char *)msg);
        return code == PCRE2_ERROR_NOMEMORY ? KL_ERR_NOMEM : KL_ERR_SYNTAX;
    }
    /* Without JIT support pcre2_match() interprets the pattern; both obey the limits. */
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    if (!st->mctx) {
        if (!(st->mctx = pcre2_match_context_create(NULL))) {
            pcre2_code_free(re);
            return KL_ERR_NOMEM;
        }
        pcre2_set_match_limit(st->mctx, RE_MATCH_LIMIT);
        pcre2_set_depth_limit(st->mctx, RE_DEPTH_LIMIT);
        pcre2_set_heap_limit(st->mctx, RE_HEAP_LIMIT_KIB);
    }
    pcre2_code **res = kli_grow(st->mem, st->res, o->n_ignore_regexes, sizeof *res);
    int rc = KL_ERR_NOMEM;
    if (res) {
        st->res = res;
        res[o->n_ignore_regexes] = re;
        rc = push_str(st->mem, &o->ignore_regexes, &o->n_ignore_regexes, pattern, len);
    }
    if (rc != KL_OK)
        pcre2_code_free(re);
    return rc;
}

int kl_diff_opts_add_header(kl_diff_opts *o, const char *name)
{
    return o && name ? add_header(o, name, strlen(name)) : KL_ERR_INVALID;
}

int kl_diff_opts_add_path(kl_diff_opts *o, const char *path, char *errbuf)
{
    return o && path ? add_path(o, path, strlen(path), errbuf) : KL_ERR_INVALID;
}

int kl_diff_opts_add_key(kl_diff_opts *o, const char *key)
{
    return o && key ? add_key(o, key, strlen(key)) : KL_ERR_INVALID;
}

int kl_diff_opts_add_regex(kl_diff_opts *o, const char *pattern, char *errbuf)
{
    return o && pattern ? add_regex(o, pattern, strlen(pattern), errbuf) : KL_ERR_INVALID;
}

bool kl_diff_header_ignored(const kl_diff_opts *o, const char *name, size_t len)
{
    for (size_t i = 0; o && i < o->n_ignore_headers; i++)
        if (strlen(o->ignore_headers[i]) == len &&
            strncasecmp(o->ignore_headers[i], name, len) == 0)
            return true;
    return false;
}

/* One line of a rules file, without its newline. */
static int rule_line(kl_diff_opts *o, const char *p, size_t n, size_t line, char *errbuf)
{
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
        n--;
    if (!n || *p == '#')
        return KL_OK;
    if (memchr(p, '\0', n)) {
        kli_seterr(errbuf, "line %zu: a NUL byte", line);
        return KL_ERR_SYNTAX;
    }
    size_t w = 0;
    while (w < n && p[w] != ' ' && p[w] != '\t')
        w++;
    const char *v = p + w;
    size_t vn = n - w;
    while (vn && (*v == ' ' || *v == '\t'))
        v++, vn--;
    static const char *const rules[] = {"ignore-header", "ignore-json-path", "ignore-key",
                                        "ignore-regex"};
    size_t r = 0;
    while (r < 4 && !(strlen(rules[r]) == w && memcmp(rules[r], p, w) == 0))
        r++;
    if (r == 4) {
        kli_seterr(errbuf, "line %zu: unknown rule '%.*s' (ignore-header, ignore-json-path, "
                           "ignore-key, ignore-regex)", line, (int)(w > 40 ? 40 : w), p);
        return KL_ERR_SYNTAX;
    }
    if (!vn) {
        kli_seterr(errbuf, "line %zu: %s needs a value", line, rules[r]);
        return KL_ERR_SYNTAX;
    }
    char why[KL_ERRBUF_SIZE] = "";
    int rc = r == 0 ? add_header(o, v, vn)
           : r == 1 ? add_path(o, v, vn, why)
           : r == 2 ? add_key(o, v, vn)
                    : add_regex(o, v, vn, why);
    if (rc == KL_ERR_SYNTAX)
        kli_seterr(errbuf, "line %zu: %s: %s", line, rules[r], why);
    return rc;
}

int kl_diff_rules_parse(const char *text, size_t len, kl_diff_opts *o, char *errbuf)
{
    if (!o || (!text && len))
        return KL_ERR_INVALID;
    size_t line = 1;
    for (size_t i = 0; i < len; line++) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len;
        int rc = rule_line(o, text + i, end - i, line, errbuf);
        if (rc != KL_OK)
            return rc;
        i = end + 1;
    }
    return KL_OK;
}

/* ------------------------------------------------------------------ masking */

/* Write s with every match of re replaced by MASK to out (emptied first). A match that fails
 * (no match, or a limit reached) leaves the rest as it is. */
static int mask_one(const pcre2_code *re, pcre2_match_context *mctx, pcre2_match_data *md,
                    const uint8_t *s, size_t n, kl_buf *out)
{
    out->len = 0;
    size_t at = 0, copied = 0;
    while (at <= n) {
        if (pcre2_match(re, s, n, at, 0, md, mctx) < 0)
            break;
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[0] < copied || ov[1] < ov[0])
            break; /* \K tricks: keep the text */
        if (kl_buf_append(out, s + copied, ov[0] - copied) != KL_OK ||
            kl_buf_append(out, MASK, sizeof MASK - 1) != KL_OK)
            return KL_ERR_NOMEM;
        copied = ov[1];
        at = ov[1] > ov[0] ? ov[1] : ov[1] + 1; /* step over an empty match */
    }
    return kl_buf_append(out, s + copied, n - copied);
}

/* Apply every regex of o in turn; the result is in *out (spare is scratch). */
static int mask_all(const kl_diff_opts *o, pcre2_match_data **md, const uint8_t *s, size_t n,
                    kl_buf *out, kl_buf *spare)
{
    const struct kli_diff_state *st = o->state;
    if (!*md && !(*md = pcre2_match_data_create(1, NULL)))
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < o->n_ignore_regexes; i++) {
        int rc = mask_one(st->res[i], st->mctx, *md, s, n, spare);
        if (rc != KL_OK)
            return rc;
        kl_buf t = *out;
        *out = *spare;
        *spare = t;
        s = (const uint8_t *)out->data;
        n = out->len;
    }
    return KL_OK;
}

int kl_diff_mask(const kl_diff_opts *o, const uint8_t *data, size_t len, kl_buf *out)
{
    if (!out || (!data && len))
        return KL_ERR_INVALID;
    if (!o || !o->n_ignore_regexes)
        return kl_buf_append(out, data, len);
    data = data ? data : (const uint8_t *)"";
    pcre2_match_data *md = NULL;
    kl_buf a = {0}, b = {0};
    int rc = mask_all(o, &md, data, len, &a, &b);
    if (rc == KL_OK)
        rc = kl_buf_append(out, a.data, a.len);
    pcre2_match_data_free(md);
    kl_buf_free(&a);
    kl_buf_free(&b);
    return rc;
}

/* -------------------------------------------------------------------- parse */

/* The '(' of a JSONP call "name(" at p (name: a JavaScript identifier, dots allowed), or NULL. */
static const uint8_t *jsonp_open(const uint8_t *p, const uint8_t *e, const uint8_t **name_end)
{
    if (p == e || !is_ident_start(*p))
        return NULL;
    while (p < e && (is_ident_start(*p) || is_digit(*p) || *p == '.'))
        p++;
    *name_end = p;
    p = kli_json_skip_ws(p, e);
    return p < e && *p == '(' ? p : NULL;
}

bool kl_json_looks(const uint8_t *d, size_t len)
{
    if (!d)
        return false;
    const uint8_t *e = d + len, *p = kli_json_skip_ws(skip_bom(d, e), e), *name_end;
    if (p < e && (*p == '{' || *p == '['))
        return true;
    const uint8_t *open = jsonp_open(p, e, &name_end);
    if (!open)
        return false;
    p = kli_json_skip_ws(open + 1, e);
    return p < e && (*p == '{' || *p == '[');
}

typedef struct jdoc {
    kli_jval root;
    const uint8_t *callback; /* JSONP: the function's name, NULL for plain JSON */
    size_t cb_len;
} jdoc;

static int parse_doc(kli_mem *m, const uint8_t *d, size_t len, const char *side, jdoc *doc,
                     char *errbuf)
{
    kli_jparser ps = {.p = skip_bom(d, d + len), .end = d + len, .mem = m};
    memset(doc, 0, sizeof *doc);
    int rc = KL_OK;
    const uint8_t *start = kli_json_skip_ws(ps.p, ps.end), *name_end;
    const uint8_t *open = jsonp_open(start, ps.end, &name_end);
    if (open) {
        const uint8_t *q = ps.end;
        while (q > open && kli_json_ws(q[-1]))
            q--;
        if (q > open && q[-1] == ';')
            q--;
        while (q > open && kli_json_ws(q[-1]))
            q--;
        if (q[-1] != ')') /* q > open: '(' is not white space */
            rc = kli_json_fail(&ps, q, KL_ERR_CORRUPT, "expected ')' closing the JSONP call");
        doc->callback = start;
        doc->cb_len = (size_t)(name_end - start);
        ps.p = open + 1;
        ps.end = q - 1;
    }
    if (rc == KL_OK)
        rc = kli_json_parse_value(&ps, &doc->root);
    if (rc == KL_OK && kli_json_skip_ws(ps.p, ps.end) != ps.end)
        rc = kli_json_fail(&ps, kli_json_skip_ws(ps.p, ps.end), KL_ERR_CORRUPT,
                  open ? "expected ')' after the value" : "unexpected text after the value");
    if (rc == KL_OK || rc == KL_ERR_NOMEM)
        return rc;
    size_t line, col;
    kli_json_where(d, ps.at, &line, &col);
    kli_seterr(errbuf, "%s: line %zu, column %zu: %s", side, line, col, ps.why);
    return rc;
}

/* ------------------------------------------------------------------ compare */

typedef struct differ {
    const kl_diff_opts *o;
    const struct kli_diff_state *st; /* NULL without rules */
    kl_diff_list *out;
    kli_mem *tmp;
    kl_buf path;                     /* of the value being compared */
    kl_buf text, ma, mb, spare;
    size_t *alive;                   /* stack of ignored paths still matching, by index */
    size_t n_alive, cap_alive;
    pcre2_match_data *md;
} differ;

/* Where a value sits: its depth and the ignored paths matching the way to it,
 * alive[from .. from + n). */
typedef struct node {
    size_t depth, from, n;
} node;

/* A step from a value to a member (key) or an element (index). */
typedef struct step {
    const uint8_t *key;
    size_t klen;
    size_t index;
} step;

static int write_compact(kl_buf *b, const kli_jval *v)
{
    int rc = KL_OK;
    switch (v->type) {
    case KLI_J_NULL: case KLI_J_BOOL: case KLI_J_NUM: case KLI_J_STR:
        return kl_buf_append(b, v->raw, v->len);
    case KLI_J_ARR:
        rc = kl_buf_append(b, "[", 1);
        for (size_t i = 0; i < v->n && rc == KL_OK; i++) {
            if (i)
                rc = kl_buf_append(b, ",", 1);
            if (rc == KL_OK)
                rc = write_compact(b, &v->u.items[i]);
        }
        return rc == KL_OK ? kl_buf_append(b, "]", 1) : rc;
    case KLI_J_OBJ:
        rc = kl_buf_append(b, "{", 1);
        for (size_t i = 0; i < v->n && rc == KL_OK; i++) {
            const kli_jmember *m = &v->u.members[i];
            if (i)
                rc = kl_buf_append(b, ",", 1);
            if (rc == KL_OK)
                rc = kl_buf_append(b, m->kraw, m->kraw_len);
            if (rc == KL_OK)
                rc = kl_buf_append(b, ":", 1);
            if (rc == KL_OK)
                rc = write_compact(b, &m->v);
        }
        return rc == KL_OK ? kl_buf_append(b, "}", 1) : rc;
    }
    return KL_ERR_INVALID;
}

/* A NUL-terminated copy of text in the list's memory, NULL for a NULL text. */
static int dup_text(kl_diff_list *l, const void *text, size_t len, const char **out)
{
    *out = text ? kli_strndup(l->mem, text, len) : NULL;
    return text && !*out ? KL_ERR_NOMEM : KL_OK;
}

static int add_item(differ *d, kl_diff_kind kind, const char *path, size_t plen, const void *before,
                    size_t blen, const void *after, size_t alen)
{
    kl_diff_list *l = d->out;
    if (!l->mem && !(l->mem = kli_mem_new()))
        return KL_ERR_NOMEM;
    kl_diff_item *items = kli_grow(l->mem, l->items, l->n, sizeof *items);
    if (!items)
        return KL_ERR_NOMEM;
    l->items = items;
    kl_diff_item *it = &items[l->n];
    it->kind = kind;
    int rc = dup_text(l, path, plen, &it->path);
    if (rc == KL_OK)
        rc = dup_text(l, before, blen, &it->before);
    if (rc == KL_OK)
        rc = dup_text(l, after, alen, &it->after);
    if (rc == KL_OK)
        l->n++;
    return rc;
}

/* Report a difference at the current path; a or b NULL when absent. */
static int report(differ *d, kl_diff_kind kind, const kli_jval *a, const kli_jval *b)
{
    d->text.len = 0;
    int rc = KL_OK;
    if (a)
        rc = write_compact(&d->text, a);
    size_t alen = d->text.len;
    if (rc == KL_OK && b)
        rc = write_compact(&d->text, b);
    if (rc != KL_OK)
        return rc;
    const char *t = d->text.data;
    return add_item(d, kind, d->path.data, d->path.len, a ? t : NULL, alen, b ? t + alen : NULL,
                    d->text.len - alen);
}

static bool key_ignored(const differ *d, const uint8_t *key, size_t len)
{
    return d->o && listed(d->o->ignore_keys, d->o->n_ignore_keys, (const char *)key, len);
}

/* Push ignored path id on the stack of those still matching. */
static int alive_push(differ *d, size_t id)
{
    if (d->n_alive == d->cap_alive) {
        size_t cap = d->cap_alive ? d->cap_alive * 2 : 16;
        size_t *na = realloc(d->alive, cap * sizeof *na);
        if (!na)
            return KL_ERR_NOMEM;
        d->alive = na;
        d->cap_alive = cap;
    }
    d->alive[d->n_alive++] = id;
    return KL_OK;
}

/* Push the ignored paths of the node still matching after step s; *ignored when one ends there. */
static int descend(differ *d, node at, const step *s, bool *ignored)
{
    *ignored = false;
    for (size_t i = at.from; i < at.from + at.n; i++) {
        size_t id = d->alive[i];
        const ipath *p = &d->st->paths[id];
        const seg *g = &p->segs[at.depth];
        bool hit = g->kind == SEG_ANY ||
                   (s->key ? g->kind == SEG_KEY && bytes_eq(g->key, g->len, s->key, s->klen)
                           : g->kind == SEG_INDEX && g->index == s->index);
        if (!hit)
            continue;
        if (p->n == at.depth + 1) {
            *ignored = true;
            return KL_OK;
        }
        int rc = alive_push(d, id);
        if (rc != KL_OK)
            return rc;
    }
    return KL_OK;
}

/* Append the step to the path: .key, ["key"] when not an identifier, [index]. */
static int path_push(kl_buf *b, const step *s)
{
    if (!s->key) { /* not printf: it would take a tenth of a comparison's time */
        char t[KLI_DECIMAL_MAX + 2], *q = t;
        *q++ = '[';
        q = kli_text_decimal(q, (int64_t)s->index);
        *q++ = ']';
        return kl_buf_append(b, t, (size_t)(q - t));
    }
    bool ident = s->klen && is_ident_start(s->key[0]);
    for (size_t i = 1; ident && i < s->klen; i++)
        ident = is_ident_start(s->key[i]) || is_digit(s->key[i]);
    if (ident)
        return kl_buf_append(b, ".", 1) == KL_OK ? kl_buf_append(b, s->key, s->klen) : KL_ERR_NOMEM;
    int rc = kl_buf_append(b, "[\"", 2);
    for (size_t i = 0; i < s->klen && rc == KL_OK; i++) {
        uint8_t c = s->key[i];
        if (c == '"' || c == '\\')
            rc = kl_buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            rc = kl_buf_printf(b, "\\u%04x", c);
        else
            rc = kl_buf_append(b, &c, 1);
    }
    return rc == KL_OK ? kl_buf_append(b, "\"]", 2) : rc;
}

static int cmp_value(differ *d, const kli_jval *a, const kli_jval *b, node at);

/* Compare the values a step away, or report the one present alone (a or b NULL). */
static int child(differ *d, node at, const step *s, const kli_jval *a, const kli_jval *b)
{
    if (a && b && bytes_eq(a->raw, a->len, b->raw, b->len))
        return KL_OK;
    size_t top = d->n_alive, mark = d->path.len;
    bool ignored = false;
    int rc = at.n ? descend(d, at, s, &ignored) : KL_OK;
    if (rc == KL_OK && !ignored && (rc = path_push(&d->path, s)) == KL_OK) {
        node next = {at.depth + 1, top, d->n_alive - top};
        rc = a && b ? cmp_value(d, a, b, next)
                    : report(d, a ? KL_DIFF_REMOVED : KL_DIFF_ADDED, a, b);
    }
    d->n_alive = top;
    d->path.len = mark;
    d->path.data[mark] = '\0';
    return rc;
}

static int cmp_array(differ *d, const kli_jval *a, const kli_jval *b, node at)
{
    int rc = KL_OK;
    size_t n = a->n > b->n ? a->n : b->n;
    for (size_t i = 0; i < n && rc == KL_OK; i++) {
        step s = {.index = i};
        rc = child(d, at, &s, i < a->n ? &a->u.items[i] : NULL, i < b->n ? &b->u.items[i] : NULL);
    }
    return rc;
}

static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* By key, then by position, so that repeated keys pair up in their order. */
static int member_order(const void *x, const void *y)
{
    const kli_jmember *a = *(const kli_jmember *const *)x, *b = *(const kli_jmember *const *)y;
    int c = key_cmp(a->key, a->klen, b->key, b->klen);
    return c ? c : (a > b) - (a < b);
}

/* The first member of b with this key not used yet, or SIZE_MAX. */
static size_t find_member(const kli_jval *b, const kli_jmember **idx, const bool *used, const kli_jmember *m)
{
    if (!idx) {
        for (size_t j = 0; j < b->n; j++)
            if (!used[j] && bytes_eq(b->u.members[j].key, b->u.members[j].klen, m->key, m->klen))
                return j;
        return SIZE_MAX;
    }
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(idx[mid]->key, idx[mid]->klen, m->key, m->klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < b->n && bytes_eq(idx[lo]->key, idx[lo]->klen, m->key, m->klen); lo++) {
        size_t j = (size_t)(idx[lo] - b->u.members);
        if (!used[j])
            return j;
    }
    return SIZE_MAX;
}

/* Members in a's order (changed, removed), then those only in b in b's order (added). */
static int cmp_object(differ *d, const kli_jval *a, const kli_jval *b, node at)
{
    bool *used = kli_zalloc(d->tmp, b->n);
    const kli_jmember **idx = NULL;
    if (!used)
        return KL_ERR_NOMEM;
    if (b->n > LINEAR_MAX) {
        if (!(idx = kli_alloc(d->tmp, b->n * sizeof *idx)))
            return KL_ERR_NOMEM;
        for (size_t j = 0; j < b->n; j++)
            idx[j] = &b->u.members[j];
        qsort(idx, b->n, sizeof *idx, member_order);
    }
    int rc = KL_OK;
    for (size_t i = 0; i < a->n && rc == KL_OK; i++) {
        const kli_jmember *m = &a->u.members[i];
        if (key_ignored(d, m->key, m->klen))
            continue;
        size_t j = find_member(b, idx, used, m);
        if (j != SIZE_MAX)
            used[j] = true;
        step s = {m->key, m->klen, 0};
        rc = child(d, at, &s, &m->v, j != SIZE_MAX ? &b->u.members[j].v : NULL);
    }
    for (size_t j = 0; j < b->n && rc == KL_OK; j++) {
        const kli_jmember *m = &b->u.members[j];
        if (used[j] || key_ignored(d, m->key, m->klen))
            continue;
        step s = {m->key, m->klen, 0};
        rc = child(d, at, &s, NULL, &m->v);
    }
    return rc;
}

/* A number's parts, from text parse_number() accepted: digits ip[0..il) "." fp[0..fl) e exp. */
typedef struct num {
    bool neg;
    const uint8_t *ip, *fp;
    size_t il, fl;
    int64_t exp;
} num;

static void num_split(const kli_jval *v, num *x)
{
    const uint8_t *p = v->raw, *e = p + v->len;
    memset(x, 0, sizeof *x);
    if ((x->neg = *p == '-'))
        p++;
    for (x->ip = p; p < e && is_digit(*p); p++)
        x->il++;
    x->fp = p;
    if (p < e && *p == '.')
        for (x->fp = ++p; p < e && is_digit(*p); p++)
            x->fl++;
    if (p < e) {
        bool neg = *++p == '-';
        if (*p == '-' || *p == '+')
            p++;
        for (; p < e; p++)
            if (x->exp < EXP_CAP)
                x->exp = x->exp * 10 + (*p - '0');
        if (neg)
            x->exp = -x->exp;
    }
}

static uint8_t num_digit(const num *x, size_t k)
{
    return k < x->il ? x->ip[k] : x->fp[k - x->il];
}

/* Exactly equal values, whatever their form: 1 == 1.0 == 10e-1, -0 == 0, and integers of any
 * length digit by digit. The value is digits[lead, trail) times ten to the power pow. */
static bool num_eq(const kli_jval *a, const kli_jval *b)
{
    num x[2];
    size_t lead[2], trail[2];
    int64_t pow[2];
    num_split(a, &x[0]);
    num_split(b, &x[1]);
    for (int i = 0; i < 2; i++) {
        size_t n = x[i].il + x[i].fl, l = 0, t = n;
        while (l < n && num_digit(&x[i], l) == '0')
            l++;
        while (t > l && num_digit(&x[i], t - 1) == '0')
            t--;
        lead[i] = l;
        trail[i] = t;
        pow[i] = x[i].exp - (int64_t)x[i].fl + (int64_t)(n - t);
    }
    bool zero0 = lead[0] == trail[0], zero1 = lead[1] == trail[1];
    if (zero0 || zero1)
        return zero0 && zero1;
    if (x[0].neg != x[1].neg || trail[0] - lead[0] != trail[1] - lead[1] || pow[0] != pow[1])
        return false;
    for (size_t k = 0; k < trail[0] - lead[0]; k++)
        if (num_digit(&x[0], lead[0] + k) != num_digit(&x[1], lead[1] + k))
            return false;
    return true;
}

/* A non-negative integer written as plain digits, up to 18 of them. */
static bool plain_int(const kli_jval *v, int64_t *out)
{
    if (v->len > 18)
        return false;
    int64_t n = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (!is_digit(v->raw[i]))
            return false;
        n = n * 10 + (v->raw[i] - '0');
    }
    *out = n;
    return true;
}

/* Both look like Unix times in the same unit (seconds, or milliseconds: KLI_TIME_MIN to
 * KLI_TIME_MAX times 1000) and are less than KLI_TIME_SLACK seconds apart. */
static bool times_close(const kli_jval *a, const kli_jval *b)
{
    int64_t x, y;
    if (!plain_int(a, &x) || !plain_int(b, &y))
        return false;
    int64_t unit = x >= KLI_TIME_MIN && x < KLI_TIME_MAX                 ? 1
                   : x >= KLI_TIME_MIN * 1000 && x < KLI_TIME_MAX * 1000 ? 1000
                                                                         : 0;
    if (!unit || y < KLI_TIME_MIN * unit || y >= KLI_TIME_MAX * unit)
        return false;
    return (x > y ? x - y : y - x) < KLI_TIME_SLACK * unit;
}

/* A string's decoded bytes (in d->tmp when it has escapes). */
static int str_bytes(differ *d, const kli_jval *v, const uint8_t **s, size_t *n)
{
    *n = v->len - 2;
    *s = v->escaped ? kli_json_unescape(d->tmp, v->raw + 1, *n, n) : v->raw + 1;
    return *s ? KL_OK : KL_ERR_NOMEM;
}

static int str_eq(differ *d, const kli_jval *a, const kli_jval *b, bool *eq)
{
    const uint8_t *sa, *sb;
    size_t la, lb;
    int rc = str_bytes(d, a, &sa, &la);
    if (rc == KL_OK)
        rc = str_bytes(d, b, &sb, &lb);
    if (rc != KL_OK)
        return rc;
    *eq = bytes_eq(sa, la, sb, lb);
    if (*eq || !d->o || !d->o->n_ignore_regexes)
        return KL_OK;
    if ((rc = mask_all(d->o, &d->md, sa, la, &d->ma, &d->spare)) != KL_OK ||
        (rc = mask_all(d->o, &d->md, sb, lb, &d->mb, &d->spare)) != KL_OK)
        return rc;
    *eq = bytes_eq(d->ma.data, d->ma.len, d->mb.data, d->mb.len);
    return KL_OK;
}

/* a and b are not the same text (the caller looked). */
static int cmp_value(differ *d, const kli_jval *a, const kli_jval *b, node at)
{
    if (a->type != b->type)
        return report(d, KL_DIFF_TYPE, a, b);
    bool eq = false;
    int rc;
    switch (a->type) {
    case KLI_J_NULL:
        return KL_OK;
    case KLI_J_BOOL:
        return report(d, KL_DIFF_CHANGED, a, b);
    case KLI_J_NUM:
        eq = num_eq(a, b) || (!(d->o && d->o->strict) && times_close(a, b));
        return eq ? KL_OK : report(d, KL_DIFF_CHANGED, a, b);
    case KLI_J_STR:
        if ((rc = str_eq(d, a, b, &eq)) != KL_OK)
            return rc;
        return eq ? KL_OK : report(d, KL_DIFF_CHANGED, a, b);
    case KLI_J_ARR:
        return cmp_array(d, a, b, at);
    case KLI_J_OBJ:
        return cmp_object(d, a, b, at);
    }
    return KL_ERR_INVALID;
}

static int cmp_docs(differ *d, const jdoc *a, const jdoc *b)
{
    int rc = kl_buf_append(&d->path, "$", 1);
    if (rc != KL_OK)
        return rc;
    node root = {0, 0, 0};
    for (size_t i = 0; d->st && i < d->o->n_ignore_paths; i++) {
        if (d->st->paths[i].n == 0)
            return KL_OK; /* "$": nothing counts */
        if ((rc = alive_push(d, i)) != KL_OK)
            return rc;
    }
    root.n = d->n_alive;
    if (!bytes_eq(a->callback, a->cb_len, b->callback, b->cb_len)) {
        kl_diff_kind k = !a->callback   ? KL_DIFF_ADDED
                         : !b->callback ? KL_DIFF_REMOVED
                                        : KL_DIFF_CHANGED;
        rc = add_item(d, k, "callback", 8, a->callback, a->cb_len, b->callback, b->cb_len);
        if (rc != KL_OK)
            return rc;
    }
    if (bytes_eq(a->root.raw, a->root.len, b->root.raw, b->root.len))
        return KL_OK;
    return cmp_value(d, &a->root, &b->root, root);
}

int kl_json_diff(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                 const kl_diff_opts *o, kl_diff_list *out, char *errbuf)
{
    if (!out || (!a && alen) || (!b && blen))
        return KL_ERR_INVALID;
    if (bytes_eq(a, alen, b, blen))
        return KL_OK;
    a = a ? a : (const uint8_t *)""; /* no arithmetic on NULL */
    b = b ? b : (const uint8_t *)"";
    differ d = {.o = o, .st = o ? o->state : NULL, .out = out, .tmp = kli_mem_new()};
    if (!d.tmp)
        return KL_ERR_NOMEM;
    size_t n0 = out->n;
    jdoc da, db;
    size_t guess = alen + blen + 4096; /* the trees take more; the arena grows by doubling */
    int rc = kli_mem_reserve(d.tmp, guess < (4u << 20) ? guess : 4u << 20);
    if (rc == KL_OK)
        rc = parse_doc(d.tmp, a, alen, "a", &da, errbuf);
    if (rc == KL_OK)
        rc = parse_doc(d.tmp, b, blen, "b", &db, errbuf);
    if (rc == KL_OK && (rc = cmp_docs(&d, &da, &db)) != KL_OK)
        out->n = n0;
    kl_buf_free(&d.path);
    kl_buf_free(&d.text);
    kl_buf_free(&d.ma);
    kl_buf_free(&d.mb);
    kl_buf_free(&d.spare);
    free(d.alive);
    pcre2_match_data_free(d.md);
    kli_mem_free(d.tmp);
    return rc;
}

/* -------------------------------------------------------------------- lists */

const char *kl_diff_kind_name(kl_diff_kind k)
{
    switch (k) {
    case KL_DIFF_CHANGED: return "changed";
    case KL_DIFF_ADDED: return "added";
    case KL_DIFF_REMOVED: return "removed";
    case KL_DIFF_TYPE: return "type";
    }
    return "unknown";
}

void kl_diff_list_clear(kl_diff_list *l)
{
    if (!l)
        return;
    l->items = NULL;
    l->n = 0;
    if (l->mem)
        kli_mem_reset(l->mem);
}

void kl_diff_list_free(kl_diff_list *l)
{
    if (!l)
        return;
    kli_mem_free(l->mem);
    memset(l, 0, sizeof *l);
}
