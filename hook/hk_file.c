/* hk_file.c - what sendfile sent, from memory: the contents of the small files sendfile sends,
 * kept by what the service's own fstat says of them.
 *
 * sendfile's bytes never pass through a wrapper, so they are read back from the file: one more
 * system call on the service's thread per response, the largest part of what recording costs a
 * static file server. A static server fstats the file it is about to send (nginx does, for
 * Content-Length and Last-Modified); when that fstat names a file whose contents are kept, the
 * bytes are copied from memory instead. A file is kept only once settled: its timestamps move
 * with the kernel's clock tick (or by whole seconds on some filesystems), so a file changed in
 * place right after koala read it could keep them, and the old bytes would pass for the new. */
#include "hk.h"

#include <stdlib.h>

#define FILE_MAX (256u << 10)     /* larger files are read back each time */
#define KEEP_BYTES (4u << 20)     /* the contents kept, per process */
#define KEEP_FILES 64             /* a power of two: the table is indexed by a hash */
#define PROBE 4                   /* places a file may take in the table */
/* A file last changed less than this before it is read is read back each time: a later change
 * gets later timestamps (coarse ones: FAT's are 2 s). */
#define SETTLED_NS 2000000000LL

struct hk_file {
    atomic_uint refs;             /* the table's, and one per reader */
    hk_file_key key;
    uint8_t data[];               /* key.size bytes */
};

static struct {
    hk_lock lock;
    hk_file *kept[KEEP_FILES];
    size_t bytes;
    unsigned hand;                /* where the next file to drop for room is looked for */
    hk_file_totals totals;
} fc;

/* What the calling thread's last fstat of a file said, of which fd, and that fd's generation
 * in the fd table then: a close or a reopen since changes it. */
static __thread struct {
    int fd;
    unsigned gen;
    hk_file_key key;
} seen __attribute__((tls_model("initial-exec"))) = {.fd = -1};

static void fork_prepare(void)
{
    hk_lock_take(&fc.lock);
}

static void fork_parent(void)
{
    hk_lock_give(&fc.lock);
}

/* The child's one thread has no fstat behind it; the contents stay good. */
static void fork_child(void)
{
    hk_lock_give(&fc.lock);
    seen.fd = -1;
}

/* Registered at load, where no lock of koala's is held. */
__attribute__((constructor)) static void watch_forks(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static bool same(const hk_file_key *a, const hk_file_key *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime == b->mtime &&
           a->ctime == b->ctime;
}

static unsigned home(const hk_file_key *k)
{
    uint64_t h = (k->ino ^ (k->dev << 17)) * 0x9e3779b97f4a7c15ULL;
    return (unsigned)(h >> 40) & (KEEP_FILES - 1);
}

void hk_file_release_n(hk_file *ref, unsigned n)
{
    if (ref && n && atomic_fetch_sub_explicit(&ref->refs, n, memory_order_acq_rel) == n)
        free(ref);
}

void hk_file_release(hk_file *ref)
{
    hk_file_release_n(ref, 1);
}

/* Take the file at i out of the table (fc.lock held). */
static void drop(unsigned i)
{
    hk_file *f = fc.kept[i];
    if (!f)
        return;
    fc.kept[i] = NULL;
    fc.bytes -= f->key.size;
    fc.totals.files--;
    hk_file_release(f);
}

/* The file kept for k, with a reference for the caller (fc.lock held); NULL when none. A file
 * of the same device and inode with another key is an older content: dropped. */
static hk_file *find(const hk_file_key *k)
{
    unsigned h = home(k);
    for (unsigned p = 0; p < PROBE; p++) {
        unsigned i = (h + p) & (KEEP_FILES - 1);
        hk_file *f = fc.kept[i];
        if (!f || f->key.ino != k->ino || f->key.dev != k->dev)
            continue;
        if (!same(&f->key, k)) {
            drop(i);
            return NULL;
        }
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
        return f;
    }
    return NULL;
}

/* Keep f (fc.lock held): in a free place of its probe, else in its home; files are dropped,
 * from the hand on, until the contents fit. */
static void keep(hk_file *f)
{
    unsigned h = home(&f->key), at = h;
    for (unsigned p = 0; p < PROBE; p++) {
        unsigned i = (h + p) & (KEEP_FILES - 1);
        if (!fc.kept[i]) {
            at = i;
            break;
        }
    }
    drop(at);
    while (fc.bytes + f->key.size > KEEP_BYTES) {
        drop(fc.hand);
        fc.hand = (fc.hand + 1) & (KEEP_FILES - 1);
    }
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    fc.kept[at] = f;
    fc.bytes += f->key.size;
    fc.totals.files++;
}

/* Read the file fd whose fstat said k, whole, and keep it. A change between that fstat and the
 * read gives the file new times (it had settled), so no later fstat names these bytes: they
 * can only stand for the send that asked, which the read-back would have raced the same way.
 * @return it with a reference for the caller, or NULL: too large, not settled, shorter than
 * k says, or out of memory. */
static hk_file *load(int fd, const hk_file_key *k)
{
    int64_t settled = hk_now_ns(CLOCK_REALTIME) - SETTLED_NS;
    if (k->size == 0 || k->size > FILE_MAX || k->mtime > settled || k->ctime > settled)
        return NULL;
    hk_file *f = malloc(sizeof *f + k->size);
    if (!f)
        return NULL;
    atomic_init(&f->refs, 1);
    f->key = *k;
    size_t done = 0;
    for (ssize_t got; done < k->size; done += (size_t)got)
        if ((got = pread(fd, f->data + done, k->size - done, (off_t)done)) <= 0)
            break;
    if (done != k->size) {
        free(f);
        return NULL;
    }
    hk_lock_take(&fc.lock);
    fc.totals.loaded++;
    keep(f);
    hk_lock_give(&fc.lock);
    hk_log(HK_DEBUG, "sendfile from fd %d: its file (inode %llu, %llu bytes) is kept in memory, "
           "and sent from there while unchanged", fd, (unsigned long long)k->ino,
           (unsigned long long)k->size);
    return f;
}

void hk_file_seen(int fd, const hk_file_key *k)
{
    if (hk_fd_kind_of(fd) != HK_FD_OTHER) {
        seen.fd = -1;
        return;
    }
    seen.fd = fd;
    seen.gen = hk_fd_gen(fd);
    seen.key = *k;
}

/* An fstat names the bytes of the one sendfile after it: the service's next one may come long
 * after (a cache of open files), the file changed in place meanwhile, and is read back. */
const uint8_t *hk_file_bytes(int fd, off_t start, size_t n, hk_file **ref)
{
    *ref = NULL;
    if (seen.fd != fd)
        return NULL;
    seen.fd = -1;
    /* the same generation: still the file it was at the fstat (any change moves it) */
    if (seen.gen != hk_fd_gen(fd) || start < 0 || (uint64_t)start + n > seen.key.size)
        return NULL;
    hk_lock_take(&fc.lock);
    hk_file *f = find(&seen.key);
    if (f)
        fc.totals.hits++;
    hk_lock_give(&fc.lock);
    if (!f && !(f = load(fd, &seen.key)))
        return NULL;
    *ref = f;
    return f->data + start;
}

void hk_file_get_totals(hk_file_totals *out)
{
    hk_lock_take(&fc.lock);
    *out = fc.totals;
    out->bytes = fc.bytes;
    hk_lock_give(&fc.lock);
}
