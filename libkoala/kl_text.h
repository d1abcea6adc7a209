/* kl_text.h - text helpers print.c owns and the other writers share: sizes, numbers, UTF-8. */
#ifndef KL_TEXT_H
#define KL_TEXT_H

#include "kl_internal.h"

/* Append a byte count in binary units with one decimal: "52B", "1.5KiB", "3.0MiB", "2.4GiB".
 * @return KL_OK or KL_ERR_NOMEM. */
int kli_text_size(kl_buf *out, uint64_t n);
/* Append a finite v with `decimals` (0..9) fraction digits and a '.', whatever the locale. */
int kli_text_fixed(kl_buf *out, double v, int decimals);
/* Write v in decimal at p: at most KLI_DECIMAL_MAX bytes, no NUL. @return the end. By hand,
 * as the builder names every session with two of them and snprintf cost more than the rest. */
#define KLI_DECIMAL_MAX 20
char *kli_text_decimal(char *p, int64_t v);
/* Length (1..4) of the valid UTF-8 sequence starting at p, 0 when p starts none. len >= 1.
 * Inline: the JSON escaper calls it per character. */
static inline size_t kli_utf8_len(const uint8_t *p, size_t len)
{
    if (p[0] < 0x80)
        return 1;
    size_t n;
    uint32_t c, min;
    if ((p[0] & 0xe0) == 0xc0)
        n = 2, c = p[0] & 0x1fu, min = 0x80;
    else if ((p[0] & 0xf0) == 0xe0)
        n = 3, c = p[0] & 0x0fu, min = 0x800;
    else if ((p[0] & 0xf8) == 0xf0)
        n = 4, c = p[0] & 0x07u, min = 0x10000;
    else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3fu);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8. */
    return c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ? 0 : n;
}
/* Append bytes for a terminal: valid UTF-8 as is, control and invalid bytes as \xNN (tabs kept). */
int kli_text_escaped(kl_buf *out, const uint8_t *p, size_t len);
/* A FastCGI request (php-fpm's) as "METHOD URI", from its REQUEST_METHOD and REQUEST_URI
 * params (or SCRIPT_NAME?QUERY_STRING), escaped as kli_text_escaped, the URI cut at max bytes
 * with "...". @return 1 when written, 0 when req is not a FastCGI request naming them (nothing
 * written), -1 when memory ran out. */
int kli_fcgi_request(kl_buf *out, kl_bytes req, size_t max);

#endif
