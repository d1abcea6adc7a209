/* buf.c - the growable output buffer that printers and exporters append to. */
#include "kl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kl_buf_reserve(kl_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return KL_OK;
    if (extra > SIZE_MAX / 2 - b->len)
        return KL_ERR_NOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return KL_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return KL_OK;
}

int kl_buf_append(kl_buf *b, const void *data, size_t len)
{
    if (kl_buf_reserve(b, len) != KL_OK)
        return KL_ERR_NOMEM;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return KL_OK;
}

int kl_buf_printf(kl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return KL_ERR_INVALID;
    if ((size_t)n < sizeof small)
        return kl_buf_append(b, small, (size_t)n);
    if (kl_buf_reserve(b, (size_t)n) != KL_OK)
        return KL_ERR_NOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return KL_OK;
}

void kl_buf_free(kl_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
