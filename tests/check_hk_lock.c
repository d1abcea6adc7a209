/* check_hk_lock.c - tests of hook/hk_lock.c and hk.h's hk_lock: one holder at a time, a
 * waiter woken when it is given back and hurrying an idle-class holder, a deadline kept, errno
 * left alone. */
#include "testutil.h"
#include "hk.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

START_TEST(zeroed_it_is_free_and_taken_it_is_held)
{
    hk_lock l = {0};
    hk_lock_take(&l);
    ck_assert_uint_eq(atomic_load(&l.state), 1);
    hk_lock_give(&l);
    ck_assert_uint_eq(atomic_load(&l.state), 0);
    struct timespec soon = hk_time_after(CLOCK_REALTIME, 1000000);
    ck_assert(hk_lock_take_until(&l, &soon));
    hk_lock_give(&l);
}
END_TEST

enum { THREADS = 4, ROUNDS = 100000 };

static hk_lock counted;
static long count; /* unguarded but by the lock: a lost update shows in the total */

static void *add(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        hk_lock_take(&counted);
        count++;
        hk_lock_give(&counted);
    }
    return NULL;
}

START_TEST(threads_that_contend_lose_no_update)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, add, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(count, (long)THREADS * ROUNDS);
    ck_assert_uint_eq(atomic_load(&counted.state), 0);
}
END_TEST

static hk_lock held;
static atomic_int stage;

static void *take_then_report(void *arg)
{
    (void)arg;
    atomic_store(&stage, 1);
    hk_lock_take(&held); /* sleeps until the test gives it back */
    atomic_store(&stage, 2);
    hk_lock_give(&held);
    return NULL;
}

START_TEST(a_waiter_sleeps_until_it_is_given_back)
{
    hk_lock_take(&held);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, take_then_report, NULL), 0);
    while (atomic_load(&stage) == 0)
        sched_yield();
    struct timespec pause = {0, 50000000};
    nanosleep(&pause, NULL);
    ck_assert_int_eq(atomic_load(&stage), 1);
    ck_assert_uint_eq(atomic_load(&held.state), 2); /* marked as waited for */
    hk_lock_give(&held);
    pthread_join(t, NULL);
    ck_assert_int_eq(atomic_load(&stage), 2);
    ck_assert_uint_eq(atomic_load(&held.state), 0);
}
END_TEST

static hk_lock idle_held;
static atomic_int idle_stage;
static int idle_policy;

/* One of koala's idle-class threads holds the lock while a service thread waits for it. */
static void *hold_in_the_idle_class(void *arg)
{
    (void)arg;
    hk_own_thread("koala-test", true);
    hk_lock_take(&idle_held);
    atomic_store(&idle_stage, 1);
    struct timespec hold = {0, 60000000}; /* six times HK_HURRY_EVERY_NS */
    nanosleep(&hold, NULL);
    idle_policy = sched_getscheduler(0);
    hk_lock_give(&idle_held);
    hk_own_thread_calm();
    hk_own_thread_end();
    return NULL;
}

/* The waiter hurries koala's idle-class threads, where allowed (as root; see check_hk_real). */
START_TEST(a_waiter_hurries_an_idle_class_holder)
{
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, hold_in_the_idle_class, NULL), 0);
    while (atomic_load(&idle_stage) == 0)
        sched_yield();
    hk_lock_take(&idle_held);
    hk_lock_give(&idle_held);
    pthread_join(t, NULL);
    if (geteuid() == 0)
        ck_assert_int_eq(idle_policy, SCHED_OTHER);
    else
        ck_assert(idle_policy == SCHED_OTHER || idle_policy == SCHED_IDLE);
}
END_TEST

START_TEST(a_deadline_is_kept_and_errno_left_alone)
{
    hk_lock l = {0};
    hk_lock_take(&l);
    errno = EINTR;
    int64_t t0 = hk_now_ns(CLOCK_MONOTONIC);
    struct timespec until = hk_time_after(CLOCK_REALTIME, 30000000);
    ck_assert(!hk_lock_take_until(&l, &until));
    int64_t waited = hk_now_ns(CLOCK_MONOTONIC) - t0;
    ck_assert_int_eq(errno, EINTR);
    ck_assert_int_ge(waited, 25000000);
    ck_assert_int_lt(waited, 2000000000);
    hk_lock_give(&l); /* marked as waited for: the give wakes no one, and frees it */
    ck_assert_uint_eq(atomic_load(&l.state), 0);
    until = hk_time_after(CLOCK_REALTIME, 30000000);
    ck_assert(hk_lock_take_until(&l, &until));
    ck_assert_int_eq(errno, EINTR);
    hk_lock_give(&l);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hk_lock");
    TCase *tc = tcase_create("hk_lock");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, zeroed_it_is_free_and_taken_it_is_held);
    tcase_add_test(tc, threads_that_contend_lose_no_update);
    tcase_add_test(tc, a_waiter_sleeps_until_it_is_given_back);
    tcase_add_test(tc, a_waiter_hurries_an_idle_class_holder);
    tcase_add_test(tc, a_deadline_is_kept_and_errno_left_alone);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
