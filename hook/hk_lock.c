/* hk_lock.c - the slow paths of hk_lock: a futex wait while the lock is taken, a wake when a
 * thread may be waiting (Drepper's "Futexes Are Tricky", mutex 3). */
#include "hk.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static long futex(atomic_uint *word, int op, unsigned val, const struct timespec *t, unsigned mask)
{
    return syscall(SYS_futex, word, op, val, t, NULL, mask);
}

void hk_lock_wait(hk_lock *l)
{
    int saved = errno;
    /* 2 from here on: whoever gives it back wakes a waiter */
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
        futex(&l->state, FUTEX_WAIT_PRIVATE, 2, NULL, 0);
    errno = saved;
}

void hk_lock_wake(hk_lock *l)
{
    int saved = errno;
    futex(&l->state, FUTEX_WAKE_PRIVATE, 1, NULL, 0);
    errno = saved;
}

bool hk_lock_take_until(hk_lock *l, const struct timespec *deadline)
{
    unsigned free_ = 0;
    if (atomic_compare_exchange_strong_explicit(&l->state, &free_, 1, memory_order_acquire,
                                                memory_order_relaxed))
        return true;
    int saved = errno;
    bool got = true;
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
        if (futex(&l->state, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 2, deadline,
                  FUTEX_BITSET_MATCH_ANY) != 0 && errno == ETIMEDOUT) {
            got = false;
            break;
        }
    errno = saved;
    return got;
}
