/* io.c - the default kl_io over a file descriptor. */
#include "kl_internal.h"

#include <errno.h>
#include <unistd.h>

ssize_t kli_fd_read(void *ctx, void *buf, size_t len)
{
    ssize_t n;
    do
        n = read(*(int *)ctx, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

ssize_t kli_fd_write(void *ctx, const void *buf, size_t len)
{
    ssize_t n;
    do
        n = write(*(int *)ctx, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

off_t kli_fd_seek(void *ctx, off_t off, int whence)
{
    return lseek(*(int *)ctx, off, whence);
}
