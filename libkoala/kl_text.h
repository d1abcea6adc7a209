/* kl_text.h - helpers print.c owns and stats.c shares: sizes, numbers, UTF-8; not installed. */
#ifndef KL_TEXT_H
#define KL_TEXT_H

#include "kl_internal.h"

/* Append a byte count in binary units with one decimal: "52B", "1.5KiB", "3.0MiB", "2.4GiB".
 * @return KL_OK or KL_ERR_NOMEM. */
int kli_text_size(kl_buf *out, uint64_t n);
/* Append a finite v with `decimals` (0..9) fraction digits and a '.', whatever the locale. */
int kli_text_fixed(kl_buf *out, double v, int decimals);
/* Length (1..4) of the valid UTF-8 sequence starting at p, 0 when p starts none. len >= 1. */
size_t kli_utf8_len(const uint8_t *p, size_t len);
/* Append bytes for a terminal: valid UTF-8 as is, control and invalid bytes as \xNN (tabs kept). */
int kli_text_escaped(kl_buf *out, const uint8_t *p, size_t len);
/* True when a and b hold the same bytes. */
bool kli_bytes_equal(kl_bytes a, kl_bytes b);

#endif
