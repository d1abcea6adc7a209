/* check_hk_log.c - tests of hook/hk_log.c: line format, levels, files, hourly rotation, the
 * ring of the latest events. */
#include "testutil.h"
#include "hk.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static hk_config to_file(const char *name, hk_level level)
{
    hk_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.log_file, sizeof c.log_file, "%s", tu_path(name));
    c.log_level = level;
    kl_addr_parse("127.0.0.1:8318", &c.witch_addr); /* the ring is kept for the witch */
    return c;
}

static char *slurp(const char *name)
{
    size_t len;
    unsigned char *d = tu_read_file(tu_path(name), &len);
    ck_assert_ptr_nonnull(d);
    char *s = realloc(d, len + 1);
    s[len] = '\0';
    return s;
}

START_TEST(lines_carry_time_pid_level_and_message)
{
    hk_config c = to_file("a.log", HK_INFO);
    hk_log_open(&c);
    hk_log(HK_WARN, "KOALA_LOG_LEVEL=%s is bad", "LOUD");
    hk_log(HK_DEBUG, "not shown at INFO");
    hk_log_close();
    char *s = slurp("a.log");
    char want[64];
    snprintf(want, sizeof want, "Z koala[%ld] WARN KOALA_LOG_LEVEL=LOUD is bad\n", (long)getpid());
    ck_assert_msg(strstr(s, want) != NULL, "%s", s);
    ck_assert_int_eq(s[4], '-');
    ck_assert_int_eq(s[10], 'T');
    ck_assert_ptr_null(strstr(s, "not shown"));
    ck_assert_ptr_eq(strchr(s, '\n'), s + strlen(s) - 1);
    free(s);
}
END_TEST

START_TEST(a_long_message_is_cut_and_says_so)
{
    hk_config c = to_file("long.log", HK_TRACE);
    hk_log_open(&c);
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    hk_log(HK_INFO, "%s", big);
    hk_log_close();
    char *s = slurp("long.log");
    ck_assert_uint_lt(strlen(s), 1024);
    ck_assert_ptr_nonnull(strstr(s, "xxx...\n"));
    free(s);
}
END_TEST

START_TEST(the_file_rotates_when_the_hour_changes)
{
    hk_config c = to_file("rot.log", HK_INFO);
    hk_log_open(&c);
    hk_log(HK_INFO, "first hour");
    time_t now = time(NULL);
    hk_log_rotate_at((int64_t)now + 3600);
    hk_log(HK_INFO, "second hour");
    hk_log_close();
    struct tm tm;
    gmtime_r(&now, &tm);
    char old[64];
    snprintf(old, sizeof old, "rot.log.%04d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour);
    char *a = slurp(old), *b = slurp("rot.log");
    ck_assert_ptr_nonnull(strstr(a, "first hour"));
    ck_assert_ptr_null(strstr(a, "second hour"));
    ck_assert_ptr_nonnull(strstr(b, "second hour"));
    free(a);
    free(b);
}
END_TEST

START_TEST(an_unwritable_log_falls_back_to_stderr)
{
    hk_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.log_file, sizeof c.log_file, "/nonexistent-dir/koala.log");
    c.log_level = HK_INFO;
    /* stderr goes to a file for this check */
    FILE *f = freopen(tu_path("stderr.txt"), "w", stderr);
    ck_assert_ptr_nonnull(f);
    hk_log_open(&c);
    hk_log(HK_INFO, "still logged");
    hk_log_close();
    fflush(stderr);
    char *s = slurp("stderr.txt");
    ck_assert_ptr_nonnull(strstr(s, "ERROR KOALA_LOG_FILE=/nonexistent-dir/koala.log cannot be opened"));
    ck_assert_ptr_nonnull(strstr(s, "INFO still logged"));
    free(s);
}
END_TEST

/* The events kept after seq since, in a buffer the caller frees. */
static size_t copy(uint64_t since, size_t max, kl_buf *b, uint64_t *first)
{
    memset(b, 0, sizeof *b);
    return hk_log_copy(since, max, b, first);
}

START_TEST(the_ring_keeps_each_line_that_passed_the_level_with_time_level_and_thread)
{
    hk_config c = to_file("ring.log", HK_INFO);
    hk_log_open(&c);
    uint64_t before = hk_log_next();
    struct timespec t0;
    clock_gettime(CLOCK_REALTIME, &t0);
    hk_log(HK_WARN, "disk %s is %d%% full", "/var", 97);
    hk_log(HK_DEBUG, "below the level: not kept");
    hk_log(HK_ERROR, "second");
    hk_log_close();
    ck_assert_uint_eq(hk_log_next(), before + 2);
    kl_buf b;
    uint64_t first;
    ck_assert_uint_eq(copy(before - 1, 100, &b, &first), 2);
    size_t off = 0;
    hk_log_event ev;
    ck_assert(hk_log_event_next(&b, &off, &ev));
    ck_assert_uint_eq(ev.seq, before);
    ck_assert_int_eq(ev.level, HK_WARN);
    ck_assert_str_eq(ev.text, "disk /var is 97% full");
    ck_assert_uint_eq(ev.len, strlen("disk /var is 97% full"));
    ck_assert_int_eq(ev.tid, (int)syscall(SYS_gettid));
    ck_assert_int_ge(ev.time, (int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec);
    int64_t t1 = ev.time;
    ck_assert(hk_log_event_next(&b, &off, &ev));
    ck_assert_uint_eq(ev.seq, before + 1);
    ck_assert_int_eq(ev.level, HK_ERROR);
    ck_assert_str_eq(ev.text, "second");
    ck_assert_int_ge(ev.time, t1);
    ck_assert(!hk_log_event_next(&b, &off, &ev));
    kl_buf_free(&b);
}
END_TEST

START_TEST(a_copy_starts_after_since_and_stops_at_max)
{
    hk_config c = to_file("max.log", HK_INFO);
    hk_log_open(&c);
    uint64_t before = hk_log_next();
    for (int i = 0; i < 10; i++)
        hk_log(HK_INFO, "line %d", i);
    hk_log_close();
    kl_buf b;
    uint64_t first;
    ck_assert_uint_eq(copy(before + 3, 4, &b, &first), 4);
    ck_assert_uint_le(first, before);
    size_t off = 0;
    hk_log_event ev;
    for (int i = 4; i < 8; i++) {
        ck_assert(hk_log_event_next(&b, &off, &ev));
        ck_assert_uint_eq(ev.seq, before + (uint64_t)i);
        char want[16];
        snprintf(want, sizeof want, "line %d", i);
        ck_assert_str_eq(ev.text, want);
    }
    ck_assert(!hk_log_event_next(&b, &off, &ev));
    kl_buf_free(&b);
    ck_assert_uint_eq(copy(hk_log_next() - 1, 100, &b, &first), 0);
    ck_assert_uint_eq(b.len, 0);
    kl_buf_free(&b);
}
END_TEST

START_TEST(the_ring_keeps_only_the_latest_events)
{
    hk_config c = to_file("many.log", HK_INFO);
    hk_log_open(&c);
    uint64_t before = hk_log_next();
    for (int i = 0; i < HK_LOG_KEEP + 25; i++)
        hk_log(HK_INFO, "event %d", i);
    hk_log_close();
    kl_buf b;
    uint64_t first;
    ck_assert_uint_eq(copy(0, 2 * HK_LOG_KEEP, &b, &first), HK_LOG_KEEP);
    ck_assert_uint_eq(first, before + 25);
    size_t off = 0, n = 0;
    hk_log_event ev;
    uint64_t want = first;
    while (hk_log_event_next(&b, &off, &ev)) {
        ck_assert_uint_eq(ev.seq, want++);
        char text[32];
        snprintf(text, sizeof text, "event %d", (int)(ev.seq - before));
        ck_assert_str_eq(ev.text, text);
        n++;
    }
    ck_assert_uint_eq(n, HK_LOG_KEEP);
    kl_buf_free(&b);
}
END_TEST

/* Texts of 900 bytes (a line's limit is 1024): HK_LOG_KEEP_BYTES holds about 2300 of them. */
START_TEST(long_lines_give_way_by_bytes_and_stay_whole)
{
    hk_config c = to_file("long-ring.log", HK_INFO);
    hk_log_open(&c);
    char pad[901];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    uint64_t before = hk_log_next();
    for (int i = 0; i < 5000; i++)
        hk_log(HK_INFO, "%04d%s", i, pad + 4);
    hk_log_close();
    kl_buf b;
    uint64_t first;
    size_t n = copy(0, HK_LOG_KEEP, &b, &first);
    ck_assert_uint_eq(n, hk_log_next() - first);
    ck_assert_uint_ge(n, HK_LOG_KEEP_BYTES / 901 - 2);
    ck_assert_uint_le(n, HK_LOG_KEEP_BYTES / 901);
    size_t off = 0;
    hk_log_event ev;
    while (hk_log_event_next(&b, &off, &ev)) {
        char num[8];
        snprintf(num, sizeof num, "%04d", (int)(ev.seq - before));
        ck_assert_uint_eq(ev.len, 900);
        ck_assert_mem_eq(ev.text, num, 4);
        ck_assert_mem_eq(ev.text + 4, pad + 4, 896);
    }
    ck_assert_uint_eq(ev.seq, before + 4999);
    kl_buf_free(&b);
}
END_TEST

static void *log_from_thread(void *arg)
{
    *(int *)arg = (int)syscall(SYS_gettid);
    hk_log(HK_INFO, "from another thread");
    return NULL;
}

START_TEST(each_event_names_the_thread_that_logged_it)
{
    hk_config c = to_file("threads.log", HK_INFO);
    hk_log_open(&c);
    uint64_t before = hk_log_next();
    pthread_t t;
    int tid = 0;
    ck_assert_int_eq(pthread_create(&t, NULL, log_from_thread, &tid), 0);
    pthread_join(t, NULL);
    hk_log(HK_INFO, "from the main thread");
    hk_log_close();
    kl_buf b;
    uint64_t first;
    ck_assert_uint_eq(copy(before - 1, 10, &b, &first), 2);
    size_t off = 0;
    hk_log_event ev;
    ck_assert(hk_log_event_next(&b, &off, &ev));
    ck_assert_int_eq(ev.tid, tid);
    ck_assert(hk_log_event_next(&b, &off, &ev));
    ck_assert_int_eq(ev.tid, (int)syscall(SYS_gettid));
    ck_assert_int_ne(tid, ev.tid);
    kl_buf_free(&b);
}
END_TEST

static void *log_500(void *arg)
{
    for (int i = 0; i < 500; i++)
        hk_log(HK_INFO, "thread %d line %d", *(int *)arg, i);
    return NULL;
}

START_TEST(the_ring_keeps_lines_of_many_threads_in_the_file_order)
{
    hk_config c = to_file("order.log", HK_INFO);
    hk_log_open(&c);
    uint64_t before = hk_log_next();
    pthread_t t[4];
    int ids[4];
    for (int i = 0; i < 4; i++) {
        ids[i] = i;
        ck_assert_int_eq(pthread_create(&t[i], NULL, log_500, &ids[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    hk_log_close();
    kl_buf b;
    uint64_t first;
    ck_assert_uint_eq(copy(before - 1, HK_LOG_KEEP, &b, &first), 2000);
    char *file = slurp("order.log"), *line = file;
    size_t off = 0;
    hk_log_event ev;
    while (hk_log_event_next(&b, &off, &ev)) {
        char *end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        *end = '\0';
        ck_assert_str_eq(strstr(line, " INFO ") + 6, ev.text);
        line = end + 1;
    }
    ck_assert_str_eq(line, "");
    free(file);
    kl_buf_free(&b);
}
END_TEST

START_TEST(a_stopped_ring_keeps_nothing_more_and_a_forked_child_keeps_one_again)
{
    hk_config c = to_file("stopped.log", HK_INFO);
    hk_log_open(&c);
    hk_log(HK_INFO, "kept");
    hk_log_ring_stop();
    uint64_t before = hk_log_next();
    hk_log(HK_WARN, "written to the log, kept nowhere");
    ck_assert_uint_eq(hk_log_next(), before);
    kl_buf b;
    uint64_t first;
    ck_assert_uint_eq(copy(0, 100, &b, &first), 0);
    ck_assert_uint_eq(first, before);
    kl_buf_free(&b);
    pid_t pid = fork();
    if (pid == 0) {
        hk_log(HK_INFO, "the child's");
        size_t n = copy(0, 100, &b, &first);
        size_t off = 0;
        hk_log_event ev;
        bool ok = n == 1 && first == before && hk_log_event_next(&b, &off, &ev) && strcmp(ev.text, "the child's") == 0;
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child keeps no ring");
    hk_log_close();
    char *text = slurp("stopped.log");
    ck_assert_ptr_nonnull(strstr(text, "kept nowhere"));
    free(text);
}
END_TEST

/* The address space limit cannot be used under ASan, which reserves terabytes for its shadow. */
START_TEST(without_memory_for_the_ring_lines_are_written_and_a_forked_child_tries_again)
{
#if defined(__SANITIZE_ADDRESS__)
    return;
#else
    hk_config c = to_file("nomem.log", HK_INFO);
    hk_log_open(&c);
    struct rlimit old;
    uint64_t before = hk_log_next();
    tu_limit_memory(1u << 20, &old); /* the ring takes 2.3 MiB */
    hk_log(HK_WARN, "no room for the ring");
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
    ck_assert_uint_eq(hk_log_next(), before);
    hk_log(HK_INFO, "nor asked for again");
    ck_assert_uint_eq(hk_log_next(), before);
    /* Forked before any stop: the failure alone must not keep the child from a ring. */
    pid_t pid = fork();
    if (pid == 0) {
        hk_log(HK_INFO, "the child's");
        _exit(hk_log_next() == before + 1 ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child keeps no ring");
    hk_log_ring_stop(); /* after a failure, it frees nothing twice (1f224a0) */
    hk_log_close();
    char *text = slurp("nomem.log");
    ck_assert_ptr_nonnull(strstr(text, "WARN no room for the ring"));
    ck_assert_ptr_nonnull(strstr(text, "nor asked for again"));
    free(text);
#endif
}
END_TEST

#if !defined(__SANITIZE_ADDRESS__)
/* Whether a malloc of 1 MiB, left in *p for the caller to free, is served by mmap: glibc's
 * threshold for that starts at 128 KiB and rises to the size of any mmapped chunk freed.
 * Volatile, or the compiler drops a malloc whose memory is only freed. */
static bool malloc_mmaps(void *volatile *p)
{
    size_t before = mallinfo2().hblks;
    *p = malloc(1u << 20);
    return mallinfo2().hblks > before;
}
#endif

/* A ring taken from malloc and freed (the witch serving elsewhere, a process koala leaves
 * alone) raised the threshold to its 2.3 MiB: the service's allocations below that went to
 * its heap from then on. Not under ASan, whose allocator is not glibc's. */
START_TEST(stopping_the_ring_leaves_the_services_malloc_as_it_was)
{
#if defined(__SANITIZE_ADDRESS__)
    return;
#else
    void *volatile before, *volatile after;
    ck_assert_msg(malloc_mmaps(&before), "a 1 MiB malloc is not mmapped to begin with");
    hk_config c = to_file("heap.log", HK_INFO);
    hk_log_open(&c);
    hk_log(HK_INFO, "kept");
    hk_log_ring_stop();
    hk_log_close();
    bool still = malloc_mmaps(&after);
    free(before);
    free(after);
    ck_assert_msg(still, "stopping the ring moved malloc's mmap threshold");
#endif
}
END_TEST

START_TEST(with_the_witch_off_the_ring_keeps_nothing)
{
    hk_config c = to_file("off.log", HK_INFO);
    memset(&c.witch_addr, 0, sizeof c.witch_addr);
    hk_log_open(&c);
    uint64_t before = hk_log_next();
    hk_log(HK_WARN, "written to the log, kept nowhere");
    hk_log_close();
    ck_assert_uint_eq(hk_log_next(), before);
    size_t len;
    char *text = (char *)tu_read_file(tu_path("off.log"), &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(memmem(text, len, "kept nowhere", strlen("kept nowhere")));
    free(text);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hk_log");
    TCase *tc = tcase_create("hk_log");
    tcase_add_test(tc, lines_carry_time_pid_level_and_message);
    tcase_add_test(tc, a_long_message_is_cut_and_says_so);
    tcase_add_test(tc, the_file_rotates_when_the_hour_changes);
    tcase_add_test(tc, an_unwritable_log_falls_back_to_stderr);
    tcase_add_test(tc, the_ring_keeps_each_line_that_passed_the_level_with_time_level_and_thread);
    tcase_add_test(tc, a_copy_starts_after_since_and_stops_at_max);
    tcase_add_test(tc, the_ring_keeps_only_the_latest_events);
    tcase_add_test(tc, long_lines_give_way_by_bytes_and_stay_whole);
    tcase_add_test(tc, each_event_names_the_thread_that_logged_it);
    tcase_add_test(tc, the_ring_keeps_lines_of_many_threads_in_the_file_order);
    tcase_add_test(tc, a_stopped_ring_keeps_nothing_more_and_a_forked_child_keeps_one_again);
    tcase_add_test(tc, without_memory_for_the_ring_lines_are_written_and_a_forked_child_tries_again);
    tcase_add_test(tc, stopping_the_ring_leaves_the_services_malloc_as_it_was);
    tcase_add_test(tc, with_the_witch_off_the_ring_keeps_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
