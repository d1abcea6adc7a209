/* hk_replay.c - the sessions being replayed: their tokens, the addresses their connections
 * come from, and what the service did meanwhile. */
#include "hk.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hk_replay {
    uint64_t token;
    kl_session *s;
    kl_replayed *out;        /* filled as the service works */
    kl_addr local;           /* where the inbound connection comes from */
    struct hk_replay *next;
};

/* Few sessions are in flight at once (koala-replay -j N): a list under one lock. */
static struct {
    pthread_mutex_t lock;
    hk_replay *live;
    uint64_t next_token;
} rp = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_token = 1};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

hk_replay *hk_replay_begin(kl_session *s)
{
    hk_replay *r = calloc(1, sizeof *r);
    kl_replayed *out = kl_replayed_new();
    if (!r || !out)
        goto fail;
    const kl_call_from_inbound *in = &s->call_from_inbound;
    out->original_request_time = in->occurred_at;
    out->replayed_at = now_ns();
    if ((s->id && kl_replayed_dup_str(out, &out->session_id, s->id) != KL_OK) ||
        kl_replayed_dup_bytes(out, &out->original_request, in->request.data, in->request.len) ||
        kl_replayed_dup_bytes(out, &out->original_response, s->return_inbound.response.data,
                              s->return_inbound.response.len))
        goto fail;
    r->s = s;
    r->out = out;
    pthread_mutex_lock(&rp.lock);
    r->token = rp.next_token++;
    r->next = rp.live;
    rp.live = r;
    pthread_mutex_unlock(&rp.lock);
    return r;
fail:
    kl_replayed_free(out);
    free(r);
    kl_session_free(s);
    return NULL;
}

const kl_session *hk_replay_session(const hk_replay *r)
{
    return r->s;
}

void hk_replay_claim(hk_replay *r, const kl_addr *local)
{
    pthread_mutex_lock(&rp.lock);
    r->local = *local;
    pthread_mutex_unlock(&rp.lock);
}

uint64_t hk_replay_token_of(const kl_addr *peer)
{
    uint64_t token = 0;
    pthread_mutex_lock(&rp.lock);
    for (hk_replay *r = rp.live; r && !token; r = r->next)
        if (kl_addr_equal(&r->local, peer))
            token = r->token;
    pthread_mutex_unlock(&rp.lock);
    return token;
}

kl_replayed *hk_replay_end(hk_replay *r, const uint8_t *response, size_t len,
                           int64_t response_time, const char *error)
{
    pthread_mutex_lock(&rp.lock);
    for (hk_replay **p = &rp.live; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    pthread_mutex_unlock(&rp.lock);
    kl_replayed *out = r->out;
    out->response_time = response_time;
    if (kl_replayed_dup_bytes(out, &out->response, response, len) != KL_OK ||
        (error && kl_replayed_add_error(out, error) != KL_OK)) {
        kl_replayed_free(out);
        out = NULL;
    }
    kl_session_free(r->s);
    free(r);
    return out;
}
