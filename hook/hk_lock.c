/* hk_lock.c - the slow paths of hk_lock: a futex wait while the lock is taken, a wake when a
 * thread may be waiting (Drepper's "Futexes Are Tricky", mutex 3). */
#include "hk.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Take l, found taken: wait until it is given back, or until deadline (CLOCK_REALTIME) when
 * there is one. Without one, the holder may be one of koala's idle-class threads that the
 * service's own load keeps off the CPU: they are hurried every HK_HURRY_EVERY_NS of waiting.
 * @return false when the deadline passed. */
static bool wait_for(hk_lock *l, const struct timespec *deadline)
{
    static const struct timespec hurry = {0, HK_HURRY_EVERY_NS};
    int saved = errno;
    bool got = true;
    /* 2 from here on: whoever gives it back wakes a waiter */
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0) {
        long r = deadline ? syscall(SYS_futex, &l->state, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME,
                                    2, deadline, NULL, FUTEX_BITSET_MATCH_ANY)
                          : syscall(SYS_futex, &l->state, FUTEX_WAIT_PRIVATE, 2, &hurry, NULL, 0);
        if (r != 0 && errno == ETIMEDOUT) {
            if (deadline) {
                got = false;
                break;
            }
            hk_hurry(false);
        }
    }
    errno = saved;
    return got;
}

void hk_lock_wait(hk_lock *l)
{
    wait_for(l, NULL);
}

void hk_lock_wake(hk_lock *l)
{
    int saved = errno;
    syscall(SYS_futex, &l->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}

bool hk_lock_take_until(hk_lock *l, const struct timespec *deadline)
{
    return hk_lock_try(l) || wait_for(l, deadline);
}
