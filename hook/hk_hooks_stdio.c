/* hk_hooks_stdio.c - the stdio wrappers: FILE streams opened for appending, what is written
 * to them and by dprintf, and what is read from streams on sockets. glibc's stdio reaches the kernel through its own internal write, which no
 * wrapper sees, so the bytes are recorded as the service hands them to the stream. */
#include "hk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

/* Optimized builds get these as macros from <bits/stdio.h>; the wrappers are the functions. */
#undef fwrite_unlocked
#undef fputc_unlocked
#undef putc
#undef fread_unlocked
#undef getc

/* Same shape as hk_hooks.c's WRAP_FD: a stream on an fd koala does not record goes straight
 * to libc; else the real call, then `after`, with the fd as fd_ and the result as n. */
#define WRAP_STREAM(type, name, args, f, after)                                                   \
    do {                                                                                          \
        int fd_ = fileno_unlocked(f);                                                             \
        if (hk_fd_kind_of(fd_) == HK_FD_OTHER || !hk_enter())                                     \
            return REAL(name) args;                                                               \
        type n = REAL(name) args;                                                                 \
        int saved = errno;                                                                        \
        after;                                                                                    \
        hk_leave();                                                                               \
        errno = saved;                                                                            \
        return n;                                                                                 \
    } while (0)

/* A write: what it wrote, as sent bytes, its length (a strlen for fputs) worked out only for a
 * recorded stream. */
#define WRAP_WRITE(type, name, args, f, data, len_of_n)                                           \
    WRAP_STREAM(type, name, args, f, if (hk_records_send(fd_)) hk_on_send(fd_, data, len_of_n))

/* A read: what the service took from a stream on a recorded socket, as received bytes (glibc
 * fills the stream's buffer by its internal read, which no wrapper sees either). End of stream
 * is not an event here: an fclose ends the connection. */
#define WRAP_READ(type, name, args, f, data, len_of_n)                                            \
    WRAP_STREAM(type, name, args, f, {                                                            \
        ssize_t got_ = len_of_n;                                                                  \
        if (got_ > 0)                                                                             \
            hk_on_recv(fd_, data, (size_t)got_, got_, 0);                                         \
    })

/* fopen opens through libc's internal open: describe the stream's fd here. */
#define FOPEN(name)                                                                               \
    EXPORT FILE *name(const char *path, const char *mode)                                         \
    {                                                                                             \
        if (!hk_enter())                                                                          \
            return REAL(name)(path, mode);                                                        \
        const char *use = path;                                                                   \
        OPEN_PATH(path, use);                                                                     \
        FILE *f = REAL(name)(use, mode);                                                          \
        int saved = errno;                                                                        \
        OPENED();                                                                                 \
        if (f)                                                                                    \
            hk_on_open(fileno_unlocked(f), path, mode && strchr(mode, 'a') ? O_APPEND : 0);       \
        hk_leave();                                                                               \
        errno = saved;                                                                            \
        return f;                                                                                 \
    }
FILE *fopen64(const char *path, const char *mode);
FOPEN(fopen)
FOPEN(fopen64)

/* freopen closes the stream's fd and opens path, often under the same number (a log file
 * reopened after rotation): the fd is described again. Without a path only the mode changes. */
#define FREOPEN(name)                                                                             \
    EXPORT FILE *name(const char *path, const char *mode, FILE *stream)                           \
    {                                                                                             \
        if (!hk_enter())                                                                          \
            return REAL(name)(path, mode, stream);                                                \
        if (path)                                                                                 \
            hk_on_close(fileno_unlocked(stream));                                                 \
        const char *use = path;                                                                   \
        OPEN_PATH(path, use);                                                                     \
        FILE *f = REAL(name)(use, mode, stream);                                                  \
        int saved = errno;                                                                        \
        OPENED();                                                                                 \
        if (f && path)                                                                            \
            hk_on_open(fileno_unlocked(f), path, mode && strchr(mode, 'a') ? O_APPEND : 0);       \
        hk_leave();                                                                               \
        errno = saved;                                                                            \
        return f;                                                                                 \
    }
FILE *freopen64(const char *path, const char *mode, FILE *stream);
FREOPEN(freopen)
FREOPEN(freopen64)

/* fclose closes through libc's internal close: forget the fd first, as close() does. */
EXPORT int fclose(FILE *f)
{
    if (!hk_enter())
        return REAL(fclose)(f);
    hk_on_close(fileno_unlocked(f));
    hk_leave();
    return REAL(fclose)(f);
}

/* fdopen(fd, "a") sets O_APPEND on fd by libc's internal fcntl (or fails): an fd opened
 * without it becomes an appended file here, as fcntl's F_SETFL makes it. */
EXPORT FILE *fdopen(int fd, const char *mode)
{
    if (!hk_enter())
        return REAL(fdopen)(fd, mode);
    FILE *f = REAL(fdopen)(fd, mode);
    int saved = errno;
    if (f && mode && strchr(mode, 'a'))
        hk_on_setfl(fd, O_APPEND);
    hk_leave();
    errno = saved;
    return f;
}

EXPORT size_t fwrite(const void *buf, size_t size, size_t nmemb, FILE *f)
{
    WRAP_WRITE(size_t, fwrite, (buf, size, nmemb, f), f, buf, (ssize_t)(n * size));
}

EXPORT size_t fwrite_unlocked(const void *buf, size_t size, size_t nmemb, FILE *f)
{
    WRAP_WRITE(size_t, fwrite_unlocked, (buf, size, nmemb, f), f, buf, (ssize_t)(n * size));
}

EXPORT int fputs(const char *s, FILE *f)
{
    WRAP_WRITE(int, fputs, (s, f), f, s, n >= 0 ? (ssize_t)strlen(s) : -1);
}

EXPORT int fputs_unlocked(const char *s, FILE *f)
{
    WRAP_WRITE(int, fputs_unlocked, (s, f), f, s, n >= 0 ? (ssize_t)strlen(s) : -1);
}

#define PUTC(name)                                                                                \
    EXPORT int name(int c, FILE *f)                                                               \
    {                                                                                             \
        unsigned char byte = (unsigned char)c;                                                    \
        WRAP_WRITE(int, name, (c, f), f, &byte, n == EOF ? -1 : 1);                               \
    }
PUTC(fputc)
PUTC(fputc_unlocked)
PUTC(putc)

size_t __fread_chk(void *buf, size_t room, size_t size, size_t nmemb, FILE *f);
char *__fgets_chk(char *s, size_t room, int size, FILE *f);
ssize_t __getdelim(char **line, size_t *cap, int delim, FILE *f);

EXPORT size_t fread(void *buf, size_t size, size_t nmemb, FILE *f)
{
    WRAP_READ(size_t, fread, (buf, size, nmemb, f), f, buf, (ssize_t)(n * size));
}

EXPORT size_t fread_unlocked(void *buf, size_t size, size_t nmemb, FILE *f)
{
    WRAP_READ(size_t, fread_unlocked, (buf, size, nmemb, f), f, buf, (ssize_t)(n * size));
}

EXPORT size_t __fread_chk(void *buf, size_t room, size_t size, size_t nmemb, FILE *f)
{
    WRAP_READ(size_t, __fread_chk, (buf, room, size, nmemb, f), f, buf, (ssize_t)(n * size));
}

/* A line's length is its text's: the bytes after a NUL in it are not recorded. */
EXPORT char *fgets(char *s, int size, FILE *f)
{
    WRAP_READ(char *, fgets, (s, size, f), f, s, n ? (ssize_t)strlen(s) : 0);
}

EXPORT char *fgets_unlocked(char *s, int size, FILE *f)
{
    WRAP_READ(char *, fgets_unlocked, (s, size, f), f, s, n ? (ssize_t)strlen(s) : 0);
}

EXPORT char *__fgets_chk(char *s, size_t room, int size, FILE *f)
{
    WRAP_READ(char *, __fgets_chk, (s, room, size, f), f, s, n ? (ssize_t)strlen(s) : 0);
}

/* getline is inlined as __getdelim in optimized builds. */
EXPORT ssize_t getline(char **line, size_t *cap, FILE *f)
{
    WRAP_READ(ssize_t, getline, (line, cap, f), f, *line, n);
}

EXPORT ssize_t getdelim(char **line, size_t *cap, int delim, FILE *f)
{
    WRAP_READ(ssize_t, getdelim, (line, cap, delim, f), f, *line, n);
}

EXPORT ssize_t __getdelim(char **line, size_t *cap, int delim, FILE *f)
{
    WRAP_READ(ssize_t, __getdelim, (line, cap, delim, f), f, *line, n);
}

#define GETC(name)                                                                                \
    EXPORT int name(FILE *f)                                                                      \
    {                                                                                             \
        unsigned char byte;                                                                       \
        WRAP_READ(int, name, (f), f, (byte = (unsigned char)n, &byte), n == EOF ? 0 : 1);         \
    }
GETC(fgetc)
GETC(getc)

/* fmt's text, in small (`size` bytes) when it fits, else in memory the caller frees.
 * @return it, its length in *len; NULL when it cannot be made. */
static char *format(char *small, size_t size, int *len, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    *len = vsnprintf(small, size, fmt, ap);
    char *text = *len < 0 ? NULL : small;
    if (text && *len >= (int)size && (text = malloc((size_t)*len + 1)))
        vsnprintf(text, (size_t)*len + 1, fmt, again);
    va_end(again);
    return text;
}

/* The text could not be made (no memory): the real function writes it unrecorded. */
#define NOT_MADE (-2)

/* A recorded stream's formatted text is made once, here, and written with fwrite: the bytes
 * recorded are the bytes the stream took. */
static int print_recorded(FILE *f, const char *fmt, va_list ap)
{
    char small[1024];
    int len;
    char *text = format(small, sizeof small, &len, fmt, ap);
    if (!text)
        return NOT_MADE;
    size_t n = REAL(fwrite)(text, 1, (size_t)len, f);
    hk_on_send(fileno_unlocked(f), text, (ssize_t)n);
    if (text != small)
        free(text);
    return n == (size_t)len ? len : -1;
}

/* dprintf writes through a stream of libc's own, by its internal write: the text is made here
 * and written by the write() wrapper, the rest after a partial write, up to an error, so that
 * each write is recorded, or replayed, as the service's own would be. */
static int dprint(int fd, const char *fmt, va_list ap)
{
    char small[1024];
    int len;
    char *text = format(small, sizeof small, &len, fmt, ap);
    if (!text)
        return NOT_MADE;
    size_t done = 0;
    for (ssize_t n; done < (size_t)len && (n = write(fd, text + done, (size_t)len - done)) > 0;)
        done += (size_t)n;
    if (text != small) {
        int saved = errno;
        free(text);
        errno = saved;
    }
    return done == (size_t)len ? len : -1;
}

/* vfprintf and its fortified form: a recorded stream's text is made by print_recorded, from a
 * copy of ap, so that the real function can still write what it could not make; anything
 * else goes straight through. The fortified forms' text is formatted by vsnprintf, without
 * their run-time check of %n in writable formats. */
#define VFPRINTF(name, params, args)                                                              \
    EXPORT int name params                                                                        \
    {                                                                                             \
        int fd = fileno_unlocked(f);                                                              \
        if (hk_fd_kind_of(fd) == HK_FD_OTHER || !hk_enter())                                      \
            return REAL(name) args;                                                               \
        if (!hk_records_send(fd)) {                                                               \
            int n = REAL(name) args;                                                              \
            hk_leave();                                                                           \
            return n;                                                                             \
        }                                                                                         \
        va_list copy;                                                                             \
        va_copy(copy, ap);                                                                        \
        int n = print_recorded(f, fmt, copy);                                                     \
        va_end(copy);                                                                             \
        if (n == NOT_MADE)                                                                        \
            n = REAL(name) args;                                                                  \
        int saved = errno;                                                                        \
        hk_leave();                                                                               \
        errno = saved;                                                                            \
        return n;                                                                                 \
    }

/* vdprintf and its fortified form: on any fd koala may record or replay, dprint() (outside
 * koala: its writes enter it themselves). */
#define VDPRINTF(name, params, args)                                                              \
    EXPORT int name params                                                                        \
    {                                                                                             \
        if (hk_fd_kind_of(fd) == HK_FD_OTHER || !hk_enter())                                      \
            return REAL(name) args;                                                               \
        hk_leave();                                                                               \
        va_list copy;                                                                             \
        va_copy(copy, ap);                                                                        \
        int n = dprint(fd, fmt, copy);                                                            \
        va_end(copy);                                                                             \
        return n == NOT_MADE ? REAL(name) args : n;                                               \
    }

int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap);
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...);
int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap);
int __dprintf_chk(int fd, int flag, const char *fmt, ...);

VFPRINTF(vfprintf, (FILE *f, const char *fmt, va_list ap), (f, fmt, ap))
VFPRINTF(__vfprintf_chk, (FILE *f, int flag, const char *fmt, va_list ap), (f, flag, fmt, ap))
VDPRINTF(vdprintf, (int fd, const char *fmt, va_list ap), (fd, fmt, ap))
VDPRINTF(__vdprintf_chk, (int fd, int flag, const char *fmt, va_list ap), (fd, flag, fmt, ap))

/* The variadic forms, through the wrappers above. */
#define PRINTF(name, vname, params, ...)                                                          \
    EXPORT int name params                                                                        \
    {                                                                                             \
        va_list ap;                                                                               \
        va_start(ap, fmt);                                                                        \
        int n = vname(__VA_ARGS__, ap);                                                           \
        va_end(ap);                                                                               \
        return n;                                                                                 \
    }
PRINTF(fprintf, vfprintf, (FILE *f, const char *fmt, ...), f, fmt)
PRINTF(__fprintf_chk, __vfprintf_chk, (FILE *f, int flag, const char *fmt, ...), f, flag, fmt)
PRINTF(dprintf, vdprintf, (int fd, const char *fmt, ...), fd, fmt)
PRINTF(__dprintf_chk, __vdprintf_chk, (int fd, int flag, const char *fmt, ...), fd, flag, fmt)
