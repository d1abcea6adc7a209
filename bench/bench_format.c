/* bench_format.c - the file format's figures: write and read throughput against plain zstd on
 * the same bytes, and file size against the original koala's one JSON file per session. */
#include <fcntl.h>
#include <zstd.h>

#include "bench.h"

#define CONTENT (96u << 20) /* serialized session bytes generated for the figures */
#define RUNS 5 /* best of */

static kl_session **sessions;
static size_t n_sessions;

static void generate(void)
{
    tg_gen g;
    tg_init(&g, 0x62656e6368ull, 8, 2);
    size_t cap = 0;
    uint64_t bytes = 0;
    while (bytes < CONTENT) {
        if (n_sessions == cap) {
            cap = cap ? cap * 2 : 4096;
            sessions = realloc(sessions, cap * sizeof *sessions);
            if (!sessions)
                bench_die("out of memory");
        }
        kl_session *s = tg_mixed(&g, 0);
        if (!s)
            bench_die("out of memory");
        sessions[n_sessions++] = s;
        /* close enough to the encoded size to stop generating; the figures use the real one */
        bytes += s->call_from_inbound.request.len + s->return_inbound.response.len + 200;
        for (size_t i = 0; i < s->n_actions; i++)
            bytes += s->actions[i].request.len + s->actions[i].response.len +
                     s->actions[i].content.len + 60;
    }
    tg_free(&g);
}

/* Write every session to path. @return seconds; sets the content and file sizes. */
static double write_file(const char *path, uint64_t *content, uint64_t *file)
{
    kl_writer_opts o;
    bench_writer_opts(&o);
    double t0 = bench_now();
    kl_writer *w = NULL;
    if (kl_writer_open(&w, path, &o) != KL_OK)
        bench_die("%s: %s", path, w ? kl_writer_error(w) : strerror(errno));
    for (size_t i = 0; i < n_sessions; i++)
        if (kl_writer_write(w, sessions[i]) != KL_OK)
            bench_die("%s: %s", path, kl_writer_error(w));
    kl_writer_totals(w, NULL, content, file);
    int rc = kl_writer_close(w);
    double t = bench_now() - t0;
    if (rc != KL_OK)
        bench_die("%s: %s", path, kl_strerror(rc));
    return t;
}

/* Read and decode every session. @return seconds. */
static double read_file(const char *path)
{
    double t0 = bench_now();
    char eb[KL_ERRBUF_SIZE];
    kl_reader *r = NULL;
    if (kl_reader_open(&r, path, eb) != KL_OK)
        bench_die("%s: %s", path, eb);
    const kl_session *s;
    size_t n = 0;
    int rc;
    while ((rc = kl_reader_next(r, &s)) == KL_OK)
        n++;
    if (rc != KL_END || n != n_sessions)
        bench_die("%s: read %zu of %zu sessions: %s", path, n, n_sessions, kl_reader_error(r));
    kl_reader_close(r);
    return bench_now() - t0;
}

/* The baseline of reading: plain zstd streaming decompression of the same file, output
 * discarded. Sets *content to the bytes decompressed; out (may be NULL) keeps them. */
static double zstd_read_file(const char *path, uint64_t *content, kl_buf *out)
{
    static uint8_t *in, *buf;
    size_t in_size = ZSTD_DStreamInSize(), out_size = ZSTD_DStreamOutSize();
    if (!in && (!(in = malloc(in_size)) || !(buf = malloc(out_size))))
        bench_die("out of memory");
    double t0 = bench_now();
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        bench_die("%s: %s", path, strerror(errno));
    ZSTD_DStream *d = ZSTD_createDStream();
    uint64_t total = 0;
    ssize_t got;
    while ((got = read(fd, in, in_size)) > 0) {
        ZSTD_inBuffer ib = {in, (size_t)got, 0};
        while (ib.pos < ib.size) {
            ZSTD_outBuffer ob = {buf, out_size, 0};
            size_t rc = ZSTD_decompressStream(d, &ob, &ib);
            if (ZSTD_isError(rc))
                bench_die("%s: zstd: %s", path, ZSTD_getErrorName(rc));
            total += ob.pos;
            if (out && kl_buf_append(out, buf, ob.pos) != KL_OK)
                bench_die("out of memory");
        }
    }
    if (got < 0)
        bench_die("%s: %s", path, strerror(errno));
    ZSTD_freeDStream(d);
    close(fd);
    *content = total;
    return bench_now() - t0;
}

/* The write baseline: zstd's streaming compression of buf, fed in ZSTD_CStreamInSize() pieces
 * as the zstd command line reads a file. @return seconds. */
static double zstd_stream(ZSTD_CCtx *cctx, const uint8_t *buf, size_t len, uint8_t *dst)
{
    size_t piece = ZSTD_CStreamInSize();
    double t0 = bench_now();
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
    ZSTD_outBuffer out = {dst, ZSTD_compressBound(len), 0};
    for (size_t at = 0; at < len || at == 0;) {
        size_t n = len - at < piece ? len - at : piece;
        ZSTD_inBuffer in = {buf + at, n, 0};
        ZSTD_EndDirective mode = at + n >= len ? ZSTD_e_end : ZSTD_e_continue;
        size_t rc;
        do {
            rc = ZSTD_compressStream2(cctx, &out, &in, mode);
            if (ZSTD_isError(rc))
                bench_die("zstd: %s", ZSTD_getErrorName(rc));
        } while (mode == ZSTD_e_end ? rc != 0 : in.pos < in.size);
        at += n;
        if (mode == ZSTD_e_end)
            break;
    }
    return bench_now() - t0;
}

int main(void)
{
    bench_name = "bench_format";
    char path[4096];
    snprintf(path, sizeof path, "%s/koala-bench-format.%ld.pb", bench_scratch_dir(), (long)getpid());
    generate();

    /* (a) writing sessions vs plain zstd on the same delimited records, two ways: streaming,
     * as `zstd -3` compresses a file (the target's baseline: like the writer it works in bounded
     * memory), and one ZSTD_compress2 over all of them at once (an upper bound no streaming
     * writer reaches). Runs alternate so that all three see the same machine. */
    uint64_t content = 0, file = 0;
    double best_w = write_file(path, &content, &file);
    kl_buf records = {0};
    uint64_t plain_len;
    zstd_read_file(path, &plain_len, &records);
    if (plain_len != content)
        bench_die("%s: %llu content bytes decompress to %llu", path, (unsigned long long)content,
                  (unsigned long long)plain_len);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t bound = ZSTD_compressBound(records.len);
    uint8_t *dst = malloc(bound);
    if (!cctx || !dst)
        bench_die("out of memory");
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, BENCH_LEVEL);
    double best_z = 1e9, best_s = 1e9;
    for (int i = 0; i < RUNS; i++) {
        double t0 = bench_now();
        size_t zlen = ZSTD_compress2(cctx, dst, bound, records.data, records.len);
        double t = bench_now() - t0;
        if (ZSTD_isError(zlen))
            bench_die("zstd: %s", ZSTD_getErrorName(zlen));
        best_z = t < best_z ? t : best_z;
        t = zstd_stream(cctx, (const uint8_t *)records.data, records.len, dst);
        best_s = t < best_s ? t : best_s;
        t = write_file(path, &content, &file);
        best_w = t < best_w ? t : best_w;
    }
    double w_mbs = (double)content / MB / best_w, s_mbs = (double)content / MB / best_s;
    double z_mbs = (double)content / MB / best_z;
    printf("write: %.0f MB/s vs plain zstd -%d streaming the same bytes %.0f MB/s = %.2f "
           "(one-shot ZSTD_compress2 %.0f MB/s = %.2f) (target >= 0.80) %s\n",
           w_mbs, BENCH_LEVEL, s_mbs, w_mbs / s_mbs, z_mbs, w_mbs / z_mbs,
           bench_pass(w_mbs / s_mbs >= 0.80));
    free(dst);
    ZSTD_freeCCtx(cctx);
    kl_buf_free(&records);

    /* (b) reading every session, decoded, vs streaming decompression of the same file */
    double best_r = 1e9, best_d = 1e9;
    for (int i = 0; i < RUNS; i++) {
        double t = read_file(path);
        best_r = t < best_r ? t : best_r;
        t = zstd_read_file(path, &plain_len, NULL);
        best_d = t < best_d ? t : best_d;
    }
    double r_mbs = (double)content / MB / best_r, d_mbs = (double)content / MB / best_d;
    printf("read: %.0f MB/s vs plain zstd streaming decompression of the same file %.0f MB/s = "
           "%.2f (target >= 0.60) %s\n", r_mbs, d_mbs, r_mbs / d_mbs, bench_pass(r_mbs / d_mbs >= 0.60));

    /* (d) size against the original koala: one pretty-printed JSON file per session */
    kl_buf json = {0};
    uint64_t json_bytes = 0;
    for (size_t i = 0; i < n_sessions; i++) {
        json.len = 0;
        if (kl_json_session(sessions[i], KL_JSON_PRETTY, &json) != KL_OK)
            bench_die("session %zu: cannot export as JSON", i);
        json_bytes += json.len;
    }
    kl_buf_free(&json);
    double ratio = (double)file / (double)json_bytes;
    printf("size: %.1f MB .pb vs %.1f MB as original koala JSON files (%zu sessions) = %.3f = "
           "1/%.1f (target <= 1/8) %s\n", (double)file / MB, (double)json_bytes / MB, n_sessions,
           ratio, 1 / ratio, bench_pass(ratio <= 0.125));

    unlink(path);
    for (size_t i = 0; i < n_sessions; i++)
        kl_session_free(sessions[i]);
    free(sessions);
    return 0;
}
