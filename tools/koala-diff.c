/* koala-diff - what changed between recorded sessions and their replay: per session and in
 * total, the inbound response, the outbound calls, the appended files and the datagrams. */
#include "diff_html.h"
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char usage[] =
    "Usage: koala-diff [OPTION]... RECORDED REPLAYED\n"
    "   or: koala-diff --learn-noise [-o RULES] REPLAY1 REPLAY2\n"
    "Compare recorded sessions with what koala-replay wrote when replaying them, pairing\n"
    "sessions by id: the inbound response, the outbound calls (requests that differ from the\n"
    "recorded call they matched, requests that matched nothing, recorded calls never made or\n"
    "matched more than once), appended files and UDP datagrams.\n"
    "\n"
    "      --ignore-header=NAME      an HTTP header that may differ (any case; repeatable)\n"
    "      --ignore-json-path=PATH   a JSON path that may differ: $.meta.ts, $.items[*].id\n"
    "      --ignore-key=KEY          a JSON key that may differ at any depth\n"
    "      --ignore-regex=RE         mask what a PCRE2 pattern matches before comparing\n"
    "      --rules=FILE       more of the above, one a line (ignore-header NAME, ...)\n"
    "      --strict           timestamps less than 120 s apart differ too (Unix times in JSON\n"
    "                         and text, ISO 8601 and HTTP dates in text)\n"
    "      --learn-noise      take two replays of one recording instead (REPLAY1 REPLAY2) and\n"
    "                         write what differs between them as rules for --rules\n"
    "  -o, --output=FILE      with --learn-noise: write the rules there (default stdout)\n"
    "      --html=FILE        write the report as one self-contained web page to FILE (the\n"
    "                         totals still go to stdout)\n"
    "      --summary          print the totals only\n"
    "      --json             one JSON object per session, then one with the totals\n"
    "      --color=WHEN       color the diff: auto (on a terminal, the default), always, never\n"
    "  -h, --help             print this help and exit\n"
    "      --version          print the version and exit\n"
    "\n"
    "Sessions of one file only are counted, not compared. Exit status: 0 when nothing\n"
    "differs, 1 when something does, 2 on trouble.\n";

enum {
    OPT_VERSION = 256, OPT_SUMMARY, OPT_JSON, OPT_COLOR, OPT_IGNORE_HEADER, OPT_IGNORE_PATH,
    OPT_IGNORE_KEY, OPT_IGNORE_REGEX, OPT_RULES, OPT_STRICT, OPT_LEARN, OPT_HTML,
};

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},           {"version", no_argument, NULL, OPT_VERSION},
    {"summary", no_argument, NULL, OPT_SUMMARY}, {"json", no_argument, NULL, OPT_JSON},
    {"color", required_argument, NULL, OPT_COLOR},
    {"ignore-header", required_argument, NULL, OPT_IGNORE_HEADER},
    {"ignore-json-path", required_argument, NULL, OPT_IGNORE_PATH},
    {"ignore-key", required_argument, NULL, OPT_IGNORE_KEY},
    {"ignore-regex", required_argument, NULL, OPT_IGNORE_REGEX},
    {"rules", required_argument, NULL, OPT_RULES},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"learn-noise", no_argument, NULL, OPT_LEARN},
    {"html", required_argument, NULL, OPT_HTML},
    {"output", required_argument, NULL, 'o'},
    {NULL, 0, NULL, 0},
};

#define DIFF_CONTEXT 3
#define DIFF_MAX_LINES 2000 /* changed lines past which a text diff is summed up */
#define HEX_MAX_ROWS 32

/* The replayed sessions, by id (open addressing). */
typedef struct replays {
    kl_replayed **v;
    size_t n, cap;
    size_t *slots; /* index + 1; 0 is empty */
    size_t n_slots;
    bool *seen;
} replays;

/* What one session's comparison found, as text or JSON. */
typedef struct report {
    const kl_diff_opts *opts;
    kl_buf out;
    bool json;
    bool table;                           /* JSON for the HTML page: every call in a table */
    kl_buf *html;                         /* the page's data, instead of stdout */
    bool color;
    unsigned response, calls, files, udp; /* differences of each kind */
    unsigned n_items;                     /* JSON items written in the current array */
} report;

typedef struct totals {
    uint64_t sessions, identical, differ, response, calls, files, udp, not_replayed, not_recorded;
} totals;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static void replays_add(replays *r, kl_replayed *s)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        if (!(r->v = realloc(r->v, r->cap * sizeof *r->v)))
            tool_die("out of memory");
    }
    r->v[r->n++] = s;
}

static void replays_index(replays *r)
{
    r->n_slots = 1;
    while (r->n_slots < r->n * 2)
        r->n_slots *= 2;
    if (!(r->slots = calloc(r->n_slots, sizeof *r->slots)) || !(r->seen = calloc(r->n + 1, 1)))
        tool_die("out of memory");
    for (size_t i = 0; i < r->n; i++) {
        if (!r->v[i]->session_id)
            continue;
        size_t at = hash_str(r->v[i]->session_id) & (r->n_slots - 1);
        while (r->slots[at])
            at = (at + 1) & (r->n_slots - 1);
        r->slots[at] = i + 1;
    }
}

/* The replayed session of id not yet paired, or NULL. @return its index in *i. */
static kl_replayed *replays_find(replays *r, const char *id, size_t *i)
{
    if (!id || !r->n)
        return NULL;
    for (size_t at = hash_str(id) & (r->n_slots - 1); r->slots[at]; at = (at + 1) & (r->n_slots - 1)) {
        size_t k = r->slots[at] - 1;
        if (!r->seen[k] && strcmp(r->v[k]->session_id, id) == 0) {
            *i = k;
            return r->v[k];
        }
    }
    return NULL;
}

static void replays_free(replays *r)
{
    for (size_t i = 0; i < r->n; i++)
        kl_replayed_free(r->v[i]);
    free(r->v);
    free(r->slots);
    free(r->seen);
}

/* Every replayed session of path, cloned; what is "recorded sessions; give ..." for a file
 * of recorded ones. @return false when path is damaged (named in a warning; every session
 * before the damage was read). */
static bool load_replays(const char *path, replays *r, const char *what)
{
    bool damaged = false;
    kl_reader *rd = tool_input_open(path, &damaged);
    if (!rd)
        exit(TOOL_EXIT_TROUBLE);
    if (kl_reader_info(rd)->kind == KL_KIND_RECORDED) {
        tool_reader_close(rd);
        tool_die("%s: %s", tool_display_name(path), what);
    }
    const kl_replayed *s;
    for (int rc; (rc = kl_reader_next_replayed(rd, &s)) != KL_END;) {
        if (rc == KL_OK) {
            kl_replayed *copy;
            tool_must(kl_replayed_clone(s, &copy));
            replays_add(r, copy);
            continue;
        }
        damaged = true;
        if (!tool_read_past(tool_display_name(path), rd, rc))
            break;
    }
    tool_reader_close(rd);
    replays_index(r);
    return !damaged;
}

/* ------------------------------------------------------------------ output */

/* Append printf text to the report, whatever its length: a line of a diff can be long. */
#define put(r, ...) tool_must(kl_buf_printf(&(r)->out, __VA_ARGS__))

/* Append s as a JSON string. */
static void put_json_str(report *r, const char *s, size_t len)
{
    tool_must(kl_json_string((const uint8_t *)s, len, &r->out));
}

/* One line of a diff (text output), colored by its first character on a terminal. */
static void put_diff(report *r, const kl_buf *d)
{
    for (const char *p = d->data; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *on = !r->color ? "" : *p == '-' ? "\033[31m" : *p == '+' ? "\033[32m" : *p == '@' ? "\033[36m" : "";
        put(r, "    %s%.*s%s\n", on, (int)len, p, *on ? "\033[0m" : "");
        p += len + (nl != NULL);
    }
}

/* A difference of one kind: "  WHAT" in text, an item {"kind":..,"what":..} in JSON, with an
 * optional diff of before and after. */
static void item(report *r, const char *kind, const kl_buf *what, const kl_buf *diff)
{
    if (r->json) {
        put(r, "%s{\"kind\":", r->n_items++ ? "," : "");
        put_json_str(r, kind, strlen(kind));
        put(r, ",\"what\":");
        put_json_str(r, what->data ? what->data : "", what->len);
        if (diff && diff->len) {
            put(r, ",\"diff\":");
            put_json_str(r, diff->data, diff->len);
        }
        put(r, "}");
        return;
    }
    put(r, "  %s%s%s: %s\n", r->color ? "\033[1m" : "", kind, r->color ? "\033[0m" : "",
        what->data ? what->data : "");
    if (diff && diff->len)
        put_diff(r, diff);
}

/* ------------------------------------------------------------------ comparing */

static bool bytes_equal(kl_bytes a, kl_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

/* Text when it holds no NUL and few control bytes. */
static bool textual(kl_bytes b)
{
    size_t odd = 0;
    for (size_t i = 0; i < b.len; i++) {
        if (!b.data[i])
            return false;
        odd += b.data[i] < 0x20 && b.data[i] != '\n' && b.data[i] != '\r' && b.data[i] != '\t';
    }
    return odd * 20 <= b.len;
}

/* How a and b differ, for people: a line diff of text, a hex diff of binary. */
static void bytes_diff(kl_bytes a, kl_bytes b, kl_buf *out)
{
    out->len = 0;
    int rc = textual(a) && textual(b)
                 ? kl_text_diff(a.data, a.len, b.data, b.len, DIFF_CONTEXT, DIFF_MAX_LINES, out)
                 : kl_hex_diff(a.data, a.len, b.data, b.len, HEX_MAX_ROWS, out);
    if (rc == KL_ERR_TOOBIG)
        rc = kl_buf_printf(out, "more than %d lines differ (%zu bytes recorded, %zu replayed)\n",
                           DIFF_MAX_LINES, a.len, b.len);
    tool_must(rc);
}

/* a and b after the ignore-regexes, into ma and mb. @return whether they are still equal,
 * timestamps less than 120 s apart aside unless strict. */
static bool masked_equal(const kl_diff_opts *o, kl_bytes a, kl_bytes b, kl_buf *ma, kl_buf *mb)
{
    ma->len = mb->len = 0;
    tool_must(kl_diff_mask(o, a.data, a.len, ma));
    tool_must(kl_diff_mask(o, b.data, b.len, mb));
    if (ma->len == mb->len && (!ma->len || memcmp(ma->data, mb->data, ma->len) == 0))
        return true;
    return !o->strict && kl_text_same_but_times((const uint8_t *)ma->data, ma->len, (const uint8_t *)mb->data, mb->len);
}

static kl_bytes as_bytes(const kl_buf *b)
{
    return (kl_bytes){(const uint8_t *)b->data, b->len};
}

/* How bodies a and b differ: JSON member by member, else as text or bytes. @return false when
 * they do not (after the noise rules). */
static bool body_diff(const kl_diff_opts *o, kl_bytes a, kl_bytes b, kl_buf *out)
{
    if (bytes_equal(a, b))
        return false;
    if (kl_json_looks(a.data, a.len) && kl_json_looks(b.data, b.len)) {
        kl_diff_list l = {0};
        char err[KL_ERRBUF_SIZE];
        int rc = kl_json_diff(a.data, a.len, b.data, b.len, o, &l, err);
        if (rc == KL_OK) {
            for (size_t i = 0; i < l.n; i++) {
                const kl_diff_item *it = &l.items[i];
                tool_must(kl_buf_printf(out, "%s %s: %s -> %s\n", it->path, kl_diff_kind_name(it->kind),
                                        it->before ? it->before : "(none)", it->after ? it->after : "(none)"));
            }
            size_t n = l.n;
            kl_diff_list_free(&l);
            return n > 0;
        }
        if (rc == KL_ERR_NOMEM)
            tool_die("out of memory");
    }
    kl_buf ma = {0}, mb = {0};
    bool differs = !masked_equal(o, a, b, &ma, &mb);
    if (differs) {
        kl_buf d = {0};
        bytes_diff(as_bytes(&ma), as_bytes(&mb), &d);
        tool_must(kl_buf_append(out, d.data, d.len));
        kl_buf_free(&d);
    }
    kl_buf_free(&ma);
    kl_buf_free(&mb);
    return differs;
}

/* Whether header h of m has a twin in n (same name in any case, same value after masking)
 * not yet taken; takes it. */
static bool header_twin(const kl_diff_opts *o, const kl_http_header *h, const kl_http_msg *n, bool *taken,
                        kl_buf *ma, kl_buf *mb)
{
    for (size_t j = 0; j < n->n_headers; j++) {
        const kl_http_header *g = &n->headers[j];
        if (taken[j] || g->name.len != h->name.len || strncasecmp((const char *)g->name.data, (const char *)h->name.data, h->name.len) != 0)
            continue;
        if (masked_equal(o, h->value, g->value, ma, mb))
            return taken[j] = true;
    }
    return false;
}

/* Headers framing a body, which differ with it: compared through the body. */
static bool framing_header(const kl_http_header *h)
{
    static const char *const names[] = {"Content-Length", "Transfer-Encoding", "Content-Encoding"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (h->name.len == strlen(names[i]) && strncasecmp((const char *)h->name.data, names[i], h->name.len) == 0)
            return true;
    return false;
}

/* HTTP messages a and b compared by meaning: start line, headers (any order and case), the
 * decoded body. @return false when they do not differ. */
static bool http_diff(const kl_diff_opts *o, const kl_http_msg *a, const kl_http_msg *b, kl_buf *out)
{
    bool differs = false;
    kl_buf ma = {0}, mb = {0};
    if (!masked_equal(o, a->start_line, b->start_line, &ma, &mb)) {
        tool_must(kl_buf_printf(out, "%s: %.*s -> %.*s\n", a->response ? "status" : "request line",
                                (int)a->start_line.len, (const char *)a->start_line.data, (int)b->start_line.len,
                                (const char *)b->start_line.data));
        differs = true;
    }
    bool *taken = calloc(b->n_headers + 1, 1), *kept = calloc(a->n_headers + 1, 1);
    if (!taken || !kept)
        tool_die("out of memory");
    for (size_t i = 0; i < a->n_headers; i++) {
        const kl_http_header *h = &a->headers[i];
        kept[i] = framing_header(h) || kl_diff_header_ignored(o, (const char *)h->name.data, h->name.len) ||
                  header_twin(o, h, b, taken, &ma, &mb);
    }
    for (size_t i = 0; i < a->n_headers; i++)
        if (!kept[i]) {
            const kl_http_header *h = &a->headers[i];
            const kl_http_header *now = NULL;
            for (size_t j = 0; j < b->n_headers && !now; j++)
                if (!taken[j] && b->headers[j].name.len == h->name.len &&
                    strncasecmp((const char *)b->headers[j].name.data, (const char *)h->name.data, h->name.len) == 0)
                    now = &b->headers[j], taken[j] = true;
            if (now)
                tool_must(kl_buf_printf(out, "header %.*s: %.*s -> %.*s\n", (int)h->name.len, (const char *)h->name.data,
                                        (int)h->value.len, (const char *)h->value.data, (int)now->value.len,
                                        (const char *)now->value.data));
            else
                tool_must(kl_buf_printf(out, "header %.*s removed: %.*s\n", (int)h->name.len, (const char *)h->name.data,
                                        (int)h->value.len, (const char *)h->value.data));
            differs = true;
        }
    for (size_t j = 0; j < b->n_headers; j++) {
        const kl_http_header *g = &b->headers[j];
        if (taken[j] || framing_header(g) || kl_diff_header_ignored(o, (const char *)g->name.data, g->name.len))
            continue;
        tool_must(kl_buf_printf(out, "header %.*s added: %.*s\n", (int)g->name.len, (const char *)g->name.data,
                                (int)g->value.len, (const char *)g->value.data));
        differs = true;
    }
    free(taken);
    free(kept);
    kl_buf_free(&ma);
    kl_buf_free(&mb);
    kl_buf body = {0};
    if (body_diff(o, a->body, b->body, &body)) {
        tool_must(kl_buf_printf(out, "body%s:\n", a->decoded || b->decoded ? " (decoded)" : ""));
        tool_must(kl_buf_append(out, body.data, body.len));
        differs = true;
    }
    kl_buf_free(&body);
    return differs;
}

/* How a (recorded) and b (replayed) differ, by their protocol and the noise rules, into out.
 * @return false when they do not. */
static bool payload_diff(const kl_diff_opts *o, kl_bytes a, kl_bytes b, kl_buf *out)
{
    out->len = 0;
    if (bytes_equal(a, b))
        return false;
    kl_http_msg ha = {0}, hb = {0};
    if (kl_frame_detect(a.data, a.len) == KL_PROTO_HTTP && kl_http_parse(a.data, a.len, 0, &ha, NULL) == KL_OK &&
        kl_http_parse(b.data, b.len, 0, &hb, NULL) == KL_OK && ha.response == hb.response) {
        bool differs = http_diff(o, &ha, &hb, out);
        kl_http_msg_free(&ha);
        kl_http_msg_free(&hb);
        return differs;
    }
    kl_http_msg_free(&ha);
    kl_http_msg_free(&hb);
    return body_diff(o, a, b, out);
}

static void describe(kl_bytes req, kl_buf *out)
{
    tool_must(kl_call_describe(req.data, req.len, out));
}

static void compare_response(report *r, const kl_session *s, const kl_replayed *p)
{
    kl_bytes was = s->return_inbound.response, now = p->response;
    if (r->json)
        put(r, ",\"response\":");
    kl_buf what = {0}, diff = {0};
    if (!payload_diff(r->opts, was, now, &diff)) {
        if (r->json)
            put(r, "\"identical\"");
        kl_buf_free(&diff);
        return;
    }
    r->response++;
    tool_must(kl_buf_printf(&what, "the inbound response differs (%zu bytes recorded, %zu replayed)", was.len,
                            now.len));
    if (r->json) {
        put(r, "{\"diff\":");
        put_json_str(r, diff.data ? diff.data : "", diff.len);
        put(r, "}");
    } else {
        item(r, "response", &what, &diff);
    }
    kl_buf_free(&what);
    kl_buf_free(&diff);
}

static int cmp_index(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void compare_calls(report *r, const kl_session *s, const kl_replayed *p)
{
    kl_buf what = {0}, diff = {0}, before = {0};
    int64_t *matched = malloc((p->n_actions + 1) * sizeof *matched);
    size_t n_matched = 0;
    if (!matched)
        tool_die("out of memory");
    if (r->json)
        put(r, ",\"calls\":[");
    r->n_items = 0;
    unsigned call = 0;
    for (size_t i = 0; i < p->n_actions; i++) {
        const kl_replayed_action *a = &p->actions[i];
        if (a->action.type != KL_ACTION_CALL_OUTBOUND)
            continue;
        call++;
        what.len = before.len = 0;
        if (a->matched_index < 0) {
            tool_must(kl_buf_printf(&what, "call %u matched no recorded call: ", call));
            describe(a->action.request, &what);
            r->calls++;
            item(r, "unmatched", &what, NULL);
            continue;
        }
        matched[n_matched++] = a->matched_index;
        if (!payload_diff(r->opts, a->matched_request, a->action.request, &diff))
            continue;
        r->calls++;
        tool_must(kl_buf_printf(&what, "call %u, matched to recorded call %lld: ", call, (long long)a->matched_index));
        size_t at = what.len;
        describe(a->matched_request, &what);
        describe(a->action.request, &before);
        /* "redis: GET user:1 -> redis: GET user:01" when the one-line views differ */
        if (before.len != what.len - at || memcmp(before.data, what.data + at, before.len) != 0)
            tool_must(kl_buf_printf(&what, " -> %s", before.data ? before.data : ""));
        item(r, "changed", &what, &diff);
    }
    /* Recorded calls that answered more than one call. */
    qsort(matched, n_matched, sizeof *matched, cmp_index);
    for (size_t i = 0; i < n_matched;) {
        size_t j = i;
        while (j < n_matched && matched[j] == matched[i])
            j++;
        if (j - i > 1) {
            const kl_action *rec = kl_session_action_at(s, matched[i]);
            what.len = 0;
            tool_must(kl_buf_printf(&what, "recorded call %lld answered %zu calls: ", (long long)matched[i], j - i));
            if (rec)
                describe(rec->request, &what);
            r->calls++;
            item(r, "reused", &what, NULL);
        }
        i = j;
    }
    for (size_t i = 0; i < p->n_unused_calls; i++) {
        const kl_action *rec = kl_session_action_at(s, p->unused_calls[i]);
        what.len = 0;
        tool_must(kl_buf_printf(&what, "recorded call %lld was never made: ", (long long)p->unused_calls[i]));
        if (rec)
            describe(rec->request, &what);
        r->calls++;
        item(r, "unused", &what, NULL);
    }
    if (r->json)
        put(r, "]");
    if (r->table) {
        put(r, ",\"table\":[");
        call = 0;
        for (size_t i = 0; i < p->n_actions; i++) {
            const kl_replayed_action *a = &p->actions[i];
            if (a->action.type != KL_ACTION_CALL_OUTBOUND)
                continue;
            what.len = 0;
            describe(a->action.request, &what);
            put(r, "%s{\"call\":%u,\"request\":", call ? "," : "", call + 1);
            call++;
            put_json_str(r, what.data ? what.data : "", what.len);
            put(r, ",\"matched\":%lld,\"score\":%.6f,\"runner_up\":%lld,\"runner_up_score\":%.6f}",
                (long long)a->matched_index, a->matched_score, (long long)a->runner_up_index, a->runner_up_score);
        }
        put(r, "]");
    }
    free(matched);
    kl_buf_free(&what);
    kl_buf_free(&diff);
    kl_buf_free(&before);
}

/* One file's appended bytes, in order, from the actions of one side. */
static void appended(const kl_action *const *acts, size_t n, const char *name, kl_buf *out)
{
    out->len = 0;
    for (size_t i = 0; i < n; i++)
        if (acts[i]->file_name && strcmp(acts[i]->file_name, name) == 0)
            tool_must(kl_buf_append(out, acts[i]->content.data, acts[i]->content.len));
}

/* A datagram's difference: "to PEER, HOW: what it carried", what being scratch. */
static void udp_item(report *r, kl_buf *what, const char *kind, const char *how, const kl_action *a,
                     const kl_buf *diff)
{
    char peer[KL_ADDR_STRLEN];
    what->len = 0;
    tool_must(kl_buf_printf(what, "to %s, %s: ", kl_addr_format(&a->peer, peer, sizeof peer), how));
    describe(a->content, what);
    r->udp++;
    item(r, kind, what, diff);
}

/* Appended files (by name) and datagrams (by peer and content) of both sides. */
static void compare_side_effects(report *r, const kl_session *s, const kl_replayed *p)
{
    size_t n = s->n_actions + p->n_actions;
    const kl_action **rec = malloc((n + 1) * sizeof *rec), **rep = malloc((n + 1) * sizeof *rep);
    bool *used = calloc(n + 1, 1);
    if (!rec || !rep || !used)
        tool_die("out of memory");
    size_t nf_rec = 0, nf_rep = 0;
    for (size_t i = 0; i < s->n_actions; i++)
        if (s->actions[i].type == KL_ACTION_APPEND_FILE)
            rec[nf_rec++] = &s->actions[i];
    for (size_t i = 0; i < p->n_actions; i++)
        if (p->actions[i].action.type == KL_ACTION_APPEND_FILE)
            rep[nf_rep++] = &p->actions[i].action;
    kl_buf what = {0}, diff = {0}, a = {0}, b = {0};
    if (r->json)
        put(r, ",\"files\":[");
    r->n_items = 0;
    /* Each file once, in the order it shows first: recorded ones, then new ones. */
    for (size_t side = 0; side < 2; side++)
        for (size_t i = 0; i < (side ? nf_rep : nf_rec); i++) {
            const char *name = (side ? rep : rec)[i]->file_name;
            bool first = true;
            for (size_t j = 0; j < i && first; j++)
                first = strcmp((side ? rep : rec)[j]->file_name, name) != 0;
            for (size_t j = 0; side && j < nf_rec && first; j++)
                first = strcmp(rec[j]->file_name, name) != 0;
            if (!first || !name)
                continue;
            appended(rec, nf_rec, name, &a);
            appended(rep, nf_rep, name, &b);
            if (!payload_diff(r->opts, as_bytes(&a), as_bytes(&b), &diff))
                continue;
            r->files++;
            what.len = 0;
            const char *kind = !a.len ? "file-added" : !b.len ? "file-missing" : "file-changed";
            tool_must(kl_buf_printf(&what, "%s: %s", name,
                                    !a.len   ? "appended to only when replaying"
                                    : !b.len ? "appended to only when recorded"
                                             : "appended other lines"));
            item(r, kind, &what, &diff);
        }
    if (r->json)
        put(r, "],\"udp\":[");
    r->n_items = 0;
    size_t nu_rec = 0, nu_rep = 0;
    for (size_t i = 0; i < s->n_actions; i++)
        if (s->actions[i].type == KL_ACTION_SEND_UDP)
            rec[nu_rec++] = &s->actions[i];
    for (size_t i = 0; i < p->n_actions; i++)
        if (p->actions[i].action.type == KL_ACTION_SEND_UDP)
            rep[nu_rep++] = &p->actions[i].action;
    /* A replayed datagram pairs with an equal recorded one not yet paired, then with one to
     * the same address: equal under the noise rules, or changed. */
    bool *paired = calloc(nu_rec + 1, 1);
    if (!paired)
        tool_die("out of memory");
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < nu_rec; i++)
            for (size_t j = 0; j < nu_rep && !paired[i]; j++) {
                if (used[j] || !kl_addr_equal(&rec[i]->peer, &rep[j]->peer) ||
                    (pass == 0 && !bytes_equal(rec[i]->content, rep[j]->content)))
                    continue;
                paired[i] = used[j] = true;
                if (pass == 1 && payload_diff(r->opts, rec[i]->content, rep[j]->content, &diff))
                    udp_item(r, &what, "udp-changed", "changed", rec[i], &diff);
            }
    for (size_t i = 0; i < nu_rec; i++)
        if (!paired[i])
            udp_item(r, &what, "udp-missing", "recorded, not sent when replaying", rec[i], NULL);
    for (size_t j = 0; j < nu_rep; j++)
        if (!used[j])
            udp_item(r, &what, "udp-added", "sent when replaying only", rep[j], NULL);
    if (r->json)
        put(r, "]");
    free(rec);
    free(rep);
    free(used);
    free(paired);
    kl_buf_free(&what);
    kl_buf_free(&diff);
    kl_buf_free(&a);
    kl_buf_free(&b);
}

/* The HTML page's data, JSON lines with '<' escaped so that no "</script>" ends the block. */
static void html_data(kl_buf *html, const kl_buf *json)
{
    for (size_t i = 0; i < json->len; i++)
        tool_must(json->data[i] == '<' ? kl_buf_append(html, "\\u003c", 6) : kl_buf_append(html, &json->data[i], 1));
}

/* Compare a recorded session with its replay; the report goes to stdout unless summary, or
 * to the HTML page's data. */
static bool compare(const kl_session *s, const kl_replayed *p, report *r, totals *t, bool summary)
{
    r->out.len = 0;
    r->response = r->calls = r->files = r->udp = 0;
    if (r->json) {
        put(r, "{\"session\":");
        put_json_str(r, s->id ? s->id : "", s->id ? strlen(s->id) : 0);
    } else { /* dropped below when nothing differs */
        put(r, "%ssession %s%s\n", r->color ? "\033[1m" : "", s->id ? s->id : "(no id)", r->color ? "\033[0m" : "");
    }
    compare_response(r, s, p);
    compare_calls(r, s, p);
    compare_side_effects(r, s, p);
    bool differs = r->response || r->calls || r->files || r->udp;
    t->sessions++;
    t->identical += !differs;
    t->differ += differs;
    t->response += r->response;
    t->calls += r->calls;
    t->files += r->files;
    t->udp += r->udp;
    if (r->json)
        put(r, ",\"identical\":%s}\n", differs ? "false" : "true");
    else if (!differs)
        r->out.len = 0;
    if (r->html)
        html_data(r->html, &r->out);
    else if (!summary)
        tool_out_buf(&r->out);
    return differs;
}

/* The totals, as JSON or text, appended to b: both forms take the counts in one order. */
static void put_totals(const totals *t, bool json, kl_buf *b)
{
    tool_must(kl_buf_printf(b,
                            json ? "{\"summary\":{\"sessions\":%llu,\"identical\":%llu,\"differ\":%llu,\"response\":%llu,"
                                   "\"calls\":%llu,\"files\":%llu,\"udp\":%llu,\"not_replayed\":%llu,\"not_recorded\":%llu}}\n"
                                 : "%llu sessions: %llu identical, %llu differ (differences: %llu in responses, %llu in "
                                   "outbound calls, %llu in appended files, %llu in datagrams); %llu not replayed, "
                                   "%llu replayed but not in the recording\n",
                            (unsigned long long)t->sessions, (unsigned long long)t->identical,
                            (unsigned long long)t->differ, (unsigned long long)t->response,
                            (unsigned long long)t->calls, (unsigned long long)t->files, (unsigned long long)t->udp,
                            (unsigned long long)t->not_replayed, (unsigned long long)t->not_recorded));
}

static void print_totals(const totals *t, bool json)
{
    kl_buf b = {0};
    put_totals(t, json, &b);
    tool_out_buf(&b);
    kl_buf_free(&b);
}

/* Write the HTML page with data (JSON lines, the totals last) to path. */
static void write_html(const char *path, const kl_buf *data)
{
    FILE *f = fopen(path, "w");
    if (!f)
        tool_die("--html %s: %s", path, strerror(errno));
    fputs(DIFF_HTML_HEAD, f);
    fwrite(data->data, 1, data->len, f);
    fputs(DIFF_HTML_TAIL, f);
    if (fflush(f) != 0 || ferror(f) || fclose(f) != 0)
        tool_die("--html %s: cannot write it", path);
}

/* ------------------------------------------------------------- learning noise */

/* Rules learned so far, in the order found, each once. */
typedef struct learned {
    char **v;
    size_t n, cap;
    uint64_t pairs, unexplained;
} learned;

static void learn(learned *l, const char *rule, const char *arg, size_t len)
{
    char *text;
    if (asprintf(&text, "%s %.*s", rule, (int)len, arg) < 0)
        tool_die("out of memory");
    for (size_t i = 0; i < l->n; i++)
        if (strcasecmp(l->v[i], text) == 0) {
            free(text);
            return;
        }
    if (l->n == l->cap && !(l->v = realloc(l->v, (l->cap = l->cap ? l->cap * 2 : 16) * sizeof *l->v)))
        tool_die("out of memory");
    l->v[l->n++] = text;
}

/* A JSON path with its array indices made wildcards: what differs in one element of a list
 * between replays differs in the others too. */
static void learn_path(learned *l, const char *path)
{
    kl_buf b = {0};
    for (const char *p = path; *p;) {
        size_t digits = p[0] == '[' ? strspn(p + 1, "0123456789") : 0;
        if (digits && p[1 + digits] == ']') {
            tool_must(kl_buf_append(&b, "[*]", 3));
            p += digits + 2;
        } else {
            tool_must(kl_buf_append(&b, p++, 1));
        }
    }
    learn(l, "ignore-json-path", b.data, b.len);
    kl_buf_free(&b);
}

static void learn_body(learned *l, kl_bytes a, kl_bytes b)
{
    if (bytes_equal(a, b))
        return;
    kl_diff_list d = {0};
    if (kl_json_looks(a.data, a.len) && kl_json_looks(b.data, b.len) &&
        kl_json_diff(a.data, a.len, b.data, b.len, NULL, &d, NULL) == KL_OK) {
        for (size_t i = 0; i < d.n; i++)
            if (strcmp(d.items[i].path, "callback") != 0)
                learn_path(l, d.items[i].path);
    } else {
        l->unexplained++; /* text or bytes: no rule says which part may move */
    }
    kl_diff_list_free(&d);
}

/* Whether m has a header named like h whose value equals h's. */
static bool has_same_header(const kl_http_msg *m, const kl_http_header *h)
{
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)h->name.len, (const char *)h->name.data);
    for (const kl_http_header *g = NULL; (g = kl_http_header_next(m, g, name));)
        if (bytes_equal(g->value, h->value))
            return true;
    return false;
}

/* What differs between a and b, two replays' bytes of one thing, as rules. */
static void learn_pair(learned *l, kl_bytes a, kl_bytes b)
{
    if (bytes_equal(a, b))
        return;
    kl_http_msg ha = {0}, hb = {0};
    if (kl_frame_detect(a.data, a.len) == KL_PROTO_HTTP && kl_http_parse(a.data, a.len, 0, &ha, NULL) == KL_OK &&
        kl_http_parse(b.data, b.len, 0, &hb, NULL) == KL_OK) {
        for (int side = 0; side < 2; side++) {
            const kl_http_msg *m = side ? &hb : &ha, *other = side ? &ha : &hb;
            for (size_t i = 0; i < m->n_headers; i++)
                if (!framing_header(&m->headers[i]) && !has_same_header(other, &m->headers[i]))
                    learn(l, "ignore-header", (const char *)m->headers[i].name.data, m->headers[i].name.len);
        }
        learn_body(l, ha.body, hb.body);
    } else {
        learn_body(l, a, b);
    }
    kl_http_msg_free(&ha);
    kl_http_msg_free(&hb);
}

/* The outbound requests of p, in order. */
static size_t calls_of(const kl_replayed *p, const kl_bytes **out)
{
    size_t n = 0;
    kl_bytes *v = malloc((p->n_actions + 1) * sizeof *v);
    if (!v)
        tool_die("out of memory");
    for (size_t i = 0; i < p->n_actions; i++)
        if (p->actions[i].action.type == KL_ACTION_CALL_OUTBOUND)
            v[n++] = p->actions[i].action.request;
    *out = v;
    return n;
}

/* --learn-noise: replays a and b of one recording, paired by id; the rules go to out. */
static int learn_noise(const char *a_path, const char *b_path, const char *out)
{
    replays a = {0}, b = {0};
    static const char two[] = "recorded sessions; --learn-noise takes two replays (koala-replay -o)";
    bool whole = load_replays(a_path, &a, two);
    whole &= load_replays(b_path, &b, two);
    learned l = {0};
    for (size_t i = 0; i < a.n; i++) {
        size_t k;
        const kl_replayed *p = a.v[i], *q = replays_find(&b, p->session_id, &k);
        if (!q)
            continue;
        b.seen[k] = true;
        l.pairs++;
        learn_pair(&l, p->response, q->response);
        const kl_bytes *pc, *qc;
        size_t np = calls_of(p, &pc), nq = calls_of(q, &qc);
        for (size_t j = 0; j < np && j < nq; j++)
            learn_pair(&l, pc[j], qc[j]);
        free((void *)pc);
        free((void *)qc);
    }
    FILE *f = tool_is_stdio(out) ? stdout : fopen(out, "w");
    if (!f)
        tool_die("%s: %s", out, strerror(errno));
    fprintf(f, "# koala-diff --learn-noise %s %s: %llu sessions compared, %zu rules", tool_display_name(a_path),
            tool_display_name(b_path), (unsigned long long)l.pairs, l.n);
    if (l.unexplained)
        fprintf(f, "; %llu differences of text or bytes no rule covers", (unsigned long long)l.unexplained);
    fputc('\n', f);
    for (size_t i = 0; i < l.n; i++) {
        fprintf(f, "%s\n", l.v[i]);
        free(l.v[i]);
    }
    free(l.v);
    if (fflush(f) != 0 || ferror(f) || (f != stdout && fclose(f) != 0))
        tool_die("%s: cannot write the rules", out);
    replays_free(&a);
    replays_free(&b);
    if (!l.pairs)
        tool_warn("%s and %s have no session in common: replays of one recording are needed",
                  tool_display_name(a_path), tool_display_name(b_path));
    return l.pairs && whole ? TOOL_EXIT_OK : TOOL_EXIT_TROUBLE;
}

/* Add the rules of file path; a bad one stops with its file and line. */
static void read_rules(const char *path, kl_diff_opts *o)
{
    FILE *f = tool_is_stdio(path) ? stdin : fopen(path, "r");
    if (!f)
        tool_die("--rules %s: %s", path, strerror(errno));
    kl_buf text = {0};
    char chunk[4096];
    for (size_t n; (n = fread(chunk, 1, sizeof chunk, f)) > 0;)
        tool_must(kl_buf_append(&text, chunk, n));
    bool failed = ferror(f);
    if (f != stdin)
        fclose(f);
    if (failed)
        tool_die("--rules %s: cannot read it", path);
    char err[KL_ERRBUF_SIZE];
    if (kl_diff_rules_parse(text.data, text.len, o, err) != KL_OK)
        tool_die("--rules %s: %s", tool_display_name(path), err);
    kl_buf_free(&text);
}

int main(int argc, char **argv)
{
    tool_init("koala-diff");
    bool summary = false, json = false;
    int color = -1; /* auto */
    kl_diff_opts opts;
    kl_diff_opts_init(&opts);
    char err[KL_ERRBUF_SIZE];
    bool learning = false;
    const char *out = "-", *html_path = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:", long_options, NULL)) != -1) {
        switch (c) {
        case 'h': tool_help(usage);
        case OPT_VERSION: tool_version();
        case OPT_SUMMARY: summary = true; break;
        case OPT_JSON: json = true; break;
        case OPT_COLOR:
            if (strcmp(optarg, "auto") == 0)
                color = -1;
            else if (strcmp(optarg, "always") == 0)
                color = 1;
            else if (strcmp(optarg, "never") == 0)
                color = 0;
            else
                tool_usage_error("--color=%s: give auto, always or never", optarg);
            break;
        case OPT_IGNORE_HEADER:
            if (kl_diff_opts_add_header(&opts, optarg) != KL_OK)
                tool_usage_error("--ignore-header: give a header name");
            break;
        case OPT_IGNORE_KEY:
            if (kl_diff_opts_add_key(&opts, optarg) != KL_OK)
                tool_usage_error("--ignore-key: give a key");
            break;
        case OPT_IGNORE_PATH:
            if (kl_diff_opts_add_path(&opts, optarg, err) != KL_OK)
                tool_usage_error("--ignore-json-path=%s: %s", optarg, err);
            break;
        case OPT_IGNORE_REGEX:
            if (kl_diff_opts_add_regex(&opts, optarg, err) != KL_OK)
                tool_usage_error("--ignore-regex=%s: %s", optarg, err);
            break;
        case OPT_RULES: read_rules(optarg, &opts); break;
        case OPT_STRICT: opts.strict = true; break;
        case OPT_LEARN: learning = true; break;
        case OPT_HTML: html_path = optarg; break;
        case 'o': out = optarg; break;
        default: tool_bad_option(c, argv);
        }
    }
    if (learning) {
        if (argc - optind != 2)
            tool_usage_error("--learn-noise: give two replays of one recording");
        if (tool_is_stdio(argv[optind]) && tool_is_stdio(argv[optind + 1]))
            tool_usage_error("stdin ('-') can be read only once");
        tool_refuse_output_as_input(out, argv + optind, 2);
        kl_diff_opts_free(&opts);
        return learn_noise(argv[optind], argv[optind + 1], out);
    }
    if (!tool_is_stdio(out))
        tool_usage_error("-o is for --learn-noise's rules");
    if (argc - optind != 2)
        tool_usage_error("give two files: the recorded sessions, then the replayed ones");
    const char *rec_path = argv[optind], *rep_path = argv[optind + 1];
    if (tool_is_stdio(rec_path) && tool_is_stdio(rep_path))
        tool_usage_error("stdin ('-') can be read only once");

    replays reps = {0};
    bool damaged = !load_replays(rep_path, &reps,
                                 "recorded sessions; give the replayed ones (koala-replay -o) second");
    kl_reader *rd = tool_input_open(rec_path, &damaged);
    if (!rd)
        return TOOL_EXIT_TROUBLE;
    if (kl_reader_info(rd)->kind == KL_KIND_REPLAYED) {
        tool_reader_close(rd);
        replays_free(&reps);
        tool_die("%s: replayed sessions; give the recorded ones first", tool_display_name(rec_path));
    }
    kl_buf html = {0};
    report r = {.opts = &opts, .json = json || html_path, .table = html_path != NULL,
                .html = html_path ? &html : NULL,
                .color = color == 1 || (color == -1 && !json && !html_path && isatty(STDOUT_FILENO))};
    totals t = {0};
    bool differs = false;
    int status = damaged ? TOOL_EXIT_TROUBLE : TOOL_EXIT_OK;
    const kl_session *s;
    uint64_t read = 0;
    for (int rc; (rc = kl_reader_next(rd, &s)) != KL_END;) {
        if (rc != KL_OK) {
            status = TOOL_EXIT_TROUBLE;
            if (!tool_read_past(tool_display_name(rec_path), rd, rc))
                break;
            continue;
        }
        read++;
        size_t i;
        const kl_replayed *p = replays_find(&reps, s->id, &i);
        if (!p) {
            t.not_replayed++;
            continue;
        }
        reps.seen[i] = true;
        differs |= compare(s, p, &r, &t, summary);
    }
    tool_reader_close(rd);
    for (size_t i = 0; i < reps.n; i++)
        t.not_recorded += !reps.seen[i];
    if (!t.sessions && read && reps.n) {
        tool_warn("no session of %s was replayed in %s: give a recording and a replay of it",
                  tool_display_name(rec_path), tool_display_name(rep_path));
        status = TOOL_EXIT_TROUBLE;
    }
    if (html_path) {
        kl_buf totals_json = {0};
        put_totals(&t, true, &totals_json);
        html_data(&html, &totals_json);
        write_html(html_path, &html);
        kl_buf_free(&totals_json);
        kl_buf_free(&html);
    }
    print_totals(&t, json);
    tool_out_flush();
    replays_free(&reps);
    kl_buf_free(&r.out);
    kl_diff_opts_free(&opts);
    if (status != TOOL_EXIT_OK)
        return status;
    return differs ? TOOL_EXIT_DIFF : TOOL_EXIT_OK;
}
