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
    /* Round d's V holds x for diagonals k = -d..d, step 2: d + 1 values, at trace[d*(d+1)/2].
     * Room grows with the rounds run, not max_d: a few changes in long texts need little. */
    ptrdiff_t *trace = NULL;
    size_t rounds = 0, d_end = 0;
    bool found = false;
    for (size_t d = 0; d <= max_d && !found; d++) {
        if (d == rounds) {
            size_t more = rounds ? rounds * 2 : 64;
            if (more > max_d + 1)
                more = max_d + 1;
            ptrdiff_t *t = more < (1u << 30) ? realloc(trace, more * (more + 1) / 2 * sizeof *t) : NULL;
            if (!t) {
                free(trace);
                return KL_ERR_NOMEM;
            }
            trace = t;
            rounds = more;
        }
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

/* ------------------------------------------------------------- timestamps */

static bool digits(const uint8_t *p, size_t n, int *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        *v = *v * 10 + (p[i] - '0');
    }
    return true;
}

/* Seconds since 1970 of a civil date (Howard Hinnant's days_from_civil). */
static int64_t epoch(int y, int m, int d, int hh, int mm, int ss)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (era * 146097 + doe - 719468) * 86400 + hh * 3600 + mm * 60 + ss;
}

static bool is_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A timestamp at p (n bytes left): "2024-03-01T10:00:00" (or a space for the T) with an
 * optional fraction and Z or +HH:MM, "Fri, 01 Mar 2024 10:00:00 GMT" (HTTP dates), or Unix
 * seconds (10 digits) or milliseconds (13). @return its length, and *t its time in seconds,
 * or 0. The caller takes only times in [KLI_TIME_MIN, KLI_TIME_MAX), of any form. */
static size_t timestamp(const uint8_t *p, size_t n, int64_t *t)
{
    int y, mo, d, hh, mi, ss;
    if (n >= 19 && p[4] == '-' && p[7] == '-' && (p[10] == 'T' || p[10] == ' ') && p[13] == ':' && p[16] == ':' &&
        digits(p, 4, &y) && digits(p + 5, 2, &mo) && digits(p + 8, 2, &d) && digits(p + 11, 2, &hh) &&
        digits(p + 14, 2, &mi) && digits(p + 17, 2, &ss) && mo >= 1 && mo <= 12) {
        size_t len = 19;
        if (len < n && (p[len] == '.' || p[len] == ','))
            for (len++; len < n && p[len] >= '0' && p[len] <= '9'; len++)
                ;
        int oh = 0, om = 0, sign = 0;
        if (len < n && p[len] == 'Z')
            len++;
        else if (len + 6 <= n && (p[len] == '+' || p[len] == '-') && p[len + 3] == ':' &&
                 digits(p + len + 1, 2, &oh) && digits(p + len + 4, 2, &om)) {
            sign = p[len] == '+' ? 1 : -1;
            len += 6;
        }
        *t = epoch(y, mo, d, hh, mi, ss) - sign * (oh * 3600 + om * 60);
        return len;
    }
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    if (n >= 29 && p[3] == ',' && p[4] == ' ' && p[7] == ' ' && p[11] == ' ' && p[16] == ' ' && p[19] == ':' &&
        p[22] == ':' && memcmp(p + 25, " GMT", 4) == 0 && digits(p + 5, 2, &d) && digits(p + 12, 4, &y) &&
        digits(p + 17, 2, &hh) && digits(p + 20, 2, &mi) && digits(p + 23, 2, &ss)) {
        for (mo = 0; mo < 12 && memcmp(months + 3 * mo, p + 8, 3) != 0; mo++)
            ;
        if (mo == 12)
            return 0;
        *t = epoch(y, mo + 1, d, hh, mi, ss);
        return 29;
    }
    size_t len = 0;
    while (len < n && len < 14 && p[len] >= '0' && p[len] <= '9')
        len++;
    if ((len == 10 || len == 13) && (len == n || !is_alnum(p[len]))) {
        int64_t v = 0;
        for (size_t i = 0; i < len; i++)
            v = v * 10 + (p[i] - '0');
        *t = len == 13 ? v / 1000 : v;
        return len;
    }
    return 0;
}

bool kl_text_same_but_times(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t i = 0, j = 0;
    while (i < alen && j < blen) {
        /* At a token's start on both sides, two timestamps close enough are skipped whole. */
        if ((i == 0 || !is_alnum(a[i - 1])) && (j == 0 || !is_alnum(b[j - 1]))) {
            int64_t ta, tb;
            size_t la = timestamp(a + i, alen - i, &ta), lb = la ? timestamp(b + j, blen - j, &tb) : 0;
            if (la && lb && ta >= KLI_TIME_MIN && ta < KLI_TIME_MAX && tb >= KLI_TIME_MIN &&
                tb < KLI_TIME_MAX) {
                if ((ta > tb ? ta - tb : tb - ta) >= KLI_TIME_SLACK)
                    return false;
                i += la, j += lb;
                continue;
            }
        }
        if (a[i] != b[j])
            return false;
        i++, j++;
    }
    return i == alen && j == blen;
}
