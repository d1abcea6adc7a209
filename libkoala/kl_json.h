/* kl_json.h - the strict JSON parser (RFC 8259) jsondiff.c and import.c share: a tree whose
 * values keep their text in the document. */
#ifndef KL_JSON_H
#define KL_JSON_H

#include "kl_internal.h"

typedef enum kli_jtype {
    KLI_J_NULL,
    KLI_J_BOOL,
    KLI_J_NUM,
    KLI_J_STR,
    KLI_J_ARR,
    KLI_J_OBJ,
} kli_jtype;

typedef struct kli_jval kli_jval;
typedef struct kli_jmember kli_jmember;

/* A parsed value. Its text stays in the document: a user decodes only the strings it needs
 * (kli_json_unescape) and reads numbers from their digits. */
struct kli_jval {
    kli_jtype type;
    bool escaped;          /* KLI_J_STR with backslash escapes */
    const uint8_t *raw;    /* the value as written (a string with its quotes) */
    size_t len;
    size_t n;              /* KLI_J_ARR, KLI_J_OBJ: elements or members */
    union {
        kli_jval *items;
        kli_jmember *members;
    } u;
};

struct kli_jmember {
    const uint8_t *key;    /* decoded */
    size_t klen;
    const uint8_t *kraw;   /* as written, quotes included */
    size_t kraw_len;
    kli_jval v;
};

/* Steps of a failure's path kept, innermost first. */
#define KLI_JSON_TRAIL 16

/* One step on the way from the document to a value: a member (its key as written, quotes
 * included) or, when key is NULL, an element. */
typedef struct kli_jstep {
    const uint8_t *key;
    size_t klen;
    size_t index;
} kli_jstep;

/* Set p, end and mem, zero the rest; the tree is allocated from mem. */
typedef struct kli_jparser {
    const uint8_t *p, *end;
    kli_mem *mem;
    unsigned depth;
    const char *why;       /* on failure: what was wrong */
    const uint8_t *at;     /* on failure: where */
    kli_jstep trail[KLI_JSON_TRAIL]; /* on failure: the way to the innermost value holding the
                                        fault, innermost step first */
    size_t n_trail;        /* steps on that way; only the first KLI_JSON_TRAIL are kept */
} kli_jparser;

static inline bool kli_json_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline const uint8_t *kli_json_skip_ws(const uint8_t *p, const uint8_t *e)
{
    while (p < e && kli_json_ws(*p))
        p++;
    return p;
}

/** Parse one value at ps->p (white space before it skipped, none after), nested at most
 * KL_JSON_MAX_DEPTH deep; ps->p ends past it.
 * @return KL_OK; KL_ERR_CORRUPT or KL_ERR_TOOBIG with ps->why, ps->at and ps->trail set;
 *         KL_ERR_NOMEM. */
int kli_json_parse_value(kli_jparser *ps, kli_jval *v);
/** Note a fault: set ps->at and ps->why. @return rc. */
int kli_json_fail(kli_jparser *ps, const uint8_t *at, int rc, const char *why);
/** When rc is a fault with a place (KL_ERR_CORRUPT, KL_ERR_TOOBIG), note the step that led into
 * the value holding it: a member by its key as written, or when key is NULL, element index.
 * Called while unwinding, so the innermost step comes first. @return rc. */
int kli_json_trail(kli_jparser *ps, int rc, const uint8_t *key, size_t klen, size_t index);
/** Find the quote q closing a string whose first byte (after its opening quote) is p[0].
 * Escapes are JSON's, and \' too when q is '\''.
 * @return the closing quote; NULL with *why and *at set when the string is bad. */
const uint8_t *kli_json_scan_string(const uint8_t *p, const uint8_t *e, uint8_t q, bool *escaped,
                                    const char **why, const uint8_t **at);
/** Decode the n bytes inside a string kli_json_scan_string() accepted into m, each character
 * as kli_json_next_char() reads it, written as UTF-8. Never longer than the escaped form.
 * @return NULL when out of memory. */
uint8_t *kli_json_unescape(kli_mem *m, const uint8_t *s, size_t n, size_t *out_len);
/** The four hex digits at p as a number. @return 0, or -1 when one is not a hex digit. */
int kli_json_hex4(const uint8_t *p, uint32_t *v);

/** The character at p (p < e) inside a string kli_json_scan_string() accepted, so every escape
 * is whole: a byte as written, or the code point an escape stands for (a surrogate pair joined
 * into one; a lone surrogate stays itself). @return where the next character starts.
 * Inline: import decodes every escaped byte of a session through it. */
static inline const uint8_t *kli_json_next_char(const uint8_t *p, const uint8_t *e, uint32_t *c)
{
    if (*p != '\\') {
        *c = *p;
        return p + 1;
    }
    switch (p[1]) {
    case 'b': *c = '\b'; return p + 2;
    case 'f': *c = '\f'; return p + 2;
    case 'n': *c = '\n'; return p + 2;
    case 'r': *c = '\r'; return p + 2;
    case 't': *c = '\t'; return p + 2;
    case 'u': {
        uint32_t lo;
        kli_json_hex4(p + 2, c);
        p += 6;
        if (*c >= 0xd800 && *c < 0xdc00 && e - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
            kli_json_hex4(p + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
            *c = 0x10000 + ((*c - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
        }
        return p;
    }
    default: /* " \\ / ' */
        *c = p[1];
        return p + 2;
    }
}
/** Write code point c as UTF-8 (up to 4 bytes) to o. @return the bytes written. */
size_t kli_json_put_utf8(uint8_t *o, uint32_t c);
/** Line and column (from 1; columns count UTF-8 characters) of at in doc. */
void kli_json_where(const uint8_t *doc, const uint8_t *at, size_t *line, size_t *col);

#endif
