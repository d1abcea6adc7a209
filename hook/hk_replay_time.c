/* hk_replay_time.c - the recorded clock. While a thread works on a replayed session, its
 * CLOCK_REALTIME reads as at recording time: the recorded request's time at the moment the
 * service read the request, as the recorder timed it, running on from there. Monotonic clocks, koala's own work and threads
 * outside replayed sessions keep the real time. */
#include "hk.h"

#define EXPORT __attribute__((visibility("default")))

/* The calling thread's shift in ns; 0 inside koala, whose own times are real (and which may
 * hold the lock the shift of a delegating thread is looked up under). */
static int64_t shift(void)
{
    if (!hk_enter())
        return 0;
    int64_t s = hk_replay_shift();
    hk_leave();
    return s;
}

static void add(struct timespec *ts, int64_t ns)
{
    int64_t t = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec + ns;
    ts->tv_sec = (time_t)(t / 1000000000);
    ts->tv_nsec = (long)(t % 1000000000);
}

/* The shifted wall clock. @return false when the real one fails. */
static bool shifted_now(struct timespec *ts, int64_t s)
{
    if (REAL(clock_gettime)(CLOCK_REALTIME, ts) != 0)
        return false;
    add(ts, s);
    return true;
}

static bool wall_clock(clockid_t c)
{
    return c == CLOCK_REALTIME || c == CLOCK_REALTIME_COARSE || c == CLOCK_REALTIME_ALARM || c == CLOCK_TAI;
}

EXPORT int clock_gettime(clockid_t c, struct timespec *ts)
{
    int rc = REAL(clock_gettime)(c, ts);
    int64_t s;
    if (rc == 0 && wall_clock(c) && (s = shift()))
        add(ts, s);
    return rc;
}

EXPORT time_t time(time_t *t)
{
    int64_t s = shift();
    struct timespec ts;
    if (!s || !shifted_now(&ts, s))
        return REAL(time)(t);
    if (t)
        *t = ts.tv_sec;
    return ts.tv_sec;
}

EXPORT int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    int64_t s = shift();
    struct timespec ts;
    if (!s || !shifted_now(&ts, s))
        return REAL(gettimeofday)(tv, tz);
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return tz ? REAL(gettimeofday)(NULL, tz) : 0;
}

EXPORT int ftime(struct timeb *tb)
{
    int rc = REAL(ftime)(tb);
    int64_t s = shift();
    struct timespec ts;
    if (rc == 0 && s && shifted_now(&ts, s)) {
        tb->time = ts.tv_sec;
        tb->millitm = (unsigned short)(ts.tv_nsec / 1000000);
    }
    return rc;
}

EXPORT int timespec_get(struct timespec *ts, int base)
{
    int rc = REAL(timespec_get)(ts, base);
    int64_t s;
    if (rc == TIME_UTC && (s = shift()))
        add(ts, s);
    return rc;
}
