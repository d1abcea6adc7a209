/* hk_log.c - koala's own log: KOALA_LOG_FILE (STDOUT, STDERR or a path rotated every hour).
 *
 * Writes go through raw system calls, never through libc's hooked wrappers, so logging can
 * neither recurse into the hook nor show up in a recording. */
#include "hk.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static struct {
    pthread_mutex_t lock;
    int fd;                 /* -1 until opened: lines go to stderr */
    bool own_fd;            /* a path we opened (and rotate) */
    hk_level level;
    int64_t hour;           /* the hour (unix time / 3600) the open file belongs to */
    char path[HK_PATH_MAX];
} lg = {PTHREAD_MUTEX_INITIALIZER, -1, false, HK_INFO, 0, ""};

const char *hk_level_name(hk_level level)
{
    static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    return level <= HK_FATAL ? names[level] : "?";
}

static void raw_write(int fd, const char *p, size_t len)
{
    while (len) {
        long n = syscall(SYS_write, fd, p, len);
        if (n <= 0)
            return; /* a log that cannot be written is dropped, never retried in a loop */
        p += n;
        len -= (size_t)n;
    }
}

static int raw_open(const char *path)
{
    return (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void now(struct timespec *ts)
{
    syscall(SYS_clock_gettime, CLOCK_REALTIME, ts);
}

void hk_log_open(const hk_config *c)
{
    pthread_mutex_lock(&lg.lock);
    lg.level = c->log_level;
    lg.own_fd = false;
    if (strcmp(c->log_file, "STDOUT") == 0) {
        lg.fd = STDOUT_FILENO;
    } else if (strcmp(c->log_file, "STDERR") == 0 || !c->log_file[0]) {
        lg.fd = STDERR_FILENO;
    } else {
        snprintf(lg.path, sizeof lg.path, "%s", c->log_file);
        lg.fd = raw_open(lg.path);
        lg.own_fd = lg.fd >= 0;
        if (lg.own_fd)
            hk_fd_adopt(&lg.fd, &lg.lock);
        struct timespec ts;
        now(&ts);
        lg.hour = ts.tv_sec / 3600;
        if (lg.fd < 0) {
            lg.fd = STDERR_FILENO;
            pthread_mutex_unlock(&lg.lock);
            hk_log(HK_ERROR, "KOALA_LOG_FILE=%s cannot be opened; logging to stderr", c->log_file);
            return;
        }
    }
    pthread_mutex_unlock(&lg.lock);
}

/* Past the hour: the file becomes PATH.YYYYMMDDHH (UTC, the hour it holds) and a new one opens.
 * Called with the lock held. */
static void rotate(int64_t hour)
{
    time_t t = (time_t)(lg.hour * 3600);
    struct tm tm;
    gmtime_r(&t, &tm);
    char old[HK_PATH_MAX + 64];
    snprintf(old, sizeof old, "%s.%04d%02d%02d%02d", lg.path, (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100);
    syscall(SYS_renameat, AT_FDCWD, lg.path, AT_FDCWD, old);
    int fd = raw_open(lg.path);
    if (fd >= 0) {
        hk_fd_disown(&lg.fd);
        syscall(SYS_close, lg.fd);
        lg.fd = fd;
        hk_fd_adopt(&lg.fd, &lg.lock);
    }
    lg.hour = hour;
}

bool hk_log_on(hk_level level)
{
    return level >= lg.level;
}

void hk_log(hk_level level, const char *fmt, ...)
{
    if (level < lg.level)
        return;
    char line[1024];
    struct timespec ts;
    now(&ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ koala[%ld] %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000, (long)getpid(), hk_level_name(level));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 5) { /* cut: say so */
        len = sizeof line - 5;
        memcpy(line + len, "...", 3);
        len += 3;
    }
    line[len++] = '\n';
    pthread_mutex_lock(&lg.lock);
    if (lg.own_fd && ts.tv_sec / 3600 != lg.hour)
        rotate(ts.tv_sec / 3600);
    raw_write(lg.fd < 0 ? STDERR_FILENO : lg.fd, line, len);
    pthread_mutex_unlock(&lg.lock);
}

void hk_log_rotate_at(int64_t unix_sec)
{
    pthread_mutex_lock(&lg.lock);
    if (lg.own_fd && unix_sec / 3600 != lg.hour)
        rotate(unix_sec / 3600);
    pthread_mutex_unlock(&lg.lock);
}

void hk_log_close(void)
{
    pthread_mutex_lock(&lg.lock);
    if (lg.own_fd) {
        hk_fd_disown(&lg.fd);
        syscall(SYS_close, lg.fd);
    }
    lg.fd = -1;
    lg.own_fd = false;
    pthread_mutex_unlock(&lg.lock);
}
