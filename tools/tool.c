/* tool.c - what every koala-* tool shares: messages, exit codes, option values, buffered stdout. */
#include "tool.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tool_name = "koala";

#define OUT_CAP (256u << 10)

static char out_buf[OUT_CAP];
static size_t out_len;
static bool out_failed; /* set before exiting, so the exit path does not write again */

void tool_init(const char *name)
{
    tool_name = name;
    /* Without this a closed pipe kills us before we can flush, close files and exit 2. */
    signal(SIGPIPE, SIG_IGN);
}

static void vwarn(const char *fmt, va_list ap)
{
    /* What was printed before the trouble comes out before the message about it. */
    tool_out_flush();
    fprintf(stderr, "%s: ", tool_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void tool_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
}

noreturn void tool_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
    exit(TOOL_EXIT_TROUBLE);
}

noreturn void tool_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwarn(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s -h' for help.\n", tool_name);
    exit(TOOL_EXIT_TROUBLE);
}

noreturn void tool_bad_option(int c, char **argv)
{
    char shortopt[3] = {'-', (char)optopt, '\0'};
    /* optopt names a short option; a bad long one is the word just read, and so is a long
     * one missing its value (optopt then holds its value, not a name) */
    const char *word = argv[optind - 1];
    bool is_long = optopt <= 0 || optopt >= 128 || (c == ':' && strncmp(word, "--", 2) == 0);
    const char *opt = is_long ? word : shortopt;
    if (c == ':')
        tool_usage_error("option '%s' needs a value", opt);
    tool_usage_error("unknown option '%s'", opt);
}

static void out(const void *data, size_t len);

noreturn void tool_help(const char *usage)
{
    out(usage, strlen(usage));
    tool_out_flush();
    exit(TOOL_EXIT_OK);
}

noreturn void tool_version(void)
{
    char line[128];
    snprintf(line, sizeof line, "%s (koala) %s, file format %d\n", tool_name, kl_version(),
             KL_FORMAT_VERSION);
    tool_help(line);
}

bool tool_is_stdio(const char *path)
{
    return strcmp(path, "-") == 0;
}

const char *tool_display_name(const char *path)
{
    return tool_is_stdio(path) ? "(stdin)" : path;
}

void tool_refuse_tty(const char *path)
{
    if ((!path || tool_is_stdio(path)) && isatty(STDOUT_FILENO))
        tool_die("refusing to write binary session data to a terminal; "
                 "redirect it to a file or a pipe");
}

kl_writer *tool_writer_open(const char *path, kl_kind kind, int level)
{
    kl_writer_opts o;
    kl_writer_opts_init(&o);
    o.kind = kind;
    o.level = level;
    o.program = tool_name;
    o.async = true; /* compress on a second thread while the next frame fills */
    kl_writer *w = NULL;
    int rc = kl_writer_open(&w, path, &o);
    if (rc != KL_OK) {
        if (w)
            tool_die_writing(path, kl_writer_error(w));
        tool_die_writing(path, rc == KL_ERR_IO ? strerror(errno) : kl_strerror(rc));
    }
    return w;
}

void tool_writer_close(kl_writer *w, const char *path)
{
    if (!w)
        return;
    /* Flush first: the detail of a failed write is gone once the writer is closed. */
    if (kl_writer_flush(w) != KL_OK)
        tool_die_writing(path, kl_writer_error(w));
    int rc = kl_writer_close(w);
    if (rc != KL_OK)
        tool_die_writing(path, kl_strerror(rc));
}

void tool_warn_read(const char *name, kl_reader *r, int rc, uint64_t before)
{
    const char *detail = kl_reader_error(r);
    tool_warn("%s: %s (%llu session%s read before it)", name, *detail ? detail : kl_strerror(rc),
              (unsigned long long)before, before == 1 ? "" : "s");
}

/* ---- inputs: koala files, original koala JSON sessions and directories of them ---- */

/* JSON sessions are imported into one plain session stream in memory, which a reader reads as
 * it reads a file; the stream lives until tool_reader_close(). */
typedef struct held {
    kl_reader *r;
    kl_buf stream;
} held;

static held *helds;
static size_t n_helds;

/* One imported session's place in the stream being built, for the sort by time. */
typedef struct rec {
    int64_t time;
    char *id;
    size_t seq;        /* file order, for equal times and ids */
    size_t off, len;
} rec;

typedef struct importer {
    const char *name;  /* of the input, for messages */
    kl_buf raw;        /* records in file order */
    rec *recs;
    size_t n, cap;
    uint8_t *file;     /* the file being read */
    size_t file_cap;
    bool damaged;
} importer;

static int rec_cmp(const void *x, const void *y)
{
    const rec *a = x, *b = y;
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    int c = strcmp(a->id, b->id);
    return c ? c : a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* True when data starts as a JSON object: '{', then '"' or '}' (so a plain koala stream whose
 * first record is 123 bytes long, which starts with '{' too, is not taken for one). */
static bool looks_json(const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (int k = 0; k < 2; k++) {
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
            i++;
        if (k == 0 && (i == n || p[i++] != '{'))
            return false;
    }
    return i < n && (p[i] == '"' || p[i] == '}');
}

/* "<digits>-<digits>", the name the original recorder gave its files. */
static bool session_id_name(const char *name)
{
    const char *p = name;
    while (isdigit((unsigned char)*p))
        p++;
    if (p == name || *p++ != '-' || !isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p))
        p++;
    return *p == '\0';
}

/* Read path whole into im->file. @return its length, or -1 after a warning. */
static ssize_t read_whole(importer *im, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        tool_warn("%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > KL_MAX_KOALA_JSON) {
        tool_warn("%s: %llu bytes exceed the limit of %u for a JSON session", path,
                  (unsigned long long)st.st_size, KL_MAX_KOALA_JSON);
        close(fd);
        return -1;
    }
    size_t want = (size_t)st.st_size, n = 0;
    if (want > im->file_cap) {
        free(im->file);
        if (!(im->file = malloc(want)))
            tool_die("out of memory");
        im->file_cap = want;
    }
    while (n < want) {
        ssize_t got = read(fd, im->file + n, want - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            tool_warn("%s: %s", path, got < 0 ? strerror(errno) : "the file shrank while read");
            close(fd);
            return -1;
        }
        n += (size_t)got;
    }
    close(fd);
    return (ssize_t)n;
}

/* Import one session file into im. @return false after a warning. */
static bool import_file(importer *im, const char *path)
{
    ssize_t len = read_whole(im, path);
    if (len < 0)
        return false;
    kl_session *s;
    char err[KL_ERRBUF_SIZE] = "";
    int rc = kl_import_koala_json(im->file, (size_t)len, &s, err);
    if (rc != KL_OK) {
        tool_warn("%s: %s", path, *err ? err : kl_strerror(rc));
        return false;
    }
    size_t off = im->raw.len;
    rc = kl_session_encode_record(s, &im->raw);
    if (rc == KL_OK && im->n == im->cap) {
        im->cap = im->cap ? 2 * im->cap : 64;
        if (!(im->recs = realloc(im->recs, im->cap * sizeof *im->recs)))
            tool_die("out of memory");
    }
    if (rc == KL_OK) {
        rec *r = &im->recs[im->n];
        *r = (rec){kl_session_time(s), strdup(s->id ? s->id : ""), im->n, off, im->raw.len - off};
        if (!r->id)
            tool_die("out of memory");
        im->n++;
    }
    kl_session_free(s);
    if (rc == KL_ERR_NOMEM)
        tool_die("out of memory");
    if (rc != KL_OK)
        tool_warn("%s: %s", path, kl_strerror(rc));
    return rc == KL_OK;
}

static int name_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Import every session file of directory path, in name order so messages come in one order.
 * @return false when the directory cannot be read. */
static bool import_dir(importer *im, const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        tool_warn("%s: %s", path, strerror(errno));
        return false;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap && !(names = realloc(names, (cap = cap ? 2 * cap : 256) * sizeof *names)))
            tool_die("out of memory");
        if (!(names[n++] = strdup(e->d_name)))
            tool_die("out of memory");
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(path) + strlen(names[i]) + 2;
        char *file = malloc(len);
        if (!file)
            tool_die("out of memory");
        snprintf(file, len, "%s%s%s", path, path[strlen(path) - 1] == '/' ? "" : "/", names[i]);
        struct stat st;
        bool reg = stat(file, &st) == 0 && S_ISREG(st.st_mode);
        uint8_t head[512];
        ssize_t got = -1;
        int fd = reg ? open(file, O_RDONLY | O_CLOEXEC) : -1;
        if (fd >= 0) {
            got = read(fd, head, sizeof head);
            close(fd);
        }
        if (reg && ((got > 0 && looks_json(head, (size_t)got)) || session_id_name(names[i])))
            im->damaged |= !import_file(im, file);
        free(file);
        free(names[i]);
    }
    free(names);
    return true;
}

static ssize_t buf_write(void *ctx, const void *data, size_t len)
{
    return kl_buf_append(ctx, data, len) == KL_OK ? (ssize_t)len : -1;
}

/* A reader over what im imported, sorted by time: a plain session stream in memory, or an
 * empty koala file when nothing was imported (a plain stream cannot be empty). */
static kl_reader *imported_reader(importer *im)
{
    kl_buf stream = {0};
    if (im->n) {
        qsort(im->recs, im->n, sizeof *im->recs, rec_cmp);
        if (kl_buf_reserve(&stream, im->raw.len) != KL_OK)
            tool_die("out of memory");
        for (size_t i = 0; i < im->n; i++)
            kl_buf_append(&stream, im->raw.data + im->recs[i].off, im->recs[i].len);
    } else {
        kl_io io = {.ctx = &stream, .write = buf_write};
        kl_writer_opts o;
        kl_writer_opts_init(&o);
        o.program = tool_name;
        kl_writer *w = NULL;
        if (kl_writer_open_io(&w, &io, &o) != KL_OK || kl_writer_close(w) != KL_OK)
            tool_die("out of memory");
    }
    kl_reader *r = NULL;
    char err[KL_ERRBUF_SIZE] = "";
    int rc = kl_reader_open_mem(&r, stream.data, stream.len, im->name, err);
    if (rc != KL_OK)
        tool_die("%s: %s", im->name, *err ? err : kl_strerror(rc));
    held *h = realloc(helds, (n_helds + 1) * sizeof *helds);
    if (!h)
        tool_die("out of memory");
    helds = h;
    helds[n_helds++] = (held){r, stream};
    return r;
}

kl_reader *tool_input_open(const char *path, bool *damaged)
{
    struct stat st;
    bool dir = !tool_is_stdio(path) && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    bool json = false;
    if (!dir && !tool_is_stdio(path)) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint8_t head[512];
        ssize_t got = fd >= 0 ? read(fd, head, sizeof head) : -1;
        json = got > 0 && looks_json(head, (size_t)got);
        if (fd >= 0)
            close(fd);
    }
    if (!dir && !json) {
        kl_reader *r;
        char err[KL_ERRBUF_SIZE] = "";
        int rc = kl_reader_open(&r, path, err);
        if (rc == KL_OK)
            return r;
        tool_warn("%s: %s", tool_display_name(path), *err ? err : kl_strerror(rc));
        return NULL;
    }
    importer im = {.name = path};
    bool ok = dir ? import_dir(&im, path) : import_file(&im, path);
    kl_reader *r = ok ? imported_reader(&im) : NULL;
    if (damaged && im.damaged)
        *damaged = true;
    for (size_t i = 0; i < im.n; i++)
        free(im.recs[i].id);
    free(im.recs);
    free(im.file);
    kl_buf_free(&im.raw);
    return r;
}

kl_reader *tool_reader_open(const char *path)
{
    return tool_input_open(path, NULL);
}

void tool_reader_close(kl_reader *r)
{
    kl_reader_close(r);
    for (size_t i = 0; r && i < n_helds; i++) {
        if (helds[i].r == r) {
            kl_buf_free(&helds[i].stream);
            helds[i] = helds[--n_helds];
            break;
        }
    }
}

void tool_refuse_output_as_input(const char *out, char *const *inputs, int n)
{
    struct stat so, si;
    if (tool_is_stdio(out) || stat(out, &so) != 0)
        return;
    for (int i = 0; i < n; i++)
        if (!tool_is_stdio(inputs[i]) && stat(inputs[i], &si) == 0 && si.st_dev == so.st_dev &&
            si.st_ino == so.st_ino)
            tool_die("%s: the output is also an input", out);
}

noreturn void tool_die_writing(const char *path, const char *detail)
{
    if (tool_is_stdio(path)) {
        /* Linux reports POLLERR on the write end of a pipe that has no reader left. */
        struct pollfd p = {.fd = STDOUT_FILENO, .events = POLLOUT};
        if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR)) {
            out_failed = true;
            exit(TOOL_EXIT_TROUBLE);
        }
        path = "(stdout)";
    }
    tool_die("%s: %s", path, detail);
}

uint64_t tool_parse_count(const char *opt, const char *text, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!isdigit((unsigned char)text[0]) || *end || errno || v < min || v > max)
        tool_usage_error("%s: '%s' is not a number from %llu to %llu", opt, text,
                         (unsigned long long)min, (unsigned long long)max);
    return v;
}

void tool_parse_filter(const char *opt, const char *expr, kl_filter **f)
{
    char err[KL_ERRBUF_SIZE] = "";
    kl_filter_free(*f);
    *f = NULL;
    if (kl_filter_compile(f, expr, err) != KL_OK)
        tool_usage_error("%s: %s", opt, *err ? err : "bad filter");
}

static void out_write(const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            out_failed = true;
            out_len = 0;
            /* A reader that stopped reading (head, less) is not an error worth a message. */
            if (err != EPIPE)
                tool_warn("stdout: %s", strerror(err));
            exit(TOOL_EXIT_TROUBLE);
        }
        p += n;
        len -= (size_t)n;
    }
}

void tool_out_flush(void)
{
    if (out_failed || out_len == 0)
        return;
    size_t n = out_len;
    out_len = 0;
    out_write(out_buf, n);
}

static void out(const void *data, size_t len)
{
    if (out_failed || len == 0)
        return;
    if (out_len + len > OUT_CAP) {
        tool_out_flush();
        if (len >= OUT_CAP) {
            out_write(data, len);
            return;
        }
    }
    memcpy(out_buf + out_len, data, len);
    out_len += len;
}

void tool_out_buf(kl_buf *b)
{
    out(b->data, b->len);
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

