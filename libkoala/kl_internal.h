/* kl_internal.h - internals shared between libkoala files (kli_ prefix); not installed. */
#ifndef KL_INTERNAL_H
#define KL_INTERNAL_H

#include "koala.h"

#include <stdarg.h>

#define KLI_VERSION "0.1.0"

/* File framing. Frame 1 is a zstd skippable frame holding "KLHD" + FileHeader; the last is a
 * skippable frame holding FileIndex + its length (u32 LE) + "KLIX", so the index is found
 * from the last 8 bytes of the file. */
#define KLI_ZSTD_MAGIC 0xFD2FB528u
#define KLI_SKIP_MAGIC_MIN 0x184D2A50u
#define KLI_SKIP_MAGIC_MAX 0x184D2A5Fu
#define KLI_HEADER_FRAME_MAGIC 0x184D2A5Bu
#define KLI_INDEX_FRAME_MAGIC 0x184D2A5Cu
#define KLI_HEADER_TAG "KLHD"
#define KLI_INDEX_TAG "KLIX"
#define KLI_MAGIC_STRING "koala"
#define KLI_DEFAULT_FRAME (1u << 20)
#define KLI_DEFAULT_LEVEL 3

/* ---- memory: a bump arena owning everything a session points at ---- */
typedef struct kli_chunk kli_chunk;
struct kli_mem {
    kli_chunk *head;
};

typedef struct kli_mem kli_mem;

kli_mem *kli_mem_new(void);
/* Make an empty arena's first chunk hold n bytes, when the caller knows about what it will
 * allocate: one malloc instead of a series (and none of 16 KiB for a small need). A session
 * takes its first chunk with it instead (kli_session_new_sized).
 * @return KL_OK (also when the arena already has a chunk) or KL_ERR_NOMEM. */
int kli_mem_reserve(kli_mem *m, size_t n);
void kli_mem_free(kli_mem *m);
/* Bytes an owner allocates to hold an arena's first chunk of n bytes (kli_mem_place). */
size_t kli_mem_place_size(size_t n);
/* Give an empty arena its first chunk, of n bytes, at `at`: kli_mem_place_size(n) bytes,
 * 16-aligned, inside an allocation of the caller's, which the arena never frees. */
void kli_mem_place(kli_mem *m, void *at, size_t n);
/* Free an arena's chunks but a placed one (kli_mem_place), leaving the arena empty: for an
 * arena kli_mem_new did not make, such as a session's. */
void kli_mem_release(kli_mem *m);
/* Forget every allocation but keep one chunk for reuse: the placed one when there is one,
 * else the largest. */
void kli_mem_reset(kli_mem *m);
/* 16-byte aligned, never NULL for n == 0 (returns a valid pointer); NULL when out of memory. */
void *kli_alloc(kli_mem *m, size_t n);
void *kli_zalloc(kli_mem *m, size_t n);
void *kli_memdup(kli_mem *m, const void *p, size_t n);
char *kli_strdup(kli_mem *m, const char *s);
/* s[0..n) copied whole and NUL-terminated (unlike strndup, a NUL inside does not stop it);
 * NULL when out of memory. */
char *kli_strndup(kli_mem *m, const void *s, size_t n);
/* Capacity of an arena array of n elements: arrays grow by doubling, and this rule lets
 * owners append without storing a capacity. */
size_t kli_cap(size_t n);
/* Make room for one more element in arr (n elements of size sz, allocated by the kli_cap rule).
 * @return the array to use from now on (arr itself or a larger copy), NULL when out of memory. */
void *kli_grow(kli_mem *m, const void *arr, size_t n, size_t sz);

/* An owning session whose arena starts with n bytes, in one allocation with the session: for
 * a caller that knows about what it will hold (the builder, import). NULL when out of memory.
 * Free with kl_session_free(). */
kl_session *kli_session_new_sized(size_t n);
/* Deep copies used by clone and add_action. */
int kli_copy_action(kli_mem *m, kl_action *dst, const kl_action *src);
int kli_copy_bytes(kli_mem *m, kl_bytes *dst, kl_bytes src);
/* True when a and b hold the same bytes. */
bool kli_bytes_equal(kl_bytes a, kl_bytes b);
/* The value of hex digit c (of any case), or -1 when it is not one. c is a byte, or a
 * character decoded from a JSON string. */
static inline int kli_hex_digit(uint32_t c)
{
    uint32_t l = c | 0x20;
    return c >= '0' && c <= '9' ? (int)(c - '0') : l >= 'a' && l <= 'f' ? (int)(l - 'a' + 10) : -1;
}
/* ASCII case-insensitive equality of p[0..n) and the NUL-terminated name (a header name, a
 * coding). */
static inline bool kli_ieq(const uint8_t *p, size_t n, const char *name)
{
    size_t i = 0;
    for (; i < n && name[i]; i++) {
        uint8_t a = p[i], b = (uint8_t)name[i];
        if ((a >= 'A' && a <= 'Z' ? a | 0x20 : a) != (b >= 'A' && b <= 'Z' ? b | 0x20 : b))
            return false;
    }
    return i == n && !name[i];
}

/* ---- error detail (libpcap's errbuf) ---- */
void kli_seterr(char *errbuf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- codec: kl_session <-> koala.Record bytes ---- */
/* Append one length-delimited Record holding s (or r) to out. */
int kli_encode_session(const kl_session *s, kl_buf *out);
int kli_encode_replayed(const kl_replayed *r, kl_buf *out);
/* Decode one Record (without its prefix) into structures allocated from m, whose bytes fields
 * point into data (which must outlive them). Exactly one of *s, *r is set, by the record's
 * kind. errbuf receives the reason on KL_ERR_CORRUPT. */
int kli_decode_record(const uint8_t *data, size_t len, kli_mem *m, const kl_session **s,
                      const kl_replayed **r, char *errbuf);
/* Read kind, session id and time from a Record without decoding the rest. idbuf receives the
 * id (truncated to idlen-1). */
int kli_scan_record(const uint8_t *data, size_t len, kl_kind *kind, int64_t *time, char *idbuf,
                    size_t idlen);
/* Session time from an id "<unix-ns>-<thread>", 0 when it has none. */
int64_t kli_time_from_id(const char *id, size_t len);

/* ---- varints ---- */
/* @return bytes used, 0 when incomplete (fewer than needed in len), -1 when malformed. */
int kli_varint_get(const uint8_t *p, size_t len, uint64_t *v);
/* @return bytes written (at most 10). */
int kli_varint_put(uint8_t *p, uint64_t v);

/* ---- HTTP/1.x rules (framing.c), shared by the framer and http.c's parser ---- */
#define KLI_HTTP_CHUNK_LINE_MAX 4096 /* a chunk-size line with its extensions */

/* What a header block says about the body after it. */
typedef struct kli_http_meta {
    int status;     /* responses */
    bool te;        /* a Transfer-Encoding header */
    bool chunked;   /* ... whose last coding is chunked */
    bool has_cl;
    uint64_t cl;
} kli_http_meta;

/* How a message's body is framed (kli_http_framing). */
enum {
    KLI_BODY_NONE = 0, /* the message ends with its header block */
    KLI_BODY_INTERIM,  /* a 1xx response but 101: the final response follows */
    KLI_BODY_LENGTH,   /* Content-Length bytes */
    KLI_BODY_CHUNKED,
    KLI_BODY_CLOSE,    /* a response running until the connection closes */
};

/* The length of the RFC 9110 token (a header name, a method) p[0..n) starts with. */
size_t kli_http_token(const uint8_t *p, size_t n);
/* Note one header's framing facts in m: name[0..nn), value v[0..vn) past its leading
 * whitespace. @return KL_OK, or KL_ERR_CORRUPT for a bad or conflicting Content-Length. */
int kli_http_meta_add(kli_http_meta *m, const uint8_t *name, size_t nn, const uint8_t *v, size_t vn);
/* The framing of the body after a complete header block (flags: KL_FRAME_RESPONSE, _HEAD).
 * @return a KLI_BODY_*, or KL_ERR_CORRUPT for a request whose Transfer-Encoding does not end
 *         with chunked. */
int kli_http_framing(unsigned flags, const kli_http_meta *m);
/* Read a chunk-size line p[0..n) (up to its LF, a CR before it included): hex digits, then
 * optional whitespace and ';' extensions. @return true and sets *size. */
bool kli_http_chunk_size(const uint8_t *p, size_t n, uint64_t *size);

/* ---- FastCGI (framing.c frames it, print.c and callview.c name its requests) ---- */
#define KLI_FCGI_HEADER 8 /* a record's header: version, type, id, content length, padding */
enum {
    FCGI_BEGIN_REQUEST = 1,
    FCGI_ABORT_REQUEST = 2,
    FCGI_END_REQUEST = 3,
    FCGI_PARAMS = 4,
    FCGI_STDIN = 5,
    FCGI_STDOUT = 6,
    FCGI_STDERR = 7,
    FCGI_DATA = 8,
    FCGI_GET_VALUES = 9,
    FCGI_GET_VALUES_RESULT = 10,
    FCGI_UNKNOWN_TYPE = 11,
};

/* ---- koala-diff's timestamps (jsondiff.c, textdiff.c) ---- */
/* Unix times in [KLI_TIME_MIN, KLI_TIME_MAX) (2000-01-01 to 2100-01-01) are taken for
 * timestamps; less than KLI_TIME_SLACK seconds apart they are the same moment (the original's
 * Midi let such values pass). We bet on a fixed range rather than the original's "since 30
 * days ago": a diff of old recordings must not change with the day it runs. */
#define KLI_TIME_MIN 946684800LL
#define KLI_TIME_MAX 4102444800LL
#define KLI_TIME_SLACK 120

/* ---- default fd I/O ---- */
ssize_t kli_fd_read(void *ctx, void *buf, size_t len);
ssize_t kli_fd_write(void *ctx, const void *buf, size_t len);
off_t kli_fd_seek(void *ctx, off_t off, int whence);

#endif
