/* bench_hook.c - the recorder's cost on the calls it does not record: write() to a regular file
 * and read() from a pipe, under libkoala-recorder.so (recording on) against without it.
 *
 * Run with no arguments, it runs itself as "bench_hook --loop" in alternated child processes,
 * half of them with LD_PRELOAD=$B/lib/libkoala-recorder.so (found next to $B/bench/) and
 * KOALA_RECORD_TO_DIR set, and compares the best rate of each half, in operations per second
 * of the child's CPU time. */
#include <fcntl.h>
#include <libgen.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "bench.h"

#define PIECE 64              /* bytes per write() and per read() */
#define REFILL 1024           /* reads per refill of the pipe (PIECE * REFILL fits in it) */
#define LOOP_SECONDS 0.12     /* one timed run inside a child */
#define LOOP_RUNS 2           /* timed runs per child, after a warm-up one; best of */
#define ROUNDS 5              /* children per half, alternated */

/* Seconds of CPU used by the whole process, the recorder's threads included: unlike the wall
 * clock, it does not count time the machine gave to other processes. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The child: ops/s of (write 64 bytes to a file in the scratch dir, read 64 bytes from a pipe).
 * The pipe is refilled and the file rewound with raw system calls, which the hook never sees,
 * once per REFILL ops. Prints "OPS THREADS RECORDER": its best rate, its thread count (the
 * recorder's writer and collector threads show that recording is on) and whether the recorder
 * is mapped. */
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
        double t0 = cpu_now(), t;
        do {
            if (syscall(SYS_write, p[1], fill, sizeof fill) != (long)sizeof fill ||
                syscall(SYS_lseek, fd, 0L, SEEK_SET) != 0)
                bench_die("refill: %s", strerror(errno));
            for (int i = 0; i < REFILL; i++)
                if (write(fd, buf, PIECE) != PIECE || read(p[0], buf, PIECE) != PIECE)
                    bench_die("write/read: %s", strerror(errno));
            ops += REFILL;
        } while ((t = cpu_now() - t0) < LOOP_SECONDS);
        if (run > 0 && ops / t > best)
            best = ops / t;
    }
    unlink(path);
    int threads = 0;
    bool mapped = false;
    char line[4608];
    FILE *maps = fopen("/proc/self/maps", "r");
    while (maps && fgets(line, sizeof line, maps))
        mapped = mapped || strstr(line, "/libkoala-recorder.so") != NULL;
    if (maps)
        fclose(maps);
    FILE *st = fopen("/proc/self/status", "r");
    while (st && fgets(line, sizeof line, st))
        sscanf(line, "Threads: %d", &threads);
    if (st)
        fclose(st);
    printf("%.0f %d %d\n", best, threads, mapped);
    return 0;
}

/* Run self --loop, hooked or not, and read back what it printed. */
static double child(const char *self, const char *so, const char *rec_dir, bool hooked)
{
    int p[2];
    if (pipe(p) != 0)
        bench_die("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        if (hooked) {
            setenv("LD_PRELOAD", so, 1);
            setenv("KOALA_RECORD_TO_DIR", rec_dir, 1);
        } else {
            unsetenv("LD_PRELOAD");
            unsetenv("KOALA_RECORD_TO_DIR");
        }
        execl(self, self, "--loop", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char out[128] = "";
    ssize_t n = read(p[0], out, sizeof out - 1);
    close(p[0]);
    out[n > 0 ? n : 0] = 0;
    int status;
    waitpid(pid, &status, 0);
    double ops = 0;
    int threads = 0, mapped = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf(out, "%lf %d %d", &ops, &threads, &mapped) != 3)
        bench_die("%s --loop%s failed", self, hooked ? " under the recorder" : "");
    if (mapped != hooked || (hooked && threads < 2))
        bench_die("%s --loop: recorder %s, %d threads: not the run it should be", self,
                  mapped ? "loaded" : "not loaded", threads);
    return ops;
}

int main(int argc, char **argv)
{
    bench_name = "bench_hook";
    if (argc == 2 && strcmp(argv[1], "--loop") == 0)
        return loop();
    char self[4096], dir[4096], so[4200], rec_dir[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        bench_die("/proc/self/exe: %s", strerror(errno));
    self[n] = 0;
    snprintf(dir, sizeof dir, "%s", self);
    snprintf(so, sizeof so, "%s/../lib/libkoala-recorder.so", dirname(dir));
    if (access(so, R_OK) != 0)
        bench_die("%s: %s (make hook)", so, strerror(errno));
    snprintf(rec_dir, sizeof rec_dir, "%s/koala-bench-hook.XXXXXX", bench_scratch_dir());
    if (!mkdtemp(rec_dir))
        bench_die("%s: %s", rec_dir, strerror(errno));

    double best_plain = 0, best_hooked = 0;
    for (int i = 0; i < ROUNDS; i++) {
        /* which half goes first alternates, so that neither always runs on a warmer machine */
        for (int k = 0; k < 2; k++) {
            bool hooked = (i + k) % 2 == 1;
            double ops = child(self, so, rec_dir, hooked);
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
