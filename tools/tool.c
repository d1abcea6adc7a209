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
#include <time.h>
#include <unistd.h>

const char *tool_name = "koala";

#define NS_PER_S 1000000000LL
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

noreturn void tool_help(const char *usage)
{
    tool_out_str(usage);
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

/* Reads digits[.digits] at *p into an integer part and a fraction in ns-of-unit (9 digits).
 * @return 0, or -1 when there is no number or the integer part overflows. */
static int parse_decimal(const char **p, int64_t *whole, int64_t *frac9)
{
    const char *s = *p;
    int64_t w = 0, f = 0;
    int digits = 0, fdigits = 0;
    for (; isdigit((unsigned char)*s); s++, digits++) {
        if (w > (INT64_MAX - 9) / 10)
            return -1;
        w = w * 10 + (*s - '0');
    }
    if (*s == '.') {
        for (s++; isdigit((unsigned char)*s); s++, fdigits++)
            if (fdigits < 9)
                f = f * 10 + (*s - '0');
        for (int i = fdigits; i < 9; i++)
            f *= 10;
    }
    if (digits + fdigits == 0)
        return -1;
    *p = s;
    *whole = w;
    *frac9 = f;
    return 0;
}

int tool_parse_duration(const char *text, int64_t *ns)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", NS_PER_S},
                 {"m", 60 * NS_PER_S}, {"h", 3600 * NS_PER_S}};
    const char *p = text;
    int64_t total = 0;
    if (!*p)
        return -1;
    while (*p) {
        int64_t whole, frac9;
        if (parse_decimal(&p, &whole, &frac9) != 0)
            return -1;
        int64_t unit = 0;
        size_t best = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t n = strlen(units[i].name);
            /* longest match, so "ms" is not read as "m" then "s" */
            if (n > best && strncmp(p, units[i].name, n) == 0) {
                unit = units[i].ns;
                best = n;
            }
        }
        if (!best) {
            if (*p || total)
                return -1;
            unit = NS_PER_S; /* a bare number is seconds */
        }
        p += best;
        if (whole > (INT64_MAX - total) / unit)
            return -1;
        total += whole * unit + (int64_t)((double)frac9 * (double)unit / 1e9);
    }
    if (total <= 0)
        return -1;
    *ns = total;
    return 0;
}

static int parse_fixed(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return 0;
}

static int parse_rfc3339(const char *text, int64_t *ns)
{
    const char *p = text;
    int Y, M, D, h, m, s;
    if (parse_fixed(&p, 4, &Y) || *p++ != '-' || parse_fixed(&p, 2, &M) || *p++ != '-' ||
        parse_fixed(&p, 2, &D))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (parse_fixed(&p, 2, &h) || *p++ != ':' || parse_fixed(&p, 2, &m) || *p++ != ':' ||
        parse_fixed(&p, 2, &s))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || s > 60)
        return -1;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 9)
                frac = frac * 10 + (*p - '0');
        if (!digits)
            return -1;
        for (; digits < 9; digits++)
            frac *= 10;
    }
    int offset = 0; /* seconds east of UTC */
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (parse_fixed(&p, 2, &oh) || *p++ != ':' || parse_fixed(&p, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                    .tm_hour = h, .tm_min = m, .tm_sec = s};
    time_t t = timegm(&tm);
    int64_t secs = (int64_t)t - offset;
    if (secs < 0 || secs > INT64_MAX / NS_PER_S - 1)
        return -1;
    *ns = secs * NS_PER_S + frac;
    return 0;
}

int tool_parse_time(const char *text, int64_t *ns)
{
    if (parse_rfc3339(text, ns) == 0)
        return 0;
    const char *p = text;
    int64_t whole, frac9;
    if (parse_decimal(&p, &whole, &frac9) != 0 || *p || whole > INT64_MAX / NS_PER_S - 1)
        return -1;
    *ns = whole * NS_PER_S + frac9;
    return 0;
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

void tool_out(const void *data, size_t len)
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
    tool_out(b->data, b->len);
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void tool_out_str(const char *s)
{
    tool_out(s, strlen(s));
}
