/* textdiff.c - what differs between two byte strings, for people: a line diff of text (Myers'
 * O(ND) algorithm, unified format) and a hex diff of binary. */
#include "kl_internal.h"

#include <stdlib.h>
#include <string.h>

/* One line of a text: where it starts, its length without the newline, a hash to compare by. */
typedef struct line {
    const uint8_t *p;
    size_t len;
    uint64_t hash;
} line;

typedef struct lines {
    line *v;
    size_t n;
} lines;

static uint64_t hash_of(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Cut d into lines; a last line without a newline is a line too. */
static int split(const uint8_t *d, size_t len, lines *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += d[i] == '\n';
    n += len && d[len - 1] != '\n';
    out->n = 0;
    out->v = n ? malloc(n * sizeof *out->v) : NULL;
    if (n && !out->v)
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < len;) {
        const uint8_t *nl = memchr(d + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - d) : len;
        line *l = &out->v[out->n++];
        l->p = d + i;
        l->len = end - i;
        if (l->len && l->p[l->len - 1] == '\r')
            l->len--; /* CRLF and LF lines compare alike */
        l->hash = hash_of(l->p, l->len);
        i = end + 1;
    }
    return KL_OK;
}

static bool same(const line *a, const line *b)
{
    return a->hash == b->hash && a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

typedef enum { OP_SAME, OP_DEL, OP_ADD } op_kind;

/* The edit script turning a[0..n) into b[0..m): ops[k] for each step, in order. Myers' greedy
 * forward search keeps each round's V; the path is then walked back. @return KL_OK,
 * KL_ERR_TOOBIG past max_d edits, KL_ERR_NOMEM. */
static int script(const line *a, size_t n, const line *b, size_t m, size_t max_d, uint8_t *ops,
                  size_t *n_ops)
{
    size_t max = n + m;
    if (max_d > max)
        max_d = max;
    /* Round d's V holds x for diagonals k = -d..d, step 2: d + 1 values, at trace[d*(d+1)/2]. */
    size_t cells = (max_d + 1) * (max_d + 2) / 2;
    ptrdiff_t *trace = malloc(cells * sizeof *trace);
    if (!trace)
        return KL_ERR_NOMEM;
    size_t d_end = 0;
    bool found = false;
    for (size_t d = 0; d <= max_d && !found; d++) {
        ptrdiff_t *v = trace + d * (d + 1) / 2, *prev = d ? trace + (d - 1) * d / 2 : NULL;
        for (size_t i = 0; i <= d; i++) {
            ptrdiff_t k = (ptrdiff_t)(2 * i) - (ptrdiff_t)d, x;
            /* Come down from diagonal k+1 (an insertion) or right from k-1 (a deletion). */
            if (d == 0)
                x = 0;
            else if (i == 0 || (i < d && prev[i - 1] < prev[i]))
                x = prev[i];
            else
                x = prev[i - 1] + 1;
            ptrdiff_t y = x - k;
            while ((size_t)x < n && (size_t)y < m && same(&a[x], &b[y]))
                x++, y++;
            v[i] = x;
            if ((size_t)x >= n && (size_t)y >= m) {
                found = true;
                d_end = d;
                break;
            }
        }
    }
    if (!found) {
        free(trace);
        return KL_ERR_TOOBIG;
    }
    /* Walk back from (n, m), writing the ops from the end; there are at most n + m. */
    ptrdiff_t x = (ptrdiff_t)n, y = (ptrdiff_t)m;
    size_t total = 0;
    uint8_t *rev = ops;
    for (size_t d = d_end; d > 0; d--) {
        ptrdiff_t *prev = trace + (d - 1) * d / 2;
        ptrdiff_t k = x - y;
        size_t i = (size_t)((k + (ptrdiff_t)d) / 2);
        bool down = i == 0 || (i < d && prev[i - 1] < prev[i]);
        ptrdiff_t pk = down ? k + 1 : k - 1;
        ptrdiff_t px = prev[(size_t)((pk + (ptrdiff_t)(d - 1)) / 2)];
        ptrdiff_t py = px - pk;
        ptrdiff_t sx = down ? px : px + 1; /* where the snake after the edit starts */
        while (x > sx) {
            rev[total++] = OP_SAME;
            x--, y--;
        }
        rev[total++] = down ? OP_ADD : OP_DEL;
        x = px, y = py;
    }
    while (x > 0) {
        rev[total++] = OP_SAME;
        x--, y--;
    }
    free(trace);
    for (size_t i = 0; i < total / 2; i++) {
        uint8_t t = rev[i];
        rev[i] = rev[total - 1 - i];
        rev[total - 1 - i] = t;
    }
    *n_ops = total;
    return KL_OK;
}

static int put_line(kl_buf *out, char mark, const line *l)
{
    int rc = kl_buf_printf(out, "%c", mark);
    if (rc == KL_OK)
        rc = kl_buf_append(out, l->p, l->len);
    return rc == KL_OK ? kl_buf_append(out, "\n", 1) : rc;
}

/* The hunks of ops over a and b (both past their common prefix of skip lines), with context. */
static int hunks(const lines *a, const lines *b, size_t skip, const uint8_t *ops, size_t n_ops,
                 unsigned context, kl_buf *out)
{
    /* ai, bi: the line each op is at; a hunk spans ops whose changes lie within 2*context. */
    size_t i = 0, ai = skip, bi = skip;
    while (i < n_ops) {
        if (ops[i] == OP_SAME) {
            i++, ai++, bi++;
            continue;
        }
        /* A change at op i: the hunk starts context lines before it. */
        size_t back = 0;
        while (back < context && back < i && ops[i - back - 1] == OP_SAME)
            back++;
        size_t start = i - back, end = i, quiet = 0;
        while (end < n_ops) {
            if (ops[end] == OP_SAME) {
                if (++quiet > 2 * (size_t)context)
                    break;
            } else {
                quiet = 0;
            }
            end++;
        }
        size_t tail = 0; /* trailing context: at most context lines */
        while (ops[end - 1 - tail] == OP_SAME)
            tail++;
        if (tail > context)
            end -= tail - context;
        size_t a0 = ai - back, b0 = bi - back, na = 0, nb = 0;
        for (size_t j = start; j < end; j++) {
            na += ops[j] != OP_ADD;
            nb += ops[j] != OP_DEL;
        }
        int rc = kl_buf_printf(out, "@@ -%zu,%zu +%zu,%zu @@\n", a0 + (na ? 1 : 0), na, b0 + (nb ? 1 : 0), nb);
        size_t x = a0, y = b0;
        for (size_t j = start; j < end && rc == KL_OK; j++) {
            if (ops[j] == OP_SAME) {
                rc = put_line(out, ' ', &a->v[x++]);
                y++;
            } else if (ops[j] == OP_DEL) {
                rc = put_line(out, '-', &a->v[x++]);
            } else {
                rc = put_line(out, '+', &b->v[y++]);
            }
        }
        if (rc != KL_OK)
            return rc;
        ai = x, bi = y, i = end;
    }
    return KL_OK;
}

int kl_text_diff(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, unsigned context,
                 size_t max_changes, kl_buf *out)
{
    if ((!a && alen) || (!b && blen) || !out)
        return KL_ERR_INVALID;
    lines la = {0}, lb = {0};
    uint8_t *ops = NULL;
    int rc = split(a, alen, &la);
    if (rc == KL_OK)
        rc = split(b, blen, &lb);
    if (rc != KL_OK)
        goto out;
    size_t pre = 0, post = 0;
    while (pre < la.n && pre < lb.n && same(&la.v[pre], &lb.v[pre]))
        pre++;
    while (post < la.n - pre && post < lb.n - pre && same(&la.v[la.n - 1 - post], &lb.v[lb.n - 1 - post]))
        post++;
    size_t n = la.n - pre - post, m = lb.n - pre - post;
    /* Context on both sides of the middle is taken back from the common ends. */
    size_t lead = pre < context ? pre : context, trail = post < context ? post : context;
    size_t cap = n + m + lead + trail;
    if (!(ops = malloc(cap ? cap : 1))) {
        rc = KL_ERR_NOMEM;
        goto out;
    }
    memset(ops, OP_SAME, lead);
    size_t n_ops = 0;
    rc = script(la.v + pre, n, lb.v + pre, m, max_changes, ops + lead, &n_ops);
    if (rc != KL_OK)
        goto out;
    memset(ops + lead + n_ops, OP_SAME, trail);
    rc = hunks(&la, &lb, pre - lead, ops, lead + n_ops + trail, context, out);
out:
    free(la.v);
    free(lb.v);
    free(ops);
    return rc;
}

/* One row of 16 bytes from offset off of d (len bytes), hex then printable text. */
static int hex_row(kl_buf *out, char mark, size_t off, const uint8_t *d, size_t len)
{
    int rc = kl_buf_printf(out, "%c%08zx ", mark, off);
    for (size_t i = 0; i < 16 && rc == KL_OK; i++)
        rc = off + i < len ? kl_buf_printf(out, " %02x", d[off + i]) : kl_buf_append(out, "   ", 3);
    if (rc == KL_OK)
        rc = kl_buf_append(out, "  |", 3);
    for (size_t i = 0; i < 16 && off + i < len && rc == KL_OK; i++) {
        char c = d[off + i] >= 0x20 && d[off + i] < 0x7f ? (char)d[off + i] : '.';
        rc = kl_buf_append(out, &c, 1);
    }
    return rc == KL_OK ? kl_buf_append(out, "|\n", 2) : rc;
}

int kl_hex_diff(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, size_t max_rows,
                kl_buf *out)
{
    if ((!a && alen) || (!b && blen) || !out)
        return KL_ERR_INVALID;
    size_t len = alen > blen ? alen : blen, shown = 0, more = 0;
    int rc = KL_OK;
    for (size_t off = 0; off < len && rc == KL_OK; off += 16) {
        size_t na = off < alen ? (alen - off < 16 ? alen - off : 16) : 0;
        size_t nb = off < blen ? (blen - off < 16 ? blen - off : 16) : 0;
        if (na == nb && memcmp(a + off, b + off, na) == 0)
            continue;
        if (shown == max_rows) {
            more++;
            continue;
        }
        shown++;
        if (na)
            rc = hex_row(out, '-', off, a, alen);
        if (nb && rc == KL_OK)
            rc = hex_row(out, '+', off, b, blen);
    }
    if (more && rc == KL_OK)
        rc = kl_buf_printf(out, "... %zu more rows of 16 bytes differ\n", more);
    return rc;
}
