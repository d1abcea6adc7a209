/* match.c - the replayer's outbound-call matcher: which recorded call answers a request the
 * service sends (the original koala's chunk matcher, and cosine similarity of token vectors). */
#include "kl_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The original's constants (koala/replaying/matcher_chunk.go, lexer/lexer.go). */
#define CHUNK 16               /* a request is cut into chunks of this many bytes */
#define CHUNK_LONG 256         /* a longer request leads with its first printable run... */
#define CHUNK_RUN 8            /* ...of more than this many bytes, cut at CHUNK */
#define CHUNK_MATCHED 0.85     /* points per chunk a connection that has matched needs */
#define CHUNK_FRESH 0.1        /* ...and one that has not, or that starts over */
#define SIM_RUN 128            /* the lexer's ReadableChunkSize: longer runs are cut */

/* The chunk index keys every position of a recorded request by the 8 bytes there. */
#define GRAM 8

/* Chunks shorter than GRAM are looked for directly, after a test that rules most requests
 * out: the bytes each has, and a hashed set of its pairs of bytes. */
#define PAIR_BITS 4096

#define NONE UINT32_MAX
#define NO_CALL SIZE_MAX

static const char expect100[] = "Expect: 100-continue";

typedef struct mcall {
    int64_t index;
    uint32_t content;           /* its request, in contents[] */
    uint32_t at;                /* its place among the session's calls */
    unsigned uses;
} mcall;

/* A distinct recorded request: calls with the same bytes share one, so they are scored once. */
typedef struct mcontent {
    const uint8_t *data;
    uint32_t len;
    bool expect100;
} mcontent;

typedef struct mbytes {
    uint64_t byte[256 / 64];
    uint64_t pair[PAIR_BITS / 64];
} mbytes;

/* One position of a recorded request in the chunk index, whose key is the 8 bytes there. */
typedef struct mpost {
    uint32_t content;
    uint32_t pos;
} mpost;

/* While the index is built: a position and the 8 bytes after its key, big-endian (zero past
 * the end), by which each key's positions are sorted. A chunk's second half is then a range
 * found by binary search: one value for 16 bytes, a prefix's values for fewer. */
typedef struct mbuild {
    uint64_t next;
    mpost at;
} mbuild;

/* One token of a recorded request in the sim index. */
typedef struct spost {
    uint32_t content;
    uint32_t weight;
} spost;

/* 64-bit keys to runs of postings: an open-addressed table of key ids. */
typedef struct mindex {
    uint32_t *slot;             /* id + 1; 0 is empty */
    size_t mask;
    uint64_t *key;
    uint32_t *first;            /* n_keys + 1 offsets into the postings */
    size_t n_keys;
} mindex;

/* A token vector under construction: hashed tokens and their summed weights. */
typedef struct tokmap {
    uint64_t *key;
    uint32_t *weight;           /* 0 marks an empty slot */
    uint32_t *used;             /* the slots in use, in insertion order */
    size_t n, mask;
} tokmap;

/* Where one chunk of the request lies, and its postings [a, b) (a == b: none). */
typedef struct mchunk {
    size_t off, len;
    size_t a, b;
} mchunk;

/* A ranking: the best and second-best calls (NO_CALL for none). */
typedef struct mpick {
    size_t best, second;
} mpick;

enum { TAIL_UNKNOWN, TAIL_FOUND, TAIL_MISSING };

/* How one distinct request fares against the chunks of the request being matched: together,
 * so that a posting touches one cache line. */
typedef struct mscan {
    uint32_t cur;               /* start of the remaining bytes */
    uint32_t pos0;              /* where chunk 0 was found, NONE when not */
    uint32_t rest;              /* points of the other chunks */
    uint32_t reach;             /* the last chunk that scored (the original's tie order) */
} mscan;

/* Tokens in at least this share of the distinct requests (and in at least DENSE_MIN) keep a
 * weight for every request in a column: their dot products are sequential loops, four
 * columns at a time, which compilers turn into vector code. A column holds floats, exact for
 * the integer weights below 2^24 it is kept for; sums of products are exact in doubles while
 * below 2^53, far above what requests of 64 MiB reach. */
#define DENSE_SHARE 4
#define DENSE_MIN 64
#define DENSE_WEIGHT (1u << 24)
#define DENSE_GROUP 4

struct kl_matcher {
    kl_match_opts opts;
    mcall *calls;               /* the CallOutbound actions, by index */
    size_t n_calls;
    mcontent *contents;
    size_t n_contents;
    int64_t outs_last;          /* highest index matched on any connection (outsLastMatchedIdx) */
    mindex ix;
    mpost *post;                /* chunk: by key, then next, then content and position */
    mbytes *has;                /* chunk: per content, for short chunks */
    uint64_t *next;             /* chunk: each posting's next 8 bytes, big-endian */
    spost *spost;               /* sim */
    uint32_t *column;           /* sim: per key, its column in dense[], or NONE */
    float *dense;               /* sim: the columns, n_padded weights each */
    size_t n_padded;            /* sim: n_contents rounded up to DENSE_GROUP */
    double *norm;               /* sim: squared norm of each content's vector */
    /* scratch of one match (a matcher serves one thread at a time) */
    mchunk *chunks;
    size_t chunks_cap;
    mscan *scan;                /* chunk */
    uint32_t *reach;            /* chunk: scan[].reach, for the ranking */
    uint8_t *tail;              /* chunk: the last chunk found or not */
    double *dot;                /* sim: n_padded dot products */
    uint32_t *qcol;             /* sim: the request's dense columns... */
    double *qw;                 /* ...and its weights there */
    double *val;                /* per call: its points or similarity, -1 when not eligible */
    tokmap tm;
};

/* ------------------------------------------------------------------ hashing */

static uint64_t load8(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Up to 8 bytes, zero-padded. */
static uint64_t load_part(const uint8_t *p, size_t n)
{
    uint8_t b[8] = {0};
    memcpy(b, p, n < 8 ? n : 8);
    return load8(b);
}

/* Up to 8 bytes as a big-endian number, zero-padded: numbers order as the bytes do. */
static uint64_t load_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (i < n ? p[i] : 0);
    return v;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xbf58476d1ce4e5b9ull);
    for (; n >= 8; p += 8, n -= 8)
        h = mix64(h ^ load8(p));
    return mix64(h ^ load_part(p, n) ^ ((uint64_t)n << 59));
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n)
        p <<= 1;
    return p;
}

/* ------------------------------------------------------------------ index */

static void index_free(mindex *ix)
{
    free(ix->slot);
    free(ix->key);
    free(ix->first);
    memset(ix, 0, sizeof *ix);
}

/* Room for up to max_keys keys and postings. */
static int index_init(mindex *ix, size_t max_keys)
{
    if (max_keys >= UINT32_MAX)
        return KL_ERR_TOOBIG;
    ix->mask = pow2_at_least(2 * max_keys) - 1;
    ix->slot = calloc(ix->mask + 1, sizeof *ix->slot);
    ix->key = malloc((max_keys ? max_keys : 1) * sizeof *ix->key);
    ix->first = calloc(max_keys + 1, sizeof *ix->first);
    ix->n_keys = 0;
    return ix->slot && ix->key && ix->first ? KL_OK : KL_ERR_NOMEM;
}

static size_t index_find(const mindex *ix, uint64_t k)
{
    for (size_t i = mix64(k) & ix->mask;; i = (i + 1) & ix->mask) {
        uint32_t s = ix->slot[i];
        if (!s)
            return NO_CALL;
        if (ix->key[s - 1] == k)
            return s - 1;
    }
}

/* Count one posting of k, adding the key when new. */
static void index_count(mindex *ix, uint64_t k)
{
    size_t i = mix64(k) & ix->mask;
    for (; ix->slot[i]; i = (i + 1) & ix->mask)
        if (ix->key[ix->slot[i] - 1] == k)
            break;
    if (!ix->slot[i]) {
        ix->key[ix->n_keys] = k;
        ix->slot[i] = (uint32_t)++ix->n_keys;
    }
    ix->first[ix->slot[i]]++;   /* first[id + 1] */
}

/* After counting: first[id] becomes where id's postings start, to fill with first[id]++.
 * The arrays sized for every posting a distinct key shrink to the keys there are. */
static void index_open(mindex *ix)
{
    uint64_t *k = realloc(ix->key, (ix->n_keys ? ix->n_keys : 1) * sizeof *k);
    uint32_t *f = realloc(ix->first, (ix->n_keys + 1) * sizeof *f);
    ix->key = k ? k : ix->key;
    ix->first = f ? f : ix->first;
    for (size_t i = 0; i < ix->n_keys; i++)
        ix->first[i + 1] += ix->first[i];
}

/* After filling, first[id] is where id+1's postings start: shift back. */
static void index_close(mindex *ix)
{
    memmove(ix->first + 1, ix->first, ix->n_keys * sizeof *ix->first);
    ix->first[0] = 0;
}

/* ------------------------------------------------------------------ chunk */

static unsigned pair_bit(uint8_t a, uint8_t b)
{
    return ((uint32_t)(a << 8 | b) * 0x9e3779b1u) >> 20;
}

static void bytes_add(mbytes *h, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h->byte[p[i] >> 6] |= 1ull << (p[i] & 63);
        if (i + 1 < len) {
            unsigned b = pair_bit(p[i], p[i + 1]);
            h->pair[b >> 6] |= 1ull << (b & 63);
        }
    }
}

/* False when p cannot be in the request whose bytes h describes. */
static bool bytes_may_hold(const mbytes *h, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!(h->byte[p[i] >> 6] >> (p[i] & 63) & 1))
            return false;
        if (i + 1 < len) {
            unsigned b = pair_bit(p[i], p[i + 1]);
            if (!(h->pair[b >> 6] >> (b & 63) & 1))
                return false;
        }
    }
    return true;
}

static int by_next(const void *a, const void *b)
{
    const mbuild *x = a, *y = b;
    if (x->next != y->next)
        return x->next < y->next ? -1 : 1;
    if (x->at.content != y->at.content)
        return x->at.content < y->at.content ? -1 : 1;
    return x->at.pos < y->at.pos ? -1 : x->at.pos > y->at.pos;
}

/* Every position of every distinct request that has 8 bytes from it. */
static int chunk_prepare(kl_matcher *m)
{
    size_t w = 0;
    for (size_t c = 0; c < m->n_contents; c++)
        w += m->contents[c].len >= GRAM ? m->contents[c].len - GRAM + 1 : 0;
    int rc = index_init(&m->ix, w);
    if (rc != KL_OK)
        return rc;
    mbuild *b = malloc((w ? w : 1) * sizeof *b);
    m->next = malloc((w ? w : 1) * sizeof *m->next);
    m->has = calloc(m->n_contents ? m->n_contents : 1, sizeof *m->has);
    if (!b || !m->next || !m->has) {
        free(b);
        return KL_ERR_NOMEM;
    }
    for (size_t c = 0; c < m->n_contents; c++)
        bytes_add(&m->has[c], m->contents[c].data, m->contents[c].len);
    for (size_t c = 0; c < m->n_contents; c++)
        for (uint32_t p = 0; p + GRAM <= m->contents[c].len; p++)
            index_count(&m->ix, load8(m->contents[c].data + p));
    index_open(&m->ix);
    for (size_t c = 0; c < m->n_contents; c++) {
        const mcontent *ct = &m->contents[c];
        for (uint32_t p = 0; p + GRAM <= ct->len; p++) {
            size_t id = index_find(&m->ix, load8(ct->data + p));
            b[m->ix.first[id]++] = (mbuild){load_be(ct->data + p + GRAM, ct->len - p - GRAM),
                                            {(uint32_t)c, p}};
        }
    }
    index_close(&m->ix);
    for (size_t id = 0; id < m->ix.n_keys; id++)
        if (m->ix.first[id + 1] - m->ix.first[id] > 1)
            qsort(b + m->ix.first[id], m->ix.first[id + 1] - m->ix.first[id], sizeof *b, by_next);
    /* split, the positions packed in place (each moves down): a range is read from one array */
    mpost *post = (mpost *)(void *)b;
    for (size_t k = 0; k < w; k++) {
        m->next[k] = b[k].next;
        mpost at = b[k].at;
        post[k] = at;
    }
    mpost *shrunk = realloc(post, (w ? w : 1) * sizeof *post);
    m->post = shrunk ? shrunk : post;
    return KL_OK;
}

static bool printable(uint8_t b)
{
    return b > 31 && b < 127;
}

/* The original's cutToChunks. @return the number of chunks written to out (room for
 * len / CHUNK + 2). */
static size_t cut_chunks(const uint8_t *req, size_t len, mchunk *out)
{
    size_t n = 0, from = 0;
    if (len > CHUNK_LONG) {
        for (size_t off = 0; off < len;) {
            while (off < len && !printable(req[off]))
                off++;
            size_t end = off;
            while (end < len && printable(req[end]))
                end++;
            if (end - off > CHUNK_RUN) {
                size_t l = end - off < CHUNK ? end - off : CHUNK;
                out[n++] = (mchunk){off, l, 0, 0};
                from = off + l;
                break;
            }
            off = end;
        }
    }
    for (; from + CHUNK <= len; from += CHUNK)
        out[n++] = (mchunk){from, CHUNK, 0, 0};
    if (from < len)
        out[n++] = (mchunk){from, len - from, 0, 0};
    return n;
}

/* The postings of key id whose next bytes start with p[0..r) (r <= 8): [*a, *b). */
static void next_range(const kl_matcher *m, size_t id, const uint8_t *p, size_t r, size_t *a,
                       size_t *b)
{
    uint64_t lo = load_be(p, r), hi = lo | (r == 8 ? 0 : ~0ull >> (8 * r));
    size_t l = m->ix.first[id], h = m->ix.first[id + 1];
    while (l < h) {
        size_t mid = l + (h - l) / 2;
        if (m->next[mid] < lo)
            l = mid + 1;
        else
            h = mid;
    }
    *a = l;
    h = m->ix.first[id + 1];
    while (l < h) {
        size_t mid = l + (h - l) / 2;
        if (m->next[mid] <= hi)
            l = mid + 1;
        else
            h = mid;
    }
    *b = l;
}

/* Find every chunk (but a last one shorter than GRAM, left to tail_found()) in every distinct
 * request, each in the bytes from where the one before it was found, as the original's scan
 * does. The middle chunks, 16 bytes, have exact ranges, sorted by content and position; the
 * first and last may be shorter, and their ranges span several values of next. */
static void chunk_scan(kl_matcher *m, const uint8_t *req, mchunk *ck, size_t n)
{
    size_t nc = m->n_contents;
    mscan *sc = m->scan;
    for (size_t c = 0; c < nc; c++) {
        sc[c] = (mscan){0, NONE, 0, 0};
        m->tail[c] = TAIL_UNKNOWN;
    }
    /* every lookup first: their cache misses overlap */
    for (size_t i = 0; i < n; i++) {
        size_t id = ck[i].len < GRAM ? NO_CALL : index_find(&m->ix, load8(req + ck[i].off));
        if (id != NO_CALL)
            next_range(m, id, req + ck[i].off + GRAM, ck[i].len - GRAM, &ck[i].a, &ck[i].b);
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = req + ck[i].off;
        size_t len = ck[i].len, a = ck[i].a, b = ck[i].b;
        if (len < GRAM) {
            if (i > 0)
                continue;
            /* a request shorter than GRAM: its one chunk is looked for directly */
            for (size_t c = 0; c < nc; c++) {
                if (!bytes_may_hold(&m->has[c], p, len))
                    continue;
                const uint8_t *hit = memmem(m->contents[c].data, m->contents[c].len, p, len);
                if (hit)
                    sc[c].pos0 = (uint32_t)(hit - m->contents[c].data);
            }
            continue;
        }
        /* next is zero past the end of a request: only a chunk ending in a zero byte could
         * match such a position, which must then be checked */
        bool pad = p[len - 1] == 0;
        if (i == 0) {
            /* the first occurrence in each request */
            for (size_t k = a; k < b; k++) {
                mpost q = m->post[k];
                mscan *x = &sc[q.content];
                if (q.pos < x->pos0 && (!pad || q.pos + len <= m->contents[q.content].len))
                    x->pos0 = x->cur = q.pos;
            }
        } else if (i == n - 1) {
            /* the last chunk: only whether it is in the remaining bytes counts */
            for (size_t k = a; k < b; k++) {
                mpost q = m->post[k];
                if (q.pos >= sc[q.content].cur && m->tail[q.content] != TAIL_FOUND &&
                    (!pad || q.pos + len <= m->contents[q.content].len)) {
                    m->tail[q.content] = TAIL_FOUND;
                    sc[q.content].reach = (uint32_t)i;
                }
            }
        } else {
            uint32_t done = NONE;
            for (size_t k = a; k < b; k++) {
                mpost q = m->post[k];
                mscan *x = &sc[q.content];
                if (q.content == done || q.pos < x->cur ||
                    (pad && q.pos + len > m->contents[q.content].len))
                    continue;
                done = q.content;   /* the first occurrence in the remaining bytes */
                x->cur = q.pos;
                x->rest++;
                x->reach = (uint32_t)i;
            }
        }
    }
}

/* Whether a last chunk shorter than GRAM is in content c's remaining bytes (found once). */
static bool tail_found(kl_matcher *m, size_t c, const uint8_t *p, size_t len, size_t n)
{
    if (m->tail[c] == TAIL_UNKNOWN) {
        const mcontent *ct = &m->contents[c];
        uint32_t cur = m->scan[c].cur;
        bool hit = bytes_may_hold(&m->has[c], p, len) &&
                   memmem(ct->data + cur, ct->len - cur, p, len) != NULL;
        m->tail[c] = hit ? TAIL_FOUND : TAIL_MISSING;
        if (hit)
            m->scan[c].reach = (uint32_t)(n - 1);
    }
    return m->tail[c] == TAIL_FOUND;
}

/* What finding chunk 0 at pos is worth: the whole count on a fresh connection, where the
 * first chunk decides; half of it at the very start of the remaining bytes otherwise. */
static uint32_t first_weight(bool fresh, size_t n, uint32_t pos)
{
    if (fresh)
        return (uint32_t)n;
    if (pos == 0)
        return n / 2 <= 1 ? 2 : (uint32_t)(n / 2);
    return 1;
}

static uint32_t chunk_points(const kl_matcher *m, size_t c, bool fresh, size_t n)
{
    const mscan *x = &m->scan[c];
    uint32_t v = x->pos0 == NONE ? 0 : first_weight(fresh, n, x->pos0);
    return v + x->rest + (m->tail[c] == TAIL_FOUND);
}

/* ------------------------------------------------------------------ ranking */

/* Whether call a ranks before call b: the higher value, then the call used less often, then
 * the original's order: the first call after start, else (chunk) the first to reach the value
 * in the scan, else the first. */
static bool ahead(const kl_matcher *m, const uint32_t *reach, int64_t start, size_t a, size_t b)
{
    if (m->val[a] != m->val[b])
        return m->val[a] > m->val[b];
    const mcall *ca = &m->calls[a], *cb = &m->calls[b];
    if (ca->uses != cb->uses)
        return ca->uses < cb->uses;
    bool la = ca->index > start, lb = cb->index > start;
    if (la != lb)
        return la;
    if (!la && reach && reach[ca->content] != reach[cb->content])
        return reach[ca->content] < reach[cb->content];
    return a < b;
}

static mpick rank_calls(const kl_matcher *m, const uint32_t *reach, int64_t start)
{
    mpick p = {NO_CALL, NO_CALL};
    for (size_t j = 0; j < m->n_calls; j++) {
        double v = m->val[j];
        if (v <= 0 || (p.second != NO_CALL && v < m->val[p.second]))
            continue;
        if (p.best == NO_CALL || ahead(m, reach, start, j, p.best)) {
            p.second = p.best;
            p.best = j;
        } else if (p.second == NO_CALL || ahead(m, reach, start, j, p.second)) {
            p.second = j;
        }
    }
    return p;
}

static double unit(double v)
{
    return v < 1 ? v : 1;
}

/* Fill out from a ranking whose values are scores once divided by full (1 for identical). */
static void report(kl_matcher *m, mpick p, bool accepted, double full, kl_match *out)
{
    size_t shown = accepted ? p.second : p.best;
    if (accepted) {
        mcall *c = &m->calls[p.best];
        out->index = c->index;
        out->score = unit(m->val[p.best] / full);
        c->uses++;
        if (c->index > m->outs_last)
            m->outs_last = c->index;
    }
    if (shown != NO_CALL) {
        out->runner_up_index = m->calls[shown].index;
        out->runner_up_score = unit(m->val[shown] / full);
    }
}

/* One scoring of the chunks: from scratch (fresh) or for the calls after last only.
 * @return whether the best call passed the threshold. */
static bool chunk_pass(kl_matcher *m, const uint8_t *req, const mchunk *ck, size_t n, bool fresh,
                       int64_t last, bool expect, mpick *p)
{
    double b1 = 0, b2 = 0;
    for (size_t j = 0; j < m->n_calls; j++) {
        uint32_t c = m->calls[j].content;
        if ((!fresh && m->calls[j].index <= last) || m->contents[c].expect100 != expect) {
            m->val[j] = -1;
            continue;
        }
        double v = chunk_points(m, c, fresh, n);
        m->val[j] = v;
        if (v > b1) {
            b2 = b1;
            b1 = v;
        } else if (v > b2) {
            b2 = v;
        }
    }
    /* A short last chunk is worth one point: look for it only in calls that it could lift
     * into the first two places. */
    const mchunk *t = &ck[n - 1];
    if (n >= 2 && t->len < GRAM)
        for (size_t j = 0; j < m->n_calls; j++)
            if (m->val[j] >= 0 && m->val[j] + 1 >= b2 &&
                tail_found(m, m->calls[j].content, req + t->off, t->len, n))
                m->val[j] = chunk_points(m, m->calls[j].content, fresh, n);
    for (size_t c = 0; c < m->n_contents; c++)
        m->reach[c] = m->scan[c].reach;
    *p = rank_calls(m, m->reach, m->outs_last);
    return p->best != NO_CALL &&
           m->val[p->best] / (double)n >= (fresh ? CHUNK_FRESH : CHUNK_MATCHED);
}

/* The points of an identical request, where chunk 0 lies at its first occurrence. */
static double chunk_full(const mchunk *ck, size_t n, bool fresh)
{
    return first_weight(fresh, n, (uint32_t)(ck[0].off ? 1 : 0)) + (double)(n - 1);
}

static int chunk_match(kl_matcher *m, const uint8_t *req, size_t len, int64_t last,
                       kl_match *out)
{
    size_t need = len / CHUNK + 2;
    if (need > m->chunks_cap) {
        mchunk *ck = realloc(m->chunks, need * sizeof *ck);
        if (!ck)
            return KL_ERR_NOMEM;
        m->chunks = ck;
        m->chunks_cap = need;
    }
    size_t n = cut_chunks(req, len, m->chunks);
    bool expect = memmem(req, len, expect100, sizeof expect100 - 1) != NULL;
    chunk_scan(m, req, m->chunks, n);
    mpick p;
    /* a connection that has matched looks further on first, then starts over */
    if (last >= 0 && chunk_pass(m, req, m->chunks, n, false, last, expect, &p)) {
        report(m, p, true, chunk_full(m->chunks, n, false), out);
        return KL_OK;
    }
    bool ok = chunk_pass(m, req, m->chunks, n, true, -1, expect, &p);
    report(m, p, ok, chunk_full(m->chunks, n, true), out);
    return KL_OK;
}

/* ------------------------------------------------------------------ sim */

static int tokmap_reserve(tokmap *tm, size_t max_tokens)
{
    size_t cap = pow2_at_least(2 * max_tokens);
    if (cap <= tm->mask + 1 && tm->key)
        return KL_OK;
    free(tm->key);
    free(tm->weight);
    free(tm->used);
    tm->key = malloc(cap * sizeof *tm->key);
    tm->weight = calloc(cap, sizeof *tm->weight);
    tm->used = malloc(cap * sizeof *tm->used);
    tm->n = 0;
    tm->mask = cap - 1;
    if (tm->key && tm->weight && tm->used)
        return KL_OK;
    free(tm->key);
    free(tm->weight);
    free(tm->used);
    memset(tm, 0, sizeof *tm);
    return KL_ERR_NOMEM;
}

static void tokmap_clear(tokmap *tm)
{
    for (size_t i = 0; i < tm->n; i++)
        tm->weight[tm->used[i]] = 0;
    tm->n = 0;
}

/* Add weight w (> 0) to the token of hash h; weights saturate, only absurd sizes reach it. */
static void tokmap_add(tokmap *tm, uint64_t h, uint64_t w)
{
    size_t i = h & tm->mask;
    while (tm->weight[i] && tm->key[i] != h)
        i = (i + 1) & tm->mask;
    if (!tm->weight[i]) {
        tm->key[i] = h;
        tm->used[tm->n++] = (uint32_t)i;
    }
    uint64_t s = tm->weight[i] + w;
    tm->weight[i] = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* Length of the word character at p: an ASCII letter or digit, '.', '_' (1), or a whole UTF-8
 * sequence (2 to 4; the original asks unicode.IsLetter/IsNumber, we take every non-ASCII
 * character for a letter); 0 for any other byte. */
static size_t word_char(const uint8_t *p, size_t n)
{
    uint8_t b = p[0];
    if (b < 0x80) {
        bool alnum = (b >= '0' && b <= '9') || ((b | 0x20) >= 'a' && (b | 0x20) <= 'z');
        return alnum || b == '.' || b == '_';
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;   /* bounds of the second byte, which excludes overlongs */
    if (b >= 0xc2 && b <= 0xdf) {
        len = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
        len = 3;
        lo = b == 0xe0 ? 0xa0 : 0x80;
        hi = b == 0xed ? 0x9f : 0xbf; /* no surrogates */
    } else if (b >= 0xf0 && b <= 0xf4) {
        len = 4;
        lo = b == 0xf0 ? 0x90 : 0x80;
        hi = b == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* The original's HTTP lexer: when text starts with a request line, its URI (without the query)
 * and the URI's path segments weigh their length times one more than the header lines. */
static void http_tokens(tokmap *tm, const uint8_t *t, size_t len)
{
    static const char *const methods[] = {"GET",  "POST",    "PUT",   "DELETE",
                                          "HEAD", "OPTIONS", "TRACE", "CONNECT"};
    const uint8_t *nl = memchr(t, '\n', len);
    size_t eol = nl ? (size_t)(nl - t) : len, ml = 0;
    for (size_t i = 0; i < sizeof methods / sizeof *methods && !ml; i++) {
        size_t l = strlen(methods[i]);
        if (len > l && !memcmp(t, methods[i], l) && t[l] == ' ')
            ml = l;
    }
    if (!ml)
        return;
    /* the regexp `^METHOD (.*) HTTP/1\.[10]` on the first line */
    size_t proto = 0;
    for (size_t k = ml + 1; !proto && k + 9 <= eol; k++)
        if (!memcmp(t + k, " HTTP/1.", 8) && (t[k + 8] == '0' || t[k + 8] == '1'))
            proto = k;
    if (!proto)
        return;
    uint64_t lines = 0;
    for (const uint8_t *h = nl ? nl + 1 : t + len, *end = t + len; h < end;) {
        const uint8_t *e = memchr(h, '\n', (size_t)(end - h));
        if (!e || e - h < 3)
            break;
        lines++;
        h = e + 1;
    }
    /* the URI runs from after the method to the next space, which the search above found */
    const uint8_t *uri = t + ml + 1;
    size_t ul = (size_t)((const uint8_t *)memchr(uri, ' ', proto + 1 - ml) - uri);
    const uint8_t *q = memchr(uri, '?', ul);
    if (q && q > uri)
        ul = (size_t)(q - uri);
    if (ul)
        tokmap_add(tm, hash_bytes(uri, ul), ul * (1 + lines));
    for (size_t i = 0; i < ul;) {
        size_t j = i;
        while (j < ul && uri[j] != '/')
            j++;
        if (j > i)
            tokmap_add(tm, hash_bytes(uri + i, j - i), (j - i) * (1 + lines));
        i = j + 1;
    }
}

/* The original's Lex2Vector: runs of word characters weigh their length (cut every SIM_RUN
 * bytes), every other byte is a token of weight one. tm must have room (tokmap_reserve). */
static void tokenize(tokmap *tm, const uint8_t *t, size_t len)
{
    tokmap_clear(tm);
    for (size_t i = 0; i < len;) {
        size_t w = word_char(t + i, len - i);
        if (!w) {
            tokmap_add(tm, hash_bytes(t + i, 1), 1);
            i++;
            continue;
        }
        size_t e = i + w;
        while (e < len && (w = word_char(t + e, len - e)) > 0)
            e += w;
        if (e - i > SIM_RUN)
            e = i + SIM_RUN;    /* may split a character: its rest are single bytes then */
        tokmap_add(tm, hash_bytes(t + i, e - i), e - i);
        i = e;
    }
    http_tokens(tm, t, len);
}

/* At most one token per byte, and the URI's and its segments' fewer still. */
static size_t max_tokens(size_t len)
{
    return 2 * len + 2;
}

static uint64_t tokmap_norm(const tokmap *tm)
{
    uint64_t s = 0;
    for (size_t i = 0; i < tm->n; i++) {
        uint64_t w = tm->weight[tm->used[i]];
        s += w * w;
    }
    return s;
}

/* Columns for the tokens most requests have (punctuation, common words and keys). */
static int sim_dense(kl_matcher *m)
{
    size_t nc = m->n_contents, cols = 0;
    size_t min = nc / DENSE_SHARE > DENSE_MIN ? nc / DENSE_SHARE : DENSE_MIN;
    m->n_padded = (nc + DENSE_GROUP - 1) / DENSE_GROUP * DENSE_GROUP;
    m->column = malloc((m->ix.n_keys ? m->ix.n_keys : 1) * sizeof *m->column);
    m->dot = malloc((m->n_padded ? m->n_padded : 1) * sizeof *m->dot);
    if (!m->column || !m->dot)
        return KL_ERR_NOMEM;
    for (size_t id = 0; id < m->ix.n_keys; id++) {
        bool dense = m->ix.first[id + 1] - m->ix.first[id] >= min;
        for (size_t k = m->ix.first[id]; dense && k < m->ix.first[id + 1]; k++)
            dense = m->spost[k].weight < DENSE_WEIGHT;
        m->column[id] = dense ? (uint32_t)cols++ : NONE;
    }
    m->dense = calloc(cols ? cols * m->n_padded : 1, sizeof *m->dense);
    m->qcol = malloc((cols + DENSE_GROUP) * sizeof *m->qcol);
    m->qw = malloc((cols + DENSE_GROUP) * sizeof *m->qw);
    if (!m->dense || !m->qcol || !m->qw)
        return KL_ERR_NOMEM;
    for (size_t id = 0; id < m->ix.n_keys; id++)
        if (m->column[id] != NONE)
            for (size_t k = m->ix.first[id]; k < m->ix.first[id + 1]; k++)
                m->dense[m->column[id] * m->n_padded + m->spost[k].content] =
                    (float)m->spost[k].weight;
    return KL_OK;
}

/* dot += the request's weights times its dense columns. */
static void sim_dense_dots(kl_matcher *m, size_t n)
{
    size_t np = m->n_padded;
    double *dot = m->dot;
    for (; n % DENSE_GROUP; n++) {
        m->qcol[n] = m->qcol[0];    /* padding: weight 0 on any column */
        m->qw[n] = 0;
    }
    for (size_t g = 0; g < n; g += DENSE_GROUP) {
        const float *c0 = m->dense + (size_t)m->qcol[g] * np;
        const float *c1 = m->dense + (size_t)m->qcol[g + 1] * np;
        const float *c2 = m->dense + (size_t)m->qcol[g + 2] * np;
        const float *c3 = m->dense + (size_t)m->qcol[g + 3] * np;
        double w0 = m->qw[g], w1 = m->qw[g + 1], w2 = m->qw[g + 2], w3 = m->qw[g + 3];
        for (size_t c = 0; c < np; c += DENSE_GROUP)
            for (size_t k = 0; k < DENSE_GROUP; k++)
                dot[c + k] += w0 * c0[c + k] + w1 * c1[c + k] + w2 * c2[c + k] + w3 * c3[c + k];
    }
}

static int sim_prepare(kl_matcher *m)
{
    size_t total = 0, longest = 0;
    for (size_t c = 0; c < m->n_contents; c++) {
        total += max_tokens(m->contents[c].len);
        if (m->contents[c].len > longest)
            longest = m->contents[c].len;
    }
    int rc = tokmap_reserve(&m->tm, max_tokens(longest));
    if (rc != KL_OK)
        return rc;
    /* each content's distinct tokens, kept until they are posted */
    uint64_t *tk = malloc((total ? total : 1) * sizeof *tk);
    uint32_t *tw = malloc((total ? total : 1) * sizeof *tw);
    size_t *from = malloc((m->n_contents + 1) * sizeof *from);
    m->norm = malloc((m->n_contents ? m->n_contents : 1) * sizeof *m->norm);
    rc = tk && tw && from && m->norm ? KL_OK : KL_ERR_NOMEM;
    size_t n = 0;
    for (size_t c = 0; rc == KL_OK && c < m->n_contents; c++) {
        tokenize(&m->tm, m->contents[c].data, m->contents[c].len);
        from[c] = n;
        for (size_t i = 0; i < m->tm.n; i++, n++) {
            tk[n] = m->tm.key[m->tm.used[i]];
            tw[n] = m->tm.weight[m->tm.used[i]];
        }
        m->norm[c] = (double)tokmap_norm(&m->tm);
    }
    if (rc == KL_OK) {
        from[m->n_contents] = n;
        rc = index_init(&m->ix, n);
    }
    if (rc == KL_OK) {
        m->spost = malloc((n ? n : 1) * sizeof *m->spost);
        rc = m->spost ? KL_OK : KL_ERR_NOMEM;
    }
    if (rc == KL_OK) {
        for (size_t i = 0; i < n; i++)
            index_count(&m->ix, tk[i]);
        index_open(&m->ix);
        for (size_t c = 0; c < m->n_contents; c++)
            for (size_t i = from[c]; i < from[c + 1]; i++)
                m->spost[m->ix.first[index_find(&m->ix, tk[i])]++] = (spost){(uint32_t)c, tw[i]};
        index_close(&m->ix);
        rc = sim_dense(m);
    }
    free(tk);
    free(tw);
    free(from);
    return rc;
}

static int sim_match(kl_matcher *m, const uint8_t *req, size_t len, int64_t last, kl_match *out)
{
    int rc = tokmap_reserve(&m->tm, max_tokens(len));
    if (rc != KL_OK)
        return rc;
    tokenize(&m->tm, req, len);
    double qn = (double)tokmap_norm(&m->tm);
    double *dot = m->dot;
    memset(dot, 0, m->n_padded * sizeof *dot);
    /* integer weights, exact sums: equal vectors score exactly 1 */
    size_t nd = 0;
    for (size_t i = 0; i < m->tm.n; i++) {
        size_t id = index_find(&m->ix, m->tm.key[m->tm.used[i]]);
        if (id == NO_CALL)
            continue;
        double w = m->tm.weight[m->tm.used[i]];
        if (m->column[id] != NONE) {
            m->qcol[nd] = m->column[id];
            m->qw[nd++] = w;
        } else {
            for (size_t k = m->ix.first[id], end = m->ix.first[id + 1]; k < end; k++)
                dot[m->spost[k].content] += w * m->spost[k].weight;
        }
    }
    sim_dense_dots(m, nd);
    for (size_t j = 0; j < m->n_calls; j++) {
        uint32_t c = m->calls[j].content;
        m->val[j] = dot[c] > 0 ? unit(dot[c] / sqrt(qn * m->norm[c])) : 0;
    }
    mpick p = rank_calls(m, NULL, last >= 0 ? last : m->outs_last);
    report(m, p, p.best != NO_CALL && m->val[p.best] >= m->opts.threshold, 1, out);
    return KL_OK;
}

/* ------------------------------------------------------------------ matcher */

void kl_match_opts_init(kl_match_opts *o)
{
    memset(o, 0, sizeof *o);
    o->strategy = KL_MATCH_CHUNK;
    o->threshold = KL_MATCH_THRESHOLD;
}

int kl_match_strategy_parse(const char *text, kl_match_strategy *out)
{
    if (!text || !out)
        return KL_ERR_INVALID;
    if (!strcasecmp(text, "chunk"))
        *out = KL_MATCH_CHUNK;
    else if (!strcasecmp(text, "sim"))
        *out = KL_MATCH_SIM;
    else
        return KL_ERR_INVALID;
    return KL_OK;
}

const char *kl_match_strategy_name(kl_match_strategy s)
{
    switch (s) {
    case KL_MATCH_CHUNK:
        return "chunk";
    case KL_MATCH_SIM:
        return "sim";
    }
    return "unknown";
}

static int by_index(const void *a, const void *b)
{
    const mcall *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* The CallOutbound actions, in index order, each pointing at its distinct request. */
static int collect_calls(kl_matcher *m, const kl_session *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_actions; i++) {
        if (s->actions[i].type != KL_ACTION_CALL_OUTBOUND)
            continue;
        if (s->actions[i].request.len > UINT32_MAX - 2 * CHUNK)
            return KL_ERR_TOOBIG;
        n++;
    }
    m->calls = calloc(n ? n : 1, sizeof *m->calls);
    m->contents = calloc(n ? n : 1, sizeof *m->contents);
    mindex seen = {0};
    int rc = m->calls && m->contents ? index_init(&seen, n) : KL_ERR_NOMEM;
    for (size_t i = 0; rc == KL_OK && i < s->n_actions; i++) {
        const kl_action *a = &s->actions[i];
        if (a->type != KL_ACTION_CALL_OUTBOUND)
            continue;
        const uint8_t *d = a->request.len ? a->request.data : (const uint8_t *)"";
        uint64_t h = hash_bytes(d, a->request.len);
        /* equal hashes are compared byte for byte; a true collision just gets its own slot */
        size_t k = mix64(h) & seen.mask, c = NO_CALL;
        for (; seen.slot[k]; k = (k + 1) & seen.mask) {
            const mcontent *ct = &m->contents[seen.slot[k] - 1];
            if (seen.key[seen.slot[k] - 1] == h && ct->len == a->request.len &&
                !memcmp(ct->data, d, ct->len)) {
                c = seen.slot[k] - 1;
                break;
            }
        }
        if (c == NO_CALL) {
            c = m->n_contents++;
            seen.key[c] = h;
            seen.slot[k] = (uint32_t)(c + 1);
            m->contents[c] = (mcontent){d, (uint32_t)a->request.len,
                                        memmem(d, a->request.len, expect100,
                                               sizeof expect100 - 1) != NULL};
        }
        m->calls[m->n_calls] = (mcall){a->index, (uint32_t)c, (uint32_t)m->n_calls, 0};
        m->n_calls++;
    }
    index_free(&seen);
    if (rc == KL_OK)
        qsort(m->calls, m->n_calls, sizeof *m->calls, by_index);
    return rc;
}

int kl_matcher_new(const kl_session *s, const kl_match_opts *o, kl_matcher **out)
{
    if (!out)
        return KL_ERR_INVALID;
    *out = NULL;
    kl_match_opts def;
    kl_match_opts_init(&def);
    if (!o)
        o = &def;
    if (!s || (o->strategy != KL_MATCH_CHUNK && o->strategy != KL_MATCH_SIM) ||
        isnan(o->threshold))
        return KL_ERR_INVALID;
    kl_matcher *m = calloc(1, sizeof *m);
    if (!m)
        return KL_ERR_NOMEM;
    m->opts = *o;
    m->outs_last = -1;
    int rc = collect_calls(m, s);
    if (rc == KL_OK) {
        size_t nc = m->n_contents ? m->n_contents : 1;
        m->val = malloc((m->n_calls ? m->n_calls : 1) * sizeof *m->val);
        if (o->strategy == KL_MATCH_SIM) {
            rc = m->val ? sim_prepare(m) : KL_ERR_NOMEM;
        } else {
            m->scan = malloc(nc * sizeof *m->scan);
            m->reach = malloc(nc * sizeof *m->reach);
            m->tail = malloc(nc * sizeof *m->tail);
            rc = m->val && m->scan && m->reach && m->tail ? chunk_prepare(m) : KL_ERR_NOMEM;
        }
    }
    if (rc != KL_OK) {
        kl_matcher_free(m);
        return rc;
    }
    *out = m;
    return KL_OK;
}

/* An empty request (a client waiting for a server's greeting) is answered by a recorded call
 * with an empty request, in the same order as equal scores. */
static void empty_match(kl_matcher *m, int64_t last, kl_match *out)
{
    for (size_t j = 0; j < m->n_calls; j++)
        m->val[j] = m->contents[m->calls[j].content].len == 0;
    mpick p = rank_calls(m, NULL, last >= 0 ? last : m->outs_last);
    report(m, p, p.best != NO_CALL, 1, out);
}

int kl_matcher_match(kl_matcher *m, const uint8_t *req, size_t len, int64_t last, kl_match *out)
{
    if (!m || !out || (!req && len))
        return KL_ERR_INVALID;
    *out = (kl_match){.index = -1, .runner_up_index = -1};
    if (!len) {
        empty_match(m, last, out);
        return KL_OK;
    }
    if (m->opts.strategy == KL_MATCH_SIM)
        return sim_match(m, req, len, last, out);
    return chunk_match(m, req, len, last, out);
}

size_t kl_matcher_unused(const kl_matcher *m, int64_t *out, size_t max)
{
    size_t n = 0;
    for (size_t j = 0; m && j < m->n_calls; j++)
        if (!m->calls[j].uses) {
            if (n < max)
                out[n] = m->calls[j].index;
            n++;
        }
    return n;
}

unsigned kl_matcher_uses(const kl_matcher *m, int64_t index)
{
    if (!m)
        return 0;
    size_t lo = 0, hi = m->n_calls;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->calls[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->n_calls && m->calls[lo].index == index ? m->calls[lo].uses : 0;
}

void kl_matcher_free(kl_matcher *m)
{
    if (!m)
        return;
    index_free(&m->ix);
    free(m->calls);
    free(m->contents);
    free(m->post);
    free(m->next);
    free(m->has);
    free(m->spost);
    free(m->norm);
    free(m->chunks);
    free(m->scan);
    free(m->reach);
    free(m->tail);
    free(m->column);
    free(m->dense);
    free(m->dot);
    free(m->qcol);
    free(m->qw);
    free(m->val);
    free(m->tm.key);
    free(m->tm.weight);
    free(m->tm.used);
    free(m);
}
