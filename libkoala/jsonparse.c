/* jsonparse.c - the strict JSON parser jsondiff.c and import.c share (kl_json.h): a tree over
 * the document's text, strings decoded on demand, the way to a fault kept for messages. */
#include "kl_json.h"

#include <string.h>

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* ------------------------------------------------------------------ strings */

int kli_json_hex4(const uint8_t *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int d = kli_hex_digit(p[i]);
        if (d < 0)
            return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

const uint8_t *kli_json_scan_string(const uint8_t *p, const uint8_t *e, uint8_t q, bool *escaped,
                                    const char **why, const uint8_t **at)
{
    *escaped = false;
    for (; p < e; p++) {
        if (*p == q)
            return p;
        if (*p < 0x20) {
            *why = "control character in a string";
            *at = p;
            return NULL;
        }
        if (*p != '\\')
            continue;
        *escaped = true;
        if (e - p < 2)
            break;
        uint32_t v;
        switch (p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            p++;
            continue;
        case 'u':
            if (e - p < 6 || kli_json_hex4(p + 2, &v) < 0) {
                *why = "\\u needs four hex digits";
                *at = p;
                return NULL;
            }
            p += 5;
            continue;
        default:
            if (p[1] == '\'' && q == '\'') {
                p++;
                continue;
            }
            *why = "unknown escape in a string";
            *at = p;
            return NULL;
        }
    }
    *why = "string without its closing quote";
    *at = e;
    return NULL;
}

size_t kli_json_put_utf8(uint8_t *o, uint32_t c)
{
    if (c < 0x80) {
        o[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (uint8_t)(0xc0 | c >> 6);
        o[1] = (uint8_t)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (uint8_t)(0xe0 | c >> 12);
        o[1] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
        o[2] = (uint8_t)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | c >> 18);
    o[1] = (uint8_t)(0x80 | (c >> 12 & 0x3f));
    o[2] = (uint8_t)(0x80 | (c >> 6 & 0x3f));
    o[3] = (uint8_t)(0x80 | (c & 0x3f));
    return 4;
}

/* A lone surrogate kept as its own bytes: strings that differ only there still differ. */
uint8_t *kli_json_unescape(kli_mem *m, const uint8_t *s, size_t n, size_t *out_len)
{
    uint8_t *out = kli_alloc(m, n), *o = out;
    if (!out)
        return NULL;
    for (const uint8_t *p = s, *e = s + n; p < e;) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        uint32_t c;
        p = kli_json_next_char(p, e, &c);
        o += kli_json_put_utf8(o, c);
    }
    *out_len = (size_t)(o - out);
    return out;
}

/* -------------------------------------------------------------------- parse */

int kli_json_fail(kli_jparser *ps, const uint8_t *at, int rc, const char *why)
{
    ps->at = at;
    ps->why = why;
    return rc;
}

static int parse_string(kli_jparser *ps, bool *escaped)
{
    const char *why;
    const uint8_t *at, *q = kli_json_scan_string(ps->p + 1, ps->end, '"', escaped, &why, &at);
    if (!q)
        return kli_json_fail(ps, at, KL_ERR_CORRUPT, why);
    ps->p = q + 1;
    return KL_OK;
}

static int parse_number(kli_jparser *ps)
{
    const uint8_t *p = ps->p, *e = ps->end;
    if (*p == '-')
        p++;
    if (p == e || !is_digit(*p))
        return kli_json_fail(ps, p, KL_ERR_CORRUPT, "expected a digit");
    if (*p == '0')
        p++;
    else
        while (p < e && is_digit(*p))
            p++;
    if (p < e && *p == '.') {
        if (++p == e || !is_digit(*p))
            return kli_json_fail(ps, p, KL_ERR_CORRUPT, "expected a digit after '.'");
        while (p < e && is_digit(*p))
            p++;
    }
    if (p < e && (*p | 0x20) == 'e') {
        if (++p < e && (*p == '+' || *p == '-'))
            p++;
        if (p == e || !is_digit(*p))
            return kli_json_fail(ps, p, KL_ERR_CORRUPT, "expected a digit in the exponent");
        while (p < e && is_digit(*p))
            p++;
    }
    ps->p = p;
    return KL_OK;
}

static int parse_literal(kli_jparser *ps, const char *word, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return kli_json_fail(ps, ps->p, KL_ERR_CORRUPT, "unexpected character");
    ps->p += n;
    return KL_OK;
}

/* Step into the array or object at ps->p, closed by close: *more unless it is empty (then
 * consumed whole). */
static int enter(kli_jparser *ps, uint8_t close, bool *more)
{
    if (++ps->depth > KL_JSON_MAX_DEPTH)
        return kli_json_fail(ps, ps->p, KL_ERR_TOOBIG, "arrays and objects nested too deep");
    ps->p = kli_json_skip_ws(ps->p + 1, ps->end);
    *more = ps->p == ps->end || *ps->p != close;
    if (!*more)
        ps->p++;
    return KL_OK;
}

/* After an element or member: ',' (true) or the closing byte (false, consumed). */
static int next_or_close(kli_jparser *ps, uint8_t close, bool *more)
{
    ps->p = kli_json_skip_ws(ps->p, ps->end);
    if (ps->p < ps->end && (*ps->p == ',' || *ps->p == close)) {
        *more = *ps->p++ == ',';
        return KL_OK;
    }
    return kli_json_fail(ps, ps->p, KL_ERR_CORRUPT,
                close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
}

int kli_json_trail(kli_jparser *ps, int rc, const uint8_t *key, size_t klen, size_t index)
{
    if ((rc == KL_ERR_CORRUPT || rc == KL_ERR_TOOBIG) && ps->n_trail++ < KLI_JSON_TRAIL)
        ps->trail[ps->n_trail - 1] = (kli_jstep){key, klen, index};
    return rc;
}

static int parse_array(kli_jparser *ps, kli_jval *v)
{
    bool more;
    int rc = enter(ps, ']', &more);
    if (rc != KL_OK)
        return rc;
    while (more) {
        kli_jval *items = kli_grow(ps->mem, v->u.items, v->n, sizeof *items);
        if (!items)
            return KL_ERR_NOMEM;
        v->u.items = items;
        if ((rc = kli_json_parse_value(ps, &items[v->n])) != KL_OK)
            return kli_json_trail(ps, rc, NULL, 0, v->n);
        v->n++;
        if ((rc = next_or_close(ps, ']', &more)) != KL_OK)
            return rc;
    }
    ps->depth--;
    return KL_OK;
}

static int parse_object(kli_jparser *ps, kli_jval *v)
{
    bool more;
    int rc = enter(ps, '}', &more);
    if (rc != KL_OK)
        return rc;
    while (more) {
        ps->p = kli_json_skip_ws(ps->p, ps->end);
        if (ps->p == ps->end || *ps->p != '"')
            return kli_json_fail(ps, ps->p, KL_ERR_CORRUPT, "expected a string key");
        kli_jmember *ms = kli_grow(ps->mem, v->u.members, v->n, sizeof *ms);
        if (!ms)
            return KL_ERR_NOMEM;
        v->u.members = ms;
        kli_jmember *m = &ms[v->n];
        bool esc;
        m->kraw = ps->p;
        if ((rc = parse_string(ps, &esc)) != KL_OK)
            return rc;
        m->kraw_len = (size_t)(ps->p - m->kraw);
        m->klen = m->kraw_len - 2;
        m->key = esc ? kli_json_unescape(ps->mem, m->kraw + 1, m->klen, &m->klen) : m->kraw + 1;
        if (!m->key)
            return KL_ERR_NOMEM;
        ps->p = kli_json_skip_ws(ps->p, ps->end);
        if (ps->p == ps->end || *ps->p != ':')
            return kli_json_fail(ps, ps->p, KL_ERR_CORRUPT, "expected ':' after a key");
        ps->p++;
        if ((rc = kli_json_parse_value(ps, &m->v)) != KL_OK)
            return kli_json_trail(ps, rc, m->kraw, m->kraw_len, 0);
        v->n++;
        if ((rc = next_or_close(ps, '}', &more)) != KL_OK)
            return rc;
    }
    ps->depth--;
    return KL_OK;
}

int kli_json_parse_value(kli_jparser *ps, kli_jval *v)
{
    memset(v, 0, sizeof *v);
    ps->p = kli_json_skip_ws(ps->p, ps->end);
    if (ps->p == ps->end)
        return kli_json_fail(ps, ps->p, KL_ERR_CORRUPT, "expected a value");
    v->raw = ps->p;
    int rc;
    switch (*ps->p) {
    case '{':
        v->type = KLI_J_OBJ;
        rc = parse_object(ps, v);
        break;
    case '[':
        v->type = KLI_J_ARR;
        rc = parse_array(ps, v);
        break;
    case '"':
        v->type = KLI_J_STR;
        rc = parse_string(ps, &v->escaped);
        break;
    case 't':
        v->type = KLI_J_BOOL;
        rc = parse_literal(ps, "true", 4);
        break;
    case 'f':
        v->type = KLI_J_BOOL;
        rc = parse_literal(ps, "false", 5);
        break;
    case 'n':
        v->type = KLI_J_NULL;
        rc = parse_literal(ps, "null", 4);
        break;
    default:
        if (*ps->p != '-' && !is_digit(*ps->p)) {
            bool closing = *ps->p && strchr(",]}:", *ps->p);
            return kli_json_fail(ps, ps->p, KL_ERR_CORRUPT,
                        closing ? "expected a value" : "unexpected character");
        }
        v->type = KLI_J_NUM;
        rc = parse_number(ps);
        break;
    }
    v->len = (size_t)(ps->p - v->raw);
    return rc;
}

void kli_json_where(const uint8_t *doc, const uint8_t *at, size_t *line, size_t *col)
{
    *line = 1;
    *col = 1;
    for (const uint8_t *p = doc; p < at; p++) {
        if (*p == '\n')
            ++*line, *col = 1;
        else if ((*p & 0xc0) != 0x80)
            ++*col;
    }
}
