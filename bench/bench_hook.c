/* bench_hook.c - the recorder's cost on the calls it does not record: write() to a regular file
 * and read() from a pipe, under libkoala-recorder.so (recording on) against without it.
 *
 * Run with no arguments, it runs itself as "bench_hook --loop" in alternated child processes,
 * half of them with LD_PRELOAD=$B/lib/libkoala-recorder.so (found next to $B/bench/) and
 * KOALA_RECORD_TO_DIR set, and compares the best rate of each half, in operations per second
 * of the child's CPU time. */
#include <fcntl.h>
#include <sys/syscall.h>

#include "bench.h"

#define PIECE 64              /* bytes per write() and per read() */
#define REFILL 1024           /* reads per refill of the pipe (PIECE * REFILL fits in it) */
#define LOOP_SECONDS 0.12     /* one timed run inside a child */
#define LOOP_RUNS 2           /* timed runs per child, after a warm-up one; best of */
#define ROUNDS 5              /* children per half, alternated */

/* The child: ops/s of (write 64 bytes to a file in the scratch dir, read 64 bytes from a pipe).
 * The pipe is refilled and the file rewound with raw system calls, which the hook never sees,
 * once per REFILL ops. Prints its best rate (bench_loop_print). */
static int loop(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/koala-bench-hook.%ld", bench_scratch_dir(), (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int p[2];
    if (fd < 0 || pipe(p) != 0)
        bench_die("%s: %s", path, strerror(errno));
    static char fill[PIECE * REFILL], buf[PIECE];
    memset(fill, 'k', sizeof fill);
    double best = 0;
    for (int run = 0; run <= LOOP_RUNS; run++) {
        uint64_t ops = 0;
        double t0 = bench_cpu_now(CLOCK_PROCESS_CPUTIME_ID), t;
        do {
            if (syscall(SYS_write, p[1], fill, sizeof fill) != (long)sizeof fill ||
                syscall(SYS_lseek, fd, 0L, SEEK_SET) != 0)
                bench_die("refill: %s", strerror(errno));
            for (int i = 0; i < REFILL; i++)
                if (write(fd, buf, PIECE) != PIECE || read(p[0], buf, PIECE) != PIECE)
                    bench_die("write/read: %s", strerror(errno));
            ops += REFILL;
        } while ((t = bench_cpu_now(CLOCK_PROCESS_CPUTIME_ID) - t0) < LOOP_SECONDS);
        if (run > 0 && ops / t > best)
            best = ops / t;
    }
    unlink(path);
    bench_loop_print(best, 0);
    return 0;
}

int main(int argc, char **argv)
{
    bench_name = "bench_hook";
    if (argc == 2 && strcmp(argv[1], "--loop") == 0)
        return loop();
    char self[4096], so[4200], rec_dir[4096];
    bench_recorder_setup(self, so, rec_dir);
    double best_plain = 0, best_hooked = 0;
    for (int i = 0; i < ROUNDS; i++) {
        /* which half goes first alternates, so that neither always runs on a warmer machine */
        for (int k = 0; k < 2; k++) {
            bool hooked = (i + k) % 2 == 1;
            double ops, unused;
            bench_loop_child(self, so, rec_dir, hooked, 0, &ops, &unused);
            double *best = hooked ? &best_hooked : &best_plain;
            *best = ops > *best ? ops : *best;
        }
    }
    if (rmdir(rec_dir) != 0)
        bench_die("%s: the recorder wrote something: %s", rec_dir, strerror(errno));
    double ratio = best_hooked / best_plain;
    printf("rec-io: %.3f M ops/s under the recorder vs %.3f M ops/s without = %.3f (op: write() "
           "of %d bytes to a file + read() of %d bytes from a pipe, per second of process CPU time, "
           "best of %d alternated runs) (target >= 0.95) %s\n", best_hooked / 1e6, best_plain / 1e6,
           ratio, PIECE, PIECE, ROUNDS, bench_pass(ratio >= 0.95));
    return 0;
}
