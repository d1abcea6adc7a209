/* bench.h - what the benchmarks share: timing, the figure line, scratch paths and large
 * generated session files. Header-only: each benchmark is built from one source file. */
#ifndef KOALA_BENCH_H
#define KOALA_BENCH_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../samples/traffic.h"
#include "koala.h"

#define BENCH_FN static __attribute__((unused))
#define MB 1e6
#define GIB (1ull << 30)
#define BENCH_LEVEL 3 /* zstd level of bench files, the writer's default */

static const char *bench_name = "bench";

BENCH_FN double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

BENCH_FN __attribute__((noreturn, format(printf, 1, 2))) void bench_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", bench_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* A directory for scratch files: /dev/shm when there is one (the figures measure CPU, not
 * the disk), else $TMPDIR or /tmp. */
BENCH_FN const char *bench_scratch_dir(void)
{
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    return getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
}

/* Where the large inputs live between runs (regenerated when missing or wrong). */
BENCH_FN const char *bench_keep_dir(void)
{
    return getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
}

/* The path of tool (koala-merge...): $B/bin/TOOL, or ../bin/TOOL next to this program's
 * directory. */
BENCH_FN void bench_tool_path(char *buf, size_t len, const char *argv0, const char *tool)
{
    const char *b = getenv("B");
    if (b && *b) {
        snprintf(buf, len, "%s/bin/%s", b, tool);
        return;
    }
    const char *slash = strrchr(argv0, '/');
    int dir = slash ? (int)(slash - argv0) : 1;
    snprintf(buf, len, "%.*s/../bin/%s", dir, slash ? argv0 : ".", tool);
}

/* Run argv (argv[0]: the program's path) as a child with its stdout to file out (NULL: ours),
 * and stop unless it exits with status want. @return the seconds it took; *ru (may be NULL)
 * receives what it used (ru_maxrss: its peak RSS). */
BENCH_FN double bench_run(char *const argv[], const char *out, int want, struct rusage *ru)
{
    struct rusage own;
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        if (out && !freopen(out, "w", stdout))
            _exit(127);
        execv(argv[0], argv);
        fprintf(stderr, "%s: %s: %s\n", bench_name, argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    if (wait4(pid, &status, 0, ru ? ru : &own) != pid)
        bench_die("wait4: %s", strerror(errno));
    double t = bench_now() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != want)
        bench_die("%s failed (status %d)", argv[0], status);
    return t;
}

BENCH_FN const char *bench_pass(bool ok)
{
    return ok ? "PASS" : "FAIL";
}

/* The writer options of generated bench files: a fixed header, so files can be recognised. */
BENCH_FN void bench_writer_opts(kl_writer_opts *o)
{
    kl_writer_opts_init(o);
    o->level = BENCH_LEVEL;
    o->program = "koala-bench";
    o->host = TG_HOST;
    o->created_at = TG_BASE_TIME;
}

/* True when path is a complete bench file (header, index) with at least min_content bytes. */
BENCH_FN bool bench_file_ok(const char *path, uint64_t min_content)
{
    kl_reader *r = NULL;
    if (kl_reader_open(&r, path, NULL) != KL_OK)
        return false;
    const kl_file_info *fi = kl_reader_info(r);
    bool ok = fi->has_index && fi->content_bytes >= min_content &&
              strcmp(fi->program, "koala-bench") == 0;
    kl_reader_close(r);
    return ok;
}

/* Write generated sessions (the mixed.pb mix) to path until it holds content bytes. A
 * temporary name and a rename keep an interrupted run from leaving a file that looks whole. */
BENCH_FN void bench_make_file(const char *path, uint64_t content, uint64_t seed, int64_t thread_base)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    kl_writer_opts o;
    bench_writer_opts(&o);
    kl_writer *w = NULL;
    if (kl_writer_open(&w, tmp, &o) != KL_OK)
        bench_die("%s: %s", tmp, w ? kl_writer_error(w) : strerror(errno));
    tg_gen g;
    tg_init(&g, seed, 8, 2);
    g.thread_base = thread_base;
    uint64_t have = 0;
    while (have < content) {
        kl_session *s = tg_mixed(&g, 0);
        if (!s || kl_writer_write(w, s) != KL_OK)
            bench_die("%s: %s", tmp, s ? kl_writer_error(w) : "out of memory");
        kl_session_free(s);
        kl_writer_totals(w, NULL, &have, NULL);
    }
    tg_free(&g);
    int rc = kl_writer_close(w);
    if (rc != KL_OK)
        bench_die("%s: %s", tmp, kl_strerror(rc));
    if (rename(tmp, path) != 0)
        bench_die("%s: %s", path, strerror(errno));
}

/* ------------------------------------------------ benchmarks of the recorder on one process */

/* This program's path, the recorder next to it ($B/lib/libkoala-recorder.so for
 * $B/bench/NAME), and a new directory for what it records, named after bench_name. */
BENCH_FN void bench_recorder_setup(char self[4096], char so[4200], char rec_dir[4096])
{
    ssize_t n = readlink("/proc/self/exe", self, 4095);
    if (n <= 0)
        bench_die("/proc/self/exe: %s", strerror(errno));
    self[n] = 0;
    const char *slash = strrchr(self, '/');
    snprintf(so, 4200, "%.*s/../lib/libkoala-recorder.so", (int)(slash - self), self);
    if (access(so, R_OK) != 0)
        bench_die("%s: %s (make hook)", so, strerror(errno));
    snprintf(rec_dir, 4096, "%s/koala-%s.XXXXXX", bench_scratch_dir(), bench_name);
    if (!mkdtemp(rec_dir))
        bench_die("%s: %s", rec_dir, strerror(errno));
}

/* The environment of the children run next: under the recorder so (LD_PRELOAD), recording to
 * rec_dir, its log at WARN (no line at a child's start and end), or, unhooked, without either. */
BENCH_FN void bench_preload(bool hooked, const char *so, const char *rec_dir)
{
    if (hooked) {
        setenv("LD_PRELOAD", so, 1);
        setenv("KOALA_RECORD_TO_DIR", rec_dir, 1);
        setenv("KOALA_LOG_LEVEL", "WARN", 1);
    } else {
        unsetenv("LD_PRELOAD");
        unsetenv("KOALA_RECORD_TO_DIR");
    }
}

/* The end of a --loop child: prints "V1 V2 THREADS MAPPED", its two figures, its thread count
 * (the recorder's collector and writer threads, which start with its first recorded event, show
 * that it recorded) and whether the recorder is mapped. */
BENCH_FN void bench_loop_print(double v1, double v2)
{
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
    printf("%.6g %.6g %d %d\n", v1, v2, threads, mapped);
}

/* Run "self --loop", under LD_PRELOAD=so with KOALA_RECORD_TO_DIR=rec_dir when hooked, else
 * without either, and read back the two figures it printed (bench_loop_print). Stops unless
 * the recorder was loaded exactly when hooked, and then ran at least koala_threads threads
 * besides the loop's own (2 for a loop that records: the collector and the writer; 0 for one
 * that does not). */
BENCH_FN void bench_loop_child(const char *self, const char *so, const char *rec_dir, bool hooked,
                               int koala_threads, double *v1, double *v2)
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
        bench_preload(hooked, so, rec_dir);
        execl(self, self, "--loop", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char out[256] = "";
    size_t got = 0;
    for (ssize_t n; got < sizeof out - 1 && (n = read(p[0], out + got, sizeof out - 1 - got)) > 0;)
        got += (size_t)n;
    close(p[0]);
    out[got] = 0;
    int status, threads = 0, mapped = -1;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf(out, "%lf %lf %d %d", v1, v2, &threads, &mapped) != 4)
        bench_die("%s --loop%s failed", self, hooked ? " under the recorder" : "");
    if (mapped != hooked || (hooked && threads < 1 + koala_threads))
        bench_die("%s --loop: recorder %s, %d threads: not the run it should be", self,
                  mapped ? "loaded" : "not loaded", threads);
}

/* Seconds of CPU on clock: CLOCK_PROCESS_CPUTIME_ID for the whole process, the recorder's
 * threads included; unlike the wall clock, it does not count time the machine gave to other
 * processes. */
BENCH_FN double bench_cpu_now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
