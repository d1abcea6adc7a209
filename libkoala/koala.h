/* koala.h - the one public header of libkoala: sessions, session files, merge, filter, JSON. */
#ifndef KOALA_H
#define KOALA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(KL_BUILDING) && defined(__GNUC__)
#define KL_API __attribute__((visibility("default")))
#else
#define KL_API
#endif

/* ------------------------------------------------------------------ version */

/* What is on disk; a reader refuses files with a newer format version. */
#define KL_FORMAT_VERSION 1

/** The library version, "MAJOR.MINOR.PATCH". Independent of KL_FORMAT_VERSION. */
KL_API const char *kl_version(void);

/* ------------------------------------------------------------------- errors */

/* Functions return KL_OK, KL_END (only from *_next) or a negative kl_err.
 * Codes are appended, never renumbered. */
typedef enum kl_err {
    KL_OK = 0,
    KL_END = 1,
    KL_ERR_NOMEM = -1,       /* out of memory */
    KL_ERR_IO = -2,          /* read, write, open or seek failed (see errno in the detail) */
    KL_ERR_BADMAGIC = -3,    /* not a koala file */
    KL_ERR_VERSION = -4,     /* written by a newer format version */
    KL_ERR_TRUNCATED = -5,   /* the stream stops in the middle of a frame or record */
    KL_ERR_CORRUPT = -6,     /* bytes that cannot be decoded */
    KL_ERR_TOOBIG = -7,      /* a length exceeds a named limit */
    KL_ERR_INVALID = -8,     /* a bad argument */
    KL_ERR_UNSUPPORTED = -9, /* the operation needs what this input lacks (seeking a pipe) */
    KL_ERR_KIND = -10,       /* a recorded session where a replayed one was expected, or back */
    KL_ERR_SYNTAX = -11,     /* a filter expression or JSON text that does not parse */
    KL_ERR_NOTFOUND = -12,   /* no such session, file or field */
    KL_ERR_ZSTD = -13,       /* the compressor failed */
} kl_err;

/** A short static description of an error code, never NULL. */
KL_API const char *kl_strerror(int err);

/* Size for caller-provided error message buffers. */
#define KL_ERRBUF_SIZE 256

/* Limits applied to every length read from a file, before anything is allocated. */
#define KL_MAX_RECORD (64u << 20)  /* one serialized session */
#define KL_MAX_HEADER (64u << 10)  /* the FileHeader frame */
#define KL_MAX_INDEX (64u << 20)   /* the FileIndex frame */

/* ------------------------------------------------------------------- buffer */

/* A growable byte buffer that printers and exporters append to. Zero-initialise it;
 * data is NUL-terminated whenever len > 0. */
typedef struct kl_buf {
    char *data;
    size_t len;
    size_t cap;
} kl_buf;

/** Make room for extra more bytes (and a NUL) past len, growing by doubling, so that appends
 * cost one copy each, amortised. @return KL_OK or KL_ERR_NOMEM (the buffer is left as it was). */
KL_API int kl_buf_reserve(kl_buf *b, size_t extra);
/** Append len bytes. @return KL_OK or KL_ERR_NOMEM (the buffer is left as it was). */
KL_API int kl_buf_append(kl_buf *b, const void *data, size_t len);
/** Append formatted text. @return KL_OK or KL_ERR_NOMEM. */
KL_API int kl_buf_printf(kl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Release the memory and zero the buffer. Accepts NULL. */
KL_API void kl_buf_free(kl_buf *b);

/* ---------------------------------------------------------------- addresses */

#define KL_ZONE_MAX 16
#define KL_UNIX_PATH_MAX 109 /* sun_path (108) and a NUL */
#define KL_UNIX_NET_MAX 12

/* An IPv4/IPv6 address and port, a unix socket path, both, or neither. */
typedef struct kl_addr {
    int family;                          /* 0 (no IP), AF_INET or AF_INET6 */
    uint8_t ip[16];                      /* IPv4 in the first 4 bytes */
    uint16_t port;
    char zone[KL_ZONE_MAX];              /* IPv6 zone, "" when none */
    char unix_path[KL_UNIX_PATH_MAX];    /* "" when none; abstract sockets start with '@' */
    char unix_net[KL_UNIX_NET_MAX];      /* "unix", "unixgram", "unixpacket" or "" */
} kl_addr;

/* Longest text kl_addr_format() writes, with its NUL. */
#define KL_ADDR_STRLEN (KL_UNIX_PATH_MAX + 64)

/** Parse "1.2.3.4:80", "[::1]:80", "[fe80::1%3]:80", ":80" (any IPv4 address),
 * "unix:/path", "unixgram:/path", "unixpacket:/path", "/path", "@abstract" or "-" (empty).
 * @return KL_OK, or KL_ERR_INVALID (a is then empty). */
KL_API int kl_addr_parse(const char *text, kl_addr *a);
/** Write a in the forms kl_addr_parse() reads ("-" when empty) into buf.
 * @return buf, always NUL-terminated. */
KL_API char *kl_addr_format(const kl_addr *a, char *buf, size_t len);
/** Fill a from a socket address (AF_INET, AF_INET6, AF_UNIX). @return KL_OK or KL_ERR_INVALID. */
KL_API int kl_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, kl_addr *a);
/** Fill ss and *len from a, the reverse of kl_addr_from_sockaddr() (a leading '@' names an
 * abstract unix socket; a numeric zone is the scope id). @return KL_OK, or KL_ERR_INVALID for
 * an empty address or a non-numeric zone. */
KL_API int kl_addr_to_sockaddr(const kl_addr *a, struct sockaddr_storage *ss, socklen_t *len);
/** True when a holds no IP and no unix path. */
KL_API bool kl_addr_is_empty(const kl_addr *a);
/** True when a and b name the same address (IP, port, zone and unix path). */
KL_API bool kl_addr_equal(const kl_addr *a, const kl_addr *b);

/* ----------------------------------------------------------------- sessions */

typedef struct kl_bytes {
    const uint8_t *data;
    size_t len;
} kl_bytes;

typedef struct kl_kv {
    kl_bytes key;
    kl_bytes value;
} kl_kv;

typedef enum kl_action_type {
    KL_ACTION_NONE = 0,
    KL_ACTION_CALL_OUTBOUND,
    KL_ACTION_APPEND_FILE,
    KL_ACTION_SEND_UDP,
    KL_ACTION_READ_STORAGE,
    KL_ACTION_CALL_FUNCTION,
    KL_ACTION_RETURN_FUNCTION,
    KL_ACTION_RETURN_INBOUND, /* a marker: the bytes are in kl_session.return_inbound */
} kl_action_type;
#define KL_ACTION_TYPE_COUNT 8

/* One thing the service did while serving a request. Which fields are used depends on
 * type; the others are zero. Strings are NUL-terminated, NULL when absent. */
typedef struct kl_action {
    kl_action_type type;
    int64_t index;
    int64_t occurred_at;        /* unix ns */
    /* call_outbound */
    int64_t socket_fd;
    kl_addr peer;               /* also send_udp */
    kl_addr local;
    kl_bytes request;
    kl_bytes response;
    int64_t response_time;      /* unix ns of the first response byte */
    kl_bytes cspan_id;
    /* append_file */
    const char *file_name;
    kl_bytes content;           /* append_file, send_udp, read_storage */
    /* call_function */
    const char *func_name;
    const char *call_into_file;
    int64_t call_into_line;
    const char *call_from_file;
    int64_t call_from_line;
    const char *args_json;
    /* return_function */
    const char *call_function_id;
    const char *return_value_json;
} kl_action;

typedef struct kl_call_from_inbound {
    bool present;
    int64_t index;
    int64_t occurred_at;
    kl_addr peer;
    kl_bytes request;
} kl_call_from_inbound;

typedef struct kl_return_inbound {
    bool present;
    int64_t index;
    int64_t occurred_at;
    kl_bytes response;
} kl_return_inbound;

struct kli_mem;

/* A recorded session. Build one on the stack pointing at your own bytes and hand it to
 * kl_writer_write(), or make an owning one with kl_session_new() and the kl_session_dup_*
 * and kl_session_add_action() helpers. Sessions from a reader are borrowed. */
typedef struct kl_session {
    const char *id;             /* "<unix-ns>-<thread-id>" */
    int64_t thread_id;
    const char *context;
    kl_bytes trace_id;
    kl_bytes span_id;
    const kl_kv *trace_header;
    size_t n_trace_header;
    const char *next_session_id;
    const char *host;           /* where it was recorded */
    int64_t pid;
    const char *program;
    const kl_kv *labels;
    size_t n_labels;
    kl_call_from_inbound call_from_inbound;
    kl_return_inbound return_inbound;
    const kl_action *actions;
    size_t n_actions;
    bool truncated;             /* the recorder cut it at a limit */
    const kl_kv *redirect_dirs; /* replay: path prefix -> prefix */
    size_t n_redirect_dirs;
    const kl_kv *mock_files;    /* replay: path -> content */
    size_t n_mock_files;
    struct kli_mem *mem;        /* owner of the memory; NULL for caller-built sessions */
} kl_session;

/** A new empty owning session. @return NULL when out of memory. Free with kl_session_free(). */
KL_API kl_session *kl_session_new(void);
/** Free an owning session and everything it owns. Accepts NULL. */
KL_API void kl_session_free(kl_session *s);
/** Deep copy of any session (borrowed or owning) into a new owning one.
 * @return KL_OK and sets *out, or KL_ERR_NOMEM. */
KL_API int kl_session_clone(const kl_session *s, kl_session **out);
/** Copy len bytes into s's memory and point *dst at them. s must be owning.
 * @return KL_OK, KL_ERR_NOMEM, or KL_ERR_INVALID for a borrowed session. */
KL_API int kl_session_dup_bytes(kl_session *s, kl_bytes *dst, const void *data, size_t len);
/** Copy a NUL-terminated string (or NULL) into s's memory and point *dst at it. */
KL_API int kl_session_dup_str(kl_session *s, const char **dst, const char *str);
/** Append a deep copy of a to s's actions. s must be owning. */
KL_API int kl_session_add_action(kl_session *s, const kl_action *a);
/** Append a deep copy of a key/value pair to one of s's lists (&s->labels, &s->n_labels). */
KL_API int kl_session_add_kv(kl_session *s, const kl_kv **list, size_t *n, kl_bytes key,
                             kl_bytes value);
/** The session's time in unix ns: its inbound request time, else the time in its id, else 0. */
KL_API int64_t kl_session_time(const kl_session *s);
/** The action whose kl_action.index is index, found by bisection (indices increase along a
 * session, as the recorder and the reader give them), or NULL. Borrowed from s. */
KL_API const kl_action *kl_session_action_at(const kl_session *s, int64_t index);
/** Order sessions by time, then id. @return <0, 0 or >0 as strcmp. */
KL_API int kl_session_compare(const kl_session *a, const kl_session *b);
/** The original koala's name of an action type ("CallOutbound", "AppendFile", ...). */
KL_API const char *kl_action_type_name(kl_action_type t);

/* ---------------------------------------------------------- replayed sessions */

/* One thing the service did during replay; for outbound calls, how it was answered. */
typedef struct kl_replayed_action {
    kl_action action;           /* what the service sent: request, peer, content... */
    int64_t matched_index;      /* recorded action answering it, -1 for none */
    double matched_score;
    int64_t runner_up_index;    /* -1 for none */
    double runner_up_score;
    kl_bytes matched_request;
    kl_bytes matched_response;
} kl_replayed_action;

typedef struct kl_replayed {
    const char *session_id;
    int64_t original_request_time;
    kl_bytes original_request;
    kl_bytes original_response;
    kl_bytes response;          /* what the service answered during replay */
    int64_t replayed_at;
    int64_t response_time;
    const kl_replayed_action *actions;
    size_t n_actions;
    const int64_t *unused_calls; /* recorded action indices never matched */
    size_t n_unused_calls;
    const char *const *errors;
    size_t n_errors;
    struct kli_mem *mem;
} kl_replayed;

/** A new empty owning replayed session, or NULL. Free with kl_replayed_free(). */
KL_API kl_replayed *kl_replayed_new(void);
/** Free an owning replayed session. Accepts NULL. */
KL_API void kl_replayed_free(kl_replayed *r);
/** Deep copy into a new owning replayed session. */
KL_API int kl_replayed_clone(const kl_replayed *r, kl_replayed **out);
/** Copy bytes into r's memory and point *dst at them. */
KL_API int kl_replayed_dup_bytes(kl_replayed *r, kl_bytes *dst, const void *data, size_t len);
/** Copy a string into r's memory and point *dst at it. */
KL_API int kl_replayed_dup_str(kl_replayed *r, const char **dst, const char *str);
/** Append a deep copy of a to r's actions. */
KL_API int kl_replayed_add_action(kl_replayed *r, const kl_replayed_action *a);
/** Append an index to r's unused calls. */
KL_API int kl_replayed_add_unused(kl_replayed *r, int64_t index);
/** Append a copy of an error message to r's errors. */
KL_API int kl_replayed_add_error(kl_replayed *r, const char *msg);
/** The replayed session's time in unix ns: its original request time, else the time in its
 * session id, else 0 (kl_session_time() for replayed sessions). */
KL_API int64_t kl_replayed_time(const kl_replayed *r);

/* ----------------------------------------------------------------------- I/O */

/* Injected I/O, so the hook can hand libkoala its real libc functions. read and write
 * behave as read(2)/write(2) (return -1 and set errno on failure); seek as lseek(2), or
 * NULL when the stream cannot seek. The caller owns ctx and closes it. */
typedef struct kl_io {
    void *ctx;
    ssize_t (*read)(void *ctx, void *buf, size_t len);
    ssize_t (*write)(void *ctx, const void *buf, size_t len);
    off_t (*seek)(void *ctx, off_t off, int whence);
} kl_io;

/* What a file holds. */
typedef enum kl_kind {
    KL_KIND_UNKNOWN = 0,
    KL_KIND_RECORDED = 1,
    KL_KIND_REPLAYED = 2,
} kl_kind;

/* A serialized record as it sits in a file, for tools that move sessions without
 * decoding them (merge). Borrowed until the next call on the handle. */
typedef struct kl_raw {
    kl_kind kind;
    const uint8_t *data;        /* one koala.Record message, without its length prefix */
    size_t len;
    int64_t time;               /* kl_session_time() of the session inside */
    const char *id;             /* its session id */
} kl_raw;

/* ------------------------------------------------------------------- writer */

typedef struct kl_writer kl_writer;

typedef struct kl_writer_opts {
    kl_kind kind;               /* default KL_KIND_RECORDED */
    int level;                  /* zstd level, default 3 */
    size_t frame_size;          /* content bytes per frame, default 1 MiB */
    const char *program;        /* recorded in the header, default "libkoala" */
    const char *host;           /* default: gethostname() */
    int64_t created_at;         /* unix ns; default: now */
    bool no_index;              /* leave out the closing index (as a crash would) */
    bool async;                 /* compress and write frames on threads of their own (one per
                                   CPU, 2 to 4, at nice 10), so the caller fills the next frames
                                   meanwhile (io->write is then called from them, one at a
                                   time); for tools, not for the hook */
} kl_writer_opts;

/** Fill o with the defaults. */
KL_API void kl_writer_opts_init(kl_writer_opts *o);
/** Create (truncate) path, or stdout for "-", and write the header.
 * @return KL_OK and sets *w; KL_ERR_IO with *w NULL and errno set when path cannot be
 *         created; another kl_err with *w set (kl_writer_error() says why, close it). */
KL_API int kl_writer_open(kl_writer **w, const char *path, const kl_writer_opts *o);
/** Write to an open fd, which stays the caller's to close. */
KL_API int kl_writer_open_fd(kl_writer **w, int fd, const kl_writer_opts *o);
/** Write through injected I/O (io is copied; io->ctx stays the caller's). */
KL_API int kl_writer_open_io(kl_writer **w, const kl_io *io, const kl_writer_opts *o);
/** Append a session (recorded files). s is borrowed for the call. */
KL_API int kl_writer_write(kl_writer *w, const kl_session *s);
/** Append a replayed session (replayed files). */
KL_API int kl_writer_write_replayed(kl_writer *w, const kl_replayed *r);
/** Append a record exactly as a reader gave it. Its kind must match the file's. */
KL_API int kl_writer_write_raw(kl_writer *w, const kl_raw *raw);
/** Close the open frame and write it out, so a crash after this loses nothing. */
KL_API int kl_writer_flush(kl_writer *w);
/** Flush, write the index, release everything. Accepts NULL.
 * @return KL_OK or the first error met since open. */
KL_API int kl_writer_close(kl_writer *w);
/** Detail of the last error ("" when none). Borrowed. */
KL_API const char *kl_writer_error(const kl_writer *w);
/** Sessions written, content bytes before and file bytes after compression, so far. */
KL_API void kl_writer_totals(const kl_writer *w, uint64_t *sessions, uint64_t *content_bytes,
                             uint64_t *file_bytes);

/* ------------------------------------------------------------------- reader */

typedef struct kl_reader kl_reader;

/* What a reader learnt of its file. */
typedef struct kl_file_info {
    kl_kind kind;
    bool compressed;            /* false for a plain length-delimited stream */
    bool has_header;
    uint32_t format_version;
    const char *program;        /* from the header, "" when unknown; borrowed */
    const char *host;
    int64_t created_at;
    int zstd_level;
    bool has_index;             /* a valid index was found at the end */
    uint64_t sessions;          /* from the index, when has_index */
    uint64_t frames;
    int64_t first_time;         /* from the index, when has_index and sessions > 0 */
    int64_t last_time;
    uint64_t content_bytes;     /* uncompressed content of all data frames (index) */
    uint64_t file_bytes;        /* file size, 0 for a pipe */
} kl_file_info;

/** Open path, or stdin for "-". Reads the header and, when the file can seek, the index.
 * @return KL_OK and sets *r; on failure a kl_err, and *r is NULL. errbuf (KL_ERRBUF_SIZE,
 *         may be NULL) receives the detail. */
KL_API int kl_reader_open(kl_reader **r, const char *path, char *errbuf);
/** Read an open fd, which stays the caller's. name is used in messages. */
KL_API int kl_reader_open_fd(kl_reader **r, int fd, const char *name, char *errbuf);
/** Read a file held in memory (data is borrowed and must outlive the reader). */
KL_API int kl_reader_open_mem(kl_reader **r, const void *data, size_t len, const char *name,
                              char *errbuf);
/** Read through injected I/O (copied; ctx stays the caller's). */
KL_API int kl_reader_open_io(kl_reader **r, const kl_io *io, const char *name, char *errbuf);
/** Read the next session.
 * @return KL_OK and sets *s; KL_END at a clean end; KL_ERR_TRUNCATED when the stream stops
 *         mid-record (every complete session was delivered first); KL_ERR_KIND in a
 *         replayed file; another kl_err on failure.
 * Ownership: *s is borrowed until the next kl_reader_next*() or kl_reader_close(). */
KL_API int kl_reader_next(kl_reader *r, const kl_session **s);
/** Read the next replayed session; as kl_reader_next(). */
KL_API int kl_reader_next_replayed(kl_reader *r, const kl_replayed **rs);
/** Read the next record without decoding more than its time and id; as kl_reader_next(). */
KL_API int kl_reader_next_raw(kl_reader *r, kl_raw *raw);
/** The header and index facts. Borrowed until kl_reader_close(). */
KL_API const kl_file_info *kl_reader_info(const kl_reader *r);
/** Number of sessions: from the index when valid, otherwise by a scan (the position is kept).
 * @return KL_OK, KL_ERR_UNSUPPORTED on a pipe without index, or the scan's error. */
KL_API int kl_reader_count(kl_reader *r, uint64_t *n);
/** Position before session n (0-based), using the index to skip whole frames.
 * @return KL_OK, KL_ERR_NOTFOUND past the end, KL_ERR_UNSUPPORTED on a pipe. */
KL_API int kl_reader_seek(kl_reader *r, uint64_t n);
/** Skip every frame whose sessions are all older than t (unix ns), using the index.
 * Sessions inside the first kept frame may still be older; filter them. */
KL_API int kl_reader_seek_time(kl_reader *r, int64_t t);
/** After an error inside the data (a damaged frame), go on at the next frame the index names,
 * so that the sessions after the damage are read too; *skipped is set to the sessions left
 * out (the damaged frame's and any before the next frame). @return KL_OK; KL_ERR_NOTFOUND
 * when there is nothing to go on at: no error to skip, no index (a pipe, a crashed file, a
 * damaged index), or no frame after the damage; KL_ERR_IO when the file cannot seek. */
KL_API int kl_reader_skip_damage(kl_reader *r, uint64_t *skipped);
/** Detail of the last error, naming the file and byte offset. Borrowed. */
KL_API const char *kl_reader_error(const kl_reader *r);
/** Byte offset in the file of the frame being read. */
KL_API uint64_t kl_reader_offset(const kl_reader *r);
/** Sessions delivered so far. */
KL_API uint64_t kl_reader_delivered(const kl_reader *r);
/** Close and free. Accepts NULL. */
KL_API void kl_reader_close(kl_reader *r);

/* -------------------------------------------------------------------- merge */

typedef struct kl_merge kl_merge;

#define KL_MERGE_APPEND 1u  /* concatenate in argument order instead of by time */
#define KL_MERGE_DEDUPE 2u  /* drop sessions whose id was already delivered */

/** Merge n readers (borrowed; they must outlive the merge) by (time, session id).
 * Memory stays bounded: one pending record per input. */
KL_API int kl_merge_open(kl_merge **m, kl_reader *const *readers, size_t n, unsigned flags);
/** The next record in merged order.
 * @return KL_OK and sets *raw (borrowed until the next call) and *src (the input index);
 *         KL_END when every input is done; a negative kl_err when input *src failed: that
 *         input is dropped and the merge can go on. */
KL_API int kl_merge_next(kl_merge *m, kl_raw *raw, size_t *src);
/** After input in failed (kl_merge_next), take it back from the next frame after its damage
 * (kl_reader_skip_damage(), which sets *skipped). @return as kl_reader_skip_damage(). */
KL_API int kl_merge_skip_damage(kl_merge *m, size_t in, uint64_t *skipped);
/** Sessions dropped as duplicates so far. */
KL_API uint64_t kl_merge_duplicates(const kl_merge *m);
/** Free the merge (not the readers). Accepts NULL. */
KL_API void kl_merge_close(kl_merge *m);

/* --------------------------------------------------------------------- wire */

/* One session as one protobuf message of proto/koala.proto, koala.Session or
 * koala.ReplayedSession, without a file's Record around it or a length before it: the body of
 * the replayer's HTTP protocol (koala-replay sends a Session, the replayer answers with a
 * ReplayedSession). The bytes are those of the message inside a file's Record.
 * A protobuf message says neither which message it is nor where it ends, so the transport
 * must: bytes cut at a field boundary decode as the fields before the cut, and the wrong
 * message may decode without error. A whole Record given to either decoder is KL_ERR_CORRUPT
 * when it holds a ReplayedSession (its field 2 has the wrong wire type); holding a Session, it
 * decodes as a message whose id alone is set, to the inner session's bytes. */

/** Append s to out as one koala.Session message.
 * @return KL_OK; KL_ERR_TOOBIG past KL_MAX_RECORD bytes; KL_ERR_NOMEM. On failure out is
 *         as it was. */
KL_API int kl_session_encode(const kl_session *s, kl_buf *out);
/** Append r to out as one koala.ReplayedSession message; as kl_session_encode(). */
KL_API int kl_replayed_encode(const kl_replayed *r, kl_buf *out);
/** Decode one koala.Session message, all len bytes of data, into a new owning session that
 * copies what it keeps (data may be freed after). No bytes is the empty session, which
 * encodes as none. Fields this version does not know are skipped.
 * @return KL_OK and sets *out (free it with kl_session_free()); KL_ERR_CORRUPT for bytes that
 *         do not decode, with the reason in errbuf (KL_ERRBUF_SIZE bytes, may be NULL);
 *         KL_ERR_TOOBIG past KL_MAX_RECORD bytes; KL_ERR_NOMEM. *out is NULL on failure. */
KL_API int kl_session_decode(const uint8_t *data, size_t len, kl_session **out, char *errbuf);
/** Decode one koala.ReplayedSession message into a new owning replayed session (free it with
 * kl_replayed_free()); as kl_session_decode(). */
KL_API int kl_replayed_decode(const uint8_t *data, size_t len, kl_replayed **out, char *errbuf);

/* -------------------------------------------------------------------- parse */

/** Parse an RFC 3339 time of len bytes ("2023-11-14T22:13:20Z", "...20.5Z", "...20+08:00") or
 * a date alone (midnight UTC) into unix ns. @return KL_OK, or KL_ERR_INVALID. */
KL_API int kl_parse_time(const char *text, size_t len, int64_t *ns);
/** Parse a time given to a tool: RFC 3339, or unix seconds with a fraction ("1548160113.5"). */
KL_API int kl_parse_unix_time(const char *text, int64_t *ns);
/** Parse a positive duration: numbers with units, repeated ("100ms", "60s", "5m", "1h30m",
 * "1.5s"; ns, us, ms, s, m, h); a bare number is seconds. @return KL_OK, or KL_ERR_INVALID. */
KL_API int kl_parse_duration(const char *text, int64_t *ns);

/* ------------------------------------------------------------------- filter */

typedef struct kl_filter kl_filter;

/** Compile a display filter, e.g. 'outbound.port == 6379 and inbound.request ~ "GET /api"'.
 * The language is described in README.md ("Filters").
 * @return KL_OK and sets *f; KL_ERR_SYNTAX with the column in errbuf; KL_ERR_NOMEM. */
KL_API int kl_filter_compile(kl_filter **f, const char *expr, char *errbuf);
/** @return true when s satisfies f. Allocates nothing. A filter keeps per-filter regex
 * scratch: do not match one filter from two threads at once. */
KL_API bool kl_filter_match(const kl_filter *f, const kl_session *s);
/** Free. Accepts NULL. */
KL_API void kl_filter_free(kl_filter *f);

/* -------------------------------------------------------------------- print */

/** Append one summary line (no newline) for s: time, id, inbound peer, sizes, actions. */
KL_API int kl_print_summary(const kl_session *s, kl_buf *out);
/** Append a full readable view of s: every field, payloads as text when printable,
 * otherwise as a hexdump. */
KL_API int kl_print_session(const kl_session *s, kl_buf *out);
/** Append a payload, each line prefixed with indent: text when printable, else hexdump. */
KL_API int kl_print_payload(const uint8_t *data, size_t len, const char *indent, kl_buf *out);
/** Append a unix-ns time as "2019-01-22T12:28:33.500144162Z". */
KL_API int kl_print_time(int64_t ns, kl_buf *out);
/** Append what a reader learnt from a file's header and index (zstd -l's role): kind,
 * writer, sessions, frames, time range, sizes. name is the file's name. Text lines, or one
 * JSON object (no newline) when json is true. Fields the file cannot tell are "-" or null. */
KL_API int kl_print_file_info(const kl_file_info *info, const char *name, bool json, kl_buf *out);
/** Append one summary line (no newline) for a replayed session. */
KL_API int kl_print_replayed_summary(const kl_replayed *r, kl_buf *out);
/** Append a full readable view of a replayed session. */
KL_API int kl_print_replayed(const kl_replayed *r, kl_buf *out);

/* --------------------------------------------------------------------- json */

#define KL_JSON_PRETTY 1u  /* indented as the original koala wrote its files */
#define KL_JSON_EXTRA 2u   /* add our fields (Host, Pid, Program, Labels, Truncated, ...) */

/** Append s as one JSON object in the original koala's layout and byte escaping. */
KL_API int kl_json_session(const kl_session *s, unsigned flags, kl_buf *out);
/** Append bytes as a JSON string in the original koala's escaping (quotes included). */
KL_API int kl_json_bytes(const uint8_t *data, size_t len, kl_buf *out);
/** Append text as a standard JSON string (quotes included), as Go writes a string: control
 *  bytes as \u00XX, bytes that are not UTF-8 as \ufffd, so that any parser reads it. */
KL_API int kl_json_string(const uint8_t *data, size_t len, kl_buf *out);
/** Append a replayed session as JSON in the original ReplayedSession layout. */
KL_API int kl_json_replayed(const kl_replayed *r, unsigned flags, kl_buf *out);

/* ------------------------------------------------------------------- import */

/* The original koala's recorder (KOALA_RECORD_TO_DIR) wrote one file per session, named by
 * its SessionId: one pretty-printed JSON object in the layout kl_json_session() writes, byte
 * fields (Request, Response, Content, CSpanId, TraceId, SpanId, TraceHeader's keys and values)
 * in its escaping: JSON-unescape the string, then every text \xHH is the byte 0xHH. */

#define KL_MAX_KOALA_JSON (384u << 20) /* one session file: a KL_MAX_RECORD session escaped */

/** Read one session file of the original koala: the inverse of kl_json_session() with any
 * flags, so that every field it writes lands in the session (KL_JSON_EXTRA's too) and
 * exporting the result gives back the same bytes. Members may come in any order with any
 * white space; null and a missing member leave a field empty or zero; members of unknown names
 * are skipped, as Go's decoder skips them. The ReturnInbound action's Response must be
 * ReturnInbound's (the original wrote the one object twice).
 * @return KL_OK and a new owning session in *out (free it with kl_session_free());
 *         KL_ERR_CORRUPT for text that is not JSON, a member of the wrong type, a bad \xHH
 *         escape, an unknown action type, an address or number out of range, with the JSON path
 *         and the place in errbuf (KL_ERRBUF_SIZE bytes, may be NULL):
 *         "$.Actions[3].Request: bad escape \xZ at line 40, column 17";
 *         KL_ERR_TOOBIG past KL_MAX_KOALA_JSON bytes, or nested deeper than KL_JSON_MAX_DEPTH;
 *         KL_ERR_INVALID for a NULL out, or NULL data with len > 0; KL_ERR_NOMEM.
 *         *out is NULL on failure. data is borrowed for the call. */
KL_API int kl_import_koala_json(const uint8_t *data, size_t len, kl_session **out, char *errbuf);
/** Take a session sent with the original koala's replay protocol (an HTTP POST to /json): a
 * ReplayingSession in standard JSON, byte fields in base64 as Go writes []byte: SessionId,
 * CallFromInbound{OccurredAt, ActionIndex, Peer{IP, Port, Zone}, Request}, ReturnInbound
 * {OccurredAt, ActionIndex, Response}, CallOutbounds[{ActionIndex, OccurredAt, Peer, Local,
 * SocketFD, Request, Response, ResponseTime, CSpanId}], RedirectDirs{prefix: prefix},
 * MockFiles{path: base64 content}. Read as kl_import_koala_json() reads a session file:
 * absent and null members are empty, others are ignored, an ActionType where written must
 * name its action.
 * @return KL_OK and a new owning session in *out (free with kl_session_free()); KL_ERR_CORRUPT
 *         with the JSON path and the place in errbuf ("$.CallOutbounds[2].Request: not
 *         base64: byte 7 is '!' at line 1, column 210"); KL_ERR_TOOBIG, KL_ERR_INVALID,
 *         KL_ERR_NOMEM as kl_import_koala_json(). */
KL_API int kl_replaying_from_json(const uint8_t *data, size_t len, kl_session **out, char *errbuf);
/** Read one action of type `type` from data[0..len), a JSON object whose members are named as
 * in a session file's actions (kl_import_koala_json()): the helper messages
 * to-koala!call-function and to-koala!return-function carry one. ActionType may be left out;
 * where written it must name `type`. Absent members leave *out as it was, null ones are empty,
 * unknown ones are ignored. The action's text and bytes go into owner's memory, freed with it.
 * @return KL_OK; KL_ERR_CORRUPT with the JSON path and the place in errbuf
 *         ("$.CallIntoLine: expected an integer, found a string at line 1, column 37");
 *         KL_ERR_TOOBIG as kl_import_koala_json(); KL_ERR_INVALID for a NULL owner or out, NULL
 *         data with len > 0, or KL_ACTION_RETURN_INBOUND (its response is a session's);
 *         KL_ERR_NOMEM. data is borrowed for the call. */
KL_API int kl_import_action_json(const uint8_t *data, size_t len, kl_action_type type, kl_session *owner,
                                 kl_action *out, char *errbuf);
/** Append s to out as one record of a plain session stream: its length as a varint, then the
 * record (what `zstd -dc` makes of a koala file). A run of them is a file without header or
 * index, which kl_reader_open_mem() reads: sessions imported one by one can then go wherever
 * a reader's sessions go (filters, merges, writers).
 * @return KL_OK; KL_ERR_TOOBIG past KL_MAX_RECORD bytes; KL_ERR_INVALID; KL_ERR_NOMEM. On
 *         failure out is as it was. */
KL_API int kl_session_encode_record(const kl_session *s, kl_buf *out);

/* ---------------------------------------------------------------- text diff */

/** Append a line diff of text a and b to out, in unified format: "@@ -A,N +B,M @@" hunks of
 * " " context, "-" lines of a and "+" lines of b, with context lines around each change (CRLF
 * and LF line ends compare alike). Nothing is appended when the lines are the same.
 * @return KL_OK; KL_ERR_TOOBIG when more than max_changes lines differ (out is unchanged: show
 *         a summary instead); KL_ERR_NOMEM; KL_ERR_INVALID for NULL data with a length. */
KL_API int kl_text_diff(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, unsigned context,
                        size_t max_changes, kl_buf *out);
/** True when a and b are the same text but for timestamps less than 120 s apart (between the
 * years 2000 and 2100): "2024-03-01T10:00:00Z" (ISO 8601 with a 'T' or a space, a fraction,
 * Z or an offset), HTTP dates ("Fri, 01 Mar 2024 10:00:00 GMT"), Unix seconds (10 digits) or
 * milliseconds (13), each a token of its own. koala-diff's default, as the original's Midi,
 * unless --strict. */
KL_API bool kl_text_same_but_times(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
/** Append a hex diff of a and b to out: for each row of 16 bytes that differs, "-" with a's
 * bytes and "+" with b's (offset, hex, printable text); at most max_rows rows, then a line
 * counting the others. @return KL_OK, KL_ERR_NOMEM or KL_ERR_INVALID. */
KL_API int kl_hex_diff(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, size_t max_rows,
                       kl_buf *out);

/** Append one line naming an outbound request by its protocol: "redis: INCR visits:user:7"
 * (pipelined commands joined by " | "), "mysql: SELECT ..." (other commands by name),
 * "http: GET /profile/7 HTTP/1.1", "fastcgi: GET /index.php?id=7" (its REQUEST_METHOD and
 * REQUEST_URI params; "fastcgi: request of N bytes" without them), else its first bytes as
 * text; long arguments end in "...", other bytes show as \xHH. An empty request is a call that
 * waited for the server's greeting. @return KL_OK, KL_ERR_NOMEM or KL_ERR_INVALID. */
KL_API int kl_call_describe(const uint8_t *req, size_t len, kl_buf *out);

/* -------------------------------------------------------------------- stats */

typedef struct kl_stats kl_stats;

/** A new statistics accumulator (capinfos's figures), or NULL. */
KL_API kl_stats *kl_stats_new(void);
/** Count one session. */
KL_API int kl_stats_add(kl_stats *st, const kl_session *s);
/** Count one replayed session. */
KL_API int kl_stats_add_replayed(kl_stats *st, const kl_replayed *r);
/** Add a finished reader's file facts (frames, sizes) to the totals. */
KL_API void kl_stats_add_file(kl_stats *st, const kl_file_info *info);
/** Append the report: text, or one JSON object when json is true. */
KL_API int kl_stats_report(const kl_stats *st, bool json, kl_buf *out);
/** Free. Accepts NULL. */
KL_API void kl_stats_free(kl_stats *st);

/* --------------------------------------------------------------------- http */

/* One HTTP/1.x message taken apart, for comparing messages by their meaning: koala-diff's
 * view of inbound responses and outbound HTTP requests. Body framing follows
 * kl_frame_message()'s rules (the same code decides); the data is taken to be everything the
 * peer sent, so a body without length runs to its end. */

#define KL_HTTP_HEAD 1u           /* the message answers a HEAD request: no body */
#define KL_HTTP_KEEP_ENCODING 2u  /* leave content (and transfer) codings alone; chunked
                                     framing is still removed */

/* kl_http_msg.decoded: what was undone to get body. */
#define KL_HTTP_DECHUNKED 1u
#define KL_HTTP_GUNZIPPED 2u
#define KL_HTTP_INFLATED 4u

/* Most bytes a decoded body may grow to; past it the body stays encoded (a zip bomb). */
#define KL_HTTP_MAX_DECODED (64u << 20)

typedef struct kl_http_header {
    kl_bytes name;              /* as sent */
    kl_bytes value;             /* without surrounding spaces and tabs; a value continued on
                                   folded lines (obsolete) spans their line breaks */
} kl_http_header;

/* Pointers point into the parsed bytes, except a body that had to be decoded or joined from
 * several chunks, and the headers array, which the message owns (mem). */
typedef struct kl_http_msg {
    bool response;              /* told by the start line: "HTTP/1.x ..." */
    int status;                 /* responses: 100 to 999; 0 for requests */
    kl_bytes reason;            /* responses; may be empty */
    kl_bytes method;            /* requests */
    kl_bytes target;            /* requests: "/path?query" as sent */
    kl_bytes version;           /* "HTTP/1.1" */
    kl_bytes start_line;        /* without its line end */
    kl_bytes interim;           /* interim responses (100 Continue, 103 Early Hints) before
                                   this final one, as received; empty when none */
    const kl_http_header *headers; /* in order, duplicates kept; trailers last */
    size_t n_headers;
    size_t n_trailers;          /* the last n_trailers headers came after a chunked body */
    kl_bytes raw_body;          /* everything after the header block, as received (chunk
                                   lines and trailers included) */
    kl_bytes body;              /* the body with what decoded says undone */
    unsigned decoded;           /* KL_HTTP_DECHUNKED | KL_HTTP_GUNZIPPED | KL_HTTP_INFLATED */
    int body_err;               /* KL_OK, or why a coding was left in body (as received after
                                   dechunking, decoded then holds at most KL_HTTP_DECHUNKED):
                                   KL_ERR_CORRUPT (a damaged gzip or deflate stream),
                                   KL_ERR_TOOBIG (past KL_HTTP_MAX_DECODED), KL_ERR_UNSUPPORTED
                                   (a coding other than gzip, deflate, identity) */
    bool truncated;             /* the data stops inside the message: headers or body cut */
    size_t msg_len;             /* bytes of data the message takes, interim responses
                                   included; bytes past it (a pipelined message) are not read */
    struct kli_mem *mem;        /* owner of what the message owns; NULL when nothing */
} kl_http_msg;

/** Parse the HTTP/1.x message at the start of data[0..len), a request or a response.
 * Empty lines before a request are skipped. Interim 1xx responses but 101 are skipped to the
 * final response. The body is framed by Transfer-Encoding: chunked (its trailers become
 * headers; trailer lines that are not "name: value" are ignored), else Content-Length, else
 * it is none (requests) or the rest of data (responses); 1xx, 204, 304 and KL_HTTP_HEAD
 * responses have none. Unless KL_HTTP_KEEP_ENCODING, gzip, x-gzip and deflate (zlib or raw)
 * content codings, and transfer codings other than chunked, are undone, last applied first;
 * a truncated message's compressed body is decoded as far as it goes.
 * @param flags  KL_HTTP_HEAD, KL_HTTP_KEEP_ENCODING.
 * @param errbuf KL_ERRBUF_SIZE bytes or NULL: on failure why ("byte 17: expected ':' after a
 *               header name"); on KL_OK why body_err is set, "" when it is not.
 * @return KL_OK and fills *out (a body or header block cut short sets truncated);
 *         KL_ERR_TRUNCATED when data ends before the final message's whole start line
 *         (inside an interim response too);
 *         KL_ERR_CORRUPT when the bytes are not HTTP/1.x; KL_ERR_TOOBIG for a header block
 *         or trailer section past KL_FRAME_MAX_HEADER; KL_ERR_INVALID for NULL out, or NULL
 *         data with len > 0; KL_ERR_NOMEM. On failure *out is zeroed.
 * Ownership: *out borrows data, which must outlive it; free it with kl_http_msg_free(). */
KL_API int kl_http_parse(const uint8_t *data, size_t len, unsigned flags, kl_http_msg *out,
                         char *errbuf);
/** The first header named name (any case), or NULL. */
KL_API const kl_http_header *kl_http_header_get(const kl_http_msg *m, const char *name);
/** The next header named name (any case) after h, one of m's headers (NULL: from the start),
 * to walk duplicates: for (h = NULL; (h = kl_http_header_next(m, h, "Set-Cookie"));).
 * @return the header or NULL. */
KL_API const kl_http_header *kl_http_header_next(const kl_http_msg *m, const kl_http_header *h,
                                                 const char *name);
/** Release what m owns and zero it; the struct itself is the caller's. Accepts NULL. */
KL_API void kl_http_msg_free(kl_http_msg *m);

/* ------------------------------------------------------------------ framing */

/* Where one message of a protocol ends, given the bytes received so far: what the recorder
 * needs to end a session at its response, and the replayer to read requests and responses. */
typedef enum kl_protocol {
    KL_PROTO_UNKNOWN = 0,
    KL_PROTO_HTTP,       /* HTTP/1.0 and HTTP/1.1 */
    KL_PROTO_FASTCGI,
    KL_PROTO_RESP,       /* Redis RESP2 and RESP3, inline commands */
    KL_PROTO_MYSQL,      /* one logical MySQL packet (see kl_frame_message) */
} kl_protocol;

#define KL_FRAME_RESPONSE 1u   /* the bytes come from the server */
#define KL_FRAME_HEAD 2u       /* HTTP: a response to a HEAD request, which has no body */
#define KL_FRAME_EOF 4u        /* the sender closed the connection after these bytes */

#define KL_FRAME_MAX_HEADER (64u << 10) /* HTTP header block, trailers, RESP inline or line */
#define KL_FRAME_DETECT_BYTES 64        /* kl_frame_detect() decides with this many bytes */

/* The progress of framing one message, so that a caller who appends bytes to one buffer
 * resumes where the last call stopped instead of scanning again from the start. Zero it
 * before the first call of each message. The fields are private. */
typedef struct kl_frame_state {
    size_t pos;
    size_t scan;
    uint64_t left;
    uint32_t id;
    uint8_t phase;
    uint8_t flags;
} kl_frame_state;

/** Guess the protocol from a message's first bytes: an HTTP method or "HTTP/1.", a FastCGI
 * record header, a well-formed first RESP line, a MySQL server greeting or COM_QUERY packet.
 * @return the protocol, or KL_PROTO_UNKNOWN when none fits; with fewer than
 *         KL_FRAME_DETECT_BYTES bytes, UNKNOWN may also mean "too few to tell yet". */
KL_API kl_protocol kl_frame_detect(const uint8_t *data, size_t len);

/** Find the end of the first message in data[0..len) (a request, or a response with
 * KL_FRAME_RESPONSE). Later bytes, a pipelined next message, are left alone.
 * - HTTP: headers (bounded by KL_FRAME_MAX_HEADER) and a body framed by Transfer-Encoding:
 *   chunked (with trailers) or Content-Length; requests without either have no body;
 *   responses 1xx, 204, 304 and those to HEAD have none either. Interim 1xx responses
 *   (not 101) belong to the final response that follows them. A response without length
 *   runs until the close: it completes only with KL_FRAME_EOF.
 * - FastCGI: a request runs from its first record to the empty FCGI_STDIN (FCGI_DATA for
 *   the filter role) or FCGI_ABORT_REQUEST of its request id; a response to the
 *   FCGI_END_REQUEST of its id; a management record (id 0) is a message of its own.
 * - RESP: one value of any type, aggregates nested to any depth, null bulk and array; a
 *   request not starting with '*' is an inline command ending at its newline.
 * - MySQL: one logical packet (3-byte length, sequence id; 16 MiB-1 packets continue in
 *   the next). A command is one packet, but a response often is not: a result set is a
 *   column count, column definitions, rows and a closing EOF or OK packet, and its status
 *   may announce more results. A caller framing responses calls this once per packet and
 *   decides from the packets' first bytes and its capability flags when the reply is done.
 * @param st  progress kept between calls on one growing buffer (data must keep its earlier
 *            bytes); NULL to scan from the start.
 * @return KL_OK with *msg_len the message's length, or 0 when more bytes are needed;
 *         KL_ERR_CORRUPT when the bytes are not this protocol (treat the stream as unknown);
 *         KL_ERR_TOOBIG past KL_FRAME_MAX_HEADER; KL_ERR_TRUNCATED with KL_FRAME_EOF when
 *         the message stops early; KL_ERR_INVALID for KL_PROTO_UNKNOWN. */
KL_API int kl_frame_message(kl_protocol p, unsigned flags, const uint8_t *data, size_t len,
                            kl_frame_state *st, size_t *msg_len);

/** The protocol's short name: "unknown", "http", "fastcgi", "resp" or "mysql". */
KL_API const char *kl_protocol_name(kl_protocol p);

/* ---------------------------------------------------------- json comparison */

/* koala-diff's noise rules, and the structural comparison of two JSON documents.
 *
 * kl_diff_opts gathers the rules of a whole diff: --ignore-header, --ignore-json-path,
 * --ignore-key, --ignore-regex, the same in a --rules file, and --strict. Build it once, then
 * share it read-only (threads too). kl_json_diff() compares two documents under it into a
 * kl_diff_list, each difference named by its path: "$" is the document, ".key" a member
 * (["key"] with JSON escapes when the key is not an identifier: ASCII letters, digits, '_' and
 * '$', no digit first), "[3]" an array element, as in "$.items[3].price".
 *
 * Comparison: object members by key whatever their order (a key repeated pairs up in order),
 * arrays element by element (elements past the shorter one are added or removed), numbers by
 * exact value (1 == 1.0 == 10e-1, -0 == 0, integers of any length digit by digit), strings by
 * their decoded bytes, string values (not keys) after masking by the ignore-regexes. Not a
 * difference unless strict: two integers written as plain digits that both look like Unix
 * times in seconds (2000 to 2100) or both in milliseconds, less than 120 seconds apart (the
 * original's Midi let such values pass: a response stamped with the time it was made).
 *
 * Ignored paths: "$", then .key (any bytes up to the next '.' or '['), ["key"] or ['key']
 * (JSON escapes), [N], and .* or [*] for any member or element: "$.meta.ts",
 * "$.items[*].id", "$.data['x.y']". What a path names is ignored with all it holds, and so is
 * a member whose key is an ignored key, at any depth (Midi's -E). */

#define KL_JSON_MAX_DEPTH 512   /* arrays and objects nested deeper are refused */

typedef struct kl_diff_opts {
    bool strict;                        /* --strict: timestamps compared as other numbers */
    /* The rules added so far, copied, in order, without repeats: read them, add through the
     * functions below. */
    const char *const *ignore_headers;  /* HTTP header names (for the HTTP layer; matched in
                                           any case by kl_diff_header_ignored()) */
    size_t n_ignore_headers;
    const char *const *ignore_paths;    /* JSON paths */
    size_t n_ignore_paths;
    const char *const *ignore_keys;     /* object keys, ignored at any depth */
    size_t n_ignore_keys;
    const char *const *ignore_regexes;  /* PCRE2 patterns whose matches are masked */
    size_t n_ignore_regexes;
    struct kli_diff_state *state;       /* private: parsed paths, compiled patterns, memory */
} kl_diff_opts;

typedef enum kl_diff_kind {
    KL_DIFF_CHANGED = 1,        /* the same type, another value */
    KL_DIFF_ADDED,              /* only in b */
    KL_DIFF_REMOVED,            /* only in a */
    KL_DIFF_TYPE,               /* another type: null, boolean, number, string, array, object */
} kl_diff_kind;

typedef struct kl_diff_item {
    kl_diff_kind kind;
    const char *path;           /* "$.items[3].price"; "callback" for a JSONP function name */
    const char *before;         /* a's value as compact JSON (its scalars as written), NULL
                                   when absent; for "callback" the name */
    const char *after;          /* b's, likewise */
} kl_diff_item;

/* Differences, in a stable order: document order of a (members in a's order, those only in b
 * after them in b's order; elements by index), a JSONP name first. Zero-initialise it. */
typedef struct kl_diff_list {
    const kl_diff_item *items;
    size_t n;
    struct kli_mem *mem;        /* owner of the items and their strings */
} kl_diff_list;

/** Zero o: no rules, not strict. */
KL_API void kl_diff_opts_init(kl_diff_opts *o);
/** Ignore an HTTP header (a copy of name; any case when matched).
 * @return KL_OK (also when already there); KL_ERR_INVALID for an empty name; KL_ERR_NOMEM. */
KL_API int kl_diff_opts_add_header(kl_diff_opts *o, const char *name);
/** Ignore what a JSON path names (see above; parsed once, copied).
 * @return KL_OK; KL_ERR_SYNTAX with "column N: expected ..." in errbuf (KL_ERRBUF_SIZE, may be
 *         NULL); KL_ERR_NOMEM. */
KL_API int kl_diff_opts_add_path(kl_diff_opts *o, const char *path, char *errbuf);
/** Ignore members with this key (copied) at any depth. @return as kl_diff_opts_add_header(). */
KL_API int kl_diff_opts_add_key(kl_diff_opts *o, const char *key);
/** Mask the matches of a PCRE2 pattern (compiled once, on bytes: no UTF mode) before texts are
 * compared: each becomes "<masked>". A match stopped by PCRE2's limits (a pathological
 * pattern) leaves the rest of that text as it is.
 * @return KL_OK; KL_ERR_SYNTAX with "column N: <PCRE2's message>" in errbuf; KL_ERR_NOMEM. */
KL_API int kl_diff_opts_add_regex(kl_diff_opts *o, const char *pattern, char *errbuf);
/** Add the rules of a --rules file's text: one a line, "ignore-header NAME",
 * "ignore-json-path PATH", "ignore-key KEY" or "ignore-regex PATTERN" (the value runs to the
 * line's end, without surrounding spaces and tabs); empty lines and lines starting with '#'
 * are skipped; CRLF lines are fine.
 * @return KL_OK; KL_ERR_SYNTAX with "line N: ..." in errbuf (the rules of earlier lines stay
 *         added); KL_ERR_INVALID for a NULL o, or NULL text with len > 0; KL_ERR_NOMEM. */
KL_API int kl_diff_rules_parse(const char *text, size_t len, kl_diff_opts *o, char *errbuf);
/** True when the header name[0..len) is one o ignores, in any case. o may be NULL. */
KL_API bool kl_diff_header_ignored(const kl_diff_opts *o, const char *name, size_t len);
/** Append data with o's regexes applied in turn, their matches masked, for a text or header
 * comparison. o may be NULL (data is appended as it is).
 * @return KL_OK; KL_ERR_INVALID for NULL out, or NULL data with len > 0; KL_ERR_NOMEM. */
KL_API int kl_diff_mask(const kl_diff_opts *o, const uint8_t *data, size_t len, kl_buf *out);
/** Release what o holds and zero it. Accepts NULL. */
KL_API void kl_diff_opts_free(kl_diff_opts *o);

/** A cheap sniff, no parse: true when the first byte past a UTF-8 BOM and white space is '{'
 * or '[', or the bytes start as a JSONP call of one ("cb({", "jQuery_1.x ( [").
 * Decides between kl_json_diff() and a text diff. */
KL_API bool kl_json_looks(const uint8_t *data, size_t len);
/** Compare JSON documents a and b under o (NULL: no rules, not strict) and append their
 * differences to out. Each is JSON text (RFC 8259, any value at the top, a UTF-8 BOM allowed)
 * or JSONP: a call "name(value)" with an optional ';', the names compared too (a "callback"
 * item). Byte-identical inputs are equal without being parsed.
 * @return KL_OK (no item added: no difference); KL_ERR_CORRUPT when a or b is not JSON, or
 *         KL_ERR_TOOBIG when it nests deeper than KL_JSON_MAX_DEPTH, with the side and place
 *         in errbuf ("b: line 3, column 7: expected ',' or '}'"; columns count characters):
 *         compare as text instead; KL_ERR_INVALID for NULL out, or NULL data with a length;
 *         KL_ERR_NOMEM. On failure out is as it was.
 * Ownership: a and b are borrowed for the call; the items belong to out. */
KL_API int kl_json_diff(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                        const kl_diff_opts *o, kl_diff_list *out, char *errbuf);
/** "changed", "added", "removed", "type", or "unknown". */
KL_API const char *kl_diff_kind_name(kl_diff_kind k);
/** Empty l, keeping its memory for the next comparison. Accepts NULL. */
KL_API void kl_diff_list_clear(kl_diff_list *l);
/** Release l's memory and zero it. Accepts NULL. */
KL_API void kl_diff_list_free(kl_diff_list *l);

/* ----------------------------------------------------------------- matching */

/* Which recorded call answers a request the service sends during replay. The replayer's
 * outbound server prepares one matcher per replaying session over its recorded CallOutbound
 * actions, asks it about each request read from a redirected connection, and writes back the
 * chosen call's recorded response.
 *
 * chunk (the original koala's matcher): the request is cut into 16-byte chunks; a request
 * over 256 bytes leads instead with its first run of more than 8 printable bytes (cut at 16),
 * and the chunks follow that run. Each recorded request is searched for chunk after chunk, each
 * in the bytes from where the one before was found; a chunk found earns a point. Chunk 0
 * earns the chunk count on a fresh connection (last == -1); on a matched one (last >= 0)
 * only calls after last compete, and chunk 0 earns half the count (at least 2) when it starts
 * the recorded request, else 1. The best call is taken when its points per chunk reach 0.85
 * on a matched connection, else the search starts over as on a fresh one, which takes 0.1.
 * A request and a call disagreeing on "Expect: 100-continue" never match.
 *
 * sim: cosine similarity of token vectors. Tokens are runs of ASCII letters, digits, '.', '_'
 * and non-ASCII UTF-8 characters (cut every 128 bytes), weighing their length, and every other
 * byte, weighing one; in an HTTP request the request line's URI (without query) and its path
 * segments also weigh their length times one more than the count of header lines. Tokens
 * are compared by a 64-bit hash. The best call is taken when its similarity reaches
 * opts.threshold.
 *
 * Equal values rank, in order: the call matched fewer times so far (so repeated identical
 * requests walk through their recorded repetitions), the first call after the last match
 * (chunk: the highest index matched on any connection; sim: last, or that on a fresh
 * connection), then for chunk the call whose points were complete first in the scan, then
 * the first call. An empty request is answered by a recorded call with an empty request (a
 * client waiting for a server's greeting), in the same order.
 *
 * Recorded calls are prepared once: chunk indexes every position of every distinct recorded
 * request (about 27 bytes of memory per byte of recorded request, 35 while it is built), sim
 * keeps their token vectors (about 3 bytes per byte). A matcher is used by one thread at a
 * time. */

typedef enum kl_match_strategy {
    KL_MATCH_CHUNK = 0,         /* the original's chunk matcher, the default */
    KL_MATCH_SIM,               /* cosine similarity of token vectors */
} kl_match_strategy;

#define KL_MATCH_THRESHOLD 0.7  /* the sim strategy's default threshold, as the original's */

typedef struct kl_match_opts {
    kl_match_strategy strategy; /* KOALA_REPLAYING_MATCH_STRATEGY: chunk (default) or sim */
    double threshold;           /* sim: KOALA_REPLAYING_MATCH_THRESHOLD, default 0.7; a call
                                   must score at least this (chunk has its own, fixed) */
} kl_match_opts;

/* The answer to one request. */
typedef struct kl_match {
    int64_t index;              /* the chosen call's kl_action.index; -1: none passed the
                                   threshold (or none scored) */
    double score;               /* 0 to 1, 1 for a request identical to the call. chunk: its
                                   points over those of an identical request (the thresholds
                                   above apply to points per chunk, as in the original); sim:
                                   the cosine. 0 when index is -1 */
    int64_t runner_up_index;    /* the next best call, or with index -1 the best one, which
                                   fell short; -1 when no other call scored */
    double runner_up_score;
} kl_match;

typedef struct kl_matcher kl_matcher;

/** Fill o with the defaults: chunk, threshold KL_MATCH_THRESHOLD. */
KL_API void kl_match_opts_init(kl_match_opts *o);
/** Parse a strategy name, "chunk" or "sim", in any case (an unset variable means the default:
 * the caller keeps kl_match_opts_init()'s). @return KL_OK and sets *out, or KL_ERR_INVALID. */
KL_API int kl_match_strategy_parse(const char *text, kl_match_strategy *out);
/** The strategy's name: "chunk", "sim", or "unknown". */
KL_API const char *kl_match_strategy_name(kl_match_strategy s);
/** Prepare the CallOutbound actions of s (matched by their kl_action.index, which increases
 * along the session as recorded) for matching. s and the bytes it points at are borrowed and
 * must outlive the matcher; o may be NULL for the defaults and is copied.
 * @return KL_OK and sets *out; KL_ERR_INVALID for a NULL s or out, an unknown strategy or a NaN
 *         threshold; KL_ERR_TOOBIG for requests of 4 GiB (one, or together); KL_ERR_NOMEM. */
KL_API int kl_matcher_new(const kl_session *s, const kl_match_opts *o, kl_matcher **out);
/** Match a request the service sent on one connection. last is the index of the call matched
 * last on that connection, -1 for a connection that has matched nothing yet; pass the previous
 * out->index on the same connection (the original starts a connection over after a request that
 * matched nothing). The chosen call counts as used. req is borrowed for the call.
 * @return KL_OK and fills *out (out->index -1 when no call answers: replay fails closed);
 *         KL_ERR_INVALID for a NULL m or out, or a NULL req with len > 0; KL_ERR_NOMEM. */
KL_API int kl_matcher_match(kl_matcher *m, const uint8_t *req, size_t len, int64_t last,
                            kl_match *out);
/** Write the indices of the recorded calls never matched, ascending, to out (at most max).
 * @return how many there are, which may exceed max (as snprintf). */
KL_API size_t kl_matcher_unused(const kl_matcher *m, int64_t *out, size_t max);
/** How many times the recorded call of this index was matched so far (0 for no such call). */
KL_API unsigned kl_matcher_uses(const kl_matcher *m, int64_t index);
/** Free the matcher (not the session). Accepts NULL. */
KL_API void kl_matcher_free(kl_matcher *m);

/* ---------------------------------------------------------- session builder */

/* The talk state machine of a recording thread: it turns the events the hook sees into
 * sessions. One builder per thread (or virtual thread), used by one thread at a time. It
 * never blocks and never reads a clock: every event carries its time. */
typedef struct kl_builder kl_builder;

/* How a builder finds where an inbound response ends (KOALA_INBOUND_PROTOCOL). */
typedef enum kl_inbound_mode {
    KL_INBOUND_AUTO = 0,  /* guess HTTP, FastCGI or RESP from each request's first bytes */
    KL_INBOUND_HTTP,
    KL_INBOUND_FASTCGI,
    KL_INBOUND_NONE,      /* no framing: a session ends at the next request, close or flush */
} kl_inbound_mode;

#define KL_BUILDER_MAX_ACTIONS 500        /* KOALA_MAX_ACTIONS, as the original */
#define KL_BUILDER_MAX_BYTES (16u << 20)  /* payload bytes kept per session */

typedef struct kl_builder_opts {
    int64_t thread_id;          /* in the session id and thread_id */
    const char *host;           /* copied into every session; NULL for none */
    int64_t pid;
    const char *program;
    kl_inbound_mode inbound;    /* default KL_INBOUND_AUTO */
    size_t max_actions;         /* default KL_BUILDER_MAX_ACTIONS; the ReturnInbound marker
                                   is always kept on top */
    size_t max_bytes;           /* default KL_BUILDER_MAX_BYTES: request, response, outbound
                                   bytes, contents and file names together */
    int64_t linger_ns;          /* default 0: a session whose response is complete is handed
                                   out at once. Above 0 it stays open that long for the work a
                                   thread does after answering (PHP's fastcgi_finish_request,
                                   an access log line) and is handed out by the first event
                                   past the delay, the next request, kl_builder_tick() or
                                   kl_builder_flush() */
} kl_builder_opts;

typedef enum kl_event_type {
    KL_EV_INBOUND_RECV = 1,     /* fd, peer, data: bytes of a request from a client */
    KL_EV_INBOUND_SEND,         /* fd, data: bytes of the response */
    KL_EV_INBOUND_CLOSE,        /* fd: the client connection closed (either side) */
    KL_EV_OUTBOUND_SEND,        /* fd, peer, local, data */
    KL_EV_OUTBOUND_RECV,        /* fd, peer, local, data; len 0 for a read that got nothing
                                   (a timeout or end of stream), so a re-send is a new call */
    KL_EV_OUTBOUND_CLOSE,       /* fd: a later send on a reused fd is a new call */
    KL_EV_APPEND_FILE,          /* file_name, data: a write to a file opened with O_APPEND */
    KL_EV_SEND_UDP,             /* peer, data: one datagram */
    KL_EV_READ_STORAGE,         /* data: a to-koala!read-storage helper payload */
} kl_event_type;

/* One thing a thread did. Pointers are borrowed for the call; unused fields are ignored. */
typedef struct kl_event {
    kl_event_type type;
    int64_t time;               /* unix ns */
    int fd;
    const kl_addr *peer;        /* NULL when unknown */
    const kl_addr *local;
    const char *file_name;
    const uint8_t *data;
    size_t len;
    uint32_t conn;              /* inbound events: the connection's serial, the same for every
                                   fd naming it (a dup); 0 when unknown (then fd and peer tell) */
} kl_event;

/* What a builder did so far, for the hook's closing summary. */
typedef struct kl_builder_totals {
    uint64_t sessions;          /* handed out by kl_builder_take() */
    uint64_t truncated;         /* of them, cut at a limit */
    uint64_t dropped;           /* sessions lost to allocation failure */
    uint64_t orphans;           /* flushed with actions but no inbound request: discarded */
    uint64_t dropped_bytes;     /* payload not kept: past limits, in lost sessions, response
                                   bytes without a request */
    uint64_t dropped_actions;   /* actions past max_actions */
} kl_builder_totals;

/** Fill o with the defaults. */
KL_API void kl_builder_opts_init(kl_builder_opts *o);
/** A new builder (o is copied, and its strings). @return KL_OK and sets *b, or KL_ERR_NOMEM. */
KL_API int kl_builder_new(kl_builder **b, const kl_builder_opts *o);
/** Feed one event. Sessions it completes wait in the builder: take them after every call.
 * Rules (the original koala's, plus framing):
 * - A session starts at the first inbound byte; actions seen before it belong to it.
 *   Its id is "<time of that byte>-<thread id>", kept increasing per builder.
 * - Consecutive sends on one outbound fd make one call's request, the recvs after them its
 *   response; a send after a response (or after an empty recv or a close), or another peer
 *   on that fd, starts a new call. Calls on different fds may interleave. A recv with no
 *   call open on its fd starts one with an empty request (a server's greeting).
 * - One AppendFile action per file name per session, its content appended.
 * - A session ends when its inbound response is complete by framing (and its request too,
 *   so a body read after an early answer stays in), when its inbound connection closes, on
 *   kl_builder_flush(), when a new request arrives after the response (request =>
 *   response => request), or when another client's bytes arrive on its fd before the
 *   response (the connection closed unseen, its fd number reused). Pipelined requests and
 *   responses are split at message ends.
 * - A request on another connection (another conn serial; without serials, another fd and
 *   peer), as an event loop serving many connections reads, sets the session aside while it
 *   waits for its response, or while a framed response is still
 *   incomplete; else it ends it. A set-aside session is taken up again by the next inbound event
 *   on its connection, gets the responses to its outbound calls, and ends at its connection's
 *   close, at a flush, or past 64 set aside or 4 times max_bytes held by them (the oldest). A
 *   new outbound call goes to the first of: a session waiting with no call in flight whose
 *   request has the same HTTP method and target, or the same first bytes (up to 64, at least 8);
 *   the current session, waiting, when the previous event went to it; a waiting session that
 *   made the last call on that fd; the longest waiting with no call in flight; the current one.
 *   Sends on another peer's connection with no session open are dropped and counted.
 * - Past max_actions or max_bytes the session is marked truncated and later bytes and
 *   actions are dropped and counted; it still ends as above.
 * @return KL_OK, KL_ERR_INVALID for an unknown event type, or KL_ERR_NOMEM: memory ran out,
 *         the session being built was dropped (counted) and the builder goes on. */
KL_API int kl_builder_feed(kl_builder *b, const kl_event *ev);
/** Hand out a lingering session whose delay has passed by now (unix ns). @return KL_OK or
 * KL_ERR_NOMEM (the session was dropped). */
KL_API int kl_builder_tick(kl_builder *b, int64_t now);
/** End the session in progress (an idle timeout, a thread-shutdown helper message, exit).
 * A session without inbound request is discarded. @return KL_OK or KL_ERR_NOMEM. */
KL_API int kl_builder_flush(kl_builder *b);
/** The oldest finished session, or NULL. The caller owns it (kl_session_free()). */
KL_API kl_session *kl_builder_take(kl_builder *b);
/** Counters since kl_builder_new(). */
KL_API void kl_builder_get_totals(const kl_builder *b, kl_builder_totals *t);
/** Free the builder, the session in progress and sessions not taken. Accepts NULL. */
KL_API void kl_builder_free(kl_builder *b);

/* The trace header of the session in progress, for the to-koala!get-trace-header,
 * get-trace-header-key and set-trace-header-key helper messages. It is the original koala's
 * binary form: entries of a 16-bit big-endian key length, the key, a 16-bit big-endian value
 * length, the value. The session in progress is the one the next events go into: a header
 * set before the first inbound byte belongs to the request that follows, one set while a
 * session lingers belongs to that session. Every session starts without a header; a
 * finished one carries it as trace_header (in order), trace_id ("ti"'s value) and span_id
 * ("si"'s value). A header on a session discarded without request goes with it. Its bytes
 * count against max_bytes; a change that would pass the limit is refused with KL_ERR_TOOBIG,
 * the session marked truncated and the bytes counted as dropped.
 * new_trace_id (NUL-terminated, normally from kl_trace_id()) is used only when the session
 * has no header yet: the header is then created holding "ti" = new_trace_id, as the
 * original's GetTraceHeader() does on first use. */

#define KL_TRACE_FIELD_MAX 65535u   /* longest key, and longest value, of a header entry */

/** Append the session's header to out, creating it first if needed.
 * @return KL_OK; KL_ERR_INVALID for a NULL or over-long new_trace_id when one is needed;
 *         KL_ERR_TOOBIG; KL_ERR_NOMEM (the header is as it was). */
KL_API int kl_builder_trace_header(kl_builder *b, const char *new_trace_id, kl_buf *out);
/** Append the value of key to out (the header is created first if needed).
 * @return KL_OK; KL_ERR_NOTFOUND when the header has no such key (out unchanged); else as
 *         kl_builder_trace_header(). */
KL_API int kl_builder_trace_get(kl_builder *b, const char *new_trace_id, const uint8_t *key,
                                size_t key_len, kl_buf *out);
/** Set key to value: the entry goes first, followed by the others in their order without
 * any earlier entry of that key (the original's TraceHeader.Set). The header is created
 * first if needed, so "ti" follows the first key set.
 * @return KL_OK; KL_ERR_INVALID for a key or value longer than KL_TRACE_FIELD_MAX (nothing
 *         changes, not even the header's creation); else as kl_builder_trace_header(). */
KL_API int kl_builder_trace_set(kl_builder *b, const char *new_trace_id, const uint8_t *key,
                                size_t key_len, const uint8_t *value, size_t value_len);

#define KL_TRACE_ID_LEN 20

/** Write a trace id as the original koala made them (an xid: 4 bytes of unix seconds,
 * 3 machine bytes, the low 16 bits of pid, the low 24 bits of counter, all big-endian, in
 * lowercase base32hex without padding) into out, NUL-terminated. libkoala keeps no state, so
 * the caller owns the parts: unix_sec = time(NULL); machine from kl_trace_machine() once per
 * process; pid = getpid(), taken again in a forked child; counter from one process-wide
 * atomic counter, started at a random value and incremented for every id.
 * @return out. */
KL_API char *kl_trace_id(char out[KL_TRACE_ID_LEN + 1], int64_t unix_sec, const uint8_t machine[3],
                         int64_t pid, uint32_t counter);
/** The 3 machine bytes of a trace id from a host name (NULL as ""): a hash of it (the
 * original took md5's first 3 bytes; any stable spread serves, the bytes only tell hosts
 * apart). */
KL_API void kl_trace_machine(const char *host, uint8_t machine[3]);

#ifdef __cplusplus
}
#endif

#endif /* KOALA_H */
