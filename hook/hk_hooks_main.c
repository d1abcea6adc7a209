/* hk_hooks_main.c - koala's start and end in a process: configuration, log, the recording's
 * sink, the replayer's servers and the witch, and the summary line at exit. */
#include "hk.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#define EXPORT __attribute__((visibility("default")))

static hk_config cfg;
static bool recording, replaying;
static pid_t own_pid;             /* this process's, as fork handlers keep it: not a vfork child's */

static const char *env(const char *name)
{
    return getenv(name);
}

/* The process is about to end without exit handlers (a stop signal, _exit): what the writer
 * holds is written first, koala's threads out of the idle class, 2 s at most. */
static void write_before_the_end(const char *why)
{
    hk_hurry(true);
    hk_sink_drain(2000000000, why);
}

/* A service that leaves SIGTERM or SIGINT at their default dies without running exit
 * handlers: what the writer holds would be lost. This handler has it written (waiting at
 * most 2 s, koala's threads out of the idle class: hk_hurry), then the signal, raised again
 * with the default action back (SA_RESETHAND), ends the process as it would have ended. The
 * service never sees it: sigaction and signal report it as the default (Python, for one,
 * installs its SIGINT handler only over the default), and a handler the service installs
 * replaces it, the service then exiting its own way, through the destructor below. A service
 * that sets the default gets this handler back: a php-fpm worker sets SIGTERM's default after
 * its fork, and PHP's own handler, finding the default below it, sets it again and raises the
 * signal (a worker stopped by its master lost its sessions). */
static void on_stop_signal(int sig)
{
    int saved = errno;
    write_before_the_end("stopped by a signal");
    REAL(raise)(sig);
    errno = saved;
}

static bool stop_signal(int sig)
{
    return sig == SIGTERM || sig == SIGINT;
}

/* The stop signals whose handler, the service's, was installed with SA_RESETHAND: the kernel
 * puts the default back as it runs it, with no call koala sees. */
static _Atomic unsigned reset_by_use;

static void note_handler(int sig, const struct sigaction *act)
{
    if (!act || !stop_signal(sig))
        return;
    unsigned bit = 1u << sig;
    if (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN && (act->sa_flags & SA_RESETHAND))
        atomic_fetch_or(&reset_by_use, bit);
    else
        atomic_fetch_and(&reset_by_use, ~bit);
}

static void watch_stop_signals(void)
{
    static const int sigs[] = {SIGTERM, SIGINT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESETHAND};
        sigemptyset(&sa.sa_mask);
        if (REAL(sigaction)(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
            !(old.sa_flags & SA_SIGINFO))
            REAL(sigaction)(sigs[i], &sa, NULL);
    }
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    struct sigaction mine;
    note_handler(sig, act);
    /* SIG_DFL whatever the flags: PHP sets it over its own SA_SIGINFO handler's flags */
    if (recording && act && stop_signal(sig) && act->sa_handler == SIG_DFL) {
        mine = (struct sigaction){.sa_handler = on_stop_signal, .sa_flags = SA_RESETHAND,
                                  .sa_mask = act->sa_mask};
        act = &mine;
    }
    int n = REAL(sigaction)(sig, act, old);
    if (n == 0 && old && !(old->sa_flags & SA_SIGINFO) && old->sa_handler == on_stop_signal) {
        old->sa_handler = SIG_DFL;
        old->sa_flags = 0;
        sigemptyset(&old->sa_mask);
    }
    return n;
}

EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    if (recording && stop_signal(sig) && handler == SIG_DFL) {
        struct sigaction sa = {.sa_handler = SIG_DFL}, old;
        sigemptyset(&sa.sa_mask);
        return sigaction(sig, &sa, &old) == 0 ? old.sa_handler : SIG_ERR;
    }
    if (stop_signal(sig))
        atomic_fetch_and(&reset_by_use, ~(1u << sig));
    sighandler_t old = REAL(signal)(sig, handler);
    return old == on_stop_signal ? SIG_DFL : old;
}

/* A service's handler that ends the process by raising its signal again over the default
 * the kernel put back (Node.js's, which resets the terminal first): what the writer holds is
 * written first, as on_stop_signal does. */
EXPORT int raise(int sig)
{
    struct sigaction now;
    if (recording && stop_signal(sig) && (atomic_load(&reset_by_use) & 1u << sig) &&
        REAL(sigaction)(sig, NULL, &now) == 0 && now.sa_handler == SIG_DFL && hk_enter()) {
        write_before_the_end("stopped by a signal");
        hk_leave();
    }
    return REAL(raise)(sig);
}

/* A process that ends by _exit() runs no exit handler: a forked child's usual end (Python's
 * ForkingMixIn, servers forking a child per connection) would lose what it recorded. It is
 * written first, as on a stop signal. Not in a vfork() child: it shares its parent's memory,
 * koala's state included, and never ran the fork handlers, so its pid is not own_pid. */
#define EXIT(name)                                                                                \
    EXPORT void name(int status)                                                                  \
    {                                                                                             \
        if (recording && hk_enter()) {                                                            \
            if (getpid() == own_pid)                                                              \
                write_before_the_end(#name "() called");                                          \
            hk_leave();                                                                           \
        }                                                                                         \
        REAL(name)(status);                                                                       \
        __builtin_unreachable();                                                                  \
    }
EXIT(_exit)
EXIT(_Exit)

static void note_pid(void)
{
    own_pid = getpid();
}

/* The sink, when KOALA_RECORD_TO_DIR names a place. */
static bool start_recording(void)
{
    if (!cfg.record_dir[0]) {
#if !HK_REPLAY
        hk_log(HK_INFO, "KOALA_RECORD_TO_DIR is not set: recording nothing");
#endif
        return false;
    }
    hk_sink_opts o;
    hk_sink_opts_init(&o, cfg.record_dir, program_invocation_short_name);
    o.before_drain = hk_record_catch_up;
    hk_sink_start(&o);
    return true;
}

__attribute__((constructor)) static void hk_start(void)
{
    if (!hk_enter())
        return;
    hk_resolve();
    hk_config_load(&cfg, env);
    hk_log_open(&cfg);
    for (int i = 0; i < cfg.n_warnings; i++)
        hk_log(HK_WARN, "%s", cfg.warnings[i]);
    recording = start_recording();
#if HK_REPLAY
    hk_replay_arm(&cfg);
    replaying = true;
#endif
    if (!recording && !replaying) {
        hk_log_close(); /* a process koala leaves alone holds none of koala's fds */
        hk_log_ring_stop(); /* nor the copies of its log lines kept for a witch */
        hk_leave();
        hk_disable();
        return;
    }
    hk_record_init(&cfg, recording);
    hk_witch_sources src = {.record = recording ? hk_record_witch : NULL};
#if HK_REPLAY
    src.replay = hk_replay_witch;
#endif
    hk_witch_arm(&cfg, &src);
    if (recording) {
        watch_stop_signals();
        note_pid();
        pthread_atfork(NULL, NULL, note_pid);
    }
    hk_leave();
}

/* Every thread's session in progress ends here, also of threads still running: a service
 * stopped by exit() loses nothing it finished. */
__attribute__((destructor)) static void hk_stop(void)
{
    if ((!recording && !replaying) || !hk_enter())
        return;
    hk_hurry(true);
    hk_witch_stop();
#if HK_REPLAY
    if (replaying)
        hk_replay_stop();
#endif
    hk_record_stop();
    if (recording) {
        hk_sink_stop();
        kl_builder_totals bt;
        hk_record_totals(&bt);
        hk_sink_totals st = hk_sink_get_totals();
        /* Quiet for the many short processes a service may spawn that record nothing. */
        bool any = st.written || st.dropped || bt.dropped;
        hk_log(any ? HK_INFO : HK_DEBUG, "%llu sessions written, %llu dropped, %llu bytes in %llu files",
               (unsigned long long)st.written, (unsigned long long)(st.dropped + bt.dropped),
               (unsigned long long)st.bytes, (unsigned long long)st.files);
    }
    recording = replaying = false;
    hk_log_close();
    hk_leave();
    hk_disable();
}
