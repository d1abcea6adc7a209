/* bench_diff.c - koala-diff over 10,000 recorded and replayed session pairs, each with an HTTP
 * JSON response and 10 Redis calls, against reading the same two files. One pair in ten has a
 * changed response field, one in twenty a changed call. */
#include "bench.h"

#define PAIRS 10000
#define CALLS 10
#define RUNS 3 /* best of */

static kl_bytes text(const char *s, size_t len)
{
    return (kl_bytes){(const uint8_t *)s, len};
}

/* The pair i: a recorded session and its replay, written to rw and pw. */
static void write_pair(kl_writer *rw, kl_writer *pw, int i)
{
    char id[64], req[128], resp[1024], body[768], keys[CALLS][64], calls[CALLS][128], now[CALLS][128];
    char answers[CALLS][32], changed_resp[1024];
    snprintf(id, sizeof id, "%lld-7000", 1709287200000000000LL + (long long)i * 1000000);
    int rl = snprintf(req, sizeof req, "GET /visits/%d-%d HTTP/1.1\r\nHost: svc\r\nAccept: application/json\r\n\r\n",
                      i, i + CALLS - 1);
    kl_action acts[CALLS];
    kl_replayed_action racts[CALLS];
    int bl = snprintf(body, sizeof body, "{\"first\":%d,\"visits\":[", i);
    for (int j = 0; j < CALLS; j++) {
        snprintf(keys[j], sizeof keys[j], "visits:user:%d", i + j);
        int cl = snprintf(calls[j], sizeof calls[j], "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(keys[j]), keys[j]);
        int al = snprintf(answers[j], sizeof answers[j], "$%d\r\n%d\r\n", (i + j) % 9 < 1 ? 1 : 2,
                          (i + j) % 9 < 1 ? 7 : 10 + (i + j) % 90);
        bl += snprintf(body + bl, sizeof body - (size_t)bl, "%s%d", j ? "," : "", (i + j) % 9 < 1 ? 7 : 10 + (i + j) % 90);
        acts[j] = (kl_action){.type = KL_ACTION_CALL_OUTBOUND, .index = j, .socket_fd = 7,
                              .occurred_at = 1709287200000000000LL + (long long)i * 1000000 + j * 1000,
                              .request = text(calls[j], (size_t)cl), .response = text(answers[j], (size_t)al)};
        kl_addr_parse("10.0.0.5:6379", &acts[j].peer);
        /* One pair in twenty asks for another key on its fourth call. */
        int nl = i % 20 == 0 && j == 3 ? snprintf(now[j], sizeof now[j], "*2\r\n$3\r\nGET\r\n$%zu\r\n%s0\r\n",
                                                  strlen(keys[j]) + 1, keys[j])
                                       : cl;
        racts[j] = (kl_replayed_action){.action = acts[j], .matched_index = j, .matched_score = 1,
                                        .runner_up_index = -1, .matched_request = acts[j].request,
                                        .matched_response = acts[j].response};
        if (i % 20 == 0 && j == 3)
            racts[j].action.request = text(now[j], (size_t)nl);
    }
    bl += snprintf(body + bl, sizeof body - (size_t)bl, "],\"tier\":\"silver\",\"ts\":%d}", 1709287200 + i);
    int hl = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                      bl, body);
    /* One pair in ten answers another tier. */
    int cl = snprintf(changed_resp, sizeof changed_resp, "%s", resp);
    char *tier = strstr(changed_resp, "\"silver\"");
    if (i % 10 == 0 && tier)
        memcpy(tier, "\"golden\"", 8);
    kl_session s = {.id = id, .thread_id = 7000, .pid = 4242, .program = "svc", .actions = acts, .n_actions = CALLS};
    s.call_from_inbound = (kl_call_from_inbound){.present = true, .index = -1,
                                                 .occurred_at = 1709287200000000000LL + (long long)i * 1000000,
                                                 .request = text(req, (size_t)rl)};
    kl_addr_parse("10.0.0.9:51000", &s.call_from_inbound.peer);
    s.return_inbound = (kl_return_inbound){.present = true, .index = CALLS, .response = text(resp, (size_t)hl)};
    kl_replayed r = {.session_id = id, .original_request_time = s.call_from_inbound.occurred_at,
                     .original_request = s.call_from_inbound.request, .original_response = s.return_inbound.response,
                     .response = text(changed_resp, (size_t)cl), .replayed_at = s.call_from_inbound.occurred_at,
                     .actions = racts, .n_actions = CALLS};
    if (kl_writer_write(rw, &s) != KL_OK || kl_writer_write_replayed(pw, &r) != KL_OK)
        bench_die("writing pair %d: %s %s", i, kl_writer_error(rw), kl_writer_error(pw));
}

static void generate(const char *rec, const char *rep)
{
    kl_writer_opts ro, po;
    kl_writer_opts_init(&ro);
    kl_writer_opts_init(&po);
    po.kind = KL_KIND_REPLAYED;
    kl_writer *rw, *pw;
    if (kl_writer_open(&rw, rec, &ro) != KL_OK || kl_writer_open(&pw, rep, &po) != KL_OK)
        bench_die("cannot create %s or %s: %s", rec, rep, strerror(errno));
    for (int i = 0; i < PAIRS; i++)
        write_pair(rw, pw, i);
    if (kl_writer_close(rw) != KL_OK || kl_writer_close(pw) != KL_OK)
        bench_die("closing %s or %s", rec, rep);
}

/* koala-diff --summary rec rep as a child: seconds taken; its summary line in line. */
static double run_diff(const char *diff, const char *rec, const char *rep, char *line, size_t cap)
{
    char out[4200];
    snprintf(out, sizeof out, "%s/koala-bench-diff.out", bench_scratch_dir());
    char *const argv[] = {(char *)diff, (char *)"--summary", (char *)rec, (char *)rep, NULL};
    double t = bench_run(argv, out, 1, NULL); /* 1: differences found, as planted */
    FILE *f = fopen(out, "r");
    if (!f || !fgets(line, (int)cap, f))
        bench_die("%s: no summary", out);
    fclose(f);
    unlink(out);
    line[strcspn(line, "\n")] = '\0';
    return t;
}

/* The baseline: every session of both files read, decoded. */
static double read_both(const char *rec, const char *rep)
{
    double t0 = bench_now();
    char eb[KL_ERRBUF_SIZE];
    kl_reader *r;
    if (kl_reader_open(&r, rec, eb) != KL_OK)
        bench_die("%s: %s", rec, eb);
    const kl_session *s;
    while (kl_reader_next(r, &s) == KL_OK)
        ;
    kl_reader_close(r);
    if (kl_reader_open(&r, rep, eb) != KL_OK)
        bench_die("%s: %s", rep, eb);
    const kl_replayed *p;
    while (kl_reader_next_replayed(r, &p) == KL_OK)
        ;
    kl_reader_close(r);
    return bench_now() - t0;
}

int main(int argc, char **argv)
{
    (void)argc;
    bench_name = "bench_diff";
    char diff[4096];
    bench_tool_path(diff, sizeof diff, argv[0], "koala-diff");
    if (access(diff, X_OK) != 0) {
        printf("diff: SKIP (%s: %s)\n", diff, strerror(errno));
        return 0;
    }
    char rec[4096], rep[4096];
    snprintf(rec, sizeof rec, "%s/koala-bench-diff-rec.pb", bench_scratch_dir());
    snprintf(rep, sizeof rep, "%s/koala-bench-diff-rep.pb", bench_scratch_dir());
    generate(rec, rep);
    char line[512] = "";
    double best = 1e9, base = 1e9;
    for (int i = 0; i < RUNS; i++) {
        double t = run_diff(diff, rec, rep, line, sizeof line);
        best = t < best ? t : best;
        t = read_both(rec, rep);
        base = t < base ? t : base;
    }
    unlink(rec);
    unlink(rep);
    printf("diff: %.2f s for %d session pairs of %d outbound calls (koala-diff --summary: %s) vs reading both "
           "files %.2f s = %.1fx (best of %d runs) (target < 2 s) %s\n",
           best, PAIRS, CALLS, line, base, best / base, RUNS, bench_pass(best < 2));
    return 0;
}
