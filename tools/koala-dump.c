/* koala-dump.c - prints, counts, filters, summarises and splits session files (tcpdump -r,
 * tshark -Y, capinfos and editcap in one). */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "Usage: koala-dump [OPTION]... FILE...\n"
    "Print the sessions of koala session files (recorded or replayed), one summary line\n"
    "each by default. FILE '-' is stdin; several FILEs are read one after the other.\n"
    "A FILE may also be a session file of the original koala (JSON, one session each, as\n"
    "its recorder wrote with KOALA_RECORD_TO_DIR) or a directory of them, read in time\n"
    "order; every mode reads them as it reads koala files.\n"
    "\n"
    "Output (pick one):\n"
    "  (default)              one summary line per session\n"
    "  -v, --verbose          every field; payloads as text, or as a hexdump when binary\n"
    "      --json             JSON Lines, one session per line in the original koala layout\n"
    "      --pretty           with --json: indented, as the original koala wrote its files\n"
    "      --extra            with --json: add koala's own fields (Host, Pid, Labels, ...)\n"
    "      --count            print the number of sessions (instant from the file index)\n"
    "      --stats            print file and session statistics (--json: one object)\n"
    "      --info             print what the header and index tell, reading no session\n"
    "                         (instant; --json: one object per file)\n"
    "  -w, --write=OUT        write the selected sessions to OUT ('-' is stdout)\n"
    "      --split-every=N    with -w: a new file every N sessions\n"
    "      --split-interval=D with -w: a new file every D of session time (100ms, 60s, 5m, 1h)\n"
    "                         split files are named OUT-00000.pb, OUT-00001.pb, ...\n"
    "      --level=N          with -w: zstd level, 1 to 22 (default 3)\n"
    "      --koala-dir=DIR    write each selected recorded session to DIR/<SessionId> as\n"
    "                         the original koala's recorder did (pretty JSON; --extra adds\n"
    "                         koala's own fields); DIR is created when missing\n"
    "\n"
    "Selection:\n"
    "  -Y, --filter=EXPR      only sessions matching the display filter EXPR\n"
    "  -c, --max-count=N      stop after N sessions\n"
    "      --session=ID       only the session with this id; stop at the first match\n"
    "      --since=TIME       only sessions at or after TIME (RFC 3339, or unix seconds)\n"
    "      --until=TIME       only sessions before TIME\n"
    "\n"
    "  -h, --help             print this help and exit\n"
    "      --version          print the version and exit\n"
    "\n"
    "Exit status: 0 on success, 2 on usage or input/output trouble (every complete\n"
    "session before a damaged part of a file is still shown, and every session file of a\n"
    "directory but the damaged ones, which are named).\n";

enum { OPT_JSON = 256, OPT_PRETTY, OPT_EXTRA, OPT_COUNT, OPT_STATS, OPT_INFO, OPT_SESSION,
       OPT_SPLIT_EVERY, OPT_SPLIT_INTERVAL, OPT_LEVEL, OPT_VERSION, OPT_SINCE, OPT_UNTIL,
       OPT_KOALA_DIR };

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"verbose", no_argument, NULL, 'v'},
    {"json", no_argument, NULL, OPT_JSON},
    {"pretty", no_argument, NULL, OPT_PRETTY},
    {"extra", no_argument, NULL, OPT_EXTRA},
    {"count", no_argument, NULL, OPT_COUNT},
    {"stats", no_argument, NULL, OPT_STATS},
    {"info", no_argument, NULL, OPT_INFO},
    {"write", required_argument, NULL, 'w'},
    {"split-every", required_argument, NULL, OPT_SPLIT_EVERY},
    {"split-interval", required_argument, NULL, OPT_SPLIT_INTERVAL},
    {"level", required_argument, NULL, OPT_LEVEL},
    {"koala-dir", required_argument, NULL, OPT_KOALA_DIR},
    {"filter", required_argument, NULL, 'Y'},
    {"max-count", required_argument, NULL, 'c'},
    {"session", required_argument, NULL, OPT_SESSION},
    {"since", required_argument, NULL, OPT_SINCE},
    {"until", required_argument, NULL, OPT_UNTIL},
    {NULL, 0, NULL, 0},
};

typedef struct dump {
    /* options */
    bool verbose, json, pretty, extra, count, stats, info;
    kl_filter *filter;
    uint64_t max_count;          /* 0: no limit */
    const char *session_id;
    int64_t since, until;        /* 0: no bound */
    const char *out_path;
    const char *koala_dir;       /* --koala-dir */
    uint64_t split_every;        /* 0: no split by count */
    int64_t split_interval;      /* 0: no split by time */
    int level;
    /* state */
    uint64_t selected;           /* sessions selected over all files */
    bool done;                   /* -c reached or --session found */
    int status;
    kl_buf buf;
    kl_stats *st;
    kl_writer *w;
    kl_kind out_kind;            /* kind of the output, fixed by the first session written */
    kl_kind first_kind;          /* kind of the first input that told it */
    char *out_name;              /* the file being written */
    uint64_t out_files;          /* split files opened so far */
    uint64_t in_out_file;        /* sessions in the open output file */
    int64_t block_start;         /* --split-interval: start of the open file's interval */
    void *koala_ids;             /* --koala-dir: ids written so far (a tsearch tree) */
    char *const *inputs;         /* the input paths, which no output may be */
    int n_inputs;
} dump;

/* One session read from an input: decoded when something must look inside it, raw otherwise. */
typedef struct item {
    kl_kind kind;
    const kl_session *s;
    const kl_replayed *rp;
    kl_raw raw;
    const char *id;
    int64_t time;
} item;

static bool splitting(const dump *d)
{
    return d->split_every || d->split_interval;
}

/* Whether sessions must be decoded; writing and counting can move raw records. */
static bool needs_decode(const dump *d)
{
    return d->filter || d->stats || !(d->count || d->out_path);
}

static void out_close(dump *d)
{
    tool_writer_close(d->w, d->out_name);
    d->w = NULL;
}

/* OUT-00000.pb for split n of OUT(.pb). */
static char *split_name(const char *out, uint64_t n)
{
    const char *slash = strrchr(out, '/');
    const char *dot = strrchr(out, '.');
    size_t base = dot && dot > (slash ? slash : out) ? (size_t)(dot - out) : strlen(out);
    const char *ext = base < strlen(out) ? out + base : ".pb";
    size_t len = base + strlen(ext) + 32;
    char *name = malloc(len);
    if (!name)
        tool_die("out of memory");
    snprintf(name, len, "%.*s-%05llu%s", (int)base, out, (unsigned long long)n, ext);
    return name;
}

static void out_open(dump *d, kl_kind kind)
{
    free(d->out_name);
    d->out_name = splitting(d) ? split_name(d->out_path, d->out_files) : strdup(d->out_path);
    if (!d->out_name)
        tool_die("out of memory");
    tool_refuse_output_as_input(d->out_name, d->inputs, d->n_inputs);
    d->w = tool_writer_open(d->out_name, kind, d->level);
    d->out_kind = kind;
    d->out_files++;
    d->in_out_file = 0;
}

/* Whether the next session goes into a new split file. For time, editcap -i's rule: files
 * cover [start + k*D, start + (k+1)*D) from the first session's time, empty intervals make no
 * file, and a session older than the open interval stays in the open file. */
static bool out_rotate(dump *d, int64_t t)
{
    if (d->in_out_file == 0)
        return false;
    if (d->split_every)
        return d->in_out_file >= d->split_every;
    if (d->split_interval && t - d->block_start >= d->split_interval) {
        d->block_start += (t - d->block_start) / d->split_interval * d->split_interval;
        return true;
    }
    return false;
}

/* @return false when the item's kind does not fit the output. */
static bool out_write(dump *d, const char *name, const item *it)
{
    if (!d->w) {
        out_open(d, it->kind);
        d->block_start = it->time;
    } else if (it->kind != d->out_kind) {
        tool_warn("%s: holds %s sessions, %s holds %s ones; skipping it", name,
                  it->kind == KL_KIND_REPLAYED ? "replayed" : "recorded", d->out_name,
                  d->out_kind == KL_KIND_REPLAYED ? "replayed" : "recorded");
        return false;
    } else if (splitting(d) && out_rotate(d, it->time)) {
        out_close(d);
        out_open(d, d->out_kind);
    }
    int rc;
    if (it->s)
        rc = kl_writer_write(d->w, it->s);
    else if (it->rp)
        rc = kl_writer_write_replayed(d->w, it->rp);
    else
        rc = kl_writer_write_raw(d->w, &it->raw);
    if (rc != KL_OK)
        tool_die_writing(d->out_name, *kl_writer_error(d->w) ? kl_writer_error(d->w)
                                                              : kl_strerror(rc));
    d->in_out_file++;
    return true;
}

static void check(int rc)
{
    if (rc != KL_OK)
        tool_die("%s", kl_strerror(rc));
}

static int id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The file the original recorder wrote for s: DIR/<SessionId>, pretty JSON with no newline
 * at the end, mode 0666 before the umask. */
static void koala_write(dump *d, const char *name, const kl_session *s)
{
    const char *id = s->id ? s->id : "";
    if (!*id || strchr(id, '/') || !strcmp(id, ".") || !strcmp(id, "..")) {
        tool_warn("%s: a session whose id \"%s\" cannot name a file; skipped", name, id);
        d->status = TOOL_EXIT_TROUBLE;
        return;
    }
    char *key = strdup(id);
    char **found = key ? tsearch(key, &d->koala_ids, id_cmp) : NULL;
    if (!found)
        tool_die("out of memory");
    if (*found != key) {
        free(key);
        tool_warn("%s: session %s again; %s/%s holds the first one", name, id, d->koala_dir, id);
        d->status = TOOL_EXIT_TROUBLE;
        return;
    }
    unsigned flags = KL_JSON_PRETTY | (d->extra ? KL_JSON_EXTRA : 0);
    check(kl_json_session(s, flags, &d->buf));
    size_t len = strlen(d->koala_dir) + strlen(id) + 2;
    char *path = malloc(len);
    if (!path)
        tool_die("out of memory");
    snprintf(path, len, "%s/%s", d->koala_dir, id);
    errno = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    size_t done = 0;
    while (fd >= 0 && done < d->buf.len) {
        ssize_t n = write(fd, d->buf.data + done, d->buf.len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (fd < 0 || done < d->buf.len || close(fd) != 0)
        tool_die("%s: %s", path, errno ? strerror(errno) : "short write");
    free(path);
    d->buf.len = 0;
}

static void print_item(dump *d, const item *it)
{
    unsigned flags = (d->pretty ? KL_JSON_PRETTY : 0) | (d->extra ? KL_JSON_EXTRA : 0);
    if (d->json)
        check(it->s ? kl_json_session(it->s, flags, &d->buf)
                    : kl_json_replayed(it->rp, flags, &d->buf));
    else if (d->verbose) /* its last line ends in a newline: ours leaves a blank line */
        check(it->s ? kl_print_session(it->s, &d->buf) : kl_print_replayed(it->rp, &d->buf));
    else
        check(it->s ? kl_print_summary(it->s, &d->buf)
                    : kl_print_replayed_summary(it->rp, &d->buf));
    check(kl_buf_append(&d->buf, "\n", 1));
    tool_out_buf(&d->buf);
}

/* Reads the next session of r in the form d needs. */
static int read_item(const dump *d, kl_reader *r, kl_kind kind, item *it)
{
    memset(it, 0, sizeof *it);
    it->kind = kind;
    int rc;
    if (!needs_decode(d)) {
        rc = kl_reader_next_raw(r, &it->raw);
        if (rc == KL_OK) {
            it->kind = it->raw.kind;
            it->id = it->raw.id;
            it->time = it->raw.time;
        }
    } else if (kind == KL_KIND_REPLAYED) {
        rc = kl_reader_next_replayed(r, &it->rp);
        if (rc == KL_OK) {
            it->id = it->rp->session_id;
            it->time = kl_replayed_time(it->rp);
        }
    } else {
        rc = kl_reader_next(r, &it->s);
        if (rc == KL_OK) {
            it->id = it->s->id;
            it->time = kl_session_time(it->s);
        }
    }
    return rc;
}

/* @return true when reading goes on past the damage. */
static bool read_error(dump *d, const char *name, kl_reader *r, int rc)
{
    d->status = TOOL_EXIT_TROUBLE;
    return tool_read_past(name, r, rc);
}

/* @return the number of sessions selected from this file. */
static uint64_t dump_file(dump *d, const char *path)
{
    const char *name = tool_display_name(path);
    bool damaged = false;
    kl_reader *r = tool_input_open(path, &damaged);
    if (damaged || !r)
        d->status = TOOL_EXIT_TROUBLE;
    if (!r)
        return 0;
    int rc;
    const kl_file_info *info = kl_reader_info(r);
    if (d->info) {
        check(kl_print_file_info(info, name, d->json, &d->buf));
        check(kl_buf_append(&d->buf, "\n", 1)); /* a blank line between files, or ends the JSON line */
        tool_out_buf(&d->buf);
        tool_reader_close(r);
        return 0;
    }
    kl_kind kind = info->kind; /* UNKNOWN only for an empty headerless stream */
    uint64_t selected = 0;
    if (!d->first_kind)
        d->first_kind = kind;

    if ((d->filter || d->koala_dir) && kind == KL_KIND_REPLAYED) {
        tool_warn("%s: %s applies to recorded sessions, this file holds replayed ones", name,
                  d->filter ? "-Y" : "--koala-dir");
        d->status = TOOL_EXIT_TROUBLE;
        tool_reader_close(r);
        return 0;
    }
    uint64_t indexed;
    /* Without an index this scans; when the scan fails we count again below, to report. */
    if (d->count && !d->filter && !d->max_count && !d->session_id && !d->since && !d->until &&
        kl_reader_count(r, &indexed) == KL_OK) {
        tool_reader_close(r);
        return indexed;
    }
    /* The index lets the reader skip whole frames of older sessions. */
    if (d->since && (rc = kl_reader_seek_time(r, d->since)) != KL_OK) {
        tool_warn_read(name, r, rc);
        d->status = TOOL_EXIT_TROUBLE;
        tool_reader_close(r);
        return 0;
    }
    while (!d->done) {
        item it;
        rc = read_item(d, r, kind, &it);
        if (rc == KL_END)
            break;
        if (rc != KL_OK) {
            if (read_error(d, name, r, rc))
                continue;
            break;
        }
        if (d->filter && it.s && !kl_filter_match(d->filter, it.s))
            continue;
        if ((d->since && it.time < d->since) || (d->until && it.time >= d->until))
            continue;
        if (d->session_id && (!it.id || strcmp(it.id, d->session_id) != 0))
            continue;
        if (d->out_path && !out_write(d, name, &it)) {
            d->status = TOOL_EXIT_TROUBLE;
            break;
        }
        if (d->stats)
            check(it.s ? kl_stats_add(d->st, it.s) : kl_stats_add_replayed(d->st, it.rp));
        else if (d->koala_dir)
            koala_write(d, name, it.s);
        else if (!d->count && !d->out_path)
            print_item(d, &it);
        selected++;
        d->selected++;
        if ((d->max_count && d->selected >= d->max_count) || d->session_id)
            d->done = true;
    }
    if (d->stats)
        kl_stats_add_file(d->st, info);
    tool_reader_close(r);
    return selected;
}

static void parse_options(dump *d, int argc, char **argv)
{
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hvY:c:w:", long_options, NULL)) != -1) {
        switch (c) {
        case 'h': tool_help(usage);
        case OPT_VERSION: tool_version();
        case 'v': d->verbose = true; break;
        case OPT_JSON: d->json = true; break;
        case OPT_PRETTY: d->pretty = true; break;
        case OPT_EXTRA: d->extra = true; break;
        case OPT_COUNT: d->count = true; break;
        case OPT_STATS: d->stats = true; break;
        case OPT_INFO: d->info = true; break;
        case 'w': d->out_path = optarg; break;
        case OPT_KOALA_DIR: d->koala_dir = optarg; break;
        case OPT_SPLIT_EVERY:
            d->split_every = tool_parse_count("--split-every", optarg, 1, UINT64_MAX);
            break;
        case OPT_SPLIT_INTERVAL:
            if (kl_parse_duration(optarg, &d->split_interval) != KL_OK)
                tool_usage_error("--split-interval: '%s' is not a duration (100ms, 60s, 5m, 1h)",
                                 optarg);
            break;
        case OPT_LEVEL: d->level = (int)tool_parse_count("--level", optarg, 1, 22); break;
        case 'Y': tool_parse_filter("-Y", optarg, &d->filter); break;
        case 'c': d->max_count = tool_parse_count("--max-count", optarg, 1, UINT64_MAX); break;
        case OPT_SESSION: d->session_id = optarg; break;
        case OPT_SINCE:
        case OPT_UNTIL:
            if (kl_parse_unix_time(optarg, c == OPT_SINCE ? &d->since : &d->until) != KL_OK)
                tool_usage_error("--%s: '%s' is not a time (2019-01-22T12:28:33.5Z or unix seconds)",
                                 c == OPT_SINCE ? "since" : "until", optarg);
            break;
        default: tool_bad_option(c, argv);
        }
    }
    int modes = (d->count ? 1 : 0) + (d->stats ? 1 : 0) + (d->out_path ? 1 : 0) +
                (d->verbose ? 1 : 0) + (d->info ? 1 : 0) + (d->koala_dir ? 1 : 0);
    if (modes > 1)
        tool_usage_error("choose one of -v, --count, --stats, --info, -w and --koala-dir");
    if (d->info && (d->filter || d->max_count || d->session_id || d->since || d->until))
        tool_usage_error("--info reads no session: it does not go with -Y, -c, --session, --since or --until");
    if (d->json && (d->verbose || d->out_path))
        tool_usage_error("--json prints sessions; it does not go with -v or -w");
    if (d->json && d->koala_dir)
        tool_usage_error("--koala-dir writes JSON files; it does not go with --json");
    if ((d->pretty || (d->extra && !d->koala_dir)) && (!d->json || d->count || d->stats || d->info))
        tool_usage_error("--pretty and --extra shape --json session output");
    if ((splitting(d) || d->level) && !d->out_path)
        tool_usage_error("--split-every, --split-interval and --level go with -w");
    if (d->split_every && d->split_interval)
        tool_usage_error("choose one of --split-every and --split-interval");
    if (splitting(d) && tool_is_stdio(d->out_path))
        tool_usage_error("split files need a name: -w OUT.pb, not -w -");
    if (optind >= argc)
        tool_usage_error("no input file (use - for stdin)");
}

int main(int argc, char **argv)
{
    tool_init("koala-dump");
    dump d = {0};
    parse_options(&d, argc, argv);
    d.inputs = argv + optind;
    d.n_inputs = argc - optind;
    if (d.out_path && !splitting(&d)) {
        tool_refuse_tty(d.out_path);
        /* before any input is read: the file is created when the first session is written */
        tool_refuse_output_as_input(d.out_path, d.inputs, d.n_inputs);
    }
    if (d.stats && !(d.st = kl_stats_new()))
        tool_die("out of memory");
    if (d.koala_dir && mkdir(d.koala_dir, 0777) != 0 && errno != EEXIST)
        tool_die("%s: %s", d.koala_dir, strerror(errno));
    if (!d.level)
        d.level = 3;

    uint64_t total = 0;
    for (int i = optind; i < argc && !d.done; i++)
        total += dump_file(&d, argv[i]);

    if (d.out_path) {
        if (!d.w) /* nothing selected: still leave a valid, empty file */
            out_open(&d, d.first_kind ? d.first_kind : KL_KIND_RECORDED);
        out_close(&d);
    }
    if (d.count) {
        if (d.json)
            check(kl_buf_printf(&d.buf, "{\"sessions\":%llu}\n", (unsigned long long)total));
        else
            check(kl_buf_printf(&d.buf, "%llu\n", (unsigned long long)total));
        tool_out_buf(&d.buf);
    }
    if (d.stats) {
        check(kl_stats_report(d.st, d.json, &d.buf));
        if (d.buf.len && d.buf.data[d.buf.len - 1] != '\n')
            check(kl_buf_append(&d.buf, "\n", 1));
        tool_out_buf(&d.buf);
    }
    tool_out_flush();
    kl_stats_free(d.st);
    kl_filter_free(d.filter);
    tdestroy(d.koala_ids, free);
    kl_buf_free(&d.buf);
    free(d.out_name);
    return d.status;
}
