/* bench_match.c - the replayer's outbound matcher: microseconds per match against a session of
 * 1000 recorded calls of about 1 KB (HTTP JSON, Redis, MySQL), for the chunk and sim strategies,
 * each against the original's way (a memmem scan of every chunk over every call; a cosine over
 * every call's token map). */
#include <math.h>

#include "bench.h"
#include "../tests/orig_chunks.h"

#define CALLS 1000
#define QUERIES 1000
#define BASE_QUERIES 50 /* the baselines are slow: fewer queries, same mix */
#define RUNS 3          /* best of */
#define TARGET_US 50.0

typedef struct req {
    uint8_t *data;
    size_t len;
    size_t answer;      /* the recorded call it was copied from */
} req;

static req calls[CALLS], queries[QUERIES];

static req take(kl_buf *b)
{
    req r = {malloc(b->len), b->len, 0};
    if (!r.data)
        bench_die("out of memory");
    memcpy(r.data, b->data, b->len);
    b->len = 0;
    return r;
}

/* A document of about 1 KB: a user and one of their orders. */
static void make_doc(tg_gen *g, unsigned uid, unsigned oid)
{
    tg_puts(g, &g->body, "{\"user\":");
    tg_user_json(g, &g->body, uid);
    tg_puts(g, &g->body, ",\"order\":");
    tg_order_json(g, &g->body, oid, uid);
    tg_putc(g, &g->body, '}');
}

/* A recorded call of about 1 KB: an HTTP JSON write, a Redis SET of a cached document, or a
 * MySQL INSERT of one; the same few shapes over many users and orders, as in a real session. */
static req make_call(tg_gen *g, unsigned i)
{
    unsigned uid = 1 + tg_below(g, 5000), oid = 900000 + i;
    char rid[40], key[64], sql[4096], ts[32], trace[33], span[17], tp[64];
    tg_uuid(g, rid, sizeof rid);
    g->body.len = g->out.len = g->tmp.len = 0;
    switch (i % 3) {
    case 0:
        tg_hex(g, trace, 32);
        tg_hex(g, span, 16);
        snprintf(tp, sizeof tp, "00-%s-%s-01", trace, span);
        tg_token(g, &g->tmp, uid, TG_BASE_TIME + (int64_t)i * 1000000000);
        if (tg_chance(g, 50)) {
            char path[64];
            snprintf(path, sizeof path, "/v2/profiles/%u", uid);
            tg_user_json(g, &g->body, uid);
            tg_http_request(g, &g->out, "PUT", "profile-svc.internal:8080", path,
                            "sample-svc/2.3.1 Go-http-client/1.1", g->tmp.data, rid, tp, &g->body);
        } else {
            tg_order_json(g, &g->body, oid, uid);
            tg_http_request(g, &g->out, "POST", "order-svc.internal:8080", "/v1/orders",
                            "sample-svc/2.3.1 Go-http-client/1.1", g->tmp.data, rid, tp, &g->body);
        }
        break;
    case 1:
        snprintf(key, sizeof key, "user:%u:last_order", uid);
        make_doc(g, uid, oid);
        tg_resp_cmd(g, &g->out, 5, (const char *const[]){"SET", key, g->body.data, "EX", "300"});
        break;
    default:
        make_doc(g, uid, oid);
        tg_sqltime(ts, sizeof ts, TG_BASE_TIME + (int64_t)i * 1000000000);
        snprintf(sql, sizeof sql, "INSERT INTO order_events (order_id, user_id, kind, payload, "
                 "created_at) VALUES (%u, %u, 'created', '%s', '%s')", oid, uid, g->body.data, ts);
        tg_my_query(g, &g->out, sql);
        break;
    }
    if (g->err)
        bench_die("out of memory");
    return take(&g->out);
}

/* A copy of call j as a new build would send it: two numbers of its payload (an id, a
 * timestamp in its second half: the request line or key stays) changed. */
static req make_query(tg_gen *g, size_t j)
{
    req q = {malloc(calls[j].len), calls[j].len, j};
    if (!q.data)
        bench_die("out of memory");
    memcpy(q.data, calls[j].data, q.len);
    for (int k = 0; k < 2; k++) {
        size_t at = q.len / 2 + tg_below(g, (uint32_t)(q.len - q.len / 2));
        while (at < q.len && (q.data[at] < '0' || q.data[at] > '9'))
            at++;
        if (at < q.len)
            q.data[at] = (uint8_t)('0' + (q.data[at] - '0' + 1 + tg_below(g, 8)) % 10);
    }
    return q;
}

static bool right(const kl_session *s, int64_t got, size_t want)
{
    if (got < 0)
        return false;
    const kl_bytes *b = &s->actions[got].request;
    return (size_t)got == want ||
           (b->len == calls[want].len && !memcmp(b->data, calls[want].data, b->len));
}

/* ---- the original chunk matcher, as koala/replaying/matcher_chunk.go runs it on a fresh
 * connection ---- */

static int64_t orig_chunk_match(const req *q)
{
    static const uint8_t *cp[4096], *rest[CALLS];
    static size_t cl[4096], rl[CALLS];
    static long score[CALLS];
    size_t n = orig_chunks(q->data, q->len, cp, cl);
    for (size_t j = 0; j < CALLS; j++)
        rest[j] = calls[j].data, rl[j] = calls[j].len, score[j] = 0;
    long max = 0;
    size_t best = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < CALLS; j++) {
            const uint8_t *hit = memmem(rest[j], rl[j], cp[i], cl[i]);
            if (!hit)
                continue;
            rl[j] -= (size_t)(hit - rest[j]);
            rest[j] = hit;
            score[j] += i == 0 ? (long)n : 1;
            if (score[j] > max)
                max = score[j], best = j;
        }
    return (double)max / (double)n >= 0.1 ? (int64_t)best : -1;
}

/* ---- the original cosine matcher: a token map per call (prepared once, as the original
 * caches them per session), each walked and probed in the request's map for every match; its
 * lexer without the HTTP weights, which cost little ---- */

typedef struct vec {
    uint64_t *key;
    double *w;
    size_t n;
} vec;

static uint64_t tok_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h | 1;
}

static bool wordb(uint8_t b)
{
    return (b >= '0' && b <= '9') || ((b | 0x20) >= 'a' && (b | 0x20) <= 'z') || b == '.' ||
           b == '_' || b >= 0x80;
}

/* The tokens into an open-addressed map of 2^bits slots (the Go map). */
static void orig_vector(const uint8_t *t, size_t len, vec *v, unsigned bits)
{
    size_t cap = (size_t)1 << bits;
    memset(v->key, 0, cap * sizeof *v->key);
    v->n = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i + 1;
        if (wordb(t[i]))
            while (e < len && e - i < 128 && wordb(t[e]))
                e++;
        uint64_t h = tok_hash(t + i, e - i);
        size_t s = h & (cap - 1);
        while (v->key[s] && v->key[s] != h)
            s = (s + 1) & (cap - 1);
        if (!v->key[s]) {
            v->key[s] = h;
            v->w[s] = 0;
            v->n++;
        }
        v->w[s] += wordb(t[i]) ? (double)(e - i) : 1;
        i = e;
    }
}

static double orig_lookup(const vec *v, unsigned bits, uint64_t h)
{
    size_t cap = (size_t)1 << bits, s = h & (cap - 1);
    while (v->key[s] && v->key[s] != h)
        s = (s + 1) & (cap - 1);
    return v->key[s] ? v->w[s] : 0;
}

#define VBITS 12

static vec cvec[CALLS];

static void orig_sim_prepare(void)
{
    for (size_t j = 0; j < CALLS; j++) {
        cvec[j].key = malloc(sizeof(uint64_t) << VBITS);
        cvec[j].w = malloc(sizeof(double) << VBITS);
        if (!cvec[j].key || !cvec[j].w)
            bench_die("out of memory");
        orig_vector(calls[j].data, calls[j].len, &cvec[j], VBITS);
    }
}

static int64_t orig_sim_match(const req *q, vec *qv)
{
    orig_vector(q->data, q->len, qv, VBITS);
    double qn = 0, best = 0;
    int64_t at = -1;
    for (size_t s = 0; s < ((size_t)1 << VBITS); s++)
        qn += qv->key[s] ? qv->w[s] * qv->w[s] : 0;
    for (size_t j = 0; j < CALLS; j++) {
        double dot = 0, cn = 0;
        for (size_t s = 0; s < ((size_t)1 << VBITS); s++)
            if (cvec[j].key[s]) {
                dot += cvec[j].w[s] * orig_lookup(qv, VBITS, cvec[j].key[s]);
                cn += cvec[j].w[s] * cvec[j].w[s];
            }
        double sim = dot / (sqrt(qn) * sqrt(cn));
        if (sim > best)
            best = sim, at = (int64_t)j;
    }
    return best >= 0.7 ? at : -1;
}

/* ---- the figures ---- */

static void figure(const char *name, kl_match_strategy strategy, const kl_session *s,
                   double base_us, size_t base_right, size_t total_bytes)
{
    kl_match_opts o;
    kl_match_opts_init(&o);
    o.strategy = strategy;
    double t0 = bench_now();
    kl_matcher *m = NULL;
    int rc = kl_matcher_new(s, &o, &m);
    if (rc != KL_OK)
        bench_die("kl_matcher_new: %s", kl_strerror(rc));
    double prep = bench_now() - t0, best = 1e9;
    size_t ok = 0;
    for (int run = 0; run < RUNS; run++) {
        ok = 0;
        t0 = bench_now();
        for (size_t i = 0; i < QUERIES; i++) {
            kl_match r;
            if (kl_matcher_match(m, queries[i].data, queries[i].len, -1, &r) != KL_OK)
                bench_die("kl_matcher_match failed");
            ok += right(s, r.index, queries[i].answer);
        }
        double t = bench_now() - t0;
        best = t < best ? t : best;
    }
    kl_matcher_free(m);
    double us = best / QUERIES * 1e6;
    printf("match-%s: %.1f us per match against %d recorded calls of %.1f KB (%zu/%d right, "
           "prepared in %.0f ms) vs the original's %s %.0f us (%zu/%d right) = 1/%.0f "
           "(target <= %.0f us) %s\n",
           name, us, CALLS, (double)total_bytes / CALLS / 1024, ok, QUERIES, prep * 1e3,
           strategy == KL_MATCH_SIM ? "cosine over every call" : "memmem scan", base_us,
           base_right, BASE_QUERIES, base_us / us, TARGET_US,
           bench_pass(us <= TARGET_US && ok >= QUERIES * 99 / 100));
}

int main(void)
{
    bench_name = "bench_match";
    tg_gen g;
    tg_init(&g, 0x6d61746368ull, 8, 2);
    kl_session *s = kl_session_new();
    if (!s)
        bench_die("out of memory");
    size_t total = 0;
    for (unsigned i = 0; i < CALLS; i++) {
        calls[i] = make_call(&g, i);
        total += calls[i].len;
        kl_action a = {.type = KL_ACTION_CALL_OUTBOUND, .index = (int64_t)i};
        a.request = (kl_bytes){calls[i].data, calls[i].len};
        a.response = (kl_bytes){(const uint8_t *)"+OK\r\n", 5};
        if (kl_session_add_action(s, &a) != KL_OK)
            bench_die("out of memory");
    }
    for (size_t i = 0; i < QUERIES; i++)
        queries[i] = make_query(&g, tg_below(&g, CALLS));

    /* the baselines: BASE_QUERIES queries spread over the mix */
    size_t step = QUERIES / BASE_QUERIES, chunk_right = 0, sim_right = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < QUERIES; i += step)
        chunk_right += right(s, orig_chunk_match(&queries[i]), queries[i].answer);
    double chunk_us = (bench_now() - t0) / BASE_QUERIES * 1e6;
    orig_sim_prepare();
    vec qv = {malloc(sizeof(uint64_t) << VBITS), malloc(sizeof(double) << VBITS), 0};
    if (!qv.key || !qv.w)
        bench_die("out of memory");
    t0 = bench_now();
    for (size_t i = 0; i < QUERIES; i += step)
        sim_right += right(s, orig_sim_match(&queries[i], &qv), queries[i].answer);
    double sim_us = (bench_now() - t0) / BASE_QUERIES * 1e6;

    figure("chunk", KL_MATCH_CHUNK, s, chunk_us, chunk_right, total);
    figure("sim", KL_MATCH_SIM, s, sim_us, sim_right, total);

    free(qv.key);
    free(qv.w);
    for (size_t j = 0; j < CALLS; j++) {
        free(cvec[j].key);
        free(cvec[j].w);
        free(calls[j].data);
    }
    for (size_t i = 0; i < QUERIES; i++)
        free(queries[i].data);
    kl_session_free(s);
    tg_free(&g);
    return 0;
}
