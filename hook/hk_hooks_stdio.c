/* hk_hooks_stdio.c - the stdio wrappers: FILE streams opened for appending, and what is
 * written to them. glibc's stdio reaches the kernel through its own internal write, which no
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

/* Same shape as hk_hooks.c's WRAP_FD: a stream on an fd koala does not record goes straight
 * to libc; else the real call, then what it wrote, as sent bytes, its length (a strlen for
 * fputs) worked out only for a recorded stream. */
#define WRAP_WRITE(type, name, args, f, data, len_of_n)                                           \
    do {                                                                                          \
        int fd_ = fileno_unlocked(f);                                                             \
        if (hk_fd_kind_of(fd_) == HK_FD_OTHER || !hk_enter())                                     \
            return REAL(name) args;                                                               \
        type n = REAL(name) args;                                                                 \
        int saved = errno;                                                                        \
        if (hk_records_send(fd_))                                                                 \
            hk_on_send(fd_, data, len_of_n);                                                      \
        hk_leave();                                                                               \
        errno = saved;                                                                            \
        return n;                                                                                 \
    } while (0)

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

/* A recorded stream's formatted text is made once, here, and written with fwrite: the bytes
 * recorded are the bytes the stream took. Other streams go straight to the real function. */
static int print_recorded(FILE *f, const char *fmt, va_list ap)
{
    char small[1024];
    va_list again;
    va_copy(again, ap);
    int len = vsnprintf(small, sizeof small, fmt, ap);
    char *text = small;
    if (len >= (int)sizeof small) {
        text = malloc((size_t)len + 1);
        if (text)
            vsnprintf(text, (size_t)len + 1, fmt, again);
    }
    va_end(again);
    if (len < 0 || !text)
        return -1;
    size_t n = REAL(fwrite)(text, 1, (size_t)len, f);
    hk_on_send(fileno_unlocked(f), text, (ssize_t)n);
    if (text != small)
        free(text);
    return n == (size_t)len ? len : -1;
}

/* vfprintf and its fortified form: a stream that is not recorded goes straight through. */
#define VFPRINTF(name, params, args)                                                              \
    EXPORT int name params                                                                        \
    {                                                                                             \
        if (hk_fd_kind_of(fileno_unlocked(f)) == HK_FD_OTHER || !hk_enter())                      \
            return REAL(name) args;                                                               \
        if (!hk_records_send(fileno_unlocked(f))) {                                               \
            int n = REAL(name) args;                                                              \
            hk_leave();                                                                           \
            return n;                                                                             \
        }                                                                                         \
        int n = print_recorded(f, fmt, ap);                                                       \
        int saved = errno;                                                                        \
        hk_leave();                                                                               \
        errno = saved;                                                                            \
        return n;                                                                                 \
    }

VFPRINTF(vfprintf, (FILE *f, const char *fmt, va_list ap), (f, fmt, ap))

EXPORT int fprintf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(f, fmt, ap);
    va_end(ap);
    return n;
}

/* The fortified forms (_FORTIFY_SOURCE). A recorded stream's text is formatted by
 * vsnprintf, without their run-time check of %n in writable formats. */
int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap);
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...);

VFPRINTF(__vfprintf_chk, (FILE *f, int flag, const char *fmt, va_list ap), (f, flag, fmt, ap))

EXPORT int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = __vfprintf_chk(f, flag, fmt, ap);
    va_end(ap);
    return n;
}
