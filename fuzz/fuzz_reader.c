/* fuzz_reader.c - libFuzzer target: any bytes through the reader, by every path, never crash. */
#include "koala.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct memfile {
    const uint8_t *data;
    size_t len, pos;
} memfile;

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
    memfile *m = ctx;
    size_t n = m->len - m->pos < len ? m->len - m->pos : len;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static off_t mem_seek(void *ctx, off_t off, int whence)
{
    memfile *m = ctx;
    off_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (off_t)m->pos : (off_t)m->len;
    if (base + off < 0) {
        errno = EINVAL;
        return -1;
    }
    m->pos = (size_t)(base + off) > m->len ? m->len : (size_t)(base + off);
    return base + off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Seekable (index, count, seek) and as a pipe (no seek). */
    for (int seekable = 0; seekable < 2; seekable++) {
        memfile m = {data, size, 0};
        kl_io io = {&m, mem_read, NULL, seekable ? mem_seek : NULL};
        kl_reader *r;
        if (kl_reader_open_io(&r, &io, "fuzz", NULL) != KL_OK)
            continue;
        kl_buf out = {0};
        if (kl_reader_info(r)->kind == KL_KIND_REPLAYED) {
            const kl_replayed *rp;
            while (kl_reader_next_replayed(r, &rp) == KL_OK) {
                kl_json_replayed(rp, KL_JSON_EXTRA, &out);
                kl_print_replayed(rp, &out);
                out.len = 0;
            }
        } else {
            const kl_session *s;
            while (kl_reader_next(r, &s) == KL_OK) {
                kl_json_session(s, KL_JSON_EXTRA, &out);
                kl_print_session(s, &out);
                out.len = 0;
            }
        }
        kl_buf_free(&out);
        if (seekable) {
            uint64_t n;
            if (kl_reader_count(r, &n) == KL_OK && n > 0)
                kl_reader_seek(r, n - 1);
            kl_raw raw;
            kl_reader_seek(r, 0);
            while (kl_reader_next_raw(r, &raw) == KL_OK)
                ;
        }
        kl_reader_close(r);
    }
    return 0;
}
