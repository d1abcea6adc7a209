/* stats.c - capinfos-like statistics over sessions and files: counts, bytes, times, peers. */
#include "kl_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEERS_MAX 100000 /* distinct peers remembered; calls to any further ones count as others */
#define PEERS_TOP 20     /* peers listed by name in a report */
#define LABEL_WIDTH 26   /* text report: values start in this column, as capinfos aligns them */

enum { IN_REQ, IN_RESP, OUT_REQ, OUT_RESP, FILE_CONTENT, UDP_CONTENT, STORAGE_CONTENT, N_BYTES };

static const struct {
    const char *label, *key;
} byte_names[N_BYTES] = {
    {"Inbound request", "inbound_request"},   {"Inbound response", "inbound_response"},
    {"Outbound request", "outbound_request"}, {"Outbound response", "outbound_response"},
    {"File content", "file_content"},         {"UDP content", "udp_content"},
    {"Storage content", "storage_content"},
};

/* The action types a report lists; the ReturnInbound marker is not an action. */
static const char *const action_keys[KL_ACTION_TYPE_COUNT] = {
    [KL_ACTION_CALL_OUTBOUND] = "call_outbound", [KL_ACTION_APPEND_FILE] = "append_file",
    [KL_ACTION_SEND_UDP] = "send_udp",           [KL_ACTION_READ_STORAGE] = "read_storage",
    [KL_ACTION_CALL_FUNCTION] = "call_function", [KL_ACTION_RETURN_FUNCTION] = "return_function",
};

typedef struct peer {
    char *name;      /* NULL in a free slot */
    uint64_t calls;
} peer;

/* Open addressing, linear probing, at most half full. Bounded: past PEERS_MAX names, calls
 * to new names go to `others`, so a scan of a huge file cannot exhaust memory. */
typedef struct peer_map {
    peer *slots;
    size_t cap;      /* a power of two */
    size_t n;
    uint64_t others; /* calls to names that were not remembered */
} peer_map;

struct kl_stats {
    uint64_t sessions, replayed, truncated;
    uint64_t actions[KL_ACTION_TYPE_COUNT];
    uint64_t bytes[N_BYTES];
    int64_t first, last; /* 0 until a session with a time is counted */
    peer_map outbound;   /* outbound peer address -> calls */
    peer_map inbound;    /* inbound peer host (port left out) -> sessions */
    uint64_t same_responses, matched_calls, unmatched_calls, unused_calls, replay_errors;
    uint64_t files, files_without_index, frames, content_bytes, file_bytes;
};

/* ------------------------------------------------------------- peer map */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* The slot holding name, or the free slot where it belongs. The map is never full. */
static peer *map_slot(peer *slots, size_t cap, const char *name)
{
    size_t i = (size_t)hash_name(name) & (cap - 1);
    while (slots[i].name && strcmp(slots[i].name, name) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int map_grow(peer_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    peer *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].name)
            *map_slot(slots, cap, m->slots[i].name) = m->slots[i];
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return KL_OK;
}

static int map_add(peer_map *m, const char *name)
{
    if (m->cap == 0 && map_grow(m))
        return KL_ERR_NOMEM;
    peer *p = map_slot(m->slots, m->cap, name);
    if (p->name) {
        p->calls++;
        return KL_OK;
    }
    if (m->n >= PEERS_MAX) {
        m->others++;
        return KL_OK;
    }
    if ((m->n + 1) * 2 > m->cap) {
        if (map_grow(m))
            return KL_ERR_NOMEM;
        p = map_slot(m->slots, m->cap, name);
    }
    if (!(p->name = strdup(name)))
        return KL_ERR_NOMEM;
    p->calls = 1;
    m->n++;
    return KL_OK;
}

static void map_free(peer_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].name);
    free(m->slots);
}

static int by_calls(const void *a, const void *b)
{
    const peer *x = *(const peer *const *)a, *y = *(const peer *const *)b;
    if (x->calls != y->calls)
        return x->calls > y->calls ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The remembered peers, most called first. @return NULL when out of memory (or none). */
static const peer **map_sorted(const peer_map *m)
{
    const peer **list = malloc((m->n ? m->n : 1) * sizeof *list);
    if (!list)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].name)
            list[k++] = &m->slots[i];
    qsort(list, k, sizeof *list, by_calls);
    return list;
}

/* ------------------------------------------------------------- counting */

kl_stats *kl_stats_new(void)
{
    return calloc(1, sizeof(kl_stats));
}

void kl_stats_free(kl_stats *st)
{
    if (!st)
        return;
    map_free(&st->outbound);
    map_free(&st->inbound);
    free(st);
}

static void add_time(kl_stats *st, int64_t t)
{
    if (t == 0)
        return;
    if (st->first == 0 || t < st->first)
        st->first = t;
    if (st->last == 0 || t > st->last)
        st->last = t;
}

static int add_peer(peer_map *m, const kl_addr *a)
{
    char name[KL_ADDR_STRLEN];
    return map_add(m, kl_addr_format(a, name, sizeof name));
}

/* response is passed apart: a replayed call's answer is the recorded response it matched. */
static int add_action(kl_stats *st, const kl_action *a, kl_bytes response)
{
    if ((unsigned)a->type >= KL_ACTION_TYPE_COUNT || !action_keys[a->type])
        return KL_OK;
    st->actions[a->type]++;
    switch (a->type) {
    case KL_ACTION_CALL_OUTBOUND:
        st->bytes[OUT_REQ] += a->request.len;
        st->bytes[OUT_RESP] += response.len;
        return add_peer(&st->outbound, &a->peer);
    case KL_ACTION_APPEND_FILE: st->bytes[FILE_CONTENT] += a->content.len; break;
    case KL_ACTION_SEND_UDP: st->bytes[UDP_CONTENT] += a->content.len; break;
    case KL_ACTION_READ_STORAGE: st->bytes[STORAGE_CONTENT] += a->content.len; break;
    case KL_ACTION_NONE:
    case KL_ACTION_CALL_FUNCTION:
    case KL_ACTION_RETURN_FUNCTION:
    case KL_ACTION_RETURN_INBOUND:
        break;
    }
    return KL_OK;
}

/* Inbound peers are counted by host: clients use a new port for every connection. */
static int add_inbound_peer(kl_stats *st, const kl_addr *a)
{
    kl_addr host = *a;
    host.port = 0;
    return add_peer(&st->inbound, &host);
}

int kl_stats_add(kl_stats *st, const kl_session *s)
{
    st->sessions++;
    st->truncated += s->truncated;
    add_time(st, kl_session_time(s));
    st->bytes[IN_REQ] += s->call_from_inbound.request.len;
    st->bytes[IN_RESP] += s->return_inbound.response.len;
    if (!kl_addr_is_empty(&s->call_from_inbound.peer) &&
        add_inbound_peer(st, &s->call_from_inbound.peer))
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < s->n_actions; i++)
        if (add_action(st, &s->actions[i], s->actions[i].response))
            return KL_ERR_NOMEM;
    return KL_OK;
}

int kl_stats_add_replayed(kl_stats *st, const kl_replayed *r)
{
    st->replayed++;
    add_time(st, kl_replayed_time(r));
    st->bytes[IN_REQ] += r->original_request.len;
    st->bytes[IN_RESP] += r->response.len;
    st->same_responses += kli_bytes_equal(r->original_response, r->response);
    st->unused_calls += r->n_unused_calls;
    st->replay_errors += r->n_errors;
    for (size_t i = 0; i < r->n_actions; i++) {
        const kl_replayed_action *ra = &r->actions[i];
        if (ra->action.type == KL_ACTION_CALL_OUTBOUND && ra->matched_index >= 0)
            st->matched_calls++;
        else if (ra->action.type == KL_ACTION_CALL_OUTBOUND)
            st->unmatched_calls++;
        if (add_action(st, &ra->action, ra->matched_response))
            return KL_ERR_NOMEM;
    }
    return KL_OK;
}

void kl_stats_add_file(kl_stats *st, const kl_file_info *info)
{
    st->files++;
    st->files_without_index += !info->has_index;
    st->frames += info->frames;
    st->content_bytes += info->content_bytes;
    st->file_bytes += info->file_bytes;
}

/* ------------------------------------------------------------- report */

/* One writer for both reports: text lines "Label:   value" indented by nesting, or JSON
 * members "key":value with nesting as objects. */
typedef struct emitter {
    kl_buf *out;
    bool json;
    bool first; /* JSON: no comma before the next member */
    int depth;
} emitter;

static int json_string(kl_buf *out, const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t len = strlen(s), n;
    if (kl_buf_append(out, "\"", 1))
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < len; i += n) {
        n = kli_utf8_len(p + i, len - i);
        bool plain = n > 1 || (n == 1 && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\');
        /* Bytes that are not UTF-8 become the code point of the same value, keeping JSON valid. */
        if (plain ? kl_buf_append(out, p + i, n) : kl_buf_printf(out, "\\u%04x", p[i]))
            return KL_ERR_NOMEM;
        n = n ? n : 1;
    }
    return kl_buf_append(out, "\"", 1);
}

static int emit_key(emitter *e, const char *label, const char *key)
{
    if (e->json) {
        bool comma = !e->first;
        e->first = false;
        return (comma && kl_buf_append(e->out, ",", 1)) || json_string(e->out, key) ||
               kl_buf_append(e->out, ":", 1);
    }
    int indent = 2 * e->depth, pad = LABEL_WIDTH - indent - (int)strlen(label) - 1;
    return kl_buf_printf(e->out, "%*s%s:%*s", indent, "", label, pad > 1 ? pad : 1, "");
}

static int emit_end_line(emitter *e)
{
    return e->json ? KL_OK : kl_buf_append(e->out, "\n", 1);
}

static int emit_uint(emitter *e, const char *label, const char *key, uint64_t v)
{
    return emit_key(e, label, key) || kl_buf_printf(e->out, "%llu", (unsigned long long)v) ||
           emit_end_line(e);
}

/* Text adds the size in binary units when it is not plain bytes already. */
static int emit_bytes(emitter *e, const char *label, const char *key, uint64_t v)
{
    if (e->json || v < 1024)
        return emit_uint(e, label, key, v);
    return emit_key(e, label, key) || kl_buf_printf(e->out, "%llu (", (unsigned long long)v) ||
           kli_text_size(e->out, v) || kl_buf_append(e->out, ")\n", 2);
}

/* A number that may be undefined: JSON null, text "-". */
static int emit_fixed(emitter *e, const char *label, const char *key, bool defined, double v,
                      const char *unit)
{
    if (emit_key(e, label, key))
        return KL_ERR_NOMEM;
    if (!defined)
        return kl_buf_append(e->out, e->json ? "null" : "-", e->json ? 4 : 1) || emit_end_line(e);
    return kli_text_fixed(e->out, v, 2) || (!e->json && kl_buf_printf(e->out, "%s\n", unit));
}

/* JSON has the ns number and "<key>_text"; text has the RFC3339 form. */
static int emit_time(emitter *e, const char *label, const char *key, int64_t t)
{
    if (!e->json)
        return emit_key(e, label, key) || kl_print_time(t, e->out) || emit_end_line(e);
    char text_key[32];
    snprintf(text_key, sizeof text_key, "%s_text", key);
    if (!t)
        return emit_key(e, label, key) || kl_buf_append(e->out, "null", 4) ||
               emit_key(e, label, text_key) || kl_buf_append(e->out, "null", 4);
    return emit_key(e, label, key) || kl_buf_printf(e->out, "%lld", (long long)t) ||
           emit_key(e, label, text_key) || kl_buf_append(e->out, "\"", 1) ||
           kl_print_time(t, e->out) || kl_buf_append(e->out, "\"", 1);
}

/* A count of distinct names that may have hit PEERS_MAX: text "100000+", JSON a
 * "<key>_capped" flag beside it. */
static int emit_distinct(emitter *e, const char *label, const char *key, const peer_map *m)
{
    bool capped = m->others > 0;
    if (!e->json)
        return emit_key(e, label, key) ||
               kl_buf_printf(e->out, "%zu%s\n", m->n, capped ? "+" : "");
    char capped_key[40];
    snprintf(capped_key, sizeof capped_key, "%s_capped", key);
    return emit_uint(e, label, key, m->n) || emit_key(e, label, capped_key) ||
           kl_buf_printf(e->out, "%s", capped ? "true" : "false");
}

/* Open a nested group: text prints the label (and a total, when given) and indents. */
static int emit_open(emitter *e, const char *label, const char *key, const char *total)
{
    int err;
    if (e->json)
        err = emit_key(e, label, key) || kl_buf_append(e->out, "{", 1);
    else if (total)
        err = emit_key(e, label, key) || kl_buf_printf(e->out, "%s\n", total);
    else
        err = kl_buf_printf(e->out, "%*s%s:\n", 2 * e->depth, "", label);
    e->first = true;
    e->depth++;
    return err;
}

static int emit_close(emitter *e)
{
    e->first = false;
    e->depth--;
    return e->json ? kl_buf_append(e->out, "}", 1) : KL_OK;
}

static int report_actions(emitter *e, const kl_stats *st)
{
    uint64_t total = 0;
    for (size_t t = 0; t < KL_ACTION_TYPE_COUNT; t++)
        total += st->actions[t];
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)total);
    if ((e->json && emit_uint(e, NULL, "actions_total", total)) ||
        emit_open(e, "Actions", "actions", text))
        return KL_ERR_NOMEM;
    for (size_t t = 0; t < KL_ACTION_TYPE_COUNT; t++)
        if (action_keys[t] && emit_uint(e, kl_action_type_name((kl_action_type)t), action_keys[t],
                                        st->actions[t]))
            return KL_ERR_NOMEM;
    return emit_close(e);
}

static int report_bytes(emitter *e, const kl_stats *st)
{
    if (emit_open(e, "Bytes", "bytes", NULL))
        return KL_ERR_NOMEM;
    for (size_t i = 0; i < N_BYTES; i++)
        if (emit_bytes(e, byte_names[i].label, byte_names[i].key, st->bytes[i]))
            return KL_ERR_NOMEM;
    return emit_close(e);
}

static int report_times(emitter *e, const kl_stats *st)
{
    int64_t d = st->last - st->first;
    uint64_t timed = st->sessions + st->replayed;
    bool failed = emit_time(e, "First session time", "first_time", st->first) ||
                  emit_time(e, "Last session time", "last_time", st->last) ||
                  emit_key(e, "Duration", "duration_ns");
    if (e->json)
        failed = failed || kl_buf_printf(e->out, "%lld", (long long)d);
    else
        failed = failed || kl_buf_printf(e->out, "%lld.%09lld seconds\n",
                                         (long long)(d / 1000000000), (long long)(d % 1000000000));
    return failed || emit_fixed(e, "Session rate", "sessions_per_second", d > 0,
                                (double)timed * 1e9 / (double)d, " sessions/s");
}

static int emit_peer(emitter *e, const char *name, uint64_t calls)
{
    if (e->json) {
        bool comma = !e->first;
        e->first = false;
        return (comma && kl_buf_append(e->out, ",", 1)) || kl_buf_append(e->out, "{\"peer\":", 8) ||
               json_string(e->out, name) ||
               kl_buf_printf(e->out, ",\"calls\":%llu}", (unsigned long long)calls);
    }
    kl_buf label = {0};
    int err = kli_text_escaped(&label, (const uint8_t *)name, strlen(name)) ||
              kl_buf_printf(e->out, "  %-*s %llu call%s\n", LABEL_WIDTH - 3,
                            label.data ? label.data : "", (unsigned long long)calls,
                            calls == 1 ? "" : "s");
    kl_buf_free(&label);
    return err;
}

/* The PEERS_TOP most called outbound peers, then "others" for the rest. */
static int report_peers(emitter *e, const kl_stats *st)
{
    const peer **list = map_sorted(&st->outbound);
    if (!list)
        return KL_ERR_NOMEM;
    uint64_t others = st->outbound.others;
    bool failed = emit_distinct(e, "Inbound peers", "inbound_peers", &st->inbound) ||
                  emit_distinct(e, "Outbound peers", "outbound_peers", &st->outbound) ||
                  (e->json && (emit_key(e, NULL, "peers") || kl_buf_append(e->out, "[", 1)));
    e->first = true;
    for (size_t i = 0; i < st->outbound.n && !failed; i++) {
        if (i < PEERS_TOP)
            failed = emit_peer(e, list[i]->name, list[i]->calls);
        else
            others += list[i]->calls;
    }
    free(list);
    failed = failed || (others && emit_peer(e, "others", others));
    e->first = false;
    return failed || (e->json && kl_buf_append(e->out, "]", 1));
}

static int report_replay(emitter *e, const kl_stats *st)
{
    if (!e->json && !st->replayed)
        return KL_OK;
    return emit_open(e, "Replay", "replay", NULL) ||
           emit_uint(e, "Same responses", "same_responses", st->same_responses) ||
           emit_uint(e, "Matched calls", "matched_calls", st->matched_calls) ||
           emit_uint(e, "Unmatched calls", "unmatched_calls", st->unmatched_calls) ||
           emit_uint(e, "Unused recorded calls", "unused_recorded_calls", st->unused_calls) ||
           emit_uint(e, "Errors", "errors", st->replay_errors) || emit_close(e);
}

static int report_files(emitter *e, const kl_stats *st)
{
    if (!e->json && !st->files)
        return KL_OK;
    return emit_uint(e, "Files", "files", st->files) ||
           emit_uint(e, "Files without index", "files_without_index", st->files_without_index) ||
           emit_uint(e, "Frames", "frames", st->frames) ||
           emit_bytes(e, "Content bytes", "content_bytes", st->content_bytes) ||
           emit_bytes(e, "File bytes", "file_bytes", st->file_bytes) ||
           emit_fixed(e, "Compression ratio", "compression_ratio", st->file_bytes > 0,
                      (double)st->content_bytes / (double)st->file_bytes, "");
}

int kl_stats_report(const kl_stats *st, bool json, kl_buf *out)
{
    emitter e = {.out = out, .json = json, .first = true};
    bool failed = (json && kl_buf_append(out, "{", 1)) ||
                  emit_uint(&e, "Sessions", "sessions", st->sessions) ||
                  emit_uint(&e, "Replayed sessions", "replayed_sessions", st->replayed) ||
                  emit_uint(&e, "Truncated sessions", "truncated_sessions", st->truncated) ||
                  report_times(&e, st) || report_actions(&e, st) || report_bytes(&e, st) ||
                  report_peers(&e, st) || report_replay(&e, st) || report_files(&e, st) ||
                  (json && kl_buf_append(out, "}\n", 2));
    return failed ? KL_ERR_NOMEM : KL_OK;
}
