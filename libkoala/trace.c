/* trace.c - trace ids in the original koala's xid form: 12 bytes written as 20 base32hex characters. */
#include "kl_internal.h"

void kl_trace_machine(const char *host, uint8_t machine[3])
{
    uint32_t h = 2166136261u; /* FNV-1a: the bytes only have to differ between hosts */
    for (const char *p = host ? host : ""; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    machine[0] = (uint8_t)(h >> 24);
    machine[1] = (uint8_t)(h >> 16);
    machine[2] = (uint8_t)(h >> 8);
}

char *kl_trace_id(char out[KL_TRACE_ID_LEN + 1], int64_t unix_sec, const uint8_t machine[3],
                  int64_t pid, uint32_t counter)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuv";
    uint32_t sec = (uint32_t)unix_sec, p = (uint32_t)pid;
    const uint8_t id[12] = {
        (uint8_t)(sec >> 24), (uint8_t)(sec >> 16), (uint8_t)(sec >> 8), (uint8_t)sec,
        machine[0], machine[1], machine[2],
        (uint8_t)(p >> 8), (uint8_t)p,
        (uint8_t)(counter >> 16), (uint8_t)(counter >> 8), (uint8_t)counter,
    };
    /* Base32's bit order, most significant first; the 96 bits fill 19 digits and one bit of
     * the 20th, whose other bits are zero (the padding the original leaves out). */
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < sizeof id; i++) {
        acc = (acc << 8) | id[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[n++] = digits[(acc >> bits) & 31];
        }
    }
    out[n++] = digits[(acc << (5 - bits)) & 31];
    out[n] = '\0';
    return out;
}
