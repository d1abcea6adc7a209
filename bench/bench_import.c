/* bench_import.c - importing 10,000 session files of the original koala (JSON, one per session,
 * as its recorder wrote them): the library's import and koala-dump's conversion of the
 * directory, against reading the same files' bytes and jansson parsing them. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>

#include "bench.h"

#define FILES 10000
#define RUNS 3 /* best of */

typedef struct files {
    char dir[3000];
    char (*path)[4096];
    size_t n;
    uint64_t bytes;
} files;

static void write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) != 0)
        bench_die("%s: %s", path, strerror(errno));
}

/* The mixed.pb mix written as the original recorder wrote sessions: pretty JSON in a file named
 * by the SessionId, no newline at the end. A "complete" mark tells a whole set from an
 * interrupted one. */
static void make_files(const char *dir)
{
    char mark[4200];
    snprintf(mark, sizeof mark, "%s/.complete", dir);
    if (access(mark, F_OK) == 0)
        return;
    fprintf(stderr, "bench_import: generating %d session files in %s (once)\n", FILES, dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        bench_die("%s: %s", dir, strerror(errno));
    tg_gen g;
    tg_init(&g, 0x696d706f7274ull, 8, 2);
    kl_buf b = {0};
    for (int i = 0; i < FILES; i++) {
        kl_session *s = tg_mixed(&g, 0);
        b.len = 0;
        if (!s || kl_json_session(s, KL_JSON_PRETTY, &b) != KL_OK)
            bench_die("out of memory");
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, s->id);
        write_file(path, b.data, b.len);
        kl_session_free(s);
    }
    kl_buf_free(&b);
    tg_free(&g);
    write_file(mark, "", 0);
}

static void list_files(files *f)
{
    DIR *d = opendir(f->dir);
    if (!d)
        bench_die("%s: %s", f->dir, strerror(errno));
    f->path = malloc(sizeof *f->path * FILES);
    struct dirent *e;
    while ((e = readdir(d)) && f->n < FILES)
        if (e->d_name[0] != '.')
            snprintf(f->path[f->n++], sizeof f->path[0], "%s/%s", f->dir, e->d_name);
    closedir(d);
    if (f->n != FILES)
        bench_die("%s: %zu session files, expected %d", f->dir, f->n, FILES);
}

/* Read a whole file into *buf (grown as needed). @return its length. */
static size_t slurp(const char *path, uint8_t **buf, size_t *cap)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        bench_die("%s: %s", path, strerror(errno));
    size_t n = (size_t)st.st_size;
    if (n > *cap && !(*buf = realloc(*buf, *cap = n)))
        bench_die("out of memory");
    if (read(fd, *buf, n) != (ssize_t)n)
        bench_die("%s: short read", path);
    close(fd);
    return n;
}

typedef enum pass { READ_ONLY, JANSSON, IMPORT } pass;

/* One pass over every file. @return seconds. */
static double run(files *f, pass what)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    uint64_t bytes = 0, acts = 0;
    double t0 = bench_now();
    for (size_t i = 0; i < f->n; i++) {
        size_t n = slurp(f->path[i], &buf, &cap);
        bytes += n;
        if (what == JANSSON) {
            json_error_t e;
            json_t *j = json_loadb((const char *)buf, n, 0, &e);
            if (!j)
                bench_die("%s: %s", f->path[i], e.text);
            acts += json_array_size(json_object_get(j, "Actions"));
            json_decref(j);
        } else if (what == IMPORT) {
            kl_session *s;
            char err[KL_ERRBUF_SIZE];
            if (kl_import_koala_json(buf, n, &s, err) != KL_OK)
                bench_die("%s: %s", f->path[i], err);
            acts += s->n_actions;
            kl_session_free(s);
        }
    }
    double t = bench_now() - t0;
    free(buf);
    f->bytes = bytes;
    if (what != READ_ONLY && acts == 0)
        bench_die("no actions read");
    return t;
}

/* koala-dump -w OUT DIR as a child: the whole conversion. @return seconds. */
static double run_dump(const char *dump, const char *dir, const char *out)
{
    char *const argv[] = {(char *)dump, (char *)"-w", (char *)out, (char *)dir, NULL};
    return bench_run(argv, NULL, 0, NULL);
}

static double best(files *f, pass what)
{
    double b = 1e9;
    for (int i = 0; i < RUNS; i++) {
        double t = run(f, what);
        b = t < b ? t : b;
    }
    return b;
}

int main(int argc, char **argv)
{
    (void)argc;
    bench_name = "bench_import";
    files f = {0};
    snprintf(f.dir, sizeof f.dir, "%s/koala-bench-import", bench_keep_dir());
    make_files(f.dir);
    list_files(&f);

    run(&f, READ_ONLY); /* into the page cache */
    double t_read = best(&f, READ_ONLY), t_jansson = best(&f, JANSSON), t_import = best(&f, IMPORT);
    double mb = (double)f.bytes / MB;
    double r = mb / t_read, j = mb / t_jansson, i = mb / t_import;
    printf("import: %d koala JSON session files (%.1f MB) imported at %.0f MB/s vs reading their "
           "bytes %.0f MB/s, jansson parsing them %.0f MB/s (target >= 50 MB/s) %s\n",
           FILES, mb, i, r, j, bench_pass(i >= 50));

    char dump[4096], out[4200];
    bench_tool_path(dump, sizeof dump, argv[0], "koala-dump");
    if (access(dump, X_OK) != 0) {
        printf("import-dump: SKIP (%s: %s)\n", dump, strerror(errno));
    } else {
        snprintf(out, sizeof out, "%s/koala-bench-import.pb", bench_scratch_dir());
        double t = 1e9;
        for (int k = 0; k < RUNS; k++) {
            double x = run_dump(dump, f.dir, out);
            t = x < t ? x : t;
        }
        unlink(out);
        printf("import-dump: koala-dump -w out.pb of the directory at %.0f MB/s of JSON (%.2f s) "
               "(target >= 50 MB/s) %s\n", mb / t, t, bench_pass(mb / t >= 50));
    }
    free(f.path);
    return 0;
}
