/* callview.c - one line naming an outbound request by its protocol ("redis: GET user:1",
 * "mysql: SELECT ...", "http: GET /path"), so that koala-diff can say what changed in words. */
#include "kl_text.h"

#include <stdlib.h>
#include <string.h>

#define ARG_MAX_SHOWN 64   /* bytes of one Redis argument or of a query shown before "..." */
#define LINE_MAX_SHOWN 200 /* bytes of the whole line */

/* Append d as readable text: printable bytes as they are, others as \xHH, at most max bytes
 * of d then "...". */
static int put_text(kl_buf *out, const uint8_t *d, size_t len, size_t max)
{
    int rc = KL_OK;
    size_t n = len < max ? len : max;
    for (size_t i = 0; i < n && rc == KL_OK; i++) {
        uint8_t c = d[i];
        if (c == '\r' || c == '\n' || c == '\t')
            c = ' ';
        rc = c >= 0x20 && c < 0x7f && c != '\\' ? kl_buf_append(out, &c, 1) : kl_buf_printf(out, "\\x%02x", c);
    }
    return rc == KL_OK && n < len ? kl_buf_append(out, "...", 3) : rc;
}

/* A decimal number ending at "\r\n" from p (end: past the buffer). @return the byte after
 * "\r\n", or NULL. */
static const uint8_t *number(const uint8_t *p, const uint8_t *end, long *out)
{
    long v = 0;
    const uint8_t *s = p;
    while (p < end && *p >= '0' && *p <= '9' && v < 1000000000)
        v = v * 10 + (*p++ - '0');
    if (p == s || end - p < 2 || p[0] != '\r' || p[1] != '\n')
        return NULL;
    *out = v;
    return p + 2;
}

/* "redis: CMD ARG ...", for every command of a RESP request (pipelined ones joined by " | ").
 * @return KL_OK, or KL_ERR_CORRUPT when the bytes are not RESP arrays of bulk strings. */
static int redis_view(const uint8_t *d, size_t len, kl_buf *out)
{
    const uint8_t *p = d, *end = d + len;
    size_t start = out->len;
    int rc = kl_buf_append(out, "redis:", 6);
    for (int cmd = 0; p < end && rc == KL_OK; cmd++) {
        long n;
        if (*p != '*' || !(p = number(p + 1, end, &n)))
            break;
        if (cmd)
            rc = kl_buf_append(out, " |", 2);
        for (long i = 0; i < n && rc == KL_OK; i++) {
            long blen;
            if (p >= end || *p != '$' || !(p = number(p + 1, end, &blen)) || end - p < blen + 2) {
                p = NULL;
                break;
            }
            rc = kl_buf_append(out, " ", 1);
            if (rc == KL_OK)
                rc = put_text(out, p, (size_t)blen, ARG_MAX_SHOWN);
            p += blen + 2;
        }
        if (!p)
            break;
    }
    if (rc == KL_OK && p != end) {
        out->len = start; /* not (only) RESP arrays: described another way */
        if (out->data)
            out->data[start] = '\0';
        return KL_ERR_CORRUPT;
    }
    return rc;
}

/* "mysql: QUERY" for a COM_QUERY, else the command's name. */
static int mysql_view(const uint8_t *d, size_t len, kl_buf *out)
{
    static const struct {
        uint8_t code;
        const char *name;
    } cmds[] = {{0x01, "quit"},         {0x02, "use"},
                {0x0e, "ping"},         {0x11, "change user"},  {0x16, "prepare"},
                {0x17, "execute"},      {0x19, "close statement"}, {0x1f, "reset connection"}};
    if (len < 5)
        return KL_ERR_CORRUPT;
    uint32_t plen = d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16;
    const uint8_t *body = d + 4;
    size_t blen = len - 4 < plen ? len - 4 : plen;
    if (d[3] != 0) /* not a command: the login answering the greeting */
        return kl_buf_printf(out, "mysql: login (%zu bytes)", len);
    /* A query is shown as its text; use and prepare with their argument. */
    if (body[0] == 0x03) {
        int rc = kl_buf_append(out, "mysql: ", 7);
        return rc == KL_OK ? put_text(out, body + 1, blen - 1, LINE_MAX_SHOWN) : rc;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (cmds[i].code == body[0]) {
            int rc = kl_buf_printf(out, "mysql: %s", cmds[i].name);
            if (rc == KL_OK && (body[0] == 0x02 || body[0] == 0x16) && blen > 1)
                rc = kl_buf_append(out, " ", 1) == KL_OK ? put_text(out, body + 1, blen - 1, LINE_MAX_SHOWN)
                                                         : KL_ERR_NOMEM;
            return rc;
        }
    return kl_buf_printf(out, "mysql: command 0x%02x", body[0]);
}

int kl_call_describe(const uint8_t *req, size_t len, kl_buf *out)
{
    if ((!req && len) || !out)
        return KL_ERR_INVALID;
    static const char greeting[] = "(nothing sent: the server speaks first)";
    if (!len)
        return kl_buf_append(out, greeting, sizeof greeting - 1);
    switch (kl_frame_detect(req, len)) {
    case KL_PROTO_HTTP: {
        const uint8_t *eol = memchr(req, '\r', len);
        size_t n = eol ? (size_t)(eol - req) : len;
        int rc = kl_buf_append(out, "http: ", 6);
        return rc == KL_OK ? put_text(out, req, n, LINE_MAX_SHOWN) : rc;
    }
    case KL_PROTO_RESP:
        if (redis_view(req, len, out) == KL_OK)
            return KL_OK;
        break;
    case KL_PROTO_MYSQL:
        return mysql_view(req, len, out);
    case KL_PROTO_FASTCGI: {
        size_t at = out->len;
        int rc = kl_buf_append(out, "fastcgi: ", 9);
        if (rc == KL_OK && (rc = kli_fcgi_request(out, (kl_bytes){req, len}, LINE_MAX_SHOWN)) > 0)
            return KL_OK;
        if (rc < 0)
            return KL_ERR_NOMEM;
        out->len = at;
        return kl_buf_printf(out, "fastcgi: request of %zu bytes", len);
    }
    case KL_PROTO_UNKNOWN:
        /* kl_frame_detect knows MySQL by its queries; other commands by their whole packet */
        if (len >= 5 && req[3] == 0 && (req[0] | (uint32_t)req[1] << 8 | (uint32_t)req[2] << 16) == len - 4 &&
            req[4] < 0x20)
            return mysql_view(req, len, out);
        break;
    }
    return put_text(out, req, len, LINE_MAX_SHOWN);
}
