/* fuzz_reader.c - libFuzzer target: any bytes through the reader, by every path, never crash. */
#include "koala.h"

#include <stdio.h>
#include <string.h>

/* Feeds data to the reader through a pipe-like kl_io, which cannot seek. */
typedef struct stream {
    const uint8_t *data;
    size_t len, pos;
} stream;

static ssize_t stream_read(void *ctx, void *buf, size_t len)
{
    stream *m = ctx;
    size_t n = m->len - m->pos < len ? m->len - m->pos : len;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Seekable (index, count, seek) and as a pipe (no seek). */
    for (int seekable = 0; seekable < 2; seekable++) {
        stream m = {data, size, 0};
        kl_io io = {&m, stream_read, NULL, NULL};
        kl_reader *r;
        int err = seekable ? kl_reader_open_mem(&r, data, size, "fuzz", NULL)
                           : kl_reader_open_io(&r, &io, "fuzz", NULL);
        if (err != KL_OK)
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
