/* hk_fd.c - the fd table: what each fd number is, shared by every thread.
 *
 * Entries live in chunks allocated on first use and never freed, so no thread ever follows a
 * dangling pointer. The kind is one atomic byte, read without a lock on every read and write;
 * the addresses behind it take the entry's own lock, so threads on different fds never wait
 * for each other. */
#include "hk.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 1024
#define CHUNKS (HK_FD_MAX / CHUNK)

typedef struct entry {
    atomic_uchar kind;
    atomic_uint gen;             /* changes with every store: a thread's copy is still good */
    pthread_mutex_t lock;
    hk_fd_info info;
} entry;

/* The calling thread's copy of the last entry it read: data calls on one connection in a row
 * (the common case) neither lock nor copy. */
static __thread struct {
    int fd;
    unsigned gen;
    entry *e;
    hk_fd_info info;
} cache __attribute__((tls_model("initial-exec")));

static _Atomic(entry *) chunks[CHUNKS];

/* The entry of fd, allocating its chunk when create is true; NULL when out of range. */
static entry *slot(int fd, bool create)
{
    if (fd < 0 || fd >= HK_FD_MAX)
        return NULL;
    entry *c = atomic_load_explicit(&chunks[fd / CHUNK], memory_order_acquire);
    if (!c && create) {
        entry *fresh = calloc(CHUNK, sizeof *fresh);
        if (!fresh)
            return NULL;
        for (int i = 0; i < CHUNK; i++)
            pthread_mutex_init(&fresh[i].lock, NULL);
        if (atomic_compare_exchange_strong(&chunks[fd / CHUNK], &c, fresh)) {
            c = fresh;
        } else {
            for (int i = 0; i < CHUNK; i++)
                pthread_mutex_destroy(&fresh[i].lock);
            free(fresh); /* another thread won; c holds its chunk */
        }
    }
    return c ? &c[fd % CHUNK] : NULL;
}

hk_fd_kind hk_fd_kind_of(int fd)
{
    if (fd >= HK_FD_MAX)
        return HK_FD_OTHER;
    entry *e = slot(fd, false);
    return e ? (hk_fd_kind)atomic_load_explicit(&e->kind, memory_order_acquire) : HK_FD_UNKNOWN;
}

bool hk_fd_get(int fd, hk_fd_info *out)
{
    entry *e = slot(fd, false);
    if (!e)
        return false;
    pthread_mutex_lock(&e->lock);
    *out = e->info;
    pthread_mutex_unlock(&e->lock);
    return out->kind != HK_FD_UNKNOWN;
}

const hk_fd_info *hk_fd_peek(int fd)
{
    entry *e = slot(fd, false);
    if (!e)
        return NULL;
    unsigned gen = atomic_load_explicit(&e->gen, memory_order_acquire);
    if (cache.e != e || cache.fd != fd || cache.gen != gen) {
        pthread_mutex_lock(&e->lock);
        cache.info = e->info;
        cache.gen = atomic_load_explicit(&e->gen, memory_order_relaxed);
        pthread_mutex_unlock(&e->lock);
        cache.fd = fd;
        cache.e = e;
    }
    return cache.info.kind != HK_FD_UNKNOWN ? &cache.info : NULL;
}

static void store(entry *e, const hk_fd_info *info)
{
    pthread_mutex_lock(&e->lock);
    if (info)
        e->info = *info;
    else
        memset(&e->info, 0, sizeof e->info);
    atomic_fetch_add_explicit(&e->gen, 1, memory_order_release);
    atomic_store_explicit(&e->kind, (unsigned char)e->info.kind, memory_order_release);
    pthread_mutex_unlock(&e->lock);
}

void hk_fd_set(int fd, const hk_fd_info *info)
{
    entry *e = slot(fd, true);
    if (e)
        store(e, info);
}

void hk_fd_forget(int fd)
{
    entry *e = slot(fd, false);
    if (e)
        store(e, NULL);
}

void hk_fd_dup(int oldfd, int newfd)
{
    hk_fd_info copy;
    bool known = hk_fd_get(oldfd, &copy);
    entry *to = slot(newfd, known);
    if (to)
        store(to, known ? &copy : NULL);
}
