/* hk_fd.c - the fd table: what each fd number is, shared by every thread.
 *
 * Entries live in chunks allocated on first use and never freed, so no thread ever follows a
 * dangling pointer. The kind is one atomic byte, read without a lock on every read and write;
 * the addresses behind it take the entry's own lock, so threads on different fds never wait
 * for each other. */
#include "hk.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHUNK HK_FD_CHUNK
#define CHUNKS (HK_FD_MAX / CHUNK)

typedef hk_fd_entry entry;

/* The calling thread's copies of the last two entries it read: data calls on one connection in a
 * row, or on a connection and a log file in turn (a static server), neither lock nor copy. */
static __thread struct peeked {
    int fd;
    unsigned gen;
    entry *e;
    hk_fd_info info;
} cache[2] __attribute__((tls_model("initial-exec")));
static __thread unsigned char victim __attribute__((tls_model("initial-exec"))); /* the next to go */

_Atomic(hk_fd_entry *) hk_fd_chunks[CHUNKS];
atomic_bool hk_fd_counting;

/* The entry of fd, allocating its chunk when create is true; NULL when out of range. */
static entry *slot(int fd, bool create)
{
    entry *e = hk_fd_entry_of(fd);
    if (e || !create || fd < 0 || fd >= HK_FD_MAX)
        return e;
    entry *fresh = calloc(CHUNK, sizeof *fresh), *c = NULL; /* zeroed: every lock free */
    if (!fresh)
        return NULL;
    if (atomic_compare_exchange_strong(&hk_fd_chunks[fd / CHUNK], &c, fresh))
        c = fresh;
    else
        free(fresh); /* another thread won; c holds its chunk */
    return &c[fd % CHUNK];
}

const hk_fd_info *hk_fd_peek(int fd)
{
    entry *e = slot(fd, false);
    if (!e)
        return NULL;
    unsigned gen = atomic_load_explicit(&e->gen, memory_order_acquire);
    struct peeked *c = &cache[0];
    if (c->e != e || c->fd != fd || c->gen != gen) {
        c = &cache[1];
        if (c->e != e || c->fd != fd || c->gen != gen) {
            c = &cache[victim];
            hk_lock_take(&e->lock);
            c->info = e->info;
            c->gen = atomic_load_explicit(&e->gen, memory_order_relaxed);
            hk_lock_give(&e->lock);
            c->fd = fd;
            c->e = e;
        }
    }
    victim = c == &cache[0];
    return c->info.kind != HK_FD_UNKNOWN ? &c->info : NULL;
}

/* Make e name info, or, when info is NULL, kind and no address: that zeroes the rest once, and a
 * file a static server opens and closes per request then costs no 600-byte copies. A
 * connection's count of copies follows: one more for the connection e names now, one less for
 * the one it named, freed with its last. */
static void store(entry *e, const hk_fd_info *info, hk_fd_kind kind)
{
    hk_lock_take(&e->lock);
    atomic_int *was = e->info.copies, *now = info ? info->copies : NULL;
    if (now != was) {
        if (now)
            atomic_fetch_add(now, 1);
        if (was && atomic_fetch_sub(was, 1) == 1)
            free(was);
    }
    /* The counters belong to the connection: a replayed one moved to another session keeps
     * them, anything else starts again. */
    if (!info || info->kind != e->info.kind || !kl_addr_equal(&info->peer, &e->info.peer)) {
        atomic_store_explicit(&e->bytes_in, 0, memory_order_relaxed);
        atomic_store_explicit(&e->bytes_out, 0, memory_order_relaxed);
    }
    if (info) {
        e->info = *info;
        e->bare = false;
    } else {
        if (!e->bare)
            memset(&e->info, 0, sizeof e->info);
        e->info.kind = kind;
        e->bare = true;
    }
    atomic_fetch_add_explicit(&e->gen, 1, memory_order_release);
    atomic_store_explicit(&e->kind, (unsigned char)e->info.kind, memory_order_release);
    hk_lock_give(&e->lock);
}

void hk_fd_set(int fd, const hk_fd_info *info)
{
    entry *e = slot(fd, true);
    if (e)
        store(e, info, info->kind);
}

void hk_fd_mark(int fd, hk_fd_kind kind)
{
    entry *e = slot(fd, true);
    if (e)
        store(e, NULL, kind);
}

void hk_fd_forget(int fd)
{
    entry *e = slot(fd, false);
    if (e)
        store(e, NULL, HK_FD_UNKNOWN);
}

/* A connection is counted from its first copy on, so accept and connect allocate nothing. The
 * count the copy names is held meanwhile: a close of oldfd on another thread would free it. */
void hk_fd_dup(int oldfd, int newfd)
{
    hk_fd_info copy = {0};
    entry *from = slot(oldfd, false);
    if (from) {
        hk_lock_take(&from->lock);
        hk_fd_kind k = from->info.kind;
        if ((k == HK_FD_INBOUND || k == HK_FD_OUTBOUND) && !from->info.copies &&
            (from->info.copies = malloc(sizeof *from->info.copies))) {
            atomic_init(from->info.copies, 1);
            atomic_fetch_add_explicit(&from->gen, 1, memory_order_release);
        }
        copy = from->info;
        if (copy.copies)
            atomic_fetch_add(copy.copies, 1);
        hk_lock_give(&from->lock);
    }
    bool known = copy.kind != HK_FD_UNKNOWN;
    entry *to = slot(newfd, known);
    if (to)
        store(to, known ? &copy : NULL, HK_FD_UNKNOWN);
    if (copy.copies && atomic_fetch_sub(copy.copies, 1) == 1)
        free(copy.copies);
}

void hk_fd_set_replay(int fd, uint64_t token)
{
    entry *e = slot(fd, false);
    if (!e)
        return;
    hk_lock_take(&e->lock);
    e->info.replay = token;
    e->bare = false;
    atomic_fetch_add_explicit(&e->gen, 1, memory_order_release);
    hk_lock_give(&e->lock);
}

int hk_fd_copies(int fd)
{
    entry *e = slot(fd, false);
    if (!e)
        return 0;
    hk_lock_take(&e->lock);
    int n = e->info.kind == HK_FD_UNKNOWN ? 0 : e->info.copies ? atomic_load(e->info.copies) : 1;
    hk_lock_give(&e->lock);
    return n;
}

/* koala's own fds: where each owner keeps the number, and the lock it holds while using it. */
#define MAX_OWN 4
static struct {
    int *fd;
    pthread_mutex_t *lock;
} own[MAX_OWN];
static pthread_mutex_t own_lock = PTHREAD_MUTEX_INITIALIZER;

/* A copy of fd above the numbers services use (a "close every fd below 1024" loop, a dup2 onto
 * 3), close-on-exec, marked as koala's. @return it, or fd itself when no copy can be made. */
static int move_up(int fd)
{
    struct rlimit rl;
    long floor = 3;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        floor = rl.rlim_cur > 2048 ? 1024 : (long)rl.rlim_cur * 3 / 4;
    long moved = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, floor);
    if (moved < 0)
        return fd;
    syscall(SYS_close, fd);
    return (int)moved;
}

void hk_fd_adopt(int *fd, pthread_mutex_t *lock)
{
    *fd = move_up(*fd);
    hk_fd_info info = {.kind = HK_FD_KOALA};
    hk_fd_set(*fd, &info);
    pthread_mutex_lock(&own_lock);
    for (int i = 0; i < MAX_OWN; i++)
        if (!own[i].fd || own[i].fd == fd) {
            own[i].fd = fd;
            own[i].lock = lock;
            break;
        }
    pthread_mutex_unlock(&own_lock);
}

void hk_fd_disown(int *fd)
{
    hk_fd_forget(*fd);
    pthread_mutex_lock(&own_lock);
    for (int i = 0; i < MAX_OWN; i++)
        if (own[i].fd == fd)
            own[i].fd = NULL;
    pthread_mutex_unlock(&own_lock);
}

void hk_fd_evict(int fd)
{
    for (int i = 0; i < MAX_OWN; i++) {
        pthread_mutex_lock(&own_lock);
        int *where = own[i].fd;
        pthread_mutex_t *lock = own[i].lock;
        pthread_mutex_unlock(&own_lock);
        if (!where)
            continue;
        pthread_mutex_lock(lock);
        if (*where == fd) {
            int moved = move_up(fd);
            if (moved != fd) {
                hk_fd_forget(fd);
                hk_fd_info info = {.kind = HK_FD_KOALA};
                hk_fd_set(moved, &info);
                *where = moved;
            }
        }
        pthread_mutex_unlock(lock);
    }
}

int hk_fd_owned(int *out, int max)
{
    int n = 0;
    pthread_mutex_lock(&own_lock);
    for (int i = 0; i < MAX_OWN && n < max; i++)
        if (own[i].fd && *own[i].fd >= 0)
            out[n++] = *own[i].fd;
    pthread_mutex_unlock(&own_lock);
    for (int i = 1; i < n; i++) /* insertion sort: a handful */
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

int hk_fd_span(void)
{
    for (int c = CHUNKS - 1; c >= 0; c--)
        if (atomic_load_explicit(&hk_fd_chunks[c], memory_order_acquire))
            return (c + 1) * CHUNK;
    return 0;
}

int hk_fd_list(hk_fd_stat *out, int max, int *from)
{
    int n = 0, span = hk_fd_span(), fd = *from;
    for (; fd < span && n < max; fd++) {
        hk_fd_kind k = hk_fd_kind_of(fd);
        if (k == HK_FD_UNKNOWN || k == HK_FD_OTHER)
            continue;
        entry *e = slot(fd, false);
        hk_lock_take(&e->lock);
        out[n] = (hk_fd_stat){fd, e->info, atomic_load_explicit(&e->bytes_in, memory_order_relaxed),
                              atomic_load_explicit(&e->bytes_out, memory_order_relaxed)};
        hk_lock_give(&e->lock);
        if (out[n].info.kind != HK_FD_UNKNOWN && out[n].info.kind != HK_FD_OTHER)
            n++;
    }
    *from = fd;
    return n;
}
