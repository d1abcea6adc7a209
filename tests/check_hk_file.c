/* check_hk_file.c - tests of hook/hk_file.c: the contents of sendfile's files, kept by what the
 * service's fstat said of them, and read back whenever that may not be what was sent. */
#include "testutil.h"
#include "hk.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SMALL 20000
#define BIG (200u << 10)   /* 21 of them hold more than the 4 MiB kept */
#define BIGS 21

/* The files are made once, in tu_tmpdir() before the suite runs, and left alone for more than
 * 2 s: settled. */

static uint8_t byte_at(size_t i, int seed)
{
    return (uint8_t)((i * 7 + 3 + (size_t)seed) % 251);
}

static void make_file(const char *name, size_t len, int seed)
{
    uint8_t *d = malloc(len);
    for (size_t i = 0; i < len; i++)
        d[i] = byte_at(i, seed);
    if (tu_write_file(tu_path(name), d, len) != 0)
        abort();
    free(d);
}

/* fstat fd as the service would: its wrapper tells hk_file.c. */
static void fstat_seen(int fd)
{
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    hk_file_seen(fd, &HK_FILE_KEY(&st));
}

/* Open name as the service would (the fd table told by its open wrapper) and fstat it.
 * @return the fd. */
static int open_seen(const char *name)
{
    int fd = open(tu_path(name), O_RDWR);
    ck_assert_int_ge(fd, 0);
    hk_fd_mark(fd, HK_FD_OTHER);
    fstat_seen(fd);
    return fd;
}

/* The SMALL bytes of fd made anew, in place, from seed. */
static void rewrite(int fd, int seed)
{
    uint8_t d[SMALL];
    for (size_t i = 0; i < SMALL; i++)
        d[i] = byte_at(i, seed);
    ck_assert_int_eq(pwrite(fd, d, SMALL, 0), SMALL);
}

static void close_seen(int fd)
{
    hk_fd_forget(fd);
    close(fd);
}

static hk_file_totals totals(void)
{
    hk_file_totals t;
    hk_file_get_totals(&t);
    return t;
}

/* Whether p holds the n bytes of a file made with seed, from start. */
static bool holds(const uint8_t *p, size_t start, size_t n, int seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != byte_at(start + i, seed))
            return false;
    return true;
}

START_TEST(a_settled_file_is_read_once_then_sent_from_memory)
{
    int fd = open_seen("small");
    hk_file *ref;
    const uint8_t *p = hk_file_bytes(fd, 0, SMALL, &ref);
    ck_assert_ptr_nonnull(p);
    ck_assert(holds(p, 0, SMALL, 1));
    hk_file_release(ref);
    hk_file_totals t = totals();
    ck_assert_uint_eq(t.loaded, 1);
    ck_assert_uint_eq(t.hits, 0);
    ck_assert_uint_eq(t.files, 1);
    ck_assert_uint_eq(t.bytes, SMALL);
    close_seen(fd);

    /* the next request opens it again: a part of it (a range, a partial send) from memory */
    fd = open_seen("small");
    p = hk_file_bytes(fd, 1000, 3000, &ref);
    ck_assert_ptr_nonnull(p);
    ck_assert(holds(p, 1000, 3000, 1));
    hk_file_release(ref);
    t = totals();
    ck_assert_uint_eq(t.loaded, 1);
    ck_assert_uint_eq(t.hits, 1);
    /* past its end (the file grew after the fstat): read back */
    fstat_seen(fd);
    ck_assert_ptr_null(hk_file_bytes(fd, SMALL - 10, 11, &ref));
    ck_assert_ptr_null(ref);
    fstat_seen(fd);
    ck_assert_ptr_null(hk_file_bytes(fd, -1, 10, &ref));
    close_seen(fd);
}
END_TEST

/* Three responses' references, released in one call as the collector does: the file stays
 * kept and whole (a count dropped by more than three would free it: ASan would say). */
START_TEST(a_run_of_references_is_released_at_once)
{
    int fd = open_seen("small");
    hk_file *ref[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_nonnull(hk_file_bytes(fd, 0, SMALL, &ref[i]));
        fstat_seen(fd);
    }
    ck_assert_ptr_eq(ref[1], ref[0]);
    ck_assert_ptr_eq(ref[2], ref[0]);
    hk_file_release_n(ref[0], 3);
    hk_file_release_n(ref[0], 0);
    hk_file *again;
    const uint8_t *p = hk_file_bytes(fd, 0, SMALL, &again);
    ck_assert_ptr_eq(again, ref[0]);
    ck_assert(holds(p, 0, SMALL, 1));
    hk_file_release(again);
    ck_assert_uint_eq(totals().files, 1);
    close_seen(fd);
}
END_TEST

START_TEST(only_the_fd_of_the_last_fstat_on_this_thread_is_known)
{
    int a = open_seen("small"), b = open_seen("other");
    hk_file *ref;
    ck_assert_ptr_null(hk_file_bytes(a, 0, 100, &ref)); /* b was fstat'ed last */
    const uint8_t *p = hk_file_bytes(b, 0, 100, &ref);
    ck_assert_ptr_nonnull(p);
    ck_assert(holds(p, 0, 100, 2));
    hk_file_release(ref);
    close_seen(a);
    close_seen(b);
}
END_TEST

/* A cache of open files (nginx's open_file_cache) fstats once and sends many times: after the
 * first sendfile, the file may have changed in place without a new fstat to say so. */
START_TEST(an_fstat_names_the_bytes_of_one_sendfile)
{
    int fd = open_seen("cached");
    hk_file *ref;
    const uint8_t *p = hk_file_bytes(fd, 0, SMALL, &ref);
    ck_assert_ptr_nonnull(p);
    hk_file_release(ref);
    rewrite(fd, 5);
    ck_assert_ptr_null(hk_file_bytes(fd, 0, SMALL, &ref));
    ck_assert_ptr_null(ref);
    close_seen(fd);
}
END_TEST

START_TEST(a_closed_or_reused_fd_is_read_back)
{
    int fd = open_seen("small");
    hk_fd_forget(fd); /* closed ... */
    hk_fd_mark(fd, HK_FD_OTHER); /* ... and its number opened again, with no fstat since */
    hk_file *ref;
    ck_assert_ptr_null(hk_file_bytes(fd, 0, 100, &ref));
    close_seen(fd);

    /* an fd the table does not know as an open file is never remembered */
    fd = open(tu_path("small"), O_RDONLY);
    fstat_seen(fd);
    ck_assert_ptr_null(hk_file_bytes(fd, 0, 100, &ref));
    close(fd);
    ck_assert_uint_eq(totals().loaded, 0);
}
END_TEST

START_TEST(a_file_changed_in_place_is_read_back_until_settled)
{
    int fd = open_seen("changing");
    hk_file *ref;
    const uint8_t *p = hk_file_bytes(fd, 0, SMALL, &ref);
    ck_assert_ptr_nonnull(p);
    hk_file_release(ref);
    ck_assert_uint_eq(totals().files, 1);

    /* new bytes, same size: its timestamps move, and a change this recent is not kept */
    rewrite(fd, 9);
    fstat_seen(fd);
    ck_assert_ptr_null(hk_file_bytes(fd, 0, SMALL, &ref));
    hk_file_totals t = totals();
    ck_assert_uint_eq(t.files, 0); /* the old contents are gone */
    ck_assert_uint_eq(t.loaded, 1);

    /* settled: the new contents are kept */
    usleep(2100 * 1000);
    fstat_seen(fd);
    p = hk_file_bytes(fd, 0, SMALL, &ref);
    ck_assert_ptr_nonnull(p);
    ck_assert(holds(p, 0, SMALL, 9));
    hk_file_release(ref);
    ck_assert_uint_eq(totals().loaded, 2);
    close_seen(fd);
}
END_TEST

START_TEST(new_large_and_empty_files_are_not_kept)
{
    make_file("fresh", 100, 3);
    static const char *const names[] = {"fresh", "large", "empty"};
    for (size_t i = 0; i < 3; i++) {
        int fd = open_seen(names[i]);
        hk_file *ref;
        ck_assert_ptr_null(hk_file_bytes(fd, 0, i < 2 ? 100 : 0, &ref));
        close_seen(fd);
    }
    ck_assert_uint_eq(totals().loaded, 0);
}
END_TEST

/* Every file's bytes are held to the end, so that the files dropped for room meanwhile are
 * held ones, whichever they are (that depends on where their inodes hash): each must still be
 * whole for its reader (ASan would say). */
START_TEST(memory_is_bounded_and_a_file_held_outlives_its_eviction)
{
    hk_file *held[BIGS];
    const uint8_t *got[BIGS];
    for (int i = 0; i < BIGS; i++) {
        char name[16];
        snprintf(name, sizeof name, "big%d", i);
        int fd = open_seen(name);
        /* big0 whole, the others a range: their last byte */
        got[i] = i == 0 ? hk_file_bytes(fd, 0, BIG, &held[i]) : hk_file_bytes(fd, BIG - 1, 1, &held[i]);
        ck_assert_ptr_nonnull(got[i]);
        ck_assert(i == 0 || holds(got[i], BIG - 1, 1, 10 + i));
        close_seen(fd);
        hk_file_totals t = totals();
        ck_assert_uint_le(t.bytes, 4u << 20);
        ck_assert_uint_eq(t.bytes, t.files * BIG);
    }
    hk_file_totals t = totals();
    ck_assert_uint_eq(t.loaded, BIGS);
    ck_assert_uint_lt(t.files, BIGS);
    ck_assert(holds(got[0], 0, BIG, 10));
    for (int i = 1; i < BIGS; i++)
        ck_assert(holds(got[i], BIG - 1, 1, 10 + i));
    for (int i = 0; i < BIGS; i++)
        hk_file_release(held[i]);
}
END_TEST

static void *fstat_small(void *arg)
{
    (void)arg;
    int fd = open_seen("small");
    return (void *)(intptr_t)fd;
}

START_TEST(another_threads_fstat_is_its_own)
{
    pthread_t t;
    void *fd;
    ck_assert_int_eq(pthread_create(&t, NULL, fstat_small, NULL), 0);
    ck_assert_int_eq(pthread_join(t, &fd), 0);
    hk_file *ref;
    ck_assert_ptr_null(hk_file_bytes((int)(intptr_t)fd, 0, 100, &ref));
    close_seen((int)(intptr_t)fd);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hk_file");
    TCase *tc = tcase_create("hk_file");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_settled_file_is_read_once_then_sent_from_memory);
    tcase_add_test(tc, a_run_of_references_is_released_at_once);
    tcase_add_test(tc, only_the_fd_of_the_last_fstat_on_this_thread_is_known);
    tcase_add_test(tc, an_fstat_names_the_bytes_of_one_sendfile);
    tcase_add_test(tc, a_closed_or_reused_fd_is_read_back);
    tcase_add_test(tc, a_file_changed_in_place_is_read_back_until_settled);
    tcase_add_test(tc, new_large_and_empty_files_are_not_kept);
    tcase_add_test(tc, memory_is_bounded_and_a_file_held_outlives_its_eviction);
    tcase_add_test(tc, another_threads_fstat_is_its_own);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    make_file("small", SMALL, 1);
    make_file("other", SMALL, 2);
    make_file("changing", SMALL, 1);
    make_file("cached", SMALL, 1);
    make_file("large", (256u << 10) + 1, 4);
    make_file("empty", 0, 5);
    for (int i = 0; i < BIGS; i++) {
        char name[16];
        snprintf(name, sizeof name, "big%d", i);
        make_file(name, BIG, 10 + i);
    }
    usleep(2100 * 1000); /* settled: unchanged for more than 2 s */
    return tu_run(suite());
}
