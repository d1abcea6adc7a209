/* error.c - the one error table, the version, and error detail formatting. */
#include "kl_internal.h"

#include <stdio.h>

const char *kl_version(void)
{
    return KLI_VERSION;
}

const char *kl_strerror(int err)
{
    switch ((kl_err)err) {
    case KL_OK: return "success";
    case KL_END: return "end of stream";
    case KL_ERR_NOMEM: return "out of memory";
    case KL_ERR_IO: return "input/output error";
    case KL_ERR_BADMAGIC: return "not a koala session file";
    case KL_ERR_VERSION: return "file written by a newer format version";
    case KL_ERR_TRUNCATED: return "truncated stream";
    case KL_ERR_CORRUPT: return "corrupt data";
    case KL_ERR_TOOBIG: return "length exceeds limit";
    case KL_ERR_INVALID: return "invalid argument";
    case KL_ERR_UNSUPPORTED: return "not supported on this input";
    case KL_ERR_KIND: return "wrong kind of session (recorded vs replayed)";
    case KL_ERR_SYNTAX: return "syntax error";
    case KL_ERR_NOTFOUND: return "not found";
    case KL_ERR_ZSTD: return "compression failed";
    }
    return "unknown error";
}

void kli_seterr(char *errbuf, const char *fmt, ...)
{
    if (!errbuf)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, KL_ERRBUF_SIZE, fmt, ap);
    va_end(ap);
}
