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

void tool_must(int rc)
{
    if (rc != KL_OK)
        tool_die("out of memory");
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
    o.async = true; /* compress on threads of their own while the next frames fill */
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

void tool_warn_read(const char *name, kl_reader *r, int rc)
{
    const char *detail = kl_reader_error(r);
    uint64_t before = kl_reader_delivered(r);
    tool_warn("%s: %s (%llu session%s read before it)", name, *detail ? detail : kl_strerror(rc),
              (unsigned long long)before, before == 1 ? "" : "s");
}

void tool_warn_skipped(const char *name, kl_reader *r, uint64_t skipped)
{
    tool_warn("%s: going on after the damage, at session %llu (%llu left out)", name,
              (unsigned long long)kl_reader_delivered(r), (unsigned long long)skipped);
}

bool tool_read_past(const char *name, kl_reader *r, int rc)
{
    tool_warn_read(name, r, rc);
    uint64_t skipped;
    if (kl_reader_skip_damage(r, &skipped) != KL_OK)
        return false;
    tool_warn_skipped(name, r, skipped);
    return true;
}

/* ---- inputs: koala files, original koala JSON sessions and directories of them ---- */

/* The first bytes of a pipe, read to tell JSON from a koala stream, given back first. */
typedef struct peek {
    int fd;
    bool close_fd;
    uint8_t head[512];
    size_t n, pos;
} peek;

/* What a reader of tool_input_open() reads from, freed with it: JSON sessions imported into
 * one plain session stream in memory, or a pipe's peeked bytes. */
typedef struct held {
    kl_reader *r;
    kl_buf stream;
    peek *pk;
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

static bool json_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whether the n bytes at p start as a JSON object: '{', then '"' or '}' (so a plain koala
 * stream whose first record is 123 bytes long, which starts with '{' too, is not taken for
 * one). *sure is false when more bytes could tell. */
static bool looks_json(const uint8_t *p, size_t n, bool *sure)
{
    size_t i = 0;
    for (int k = 0; k < 2; k++) {
        while (i < n && json_ws(p[i]))
            i++;
        if (k == 0 && i < n && p[i++] != '{') {
            *sure = true;
            return false;
        }
    }
    *sure = i < n;
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

/* Read fd to its end into im->file after the have bytes already there. @return the length in
 * all, or -1 after a warning. */
static ssize_t read_rest(importer *im, int fd, const char *name, size_t have)
{
    size_t n = have;
    for (;;) {
        if (n == im->file_cap) {
            size_t cap = im->file_cap ? 2 * im->file_cap : 64 << 10;
            uint8_t *f = realloc(im->file, cap);
            if (!f)
                tool_die("out of memory");
            im->file = f;
            im->file_cap = cap;
        }
        ssize_t got = read(fd, im->file + n, im->file_cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            tool_warn("%s: %s", name, strerror(errno));
            return -1;
        }
        if (got == 0)
            return (ssize_t)n;
        n += (size_t)got;
        if (n > KL_MAX_KOALA_JSON) {
            tool_warn("%s: more than %u bytes, the limit for a JSON session", name,
                      KL_MAX_KOALA_JSON);
            return -1;
        }
    }
}

/* Import the session in im->file[0..len) read from name. @return false after a warning. */
static bool import_session(importer *im, const char *name, size_t len)
{
    kl_session *s;
    char err[KL_ERRBUF_SIZE] = "";
    int rc = kl_import_koala_json(im->file, len, &s, err);
    if (rc != KL_OK) {
        tool_warn("%s: %s", name, *err ? err : kl_strerror(rc));
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
        tool_warn("%s: %s", name, kl_strerror(rc));
    return rc == KL_OK;
}

static int name_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The session files of directory path, imported in name order (so messages come in one
 * order). @return false when the directory cannot be read. */
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
    bool slash = path[strlen(path) - 1] == '/';
    size_t pbs = 0, before = im->n;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(path) + strlen(names[i]) + 2;
        char *file = malloc(len);
        if (!file)
            tool_die("out of memory");
        snprintf(file, len, "%s%s%s", path, slash ? "" : "/", names[i]);
        struct stat st;
        int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        size_t nlen = strlen(names[i]);
        bool reg = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
        if (reg && nlen > 3 && strcmp(names[i] + nlen - 3, ".pb") == 0) {
            pbs++;
        } else if (reg) {
            uint8_t head[512];
            ssize_t got = pread(fd, head, sizeof head, 0);
            bool sure;
            if ((got > 0 && looks_json(head, (size_t)got, &sure)) || session_id_name(names[i])) {
                got = read_rest(im, fd, file, 0);
                im->damaged |= got < 0 || !import_session(im, file, (size_t)got);
            }
        } else if (fd < 0 && session_id_name(names[i])) {
            tool_warn("%s: %s", file, strerror(errno));
            im->damaged = true;
        }
        if (fd >= 0)
            close(fd);
        free(file);
        free(names[i]);
    }
    free(names);
    /* a recorder's directory given whole: its files are not read this way */
    if (pbs) {
        tool_warn("%s: a directory is read as the original koala's JSON session files; its %zu "
                  ".pb file%s not (name them: %s%s*.pb)", path, pbs, pbs == 1 ? " is" : "s are", path,
                  slash ? "" : "/");
        if (im->n == before)
            im->damaged = true;
    }
    return true;
}

static ssize_t buf_write(void *ctx, const void *data, size_t len)
{
    return kl_buf_append(ctx, data, len) == KL_OK ? (ssize_t)len : -1;
}

static ssize_t peek_read(void *ctx, void *buf, size_t len)
{
    peek *p = ctx;
    if (p->pos == p->n)
        return read(p->fd, buf, len);
    size_t k = p->n - p->pos < len ? p->n - p->pos : len;
    memcpy(buf, p->head + p->pos, k);
    p->pos += k;
    return (ssize_t)k;
}

static kl_reader *hold(kl_reader *r, kl_buf stream, peek *pk)
{
    held *h = realloc(helds, (n_helds + 1) * sizeof *helds);
    if (!h)
        tool_die("out of memory");
    helds = h;
    helds[n_helds++] = (held){r, stream, pk};
    return r;
}

/* A reader over what im imported, sorted by time: a plain session stream in memory, or an
 * empty koala file when nothing was imported (a plain stream cannot be empty). */
static kl_reader *imported_reader(importer *im)
{
    kl_buf stream = {0};
    if (im->n) {
        qsort(im->recs, im->n, sizeof *im->recs, rec_cmp);
        tool_must(kl_buf_reserve(&stream, im->raw.len));
        for (size_t i = 0; i < im->n; i++)
            kl_buf_append(&stream, im->raw.data + im->recs[i].off, im->recs[i].len);
    } else {
        kl_io io = {.ctx = &stream, .write = buf_write};
        kl_writer_opts o;
        kl_writer_opts_init(&o);
        o.program = tool_name;
        kl_writer *w = NULL;
        tool_must(kl_writer_open_io(&w, &io, &o));
        tool_must(kl_writer_close(w));
    }
    kl_reader *r = NULL;
    char err[KL_ERRBUF_SIZE] = "";
    int rc = kl_reader_open_mem(&r, stream.data, stream.len, im->name, err);
    if (rc != KL_OK)
        tool_die("%s: %s", im->name, *err ? err : kl_strerror(rc));
    return hold(r, stream, NULL);
}

/* A reader of a koala stream from a pipe whose first bytes were peeked; pk is the reader's. */
static kl_reader *peeked_reader(peek *pk, const char *name)
{
    kl_io io = {.ctx = pk, .read = peek_read};
    kl_reader *r;
    char err[KL_ERRBUF_SIZE] = "";
    int rc = kl_reader_open_io(&r, &io, name, err);
    if (rc != KL_OK) {
        tool_warn("%s: %s", name, *err ? err : kl_strerror(rc));
        if (pk->close_fd)
            close(pk->fd);
        free(pk);
        return NULL;
    }
    return hold(r, (kl_buf){0}, pk);
}

kl_reader *tool_input_open(const char *path, bool *damaged)
{
    const char *name = tool_display_name(path);
    bool stdio = tool_is_stdio(path);
    struct stat st;
    int fd = stdio ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0 && !stdio)
            close(fd);
        fd = -1;
    }
    importer im = {.name = path};
    peek *pk = NULL;
    bool json = false, sure = true, ok = false;
    if (fd >= 0 && S_ISREG(st.st_mode)) {
        /* pread leaves the offset of a redirected stdin where it was */
        off_t at = stdio ? lseek(fd, 0, SEEK_CUR) : 0;
        uint8_t head[512];
        ssize_t got = at < 0 ? -1 : pread(fd, head, sizeof head, at);
        json = got > 0 && looks_json(head, (size_t)got, &sure);
        if (json) {
            ssize_t len = read_rest(&im, fd, name, 0);
            ok = len >= 0 && import_session(&im, name, (size_t)len);
        }
    } else if (fd >= 0 && !S_ISDIR(st.st_mode)) {
        /* a pipe: its first bytes cannot be read twice */
        if (!(pk = calloc(1, sizeof *pk)))
            tool_die("out of memory");
        *pk = (peek){.fd = fd, .close_fd = !stdio};
        while (pk->n < sizeof pk->head) {
            ssize_t got = read(fd, pk->head + pk->n, sizeof pk->head - pk->n);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0)
                break;
            pk->n += (size_t)got;
            if ((json = looks_json(pk->head, pk->n, &sure)) || sure)
                break;
        }
        if (json) {
            if (!(im.file = malloc(im.file_cap = 64 << 10)))
                tool_die("out of memory");
            memcpy(im.file, pk->head, pk->n);
            ssize_t len = read_rest(&im, fd, name, pk->n);
            ok = len >= 0 && import_session(&im, name, (size_t)len);
        }
    }
    kl_reader *r = NULL;
    if (fd >= 0 && S_ISDIR(st.st_mode)) {
        if (!stdio)
            close(fd);
        if (import_dir(&im, path))
            r = imported_reader(&im);
    } else if (json) {
        if (ok)
            r = imported_reader(&im);
        free(pk);
        if (!stdio)
            close(fd);
    } else if (pk) {
        r = peeked_reader(pk, name);
    } else {
        if (fd >= 0 && !stdio)
            close(fd);
        char err[KL_ERRBUF_SIZE] = "";
        int rc = kl_reader_open(&r, path, err);
        if (rc != KL_OK) {
            tool_warn("%s: %s", name, *err ? err : kl_strerror(rc));
            r = NULL;
        }
    }
    if (im.damaged)
        *damaged = true;
    for (size_t i = 0; i < im.n; i++)
        free(im.recs[i].id);
    free(im.recs);
    free(im.file);
    kl_buf_free(&im.raw);
    return r;
}

void tool_reader_close(kl_reader *r)
{
    kl_reader_close(r);
    for (size_t i = 0; r && i < n_helds; i++) {
        if (helds[i].r == r) {
            kl_buf_free(&helds[i].stream);
            if (helds[i].pk && helds[i].pk->close_fd)
                close(helds[i].pk->fd);
            free(helds[i].pk);
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

