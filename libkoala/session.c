/* session.c - the session model: owning sessions, deep copies, ordering, action names. */
#include "kl_internal.h"

#include <stdlib.h>
#include <string.h>

/* A session and the arena that owns its memory, in one allocation: the recorder makes one
 * per request. The arena's first chunk may follow (kli_session_new_sized). */
typedef struct owned {
    kl_session s;
    kli_mem m;
    _Alignas(16) unsigned char chunk[];
} owned;

kl_session *kl_session_new(void)
{
    owned *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->s.mem = &o->m;
    return &o->s;
}

kl_session *kli_session_new_sized(size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    owned *o = malloc(sizeof *o + kli_mem_place_size(n));
    if (!o)
        return NULL;
    memset(o, 0, sizeof *o);
    o->s.mem = &o->m;
    kli_mem_place(&o->m, o->chunk, n);
    return &o->s;
}

void kl_session_free(kl_session *s)
{
    if (!s)
        return;
    kli_mem_release(s->mem);
    free(s);
}

int kli_copy_action(kli_mem *m, kl_action *d, const kl_action *a)
{
    *d = *a;
    if (kli_copy_bytes(m, &d->request, a->request) || kli_copy_bytes(m, &d->response, a->response) ||
        kli_copy_bytes(m, &d->cspan_id, a->cspan_id) || kli_copy_bytes(m, &d->content, a->content))
        return KL_ERR_NOMEM;
    const char **strs[] = {&d->file_name, &d->func_name, &d->call_into_file, &d->call_from_file,
                           &d->args_json, &d->call_function_id, &d->return_value_json};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (*strs[i] && !(*strs[i] = kli_strdup(m, *strs[i])))
            return KL_ERR_NOMEM;
    return KL_OK;
}

static int copy_kvs(kli_mem *m, const kl_kv **dst, const kl_kv *src, size_t n)
{
    if (!n) {
        *dst = NULL;
        return KL_OK;
    }
    kl_kv *kv = kli_alloc(m, kli_cap(n) * sizeof *kv);
    if (!kv)
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (kli_copy_bytes(m, &kv[i].key, src[i].key) || kli_copy_bytes(m, &kv[i].value, src[i].value))
            return KL_ERR_NOMEM;
    *dst = kv;
    return KL_OK;
}

int kl_session_clone(const kl_session *s, kl_session **out)
{
    *out = NULL;
    kl_session *c = kl_session_new();
    if (!c)
        return KL_ERR_NOMEM;
    kli_mem *m = c->mem;
    *c = *s;
    c->mem = m;
    int err = KL_ERR_NOMEM;
    const char **strs[] = {&c->id, &c->context, &c->next_session_id, &c->host, &c->program};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (*strs[i] && !(*strs[i] = kli_strdup(m, *strs[i])))
            goto fail;
    if (kli_copy_bytes(m, &c->trace_id, s->trace_id) || kli_copy_bytes(m, &c->span_id, s->span_id) ||
        kli_copy_bytes(m, &c->call_from_inbound.request, s->call_from_inbound.request) ||
        kli_copy_bytes(m, &c->return_inbound.response, s->return_inbound.response))
        goto fail;
    if (copy_kvs(m, &c->trace_header, s->trace_header, s->n_trace_header) ||
        copy_kvs(m, &c->labels, s->labels, s->n_labels) ||
        copy_kvs(m, &c->redirect_dirs, s->redirect_dirs, s->n_redirect_dirs) ||
        copy_kvs(m, &c->mock_files, s->mock_files, s->n_mock_files))
        goto fail;
    c->actions = NULL;
    if (s->n_actions) {
        kl_action *acts = kli_alloc(m, kli_cap(s->n_actions) * sizeof *acts);
        if (!acts)
            goto fail;
        for (size_t i = 0; i < s->n_actions; i++)
            if (kli_copy_action(m, &acts[i], &s->actions[i]))
                goto fail;
        c->actions = acts;
    }
    *out = c;
    return KL_OK;
fail:
    kl_session_free(c);
    return err;
}

int kl_session_dup_bytes(kl_session *s, kl_bytes *dst, const void *data, size_t len)
{
    if (!s->mem)
        return KL_ERR_INVALID;
    return kli_copy_bytes(s->mem, dst, (kl_bytes){data, len});
}

int kl_session_dup_str(kl_session *s, const char **dst, const char *str)
{
    if (!s->mem)
        return KL_ERR_INVALID;
    const char *d = kli_strdup(s->mem, str);
    if (str && !d)
        return KL_ERR_NOMEM;
    *dst = d;
    return KL_OK;
}

int kl_session_add_action(kl_session *s, const kl_action *a)
{
    if (!s->mem)
        return KL_ERR_INVALID;
    kl_action *acts = kli_grow(s->mem, s->actions, s->n_actions, sizeof *acts);
    if (!acts)
        return KL_ERR_NOMEM;
    s->actions = acts;
    if (kli_copy_action(s->mem, &acts[s->n_actions], a))
        return KL_ERR_NOMEM;
    s->n_actions++;
    return KL_OK;
}

int kl_session_add_kv(kl_session *s, const kl_kv **list, size_t *n, kl_bytes key, kl_bytes value)
{
    if (!s->mem)
        return KL_ERR_INVALID;
    kl_kv *kvs = kli_grow(s->mem, *list, *n, sizeof *kvs);
    if (!kvs)
        return KL_ERR_NOMEM;
    *list = kvs;
    if (kli_copy_bytes(s->mem, &kvs[*n].key, key) || kli_copy_bytes(s->mem, &kvs[*n].value, value))
        return KL_ERR_NOMEM;
    (*n)++;
    return KL_OK;
}

int64_t kli_time_from_id(const char *id, size_t len)
{
    int64_t t = 0;
    size_t i = 0;
    for (; i < len && id[i] >= '0' && id[i] <= '9'; i++) {
        if (t > (INT64_MAX - 9) / 10)
            return 0;
        t = t * 10 + (id[i] - '0');
    }
    return i > 0 && (i == len || id[i] == '-') ? t : 0;
}

const kl_action *kl_session_action_at(const kl_session *s, int64_t index)
{
    size_t lo = 0, hi = s->n_actions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->actions[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n_actions && s->actions[lo].index == index ? &s->actions[lo] : NULL;
}

int64_t kl_session_time(const kl_session *s)
{
    if (s->call_from_inbound.present && s->call_from_inbound.occurred_at)
        return s->call_from_inbound.occurred_at;
    return s->id ? kli_time_from_id(s->id, strlen(s->id)) : 0;
}

int kl_session_compare(const kl_session *a, const kl_session *b)
{
    int64_t ta = kl_session_time(a), tb = kl_session_time(b);
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return strcmp(a->id ? a->id : "", b->id ? b->id : "");
}

const char *kl_action_type_name(kl_action_type t)
{
    switch (t) {
    case KL_ACTION_NONE: return "None";
    case KL_ACTION_CALL_OUTBOUND: return "CallOutbound";
    case KL_ACTION_APPEND_FILE: return "AppendFile";
    case KL_ACTION_SEND_UDP: return "SendUDP";
    case KL_ACTION_READ_STORAGE: return "ReadStorage";
    case KL_ACTION_CALL_FUNCTION: return "CallFunction";
    case KL_ACTION_RETURN_FUNCTION: return "ReturnFunction";
    case KL_ACTION_RETURN_INBOUND: return "ReturnInbound";
    }
    return "Unknown";
}
