/* orig_chunks.h - the original koala's request cut (koala/replaying/matcher_chunk.go), written
 * out independently of libkoala/match.c: the reference check_match compares the matcher with,
 * and bench_match's baseline. */
#ifndef ORIG_CHUNKS_H
#define ORIG_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

/* Cut req into 16-byte chunks (cp[i], cl[i] bytes); over 256 bytes, the first printable run
 * longer than 8 bytes, capped at 16, is chunk 0. cp and cl hold len / 16 + 2 entries.
 * @return the number of chunks. */
static inline size_t orig_chunks(const uint8_t *req, size_t len, const uint8_t **cp, size_t *cl)
{
    size_t n = 0, from = 0;
    if (len > 256)
        for (size_t off = 0; off < len;) {
            while (off < len && !(req[off] > 31 && req[off] < 127))
                off++;
            size_t e = off;
            while (e < len && req[e] > 31 && req[e] < 127)
                e++;
            if (e - off > 8) {
                size_t l = e - off < 16 ? e - off : 16;
                cp[n] = req + off, cl[n++] = l;
                from = off + l;
                break;
            }
            off = e;
        }
    for (; from + 16 <= len; from += 16)
        cp[n] = req + from, cl[n++] = 16;
    if (from < len)
        cp[n] = req + from, cl[n++] = len - from;
    return n;
}

#endif
