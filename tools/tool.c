/* tool.c - what every koala-* tool shares: messages, exit codes, option values, buffered stdout. */
#include "tool.h"

#include <ctype.h>
#include <errno.h>
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

kl_reader *tool_reader_open(const char *path)
{
    kl_reader *r;
    char err[KL_ERRBUF_SIZE] = "";
    int rc = kl_reader_open(&r, path, err);
    if (rc == KL_OK)
        return r;
    tool_warn("%s: %s", tool_display_name(path), *err ? err : kl_strerror(rc));
    return NULL;
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

