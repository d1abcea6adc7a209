/* merge.c - k-way merge of session files by (time, id), append and id dedupe, in bounded memory. */
#include "kl_internal.h"

#include <stdlib.h>
#include <string.h>

#define NONE ((size_t)-1)

struct kl_merge {
    kl_reader **readers;
    kl_raw *pending;     /* each input's current record, borrowed from its reader */
    size_t n;
    unsigned flags;
    size_t *heap;        /* inputs with a pending record, smallest (time, id, input) on top */
    size_t nheap;
    size_t next_prime;   /* inputs below this have read their first record */
    size_t delivered;    /* input whose record the caller holds: it advances on the next call */
    size_t cursor;       /* KL_MERGE_APPEND: the input being read */
    uint64_t duplicates;
    /* KL_MERGE_DEDUPE: an open-addressing set of 64-bit id hashes (0 marks a free slot).
     * We bet that two distinct ids never share a 64-bit hash (about 1 in 10^6 at 10^7
     * sessions): the cost is 16 to 32 bytes per session instead of the whole id. */
    uint64_t *ids;
    size_t ids_cap;
    size_t ids_len;
};

static int raw_less(const kl_merge *m, size_t a, size_t b)
{
    const kl_raw *x = &m->pending[a], *y = &m->pending[b];
    if (x->time != y->time)
        return x->time < y->time;
    int c = strcmp(x->id ? x->id : "", y->id ? y->id : "");
    if (c)
        return c < 0;
    return a < b; /* equal records leave in argument order, so dedupe keeps the first input's */
}

static void heap_push(kl_merge *m, size_t in)
{
    size_t i = m->nheap++;
    m->heap[i] = in;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!raw_less(m, m->heap[i], m->heap[parent]))
            break;
        size_t t = m->heap[i];
        m->heap[i] = m->heap[parent];
        m->heap[parent] = t;
        i = parent;
    }
}

static size_t heap_pop(kl_merge *m)
{
    size_t top = m->heap[0];
    m->heap[0] = m->heap[--m->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, min = i;
        if (l < m->nheap && raw_less(m, m->heap[l], m->heap[min]))
            min = l;
        if (r < m->nheap && raw_less(m, m->heap[r], m->heap[min]))
            min = r;
        if (min == i)
            break;
        size_t t = m->heap[i];
        m->heap[i] = m->heap[min];
        m->heap[min] = t;
        i = min;
    }
    return top;
}

/* FNV-1a 64, then a murmur3 finaliser so that near-identical ids spread over the table. */
static uint64_t id_hash(const char *id)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h ? h : 1;
}

static int ids_grow(kl_merge *m)
{
    size_t cap = m->ids_cap ? m->ids_cap * 2 : 1024;
    uint64_t *t = calloc(cap, sizeof *t);
    if (!t)
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < m->ids_cap; i++) {
        if (!m->ids[i])
            continue;
        size_t j = (size_t)m->ids[i] & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = m->ids[i];
    }
    free(m->ids);
    m->ids = t;
    m->ids_cap = cap;
    return KL_OK;
}

/* Adds id to the set. @return 1 when it was already there, 0 when added, or KL_ERR_NOMEM. */
static int ids_insert(kl_merge *m, const char *id)
{
    if ((m->ids_len + 1) * 4 > m->ids_cap * 3 && ids_grow(m) != KL_OK)
        return KL_ERR_NOMEM;
    uint64_t h = id_hash(id);
    size_t j = (size_t)h & (m->ids_cap - 1);
    for (; m->ids[j]; j = (j + 1) & (m->ids_cap - 1))
        if (m->ids[j] == h)
            return 1;
    m->ids[j] = h;
    m->ids_len++;
    return 0;
}

int kl_merge_open(kl_merge **out, kl_reader *const *readers, size_t n, unsigned flags)
{
    if (!out)
        return KL_ERR_INVALID;
    *out = NULL;
    if ((n && !readers) || (flags & ~(KL_MERGE_APPEND | KL_MERGE_DEDUPE)))
        return KL_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!readers[i])
            return KL_ERR_INVALID;
    kl_merge *m = calloc(1, sizeof *m);
    if (!m)
        return KL_ERR_NOMEM;
    size_t slots = n ? n : 1;
    m->readers = calloc(slots, sizeof *m->readers);
    m->pending = calloc(slots, sizeof *m->pending);
    m->heap = calloc(slots, sizeof *m->heap);
    if (!m->readers || !m->pending || !m->heap) {
        kl_merge_close(m);
        return KL_ERR_NOMEM;
    }
    if (n)
        memcpy(m->readers, readers, n * sizeof *readers);
    m->n = n;
    m->flags = flags;
    m->delivered = NONE;
    *out = m;
    return KL_OK;
}

/* Reads input in's next record into its pending slot and, in time order, onto the heap.
 * @return KL_OK (record or clean end) or the input's error. */
static int advance(kl_merge *m, size_t in)
{
    int rc = kl_reader_next_raw(m->readers[in], &m->pending[in]);
    if (rc == KL_OK) {
        if (!(m->flags & KL_MERGE_APPEND))
            heap_push(m, in);
        return KL_OK;
    }
    return rc == KL_END ? KL_OK : rc;
}

/* Picks the next candidate record without dedupe. @return KL_OK with *src, KL_END, or an
 * input's error with *src. */
static int pick(kl_merge *m, size_t *src)
{
    if (m->flags & KL_MERGE_APPEND) {
        while (m->cursor < m->n) {
            size_t in = m->cursor;
            int rc = kl_reader_next_raw(m->readers[in], &m->pending[in]);
            if (rc == KL_OK) {
                *src = in;
                return KL_OK;
            }
            m->cursor++;
            if (rc != KL_END) {
                *src = in;
                return rc;
            }
        }
        return KL_END;
    }
    if (m->delivered != NONE) {
        size_t in = m->delivered;
        m->delivered = NONE;
        int rc = advance(m, in);
        if (rc != KL_OK) {
            *src = in;
            return rc;
        }
    }
    /* First records are read lazily so an input's error surfaces as one kl_merge_next()
     * result, like any later error, and the other inputs go on. */
    while (m->next_prime < m->n) {
        size_t in = m->next_prime++;
        int rc = advance(m, in);
        if (rc != KL_OK) {
            *src = in;
            return rc;
        }
    }
    if (!m->nheap)
        return KL_END;
    size_t in = heap_pop(m);
    m->delivered = in;
    *src = in;
    return KL_OK;
}

int kl_merge_next(kl_merge *m, kl_raw *raw, size_t *src)
{
    if (!m || !raw || !src)
        return KL_ERR_INVALID;
    for (;;) {
        int rc = pick(m, src);
        if (rc != KL_OK)
            return rc;
        const kl_raw *p = &m->pending[*src];
        /* A session without an id cannot be told apart from another: always keep it. */
        if ((m->flags & KL_MERGE_DEDUPE) && p->id && p->id[0]) {
            int seen = ids_insert(m, p->id);
            if (seen < 0)
                return seen;
            if (seen) {
                m->duplicates++;
                continue;
            }
        }
        *raw = *p;
        return KL_OK;
    }
}

int kl_merge_skip_damage(kl_merge *m, size_t in, uint64_t *skipped)
{
    *skipped = 0;
    if (!m || in >= m->n)
        return KL_ERR_INVALID;
    int rc = kl_reader_skip_damage(m->readers[in], skipped);
    if (rc != KL_OK)
        return rc;
    /* read again from there: at the next pick, as an input whose record was taken */
    if (m->flags & KL_MERGE_APPEND)
        m->cursor = in;
    else
        m->delivered = in;
    return KL_OK;
}

uint64_t kl_merge_duplicates(const kl_merge *m)
{
    return m ? m->duplicates : 0;
}

void kl_merge_close(kl_merge *m)
{
    if (!m)
        return;
    free(m->readers);
    free(m->pending);
    free(m->heap);
    free(m->ids);
    free(m);
}
