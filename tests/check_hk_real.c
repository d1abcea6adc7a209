/* check_hk_real.c - tests of hook/hk_real.c: real functions found, the guard. */
#include "testutil.h"
#include "hk.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

START_TEST(every_real_function_is_libcs)
{
    memset(&hk_real, 0, sizeof hk_real);
    /* REAL() resolves on first use, as a wrapper called before the constructor would */
    ck_assert_int_eq(REAL(write)(STDOUT_FILENO, "", 0), 0);
    /* the fortified variant is not declared without _FORTIFY_SOURCE: ask the linker */
    ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
    void *libc_send = (void *)&send, *libc_accept4 = (void *)&accept4, *libc_chk = (void *)&__read_chk;
    void *got_send, *got_accept4, *got_chk;
    memcpy(&got_send, &hk_real.send, sizeof got_send);
    memcpy(&got_accept4, &hk_real.accept4, sizeof got_accept4);
    memcpy(&got_chk, &hk_real.__read_chk, sizeof got_chk);
    ck_assert_ptr_eq(got_send, libc_send);
    ck_assert_ptr_eq(got_accept4, libc_accept4);
    ck_assert_ptr_eq(got_chk, libc_chk);
}
END_TEST

static void *try_enter(void *arg)
{
    (void)arg;
    bool in = hk_enter();
    if (in)
        hk_leave();
    return (void *)(intptr_t)in;
}

START_TEST(the_guard_lets_one_level_in_per_thread)
{
    ck_assert(hk_enter());
    ck_assert(!hk_enter()); /* koala's own calls pass through */
    pthread_t t;
    void *other;
    pthread_create(&t, NULL, try_enter, NULL);
    pthread_join(t, &other);
    ck_assert(other != NULL); /* another thread is not inside koala */
    hk_leave();
    ck_assert(hk_enter());
    hk_leave();
    hk_own_thread("koala-test", false);
    ck_assert(!hk_enter());
    ck_assert_int_eq(sched_getscheduler(0), SCHED_OTHER);
    char name[16];
    ck_assert_int_eq(pthread_getname_np(pthread_self(), name, sizeof name), 0);
    ck_assert_str_eq(name, "koala-test"); /* what ps -L and top -H show */
}
END_TEST

static void *own_idle(void *arg)
{
    (void)arg;
    hk_own_thread("koala-test", true);
    return (void *)(intptr_t)(sched_getscheduler(0) == SCHED_IDLE && !hk_enter());
}

START_TEST(koalas_background_threads_run_in_the_idle_class)
{
    pthread_t t;
    void *idle;
    pthread_create(&t, NULL, own_idle, NULL);
    pthread_join(t, &idle);
    ck_assert(idle != NULL);
    ck_assert_int_eq(sched_getscheduler(0), SCHED_OTHER); /* the caller's class is its own */
}
END_TEST

/* An idle-class thread of koala's that waits until told, then says its class and ends as
 * koala's do. */
typedef struct own_waiting {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool started, go;
    int policy, calmed;
} own_waiting;

static void *own_idle_waiting(void *arg)
{
    own_waiting *w = arg;
    hk_own_thread("koala-test", true);
    pthread_mutex_lock(&w->lock);
    w->started = true;
    pthread_cond_broadcast(&w->cond);
    while (!w->go)
        pthread_cond_wait(&w->cond, &w->lock);
    w->policy = sched_getscheduler(0);
    hk_own_thread_calm();
    w->calmed = sched_getscheduler(0);
    pthread_mutex_unlock(&w->lock);
    hk_own_thread_end();
    return NULL;
}

/* hk_hurry() moves koala's running idle-class threads to the normal class, where allowed: as
 * root (CAP_SYS_NICE); a user's RLIMIT_NICE may allow it too, else they stay. Not for good,
 * a thread about to wait goes back. */
START_TEST(hurrying_moves_koalas_idle_threads_to_the_normal_class)
{
    own_waiting w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    pthread_create(&t, NULL, own_idle_waiting, &w);
    pthread_mutex_lock(&w.lock);
    while (!w.started)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    hk_hurry(false);
    pthread_mutex_lock(&w.lock);
    w.go = true;
    pthread_cond_broadcast(&w.cond);
    pthread_mutex_unlock(&w.lock);
    pthread_join(t, NULL);
    if (geteuid() == 0)
        ck_assert_int_eq(w.policy, SCHED_OTHER);
    else
        ck_assert(w.policy == SCHED_OTHER || w.policy == SCHED_IDLE);
    ck_assert_int_eq(w.calmed, SCHED_IDLE);
}
END_TEST

typedef struct own_cpus {
    bool idle_class;
    cpu_set_t got;
} own_cpus;

static void *own_thread_cpus(void *arg)
{
    own_cpus *o = arg;
    hk_own_thread("koala-test", o->idle_class);
    sched_getaffinity(0, sizeof o->got, &o->got);
    return NULL;
}

/* A thread the service pinned to one CPU starts koala's, idle-class or not: they still get
 * every CPU the process had, and the service's thread keeps its one. */
START_TEST(koalas_threads_keep_the_cpus_a_pinned_service_thread_gave_up)
{
    cpu_set_t all, one, mine;
    ck_assert_int_eq(sched_getaffinity(0, sizeof all, &all), 0);
    if (CPU_COUNT(&all) < 2)
        return; /* nothing to narrow on one CPU */
    int first = 0;
    while (!CPU_ISSET(first, &all))
        first++;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
    own_cpus idle = {.idle_class = true}, normal = {.idle_class = false};
    pthread_t t;
    pthread_create(&t, NULL, own_thread_cpus, &idle);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, own_thread_cpus, &normal);
    pthread_join(t, NULL);
    ck_assert_int_eq(sched_getaffinity(0, sizeof mine, &mine), 0);
    sched_setaffinity(0, sizeof all, &all);
    ck_assert(CPU_EQUAL(&idle.got, &all));
    ck_assert(CPU_EQUAL(&normal.got, &all));
    ck_assert(CPU_EQUAL(&mine, &one));
}
END_TEST

static void *tid_of_thread(void *arg)
{
    *(int *)arg = hk_tid();
    return NULL;
}

START_TEST(a_thread_s_id_is_its_own_in_a_thread_and_in_a_forked_child)
{
    int own = hk_tid(), other = 0;
    ck_assert_int_eq(own, (int)syscall(SYS_gettid));
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, tid_of_thread, &other), 0);
    pthread_join(t, NULL);
    ck_assert_int_ne(other, own);
    pid_t pid = fork();
    if (pid == 0)
        _exit(hk_tid() == (int)syscall(SYS_gettid) && hk_tid() != own ? 0 : 1);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child has its parent's id");
    ck_assert_int_eq(hk_tid(), own);
}
END_TEST

START_TEST(a_disabled_hook_lets_everything_through)
{
    hk_disable();
    ck_assert(!hk_enter());
    pthread_t t;
    void *other;
    pthread_create(&t, NULL, try_enter, NULL);
    pthread_join(t, &other);
    ck_assert(other == NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hk_real");
    TCase *tc = tcase_create("hk_real");
    tcase_add_test(tc, every_real_function_is_libcs);
    tcase_add_test(tc, the_guard_lets_one_level_in_per_thread);
    tcase_add_test(tc, koalas_background_threads_run_in_the_idle_class);
    tcase_add_test(tc, koalas_threads_keep_the_cpus_a_pinned_service_thread_gave_up);
    tcase_add_test(tc, hurrying_moves_koalas_idle_threads_to_the_normal_class);
    tcase_add_test(tc, a_thread_s_id_is_its_own_in_a_thread_and_in_a_forked_child);
    tcase_add_test(tc, a_disabled_hook_lets_everything_through);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
