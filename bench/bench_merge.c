/* bench_merge.c - koala-merge of 8 inputs totalling 1 GiB of sessions: its peak RSS, and its
 * throughput against reading the same inputs. */
#include "bench.h"

#define INPUTS 8
#define RUNS 2 /* best of */

/* Run the merge as a child. @return seconds; *rss_kib receives its peak RSS. */
static double run_merge(const char *merge, char inputs[INPUTS][4096], long *rss_kib)
{
    char *args[INPUTS + 4];
    int n = 0;
    args[n++] = (char *)merge;
    args[n++] = (char *)"-o";
    args[n++] = (char *)"/dev/null";
    for (int i = 0; i < INPUTS; i++)
        args[n++] = inputs[i];
    args[n] = NULL;
    struct rusage ru;
    double t = bench_run(args, NULL, 0, &ru);
    *rss_kib = ru.ru_maxrss;
    return t;
}

/* The baseline: read every session of every input, decoded, as in bench_format's read. */
static double read_all(char inputs[INPUTS][4096], uint64_t *content)
{
    double t0 = bench_now();
    *content = 0;
    for (int i = 0; i < INPUTS; i++) {
        char eb[KL_ERRBUF_SIZE];
        kl_reader *r = NULL;
        if (kl_reader_open(&r, inputs[i], eb) != KL_OK)
            bench_die("%s: %s", inputs[i], eb);
        *content += kl_reader_info(r)->content_bytes;
        const kl_session *s;
        int rc;
        while ((rc = kl_reader_next(r, &s)) == KL_OK)
            ;
        if (rc != KL_END)
            bench_die("%s: %s", inputs[i], kl_reader_error(r));
        kl_reader_close(r);
    }
    return bench_now() - t0;
}

int main(int argc, char **argv)
{
    (void)argc;
    bench_name = "bench_merge";
    char merge[4096];
    bench_tool_path(merge, sizeof merge, argv[0], "koala-merge");
    if (access(merge, X_OK) != 0) {
        printf("merge: SKIP (%s: %s)\n", merge, strerror(errno));
        return 0;
    }
    char dir[3000], inputs[INPUTS][4096];
    snprintf(dir, sizeof dir, "%s/koala-bench-merge", bench_keep_dir());
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        bench_die("%s: %s", dir, strerror(errno));
    for (int i = 0; i < INPUTS; i++) {
        snprintf(inputs[i], sizeof inputs[i], "%s/in-%d.pb", dir, i);
        if (!bench_file_ok(inputs[i], GIB / INPUTS)) {
            fprintf(stderr, "bench_merge: generating %s (1/8 GiB of sessions, once)\n", inputs[i]);
            /* one process each, as the hook writes: same clock, their own threads */
            bench_make_file(inputs[i], GIB / INPUTS, 0x6d65726765ull + (uint64_t)i, 7101 + 100 * i);
        }
    }

    double best_m = 1e9, best_r = 1e9;
    long rss = 0;
    uint64_t content = 0;
    for (int i = 0; i < RUNS; i++) {
        long run_rss;
        double t = run_merge(merge, inputs, &run_rss);
        best_m = t < best_m ? t : best_m;
        rss = run_rss > rss ? run_rss : rss;
        t = read_all(inputs, &content);
        best_r = t < best_r ? t : best_r;
    }
    double m_mbs = (double)content / MB / best_m, r_mbs = (double)content / MB / best_r;
    double rss_mib = (double)rss / 1024;
    printf("merge-rss: %.1f MiB peak RSS merging %d inputs of %.2f GiB in all (target < 64 MiB) %s\n",
           rss_mib, INPUTS, (double)content / (double)GIB, bench_pass(rss_mib < 64));
    printf("merge: %.0f MB/s vs reading the same inputs (every session decoded) %.0f MB/s = %.2f "
           "(target >= 0.50) %s\n", m_mbs, r_mbs, m_mbs / r_mbs, bench_pass(m_mbs / r_mbs >= 0.5));
    return 0;
}
