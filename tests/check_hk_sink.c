/* check_hk_sink.c - tests of hook/hk_sink.c: files, flushing, rotation, drops, fork. */
#include "testutil.h"
#include "hk.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A fresh directory for one test. */
static const char *dir_for(const char *name)
{
    const char *d = tu_path(name);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    return d;
}

/* A sink writing to dir with the default options. */
static void start_in(const char *dir)
{
    hk_sink_opts o;
    hk_sink_opts_init(&o, dir, "svc");
    hk_sink_start(&o);
}

/* Until the writer has written n sessions (5 s at most), and a moment more: it then waits on
 * its condition. */
static void written_and_waiting(uint64_t n)
{
    for (int tries = 0; tries < 500 && hk_sink_get_totals().written < n; tries++)
        usleep(10000);
    usleep(50000);
}

/* Sessions in every .pb file of dir (each must read to a clean end); *files counts them.
 * Without need_index the sink is still running: a file it has just created, still empty,
 * counts as none. */
static int sessions_in(const char *dir, int *files, bool need_index)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int total = 0;
    *files = 0;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".pb"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (!need_index && stat(path, &st) == 0 && st.st_size == 0)
            continue;
        kl_reader *r;
        char err[KL_ERRBUF_SIZE];
        ck_assert_msg(kl_reader_open(&r, path, err) == KL_OK, "%s: %s", path, err);
        if (need_index)
            ck_assert_msg(kl_reader_info(r)->has_index, "%s has no index", path);
        const kl_session *s;
        int rc;
        while ((rc = kl_reader_next(r, &s)) == KL_OK)
            total++;
        ck_assert_msg(rc == KL_END, "%s: %s", path, kl_reader_error(r));
        kl_reader_close(r);
        (*files)++;
    }
    closedir(d);
    return total;
}

START_TEST(sessions_reach_a_file_named_after_the_process)
{
    const char *dir = dir_for("named");
    start_in(dir);
    for (int i = 0; i < 300; i++)
        ck_assert(hk_sink_put(tu_session(i)));
    hk_sink_stop();
    int files;
    ck_assert_int_eq(sessions_in(dir, &files, true), 300);
    ck_assert_int_eq(files, 1);
    hk_sink_totals t = hk_sink_get_totals();
    ck_assert_uint_eq(t.written, 300);
    ck_assert_uint_eq(t.dropped, 0);
    /* every byte of the file: header, frames and index */
    DIR *dd = opendir(dir);
    struct dirent *de;
    uint64_t on_disk = 0;
    while ((de = readdir(dd)) != NULL)
        if (strstr(de->d_name, ".pb")) {
            size_t len;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            free(tu_read_file(p, &len));
            on_disk += len;
        }
    closedir(dd);
    ck_assert_uint_eq(t.bytes, on_disk);
    DIR *d = opendir(dir);
    struct dirent *e;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "svc-%ld-", (long)getpid());
    bool found = false;
    while ((e = readdir(d)) != NULL)
        found |= strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    ck_assert_msg(found, "no file named %s*.pb", prefix);
    ck_assert(!hk_sink_put(tu_session(0))); /* stopped: dropped, not leaked */
}
END_TEST

/* Threads of the calling process. */
static int threads(void)
{
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Whether the sink's writer runs. */
static bool writing(void)
{
    hk_sink_state st;
    hk_sink_get_state(&st);
    return st.running;
}

START_TEST(the_writer_thread_starts_with_the_first_session)
{
    const char *dir = dir_for("first");
    hk_sink_opts o;
    hk_sink_opts_init(&o, dir, "svc");
    int before = threads();
    hk_sink_start(&o);
    ck_assert_int_eq(threads(), before); /* a process that records nothing starts none */
    ck_assert(!writing());
    ck_assert(hk_sink_put(tu_session(0)));
    ck_assert_int_eq(threads(), before + 1);
    ck_assert(writing());
    hk_sink_run(); /* running: no second one */
    ck_assert(hk_sink_put(tu_session(1)));
    ck_assert_int_eq(threads(), before + 1);
    hk_sink_stop();
    int files;
    ck_assert_int_eq(sessions_in(dir, &files, true), 2);
}
END_TEST

START_TEST(the_writer_thread_starts_when_asked)
{
    const char *dir = dir_for("asked");
    hk_sink_opts o;
    hk_sink_opts_init(&o, dir, "svc");
    int before = threads();
    hk_sink_run(); /* not started: nothing to run */
    ck_assert_int_eq(threads(), before);
    hk_sink_start(&o);
    hk_sink_run();
    ck_assert_int_eq(threads(), before + 1);
    ck_assert(writing());
    hk_sink_stop();
    ck_assert(!writing());
    int files;
    ck_assert_int_eq(sessions_in(dir, &files, true), 0); /* no session, no file */
    ck_assert_int_eq(files, 0);
}
END_TEST

START_TEST(a_running_sink_flushes_within_its_interval)
{
    const char *dir = dir_for("flush");
    hk_sink_opts o;
    hk_sink_opts_init(&o, dir, "svc");
    o.flush_ns = 100000000;
    hk_sink_start(&o);
    for (int i = 0; i < 20; i++)
        hk_sink_put(tu_session(i));
    int files, n = 0;
    for (int tries = 0; tries < 50 && n < 20; tries++) {
        usleep(50000);
        n = sessions_in(dir, &files, false); /* no index yet: read by scanning */
    }
    ck_assert_int_eq(n, 20);
    hk_sink_stop();
}
END_TEST

START_TEST(files_rotate_by_size_and_keep_every_session)
{
    const char *dir = dir_for("rotate");
    hk_sink_opts o;
    hk_sink_opts_init(&o, dir, "svc");
    o.rotate_bytes = 4096;
    hk_sink_start(&o);
    for (int i = 0; i < 500; i++) {
        hk_sink_put(tu_session(i));
        if (i % 50 == 0)
            usleep(20000); /* let the writer take small batches so files fill one by one */
    }
    hk_sink_stop();
    int files;
    ck_assert_int_eq(sessions_in(dir, &files, true), 500);
    ck_assert_int_gt(files, 1);
    ck_assert_uint_eq(hk_sink_get_totals().files, (uint64_t)files);
}
END_TEST

START_TEST(a_full_queue_drops_and_counts_without_blocking)
{
    const char *dir = dir_for("full");
    hk_sink_opts o;
    hk_sink_opts_init(&o, dir, "svc");
    o.max_queue_bytes = 4000; /* about two sessions */
    hk_sink_start(&o);
    int queued = 0;
    for (int i = 0; i < 2000; i++)
        queued += hk_sink_put(tu_session(i));
    hk_sink_stop();
    hk_sink_totals t = hk_sink_get_totals();
    ck_assert_int_lt(queued, 2000);
    ck_assert_uint_eq(t.written, (uint64_t)queued);
    ck_assert_uint_eq(t.written + t.dropped, 2000);
    int files;
    ck_assert_int_eq(sessions_in(dir, &files, true), queued);
}
END_TEST

START_TEST(a_forked_child_writes_a_file_of_its_own)
{
    const char *dir = dir_for("fork");
    start_in(dir);
    for (int i = 0; i < 50; i++)
        hk_sink_put(tu_session(i));
    /* Fork while the writer thread waits: a thread inside malloc at fork time leaves
     * AddressSanitizer's allocator locked in the child (glibc's own malloc copes). */
    written_and_waiting(50);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 7; i++)
            hk_sink_put(tu_session(100 + i));
        hk_sink_stop();
        _exit(hk_sink_get_totals().written == 7 ? 0 : 1);
    }
    for (int i = 50; i < 80; i++)
        hk_sink_put(tu_session(i));
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child wrote a wrong count");
    hk_sink_stop();
    int files;
    ck_assert_int_eq(sessions_in(dir, &files, true), 87);
    ck_assert_int_eq(files, 2);
}
END_TEST

START_TEST(a_forked_child_that_records_nothing_stops_at_once)
{
    const char *dir = dir_for("fork-quiet");
    start_in(dir);
    hk_sink_put(tu_session(0));
    written_and_waiting(1);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(5); /* a stop waiting on the parent's writer would hang here */
        hk_sink_stop();
        _exit(hk_sink_get_totals().written == 0 ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    hk_sink_stop();
    int files;
    ck_assert_int_eq(sessions_in(dir, &files, true), 1);
    ck_assert_int_eq(files, 1); /* none of the child's */
}
END_TEST

START_TEST(a_missing_directory_is_created)
{
    const char *dir = tu_path("made-by-the-sink/and/its/parents");
    start_in(dir);
    hk_sink_put(tu_session(0));
    hk_sink_stop();
    int files;
    ck_assert_int_eq(sessions_in(dir, &files, true), 1);
}
END_TEST

START_TEST(an_unwritable_directory_drops_and_says_so)
{
    /* under a file: no directory can be made there, not even by root */
    ck_assert_int_eq(tu_write_file(tu_path("not-a-dir"), "x", 1), 0);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/rec", tu_path("not-a-dir"));
    hk_sink_opts o;
    hk_sink_opts_init(&o, dir, "svc");
    hk_sink_start(&o);
    for (int i = 0; i < 5; i++)
        hk_sink_put(tu_session(i));
    hk_sink_stop();
    hk_sink_totals t = hk_sink_get_totals();
    ck_assert_uint_eq(t.written, 0);
    ck_assert_uint_eq(t.dropped, 5);
}
END_TEST

/* Session i answered with 4 KiB of noise, which compression cannot shrink. */
static kl_session *noisy_session(int i)
{
    kl_session *s = tu_session(i);
    uint8_t noise[4096];
    unsigned seed = (unsigned)i;
    for (size_t k = 0; k < sizeof noise; k++)
        noise[k] = (uint8_t)rand_r(&seed);
    ck_assert_int_eq(kl_session_dup_bytes(s, &s->return_inbound.response, noise, sizeof noise), KL_OK);
    return s;
}

/* Until the writer has taken n sessions, written or dropped (5 s at most). */
static void taken(uint64_t n)
{
    for (int tries = 0; tries < 500; tries++) {
        hk_sink_totals t = hk_sink_get_totals();
        if (t.written + t.dropped >= n)
            return;
        usleep(10000);
    }
    ck_abort_msg("the writer took fewer than %llu sessions in 5 s", (unsigned long long)n);
}

START_TEST(a_full_disk_drops_and_counts_and_writing_resumes_in_a_new_file)
{
    /* a file size limit stands in for a full disk: a write past it fails (EFBIG) */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit was, limit;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &was), 0);
    limit = (struct rlimit){64u << 10, was.rlim_max};
    const char *dir = dir_for("disk-full");
    hk_sink_opts o;
    hk_sink_opts_init(&o, dir, "svc");
    o.flush_ns = 5000000; /* a frame or so per session */
    hk_sink_start(&o);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    for (int i = 0; i < 40; i++) {
        ck_assert(hk_sink_put(noisy_session(i)));
        usleep(10000);
    }
    taken(40);
    hk_sink_totals t = hk_sink_get_totals();
    ck_assert_uint_gt(t.written, 5);
    ck_assert_uint_gt(t.dropped, 5);
    ck_assert_uint_eq(t.files, 1);
    /* room again: a new file after the pause (1 s) */
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &was), 0);
    usleep(1100000);
    for (int i = 40; i < 50; i++)
        ck_assert(hk_sink_put(noisy_session(i)));
    taken(50);
    hk_sink_stop();
    hk_sink_totals end = hk_sink_get_totals();
    ck_assert_uint_eq(end.written + end.dropped, 50);
    ck_assert_uint_eq(end.written, t.written + 10);
    ck_assert_uint_eq(end.files, 2);
    /* every session counted written is in the files, each of which reads to a clean end (the
     * first cut back to its last whole frame), and the bytes counted are theirs */
    int files;
    ck_assert_int_eq(sessions_in(dir, &files, false), (int)end.written);
    ck_assert_int_eq(files, 2);
    uint64_t bytes = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        struct stat st;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (strstr(e->d_name, ".pb") && stat(path, &st) == 0)
            bytes += (uint64_t)st.st_size;
    }
    closedir(d);
    ck_assert_uint_eq(end.bytes, bytes);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hk_sink");
    TCase *tc = tcase_create("hk_sink");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, sessions_reach_a_file_named_after_the_process);
    tcase_add_test(tc, the_writer_thread_starts_with_the_first_session);
    tcase_add_test(tc, the_writer_thread_starts_when_asked);
    tcase_add_test(tc, a_running_sink_flushes_within_its_interval);
    tcase_add_test(tc, files_rotate_by_size_and_keep_every_session);
    tcase_add_test(tc, a_full_queue_drops_and_counts_without_blocking);
    tcase_add_test(tc, a_forked_child_writes_a_file_of_its_own);
    tcase_add_test(tc, a_forked_child_that_records_nothing_stops_at_once);
    tcase_add_test(tc, a_full_disk_drops_and_counts_and_writing_resumes_in_a_new_file);
    tcase_add_test(tc, a_missing_directory_is_created);
    tcase_add_test(tc, an_unwritable_directory_drops_and_says_so);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
