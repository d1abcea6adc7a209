/* mem.c - the bump arena that owns a session's strings, bytes and arrays. */
#include "kl_internal.h"

#include <stdlib.h>
#include <string.h>

#define CHUNK_MIN (16u << 10)

struct kli_chunk {
    kli_chunk *next;
    size_t cap;
    size_t used;
    bool inside;  /* in its owner's allocation (kli_mem_place): never freed here */
    _Alignas(16) unsigned char data[];
};

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

/* A chunk of the arena's own, of cap bytes (a multiple of 16); NULL when out of memory. */
static kli_chunk *chunk_new(size_t cap)
{
    kli_chunk *c = malloc(sizeof(kli_chunk) + cap);
    if (c)
        *c = (kli_chunk){.cap = cap};
    return c;
}

size_t kli_mem_place_size(size_t n)
{
    return sizeof(kli_chunk) + round16(n);
}

void kli_mem_place(kli_mem *m, void *at, size_t n)
{
    kli_chunk *c = at;
    *c = (kli_chunk){.cap = round16(n), .inside = true};
    m->head = c;
}

kli_mem *kli_mem_new(void)
{
    return calloc(1, sizeof(kli_mem));
}

void kli_mem_release(kli_mem *m)
{
    kli_chunk *c = m->head;
    while (c) {
        kli_chunk *next = c->next;
        if (!c->inside)
            free(c);
        c = next;
    }
    m->head = NULL;
}

void kli_mem_free(kli_mem *m)
{
    if (!m)
        return;
    kli_mem_release(m);
    free(m);
}

void kli_mem_reset(kli_mem *m)
{
    /* An arena has at most one chunk inside its owner's allocation: that one stays. */
    kli_chunk *keep = NULL;
    for (kli_chunk *c = m->head; c; c = c->next)
        if (!keep || c->inside || (!keep->inside && c->cap > keep->cap))
            keep = c;
    for (kli_chunk *c = m->head, *next; c; c = next) {
        next = c->next;
        if (c != keep)
            free(c);
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    m->head = keep;
}

int kli_mem_reserve(kli_mem *m, size_t n)
{
    if (m->head || n > SIZE_MAX - sizeof(kli_chunk) - 15)
        return KL_OK;
    return (m->head = chunk_new(round16(n))) ? KL_OK : KL_ERR_NOMEM;
}

void *kli_alloc(kli_mem *m, size_t n)
{
    n = round16(n);
    kli_chunk *c = m->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = c ? c->cap * 2 : CHUNK_MIN;
        if (cap > (64u << 20))
            cap = 64u << 20;
        if (cap < n)
            cap = n;
        if (cap > SIZE_MAX - sizeof(kli_chunk))
            return NULL;
        kli_chunk *nc = chunk_new(cap);
        if (!nc)
            return NULL;
        /* A big one-off allocation goes behind the current chunk so its free space stays in use. */
        if (c && cap == n && c->cap - c->used >= 256) {
            nc->next = c->next;
            c->next = nc;
            nc->used = n;
            return nc->data;
        }
        nc->next = c;
        m->head = c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

void *kli_zalloc(kli_mem *m, size_t n)
{
    void *p = kli_alloc(m, n);
    if (p)
        memset(p, 0, n);
    return p;
}

void *kli_memdup(kli_mem *m, const void *p, size_t n)
{
    void *d = kli_alloc(m, n);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

char *kli_strdup(kli_mem *m, const char *s)
{
    if (!s)
        return NULL;
    return kli_memdup(m, s, strlen(s) + 1);
}

char *kli_strndup(kli_mem *m, const void *s, size_t n)
{
    char *d = kli_alloc(m, n + 1);
    if (d) {
        if (n)
            memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

size_t kli_cap(size_t n)
{
    size_t cap = 4;
    while (cap < n)
        cap *= 2;
    return cap;
}

void *kli_grow(kli_mem *m, const void *arr, size_t n, size_t sz)
{
    if (n != 0 && n != kli_cap(n))
        return (void *)arr;
    size_t cap = kli_cap(n + 1);
    if (cap > SIZE_MAX / sz)
        return NULL;
    void *na = kli_alloc(m, cap * sz);
    if (na && n)
        memcpy(na, arr, n * sz);
    return na;
}

int kli_copy_bytes(kli_mem *m, kl_bytes *dst, kl_bytes src)
{
    if (!src.len) {
        dst->data = NULL;
        dst->len = 0;
        return KL_OK;
    }
    uint8_t *p = kli_memdup(m, src.data, src.len);
    if (!p)
        return KL_ERR_NOMEM;
    dst->data = p;
    dst->len = src.len;
    return KL_OK;
}

bool kli_bytes_equal(kl_bytes a, kl_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}
