/* bench_start.c - what the recorder adds to a process's start and exit. A service that runs
 * short commands (a shell, a CGI program, a health check) passes LD_PRELOAD on to each, and
 * each pays this although it records nothing. /bin/true runs under
 * LD_PRELOAD=$B/lib/libkoala-recorder.so with KOALA_RECORD_TO_DIR set, and without either, in
 * alternated batches; the figure is the CPU time a process used (wait4), the best batch's
 * mean of each side. */
#include "bench.h"

#define PROGRAM "/bin/true"
#define BATCH 100  /* processes per batch */
#define ROUNDS 5   /* batches per side, alternated */

static double seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Mean CPU seconds and wall seconds of one run of PROGRAM, over a batch. */
static void batch(double *cpu, double *wall)
{
    char *argv[] = {PROGRAM, NULL};
    *cpu = *wall = 0;
    for (int i = 0; i < BATCH; i++) {
        struct rusage ru;
        *wall += bench_run(argv, NULL, 0, &ru);
        *cpu += seconds(ru.ru_utime) + seconds(ru.ru_stime);
    }
    *cpu /= BATCH;
    *wall /= BATCH;
}

int main(void)
{
    bench_name = "bench_start";
    char self[4096], so[4200], rec_dir[4096], log[4200];
    bench_recorder_setup(self, so, rec_dir);
    /* The recorder is loaded, and says so at exit, at DEBUG: a process that recorded nothing. */
    snprintf(log, sizeof log, "%s/log", rec_dir);
    bench_preload(true, so, rec_dir);
    setenv("KOALA_LOG_LEVEL", "DEBUG", 1);
    setenv("KOALA_LOG_FILE", "STDOUT", 1);
    bench_run((char *[]){PROGRAM, NULL}, log, 0, NULL);
    size_t len;
    FILE *f = fopen(log, "r");
    char said[4096] = "";
    len = f ? fread(said, 1, sizeof said - 1, f) : 0;
    said[len] = 0;
    if (f)
        fclose(f);
    if (!strstr(said, "0 sessions written, 0 dropped"))
        bench_die("%s under the recorder did not say it ran: %s", PROGRAM, said);
    unlink(log);
    unsetenv("KOALA_LOG_FILE");

    double best[2][2] = {{1e9, 1e9}, {1e9, 1e9}}; /* [hooked][cpu, wall] */
    for (int i = 0; i < ROUNDS; i++)
        for (int k = 0; k < 2; k++) {
            bool hooked = (i + k) % 2 == 1; /* which side goes first alternates */
            double cpu, wall;
            bench_preload(hooked, so, rec_dir);
            batch(&cpu, &wall);
            best[hooked][0] = cpu < best[hooked][0] ? cpu : best[hooked][0];
            best[hooked][1] = wall < best[hooked][1] ? wall : best[hooked][1];
        }
    bench_preload(false, so, rec_dir);
    if (rmdir(rec_dir) != 0)
        bench_die("%s: the recorder wrote something: %s", rec_dir, strerror(errno));
    double added = (best[1][0] - best[0][0]) * 1e3;
    printf("rec-start: %.2f ms of CPU per process under the recorder vs %.2f ms without = %+.2f ms (%s, "
           "recording to a directory, recording nothing; the best of %d alternated batches of %d; "
           "wall %.2f vs %.2f ms) (target < +1 ms) %s\n",
           best[1][0] * 1e3, best[0][0] * 1e3, added, PROGRAM, ROUNDS, BATCH, best[1][1] * 1e3,
           best[0][1] * 1e3, bench_pass(added < 1));
    return 0;
}
