/* hk_hooks_record.c - what the wrappers saw, as builder events: the fd table says what an fd
 * is, a builder per thread (created at its first inbound byte, kept in a registry) or per
 * virtual thread (helper messages) cuts sessions, a collector thread builds them and ends idle
 * ones, the sink gets them. */
#include "hk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

/* The session in progress on a builder as the witch shows it, followed by the threads as they
 * queue events (under qlock), the builder being fed later: a request read after a response
 * starts one, named as the builder names it; it is over when handed out, when its connection
 * closes, or when the builder is flushed. */
typedef struct progress {
    int64_t start;                /* its first inbound byte (unix ns); 0: none in progress */
    kl_addr peer;
    uint64_t request_bytes, response_bytes;
    uint32_t events;              /* outbound, file, datagram and storage events */
    bool answered;                /* response bytes went out */
} progress;

/* A builder in the registry: a thread's own, or a virtual thread's that threads delegate to
 * (to-koala!set-delegated-from-thread-id). A service thread only copies each event into
 * `pend`, under the short qlock; the builder is fed from it later, with lock held, by the
 * collector (woken once WAKE_BYTES wait), by the thread itself when FULL_BYTES wait or when it
 * needs the builder's state now (a helper message, its exit), or at the end. Building off the
 * service's path keeps the service's cost per event to one copy. The collector, and a thread
 * past FULL_BYTES, build STEP_BYTES at a time, the lock free between steps: below HARD_BYTES a
 * service thread never waits for the collector (lock_to_build), nor builds for long itself. */
typedef struct slot {
    pthread_mutex_t lock;         /* the builder and `work`; taken before qlock */
    kl_builder *b;
    hk_lock qlock;                /* pend, now */
    kl_buf pend;                  /* events not yet built (hk_events.c) */
    int64_t pend_since;           /* the time of pend's first event; 0 when empty (its record
                                     holds it too, on a line the thread has long left) */
    size_t held;                  /* data of pend's held events: counted as if copied, so that
                                     the kept files they pin are bounded as copies would be */
    progress now;
    /* The start of the session last handed out: `now` is over once it is no later. The
     * collector stores it without qlock, which a service thread waits for. */
    _Atomic int64_t handed;
    kl_builder_totals totals;     /* the builder's, as of its last build (lock) */
    kl_buf work;                  /* events taken from pend, built up to work_off; once all
                                     are, emptied and swapped with pend to build what it holds */
    size_t work_off;
    _Atomic int64_t last;         /* time of the last event */
    atomic_bool idle;             /* flushed for idleness, no event since */
    int64_t id;                   /* the thread's id, or the virtual thread's */
    int64_t vtid;                 /* a virtual thread's id; 0 for a thread's own builder */
    int64_t delegates_to;         /* a thread's own builder: the virtual thread its traffic
                                     goes to now, 0 for none (rc.lock) */
    int users;                    /* threads delegated to this virtual thread (rc.lock) */
    struct slot *prev, *next;
} slot;

/* What koala keeps per service thread, freed when the thread exits. */
typedef struct thread_state {
    slot *own;                    /* registered at its first inbound byte */
    slot *delegate;               /* the virtual thread its traffic goes to, if any */
    kl_buf answer;                /* a helper message's answer, read back by recvfrom */
    kl_buf scratch;               /* sendfile's bytes read back; kept up to SCRATCH_KEEP */
} thread_state;

static struct {
    atomic_bool ready;
    bool recording;               /* false: the fd table is kept (for the replayer), no session */
    atomic_bool collector_due;    /* the collector, started by the first event: a process that
                                     records nothing starts no thread, and a forked child's
                                     fork handler cannot start one */
    hk_config cfg;
    char host[256], program[256];
    uint8_t machine[3];           /* trace ids: from the host name */
    atomic_uint trace_counter;
    pthread_key_t key;            /* a thread's state, so that its exit hands out its session */
    pthread_mutex_t lock;         /* the registry, done, users; taken before any slot's lock */
    slot *slots;
    kl_builder_totals done;       /* of the builders freed so far */
    pthread_cond_t cond;          /* wakes the collector early: to build, or to stop */
    atomic_bool wake;             /* a slot has WAKE_BYTES of events to build */
    bool collecting, stopping;
    pthread_t collector;
} rc = {.lock = PTHREAD_MUTEX_INITIALIZER};

static __thread thread_state *me __attribute__((tls_model("initial-exec")));

#define WAKE_BYTES (512u << 10)
#define FULL_BYTES (1u << 20)     /* the collector lags: the thread builds a step itself */
#define HARD_BYTES (8u << 20)     /* ... waiting for the collector's step to end if it must */
#define STEP_BYTES (64u << 10)    /* events built per hold of a slot's lock (rec-nginx: 0.16 ms) */
#define DIRECT_BYTES (64u << 10)  /* an event this large is built at once: one copy, not two */
#define SCRATCH_KEEP (64u << 10)
#define SPARE_KEEP (1u << 20)     /* a buffer grown larger by a burst is freed once built */
/* How long a session whose response is complete stays open for what its thread does after
 * answering (nginx's access log line, PHP's work after fastcgi_finish_request): the next
 * request on the thread ends it at once, else the collector's tick once this has passed. */
#define LINGER_NS 1000000000LL

/* Hand out the builder's finished sessions (sl->lock held). */
static void take_all(slot *sl)
{
    for (kl_session *s; (s = kl_builder_take(sl->b));) {
        if (hk_log_on(HK_DEBUG))
            hk_log(HK_DEBUG, "session %s: %zu request and %zu response bytes, %zu actions%s", s->id,
                   s->call_from_inbound.request.len, s->return_inbound.response.len, s->n_actions,
                   s->truncated ? ", truncated" : "");
        int64_t start = kl_session_time(s); /* its first inbound byte's, as `now.start` */
        if (start)
            atomic_store_explicit(&sl->handed, start, memory_order_relaxed);
        hk_sink_put(s);
    }
    kl_builder_get_totals(sl->b, &sl->totals);
}

/* A builder call that may drop a session when memory runs out: say so. */
static void checked(int err)
{
    if (err == KL_ERR_NOMEM)
        hk_log(HK_WARN, "out of memory: a session was dropped");
}

/* Build sl's queued events and hand out what is finished (sl->lock held): those taken from the
 * queue before first, then, unless *took says the queue was taken already, the queue, about
 * `budget` bytes in all (SIZE_MAX: all of them). With a deadline, a queue whose lock cannot be
 * had by then is left alone. @return true when every event of the queue as taken is built;
 * false when the budget ran out first, or the deadline passed. */
static bool catch_up(slot *sl, const struct timespec *deadline, size_t budget, bool *took)
{
    kl_event ev;
    hk_file *ref, *last = NULL;
    unsigned refs = 0;
    /* work_off shares a line with `last`, stored by the service's thread at every event */
    size_t built = 0, off = sl->work_off;
    for (;;) {
        while (built < budget && hk_events_next(&sl->work, &off, &ev, &ref)) {
            checked(kl_builder_feed(sl->b, &ev));
            /* a static file's responses hold one file: its references go back together, the
             * line of its count taken from the service's thread once (rec-nginx: 0.913
             * against 0.894, 12 of 16 alternated rounds won) */
            if (ref && ref != last) {
                hk_file_release_n(last, refs);
                last = ref;
                refs = 0;
            }
            refs += ref != NULL;
            built += ev.len + 64; /* about a record's size as well */
        }
        if (off < sl->work.len)
            break;
        sl->work.len = off = 0;
        if (sl->work.cap > SPARE_KEEP)
            kl_buf_free(&sl->work);
        if (*took)
            break;
        if (!deadline)
            hk_lock_take(&sl->qlock);
        else if (!hk_lock_take_until(&sl->qlock, deadline))
            break;
        kl_buf queued = sl->pend;
        sl->pend = sl->work;
        sl->work = queued;
        sl->held = 0;
        sl->pend_since = 0;
        hk_lock_give(&sl->qlock);
        *took = true;
    }
    sl->work_off = off;
    hk_file_release_n(last, refs);
    take_all(sl);
    return *took && off == sl->work.len;
}

/* All of them. @return false when the deadline passed. */
static bool catch_up_all(slot *sl, const struct timespec *deadline)
{
    bool took = false;
    return catch_up(sl, deadline, SIZE_MAX, &took);
}

/* End the session in progress and hand out what is finished (sl->lock held). */
static void end_and_take(slot *sl)
{
    catch_up_all(sl, NULL);
    checked(kl_builder_flush(sl->b));
    take_all(sl);
    hk_lock_take(&sl->qlock);
    sl->now.start = 0;
    hk_lock_give(&sl->qlock);
}

/* An idle slot, its session ended (all built), gives back its event buffers (sl->lock held). */
static void release_buffers(slot *sl)
{
    kl_buf_free(&sl->work);
    hk_lock_take(&sl->qlock);
    if (!sl->pend.len)
        kl_buf_free(&sl->pend);
    hk_lock_give(&sl->qlock);
}

static void end_session(slot *sl)
{
    hk_lock_hurrying(&sl->lock);
    end_and_take(sl);
    pthread_mutex_unlock(&sl->lock);
}

/* One DEBUG line per connection the recorder starts to follow. */
static void log_conn(int fd, const char *what, const kl_addr *peer)
{
    if (!hk_log_on(HK_DEBUG))
        return;
    char a[KL_ADDR_STRLEN];
    hk_log(HK_DEBUG, "fd %d: %s %s", fd, what, kl_addr_format(peer, a, sizeof a));
}

static void add_totals(kl_builder_totals *t, const kl_builder_totals *a)
{
    t->sessions += a->sessions;
    t->truncated += a->truncated;
    t->dropped += a->dropped;
    t->orphans += a->orphans;
    t->dropped_bytes += a->dropped_bytes;
    t->dropped_actions += a->dropped_actions;
}

/* The registry's list; rc.lock held. */
static void link_slot(slot *sl)
{
    sl->prev = NULL;
    sl->next = rc.slots;
    if (rc.slots)
        rc.slots->prev = sl;
    rc.slots = sl;
}

static void unlink_slot(slot *sl)
{
    if (sl->prev)
        sl->prev->next = sl->next;
    else
        rc.slots = sl->next;
    if (sl->next)
        sl->next->prev = sl->prev;
}

/* An unlinked slot: its session in progress ends, its counters are kept. rc.lock held. */
static void free_slot(slot *sl)
{
    end_and_take(sl);
    kl_builder_totals t;
    kl_builder_get_totals(sl->b, &t);
    add_totals(&rc.done, &t);
    kl_builder_free(sl->b);
    kl_buf_free(&sl->pend);
    kl_buf_free(&sl->work);
    pthread_mutex_destroy(&sl->lock);
    free(sl);
}

/* A thread exits: its own slot leaves the registry and ends, its delegation is released. */
static void thread_done(void *arg)
{
    thread_state *t = arg;
    bool entered = hk_enter();
    hk_lock_hurrying(&rc.lock);
    if (t->own) {
        unlink_slot(t->own);
        free_slot(t->own);
    }
    if (t->delegate)
        t->delegate->users--;
    pthread_mutex_unlock(&rc.lock);
    kl_buf_free(&t->answer);
    kl_buf_free(&t->scratch);
    free(t);
    me = NULL;
    if (entered)
        hk_leave();
}

/* Every HK_TICK_BUSY_NS while events come, HK_TICK_IDLE_NS when none came since the last
 * pass, and when a thread has WAKE_BYTES of events queued: the queued events are built;
 * lingering sessions whose delay has passed, and the sessions in progress of threads idle past
 * KOALA_GC_GLOBAL_STATUS_TIMEOUT, go to the sink. */
static void *collector_main(void *arg)
{
    (void)arg;
    hk_own_thread("koala-collector", true);
    int64_t last_pass = 0;
    bool busy = false;
    pthread_mutex_lock(&rc.lock);
    while (!rc.stopping) {
        if (!atomic_load(&rc.wake)) {
            hk_own_thread_calm();
            int64_t tick = busy ? HK_TICK_BUSY_NS : HK_TICK_IDLE_NS;
            struct timespec until = hk_time_after(CLOCK_MONOTONIC, tick);
            pthread_cond_timedwait(&rc.cond, &rc.lock, &until);
        }
        if (rc.stopping)
            break;
        atomic_store(&rc.wake, false);
        int64_t now = hk_now_ns(CLOCK_REALTIME);
        busy = false;
        for (slot *sl = rc.slots, *next; sl; sl = next) {
            next = sl->next;
            busy |= atomic_load_explicit(&sl->last, memory_order_relaxed) > last_pass;
            pthread_mutex_lock(&sl->lock);
            /* the queue as it is now, a step at a time: a service thread past FULL_BYTES
             * may take the lock in between */
            for (bool took = false; !catch_up(sl, NULL, STEP_BYTES, &took);) {
                pthread_mutex_unlock(&sl->lock);
                pthread_mutex_lock(&sl->lock);
            }
            checked(kl_builder_tick(sl->b, now));
            if (!atomic_load(&sl->idle) && now - atomic_load(&sl->last) >= rc.cfg.gc_timeout_ns) {
                atomic_store(&sl->idle, true);
                end_and_take(sl);
                release_buffers(sl);
            } else {
                take_all(sl);
            }
            pthread_mutex_unlock(&sl->lock);
            /* A virtual thread nobody delegates to any more is gone once idle. */
            if (sl->vtid && !sl->users && atomic_load(&sl->idle)) {
                unlink_slot(sl);
                free_slot(sl);
            }
        }
        last_pass = now;
    }
    pthread_mutex_unlock(&rc.lock);
    hk_own_thread_end();
    return NULL;
}

static void start_collector(void)
{
    hk_sink_run();
    pthread_mutex_lock(&rc.lock);
    if (!rc.collecting) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&rc.cond, &ca);
        pthread_condattr_destroy(&ca);
        rc.stopping = false;
        rc.collecting = hk_thread_start(&rc.collector, collector_main, NULL) == 0;
        if (!rc.collecting)
            hk_log(HK_ERROR, "cannot start the collector thread: idle sessions wait for their thread");
    }
    pthread_mutex_unlock(&rc.lock);
}

/* What the forking thread queued is built first: the child would build it a second time. */
static void fork_prepare(void)
{
    hk_lock_hurrying(&rc.lock);
    slot *mine[2] = {me ? me->own : NULL, me ? me->delegate : NULL};
    for (int i = 0; i < 2; i++)
        if (mine[i]) {
            pthread_mutex_lock(&mine[i]->lock);
            catch_up_all(mine[i], NULL);
            pthread_mutex_unlock(&mine[i]->lock);
        }
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&rc.lock);
}

/* The child has one thread: the registry keeps only its slots (the others' builders are
 * forgotten, never touched: their owners may have been halfway through a feed), and its
 * collector starts at its first event, not here (thread creation may need locks the fork
 * left held). No slot lock is held: the collector holds them only under rc.lock. */
static void fork_child(void)
{
    pthread_mutex_init(&rc.lock, NULL);
    rc.slots = NULL;
    if (me && me->own) {
        pthread_mutex_init(&me->own->lock, NULL);
        me->own->qlock = (hk_lock){0};
        link_slot(me->own);
    }
    if (me && me->delegate) {
        pthread_mutex_init(&me->delegate->lock, NULL);
        me->delegate->qlock = (hk_lock){0};
        me->delegate->users = 1;
        link_slot(me->delegate);
    }
    memset(&rc.done, 0, sizeof rc.done);
    atomic_store(&rc.wake, false);
    atomic_store(&rc.collector_due, rc.collecting || atomic_load(&rc.collector_due));
    rc.collecting = false;
}

void hk_record_init(const hk_config *c, bool recording)
{
    rc.cfg = *c;
    rc.recording = recording;
    if (gethostname(rc.host, sizeof rc.host) != 0)
        rc.host[0] = 0;
    rc.host[sizeof rc.host - 1] = 0;
    snprintf(rc.program, sizeof rc.program, "%s", program_invocation_short_name);
    kl_trace_machine(rc.host, rc.machine);
    atomic_store(&rc.trace_counter, (unsigned)(hk_now_ns(CLOCK_REALTIME) ^ getpid()));
    if (pthread_key_create(&rc.key, thread_done) != 0) {
        hk_log(HK_ERROR, "cannot create a thread key; recording is off");
        return;
    }
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        hk_log(HK_WARN, "cannot watch forks: a forked child collects no idle sessions");
    atomic_store(&rc.collector_due, recording);
    atomic_store(&rc.ready, true);
}

void hk_record_stop(void)
{
    pthread_mutex_lock(&rc.lock);
    bool was = rc.collecting;
    rc.stopping = true;
    rc.collecting = false;
    if (was)
        pthread_cond_signal(&rc.cond);
    pthread_mutex_unlock(&rc.lock);
    if (was)
        pthread_join(rc.collector, NULL);
    atomic_store(&rc.collector_due, false);
    pthread_mutex_lock(&rc.lock);
    for (slot *sl = rc.slots; sl; sl = sl->next)
        end_session(sl);
    pthread_mutex_unlock(&rc.lock);
}

/* A new slot for thread (or virtual thread) id, not yet registered. */
static slot *slot_new(int64_t id)
{
    kl_builder_opts o;
    kl_builder_opts_init(&o);
    o.thread_id = id;
    o.host = rc.host;
    o.pid = getpid();
    o.program = rc.program;
    o.inbound = rc.cfg.inbound_protocol == HK_INBOUND_HTTP      ? KL_INBOUND_HTTP
                : rc.cfg.inbound_protocol == HK_INBOUND_FASTCGI ? KL_INBOUND_FASTCGI
                                                                : KL_INBOUND_AUTO;
    if (rc.cfg.max_actions > 0)
        o.max_actions = (size_t)rc.cfg.max_actions;
    o.linger_ns = LINGER_NS;
    slot *sl = calloc(1, sizeof *sl);
    if (!sl || kl_builder_new(&sl->b, &o) != KL_OK) {
        hk_log(HK_WARN, "thread %lld: no memory for a session builder", (long long)id);
        free(sl);
        return NULL;
    }
    pthread_mutex_init(&sl->lock, NULL);
    sl->id = id;
    atomic_init(&sl->last, hk_now_ns(CLOCK_REALTIME));
    atomic_init(&sl->idle, false);
    atomic_init(&sl->handed, 0);
    return sl;
}

/* The calling thread's state, made on first use. */
static thread_state *state(void)
{
    if (me)
        return me;
    thread_state *t = calloc(1, sizeof *t);
    if (!t || pthread_setspecific(rc.key, t) != 0) {
        free(t);
        return NULL;
    }
    return me = t;
}

/* The builder the calling thread's traffic goes to: its virtual thread's when it delegates,
 * else its own, registered at its first inbound byte. */
static slot *builder(bool create)
{
    if (!rc.recording)
        return NULL;
    thread_state *t = me;
    if (t && t->delegate)
        return t->delegate;
    if ((t && t->own) || !create)
        return t ? t->own : NULL;
    if (!(t = state()))
        return NULL;
    slot *sl = slot_new(hk_tid());
    if (!sl)
        return NULL;
    hk_lock_hurrying(&rc.lock);
    link_slot(sl);
    pthread_mutex_unlock(&rc.lock);
    return t->own = sl;
}

/* What ev does to the session in progress (qlock held). */
static void note(progress *p, const kl_event *ev)
{
    switch (ev->type) {
    case KL_EV_INBOUND_RECV:
        if (!p->start || p->answered) {
            *p = (progress){.start = ev->time};
            if (ev->peer)
                p->peer = *ev->peer;
        }
        p->request_bytes += ev->len;
        break;
    case KL_EV_INBOUND_SEND:
        p->response_bytes += ev->len;
        p->answered = true;
        break;
    case KL_EV_INBOUND_CLOSE:
        p->start = 0;
        break;
    case KL_EV_OUTBOUND_SEND:
    case KL_EV_OUTBOUND_RECV:
    case KL_EV_OUTBOUND_CLOSE:
    case KL_EV_APPEND_FILE:
    case KL_EV_SEND_UDP:
    case KL_EV_READ_STORAGE:
        p->events++;
        break;
    }
}

/* Whether the calling service thread may build sl's queue, `queued` bytes, now; it then holds
 * sl->lock. The collector holding it runs in the idle class, and the service's own load may
 * keep it off the CPU: waiting for it stalled nginx's worker 1.9 ms each time (rec-nginx, wrk
 * on the other CPU). So the queue grows meanwhile, up to HARD_BYTES, where the thread waits,
 * koala's threads hurried out of the idle class (hk_lock_hurrying). */
static bool lock_to_build(slot *sl, size_t queued)
{
    if (pthread_mutex_trylock(&sl->lock) == 0)
        return true;
    if (queued < HARD_BYTES)
        return false;
    hk_log(HK_WARN, "thread %lld waits for koala's collector, %zu bytes of events queued: the "
           "machine leaves it no CPU", (long long)sl->id, queued);
    hk_lock_hurrying(&sl->lock);
    return true;
}

/* A service thread's event at `now`, with the oldest of its slot's queued events from `since`
 * (0: none): koala's threads are hurried when that, or the oldest session waiting for the
 * writer, has waited HK_LATE_NS, at most every HK_TICK_IDLE_NS. */
static void hurry_if_late(int64_t since, int64_t now)
{
    static _Atomic int64_t hurried;
    int64_t sink = atomic_load_explicit(&hk_sink_waiting_since, memory_order_relaxed);
    int64_t oldest = since && (!sink || since < sink) ? since : sink;
    if (!oldest || now - oldest < HK_LATE_NS)
        return;
    int64_t last = atomic_load_explicit(&hurried, memory_order_relaxed);
    if (now - last < HK_TICK_IDLE_NS || !atomic_compare_exchange_strong(&hurried, &last, now))
        return;
    hk_log(HK_DEBUG, "koala's threads are %lld ms behind: out of the idle class until they catch up",
           (long long)((now - oldest) / 1000000));
    hk_hurry(false);
}

/* Queue ev, its data the first ev->len bytes of iov, for the collector; build it at once when
 * it is large (and the lock free) or cannot be queued, a piece at a time (pieces of one stream
 * join up). With `held`, the data is in a file kept in memory, whose reference feed takes
 * over: it is queued by reference, whatever its size, and not copied on the service's path. */
static void feed(slot *sl, kl_event ev, const struct iovec *iov, int cnt, hk_file *held)
{
    if (atomic_load_explicit(&rc.collector_due, memory_order_relaxed) &&
        atomic_exchange(&rc.collector_due, false))
        start_collector();
    atomic_store_explicit(&sl->last, ev.time, memory_order_relaxed);
    atomic_store_explicit(&sl->idle, false, memory_order_relaxed);
    bool big = ev.len >= DIRECT_BYTES && !held, noted = false;
    if (!big || !lock_to_build(sl, 0)) {
        int err = KL_ERR_NOMEM;
        hk_lock_take(&sl->qlock);
        size_t queued = sl->pend.len + sl->held;
        if (!big || queued + ev.len <= HARD_BYTES) {
            note(&sl->now, &ev);
            noted = true;
            if (!sl->pend.len)
                sl->pend_since = ev.time;
            if (held) {
                ev.data = iov->iov_base;
                if ((err = hk_events_put_held(&sl->pend, &ev, held)) == KL_OK) {
                    sl->held += ev.len;
                    held = NULL;
                }
            } else {
                err = hk_events_put(&sl->pend, &ev, iov, cnt);
            }
            queued = sl->pend.len + sl->held;
        }
        const uint8_t *next = (const uint8_t *)sl->pend.data + sl->pend.len;
        size_t room = sl->pend.cap - sl->pend.len;
        int64_t since = sl->pend_since;
        hk_lock_give(&sl->qlock);
        hk_events_prepare(next, room);
        hurry_if_late(since, ev.time);
        if (err == KL_OK) {
            if (queued >= FULL_BYTES && lock_to_build(sl, queued)) {
                if (hk_log_on(HK_DEBUG))
                    hk_log(HK_DEBUG, "the collector lags, %zu bytes of events queued: thread %lld "
                           "builds some itself", queued, (long long)sl->id);
                bool took = false;
                catch_up(sl, NULL, STEP_BYTES, &took);
                pthread_mutex_unlock(&sl->lock);
            } else if (queued >= WAKE_BYTES && !atomic_exchange(&rc.wake, true)) {
                pthread_cond_signal(&rc.cond);
            }
            return;
        }
        hk_lock_hurrying(&sl->lock);
    }
    catch_up_all(sl, NULL);
    if (!noted) {
        hk_lock_take(&sl->qlock);
        note(&sl->now, &ev);
        hk_lock_give(&sl->qlock);
    }
    if (!ev.len)
        checked(kl_builder_feed(sl->b, &ev));
    for (size_t left = ev.len; left && cnt > 0; iov++, cnt--) {
        kl_event piece = ev;
        piece.data = iov->iov_base;
        piece.len = iov->iov_len < left ? iov->iov_len : left;
        left -= piece.len;
        if (piece.len)
            checked(kl_builder_feed(sl->b, &piece));
    }
    take_all(sl);
    pthread_mutex_unlock(&sl->lock);
    hk_file_release(held);
}

/* The same for an event whose data is in one piece. */
static void feed_one(slot *sl, const kl_event *ev)
{
    struct iovec one = {(void *)ev->data, ev->len};
    feed(sl, *ev, &one, 1, NULL);
}

/* The kind of fd; a socket never seen by accept or connect is looked at once and cached. */
static hk_fd_kind kind_of(int fd)
{
    hk_fd_kind k = hk_fd_kind_of(fd);
    if (k != HK_FD_UNKNOWN || fd < 0 || fd >= HK_FD_MAX)
        return k;
    /* One system call tells a datagram socket, another socket and a non-socket apart. */
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 && errno != ENOTSOCK)
        return HK_FD_UNKNOWN; /* not open */
    k = type == SOCK_DGRAM ? HK_FD_UDP : HK_FD_OTHER;
    hk_fd_mark(fd, k);
    return k;
}

/* fd's peer's address, or its own. */
static void addr_of(int fd, bool peer, kl_addr *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if ((peer ? getpeername : getsockname)(fd, (struct sockaddr *)&ss, &len) == 0)
        kl_addr_from_sockaddr((struct sockaddr *)&ss, len, out);
}

void hk_on_accept(int fd)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    /* a serial per connection: an event loop's clients over one unix socket share an address */
    static atomic_uint serial;
    hk_fd_info info = {.kind = HK_FD_INBOUND,
                       .conn = atomic_fetch_add_explicit(&serial, 1, memory_order_relaxed) + 1};
    addr_of(fd, true, &info.peer);
    addr_of(fd, false, &info.local);
    /* A unix client is unnamed: the socket it came through (php-fpm's path) tells more. */
    if (info.peer.unix_net[0] && !info.peer.unix_path[0])
        snprintf(info.peer.unix_path, sizeof info.peer.unix_path, "%s", info.local.unix_path);
#if HK_REPLAY
    info.replay = hk_replay_token_of(&info.peer);
#endif
    hk_fd_set(fd, &info);
    log_conn(fd, info.replay ? "inbound connection of a replayed session from" : "inbound connection from",
             &info.peer);
    hk_witch_poke();
}

void hk_on_socket(int fd, int type)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    if ((type & 0xf) == SOCK_DGRAM)
        hk_fd_mark(fd, HK_FD_UDP);
    else
        hk_fd_forget(fd);
}

void hk_on_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed) || !addr)
        return;
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0)
        return;
    hk_fd_info info = {.kind = HK_FD_OTHER};
    if (kl_addr_from_sockaddr(addr, len, &info.peer) == KL_OK) {
        if (type == SOCK_DGRAM)
            info.kind = HK_FD_UDP;
        else if (type == SOCK_STREAM && !hk_config_bypassed(&rc.cfg, &info.peer))
            info.kind = HK_FD_OUTBOUND;
    }
#if HK_REPLAY
    if (info.kind == HK_FD_OUTBOUND)
        info.replay = hk_replay_current();
#endif
    addr_of(fd, false, &info.local);
    hk_fd_set(fd, &info);
    log_conn(fd, info.kind == HK_FD_OUTBOUND ? "outbound connection to"
                 : info.kind == HK_FD_UDP    ? "UDP socket connected to"
                                             : "not recorded (bypassed or not a stream), connection to",
             &info.peer);
}

/* Whether path names its file as the kernel's own name for it would: absolute, without a ".",
 * ".." or empty component. */
static bool plain_path(const char *path)
{
    if (*path != '/')
        return false;
    for (const char *c = path; *c; c++) {
        if (*c != '/')
            continue;
        const char *part = c + 1;
        size_t dots = part[0] == '.' ? (part[1] == '.' ? 2 : 1) : 0;
        if (part[0] == '/' || (dots && (part[dots] == '/' || !part[dots])))
            return false;
    }
    return true;
}

/* fd, a file opened as path (NULL: unknown), becomes an appended one. It is named by its
 * absolute path, so that one file is one AppendFile action and two files are two: a path
 * relative to a directory fd or the working directory, or one going up and down, is resolved
 * (one readlink per such open; a log is opened once). */
static void appended(int fd, const char *path)
{
    hk_fd_info info = {.kind = HK_FD_APPEND};
    char link[32];
    ssize_t n = -1;
    if (!path || !plain_path(path)) {
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        n = readlink(link, info.file_name, sizeof info.file_name - 1);
    }
    if (n > 0 && info.file_name[0] == '/')
        info.file_name[n] = 0;
    else /* no /proc: as given */
        snprintf(info.file_name, sizeof info.file_name, "%s", path ? path : "(unknown)");
    hk_fd_set(fd, &info);
}

void hk_on_open(int fd, const char *path, int flags)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    if (flags & O_APPEND)
        appended(fd, path);
    else
        hk_fd_mark(fd, HK_FD_OTHER);
}

void hk_on_setfl(int fd, int flags)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    hk_fd_kind k = hk_fd_kind_of(fd);
    if (k != HK_FD_APPEND && k != HK_FD_OTHER && k != HK_FD_UNKNOWN)
        return; /* a socket, or koala's own */
    struct stat st;
    if (!(flags & O_APPEND)) {
        if (k == HK_FD_APPEND)
            hk_fd_mark(fd, HK_FD_OTHER);
    } else if (k != HK_FD_APPEND && REAL(fstat)(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        appended(fd, NULL);
    }
}

void hk_on_close(int fd)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    hk_fd_kind k = hk_fd_kind_of(fd);
    if (k == HK_FD_UNKNOWN)
        return;
#if HK_REPLAY
    const hk_fd_info *info = hk_fd_peek(fd);
    if (info)
        hk_replay_on_close(info);
#endif
    slot *b;
    /* a copy left open (dup, fromfd) still carries the connection */
    if ((k == HK_FD_INBOUND || k == HK_FD_OUTBOUND) && hk_fd_copies(fd) <= 1 && (b = builder(false))) {
        /* no serial: before the close, its fd number names the connection */
        kl_event ev = {.type = k == HK_FD_INBOUND ? KL_EV_INBOUND_CLOSE : KL_EV_OUTBOUND_CLOSE,
                       .time = hk_now_ns(CLOCK_REALTIME), .fd = fd};
        feed_one(b, &ev);
    }
    hk_fd_forget(fd);
}

void hk_on_close_range(unsigned lo, unsigned hi)
{
    unsigned span = (unsigned)hk_fd_span();
    for (unsigned fd = lo; fd <= hi && fd < span; fd++) {
        hk_fd_kind k = hk_fd_kind_of((int)fd);
        if (k != HK_FD_UNKNOWN && k != HK_FD_KOALA)
            hk_on_close((int)fd);
    }
}

/* Data on an inbound or outbound socket, or written to an appended file: the first n bytes
 * of iov, one event for the whole call, with the fd's addresses. n == 0 is one empty event
 * (end of stream). held: as feed's. */
static void on_data(int fd, const struct iovec *iov, int cnt, size_t n, bool sent, hk_fd_kind k,
                    hk_file *held)
{
    hk_fd_count(fd, n, sent);
    const hk_fd_info *info = hk_fd_peek(fd);
    slot *b = info ? builder(k == HK_FD_INBOUND && !sent) : NULL;
    if (!b) {
        hk_file_release(held);
        return;
    }
    kl_event ev = {.time = hk_now_ns(CLOCK_REALTIME), .fd = fd, .conn = info->conn, .peer = &info->peer, .local = &info->local,
                   .file_name = info->file_name};
    if (k == HK_FD_APPEND)
        ev.type = KL_EV_APPEND_FILE;
    else if (k == HK_FD_INBOUND)
        ev.type = sent ? KL_EV_INBOUND_SEND : KL_EV_INBOUND_RECV;
    else
        ev.type = sent ? KL_EV_OUTBOUND_SEND : KL_EV_OUTBOUND_RECV;
    ev.len = n;
    feed(b, ev, iov, cnt, held);
}

static bool recorded(int fd, hk_fd_kind *k, bool sent)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return false;
    *k = kind_of(fd);
    return *k == HK_FD_INBOUND || *k == HK_FD_OUTBOUND || (sent && *k == HK_FD_APPEND);
}

const uint8_t *hk_gather(const struct iovec *iov, size_t cnt, size_t n, uint8_t **copy)
{
    *copy = NULL;
    if (cnt == 1 || n == 0)
        return n ? iov[0].iov_base : (const uint8_t *)"";
    if (!(*copy = malloc(n)))
        return NULL;
    size_t got = 0;
    for (size_t i = 0; i < cnt && got < n; i++) {
        size_t len = iov[i].iov_len < n - got ? iov[i].iov_len : n - got;
        if (len)
            memcpy(*copy + got, iov[i].iov_base, len);
        got += len;
    }
    return *copy;
}

/* One datagram of the first n bytes of iov, to `to` or, when NULL, to the peer the socket is
 * connected to: one SendUDP action. */
static void send_datagram(int fd, const struct iovec *iov, size_t cnt, size_t n,
                          const struct sockaddr *to, socklen_t len)
{
    hk_fd_count(fd, n, true);
    slot *b = builder(false);
    if (!b)
        return;
    kl_addr peer;
    if (to) {
        if (kl_addr_from_sockaddr(to, len, &peer) != KL_OK)
            return;
    } else {
        const hk_fd_info *info = hk_fd_peek(fd);
        if (!info)
            return;
        peer = info->peer;
    }
    uint8_t *copy;
    const uint8_t *data = hk_gather(iov, cnt, n, &copy);
    if (data) {
        kl_event ev = {.type = KL_EV_SEND_UDP, .time = hk_now_ns(CLOCK_REALTIME), .fd = fd, .peer = &peer,
                       .data = data, .len = n};
        feed_one(b, &ev);
    }
    free(copy);
}

#if HK_REPLAY
/* Replaying: the thread reading or answering a replayed inbound connection works for its
 * session; what it appends to a file is kept in that session. */
static void replaying(int fd, const struct iovec *iov, int cnt, size_t n, hk_fd_kind k)
{
    const hk_fd_info *info;
    if ((k != HK_FD_INBOUND && k != HK_FD_APPEND) || !(info = hk_fd_peek(fd)))
        return;
    if (k == HK_FD_INBOUND)
        hk_replay_on_inbound(info);
    else
        hk_replay_on_append(info, iov, cnt, n);
}
#endif

/* On a connected UDP socket, send(), write() and writev() send datagrams too (a statsd
 * client's way). */
void hk_on_sendv(int fd, const struct iovec *iov, int cnt, ssize_t n)
{
    if (n <= 0 || !atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    hk_fd_kind k = kind_of(fd);
#if HK_REPLAY
    replaying(fd, iov, cnt, (size_t)n, k);
#endif
    if (k == HK_FD_UDP)
        send_datagram(fd, iov, (size_t)cnt, (size_t)n, NULL, 0);
    else if (k == HK_FD_INBOUND || k == HK_FD_OUTBOUND || k == HK_FD_APPEND)
        on_data(fd, iov, cnt, (size_t)n, true, k, NULL);
}

void hk_on_send(int fd, const void *buf, ssize_t n)
{
    struct iovec one = {(void *)buf, n > 0 ? (size_t)n : 0};
    hk_on_sendv(fd, &one, 1, n);
}

/* Whether a failed read on fd is an outbound call's receive timeout (SO_RCVTIMEO): EAGAIN
 * from a blocking read. A nonblocking one only found nothing yet. */
static bool timed_out(int fd, int err, int flags, hk_fd_kind k)
{
    if ((err != EAGAIN && err != EWOULDBLOCK) || (flags & MSG_DONTWAIT) || k != HK_FD_OUTBOUND)
        return false;
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && !(fl & O_NONBLOCK);
}

/* The bytes a read of n placed in iov: with MSG_TRUNC, n is a datagram's whole length, which
 * may pass the buffers' end, and a stream socket throws the bytes away without placing any. */
static size_t placed(int fd, const struct iovec *iov, int cnt, size_t n, int flags)
{
    if (flags & MSG_TRUNC) {
        int type = 0;
        socklen_t tl = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type == SOCK_STREAM)
            return 0;
    }
    size_t room = 0;
    for (int i = 0; i < cnt && room < n; i++)
        room += iov[i].iov_len;
    return n < room ? n : room;
}

/* End of stream, or a timeout, on an outbound socket is an answer of nothing; inbound it is
 * no data. */
void hk_on_recvv(int fd, const struct iovec *iov, int cnt, ssize_t n, int flags)
{
    int err = errno;
    hk_fd_kind k;
    if ((flags & (MSG_PEEK | MSG_ERRQUEUE)) || !recorded(fd, &k, false))
        return;
    size_t got = n > 0 ? placed(fd, iov, cnt, (size_t)n, flags) : 0;
    if (n > 0 && !got)
        return; /* bytes the service never saw: neither recorded nor an answer of nothing */
#if HK_REPLAY
    if (got)
        replaying(fd, iov, cnt, got, k);
#endif
    if (got || (k == HK_FD_OUTBOUND && (n == 0 || timed_out(fd, err, flags, k))))
        on_data(fd, iov, cnt, got, false, k, NULL);
}

void hk_on_recv(int fd, const void *buf, size_t len, ssize_t n, int flags)
{
    struct iovec one = {(void *)buf, len};
    hk_on_recvv(fd, &one, 1, n, flags); /* no call in between: errno is still the read's */
}

bool hk_records_send(int fd)
{
    hk_fd_kind k;
    return recorded(fd, &k, true);
}

off_t hk_sendfile_start(int out, int in, const off_t *offset, hk_fd_kind *k)
{
    if (!recorded(out, k, true))
        return -1;
    return offset ? *offset : lseek(in, 0, SEEK_CUR);
}

/* From memory when hk_file.c has the file, queued by reference: the service's thread copies
 * none of it. Else read back in pieces of at most 256 KiB, into the thread's scratch buffer: a
 * static file server sends one file per request, and allocates nothing for it here. */
void hk_on_sendfile(int out, hk_fd_kind k, int in, off_t start, ssize_t n)
{
    thread_state *t;
    hk_file *ref;
    const uint8_t *kept = hk_file_bytes(in, start, (size_t)n, &ref);
    if (kept) {
        struct iovec one = {(void *)kept, (size_t)n};
        on_data(out, &one, 1, (size_t)n, true, k, ref);
        return;
    }
    if (!(t = state()))
        return;
    size_t cap = (size_t)n < 256 * 1024 ? (size_t)n : 256 * 1024;
    t->scratch.len = 0;
    if (kl_buf_reserve(&t->scratch, cap) != KL_OK)
        return;
    uint8_t *buf = (uint8_t *)t->scratch.data;
    for (size_t done = 0; done < (size_t)n;) {
        size_t want = (size_t)n - done < cap ? (size_t)n - done : cap;
        ssize_t got = pread(in, buf, want, start + (off_t)done);
        if (got <= 0) {
            hk_log(HK_DEBUG, "sendfile from fd %d: %zu bytes sent could not be read back", in,
                   (size_t)n - done);
            break;
        }
        struct iovec one = {buf, (size_t)got};
        on_data(out, &one, 1, (size_t)got, true, k, NULL);
        done += (size_t)got;
    }
    if (t->scratch.cap > SCRATCH_KEEP)
        kl_buf_free(&t->scratch);
}

void hk_on_sendto(int fd, const void *buf, ssize_t n, const struct sockaddr *to, socklen_t len)
{
    if (n < 0 || !atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    struct iovec one = {(void *)buf, (size_t)n};
    if (kind_of(fd) == HK_FD_UDP)
        send_datagram(fd, &one, 1, (size_t)n, to, len);
    else
        hk_on_sendv(fd, &one, 1, n);
}

void hk_on_sendmsg(int fd, const struct msghdr *msg, ssize_t n)
{
    if (n <= 0 || !atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    if (msg->msg_name && kind_of(fd) == HK_FD_UDP)
        send_datagram(fd, msg->msg_iov, msg->msg_iovlen, (size_t)n, msg->msg_name, msg->msg_namelen);
    else
        hk_on_sendv(fd, msg->msg_iov, (int)msg->msg_iovlen, n);
}

void hk_record_read_storage(const uint8_t *data, size_t len)
{
    slot *b;
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed) || !(b = builder(true)))
        return;
    kl_event ev = {.type = KL_EV_READ_STORAGE, .time = hk_now_ns(CLOCK_REALTIME), .fd = -1, .data = data, .len = len};
    feed_one(b, &ev);
}

void hk_record_shutdown(int64_t vtid)
{
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed))
        return;
    if (!vtid) {
        slot *b = builder(false);
        if (b)
            end_session(b);
        return;
    }
    hk_lock_hurrying(&rc.lock);
    for (slot *sl = rc.slots; sl; sl = sl->next)
        if (sl->vtid == vtid) {
            end_session(sl);
            break;
        }
    pthread_mutex_unlock(&rc.lock);
}

void hk_record_delegate(int64_t vtid)
{
    thread_state *t;
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed) || !rc.recording || !(t = state()))
        return;
    hk_lock_hurrying(&rc.lock);
    if (t->delegate)
        t->delegate->users--;
    t->delegate = NULL;
    if (t->own)
        t->own->delegates_to = vtid;
    if (vtid) {
        slot *sl = rc.slots;
        while (sl && sl->vtid != vtid)
            sl = sl->next;
        if (!sl && (sl = slot_new(vtid))) {
            sl->vtid = vtid;
            link_slot(sl);
        }
        if (sl) {
            sl->users++;
            t->delegate = sl;
        }
    }
    pthread_mutex_unlock(&rc.lock);
}

void hk_record_trace(hk_trace_op op, const uint8_t *payload, size_t len)
{
    thread_state *t;
    slot *b;
    if (!atomic_load_explicit(&rc.ready, memory_order_relaxed) || !(t = state()) ||
        !(b = builder(true)))
        return;
    char id[KL_TRACE_ID_LEN + 1];
    kl_trace_id(id, time(NULL), rc.machine, getpid(), atomic_fetch_add(&rc.trace_counter, 1));
    t->answer.len = 0;
    int err = KL_OK;
    hk_lock_hurrying(&b->lock);
    catch_up_all(b, NULL);
    switch (op) {
    case HK_TRACE_HEADER:
        err = kl_builder_trace_header(b->b, id, &t->answer);
        break;
    case HK_TRACE_GET:
        err = kl_builder_trace_get(b->b, id, payload, len, &t->answer);
        break;
    case HK_TRACE_SET: {
        const uint8_t *nl = memchr(payload, '\n', len);
        if (!nl) {
            hk_log(HK_WARN, "to-koala!set-trace-header-key: the payload is not \"key\\nvalue\"");
            break;
        }
        size_t klen = (size_t)(nl - payload);
        err = kl_builder_trace_set(b->b, id, payload, klen, nl + 1, len - klen - 1);
        break;
    }
    }
    pthread_mutex_unlock(&b->lock);
    if (err != KL_OK && err != KL_ERR_NOTFOUND)
        hk_log(HK_WARN, "trace header helper message: %s", kl_strerror(err));
}

size_t hk_record_answer(void *buf, size_t len)
{
    thread_state *t = me;
    if (!t)
        return 0;
    size_t n = t->answer.len < len ? t->answer.len : len;
    if (n)
        memcpy(buf, t->answer.data, n);
    t->answer.len = 0;
    return n;
}

void hk_record_catch_up(void)
{
    struct timespec until = hk_time_after(CLOCK_REALTIME, 500000000); /* timedlock's clock */
    if (pthread_mutex_timedlock(&rc.lock, &until) != 0)
        return;
    for (slot *sl = rc.slots; sl; sl = sl->next)
        if (pthread_mutex_timedlock(&sl->lock, &until) == 0) {
            catch_up_all(sl, &until);
            /* a session lingering for its thread's work after answering is complete: it goes
             * now, with what that work did so far */
            checked(kl_builder_tick(sl->b, INT64_MAX));
            take_all(sl);
            pthread_mutex_unlock(&sl->lock);
        }
    pthread_mutex_unlock(&rc.lock);
}

void hk_record_totals(kl_builder_totals *t)
{
    pthread_mutex_lock(&rc.lock);
    *t = rc.done;
    for (slot *sl = rc.slots; sl; sl = sl->next) {
        kl_builder_totals one;
        pthread_mutex_lock(&sl->lock);
        kl_builder_get_totals(sl->b, &one);
        pthread_mutex_unlock(&sl->lock);
        add_totals(t, &one);
    }
    pthread_mutex_unlock(&rc.lock);
}

/* A builder as the witch's thread entry and, with a session in progress, its entry in the
 * sessions in progress. The slot's state is copied under qlock and its totals under lock,
 * each for a moment, then written out (rc.lock held: the slot stays). */
static void witch_slot(slot *sl, kl_buf *threads, kl_buf *in_progress, kl_builder_totals *t)
{
    hk_lock_take(&sl->qlock);
    progress now = sl->now;
    size_t queued = sl->pend.len;
    hk_lock_give(&sl->qlock);
    if (now.start <= atomic_load_explicit(&sl->handed, memory_order_relaxed))
        now.start = 0;
    pthread_mutex_lock(&sl->lock);
    add_totals(t, &sl->totals);
    queued += sl->work.len - sl->work_off;
    pthread_mutex_unlock(&sl->lock);
    char id[48], thread[24];
    snprintf(id, sizeof id, "%lld-%lld", (long long)now.start, (long long)sl->id);
    snprintf(thread, sizeof thread, sl->vtid ? "null" : "%lld", (long long)sl->id);
    hk_json_sep(threads);
    kl_buf_printf(threads, "{\"id\":%s,\"virtual_id\":%lld,\"for\":\"recording\",\"session\":", thread,
                  (long long)(sl->vtid ? sl->vtid : sl->delegates_to));
    hk_json_str(threads, now.start ? id : NULL);
    kl_buf_printf(threads, ",\"last_access\":%lld,\"idle\":%s,\"queued_bytes\":%zu}",
                  (long long)atomic_load(&sl->last), atomic_load(&sl->idle) ? "true" : "false", queued);
    if (!now.start)
        return;
    hk_json_sep(in_progress);
    kl_buf_printf(in_progress, "{\"id\":\"%s\",\"for\":\"recording\",\"thread\":%s,\"virtual_id\":%lld,"
                  "\"since\":%lld,\"peer\":", id, thread, (long long)sl->vtid, (long long)now.start);
    hk_json_addr(in_progress, &now.peer);
    kl_buf_printf(in_progress, ",\"request_bytes\":%llu,\"response_bytes\":%llu,\"answered\":%s,\"events\":%u}",
                  (unsigned long long)now.request_bytes, (unsigned long long)now.response_bytes,
                  now.answered ? "true" : "false", now.events);
}

void hk_record_witch(kl_buf *threads, kl_buf *in_progress, kl_builder_totals *t)
{
    pthread_mutex_lock(&rc.lock);
    *t = rc.done;
    for (slot *sl = rc.slots; sl; sl = sl->next)
        witch_slot(sl, threads, in_progress, t);
    pthread_mutex_unlock(&rc.lock);
}
