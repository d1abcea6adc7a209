/* replayed.c - the replayed session model: what a service did when a session was replayed. */
#include "kl_internal.h"

#include <stdlib.h>
#include <string.h>

kl_replayed *kl_replayed_new(void)
{
    kl_replayed *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->mem = kli_mem_new();
    if (!r->mem) {
        free(r);
        return NULL;
    }
    return r;
}

void kl_replayed_free(kl_replayed *r)
{
    if (!r)
        return;
    kli_mem_free(r->mem);
    free(r);
}

static int copy_ractions(kli_mem *m, kl_replayed_action *d, const kl_replayed_action *a)
{
    *d = *a;
    if (kli_copy_action(m, &d->action, &a->action) ||
        kli_copy_bytes(m, &d->matched_request, a->matched_request) ||
        kli_copy_bytes(m, &d->matched_response, a->matched_response))
        return KL_ERR_NOMEM;
    return KL_OK;
}

int kl_replayed_clone(const kl_replayed *r, kl_replayed **out)
{
    *out = NULL;
    kl_replayed *c = kl_replayed_new();
    if (!c)
        return KL_ERR_NOMEM;
    kli_mem *m = c->mem;
    *c = *r;
    c->mem = m;
    c->actions = NULL;
    c->unused_calls = NULL;
    c->errors = NULL;
    c->n_actions = c->n_unused_calls = c->n_errors = 0;
    if ((r->session_id && !(c->session_id = kli_strdup(m, r->session_id))) ||
        kli_copy_bytes(m, &c->original_request, r->original_request) ||
        kli_copy_bytes(m, &c->original_response, r->original_response) ||
        kli_copy_bytes(m, &c->response, r->response))
        goto fail;
    for (size_t i = 0; i < r->n_actions; i++)
        if (kl_replayed_add_action(c, &r->actions[i]))
            goto fail;
    for (size_t i = 0; i < r->n_unused_calls; i++)
        if (kl_replayed_add_unused(c, r->unused_calls[i]))
            goto fail;
    for (size_t i = 0; i < r->n_errors; i++)
        if (kl_replayed_add_error(c, r->errors[i]))
            goto fail;
    *out = c;
    return KL_OK;
fail:
    kl_replayed_free(c);
    return KL_ERR_NOMEM;
}

int kl_replayed_dup_bytes(kl_replayed *r, kl_bytes *dst, const void *data, size_t len)
{
    if (!r->mem)
        return KL_ERR_INVALID;
    return kli_copy_bytes(r->mem, dst, (kl_bytes){data, len});
}

int kl_replayed_dup_str(kl_replayed *r, const char **dst, const char *str)
{
    if (!r->mem)
        return KL_ERR_INVALID;
    const char *d = kli_strdup(r->mem, str);
    if (str && !d)
        return KL_ERR_NOMEM;
    *dst = d;
    return KL_OK;
}

int kl_replayed_add_action(kl_replayed *r, const kl_replayed_action *a)
{
    if (!r->mem)
        return KL_ERR_INVALID;
    kl_replayed_action *acts = kli_grow(r->mem, r->actions, r->n_actions, sizeof *acts);
    if (!acts)
        return KL_ERR_NOMEM;
    r->actions = acts;
    if (copy_ractions(r->mem, &acts[r->n_actions], a))
        return KL_ERR_NOMEM;
    r->n_actions++;
    return KL_OK;
}

int kl_replayed_add_unused(kl_replayed *r, int64_t index)
{
    if (!r->mem)
        return KL_ERR_INVALID;
    int64_t *idx = kli_grow(r->mem, r->unused_calls, r->n_unused_calls, sizeof *idx);
    if (!idx)
        return KL_ERR_NOMEM;
    r->unused_calls = idx;
    idx[r->n_unused_calls] = index;
    r->n_unused_calls++;
    return KL_OK;
}

int kl_replayed_add_error(kl_replayed *r, const char *msg)
{
    if (!r->mem)
        return KL_ERR_INVALID;
    const char **errs = kli_grow(r->mem, r->errors, r->n_errors, sizeof *errs);
    if (!errs)
        return KL_ERR_NOMEM;
    r->errors = errs;
    if (!(errs[r->n_errors] = kli_strdup(r->mem, msg ? msg : "")))
        return KL_ERR_NOMEM;
    r->n_errors++;
    return KL_OK;
}

int64_t kl_replayed_time(const kl_replayed *r)
{
    if (r->original_request_time || !r->session_id)
        return r->original_request_time;
    return kli_time_from_id(r->session_id, strlen(r->session_id));
}
