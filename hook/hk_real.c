/* hk_real.c - the real libc functions behind the wrappers, and the guard that keeps koala's
 * own work out of them. */
#include "hk.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

hk_real_fns hk_real;

/* Initial-exec TLS: no allocation on first access, so the guard works from any context. */
__thread int hk_depth __attribute__((tls_model("initial-exec")));
atomic_bool hk_disabled;

/* A message without libc's stdio, which may itself be hooked or not yet usable. */
static void die(const char *what, const char *name)
{
    static const char head[] = "koala: cannot find the real ";
    syscall(SYS_write, 2, head, sizeof head - 1);
    syscall(SYS_write, 2, name, strlen(name));
    syscall(SYS_write, 2, what, strlen(what));
    _exit(127);
}

/* This object's first byte and the end of its last segment, as the linker names them; hidden,
 * so that they are ours and not another object's. */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char _end[] __attribute__((visibility("hidden")));

/* Find name after us; a function from our own object would be a wrapper calling itself. Told
 * by address: dladdr searches an object's symbol table at each call, and two per wrapper were
 * about 0.5 ms of every process's start (a preloaded /bin/true took 3.0 ms instead of 2.5). */
static void *find(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (!fn)
        die(" (dlsym found nothing)\n", name);
    uintptr_t at = (uintptr_t)fn;
    if (at >= (uintptr_t)__ehdr_start && at < (uintptr_t)_end)
        die(" (dlsym returned koala's own wrapper: is koala preloaded twice?)\n", name);
    return fn;
}

void hk_resolve(void)
{
#define HOOK(ret, name, params, args)                                                             \
    do {                                                                                          \
        void *fn = find(#name);                                                                   \
        memcpy(&hk_real.name, &fn, sizeof fn);                                                    \
    } while (0);
#include "hooks.def"
#undef HOOK
}

void hk_disable(void)
{
    atomic_store(&hk_disabled, true);
}

int hk_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

static __thread int tid __attribute__((tls_model("initial-exec")));

/* koala's idle-class threads now running (tid 0: a free entry), for hk_hurry(): whether each
 * was moved to the normal class, and whether they stay there, the process stopping. */
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int tid;
    atomic_bool hurried;
} idle_threads[4];
static atomic_bool hurried_for_good;
static __thread int idle_entry __attribute__((tls_model("initial-exec"))) = -1;

/* In a forked child, on its one thread: the id cached is its parent thread's, and none of
 * koala's threads came along. */
static void tid_forget(void)
{
    tid = 0;
    pthread_mutex_init(&idle_lock, NULL);
    for (size_t i = 0; i < sizeof idle_threads / sizeof idle_threads[0]; i++) {
        idle_threads[i].tid = 0;
        atomic_store(&idle_threads[i].hurried, false);
    }
}

/* Registered at load, where no lock of koala's is held: registering later, from a caller
 * holding one that a fork's prepare handler takes, could deadlock with a fork. */
__attribute__((constructor)) static void tid_watch_forks(void)
{
    pthread_atfork(NULL, NULL, tid_forget);
}

int hk_tid(void)
{
    if (!tid)
        tid = (int)syscall(SYS_gettid);
    return tid;
}

/* The CPUs the process could run on when koala was loaded. A service may pin its threads
 * later (nginx's worker_cpu_affinity pins each worker to one CPU after the fork), and koala's
 * threads, started by a pinned thread, would inherit its one CPU: they would then take their
 * time from the very CPU the service is busy on instead of an idle one (with nginx's worker
 * and koala's threads on one CPU, rec-nginx read 0.70). The witch's and the replayer's
 * threads, in the normal class, would compete with it outright. */
static cpu_set_t cpus_at_load;
static bool have_cpus;

__attribute__((constructor)) static void note_cpus(void)
{
    have_cpus = sched_getaffinity(0, sizeof cpus_at_load, &cpus_at_load) == 0;
}

void hk_own_thread(const char *name, bool idle_class)
{
    hk_depth = 1;
    pthread_setname_np(pthread_self(), name);
    /* may fail where a cpuset has narrowed since: the inherited CPUs stay */
    if (have_cpus)
        sched_setaffinity(0, sizeof cpus_at_load, &cpus_at_load);
    if (!idle_class)
        return;
    struct sched_param idle = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle) != 0) {
        setpriority(PRIO_PROCESS, (id_t)hk_tid(), 19);
        return;
    }
    pthread_mutex_lock(&idle_lock);
    for (int i = 0; i < (int)(sizeof idle_threads / sizeof idle_threads[0]); i++)
        if (!idle_threads[i].tid) {
            idle_threads[i].tid = hk_tid();
            atomic_store(&idle_threads[i].hurried, false);
            idle_entry = i;
            break;
        }
    pthread_mutex_unlock(&idle_lock);
}

void hk_own_thread_end(void)
{
    if (idle_entry < 0)
        return;
    pthread_mutex_lock(&idle_lock);
    idle_threads[idle_entry].tid = 0;
    atomic_store(&idle_threads[idle_entry].hurried, false);
    pthread_mutex_unlock(&idle_lock);
    idle_entry = -1;
}

bool hk_own_thread_hurried(void)
{
    return idle_entry >= 0 && !atomic_load(&hurried_for_good) &&
           atomic_load_explicit(&idle_threads[idle_entry].hurried, memory_order_relaxed);
}

bool hk_own_threads_hurried(void)
{
    if (atomic_load(&hurried_for_good))
        return false;
    for (int i = 0; i < (int)(sizeof idle_threads / sizeof idle_threads[0]); i++)
        if (i != idle_entry && atomic_load_explicit(&idle_threads[i].hurried, memory_order_acquire))
            return true;
    return false;
}

void hk_own_thread_calm(void)
{
    struct sched_param idle = {0};
    /* a hurry racing this one may leave the thread idle-class: a service thread still waiting
     * hurries again (hk_lock_hurrying) */
    if (hk_own_thread_hurried() && atomic_exchange(&idle_threads[idle_entry].hurried, false))
        sched_setscheduler(0, SCHED_IDLE, &idle);
}

void hk_hurry(bool for_good)
{
    if (for_good)
        atomic_store(&hurried_for_good, true);
    /* held for a moment, by a koala thread or a service thread hurrying them (perhaps the one
     * a stop signal's handler interrupted): a caller finding it taken leaves them be rather
     * than wait */
    if (pthread_mutex_trylock(&idle_lock) != 0)
        return;
    struct sched_param normal = {0};
    for (size_t i = 0; i < sizeof idle_threads / sizeof idle_threads[0]; i++)
        if (idle_threads[i].tid && sched_setscheduler(idle_threads[i].tid, SCHED_OTHER, &normal) == 0)
            atomic_store(&idle_threads[i].hurried, true);
    pthread_mutex_unlock(&idle_lock);
}

void hk_lock_hurrying(pthread_mutex_t *m)
{
    while (pthread_mutex_trylock(m) != 0) {
        hk_hurry(false);
        struct timespec until = hk_time_after(CLOCK_REALTIME, HK_HURRY_EVERY_NS);
        if (pthread_mutex_timedlock(m, &until) == 0)
            return;
    }
}
