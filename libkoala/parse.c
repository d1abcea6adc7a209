/* parse.c - times and durations as people write them: options, KOALA_* variables, filters. */
#include "kl_internal.h"

#include <string.h>

static bool digits(const char *t, size_t n, size_t at, size_t count, int *out)
{
    if (at + count > n)
        return false;
    int v = 0;
    for (size_t i = at; i < at + count; i++) {
        if (t[i] < '0' || t[i] > '9')
            return false;
        v = v * 10 + (t[i] - '0');
    }
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Howard Hinnant's). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int kl_parse_time(const char *t, size_t n, int64_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (n < 10 || !digits(t, n, 0, 4, &y) || t[4] != '-' || !digits(t, n, 5, 2, &mo) ||
        t[7] != '-' || !digits(t, n, 8, 2, &d))
        return KL_ERR_INVALID;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && (y % 4 || (y % 100 == 0 && y % 400))))
        return KL_ERR_INVALID;
    int64_t frac = 0, off = 0;
    size_t i = 10;
    if (i < n) {
        if ((t[i] != 'T' && t[i] != 't' && t[i] != ' ') || !digits(t, n, 11, 2, &h) || n < 19 ||
            t[13] != ':' || !digits(t, n, 14, 2, &mi) || t[16] != ':' || !digits(t, n, 17, 2, &sec))
            return KL_ERR_INVALID;
        if (h > 23 || mi > 59 || sec > 59)
            return KL_ERR_INVALID;
        i = 19;
        if (i < n && t[i] == '.') {
            int64_t scale = 100000000;
            size_t start = ++i;
            for (; i < n && t[i] >= '0' && t[i] <= '9'; i++) {
                frac += (t[i] - '0') * scale;
                scale /= 10;
            }
            if (i == start || i - start > 9)
                return KL_ERR_INVALID;
        }
        int oh, om;
        if (i < n && (t[i] == 'Z' || t[i] == 'z')) {
            i++;
        } else if (i < n && (t[i] == '+' || t[i] == '-') && digits(t, n, i + 1, 2, &oh) &&
                   i + 3 < n && t[i + 3] == ':' && digits(t, n, i + 4, 2, &om) && oh < 24 &&
                   om < 60) {
            off = (t[i] == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
            i += 6;
        } else {
            return KL_ERR_INVALID;
        }
        if (i != n)
            return KL_ERR_INVALID;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off, ns;
    if (__builtin_mul_overflow(secs, (int64_t)1000000000, &ns) ||
        __builtin_add_overflow(ns, frac, out))
        return KL_ERR_INVALID;
    return KL_OK;
}


/* A decimal number with an optional fraction (9 digits kept), advancing *p. */
static int parse_decimal(const char **p, int64_t *whole, int64_t *frac9)
{
    const char *s = *p;
    int64_t w = 0, f = 0;
    int digits = 0, fdigits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        if (w > (INT64_MAX - 9) / 10)
            return KL_ERR_INVALID;
        w = w * 10 + (*s - '0');
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, fdigits++)
            if (fdigits < 9)
                f = f * 10 + (*s - '0');
        for (int i = fdigits; i < 9; i++)
            f *= 10;
    }
    if (digits + fdigits == 0)
        return KL_ERR_INVALID;
    *p = s;
    *whole = w;
    *frac9 = f;
    return KL_OK;
}

int kl_parse_duration(const char *text, int64_t *ns)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000},
                 {"m", 60000000000}, {"h", 3600000000000}};
    const char *p = text;
    int64_t total = 0;
    if (!*p)
        return KL_ERR_INVALID;
    while (*p) {
        int64_t whole, frac9;
        if (parse_decimal(&p, &whole, &frac9) != KL_OK)
            return KL_ERR_INVALID;
        int64_t unit = 0;
        size_t best = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            size_t n = strlen(units[i].name);
            /* longest match, so "ms" is not read as "m" then "s" */
            if (n > best && strncmp(p, units[i].name, n) == 0) {
                unit = units[i].ns;
                best = n;
            }
        }
        if (!best) {
            if (*p || total)
                return KL_ERR_INVALID;
            unit = 1000000000; /* a bare number is seconds */
        }
        p += best;
        if (whole > (INT64_MAX - total) / unit)
            return KL_ERR_INVALID;
        total += whole * unit + (int64_t)((double)frac9 * (double)unit / 1e9);
    }
    if (total <= 0)
        return KL_ERR_INVALID;
    *ns = total;
    return KL_OK;
}

int kl_parse_unix_time(const char *text, int64_t *ns)
{
    if (kl_parse_time(text, strlen(text), ns) == KL_OK)
        return KL_OK;
    const char *p = text;
    int64_t whole, frac9;
    if (parse_decimal(&p, &whole, &frac9) != KL_OK || *p || whole > INT64_MAX / 1000000000 - 1)
        return KL_ERR_INVALID;
    *ns = whole * 1000000000 + frac9;
    return KL_OK;
}
