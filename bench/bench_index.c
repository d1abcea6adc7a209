/* bench_index.c - `koala-dump --count` and the time range, answered from the index of a 1 GiB
 * file: kl_reader_open + kl_reader_count + kl_reader_info against a linear scan. */
#include "bench.h"

#define RUNS 20 /* best of */

int main(void)
{
    bench_name = "bench_index";
    char path[4096];
    snprintf(path, sizeof path, "%s/koala-bench-1g.pb", bench_keep_dir());
    if (!bench_file_ok(path, GIB)) {
        fprintf(stderr, "bench_index: generating %s (1 GiB of sessions, once)\n", path);
        bench_make_file(path, GIB, 0x696e646578ull, 7101);
    }

    double best = 1e9;
    uint64_t n = 0;
    kl_file_info info;
    for (int i = 0; i < RUNS; i++) {
        double t0 = bench_now();
        char eb[KL_ERRBUF_SIZE];
        kl_reader *r = NULL;
        if (kl_reader_open(&r, path, eb) != KL_OK)
            bench_die("%s: %s", path, eb);
        if (kl_reader_count(r, &n) != KL_OK)
            bench_die("%s: %s", path, kl_reader_error(r));
        const kl_file_info *fi = kl_reader_info(r);
        info = *fi;
        kl_reader_close(r);
        double t = bench_now() - t0;
        best = t < best ? t : best;
        if (!info.has_index || info.first_time == 0 || info.last_time < info.first_time)
            bench_die("%s: the index did not give the count and time range", path);
    }

    /* baseline: what a reader without the index does, a scan of every record */
    double t0 = bench_now();
    kl_reader *r = NULL;
    char eb[KL_ERRBUF_SIZE];
    if (kl_reader_open(&r, path, eb) != KL_OK)
        bench_die("%s: %s", path, eb);
    kl_raw raw;
    uint64_t scanned = 0;
    int rc;
    while ((rc = kl_reader_next_raw(r, &raw)) == KL_OK)
        scanned++;
    if (rc != KL_END || scanned != n)
        bench_die("%s: the scan found %llu sessions, the index %llu", path,
                  (unsigned long long)scanned, (unsigned long long)n);
    kl_reader_close(r);
    double scan = bench_now() - t0;

    printf("count: %.3f ms for open+count+info of a %.2f GiB file (%llu sessions, %llu frames, "
           "time range from the index) vs a linear scan %.0f ms = 1/%.0f (target < 10 ms) %s\n",
           best * 1e3, (double)info.content_bytes / (double)GIB, (unsigned long long)n,
           (unsigned long long)info.frames, scan * 1e3, scan / best, bench_pass(best < 0.010));
    return 0;
}
